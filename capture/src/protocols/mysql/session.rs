//! Per-connection state: which phase the conversation is in (greeting,
//! authentication, commands), the commands waiting for their response, and
//! the events built from them.

use std::collections::VecDeque;

use model::events::mysql::{MysqlCommand, MysqlEvent, MysqlGreeting, MysqlLogin};
use model::{Direction, Timestamp};
use rustc_hash::FxHashMap;

use super::parser::{self, caps, com, Reader};
use crate::artifact::ArtifactWriter;
use crate::protocols::Ctx;

const PROTO: &str = "mysql";
/// Cap of query text kept in `arg`.
pub const QUERY_CAP: usize = 64 * 1024;
/// Cap of any other string kept from the wire.
const STRING_CAP: usize = 4 * 1024;
const ATTRIBUTE_CAP: usize = 256;
/// Auth response bytes kept (a native-password answer is 20).
const AUTH_RESPONSE_CAP: usize = 256;
/// Longest greeting nonce kept (the field allows 255 bytes; real ones are 20).
const SCRAMBLE_CAP: usize = 264;
const MAX_ATTRIBUTES: usize = 32;
/// Commands sent without waiting for their response that we keep.
const MAX_PENDING: usize = 64;
/// Longest first packet of a response taken as a resynchronisation point
/// (an OK, ERR, column count or LOCAL INFILE request).
const SERVER_START_MAX: usize = 8 * 1024;
/// Prepared statements remembered per connection.
const MAX_STATEMENTS: usize = 256;
/// Capabilities assumed when the handshake was not captured.
const MID_STREAM_CAPS: u32 =
    caps::PROTOCOL_41 | caps::SECURE_CONNECTION | caps::PLUGIN_AUTH | caps::CONNECT_ATTRS;

/// One packet: its declared length and the head of its payload (all of it
/// unless the packet is larger than the framer's cap).
pub struct Packet<'a> {
    pub seq: u8,
    pub len: usize,
    pub payload: &'a [u8],
    /// This packet continues the previous one (which was 16 MiB - 1 long).
    pub continuation: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing seen yet.
    Start,
    /// Greeting seen; the client's handshake response comes next.
    Greeted,
    /// Handshake response seen; auth exchange until OK or ERR.
    Auth,
    Commands,
}

/// Where a command's response is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resp {
    Start,
    Columns {
        left: u64,
    },
    /// Column definitions read; an EOF comes unless `DEPRECATE_EOF`.
    ColumnsEnd,
    Rows,
    FieldList,
    /// Parameter and column definitions of `COM_STMT_PREPARE`.
    Prepare {
        defs: u64,
    },
    Infile,
    Auth,
}

struct Pending {
    ts: Timestamp,
    code: u8,
    resp: Resp,
    event: MysqlCommand,
    /// `COM_CHANGE_USER`: the re-authentication.
    login: Option<MysqlLogin>,
}

pub struct Session {
    phase: Phase,
    server_caps: Option<u32>,
    client_caps: Option<u32>,
    /// Known from the handshake, or learnt from a result set's shape.
    deprecate_eof: Option<bool>,
    greeting_plugin: Option<String>,
    /// The greeting's nonce, hex (the scramble a login answers).
    scramble: Option<String>,
    user: Option<String>,
    login: Option<(Timestamp, MysqlLogin)>,
    queue: VecDeque<Pending>,
    /// SQL of prepared statements by id.
    statements: FxHashMap<u32, String>,
    /// Contents of a `LOCAL INFILE` the client is sending.
    infile: Option<ArtifactWriter>,
    /// TLS began: nothing more can be read.
    pub stopped: bool,
}

impl Session {
    pub fn new() -> Session {
        Session {
            phase: Phase::Start,
            server_caps: None,
            client_caps: None,
            deprecate_eof: None,
            greeting_plugin: None,
            scramble: None,
            user: None,
            login: None,
            queue: VecDeque::new(),
            statements: FxHashMap::default(),
            infile: None,
            stopped: false,
        }
    }

    fn caps(&self) -> u32 {
        match (self.client_caps, self.server_caps) {
            (Some(c), Some(s)) => c & s,
            (Some(c), None) => c,
            (None, _) => MID_STREAM_CAPS,
        }
    }

