//! rsync daemon protocol (`rsync://`, port 873): the greetings, the module
//! request, `AUTHREQD` authentication and the client's arguments. After the
//! arguments the transfer is a binary multiplexed stream: `wants_more()`
//! turns false there.

pub mod parser;

use model::events::rsync::{RsyncEvent, RsyncHandshake, RsyncModule};
use model::{Direction, Timestamp};

use self::parser::{ServerLine, Token};
use super::{Ctx, Dissector, Probe, ProtocolSpec};

pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: "rsync",
    ports: &[873],
    probe,
    new,
};

const MAX_ITEMS: usize = 1024;
/// Bytes one list (args, modules, MOTD) may hold in all, so that a flow
/// costs at most a few hundred KiB however hostile.
const MAX_LIST_BYTES: usize = 64 * 1024;
const MAX_MOTD_LINES: usize = 64;
const MAX_DIGESTS: usize = 32;

/// Either side opens with `@RSYNCD: `.
pub fn probe(_dir: Direction, data: &[u8]) -> Probe {
    let want = parser::GREETING;
    let n = data.len().min(want.len());
    match (data.get(..n), want.get(..n)) {
        (Some(seen), Some(w)) if seen == w => {
            if n == want.len() {
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
    /// Waiting for `@RSYNCD: <version>`.
    #[default]
    Greeting,
    /// Client: the module line. Server: MOTD, listing and replies.
    Lines,
    /// Client: the auth reply and the argument list.
    Args,
    /// The binary transfer began: nothing parsed.
    Binary,
    /// Nothing more will come (listing over, error).
    Done,
    /// Not rsync any more (junk, gap): nothing parsed.
    Lost,
}

impl Phase {
    fn is_final(self) -> bool {
        matches!(self, Phase::Binary | Phase::Done | Phase::Lost)
    }
}

#[derive(Default)]
struct Greeting {
    version: String,
    protocol: Option<u32>,
    digests: Vec<String>,
}

/// The client's module request, filled in as the replies arrive.
struct Request {
    ts: Timestamp,
    list: bool,
    event: RsyncModule,
    awaiting_auth_reply: bool,
    emitted: bool,
}

#[derive(Default)]
struct State {
    phases: [Phase; 2],
    greetings: [Option<Greeting>; 2],
    first_ts: Option<Timestamp>,
    motd: Vec<String>,
    motd_truncated: bool,
    handshake_emitted: bool,
    request: Option<Request>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes.get(..parser::MAX_LINE).unwrap_or(bytes)).into_owned()
}

/// Adds `item` unless the list is full (items or bytes); says so.
fn push_capped(list: &mut Vec<String>, item: &[u8], truncated: &mut bool) {
    let used: usize = list.iter().map(String::len).sum();
    if list.len() < MAX_ITEMS && used.saturating_add(item.len()) <= MAX_LIST_BYTES {
        list.push(text(item));
    } else {
        *truncated = true;
    }
}

impl State {
    fn phase(&mut self, dir: Direction) -> &mut Phase {
        &mut self.phases[dir.index()]
    }

    /// The negotiated protocol: the lower of the two, as both sides use.
    fn protocol(&self) -> Option<u32> {
        let [c, s] = &self.greetings;
        match (
            c.as_ref().and_then(|g| g.protocol),
            s.as_ref().and_then(|g| g.protocol),
        ) {
            (Some(c), Some(s)) => Some(c.min(s)),
            (c, s) => c.or(s),
        }
    }

    fn request(&mut self, ts: Timestamp) -> &mut Request {
        self.request.get_or_insert_with(|| Request {
            ts,
            list: false,
            event: RsyncModule {
                action: "unknown".to_string(),
                ..RsyncModule::default()
            },
            awaiting_auth_reply: false,
            emitted: false,
        })
    }

    fn greeting(&mut self, dir: Direction, line: &[u8], ctx: &mut Ctx<'_>) {
        match parser::greeting(line) {
            Some(g) => {
                let digests = g
                    .digests
                    .split(|&b| b == b' ')
                    .filter(|d| !d.is_empty())
                    .take(MAX_DIGESTS)
                    .map(text)
                    .collect();
                self.greetings[dir.index()] = Some(Greeting {
                    version: text(g.version),
                    protocol: g.protocol,
                    digests,
                });
                self.first_ts.get_or_insert(ctx.ts);
                *self.phase(dir) = Phase::Lines;
            }
            None => {
                *self.phase(dir) = Phase::Lost;
                ctx.anomaly(
                    "rsync",
                    "not_rsync",
                    "expected an @RSYNCD: greeting",
                    Some(dir),
                );
            }
        }
    }

    /// The client's module line: empty or `#list` asks for the listing.
    fn module_line(&mut self, line: &[u8], ctx: &mut Ctx<'_>) {
        let list = line.is_empty() || line == b"#list";
        let request = self.request(ctx.ts);
        request.ts = ctx.ts;
        request.list = list;
        if list {
            request.event.action = "list".to_string();
            self.phases[0] = Phase::Done;
        } else {
            request.event.module = text(line);
            self.phases[0] = Phase::Args;
        }
    }

    /// One client token after the module line: the auth reply, an
    /// argument, or the empty argument that ends them.
    fn client_token(&mut self, token: &[u8], ctx: &mut Ctx<'_>) {
        let request = self.request(ctx.ts);
        if request.awaiting_auth_reply {
            request.awaiting_auth_reply = false;
            let (user, response) = parser::auth_reply(token);
            request.event.user = Some(text(user));
            request.event.response = Some(text(response));
            return;
        }
        if token.is_empty() {
            self.phases[0] = Phase::Binary;
            self.emit_module(ctx);
            return;
        }
        let event = &mut request.event;
        push_capped(&mut event.args, token, &mut event.truncated);
    }

    fn server_line(&mut self, line: &[u8], ctx: &mut Ctx<'_>) {
        match parser::server_line(line) {
            ServerLine::Text(t) => {
                let listing = self.request.as_ref().is_some_and(|r| r.list);
                if let (true, Some(name)) = (listing, parser::listed_module(t)) {
                    let event = &mut self.request(ctx.ts).event;
                    push_capped(&mut event.modules, name, &mut event.truncated);
                } else if self.motd.len() < MAX_MOTD_LINES {
                    push_capped(&mut self.motd, t, &mut self.motd_truncated);
                } else {
                    self.motd_truncated = true;
                }
            }
            ServerLine::Ok => {
                self.emit_handshake(ctx);
                self.request(ctx.ts).event.success = Some(true);
                self.phases[1] = Phase::Binary;
            }
            ServerLine::AuthRequired { challenge } => {
                self.emit_handshake(ctx);
                let request = self.request(ctx.ts);
                request.event.auth_required = true;
                request.event.challenge = Some(text(challenge));
                request.awaiting_auth_reply = true;
            }
            ServerLine::Exit => {
                self.emit_handshake(ctx);
                self.request(ctx.ts).event.success = Some(true);
                self.emit_module(ctx);
                self.phases = [Phase::Done; 2];
            }
            ServerLine::Error { message } => {
                self.emit_handshake(ctx);
                let event = &mut self.request(ctx.ts).event;
                event.success = Some(false);
                event.error = Some(text(message));
                self.emit_module(ctx);
                self.phases = [Phase::Done; 2];
            }
            ServerLine::Other(_) => {
                ctx.anomaly(
                    "rsync",
                    "unknown_reply",
                    text(line),
                    Some(Direction::ToClient),
                );
            }
        }
    }

    fn emit_handshake(&mut self, ctx: &mut Ctx<'_>) {
        if self.handshake_emitted {
            return;
        }
        self.handshake_emitted = true;
        // The MOTD's blank separator lines carry nothing.
        while self.motd.last().is_some_and(|l| l.is_empty()) {
            self.motd.pop();
        }
        let [client, server] = &mut self.greetings;
        let mut event = RsyncHandshake {
            motd: std::mem::take(&mut self.motd),
            truncated: self.motd_truncated,
            ..RsyncHandshake::default()
        };
        if let Some(c) = client {
            event.client_version = Some(c.version.clone());
            event.client_digests = std::mem::take(&mut c.digests);
        }
        if let Some(s) = server {
            event.server_version = Some(s.version.clone());
            event.server_digests = std::mem::take(&mut s.digests);
        }
        let ts = self.first_ts.unwrap_or(ctx.ts);
        ctx.emit_at(ts, RsyncEvent::Handshake(event));
    }

    fn emit_module(&mut self, ctx: &mut Ctx<'_>) {
        let Some(request) = self.request.as_mut() else {
            return;
        };
        if request.emitted {
            return;
        }
        request.emitted = true;
        let event = &mut request.event;
        if !request.list && !event.args.is_empty() {
            let pull = event.args.iter().any(|a| a == "--sender");
            event.action = if pull { "pull" } else { "push" }.to_string();
        }
        let event = std::mem::take(event);
        ctx.emit_at(request.ts, RsyncEvent::Module(event));
    }
}

impl Dissector for State {
    fn name(&self) -> &'static str {
        "rsync"
    }

    fn parse(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let mut pos = 0usize;
        loop {
            let rest = data.get(pos..).unwrap_or_default();
            let phase = *self.phase(dir);
            if phase.is_final() {
                return data.len();
            }
            if rest.is_empty() {
                return pos;
            }
            // Arguments are NUL-terminated from protocol 30 on; all else is lines.
            let awaiting_auth = self.request.as_ref().is_some_and(|r| r.awaiting_auth_reply);
            let nul_args =
                phase == Phase::Args && !awaiting_auth && self.protocol().is_some_and(|p| p >= 30);
            let (text, consumed) = match parser::token(rest, if nul_args { 0 } else { b'\n' }) {
                Token::Complete { text, consumed } => (text, consumed),
                Token::Incomplete => {
                    if phase == Phase::Greeting && probe(dir, rest) == Probe::NoMatch {
                        self.greeting(dir, rest, ctx);
                        continue;
                    }
                    return pos;
                }
                Token::TooLong => {
                    *self.phase(dir) = Phase::Lost;
                    ctx.anomaly(
                        "rsync",
                        "line_too_long",
                        "no line end within 4096 bytes",
                        Some(dir),
                    );
                    return data.len();
                }
            };
            pos += consumed;
            match (dir, phase) {
                (_, Phase::Greeting) => self.greeting(dir, text, ctx),
                (Direction::ToServer, Phase::Lines) => self.module_line(text, ctx),
                (Direction::ToServer, _) => self.client_token(text, ctx),
                (Direction::ToClient, _) => self.server_line(text, ctx),
            }
        }
    }

    fn gap(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>) {
        let phase = self.phase(dir);
        if !phase.is_final() {
            *phase = Phase::Lost;
            // `len` 0: a flow picked up mid-stream, or a message the driver
            // already reported as oversized; nothing new to say.
            if len == 0 {
                return;
            }
            ctx.anomaly(
                "rsync",
                "gap",
                format!("{len} bytes missing in the text phase"),
                Some(dir),
            );
        }
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        if self.greetings.iter().any(Option::is_some) {
            self.emit_handshake(ctx);
        }
        self.emit_module(ctx);
    }

    fn wants_more(&self) -> bool {
        !self.phases.iter().all(|p| p.is_final())
    }
}

#[cfg(test)]
mod tests;
