//! The pipeline on one thread: frames in, events out, in capture order.
//!
//! Per packet: decode, find or create the flow, reassemble TCP payload and
//! hand it to the flow's dissector (chosen by probing its first bytes).
//! Flows end on FIN from both sides, on RST, after an idle timeout, when
//! the table is full (the least recently active flow is evicted), or at the
//! end of the capture; each end is a `flow.end` event.

use std::collections::VecDeque;
use std::path::Path;

use model::event::{CoreEvent, EndReason, FlowEnd};
use model::{Direction, Event, Timestamp, Transport};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::artifact::ArtifactStore;
use crate::decode::{self, Decoded, LinkType, Skip};
use crate::defrag::{Defragged, Defragmenter};
use crate::flow::{
    flow_ref, orient, orientation_guessed, payload_says_reversed, App, Flow, FlowKey, Probing,
};
use crate::protocols::{self, Ctx, Driver, Expectation, ProtocolSpec};
use crate::reassembly::{Chunk, Stream};
use crate::source::{FileSource, Frame};

/// Limits and timeouts. Keys carry their unit.
#[derive(Clone, Debug)]
pub struct Config {
    /// Flows tracked at once; past it the least recently active is evicted.
    pub max_flows: usize,
    pub tcp_idle_timeout_seconds: u64,
    pub udp_idle_timeout_seconds: u64,
    /// Out-of-order bytes one direction may hold before its first hole is
    /// stepped over.
    pub max_held_bytes_per_direction: usize,
    /// Out-of-order bytes all flows together may hold.
    pub max_held_bytes_total: usize,
    /// Bytes all dissectors together may keep waiting for the rest of a
    /// message; past it the flow that grew drops what it waits on (an
    /// anomaly says so).
    pub max_pending_bytes_total: usize,
    /// Bytes per direction the probes may look at before giving up.
    pub probe_bytes: usize,
    pub max_fragmented_datagrams: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_flows: 65_536,
            tcp_idle_timeout_seconds: 300,
            udp_idle_timeout_seconds: 60,
            max_held_bytes_per_direction: 1 << 20,
            max_held_bytes_total: 32 << 20,
            max_pending_bytes_total: 32 << 20,
            probe_bytes: 1024,
            max_fragmented_datagrams: 4096,
        }
    }
}

/// The flow a packet was counted in, as [`Engine::frame`] reports it so
/// the pcap store can keep, per flow, where its packets are. `Copy` and
/// allocation-free: the Community ID is held inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketFlow {
    /// Unique within one engine, in the order flows were opened.
    pub serial: u64,
    id: [u8; 32],
    id_len: u8,
    /// Where the flow lives while it is open (see [`Engine::parent`]).
    slot: u32,
}

impl PacketFlow {
    fn of(flow: &Flow, slot: usize) -> PacketFlow {
        let mut id = [0u8; 32];
        let bytes = flow.r.id.as_bytes();
        let n = bytes.len().min(id.len());
        id[..n].copy_from_slice(&bytes[..n]);
        PacketFlow {
            serial: flow.serial,
            id,
            id_len: n as u8,
            slot: slot as u32,
        }
    }

    /// The flow's Community ID (`flow.id` in its events).
    pub fn community_id(&self) -> &str {
        std::str::from_utf8(&self.id[..usize::from(self.id_len)]).unwrap_or("")
    }
}

/// What the engine saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub tcp_packets: u64,
    pub udp_packets: u64,
    /// Frames that carried neither TCP nor UDP (ARP, ICMP, ...).
    pub other_packets: u64,
    pub malformed_packets: u64,
    pub fragments: u64,
    /// Packets of a flow that had already ended (late ACKs, retransmissions).
    pub late_packets: u64,
    pub flows: u64,
    pub evicted_flows: u64,
    pub events: u64,
}

pub struct Engine {
    config: Config,
    table: FxHashMap<FlowKey, usize>,
    slots: Vec<Option<Flow>>,
    free: Vec<usize>,
    /// Eviction order: (slot, serial), oldest first, with a second chance
    /// for flows active since they were last looked at.
    clock: VecDeque<(usize, u64)>,
    /// Flows that ended recently, so their late packets start no new flow
    /// (and are still reported as theirs).
    recently_closed: FxHashMap<FlowKey, (Timestamp, PacketFlow)>,
    defrag: Defragmenter,
    expectations: Vec<Expectation>,
    artifacts: ArtifactStore,
    events: Vec<Event>,
    held_total: usize,
    /// Bytes waiting in dissectors for the rest of a message, all flows.
    pending_total: usize,
    next_serial: u64,
    now: Timestamp,
    last_sweep: Timestamp,
    stats: Stats,
}

