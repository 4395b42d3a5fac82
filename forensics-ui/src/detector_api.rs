//! The detector's state as JSON under `/api/v1/`: attackers (flag and
//! unflag by hand: admin), detections, the policy and the agents (admin).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::Role;
use crate::api::params;
use crate::auth::CurrentUser;
use crate::detector_state::{self as ds, redis_failed};
use crate::error::AppError;
use crate::state::AppState;

pub async fn attackers(State(st): State<AppState>, _u: CurrentUser) -> Result<Json<Value>, AppError> {
    Ok(Json(ds::attackers_json(&st).await?))
}

#[derive(Deserialize)]
pub struct FlagBody {
    address: String,
    /// How long; a day when missing.
    #[serde(default)]
    seconds: Option<u64>,
}

pub async fn flag(State(st): State<AppState>, u: CurrentUser, body: Result<Json<FlagBody>, JsonRejection>) -> Result<(StatusCode, Json<Value>), AppError> {
    u.require(Role::Admin, false)?;
    let Json(body) = body.map_err(|e| AppError::bad_request(e.body_text()))?;
    let address = ds::address(&body.address)?;
    let seconds = ds::flag_seconds(body.seconds)?;
    let version = ds::flag(&st, address, seconds, &u.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "address": address, "seconds": seconds, "version": version }))))
}

pub async fn unflag(State(st): State<AppState>, u: CurrentUser, Path(address): Path<String>) -> Result<Json<Value>, AppError> {
    u.require(Role::Admin, false)?;
    let address = ds::address(&address)?;
    let version = ds::unflag(&st, address, &u.name).await?;
    Ok(Json(json!({ "address": address, "version": version })))
}

#[derive(Deserialize)]
pub struct DetectionParams {
    #[serde(default)]
    limit: Option<String>,
}

pub async fn detections(State(st): State<AppState>, _u: CurrentUser, RawQuery(raw): RawQuery) -> Result<Json<Value>, AppError> {
    let p: DetectionParams = params(raw)?;
    let limit = match p.limit.as_deref().filter(|s| !s.is_empty()) {
        None => ds::DETECTIONS_SHOWN,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| AppError::bad_request("limit must be a number from 1 to 1000"))?,
    };
    let store = st.detector().await?;
    let mut list = store.detections(limit).await.map_err(redis_failed)?;
    list.reverse();
    Ok(Json(json!({ "detections": list })))
}

pub async fn policy(State(st): State<AppState>, u: CurrentUser) -> Result<Json<Value>, AppError> {
    u.require(Role::Admin, false)?;
    let store = st.detector().await?;
    let policy = store.policy().await.map_err(redis_failed)?;
    let rules = store.rules().await.map_err(redis_failed)?;
    Ok(Json(json!({
        "version": policy.version,
        "mode": policy.mode,
        "whitelist": policy.whitelist,
        "default_sandbox": policy.default_sandbox,
        "rules": rules,
    })))
}

pub async fn agents(State(st): State<AppState>, u: CurrentUser) -> Result<Json<Value>, AppError> {
    u.require(Role::Admin, false)?;
    let store = st.detector().await?;
    let list = detector::agents::list(&store).await.map_err(redis_failed)?;
    let now = ds::now();
    let agents: Vec<Value> = list
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap_or_default();
            v["heartbeat_age_seconds"] = a.last_heartbeat.map(|t| (now - t).max(0)).into();
            v
        })
        .collect();
    Ok(Json(json!({ "now": now, "agents": agents })))
}
