#![no_main]
//! The mysql probe and dissector on arbitrary byte streams.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capture::protocols::testkit::fuzz_protocol("mysql", data);
});
