//! One connection's state: its key, orientation, counters, the two
//! reassembled directions and what the application layer makes of them.

use std::net::IpAddr;

use model::{Direction, FlowRef, Timestamp, Transport};

use crate::community_id::community_id;
use crate::protocols::{self, Driver, Probe};
use crate::reassembly::Stream;

/// A flow's endpoints in canonical order, so both directions find it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
    transport: Transport,
}

impl FlowKey {
    pub fn new(transport: Transport, a: (IpAddr, u16), b: (IpAddr, u16)) -> FlowKey {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowKey { lo, hi, transport }
    }
}

fn ip_protocol(t: Transport) -> u8 {
    match t {
        Transport::Tcp => 6,
        Transport::Udp => 17,
    }
}

/// Which side of a new flow is the client, from its first packet.
pub fn orient(
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    syn: bool,
    ack: bool,
) -> ((IpAddr, u16), (IpAddr, u16)) {
    if syn {
        // SYN comes from the client, SYN-ACK from the server.
        return if ack { (dst, src) } else { (src, dst) };
    }
    // Picked up mid-stream: the side on a well-known or protocol port is
    // the server; otherwise assume the sender is the client.
    match (is_server_port(src.1), is_server_port(dst.1)) {
        (true, false) => (dst, src),
        (true, true) if src.1 < dst.1 => (dst, src),
        _ => (src, dst),
    }
}

fn is_server_port(port: u16) -> bool {
    port < 1024 || protocols::by_port(port).is_some()
}

/// True when [`orient`] could only guess: no SYN, and the ports do not tell
/// which side serves. The first payload may then set it right.
pub fn orientation_guessed(src_port: u16, dst_port: u16, syn: bool) -> bool {
    !syn && is_server_port(src_port) == is_server_port(dst_port)
}

/// True when `payload`, sent in direction `dir`, looks like the other
/// direction's opening of some protocol and like nothing in its own.
pub fn payload_says_reversed(dir: Direction, payload: &[u8]) -> bool {
    let matches = |d: Direction| {
        protocols::PROTOCOLS
            .iter()
            .any(|p| (p.probe)(d, payload) == Probe::Match)
    };
    !matches(dir) && matches(dir.reverse())
}

pub fn flow_ref(transport: Transport, client: (IpAddr, u16), server: (IpAddr, u16)) -> FlowRef {
    FlowRef {
        id: community_id(
            ip_protocol(transport),
            client.0,
            client.1,
            server.0,
            server.1,
        ),
        src_ip: client.0,
        src_port: client.1,
        dst_ip: server.0,
        dst_port: server.1,
        transport,
    }
}

/// What the application layer makes of a flow.
pub enum App {
    /// Collecting the first bytes until a protocol's probe decides.
    Probing(Probing),
    Dissecting(Driver),
    /// Nothing more to learn; the recognised protocol, if any.
    Done(Option<&'static str>),
}

/// The first bytes of each direction, and the order they came in (so they
/// can be replayed to the dissector as they arrived).
#[derive(Default)]
pub struct Probing {
    pub bytes: [Vec<u8>; 2],
    pub order: Vec<(Direction, usize)>,
}

impl Probing {
    pub fn push(&mut self, dir: Direction, data: &[u8], limit: usize) {
        let buf = &mut self.bytes[dir.index()];
        let take = data.len().min(limit.saturating_sub(buf.len()));
        if take > 0 {
            buf.extend_from_slice(&data[..take]);
            self.order.push((dir, take));
        }
    }

    pub fn len(&self) -> usize {
        self.bytes[0].len() + self.bytes[1].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_full(&self, limit: usize) -> bool {
        self.bytes.iter().any(|b| b.len() >= limit)
    }
}

pub struct Flow {
    pub key: FlowKey,
    pub r: FlowRef,
    pub client: (IpAddr, u16),
    pub start: Timestamp,
    pub last: Timestamp,
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub streams: [Stream; 2],
    pub app: App,
    pub fin: [bool; 2],
    pub mid_stream: bool,
    /// The client was guessed (see [`orientation_guessed`]); the first
    /// payload may reverse it.
    pub orientation_guessed: bool,
    /// Set on every packet, cleared by the eviction clock (second chance).
    pub touched: bool,
    pub serial: u64,
    /// Community ID of the flow that announced this one (FTP data).
    pub parent: Option<Box<str>>,
}

impl Flow {
    pub fn direction(&self, src: (IpAddr, u16)) -> Direction {
        if src == self.client {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    /// Whether a SYN from `src` with sequence number `seq` opens a new
    /// connection on this flow's addresses and ports rather than repeating
    /// the first one's SYN.
    pub fn reused_by_syn(&self, src: (IpAddr, u16), seq: u32) -> bool {
        let stream = &self.streams[self.direction(src).index()];
        let finished = self.fin[0] || self.fin[1];
        finished || (stream.is_started() && !stream.is_isn(seq))
    }

    /// Swaps client and server, with everything counted per direction.
    pub fn reverse(&mut self) {
        let client = (self.r.dst_ip, self.r.dst_port);
        let server = (self.r.src_ip, self.r.src_port);
        self.r = flow_ref(self.r.transport, client, server);
        self.client = client;
        self.packets.swap(0, 1);
        self.bytes.swap(0, 1);
        self.streams.swap(0, 1);
        self.fin.swap(0, 1);
    }

    pub fn protocol(&self) -> Option<&'static str> {
        match &self.app {
            App::Probing(_) => None,
            App::Dissecting(d) => Some(d.name()),
            App::Done(name) => *name,
        }
    }

    /// Whether payload still needs reassembling.
    pub fn wants_payload(&self) -> bool {
        !matches!(self.app, App::Done(_))
    }
}
