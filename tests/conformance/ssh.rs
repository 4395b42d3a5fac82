//! ssh: conformance with Zeek's ssh.log, one record per connection.

use serde_json::Value;

use crate::support::{self, Score};

/// Our JSON field as Zeek would print it (null = unset).
fn field(ev: &Value, name: &str) -> Option<String> {
    match ev.get(name)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Zeek prints one value when both directions agree, and both otherwise.
fn bidirectional(ev: &Value, name: &str) -> Option<String> {
    let to_server = field(ev, name);
    let to_client = field(ev, &format!("{name}_to_client"));
    match (&to_server, &to_client) {
        (Some(s), Some(c)) if s != c => Some(format!("To server: {s}, to client: {c}")),
        _ => to_server,
    }
}

fn connection(ev: &Value) -> (String, String, String, String) {
    let flow = &ev["flow"];
    let s = |k: &str| flow[k].to_string().trim_matches('"').to_string();
    (s("src_ip"), s("src_port"), s("dst_ip"), s("dst_port"))
}

#[test]
fn ssh_matches_zeek() {
    let mut score = Score::new("ssh");
    for case in support::cases("ssh") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let events = support::dissect(&support::capture_of(&case));
        let ours = support::events_of(&events, "ssh.handshake");
        let auths = support::events_of(&events, "ssh.auth");
        let theirs = support::zeek_log(&case.join("expected.ssh.log"));
        score.check(&format!("{name}: records"), ours.len(), theirs.len());
        // Connections whose handshake never finished (half-duplex, SSH 1
        // cut short) are logged when they close, by us as by Zeek, but each
        // record carries the time of its first identification line: in that
        // order the records are Zeek's.
        let mut ours_by_time: Vec<_> = ours
            .iter()
            .map(|e| (e["ts"].to_string(), connection(e)))
            .collect();
        ours_by_time.sort();
        let our_order: Vec<_> = ours_by_time.into_iter().map(|(_, c)| c).collect();
        let their_order: Vec<_> = theirs
            .iter()
            .map(|z| {
                (
                    z["id.orig_h"].clone(),
                    z["id.orig_p"].clone(),
                    z["id.resp_h"].clone(),
                    z["id.resp_p"].clone(),
                )
            })
            .collect();
        score.check(&format!("{name}: order of records"), our_order, their_order);
        let anomalies = support::events_of(&events, "anomaly");
        let ssh_anomalies = anomalies.iter().filter(|a| a["protocol"] == "ssh").count();
        score.check(&format!("{name}: ssh anomalies"), ssh_anomalies, 0);
        for (i, z) in theirs.iter().enumerate() {
            let key = (
                z["id.orig_h"].clone(),
                z["id.orig_p"].clone(),
                z["id.resp_h"].clone(),
                z["id.resp_p"].clone(),
            );
            let at = format!("{name} #{i} {}:{}", key.0, key.1);
            // Zeek logs a connection when it ends; we log it when its
            // handshake is over: pair records by connection, not by line.
            let Some(ev) = ours.iter().find(|e| connection(e) == key) else {
                score.check(&format!("{at}: record"), false, true);
                continue;
            };
            score.check(
                &format!("{at}: version"),
                field(ev, "version"),
                support::zeek_opt(z.get("version")),
            );
            score.check(
                &format!("{at}: client"),
                field(ev, "client_version"),
                support::zeek_opt(z.get("client")),
            );
            score.check(
                &format!("{at}: server"),
                field(ev, "server_version"),
                support::zeek_opt(z.get("server")),
            );
            for (ours_name, zeek_name) in [
                ("cipher_alg", "cipher_alg"),
                ("mac_alg", "mac_alg"),
                ("compression_alg", "compression_alg"),
            ] {
                score.check(
                    &format!("{at}: {zeek_name}"),
                    bidirectional(ev, ours_name),
                    support::zeek_opt(z.get(zeek_name)),
                );
            }
            // The peer's baselines keep the first 32 characters of the
            // fingerprint: compare that much.
            let theirs_fp = support::zeek_opt(z.get("host_key_fingerprint"));
            let ours_fp = field(ev, "host_key_fingerprint");
            let ours_fp = match &theirs_fp {
                Some(t) => ours_fp.map(|o| o.chars().take(t.chars().count()).collect::<String>()),
                None => ours_fp,
            };
            score.check(&format!("{at}: host_key_fingerprint"), ours_fp, theirs_fp);
            // Authentication is guessed from encrypted segment sizes, as
            // Zeek does; no `ssh.auth` event means nothing was counted.
            let auth = auths.iter().find(|e| connection(e) == key);
            let attempts = auth
                .and_then(|a| a["attempts"].as_u64())
                .unwrap_or(0)
                .to_string();
            let success = auth
                .and_then(|a| a["success"].as_bool())
                .map(|b| if b { "T" } else { "F" }.to_string());
            score.check(
                &format!("{at}: auth_attempts"),
                Some(attempts),
                support::zeek_opt(z.get("auth_attempts")),
            );
            score.check(
                &format!("{at}: auth_success"),
                success,
                support::zeek_opt(z.get("auth_success")),
            );
            for name in ["kex_alg", "host_key_alg"] {
                score.check(
                    &format!("{at}: {name}"),
                    field(ev, name),
                    support::zeek_opt(z.get(name)),
                );
            }
        }
    }
    score.print();
    assert_eq!(
        score.matched, score.total,
        "see the differences printed above"
    );
}
