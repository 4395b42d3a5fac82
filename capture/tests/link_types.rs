//! The same traffic framed every way the engine reads it gives the same
//! events: Ethernet, 802.1Q VLAN and QinQ, Linux cooked v1 and v2, raw IP,
//! BSD loopback (both byte orders), and IPv4 split into out-of-order
//! fragments. Frames come from the peer fixtures and are re-framed here.

use std::path::{Path, PathBuf};

use capture::artifact::ArtifactStore;
use capture::decode::LinkType;
use capture::engine::{Config, Engine};
use capture::source::{FileSource, Frame};
use model::Timestamp;

fn fixtures() -> Vec<PathBuf> {
    let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/peer");
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures");
    let mut files: Vec<PathBuf> = [
        "ftp/ftp-ipv4/ipv4.pcap",
        "http/http-pipelining/pipelined-requests.pcap",
        "mysql/wireshark/mysql.pcap",
        "ftp/ftp-multiline-reply/ipv6-multiline-reply.pcap",
        "ssh/basic/ssh.pcap",
        "mongo/deeptrace/mongo.pcap",
    ]
    .iter()
    .map(|rel| peer.join(rel))
    .collect();
    files.extend(
        [
            "redis/redis-session.pcap",
            "rsync/rsync-daemon.pcap",
            "ftp/ftp-session.pcap",
        ]
        .iter()
        .map(|rel| own.join(rel)),
    );
    files
}

fn ethernet_frames(path: &Path) -> Vec<(Timestamp, Vec<u8>)> {
    let mut src = FileSource::open(path).unwrap();
    assert_eq!(src.link(), LinkType::Ethernet, "{}", path.display());
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        out.push((f.ts, f.data.to_vec()));
    }
    out
}

fn events(link: LinkType, frames: &[(Timestamp, Vec<u8>)]) -> Vec<String> {
    let mut engine = Engine::new(Config::default(), ArtifactStore::hash_only());
    let mut out = Vec::new();
    for (ts, data) in frames {
        engine.frame(
            link,
            &Frame {
                ts: *ts,
                data,
                wire_len: data.len() as u32,
            },
        );
        out.extend(
            engine
                .drain_events()
                .map(|e| serde_json::to_string(&e).unwrap()),
        );
    }
    engine.finish();
    out.extend(
        engine
            .drain_events()
            .map(|e| serde_json::to_string(&e).unwrap()),
    );
    out
}

/// Ethernet type and the bytes after the Ethernet header.
fn split(frame: &[u8]) -> (u16, &[u8]) {
    (u16::from_be_bytes([frame[12], frame[13]]), &frame[14..])
}

fn reframe(
    frames: &[(Timestamp, Vec<u8>)],
    f: impl Fn(u16, &[u8]) -> Vec<u8>,
) -> Vec<(Timestamp, Vec<u8>)> {
    frames
        .iter()
        .map(|(ts, frame)| {
            let (ether_type, rest) = split(frame);
            (*ts, f(ether_type, rest))
        })
        .collect()
}

fn check(name: &str, link: LinkType, frames: Vec<(Timestamp, Vec<u8>)>, expected: &[String]) {
    let got = events(link, &frames);
    assert_eq!(got.len(), expected.len(), "{name}: event count");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(g, e, "{name}");
    }
}

#[test]
fn every_link_type_gives_the_same_events() {
    for path in fixtures() {
        let frames = ethernet_frames(&path);
        let expected = events(LinkType::Ethernet, &frames);
        assert!(
            expected.iter().any(|e| !e.contains("\"flow.end\"")),
            "{} decodes something",
            path.display()
        );
        let name = |kind: &str| format!("{} as {kind}", path.display());

        check(
            &name("vlan"),
            LinkType::Ethernet,
            reframe(&frames, |t, rest| {
                let mut f = vec![0; 12];
                f.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a]);
                f.extend_from_slice(&t.to_be_bytes());
                f.extend_from_slice(rest);
                f
            }),
            &expected,
        );
        check(
            &name("qinq"),
            LinkType::Ethernet,
            reframe(&frames, |t, rest| {
                let mut f = vec![0; 12];
                f.extend_from_slice(&[0x88, 0xa8, 0x00, 0x07, 0x81, 0x00, 0x00, 0x2a]);
                f.extend_from_slice(&t.to_be_bytes());
                f.extend_from_slice(rest);
                f
            }),
            &expected,
        );
        check(
            &name("sll"),
            LinkType::LinuxSll,
            reframe(&frames, |t, rest| {
                let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
                f.extend_from_slice(&t.to_be_bytes());
                f.extend_from_slice(rest);
                f
            }),
            &expected,
        );
        check(
            &name("sll2"),
            LinkType::LinuxSll2,
            reframe(&frames, |t, rest| {
                let mut f = t.to_be_bytes().to_vec();
                f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
                f.extend_from_slice(rest);
                f
            }),
            &expected,
        );
        check(
            &name("raw"),
            LinkType::RawIp,
            reframe(&frames, |_, rest| rest.to_vec()),
            &expected,
        );
        let family = |t: u16| if t == 0x86dd { 30u32 } else { 2 };
        check(
            &name("null"),
            LinkType::Null,
            reframe(&frames, |t, rest| {
                let mut f = family(t).to_ne_bytes().to_vec();
                f.extend_from_slice(rest);
                f
            }),
            &expected,
        );
        check(
            &name("loop"),
            LinkType::Loop,
            reframe(&frames, |t, rest| {
                let mut f = family(t).to_be_bytes().to_vec();
                f.extend_from_slice(rest);
                f
            }),
            &expected,
        );
        check(
            &name("ipv4 fragments"),
            LinkType::Ethernet,
            fragment(&frames),
            &expected,
        );
    }
}

/// Splits every IPv4 packet with a payload into 3 fragments of at most
/// 24 bytes... sent last first; other frames are kept as they are.
fn fragment(frames: &[(Timestamp, Vec<u8>)]) -> Vec<(Timestamp, Vec<u8>)> {
    let mut out = Vec::new();
    for (n, (ts, frame)) in frames.iter().enumerate() {
        let (ether_type, ip) = split(frame);
        if ether_type != 0x0800 || ip.len() < 20 {
            out.push((*ts, frame.clone()));
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
        let payload = &ip[ihl..total];
        if payload.len() <= 16 {
            out.push((*ts, frame.clone()));
            continue;
        }
        // Fragment payload sizes must be multiples of 8 but the last.
        let piece = (payload.len() / 3 / 8).max(1) * 8;
        let mut pieces = Vec::new();
        let mut offset = 0;
        while offset < payload.len() {
            let end = (offset + piece).min(payload.len());
            let more = end < payload.len();
            let mut header = ip[..ihl].to_vec();
            let len = (ihl + end - offset) as u16;
            header[2..4].copy_from_slice(&len.to_be_bytes());
            header[4..6].copy_from_slice(&((n as u16) ^ 0x5a5a).to_be_bytes());
            let flags_offset = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
            header[6..8].copy_from_slice(&flags_offset.to_be_bytes());
            let mut f = frame[..14].to_vec();
            f.extend_from_slice(&header);
            f.extend_from_slice(&payload[offset..end]);
            pieces.push((*ts, f));
            offset = end;
        }
        pieces.reverse();
        out.extend(pieces);
    }
    out
}