    pub fn packet(&mut self, dir: Direction, pkt: &Packet<'_>, ctx: &mut Ctx<'_>) {
        if pkt.continuation {
            self.tail(dir, pkt.payload);
            // The rest of a 16 MiB message: its head was handled.
            return;
        }
        match dir {
            Direction::ToServer => self.client_packet(pkt, ctx),
            Direction::ToClient => self.server_packet(pkt, ctx),
        }
    }

    /// First check of [`Session::plausible_start`], on the header alone, so
    /// that a bogus length is not waited for.
    pub fn plausible_header(&self, dir: Direction, seq: u8, len: usize) -> bool {
        match (dir, self.phase) {
            (Direction::ToServer, Phase::Start | Phase::Greeted) => seq <= 1 && len > 0,
            (Direction::ToServer, _) => seq == 0 && len > 0,
            (Direction::ToClient, Phase::Start) => seq == 0 && (4..=1024).contains(&len),
            (Direction::ToClient, Phase::Greeted | Phase::Auth) => true,
            (Direction::ToClient, Phase::Commands) => {
                seq == 1 && (1..=SERVER_START_MAX).contains(&len)
            }
        }
    }

    /// Whether a packet can start a message when the packet boundary is
    /// unknown: at the start of a connection (possibly picked up
    /// mid-stream) and after a gap.
    pub fn plausible_start(&self, dir: Direction, seq: u8, payload: &[u8]) -> bool {
        let command = seq == 0
            && payload
                .first()
                .and_then(|&c| parser::command_name(c))
                .is_some();
        match (dir, self.phase) {
            (Direction::ToServer, Phase::Start | Phase::Greeted) => {
                command || (seq == 1 && parser::handshake_response(payload).is_some())
            }
            (Direction::ToServer, _) => command,
            (Direction::ToClient, Phase::Start) => {
                seq == 0 && (parser::greeting(payload).is_some() || parser::err(payload).is_some())
            }
            (Direction::ToClient, Phase::Greeted | Phase::Auth) => true,
            (Direction::ToClient, Phase::Commands) => seq == 1 && !self.queue.is_empty(),
        }
    }

    /// Bytes of `dir` were lost: responses in flight cannot be followed.
    pub fn gap(&mut self, dir: Direction, ctx: &mut Ctx<'_>) {
        if dir == Direction::ToClient || self.phase == Phase::Auth {
            self.flush(ctx);
        }
        if matches!(self.phase, Phase::Start | Phase::Greeted | Phase::Auth) {
            self.phase = Phase::Commands;
        }
    }

    /// Emits everything still pending, without a response.
    pub fn flush(&mut self, ctx: &mut Ctx<'_>) {
        self.finish_infile();
        if let Some((ts, login)) = self.login.take() {
            ctx.emit_at(ts, MysqlEvent::Login(login));
        }
        while let Some(p) = self.queue.pop_front() {
            emit_command(p, ctx);
        }
    }

    fn client_packet(&mut self, pkt: &Packet<'_>, ctx: &mut Ctx<'_>) {
        match self.phase {
            Phase::Start if pkt.seq == 0 => {
                if pkt
                    .payload
                    .first()
                    .and_then(|&c| parser::command_name(c))
                    .is_some()
                {
                    self.phase = Phase::Commands;
                    self.command(pkt, ctx);
                }
            }
            Phase::Start | Phase::Greeted => match parser::handshake_response(pkt.payload) {
                Some(hs) => self.handshake(&hs, ctx),
                None if self.phase == Phase::Greeted => {
                    ctx.anomaly(
                        PROTO,
                        "bad_handshake",
                        "unreadable handshake response",
                        Some(Direction::ToServer),
                    );
                    self.phase = Phase::Commands;
                }
                None => {}
            },
            Phase::Auth if pkt.seq == 0 => {
                // A command: the server's verdict was not captured.
                if let Some((ts, login)) = self.login.take() {
                    self.user = Some(login.user.clone());
                    ctx.emit_at(ts, MysqlEvent::Login(login));
                }
                self.phase = Phase::Commands;
                self.command(pkt, ctx);
            }
            // Auth data, LOCAL INFILE contents: not commands.
            Phase::Auth => {}
            Phase::Commands if pkt.seq == 0 => self.command(pkt, ctx),
            Phase::Commands => {
                if pkt.len == 0 {
                    // The empty packet that ends LOCAL INFILE data.
                    self.finish_infile();
                } else if let Some(writer) = self.infile.as_mut() {
                    writer.write(pkt.payload);
                }
            }
        }
    }

