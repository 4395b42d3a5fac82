//! The policy API through `Detector::app()` (no socket): forged, replayed,
//! stale, unknown-agent and revoked-agent requests get a bare 401; valid
//! ones get signed answers; the push stream delivers a new version within a
//! second of the detection.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use common::{rfc5424, Redis};
use detector::agents;
use detector::{Config, Detector};
use http_body_util::BodyExt;
use model::policy::{Heartbeat, Mode, Policy, ServiceInfo};
use model::signing::{self, Signed, SignedMessage};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    body: Vec<u8>,
    agent: &'a str,
    key: &'a str,
    timestamp: i64,
    nonce: String,
}

impl<'a> Req<'a> {
    fn get(path: &'a str, agent: &'a str, key: &'a str) -> Req<'a> {
        Req {
            method: "GET",
            path,
            body: Vec::new(),
            agent,
            key,
            timestamp: signing::now(),
            nonce: signing::new_nonce(),
        }
    }

    fn signature(&self) -> String {
        Signed {
            first: self.method,
            path_and_query: self.path,
            timestamp: self.timestamp,
            nonce: &self.nonce,
            body: &self.body,
        }
        .sign(self.key)
    }

    fn build(&self, signature: &str) -> Request<Body> {
        Request::builder()
            .method(self.method)
            .uri(self.path)
            .header(signing::AGENT_HEADER, self.agent)
            .header(signing::TIMESTAMP_HEADER, self.timestamp.to_string())
            .header(signing::NONCE_HEADER, &self.nonce)
            .header(signing::SIGNATURE_HEADER, signature)
            .body(Body::from(self.body.clone()))
            .unwrap()
    }

    fn signed(&self) -> Request<Body> {
        self.build(&self.signature())
    }
}

async fn call(
    d: &Detector,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = d.app().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes().to_vec(),
    )
}

