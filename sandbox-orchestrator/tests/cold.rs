//! A cold sandbox (empty warm pool) takes a spare network made ahead and
//! an RSA host key made ahead: sshd starts with all its keys, so a login
//! right after the banner works (no reload pending). Spare networks are
//! not sandboxes, survive a restart's adoption, and are refilled.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use sandbox_orchestrator::{hostkeys, Config};

#[test]
fn a_cold_sandbox_takes_a_spare_network_and_a_ready_host_key() {
    let config = Config { spare_networks: 1, ..config("cold") };
    let _cleanup = Cleanup(config.clone());
    let rt = runtime();
    let o = rt.block_on(connect(config.clone()));
    assert_eq!(rt.block_on(o.fill_pool()).unwrap(), 0, "pool_size 0: no sandbox");
    let spares = rt.block_on(o.spare_networks()).unwrap();
    assert_eq!(spares.len(), 1, "{spares:?}");
    assert!(hostkeys::stocked() >= 1, "no host key made ahead (ssh-keygen on the host?)");
    let holders = text(&run("docker", &["ps", "-q", "--filter", &format!("label=kyoka.sandbox={}", spares[0].0), "--filter", "label=kyoka.service=netns"]));
    assert_eq!(holders.lines().count(), 1, "a spare network comes with its running netns container: {holders}");
    // A spare is no sandbox, and a restarted orchestrator keeps it.
    assert!(rt.block_on(o.sandboxes()).unwrap().is_empty());
    let restarted = rt.block_on(connect(config.clone()));
    assert!(rt.block_on(restarted.adopt()).unwrap().is_empty());
    assert_eq!(rt.block_on(o.spare_networks()).unwrap(), spares);

    let attacker: IpAddr = "198.51.100.81".parse().unwrap();
    let a = rt.block_on(o.assign(attacker)).unwrap();
    assert_eq!((a.how.as_str(), a.sandbox.as_str()), ("cold", spares[0].0.as_str()));
    assert!(rt.block_on(o.spare_networks()).unwrap().is_empty());
    let sb = rt.block_on(o.get(&a.sandbox)).unwrap();
    assert_eq!(sb.attacker.as_deref(), Some("198.51.100.81"));
    assert_eq!(sb.subnet, spares[0].1);

    // The banner is enough: no RSA key is being made, no reload to come.
    let addr = sb.address_of("ssh").unwrap();
    assert!(rt.block_on(sandbox_orchestrator::probe::wait_until_answers("ssh", addr, Duration::from_secs(60))));
    let top = text(&run("docker", &["top", &sb.containers["ssh"]]));
    assert!(!top.contains("ssh-keygen") && !top.contains("/bin/sh /usr/local/sbin/kyoka-entry"), "{top}");
    let out = ssh(&addr.ip().to_string(), "test", "test", "echo cold-login; cat /etc/ssh/ssh_host_rsa_key.pub");
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("cold-login") && said.trim_end().ends_with("root@srv01"), "{said}");
    let scan = text(&run("ssh-keyscan", &["-T", "10", "-t", "rsa", &addr.ip().to_string()]));
    let public = said.lines().find(|l| l.starts_with("ssh-rsa ")).unwrap().split_whitespace().nth(1).unwrap().to_string();
    assert!(scan.contains(&public), "sshd does not serve the key put in place:\n{scan}");

    // Refilled for the next one.
    assert_eq!(rt.block_on(o.fill_spare_networks()).unwrap(), 1);
    assert_eq!(rt.block_on(o.spare_networks()).unwrap().len(), 1);
}
