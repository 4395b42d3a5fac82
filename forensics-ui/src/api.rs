//! The JSON API under `/api/v1/`: everything the pages show.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use capture::index::Kind;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::{random_hex, Role, SavedQuery};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::state::AppState;

/// Query-string parameters, with a clear 400 when they do not parse.
pub fn params<T: DeserializeOwned>(raw: Option<String>) -> Result<T, AppError> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| AppError::bad_request(format!("bad parameters: {e}")))
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub offset: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
    /// Start of the time range in the query language's terms
    /// (`2024-05-01T10:00:00Z`, `now-24h`).
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub buckets: Option<String>,
}

fn number(v: &Option<String>, name: &str, default: usize, max: usize) -> Result<usize, AppError> {
    match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| AppError::bad_request(format!("{name} must be a number from 0 to {max}"))),
    }
}

pub fn kind(v: Option<&str>) -> Result<Kind, AppError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(Kind::Events),
        Some(s) => s.parse().map_err(AppError::bad_request),
    }
}

/// A time bound as the query language writes it; anything else refused
/// so that a bound cannot add query syntax.
fn bound(v: &Option<String>, name: &str) -> Result<Option<String>, AppError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s)
            if s.len() <= 40
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-+:.".contains(&b)) =>
        {
            Ok(Some(s.to_string()))
        }
        Some(_) => Err(AppError::bad_request(format!(
            "{name} must be a time such as 2024-05-01T10:00:00Z or now-24h"
        ))),
    }
}

/// The user's query with the time range added. Returns the full query and
/// how many characters were put before the user's text (to move the
/// column of an error back onto it).
pub fn full_query(p: &SearchParams) -> Result<(String, usize), AppError> {
    let q = p.q.trim();
    if q.len() > 4096 {
        return Err(AppError::bad_request("the query is longer than 4096 bytes"));
    }
    let (from, to) = (bound(&p.from, "from")?, bound(&p.to, "to")?);
    if from.is_none() && to.is_none() {
        return Ok((q.to_string(), 0));
    }
    let mut s = if q.is_empty() { "*".to_string() } else { format!("({q})") };
    if let Some(f) = from {
        s.push_str(&format!(" AND ts:>={f}"));
    }
    if let Some(t) = to {
        s.push_str(&format!(" AND ts:<={t}"));
    }
    Ok((s, usize::from(!q.is_empty())))
}

/// A query error's column moved back onto the user's own text.
fn shift(mut e: AppError, by: usize, len: usize) -> AppError {
    if let Some(c) = e.column {
        e.column = Some(c.saturating_sub(by).clamp(1, len + 1));
    }
    e
}

pub async fn me(user: CurrentUser) -> Json<Value> {
    Json(json!({ "name": user.name, "role": user.role, "csrf": user.csrf }))
}

pub async fn stats(State(st): State<AppState>, _u: CurrentUser) -> Result<Json<Value>, AppError> {
    let data = st.config().data.clone();
    let s = tokio::task::spawn_blocking(move || capture::ops::stats(&data)).await??;
    Ok(Json(serde_json::to_value(s).map_err(AppError::internal)?))
}

pub async fn search(State(st): State<AppState>, _u: CurrentUser, RawQuery(raw): RawQuery) -> Result<Json<Value>, AppError> {
    let p: SearchParams = params(raw)?;
    let k = kind(p.kind.as_deref())?;
    let offset = number(&p.offset, "offset", 0, capture::ops::browse::MAX_OFFSET)?;
    let limit = number(&p.limit, "limit", 50, capture::ops::browse::MAX_LIMIT)?.max(1);
    let (q, by) = full_query(&p)?;
    let len = p.q.trim().chars().count();
    let page = st
        .with_browser(move |b| b.search(k, &q, offset, limit).map_err(AppError::from))
        .await
        .map_err(|e| shift(e, by, len))?;
    Ok(Json(serde_json::to_value(page).map_err(AppError::internal)?))
}

