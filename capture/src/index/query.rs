//! The analysts' query language: tantivy's syntax (`field:value`, `AND`,
//! `OR`, `-`, phrases, ranges) with field aliases, CIDR blocks for IP
//! fields (`src_ip:10.0.0.0/8`), relative and short times (`ts:>now-24h`,
//! `ts:2024-05-01`), and `ip:` for either end. [`rewrite`] turns it into
//! plain tantivy syntax and reports where and why a query is wrong.

use std::net::IpAddr;

use model::Timestamp;
use tantivy::query::{Query, QueryParser};

use super::schema::QUERY_FIELDS;
use super::Index;
use crate::store::{Error, Result};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Ip,
    Date,
    Number,
    Bool,
    Str,
}

fn field_type(field: &str) -> Type {
    match field {
        "src_ip" | "dst_ip" | "ip" | "attacker" => Type::Ip,
        "ts" | "end" => Type::Date,
        "src_port" | "dst_port" | "packets" | "bytes" | "events" | "flows" | "logins"
        | "logins_ok" => Type::Number,
        "success" => Type::Bool,
        _ => Type::Str,
    }
}

/// Other names analysts type, and what they mean.
pub const ALIASES: &[(&str, &str)] = &[
    ("src", "src_ip"),
    ("client", "src_ip"),
    ("client_ip", "src_ip"),
    ("flow.src_ip", "src_ip"),
    ("dst", "dst_ip"),
    ("server", "dst_ip"),
    ("server_ip", "dst_ip"),
    ("flow.dst_ip", "dst_ip"),
    ("sport", "src_port"),
    ("flow.src_port", "src_port"),
    ("dport", "dst_port"),
    ("port", "dst_port"),
    ("flow.dst_port", "dst_port"),
    ("proto", "protocol"),
    ("service", "protocol"),
    ("username", "user"),
    ("login", "user"),
    ("pass", "password"),
    ("pw", "password"),
    ("cmd", "command"),
    ("sql", "query"),
    ("url", "uri"),
    ("hash", "sha256"),
    ("file", "sha256"),
    ("time", "ts"),
    ("timestamp", "ts"),
    ("@timestamp", "ts"),
    ("session", "session_id"),
    ("flow", "flow_id"),
    ("flow.id", "flow_id"),
    ("community_id", "flow_id"),
    ("ok", "success"),
    ("db", "database"),
];

/// Parses `query` (empty: everything) for `index`, with `now` for
/// relative times.
pub fn parse(index: &Index, query: &str, now: Timestamp) -> Result<Box<dyn Query>> {
    let rewritten = rewrite(query, now)?;
    if rewritten.trim().is_empty() {
        return Ok(Box::new(tantivy::query::AllQuery));
    }
    let mut parser = QueryParser::for_index(&index.inner, index.fields.free_text());
    parser.set_conjunction_by_default();
    parser.parse_query(&rewritten).map_err(|e| {
        let message = match rewritten == query {
            true => e.to_string(),
            false => format!("{e} (as rewritten: {rewritten})"),
        };
        Error::query(query, 0, message)
    })
}

