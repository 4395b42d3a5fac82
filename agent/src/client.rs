//! The detector's policy API as seen by the agent: every request signed with
//! the agent's key, every answer checked (signed with the same key, fresh,
//! carrying this request's nonce) before it is believed.

use std::io::BufReader;
use std::time::Duration;

use model::policy::{Heartbeat, Policy};
use model::signing::{self, Signed, SignedMessage};

use crate::error::{Error, Result};
use crate::http::{self, Target};
use crate::sse::Events;

pub const POLICY_PATH: &str = "/api/v1/policy";
pub const STREAM_PATH: &str = "/api/v1/policy/stream";
pub const HEARTBEAT_PATH: &str = "/api/v1/agents/heartbeat";

#[derive(Clone)]
pub struct PolicyClient {
    pub target: Target,
    pub agent_id: String,
    key: String,
    pub timeout: Duration,
    pub idle_timeout: Duration,
}

impl PolicyClient {
    pub fn new(
        url: &str,
        agent_id: &str,
        key: &str,
        timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<PolicyClient> {
        Ok(PolicyClient {
            target: Target::parse(url)?,
            agent_id: agent_id.to_owned(),
            key: key.to_owned(),
            timeout,
            idle_timeout,
        })
    }

    fn signed_headers(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> (String, Vec<(&'static str, String)>) {
        let nonce = signing::new_nonce();
        let timestamp = signing::now();
        let signature = Signed {
            first: method,
            path_and_query: path,
            timestamp,
            nonce: &nonce,
            body,
        }
        .sign(&self.key);
        let headers = vec![
            (signing::AGENT_HEADER, self.agent_id.clone()),
            (signing::TIMESTAMP_HEADER, timestamp.to_string()),
            (signing::NONCE_HEADER, nonce.clone()),
            (signing::SIGNATURE_HEADER, signature),
        ];
        (nonce, headers)
    }

    /// Sends a signed request and returns the verified body.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Vec<u8>> {
        let (nonce, mut headers) = self.signed_headers(method, path, body);
        if let Some(ct) = content_type {
            headers.push(("content-type", ct.to_owned()));
        }
        let response = http::send(&self.target, method, path, &headers, body, self.timeout)?;
        let (status, headers, body) = response.read_body()?;
        if !(200..300).contains(&status) {
            return Err(Error::Refused(format!("{method} {path}: HTTP {status}")));
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
                .ok_or_else(|| Error::Refused(format!("{method} {path}: response without {name}")))
        };
        let their_nonce = get(signing::NONCE_HEADER)?;
        if their_nonce != nonce {
            return Err(Error::Refused(format!(
                "{method} {path}: response answers another request"
            )));
        }
        let timestamp = signing::parse_timestamp(&get(signing::TIMESTAMP_HEADER)?)
            .map_err(|e| Error::Refused(format!("{method} {path}: {e}")))?;
        Signed {
            first: signing::RESPONSE,
            path_and_query: path,
            timestamp,
            nonce: &nonce,
            body: &body,
        }
        .verify(&self.key, &get(signing::SIGNATURE_HEADER)?, signing::now())
        .map_err(|e| Error::Refused(format!("{method} {path}: {e}")))?;
        Ok(body)
    }

    /// `GET /api/v1/policy`, verified.
    pub fn fetch_policy(&self) -> Result<Policy> {
        let body = self.call("GET", POLICY_PATH, b"", None)?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// `POST /api/v1/agents/heartbeat`; the answer must be signed too.
    pub fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<()> {
        let body = serde_json::to_vec(heartbeat)?;
        self.call("POST", HEARTBEAT_PATH, &body, Some("application/json"))?;
        Ok(())
    }

    /// Opens `GET /api/v1/policy/stream`. Each pushed message is verified on
    /// its own (it carries this request's nonce), so the stream's headers
    /// need no signature.
    pub fn open_stream(&self) -> Result<PolicyStream> {
        let (nonce, headers) = self.signed_headers("GET", STREAM_PATH, b"");
        let mut headers = headers;
        headers.push(("accept", "text/event-stream".into()));
        let response = http::send(
            &self.target,
            "GET",
            STREAM_PATH,
            &headers,
            b"",
            self.timeout,
        )?;
        if response.status != 200 {
            return Err(Error::Refused(format!(
                "GET {STREAM_PATH}: HTTP {}",
                response.status
            )));
        }
        let body = response.body;
        body.set_read_timeout(self.idle_timeout);
        Ok(PolicyStream {
            events: Events::new(BufReader::new(body)),
            nonce,
            key: self.key.clone(),
        })
    }
}

pub struct PolicyStream {
    events: Events<BufReader<http::Body>>,
    nonce: String,
    key: String,
}

/// One item of the stream: a verified policy, or a message that was refused
/// (the stream goes on), or the end of the stream.
#[derive(Debug)]
pub enum StreamItem {
    Policy(Policy),
    Refused(String),
}

impl PolicyStream {
    /// `Ok(None)` when the detector closed the stream; `Err` when it broke
    /// (including the idle timeout).
    pub fn next_item(&mut self) -> Result<Option<StreamItem>> {
        let Some(data) = self
            .events
            .next_data()
            .map_err(|e| Error::Http(format!("stream: {e}")))?
        else {
            return Ok(None);
        };
        Ok(Some(
            match verify_message(&self.key, &self.nonce, &data, signing::now()) {
                Ok(policy) => StreamItem::Policy(policy),
                Err(e) => StreamItem::Refused(e.to_string()),
            },
        ))
    }
}

/// Checks one pushed message: our nonce, fresh, signed with our key.
pub fn verify_message(key: &str, nonce: &str, data: &str, now: i64) -> Result<Policy> {
    let message: SignedMessage = serde_json::from_str(data)
        .map_err(|e| Error::Refused(format!("pushed message is not a SignedMessage: {e}")))?;
    if message.nonce != nonce {
        return Err(Error::Refused(
            "pushed message answers another stream".into(),
        ));
    }
    Signed {
        first: signing::EVENT,
        path_and_query: STREAM_PATH,
        timestamp: message.timestamp,
        nonce,
        body: message.body.as_bytes(),
    }
    .verify(key, &message.signature, now)
    .map_err(|e| Error::Refused(format!("pushed message: {e}")))?;
    Ok(serde_json::from_str(&message.body)?)
}
