//! From parsed messages to event fields: what a request asked and what its
//! reply answered.

use bson::raw::{RawBsonRef, RawDocument};
use model::events::mongo::{MongoCommand, MongoSequence};
use serde_json::{Map, Value};

use super::auth::{self, AuthStart};
use super::bson_json::{self, get, get_doc, get_str, Budget};
use super::parser::{self, DocSlice, Documents, OpCode, Section, SectionError};

/// Kind-1 sections listed per message.
const MAX_SEQUENCES: usize = 64;
/// Longest database or collection name kept (the server allows 255).
const MAX_NAME_BYTES: usize = 512;
/// Cursor ids listed for OP_KILL_CURSORS.
const MAX_CURSOR_IDS: usize = 1024;

/// Commands whose first value is a string that is not a collection.
const NOT_A_COLLECTION: &[&str] = &[
    "getLog",
    "getParameter",
    "setParameter",
    "setFeatureCompatibilityVersion",
];

/// A decoded request, ready to wait for its reply.
pub struct Request {
    pub command: MongoCommand,
    pub expects_reply: bool,
    /// The request is a command (`$cmd`, OP_MSG, OP_COMMAND): its reply
    /// document carries `ok`.
    pub is_command: bool,
    /// An authentication step begins or continues here.
    pub auth: Option<AuthStep>,
    /// Something malformed that deserves an anomaly.
    pub problem: Option<String>,
}

pub enum AuthStep {
    /// A new conversation (`saslStart`, `authenticate`); `speculative` when
    /// it rode inside `hello`/`isMaster`.
    Start {
        start: AuthStart,
        sasl: bool,
        speculative: bool,
    },
    /// `saslContinue`.
    Continue,
}

fn name(bytes: &[u8]) -> String {
    let kept = bytes.get(..MAX_NAME_BYTES).unwrap_or(bytes);
    String::from_utf8_lossy(kept).into_owned()
}

fn new_request(op: OpCode, request_id: i32, length: u32, whole: bool) -> Request {
    Request {
        command: MongoCommand {
            opcode: op.name().to_string(),
            request_id,
            message_length: length,
            truncated: !whole,
            ..MongoCommand::default()
        },
        expects_reply: true,
        is_command: false,
        auth: None,
        problem: None,
    }
}

/// Decodes a client request. `body` is the message after its header (all of
/// it when `whole`, else the kept prefix).
pub fn request(op: OpCode, request_id: i32, length: u32, body: &[u8], whole: bool) -> Request {
    let mut req = new_request(op, request_id, length, whole);
    let mut budget = Budget::new();
    let ok = match op {
        OpCode::Msg => msg_request(&mut req, body, whole, &mut budget),
        OpCode::Query => query_request(&mut req, body, &mut budget),
        OpCode::Insert => insert_request(&mut req, body, &mut budget),
        OpCode::Update | OpCode::Delete => {
            update_or_delete_request(&mut req, op, body, &mut budget)
        }
        OpCode::GetMore => get_more_request(&mut req, body),
        OpCode::KillCursors => kill_cursors_request(&mut req, body),
        OpCode::Command => command_request(&mut req, body, &mut budget),
        OpCode::Compressed => return compressed_request(request_id, length, body, whole),
        OpCode::Reply | OpCode::CommandReply => Some(()),
    };
    if ok.is_none() && req.problem.is_none() {
        req.problem = Some(format!("{} body does not parse", op.name()));
    }
    req.command.truncated |= budget.truncated;
    req
}

/// Fills command, database, collection and document from a command
/// document, and notes authentication steps.
fn command_document(req: &mut Request, doc: DocSlice<'_>, budget: &mut Budget) -> Option<()> {
    req.is_command = true;
    if doc.cut {
        req.command.command = bson_json::first_key_of_prefix(doc.bytes).map(str::to_string);
        req.command.truncated = true;
        return Some(());
    }
    let raw = bson_json::raw(doc.bytes)?;
    describe_command(req, raw);
    req.command.document = bson_json::to_json(doc.bytes, budget);
    Some(())
}

