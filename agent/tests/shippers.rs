//! Shippers for real: a log file followed through rotation and truncation
//! while the detector's syslog receiver is down, then every line arriving
//! exactly once and in order; a real redis-server's MONITOR stream shipped;
//! lines over TLS to a receiver with the configured CA's certificate only.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent::config::{FileConfig, RedisMonitorConfig, ShipperConfig, StartAt};
use agent::ship::{start_with, ShipConfig};

fn ship_config(dir: &Path, syslog: String) -> ShipConfig {
    ShipConfig {
        host: "prod-1".into(),
        state_dir: dir.join("ship"),
        syslog_address: syslog,
        detector_ca: None,
        files: vec![],
        redis_monitor: vec![],
        shipper: ShipperConfig {
            poll_interval_milliseconds: 50,
            ..ShipperConfig::default()
        },
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
    }
}

/// One RFC 5424 message with octet counting: (APP-NAME, MSG).
fn read_frame(r: &mut impl BufRead) -> std::io::Result<(String, String)> {
    let mut len = Vec::new();
    r.read_until(b' ', &mut len)?;
    if len.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let n: usize = String::from_utf8_lossy(&len[..len.len() - 1])
        .parse()
        .expect("octet count");
    let mut msg = vec![0; n];
    r.read_exact(&mut msg)?;
    let text = String::from_utf8_lossy(&msg).into_owned();
    let parts: Vec<&str> = text.splitn(8, ' ').collect();
    assert_eq!(parts.len(), 8, "RFC 5424 header: {text}");
    assert!(parts[0].starts_with("<134>1"), "{text}");
    assert_eq!(parts[2], "prod-1");
    Ok((parts[3].to_owned(), parts[7].to_owned()))
}

fn append(path: &Path, lines: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in lines {
        writeln!(f, "line {i}").unwrap();
    }
}

#[test]
fn lines_spooled_while_the_receiver_is_down_arrive_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("vsftpd.log");
    std::fs::write(&log, "").unwrap();
    // A port with nobody listening: the detector is down.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = ship_config(dir.path(), format!("127.0.0.1:{port}"));
    config.files.push(FileConfig {
        path: log.clone(),
        app_name: "vsftpd".into(),
        start_at: StartAt::Beginning,
    });
    let spool = start_with(config).unwrap();

    append(&log, 0..100);
    std::thread::sleep(Duration::from_millis(400));
    // Rotation: renamed, a few more lines to the old file, then a new file.
    std::fs::rename(&log, dir.path().join("vsftpd.log.1")).unwrap();
    append(&dir.path().join("vsftpd.log.1"), 100..110);
    append(&log, 110..200);
    std::thread::sleep(Duration::from_millis(400));
    // copytruncate.
    std::fs::write(&log, "").unwrap();
    append(&log, 200..300);
    let deadline = Instant::now() + Duration::from_secs(10);
    while spool.pending() == 0 || Instant::now() < deadline && spool.pending() < 300 * 40 {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(spool.pending() > 0, "lines must wait in the spool");

    let listener = TcpListener::bind(("127.0.0.1", port)).expect("rebind the receiver's port");
    let (conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn);
    let mut got = Vec::new();
    while got.len() < 300 {
        let (app, msg) = read_frame(&mut reader).expect("a frame");
        assert_eq!(app, "vsftpd");
        got.push(msg);
    }
    let want: Vec<String> = (0..300).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut extra = [0u8; 1];
    assert!(reader.read(&mut extra).is_err(), "nothing is sent twice");
    assert_eq!(spool.pending(), 0);
}

struct Redis(Child);
impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn redis_monitor_lines_are_shipped() {
    common::require(&["redis-server"]);
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _redis = Redis(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                "s3cret",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = ship_config(dir.path(), receiver.local_addr().unwrap().to_string());
    config.redis_monitor.push(RedisMonitorConfig {
        address: format!("127.0.0.1:{port}").parse().unwrap(),
        username: None,
        password: Some("s3cret".into()),
        app_name: "redis".into(),
    });
    start_with(config).unwrap();

    // An attacker-ish client; repeated until MONITOR is running.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("redis-server did not start: {e}"),
        }
    };
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (conn, _) = {
        receiver.set_nonblocking(true).unwrap();
        loop {
            client.write_all(b"AUTH s3cret\r\nFLUSHALL\r\n").unwrap();
            let mut buf = [0u8; 64];
            let _ = client.read(&mut buf).unwrap();
            match receiver.accept() {
                Ok(c) => break c,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("nothing shipped: {e}"),
            }
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn);
    loop {
        let (app, msg) = read_frame(&mut reader).expect("a MONITOR frame");
        assert_eq!(app, "redis");
        // Redis leaves admin commands (CONFIG, SLAVEOF) out of MONITOR;
        // FLUSHALL and EVAL are in it.
        if msg.contains(r#""FLUSHALL""#) {
            assert!(
                msg.contains("127.0.0.1:"),
                "the client's address is in the line: {msg}"
            );
            break;
        }
    }
}

