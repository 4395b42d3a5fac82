//! Syslog over TLS (RFC 5425) against a real TLS client: octet-counted
//! frames inside the session are counted like plain TCP; a plain-text
//! client on the TLS port is dropped and counted, and nothing else moves.

mod common;

use std::sync::Arc;

use common::{rfc5424, until, Redis};
use detector::{Config, Detector, SyslogTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

struct Tls {
    _dir: tempfile::TempDir,
    config: SyslogTls,
    ca: CertificateDer<'static>,
}

/// A self-signed certificate for 127.0.0.1 and localhost.
fn certificate() -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("syslog.crt"), dir.path().join("syslog.key"));
    std::fs::write(&cert_file, made.cert.pem()).unwrap();
    std::fs::write(&key_file, made.signing_key.serialize_pem()).unwrap();
    let ca = CertificateDer::from_pem_slice(made.cert.pem().as_bytes()).unwrap();
    Tls {
        _dir: dir,
        config: SyslogTls {
            address: "127.0.0.1:0".parse().unwrap(),
            cert_file,
            key_file,
        },
        ca,
    }
}

fn connector(ca: CertificateDer<'static>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(ca).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_syslog_is_counted_and_plain_text_on_its_port_is_dropped() {
    let redis = Redis::start();
    let tls = certificate();
    let mut config = Config::new(&redis.url);
    config.syslog_tls = Some(tls.config.clone());
    let d = Detector::start(config).await.unwrap();
    let addr = d.syslog_tls.expect("a TLS port");

    // A real TLS client: five failed FTP logins, octet-counted, flag the source.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut stream = connector(tls.ca.clone()).connect(name, tcp).await.unwrap();
    let mut wire = Vec::new();
    for _ in 0..5 {
        let msg = rfc5424(
            "vsftpd",
            r#"[pid 7] [root] FAIL LOGIN: Client "203.0.113.77""#,
        );
        wire.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
    }
    stream.write_all(&wire).await.unwrap();
    stream.flush().await.unwrap();
    until(10, "tls lines processed", async || {
        d.stats.snapshot().processed == 5
    })
    .await;
    until(10, "the source flagged", async || {
        d.store
            .policy()
            .await
            .unwrap()
            .attackers
            .iter()
            .any(|a| a.address.to_string() == "203.0.113.77")
    })
    .await;

    // Plain text on the TLS port: the connection is closed, nothing counted
    // as a message, the failure is.
    let before = d.stats.snapshot();
    let mut plain = TcpStream::connect(addr).await.unwrap();
    let line = rfc5424("vsftpd", r#"[pid 8] [x] FAIL LOGIN: Client "203.0.113.78""#);
    plain
        .write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        plain.read_to_end(&mut answer),
    )
    .await
    .expect("the detector closes the connection");
    // rustls may answer with an alert before closing; either way it ends.
    let _ = read;
    until(10, "the failure counted", async || {
        d.stats.snapshot().tls_failures == before.tls_failures + 1
    })
    .await;
    let after = d.stats.snapshot();
    assert_eq!(
        (after.received, after.processed),
        (before.received, before.processed),
        "{after:?}"
    );

    // The TLS client's connection still works after the plain-text one.
    let msg = rfc5424(
        "vsftpd",
        r#"[pid 7] [root] OK LOGIN: Client "203.0.113.77""#,
    );
    stream
        .write_all(format!("{} {msg}", msg.len()).as_bytes())
        .await
        .unwrap();
    until(10, "one more tls line", async || {
        d.stats.snapshot().processed == 6
    })
    .await;
}
