//! Live ingest: packets from interfaces (sandbox bridges) into a data
//! folder while they happen, searchable within about a second.
//!
//! One writer thread owns the store and the index (a data folder has one
//! writer) and runs one [`Pipeline`] over the frames of every interface;
//! each interface has its own capture thread that sends owned frames,
//! labelled with the interface's [`Tag`], through one channel. One pipeline
//! for all bridges is correct because every sandbox has its own subnet,
//! so no flow is seen on two bridges; a flow keeps the tag of the bridge
//! it was first seen on and its session is the tag's attacker's.
//!
//! Commits: every `commit_every` (when packets came) the store is synced,
//! the index committed and the run's manifest source (`live-<start>`, the
//! id its documents carry) extended by the packets since the last commit:
//! one source per run, however long it runs, so a flow that spans commits
//! stays one flow and `reindex` reads the run back as one. No source is
//! marked pending: what the index committed stays; what came after the
//! last commit is lost in a crash (at most `commit_every`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use model::Timestamp;

use super::pipeline::{Counts, Pipeline};
use super::{open_for_writing, Options};
use crate::artifact::ArtifactStore;
use crate::decode::LinkType;
use crate::engine::Engine;
use crate::source::{Frame, LiveSource};
use crate::index::writer::Writer;
use crate::index::Index;
use crate::store::pcapfile;
use crate::store::{Error, Result, Source, SourceTag, Store};

/// What every flow, event and session of one interface carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The sandbox's id (field `sandbox`).
    pub sandbox: String,
    /// The attacker the sandbox was made for (field `attacker`): every
    /// flow on the bridge goes into this address's session, whoever the
    /// client is (the attacker through an agent, or the host's own
    /// clients). `None` (a shared sandbox): sessions by client address.
    pub attacker: Option<IpAddr>,
    /// The sandbox's network (address, prefix length), kept in the
    /// manifest so that `reindex` can tag the stored packets again.
    pub network: Option<(IpAddr, u8)>,
}

/// Ethernet, what every Linux bridge gives.
const DLT_EN10MB: u32 = 1;
/// Frames waiting for the writer thread before capture threads block.
const QUEUE: usize = 65_536;

enum Msg {
    Frame {
        tag: Option<Arc<Tag>>,
        ts: Timestamp,
        data: Vec<u8>,
        wire_len: u32,
    },
    Stop,
}

struct Capture {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// A running live ingest (see the module documentation).
pub struct LiveIngest {
    tx: mpsc::SyncSender<Msg>,
    writer: Option<JoinHandle<Result<Counts>>>,
    captures: Mutex<HashMap<String, Capture>>,
    errors: Arc<Mutex<Vec<String>>>,
    /// Every tagged interface of the run, for the manifest.
    tags: Arc<Mutex<Vec<(String, SourceTag)>>>,
}

impl LiveIngest {
    /// Opens `data` for writing (recovering it like `ingest` does) and
    /// starts the writer thread; interfaces are added with [`listen`].
    ///
    /// [`listen`]: LiveIngest::listen
    pub fn start(data: &Path, options: &Options, commit_every: Duration) -> Result<LiveIngest> {
        // Opened here so a locked or broken folder fails the caller.
        let (store, index, artifacts) = open_for_writing(data, options)?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let options = options.clone();
        let path = data.to_path_buf();
        let tags = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let tags = tags.clone();
            std::thread::Builder::new()
                .name("kyoka-live".into())
                .spawn(move || write_loop(store, index, artifacts, &options, rx, commit_every, &tags))
                .map_err(Error::io(&path))?
        };
        Ok(LiveIngest {
            tx,
            writer: Some(writer),
            captures: Mutex::new(HashMap::new()),
            errors: Arc::new(Mutex::new(Vec::new())),
            tags,
        })
    }

    /// Starts capturing on `device` (an Ethernet interface) with `tag`;
    /// nothing when it is already captured.
    pub fn listen(&self, device: &str, tag: Option<Tag>) -> crate::Result<()> {
        let mut captures = lock(&self.captures);
        if captures.get(device).is_some_and(|c| !c.thread.is_finished()) {
            return Ok(());
        }
        // Before the capture opens: no packet of it is older.
        let since = Timestamp(now_micros());
        let source = LiveSource::open(device, None)?;
        if source.link() != LinkType::Ethernet {
            return Err(crate::Error::Device {
                device: device.to_string(),
                message: "live ingest takes Ethernet interfaces only".into(),
            });
        }
        if let Some(t) = &tag {
            if let Some((network, prefix)) = t.network {
                let record = SourceTag { sandbox: t.sandbox.clone(), attacker: t.attacker, network, prefix, since, until: None };
                lock(&self.tags).push((device.to_string(), record));
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, tx, errors) = (stop.clone(), self.tx.clone(), self.errors.clone());
            let tag = tag.map(Arc::new);
            let name = device.to_string();
            std::thread::Builder::new()
                .name(format!("kyoka-cap-{device}"))
                .spawn(move || capture_loop(source, tag, &stop, &tx, &name, &errors))
                .map_err(|e| crate::Error::Device {
                    device: device.to_string(),
                    message: e.to_string(),
                })?
        };
        captures.insert(device.to_string(), Capture { stop, thread });
        Ok(())
    }

    /// Stops capturing on `device` (its frames already read stay queued).
    pub fn unlisten(&self, device: &str) {
        let capture = self
            .captures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(device);
        if let Some(c) = capture {
            c.stop.store(true, Ordering::Relaxed);
            let _ = c.thread.join();
        }
        // After the capture ended: no packet of it is newer.
        let until = Timestamp(now_micros());
        for (_, t) in lock(&self.tags).iter_mut().filter(|(d, t)| d == device && t.until.is_none()) {
            t.until = Some(until);
        }
    }

