//! One assignment at a time per instance, across processes: `kyoka sandbox
//! create` and the service (or two CLI calls) asking for the same attacker
//! at once would otherwise both see no sandbox and both make one, and two
//! attackers could both take the same pool sandbox. Docker offers no
//! atomic "create if absent" for a sandbox, so an exclusive lock on a file
//! (`flock`, released when the process dies) covers the decision and the
//! creation. Assignments are short (warm: tens of ms) and the service
//! assigns one attacker after another anyway.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Held while an assignment runs; dropping it releases the lock.
pub struct AssignLock {
    _file: File,
}

fn lock_path(instance: &str) -> PathBuf {
    let name: String = instance.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let run = PathBuf::from("/run/kyoka");
    let dir = match std::fs::create_dir_all(&run) {
        Ok(()) => run,
        Err(_) => std::env::temp_dir(),
    };
    dir.join(format!("sandbox-assign-{name}.lock"))
}

/// Waits for the instance's assignment lock.
pub async fn acquire(instance: &str) -> Result<AssignLock> {
    let path = lock_path(instance);
    tokio::task::spawn_blocking(move || {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        file.lock()?;
        Ok(AssignLock { _file: file })
    })
    .await
    .map_err(|e| Error::Config(format!("assignment lock: {e}")))?
}
