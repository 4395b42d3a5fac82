use model::events::rsync::{RsyncEvent, RsyncHandshake, RsyncModule};
use model::{Direction, Event, EventBody};
use proptest::prelude::*;

use super::{probe, Probe, SPEC};
use crate::protocols::testkit::{self, Step};

use Direction::{ToClient, ToServer};

/// TCP payloads of a little-endian Ethernet/IPv4 pcap (the captures in
/// `testdata/`, made on loopback: no loss, no reordering), with their
/// direction relative to port 8730.
fn payloads(pcap: &[u8]) -> Vec<(Direction, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 24;
    while let Some(header) = pcap.get(pos..pos + 16) {
        let caplen = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
        let frame = &pcap[pos + 16..pos + 16 + caplen];
        pos += 16 + caplen;
        let ip = &frame[14..];
        let ihl = ((ip[0] & 0x0f) as usize) * 4;
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        let tcp = &ip[ihl..total];
        let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
        let offset = ((tcp[12] >> 4) as usize) * 4;
        let payload = &tcp[offset..];
        if !payload.is_empty() {
            let dir = if dport == 8730 { ToServer } else { ToClient };
            out.push((dir, payload.to_vec()));
        }
    }
    out
}

fn capture(name: &str) -> Vec<(Direction, Vec<u8>)> {
    let path = format!(
        "{}/src/protocols/rsync/testdata/{name}.pcap",
        env!("CARGO_MANIFEST_DIR")
    );
    payloads(&std::fs::read(path).unwrap())
}

fn run_payloads(payloads: &[(Direction, Vec<u8>)]) -> Vec<Event> {
    let steps: Vec<Step<'_>> = payloads.iter().map(|(d, p)| Step::Data(*d, p)).collect();
    testkit::run((SPEC.new)(), 873, &steps).events
}

