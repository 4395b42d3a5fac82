//! RFC 5424 messages with octet-counting framing (RFC 6587 §3.4.1): the
//! frame is `LEN SP MSG`, so lines may hold any bytes, newlines included.

/// `local0.info`: the detector keys on APP-NAME, not on the facility.
const PRI: u8 = 16 * 8 + 6;

/// Printable ASCII without spaces, cut to `max` (RFC 5424 header fields).
fn field(text: &str, max: usize) -> String {
    let s: String = text
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// One framed message for `line` (without its line ending) read at
/// `micros` (Unix microseconds).
pub fn frame(host: &str, app_name: &str, line: &[u8], micros: i64) -> Vec<u8> {
    let ts = model::Timestamp::from_micros(micros);
    let head = format!(
        "<{PRI}>1 {ts} {} {} - - - ",
        field(host, 255),
        field(app_name, 48)
    );
    let len = head.len() + line.len();
    let mut out = Vec::with_capacity(len + 12);
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(line);
    out
}

/// Length of the first whole frame in `buf`, prefix included; `None` when
/// `buf` ends inside it. A malformed prefix is `Some(Err)`.
pub fn frame_len(buf: &[u8]) -> Option<Result<usize, ()>> {
    let space = buf.iter().take(11).position(|b| *b == b' ');
    let Some(space) = space else {
        return if buf.len() >= 11 { Some(Err(())) } else { None };
    };
    let len: usize = match std::str::from_utf8(&buf[..space])
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(n) => n,
        None => return Some(Err(())),
    };
    let total = space + 1 + len;
    (buf.len() >= total).then_some(Ok(total))
}

pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_count_octets_and_clean_header_fields() {
        let f = frame(
            "web 1",
            "vsftpd",
            b"FAIL LOGIN: \xff\n",
            1_700_000_000_000_000,
        );
        let text = String::from_utf8_lossy(&f);
        assert!(
            text.starts_with("67 <134>1 2023-11-14T22:13:20.000000Z web1 vsftpd - - - FAIL"),
            "{text}"
        );
        assert_eq!(frame_len(&f), Some(Ok(f.len())));
        assert_eq!(frame_len(&f[..f.len() - 1]), None);
        assert_eq!(frame_len(b"x1 abc"), Some(Err(())));
        assert_eq!(
            frame("", "", b"", 0),
            b"45 <134>1 1970-01-01T00:00:00.000000Z - - - - - ".to_vec()
        );
    }
}
