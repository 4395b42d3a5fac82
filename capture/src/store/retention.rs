//! The disk budget of a data folder (`max_bytes`): when the store files,
//! the artifacts and the index together exceed it, the oldest store files
//! (by the capture time of their first packet) are deleted, with their
//! index entries and the artifacts nothing refers to any more.
//!
//! What goes with a store file: every flow whose packets all lived in
//! deleted files, with its events (documents carrying its `flow_key`); every
//! session none of whose flows is left. A flow with packets in a kept file
//! too stays, and exports what is left of it; a session with a flow left
//! keeps its summary as it was.
//!
//! Crash safety, in this order: (1) the manifest records the files being
//! deleted (`deleting`); (2) their index entries are deleted and the index
//! committed; (3) the manifest forgets the files and their spans; (4) the
//! files are removed, then unreferenced artifacts; (5) `deleting` is
//! cleared. Every step can be redone, and a writer that finds `deleting`
//! set at start ([`finish`]) redoes them all.
//!
//! The newest store file (the one being appended to) is never deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use tantivy::collector::DocSetCollector;
use tantivy::query::{AllQuery, BooleanQuery, Occur};

use super::error::{Error, Result};
use crate::artifact::ArtifactStore;
use super::{locations, manifest, Layout, Store};
use crate::index::{index_error, Index, Kind};

/// What a pruning removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub store_files: u64,
    pub store_bytes: u64,
    pub flows: u64,
    pub sessions: u64,
    pub artifacts: u64,
}

/// Bytes the data folder uses against its budget: committed store bytes,
/// artifacts and the index.
pub fn usage(layout: &Layout, manifest: &manifest::Manifest) -> u64 {
    let store: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    store + dir_bytes(&layout.artifacts()) + dir_bytes(&layout.index())
}

/// Applies the budget: deletes the oldest store files while the folder is
/// over it. Call it between commits (nothing uncommitted in the store).
pub fn enforce(store: &mut Store, index: &Index, artifacts: &ArtifactStore) -> Result<Pruned> {
    let mut total = Pruned::default();
    let Some(budget) = store.manifest().max_bytes else {
        return Ok(total);
    };
    // The index shrinks only when tantivy merges; a second pass (rarely
    // needed) catches what the first one's estimate missed.
    for _ in 0..4 {
        let used = usage(store.layout(), store.manifest());
        if used <= budget {
            break;
        }
        let newest = store.manifest().files.iter().map(|f| f.id).max();
        let mut candidates: Vec<_> = store
            .manifest()
            .files
            .iter()
            .filter(|f| Some(f.id) != newest)
            .map(|f| (f.first_ts, f.id, f.bytes))
            .collect();
        // Oldest capture time first (files without packets first of all).
        candidates.sort();
        let mut freed = 0u64;
        let mut ids = Vec::new();
        for (_, id, bytes) in candidates {
            if used.saturating_sub(freed) <= budget {
                break;
            }
            freed += bytes;
            ids.push(id);
        }
        if ids.is_empty() {
            tracing::warn!(
                used,
                budget,
                "the data folder is over its budget and only the newest store file is left"
            );
            break;
        }
        tracing::info!(files = ?ids, used, budget, "deleting the oldest store files");
        let m = store.manifest_mut();
        m.deleting.extend(ids);
        store.save_manifest()?;
        super::crash_point("marked");
        let p = finish(store, index, artifacts)?;
        total.store_files += p.store_files;
        total.store_bytes += p.store_bytes;
        total.flows += p.flows;
        total.sessions += p.sessions;
        total.artifacts += p.artifacts;
    }
    Ok(total)
}

