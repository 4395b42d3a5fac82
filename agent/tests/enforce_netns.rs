//! The four modes enforced for real: nftables in a production namespace
//! between an attacker, a good client and a sandbox, with redis-server and
//! small banner services on both production and sandbox.

mod common;

use agent::enforce::Enforcer;
use common::*;
use model::policy::{Attacker, Endpoint, Mode, Policy, Sandbox, ServiceInfo, Whitelist};
use std::io::Write;
use std::net::TcpListener;

fn services() -> Vec<ServiceInfo> {
    [("ftp", 21), ("ssh", 22), ("redis", 6379)]
        .into_iter()
        .map(|(n, p)| ServiceInfo {
            name: n.into(),
            port: p,
        })
        .collect()
}

fn sandbox() -> Sandbox {
    Sandbox {
        id: "sb-1".into(),
        endpoints: services()
            .into_iter()
            .map(|s| Endpoint {
                service: s.name,
                address: SANDBOX.parse().unwrap(),
                port: s.port,
            })
            .collect(),
    }
}

fn policy(version: u64, mode: Mode, attackers: &[&str], whitelist: &[&str]) -> Policy {
    let now = model::signing::now();
    Policy {
        version,
        mode,
        whitelist: Whitelist {
            addresses: whitelist.iter().map(|s| s.to_string()).collect(),
            ports: vec![22],
        },
        attackers: attackers
            .iter()
            .map(|a| Attacker {
                address: a.parse().unwrap(),
                reason: "test".into(),
                since: now,
                expires: now + 600,
                sandbox: (mode != Mode::Honeypot).then(sandbox),
            })
            .collect(),
        default_sandbox: Some(sandbox()),
    }
}

/// Production and sandbox services, and the attacker's own (for `back`).
fn lab() -> Lab {
    let mut lab = Lab::new();
    let (prod, sb, att) = (lab.prod.clone(), lab.sandbox.clone(), lab.attacker.clone());
    banner_server(&prod, 21, "production-ftp");
    banner_server(&prod, 22, "production-ssh");
    banner_server(&sb, 21, "sandbox-ftp");
    banner_server(&sb, 22, "sandbox-ssh");
    banner_server(&att, 21, "attacker-ftp");
    start_redis(&mut lab, &prod, "production");
    start_redis(&mut lab, &sb, "sandbox");
    lab
}

fn enforcer(lab: &Lab, mode: Mode) -> Enforcer {
    let mut e = Enforcer::new("kyoka", mode, "nft".into(), "conntrack".into(), services());
    let ns = lab.prod.clone();
    in_ns(&ns, move || {
        e.start_empty().expect("empty table");
        e
    })
}

fn apply(lab: &Lab, e: Enforcer, policy: Policy) -> Enforcer {
    in_ns(&lab.prod.clone(), move || {
        let mut e = e;
        e.apply(&policy).expect("apply policy");
        e
    })
}

fn remove(lab: &Lab, e: Enforcer) {
    in_ns(&lab.prod.clone(), move || {
        let mut e = e;
        e.remove().expect("remove table");
    });
    assert!(
        !lab.nft_list().contains("kyoka"),
        "table left behind:\n{}",
        lab.nft_list()
    );
}

#[test]
fn unreal_sends_only_the_attackers_new_connections_to_the_sandbox() {
    let lab = lab();
    let e = enforcer(&lab, Mode::Unreal);
    let mut open = connect(&lab.attacker, PROD_ATT, 21).unwrap();
    assert_eq!(open.line().unwrap(), "220 production-ftp");
    let e = apply(&lab, e, policy(1, Mode::Unreal, &[ATTACKER], &[]));

    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 sandbox-ftp"
    );
    assert_eq!(redis_who(&lab.attacker, PROD_ATT).unwrap(), "sandbox");
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 22).unwrap(),
        "220 production-ssh",
        "whitelisted port"
    );
    assert_eq!(
        banner(&lab.good, PROD_GOOD, 21).unwrap(),
        "220 production-ftp"
    );
    assert_eq!(redis_who(&lab.good, PROD_GOOD).unwrap(), "production");
    assert_eq!(
        open.ask("still here").unwrap(),
        "production-ftp: still here",
        "open connection kept"
    );

    // The attacker leaves the policy: back to production.
    let e = apply(&lab, e, policy(2, Mode::Unreal, &[], &[]));
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 production-ftp"
    );
    remove(&lab, e);
}

