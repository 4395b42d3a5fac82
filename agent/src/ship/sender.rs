//! Drains the spool to the detector over one TCP (or TLS) connection,
//! reconnecting with backoff. A batch leaves the spool only after it was
//! written whole.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::ship::spool::Spool;
use crate::ship::tls::{Conn, Tls};

const BATCH_BYTES: usize = 256 * 1024;

pub fn run(
    address: String,
    tls: Option<Tls>,
    spool: Arc<Spool>,
    backoff_min: Duration,
    backoff_max: Duration,
) {
    let mut conn: Option<Conn> = None;
    let mut backoff = backoff_min;
    loop {
        let (batch, end) = match spool.next_batch(BATCH_BYTES, Duration::from_millis(500)) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, "spool unreadable");
                std::thread::sleep(backoff_max);
                continue;
            }
        };
        if let Some(c) = conn.as_mut() {
            c.drain();
        }
        if conn.as_ref().is_some_and(|c| !alive(c.socket())) {
            conn = None;
        }
        if conn.is_none() {
            match connect(&address, tls.as_ref()) {
                Ok(c) => {
                    tracing::info!(%address, "connected to the detector's syslog");
                    conn = Some(c);
                }
                Err(e) => {
                    tracing::debug!(%address, error = %e, pending = spool.pending(), "detector unreachable; spooling");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(backoff_max);
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        match c.write_all(&batch).and_then(|_| c.flush()) {
            Ok(()) => {
                backoff = backoff_min;
                if let Err(e) = spool.commit(end) {
                    tracing::error!(error = %e, "spool offset not saved");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "sending to the detector failed; will resend");
                conn = None;
            }
        }
    }
}

fn connect(address: &str, tls: Option<&Tls>) -> std::io::Result<Conn> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(c) => {
                c.set_write_timeout(Some(Duration::from_secs(10)))?;
                let _ = c.set_nodelay(true);
                return match tls {
                    None => Ok(Conn::Plain(c)),
                    Some(tls) => {
                        // The handshake reads: bound it like the writes.
                        c.set_read_timeout(Some(Duration::from_secs(10)))?;
                        Ok(Conn::Tls(Box::new(tls.wrap(c)?)))
                    }
                };
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Has the peer closed? A write to a closed socket may still "succeed"
/// once, so look before writing (the detector never sends us anything but
/// TLS records, which `drain` has read).
fn alive(c: &TcpStream) -> bool {
    if c.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    let ok = match c.peek(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    };
    let _ = c.set_nonblocking(false);
    ok
}
