//! The pipeline on one thread: packets in, events out. (Being written.)

use std::path::Path;

use model::Event;

use crate::artifact::ArtifactStore;

/// Dissects a whole capture file and returns its events in capture order.
pub fn dissect_file(path: &Path, artifacts: &ArtifactStore) -> crate::Result<Vec<Event>> {
    let _ = (path, artifacts);
    Ok(Vec::new())
}
