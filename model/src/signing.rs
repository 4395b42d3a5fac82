//! The signature on every request and response between an agent and the
//! detector (`docs/policy-api.md`). Both sides share one key per agent.
//!
//! The signed text is five lines joined by `\n`:
//! `FIRST`, `PATH_AND_QUERY`, `TIMESTAMP` (Unix seconds), `NONCE` (hex of at
//! least 16 random bytes) and the lowercase hex SHA-256 of the body. `FIRST`
//! is the HTTP method for a request, `RESPONSE` for a response and `EVENT`
//! for one message of the push stream. A response and a pushed message carry
//! the nonce of the request they answer, so an old answer cannot be replayed
//! against a new request. The signature is the lowercase hex of
//! HMAC-SHA256 over that text, keyed with the agent key's text (its UTF-8
//! bytes, so `openssl dgst -sha256 -hmac KEY` reproduces it).
//!
//! This module checks the signature, the timestamp window and the nonce's
//! shape. Remembering nonces already seen is the receiver's job.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const AGENT_HEADER: &str = "x-kyoka-agent";
pub const TIMESTAMP_HEADER: &str = "x-kyoka-timestamp";
pub const NONCE_HEADER: &str = "x-kyoka-nonce";
pub const SIGNATURE_HEADER: &str = "x-kyoka-signature";

/// Timestamps further than this from the receiver's clock are stale.
pub const MAX_SKEW_SECONDS: i64 = 60;
/// Nonces shorter than this many random bytes are refused.
pub const MIN_NONCE_BYTES: usize = 16;
/// A nonce must be remembered at least this long to catch every replay that
/// the timestamp window lets through.
pub const NONCE_MEMORY_SECONDS: i64 = 2 * MAX_SKEW_SECONDS;

/// First line of the signed text for a response.
pub const RESPONSE: &str = "RESPONSE";
/// First line of the signed text for one message of the push stream.
pub const EVENT: &str = "EVENT";

type HmacSha256 = Hmac<Sha256>;

/// Why a signed message was refused. The API answers every one of these with
/// a bare 401; the reason is for the receiver's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureError {
    MissingHeader(&'static str),
    BadTimestamp,
    Stale { skew_seconds: i64 },
    BadNonce,
    BadSignature,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::MissingHeader(h) => write!(f, "missing header {h}"),
            SignatureError::BadTimestamp => f.write_str("timestamp is not Unix seconds"),
            SignatureError::Stale { skew_seconds } => {
                write!(
                    f,
                    "timestamp is {skew_seconds} s away from now (limit {MAX_SKEW_SECONDS} s)"
                )
            }
            SignatureError::BadNonce => {
                write!(f, "nonce is not hex of at least {MIN_NONCE_BYTES} bytes")
            }
            SignatureError::BadSignature => f.write_str("signature does not match"),
        }
    }
}

impl std::error::Error for SignatureError {}

/// What one signature covers.
#[derive(Clone, Copy, Debug)]
pub struct Signed<'a> {
    /// HTTP method, [`RESPONSE`] or [`EVENT`].
    pub first: &'a str,
    pub path_and_query: &'a str,
    pub timestamp: i64,
    pub nonce: &'a str,
    pub body: &'a [u8],
}

impl Signed<'_> {
    /// The exact text that is signed.
    pub fn canonical(&self) -> String {
        let body_hash = hex::encode(Sha256::digest(self.body));
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.first, self.path_and_query, self.timestamp, self.nonce, body_hash
        )
    }

    /// Lowercase hex HMAC-SHA256 of [`Signed::canonical`].
    pub fn sign(&self, key: &str) -> String {
        hex::encode(self.mac(key).finalize().into_bytes())
    }

    /// Checks the nonce's shape, the timestamp against `now` (Unix seconds)
    /// and the signature, in constant time.
    pub fn verify(&self, key: &str, signature_hex: &str, now: i64) -> Result<(), SignatureError> {
        if !valid_nonce(self.nonce) {
            return Err(SignatureError::BadNonce);
        }
        let skew = self.timestamp.saturating_sub(now);
        if skew.saturating_abs() > MAX_SKEW_SECONDS {
            return Err(SignatureError::Stale { skew_seconds: skew });
        }
        let signature = hex::decode(signature_hex).map_err(|_| SignatureError::BadSignature)?;
        self.mac(key)
            .verify_slice(&signature)
            .map_err(|_| SignatureError::BadSignature)
    }

    fn mac(&self, key: &str) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
        mac.update(self.canonical().as_bytes());
        mac
    }
}

