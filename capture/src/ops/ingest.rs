//! Ingest capture files into a data folder, and rebuild the index from it.
//!
//! One source (capture file) at a time: mark it pending, append its packets
//! to the store while the pipeline indexes them, then commit (store fsync,
//! index commit, manifest). A source already in the manifest (same
//! SHA-256) is skipped.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::live::Tag;
use super::pipeline::{Counts, Pipeline};
use super::{open_for_writing, Options};
use crate::artifact::ArtifactStore;
use crate::decode::LinkType;
use crate::engine::Engine;
use crate::index::Index;
use crate::source::{FileSource, Frame};
use crate::store::pcapfile::{self, Reader};
use crate::store::{Error, Location, Result, Source, SourceTag};

/// Reported while a file is ingested (every few thousand packets).
#[derive(Clone, Debug)]
pub struct Progress<'a> {
    pub path: &'a Path,
    pub file_bytes: u64,
    /// Bytes of the file read so far (approximate: records and their headers).
    pub read_bytes: u64,
    pub packets: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    pub sha256: String,
    /// Already in the store: nothing added.
    pub skipped: bool,
    pub counts: Counts,
    /// The file was damaged (the packets before the damage were kept) or
    /// could not be read at all (`skipped`).
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IngestReport {
    pub files: Vec<FileReport>,
    pub totals: Counts,
    /// Bytes of the capture files read.
    pub bytes_read: u64,
    pub seconds: f64,
}

impl IngestReport {
    /// Files that were damaged.
    pub fn damaged(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.error.is_some())
    }
}

