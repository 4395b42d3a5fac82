//! Pure parsers for the MySQL / MariaDB client/server protocol: packet
//! headers and the payloads the dissector needs. Borrowed views, no I/O,
//! `None` for anything malformed or cut short.

/// Bytes of a packet header: 3-byte little-endian length, 1-byte sequence.
pub const HEADER_LEN: usize = 4;
/// A payload of exactly this length continues in the next packet.
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;

pub mod caps {
    pub const CONNECT_WITH_DB: u32 = 8;
    pub const PROTOCOL_41: u32 = 0x200;
    pub const SSL: u32 = 0x800;
    pub const SECURE_CONNECTION: u32 = 0x8000;
    pub const PLUGIN_AUTH: u32 = 0x8_0000;
    pub const CONNECT_ATTRS: u32 = 0x10_0000;
    pub const PLUGIN_AUTH_LENENC_DATA: u32 = 0x20_0000;
    pub const DEPRECATE_EOF: u32 = 0x100_0000;
    pub const QUERY_ATTRIBUTES: u32 = 0x800_0000;
}

/// `SERVER_MORE_RESULTS_EXISTS` in the status flags of OK and EOF.
pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
/// `SERVER_STATUS_CURSOR_EXISTS`: a result set's rows wait for `COM_STMT_FETCH`.
pub const CURSOR_EXISTS: u16 = 0x0040;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub len: usize,
    pub seq: u8,
}

pub fn header(data: &[u8]) -> Option<Header> {
    match data {
        [a, b, c, seq, ..] => Some(Header {
            len: usize::from(*a) | usize::from(*b) << 8 | usize::from(*c) << 16,
            seq: *seq,
        }),
        _ => None,
    }
}

/// A cursor over one payload.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.bytes(1).and_then(|b| b.first().copied())
    }

    pub fn u16(&mut self) -> Option<u16> {
        let b = self.bytes(2)?;
        Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
    }

    pub fn uint(&mut self, n: usize) -> Option<u64> {
        let b = self.bytes(n)?;
        Some(b.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.uint(4).map(|v| v as u32)
    }

    /// Length-encoded integer. `0xfb` (NULL in rows) reads as `None`.
    pub fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xfa => Some(u64::from(n)),
            0xfc => self.uint(2),
            0xfd => self.uint(3),
            0xfe => self.uint(8),
            _ => None,
        }
    }

    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.lenenc()?;
        self.bytes(usize::try_from(n).ok()?)
    }

    /// Bytes up to a NUL, which is consumed.
    pub fn nul_str(&mut self) -> Option<&'a [u8]> {
        let end = memchr::memchr(0, self.buf)?;
        let s = self.bytes(end)?;
        self.bytes(1)?;
        Some(s)
    }

    /// Bytes up to a NUL or the end (some servers omit the last NUL).
    pub fn nul_or_rest(&mut self) -> &'a [u8] {
        self.nul_str().unwrap_or_else(|| self.rest())
    }
}

/// Server handshake (protocol 10, or 9 for servers before 3.21).
#[derive(Debug, PartialEq)]
pub struct Greeting<'a> {
    pub protocol: u8,
    pub version: &'a [u8],
    pub connection_id: Option<u32>,
    pub capabilities: u32,
    pub plugin: Option<&'a [u8]>,
    /// The server's nonce: its first 8 bytes, then the rest (trailing NUL
    /// removed); empty when not sent.
    pub scramble: (&'a [u8], &'a [u8]),
}

pub fn greeting(payload: &[u8]) -> Option<Greeting<'_>> {
    let mut r = Reader::new(payload);
    let protocol = r.u8()?;
    if protocol != 10 && protocol != 9 {
        return None;
    }
    let version = r.nul_str()?;
    let connection_id = r.u32();
    if protocol == 9 {
        return Some(Greeting {
            protocol,
            version,
            connection_id,
            capabilities: 0,
            plugin: None,
            scramble: (&[], &[]),
        });
    }
    let mut greeting = Greeting {
        protocol,
        version,
        connection_id,
        capabilities: 0,
        plugin: None,
        scramble: (&[], &[]),
    };
    let Some(first) = r.bytes(8) else {
        return Some(greeting);
    };
    greeting.scramble.0 = first;
    if r.bytes(1).is_none() {
        return Some(greeting);
    }
    greeting.capabilities = u32::from(r.u16().unwrap_or(0));
    if r.bytes(1 + 2).is_none() {
        return Some(greeting);
    }
    greeting.capabilities |= u32::from(r.u16().unwrap_or(0)) << 16;
    let auth_len = usize::from(r.u8().unwrap_or(0));
    if r.bytes(10).is_none() {
        return Some(greeting);
    }
    if greeting.capabilities & caps::SECURE_CONNECTION != 0 {
        let rest = r.bytes(auth_len.saturating_sub(8).max(13))?;
        greeting.scramble.1 = rest.strip_suffix(&[0]).unwrap_or(rest);
    }
    if greeting.capabilities & caps::PLUGIN_AUTH != 0 {
        let plugin = r.nul_or_rest();
        greeting.plugin = (!plugin.is_empty()).then_some(plugin);
    }
    Some(greeting)
}