pub async fn histogram(State(st): State<AppState>, _u: CurrentUser, RawQuery(raw): RawQuery) -> Result<Json<Value>, AppError> {
    let p: SearchParams = params(raw)?;
    let k = kind(p.kind.as_deref())?;
    let buckets = number(&p.buckets, "buckets", 120, 1000)?.max(1);
    let (q, by) = full_query(&p)?;
    let len = p.q.trim().chars().count();
    // An absolute range sets the axis (so a zoom shows empty edges too).
    let abs = |v: &Option<String>| {
        v.as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp_micros())
    };
    let (from, to) = (abs(&p.from), abs(&p.to));
    let h = st
        .with_browser(move |b| b.histogram(k, &q, buckets, from, to).map_err(AppError::from))
        .await
        .map_err(|e| shift(e, by, len))?;
    Ok(Json(serde_json::to_value(h).map_err(AppError::internal)?))
}

/// The overview's numbers: totals, events over time, top sources,
/// protocols, and credentials and commands among the latest events.
pub fn overview_json(b: &capture::ops::browse::Browser) -> Result<Value, AppError> {
    let stats = capture::ops::stats(b.data_dir())?;
    let hist = b.histogram(Kind::Events, "", 96, None, None)?;
    let sources: Vec<Value> = b
        .top_sources("", 10)?
        .into_iter()
        .map(|(ip, n)| json!({ "ip": ip.to_string(), "events": n }))
        .collect();
    let mut protocols = Vec::new();
    for p in ["ftp", "ftp-data", "ssh", "rsync", "mysql", "redis", "mongo", "http"] {
        let n = b.count(Kind::Events, &format!("protocol:{p}"))?;
        if n > 0 {
            protocols.push(json!({ "protocol": p, "events": n }));
        }
    }
    // Credentials and commands: counted over the newest events that carry
    // them (a bounded sample, so the overview stays fast at any size).
    let logins = b.search(
        Kind::Events,
        "type:ftp.login OR type:mysql.login OR type:redis.auth OR type:mongo.auth OR type:ssh.auth",
        0,
        500,
    )?;
    let mut creds: std::collections::BTreeMap<(String, String, String), u64> = Default::default();
    for e in &logins.hits {
        let s = |k: &str| match e.get(k) {
            Some(Value::String(v)) => v.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        if !s("user").is_empty() || !s("password").is_empty() {
            let outcome = match s("success").as_str() {
                "true" => "ok",
                "false" => "failed",
                _ => "?",
            };
            *creds.entry((s("user"), s("password"), format!("{} {outcome}", s("type")))).or_default() += 1;
        }
    }
    let mut creds: Vec<_> = creds.into_iter().collect();
    creds.sort_by_key(|c| std::cmp::Reverse(c.1));
    let commands_page = b.search(
        Kind::Events,
        "type:ftp.command OR type:mysql.command OR type:redis.command OR type:mongo.command OR type:http.request",
        0,
        500,
    )?;
    let mut commands: std::collections::BTreeMap<String, u64> = Default::default();
    for e in &commands_page.hits {
        let line = ["arg", "query", "command", "uri"]
            .iter()
            .find_map(|k| e.get(*k).and_then(|v| v.as_str()).filter(|v| !v.trim().is_empty()));
        if let Some(c) = line {
            let c: String = c.chars().take(200).collect();
            *commands.entry(c).or_default() += 1;
        }
    }
    let mut commands: Vec<_> = commands.into_iter().collect();
    commands.sort_by_key(|c| std::cmp::Reverse(c.1));
    let latest = b.search(Kind::Sessions, "", 0, 10)?;
    Ok(json!({
        "stats": stats,
        "events_over_time": hist,
        "top_sources": sources,
        "protocols": protocols,
        "credentials": creds.into_iter().take(15).map(|((u, p, t), n)| json!({"user": u, "password": p, "type": t, "count": n})).collect::<Vec<_>>(),
        "commands": commands.into_iter().take(15).map(|(c, n)| json!({"command": c, "count": n})).collect::<Vec<_>>(),
        "latest_sessions": latest.hits,
    }))
}

pub async fn overview(State(st): State<AppState>, _u: CurrentUser) -> Result<Json<Value>, AppError> {
    Ok(Json(st.with_browser(overview_json).await?))
}

fn check_id(id: &str) -> Result<(), AppError> {
    if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
        return Err(AppError::not_found());
    }
    Ok(())
}

