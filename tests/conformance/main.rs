//! Conformance with a mature peer: runs the capture engine over every case in
//! `../shared/fixtures/peer/` and compares the protocol facts with the logs
//! Zeek wrote for the same capture (MongoDB: with tshark's dissection).
//! Each protocol module prints its match count; `docs/events.md` explains
//! every difference that is left.

mod support;

mod ftp;
mod http;
mod mongo;
mod mysql;
mod redis;
mod rsync;
mod ssh;
