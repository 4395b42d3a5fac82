//! The pages fed by the detector's state: attackers (who is flagged, since
//! when, why, until when, sent where; admins flag and unflag by hand) and
//! policy and agents (admin). Without `--redis` they say how to connect.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use detector::state::{Detection, Store};
use serde::Deserialize;

use crate::accounts::Role;
use crate::auth::CurrentUser;
use crate::detector_state::{self as ds, age, redis_failed, time};
use crate::error::AppError;
use crate::pages::{cut, Nav};
use crate::state::AppState;

pub struct AttackerRow {
    pub address: String,
    /// The attacker's sessions in the search page.
    pub search: String,
    pub reason: String,
    pub since: String,
    pub since_age: String,
    pub expires: String,
    pub expires_in: String,
    pub sandbox: String,
}

pub struct DetectionRow {
    pub time: String,
    pub age: String,
    pub address: String,
    pub rule: String,
    pub what: String,
    pub expires: String,
    pub version: u64,
}

/// Detections as table rows, newest first.
pub fn detection_rows(list: &[Detection], now: i64) -> Vec<DetectionRow> {
    list.iter()
        .rev()
        .map(|d| {
            let what = match (&d.observation, &d.by) {
                (Some(o), _) => {
                    let kind = serde_json::to_value(o.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                    let mut w = format!("{} {kind}", o.service.as_str());
                    if let Some(u) = &o.user {
                        w += &format!(" user={u}");
                    }
                    if let Some(x) = &o.detail {
                        w += &format!(" {x}");
                    }
                    cut(w, 160)
                }
                (None, Some(by)) => format!("by hand ({by})"),
                (None, None) => String::new(),
            };
            DetectionRow {
                time: time(d.since),
                age: age(d.since, now),
                address: d.address.clone(),
                rule: d.rule.clone(),
                what,
                expires: time(d.expires),
                version: d.version,
            }
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "attackers.html")]
pub struct AttackersPage {
    nav: Nav,
    /// Why nothing is shown (no `--redis`, Redis down); empty when connected.
    problem: String,
    message: String,
    version: u64,
    mode: String,
    default_sandbox: String,
    /// Flagged in all; the page lists [`ATTACKERS_SHOWN`] of them, those
    /// that stay flagged longest, newest first.
    total: usize,
    attackers: Vec<AttackerRow>,
    detections: Vec<DetectionRow>,
}

/// Attackers listed on the page (a detector may hold 100,000; the API gives all).
pub const ATTACKERS_SHOWN: usize = 500;

async fn attackers_page(st: &AppState, u: &CurrentUser, message: String) -> AttackersPage {
    let mut page = AttackersPage {
        nav: Nav::new(u, "attackers"),
        problem: String::new(),
        message,
        version: 0,
        mode: String::new(),
        default_sandbox: String::new(),
        total: 0,
        attackers: vec![],
        detections: vec![],
    };
    if let Err(e) = fill_attackers(st, &mut page).await {
        page.problem = e.message;
    }
    page
}

async fn fill_attackers(st: &AppState, page: &mut AttackersPage) -> Result<(), AppError> {
    let store = st.detector().await?;
    let (policy, total) = store.policy_page(ATTACKERS_SHOWN).await.map_err(redis_failed)?;
    let detections = store.detections(ds::DETECTIONS_SHOWN).await.map_err(redis_failed)?;
    let now = ds::now();
    page.version = policy.version;
    page.mode = policy.mode.as_str().to_string();
    page.default_sandbox = policy.default_sandbox.as_ref().map(ds::sandbox_text).unwrap_or_default();
    let mut attackers = policy.attackers;
    attackers.sort_by_key(|a| std::cmp::Reverse(a.since));
    page.total = total;
    page.attackers = attackers
        .iter()
        .map(|a| AttackerRow {
            address: a.address.to_string(),
            search: format!(
                "/search?{}",
                serde_urlencoded::to_string([("q", format!("src_ip:{}", a.address)), ("kind", "sessions".into())]).unwrap_or_default()
            ),
            reason: a.reason.clone(),
            since: time(a.since),
            since_age: age(a.since, now),
            expires: time(a.expires),
            expires_in: age(a.expires, now),
            sandbox: a.sandbox.as_ref().map(ds::sandbox_text).unwrap_or_default(),
        })
        .collect();
    page.detections = detection_rows(&detections, now);
    Ok(())
}

pub async fn attackers(State(st): State<AppState>, u: CurrentUser) -> AttackersPage {
    attackers_page(&st, &u, String::new()).await
}

#[derive(Deserialize)]
pub struct FlagForm {
    #[serde(default)]
    address: String,
    /// Hours, possibly fractional; 24 when empty.
    #[serde(default)]
    hours: String,
}

/// Hours from a form as seconds.
fn hours(text: &str) -> Result<Option<u64>, AppError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<f64>() {
        Ok(h) if h.is_finite() && h > 0.0 => Ok(Some((h * 3600.0).round().max(1.0).min(u64::MAX as f64) as u64)),
        _ => Err(AppError::bad_request("hours must be a positive number")),
    }
}

/// The attackers page again, with what happened (or what was wrong).
async fn after(st: &AppState, u: &CurrentUser, r: Result<String, AppError>) -> Response {
    match r {
        Ok(message) => attackers_page(st, u, message).await.into_response(),
        Err(e) if e.status.is_client_error() || e.status == StatusCode::SERVICE_UNAVAILABLE => {
            (e.status, attackers_page(st, u, e.message).await).into_response()
        }
        Err(e) => e.page().into_response(),
    }
}

pub async fn flag(State(st): State<AppState>, u: CurrentUser, form: Result<Form<FlagForm>, FormRejection>) -> Result<Response, AppError> {
    u.require(Role::Admin, true)?;
    let Form(f) = form.map_err(|_| AppError::bad_request("bad form").page())?;
    let r = async {
        let address = ds::address(&f.address)?;
        let seconds = ds::flag_seconds(hours(&f.hours)?)?;
        let version = ds::flag(&st, address, seconds, &u.name).await?;
        Ok(format!("{address} flagged until {} (policy version {version})", time(ds::now() + seconds as i64)))
    }
    .await;
    Ok(after(&st, &u, r).await)
}

#[derive(Deserialize)]
pub struct UnflagForm {
    #[serde(default)]
    address: String,
}

pub async fn unflag(State(st): State<AppState>, u: CurrentUser, form: Result<Form<UnflagForm>, FormRejection>) -> Result<Response, AppError> {
    u.require(Role::Admin, true)?;
    let Form(f) = form.map_err(|_| AppError::bad_request("bad form").page())?;
    let r = async {
        let address = ds::address(&f.address)?;
        match ds::unflag(&st, address, &u.name).await {
            Ok(version) => Ok(format!("{address} unflagged (policy version {version})")),
            Err(e) if e.status == StatusCode::NOT_FOUND => Err(AppError::new(StatusCode::NOT_FOUND, format!("{address} is not flagged"))),
            Err(e) => Err(e),
        }
    }
    .await;
    Ok(after(&st, &u, r).await)
}

pub struct RuleRow {
    pub name: String,
    pub applies: String,
    pub threshold: u32,
    pub window: String,
    pub flag: String,
}

pub struct AgentRow {
    pub name: String,
    pub id: String,
    pub host: String,
    pub version: String,
    pub mode: String,
    pub policy_version: String,
    pub services: String,
    pub heartbeat: String,
    pub heartbeat_age: String,
    pub state: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "policy.html")]
