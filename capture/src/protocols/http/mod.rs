//! HTTP/1.x: requests paired with responses (pipelining, `100 Continue`,
//! Upgrade and CONNECT), bodies by length, chunked or until close, streamed
//! through SHA-256 into artifacts. One `http.request` event per pair.

mod body;
mod multipart;
mod parser;
mod probe;
mod transaction;

use std::collections::VecDeque;

use model::events::http::HttpEvent;
use model::Direction;

use self::body::{Body, Framing, Progress};
use self::transaction::{After, Tx};
use super::{Ctx, Dissector, ProtocolSpec};

pub use self::probe::probe;

pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: "http",
    ports: &[80, 8080],
    probe,
    new,
};

/// Requests awaiting their response (pipelining depth) kept at once.
const MAX_PENDING: usize = 1024;
/// Unparsable heads on one side before that side is given up.
const MAX_BAD_HEADS: u32 = 32;

fn new() -> Box<dyn Dissector> {
    Box::new(Http::default())
}

#[derive(Default)]
enum Phase {
    /// Expecting a head.
    #[default]
    Head,
    Body {
        id: u64,
        body: Box<Body>,
    },
    /// Skipping lines until one starts a head again.
    Resync,
    /// Request side after a CONNECT or Upgrade request: holding bytes until
    /// the response says whether the connection changes protocol.
    AwaitSwitch,
    /// Nothing more to learn (tunnel, or given up).
    Ignore,
}

#[derive(Default)]
struct Http {
    request: Phase,
    response: Phase,
    request_scanned: usize,
    response_scanned: usize,
    txs: VecDeque<Tx>,
    next_id: u64,
    depth: u32,
    bad_requests: u32,
    bad_responses: u32,
    overflow_reported: bool,
}

impl Dissector for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn parse(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        match dir {
            Direction::ToServer => self.parse_requests(data, ctx),
            Direction::ToClient => self.parse_responses(data, ctx),
        }
    }

    fn gap(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>) {
        let to_server = dir == Direction::ToServer;
        let phase = if to_server {
            &mut self.request
        } else {
            &mut self.response
        };
        match phase {
            Phase::Body { body, .. } => {
                if body.gap(len) {
                    return;
                }
            }
            Phase::Head => {}
            Phase::Resync | Phase::AwaitSwitch | Phase::Ignore => return,
        }
        if let Phase::Body { id, body } = std::mem::replace(phase, Phase::Resync) {
            self.finish_body(dir, id, body);
        }
        if to_server {
            self.request_scanned = 0;
        } else {
            self.response_scanned = 0;
        }
        self.flush(ctx);
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        for dir in [Direction::ToServer, Direction::ToClient] {
            let phase = if dir == Direction::ToServer {
                &mut self.request
            } else {
                &mut self.response
            };
            if let Phase::Body { id, body } = std::mem::replace(phase, Phase::Ignore) {
                self.finish_body(dir, id, body);
            }
        }
        for tx in self.txs.drain(..) {
            ctx.emit_at(tx.ts, HttpEvent::Request(tx.event));
        }
    }

    fn wants_more(&self) -> bool {
        !(matches!(self.request, Phase::Ignore) && matches!(self.response, Phase::Ignore))
    }
}

impl Http {
    fn parse_requests(&mut self, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let mut used = 0;
        loop {
            let rest = data.get(used..).unwrap_or_default();
            if rest.is_empty() {
                return used;
            }
            match &mut self.request {
                Phase::Ignore => return data.len(),
                Phase::AwaitSwitch => return used,
                Phase::Resync => match parser::first_line(rest) {
                    Some((line, _)) if parser::looks_like_request_line(line) => {
                        self.request = Phase::Head
                    }
                    Some((_, n)) => used += n,
                    None if rest.len() > parser::MAX_HEAD => return data.len(),
                    None => return used,
                },
                Phase::Body { body, .. } => {
                    let (n, progress) = body.feed(rest, ctx);
                    used += n;
                    match progress {
                        Progress::NeedMore => return used,
                        Progress::Done => self.end_request_body(ctx),
                        Progress::Bad(kind) => {
                            ctx.anomaly(
                                "http",
                                kind,
                                "request body framing broken; resynchronising",
                                Some(Direction::ToServer),
                            );
                            self.end_request_body(ctx);
                            self.request = Phase::Resync;
                        }
                    }
                }
                Phase::Head => match self.request_head(rest, ctx) {
                    Some(n) => used += n,
                    None => return used,
                },
            }
        }
    }