/// Parses the timestamp header.
pub fn parse_timestamp(text: &str) -> Result<i64, SignatureError> {
    text.trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)
}

fn valid_nonce(nonce: &str) -> bool {
    nonce.len() >= 2 * MIN_NONCE_BYTES
        && nonce.len() <= 256
        && nonce.len().is_multiple_of(2)
        && nonce.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fresh nonce: hex of 16 random bytes from the operating system.
pub fn new_nonce() -> String {
    random_hex(MIN_NONCE_BYTES)
}

/// A fresh agent key: hex of 32 random bytes from the operating system.
pub fn new_key() -> String {
    random_hex(32)
}

fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    hex::encode(bytes)
}

/// Current Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One message of the push stream (`GET /api/v1/policy/stream`), sent as the
/// `data:` of a server-sent event. `body` is the JSON text of a
/// [`crate::policy::Policy`]; the signature uses [`EVENT`], the stream's path
/// and the nonce of the request that opened the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMessage {
    pub timestamp: i64,
    pub nonce: String,
    pub signature: String,
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "4f2c0d5e7a9b1c3d5e7f9a1b3c5d7e9f4f2c0d5e7a9b1c3d5e7f9a1b3c5d7e9f";
    const NONCE: &str = "00112233445566778899aabbccddeeff";

    fn request(body: &[u8]) -> Signed<'_> {
        Signed {
            first: "GET",
            path_and_query: "/api/v1/policy",
            timestamp: 1_700_000_000,
            nonce: NONCE,
            body,
        }
    }

    #[test]
    fn canonical_text_is_five_lines() {
        assert_eq!(
            request(b"").canonical(),
            "GET\n/api/v1/policy\n1700000000\n00112233445566778899aabbccddeeff\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let signed = request(b"{}");
        let signature = signed.sign(KEY);
        assert_eq!(signature.len(), 64);
        assert_eq!(signed.verify(KEY, &signature, 1_700_000_030), Ok(()));
        let other_body = request(b"{ }");
        assert_eq!(
            other_body.verify(KEY, &signature, 1_700_000_000),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            signed.verify("other key", &signature, 1_700_000_000),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            signed.verify(KEY, "zz", 1_700_000_000),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            signed.verify(KEY, "", 1_700_000_000),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let signed = request(b"");
        let signature = signed.sign(KEY);
        assert_eq!(
            signed.verify(KEY, &signature, 1_700_000_061),
            Err(SignatureError::Stale { skew_seconds: -61 })
        );
        assert_eq!(
            signed.verify(KEY, &signature, 1_699_999_939),
            Err(SignatureError::Stale { skew_seconds: 61 })
        );
        let far = Signed {
            timestamp: i64::MIN,
            ..signed
        };
        assert!(matches!(
            far.verify(KEY, &far.sign(KEY), 1_700_000_000),
            Err(SignatureError::Stale { .. })
        ));
    }

    #[test]
    fn short_or_non_hex_nonces_are_refused() {
        for nonce in [
            "",
            "0011",
            "zz112233445566778899aabbccddeeff",
            "00112233445566778899aabbccddeef",
        ] {
            let signed = Signed {
                nonce,
                ..request(b"")
            };
            assert_eq!(
                signed.verify(KEY, &signed.sign(KEY), 1_700_000_000),
                Err(SignatureError::BadNonce)
            );
        }
    }

    #[test]
    fn fresh_nonces_and_keys_differ() {
        assert_ne!(new_nonce(), new_nonce());
        assert_eq!(new_nonce().len(), 32);
        assert_eq!(new_key().len(), 64);
    }
}
