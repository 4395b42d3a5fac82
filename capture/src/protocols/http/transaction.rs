//! One request/response pair: reading the facts of each head into the
//! event, and deciding how the body that follows is framed.

use base64::Engine;
use model::events::http::{HttpRequest, HttpUpload};
use model::Timestamp;

use super::body::{Chunk, Framing, Upload};
use super::parser::{self, RequestLine, StatusLine};

/// Longest string kept from the wire; longer ones are cut and flagged.
pub const MAX_STRING: usize = 4096;
/// File names kept per transaction.
const MAX_FILENAMES: usize = 1024;

pub struct Tx {
    pub id: u64,
    pub ts: Timestamp,
    pub event: HttpRequest,
    pub request_done: bool,
    /// The final (non-1xx) response head was seen.
    pub response_started: bool,
    pub response_done: bool,
    pub is_head: bool,
    pub is_connect: bool,
    /// Request line without a version: the reply may have no head either.
    pub http09: bool,
    /// The request asked to switch protocols (`Upgrade:`).
    pub wants_upgrade: bool,
}

impl Tx {
    /// A transaction whose request is unknown (unparsable, or not seen).
    pub fn unknown(id: u64, depth: u32, ts: Timestamp) -> Tx {
        Tx {
            id,
            ts,
            event: HttpRequest {
                trans_depth: depth,
                ..HttpRequest::default()
            },
            request_done: true,
            response_started: false,
            response_done: false,
            is_head: false,
            is_connect: false,
            http09: false,
            wants_upgrade: false,
        }
    }

    pub fn add_upload(&mut self, upload: Upload) {
        if self.event.uploads.len() >= MAX_FILENAMES {
            self.event.truncated = true;
            return;
        }
        let filename = text(&upload.name, &mut self.event.truncated);
        self.event.uploads.push(HttpUpload {
            filename,
            size: upload.size,
            sha256: upload.sha256,
        });
    }

    pub fn add_filename(&mut self, name: &[u8]) {
        if self.event.filenames.len() >= MAX_FILENAMES {
            self.event.truncated = true;
            return;
        }
        let name = text(name, &mut self.event.truncated);
        self.event.filenames.push(name);
    }
}

