//! FTP control-channel commands, logins and file transfers.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FtpEvent {
    #[serde(rename = "ftp.command")]
    Command(FtpCommand),
    #[serde(rename = "ftp.login")]
    Login(FtpLogin),
    #[serde(rename = "ftp.transfer")]
    Transfer(FtpTransfer),
}

crate::protocol_events!(FtpEvent, Ftp {
    Command => "ftp.command",
    Login => "ftp.login",
    Transfer => "ftp.transfer",
});

/// One command with its final reply, stamped with the command's time.
/// The server's greeting is the pseudo-command `<init>`; a reply no
/// command was waiting for is `<unsolicited>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FtpCommand {
    pub command: String,
    pub arg: String,
    /// Final (non-1xx) reply code; null when the reply had no numeric code
    /// or never came.
    pub reply_code: Option<u16>,
    /// Text of the reply's last line (the whole line when it had no code).
    pub reply_msg: Option<String>,
    /// The user in effect (the last `USER` argument).
    pub user: Option<String>,
    /// For commands naming a file or directory: the argument resolved
    /// against the tracked working directory (`./…` while it is unknown).
    #[serde(default)]
    pub path: Option<String>,
    /// The 1xx reply that preceded the final one (`150 Opening …`).
    #[serde(default)]
    pub preliminary_code: Option<u16>,
    #[serde(default)]
    pub preliminary_msg: Option<String>,
    /// All lines of a multi-line final reply, joined by `\n`; null for
    /// single-line replies.
    #[serde(default)]
    pub reply_text: Option<String>,
    /// The data connection a `PORT`/`EPRT`/`PASV`/`EPSV` announced.
    #[serde(default)]
    pub data_channel: Option<FtpDataChannel>,
    /// Size the server announced: `(N bytes)` in a 150 reply to `RETR`,
    /// or a 213 reply to `SIZE`.
    #[serde(default)]
    pub file_size: Option<u64>,
    /// True when `reply_text` was cut at 4 KiB.
    #[serde(default)]
    pub truncated: bool,
}

/// Where a data connection is expected. `server_*` is the side that
/// listens: the FTP server after `PASV`/`EPSV`, the FTP client after
/// `PORT`/`EPRT`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FtpDataChannel {
    pub passive: bool,
    pub client_ip: IpAddr,
    pub server_ip: IpAddr,
    pub server_port: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FtpLogin {
    pub user: String,
    pub password: String,
    pub success: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FtpTransfer {
    /// `upload`, `download` or `listing`, from the client's point of view;
    /// `unknown` for a data connection no command was seen for.
    pub direction: String,
    /// The command's argument resolved against the working directory.
    pub path: Option<String>,
    /// Bytes seen on the data connection; null when it was not captured.
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// `RETR`, `STOR`, `STOU`, `APPE`, `LIST`, `NLST`, `MLSD`.
    #[serde(default)]
    pub command: Option<String>,
    /// The command's raw argument.
    #[serde(default)]
    pub arg: Option<String>,
    /// Community ID of the control connection.
    #[serde(default)]
    pub control_flow: String,
    /// Community ID of the data connection, when it was seen.
    #[serde(default)]
    pub data_flow: Option<String>,
    /// The transfer's final reply on the control connection (226, 426, …).
    #[serde(default)]
    pub reply_code: Option<u16>,
    #[serde(default)]
    pub reply_msg: Option<String>,
    /// Size the server announced in its 150 reply.
    #[serde(default)]
    pub expected_size: Option<u64>,
    /// Bytes of the data connection that were never captured: when not
    /// zero, `sha256` is not the file's hash.
    #[serde(default)]
    pub missing_bytes: u64,
    /// The kept file's name in the artifact store (its SHA-256), when the
    /// bytes were kept: `kyoka`'s data folder, or `GET /api/v1/artifacts/{name}`.
    #[serde(default)]
    pub artifact: Option<String>,
    pub passive: Option<bool>,
    pub user: Option<String>,
}
