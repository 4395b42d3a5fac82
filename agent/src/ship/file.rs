//! Follows one log file through rotation (rename, then a new file at the
//! path) and truncation (copytruncate), by polling the path's inode and
//! size. The old file is read to its end before the new one is opened; the
//! position is saved so a restarted agent resumes where it was.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::StartAt;
use crate::error::Result;
use crate::store::write_atomic;

#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    inode: u64,
    offset: u64,
}

pub struct Follower {
    path: PathBuf,
    start_at: StartAt,
    position_path: PathBuf,
    line_max: usize,
    open: Option<(File, u64)>,
    offset: u64,
    partial: Vec<u8>,
    /// The last bytes read before `offset`: if they change, the file was
    /// truncated and written again between two polls.
    tail: Vec<u8>,
    first: bool,
}

const TAIL: usize = 64;

impl Follower {
    pub fn new(path: &Path, start_at: StartAt, state_dir: &Path, line_max: usize) -> Follower {
        let name: String = path
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Follower {
            path: path.to_owned(),
            start_at,
            position_path: state_dir.join(format!("file{name}.json")),
            line_max: line_max.max(1),
            open: None,
            offset: 0,
            partial: Vec::new(),
            tail: Vec::new(),
            first: true,
        }
    }

    /// Reads what is new and hands each complete line to `emit`.
    pub fn poll(&mut self, emit: &mut dyn FnMut(&[u8])) -> Result<()> {
        let before = (self.open.as_ref().map(|o| o.1), self.offset);
        if self.open.is_none() {
            self.open_path();
        }
        let Some((_, inode)) = &self.open else {
            return Ok(());
        };
        let inode = *inode;
        if self.truncated() {
            self.partial.clear();
            self.tail.clear();
            self.offset = 0;
        }
        self.read_available(emit);
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.ino() != inode => {
                // Rotated: the old file is read to its end (above); a line
                // left without its newline is shipped as it is.
                self.flush_partial(emit);
                self.open = None;
                self.offset = 0;
                self.tail.clear();
                self.open_path();
                self.read_available(emit);
            }
            Ok(_) => {}
            // Renamed away and not yet recreated: keep the old file open.
            Err(_) => {}
        }
        if (self.open.as_ref().map(|o| o.1), self.offset) != before {
            if let Some((_, inode)) = &self.open {
                let pos = Position {
                    inode: *inode,
                    offset: self.offset - self.partial.len() as u64,
                };
                write_atomic(&self.position_path, &serde_json::to_vec(&pos)?)?;
            }
        }
        Ok(())
    }

    /// Truncated in place (copytruncate): shorter than what was read, or
    /// the bytes just before the offset are no longer those read.
    fn truncated(&mut self) -> bool {
        let Some((file, _)) = &mut self.open else {
            return false;
        };
        let Ok(meta) = file.metadata() else {
            return false;
        };
        if meta.len() < self.offset {
            return true;
        }
        if self.tail.is_empty() {
            return false;
        }
        let mut now = vec![0u8; self.tail.len()];
        let at = self.offset - self.tail.len() as u64;
        file.seek(SeekFrom::Start(at)).is_ok()
            && file.read_exact(&mut now).is_ok()
            && now != self.tail
    }

    fn open_path(&mut self) {
        let Ok(file) = File::open(&self.path) else {
            return;
        };
        let Ok(meta) = file.metadata() else { return };
        let saved: Option<Position> = std::fs::read(&self.position_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        self.offset = match saved {
            // Same file as before a restart: resume.
            Some(p) if self.first && p.inode == meta.ino() && p.offset <= meta.len() => p.offset,
            _ if self.first && self.start_at == StartAt::End => meta.len(),
            // A file that appeared after rotation is read from its start.
            _ => 0,
        };
        self.first = false;
        self.partial.clear();
        self.tail.clear();
        self.open = Some((file, meta.ino()));
    }

    fn read_available(&mut self, emit: &mut dyn FnMut(&[u8])) {
        let Some((file, _)) = &mut self.open else {
            return;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.offset += n as u64;
            self.tail.extend_from_slice(&buf[n.saturating_sub(TAIL)..n]);
            let cut = self.tail.len().saturating_sub(TAIL);
            self.tail.drain(..cut);
            let mut rest = &buf[..n];
            while let Some(i) = rest.iter().position(|b| *b == b'\n') {
                self.partial.extend_from_slice(&rest[..i]);
                let line = std::mem::take(&mut self.partial);
                emit(trim_cr(&line[..line.len().min(self.line_max)]));
                rest = &rest[i + 1..];
            }
            // Bound memory on a line that never ends: ship it in pieces.
            self.partial.extend_from_slice(rest);
            if self.partial.len() >= self.line_max {
                let line = std::mem::take(&mut self.partial);
                emit(&line[..self.line_max]);
            }
        }
    }

    fn flush_partial(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            emit(trim_cr(&line));
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(f: &mut Follower) -> Vec<String> {
        let mut out = Vec::new();
        f.poll(&mut |l| out.push(String::from_utf8_lossy(l).into_owned()))
            .unwrap();
        out
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    #[test]
    fn follows_rotation_truncation_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        append(&log, "old\n");
        let mut f = Follower::new(&log, StartAt::End, dir.path(), 100);
        assert!(lines(&mut f).is_empty(), "starts at the end");
        append(&log, "a\r\nb");
        assert_eq!(lines(&mut f), ["a"]);
        append(&log, "\nc\n");
        std::fs::rename(&log, dir.path().join("x.log.1")).unwrap();
        append(&dir.path().join("x.log.1"), "d\n");
        append(&log, "e\n");
        assert_eq!(lines(&mut f), ["b", "c", "d", "e"]);
        std::fs::write(&log, "").unwrap();
        append(&log, "f\n");
        assert_eq!(lines(&mut f), ["f"]);
        append(&log, "g\n");
        // A new follower (agent restart) resumes after the last line read.
        let mut f = Follower::new(&log, StartAt::End, dir.path(), 100);
        assert_eq!(lines(&mut f), ["g"]);
    }
}