const SWEEP_INTERVAL_MICROS: i64 = 1_000_000;
/// How long an ended flow keeps claiming its late packets (capture time).
pub const LINGER_MICROS: i64 = 30_000_000;

impl Engine {
    pub fn new(config: Config, artifacts: ArtifactStore) -> Engine {
        let defrag = Defragmenter::new(config.max_fragmented_datagrams, 30);
        Engine {
            config,
            table: FxHashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            clock: VecDeque::new(),
            recently_closed: FxHashMap::default(),
            defrag,
            expectations: Vec::new(),
            artifacts,
            events: Vec::new(),
            held_total: 0,
            pending_total: 0,
            next_serial: 0,
            now: Timestamp(i64::MIN),
            last_sweep: Timestamp(i64::MIN),
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Flows currently tracked.
    pub fn flows(&self) -> usize {
        self.table.len()
    }

    /// Community ID of the flow that announced `flow` (an FTP data
    /// connection's control flow), while `flow` is open.
    pub fn parent(&self, flow: &PacketFlow) -> Option<&str> {
        let open = self.slots.get(flow.slot as usize)?.as_ref()?;
        (open.serial == flow.serial)
            .then_some(open.parent.as_deref())
            .flatten()
    }

    /// Events produced since the last call, in order.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.stats.events += self.events.len() as u64;
        self.events.drain(..)
    }

    /// Feeds one frame. Returns the flow the packet was counted in (late
    /// packets of a flow that just ended included), or `None` for frames
    /// that belong to no flow (not TCP/UDP, malformed, a fragment still
    /// waiting for the rest, a lone reset).
    pub fn frame(&mut self, link: LinkType, frame: &Frame<'_>) -> Option<PacketFlow> {
        self.stats.packets += 1;
        self.stats.bytes += u64::from(frame.wire_len);
        let ts = frame.ts;
        if ts > self.now {
            self.now = ts;
        }
        let mut seen = None;
        match decode::ip_packet(link, frame.data) {
            Err(skip) => self.skipped(skip),
            Ok(ip) => match ip.fragment {
                Some(fragment) => {
                    self.stats.fragments += 1;
                    let done = self.defrag.fragment(
                        ts.0,
                        ip.src,
                        ip.dst,
                        ip.protocol,
                        fragment,
                        ip.payload,
                    );
                    if let Defragged::Complete(datagram) = done {
                        match decode::transport(ip.src, ip.dst, ip.protocol, &datagram, 0) {
                            Ok(d) => seen = self.packet(ts, &d),
                            Err(skip) => self.skipped(skip),
                        }
                    }
                }
                None => {
                    match decode::transport(ip.src, ip.dst, ip.protocol, ip.payload, ip.missing) {
                        Ok(d) => seen = self.packet(ts, &d),
                        Err(skip) => self.skipped(skip),
                    }
                }
            },
        }
        if self.now.0 >= self.last_sweep.0.saturating_add(SWEEP_INTERVAL_MICROS) {
            self.sweep();
        }
        seen
    }

    fn skipped(&mut self, skip: Skip) {
        match skip {
            Skip::NotTcpUdp => self.stats.other_packets += 1,
            Skip::Malformed => self.stats.malformed_packets += 1,
            Skip::Fragment => self.stats.fragments += 1,
        }
    }

    fn packet(&mut self, ts: Timestamp, d: &Decoded<'_>) -> Option<PacketFlow> {
        let src = (d.src, d.src_port);
        let dst = (d.dst, d.dst_port);
        let key = FlowKey::new(d.transport, src, dst);
        let (syn, ack, fin, rst) = match d.tcp {
            Some(t) => (t.syn, t.ack_flag, t.fin, t.rst),
            None => (false, false, false, false),
        };
        match d.transport {
            Transport::Tcp => self.stats.tcp_packets += 1,
            Transport::Udp => self.stats.udp_packets += 1,
        }
        let reused = match self.table.get(&key) {
            Some(&slot) if syn && !ack => self.slots[slot]
                .as_ref()
                .is_some_and(|f| f.reused_by_syn(src, tcp_seq(d))),
            _ => false,
        };
        if reused {
            // A new connection on the same addresses and ports: the old one
            // ended without us seeing how.
            if let Some(&slot) = self.table.get(&key) {
                self.close(slot, EndReason::Reused, ts);
                self.recently_closed.remove(&key);
            }
        }
        let slot = match self.table.get(&key) {
            Some(&slot) => slot,
            None => {
                let new_connection = syn && !ack;
                if let Some(&(_, closed)) = self.recently_closed.get(&key) {
                    if !new_connection {
                        self.stats.late_packets += 1;
                        return Some(closed);
                    }
                }
                if rst {
                    // A lone reset tells nothing about a connection we never saw.
                    self.stats.late_packets += 1;
                    return None;
                }
                self.recently_closed.remove(&key);
                self.open(ts, key, d.transport, src, dst, syn, ack)
            }
        };
        let flow = self.slots[slot].as_mut()?;
        if flow.orientation_guessed && !d.payload.is_empty() {
            // Picked up mid-stream on ports that tell nothing: the first
            // bytes may show the server spoke first (a reply, a banner).
            flow.orientation_guessed = false;
            let probing_empty = matches!(&flow.app, App::Probing(p) if p.is_empty());
            if probing_empty && payload_says_reversed(flow.direction(src), d.payload) {
                flow.reverse();
            }
        }
        // After any reversal, so the store gets the flow as events name it.
        let seen = Some(PacketFlow::of(flow, slot));
        let dir = flow.direction(src);
        let i = dir.index();
        flow.touched = true;
        flow.last = ts;
        flow.packets[i] += 1;
        flow.bytes[i] += d.payload.len() as u64 + u64::from(d.missing);
        let Some(tcp) = d.tcp else { return seen };
        if rst {
            self.close(slot, EndReason::Rst, ts);
            return seen;
        }
        if flow.wants_payload() {
            // The ACK speaks of bytes sent before this packet: holes it
            // covers in the other direction go first.
            if ack {
                self.acked(slot, ts, dir.reverse(), tcp.ack);
            }
            self.reassemble(slot, ts, dir, tcp.seq, syn, fin, d.payload, d.missing);
        }
        let Some(flow) = self.slots[slot].as_mut() else {
            return seen;
        };
        if fin {
            flow.fin[i] = true;
        }
        let finished = |s: &Stream, fin: bool| fin && (s.is_finished() || !s.is_started());
        if flow.fin[0]
            && flow.fin[1]
            && (!flow.wants_payload()
                || (finished(&flow.streams[0], flow.fin[0])
                    && finished(&flow.streams[1], flow.fin[1])))
        {
            self.close(slot, EndReason::Fin, ts);
        }
        seen
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        ts: Timestamp,
        key: FlowKey,
        transport: Transport,
        src: (std::net::IpAddr, u16),
        dst: (std::net::IpAddr, u16),
        syn: bool,
        ack: bool,
    ) -> usize {
        let (mut client, mut server) = orient(src, dst, syn, ack);
        // A connection a dissector announced (FTP data) gets its dissector.
        let mut app = App::Probing(Probing::default());
        let mut parent = None;
        self.expectations.retain(|e| e.expires >= ts);
        if transport == Transport::Tcp {
            let matches = |e: &Expectation,
                           client: (std::net::IpAddr, u16),
                           server: (std::net::IpAddr, u16)| {
                e.server_ip == server.0
                    && e.server_port == server.1
                    && e.client_ip.is_none_or(|ip| ip == client.0)
            };
            let found = self
                .expectations
                .iter()
                .position(|e| matches(e, client, server))
                .or_else(|| {
                    let reversed = self
                        .expectations
                        .iter()
                        .position(|e| matches(e, server, client));
                    if reversed.is_some() && !syn {
                        std::mem::swap(&mut client, &mut server);
                        reversed
                    } else {
                        None
                    }
                });
            if let Some(at) = found {
                let e = self.expectations.swap_remove(at);
                parent = Some(e.parent.into_boxed_str());
                app = App::Dissecting(Driver::new(e.dissector));
            }
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let flow = Flow {
            key,
            r: flow_ref(transport, client, server),
            client,
            start: ts,
            last: ts,
            packets: [0, 0],
            bytes: [0, 0],
            streams: [Stream::default(), Stream::default()],
            app: if transport == Transport::Udp {
                App::Done(None)
            } else {
                app
            },
            fin: [false, false],
            mid_stream: !syn,
            orientation_guessed: orientation_guessed(src.1, dst.1, syn),
            touched: true,
            serial,
            parent,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(flow);
                slot
            }
            None => {
                self.slots.push(Some(flow));
                self.slots.len() - 1
            }
        };
        self.table.insert(key, slot);
        self.clock.push_back((slot, serial));
        self.stats.flows += 1;
        if self.table.len() > self.config.max_flows {
            self.evict_one(slot, ts);
        }
        slot
    }

    /// Ends the least recently active flow other than `keep`.
    fn evict_one(&mut self, keep: usize, ts: Timestamp) {
        let mut looked = 0;
        let limit = self.clock.len() * 2;
        while let Some((slot, serial)) = self.clock.pop_front() {
            looked += 1;
            let live = self
                .slots
                .get(slot)
                .and_then(|f| f.as_ref())
                .is_some_and(|f| f.serial == serial);
            if !live {
                continue;
            }
            if slot == keep {
                self.clock.push_back((slot, serial));
                continue;
            }
            let flow = self.slots[slot].as_mut().expect("live slot");
            if flow.touched && looked < limit {
                flow.touched = false;
                self.clock.push_back((slot, serial));
                continue;
            }
            self.stats.evicted_flows += 1;
            self.close(slot, EndReason::Evicted, ts);
            return;
        }
    }

    /// An ACK from the other side: holes it covers in `dir` were never
    /// captured; step over them.
    fn acked(&mut self, slot: usize, ts: Timestamp, dir: Direction, ack: u32) {
        self.on_stream(slot, ts, dir, |stream, out| stream.acked(ack, out));
    }

    #[allow(clippy::too_many_arguments)]
    fn reassemble(
        &mut self,
        slot: usize,
        ts: Timestamp,
        dir: Direction,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        missing: u32,
    ) {
        let max_held = self.config.max_held_bytes_per_direction;
        self.on_stream(slot, ts, dir, |stream, out| {
            stream.segment(seq, syn, fin, payload, missing, max_held, out);
        });
    }

    /// Runs `op` on one direction's stream of a flow, handing what comes out
    /// in order to the flow's application layer, and keeps the memory
    /// budgets: out-of-order bytes held by reassembly, and bytes waiting in
    /// dissectors for the rest of a message.
    fn on_stream(
        &mut self,
        slot: usize,
        ts: Timestamp,
        dir: Direction,
        op: impl FnOnce(&mut Stream, &mut dyn FnMut(Chunk<'_>)),
    ) {
        let Engine {
            slots,
            events,
            artifacts,
            expectations,
            config,
            held_total,
            pending_total,
            ..
        } = self;
        let Some(flow) = slots[slot].as_mut() else {
            return;
        };
        let Flow {
            streams,
            app,
            r,
            mid_stream,
            ..
        } = flow;
        let stream = &mut streams[dir.index()];
        let (held_before, pending_before) = (stream.held_bytes(), pending_bytes(app));
        let mut ctx = Ctx::new(ts, r, events, artifacts, expectations);
        let server_port = r.dst_port;
        let mid = *mid_stream;
        op(stream, &mut |chunk| {
            deliver(app, dir, chunk, &mut ctx, config, mid, server_port)
        });
        if *held_total + stream.held_bytes() > config.max_held_bytes_total + held_before {
            // Over the budget: this flow, which just added to it, steps
            // over its holes (O(1), whatever the number of flows).
            stream.flush(&mut |chunk| deliver(app, dir, chunk, &mut ctx, config, mid, server_port));
        }
        *held_total = (*held_total + stream.held_bytes()).saturating_sub(held_before);
        *pending_total = (*pending_total + pending_bytes(app)).saturating_sub(pending_before);
        if *pending_total > config.max_pending_bytes_total {
            *pending_total = pending_total.saturating_sub(pending_bytes(app));
            match app {
                App::Dissecting(driver) => driver.discard_pending(&mut ctx),
                App::Probing(_) => {
                    ctx.anomaly(
                        "tcp",
                        "memory_budget",
                        "too much held by all flows: stopped probing",
                        None,
                    );
                    *app = App::Done(None);
                }
                App::Done(_) => {}
            }
        }
        if matches!(app, App::Done(_)) {
            for s in streams.iter_mut() {
                *held_total = held_total.saturating_sub(s.held_bytes());
                s.discard();
            }
        }
    }

    /// Delivers everything held in both directions, stepping over holes.
    fn flush_streams(&mut self, slot: usize, ts: Timestamp) {
        for dir in [Direction::ToServer, Direction::ToClient] {
            self.on_stream(slot, ts, dir, |stream, out| stream.flush(out));
        }
    }

    fn close(&mut self, slot: usize, reason: EndReason, ts: Timestamp) {
        if self
            .slots
            .get(slot)
            .and_then(|f| f.as_ref())
            .is_some_and(|f| f.wants_payload())
        {
            self.flush_streams(slot, ts);
        }
        let Some(mut flow) = self.slots.get_mut(slot).and_then(|f| f.take()) else {
            return;
        };
        self.pending_total = self.pending_total.saturating_sub(pending_bytes(&flow.app));
        for stream in &flow.streams {
            self.held_total = self.held_total.saturating_sub(stream.held_bytes());
        }
        self.table.remove(&flow.key);
        self.free.push(slot);
        let end_ts = if reason == EndReason::Timeout || reason == EndReason::EndOfCapture {
            flow.last
        } else {
            ts
        };
        {
            let mut ctx = Ctx::new(
                end_ts,
                &flow.r,
                &mut self.events,
                &self.artifacts,
                &mut self.expectations,
            );
            let server_port = flow.r.dst_port;
            let app = std::mem::replace(&mut flow.app, App::Done(None));
            let app = match app {
                App::Probing(probing) if !probing.is_empty() => {
                    // Ended before any probe decided: the port is all we have.
                    match protocols::by_port(server_port) {
                        Some(spec) => start(spec, probing, &mut ctx, true),
                        None => App::Done(None),
                    }
                }
                other => other,
            };
            flow.app = match app {
                App::Dissecting(mut driver) => {
                    driver.close(&mut ctx);
                    App::Done(Some(driver.name()))
                }
                other => other,
            };
        }
        let body = CoreEvent::FlowEnd(FlowEnd {
            start: flow.start,
            duration_seconds: (flow.last.0.saturating_sub(flow.start.0)) as f64 / 1e6,
            reason,
            protocol: flow.protocol().map(str::to_string),
            packets_to_server: flow.packets[0],
            bytes_to_server: flow.bytes[0],
            packets_to_client: flow.packets[1],
            bytes_to_client: flow.bytes[1],
            missed_bytes_to_server: flow.streams[0].missed_bytes,
            missed_bytes_to_client: flow.streams[1].missed_bytes,
            mid_stream: flow.mid_stream,
        });
        let seen = PacketFlow::of(&flow, u32::MAX as usize);
        self.events.push(Event {
            ts: end_ts,
            body: body.into(),
            flow: flow.r,
        });
        if self.recently_closed.len() >= self.config.max_flows {
            self.recently_closed.clear();
        }
        if reason != EndReason::Evicted {
            self.recently_closed.insert(flow.key, (ts, seen));
        }
    }

    /// Ends idle flows and forgets old bookkeeping.
    fn sweep(&mut self) {
        self.last_sweep = self.now;
        let now = self.now.0;
        let tcp_idle = (self.config.tcp_idle_timeout_seconds as i64).saturating_mul(1_000_000);
        let udp_idle = (self.config.udp_idle_timeout_seconds as i64).saturating_mul(1_000_000);
        let idle: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, f)| {
                let f = f.as_ref()?;
                let limit = if f.r.transport == Transport::Tcp {
                    tcp_idle
                } else {
                    udp_idle
                };
                (now.saturating_sub(f.last.0) > limit).then_some(slot)
            })
            .collect();
        for slot in idle {
            self.close(slot, EndReason::Timeout, self.now);
        }
        self.recently_closed
            .retain(|_, (t, _)| now.saturating_sub(t.0) <= LINGER_MICROS);
        let slots = &self.slots;
        self.clock
            .retain(|&(slot, serial)| slots[slot].as_ref().is_some_and(|f| f.serial == serial));
        self.expectations.retain(|e| e.expires.0 >= now);
    }

    /// The capture is over: ends every open flow, oldest first.
    pub fn finish(&mut self) {
        let mut open: Vec<(u64, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, f)| f.as_ref().map(|f| (f.serial, slot)))
            .collect();
        open.sort_unstable();
        for (_, slot) in open {
            let ts = self.slots[slot]
                .as_ref()
                .map(|f| f.last)
                .unwrap_or(self.now);
            self.close(slot, EndReason::EndOfCapture, ts);
        }
        self.clock.clear();
        self.recently_closed.clear();
    }
}

