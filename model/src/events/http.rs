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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub host: Option<String>,
    pub uri: String,
    pub user_agent: Option<String>,
    pub status_code: Option<u16>,
    pub username: Option<String>,
    pub request_body_len: u64,
    pub response_body_len: u64,
}