    /// Parses one request head at the start of `rest`; returns the bytes
    /// consumed, `None` when more are needed.
    fn request_head(&mut self, rest: &[u8], ctx: &mut Ctx<'_>) -> Option<usize> {
        // Stray line breaks between messages (after a body) are allowed.
        match rest {
            [b'\n', ..] => return Some(1),
            [b'\r', b'\n', ..] => return Some(2),
            [b'\r'] => return None,
            _ => {}
        }
        let Some((line, line_len)) = parser::first_line(rest) else {
            return self.oversized_request(rest, ctx);
        };
        let Some(request_line) = parser::request_line(line) else {
            self.bad_request(line, ctx);
            return Some(line_len);
        };
        let head_len = match request_line.version {
            Some(_) => parser::head_end(rest, self.request_scanned.saturating_sub(3)),
            None => http09_head_len(rest, line_len, self.request_scanned.saturating_sub(3)),
        };
        let Some(head_len) = head_len else {
            self.request_scanned = rest.len();
            return self.oversized_request(rest, ctx);
        };
        self.request_scanned = 0;
        let block = rest.get(line_len..head_len).unwrap_or_default();
        let id = self.new_id();
        let depth = self.new_depth();
        let head = transaction::request(id, depth, ctx.ts, &request_line, block);
        for (kind, detail) in head.anomalies {
            ctx.anomaly("http", kind, detail, Some(Direction::ToServer));
        }
        let switches = head.tx.is_connect || head.tx.wants_upgrade;
        self.push(head.tx, ctx);
        self.request = match head.framing {
            Some(framing) => Phase::Body {
                id,
                body: Box::new(Body::new(framing, head.multipart_boundary.as_deref())),
            },
            None => {
                self.mark_request_done(id);
                if switches {
                    Phase::AwaitSwitch
                } else {
                    Phase::Head
                }
            }
        };
        self.flush(ctx);
        Some(head_len)
    }

    fn oversized_request(&mut self, rest: &[u8], ctx: &mut Ctx<'_>) -> Option<usize> {
        if rest.len() <= parser::MAX_HEAD {
            return None;
        }
        ctx.anomaly(
            "http",
            "oversized_head",
            "request head over 64 KiB; resynchronising",
            Some(Direction::ToServer),
        );
        self.request_scanned = 0;
        self.give_up_request(true, ctx);
        Some(rest.len())
    }

    /// An unparsable request: it still gets a record (its response will
    /// pair with it), and parsing resumes at the next request line.
    fn bad_request(&mut self, line: &[u8], ctx: &mut Ctx<'_>) {
        let shown = String::from_utf8_lossy(line.get(..line.len().min(120)).unwrap_or_default())
            .into_owned();
        ctx.anomaly("http", "bad_request_line", shown, Some(Direction::ToServer));
        // A line of text was meant as a request: give it a record so that
        // its (error) response pairs with it, not with the next request.
        // Binary bytes (a flow picked up mid-body) get none.
        let text = !line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
        self.give_up_request(text, ctx);
    }

    /// After an unusable request head: maybe a record for it, then skip to
    /// the next request line (or ignore the side after too many).
    fn give_up_request(&mut self, record: bool, ctx: &mut Ctx<'_>) {
        if record {
            let id = self.new_id();
            let depth = self.new_depth();
            self.push(Tx::unknown(id, depth, ctx.ts), ctx);
        }
        self.bad_requests = self.bad_requests.saturating_add(1);
        self.request = if self.bad_requests > MAX_BAD_HEADS {
            ctx.anomaly(
                "http",
                "gave_up",
                "too many unparsable requests",
                Some(Direction::ToServer),
            );
            Phase::Ignore
        } else {
            Phase::Resync
        };
    }

    fn end_request_body(&mut self, ctx: &mut Ctx<'_>) {
        let mut switches = false;
        if let Phase::Body { id, body } = std::mem::take(&mut self.request) {
            switches = self.tx(id).is_some_and(|t| t.is_connect || t.wants_upgrade);
            self.finish_body(Direction::ToServer, id, body);
        }
        self.request = if switches {
            Phase::AwaitSwitch
        } else {
            Phase::Head
        };
        self.flush(ctx);
    }

