//! One direction of a TCP connection put back in order.
//!
//! Sequence numbers wrap at 2^32; each segment is placed on a 64-bit stream
//! offset relative to the last expected byte, so wrapping, retransmissions
//! and overlaps reduce to integer comparisons. Bytes already delivered are
//! trimmed from retransmissions and overlaps (the first copy wins, as most
//! stacks do). Segments ahead of a hole are held, up to a bound; past it the
//! hole is recorded as a gap and stepped over. A direction picked up without
//! its SYN starts at the first segment seen.

use std::collections::BTreeMap;

/// What a segment produced, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// This many bytes were never seen.
    Gap(u64),
}

/// Segments further ahead than this from the next expected byte are
/// considered garbage (outside any window), not held.
const MAX_AHEAD: i64 = 64 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Stream {
    started: bool,
    /// The SYN's sequence number, when the SYN was seen.
    isn: Option<u32>,
    /// Sequence number of the next expected byte.
    next_seq: u32,
    /// Stream offset of the next expected byte.
    next_offset: u64,
    /// Out-of-order segments by stream offset.
    held: BTreeMap<u64, Vec<u8>>,
    held_bytes: usize,
    /// Stream offset of the FIN, once seen.
    fin_offset: Option<u64>,
    pub missed_bytes: u64,
    pub retransmitted_bytes: u64,
}

impl Stream {
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Whether `seq` is this direction's initial sequence number (a
    /// retransmitted SYN). Only known when the SYN was seen.
    pub fn is_isn(&self, seq: u32) -> bool {
        self.isn == Some(seq)
    }

    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Stream offset of the next byte to deliver.
    pub fn offset(&self) -> u64 {
        self.next_offset
    }

    /// All bytes up to the FIN were delivered.
    pub fn is_finished(&self) -> bool {
        self.fin_offset.is_some_and(|f| self.next_offset >= f)
    }

    /// Adds one segment. `missing` is how many payload bytes the capture cut
    /// off after `payload`. Calls `out` for every chunk now in order.
    /// Returns false when the segment was ignored as outside the window.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        missing: u32,
        max_held_bytes: usize,
        out: &mut dyn FnMut(Chunk<'_>),
    ) -> bool {
        if !self.started {
            self.started = true;
            self.next_seq = if syn { seq.wrapping_add(1) } else { seq };
            self.isn = syn.then_some(seq);
        }
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let rel = data_seq.wrapping_sub(self.next_seq) as i32 as i64;
        if !(-MAX_AHEAD..=MAX_AHEAD).contains(&rel) {
            return false;
        }
        let offset = self.next_offset as i64 + rel;
        if offset < 0 {
            // Before the first byte we know of: nothing to place it on.
            return false;
        }
        let offset = offset as u64;
        let wire_len = payload.len() as u64 + u64::from(missing);
        if fin {
            self.fin_offset.get_or_insert(offset + wire_len);
        }
        if wire_len == 0 {
            return true;
        }
        if offset <= self.next_offset {
            let skip = (self.next_offset - offset) as usize;
            if skip >= payload.len() && missing == 0 {
                self.retransmitted_bytes += wire_len;
                return true;
            }
            self.retransmitted_bytes += skip.min(payload.len()) as u64;
            if skip < payload.len() {
                self.advance(&payload[skip..], out);
            }
            if missing > 0 {
                let hole_end = offset + wire_len;
                if hole_end > self.next_offset {
                    self.skip_to(hole_end, out);
                }
            }
            self.drain_held(out);
        } else {
            // A snap-truncated tail never comes: it becomes part of the
            // hole stepped over before the next held segment.
            if !payload.is_empty() {
                self.hold(offset, payload);
            }
            if self.held_bytes > max_held_bytes {
                self.step_over_gap(out);
            }
        }
        true
    }

