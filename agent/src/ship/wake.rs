//! Wakes a file follower as soon as something changes in the file's folder
//! (inotify), so a new log line is shipped at once instead of at the next
//! poll. Only a wake-up: the follower still decides by inode and size, and
//! polls anyway when inotify is unavailable or misses something.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

pub struct Wake {
    fd: Option<i32>,
}

impl Wake {
    /// Watches the folder holding `file` (rotation creates files there).
    pub fn new(file: &Path) -> Wake {
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let Ok(cdir) = CString::new(dir.as_os_str().as_bytes()) else {
            return Wake { fd: None };
        };
        // SAFETY: plain syscalls on a descriptor we own.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if fd < 0 {
                return Wake { fd: None };
            }
            let mask = libc::IN_MODIFY
                | libc::IN_CREATE
                | libc::IN_MOVED_TO
                | libc::IN_MOVED_FROM
                | libc::IN_CLOSE_WRITE
                | libc::IN_ATTRIB;
            if libc::inotify_add_watch(fd, cdir.as_ptr(), mask) < 0 {
                libc::close(fd);
                return Wake { fd: None };
            }
            Wake { fd: Some(fd) }
        }
    }

    /// Returns when something changed in the folder or after `timeout`.
    pub fn wait(&self, timeout: Duration) {
        let Some(fd) = self.fd else {
            std::thread::sleep(timeout);
            return;
        };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one pollfd on our descriptor; the buffer outlives read.
        unsafe {
            if libc::poll(&mut pfd, 1, ms) > 0 {
                let mut buf = [0u8; 4096];
                while libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) > 0 {}
            }
        }
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        if let Some(fd) = self.fd {
            // SAFETY: closing the descriptor we opened.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_write_in_the_folder_wakes_the_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.log");
        let wake = Wake::new(&file);
        assert!(wake.fd.is_some(), "inotify is available on Linux");
        let path = file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(path, b"line\n").unwrap();
        });
        let start = Instant::now();
        wake.wait(Duration::from_secs(30));
        // Woken by the write, not by the 30 s timeout.
        assert!(start.elapsed() < Duration::from_secs(20));
    }
}
