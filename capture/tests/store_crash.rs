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

/// Run by `a_crash_between_index_commit_and_manifest_keeps_the_commit` in
/// a child process, which `KYOKA_CRASH_AT` kills with SIGKILL.
#[test]
fn child_ingest_until_killed() {
    let Ok(dir) = std::env::var("KYOKA_CRASH_DIR") else {
        return;
    };
    let files = [capture("ftp/ftp-session.pcap"), capture("http/http-session.pcap")];
    ops::ingest(Path::new(&dir), &files, &options(), &mut |_| {}).unwrap();
}

#[test]
fn a_crash_between_index_commit_and_manifest_keeps_the_commit() {
    use std::os::unix::process::ExitStatusExt;
    let files = [capture("ftp/ftp-session.pcap"), capture("http/http-session.pcap")];
    let clean = tempfile::tempdir().unwrap();
    ops::ingest(clean.path(), &files[..1], &options(), &mut |_| {}).unwrap();

    // The first file's index commit is durable; its manifest never is.
    let crashed = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_ingest_until_killed", "--nocapture", "--test-threads=1"])
        .env("KYOKA_CRASH_DIR", crashed.path())
        .env("KYOKA_CRASH_AT", "committed-index")
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(9), "the child was not killed");
    let on_disk = capture::store::Manifest::load(&crashed.path().join("manifest.json")).unwrap().unwrap();
    assert!(on_disk.pending.is_some() && on_disk.sources.is_empty(), "{on_disk:?}");

    // Opening the folder takes the index's copy of the manifest: the
    // committed file is there without being ingested again, with all its
    // packets.
    let nothing = ops::ingest(crashed.path(), &[], &options(), &mut |_| {}).unwrap();
    assert_eq!(nothing.totals.packets, 0);
    let m = capture::store::Manifest::load(&crashed.path().join("manifest.json")).unwrap().unwrap();
    assert!(m.pending.is_none() && m.sources.len() == 1, "{m:?}");
    assert_eq!(counts(crashed.path()), counts(clean.path()));
    assert_eq!(everything(crashed.path()), everything(clean.path()));
    let out = |dir: &Path| {
        let path = dir.join("out.pcap");
        ops::export(dir, "", &path).unwrap();
        std::fs::read(path).unwrap()
    };
    assert_eq!(out(crashed.path()), out(clean.path()));

    // The rest goes in as usual, and the first file is not ingested twice.
    let again = ops::ingest(crashed.path(), &files, &options(), &mut |_| {}).unwrap();
    assert!(again.files[0].skipped && !again.files[1].skipped);
    ops::ingest(clean.path(), &files, &options(), &mut |_| {}).unwrap();
    assert_eq!(everything(crashed.path()), everything(clean.path()));
}
