//! Server time of the forensics UI on a large data folder, in process
//! (the router called without a socket, as a request arrives):
//! the search page for twenty analyst queries, and opening a session of
//! about 10,000 packets (page + summary + first timeline page + density).
//!
//! `cargo run --release -p forensics-ui --example ui_latency -- DATA [RUNS]`

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

const QUERIES: &[(&str, &str)] = &[
    ("events", "type:ftp.login success:false"),
    ("events", "type:ftp.login"),
    ("events", "password:123456"),
    ("events", "user:webadmin"),
    ("events", "src_ip:10.0.102.203"),
    ("flows", "src_ip:10.0.0.0/8 AND dst_port:22"),
    ("events", "dst_ip:172.16.3.10"),
    ("events", "query:select"),
    ("events", "type:mysql.command AND command:query"),
    ("events", "type:redis.command AND command:config"),
    ("events", "protocol:http AND uri:admin"),
    ("events", "method:POST"),
    ("events", "type:ssh.auth AND success:true"),
    ("events", "ts:[2023-11-14T22:13:30Z TO 2023-11-14T22:13:31Z]"),
    ("events", "type:anomaly"),
    ("events", "customers"),
    ("events", "\"SELECT COUNT\""),
    ("events", "host:files.example"),
    ("sessions", "logins:>0"),
    ("events", ""),
];

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let data = std::path::PathBuf::from(args.next().expect("usage: ui_latency DATA [RUNS]"));
    let runs: usize = args.next().map(|r| r.parse().expect("RUNS")).unwrap_or(20);
    let (state, _) = forensics_ui::AppState::new(forensics_ui::Config {
        data: data.clone(),
        secure_cookies: false,
        redis_url: None,
    })
    .expect("state");
    let token = state
        .update_accounts(|a| {
            let name = a.users.iter().find(|u| u.role == forensics_ui::Role::Admin).map(|u| u.name.clone()).unwrap();
            a.create_token(&name)
        })
        .expect("token");
    let app = forensics_ui::app(state);
    let get = |uri: String| {
        let app = app.clone();
        let token = token.clone();
        async move {
            let t = Instant::now();
            let r = app
                .oneshot(Request::get(&uri).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = r.status();
            let body = r.into_body().collect().await.unwrap().to_bytes();
            let took = t.elapsed();
            assert_eq!(status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&body));
            (took, body)
        }
    };
    let enc = |q: &str| serde_urlencoded::to_string([("q", q)]).unwrap();
    println!("search page (GET /search, server-rendered, 50 results), {runs} runs after a warm-up:");
    println!("{:>8} {:>8}  query", "median", "p95");
    let mut all = Vec::new();
    for (kind, q) in QUERIES {
        let uri = format!("/search?kind={kind}&{}", enc(q));
        get(uri.clone()).await;
        let mut v = Vec::new();
        for _ in 0..runs {
            v.push(get(uri.clone()).await.0);
        }
        all.extend(v.iter().copied());
        println!("{:>7.2}ms {:>7.2}ms  {kind}: {q}", pct(&mut v, 0.5), pct(&mut v, 0.95));
    }
    println!("all search pages: median {:.2} ms, p95 {:.2} ms, max {:.2} ms ({} requests)", pct(&mut all, 0.5), pct(&mut all, 0.95), pct(&mut all, 1.0), all.len());
    let mut hist = Vec::new();
    for (kind, q) in QUERIES {
        let uri = format!("/api/v1/histogram?kind={kind}&buckets=100&{}", enc(q));
        get(uri.clone()).await;
        for _ in 0..runs / 4 + 1 {
            hist.push(get(uri.clone()).await.0);
        }
    }
    println!("histograms (/api/v1/histogram, 100 buckets): median {:.2} ms, p95 {:.2} ms", pct(&mut hist, 0.5), pct(&mut hist, 0.95));

    // The session closest above 10,000 packets.
    let (_, body) = get(format!("/api/v1/search?kind=sessions&limit=500&{}", enc("packets:>=10000"))).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let Some(s) = v["hits"].as_array().unwrap().iter().min_by_key(|s| s["packets"].as_u64().unwrap_or(u64::MAX)) else {
        println!("no session with 10,000 packets or more");
        return;
    };
    let id = s["session_id"].as_str().unwrap().to_string();
    println!(
        "session {id}: {} packets, {} flows, {} events",
        s["packets"], s["flows"], s["events"]
    );
    let parts = [
        format!("/sessions/{id}"),
        format!("/api/v1/sessions/{id}"),
        format!("/api/v1/sessions/{id}/timeline?offset=0&limit=200"),
        format!("/api/v1/sessions/{id}/density?buckets=300"),
    ];
    let mut totals = Vec::new();
    let mut each: Vec<Vec<Duration>> = vec![Vec::new(); parts.len()];
    for run in 0..=runs {
        let mut sum = Duration::ZERO;
        for (i, p) in parts.iter().enumerate() {
            let (t, _) = get(p.clone()).await;
            if run > 0 {
                each[i].push(t);
            }
            sum += t;
        }
        if run > 0 {
            totals.push(sum);
        }
    }
    for (p, v) in parts.iter().zip(each.iter_mut()) {
        println!("{:>7.2}ms {:>7.2}ms  {p}", pct(v, 0.5), pct(v, 0.95));
    }
    println!("opening the session (all four, one after the other): median {:.2} ms, p95 {:.2} ms", pct(&mut totals, 0.5), pct(&mut totals, 0.95));
}
