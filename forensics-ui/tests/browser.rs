//! End to end in a real browser: Debian's Chromium driven through
//! chromedriver (fantoccini) against the UI serving data ingested from
//! `captures/`. Sign in, search, open a session, replay it and see its
//! events appear in order, step, seek, open a flow's stream, download the
//! session's pcap and compare it byte for byte with the store's export.
//! Screenshots of each page go to `target/ui-screenshots/`.

mod common;

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_driver() -> (Driver, u16) {
    let chromedriver = which("chromedriver").expect(
        "chromedriver is missing: install Debian's chromium and chromium-driver (scripts/deps.sh)",
    );
    let chromium = which("chromium").expect("chromium is missing: install Debian's chromium (scripts/deps.sh)");
    let _ = chromium;
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (driver, port)
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let d = target.join("ui-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Polls a script until it returns true.
async fn wait_js(c: &Client, script: &str, what: &str) {
    let start = Instant::now();
    loop {
        if c.execute(script, vec![]).await.unwrap() == Value::Bool(true) {
            return;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = shot(c, &format!("failed-{}", what.replace(' ', "-"))).await;
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_replays_a_session_in_chromium() {
    let (_driver, port) = start_driver();
    let dir = demo_data();
    let data = data_dir(&dir);
    // The detector's state: one attacker flagged with a sandbox, one agent.
    let redis = common::redis::Redis::start();
    seed_detector(&redis.url).await;
    let (app, _) = common::app_with_redis(&data, Some(&redis.url));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .await
            .unwrap();
    });

    let caps = json!({
        "goog:chromeOptions": {
            "binary": which("chromium").unwrap(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]
        }
    });
    let Value::Object(caps) = caps else { unreachable!() };
    let c = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session through chromedriver");

    // Sign in: a page without a session leads to the sign-in form.
    c.goto(&format!("{base}/search")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    shot(&c, "01-login").await;
    c.find(Locator::Id("user")).await.unwrap().send_keys(ANALYST.0).await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(ANALYST.1).await.unwrap();
    c.find(Locator::Id("signin")).await.unwrap().click().await.unwrap();
    wait_js(&c, "return document.querySelectorAll('#totals .card-n').length === 5", "the live overview").await;
    wait_js(&c, "return document.querySelectorAll('#top-sources tr').length > 1", "top sources").await;
    shot(&c, "02-overview").await;
    // `/` focuses the search box.
    c.find(Locator::Css("body")).await.unwrap().send_keys("/").await.unwrap();
    assert_eq!(js(&c, "return document.activeElement.id").await, "quick-q");

    // Search: sessions with FTP, through the query box.
    c.goto(&format!("{base}/search?kind=sessions")).await.unwrap();
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.send_keys("protocol:ftp").await.unwrap();
    c.find(Locator::Id("go")).await.unwrap().click().await.unwrap();
    // The page before the click had results and a histogram too: wait for
    // the new search's URL first, so its results are what is checked.
    wait_js(&c, "return location.search.includes('protocol%3Aftp')", "the query in the URL").await;
    wait_js(&c, "return document.querySelectorAll('#results tbody tr').length > 0", "search results").await;
    wait_js(&c, "return document.querySelectorAll('#hist rect.b').length > 0", "the histogram").await;
    let url = c.current_url().await.unwrap();
    assert!(url.query().unwrap().contains("protocol%3Aftp"), "the query is in the URL: {url}");
    shot(&c, "03-search").await;
    // A bad query shows its error where it occurs.
    c.goto(&format!("{base}/search?q=user%3Aroot%20AND%20(")).await.unwrap();
    let err = c.find(Locator::Id("query-error")).await.unwrap().text().await.unwrap();
    assert!(err.contains('^') && err.contains("column"), "{err}");
    shot(&c, "04-search-error").await;

    // Hostile strings are shown as text and never run.
    c.goto(&format!("{base}/search?kind=events&q=src_ip%3A198.51.100.66")).await.unwrap();
    let table = c.find(Locator::Id("results")).await.unwrap().text().await.unwrap();
    assert!(table.contains("<script>window.__pwned"), "hostile text shown as text: {table}");
    assert_eq!(js(&c, "return window.__pwned === undefined").await, true);
    shot(&c, "05-hostile").await;

    // Open the FTP session with most events.
    let sessions = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || capture::ops::search(&data, Some(capture::index::Kind::Sessions), "protocol:ftp", 100).unwrap())
            .await
            .unwrap()
    };
    let s = sessions.iter().max_by_key(|s| s["events"].as_u64().unwrap()).unwrap();
    let id = s["session_id"].as_str().unwrap().to_string();
    let n = s["events"].as_u64().unwrap();
    c.goto(&format!("{base}/sessions/{id}")).await.unwrap();
    wait_js(&c, &format!("return document.getElementById('position').textContent.startsWith('0 / {n} events')"), "the timeline").await;
    wait_js(&c, "return document.querySelectorAll('svg.timeline rect.mark').length > 0", "event marks").await;
    wait_js(&c, "return document.querySelectorAll('svg.timeline rect.dens').length > 0", "packet density").await;
    shot(&c, "06-session").await;

    // Play as fast as possible: every event appears, in time order.
    c.find(Locator::Id("speed")).await.unwrap().select_by_value("0").await.unwrap();
    c.find(Locator::Id("play")).await.unwrap().click().await.unwrap();
    wait_js(&c, &format!("return document.querySelectorAll('#decoded li').length === {n}"), "the replay to end").await;
    let shown = js(&c, "return [...document.querySelectorAll('#decoded li b')].map(b => b.textContent.trim())").await;
    let timeline = {
        let data = data.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let b = capture::ops::browse::Browser::open(&data).unwrap();
            b.timeline(&id, 0, 500).unwrap().hits
        })
        .await
        .unwrap()
    };
    let want: Vec<Value> = timeline.iter().map(|e| e["type"].clone()).collect();
    assert_eq!(shown, Value::Array(want), "events appear in the session's time order");
    shot(&c, "07-replayed").await;

    // Step back and forth, with buttons and arrows; seek to the start.
    c.find(Locator::Id("step-back")).await.unwrap().click().await.unwrap();
    wait_js(&c, &format!("return document.querySelectorAll('#decoded li').length === {}", n - 1), "a step back").await;
    c.find(Locator::Id("step")).await.unwrap().click().await.unwrap();
    wait_js(&c, &format!("return document.querySelectorAll('#decoded li').length === {n}"), "a step").await;
    js(&c, "const s = document.getElementById('seek'); s.value = 0; s.dispatchEvent(new Event('input')); return true").await;
    wait_js(&c, "return document.querySelectorAll('#decoded li').length === 0", "the seek to the start").await;
    c.find(Locator::Css("body")).await.unwrap().send_keys("\u{E014}").await.unwrap(); // ArrowRight
    wait_js(&c, "return document.querySelectorAll('#decoded li').length === 1", "an arrow step").await;
    js(&c, "const s = document.getElementById('seek'); s.value = 500; s.dispatchEvent(new Event('input')); return true").await;
    let mid = js(&c, "return document.querySelectorAll('#decoded li').length").await.as_u64().unwrap();
    assert!(mid <= n, "seek to the middle: {mid}");
    // Space plays at 1x from the start, and again pauses. A short session
    // can play to its end between two polls, so "it played" is judged by
    // the events it showed, and "it paused" by none coming after.
    js(&c, "const s = document.getElementById('seek'); s.value = 0; s.dispatchEvent(new Event('input')); return true").await;
    wait_js(&c, "return document.querySelectorAll('#decoded li').length === 0", "the seek back to the start").await;
    c.find(Locator::Id("speed")).await.unwrap().select_by_value("1").await.unwrap();
    // Keys go to the page, not to the speed menu (no click: the middle of
    // the page may be a button or a lane).
    js(&c, "document.activeElement && document.activeElement.blur(); return true").await;
    c.find(Locator::Css("body")).await.unwrap().send_keys(" ").await.unwrap();
    wait_js(&c, "return document.querySelectorAll('#decoded li').length > 0", "space to play").await;
    c.find(Locator::Css("body")).await.unwrap().send_keys(" ").await.unwrap();
    wait_js(&c, "return document.getElementById('play').textContent.includes('play')", "space to pause").await;
    let paused_at = js(&c, "return document.querySelectorAll('#decoded li').length").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(js(&c, "return document.querySelectorAll('#decoded li').length").await, paused_at, "nothing plays after the pause");

    // A flow's stream: the FTP control connection, banner and USER.
    js(&c, "const l = [...document.querySelectorAll('svg.timeline rect.lane')]; l[0].dispatchEvent(new MouseEvent('click')); return true").await;
    wait_js(&c, "const t = document.getElementById('stream').textContent; return t.includes('220') && t.includes('USER')", "the flow's stream").await;
    shot(&c, "08-stream").await;
    // The flow page: packets with hex.
    let flow_href = c.find(Locator::Id("flow-page")).await.unwrap().attr("href").await.unwrap().unwrap();
    c.goto(&format!("{base}{flow_href}")).await.unwrap();
    wait_js(&c, "return document.querySelectorAll('#packets .packet').length > 0", "packets").await;
    shot(&c, "09-flow").await;

    // The session's pcap, fetched by the browser with its own session, is
    // byte for byte the store's export.
    c.goto(&format!("{base}/sessions/{id}")).await.unwrap();
    let href = c.find(Locator::Id("session-pcap")).await.unwrap().attr("href").await.unwrap().unwrap();
    let got = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.arrayBuffer()).then(b => {
               const u = new Uint8Array(b); let s = '';
               for (let i = 0; i < u.length; i++) s += u[i].toString(16).padStart(2, '0');
               done(s);
             }).catch(e => done('error ' + e));",
            vec![json!(href)],
        )
        .await
        .unwrap();
    let out = dir.path().join("want.pcap");
    capture::ops::export(&data, &format!("session_id:\"{id}\""), &out).unwrap();
    let want = hex::encode(std::fs::read(&out).unwrap());
    assert_eq!(got.as_str().unwrap(), want, "the downloaded pcap is the store's, byte for byte");

    // Sign out.
    c.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
    wait_js(&c, "return location.pathname === '/login'", "the sign-out").await;

    // An admin flags an attacker by hand, sees it with its reason, unflags
    // it, and looks at the policy and agents.
    c.find(Locator::Id("user")).await.unwrap().send_keys(ADMIN.0).await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(ADMIN.1).await.unwrap();
    c.find(Locator::Id("signin")).await.unwrap().click().await.unwrap();
    wait_js(&c, "return location.pathname === '/'", "the admin's sign-in").await;
    c.goto(&format!("{base}/attackers")).await.unwrap();
    wait_js(&c, "return document.querySelector('#attackers').textContent.includes('sb-demo-1')", "the flagged attacker and its sandbox").await;
    shot(&c, "10-attackers").await;
    c.find(Locator::Css("#flag-form input[name=address]")).await.unwrap().send_keys("198.51.100.23").await.unwrap();
    c.find(Locator::Css("#flag-form input[name=hours]")).await.unwrap().send_keys("2").await.unwrap();
    c.find(Locator::Css("#flag-form button")).await.unwrap().click().await.unwrap();
    wait_js(&c, "const m = document.querySelector('#attackers-message'); return !!m && m.textContent.includes('198.51.100.23 flagged')", "the flag").await;
    let row = js(&c, "return [...document.querySelectorAll('#attackers tr')].map(r => r.textContent).find(t => t.includes('198.51.100.23')) || ''").await;
    assert!(row.as_str().unwrap().contains("manual"), "{row}");
    shot(&c, "11-attackers-flagged").await;
    c.execute(
        "[...document.querySelectorAll('#attackers tr')].find(r => r.textContent.includes('198.51.100.23')).querySelector('button.unflag').click()",
        vec![],
    )
    .await
    .unwrap();
    wait_js(&c, "const m = document.querySelector('#attackers-message'); return !!m && m.textContent.includes('198.51.100.23 unflagged')", "the unflag").await;
    c.goto(&format!("{base}/admin/policy")).await.unwrap();
    wait_js(&c, "return document.querySelector('#agents').textContent.includes('prod1.example')", "the agent").await;
    shot(&c, "12-policy").await;
    c.close().await.unwrap();
}

