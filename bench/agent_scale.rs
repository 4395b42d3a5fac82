//! Agent scale benchmark (docs/benchmarks.md, "## Agent"):
//! 1. a policy of N attackers (each with a sandbox for ftp, ssh and redis:
//!    3 N map elements) applied as one `nft -f` batch in a network namespace;
//! 2. 100 more attackers added as a delta on top of it;
//! 3. the cost of a good client's new connection with 0 and with N
//!    attackers in the table (sequential connect + close through a veth,
//!    to two servers side by side in alternating rounds).
//!
//! Needs root, ip, nft and conntrack.
//! `cargo run --release -p agent --example agent_scale -- [N] [CONNECTS]`

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use agent::enforce::Enforcer;
use model::policy::{Attacker, Endpoint, Mode, Policy, Sandbox, ServiceInfo, Whitelist};

fn sh(args: &[&str]) {
    let s = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect("run");
    assert!(s.success(), "{args:?}");
}

fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("netns");
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        f()
    })
    .join()
    .unwrap()
}

fn services() -> Vec<ServiceInfo> {
    [("ftp", 21), ("ssh", 22), ("redis", 6379)]
        .into_iter()
        .map(|(n, p)| ServiceInfo {
            name: n.into(),
            port: p,
        })
        .collect()
}

fn policy(version: u64, n: usize, offset: usize, now: i64) -> Policy {
    let sandbox = Sandbox {
        id: "sb".into(),
        endpoints: services()
            .into_iter()
            .map(|s| Endpoint {
                service: s.name,
                address: "10.201.9.2".parse().unwrap(),
                port: s.port,
            })
            .collect(),
    };
    Policy {
        version,
        mode: Mode::Unreal,
        whitelist: Whitelist {
            addresses: vec!["192.168.0.0/16".into()],
            ports: vec![2222],
        },
        attackers: (offset..offset + n)
            .map(|i| Attacker {
                // 100.64.0.0/10 and up: never the client's address.
                address: Ipv4Addr::from(0x6440_0000u32 + i as u32).into(),
                reason: "bench".into(),
                since: now,
                expires: now + 3600,
                sandbox: Some(sandbox.clone()),
            })
            .collect(),
        default_sandbox: None,
    }
}

fn connects(client: &str, to: &'static str, count: usize) -> Duration {
    in_ns(client, move || {
        let start = Instant::now();
        for _ in 0..count {
            let mut s = TcpStream::connect((to, 21)).expect("connect");
            let mut b = [0u8; 1];
            let _ = s.read(&mut b);
        }
        start.elapsed()
    })
}

/// CPU seconds (user + system) of the children waited for so far: the
/// `nft` processes.
fn children_cpu() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let count: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let tag = format!("kyb{}", std::process::id());
    // Two servers side by side, one with an empty table and one with N
    // attackers, measured in alternating rounds so that the machine's load
    // hits both alike.
    let (server, empty_server, client) = (
        format!("{tag}-srv"),
        format!("{tag}-emp"),
        format!("{tag}-cli"),
    );
    for ns in [&server, &empty_server, &client] {
        sh(&["ip", "netns", "add", ns]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    for (ns, dev, net) in [
        (&server, "v1", "10.201.0"),
        (&empty_server, "v2", "10.201.1"),
    ] {
        sh(&[
            "ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", dev, "netns",
            &client,
        ]);
        sh(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("{net}.1/24"),
            "dev",
            "v0",
        ]);
        sh(&[
            "ip",
            "-n",
            &client,
            "addr",
            "add",
            &format!("{net}.2/24"),
            "dev",
            dev,
        ]);
        sh(&["ip", "-n", ns, "link", "set", "v0", "up"]);
        sh(&["ip", "-n", &client, "link", "set", dev, "up"]);
    }
    // Short TIME_WAIT reuse so thousands of connects do not run out of ports.
    sh(&[
        "ip",
        "netns",
        "exec",
        &client,
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.tcp_tw_reuse=1",
    ]);

    for (ns, addr) in [(&server, "10.201.0.1:21"), (&empty_server, "10.201.1.1:21")] {
        let listener = in_ns(ns, move || TcpListener::bind(addr).unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
    }
    let now = model::signing::now();
    let mut other = Enforcer::new(
        "kyoka",
        Mode::Unreal,
        "nft".into(),
        "conntrack".into(),
        services(),
    );
    let other = in_ns(&empty_server, move || {
        other.start_empty().unwrap();
        other.apply(&policy(1, 0, 0, now)).unwrap();
        other
    });

    let mut enforcer = Enforcer::new(
        "kyoka",
        Mode::Unreal,
        "nft".into(),
        "conntrack".into(),
        services(),
    );
    // Conntrack flushes run on their own thread, off the enforcement path;
    // left out here so that child CPU time is nft's alone.
    enforcer.flush_limit = 0;
    enforcer = in_ns(&server, move || {
        enforcer.start_empty().unwrap();
        enforcer
    });

    let big = policy(1, n, 0, now);
    let (enforcer, full) = in_ns(&server, move || {
        let (start, cpu) = (Instant::now(), children_cpu());
        let applied = enforcer.apply(&big).unwrap();
        assert!(applied.full);
        let total = start.elapsed();
        (enforcer, (total, applied.nft_time, children_cpu() - cpu))
    });
    let mut more = policy(2, n, 0, now);
    more.attackers.extend(policy(2, 100, n, now).attackers);
    let (mut enforcer, delta) = in_ns(&server, move || {
        let mut enforcer = enforcer;
        let (start, cpu) = (Instant::now(), children_cpu());
        let applied = enforcer.apply(&more).unwrap();
        assert!(!applied.full);
        let total = start.elapsed();
        (enforcer, (total, applied.nft_time, children_cpu() - cpu))
    });
    let elements = {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &server, "nft", "list", "map", "inet", "kyoka", "sandbox4",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .matches("10.201.9.2")
            .count()
    };
    // Warm-up, then alternating rounds.
    connects(&client, "10.201.0.1", 300);
    connects(&client, "10.201.1.1", 300);
    let (mut empty, mut loaded) = (Duration::ZERO, Duration::ZERO);
    let rounds = 10;
    for _ in 0..rounds {
        empty += connects(&client, "10.201.1.1", count / rounds);
        loaded += connects(&client, "10.201.0.1", count / rounds);
    }
    let count = count / rounds * rounds;

    println!("attackers: {n} ({elements} map elements listed)");
    println!(
        "full apply of {n} attackers: {:.3} s wall (nft -f {:.3} s wall, {:.3} s CPU)",
        full.0.as_secs_f64(),
        full.1.as_secs_f64(),
        full.2
    );
    println!(
        "delta apply of 100 more attackers: {:.1} ms wall (nft -f {:.1} ms wall, {:.1} ms CPU)",
        delta.0.as_secs_f64() * 1e3,
        delta.1.as_secs_f64() * 1e3,
        delta.2 * 1e3
    );
    println!(
        "good client, {count} sequential connects: 0 attackers {:.1} µs/connect, {n} attackers {:.1} µs/connect",
        empty.as_secs_f64() * 1e6 / count as f64,
        loaded.as_secs_f64() * 1e6 / count as f64
    );
    let _ = in_ns(&server, move || enforcer.remove());
    let _ = in_ns(&empty_server, move || {
        let mut other = other;
        other.remove()
    });
    for ns in [&server, &empty_server, &client] {
        sh(&["ip", "netns", "del", ns]);
    }
}
