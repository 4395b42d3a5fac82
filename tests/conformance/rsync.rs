//! rsync: conformance with tshark's rsync dissector on our own captures of
//! Debian's rsync daemon and client (no public capture or Zeek log exists).
//!
//! tshark's output is committed next to each capture
//! (`capture/src/protocols/rsync/testdata/NAME.tshark.txt`, made with
//! `tshark -r NAME.pcap -d tcp.port==8730,rsync -Y rsync -T fields -e
//! tcp.dstport -e rsync.hdr_version -e rsync.query -e rsync.command -E
//! separator='|'`), so the test needs no tshark. tshark labels every line
//! after the greetings `rsync.command`; the facts below are rebuilt from
//! those lines in packet order.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{self, Score};

const CAPTURES: &[&str] = &[
    "list",
    "pull",
    "push",
    "auth-ok",
    "auth-failed",
    "protocol29",
];
const DAEMON_PORT: &str = "8730";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("capture/src/protocols/rsync/testdata")
}

/// What tshark's dissection says about one connection.
#[derive(Default, Debug)]
struct Peer {
    client_version: Option<String>,
    client_digests: Vec<String>,
    server_version: Option<String>,
    server_digests: Vec<String>,
    motd: Vec<String>,
    module: Option<String>,
    list: bool,
    modules: Vec<String>,
    user: Option<String>,
    success: Option<bool>,
    error: Option<String>,
    /// Newline-separated arguments (protocol < 30). From protocol 30 on they
    /// are NUL-separated and tshark shows only the text before the first NUL.
    args: Vec<String>,
}

/// tshark's field escaping: `\n`, `\t`, `\\`.
fn unescape_tshark(s: &str) -> String {
    s.replace("\\n", "\n")
        .replace("\\t", "\t")
        .replace("\\\\", "\\")
}

/// `32.0 sha512 sha256`: the version and the digests.
fn version_and_digests(s: &str) -> (Option<String>, Vec<String>) {
    let mut words = s.split_whitespace();
    (
        words.next().map(String::from),
        words.map(String::from).collect(),
    )
}

fn peer(text: &str) -> Peer {
    let mut p = Peer::default();
    let (mut awaiting_auth, mut binary, mut args_done) = (false, false, false);
    for row in text.lines() {
        let cols: Vec<&str> = row.splitn(4, '|').collect();
        let [dport, hdr_version, query, command] = cols[..] else {
            continue;
        };
        let to_server = dport == DAEMON_PORT;
        if !hdr_version.is_empty() {
            (p.client_version, p.client_digests) =
                version_and_digests(&unescape_tshark(hdr_version));
            continue;
        }
        if !query.is_empty() {
            let line = unescape_tshark(query);
            (p.server_version, p.server_digests) =
                version_and_digests(line.trim_start_matches("@RSYNCD:"));
            continue;
        }
        let command = unescape_tshark(command);
        if binary {
            let protocol = |v: &Option<String>| {
                v.as_deref()
                    .and_then(|v| v.split('.').next()?.parse::<u32>().ok())
            };
            let newline_args = protocol(&p.client_version)
                .min(protocol(&p.server_version))
                .is_some_and(|v| v < 30);
            if to_server && newline_args && !args_done {
                match command.strip_suffix('\n') {
                    Some("") => args_done = true,
                    Some(arg) => p.args.push(arg.to_string()),
                    None => {}
                }
            }
            continue;
        }
        if to_server {
            let line = command.trim_end_matches('\n').to_string();
            if p.module.is_none() {
                p.list = line.is_empty() || line == "#list";
                p.module = Some(if p.list { String::new() } else { line });
            } else if awaiting_auth {
                p.user = line.split(' ').next().map(String::from);
                awaiting_auth = false;
            }
            continue;
        }
        for line in command.split_terminator('\n') {
            if line == "@RSYNCD: OK" {
                p.success = Some(true);
                binary = true;
            } else if line.starts_with("@RSYNCD: AUTHREQD") {
                awaiting_auth = true;
            } else if line == "@RSYNCD: EXIT" {
                p.success = Some(true);
            } else if let Some(message) = line.strip_prefix("@ERROR") {
                p.success = Some(false);
                p.error = Some(message.trim_start_matches(':').trim_start().to_string());
            } else if p.list && line.contains('\t') {
                p.modules
                    .push(line.split('\t').next().unwrap_or("").trim_end().to_string());
            } else if !line.is_empty() {
                p.motd.push(line.to_string());
            }
        }
    }
    p
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn opt(v: &Value) -> Option<String> {
    v.as_str().map(String::from)
}

#[test]
fn rsync_matches_tshark() {
    let mut score = Score::new("rsync");
    for name in CAPTURES {
        let dir = testdata();
        let events = support::dissect(&dir.join(format!("{name}.pcap")));
        let tshark = std::fs::read(dir.join(format!("{name}.tshark.txt"))).unwrap();
        let p = peer(&String::from_utf8_lossy(&tshark));
        let handshakes = support::events_of(&events, "rsync.handshake");
        let modules = support::events_of(&events, "rsync.module");
        score.check(&format!("{name}: handshake records"), handshakes.len(), 1);
        score.check(&format!("{name}: module records"), modules.len(), 1);
        let (Some(h), Some(m)) = (handshakes.first(), modules.first()) else {
            continue;
        };
        score.check(
            &format!("{name}: client_version"),
            opt(&h["client_version"]),
            p.client_version.clone(),
        );
        score.check(
            &format!("{name}: client_digests"),
            strings(&h["client_digests"]),
            p.client_digests.clone(),
        );
        score.check(
            &format!("{name}: server_version"),
            opt(&h["server_version"]),
            p.server_version.clone(),
        );
        score.check(
            &format!("{name}: server_digests"),
            strings(&h["server_digests"]),
            p.server_digests.clone(),
        );
        score.check(
            &format!("{name}: motd"),
            strings(&h["motd"]),
            p.motd.clone(),
        );
        score.check(
            &format!("{name}: module"),
            opt(&m["module"]),
            p.module.clone(),
        );
        score.check(&format!("{name}: list"), m["action"] == "list", p.list);
        score.check(
            &format!("{name}: modules"),
            strings(&m["modules"]),
            p.modules.clone(),
        );
        score.check(&format!("{name}: user"), opt(&m["user"]), p.user.clone());
        score.check(
            &format!("{name}: success"),
            m["success"].as_bool(),
            p.success,
        );
        score.check(&format!("{name}: error"), opt(&m["error"]), p.error.clone());
        if !p.args.is_empty() {
            score.check(
                &format!("{name}: args"),
                strings(&m["args"]),
                p.args.clone(),
            );
            let pull = p.args.iter().any(|a| a == "--sender");
            score.check(
                &format!("{name}: action"),
                opt(&m["action"]),
                Some(if pull { "pull" } else { "push" }.into()),
            );
        }
        let anomalies = support::events_of(&events, "anomaly");
        let ours = anomalies
            .iter()
            .filter(|a| a["protocol"] == "rsync")
            .count();
        score.check(&format!("{name}: rsync anomalies"), ours, 0);
    }
    score.print();
    assert_eq!(
        score.matched, score.total,
        "see the differences printed above"
    );
}
