//! SSH: identification lines, the clear-text key exchange (KEXINIT lists,
//! negotiated algorithms, HASSH, host key) and where encryption begins
//! (NEWKEYS). After both NEWKEYS only the sizes of encrypted segments are
//! counted, to guess the outcome of authentication; once it is decided,
//! `wants_more()` turns false.

mod auth;
mod event;
pub mod parser;

use model::events::ssh::{SshAuth, SshEvent};
use model::{Direction, Timestamp};

use self::auth::AuthGuess;
use self::event::KexLists;
use self::parser::{Line, Packet};
use super::{Ctx, Dissector, Probe, ProtocolSpec};

pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: "ssh",
    ports: &[22],
    probe,
    new,
};

const PREFIX: &[u8] = b"SSH-";
/// Lines a server may send before its identification line, and how many of
/// them the event keeps.
const MAX_BANNER_LINES: usize = 64;
const KEPT_BANNER_LINES: usize = 16;

/// Either side opens with `SSH-`. (A server may send other lines first, but
/// the client never does, so one of the two directions shows it.)
pub fn probe(_dir: Direction, data: &[u8]) -> Probe {
    let n = data.len().min(PREFIX.len());
    match (data.get(..n), PREFIX.get(..n)) {
        (Some(seen), Some(want)) if seen == want => {
            if n == PREFIX.len() {
                Probe::Match
            } else {
                Probe::NeedMore
            }
        }
        _ => Probe::NoMatch,
    }
}

fn new() -> Box<dyn Dissector> {
    Box::new(State::default())
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Waiting for the identification line.
    #[default]
    Identification,
    /// Clear-text binary packets (SSH 2).
    Packets,
    /// After this side's NEWKEYS: nothing readable.
    Encrypted,
    /// SSH 1 was chosen: its packets are not parsed.
    Ssh1,
    /// Not SSH any more (junk, gap, impossible length): nothing parsed.
    Lost,
}

impl Phase {
    fn is_final(self) -> bool {
        matches!(self, Phase::Encrypted | Phase::Ssh1 | Phase::Lost)
    }
}

/// What one direction told us.
#[derive(Default)]
struct Side {
    phase: Phase,
    version: Option<String>,
    version_at: Option<Timestamp>,
    /// Lines before the identification line (server only).
    banner: Vec<String>,
    banner_lines: usize,
    kexinit: Option<KexLists>,
    /// Server only: fingerprint and type of its host key.
    host_key: Option<(String, String)>,
    encrypted_offset: Option<u64>,
    encrypted_at: Option<Timestamp>,
}

#[derive(Default)]
struct State {
    sides: [Side; 2],
    emitted: bool,
    auth: AuthGuess,
    /// Whether segment sizes can tell (SSH 2, no compression); decided at
    /// the first encrypted segment.
    auth_guessable: Option<bool>,
    auth_emitted: bool,
}

impl State {
    fn side(&mut self, dir: Direction) -> &mut Side {
        &mut self.sides[dir.index()]
    }

    /// One line before the identification line, or the line itself.
    fn identification(&mut self, dir: Direction, text: &[u8], ctx: &mut Ctx<'_>) {
        if text.starts_with(PREFIX) {
            let side = self.side(dir);
            side.version = Some(event::lossy(text, parser::MAX_LINE));
            side.version_at = Some(ctx.ts);
            // A side that only speaks SSH 1 sends SSH 1 packets, whatever the other says.
            let only_ssh1 =
                parser::proto_version(text).is_some_and(|v| v.starts_with(b"1.") && v != b"1.99");
            side.phase = if only_ssh1 {
                Phase::Ssh1
            } else {
                Phase::Packets
            };
            self.settle_ssh1(ctx);
            return;
        }
        let side = self.side(dir);
        if dir == Direction::ToClient && side.banner_lines < MAX_BANNER_LINES {
            side.banner_lines += 1;
            if side.banner.len() < KEPT_BANNER_LINES {
                side.banner.push(event::lossy(text, 256));
            }
            return;
        }
        side.phase = Phase::Lost;
        let what = if dir == Direction::ToServer {
            "client did not open with SSH-"
        } else {
            "too many lines before the server's SSH- line"
        };
        ctx.anomaly("ssh", "not_ssh", what, Some(dir));
    }

