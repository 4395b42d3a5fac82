//! The whole loop's latency (docs/benchmarks.md, "## Deception loop"): from
//! the syslog line that crosses a threshold, written to a real `kyoka
//! detector` (real redis-server, default rules), to that attacker's next
//! connection landing in the sandbox through the real `kyoka-agent` in a
//! production namespace (policy pushed over the signed SSE stream). 100
//! attackers, one after another, each with its own source address.
//!
//! Needs root, ip, nft, conntrack, redis-server and release builds of both
//! binaries (or `KYOKA=…` / `KYOKA_AGENT=…`):
//! `cargo build --release --bin kyoka && cargo build --release -p agent --bin kyoka-agent &&
//!  cargo run --release -p agent --example loop_latency`

#[path = "../agent/tests/common/mod.rs"]
mod common;

#[path = "../detector/tests/common/redis.rs"]
mod redis_server;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const SYSLOG: &str = "127.0.0.1:15514";
const API: &str = "127.0.0.1:18514";

/// A binary next to this example's folder (target/release), or from `var`.
fn binary(var: &str, name: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap();
        dir.join(name).display().to_string()
    });
    assert!(
        Path::new(&path).exists(),
        "{path} missing: cargo build --release -p … --bin {name}, or set {var}"
    );
    path
}

fn failed_ssh(source: &str) -> String {
    format!(
        "<38>1 2026-11-26T00:00:00.000Z prod1 sshd 100 - - Failed password for root from {source} port 4000 ssh2\n"
    )
}

fn main() {
    // The detector's and the agent's info lines (one per flag, per policy)
    // would bury the result; RUST_LOG=info brings them back.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    let kyoka = binary("KYOKA", "kyoka");
    let agent = binary("KYOKA_AGENT", "kyoka-agent");
    let mut lab = Lab::new();
    let (prod, att) = (lab.prod.clone(), lab.attacker.clone());
    banner_server(&prod, 21, "production-ftp");
    banner_server(&lab.sandbox.clone(), 21, "sandbox-ftp");
    let sources: Vec<String> = (9..110).map(|i| format!("10.200.1.{i}")).collect();
    for s in &sources {
        sh(&[
            "ip",
            "-n",
            &att,
            "addr",
            "add",
            &format!("{s}/24"),
            "dev",
            "eth0",
        ]);
    }

    // Redis on a Unix socket (reachable from any namespace), the detector
    // and the agent in production's namespace, talking over its loopback.
    let dir = tempfile::tempdir().unwrap();
    let redis = redis_server::Redis::start();
    let socket = redis.socket.clone();
    let url = redis.url.clone();
    let redis_cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .arg("-s")
            .arg(&socket)
            .args(args)
            .output()
            .expect("redis-cli");
        assert!(out.status.success(), "redis-cli {args:?}");
    };
    // What the orchestrator does for a shared sandbox: publish its endpoint.
    let sandbox = format!(
        r#"{{"id":"bench","endpoints":[{{"service":"ftp","address":"{SANDBOX}","port":21}}]}}"#
    );
    redis_cli(&["set", model::state::DEFAULT_SANDBOX, &sandbox]);

    let added = Command::new(&kyoka)
        .args(["agents", "add", "bench-prod", "--redis", &url])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let detector_config = dir.path().join("detector.toml");
    std::fs::write(&detector_config, "mode = \"unreal\"\n").unwrap();
    lab.spawn(
        &prod,
        &[
            &kyoka,
            "detector",
            "--redis",
            &url,
            "--syslog",
            SYSLOG,
            "--api",
            API,
            "--config",
            detector_config.to_str().unwrap(),
        ],
    );
    let start = Instant::now();
    let syslog = loop {
        if let Ok(s) = in_ns(&prod, || TcpStream::connect(SYSLOG)) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the detector never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    syslog.set_nodelay(true).unwrap();

    let agent_config = dir.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            "state_dir = \"{}\"\n[detector]\nurl = \"http://{API}\"\nagent_id = \"{}\"\nagent_key = \"{}\"\n\
             reconnect_min_milliseconds = 50\n[[services]]\nname = \"ftp\"\nport = 21\n",
            dir.path().join("agent-state").display(),
            added["id"].as_str().unwrap(),
            added["key"].as_str().unwrap(),
        ),
    )
    .unwrap();
    lab.spawn(
        &prod,
        &[
            &agent,
            "--mode",
            "unreal",
            "--config",
            agent_config.to_str().unwrap(),
        ],
    );

    // Every source but the last fails four times: one line short of the
    // threshold (ssh.brute_force: 5 in 60 s).
    let mut syslog = syslog;
    let mut prep = String::new();
    for s in &sources {
        for _ in 0..4 {
            prep.push_str(&failed_ssh(s));
        }
    }
    syslog.write_all(prep.as_bytes()).unwrap();

    let mut measure = |source: &str| -> Duration {
        assert!(
            !landed_in_sandbox(&att, source.to_owned()),
            "{source} redirected too early"
        );
        let t0 = Instant::now();
        syslog.write_all(failed_ssh(source).as_bytes()).unwrap();
        while !landed_in_sandbox(&att, source.to_owned()) {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{source} never redirected"
            );
        }
        t0.elapsed()
    };
    // The first attacker warms up (the agent's first stream, first table):
    // not counted.
    let warm = measure(&sources[0]);
    println!("warm-up attacker: {:.1} ms", warm.as_secs_f64() * 1e3);
    let mut latencies: Vec<Duration> = sources[1..].iter().map(|s| measure(s)).collect();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    println!(
        "threshold syslog line -> new connection in the sandbox, {} attackers: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        ms(p(0.5)),
        ms(p(0.9)),
        ms(p(0.99)),
        ms(*latencies.last().unwrap())
    );
    drop(lab);
    drop(redis);
}
