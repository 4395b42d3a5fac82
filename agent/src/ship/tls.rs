//! The sender's TLS (RFC 5425), when the config names the detector's CA:
//! rustls over the blocking socket, the detector's certificate checked
//! against that CA only, for the host part of `syslog_address`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::error::{Error, Result};

/// What the sender needs to speak TLS to one detector.
#[derive(Clone, Debug)]
pub struct Tls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Tls {
    /// Trusts only the certificates in `ca` (PEM); checks the detector's
    /// certificate for the host of `address` (`host:port`, `[v6]:port`).
    pub fn new(ca: &Path, address: &str) -> Result<Tls> {
        let bad = |message: String| Error::Config {
            path: ca.to_owned(),
            message,
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(e.to_string()))? {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(bad("detector_ca holds no certificate".into()));
        }
        let host = address
            .rsplit_once(':')
            .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'))
            .ok_or_else(|| bad(format!("syslog_address {address:?} has no port")))?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| bad(format!("syslog_address host {host:?}: {e}")))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls {
            config: Arc::new(config),
            name,
        })
    }

    /// Completes the handshake on a connected socket (its timeouts apply).
    pub fn wrap(&self, mut socket: TcpStream) -> std::io::Result<TlsStream> {
        let mut conn = ClientConnection::new(self.config.clone(), self.name.clone())
            .map_err(std::io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut socket)?;
        }
        Ok(StreamOwned::new(conn, socket))
    }
}

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A connection to the detector, plain or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Conn {
    pub fn socket(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }

    /// Reads (and discards) what the detector's TLS sent since, such as
    /// session tickets, so that a peek sees only what is new. Never blocks.
    pub fn drain(&mut self) {
        if let Conn::Tls(s) = self {
            if s.sock.set_nonblocking(true).is_ok() {
                let mut buf = [0u8; 512];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
                let _ = s.sock.set_nonblocking(false);
            }
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}
