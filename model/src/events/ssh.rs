use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SshEvent {
    #[serde(rename = "ssh.handshake")]
    Handshake(SshHandshake),
}

crate::protocol_events!(SshEvent, Ssh {
    Handshake => "ssh.handshake",
});

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SshHandshake {
    pub client_version: Option<String>,
    pub server_version: Option<String>,
    pub kex_alg: Option<String>,
    pub host_key_alg: Option<String>,
    pub cipher_alg: Option<String>,
    pub mac_alg: Option<String>,
    pub compression_alg: Option<String>,
    pub hassh: Option<String>,
    pub hassh_server: Option<String>,
}