/// What a detector, an agent and the orchestrator leave in Redis, written
/// through the detector's library.
async fn seed_detector(url: &str) {
    use detector::state::Store;
    let store = Store::connect(url).await.unwrap();
    store
        .publish_settings(&detector::state::Settings {
            mode: model::policy::Mode::Unreal,
            whitelist: model::policy::Whitelist { addresses: vec!["10.0.0.0/8".into()], ports: vec![22] },
        })
        .await
        .unwrap();
    store.publish_rules(detector::rules::Rules::builtin().all()).await.unwrap();
    let agent = detector::agents::add(&store, "prod1").await.unwrap();
    let beat = model::policy::Heartbeat {
        host: "prod1.example".into(),
        agent_version: "0.1.0".into(),
        mode: model::policy::Mode::Unreal,
        policy_version: 1,
        services: vec![model::policy::ServiceInfo { name: "ftp".into(), port: 21 }],
    };
    detector::agents::heartbeat(&store, &agent.id, beat, chrono::Utc::now().timestamp() - 12).await.unwrap();
    let attacker: std::net::IpAddr = "198.51.100.66".parse().unwrap();
    store.flag(attacker, 3600, "seed").await.unwrap();
    let sandbox = model::policy::Sandbox {
        id: "sb-demo-1".into(),
        endpoints: vec![model::policy::Endpoint { service: "ftp".into(), address: "172.18.0.5".parse().unwrap(), port: 21 }],
    };
    let mut conn = store.connection();
    let _: () = ::redis::AsyncCommands::set(&mut conn, model::state::sandbox_of(attacker), serde_json::to_string(&sandbox).unwrap())
        .await
        .unwrap();
}
