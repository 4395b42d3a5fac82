//! MongoDB wire protocol framing and message layouts: bytes in, borrowed
//! views out. No state, no I/O, no allocation sized by the wire.
//!
//! Every length read from the wire is checked against the slice it
//! describes; a message cut short (only its first bytes are kept) parses
//! into views of what is there, flagged `cut`.

/// The standard message header: messageLength, requestID, responseTo, opCode.
pub const HEADER_LEN: usize = 16;
/// Largest message accepted (the server's limit is 48 MB).
pub const MAX_MESSAGE_LEN: u32 = 48 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub length: u32,
    pub request_id: i32,
    pub response_to: i32,
    pub opcode: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Reply,
    Update,
    Insert,
    Query,
    GetMore,
    Delete,
    KillCursors,
    Command,
    CommandReply,
    Compressed,
    Msg,
}

impl OpCode {
    pub fn from_i32(code: i32) -> Option<OpCode> {
        Some(match code {
            1 => OpCode::Reply,
            2001 => OpCode::Update,
            2002 => OpCode::Insert,
            2004 => OpCode::Query,
            2005 => OpCode::GetMore,
            2006 => OpCode::Delete,
            2007 => OpCode::KillCursors,
            2010 => OpCode::Command,
            2011 => OpCode::CommandReply,
            2012 => OpCode::Compressed,
            2013 => OpCode::Msg,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            OpCode::Reply => "OP_REPLY",
            OpCode::Update => "OP_UPDATE",
            OpCode::Insert => "OP_INSERT",
            OpCode::Query => "OP_QUERY",
            OpCode::GetMore => "OP_GET_MORE",
            OpCode::Delete => "OP_DELETE",
            OpCode::KillCursors => "OP_KILL_CURSORS",
            OpCode::Command => "OP_COMMAND",
            OpCode::CommandReply => "OP_COMMANDREPLY",
            OpCode::Compressed => "OP_COMPRESSED",
            OpCode::Msg => "OP_MSG",
        }
    }

    /// Smallest plausible whole message (header included).
    pub fn min_length(self) -> u32 {
        let body = match self {
            // responseFlags, cursorID, startingFrom, numberReturned
            OpCode::Reply => 20,
            // ZERO, collection "\0", flags, selector, update
            OpCode::Update => 4 + 1 + 4 + 5 + 5,
            // flags, collection, one document
            OpCode::Insert => 4 + 1 + 5,
            // flags, collection, skip, return, query
            OpCode::Query => 4 + 1 + 4 + 4 + 5,
            // ZERO, collection, numberToReturn, cursorID
            OpCode::GetMore => 4 + 1 + 4 + 8,
            // ZERO, collection, flags, selector
            OpCode::Delete => 4 + 1 + 4 + 5,
            // ZERO, count, one cursor id
            OpCode::KillCursors => 4 + 4 + 8,
            // database, commandName, metadata, commandArgs
            OpCode::Command => 1 + 1 + 5 + 5,
            // metadata, commandReply
            OpCode::CommandReply => 5 + 5,
            // originalOpcode, uncompressedSize, compressorId
            OpCode::Compressed => 4 + 4 + 1,
            // flagBits, one kind-0 section
            OpCode::Msg => 4 + 1 + 5,
        };
        HEADER_LEN as u32 + body
    }

    /// Requests a client sends (as opposed to replies).
    pub fn is_request(self) -> bool {
        !matches!(self, OpCode::Reply | OpCode::CommandReply)
    }
}

pub fn i32_at(data: &[u8], at: usize) -> Option<i32> {
    let end = at.checked_add(4)?;
    let bytes: [u8; 4] = data.get(at..end)?.try_into().ok()?;
    Some(i32::from_le_bytes(bytes))
}

pub fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    i32_at(data, at).map(|v| v as u32)
}

pub fn i64_at(data: &[u8], at: usize) -> Option<i64> {
    let end = at.checked_add(8)?;
    let bytes: [u8; 8] = data.get(at..end)?.try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
}

/// The header at the start of `data`, if 16 bytes are there.
pub fn header(data: &[u8]) -> Option<Header> {
    Some(Header {
        length: u32_at(data, 0)?,
        request_id: i32_at(data, 4)?,
        response_to: i32_at(data, 8)?,
        opcode: i32_at(data, 12)?,
    })
}

/// A NUL-terminated string at `at`: its bytes and the offset after the NUL.
pub fn cstring_at(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = data.get(at..)?;
    let nul = memchr::memchr(0, rest)?;
    Some((rest.get(..nul)?, at + nul + 1))
}

/// A BSON document starting at `at`: the bytes its length claims, bounded by
/// `data`. `cut` is true when the document runs past the end of `data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocSlice<'a> {
    pub bytes: &'a [u8],
    pub cut: bool,
}

