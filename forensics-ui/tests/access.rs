//! Locked down: every route of the router but sign-in, health and static
//! files refuses a request without a session (401 for the API, a redirect
//! to /login for pages) and one with the wrong role (403); forged or
//! missing CSRF tokens are refused; sign-in is rate-limited; cookies are
//! HttpOnly and SameSite=Strict.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::*;
use forensics_ui::{routes, Access};

fn request(method: &Method, uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().method(method.clone()).uri(uri);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("kyoka_session={c}"));
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn every_route_needs_a_session_and_the_right_role() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path());
    let analyst = login(&app, ANALYST.0, ANALYST.1).await;
    let admin = login(&app, ADMIN.0, ADMIN.1).await;
    let public: Vec<_> = routes()
        .iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| r.path)
        .collect();
    assert_eq!(public, ["/health", "/static/{*path}", "/login", "/login"], "only sign-in, health and static files are public");
    let mut checked = 0;
    for r in routes() {
        let api = r.path.starts_with("/api/");
        // Without a session.
        let resp = send(&app, request(&r.method, r.example, None)).await;
        match r.access {
            Access::Public => assert!(
                resp.status() != StatusCode::UNAUTHORIZED && resp.status() != StatusCode::FORBIDDEN || r.method == Method::POST,
                "{} {} is public",
                r.method,
                r.path
            ),
            _ if api => assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{} {} without a session", r.method, r.path),
            _ if r.method == Method::GET => {
                assert!(resp.status().is_redirection(), "{} {} without a session: {}", r.method, r.path, resp.status());
                assert_eq!(resp.headers()[header::LOCATION], "/login");
            }
            // A page's form post without a session: no session means no
            // CSRF token either, so it must not do anything.
            _ => assert!(
                resp.status().is_redirection() || resp.status() == StatusCode::FORBIDDEN,
                "{} {} without a session: {}",
                r.method,
                r.path,
                resp.status()
            ),
        }
        // A bearer token that is not one.
        if r.access != Access::Public {
            let resp = send(
                &app,
                Request::builder()
                    .method(r.method.clone())
                    .uri(r.example)
                    .header(header::AUTHORIZATION, "Bearer kyoka_forged")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert!(
                resp.status() == StatusCode::UNAUTHORIZED || resp.status().is_redirection(),
                "{} {} with a forged token: {}",
                r.method,
                r.path,
                resp.status()
            );
        }
        // With the wrong role (with a valid CSRF token, so that the role is
        // what is refused).
        if r.access == Access::Admin {
            let mut req = request(&r.method, r.example, Some(&analyst.cookie));
            req.headers_mut().insert("x-csrf-token", analyst.csrf.parse().unwrap());
            let resp = send(&app, req).await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{} {} as an analyst", r.method, r.path);
            let mut req = request(&r.method, r.example, Some(&admin.cookie));
            req.headers_mut().insert("x-csrf-token", admin.csrf.parse().unwrap());
            let resp = send(&app, req).await;
            assert_ne!(resp.status(), StatusCode::FORBIDDEN, "{} {} as an admin", r.method, r.path);
            assert_ne!(resp.status(), StatusCode::UNAUTHORIZED, "{} {} as an admin", r.method, r.path);
        }
        if r.access == Access::Analyst && r.method == Method::GET && r.path != "/api/v1/overview/live" {
            let resp = send(&app, request(&r.method, r.example, Some(&analyst.cookie))).await;
            assert!(
                resp.status() != StatusCode::UNAUTHORIZED && resp.status() != StatusCode::FORBIDDEN,
                "{} {} as an analyst: {}",
                r.method,
                r.path,
                resp.status()
            );
            // An empty data folder answers 503 "no data yet", never 500.
            assert_ne!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{} {}", r.method, r.path);
        }
        checked += 1;
    }
    assert!(checked >= 30);
}

