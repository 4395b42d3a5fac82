//! The disk budget (`max_bytes`): the oldest captured data goes first, with
//! its index entries and artifacts; the newest stays searchable and
//! exportable; a SIGKILL in the middle of a deletion is finished by the
//! next start.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use capture::index::{Index, Kind};
use capture::ops::{self, Options};
use capture::store::{locations, retention, Layout, Manifest, StoreConfig};
use tantivy::collector::DocSetCollector;

fn capture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../captures")
        .join(rel)
}

/// In capture-time order (oldest first).
fn files() -> Vec<PathBuf> {
    [
        "ftp/ftp-session.pcap",
        "ftp/ftp-hydra.pcap",
        "mysql/mysql-hydra.pcap",
        "http/http-session.pcap",
    ]
    .iter()
    .map(|f| capture(f))
    .collect()
}

fn options(max_bytes: Option<u64>) -> Options {
    Options {
        store: StoreConfig {
            max_file_bytes: 8 << 10,
            max_file_seconds: 3600,
        },
        max_bytes,
        ..Options::default()
    }
}

fn manifest(dir: &Path) -> Manifest {
    Manifest::load(&Layout::new(dir).manifest())
        .unwrap()
        .unwrap()
}

fn usage(dir: &Path) -> u64 {
    retention::usage(&Layout::new(dir), &manifest(dir))
}

fn source_bytes(m: &Manifest, i: usize) -> u64 {
    m.sources[i].spans.iter().map(|s| s.end - s.start).sum()
}

fn of_source(dir: &Path, kind: Kind, id: &str) -> Vec<String> {
    let mut v: Vec<String> = ops::search(dir, Some(kind), &format!("source:\"{id}\""), 1 << 20)
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    v.sort();
    v
}

fn export(dir: &Path, query: &str) -> (u64, Vec<u8>) {
    let out = dir.join("out.pcap");
    let r = ops::export(dir, query, &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    (r.packets, bytes)
}

/// What must hold in any data folder: the manifest and the files agree, no
/// deletion is half done, every flow has packets in a kept file, every
/// event's flow and every session's flows exist, every artifact is
/// referenced.
fn check_consistent(dir: &Path) {
    let layout = Layout::new(dir);
    let m = manifest(dir);
    assert!(m.deleting.is_empty(), "a deletion was left half done");
    let on_disk: BTreeSet<u32> = std::fs::read_dir(layout.pcap_dir())
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let known: BTreeSet<u32> = m.files.iter().map(|f| f.id).collect();
    assert_eq!(on_disk, known);
    for s in &m.sources {
        assert!(s.spans.iter().all(|sp| known.contains(&sp.file)));
    }
    let index = Index::open_or_create(&layout.index()).unwrap();
    let f = &index.fields;
    let searcher = index.searcher().unwrap();
    let all = |kind: Kind| {
        let q = index.restrict(Box::new(tantivy::query::AllQuery), Some(kind), None);
        searcher
            .search(q.as_ref(), &DocSetCollector)
            .unwrap()
            .into_iter()
            .map(|at| index.doc(&searcher, at).unwrap())
            .collect::<Vec<_>>()
    };
    let mut flow_keys = BTreeSet::new();
    let mut flow_sessions = BTreeSet::new();
    for doc in all(Kind::Flows) {
        let locs = locations::decode(index.bytes_of(&doc, f.locations).unwrap_or(&[])).unwrap();
        assert!(
            locs.iter().any(|l| known.contains(&l.file)),
            "a flow whose packets are all gone is still indexed: {locs:?} {known:?} {}",
            index.json(&doc)
        );
        flow_keys.insert(index.text_of(&doc, f.flow_key).unwrap());
        flow_sessions.extend(index.text_of(&doc, f.session_id));
    }
    for doc in all(Kind::Events) {
        if let Some(k) = index.text_of(&doc, f.flow_key).filter(|k| !k.is_empty()) {
            assert!(flow_keys.contains(&k), "an event of a deleted flow: {k}");
        }
    }
    for doc in all(Kind::Sessions) {
        let s = index.text_of(&doc, f.session_id).unwrap();
        assert!(flow_sessions.contains(&s), "a session with no flow: {s}");
    }
    let mut kept: Vec<String> = std::fs::read_dir(layout.artifacts())
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_str().unwrap().to_string())
                .filter(|name| name.len() == 64)
                .collect()
        })
        .unwrap_or_default();
    let packed = capture::artifact::pack::PackIndex::load(&layout.artifacts().join("packs")).unwrap();
    kept.extend(packed.entries().map(|(sha, _)| hex::encode(sha)));
    for name in kept {
        let q = index.term(f.sha256, &name);
        assert!(
            index.count(&searcher, q.as_ref()).unwrap() > 0,
            "unreferenced artifact {name}"
        );
    }
    // Every packet still indexed can be exported.
    export(dir, "");
}

