//! Time from `assign` (what `kyoka sandbox create` does) to every service of
//! the sandbox answering like a client expects (SSH and FTP banners, the
//! MySQL greeting, a Redis PING reply, the rsync greeting, an HTTP response,
//! a MongoDB OP_MSG reply: a paused container completes TCP handshakes, so
//! an open port proves nothing), from the warm pool and cold; then memory
//! per idle sandbox (cgroup memory.current summed over its containers).
//!
//! cargo run --release -p sandbox-orchestrator --example sandbox_start -- [runs]
//!
//! `KYOKA_SPARE_NETWORKS=0` measures cold starts without spare networks.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use sandbox_orchestrator::{Config, Orchestrator, SandboxInfo};

/// Waits for every service; when each answered, measured from `t`.
async fn all_answer(o: &Orchestrator, sb: &SandboxInfo, t: Instant) -> Vec<f64> {
    let ok = join_all(o.config.services.iter().map(|s| {
        let addr = sb.address_of(s).unwrap();
        async move {
            let ok = sandbox_orchestrator::probe::wait_until_answers(s, addr, Duration::from_secs(30)).await;
            (ok, t.elapsed().as_secs_f64() * 1000.0)
        }
    }))
    .await;
    assert!(ok.iter().all(|x| x.0), "a service never answered in {}", sb.id);
    ok.into_iter().map(|x| x.1).collect()
}

/// The sandbox's containers: its services and the one holding its address.
fn memory_of(sb: &SandboxInfo) -> u64 {
    sb.containers
        .values()
        .chain(sb.netns.iter())
        .map(|c| {
            let out = std::process::Command::new("docker").args(["inspect", "-f", "{{.State.Pid}}", c]).output().unwrap();
            let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            // cgroup v1 (a memory hierarchy) or v2 (the unified tree).
            let file = cg
                .lines()
                .find_map(|l| l.split_once(":memory:").map(|(_, p)| format!("/sys/fs/cgroup/memory{p}/memory.usage_in_bytes")))
                .or_else(|| cg.lines().find_map(|l| l.strip_prefix("0::")).map(|p| format!("/sys/fs/cgroup{}/memory.current", p.trim())))
                .unwrap_or_default();
            std::fs::read_to_string(file).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0)
        })
        .sum()
}

fn report(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!("{name}: n={} p50={:.0} ms p90={:.0} ms min={:.0} ms max={:.0} ms", ms.len(), p(0.5), p(0.9), ms[0], ms[ms.len() - 1]);
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let spare_networks = std::env::var("KYOKA_SPARE_NETWORKS").ok().and_then(|v| v.parse().ok()).unwrap_or(Config::default().spare_networks);
    let config = Config { instance: format!("bench-{}", std::process::id()), pool_size: 1, spare_networks, ..Config::default() };
    let o = Orchestrator::connect(config).await.expect("Docker and the images (bash images/build.sh)");
    let mut warm = Vec::new();
    let mut cold = Vec::new();
    // The assign call alone (what `kyoka sandbox create` waits for).
    let mut warm_assign = Vec::new();
    let mut cold_assign = Vec::new();
    let mut made = Vec::new();
    for i in 0..runs {
        o.fill_pool().await.unwrap();
        let attacker = format!("198.51.100.{}", 100 + i).parse().unwrap();
        let t = Instant::now();
        let a = o.assign(attacker).await.unwrap();
        assert_eq!(a.how, "warm");
        warm_assign.push(t.elapsed().as_secs_f64() * 1000.0);
        let sb = o.get(&a.sandbox).await.unwrap();
        all_answer(&o, &sb, t).await;
        warm.push(t.elapsed().as_secs_f64() * 1000.0);
        made.push(sb);
    }
    let o = Orchestrator { docker: o.docker.clone(), config: Config { pool_size: 0, ..o.config.clone() } };
    // The pool sandbox left over is not for the cold runs.
    for sb in o.sandboxes().await.unwrap().into_iter().filter(|s| s.attacker.is_none()) {
        o.remove(&sb.id).await.unwrap();
    }
    // When each service answered in the cold runs, per service.
    let mut per_service: Vec<Vec<f64>> = vec![Vec::new(); o.config.services.len()];
    for i in 0..runs {
        // Spare networks are refilled in the background in the service;
        // here, between runs (0 with `spare_networks = 0`).
        o.fill_spare_networks().await.unwrap();
        let attacker = format!("198.51.100.{}", 150 + i).parse().unwrap();
        let t = Instant::now();
        let a = o.assign(attacker).await.unwrap();
        assert_eq!(a.how, "cold");
        cold_assign.push(t.elapsed().as_secs_f64() * 1000.0);
        let sb = o.get(&a.sandbox).await.unwrap();
        for (i, ms) in all_answer(&o, &sb, t).await.into_iter().enumerate() {
            per_service[i].push(ms);
        }
        cold.push(t.elapsed().as_secs_f64() * 1000.0);
        made.push(sb);
    }
    report("warm pool (assign + unpause → all 7 answer)", warm);
    report("cold (network + 7 containers → all 7 answer)", cold);
    report("  of which the warm assign call", warm_assign);
    report("  of which the cold assign call", cold_assign);
    for (s, ms) in o.config.services.iter().zip(per_service) {
        report(&format!("  cold: {s} answered"), ms);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average during the run: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mems: Vec<u64> = made.iter().map(memory_of).collect();
    let mean = mems.iter().sum::<u64>() as f64 / mems.len() as f64;
    println!(
        "memory per idle sandbox (7 services and the netns container): mean {:.1} MiB, min {:.1}, max {:.1}; {} fit in 24 GiB",
        mean / 1048576.0,
        *mems.iter().min().unwrap() as f64 / 1048576.0,
        *mems.iter().max().unwrap() as f64 / 1048576.0,
        (24.0 * 1024.0 * 1048576.0 / mean) as u64
    );
    for sb in o.sandboxes().await.unwrap() {
        o.remove(&sb.id).await.unwrap();
    }
    for (id, _) in o.spare_networks().await.unwrap() {
        o.remove(&id).await.unwrap();
    }
}