fn tcp_seq(d: &Decoded<'_>) -> u32 {
    d.tcp.map_or(0, |t| t.seq)
}

/// Bytes a flow's application layer keeps: probe bytes or a dissector's
/// unconsumed input.
fn pending_bytes(app: &App) -> usize {
    match app {
        App::Probing(probing) => probing.len(),
        App::Dissecting(driver) => driver.pending_bytes(),
        App::Done(_) => 0,
    }
}

/// Hands one reassembled chunk to a flow's application layer.
fn deliver(
    app: &mut App,
    dir: Direction,
    chunk: Chunk<'_>,
    ctx: &mut Ctx<'_>,
    config: &Config,
    mid_stream: bool,
    server_port: u16,
) {
    if let Chunk::Gap(len) = chunk {
        if len > 0 && !matches!(app, App::Done(_)) {
            ctx.anomaly(
                "tcp",
                "gap",
                format!("{len} bytes were not captured"),
                Some(dir),
            );
        }
    }
    match app {
        App::Dissecting(driver) => match chunk {
            Chunk::Data(data) => driver.data(dir, data, ctx),
            Chunk::Gap(len) => driver.gap(dir, len, ctx),
        },
        App::Probing(probing) => {
            let (data, gap) = match chunk {
                Chunk::Data(data) => (data, 0),
                Chunk::Gap(len) => (&[][..], len),
            };
            let before = probing.bytes[dir.index()].len();
            probing.push(dir, data, config.probe_bytes);
            let taken = probing.bytes[dir.index()].len() - before;
            let verdict = if gap > 0 {
                Some(None)
            } else {
                protocols::identify(&probing.bytes[0], &probing.bytes[1], server_port)
            };
            let spec = match verdict {
                Some(Some(spec)) => Some((spec, false)),
                None if !probing.is_full(config.probe_bytes) => return,
                // Nothing matched: a flow picked up mid-stream (or one with
                // a hole in its first bytes) may still be on its usual port.
                _ if mid_stream || gap > 0 => protocols::by_port(server_port).map(|s| (s, true)),
                _ => None,
            };
            let probing = std::mem::take(probing);
            *app = match spec {
                Some((spec, resync)) => start(spec, probing, ctx, resync),
                None => App::Done(None),
            };
            if let App::Dissecting(driver) = app {
                if taken < data.len() {
                    driver.data(dir, &data[taken..], ctx);
                }
                if gap > 0 {
                    driver.gap(dir, gap, ctx);
                }
            }
        }
        App::Done(_) => {}
    }
    if let App::Dissecting(driver) = app {
        if !driver.wants_more() {
            *app = App::Done(Some(driver.name()));
        }
    }
}

