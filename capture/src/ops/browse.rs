//! Reading a data folder the way an analyst browses it: pages of search
//! results, a histogram of matches over time, one session's timeline in
//! pages, one flow's packets and its reassembled stream. One [`Browser`]
//! keeps the index open so each request costs a search, not an open.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use model::Timestamp;
use serde::Serialize;
use serde_json::Value;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::Query;
use tantivy::{DateTime, DocId, IndexReader, Order, Score, SegmentOrdinal, SegmentReader};

use super::layout;
use crate::decode::{self, LinkType};
use crate::index::{index_error, query, Index, Kind};
use crate::reassembly::{Chunk, Stream};
use crate::store::pcapfile::Reader;
use crate::store::{locations, Error, Location, Manifest, Result};

/// Results past this offset are not paged to: a deeper page means the
/// query should be narrowed (it bounds the cost of one request).
pub const MAX_OFFSET: usize = 10_000;
/// A session's timeline pages deeper: replay walks a whole session.
pub const MAX_TIMELINE_OFFSET: usize = 1_000_000;
/// Most results on one page.
pub const MAX_LIMIT: usize = 500;

/// One page of results and how many match in all.
#[derive(Clone, Debug, Serialize)]
pub struct Page {
    pub total: u64,
    pub offset: usize,
    pub hits: Vec<Value>,
}

/// Matches over time: `counts[i]` in `[start + i*width, start + (i+1)*width)`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Histogram {
    pub start_us: i64,
    pub width_us: i64,
    pub counts: Vec<u64>,
    pub total: u64,
}

/// One stored packet of a flow.
#[derive(Clone, Debug, Serialize)]
pub struct Packet {
    pub index: u64,
    pub ts: Timestamp,
    /// "c2s" (from the client), "s2c", or "?" when the frame does not decode.
    pub dir: &'static str,
    pub wire_len: u32,
    /// The frame as captured (capped at [`PACKET_BYTES`]).
    pub frame: Vec<u8>,
    /// TCP/UDP payload (capped at [`PACKET_BYTES`]).
    pub payload: Vec<u8>,
    pub flags: String,
}

/// Bytes of one packet shown; a bigger frame is cut (the pcap has all).
pub const PACKET_BYTES: usize = 4096;

/// A run of reassembled bytes in one direction, or a gap.
#[derive(Clone, Debug, Serialize)]
pub struct StreamPart {
    pub dir: &'static str,
    pub data: Vec<u8>,
    /// Bytes never captured before this part.
    pub gap: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowStream {
    pub parts: Vec<StreamPart>,
    /// The stream went on past the cap.
    pub truncated: bool,
}

/// Packet counts of each flow of a session over the session's time.
#[derive(Clone, Debug, Serialize)]
pub struct Density {
    pub start_us: i64,
    pub width_us: i64,
    /// (flow_key, counts per bucket)
    pub flows: Vec<(String, Vec<u32>)>,
}

pub struct Browser {
    data: PathBuf,
    index: Index,
    reader: IndexReader,
}

fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(d.as_micros() as i64)
}

fn missing(data: &Path) -> Error {
    Error::Io {
        path: data.to_path_buf(),
        error: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no kyoka data here (run `kyoka ingest` first)",
        ),
    }
}

