//! Streaming RESP2/RESP3 reader: bytes in, at most one finished message
//! out per step, no I/O.
//!
//! Aggregates are never held whole: the reader keeps a stack of open
//! aggregates and renders values as they arrive, into capped buffers. Bulk
//! bodies are streamed: a 100 MB `SET` value costs a 4 KiB prefix and a
//! counter, never a buffer of its length.

use memchr::memchr;

/// Cap on one kept string (argument, item).
pub const MAX_ITEM: usize = 4096;
/// Cap on the number of items kept per message.
pub const MAX_ITEMS: usize = 1024;
/// Cap on the rendering of a whole reply.
pub const MAX_RENDER: usize = 4096;
/// Longest header or inline line accepted (Redis itself allows 64 KiB).
pub const MAX_LINE: usize = 64 * 1024;
/// Deepest aggregate nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// A finished message.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Message {
    /// Type byte of the top-level value (attributes skipped); `b' '` for an
    /// inline command.
    pub kind: u8,
    /// The top-level aggregate's elements, each rendered (or the inline
    /// command's tokens).
    pub items: Vec<Vec<u8>>,
    /// Some item or the item list was capped.
    pub items_truncated: bool,
    /// A readable rendering of the whole value.
    pub render: Vec<u8>,
    pub render_truncated: bool,
    /// `-` or `!` at the top level.
    pub is_error: bool,
    /// Null at the top level (`$-1`, `*-1`, `_`).
    pub is_null: bool,
    /// An aggregate at the top level (`*`, `~`, `>`, `%`).
    pub is_aggregate: bool,
    /// Streamed (`?`) types were used.
    pub streamed: bool,
}

/// What went wrong; the reader has skipped past the offending line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadType,
    BadLength,
    LineTooLong,
    TooDeep,
    BadTerminator,
    BadInline,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadType => "bad_type",
            ErrorKind::BadLength => "bad_length",
            ErrorKind::LineTooLong => "line_too_long",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::BadTerminator => "bad_terminator",
            ErrorKind::BadInline => "bad_inline",
        }
    }
}

