//! Sandbox traffic is captured into a data folder from the moment the
//! sandbox's network exists, tagged with the sandbox and its attacker, and
//! lands in the attacker's session: real engine, real lftp and redis-cli,
//! searched through the same library `kyoka search` uses.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capture::index::Kind;
use common::*;
use sandbox_orchestrator::capture::{follow, Captures};

fn search(data: &Path, kind: Kind, query: &str) -> Vec<serde_json::Value> {
    capture::ops::search(data, Some(kind), query, 1000).unwrap_or_else(|e| panic!("search {query:?}: {e}"))
}

/// Polls `query` until it finds something or `limit` passes.
fn wait_for(data: &Path, kind: Kind, query: &str, limit: Duration) -> (Vec<serde_json::Value>, Duration) {
    let t = Instant::now();
    loop {
        let found = capture::ops::search(data, Some(kind), query, 1000).unwrap_or_default();
        if !found.is_empty() || t.elapsed() > limit {
            return (found, t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sandbox_traffic_lands_in_the_attackers_session() {
    let config = config("capture");
    let _cleanup = Cleanup(config.clone());
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_path_buf();
    let attacker: IpAddr = "198.51.100.23".parse().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let o = Arc::new(connect(config).await);
        let captures = Arc::new(Captures::start(&data).expect("data folder"));
        let follower = tokio::spawn(follow(o.clone(), captures.clone()));

        let a = o.assign(attacker).await.unwrap();
        assert_eq!(a.how, "cold");
        let sb = o.get(&a.sandbox).await.unwrap();
        // The bridge is captured before the services are ready: nothing
        // the attacker does can precede it.
        let t = Instant::now();
        while !captures.devices().contains(&sb.bridge) {
            assert!(t.elapsed() < Duration::from_secs(5), "{} never captured: {:?}", sb.bridge, captures.devices());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        wait_ready(&o, &sb).await;

        let ftp = sb.address_of("ftp").unwrap().ip().to_string();
        let out = run("lftp", &["-u", "admin,admin", "-e", "set net:max-retries 1; ls; bye", &ftp]);
        assert!(text(&out).contains("notes.txt"), "lftp: {}", text(&out));
        let redis = sb.address_of("redis").unwrap().ip().to_string();
        let out = run("redis-cli", &["-h", &redis, "--no-auth-warning", "-a", "test", "GET", "config:api_token"]);
        assert!(out.status.success(), "redis-cli: {}", text(&out));

        // Searchable while the capture runs, within a couple of seconds.
        let id = &sb.id;
        let data2 = data.clone();
        let q = format!("sandbox:{id} AND type:ftp.login");
        let (logins, after) = tokio::task::spawn_blocking(move || wait_for(&data2, Kind::Events, &q, Duration::from_secs(15)))
            .await
            .unwrap();
        assert!(!logins.is_empty(), "no ftp.login of {id} in the data folder");
        eprintln!("ftp.login searchable {} ms after lftp ended", after.as_millis());
        let login = &logins[0];
        assert_eq!(login["user"], "admin", "{login}");
        assert_eq!(login["sandbox"], id.as_str(), "{login}");
        assert_eq!(login["attacker"], attacker.to_string(), "{login}");
        let session = login["session_id"].as_str().unwrap().to_string();
        assert!(!session.is_empty());
        let data2 = data.clone();
        let q = format!("sandbox:{id} AND protocol:redis");
        let (redis_events, _) = tokio::task::spawn_blocking(move || wait_for(&data2, Kind::Events, &q, Duration::from_secs(15)))
            .await
            .unwrap();
        assert!(!redis_events.is_empty(), "no redis event of {id}");
        assert!(redis_events.iter().all(|e| e["session_id"] == session.as_str()), "redis events in another session: {redis_events:?}");
        // The client is the host (the bridge's gateway), the session the attacker's.
        assert_ne!(login["flow"]["src_ip"], attacker.to_string());

        // Stopping ends every flow and writes the session.
        follower.abort();
        let _ = follower.await;
        let mut captures = captures;
        let c = loop {
            match Arc::try_unwrap(captures) {
                Ok(c) => break c,
                Err(shared) => captures = shared,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::task::spawn_blocking(move || c.stop()).await.unwrap().expect("capture stops");

        let flows = search(&data, Kind::Flows, &format!("sandbox:{id}"));
        let ports: Vec<u64> = flows.iter().filter_map(|f| f["flow"]["dst_port"].as_u64()).collect();
        assert!(ports.contains(&21) && ports.contains(&6379), "flows of {id}: {ports:?}");
        assert!(flows.iter().all(|f| f["session_id"] == session.as_str()), "a flow outside the attacker's session");
        let sessions = search(&data, Kind::Sessions, &format!("sandbox:{id}"));
        assert_eq!(sessions.len(), 1, "{sessions:?}");
        assert_eq!(sessions[0]["session_id"], session.as_str());
        assert_eq!(sessions[0]["src_ip"], attacker.to_string());
        // The attacker's address finds it all too.
        let by_attacker = search(&data, Kind::Flows, &format!("attacker:{attacker}"));
        assert_eq!(by_attacker.len(), flows.len());
        o.remove(id).await.unwrap();
    });
}
