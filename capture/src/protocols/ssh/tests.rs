use model::events::ssh::{SshEvent, SshHandshake, SshKexInit};
use model::{Direction, Event, EventBody};
use proptest::prelude::*;

use super::{probe, Probe, SPEC};
use crate::protocols::testkit::{self, Step};

const TO_SERVER: &[u8] = include_bytes!("testdata/curve25519.to_server.bin");
const TO_CLIENT: &[u8] = include_bytes!("testdata/curve25519.to_client.bin");

use Direction::{ToClient, ToServer};

fn run(steps: &[Step<'_>]) -> Vec<Event> {
    testkit::run((SPEC.new)(), 22, steps).events
}

fn handshakes(events: &[Event]) -> Vec<SshHandshake> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Ssh(SshEvent::Handshake(h)) => Some((**h).clone()),
            _ => None,
        })
        .collect()
}

fn kexinits(events: &[Event]) -> Vec<SshKexInit> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Ssh(SshEvent::KexInit(k)) => Some((**k).clone()),
            _ => None,
        })
        .collect()
}

use crate::protocols::testkit::anomalies;

/// The real exchange, interleaved as on the wire: version lines, KEXINITs,
/// then the rest of each side (key exchange, NEWKEYS, encrypted data).
fn real_steps(chunk: usize) -> Vec<Step<'static>> {
    let mut steps = testkit::chunked(ToClient, TO_CLIENT, chunk);
    steps.extend(testkit::chunked(ToServer, TO_SERVER, chunk));
    steps
}

#[test]
fn real_handshake() {
    let events = run(&real_steps(100_000));
    let h = handshakes(&events);
    assert_eq!(h.len(), 1, "{events:?}");
    let h = &h[0];
    assert_eq!(h.version, Some(2));
    assert_eq!(h.client_version.as_deref(), Some("SSH-2.0-OpenSSH_7.4"));
    assert_eq!(h.server_version.as_deref(), Some("SSH-2.0-OpenSSH_7.5"));
    assert_eq!(h.kex_alg.as_deref(), Some("curve25519-sha256"));
    assert_eq!(
        h.host_key_alg.as_deref(),
        Some("ssh-ed25519-cert-v01@openssh.com")
    );
    assert_eq!(
        h.cipher_alg.as_deref(),
        Some("chacha20-poly1305@openssh.com")
    );
    assert_eq!(
        h.cipher_alg_to_client.as_deref(),
        Some("chacha20-poly1305@openssh.com")
    );
    assert_eq!(h.mac_alg.as_deref(), Some("hmac-sha2-512-etm@openssh.com"));
    assert_eq!(h.compression_alg.as_deref(), Some("none"));
    // Computed independently (python hashlib) from the same bytes.
    assert_eq!(h.hassh.as_deref(), Some("0df0d56bb50c6b2426d8d40234bf1826"));
    assert_eq!(
        h.hassh_server.as_deref(),
        Some("a95c22bf8e9b19ed0a5dc74bb2f9c613")
    );
    assert_eq!(
        h.hassh_server_algorithms.as_deref(),
        Some("curve25519-sha256;chacha20-poly1305@openssh.com;hmac-sha2-512-etm@openssh.com;none,zlib@openssh.com")
    );
    let to_server = h.encrypted_offset_to_server.unwrap();
    let to_client = h.encrypted_offset_to_client.unwrap();
    assert!(to_server < TO_SERVER.len() as u64 && to_client < TO_CLIENT.len() as u64);
    assert!(h.encrypted_at.is_some());
    assert_eq!(
        h.host_key_type.as_deref(),
        Some("ssh-ed25519-cert-v01@openssh.com")
    );
    // Zeek's log for this capture starts the same way.
    assert!(h
        .host_key_fingerprint
        .as_deref()
        .unwrap()
        .starts_with("SHA256:trtjp/Gp6neQFvx/rk16+fmc3q8dWs/0"));
    let k = kexinits(&events);
    assert_eq!(k.len(), 2);
    assert_eq!(k[0].direction, Some(ToClient));
    assert_eq!(k[0].kex_algorithms, vec!["curve25519-sha256"]);
    assert_eq!(k[1].hassh, "0df0d56bb50c6b2426d8d40234bf1826");
    assert!(k[1].kex_algorithms.contains(&"ext-info-c".to_string()));
    assert!(anomalies(&events).is_empty(), "{events:?}");
}

