//! Authentication conversations: who tried to log in, how, and whether the
//! server accepted it.

use bson::raw::RawDocument;
use model::events::mongo::MongoAuth;

use super::bson_json::{self, get, get_str};

/// Longest user name or password kept.
const MAX_CREDENTIAL_BYTES: usize = 256;

/// What an authentication request says, before the server answers.
pub struct AuthStart {
    pub auth: MongoAuth,
}

/// Reads `saslStart` or `authenticate` (as the command document, or inside
/// `speculativeAuthenticate`). `database` is the request's database.
pub fn start(command: &str, doc: &RawDocument, database: Option<&str>) -> Option<AuthStart> {
    match command {
        "saslStart" => {
            let mechanism = get_str(doc, "mechanism").map(str::to_string);
            let payload = get(doc, "payload")
                .and_then(bson_json::payload_bytes)
                .unwrap_or_default();
            let (user, password) = match mechanism.as_deref() {
                Some(m) if m.starts_with("SCRAM-") => (scram_user(payload), None),
                Some("PLAIN") => plain_credentials(payload),
                _ => (None, None),
            };
            Some(AuthStart {
                auth: MongoAuth {
                    mechanism,
                    user,
                    password,
                    database: get_str(doc, "db").or(database).map(str::to_string),
                    success: None,
                    error: None,
                },
            })
        }
        "authenticate" => Some(AuthStart {
            auth: MongoAuth {
                mechanism: Some(
                    get_str(doc, "mechanism")
                        .unwrap_or("MONGODB-CR")
                        .to_string(),
                ),
                user: get_str(doc, "user").map(cap),
                password: None,
                database: get_str(doc, "db").or(database).map(str::to_string),
                success: None,
                error: None,
            },
        }),
        _ => None,
    }
}

fn cap(s: &str) -> String {
    let mut end = s.len().min(MAX_CREDENTIAL_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

fn text(bytes: &[u8]) -> String {
    cap(&String::from_utf8_lossy(
        bytes.get(..MAX_CREDENTIAL_BYTES + 4).unwrap_or(bytes),
    ))
}

/// The user of a SCRAM client-first message `n,,n=<user>,r=<nonce>`
/// (RFC 5802: `=2C` is a comma, `=3D` an equals sign).
pub fn scram_user(payload: &[u8]) -> Option<String> {
    // Skip the GS2 header: channel-binding flag and authzid, each ending in ','.
    let mut fields = payload.split(|&b| b == b',');
    fields.next()?;
    fields.next()?;
    let user = fields.next()?.strip_prefix(b"n=")?;
    let user = text(user);
    Some(user.replace("=2C", ",").replace("=3D", "="))
}

/// `authzid \0 authcid \0 password` (RFC 4616).
pub fn plain_credentials(payload: &[u8]) -> (Option<String>, Option<String>) {
    let mut parts = payload.splitn(3, |&b| b == 0);
    let authzid = parts.next();
    let authcid = parts.next();
    let password = parts.next();
    let user = match (authcid, authzid) {
        (Some(c), _) if !c.is_empty() => Some(text(c)),
        (_, Some(z)) if !z.is_empty() => Some(text(z)),
        _ => None,
    };
    (user, password.map(text))
}

/// What a reply says about the conversation.
pub enum Outcome {
    Succeeded,
    Failed(Option<String>),
    /// Another round trip follows.
    Continues,
}

/// Judges a reply to a SASL step (`done` decides) or to `authenticate`.
pub fn outcome(sasl: bool, reply: &RawDocument) -> Outcome {
    let ok = get(reply, "ok")
        .and_then(bson_json::as_truth)
        .unwrap_or(true);
    if !ok {
        let error = get_str(reply, "errmsg")
            .or_else(|| get_str(reply, "$err"))
            .map(cap);
        return Outcome::Failed(error);
    }
    if !sasl {
        return Outcome::Succeeded;
    }
    match get(reply, "done").and_then(bson_json::as_truth) {
        Some(true) => Outcome::Succeeded,
        _ => Outcome::Continues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_client_first_gives_the_user() {
        assert_eq!(scram_user(b"n,,n=admin,r=nfteP"), Some("admin".to_string()));
        assert_eq!(
            scram_user(b"n,a=x,n=we=2Cird=3D,r=1"),
            Some("we,ird=".to_string())
        );
        assert_eq!(scram_user(b"garbage"), None);
    }

    #[test]
    fn plain_payload_gives_user_and_password() {
        assert_eq!(
            plain_credentials(b"\0bob\0s3cret"),
            (Some("bob".into()), Some("s3cret".into()))
        );
        assert_eq!(plain_credentials(b""), (None, None));
    }
}
