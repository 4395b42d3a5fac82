//! The attackers and policy pages on a real Redis filled through the
//! detector's own library (an agent registered, a heartbeat, detections,
//! a sandbox as the orchestrator publishes it): the pages and the API show
//! them; an admin's flag and unflag go through the detector's atomic path
//! (the policy version bumps and the change is published to agents);
//! analysts get 403; without `--redis` the pages say how to connect.

mod common;

use std::net::IpAddr;

use axum::http::{Request, StatusCode};
use common::redis::Redis;
use common::*;
use detector::observation::{Kind, Observation, Service};
use detector::rules::Rules;
use detector::state::{Hit, Settings, Store};
use tokio_stream::StreamExt;
use model::policy::{Endpoint, Heartbeat, Mode, Sandbox, ServiceInfo, Whitelist};
use serde_json::Value;

const RULES: &str = r#"
[[rule]]
name = "ftp.brute"
service = "ftp"
kinds = ["login_failed"]
threshold = 2
window_seconds = 600
flag_seconds = 3600
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn json(app: &axum::Router, req: Request<axum::body::Body>) -> (StatusCode, Value) {
    let r = send(app, req).await;
    let status = r.status();
    let b = body(r).await;
    (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

async fn page(app: &axum::Router, req: Request<axum::body::Body>) -> (StatusCode, String) {
    let r = send(app, req).await;
    (r.status(), text(r).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attackers_policy_and_agents_from_the_detectors_redis() {
    let redis = Redis::start();
    let store = Store::connect(&redis.url).await.unwrap();
    // What a running detector publishes at start.
    store
        .publish_settings(&Settings {
            mode: Mode::Unreal,
            whitelist: Whitelist {
                addresses: vec!["10.0.0.0/8".into()],
                ports: vec![22],
            },
        })
        .await
        .unwrap();
    let rules = Rules::from_toml(RULES).unwrap();
    store.publish_rules(rules.all()).await.unwrap();
    // An agent that reported two hours ago.
    let agent = detector::agents::add(&store, "prod1").await.unwrap();
    let beat = Heartbeat {
        host: "prod1.example".into(),
        agent_version: "0.1.0".into(),
        mode: Mode::Unreal,
        policy_version: 1,
        services: vec![ServiceInfo { name: "ftp".into(), port: 21 }],
    };
    let two_hours_ago = chrono::Utc::now().timestamp() - 2 * 3600;
    assert!(detector::agents::heartbeat(&store, &agent.id, beat, two_hours_ago).await.unwrap());
    // Two failed FTP logins flag 203.0.113.9; the user name is hostile.
    let attacker = ip("203.0.113.9");
    let obs = Observation::new(Service::Ftp, Kind::LoginFailed, attacker).user(HOSTILE_USER);
    let rule = &rules.all()[0];
    let hit = || Hit { rule, observation: &obs };
    assert!(store.record(&[hit()]).await.unwrap().is_empty());
    assert_eq!(store.record(&[hit()]).await.unwrap().len(), 1, "the second hit flags");
    // The orchestrator gives it a sandbox.
    let sandbox = Sandbox {
        id: "sb-test-1".into(),
        endpoints: vec![Endpoint { service: "ftp".into(), address: ip("172.18.0.5"), port: 21 }],
    };
    let mut conn = store.connection();
    let _: () = ::redis::AsyncCommands::set(&mut conn, model::state::sandbox_of(attacker), serde_json::to_string(&sandbox).unwrap())
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app_with_redis(dir.path(), Some(&redis.url));
    let analyst = login(&app, ANALYST.0, ANALYST.1).await;
    let admin = login(&app, ADMIN.0, ADMIN.1).await;

    // The analyst's page: who, why, since, until, where; no hand controls.
    let (status, html) = page(&app, analyst.get("/attackers")).await;
    assert_eq!(status, StatusCode::OK);
    for want in ["203.0.113.9", "ftp.brute", "sb-test-1: ftp 172.18.0.5:21", " s ago", "unreal"] {
        assert!(html.contains(want), "the attackers page shows {want:?}:\n{html}");
    }
    assert!(html.contains("in 59 min") || html.contains("in 1 h"), "the expiry as a time left:\n{html}");
    assert!(!html.contains("/attackers/unflag") && !html.contains("/attackers/flag"), "analysts get no flag controls");
    assert!(!html.contains(HOSTILE_USER), "the hostile user name is text, not markup");
    assert!(html.contains("user=&#60;script&#62;window.__pwned=3"), "the hostile user name is shown escaped:\n{html}");
    let (status, v) = json(&app, analyst.get("/api/v1/attackers")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["attackers"][0]["address"], "203.0.113.9");
    assert_eq!(v["attackers"][0]["reason"], "ftp.brute");
    assert_eq!(v["attackers"][0]["sandbox"]["endpoints"][0]["port"], 21);
    assert!(v["attackers"][0]["expires"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    let (status, v) = json(&app, analyst.get("/api/v1/detections?limit=10")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["detections"][0]["address"], "203.0.113.9");
    assert_eq!(v["detections"][0]["observation"]["user"], HOSTILE_USER);

    // The overview: active sandboxes and the latest detections.
    let (_, html) = page(&app, analyst.get("/")).await;
    for want in ["1 flagged", "1 in a sandbox", "sb-test-1: ftp 172.18.0.5:21", "ftp.brute", "ftp login_failed"] {
        assert!(html.contains(want), "the overview shows {want:?}:\n{html}");
    }

    // Analysts may not change anything, nor see policy and agents.
    let version = store.version().await.unwrap();
    for req in [
        analyst.form("/attackers/flag", &[("address", "198.51.100.7")]),
        analyst.form("/attackers/unflag", &[("address", "203.0.113.9")]),
        analyst.with("POST", "/api/v1/attackers", Some(&analyst.csrf), r#"{"address":"198.51.100.7"}"#),
        analyst.with("DELETE", "/api/v1/attackers/203.0.113.9", Some(&analyst.csrf), ""),
        analyst.get("/admin/policy"),
        analyst.get("/api/v1/policy"),
        analyst.get("/api/v1/agents"),
    ] {
        let what = format!("{} {}", req.method(), req.uri());
        assert_eq!(send(&app, req).await.status(), StatusCode::FORBIDDEN, "{what} as an analyst");
    }
    assert_eq!(store.version().await.unwrap(), version, "nothing changed");
    // A forged CSRF token is refused before the role matters.
    let mut forged = admin.form("/attackers/flag", &[("address", "198.51.100.7")]);
    *forged.body_mut() = axum::body::Body::from("csrf=forged&address=198.51.100.7");
    assert_eq!(send(&app, forged).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(store.version().await.unwrap(), version);

    // An admin flags by hand: in the policy agents get, version bumped,
    // the new version published on the channel agents listen to.
    let client = ::redis::Client::open(redis.url.as_str()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(model::state::POLICY_CHANGED).await.unwrap();
    let (status, html) = page(&app, admin.form("/attackers/flag", &[("address", "198.51.100.7"), ("hours", "2")])).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("198.51.100.7 flagged until"), "{html}");
    let policy = store.policy().await.unwrap();
    assert_eq!(policy.version, version + 1);
    let manual = policy.attackers.iter().find(|a| a.address == ip("198.51.100.7")).expect("flagged");
    assert_eq!(manual.reason, detector::state::MANUAL);
    assert!((manual.expires - manual.since - 7200).abs() <= 1, "two hours: {manual:?}");
    let published: u64 = tokio::time::timeout(std::time::Duration::from_secs(5), pubsub.on_message().next())
        .await
        .expect("the change is published")
        .unwrap()
        .get_payload()
        .unwrap();
    assert_eq!(published, version + 1);
    // The same through the API, IPv6 too.
    let (status, v) = json(&app, admin.with("POST", "/api/v1/attackers", Some(&admin.csrf), r#"{"address":"2001:db8::7","seconds":60}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["version"], version + 2);
    assert!(store.policy().await.unwrap().attackers.iter().any(|a| a.address == ip("2001:db8::7")));
    // Hand-made flags are detections too, with who made them.
    let (_, v) = json(&app, admin.get("/api/v1/detections")).await;
    assert_eq!(v["detections"][0]["address"], "2001:db8::7");
    assert_eq!(v["detections"][0]["rule"], "manual");
    assert_eq!(v["detections"][0]["by"], ADMIN.0);
    // Bad input is a clear 400 and changes nothing.
    for body in [r#"{"address":"not-an-ip"}"#, r#"{"address":"198.51.100.8","seconds":0}"#, r#"{"seconds":5}"#, "{"] {
        let (status, v) = json(&app, admin.with("POST", "/api/v1/attackers", Some(&admin.csrf), body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["error"].is_string());
    }
    let (status, html) = page(&app, admin.form("/attackers/flag", &[("address", "<b>x</b>")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("is not an IP address") && !html.contains("<b>x</b>"), "{html}");
    assert_eq!(store.version().await.unwrap(), version + 2);

    // Unflag by hand: gone, version bumped; again is 404.
    let (status, html) = page(&app, admin.form("/attackers/unflag", &[("address", "198.51.100.7")])).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("198.51.100.7 unflagged"));
    let policy = store.policy().await.unwrap();
    assert_eq!(policy.version, version + 3);
    assert!(!policy.attackers.iter().any(|a| a.address == ip("198.51.100.7")));
    let (status, v) = json(&app, admin.with("DELETE", "/api/v1/attackers/2001:db8::7", Some(&admin.csrf), "")).await;
    assert_eq!((status, v["version"].as_u64()), (StatusCode::OK, Some(version + 4)));
    let (status, _) = json(&app, admin.with("DELETE", "/api/v1/attackers/2001:db8::7", Some(&admin.csrf), "")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Unflagging a detected attacker also resets its rule counters: one
    // more failed login (while flagged, then after) does not flag it again.
    assert!(store.record(&[hit()]).await.unwrap().is_empty());
    let (status, _) = json(&app, admin.with("DELETE", "/api/v1/attackers/203.0.113.9", Some(&admin.csrf), "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(store.record(&[hit()]).await.unwrap().is_empty(), "one hit after unflagging does not flag");
    assert!(store.policy().await.unwrap().attackers.is_empty());
    assert_eq!(store.record(&[hit()]).await.unwrap().len(), 1, "the rule's threshold still works");

    // Policy and agents (admin).
    let (status, html) = page(&app, admin.get("/admin/policy")).await;
    assert_eq!(status, StatusCode::OK);
    for want in ["unreal", "10.0.0.0/8", "22", "ftp.brute", "10 min", "1 h", "prod1", "prod1.example", "0.1.0", "ftp 21", "2 h ago", "active"] {
        assert!(html.contains(want), "the policy page shows {want:?}:\n{html}");
    }
    let (status, v) = json(&app, admin.get("/api/v1/policy")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["mode"], "unreal");
    assert_eq!(v["whitelist"]["addresses"][0], "10.0.0.0/8");
    assert_eq!(v["rules"][0]["name"], "ftp.brute");
    assert_eq!(v["rules"][0]["threshold"], 2);
    let (status, v) = json(&app, admin.get("/api/v1/agents")).await;
    assert_eq!(status, StatusCode::OK);
    let a = &v["agents"][0];
    assert_eq!((a["name"].as_str(), a["heartbeat"]["host"].as_str()), (Some("prod1"), Some("prod1.example")));
    assert!((a["heartbeat_age_seconds"].as_i64().unwrap() - 7200).abs() <= 5, "{a}");
    assert!(a.get("key").is_none(), "agent keys never leave Redis");
    assert!(!v.to_string().contains(&agent.key));
}

#[tokio::test]
async fn without_redis_the_pages_say_how_to_connect() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path());
    let admin = login(&app, ADMIN.0, ADMIN.1).await;
    for uri in ["/attackers", "/admin/policy"] {
        let (status, html) = page(&app, admin.get(uri)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("kyoka ui --redis"), "{uri} says how to connect:\n{html}");
    }
    for uri in ["/api/v1/attackers", "/api/v1/detections", "/api/v1/policy", "/api/v1/agents"] {
        let (status, v) = json(&app, admin.get(uri)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert!(v["error"].as_str().unwrap().contains("--redis"), "{uri}: {v}");
    }
    let (status, _) = json(&app, admin.with("POST", "/api/v1/attackers", Some(&admin.csrf), r#"{"address":"198.51.100.7"}"#)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_redis_that_is_down_is_a_clear_503() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis+unix://{}", dir.path().join("no-redis.sock").display());
    let (app, _) = app_with_redis(&dir.path().join("data"), Some(&url));
    let admin = login(&app, ADMIN.0, ADMIN.1).await;
    let (status, html) = page(&app, admin.get("/attackers")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("cannot reach the detector"), "{html}");
    assert!(!html.contains("no-redis.sock"), "no internals on the page");
    let (status, v) = json(&app, admin.get("/api/v1/attackers")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_those_flagged_longest_and_the_api_all_of_them() {
    let redis = Redis::start();
    let store = Store::connect(&redis.url).await.unwrap();
    let n = forensics_ui::detector_pages::ATTACKERS_SHOWN + 20;
    let address = |i: usize| IpAddr::from([10, 9, (i / 256) as u8, (i % 256) as u8]);
    // The last ten stay flagged longest: the page (which reads only what
    // it shows) has them.
    for i in 0..n {
        store.flag(address(i), if i >= n - 10 { 7200 } else { 600 }, "test").await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app_with_redis(dir.path(), Some(&redis.url));
    let analyst = login(&app, ANALYST.0, ANALYST.1).await;
    let (status, html) = page(&app, analyst.get("/attackers")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("{} of {n} flagged (those flagged longest)", forensics_ui::detector_pages::ATTACKERS_SHOWN)), "{}", &html[..2000.min(html.len())]);
    for i in n - 10..n {
        assert!(html.contains(&format!(">{}<", address(i))), "{} is listed", address(i));
    }
    let (_, overview) = page(&app, analyst.get("/")).await;
    assert!(overview.contains(&format!("{n} flagged")), "the overview counts every flagged attacker");
    let (_, v) = json(&app, analyst.get("/api/v1/attackers")).await;
    assert_eq!(v["attackers"].as_array().unwrap().len(), n);
}