/// Starts `spec`'s dissector on a flow and replays the bytes the probes saw,
/// in the order they came. `resync` tells it the stream starts mid-message.
fn start(spec: &ProtocolSpec, probing: Probing, ctx: &mut Ctx<'_>, resync: bool) -> App {
    let mut driver = Driver::new((spec.new)());
    if resync {
        driver.gap(Direction::ToServer, 0, ctx);
        driver.gap(Direction::ToClient, 0, ctx);
    }
    let mut cursor = [0usize; 2];
    for (dir, len) in probing.order {
        let i = dir.index();
        let end = cursor[i] + len;
        if let Some(bytes) = probing.bytes[i].get(cursor[i]..end) {
            driver.data(dir, bytes, ctx);
        }
        cursor[i] = end;
    }
    App::Dissecting(driver)
}

/// Dissects a whole capture file and returns its events in capture order.
/// A truncated or corrupt file is an error, but only after every event of
/// the frames before the damage was returned through `on_event`.
pub fn dissect_file_with(
    path: &Path,
    config: Config,
    artifacts: &ArtifactStore,
    on_event: &mut dyn FnMut(Event),
) -> crate::Result<Stats> {
    let mut source = FileSource::open(path)?;
    let link = source.link();
    let mut engine = Engine::new(config, artifacts.clone());
    let result = loop {
        match source.next_frame() {
            Ok(Some(frame)) => {
                engine.frame(link, &frame);
                engine.drain_events().for_each(&mut *on_event);
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    engine.finish();
    engine.drain_events().for_each(&mut *on_event);
    result.map(|()| engine.stats())
}

/// Dissects a whole capture file and returns its events in capture order.
pub fn dissect_file(path: &Path, artifacts: &ArtifactStore) -> crate::Result<Vec<Event>> {
    let mut events = Vec::new();
    dissect_file_with(path, Config::default(), artifacts, &mut |e| events.push(e))?;
    Ok(events)
}
