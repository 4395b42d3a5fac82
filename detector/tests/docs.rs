//! The worked example in docs/policy-api.md, recomputed.

use model::signing::Signed;
use sha2::{Digest, Sha256};

const KEY: &str = "4f2c0d5e7a9b1c3d5e7f9a1b3c5d7e9f4f2c0d5e7a9b1c3d5e7f9a1b3c5d7e9f";
const NONCE: &str = "00112233445566778899aabbccddeeff";
const HEARTBEAT: &str = r#"{"host":"web1","agent_version":"0.1.0","mode":"unreal","policy_version":0,"services":[{"name":"ssh","port":22}]}"#;

#[test]
fn the_worked_example_is_what_the_code_computes() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/policy-api.md"
    ))
    .unwrap();
    let get = Signed {
        first: "GET",
        path_and_query: "/api/v1/policy",
        timestamp: 1_764_104_400,
        nonce: NONCE,
        body: b"",
    };
    let post = Signed {
        first: "POST",
        path_and_query: "/api/v1/agents/heartbeat",
        timestamp: 1_764_104_400,
        nonce: NONCE,
        body: HEARTBEAT.as_bytes(),
    };
    let answer = Signed {
        first: "RESPONSE",
        path_and_query: "/api/v1/agents/heartbeat",
        timestamp: 1_764_104_401,
        nonce: NONCE,
        body: br#"{"policy_version":0}"#,
    };
    let must_contain = [
        get.canonical(),
        get.sign(KEY),
        HEARTBEAT.to_owned(),
        hex::encode(Sha256::digest(HEARTBEAT.as_bytes())),
        post.sign(KEY),
        answer.sign(KEY),
    ];
    for text in must_contain {
        assert!(doc.contains(&text), "docs/policy-api.md lacks {text:?}");
    }
    // The heartbeat body is a real Heartbeat.
    let beat: model::policy::Heartbeat = serde_json::from_str(HEARTBEAT).unwrap();
    assert_eq!(serde_json::to_string(&beat).unwrap(), HEARTBEAT);
}
