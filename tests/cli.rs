//! `kyoka dissect` as a user runs it: JSON lines out, exit status 2 and a
//! clear message for captures that are damaged, events before the damage
//! kept.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kyoka(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kyoka"))
        .args(args)
        .output()
        .expect("run kyoka")
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/peer")
        .join(rel)
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn every_event_has_ts_type_and_flow() {
    let out = kyoka(&[
        "dissect",
        fixture("ftp/ftp-ipv4/ipv4.pcap").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = lines(&out);
    assert!(!events.is_empty());
    for e in &events {
        let ts = e["ts"].as_str().unwrap();
        assert_eq!(ts.len(), "2012-02-21T16:52:55.848539Z".len(), "{ts}");
        assert!(e["type"].as_str().is_some_and(|t| !t.is_empty()));
        let flow = &e["flow"];
        assert!(flow["id"].as_str().unwrap().starts_with("1:"));
        for key in ["src_ip", "src_port", "dst_ip", "dst_port", "transport"] {
            assert!(!flow[key].is_null(), "flow.{key} missing in {e}");
        }
    }
}

#[test]
fn damaged_captures_exit_2_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(fixture("http/http-methods/methods.pcap")).unwrap();
    let truncated = dir.path().join("truncated.pcap");
    // Cut in the middle of a packet record, well after the first packets.
    std::fs::write(&truncated, &original[..original.len() * 2 / 3 + 7]).unwrap();
    let garbage = dir.path().join("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file at all").unwrap();
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.pcap");

    let out = kyoka(&["dissect", truncated.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("truncated.pcap") && stderr.contains("truncated"),
        "{stderr}"
    );
    assert!(!lines(&out).is_empty(), "events before the damage are kept");
    assert!(!stderr.contains("panicked"));

    for bad in [&garbage, &empty, &missing] {
        let out = kyoka(&["dissect", bad.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", bad.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("kyoka: cannot read capture"), "{stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[test]
fn a_damaged_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pcap");
    std::fs::write(&garbage, b"\xd4\xc3\xb2\xa1garbage").unwrap();
    let good = fixture("ftp/ftp-ipv4/ipv4.pcap");
    let out = kyoka(&["dissect", garbage.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!lines(&out).is_empty());
}

#[test]
fn pcapng_gives_the_same_events_as_pcap() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = fixture("mysql/wireshark/mysql.pcap");
    let pcapng = dir.path().join("mysql.pcapng");
    let status = Command::new("editcap")
        .args([
            "-F",
            "pcapng",
            pcap.to_str().unwrap(),
            pcapng.to_str().unwrap(),
        ])
        .status()
        .expect("editcap (from tshark's packages) is installed");
    assert!(status.success());
    let a = kyoka(&["dissect", pcap.to_str().unwrap()]);
    let b = kyoka(&["dissect", pcapng.to_str().unwrap()]);
    assert!(a.status.success() && b.status.success());
    assert!(lines(&a).iter().any(|e| e["type"] == "mysql.command"));
    assert_eq!(a.stdout, b.stdout);
}

/// `kyoka ui --tls`: makes a self-signed certificate on first start, prints
/// its SHA-256 fingerprint and the https address, and serves HTTPS.
#[test]
fn ui_with_tls_makes_a_certificate_and_prints_its_fingerprint() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kyoka"))
        .args(["ui", "--tls", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("fingerprint") {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        printed.push_str(&line);
    }
    let health = Command::new("curl")
        .args(["-sk", "--max-time", "10", &format!("https://127.0.0.1:{port}/health")])
        .output()
        .expect("curl must be installed");
    let _ = child.kill();
    let _ = child.wait();
    assert!(printed.contains(&format!("open https://127.0.0.1:{port}/")), "{printed}");
    let cert = dir.path().join("ui/tls/cert.pem");
    let openssl = Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(&cert).output().unwrap();
    let fingerprint = String::from_utf8_lossy(&openssl.stdout).trim().split_once('=').unwrap().1.to_string();
    assert!(printed.contains(&fingerprint), "the printed fingerprint is the certificate's ({fingerprint}):\n{printed}");
    assert_eq!(String::from_utf8_lossy(&health.stdout), "ok\n");
}