impl Browser {
    pub fn open(data: &Path) -> Result<Browser> {
        let layout = layout(data);
        if !layout.manifest().exists() {
            return Err(missing(data));
        }
        let index = Index::open_or_create(&layout.index())?;
        let reader = index
            .inner
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(|e| index_error(&index.path, e))?;
        Ok(Browser {
            data: data.to_path_buf(),
            index,
            reader,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    fn manifest(&self) -> Result<Manifest> {
        Manifest::load(&layout(&self.data).manifest())?.ok_or_else(|| missing(&self.data))
    }

    /// The query text parsed and restricted to `kind`, without documents of
    /// an ingest that has not committed.
    fn parse(&self, kind: Option<Kind>, text: &str) -> Result<Box<dyn Query>> {
        let manifest = self.manifest()?;
        let q = query::parse(&self.index, text, now())?;
        Ok(self.index.restrict(q, kind, manifest.pending.as_deref()))
    }

    fn restricted(&self, q: Box<dyn Query>, kind: Kind) -> Result<Box<dyn Query>> {
        let manifest = self.manifest()?;
        Ok(self.index.restrict(q, Some(kind), manifest.pending.as_deref()))
    }

    /// One page of `kind` matching `text`, newest first.
    pub fn search(&self, kind: Kind, text: &str, offset: usize, limit: usize) -> Result<Page> {
        let q = self.parse(Some(kind), text)?;
        self.page(q.as_ref(), offset.min(MAX_OFFSET), limit, Order::Desc)
    }

    fn page(&self, q: &dyn Query, offset: usize, limit: usize, order: Order) -> Result<Page> {
        let limit = limit.clamp(1, MAX_LIMIT);
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(limit)
            .and_offset(offset)
            .order_by_fast_field::<DateTime>("ts", order);
        let (total, hits) = searcher
            .search(q, &(Count, top))
            .map_err(|e| index_error(&self.index.path, e))?;
        let f = &self.index.fields;
        let mut out = Vec::with_capacity(hits.len());
        for (_, at) in hits {
            let doc = self.index.doc(&searcher, at)?;
            let mut v = self.index.json(&doc);
            // The flow key ties events and flows to one stored flow (a
            // Community ID can repeat when a 5-tuple is reused).
            if let (Some(key), Value::Object(m)) = (self.index.text_of(&doc, f.flow_key), &mut v) {
                if !key.is_empty() {
                    m.insert("flow_key".into(), Value::String(key));
                }
            }
            out.push(v);
        }
        Ok(Page {
            total: total as u64,
            offset,
            hits: out,
        })
    }

    /// Matches of `text` over time in `buckets` buckets, between `from_us`
    /// and `to_us` when given, else between the first and last match.
    pub fn histogram(
        &self,
        kind: Kind,
        text: &str,
        buckets: usize,
        from_us: Option<i64>,
        to_us: Option<i64>,
    ) -> Result<Histogram> {
        let q = self.parse(Some(kind), text)?;
        let searcher = self.reader.searcher();
        let run = |c: &TsCollector| {
            searcher
                .search(q.as_ref(), c)
                .map_err(|e| index_error(&self.index.path, e))
        };
        let (start, end) = match (from_us, to_us) {
            (Some(a), Some(b)) if a < b => (a, b),
            _ => {
                let r = run(&TsCollector::MinMax)?;
                match r {
                    TsFruit::MinMax(Some((a, b))) => (a, b + 1),
                    _ => return Ok(Histogram::default()),
                }
            }
        };
        let n = buckets.clamp(1, 1000);
        let width = ((end - start) / n as i64).max(1);
        let n = (((end - start) + width - 1) / width) as usize;
        match run(&TsCollector::Buckets { start, width, n })? {
            TsFruit::Buckets(counts) => Ok(Histogram {
                start_us: start,
                width_us: width,
                total: counts.iter().sum(),
                counts,
            }),
            TsFruit::MinMax(_) => Ok(Histogram::default()),
        }
    }

    /// The session's summary document.
    pub fn session(&self, session_id: &str) -> Result<Option<Value>> {
        let q = self.restricted(
            self.index.term(self.index.fields.session_id, session_id),
            Kind::Sessions,
        )?;
        Ok(self.page(q.as_ref(), 0, 1, Order::Desc)?.hits.into_iter().next())
    }

    /// The session's flows, oldest first.
    pub fn session_flows(&self, session_id: &str, limit: usize) -> Result<Page> {
        let q = self.restricted(
            self.index.term(self.index.fields.session_id, session_id),
            Kind::Flows,
        )?;
        self.page(q.as_ref(), 0, limit, Order::Asc)
    }

    /// One page of the session's events in time order (replay fetches the
    /// timeline page by page).
    pub fn timeline(&self, session_id: &str, offset: usize, limit: usize) -> Result<Page> {
        let q = self.restricted(
            self.index.term(self.index.fields.session_id, session_id),
            Kind::Events,
        )?;
        self.page(q.as_ref(), offset.min(MAX_TIMELINE_OFFSET), limit, Order::Asc)
    }

    /// A flow's document (with its packet locations), by flow key.
    fn flow_doc(&self, flow_key: &str) -> Result<Option<(Value, Vec<Location>)>> {
        let q = self.restricted(self.index.term(self.index.fields.flow_key, flow_key), Kind::Flows)?;
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(1).order_by_fast_field::<DateTime>("ts", Order::Asc);
        let hits = searcher
            .search(q.as_ref(), &top)
            .map_err(|e| index_error(&self.index.path, e))?;
        let Some((_, at)) = hits.into_iter().next() else {
            return Ok(None);
        };
        let doc = self.index.doc(&searcher, at)?;
        let packed = self.index.bytes_of(&doc, self.index.fields.locations).unwrap_or(&[]);
        let locs = locations::decode(packed).ok_or_else(|| Error::Index {
            path: self.index.path.clone(),
            message: "a flow's packet locations are damaged (`kyoka reindex` rebuilds them)".into(),
        })?;
        let mut v = self.index.json(&doc);
        if let Value::Object(m) = &mut v {
            m.insert("flow_key".into(), Value::String(flow_key.to_string()));
        }
        Ok(Some((v, locs)))
    }

    /// A flow's summary by flow key.
    pub fn flow(&self, flow_key: &str) -> Result<Option<Value>> {
        Ok(self.flow_doc(flow_key)?.map(|(v, _)| v))
    }

    /// Reads the records at `locs` (in store order), skipping what the disk
    /// budget deleted. Calls `f(link_type, ts, wire_len, raw_data)`.
    fn read_records(
        &self,
        manifest: &Manifest,
        locs: &[Location],
        mut f: impl FnMut(u32, Timestamp, u32, &[u8]),
    ) -> Result<()> {
        let layout = layout(&self.data);
        let mut current: Option<(u32, Reader)> = None;
        for loc in locs {
            let Some(file) = manifest
                .file(loc.file)
                .filter(|f| !manifest.deleting.contains(&f.id))
            else {
                continue;
            };
            if current.as_ref().map(|(id, _)| *id) != Some(loc.file) {
                current = Some((loc.file, Reader::open(&layout.pcap(loc.file))?));
            }
            let Some((_, reader)) = current.as_mut() else {
                continue;
            };
            let record = reader.read_at(loc.offset, file.bytes)?;
            f(file.link_type, record.ts, record.wire_len, record.data());
        }
        Ok(())
    }

    /// Up to `limit` packets of a flow from the `offset`-th on.
    pub fn flow_packets(&self, flow_key: &str, offset: usize, limit: usize) -> Result<Option<(u64, Vec<Packet>)>> {
        let Some((flow, mut locs)) = self.flow_doc(flow_key)? else {
            return Ok(None);
        };
        locs.sort_unstable();
        let total = locs.len() as u64;
        let client = client_of(&flow);
        let manifest = self.manifest()?;
        let window: Vec<Location> = locs.iter().skip(offset).take(limit.clamp(1, MAX_LIMIT)).copied().collect();
        let mut out = Vec::with_capacity(window.len());
        let mut i = offset as u64;
        self.read_records(&manifest, &window, |link, ts, wire_len, data| {
            let (dir, payload, flags) = match decode_frame(link, data) {
                Some((src, sport, tcp, payload)) => (
                    direction(client, src, sport),
                    payload[..payload.len().min(PACKET_BYTES)].to_vec(),
                    tcp,
                ),
                None => ("?", Vec::new(), String::new()),
            };
            out.push(Packet {
                index: i,
                ts,
                dir,
                wire_len,
                frame: data[..data.len().min(PACKET_BYTES)].to_vec(),
                payload,
                flags,
            });
            i += 1;
        })?;
        Ok(Some((total, out)))
    }

    /// A flow's bytes put back in order per direction (TCP), or its
    /// datagrams (UDP), interleaved in capture order, up to `max_bytes`.
    pub fn flow_stream(&self, flow_key: &str, max_bytes: usize) -> Result<Option<FlowStream>> {
        let Some((flow, mut locs)) = self.flow_doc(flow_key)? else {
            return Ok(None);
        };
        locs.sort_unstable();
        let client = client_of(&flow);
        let manifest = self.manifest()?;
        let mut streams = [Stream::default(), Stream::default()];
        let mut parts: Vec<StreamPart> = Vec::new();
        let mut total = 0usize;
        let mut truncated = false;
        let mut push = |dir: &'static str, chunk: Chunk<'_>, parts: &mut Vec<StreamPart>| {
            let (data, gap) = match chunk {
                Chunk::Data(d) => (d, 0),
                Chunk::Gap(n) => (&[][..], n),
            };
            let room = max_bytes.saturating_sub(total);
            if data.len() > room {
                truncated = true;
            }
            let data = &data[..data.len().min(room)];
            total += data.len();
            match parts.last_mut() {
                Some(last) if last.dir == dir && gap == 0 => last.data.extend_from_slice(data),
                _ if data.is_empty() && gap == 0 => {}
                _ => parts.push(StreamPart {
                    dir,
                    data: data.to_vec(),
                    gap,
                }),
            }
        };
        self.read_records(&manifest, &locs, |link, _ts, _wire, data| {
            let Ok(LinkTypeOk(link)) = link_type(link) else { return };
            let Ok(ip) = decode::ip_packet(link, data) else { return };
            if ip.fragment.is_some() {
                return;
            }
            let Ok(d) = decode::transport(ip.src, ip.dst, ip.protocol, ip.payload, ip.missing) else {
                return;
            };
            let dir = direction(client, d.src, d.src_port);
            let side = usize::from(dir == "s2c");
            match d.tcp {
                Some(t) if !t.rst => {
                    streams[side].segment(t.seq, t.syn, t.fin, d.payload, d.missing, 1 << 20, &mut |c| {
                        push(dir, c, &mut parts)
                    });
                }
                Some(_) => {}
                None => push(dir, Chunk::Data(d.payload), &mut parts),
            }
        })?;
        for (side, s) in streams.iter_mut().enumerate() {
            let dir = if side == 0 { "c2s" } else { "s2c" };
            s.flush(&mut |c| push(dir, c, &mut parts));
        }
        Ok(Some(FlowStream { parts, truncated }))
    }

    /// Packets of each of the session's flows over the session's time, in
    /// `buckets` buckets: the density strip under the timeline.
    pub fn density(&self, session_id: &str, buckets: usize) -> Result<Option<Density>> {
        let Some(session) = self.session(session_id)? else {
            return Ok(None);
        };
        let ts = |k: &str| {
            session
                .get(k)
                .and_then(|v| v.as_str())
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.timestamp_micros())
        };
        let (Some(start), Some(end)) = (ts("first_seen"), ts("last_seen")) else {
            return Ok(None);
        };
        let n = buckets.clamp(1, 2000);
        let width = ((end - start + 1) / n as i64).max(1);
        let n = (((end - start + 1) + width - 1) / width) as usize;
        let manifest = self.manifest()?;
        let flows = self.session_flows(session_id, MAX_LIMIT)?;
        let mut out = Vec::new();
        for flow in flows.hits {
            let Some(key) = flow.get("flow_key").and_then(|k| k.as_str()) else {
                continue;
            };
            let Some((_, mut locs)) = self.flow_doc(key)? else {
                continue;
            };
            locs.sort_unstable();
            let mut counts = vec![0u32; n];
            self.read_records(&manifest, &locs, |_, t, _, _| {
                let i = ((t.0 - start) / width).clamp(0, n as i64 - 1) as usize;
                counts[i] = counts[i].saturating_add(1);
            })?;
            out.push((key.to_string(), counts));
        }
        Ok(Some(Density {
            start_us: start,
            width_us: width,
            flows: out,
        }))
    }

    /// Where an extracted file's bytes are, when `sha256` names one.
    pub fn artifact(&self, sha256: &str) -> Option<crate::artifact::Located> {
        crate::artifact::locate(&layout(&self.data).artifacts(), sha256)
    }

    /// How many documents of `kind` match `text`.
    pub fn count(&self, kind: Kind, text: &str) -> Result<u64> {
        let q = self.parse(Some(kind), text)?;
        let searcher = self.reader.searcher();
        searcher
            .search(q.as_ref(), &Count)
            .map(|n| n as u64)
            .map_err(|e| index_error(&self.index.path, e))
    }

    /// The client addresses with most events matching `text`.
    pub fn top_sources(&self, text: &str, n: usize) -> Result<Vec<(IpAddr, u64)>> {
        let q = self.parse(Some(Kind::Events), text)?;
        let searcher = self.reader.searcher();
        let counts = searcher
            .search(q.as_ref(), &IpCollector)
            .map_err(|e| index_error(&self.index.path, e))?;
        let mut v: Vec<(IpAddr, u64)> = counts
            .into_iter()
            .map(|(ip, c)| (ip.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(ip)), c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        Ok(v)
    }
}

struct LinkTypeOk(LinkType);

fn link_type(dlt: u32) -> std::result::Result<LinkTypeOk, ()> {
    LinkType::from_dlt(dlt as i32).map(LinkTypeOk).ok_or(())
}

/// Source address and port, TCP flags and payload of a frame.
fn decode_frame(dlt: u32, data: &[u8]) -> Option<(IpAddr, u16, String, &[u8])> {
    let LinkTypeOk(link) = link_type(dlt).ok()?;
    let ip = decode::ip_packet(link, data).ok()?;
    if ip.fragment.is_some_and(|f| f.offset > 0 || f.more) {
        return None;
    }
    let d = decode::transport(ip.src, ip.dst, ip.protocol, ip.payload, ip.missing).ok()?;
    let flags = d
        .tcp
        .map(|t| {
            let mut s = String::new();
            for (on, c) in [(t.syn, 'S'), (t.fin, 'F'), (t.rst, 'R'), (t.ack_flag, '.')] {
                if on {
                    s.push(c);
                }
            }
            s
        })
        .unwrap_or_default();
    Some((d.src, d.src_port, flags, d.payload))
}

fn client_of(flow: &Value) -> Option<(IpAddr, u16)> {
    let f = flow.get("flow")?;
    let ip = f.get("src_ip")?.as_str()?.parse().ok()?;
    let port = u16::try_from(f.get("src_port")?.as_u64()?).ok()?;
    Some((ip, port))
}

fn direction(client: Option<(IpAddr, u16)>, src: IpAddr, sport: u16) -> &'static str {
    match client {
        Some(c) if c == (src, sport) => "c2s",
        Some(_) => "s2c",
        None => "?",
    }
}

/// Reads the `ts` fast field of matching documents: their span, or their
/// counts in fixed buckets.
enum TsCollector {
    MinMax,
    Buckets { start: i64, width: i64, n: usize },
}

enum TsFruit {
    MinMax(Option<(i64, i64)>),
    Buckets(Vec<u64>),
}

struct TsSegment {
    column: Column<DateTime>,
    mode: (i64, i64, usize, bool),
    min_max: Option<(i64, i64)>,
    counts: Vec<u64>,
}

impl Collector for TsCollector {
    type Fruit = TsFruit;
    type Child = TsSegment;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<TsSegment> {
        let column = segment.fast_fields().date("ts")?;
        let mode = match *self {
            TsCollector::MinMax => (0, 1, 0, true),
            TsCollector::Buckets { start, width, n } => (start, width, n, false),
        };
        Ok(TsSegment {
            column,
            mode,
            min_max: None,
            counts: vec![0; mode.2],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<TsFruit>) -> tantivy::Result<TsFruit> {
        Ok(match self {
            TsCollector::MinMax => TsFruit::MinMax(fruits.into_iter().fold(None, |acc, f| match (acc, f) {
                (None, TsFruit::MinMax(x)) => x,
                (Some((a, b)), TsFruit::MinMax(Some((c, d)))) => Some((a.min(c), b.max(d))),
                (acc, _) => acc,
            })),
            TsCollector::Buckets { n, .. } => {
                let mut total = vec![0u64; *n];
                for f in fruits {
                    if let TsFruit::Buckets(c) = f {
                        for (t, x) in total.iter_mut().zip(c) {
                            *t += x;
                        }
                    }
                }
                TsFruit::Buckets(total)
            }
        })
    }
}

impl SegmentCollector for TsSegment {
    type Fruit = TsFruit;

    fn collect(&mut self, doc: DocId, _: Score) {
        let Some(t) = self.column.first(doc) else { return };
        let t = t.into_timestamp_micros();
        let (start, width, n, min_max) = self.mode;
        if min_max {
            self.min_max = Some(match self.min_max {
                None => (t, t),
                Some((a, b)) => (a.min(t), b.max(t)),
            });
        } else if t >= start {
            let i = ((t - start) / width) as usize;
            if i < n {
                self.counts[i] += 1;
            }
        }
    }

    fn harvest(self) -> TsFruit {
        if self.mode.3 {
            TsFruit::MinMax(self.min_max)
        } else {
            TsFruit::Buckets(self.counts)
        }
    }
}

/// Counts matching documents per `src_ip` (a fast field).
struct IpCollector;

struct IpSegment {
    column: Column<std::net::Ipv6Addr>,
    counts: std::collections::HashMap<std::net::Ipv6Addr, u64>,
}

impl Collector for IpCollector {
    type Fruit = std::collections::HashMap<std::net::Ipv6Addr, u64>;
    type Child = IpSegment;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<IpSegment> {
        Ok(IpSegment {
            column: segment.fast_fields().ip_addr("src_ip")?,
            counts: Default::default(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut all = std::collections::HashMap::new();
        for f in fruits {
            for (k, v) in f {
                *all.entry(k).or_insert(0) += v;
            }
        }
        Ok(all)
    }
}

impl SegmentCollector for IpSegment {
    type Fruit = std::collections::HashMap<std::net::Ipv6Addr, u64>;

    fn collect(&mut self, doc: DocId, _: Score) {
        if let Some(ip) = self.column.first(doc) {
            *self.counts.entry(ip).or_insert(0) += 1;
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.counts
    }
}
