//! Attacker sessions: everything one initiating address did until an idle
//! gap. Pure bookkeeping; the pipeline feeds flows and events in capture
//! order and writes the summaries it hands back.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use model::event::{CoreEvent, FlowEnd};
use model::{Event, EventBody, FlowRef, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::facts::Facts;

/// Distinct values kept per list; strings are cut at `MAX_VALUE_CHARS`.
const MAX_VALUES: usize = 1024;
const MAX_VALUE_CHARS: usize = 256;
/// Sessions kept open at once; past it the least recently active tenth
/// without open flows is written out early (a scan from many addresses).
const MAX_OPEN_SESSIONS: usize = 100_000;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub sha256: String,
    pub path: Option<String>,
    pub size: Option<u64>,
}

/// A session's summary, as stored and searched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub session_id: String,
    pub src_ip: IpAddr,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub protocols: BTreeSet<String>,
    pub dst_ips: BTreeSet<IpAddr>,
    pub dst_ports: BTreeSet<u16>,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub events: u64,
    pub anomalies: u64,
    pub logins_tried: u64,
    pub logins_succeeded: u64,
    pub users: BTreeSet<String>,
    pub passwords: BTreeSet<String>,
    pub commands: Vec<String>,
    pub files: Vec<FileRef>,
    /// A list reached its cap and later values were dropped.
    pub truncated: bool,
}

impl Summary {
    pub fn new(src_ip: IpAddr, ts: Timestamp) -> Summary {
        let mut h = Sha256::new();
        h.update(src_ip.to_string());
        h.update(ts.0.to_le_bytes());
        let session_id = format!("S{}", &hex::encode(h.finalize())[..16]);
        Summary {
            session_id,
            src_ip,
            first_seen: ts,
            last_seen: ts,
            protocols: BTreeSet::new(),
            dst_ips: BTreeSet::new(),
            dst_ports: BTreeSet::new(),
            flows: 0,
            packets: 0,
            bytes: 0,
            events: 0,
            anomalies: 0,
            logins_tried: 0,
            logins_succeeded: 0,
            users: BTreeSet::new(),
            passwords: BTreeSet::new(),
            commands: Vec::new(),
            files: Vec::new(),
            truncated: false,
        }
    }

    fn touch(&mut self, ts: Timestamp) {
        self.first_seen = self.first_seen.min(ts);
        self.last_seen = self.last_seen.max(ts);
    }

    pub fn add_flow(&mut self, flow: &FlowRef, end: &FlowEnd, end_ts: Timestamp) {
        self.touch(end.start);
        self.touch(end_ts);
        self.flows += 1;
        self.packets += end.packets_to_server + end.packets_to_client;
        self.bytes += end.bytes_to_server + end.bytes_to_client;
        if let Some(p) = &end.protocol {
            self.protocols.insert(p.clone());
        }
        if self.dst_ips.len() < MAX_VALUES {
            self.dst_ips.insert(flow.dst_ip);
        }
        if self.dst_ports.len() < MAX_VALUES {
            self.dst_ports.insert(flow.dst_port);
        }
    }

    /// Counts an event (not `flow.end`) whose JSON is `json`.
    pub fn add_event(&mut self, event: &Event, facts: &Facts) {
        self.touch(event.ts);
        self.events += 1;
        let ty = event.type_name();
        if let EventBody::Core(CoreEvent::Anomaly(_)) = &event.body {
            self.anomalies += 1;
            return;
        }
        if let Some((proto, _)) = ty.split_once('.') {
            if !self.protocols.contains(proto) {
                self.protocols.insert(proto.to_string());
            }
        }
        let s = |k: &str| facts.str(k);
        if ty.ends_with(".login") || ty.ends_with(".auth") {
            let tries = facts.u64("attempts").unwrap_or(1).max(1);
            self.logins_tried += tries;
            if facts.bool("success") == Some(true) {
                self.logins_succeeded += 1;
            }
            if let Some(p) = s("password") {
                insert_capped(&mut self.passwords, p, &mut self.truncated);
            }
        }
        for key in ["user", "username"] {
            if let Some(u) = s(key).filter(|u| !u.is_empty()) {
                insert_capped(&mut self.users, u, &mut self.truncated);
            }
        }
        if let Some(mut command) = command_line(ty, facts) {
            if self.commands.len() < MAX_VALUES {
                command.truncate(cut(&command).len());
                self.commands.push(command);
            } else {
                self.truncated = true;
            }
        }
        for key in [
            "sha256",
            "infile_sha256",
            "request_body_sha256",
            "response_body_sha256",
        ] {
            if let Some(sha) = s(key) {
                if self.files.iter().any(|f| f.sha256 == sha) {
                    continue;
                }
                if self.files.len() >= MAX_VALUES {
                    self.truncated = true;
                    break;
                }
                let size = facts.u64("size");
                self.files.push(FileRef {
                    sha256: sha.to_string(),
                    path: s("path").map(str::to_string),
                    size,
                });
            }
        }
    }

