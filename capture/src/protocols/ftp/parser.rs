//! Pure FTP parsing: lines, commands, replies, data-channel addresses and
//! paths. Bytes in, borrowed views out; no state, no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest line kept, without its line ending. Longer lines are skipped.
pub const MAX_LINE: usize = 4096;

/// The next line in `data`: `(line without CR/LF, bytes up to and
/// including the LF)`, or `None` while no LF has arrived.
pub fn next_line(data: &[u8]) -> Option<(&[u8], usize)> {
    let end = memchr::memchr(b'\n', data)?;
    let line = data.get(..end)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, end + 1))
}

/// A client command: the verb as sent and its argument.
#[derive(Debug, PartialEq, Eq)]
pub struct Command<'a> {
    pub verb: &'a [u8],
    pub arg: &'a [u8],
}

/// Longest verb accepted as a command (real ones have 3 or 4 letters).
const MAX_VERB: usize = 16;

/// Splits a command line; `None` when the verb is not 1 to 16 ASCII
/// letters or digits. Telnet IAC sequences in front (sent before `ABOR`)
/// are skipped.
pub fn parse_command(line: &[u8]) -> Option<Command<'_>> {
    let line = skip_telnet(line);
    let verb_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let verb = line.get(..verb_len)?;
    if verb.is_empty() || verb.len() > MAX_VERB || !verb.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let rest = line.get(verb_len..).unwrap_or(&[]);
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    Some(Command {
        verb,
        arg: rest.get(start..).unwrap_or(&[]),
    })
}

fn skip_telnet(mut line: &[u8]) -> &[u8] {
    loop {
        match line {
            [0xff, _, rest @ ..] => line = rest,
            [0xf2, rest @ ..] => line = rest,
            _ => return line,
        }
    }
}

