//! nftables batches for the agent's own table (`inet <table>`), applied with
//! `nft -f -` so that each change is one transaction.
//!
//! Every packet costs one set or map lookup whatever the number of
//! attackers: attackers live in sets and maps with per-element timeouts,
//! never in rules.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use model::policy::Mode;

use crate::error::{Error, Result};
use crate::plan::Plan;

fn fam(a: &IpAddr) -> usize {
    if a.is_ipv4() {
        0
    } else {
        1
    }
}
const SUFFIX: [&str; 2] = ["4", "6"];
const TYPE: [&str; 2] = ["ipv4_addr", "ipv6_addr"];
const PROTO: [&str; 2] = ["ip", "ip6"];

/// Seconds left before `expires`, at least 1 (nft refuses 0).
fn timeout(expires: i64, now: i64) -> i64 {
    (expires - now).max(1)
}

/// The whole table for `plan` in `mode`: created if missing, deleted and
/// defined again in one batch, so the kernel never holds a half table.
pub fn render_full(table: &str, mode: Mode, plan: &Plan, now: i64) -> String {
    let mut b = String::with_capacity(256 + 96 * (plan.redirect.len() + plan.flagged.len()));
    let _ = writeln!(
        b,
        "table inet {table} {{}}\ndelete table inet {table}\ntable inet {table} {{"
    );
    for f in 0..2 {
        let s = SUFFIX[f];
        let t = TYPE[f];
        let _ = write!(b, "  set allow{s} {{ type {t}; flags interval; ");
        elements(
            &mut b,
            plan.allow.iter().filter(|n| fam(&n.addr) == f),
            |b, n| {
                let _ = write!(b, "{}/{}", n.network(), n.prefix);
            },
        );
        b.push_str("}\n");
        let _ = write!(b, "  set flagged{s} {{ type {t}; flags timeout; ");
        elements(
            &mut b,
            plan.flagged.iter().filter(|(a, _)| fam(a) == f),
            |b, (a, e)| {
                let _ = write!(b, "{a} timeout {}s", timeout(*e, now));
            },
        );
        b.push_str("}\n");
        let _ = write!(
            b,
            "  map redirect{s} {{ type {t} . inet_service : {t} . inet_service; flags timeout; "
        );
        elements(
            &mut b,
            plan.redirect.iter().filter(|((a, _), _)| fam(a) == f),
            |b, ((a, p), t)| {
                let _ = write!(
                    b,
                    "{a} . {p} timeout {}s : {} . {}",
                    timeout(t.expires, now),
                    t.addr,
                    t.port
                );
            },
        );
        b.push_str("}\n");
        let _ = write!(b, "  map sandbox{s} {{ type {t} : {t}; flags timeout; ");
        elements(
            &mut b,
            plan.sandbox_addr.iter().filter(|(a, _)| fam(a) == f),
            |b, (a, (to, e))| {
                let _ = write!(b, "{a} timeout {}s : {to}", timeout(*e, now));
            },
        );
        b.push_str("}\n");
        let _ = write!(b, "  set hosts{s} {{ type {t}; ");
        elements(
            &mut b,
            plan.sandbox_hosts.iter().filter(|a| fam(a) == f),
            |b, a| {
                let _ = write!(b, "{a}");
            },
        );
        b.push_str("}\n");
        let _ = write!(
            b,
            "  map default{s} {{ type inet_service : {t} . inet_service; "
        );
        elements(
            &mut b,
            plan.default_ports.iter().filter(|(_, (a, _))| fam(a) == f),
            |b, (p, (a, q))| {
                let _ = write!(b, "{p} : {a} . {q}");
            },
        );
        b.push_str("}\n");
    }
    b.push_str("  map ports { type inet_service : inet_service; ");
    elements(&mut b, plan.ports.iter(), |b, (p, q)| {
        let _ = write!(b, "{p} : {q}");
    });
    b.push_str("}\n");
    b.push_str("  set allow_ports { type inet_service; ");
    elements(&mut b, plan.allow_ports.iter(), |b, p| {
        let _ = write!(b, "{p}");
    });
    b.push_str("}\n");

    // Redirects (and reflection) apply to the first packet of a connection
    // only: a pure SYN. A connection picked up mid-stream (after its
    // conntrack entry was flushed) stays where it is.
    b.push_str(
        "  chain prerouting {\n    type nat hook prerouting priority dstnat - 10; policy accept;\n\
         \x20   meta l4proto != tcp return\n\
         \x20   tcp flags & (fin|syn|rst|ack) != syn return\n\
         \x20   ip saddr @allow4 return\n    ip6 saddr @allow6 return\n\
         \x20   tcp dport @allow_ports return\n",
    );
    match mode {
        Mode::Unreal | Mode::Honeypot => {
            for f in 0..2 {
                let (p, s) = (PROTO[f], SUFFIX[f]);
                let _ = writeln!(b, "    dnat {p} to {p} saddr . tcp dport map @redirect{s}");
                let _ = writeln!(b, "    meta l4proto tcp dnat {p} to {p} saddr map @sandbox{s} : tcp dport map @ports");
            }
            if mode == Mode::Honeypot {
                for f in 0..2 {
                    let (p, s) = (PROTO[f], SUFFIX[f]);
                    let _ = writeln!(
                        b,
                        "    meta nfproto {} dnat {p} to tcp dport map @default{s}",
                        if f == 0 { "ipv4" } else { "ipv6" }
                    );
                }
                for a in &plan.default_addr {
                    let p = PROTO[fam(a)];
                    let _ = writeln!(
                        b,
                        "    meta nfproto {} dnat {p} to {a}",
                        if fam(a) == 0 { "ipv4" } else { "ipv6" }
                    );
                }
            }
        }
        Mode::Back => {
            for f in 0..2 {
                let (p, s) = (PROTO[f], SUFFIX[f]);
                let _ = writeln!(b, "    {p} saddr @flagged{s} dnat {p} to {p} saddr");
            }
        }
        Mode::Firewall => {}
    }
    b.push_str("  }\n");
    // Reflected packets would leave with the attacker's own address as both
    // source and destination (martian): the host's address replaces it.
    b.push_str("  chain postrouting {\n    type nat hook postrouting priority srcnat - 10; policy accept;\n");
    if mode == Mode::Back {
        for f in 0..2 {
            let (p, s) = (PROTO[f], SUFFIX[f]);
            let _ = writeln!(b, "    ct status dnat {p} daddr @flagged{s} masquerade");
        }
    }
    if plan.masquerade && matches!(mode, Mode::Unreal | Mode::Honeypot) {
        for f in 0..2 {
            let (p, s) = (PROTO[f], SUFFIX[f]);
            let _ = writeln!(b, "    ct status dnat {p} daddr @hosts{s} masquerade");
        }
    }
    b.push_str("  }\n");
    // Tracking starts with the table (a ct rule), before the first redirect:
    // without it open connections are untracked and a new DNAT rule would
    // take them over.
    b.push_str(
        "  chain filter {\n    type filter hook prerouting priority mangle - 10; policy accept;\n\
         \x20   ct state established,related accept\n",
    );
    if mode == Mode::Firewall {
        b.push_str("    ip saddr @allow4 accept\n    ip6 saddr @allow6 accept\n");
        b.push_str("    meta l4proto tcp tcp dport @allow_ports accept\n");
        b.push_str(
            "    ct state new ip saddr @flagged4 drop\n    ct state new ip6 saddr @flagged6 drop\n",
        );
    }
    b.push_str("  }\n}\n");
    b
}

