//! Index documents for events, flows and sessions.

use std::net::IpAddr;

use model::event::FlowEnd;
use model::{Event, FlowRef, Timestamp, Transport};
use serde_json::{json, Value};
use tantivy::{DateTime, TantivyDocument};

use super::schema::{Fields, KIND_EVENT, KIND_FLOW, KIND_SESSION};
use super::session::{command_line, Summary};

/// Full text kept per document.
const MAX_TEXT_BYTES: usize = 64 << 10;

fn date(ts: Timestamp) -> DateTime {
    DateTime::from_timestamp_micros(ts.0)
}

fn ip6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn add_flow_ref(f: &Fields, doc: &mut TantivyDocument, flow: &FlowRef) {
    doc.add_ip_addr(f.src_ip, ip6(flow.src_ip));
    doc.add_ip_addr(f.dst_ip, ip6(flow.dst_ip));
    doc.add_u64(f.src_port, u64::from(flow.src_port));
    doc.add_u64(f.dst_port, u64::from(flow.dst_port));
    doc.add_text(f.flow_id, &flow.id);
    doc.add_text(
        f.transport,
        match flow.transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        },
    );
}

/// Every string in a JSON value, for the full-text field.
fn collect_text(v: &Value, out: &mut String) {
    if out.len() >= MAX_TEXT_BYTES {
        return;
    }
    match v {
        Value::String(s) => {
            let room = MAX_TEXT_BYTES - out.len();
            let mut end = s.len().min(room);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            out.push_str(&s[..end]);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_text(x, out)),
        _ => {}
    }
}

/// Keys whose values have fields of their own, left out of the full
/// text: times, addresses and Community IDs, document ids, hashes. Their
/// tokens are mostly unique (`2026`, `11`, `25T10`, base64 pieces), so they
/// made up most of the text field's terms and positions while nobody
/// searches them as words.
const NOT_TEXT: &[&str] = &[
    "ts",
    "end",
    "first_seen",
    "last_seen",
    "type",
    "kind",
    "flow",
    "session_id",
    "src_ip",
    "dst_ips",
    "dst_ports",
    "sha256",
    "infile_sha256",
    "request_body_sha256",
    "response_body_sha256",
];

/// The full text of a document: every string of its JSON except the
/// top-level keys of [`NOT_TEXT`].
fn full_text(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(o) => o
            .iter()
            .filter(|(k, _)| !NOT_TEXT.contains(&k.as_str()))
            .for_each(|(_, x)| collect_text(x, &mut out)),
        _ => collect_text(v, &mut out),
    }
    out
}

/// An event's JSON, for its session's summary and then its document.
pub fn event_json(e: &Event) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// An event on its way to the writer thread, which builds its document
/// (so the pipeline's thread only dissects and groups).
pub struct PendingEvent {
    pub source: std::sync::Arc<str>,
    pub event: Event,
    pub json: Value,
    pub session_id: String,
    pub flow_key: String,
    /// Set for sandbox traffic (see `ops::live`).
    pub tag: Option<std::sync::Arc<crate::ops::live::Tag>>,
}

impl PendingEvent {
    pub fn into_doc(mut self, f: &Fields) -> TantivyDocument {
        if let (Some(t), Value::Object(o)) = (&self.tag, &mut self.json) {
            o.insert("sandbox".into(), json!(t.sandbox));
            if let Some(a) = t.attacker {
                o.insert("attacker".into(), json!(a));
            }
        }
        let mut doc = event(
            f,
            &self.source,
            &self.event,
            &self.session_id,
            &self.flow_key,
            self.json,
        );
        if let Some(t) = &self.tag {
            add_tag(f, &mut doc, t);
        }
        doc
    }
}

/// The sandbox fields of a document of sandbox traffic.
pub fn add_tag(f: &Fields, doc: &mut TantivyDocument, tag: &crate::ops::live::Tag) {
    doc.add_text(f.sandbox, &tag.sandbox);
    if let Some(a) = tag.attacker {
        doc.add_ip_addr(f.attacker, ip6(a));
    }
}

