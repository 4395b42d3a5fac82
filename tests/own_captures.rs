//! Our events against the facts of the captures recorded here with Debian's
//! own daemons and clients (`captures/README.md`).
//!
//! Each `<proto>/<name>.pcap` comes with `<name>.facts.json`: what really
//! happened (logins, commands in order, files with their SHA-256, HTTP
//! requests). One test per capture runs the engine over it, extracting files
//! into a temporary folder, and checks every fact with the protocol's
//! `check_*` function; every mismatch is listed before the test fails, and
//! each test prints `own <capture>: <n> facts checked` plus a short summary.
//!
//! Passwords that travel only as an answer to a challenge (rsync's daemon
//! auth, `mysql_native_password`) are proven by recomputing the answer from
//! the fact's password; extracted files (FTP transfers, HTTP bodies and
//! multipart uploads) are read back from the artifact folder and hashed.
//! Where a fact cannot be seen on the wire (an SSH password, the action of an
//! rsync push refused before its arguments were sent, the outcome of a
//! MySQL `COM_QUIT`, which has no reply) the check says so and asserts what
//! the wire does show instead.
//!
//! The last tests cut the beginning off a capture, or keep only one side of
//! it, and check that the later commands are still decoded.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Display};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use capture::artifact::ArtifactStore;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

// ---------------------------------------------------------------------------
// Loading a capture and its facts

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

/// One capture, dissected, with the facts recorded beside it.
struct Capture {
    name: String,
    facts: Value,
    events: Vec<Value>,
    /// Where the engine kept extracted files (`<dir>/<sha256>`).
    /// The folder `store` keeps its files in, removed with the capture.
    _artifacts: tempfile::TempDir,
    store: ArtifactStore,
}

