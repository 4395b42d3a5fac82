//! Index documents for events, flows and sessions.

use std::net::IpAddr;

use model::event::FlowEnd;
use model::{Event, FlowRef, Timestamp, Transport};
use serde_json::{json, Value};
use tantivy::{DateTime, TantivyDocument};

use super::facts::Facts;
use crate::ops::live::Tag;
use super::schema::{Fields, KIND_EVENT, KIND_FLOW, KIND_SESSION};
use super::session::{command_line, Summary};

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

/// The full text of a flow's or session's JSON.
fn full_text(v: &Value) -> String {
    Facts::of(v).text
}

/// An event's JSON with its sandbox tag and session, as stored.
fn event_json(e: &Event, session_id: &str, tag: Option<&Tag>) -> String {
    let mut json = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    if !json.ends_with('}') {
        return json;
    }
    json.pop();
    let mut add = |key: &str, value: String| {
        if json.len() > 1 {
            json.push(',');
        }
        json.push('"');
        json.push_str(key);
        json.push_str("\":");
        json.push_str(&value);
    };
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    if let Some(t) = tag {
        add("sandbox", quoted(&t.sandbox));
        if let Some(a) = t.attacker {
            add("attacker", quoted(&a.to_string()));
        }
    }
    // No `kind` key here: anomalies have a `kind` of their own.
    add("session_id", quoted(session_id));
    json.push('}');
    json
}

/// An event on its way to the writer thread, which builds its document
/// (so the pipeline's thread only dissects and groups).
pub struct PendingEvent {
    pub source: std::sync::Arc<str>,
    pub event: Event,
    pub facts: Facts,
    pub session_id: std::sync::Arc<str>,
    pub flow_key: std::sync::Arc<str>,
    /// Set for sandbox traffic (see `ops::live`).
    pub tag: Option<std::sync::Arc<crate::ops::live::Tag>>,
}

impl PendingEvent {
    pub fn into_doc(self, f: &Fields) -> TantivyDocument {
        let mut doc = event(
            f,
            &self.source,
            &self.event,
            &self.session_id,
            &self.flow_key,
            &self.facts,
            self.tag.as_deref(),
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
/// its [`Facts`].
pub fn event(
    f: &Fields,
    source: &str,
    e: &Event,
    session_id: &str,
    flow_key: &str,
    facts: &Facts,
    tag: Option<&Tag>,
) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.kind, KIND_EVENT);
    doc.add_text(f.source, source);
    doc.add_date(f.ts, date(e.ts));
    let ty = e.type_name();
    doc.add_text(f.r#type, ty);
    if let Some((proto, _)) = ty.split_once('.') {
        doc.add_text(f.protocol, proto);
    } else if let Some(p) = facts.str("protocol") {
        doc.add_text(f.protocol, p);
    }
    add_flow_ref(f, &mut doc, &e.flow);
    doc.add_text(f.session_id, session_id);
    doc.add_text(f.flow_key, flow_key);
    let s = |k: &str| facts.str(k);
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
    if let Some(line) = command_line(ty, facts) {
        doc.add_text(f.arg, line);
    } else if let Some(a) = s("arg") {
        doc.add_text(f.arg, a);
    }
    if let Some(ok) = facts.bool("success") {
        doc.add_bool(f.success, ok);
    }
    if !facts.text.is_empty() {
        doc.add_text(f.text, &facts.text);
    }
    doc.add_text(f.json, event_json(e, session_id, tag));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_event_json_is_the_events_json_with_its_session() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures");
        let store = crate::artifact::ArtifactStore::hash_only();
        let mut checked = 0;
        for proto in ["ftp/ftp-session", "http/http-session", "mongo/mongo-pymongo", "redis/redis-session"] {
            let pcap = root.join(format!("{proto}.pcap"));
            for e in crate::engine::dissect_file(&pcap, &store).unwrap() {
                let mut v = serde_json::to_value(&e).unwrap();
                v.as_object_mut()
                    .unwrap()
                    .insert("session_id".into(), json!("s-1\"x"));
                assert_eq!(event_json(&e, "s-1\"x", None), v.to_string());
                let tag = Tag {
                    sandbox: "sb-1".into(),
                    attacker: Some("2001:db8::7".parse().unwrap()),
                    network: None,
                };
                let mut tagged = serde_json::to_value(&e).unwrap();
                let o = tagged.as_object_mut().unwrap();
                o.insert("sandbox".into(), json!("sb-1"));
                o.insert("attacker".into(), json!("2001:db8::7"));
                o.insert("session_id".into(), json!("s-1\"x"));
                assert_eq!(event_json(&e, "s-1\"x", Some(&tag)), tagged.to_string());
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
    }
}
