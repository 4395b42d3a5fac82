//! MongoDB wire framing: the 16-byte header, OP_QUERY (legacy handshakes)
//! and OP_MSG requests, OP_REPLY and OP_MSG answers. Every length comes
//! from the client, so every read is checked against what is there.

use std::io::Read;

use bson::Document;

use crate::error::{Error, Result};

pub const OP_REPLY: i32 = 1;
pub const OP_QUERY: i32 = 2004;
pub const OP_MSG: i32 = 2013;
/// What we advertise in `hello` as maxMessageSizeBytes.
pub const MAX_MESSAGE: usize = 48_000_000;

#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub length: usize,
    pub request_id: i32,
    pub response_to: i32,
    pub op_code: i32,
}

/// A request as the decoy needs it: the command document, its database and
/// the opcode to answer with.
#[derive(Debug, Clone)]
pub struct Request {
    pub header: Header,
    pub db: String,
    /// For OP_QUERY on a non-`$cmd` collection: the collection queried.
    pub collection: Option<String>,
    pub command: Document,
    /// OP_MSG flag bit 1: the client does not want an answer.
    pub more_to_come: bool,
}

/// Reads one whole message; `None` when the client closed between messages.
pub fn read_message(r: &mut impl Read) -> Result<Option<(Header, Vec<u8>)>> {
    let mut head = [0u8; 16];
    match r.read_exact(&mut head[..4]) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    r.read_exact(&mut head[4..])?;
    let field = |i: usize| i32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let length = field(0);
    if length < 16 {
        return Err(Error::Malformed(format!("message length {length}")));
    }
    let length = length as usize;
    if length > MAX_MESSAGE {
        return Err(Error::TooLarge(length));
    }
    let header = Header { length, request_id: field(4), response_to: field(8), op_code: field(12) };
    let mut body = vec![0u8; length - 16];
    r.read_exact(&mut body)?;
    Ok(Some((header, body)))
}

/// A cursor over a message body with checked reads.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| Error::Malformed(format!("wanted {n} bytes at offset {}", self.pos)))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(self.i32()? as u32)
    }
    fn cstring(&mut self) -> Result<String> {
        let rest = &self.buf[self.pos..];
        let nul = rest.iter().position(|&b| b == 0).ok_or_else(|| Error::Malformed("unterminated string".into()))?;
        let s = String::from_utf8_lossy(&rest[..nul]).into_owned();
        self.pos += nul + 1;
        Ok(s)
    }
    fn document(&mut self) -> Result<Document> {
        let len_bytes = self.buf.get(self.pos..self.pos + 4).ok_or_else(|| Error::Malformed("truncated document".into()))?;
        let len = i32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        if len < 5 {
            return Err(Error::Malformed(format!("document length {len}")));
        }
        let bytes = self.take(len as usize)?;
        Document::from_reader(bytes).map_err(|e| Error::Bson(e.to_string()))
    }
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// Parses an OP_QUERY or OP_MSG body into a [`Request`].
pub fn parse(header: Header, body: &[u8]) -> Result<Request> {
    let mut c = Cursor { buf: body, pos: 0 };
    match header.op_code {
        OP_QUERY => {
            let _flags = c.i32()?;
            let full = c.cstring()?;
            let _skip = c.i32()?;
            let _n_return = c.i32()?;
            let mut query = c.document()?;
            // Drivers wrap commands as {$query: {...}, $readPreference: ...}.
            if let Ok(inner) = query.get_document("$query") {
                query = inner.clone();
            }
            let (db, coll) = full.split_once('.').unwrap_or((full.as_str(), ""));
            let collection = (coll != "$cmd" && !coll.is_empty()).then(|| coll.to_string());
            Ok(Request { header, db: db.to_string(), collection, command: query, more_to_come: false })
        }
        OP_MSG => {
            let flags = c.u32()?;
            // Checksum present (bit 0): the last 4 bytes are not sections.
            if flags & 1 != 0 {
                if c.buf.len() < 4 {
                    return Err(Error::Malformed("checksum flag without checksum".into()));
                }
                c.buf = &c.buf[..c.buf.len() - 4];
            }
            let mut body: Option<Document> = None;
            let mut sequences: Vec<(String, Vec<bson::Bson>)> = Vec::new();
            while !c.done() {
                match c.take(1)?[0] {
                    0 => body = Some(c.document()?),
                    1 => {
                        let size = c.i32()?;
                        if size < 5 {
                            return Err(Error::Malformed(format!("sequence size {size}")));
                        }
                        let section = c.take(size as usize - 4)?;
                        let mut s = Cursor { buf: section, pos: 0 };
                        let id = s.cstring()?;
                        let mut docs = Vec::new();
                        while !s.done() {
                            docs.push(bson::Bson::Document(s.document()?));
                        }
                        sequences.push((id, docs));
                    }
                    kind => return Err(Error::Malformed(format!("section kind {kind}"))),
                }
            }
            let mut command = body.ok_or_else(|| Error::Malformed("OP_MSG without a body section".into()))?;
            for (id, docs) in sequences {
                command.insert(id, docs);
            }
            let db = command.get_str("$db").unwrap_or("admin").to_string();
            Ok(Request { header, db, collection: None, command, more_to_come: flags & 2 != 0 })
        }
        other => Err(Error::UnsupportedOpcode(other)),
    }
}

fn frame(request_id: i32, response_to: i32, op_code: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + payload.len());
    out.extend_from_slice(&((16 + payload.len()) as i32).to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&op_code.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn doc_bytes(doc: &Document) -> Vec<u8> {
    // A Document built by the decoy always serialises.
    doc.to_vec().unwrap_or_default()
}

/// The answer in the opcode the request came in.
pub fn reply(request: &Request, request_id: i32, doc: &Document) -> Vec<u8> {
    let response_to = request.header.request_id;
    let bytes = doc_bytes(doc);
    if request.header.op_code == OP_QUERY {
        let mut p = Vec::with_capacity(20 + bytes.len());
        p.extend_from_slice(&8i32.to_le_bytes()); // AwaitCapable
        p.extend_from_slice(&0i64.to_le_bytes());
        p.extend_from_slice(&0i32.to_le_bytes());
        p.extend_from_slice(&1i32.to_le_bytes());
        p.extend_from_slice(&bytes);
        frame(request_id, response_to, OP_REPLY, &p)
    } else {
        let mut p = Vec::with_capacity(5 + bytes.len());
        p.extend_from_slice(&0u32.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&bytes);
        frame(request_id, response_to, OP_MSG, &p)
    }
}
