//! Pure HTTP/1.x head parsing: bytes in, borrowed views out, no state.
//!
//! Request lines are parsed as leniently as Zeek parses them (any token as
//! method, a missing URI, a missing version meaning HTTP/0.9); header
//! blocks go through `httparse`, with a lenient line splitter as fallback
//! for what `httparse` rejects (obsolete folding, odd names).

use memchr::{memchr, memmem};

/// Largest request or response head kept whole.
pub const MAX_HEAD: usize = 64 * 1024;

/// Headers `httparse` parses at once; more fall back to the line splitter.
const HTTPARSE_HEADERS: usize = 96;

/// Where the head starting at `data[0]` ends (just after its empty line),
/// searching for line feeds from `from`.
pub fn head_end(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from.min(data.len());
    while let Some(i) = memchr(b'\n', data.get(at..)?) {
        let lf = at + i;
        match data.get(lf + 1..) {
            Some([b'\n', ..]) => return Some(lf + 2),
            Some([b'\r', b'\n', ..]) => return Some(lf + 3),
            _ => at = lf + 1,
        }
    }
    None
}

/// The first line of `data` without its line ending, and the length
/// including it; `None` until a line feed arrives.
pub fn first_line(data: &[u8]) -> Option<(&[u8], usize)> {
    let lf = memchr(b'\n', data)?;
    let line = data.get(..lf)?;
    Some((trim_cr(line), lf + 1))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// RFC 9110 `tchar`.
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ws(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ws(*last) || *last == b'\r' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[derive(Debug, PartialEq, Eq)]
pub struct RequestLine<'a> {
    pub method: &'a [u8],
    pub uri: &'a [u8],
    /// What follows `HTTP/`; `None` for an HTTP/0.9 request line.
    pub version: Option<&'a [u8]>,
}

/// Parses a request line the way Zeek does: a token, whitespace, then
/// the target and an optional ` HTTP/x.y`. `None` when there is no token
/// or no whitespace after it.
pub fn request_line(line: &[u8]) -> Option<RequestLine<'_>> {
    let method_len = line
        .iter()
        .position(|&b| !is_token_char(b))
        .unwrap_or(line.len());
    if method_len == 0 {
        return None;
    }
    let (method, rest) = line.split_at(method_len);
    let after_ws = rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len());
    if after_ws == 0 {
        return None;
    }
    let rest = trim(rest.get(after_ws..)?);
    if let Some(version) = rest.strip_prefix(b"HTTP/") {
        // No target at all: `OPTIONS HTTP/1.1`.
        return Some(RequestLine {
            method,
            uri: b"",
            version: Some(version),
        });
    }
    if let Some(at) = memmem::rfind(rest, b"HTTP/") {
        let before = rest.get(..at)?;
        let version = rest.get(at + 5..)?;
        if before.last().is_some_and(|&b| is_ws(b))
            && version.len() <= 8
            && !version.iter().any(|&b| is_ws(b))
        {
            return Some(RequestLine {
                method,
                uri: trim(before),
                version: Some(version),
            });
        }
    }
    Some(RequestLine {
        method,
        uri: rest,
        version: None,
    })
}

/// A request line a client could really have sent: a token, a target
/// and `HTTP/1.x` (used to resynchronise after garbage).
pub fn looks_like_request_line(line: &[u8]) -> bool {
    match request_line(line) {
        Some(RequestLine {
            version: Some(v), ..
        }) => v.len() == 3 && v.starts_with(b"1.") && v[2].is_ascii_digit(),
        _ => false,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// What follows `HTTP/`.
    pub version: &'a [u8],
    pub code: u16,
    pub reason: &'a [u8],
}

/// `HTTP/x.y NNN reason`, leniently (extra spaces, missing reason).
pub fn status_line(line: &[u8]) -> Option<StatusLine<'_>> {
    let rest = line.strip_prefix(b"HTTP/")?;
    let version_len = rest.iter().position(|&b| is_ws(b))?;
    let (version, rest) = rest.split_at(version_len);
    let rest = trim(rest);
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|b| !is_ws(*b)) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    Some(StatusLine {
        version,
        code,
        reason: trim(rest.get(3..).unwrap_or_default()),
    })
}

/// Calls `f(name, value)` for each header of a block (the head after its
/// first line, up to and including the empty line). Returns the count.
pub fn each_header<'a>(block: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8])) -> u32 {
    let mut headers = [httparse::EMPTY_HEADER; HTTPARSE_HEADERS];
    if let Ok(httparse::Status::Complete((_, parsed))) =
        httparse::parse_headers(block, &mut headers)
    {
        for h in parsed.iter() {
            f(h.name.as_bytes(), trim(h.value));
        }
        return parsed.len() as u32;
    }
    // Too many headers or a line httparse refuses: split lines ourselves.
    let mut count = 0u32;
    for line in block.split(|&b| b == b'\n') {
        let line = trim_cr(line);
        if line.is_empty() {
            break;
        }
        if line.first().is_some_and(|&b| is_ws(b)) {
            continue; // obsolete folding: a continuation of the previous value
        }
        if let Some(colon) = memchr(b':', line) {
            let (name, value) = line.split_at(colon);
            f(trim(name), trim(value.get(1..).unwrap_or_default()));
            count = count.saturating_add(1);
        }
    }
    count
}

