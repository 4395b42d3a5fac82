use serde::{Deserialize, Serialize};

#[allow(clippy::large_enum_variant)] // built once per message, then serialised
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MongoEvent {
    #[serde(rename = "mongo.command")]
    Command(MongoCommand),
    #[serde(rename = "mongo.auth")]
    Auth(MongoAuth),
}

crate::protocol_events!(MongoEvent, Mongo {
    Command => "mongo.command",
    Auth => "mongo.auth",
});

/// One client request, with what its reply said (when one came).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MongoCommand {
    /// `OP_MSG`, `OP_QUERY`, `OP_INSERT`, … (the original opcode for
    /// `OP_COMPRESSED`, see `compressed`).
    pub opcode: String,
    pub database: Option<String>,
    pub collection: Option<String>,
    /// The command document's first key (`find`, `insert`, `saslStart`, …);
    /// for legacy `OP_INSERT`/`OP_UPDATE`/… the operation's name.
    pub command: Option<String>,
    /// The command document as relaxed extended JSON (v2), kind-1 document
    /// sequences merged in under their identifier; capped, see `truncated`.
    pub document: Option<serde_json::Value>,
    /// `requestID` of the request.
    pub request_id: i32,
    /// Size of the request on the wire (header included).
    pub message_length: u32,
    /// Something was left out: the document passed its cap (64 KiB, 1024
    /// items, 4 KiB strings, depth 32) or the message was larger than the
    /// part kept for decoding (256 KiB).
    pub truncated: bool,
    /// Kind-1 sections of an `OP_MSG`: identifier and document count.
    pub sequences: Vec<MongoSequence>,
    /// The request came in an `OP_COMPRESSED` envelope.
    pub compressed: bool,
    /// `noop`, `snappy`, `zlib`, `zstd` or `unknown(N)`.
    pub compressor: Option<String>,
    /// `OP_MSG` moreToCome: the client asked for no reply.
    pub more_to_come: bool,
    /// Whether a reply paired with this request (by `responseTo`) came.
    pub replied: bool,
    /// The reply's `ok` (`OP_REPLY` with QueryFailure counts as false).
    pub ok: Option<bool>,
    /// The reply's `errmsg` (or `$err`).
    pub error: Option<String>,
    pub code: Option<i32>,
    pub code_name: Option<String>,
    /// Documents the reply returned: `OP_REPLY` numberReturned, or the
    /// length of `cursor.firstBatch`/`nextBatch`.
    pub reply_documents: Option<i64>,
    /// The reply's `n` (documents inserted, matched or deleted).
    pub n: Option<i64>,
    /// Cursor the reply left open (0: none).
    pub cursor_id: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MongoSequence {
    pub identifier: String,
    pub documents: u32,
}

/// One authentication conversation (`saslStart`/`saslContinue`,
/// `authenticate`, or `speculativeAuthenticate` inside `hello`/`isMaster`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MongoAuth {
    /// `SCRAM-SHA-256`, `SCRAM-SHA-1`, `PLAIN`, `MONGODB-X509`, `MONGODB-CR`, …
    pub mechanism: Option<String>,
    /// From the SCRAM client-first message, the PLAIN payload or the
    /// command's `user` field.
    pub user: Option<String>,
    /// Only PLAIN carries the password in clear.
    pub password: Option<String>,
    /// The authentication database (`$db`).
    pub database: Option<String>,
    /// True when the server said `done` with `ok: 1`, false on an error
    /// reply, null when the conversation did not finish.
    pub success: Option<bool>,
    pub error: Option<String>,
}
