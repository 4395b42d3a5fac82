//! The detector tests' real `redis-server` per test (one file for both).
#![allow(dead_code)]

#[path = "../../../detector/tests/common/redis.rs"]
mod shared;
pub use shared::Redis;