    /// Once both identification lines are known and SSH 1 was chosen,
    /// nothing more is parsed.
    fn settle_ssh1(&mut self, ctx: &mut Ctx<'_>) {
        if self.version() == Some(1) {
            for side in &mut self.sides {
                if !side.phase.is_final() {
                    side.phase = Phase::Ssh1;
                }
            }
            self.emit(ctx);
        }
    }

    fn version(&self) -> Option<u8> {
        let client = self.sides[0].version.as_deref()?;
        let server = self.sides[1].version.as_deref()?;
        event::protocol_major(client, server)
    }

    fn packet(&mut self, dir: Direction, payload: &[u8], end_offset: u64, ctx: &mut Ctx<'_>) {
        match payload.first() {
            Some(&parser::MSG_KEXINIT) => {
                if self.side(dir).kexinit.is_some() {
                    return; // A second KEXINIT before NEWKEYS: keep the first.
                }
                match parser::kexinit(payload) {
                    Some(kex) => {
                        let lists = KexLists::new(&kex);
                        if lists.truncated {
                            ctx.anomaly(
                                "ssh",
                                "truncated",
                                "KEXINIT name-list over the cap",
                                Some(dir),
                            );
                        }
                        ctx.emit(SshEvent::KexInit(Box::new(lists.event(dir))));
                        self.side(dir).kexinit = Some(lists);
                    }
                    None => ctx.anomaly(
                        "ssh",
                        "malformed",
                        "KEXINIT name-lists overrun the packet",
                        Some(dir),
                    ),
                }
            }
            Some(&(parser::MSG_KEX_REPLY | parser::MSG_KEX_DH_GEX_REPLY))
                if dir == Direction::ToClient && self.side(dir).host_key.is_none() =>
            {
                if let Some((key, kind)) = parser::host_key(payload) {
                    self.side(dir).host_key =
                        Some((event::fingerprint(key), event::lossy(kind, 64)));
                }
            }
            Some(&parser::MSG_NEWKEYS) => {
                let side = self.side(dir);
                side.phase = Phase::Encrypted;
                side.encrypted_offset = Some(end_offset);
                side.encrypted_at = Some(ctx.ts);
                if self.sides.iter().all(|s| s.phase == Phase::Encrypted) {
                    self.emit(ctx);
                }
            }
            _ => {}
        }
    }

    /// Bytes after this side's NEWKEYS: only their count is used.
    fn encrypted(&mut self, dir: Direction, len: usize, ctx: &mut Ctx<'_>) {
        if self.auth_guessable.is_none() {
            // Decided once both identification lines are known (a half-duplex
            // capture never knows: nothing is guessed).
            let Some(version) = self.version() else {
                return;
            };
            // Compressed packets have no telling sizes (Zeek skips them too).
            let compressed = match (&self.sides[0].kexinit, &self.sides[1].kexinit) {
                (Some(c), Some(s)) => {
                    event::compression(c, s).any(|alg| alg.is_some_and(|a| a.starts_with("zlib")))
                }
                _ => false,
            };
            self.auth_guessable = Some(version == 2 && !compressed);
        }
        if self.auth_guessable == Some(true) && self.auth.segment(dir, len) {
            self.emit_auth(ctx);
        }
    }

    fn emit_auth(&mut self, ctx: &mut Ctx<'_>) {
        if !self.auth_emitted {
            self.auth_emitted = true;
            ctx.emit(SshEvent::Auth(SshAuth {
                success: self.auth.success,
                attempts: self.auth.attempts,
            }));
        }
    }

