//! Recognises MySQL from a connection's first bytes: the server greeting (or
//! an ERR refusing the connection), a client handshake response, or a
//! client command with sequence 0 whose argument reads as text.

use model::Direction;

use super::parser::{self, com, HEADER_LEN};
use crate::protocols::Probe;

/// Shortest text argument seen before a packet is complete that is enough
/// to decide.
const ENOUGH_TEXT: usize = 16;

pub fn probe(dir: Direction, data: &[u8]) -> Probe {
    match dir {
        Direction::ToClient => server(data),
        Direction::ToServer => client(data, 0),
    }
}

/// `NeedMore` while `data` is shorter than a header and the length bytes
/// seen so far still allow at most `max_len`.
fn short_header(data: &[u8], max_len: usize) -> Option<Probe> {
    let plausible = match data {
        [_, _, _, _, ..] => return None,
        [_, hi, top] => (usize::from(*top) << 16 | usize::from(*hi) << 8) <= max_len,
        [_, hi] => usize::from(*hi) << 8 <= max_len,
        _ => true,
    };
    Some(if plausible {
        Probe::NeedMore
    } else {
        Probe::NoMatch
    })
}

fn server(data: &[u8]) -> Probe {
    if let Some(verdict) = short_header(data, 1024) {
        return verdict;
    }
    let Some(h) = parser::header(data) else {
        return Probe::NeedMore;
    };
    if h.seq != 0 || h.len < 4 || h.len > 1024 {
        return Probe::NoMatch;
    }
    let payload = data.get(HEADER_LEN..).unwrap_or_default();
    let payload = payload.get(..h.len).unwrap_or(payload);
    match payload.first() {
        None => Probe::NeedMore,
        Some(9 | 10) => greeting(payload, h.len),
        Some(0xff) => refusal(payload, h.len),
        Some(_) => Probe::NoMatch,
    }
}

