//! Reassembly under hostile delivery: whatever the order, duplication and
//! overlap of segments, the stream comes out exactly once, in order; and
//! arbitrary segments never panic nor hold more than the bound.

use capture::reassembly::{Chunk, Stream};
use proptest::prelude::*;

/// Cuts `len` bytes into segments at the given (sorted, deduplicated) points.
fn segments(len: usize, mut cuts: Vec<usize>) -> Vec<(usize, usize)> {
    cuts.retain(|&c| c > 0 && c < len);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for c in cuts.into_iter().chain(std::iter::once(len)) {
        out.push((start, c));
        start = c;
    }
    out
}

fn feed(isn: u32, data: &[u8], order: &[(usize, usize)], max_held: usize) -> (Vec<u8>, u64) {
    let mut stream = Stream::default();
    let mut out = Vec::new();
    let mut gaps = 0;
    let mut sink = |c: Chunk<'_>| match c {
        Chunk::Data(d) => out.extend_from_slice(d),
        Chunk::Gap(n) => gaps += n,
    };
    stream.segment(isn, true, false, &[], 0, max_held, &mut sink);
    for &(start, end) in order {
        let seq = isn.wrapping_add(1).wrapping_add(start as u32);
        stream.segment(seq, false, false, &data[start..end], 0, max_held, &mut sink);
        assert!(stream.held_bytes() <= max_held + (end - start));
    }
    stream.flush(&mut sink);
    (out, gaps)
}

proptest! {
    #[test]
    fn any_order_with_duplicates_and_overlaps_gives_the_stream_once(
        isn in any::<u32>(),
        data in proptest::collection::vec(any::<u8>(), 1..3000),
        cuts in proptest::collection::vec(0usize..3000, 0..40),
        shuffle_seed in any::<u64>(),
        duplicates in proptest::collection::vec((0usize..3000, 1usize..200), 0..10),
    ) {
        let mut order = segments(data.len(), cuts);
        // Overlapping retransmissions of arbitrary ranges.
        for (start, len) in duplicates {
            let start = start % data.len();
            order.push((start, (start + len).min(data.len())));
        }
        // Deterministic shuffle.
        let mut state = shuffle_seed | 1;
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let (out, gaps) = feed(isn, &data, &order, usize::MAX / 2);
        prop_assert_eq!(gaps, 0);
        prop_assert_eq!(out, data);
    }

    #[test]
    fn a_missing_segment_is_one_gap_of_its_length(
        data in proptest::collection::vec(any::<u8>(), 10..2000),
        cuts in proptest::collection::vec(1usize..2000, 2..20),
        drop in any::<prop::sample::Index>(),
    ) {
        let order = segments(data.len(), cuts);
        prop_assume!(order.len() >= 3);
        // Never the last segment: a lost tail is invisible without a FIN.
        let lost = drop.index(order.len() - 1);
        let kept: Vec<_> = order.iter().copied().enumerate().filter(|&(i, _)| i != lost).map(|(_, s)| s).collect();
        let (out, gaps) = feed(7, &data, &kept, usize::MAX / 2);
        let (start, end) = order[lost];
        prop_assert_eq!(gaps, (end - start) as u64);
        let mut expected = data[..start].to_vec();
        expected.extend_from_slice(&data[end..]);
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn arbitrary_segments_never_panic_and_stay_bounded(
        segs in proptest::collection::vec((any::<u32>(), any::<bool>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..600), 0u32..5000), 0..60),
    ) {
        let mut stream = Stream::default();
        let max_held = 4096;
        let mut delivered = 0u64;
        for (seq, syn, fin, payload, missing) in &segs {
            stream.segment(*seq, *syn, *fin, payload, *missing, max_held, &mut |c| {
                if let Chunk::Data(d) = c { delivered += d.len() as u64 }
            });
            prop_assert!(stream.held_bytes() <= max_held + payload.len());
        }
        stream.flush(&mut |_| {});
        prop_assert_eq!(stream.held_bytes(), 0);
    }
}