#[tokio::test]
async fn forged_csrf_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (app, state) = app(dir.path());
    let c = login(&app, ANALYST.0, ANALYST.1).await;
    let body = r#"{"name":"n","query":"user:root"}"#;
    for forged in [None, Some(""), Some("00"), Some(&"a".repeat(64)[..])] {
        let r = send(&app, c.with("POST", "/api/v1/saved", forged, body)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "CSRF token {forged:?}");
    }
    assert!(state.accounts().saved.is_empty(), "a refused request changed nothing");
    // Another session's token is not this session's.
    let other = login(&app, ADMIN.0, ADMIN.1).await;
    let r = send(&app, c.with("POST", "/api/v1/saved", Some(&other.csrf), body)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = send(&app, c.with("POST", "/api/v1/saved", Some(&c.csrf), body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // A form post (sign out) needs the form's token too.
    let form = |csrf: &str| {
        Request::post("/logout")
            .header(header::COOKIE, format!("kyoka_session={}", c.cookie))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap()
    };
    assert_eq!(send(&app, form("forged")).await.status(), StatusCode::FORBIDDEN);
    let r = send(&app, send_get_me(&c)).await;
    assert_eq!(r.status(), StatusCode::OK, "still signed in after the forged sign-out");
    assert_eq!(send(&app, form(&c.csrf)).await.status(), StatusCode::SEE_OTHER);
    let r = send(&app, send_get_me(&c)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "signed out");
    // The sign-in form's own double-submit token.
    let r = send(
        &app,
        Request::post("/login")
            .header(header::COOKIE, "kyoka_pre=abc")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("user={}&password={}&csrf=xyz", ANALYST.0, ANALYST.1)))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

fn send_get_me(c: &Client) -> Request<Body> {
    c.get("/api/v1/me")
}

#[tokio::test]
async fn bearer_tokens_work_for_scripts_without_csrf() {
    let dir = tempfile::tempdir().unwrap();
    let (app, state) = app(dir.path());
    let token = state.update_accounts(|a| a.create_token(ANALYST.0)).unwrap();
    let stored = std::fs::read_to_string(dir.path().join("ui/accounts.json")).unwrap();
    assert!(!stored.contains(&token), "only the token's hash is stored");
    assert!(!stored.contains(ANALYST.1), "only the password's hash is stored");
    assert!(stored.contains("$argon2id$"));
    let auth = |m: &str, uri: &str, body: &str| {
        Request::builder()
            .method(m)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let r = send(&app, auth("GET", "/api/v1/me", "")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: serde_json::Value = serde_json::from_slice(&body(r).await).unwrap();
    assert_eq!(me["name"], ANALYST.0);
    let r = send(&app, auth("POST", "/api/v1/saved", r#"{"name":"a","query":"*"}"#)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = send(&app, auth("GET", "/api/v1/users", "")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "an analyst's token has an analyst's rights");
}

#[tokio::test]
async fn sign_in_is_rate_limited_and_cookies_are_locked_down() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path());
    let r = try_login(&app, ANALYST.0, ANALYST.1).await;
    let cookie = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("kyoka_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} has {attr}");
    }
    assert!(!cookie.contains("Secure"), "no Secure over plain HTTP");
    for _ in 0..forensics_ui::auth::LIMIT_FAILURES {
        let r = try_login(&app, ANALYST.0, "wrong password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits.
    let r = try_login(&app, ANALYST.0, ANALYST.1).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    // Errors never carry internals.
    let r = send(&app, Request::get("/api/v1/nothing-here").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let t = text(r).await;
    assert!(!t.contains('/') || t.contains("not found"), "{t}");
}

#[tokio::test]
async fn secure_cookies_under_https_and_first_admin_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = forensics_ui::Config {
        data: dir.path().to_path_buf(),
        secure_cookies: true,
        redis_url: None,
    };
    let (state, first) = forensics_ui::AppState::new(cfg.clone()).unwrap();
    let password = first.expect("first start creates an admin");
    let (_, again) = forensics_ui::AppState::new(cfg).unwrap();
    assert!(again.is_none(), "the password is made and shown once");
    let app = forensics_ui::app(state);
    let r = try_login(&app, "admin", &password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let c = r.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(c.contains("; Secure"), "{c}");
}
