//! MongoDB wire protocol: framing, requests paired with their replies by
//! `responseTo`, and authentication conversations.
//!
//! [`parser`] reads messages into borrowed views, [`bson_json`] turns BSON
//! into capped JSON, [`message`] builds event fields, [`auth`] follows
//! SASL/`authenticate`. This module holds the per-flow state: framing per
//! direction (including streaming past messages larger than the part kept
//! for decoding), requests waiting for replies, the open authentication.

mod auth;
mod bson_json;
mod message;
mod parser;

use std::collections::VecDeque;

use model::events::mongo::{MongoAuth, MongoCommand, MongoEvent};
use model::{Direction, Timestamp};

use super::{Ctx, Dissector, Probe, ProtocolSpec, MAX_PENDING_BYTES};
use message::{AuthStep, Request};
use parser::{OpCode, HEADER_LEN, MAX_MESSAGE_LEN};

pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: "mongo",
    ports: &[27017, 27018, 27019],
    probe,
    new,
};

/// Bytes of one message kept for decoding. The driver holds at most
/// [`MAX_PENDING_BYTES`] unconsumed, so a larger message is decoded from
/// this prefix and the rest is skipped as it streams past, never buffered.
const KEEP_BYTES: usize = MAX_PENDING_BYTES;
/// Requests waiting for a reply; past this the oldest is emitted unanswered.
const MAX_WAITING: usize = 1024;
/// Anomalies reported per flow (a flood of garbage must not become a flood
/// of events).
const MAX_ANOMALIES: u32 = 32;

/// Recognises a message header (and, when the bytes are there, the start of
/// its body) that only a MongoDB peer would send.
pub fn probe(dir: Direction, data: &[u8]) -> Probe {
    let Some(length) = parser::u32_at(data, 0) else {
        return Probe::NeedMore;
    };
    if !(HEADER_LEN as u32..=MAX_MESSAGE_LEN).contains(&length) {
        return Probe::NoMatch;
    }
    let Some(response_to) = parser::i32_at(data, 8) else {
        return Probe::NeedMore;
    };
    // A client's request answers nothing. (A reply may carry responseTo 0:
    // clients number requests from 0.)
    if dir == Direction::ToServer && response_to != 0 {
        return Probe::NoMatch;
    }
    let Some(code) = parser::i32_at(data, 12) else {
        return Probe::NeedMore;
    };
    let Some(op) = OpCode::from_i32(code) else {
        return Probe::NoMatch;
    };
    let from_client = op.is_request() && op != OpCode::Msg && op != OpCode::Compressed;
    let from_server = !op.is_request();
    if (dir == Direction::ToServer && from_server) || (dir == Direction::ToClient && from_client) {
        return Probe::NoMatch;
    }
    if length < op.min_length() {
        return Probe::NoMatch;
    }
    let end = (length as usize).min(data.len());
    let body = data.get(HEADER_LEN..end).unwrap_or_default();
    let complete = end == length as usize;
    probe_body(op, length, body, complete)
}

/// Opcode-specific checks on what is there of the body.
fn probe_body(op: OpCode, length: u32, body: &[u8], complete: bool) -> Probe {
    let need_more = |needed: usize| {
        if body.len() < needed && !complete {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        }
    };
    let body_len = length as usize - HEADER_LEN;
    match op {
        OpCode::Msg => {
            let (Some(flags), Some(&kind)) = (parser::u32_at(body, 0), body.get(4)) else {
                return need_more(5);
            };
            if flags & parser::MSG_RESERVED_REQUIRED_BITS != 0 || kind > 2 {
                return Probe::NoMatch;
            }
            let Some(size) = parser::i32_at(body, 5) else {
                return need_more(9);
            };
            // A body document or a sequence must fit in the message.
            let limit = body_len - 5;
            if size < 4 + i32::from(kind == 0) || size as usize > limit {
                return Probe::NoMatch;
            }
            Probe::Match
        }
        OpCode::Query | OpCode::Insert | OpCode::Update | OpCode::Delete | OpCode::GetMore => {
            let Some(first) = parser::i32_at(body, 0) else {
                return need_more(4);
            };
            let first_ok = match op {
                OpCode::Query => first & !0xfe == 0,
                OpCode::Insert => first & !1 == 0,
                _ => first == 0,
            };
            if !first_ok {
                return Probe::NoMatch;
            }
            probe_namespace(body.get(4..).unwrap_or_default(), complete, true)
        }
        OpCode::Command => probe_namespace(body, complete, false),
        OpCode::KillCursors => {
            let (Some(zero), Some(count)) = (parser::i32_at(body, 0), parser::i32_at(body, 4))
            else {
                return need_more(8);
            };
            let fits = (count as i64)
                .checked_mul(8)
                .is_some_and(|n| n + 8 <= body_len as i64);
            if zero == 0 && count > 0 && fits {
                Probe::Match
            } else {
                Probe::NoMatch
            }
        }
        OpCode::Compressed => {
            let Some(info) = parser::compressed(body) else {
                return need_more(9);
            };
            let known =
                OpCode::from_i32(info.original_opcode).is_some_and(|o| o != OpCode::Compressed);
            if known && info.compressor <= 3 && info.uncompressed_size >= 0 {
                Probe::Match
            } else {
                Probe::NoMatch
            }
        }
        OpCode::Reply => {
            let Some(reply) = parser::reply(body) else {
                return need_more(20);
            };
            if reply.flags & !0xf == 0 && reply.starting_from >= 0 && reply.number_returned >= 0 {
                Probe::Match
            } else {
                Probe::NoMatch
            }
        }
        OpCode::CommandReply => match parser::i32_at(body, 0) {
            Some(size) if size >= 5 && size as usize <= body_len => Probe::Match,
            Some(_) => Probe::NoMatch,
            None => need_more(4),
        },
    }
}

