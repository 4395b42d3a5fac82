//! Detector benchmarks (docs/benchmarks.md, "Detector"): a TCP syslog flood
//! (every message counted, none lost), a UDP flood (drops counted) and the
//! time from the threshold-crossing line to the new policy version being
//! published, over 100 attackers. Starts its own redis-server.
//!
//! cargo run --release --example syslog_flood -- [TCP_MESSAGES] [HIT_PERCENT] [UDP_MESSAGES]

#[path = "../detector/tests/common/redis.rs"]
mod redis_server;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use detector::{Config, Detector};
use futures_util::StreamExt;

fn line(i: u64, hit_percent: u64) -> String {
    // Hits are failed logins spread over 65,536 sources (most stay under the
    // threshold); the rest are lines the normaliser reads but no rule counts.
    let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    if i % 100 < hit_percent {
        format!("<38>1 2026-11-25T21:00:00Z prod1 sshd 100 - - Failed password for root from {ip} port 4000 ssh2\n")
    } else {
        format!("<38>1 2026-11-25T21:00:00Z prod1 sshd 100 - - Accepted publickey for deploy from {ip} port 4000 ssh2: ED25519 SHA256:x\n")
    }
}

async fn wait(d: &Detector, what: &str, cond: impl Fn(&detector::syslog::StatsSnapshot) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !cond(&d.stats.snapshot()) {
        assert!(
            Instant::now() < deadline,
            "timed out: {what}: {:?}",
            d.stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn tcp_flood(addr: SocketAddr, n: u64, hit_percent: u64) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut buf = Vec::with_capacity(1 << 20);
    for i in 0..n {
        buf.extend_from_slice(line(i, hit_percent).as_bytes());
        if buf.len() > 1 << 19 {
            s.write_all(&buf).unwrap();
            buf.clear();
        }
    }
    s.write_all(&buf).unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let tcp_n = args.first().copied().unwrap_or(1_000_000);
    let hit_percent = args.get(1).copied().unwrap_or(10);
    let udp_n = args.get(2).copied().unwrap_or(200_000);

    let redis = redis_server::Redis::start();
    let url = redis.url.clone();
    let d = Detector::start(Config::new(&url)).await.unwrap();

    // TCP flood.
    let addr = d.syslog_tcp.unwrap();
    let start = Instant::now();
    let sender = std::thread::spawn(move || tcp_flood(addr, tcp_n, hit_percent));
    wait(&d, "tcp flood processed", |s| s.processed >= tcp_n).await;
    let took = start.elapsed();
    sender.join().unwrap();
    let st = d.stats.snapshot();
    println!(
        "tcp: {tcp_n} messages ({hit_percent} % failed logins) in {:.3} s = {:.0} msg/s; received {} accepted {} processed {} dropped {} garbage {} oversized {} observations {} detections {}",
        took.as_secs_f64(),
        tcp_n as f64 / took.as_secs_f64(),
        st.received, st.accepted, st.processed, st.dropped, st.garbage, st.oversized, st.observations, st.detections
    );
    assert_eq!(
        (st.received, st.accepted, st.processed),
        (tcp_n, tcp_n, tcp_n),
        "a message was lost"
    );

    // UDP flood: as fast as one socket sends.
    let before = d.stats.snapshot();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = d.syslog_udp.unwrap();
    let start = Instant::now();
    for i in 0..udp_n {
        let _ = udp.send_to(line(i, hit_percent).trim_end().as_bytes(), to);
    }
    let send_time = start.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = d.stats.snapshot();
    let received = after.received - before.received;
    println!(
        "udp: sent {udp_n} in {:.3} s ({:.0}/s); detector received {received}, accepted {}, dropped (rate limit or queue full) {}; dropped by the kernel (counted in /proc/net/udp, shown by /api/v1/health): {:?}; sent - received: {}",
        send_time.as_secs_f64(),
        udp_n as f64 / send_time.as_secs_f64(),
        after.accepted - before.accepted,
        after.dropped - before.dropped,
        d.udp_kernel_drops(),
        udp_n - received
    );

    // Latency: for 100 attackers, 4 failures each first, then the 5th
    // (threshold-crossing) line; time until its version is published.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub
        .subscribe(model::state::POLICY_CHANGED)
        .await
        .unwrap();
    let mut messages = pubsub.into_on_message();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let fail = |ip: &str| {
        format!("<38>1 2026-11-25T21:00:00Z prod1 sshd 100 - - Failed password for root from {ip} port 4000 ssh2\n")
    };
    let mut prep = String::new();
    for a in 0..100 {
        for _ in 0..4 {
            prep.push_str(&fail(&format!("172.16.1.{a}")));
        }
    }
    s.write_all(prep.as_bytes()).unwrap();
    let target = d.stats.snapshot().processed + 400;
    wait(&d, "prep", |st| st.processed >= target).await;
    // Drain versions published by the UDP flood's and TCP flood's late flags.
    while tokio::time::timeout(Duration::from_millis(200), messages.next())
        .await
        .is_ok()
    {}
    let mut latencies = Vec::new();
    for a in 0..100 {
        let t0 = Instant::now();
        s.write_all(fail(&format!("172.16.1.{a}")).as_bytes())
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .expect("a version within 5 s")
            .unwrap();
        latencies.push(t0.elapsed());
    }
    latencies.sort();
    println!(
        "threshold line -> version published, 100 attackers: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    drop(d);
    drop(redis);
}
