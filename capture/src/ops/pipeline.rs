//! From frames (with where they are in the store) to index documents:
//! the engine dissects, flows collect their packet locations, sessions
//! group flows and events. One pipeline per source, on the calling thread;
//! documents go to the writer thread.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use model::event::{CoreEvent, FlowEnd};
use model::{Event, EventBody, FlowRef, Timestamp};
use rustc_hash::FxHashMap as HashMap;
use tantivy::query::{BooleanQuery, Occur, Query};
use tantivy::schema::IndexRecordOption;
use tantivy::Searcher;

use super::live::Tag;
use crate::decode::LinkType;
use crate::engine::{Engine, LINGER_MICROS};
use crate::index::facts::Facts;
use crate::index::session::{Sessions, Summary};
use crate::index::writer::Writer;
use crate::index::{docs, Index};
use crate::source::Frame;
use crate::store::locations::Locations;
use crate::store::{Location, Result};

/// Store-side linger: a little longer than the engine's, whose sweep runs
/// once a second of capture time.
const FLOW_LINGER_MICROS: i64 = LINGER_MICROS + 5_000_000;
const SESSION_SWEEP_MICROS: i64 = 60_000_000;

/// Counts of one source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub packets: u64,
    pub bytes: u64,
    pub flows: u64,
    pub events: u64,
    pub sessions: u64,
}

struct FlowEntry {
    /// Its `flow_key`, which every document of the flow carries.
    key: Arc<str>,
    locations: Locations,
    session: Option<(IpAddr, Arc<str>)>,
    /// The flow that announced this one: its session is this one's too
    /// (active FTP data is opened by the server, yet belongs to the client).
    parent: Option<u64>,
    events: u64,
    ended: Option<(FlowRef, FlowEnd, Timestamp)>,
    /// The sandbox bridge it was seen on (live capture).
    tag: Option<std::sync::Arc<Tag>>,
}

pub struct Pipeline<'a> {
    engine: Engine,
    link: LinkType,
    index: &'a Index,
    searcher: Searcher,
    writer: &'a mut Writer,
    source: String,
    source_id: std::sync::Arc<str>,
    flows: HashMap<u64, FlowEntry>,
    open_by_id: HashMap<String, u64>,
    max_serial: Option<u64>,
    lingering: VecDeque<(Timestamp, u64)>,
    sessions: Sessions,
    gap_micros: i64,
    done: Vec<(Summary, bool)>,
    now: Timestamp,
    last_session_sweep: Timestamp,
    pub counts: Counts,
    /// Where the next frame comes from: set by a live capture before each
    /// frame of a sandbox bridge (see `ops::live`); `None` for files.
    pub tag: Option<std::sync::Arc<Tag>>,
    session_tags: HashMap<String, std::sync::Arc<Tag>>,
}