    fn advance(&mut self, data: &[u8], out: &mut dyn FnMut(Chunk<'_>)) {
        out(Chunk::Data(data));
        self.next_offset += data.len() as u64;
        self.next_seq = self.next_seq.wrapping_add(data.len() as u32);
    }

    fn skip_to(&mut self, offset: u64, out: &mut dyn FnMut(Chunk<'_>)) {
        let len = offset - self.next_offset;
        out(Chunk::Gap(len));
        self.missed_bytes += len;
        self.next_offset = offset;
        self.next_seq = self.next_seq.wrapping_add(len as u32);
    }

    fn hold(&mut self, offset: u64, payload: &[u8]) {
        match self.held.get(&offset) {
            Some(existing) if existing.len() >= payload.len() => {
                self.retransmitted_bytes += payload.len() as u64;
            }
            _ => {
                if let Some(old) = self.held.insert(offset, payload.to_vec()) {
                    self.held_bytes -= old.len();
                }
                self.held_bytes += payload.len();
            }
        }
    }

    /// Delivers held segments that are now in order.
    fn drain_held(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(entry) = self.held.first_entry() {
            let offset = *entry.key();
            if offset > self.next_offset {
                break;
            }
            let data = entry.remove();
            self.held_bytes -= data.len();
            let skip = (self.next_offset - offset) as usize;
            if skip < data.len() {
                self.retransmitted_bytes += skip as u64;
                self.advance(&data[skip..], out);
            } else {
                self.retransmitted_bytes += data.len() as u64;
            }
        }
    }

    /// Gives up on the hole before the first held segment.
    fn step_over_gap(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        if let Some((&offset, _)) = self.held.first_key_value() {
            if offset > self.next_offset {
                self.skip_to(offset, out);
            }
            self.drain_held(out);
        }
    }

    /// The peer acknowledged every byte before `ack`: bytes below it that
    /// were not captured never will be, so step over them now (as Zeek
    /// does) instead of holding what follows until the bound is reached.
    pub fn acked(&mut self, ack: u32, out: &mut dyn FnMut(Chunk<'_>)) {
        if !self.started {
            return;
        }
        let rel = ack.wrapping_sub(self.next_seq) as i32 as i64;
        if rel <= 0 || rel > MAX_AHEAD {
            return;
        }
        let mut acked_to = self.next_offset + rel as u64;
        if let Some(fin) = self.fin_offset {
            // The FIN takes a sequence number but carries no byte.
            acked_to = acked_to.min(fin);
        }
        while acked_to > self.next_offset {
            match self.held.first_key_value() {
                Some((&first, _)) if first <= acked_to => self.step_over_gap(out),
                _ => {
                    self.skip_to(acked_to, out);
                    self.drain_held(out);
                }
            }
        }
    }

    /// The connection is over: deliver everything held, stepping over holes.
    pub fn flush(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while !self.held.is_empty() {
            self.step_over_gap(out);
        }
        if let Some(fin) = self.fin_offset {
            if fin > self.next_offset && fin - self.next_offset < MAX_AHEAD as u64 {
                self.skip_to(fin, out);
            }
        }
    }

    /// Drops everything held (the dissector no longer wants bytes).
    pub fn discard(&mut self) {
        self.held.clear();
        self.held_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds (seq, payload) segments and returns the stream with gaps as `?`.
    fn run(isn: u32, segments: &[(u32, &[u8])], max_held: usize) -> Vec<u8> {
        let mut s = Stream::default();
        let mut out = Vec::new();
        let mut sink = |c: Chunk<'_>| match c {
            Chunk::Data(d) => out.extend_from_slice(d),
            Chunk::Gap(n) => out.extend(std::iter::repeat_n(b'?', n as usize)),
        };
        s.segment(isn, true, false, b"", 0, max_held, &mut sink);
        for (rel, data) in segments {
            s.segment(
                isn.wrapping_add(1).wrapping_add(*rel),
                false,
                false,
                data,
                0,
                max_held,
                &mut sink,
            );
        }
        s.flush(&mut sink);
        out
    }

    /// Segments as (offset after the SYN, bytes), and the stream expected.
    type Case<'a> = (&'a [(u32, &'a [u8])], &'a [u8]);

    #[test]
    fn in_order_out_of_order_retransmitted_and_overlapping() {
        let cases: &[Case<'_>] = &[
            (&[(0, b"hello "), (6, b"world")], b"hello world"),
            (&[(6, b"world"), (0, b"hello ")], b"hello world"),
            (
                &[(0, b"hello "), (0, b"hello "), (6, b"world")],
                b"hello world",
            ),
            (
                &[(0, b"hel"), (1, b"ello w"), (6, b"world")],
                b"hello world",
            ),
            (&[(6, b"world"), (3, b"lo wo"), (0, b"hel")], b"hello world"),
            (&[(0, b"hello "), (8, b"rld")], b"hello ??rld"),
        ];
        for (segments, expected) in cases {
            assert_eq!(run(1000, segments, 1 << 20), *expected, "{segments:?}");
        }
    }

    #[test]
    fn sequence_numbers_wrap() {
        assert_eq!(
            run(u32::MAX - 3, &[(0, b"abcdef"), (6, b"ghij")], 1 << 20),
            b"abcdefghij"
        );
        assert_eq!(
            run(u32::MAX - 3, &[(6, b"ghij"), (0, b"abcdef")], 1 << 20),
            b"abcdefghij"
        );
    }

    /// A chunk as `data N` or `gap N`, for asserting what came out in order.
    fn describe(c: Chunk<'_>) -> String {
        match c {
            Chunk::Data(d) => format!("data {}", d.len()),
            Chunk::Gap(n) => format!("gap {n}"),
        }
    }

    #[test]
    fn steps_over_a_gap_when_too_much_is_held() {
        let mut s = Stream::default();
        let mut chunks = Vec::new();
        let mut sink = |c: Chunk<'_>| chunks.push(describe(c));
        s.segment(0, false, false, b"aaaa", 0, 8, &mut sink);
        s.segment(10, false, false, b"bbbb", 0, 8, &mut sink);
        s.segment(14, false, false, b"cccc", 0, 8, &mut sink);
        s.segment(18, false, false, b"dddd", 0, 8, &mut sink);
        assert_eq!(chunks, ["data 4", "gap 6", "data 4", "data 4", "data 4"]);
        assert_eq!(s.missed_bytes, 6);
        assert_eq!(s.held_bytes(), 0);
    }

    #[test]
    fn picks_up_mid_stream() {
        let mut s = Stream::default();
        let mut out = Vec::new();
        let mut sink = |c: Chunk<'_>| {
            if let Chunk::Data(d) = c {
                out.extend_from_slice(d)
            }
        };
        s.segment(5_000_000, false, false, b"mid", 0, 1024, &mut sink);
        s.segment(5_000_003, false, false, b"stream", 0, 1024, &mut sink);
        assert_eq!(out, b"midstream");
    }

    #[test]
    fn snap_truncated_segments_become_gaps() {
        let mut s = Stream::default();
        let mut chunks = Vec::new();
        let mut sink = |c: Chunk<'_>| chunks.push(describe(c));
        s.segment(0, false, false, b"abc", 7, 1024, &mut sink);
        s.segment(10, false, false, b"xyz", 0, 1024, &mut sink);
        assert_eq!(chunks, ["data 3", "gap 7", "data 3"]);
    }
}
