//! Runs a dissector over scripted byte streams, as the engine would, for
//! unit tests, property tests and fuzz targets.

use std::net::{IpAddr, Ipv4Addr};

use model::{Direction, Event, FlowRef, Timestamp, Transport};

use super::{Ctx, Dissector, Driver, Expectation};
use crate::artifact::ArtifactStore;

/// One step of a scripted connection.
#[derive(Clone, Debug)]
pub enum Step<'a> {
    Data(Direction, &'a [u8]),
    Gap(Direction, u64),
}

pub fn flow(server_port: u16) -> FlowRef {
    FlowRef {
        id: "1:test".to_string(),
        src_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        src_port: 40000,
        dst_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        dst_port: server_port,
        transport: Transport::Tcp,
    }
}

/// What a scripted run produced.
pub struct Outcome {
    pub events: Vec<Event>,
    pub expectations: Vec<Expectation>,
}

/// Feeds `steps` to `dissector`, then closes it. Each step gets a
/// timestamp one second after the previous one.
pub fn run(dissector: Box<dyn Dissector>, server_port: u16, steps: &[Step<'_>]) -> Outcome {
    run_with(
        dissector,
        &flow(server_port),
        &ArtifactStore::hash_only(),
        steps,
    )
}

pub fn run_with(
    dissector: Box<dyn Dissector>,
    flow: &FlowRef,
    artifacts: &ArtifactStore,
    steps: &[Step<'_>],
) -> Outcome {
    let mut driver = Driver::new(dissector);
    let mut events = Vec::new();
    let mut expectations = Vec::new();
    let mut ts = Timestamp::from_timeval(1_700_000_000, 0);
    for step in steps {
        let mut ctx = Ctx::new(ts, flow, &mut events, artifacts, &mut expectations);
        match *step {
            Step::Data(dir, data) => driver.data(dir, data, &mut ctx),
            Step::Gap(dir, len) => driver.gap(dir, len, &mut ctx),
        }
        ts = Timestamp(ts.0 + 1_000_000);
    }
    let mut ctx = Ctx::new(ts, flow, &mut events, artifacts, &mut expectations);
    driver.close(&mut ctx);
    Outcome {
        events,
        expectations,
    }
}

/// The `kind` of every anomaly among `events`, in order.
pub fn anomalies(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            model::EventBody::Core(model::event::CoreEvent::Anomaly(a)) => Some(a.kind.clone()),
            _ => None,
        })
        .collect()
}

/// Splits `data` into chunks of `size` bytes (the last may be shorter), for
/// checking that a parser gives the same events however bytes arrive.
pub fn chunked(dir: Direction, data: &[u8], size: usize) -> Vec<Step<'_>> {
    data.chunks(size.max(1))
        .map(|c| Step::Data(dir, c))
        .collect()
}

/// Turns fuzzer bytes into a scripted connection: repeated records of a
/// control byte (bit 0: direction, bit 1: a gap instead of data) and a
/// length byte, followed by that many bytes of data.
pub fn steps_from_bytes(mut data: &[u8]) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    while let [control, len, rest @ ..] = data {
        let dir = if control & 1 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let len = usize::from(*len);
        if control & 2 != 0 {
            steps.push(Step::Gap(dir, len as u64));
            data = rest;
        } else {
            let take = len.min(rest.len());
            steps.push(Step::Data(dir, &rest[..take]));
            data = &rest[take..];
        }
    }
    steps
}

/// Runs every probe and then the named protocol's dissector over fuzzer
/// bytes. Used by the fuzz targets; must never panic.
pub fn fuzz_protocol(name: &str, data: &[u8]) {
    let Some(spec) = super::spec_by_name(name) else {
        return;
    };
    let steps = steps_from_bytes(data);
    for step in &steps {
        if let Step::Data(dir, bytes) = step {
            for p in super::PROTOCOLS {
                let _ = (p.probe)(*dir, bytes);
            }
        }
    }
    run(
        (spec.new)(),
        spec.ports.first().copied().unwrap_or(0),
        &steps,
    );
}

/// A small seeded xorshift generator, so that generated or damaged traffic
/// is the same for the same seed (tests, benchmarks). Not for secrets.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