/// An event (not `flow.end`) with the session and flow it belongs to, and
/// its JSON ([`event_json`]).
pub fn event(
    f: &Fields,
    source: &str,
    e: &Event,
    session_id: &str,
    flow_key: &str,
    mut v: Value,
) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.kind, KIND_EVENT);
    doc.add_text(f.source, source);
    doc.add_date(f.ts, date(e.ts));
    let ty = e.type_name();
    doc.add_text(f.r#type, ty);
    if let Some((proto, _)) = ty.split_once('.') {
        doc.add_text(f.protocol, proto);
    } else if let Some(p) = v.get("protocol").and_then(Value::as_str) {
        doc.add_text(f.protocol, p);
    }
    add_flow_ref(f, &mut doc, &e.flow);
    doc.add_text(f.session_id, session_id);
    doc.add_text(f.flow_key, flow_key);
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    for (field, keys) in [
        (f.user, &["user", "username"][..]),
        (f.password, &["password"]),
        (f.uri, &["uri"]),
        (f.host, &["host"]),
        (f.method, &["method"]),
        (f.path, &["path"]),
        (f.database, &["database"]),
        (
            f.sha256,
            &[
                "sha256",
                "infile_sha256",
                "request_body_sha256",
                "response_body_sha256",
            ],
        ),
    ] {
        for k in keys {
            if let Some(x) = s(k) {
                doc.add_text(field, x);
            }
        }
    }
    let command = match ty {
        "redis.command" => s("name"),
        _ => s("command"),
    };
    if let Some(c) = command {
        doc.add_text(f.command, c);
    }
    if ty == "mysql.command" && matches!(command, Some("query" | "stmt_prepare")) {
        if let Some(q) = s("arg") {
            doc.add_text(f.query, q);
        }
    }
    if let Some(q) = s("statement") {
        doc.add_text(f.query, q);
    }
    if let Some(line) = command_line(ty, &v) {
        doc.add_text(f.arg, line);
    } else if let Some(a) = s("arg") {
        doc.add_text(f.arg, a);
    }
    if let Some(ok) = v.get("success").and_then(Value::as_bool) {
        doc.add_bool(f.success, ok);
    }
    let text = full_text(&v);
    if !text.is_empty() {
        doc.add_text(f.text, &text);
    }
    // No `kind` key here: anomalies have a `kind` of their own.
    if let Value::Object(o) = &mut v {
        o.insert("session_id".into(), json!(session_id));
    }
    doc.add_text(f.json, v.to_string());
    doc
}

/// A flow, from its `flow.end`, with where its packets are.
#[allow(clippy::too_many_arguments)]
pub fn flow(
    f: &Fields,
    source: &str,
    flow: &FlowRef,
    end: &FlowEnd,
    end_ts: Timestamp,
    session_id: &str,
    flow_key: &str,
    events: u64,
    packets_stored: u64,
    locations: &[u8],
) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.kind, KIND_FLOW);
    doc.add_text(f.source, source);
    doc.add_date(f.ts, date(end.start));
    doc.add_date(f.end, date(end_ts));
    add_flow_ref(f, &mut doc, flow);
    doc.add_text(f.session_id, session_id);
    doc.add_text(f.flow_key, flow_key);
    if let Some(p) = &end.protocol {
        doc.add_text(f.protocol, p);
    }
    let reason = serde_json::to_value(end.reason).ok();
    if let Some(r) = reason.as_ref().and_then(Value::as_str) {
        doc.add_text(f.reason, r);
    }
    doc.add_text(f.r#type, "flow");
    doc.add_u64(f.packets, packets_stored);
    doc.add_u64(f.bytes, end.bytes_to_server + end.bytes_to_client);
    doc.add_u64(f.events, events);
    let mut v = json!({
        "kind": KIND_FLOW,
        "ts": end.start,
        "end": end_ts,
        "session_id": session_id,
        "flow": flow,
        "events": events,
        "packets_stored": packets_stored,
    });
    if let (Value::Object(o), Ok(Value::Object(e))) = (&mut v, serde_json::to_value(end)) {
        for (k, x) in e {
            if k != "start" {
                o.insert(k, x);
            }
        }
    }
    let text = full_text(&v);
    if !text.is_empty() {
        doc.add_text(f.text, &text);
    }
    doc.add_text(f.json, v.to_string());
    doc.add_bytes(f.locations, locations);
    doc
}

pub fn session(f: &Fields, source: &str, s: &Summary) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.kind, KIND_SESSION);
    doc.add_text(f.source, source);
    doc.add_date(f.ts, date(s.first_seen));
    doc.add_date(f.end, date(s.last_seen));
    doc.add_text(f.r#type, "session");
    doc.add_text(f.session_id, &s.session_id);
    doc.add_ip_addr(f.src_ip, ip6(s.src_ip));
    s.dst_ips
        .iter()
        .for_each(|ip| doc.add_ip_addr(f.dst_ip, ip6(*ip)));
    s.dst_ports
        .iter()
        .for_each(|p| doc.add_u64(f.dst_port, u64::from(*p)));
    s.protocols.iter().for_each(|p| doc.add_text(f.protocol, p));
    s.users.iter().for_each(|u| doc.add_text(f.user, u));
    s.passwords.iter().for_each(|p| doc.add_text(f.password, p));
    s.commands.iter().for_each(|c| doc.add_text(f.command, c));
    s.files
        .iter()
        .for_each(|x| doc.add_text(f.sha256, &x.sha256));
    doc.add_u64(f.flows, s.flows);
    doc.add_u64(f.packets, s.packets);
    doc.add_u64(f.bytes, s.bytes);
    doc.add_u64(f.events, s.events);
    doc.add_u64(f.logins, s.logins_tried);
    doc.add_u64(f.logins_ok, s.logins_succeeded);
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut v {
        o.insert("kind".into(), json!(KIND_SESSION));
    }
    let text = full_text(&v);
    if !text.is_empty() {
        doc.add_text(f.text, &text);
    }
    doc.add_text(f.json, v.to_string());
    doc
}
