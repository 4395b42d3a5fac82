//! Export the packets of every flow a query matches (a matching event
//! brings its flow, a matching session all of its flows), in store order,
//! each record byte for byte as stored.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use tantivy::collector::DocSetCollector;
use tantivy::query::{BooleanQuery, Occur, Query};

use super::layout;
use super::search::open_for_reading;
use crate::index::schema::{KIND_EVENT, KIND_FLOW, KIND_SESSION};
use crate::index::{index_error, query, Index, Kind};
use crate::store::locations;
use crate::store::pcapfile::{self, Reader};
use crate::store::{Error, Location, Result};

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ExportReport {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

pub fn export(data: &Path, query_text: &str, out: &Path) -> Result<ExportReport> {
    let (manifest, index) = open_for_reading(data)?;
    let now = model::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as i64,
    );
    let q = query::parse(&index, query_text, now)?;
    let q = index.restrict(q, None, manifest.pending.as_deref());
    let searcher = index.searcher()?;
    let hits = searcher
        .search(q.as_ref(), &DocSetCollector)
        .map_err(|e| index_error(&index.path, e))?;
    let f = &index.fields;
    // Which flows: by flow key (events, flows) and by session (sessions).
    let mut flow_keys = BTreeSet::new();
    let mut sessions = BTreeSet::new();
    for at in hits {
        let doc = index.doc(&searcher, at)?;
        match index.text_of(&doc, f.kind).as_deref().unwrap_or("") {
            KIND_SESSION => sessions.extend(
                index
                    .json(&doc)
                    .get("session_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
            ),
            KIND_FLOW | KIND_EVENT => {
                flow_keys.extend(index.text_of(&doc, f.flow_key).filter(|k| !k.is_empty()))
            }
            _ => {}
        }
    }
    let mut locations: Vec<Location> = Vec::new();
    let mut exported: BTreeSet<String> = BTreeSet::new();
    let mut add_flows = |clause: Box<dyn Query>| -> Result<()> {
        let q = index.restrict(clause, Some(Kind::Flows), manifest.pending.as_deref());
        let hits = searcher
            .search(q.as_ref(), &DocSetCollector)
            .map_err(|e| index_error(&index.path, e))?;
        for at in hits {
            let doc = index.doc(&searcher, at)?;
            if !exported.insert(index.text_of(&doc, f.flow_key).unwrap_or_default()) {
                continue;
            }
            let packed = index.bytes_of(&doc, f.locations).unwrap_or(&[]);
            let decoded = locations::decode(packed).ok_or_else(|| Error::Index {
                path: index.path.clone(),
                message: "a flow's packet locations are damaged (`kyoka reindex` rebuilds them)"
                    .into(),
            })?;
            locations.extend(decoded);
        }
        Ok(())
    };
    for chunk in flow_keys.iter().collect::<Vec<_>>().chunks(512) {
        let terms = chunk
            .iter()
            .map(|k| (Occur::Should, index.term(f.flow_key, k)))
            .collect();
        add_flows(Box::new(BooleanQuery::new(terms)))?;
    }
    for chunk in sessions.iter().collect::<Vec<_>>().chunks(512) {
        let terms = chunk
            .iter()
            .map(|s| (Occur::Should, index.term(f.session_id, s)))
            .collect();
        add_flows(Box::new(BooleanQuery::new(terms)))?;
    }
    let flows = exported.len() as u64;
    locations.sort_unstable();
    locations.dedup();
    write(data, &index, &manifest, &locations, out).map(|(packets, bytes)| ExportReport {
        flows,
        packets,
        bytes,
    })
}

fn write(
    data: &Path,
    _index: &Index,
    manifest: &crate::store::Manifest,
    locations: &[Location],
    out: &Path,
) -> Result<(u64, u64)> {
    let layout = layout(data);
    let link_types: BTreeSet<u32> = locations
        .iter()
        .filter_map(|l| manifest.file(l.file))
        .map(|f| f.link_type)
        .collect();
    if link_types.len() > 1 {
        return Err(Error::Io {
            path: out.to_path_buf(),
            error: std::io::Error::other(format!(
                "the matching packets have different link types ({link_types:?}); narrow the query"
            )),
        });
    }
    let link_type = link_types.into_iter().next().unwrap_or(1);
    let file = File::create(out).map_err(Error::io(out))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&pcapfile::file_header(link_type))
        .map_err(Error::io(out))?;
    let mut readers: HashMap<u32, Reader> = HashMap::new();
    let (mut packets, mut bytes) = (0u64, 0u64);
    for loc in locations {
        // A store file the disk budget deleted (or is deleting): what is
        // left of the flow is exported.
        let Some(committed) = manifest
            .file(loc.file)
            .filter(|f| !manifest.deleting.contains(&f.id))
            .map(|f| f.bytes)
        else {
            continue;
        };
        let reader = match readers.entry(loc.file) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Reader::open(&layout.pcap(loc.file))?)
            }
        };
        let record = reader.read_at(loc.offset, committed)?;
        w.write_all(&record.raw).map_err(Error::io(out))?;
        packets += 1;
        bytes += record.raw.len() as u64;
    }
    w.flush().map_err(Error::io(out))?;
    Ok((packets, bytes))
}
