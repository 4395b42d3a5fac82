//! Every assigned sandbox's bridge captured into the data folder (the one
//! `kyoka ingest`/`search` use), tagged with the sandbox and its attacker
//! (`capture::ops::live`).
//!
//! The orchestrator process owns the folder's one writer. Captures follow
//! Docker, the only state: on every network or volume event (a sandbox
//! network made, an assignment volume made, a network removed) and every
//! second, the sandboxes are listed and the captured bridges made to match.
//! A cold sandbox's network carries its attacker from creation, so its
//! bridge is captured before its containers start; a pool sandbox is
//! captured once assigned, which happens before it is published to agents,
//! so no attacker packet precedes the capture.
//!
//! One capture per bridge rather than one on `any`: `any` sees every packet
//! twice (on the veth and on the bridge), and its cooked header does not
//! say which bridge a packet came from, which the tag needs.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use capture::ops::live::{LiveIngest, Tag};
use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::orchestrator::Orchestrator;
use crate::sandbox::SandboxInfo;

/// Commits this often, so search sees sandbox traffic within about a second.
pub const COMMIT_EVERY: Duration = Duration::from_millis(500);

/// What a sandbox's flows carry; `None` for pool sandboxes (not captured).
pub fn tag_of(sb: &SandboxInfo) -> Option<Tag> {
    let attacker = sb.attacker.as_deref()?;
    if sb.subnet == Ipv4Addr::UNSPECIFIED {
        return None;
    }
    Some(Tag {
        sandbox: sb.id.clone(),
        attacker: attacker.parse::<IpAddr>().ok(),
        network: Some((IpAddr::V4(sb.subnet), crate::subnets::PREFIX)),
    })
}

pub struct Captures {
    live: LiveIngest,
}

impl Captures {
    /// Opens the data folder for writing (fails when another process has it).
    pub fn start(data: &Path) -> Result<Captures> {
        let options = capture::ops::Options::default();
        let live = LiveIngest::start(data, &options, COMMIT_EVERY)
            .map_err(|e| Error::Config(format!("data folder {}: {e}", data.display())))?;
        Ok(Captures { live })
    }

    /// Captures the bridge of every assigned sandbox, stops the others.
    pub fn sync(&self, sandboxes: &[SandboxInfo]) {
        let wanted: Vec<(&SandboxInfo, Tag)> = sandboxes.iter().filter_map(|s| Some((s, tag_of(s)?))).collect();
        // Only once the bridge is gone: a listing taken just before a
        // sandbox was made (another sync racing this one) must not stop it.
        for device in self.live.devices() {
            let exists = Path::new("/sys/class/net").join(&device).exists();
            if !exists && !wanted.iter().any(|(s, _)| s.bridge == device) {
                self.live.unlisten(&device);
            }
        }
        for (sb, tag) in wanted {
            if let Err(e) = self.live.listen(&sb.bridge, Some(tag)) {
                // The bridge may not be up yet: the next pass tries again.
                tracing::debug!(sandbox = %sb.id, %e, "capture not started");
            }
        }
        for e in self.live.take_errors() {
            tracing::debug!(%e, "capture ended");
        }
    }

    pub fn devices(&self) -> Vec<String> {
        self.live.devices()
    }

    /// Ends every flow and session and commits them.
    pub fn stop(self) -> Result<capture::ops::pipeline::Counts> {
        self.live.stop().map_err(|e| Error::Config(format!("live capture: {e}")))
    }
}

/// Keeps the captures in step with Docker until the task is dropped.
pub async fn follow(o: Arc<Orchestrator>, captures: Arc<Captures>) {
    use bollard::query_parameters::EventsOptions;
    use std::collections::HashMap;
    let filters = HashMap::from([("type".to_string(), vec!["network".to_string(), "volume".to_string()])]);
    loop {
        let mut events = o.docker.events(Some(EventsOptions { filters: Some(filters.clone()), ..Default::default() }));
        loop {
            if let Ok(all) = o.sandboxes().await {
                let c = captures.clone();
                let _ = tokio::task::spawn_blocking(move || c.sync(&all)).await;
            }
            match tokio::time::timeout(Duration::from_secs(1), events.next()).await {
                Ok(Some(Ok(_))) | Err(_) => {}
                // The stream ended or failed: open it again.
                Ok(Some(Err(_)) | None) => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
