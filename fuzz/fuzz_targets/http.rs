#![no_main]
//! The http probe and dissector on arbitrary byte streams.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capture::protocols::testkit::fuzz_protocol("http", data);
});
