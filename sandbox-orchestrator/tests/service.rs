//! The service against a real Redis: a flagged attacker (`kyoka:attackers`)
//! gets a sandbox without anyone typing, published per the contract
//! (`kyoka:sandbox:{ip}`, version bumped and announced), and its daemons'
//! log lines arrive as syslog tagged with sandbox and attacker.

mod common;

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use redis::AsyncCommands;

struct Redis {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> (Redis, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--dir", dir.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server missing (scripts/deps.sh installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (Redis { child, _dir: dir }, port)
}

#[test]
fn flagged_attackers_get_a_published_sandbox_and_their_logs_flow_as_syslog() {
    let (_redis, port) = start_redis();
    let syslog = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    syslog.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut config = config("service");
    config.redis_url = format!("redis://127.0.0.1:{port}/");
    config.reap_interval_ms = 200;
    config.syslog_target = Some(syslog.local_addr().unwrap().to_string());
    // `kyoka orchestrator --data DIR`: the sandbox's traffic is captured.
    let data = tempfile::tempdir().unwrap();
    config.capture_data = Some(data.path().to_path_buf());
    let _cleanup = Cleanup(config.clone());
    let rt = runtime();
    let o = Arc::new(rt.block_on(connect(config.clone())));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = rt.spawn(sandbox_orchestrator::service::run(o.clone(), async move {
        let _ = stop_rx.await;
    }));

    let attacker = "198.51.100.71";
    let (sandbox, version, announced) = rt.block_on(async {
        let client = redis::Client::open(config.redis_url.as_str()).unwrap();
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.subscribe(model::state::POLICY_CHANGED).await.unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let expires = chrono::Utc::now().timestamp() + 3600;
        let _: () = con.zadd(model::state::ATTACKERS, attacker, expires).await.unwrap();
        let announced: String = tokio::time::timeout(Duration::from_secs(60), pubsub.on_message().next())
            .await
            .expect("no policy change announced")
            .unwrap()
            .get_payload()
            .unwrap();
        let json: String = con.get(model::state::sandbox_of(attacker.parse().unwrap())).await.unwrap();
        let version: u64 = con.get(model::state::POLICY_VERSION).await.unwrap();
        (serde_json::from_str::<model::policy::Sandbox>(&json).unwrap(), version, announced)
    });
    assert_eq!(sandbox.endpoints.len(), 7);
    assert!(version >= 1);
    assert_eq!(announced, version.to_string());
    let sb = rt.block_on(o.get(&sandbox.id)).unwrap();
    assert_eq!(sb.attacker.as_deref(), Some(attacker));

    // A command in the sandbox becomes a syslog line tagged with it.
    rt.block_on(wait_ready(&o, &sb));
    let ssh_ep = sandbox.endpoint("ssh").unwrap();
    let out = ssh(&ssh_ep.address.to_string(), "test", "test", "uname -a; echo syslog-marker");
    assert!(out.status.success(), "{}", text(&out));
    let mut buf = [0u8; 8192];
    let mut seen = Vec::new();
    let found = loop {
        let Ok(n) = syslog.recv(&mut buf) else { break false };
        let line = String::from_utf8_lossy(&buf[..n]).to_string();
        if line.contains("echo syslog-marker") {
            assert!(line.starts_with("<134>1 "), "{line}");
            assert!(line.contains(&format!("sandbox=\"{}\" attacker=\"{attacker}\" service=\"ssh\"", sandbox.id)), "{line}");
            break true;
        }
        seen.push(line);
    };
    assert!(found, "no syslog line with the command; got {seen:?}");
    let _ = stop_tx.send(());
    rt.block_on(service).unwrap().unwrap();

    // Stopping the service ended the capture: the ssh flow is in the
    // data folder, tagged, in the attacker's session.
    let flows = capture::ops::search(data.path(), Some(capture::index::Kind::Flows), &format!("sandbox:{}", sandbox.id), 100).unwrap();
    assert!(flows.iter().any(|f| f["flow"]["dst_port"] == 22), "no ssh flow of {}: {flows:?}", sandbox.id);
    let sessions = capture::ops::search(data.path(), Some(capture::index::Kind::Sessions), &format!("attacker:{attacker}"), 10).unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["src_ip"], attacker);
}
