//! SCRAM-SHA-1 and SCRAM-SHA-256 as MongoDB runs them (RFC 5802 / 7677;
//! SHA-1 hashes `user:mongo:password` with MD5 first). The decoy knows the
//! weak passwords, so real drivers finish the conversation and trust the
//! server signature; every attempt names its user either way.

use base64::Engine;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    Sha1,
    Sha256,
}

impl Mechanism {
    pub fn parse(name: &str) -> Option<Mechanism> {
        match name {
            "SCRAM-SHA-1" => Some(Mechanism::Sha1),
            "SCRAM-SHA-256" => Some(Mechanism::Sha256),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha1 => "SCRAM-SHA-1",
            Mechanism::Sha256 => "SCRAM-SHA-256",
        }
    }
    fn iterations(self) -> u32 {
        match self {
            Mechanism::Sha1 => 10_000,
            Mechanism::Sha256 => 15_000,
        }
    }
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha1 => {
                let mut m = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Mechanism::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }
    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha1 => Sha1::digest(data).to_vec(),
            Mechanism::Sha256 => Sha256::digest(data).to_vec(),
        }
    }
    /// PBKDF2 with this mechanism's HMAC (`Hi` in RFC 5802).
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut first = salt.to_vec();
        first.extend_from_slice(&1u32.to_be_bytes());
        let mut u = self.hmac(password, &first);
        let mut out = u.clone();
        for _ in 1..iterations {
            u = self.hmac(password, &u);
            out.iter_mut().zip(&u).for_each(|(o, x)| *o ^= x);
        }
        out
    }
    /// The password as the mechanism feeds it to PBKDF2.
    fn prepare(self, user: &str, password: &str) -> Vec<u8> {
        match self {
            Mechanism::Sha1 => hex::encode(Md5::digest(format!("{user}:mongo:{password}").as_bytes())).into_bytes(),
            // SASLprep is the identity on the ASCII passwords of the list.
            Mechanism::Sha256 => password.as_bytes().to_vec(),
        }
    }
}

/// One conversation, between saslStart and the final saslContinue.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub mechanism: Mechanism,
    pub user: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    salt: Vec<u8>,
    pub finished: bool,
}

/// Why a conversation failed; the message goes back to the client as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailed(pub String);

fn attribute(message: &str, key: char) -> Option<&str> {
    message.split(',').find_map(|part| part.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn unescape_user(name: &str) -> String {
    name.replace("=2C", ",").replace("=3D", "=")
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // A failing entropy source only weakens the decoy's own nonce.
    let _ = getrandom::fill(&mut b);
    b
}

impl Conversation {
    /// Handles the client-first message; returns the server-first message.
    pub fn start(mechanism: Mechanism, client_first: &[u8]) -> Result<(Conversation, String), AuthFailed> {
        let text = std::str::from_utf8(client_first).map_err(|_| AuthFailed("client-first is not UTF-8".into()))?;
        // gs2 header: "n,," (no channel binding, no authzid).
        let bare = text
            .strip_prefix("n,,")
            .or_else(|| text.strip_prefix("y,,"))
            .ok_or_else(|| AuthFailed("unsupported GS2 header".into()))?;
        let user = unescape_user(attribute(bare, 'n').ok_or_else(|| AuthFailed("no user in client-first".into()))?);
        let client_nonce = attribute(bare, 'r').ok_or_else(|| AuthFailed("no nonce in client-first".into()))?;
        let nonce = format!("{client_nonce}{}", B64.encode(random_bytes::<24>()));
        let salt = random_bytes::<16>().to_vec();
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&salt), mechanism.iterations());
        let conv = Conversation {
            mechanism,
            user,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
            salt,
            finished: false,
        };
        Ok((conv, server_first))
    }

    /// Checks the client's proof against `password` (None: unknown user);
    /// returns the server-final message (`v=` signature).
    pub fn finish(&mut self, client_final: &[u8], password: Option<&str>) -> Result<String, AuthFailed> {
        let text = std::str::from_utf8(client_final).map_err(|_| AuthFailed("client-final is not UTF-8".into()))?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(|| AuthFailed("no proof".into()))?;
        if attribute(without_proof, 'r') != Some(self.nonce.as_str()) {
            return Err(AuthFailed("nonce mismatch".into()));
        }
        let proof = B64.decode(proof).map_err(|_| AuthFailed("proof is not base64".into()))?;
        let password = password.ok_or_else(|| AuthFailed("Authentication failed.".into()))?;
        let m = self.mechanism;
        let salted = m.hi(&m.prepare(&self.user, password), &self.salt, m.iterations());
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let auth_message = format!("{},{},{}", self.client_first_bare, self.server_first, without_proof);
        let client_signature = m.hmac(&stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(AuthFailed("Authentication failed.".into()));
        }
        let recovered: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
        if m.hash(&recovered) != stored_key {
            return Err(AuthFailed("Authentication failed.".into()));
        }
        let server_key = m.hmac(&salted, b"Server Key");
        self.finished = true;
        Ok(format!("v={}", B64.encode(m.hmac(&server_key, auth_message.as_bytes()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole SCRAM-SHA-256 exchange with the client side written out.
    #[test]
    fn sha256_round_trip_and_wrong_password() {
        let m = Mechanism::Sha256;
        let (mut conv, server_first) = Conversation::start(m, b"n,,n=admin,r=abc").unwrap();
        let nonce = attribute(&server_first, 'r').unwrap().to_string();
        let salt = B64.decode(attribute(&server_first, 's').unwrap()).unwrap();
        let salted = m.hi(b"admin", &salt, 15_000);
        let client_key = m.hmac(&salted, b"Client Key");
        let without = format!("c=biws,r={nonce}");
        let auth = format!("n=admin,r=abc,{server_first},{without}");
        let sig = m.hmac(&m.hash(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let final_msg = format!("{without},p={}", B64.encode(&proof));
        let mut wrong = conv.clone();
        assert!(wrong.finish(final_msg.as_bytes(), Some("nope")).is_err());
        assert!(conv.finish(final_msg.as_bytes(), Some("admin")).unwrap().starts_with("v="));
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        for junk in [&b""[..], b"n,,", b"\xff\xfe", b"n,,n=x", b"p=,,"] {
            assert!(Conversation::start(Mechanism::Sha1, junk).is_err());
        }
        let (mut conv, _) = Conversation::start(Mechanism::Sha1, b"n,,n=a,r=x").unwrap();
        assert!(conv.finish(b"c=biws,r=zz,p=!!", Some("a")).is_err());
    }
}
