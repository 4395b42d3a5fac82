//! Agent-side latency (docs/benchmarks.md, "## Agent"): from a stand-in
//! detector pushing a policy with one more attacker to that attacker's next
//! connection landing in the sandbox, through the real `kyoka-agent` binary
//! in a production namespace. 100 attackers, one after another, each with
//! its own source address.
//!
//! Needs root, ip, nft, conntrack, and a release build of the binary:
//! `cargo build --release -p agent --bin kyoka-agent &&
//!  cargo run --release -p agent --example agent_latency`

#[path = "../agent/tests/common/mod.rs"]
mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::detector::StandInDetector;
use common::*;
use model::policy::{Attacker, Endpoint, Mode, Policy, Sandbox, Whitelist};

fn main() {
    let bin = std::env::var("KYOKA_AGENT").unwrap_or_else(|_| {
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("kyoka-agent")
            .display()
            .to_string()
    });
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} missing: cargo build --release -p agent --bin kyoka-agent"
    );
    let mut lab = Lab::new();
    let (prod, sb, att) = (lab.prod.clone(), lab.sandbox.clone(), lab.attacker.clone());
    banner_server(&prod, 21, "production-ftp");
    banner_server(&sb, 21, "sandbox-ftp");
    let sources: Vec<String> = (10..110).map(|i| format!("10.200.1.{i}")).collect();
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
    let key = model::signing::new_key();
    let listener = in_ns(&prod, || TcpListener::bind("127.0.0.1:0").unwrap());
    let detector = StandInDetector::serve(listener, &key);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[detector]\nurl = \"{}\"\nagent_id = \"bench\"\nagent_key = \"{key}\"\n\
             reconnect_min_milliseconds = 50\n[[services]]\nname = \"ftp\"\nport = 21\n",
            dir.path().join("state").display(),
            detector.url()
        ),
    )
    .unwrap();
    lab.spawn(
        &prod,
        &[
            &bin,
            "--mode",
            "unreal",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    while detector.open_streams() == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let now = model::signing::now();
    let sandbox = Sandbox {
        id: "sb".into(),
        endpoints: vec![Endpoint {
            service: "ftp".into(),
            address: SANDBOX.parse().unwrap(),
            port: 21,
        }],
    };
    let mut attackers = Vec::new();
    let mut latencies = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        assert!(
            !landed_in_sandbox(&att, source.clone()),
            "{source} redirected too early"
        );
        attackers.push(Attacker {
            address: source.parse().unwrap(),
            reason: "bench".into(),
            since: now,
            expires: now + 600,
            sandbox: Some(sandbox.clone()),
        });
        let policy = Policy {
            version: i as u64 + 1,
            mode: Mode::Unreal,
            whitelist: Whitelist::default(),
            attackers: attackers.clone(),
            default_sandbox: None,
        };
        let start = Instant::now();
        detector.publish(policy);
        while !landed_in_sandbox(&att, source.clone()) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{source} never redirected"
            );
        }
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    println!(
        "push -> new connection in the sandbox, {} attackers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        ms(p(0.5)),
        ms(p(0.99)),
        ms(*latencies.last().unwrap())
    );
}
