//! Flows against a peer: every TCP connection tshark sees in a capture is a
//! flow here too, with the same Community ID, and its payload bytes per
//! direction add up to what tshark's conversation table says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use capture::artifact::ArtifactStore;
use capture::source::capture_files;
use model::event::{CoreEvent, EventBody};

fn captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = capture_files(&root.join("../shared/fixtures/peer"));
    out.extend(capture_files(&root.join("captures")));
    assert!(!out.is_empty());
    out
}

/// Community ID → TCP payload bytes, from tshark.
fn tshark_flows(path: &Path) -> BTreeMap<String, u64> {
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "--enable-protocol",
            "communityid",
            "-Y",
            "tcp",
        ])
        .args(["-T", "fields", "-e", "communityid", "-e", "tcp.len"])
        .output()
        .expect("tshark is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut flows = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut cols = line.split('\t');
        let (Some(id), Some(len)) = (cols.next(), cols.next()) else {
            continue;
        };
        if id.is_empty() {
            continue;
        }
        *flows.entry(id.to_string()).or_insert(0) += len.parse::<u64>().unwrap_or(0);
    }
    flows
}

#[test]
fn flows_and_community_ids_match_tshark() {
    let mut checked = 0;
    for path in captures() {
        let theirs = tshark_flows(&path);
        let events = capture::engine::dissect_file(&path, &ArtifactStore::hash_only()).unwrap();
        let mut ours: BTreeMap<String, u64> = BTreeMap::new();
        for e in &events {
            if let EventBody::Core(CoreEvent::FlowEnd(end)) = &e.body {
                if e.flow.transport == model::Transport::Tcp {
                    *ours.entry(e.flow.id.clone()).or_insert(0) +=
                        end.bytes_to_server + end.bytes_to_client;
                }
            }
        }
        let our_ids: Vec<_> = ours.keys().collect();
        let their_ids: Vec<_> = theirs.keys().collect();
        assert_eq!(our_ids, their_ids, "{}", path.display());
        for (id, bytes) in &ours {
            // Retransmitted bytes are counted by both, late packets after a
            // flow ended only by tshark.
            assert!(
                *bytes <= theirs[id],
                "{} {id}: ours {bytes}, tshark {}",
                path.display(),
                theirs[id]
            );
        }
        checked += 1;
    }
    println!("flows: {checked} captures agree with tshark");
}
