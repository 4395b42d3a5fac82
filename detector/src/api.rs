//! The policy API for agents (`docs/policy-api.md`). Every route but
//! `/api/v1/health` needs a request signed with the agent's key; anything
//! wrong gets a bare 401. Responses are signed with the request's nonce.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_util::{Stream, StreamExt};
use model::policy::Heartbeat;
use model::signing::{self, Signed, SignedMessage};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use crate::agents;
use crate::state::Store;
use crate::syslog::Stats;
use crate::watch::Snapshot;

/// Request bodies larger than this are refused (401) before any work.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    /// The UDP syslog port, for the kernel's drop count in `health`.
    pub udp_port: Option<u16>,
    pub policy: watch::Receiver<Arc<Snapshot>>,
    pub stats: Arc<Stats>,
}

/// The caller, once its signature checked out.
#[derive(Clone, Debug)]
pub struct Caller {
    pub agent: String,
    pub key: String,
    pub nonce: String,
    pub path_and_query: String,
}

pub fn app(state: ApiState) -> Router {
    let signed = Router::new()
        .route("/api/v1/policy", get(policy))
        .route("/api/v1/policy/stream", get(stream))
        .route("/api/v1/agents/heartbeat", post(heartbeat))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/api/v1/health", get(health))
        .merge(signed)
        .with_state(state)
}

fn unauthorized() -> Response {
    StatusCode::UNAUTHORIZED.into_response()
}

fn unavailable() -> Response {
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

fn header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<&'a str, signing::SignatureError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(signing::SignatureError::MissingHeader(name))
}

enum Refusal {
    Unauthorized(String),
    Internal(crate::Error),
}

impl From<signing::SignatureError> for Refusal {
    fn from(e: signing::SignatureError) -> Refusal {
        Refusal::Unauthorized(e.to_string())
    }
}

impl From<crate::Error> for Refusal {
    fn from(e: crate::Error) -> Refusal {
        Refusal::Internal(e)
    }
}

async fn check(
    state: &ApiState,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, Refusal> {
    let agent = header(headers, signing::AGENT_HEADER)?;
    let timestamp = signing::parse_timestamp(header(headers, signing::TIMESTAMP_HEADER)?)?;
    let nonce = header(headers, signing::NONCE_HEADER)?;
    let signature = header(headers, signing::SIGNATURE_HEADER)?;
    let record = agents::get(&state.store, agent)
        .await?
        .ok_or_else(|| Refusal::Unauthorized(format!("unknown agent {agent:?}")))?;
    if record.revoked {
        return Err(Refusal::Unauthorized(format!("agent {agent:?} is revoked")));
    }
    let signed = Signed {
        first: method,
        path_and_query,
        timestamp,
        nonce,
        body,
    };
    signed.verify(&record.key, signature, signing::now())?;
    if !state.store.fresh_nonce(agent, nonce).await? {
        return Err(Refusal::Unauthorized(format!("nonce {nonce} replayed")));
    }
    Ok(Caller {
        agent: record.id,
        key: record.key,
        nonce: nonce.to_owned(),
        path_and_query: path_and_query.to_owned(),
    })
}

/// Checks the request, runs the handler, signs the response.
async fn authenticate(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        tracing::debug!("request body too large or broken");
        return unauthorized();
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let caller = match check(
        &state,
        parts.method.as_str(),
        &path_and_query,
        &parts.headers,
        &body,
    )
    .await
    {
        Ok(caller) => caller,
        Err(Refusal::Unauthorized(reason)) => {
            tracing::info!(%reason, path = %path_and_query, "request refused");
            return unauthorized();
        }
        Err(Refusal::Internal(e)) => {
            tracing::warn!(error = %e, "checking a request failed");
            return unavailable();
        }
    };
    parts.extensions.insert(caller.clone());
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    sign_response(&caller, response).await
}

/// Adds the signature headers. A push stream's body is signed message by
/// message; its headers sign an empty body.
async fn sign_response(caller: &Caller, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let streaming = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let (bytes, body) = if streaming {
        (Bytes::new(), body)
    } else {
        match to_bytes(body, usize::MAX).await {
            Ok(bytes) => (bytes.clone(), Body::from(bytes)),
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    };
    let timestamp = signing::now();
    let signature = Signed {
        first: signing::RESPONSE,
        path_and_query: &caller.path_and_query,
        timestamp,
        nonce: &caller.nonce,
        body: &bytes,
    }
    .sign(&caller.key);
    let headers = &mut parts.headers;
    headers.insert(signing::TIMESTAMP_HEADER, HeaderValue::from(timestamp));
    if let Ok(v) = HeaderValue::from_str(&caller.nonce) {
        headers.insert(signing::NONCE_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&signature) {
        headers.insert(signing::SIGNATURE_HEADER, v);
    }
    Response::from_parts(parts, body)
}

async fn health(State(state): State<ApiState>) -> Response {
    let version = state.policy.borrow().policy.version;
    let kernel_drops = state.udp_port.and_then(crate::syslog::kernel_udp_drops);
    Json(serde_json::json!({
        "status": "ok",
        "policy_version": version,
        "syslog": state.stats.snapshot(),
        "udp_kernel_drops": kernel_drops,
    }))
    .into_response()
}

/// The policy as it is in Redis now (not the stream's copy, which may be a
/// few milliseconds behind).
async fn policy(State(state): State<ApiState>) -> Response {
    match state.store.policy().await {
        Ok(policy) => Json(policy).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "reading the policy failed");
            unavailable()
        }
    }
}

async fn heartbeat(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let Ok(beat) = serde_json::from_slice::<Heartbeat>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "body is not a heartbeat"})),
        )
            .into_response();
    };
    match agents::heartbeat(&state.store, &caller.agent, beat, signing::now()).await {
        Ok(_) => {
            Json(serde_json::json!({ "policy_version": state.policy.borrow().policy.version }))
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "storing a heartbeat failed");
            unavailable()
        }
    }
}

/// Server-sent events: the current policy at once, then every new version.
async fn stream(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = WatchStream::new(state.policy.clone()).map(move |snapshot| {
        let timestamp = signing::now();
        let signature = Signed {
            first: signing::EVENT,
            path_and_query: &caller.path_and_query,
            timestamp,
            nonce: &caller.nonce,
            body: snapshot.json.as_bytes(),
        }
        .sign(&caller.key);
        let message = SignedMessage {
            timestamp,
            nonce: caller.nonce.clone(),
            signature,
            body: snapshot.json.clone(),
        };
        let data = serde_json::to_string(&message).expect("a signed message serialises");
        Ok(Event::default()
            .event("policy")
            .id(snapshot.policy.version.to_string())
            .data(data))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
