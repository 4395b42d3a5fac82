use serde::{Deserialize, Serialize};

use crate::flow::Direction;
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SshEvent {
    #[serde(rename = "ssh.handshake")]
    Handshake(Box<SshHandshake>),
    #[serde(rename = "ssh.kexinit")]
    KexInit(Box<SshKexInit>),
    #[serde(rename = "ssh.auth")]
    Auth(SshAuth),
}

crate::protocol_events!(SshEvent, Ssh {
    Handshake => "ssh.handshake",
    KexInit => "ssh.kexinit",
    Auth => "ssh.auth",
});

/// The outcome of user authentication, guessed from the sizes of the
/// encrypted packets (Zeek's heuristic): emitted once it is decided, or at
/// close with the failures counted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SshAuth {
    /// True once a success was seen, false after failures only, null when
    /// nothing could be told.
    pub success: Option<bool>,
    /// Attempts counted, the successful one included.
    pub attempts: u32,
}

/// One per connection: the identification strings and the negotiated
/// algorithms, emitted once both sides sent NEWKEYS, or at close with what
/// was seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SshHandshake {
    /// Protocol major version (1 or 2), once both identification lines
    /// were seen (`SSH-1.99` counts as 2).
    pub version: Option<u8>,
    pub client_version: Option<String>,
    pub server_version: Option<String>,
    pub kex_alg: Option<String>,
    pub host_key_alg: Option<String>,
    /// Client-to-server algorithms; the `_to_client` fields hold the
    /// server-to-client ones (usually the same).
    pub cipher_alg: Option<String>,
    pub mac_alg: Option<String>,
    pub compression_alg: Option<String>,
    pub cipher_alg_to_client: Option<String>,
    pub mac_alg_to_client: Option<String>,
    pub compression_alg_to_client: Option<String>,
    /// HASSH: md5 of `hassh_algorithms`, from the client's KEXINIT.
    pub hassh: Option<String>,
    /// `kex;enc_c2s;mac_c2s;comp_c2s` of the client's KEXINIT.
    pub hassh_algorithms: Option<String>,
    /// HASSH-server: md5 of `hassh_server_algorithms`.
    pub hassh_server: Option<String>,
    /// `kex;enc_s2c;mac_s2c;comp_s2c` of the server's KEXINIT.
    pub hassh_server_algorithms: Option<String>,
    /// The server's host key as OpenSSH prints it: `SHA256:` and the
    /// unpadded base64 of the key blob's SHA-256.
    pub host_key_fingerprint: Option<String>,
    /// The key type named inside the host key blob (`ssh-ed25519`).
    pub host_key_type: Option<String>,
    /// Time of the packet carrying the last NEWKEYS: from then on both
    /// directions are encrypted.
    pub encrypted_at: Option<Timestamp>,
    /// Stream offset of the first encrypted byte, client to server.
    pub encrypted_offset_to_server: Option<u64>,
    /// Stream offset of the first encrypted byte, server to client.
    pub encrypted_offset_to_client: Option<u64>,
    /// Lines the server sent before its identification line (RFC 4253
    /// 4.2 allows them), at most 16.
    pub server_banner: Vec<String>,
}

/// One side's SSH_MSG_KEXINIT with its full name-lists.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SshKexInit {
    /// `to_server`: the client's lists; `to_client`: the server's.
    pub direction: Option<Direction>,
    pub kex_algorithms: Vec<String>,
    pub server_host_key_algorithms: Vec<String>,
    pub encryption_algorithms_client_to_server: Vec<String>,
    pub encryption_algorithms_server_to_client: Vec<String>,
    pub mac_algorithms_client_to_server: Vec<String>,
    pub mac_algorithms_server_to_client: Vec<String>,
    pub compression_algorithms_client_to_server: Vec<String>,
    pub compression_algorithms_server_to_client: Vec<String>,
    pub languages_client_to_server: Vec<String>,
    pub languages_server_to_client: Vec<String>,
    pub first_kex_packet_follows: bool,
    /// HASSH of the client's lists or HASSH-server of the server's.
    pub hassh: String,
    pub hassh_algorithms: String,
    /// A name-list was longer than 4 KiB or had more than 1024 names and was
    /// cut.
    pub truncated: bool,
}