/// Result of one [`Reader::step`].
#[derive(Debug, PartialEq)]
pub enum Step {
    /// `used` bytes consumed; maybe a message finished.
    Progress { used: usize, done: Option<Message> },
    /// Not RESP; `used` bytes (through the bad line) are skipped.
    Error { used: usize, kind: ErrorKind },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agg {
    Array,
    Map,
    Attribute,
    /// `$?`: children are `;n` chunks.
    StreamedString,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    agg: Agg,
    /// Elements still expected; `None` for streamed aggregates (end at `.`).
    left: Option<u64>,
    seen: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bulk {
    /// Content bytes still to come.
    left: u64,
    /// Leading bytes to drop (`txt:` of a verbatim string).
    skip: u8,
    /// Trailing CRLF still to come (2, 1, 0).
    crlf: u8,
    /// Whether the content goes to the current item too.
    to_item: bool,
}

/// Streaming reader for one direction.
#[derive(Debug, Default)]
pub struct Reader {
    /// Client side: lines not starting with `*` are inline commands.
    client: bool,
    stack: Vec<Frame>,
    bulk: Option<Bulk>,
    msg: Message,
    in_message: bool,
    /// Stack index of the outermost open attribute: output is muted.
    mute_at: Option<usize>,
    /// The current item is past [`MAX_ITEMS`]: do not write to it.
    item_dropped: bool,
    /// The next top-level bulk string is an RDB file sent after `SYNC` /
    /// `PSYNC`: no CRLF follows it.
    rdb_next: bool,
    /// Bytes at the start of the next call's data already known to hold
    /// no line end.
    scanned: usize,
}

impl Reader {
    pub fn new(client: bool) -> Reader {
        Reader {
            client,
            ..Reader::default()
        }
    }

    /// The next top-level bulk string is an RDB transfer (no CRLF after it).
    pub fn expect_rdb(&mut self) {
        self.rdb_next = true;
    }

    /// True between messages.
    pub fn idle(&self) -> bool {
        !self.in_message
    }

    /// Drops any partial message (after a gap).
    pub fn reset(&mut self) {
        let (client, rdb_next) = (self.client, self.rdb_next);
        *self = Reader::new(client);
        self.rdb_next = rdb_next;
    }

    /// Consumes from `data` until a message finishes, more bytes are
    /// needed, or an error. Call again with the rest while `used > 0`.
    pub fn step(&mut self, data: &[u8]) -> Step {
        let mut pos = 0;
        loop {
            if let Some(bulk) = self.bulk {
                let rest = data.get(pos..).unwrap_or_default();
                match self.feed_bulk(bulk, rest) {
                    BulkStep::More(used) => {
                        return Step::Progress {
                            used: pos + used,
                            done: None,
                        }
                    }
                    BulkStep::Done(used) => {
                        pos += used;
                        self.bulk = None;
                        if let Some(done) = self.element_done() {
                            return Step::Progress {
                                used: pos,
                                done: Some(done),
                            };
                        }
                        continue;
                    }
                    BulkStep::Bad(used) => return self.fail(pos + used, ErrorKind::BadTerminator),
                }
            }
            let rest = data.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                return Step::Progress {
                    used: pos,
                    done: None,
                };
            }
            let window = &rest[..rest.len().min(MAX_LINE)];
            // A line arriving in many small segments is scanned once.
            let from = if pos == 0 {
                self.scanned.min(window.len())
            } else {
                0
            };
            let Some(lf) = memchr(b'\n', &window[from..]).map(|at| at + from) else {
                if rest.len() >= MAX_LINE {
                    return self.fail(pos + rest.len(), ErrorKind::LineTooLong);
                }
                self.scanned = window.len();
                return Step::Progress {
                    used: pos,
                    done: None,
                };
            };
            self.scanned = 0;
            let line_len = lf + 1;
            let line = strip_cr(&window[..lf]);
            let starting = !self.in_message;
            if starting && line.is_empty() {
                // Bare newlines: keep-alives a master sends while it
                // prepares an RDB file, or a client's empty line.
                pos += line_len;
                continue;
            }
            if starting && self.client && line.first() != Some(&b'*') {
                pos += line_len;
                match inline_message(line) {
                    Ok(Some(msg)) => {
                        return Step::Progress {
                            used: pos,
                            done: Some(msg),
                        }
                    }
                    Ok(None) => continue, // blank line: Redis ignores it
                    Err(kind) => return Step::Error { used: pos, kind },
                }
            }
            match self.header(line) {
                Ok(done) => {
                    pos += line_len;
                    if let Some(done) = done {
                        return Step::Progress {
                            used: pos,
                            done: Some(done),
                        };
                    }
                }
                Err(kind) => return self.fail(pos + line_len, kind),
            }
        }
    }

    fn fail(&mut self, used: usize, kind: ErrorKind) -> Step {
        self.reset();
        Step::Error { used, kind }
    }

    /// One header line (`*3`, `$5`, `+OK`, …).
    fn header(&mut self, line: &[u8]) -> Result<Option<Message>, ErrorKind> {
        let (&ty, body) = line.split_first().ok_or(ErrorKind::BadType)?;
        // Chunks and terminators of streamed types.
        if let Some(top) = self.stack.last().copied() {
            if top.agg == Agg::StreamedString {
                if ty != b';' {
                    return Err(ErrorKind::BadType);
                }
                let len = parse_len(body)?;
                if len == 0 {
                    return Ok(self.close_top());
                }
                let to_item = self.stack.len() > 1;
                self.bulk = Some(Bulk {
                    left: len,
                    skip: 0,
                    crlf: 2,
                    to_item,
                });
                return Ok(None);
            }
            if ty == b'.' && top.left.is_none() && body.is_empty() {
                return Ok(self.close_top());
            }
        }
        if !is_type(ty) {
            return Err(ErrorKind::BadType);
        }
        let attribute = ty == b'|';
        self.begin_element(ty, attribute);
        match ty {
            b'+' | b'-' | b':' | b',' | b'(' => {
                if ty == b':' {
                    parse_int(body).ok_or(ErrorKind::BadLength)?;
                }
                if ty == b'(' && !is_big_number(body) {
                    return Err(ErrorKind::BadLength);
                }
                self.scalar(body);
                Ok(self.element_done())
            }
            b'_' => {
                self.null();
                Ok(self.element_done())
            }
            b'#' => {
                let text: &[u8] = match body {
                    b"t" => b"true",
                    b"f" => b"false",
                    _ => return Err(ErrorKind::BadType),
                };
                self.scalar(text);
                Ok(self.element_done())
            }
            b'$' | b'!' | b'=' => {
                if body == b"?" {
                    self.msg.streamed = true;
                    return self.open(Agg::StreamedString, None);
                }
                let len = parse_signed_len(body)?;
                let Some(len) = len else {
                    self.null();
                    return Ok(self.element_done());
                };
                let skip = if ty == b'=' { 4 } else { 0 };
                let to_item = !self.stack.is_empty();
                let rdb = ty == b'$' && self.stack.is_empty() && std::mem::take(&mut self.rdb_next);
                self.bulk = Some(Bulk {
                    left: len,
                    skip,
                    crlf: if rdb { 0 } else { 2 },
                    to_item,
                });
                Ok(None)
            }
            _ => {
                // Aggregates: * ~ > % |
                let agg = match ty {
                    b'%' => Agg::Map,
                    b'|' => Agg::Attribute,
                    _ => Agg::Array,
                };
                if body == b"?" {
                    self.msg.streamed = true;
                    return self.open(agg, None);
                }
                let Some(count) = parse_signed_len(body)? else {
                    self.null();
                    return Ok(self.element_done());
                };
                // Maps and attributes count pairs.
                let count = if matches!(agg, Agg::Map | Agg::Attribute) {
                    count.checked_mul(2).ok_or(ErrorKind::BadLength)?
                } else {
                    count
                };
                self.open(agg, Some(count))
            }
        }
    }

    /// Bookkeeping when a value starts: message kind, separators, items.
    fn begin_element(&mut self, ty: u8, attribute: bool) {
        if !self.in_message {
            self.in_message = true;
            self.msg = Message::default();
        }
        if attribute {
            return;
        }
        let depth = self.stack.len();
        if depth == 0 {
            self.msg.kind = ty;
            self.msg.is_error = matches!(ty, b'-' | b'!');
            self.msg.is_aggregate = matches!(ty, b'*' | b'~' | b'>' | b'%');
            return;
        }
        if let Some(top) = self.stack.last() {
            if top.seen > 0 {
                let sep: &[u8] = if top.agg == Agg::Map && top.seen % 2 == 1 {
                    b": "
                } else {
                    b", "
                };
                self.write(sep, depth >= 2);
            }
        }
        if depth == 1 && self.mute_at.is_none() {
            if self.msg.items.len() < MAX_ITEMS {
                self.msg.items.push(Vec::new());
                self.item_dropped = false;
            } else {
                self.msg.items_truncated = true;
                self.item_dropped = true;
            }
        }
    }

    fn open(&mut self, agg: Agg, left: Option<u64>) -> Result<Option<Message>, ErrorKind> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(ErrorKind::TooDeep);
        }
        if agg == Agg::Attribute {
            if self.mute_at.is_none() {
                self.mute_at = Some(self.stack.len());
            }
        } else {
            let open: &[u8] = match agg {
                Agg::Map => b"{",
                Agg::StreamedString => b"",
                _ => b"[",
            };
            let to_item = !self.stack.is_empty();
            self.write(open, to_item);
        }
        self.stack.push(Frame { agg, left, seen: 0 });
        if left == Some(0) {
            return Ok(self.close_top());
        }
        Ok(None)
    }

    /// Closes the innermost aggregate and completes it as an element.
    fn close_top(&mut self) -> Option<Message> {
        let frame = self.stack.pop()?;
        self.finish_frame(frame)
    }

    fn finish_frame(&mut self, frame: Frame) -> Option<Message> {
        let depth = self.stack.len();
        if frame.agg == Agg::Attribute {
            if self.mute_at == Some(depth) {
                self.mute_at = None;
            }
            // An attribute is not an element of its parent; the value it
            // annotates follows.
            return None;
        }
        let close: &[u8] = match frame.agg {
            Agg::Map => b"}",
            Agg::StreamedString => b"",
            _ => b"]",
        };
        self.write(close, depth >= 1);
        self.element_done()
    }

    /// A value ended: count it in its parent, closing finished parents.
    fn element_done(&mut self) -> Option<Message> {
        loop {
            let Some(top) = self.stack.last_mut() else {
                return self.finish_message();
            };
            top.seen = top.seen.saturating_add(1);
            match top.left {
                None => return None,
                Some(ref mut left) => {
                    *left = left.saturating_sub(1);
                    if *left > 0 {
                        return None;
                    }
                }
            }
            let frame = self.stack.pop()?;
            if frame.agg == Agg::Attribute {
                return self.finish_frame(frame);
            }
            let depth = self.stack.len();
            let close: &[u8] = if frame.agg == Agg::Map { b"}" } else { b"]" };
            self.write(close, depth >= 1);
        }
    }

    fn finish_message(&mut self) -> Option<Message> {
        self.in_message = false;
        self.item_dropped = false;
        Some(std::mem::take(&mut self.msg))
    }

    fn scalar(&mut self, text: &[u8]) {
        let to_item = !self.stack.is_empty();
        self.write(text, to_item);
    }

    fn null(&mut self) {
        if self.stack.is_empty() {
            self.msg.is_null = true;
        }
        self.scalar(b"(nil)");
    }

    /// Appends to the rendering (and the current item), within the caps.
    fn write(&mut self, bytes: &[u8], to_item: bool) {
        if self.mute_at.is_some() || bytes.is_empty() {
            return;
        }
        // Commands are used by their items; only replies need a rendering.
        if !self.client {
            append_capped(
                &mut self.msg.render,
                bytes,
                MAX_RENDER,
                &mut self.msg.render_truncated,
            );
        }
        if to_item && !self.item_dropped {
            if let Some(item) = self.msg.items.last_mut() {
                append_capped(item, bytes, MAX_ITEM, &mut self.msg.items_truncated);
            }
        }
    }

    fn feed_bulk(&mut self, mut bulk: Bulk, data: &[u8]) -> BulkStep {
        let mut pos = 0;
        if bulk.left > 0 {
            let take = usize::try_from(bulk.left)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let mut chunk = &data[..take];
            let skip = usize::from(bulk.skip).min(chunk.len());
            chunk = &chunk[skip..];
            bulk.skip -= skip as u8;
            self.write(chunk, bulk.to_item);
            bulk.left -= take as u64;
            pos = take;
        }
        while bulk.left == 0 && bulk.crlf > 0 {
            let Some(&b) = data.get(pos) else { break };
            let want = if bulk.crlf == 2 { b'\r' } else { b'\n' };
            if b != want {
                return BulkStep::Bad(pos + 1);
            }
            bulk.crlf -= 1;
            pos += 1;
        }
        if bulk.left == 0 && bulk.crlf == 0 {
            return BulkStep::Done(pos);
        }
        self.bulk = Some(bulk);
        BulkStep::More(pos)
    }
}

