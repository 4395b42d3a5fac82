//! Extracted files (FTP transfers, HTTP uploads), keyed by SHA-256.
//!
//! Writers stream: bytes are hashed and, when the store has a folder,
//! spooled to a temporary file that is renamed to its hash on `finish`.
//! Memory use does not depend on the file's size.

use std::fs;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// Bytes one writer keeps in memory before it creates its file.
const SPOOL_BYTES_PER_WRITER: usize = 1 << 20;
/// Bytes all writers of a store keep in memory together.
const SPOOL_BYTES_TOTAL: usize = 64 << 20;
/// Temporary files kept open for reuse once their bytes turned out to be
/// a file already kept.
const SPARE_FILES: usize = 16;
/// Spool buffers kept for reuse.
const SPARE_SPOOLS: usize = 16;

#[derive(Clone, Debug, Default)]
pub struct ArtifactStore {
    dir: Option<PathBuf>,
    /// Bytes spooled in memory by this store's writers.
    spooled: Arc<AtomicUsize>,
    /// Temporary files whose bytes were a repeat: overwritten by the next
    /// writer that spills. Creating a file per large transfer cost ext4
    /// inode allocation, slowest right after many files were deleted.
    spares: Arc<Mutex<Vec<tempfile::NamedTempFile>>>,
    /// Spool buffers of finished writers, emptied, for the next ones. A
    /// fresh buffer grown to a MiB per transfer, freed and purged by the
    /// allocator, was refaulted (and zeroed) by the next: about a tenth of
    /// the ingest pipeline's time.
    spools: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ArtifactStore {
    /// A store that only hashes and keeps nothing.
    pub fn hash_only() -> ArtifactStore {
        ArtifactStore::default()
    }

    /// A store that keeps every artifact as `DIR/<sha256>`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> crate::Result<ArtifactStore> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(crate::Error::Artifact)?;
        Ok(ArtifactStore {
            dir: Some(dir),
            ..ArtifactStore::default()
        })
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// A writer. Its first bytes stay in memory (up to
    /// `SPOOL_BYTES_PER_WRITER`, and `SPOOL_BYTES_TOTAL` for all writers);
    /// the temporary file is created only past that, or at `finish` when no
    /// file with the same hash is kept yet. Captures repeat the same files
    /// (FTP listings, web pages), and creating then deleting a file per
    /// transfer cost more system time than anything else in `ingest`.
    pub fn writer(&self) -> ArtifactWriter {
        ArtifactWriter {
            hasher: Sha256::new(),
            size: 0,
            spool: Vec::new(),
            spooled: self.spooled.clone(),
            spares: self.spares.clone(),
            spools: self.spools.clone(),
            file: None,
            written: 0,
            dir: self.dir.clone(),
            failed: false,
        }
    }
}

pub struct ArtifactWriter {
    hasher: Sha256,
    size: u64,
    /// Bytes not in a file yet (counted in `spooled`).
    spool: Vec<u8>,
    spooled: Arc<AtomicUsize>,
    spares: Arc<Mutex<Vec<tempfile::NamedTempFile>>>,
    spools: Arc<Mutex<Vec<Vec<u8>>>>,
    /// A temporary file, new or reused; it may hold stale bytes past
    /// `written`.
    file: Option<tempfile::NamedTempFile>,
    written: u64,
    dir: Option<PathBuf>,
    /// Keeping failed (no temporary file, or out of disk): only hash.
    failed: bool,
}

/// A finished artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub sha256: String,
    pub size: u64,
    /// Where the bytes were kept, when the store has a folder.
    pub path: Option<PathBuf>,
}

impl ArtifactWriter {
    pub fn write(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.hasher.update(data);
        self.size += data.len() as u64;
        if self.failed || self.dir.is_none() {
            return;
        }
        if self.file.is_none() {
            if self.spool.len() + data.len() <= SPOOL_BYTES_PER_WRITER {
                let before = self.spooled.fetch_add(data.len(), Ordering::Relaxed);
                if before + data.len() <= SPOOL_BYTES_TOTAL {
                    if self.spool.capacity() == 0 {
                        self.spool = self.spools.lock().ok().and_then(|mut s| s.pop()).unwrap_or_default();
                    }
                    self.spool.extend_from_slice(data);
                    return;
                }
                self.spooled.fetch_sub(data.len(), Ordering::Relaxed);
            }
            self.file = self.temp_file();
            if self.file.is_none() {
                self.stop_keeping();
                return;
            }
        }
        if let Some(file) = &mut self.file {
            if file.write_all(data).is_err() {
                // Out of disk: keep hashing, stop keeping.
                self.stop_keeping();
                return;
            }
            self.written += data.len() as u64;
        }
    }