/// Reads one document at `at`; returns it and the offset after it. `None`
/// when the length is impossible (below 5) or not even 4 bytes are left.
pub fn document_at(data: &[u8], at: usize) -> Option<(DocSlice<'_>, usize)> {
    let declared = i32_at(data, at)?;
    if declared < 5 {
        return None;
    }
    let declared = declared as usize;
    let end = at.checked_add(declared)?;
    match data.get(at..end) {
        Some(bytes) => Some((DocSlice { bytes, cut: false }, end)),
        None => Some((
            DocSlice {
                bytes: data.get(at..)?,
                cut: true,
            },
            data.len(),
        )),
    }
}

/// Documents one after another until the end of `data` (OP_REPLY,
/// OP_INSERT, kind-1 sections). Stops at the first impossible length.
pub struct Documents<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Documents<'a> {
    pub fn new(data: &'a [u8]) -> Documents<'a> {
        Documents { data, at: 0 }
    }
}

impl<'a> Iterator for Documents<'a> {
    type Item = DocSlice<'a>;

    fn next(&mut self) -> Option<DocSlice<'a>> {
        if self.at >= self.data.len() {
            return None;
        }
        match document_at(self.data, self.at) {
            Some((doc, next)) => {
                self.at = next;
                Some(doc)
            }
            None => {
                self.at = self.data.len();
                None
            }
        }
    }
}

/// OP_MSG flag bits.
pub const MSG_CHECKSUM_PRESENT: u32 = 1;
pub const MSG_MORE_TO_COME: u32 = 1 << 1;
/// Bits 2..=15 must be zero (the spec makes them errors).
pub const MSG_RESERVED_REQUIRED_BITS: u32 = 0xfffc;

/// One section of an OP_MSG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section<'a> {
    /// Kind 0: the command (or reply) document.
    Body(DocSlice<'a>),
    /// Kind 1: an identifier and the documents that follow it.
    Sequence {
        identifier: &'a [u8],
        documents: &'a [u8],
        cut: bool,
    },
    /// Kind 2: internal to the server; skipped by its size.
    Internal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionError {
    /// A kind byte other than 0, 1, 2.
    UnknownKind(u8),
    /// A section length that cannot be.
    BadSize,
}

/// Sections of an OP_MSG body (after flagBits, before the checksum).
pub struct Sections<'a> {
    data: &'a [u8],
    at: usize,
    failed: bool,
}

impl<'a> Sections<'a> {
    pub fn new(data: &'a [u8]) -> Sections<'a> {
        Sections {
            data,
            at: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for Sections<'a> {
    type Item = Result<Section<'a>, SectionError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.data.len() {
            return None;
        }
        let kind = *self.data.get(self.at)?;
        let start = self.at + 1;
        let result = match kind {
            0 => match document_at(self.data, start) {
                Some((doc, next)) => {
                    self.at = next;
                    Ok(Section::Body(doc))
                }
                None => Err(SectionError::BadSize),
            },
            1 | 2 => self.sized_section(kind, start),
            other => Err(SectionError::UnknownKind(other)),
        };
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

impl<'a> Sections<'a> {
    fn sized_section(&mut self, kind: u8, start: usize) -> Result<Section<'a>, SectionError> {
        let size = i32_at(self.data, start).ok_or(SectionError::BadSize)?;
        if size < 4 {
            return Err(SectionError::BadSize);
        }
        let declared_end = start
            .checked_add(size as usize)
            .ok_or(SectionError::BadSize)?;
        let cut = declared_end > self.data.len();
        let end = declared_end.min(self.data.len());
        self.at = end;
        if kind == 2 {
            return Ok(Section::Internal);
        }
        let body = self.data.get(start + 4..end).ok_or(SectionError::BadSize)?;
        let (identifier, after) = match cstring_at(body, 0) {
            Some(found) => found,
            None if cut => (body, body.len()),
            None => return Err(SectionError::BadSize),
        };
        Ok(Section::Sequence {
            identifier,
            documents: body.get(after..).unwrap_or_default(),
            cut,
        })
    }
}

/// The fixed fields of an OP_MSG body (`body` = the message after the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg<'a> {
    pub flags: u32,
    /// The section bytes (checksum excluded when it is present and kept).
    pub sections: &'a [u8],
    pub checksum: Option<u32>,
}

/// `whole` tells whether `body` is the complete body (so a checksum, if
/// present, is its last 4 bytes).
pub fn msg(body: &[u8], whole: bool) -> Option<Msg<'_>> {
    let flags = u32_at(body, 0)?;
    let rest = body.get(4..)?;
    if flags & MSG_CHECKSUM_PRESENT != 0 && whole {
        let split = rest.len().checked_sub(4)?;
        let checksum = u32_at(rest, split)?;
        return Some(Msg {
            flags,
            sections: rest.get(..split)?,
            checksum: Some(checksum),
        });
    }
    Some(Msg {
        flags,
        sections: rest,
        checksum: None,
    })
}

