//! Pack files: artifacts that fit in a writer's spool are appended to a
//! few large files instead of one file each. Creating a file per artifact
//! cost ext4 inode allocation, the largest share of `kyoka ingest`'s system
//! time (and slowest right after many files were deleted).
//!
//! `DIR/NNNNNNNN.pack` holds the bytes, `DIR/NNNNNNNN.idx` one 48-byte
//! entry per artifact (SHA-256, offset, length), written after its bytes.
//! Both only grow, so a reader (another process) catches up by reading the
//! entries past those it has seen. An entry whose bytes are not all in the
//! pack (a crash between the two writes) is ignored, and the writer that
//! opens the pack next cuts both files back to their last whole entry.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap as HashMap;

/// A pack is closed once it holds this many bytes.
pub const PACK_BYTES: u64 = 64 << 20;
const ENTRY: u64 = 48;

pub type Sha256 = [u8; 32];

/// Where a packed artifact's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub pack: u32,
    pub offset: u64,
    pub len: u64,
}

pub fn pack_path(dir: &Path, pack: u32) -> PathBuf {
    dir.join(format!("{pack:08}.pack"))
}

fn idx_path(dir: &Path, pack: u32) -> PathBuf {
    dir.join(format!("{pack:08}.idx"))
}

/// The packs in `dir`, by number.
pub fn packs(dir: &Path) -> io::Result<Vec<u32>> {
    let mut ids: Vec<u32> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name();
                name.to_str()?.strip_suffix(".idx")?.parse().ok()
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    ids.sort_unstable();
    Ok(ids)
}

fn encode(sha: &Sha256, offset: u64, len: u64) -> [u8; ENTRY as usize] {
    let mut e = [0u8; ENTRY as usize];
    e[..32].copy_from_slice(sha);
    e[32..40].copy_from_slice(&offset.to_le_bytes());
    e[40..].copy_from_slice(&len.to_le_bytes());
    e
}

fn decode(e: &[u8]) -> (Sha256, u64, u64) {
    let mut sha = [0u8; 32];
    sha.copy_from_slice(&e[..32]);
    let word = |r: std::ops::Range<usize>| u64::from_le_bytes(e[r].try_into().unwrap_or_default());
    (sha, word(32..40), word(40..48))
}

/// Every packed artifact's slot, read from the `.idx` files and brought up
/// to date by [`PackIndex::refresh`].
#[derive(Debug, Default)]
pub struct PackIndex {
    dir: PathBuf,
    slots: HashMap<Sha256, Slot>,
    /// Bytes of each pack's `.idx` read so far.
    seen: BTreeMap<u32, u64>,
}

impl PackIndex {
    pub fn load(dir: &Path) -> io::Result<PackIndex> {
        let mut index = PackIndex {
            dir: dir.to_path_buf(),
            ..PackIndex::default()
        };
        index.refresh()?;
        Ok(index)
    }

    pub fn get(&self, sha: &Sha256) -> Option<Slot> {
        self.slots.get(sha).copied()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&Sha256, &Slot)> {
        self.slots.iter()
    }

    pub fn insert(&mut self, sha: Sha256, slot: Slot) {
        self.slots.entry(sha).or_insert(slot);
    }

    /// Reads the entries written since the last look, and forgets packs
    /// that are gone.
    pub fn refresh(&mut self) -> io::Result<()> {
        let ids = packs(&self.dir)?;
        let gone: Vec<u32> = self
            .seen
            .keys()
            .filter(|id| ids.binary_search(id).is_err())
            .copied()
            .collect();
        if !gone.is_empty() {
            self.slots.retain(|_, s| !gone.contains(&s.pack));
            gone.iter().for_each(|id| {
                self.seen.remove(id);
            });
        }
        for id in ids {
            let from = self.seen.get(&id).copied().unwrap_or(0);
            let (entries, read) = match read_entries(&self.dir, id, from) {
                Ok(x) => x,
                // Removed between the listing and the read.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for (sha, slot) in entries {
                self.insert(sha, slot);
            }
            self.seen.insert(id, read);
        }
        Ok(())
    }
}