pub struct PolicyPage {
    nav: Nav,
    problem: String,
    version: u64,
    mode: String,
    addresses: Vec<String>,
    ports: Vec<u16>,
    default_sandbox: String,
    /// Whether the detector published its rules (older detectors did not).
    rules_known: bool,
    rules: Vec<RuleRow>,
    agents: Vec<AgentRow>,
}

/// Seconds as the shortest exact unit: `60 s`, `10 min`, `24 h`.
fn span(s: u64) -> String {
    match s {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

pub fn rule_rows(rules: &[detector::rules::Rule]) -> Vec<RuleRow> {
    rules
        .iter()
        .map(|r| {
            let mut applies = Vec::new();
            if let Some(s) = r.service {
                applies.push(s.as_str().to_string());
            }
            let names = |v: &serde_json::Value| v.as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("|")).unwrap_or_default();
            if !r.kinds.is_empty() {
                applies.push(names(&serde_json::to_value(&r.kinds).unwrap_or_default()));
            }
            if !r.modes.is_empty() {
                applies.push(format!("modes {}", names(&serde_json::to_value(&r.modes).unwrap_or_default())));
            }
            if r.unauthenticated {
                applies.push("unauthenticated".into());
            }
            let words: Vec<&str> = r.detail_contains.iter().chain(&r.detail_prefix).map(String::as_str).collect();
            if !words.is_empty() {
                applies.push(cut(format!("detail: {}", words.join(", ")), 120));
            }
            RuleRow {
                name: r.name.clone(),
                applies: applies.join("; "),
                threshold: r.threshold,
                window: span(r.window_seconds),
                flag: span(r.flag_seconds),
            }
        })
        .collect()
}

pub fn agent_rows(agents: &[detector::agents::AgentInfo], now: i64) -> Vec<AgentRow> {
    agents
        .iter()
        .map(|a| {
            let hb = a.heartbeat.as_ref();
            AgentRow {
                name: a.name.clone(),
                id: a.id.clone(),
                host: hb.map(|h| h.host.clone()).unwrap_or_default(),
                version: hb.map(|h| h.agent_version.clone()).unwrap_or_default(),
                mode: hb.map(|h| h.mode.as_str().to_string()).unwrap_or_default(),
                policy_version: hb.map(|h| h.policy_version.to_string()).unwrap_or_default(),
                services: hb
                    .map(|h| h.services.iter().map(|s| format!("{} {}", s.name, s.port)).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default(),
                heartbeat: a.last_heartbeat.map(time).unwrap_or_else(|| "never".into()),
                heartbeat_age: a.last_heartbeat.map(|t| age(t, now)).unwrap_or_default(),
                state: if a.revoked { "revoked".into() } else { "active".into() },
            }
        })
        .collect()
}

async fn fill_policy(store: &Store, page: &mut PolicyPage) -> Result<(), AppError> {
    let (policy, _) = store.policy_page(0).await.map_err(redis_failed)?;
    let rules = store.rules().await.map_err(redis_failed)?;
    let agents = detector::agents::list(store).await.map_err(redis_failed)?;
    page.version = policy.version;
    page.mode = policy.mode.as_str().to_string();
    page.addresses = policy.whitelist.addresses;
    page.ports = policy.whitelist.ports;
    page.default_sandbox = policy.default_sandbox.as_ref().map(ds::sandbox_text).unwrap_or_default();
    page.rules_known = rules.is_some();
    page.rules = rule_rows(rules.as_deref().unwrap_or_default());
    page.agents = agent_rows(&agents, ds::now());
    Ok(())
}

pub async fn policy(State(st): State<AppState>, u: CurrentUser) -> Result<PolicyPage, AppError> {
    u.require(Role::Admin, true)?;
    let mut page = PolicyPage {
        nav: Nav::new(&u, "policy"),
        problem: String::new(),
        version: 0,
        mode: String::new(),
        addresses: vec![],
        ports: vec![],
        default_sandbox: String::new(),
        rules_known: false,
        rules: vec![],
        agents: vec![],
    };
    let r = match st.detector().await {
        Ok(store) => fill_policy(&store, &mut page).await,
        Err(e) => Err(e),
    };
    if let Err(e) = r {
        page.problem = e.message;
    }
    Ok(page)
}
