//! One schema for sessions, flows and events; `kind` tells them apart.

use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, IpAddrOptions, NumericOptions,
    Schema, TextFieldIndexing, TextOptions, STORED,
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
    /// Sandbox traffic (live capture on its bridge): the sandbox's id.
    pub sandbox: Field,
    /// Sandbox traffic: the attacker the sandbox was made for.
    pub attacker: Field,
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
    "sandbox",
    "attacker",
];

/// Exact values (`type:ftp.login`, ids, hashes): one token, no positions,
/// no norms. Results are sorted by time, never scored, so no field keeps
/// norms or needs term frequencies.
fn exact() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::Basic),
    )
}

/// Words, with positions: a value such as `/admin/login.php` or
/// `drop table` is several tokens, which the query parser turns into a
/// phrase.
fn words() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    )
}

/// Indexed, not fast: only sandbox traffic has it.
fn ip_attacker() -> IpAddrOptions {
    IpAddrOptions::default().set_indexed()
}

impl Fields {
    pub fn new() -> Fields {
        let mut b = Schema::builder();
        let date = DateOptions::default()
            .set_indexed()
            .set_fast()
            .set_precision(DateTimePrecision::Microseconds);
        let ip = IpAddrOptions::default().set_indexed().set_fast();
        // Only times are fast fields (results are sorted by `ts`; `ts` and
        // `end` ranges). Ports and counts are indexed: their ranges and
        // terms are answered from the term dictionary.
        let count = NumericOptions::default().set_indexed();
        let kind = b.add_text_field("kind", exact() | STORED);
        let ts = b.add_date_field("ts", date.clone());
        let end = b.add_date_field("end", date);
        let r#type = b.add_text_field("type", exact());
        let protocol = b.add_text_field("protocol", exact());
        let transport = b.add_text_field("transport", exact());
        let src_ip = b.add_ip_addr_field("src_ip", ip.clone());
        let dst_ip = b.add_ip_addr_field("dst_ip", ip);
        let src_port = b.add_u64_field("src_port", count.clone());
        let dst_port = b.add_u64_field("dst_port", count.clone());
        let flow_id = b.add_text_field("flow_id", exact());
        let flow_key = b.add_text_field("flow_key", exact() | STORED);
        // Stored: the disk budget finds the sessions of deleted flows by it.
        let session_id = b.add_text_field("session_id", exact() | STORED);
        let source = b.add_text_field("source", exact());
        let user = b.add_text_field("user", words());
        let password = b.add_text_field("password", words());
        let command = b.add_text_field("command", words());
        let arg = b.add_text_field("arg", words());
        let query = b.add_text_field("query", words());
        let uri = b.add_text_field("uri", words());
        let host = b.add_text_field("host", words());
        let method = b.add_text_field("method", words());
        let path = b.add_text_field("path", words());
        let database = b.add_text_field("database", words());
        let sha256 = b.add_text_field("sha256", exact());
        let success = b.add_bool_field("success", NumericOptions::default().set_indexed());
        let reason = b.add_text_field("reason", exact());
        let packets = b.add_u64_field("packets", count.clone());
        let bytes = b.add_u64_field("bytes", count.clone());
        let events = b.add_u64_field("events", count.clone());
        let flows = b.add_u64_field("flows", count.clone());
        let logins = b.add_u64_field("logins", count.clone());
        let logins_ok = b.add_u64_field("logins_ok", count);
        let text = b.add_text_field("text", words());
        let json = b.add_text_field("json", STORED);
        let locations = b.add_bytes_field("locations", STORED);
        let sandbox = b.add_text_field("sandbox", exact());
        let attacker = b.add_ip_addr_field("attacker", ip_attacker());
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
            sandbox,
            attacker,
        }
    }

    /// What words without a field search: the full text and every field
    /// indexed as words (the full text leaves their values out).
    pub fn free_text(&self) -> Vec<Field> {
        vec![
            self.text,
            self.user,
            self.password,
            self.command,
            self.arg,
            self.query,
            self.uri,
            self.host,
            self.method,
            self.path,
            self.database,
        ]
    }
}

impl Default for Fields {
    fn default() -> Fields {
        Fields::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field indexed as words that free text did not search would hide
    /// its words: the full text leaves them out.
    #[test]
    fn free_text_searches_every_word_field() {
        let f = Fields::new();
        let free = f.free_text();
        for (field, entry) in f.schema.fields() {
            let words = entry.field_type().get_index_record_option()
                == Some(IndexRecordOption::WithFreqsAndPositions);
            assert_eq!(words, free.contains(&field), "{}", entry.name());
        }
    }
}