/// Rewrites the extensions into tantivy syntax.
pub fn rewrite(q: &str, now: Timestamp) -> Result<String> {
    let mut out = String::with_capacity(q.len() + 16);
    let bytes = q.as_bytes();
    let mut depth: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < q.len() {
        let c = bytes[i];
        match c {
            b'"' => {
                let end = closing_quote(q, i)?;
                out.push_str(&q[i..=end]);
                i = end + 1;
                continue;
            }
            b'(' => depth.push(i),
            b')' if depth.pop().is_none() => {
                return Err(Error::query(q, i, "')' closes nothing"));
            }
            b'[' | b'{' => {
                return Err(Error::query(
                    q,
                    i,
                    "a range needs a field before it (ts:[A TO B])",
                ))
            }
            _ => {}
        }
        let starts_token = i == 0
            || matches!(
                bytes[i - 1],
                b' ' | b'\t' | b'\n' | b'(' | b'+' | b'-' | b'!'
            );
        if starts_token && is_ident_start(c) {
            let mut j = i;
            while j < q.len() && is_ident(bytes[j]) {
                j += 1;
            }
            if j < q.len() && bytes[j] == b':' {
                let name = &q[i..j];
                let field = resolve(q, i, name)?;
                let (value, next) = value_at(q, j + 1)?;
                out.push_str(&field_value(q, j + 1, field, value, now)?);
                i = next;
                continue;
            }
            // `a AND NOT b` matches nothing in tantivy's parser
            // (quickwit-oss/tantivy#2584); `a NOT b` means the same here
            // (conjunction by default) and works.
            if &q[i..j] == "AND" {
                let rest = q[j..].trim_start();
                if rest.len() < q.len() - j
                    && rest.starts_with("NOT")
                    && rest[3..].starts_with([' ', '\t', '\n', '('])
                {
                    i = j;
                    continue;
                }
            }
            out.push_str(&q[i..j]);
            i = j;
            continue;
        }
        out.push(c as char);
        if c >= 0x80 {
            // Copy the rest of a multi-byte character whole.
            out.pop();
            let ch = q[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        i += 1;
    }
    if let Some(open) = depth.pop() {
        return Err(Error::query(q, open, "'(' is never closed"));
    }
    Ok(out)
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'@'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'@')
}

fn closing_quote(q: &str, open: usize) -> Result<usize> {
    let bytes = q.as_bytes();
    let mut k = open + 1;
    while k < q.len() {
        match bytes[k] {
            b'\\' => k += 2,
            b'"' => return Ok(k),
            _ => k += 1,
        }
    }
    Err(Error::query(q, open, "this quote is never closed"))
}

fn resolve(q: &str, at: usize, name: &str) -> Result<&'static str> {
    let lower = name.to_ascii_lowercase();
    if lower == "ip" {
        return Ok("ip");
    }
    if let Some(f) = QUERY_FIELDS.iter().find(|f| **f == lower) {
        return Ok(f);
    }
    if let Some((_, f)) = ALIASES.iter().find(|(a, _)| *a == lower) {
        return Ok(f);
    }
    let suggestion = QUERY_FIELDS
        .iter()
        .chain(ALIASES.iter().map(|(a, _)| a))
        .map(|f| (distance(&lower, f), *f))
        .filter(|(d, _)| *d <= 2)
        .min();
    let hint = match suggestion {
        Some((_, f)) => format!(" (did you mean {f}?)"),
        None => " (see docs/query.md; quote a value that contains ':')".to_string(),
    };
    Err(Error::query(q, at, format!("unknown field '{name}'{hint}")))
}

/// The raw value after `field:` and where the query goes on.
fn value_at(q: &str, start: usize) -> Result<(&str, usize)> {
    let bytes = q.as_bytes();
    let Some(&first) = bytes.get(start) else {
        return Err(Error::query(q, start, "a value is missing after ':'"));
    };
    let end = match first {
        b'"' => closing_quote(q, start)? + 1,
        b'[' | b'{' => match q[start..].find([']', '}']) {
            Some(k) => start + k + 1,
            None => {
                return Err(Error::query(
                    q,
                    start,
                    "this range is never closed (']' or '}')",
                ))
            }
        },
        b'(' => {
            let mut depth = 0usize;
            let mut k = start;
            loop {
                match bytes.get(k) {
                    None => return Err(Error::query(q, start, "'(' is never closed")),
                    Some(b'(') => depth += 1,
                    Some(b')') => {
                        depth -= 1;
                        if depth == 0 {
                            break k + 1;
                        }
                    }
                    _ => {}
                }
                k += 1;
            }
        }
        b' ' | b'\t' | b')' => return Err(Error::query(q, start, "a value is missing after ':'")),
        _ => {
            let mut k = start;
            while k < q.len() && !matches!(bytes[k], b' ' | b'\t' | b'\n' | b')') {
                k += 1;
            }
            k
        }
    };
    Ok((&q[start..end], end))
}

fn field_value(q: &str, at: usize, field: &str, value: &str, now: Timestamp) -> Result<String> {
    let ty = field_type(field);
    if value.starts_with('(') || (value.starts_with('"') && ty == Type::Str) {
        return Ok(format!("{field}:{value}"));
    }
    let unquoted = value.trim_matches('"');
    match ty {
        Type::Str => {
            if field == "type"
                && !unquoted.contains('.')
                && !matches!(unquoted, "flow" | "session" | "anomaly")
            {
                // `type:ftp` means every event of that protocol.
                return Ok(format!("protocol:{unquoted}"));
            }
            if let Some(proto) = unquoted.strip_suffix(".*") {
                return Ok(format!("protocol:{proto}"));
            }
            Ok(format!("{field}:{value}"))
        }
        Type::Ip => {
            let one =
                |f: &str| -> Result<String> { Ok(format!("{f}:{}", ip_value(q, at, unquoted)?)) };
            if field == "ip" {
                Ok(format!("({} OR {})", one("src_ip")?, one("dst_ip")?))
            } else {
                one(field)
            }
        }
        Type::Date => time_value(q, at, field, unquoted, now),
        Type::Number => {
            check_range(
                q,
                at,
                unquoted,
                |b| b == "*" || b.parse::<u64>().is_ok(),
                "a whole number",
            )?;
            Ok(format!("{field}:{unquoted}"))
        }
        Type::Bool => match unquoted.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(format!("{field}:true")),
            "false" | "no" | "0" => Ok(format!("{field}:false")),
            _ => Err(Error::query(
                q,
                at,
                format!("'{value}' is not true or false"),
            )),
        },
    }
}