fn describe_command(req: &mut Request, raw: &RawDocument) {
    let Some((command, first)) = bson_json::first(raw) else {
        return;
    };
    if req.command.database.is_none() {
        req.command.database = get_str(raw, "$db").map(|s| name(s.as_bytes()));
    }
    if req.command.collection.is_none() {
        req.command.collection = match (command, first) {
            ("getMore", _) => get_str(raw, "collection").map(|s| name(s.as_bytes())),
            (c, RawBsonRef::String(s)) if !NOT_A_COLLECTION.contains(&c) => {
                Some(name(s.as_bytes()))
            }
            _ => None,
        };
    }
    req.command.command = Some(name(command.as_bytes()));
    req.auth = auth_step(command, raw, req.command.database.as_deref());
}

fn auth_step(command: &str, raw: &RawDocument, database: Option<&str>) -> Option<AuthStep> {
    match command {
        "saslStart" | "authenticate" => {
            auth::start(command, raw, database).map(|start| AuthStep::Start {
                start,
                sasl: command == "saslStart",
                speculative: false,
            })
        }
        "saslContinue" => Some(AuthStep::Continue),
        "hello" | "isMaster" | "ismaster" => {
            let inner = get_doc(raw, "speculativeAuthenticate")?;
            let (inner_command, _) = bson_json::first(inner)?;
            let start = auth::start(inner_command, inner, database)?;
            Some(AuthStep::Start {
                start,
                sasl: inner_command == "saslStart",
                speculative: true,
            })
        }
        _ => None,
    }
}

fn msg_request(req: &mut Request, body: &[u8], whole: bool, budget: &mut Budget) -> Option<()> {
    let msg = parser::msg(body, whole)?;
    req.command.more_to_come = msg.flags & parser::MSG_MORE_TO_COME != 0;
    req.expects_reply = !req.command.more_to_come;
    let mut sequences: Vec<(String, Value)> = Vec::new();
    for section in parser::Sections::new(msg.sections) {
        match section {
            Ok(Section::Body(doc)) if req.command.command.is_none() => {
                command_document(req, doc, budget)?;
            }
            Ok(Section::Body(_)) => req.problem = Some("OP_MSG with two body sections".to_string()),
            Ok(Section::Sequence {
                identifier,
                documents,
                cut,
            }) => {
                if req.command.sequences.len() >= MAX_SEQUENCES {
                    req.command.truncated = true;
                    continue;
                }
                let identifier = name(identifier);
                let mut items = Vec::new();
                let mut count = 0u32;
                for doc in Documents::new(documents) {
                    count = count.saturating_add(1);
                    if items.len() < bson_json::MAX_ITEMS {
                        items.push(bson_json::to_json(doc.bytes, budget).unwrap_or(Value::Null));
                    } else {
                        budget.truncated = true;
                    }
                }
                req.command.truncated |= cut;
                req.command.sequences.push(MongoSequence {
                    identifier: identifier.clone(),
                    documents: count,
                });
                sequences.push((identifier, Value::Array(items)));
            }
            Ok(Section::Internal) => {}
            Err(SectionError::UnknownKind(kind)) if whole => {
                req.problem = Some(format!("OP_MSG section of unknown kind {kind}"));
            }
            Err(SectionError::BadSize) if whole => {
                req.problem = Some("OP_MSG section with an impossible size".to_string());
            }
            Err(_) => req.command.truncated = true,
        }
    }
    // The server sees kind-1 sequences as array fields of the command.
    if let Some(Value::Object(map)) = req.command.document.as_mut() {
        for (identifier, items) in sequences {
            map.insert(identifier, items);
        }
    }
    Some(())
}

