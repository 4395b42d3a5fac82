//! What the detector tells agents to enforce, and what agents report back.
//! Served by the detector's policy API (`docs/policy-api.md`), stored by the
//! agent as its last good policy, and published by the sandbox orchestrator
//! (one [`Sandbox`] per attacker).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// How an agent treats traffic (the four modes of the 2016 design).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every source, every port but the whitelisted ones, goes to the sandbox.
    Honeypot,
    /// Only flagged attackers go to their sandbox.
    Unreal,
    /// Flagged attackers' traffic is sent back to themselves.
    Back,
    /// Flagged attackers are dropped.
    Firewall,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Honeypot, Mode::Unreal, Mode::Back, Mode::Firewall];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Honeypot => "honeypot",
            Mode::Unreal => "unreal",
            Mode::Back => "back",
            Mode::Firewall => "firewall",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown mode {s:?} (honeypot, unreal, back or firewall)"))
    }
}

/// The whole policy an agent enforces. `version` grows with every change;
/// an agent never goes back to a lower version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub version: u64,
    pub mode: Mode,
    pub whitelist: Whitelist,
    /// Flagged attackers. Unique by `address`.
    pub attackers: Vec<Attacker>,
    /// Where honeypot mode sends sources that have no sandbox of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_sandbox: Option<Sandbox>,
}

/// Never redirected, never dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whitelist {
    /// Addresses or CIDR networks, as text (`10.0.0.5`, `192.168.0.0/16`).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Local TCP ports left alone in every mode.
    #[serde(default)]
    pub ports: Vec<u16>,
}

/// One flagged source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attacker {
    pub address: IpAddr,
    /// The rule that flagged it (or `manual`).
    pub reason: String,
    /// Unix seconds.
    pub since: i64,
    /// Unix seconds; the agent's set element times out then too.
    pub expires: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Sandbox>,
}

/// A sandbox given to one attacker: where each production port goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub id: String,
    pub endpoints: Vec<Endpoint>,
}

/// One service of a sandbox, reachable from agents and the appliance host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `ftp`, `ssh`, `rsync`, `mysql`, `redis`, `mongo` or `http`.
    pub service: String,
    pub address: IpAddr,
    pub port: u16,
}

impl Sandbox {
    pub fn endpoint(&self, service: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.service == service)
    }
}

/// `POST /api/v1/agents/heartbeat`: the agent's asset inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub host: String,
    pub agent_version: String,
    pub mode: Mode,
    /// The policy version the agent enforces now (0 before the first one).
    pub policy_version: u64,
    pub services: Vec<ServiceInfo>,
}

/// A production service the agent watches and protects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Same names as [`Endpoint::service`].
    pub name: String,
    pub port: u16,
}

/// The well-known port of each service, for mapping a production port to
/// the sandbox endpoint of the same service.
pub fn default_port(service: &str) -> Option<u16> {
    Some(match service {
        "ftp" => 21,
        "ssh" => 22,
        "http" => 80,
        "rsync" => 873,
        "mysql" => 3306,
        "redis" => 6379,
        "mongo" => 27017,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_round_trips_through_json() {
        let policy = Policy {
            version: 7,
            mode: Mode::Unreal,
            whitelist: Whitelist {
                addresses: vec!["10.0.0.0/8".into()],
                ports: vec![22],
            },
            attackers: vec![Attacker {
                address: "203.0.113.7".parse().unwrap(),
                reason: "ftp.brute_force".into(),
                since: 1_700_000_000,
                expires: 1_700_003_600,
                sandbox: Some(Sandbox {
                    id: "sb-1".into(),
                    endpoints: vec![Endpoint {
                        service: "ftp".into(),
                        address: "172.30.0.2".parse().unwrap(),
                        port: 21,
                    }],
                }),
            }],
            default_sandbox: None,
        };
        let text = serde_json::to_string(&policy).unwrap();
        assert!(text.contains(r#""mode":"unreal""#), "{text}");
        assert_eq!(serde_json::from_str::<Policy>(&text).unwrap(), policy);
    }

    #[test]
    fn modes_parse_by_name() {
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>(), Ok(mode));
        }
        assert!("mirror".parse::<Mode>().is_err());
    }
}
