//! Shared by the UI tests: a data folder ingested from the real captures
//! in `captures/` plus one hostile capture made here, an app on it, and
//! signed-in clients.
#![allow(dead_code)]

// A real redis-server per test: the detector tests' helper, one file for both.
#[path = "../../../detector/tests/common/redis.rs"]
pub mod redis;

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use forensics_ui::{AppState, Config, Role};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every capture under `captures/`.
pub fn captures() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in std::fs::read_dir(repo().join("captures")).unwrap() {
        let d = d.unwrap().path();
        if d.is_dir() {
            for f in std::fs::read_dir(&d).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "pcap") {
                    v.push(f);
                }
            }
        }
    }
    v.sort();
    assert!(!v.is_empty(), "no captures under captures/");
    v
}

/// Strings an attacker controls, meant to run if a page treated them as
/// markup.
pub const HOSTILE_URI: &str = "/<script>window.__pwned=1</script>\"'><img src=x onerror=window.__pwned=2>";
pub const HOSTILE_HOST: &str = "<b>evil</b>\u{1b}[31m";
pub const HOSTILE_USER: &str = "<script>window.__pwned=3</script>";

/// A classic pcap writer for frames we build.
struct Pcap(Vec<u8>);

impl Pcap {
    fn new() -> Pcap {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        Pcap(v)
    }
    fn frame(&mut self, ts_us: u64, f: &[u8]) {
        self.0.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        self.0.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        self.0.extend_from_slice(&(f.len() as u32).to_le_bytes());
        self.0.extend_from_slice(&(f.len() as u32).to_le_bytes());
        self.0.extend_from_slice(f);
    }
}

/// One TCP segment from `(address, port)` to `(address, port)`.
fn tcp_frame((src, sport): ([u8; 4], u16), (dst, dport): ([u8; 4], u16), seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = 20 + 20 + payload.len();
    let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let mut sum: u32 = ip.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    ip[10] = (ck >> 8) as u8;
    ip[11] = ck as u8;
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// One TCP conversation: handshake, the exchanges in turn, FIN both ways.
fn conversation(p: &mut Pcap, t: &mut u64, client: [u8; 4], server: [u8; 4], sport: u16, dport: u16, turns: &[(bool, &[u8])]) {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    const FIN: u8 = 0x01;
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let mut step = |p: &mut Pcap, f: Vec<u8>| {
        *t += 20_000;
        p.frame(*t, &f);
    };
    step(p, tcp_frame((client, sport), (server, dport), cs, 0, SYN, b""));
    step(p, tcp_frame((server, dport), (client, sport), ss, cs + 1, SYN | ACK, b""));
    cs += 1;
    ss += 1;
    step(p, tcp_frame((client, sport), (server, dport), cs, ss, ACK, b""));
    for (from_client, data) in turns {
        if *from_client {
            step(p, tcp_frame((client, sport), (server, dport), cs, ss, ACK | PSH, data));
            cs += data.len() as u32;
            step(p, tcp_frame((server, dport), (client, sport), ss, cs, ACK, b""));
        } else {
            step(p, tcp_frame((server, dport), (client, sport), ss, cs, ACK | PSH, data));
            ss += data.len() as u32;
            step(p, tcp_frame((client, sport), (server, dport), cs, ss, ACK, b""));
        }
    }
    step(p, tcp_frame((client, sport), (server, dport), cs, ss, ACK | FIN, b""));
    step(p, tcp_frame((server, dport), (client, sport), ss, cs + 1, ACK | FIN, b""));
    step(p, tcp_frame((client, sport), (server, dport), cs + 1, ss + 1, ACK, b""));
}

/// A capture whose attacker sends HTML, script tags and control
/// characters through HTTP and FTP.
pub fn hostile_pcap(path: &Path) {
    use base64::Engine;
    let mut p = Pcap::new();
    let mut t = 1_700_000_000_000_000u64;
    let (c, s) = ([198, 51, 100, 66], [192, 0, 2, 10]);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{HOSTILE_USER}:pw\u{7}"));
    let req = format!("GET {HOSTILE_URI} HTTP/1.1\r\nHost: {HOSTILE_HOST}\r\nAuthorization: Basic {auth}\r\nUser-Agent: \u{0}\u{8}<svg onload=alert(1)>\r\n\r\n");
    conversation(&mut p, &mut t, c, s, 40001, 80, &[
        (true, req.as_bytes()),
        (false, b"HTTP/1.1 404 Not Found\r\nContent-Length: 22\r\n\r\n<script>x=1</script>\r\n"),
    ]);
    let user = format!("USER {HOSTILE_USER}\r\n");
    conversation(&mut p, &mut t, c, s, 40002, 21, &[
        (false, b"220 (vsFTPd 3.0.3)\r\n"),
        (true, user.as_bytes()),
        (false, b"331 Please specify the password.\r\n"),
        (true, b"PASS <iframe src=javascript:alert(1)>\r\n"),
        (false, b"530 Login incorrect.\r\n"),
        (true, b"QUIT\r\n"),
        (false, b"221 Goodbye.\r\n"),
    ]);
    std::fs::write(path, p.0).unwrap();
}

/// A data folder with every capture and the hostile one ingested.
pub fn demo_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir.path().join("hostile.pcap");
    hostile_pcap(&hostile);
    let data = dir.path().join("data");
    let mut files = captures();
    files.push(hostile);
    capture::ops::ingest(&data, &files, &capture::ops::Options::default(), &mut |_| {}).unwrap();
    dir
}