    /// Bytes of a client packet beyond the head handed to [`Session::packet`].
    pub fn tail(&mut self, dir: Direction, bytes: &[u8]) {
        if dir == Direction::ToServer {
            if let Some(writer) = self.infile.as_mut() {
                writer.write(bytes);
            }
        }
    }

    /// Ends the LOCAL INFILE contents, noting them in the command.
    fn finish_infile(&mut self) {
        let Some(writer) = self.infile.take() else {
            return;
        };
        let artifact = writer.finish();
        if let Some(p) = self.queue.front_mut().filter(|p| p.resp == Resp::Infile) {
            p.event.infile_size = Some(artifact.size);
            p.event.infile_sha256 = Some(artifact.sha256);
        }
    }

    fn server_packet(&mut self, pkt: &Packet<'_>, ctx: &mut Ctx<'_>) {
        match self.phase {
            Phase::Start if pkt.seq == 0 && pkt.payload.first() == Some(&0xff) => {
                if let Some(e) = parser::err(pkt.payload) {
                    let (error, _) = text(e.message, STRING_CAP);
                    ctx.emit(MysqlEvent::Greeting(MysqlGreeting {
                        error: Some(error),
                        error_code: Some(e.code),
                        ..MysqlGreeting::default()
                    }));
                }
                self.phase = Phase::Commands;
            }
            Phase::Start => match parser::greeting(pkt.payload).filter(|_| pkt.seq == 0) {
                Some(g) => self.greeting(&g, ctx),
                None => {
                    // Picked up mid-stream: follow responses from the next command.
                    self.phase = Phase::Commands;
                    self.response(pkt, ctx);
                }
            },
            Phase::Greeted => {}
            Phase::Auth => self.login_auth(pkt, ctx),
            Phase::Commands => self.response(pkt, ctx),
        }
    }

    fn greeting(&mut self, g: &parser::Greeting<'_>, ctx: &mut Ctx<'_>) {
        let (raw, _) = text(g.version, STRING_CAP);
        let version = raw.strip_prefix("5.5.5-").unwrap_or(&raw).to_string();
        let plugin = g.plugin.map(|p| text(p, STRING_CAP).0);
        self.server_caps = Some(g.capabilities);
        self.greeting_plugin = plugin.clone();
        self.scramble = scramble_hex(g.scramble);
        self.phase = Phase::Greeted;
        ctx.emit(MysqlEvent::Greeting(MysqlGreeting {
            mariadb: raw.starts_with("5.5.5-") || raw.contains("MariaDB"),
            server_version: Some(version),
            protocol_version: Some(g.protocol),
            connection_id: g.connection_id,
            plugin,
            capabilities: Some(g.capabilities),
            error: None,
            error_code: None,
        }));
    }

    fn handshake(&mut self, hs: &parser::HandshakeResponse<'_>, ctx: &mut Ctx<'_>) {
        self.client_caps = Some(hs.capabilities);
        self.deprecate_eof = Some(self.caps() & caps::DEPRECATE_EOF != 0);
        if hs.ssl_request {
            ctx.emit(MysqlEvent::Login(MysqlLogin {
                tls: true,
                old_protocol: hs.old_protocol,
                auth_plugin: self.greeting_plugin.clone(),
                ..MysqlLogin::default()
            }));
            self.stopped = true;
            return;
        }
        let mut login = MysqlLogin {
            old_protocol: hs.old_protocol,
            ..MysqlLogin::default()
        };
        let (user, cut) = text(hs.user, STRING_CAP);
        login.user = user;
        login.truncated |= cut;
        login.database = hs
            .database
            .filter(|d| !d.is_empty())
            .map(|d| text(d, STRING_CAP).0);
        login.auth_plugin = hs
            .plugin
            .map(|p| text(p, STRING_CAP).0)
            .or_else(|| self.greeting_plugin.clone());
        if let Some(block) = hs.attributes {
            login.truncated |= read_attributes(&mut login, block);
        }
        if !hs.auth_response.is_empty() {
            let cut = hs.auth_response.len() > AUTH_RESPONSE_CAP;
            let kept = hs
                .auth_response
                .get(..AUTH_RESPONSE_CAP)
                .unwrap_or(hs.auth_response);
            login.auth_response = Some(hex::encode(kept));
            login.truncated |= cut;
            login.scramble = self.scramble.clone();
        }
        self.login = Some((ctx.ts, login));
        self.phase = Phase::Auth;
    }