/// Finishes a deletion the manifest records (`deleting`); does nothing
/// when there is none. Every step may already have been done.
pub fn finish(store: &mut Store, index: &Index, artifacts: &ArtifactStore) -> Result<Pruned> {
    let ids: BTreeSet<u32> = store.manifest().deleting.iter().copied().collect();
    let mut pruned = Pruned::default();
    if ids.is_empty() {
        return Ok(pruned);
    }
    // (2) Index entries.
    // A flow goes when none of its packets is in a kept file (some may be
    // in files an earlier deletion removed).
    let kept: BTreeSet<u32> = store
        .manifest()
        .files
        .iter()
        .map(|f| f.id)
        .filter(|id| !ids.contains(id))
        .collect();
    let (flows, sessions) = drop_index_entries(index, &kept)?;
    pruned.flows = flows;
    pruned.sessions = sessions;
    super::crash_point("index");
    // (3) The manifest forgets the files and the spans in them. Sources
    // stay (with what is left of their spans), so a capture file ingested
    // before is still recognised and not ingested again.
    let layout = store.layout().clone();
    let m = store.manifest_mut();
    for f in m.files.iter().filter(|f| ids.contains(&f.id)) {
        pruned.store_files += 1;
        pruned.store_bytes += f.bytes;
    }
    m.files.retain(|f| !ids.contains(&f.id));
    for s in &mut m.sources {
        s.spans.retain(|span| !ids.contains(&span.file));
    }
    store.save_manifest()?;
    super::crash_point("manifest");
    // (4) The files, then artifacts nothing refers to.
    for (n, id) in ids.iter().enumerate() {
        let path = layout.pcap(*id);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&path)(e)),
            _ => {}
        }
        if n == 0 {
            super::crash_point("files");
        }
    }
    manifest::sync_dir(&layout.pcap_dir())?;
    pruned.artifacts = drop_unreferenced_artifacts(index, artifacts, &layout.artifacts())?;
    // (5) Done.
    store.manifest_mut().deleting.clear();
    store.save_manifest()?;
    Ok(pruned)
}

/// Deletes the flows none of whose packets is in a `kept` file (with their
/// events), and the sessions with no flow left. Returns (flows, sessions).
fn drop_index_entries(index: &Index, kept: &BTreeSet<u32>) -> Result<(u64, u64)> {
    let f = &index.fields;
    let searcher = index.searcher()?;
    let flows_q = index.restrict(Box::new(AllQuery), Some(Kind::Flows), None);
    let hits = searcher
        .search(flows_q.as_ref(), &DocSetCollector)
        .map_err(|e| index_error(&index.path, e))?;
    let mut gone_flows = Vec::new();
    // Per session: how many of its flows go.
    let mut touched: BTreeMap<String, usize> = BTreeMap::new();
    for at in hits {
        let doc = index.doc(&searcher, at)?;
        let packed = index.bytes_of(&doc, f.locations).unwrap_or(&[]);
        let Some(locs) = locations::decode(packed) else {
            continue;
        };
        if locs.is_empty() || locs.iter().any(|l| kept.contains(&l.file)) {
            continue;
        }
        if let Some(key) = index.text_of(&doc, f.flow_key).filter(|k| !k.is_empty()) {
            gone_flows.push(key);
        }
        if let Some(s) = index.text_of(&doc, f.session_id) {
            *touched.entry(s).or_default() += 1;
        }
    }
    // Sessions none of whose flows is left go too (in the same commit, so
    // a redo after a crash finds either everything or nothing deleted).
    let mut gone_sessions = Vec::new();
    for (session, going) in &touched {
        let all = index.restrict(index.term(f.session_id, session), Some(Kind::Flows), None);
        if index.count(&searcher, all.as_ref())? <= *going {
            gone_sessions.push(session.clone());
        }
    }
    let mut writer = index.writer()?;
    for chunk in gone_flows.chunks(512) {
        let terms = chunk
            .iter()
            .map(|k| (Occur::Should, index.term(f.flow_key, k)))
            .collect();
        writer.delete(Box::new(BooleanQuery::new(terms)))?;
    }
    for chunk in gone_sessions.chunks(512) {
        let terms = chunk
            .iter()
            .map(|s| (Occur::Should, index.term(f.session_id, s)))
            .collect();
        writer.delete(Box::new(BooleanQuery::new(terms)))?;
    }
    writer.commit()?;
    writer.close()?;
    let gone_sessions = gone_sessions.len() as u64;
    Ok((gone_flows.len() as u64, gone_sessions))
}

/// Removes artifacts that no document refers to any more.
fn drop_unreferenced_artifacts(index: &Index, artifacts: &ArtifactStore, dir: &Path) -> Result<u64> {
    let searcher = index.searcher()?;
    let mut referenced = |name: &str| {
        let q = index.term(index.fields.sha256, name);
        index
            .count(&searcher, q.as_ref())
            .map(|n| n > 0)
            .map_err(|e| std::io::Error::other(e.to_string()))
    };
    artifacts.prune(&mut referenced).map_err(Error::io(dir))
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some(if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            })
        })
        .sum()
}