    /// Merges a later piece of the same session (continued in a later ingest).
    pub fn merge(&mut self, other: Summary) {
        self.touch(other.first_seen);
        self.touch(other.last_seen);
        self.protocols.extend(other.protocols);
        self.dst_ips.extend(other.dst_ips);
        self.dst_ports.extend(other.dst_ports);
        self.flows += other.flows;
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.events += other.events;
        self.anomalies += other.anomalies;
        self.logins_tried += other.logins_tried;
        self.logins_succeeded += other.logins_succeeded;
        self.users.extend(other.users);
        self.passwords.extend(other.passwords);
        self.commands.extend(other.commands);
        self.commands.truncate(MAX_VALUES);
        for f in other.files {
            if !self.files.iter().any(|g| g.sha256 == f.sha256) {
                self.files.push(f);
            }
        }
        self.truncated |= other.truncated;
    }
}

/// What a command event says was done, as one line.
pub fn command_line(ty: &str, facts: &Facts) -> Option<String> {
    let s = |k: &str| facts.str(k);
    let args = |k: &str| facts.strs(k).map(|a| a.join(" "));
    let joined = |a: &str, b: Option<String>| match b.filter(|b| !b.is_empty()) {
        Some(b) => format!("{a} {b}"),
        None => a.to_string(),
    };
    match ty {
        "ftp.command" => {
            let c = s("command")?;
            if c.starts_with('<') || c == "PASS" {
                return None;
            }
            Some(joined(c, s("arg").map(str::to_string)))
        }
        "mysql.command" => Some(joined(s("command")?, s("arg").map(str::to_string))),
        "redis.command" => Some(joined(s("name")?, args("args"))),
        "mongo.command" => Some(joined(s("command")?, s("collection").map(str::to_string))),
        "http.request" => Some(joined(
            s("method").unwrap_or("?"),
            s("uri").map(str::to_string),
        )),
        "rsync.module" => Some(joined(
            s("action").unwrap_or("?"),
            s("module").map(str::to_string),
        )),
        _ => None,
    }
}

