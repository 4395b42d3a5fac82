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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FtpCommand {
    pub command: String,
    pub arg: String,
    pub reply_code: Option<u16>,
    pub reply_msg: Option<String>,
    pub user: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FtpLogin {
    pub user: String,
    pub password: String,
    pub success: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FtpTransfer {
    /// `upload` or `download`, from the client's point of view.
    pub direction: String,
    pub path: String,
    pub size: u64,
    pub sha256: String,
}
