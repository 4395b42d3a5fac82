//! The operations on a data folder, as the CLI and the web UI call them:
//! [`ingest()`], [`reindex()`], [`search()`], [`export()`], [`stats()`].

pub mod browse;
pub mod export;
pub mod ingest;
pub mod live;
pub mod pipeline;
pub mod search;

use std::path::PathBuf;

pub use export::{export, ExportReport};
pub use ingest::{ingest, reindex, FileReport, IngestReport, Progress};
pub use search::{search, stats, Stats};

use crate::artifact::ArtifactStore;
use crate::index::Index;
use crate::store::{Layout, Result, Store, StoreConfig};

/// Settings of a data folder's operations. Keys carry their unit.
#[derive(Clone, Debug)]
pub struct Options {
    pub store: StoreConfig,
    pub engine: crate::engine::Config,
    /// A session ends after this long without activity from its address.
    pub idle_gap_seconds: u64,
    /// Disk budget of the data folder (store + artifacts + index), kept in
    /// its manifest for later runs: `Some(0)` makes it unlimited, `None`
    /// keeps what the folder has (unlimited when never set). See
    /// `store::retention`.
    pub max_bytes: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            store: StoreConfig::default(),
            engine: crate::engine::Config::default(),
            idle_gap_seconds: 1800,
            max_bytes: None,
        }
    }
}

/// The store, index and artifacts opened for writing, recovered after a
/// crash: store files cut back to the last commit point and the index
/// documents of an ingest that did not commit deleted.
pub(crate) fn open_for_writing(
    data: &std::path::Path,
    options: &Options,
) -> Result<(Store, Index, ArtifactStore)> {
    let mut store = open_store(data, options)?;
    let index = Index::open_or_create(&store.layout().index())?;
    let artifacts = ArtifactStore::packed(store.layout().artifacts())?;
    if let Some(pending) = store.pending().map(str::to_string) {
        tracing::info!(source = %pending, "dropping the index documents of an interrupted ingest");
        let mut writer = index.writer()?;
        writer.delete(index.term(index.fields.source, &pending))?;
        writer.commit()?;
        writer.close()?;
        store.clear_pending()?;
    }
    // A deletion the budget began is finished, then the budget applied.
    crate::store::retention::finish(&mut store, &index, &artifacts)?;
    if let Some(max) = options.max_bytes {
        store.set_max_bytes((max > 0).then_some(max))?;
    }
    crate::store::retention::enforce(&mut store, &index, &artifacts)?;
    Ok((store, index, artifacts))
}

/// The store opened for writing, rolled forward to the index's last
/// commit point when the manifest missed it.
pub(crate) fn open_store(data: &std::path::Path, options: &Options) -> Result<Store> {
    let checkpoint = Index::checkpoint(&layout(data).index());
    Store::open_with_checkpoint(data, options.store.clone(), checkpoint)
}

/// The commit point: the store and the artifact packs fsynced, the index
/// committed carrying the manifest it makes, then that manifest saved. A
/// crash between the last two is rolled forward at the next start
/// (`open_store`).
pub(crate) fn commit_point(
    store: &mut Store,
    artifacts: &ArtifactStore,
    writer: &mut crate::index::writer::Writer,
    source: crate::store::Source,
) -> Result<()> {
    sync_artifacts(store, artifacts)?;
    let next = store.prepare_commit(source)?;
    let payload = serde_json::to_string(&next).ok();
    writer.commit_carrying(payload)?;
    crate::store::crash_point("committed-index");
    store.install(next)
}

/// The artifact packs fsynced, before an index commit that names them.
pub(crate) fn sync_artifacts(store: &Store, artifacts: &ArtifactStore) -> Result<()> {
    artifacts
        .sync()
        .map_err(crate::store::Error::io(store.layout().artifacts()))
}

/// The default data folder: `$XDG_DATA_HOME/kyoka`, else `~/.local/share/kyoka`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("kyoka");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/kyoka"),
        None => PathBuf::from("kyoka-data"),
    }
}

pub(crate) fn layout(data: &std::path::Path) -> Layout {
    Layout::new(data)
}