fn set_namespace(req: &mut Request, namespace: &[u8]) {
    let (database, collection) = parser::split_namespace(namespace);
    req.command.database = Some(name(database));
    req.command.collection = collection.map(name);
}

fn json_of(doc: DocSlice<'_>, budget: &mut Budget) -> Value {
    if doc.cut {
        budget.truncated = true;
        return Value::Null;
    }
    bson_json::to_json(doc.bytes, budget).unwrap_or(Value::Null)
}

fn query_request(req: &mut Request, body: &[u8], budget: &mut Budget) -> Option<()> {
    let ns = parser::namespaced(body)?;
    set_namespace(req, ns.namespace);
    let (query, next) = parser::document_at(body, ns.rest.checked_add(8)?)?;
    let is_command = req.command.collection.as_deref() == Some("$cmd");
    if !is_command {
        // A legacy find.
        req.command.command = Some("find".to_string());
        let mut doc = Map::new();
        doc.insert("filter".to_string(), json_of(query, budget));
        if let Some((fields, _)) = parser::document_at(body, next) {
            doc.insert("projection".to_string(), json_of(fields, budget));
        }
        doc.insert("skip".to_string(), parser::i32_at(body, ns.rest).into());
        doc.insert(
            "limit".to_string(),
            parser::i32_at(body, ns.rest + 4).into(),
        );
        req.command.document = Some(Value::Object(doc));
        return Some(());
    }
    command_document(req, query, budget)?;
    // `{$query: {cmd…}, $readPreference: …}` wraps the real command.
    if req.command.command.as_deref() == Some("$query") {
        if let Some(inner) = bson_json::raw(query.bytes).and_then(|raw| get_doc(raw, "$query")) {
            describe_command(req, inner);
        }
    }
    Some(())
}

fn insert_request(req: &mut Request, body: &[u8], budget: &mut Budget) -> Option<()> {
    let ns = parser::namespaced(body)?;
    set_namespace(req, ns.namespace);
    req.command.command = Some("insert".to_string());
    req.expects_reply = false;
    let mut items = Vec::new();
    let mut count = 0u32;
    for doc in Documents::new(body.get(ns.rest..)?) {
        count = count.saturating_add(1);
        if items.len() < bson_json::MAX_ITEMS {
            items.push(json_of(doc, budget));
        } else {
            budget.truncated = true;
        }
    }
    req.command.sequences.push(MongoSequence {
        identifier: "documents".to_string(),
        documents: count,
    });
    let mut doc = Map::new();
    doc.insert("documents".to_string(), Value::Array(items));
    doc.insert("flags".to_string(), ns.first.into());
    req.command.document = Some(Value::Object(doc));
    Some(())
}

fn update_or_delete_request(
    req: &mut Request,
    op: OpCode,
    body: &[u8],
    budget: &mut Budget,
) -> Option<()> {
    let ns = parser::namespaced(body)?;
    set_namespace(req, ns.namespace);
    req.expects_reply = false;
    let flags = parser::i32_at(body, ns.rest)?;
    let (selector, next) = parser::document_at(body, ns.rest + 4)?;
    let mut doc = Map::new();
    doc.insert("q".to_string(), json_of(selector, budget));
    if op == OpCode::Update {
        req.command.command = Some("update".to_string());
        if let Some((update, _)) = parser::document_at(body, next) {
            doc.insert("u".to_string(), json_of(update, budget));
        }
    } else {
        req.command.command = Some("delete".to_string());
    }
    doc.insert("flags".to_string(), flags.into());
    req.command.document = Some(Value::Object(doc));
    Some(())
}

fn get_more_request(req: &mut Request, body: &[u8]) -> Option<()> {
    let ns = parser::namespaced(body)?;
    set_namespace(req, ns.namespace);
    req.command.command = Some("getMore".to_string());
    let number_to_return = parser::i32_at(body, ns.rest)?;
    let cursor_id = parser::i64_at(body, ns.rest + 4)?;
    let mut doc = Map::new();
    doc.insert("getMore".to_string(), cursor_id.into());
    doc.insert("batchSize".to_string(), number_to_return.into());
    req.command.document = Some(Value::Object(doc));
    Some(())
}

