//! The agent's policy client against a stand-in detector that signs with
//! `model::signing` (see tests/common/detector.rs): verified answers are
//! taken, forged, stale, unsigned and replayed ones refused.

mod common;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use agent::client::{PolicyClient, StreamItem};
use agent::follow::{follow, FollowConfig};
use common::detector::{message, Answer, StandInDetector};
use model::policy::{Heartbeat, Mode, Policy, ServiceInfo, Whitelist};
use model::signing;

fn policy(version: u64) -> Policy {
    Policy {
        version,
        mode: Mode::Unreal,
        whitelist: Whitelist {
            addresses: vec![],
            ports: vec![22],
        },
        attackers: vec![],
        default_sandbox: None,
    }
}

fn setup() -> (StandInDetector, PolicyClient, String) {
    let key = signing::new_key();
    let detector = StandInDetector::serve(TcpListener::bind("127.0.0.1:0").unwrap(), &key);
    let client = PolicyClient::new(
        &detector.url(),
        "agent-1",
        &key,
        Duration::from_secs(3),
        Duration::from_secs(5),
    )
    .unwrap();
    (detector, client, key)
}

#[test]
fn fetch_takes_signed_answers_and_refuses_the_rest() {
    let (detector, client, _) = setup();
    detector.publish(policy(3));
    assert_eq!(client.fetch_policy().unwrap(), policy(3));
    assert!(
        detector.seen().iter().all(|s| s.signature_ok),
        "the request must be signed"
    );

    for bad in [
        Answer::Unsigned,
        Answer::WrongKey,
        Answer::Stale,
        Answer::OtherNonce,
    ] {
        detector.set_answer(bad);
        let err = client
            .fetch_policy()
            .expect_err(&format!("{bad:?} must be refused"));
        assert!(err.to_string().contains("refused"), "{bad:?}: {err}");
    }
    detector.set_answer(Answer::Good);
    assert_eq!(client.fetch_policy().unwrap().version, 3);

    // An agent with the wrong key gets 401 and believes nothing.
    let intruder = PolicyClient::new(
        &detector.url(),
        "agent-1",
        &signing::new_key(),
        Duration::from_secs(3),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(intruder
        .fetch_policy()
        .unwrap_err()
        .to_string()
        .contains("401"));
}

#[test]
fn heartbeat_is_signed_and_carries_the_inventory() {
    let (detector, client, _) = setup();
    let hb = Heartbeat {
        host: "web-1".into(),
        agent_version: "0.1.0".into(),
        mode: Mode::Back,
        policy_version: 9,
        services: vec![ServiceInfo {
            name: "ftp".into(),
            port: 21,
        }],
    };
    client.heartbeat(&hb).unwrap();
    let seen = detector.seen();
    let last = seen.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.signature_ok),
        ("POST", "/api/v1/agents/heartbeat", true)
    );
    assert_eq!(serde_json::from_slice::<Heartbeat>(&last.body).unwrap(), hb);
    detector.set_answer(Answer::Unsigned);
    assert!(client.heartbeat(&hb).is_err());
}

#[test]
fn stream_yields_verified_pushes_and_refuses_forged_stale_and_foreign_ones() {
    let (detector, client, key) = setup();
    detector.publish(policy(1));
    let mut stream = client.open_stream().unwrap();
    let next_policy = |s: &mut agent::client::PolicyStream| match s.next_item().unwrap() {
        Some(StreamItem::Policy(p)) => p.version,
        other => panic!("expected a policy, got {other:?}"),
    };
    let next_refused = |s: &mut agent::client::PolicyStream| match s.next_item().unwrap() {
        Some(StreamItem::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(next_policy(&mut stream), 1);
    let body = serde_json::to_string(&policy(50)).unwrap();
    // Forged (other key), stale, another stream's nonce, garbage.
    detector.push_raw(|_, nonce| message(&signing::new_key(), nonce, &body, signing::now()));
    detector.push_raw(|k, nonce| message(k, nonce, &body, signing::now() - 120));
    detector.push_raw(|k, _| message(k, &signing::new_nonce(), &body, signing::now()));
    detector.push_raw(|_, _| "{not json".into());
    assert!(next_refused(&mut stream).contains("signature"));
    assert!(next_refused(&mut stream).contains("s away"));
    assert!(next_refused(&mut stream).contains("another stream"));
    assert!(next_refused(&mut stream).contains("SignedMessage"));
    detector.publish(policy(2));
    assert_eq!(next_policy(&mut stream), 2);
    let _ = key;
}

/// Receives until version `v` arrives (the same policy may come twice: by
/// the stream and by the catch-up GET).
fn recv_version(rx: &mpsc::Receiver<Policy>, v: u64) {
    loop {
        let got = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a policy")
            .version;
        assert!(got <= v, "version {got} before {v}");
        if got == v {
            return;
        }
    }
}

#[test]
fn follower_reconnects_after_the_stream_breaks() {
    let (detector, client, _) = setup();
    detector.publish(policy(1));
    let (tx, rx) = mpsc::channel();
    let config = FollowConfig {
        poll_interval: Duration::from_secs(60),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(400),
    };
    std::thread::spawn(move || follow(client, config, tx));
    recv_version(&rx, 1);
    // Pushed at once over the open stream.
    while detector.open_streams() == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    detector.publish(policy(2));
    recv_version(&rx, 2);
    // Detector restart: the stream is cut, the follower comes back.
    detector.drop_streams();
    detector.publish(policy(3));
    recv_version(&rx, 3);
    while detector.open_streams() == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    detector.publish(policy(4));
    recv_version(&rx, 4);
    // One catch-up GET per stream opened, plus fallback polls while the
    // stream was down (poll interval 60 s: one at most).
    let seen = detector.seen();
    let polls = seen.iter().filter(|s| s.path == "/api/v1/policy").count();
    let streams = seen
        .iter()
        .filter(|s| s.path == "/api/v1/policy/stream")
        .count();
    assert!(
        polls <= streams + 1,
        "polling is only a fallback ({polls} polls, {streams} streams)"
    );
    // No polling while the stream is up.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        detector
            .seen()
            .iter()
            .filter(|s| s.path == "/api/v1/policy")
            .count(),
        polls
    );
}
