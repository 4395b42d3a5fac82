//! Live ingest on a real interface (loopback, which libpcap gives as
//! Ethernet): a conversation that lasts over several commits is one flow,
//! the run is one manifest source however many commits it made, and
//! `reindex` reads the run back to the same packets, flows and events.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use capture::index::Kind;
use capture::ops::live::{LiveIngest, Tag};
use capture::ops::{self, Options};
use capture::store::{Layout, Manifest};

/// A client that says something every 50 ms for about a second, to a
/// server that answers each line.
fn slow_conversation() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut out = s.try_clone().unwrap();
        out.write_all(b"220 kyoka live test\r\n").unwrap();
        for line in BufReader::new(s).lines() {
            let Ok(line) = line else { break };
            out.write_all(format!("331 got {line}\r\n").as_bytes()).unwrap();
        }
    });
    let mut c = TcpStream::connect(addr).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    for i in 0..20 {
        c.write_all(format!("USER user{i}\r\n").as_bytes()).unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    drop((c, r));
    server.join().unwrap();
}

#[test]
fn a_live_run_is_one_source_and_reindexes_to_the_same_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = Options::default();
    let live = LiveIngest::start(&data, &options, Duration::from_millis(100)).unwrap();
    let tag = Tag {
        sandbox: "sb-live-test".into(),
        attacker: Some("198.51.100.9".parse().unwrap()),
        network: Some(("127.0.0.0".parse().unwrap(), 8)),
    };
    live.listen("lo", Some(tag)).expect("capturing on lo (root and libpcap needed)");
    // libpcap's socket is open when listen returns; give the thread a moment.
    std::thread::sleep(Duration::from_millis(200));
    slow_conversation();
    std::thread::sleep(Duration::from_millis(300));
    let counts = live.stop().unwrap();
    assert!(counts.packets >= 40 && counts.flows >= 1, "{counts:?}");

    let manifest = Manifest::load(&Layout::new(&data).manifest()).unwrap().unwrap();
    let runs: Vec<_> = manifest.sources.iter().filter(|s| s.path.starts_with("live:")).collect();
    assert_eq!(runs.len(), 1, "one source for the whole run: {:?}", manifest.sources);
    let run = runs[0];
    assert_eq!((run.packets, run.flows, run.events), (counts.packets, counts.flows, counts.events));
    assert!(manifest.pending.is_none());
    let stored: u64 = run.spans.iter().map(|s| s.end - s.start).sum();
    assert_eq!(stored, run.bytes, "the spans hold every committed byte");

    assert_eq!(run.tags.len(), 1, "the run keeps its tag and network: {:?}", run.tags);
    assert!(run.tags[0].until.is_some(), "the capture's end is known");
    let tagged = |kind| {
        let mut hits = ops::search(&data, Some(kind), "sandbox:sb-live-test AND attacker:198.51.100.9", 100_000).unwrap();
        hits.sort_by_key(|h| h.to_string());
        hits.into_iter().map(|mut h| {
            // Reindex gives flows new keys; what they say stays.
            h.as_object_mut().unwrap().remove("flow_key");
            h
        }).collect::<Vec<_>>()
    };
    let (events, sessions) = (tagged(Kind::Events), tagged(Kind::Sessions));
    assert!(!events.is_empty() && !sessions.is_empty());

    let report = ops::reindex(&data, &options, &mut |_| {}).unwrap();
    let again = report.totals;
    assert_eq!(
        (again.packets, again.flows, again.events),
        (counts.packets, counts.flows, counts.events),
        "reindex reads the run back as it was"
    );
    assert_eq!(tagged(Kind::Events), events, "reindex tags the sandbox's events again");
    assert_eq!(tagged(Kind::Sessions).len(), sessions.len(), "and they are the attacker's sessions");
}