fn kill_cursors_request(req: &mut Request, body: &[u8]) -> Option<()> {
    req.command.command = Some("killCursors".to_string());
    req.expects_reply = false;
    let count = parser::i32_at(body, 4)?;
    let mut ids = Vec::new();
    for i in 0..usize::try_from(count).ok()?.min(MAX_CURSOR_IDS) {
        match parser::i64_at(body, 8 + i * 8) {
            Some(id) => ids.push(Value::from(id)),
            None => break,
        }
    }
    req.command.truncated |= (ids.len() as i64) < i64::from(count);
    let mut doc = Map::new();
    doc.insert("cursors".to_string(), Value::Array(ids));
    req.command.document = Some(Value::Object(doc));
    Some(())
}

fn command_request(req: &mut Request, body: &[u8], budget: &mut Budget) -> Option<()> {
    let (database, after_db) = parser::cstring_at(body, 0)?;
    let (command, after_name) = parser::cstring_at(body, after_db)?;
    req.command.database = Some(name(database));
    let (_metadata, after_metadata) = parser::document_at(body, after_name)?;
    let (args, _) = parser::document_at(body, after_metadata)?;
    command_document(req, args, budget)?;
    req.command.command = Some(name(command));
    Some(())
}

fn compressed_request(request_id: i32, length: u32, body: &[u8], whole: bool) -> Request {
    let Some(info) = parser::compressed(body) else {
        let mut req = new_request(OpCode::Compressed, request_id, length, whole);
        req.problem = Some("OP_COMPRESSED body does not parse".to_string());
        return req;
    };
    let original = OpCode::from_i32(info.original_opcode).filter(|op| *op != OpCode::Compressed);
    let mut req = match (original, body.get(parser::COMPRESSED_DATA_AT..)) {
        // The noop compressor leaves the message as it is: decode it.
        (Some(op), Some(inner)) if info.compressor == parser::COMPRESSOR_NOOP => {
            request(op, request_id, length, inner, whole)
        }
        (Some(op), _) => {
            let mut req = new_request(op, request_id, length, whole);
            req.expects_reply = !matches!(
                op,
                OpCode::Insert | OpCode::Update | OpCode::Delete | OpCode::KillCursors
            );
            req
        }
        (None, _) => new_request(OpCode::Compressed, request_id, length, whole),
    };
    req.command.compressed = true;
    req.command.compressor = Some(parser::compressor_name(info.compressor));
    req
}

/// What a reply says.
#[derive(Default)]
pub struct ReplyFacts<'a> {
    pub ok: Option<bool>,
    pub error: Option<String>,
    pub code: Option<i32>,
    pub code_name: Option<String>,
    pub documents: Option<i64>,
    pub n: Option<i64>,
    pub cursor_id: Option<i64>,
    /// The reply's main document, for the authentication tracker.
    pub document: Option<&'a RawDocument>,
}

/// Decodes a server reply. `is_command` tells whether the request was a
/// command (so `ok` comes from the reply document).
pub fn reply<'a>(op: OpCode, body: &'a [u8], whole: bool, is_command: bool) -> ReplyFacts<'a> {
    match op {
        OpCode::Reply => legacy_reply(body, is_command),
        OpCode::Msg => {
            let Some(msg) = parser::msg(body, whole) else {
                return ReplyFacts::default();
            };
            let body_doc = parser::Sections::new(msg.sections).find_map(|s| match s {
                Ok(Section::Body(doc)) if !doc.cut => bson_json::raw(doc.bytes),
                _ => None,
            });
            command_reply(body_doc)
        }
        OpCode::CommandReply => {
            let doc = parser::document_at(body, 0)
                .and_then(|(_, next)| parser::document_at(body, next))
                .and_then(|(doc, _)| bson_json::raw(doc.bytes));
            command_reply(doc)
        }
        OpCode::Compressed => match parser::compressed(body) {
            Some(info) if info.compressor == parser::COMPRESSOR_NOOP => {
                match (
                    OpCode::from_i32(info.original_opcode),
                    body.get(parser::COMPRESSED_DATA_AT..),
                ) {
                    (Some(inner_op), Some(inner)) if inner_op != OpCode::Compressed => {
                        reply(inner_op, inner, whole, is_command)
                    }
                    _ => ReplyFacts::default(),
                }
            }
            _ => ReplyFacts::default(),
        },
        _ => ReplyFacts::default(),
    }
}

