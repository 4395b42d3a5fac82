//! redis dissector (not written yet: recognises nothing).

use model::Direction;

use super::{Ctx, Dissector, Probe, ProtocolSpec};

pub static SPEC: ProtocolSpec = ProtocolSpec { name: "redis", ports: &[6379], probe, new };

pub fn probe(_dir: Direction, _data: &[u8]) -> Probe {
    Probe::NoMatch
}

fn new() -> Box<dyn Dissector> {
    Box::new(State)
}

struct State;

impl Dissector for State {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn parse(&mut self, _dir: Direction, data: &[u8], _ctx: &mut Ctx<'_>) -> usize {
        data.len()
    }
}
