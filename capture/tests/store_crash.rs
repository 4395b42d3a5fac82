//! The store through the library: rolling files, and an ingest that died
//! after its packets reached the store (some of them in files it rolled
//! to) but before it committed, then the same ingest again.

use std::path::{Path, PathBuf};

use capture::index::Kind;
use capture::ops::{self, Options};
use capture::source::FileSource;
use capture::store::{Store, StoreConfig};

fn capture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../captures")
        .join(rel)
}

fn options() -> Options {
    Options {
        store: StoreConfig {
            max_file_bytes: 16 << 10,
            max_file_seconds: 3600,
        },
        ..Options::default()
    }
}

fn everything(data: &Path) -> Vec<String> {
    let here = data.display().to_string();
    let mut all = Vec::new();
    for kind in [Kind::Sessions, Kind::Flows, Kind::Events] {
        let hits = ops::search(data, Some(kind), "", 1_000_000).unwrap();
        all.extend(hits.iter().map(|v| v.to_string().replace(&here, "DATA")));
    }
    all.sort();
    all
}

fn counts(data: &Path) -> serde_json::Value {
    let mut s = serde_json::to_value(ops::stats(data).unwrap()).unwrap();
    let o = s.as_object_mut().unwrap();
    o.remove("data_dir");
    o.remove("index_bytes");
    s
}

#[test]
fn an_uncommitted_ingest_across_rolled_files_is_redone_exactly() {
    let a = capture("ftp/ftp-session.pcap");
    let b = capture("http/http-session.pcap");
    let clean = tempfile::tempdir().unwrap();
    let report = ops::ingest(
        clean.path(),
        &[a.clone(), b.clone()],
        &options(),
        &mut |_| {},
    )
    .unwrap();
    assert!(report.totals.events > 0);
    let files = std::fs::read_dir(clean.path().join("pcap"))
        .unwrap()
        .count();
    assert!(
        files > 5,
        "{files} store files: the store rolls at max_file_bytes"
    );

    let crashed = tempfile::tempdir().unwrap();
    ops::ingest(
        crashed.path(),
        std::slice::from_ref(&a),
        &options(),
        &mut |_| {},
    )
    .unwrap();
    {
        // B's packets reach the store, over several rolled files; no commit.
        let mut store = Store::open(crashed.path(), options().store).unwrap();
        store.begin_source("b-was-being-ingested").unwrap();
        let mut source = FileSource::open(&b).unwrap();
        let dlt = source.dlt() as u32;
        while let Some(frame) = source.next_frame().unwrap() {
            store.append(dlt, &frame).unwrap();
        }
        store.sync().unwrap();
    }
    let again = ops::ingest(crashed.path(), &[a, b], &options(), &mut |_| {}).unwrap();
    assert!(again.files[0].skipped && !again.files[1].skipped);
    assert_eq!(counts(crashed.path()), counts(clean.path()));
    assert_eq!(everything(crashed.path()), everything(clean.path()));

    // Exports read the same bytes from either folder.
    let out = |dir: &Path| {
        let path = dir.join("out.pcap");
        let r = ops::export(dir, "protocol:http", &path).unwrap();
        assert!(r.packets > 10);
        std::fs::read(path).unwrap()
    };
    assert_eq!(out(crashed.path()), out(clean.path()));
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let second = Store::open(dir.path(), StoreConfig::default());
    assert!(
        matches!(second, Err(capture::store::Error::Locked(_))),
        "{:?}",
        second.err()
    );
}