/// The whole entries of pack `id` from byte `from` of its `.idx` whose
/// bytes are in the pack, and the `.idx` bytes they end at.
fn read_entries(dir: &Path, id: u32, from: u64) -> io::Result<(Vec<(Sha256, Slot)>, u64)> {
    let mut idx = File::open(idx_path(dir, id))?;
    let pack_len = match fs::metadata(pack_path(dir, id)) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    idx.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    idx.read_to_end(&mut bytes)?;
    let mut out = Vec::with_capacity(bytes.len() / ENTRY as usize);
    let mut read = from;
    for e in bytes.chunks_exact(ENTRY as usize) {
        let (sha, offset, len) = decode(e);
        if offset.checked_add(len).is_none_or(|end| end > pack_len) {
            // Bytes not (yet) in the pack: stop here, look again later.
            break;
        }
        out.push((sha, Slot { pack: id, offset, len }));
        read += ENTRY;
    }
    Ok((out, read))
}

/// The slot of one artifact, by reading the `.idx` files newest first
/// (a reader that looks up one artifact need not load them all).
pub fn find(dir: &Path, sha: &Sha256) -> io::Result<Option<Slot>> {
    for id in packs(dir)?.into_iter().rev() {
        match read_entries(dir, id, 0) {
            Ok((entries, _)) => {
                if let Some((_, slot)) = entries.into_iter().find(|(s, _)| s == sha) {
                    return Ok(Some(slot));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Appends artifacts to the newest pack, a new one when it is full.
#[derive(Debug)]
pub struct PackWriter {
    dir: PathBuf,
    id: u32,
    pack: File,
    idx: File,
    len: u64,
    /// Bytes written since the last `sync`.
    dirty: bool,
    /// Packs closed since the last `sync`, being synced on threads of
    /// their own (syncing them when they close stalled the pipeline for
    /// each 64 MiB written; syncing them all at the commit point, the
    /// commit); `sync` waits for them.
    closed: Vec<std::thread::JoinHandle<io::Result<()>>>,
}

impl PackWriter {
    /// Opens the newest pack of `dir` for appending (cut back to its last
    /// whole entry), or a new one when it is full or there is none.
    pub fn open(dir: &Path) -> io::Result<PackWriter> {
        fs::create_dir_all(dir)?;
        match packs(dir)?.last() {
            Some(&id) => {
                let (entries, idx_len) = read_entries(dir, id, 0)?;
                let end = entries.iter().map(|(_, s)| s.offset + s.len).max().unwrap_or(0);
                let pack = OpenOptions::new().create(true).write(true).truncate(false).open(pack_path(dir, id))?;
                let idx = OpenOptions::new().write(true).open(idx_path(dir, id))?;
                pack.set_len(end)?;
                idx.set_len(idx_len)?;
                let mut w = PackWriter {
                    dir: dir.to_path_buf(),
                    id,
                    pack,
                    idx,
                    len: end,
                    dirty: false,
                    closed: Vec::new(),
                };
                w.pack.seek(SeekFrom::Start(end))?;
                w.idx.seek(SeekFrom::Start(idx_len))?;
                if end >= PACK_BYTES {
                    w.roll()?;
                }
                Ok(w)
            }
            None => PackWriter::create(dir, 1),
        }
    }

    fn create(dir: &Path, first: u32) -> io::Result<PackWriter> {
        let mut id = first;
        loop {
            // The `.idx` first: its existence is what makes a pack.
            match OpenOptions::new().write(true).create_new(true).open(idx_path(dir, id)) {
                Ok(idx) => {
                    let pack = OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(pack_path(dir, id))?;
                    return Ok(PackWriter {
                        dir: dir.to_path_buf(),
                        id,
                        pack,
                        idx,
                        len: 0,
                        dirty: true,
                        closed: Vec::new(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => id += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes the current pack: the next artifact starts a new one (an
    /// empty pack is already new).
    pub fn roll(&mut self) -> io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let next = PackWriter::create(&self.dir, self.id + 1)?;
        let old = std::mem::replace(self, next);
        self.closed = old.closed;
        let (pack, idx) = (old.pack, old.idx);
        self.closed
            .push(std::thread::spawn(move || pack.sync_data().and_then(|()| idx.sync_data())));
        Ok(())
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Appends one artifact's bytes, then its entry.
    pub fn append(&mut self, sha: &Sha256, bytes: &[u8]) -> io::Result<Slot> {
        let len = bytes.len() as u64;
        if self.len > 0 && self.len + len > PACK_BYTES {
            self.roll()?;
        }
        let offset = self.len;
        let written = self
            .pack
            .write_all(bytes)
            .and_then(|_| self.idx.write_all(&encode(sha, offset, len)));
        if let Err(e) = written {
            // Whatever part got written is cut off by the next `open`; this
            // writer stops here.
            let _ = self.pack.set_len(offset);
            return Err(e);
        }
        self.len += len;
        self.dirty = true;
        Ok(Slot {
            pack: self.id,
            offset,
            len,
        })
    }

    /// Makes what was appended durable (the commit point calls it).
    pub fn sync(&mut self) -> io::Result<()> {
        if !self.dirty && self.closed.is_empty() {
            return Ok(());
        }
        for closed in self.closed.drain(..) {
            closed.join().map_err(|_| io::Error::other("syncing a pack failed"))??;
        }
        self.pack.sync_data()?;
        self.idx.sync_data()?;
        sync_dir(&self.dir)?;
        self.dirty = false;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The bytes of a slot.
pub fn read(dir: &Path, slot: Slot) -> io::Result<Vec<u8>> {
    if slot.len == 0 {
        return Ok(Vec::new());
    }
    let mut f = File::open(pack_path(dir, slot.pack))?;
    f.seek(SeekFrom::Start(slot.offset))?;
    let mut bytes = vec![0u8; slot.len as usize];
    f.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Drops the entries `keep` says no: a pack with none kept is deleted, one
/// with some kept is rewritten into `writer`'s packs first. Returns how
/// many artifacts went. `writer` must not append to a pack being pruned:
/// the caller rolls it to a fresh one first.
pub fn prune(
    dir: &Path,
    index: &mut PackIndex,
    writer: &mut PackWriter,
    keep: &mut dyn FnMut(&Sha256) -> io::Result<bool>,
) -> io::Result<u64> {
    index.refresh()?;
    let mut by_pack: BTreeMap<u32, Vec<(Sha256, Slot, bool)>> = BTreeMap::new();
    // Packs with no entry at all (left empty by a crash) go too.
    for id in packs(dir)? {
        if id != writer.id() {
            by_pack.insert(id, Vec::new());
        }
    }
    for (sha, slot) in index.entries() {
        if slot.pack != writer.id() {
            by_pack.entry(slot.pack).or_default().push((*sha, *slot, false));
        }
    }
    let mut dropped = 0;
    for (id, entries) in &mut by_pack {
        for e in entries.iter_mut() {
            e.2 = keep(&e.0)?;
        }
        let going = entries.iter().filter(|e| !e.2).count();
        if going == 0 && !entries.is_empty() {
            continue;
        }
        for (sha, slot, kept) in entries.iter() {
            if *kept {
                let bytes = read(dir, *slot)?;
                let new = writer.append(sha, &bytes)?;
                index.slots.insert(*sha, new);
            }
        }
        // The copies are durable before the originals go.
        writer.sync()?;
        for (sha, slot, kept) in entries.iter() {
            if !kept && index.slots.get(sha) == Some(slot) {
                index.slots.remove(sha);
            }
        }
        // The bytes first: a crash in between leaves an `.idx` whose
        // entries point past its (missing) pack, ignored and pruned later.
        for path in [pack_path(dir, *id), idx_path(dir, *id)] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        index.seen.remove(id);
        dropped += going as u64;
    }
    sync_dir(dir)?;
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(n: u8) -> Sha256 {
        [n; 32]
    }

    #[test]
    fn appended_artifacts_are_found_by_a_fresh_reader_and_one_catching_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PackWriter::open(dir.path()).unwrap();
        let mut reader = PackIndex::load(dir.path()).unwrap();
        let a = w.append(&sha(1), b"first").unwrap();
        let b = w.append(&sha(2), b"second").unwrap();
        assert_eq!(b.offset, 5);
        reader.refresh().unwrap();
        assert_eq!(reader.get(&sha(2)), Some(b));
        assert_eq!(read(dir.path(), a).unwrap(), b"first");
        let fresh = PackIndex::load(dir.path()).unwrap();
        assert_eq!(fresh.len(), 2);
        assert_eq!(read(dir.path(), fresh.get(&sha(2)).unwrap()).unwrap(), b"second");
    }

    #[test]
    fn a_torn_entry_is_ignored_and_cut_off_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PackWriter::open(dir.path()).unwrap();
        w.append(&sha(1), b"kept").unwrap();
        drop(w);
        // A crash: an entry whose bytes never reached the pack, and half an
        // entry after it.
        let mut idx = OpenOptions::new().append(true).open(idx_path(dir.path(), 1)).unwrap();
        idx.write_all(&encode(&sha(2), 4, 100)).unwrap();
        idx.write_all(&[7u8; 20]).unwrap();
        let index = PackIndex::load(dir.path()).unwrap();
        assert_eq!(index.len(), 1);
        assert!(index.get(&sha(2)).is_none());
        let mut w = PackWriter::open(dir.path()).unwrap();
        assert_eq!(fs::metadata(idx_path(dir.path(), 1)).unwrap().len(), ENTRY);
        let c = w.append(&sha(3), b"next").unwrap();
        assert_eq!((c.pack, c.offset), (1, 4));
        let index = PackIndex::load(dir.path()).unwrap();
        assert_eq!(read(dir.path(), index.get(&sha(3)).unwrap()).unwrap(), b"next");
        assert_eq!(read(dir.path(), index.get(&sha(1)).unwrap()).unwrap(), b"kept");
    }

    #[test]
    fn a_full_pack_rolls_over_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PackWriter::open(dir.path()).unwrap();
        let big = vec![1u8; (PACK_BYTES / 2 + 1) as usize];
        let a = w.append(&sha(1), &big).unwrap();
        let b = w.append(&sha(2), &big).unwrap();
        assert_eq!((a.pack, b.pack, b.offset), (1, 2, 0));
        assert_eq!(packs(dir.path()).unwrap(), vec![1, 2]);
    }

    #[test]
    fn pruning_deletes_unreferenced_packs_and_rewrites_mixed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PackWriter::open(dir.path()).unwrap();
        for n in 1..=4 {
            w.append(&sha(n), &[n; 10]).unwrap();
        }
        w.roll().unwrap();
        let mut index = PackIndex::load(dir.path()).unwrap();
        let dropped = prune(dir.path(), &mut index, &mut w, &mut |s| Ok(s[0] % 2 == 0)).unwrap();
        assert_eq!(dropped, 2);
        assert_eq!(packs(dir.path()).unwrap(), vec![2]);
        for (n, kept) in [(1, false), (2, true), (3, false), (4, true)] {
            let fresh = PackIndex::load(dir.path()).unwrap();
            assert_eq!(fresh.get(&sha(n)).is_some(), kept, "{n}");
            assert_eq!(index.get(&sha(n)).is_some(), kept, "{n}");
            if kept {
                assert_eq!(read(dir.path(), fresh.get(&sha(n)).unwrap()).unwrap(), vec![n; 10]);
            }
        }
        // Nothing referenced: the pack goes too, once the writer moved on.
        w.roll().unwrap();
        prune(dir.path(), &mut index, &mut w, &mut |_| Ok(false)).unwrap();
        assert_eq!(packs(dir.path()).unwrap(), vec![3]);
        assert!(index.is_empty());
        // Rolling an empty pack makes no new one, and pruning again
        // changes nothing.
        w.roll().unwrap();
        prune(dir.path(), &mut index, &mut w, &mut |_| Ok(false)).unwrap();
        assert_eq!(packs(dir.path()).unwrap(), vec![3]);
    }
}
