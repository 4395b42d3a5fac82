//! Protocol dissectors, one module per protocol.
//!
//! Each module is split into a pure streaming parser, per-flow state and
//! event building, and exposes a [`ProtocolSpec`]: a cheap `probe` that
//! recognises the protocol from its first bytes on any port, and a
//! constructor for its [`Dissector`].
//!
//! A dissector sees each direction of a connection as one byte stream,
//! through [`Dissector::parse`]: it is handed every byte it has not consumed
//! yet followed by the new ones, and returns how many it consumed. Bytes it
//! leaves are handed back, with more, on the next call; the [`Driver`] bounds
//! how many may wait. `Incomplete` is therefore just "consume less".

mod driver;
pub mod testkit;

pub mod ftp;
pub mod http;
pub mod mongo;
pub mod mysql;
pub mod redis;
pub mod rsync;
pub mod ssh;

use std::net::IpAddr;

use model::{Anomaly, Direction, Event, EventBody, FlowRef, Timestamp};

use crate::artifact::{ArtifactStore, ArtifactWriter};

pub use driver::{Driver, MAX_PENDING_BYTES};

/// What a probe thinks of the first bytes of one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// These bytes are this protocol.
    Match,
    /// These bytes are not this protocol.
    NoMatch,
    /// Too few bytes to tell.
    NeedMore,
}

pub struct ProtocolSpec {
    /// Stable lowercase name (`ftp`, `ssh`, …), used in events.
    pub name: &'static str,
    /// Ports the protocol usually runs on: only a tie-breaker and a fallback
    /// for flows picked up mid-stream; probes decide first.
    pub ports: &'static [u16],
    /// Looks at the first bytes the given direction sent (at most a few
    /// hundred). Must be cheap and must never panic.
    pub probe: fn(Direction, &[u8]) -> Probe,
    pub new: fn() -> Box<dyn Dissector>,
}

/// Every protocol, in the order probes are tried.
pub static PROTOCOLS: &[&ProtocolSpec] = &[
    &ssh::SPEC,
    &rsync::SPEC,
    &mysql::SPEC,
    &mongo::SPEC,
    &redis::SPEC,
    &http::SPEC,
    &ftp::SPEC,
];

pub fn spec_by_name(name: &str) -> Option<&'static ProtocolSpec> {
    PROTOCOLS.iter().copied().find(|p| p.name == name)
}

/// The per-flow state of one protocol.
pub trait Dissector: Send {
    /// The protocol's stable name (`ftp`, `ftp-data`, …).
    fn name(&self) -> &'static str;

    /// Parses bytes of one direction; returns how many were consumed
    /// (`0..=data.len()`). Must never panic, whatever the bytes.
    fn parse(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) -> usize;

    /// `len` bytes of `dir` were never captured. Whatever was pending in
    /// that direction has been dropped; the next `parse` starts after the
    /// hole. Resynchronise or give up (see [`Dissector::wants_more`]).
    fn gap(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>) {
        let _ = (dir, len, ctx);
    }

    /// The connection is over: emit whatever is still pending (a command
    /// without reply, a transfer without its final reply).
    fn close(&mut self, ctx: &mut Ctx<'_>) {
        let _ = ctx;
    }

    /// False once nothing more can be learned (an encrypted phase began):
    /// the engine then stops reassembling this flow's payload.
    fn wants_more(&self) -> bool {
        true
    }
}

/// A connection a dissector announced before it was opened, such as an FTP
/// data connection after `PASV` or `PORT`. The first new flow whose server
/// side is `server_ip:server_port` (and whose client is `client_ip`, when
/// given) gets `dissector`.
pub struct Expectation {
    pub server_ip: IpAddr,
    pub server_port: u16,
    pub client_ip: Option<IpAddr>,
    pub dissector: Box<dyn Dissector>,
    /// The announcing flow's Community ID.
    pub parent: String,
    /// The expectation is dropped if no flow matched it before this time.
    pub expires: Timestamp,
}

