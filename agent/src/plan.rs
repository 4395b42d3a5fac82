//! What the kernel must hold for one policy in one mode: the elements of the
//! table's sets and maps, computed once so that two plans can be diffed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use model::policy::{Mode, Policy, Sandbox, ServiceInfo};

/// One address or network of the whitelist, checked (never pasted raw into
/// an nft batch).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Net {
    pub fn parse(text: &str) -> Option<Net> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Net { addr, prefix })
    }

    /// nft wants the network address itself (host bits zero).
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }
}

/// Key of a redirect element: attacker and production port.
pub type RedirectKey = (IpAddr, u16);

/// Where a redirected connection goes and until when (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub addr: IpAddr,
    pub port: u16,
    pub expires: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub allow: Vec<Net>,
    pub allow_ports: Vec<u16>,
    /// Attackers reflected (back) or dropped (firewall), with expiry.
    pub flagged: BTreeMap<IpAddr, i64>,
    /// Attacker → its sandbox's address, for sandboxes that serve every
    /// service on its well-known port at one address (the common case: one
    /// element per attacker, ports through `ports`), with expiry.
    pub sandbox_addr: BTreeMap<IpAddr, (IpAddr, i64)>,
    /// Production port → sandbox port, shared by every `sandbox_addr` entry.
    pub ports: BTreeMap<u16, u16>,
    /// Attacker + production port → its sandbox endpoint, for the other
    /// sandboxes (one element per attacker and service).
    pub redirect: BTreeMap<RedirectKey, Target>,
    /// Honeypot: production port → default sandbox endpoint.
    pub default_ports: BTreeMap<u16, (IpAddr, u16)>,
    /// Honeypot: ports without a service of their own go to this address.
    pub default_addr: Vec<IpAddr>,
    /// Every address redirected traffic goes to (for `masquerade`).
    pub sandbox_hosts: BTreeSet<IpAddr>,
    /// Production ports whose redirected connections reach an FTP endpoint:
    /// they get the kernel's FTP conntrack helper, so passive and active
    /// data connections follow the control connection (unreal, honeypot).
    pub ftp_ports: BTreeSet<u16>,
    /// Redirected connections leave with this host's address, for sandboxes
    /// whose replies would not come back through this host.
    pub masquerade: bool,
}

/// Things a policy asked for that cannot be enforced, for the log.
#[derive(Debug, Default)]
pub struct Skipped {
    pub bad_whitelist: Vec<String>,
    pub no_sandbox: usize,
    pub expired: usize,
}

impl Plan {
    /// The plan for `policy` enforced in `mode` on a host running `services`.
    /// Elements already expired at `now` are left out.
    pub fn build(
        mode: Mode,
        policy: &Policy,
        services: &[ServiceInfo],
        now: i64,
    ) -> (Plan, Skipped) {
        let mut plan = Plan::default();
        let mut skipped = Skipped::default();
        for text in &policy.whitelist.addresses {
            match Net::parse(text) {
                Some(net) => plan.allow.push(net),
                None => skipped.bad_whitelist.push(text.clone()),
            }
        }
        plan.allow.sort();
        plan.allow.dedup();
        plan.allow_ports = policy.whitelist.ports.clone();
        plan.allow_ports.sort_unstable();
        plan.allow_ports.dedup();
        if matches!(mode, Mode::Unreal | Mode::Honeypot) {
            plan.ports = shared_ports(services);
            plan.ftp_ports = ftp_ports(services);
        }

        for attacker in &policy.attackers {
            if attacker.expires <= now {
                skipped.expired += 1;
                continue;
            }
            match mode {
                Mode::Back | Mode::Firewall => {
                    let e = plan
                        .flagged
                        .entry(attacker.address)
                        .or_insert(attacker.expires);
                    *e = (*e).max(attacker.expires);
                }
                Mode::Unreal | Mode::Honeypot => {
                    let sandbox = attacker.sandbox.as_ref().or(match mode {
                        // Honeypot sends sandbox-less sources to the default
                        // sandbox through the default map already.
                        Mode::Honeypot => None,
                        _ => policy.default_sandbox.as_ref(),
                    });
                    let Some(sandbox) = sandbox else {
                        if mode == Mode::Unreal {
                            skipped.no_sandbox += 1;
                        }
                        continue;
                    };
                    let simple = simple_address(sandbox);
                    if let Some(addr) = simple {
                        if addr.is_ipv4() == attacker.address.is_ipv4() {
                            let e = plan
                                .sandbox_addr
                                .entry(attacker.address)
                                .or_insert((addr, attacker.expires));
                            e.1 = e.1.max(attacker.expires);
                        } else {
                            skipped.no_sandbox += 1;
                        }
                        continue;
                    }
                    let mut any = false;
                    for (port, endpoint) in port_map(sandbox, services) {
                        if endpoint.0.is_ipv4() != attacker.address.is_ipv4() {
                            continue;
                        }
                        any = true;
                        plan.redirect.insert(
                            (attacker.address, port),
                            Target {
                                addr: endpoint.0,
                                port: endpoint.1,
                                expires: attacker.expires,
                            },
                        );
                    }
                    if !any {
                        skipped.no_sandbox += 1;
                    }
                }
            }
        }

        if mode == Mode::Honeypot {
            if let Some(sandbox) = &policy.default_sandbox {
                plan.default_ports = port_map(sandbox, services).into_iter().collect();
                let mut addrs: Vec<IpAddr> = sandbox.endpoints.iter().map(|e| e.address).collect();
                addrs.sort();
                addrs.dedup();
                // Every other port goes to the sandbox host only when that
                // host is unambiguous (one address per family).
                for v4 in [true, false] {
                    let fam: Vec<IpAddr> = addrs
                        .iter()
                        .copied()
                        .filter(|a| a.is_ipv4() == v4)
                        .collect();
                    if fam.len() == 1 {
                        plan.default_addr.push(fam[0]);
                    }
                }
            }
        }
        plan.sandbox_hosts = plan
            .sandbox_addr
            .values()
            .map(|(a, _)| *a)
            .chain(plan.redirect.values().map(|t| t.addr))
            .chain(plan.default_ports.values().map(|(a, _)| *a))
            .chain(plan.default_addr.iter().copied())
            .collect();
        (plan, skipped)
    }

