use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum HttpEvent {
    #[serde(rename = "http.request")]
    Request(HttpRequest),
}

crate::protocol_events!(HttpEvent, Http {
    Request => "http.request",
});

/// One request with its response (HTTP/1.x), stamped with the request's
/// time. A response without a parsable request has `method` `null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// 1-based position of this request within its connection.
    pub trans_depth: u32,
    /// `null` when the request line could not be parsed (or was not seen).
    pub method: Option<String>,
    pub host: Option<String>,
    /// Request target, percent-decoded (as Zeek logs it).
    pub uri: Option<String>,
    /// Request target exactly as sent, when it differs from `uri`.
    pub raw_uri: Option<String>,
    /// Request version (`1.1`, `1.0`; `0.9` for a request line without one).
    pub version: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub origin: Option<String>,
    pub cookie: Option<String>,
    pub x_forwarded_for: Option<String>,
    /// From `Authorization: Basic`.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Number of request header lines.
    pub request_headers: u32,
    pub request_content_type: Option<String>,
    /// Body bytes after removing chunked framing.
    pub request_body_len: u64,
    pub request_body_sha256: Option<String>,
    pub status_code: Option<u16>,
    pub status_msg: Option<String>,
    /// Last interim (1xx) response, such as `100 Continue`.
    pub info_code: Option<u16>,
    pub info_msg: Option<String>,
    pub response_version: Option<String>,
    pub response_headers: u32,
    pub response_content_type: Option<String>,
    pub response_content_encoding: Option<String>,
    /// Body bytes after removing chunked framing, before any content coding.
    pub response_body_len: u64,
    pub response_body_sha256: Option<String>,
    /// Multipart upload file names, then `Content-Disposition` file names.
    pub filenames: Vec<String>,
    /// The files of a `multipart/form-data` request body, each hashed (and
    /// kept as an artifact) on its own.
    #[serde(default)]
    pub uploads: Vec<HttpUpload>,
    /// Protocol switched to after `101 Switching Protocols` (or `connect`).
    pub upgrade: Option<String>,
    /// Some string or list was cut to its cap.
    pub truncated: bool,
}

/// One file part of a `multipart/form-data` request body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpUpload {
    pub filename: String,
    /// Content bytes (the part's headers and delimiters excluded).
    pub size: u64,
    /// SHA-256 of the content, also the artifact's name when artifacts are
    /// kept; `null` when bytes of the body were not captured.
    pub sha256: Option<String>,
}