pub async fn session(State(st): State<AppState>, _u: CurrentUser, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id(&id)?;
    let v = st
        .with_browser(move |b| {
            let s = b.session(&id)?.ok_or_else(AppError::not_found)?;
            let flows = b.session_flows(&id, capture::ops::browse::MAX_LIMIT)?;
            Ok(json!({ "session": s, "flows": flows.hits, "flows_total": flows.total }))
        })
        .await?;
    Ok(Json(v))
}

#[derive(Deserialize)]
struct PageParams {
    #[serde(default)]
    offset: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    buckets: Option<String>,
}

pub async fn timeline(State(st): State<AppState>, _u: CurrentUser, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Result<Json<Value>, AppError> {
    check_id(&id)?;
    let p: PageParams = params(raw)?;
    let offset = number(&p.offset, "offset", 0, capture::ops::browse::MAX_TIMELINE_OFFSET)?;
    let limit = number(&p.limit, "limit", 200, capture::ops::browse::MAX_LIMIT)?.max(1);
    let page = st.with_browser(move |b| Ok(b.timeline(&id, offset, limit)?)).await?;
    Ok(Json(serde_json::to_value(page).map_err(AppError::internal)?))
}

pub async fn density(State(st): State<AppState>, _u: CurrentUser, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Result<Json<Value>, AppError> {
    check_id(&id)?;
    let p: PageParams = params(raw)?;
    let buckets = number(&p.buckets, "buckets", 300, 2000)?.max(1);
    let d = st
        .with_browser(move |b| b.density(&id, buckets)?.ok_or_else(AppError::not_found))
        .await?;
    Ok(Json(serde_json::to_value(d).map_err(AppError::internal)?))
}

pub async fn flow(State(st): State<AppState>, _u: CurrentUser, Path(key): Path<String>) -> Result<Json<Value>, AppError> {
    check_id(&key)?;
    let v = st.with_browser(move |b| b.flow(&key)?.ok_or_else(AppError::not_found)).await?;
    Ok(Json(v))
}

fn text(bytes: &[u8]) -> String {
    // Printable ASCII as is, everything else as '.', like a hex viewer.
    let mut out = String::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            // CR of a CRLF line end: the LF breaks the line.
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {}
            0x20..=0x7e | b'\n' | b'\t' => out.push(b as char),
            _ => out.push('.'),
        }
    }
    out
}

pub async fn packets(State(st): State<AppState>, _u: CurrentUser, Path(key): Path<String>, RawQuery(raw): RawQuery) -> Result<Json<Value>, AppError> {
    check_id(&key)?;
    let p: PageParams = params(raw)?;
    let offset = number(&p.offset, "offset", 0, usize::MAX / 2)?;
    let limit = number(&p.limit, "limit", 100, capture::ops::browse::MAX_LIMIT)?.max(1);
    let v = st
        .with_browser(move |b| {
            let (total, pkts) = b.flow_packets(&key, offset, limit)?.ok_or_else(AppError::not_found)?;
            let list: Vec<Value> = pkts
                .into_iter()
                .map(|p| {
                    json!({
                        "index": p.index, "ts": p.ts, "dir": p.dir, "wire_len": p.wire_len,
                        "flags": p.flags, "frame_hex": hex::encode(&p.frame),
                        "payload_len": p.payload.len(), "payload_text": text(&p.payload),
                    })
                })
                .collect();
            Ok(json!({ "total": total, "offset": offset, "packets": list }))
        })
        .await?;
    Ok(Json(v))
}