fn cut(s: &str) -> &str {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

fn insert_capped(set: &mut BTreeSet<String>, value: &str, truncated: &mut bool) {
    // Most events repeat a value the session has: no copy for those.
    let value = cut(value);
    if set.contains(value) {
        return;
    }
    if set.len() >= MAX_VALUES {
        *truncated = true;
    } else {
        set.insert(value.to_string());
    }
}

/// Open sessions by initiating address.
pub struct Sessions {
    gap_micros: i64,
    open: HashMap<IpAddr, Open>,
}

struct Open {
    summary: Summary,
    /// Flows of this session that have not ended yet: it stays open.
    open_flows: u64,
    /// The session continues one already in the index (replace that document).
    replaces: bool,
}

impl Sessions {
    pub fn new(idle_gap_seconds: u64) -> Sessions {
        Sessions {
            gap_micros: (idle_gap_seconds as i64).saturating_mul(1_000_000),
            open: HashMap::new(),
        }
    }

    /// The session of activity by `ip` at `ts`, opening one when there is
    /// none or the gap since its last activity is too long (the finished
    /// one goes to `done`). `earlier` looks up a session in the index that
    /// this activity continues.
    pub fn session_for(
        &mut self,
        ip: IpAddr,
        ts: Timestamp,
        earlier: &mut dyn FnMut(IpAddr, Timestamp) -> Option<Summary>,
        done: &mut Vec<(Summary, bool)>,
    ) -> String {
        let gap = self.gap_micros;
        if let Some(open) = self.open.get(&ip) {
            if ts.0.saturating_sub(open.summary.last_seen.0) <= gap || open.open_flows > 0 {
                return open.summary.session_id.clone();
            }
            let old = self.open.remove(&ip).expect("present");
            done.push((old.summary, old.replaces));
        }
        if self.open.len() >= MAX_OPEN_SESSIONS {
            self.shed(done);
        }
        let (summary, replaces) = match earlier(ip, ts) {
            Some(s) => (s, true),
            None => (Summary::new(ip, ts), false),
        };
        let id = summary.session_id.clone();
        self.open.insert(
            ip,
            Open {
                summary,
                open_flows: 0,
                replaces,
            },
        );
        id
    }

    pub fn get_mut(&mut self, ip: IpAddr, session_id: &str) -> Option<&mut Summary> {
        self.open
            .get_mut(&ip)
            .map(|o| &mut o.summary)
            .filter(|s| s.session_id == session_id)
    }

    pub fn flow_opened(&mut self, ip: IpAddr) {
        if let Some(o) = self.open.get_mut(&ip) {
            o.open_flows += 1;
        }
    }

    pub fn flow_closed(&mut self, ip: IpAddr) {
        if let Some(o) = self.open.get_mut(&ip) {
            o.open_flows = o.open_flows.saturating_sub(1);
        }
    }

    /// Sessions idle for longer than the gap at `now` (and with no open flow).
    pub fn expire(&mut self, now: Timestamp, done: &mut Vec<(Summary, bool)>) {
        let gap = self.gap_micros;
        let idle: Vec<IpAddr> = self
            .open
            .iter()
            .filter(|(_, o)| o.open_flows == 0 && now.0.saturating_sub(o.summary.last_seen.0) > gap)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in idle {
            if let Some(o) = self.open.remove(&ip) {
                done.push((o.summary, o.replaces));
            }
        }
    }

    /// Writes out the least recently active tenth of the sessions that have
    /// no open flow.
    fn shed(&mut self, done: &mut Vec<(Summary, bool)>) {
        let mut idle: Vec<(Timestamp, IpAddr)> = self
            .open
            .iter()
            .filter(|(_, o)| o.open_flows == 0)
            .map(|(ip, o)| (o.summary.last_seen, *ip))
            .collect();
        idle.sort_unstable();
        for (_, ip) in idle.into_iter().take(MAX_OPEN_SESSIONS / 10) {
            if let Some(o) = self.open.remove(&ip) {
                done.push((o.summary, o.replaces));
            }
        }
    }

    /// Every open session, at the end of a source.
    pub fn finish(&mut self, done: &mut Vec<(Summary, bool)>) {
        let mut all: Vec<Open> = self.open.drain().map(|(_, o)| o).collect();
        all.sort_by_key(|o| o.summary.first_seen);
        done.extend(all.into_iter().map(|o| (o.summary, o.replaces)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp(seconds * 1_000_000)
    }

    /// Activity `(address, second, opens a flow, closes a flow)` in order;
    /// returns the session index of each step (0, 1, … in order of creation).
    fn check(steps: &[(&str, i64, bool, bool)], expected: &[usize]) {
        let mut sessions = Sessions::new(1800);
        let mut done = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        let mut got = Vec::new();
        for &(ip, second, opens, closes) in steps {
            let ip: IpAddr = ip.parse().unwrap();
            let id = sessions.session_for(ip, at(second), &mut |_, _| None, &mut done);
            if let Some(s) = sessions.get_mut(ip, &id) {
                s.touch(at(second));
            }
            if opens {
                sessions.flow_opened(ip);
            }
            if closes {
                sessions.flow_closed(ip);
            }
            if !ids.contains(&id) {
                ids.push(id.clone());
            }
            got.push(ids.iter().position(|x| *x == id).unwrap());
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn an_idle_gap_starts_a_new_session() {
        let a = "203.0.113.7";
        let b = "2001:db8::7";
        check(
            &[
                (a, 0, false, false),
                (a, 1799, false, false),
                (a, 3600, false, false),
            ],
            &[0, 0, 1],
        );
        check(
            &[
                (a, 0, false, false),
                (b, 10, false, false),
                (a, 20, false, false),
            ],
            &[0, 1, 0],
        );
        // An open flow keeps its session going however long it lasts.
        check(
            &[
                (a, 0, true, false),
                (a, 7200, false, true),
                (a, 7300, false, false),
            ],
            &[0, 0, 0],
        );
    }

    #[test]
    fn ids_depend_only_on_address_and_first_time() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            Summary::new(ip, at(5)).session_id,
            Summary::new(ip, at(5)).session_id
        );
        assert_ne!(
            Summary::new(ip, at(5)).session_id,
            Summary::new(ip, at(6)).session_id
        );
    }
}
