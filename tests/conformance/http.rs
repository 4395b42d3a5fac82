//! http: conformance with Zeek's http.log, record by record within each
//! connection (keyed by the client's port), in `trans_depth` order.

use std::collections::BTreeMap;

use crate::support::{self, Score};

/// Facts where we deliberately differ from Zeek (see docs/events.md):
/// 8 requests without an HTTP version whose replies Zeek reads as HTTP/0.9
/// (status 0, whole reply as body) × 2 facts, and 2 gzip bodies Zeek
/// counts decompressed.
const KNOWN_DIFFERENCES: usize = 18;

/// Zeek's value as ours would be: `-` unset, `(empty)` the empty string.
fn zeek(v: Option<&String>) -> Option<String> {
    match v.map(String::as_str) {
        Some("(empty)") => Some(String::new()),
        _ => support::zeek_opt(v),
    }
}

fn ours(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[test]
fn http_matches_zeek() {
    let mut score = Score::new("http");
    for case in support::cases("http") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let events = support::dissect(&support::capture_of(&case));
        let mut mine: BTreeMap<u64, Vec<serde_json::Value>> = BTreeMap::new();
        for e in support::events_of(&events, "http.request") {
            let port = e["flow"]["src_port"].as_u64().unwrap_or(0);
            mine.entry(port).or_default().push(e);
        }
        let mut peer: BTreeMap<u64, Vec<support::ZeekRecord>> = BTreeMap::new();
        for r in support::zeek_log(&case.join("expected.http.log")) {
            let port = r.get("id.orig_p").and_then(|p| p.parse().ok()).unwrap_or(0);
            peer.entry(port).or_default().push(r);
        }
        let ports: std::collections::BTreeSet<u64> =
            mine.keys().chain(peer.keys()).copied().collect();
        for port in ports {
            let a = mine.get(&port).map(Vec::as_slice).unwrap_or_default();
            let b = peer.get(&port).map(Vec::as_slice).unwrap_or_default();
            score.check(&format!("{name} :{port} records"), a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                for (field, column) in [
                    ("trans_depth", "trans_depth"),
                    ("method", "method"),
                    ("host", "host"),
                    ("uri", "uri"),
                    ("status_code", "status_code"),
                    ("user_agent", "user_agent"),
                    ("username", "username"),
                    ("request_body_len", "request_body_len"),
                    ("response_body_len", "response_body_len"),
                ] {
                    let what = format!(
                        "{name} :{port} #{} {field}",
                        y.get("trans_depth").map_or("?", |s| s)
                    );
                    score.check(&what, ours(&x[field]), zeek(y.get(column)));
                }
            }
        }
    }
    score.print();
    assert_eq!(
        score.total - score.matched,
        KNOWN_DIFFERENCES,
        "{:#?}",
        score.misses
    );
}
