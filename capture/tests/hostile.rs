//! The whole pipeline on damaged traffic: every fixture capture with its
//! frames truncated, bit-flipped, duplicated, reordered or dropped, and
//! frames of random bytes. Nothing may panic; memory stays bounded.

use std::path::{Path, PathBuf};

use capture::artifact::ArtifactStore;
use capture::engine::{Config, Engine};
use capture::protocols::testkit::Rng;
use capture::source::{capture_files, FileSource, Frame};
use model::Timestamp;
use proptest::prelude::*;

fn fixture_captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = capture_files(&root.join("../../shared/fixtures/peer"));
    out.extend(capture_files(&root.join("../captures")));
    out
}

struct Recorded {
    link: capture::decode::LinkType,
    frames: Vec<(Timestamp, Vec<u8>)>,
}

fn read(path: &Path) -> Recorded {
    let mut src = FileSource::open(path).unwrap();
    let link = src.link();
    let mut frames = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        frames.push((f.ts, f.data.to_vec()));
    }
    Recorded { link, frames }
}

fn run(link: capture::decode::LinkType, frames: &[(Timestamp, Vec<u8>)], config: Config) -> usize {
    let mut engine = Engine::new(config, ArtifactStore::hash_only());
    let mut events = 0;
    for (ts, data) in frames {
        engine.frame(
            link,
            &Frame {
                ts: *ts,
                data,
                wire_len: data.len() as u32,
            },
        );
        events += engine.drain_events().count();
    }
    engine.finish();
    events + engine.drain_events().count()
}

/// A number in `0..n`.
fn below(rng: &mut Rng, n: usize) -> usize {
    rng.below(n as u64) as usize
}

fn damage(frames: &[(Timestamp, Vec<u8>)], seed: u64) -> Vec<(Timestamp, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(frames.len() + 8);
    for (ts, data) in frames {
        let mut data = data.clone();
        match below(&mut rng, 10) {
            0 => continue,                                       // dropped
            1 => data.truncate(below(&mut rng, data.len() + 1)), // truncated
            2 | 3 => {
                for _ in 0..=below(&mut rng, 4) {
                    // bit flips
                    let i = below(&mut rng, data.len());
                    if let Some(b) = data.get_mut(i) {
                        *b ^= 1 << below(&mut rng, 8);
                    }
                }
            }
            4 => out.push((*ts, data.clone())), // duplicated
            _ => {}
        }
        out.push((*ts, data));
        if out.len() >= 2 && below(&mut rng, 8) == 0 {
            // reordered
            let n = out.len();
            out.swap(n - 1, n - 2);
        }
    }
    out
}

#[test]
fn damaged_fixtures_never_panic() {
    let captures = fixture_captures();
    assert!(!captures.is_empty());
    for path in &captures {
        let recorded = read(path);
        for seed in 1..=40u64 {
            let frames = damage(&recorded.frames, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            run(recorded.link, &frames, Config::default());
        }
    }
}

#[test]
fn a_tiny_flow_table_evicts_and_says_so() {
    // Every fixture at once through a table of two flows.
    let mut frames = Vec::new();
    let mut link = None;
    for path in fixture_captures() {
        let r = read(&path);
        if r.link == capture::decode::LinkType::Ethernet {
            link = Some(r.link);
            frames.extend(r.frames);
        }
    }
    frames.sort_by_key(|(ts, _)| *ts);
    let config = Config {
        max_flows: 2,
        ..Config::default()
    };
    let mut engine = Engine::new(config, ArtifactStore::hash_only());
    let mut evicted = 0;
    for (ts, data) in &frames {
        engine.frame(
            link.unwrap(),
            &Frame {
                ts: *ts,
                data,
                wire_len: data.len() as u32,
            },
        );
        assert!(engine.flows() <= 2);
        evicted += engine
            .drain_events()
            .filter(|e| serde_json::to_value(e).unwrap()["reason"] == "evicted")
            .count();
    }
    assert!(evicted > 0);
    assert_eq!(engine.stats().evicted_flows as usize, evicted);
}

proptest! {
    #[test]
    fn random_frames_never_panic(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..50), link in 0usize..6) {
        use capture::decode::LinkType::*;
        let link = [Ethernet, LinuxSll, LinuxSll2, RawIp, Null, Loop][link];
        let frames: Vec<_> = frames.into_iter().enumerate().map(|(i, f)| (Timestamp(i as i64 * 1000), f)).collect();
        run(link, &frames, Config::default());
    }
}

fn tcp(from_client: bool, seq: u32, ack: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], 40000, 21)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 21, 40000)
    };
    let mut b = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 65535);
    for flag in flags.chars() {
        b = match flag {
            'S' => b.syn(),
            'A' => b.ack(ack),
            'F' => b.fin(),
            _ => b,
        };
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

#[test]
fn a_new_syn_on_the_same_ports_starts_a_new_flow() {
    let frames: Vec<(Timestamp, Vec<u8>)> = [
        tcp(true, 100, 0, "S", b""),
        tcp(false, 500, 101, "SA", b""),
        tcp(true, 101, 501, "A", b"USER alice\r\n"),
        tcp(true, 100, 0, "S", b""), // a retransmitted SYN changes nothing
        tcp(true, 9000, 0, "S", b""), // a new connection, no FIN seen before it
        tcp(false, 7000, 9001, "SA", b""),
        tcp(true, 9001, 7001, "A", b"USER bob\r\n"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, f)| (Timestamp(i as i64 * 1000), f))
    .collect();
    let mut engine = Engine::new(Config::default(), ArtifactStore::hash_only());
    let mut events = Vec::new();
    for (ts, data) in &frames {
        engine.frame(
            capture::decode::LinkType::Ethernet,
            &Frame {
                ts: *ts,
                data,
                wire_len: data.len() as u32,
            },
        );
        events.extend(
            engine
                .drain_events()
                .map(|e| serde_json::to_value(e).unwrap()),
        );
    }
    engine.finish();
    events.extend(
        engine
            .drain_events()
            .map(|e| serde_json::to_value(e).unwrap()),
    );
    let ends: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "flow.end")
        .map(|e| e["reason"].clone())
        .collect();
    assert_eq!(ends, ["reused", "end_of_capture"]);
    let users: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "ftp.command")
        .map(|e| e["arg"].clone())
        .collect();
    assert_eq!(users, ["alice", "bob"]);
}