/// The client's answer to the greeting (4.1 or the old 3.20 format).
#[derive(Debug, Default, PartialEq)]
pub struct HandshakeResponse<'a> {
    pub capabilities: u32,
    /// Only the capabilities: an SSL request; TLS starts next.
    pub ssl_request: bool,
    pub old_protocol: bool,
    pub user: &'a [u8],
    pub database: Option<&'a [u8]>,
    pub plugin: Option<&'a [u8]>,
    /// Raw connection attributes block (see [`attributes`]).
    pub attributes: Option<&'a [u8]>,
    /// The client's answer to the scramble (for `mysql_native_password`,
    /// `SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))`).
    pub auth_response: &'a [u8],
}

pub fn handshake_response(payload: &[u8]) -> Option<HandshakeResponse<'_>> {
    let mut r = Reader::new(payload);
    let low = u32::from(r.u16()?);
    if low & caps::PROTOCOL_41 == 0 {
        return handshake_response_320(payload);
    }
    let mut r2 = Reader::new(payload);
    let capabilities = r2.u32()?;
    r2.bytes(4 + 1)?; // max packet size, character set
                      // 19 zero bytes, then MariaDB's extended capabilities (or zeros).
    let filler = r2.bytes(23)?;
    if filler.iter().take(19).any(|&b| b != 0) {
        return None;
    }
    let mut hs = HandshakeResponse {
        capabilities,
        ..HandshakeResponse::default()
    };
    if r2.is_empty() {
        hs.ssl_request = capabilities & caps::SSL != 0;
        return hs.ssl_request.then_some(hs);
    }
    hs.user = r2.nul_str()?;
    hs.auth_response = if capabilities & caps::PLUGIN_AUTH_LENENC_DATA != 0 {
        r2.lenenc_bytes()?
    } else if capabilities & caps::SECURE_CONNECTION != 0 {
        let n = r2.u8()?;
        r2.bytes(usize::from(n))?
    } else {
        r2.nul_or_rest()
    };
    if capabilities & caps::CONNECT_WITH_DB != 0 && !r2.is_empty() {
        hs.database = Some(r2.nul_or_rest());
    }
    if capabilities & caps::PLUGIN_AUTH != 0 && !r2.is_empty() {
        hs.plugin = Some(r2.nul_or_rest());
    }
    if capabilities & caps::CONNECT_ATTRS != 0 && !r2.is_empty() {
        hs.attributes = r2.lenenc_bytes();
    }
    Some(hs)
}

fn handshake_response_320(payload: &[u8]) -> Option<HandshakeResponse<'_>> {
    let mut r = Reader::new(payload);
    let capabilities = u32::from(r.u16()?);
    r.bytes(3)?; // max packet size
    let mut hs = HandshakeResponse {
        capabilities,
        old_protocol: true,
        ..HandshakeResponse::default()
    };
    if r.is_empty() {
        hs.ssl_request = capabilities & caps::SSL != 0;
        return hs.ssl_request.then_some(hs);
    }
    hs.user = r.nul_str()?;
    if capabilities & caps::CONNECT_WITH_DB != 0 {
        r.nul_str()?;
        hs.database = Some(r.nul_or_rest());
    }
    Some(hs)
}

/// `COM_CHANGE_USER` after its command byte.
#[derive(Debug, Default, PartialEq)]
pub struct ChangeUser<'a> {
    pub user: &'a [u8],
    pub database: Option<&'a [u8]>,
    pub plugin: Option<&'a [u8]>,
    pub attributes: Option<&'a [u8]>,
}

pub fn change_user(body: &[u8], capabilities: u32) -> Option<ChangeUser<'_>> {
    let mut r = Reader::new(body);
    let mut cu = ChangeUser {
        user: r.nul_or_rest(),
        ..ChangeUser::default()
    };
    if r.is_empty() {
        return Some(cu);
    }
    if capabilities & caps::SECURE_CONNECTION != 0 {
        let n = r.u8()?;
        r.bytes(usize::from(n))?;
    } else {
        r.nul_or_rest();
    }
    cu.database = Some(r.nul_or_rest());
    if r.bytes(2).is_none() {
        return Some(cu);
    }
    if capabilities & caps::PLUGIN_AUTH != 0 && !r.is_empty() {
        cu.plugin = Some(r.nul_or_rest());
    }
    if capabilities & caps::CONNECT_ATTRS != 0 && !r.is_empty() {
        cu.attributes = r.lenenc_bytes();
    }
    Some(cu)
}

