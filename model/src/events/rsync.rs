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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RsyncHandshake {
    pub client_version: Option<String>,
    pub server_version: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RsyncModule {
    pub module: String,
    /// `list`, `pull` or `push`.
    pub action: String,
    pub user: Option<String>,
}
