//! The UDP, TCP and TLS sockets. One task per TCP connection, bounded in number
//! and closed after an idle timeout (a half-open peer costs one slot until
//! then, nothing more).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::FramedRead;

use super::framing::{Frame, SyslogCodec};
use super::{parse, LogLine, RateLimiter, Stats};

/// Bounds on what one sender can cost.
#[derive(Clone, Debug)]
pub struct SyslogLimits {
    pub max_message_bytes: usize,
    pub max_tcp_connections: usize,
    pub tcp_idle_timeout: Duration,
}

impl Default for SyslogLimits {
    fn default() -> SyslogLimits {
        SyslogLimits {
            max_message_bytes: 16 * 1024,
            max_tcp_connections: 1024,
            tcp_idle_timeout: Duration::from_secs(300),
        }
    }
}

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves TCP syslog until the returned task is aborted (which also closes
/// every connection).
pub fn spawn_tcp(
    listener: TcpListener,
    limits: SyslogLimits,
    stats: Arc<Stats>,
    limiter: Arc<RateLimiter>,
    out: mpsc::Sender<LogLine>,
) -> tokio::task::JoinHandle<()> {
    spawn_stream(listener, None, limits, stats, limiter, out)
}

/// Serves syslog over TLS (RFC 5425) until the returned task is aborted.
pub fn spawn_tls(
    listener: TcpListener,
    tls: TlsAcceptor,
    limits: SyslogLimits,
    stats: Arc<Stats>,
    limiter: Arc<RateLimiter>,
    out: mpsc::Sender<LogLine>,
) -> tokio::task::JoinHandle<()> {
    spawn_stream(listener, Some(tls), limits, stats, limiter, out)
}

fn spawn_stream(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    limits: SyslogLimits,
    stats: Arc<Stats>,
    limiter: Arc<RateLimiter>,
    out: mpsc::Sender<LogLine>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(limits.max_tcp_connections.max(1)));
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            // EMFILE and friends: wait, do not spin.
                            tracing::warn!(error = %e, "syslog accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "too many syslog connections, refusing one");
                        continue;
                    };
                    Stats::add(&stats.tcp_connections);
                    let (limits, stats, limiter, out) = (limits.clone(), stats.clone(), limiter.clone(), out.clone());
                    let tls = tls.clone();
                    connections.spawn(async move {
                        match tls {
                            None => serve_tcp(socket, peer, limits, stats, limiter, out).await,
                            Some(tls) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(socket)).await {
                                Ok(Ok(stream)) => serve_tcp(stream, peer, limits, stats, limiter, out).await,
                                Ok(Err(e)) => {
                                    Stats::add(&stats.tls_failures);
                                    tracing::debug!(%peer, error = %e, "syslog tls handshake failed");
                                }
                                Err(_) => {
                                    Stats::add(&stats.tls_failures);
                                    tracing::debug!(%peer, "syslog tls handshake timed out");
                                }
                            },
                        }
                        drop(permit);
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

async fn serve_tcp(
    socket: impl AsyncRead + Unpin,
    peer: SocketAddr,
    limits: SyslogLimits,
    stats: Arc<Stats>,
    limiter: Arc<RateLimiter>,
    out: mpsc::Sender<LogLine>,
) {
    let mut frames = FramedRead::with_capacity(
        socket,
        SyslogCodec::new(limits.max_message_bytes),
        64 * 1024,
    );
    loop {
        let frame = match tokio::time::timeout(limits.tcp_idle_timeout, frames.next()).await {
            Err(_) => {
                tracing::debug!(%peer, "syslog connection idle, closing");
                return;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                tracing::debug!(%peer, error = %e, "syslog connection failed");
                return;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        Stats::add(&stats.received);
        let bytes = match frame {
            Frame::Message(bytes) => bytes,
            Frame::Oversized => {
                Stats::add(&stats.oversized);
                continue;
            }
            Frame::Garbage => {
                Stats::add(&stats.garbage);
                continue;
            }
        };
        // TCP waits for its tokens instead of dropping: backpressure.
        while let Err(wait) = limiter.take(peer.ip(), 1) {
            tokio::time::sleep(wait).await;
        }
        match parse(peer.ip(), &bytes) {
            Ok(line) => {
                if out.send(line).await.is_err() {
                    return; // the pipeline is gone: shutting down
                }
                Stats::add(&stats.accepted);
            }
            Err(_) => Stats::add(&stats.garbage),
        }
    }
}

/// Serves UDP syslog until the returned task is aborted. A datagram is one
/// message; when the pipeline is behind, datagrams are dropped and counted.
pub fn spawn_udp(
    socket: UdpSocket,
    limits: SyslogLimits,
    stats: Arc<Stats>,
    limiter: Arc<RateLimiter>,
    out: mpsc::Sender<LogLine>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (len, peer) = match socket.recv_from(&mut buf).await {
                Ok(pair) => pair,
                Err(e) => {
                    // ICMP errors surface here on some systems; keep serving.
                    tracing::debug!(error = %e, "syslog udp receive failed");
                    continue;
                }
            };
            Stats::add(&stats.received);
            if len > limits.max_message_bytes {
                Stats::add(&stats.oversized);
                continue;
            }
            if limiter.take(peer.ip(), 1).is_err() {
                Stats::add(&stats.dropped);
                continue;
            }
            match parse(peer.ip(), &buf[..len]) {
                Ok(line) => match out.try_send(line) {
                    Ok(()) => Stats::add(&stats.accepted),
                    Err(mpsc::error::TrySendError::Full(_)) => Stats::add(&stats.dropped),
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                },
                Err(_) => Stats::add(&stats.garbage),
            }
        }
    })
}
