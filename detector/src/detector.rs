//! One running detector: syslog listeners, the pipeline, the policy watcher,
//! the expiry sweeper and the API, all on the caller's tokio runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::pipeline::{self, Judge};
use crate::state::{Settings, Store};
use crate::syslog::{self, RateLimiter, Stats};
use crate::watch::Snapshot;
use crate::whitelist::Networks;
use crate::{Error, Result};

/// Stops everything when dropped.
pub struct Detector {
    /// Where syslog is served (TCP, and UDP on the same port if enabled).
    pub syslog_tcp: Option<SocketAddr>,
    pub syslog_udp: Option<SocketAddr>,
    /// Where syslog over TLS is served, if configured.
    pub syslog_tls: Option<SocketAddr>,
    pub api: Option<SocketAddr>,
    pub stats: Arc<Stats>,
    pub store: Store,
    pub policy: watch::Receiver<Arc<Snapshot>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Detector {
    pub async fn start(config: Config) -> Result<Detector> {
        let client = redis::Client::open(config.redis_url.as_str())?;
        let store = Store::with_connection(client.get_connection_manager().await?);
        store
            .publish_settings(&Settings {
                mode: config.mode,
                whitelist: config.whitelist.clone(),
            })
            .await?;
        store.publish_rules(config.rules.all()).await?;
        let stats = Arc::new(Stats::default());
        let judge = Arc::new(Judge {
            rules: config.rules.clone(),
            mode: config.mode,
            whitelist: Networks::parse(&config.whitelist.addresses)?,
        });
        let (policy_tx, policy_rx) = watch::channel(Snapshot::new(store.policy().await?));
        let mut tasks = vec![
            tokio::spawn(crate::watch::run(client, store.clone(), policy_tx)),
            tokio::spawn(sweep(store.clone())),
        ];

        let (lines_tx, lines_rx) = mpsc::channel(config.queue_messages);
        tasks.push(tokio::spawn(pipeline::run(
            lines_rx,
            judge,
            store.clone(),
            stats.clone(),
        )));
        let limiter = Arc::new(RateLimiter::new(
            config.rate_limit_messages_per_second,
            config.rate_limit_burst_messages,
        ));
        let (mut syslog_tcp, mut syslog_udp) = (None, None);
        if let Some(addr) = config.syslog_address {
            let (tcp, udp) = bind_syslog(addr, config.syslog_udp).await?;
            syslog_tcp = Some(tcp.local_addr().map_err(|source| Error::Bind {
                addr: addr.to_string(),
                source,
            })?);
            tasks.push(syslog::spawn_tcp(
                tcp,
                config.limits.clone(),
                stats.clone(),
                limiter.clone(),
                lines_tx.clone(),
            ));
            if let Some(udp) = udp {
                syslog_udp = udp.local_addr().ok();
                tasks.push(syslog::spawn_udp(
                    udp,
                    config.limits.clone(),
                    stats.clone(),
                    limiter.clone(),
                    lines_tx.clone(),
                ));
            }
        }
        let mut syslog_tls = None;
        if let Some(tls) = &config.syslog_tls {
            let acceptor = syslog::tls::acceptor(&tls.cert_file, &tls.key_file)?;
            let bind_error = |source| Error::Bind {
                addr: tls.address.to_string(),
                source,
            };
            let listener = TcpListener::bind(tls.address).await.map_err(bind_error)?;
            syslog_tls = Some(listener.local_addr().map_err(bind_error)?);
            tasks.push(syslog::spawn_tls(
                listener,
                acceptor,
                config.limits.clone(),
                stats.clone(),
                limiter.clone(),
                lines_tx.clone(),
            ));
        }
        drop(lines_tx);

        let mut api_addr = None;
        if let Some(addr) = config.api_address {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind {
                    addr: addr.to_string(),
                    source,
                })?;
            api_addr = listener.local_addr().ok();
            let app = api::app(ApiState {
                store: store.clone(),
                udp_port: syslog_udp.map(|a| a.port()),
                policy: policy_rx.clone(),
                stats: stats.clone(),
            });
            // Pushes are small writes that must leave at once: without
            // TCP_NODELAY a new version can wait for the ACK of the last
            // one (Nagle against the agent's delayed ACK).
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY on an api connection failed");
                }
            });
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "policy api stopped");
                }
            }));
        }
        tracing::info!(?syslog_tcp, ?syslog_udp, ?syslog_tls, api = ?api_addr, mode = config.mode.as_str(), "detector started");
        Ok(Detector {
            syslog_tcp,
            syslog_udp,
            syslog_tls,
            api: api_addr,
            stats,
            store,
            policy: policy_rx,
            tasks,
        })
    }

    /// The router alone, for serving it elsewhere or testing without a socket.
    pub fn app(&self) -> axum::Router {
        api::app(ApiState {
            store: self.store.clone(),
            udp_port: self.syslog_udp.map(|a| a.port()),
            policy: self.policy.clone(),
            stats: self.stats.clone(),
        })
    }

    /// Datagrams the kernel dropped before the detector read them (UDP
    /// syslog socket's receive buffer full); None without UDP.
    pub fn udp_kernel_drops(&self) -> Option<u64> {
        self.syslog_udp
            .and_then(|a| syslog::kernel_udp_drops(a.port()))
    }

    /// Stops every task.
    pub fn stop(self) {}
}

impl Drop for Detector {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// TCP, then UDP on the same port (with port 0 the system picks TCP's and
/// UDP may find it taken: try a few).
async fn bind_syslog(addr: SocketAddr, udp: bool) -> Result<(TcpListener, Option<UdpSocket>)> {
    let bind_err = |source| Error::Bind {
        addr: addr.to_string(),
        source,
    };
    for _ in 0..16 {
        let tcp = TcpListener::bind(addr).await.map_err(bind_err)?;
        if !udp {
            return Ok((tcp, None));
        }
        let port = tcp.local_addr().map_err(bind_err)?.port();
        match UdpSocket::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(socket) => return Ok((tcp, Some(socket))),
            Err(e) if addr.port() != 0 => return Err(bind_err(e)),
            Err(_) => continue,
        }
    }
    Err(Error::Bind {
        addr: addr.to_string(),
        source: std::io::Error::other("no port free for both TCP and UDP"),
    })
}

/// Drops expired attackers every second (one script; instances do not race).
async fn sweep(store: Store) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        match store.expire_attackers().await {
            Ok(0) => {}
            Ok(version) => tracing::info!(version, "expired attackers removed"),
            Err(e) => tracing::warn!(error = %e, "expiring attackers failed"),
        }
    }
}
