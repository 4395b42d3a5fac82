//! One schema for sessions, flows and events; `kind` tells them apart.

use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IpAddrOptions, NumericOptions, Schema, FAST, INDEXED,
    STORED, STRING, TEXT,
};

pub const KIND_SESSION: &str = "session";
pub const KIND_FLOW: &str = "flow";
pub const KIND_EVENT: &str = "event";

/// The fields, looked up once.
#[derive(Clone)]
pub struct Fields {
    pub schema: Schema,
    pub kind: Field,
    /// Events: their time; flows and sessions: their first packet.
    pub ts: Field,
    /// Flows and sessions: their last packet.
    pub end: Field,
    pub r#type: Field,
    pub protocol: Field,
    pub transport: Field,
    pub src_ip: Field,
    pub dst_ip: Field,
    pub src_port: Field,
    pub dst_port: Field,
    pub flow_id: Field,
    /// Unique per flow (a Community ID repeats when a 5-tuple is reused).
    pub flow_key: Field,
    pub session_id: Field,
    /// SHA-256 of the capture file the document came from.
    pub source: Field,
    pub user: Field,
    pub password: Field,
    pub command: Field,
    pub arg: Field,
    pub query: Field,
    pub uri: Field,
    pub host: Field,
    pub method: Field,
    pub path: Field,
    pub database: Field,
    pub sha256: Field,
    pub success: Field,
    pub reason: Field,
    pub packets: Field,
    pub bytes: Field,
    pub events: Field,
    pub flows: Field,
    pub logins: Field,
    pub logins_ok: Field,
    pub text: Field,
    /// The document as JSON (stored only).
    pub json: Field,
    /// Flows: where their packets are in the store (stored only).
    pub locations: Field,
}

/// Fields a query may name, with what they are.
pub const QUERY_FIELDS: &[&str] = &[
    "kind",
    "ts",
    "end",
    "type",
    "protocol",
    "transport",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "flow_id",
    "flow_key",
    "session_id",
    "source",
    "user",
    "password",
    "command",
    "arg",
    "query",
    "uri",
    "host",
    "method",
    "path",
    "database",
    "sha256",
    "success",
    "reason",
    "packets",
    "bytes",
    "events",
    "flows",
    "logins",
    "logins_ok",
    "text",
];

impl Fields {
    pub fn new() -> Fields {
        let mut b = Schema::builder();
        let date = DateOptions::default()
            .set_indexed()
            .set_fast()
            .set_stored()
            .set_precision(DateTimePrecision::Microseconds);
        let ip = IpAddrOptions::default().set_indexed().set_fast();
        let count = NumericOptions::default().set_indexed().set_fast();
        let kind = b.add_text_field("kind", STRING | STORED);
        let ts = b.add_date_field("ts", date.clone());
        let end = b.add_date_field("end", date);
        let r#type = b.add_text_field("type", STRING);
        let protocol = b.add_text_field("protocol", STRING);
        let transport = b.add_text_field("transport", STRING);
        let src_ip = b.add_ip_addr_field("src_ip", ip.clone());
        let dst_ip = b.add_ip_addr_field("dst_ip", ip);
        let src_port = b.add_u64_field("src_port", count.clone());
        let dst_port = b.add_u64_field("dst_port", count.clone());
        let flow_id = b.add_text_field("flow_id", STRING);
        let flow_key = b.add_text_field("flow_key", STRING | STORED);
        let session_id = b.add_text_field("session_id", STRING | STORED);
        let source = b.add_text_field("source", STRING);
        let user = b.add_text_field("user", TEXT);
        let password = b.add_text_field("password", TEXT);
        let command = b.add_text_field("command", TEXT);
        let arg = b.add_text_field("arg", TEXT);
        let query = b.add_text_field("query", TEXT);
        let uri = b.add_text_field("uri", TEXT);
        let host = b.add_text_field("host", TEXT);
        let method = b.add_text_field("method", TEXT);
        let path = b.add_text_field("path", TEXT);
        let database = b.add_text_field("database", TEXT);
        let sha256 = b.add_text_field("sha256", STRING);
        let success = b.add_bool_field("success", INDEXED);
        let reason = b.add_text_field("reason", STRING);
        let packets = b.add_u64_field("packets", count.clone());
        let bytes = b.add_u64_field("bytes", count.clone());
        let events = b.add_u64_field("events", count.clone());
        let flows = b.add_u64_field("flows", count.clone());
        let logins = b.add_u64_field("logins", count.clone());
        let logins_ok = b.add_u64_field("logins_ok", count | FAST);
        let text = b.add_text_field("text", TEXT);
        let json = b.add_text_field("json", STORED);
        let locations = b.add_bytes_field("locations", STORED);
        Fields {
            schema: b.build(),
            kind,
            ts,
            end,
            r#type,
            protocol,
            transport,
            src_ip,
            dst_ip,
            src_port,
            dst_port,
            flow_id,
            flow_key,
            session_id,
            source,
            user,
            password,
            command,
            arg,
            query,
            uri,
            host,
            method,
            path,
            database,
            sha256,
            success,
            reason,
            packets,
            bytes,
            events,
            flows,
            logins,
            logins_ok,
            text,
            json,
            locations,
        }
    }
}

impl Default for Fields {
    fn default() -> Fields {
        Fields::new()
    }
}
