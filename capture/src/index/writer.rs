//! The index writer on its own thread: documents stream in through a
//! bounded channel (back-pressure on the pipeline), commits happen when the
//! pipeline reaches a commit point and wait for the writer to finish.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use tantivy::query::Query;
use tantivy::{IndexWriter, TantivyDocument};

use super::docs::PendingEvent;
use super::Fields;
use crate::store::{Error, Result};

/// Indexing memory for the writer (tantivy flushes segments past it).
const WRITER_BYTES: usize = 128 << 20;

/// Documents sent to the thread at once (one wake-up per batch).
const BATCH: usize = 512;

/// A document, or an event whose document the writer thread builds.
pub enum Item {
    Doc(TantivyDocument),
    Event(Box<PendingEvent>),
}

enum Op {
    Add(Vec<Item>),
    Delete(Box<dyn Query>),
    /// With the payload the commit carries (the store manifest it is for).
    Commit(Option<String>, SyncSender<Result<()>>),
}

pub struct Writer {
    tx: Option<SyncSender<Op>>,
    batch: Vec<Item>,
    thread: Option<JoinHandle<Result<()>>>,
    path: PathBuf,
}

impl Writer {
    pub fn start(index: &tantivy::Index, fields: Fields, path: PathBuf) -> Result<Writer> {
        let writer: IndexWriter<TantivyDocument> = index
            .writer_with_num_threads(1, WRITER_BYTES)
            .map_err(|e| super::index_error(&path, e))?;
        let (tx, rx) = sync_channel(16);
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("kyoka-index".into())
            .spawn(move || run(writer, fields, rx, thread_path))
            .map_err(Error::io(&path))?;
        Ok(Writer {
            tx: Some(tx),
            batch: Vec::with_capacity(BATCH),
            thread: Some(thread),
            path,
        })
    }

    fn send(&mut self, op: Op) -> Result<()> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(op).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self.stopped())
        }
    }

    /// The thread ended (an error): its error, once.
    fn stopped(&mut self) -> Error {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => e,
            _ => Error::Index {
                path: self.path.clone(),
                message: "the index writer stopped".into(),
            },
        }
    }

    pub fn add(&mut self, doc: TantivyDocument) -> Result<()> {
        self.push(Item::Doc(doc))
    }

    /// Adds an event; its document is built on the writer thread.
    pub fn add_event(&mut self, event: PendingEvent) -> Result<()> {
        self.push(Item::Event(Box::new(event)))
    }

    fn push(&mut self, item: Item) -> Result<()> {
        self.batch.push(item);
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.send(Op::Add(batch))
    }

    /// Deletes what `query` matches, after the documents added before.
    pub fn delete(&mut self, query: Box<dyn Query>) -> Result<()> {
        self.flush()?;
        self.send(Op::Delete(query))
    }

    /// Commits everything sent so far; returns once it is durable.
    pub fn commit(&mut self) -> Result<()> {
        self.commit_carrying(None)
    }

    /// `commit`, with a payload kept in the index's meta data until the
    /// next commit (see `Index::checkpoint`).
    pub fn commit_carrying(&mut self, payload: Option<String>) -> Result<()> {
        self.flush()?;
        let (tx, rx) = sync_channel(1);
        self.send(Op::Commit(payload, tx))?;
        match rx.recv() {
            Ok(result) => result,
            Err(_) => Err(self.stopped()),
        }
    }

    /// Stops the thread, dropping what was not committed.
    pub fn close(mut self) -> Result<()> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Index {
                path: self.path.clone(),
                message: "the index writer panicked".into(),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    mut writer: IndexWriter<TantivyDocument>,
    fields: Fields,
    rx: Receiver<Op>,
    path: PathBuf,
) -> Result<()> {
    let fail = |e: tantivy::TantivyError| super::index_error(&path, e);
    // Documents or deletions since the last commit.
    let mut dirty = false;
    while let Ok(op) = rx.recv() {
        dirty = !matches!(op, Op::Commit(..));
        match op {
            Op::Add(items) => {
                for item in items {
                    let doc = match item {
                        Item::Doc(doc) => doc,
                        Item::Event(e) => e.into_doc(&fields),
                    };
                    writer.add_document(doc).map_err(fail)?;
                }
            }
            Op::Delete(query) => {
                writer.delete_query(query).map_err(fail)?;
            }
            Op::Commit(payload, done) => {
                let result = writer
                    .prepare_commit()
                    .and_then(|mut prepared| {
                        if let Some(p) = &payload {
                            prepared.set_payload(p);
                        }
                        prepared.commit()
                    })
                    .map(|_| ())
                    .map_err(fail);
                let failed = result.is_err();
                let _ = done.send(result);
                if failed {
                    return Err(Error::Index {
                        path,
                        message: "commit failed".into(),
                    });
                }
            }
        }
    }
    // Dropped without a commit: what was added since the last one is lost,
    // as after a crash.
    if dirty {
        let _ = writer.rollback();
    }
    // The merges a commit started run on tantivy's threads, and the folder
    // lock goes with the writer: wait for them, so that whoever opens the
    // index next in this process (a new writer, `reindex` removing it)
    // finds it quiet.
    writer.wait_merging_threads().map_err(fail)
}
