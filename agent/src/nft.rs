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
    let redirects = matches!(mode, Mode::Unreal | Mode::Honeypot);
    if redirects && !plan.ftp_ports.is_empty() {
        let _ = writeln!(
            b,
            "  ct helper {FTP_HELPER} {{ type \"ftp\" protocol tcp; }}"
        );
    }

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
    // The FTP helper is set just before the dnat it goes with, on the same
    // match: then NAT is set up on a connection that already has its
    // helper, and the kernel makes room to rewrite the replies (227 of
    // another length) whatever its version.
    let helper = |b: &mut String, ports: Option<String>, then: &str| {
        if let Some(ports) = ports {
            let _ = writeln!(
                b,
                "    tcp dport {ports} {then}ct helper set \"{FTP_HELPER}\""
            );
        }
    };
    match mode {
        Mode::Unreal | Mode::Honeypot => {
            let ftp = port_set(plan.ftp_ports.iter().copied());
            let shared_ftp = port_set(
                plan.ports
                    .keys()
                    .copied()
                    .filter(|p| plan.ftp_ports.contains(p)),
            );
            for f in 0..2 {
                let (p, s) = (PROTO[f], SUFFIX[f]);
                helper(
                    &mut b,
                    ftp.clone(),
                    &format!("{p} saddr . tcp dport @redirect{s} "),
                );
                let _ = writeln!(b, "    dnat {p} to {p} saddr . tcp dport map @redirect{s}");
                helper(
                    &mut b,
                    shared_ftp.clone(),
                    &format!("{p} saddr @sandbox{s} "),
                );
                let _ = writeln!(b, "    meta l4proto tcp dnat {p} to {p} saddr map @sandbox{s} : tcp dport map @ports");
            }
            if mode == Mode::Honeypot {
                for f in 0..2 {
                    let (p, s) = (PROTO[f], SUFFIX[f]);
                    let nfproto = if f == 0 { "ipv4" } else { "ipv6" };
                    let default_ftp = port_set(
                        plan.default_ports
                            .iter()
                            .filter(|(port, (a, _))| fam(a) == f && plan.ftp_ports.contains(port))
                            .map(|(port, _)| *port),
                    );
                    helper(&mut b, default_ftp, &format!("meta nfproto {nfproto} "));
                    let _ = writeln!(
                        b,
                        "    meta nfproto {nfproto} dnat {p} to tcp dport map @default{s}"
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

/// The `ct helper` object (in the agent's own table, so it goes with it).
const FTP_HELPER: &str = "ftp";

/// An anonymous set of ports, `{ 21, 2100 }`, or None when empty.
fn port_set(ports: impl Iterator<Item = u16>) -> Option<String> {
    let list: Vec<String> = ports.map(|p| p.to_string()).collect();
    (!list.is_empty()).then(|| format!("{{ {} }}", list.join(", ")))
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

    fn ftp_plan(mode: Mode) -> Plan {
        let services = [
            model::policy::ServiceInfo {
                name: "ftp".into(),
                port: 2100,
            },
            model::policy::ServiceInfo {
                name: "ssh".into(),
                port: 22,
            },
        ];
        let endpoint = |service: &str, port| model::policy::Endpoint {
            service: service.into(),
            address: "192.0.2.9".parse().unwrap(),
            port,
        };
        let policy = model::policy::Policy {
            version: 1,
            mode,
            whitelist: Default::default(),
            attackers: vec![],
            default_sandbox: Some(model::policy::Sandbox {
                id: "sb".into(),
                endpoints: vec![endpoint("ftp", 21), endpoint("ssh", 22)],
            }),
        };
        Plan::build(mode, &policy, &services, 0).0
    }

    /// The lines of the prerouting chain, trimmed.
    fn prerouting(batch: &str) -> Vec<&str> {
        batch
            .split("chain prerouting {")
            .nth(1)
            .unwrap()
            .split("\n  }")
            .next()
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    }

    #[test]
    fn unreal_sets_the_ftp_helper_before_each_dnat_to_ftp() {
        let batch = render_full("kyoka", Mode::Unreal, &ftp_plan(Mode::Unreal), 0);
        assert!(batch.contains("  ct helper ftp { type \"ftp\" protocol tcp; }\n"));
        let rules = prerouting(&batch);
        let dnat = rules.iter().position(|l| l.starts_with("dnat")).unwrap();
        assert_eq!(
            rules[dnat - 1..dnat + 7],
            [
                "tcp dport { 2100 } ip saddr . tcp dport @redirect4 ct helper set \"ftp\"",
                "dnat ip to ip saddr . tcp dport map @redirect4",
                "tcp dport { 2100 } ip saddr @sandbox4 ct helper set \"ftp\"",
                "meta l4proto tcp dnat ip to ip saddr map @sandbox4 : tcp dport map @ports",
                "tcp dport { 2100 } ip6 saddr . tcp dport @redirect6 ct helper set \"ftp\"",
                "dnat ip6 to ip6 saddr . tcp dport map @redirect6",
                "tcp dport { 2100 } ip6 saddr @sandbox6 ct helper set \"ftp\"",
                "meta l4proto tcp dnat ip6 to ip6 saddr map @sandbox6 : tcp dport map @ports",
            ]
        );
        // Nothing else gets the helper: good clients' and whitelisted
        // connections to production's FTP never do.
        assert_eq!(batch.matches("ct helper set").count(), 4);
    }

    #[test]
    fn honeypot_sets_the_ftp_helper_for_the_default_sandbox_too() {
        let batch = render_full("kyoka", Mode::Honeypot, &ftp_plan(Mode::Honeypot), 0);
        let rules = prerouting(&batch);
        let default4 = rules
            .iter()
            .position(|l| l.contains("map @default4"))
            .unwrap();
        assert_eq!(
            rules[default4 - 1],
            "tcp dport { 2100 } meta nfproto ipv4 ct helper set \"ftp\""
        );
        // The default sandbox has no IPv6 endpoint: no helper rule for it.
        let default6 = rules
            .iter()
            .position(|l| l.contains("map @default6"))
            .unwrap();
        assert!(!rules[default6 - 1].contains("helper"), "{rules:#?}");
        assert_eq!(batch.matches("ct helper set").count(), 5);
    }

    #[test]
    fn back_and_firewall_and_no_ftp_have_no_helper() {
        for mode in [Mode::Back, Mode::Firewall] {
            let batch = render_full("kyoka", mode, &ftp_plan(mode), 0);
            assert!(!batch.contains("helper"), "{mode:?}:\n{batch}");
        }
        let mut plan = ftp_plan(Mode::Unreal);
        plan.ftp_ports.clear();
        let batch = render_full("kyoka", Mode::Unreal, &plan, 0);
        assert!(!batch.contains("helper"), "{batch}");
        // The empty table the agent starts with has none either.
        let batch = render_full("kyoka", Mode::Unreal, &Plan::default(), 0);
        assert!(!batch.contains("helper"), "{batch}");
    }

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
