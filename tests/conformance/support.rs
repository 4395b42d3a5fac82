//! Shared helpers: finding fixture cases, running the engine, reading Zeek
//! logs, and counting matches.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use capture::artifact::ArtifactStore;
use model::Event;

/// `../shared/fixtures/peer` relative to the workspace root.
pub fn peer_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("../shared/fixtures/peer");
    assert!(
        dir.is_dir(),
        "fixtures missing: {} (see README)",
        dir.display()
    );
    dir
}

/// Case folders of one protocol, sorted.
pub fn cases(protocol: &str) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(peer_dir().join(protocol))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// The capture file of a case (`*.pcap` or `*.pcapng`).
pub fn capture_of(case: &Path) -> PathBuf {
    std::fs::read_dir(case)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .unwrap_or_else(|| panic!("no capture in {}", case.display()))
}

/// Runs the engine over a capture file.
pub fn dissect(path: &Path) -> Vec<Event> {
    capture::engine::dissect_file(path, &ArtifactStore::hash_only())
        .unwrap_or_else(|e| panic!("dissect {}: {e}", path.display()))
}

/// Events of one type, as JSON objects (what `kyoka dissect` prints).
pub fn events_of(events: &[Event], type_name: &str) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter(|e| e.type_name() == type_name)
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

/// One record of a Zeek log: column name → raw value (`-` unset,
/// `(empty)` empty set, `\xNN` escapes left as Zeek wrote them; see
/// [`unescape`]).
pub type ZeekRecord = BTreeMap<String, String>;

/// Reads a Zeek TSV log (`#fields` header), or the plain variant whose first
/// line is the column names.
pub fn zeek_log(path: &Path) -> Vec<ZeekRecord> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut separator = "\t".to_string();
    let mut fields: Option<Vec<String>> = None;
    let mut records = Vec::new();
    for line in text.lines() {
        if let Some(sep) = line.strip_prefix("#separator ") {
            separator = unescape(sep);
            continue;
        }
        if let Some(rest) = line.strip_prefix("#fields") {
            fields = Some(
                rest.split(separator.as_str())
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            );
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let values: Vec<&str> = line.split(separator.as_str()).collect();
        match &fields {
            None => {
                fields = Some(line.split_whitespace().map(String::from).collect());
            }
            Some(names) => {
                let record = names
                    .iter()
                    .cloned()
                    .zip(values.iter().map(|v| v.to_string()))
                    .collect();
                records.push(record);
            }
        }
    }
    records
}

/// Undoes Zeek's `\xNN` escaping.
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes.get(i + 1) == Some(&b'x') {
            if let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap_or("zz"),
                16,
            ) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A Zeek value as an option: `-` is unset.
pub fn zeek_opt(v: Option<&String>) -> Option<String> {
    match v.map(|s| s.as_str()) {
        None | Some("-") => None,
        Some(s) => Some(unescape(s)),
    }
}

/// Counts matches of one protocol and prints them as
/// `conformance <protocol>: <matched>/<total> facts`.
#[derive(Default)]
pub struct Score {
    pub protocol: &'static str,
    pub matched: usize,
    pub total: usize,
    pub misses: Vec<String>,
}

impl Score {
    pub fn new(protocol: &'static str) -> Score {
        Score {
            protocol,
            ..Score::default()
        }
    }

    /// Records one fact: `ours` against the peer's `theirs`.
    pub fn check<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, ours: T, theirs: T) {
        self.total += 1;
        if ours == theirs {
            self.matched += 1;
        } else {
            self.misses
                .push(format!("{what}: ours {ours:?}, peer {theirs:?}"));
        }
    }

    pub fn print(&self) {
        println!(
            "conformance {}: {}/{} facts match",
            self.protocol, self.matched, self.total
        );
        for miss in &self.misses {
            println!("  differs: {miss}");
        }
    }
}