/// A database or `db.collection` name: printable, no spaces, short.
fn probe_namespace(data: &[u8], complete: bool, needs_dot: bool) -> Probe {
    const MAX_NAMESPACE: usize = 255;
    let window = data.get(..MAX_NAMESPACE + 1).unwrap_or(data);
    match memchr::memchr(0, window) {
        Some(0) => Probe::NoMatch,
        Some(nul) => {
            let name = window.get(..nul).unwrap_or_default();
            let printable = name.iter().all(|b| (0x21..0x7f).contains(b));
            if printable && (!needs_dot || memchr::memchr(b'.', name).is_some()) {
                Probe::Match
            } else {
                Probe::NoMatch
            }
        }
        None => {
            let printable = window.iter().all(|b| (0x21..0x7f).contains(b));
            if printable && window.len() <= MAX_NAMESPACE && !complete {
                Probe::NeedMore
            } else {
                Probe::NoMatch
            }
        }
    }
}

fn new() -> Box<dyn Dissector> {
    Box::new(Mongo::default())
}

#[derive(Default)]
struct Stream {
    /// Bytes of an oversized message still to stream past.
    skip: u64,
    /// A length that cannot be was seen: nothing more is parsed here.
    dead: bool,
    /// Framing was lost in a gap: look for the next plausible header.
    resync: bool,
    /// Time of the packet that brought the first unconsumed byte: a
    /// message's events carry the time its first byte was seen.
    since: Option<Timestamp>,
}

struct Waiting {
    ts: Timestamp,
    command: MongoCommand,
    is_command: bool,
    auth_step: bool,
}

struct OpenAuth {
    ts: Timestamp,
    auth: MongoAuth,
    sasl: bool,
    speculative: bool,
    /// The request whose reply decides the next step.
    request_id: Option<i32>,
}

#[derive(Default)]
struct Mongo {
    streams: [Stream; 2],
    waiting: VecDeque<Waiting>,
    auth: Option<OpenAuth>,
    anomalies: u32,
}

impl Dissector for Mongo {
    fn name(&self) -> &'static str {
        "mongo"
    }

    fn parse(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let i = dir.index();
        let first_ts = self.streams[i].since.take().unwrap_or(ctx.ts);
        let used = self.frame(dir, data, first_ts, ctx);
        if used < data.len() {
            self.streams[i].since = Some(if used == 0 { first_ts } else { ctx.ts });
        }
        used
    }

    fn gap(&mut self, dir: Direction, len: u64, _ctx: &mut Ctx<'_>) {
        let stream = &mut self.streams[dir.index()];
        stream.since = None;
        if stream.dead {
            return;
        }
        // A hole inside a message being skipped leaves the framing intact.
        if stream.skip > 0 && len <= stream.skip {
            stream.skip -= len;
            return;
        }
        stream.skip = 0;
        stream.resync = true;
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(waiting) = self.waiting.pop_front() {
            ctx.emit_at(waiting.ts, MongoEvent::Command(waiting.command));
        }
        if let Some(open) = self.auth.take() {
            if !open.speculative {
                ctx.emit_at(open.ts, MongoEvent::Auth(open.auth));
            }
        }
    }

    fn wants_more(&self) -> bool {
        !(self.streams[0].dead && self.streams[1].dead)
    }
}

