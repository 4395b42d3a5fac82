//! The crash-safe pcap store of a data folder.
//!
//! ```text
//! DATA/manifest.json   checkpoint (see `manifest`)
//! DATA/pcap/NNNNNNNN.pcap  rolling store files (size- and time-bounded)
//! DATA/artifacts/packs/  extracted files up to a MiB, packed (see `crate::artifact::pack`)
//! DATA/artifacts/<sha256>  larger extracted files
//! DATA/index/          the tantivy index (see `crate::index`)
//! DATA/lock            held by the one process that writes
//! ```
//!
//! Packets are appended before anything is indexed. At a commit point the
//! store files are flushed and fsynced, then (by the caller) the index is
//! committed, then the manifest records the new lengths. On start, a
//! writer cuts every store file back to its committed length and deletes
//! store files the manifest does not know, so an ingest killed at any point
//! is redone from the last commit point without duplicates.

mod background;
pub mod error;
pub mod locations;
pub mod manifest;
pub mod pcapfile;
pub mod retention;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use model::Timestamp;

use crate::source::Frame;
use background::BackgroundFile;
pub use error::{Error, Result};
pub use manifest::{Manifest, Source, SourceTag, Span, StoreFile};

/// Size and time bounds of one store file. Keys carry their unit.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub max_file_bytes: u64,
    /// Capture time from a file's first packet to its last.
    pub max_file_seconds: u64,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            max_file_bytes: 256 << 20,
            max_file_seconds: 3600,
        }
    }
}

/// Where one packet's record is: store file id and byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: u32,
    pub offset: u64,
}

/// Paths inside a data folder.
#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }
    pub fn manifest(&self) -> PathBuf {
        self.root.join("manifest.json")
    }
    pub fn pcap_dir(&self) -> PathBuf {
        self.root.join("pcap")
    }
    pub fn pcap(&self, id: u32) -> PathBuf {
        self.pcap_dir().join(format!("{id:08}.pcap"))
    }
    pub fn artifacts(&self) -> PathBuf {
        self.root.join("artifacts")
    }
    pub fn index(&self) -> PathBuf {
        self.root.join("index")
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
}

struct Appender {
    id: u32,
    out: BackgroundFile,
    bytes: u64,
    link_type: u32,
    packets: u64,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
}

/// The store opened for writing (one writer per data folder).
pub struct Store {
    layout: Layout,
    config: StoreConfig,
    manifest: Manifest,
    current: Option<Appender>,
    /// Final state of store files rolled past since the last commit: the
    /// manifest learns their lengths only at the commit.
    rolled: Vec<StoreFile>,
    /// Files rolled past, still being synced: a roll does not wait for
    /// its file's sync (the pipeline stalled on each), the commit does.
    closing: Vec<(PathBuf, background::Syncing)>,
    spans: Vec<Span>,
    _lock: File,
}

impl Store {
    /// Opens (creating) the data folder for writing and recovers it: store
    /// files are cut back to their committed lengths. A pending source is
    /// left for the caller to clear from the index (`clear_pending`).
    pub fn open(root: &Path, config: StoreConfig) -> Result<Store> {
        Store::open_with_checkpoint(root, config, None)
    }

