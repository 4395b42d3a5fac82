//! Extracted files (FTP transfers, HTTP uploads), keyed by SHA-256.
//!
//! Writers stream: bytes are hashed and, when the store has a folder,
//! spooled to a temporary file that is renamed to its hash on `finish`.
//! Memory use does not depend on the file's size.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Clone, Debug, Default)]
pub struct ArtifactStore {
    dir: Option<PathBuf>,
}

impl ArtifactStore {
    /// A store that only hashes and keeps nothing.
    pub fn hash_only() -> ArtifactStore {
        ArtifactStore { dir: None }
    }

    /// A store that keeps every artifact as `DIR/<sha256>`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> crate::Result<ArtifactStore> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(crate::Error::Artifact)?;
        Ok(ArtifactStore { dir: Some(dir) })
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// A writer; its temporary file is created at the first byte, so
    /// empty artifacts cost no file system work.
    pub fn writer(&self) -> ArtifactWriter {
        ArtifactWriter {
            hasher: Sha256::new(),
            size: 0,
            file: None,
            dir: self.dir.clone(),
            failed: false,
        }
    }
}

pub struct ArtifactWriter {
    hasher: Sha256,
    size: u64,
    file: Option<tempfile::NamedTempFile>,
    dir: Option<PathBuf>,
    /// Keeping failed (no temporary file, or out of disk): only hash.
    failed: bool,
}

/// A finished artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub sha256: String,
    pub size: u64,
    /// Where the bytes were kept, when the store has a folder.
    pub path: Option<PathBuf>,
}

impl ArtifactWriter {
    pub fn write(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.hasher.update(data);
        self.size += data.len() as u64;
        if self.file.is_none() && !self.failed {
            self.file = self.dir.as_ref().and_then(|dir| {
                tempfile::Builder::new()
                    .prefix(".partial-")
                    .tempfile_in(dir)
                    .ok()
            });
            self.failed = self.file.is_none();
        }
        if let Some(file) = &mut self.file {
            if file.write_all(data).is_err() {
                // Out of disk: keep hashing, stop keeping.
                self.file = None;
                self.failed = true;
            }
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> Artifact {
        let sha256 = hex::encode(self.hasher.finalize());
        let path = match (self.file, self.dir) {
            (Some(file), Some(dir)) => {
                let target = dir.join(&sha256);
                if target.exists() {
                    Some(target)
                } else {
                    file.persist(&target).ok().map(|_| target)
                }
            }
            // An empty artifact is kept too, as it was before files were
            // created lazily.
            (None, Some(dir)) if self.size == 0 && !self.failed => {
                let target = dir.join(&sha256);
                (target.exists() || fs::File::create(&target).is_ok()).then_some(target)
            }
            _ => None,
        };
        Artifact {
            sha256,
            size: self.size,
            path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_under_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::in_dir(dir.path()).unwrap();
        let mut w = store.writer();
        w.write(b"hello ");
        w.write(b"world");
        let a = w.finish();
        assert_eq!(
            a.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(a.size, 11);
        assert_eq!(fs::read(a.path.unwrap()).unwrap(), b"hello world");
    }

    #[test]
    fn writers_touch_the_disk_only_for_bytes_and_empty_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::in_dir(dir.path()).unwrap();
        let writers: Vec<ArtifactWriter> = (0..100).map(|_| store.writer()).collect();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(writers);
        let empty = store.writer().finish();
        assert_eq!(empty.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(fs::read(empty.path.unwrap()).unwrap(), b"");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