pub fn data_dir(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data")
}

pub const ANALYST: (&str, &str) = ("ana", "analyst-password-1");
pub const ADMIN: (&str, &str) = ("root-admin", "admin-password-1");

/// The app on `data`, with one analyst and one admin.
pub fn app(data: &Path) -> (Router, AppState) {
    app_with_redis(data, None)
}

/// The same, reading the detector's state from `redis_url`.
pub fn app_with_redis(data: &Path, redis_url: Option<&str>) -> (Router, AppState) {
    let (state, first) = AppState::new(Config {
        data: data.to_path_buf(),
        secure_cookies: false,
        redis_url: redis_url.map(str::to_string),
    })
    .unwrap();
    assert!(first.is_some() || data.join("ui/accounts.json").exists());
    state
        .update_accounts(|a| {
            a.set_user(ANALYST.0, Role::Analyst, ANALYST.1)?;
            a.set_user(ADMIN.0, Role::Admin, ADMIN.1)
        })
        .unwrap();
    (forensics_ui::app(state.clone()), state)
}

pub async fn send(app: &Router, req: Request<Body>) -> Response<Body> {
    app.clone().oneshot(req).await.unwrap()
}

pub async fn body(r: Response<Body>) -> Vec<u8> {
    r.into_body().collect().await.unwrap().to_bytes().to_vec()
}

pub async fn text(r: Response<Body>) -> String {
    String::from_utf8(body(r).await).unwrap()
}

fn set_cookie(r: &Response<Body>, name: &str) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A signed-in browser session: its cookie and CSRF token.
#[derive(Clone, Debug)]
pub struct Client {
    pub cookie: String,
    pub csrf: String,
}

impl Client {
    pub fn get(&self, uri: &str) -> Request<Body> {
        Request::get(uri)
            .header(header::COOKIE, format!("kyoka_session={}", self.cookie))
            .body(Body::empty())
            .unwrap()
    }
    pub fn with(&self, method: &str, uri: &str, csrf: Option<&str>, json: &str) -> Request<Body> {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, format!("kyoka_session={}", self.cookie))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(c) = csrf {
            b = b.header("x-csrf-token", c);
        }
        b.body(Body::from(json.to_string())).unwrap()
    }
    /// A page form post with this session's CSRF token.
    pub fn form(&self, uri: &str, fields: &[(&str, &str)]) -> Request<Body> {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        Request::post(uri)
            .header(header::COOKIE, format!("kyoka_session={}", self.cookie))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(serde_urlencoded::to_string(all).unwrap()))
            .unwrap()
    }
}

pub async fn try_login(app: &Router, user: &str, password: &str) -> Response<Body> {
    let form = send(app, Request::get("/login").body(Body::empty()).unwrap()).await;
    let pre = set_cookie(&form, "kyoka_pre").expect("the sign-in form sets its cookie");
    let body = serde_urlencoded::to_string([("user", user), ("password", password), ("csrf", &pre)]).unwrap();
    send(
        app,
        Request::post("/login")
            .header(header::COOKIE, format!("kyoka_pre={pre}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

pub async fn login(app: &Router, user: &str, password: &str) -> Client {
    let r = try_login(app, user, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {user}");
    let cookie = set_cookie(&r, "kyoka_session").expect("session cookie");
    let me = send(
        app,
        Request::get("/api/v1/me")
            .header(header::COOKIE, format!("kyoka_session={cookie}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let me: serde_json::Value = serde_json::from_slice(&body(me).await).unwrap();
    Client {
        cookie,
        csrf: me["csrf"].as_str().unwrap().to_string(),
    }
}