#[test]
fn honeypot_sends_every_source_but_the_whitelisted_to_the_sandbox() {
    let lab = lab();
    let e = enforcer(&lab, Mode::Honeypot);
    let mut open = connect(&lab.attacker, PROD_ATT, 21).unwrap();
    assert_eq!(open.line().unwrap(), "220 production-ftp");
    let e = apply(
        &lab,
        e,
        policy(1, Mode::Honeypot, &[], &[&format!("{GOOD}/32")]),
    );

    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 sandbox-ftp"
    );
    assert_eq!(redis_who(&lab.attacker, PROD_ATT).unwrap(), "sandbox");
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 22).unwrap(),
        "220 production-ssh",
        "whitelisted port"
    );
    assert_eq!(
        banner(&lab.good, PROD_GOOD, 21).unwrap(),
        "220 production-ftp",
        "whitelisted address"
    );
    assert_eq!(
        open.ask("still here").unwrap(),
        "production-ftp: still here"
    );
    remove(&lab, e);
}

#[test]
fn back_reflects_the_attackers_new_connections_to_itself() {
    let lab = lab();
    let e = enforcer(&lab, Mode::Back);
    let mut open = connect(&lab.attacker, PROD_ATT, 21).unwrap();
    assert_eq!(open.line().unwrap(), "220 production-ftp");
    let e = apply(&lab, e, policy(1, Mode::Back, &[ATTACKER], &[]));

    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 attacker-ftp"
    );
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 22).unwrap(),
        "220 production-ssh",
        "whitelisted port"
    );
    assert_eq!(
        banner(&lab.good, PROD_GOOD, 21).unwrap(),
        "220 production-ftp"
    );
    assert_eq!(
        open.ask("still here").unwrap(),
        "production-ftp: still here"
    );
    remove(&lab, e);
}

#[test]
fn firewall_drops_the_attackers_new_connections() {
    let lab = lab();
    let e = enforcer(&lab, Mode::Firewall);
    let mut open = connect(&lab.attacker, PROD_ATT, 21).unwrap();
    assert_eq!(open.line().unwrap(), "220 production-ftp");
    let e = apply(&lab, e, policy(1, Mode::Firewall, &[ATTACKER], &[]));

    assert!(
        banner(&lab.attacker, PROD_ATT, 21).is_err(),
        "attacker must be dropped"
    );
    assert!(redis_who(&lab.attacker, PROD_ATT).is_err());
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 22).unwrap(),
        "220 production-ssh",
        "whitelisted port"
    );
    assert_eq!(
        banner(&lab.good, PROD_GOOD, 21).unwrap(),
        "220 production-ftp"
    );
    assert_eq!(
        open.ask("still here").unwrap(),
        "production-ftp: still here"
    );
    remove(&lab, e);
}

#[test]
fn unreal_reaches_sandboxes_on_other_ports_and_addresses() {
    // Sandbox endpoints that are not on the well-known port take the
    // per-service map (attacker . port → address . port).
    let lab = lab();
    banner_server(&lab.sandbox, 2121, "sandbox-ftp-2121");
    let e = enforcer(&lab, Mode::Unreal);
    let mut p = policy(1, Mode::Unreal, &[ATTACKER], &[]);
    p.attackers[0].sandbox = Some(Sandbox {
        id: "sb-odd".into(),
        endpoints: vec![
            Endpoint {
                service: "ftp".into(),
                address: SANDBOX.parse().unwrap(),
                port: 2121,
            },
            Endpoint {
                service: "redis".into(),
                address: SANDBOX.parse().unwrap(),
                port: 6379,
            },
        ],
    });
    let e = apply(&lab, e, p);
    assert!(
        lab.nft_list().contains(". 21 timeout"),
        "{}",
        lab.nft_list()
    );
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 sandbox-ftp-2121"
    );
    assert_eq!(redis_who(&lab.attacker, PROD_ATT).unwrap(), "sandbox");
    assert_eq!(
        banner(&lab.good, PROD_GOOD, 21).unwrap(),
        "220 production-ftp"
    );
    remove(&lab, e);
}

