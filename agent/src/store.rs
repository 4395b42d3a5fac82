//! The last good policy on disk, so a restarted agent enforces it at once
//! even while the detector is away.

use std::io::Write;
use std::path::{Path, PathBuf};

use model::policy::Policy;

use crate::error::{Error, Result};

/// Writes `bytes` to `path` so that a crash leaves the old file or the new
/// one, never a torn one: temp file, fsync, rename, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    let mut file = std::fs::File::create(&tmp)
        .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("renaming to {}", path.display()), e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub struct PolicyStore {
    path: PathBuf,
}

impl PolicyStore {
    pub fn new(state_dir: &Path) -> PolicyStore {
        PolicyStore {
            path: state_dir.join("policy.json"),
        }
    }

    pub fn save(&self, policy: &Policy) -> Result<()> {
        write_atomic(&self.path, &serde_json::to_vec_pretty(policy)?)
    }

    /// The saved policy; `None` when there is none yet. A damaged file is an
    /// error (the caller logs it and starts from nothing).
    pub fn load(&self) -> Result<Option<Policy>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", self.path.display()), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::policy::{Mode, Whitelist};

    #[test]
    fn saved_policy_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = PolicyStore::new(dir.path());
        assert_eq!(store.load().unwrap(), None);
        let policy = Policy {
            version: 3,
            mode: Mode::Firewall,
            whitelist: Whitelist::default(),
            attackers: vec![],
            default_sandbox: None,
        };
        store.save(&policy).unwrap();
        assert_eq!(store.load().unwrap(), Some(policy));
        std::fs::write(dir.path().join("policy.json"), b"{torn").unwrap();
        assert!(store.load().is_err());
    }
}