    fn parse_responses(&mut self, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let mut used = 0;
        loop {
            let rest = data.get(used..).unwrap_or_default();
            if rest.is_empty() {
                return used;
            }
            match &mut self.response {
                Phase::Ignore | Phase::AwaitSwitch => return data.len(),
                Phase::Resync => match parser::first_line(rest) {
                    Some((line, _)) if line.starts_with(b"HTTP/") => self.response = Phase::Head,
                    Some((_, n)) => used += n,
                    None if rest.len() > parser::MAX_HEAD => return data.len(),
                    None => return used,
                },
                Phase::Body { body, .. } => {
                    let (n, progress) = body.feed(rest, ctx);
                    used += n;
                    match progress {
                        Progress::NeedMore => return used,
                        Progress::Done => self.end_response_body(ctx),
                        Progress::Bad(kind) => {
                            ctx.anomaly(
                                "http",
                                kind,
                                "response body framing broken; resynchronising",
                                Some(Direction::ToClient),
                            );
                            self.end_response_body(ctx);
                            self.response = Phase::Resync;
                        }
                    }
                }
                Phase::Head => match self.response_head(rest, ctx) {
                    Some(n) => used += n,
                    None => return used,
                },
            }
        }
    }

    fn response_head(&mut self, rest: &[u8], ctx: &mut Ctx<'_>) -> Option<usize> {
        match rest {
            [b'\n', ..] => return Some(1),
            [b'\r', b'\n', ..] => return Some(2),
            [b'\r'] => return None,
            _ => {}
        }
        if !rest.starts_with(b"HTTP/") {
            if rest.len() < 5 && b"HTTP/".starts_with(rest) {
                return None;
            }
            // An HTTP/0.9 reply is a bare body up to the close.
            if let Some(i) = self
                .awaiting_response()
                .filter(|&i| self.txs.get(i).is_some_and(|t| t.http09))
            {
                let id = self.txs.get_mut(i).map(|t| {
                    t.response_started = true;
                    t.id
                });
                if let Some(id) = id {
                    self.response = Phase::Body {
                        id,
                        body: Box::new(Body::new(Framing::UntilClose, None)),
                    };
                }
                return Some(0);
            }
            self.bad_response(rest, ctx);
            return Some(0);
        }
        let Some(head_len) = parser::head_end(rest, self.response_scanned.saturating_sub(3)) else {
            self.response_scanned = rest.len();
            if rest.len() > parser::MAX_HEAD {
                ctx.anomaly(
                    "http",
                    "oversized_head",
                    "response head over 64 KiB",
                    Some(Direction::ToClient),
                );
                self.response_scanned = 0;
                self.response = Phase::Resync;
                return Some(rest.len());
            }
            return None;
        };
        self.response_scanned = 0;
        let (line, line_len) = parser::first_line(rest)?;
        let Some(status) = parser::status_line(line) else {
            self.bad_response(line, ctx);
            return Some(line_len);
        };
        let block = rest.get(line_len..head_len).unwrap_or_default();
        let index = match self.awaiting_response() {
            Some(i) => i,
            None => {
                // A response to no request we saw.
                let id = self.new_id();
                let depth = self.new_depth();
                self.push(Tx::unknown(id, depth, ctx.ts), ctx);
                self.txs.len().saturating_sub(1)
            }
        };
        let mut anomalies = Vec::new();
        let Some(tx) = self.txs.get_mut(index) else {
            return Some(head_len);
        };
        let id = tx.id;
        let after = transaction::response(tx, &status, block, &mut anomalies);
        let is_final = tx.response_started;
        for (kind, detail) in anomalies {
            ctx.anomaly("http", kind, detail, Some(Direction::ToClient));
        }
        match after {
            After::Nothing if !is_final => {}
            After::Nothing => {
                self.mark_response_done(id);
                self.release_request();
            }
            After::Body(framing) => {
                self.response = Phase::Body {
                    id,
                    body: Box::new(Body::new(framing, None)),
                };
                self.release_request();
            }
            After::Tunnel => {
                self.mark_response_done(id);
                self.request = match std::mem::take(&mut self.request) {
                    Phase::Body { id, body } => {
                        self.finish_body(Direction::ToServer, id, body);
                        Phase::Ignore
                    }
                    _ => Phase::Ignore,
                };
                self.response = Phase::Ignore;
            }
        }
        self.flush(ctx);
        Some(head_len)
    }