fn elements<I: Iterator<Item = T>, T>(
    b: &mut String,
    mut items: I,
    mut put: impl FnMut(&mut String, T),
) {
    let Some(first) = items.next() else { return };
    b.push_str("elements = { ");
    put(b, first);
    for item in items {
        b.push_str(", ");
        put(b, item);
    }
    b.push_str(" }; ");
}

/// Only the attackers that changed between `old` and `new` (same frame):
/// deletes first, then adds, in one batch. A changed expiry is a delete and
/// an add.
pub fn render_delta(table: &str, old: &Plan, new: &Plan, now: i64) -> Option<String> {
    let mut del: [Vec<String>; 2] = Default::default();
    let mut add: [Vec<String>; 2] = Default::default();
    let mut rdel: [Vec<String>; 2] = Default::default();
    let mut radd: [Vec<String>; 2] = Default::default();
    let mut sdel: [Vec<String>; 2] = Default::default();
    let mut sadd: [Vec<String>; 2] = Default::default();
    for (a, v) in &old.sandbox_addr {
        if new.sandbox_addr.get(a) != Some(v) {
            sdel[fam(a)].push(a.to_string());
        }
    }
    for (a, (to, e)) in &new.sandbox_addr {
        if old.sandbox_addr.get(a) != Some(&(*to, *e)) {
            sadd[fam(a)].push(format!("{a} timeout {}s : {to}", timeout(*e, now)));
        }
    }
    for (a, e) in &old.flagged {
        if new.flagged.get(a) != Some(e) {
            del[fam(a)].push(a.to_string());
        }
    }
    for (a, e) in &new.flagged {
        if old.flagged.get(a) != Some(e) {
            add[fam(a)].push(format!("{a} timeout {}s", timeout(*e, now)));
        }
    }
    for ((a, p), t) in &old.redirect {
        if new.redirect.get(&(*a, *p)) != Some(t) {
            rdel[fam(a)].push(format!("{a} . {p}"));
        }
    }
    for ((a, p), t) in &new.redirect {
        if old.redirect.get(&(*a, *p)) != Some(t) {
            radd[fam(a)].push(format!(
                "{a} . {p} timeout {}s : {} . {}",
                timeout(t.expires, now),
                t.addr,
                t.port
            ));
        }
    }
    let mut hdel: [Vec<String>; 2] = Default::default();
    let mut hadd: [Vec<String>; 2] = Default::default();
    for a in old.sandbox_hosts.difference(&new.sandbox_hosts) {
        hdel[fam(a)].push(a.to_string());
    }
    for a in new.sandbox_hosts.difference(&old.sandbox_hosts) {
        hadd[fam(a)].push(a.to_string());
    }
    let mut b = String::new();
    for f in 0..2 {
        let s = SUFFIX[f];
        for (verb, name, items) in [
            ("delete", "flagged", &del[f]),
            ("delete", "redirect", &rdel[f]),
            ("delete", "sandbox", &sdel[f]),
            ("delete", "hosts", &hdel[f]),
        ] {
            if !items.is_empty() {
                let _ = writeln!(
                    b,
                    "{verb} element inet {table} {name}{s} {{ {} }}",
                    items.join(", ")
                );
            }
        }
    }
    for f in 0..2 {
        let s = SUFFIX[f];
        for (verb, name, items) in [
            ("add", "flagged", &add[f]),
            ("add", "redirect", &radd[f]),
            ("add", "sandbox", &sadd[f]),
            ("add", "hosts", &hadd[f]),
        ] {
            if !items.is_empty() {
                let _ = writeln!(
                    b,
                    "{verb} element inet {table} {name}{s} {{ {} }}",
                    items.join(", ")
                );
            }
        }
    }
    (!b.is_empty()).then_some(b)
}

