//! mongo: conformance with tshark's MongoDB dissector (the fixture has no
//! Zeek log). tshark's JSON dissection (`-T json --no-duplicate-keys`) is
//! read message by message: each request gives opcode, request id,
//! database, collection (OP_QUERY's `fullCollectionName`) and command name
//! (the first element of the query / body document); the reply paired by
//! `responseTo` gives `ok` and `errmsg`. Ours are the `mongo.command`
//! events, compared in order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::support::{capture_of, cases, dissect, events_of, Score};

/// One request as tshark decoded it, with its reply's verdict.
#[derive(Debug, Default)]
struct PeerCommand {
    opcode: String,
    request_id: i64,
    database: Option<String>,
    /// Only OP_QUERY and the legacy ops name a collection in tshark.
    collection: Option<String>,
    command: Option<String>,
    ok: Option<bool>,
    error: Option<String>,
}

fn opcode_name(code: i64) -> String {
    match code {
        1 => "OP_REPLY",
        2001 => "OP_UPDATE",
        2002 => "OP_INSERT",
        2004 => "OP_QUERY",
        2005 => "OP_GET_MORE",
        2006 => "OP_DELETE",
        2007 => "OP_KILL_CURSORS",
        2010 => "OP_COMMAND",
        2011 => "OP_COMMANDREPLY",
        2012 => "OP_COMPRESSED",
        2013 => "OP_MSG",
        _ => "unknown",
    }
    .to_string()
}

/// `--no-duplicate-keys` turns repeated keys into arrays: a value or the
/// first of several.
fn one(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(items) => items.first(),
        other => Some(other),
    }
}

fn all(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(one).and_then(Value::as_str).map(str::to_string)
}

