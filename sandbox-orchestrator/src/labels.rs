//! Labels on everything the orchestrator makes: Docker is the only state,
//! so a restarted orchestrator finds its sandboxes by these.

pub const SANDBOX: &str = "kyoka.sandbox";
pub const INSTANCE: &str = "kyoka.instance";
pub const ATTACKER: &str = "kyoka.attacker";
pub const SERVICE: &str = "kyoka.service";
/// On the network: the sandbox's /27.
pub const SUBNET: &str = "kyoka.subnet";
/// On a network made ahead of need (see `spare_networks` in the config):
/// until a container joins it, it is a spare, not a sandbox.
pub const SPARE: &str = "kyoka.spare";

/// `kyoka.attacker` of pool sandboxes created before anyone was assigned.
pub const POOL: &str = "pool";
/// `kyoka.attacker` of the sandbox attackers share once `max_sandboxes` is reached.
pub const SHARED: &str = "shared";
/// `kyoka.service` of the network and of the assignment volume.
pub const NETWORK: &str = "network";
/// `kyoka.service` of the container that holds a sandbox's network
/// namespace (its one address on the sandbox network); every service
/// container joins it, as the daemons of one real server share its address.
pub const NETNS: &str = "netns";
pub const ASSIGNMENT: &str = "assignment";

/// Assignment of a pool sandbox: labels cannot change after creation, so
/// handing a pool sandbox to an attacker creates a tiny labelled volume.
pub fn assignment_volume(sandbox: &str) -> String {
    format!("kyoka-assign-{sandbox}")
}

pub fn container_name(sandbox: &str, service: &str) -> String {
    format!("kyoka-{sandbox}-{service}")
}

pub fn network_name(sandbox: &str) -> String {
    format!("kyoka-{sandbox}")
}

/// The bridge device: `kyk-` + the id's random part (15 characters at most).
pub fn bridge_name(sandbox: &str) -> String {
    let suffix = sandbox.trim_start_matches("sb-");
    format!("{}{}", crate::containment::BRIDGE_PREFIX, &suffix[..suffix.len().min(11)])
}