impl Mongo {
    /// Frames and decodes the messages in `data`; returns the bytes used.
    /// `first_ts` is the time of `data`'s first byte.
    fn frame(
        &mut self,
        dir: Direction,
        data: &[u8],
        first_ts: Timestamp,
        ctx: &mut Ctx<'_>,
    ) -> usize {
        let i = dir.index();
        let mut at = 0usize;
        loop {
            let ts = if at == 0 { first_ts } else { ctx.ts };
            let stream = &mut self.streams[i];
            let rest = data.get(at..).unwrap_or_default();
            if stream.skip > 0 {
                let n = usize::try_from(stream.skip)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                stream.skip -= n as u64;
                at += n;
                if stream.skip > 0 {
                    return at;
                }
                continue;
            }
            if stream.dead {
                return data.len();
            }
            if stream.resync {
                match find_header(dir, rest) {
                    Resync::Found(offset) => {
                        stream.resync = false;
                        at += offset;
                        continue;
                    }
                    // Keep what may be the start of a header.
                    Resync::Wait(offset) => return at + offset,
                    Resync::NotHere => return data.len(),
                }
            }
            let Some(header) = parser::header(rest) else {
                return at;
            };
            if !(HEADER_LEN as u32..=MAX_MESSAGE_LEN).contains(&header.length) {
                stream.dead = true;
                self.anomaly(
                    ctx,
                    "bad_length",
                    format!("message length {}", header.length),
                    dir,
                );
                return data.len();
            }
            let length = header.length as usize;
            if length <= KEEP_BYTES {
                let Some(message) = rest.get(..length) else {
                    return at;
                };
                self.message(dir, header, message, true, ts, ctx);
                at += length;
            } else if let Some(prefix) = rest.get(..KEEP_BYTES) {
                // Decode a fixed prefix (even when more is there, so that
                // the events do not depend on how the bytes arrived), then
                // stream past the rest.
                self.message(dir, header, prefix, false, ts, ctx);
                at += KEEP_BYTES;
                self.streams[i].skip = (length - KEEP_BYTES) as u64;
            } else {
                return at;
            }
        }
    }
}

enum Resync {
    Found(usize),
    Wait(usize),
    NotHere,
}

/// Where the first plausible message header in `data` is, or where one may
/// begin once more bytes come.
fn find_header(dir: Direction, data: &[u8]) -> Resync {
    for offset in 0..data.len() {
        match probe(dir, data.get(offset..).unwrap_or_default()) {
            Probe::Match => return Resync::Found(offset),
            Probe::NeedMore => return Resync::Wait(offset),
            Probe::NoMatch => {}
        }
    }
    Resync::NotHere
}

impl Mongo {
    fn anomaly(&mut self, ctx: &mut Ctx<'_>, kind: &str, detail: String, dir: Direction) {
        if self.anomalies < MAX_ANOMALIES {
            self.anomalies += 1;
            ctx.anomaly("mongo", kind, detail, Some(dir));
        }
    }

    /// One message (whole, or its kept prefix).
    fn message(
        &mut self,
        dir: Direction,
        header: parser::Header,
        message: &[u8],
        whole: bool,
        ts: Timestamp,
        ctx: &mut Ctx<'_>,
    ) {
        let Some(op) = OpCode::from_i32(header.opcode) else {
            self.anomaly(
                ctx,
                "unknown_opcode",
                format!("opcode {}", header.opcode),
                dir,
            );
            return;
        };
        let body = message.get(HEADER_LEN..).unwrap_or_default();
        if op == OpCode::Msg && whole {
            self.check_checksum(dir, message, ctx);
        }
        match dir {
            Direction::ToServer if op.is_request() => {
                self.request(op, header, body, whole, ts, ctx)
            }
            Direction::ToClient
                if !op.is_request() || matches!(op, OpCode::Msg | OpCode::Compressed) =>
            {
                self.reply(op, header, body, whole, ctx)
            }
            _ => self.anomaly(
                ctx,
                "unexpected_opcode",
                format!("{} in this direction", op.name()),
                dir,
            ),
        }
    }