impl<'a> Pipeline<'a> {
    pub fn new(
        engine: Engine,
        link: LinkType,
        index: &'a Index,
        writer: &'a mut Writer,
        source: &str,
        idle_gap_seconds: u64,
    ) -> Result<Pipeline<'a>> {
        Ok(Pipeline {
            engine,
            link,
            searcher: index.searcher()?,
            index,
            writer,
            source: source.to_string(),
            source_id: source.into(),
            flows: HashMap::default(),
            open_by_id: HashMap::default(),
            max_serial: None,
            lingering: VecDeque::new(),
            sessions: Sessions::new(idle_gap_seconds),
            gap_micros: (idle_gap_seconds as i64).saturating_mul(1_000_000),
            done: Vec::new(),
            now: Timestamp(i64::MIN),
            last_session_sweep: Timestamp(i64::MIN),
            counts: Counts::default(),
            tag: None,
            session_tags: HashMap::default(),
        })
    }

    pub fn frame(&mut self, frame: &Frame<'_>, at: Location) -> Result<()> {
        self.counts.packets += 1;
        self.counts.bytes += frame.data.len() as u64;
        if frame.ts > self.now {
            self.now = frame.ts;
        }
        if let Some(pf) = self.engine.frame(self.link, frame) {
            let known = self.flows.contains_key(&pf.serial);
            let fresh = self.max_serial.is_none_or(|m| pf.serial > m);
            if known || fresh {
                let parent = match fresh && !known {
                    true => self
                        .engine
                        .parent(&pf)
                        .and_then(|id| self.open_by_id.get(id))
                        .copied(),
                    false => None,
                };
                let key = (!known).then(|| self.flow_key(pf.serial));
                let entry = self.flows.entry(pf.serial).or_insert_with(|| FlowEntry {
                    key: key.unwrap_or_default(),
                    locations: Locations::default(),
                    session: None,
                    parent,
                    events: 0,
                    ended: None,
                    tag: self.tag.clone(),
                });
                entry.locations.push(at);
                if fresh {
                    self.max_serial = Some(pf.serial);
                    self.open_by_id
                        .insert(pf.community_id().to_string(), pf.serial);
                }
            }
        }
        let events: Vec<Event> = self.engine.drain_events().collect();
        for e in events {
            self.event(e)?;
        }
        self.write_lingering(false)?;
        if self.now.0
            >= self
                .last_session_sweep
                .0
                .saturating_add(SESSION_SWEEP_MICROS)
        {
            self.last_session_sweep = self.now;
            self.sessions.expire(self.now, &mut self.done);
            self.write_sessions()?;
        }
        Ok(())
    }

    /// The end of the source: every flow ends, every session is written.
    pub fn finish(mut self) -> Result<Counts> {
        self.engine.finish();
        let events: Vec<Event> = self.engine.drain_events().collect();
        for e in events {
            self.event(e)?;
        }
        self.write_lingering(true)?;
        self.sessions.finish(&mut self.done);
        self.write_sessions()?;
        Ok(self.counts)
    }

    fn flow_key(&self, serial: u64) -> Arc<str> {
        format!("{}-{serial}", self.source).into()
    }

    fn session_of(&mut self, ip: IpAddr, ts: Timestamp) -> String {
        let Pipeline {
            index,
            searcher,
            gap_micros,
            sessions,
            done,
            ..
        } = self;
        let gap = *gap_micros;
        let mut earlier = |ip: IpAddr, ts: Timestamp| earlier_session(index, searcher, ip, ts, gap);
        sessions.session_for(ip, ts, &mut earlier, done)
    }

    /// A new flow's session: its announcing flow's, else its client's.
    fn choose_session(
        &mut self,
        serial: Option<u64>,
        client: IpAddr,
        ts: Timestamp,
    ) -> (IpAddr, Arc<str>) {
        let parent = serial
            .and_then(|s| self.flows.get(&s))
            .and_then(|f| f.parent)
            .and_then(|p| self.flows.get(&p))
            .and_then(|p| p.session.clone());
        // Sandbox traffic is the attacker's, whoever the client is.
        let tag = self.tag_of(serial);
        match (parent, tag.as_ref().and_then(|t| t.attacker)) {
            (Some(inherited), _) => inherited,
            (None, Some(attacker)) => {
                let id = self.session_of(attacker, ts);
                if let Some(t) = tag {
                    self.session_tags.insert(id.clone(), t);
                }
                (attacker, id.into())
            }
            (None, None) => (client, self.session_of(client, ts).into()),
        }
    }

    fn event(&mut self, e: Event) -> Result<()> {
        let serial = self.open_by_id.get(&e.flow.id).copied();
        if let EventBody::Core(CoreEvent::FlowEnd(end)) = &e.body {
            let end = end.clone();
            return self.flow_end(serial, e, end);
        }
        // The flow's session, chosen at its first event.
        let (session_ip, session) = match serial
            .and_then(|s| self.flows.get(&s))
            .and_then(|f| f.session.clone())
        {
            Some(known) => known,
            None => {
                let (ip, id) = self.choose_session(serial, e.flow.src_ip, e.ts);
                if let Some(f) = serial.and_then(|s| self.flows.get_mut(&s)) {
                    f.session = Some((ip, id.clone()));
                    self.sessions.flow_opened(ip);
                }
                (ip, id)
            }
        };
        let flow_key = serial
            .and_then(|s| self.flows.get(&s))
            .map(|f| f.key.clone())
            .unwrap_or_default();
        let facts = Facts::of(&e);
        if let Some(summary) = self.sessions.get_mut(session_ip, &session) {
            summary.add_event(&e, &facts);
        }
        if let Some(f) = serial.and_then(|s| self.flows.get_mut(&s)) {
            f.events += 1;
        }
        self.counts.events += 1;
        self.writer.add_event(docs::PendingEvent {
            source: self.source_id.clone(),
            event: e,
            facts,
            session_id: session,
            flow_key,
            tag: self.tag_of(serial),
        })
    }

    fn flow_end(&mut self, serial: Option<u64>, e: Event, end: FlowEnd) -> Result<()> {
        let Some(serial) = serial else {
            return Ok(());
        };
        self.open_by_id.remove(&e.flow.id);
        let had_session = self.flows.get(&serial).and_then(|f| f.session.clone());
        let (session_ip, session) = match had_session {
            Some((ip, id)) => {
                self.sessions.flow_closed(ip);
                (ip, id)
            }
            None => {
                let (ip, id) = self.choose_session(Some(serial), e.flow.src_ip, end.start);
                if let Some(f) = self.flows.get_mut(&serial) {
                    f.session = Some((ip, id.clone()));
                }
                (ip, id)
            }
        };
        if let Some(summary) = self.sessions.get_mut(session_ip, &session) {
            summary.add_flow(&e.flow, &end, e.ts);
        }
        if let Some(f) = self.flows.get_mut(&serial) {
            f.ended = Some((e.flow, end, e.ts));
        }
        self.lingering.push_back((e.ts, serial));
        Ok(())
    }

    /// Writes flows whose late packets can no longer come (all at the end).
    fn write_lingering(&mut self, all: bool) -> Result<()> {
        while let Some(&(closed, serial)) = self.lingering.front() {
            if !all && self.now.0.saturating_sub(closed.0) <= FLOW_LINGER_MICROS {
                break;
            }
            self.lingering.pop_front();
            let Some(f) = self.flows.remove(&serial) else {
                continue;
            };
            let Some((flow, end, end_ts)) = &f.ended else {
                continue;
            };
            let session = f.session.as_ref().map(|(_, id)| &**id).unwrap_or("");
            let mut doc = docs::flow(
                &self.index.fields,
                &self.source,
                flow,
                end,
                *end_ts,
                session,
                &f.key,
                f.events,
                f.locations.len(),
                f.locations.as_bytes(),
            );
            if let Some(t) = &f.tag {
                docs::add_tag(&self.index.fields, &mut doc, t);
            }
            self.counts.flows += 1;
            self.writer.add(doc)?;
        }
        Ok(())
    }

    fn write_sessions(&mut self) -> Result<()> {
        for (summary, replaces) in std::mem::take(&mut self.done) {
            if replaces {
                let f = &self.index.fields;
                let q: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                    (
                        Occur::Must,
                        self.index.term(f.kind, crate::index::schema::KIND_SESSION),
                    ),
                    (
                        Occur::Must,
                        self.index.term(f.session_id, &summary.session_id),
                    ),
                ]));
                self.writer.delete(q)?;
            } else {
                self.counts.sessions += 1;
            }
            let mut doc = docs::session(&self.index.fields, &self.source, &summary);
            if let Some(t) = self.session_tags.get(&summary.session_id) {
                docs::add_tag(&self.index.fields, &mut doc, t);
            }
            self.writer.add(doc)?;
        }
        Ok(())
    }
}