/// Lossy UTF-8, cut to [`MAX_STRING`] bytes (flagging `truncated`).
pub fn text(bytes: &[u8], truncated: &mut bool) -> String {
    let bytes = if bytes.len() > MAX_STRING {
        *truncated = true;
        bytes.get(..MAX_STRING).unwrap_or_default()
    } else {
        bytes
    };
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a request head says about the body after it.
pub struct RequestHead {
    pub tx: Tx,
    pub framing: Option<Framing>,
    pub multipart_boundary: Option<Vec<u8>>,
    /// Anomalies noticed (kind, detail).
    pub anomalies: Vec<(&'static str, String)>,
}

pub fn request(
    id: u64,
    depth: u32,
    ts: Timestamp,
    line: &RequestLine<'_>,
    block: &[u8],
) -> RequestHead {
    let mut tx = Tx::unknown(id, depth, ts);
    tx.request_done = false;
    let ev = &mut tx.event;
    let t = &mut ev.truncated;
    ev.method = Some(text(line.method, t));
    let decoded = parser::unescape_uri(line.uri);
    ev.uri = Some(text(&decoded, t));
    if *decoded != *line.uri {
        ev.raw_uri = Some(text(line.uri, t));
    }
    ev.version = Some(match line.version {
        Some(v) => text(v, t),
        None => "0.9".to_string(),
    });
    tx.http09 = line.version.is_none();
    tx.is_head = line.method.eq_ignore_ascii_case(b"HEAD");
    tx.is_connect = line.method.eq_ignore_ascii_case(b"CONNECT");

    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut boundary = None;
    let mut anomalies = Vec::new();
    let mut disposition = None;
    ev.request_headers = parser::each_header(block, |name, value| {
        let t = &mut ev.truncated;
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        if is(b"host") {
            ev.host = Some(text(value, t));
        } else if is(b"user-agent") {
            ev.user_agent = Some(text(value, t));
        } else if is(b"referer") {
            ev.referrer = Some(text(value, t));
        } else if is(b"origin") {
            ev.origin = Some(text(value, t));
        } else if is(b"cookie") {
            ev.cookie = Some(text(value, t));
        } else if is(b"x-forwarded-for") {
            ev.x_forwarded_for = Some(text(value, t));
        } else if is(b"authorization") {
            if let Some((user, password)) = basic_credentials(value) {
                ev.username = Some(text(&user, t));
                ev.password = Some(text(&password, t));
            }
        } else if is(b"content-type") {
            ev.request_content_type = Some(text(value, t));
            boundary = parser::multipart_boundary(value).map(<[u8]>::to_vec);
        } else if is(b"content-disposition") {
            disposition = parser::disposition_filename(value);
        } else if is(b"upgrade") {
            tx.wants_upgrade = true;
        } else if is(b"transfer-encoding") {
            chunked = parser::is_chunked(value);
        } else if is(b"content-length") {
            note_length(&mut length, value, &mut anomalies);
        }
    });
    if let Some(name) = disposition {
        tx.add_filename(name);
    }
    let framing = if chunked {
        if length.is_some() {
            anomalies.push((
                "chunked_with_length",
                "request has Transfer-Encoding: chunked and Content-Length".into(),
            ));
        }
        Some(Framing::Chunked(Chunk::Size))
    } else {
        length.filter(|&n| n > 0).map(Framing::Length)
    };
    RequestHead {
        tx,
        framing,
        multipart_boundary: boundary,
        anomalies,
    }
}

fn note_length(
    length: &mut Option<u64>,
    value: &[u8],
    anomalies: &mut Vec<(&'static str, String)>,
) {
    match parser::content_length(value) {
        Some(n) => {
            if length.is_some_and(|old| old != n) {
                anomalies.push((
                    "conflicting_content_length",
                    format!("{} and {n}", length.unwrap_or(0)),
                ));
            }
            *length = Some(n);
        }
        None => {
            let shown =
                String::from_utf8_lossy(value.get(..value.len().min(64)).unwrap_or_default())
                    .into_owned();
            anomalies.push(("bad_content_length", shown));
        }
    }
}

/// User and password of `Basic` credentials.
fn basic_credentials(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = parser::trim(value);
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") || value.len() > 2 * MAX_STRING {
        return None;
    }
    let encoded = parser::trim(value.get(6..)?);
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let decoded = engine.decode(encoded).ok()?;
    Some(match memchr::memchr(b':', &decoded) {
        Some(colon) => (
            decoded.get(..colon).unwrap_or_default().to_vec(),
            decoded.get(colon + 1..).unwrap_or_default().to_vec(),
        ),
        None => (decoded, Vec::new()),
    })
}

/// How a response continues after its head.
#[derive(Debug)]
pub enum After {
    /// More responses may follow (1xx interim, or a body-less response).
    Nothing,
    Body(Framing),
    /// The connection now carries another protocol.
    Tunnel,
}

/// Reads a response head into `tx` (its request, or an unknown one) and
/// decides what follows. Interim (1xx but 101) heads only set `info_*`.
pub fn response(
    tx: &mut Tx,
    status: &StatusLine<'_>,
    block: &[u8],
    anomalies: &mut Vec<(&'static str, String)>,
) -> After {
    let ev = &mut tx.event;
    let reason = text(status.reason, &mut ev.truncated);
    if (100..200).contains(&status.code) && status.code != 101 {
        ev.info_code = Some(status.code);
        ev.info_msg = Some(reason);
        return After::Nothing;
    }
    tx.response_started = true;
    ev.status_code = Some(status.code);
    ev.status_msg = Some(reason);
    ev.response_version = Some(text(status.version, &mut ev.truncated));
    let mut length = None;
    let mut coding = None;
    let mut upgrade = None;
    let mut disposition = None;
    ev.response_headers = parser::each_header(block, |name, value| {
        let t = &mut ev.truncated;
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        if is(b"content-type") {
            ev.response_content_type = Some(text(value, t));
        } else if is(b"content-encoding") {
            ev.response_content_encoding = Some(text(value, t));
        } else if is(b"content-disposition") {
            disposition = parser::disposition_filename(value);
        } else if is(b"upgrade") {
            upgrade = Some(text(value, t).to_ascii_lowercase());
        } else if is(b"transfer-encoding") {
            coding = Some(parser::is_chunked(value));
        } else if is(b"content-length") {
            note_length(&mut length, value, anomalies);
        }
    });
    if let Some(name) = disposition {
        tx.add_filename(name);
    }
    let code = status.code;
    if code == 101 {
        tx.event.upgrade = Some(upgrade.unwrap_or_else(|| "unknown".to_string()));
        return After::Tunnel;
    }
    if tx.is_connect && (200..300).contains(&code) {
        tx.event.upgrade = Some("connect".to_string());
        return After::Tunnel;
    }
    if tx.is_head || code == 204 || code == 304 {
        return After::Nothing;
    }
    match (coding, length) {
        (Some(true), _) => After::Body(Framing::Chunked(Chunk::Size)),
        (Some(false), _) => After::Body(Framing::UntilClose),
        (None, Some(0)) => After::Nothing,
        (None, Some(n)) => After::Body(Framing::Length(n)),
        (None, None) => After::Body(Framing::UntilClose),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_credentials() {
        assert_eq!(
            basic_credentials(b"Basic YWRtaW46czNjcjN0"),
            Some((b"admin".to_vec(), b"s3cr3t".to_vec()))
        );
        assert_eq!(
            basic_credentials(b"basic YWRtaW4"),
            Some((b"admin".to_vec(), Vec::new()))
        );
        assert_eq!(basic_credentials(b"Bearer abc"), None);
        assert_eq!(basic_credentials(b"Basic !!!"), None);
    }
}
