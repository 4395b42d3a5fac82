//! Recognises Redis from the first bytes of either direction.
//!
//! The client side decides: a RESP array of bulk strings (`*2\r\n$`), or an
//! inline line whose first word is a Redis command. The server never
//! speaks first, and its short replies (`+OK`, `-ERR`, `:1`) are shared
//! with POP3 and others, so on their own they are no evidence; only
//! unmistakable RESP (an array of typed values, a complete bulk string, a
//! Redis-only error) matches there.

use memchr::memchr;
use model::Direction;

use super::commands;
use super::parser::parse_int;
use crate::protocols::Probe;

/// An inline first line longer than this is not taken for Redis.
const MAX_PROBE_LINE: usize = 512;

pub fn probe(dir: Direction, data: &[u8]) -> Probe {
    match dir {
        Direction::ToServer => client(data),
        Direction::ToClient => server(data),
    }
}

fn client(data: &[u8]) -> Probe {
    match data.first() {
        None => Probe::NeedMore,
        Some(b'*') => array_header(data, |b| b == b'$'),
        Some(_) => inline(data),
    }
}

/// `*<count>\r\n` followed by a byte that `next` accepts.
fn array_header(data: &[u8], next: impl Fn(u8) -> bool) -> Probe {
    let body = data.get(1..).unwrap_or_default();
    let digits = body.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 9 {
        return Probe::NoMatch;
    }
    let rest = body.get(digits..).unwrap_or_default();
    if rest.is_empty() {
        return Probe::NeedMore;
    }
    if digits == 0 {
        return Probe::NoMatch;
    }
    let expected: &[u8] = b"\r\n";
    let have = rest.len().min(2);
    if rest[..have] != expected[..have] {
        return Probe::NoMatch;
    }
    match rest.get(2) {
        None => Probe::NeedMore,
        Some(&b) if next(b) => Probe::Match,
        Some(_) => Probe::NoMatch,
    }
}

fn inline(data: &[u8]) -> Probe {
    let window = &data[..data.len().min(MAX_PROBE_LINE)];
    let word_len = window
        .iter()
        .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
        .count();
    let Some(&after) = window.get(word_len) else {
        // Still inside the first word.
        return if word_len < 16 && window.len() < MAX_PROBE_LINE {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    if !commands::is_known(&window[..word_len]) || !matches!(after, b' ' | b'\r' | b'\n') {
        return Probe::NoMatch;
    }
    let Some(lf) = memchr(b'\n', window) else {
        return if window.len() < MAX_PROBE_LINE {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    let line = &window[..lf];
    if looks_like_other_protocol(line) {
        return Probe::NoMatch;
    }
    Probe::Match
}

/// Lines that start with a Redis command name but belong to HTTP
/// (`GET / HTTP/1.1`) or FTP (`AUTH TLS`).
fn looks_like_other_protocol(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if memchr::memmem::find(line, b"HTTP/").is_some() {
        return true;
    }
    let upper = line.to_ascii_uppercase();
    matches!(
        upper.as_slice(),
        b"AUTH TLS" | b"AUTH SSL" | b"AUTH TLS-C" | b"AUTH TLS-P"
    )
}

fn server(data: &[u8]) -> Probe {
    match data.first() {
        None => Probe::NeedMore,
        // An array of typed values.
        Some(b'*' | b'>') => array_header(data, |b| b"+-:$*_#,(!=%~".contains(&b)),
        Some(b'%') => array_header(data, |b| b"+$".contains(&b)),
        Some(b'$') => bulk(data),
        Some(b'-') => redis_error(data),
        Some(_) => Probe::NoMatch,
    }
}

/// A complete `$<len>\r\n<bytes>\r\n`.
fn bulk(data: &[u8]) -> Probe {
    let Some(lf) = memchr(b'\n', &data[..data.len().min(24)]) else {
        let head = data.get(1..).unwrap_or_default();
        let head = head.strip_suffix(b"\r").unwrap_or(head);
        let digits_so_far = head.iter().all(|b| b.is_ascii_digit() || *b == b'-');
        return if data.len() < 24 && digits_so_far {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    let header = &data[1..lf];
    let Some(header) = header.strip_suffix(b"\r") else {
        return Probe::NoMatch;
    };
    match parse_int(header) {
        Some(-1) => Probe::Match,
        Some(len) if (0..=256).contains(&len) => {
            let end = lf + 1 + len as usize;
            match data.get(end..end + 2) {
                Some(b"\r\n") => Probe::Match,
                Some(_) => Probe::NoMatch,
                None if data.len() < end + 2 => Probe::NeedMore,
                None => Probe::NoMatch,
            }
        }
        _ => Probe::NoMatch,
    }
}

/// Error prefixes no other protocol here uses.
fn redis_error(data: &[u8]) -> Probe {
    const PREFIXES: &[&[u8]] = &[
        b"-NOAUTH ",
        b"-WRONGPASS ",
        b"-NOPERM ",
        b"-WRONGTYPE ",
        b"-DENIED ",
        b"-ERR unknown command '",
    ];
    for p in PREFIXES {
        let n = p.len().min(data.len());
        if data[..n] == p[..n] {
            return if data.len() >= p.len() {
                Probe::Match
            } else {
                Probe::NeedMore
            };
        }
    }
    Probe::NoMatch
}
