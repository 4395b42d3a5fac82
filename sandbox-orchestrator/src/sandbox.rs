//! What a sandbox is, as read back from Docker's labels.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Serialize;

use crate::services;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Pre-created, paused, nobody's yet.
    Pooled,
    /// Given to an attacker and running.
    Active,
    /// Given to an attacker, paused after being idle.
    Frozen,
    /// Containers or network missing, or a pre-create that never finished.
    Broken,
}

#[derive(Clone, Debug, Serialize)]
pub struct SandboxInfo {
    pub id: String,
    /// The attacker's address, `shared`, or None for a pool sandbox.
    pub attacker: Option<String>,
    pub state: State,
    pub subnet: Ipv4Addr,
    pub bridge: String,
    /// service → container id.
    pub containers: BTreeMap<String, String>,
    /// The running container holding the network namespace the services
    /// share (see [`crate::labels::NETNS`]); None when it is gone.
    #[serde(skip)]
    pub netns: Option<String>,
    #[serde(skip)]
    pub paused: usize,
    #[serde(skip)]
    pub running: usize,
}

impl SandboxInfo {
    pub fn endpoints(&self, services: &[String]) -> Vec<model::policy::Endpoint> {
        services
            .iter()
            .filter_map(|name| services::spec(name))
            .map(|s| model::policy::Endpoint {
                service: s.name.to_string(),
                address: self.address(),
                port: s.port,
            })
            .collect()
    }

    pub fn policy(&self, services: &[String]) -> model::policy::Sandbox {
        model::policy::Sandbox { id: self.id.clone(), endpoints: self.endpoints(services) }
    }

    pub fn address_of(&self, service: &str) -> Option<SocketAddr> {
        let s = services::spec(service)?;
        Some(SocketAddr::new(self.address(), s.port))
    }

    /// The one address all its services listen on.
    pub fn address(&self) -> IpAddr {
        IpAddr::V4(crate::subnets::host(self.subnet, crate::subnets::SANDBOX_HOST))
    }

    pub fn is_shared(&self) -> bool {
        self.attacker.as_deref() == Some(crate::labels::SHARED)
    }
}

/// What `kyoka sandbox create` prints.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Assignment {
    pub sandbox: String,
    pub attacker: String,
    /// `warm` (from the pool), `cold` (created now), `existing` or `shared`.
    pub how: String,
    pub endpoints: Vec<model::policy::Endpoint>,
}