/// Legacy ops that start with an int32 and a full collection name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Namespaced<'a> {
    /// flags for OP_QUERY/OP_INSERT, ZERO for the others.
    pub first: i32,
    pub namespace: &'a [u8],
    /// Offset in the body just after the namespace's NUL.
    pub rest: usize,
}

pub fn namespaced(body: &[u8]) -> Option<Namespaced<'_>> {
    let first = i32_at(body, 0)?;
    let (namespace, rest) = cstring_at(body, 4)?;
    Some(Namespaced {
        first,
        namespace,
        rest,
    })
}

/// Splits `db.collection` at its first dot.
pub fn split_namespace(namespace: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b'.', namespace) {
        Some(dot) => (
            namespace.get(..dot).unwrap_or(namespace),
            namespace.get(dot + 1..),
        ),
        None => (namespace, None),
    }
}

/// OP_REPLY fixed fields; documents follow at body offset 20.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub flags: i32,
    pub cursor_id: i64,
    pub starting_from: i32,
    pub number_returned: i32,
}

pub const REPLY_DOCUMENTS_AT: usize = 20;
pub const REPLY_QUERY_FAILURE: i32 = 1 << 1;

pub fn reply(body: &[u8]) -> Option<Reply> {
    Some(Reply {
        flags: i32_at(body, 0)?,
        cursor_id: i64_at(body, 4)?,
        starting_from: i32_at(body, 12)?,
        number_returned: i32_at(body, 16)?,
    })
}

/// OP_COMPRESSED fixed fields; the compressed message follows at offset 9.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compressed {
    pub original_opcode: i32,
    pub uncompressed_size: i32,
    pub compressor: u8,
}

pub const COMPRESSED_DATA_AT: usize = 9;
pub const COMPRESSOR_NOOP: u8 = 0;

pub fn compressed(body: &[u8]) -> Option<Compressed> {
    Some(Compressed {
        original_opcode: i32_at(body, 0)?,
        uncompressed_size: i32_at(body, 4)?,
        compressor: *body.get(8)?,
    })
}

pub fn compressor_name(id: u8) -> String {
    match id {
        0 => "noop".to_string(),
        1 => "snappy".to_string(),
        2 => "zlib".to_string(),
        3 => "zstd".to_string(),
        other => format!("unknown({other})"),
    }
}

/// CRC-32C (Castagnoli), the OP_MSG checksum.
pub fn crc32c(data: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    }
    static TABLE: [u32; 256] = table();
    let mut crc = !0u32;
    for &byte in data {
        crc = TABLE[((crc ^ byte as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn document_lengths_are_bounded_by_the_slice() {
        let data = [0xff, 0xff, 0xff, 0x7f, 0, 1, 2];
        let (doc, next) = document_at(&data, 0).unwrap();
        assert!(doc.cut);
        assert_eq!(doc.bytes.len(), 7);
        assert_eq!(next, 7);
        assert!(document_at(&[4, 0, 0, 0, 0], 0).is_none());
        assert!(document_at(&[0xff, 0xff, 0xff, 0xff, 0], 0).is_none());
    }

    #[test]
    fn sections_stop_at_an_unknown_kind() {
        let mut data = vec![0u8, 5, 0, 0, 0, 0];
        data.push(7);
        let sections: Vec<_> = Sections::new(&data).collect();
        assert_eq!(sections.len(), 2);
        assert!(matches!(sections[1], Err(SectionError::UnknownKind(7))));
    }

    #[test]
    fn kind_one_section_has_identifier_and_documents() {
        let mut data = vec![1u8];
        let body = [
            b"documents\0".as_slice(),
            &[5, 0, 0, 0, 0],
            &[5, 0, 0, 0, 0],
        ]
        .concat();
        data.extend_from_slice(&((body.len() + 4) as i32).to_le_bytes());
        data.extend_from_slice(&body);
        let sections: Vec<_> = Sections::new(&data).collect();
        match sections.as_slice() {
            [Ok(Section::Sequence {
                identifier,
                documents,
                cut: false,
            })] => {
                assert_eq!(*identifier, b"documents");
                assert_eq!(Documents::new(documents).count(), 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn namespace_splits_at_first_dot() {
        assert_eq!(
            split_namespace(b"admin.$cmd"),
            (&b"admin"[..], Some(&b"$cmd"[..]))
        );
        assert_eq!(split_namespace(b"db.a.b"), (&b"db"[..], Some(&b"a.b"[..])));
        assert_eq!(split_namespace(b"db"), (&b"db"[..], None));
    }
}