/// Checks each bound of `>x`, `[a TO b]` or a single value.
fn check_range(
    q: &str,
    at: usize,
    value: &str,
    ok: impl Fn(&str) -> bool,
    what: &str,
) -> Result<()> {
    for bound in bounds(value) {
        if !ok(bound) {
            return Err(Error::query(q, at, format!("'{bound}' is not {what}")));
        }
    }
    Ok(())
}

fn bounds(value: &str) -> Vec<&str> {
    let v = value.trim_start_matches(['>', '<', '=']);
    let v = v
        .trim_start_matches(['[', '{'])
        .trim_end_matches([']', '}']);
    v.split(" TO ").map(str::trim).collect()
}

fn ip_value(q: &str, at: usize, value: &str) -> Result<String> {
    if let Some((addr, bits)) = value.split_once('/') {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| Error::query(q, at, format!("'{addr}' is not an IP address")))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits: u32 = bits.parse().ok().filter(|b| *b <= max).ok_or_else(|| {
            Error::query(
                q,
                at,
                format!("'/{bits}' is not a prefix length (0 to {max})"),
            )
        })?;
        let (lo, hi) = cidr(ip, bits);
        return Ok(format!("[{lo} TO {hi}]"));
    }
    if value.starts_with(['[', '{', '>', '<']) {
        check_range(
            q,
            at,
            value,
            |b| b == "*" || b.parse::<IpAddr>().is_ok(),
            "an IP address",
        )?;
        return Ok(value.to_string());
    }
    let ip: IpAddr = value.parse().map_err(|_| {
        Error::query(
            q,
            at,
            format!("'{value}' is not an IP address or CIDR block"),
        )
    })?;
    Ok(ip.to_string().replace(':', "\\:"))
}

/// First and last address of a CIDR block.
pub fn cidr(ip: IpAddr, bits: u32) -> (IpAddr, IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let x = u32::from(v4);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            (
                IpAddr::V4((x & mask).into()),
                IpAddr::V4((x | !mask).into()),
            )
        }
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            (
                IpAddr::V6((x & mask).into()),
                IpAddr::V6((x | !mask).into()),
            )
        }
    }
}

fn time_value(q: &str, at: usize, field: &str, value: &str, now: Timestamp) -> Result<String> {
    let bad = |b: &str| {
        Error::query(
            q,
            at,
            format!("'{b}' is not a time (RFC 3339 such as 2024-05-01T10:00:00Z, a day such as 2024-05-01, or now-24h)"),
        )
    };
    if let Some(rest) = value.strip_prefix(['>', '<']) {
        let op_len = if rest.starts_with('=') { 2 } else { 1 };
        let (op, bound) = value.split_at(op_len);
        let t = time(bound, now).ok_or_else(|| bad(bound))?;
        return Ok(format!("{field}:{op}{t}"));
    }
    if value.starts_with(['[', '{']) {
        let open = &value[..1];
        let close = &value[value.len() - 1..];
        let inner = &value[1..value.len() - 1];
        let Some((a, b)) = inner.split_once(" TO ") else {
            return Err(Error::query(q, at, "a range reads [A TO B]"));
        };
        let a = time(a.trim(), now).ok_or_else(|| bad(a.trim()))?;
        let b = time(b.trim(), now).ok_or_else(|| bad(b.trim()))?;
        return Ok(format!("{field}:{open}{a} TO {b}{close}"));
    }
    // A day alone is the whole day.
    if let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let start = day
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().timestamp_micros());
        if let Some(start) = start {
            let end = start + 86_400_000_000;
            return Ok(format!(
                "{field}:[{} TO {}}}",
                Timestamp(start),
                Timestamp(end)
            ));
        }
    }
    let t = time(value, now).ok_or_else(|| bad(value))?;
    Ok(format!("{field}:[{t} TO {t}]"))
}

