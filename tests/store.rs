//! The data folder as a user drives it (`kyoka ingest`, `search`, `export`,
//! `stats`, `reindex`), checked against tshark on the same captures: counts
//! of what an analyst looks for, and exported packets byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn kyoka(data: &Path, args: &[&str]) -> Output {
    let (cmd, rest) = args.split_first().expect("a command");
    Command::new(env!("CARGO_BIN_EXE_kyoka"))
        .arg(cmd)
        .arg("--data")
        .arg(data)
        .args(rest)
        .output()
        .expect("run kyoka")
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> PathBuf {
    root().join("../shared/fixtures/peer").join(rel)
}

fn capture(rel: &str) -> PathBuf {
    root().join("captures").join(rel)
}

fn all_captures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [
        root().join("../shared/fixtures/peer"),
        root().join("captures"),
    ] {
        walk(&dir, &mut out);
    }
    out.sort();
    assert!(out.len() > 20);
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("pcap" | "pcapng")
        ) {
            out.push(path);
        }
    }
}

fn ingest(data: &Path, files: &[PathBuf]) -> Output {
    let mut args = vec!["ingest".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kyoka(data, &args)
}

fn search(data: &Path, kind: &str, query: &str) -> Vec<Value> {
    let out = ok(kyoka(
        data,
        &[
            "search", "--kind", kind, "--format", "jsonl", "--limit", "100000", query,
        ],
    ));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn stats(data: &Path) -> Value {
    let out = ok(kyoka(data, &["stats", "--json"]));
    serde_json::from_slice(&out.stdout).expect("stats JSON")
}

fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args([
        "-r",
        file.to_str().unwrap(),
        "--enable-protocol",
        "communityid",
        "-Y",
        filter,
        "-T",
        "fields",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .expect("tshark is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "tshark {filter}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Packet records (header and bytes) of a classic pcap file.
fn records(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..4],
        &0xa1b2c3d4u32.to_le_bytes(),
        "{}: a little-endian microsecond pcap",
        path.display()
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(bytes[at..at + 16 + caplen].to_vec());
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len(), "{}: trailing bytes", path.display());
    out
}

fn tshark_write(file: &Path, filter: &str, out: &Path) {
    let status = Command::new("tshark")
        .args([
            "-r",
            file.to_str().unwrap(),
            "--enable-protocol",
            "communityid",
            "-Y",
            filter,
        ])
        .args(["-F", "pcap", "-w", out.to_str().unwrap()])
        .output()
        .expect("tshark");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// Exports `query` and checks its packets equal tshark's for `filter`.
fn check_export(data: &Path, file: &Path, query: &str, filter: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.pcap");
    let theirs = dir.path().join("theirs.pcap");
    ok(kyoka(
        data,
        &["export", query, "-o", ours.to_str().unwrap()],
    ));
    tshark_write(file, filter, &theirs);
    let (a, b) = (records(&ours), records(&theirs));
    assert!(
        !b.is_empty(),
        "{filter} selects nothing in {}",
        file.display()
    );
    assert_eq!(
        a.len(),
        b.len(),
        "{query} in {}: packet count",
        file.display()
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(x == y, "{query} in {}: packet {i} differs", file.display());
    }
    a.len()
}

#[test]
fn exported_flows_and_sessions_equal_what_tshark_selects() {
    let files = [
        capture("ftp/ftp-hydra.pcap"),
        capture("mysql/mysql-session.pcap"),
        capture("redis/redis-session.pcap"),
        capture("http/http-session.pcap"),
        capture("ssh/ssh-hydra.pcap"),
        capture("ftp/ftp-ipv6-epsv.pcap"),
        fixture("ftp/ftp-ipv4/ipv4.pcap"),
        fixture("mysql/wireshark/mysql.pcap"),
        fixture("redis/pipelined/pipelining-example.pcap"),
    ];
    let mut flows_checked = 0;
    for file in &files {
        let data = tempfile::tempdir().unwrap();
        ok(ingest(data.path(), std::slice::from_ref(file)));
        let flows = search(data.path(), "flows", "");
        assert!(!flows.is_empty(), "{}", file.display());
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        for f in &flows {
            *ids.entry(f["flow"]["id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        // A 5-tuple used twice is one conversation to tshark: skip those.
        for (id, _) in ids.iter().filter(|(_, n)| **n == 1).take(6) {
            let n = check_export(
                data.path(),
                file,
                &format!("flow_id:\"{id}\""),
                &format!("communityid == \"{id}\""),
            );
            assert!(n > 0);
            flows_checked += 1;
        }
        // One session: all of its flows.
        let sessions = search(data.path(), "sessions", "");
        let session = sessions[0]["session_id"].as_str().unwrap();
        let session_ids: BTreeSet<&str> = flows
            .iter()
            .filter(|f| f["session_id"] == session)
            .map(|f| f["flow"]["id"].as_str().unwrap())
            .collect();
        if session_ids.iter().all(|id| ids[*id] == 1) {
            let any = session_ids
                .iter()
                .map(|id| format!("communityid == \"{id}\""))
                .collect::<Vec<_>>()
                .join(" || ");
            check_export(data.path(), file, &format!("session_id:{session}"), &any);
        }
    }
    assert!(flows_checked >= 20, "{flows_checked}");
}

#[test]
fn failed_ftp_logins_per_source_match_tshark() {
    for file in [
        capture("ftp/ftp-hydra.pcap"),
        capture("ftp/ftp-session.pcap"),
        fixture("ftp/ftp-ipv4/ipv4.pcap"),
    ] {
        let data = tempfile::tempdir().unwrap();
        ok(ingest(data.path(), std::slice::from_ref(&file)));
        let mut ours: BTreeMap<String, usize> = BTreeMap::new();
        for e in search(data.path(), "events", "type:ftp.login success:false") {
            *ours
                .entry(e["flow"]["src_ip"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        // A failed login is a 530 reply to PASS; the client is its destination.
        let mut theirs: BTreeMap<String, usize> = BTreeMap::new();
        for row in tshark(&file, "ftp.response.code == 530", &["ip.dst", "ipv6.dst"]) {
            let ip = row.iter().find(|c| !c.is_empty()).unwrap().clone();
            *theirs.entry(ip).or_default() += 1;
        }
        assert_eq!(ours, theirs, "{}", file.display());
        // The session summary counts the same logins.
        for s in search(data.path(), "sessions", "") {
            let ip = s["src_ip"].as_str().unwrap();
            let tried = s["logins_tried"].as_u64().unwrap();
            let ok = s["logins_succeeded"].as_u64().unwrap();
            assert!(
                tried >= ok + theirs.get(ip).copied().unwrap_or(0) as u64,
                "{s}"
            );
        }
    }
}

#[test]
fn active_ftp_data_flows_join_the_clients_session() {
    // The capture's second half is active mode: vsftpd connects from port 20
    // to the client, yet those data flows are the client's doing.
    let file = capture("ftp/ftp-session.pcap");
    let data = tempfile::tempdir().unwrap();
    ok(ingest(data.path(), std::slice::from_ref(&file)));
    let sessions = search(data.path(), "sessions", "");
    let owners: Vec<&str> = sessions
        .iter()
        .map(|s| s["src_ip"].as_str().unwrap())
        .collect();
    assert_eq!(
        owners,
        ["192.0.2.1"],
        "one session, the client's: {sessions:?}"
    );
    let active = search(data.path(), "flows", "src_port:20");
    assert!(!active.is_empty(), "the capture has active-mode data flows");
    let session_id = sessions[0]["session_id"].as_str().unwrap();
    for flow in &active {
        assert_eq!(flow["session_id"].as_str(), Some(session_id), "{flow}");
    }
    let all_flows = search(data.path(), "flows", "");
    assert_eq!(sessions[0]["flows"].as_u64(), Some(all_flows.len() as u64));
}

#[test]
fn mysql_queries_containing_a_word_match_tshark() {
    let file = capture("mysql/mysql-session.pcap");
    let data = tempfile::tempdir().unwrap();
    ok(ingest(data.path(), std::slice::from_ref(&file)));
    for word in ["customers", "select", "users", "information_schema"] {
        let ours = search(
            data.path(),
            "events",
            &format!("type:mysql.command query:{word}"),
        );
        let theirs = tshark(
            &file,
            &format!("mysql.query matches \"(?i)\\\\b{word}\\\\b\""),
            &["mysql.query"],
        );
        assert_eq!(ours.len(), theirs.len(), "{word}: {ours:?}");
    }
}

/// The full text leaves out what a word field holds; words without a
/// field still find it there.
#[test]
fn words_without_a_field_search_the_word_fields() {
    let data = tempfile::tempdir().unwrap();
    let files = [capture("ftp/ftp-hydra.pcap"), capture("mysql/mysql-session.pcap")];
    ok(ingest(data.path(), &files));
    let json = |events: Vec<Value>| -> BTreeSet<String> {
        events.iter().map(Value::to_string).collect()
    };
    for (word, field) in [("root", "user"), ("customers", "query"), ("select", "query")] {
        let by_field = json(search(data.path(), "events", &format!("{field}:{word}")));
        let free = json(search(data.path(), "events", word));
        assert!(!by_field.is_empty(), "{field}:{word} found nothing");
        assert!(by_field.is_subset(&free), "{word}: {by_field:?} not in {free:?}");
        // Not kept twice: the full text holds no copy of a word field.
        assert!(search(data.path(), "events", &format!("text:{word} {field}:{word}")).is_empty());
    }
}

#[test]
fn redis_commands_by_name_match_tshark() {
    let file = capture("redis/redis-session.pcap");
    let data = tempfile::tempdir().unwrap();
    ok(ingest(data.path(), std::slice::from_ref(&file)));
    let mut names: BTreeSet<String> = BTreeSet::new();
    for e in search(data.path(), "events", "type:redis.command") {
        names.insert(e["name"].as_str().unwrap().to_string());
    }
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let ours = search(
            data.path(),
            "events",
            &format!("type:redis.command command:{name}"),
        );
        // tshark's RESP dissector: the first bulk string of a client request.
        let theirs: usize = tshark(
            &file,
            "tcp.dstport == 6379 && resp",
            &["resp.bulk_string.value"],
        )
        .iter()
        .filter(|row| {
            row[0]
                .split(',')
                .next()
                .is_some_and(|c| unhex(c).eq_ignore_ascii_case(&name))
        })
        .count();
        // tshark shows one request per packet (the first of a pipeline) and
        // misses some it does not reassemble: every one it sees is ours too.
        assert!(
            ours.len() >= theirs && ours.len() <= theirs + 2,
            "{name}: {} < {theirs}",
            ours.len()
        );
    }
}

#[test]
fn flows_by_cidr_and_time_range_match_tshark() {
    let files = [
        fixture("ftp/ftp-ipv4/ipv4.pcap"),
        fixture("mysql/wireshark/mysql.pcap"),
        capture("ftp/ftp-hydra.pcap"),
    ];
    let data = tempfile::tempdir().unwrap();
    ok(ingest(data.path(), &files));
    for (cidr, v4) in [
        ("10.0.0.0/8", true),
        ("192.0.2.0/24", true),
        ("192.168.0.0/16", true),
        ("0.0.0.0/0", true),
    ] {
        let ours: BTreeSet<String> = search(
            data.path(),
            "flows",
            &format!("src_ip:{cidr} transport:tcp"),
        )
        .iter()
        .map(|f| f["flow"]["id"].as_str().unwrap().to_string())
        .collect();
        let mut theirs = BTreeSet::new();
        for file in &files {
            // The client is the side that sent the SYN.
            let filter = format!("ip.src == {cidr} && tcp.flags.syn == 1 && tcp.flags.ack == 0");
            assert!(v4);
            theirs.extend(
                tshark(file, &filter, &["communityid"])
                    .into_iter()
                    .map(|r| r[0].clone()),
            );
        }
        assert_eq!(ours, theirs, "{cidr}");
    }
    // A time range: the flows that started in the hydra capture's minute.
    let hydra = search(data.path(), "flows", "dst_port:21 src_ip:192.0.2.1");
    let first = hydra
        .iter()
        .map(|f| f["ts"].as_str().unwrap())
        .min()
        .unwrap()
        .to_string();
    let last = hydra
        .iter()
        .map(|f| f["ts"].as_str().unwrap())
        .max()
        .unwrap()
        .to_string();
    let ranged = search(data.path(), "flows", &format!("ts:[{first} TO {last}]"));
    let theirs: BTreeSet<String> = tshark(
        &files[2],
        "tcp.flags.syn == 1 && tcp.flags.ack == 0",
        &["communityid"],
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let ours: BTreeSet<String> = ranged
        .iter()
        .map(|f| f["flow"]["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ours.is_subset(&theirs) && !ours.is_empty(),
        "{ours:?} {theirs:?}"
    );
    assert!(search(data.path(), "flows", "ts:>now-1h")
        .iter()
        .all(|f| f["ts"].as_str().unwrap() >= "2026"));
}

fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn counts(data: &Path) -> Value {
    let mut s = stats(data);
    s.as_object_mut().unwrap().remove("data_dir");
    s.as_object_mut().unwrap().remove("index_bytes");
    s
}

fn everything(data: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for kind in ["sessions", "flows", "events"] {
        // Nothing names this data folder's path (artifacts are named by
        // their SHA-256); this keeps the comparison honest if one did.
        let here = data.display().to_string();
        all.extend(
            search(data, kind, "")
                .iter()
                .map(|v| v.to_string().replace(&here, "DATA")),
        );
    }
    all.sort();
    all
}

#[test]
fn ingesting_twice_adds_nothing_and_reindex_gives_the_same_answers() {
    let files = all_captures();
    let data = tempfile::tempdir().unwrap();
    ok(ingest(data.path(), &files));
    let before = counts(data.path());
    let answers = everything(data.path());
    assert!(before["events"].as_u64().unwrap() > 1000, "{before}");
    let again = ok(ingest(data.path(), &files[..3]));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already ingested"));
    assert_eq!(counts(data.path()), before);
    std::fs::remove_dir_all(data.path().join("index")).unwrap();
    ok(kyoka(data.path(), &["reindex"]));
    assert_eq!(counts(data.path()), before);
    same(&everything(data.path()), &answers, "after reindex");
}

/// Equal lists of documents; on a difference, shows a few (shortened).
fn same(got: &[String], want: &[String], what: &str) {
    if got == want {
        return;
    }
    let short = |s: &String| s.chars().take(300).collect::<String>();
    let extra: Vec<String> = got
        .iter()
        .filter(|g| !want.contains(g))
        .take(3)
        .map(short)
        .collect();
    let missing: Vec<String> = want
        .iter()
        .filter(|w| !got.contains(w))
        .take(3)
        .map(short)
        .collect();
    panic!(
        "{what}: {} documents instead of {}\nextra: {extra:#?}\nmissing: {missing:#?}",
        got.len(),
        want.len()
    );
}

#[test]
fn an_ingest_killed_at_any_point_then_rerun_gives_the_same_counts() {
    let files = all_captures();
    let reference = tempfile::tempdir().unwrap();
    ok(ingest(reference.path(), &files));
    let expected = counts(reference.path());
    let answers = everything(reference.path());
    let mut interrupted = 0;
    for delay_ms in [30u64, 120, 300, 700] {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kyoka"))
            .arg("ingest")
            .arg("--data")
            .arg(data.path())
            .args(&files)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        // SIGKILL: no chance to clean up.
        let _ = child.kill();
        let _ = child.wait();
        ok(ingest(data.path(), &files));
        assert_eq!(counts(data.path()), expected, "killed after {delay_ms} ms");
        same(
            &everything(data.path()),
            &answers,
            &format!("killed after {delay_ms} ms"),
        );
    }
    assert!(
        interrupted >= 2,
        "the ingest ended before most kills: {interrupted}"
    );
}

#[test]
fn a_damaged_store_gives_clear_errors() {
    let file = capture("ftp/ftp-hydra.pcap");
    let data = tempfile::tempdir().unwrap();
    ok(ingest(data.path(), std::slice::from_ref(&file)));
    let store_file = data.path().join("pcap/00000001.pcap");
    let mut bytes = std::fs::read(&store_file).unwrap();
    // An impossible record length in the first packet's header.
    bytes[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&store_file, &bytes).unwrap();
    let out_pcap = data.path().join("out.pcap");
    let out = kyoka(
        data.path(),
        &[
            "export",
            "src_ip:192.0.2.1",
            "-o",
            out_pcap.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("00000001.pcap is damaged at byte 24"),
        "{stderr}"
    );
    // The index is intact: searching still works.
    assert!(!search(data.path(), "events", "type:ftp.login").is_empty());
    // A store file shorter than its checkpoint stops the next ingest.
    std::fs::write(&store_file, &bytes[..100]).unwrap();
    let out = ingest(data.path(), &[capture("ftp/ftp-session.pcap")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shorter than its checkpoint"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

/// A small tmpfs, unmounted when dropped: a disk that really fills up.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn new(bytes: u64) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root (as CI has)");
        SmallDisk(dir)
    }
}

impl SmallDisk {
    fn grow(&self, bytes: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(self.0.path())
            .status()
            .expect("mount runs");
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_and_keeps_what_was_committed() {
    let first = [
        capture("ftp/ftp-session.pcap"),
        capture("mysql/mysql-session.pcap"),
    ];
    // Size the disk from a real run: what the first ingest needs, plus a
    // little, so the second one (1.3 MB of SSH) cannot fit.
    let probe = tempfile::tempdir().unwrap();
    ok(ingest(probe.path(), &first));
    let answers = everything(probe.path());
    let needed = stats(probe.path());
    let used = ["store_bytes", "index_bytes", "artifact_bytes"]
        .iter()
        .map(|k| needed[k].as_u64().unwrap())
        .sum::<u64>();
    let disk = SmallDisk::new(used + 600 * 1024);
    let data = disk.0.path().join("data");
    ok(ingest(&data, &first));
    let more = [
        fixture("ssh/basic/ssh.pcap"),
        fixture("ftp/cwd-navigation/cwd-navigation.pcap"),
    ];
    let out = ingest(&data, &more);
    // Not damaged input (status 2): the machine's trouble (status 1).
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // What was committed before is all there, and only that.
    same(&everything(&data), &answers, "after the disk filled up");
    // Room again: the same ingest completes, as if the disk had never filled.
    disk.grow(64 << 20);
    ok(ingest(&data, &more));
    ok(ingest(probe.path(), &more));
    same(
        &everything(&data),
        &everything(probe.path()),
        "after room was made",
    );
    assert_eq!(counts(&data), counts(probe.path()));
}

#[test]
fn a_damaged_index_says_so_and_reindex_repairs_it() {
    let data = tempfile::tempdir().unwrap();
    ok(ingest(
        data.path(),
        &[
            capture("ftp/ftp-hydra.pcap"),
            capture("mysql/mysql-session.pcap"),
        ],
    ));
    let answers = everything(data.path());
    std::fs::write(data.path().join("index/meta.json"), b"{ not json").unwrap();
    let out = kyoka(data.path(), &["search", "type:ftp.login"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("index") && stderr.contains("kyoka reindex"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    ok(kyoka(data.path(), &["reindex"]));
    same(
        &everything(data.path()),
        &answers,
        "after reindex of a damaged index",
    );
}

#[test]
fn damaged_and_unreadable_captures_do_not_stop_the_others() {
    let data = tempfile::tempdir().unwrap();
    let original = std::fs::read(capture("http/http-session.pcap")).unwrap();
    let truncated = data.path().join("truncated.pcap");
    std::fs::write(&truncated, &original[..original.len() * 2 / 3 + 7]).unwrap();
    let garbage = data.path().join("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file").unwrap();
    let missing = data.path().join("missing.pcap");
    let store = data.path().join("store");
    let out = ingest(
        &store,
        &[garbage, missing, truncated, capture("ftp/ftp-hydra.pcap")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("garbage.pcap") && stderr.contains("missing.pcap"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the packets before the damage were kept"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    assert!(!search(&store, "events", "protocol:http").is_empty());
    assert!(!search(&store, "events", "type:ftp.login").is_empty());
    assert_eq!(stats(&store)["damaged_sources"], 1);
}

#[test]
fn a_bad_query_says_where_and_why() {
    let data = tempfile::tempdir().unwrap();
    ok(ingest(data.path(), &[capture("ftp/ftp-hydra.pcap")]));
    for (query, says) in [
        (
            "type:ftp.login AND usr:root",
            "column 20: unknown field 'usr' (did you mean user?)",
        ),
        (
            "src_ip:10.0.0.0/40",
            "column 8: '/40' is not a prefix length",
        ),
        ("ts:>yesterday", "column 4: 'yesterday' is not a time"),
    ] {
        let out = kyoka(data.path(), &["search", query]);
        assert_eq!(out.status.code(), Some(2), "{query}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{query}: {stderr}");
    }
}
