//! Signed-in users: browser sessions behind an HttpOnly, SameSite=Strict
//! cookie (Secure under HTTPS), bearer tokens for scripts, the CSRF check
//! of every state-changing request and the sign-in rate limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;

use crate::accounts::{constant_time_eq, random_hex, Role};
use crate::error::AppError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "kyoka_session";
/// Double-submit cookie of the sign-in form (there is no session yet).
pub const PRE_COOKIE: &str = "kyoka_pre";
pub const CSRF_HEADER: &str = "x-csrf-token";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
const MAX_SESSIONS: usize = 10_000;
/// Failed sign-ins allowed per client address and per user name in
/// [`LIMIT_WINDOW`].
pub const LIMIT_FAILURES: u32 = 5;
const LIMIT_WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    map: HashMap<String, Session>,
}

impl Sessions {
    /// A new session; returns its cookie value.
    pub fn create(&mut self, user: &str, role: Role) -> String {
        let now = Instant::now();
        self.map.retain(|_, s| s.expires > now);
        if self.map.len() >= MAX_SESSIONS {
            // Drop the one closest to expiring rather than refuse a sign-in.
            if let Some(k) = self.map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone()) {
                self.map.remove(&k);
            }
        }
        let id = random_hex(32);
        self.map.insert(
            id.clone(),
            Session {
                user: user.to_string(),
                role,
                csrf: random_hex(32),
                expires: now + SESSION_TTL,
            },
        );
        id
    }

    pub fn get(&self, id: &str) -> Option<&Session> {
        self.map.get(id).filter(|s| s.expires > Instant::now())
    }

    pub fn remove(&mut self, id: &str) {
        self.map.remove(id);
    }

    /// Signs out every session of a user (password or role changed).
    pub fn remove_user(&mut self, user: &str) {
        self.map.retain(|_, s| s.user != user);
    }
}

/// Failed sign-ins per key in a sliding window.
#[derive(Default)]
pub struct Limiter {
    failures: HashMap<String, Vec<Instant>>,
}

impl Limiter {
    /// Seconds to wait when `key` is over the limit.
    pub fn blocked(&mut self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let v = self.failures.get_mut(key)?;
        v.retain(|t| now.duration_since(*t) < LIMIT_WINDOW);
        if v.len() as u32 >= LIMIT_FAILURES {
            let oldest = v.iter().min().copied().unwrap_or(now);
            Some((LIMIT_WINDOW.saturating_sub(now.duration_since(oldest))).as_secs().max(1))
        } else {
            None
        }
    }

    pub fn fail(&mut self, key: &str) {
        if self.failures.len() > 100_000 {
            let now = Instant::now();
            self.failures
                .retain(|_, v| v.iter().any(|t| now.duration_since(*t) < LIMIT_WINDOW));
        }
        self.failures.entry(key.to_string()).or_default().push(Instant::now());
    }

    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The signed-in user of a request. Pages answer a missing sign-in with a
/// redirect to /login, the API with 401.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token; `None` for bearer tokens (no cookies, so
    /// no cross-site forgery).
    pub csrf: Option<String>,
}

impl CurrentUser {
    pub fn require(&self, role: Role, page: bool) -> Result<(), AppError> {
        if self.role.allows(role) {
            Ok(())
        } else if page {
            Err(AppError::forbidden().page())
        } else {
            Err(AppError::forbidden())
        }
    }
}

pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

pub fn identify(state: &AppState, headers: &HeaderMap) -> Option<CurrentUser> {
    if let Some(token) = bearer(headers) {
        let accounts = state.accounts();
        let u = accounts.token_user(token)?;
        return Some(CurrentUser {
            name: u.name.clone(),
            role: u.role,
            csrf: None,
        });
    }
    let id = cookie(headers, SESSION_COOKIE)?;
    let sessions = state.sessions();
    let s = sessions.get(&id)?;
    Some(CurrentUser {
        name: s.user.clone(),
        role: s.role,
        csrf: Some(s.csrf.clone()),
    })
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match identify(state, &parts.headers) {
            Some(u) => Ok(u),
            None if is_api(parts.uri.path()) => Err(AppError::unauthorized()),
            None => Err(AppError::unauthorized().page()),
        }
    }
}

/// Refuses a state-changing request whose CSRF token does not match:
/// the `X-CSRF-Token` header, or the `csrf` field of a form. Requests with
/// a bearer token carry no cookie and need none; requests with neither are
/// left to the handler (which answers 401).
pub async fn csrf_guard(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, AppError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(next.run(req).await);
    }
    let page = !is_api(req.uri().path());
    let refuse = || {
        let e = AppError::new(axum::http::StatusCode::FORBIDDEN, "missing or wrong CSRF token");
        if page {
            e.page()
        } else {
            e
        }
    };
    let headers = req.headers();
    let expected = if req.uri().path() == "/login" {
        cookie(headers, PRE_COOKIE)
    } else if bearer(headers).is_some() {
        return Ok(next.run(req).await);
    } else {
        match identify(&state, headers).and_then(|u| u.csrf) {
            Some(c) => Some(c),
            None => return Ok(next.run(req).await),
        }
    };
    let Some(expected) = expected else {
        return Err(refuse());
    };
    if let Some(h) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if constant_time_eq(h.as_bytes(), expected.as_bytes()) {
            Ok(next.run(req).await)
        } else {
            Err(refuse())
        };
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(refuse());
    }
    // Read the form (small: 64 KiB at most), check its field, hand it on.
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| AppError::bad_request("form too large"))?;
    let given = form_field(&bytes, "csrf");
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), expected.as_bytes()) => {
            Ok(next.run(Request::from_parts(parts, Body::from(bytes))).await)
        }
        _ => Err(refuse()),
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