    /// Forgets elements the kernel has timed out (or is about to) by
    /// `deadline`, so a delta never deletes what is already gone.
    pub fn prune(&mut self, deadline: i64) {
        self.flagged.retain(|_, e| *e > deadline);
        self.sandbox_addr.retain(|_, (_, e)| *e > deadline);
        self.redirect.retain(|_, t| t.expires > deadline);
    }

    /// Does `other` differ from `self` only in attackers (so a delta batch
    /// is enough)?
    pub fn same_frame(&self, other: &Plan) -> bool {
        self.allow == other.allow
            && self.allow_ports == other.allow_ports
            && self.ports == other.ports
            && self.masquerade == other.masquerade
            && self.default_ports == other.default_ports
            && self.default_addr == other.default_addr
            && self.ftp_ports == other.ftp_ports
    }
}

/// The production ports this host's services listen on, each mapped to its
/// service's well-known port (where sandboxes listen).
fn shared_ports(services: &[ServiceInfo]) -> BTreeMap<u16, u16> {
    let mut ports = BTreeMap::new();
    if services.is_empty() {
        for name in ["ftp", "ssh", "http", "rsync", "mysql", "redis", "mongo"] {
            if let Some(p) = model::policy::default_port(name) {
                ports.insert(p, p);
            }
        }
    }
    for s in services {
        if let Some(p) = model::policy::default_port(&s.name) {
            ports.insert(s.port, p);
        }
    }
    ports
}

/// The production ports an FTP sandbox endpoint is reached on: the host's
/// `ftp` services, or FTP's well-known port when it lists none (the same
/// ports `port_map` and `shared_ports` give the service).
fn ftp_ports(services: &[ServiceInfo]) -> BTreeSet<u16> {
    let ports: BTreeSet<u16> = services
        .iter()
        .filter(|s| s.name == "ftp")
        .map(|s| s.port)
        .collect();
    if ports.is_empty() {
        model::policy::default_port("ftp").into_iter().collect()
    } else {
        ports
    }
}

/// The sandbox's one address, when every endpoint is there on its service's
/// well-known port.
fn simple_address(sandbox: &Sandbox) -> Option<IpAddr> {
    let first = sandbox.endpoints.first()?.address;
    sandbox
        .endpoints
        .iter()
        .all(|e| e.address == first && model::policy::default_port(&e.service) == Some(e.port))
        .then_some(first)
}