/// Key/value pairs of a connection attributes block; stops at the first
/// malformed pair.
pub fn attributes(block: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut r = Reader::new(block);
    std::iter::from_fn(move || {
        let key = r.lenenc_bytes()?;
        let value = r.lenenc_bytes()?;
        Some((key, value))
    })
}

#[derive(Debug, PartialEq)]
pub struct ErrPacket<'a> {
    pub code: u16,
    pub message: &'a [u8],
}

/// An ERR packet (`0xff`), with or without the `#SQLSTATE` marker.
pub fn err(payload: &[u8]) -> Option<ErrPacket<'_>> {
    let mut r = Reader::new(payload);
    if r.u8()? != 0xff {
        return None;
    }
    let code = r.u16()?;
    let rest = r.rest();
    let message = match rest {
        [b'#', tail @ ..] if tail.len() >= 5 => tail.get(5..).unwrap_or_default(),
        _ => rest,
    };
    Some(ErrPacket { code, message })
}

#[derive(Debug, PartialEq)]
pub struct OkPacket {
    pub affected_rows: u64,
    pub status: u16,
}

/// An OK packet (`0x00`, or `0xfe` when it ends a result set under
/// `CLIENT_DEPRECATE_EOF`).
pub fn ok(payload: &[u8]) -> Option<OkPacket> {
    let mut r = Reader::new(payload);
    let head = r.u8()?;
    if head != 0x00 && head != 0xfe {
        return None;
    }
    let affected_rows = r.lenenc()?;
    r.lenenc()?; // last insert id
    let status = r.u16().unwrap_or(0);
    Some(OkPacket {
        affected_rows,
        status,
    })
}

/// A packet starting `0xfe` that is shorter than 9 bytes: an EOF, or the
/// OK that replaces it. (A row starting `0xfe` is at least 9 bytes.)
pub fn is_terminator(payload: &[u8], len: usize) -> bool {
    payload.first() == Some(&0xfe) && len < 9
}

/// Status flags of a terminator (EOF: `fe warnings status`; OK otherwise).
pub fn terminator_status(payload: &[u8]) -> u16 {
    if payload.len() == 5 {
        let mut r = Reader::new(payload.get(3..).unwrap_or_default());
        return r.u16().unwrap_or(0);
    }
    ok(payload).map_or(0, |ok| ok.status)
}

/// Skips the query-attributes prefix of `COM_QUERY` (after the command
/// byte) and returns the query text, or `None` if the prefix is malformed.
pub fn query_text(body: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(body);
    let count = r.lenenc()?;
    r.lenenc()?; // parameter set count, always 1
    if count == 0 {
        return Some(r.rest());
    }
    if count > 1024 {
        return None;
    }
    let count = count as usize;
    let null_bitmap = r.bytes(count.div_ceil(8))?;
    if r.u8()? != 1 {
        // Types not sent again: values cannot be sized.
        return None;
    }
    let mut types = [0u8; 1024];
    for slot in types.iter_mut().take(count) {
        *slot = r.u16()? as u8;
        r.lenenc_bytes()?; // name
    }
    for (i, ty) in types.iter().take(count).enumerate() {
        let null = null_bitmap
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0);
        if !null {
            skip_binary_value(&mut r, *ty)?;
        }
    }
    Some(r.rest())
}

/// Skips one value of the binary protocol of column type `ty`.
fn skip_binary_value(r: &mut Reader<'_>, ty: u8) -> Option<()> {
    match ty {
        0x06 => {}                 // NULL
        0x01 => drop(r.bytes(1)?), // TINY
        0x02 | 0x0d => drop(r.bytes(2)?),
        0x03 | 0x09 | 0x04 => drop(r.bytes(4)?),
        0x08 | 0x05 => drop(r.bytes(8)?),
        0x07 | 0x0a | 0x0b | 0x0c => {
            let n = r.u8()?;
            r.bytes(usize::from(n))?;
        }
        _ => drop(r.lenenc_bytes()?),
    }
    Some(())
}