    fn check_checksum(&mut self, dir: Direction, message: &[u8], ctx: &mut Ctx<'_>) {
        let Some(flags) = parser::u32_at(message, HEADER_LEN) else {
            return;
        };
        if flags & parser::MSG_CHECKSUM_PRESENT == 0 {
            return;
        }
        let Some(split) = message
            .len()
            .checked_sub(4)
            .filter(|&s| s >= HEADER_LEN + 4)
        else {
            self.anomaly(
                ctx,
                "bad_checksum",
                "no room for the checksum".to_string(),
                dir,
            );
            return;
        };
        let (covered, sum) = message.split_at(split);
        if parser::u32_at(sum, 0) != Some(parser::crc32c(covered)) {
            self.anomaly(
                ctx,
                "bad_checksum",
                "OP_MSG CRC-32C does not match".to_string(),
                dir,
            );
        }
    }

    fn request(
        &mut self,
        op: OpCode,
        header: parser::Header,
        body: &[u8],
        whole: bool,
        ts: Timestamp,
        ctx: &mut Ctx<'_>,
    ) {
        let Request {
            command,
            expects_reply,
            is_command,
            auth,
            problem,
        } = message::request(op, header.request_id, header.length, body, whole);
        if let Some(problem) = problem {
            self.anomaly(ctx, "malformed_message", problem, Direction::ToServer);
        }
        let auth_step = auth.is_some();
        match auth {
            Some(AuthStep::Start {
                start,
                sasl,
                speculative,
            }) => {
                self.finish_auth(ctx);
                self.auth = Some(OpenAuth {
                    ts,
                    auth: start.auth,
                    sasl,
                    speculative,
                    request_id: Some(header.request_id),
                });
            }
            Some(AuthStep::Continue) => {
                if let Some(open) = self.auth.as_mut() {
                    open.request_id = Some(header.request_id);
                }
            }
            None => {}
        }
        if !expects_reply {
            ctx.emit_at(ts, MongoEvent::Command(command));
            return;
        }
        if self.waiting.len() >= MAX_WAITING {
            if let Some(oldest) = self.waiting.pop_front() {
                ctx.emit_at(oldest.ts, MongoEvent::Command(oldest.command));
            }
        }
        self.waiting.push_back(Waiting {
            ts,
            command,
            is_command,
            auth_step,
        });
    }

    fn reply(
        &mut self,
        op: OpCode,
        header: parser::Header,
        body: &[u8],
        whole: bool,
        ctx: &mut Ctx<'_>,
    ) {
        let Some(index) = self
            .waiting
            .iter()
            .position(|w| w.command.request_id == header.response_to)
        else {
            // A reply to something not seen (picked up mid-stream, or an
            // exhaust cursor's follow-up): nothing to pair it with.
            return;
        };
        let Some(mut waiting) = self.waiting.remove(index) else {
            return;
        };
        let facts = message::reply(op, body, whole, waiting.is_command);
        message::apply(&mut waiting.command, &facts);
        ctx.emit_at(waiting.ts, MongoEvent::Command(waiting.command));
        if waiting.auth_step {
            self.auth_reply(header.response_to, &facts, ctx);
        }
    }

    fn auth_reply(&mut self, response_to: i32, facts: &message::ReplyFacts<'_>, ctx: &mut Ctx<'_>) {
        let Some(open) = self.auth.as_mut() else {
            return;
        };
        if open.request_id != Some(response_to) {
            return;
        }
        open.request_id = None;
        let document = if open.speculative {
            // A server that declines speculative authentication leaves the
            // field out; the client then authenticates the long way.
            match facts.document.and_then(message::speculative_reply) {
                Some(doc) => Some(doc),
                None => {
                    self.auth = None;
                    return;
                }
            }
        } else {
            facts.document
        };
        let outcome = match document {
            Some(doc) => auth::outcome(open.sasl, doc),
            None => auth::Outcome::Failed(facts.error.clone()),
        };
        match outcome {
            auth::Outcome::Continues => {
                // Later steps are ordinary saslContinue commands.
                open.speculative = false;
            }
            auth::Outcome::Succeeded => {
                open.auth.success = Some(true);
                open.speculative = false;
                self.finish_auth(ctx);
            }
            auth::Outcome::Failed(error) => {
                open.auth.success = Some(false);
                open.auth.error = error;
                open.speculative = false;
                self.finish_auth(ctx);
            }
        }
    }

    /// Emits the open authentication (unless it was a speculative attempt
    /// nobody answered).
    fn finish_auth(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(open) = self.auth.take() {
            if !open.speculative {
                ctx.emit_at(open.ts, MongoEvent::Auth(open.auth));
            }
        }
    }
}

#[cfg(test)]
mod tests;
