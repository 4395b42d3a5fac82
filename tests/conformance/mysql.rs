//! mysql: conformance with Zeek's mysql.log.
//!
//! Zeek writes one record per command and one for the login (cmd `login`,
//! arg the user). Ours are `mysql.login` and `mysql.command`; they map as
//! follows (docs/events.md, "Conformance"):
//! - a `mysql.login` is Zeek's `login` record with the user as `arg`; a
//!   re-authentication by `COM_CHANGE_USER` is Zeek's `change_user` command
//!   record, which we also emit, so its `mysql.login` is left out here;
//! - Zeek's `rows` is the affected rows of the OK that ended the response,
//!   0 for a result set or a login: ours is `affected_rows`, or 0 when the
//!   response succeeded without one (`rows` counts result-set rows, which
//!   Zeek does not log);
//! - Zeek's `response` is the ERR message: ours is `error`.

use serde_json::Value;

use crate::support::{self, Score};

/// (cmd, arg, success, rows, response)
type Record = (String, String, Option<bool>, Option<u64>, Option<String>);

fn ours(events: &[model::Event]) -> Vec<Record> {
    let mut records = Vec::new();
    for event in events {
        let v = serde_json::to_value(event).unwrap();
        let success = v["success"].as_bool();
        let error = v["error"].as_str().map(String::from);
        let ok_rows = if success == Some(true) { Some(0) } else { None };
        match event.type_name() {
            "mysql.login" if v["change_user"] != Value::Bool(true) => {
                let user = v["user"].as_str().unwrap_or_default().to_string();
                records.push(("login".to_string(), user, success, ok_rows, error));
            }
            "mysql.command" => {
                let rows = v["affected_rows"].as_u64().or(ok_rows);
                let command = v["command"].as_str().unwrap_or_default().to_string();
                let arg = v["arg"].as_str().unwrap_or_default().to_string();
                records.push((command, arg, success, rows, error));
            }
            _ => {}
        }
    }
    records
}

fn theirs(case: &std::path::Path) -> Vec<Record> {
    support::zeek_log(&case.join("expected.mysql.log"))
        .iter()
        .map(|r| {
            let arg = match r.get("arg").map(String::as_str) {
                Some("(empty)") => String::new(),
                _ => support::zeek_opt(r.get("arg")).unwrap_or_default(),
            };
            let success = support::zeek_opt(r.get("success")).map(|s| s == "T");
            let rows = support::zeek_opt(r.get("rows")).and_then(|s| s.parse().ok());
            (
                r["cmd"].clone(),
                arg,
                success,
                rows,
                support::zeek_opt(r.get("response")),
            )
        })
        .collect()
}

#[test]
fn mysql_matches_zeek() {
    let mut score = Score::new("mysql");
    for case in support::cases("mysql") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let events = support::dissect(&support::capture_of(&case));
        let ours = ours(&events);
        let theirs = theirs(&case);
        score.check(&format!("{name}: records"), ours.len(), theirs.len());
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            let at = format!("{name} #{i} {}", t.0);
            score.check(&format!("{at} cmd"), &o.0, &t.0);
            score.check(&format!("{at} arg"), &o.1, &t.1);
            score.check(&format!("{at} success"), o.2, t.2);
            score.check(&format!("{at} rows"), o.3, t.3);
            score.check(&format!("{at} response"), &o.4, &t.4);
        }
    }
    score.print();
    assert_eq!(score.matched, score.total, "{:#?}", score.misses);
}
