//! The syslog receiver against hostile senders: garbage, oversized and
//! non-UTF-8 frames, a half-open peer, both framings, UDP.

mod common;

use std::time::Duration;

use common::{rfc5424, until, Redis};
use detector::{Config, Detector};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

fn config(redis: &Redis) -> Config {
    let mut config = Config::new(&redis.url);
    config.limits.max_message_bytes = 1024;
    config.limits.tcp_idle_timeout = Duration::from_secs(2);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tcp_input_is_counted_and_nothing_breaks() {
    let redis = Redis::start();
    let d = Detector::start(config(&redis)).await.unwrap();
    let addr = d.syslog_tcp.unwrap();

    // A half-open peer: half a counted frame, then silence.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"500 <13>1 - - x - - - never finished")
        .await
        .unwrap();

    let mut s = TcpStream::connect(addr).await.unwrap();
    let good = rfc5424(
        "sshd",
        "Failed password for root from 203.0.113.5 port 1 ssh2",
    );
    let mut wire = Vec::new();
    wire.extend_from_slice(format!("{good}\n").as_bytes()); // newline framing
    wire.extend_from_slice(format!("{} {good}", good.len()).as_bytes()); // octet counting
    wire.extend_from_slice(b"complete garbage\n"); // no PRI
    wire.extend_from_slice(b"<13>1 - - app - - - \xff\xfe\xfd not utf-8\n");
    wire.extend_from_slice(&[b'A'; 5000]); // oversized, newline framed
    wire.push(b'\n');
    wire.extend_from_slice(format!("5000 {}", "B".repeat(5000)).as_bytes()); // oversized, counted
    wire.extend_from_slice(b"12ab\n"); // bad octet count
    wire.extend_from_slice(&[0u8; 64]);
    wire.extend_from_slice(format!("\n{good}\n").as_bytes());
    s.write_all(&wire).await.unwrap();
    s.shutdown().await.unwrap();

    until(10, "every frame counted", async || {
        d.stats.snapshot().received >= 8
    })
    .await;
    until(10, "the pipeline caught up", async || {
        let st = d.stats.snapshot();
        st.processed == st.accepted
    })
    .await;
    let st = d.stats.snapshot();
    assert_eq!(
        (
            st.received,
            st.accepted,
            st.oversized,
            st.garbage,
            st.dropped
        ),
        (8, 4, 2, 2, 0),
        "{st:?}"
    );
    assert_eq!(st.observations, 3, "{st:?}");

    // The half-open peer is closed after the idle timeout; the server still serves.
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut half, &mut buf),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "half-open peer not closed: {closed:?}"
    );
    let mut again = TcpStream::connect(addr).await.unwrap();
    again
        .write_all(format!("{good}\n").as_bytes())
        .await
        .unwrap();
    until(10, "a new connection served", async || {
        d.stats.snapshot().accepted == 5
    })
    .await;
    // The half-open peer's unfinished frame was never a message.
    assert_eq!(d.stats.snapshot().received, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagrams_garbage_and_oversized() {
    let redis = Redis::start();
    let d = Detector::start(config(&redis)).await.unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = d.syslog_udp.unwrap();
    let good = rfc5424(
        "vsftpd",
        r#"[pid 5] [root] FAIL LOGIN: Client "203.0.113.6""#,
    );
    udp.send_to(good.as_bytes(), to).await.unwrap();
    udp.send_to(b"\xff\xff\xff", to).await.unwrap();
    udp.send_to(&[b'x'; 2000], to).await.unwrap();
    udp.send_to(b"", to).await.unwrap();
    udp.send_to(b"<13>", to).await.unwrap();
    until(10, "datagrams counted", async || {
        d.stats.snapshot().received == 5
    })
    .await;
    until(10, "pipeline", async || d.stats.snapshot().processed == 1).await;
    let st = d.stats.snapshot();
    assert_eq!(
        (st.accepted, st.oversized, st.garbage, st.observations),
        (1, 1, 3, 1),
        "{st:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_over_the_rate_limit_is_dropped_and_counted() {
    let redis = Redis::start();
    let mut config = config(&redis);
    config.rate_limit_messages_per_second = 1;
    config.rate_limit_burst_messages = 3;
    let d = Detector::start(config).await.unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..10 {
        udp.send_to(rfc5424("x", "hello").as_bytes(), d.syslog_udp.unwrap())
            .await
            .unwrap();
    }
    until(10, "datagrams counted", async || {
        d.stats.snapshot().received == 10
    })
    .await;
    let st = d.stats.snapshot();
    assert_eq!((st.accepted, st.dropped), (3, 7), "{st:?}");
    assert_eq!(
        d.udp_kernel_drops(),
        Some(0),
        "the kernel's drops are read too"
    );
}

/// What the kernel drops when a UDP socket's buffer is full is counted,
/// not hidden: a socket nobody reads overflows, and the count the detector
/// reports (from /proc/net/udp) is exactly what was sent and never queued.
#[test]
fn kernel_udp_drops_are_counted_exactly() {
    let full = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = full.local_addr().unwrap().port();
    assert_eq!(detector::syslog::kernel_udp_drops(port), Some(0));
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = 5_000u64;
    for _ in 0..sent {
        sender.send_to(&[b'x'; 1000], ("127.0.0.1", port)).unwrap();
    }
    full.set_nonblocking(true).unwrap();
    let mut queued = 0u64;
    let mut buf = [0u8; 2000];
    while full.recv(&mut buf).is_ok() {
        queued += 1;
    }
    let drops = detector::syslog::kernel_udp_drops(port).unwrap();
    assert!(drops > 0, "5 MB into one receive buffer must overflow it");
    assert_eq!(queued + drops, sent);
}
