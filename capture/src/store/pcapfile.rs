//! The classic pcap format, as the store writes and reads it: a 24-byte
//! file header (microsecond timestamps, little-endian) and records of a
//! 16-byte header plus the captured bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use model::Timestamp;

use super::error::{Error, Result};

pub const FILE_HEADER_LEN: u64 = 24;
pub const RECORD_HEADER_LEN: u64 = 16;
/// Larger records are taken for damage (libpcap's own limit is 256 KiB).
pub const MAX_RECORD_LEN: u32 = 1 << 20;
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

pub fn file_header(link_type: u32) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&262_144u32.to_le_bytes());
    h[20..24].copy_from_slice(&link_type.to_le_bytes());
    h
}

pub fn write_record(
    out: &mut impl Write,
    ts: Timestamp,
    data: &[u8],
    wire_len: u32,
) -> io::Result<()> {
    let secs = ts.0.div_euclid(1_000_000).clamp(0, i64::from(u32::MAX)) as u32;
    let micros = ts.0.rem_euclid(1_000_000) as u32;
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&micros.to_le_bytes());
    h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
    h[12..16].copy_from_slice(&wire_len.max(data.len() as u32).to_le_bytes());
    out.write_all(&h)?;
    out.write_all(data)
}

pub fn record_len(data: &[u8]) -> u64 {
    RECORD_HEADER_LEN + data.len() as u64
}

/// One record read back: its header and bytes as stored.
pub struct Record {
    pub ts: Timestamp,
    pub wire_len: u32,
    /// Header and data, exactly as in the file.
    pub raw: Vec<u8>,
}

impl Record {
    pub fn data(&self) -> &[u8] {
        &self.raw[RECORD_HEADER_LEN as usize..]
    }
}

/// Random and sequential reads of one store file.
pub struct Reader {
    path: PathBuf,
    file: File,
    len: u64,
    pub link_type: u32,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader> {
        let mut file = File::open(path).map_err(Error::io(path))?;
        let len = file.metadata().map_err(Error::io(path))?.len();
        let mut h = [0u8; 24];
        file.read_exact(&mut h)
            .map_err(|_| corrupt(path, 0, "no pcap file header"))?;
        if u32::from_le_bytes(h[0..4].try_into().unwrap_or_default()) != MAGIC_MICROS {
            return Err(corrupt(path, 0, "not a pcap file written by the store"));
        }
        let link_type = u32::from_le_bytes(h[20..24].try_into().unwrap_or_default());
        Ok(Reader {
            path: path.to_path_buf(),
            file,
            len,
            link_type,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= FILE_HEADER_LEN
    }

    /// The record at `offset`, which must end by `end`.
    pub fn read_at(&mut self, offset: u64, end: u64) -> Result<Record> {
        let end = end.min(self.len);
        if offset + RECORD_HEADER_LEN > end {
            return Err(corrupt(
                &self.path,
                offset,
                "record header past the end of the data",
            ));
        }
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(Error::io(&self.path))?;
        let mut h = [0u8; 16];
        self.file
            .read_exact(&mut h)
            .map_err(Error::io(&self.path))?;
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let (secs, micros, caplen, wire_len) = (word(0), word(4), word(8), word(12));
        if caplen > MAX_RECORD_LEN || micros >= 1_000_000 {
            return Err(corrupt(
                &self.path,
                offset,
                format!("impossible record header (length {caplen}, microseconds {micros})"),
            ));
        }
        if offset + RECORD_HEADER_LEN + u64::from(caplen) > end {
            return Err(corrupt(
                &self.path,
                offset,
                "record runs past the end of the data",
            ));
        }
        let mut raw = vec![0u8; RECORD_HEADER_LEN as usize + caplen as usize];
        raw[..16].copy_from_slice(&h);
        self.file
            .read_exact(&mut raw[16..])
            .map_err(Error::io(&self.path))?;
        Ok(Record {
            ts: Timestamp::from_timeval(i64::from(secs), i64::from(micros)),
            wire_len,
            raw,
        })
    }
}

pub fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Error {
    Error::CorruptStore {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}