    /// The server's side of the initial authentication.
    fn login_auth(&mut self, pkt: &Packet<'_>, ctx: &mut Ctx<'_>) {
        let Some((ts, mut login)) = self.login.take() else {
            self.phase = Phase::Commands;
            return;
        };
        match auth_step(&mut login, pkt.payload) {
            AuthStep::More => self.login = Some((ts, login)),
            AuthStep::Done => {
                if login.success == Some(true) {
                    self.user = Some(login.user.clone());
                }
                ctx.emit_at(ts, MysqlEvent::Login(login));
                self.phase = Phase::Commands;
            }
        }
    }

    fn command(&mut self, pkt: &Packet<'_>, ctx: &mut Ctx<'_>) {
        let Some((&code, body)) = pkt.payload.split_first() else {
            ctx.anomaly(
                PROTO,
                "empty_command",
                "command packet without a command byte",
                Some(Direction::ToServer),
            );
            return;
        };
        let command = match parser::command_name(code) {
            Some(name) => name.to_string(),
            None => {
                ctx.anomaly(
                    PROTO,
                    "unknown_command",
                    format!("command byte {code:#04x}"),
                    Some(Direction::ToServer),
                );
                format!("unknown_{code}")
            }
        };
        let whole = pkt.payload.len() == pkt.len && pkt.len != parser::MAX_PAYLOAD;
        let mut event = MysqlCommand {
            command,
            user: self.user.clone(),
            ..MysqlCommand::default()
        };
        let mut login = None;
        let (arg, cut) = match code {
            com::QUERY => {
                let text_bytes = self.query_text(body, ctx);
                text(text_bytes, QUERY_CAP)
            }
            com::INIT_DB | com::CREATE_DB | com::DROP_DB | com::STMT_PREPARE => {
                text(body, QUERY_CAP)
            }
            com::FIELD_LIST => text(Reader::new(body).nul_or_rest(), STRING_CAP),
            com::PROCESS_KILL
            | com::STMT_EXECUTE
            | com::STMT_CLOSE
            | com::STMT_RESET
            | com::STMT_FETCH
            | com::STMT_SEND_LONG_DATA
            | com::STMT_BULK_EXECUTE
            | com::REGISTER_SLAVE => (number(Reader::new(body).u32().map(u64::from)), false),
            com::SET_OPTION => (number(Reader::new(body).u16().map(u64::from)), false),
            com::REFRESH | com::SHUTDOWN => (number(Reader::new(body).u8().map(u64::from)), false),
            com::BINLOG_DUMP => text(body.get(10..).unwrap_or_default(), STRING_CAP),
            com::BINLOG_DUMP_GTID => {
                let mut r = Reader::new(body.get(6..).unwrap_or_default());
                let name = r
                    .u32()
                    .and_then(|n| r.bytes(n as usize))
                    .unwrap_or_default();
                text(name, STRING_CAP)
            }
            com::CHANGE_USER => {
                let cu = parser::change_user(body, self.caps()).unwrap_or_default();
                let (user, cut) = text(cu.user, STRING_CAP);
                let mut l = MysqlLogin {
                    user: user.clone(),
                    change_user: true,
                    truncated: cut,
                    ..MysqlLogin::default()
                };
                l.database = cu
                    .database
                    .filter(|d| !d.is_empty())
                    .map(|d| text(d, STRING_CAP).0);
                l.auth_plugin = cu.plugin.map(|p| text(p, STRING_CAP).0);
                if let Some(block) = cu.attributes {
                    l.truncated |= read_attributes(&mut l, block);
                }
                login = Some(l);
                (user, cut)
            }
            _ => text(body, STRING_CAP),
        };
        event.arg = arg;
        if matches!(
            code,
            com::STMT_EXECUTE
                | com::STMT_CLOSE
                | com::STMT_RESET
                | com::STMT_FETCH
                | com::STMT_SEND_LONG_DATA
                | com::STMT_BULK_EXECUTE
        ) {
            let id = Reader::new(body).u32();
            event.statement = id.and_then(|id| self.statements.get(&id).cloned());
            if code == com::STMT_CLOSE {
                id.map(|id| self.statements.remove(&id));
            }
        }
        event.truncated = cut
            || (!whole
                && matches!(
                    code,
                    com::QUERY | com::INIT_DB | com::CREATE_DB | com::DROP_DB | com::STMT_PREPARE
                ));
        let pending = Pending {
            ts: ctx.ts,
            code,
            resp: if code == com::CHANGE_USER {
                Resp::Auth
            } else {
                Resp::Start
            },
            event,
            login,
        };
        if matches!(code, com::QUIT | com::STMT_CLOSE | com::STMT_SEND_LONG_DATA) {
            // No response exists.
            emit_command(pending, ctx);
            return;
        }
        if self.queue.len() >= MAX_PENDING {
            ctx.anomaly(
                PROTO,
                "too_many_pending",
                "commands without responses",
                Some(Direction::ToServer),
            );
            if let Some(old) = self.queue.pop_front() {
                emit_command(old, ctx);
            }
        }
        self.queue.push_back(pending);
    }

