//! Users (argon2 hashes), API tokens (SHA-256 of the token) and saved
//! queries, kept in `ui/accounts.json` in the data folder and rewritten
//! atomically (temporary file, fsync, rename) on every change.

use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Analyst,
}

impl Role {
    /// Whether this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self == Role::Admin || needed == Role::Analyst
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            _ => Err(format!("unknown role {s:?} (admin, analyst)")),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// PHC string of the argon2id hash.
    pub hash: String,
    pub created: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Token {
    pub id: String,
    pub user: String,
    /// Hex SHA-256 of the token (tokens are 256 random bits, so a fast hash
    /// is enough; the token itself is shown once and never stored).
    pub sha256: String,
    pub created: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedQuery {
    pub id: String,
    pub user: String,
    pub name: String,
    pub kind: String,
    pub query: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Accounts {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub tokens: Vec<Token>,
    #[serde(default)]
    pub saved: Vec<SavedQuery>,
}

pub fn path(data: &Path) -> PathBuf {
    data.join("ui").join("accounts.json")
}

/// Random bytes as lowercase hex, from the OS's generator.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash to verify against when the user does not exist, so that a
/// missing user takes as long to refuse as a wrong password.
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not a password").unwrap_or_default())
}

fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Accounts {
    pub fn load(data: &Path) -> Result<Accounts> {
        let p = path(data);
        match std::fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: p,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Accounts::default()),
            Err(e) => Err(Error::Io { path: p, error: e }),
        }
    }

    /// Writes the file atomically, readable by its owner only.
    pub fn save(&self, data: &Path) -> Result<()> {
        let p = path(data);
        let dir = p.parent().unwrap_or(data);
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let tmp = dir.join(format!(".accounts.json.{}", random_hex(6)));
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Invalid(e.to_string()))?;
        let write = || -> std::io::Result<()> {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &p)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Io {
                path: p.clone(),
                error: e,
            }
        })
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Adds a user, or sets the password and role of an existing one.
    pub fn set_user(&mut self, name: &str, role: Role, password: &str) -> Result<()> {
        if !valid_name(name) {
            return Err(Error::Invalid(
                "user names are 1 to 64 letters, digits, '.', '_' or '-'".into(),
            ));
        }
        if password.chars().count() < 8 || password.len() > 1024 {
            return Err(Error::Invalid("passwords are 8 to 1024 characters".into()));
        }
        let hash = hash_password(password)?;
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(u) => {
                u.role = role;
                u.hash = hash;
            }
            None => self.users.push(User {
                name: name.to_string(),
                role,
                hash,
                created: now(),
            }),
        }
        Ok(())
    }

    /// A new API token for `user`: returned once, stored only as a hash.
    pub fn create_token(&mut self, user: &str) -> Result<String> {
        if self.user(user).is_none() {
            return Err(Error::Invalid(format!("no user {user:?}")));
        }
        let token = format!("kyoka_{}", random_hex(32));
        self.tokens.push(Token {
            id: random_hex(8),
            user: user.to_string(),
            sha256: token_digest(&token),
            created: now(),
        });
        Ok(token)
    }

    /// The user a bearer token belongs to.
    pub fn token_user(&self, token: &str) -> Option<&User> {
        let digest = token_digest(token);
        let t = self
            .tokens
            .iter()
            .find(|t| constant_time_eq(t.sha256.as_bytes(), digest.as_bytes()))?;
        self.user(&t.user)
    }

    /// Signs in: the user when the password is right.
    pub fn check_password(&self, name: &str, password: &str) -> Option<&User> {
        match self.user(name) {
            Some(u) if verify_password(&u.hash, password) => Some(u),
            Some(_) => None,
            None => {
                verify_password(dummy_hash(), password);
                None
            }
        }
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A password for a first admin: 20 characters from 120 random bits.
pub fn generate_password() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 15];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
