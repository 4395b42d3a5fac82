//! Search, sessions, flows and downloads against data ingested from the
//! real captures (plus one hostile capture): results, paging, errors at
//! their column, the histogram, the timeline in pages, packets, streams,
//! byte-identical pcaps, and hostile strings shown as text.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

async fn json(app: &axum::Router, c: &Client, uri: &str) -> (StatusCode, Value) {
    let r = send(app, c.get(uri)).await;
    let s = r.status();
    let b = body(r).await;
    (s, serde_json::from_slice(&b).unwrap_or_else(|_| panic!("{uri}: not JSON: {}", String::from_utf8_lossy(&b))))
}

fn q(s: &str) -> String {
    serde_urlencoded::to_string([("q", s)]).unwrap()
}

#[tokio::test]
async fn search_pages_histogram_and_errors() {
    let dir = demo_data();
    let (app, _) = app(&data_dir(&dir));
    let c = login(&app, ANALYST.0, ANALYST.1).await;

    let (s, all) = json(&app, &c, "/api/v1/search?kind=events&limit=500").await;
    assert_eq!(s, StatusCode::OK);
    let total = all["total"].as_u64().unwrap();
    assert!(total > 50, "events from the captures: {total}");
    // Paging: two pages of 7 are the first 14, newest first.
    let (_, p1) = json(&app, &c, "/api/v1/search?kind=events&limit=7").await;
    let (_, p2) = json(&app, &c, "/api/v1/search?kind=events&limit=7&offset=7").await;
    let mut two: Vec<Value> = p1["hits"].as_array().unwrap().clone();
    two.extend(p2["hits"].as_array().unwrap().iter().cloned());
    let ts: Vec<&str> = two.iter().map(|h| h["ts"].as_str().unwrap()).collect();
    let first14: Vec<&str> = all["hits"].as_array().unwrap()[..14].iter().map(|h| h["ts"].as_str().unwrap()).collect();
    assert_eq!(ts, first14);
    assert!(ts.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Sessions and flows tabs.
    let (_, sessions) = json(&app, &c, "/api/v1/search?kind=sessions").await;
    assert!(sessions["total"].as_u64().unwrap() >= 2, "{sessions}");
    let (_, ftp) = json(&app, &c, &format!("/api/v1/search?kind=flows&{}", q("protocol:ftp"))).await;
    assert!(ftp["hits"].as_array().unwrap().iter().all(|f| f["protocol"] == "ftp" && f["flow_key"].is_string()));

    // The histogram counts what the search finds.
    let (s, h) = json(&app, &c, &format!("/api/v1/histogram?kind=events&buckets=50&{}", q("type:ftp.*"))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, f) = json(&app, &c, &format!("/api/v1/search?kind=events&limit=1&{}", q("type:ftp.*"))).await;
    assert_eq!(h["total"], f["total"]);
    assert_eq!(h["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum::<u64>(), h["total"].as_u64().unwrap());
    // A time range narrows both.
    let (_, narrow) = json(&app, &c, "/api/v1/search?kind=events&from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z").await;
    assert_eq!(narrow["total"], 0);

    // A bad query: 400 with the column in the user's own text.
    let (s, e) = json(&app, &c, &format!("/api/v1/search?{}", q("user:root AND ts:[now-1x TO now]"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["column"].as_u64().unwrap() >= 15, "{e}");
    let (s, e2) = json(&app, &c, &format!("/api/v1/search?from=now-7d&{}", q("user:root AND ts:[now-1x TO now]"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e2["column"], e["column"], "a time range does not move the column");
    let (s, _) = json(&app, &c, "/api/v1/search?limit=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = json(&app, &c, "/api/v1/search?from=1%20OR%20x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = json(&app, &c, "/api/v1/search?kind=bogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The overview: sources, protocols, credentials and commands.
    let (s, o) = json(&app, &c, "/api/v1/overview").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(o["stats"]["events"].as_u64().unwrap(), total);
    assert!(o["top_sources"].as_array().unwrap().iter().any(|x| x["ip"] == "192.0.2.1"), "{}", o["top_sources"]);
    let creds = o["credentials"].as_array().unwrap();
    assert!(creds.iter().any(|x| x["user"] == "webadmin" && x["password"] == "123456" && x["type"] == "ftp.login ok"), "{creds:?}");
    assert!(creds.iter().all(|x| x["type"].as_str().unwrap().contains(".login") || x["type"].as_str().unwrap().contains(".auth")));
    assert!(o["commands"].as_array().unwrap().iter().all(|x| !x["command"].as_str().unwrap().trim().is_empty()));
    assert!(o["protocols"].as_array().unwrap().len() >= 6);

    // The page: a permalink renders the same results, and the error shows
    // at its column.
    let r = send(&app, c.get(&format!("/search?kind=events&{}", q("type:ftp.login")))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = text(r).await;
    assert!(page.contains("ftp.login"), "results on the page");
    let r = send(&app, c.get(&format!("/search?{}", q("user:(")))).await;
    let page = text(r).await;
    assert!(page.contains("id=\"query-error\""), "error shown");
    assert!(page.contains("data-column="), "with its column");
}

#[tokio::test]
async fn hostile_strings_are_text_never_markup() {
    let dir = demo_data();
    let (app, _) = app(&data_dir(&dir));
    let c = login(&app, ANALYST.0, ANALYST.1).await;
    let (_, hits) = json(&app, &c, &format!("/api/v1/search?kind=events&{}", q("src_ip:198.51.100.66"))).await;
    let dump = hits.to_string();
    assert!(dump.contains("window.__pwned=1"), "the hostile URI was decoded and indexed: {dump}");
    assert!(dump.contains("window.__pwned=3"), "the hostile FTP user was decoded and indexed");
    for kind in ["events", "sessions", "flows"] {
        let r = send(&app, c.get(&format!("/search?kind={kind}&{}", q("src_ip:198.51.100.66")))).await;
        assert_eq!(r.status(), StatusCode::OK);
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        let page = text(r).await;
        for raw in ["<script>window", "<img src=x", "<b>evil", "<svg onload", "<iframe"] {
            assert!(!page.contains(raw), "{kind}: {raw:?} must be escaped");
        }
        assert!(!page.contains('\u{1b}') || kind != "events", "control characters are not passed raw in cells? (escaped or kept as text)");
        if kind == "events" {
            // Escaped as entities (askama writes them numerically).
            let page = page.replace("&#60;", "&lt;").replace("&#62;", "&gt;");
            assert!(page.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;") || page.contains("&lt;script&gt;window.__pwned=3"), "shown as text");
        }
    }
    // The session page and its summary.
    let (_, s) = json(&app, &c, &format!("/api/v1/search?kind=sessions&{}", q("src_ip:198.51.100.66"))).await;
    let id = s["hits"][0]["session_id"].as_str().unwrap().to_string();
    let page = text(send(&app, c.get(&format!("/sessions/{id}"))).await).await;
    assert!(!page.contains("<script>window"), "session page escapes");
    let page = page.replace("&#60;", "&lt;").replace("&#62;", "&gt;");
    assert!(page.contains("&lt;script&gt;window.__pwned=3"), "users shown as text");
    // A JSON answer is JSON, never HTML the browser would sniff.
    let r = send(&app, c.get(&format!("/api/v1/sessions/{id}/timeline"))).await;
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn sessions_timeline_packets_streams_and_pcaps() {
    let dir = demo_data();
    let data = data_dir(&dir);
    let (app, _) = app(&data);
    let c = login(&app, ANALYST.0, ANALYST.1).await;
    let (_, s) = json(&app, &c, &format!("/api/v1/search?kind=sessions&{}", q("protocol:ftp"))).await;
    // The FTP session with most events.
    let sess = s["hits"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|h| h["events"].as_u64().unwrap())
        .unwrap()
        .clone();
    let id = sess["session_id"].as_str().unwrap();
    let (st, detail) = json(&app, &c, &format!("/api/v1/sessions/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    let flows = detail["flows"].as_array().unwrap();
    assert_eq!(flows.len() as u64, sess["flows"].as_u64().unwrap());

    // The timeline in pages of 5 is the whole timeline, oldest first.
    let (_, whole) = json(&app, &c, &format!("/api/v1/sessions/{id}/timeline?limit=500")).await;
    let total = whole["total"].as_u64().unwrap();
    assert_eq!(total, sess["events"].as_u64().unwrap());
    let mut paged = Vec::new();
    let mut offset = 0;
    while offset < total {
        let (_, p) = json(&app, &c, &format!("/api/v1/sessions/{id}/timeline?limit=5&offset={offset}")).await;
        let hits = p["hits"].as_array().unwrap();
        assert!(!hits.is_empty());
        offset += hits.len() as u64;
        paged.extend(hits.iter().cloned());
    }
    assert_eq!(paged, *whole["hits"].as_array().unwrap());
    let ts: Vec<&str> = paged.iter().map(|e| e["ts"].as_str().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "time order");

    // Density counts every stored packet of the session's flows.
    let (_, d) = json(&app, &c, &format!("/api/v1/sessions/{id}/density?buckets=40")).await;
    let packets: u64 = d["flows"].as_array().unwrap().iter().map(|f| f[1].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum::<u64>()).sum();
    let stored: u64 = flows.iter().map(|f| f["packets_stored"].as_u64().unwrap()).sum();
    assert_eq!(packets, stored);

    // The control flow's packets and stream.
    let ctrl = flows.iter().find(|f| f["protocol"] == "ftp").unwrap();
    let key = ctrl["flow_key"].as_str().unwrap();
    let (_, p) = json(&app, &c, &format!("/api/v1/flows/{key}/packets?limit=3")).await;
    assert_eq!(p["total"], ctrl["packets_stored"]);
    assert_eq!(p["packets"][0]["dir"], "c2s", "the SYN comes from the client");
    assert!(p["packets"][0]["frame_hex"].as_str().unwrap().len() >= 108);
    let (_, stream) = json(&app, &c, &format!("/api/v1/flows/{key}/stream")).await;
    let parts = stream["parts"].as_array().unwrap();
    assert!(parts[0]["dir"] == "s2c" && parts[0]["text"].as_str().unwrap().starts_with("220"), "banner first: {}", parts[0]);
    assert!(parts.iter().any(|p| p["dir"] == "c2s" && p["text"].as_str().unwrap().contains("USER ")));

    // Downloads are what `capture::ops::export` writes.
    let tmp = tempfile::tempdir().unwrap();
    for (uri, query) in [
        (format!("/api/v1/sessions/{id}/pcap"), format!("session_id:\"{id}\"")),
        (format!("/api/v1/pcap?{}", q("type:ftp.login")), "type:ftp.login".to_string()),
        (
            format!("/api/v1/flows/{key}/pcap"),
            format!("flow_id:\"{}\" AND session_id:\"{id}\"", ctrl["flow"]["id"].as_str().unwrap()),
        ),
    ] {
        let r = send(&app, c.get(&uri)).await;
        assert_eq!(r.status(), StatusCode::OK, "{uri}");
        assert_eq!(r.headers()["content-type"], "application/vnd.tcpdump.pcap");
        let got = body(r).await;
        let out = tmp.path().join("x.pcap");
        capture::ops::export(&data, &query, &out).unwrap();
        let want = std::fs::read(&out).unwrap();
        assert!(want.len() > 24, "{query} exports packets");
        assert_eq!(got, want, "{uri} is byte for byte the export");
    }
    assert!(std::fs::read_dir(data.join("ui/tmp")).unwrap().next().is_none(), "no temporary pcap left behind");

    // Extracted files download; unknown ones are 404.
    let (_, files) = json(&app, &c, &format!("/api/v1/search?kind=events&{}", q("type:ftp.transfer"))).await;
    let kept: Vec<&str> = files["hits"].as_array().unwrap().iter().filter_map(|e| e["artifact"].as_str()).collect();
    assert!(!kept.is_empty(), "the FTP capture keeps files");
    for sha in kept {
        // Packed with others in one file: exactly its own bytes come back.
        let r = send(&app, c.get(&format!("/api/v1/artifacts/{sha}"))).await;
        assert_eq!(r.status(), StatusCode::OK, "{sha}");
        let b = body(r).await;
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(&b)), sha);
    }
    let r = send(&app, c.get(&format!("/api/v1/artifacts/{}", "0".repeat(64)))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = send(&app, c.get("/api/v1/artifacts/..%2Fmanifest.json")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = send(&app, c.get("/api/v1/sessions/S0000000000000000")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