    /// Interfaces captured now (a capture ends by itself when its
    /// interface disappears).
    pub fn devices(&self) -> Vec<String> {
        let mut captures = lock(&self.captures);
        captures.retain(|_, c| !c.thread.is_finished());
        let mut out: Vec<String> = captures.keys().cloned().collect();
        out.sort();
        out
    }

    /// Capture errors so far (an interface that went away, say).
    pub fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.errors))
    }

    /// Stops every capture, ends every flow and session, commits.
    pub fn stop(mut self) -> Result<Counts> {
        let devices: Vec<String> = self
            .captures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for d in devices {
            self.unlisten(&d);
        }
        let _ = self.tx.send(Msg::Stop);
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(result)) => result,
            _ => Err(Error::Index {
                path: PathBuf::new(),
                message: "the live writer panicked".into(),
            }),
        }
    }
}

impl Drop for LiveIngest {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let captures: Vec<Capture> = self
                .captures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain()
                .map(|(_, c)| c)
                .collect();
            for c in captures {
                c.stop.store(true, Ordering::Relaxed);
                let _ = c.thread.join();
            }
            let _ = self.tx.send(Msg::Stop);
            if let Some(w) = self.writer.take() {
                let _ = w.join();
            }
        }
    }
}

fn capture_loop(
    mut source: LiveSource,
    tag: Option<Arc<Tag>>,
    stop: &AtomicBool,
    tx: &mpsc::SyncSender<Msg>,
    device: &str,
    errors: &Mutex<Vec<String>>,
) {
    while !stop.load(Ordering::Relaxed) {
        match source.next_frame() {
            Ok(Some(frame)) => {
                let msg = Msg::Frame {
                    tag: tag.clone(),
                    ts: frame.ts,
                    data: frame.data.to_vec(),
                    wire_len: frame.wire_len,
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                // The bridge went away with its sandbox: not worth more.
                tracing::debug!(%device, %e, "live capture ended");
                errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{device}: {e}"));
                return;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn write_loop(
    mut store: Store,
    index: Index,
    artifacts: ArtifactStore,
    options: &Options,
    rx: Receiver<Msg>,
    commit_every: Duration,
    tags: &Mutex<Vec<(String, SourceTag)>>,
) -> Result<Counts> {
    let tags = || lock(tags).iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    let run = format!("live-{}", now_micros());
    let mut writer = index.writer()?;
    let engine = Engine::new(options.engine.clone(), artifacts.clone());
    let mut pipeline = Pipeline::new(
        engine,
        LinkType::Ethernet,
        &index,
        &mut writer,
        &run,
        options.idle_gap_seconds,
    )?;
    let mut chunk = Chunk::new(&run);
    let mut last_commit = Instant::now();
    let mut committed = Counts::default();
    loop {
        let msg = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => {
                pipeline.tick(Timestamp(now_micros()))?;
                None
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            Some(Msg::Stop) => break,
            Some(Msg::Frame { tag, ts, data, wire_len }) => {
                let frame = Frame { ts, data: &data, wire_len };
                let at = store.append(DLT_EN10MB, &frame)?;
                pipeline.tag = tag;
                pipeline.frame(&frame, at)?;
                chunk.packets += 1;
                chunk.bytes += pcapfile::record_len(&data);
            }
            None => {}
        }
        if last_commit.elapsed() >= commit_every {
            last_commit = Instant::now();
            let counts = pipeline.counts;
            // Flows whose linger ended are documents without new packets.
            if counts != committed {
                chunk.commit(&mut store, &artifacts, pipeline.writer_mut(), counts, committed, tags())?;
                committed = counts;
                crate::store::retention::enforce(&mut store, &index, &artifacts)?;
            }
        }
    }
    let counts = pipeline.finish()?;
    chunk.commit(&mut store, &artifacts, &mut writer, counts, committed, tags())?;
    writer.close()?;
    Ok(counts)
}

fn now_micros() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_micros() as i64
}

/// The packets since the last commit, added to the run's manifest source
/// at the commit.
struct Chunk {
    run: String,
    packets: u64,
    bytes: u64,
    /// The run has a manifest source.
    recorded: bool,
}

impl Chunk {
    fn new(run: &str) -> Chunk {
        Chunk { run: run.to_string(), packets: 0, bytes: 0, recorded: false }
    }

    /// A commit point: the index commits, and the run's manifest source
    /// records the chunk's packets and the flows and events written since
    /// the last commit (flows end without packets, when their linger is
    /// over). Before the run's first packet there is no source yet.
    fn commit(
        &mut self,
        store: &mut Store,
        artifacts: &ArtifactStore,
        writer: &mut Writer,
        now: Counts,
        before: Counts,
        tags: Vec<SourceTag>,
    ) -> Result<()> {
        if self.packets == 0 && (!self.recorded || now == before) {
            store.sync()?;
            super::sync_artifacts(store, artifacts)?;
            return writer.commit();
        }
        self.recorded = true;
        let source = Source {
            id: self.run.clone(),
            sha256: String::new(),
            fingerprint: String::new(),
            path: format!("live:{}", self.run),
            bytes: self.bytes,
            packets: self.packets,
            flows: now.flows.saturating_sub(before.flows),
            events: now.events.saturating_sub(before.events),
            link_type: DLT_EN10MB,
            spans: Vec::new(),
            error: None,
            tags,
        };
        super::commit_point(store, artifacts, writer, source)?;
        self.packets = 0;
        self.bytes = 0;
        Ok(())
    }
}
