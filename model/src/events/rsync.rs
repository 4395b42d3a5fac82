use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RsyncEvent {
    #[serde(rename = "rsync.handshake")]
    Handshake(RsyncHandshake),
    #[serde(rename = "rsync.module")]
    Module(RsyncModule),
}

crate::protocol_events!(RsyncEvent, Rsync {
    Handshake => "rsync.handshake",
    Module => "rsync.module",
});

/// The two `@RSYNCD:` greetings and the daemon's message of the day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RsyncHandshake {
    /// Protocol version as sent (`31.0`).
    pub client_version: Option<String>,
    pub server_version: Option<String>,
    /// Checksum digests each side offered after its version (protocol 31+).
    pub client_digests: Vec<String>,
    pub server_digests: Vec<String>,
    /// MOTD lines the daemon sent (at most 64 lines, 64 KiB in all).
    pub motd: Vec<String>,
    /// The MOTD was longer and was cut.
    pub truncated: bool,
}

/// What the client asked of the daemon, and how it went.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RsyncModule {
    /// The requested module; empty for a listing.
    pub module: String,
    /// `list`, `pull` (the daemon sends: `--sender`), `push`, or `unknown`
    /// when the connection ended before the client's arguments (failed
    /// authentication, unknown module).
    pub action: String,
    /// User of `@RSYNCD: AUTHREQD` authentication.
    pub user: Option<String>,
    /// True on `@RSYNCD: OK` (or a listing ending in `@RSYNCD: EXIT`), false
    /// on `@ERROR`, null when the daemon's answer was not seen.
    pub success: Option<bool>,
    /// The daemon's `@ERROR` message.
    pub error: Option<String>,
    /// The client's arguments (`--server`, `--sender`, options, paths).
    pub args: Vec<String>,
    /// Modules the daemon listed (action `list`).
    pub modules: Vec<String>,
    pub auth_required: bool,
    /// The daemon's challenge and the client's response: enough to test
    /// guessed passwords offline.
    pub challenge: Option<String>,
    pub response: Option<String>,
    /// A list (args, modules) had more than 1024 items or 64 KiB and was cut.
    pub truncated: bool,
}