/// Protocol byte, then a printable version starting with a digit, ending
/// in NUL within the packet.
fn greeting(payload: &[u8], len: usize) -> Probe {
    if len < 16 {
        return Probe::NoMatch;
    }
    let version = payload.get(1..).unwrap_or_default();
    let Some(end) = version.iter().position(|&b| b == 0) else {
        let printable = version.iter().all(|&b| (0x20..0x7f).contains(&b));
        let starts_with_digit = version.first().is_none_or(u8::is_ascii_digit);
        return if printable && starts_with_digit && version.len() < 64 {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    let Some(version) = version.get(..end) else {
        return Probe::NoMatch;
    };
    // Real versions: `5.0.54`, `8.0.32`, `5.5.5-10.11.6-MariaDB`.
    let plausible = (3..64).contains(&version.len())
        && version.first().is_some_and(u8::is_ascii_digit)
        && version.contains(&b'.')
        && version.iter().all(|&b| (0x20..0x7f).contains(&b));
    if !plausible || end + 2 > len {
        return Probe::NoMatch;
    }
    if payload.first() == Some(&9) {
        return Probe::Match;
    }
    // Protocol 10: connection id (4), scramble (8), then a zero filler.
    match payload.get(end + 14) {
        Some(0) => Probe::Match,
        Some(_) => Probe::NoMatch,
        None if end + 14 < len => Probe::NeedMore,
        None => Probe::NoMatch,
    }
}

/// An ERR sent instead of the greeting (`Host … is not allowed`, `Too many
/// connections`): a server error code and a printable message, complete.
fn refusal(payload: &[u8], len: usize) -> Probe {
    if payload.len() < len {
        return Probe::NeedMore;
    }
    match parser::err(payload) {
        Some(e)
            if (1000..2000).contains(&e.code)
                && !e.message.is_empty()
                && e.message.iter().all(|&b| (0x20..0x7f).contains(&b)) =>
        {
            Probe::Match
        }
        _ => Probe::NoMatch,
    }
}

fn client(data: &[u8], depth: usize) -> Probe {
    if let Some(verdict) = short_header(data, parser::MAX_PAYLOAD) {
        return verdict;
    }
    let Some(h) = parser::header(data) else {
        return Probe::NeedMore;
    };
    let payload = data.get(HEADER_LEN..).unwrap_or_default();
    let seen = payload.get(..h.len).unwrap_or(payload);
    match h.seq {
        1 => handshake_response(seen, h.len),
        0 => command(data, seen, h.len, depth),
        _ => Probe::NoMatch,
    }
}

/// Protocol-4.1 handshake response: capabilities with `PROTOCOL_41`, 19
/// zero bytes of filler (the last 4 of the 23 carry MariaDB's extended
/// capabilities).
fn handshake_response(seen: &[u8], len: usize) -> Probe {
    if !(32..=8192).contains(&len) {
        return Probe::NoMatch;
    }
    let Some(fixed) = seen.get(..32) else {
        let caps_ok = seen
            .get(1)
            .is_none_or(|b| u32::from(*b) << 8 & parser::caps::PROTOCOL_41 != 0);
        let filler = seen.get(9..).unwrap_or_default();
        let zeros = filler.iter().take(19).all(|&b| b == 0);
        return if caps_ok && zeros {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    let caps = u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
    let filler_zero = fixed.get(9..28).is_some_and(|f| f.iter().all(|&b| b == 0));
    if caps & parser::caps::PROTOCOL_41 == 0 || !filler_zero {
        return Probe::NoMatch;
    }
    if len == 32 {
        return if caps & parser::caps::SSL != 0 {
            Probe::Match
        } else {
            Probe::NoMatch
        };
    }
    // The user name: printable, NUL-terminated.
    let user = seen.get(32..).unwrap_or_default();
    for (i, &b) in user.iter().enumerate() {
        match b {
            0 if i > 0 => return Probe::Match,
            0x21..=0x7e | 0x80..=0xff => {}
            _ => return Probe::NoMatch,
        }
    }
    Probe::NeedMore
}

fn command(data: &[u8], seen: &[u8], len: usize, depth: usize) -> Probe {
    let Some(&code) = seen.first() else {
        return Probe::NeedMore;
    };
    match code {
        com::QUIT | com::PING | com::STATISTICS => {
            if len != 1 {
                return Probe::NoMatch;
            }
            // A one-byte packet says little: everything else seen must be
            // more commands.
            match data.get(HEADER_LEN + 1..) {
                Some([]) | None => Probe::Match,
                Some(_) if depth >= 4 => Probe::Match,
                Some(next) => client(next, depth + 1),
            }
        }
        com::QUERY | com::STMT_PREPARE => {
            let mut text = seen.get(1..).unwrap_or_default();
            if code == com::QUERY {
                if let Some(rest) = text.strip_prefix(&[0, 1]) {
                    text = rest;
                }
            }
            let first = text.iter().find(|b| !b.is_ascii_whitespace());
            match first {
                Some(b) if b.is_ascii_alphabetic() || matches!(b, b'(' | b'/' | b'-' | b'#') => {}
                Some(_) => return Probe::NoMatch,
                None if text.len() >= ENOUGH_TEXT => return Probe::NoMatch,
                None => {}
            }
            text_verdict(text, seen.len() == len)
        }
        com::INIT_DB | com::CREATE_DB | com::DROP_DB => {
            let name = seen.get(1..).unwrap_or_default();
            if name.first().is_some_and(|b| b.is_ascii_whitespace()) {
                return Probe::NoMatch;
            }
            text_verdict(name, seen.len() == len)
        }
        com::FIELD_LIST => {
            let body = seen.get(1..).unwrap_or_default();
            match memchr::memchr(0, body) {
                Some(0) => Probe::NoMatch,
                Some(end) => {
                    let (table, wild) = body.split_at(end);
                    let wild = wild.get(1..).unwrap_or_default();
                    let wild_ok = wild.is_empty() || text_verdict(wild, true) == Probe::Match;
                    if text_verdict(table, true) == Probe::Match && wild_ok {
                        Probe::Match
                    } else {
                        Probe::NoMatch
                    }
                }
                None => match text_verdict(body, false) {
                    Probe::Match if seen.len() == len => Probe::NoMatch,
                    v => v,
                },
            }
        }
        _ => Probe::NoMatch,
    }
}

/// Text that is valid UTF-8 without control characters (tabs and line
/// ends allowed). `complete`: the whole argument is in view.
fn text_verdict(text: &[u8], complete: bool) -> Probe {
    let valid = match std::str::from_utf8(text) {
        Ok(s) => s,
        // Cut inside a character at the end of what was seen.
        Err(e) if e.error_len().is_none() && !complete => {
            std::str::from_utf8(text.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default()
        }
        Err(_) => return Probe::NoMatch,
    };
    if valid
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return Probe::NoMatch;
    }
    if complete {
        if text.is_empty() {
            Probe::NoMatch
        } else {
            Probe::Match
        }
    } else if text.len() >= ENOUGH_TEXT {
        Probe::Match
    } else {
        Probe::NeedMore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn matches_greetings_and_commands() {
        let greeting = hex("4a0000000a382e302e33320008000000732e13013e056d0400ffffff0200ffdf15");
        assert_eq!(probe(Direction::ToClient, &greeting), Probe::Match);
        for n in 1..25 {
            assert_eq!(
                probe(Direction::ToClient, &greeting[..n]),
                Probe::NeedMore,
                "{n}"
            );
        }
        let query =
            hex("210000000373656c65637420404076657273696f6e5f636f6d6d656e74206c696d69742031");
        assert_eq!(probe(Direction::ToServer, &query), Probe::Match);
        assert_eq!(probe(Direction::ToServer, &query[..6]), Probe::NeedMore);
        assert_eq!(probe(Direction::ToServer, &hex("0100000001")), Probe::Match);
        assert_eq!(
            probe(Direction::ToServer, &hex("03000000047400")),
            Probe::Match
        );
        assert_eq!(
            probe(
                Direction::ToServer,
                &hex("1100000003000173686f7720646174616261736573")
            ),
            Probe::Match
        );
        let refused = b"\x14\x00\x00\x00\xff\x69\x04Host is blocked x";
        assert_eq!(probe(Direction::ToClient, refused), Probe::Match);
    }

    #[test]
    fn matches_a_handshake_response_without_greeting() {
        let hs = hex(
            "b600000185a6ff0100000001210000000000000000000000000000000000000000000000726f6f740014",
        );
        assert_eq!(probe(Direction::ToServer, &hs), Probe::Match);
    }

    #[test]
    fn rejects_other_protocols() {
        let others: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"SSH-2.0-OpenSSH_9.2\r\n",
            b"*1\r\n$4\r\nPING\r\n",
            b"PING\r\n",
            b"220 ProFTPD Server\r\n",
            b"@RSYNCD: 31.0\n",
            // MongoDB OP_QUERY header: length 58, request id 3.
            b"\x3a\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\xd4\x07\x00\x00\x00\x00\x00\x00admin.$cmd\x00",
            // TLS ClientHello.
            b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03",
            b"\x01\x00\x00\x00\x0e\xff\xff\xff\xff\x00",
            // MongoDB reply whose request id happens to start `0a 35 00`.
            b"\x2d\x00\x00\x00\x0a\x35\x00\x00\x07\x00\x00\x00\x01\x00\x00\x00\x08\x00\x00\x00\x00\x00",
        ];
        for other in others {
            for dir in [Direction::ToServer, Direction::ToClient] {
                assert_eq!(probe(dir, other), Probe::NoMatch, "{dir:?} {other:?}");
            }
        }
    }
}
