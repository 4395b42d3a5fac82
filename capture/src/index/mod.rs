//! The tantivy index of a data folder: one schema for sessions, flows and
//! events ([`schema`]), their documents ([`docs`]), the writer thread
//! ([`writer`]), attacker sessions ([`session`]) and the query language
//! ([`query`]).

pub mod docs;
pub mod facts;
pub mod query;
pub mod schema;
pub mod session;
pub mod writer;

use std::path::{Path, PathBuf};

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

pub use schema::Fields;

use crate::store::{Error, Result};

pub(crate) fn index_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Index {
        path: path.to_path_buf(),
        message: format!("{e} (`kyoka reindex` rebuilds the index from the store)"),
    }
}

/// What a search looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sessions,
    Flows,
    Events,
}

impl Kind {
    pub fn term(self) -> &'static str {
        match self {
            Kind::Sessions => schema::KIND_SESSION,
            Kind::Flows => schema::KIND_FLOW,
            Kind::Events => schema::KIND_EVENT,
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "sessions" | "session" => Ok(Kind::Sessions),
            "flows" | "flow" => Ok(Kind::Flows),
            "events" | "event" => Ok(Kind::Events),
            _ => Err(format!("unknown kind {s:?} (sessions, flows, events)")),
        }
    }
}

/// zstd level of the doc store (1 to 22; 3 is zstd's default). Measured on
/// the stored JSON of the benchmark capture with 1 MiB blocks: level 3
/// compresses 20.6 times, 7 26 times, but level 7 took a fifth of the
/// ingest's instructions outside SHA-256 (see docs/benchmarks.md).
const DOCSTORE_ZSTD_LEVEL: i32 = 3;
/// Bytes of documents compressed together in the doc store. Events of one
/// flow repeat their envelope (flow, session), so larger blocks compress
/// much better; reading one document decompresses one block (about 1 ms).
const DOCSTORE_BLOCK_BYTES: usize = 1 << 20;

pub struct Index {
    pub inner: tantivy::Index,
    pub fields: Fields,
    pub path: PathBuf,
}

impl Index {
    /// Opens the index, creating an empty one when there is none.
    pub fn open_or_create(path: &Path) -> Result<Index> {
        let fields = Fields::new();
        std::fs::create_dir_all(path).map_err(Error::io(path))?;
        let dir =
            tantivy::directory::MmapDirectory::open(path).map_err(|e| index_error(path, e))?;
        // Settings apply when the index is created. The doc store holds
        // each document's JSON once, compressed with zstd.
        let settings = tantivy::IndexSettings {
            docstore_compression: tantivy::store::Compressor::Zstd(
                tantivy::store::ZstdCompressor {
                    compression_level: Some(DOCSTORE_ZSTD_LEVEL),
                },
            ),
            docstore_blocksize: DOCSTORE_BLOCK_BYTES,
            ..tantivy::IndexSettings::default()
        };
        let inner = tantivy::Index::builder()
            .schema(fields.schema.clone())
            .settings(settings)
            .open_or_create(dir)
            .map_err(|e| index_error(path, e))?;
        Ok(Index {
            inner,
            fields,
            path: path.to_path_buf(),
        })
    }

    /// The store manifest the index's last commit carried
    /// (`Writer::commit_carrying`), read without opening the index for
    /// writing; `None` when there is no index or no such payload.
    pub fn checkpoint(path: &Path) -> Option<crate::store::Manifest> {
        if !path.join("meta.json").exists() {
            return None;
        }
        let dir = tantivy::directory::MmapDirectory::open(path).ok()?;
        let metas = tantivy::Index::open(dir).ok()?.load_metas().ok()?;
        serde_json::from_str(metas.payload.as_deref()?).ok()
    }

    pub fn writer(&self) -> Result<writer::Writer> {
        writer::Writer::start(&self.inner, self.fields.clone(), self.path.clone())
    }

    pub fn searcher(&self) -> Result<Searcher> {
        let reader = self
            .inner
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| index_error(&self.path, e))?;
        Ok(reader.searcher())
    }

    pub fn term(&self, field: tantivy::schema::Field, value: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        ))
    }

    /// `query` restricted to `kind` (and without a source that is pending).
    pub fn restrict(
        &self,
        query: Box<dyn Query>,
        kind: Option<Kind>,
        pending: Option<&str>,
    ) -> Box<dyn Query> {
        let mut clauses = vec![(Occur::Must, query)];
        if let Some(kind) = kind {
            clauses.push((Occur::Must, self.term(self.fields.kind, kind.term())));
        }
        if let Some(p) = pending {
            clauses.push((Occur::MustNot, self.term(self.fields.source, p)));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The newest `limit` documents matching `query`.
    pub fn newest(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        limit: usize,
    ) -> Result<Vec<DocAddress>> {
        let top = TopDocs::with_limit(limit.max(1))
            .order_by_fast_field::<tantivy::DateTime>("ts", Order::Desc);
        let hits = searcher
            .search(query, &top)
            .map_err(|e| index_error(&self.path, e))?;
        Ok(hits.into_iter().map(|(_, a)| a).collect())
    }

    pub fn count(&self, searcher: &Searcher, query: &dyn Query) -> Result<usize> {
        searcher
            .search(query, &Count)
            .map_err(|e| index_error(&self.path, e))
    }

    pub fn doc(&self, searcher: &Searcher, at: DocAddress) -> Result<TantivyDocument> {
        searcher.doc(at).map_err(|e| index_error(&self.path, e))
    }

    /// The stored JSON of a document.
    pub fn json(&self, doc: &TantivyDocument) -> serde_json::Value {
        doc.get_first(self.fields.json)
            .and_then(|v| v.as_str())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    pub fn text_of(&self, doc: &TantivyDocument, field: tantivy::schema::Field) -> Option<String> {
        doc.get_first(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    pub fn bytes_of<'a>(
        &self,
        doc: &'a TantivyDocument,
        field: tantivy::schema::Field,
    ) -> Option<&'a [u8]> {
        doc.get_first(field).and_then(|v| v.as_bytes())
    }
}