#[test]
fn counts_encrypted_segments_until_auth_is_decided() {
    let mut driver = crate::protocols::Driver::new((SPEC.new)());
    let flow = testkit::flow(22);
    let store = crate::artifact::ArtifactStore::hash_only();
    let (mut events, mut exp) = (Vec::new(), Vec::new());
    let mut ctx =
        crate::protocols::Ctx::new(model::Timestamp(0), &flow, &mut events, &store, &mut exp);
    driver.data(ToClient, TO_CLIENT, &mut ctx);
    assert!(driver.wants_more());
    // The client's whole stream: its encrypted tail counts as client data;
    // the server's encrypted tail is then taken for SERVICE_ACCEPT.
    driver.data(ToServer, TO_SERVER, &mut ctx);
    driver.data(ToClient, &[0; 52], &mut ctx);
    assert!(driver.wants_more());
    driver.data(ToServer, &[0; 100], &mut ctx);
    driver.data(ToClient, &[0; 68], &mut ctx); // first failure (`none`)
    driver.data(ToClient, &[0; 68], &mut ctx); // a failed attempt
    assert!(driver.wants_more());
    driver.data(ToClient, &[0; 36], &mut ctx); // success: 16 shorter
    assert!(!driver.wants_more());
    let auth: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Ssh(SshEvent::Auth(a)) => Some(a.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        auth,
        vec![model::events::ssh::SshAuth {
            success: Some(true),
            attempts: 2
        }]
    );
}

#[test]
fn half_duplex_client_emits_at_close() {
    let events = run(&[Step::Data(ToServer, TO_SERVER)]);
    let h = handshakes(&events);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].client_version.as_deref(), Some("SSH-2.0-OpenSSH_7.4"));
    assert_eq!(h[0].server_version, None);
    assert_eq!(h[0].version, None);
    assert_eq!(h[0].kex_alg, None);
    assert_eq!(
        h[0].hassh.as_deref(),
        Some("0df0d56bb50c6b2426d8d40234bf1826")
    );
}

#[test]
fn ssh1_stops_after_versions() {
    let events = run(&[
        Step::Data(ToClient, b"SSH-1.99-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2\n"),
        Step::Data(ToServer, b"SSH-1.5-OpenSSH_6.2\n"),
        Step::Data(ToClient, &[0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 3]),
    ]);
    let h = handshakes(&events);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].version, Some(1));
    assert_eq!(
        h[0].server_version.as_deref(),
        Some("SSH-1.99-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2")
    );
    assert!(anomalies(&events).is_empty());
}

#[test]
fn ssh1_client_alone_is_not_parsed_as_ssh2() {
    let events = run(&[
        Step::Data(ToServer, b"SSH-1.5-OpenSSH_6.2\n"),
        Step::Data(ToServer, &[0x0d, 0xed, 0xbe, 0xef, 1, 2, 3, 4]),
    ]);
    assert!(anomalies(&events).is_empty());
    assert_eq!(handshakes(&events)[0].version, None);
}

#[test]
fn server_lines_before_version() {
    let events = run(&[
        Step::Data(ToClient, b"Welcome\r\nsecond line\r\nSSH-2.0-x\r\n"),
        Step::Data(ToServer, b"SSH-2.0-y\r\n"),
    ]);
    let h = handshakes(&events);
    assert_eq!(h[0].server_banner, vec!["Welcome", "second line"]);
    assert_eq!(h[0].server_version.as_deref(), Some("SSH-2.0-x"));
}