pub async fn stream(State(st): State<AppState>, _u: CurrentUser, Path(key): Path<String>) -> Result<Json<Value>, AppError> {
    check_id(&key)?;
    let v = st
        .with_browser(move |b| {
            let s = b.flow_stream(&key, 1 << 20)?.ok_or_else(AppError::not_found)?;
            let parts: Vec<Value> = s
                .parts
                .iter()
                .map(|p| json!({ "dir": p.dir, "gap": p.gap, "len": p.data.len(), "text": text(&p.data) }))
                .collect();
            Ok(json!({ "parts": parts, "truncated": s.truncated }))
        })
        .await?;
    Ok(Json(v))
}

pub async fn saved_list(State(st): State<AppState>, u: CurrentUser) -> Json<Value> {
    let a = st.accounts();
    let mine: Vec<&SavedQuery> = a.saved.iter().filter(|s| s.user == u.name).collect();
    Json(json!({ "saved": mine }))
}

#[derive(Deserialize)]
pub struct SavedBody {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    query: String,
}

pub async fn saved_add(State(st): State<AppState>, u: CurrentUser, body: Result<Json<SavedBody>, axum::extract::rejection::JsonRejection>) -> Result<(StatusCode, Json<Value>), AppError> {
    let Json(body) = body.map_err(|e| AppError::bad_request(e.body_text()))?;
    let k = kind(body.kind.as_deref())?;
    if body.name.trim().is_empty() || body.name.len() > 200 || body.query.len() > 4096 {
        return Err(AppError::bad_request("a saved query needs a name (200 bytes at most) and a query (4096)"));
    }
    let saved = SavedQuery {
        id: random_hex(8),
        user: u.name.clone(),
        name: body.name.trim().to_string(),
        kind: k.term().to_string() + "s",
        query: body.query,
    };
    let s = saved.clone();
    st.update_accounts(move |a| {
        if a.saved.iter().filter(|x| x.user == s.user).count() >= 200 {
            return Err(crate::Error::Invalid("200 saved queries at most".into()));
        }
        a.saved.push(s);
        Ok(())
    })?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(saved).map_err(AppError::internal)?)))
}

pub async fn saved_delete(State(st): State<AppState>, u: CurrentUser, Path(id): Path<String>) -> Result<StatusCode, AppError> {
    let found = st.update_accounts(|a| {
        let before = a.saved.len();
        a.saved.retain(|s| !(s.id == id && s.user == u.name));
        Ok(before != a.saved.len())
    })?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found())
    }
}

pub async fn token_create(State(st): State<AppState>, u: CurrentUser) -> Result<(StatusCode, Json<Value>), AppError> {
    let token = st.update_accounts(|a| a.create_token(&u.name))?;
    Ok((StatusCode::CREATED, Json(json!({ "token": token, "user": u.name }))))
}

pub async fn users(State(st): State<AppState>, u: CurrentUser) -> Result<Json<Value>, AppError> {
    u.require(Role::Admin, false)?;
    let a = st.accounts();
    let list: Vec<Value> = a
        .users
        .iter()
        .map(|u| json!({ "name": u.name, "role": u.role, "created": u.created }))
        .collect();
    Ok(Json(json!({ "users": list })))
}

#[derive(Deserialize)]
pub struct UserBody {
    name: String,
    role: String,
    password: String,
}

pub async fn user_add(State(st): State<AppState>, u: CurrentUser, body: Result<Json<UserBody>, axum::extract::rejection::JsonRejection>) -> Result<(StatusCode, Json<Value>), AppError> {
    u.require(Role::Admin, false)?;
    let Json(body) = body.map_err(|e| AppError::bad_request(e.body_text()))?;
    let role: Role = body.role.parse().map_err(AppError::bad_request)?;
    let name = body.name.clone();
    tokio::task::spawn_blocking({
        let st = st.clone();
        move || st.update_accounts(|a| a.set_user(&body.name, role, &body.password))
    })
    .await??;
    st.sessions().remove_user(&name);
    Ok((StatusCode::CREATED, Json(json!({ "name": name, "role": role }))))
}
