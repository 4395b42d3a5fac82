//! What an attacker changed on disk, kept when their sandbox is destroyed:
//! per container the `docker diff` list (changes.json) and the changed and
//! added files themselves (tar archives from the engine), up to a size cap.

use std::path::PathBuf;

use bollard::models::ChangeType;
use bollard::query_parameters::DownloadFromContainerOptions;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::Result;
use crate::orchestrator::Orchestrator;
use crate::sandbox::SandboxInfo;

/// Paths whose parent directory is not itself in the list: downloading the
/// parent brings the children along.
fn roots(mut paths: Vec<String>) -> Vec<String> {
    paths.sort();
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        if out.last().is_some_and(|last| p.starts_with(&format!("{last}/"))) {
            continue;
        }
        out.push(p);
    }
    out
}

/// Writes the evidence folder; returns its path.
pub async fn collect(o: &Orchestrator, sb: &SandboxInfo) -> Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let who = sb.attacker.clone().unwrap_or_default().replace(':', "_");
    let dir = o.config.evidence_dir.join(format!("{}-{who}-{stamp}", sb.id));
    let cap = o.config.evidence_max_mb * 1024 * 1024;
    // Archives of a paused container work, but thaw anyway: cheap and sure.
    o.thaw(sb).await?;
    for (service, container) in &sb.containers {
        let sdir = dir.join(service);
        tokio::fs::create_dir_all(&sdir).await?;
        let changes = o.docker.container_changes(container).await?.unwrap_or_default();
        let listing: Vec<serde_json::Value> = changes
            .iter()
            .map(|c| {
                let kind = match c.kind {
                    ChangeType::_0 => "modified",
                    ChangeType::_1 => "added",
                    ChangeType::_2 => "deleted",
                };
                serde_json::json!({"path": c.path, "kind": kind})
            })
            .collect();
        tokio::fs::write(sdir.join("changes.json"), serde_json::to_vec_pretty(&listing)?).await?;
        // Added paths, and modified files (modified directories only
        // because something below them changed, which is listed itself).
        let added: Vec<String> = changes.iter().filter(|c| c.kind == ChangeType::_1).map(|c| c.path.clone()).collect();
        let modified: Vec<String> = changes
            .iter()
            .filter(|c| c.kind == ChangeType::_0)
            .filter(|c| !changes.iter().any(|d| d.path.starts_with(&format!("{}/", c.path))))
            .map(|c| c.path.clone())
            .collect();
        let mut written: u64 = 0;
        for (i, path) in roots(added.into_iter().chain(modified).collect()).into_iter().enumerate() {
            if written >= cap {
                break;
            }
            let mut stream = o.docker.download_from_container(container, Some(DownloadFromContainerOptions { path: path.clone() }));
            let mut file = tokio::fs::File::create(sdir.join(format!("{i:04}.tar"))).await?;
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else { break };
                written += chunk.len() as u64;
                file.write_all(&chunk).await?;
                if written >= cap {
                    break;
                }
            }
            file.flush().await?;
        }
    }
    tokio::fs::write(dir.join("sandbox.json"), serde_json::to_vec_pretty(sb)?).await?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parents_cover_children() {
        let r = super::roots(vec!["/tmp/x".into(), "/tmp".into(), "/root/.ssh/authorized_keys".into(), "/tmpfile".into()]);
        assert_eq!(r, vec!["/root/.ssh/authorized_keys", "/tmp", "/tmpfile"]);
    }
}
