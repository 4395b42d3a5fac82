//! `kyoka capture` on a live interface: a private network namespace with a
//! veth pair, a real HTTP server inside it and curl outside; the capture
//! prints the same events as a file would, and its counters on exit.
//! Needs root (CI runs as root); traffic stays on the veth pair.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sh(cmd: &str) {
    let status = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(status.success(), "{cmd}");
}

struct Netns(String);

/// Kills a child process when the test ends, passed or not.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = Command::new("ip")
            .args(["link", "del", &format!("{}h", self.0)])
            .status();
    }
}

#[test]
fn live_capture_prints_events_and_counters() {
    // Namespaces left by an earlier run that was killed would shadow our
    // addresses: remove them first (prefix `kyl`, then the test's pid).
    let stale = Command::new("ip").args(["netns", "list"]).output().unwrap();
    for line in String::from_utf8_lossy(&stale.stdout).lines() {
        let old = line.split_whitespace().next().unwrap_or("");
        // Named after the test process: only remove those whose process is gone.
        let gone = old
            .strip_prefix("kyl")
            .is_some_and(|pid| !std::path::Path::new("/proc").join(pid).exists());
        if gone {
            drop(Netns(old.to_string()));
        }
    }
    let name = format!("kyl{}", std::process::id());
    // A /30 of its own, so runs at the same time do not share addresses.
    let net = format!("198.18.{}", std::process::id() % 250 + 1);
    let (host_ip, ns_ip) = (format!("{net}.1"), format!("{net}.2"));
    let ns = Netns(name.clone());
    let host_if = format!("{name}h");
    sh(&format!("ip netns add {name}"));
    sh(&format!(
        "ip link add {host_if} type veth peer name {name}n"
    ));
    sh(&format!("ip link set {name}n netns {name}"));
    sh(&format!(
        "ip addr add {host_ip}/30 dev {host_if} && ip link set {host_if} up"
    ));
    sh(&format!(
        "ip netns exec {name} sh -c 'ip addr add {ns_ip}/30 dev {name}n && ip link set {name}n up && ip link set lo up'"
    ));
    let _server = Child(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &name,
                "python3",
                "-m",
                "http.server",
                "8080",
                "--bind",
                &ns_ip,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut kyoka = Command::new(env!("CARGO_BIN_EXE_kyoka"))
        .args(["capture", "--iface", &host_if, "--filter", "tcp port 8080"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Requests before the capture listens would not be seen: wait for its
    // first line, and keep reading its messages.
    let mut messages = std::io::BufReader::new(kyoka.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut messages, &mut first).unwrap();
    assert!(first.contains("listening on"), "{first}");
    let stderr_rest = std::thread::spawn(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut messages, &mut rest).unwrap();
        rest
    });
    // Wait for the server, then make two requests.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ok = 0;
    while ok < 2 && Instant::now() < deadline {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-A",
                "kyoka-live-test",
                &format!("http://{ns_ip}:8080/"),
            ])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout) == "200" {
            ok += 1;
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    if ok < 2 {
        let _ = Command::new("kill").arg(kyoka.id().to_string()).status();
    }
    assert_eq!(ok, 2, "the HTTP server in the namespace answered");
    std::thread::sleep(Duration::from_millis(500));
    sh(&format!("kill -INT {}", kyoka.id()));
    let out = kyoka.wait_with_output().unwrap();
    drop(ns);
    let stderr = stderr_rest.join().unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("dropped by kernel"), "{stderr}");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requests: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "http.request")
        .collect();
    assert_eq!(requests.len(), 2, "{events:#?}");
    for r in requests {
        assert_eq!(r["method"], "GET");
        assert_eq!(r["uri"], "/");
        assert_eq!(r["user_agent"], "kyoka-live-test");
        assert_eq!(r["status_code"], 200);
        assert_eq!(r["flow"]["dst_port"], 8080);
    }
    // A refused first try (server not listening yet) is a flow of its own.
    let ends: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "flow.end" && e["protocol"] == "http")
        .collect();
    assert_eq!(ends.len(), 2, "{events:#?}");
    assert!(ends.iter().all(|e| e["reason"] == "fin"), "{ends:#?}");
}