    /// The query text of `COM_QUERY`, after the query attributes if any.
    fn query_text<'a>(&self, body: &'a [u8], ctx: &mut Ctx<'_>) -> &'a [u8] {
        let with_attributes = match self.client_caps {
            Some(_) => self.caps() & caps::QUERY_ATTRIBUTES != 0,
            // Mid-stream: a query cannot start with NUL; `00 01` is the
            // prefix without attributes.
            None => body.starts_with(&[0, 1]),
        };
        if !with_attributes {
            return body;
        }
        parser::query_text(body).unwrap_or_else(|| {
            ctx.anomaly(
                PROTO,
                "bad_query_attributes",
                "unreadable query attributes",
                Some(Direction::ToServer),
            );
            body
        })
    }

    fn response(&mut self, pkt: &Packet<'_>, ctx: &mut Ctx<'_>) {
        let deprecate_eof = self.deprecate_eof;
        let Some(p) = self.queue.front_mut() else {
            return;
        };
        let was_infile = p.resp == Resp::Infile;
        let step = step(p, pkt, deprecate_eof);
        if let Some(id) = step.prepared {
            if self.statements.len() < MAX_STATEMENTS || self.statements.contains_key(&id) {
                self.statements
                    .insert(id, prefix(&p.event.arg, STRING_CAP).to_string());
            }
        }
        if !was_infile && p.resp == Resp::Infile {
            // The server asked for a file: the client's next packets are it.
            self.infile = Some(ctx.artifact());
        }
        if let Some(learnt) = step.deprecate_eof {
            self.deprecate_eof.get_or_insert(learnt);
        }
        if step.done {
            self.finish_infile();
            if let Some(p) = self.queue.pop_front() {
                if p.code == com::CHANGE_USER && p.event.success == Some(true) {
                    self.user = Some(p.event.arg.clone());
                }
                emit_command(p, ctx);
            }
        }
    }
}

struct Step {
    done: bool,
    deprecate_eof: Option<bool>,
    /// Id of the statement a `COM_STMT_PREPARE` created.
    prepared: Option<u32>,
}

