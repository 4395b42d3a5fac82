//! redis: conformance with Zeek's Redis analyzer.
//!
//! Where a case has `expected.redis.log`, each connection's `redis.command`
//! events are compared in order with Zeek's records: command name, key,
//! value, success and reply. Zeek's `cmd.value` is a projection of the
//! arguments (the second one, for the commands Zeek knows a value for), so
//! it is computed from our `args` the same way. Where a case only has
//! `expected.output`, the events its script printed are compared:
//! `Redis::set_command` (key and value) and `Redis::server_push` (the
//! pushed elements).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{self, zeek_opt, Score};

/// Differences that remain, each explained under `<!-- conformance -->` in
/// docs/events.md: we name the key of `XADD` (3) and `XRANGE` (1), which
/// Zeek's table of commands leaves out.
const EXPECTED_MISSES: usize = 4;

/// Commands whose second argument Zeek logs as `cmd.value`.
const ZEEK_VALUE_COMMANDS: &[&str] = &[
    "SET", "APPEND", "DECRBY", "EXPIRE", "EXPIREAT", "GETBIT", "GETSET", "HDEL", "HGET", "INCRBY",
    "MOVE", "MSET", "RENAME",
];

fn str_of(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(String::from)
}

fn args_of(v: &Value) -> Vec<String> {
    v.get("args")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Connection key: client address and port.
fn conn_of(v: &Value) -> (String, u64) {
    let flow = &v["flow"];
    (
        flow["src_ip"].as_str().unwrap_or_default().to_string(),
        flow["src_port"].as_u64().unwrap_or_default(),
    )
}

fn compare_log(case: &Path, log: &Path, events: &[model::Event], score: &mut Score) {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let mut ours: BTreeMap<(String, u64), Vec<Value>> = BTreeMap::new();
    for e in support::events_of(events, "redis.command") {
        ours.entry(conn_of(&e)).or_default().push(e);
    }
    let mut theirs: BTreeMap<(String, u64), Vec<support::ZeekRecord>> = BTreeMap::new();
    for r in support::zeek_log(log) {
        let port = r["id.orig_p"].parse().unwrap_or_default();
        theirs
            .entry((r["id.orig_h"].clone(), port))
            .or_default()
            .push(r);
    }
    for (conn, records) in &theirs {
        let mine = ours.remove(conn).unwrap_or_default();
        score.check(
            &format!("{name} {conn:?} record count"),
            mine.len(),
            records.len(),
        );
        for (i, (r, e)) in records.iter().zip(&mine).enumerate() {
            let what = |f: &str| format!("{name} {conn:?} #{i} {f}");
            let cmd = str_of(e, "name").unwrap_or_default();
            let args = args_of(e);
            let value = ZEEK_VALUE_COMMANDS
                .contains(&cmd.as_str())
                .then(|| args.get(1).cloned())
                .flatten();
            score.check(
                &what("cmd.name"),
                Some(cmd.clone()),
                zeek_opt(r.get("cmd.name")),
            );
            score.check(
                &what("cmd.key"),
                str_of(e, "key"),
                zeek_opt(r.get("cmd.key")),
            );
            score.check(&what("cmd.value"), value, zeek_opt(r.get("cmd.value")));
            let success = e.get("success").and_then(Value::as_bool);
            let peer_success = zeek_opt(r.get("success")).map(|s| s == "T");
            score.check(&what("success"), success, peer_success);
            score.check(
                &what("reply.value"),
                str_of(e, "reply"),
                zeek_opt(r.get("reply.value")),
            );
        }
    }
    for (conn, extra) in ours {
        score.check(&format!("{name} {conn:?} record count"), extra.len(), 0);
    }
}

/// Lines the peer's script printed, against ours rendered the same way.
fn compare_output(case: &Path, output: &Path, events: &[model::Event], score: &mut Score) {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(output).unwrap();
    let theirs: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let mut mine = Vec::new();
    for e in support::events_of(events, "redis.command") {
        let args = args_of(&e);
        if str_of(&e, "name").as_deref() == Some("SET") && args.len() >= 2 {
            mine.push(format!("Key: {} Value: {}", args[0], args[1]));
        }
    }
    for e in support::events_of(events, "redis.push") {
        let items = args_of_items(&e);
        mine.push(format!("Got published data!, [{}]", items.join(", ")));
    }
    // Only lines of the kinds the peer printed are comparable.
    let printed_sets = theirs.iter().any(|l| l.starts_with("Key: "));
    let printed_pushes = theirs.iter().any(|l| l.starts_with("Got published data!"));
    mine.retain(|l| {
        (printed_sets && l.starts_with("Key: ")) || (printed_pushes && l.starts_with("Got "))
    });
    score.check(
        &format!("{name} output line count"),
        mine.len(),
        theirs.len(),
    );
    for (i, (a, b)) in mine.iter().zip(&theirs).enumerate() {
        score.check(&format!("{name} output #{i}"), a.as_str(), *b);
    }
}

fn args_of_items(v: &Value) -> Vec<String> {
    v.get("items")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn redis_matches_zeek() {
    let mut score = Score::new("redis");
    for case in support::cases("redis") {
        let events = support::dissect(&support::capture_of(&case));
        let log = case.join("expected.redis.log");
        let output = case.join("expected.output");
        if log.is_file() {
            compare_log(&case, &log, &events, &mut score);
        }
        if output.is_file() {
            compare_output(&case, &output, &events, &mut score);
        }
    }
    score.print();
    assert!(score.total > 0);
    assert_eq!(
        score.total - score.matched,
        EXPECTED_MISSES,
        "{:#?}",
        score.misses
    );
}