fn split(events: &[Event]) -> (Vec<RsyncHandshake>, Vec<RsyncModule>, Vec<String>) {
    let (mut h, mut m, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for e in events {
        match &e.body {
            EventBody::Rsync(RsyncEvent::Handshake(x)) => h.push(x.clone()),
            EventBody::Rsync(RsyncEvent::Module(x)) => m.push(x.clone()),
            EventBody::Core(model::event::CoreEvent::Anomaly(x)) => a.push(x.kind.clone()),
            _ => {}
        }
    }
    (h, m, a)
}

/// Runs a capture; checks the handshake every capture shares and that
/// nothing is odd; returns the one module event.
fn module_of(name: &str) -> RsyncModule {
    let events = run_payloads(&capture(name));
    let (h, m, a) = split(&events);
    assert!(a.is_empty(), "{name}: {a:?}");
    assert_eq!(h.len(), 1, "{name}");
    assert_eq!(h[0].server_version.as_deref(), Some("32.0"));
    assert_eq!(
        h[0].server_digests,
        vec!["sha512", "sha256", "sha1", "md5", "md4"]
    );
    assert_eq!(h[0].motd, vec!["Welcome to the kyoka test daemon"]);
    assert_eq!(m.len(), 1, "{name}");
    m.into_iter().next().unwrap()
}

#[test]
fn list() {
    let m = module_of("list");
    assert_eq!(
        (m.module.as_str(), m.action.as_str(), m.success),
        ("", "list", Some(true))
    );
    assert_eq!(m.modules, vec!["pub", "priv", "drop"]);
    assert!(m.args.is_empty());
}

#[test]
fn pull() {
    let m = module_of("pull");
    assert_eq!(
        (m.module.as_str(), m.action.as_str(), m.success),
        ("pub", "pull", Some(true))
    );
    assert_eq!(
        m.args,
        vec!["--server", "--sender", "-vlogDtpre.iLsfxCIvu", ".", "pub/"]
    );
    assert_eq!((m.user, m.auth_required), (None, false));
}

#[test]
fn push() {
    let m = module_of("push");
    assert_eq!(
        (m.module.as_str(), m.action.as_str(), m.success),
        ("drop", "push", Some(true))
    );
    assert_eq!(
        m.args,
        vec!["--server", "-vlogDtpre.iLsfxCIvu", ".", "drop/"]
    );
}

#[test]
fn auth_ok() {
    let m = module_of("auth-ok");
    assert_eq!(
        (m.module.as_str(), m.action.as_str(), m.success),
        ("priv", "pull", Some(true))
    );
    assert_eq!(m.user.as_deref(), Some("alice"));
    assert!(m.auth_required);
    assert_eq!(m.challenge.as_deref().map(str::len), Some(86));
    assert_eq!(m.response.as_deref().map(str::len), Some(86));
    assert_eq!(m.error, None);
}

#[test]
fn auth_failed() {
    let m = module_of("auth-failed");
    assert_eq!(
        (m.module.as_str(), m.action.as_str(), m.success),
        ("priv", "unknown", Some(false))
    );
    assert_eq!(m.user.as_deref(), Some("alice"));
    assert_eq!(m.error.as_deref(), Some("auth failed on module priv"));
    assert!(m.args.is_empty());
}

#[test]
fn protocol_29_uses_newlines() {
    let events = run_payloads(&capture("protocol29"));
    let (h, m, a) = split(&events);
    assert!(a.is_empty());
    assert_eq!(h[0].client_version.as_deref(), Some("29.0"));
    assert_eq!(m[0].action, "pull");
    assert_eq!(
        m[0].args,
        vec!["--server", "--sender", "-vlogDtpr", ".", "pub/"]
    );
}

#[test]
fn stops_at_binary_phase() {
    let mut driver = crate::protocols::Driver::new((SPEC.new)());
    let flow = testkit::flow(873);
    let store = crate::artifact::ArtifactStore::hash_only();
    let (mut events, mut exp) = (Vec::new(), Vec::new());
    let mut ctx =
        crate::protocols::Ctx::new(model::Timestamp(0), &flow, &mut events, &store, &mut exp);
    let payloads = capture("push");
    let mut fed = 0;
    for (dir, p) in &payloads {
        driver.data(*dir, p, &mut ctx);
        fed += 1;
        if !driver.wants_more() {
            break;
        }
    }
    // It stopped with the binary transfer still to come, having said all.
    assert!(fed < payloads.len());
    let (_, m, _) = split(&events);
    assert_eq!(m.len(), 1);
}

#[test]
fn unknown_module_and_junk() {
    let events = run_payloads(&[
        (ToClient, b"@RSYNCD: 31.0\n".to_vec()),
        (ToServer, b"@RSYNCD: 31.0\nnope\n".to_vec()),
        (ToClient, b"@ERROR: Unknown module 'nope'\n".to_vec()),
    ]);
    let (h, m, _) = split(&events);
    assert_eq!(h[0].client_digests, Vec::<String>::new());
    assert_eq!(m[0].error.as_deref(), Some("Unknown module 'nope'"));
    let (_, _, a) = split(&run_payloads(&[(ToServer, b"GET / HTTP/1.0\r\n".to_vec())]));
    assert_eq!(a, vec!["not_rsync"]);
}

#[test]
fn probes() {
    assert_eq!(probe(ToClient, b"@RSYNCD: 31.0\n"), Probe::Match);
    assert_eq!(probe(ToServer, b"@RSYN"), Probe::NeedMore);
    assert_eq!(probe(ToServer, b"@RSYNCX"), Probe::NoMatch);
    assert_eq!(probe(ToServer, b"SSH-2.0"), Probe::NoMatch);
    assert_eq!(probe(ToServer, b"@ERROR"), Probe::NoMatch);
}

/// All captures' bytes, each direction re-chunked at `size`, keeping the
/// order of the directions' first bytes per packet.
fn rechunked(name: &str, size: usize) -> Vec<Event> {
    let mut steps_owned = Vec::new();
    for (dir, p) in capture(name) {
        for c in p.chunks(size) {
            steps_owned.push((dir, c.to_vec()));
        }
    }
    run_payloads(&steps_owned)
}

const CAPTURES: &[&str] = &[
    "list",
    "pull",
    "push",
    "auth-ok",
    "auth-failed",
    "protocol29",
];

proptest! {
    #[test]
    fn chunking_does_not_change_events(size in 1usize..64, which in 0usize..6) {
        let name = CAPTURES[which];
        let bodies = |events: Vec<Event>| events.into_iter().map(|e| e.body).collect::<Vec<_>>();
        prop_assert_eq!(bodies(rechunked(name, 100_000)), bodies(rechunked(name, size)));
    }

    #[test]
    fn random_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..600),
                                b in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut a2 = b"@RSYNCD: 31.0\nmod\n".to_vec();
        a2.extend_from_slice(&a);
        let mut b2 = b"@RSYNCD: 31.0\n@RSYNCD: AUTHREQD x\n".to_vec();
        b2.extend_from_slice(&b);
        let steps = [Step::Data(ToClient, &b2), Step::Data(ToServer, &a2), Step::Gap(ToServer, 3), Step::Data(ToServer, &b)];
        testkit::run((SPEC.new)(), 873, &steps);
    }

    #[test]
    fn mutated_captures_never_panic(which in 0usize..6, flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..10),
                                    dup in 0usize..20) {
        let mut payloads = capture(CAPTURES[which]);
        for (i, x) in flips {
            let n = payloads.len();
            if let Some((_, p)) = payloads.get_mut(i % n) {
                let len = p.len();
                p[i % len] ^= x;
            }
        }
        if let Some(p) = payloads.get(dup % payloads.len()).cloned() {
            payloads.insert(dup % payloads.len(), p);
        }
        run_payloads(&payloads);
    }
}

#[test]
fn hostile_lists_are_capped() {
    let mut client = b"@RSYNCD: 31.0\nmod\n".to_vec();
    for _ in 0..3000 {
        client.extend_from_slice(&[b'a'; 100]);
        client.push(0);
    }
    client.push(0);
    let mut server = b"@RSYNCD: 31.0\n".to_vec();
    for _ in 0..100 {
        server.extend_from_slice(b"motd line\n");
    }
    server.extend_from_slice(b"@RSYNCD: OK\n");
    let events = run_payloads(&[(ToClient, server), (ToServer, client)]);
    let (h, m, _) = split(&events);
    assert!(
        h[0].truncated && h[0].motd.len() == 64,
        "{:?}",
        (h[0].truncated, h[0].motd.len())
    );
    assert!(m[0].truncated && m[0].args.iter().map(String::len).sum::<usize>() <= 64 * 1024);
}