/// Ingests `files` into the data folder `data`.
pub fn ingest(
    data: &Path,
    files: &[PathBuf],
    options: &Options,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<IngestReport> {
    let started = Instant::now();
    let (mut store, index, artifacts) = open_for_writing(data, options)?;
    let mut report = IngestReport::default();
    for path in files {
        // A file that cannot be read is reported and the others go on.
        let unreadable = |e: Error| FileReport {
            path: path.clone(),
            sha256: String::new(),
            skipped: true,
            counts: Counts::default(),
            error: Some(e.to_string()),
        };
        let (fingerprint, file_bytes) = match fingerprint(path) {
            Ok(x) => x,
            Err(e) => {
                report.files.push(unreadable(e));
                continue;
            }
        };
        // A probable copy of a source already in: the full hash decides.
        let candidates: Vec<String> = store
            .manifest()
            .sources
            .iter()
            .filter(|s| s.fingerprint == fingerprint && s.bytes == file_bytes)
            .map(|s| s.sha256.clone())
            .collect();
        if !candidates.is_empty() {
            match hash_file(path) {
                Ok((sha256, _)) if candidates.contains(&sha256) => {
                    report.files.push(FileReport {
                        path: path.clone(),
                        sha256,
                        skipped: true,
                        counts: Counts::default(),
                        error: None,
                    });
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    report.files.push(unreadable(e));
                    continue;
                }
            }
        }
        // Open before anything is marked: an unreadable file changes nothing.
        let mut source = match FileSource::open(path) {
            Ok(s) => s,
            Err(e) => {
                report.files.push(unreadable(e.into()));
                continue;
            }
        };
        // Documents and flow keys carry this id; the full SHA-256 is
        // computed on another thread while the file is ingested.
        let id = format!("{}-{}", &fingerprint[..16], store.manifest().sources.len());
        let hashing = {
            let path = path.clone();
            std::thread::spawn(move || hash_file(&path))
        };
        let link = source.link();
        let dlt = source.dlt() as u32;
        store.begin_source(&id)?;
        let mut writer = index.writer()?;
        let engine = Engine::new(options.engine.clone(), artifacts.clone());
        let mut pipeline = Pipeline::new(
            engine,
            link,
            &index,
            &mut writer,
            &id,
            options.idle_gap_seconds,
        )?;
        let mut read_bytes = 24u64;
        let mut damage = None;
        loop {
            let frame = match source.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    damage = Some(e.to_string());
                    break;
                }
            };
            let at = store.append(dlt, &frame)?;
            pipeline.frame(&frame, at)?;
            read_bytes += pcapfile::record_len(frame.data);
            if pipeline.counts.packets % 4096 == 0 {
                progress(&Progress {
                    path,
                    file_bytes,
                    read_bytes,
                    packets: pipeline.counts.packets,
                });
            }
        }
        let counts = pipeline.finish()?;
        let sha256 = match hashing.join() {
            Ok(hashed) => hashed?.0,
            Err(_) => return Err(Error::io(path)(std::io::Error::other("hashing failed"))),
        };
        progress(&Progress {
            path,
            file_bytes,
            read_bytes: file_bytes,
            packets: counts.packets,
        });
        super::commit_point(
            &mut store,
            &artifacts,
            &mut writer,
            Source {
                id,
                sha256: sha256.clone(),
                fingerprint,
                path: path.display().to_string(),
                bytes: file_bytes,
                packets: counts.packets,
                flows: counts.flows,
                events: counts.events,
                link_type: dlt,
                spans: Vec::new(),
                error: damage.clone(),
                tags: Vec::new(),
            },
        )?;
        writer.close()?;
        crate::store::retention::enforce(&mut store, &index, &artifacts)?;
        add(&mut report.totals, counts);
        report.bytes_read += file_bytes;
        report.files.push(FileReport {
            path: path.clone(),
            sha256,
            skipped: false,
            counts,
            error: damage,
        });
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// SHA-256 of the size, the first and the last MiB: equal files have equal
/// fingerprints, so only a file whose fingerprint is known needs its full
/// hash before ingest.
fn fingerprint(path: &Path) -> Result<(String, u64)> {
    use std::io::{Seek, SeekFrom};
    const EDGE: u64 = 1 << 20;
    let bad = |e: std::io::Error| {
        Error::Capture(crate::Error::BadCapture {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    };
    let mut file = File::open(path).map_err(bad)?;
    let size = file.metadata().map_err(bad)?.len();
    let mut h = Sha256::new();
    h.update(size.to_le_bytes());
    let mut buf = vec![0u8; EDGE.min(size) as usize];
    file.read_exact(&mut buf).map_err(bad)?;
    h.update(&buf);
    if size > EDGE {
        file.seek(SeekFrom::Start(size - EDGE.min(size)))
            .map_err(bad)?;
        file.read_exact(&mut buf).map_err(bad)?;
        h.update(&buf);
    }
    Ok((hex::encode(h.finalize()), size))
}

fn add(total: &mut Counts, c: Counts) {
    total.packets += c.packets;
    total.bytes += c.bytes;
    total.flows += c.flows;
    total.events += c.events;
    total.sessions += c.sessions;
}

fn hash_file(path: &Path) -> Result<(String, u64)> {
    let bad = |e: std::io::Error| {
        Error::Capture(crate::Error::BadCapture {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    };
    let mut file = File::open(path).map_err(bad)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(bad)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(h.finalize()), total))
}

/// Rebuilds the index from the store: every source's packets are read back
/// from its spans and dissected again, in the order they were ingested.
pub fn reindex(
    data: &Path,
    options: &Options,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<IngestReport> {
    let started = Instant::now();
    // The index is not opened first: it may be damaged or from another
    // version; that is why one rebuilds it.
    let mut store = super::open_store(data, options)?;
    let index_dir = store.layout().index();
    if index_dir.exists() {
        std::fs::remove_dir_all(&index_dir).map_err(Error::io(&index_dir))?;
    }
    store.clear_pending()?;
    let index = Index::open_or_create(&index_dir)?;
    let artifacts = ArtifactStore::packed(store.layout().artifacts())?;
    let mut report = IngestReport::default();
    for source in &store.manifest().sources {
        let Some(link) = LinkType::from_dlt(source.link_type as i32) else {
            continue;
        };
        let path = PathBuf::from(&source.path);
        let mut writer = index.writer()?;
        let engine = Engine::new(options.engine.clone(), artifacts.clone());
        let mut pipeline = Pipeline::new(
            engine,
            link,
            &index,
            &mut writer,
            source.tag(),
            options.idle_gap_seconds,
        )?;
        let tagger = Tagger::new(link, &source.tags);
        for span in &source.spans {
            let mut reader = Reader::open(&store.layout().pcap(span.file))?;
            let mut offset = span.start;
            while offset < span.end {
                let record = reader.read_at(offset, span.end)?;
                let frame = Frame {
                    ts: record.ts,
                    data: record.data(),
                    wire_len: record.wire_len,
                };
                pipeline.tag = tagger.tag(&frame);
                pipeline.frame(
                    &frame,
                    Location {
                        file: span.file,
                        offset,
                    },
                )?;
                offset += record.raw.len() as u64;
                if pipeline.counts.packets % 4096 == 0 {
                    progress(&Progress {
                        path: &path,
                        file_bytes: source.bytes,
                        read_bytes: 0,
                        packets: pipeline.counts.packets,
                    });
                }
            }
        }
        let counts = pipeline.finish()?;
        super::sync_artifacts(&store, &artifacts)?;
        writer.commit()?;
        writer.close()?;
        add(&mut report.totals, counts);
        report.bytes_read += source.bytes;
        report.files.push(FileReport {
            path,
            sha256: source.sha256.clone(),
            skipped: false,
            counts,
            error: source.error.clone(),
        });
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A live run's sandbox tags given back to its stored packets by their
/// addresses and time, as the live capture gave them by interface.
struct Tagger {
    link: LinkType,
    tags: Vec<(SourceTag, Arc<Tag>)>,
}

impl Tagger {
    fn new(link: LinkType, tags: &[SourceTag]) -> Tagger {
        let tags = tags
            .iter()
            .map(|t| {
                let tag = Tag { sandbox: t.sandbox.clone(), attacker: t.attacker, network: Some((t.network, t.prefix)) };
                (t.clone(), Arc::new(tag))
            })
            .collect();
        Tagger { link, tags }
    }

    fn tag(&self, frame: &Frame<'_>) -> Option<Arc<Tag>> {
        if self.tags.is_empty() {
            return None;
        }
        let ip = crate::decode::ip_packet(self.link, frame.data).ok()?;
        self.tags
            .iter()
            .find(|(t, _)| t.covers(ip.src, ip.dst, frame.ts))
            .map(|(_, tag)| tag.clone())
    }
}
