//! The checkpoint: which sources are in the store and how many bytes of
//! each store file they committed. Replaced atomically (write, fsync,
//! rename, fsync the folder) at every commit point.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

pub const VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// Id of the next store file to create.
    pub next_file: u32,
    pub files: Vec<StoreFile>,
    pub sources: Vec<Source>,
    /// A source whose ingest began and did not commit: on the next start
    /// its index documents are deleted and its store bytes cut off.
    pub pending: Option<String>,
    /// Disk budget of the data folder (store + artifacts + index), in
    /// bytes; `None`: unlimited. See `retention`.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Store files whose deletion began (index entries first, then the
    /// manifest, then the files); finished on the next start.
    #[serde(default)]
    pub deleting: Vec<u32>,
    /// Raised at every save. The index commit of a commit point carries
    /// the manifest it is about to save, one generation up: when the
    /// process died between the two, the next start finds the index's copy
    /// newer and takes it (`Store::open_with_checkpoint`).
    #[serde(default)]
    pub generation: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreFile {
    pub id: u32,
    pub link_type: u32,
    /// Bytes that are committed; anything after them is cut at start.
    pub bytes: u64,
    pub packets: u64,
    pub first_ts: Option<model::Timestamp>,
    pub last_ts: Option<model::Timestamp>,
}

/// One ingested capture file, known by the SHA-256 of its bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// What the source's index documents and flow keys carry.
    #[serde(default)]
    pub id: String,
    pub sha256: String,
    /// SHA-256 of the size and the first and last MiB (see `ops::ingest`).
    #[serde(default)]
    pub fingerprint: String,
    pub path: String,
    pub bytes: u64,
    pub packets: u64,
    pub flows: u64,
    pub events: u64,
    pub link_type: u32,
    /// Where its packets went, in order: byte ranges of store files.
    pub spans: Vec<Span>,
    /// Set when the capture file was damaged: the packets before the
    /// damage were kept.
    pub error: Option<String>,
    /// A live run's sandbox tags, with the networks that give them back to
    /// the stored packets (`reindex`); the store keeps no interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<SourceTag>,
}

/// One sandbox captured in a live run: packets from or to `network`
/// between `since` and `until` (capture time) were the sandbox's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTag {
    pub sandbox: String,
    pub attacker: Option<std::net::IpAddr>,
    pub network: std::net::IpAddr,
    pub prefix: u8,
    pub since: model::Timestamp,
    /// `None`: until the end of the run.
    pub until: Option<model::Timestamp>,
}

impl SourceTag {
    /// Whether a packet between `a` and `b` at `ts` was this sandbox's.
    pub fn covers(&self, a: std::net::IpAddr, b: std::net::IpAddr, ts: model::Timestamp) -> bool {
        let max = if self.network.is_ipv4() { 32 } else { 128 };
        let (first, last) = crate::index::query::cidr(self.network, u32::from(self.prefix).min(max));
        let inside = |ip| (first..=last).contains(&ip);
        ts >= self.since && self.until.is_none_or(|u| ts <= u) && (inside(a) || inside(b))
    }
}

impl Source {
    /// Adds a later commit of the same source: its counts and its spans
    /// (one span when the bytes follow on in the same store file).
    pub fn extend(&mut self, later: Source) {
        self.bytes += later.bytes;
        self.packets += later.packets;
        self.flows += later.flows;
        self.events += later.events;
        for span in later.spans {
            match self.spans.last_mut() {
                Some(last) if last.file == span.file && last.end == span.start => last.end = span.end,
                _ => self.spans.push(span),
            }
        }
        if later.error.is_some() {
            self.error = later.error;
        }
        // A live run hands over all its tags at every commit.
        if !later.tags.is_empty() {
            self.tags = later.tags;
        }
    }

    /// The id its documents carry.
    pub fn tag(&self) -> &str {
        if self.id.is_empty() {
            &self.sha256
        } else {
            &self.id
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub file: u32,
    pub start: u64,
    pub end: u64,
}

impl Manifest {
    pub fn new() -> Manifest {
        Manifest {
            version: VERSION,
            next_file: 1,
            ..Manifest::default()
        }
    }

    pub fn load(path: &Path) -> Result<Option<Manifest>> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path)(e)),
        };
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::CorruptManifest {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if m.version != VERSION {
            return Err(Error::CorruptManifest {
                path: path.to_path_buf(),
                reason: format!("version {} (this kyoka reads {VERSION})", m.version),
            });
        }
        Ok(Some(m))
    }

    /// Writes the manifest one generation up.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        self.generation += 1;
        self.write(path)
    }

    /// Writes the manifest with the generation it has (one an index
    /// commit already carries).
    pub fn write(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::io(&tmp)(e.into()))?;
        let mut f = File::create(&tmp).map_err(Error::io(&tmp))?;
        f.write_all(&json)
            .and_then(|()| f.sync_all())
            .map_err(Error::io(&tmp))?;
        fs::rename(&tmp, path).map_err(Error::io(path))?;
        sync_dir(dir)
    }

    pub fn has_source(&self, sha256: &str) -> bool {
        self.sources.iter().any(|s| s.sha256 == sha256)
    }

    pub fn file(&self, id: u32) -> Option<&StoreFile> {
        self.files.iter().find(|f| f.id == id)
    }
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}
