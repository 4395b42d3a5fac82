//! A disk spool between the log readers and the sender: every framed line
//! is appended here first and removed only after it was written to the
//! detector, so nothing is lost while the detector is unreachable (or the
//! agent restarts). Order is kept: one file, read from the front.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ship::syslog::frame_len;
use crate::store::write_atomic;

struct Inner {
    file: File,
    len: u64,
    /// Everything before this offset has been sent.
    sent: u64,
    dropped: u64,
}

pub struct Spool {
    inner: Mutex<Inner>,
    ready: Condvar,
    offset_path: PathBuf,
    max_bytes: u64,
}

impl Spool {
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let data = dir.join("spool.data");
        let offset_path = dir.join("spool.offset");
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&data)
            .map_err(|e| Error::io(format!("opening {}", data.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("spool size", e))?
            .len();
        let sent = std::fs::read_to_string(&offset_path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .min(len);
        Ok(Spool {
            inner: Mutex::new(Inner {
                file,
                len,
                sent,
                dropped: 0,
            }),
            ready: Condvar::new(),
            offset_path,
            max_bytes,
        })
    }

    /// Appends one framed message. Past `max_bytes` of unsent data the
    /// message is counted as dropped (and logged), never silently lost.
    pub fn push(&self, frame: &[u8]) -> Result<()> {
        let mut inner = self.inner.lock().expect("spool lock");
        if inner.len - inner.sent + frame.len() as u64 > self.max_bytes {
            inner.dropped += 1;
            if inner.dropped.is_power_of_two() {
                tracing::error!(dropped = inner.dropped, "spool full: log lines dropped");
            }
            return Ok(());
        }
        inner
            .file
            .write_all(frame)
            .map_err(|e| Error::io("appending to the spool", e))?;
        inner.len += frame.len() as u64;
        self.ready.notify_all();
        Ok(())
    }

    pub fn dropped(&self) -> u64 {
        self.inner.lock().expect("spool lock").dropped
    }

    /// Up to `max` bytes of whole frames not yet sent, with the offset just
    /// after them; waits up to `wait` for something to arrive.
    pub fn next_batch(&self, max: usize, wait: Duration) -> Result<Option<(Vec<u8>, u64)>> {
        let mut inner = self.inner.lock().expect("spool lock");
        if inner.sent == inner.len {
            inner = self.ready.wait_timeout(inner, wait).expect("spool lock").0;
            if inner.sent == inner.len {
                return Ok(None);
            }
        }
        let want = ((inner.len - inner.sent) as usize).min(max.max(64 * 1024));
        let mut buf = vec![0; want];
        let sent = inner.sent;
        let file = &mut inner.file;
        file.seek(SeekFrom::Start(sent))
            .map_err(|e| Error::io("reading the spool", e))?;
        file.read_exact(&mut buf)
            .map_err(|e| Error::io("reading the spool", e))?;
        // Only whole frames; a frame larger than the batch is read whole.
        let mut end = 0;
        loop {
            match frame_len(&buf[end..]) {
                Some(Ok(n)) => end += n,
                Some(Err(())) => {
                    // A torn write from a crash: skip the rest of the spool
                    // rather than send garbage forever.
                    tracing::error!(
                        offset = sent + end as u64,
                        "damaged spool; skipping to its end"
                    );
                    let skip = inner.len;
                    drop(inner);
                    self.commit(skip)?;
                    return Ok(None);
                }
                None => break,
            }
            if end >= buf.len() {
                break;
            }
        }
        if end == 0 {
            // The first frame is larger than `want`: read it whole.
            let total = match frame_len(&buf) {
                None => {
                    let space = buf.iter().position(|b| *b == b' ').unwrap_or(0);
                    let n: usize = std::str::from_utf8(&buf[..space])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    space + 1 + n
                }
                _ => buf.len(),
            };
            if sent + total as u64 > inner.len {
                return Ok(None);
            }
            buf.resize(total, 0);
            let file = &mut inner.file;
            file.seek(SeekFrom::Start(sent))
                .map_err(|e| Error::io("reading the spool", e))?;
            file.read_exact(&mut buf)
                .map_err(|e| Error::io("reading the spool", e))?;
            end = total;
        }
        buf.truncate(end);
        Ok(Some((buf, sent + end as u64)))
    }

    /// Marks everything before `offset` as sent; an emptied spool is
    /// truncated so it never grows while the detector is reachable.
    pub fn commit(&self, offset: u64) -> Result<()> {
        let mut inner = self.inner.lock().expect("spool lock");
        inner.sent = offset.min(inner.len);
        if inner.sent == inner.len {
            inner
                .file
                .set_len(0)
                .map_err(|e| Error::io("truncating the spool", e))?;
            inner.len = 0;
            inner.sent = 0;
        }
        write_atomic(&self.offset_path, inner.sent.to_string().as_bytes())
    }

    /// Bytes waiting to be sent.
    pub fn pending(&self) -> u64 {
        let inner = self.inner.lock().expect("spool lock");
        inner.len - inner.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ship::syslog::frame;

    #[test]
    fn batches_hold_whole_frames_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let frames: Vec<Vec<u8>> = (0..5)
            .map(|i| frame("h", "app", format!("line {i}").as_bytes(), 0))
            .collect();
        for f in &frames {
            spool.push(f).unwrap();
        }
        let (batch, end) = spool.next_batch(1, Duration::ZERO).unwrap().unwrap();
        assert_eq!(batch, frames.concat());
        let first_len = frames[0].len() as u64;
        spool.commit(first_len).unwrap();
        drop(spool);
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let (batch, end2) = spool.next_batch(1 << 16, Duration::ZERO).unwrap().unwrap();
        assert_eq!(batch, frames[1..].concat());
        assert_eq!(end, end2);
        spool.commit(end2).unwrap();
        assert_eq!(spool.pending(), 0);
        assert!(spool.next_batch(1 << 16, Duration::ZERO).unwrap().is_none());
    }

    #[test]
    fn a_full_spool_counts_what_it_drops() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 100).unwrap();
        for _ in 0..5 {
            spool.push(&frame("h", "a", b"0123456789", 0)).unwrap();
        }
        assert!(spool.dropped() >= 3);
    }
}