fn load(protocol: &str, name: &str) -> Capture {
    let dir = captures_dir().join(protocol);
    let pcap = dir.join(format!("{name}.pcap"));
    let facts_path = dir.join(format!("{name}.facts.json"));
    let facts: Value = serde_json::from_str(
        &std::fs::read_to_string(&facts_path)
            .unwrap_or_else(|e| panic!("{}: {e}", facts_path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", facts_path.display()));
    let bytes = std::fs::read(&pcap).unwrap_or_else(|e| panic!("{}: {e}", pcap.display()));
    assert_eq!(
        Some(sha256_hex(&bytes).as_str()),
        facts["capture_sha256"].as_str(),
        "{name}: the pcap is not the one its facts were written for"
    );
    assert_eq!(facts["protocol"].as_str(), Some(protocol));
    dissect(name, &pcap, facts)
}

fn dissect(name: &str, pcap: &Path, facts: Value) -> Capture {
    let artifacts = tempfile::tempdir().unwrap();
    let store = ArtifactStore::in_dir(artifacts.path()).unwrap();
    let events = capture::engine::dissect_file(pcap, &store)
        .unwrap_or_else(|e| panic!("dissect {}: {e}", pcap.display()))
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    Capture {
        name: name.to_string(),
        facts,
        events,
        _artifacts: artifacts,
        store,
    }
}

impl Capture {
    /// Events of one type, in the order the engine emitted them.
    fn of(&self, type_name: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == type_name)
            .collect()
    }

    fn facts_list(&self, key: &str) -> Vec<&Value> {
        self.facts[key]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    /// The `flow.end` of a flow id.
    fn flow_end(&self, id: &str) -> Option<&Value> {
        self.events
            .iter()
            .find(|e| e["type"] == "flow.end" && e["flow"]["id"] == id)
    }

    /// The bytes the engine kept for a SHA-256.
    fn artifact(&self, sha256: &str) -> Option<Vec<u8>> {
        self.store.read(sha256)
    }

    /// Every flow to the facts' server address and port was identified as
    /// the facts' protocol (by probe where the port is not its own).
    fn check_flows(&self, check: &mut Check) -> usize {
        let ip = self.facts["server"]["ip"].as_str().unwrap();
        let port = self.facts["server"]["port"].as_u64().unwrap();
        let mut flows = 0;
        for end in self.of("flow.end") {
            let flow = &end["flow"];
            if flow["dst_ip"] == ip && flow["dst_port"] == port {
                flows += 1;
                check.eq(
                    format!("flow {} protocol", flow["src_port"]),
                    end["protocol"].as_str(),
                    self.facts["protocol"].as_str(),
                );
                check.eq(
                    format!("flow {} mid_stream", flow["src_port"]),
                    end["mid_stream"].as_bool(),
                    Some(false),
                );
            }
        }
        check.truth("flows to the server seen", flows > 0);
        flows
    }

    fn anomalies(&self) -> Vec<String> {
        self.of("anomaly")
            .iter()
            .map(|a| format!("{} {}: {}", a["protocol"], a["kind"], a["detail"]))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Collecting mismatches

/// Counts the facts checked and collects every mismatch, so that one run
/// shows all of them.
struct Check {
    name: String,
    checked: usize,
    misses: Vec<String>,
}

impl Check {
    fn new(capture: &Capture) -> Check {
        Check {
            name: capture.name.clone(),
            checked: 0,
            misses: Vec::new(),
        }
    }

    fn eq<T: PartialEq + Debug>(&mut self, what: impl Display, ours: T, fact: T) {
        self.checked += 1;
        if ours != fact {
            self.misses
                .push(format!("{what}: ours {ours:?}, facts {fact:?}"));
        }
    }

    fn truth(&mut self, what: impl Display, ok: bool) {
        self.checked += 1;
        if !ok {
            self.misses.push(format!("{what}: false"));
        }
    }

    /// Prints the summary line and fails with every mismatch.
    fn finish(self, summary: impl Display) {
        println!(
            "own {}: {} facts checked, {} wrong; {summary}",
            self.name,
            self.checked,
            self.misses.len()
        );
        assert!(
            self.misses.is_empty(),
            "{}: {} of {} facts wrong:\n  {}",
            self.name,
            self.misses.len(),
            self.checked,
            self.misses.join("\n  ")
        );
    }
}

// ---------------------------------------------------------------------------
// Small helpers

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn str_of(v: &Value) -> Option<&str> {
    v.as_str()
}

/// A fact's `arg`: `null` is our empty string.
fn arg_of(fact: &Value) -> &str {
    fact["arg"].as_str().unwrap_or("")
}

/// The extracted bytes behind a reported SHA-256 hash to it and have the
/// reported size.
fn check_artifact(c: &Capture, check: &mut Check, what: &str, sha256: &str, size: u64) {
    match c.artifact(sha256) {
        Some(bytes) => {
            check.eq(
                format!("{what} artifact sha256"),
                sha256_hex(&bytes),
                sha256.to_string(),
            );
            check.eq(format!("{what} artifact size"), bytes.len() as u64, size);
        }
        None => check.truth(format!("{what} artifact {sha256} kept"), false),
    }
}

/// Brute force: the (user, password, success) triples tried are the facts'
/// users x passwords, a pair succeeding exactly when it is in `found`.
/// Hydra stops trying a user once its password is found, so for those users
/// the pairs not tried may be missing; every other user must have been tried
/// with every password. Returns how many attempts were seen.
fn check_brute_force(
    check: &mut Check,
    facts: &Value,
    tried: &[(String, Option<String>, Option<bool>)],
) -> usize {
    let bf = &facts["brute_force"];
    let users: Vec<&str> = bf["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(str_of)
        .collect();
    let passwords: Vec<&str> = bf["passwords"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(str_of)
        .collect();
    let found: BTreeSet<(&str, &str)> = bf["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["user"].as_str().unwrap(), f["password"].as_str().unwrap()))
        .collect();
    let found_users: BTreeSet<&str> = found.iter().map(|(u, _)| *u).collect();

    let mut seen = BTreeSet::new();
    for (user, password, success) in tried {
        let Some(password) = password else {
            check.truth(format!("password of {user} seen"), false);
            continue;
        };
        let pair = (user.as_str(), password.as_str());
        check.truth(
            format!("{user}/{password} is one of the facts' pairs"),
            users.contains(&pair.0) && passwords.contains(&pair.1),
        );
        check.eq(
            format!("{user}/{password} success"),
            *success,
            Some(found.contains(&pair)),
        );
        check.truth(format!("{user}/{password} tried once"), seen.insert(pair));
    }
    for user in &users {
        for password in &passwords {
            let tried = seen.contains(&(*user, *password));
            if found_users.contains(user) && !found.contains(&(*user, *password)) {
                continue; // hydra may have stopped before it
            }
            check.truth(format!("{user}/{password} tried"), tried);
        }
    }
    tried.len()
}

// ---------------------------------------------------------------------------
// FTP

fn check_ftp(c: &Capture) {
    let mut check = Check::new(c);
    c.check_flows(&mut check);
    check.eq("anomalies", c.anomalies(), vec![]);

    let logins: Vec<(String, Option<String>, Option<bool>)> = c
        .of("ftp.login")
        .iter()
        .map(|l| {
            (
                l["user"].as_str().unwrap_or_default().to_string(),
                l["password"].as_str().map(String::from),
                l["success"].as_bool(),
            )
        })
        .collect();
    if c.facts["brute_force"].is_object() {
        let n = check_brute_force(&mut check, &c.facts, &logins);
        return check.finish(format!("{n} USER/PASS pairs tried"));
    }
    let facts_logins: Vec<(String, Option<String>, Option<bool>)> = c
        .facts_list("logins")
        .iter()
        .map(|l| {
            (
                l["user"].as_str().unwrap().to_string(),
                l["password"].as_str().map(String::from),
                l["success"].as_bool(),
            )
        })
        .collect();
    check.eq("logins", &logins, &facts_logins);

    // Commands with their replies, in order.
    let commands: Vec<&Value> = c
        .of("ftp.command")
        .into_iter()
        .filter(|e| e["command"] != "<init>")
        .collect();
    let facts_commands = c.facts_list("commands");
    check.eq("command count", commands.len(), facts_commands.len());
    for (i, (ours, fact)) in commands.iter().zip(&facts_commands).enumerate() {
        let what = format!("command {i} {}", fact["command"]);
        check.eq(
            format!("{what} command"),
            str_of(&ours["command"]),
            str_of(&fact["command"]),
        );
        check.eq(
            format!("{what} arg"),
            str_of(&ours["arg"]),
            Some(arg_of(fact)),
        );
        check.eq(
            format!("{what} reply_code"),
            ours["reply_code"].as_u64(),
            fact["reply_code"].as_u64(),
        );
        check.eq(
            format!("{what} reply_msg"),
            str_of(&ours["reply_msg"]),
            str_of(&fact["reply_msg"]),
        );
        let replies = fact["replies"].as_array().unwrap();
        let preliminary = replies
            .first()
            .filter(|r| replies.len() == 2 && r["code"].as_u64().is_some_and(|c| c < 200));
        if let Some(first) = preliminary {
            check.eq(
                format!("{what} preliminary_code"),
                ours["preliminary_code"].as_u64(),
                first["code"].as_u64(),
            );
            check.eq(
                format!("{what} preliminary_msg"),
                str_of(&ours["preliminary_msg"]),
                str_of(&first["text"]),
            );
        } else if replies.len() > 1 {
            // A multi-line reply: every line, as sent.
            let lines: Vec<String> = replies
                .iter()
                .enumerate()
                .map(|(n, r)| match r["code"].as_u64() {
                    Some(code) if n + 1 < replies.len() => {
                        format!("{code}-{}", r["text"].as_str().unwrap())
                    }
                    Some(code) => format!("{code} {}", r["text"].as_str().unwrap()),
                    None => r["text"].as_str().unwrap().to_string(),
                })
                .collect();
            check.eq(
                format!("{what} reply lines"),
                str_of(&ours["reply_text"]),
                Some(lines.join("\n").as_str()),
            );
        }
    }

    // Data connections: passive or active as the facts' PASV/EPSV/PORT say.
    let mut passive = None;
    let mut expected_modes = Vec::new();
    for fact in &facts_commands {
        match fact["command"].as_str().unwrap() {
            "PASV" | "EPSV" => passive = Some(true),
            "PORT" | "EPRT" => passive = Some(false),
            "RETR" | "STOR" | "LIST" | "NLST" | "MLSD" | "APPE" => expected_modes.push(passive),
            _ => {}
        }
    }
    let transfers = c.of("ftp.transfer");
    let modes: Vec<Option<bool>> = transfers.iter().map(|t| t["passive"].as_bool()).collect();
    check.eq("transfers (passive or not)", &modes, &expected_modes);
    let server_ip = c.facts["server"]["ip"].as_str().unwrap();
    for t in &transfers {
        let what = format!("transfer {} {}", t["command"], t["arg"]);
        let Some(end) = t["data_flow"].as_str().and_then(|id| c.flow_end(id)) else {
            check.truth(format!("{what}: its data flow ended"), false);
            continue;
        };
        check.eq(
            format!("{what} data flow protocol"),
            str_of(&end["protocol"]),
            Some("ftp-data"),
        );
        if t["passive"] == false {
            // Active mode: the server connects from port 20.
            check.eq(
                format!("{what} data flow source"),
                (
                    str_of(&end["flow"]["src_ip"]),
                    end["flow"]["src_port"].as_u64(),
                ),
                (Some(server_ip), Some(20)),
            );
        } else {
            check.eq(
                format!("{what} data flow server"),
                str_of(&end["flow"]["dst_ip"]),
                Some(server_ip),
            );
        }
        if let (Some(sha), Some(size)) = (t["sha256"].as_str(), t["size"].as_u64()) {
            check_artifact(c, &mut check, &what, sha, size);
        }
    }

    // Files: name, direction, size, SHA-256, and the kept bytes.
    let files: Vec<&&Value> = transfers
        .iter()
        .filter(|t| t["direction"] != "listing")
        .collect();
    let facts_files = c.facts_list("files");
    check.eq("file count", files.len(), facts_files.len());
    for (ours, fact) in files.iter().zip(&facts_files) {
        let what = format!("file {}", fact["name"]);
        check.eq(
            format!("{what} name"),
            str_of(&ours["arg"]),
            str_of(&fact["name"]),
        );
        check.eq(
            format!("{what} direction"),
            str_of(&ours["direction"]),
            str_of(&fact["direction"]),
        );
        check.eq(
            format!("{what} size"),
            ours["size"].as_u64(),
            fact["size"].as_u64(),
        );
        check.eq(
            format!("{what} sha256"),
            str_of(&ours["sha256"]),
            str_of(&fact["sha256"]),
        );
        check.eq(
            format!("{what} missing bytes"),
            ours["missing_bytes"].as_u64(),
            Some(0),
        );
        check.eq(
            format!("{what} artifact named"),
            str_of(&ours["artifact"]),
            str_of(&ours["sha256"]),
        );
    }
    let summary = format!(
        "{} logins, {} commands, {} files, {} listings",
        logins.len(),
        commands.len(),
        files.len(),
        transfers.len() - files.len()
    );
    check.finish(summary);
}

#[test]
fn ftp_session() {
    check_ftp(&load("ftp", "ftp-session"));
}

#[test]
fn ftp_ipv6_epsv() {
    check_ftp(&load("ftp", "ftp-ipv6-epsv"));
}

#[test]
fn ftp_hydra() {
    check_ftp(&load("ftp", "ftp-hydra"));
}

// ---------------------------------------------------------------------------
// SSH

/// The algorithm both sides agree on (RFC 4253 7.1): the client's first
/// that the server also lists.
fn negotiated(client: &Value, server: &Value) -> Option<String> {
    let server: Vec<&str> = server.as_array()?.iter().filter_map(str_of).collect();
    client
        .as_array()?
        .iter()
        .filter_map(str_of)
        .find(|a| server.contains(a))
        .map(String::from)
}

fn check_ssh(c: &Capture) {
    let mut check = Check::new(c);
    let flows = c.check_flows(&mut check);
    check.eq("anomalies", c.anomalies(), vec![]);

    let handshakes = c.of("ssh.handshake");
    check.eq("one handshake per connection", handshakes.len(), flows);
    for h in &handshakes {
        let flow = &h["flow"]["id"];
        let what = format!("connection {}", h["flow"]["src_port"]);
        let kexinit = |dir: &str| {
            c.events.iter().find(|e| {
                e["type"] == "ssh.kexinit" && e["flow"]["id"] == *flow && e["direction"] == dir
            })
        };
        let (Some(client), Some(server)) = (kexinit("to_server"), kexinit("to_client")) else {
            check.truth(format!("{what}: both KEXINITs"), false);
            continue;
        };
        for (field, list, list_server) in [
            ("kex_alg", "kex_algorithms", "kex_algorithms"),
            (
                "host_key_alg",
                "server_host_key_algorithms",
                "server_host_key_algorithms",
            ),
            (
                "cipher_alg",
                "encryption_algorithms_client_to_server",
                "encryption_algorithms_client_to_server",
            ),
            (
                "mac_alg",
                "mac_algorithms_client_to_server",
                "mac_algorithms_client_to_server",
            ),
            (
                "compression_alg",
                "compression_algorithms_client_to_server",
                "compression_algorithms_client_to_server",
            ),
            (
                "cipher_alg_to_client",
                "encryption_algorithms_server_to_client",
                "encryption_algorithms_server_to_client",
            ),
            (
                "mac_alg_to_client",
                "mac_algorithms_server_to_client",
                "mac_algorithms_server_to_client",
            ),
            (
                "compression_alg_to_client",
                "compression_algorithms_server_to_client",
                "compression_algorithms_server_to_client",
            ),
        ] {
            check.eq(
                format!("{what} {field}"),
                h[field].as_str().map(String::from),
                negotiated(&client[list], &server[list_server]),
            );
        }
        check.eq(
            format!("{what} hassh"),
            h["hassh"].as_str(),
            client["hassh"].as_str(),
        );
        check.eq(
            format!("{what} hassh_server"),
            h["hassh_server"].as_str(),
            server["hassh"].as_str(),
        );
        check.truth(
            format!("{what} host key fingerprint"),
            h["host_key_fingerprint"]
                .as_str()
                .is_some_and(|f| f.starts_with("SHA256:")),
        );
    }

    let auths = c.of("ssh.auth");
    check.eq("one ssh.auth per connection", auths.len(), flows);
    let attempts: u64 = auths.iter().filter_map(|a| a["attempts"].as_u64()).sum();

    if c.facts["brute_force"].is_object() {
        for h in &handshakes {
            check.truth(
                format!("connection {} client is libssh", h["flow"]["src_port"]),
                h["client_version"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("SSH-2.0-libssh")),
            );
        }
        let bf = &c.facts["brute_force"];
        let found = bf["found"].as_array().unwrap().len();
        let successes = auths.iter().filter(|a| a["success"] == true).count();
        check.eq("successful connections", successes, found);
        // Passwords travel encrypted: only the number of attempts shows.
        // Hydra tried every pair but those of a user after its password was
        // found; tshark shows 11 USERAUTH_REQUEST(password) packets (76 or
        // 84 bytes after the `none` probe of each connection): root x 4,
        // admin x 4, webadmin x 3.
        let pairs =
            bf["users"].as_array().unwrap().len() * bf["passwords"].as_array().unwrap().len();
        let most_skipped = found * (bf["passwords"].as_array().unwrap().len() - 1);
        check.truth(
            format!(
                "{attempts} attempts within {}..={pairs}",
                pairs - most_skipped
            ),
            (pairs - most_skipped..=pairs).contains(&(attempts as usize)),
        );
        check.eq("password attempts (from tshark)", attempts, 11);
        return check.finish(format!(
            "{} connections, {attempts} password attempts, {successes} success",
            flows
        ));
    }

    let versions = &c.facts["versions"];
    for h in &handshakes {
        let what = format!("connection {}", h["flow"]["src_port"]);
        check.eq(
            format!("{what} client_version"),
            h["client_version"].as_str(),
            versions["client"].as_str(),
        );
        check.eq(
            format!("{what} server_version"),
            h["server_version"].as_str(),
            versions["server"].as_str(),
        );
        check.eq(format!("{what} version"), h["version"].as_u64(), Some(2));
    }
    // One connection per login (sshpass gives up after a refused password);
    // the outcome is guessed from packet sizes, the password is encrypted.
    let outcomes: Vec<Option<bool>> = auths.iter().map(|a| a["success"].as_bool()).collect();
    let facts_outcomes: Vec<Option<bool>> = c
        .facts_list("logins")
        .iter()
        .map(|l| l["success"].as_bool())
        .collect();
    check.eq("login outcomes", &outcomes, &facts_outcomes);
    // The `exec` command travels encrypted too: nothing to compare.
    check.finish(format!(
        "{} connections on port {}, {attempts} password attempts, outcomes {outcomes:?}",
        flows, c.facts["server"]["port"]
    ));
}

#[test]
fn ssh_session() {
    check_ssh(&load("ssh", "ssh-session"));
}

#[test]
fn ssh_port80() {
    check_ssh(&load("ssh", "ssh-port80"));
}

#[test]
fn ssh_hydra() {
    check_ssh(&load("ssh", "ssh-hydra"));
}

// ---------------------------------------------------------------------------
// rsync

/// rsync's daemon authentication: base64 (unpadded) of
/// `digest(password || challenge)` with the first digest of the client's
/// list the server also offers (protocol 30+; MD4/MD5 are not expected here).
fn rsync_response(digest: &str, password: &str, challenge: &str) -> Option<String> {
    let input = [password.as_bytes(), challenge.as_bytes()].concat();
    let hash = match digest {
        "sha512" => Sha512::digest(&input).to_vec(),
        "sha256" => Sha256::digest(&input).to_vec(),
        "sha1" => Sha1::digest(&input).to_vec(),
        _ => return None,
    };
    Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash))
}

fn check_rsync(c: &Capture) {
    let mut check = Check::new(c);
    let flows = c.check_flows(&mut check);
    check.eq("anomalies", c.anomalies(), vec![]);

    let handshakes = c.of("rsync.handshake");
    check.eq("one handshake per connection", handshakes.len(), flows);
    for h in &handshakes {
        let what = format!("connection {}", h["flow"]["src_port"]);
        check.eq(
            format!("{what} client_version"),
            h["client_version"].as_str(),
            c.facts["versions"]["client"].as_str(),
        );
        check.eq(
            format!("{what} server_version"),
            h["server_version"].as_str(),
            c.facts["versions"]["server"].as_str(),
        );
    }

    let modules = c.of("rsync.module");
    let facts_commands = c.facts_list("commands");
    check.eq("request count", modules.len(), facts_commands.len());
    for (i, (ours, fact)) in modules.iter().zip(&facts_commands).enumerate() {
        let what = format!("request {i} {}", fact["command"]);
        check.eq(
            format!("{what} module"),
            str_of(&ours["module"]),
            Some(fact["module"].as_str().unwrap_or("")),
        );
        check.eq(
            format!("{what} user"),
            str_of(&ours["user"]),
            str_of(&fact["user"]),
        );
        check.eq(
            format!("{what} success"),
            ours["success"].as_bool(),
            fact["success"].as_bool(),
        );
        let refused_early =
            fact["success"] == false && ours["args"].as_array().is_some_and(|a| a.is_empty());
        if refused_early {
            // Refused before the client sent its arguments: whether it
            // meant to push or pull, and where, is not on the wire.
            check.eq(
                format!("{what} action"),
                str_of(&ours["action"]),
                Some("unknown"),
            );
            check.truth(
                format!("{what} error"),
                ours["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("auth failed")),
            );
        } else {
            check.eq(
                format!("{what} action"),
                str_of(&ours["action"]),
                str_of(&fact["command"]),
            );
        }
        if let Some(arg) = fact["arg"].as_str().filter(|_| !refused_early) {
            let args: Vec<&str> = ours["args"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(str_of)
                .collect();
            check.eq(
                format!("{what} path argument"),
                args.last().copied(),
                Some(arg),
            );
        }
    }

    // Logins: user, module, outcome, and the password behind the response.
    let logins: Vec<&&Value> = modules
        .iter()
        .filter(|m| m["auth_required"] == true)
        .collect();
    let facts_logins = c.facts_list("logins");
    check.eq("login count", logins.len(), facts_logins.len());
    for (i, (ours, fact)) in logins.iter().zip(&facts_logins).enumerate() {
        let what = format!("login {i} {}", fact["user"]);
        check.eq(
            format!("{what} user"),
            str_of(&ours["user"]),
            str_of(&fact["user"]),
        );
        check.eq(
            format!("{what} module"),
            str_of(&ours["module"]),
            str_of(&fact["module"]),
        );
        check.eq(
            format!("{what} success"),
            ours["success"].as_bool(),
            fact["success"].as_bool(),
        );
        let handshake = handshakes
            .iter()
            .find(|h| h["flow"]["id"] == ours["flow"]["id"]);
        let digest = handshake.and_then(|h| negotiated(&h["client_digests"], &h["server_digests"]));
        let expected = match (
            &digest,
            ours["challenge"].as_str(),
            fact["password"].as_str(),
        ) {
            (Some(d), Some(challenge), Some(password)) => rsync_response(d, password, challenge),
            _ => None,
        };
        check.truth(
            format!("{what} digest {digest:?} known"),
            expected.is_some(),
        );
        check.eq(
            format!("{what} response proves password {}", fact["password"]),
            ours["response"].as_str(),
            expected.as_deref(),
        );
    }

    // File contents travel in rsync's multiplexed stream, which the
    // dissector does not extract: check only that the bytes went the right
    // way on the right connection.
    for fact in c.facts_list("files") {
        let what = format!("file {}", fact["name"]);
        let (action, key) = match fact["direction"].as_str() {
            Some("download") => ("pull", "bytes_to_client"),
            _ => ("push", "bytes_to_server"),
        };
        let carried = modules
            .iter()
            .filter(|m| m["action"] == action && m["success"] == true)
            .filter_map(|m| c.flow_end(m["flow"]["id"].as_str()?))
            .filter_map(|end| end[key].as_u64())
            .max()
            .unwrap_or(0);
        check.truth(
            format!(
                "{what}: a successful {action} carried at least {} bytes",
                fact["size"]
            ),
            carried >= fact["size"].as_u64().unwrap(),
        );
    }
    let actions: Vec<&str> = modules
        .iter()
        .filter_map(|m| m["action"].as_str())
        .collect();
    check.finish(format!(
        "{flows} connections, requests {actions:?}, {} logins with their passwords proven",
        logins.len()
    ));
}

#[test]
fn rsync_daemon() {
    check_rsync(&load("rsync", "rsync-daemon"));
}

// ---------------------------------------------------------------------------
// MySQL

/// `mysql_native_password`: `SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))`.
fn native_password(password: &str, scramble: &[u8]) -> String {
    let stage1 = Sha1::digest(password.as_bytes());
    let stage2 = Sha1::digest(stage1);
    let mask = Sha1::digest([scramble, stage2.as_slice()].concat());
    hex::encode(
        stage1
            .iter()
            .zip(mask.iter())
            .map(|(a, b)| a ^ b)
            .collect::<Vec<u8>>(),
    )
}

/// Which of `candidates` a login's answer to the nonce proves.
fn proven_password<'a>(login: &Value, candidates: &[&'a str]) -> Option<&'a str> {
    let scramble = hex::decode(login["scramble"].as_str()?).ok()?;
    let answer = login["auth_response"].as_str()?;
    candidates
        .iter()
        .copied()
        .find(|p| native_password(p, &scramble) == answer)
}

fn check_mysql(c: &Capture) {
    let mut check = Check::new(c);
    let flows = c.check_flows(&mut check);

    let greetings = c.of("mysql.greeting");
    check.eq("one greeting per connection", greetings.len(), flows);
    if let Some(server) = c.facts["versions"]["server"].as_str() {
        for g in &greetings {
            // MariaDB prefixes its version with `5.5.5-` for old clients; we
            // report it without and say `mariadb`.
            let what = format!("connection {}", g["flow"]["src_port"]);
            check.eq(
                format!("{what} server_version"),
                g["server_version"].as_str(),
                server.strip_prefix("5.5.5-"),
            );
            check.eq(
                format!("{what} mariadb"),
                g["mariadb"].as_bool(),
                Some(true),
            );
        }
    }

    let logins = c.of("mysql.login");
    if c.facts["brute_force"].is_object() {
        // Hydra checks the server first on a connection of its own where it
        // sends a bare COM_QUIT instead of a handshake response (MariaDB
        // answers 1156 "Got packets out of order").
        let anomalies = c.anomalies();
        check.eq(
            "connections without a login",
            flows - logins.len(),
            anomalies.len(),
        );
        check.truth(
            format!("anomalies are hydra's bare COM_QUIT: {anomalies:?}"),
            anomalies.iter().all(|a| a.contains("bad_handshake")),
        );
        // mysql_native_password: the password is not on the wire, but the
        // answer to the nonce proves which candidate was tried.
        let candidates: Vec<&str> = c.facts["brute_force"]["passwords"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(str_of)
            .collect();
        let tried: Vec<(String, Option<String>, Option<bool>)> = logins
            .iter()
            .map(|l| {
                (
                    l["user"].as_str().unwrap_or_default().to_string(),
                    proven_password(l, &candidates).map(String::from),
                    l["success"].as_bool(),
                )
            })
            .collect();
        check_brute_force(&mut check, &c.facts, &tried);
        for l in &logins {
            if l["success"] != true {
                check.eq(
                    format!("{} error_code", l["user"]),
                    l["error_code"].as_u64(),
                    Some(1045),
                );
            }
        }
        return check.finish(format!(
            "{flows} connections, {} logins, each password proven from its answer to the nonce",
            logins.len()
        ));
    }
    check.eq("anomalies", c.anomalies(), vec![]);

    let facts_logins = c.facts_list("logins");
    check.eq("login count", logins.len(), facts_logins.len());
    for (i, (ours, fact)) in logins.iter().zip(&facts_logins).enumerate() {
        let what = format!("login {i} {}", fact["user"]);
        check.eq(
            format!("{what} user"),
            str_of(&ours["user"]),
            str_of(&fact["user"]),
        );
        check.eq(
            format!("{what} success"),
            ours["success"].as_bool().unwrap_or(false),
            fact["success"].as_bool().unwrap(),
        );
        check.eq(
            format!("{what} database"),
            str_of(&ours["database"]),
            str_of(&fact["database"]),
        );
        check.eq(
            format!("{what} error_code"),
            ours["error_code"].as_u64(),
            fact["error_code"].as_u64(),
        );
        check.eq(
            format!("{what} error"),
            str_of(&ours["error"]),
            str_of(&fact["error"]),
        );
        let password = fact["password"].as_str().unwrap();
        check.eq(
            format!("{what} answer proves password {password}"),
            proven_password(ours, &[password]),
            Some(password),
        );
    }

    let commands = c.of("mysql.command");
    let facts_commands = c.facts_list("commands");
    check.eq("command count", commands.len(), facts_commands.len());
    for (i, (ours, fact)) in commands.iter().zip(&facts_commands).enumerate() {
        let what = format!("command {i} {} {}", fact["command"], arg_of(fact));
        check.eq(
            format!("{what} command"),
            str_of(&ours["command"]),
            str_of(&fact["command"]),
        );
        check.eq(
            format!("{what} arg"),
            str_of(&ours["arg"]),
            Some(arg_of(fact)),
        );
        if fact["command"] == "quit" {
            // COM_QUIT has no reply: its outcome is not on the wire.
            check.eq(format!("{what} success"), ours["success"].as_bool(), None);
        } else {
            check.eq(
                format!("{what} success"),
                ours["success"].as_bool(),
                fact["success"].as_bool(),
            );
        }
        check.eq(
            format!("{what} rows"),
            ours["rows"].as_u64(),
            fact["rows"].as_u64(),
        );
        if let Some(affected) = fact["affected_rows"].as_u64() {
            check.eq(
                format!("{what} affected_rows"),
                ours["affected_rows"].as_u64(),
                Some(affected),
            );
        }
        check.eq(
            format!("{what} error_code"),
            ours["error_code"].as_u64(),
            fact["error_code"].as_u64(),
        );
        check.eq(
            format!("{what} error"),
            str_of(&ours["error"]),
            str_of(&fact["error"]),
        );
    }
    check.finish(format!(
        "{flows} connections, {} logins, {} commands",
        logins.len(),
        commands.len()
    ));
}

#[test]
fn mysql_session() {
    check_mysql(&load("mysql", "mysql-session"));
}

#[test]
fn mysql_hydra() {
    check_mysql(&load("mysql", "mysql-hydra"));
}

// ---------------------------------------------------------------------------
// Redis

/// A reply as the facts write it, in our notation: `+OK` and `:3` without
/// their type byte, `-ERR …` as the error text, `[a,b]` with `, `.
fn redis_reply_matches(ours: &Value, fact: &str, args: &[&str]) -> bool {
    let Some(ours) = ours.as_str() else {
        return false;
    };
    let tight = ours.replace(", ", ",").replace(": ", ":");
    if fact == "(the same bytes)" {
        return args.first() == Some(&ours);
    }
    if let Some(rest) = fact.strip_prefix('%') {
        // `%N (…)` or `%N {k:v,…}`: a map of N entries.
        let (n, shown) = rest.split_once(' ').unwrap_or((rest, ""));
        let n: usize = n.parse().unwrap_or(usize::MAX);
        let entries = top_level_items(&tight);
        return entries == n && (shown.starts_with('(') || tight == shown);
    }
    if let Some(rest) = fact.strip_prefix('~') {
        // `~N {a,b} (any order)`: a set, which we render as a list.
        let (n, shown) = rest.split_once(' ').unwrap_or((rest, ""));
        let shown = shown.trim_end_matches(" (any order)");
        let want: BTreeSet<&str> = shown.trim_matches(['{', '}']).split(',').collect();
        let got: BTreeSet<&str> = tight.trim_matches(['[', ']']).split(',').collect();
        return n.parse() == Ok(got.len()) && want == got;
    }
    let fact = fact.strip_prefix(['+', '-', ':']).unwrap_or(fact);
    tight == fact
}

/// Entries of `{…}` or `[…]` at the top level.
fn top_level_items(s: &str) -> usize {
    let inner = s.get(1..s.len().saturating_sub(1)).unwrap_or("");
    if inner.is_empty() {
        return 0;
    }
    let mut depth = 0;
    let mut items = 1;
    for ch in inner.chars() {
        match ch {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => items += 1,
            _ => {}
        }
    }
    items
}

fn check_redis(c: &Capture) {
    let mut check = Check::new(c);
    let flows = c.check_flows(&mut check);
    check.eq("anomalies", c.anomalies(), vec![]);

    let commands = c.of("redis.command");
    let facts_commands = c.facts_list("commands");
    check.eq("command count", commands.len(), facts_commands.len());
    for (i, (ours, fact)) in commands.iter().zip(&facts_commands).enumerate() {
        let what = format!("command {i} {} {}", fact["name"], arg_of(fact));
        check.eq(
            format!("{what} name"),
            str_of(&ours["name"]),
            str_of(&fact["name"]),
        );
        let args: Vec<&str> = ours["args"]
            .as_array()
            .map(|a| a.iter().filter_map(str_of).collect())
            .unwrap_or_default();
        if let Some(facts_args) = fact["args"].as_array() {
            let facts_args: Vec<&str> = facts_args.iter().filter_map(str_of).collect();
            check.eq(format!("{what} args"), &args, &facts_args);
        } else {
            // redis-cli --pipe's ECHO of 20 random bytes: not recorded.
            check.eq(format!("{what} one argument"), args.len(), 1);
        }
        check.eq(
            format!("{what} success"),
            ours["success"].as_bool(),
            fact["success"].as_bool(),
        );
        let reply = fact["reply"].as_str().unwrap();
        check.truth(
            format!("{what} reply {} is {reply:?}", ours["reply"]),
            redis_reply_matches(&ours["reply"], reply, &args),
        );
    }

    // Logins: AUTH and HELLO … AUTH, `null` user meaning `default`.
    let logins: Vec<(String, Option<String>, Option<bool>, bool)> = c
        .of("redis.auth")
        .iter()
        .map(|a| {
            (
                a["user"].as_str().unwrap_or("default").to_string(),
                a["password"].as_str().map(String::from),
                a["success"].as_bool(),
                a["command"] == "HELLO",
            )
        })
        .collect();
    let facts_logins: Vec<(String, Option<String>, Option<bool>, bool)> = c
        .facts_list("logins")
        .iter()
        .map(|l| {
            (
                l["user"].as_str().unwrap().to_string(),
                l["password"].as_str().map(String::from),
                l["success"].as_bool(),
                l["via"] == "HELLO",
            )
        })
        .collect();
    check.eq(
        "logins (user, password, success, via HELLO)",
        &logins,
        &facts_logins,
    );
    if let Some(server) = c.facts["versions"]["server"].as_str() {
        let hello = commands
            .iter()
            .filter(|e| e["name"] == "HELLO")
            .collect::<Vec<_>>();
        for h in hello {
            check.truth(
                format!("HELLO reply names version {server}"),
                h["reply"]
                    .as_str()
                    .is_some_and(|r| r.contains(&format!("version: {server}"))),
            );
        }
    }
    check.finish(format!(
        "{flows} connections, {} commands, {} logins",
        commands.len(),
        logins.len()
    ));
}

#[test]
fn redis_session() {
    check_redis(&load("redis", "redis-session"));
}

// ---------------------------------------------------------------------------
// HTTP

/// The parts of a `multipart/form-data` body: (file name, content).
fn multipart_files<'a>(body: &'a [u8], boundary: &str) -> Vec<(String, &'a [u8])> {
    let delimiter = format!("--{boundary}");
    let mut files = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(headers_end) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let headers = String::from_utf8_lossy(&rest[..headers_end]).into_owned();
        let content = &rest[headers_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes()).unwrap_or(content.len());
        if let Some(name) = headers
            .split("filename=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        {
            files.push((name.to_string(), &content[..end]));
        }
        rest = &content[end..];
    }
    files
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn check_http(c: &Capture) {
    let mut check = Check::new(c);
    let flows = c.check_flows(&mut check);
    check.eq("anomalies", c.anomalies(), vec![]);

    let requests = c.of("http.request");
    let facts_requests = c.facts_list("requests");
    check.eq("request count", requests.len(), facts_requests.len());
    // `N gzip bytes on the wire` from the notes: our body length is the
    // one on the wire, before content coding (docs/events.md).
    let gzip_wire: Option<u64> = c
        .facts_list("notes")
        .iter()
        .filter_map(|n| n.as_str())
        .find_map(|n| {
            let words: Vec<&str> = n.split_whitespace().collect();
            words
                .windows(5)
                .find(|w| w[1..] == ["gzip", "bytes", "on", "the"][..])
                .and_then(|w| w[0].parse().ok())
        });
    for (i, (ours, fact)) in requests.iter().zip(&facts_requests).enumerate() {
        let what = format!("request {i} {} {}", fact["method"], fact["uri"]);
        check.eq(
            format!("{what} method"),
            str_of(&ours["method"]),
            str_of(&fact["method"]),
        );
        check.eq(
            format!("{what} host"),
            str_of(&ours["host"]),
            str_of(&fact["host"]),
        );
        // `uri` is percent-decoded (as Zeek logs it); `raw_uri` is as sent.
        let sent = ours["raw_uri"].as_str().or(ours["uri"].as_str());
        check.eq(format!("{what} uri as sent"), sent, str_of(&fact["uri"]));
        check.eq(
            format!("{what} status_code"),
            ours["status_code"].as_u64(),
            fact["status_code"].as_u64(),
        );
        check.eq(
            format!("{what} user_agent"),
            str_of(&ours["user_agent"]),
            str_of(&fact["user_agent"]),
        );
        check.eq(
            format!("{what} username"),
            str_of(&ours["username"]),
            str_of(&fact["username"]),
        );
        check.eq(
            format!("{what} request_body_len"),
            ours["request_body_len"].as_u64(),
            fact["request_body_len"].as_u64(),
        );
        if ours["response_content_encoding"] == "gzip" {
            check.eq(
                format!("{what} response_body_len (gzip, on the wire)"),
                ours["response_body_len"].as_u64(),
                gzip_wire,
            );
            let kept = ours["response_body_sha256"]
                .as_str()
                .and_then(|s| c.artifact(s));
            check.truth(
                format!("{what} kept body is gzip"),
                kept.is_some_and(|b| b.starts_with(&[0x1f, 0x8b])),
            );
        } else {
            check.eq(
                format!("{what} response_body_len"),
                ours["response_body_len"].as_u64(),
                fact["response_body_len"].as_u64(),
            );
        }
        for (sha, len) in [
            ("request_body_sha256", "request_body_len"),
            ("response_body_sha256", "response_body_len"),
        ] {
            if let (Some(sha), Some(len)) = (ours[sha].as_str(), ours[len].as_u64()) {
                check_artifact(c, &mut check, &format!("{what} {sha}"), sha, len);
            }
        }
    }

    // Uploads: a multipart part named on the wire, or a whole body.
    for fact in c.facts_list("files") {
        let name = fact["name"].as_str().unwrap();
        let sha = fact["sha256"].as_str().unwrap();
        let size = fact["size"].as_u64().unwrap();
        let mut found = None;
        for r in &requests {
            let Some(body_sha) = r["request_body_sha256"].as_str() else {
                continue;
            };
            if body_sha == sha {
                found = Some(format!("whole body of {} {}", r["method"], r["uri"]));
                check.eq(
                    format!("upload {name} size"),
                    r["request_body_len"].as_u64(),
                    Some(size),
                );
                break;
            }
            let boundary = r["request_content_type"]
                .as_str()
                .and_then(|t| t.split("boundary=").nth(1));
            let (Some(boundary), Some(body)) = (boundary, c.artifact(body_sha)) else {
                continue;
            };
            let filenames: Vec<&str> = r["filenames"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(str_of)
                .collect();
            for (part_name, content) in multipart_files(&body, boundary) {
                if part_name == name {
                    // The dissector hashes (and keeps) the part on its own.
                    let upload = r["uploads"]
                        .as_array()
                        .and_then(|u| u.iter().find(|u| u["filename"] == name));
                    check.eq(
                        format!("upload {name} event sha256"),
                        upload.and_then(|u| u["sha256"].as_str()),
                        Some(sha),
                    );
                    check.eq(
                        format!("upload {name} event size"),
                        upload.and_then(|u| u["size"].as_u64()),
                        Some(size),
                    );
                    check_artifact(c, &mut check, &format!("upload {name}"), sha, size);
                    check.truth(
                        format!("upload {name} in the event's filenames {filenames:?}"),
                        filenames.contains(&name),
                    );
                    check.eq(
                        format!("upload {name} sha256"),
                        sha256_hex(content),
                        sha.to_string(),
                    );
                    check.eq(format!("upload {name} size"), content.len() as u64, size);
                    found = Some(format!("multipart part of {} {}", r["method"], r["uri"]));
                }
            }
        }
        check.truth(format!("upload {name} ({sha}) found"), found.is_some());
    }
    let pipelined = requests
        .iter()
        .filter(|r| r["trans_depth"].as_u64() > Some(1))
        .count();
    check.finish(format!(
        "{flows} connections, {} requests ({pipelined} pipelined), {} uploads",
        requests.len(),
        c.facts_list("files").len()
    ));
}

#[test]
fn http_session() {
    check_http(&load("http", "http-session"));
}

// ---------------------------------------------------------------------------
// MongoDB

/// Items grouped by client port, and the ports in order of appearance.
fn by_port(items: Vec<(u64, &Value)>) -> (Vec<u64>, BTreeMap<u64, Vec<&Value>>) {
    let mut order = Vec::new();
    let mut map: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for (port, v) in items {
        if !order.contains(&port) {
            order.push(port);
        }
        map.entry(port).or_default().push(v);
    }
    (order, map)
}

fn check_mongo(c: &Capture) {
    let mut check = Check::new(c);
    // Port 3717 is not MongoDB's: the flows must be found by probe.
    let flows = c.check_flows(&mut check);
    check.eq("anomalies", c.anomalies(), vec![]);

    let commands = c.of("mongo.command");
    let facts_commands = c.facts_list("commands");
    // The facts name connections by client port: compare per connection,
    // and the order of connections.
    let (our_order, ours) = by_port(
        commands
            .iter()
            .map(|e| (e["flow"]["src_port"].as_u64().unwrap(), *e))
            .collect(),
    );
    let (facts_order, facts) = by_port(
        facts_commands
            .iter()
            .map(|f| (f["client_port"].as_u64().unwrap(), *f))
            .collect(),
    );
    check.eq("connections in order", &our_order, &facts_order);
    for (port, fact_list) in &facts {
        let our_list = ours.get(port).cloned().unwrap_or_default();
        check.eq(
            format!("port {port} command count"),
            our_list.len(),
            fact_list.len(),
        );
        for (i, (o, f)) in our_list.iter().zip(fact_list).enumerate() {
            let what = format!("port {port} command {i} {}", f["command"]);
            check.eq(
                format!("{what} opcode"),
                str_of(&o["opcode"]),
                str_of(&f["opcode"]),
            );
            check.eq(
                format!("{what} database"),
                str_of(&o["database"]),
                str_of(&f["database"]),
            );
            check.eq(
                format!("{what} command"),
                str_of(&o["command"]),
                str_of(&f["command"]),
            );
            // OP_QUERY commands go to the `$cmd` pseudo-collection.
            let collection = o["collection"].as_str().filter(|c| *c != "$cmd");
            check.eq(
                format!("{what} collection"),
                collection,
                str_of(&f["collection"]),
            );
            check.eq(format!("{what} ok"), o["ok"].as_bool(), f["ok"].as_bool());
            if let Some(n) = f["documents"].as_u64() {
                let in_sequences: u64 = o["sequences"]
                    .as_array()
                    .map(|s| s.iter().filter_map(|s| s["documents"].as_u64()).sum())
                    .unwrap_or(0);
                check.eq(format!("{what} documents sent"), in_sequences, n);
                check.eq(
                    format!("{what} documents inserted (n)"),
                    o["n"].as_u64(),
                    Some(n),
                );
            }
        }
    }

    // SCRAM logins: user, mechanism, database, outcome; and the saslStart
    // commands carry the same mechanism.
    let auths = c.of("mongo.auth");
    let facts_logins = c.facts_list("logins");
    check.eq("login count", auths.len(), facts_logins.len());
    for (i, (o, f)) in auths.iter().zip(&facts_logins).enumerate() {
        let what = format!("login {i} {}", f["user"]);
        check.eq(
            format!("{what} user"),
            str_of(&o["user"]),
            str_of(&f["user"]),
        );
        check.eq(
            format!("{what} mechanism"),
            str_of(&o["mechanism"]),
            str_of(&f["mechanism"]),
        );
        check.eq(
            format!("{what} database"),
            str_of(&o["database"]),
            str_of(&f["database"]),
        );
        check.eq(
            format!("{what} success"),
            o["success"].as_bool(),
            f["success"].as_bool(),
        );
    }
    for f in facts_commands.iter().filter(|f| f["user"].is_string()) {
        let port = f["client_port"].as_u64();
        let auth = auths
            .iter()
            .find(|a| a["flow"]["src_port"].as_u64() == port);
        check.eq(
            format!("port {port:?} {} user", f["command"]),
            auth.and_then(|a| a["user"].as_str()),
            f["user"].as_str(),
        );
    }
    check.finish(format!(
        "{flows} connections on port 3717, {} commands, {} SCRAM logins",
        commands.len(),
        auths.len()
    ));
}

#[test]
fn mongo_pymongo() {
    check_mongo(&load("mongo", "mongo-pymongo"));
}

// ---------------------------------------------------------------------------
// Mid-stream and half-duplex: the same captures, cut

/// A classic pcap file split into its global header and its records (each
/// with its 16-byte record header), enough to drop packets and write the
/// rest back.
struct Pcap {
    header: Vec<u8>,
    records: Vec<Vec<u8>>,
}

impl Pcap {
    fn read(path: &Path) -> Pcap {
        let bytes = std::fs::read(path).unwrap();
        let header = bytes[..24].to_vec();
        let little_endian = match header[..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
            _ => panic!("{}: not a classic pcap", path.display()),
        };
        let mut records = Vec::new();
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let len: [u8; 4] = bytes[at + 8..at + 12].try_into().unwrap();
            let len = if little_endian {
                u32::from_le_bytes(len)
            } else {
                u32::from_be_bytes(len)
            } as usize;
            records.push(bytes[at..at + 16 + len].to_vec());
            at += 16 + len;
        }
        assert_eq!(at, bytes.len(), "{}: trailing bytes", path.display());
        Pcap { header, records }
    }

    /// The TCP (source port, payload) of a record: Ethernet, IPv4 or IPv6.
    fn tcp(record: &[u8]) -> Option<(u16, &[u8])> {
        let frame = record.get(16..)?;
        let (next, ip) = match frame.get(12..14)? {
            [0x08, 0x00] => {
                let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
                (*frame.get(14 + 9)?, frame.get(14 + ihl..)?)
            }
            [0x86, 0xdd] => (*frame.get(14 + 6)?, frame.get(14 + 40..)?),
            _ => return None,
        };
        if next != 6 {
            return None;
        }
        let src_port = u16::from_be_bytes([*ip.first()?, *ip.get(1)?]);
        let offset = usize::from(ip.get(12)? >> 4) * 4;
        Some((src_port, ip.get(offset..)?))
    }

    /// Index of the first record whose TCP payload contains `needle`.
    fn first_with(&self, needle: &[u8]) -> usize {
        self.records
            .iter()
            .position(|r| Pcap::tcp(r).is_some_and(|(_, p)| find(p, needle).is_some()))
            .unwrap_or_else(|| panic!("no packet carries {:?}", String::from_utf8_lossy(needle)))
    }

    /// Writes the records `keep` accepts to a new file in `dir`.
    fn write(&self, dir: &Path, name: &str, keep: impl Fn(usize, &[u8]) -> bool) -> PathBuf {
        let mut out = self.header.clone();
        for (i, r) in self.records.iter().enumerate() {
            if keep(i, r) {
                out.extend_from_slice(r);
            }
        }
        let path = dir.join(name);
        std::fs::write(&path, out).unwrap();
        path
    }
}

fn load_cut(
    protocol: &str,
    name: &str,
    cut: &str,
    keep: impl Fn(&Pcap, usize, &[u8]) -> bool,
) -> (Capture, tempfile::TempDir) {
    let dir = captures_dir().join(protocol);
    let facts: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.facts.json"))).unwrap(),
    )
    .unwrap();
    let pcap = Pcap::read(&dir.join(format!("{name}.pcap")));
    let scratch = tempfile::tempdir().unwrap();
    let path = pcap.write(scratch.path(), &format!("{name}-{cut}.pcap"), |i, r| {
        keep(&pcap, i, r)
    });
    (dissect(&format!("{name} ({cut})"), &path, facts), scratch)
}

/// MySQL picked up in the middle of a session: everything before the packet
/// carrying `SHOW DATABASES` (greeting, login, the first query) is cut. The
/// session's later commands, with their results, must still be decoded, and
/// the connections after it in full.
#[test]
fn mysql_mid_stream() {
    let (c, _scratch) = load_cut("mysql", "mysql-session", "mid-stream", |pcap, i, _| {
        i >= pcap.first_with(b"SHOW DATABASES")
    });
    let mut check = Check::new(&c);
    let session = c
        .of("flow.end")
        .into_iter()
        .find(|e| e["mid_stream"] == true)
        .cloned();
    check.truth("the cut session is flagged mid_stream", session.is_some());
    if let Some(end) = &session {
        check.eq(
            "cut session protocol",
            str_of(&end["protocol"]),
            Some("mysql"),
        );
        check.eq(
            "cut session server port",
            end["flow"]["dst_port"].as_u64(),
            Some(3306),
        );
    }
    // Facts from SHOW DATABASES on: commands 1.., logins 2.. (the failed
    // login's connection and the session's own login are gone).
    let facts_commands = &c.facts_list("commands")[1..];
    let commands = c.of("mysql.command");
    check.eq("command count", commands.len(), facts_commands.len());
    for (i, (ours, fact)) in commands.iter().zip(facts_commands).enumerate() {
        let what = format!("command {i} {} {}", fact["command"], arg_of(fact));
        check.eq(
            format!("{what} command"),
            str_of(&ours["command"]),
            str_of(&fact["command"]),
        );
        check.eq(
            format!("{what} arg"),
            str_of(&ours["arg"]),
            Some(arg_of(fact)),
        );
        if fact["command"] != "quit" {
            check.eq(
                format!("{what} success"),
                ours["success"].as_bool(),
                fact["success"].as_bool(),
            );
        }
        check.eq(
            format!("{what} rows"),
            ours["rows"].as_u64(),
            fact["rows"].as_u64(),
        );
        check.eq(
            format!("{what} error_code"),
            ours["error_code"].as_u64(),
            fact["error_code"].as_u64(),
        );
    }
    let users: Vec<Option<&str>> = c
        .of("mysql.login")
        .iter()
        .map(|l| str_of(&l["user"]))
        .collect();
    check.eq(
        "logins after the cut",
        users,
        vec![Some("dbadmin"), Some("dbadmin")],
    );
    check.finish(format!("{} commands decoded after the cut", commands.len()));
}

/// Redis seen one way only (a tap that lost the server's side): every
/// command, with its arguments, must still come out, without replies.
#[test]
fn redis_half_duplex() {
    let server_port = 6379;
    let (c, _scratch) = load_cut("redis", "redis-session", "client-only", |_, _, r| {
        Pcap::tcp(r).is_some_and(|(src, _)| src != server_port)
    });
    let mut check = Check::new(&c);
    for end in c.of("flow.end") {
        check.eq(
            format!("flow {} protocol", end["flow"]["src_port"]),
            str_of(&end["protocol"]),
            Some("redis"),
        );
    }
    let commands = c.of("redis.command");
    let facts_commands = c.facts_list("commands");
    check.eq("command count", commands.len(), facts_commands.len());
    for (i, (ours, fact)) in commands.iter().zip(&facts_commands).enumerate() {
        let what = format!("command {i} {} {}", fact["name"], arg_of(fact));
        check.eq(
            format!("{what} name"),
            str_of(&ours["name"]),
            str_of(&fact["name"]),
        );
        if let Some(facts_args) = fact["args"].as_array() {
            check.eq(
                format!("{what} args"),
                ours["args"].as_array(),
                Some(facts_args),
            );
        }
        check.eq(format!("{what} no reply"), ours["reply"].as_str(), None);
        check.eq(
            format!("{what} no outcome"),
            ours["success"].as_bool(),
            None,
        );
    }
    let passwords: Vec<Option<&str>> = c
        .of("redis.auth")
        .iter()
        .map(|a| str_of(&a["password"]))
        .collect();
    let facts_passwords: Vec<Option<&str>> = c
        .facts_list("logins")
        .iter()
        .map(|l| str_of(&l["password"]))
        .collect();
    check.eq("passwords tried", passwords, facts_passwords);
    check.finish(format!(
        "{} commands decoded from the client's side alone",
        commands.len()
    ));
}

/// MongoDB on port 3717 picked up mid-stream: no SYN and no well-known
/// port tell which side is the server, and the probe must still find the
/// protocol. The main connection is cut just before `listDatabases`, so its
/// first packet is the client's (the monitor connection 40906 only shows
/// its closing FIN and ACK, without payload).
#[test]
fn mongo_mid_stream() {
    let (c, _scratch) = load_cut("mongo", "mongo-pymongo", "mid-stream", |pcap, i, _| {
        i >= pcap.first_with(b"listDatabases")
    });
    check_mongo_after_cut(
        &c,
        &["listDatabases", "insert", "insert", "find", "endSessions"],
    );
}

/// The same cut one packet earlier, so that the first packet is the
/// server's reply to `buildInfo`: the engine takes its sender for the
/// client (`flow::orient`: no SYN, neither port known) and the dissector
/// reads replies as commands (`version`, `databases`, `ok`, ...). Ignored
/// until the engine re-orients a mid-stream flow whose probe matched the
/// other way round (see the report of branch h-owncaps).
#[test]
fn mongo_mid_stream_server_first() {
    let (c, _scratch) = load_cut(
        "mongo",
        "mongo-pymongo",
        "mid-stream-server-first",
        |pcap, i, _| i + 1 >= pcap.first_with(b"listDatabases"),
    );
    check_mongo_after_cut(
        &c,
        &["listDatabases", "insert", "insert", "find", "endSessions"],
    );
}

fn check_mongo_after_cut(c: &Capture, expected: &[&str]) {
    let mut check = Check::new(c);
    let ends: Vec<&Value> = c
        .of("flow.end")
        .into_iter()
        .filter(|e| e["bytes_to_server"].as_u64() > Some(0))
        .collect();
    check.eq("flows with payload", ends.len(), 1);
    for end in &ends {
        check.eq("protocol", str_of(&end["protocol"]), Some("mongo"));
        check.eq("server port", end["flow"]["dst_port"].as_u64(), Some(3717));
        check.eq("mid_stream", end["mid_stream"].as_bool(), Some(true));
    }
    let commands: Vec<&str> = c
        .of("mongo.command")
        .iter()
        .filter_map(|e| e["command"].as_str())
        .collect();
    check.eq("commands after the cut", commands.as_slice(), expected);
    for e in c.of("mongo.command") {
        check.eq(
            format!("{} replied", e["command"]),
            e["replied"].as_bool(),
            Some(true),
        );
    }
    check.finish(format!(
        "mongo on port 3717 found by probe mid-stream, {} commands",
        expected.len()
    ));
}
