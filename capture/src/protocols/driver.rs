//! Feeds one flow's reassembled bytes to its dissector, keeping what the
//! dissector has not consumed yet, within a bound.

use model::Direction;

use super::{Ctx, Dissector};

/// Unconsumed bytes one direction may hold. A dissector that needs more to
/// make progress is told about a gap instead, and an anomaly says so.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;

pub struct Driver {
    dissector: Box<dyn Dissector>,
    pending: [Vec<u8>; 2],
    consumed: [u64; 2],
}

impl Driver {
    pub fn new(dissector: Box<dyn Dissector>) -> Driver {
        Driver {
            dissector,
            pending: [Vec::new(), Vec::new()],
            consumed: [0, 0],
        }
    }

    pub fn name(&self) -> &'static str {
        self.dissector.name()
    }

    pub fn wants_more(&self) -> bool {
        self.dissector.wants_more()
    }

    /// Hands `data` (the next bytes of `dir`) to the dissector.
    pub fn data(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        let i = dir.index();
        ctx.offsets = self.consumed;
        if self.pending[i].is_empty() {
            // Common case: nothing waiting, parse straight from the packet.
            let used = self.dissector.parse(dir, data, ctx).min(data.len());
            self.consumed[i] += used as u64;
            self.keep(dir, &data[used..], ctx);
        } else {
            let mut buf = std::mem::take(&mut self.pending[i]);
            buf.extend_from_slice(data);
            let used = self.dissector.parse(dir, &buf, ctx).min(buf.len());
            self.consumed[i] += used as u64;
            buf.drain(..used);
            let rest = std::mem::take(&mut buf);
            self.pending[i] = buf;
            self.keep(dir, &rest, ctx);
        }
    }

    fn keep(&mut self, dir: Direction, rest: &[u8], ctx: &mut Ctx<'_>) {
        let i = dir.index();
        self.pending[i].extend_from_slice(rest);
        if self.pending[i].len() > MAX_PENDING_BYTES {
            let dropped = self.pending[i].len() as u64;
            ctx.offsets = self.consumed;
            ctx.anomaly(
                self.dissector.name(),
                "oversized_message",
                format!("{dropped} bytes without a complete message; skipped"),
                Some(dir),
            );
            self.pending[i].clear();
            self.pending[i].shrink_to(4096);
            self.consumed[i] += dropped;
            self.dissector.gap(dir, 0, ctx);
        }
    }

    /// Bytes waiting for the rest of a message, both directions.
    pub fn pending_bytes(&self) -> usize {
        self.pending[0].len() + self.pending[1].len()
    }

    /// Drops what is waiting (the engine is over its memory budget); the
    /// dissector is told as for a gap, and an anomaly says so.
    pub fn discard_pending(&mut self, ctx: &mut Ctx<'_>) {
        for dir in [Direction::ToServer, Direction::ToClient] {
            let waiting = self.pending[dir.index()].len();
            if waiting > 0 {
                ctx.offsets = self.consumed;
                ctx.anomaly(
                    self.dissector.name(),
                    "memory_budget",
                    format!("{waiting} bytes awaiting a complete message dropped: all flows together hold too much"),
                    Some(dir),
                );
                self.consumed[dir.index()] += waiting as u64;
                self.pending[dir.index()] = Vec::new();
                self.dissector.gap(dir, 0, ctx);
            }
        }
    }

    /// `len` bytes of `dir` are missing.
    pub fn gap(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>) {
        let i = dir.index();
        self.consumed[i] += self.pending[i].len() as u64 + len;
        self.pending[i].clear();
        ctx.offsets = self.consumed;
        self.dissector.gap(dir, len, ctx);
    }

    pub fn close(&mut self, ctx: &mut Ctx<'_>) {
        ctx.offsets = self.consumed;
        self.dissector.close(ctx);
    }
}
