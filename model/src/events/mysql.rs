use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MysqlEvent {
    #[serde(rename = "mysql.greeting")]
    Greeting(MysqlGreeting),
    #[serde(rename = "mysql.login")]
    Login(MysqlLogin),
    #[serde(rename = "mysql.command")]
    Command(MysqlCommand),
}

crate::protocol_events!(MysqlEvent, Mysql {
    Greeting => "mysql.greeting",
    Login => "mysql.login",
    Command => "mysql.command",
});

/// The server's first packet: its handshake, or an ERR refusing the
/// connection (`error`, `error_code`; then the other fields are null).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MysqlGreeting {
    /// Version string without MariaDB's `5.5.5-` compatibility prefix.
    pub server_version: Option<String>,
    /// True for MariaDB (the `5.5.5-` prefix or `MariaDB` in the version).
    pub mariadb: bool,
    /// Handshake protocol version (10; 9 for very old servers).
    pub protocol_version: Option<u8>,
    pub connection_id: Option<u32>,
    /// Default authentication plugin offered.
    pub plugin: Option<String>,
    /// Capability flags (lower and upper 16 bits).
    pub capabilities: Option<u32>,
    pub error: Option<String>,
    pub error_code: Option<u16>,
}

/// One authentication: the handshake response and the server's verdict,
/// or a `COM_CHANGE_USER` re-authentication (`change_user: true`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MysqlLogin {
    /// Empty when unknown (TLS hid it).
    pub user: String,
    pub database: Option<String>,
    /// Null when the verdict was never seen (TLS, connection cut).
    pub success: Option<bool>,
    /// The ERR message.
    pub error: Option<String>,
    pub error_code: Option<u16>,
    /// The last plugin used: the client's, or the server's auth switch.
    pub auth_plugin: Option<String>,
    /// The client asked for TLS: nothing after this can be read.
    pub tls: bool,
    /// Handshake response in the pre-4.1 (protocol 320) format.
    pub old_protocol: bool,
    /// This authentication came from `COM_CHANGE_USER`.
    pub change_user: bool,
    /// The server's nonce from the greeting (hex) and the client's answer
    /// to it from the handshake response (hex, at most 256 bytes): with
    /// `mysql_native_password` the answer is
    /// `SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))`, so a candidate
    /// password can be checked offline. Null when not seen (TLS,
    /// mid-stream, `COM_CHANGE_USER`) and after an authentication-method
    /// switch (the answer then goes to a new nonce).
    #[serde(default)]
    pub scramble: Option<String>,
    #[serde(default)]
    pub auth_response: Option<String>,
    /// Connection attributes (`_client_name`, `program_name`, `_os`, …),
    /// at most 32, each value at most 256 bytes.
    pub client_attributes: BTreeMap<String, String>,
    /// Some string or attribute was cut at its cap.
    pub truncated: bool,
}

/// One command and its response, stamped with the command's time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MysqlCommand {
    /// `COM_*` name in lowercase without the prefix (`query`, `ping`, …),
    /// `unknown_<n>` for bytes that are no command.
    pub command: String,
    /// Query text, schema, table, statement id, user: depends on `command`.
    pub arg: String,
    /// Null when no response came (or none exists: `quit`, `stmt_close`).
    pub success: Option<bool>,
    /// Rows of the result set(s), when the response was one.
    pub rows: Option<u64>,
    /// Error message of an ERR response.
    pub error: Option<String>,
    pub error_code: Option<u16>,
    /// Affected rows of an OK response.
    pub affected_rows: Option<u64>,
    /// Columns of the (first) result set.
    pub columns: Option<u64>,
    /// File the server asked for with `LOAD DATA LOCAL INFILE`.
    pub infile: Option<String>,
    /// Size and SHA-256 of what the client sent for it (kept as an
    /// artifact).
    pub infile_size: Option<u64>,
    pub infile_sha256: Option<String>,
    /// For `stmt_*` commands: the SQL prepared under that statement id, when
    /// its `stmt_prepare` was seen (at most 4 KiB).
    pub statement: Option<String>,
    /// The user the connection was authenticated as, when known.
    pub user: Option<String>,
    /// `arg` was cut at its cap (64 KiB for query text).
    pub truncated: bool,
}