/// Advances one command's response by one packet.
fn step(p: &mut Pending, pkt: &Packet<'_>, deprecate_eof: Option<bool>) -> Step {
    let payload = pkt.payload;
    let first = payload.first().copied();
    let terminator = parser::is_terminator(payload, pkt.len);
    let ev = &mut p.event;
    let mut learnt = None;
    let done = match p.resp {
        // MariaDB progress report (ERR with code 0xffff): not the answer.
        _ if is_progress_report(payload) => false,
        _ if first == Some(0xff) && p.resp != Resp::Auth => {
            set_error(ev, payload);
            true
        }
        Resp::Auth => {
            let Some(login) = p.login.as_mut() else {
                return Step {
                    done: true,
                    deprecate_eof: None,
                    prepared: None,
                };
            };
            match auth_step(login, payload) {
                AuthStep::More => false,
                AuthStep::Done => {
                    ev.success = login.success;
                    ev.error = login.error.clone();
                    ev.error_code = login.error_code;
                    if login.success == Some(true) {
                        ev.affected_rows = parser::ok(payload).map(|ok| ok.affected_rows);
                    }
                    true
                }
            }
        }
        Resp::Start => start(p, pkt, terminator),
        Resp::Columns { left } => {
            let left = left.saturating_sub(1);
            p.resp = match (left, deprecate_eof) {
                (0, Some(true)) => Resp::Rows,
                (0, _) => Resp::ColumnsEnd,
                _ => Resp::Columns { left },
            };
            false
        }
        Resp::ColumnsEnd => {
            if terminator && parser::terminator_status(payload) & parser::CURSOR_EXISTS != 0 {
                // `stmt_execute` opened a cursor: rows come with `stmt_fetch`.
                ev.success = Some(true);
                true
            } else if terminator && (pkt.len <= 5 || deprecate_eof == Some(false)) {
                learnt = Some(false);
                p.resp = Resp::Rows;
                false
            } else if terminator {
                learnt = Some(true);
                end_of_rows(p, payload)
            } else {
                learnt = Some(true);
                *ev.rows.get_or_insert(0) += 1;
                p.resp = Resp::Rows;
                false
            }
        }
        Resp::Rows if terminator => end_of_rows(p, payload),
        Resp::Rows => {
            *ev.rows.get_or_insert(0) += 1;
            false
        }
        Resp::FieldList if terminator => {
            ev.success = Some(true);
            true
        }
        Resp::FieldList => {
            *ev.columns.get_or_insert(0) += 1;
            false
        }
        // Parameter definitions, their EOF, column definitions, their EOF.
        Resp::Prepare { defs } if terminator => defs == 0,
        Resp::Prepare { defs } => {
            let defs = defs.saturating_sub(1);
            p.resp = Resp::Prepare { defs };
            defs == 0 && deprecate_eof != Some(false)
        }
        Resp::Infile => {
            if let Some(ok) = parser::ok(payload) {
                ev.affected_rows = Some(ok.affected_rows);
            }
            ev.success = Some(true);
            true
        }
    };
    let prepared = match (p.code, first, pkt.seq) {
        (com::STMT_PREPARE, Some(0x00), 1) => {
            Reader::new(payload.get(1..).unwrap_or_default()).u32()
        }
        _ => None,
    };
    Step {
        done,
        deprecate_eof: learnt,
        prepared,
    }
}

/// The first packet of a response (ERR was handled by the caller).
fn start(p: &mut Pending, pkt: &Packet<'_>, terminator: bool) -> bool {
    let payload = pkt.payload;
    let ev = &mut p.event;
    match (p.code, payload.first().copied()) {
        (com::STATISTICS, _) => {
            ev.success = Some(true);
            true
        }
        (com::STMT_PREPARE, Some(0x00)) => {
            let mut r = Reader::new(payload.get(5..).unwrap_or_default());
            let columns = r.u16().unwrap_or(0);
            let params = r.u16().unwrap_or(0);
            ev.success = Some(true);
            ev.columns = Some(u64::from(columns));
            let defs = u64::from(columns) + u64::from(params);
            p.resp = Resp::Prepare { defs };
            defs == 0
        }
        (com::BINLOG_DUMP | com::BINLOG_DUMP_GTID, _) => {
            // A stream of binlog events follows; nothing more to learn.
            ev.success = Some(true);
            true
        }
        // Binary rows start with 0x00 too: not an OK here.
        (com::STMT_FETCH, _) if !terminator => {
            ev.rows = Some(1);
            p.resp = Resp::Rows;
            false
        }
        (_, Some(0x00)) => {
            let ok = parser::ok(payload);
            let affected = ok.as_ref().map_or(0, |ok| ok.affected_rows);
            ev.affected_rows = Some(ev.affected_rows.unwrap_or(0).saturating_add(affected));
            ev.success = Some(true);
            !more_results(ok.map_or(0, |ok| ok.status), p)
        }
        (com::QUERY, Some(0xfb)) => {
            ev.infile = Some(text(payload.get(1..).unwrap_or_default(), STRING_CAP).0);
            p.resp = Resp::Infile;
            false
        }
        _ if terminator => {
            ev.success = Some(true);
            true
        }
        (com::FIELD_LIST, _) => {
            ev.columns = Some(1);
            p.resp = Resp::FieldList;
            false
        }
        _ => match Reader::new(payload).lenenc() {
            Some(n) if n > 0 => {
                ev.columns.get_or_insert(n);
                p.resp = Resp::Columns { left: n };
                false
            }
            _ => {
                // Not a response we know: give up on this one.
                true
            }
        },
    }
}

