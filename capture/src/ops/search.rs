//! Searching a data folder, and what is in it.

use std::path::Path;

use model::Timestamp;
use serde::Serialize;

use super::layout;
use crate::index::{query, Index, Kind};
use crate::store::{Error, Manifest, Result};

/// Opens the index for reading, without taking the writer's lock.
pub(crate) fn open_for_reading(data: &Path) -> Result<(Manifest, Index)> {
    let layout = layout(data);
    let manifest = Manifest::load(&layout.manifest())?.ok_or_else(|| Error::Io {
        path: data.to_path_buf(),
        error: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no kyoka data here (run `kyoka ingest` first)",
        ),
    })?;
    let index = Index::open_or_create(&layout.index())?;
    Ok((manifest, index))
}

fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(d.as_micros() as i64)
}

/// The newest `limit` documents of `kind` (all kinds when `None`) that
/// match `query`, as their stored JSON.
pub fn search(
    data: &Path,
    kind: Option<Kind>,
    query: &str,
    limit: usize,
) -> Result<Vec<serde_json::Value>> {
    let (manifest, index) = open_for_reading(data)?;
    let q = query::parse(&index, query, now())?;
    let q = index.restrict(q, kind, manifest.pending.as_deref());
    let searcher = index.searcher()?;
    let hits = index.newest(&searcher, q.as_ref(), limit)?;
    let mut out = Vec::with_capacity(hits.len());
    for at in hits {
        let doc = index.doc(&searcher, at)?;
        out.push(index.json(&doc));
    }
    Ok(out)
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub data_dir: String,
    pub sources: u64,
    pub store_files: u64,
    pub store_bytes: u64,
    pub packets: u64,
    pub sessions: u64,
    pub flows: u64,
    pub events: u64,
    pub index_bytes: u64,
    pub artifacts: u64,
    pub artifact_bytes: u64,
    pub first_packet: Option<Timestamp>,
    pub last_packet: Option<Timestamp>,
    /// Sources whose capture file was damaged (packets before it kept).
    pub damaged_sources: u64,
    /// The disk budget (`kyoka ingest --max-bytes`), if one is set.
    pub max_bytes: Option<u64>,
}

pub fn stats(data: &Path) -> Result<Stats> {
    let (manifest, index) = open_for_reading(data)?;
    let layout = layout(data);
    let searcher = index.searcher()?;
    let count = |kind: Kind| -> Result<u64> {
        let q = index.restrict(
            Box::new(tantivy::query::AllQuery),
            Some(kind),
            manifest.pending.as_deref(),
        );
        Ok(index.count(&searcher, q.as_ref())? as u64)
    };
    let (artifacts, artifact_bytes) = crate::artifact::usage(&layout.artifacts());
    Ok(Stats {
        data_dir: data.display().to_string(),
        sources: manifest.sources.len() as u64,
        store_files: manifest.files.len() as u64,
        store_bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        packets: manifest.files.iter().map(|f| f.packets).sum(),
        sessions: count(Kind::Sessions)?,
        flows: count(Kind::Flows)?,
        events: count(Kind::Events)?,
        index_bytes: dir_size(&layout.index()).1,
        artifacts,
        artifact_bytes,
        first_packet: manifest.files.iter().filter_map(|f| f.first_ts).min(),
        last_packet: manifest.files.iter().filter_map(|f| f.last_ts).max(),
        damaged_sources: manifest
            .sources
            .iter()
            .filter(|s| s.error.is_some())
            .count() as u64,
        max_bytes: manifest.max_bytes,
    })
}

fn dir_size(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    entries
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .fold((0, 0), |(n, b), m| (n + 1, b + m.len()))
}
