//! A real `redis-server` per test, on a Unix socket in its own temp
//! folder (no port to collide with other tests), stopped on drop. The
//! forensics UI's tests and the detector and loop benchmarks include
//! this file too.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    child: Child,
    pub url: String,
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts `redis-server`; panics (a test failure, not a skip) without it.
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no", "--unixsocketperm", "700"])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server must be installed (Debian package redis-server; scripts/deps.sh): {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not create {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let url = format!("redis+unix://{}", socket.display());
        Redis {
            child,
            url,
            socket,
            _dir: dir,
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
