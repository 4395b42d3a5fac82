//! A file written from its own thread. The ingest pipeline's thread fills
//! buffers and moves on; the kernel's side of writing (page-cache copies,
//! block allocation) happens on this one. `flush` and `sync_data` wait for
//! everything handed over so far, so a commit still means "on disk".

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes handed to the thread at once.
const BUFFER_BYTES: usize = 1 << 20;
/// Buffers in flight (bounded: the pipeline waits when the disk is slower).
const BUFFERS: usize = 4;

enum Job {
    Write(Vec<u8>),
    /// Answer once everything before is written (and synced, if asked).
    Barrier { sync: bool, done: SyncSender<io::Result<()>> },
}

pub struct BackgroundFile {
    buf: Vec<u8>,
    jobs: Option<SyncSender<Job>>,
    /// Buffers the thread has written, back for reuse.
    spare: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundFile {
    pub fn new(file: File) -> io::Result<BackgroundFile> {
        let (jobs, rx) = sync_channel(BUFFERS);
        let (give_back, spare) = sync_channel(BUFFERS + 1);
        let thread = std::thread::Builder::new()
            .name("kyoka-store".into())
            .spawn(move || run(file, rx, give_back))?;
        Ok(BackgroundFile {
            buf: Vec::with_capacity(BUFFER_BYTES),
            jobs: Some(jobs),
            spare,
            thread: Some(thread),
        })
    }

    fn send(&mut self, job: Job) -> io::Result<()> {
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if sent {
            Ok(())
        } else {
            Err(io::Error::other("the store's writer thread stopped"))
        }
    }

    fn hand_over(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUFFER_BYTES));
        let full = std::mem::replace(&mut self.buf, next);
        self.send(Job::Write(full))
    }

    fn barrier(&mut self, sync: bool) -> io::Result<()> {
        self.hand_over()?;
        let (done, wait) = sync_channel(1);
        self.send(Job::Barrier { sync, done })?;
        answer(&wait)
    }

    /// Waits until everything written so far is on disk.
    pub fn sync_data(&mut self) -> io::Result<()> {
        self.barrier(true)
    }

    /// Starts syncing a file nothing more is written to, without waiting:
    /// `Syncing::wait` does.
    pub fn sync_later(mut self) -> io::Result<Syncing> {
        self.hand_over()?;
        let (done, wait) = sync_channel(1);
        self.send(Job::Barrier { sync: true, done })?;
        Ok(Syncing { _file: self, wait })
    }
}

/// A closed file being synced on its thread.
pub struct Syncing {
    _file: BackgroundFile,
    wait: Receiver<io::Result<()>>,
}

impl Syncing {
    pub fn wait(self) -> io::Result<()> {
        answer(&self.wait)
    }
}

/// What the thread answered a barrier with.
fn answer(wait: &Receiver<io::Result<()>>) -> io::Result<()> {
    wait.recv()
        .unwrap_or_else(|_| Err(io::Error::other("the store's writer thread stopped")))
}

impl Write for BackgroundFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BUFFER_BYTES {
            self.hand_over()?;
        }
        Ok(data.len())
    }

    /// Waits until everything written so far is in the file.
    fn flush(&mut self) -> io::Result<()> {
        self.barrier(false)
    }
}

impl Drop for BackgroundFile {
    fn drop(&mut self) {
        let _ = self.hand_over();
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes buffers in order. After the first error nothing more is written
/// (later bytes would leave a hole), and every barrier reports it.
fn run(mut file: File, jobs: Receiver<Job>, give_back: SyncSender<Vec<u8>>) {
    let mut failed: Option<io::Error> = None;
    for job in jobs {
        match job {
            Job::Write(mut buf) => {
                if failed.is_none() {
                    if let Err(e) = file.write_all(&buf) {
                        failed = Some(e);
                    }
                }
                buf.clear();
                let _ = give_back.try_send(buf);
            }
            Job::Barrier { sync, done } => {
                let result = match &failed {
                    Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
                    None if sync => file.sync_data(),
                    None => Ok(()),
                };
                let _ = done.send(result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_in_order_and_flush_means_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut out = BackgroundFile::new(File::create(&path).unwrap()).unwrap();
        let mut expected = Vec::new();
        for i in 0..5000u32 {
            let chunk = vec![(i % 251) as u8; (i % 700) as usize];
            out.write_all(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
        }
        out.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        out.write_all(b"tail").unwrap();
        out.sync_data().unwrap();
        expected.extend_from_slice(b"tail");
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        // Closed with its last bytes still in a buffer: they are in the
        // file once the sync it started is waited for.
        out.write_all(b"last").unwrap();
        let syncing = out.sync_later().unwrap();
        syncing.wait().unwrap();
        expected.extend_from_slice(b"last");
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn a_write_error_is_reported_at_the_next_barrier() {
        // A file opened read-only refuses writes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap();
        let mut out = BackgroundFile::new(File::open(&path).unwrap()).unwrap();
        out.write_all(&[1; 10]).unwrap();
        assert!(out.flush().is_err());
        assert!(out.sync_data().is_err());
    }
}
