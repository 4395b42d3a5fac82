//! Redis `MONITOR` lines: `TIME [DB ADDRESS:PORT] "CMD" "ARG" ...`, the
//! arguments quoted with Redis' escapes. Commands run by scripts (`[0 lua]`)
//! and over Unix sockets have no client address and give nothing. `AUTH`
//! arguments are shown as `(redacted)` and failures are not logged at all,
//! so an `AUTH` is an attempt of unknown outcome. Redis 7 does not show
//! administrative commands (CONFIG, REPLICAOF, MODULE, ...) in MONITOR.

use crate::observation::{Kind, Observation, Service};

use super::parse_ip;

/// Arguments kept in `detail`; the rest is cut (a value may be huge).
const MAX_DETAIL: usize = 1024;

pub fn line(msg: &str) -> Option<Observation> {
    let msg = msg.trim_end_matches(['\r', '\n']);
    let (time, rest) = msg.split_once(" [")?;
    if time.parse::<f64>().is_err() {
        return None;
    }
    let (client, args) = rest.split_once("] ")?;
    let (_db, address) = client.split_once(' ')?;
    let source = parse_ip(address)?;
    let args = unquote_all(args)?;
    let command = args.first()?.to_ascii_lowercase();
    let kind = if command == "auth" {
        Kind::Auth
    } else {
        Kind::Command
    };
    let mut detail = command;
    for arg in &args[1..] {
        if detail.len() >= MAX_DETAIL {
            break;
        }
        detail.push(' ');
        detail.push_str(arg);
    }
    if detail.len() > MAX_DETAIL {
        let cut = (0..=MAX_DETAIL)
            .rev()
            .find(|&i| detail.is_char_boundary(i))
            .unwrap_or(0);
        detail.truncate(cut);
    }
    Some(Observation::new(Service::Redis, kind, source).detail(detail))
}

/// `"a" "b\"c" "\xff"` → the arguments (bytes that are no UTF-8 replaced).
fn unquote_all(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = text.bytes().peekable();
    loop {
        while chars.peek() == Some(&b' ') {
            chars.next();
        }
        match chars.next() {
            None => return Some(out),
            Some(b'"') => {}
            Some(_) => return None,
        }
        let mut arg = Vec::new();
        loop {
            match chars.next()? {
                b'"' => break,
                b'\\' => match chars.next()? {
                    b'n' => arg.push(b'\n'),
                    b'r' => arg.push(b'\r'),
                    b't' => arg.push(b'\t'),
                    b'a' => arg.push(7),
                    b'b' => arg.push(8),
                    b'x' => {
                        let hi = (chars.next()? as char).to_digit(16)?;
                        let lo = (chars.next()? as char).to_digit(16)?;
                        arg.push((hi * 16 + lo) as u8);
                    }
                    other => arg.push(other),
                },
                b => arg.push(b),
            }
        }
        out.push(String::from_utf8_lossy(&arg).into_owned());
    }
}
