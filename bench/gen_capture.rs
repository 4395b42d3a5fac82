//! Generates a seeded multi-protocol capture for benchmarks.
//!
//! Real conversations (every IPv4 TCP flow of the peer fixtures and of
//! `captures/`) are replayed many times with new addresses and ports,
//! interleaved, between synthetic HTTP downloads and uploads that carry the
//! bulk of the bytes. The same seed and size give the same file.
//!
//! `cargo run --release --example gen_capture -- SEED SIZE_MB OUT.pcap`
//!
//! With `flood` as the seed it writes a hostile capture instead: hundreds of
//! thousands of connections that never end, each leaving an incomplete HTTP
//! request head and an out-of-order segment behind a hole, to show that
//! memory stays bounded.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use capture::decode::LinkType;
use capture::protocols::testkit::Rng;
use capture::source::{capture_files, FileSource};

/// One packet of a template conversation: from the client or not, and the
/// Ethernet/IPv4/TCP frame.
struct TemplatePacket {
    from_client: bool,
    frame: Vec<u8>,
}

/// Offsets of the IPv4 header and TCP header in an untagged Ethernet frame.
fn ipv4_tcp(frame: &[u8]) -> Option<(usize, usize)> {
    if frame.len() < 14 + 20 + 20
        || frame[12..14] != [0x08, 0x00]
        || frame[14] >> 4 != 4
        || frame[23] != 6
    {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let tcp = 14 + ihl;
    (frame.len() >= tcp + 20).then_some((14, tcp))
}

/// Canonical 4-tuple → (the first sender, the flow's packets).
type FlowsByKey = BTreeMap<(u32, u16, u32, u16), (([u8; 4], u16), Vec<TemplatePacket>)>;

fn templates(root: &Path) -> Vec<Vec<TemplatePacket>> {
    let mut files = capture_files(&root.join("../shared/fixtures/peer"));
    files.extend(capture_files(&root.join("captures")));
    let mut flows = Vec::new();
    for path in files {
        let Ok(mut source) = FileSource::open(&path) else {
            continue;
        };
        if source.link() != LinkType::Ethernet {
            continue;
        }
        let mut by_flow: FlowsByKey = BTreeMap::new();
        while let Ok(Some(frame)) = source.next_frame() {
            let data = frame.data;
            let Some((ip, tcp)) = ipv4_tcp(data) else {
                continue;
            };
            let src = (
                u32::from_be_bytes(data[ip + 12..ip + 16].try_into().unwrap()),
                u16::from_be_bytes([data[tcp], data[tcp + 1]]),
            );
            let dst = (
                u32::from_be_bytes(data[ip + 16..ip + 20].try_into().unwrap()),
                u16::from_be_bytes([data[tcp + 2], data[tcp + 3]]),
            );
            let key = if src < dst {
                (src.0, src.1, dst.0, dst.1)
            } else {
                (dst.0, dst.1, src.0, src.1)
            };
            let entry = by_flow
                .entry(key)
                .or_insert_with(|| ((src.0.to_be_bytes(), src.1), Vec::new()));
            let from_client = (src.0.to_be_bytes(), src.1) == entry.0;
            entry.1.push(TemplatePacket {
                from_client,
                frame: data.to_vec(),
            });
        }
        flows.extend(
            by_flow
                .into_values()
                .map(|(_, packets)| packets)
                .filter(|p| p.len() >= 3),
        );
    }
    flows
}

struct PcapWriter {
    out: BufWriter<File>,
    written: u64,
    micros: u64,
}

impl PcapWriter {
    fn create(path: &Path) -> std::io::Result<PcapWriter> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&262_144u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(PcapWriter {
            out,
            written: 24,
            micros: 1_700_000_000_000_000,
        })
    }

    fn frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.micros += 7;
        let (secs, usecs) = (self.micros / 1_000_000, self.micros % 1_000_000);
        self.out.write_all(&(secs as u32).to_le_bytes())?;
        self.out.write_all(&(usecs as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(frame)?;
        self.written += 16 + frame.len() as u64;
        Ok(())
    }
}

/// A conversation being written: its frames, yet to be emitted.
struct Conversation {
    frames: std::vec::IntoIter<Vec<u8>>,
}

/// Rewrites a template's addresses and ports so each copy is its own flow.
fn replay(
    template: &[TemplatePacket],
    client: [u8; 4],
    server: [u8; 4],
    port: u16,
) -> Conversation {
    let frames: Vec<Vec<u8>> = template
        .iter()
        .map(|p| {
            let mut f = p.frame.clone();
            let (ip, tcp) = ipv4_tcp(&f).expect("template frames are IPv4/TCP");
            let (src, dst) = if p.from_client {
                (client, server)
            } else {
                (server, client)
            };
            f[ip + 12..ip + 16].copy_from_slice(&src);
            f[ip + 16..ip + 20].copy_from_slice(&dst);
            let at = if p.from_client { tcp } else { tcp + 2 };
            f[at..at + 2].copy_from_slice(&port.to_be_bytes());
            f
        })
        .collect();
    Conversation {
        frames: frames.into_iter(),
    }
}

#[allow(clippy::too_many_arguments)]
fn tcp_frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + payload.len());
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (40 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const MSS: usize = 1448;

/// An HTTP download or upload of `size` seeded random bytes.
fn http_bulk(
    rng: &mut Rng,
    client: [u8; 4],
    server: [u8; 4],
    port: u16,
    n: u64,
    size: usize,
) -> Conversation {
    let upload = rng.below(4) == 0;
    let mut body = vec![0u8; size];
    rng.fill(&mut body);
    let request = if upload {
        format!("POST /upload/{n}.bin HTTP/1.1\r\nHost: files.example\r\nUser-Agent: curl/7.88.1\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n")
    } else {
        format!("GET /files/{n}.bin HTTP/1.1\r\nHost: files.example\r\nUser-Agent: Wget/1.21.3\r\nAccept: */*\r\n\r\n")
    };
    let response = if upload {
        "HTTP/1.1 201 Created\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n".to_string()
    } else {
        format!("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n")
    };
    let (mut cseq, mut sseq) = (rng.next_u64() as u32, rng.next_u64() as u32);
    let mut frames = vec![
        tcp_frame(client, server, port, 80, cseq, 0, SYN, &[]),
        tcp_frame(
            server,
            client,
            80,
            port,
            sseq,
            cseq.wrapping_add(1),
            SYN | ACK,
            &[],
        ),
    ];
    cseq = cseq.wrapping_add(1);
    sseq = sseq.wrapping_add(1);
    frames.push(tcp_frame(client, server, port, 80, cseq, sseq, ACK, &[]));
    // Sends `data` from one side in MSS segments, the other side acking every second one.
    let send = |frames: &mut Vec<Vec<u8>>,
                from_client: bool,
                data: &[u8],
                cseq: &mut u32,
                sseq: &mut u32| {
        for (i, seg) in data.chunks(MSS).enumerate() {
            if from_client {
                frames.push(tcp_frame(
                    client,
                    server,
                    port,
                    80,
                    *cseq,
                    *sseq,
                    ACK | PSH,
                    seg,
                ));
                *cseq = cseq.wrapping_add(seg.len() as u32);
                if i % 2 == 1 {
                    frames.push(tcp_frame(server, client, 80, port, *sseq, *cseq, ACK, &[]));
                }
            } else {
                frames.push(tcp_frame(
                    server,
                    client,
                    80,
                    port,
                    *sseq,
                    *cseq,
                    ACK | PSH,
                    seg,
                ));
                *sseq = sseq.wrapping_add(seg.len() as u32);
                if i % 2 == 1 {
                    frames.push(tcp_frame(client, server, port, 80, *cseq, *sseq, ACK, &[]));
                }
            }
        }
    };
    let mut head = request.into_bytes();
    if upload {
        head.extend_from_slice(&body);
    }
    send(&mut frames, true, &head, &mut cseq, &mut sseq);
    let mut reply = response.into_bytes();
    if !upload {
        reply.extend_from_slice(&body);
    }
    send(&mut frames, false, &reply, &mut cseq, &mut sseq);
    frames.push(tcp_frame(
        client,
        server,
        port,
        80,
        cseq,
        sseq,
        FIN | ACK,
        &[],
    ));
    frames.push(tcp_frame(
        server,
        client,
        80,
        port,
        sseq,
        cseq.wrapping_add(1),
        FIN | ACK,
        &[],
    ));
    frames.push(tcp_frame(
        client,
        server,
        port,
        80,
        cseq.wrapping_add(1),
        sseq.wrapping_add(1),
        ACK,
        &[],
    ));
    Conversation {
        frames: frames.into_iter(),
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: gen_capture SEED SIZE_MB OUT.pcap");
        std::process::exit(2);
    }
    let target = args[2].parse::<u64>().expect("SIZE_MB is a number") << 20;
    if args[1] == "flood" {
        return flood(target, Path::new(&args[3]));
    }
    let seed: u64 = args[1].parse().expect("SEED is a number");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let templates = templates(root);
    assert!(!templates.is_empty(), "no template conversations found");
    eprintln!("{} template conversations", templates.len());
    let mut rng = Rng::new(seed);
    let mut out = PcapWriter::create(Path::new(&args[3]))?;
    let mut active: Vec<Conversation> = Vec::new();
    let mut n = 0u64;
    while out.written < target || !active.is_empty() {
        while out.written < target && active.len() < 32 {
            n += 1;
            let client = [10, (n >> 16) as u8, (n >> 8) as u8, n as u8];
            let server = [172, 16, (n % 7) as u8, 10];
            let port = 1024 + (n % 60_000) as u16;
            let conversation = if rng.below(5) == 0 {
                let size = 1024 + rng.below(256 * 1024) as usize;
                http_bulk(&mut rng, client, server, port, n, size)
            } else {
                let t = &templates[rng.below(templates.len() as u64) as usize];
                replay(t, client, server, port)
            };
            active.push(conversation);
        }
        // Interleave: a few frames from a random conversation at a time.
        let i = rng.below(active.len() as u64) as usize;
        let mut finished = false;
        for _ in 0..=rng.below(4) {
            match active[i].frames.next() {
                Some(frame) => out.frame(&frame)?,
                None => {
                    finished = true;
                    break;
                }
            }
        }
        if finished {
            active.swap_remove(i);
        }
    }
    out.out.flush()?;
    eprintln!("{} conversations, {} MB", n, out.written >> 20);
    Ok(())
}

/// Connections that never end and leave bytes waiting: an incomplete
/// request head (dissector) and a segment beyond a hole (reassembly).
fn flood(target: u64, path: &Path) -> std::io::Result<()> {
    let mut out = PcapWriter::create(path)?;
    let server = [172, 16, 0, 80];
    let mut head = b"GET /flood HTTP/1.1\r\nHost: flood.example\r\nX-Pad: ".to_vec();
    head.resize(1300, b'a');
    let ahead = vec![b'b'; 1400];
    let mut n = 0u32;
    while out.written < target {
        n += 1;
        let client = [10, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        let port = 1024 + (n % 60_000) as u16;
        let isn = n.wrapping_mul(2_654_435_761);
        out.frame(&tcp_frame(client, server, port, 80, isn, 0, SYN, &[]))?;
        out.frame(&tcp_frame(
            server,
            client,
            80,
            port,
            7,
            isn.wrapping_add(1),
            SYN | ACK,
            &[],
        ))?;
        out.frame(&tcp_frame(
            client,
            server,
            port,
            80,
            isn.wrapping_add(1),
            8,
            ACK | PSH,
            &head,
        ))?;
        let beyond = isn.wrapping_add(1 + head.len() as u32 + 5000);
        out.frame(&tcp_frame(
            client,
            server,
            port,
            80,
            beyond,
            8,
            ACK | PSH,
            &ahead,
        ))?;
    }
    out.out.flush()?;
    eprintln!("{n} connections, {} MB", out.written >> 20);
    Ok(())
}
