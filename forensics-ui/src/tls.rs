//! HTTPS: a self-signed certificate made on first start in the data
//! folder (`ui/tls/`), its SHA-256 fingerprint for the user to compare with
//! what the browser shows, and a listener that hands axum finished TLS
//! connections (handshakes run in their own tasks, so a slow client holds
//! up nobody).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// A handshake that takes longer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in flight at most; more connections wait in the kernel.
const MAX_HANDSHAKES: usize = 256;

/// The certificate and key the UI serves.
pub struct Identity {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// `AB:CD:…`, SHA-256 of the certificate (as browsers and `openssl x509
    /// -fingerprint -sha256` show it).
    pub fingerprint: String,
    /// Made on this start.
    pub created: bool,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

pub fn tls_dir(data: &Path) -> PathBuf {
    data.join("ui").join("tls")
}

/// SHA-256 of DER bytes as colon-separated upper-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Loads `ui/tls/cert.pem` and `key.pem`, or makes them when neither is
/// there. `names` are the certificate's names (host names and addresses)
/// besides `localhost`, `127.0.0.1` and `::1`.
pub fn load_or_create(data: &Path, names: &[String]) -> Result<Identity> {
    let dir = tls_dir(data);
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut created = false;
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {}
        (false, false) => {
            create(&dir, &cert_path, &key_path, names)?;
            created = true;
        }
        _ => {
            return Err(Error::Invalid(format!(
                "{} holds only one of cert.pem and key.pem: remove it to make a new certificate, or add the other",
                dir.display()
            )))
        }
    }
    let bad = |path: &Path, what: &str| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("no {what} in PEM form"),
    };
    let cert = CertificateDer::from_pem_file(&cert_path).map_err(|_| bad(&cert_path, "certificate"))?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|_| bad(&key_path, "private key"))?;
    Ok(Identity {
        fingerprint: fingerprint(&cert),
        cert_path,
        key_path,
        created,
        cert,
        key,
    })
}

fn create(dir: &Path, cert_path: &Path, key_path: &Path, names: &[String]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for n in names {
        if !all.contains(n) {
            all.push(n.clone());
        }
    }
    let made = rcgen::generate_simple_self_signed(all).map_err(|e| Error::Invalid(format!("making the certificate: {e}")))?;
    // The key first, readable by the owner only; the certificate last, so
    // that a crash in between leaves a state `load_or_create` refuses
    // loudly rather than a certificate without its key.
    write_private(key_path, made.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert_path, made.cert.pem()).map_err(Error::io(cert_path))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).map_err(Error::io(path))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(Error::io(path))
}

impl Identity {
    /// The rustls configuration: HTTP/1.1 only (what axum serves here).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(vec![self.cert.clone()], self.key.clone_key()))
            .map_err(|e| Error::Invalid(format!("{}: {e}", self.key_path.display())))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// TLS connections for `axum::serve`, handshaken in the background.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(TlsListener { local, ready })
    }
}

async fn accept_loop(tcp: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match tcp.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if tx.is_closed() {
            return;
        }
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(x) => x,
            // The accept loop ended (never, while the listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
