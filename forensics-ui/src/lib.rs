//! Kyoka's web application for forensic analysts: sign-in, overview,
//! search with a histogram, the session timeline with replay, packets and
//! streams, pcap downloads, and the same as JSON under `/api/v1/`.
//!
//! [`app()`] builds the whole router from [`routes()`], the one table of
//! every route with who may use it; tests walk that table.

pub mod accounts;
pub mod api;
pub mod assets;
pub mod auth;
pub mod detector_api;
pub mod detector_pages;
pub mod detector_state;
pub mod download;
pub mod error;
pub mod live;
pub mod openapi;
pub mod pages;
pub mod state;
pub mod tls;

use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;

pub use accounts::Role;
pub use error::{AppError, Error, Result};
pub use state::{AppState, Config};

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Sign-in, health and static files.
    Public,
    Analyst,
    Admin,
}

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    /// The path with its parameters filled in, for tests.
    pub example: &'static str,
    pub access: Access,
    handler: MethodRouter<AppState>,
}

fn route(method: Method, path: &'static str, example: &'static str, access: Access, handler: MethodRouter<AppState>) -> Route {
    Route {
        method,
        path,
        example,
        access,
        handler,
    }
}

/// Every route of the application.
pub fn routes() -> Vec<Route> {
    use Access::*;
    use Method as M;
    vec![
        route(M::GET, "/health", "/health", Public, axum::routing::get(assets::health)),
        route(M::GET, "/static/{*path}", "/static/app.css", Public, axum::routing::get(assets::file)),
        route(M::GET, "/login", "/login", Public, axum::routing::get(pages::login_form)),
        route(M::POST, "/login", "/login", Public, axum::routing::post(pages::login)),
        route(M::POST, "/logout", "/logout", Analyst, axum::routing::post(pages::logout)),
        route(M::GET, "/", "/", Analyst, axum::routing::get(pages::overview)),
        route(M::GET, "/search", "/search", Analyst, axum::routing::get(pages::search)),
        route(M::GET, "/sessions/{id}", "/sessions/x", Analyst, axum::routing::get(pages::session)),
        route(M::GET, "/flows/{key}", "/flows/x-1", Analyst, axum::routing::get(pages::flow)),
        route(M::GET, "/account", "/account", Analyst, axum::routing::get(pages::account)),
        route(M::GET, "/attackers", "/attackers", Analyst, axum::routing::get(detector_pages::attackers)),
        route(M::POST, "/attackers/flag", "/attackers/flag", Admin, axum::routing::post(detector_pages::flag)),
        route(M::POST, "/attackers/unflag", "/attackers/unflag", Admin, axum::routing::post(detector_pages::unflag)),
        route(M::GET, "/admin/users", "/admin/users", Admin, axum::routing::get(pages::users)),
        route(M::POST, "/admin/users", "/admin/users", Admin, axum::routing::post(pages::users_add)),
        route(M::GET, "/admin/policy", "/admin/policy", Admin, axum::routing::get(detector_pages::policy)),
        route(M::GET, "/api/openapi.json", "/api/openapi.json", Analyst, axum::routing::get(openapi::document)),
        route(M::GET, "/api/v1/me", "/api/v1/me", Analyst, axum::routing::get(api::me)),
        route(M::GET, "/api/v1/stats", "/api/v1/stats", Analyst, axum::routing::get(api::stats)),
        route(M::GET, "/api/v1/search", "/api/v1/search?q=*", Analyst, axum::routing::get(api::search)),
        route(M::GET, "/api/v1/histogram", "/api/v1/histogram?q=*", Analyst, axum::routing::get(api::histogram)),
        route(M::GET, "/api/v1/overview", "/api/v1/overview", Analyst, axum::routing::get(api::overview)),
        route(M::GET, "/api/v1/overview/live", "/api/v1/overview/live", Analyst, axum::routing::get(live::overview)),
        route(M::GET, "/api/v1/sessions/{id}", "/api/v1/sessions/x", Analyst, axum::routing::get(api::session)),
        route(M::GET, "/api/v1/sessions/{id}/timeline", "/api/v1/sessions/x/timeline", Analyst, axum::routing::get(api::timeline)),
        route(M::GET, "/api/v1/sessions/{id}/density", "/api/v1/sessions/x/density", Analyst, axum::routing::get(api::density)),
        route(M::GET, "/api/v1/sessions/{id}/pcap", "/api/v1/sessions/x/pcap", Analyst, axum::routing::get(download::session_pcap)),
        route(M::GET, "/api/v1/flows/{key}", "/api/v1/flows/x-1", Analyst, axum::routing::get(api::flow)),
        route(M::GET, "/api/v1/flows/{key}/packets", "/api/v1/flows/x-1/packets", Analyst, axum::routing::get(api::packets)),
        route(M::GET, "/api/v1/flows/{key}/stream", "/api/v1/flows/x-1/stream", Analyst, axum::routing::get(api::stream)),
        route(M::GET, "/api/v1/flows/{key}/pcap", "/api/v1/flows/x-1/pcap", Analyst, axum::routing::get(download::flow_pcap)),
        route(M::GET, "/api/v1/pcap", "/api/v1/pcap?q=*", Analyst, axum::routing::get(download::search_pcap)),
        route(M::GET, "/api/v1/artifacts/{sha256}", "/api/v1/artifacts/00", Analyst, axum::routing::get(download::artifact)),
        route(M::GET, "/api/v1/saved", "/api/v1/saved", Analyst, axum::routing::get(api::saved_list)),
        route(M::POST, "/api/v1/saved", "/api/v1/saved", Analyst, axum::routing::post(api::saved_add)),
        route(M::DELETE, "/api/v1/saved/{id}", "/api/v1/saved/x", Analyst, axum::routing::delete(api::saved_delete)),
        route(M::POST, "/api/v1/tokens", "/api/v1/tokens", Analyst, axum::routing::post(api::token_create)),
        route(M::GET, "/api/v1/attackers", "/api/v1/attackers", Analyst, axum::routing::get(detector_api::attackers)),
        route(M::POST, "/api/v1/attackers", "/api/v1/attackers", Admin, axum::routing::post(detector_api::flag)),
        route(M::DELETE, "/api/v1/attackers/{address}", "/api/v1/attackers/203.0.113.1", Admin, axum::routing::delete(detector_api::unflag)),
        route(M::GET, "/api/v1/detections", "/api/v1/detections", Analyst, axum::routing::get(detector_api::detections)),
        route(M::GET, "/api/v1/policy", "/api/v1/policy", Admin, axum::routing::get(detector_api::policy)),
        route(M::GET, "/api/v1/agents", "/api/v1/agents", Admin, axum::routing::get(detector_api::agents)),
        route(M::GET, "/api/v1/users", "/api/v1/users", Admin, axum::routing::get(api::users)),
        route(M::POST, "/api/v1/users", "/api/v1/users", Admin, axum::routing::post(api::user_add)),
    ]
}

/// The application: every route, the CSRF guard and the security headers.
pub fn app(state: AppState) -> Router {
    let mut router: Router<AppState> = Router::new();
    for r in routes() {
        router = router.route(r.path, r.handler);
    }
    router
        .fallback(assets::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::csrf_guard))
        .layer(axum::middleware::from_fn(assets::security_headers))
        .with_state(state)
}

/// Serves `app` on `listener` until ctrl-c.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// Serves `app` over HTTPS on `listener` until ctrl-c.
pub async fn serve_tls(state: AppState, listener: tls::TlsListener) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // `tap_io` gives the listener's peer address to `ConnectInfo`.
    axum::serve(listener.tap_io(|_| {}), app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
