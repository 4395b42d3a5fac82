//! What a normaliser makes of one service log line.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The service a line came from. Names match [`model::policy::Endpoint::service`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Ftp,
    Ssh,
    Rsync,
    Mysql,
    Redis,
    Mongo,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Ftp => "ftp",
            Service::Ssh => "ssh",
            Service::Rsync => "rsync",
            Service::Mysql => "mysql",
            Service::Redis => "redis",
            Service::Mongo => "mongo",
        }
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A client connected.
    Connect,
    /// A login was refused (wrong password, unknown user, refused key).
    LoginFailed,
    LoginSucceeded,
    /// sshd's `Invalid user` (a `login_failed` line follows it).
    InvalidUser,
    /// A login attempt whose outcome the log does not say (Redis `AUTH`).
    Auth,
    Upload,
    Download,
    /// rsync's module listing.
    ModuleList,
    /// An SQL statement (`detail` is its text).
    Query,
    /// A command (`detail`: Redis command and arguments, MongoDB command name and namespace).
    Command,
}

/// One typed fact from a service log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub service: Service,
    pub kind: Kind,
    /// The client: who to flag.
    pub source: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// File, statement or command, as logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Observation {
    pub fn new(service: Service, kind: Kind, source: IpAddr) -> Observation {
        Observation {
            service,
            kind,
            source,
            user: None,
            detail: None,
        }
    }

    pub fn user(mut self, user: impl Into<String>) -> Observation {
        self.user = Some(user.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Observation {
        self.detail = Some(detail.into());
        self
    }
}