enum BulkStep {
    More(usize),
    Done(usize),
    Bad(usize),
}

fn append_capped(buf: &mut Vec<u8>, bytes: &[u8], cap: usize, truncated: &mut bool) {
    let room = cap.saturating_sub(buf.len());
    if bytes.len() > room {
        *truncated = true;
    }
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_type(b: u8) -> bool {
    matches!(
        b,
        b'+' | b'-'
            | b':'
            | b'$'
            | b'*'
            | b'_'
            | b'#'
            | b','
            | b'('
            | b'!'
            | b'='
            | b'%'
            | b'~'
            | b'|'
            | b'>'
    )
}

/// A signed decimal integer, as Redis writes them.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

fn is_big_number(s: &[u8]) -> bool {
    let digits = s
        .strip_prefix(b"-")
        .or_else(|| s.strip_prefix(b"+"))
        .unwrap_or(s);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

fn parse_len(s: &[u8]) -> Result<u64, ErrorKind> {
    match parse_int(s) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(ErrorKind::BadLength),
    }
}

/// A length where `-1` means null.
fn parse_signed_len(s: &[u8]) -> Result<Option<u64>, ErrorKind> {
    match parse_int(s) {
        Some(-1) => Ok(None),
        Some(n) if n >= 0 => Ok(Some(n as u64)),
        _ => Err(ErrorKind::BadLength),
    }
}

/// Splits an inline command line like Redis's `sdssplitargs`: spaces
/// separate, `"…"` takes `\n \r \t \b \a \\ \" \xHH` escapes, `'…'` takes
/// `\'`. `Ok(None)` for a blank line.
pub fn inline_message(line: &[u8]) -> Result<Option<Message>, ErrorKind> {
    let mut msg = Message {
        kind: b' ',
        ..Message::default()
    };
    let mut i = 0;
    loop {
        while line
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == 0)
        {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut token = Vec::new();
        let mut truncated = false;
        let mut push = |token: &mut Vec<u8>, b: u8| {
            if token.len() < MAX_ITEM {
                token.push(b);
            } else {
                truncated = true;
            }
        };
        let quote = match line.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                i += 1;
                Some(q)
            }
            _ => None,
        };
        loop {
            let Some(&b) = line.get(i) else {
                if quote.is_some() {
                    return Err(ErrorKind::BadInline); // unbalanced quotes
                }
                break;
            };
            match quote {
                None => {
                    if b.is_ascii_whitespace() || b == 0 {
                        break;
                    }
                    push(&mut token, b);
                    i += 1;
                }
                Some(b'"') => {
                    if b == b'"' {
                        i += 1;
                        break;
                    }
                    if b == b'\\' {
                        if let (Some(h), Some(l)) = (line.get(i + 2), line.get(i + 3)) {
                            if line.get(i + 1) == Some(&b'x')
                                && h.is_ascii_hexdigit()
                                && l.is_ascii_hexdigit()
                            {
                                push(&mut token, hex(*h) << 4 | hex(*l));
                                i += 4;
                                continue;
                            }
                        }
                        if let Some(&e) = line.get(i + 1) {
                            let c = match e {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 8,
                                b'a' => 7,
                                other => other,
                            };
                            push(&mut token, c);
                            i += 2;
                            continue;
                        }
                    }
                    push(&mut token, b);
                    i += 1;
                }
                Some(_) => {
                    if b == b'\'' {
                        i += 1;
                        break;
                    }
                    if b == b'\\' && line.get(i + 1) == Some(&b'\'') {
                        push(&mut token, b'\'');
                        i += 2;
                        continue;
                    }
                    push(&mut token, b);
                    i += 1;
                }
            }
        }
        // A closing quote must be followed by a space or the end.
        if quote.is_some() && line.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
            return Err(ErrorKind::BadInline);
        }
        if truncated {
            msg.items_truncated = true;
        }
        if msg.items.len() < MAX_ITEMS {
            msg.items.push(token);
        } else {
            msg.items_truncated = true;
        }
    }
    if msg.items.is_empty() {
        return Ok(None);
    }
    Ok(Some(msg))
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// [`text`], reusing the buffer when it is valid UTF-8.
pub fn text_owned(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| text(e.as_bytes()))
}