/// Runs `nft -f -` with `batch` on stdin: one transaction, all or nothing.
pub fn apply(nft: &Path, batch: &str) -> Result<()> {
    let mut child = Command::new(nft)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft(format!("starting {}: {e}", nft.display())))?;
    let mut stdin = child.stdin.take().expect("piped");
    let written = stdin.write_all(batch.as_bytes());
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Nft(format!("waiting for nft: {e}")))?;
    if !out.status.success() {
        let mut err = String::from_utf8_lossy(&out.stderr).into_owned();
        err.truncate(2000);
        return Err(Error::Nft(format!("{}: {err}", out.status)));
    }
    written.map_err(|e| Error::Nft(format!("writing batch: {e}")))
}

/// Removes the table if it exists (a clean stop leaves no rule behind).
pub fn delete_table(nft: &Path, table: &str) -> Result<()> {
    apply(
        nft,
        &format!("table inet {table} {{}}\ndelete table inet {table}\n"),
    )
}

/// Forgets the connections tracked from `addr`, so its next connection meets
/// the new rules. Connections it already has are picked up again mid-stream
/// and are not redirected (the rules only redirect a pure SYN).
pub fn flush_conntrack(conntrack: &Path, addr: IpAddr) -> Result<()> {
    let out = Command::new(conntrack)
        .args(["-D", "-s", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Nft(format!("starting {}: {e}", conntrack.display())))?;
    // Exit status 1 with "0 flow entries" just means there was nothing.
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || err.contains("0 flow entries") {
        Ok(())
    } else {
        Err(Error::Nft(format!(
            "conntrack -D -s {addr}: {}",
            err.trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Target;

    #[test]
    fn delta_deletes_changed_and_adds_new() {
        let mut old = Plan::default();
        old.flagged.insert("192.0.2.1".parse().unwrap(), 100);
        old.flagged.insert("192.0.2.2".parse().unwrap(), 100);
        let mut new = old.clone();
        new.flagged.remove(&"192.0.2.1".parse().unwrap());
        new.flagged.insert("192.0.2.2".parse().unwrap(), 200);
        new.redirect.insert(
            ("2001:db8::1".parse().unwrap(), 21),
            Target {
                addr: "2001:db8::9".parse().unwrap(),
                port: 21,
                expires: 300,
            },
        );
        let d = render_delta("kyoka", &old, &new, 50).unwrap();
        assert_eq!(
            d,
            "delete element inet kyoka flagged4 { 192.0.2.1, 192.0.2.2 }\n\
             add element inet kyoka flagged4 { 192.0.2.2 timeout 150s }\n\
             add element inet kyoka redirect6 { 2001:db8::1 . 21 timeout 250s : 2001:db8::9 . 21 }\n"
        );
        assert!(render_delta("kyoka", &new, &new, 50).is_none());
    }
}