/// A result set ended; another may follow.
fn end_of_rows(p: &mut Pending, payload: &[u8]) -> bool {
    p.event.success = Some(true);
    p.event.rows.get_or_insert(0);
    !more_results(parser::terminator_status(payload), p)
}

fn more_results(status: u16, p: &mut Pending) -> bool {
    if status & parser::MORE_RESULTS_EXISTS != 0 {
        p.resp = Resp::Start;
        true
    } else {
        false
    }
}

fn is_progress_report(payload: &[u8]) -> bool {
    payload.get(..3) == Some(&[0xff, 0xff, 0xff][..])
}

fn set_error(ev: &mut MysqlCommand, payload: &[u8]) {
    ev.success = Some(false);
    if let Some(e) = parser::err(payload) {
        ev.error = Some(text(e.message, STRING_CAP).0);
        ev.error_code = Some(e.code);
    }
}

pub(super) enum AuthStep {
    More,
    Done,
}

/// One server packet of an authentication exchange.
pub(super) fn auth_step(login: &mut MysqlLogin, payload: &[u8]) -> AuthStep {
    match payload.first() {
        Some(0x00) => {
            login.success = Some(true);
            AuthStep::Done
        }
        Some(0xff) => {
            login.success = Some(false);
            if let Some(e) = parser::err(payload) {
                login.error = Some(text(e.message, STRING_CAP).0);
                login.error_code = Some(e.code);
            }
            AuthStep::Done
        }
        Some(0xfe) => {
            // Auth switch; a lone 0xfe asks for the pre-4.1 password hash.
            let plugin = match payload.get(1..) {
                Some([]) | None => b"mysql_old_password".as_slice(),
                Some(rest) => Reader::new(rest).nul_or_rest(),
            };
            login.auth_plugin = Some(text(plugin, STRING_CAP).0);
            // The answer that follows goes to the switch's own nonce.
            login.scramble = None;
            login.auth_response = None;
            AuthStep::More
        }
        // 0x01: more data (caching_sha2_password fast auth, public key).
        _ => AuthStep::More,
    }
}

fn emit_command(p: Pending, ctx: &mut Ctx<'_>) {
    ctx.emit_at(p.ts, MysqlEvent::Command(p.event));
    if let Some(login) = p.login {
        ctx.emit_at(p.ts, MysqlEvent::Login(login));
    }
}

/// The greeting's two scramble parts as one hex string; `None` when empty
/// or implausibly long (a nonce is 20 bytes; 8 for pre-4.1 servers).
fn scramble_hex((first, rest): (&[u8], &[u8])) -> Option<String> {
    let len = first.len() + rest.len();
    if len == 0 || len > SCRAMBLE_CAP {
        return None;
    }
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(first);
    bytes.extend_from_slice(rest);
    Some(hex::encode(bytes))
}

/// Reads connection attributes into the login; true if some were cut.
fn read_attributes(login: &mut MysqlLogin, block: &[u8]) -> bool {
    let mut cut = false;
    for (key, value) in parser::attributes(block) {
        if login.client_attributes.len() >= MAX_ATTRIBUTES {
            return true;
        }
        let (key, c1) = text(key, ATTRIBUTE_CAP);
        let (value, c2) = text(value, ATTRIBUTE_CAP);
        cut |= c1 || c2;
        login.client_attributes.insert(key, value);
    }
    cut
}

/// Wire bytes as a string, lossy, cut at `cap` bytes; true when cut.
fn text(bytes: &[u8], cap: usize) -> (String, bool) {
    let cut = bytes.len() > cap;
    let bytes = bytes.get(..cap).unwrap_or(bytes);
    (String::from_utf8_lossy(bytes).into_owned(), cut)
}

/// At most `cap` bytes of `s`, cut at a character boundary.
fn prefix(s: &str, cap: usize) -> &str {
    let mut end = cap.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn number(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}