/// The `COM_*` name of a command byte, lowercase without the prefix.
pub fn command_name(byte: u8) -> Option<&'static str> {
    const NAMES: [&str; 33] = [
        "sleep",
        "quit",
        "init_db",
        "query",
        "field_list",
        "create_db",
        "drop_db",
        "refresh",
        "shutdown",
        "statistics",
        "process_info",
        "connect",
        "process_kill",
        "debug",
        "ping",
        "time",
        "delayed_insert",
        "change_user",
        "binlog_dump",
        "table_dump",
        "connect_out",
        "register_slave",
        "stmt_prepare",
        "stmt_execute",
        "stmt_send_long_data",
        "stmt_close",
        "stmt_reset",
        "set_option",
        "stmt_fetch",
        "daemon",
        "binlog_dump_gtid",
        "reset_connection",
        "clone",
    ];
    match byte {
        0xfa => Some("stmt_bulk_execute"), // MariaDB
        _ => NAMES.get(usize::from(byte)).copied(),
    }
}

pub mod com {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const CREATE_DB: u8 = 0x05;
    pub const DROP_DB: u8 = 0x06;
    pub const REFRESH: u8 = 0x07;
    pub const SHUTDOWN: u8 = 0x08;
    pub const STATISTICS: u8 = 0x09;
    pub const PROCESS_KILL: u8 = 0x0c;
    pub const PING: u8 = 0x0e;
    pub const CHANGE_USER: u8 = 0x11;
    pub const BINLOG_DUMP: u8 = 0x12;
    pub const REGISTER_SLAVE: u8 = 0x15;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const SET_OPTION: u8 = 0x1b;
    pub const STMT_FETCH: u8 = 0x1c;
    pub const BINLOG_DUMP_GTID: u8 = 0x1e;
    pub const STMT_BULK_EXECUTE: u8 = 0xfa;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn reads_a_mysql8_greeting() {
        let p = hex("0a382e302e33320008000000732e13013e056d0400ffffff0200ffdf15000000000000000000007e4c7129250f4c4c0108586a0063616368696e675f736861325f70617373776f726400");
        let g = greeting(&p).unwrap();
        assert_eq!(g.version, b"8.0.32");
        assert_eq!(g.connection_id, Some(8));
        assert_eq!(g.plugin, Some(&b"caching_sha2_password"[..]));
        assert_eq!(g.capabilities, 0xdfff_ffff);
    }

    #[test]
    fn reads_a_handshake_response_with_attributes() {
        let p = hex("85a6ff0100000001210000000000000000000000000000000000000000000000726f6f74001438cdd4bab7b4e4a7cd36948af0a71b3290ac56a46d7973716c5f6e61746976655f70617373776f72640065035f6f73054c696e75780c5f636c69656e745f6e616d65086c69626d7973716c045f70696404363139330f5f636c69656e745f76657273696f6e06352e372e3330095f706c6174666f726d067838365f36340c70726f6772616d5f6e616d65056d7973716c");
        let hs = handshake_response(&p).unwrap();
        assert_eq!(hs.user, b"root");
        assert_eq!(hs.database, None);
        assert_eq!(hs.plugin, Some(&b"mysql_native_password"[..]));
        let attrs: Vec<_> = attributes(hs.attributes.unwrap()).collect();
        assert_eq!(attrs.len(), 6);
        assert_eq!(attrs[5], (&b"program_name"[..], &b"mysql"[..]));
    }

    #[test]
    fn reads_an_ssl_request() {
        let mut p = (caps::PROTOCOL_41 | caps::SSL | caps::SECURE_CONNECTION)
            .to_le_bytes()
            .to_vec();
        p.extend_from_slice(&[0, 0, 0, 1, 0x21]);
        p.extend_from_slice(&[0; 23]);
        assert_eq!(p.len(), 32);
        let hs = handshake_response(&p).unwrap();
        assert!(hs.ssl_request);
    }

    #[test]
    fn reads_err_with_and_without_sqlstate() {
        let p = hex("ff8604233038533031476f74");
        let e = err(&p).unwrap();
        assert_eq!((e.code, e.message), (1158, &b"Got"[..]));
        let p = hex("ff6a04486f7374");
        let e = err(&p).unwrap();
        assert_eq!((e.code, e.message), (1130, &b"Host"[..]));
    }

    #[test]
    fn skips_query_attributes() {
        assert_eq!(
            query_text(b"\x00\x01show databases"),
            Some(&b"show databases"[..])
        );
        // One string attribute `a` = `b`.
        let body = b"\x01\x01\x00\x01\xfe\x00\x01a\x01bselect 1";
        assert_eq!(query_text(body), Some(&b"select 1"[..]));
    }

    #[test]
    fn lenenc_never_panics_on_short_input() {
        for input in [&b""[..], b"\xfc\x01", b"\xfd", b"\xfe\x01\x02", b"\xff"] {
            let _ = Reader::new(input).lenenc();
        }
    }
}
