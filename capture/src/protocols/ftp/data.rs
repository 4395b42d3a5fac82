//! FTP data connections: the `ftp-data` dissector streams a connection's
//! bytes into an artifact, and a [`Transfer`] shared with the control
//! connection puts the command, the final reply and the bytes together.
//!
//! Whichever side learns the last fact emits `ftp.transfer`: the data
//! connection when it closes after the final reply (its event carries the
//! data flow), the control connection when the final reply comes after the
//! data connection closed or when no data connection was ever seen.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use model::events::ftp::{FtpEvent, FtpTransfer};
use model::{Direction, Timestamp};

use crate::artifact::{Artifact, ArtifactWriter};
use crate::protocols::{Ctx, Dissector};

pub type Shared = Arc<Mutex<Transfer>>;

/// Locks a transfer; a poisoned lock is still usable (its data is plain).
pub fn lock(shared: &Shared) -> MutexGuard<'_, Transfer> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The transfer command a data connection serves.
#[derive(Clone, Debug)]
pub struct TransferCommand {
    pub verb: String,
    pub arg: String,
    pub path: Option<String>,
    /// When the command was sent: the transfer's `ts`.
    pub ts: Timestamp,
}

#[derive(Debug, Default)]
pub enum DataSide {
    #[default]
    NotSeen,
    Open {
        flow: String,
    },
    Closed {
        flow: String,
        artifact: Artifact,
        missing: u64,
    },
}

/// What the control and the data connection know about one transfer.
#[derive(Debug, Default)]
pub struct Transfer {
    pub control_flow: String,
    pub passive: bool,
    pub user: Option<String>,
    pub command: Option<TransferCommand>,
    pub expected_size: Option<u64>,
    /// The final reply, once it came: `(code, last line)`.
    pub reply: Option<(Option<u16>, Option<String>)>,
    pub control_closed: bool,
    pub data: DataSide,
    pub emitted: bool,
}

impl Transfer {
    pub fn new(control_flow: &str, passive: bool) -> Shared {
        Arc::new(Mutex::new(Transfer {
            control_flow: control_flow.to_string(),
            passive,
            ..Transfer::default()
        }))
    }

    /// Emits `ftp.transfer` once everything that can still be learned is
    /// known.
    pub fn emit_if_complete(&mut self, ctx: &mut Ctx<'_>) {
        if self.emitted {
            return;
        }
        let ready = match self.data {
            // A data connection that closed before any command named it
            // will not be claimed later.
            DataSide::Closed { .. } => {
                self.reply.is_some() || self.control_closed || self.command.is_none()
            }
            DataSide::NotSeen => {
                self.command.is_some() && (self.reply.is_some() || self.control_closed)
            }
            DataSide::Open { .. } => false,
        };
        if ready {
            self.emitted = true;
            let ts = self.command.as_ref().map_or(ctx.ts, |c| c.ts);
            ctx.emit_at(ts, FtpEvent::Transfer(self.event()));
        }
    }

    pub fn event(&self) -> FtpTransfer {
        let (data_flow, size, sha256, missing, artifact) = match &self.data {
            DataSide::NotSeen => (None, None, None, 0, None),
            DataSide::Open { flow } => (Some(flow.clone()), None, None, 0, None),
            DataSide::Closed {
                flow,
                artifact,
                missing,
            } => (
                Some(flow.clone()),
                Some(artifact.size),
                Some(artifact.sha256.clone()),
                *missing,
                artifact.kept.then(|| artifact.sha256.clone()),
            ),
        };
        let command = self.command.as_ref();
        FtpTransfer {
            direction: direction_of(command.map(|c| c.verb.as_str())).to_string(),
            path: command.and_then(|c| c.path.clone()),
            size,
            sha256,
            command: command.map(|c| c.verb.clone()),
            arg: command.map(|c| c.arg.clone()),
            control_flow: self.control_flow.clone(),
            data_flow,
            reply_code: self.reply.as_ref().and_then(|r| r.0),
            reply_msg: self.reply.as_ref().and_then(|r| r.1.clone()),
            expected_size: self.expected_size,
            missing_bytes: missing,
            artifact,
            passive: Some(self.passive),
            user: self.user.clone(),
        }
    }
}

/// Commands that move bytes over a data connection.
pub fn is_transfer_command(verb: &str) -> bool {
    matches!(
        verb,
        "RETR" | "STOR" | "STOU" | "APPE" | "LIST" | "NLST" | "MLSD"
    )
}

fn direction_of(verb: Option<&str>) -> &'static str {
    match verb {
        Some("RETR") => "download",
        Some("STOR" | "STOU" | "APPE") => "upload",
        Some("LIST" | "NLST" | "MLSD") => "listing",
        _ => "unknown",
    }
}

/// The `ftp-data` dissector: every byte of either direction goes into one
/// artifact (a transfer uses one direction; bytes the other way are kept
/// too rather than lost).
pub struct DataChannel {
    shared: Shared,
    writer: Option<ArtifactWriter>,
    bytes: u64,
    missing: u64,
    /// Whether this connection is the transfer's data connection; `None`
    /// before it was seen. A second connection to the same announced
    /// port becomes a transfer record of its own.
    owner: Option<bool>,
}

impl DataChannel {
    pub fn new(shared: Shared) -> DataChannel {
        DataChannel {
            shared,
            writer: None,
            bytes: 0,
            missing: 0,
            owner: None,
        }
    }

    fn claim(&mut self, ctx: &Ctx<'_>) -> bool {
        if let Some(owner) = self.owner {
            return owner;
        }
        let mut t = lock(&self.shared);
        let owner = matches!(t.data, DataSide::NotSeen) && !t.emitted;
        if owner {
            t.data = DataSide::Open {
                flow: ctx.flow.id.clone(),
            };
        }
        self.owner = Some(owner);
        owner
    }
}

impl Dissector for DataChannel {
    fn name(&self) -> &'static str {
        "ftp-data"
    }

    fn parse(&mut self, _dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        self.claim(ctx);
        self.writer
            .get_or_insert_with(|| ctx.artifact())
            .write(data);
        data.len()
    }

    fn gap(&mut self, _dir: Direction, len: u64, ctx: &mut Ctx<'_>) {
        self.claim(ctx);
        self.missing = self.missing.saturating_add(len);
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        let owner = self.claim(ctx);
        let artifact = match self.writer.take() {
            Some(writer) => writer.finish(),
            None => ctx.artifact().finish(),
        };
        let mut t = lock(&self.shared);
        let data = DataSide::Closed {
            flow: ctx.flow.id.clone(),
            artifact,
            missing: self.missing,
        };
        if owner {
            t.data = data;
            t.emit_if_complete(ctx);
        } else if t.emitted && matches!(t.data, DataSide::NotSeen) && self.bytes == 0 {
            // An empty data connection that closed after the final reply
            // (and so after the transfer was reported): nothing to add.
        } else {
            // Not the transfer's connection: report it with the command it
            // most likely served, without touching the shared record.
            let mut own = Transfer {
                control_flow: t.control_flow.clone(),
                passive: t.passive,
                user: t.user.clone(),
                command: t.command.clone(),
                data,
                ..Transfer::default()
            };
            drop(t);
            own.control_closed = true;
            own.emit_if_complete(ctx);
        }
    }
}
