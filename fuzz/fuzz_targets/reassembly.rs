#![no_main]
//! TCP reassembly on arbitrary segments: never panics, never holds more
//! than its bound.

use capture::reassembly::Stream;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut stream = Stream::default();
    let mut rest = data;
    // Records: seq (4), flags (1), missing (1), len (1), payload.
    while rest.len() >= 7 {
        let seq = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let flags = rest[4];
        let missing = u32::from(rest[5]) * 16;
        let len = usize::from(rest[6]).min(rest.len() - 7);
        let payload = &rest[7..7 + len];
        stream.segment(seq, flags & 1 != 0, flags & 2 != 0, payload, missing, 4096, &mut |_| {});
        assert!(stream.held_bytes() <= 4096 + payload.len());
        rest = &rest[7 + len..];
    }
    stream.flush(&mut |_| {});
    assert_eq!(stream.held_bytes(), 0);
});