/// A time as RFC 3339, from RFC 3339, a day, a time without a zone (UTC),
/// `now`, or `now-N[smhdw]` / `now+N…`; `*` stays.
pub fn time(s: &str, now: Timestamp) -> Option<String> {
    if s == "*" {
        return Some("*".into());
    }
    if let Some(rest) = s.strip_prefix("now") {
        if rest.is_empty() {
            return Some(now.to_string());
        }
        let (sign, rest) = match rest.as_bytes()[0] {
            b'-' => (-1i64, &rest[1..]),
            b'+' => (1, &rest[1..]),
            _ => return None,
        };
        let unit = rest.chars().last()?;
        let n: i64 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
        let seconds = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        let delta = n.checked_mul(seconds)?.checked_mul(1_000_000)?;
        return Some(Timestamp(now.0.checked_add(sign * delta)?).to_string());
    }
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Some(t.to_string());
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(Timestamp(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros()).to_string());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return Some(Timestamp(t.and_utc().timestamp_micros()).to_string());
        }
    }
    None
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let now = Timestamp::parse_rfc3339("2024-05-02T12:00:00Z").unwrap();
        assert_eq!(rewrite(input, now).unwrap(), expected, "{input}");
    }

    fn check_err(input: &str, column: usize, says: &str) {
        match rewrite(input, Timestamp(0)) {
            Err(Error::Query {
                column: c, message, ..
            }) => {
                assert_eq!(c, column, "{input}: {message}");
                assert!(message.contains(says), "{input}: {message}");
            }
            other => panic!("{input}: {other:?}"),
        }
    }

    #[test]
    fn rewrites_extensions() {
        check("src_ip:10.0.0.0/8", "src_ip:[10.0.0.0 TO 10.255.255.255]");
        check(
            "src:192.168.1.7 AND port:21",
            "src_ip:192.168.1.7 AND dst_port:21",
        );
        check("ip:10.1.2.3", "(src_ip:10.1.2.3 OR dst_ip:10.1.2.3)");
        check(
            "dst_port:3306 AND NOT src_ip:10.0.0.0/8",
            "dst_port:3306  NOT src_ip:[10.0.0.0 TO 10.255.255.255]",
        );
        check("a AND NOTE", "a AND NOTE");
        check("a AND NOT(b)", "a  NOT(b)");
        check("ts:>now-24h", "ts:>2024-05-01T12:00:00.000000Z");
        check(
            "ts:[2024-05-01 TO now]",
            "ts:[2024-05-01T00:00:00.000000Z TO 2024-05-02T12:00:00.000000Z]",
        );
        check(
            "ts:2024-05-01",
            "ts:[2024-05-01T00:00:00.000000Z TO 2024-05-02T00:00:00.000000Z}",
        );
        check(
            "type:ftp.login -success:true",
            "type:ftp.login -success:true",
        );
        check("type:redis", "protocol:redis");
        check(
            "user:root \"drop table\" pass:\"a b\"",
            "user:root \"drop table\" password:\"a b\"",
        );
        check("dst_ip:::1", "dst_ip:\\:\\:1");
        check(
            "src_ip:2001:db8::/32",
            "src_ip:[2001:db8:: TO 2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]",
        );
        check("", "");
    }

    proptest::proptest! {
        #[test]
        fn any_input_is_rewritten_or_refused_without_panicking(q in "\\PC{0,40}") {
            let _ = rewrite(&q, Timestamp(0));
        }

        #[test]
        fn query_like_input_is_rewritten_or_refused(q in "[a-z_:.\\[\\]{}()\"<>=*/ 0-9-]{0,40}") {
            if let Err(Error::Query { column, .. }) = rewrite(&q, Timestamp(0)) {
                proptest::prop_assert!(column >= 1 && column <= q.chars().count() + 1);
            }
        }
    }

    #[test]
    fn says_where_and_why() {
        check_err(
            "user:root AND usr:admin",
            15,
            "unknown field 'usr' (did you mean user?)",
        );
        check_err("src_ip:10.0.0.0/33", 8, "prefix length");
        check_err("ts:>yesterday", 4, "'yesterday' is not a time");
        check_err("(user:root", 1, "never closed");
        check_err("user:\"root", 6, "never closed");
        check_err("dst_port:ftp", 10, "not a whole number");
        check_err("user: root", 6, "value is missing");
    }
}