    /// A temporary file holding the spooled bytes: a spare one, or new.
    fn temp_file(&mut self) -> Option<tempfile::NamedTempFile> {
        let dir = self.dir.as_ref()?;
        let spare = self.spares.lock().ok().and_then(|mut s| s.pop());
        let mut file = match spare {
            Some(file) => file,
            None => tempfile::Builder::new()
                .prefix(".partial-")
                .tempfile_in(dir)
                .ok()?,
        };
        let ok = file.write_all(&self.spool).is_ok();
        self.written = self.spool.len() as u64;
        self.release_spool();
        ok.then_some(file)
    }

    /// Hands the temporary file back for reuse instead of deleting it.
    fn spare_file(&mut self) {
        let Some(mut file) = self.file.take() else { return };
        if file.rewind().is_err() {
            return;
        }
        if let Ok(mut spares) = self.spares.lock() {
            if spares.len() < SPARE_FILES {
                spares.push(file);
            }
        }
    }

    fn release_spool(&mut self) {
        self.spooled.fetch_sub(self.spool.len(), Ordering::Relaxed);
        let mut spool = std::mem::take(&mut self.spool);
        if spool.capacity() == 0 || spool.capacity() > 2 * SPOOL_BYTES_PER_WRITER {
            return;
        }
        spool.clear();
        if let Ok(mut spools) = self.spools.lock() {
            if spools.len() < SPARE_SPOOLS {
                spools.push(spool);
            }
        }
    }

    fn stop_keeping(&mut self) {
        self.file = None;
        self.failed = true;
        self.release_spool();
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(mut self) -> Artifact {
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        let path = match self.dir.clone() {
            Some(dir) if !self.failed => {
                let target = dir.join(&sha256);
                if target.exists() {
                    self.spare_file();
                    Some(target)
                } else {
                    // Spooled bytes (or none: an empty artifact is kept
                    // too) go to a file now.
                    let file = match self.file.take() {
                        Some(file) => Some(file),
                        None => self.temp_file(),
                    };
                    let written = self.written;
                    file.filter(|f| f.as_file().set_len(written).is_ok())
                        .and_then(|f| f.persist(&target).ok())
                        .map(|_| target)
                }
            }
            _ => None,
        };
        Artifact {
            sha256,
            size: self.size,
            path,
        }
    }
}

impl Drop for ArtifactWriter {
    fn drop(&mut self) {
        self.release_spool();
        self.spare_file();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_under_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::in_dir(dir.path()).unwrap();
        let mut w = store.writer();
        w.write(b"hello ");
        w.write(b"world");
        let a = w.finish();
        assert_eq!(
            a.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(a.size, 11);
        assert_eq!(fs::read(a.path.unwrap()).unwrap(), b"hello world");
    }

    #[test]
    fn writers_touch_the_disk_only_for_bytes_and_empty_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::in_dir(dir.path()).unwrap();
        let writers: Vec<ArtifactWriter> = (0..100).map(|_| store.writer()).collect();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(writers);
        let empty = store.writer().finish();
        assert_eq!(
            empty.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(fs::read(empty.path.unwrap()).unwrap(), b"");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_repeated_file_is_kept_once_and_spills_past_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::in_dir(dir.path()).unwrap();
        let big = vec![7u8; SPOOL_BYTES_PER_WRITER + 10];
        let paths: Vec<_> = (0..3)
            .map(|_| {
                let mut w = store.writer();
                w.write(b"same bytes");
                w.finish().path.unwrap()
            })
            .chain((0..2).map(|_| {
                let mut w = store.writer();
                for chunk in big.chunks(4096) {
                    w.write(chunk);
                }
                w.finish().path.unwrap()
            }))
            .collect();
        assert_eq!(fs::read(&paths[0]).unwrap(), b"same bytes");
        assert_eq!(fs::read(&paths[4]).unwrap(), big);
        // The repeat's temporary file is reused, and what it held past the
        // new bytes is cut off.
        let shorter = vec![9u8; SPOOL_BYTES_PER_WRITER + 5];
        let mut w = store.writer();
        w.write(&shorter);
        assert_eq!(fs::read(w.finish().path.unwrap()).unwrap(), shorter);
        assert_eq!(store.spooled.load(Ordering::Relaxed), 0);
        // Three files, and no temporary file once the store is gone.
        drop(store);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_reused_spool_holds_only_its_own_writers_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::in_dir(dir.path()).unwrap();
        let mut long = store.writer();
        long.write(&[1u8; 5000]);
        long.finish();
        assert_eq!(store.spools.lock().unwrap().len(), 1, "the spool came back");
        let mut short = store.writer();
        short.write(b"short");
        let kept = short.finish();
        assert_eq!(fs::read(kept.path.unwrap()).unwrap(), b"short");
        // A writer dropped unfinished gives its spool back too.
        let mut dropped = store.writer();
        dropped.write(b"never finished");
        drop(dropped);
        assert_eq!(store.spools.lock().unwrap().len(), 1);
        assert!(store.spools.lock().unwrap()[0].is_empty());
        assert_eq!(store.spooled.load(Ordering::Relaxed), 0);
    }
}