    fn emit(&mut self, ctx: &mut Ctx<'_>) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        let [client, server] = &self.sides;
        let ts = [client.version_at, server.version_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(ctx.ts);
        let handshake = event::handshake(
            event::SideView {
                version: client.version.as_deref(),
                kexinit: client.kexinit.as_ref(),
                encrypted_offset: client.encrypted_offset,
                encrypted_at: client.encrypted_at,
            },
            event::SideView {
                version: server.version.as_deref(),
                kexinit: server.kexinit.as_ref(),
                encrypted_offset: server.encrypted_offset,
                encrypted_at: server.encrypted_at,
            },
            &server.banner,
        );
        let mut handshake = handshake;
        if let Some((fingerprint, kind)) = &server.host_key {
            handshake.host_key_fingerprint = Some(fingerprint.clone());
            handshake.host_key_type = Some(kind.clone());
        }
        ctx.emit_at(ts, SshEvent::Handshake(Box::new(handshake)));
    }
}

impl Dissector for State {
    fn name(&self) -> &'static str {
        "ssh"
    }

    fn parse(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let start = ctx.offsets[dir.index()];
        let mut pos = 0usize;
        loop {
            let rest = data.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                return pos;
            }
            match self.side(dir).phase {
                Phase::Identification => match parser::line(rest) {
                    Line::Complete { text, consumed } => {
                        pos += consumed;
                        self.identification(dir, text, ctx);
                    }
                    Line::Incomplete => {
                        // A client must open with `SSH-`: junk is not worth waiting for.
                        if dir == Direction::ToServer && probe(dir, rest) == Probe::NoMatch {
                            self.identification(dir, rest, ctx);
                        }
                        return pos;
                    }
                    Line::TooLong => {
                        self.side(dir).phase = Phase::Lost;
                        ctx.anomaly(
                            "ssh",
                            "line_too_long",
                            "no identification line within 1024 bytes",
                            Some(dir),
                        );
                    }
                },
                Phase::Packets => {
                    match parser::packet(rest) {
                        Packet::Complete { payload, consumed } => {
                            pos += consumed;
                            let end = start.saturating_add(pos as u64);
                            self.packet(dir, payload, end, ctx);
                        }
                        Packet::Incomplete => return pos,
                        Packet::BadLength {
                            packet_length,
                            padding_length,
                        } => {
                            self.side(dir).phase = Phase::Lost;
                            ctx.anomaly(
                            "ssh",
                            "bad_length",
                            format!("packet_length {packet_length}, padding_length {padding_length:?}"),
                            Some(dir),
                        );
                        }
                    }
                }
                Phase::Encrypted => {
                    self.encrypted(dir, rest.len(), ctx);
                    return data.len();
                }
                Phase::Ssh1 | Phase::Lost => return data.len(),
            }
        }
    }

    fn gap(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>) {
        self.auth.gave_up = true;
        let side = self.side(dir);
        if !side.phase.is_final() {
            side.phase = Phase::Lost;
            // `len` 0: a flow picked up mid-stream, or a message the driver
            // already reported as oversized; nothing new to say.
            if len == 0 {
                return;
            }
            ctx.anomaly(
                "ssh",
                "gap",
                format!("{len} bytes missing before encryption began"),
                Some(dir),
            );
        }
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        let seen = self
            .sides
            .iter()
            .any(|s| s.version.is_some() || s.kexinit.is_some());
        if seen {
            self.emit(ctx);
        }
        if self.sides.iter().all(|s| s.phase == Phase::Encrypted)
            && self.auth_guessable == Some(true)
        {
            self.emit_auth(ctx);
        }
    }

    /// True until both sides are encrypted, then while authentication is
    /// still being guessed (segment sizes only: cheap).
    fn wants_more(&self) -> bool {
        if !self.sides.iter().all(|s| s.phase.is_final()) {
            return true;
        }
        self.sides.iter().all(|s| s.phase == Phase::Encrypted)
            && !self.auth.done()
            && self.auth_guessable != Some(false)
    }
}

#[cfg(test)]
mod tests;