/// Parses a decimal `Content-Length`, refusing overflow and junk.
pub fn content_length(value: &[u8]) -> Option<u64> {
    let value = trim(value);
    if value.is_empty() || value.len() > 19 {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// True when `chunked` is the last transfer coding listed.
pub fn is_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .map(trim)
        .is_some_and(|last| last.eq_ignore_ascii_case(b"chunked"))
}

/// The `filename` (or `filename*`) parameter of a `Content-Disposition`.
pub fn disposition_filename(value: &[u8]) -> Option<&[u8]> {
    let mut plain = None;
    for param in value.split(|&b| b == b';').skip(1) {
        let param = trim(param);
        let Some(eq) = memchr(b'=', param) else {
            continue;
        };
        let (name, raw) = param.split_at(eq);
        let raw = trim(raw.get(1..).unwrap_or_default());
        let name = trim(name);
        if name.eq_ignore_ascii_case(b"filename*") {
            // RFC 5987: charset'lang'value; keep the value part.
            let value = raw.rsplit(|&b| b == b'\'').next().unwrap_or(raw);
            return Some(value);
        }
        if name.eq_ignore_ascii_case(b"filename") {
            let unquoted = raw
                .strip_prefix(b"\"")
                .and_then(|r| r.strip_suffix(b"\""))
                .unwrap_or(raw);
            plain = Some(unquoted);
        }
    }
    plain
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn multipart_boundary(content_type: &[u8]) -> Option<&[u8]> {
    let mut parts = content_type.split(|&b| b == b';');
    let kind = trim(parts.next()?);
    if !kind.eq_ignore_ascii_case(b"multipart/form-data") {
        return None;
    }
    for param in parts {
        let param = trim(param);
        if param.len() > 9 && param.get(..9)?.eq_ignore_ascii_case(b"boundary=") {
            let b = param.get(9..)?;
            let b = b
                .strip_prefix(b"\"")
                .and_then(|r| r.strip_suffix(b"\""))
                .unwrap_or(b);
            return (!b.is_empty() && b.len() <= 200).then_some(b);
        }
    }
    None
}

/// Percent-decodes a URI the way Zeek logs it; invalid escapes stay.
pub fn unescape_uri(uri: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr(b'%', uri).is_none() {
        return std::borrow::Cow::Borrowed(uri);
    }
    let mut out = Vec::with_capacity(uri.len());
    let mut i = 0;
    while let Some(&b) = uri.get(i) {
        if b == b'%' {
            if let (Some(h), Some(l)) = (uri.get(i + 1).and_then(hex), uri.get(i + 2).and_then(hex))
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_of_heads() {
        assert_eq!(
            head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", 0),
            Some(27)
        );
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: a\n\nrest", 0), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r", 0), None);
        assert_eq!(head_end(b"", 5), None);
    }

    #[test]
    fn parses_request_lines_like_zeek() {
        let l = request_line(b"GET /a b HTTP/1.1").unwrap();
        assert_eq!(
            (l.method, l.uri, l.version),
            (&b"GET"[..], &b"/a b"[..], Some(&b"1.1"[..]))
        );
        let l = request_line(b"OPTIONS HTTP/1.1").unwrap();
        assert_eq!((l.uri, l.version), (&b""[..], Some(&b"1.1"[..])));
        let l = request_line(b"GET /HTTP/1.1").unwrap();
        assert_eq!((l.uri, l.version), (&b"/HTTP/1.1"[..], None));
        let l = request_line(b"CCM_POST / HTTP/1.").unwrap();
        assert_eq!((l.method, l.version), (&b"CCM_POST"[..], Some(&b"1."[..])));
        assert!(request_line(b"GET/ HTTP/1.1").is_none());
        assert!(request_line(b"OPTIONS").is_none());
        assert!(request_line(b"\xc3\x83 / HTTP/1.1").is_none());
        assert!(looks_like_request_line(b"PROPFIND /x HTTP/1.1"));
        assert!(!looks_like_request_line(b"GET key"));
    }

    #[test]
    fn parses_status_lines() {
        let s = status_line(b"HTTP/1.1 405 Method Not Allowed").unwrap();
        assert_eq!(
            (s.version, s.code, s.reason),
            (&b"1.1"[..], 405, &b"Method Not Allowed"[..])
        );
        assert_eq!(status_line(b"HTTP/1.0 200").unwrap().reason, b"");
        assert!(status_line(b"HTTP/1.1 20x OK").is_none());
        assert!(status_line(b"HTTP/1.1 2000 OK").is_none());
    }

    #[test]
    fn headers_fall_back_to_lenient_splitting() {
        let mut seen = Vec::new();
        let n = each_header(b"Host: a\r\nX: 1\r\n\r\n", |k, v| seen.push((k, v)));
        assert_eq!((n, seen.len()), (2, 2));
        seen.clear();
        let n = each_header(
            b"Bad Name : a\r\n folded\r\nContent-Length:   7  \r\n\r\n",
            |k, v| seen.push((k, v)),
        );
        assert_eq!(n, 2);
        assert_eq!(seen[1], (&b"Content-Length"[..], &b"7"[..]));
    }

    #[test]
    fn reads_lengths_codings_and_filenames() {
        assert_eq!(content_length(b"       946"), Some(946));
        assert_eq!(content_length(b"99999999999999999999"), None);
        assert_eq!(content_length(b"-1"), None);
        assert!(is_chunked(b"gzip, chunked"));
        assert!(!is_chunked(b"chunked, gzip"));
        assert_eq!(
            disposition_filename(b"attachment; filename=\"test.json\""),
            Some(&b"test.json"[..])
        );
        assert_eq!(
            disposition_filename(b"form-data; name=\"f\"; filename=a.php"),
            Some(&b"a.php"[..])
        );
        assert_eq!(
            multipart_boundary(b"multipart/form-data; boundary=----x"),
            Some(&b"----x"[..])
        );
        assert_eq!(&*unescape_uri(b"/a%20b%3d%zz"), b"/a b=%zz");
    }
}
