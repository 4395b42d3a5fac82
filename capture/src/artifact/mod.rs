//! Extracted files (FTP transfers, HTTP uploads), keyed by SHA-256.
//!
//! Writers stream: bytes are hashed and kept in memory up to a MiB; a
//! larger file is spooled to a temporary file renamed to `DIR/<sha256>` on
//! `finish`. In a data folder ([`ArtifactStore::packed`]) a new file that
//! fits in memory is appended to a pack file instead (`DIR/packs/`, see
//! [`pack`]). Memory use does not depend on the file's size.

pub mod pack;

use std::fs;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use pack::{PackIndex, PackWriter, Slot};

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
    /// The packs of `dir`: what they hold, and the one appended to.
    packs: Option<Arc<Mutex<Packs>>>,
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

#[derive(Debug)]
struct Packs {
    dir: PathBuf,
    index: PackIndex,
    /// Opened at the first append.
    writer: Option<PackWriter>,
}

impl Packs {
    fn writer(&mut self) -> std::io::Result<&mut PackWriter> {
        if self.writer.is_none() {
            self.writer = Some(PackWriter::open(&self.dir)?);
        }
        self.writer.as_mut().ok_or_else(|| std::io::Error::other("no pack writer"))
    }

    fn append(&mut self, sha: &pack::Sha256, bytes: &[u8]) -> std::io::Result<Slot> {
        let slot = self.writer()?.append(sha, bytes)?;
        self.index.insert(*sha, slot);
        Ok(slot)
    }
}

/// Where an artifact's bytes are: `len` bytes at `offset` of `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// `name` as a SHA-256 (64 lower-case hex digits), else `None`.
fn parse_name(name: &str) -> Option<pack::Sha256> {
    if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    let mut sha = [0u8; 32];
    hex::decode_to_slice(name, &mut sha).ok()?;
    Some(sha)
}

/// Where the artifact named `sha256` is in the artifact folder `dir`
/// (packed or a file of its own), for a reader such as the web UI.
pub fn locate(dir: &Path, sha256: &str) -> Option<Located> {
    let sha = parse_name(sha256)?;
    let packs = dir.join("packs");
    if let Ok(Some(slot)) = pack::find(&packs, &sha) {
        return Some(Located {
            path: pack::pack_path(&packs, slot.pack),
            offset: slot.offset,
            len: slot.len,
        });
    }
    let path = dir.join(sha256);
    let len = fs::metadata(&path).ok().filter(|m| m.is_file())?.len();
    Some(Located { path, offset: 0, len })
}