/// Bytes as text: valid UTF-8 as is, other bytes as `\xNN`.
pub fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the reader over `data` fed in pieces of `chunk` bytes, the way
    /// the driver does (unconsumed bytes are handed back).
    fn messages(client: bool, data: &[u8], chunk: usize) -> Vec<Result<Message, ErrorKind>> {
        let mut reader = Reader::new(client);
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for piece in data.chunks(chunk.max(1)) {
            pending.extend_from_slice(piece);
            let mut pos = 0;
            loop {
                match reader.step(&pending[pos..]) {
                    Step::Progress { used, done } => {
                        pos += used;
                        if let Some(m) = done {
                            out.push(Ok(m));
                        } else if used == 0 || pos >= pending.len() {
                            break;
                        }
                    }
                    Step::Error { used, kind } => {
                        pos += used;
                        out.push(Err(kind));
                    }
                }
            }
            pending.drain(..pos);
        }
        out
    }

    fn render(data: &[u8]) -> String {
        let msgs = messages(false, data, 1000);
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        text(&msgs[0].as_ref().unwrap().render)
    }

    #[test]
    fn renders_resp2_and_resp3_values() {
        assert_eq!(render(b"+OK\r\n"), "OK");
        assert_eq!(render(b"-ERR no\r\n"), "ERR no");
        assert_eq!(render(b":42\r\n"), "42");
        assert_eq!(render(b"$5\r\nhello\r\n"), "hello");
        assert_eq!(render(b"$0\r\n\r\n"), "");
        assert_eq!(render(b"$-1\r\n"), "(nil)");
        assert_eq!(render(b"*-1\r\n"), "(nil)");
        assert_eq!(render(b"*0\r\n"), "[]");
        assert_eq!(render(b"_\r\n"), "(nil)");
        assert_eq!(render(b"#t\r\n"), "true");
        assert_eq!(render(b",3.14\r\n"), "3.14");
        assert_eq!(
            render(b"(3492890328409238509324850943850943825024385\r\n"),
            "3492890328409238509324850943850943825024385"
        );
        assert_eq!(render(b"=15\r\ntxt:Some string\r\n"), "Some string");
        assert_eq!(
            render(b"!21\r\nSYNTAX invalid syntax\r\n"),
            "SYNTAX invalid syntax"
        );
        assert_eq!(
            render(b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"),
            "{first: 1, second: 2}"
        );
        assert_eq!(render(b"~2\r\n+a\r\n+b\r\n"), "[a, b]");
        assert_eq!(render(b">2\r\n+a\r\n+b\r\n"), "[a, b]");
        assert_eq!(render(b"*2\r\n*1\r\n:1\r\n$1\r\nx\r\n"), "[[1], x]");
        // An attribute annotates the value that follows and is not shown.
        assert_eq!(
            render(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n:1\r\n"),
            "[2, 1]"
        );
        assert_eq!(
            render(b"*3\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n:3\r\n"),
            "[1, 2, 3]"
        );
        // Streamed string and aggregate.
        assert_eq!(
            render(b"$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n"),
            "Hello word"
        );
        assert_eq!(render(b"*?\r\n:1\r\n:2\r\n.\r\n"), "[1, 2]");
    }

    #[test]
    fn items_are_the_top_level_elements() {
        let msgs = messages(
            true,
            b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n*2\r\n:1\r\n:2\r\n",
            3,
        );
        let m = msgs[0].as_ref().unwrap();
        assert_eq!(
            m.items,
            vec![b"SET".to_vec(), b"key".to_vec(), b"[1, 2]".to_vec()]
        );
    }

    #[test]
    fn inline_commands_are_split_like_redis() {
        let m = inline_message(br#"SET "a b\x41\"" 'it\'s' plain"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            m.items,
            vec![
                b"SET".to_vec(),
                b"a bA\"".to_vec(),
                b"it's".to_vec(),
                b"plain".to_vec()
            ]
        );
        assert_eq!(inline_message(b"   ").unwrap(), None);
        assert_eq!(
            inline_message(b"SET \"open").unwrap_err(),
            ErrorKind::BadInline
        );
        assert_eq!(
            inline_message(b"SET \"a\"b").unwrap_err(),
            ErrorKind::BadInline
        );
    }

    #[test]
    fn large_bulk_is_streamed_not_buffered() {
        let mut reader = Reader::new(true);
        assert_eq!(
            reader.step(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\nxx"),
            Step::Progress {
                used: 34,
                done: None
            }
        );
        let block = vec![b'v'; 1 << 20];
        let mut left = 100_000_000usize - 2;
        while left > 0 {
            let n = left.min(block.len());
            assert_eq!(
                reader.step(&block[..n]),
                Step::Progress {
                    used: n,
                    done: None
                }
            );
            left -= n;
        }
        let Step::Progress {
            used: 2,
            done: Some(m),
        } = reader.step(b"\r\n")
        else {
            panic!()
        };
        assert_eq!(m.items[2].len(), MAX_ITEM);
        assert!(m.items_truncated);
    }

    #[test]
    fn bad_input_is_an_error_and_skipped() {
        let msgs = messages(false, b"+OK\r\nnot RESP\r\n:1\r\n", 4);
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1], Err(ErrorKind::BadType));
        assert_eq!(text(&msgs[2].as_ref().unwrap().render), "1");
        assert_eq!(
            messages(false, b"$3\r\nabcd\r\n", 100)[0],
            Err(ErrorKind::BadTerminator)
        );
        assert_eq!(
            messages(false, b"*x\r\n", 100)[0],
            Err(ErrorKind::BadLength)
        );
    }

    #[test]
    fn text_escapes_invalid_utf8() {
        assert_eq!(text(b"a\xffb"), "a\\xffb");
        assert_eq!(text("é".as_bytes()), "é");
    }
}