/// A budget that makes room by deleting at least the two oldest sources.
fn budget() -> (tempfile::TempDir, u64) {
    let full = tempfile::tempdir().unwrap();
    ops::ingest(full.path(), &files(), &options(None), &mut |_| {}).unwrap();
    let m = manifest(full.path());
    let budget = usage(full.path()) - source_bytes(&m, 0) - source_bytes(&m, 1) - (4 << 10);
    (full, budget)
}

#[test]
fn the_oldest_data_goes_first_and_the_newest_stays() {
    let (full, budget) = budget();
    let dir = tempfile::tempdir().unwrap();
    let report = ops::ingest(dir.path(), &files(), &options(Some(budget)), &mut |_| {}).unwrap();
    assert_eq!(report.files.len(), 4);
    let m = manifest(dir.path());
    assert_eq!(m.max_bytes, Some(budget));
    assert!(
        usage(dir.path()) <= budget,
        "{} > {budget}",
        usage(dir.path())
    );
    check_consistent(dir.path());

    let (oldest, newest) = (&m.sources[0].id, &m.sources[3].id);
    assert!(m.sources[0].spans.is_empty());
    for kind in [Kind::Flows, Kind::Events] {
        assert!(of_source(dir.path(), kind, oldest).is_empty());
        assert!(!of_source(full.path(), kind, oldest).is_empty());
        assert_eq!(
            of_source(dir.path(), kind, newest),
            of_source(full.path(), kind, newest)
        );
    }
    assert_eq!(export(dir.path(), &format!("source:\"{oldest}\"")).0, 0);
    let newest_export = export(dir.path(), &format!("source:\"{newest}\" AND kind:flow"));
    assert!(newest_export.0 > 50);
    assert_eq!(
        newest_export,
        export(full.path(), &format!("source:\"{newest}\" AND kind:flow"))
    );
    // Searchable by what an analyst types.
    assert!(
        !ops::search(dir.path(), Some(Kind::Events), "protocol:http", 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        ops::search(dir.path(), Some(Kind::Events), "type:ftp.login", 10)
            .unwrap()
            .iter()
            .all(|e| e["ts"].as_str().unwrap() > "2026-11-25T18:52:07")
    );

    // `AND NOT` excludes (tantivy alone matches nothing for it).
    let n = |q: &str| {
        ops::search(full.path(), Some(Kind::Events), q, 1 << 20)
            .unwrap()
            .len()
    };
    assert!(n("type:ftp.login AND NOT success:true") > 0);
    assert_eq!(
        n("type:ftp.login AND NOT success:true"),
        n("type:ftp.login -success:true")
    );

    // Ingesting a deleted capture again adds nothing (it is still known).
    let again = ops::ingest(dir.path(), &files()[..1], &options(None), &mut |_| {}).unwrap();
    assert!(again.files[0].skipped);
    // Unlimited again: nothing more is deleted.
    let before = manifest(dir.path()).files.len();
    ops::ingest(dir.path(), &[], &options(Some(0)), &mut |_| {}).unwrap();
    let m = manifest(dir.path());
    assert_eq!((m.max_bytes, m.files.len()), (None, before));
}

/// Run by `a_deletion_killed_at_any_step_is_finished_on_restart` in a
/// child process, which `KYOKA_CRASH_AT` kills with SIGKILL.
#[test]
fn child_ingest_with_budget() {
    let (Ok(dir), Ok(budget)) = (
        std::env::var("KYOKA_RETENTION_DIR"),
        std::env::var("KYOKA_RETENTION_BUDGET"),
    ) else {
        return;
    };
    let budget: u64 = budget.parse().unwrap();
    ops::ingest(
        Path::new(&dir),
        &files(),
        &options(Some(budget)),
        &mut |_| {},
    )
    .unwrap();
}

#[test]
fn a_deletion_killed_at_any_step_is_finished_on_restart() {
    use std::os::unix::process::ExitStatusExt;
    let (_full, budget) = budget();
    for step in ["marked", "index", "manifest", "files"] {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_ingest_with_budget",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("KYOKA_RETENTION_DIR", dir.path())
            .env("KYOKA_RETENTION_BUDGET", budget.to_string())
            .env("KYOKA_CRASH_AT", step)
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(9), "{step}: the child was not killed");
        let m = manifest(dir.path());
        assert!(!m.deleting.is_empty(), "{step}: no deletion was under way");
        let marked: BTreeSet<u32> = m.deleting.iter().copied().collect();

        // The restart finishes the deletion.
        ops::ingest(dir.path(), &[], &options(None), &mut |_| {}).unwrap();
        check_consistent(dir.path());
        let m = manifest(dir.path());
        assert!(m.files.iter().all(|f| !marked.contains(&f.id)), "{step}");
        for id in &marked {
            assert!(!Layout::new(dir.path()).pcap(*id).exists(), "{step}");
        }
        // Ingesting the rest again brings the folder under its budget.
        ops::ingest(dir.path(), &files(), &options(None), &mut |_| {}).unwrap();
        check_consistent(dir.path());
        assert!(usage(dir.path()) <= budget, "{step}");
        let newest = &m.sources.last().unwrap().id;
        assert!(
            !of_source(dir.path(), Kind::Events, newest).is_empty(),
            "{step}"
        );
    }
}