fn legacy_reply(body: &[u8], is_command: bool) -> ReplyFacts<'_> {
    let Some(header) = parser::reply(body) else {
        return ReplyFacts::default();
    };
    let first = parser::document_at(body, parser::REPLY_DOCUMENTS_AT)
        .filter(|(doc, _)| !doc.cut)
        .and_then(|(doc, _)| bson_json::raw(doc.bytes));
    let failed = header.flags & parser::REPLY_QUERY_FAILURE != 0;
    let mut facts = if is_command || failed {
        command_reply(first)
    } else {
        ReplyFacts::default()
    };
    if failed {
        facts.ok = Some(false);
    } else if facts.ok.is_none() {
        facts.ok = Some(true);
    }
    facts.documents = Some(header.number_returned.into());
    facts.cursor_id = Some(header.cursor_id);
    facts
}

fn command_reply(doc: Option<&RawDocument>) -> ReplyFacts<'_> {
    let Some(doc) = doc else {
        return ReplyFacts::default();
    };
    let mut facts = ReplyFacts {
        ok: get(doc, "ok").and_then(bson_json::as_truth),
        error: get_str(doc, "errmsg")
            .or_else(|| get_str(doc, "$err"))
            .map(cap_text),
        code: get(doc, "code")
            .and_then(bson_json::as_i64)
            .and_then(|c| i32::try_from(c).ok()),
        code_name: get_str(doc, "codeName").map(cap_text),
        n: get(doc, "n").and_then(bson_json::as_i64),
        document: Some(doc),
        ..ReplyFacts::default()
    };
    if let Some(cursor) = get_doc(doc, "cursor") {
        facts.cursor_id = get(cursor, "id").and_then(bson_json::as_i64);
        facts.documents = get(cursor, "firstBatch")
            .or_else(|| get(cursor, "nextBatch"))
            .and_then(bson_json::array_len);
    }
    // A write that partly failed still says ok: 1; its first error matters.
    if facts.error.is_none() {
        let first_error = get(doc, "writeErrors")
            .and_then(|v| v.as_array())
            .and_then(|a| a.into_iter().next())
            .and_then(|v| v.ok())
            .and_then(|v| v.as_document());
        if let Some(error) = first_error {
            facts.error = get_str(error, "errmsg").map(cap_text);
            facts.code = get(error, "code")
                .and_then(bson_json::as_i64)
                .and_then(|c| i32::try_from(c).ok());
        }
    }
    facts
}

fn cap_text(s: &str) -> String {
    let mut end = s.len().min(bson_json::MAX_STRING_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

/// Copies what a reply said into the request's event.
pub fn apply(command: &mut MongoCommand, facts: &ReplyFacts<'_>) {
    command.replied = true;
    command.ok = facts.ok;
    command.error = facts.error.clone();
    command.code = facts.code;
    command.code_name = facts.code_name.clone();
    command.reply_documents = facts.documents;
    command.n = facts.n;
    command.cursor_id = facts.cursor_id;
}

/// The part of a reply to `hello`/`isMaster` that answers a speculative
/// authentication.
pub fn speculative_reply(doc: &RawDocument) -> Option<&RawDocument> {
    get_doc(doc, "speculativeAuthenticate")
}