#[test]
fn bad_length_is_an_anomaly() {
    let events = run(&[
        Step::Data(ToServer, b"SSH-2.0-y\r\n"),
        Step::Data(ToServer, &[0x7f, 0xff, 0xff, 0xff, 4, 0, 0]),
    ]);
    assert_eq!(anomalies(&events), vec!["bad_length"]);
    assert_eq!(handshakes(&events).len(), 1);
}

#[test]
fn junk_client_is_not_ssh() {
    let events = run(&[Step::Data(ToServer, b"GET / HTTP/1.1\r\n")]);
    assert_eq!(anomalies(&events), vec!["not_ssh"]);
    assert!(handshakes(&events).is_empty());
}

#[test]
fn probes() {
    assert_eq!(probe(ToServer, b"SSH-2.0-x"), Probe::Match);
    assert_eq!(probe(ToClient, b"SSH-"), Probe::Match);
    assert_eq!(probe(ToClient, b"SS"), Probe::NeedMore);
    assert_eq!(probe(ToClient, b"S"), Probe::NeedMore);
    assert_eq!(probe(ToServer, b"SSX"), Probe::NoMatch);
    assert_eq!(probe(ToServer, b"GET /"), Probe::NoMatch);
    assert_eq!(probe(ToServer, b"@RSYNCD: 31.0\n"), Probe::NoMatch);
}

/// Event bodies, without anomalies and without `ssh.auth`, which depends on
/// segment sizes by design.
fn without_ts(events: Vec<Event>) -> Vec<EventBody> {
    events
        .into_iter()
        .map(|e| e.body)
        .filter(|b| !matches!(b, EventBody::Core(_) | EventBody::Ssh(SshEvent::Auth(_))))
        .collect()
}

proptest! {
    #[test]
    fn chunking_does_not_change_events(chunk in 1usize..600) {
        let whole = without_ts(run(&real_steps(100_000)));
        let mut parts = without_ts(run(&real_steps(chunk)));
        // Offsets and facts match; only timestamps differ with chunking.
        for h in parts.iter_mut() {
            if let EventBody::Ssh(SshEvent::Handshake(h)) = h {
                h.encrypted_at = None;
            }
        }
        let whole: Vec<EventBody> = whole.into_iter().map(|mut b| {
            if let EventBody::Ssh(SshEvent::Handshake(h)) = &mut b { h.encrypted_at = None; }
            b
        }).collect();
        prop_assert_eq!(whole, parts);
    }

    #[test]
    fn random_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..2000),
                                b in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut a2 = b"SSH-2.0-x\r\n".to_vec();
        a2.extend_from_slice(&a);
        run(&[Step::Data(ToServer, &a2), Step::Data(ToClient, &b), Step::Gap(ToClient, 5), Step::Data(ToClient, &a)]);
    }

    #[test]
    fn mutated_real_streams_never_panic(flips in proptest::collection::vec((0usize..3489, any::<u8>()), 1..20),
                                        cut in 0usize..3489, dup in 0usize..3000) {
        let mut server = TO_SERVER.to_vec();
        for (i, x) in flips {
            if let Some(b) = server.get_mut(i) { *b ^= x; }
        }
        let cut = cut.min(TO_CLIENT.len());
        let dup = dup.min(cut);
        run(&[
            Step::Data(ToClient, &TO_CLIENT[..cut]),
            Step::Data(ToClient, &TO_CLIENT[dup..cut]),
            Step::Data(ToServer, &server),
        ]);
    }
}

#[test]
fn mid_stream_pickup_is_quiet() {
    let events = run(&[
        Step::Gap(ToServer, 0),
        Step::Gap(ToClient, 0),
        Step::Data(ToServer, &[0x17, 0x03, 0x99, 0x42]),
    ]);
    assert!(events.is_empty(), "{events:?}");
    let events = run(&[
        Step::Data(ToServer, b"SSH-2.0-x\r\n"),
        Step::Gap(ToServer, 10),
    ]);
    assert_eq!(anomalies(&events), vec!["gap"]);
}
