//! FTP control connections (RFC 959, 2228, 2428, 3659) on any port, and the
//! data connections they announce.
//!
//! Every command becomes `ftp.command` when its final reply arrives (1xx
//! replies are kept as its preliminary reply), stamped with the command's
//! time. `USER`/`PASS` give `ftp.login`. `PORT`/`EPRT`/`PASV`/`EPSV` announce
//! an [`Expectation`] whose `ftp-data` dissector ([`data::DataChannel`])
//! shares a [`data::Transfer`] with this connection, so that the transfer
//! command, its final reply and the bytes meet in one `ftp.transfer`.

mod data;
mod parser;

use std::collections::VecDeque;
use std::net::IpAddr;

use model::events::ftp::{FtpCommand, FtpDataChannel, FtpEvent, FtpLogin};
use model::{Direction, Timestamp};

use self::data::{lock, DataChannel, Shared, Transfer, TransferCommand};
use self::parser::{ReplyLine, MAX_LINE};
use super::{Ctx, Dissector, Expectation, Probe, ProtocolSpec};

pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: "ftp",
    ports: &[21, 2121],
    probe,
    new,
};

/// Commands sent and not answered yet; beyond this the oldest is reported
/// without a reply (a client flooding commands must not grow memory).
const MAX_PENDING_COMMANDS: usize = 64;
/// Transfers waiting for their data connection or final reply.
const MAX_OPEN_TRANSFERS: usize = 64;
/// Bytes of a multi-line reply kept in `reply_text`.
const MAX_REPLY_TEXT: usize = 4096;
/// How long an announced data connection is waited for (as Zeek does).
const EXPECT_MICROS: i64 = 300 * 1_000_000;

/// Recognises a server greeting (`220 `/`220-`, not SMTP's) or a client's
/// typical first command (`USER `, `AUTH TLS`/`AUTH SSL`, `FEAT`).
pub fn probe(dir: Direction, data: &[u8]) -> Probe {
    match dir {
        Direction::ToClient => probe_greeting(data),
        Direction::ToServer => probe_first_command(data),
    }
}

/// Bytes of the first line a probe looks at before deciding.
const PROBE_LINE: usize = 256;

