//! Static files embedded in the binary, the health check, and the headers
//! every answer carries (a strict Content-Security-Policy: no inline
//! script, so text from a capture can never run as code).

use axum::extract::{Path, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
struct Static;

pub async fn health() -> &'static str {
    "ok\n"
}

pub async fn file(Path(path): Path<String>) -> Response {
    let Some(f) = Static::get(&path) else {
        return AppError::not_found().page().into_response();
    };
    let mime = match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        f.data.into_owned(),
    )
        .into_response()
}

pub async fn not_found(req: Request) -> AppError {
    let e = AppError::not_found();
    if crate::auth::is_api(req.uri().path()) {
        e
    } else {
        e.page()
    }
}

pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    r
}