fn number(v: Option<&Value>) -> Option<i64> {
    let s = v.and_then(one)?.as_str()?;
    match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A tshark `mongo.document`-like node: its element names and their value
/// nodes, in order.
fn elements(doc: &Value) -> Vec<(String, &Value)> {
    let Some(elements) = doc.get("mongo.elements") else {
        return Vec::new();
    };
    let names = all(elements.get("mongo.element.name"));
    let trees = all(elements.get("mongo.element.name_tree"));
    names
        .into_iter()
        .zip(trees)
        .filter_map(|(n, t)| Some((n.as_str()?.to_string(), t)))
        .collect()
}

fn element_str(elements: &[(String, &Value)], name: &str) -> Option<String> {
    let (_, tree) = elements.iter().find(|(n, _)| n == name)?;
    text(tree.get("mongo.element.value.string"))
}

fn element_truth(elements: &[(String, &Value)], name: &str) -> Option<bool> {
    let (_, tree) = elements.iter().find(|(n, _)| n == name)?;
    [
        "mongo.element.value.double",
        "mongo.element.value.int",
        "mongo.element.value.int64",
        "mongo.element.value.bool",
    ]
    .iter()
    .find_map(|k| text(tree.get(*k)))
    .and_then(|v| v.parse::<f64>().ok())
    .map(|v| v != 0.0)
}

/// The command (or reply) document of one tshark PDU.
fn main_document(pdu: &Value) -> Option<&Value> {
    if let Some(query) = pdu.get("mongo.query") {
        return Some(query);
    }
    if let Some(doc) = pdu.get("mongo.document") {
        return one(doc);
    }
    all(pdu.get("mongo.msg.sections.section"))
        .into_iter()
        .find(|s| text(s.get("mongo.msg.sections.section.kind")).as_deref() == Some("0"))
        .and_then(|s| s.get("mongo.msg.sections.section.body"))
}

fn tshark(pcap: &Path, ports: &BTreeSet<u16>) -> Vec<Value> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap);
    for port in ports {
        cmd.arg("-d").arg(format!("tcp.port=={port},mongo"));
    }
    cmd.args([
        "-Y",
        "mongo",
        "-T",
        "json",
        "--no-duplicate-keys",
        "-J",
        "mongo",
    ]);
    let out = cmd
        .output()
        .expect("tshark is installed (apt-get install tshark)");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packets: Vec<Value> = serde_json::from_slice(&out.stdout).expect("tshark JSON");
    packets
        .iter()
        .flat_map(|p| {
            all(p.pointer("/_source/layers/mongo"))
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect()
}

fn peer_commands(pdus: &[Value]) -> Vec<PeerCommand> {
    let mut commands: Vec<PeerCommand> = Vec::new();
    for pdu in pdus {
        let opcode = number(pdu.get("mongo.opcode")).unwrap_or(-1);
        let request_id = number(pdu.get("mongo.request_id")).unwrap_or(-1);
        let response_to = number(pdu.get("mongo.response_to")).unwrap_or(-1);
        let elements = main_document(pdu).map(elements).unwrap_or_default();
        let is_reply = opcode == 1 || opcode == 2011 || (opcode == 2013 && response_to != 0);
        if is_reply {
            if let Some(request) = commands
                .iter_mut()
                .rev()
                .find(|c| c.request_id == response_to)
            {
                request.ok = element_truth(&elements, "ok");
                request.error = element_str(&elements, "errmsg");
            }
            continue;
        }
        let mut command = PeerCommand {
            opcode: opcode_name(opcode),
            request_id,
            command: elements.first().map(|(n, _)| n.clone()),
            ..PeerCommand::default()
        };
        if let Some(tree) = pdu.get("mongo.full_collection_name_tree") {
            command.database = text(tree.get("mongo.database_name"));
            command.collection = text(tree.get("mongo.collection_name"));
        } else {
            command.database = element_str(&elements, "$db");
        }
        commands.push(command);
    }
    commands
}

#[test]
fn mongo() {
    let mut score = Score::new("mongo");
    // The peer's cases, plus a real driver (PyMongo) recorded here on port
    // 3717 (see capture/src/protocols/mongo/testdata/README.md).
    let mut pcaps: Vec<PathBuf> = cases("mongo").iter().map(|c| capture_of(c)).collect();
    pcaps.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("capture/src/protocols/mongo/testdata/pymongo.pcap"),
    );
    for pcap in pcaps {
        let ours = events_of(&dissect(&pcap), "mongo.command");
        let mut ports: BTreeSet<u16> = ours
            .iter()
            .filter_map(|e| e["flow"]["dst_port"].as_u64())
            .map(|p| p as u16)
            .collect();
        ports.insert(27017);
        let theirs = peer_commands(&tshark(&pcap, &ports));
        let name = pcap.file_name().unwrap().to_string_lossy().to_string();
        score.check(&format!("{name}: commands"), ours.len(), theirs.len());
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            let at = format!("{name} #{i} ({:?})", t.command);
            let s = |v: &Value| v.as_str().map(str::to_string);
            let opcode = if o["compressed"] == Value::Bool(true) {
                "OP_COMPRESSED".to_string()
            } else {
                o["opcode"].as_str().unwrap_or_default().to_string()
            };
            score.check(&format!("{at} opcode"), opcode, t.opcode.clone());
            score.check(
                &format!("{at} request_id"),
                o["request_id"].as_i64(),
                Some(t.request_id),
            );
            score.check(
                &format!("{at} database"),
                s(&o["database"]),
                t.database.clone(),
            );
            if t.collection.is_some() {
                score.check(
                    &format!("{at} collection"),
                    s(&o["collection"]),
                    t.collection.clone(),
                );
            }
            score.check(
                &format!("{at} command"),
                s(&o["command"]),
                t.command.clone(),
            );
            score.check(&format!("{at} ok"), o["ok"].as_bool(), t.ok);
            score.check(&format!("{at} error"), s(&o["error"]), t.error.clone());
        }
    }
    score.print();
    assert!(score.total > 0, "no MongoDB facts compared");
    assert_eq!(score.matched, score.total, "see the differences above");
}
