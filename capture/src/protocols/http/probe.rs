//! Recognises HTTP/1.x from a connection's first bytes: a request line
//! `METHOD target HTTP/1.x` from the client, `HTTP/1.x NNN` from the
//! server. Strict on purpose: a Redis inline command (`GET key`) or an FTP
//! command has no `HTTP/1.x` and is never claimed.

use model::Direction;

use crate::protocols::Probe;

/// Longest method accepted (`VERSION-CONTROL` is 15).
const MAX_METHOD: usize = 24;
/// A target at least this long after a well-known method is taken as HTTP
/// even before its version arrives (the engine probes at most 1 KiB).
const LONG_TARGET: usize = 256;

const KNOWN_METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
];

pub fn probe(dir: Direction, data: &[u8]) -> Probe {
    match dir {
        Direction::ToServer => request(data),
        Direction::ToClient => response(data),
    }
}

/// Checks `data` against a pattern of byte classes: `Match` once all of
/// the pattern is seen, `NeedMore` while `data` is a prefix of it.
fn pattern(data: &[u8], classes: &[fn(u8) -> bool]) -> Probe {
    for (i, class) in classes.iter().enumerate() {
        match data.get(i) {
            None => return Probe::NeedMore,
            Some(&b) if class(b) => {}
            Some(_) => return Probe::NoMatch,
        }
    }
    Probe::Match
}

const HTTP1: [fn(u8) -> bool; 8] = [
    |b| b == b'H',
    |b| b == b'T',
    |b| b == b'T',
    |b| b == b'P',
    |b| b == b'/',
    |b| b == b'1',
    |b| b == b'.',
    |b: u8| b.is_ascii_digit(),
];

fn response(data: &[u8]) -> Probe {
    let digit = |b: u8| b.is_ascii_digit();
    let classes: [fn(u8) -> bool; 12] = [
        HTTP1[0],
        HTTP1[1],
        HTTP1[2],
        HTTP1[3],
        HTTP1[4],
        HTTP1[5],
        HTTP1[6],
        HTTP1[7],
        |b| b == b' ',
        digit,
        digit,
        digit,
    ];
    pattern(data, &classes)
}

fn request(data: &[u8]) -> Probe {
    let method_len = data
        .iter()
        .position(|&b| !is_method_char(b))
        .unwrap_or(data.len());
    if method_len > MAX_METHOD || data.first().is_some_and(|b| !b.is_ascii_uppercase()) {
        return Probe::NoMatch;
    }
    let Some(&after_method) = data.get(method_len) else {
        return Probe::NeedMore;
    };
    if method_len == 0 || after_method != b' ' {
        return Probe::NoMatch;
    }
    let method = data.get(..method_len).unwrap_or_default();
    let target_start = method_len + 1;
    let rest = data.get(target_start..).unwrap_or_default();
    let target_len = rest
        .iter()
        .position(|&b| !(0x21..=0x7e).contains(&b))
        .unwrap_or(rest.len());
    let Some(&after_target) = rest.get(target_len) else {
        let long =
            target_len >= LONG_TARGET && (rest.starts_with(b"/") || rest.starts_with(b"http"));
        return if long && KNOWN_METHODS.contains(&method) {
            Probe::Match
        } else {
            Probe::NeedMore
        };
    };
    if target_len == 0 || after_target != b' ' {
        return Probe::NoMatch;
    }
    pattern(rest.get(target_len + 1..).unwrap_or_default(), &HTTP1)
}

fn is_method_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(data: &[u8]) -> Probe {
        probe(Direction::ToServer, data)
    }

    #[test]
    fn claims_request_lines_and_status_lines() {
        assert_eq!(req(b"GET / HTTP/1.1\r\n"), Probe::Match);
        assert_eq!(req(b"CCM_POST / HTTP/1.1\r\n"), Probe::Match);
        assert_eq!(req(b"PROPFIND /dav HTTP/1.1\r\n"), Probe::Match);
        assert_eq!(req(b"GET / HTT"), Probe::NeedMore);
        assert_eq!(req(b"GE"), Probe::NeedMore);
        assert_eq!(req(b""), Probe::NeedMore);
        assert_eq!(
            probe(Direction::ToClient, b"HTTP/1.0 400 Bad"),
            Probe::Match
        );
        assert_eq!(probe(Direction::ToClient, b"HTTP/1."), Probe::NeedMore);
        assert_eq!(probe(Direction::ToClient, b"HTTP/2 200"), Probe::NoMatch);
        let mut long = b"GET /".to_vec();
        long.extend(std::iter::repeat_n(b'a', 300));
        assert_eq!(req(&long), Probe::Match);
    }

    #[test]
    fn leaves_other_protocols_alone() {
        assert_eq!(req(b"GET key\r\n"), Probe::NoMatch);
        assert_eq!(req(b"SET key value\r\n"), Probe::NoMatch);
        assert_eq!(req(b"USER anonymous\r\n"), Probe::NoMatch);
        assert_eq!(req(b"SSH-2.0-OpenSSH_9.2\r\n"), Probe::NoMatch);
        assert_eq!(req(b"*1\r\n$4\r\nPING\r\n"), Probe::NoMatch);
        assert_eq!(req(b"@RSYNCD: 31.0\n"), Probe::NoMatch);
        assert_eq!(req(b"\x16\x03\x01\x02\x00"), Probe::NoMatch);
        assert_eq!(req(b"get / HTTP/1.1\r\n"), Probe::NoMatch);
        assert_eq!(req(b"GET /HTTP/1.1\r\n"), Probe::NoMatch);
        assert_eq!(
            probe(Direction::ToClient, b"220 ProFTPD ready\r\n"),
            Probe::NoMatch
        );
        assert_eq!(probe(Direction::ToClient, b"+OK\r\n"), Probe::NoMatch);
    }
}