/// Production port → sandbox endpoint of the same service. The host's own
/// services (config) name the production ports; without them a service's
/// well-known port is used.
fn port_map(sandbox: &Sandbox, services: &[ServiceInfo]) -> Vec<(u16, (IpAddr, u16))> {
    let mut out = Vec::new();
    for endpoint in &sandbox.endpoints {
        let mut ports: Vec<u16> = services
            .iter()
            .filter(|s| s.name == endpoint.service)
            .map(|s| s.port)
            .collect();
        if ports.is_empty() {
            ports.extend(model::policy::default_port(&endpoint.service));
        }
        for port in ports {
            out.push((port, (endpoint.address, endpoint.port)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::policy::{Attacker, Endpoint, Whitelist};

    fn sandbox(addr: &str) -> Sandbox {
        Sandbox {
            id: "sb".into(),
            endpoints: vec![Endpoint {
                service: "ftp".into(),
                address: addr.parse().unwrap(),
                port: 2121,
            }],
        }
    }

    fn policy() -> Policy {
        Policy {
            version: 1,
            mode: Mode::Unreal,
            whitelist: Whitelist {
                addresses: vec!["10.1.2.3/8".into(), "bad; flush ruleset".into()],
                ports: vec![22, 22],
            },
            attackers: vec![
                Attacker {
                    address: "198.51.100.1".parse().unwrap(),
                    reason: "r".into(),
                    since: 0,
                    expires: 2000,
                    sandbox: Some(sandbox("172.16.0.2")),
                },
                Attacker {
                    address: "198.51.100.2".parse().unwrap(),
                    reason: "r".into(),
                    since: 0,
                    expires: 500,
                    sandbox: None,
                },
            ],
            default_sandbox: Some(sandbox("172.16.0.9")),
        }
    }

    #[test]
    fn whitelist_is_checked_and_networks_normalised() {
        let (plan, skipped) = Plan::build(Mode::Unreal, &policy(), &[], 1000);
        assert_eq!(plan.allow.len(), 1);
        assert_eq!(plan.allow[0].network().to_string(), "10.0.0.0");
        assert_eq!(
            skipped.bad_whitelist,
            vec!["bad; flush ruleset".to_string()]
        );
        assert_eq!(plan.allow_ports, vec![22]);
        assert!(Net::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn unreal_maps_service_ports_and_skips_expired() {
        let services = [ServiceInfo {
            name: "ftp".into(),
            port: 2100,
        }];
        let (plan, skipped) = Plan::build(Mode::Unreal, &policy(), &services, 1000);
        assert_eq!(skipped.expired, 1);
        // Port 2121 is not ftp's well-known port: one element per service.
        let target = plan.redirect[&("198.51.100.1".parse().unwrap(), 2100)];
        assert_eq!(
            (target.addr.to_string(), target.port),
            ("172.16.0.2".into(), 2121)
        );
        let (plan, _) = Plan::build(Mode::Unreal, &policy(), &[], 100);
        // Without a sandbox of its own the default sandbox is used.
        assert!(plan
            .redirect
            .contains_key(&("198.51.100.2".parse().unwrap(), 21)));
        assert_eq!(plan.ports[&6379], 6379);
    }

    #[test]
    fn simple_sandboxes_take_one_element_per_attacker() {
        let mut p = policy();
        for sb in p.attackers.iter_mut().filter_map(|a| a.sandbox.as_mut()) {
            sb.endpoints[0].port = 21;
        }
        p.default_sandbox.as_mut().unwrap().endpoints[0].port = 21;
        let services = [ServiceInfo {
            name: "ftp".into(),
            port: 2100,
        }];
        let (plan, _) = Plan::build(Mode::Unreal, &p, &services, 100);
        assert!(plan.redirect.is_empty());
        assert_eq!(
            plan.sandbox_addr[&"198.51.100.1".parse().unwrap()],
            ("172.16.0.2".parse().unwrap(), 2000)
        );
        assert_eq!(plan.ports.iter().collect::<Vec<_>>(), [(&2100, &21)]);
    }

    #[test]
    fn honeypot_has_default_map_and_firewall_has_flagged_set() {
        let (plan, _) = Plan::build(Mode::Honeypot, &policy(), &[], 100);
        assert_eq!(
            plan.default_ports[&21],
            ("172.16.0.9".parse().unwrap(), 2121)
        );
        assert_eq!(
            plan.default_addr,
            vec!["172.16.0.9".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(plan.redirect.len(), 1);
        let (plan, _) = Plan::build(Mode::Firewall, &policy(), &[], 100);
        assert_eq!(plan.flagged.len(), 2);
        assert!(plan.redirect.is_empty());
    }

    #[test]
    fn ftp_ports_are_the_hosts_ftp_services_in_redirecting_modes_only() {
        let services = [
            ServiceInfo {
                name: "ftp".into(),
                port: 2100,
            },
            ServiceInfo {
                name: "ssh".into(),
                port: 22,
            },
        ];
        let (plan, _) = Plan::build(Mode::Unreal, &policy(), &services, 100);
        assert_eq!(plan.ftp_ports.iter().collect::<Vec<_>>(), [&2100]);
        let (plan, _) = Plan::build(Mode::Honeypot, &policy(), &[], 100);
        assert_eq!(plan.ftp_ports.iter().collect::<Vec<_>>(), [&21]);
        // A host that lists no FTP still has its sandbox's FTP on port 21.
        let (plan, _) = Plan::build(Mode::Unreal, &policy(), &services[1..], 100);
        assert_eq!(plan.ftp_ports.iter().collect::<Vec<_>>(), [&21]);
        for mode in [Mode::Back, Mode::Firewall] {
            let (plan, _) = Plan::build(mode, &policy(), &services, 100);
            assert!(plan.ftp_ports.is_empty(), "{mode:?}");
        }
    }
}
