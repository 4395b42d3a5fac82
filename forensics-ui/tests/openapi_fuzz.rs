//! The property-based API fuzzer schemathesis (from PyPI: `st`) against
//! `/api/openapi.json`, on data ingested from the captures and a real
//! Redis holding the detector's state, authenticated with an admin's
//! bearer token: no 5xx, every answer as the document says.

mod common;

use std::process::Command;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let st = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("st"))
                .find(|p| p.is_file())
        })
        .expect("schemathesis is missing: `python3 -m pip install schemathesis` (scripts/deps.sh does it)");
    let dir = demo_data();
    let data = data_dir(&dir);
    let redis = common::redis::Redis::start();
    let store = detector::state::Store::connect(&redis.url).await.unwrap();
    store.publish_rules(detector::rules::Rules::builtin().all()).await.unwrap();
    store.flag("203.0.113.9".parse().unwrap(), 3600, "test").await.unwrap();
    let (app, state) = common::app_with_redis(&data, Some(&redis.url));
    let token = state.update_accounts(|a| a.create_token(ADMIN.0)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .await
            .unwrap();
    });
    // Real identifiers as examples, so that the fuzzer reaches sessions,
    // flows and files that exist, not only 404s.
    let example = |kind, field: &str| {
        let hits = capture::ops::search(&data, Some(kind), "*", 1).unwrap();
        hits[0][field].as_str().unwrap().to_string()
    };
    let session = example(capture::index::Kind::Sessions, "session_id");
    let browser = capture::ops::browse::Browser::open(&data).unwrap();
    let flow_key = browser.search(capture::index::Kind::Flows, "protocol:ftp", 0, 1).unwrap().hits[0]["flow_key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut doc = forensics_ui::openapi::spec();
    for (_, item) in doc["paths"].as_object_mut().unwrap() {
        for (_, op) in item.as_object_mut().unwrap() {
            for p in op["parameters"].as_array_mut().unwrap() {
                match p["name"].as_str().unwrap() {
                    "id" => p["example"] = session.clone().into(),
                    "key" => p["example"] = flow_key.clone().into(),
                    "q" => p["example"] = "type:ftp.login".into(),
                    "address" => p["example"] = "203.0.113.9".into(),
                    _ => {}
                }
            }
        }
    }
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, doc.to_string()).unwrap();
    let reports = dir.path().join("st-reports");
    let work = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .arg("run")
            .arg(&spec)
            .args(["--url", &base])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", "60", "--seed", "7", "--workers", "2"])
            .args(["--report-dir"])
            .arg(&reports)
            .env("NO_COLOR", "1")
            // schemathesis keeps a cache in its working folder.
            .current_dir(&work)
            .output()
            .expect("st runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{stdout}");
}
