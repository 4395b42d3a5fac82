//! Server-rendered pages (askama escapes every value, so text from a
//! capture is shown as text). The interactive parts are in `static/*.js`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::Value;

use crate::accounts::{random_hex, Role};
use crate::api::{full_query, kind, params, SearchParams};
use crate::auth::{self, CurrentUser};
use crate::error::AppError;
use crate::state::AppState;

/// What the layout needs on every page.
pub struct Nav {
    pub user: String,
    pub admin: bool,
    pub csrf: String,
    pub active: &'static str,
}

impl Nav {
    pub(crate) fn new(u: &CurrentUser, active: &'static str) -> Nav {
        Nav {
            user: u.name.clone(),
            admin: u.role == Role::Admin,
            csrf: u.csrf.clone().unwrap_or_default(),
            active,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    csrf: String,
    error: String,
}

pub async fn login_form(State(st): State<AppState>, headers: HeaderMap) -> Response {
    // Reuse the double-submit value if the browser has one.
    let pre = auth::cookie(&headers, auth::PRE_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| random_hex(32));
    let secure = st.config().secure_cookies;
    let page = LoginPage {
        csrf: pre.clone(),
        error: String::new(),
    };
    let mut r = page.into_response();
    if let Ok(v) = auth::set_cookie(auth::PRE_COOKIE, &pre, 3600, secure).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(State(st): State<AppState>, req: Request) -> Result<Response, AppError> {
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into());
    let Form(f): Form<LoginForm> = Form::from_request(req, &st)
        .await
        .map_err(|_| AppError::bad_request("bad sign-in form").page())?;
    let keys = [format!("ip:{ip}"), format!("user:{}", f.user)];
    let blocked = {
        let mut l = st.limiter();
        keys.iter().filter_map(|k| l.blocked(k)).max()
    };
    if let Some(wait) = blocked {
        let mut e = AppError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed sign-ins: wait {wait} s"),
        )
        .page();
        e.retry_after = Some(wait);
        return Err(e);
    }
    let (user, password) = (f.user.clone(), f.password.clone());
    let st2 = st.clone();
    let found = tokio::task::spawn_blocking(move || {
        let a = st2.accounts();
        a.check_password(&user, &password).map(|u| (u.name.clone(), u.role))
    })
    .await?;
    let Some((name, role)) = found else {
        {
            let mut l = st.limiter();
            keys.iter().for_each(|k| l.fail(k));
        }
        let page = LoginPage {
            csrf: f.csrf,
            error: "wrong user name or password".into(),
        };
        return Ok((axum::http::StatusCode::UNAUTHORIZED, page).into_response());
    };
    {
        let mut l = st.limiter();
        keys.iter().for_each(|k| l.clear(k));
    }
    let id = st.sessions().create(&name, role);
    tracing::info!(user = %name, "signed in");
    let mut r = Redirect::to("/").into_response();
    let secure = st.config().secure_cookies;
    for c in [
        auth::set_cookie(auth::SESSION_COOKIE, &id, 12 * 3600, secure),
        auth::set_cookie(auth::PRE_COOKIE, "", 0, secure),
    ] {
        if let Ok(v) = c.parse() {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(r)
}

use axum::extract::FromRequest;

pub async fn logout(State(st): State<AppState>, _u: CurrentUser, headers: HeaderMap) -> Response {
    if let Some(id) = auth::cookie(&headers, auth::SESSION_COOKIE) {
        st.sessions().remove(&id);
    }
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = auth::set_cookie(auth::SESSION_COOKIE, "", 0, st.config().secure_cookies).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Template, WebTemplate)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    nav: Nav,
    /// Whether the UI reads a detector (`--redis`).
    detector: bool,
    /// Why the detector's state is missing (Redis down); empty otherwise.
    detector_problem: String,
    flagged: usize,
    /// Attacker, sandbox, expiry: the sandboxes in use now.
    sandboxes: Vec<(String, String, String)>,
    detections: Vec<crate::detector_pages::DetectionRow>,
}

pub async fn overview(State(st): State<AppState>, u: CurrentUser) -> OverviewPage {
    let mut page = OverviewPage {
        nav: Nav::new(&u, "overview"),
        detector: st.config().redis_url.is_some(),
        detector_problem: String::new(),
        flagged: 0,
        sandboxes: vec![],
        detections: vec![],
    };
    if page.detector {
        if let Err(e) = overview_detector(&st, &mut page).await {
            page.detector_problem = e.message;
        }
    }
    page
}

/// Sandboxes listed on the overview at most.
const SANDBOXES_SHOWN: usize = 200;

/// Active sandboxes and the latest detections, from the detector's Redis.
async fn overview_detector(st: &AppState, page: &mut OverviewPage) -> Result<(), AppError> {
    use crate::detector_state as ds;
    let store = st.detector().await?;
    // Sandboxes go to attackers as they are flagged; the page lists those
    // of the attackers that stay flagged longest.
    let (policy, flagged) = store.policy_page(SANDBOXES_SHOWN).await.map_err(ds::redis_failed)?;
    let detections = store.detections(10).await.map_err(ds::redis_failed)?;
    let now = ds::now();
    page.flagged = flagged;
    page.sandboxes = policy
        .attackers
        .iter()
        .filter_map(|a| a.sandbox.as_ref().map(|s| (a.address.to_string(), ds::sandbox_text(s), ds::age(a.expires, now))))
        .collect();
    page.detections = crate::detector_pages::detection_rows(&detections, now);
    Ok(())
}

/// One row of a results table: cells as text, and where the row leads.
pub struct Row {
    pub cells: Vec<String>,
    pub link: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "search.html")]
pub struct SearchPage {
    nav: Nav,
    q: String,
    kind: String,
    from: String,
    to: String,
    error: String,
    error_column: usize,
    total: u64,
    offset: usize,
    #[allow(dead_code)]
    limit: usize,
    columns: Vec<&'static str>,
    rows: Vec<Row>,
    prev: String,
    next: String,
    tabs: Vec<(String, String, bool)>,
    presets: Vec<(String, String)>,
    pcap: String,
}

fn s(v: &Value, path: &str) -> String {
    match v.pointer(path) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

pub fn cut(x: String, n: usize) -> String {
    if x.chars().count() > n {
        x.chars().take(n - 1).collect::<String>() + "…"
    } else {
        x
    }
}

/// Event details worth a glance: the fields an analyst reads first.
pub fn details(h: &Value) -> String {
    let mut d = Vec::new();
    for k in [
        "user", "password", "success", "command", "arg", "query", "method", "uri", "status", "path",
        "name", "sha256", "kind", "detail", "version", "client", "server",
    ] {
        let v = s(h, &format!("/{k}"));
        if !v.is_empty() {
            d.push(format!("{k}={v}"));
        }
    }
    cut(d.join(" "), 200)
}

fn url(p: &SearchParams, kind: &str, offset: usize) -> String {
    let mut pairs = vec![("q", p.q.clone()), ("kind", kind.to_string())];
    if let Some(f) = p.from.as_ref().filter(|s| !s.is_empty()) {
        pairs.push(("from", f.clone()));
    }
    if let Some(t) = p.to.as_ref().filter(|s| !s.is_empty()) {
        pairs.push(("to", t.clone()));
    }
    if offset > 0 {
        pairs.push(("offset", offset.to_string()));
    }
    format!("/search?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
}

pub async fn search(State(st): State<AppState>, u: CurrentUser, RawQuery(raw): RawQuery) -> Result<SearchPage, AppError> {
    let p: SearchParams = params(raw).map_err(AppError::page)?;
    let k = kind(p.kind.as_deref()).map_err(AppError::page)?;
    let kind_name = format!("{}s", k.term());
    let offset: usize = p
        .offset
        .as_deref()
        .and_then(|o| o.parse().ok())
        .unwrap_or(0)
        .min(capture::ops::browse::MAX_OFFSET);
    let limit = 50;
    let mut page = SearchPage {
        nav: Nav::new(&u, "search"),
        q: p.q.clone(),
        kind: kind_name.clone(),
        from: p.from.clone().unwrap_or_default(),
        to: p.to.clone().unwrap_or_default(),
        error: String::new(),
        error_column: 0,
        total: 0,
        offset,
        limit,
        columns: vec![],
        rows: vec![],
        prev: String::new(),
        next: String::new(),
        tabs: ["sessions", "flows", "events"]
            .iter()
            .map(|t| (t.to_string(), url(&p, t, 0), *t == kind_name))
            .collect(),
        presets: [("1h", "now-1h"), ("24h", "now-24h"), ("7d", "now-7d"), ("30d", "now-30d"), ("all", "")]
            .iter()
            .map(|(label, from)| {
                let mut q = SearchParams {
                    q: p.q.clone(),
                    from: Some(from.to_string()),
                    ..Default::default()
                };
                q.to = None;
                (label.to_string(), url(&q, &kind_name, 0))
            })
            .collect(),
        pcap: String::new(),
    };
    let full = full_query(&p);
    let (q, by) = match full {
        Ok(x) => x,
        Err(e) => {
            page.error = e.message;
            return Ok(page);
        }
    };
    let result = st.with_browser(move |b| Ok(b.search(k, &q, offset, limit)?)).await;
    let res = match result {
        Ok(r) => r,
        Err(e) if e.status.is_client_error() || e.status.as_u16() == 503 => {
            page.error = e.message;
            page.error_column = e
                .column
                .map(|c| c.saturating_sub(by).clamp(1, p.q.trim().chars().count() + 1))
                .unwrap_or(0);
            return Ok(page);
        }
        Err(e) => return Err(e.page()),
    };
    page.total = res.total;
    if offset > 0 {
        page.prev = url(&p, &kind_name, offset.saturating_sub(limit));
    }
    if (offset + limit) < res.total as usize && offset + limit <= capture::ops::browse::MAX_OFFSET {
        page.next = url(&p, &kind_name, offset + limit);
    }
    page.pcap = format!("/api/v1/pcap?{}", url(&p, &kind_name, 0).trim_start_matches("/search?"));
    let (columns, rows): (Vec<&'static str>, Vec<Row>) = match kind_name.as_str() {
        "sessions" => (
            vec!["session", "first seen", "last seen", "source", "flows", "events", "logins", "protocols", "users"],
            res.hits
                .iter()
                .map(|h| Row {
                    link: format!("/sessions/{}", s(h, "/session_id")),
                    cells: vec![
                        s(h, "/session_id"),
                        s(h, "/first_seen"),
                        s(h, "/last_seen"),
                        s(h, "/src_ip"),
                        s(h, "/flows"),
                        s(h, "/events"),
                        format!("{}/{}", s(h, "/logins_succeeded"), s(h, "/logins_tried")),
                        cut(s(h, "/protocols"), 40),
                        cut(s(h, "/users"), 60),
                    ],
                })
                .collect(),
        ),
        "flows" => (
            vec!["start", "client", "server", "protocol", "packets", "bytes", "reason"],
            res.hits
                .iter()
                .map(|h| Row {
                    link: format!("/flows/{}", s(h, "/flow_key")),
                    cells: vec![
                        s(h, "/ts"),
                        format!("{} {}", s(h, "/flow/src_ip"), s(h, "/flow/src_port")),
                        format!("{} {}", s(h, "/flow/dst_ip"), s(h, "/flow/dst_port")),
                        s(h, "/protocol"),
                        s(h, "/packets_stored"),
                        (h["bytes_to_server"].as_u64().unwrap_or(0) + h["bytes_to_client"].as_u64().unwrap_or(0)).to_string(),
                        s(h, "/reason"),
                    ],
                })
                .collect(),
        ),
        _ => (
            vec!["time", "type", "client", "server", "details"],
            res.hits
                .iter()
                .map(|h| Row {
                    link: format!("/sessions/{}#t={}", s(h, "/session_id"), s(h, "/ts")),
                    cells: vec![
                        s(h, "/ts"),
                        s(h, "/type"),
                        format!("{} {}", s(h, "/flow/src_ip"), s(h, "/flow/src_port")),
                        format!("{} {}", s(h, "/flow/dst_ip"), s(h, "/flow/dst_port")),
                        details(h),
                    ],
                })
                .collect(),
        ),
    };
    page.columns = columns;
    page.rows = rows;
    Ok(page)
}

#[derive(Template, WebTemplate)]
#[template(path = "session.html")]
pub struct SessionPage {
    nav: Nav,
    id: String,
    facts: Vec<(&'static str, String)>,
    files: Vec<(String, String)>,
    commands: Vec<String>,
}

pub async fn session(State(st): State<AppState>, u: CurrentUser, Path(id): Path<String>) -> Result<SessionPage, AppError> {
    let id2 = id.clone();
    let summary = st
        .with_browser(move |b| b.session(&id2).map_err(AppError::from))
        .await
        .map_err(AppError::page)?
        .ok_or_else(|| AppError::not_found().page())?;
    let facts = vec![
        ("attacker", s(&summary, "/src_ip")),
        ("servers", s(&summary, "/dst_ips")),
        ("first seen", s(&summary, "/first_seen")),
        ("last seen", s(&summary, "/last_seen")),
        ("protocols", s(&summary, "/protocols")),
        ("flows", s(&summary, "/flows")),
        ("events", s(&summary, "/events")),
        ("logins tried / won", format!("{} / {}", s(&summary, "/logins_tried"), s(&summary, "/logins_succeeded"))),
        ("users", s(&summary, "/users")),
        ("passwords", s(&summary, "/passwords")),
    ];
    let files = summary
        .get("files")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .map(|f| match f {
                    Value::String(h) => (String::new(), h.clone()),
                    o => (s(o, "/path"), s(o, "/sha256")),
                })
                .collect()
        })
        .unwrap_or_default();
    let commands = summary
        .get("commands")
        .and_then(|c| c.as_array())
        .map(|a| a.iter().map(|c| cut(c.as_str().map(str::to_string).unwrap_or_else(|| c.to_string()), 300)).collect())
        .unwrap_or_default();
    Ok(SessionPage {
        nav: Nav::new(&u, "search"),
        id,
        facts,
        files,
        commands,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "flow.html")]
pub struct FlowPage {
    nav: Nav,
    key: String,
    session: String,
    facts: Vec<(&'static str, String)>,
}

pub async fn flow(State(st): State<AppState>, u: CurrentUser, Path(key): Path<String>) -> Result<FlowPage, AppError> {
    let k = key.clone();
    let f = st
        .with_browser(move |b| b.flow(&k).map_err(AppError::from))
        .await
        .map_err(AppError::page)?
        .ok_or_else(|| AppError::not_found().page())?;
    Ok(FlowPage {
        nav: Nav::new(&u, "search"),
        key,
        session: s(&f, "/session_id"),
        facts: vec![
            ("client", format!("{} {}", s(&f, "/flow/src_ip"), s(&f, "/flow/src_port"))),
            ("server", format!("{} {}", s(&f, "/flow/dst_ip"), s(&f, "/flow/dst_port"))),
            ("protocol", s(&f, "/protocol")),
            ("start", s(&f, "/ts")),
            ("end", s(&f, "/end")),
            ("packets", s(&f, "/packets_stored")),
            ("bytes to server / client", format!("{} / {}", s(&f, "/bytes_to_server"), s(&f, "/bytes_to_client"))),
            ("ended by", s(&f, "/reason")),
            ("community id", s(&f, "/flow/id")),
        ],
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub struct AccountPage {
    nav: Nav,
    role: String,
}

pub async fn account(u: CurrentUser) -> AccountPage {
    AccountPage {
        role: format!("{:?}", u.role).to_lowercase(),
        nav: Nav::new(&u, "account"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
pub struct UsersPage {
    nav: Nav,
    users: Vec<(String, String, String)>,
    message: String,
}

fn users_page(st: &AppState, u: &CurrentUser, message: String) -> UsersPage {
    let a = st.accounts();
    UsersPage {
        nav: Nav::new(u, "users"),
        users: a
            .users
            .iter()
            .map(|x| (x.name.clone(), format!("{:?}", x.role).to_lowercase(), x.created.clone()))
            .collect(),
        message,
    }
}

pub async fn users(State(st): State<AppState>, u: CurrentUser) -> Result<UsersPage, AppError> {
    u.require(Role::Admin, true)?;
    Ok(users_page(&st, &u, String::new()))
}

#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

pub async fn users_add(State(st): State<AppState>, u: CurrentUser, form: Result<Form<UserForm>, axum::extract::rejection::FormRejection>) -> Result<UsersPage, AppError> {
    u.require(Role::Admin, true)?;
    let Form(f) = form.map_err(|_| AppError::bad_request("bad form").page())?;
    let role: Role = match f.role.parse() {
        Ok(r) => r,
        Err(e) => return Ok(users_page(&st, &u, e)),
    };
    let st2 = st.clone();
    let name = f.name.clone();
    let r = tokio::task::spawn_blocking(move || st2.update_accounts(|a| a.set_user(&f.name, role, &f.password))).await?;
    let message = match r {
        Ok(()) => {
            st.sessions().remove_user(&name);
            format!("user {name} saved")
        }
        Err(crate::Error::Invalid(m)) => m,
        Err(e) => return Err(AppError::from(e).page()),
    };
    Ok(users_page(&st, &u, message))
}