#[test]
fn attackers_time_out_in_the_kernel_and_later_deltas_still_apply() {
    let lab = lab();
    let e = enforcer(&lab, Mode::Unreal);
    let mut p = policy(1, Mode::Unreal, &[ATTACKER], &[]);
    let expires = model::signing::now() + 4;
    p.attackers[0].expires = expires;
    let e = apply(&lab, e, p);
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 sandbox-ftp"
    );
    while model::signing::now() <= expires + 1 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The element timed out on its own: back to production.
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 production-ftp"
    );
    // The detector drops it later: a delta, not a rebuild (nothing to
    // delete that the kernel no longer has).
    let (e, applied) = in_ns(&lab.prod.clone(), move || {
        let mut e = e;
        let applied = e.apply(&policy(2, Mode::Unreal, &[], &[])).unwrap();
        (e, applied)
    });
    assert!(!applied.full, "{applied:?}");
    remove(&lab, e);
}

/// The attacker's greeting over IPv6. A connection that fails outright (not
/// one that lands in the wrong place) is tried again: with many test
/// binaries at once, IPv6 handshakes through the namespaces sometimes stall
/// for seconds.
fn banner6(lab: &Lab, to: &str) -> String {
    let mut last = String::new();
    for _ in 0..4 {
        match banner(&lab.attacker, to, 21) {
            Ok(b) => return b,
            Err(e) => last = e,
        }
    }
    panic!("{last}\n{}", lab.nft_list())
}

#[test]
fn ipv6_attackers_are_redirected_and_reflected_too() {
    let lab = lab();
    let e = enforcer(&lab, Mode::Unreal);
    let mut open = connect(&lab.attacker, PROD_ATT6, 21).unwrap();
    assert_eq!(open.line().unwrap(), "220 production-ftp");
    let mut p = policy(1, Mode::Unreal, &[ATTACKER6], &[]);
    p.attackers[0].sandbox = Some(Sandbox {
        id: "sb-6".into(),
        endpoints: vec![Endpoint {
            service: "ftp".into(),
            address: SANDBOX6.parse().unwrap(),
            port: 21,
        }],
    });
    let e = apply(&lab, e, p);
    assert_eq!(banner6(&lab, PROD_ATT6), "220 sandbox-ftp");
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 production-ftp",
        "its IPv4 address is not flagged"
    );
    assert_eq!(
        banner(&lab.good, PROD_GOOD6, 21).unwrap(),
        "220 production-ftp"
    );
    assert_eq!(
        open.ask("still here").unwrap(),
        "production-ftp: still here"
    );
    remove(&lab, e);

    let e = enforcer(&lab, Mode::Back);
    let e = apply(&lab, e, policy(1, Mode::Back, &[ATTACKER6], &[]));
    assert_eq!(banner6(&lab, PROD_ATT6), "220 attacker-ftp");
    assert_eq!(
        banner(&lab.good, PROD_GOOD6, 21).unwrap(),
        "220 production-ftp"
    );
    let _ = GOOD6;
    remove(&lab, e);
}

#[test]
fn masquerade_reaches_a_sandbox_that_does_not_route_back() {
    let lab = lab();
    // The sandbox forgets its way back through production: only its own
    // link's addresses answer.
    sh(&["ip", "-n", &lab.sandbox, "route", "del", "default"]);
    let peer = in_ns(&lab.sandbox.clone(), || {
        TcpListener::bind("0.0.0.0:2323").unwrap()
    });
    let seen = std::thread::spawn(move || {
        let (mut c, from) = peer.accept().unwrap();
        let _ = c.write_all(b"220 sandbox-peer\r\n");
        from.ip().to_string()
    });
    let mut e = enforcer(&lab, Mode::Unreal);
    e.masquerade = true;
    let mut p = policy(1, Mode::Unreal, &[ATTACKER], &[]);
    p.attackers[0].sandbox = Some(Sandbox {
        id: "sb-far".into(),
        endpoints: vec![Endpoint {
            service: "ftp".into(),
            address: SANDBOX.parse().unwrap(),
            port: 2323,
        }],
    });
    let e = apply(&lab, e, p);
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 sandbox-peer"
    );
    assert_eq!(
        seen.join().unwrap(),
        PROD_SB,
        "the sandbox sees the production host's address"
    );
    assert_eq!(
        banner(&lab.good, PROD_GOOD, 21).unwrap(),
        "220 production-ftp"
    );
    remove(&lab, e);
}