fn probe_greeting(data: &[u8]) -> Probe {
    if data.len() < 4 {
        return if b"220 ".starts_with(data) || b"220-".starts_with(data) {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    if !(data.starts_with(b"220 ") || data.starts_with(b"220-")) {
        return Probe::NoMatch;
    }
    let line = match memchr::memchr(b'\n', data) {
        Some(end) => data.get(..end).unwrap_or(data),
        None if data.len() < PROBE_LINE => return Probe::NeedMore,
        None => data.get(..PROBE_LINE).unwrap_or(data),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !printable(line) || contains_ignore_case(line, b"SMTP") {
        return Probe::NoMatch;
    }
    Probe::Match
}

fn probe_first_command(data: &[u8]) -> Probe {
    const OPENINGS: &[&[u8]] = &[b"USER ", b"AUTH TLS", b"AUTH SSL", b"FEAT\r\n", b"FEAT\n"];
    let mut verdict = Probe::NoMatch;
    for opening in OPENINGS {
        let n = data.len().min(opening.len());
        let (Some(have), Some(want)) = (data.get(..n), opening.get(..n)) else {
            continue;
        };
        if !have.eq_ignore_ascii_case(want) {
            continue;
        }
        if n < opening.len() {
            verdict = Probe::NeedMore;
            continue;
        }
        // The whole first line must be printable text.
        let line = match memchr::memchr(b'\n', data) {
            Some(end) => data.get(..end).unwrap_or(data),
            None if data.len() < PROBE_LINE => return Probe::NeedMore,
            None => return Probe::NoMatch,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        return if printable(line) {
            Probe::Match
        } else {
            Probe::NoMatch
        };
    }
    verdict
}

fn printable(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn new() -> Box<dyn Dissector> {
    Box::new(Control::default())
}

/// A command waiting for its final reply.
struct Pending {
    ts: Timestamp,
    verb: String,
    arg: String,
    user: Option<String>,
    path: Option<String>,
    preliminary: Option<(u16, String)>,
    data_channel: Option<FtpDataChannel>,
    file_size: Option<u64>,
    /// The data channel a `PASV`/`EPSV` opens once its reply names it.
    channel: Option<Shared>,
    /// The transfer a `RETR`/`STOR`/`LIST`/… starts.
    transfer: Option<Shared>,
}

impl Pending {
    fn new(ts: Timestamp, verb: &str) -> Pending {
        Pending {
            ts,
            verb: verb.to_string(),
            arg: String::new(),
            user: None,
            path: None,
            preliminary: None,
            data_channel: None,
            file_size: None,
            channel: None,
            transfer: None,
        }
    }
}

/// A multi-line reply being read.
struct MultiLine {
    code: u16,
    text: String,
    truncated: bool,
}

impl MultiLine {
    fn push(&mut self, line: &[u8]) {
        if self.truncated {
            return;
        }
        let line = parser::text(line);
        if self.text.len() + line.len() + 1 > MAX_REPLY_TEXT {
            self.truncated = true;
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(&line);
    }
}

/// Per-flow state of a control connection.
struct Control {
    pending: VecDeque<Pending>,
    multiline: Option<MultiLine>,
    /// Skipping to the next line (after a gap or an overlong line).
    skipping: [bool; 2],
    /// The next bytes follow a gap: skip them unless they start a line.
    after_gap: [bool; 2],
    greeted: bool,
    user: Option<String>,
    /// `PASS` answered 332 (account needed): the login ends with `ACCT`.
    awaiting_acct: Option<(String, String)>,
    /// Working directory, `.` (the login directory) until a `PWD` or an
    /// absolute `CWD` says more.
    cwd: String,
    /// Announced data channel not claimed by a transfer command yet.
    channel: Option<Shared>,
    transfers: Vec<Shared>,
    /// `AUTH TLS` succeeded: the rest is ciphertext.
    encrypted: bool,
    /// A gap may have eaten commands or replies: match replies to commands
    /// by their codes until the queue drains.
    desync: bool,
}

impl Default for Control {
    fn default() -> Control {
        Control {
            pending: VecDeque::new(),
            multiline: None,
            skipping: [false; 2],
            after_gap: [false; 2],
            greeted: false,
            user: None,
            awaiting_acct: None,
            cwd: ".".to_string(),
            channel: None,
            transfers: Vec::new(),
            encrypted: false,
            desync: false,
        }
    }
}

/// Reports an anomaly at `pos` bytes into the data of this `parse` call, so
/// that the offset does not depend on how the stream was chunked.
fn anomaly_at(ctx: &mut Ctx<'_>, dir: Direction, pos: usize, kind: &str, detail: &str) {
    let i = dir.index();
    let saved = ctx.offsets[i];
    ctx.offsets[i] = saved.saturating_add(pos as u64);
    ctx.anomaly("ftp", kind, detail, Some(dir));
    ctx.offsets[i] = saved;
}

impl Dissector for Control {
    fn name(&self) -> &'static str {
        "ftp"
    }

    fn parse(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let i = dir.index();
        if self.encrypted || data.is_empty() {
            return data.len();
        }
        if std::mem::take(&mut self.after_gap[i]) && !looks_like_line_start(dir, data) {
            self.skipping[i] = true;
        }
        let mut pos = 0;
        while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
            if self.skipping[i] {
                match memchr::memchr(b'\n', rest) {
                    Some(end) => {
                        self.skipping[i] = false;
                        pos += end + 1;
                        continue;
                    }
                    None => return data.len(),
                }
            }
            match parser::next_line(rest) {
                Some((line, used)) => {
                    if line.len() > MAX_LINE {
                        anomaly_at(
                            ctx,
                            dir,
                            pos,
                            "line_too_long",
                            "line longer than 4096 bytes; skipped",
                        );
                    } else {
                        self.line(dir, line, pos, ctx);
                    }
                    pos += used;
                    if self.encrypted {
                        return data.len();
                    }
                }
                None => {
                    // +1: a CR may still be waiting for its LF.
                    if rest.len() > MAX_LINE + 1 {
                        anomaly_at(
                            ctx,
                            dir,
                            pos,
                            "line_too_long",
                            "line longer than 4096 bytes; skipped",
                        );
                        self.skipping[i] = true;
                        return data.len();
                    }
                    break;
                }
            }
        }
        pos
    }

    fn gap(&mut self, dir: Direction, _len: u64, _ctx: &mut Ctx<'_>) {
        let i = dir.index();
        self.skipping[i] = false;
        self.after_gap[i] = true;
        if dir == Direction::ToClient {
            self.multiline = None;
        }
        self.desync = true;
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(m) = self.multiline.take() {
            // Never terminated: what was read is still the reply.
            let last = m.text.rsplit('\n').next().unwrap_or("").to_string();
            self.reply(Some(m.code), last, Some((m.text, m.truncated)), ctx);
        }
        while let Some(p) = self.pending.pop_front() {
            self.emit_command(p, None, None, None, ctx);
        }
        let channel = self.channel.take();
        for t in self.transfers.drain(..).chain(channel) {
            let mut t = lock(&t);
            t.control_closed = true;
            t.emit_if_complete(ctx);
        }
    }

    fn wants_more(&self) -> bool {
        !self.encrypted
    }
}

/// After a gap: do these bytes plausibly start a command or a reply?
fn looks_like_line_start(dir: Direction, data: &[u8]) -> bool {
    match dir {
        Direction::ToClient => {
            parser::reply_code(data).is_some()
                && matches!(data.get(3), Some(b' ' | b'-' | b'\r' | b'\n'))
        }
        Direction::ToServer => {
            let verb_len = data
                .iter()
                .position(|b| !b.is_ascii_alphabetic())
                .unwrap_or(data.len());
            (3..=4).contains(&verb_len) && matches!(data.get(verb_len), Some(b' ' | b'\r' | b'\n'))
        }
    }
}

/// Commands whose argument names a file or directory.
fn names_path(verb: &str) -> bool {
    matches!(
        verb,
        "RETR"
            | "STOR"
            | "STOU"
            | "APPE"
            | "DELE"
            | "MKD"
            | "XMKD"
            | "RMD"
            | "XRMD"
            | "RNFR"
            | "RNTO"
            | "SIZE"
            | "MDTM"
            | "CWD"
            | "XCWD"
            | "MLST"
    )
}

impl Control {
    fn line(&mut self, dir: Direction, line: &[u8], pos: usize, ctx: &mut Ctx<'_>) {
        match dir {
            Direction::ToServer => self.command(line, pos, ctx),
            Direction::ToClient => self.reply_line(line, pos, ctx),
        }
    }

    fn command(&mut self, line: &[u8], pos: usize, ctx: &mut Ctx<'_>) {
        if line.is_empty() {
            return;
        }
        let Some(cmd) = parser::parse_command(line) else {
            anomaly_at(
                ctx,
                Direction::ToServer,
                pos,
                "bad_command",
                "line is not an FTP command",
            );
            return;
        };
        let verb = String::from_utf8_lossy(cmd.verb).to_ascii_uppercase();
        let arg = parser::text(cmd.arg);
        if verb == "USER" {
            self.user = Some(arg.clone());
        }
        let mut p = Pending::new(ctx.ts, &verb);
        p.user = self.user.clone();
        if names_path(&verb) && !arg.is_empty() {
            p.path = Some(parser::resolve(&self.cwd, &arg));
        }
        match verb.as_str() {
            "PORT" | "EPRT" => {
                let parsed = if verb == "PORT" {
                    parser::parse_host_port(cmd.arg.trim_ascii())
                } else {
                    parser::parse_extended(cmd.arg.trim_ascii())
                        .map(|(ip, port)| (ip.unwrap_or(ctx.flow.src_ip), port))
                };
                match parsed {
                    Some((ip, port)) => {
                        let channel = Transfer::new(&ctx.flow.id, false);
                        p.data_channel = Some(self.announce(&channel, false, ip, port, ctx));
                        self.channel = Some(channel);
                    }
                    None => anomaly_at(
                        ctx,
                        Direction::ToServer,
                        pos,
                        "bad_address",
                        "unparsable PORT/EPRT argument",
                    ),
                }
            }
            "PASV" | "EPSV" => {
                let channel = Transfer::new(&ctx.flow.id, true);
                p.channel = Some(channel.clone());
                self.channel = Some(channel);
            }
            v if data::is_transfer_command(v) => {
                let transfer = match self.channel.take() {
                    Some(channel) => channel,
                    None => {
                        // No PORT or PASV: the server connects from its
                        // port 20 to the client's control port.
                        let channel = Transfer::new(&ctx.flow.id, false);
                        let (ip, port) = (ctx.flow.src_ip, ctx.flow.src_port);
                        self.announce(&channel, false, ip, port, ctx);
                        channel
                    }
                };
                {
                    let mut t = lock(&transfer);
                    t.user = self.user.clone();
                    t.command = Some(TransferCommand {
                        verb: verb.clone(),
                        arg: arg.clone(),
                        path: p.path.clone(),
                        ts: ctx.ts,
                    });
                }
                self.transfers.retain(|t| !lock(t).emitted);
                if self.transfers.len() >= MAX_OPEN_TRANSFERS {
                    anomaly_at(
                        ctx,
                        Direction::ToServer,
                        pos,
                        "too_many_transfers",
                        "oldest open transfer dropped",
                    );
                    self.transfers.remove(0);
                }
                self.transfers.push(transfer.clone());
                p.transfer = Some(transfer);
            }
            _ => {}
        }
        p.arg = arg;
        self.pending.push_back(p);
        if self.pending.len() > MAX_PENDING_COMMANDS {
            anomaly_at(
                ctx,
                Direction::ToServer,
                pos,
                "too_many_pending_commands",
                "oldest reported without reply",
            );
            if let Some(oldest) = self.pending.pop_front() {
                self.emit_command(oldest, None, None, None, ctx);
            }
        }
    }

    /// Announces the data connection `server_ip:server_port` (the side
    /// that listens). Behind NAT the address in the command or reply is not
    /// the one seen on the wire, so the control connection's address is
    /// expected too.
    fn announce(
        &mut self,
        channel: &Shared,
        passive: bool,
        server_ip: IpAddr,
        server_port: u16,
        ctx: &mut Ctx<'_>,
    ) -> FtpDataChannel {
        let flow = ctx.flow;
        // PASV: the FTP client connects to the FTP server; PORT: the other
        // way round.
        let (client_ip, listener_seen) = if passive {
            (flow.src_ip, flow.dst_ip)
        } else {
            (flow.dst_ip, flow.src_ip)
        };
        let server_ip = if server_ip.is_unspecified() {
            listener_seen
        } else {
            server_ip
        };
        let expires = Timestamp(ctx.ts.0.saturating_add(EXPECT_MICROS));
        let mut targets = vec![server_ip];
        if listener_seen != server_ip {
            targets.push(listener_seen);
        }
        for ip in targets {
            ctx.expect(Expectation {
                server_ip: ip,
                server_port,
                client_ip: Some(client_ip),
                dissector: Box::new(DataChannel::new(channel.clone())),
                parent: flow.id.clone(),
                expires,
            });
        }
        FtpDataChannel {
            passive,
            client_ip,
            server_ip,
            server_port,
        }
    }

    fn reply_line(&mut self, line: &[u8], pos: usize, ctx: &mut Ctx<'_>) {
        let parsed = parser::parse_reply_line(line);
        if let Some(m) = self.multiline.as_mut() {
            match parsed {
                ReplyLine::Last { code, text } => {
                    if code != m.code {
                        anomaly_at(
                            ctx,
                            Direction::ToClient,
                            pos,
                            "unterminated_multiline_reply",
                            "multi-line reply ended by a different code",
                        );
                    }
                    m.push(line);
                    if let Some(m) = self.multiline.take() {
                        self.reply(
                            Some(code),
                            parser::text(text),
                            Some((m.text, m.truncated)),
                            ctx,
                        );
                    }
                }
                _ => m.push(line),
            }
            return;
        }
        match parsed {
            ReplyLine::First { code, .. } => {
                let mut m = MultiLine {
                    code,
                    text: String::new(),
                    truncated: false,
                };
                m.push(line);
                self.multiline = Some(m);
            }
            ReplyLine::Last { code, text } => self.reply(Some(code), parser::text(text), None, ctx),
            ReplyLine::Other(other) => {
                if other.trim_ascii().is_empty() {
                    return;
                }
                anomaly_at(
                    ctx,
                    Direction::ToClient,
                    pos,
                    "bad_reply",
                    "reply line without a numeric code",
                );
                self.reply(None, parser::text(other), None, ctx);
            }
        }
    }

    /// A complete reply: 1xx are preliminary, anything else is final.
    fn reply(
        &mut self,
        code: Option<u16>,
        msg: String,
        full: Option<(String, bool)>,
        ctx: &mut Ctx<'_>,
    ) {
        if !self.greeted {
            self.greeted = true;
            // The greeting, even when the client spoke first.
            if matches!(code, Some(120 | 220 | 421)) || self.pending.is_empty() {
                self.pending.push_front(Pending::new(ctx.ts, "<init>"));
            }
        }
        if let Some(code @ 100..=199) = code {
            // After a gap, the command a 1xx answers is the oldest one that
            // can have one (the ones before it may have lost their reply).
            let at = match self.desync {
                true => self
                    .pending
                    .iter()
                    .position(|p| fits_preliminary(&p.verb))
                    .unwrap_or(0),
                false => 0,
            };
            if let Some(p) = self.pending.get_mut(at) {
                if let Some(size) = parser::announced_size(msg.as_bytes()) {
                    p.file_size = Some(size);
                    if let Some(t) = &p.transfer {
                        lock(t).expected_size = Some(size);
                    }
                }
                p.preliminary = Some((code, msg));
                return;
            }
        }
        let mut p = match self.take_pending(code, ctx) {
            Some(p) => p,
            None => Pending::new(ctx.ts, "<unsolicited>"),
        };
        let login = self.apply(&mut p, code, &msg, ctx);
        let transfer = p.transfer.clone();
        self.emit_command(p, code, Some(msg.clone()), full, ctx);
        if let Some(login) = login {
            ctx.emit(FtpEvent::Login(login));
        }
        if let Some(t) = transfer {
            let mut t = lock(&t);
            t.reply = Some((code, Some(msg)));
            t.emit_if_complete(ctx);
        }
    }

    /// The command a final reply answers: the oldest, unless a gap may
    /// have eaten some, then the oldest the code fits.
    fn take_pending(&mut self, code: Option<u16>, ctx: &mut Ctx<'_>) -> Option<Pending> {
        let code = match code {
            Some(code) if self.desync => code,
            _ => return self.pending.pop_front(),
        };
        let fits = self.pending.iter().position(|p| fits(&p.verb, code));
        let taken = match fits {
            Some(n) => {
                for _ in 0..n {
                    if let Some(unanswered) = self.pending.pop_front() {
                        self.emit_command(unanswered, None, None, None, ctx);
                    }
                }
                self.pending.pop_front()
            }
            None => None,
        };
        if self.pending.is_empty() {
            self.desync = false;
        }
        taken
    }

    /// What a final reply changes: login, working directory, data channel,
    /// TLS. Returns the login it completed.
    fn apply(
        &mut self,
        p: &mut Pending,
        code: Option<u16>,
        msg: &str,
        ctx: &mut Ctx<'_>,
    ) -> Option<FtpLogin> {
        let success = code.is_some_and(|c| (200..300).contains(&c));
        let user = p.user.clone().unwrap_or_default();
        match (p.verb.as_str(), code) {
            ("USER", Some(230)) => {
                return Some(FtpLogin {
                    user,
                    password: String::new(),
                    success: true,
                })
            }
            ("USER", Some(c)) if c >= 400 => {
                return Some(FtpLogin {
                    user,
                    password: String::new(),
                    success: false,
                })
            }
            ("PASS", Some(332)) => self.awaiting_acct = Some((user, p.arg.clone())),
            ("PASS", _) => {
                return Some(FtpLogin {
                    user,
                    password: p.arg.clone(),
                    success,
                })
            }
            ("ACCT", _) => {
                if let Some((user, password)) = self.awaiting_acct.take() {
                    return Some(FtpLogin {
                        user,
                        password,
                        success,
                    });
                }
            }
            ("PASV", Some(227)) | ("EPSV", Some(229)) => {
                let found = if p.verb == "PASV" {
                    parser::parse_pasv_reply(msg.as_bytes())
                } else {
                    parser::parse_epsv_reply(msg.as_bytes())
                        .map(|(ip, port)| (ip.unwrap_or(ctx.flow.dst_ip), port))
                };
                match (found, p.channel.clone()) {
                    (Some((ip, port)), Some(channel)) => {
                        p.data_channel = Some(self.announce(&channel, true, ip, port, ctx));
                    }
                    _ => ctx.anomaly(
                        "ftp",
                        "bad_address",
                        "unparsable PASV/EPSV reply",
                        Some(Direction::ToClient),
                    ),
                }
            }
            ("CWD" | "XCWD", Some(200..=299)) => {
                // Bounded like the paths real servers accept.
                if let Some(path) = p.path.as_ref().filter(|path| path.len() <= MAX_LINE) {
                    self.cwd = path.clone();
                }
            }
            ("CDUP" | "XCUP", Some(200..=299)) => self.cwd = parser::resolve(&self.cwd, ".."),
            ("PWD" | "XPWD", Some(257)) => {
                if let Some(path) = parser::quoted_path(msg.as_bytes()) {
                    if path.len() <= MAX_LINE {
                        self.cwd = path;
                    }
                }
            }
            ("SIZE", Some(213)) => p.file_size = parser::size_reply(msg.as_bytes()),
            ("AUTH", Some(234)) => self.encrypted = true,
            ("REIN", Some(220)) => {
                self.user = None;
                self.cwd = ".".to_string();
            }
            _ => {}
        }
        if !success && (p.verb == "PASV" || p.verb == "EPSV") {
            // Refused: the channel will not open.
            if let (Some(ours), Some(current)) = (&p.channel, &self.channel) {
                if std::sync::Arc::ptr_eq(ours, current) {
                    self.channel = None;
                }
            }
        }
        None
    }

    fn emit_command(
        &mut self,
        p: Pending,
        code: Option<u16>,
        msg: Option<String>,
        full: Option<(String, bool)>,
        ctx: &mut Ctx<'_>,
    ) {
        let (reply_text, truncated) = match full {
            Some((text, truncated)) => (Some(text), truncated),
            None => (None, false),
        };
        let (preliminary_code, preliminary_msg) = match p.preliminary {
            Some((c, m)) => (Some(c), Some(m)),
            None => (None, None),
        };
        let event = FtpCommand {
            command: p.verb,
            arg: p.arg,
            reply_code: code,
            reply_msg: msg,
            user: p.user,
            path: p.path,
            preliminary_code,
            preliminary_msg,
            reply_text,
            data_channel: p.data_channel,
            file_size: p.file_size,
            truncated,
        };
        ctx.emit_at(p.ts, FtpEvent::Command(event));
    }
}

/// Whether `verb` can get a 1xx reply before its final one.
fn fits_preliminary(verb: &str) -> bool {
    data::is_transfer_command(verb) || matches!(verb, "<init>" | "REIN" | "MLST" | "STAT")
}

/// Whether `code` is a possible final reply to `verb` (RFC 959 section
/// 5.4 and its extensions); unknown commands fit any code.
fn fits(verb: &str, code: u16) -> bool {
    if matches!(code, 421 | 500 | 501 | 502 | 503 | 504 | 530) {
        return true;
    }
    let codes: &[u16] = match verb {
        "<init>" => &[220],
        "USER" => &[230, 331, 332],
        "PASS" => &[230, 202, 332],
        "ACCT" => &[230, 202],
        "CWD" | "XCWD" | "RMD" | "XRMD" | "DELE" | "RNTO" => &[250, 550, 553, 450],
        "CDUP" | "XCUP" => &[200, 250, 550],
        "QUIT" => &[221],
        "PORT" | "EPRT" | "TYPE" | "MODE" | "STRU" | "NOOP" => &[200, 522],
        "PASV" => &[227],
        "EPSV" => &[229],
        "REST" | "RNFR" => &[350, 450, 550],
        "RETR" | "STOR" | "STOU" | "APPE" | "LIST" | "NLST" | "MLSD" => {
            &[226, 250, 425, 426, 450, 451, 452, 550, 551, 552, 553]
        }
        "MKD" | "XMKD" | "PWD" | "XPWD" => &[257, 550],
        "SYST" => &[215],
        "FEAT" | "STAT" => &[211, 212, 213],
        "SIZE" | "MDTM" => &[213, 550],
        "AUTH" => &[234, 334, 431, 534],
        "HELP" => &[211, 214],
        _ => return true,
    };
    codes.contains(&code)
}

#[cfg(test)]
mod tests;