/// What a dissector may do besides parsing: emit events, report anomalies,
/// keep artifacts, announce related connections.
pub struct Ctx<'a> {
    /// Timestamp of the packet that delivered the bytes being parsed.
    pub ts: Timestamp,
    pub flow: &'a FlowRef,
    pub(crate) events: &'a mut Vec<Event>,
    pub(crate) artifacts: &'a ArtifactStore,
    pub(crate) expectations: &'a mut Vec<Expectation>,
    /// Bytes of each direction's stream consumed before this call
    /// (indexed by [`Direction::index`]).
    pub offsets: [u64; 2],
}

impl<'a> Ctx<'a> {
    pub fn new(
        ts: Timestamp,
        flow: &'a FlowRef,
        events: &'a mut Vec<Event>,
        artifacts: &'a ArtifactStore,
        expectations: &'a mut Vec<Expectation>,
    ) -> Ctx<'a> {
        Ctx {
            ts,
            flow,
            events,
            artifacts,
            expectations,
            offsets: [0, 0],
        }
    }

    pub fn emit(&mut self, body: impl Into<EventBody>) {
        let ts = self.ts;
        self.emit_at(ts, body);
    }

    /// Emits an event stamped with an earlier time, such as a command
    /// whose reply just arrived.
    pub fn emit_at(&mut self, ts: Timestamp, body: impl Into<EventBody>) {
        self.events.push(Event {
            ts,
            body: body.into(),
            flow: self.flow.clone(),
        });
    }

    pub fn anomaly(
        &mut self,
        protocol: &str,
        kind: &str,
        detail: impl Into<String>,
        direction: Option<Direction>,
    ) {
        let offset = direction.map(|d| self.offsets[d.index()]);
        let body = model::event::CoreEvent::Anomaly(Anomaly {
            kind: kind.to_string(),
            protocol: protocol.to_string(),
            detail: detail.into(),
            direction,
            offset,
        });
        self.emit(body);
    }

    pub fn artifact(&self) -> ArtifactWriter {
        self.artifacts.writer()
    }

    pub fn expect(&mut self, expectation: Expectation) {
        // Bounded: an attacker sending PASV in a loop must not grow memory.
        const MAX_EXPECTATIONS: usize = 1024;
        if self.expectations.len() >= MAX_EXPECTATIONS {
            // Forget the older half at once: amortised O(1) per call.
            self.expectations.drain(..MAX_EXPECTATIONS / 2);
        }
        self.expectations.push(expectation);
    }
}

/// Picks the protocol for a flow from the first bytes of each direction.
/// Returns `None` while some probe still needs more bytes, `Some(None)`
/// when no protocol matched.
pub fn identify(
    to_server: &[u8],
    to_client: &[u8],
    server_port: u16,
) -> Option<Option<&'static ProtocolSpec>> {
    let mut undecided = false;
    // Port hints first, so that ambiguous openings resolve by port.
    let ordered = PROTOCOLS
        .iter()
        .copied()
        .filter(|p| p.ports.contains(&server_port))
        .chain(
            PROTOCOLS
                .iter()
                .copied()
                .filter(|p| !p.ports.contains(&server_port)),
        );
    for spec in ordered {
        let mut verdicts = [Probe::NoMatch; 2];
        for (i, (dir, data)) in [
            (Direction::ToServer, to_server),
            (Direction::ToClient, to_client),
        ]
        .into_iter()
        .enumerate()
        {
            if !data.is_empty() {
                verdicts[i] = (spec.probe)(dir, data);
            } else {
                verdicts[i] = Probe::NeedMore;
            }
        }
        if verdicts.contains(&Probe::Match) {
            if undecided {
                // An earlier protocol could still match; wait for it.
                return None;
            }
            return Some(Some(spec));
        }
        if verdicts.contains(&Probe::NeedMore) {
            undecided = true;
        }
    }
    if undecided {
        None
    } else {
        Some(None)
    }
}

/// The protocol usually found on `port`, for flows nothing could be probed
/// on (picked up mid-stream).
pub fn by_port(port: u16) -> Option<&'static ProtocolSpec> {
    PROTOCOLS.iter().copied().find(|p| p.ports.contains(&port))
}