impl Pipeline<'_> {
    /// The sandbox of a flow (else of the frame being processed).
    fn tag_of(&self, serial: Option<u64>) -> Option<std::sync::Arc<Tag>> {
        serial
            .and_then(|s| self.flows.get(&s))
            .and_then(|f| f.tag.clone())
            .or_else(|| self.tag.clone())
    }

    /// Live capture: the clock moves without packets, so flows that ended
    /// are written once their linger is over.
    pub fn tick(&mut self, now: Timestamp) -> Result<()> {
        if now > self.now {
            self.now = now;
        }
        self.write_lingering(false)
    }

    /// Live capture commits while the pipeline runs.
    pub fn writer_mut(&mut self) -> &mut Writer {
        self.writer
    }
}

/// A session in the index that activity by `ip` at `ts` continues.
fn earlier_session(
    index: &Index,
    searcher: &Searcher,
    ip: IpAddr,
    ts: Timestamp,
    gap: i64,
) -> Option<Summary> {
    let f = &index.fields;
    let ip6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let q = BooleanQuery::new(vec![
        (
            Occur::Must,
            index.term(f.kind, crate::index::schema::KIND_SESSION),
        ),
        (
            Occur::Must,
            Box::new(tantivy::query::TermQuery::new(
                tantivy::Term::from_field_ip_addr(f.src_ip, ip6),
                IndexRecordOption::Basic,
            )),
        ),
    ]);
    let hits = index.newest(searcher, &q, 16).ok()?;
    hits.into_iter().find_map(|at| {
        let doc = index.doc(searcher, at).ok()?;
        let s: Summary = serde_json::from_value(index.json(&doc)).ok()?;
        let near =
            ts.0 <= s.last_seen.0.saturating_add(gap) && ts.0 >= s.first_seen.0.saturating_sub(gap);
        near.then_some(s)
    })
}