async fn assert_refused(d: &Detector, request: Request<Body>, what: &str) {
    let (status, headers, body) = call(d, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    assert!(body.is_empty(), "{what}: body {body:?}");
    let extra: Vec<_> = headers.keys().filter(|k| *k != "content-length").collect();
    assert!(extra.is_empty(), "{what}: headers {extra:?}");
}

/// Checks a response's signature the way an agent must.
fn verify_response(
    path: &str,
    nonce: &str,
    key: &str,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) {
    let h = |n: &str| {
        headers
            .get(n)
            .unwrap_or_else(|| panic!("no {n}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(h(signing::NONCE_HEADER), nonce);
    let timestamp = signing::parse_timestamp(&h(signing::TIMESTAMP_HEADER)).unwrap();
    Signed {
        first: signing::RESPONSE,
        path_and_query: path,
        timestamp,
        nonce,
        body,
    }
    .verify(key, &h(signing::SIGNATURE_HEADER), signing::now())
    .expect("response signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_correctly_signed_fresh_requests_from_live_agents_pass() {
    let redis = Redis::start();
    let d = Detector::start(Config::new(&redis.url)).await.unwrap();
    let agent = agents::add(&d.store, "web1").await.unwrap();
    let other = agents::add(&d.store, "web2").await.unwrap();
    assert!(
        agents::add(&d.store, "web1").await.is_err(),
        "names are unique among live agents"
    );
    let path = "/api/v1/policy";

    // A valid request, and its signed answer.
    let ok = Req::get(path, &agent.id, &agent.key);
    let (status, headers, body) = call(&d, ok.signed()).await;
    assert_eq!(status, StatusCode::OK);
    verify_response(path, &ok.nonce, &agent.key, &headers, &body);
    let policy: Policy = serde_json::from_slice(&body).unwrap();
    assert_eq!(policy.mode, Mode::Unreal);

    // Replayed: the very same request again.
    assert_refused(&d, ok.signed(), "replayed").await;
    // Forged: signed with another agent's key, or a changed path / body.
    assert_refused(
        &d,
        Req::get(path, &agent.id, &other.key).signed(),
        "wrong key",
    )
    .await;
    let r = Req::get(path, &agent.id, &agent.key);
    assert_refused(&d, r.build(&"0".repeat(64)), "made-up signature").await;
    let mut r = Req::get("/api/v1/agents/heartbeat", &agent.id, &agent.key);
    r.method = "POST";
    r.body = b"{}".to_vec();
    let sig = r.signature();
    r.body = b"{ }".to_vec();
    assert_refused(&d, r.build(&sig), "body changed after signing").await;
    // Stale and future timestamps.
    for skew in [-61, 61, -100_000] {
        let mut r = Req::get(path, &agent.id, &agent.key);
        r.timestamp += skew;
        assert_refused(&d, r.signed(), "stale").await;
    }
    // Short nonce, unknown agent, missing headers.
    let mut r = Req::get(path, &agent.id, &agent.key);
    r.nonce = "00ff".into();
    assert_refused(&d, r.signed(), "short nonce").await;
    assert_refused(
        &d,
        Req::get(path, "ag-nobody", &agent.key).signed(),
        "unknown agent",
    )
    .await;
    assert_refused(
        &d,
        Request::get(path).body(Body::empty()).unwrap(),
        "no headers",
    )
    .await;
    let mut bare = Req::get(path, &agent.id, &agent.key).signed();
    bare.headers_mut().remove(signing::NONCE_HEADER);
    assert_refused(&d, bare, "no nonce").await;
    // Revoked.
    assert_eq!(agents::revoke(&d.store, "web1").await.unwrap(), 1);
    assert_refused(
        &d,
        Req::get(path, &agent.id, &agent.key).signed(),
        "revoked",
    )
    .await;
    // The other agent still works; health needs nothing.
    assert_eq!(
        call(&d, Req::get(path, &other.id, &other.key).signed())
            .await
            .0,
        StatusCode::OK
    );
    let (status, _, body) = call(
        &d,
        Request::get("/api/v1/health").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("\"status\":\"ok\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_is_stored_in_the_agent_record() {
    let redis = Redis::start();
    let d = Detector::start(Config::new(&redis.url)).await.unwrap();
    let agent = agents::add(&d.store, "db1").await.unwrap();
    let beat = Heartbeat {
        host: "db1.example".into(),
        agent_version: "0.1.0".into(),
        mode: Mode::Unreal,
        policy_version: 3,
        services: vec![ServiceInfo {
            name: "mysql".into(),
            port: 3306,
        }],
    };
    let path = "/api/v1/agents/heartbeat";
    let mut r = Req::get(path, &agent.id, &agent.key);
    r.method = "POST";
    r.body = serde_json::to_vec(&beat).unwrap();
    let (status, headers, body) = call(&d, r.signed()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    verify_response(path, &r.nonce, &agent.key, &headers, &body);
    let listed = agents::list(&d.store).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].heartbeat.as_ref(), Some(&beat));
    assert!(listed[0].last_heartbeat.is_some());
    // A signed body that is no heartbeat is a 400, still signed.
    let mut r = Req::get(path, &agent.id, &agent.key);
    r.method = "POST";
    r.body = b"[1,2".to_vec();
    let (status, headers, body) = call(&d, r.signed()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    verify_response(path, &r.nonce, &agent.key, &headers, &body);
}

/// Reads one SSE event's `data:` (JSON of a SignedMessage) from the body.
async fn next_message(body: &mut Body, pending: &mut String) -> SignedMessage {
    loop {
        if let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                return serde_json::from_str(data).unwrap();
            }
            continue;
        }
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            pending.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_pushes_a_new_version_within_a_second_of_the_detection() {
    let redis = Redis::start();
    let d = Detector::start(Config::new(&redis.url)).await.unwrap();
    let agent = agents::add(&d.store, "web1").await.unwrap();
    let path = "/api/v1/policy/stream";
    let r = Req::get(path, &agent.id, &agent.key);
    let response: Response<Body> = d.app().oneshot(r.signed()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    verify_response(path, &r.nonce, &agent.key, response.headers(), b"");
    let mut body = response.into_body();
    let mut pending = String::new();

    let verify = |m: &SignedMessage| {
        assert_eq!(m.nonce, r.nonce);
        Signed {
            first: signing::EVENT,
            path_and_query: path,
            timestamp: m.timestamp,
            nonce: &m.nonce,
            body: m.body.as_bytes(),
        }
        .verify(&agent.key, &m.signature, signing::now())
        .expect("event signature");
        serde_json::from_str::<Policy>(&m.body).unwrap()
    };
    let first = verify(&next_message(&mut body, &mut pending).await);
    assert!(first.attackers.is_empty());

    let mut s = tokio::net::TcpStream::connect(d.syslog_tcp.unwrap())
        .await
        .unwrap();
    let line = rfc5424("redis", r#"1795641800.1 [0 203.0.113.77:40001] "FLUSHALL""#);
    let sent = Instant::now();
    s.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    let pushed = verify(&next_message(&mut body, &mut pending).await);
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(1), "pushed after {took:?}");
    assert!(pushed.version > first.version);
    assert_eq!(pushed.attackers.len(), 1);
    assert_eq!(pushed.attackers[0].reason, "redis.dangerous_command");

    // A tampered message does not verify.
    let mut forged = next_or_copy(&pushed, &r.nonce, &agent.key);
    forged.body = forged.body.replace("203.0.113.77", "203.0.113.78");
    assert!(Signed {
        first: signing::EVENT,
        path_and_query: path,
        timestamp: forged.timestamp,
        nonce: &forged.nonce,
        body: forged.body.as_bytes()
    }
    .verify(&agent.key, &forged.signature, signing::now())
    .is_err());
}

fn next_or_copy(policy: &Policy, nonce: &str, key: &str) -> SignedMessage {
    let body = serde_json::to_string(policy).unwrap();
    let timestamp = signing::now();
    let signature = Signed {
        first: signing::EVENT,
        path_and_query: "/api/v1/policy/stream",
        timestamp,
        nonce,
        body: body.as_bytes(),
    }
    .sign(key);
    SignedMessage {
        timestamp,
        nonce: nonce.into(),
        signature,
        body,
    }
}
