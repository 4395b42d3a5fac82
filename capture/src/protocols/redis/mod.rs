//! Redis: RESP2, RESP3 and inline commands, paired with their replies.
//!
//! Commands queue up in order (pipelining) and each reply answers the
//! oldest command that expects one. Commands that get no reply
//! (`SUBSCRIBE` and friends, `CLIENT REPLY OFF|SKIP`) are emitted without
//! one, in order. Server messages that answer no command (pub/sub
//! messages, RESP3 push data, `MONITOR` lines) become `redis.push`.

mod commands;
mod parser;
mod probe;
mod session;

use model::Direction;

use super::{Ctx, Dissector, ProtocolSpec};
use parser::{Reader, Step};
use session::Session;

pub use probe::probe;

pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: "redis",
    ports: &[6379],
    probe,
    new,
};

/// After this many protocol errors the flow is taken for something else.
const MAX_ERRORS: u32 = 8;

fn new() -> Box<dyn Dissector> {
    Box::new(State::default())
}

struct State {
    readers: [Reader; 2],
    /// When the message being read in each direction began.
    started: [model::Timestamp; 2],
    session: Session,
    /// After a gap: skip to a line that can start a message.
    resync: [bool; 2],
    errors: u32,
    gave_up: bool,
}

impl Default for State {
    fn default() -> State {
        State {
            readers: [Reader::new(true), Reader::new(false)],
            started: [model::Timestamp(0); 2],
            session: Session::default(),
            resync: [false; 2],
            errors: 0,
            gave_up: false,
        }
    }
}

impl State {
    /// `at`: offset of the bad bytes within the data being parsed.
    fn protocol_error(&mut self, dir: Direction, what: &str, at: usize, ctx: &mut Ctx<'_>) {
        self.errors += 1;
        let i = dir.index();
        let before = ctx.offsets[i];
        ctx.offsets[i] = before.saturating_add(at as u64);
        ctx.anomaly(
            "redis",
            what,
            "not RESP; skipped to the next line",
            Some(dir),
        );
        ctx.offsets[i] = before;
        if self.errors >= MAX_ERRORS {
            self.gave_up = true;
            ctx.anomaly(
                "redis",
                "not_redis",
                format!("{MAX_ERRORS} protocol errors; stopped"),
                Some(dir),
            );
        }
    }
}

impl Dissector for State {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn parse(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let i = dir.index();
        let mut pos = 0;
        while !self.gave_up {
            let rest = data.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            if self.readers[i].idle() {
                if self.resync[i] {
                    match resync_point(dir, rest) {
                        Some(skip) => {
                            pos += skip;
                            self.resync[i] = false;
                            continue;
                        }
                        None => {
                            // Keep a partial last line: it may start a message.
                            pos += memchr::memrchr(b'\n', rest).map_or(0, |lf| lf + 1);
                            break;
                        }
                    }
                }
                self.started[i] = ctx.ts;
            }
            match self.readers[i].step(rest) {
                Step::Progress { used, done } => {
                    pos += used;
                    match done {
                        Some(msg) => match dir {
                            Direction::ToServer => {
                                if is_sync(&msg) {
                                    self.readers[Direction::ToClient.index()].expect_rdb();
                                }
                                self.session.command(msg, self.started[i], ctx)
                            }
                            Direction::ToClient => self.session.reply(msg, ctx),
                        },
                        None if used == 0 => break,
                        None => {}
                    }
                }
                Step::Error { used, kind } => {
                    self.protocol_error(dir, kind.as_str(), pos, ctx);
                    pos += used.max(1);
                }
            }
        }
        if self.gave_up {
            return data.len();
        }
        pos.min(data.len())
    }

    fn gap(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>) {
        if self.gave_up {
            return;
        }
        self.readers[dir.index()].reset();
        self.resync[dir.index()] = true;
        ctx.anomaly("redis", "gap", format!("{len} bytes missing"), Some(dir));
        self.session.gap(dir, ctx);
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        self.session.close(ctx);
    }

    fn wants_more(&self) -> bool {
        !self.gave_up
    }
}

/// `SYNC` / `PSYNC`: the server answers with an RDB file (after
/// `+FULLRESYNC` for `PSYNC`), then streams the commands it executes.
fn is_sync(msg: &parser::Message) -> bool {
    msg.items
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"SYNC") || n.eq_ignore_ascii_case(b"PSYNC"))
}

/// Offset of the first line in `data` that can start a message in `dir`
/// (an array header from the client, any RESP type from the server).
fn resync_point(dir: Direction, data: &[u8]) -> Option<usize> {
    let starts = |b: u8| match dir {
        Direction::ToServer => b == b'*',
        Direction::ToClient => b"+-:$*_#,(!=%~|>".contains(&b),
    };
    let mut at = 0;
    loop {
        let line = data.get(at..)?;
        if line.len() >= 2 && starts(line[0]) {
            return Some(at);
        }
        at += memchr::memchr(b'\n', line)? + 1;
    }
}

#[cfg(test)]
mod tests;
