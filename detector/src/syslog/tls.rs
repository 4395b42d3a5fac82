//! Syslog over TLS (RFC 5425): the same framing as plain TCP (octet
//! counting, or newlines) inside a TLS session. Certificate and key come
//! from PEM files. A client that does not complete the handshake in time,
//! or speaks plain text, is dropped and counted in `tls_failures`.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::{Error, Result};

/// An acceptor for the certificate chain in `cert` and the private key in
/// `key` (PEM; PKCS#8, PKCS#1 or SEC1).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let bad = |path: &Path, e: &dyn std::fmt::Display| {
        Error::Config(format!("syslog tls: {}: {e}", path.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, &e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(cert, &e))?;
    if chain.is_empty() {
        return Err(bad(cert, &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
    // The provider is named, not taken from the process default, so that
    // another crate enabling a second provider cannot make this fail.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("syslog tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Config(format!("syslog tls: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