    /// `open`, given the manifest the index's last commit carried: when it
    /// is newer than the folder's (the process died after the index
    /// commit, before the manifest was saved), it becomes the manifest, so
    /// the packets that commit indexed are kept, not cut off.
    pub fn open_with_checkpoint(root: &Path, config: StoreConfig, checkpoint: Option<Manifest>) -> Result<Store> {
        let layout = Layout::new(root);
        fs::create_dir_all(layout.pcap_dir()).map_err(Error::io(layout.pcap_dir()))?;
        let lock = lock(&layout.lock())?;
        let manifest = match Manifest::load(&layout.manifest())? {
            Some(m) => m,
            None => {
                let mut m = Manifest::new();
                m.save(&layout.manifest())?;
                m
            }
        };
        let mut manifest = manifest;
        if let Some(newer) = checkpoint.filter(|c| c.generation > manifest.generation) {
            tracing::info!(generation = newer.generation, "the index committed after the last manifest: taking its copy");
            manifest = newer;
            manifest.save(&layout.manifest())?;
        }
        recover_files(&layout, &manifest)?;
        drop_empty_files(&layout, &mut manifest)?;
        Ok(Store {
            layout,
            config,
            manifest,
            current: None,
            rolled: Vec::new(),
            closing: Vec::new(),
            spans: Vec::new(),
            _lock: lock,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// For `retention`: the manifest to change, then `save_manifest`.
    pub(crate) fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    /// The data folder's disk budget (`None`: unlimited), kept in the
    /// manifest.
    pub fn set_max_bytes(&mut self, max_bytes: Option<u64>) -> Result<()> {
        if self.manifest.max_bytes != max_bytes {
            self.manifest.max_bytes = max_bytes;
            self.save_manifest()?;
        }
        Ok(())
    }

    pub(crate) fn save_manifest(&mut self) -> Result<()> {
        self.manifest.save(&self.layout.manifest())
    }

    pub fn pending(&self) -> Option<&str> {
        self.manifest.pending.as_deref()
    }

    /// The caller removed the pending source's index documents.
    pub fn clear_pending(&mut self) -> Result<()> {
        if self.manifest.pending.take().is_some() {
            self.manifest.save(&self.layout.manifest())?;
        }
        Ok(())
    }

    /// Marks `sha256` as being ingested (durably, before any of its bytes).
    pub fn begin_source(&mut self, sha256: &str) -> Result<()> {
        self.spans.clear();
        self.manifest.pending = Some(sha256.to_string());
        self.manifest.save(&self.layout.manifest())
    }

    /// Appends one frame; returns where its record is.
    pub fn append(&mut self, link_type: u32, frame: &Frame<'_>) -> Result<Location> {
        let len = pcapfile::record_len(frame.data);
        let roll = match &self.current {
            None => true,
            Some(a) => {
                a.link_type != link_type
                    || (a.bytes > pcapfile::FILE_HEADER_LEN
                        && a.bytes + len > self.config.max_file_bytes)
                    || a.first_ts.is_some_and(|first| {
                        frame.ts.0.saturating_sub(first.0)
                            > (self.config.max_file_seconds as i64).saturating_mul(1_000_000)
                    })
            }
        };
        if roll {
            self.roll(link_type)?;
        }
        let a = self
            .current
            .as_mut()
            .expect("an open store file after roll");
        let offset = a.bytes;
        if let Err(e) = pcapfile::write_record(&mut a.out, frame.ts, frame.data, frame.wire_len) {
            return Err(Error::io(self.layout.pcap(a.id))(e));
        }
        a.bytes += len;
        a.packets += 1;
        a.first_ts.get_or_insert(frame.ts);
        a.last_ts = Some(frame.ts);
        match self.spans.last_mut() {
            Some(s) if s.file == a.id && s.end == offset => s.end = a.bytes,
            _ => self.spans.push(Span {
                file: a.id,
                start: offset,
                end: a.bytes,
            }),
        }
        Ok(Location { file: a.id, offset })
    }

    /// Flushes and fsyncs what was appended (first step of a commit). The
    /// manifest is not changed: until the commit, these bytes are not in it.
    pub fn sync(&mut self) -> Result<()> {
        for (path, closing) in self.closing.drain(..) {
            closing.wait().map_err(Error::io(&path))?;
        }
        if let Some(a) = &mut self.current {
            let path = self.layout.pcap(a.id);
            a.out.sync_data().map_err(Error::io(&path))?;
        }
        Ok(())
    }

    /// Records `source` as committed: `prepare_commit` then `install`,
    /// for callers without an index commit in between.
    pub fn commit_source(&mut self, source: Source) -> Result<()> {
        let next = self.prepare_commit(source)?;
        self.install(next)
    }

    /// First half of a commit point: fsyncs what was appended and returns
    /// the manifest that records `source` with the spans its packets went
    /// to and the new lengths of the store files. A source whose id is
    /// already there (a live run, committed every half second) is
    /// extended, so the manifest grows with runs, not with commits. The
    /// index commit carries the result (see `Manifest::generation`), then
    /// `install` saves it.
    pub fn prepare_commit(&mut self, mut source: Source) -> Result<Manifest> {
        self.sync()?;
        let mut next = self.manifest.clone();
        let current = self.current.as_ref().map(snapshot);
        for f in self.rolled.drain(..).chain(current) {
            if let Some(entry) = next.files.iter_mut().find(|e| e.id == f.id) {
                *entry = f;
            }
        }
        source.spans = std::mem::take(&mut self.spans);
        let known = (!source.id.is_empty())
            .then(|| next.sources.iter_mut().find(|s| s.id == source.id))
            .flatten();
        match known {
            Some(earlier) => earlier.extend(source),
            None => next.sources.push(source),
        }
        next.pending = None;
        next.generation = self.manifest.generation + 1;
        Ok(next)
    }

    /// Last step of a commit point: the manifest `prepare_commit` made
    /// (after the store sync and the index commit) becomes the checkpoint.
    pub fn install(&mut self, next: Manifest) -> Result<()> {
        self.manifest = next;
        // Written as made: the index holds this generation.
        self.manifest.write(&self.layout.manifest())
    }

    fn roll(&mut self, link_type: u32) -> Result<()> {
        let restart = self.current.is_none();
        if let Some(a) = self.current.take() {
            self.rolled.push(snapshot(&a));
            let path = self.layout.pcap(a.id);
            let syncing = a.out.sync_later().map_err(Error::io(&path))?;
            self.closing.push((path, syncing));
        }
        // Reuse the last file after a restart when it fits.
        let reuse = restart
            .then(|| self.manifest.files.last().cloned())
            .flatten()
            .filter(|f| f.link_type == link_type && f.bytes < self.config.max_file_bytes);
        let (id, bytes, packets, first_ts, last_ts) = match reuse {
            Some(f) => (f.id, f.bytes, f.packets, f.first_ts, f.last_ts),
            None => {
                let id = self.manifest.next_file;
                self.manifest.next_file += 1;
                (id, 0, 0, None, None)
            }
        };
        let path = self.layout.pcap(id);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        let mut bytes = bytes;
        if bytes == 0 {
            file.write_all(&pcapfile::file_header(link_type))
                .map_err(Error::io(&path))?;
            file.sync_all().map_err(Error::io(&path))?;
            bytes = pcapfile::FILE_HEADER_LEN;
            self.manifest.files.push(StoreFile {
                id,
                link_type,
                bytes,
                packets: 0,
                first_ts: None,
                last_ts: None,
            });
            // The manifest knows the file before any packet is in it.
            self.manifest.save(&self.layout.manifest())?;
            manifest::sync_dir(&self.layout.pcap_dir())?;
        }
        self.current = Some(Appender {
            id,
            out: BackgroundFile::new(file).map_err(Error::io(&path))?,
            bytes,
            link_type,
            packets,
            first_ts,
            last_ts,
        });
        Ok(())
    }
}

fn snapshot(a: &Appender) -> StoreFile {
    StoreFile {
        id: a.id,
        link_type: a.link_type,
        bytes: a.bytes,
        packets: a.packets,
        first_ts: a.first_ts,
        last_ts: a.last_ts,
    }
}

/// Cuts store files back to their committed length; removes files the
/// manifest does not know.
fn recover_files(layout: &Layout, manifest: &Manifest) -> Result<()> {
    let dir = layout.pcap_dir();
    let entries = fs::read_dir(&dir).map_err(Error::io(&dir))?;
    for entry in entries {
        let entry = entry.map_err(Error::io(&dir))?;
        let path = entry.path();
        let known = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u32>().ok())
            .and_then(|id| manifest.file(id));
        match known {
            None => {
                tracing::info!(path = %path.display(), "removing uncommitted store file");
                fs::remove_file(&path).map_err(Error::io(&path))?;
            }
            Some(f) => {
                let len = entry.metadata().map_err(Error::io(&path))?.len();
                if len < f.bytes {
                    return Err(pcapfile::corrupt(
                        &path,
                        len,
                        format!(
                            "the file is shorter than its checkpoint ({len} < {} bytes)",
                            f.bytes
                        ),
                    ));
                }
                if len > f.bytes {
                    tracing::info!(path = %path.display(), from = len, to = f.bytes, "cutting uncommitted packets");
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(Error::io(&path))?;
                    file.set_len(f.bytes)
                        .and_then(|()| file.sync_all())
                        .map_err(Error::io(&path))?;
                }
            }
        }
    }
    Ok(())
}

/// Store files with no packet (left by an ingest that did not commit) are
/// removed, so a redone ingest leaves the same files as one that never died.
fn drop_empty_files(layout: &Layout, manifest: &mut Manifest) -> Result<()> {
    let empty: Vec<u32> = manifest
        .files
        .iter()
        .filter(|f| f.bytes <= pcapfile::FILE_HEADER_LEN)
        .map(|f| f.id)
        .collect();
    if empty.is_empty() {
        return Ok(());
    }
    manifest.files.retain(|f| !empty.contains(&f.id));
    manifest.save(&layout.manifest())?;
    for id in empty {
        let path = layout.pcap(id);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&path)(e)),
            _ => {}
        }
    }
    Ok(())
}

fn lock(path: &Path) -> Result<File> {
    use std::os::fd::AsRawFd;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io(path))?;
    // SAFETY: a valid open descriptor owned by `file`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(Error::Locked(path.parent().unwrap_or(path).to_path_buf()));
    }
    Ok(file)
}

/// Test hook: `KYOKA_CRASH_AT=<step>` kills the process with SIGKILL at
/// that step: of a deletion (`marked`, `index`, `manifest`, `files`, see
/// `retention`) or of a commit point (`committed-index`, see `ops`).
pub(crate) fn crash_point(step: &str) {
    if std::env::var("KYOKA_CRASH_AT").is_ok_and(|s| s == step) {
        // SAFETY: sending a signal to ourselves.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