/// One line of a server reply.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyLine<'a> {
    /// `123 text` (or a bare `123`): a single line or a multi-line's last.
    Last { code: u16, text: &'a [u8] },
    /// `123-text`: the first line of a multi-line reply.
    First { code: u16, text: &'a [u8] },
    /// Anything else: a continuation line, or garbage outside a reply.
    Other(&'a [u8]),
}

pub fn parse_reply_line(line: &[u8]) -> ReplyLine<'_> {
    let code = match reply_code(line) {
        Some(code) => code,
        None => return ReplyLine::Other(line),
    };
    let text = line.get(4..).unwrap_or(&[]);
    match line.get(3) {
        None | Some(b' ') => ReplyLine::Last { code, text },
        Some(b'-') => ReplyLine::First { code, text },
        Some(_) => ReplyLine::Other(line),
    }
}

/// The three-digit code at the start of a line (first digit 1 to 5).
pub fn reply_code(line: &[u8]) -> Option<u16> {
    match line {
        [a @ b'1'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9', ..] => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Wire bytes as text: UTF-8 kept, other bytes written as `\xNN` (as Zeek
/// does), so nothing is lost.
pub fn text(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `h1,h2,h3,h4,p1,p2` (PORT's argument, inside PASV's reply).
pub fn parse_host_port(s: &[u8]) -> Option<(IpAddr, u16)> {
    let mut n = [0u8; 6];
    let mut parts = s.split(|&b| b == b',');
    for slot in n.iter_mut() {
        *slot = small_number(trim(parts.next()?))?;
    }
    if parts.next().is_some() {
        return None;
    }
    let ip = IpAddr::V4(Ipv4Addr::new(n[0], n[1], n[2], n[3]));
    Some((ip, u16::from(n[4]) << 8 | u16::from(n[5])))
}

fn small_number(s: &[u8]) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// A 227 reply's address: the first run of six comma-separated numbers.
pub fn parse_pasv_reply(msg: &[u8]) -> Option<(IpAddr, u16)> {
    let mut i = 0;
    while i < msg.len() {
        if msg.get(i).is_some_and(u8::is_ascii_digit) {
            let run_len = msg
                .get(i..)?
                .iter()
                .position(|&b| !(b.is_ascii_digit() || b == b',' || b == b' '))
                .unwrap_or(msg.len() - i);
            let run = msg.get(i..i + run_len)?;
            let run = trim(run).strip_suffix(b",").unwrap_or(trim(run));
            if let Some(found) = parse_host_port(run) {
                return Some(found);
            }
            i += run_len.max(1);
        } else {
            i += 1;
        }
    }
    None
}

/// RFC 2428 `<d>proto<d>addr<d>port<d>` (EPRT's argument, inside EPSV's
/// reply). The address is `None` when left empty (EPSV).
pub fn parse_extended(s: &[u8]) -> Option<(Option<IpAddr>, u16)> {
    let delim = *s.first()?;
    if !(33..=126).contains(&delim) || delim.is_ascii_digit() {
        return None;
    }
    let mut fields = s.get(1..)?.split(|&b| b == delim);
    let proto = fields.next()?;
    let addr = fields.next()?;
    let port = fields.next()?;
    fields.next()?; // the closing delimiter
    let port: u16 = std::str::from_utf8(port).ok()?.parse().ok()?;
    if addr.is_empty() {
        return Some((None, port));
    }
    let addr = std::str::from_utf8(addr).ok()?;
    let ip = match proto {
        b"1" => IpAddr::V4(addr.parse::<Ipv4Addr>().ok()?),
        b"2" => IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?),
        _ => addr.parse::<IpAddr>().ok()?,
    };
    Some((Some(ip), port))
}

/// A 229 reply's port: the text between the parentheses.
pub fn parse_epsv_reply(msg: &[u8]) -> Option<(Option<IpAddr>, u16)> {
    let open = memchr::memchr(b'(', msg)?;
    let inner = msg.get(open + 1..)?;
    let close = memchr::memrchr(b')', inner)?;
    parse_extended(inner.get(..close)?)
}

/// `(N bytes)` in a 150 reply.
pub fn announced_size(msg: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(msg, b" bytes)")?;
    let before = msg.get(..at)?;
    let start = before
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let digits = before.get(start..)?;
    if digits.is_empty() || before.get(start.checked_sub(1)?) != Some(&b'(') {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The size in a 213 reply to `SIZE`: its first word.
pub fn size_reply(msg: &[u8]) -> Option<u64> {
    let word = trim(msg).split(|&b| b == b' ').next()?;
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// The directory a 257 reply names: `"…"` with `""` for a quote (RFC 959).
pub fn quoted_path(msg: &[u8]) -> Option<String> {
    let open = memchr::memchr(b'"', msg)?;
    let mut out = Vec::new();
    let mut i = open + 1;
    loop {
        match (msg.get(i), msg.get(i + 1)) {
            (Some(b'"'), Some(b'"')) => {
                out.push(b'"');
                i += 2;
            }
            (Some(b'"'), _) => break,
            (Some(&b), _) => {
                out.push(b);
                i += 1;
            }
            (None, _) => return None,
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(text(&out))
}

/// Resolves `arg` against `cwd` and removes `.`, `..` and doubled `/`.
/// A relative result starts with `./` (relative to the login directory);
/// `..` above the root stays at the root.
pub fn resolve(cwd: &str, arg: &str) -> String {
    let absolute = arg.starts_with('/') || cwd.starts_with('/');
    let joined_parts = if arg.starts_with('/') {
        [arg, ""]
    } else {
        [cwd, arg]
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined_parts.iter().flat_map(|s| s.split('/')) {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    if absolute {
        format!("/{body}")
    } else if body.is_empty() {
        ".".to_string()
    } else {
        format!("./{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_with_and_without_cr() {
        assert_eq!(next_line(b"USER a\r\nPASS"), Some((&b"USER a"[..], 8)));
        assert_eq!(next_line(b"USER a\nX"), Some((&b"USER a"[..], 7)));
        assert_eq!(next_line(b"USER a"), None);
    }

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse_command(b"RETR robots.txt"),
            Some(Command {
                verb: b"RETR",
                arg: b"robots.txt"
            })
        );
        assert_eq!(
            parse_command(b"PWD"),
            Some(Command {
                verb: b"PWD",
                arg: b""
            })
        );
        assert_eq!(
            parse_command(b"\xff\xf4\xff\xf2ABOR"),
            Some(Command {
                verb: b"ABOR",
                arg: b""
            })
        );
        assert_eq!(
            parse_command(b"USER  x "),
            Some(Command {
                verb: b"USER",
                arg: b"x "
            })
        );
        assert_eq!(parse_command(b"\x16\x03\x01"), None);
        assert_eq!(parse_command(b""), None);
    }

    #[test]
    fn parses_reply_lines() {
        assert_eq!(
            parse_reply_line(b"220 ready"),
            ReplyLine::Last {
                code: 220,
                text: b"ready"
            }
        );
        assert_eq!(
            parse_reply_line(b"230-"),
            ReplyLine::First {
                code: 230,
                text: b""
            }
        );
        assert_eq!(
            parse_reply_line(b"221"),
            ReplyLine::Last {
                code: 221,
                text: b""
            }
        );
        assert_eq!(
            parse_reply_line(b"SYST not supported"),
            ReplyLine::Other(b"SYST not supported")
        );
        assert_eq!(parse_reply_line(b"    text"), ReplyLine::Other(b"    text"));
        assert_eq!(parse_reply_line(b"2201 x"), ReplyLine::Other(b"2201 x"));
    }

    #[test]
    fn parses_data_channel_addresses() {
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            parse_host_port(b"141,142,220,235,131,46"),
            Some((v4("141.142.220.235"), 33582))
        );
        assert_eq!(parse_host_port(b"1,2,3,4,5"), None);
        assert_eq!(parse_host_port(b"1,2,3,256,5,6"), None);
        assert_eq!(
            parse_pasv_reply(b"Entering Passive Mode (199,233,217,249,221,90)"),
            Some((v4("199.233.217.249"), 56666))
        );
        assert_eq!(
            parse_pasv_reply(b"Entering Passive Mode (205,167,25,101,243,251)."),
            Some((v4("205.167.25.101"), 62459))
        );
        assert_eq!(
            parse_pasv_reply(b"Entering Passive Mode 10,0,0,1,4,1"),
            Some((v4("10.0.0.1"), 1025))
        );
        assert_eq!(parse_pasv_reply(b"nope (1,2)"), None);
        assert_eq!(
            parse_epsv_reply(b"Entering Extended Passive Mode (|||60931|)"),
            Some((None, 60931))
        );
        assert_eq!(
            parse_extended(b"|1|132.235.1.2|6275|"),
            Some((Some(v4("132.235.1.2")), 6275))
        );
        assert_eq!(
            parse_extended(b"|2|1080::8:800:200C:417A|5282|"),
            Some((Some(v4("1080::8:800:200C:417A")), 5282))
        );
        assert_eq!(parse_extended(b"|1|::1|5282|"), None);
        assert_eq!(parse_extended(b"|1|1.2.3.4|99999|"), None);
        assert_eq!(parse_extended(b"|1|1.2.3.4|80"), None);
    }

    #[test]
    fn finds_sizes_and_paths() {
        assert_eq!(
            announced_size(b"Opening BINARY mode data connection for 'robots.txt' (77 bytes)."),
            Some(77)
        );
        assert_eq!(
            announced_size(b"Opening ASCII mode data connection for '/bin/ls'."),
            None
        );
        assert_eq!(announced_size(b"x (12a bytes)"), None);
        assert_eq!(size_reply(b"1234"), Some(1234));
        assert_eq!(
            quoted_path(b"\"/\" is current directory."),
            Some("/".to_string())
        );
        assert_eq!(
            quoted_path(b"\"/a\"\"b\" created"),
            Some("/a\"b".to_string())
        );
        assert_eq!(quoted_path(b"\"/unterminated"), None);
    }

    #[test]
    fn resolves_paths_like_a_server() {
        assert_eq!(resolve(".", "robots.txt"), "./robots.txt");
        assert_eq!(resolve(".", "pub/data"), "./pub/data");
        assert_eq!(resolve("./pub/data", ".."), "./pub");
        assert_eq!(resolve("./pub", "../.."), "./..");
        assert_eq!(resolve("/", "pub//x/./y"), "/pub/x/y");
        assert_eq!(resolve("/pub", "/etc/passwd"), "/etc/passwd");
        assert_eq!(resolve("/", "../../etc"), "/etc");
        assert_eq!(resolve("/a/b", ".."), "/a");
        assert_eq!(resolve(".", "."), ".");
    }

    #[test]
    fn escapes_bytes_that_are_not_utf8() {
        assert_eq!(text(b"caf\xc3\xa9"), "café");
        assert_eq!(text(b"a\xffb"), "a\\xffb");
    }
}