/// A TLS syslog receiver with a self-signed certificate for 127.0.0.1.
struct TlsReceiver {
    listener: TcpListener,
    config: std::sync::Arc<rustls::ServerConfig>,
    cert_pem: String,
}

impl TlsReceiver {
    fn new(listener: TcpListener) -> TlsReceiver {
        use rustls::pki_types::pem::PemObject;
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let cert =
            rustls::pki_types::CertificateDer::from_pem_slice(made.cert.pem().as_bytes()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(
            made.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        TlsReceiver {
            listener,
            config: std::sync::Arc::new(config),
            cert_pem: made.cert.pem(),
        }
    }

    /// Accepts one connection and runs the handshake.
    fn accept(&self) -> std::io::Result<rustls::StreamOwned<rustls::ServerConnection, TcpStream>> {
        let (mut socket, _) = self.listener.accept()?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut conn = rustls::ServerConnection::new(self.config.clone()).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut socket)?;
        }
        Ok(rustls::StreamOwned::new(conn, socket))
    }
}

#[test]
fn lines_go_over_tls_only_to_a_detector_the_ca_vouches_for() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sshd.log");
    std::fs::write(&log, "").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The CA the agent trusts is not the one this first receiver shows.
    let impostor = TlsReceiver::new(listener);
    let trusted = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let ca = dir.path().join("detector-ca.pem");
    std::fs::write(&ca, trusted.cert.pem()).unwrap();
    let mut config = ship_config(dir.path(), format!("127.0.0.1:{port}"));
    config.detector_ca = Some(ca.clone());
    config.files.push(FileConfig {
        path: log.clone(),
        app_name: "sshd".into(),
        start_at: StartAt::Beginning,
    });
    let spool = start_with(config).unwrap();
    append(&log, 0..50);

    assert!(
        impostor.accept().is_err(),
        "the agent must refuse a certificate its CA did not sign"
    );
    assert!(spool.pending() > 0, "refused lines stay in the spool");

    // The real detector: the certificate in detector_ca.
    let real = TlsReceiver::new(impostor.listener);
    std::fs::write(&ca, &real.cert_pem).unwrap();
    // The CA file is read at start: a new shipper for the new file.
    let mut config = ship_config(&dir.path().join("second"), format!("127.0.0.1:{port}"));
    config.detector_ca = Some(ca);
    config.files.push(FileConfig {
        path: log.clone(),
        app_name: "sshd".into(),
        start_at: StartAt::Beginning,
    });
    start_with(config).unwrap();
    let stream = loop {
        // The first shipper keeps trying too and is refused by its CA.
        if let Ok(s) = real.accept() {
            break s;
        }
    };
    let mut reader = BufReader::new(stream);
    let got: Vec<String> = (0..50)
        .map(|_| {
            let (app, msg) = read_frame(&mut reader).expect("a frame over TLS");
            assert_eq!(app, "sshd");
            msg
        })
        .collect();
    let want: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
}

/// CONFIG SET never shows in MONITOR (an admin command); the admin-command
/// poller sees its count grow in INFO commandstats and ships a
/// MONITOR-style line naming the client that ran it, while the poller's
/// own INFO calls (which MONITOR does show) are left out.
#[test]
fn config_set_hidden_from_monitor_is_shipped_from_commandstats() {
    common::require(&["redis-server"]);
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _redis = Redis(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = ship_config(dir.path(), receiver.local_addr().unwrap().to_string());
    config.redis_monitor.push(RedisMonitorConfig {
        address: format!("127.0.0.1:{port}").parse().unwrap(),
        username: None,
        password: None,
        app_name: "redis".into(),
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("redis-server did not start: {e}"),
        }
    };
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let me = client.local_addr().unwrap().to_string();
    start_with(config).unwrap();

    // Repeated until the poller has its baseline and sees one grow.
    let conn = {
        receiver.set_nonblocking(true).unwrap();
        loop {
            client
                .write_all(b"CONFIG SET maxmemory-policy noeviction\r\n")
                .unwrap();
            let mut buf = [0u8; 64];
            let _ = client.read(&mut buf).unwrap();
            match receiver.accept() {
                Ok((c, _)) => break c,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(300))
                }
                Err(e) => panic!("nothing shipped: {e}"),
            }
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn);
    let (app, msg) = read_frame(&mut reader).expect("a frame");
    assert_eq!(app, "redis");
    assert!(
        msg.ends_with(&format!(" [0 {me}] \"CONFIG\" \"SET\"")),
        "the first line shipped is the CONFIG SET, with the client's address, not the poller's INFO: {msg}"
    );
}