/// How many artifacts the folder `dir` keeps, and the bytes its files use
/// (packs and their entries included).
pub fn usage(dir: &Path) -> (u64, u64) {
    let files = |d: &Path| -> Vec<(String, u64)> {
        fs::read_dir(d)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| {
                        let m = e.metadata().ok().filter(|m| m.is_file())?;
                        Some((e.file_name().to_str()?.to_string(), m.len()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let own = files(dir);
    let packs_dir = dir.join("packs");
    let packed = PackIndex::load(&packs_dir).map(|i| i.len() as u64).unwrap_or(0);
    let count = own.iter().filter(|(n, _)| parse_name(n).is_some()).count() as u64 + packed;
    let bytes = own.iter().chain(files(&packs_dir).iter()).map(|(_, b)| b).sum();
    (count, bytes)
}

impl ArtifactStore {
    /// A store that only hashes and keeps nothing.
    pub fn hash_only() -> ArtifactStore {
        ArtifactStore::default()
    }

    /// A store that keeps every artifact as `DIR/<sha256>` (for a folder
    /// a person reads, such as `kyoka dissect --artifacts`).
    pub fn in_dir(dir: impl Into<PathBuf>) -> crate::Result<ArtifactStore> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(crate::Error::Artifact)?;
        Ok(ArtifactStore {
            dir: Some(dir),
            ..ArtifactStore::default()
        })
    }

    /// A store that appends the artifacts that fit in a spool to pack files
    /// in `DIR/packs/` and keeps larger ones as `DIR/<sha256>` (a data
    /// folder's artifacts).
    pub fn packed(dir: impl Into<PathBuf>) -> crate::Result<ArtifactStore> {
        let mut store = ArtifactStore::in_dir(dir)?;
        let packs_dir = store.dir.as_ref().map(|d| d.join("packs")).unwrap_or_default();
        let index = PackIndex::load(&packs_dir).map_err(crate::Error::Artifact)?;
        store.packs = Some(Arc::new(Mutex::new(Packs {
            dir: packs_dir,
            index,
            writer: None,
        })));
        Ok(store)
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The bytes of the artifact named `sha256`, when it is kept.
    pub fn read(&self, sha256: &str) -> Option<Vec<u8>> {
        let at = locate(self.dir.as_ref()?, sha256)?;
        let mut f = fs::File::open(&at.path).ok()?;
        f.seek(std::io::SeekFrom::Start(at.offset)).ok()?;
        let mut bytes = Vec::with_capacity(at.len as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(f, at.len), &mut bytes).ok()?;
        (bytes.len() as u64 == at.len).then_some(bytes)
    }

    /// Makes the packed artifacts durable: the commit point calls it before
    /// the index that names them is committed. (Files of their own are
    /// renamed into place whole; the packs are what a crash could tear.)
    pub fn sync(&self) -> std::io::Result<()> {
        let Some(packs) = &self.packs else { return Ok(()) };
        let mut packs = packs.lock().map_err(|_| std::io::Error::other("artifact packs poisoned"))?;
        match &mut packs.writer {
            Some(w) => w.sync(),
            None => Ok(()),
        }
    }

    /// Deletes the artifacts `keep` says no to (by SHA-256 name): files
    /// of their own, and packed ones (a pack is rewritten without them).
    /// Returns how many went.
    pub fn prune(&self, keep: &mut dyn FnMut(&str) -> std::io::Result<bool>) -> std::io::Result<u64> {
        let Some(dir) = &self.dir else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in fs::read_dir(dir)?.flatten() {
            let name = entry.file_name();
            // Temporary files of a writer and the packs are not named by a hash.
            let Some(name) = name.to_str().filter(|n| parse_name(n).is_some()) else {
                continue;
            };
            if !keep(name)? {
                match fs::remove_file(entry.path()) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => removed += 1,
                }
            }
        }
        let Some(packs) = &self.packs else {
            return Ok(removed);
        };
        let mut packs = packs.lock().map_err(|_| std::io::Error::other("artifact packs poisoned"))?;
        let Packs { dir, index, .. } = &mut *packs;
        if index.is_empty() && pack::packs(dir)?.is_empty() {
            return Ok(removed);
        }
        let dir = dir.clone();
        // The pack being appended to is closed first, so every pack can go.
        let mut writer = match packs.writer.take() {
            Some(w) => w,
            None => PackWriter::open(&dir)?,
        };
        writer.roll()?;
        let Packs { index, .. } = &mut *packs;
        removed += pack::prune(&dir, index, &mut writer, &mut |sha| keep(&hex::encode(sha)))?;
        packs.writer = Some(writer);
        Ok(removed)
    }

    /// A writer. Its first bytes stay in memory (up to
    /// `SPOOL_BYTES_PER_WRITER`, and `SPOOL_BYTES_TOTAL` for all writers);
    /// a file is created only past that. Captures repeat the same files
    /// (FTP listings, web pages): a repeat never touches the disk.
    pub fn writer(&self) -> ArtifactWriter {
        ArtifactWriter {
            hasher: Sha256::new(),
            size: 0,
            spool: Vec::new(),
            spooled: self.spooled.clone(),
            spares: self.spares.clone(),
            spools: self.spools.clone(),
            packs: self.packs.clone(),
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
    packs: Option<Arc<Mutex<Packs>>>,
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
    /// The bytes were kept (the store has a folder and the disk had room):
    /// [`ArtifactStore::read`] and [`locate`] find them by `sha256`.
    pub kept: bool,
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
        let digest: pack::Sha256 = std::mem::take(&mut self.hasher).finalize().into();
        let sha256 = hex::encode(digest);
        let kept = match self.dir.clone() {
            Some(dir) if !self.failed => self.keep(&dir, &digest, &sha256),
            _ => false,
        };
        Artifact {
            sha256,
            size: self.size,
            kept,
        }
    }

    /// Keeps the bytes unless a file with the same hash is kept already:
    /// in a pack when the store has packs and they were all spooled, else
    /// as a file of their own.
    fn keep(&mut self, dir: &Path, digest: &pack::Sha256, name: &str) -> bool {
        let target = dir.join(name);
        let packs = self.packs.clone();
        let mut packs = match &packs {
            Some(p) => match p.lock() {
                Ok(guard) => Some(guard),
                Err(_) => return false,
            },
            None => None,
        };
        let packed = packs.as_ref().is_some_and(|p| p.index.get(digest).is_some());
        if packed || target.exists() {
            self.spare_file();
            return true;
        }
        if let (Some(p), None) = (&mut packs, &self.file) {
            let appended = p.append(digest, &self.spool).is_ok();
            self.release_spool();
            return appended;
        }
        drop(packs);
        // Spooled bytes (or none: an empty artifact is kept too) go to a
        // file now.
        let file = match self.file.take() {
            Some(file) => Some(file),
            None => self.temp_file(),
        };
        let written = self.written;
        file.is_some_and(|f| f.as_file().set_len(written).is_ok() && f.persist(&target).is_ok())
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
        let store = ArtifactStore::packed(dir.path()).unwrap();
        let mut w = store.writer();
        w.write(b"hello ");
        w.write(b"world");
        let a = w.finish();
        assert_eq!(
            a.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(a.size, 11);
        assert!(a.kept);
        assert_eq!(store.read(&a.sha256).unwrap(), b"hello world");
        // Another reader finds it in its pack.
        let at = locate(dir.path(), &a.sha256).unwrap();
        assert_eq!((at.offset, at.len), (0, 11));
        assert!(at.path.starts_with(dir.path().join("packs")));
    }

    #[test]
    fn writers_touch_the_disk_only_for_bytes_and_empty_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::packed(dir.path()).unwrap();
        let writers: Vec<ArtifactWriter> = (0..100).map(|_| store.writer()).collect();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(writers);
        let empty = store.writer().finish();
        assert_eq!(
            empty.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(store.read(&empty.sha256).unwrap(), b"");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["packs"]);
    }

    #[test]
    fn a_repeated_file_is_kept_once_and_spills_past_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::packed(dir.path()).unwrap();
        let big = vec![7u8; SPOOL_BYTES_PER_WRITER + 10];
        let names: Vec<_> = (0..3)
            .map(|_| {
                let mut w = store.writer();
                w.write(b"same bytes");
                w.finish().sha256
            })
            .chain((0..2).map(|_| {
                let mut w = store.writer();
                for chunk in big.chunks(4096) {
                    w.write(chunk);
                }
                w.finish().sha256
            }))
            .collect();
        assert_eq!(store.read(&names[0]).unwrap(), b"same bytes");
        assert_eq!(store.read(&names[4]).unwrap(), big);
        // The big one is a file of its own.
        assert_eq!(fs::read(dir.path().join(&names[4])).unwrap(), big);
        // The repeat's temporary file is reused, and what it held past the
        // new bytes is cut off.
        let shorter = vec![9u8; SPOOL_BYTES_PER_WRITER + 5];
        let mut w = store.writer();
        w.write(&shorter);
        assert_eq!(store.read(&w.finish().sha256).unwrap(), shorter);
        assert_eq!(store.spooled.load(Ordering::Relaxed), 0);
        // Two files of their own, one packed, and no temporary file once
        // the store is gone.
        drop(store);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3, "two files and the packs");
        assert_eq!(PackIndex::load(&dir.path().join("packs")).unwrap().len(), 1);
    }

    #[test]
    fn a_reused_spool_holds_only_its_own_writers_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::packed(dir.path()).unwrap();
        let mut long = store.writer();
        long.write(&[1u8; 5000]);
        long.finish();
        assert_eq!(store.spools.lock().unwrap().len(), 1, "the spool came back");
        let mut short = store.writer();
        short.write(b"short");
        let kept = short.finish();
        assert_eq!(store.read(&kept.sha256).unwrap(), b"short");
        // A writer dropped unfinished gives its spool back too.
        let mut dropped = store.writer();
        dropped.write(b"never finished");
        drop(dropped);
        assert_eq!(store.spools.lock().unwrap().len(), 1);
        assert!(store.spools.lock().unwrap()[0].is_empty());
        assert_eq!(store.spooled.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_store_without_packs_keeps_a_file_per_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::in_dir(dir.path()).unwrap();
        let mut w = store.writer();
        w.write(b"hello world");
        let a = w.finish();
        assert_eq!(fs::read(dir.path().join(&a.sha256)).unwrap(), b"hello world");
        assert_eq!(store.read(&a.sha256).unwrap(), b"hello world");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_reopened_store_finds_and_prunes_what_an_earlier_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::packed(dir.path()).unwrap();
        let keep = |store: &ArtifactStore, bytes: &[u8]| {
            let mut w = store.writer();
            w.write(bytes);
            w.finish().sha256
        };
        let small = keep(&store, b"small one");
        let other = keep(&store, b"another");
        let big = keep(&store, &vec![3u8; SPOOL_BYTES_PER_WRITER + 1]);
        store.sync().unwrap();
        drop(store);
        let store = ArtifactStore::packed(dir.path()).unwrap();
        // A repeat is recognised across runs: nothing new is written.
        let pack = dir.path().join("packs/00000001.pack");
        let before = fs::metadata(&pack).unwrap().len();
        assert_eq!(keep(&store, b"small one"), small);
        assert_eq!(fs::metadata(&pack).unwrap().len(), before);
        let gone = store.prune(&mut |name| Ok(name == small)).unwrap();
        assert_eq!(gone, 2);
        assert_eq!(store.read(&small).unwrap(), b"small one");
        assert!(store.read(&other).is_none() && store.read(&big).is_none());
        assert!(locate(dir.path(), &other).is_none());
        let (count, bytes) = usage(dir.path());
        assert_eq!(count, 1);
        assert!(bytes >= 9, "{bytes}");
        // Names that are not a SHA-256 are never looked up.
        assert!(locate(dir.path(), "../manifest.json").is_none());
        assert!(locate(dir.path(), &small.to_uppercase()).is_none());
    }
}
