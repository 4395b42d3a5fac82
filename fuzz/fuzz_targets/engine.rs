#![no_main]
//! The whole engine on arbitrary frames: a link type, then length-prefixed
//! frames.

use capture::artifact::ArtifactStore;
use capture::decode::LinkType;
use capture::engine::{Config, Engine};
use capture::source::Frame;
use model::Timestamp;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&link, mut rest)) = data.split_first() else { return };
    let link = [LinkType::Ethernet, LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::RawIp, LinkType::Null][usize::from(link) % 5];
    let mut engine = Engine::new(Config { max_flows: 64, ..Config::default() }, ArtifactStore::hash_only());
    let mut ts = 0i64;
    while let [hi, lo, tail @ ..] = rest {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        ts += 1000;
        engine.frame(link, &Frame { ts: Timestamp(ts), data: &tail[..len], wire_len: len as u32 });
        engine.drain_events().for_each(drop);
        rest = &tail[len..];
    }
    engine.finish();
    engine.drain_events().for_each(drop);
});