    fn bad_response(&mut self, line: &[u8], ctx: &mut Ctx<'_>) {
        let shown = String::from_utf8_lossy(line.get(..line.len().min(120)).unwrap_or_default())
            .into_owned();
        ctx.anomaly(
            "http",
            "bad_response_head",
            shown,
            Some(Direction::ToClient),
        );
        self.bad_responses = self.bad_responses.saturating_add(1);
        self.response = if self.bad_responses > MAX_BAD_HEADS {
            ctx.anomaly(
                "http",
                "gave_up",
                "too many unparsable responses",
                Some(Direction::ToClient),
            );
            Phase::Ignore
        } else {
            Phase::Resync
        };
    }

    /// A final response that does not switch protocols: a request side
    /// holding bytes after CONNECT or Upgrade goes back to requests.
    fn release_request(&mut self) {
        if matches!(self.request, Phase::AwaitSwitch) {
            self.request = Phase::Head;
        }
    }

    fn end_response_body(&mut self, ctx: &mut Ctx<'_>) {
        if let Phase::Body { id, body } = std::mem::take(&mut self.response) {
            self.finish_body(Direction::ToClient, id, body);
        }
        self.flush(ctx);
    }

    /// Records a finished (or cut-off) body in its transaction.
    fn finish_body(&mut self, dir: Direction, id: u64, body: Box<Body>) {
        let done = body.finish();
        let Some(tx) = self.tx(id) else { return };
        for name in &done.filenames {
            tx.add_filename(name);
        }
        for upload in done.uploads {
            tx.add_upload(upload);
        }
        if dir == Direction::ToServer {
            tx.event.request_body_len = done.len;
            tx.event.request_body_sha256 = done.sha256;
            tx.request_done = true;
        } else {
            tx.event.response_body_len = done.len;
            tx.event.response_body_sha256 = done.sha256;
            tx.response_done = true;
        }
    }

    /// Index of the oldest transaction still waiting for its final response.
    fn awaiting_response(&self) -> Option<usize> {
        self.txs.iter().position(|t| !t.response_started)
    }

    fn tx(&mut self, id: u64) -> Option<&mut Tx> {
        self.txs.iter_mut().rev().find(|t| t.id == id)
    }

    fn mark_request_done(&mut self, id: u64) {
        if let Some(tx) = self.tx(id) {
            tx.request_done = true;
        }
    }

    fn mark_response_done(&mut self, id: u64) {
        if let Some(tx) = self.tx(id) {
            tx.response_started = true;
            tx.response_done = true;
        }
    }

    fn push(&mut self, tx: Tx, ctx: &mut Ctx<'_>) {
        if self.txs.len() >= MAX_PENDING {
            if !self.overflow_reported {
                self.overflow_reported = true;
                ctx.anomaly(
                    "http",
                    "too_many_pending",
                    "over 1024 requests awaiting responses",
                    None,
                );
            }
            if let Some(old) = self.txs.pop_front() {
                ctx.emit_at(old.ts, HttpEvent::Request(old.event));
            }
        }
        self.txs.push_back(tx);
    }

    /// Emits finished transactions, oldest first, keeping request order.
    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        while self
            .txs
            .front()
            .is_some_and(|t| t.request_done && t.response_done)
        {
            if let Some(tx) = self.txs.pop_front() {
                ctx.emit_at(tx.ts, HttpEvent::Request(tx.event));
            }
        }
    }

    fn new_id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    fn new_depth(&mut self) -> u32 {
        self.depth = self.depth.saturating_add(1);
        self.depth
    }
}

/// Head length of a request line without a version (HTTP/0.9): the line
/// alone, unless header lines follow it (as Zeek also reads them).
fn http09_head_len(rest: &[u8], line_len: usize, scanned: usize) -> Option<usize> {
    let after = rest.get(line_len..).unwrap_or_default();
    if after.is_empty() {
        return Some(line_len);
    }
    let name_len = after
        .iter()
        .position(|&b| !parser::is_token_char(b))
        .unwrap_or(after.len());
    match after.get(name_len) {
        Some(b':') if name_len > 0 => parser::head_end(rest, scanned),
        None if rest.len() <= parser::MAX_HEAD => None,
        _ => Some(line_len),
    }
}

#[cfg(test)]
mod tests;
