//! A flow's packet locations, packed: per packet a varint store-file id and
//! a varint byte offset (the distance from the previous packet's offset in
//! the same file). About three bytes a packet.

use super::Location;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Locations {
    bytes: Vec<u8>,
    last: Option<Location>,
    count: u64,
}

impl Locations {
    pub fn push(&mut self, loc: Location) {
        let delta = match self.last {
            Some(prev) if prev.file == loc.file && loc.offset >= prev.offset => {
                loc.offset - prev.offset
            }
            _ => loc.offset,
        };
        let same_file = self
            .last
            .is_some_and(|p| p.file == loc.file && loc.offset >= p.offset);
        // File id 0 never names a store file: it means "same file as before".
        put_varint(
            &mut self.bytes,
            if same_file { 0 } else { u64::from(loc.file) },
        );
        put_varint(&mut self.bytes, delta);
        self.last = Some(loc);
        self.count += 1;
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Decodes packed locations; `None` when the bytes are damaged.
pub fn decode(mut bytes: &[u8]) -> Option<Vec<Location>> {
    let mut out = Vec::new();
    let mut last: Option<Location> = None;
    while !bytes.is_empty() {
        let file = get_varint(&mut bytes)?;
        let delta = get_varint(&mut bytes)?;
        let loc = if file == 0 {
            let prev = last?;
            Location {
                file: prev.file,
                offset: prev.offset.checked_add(delta)?,
            }
        } else {
            Location {
                file: u32::try_from(file).ok()?,
                offset: delta,
            }
        };
        out.push(loc);
        last = Some(loc);
    }
    Some(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_files() {
        let locs = [
            Location {
                file: 1,
                offset: 24,
            },
            Location {
                file: 1,
                offset: 100,
            },
            Location {
                file: 2,
                offset: 24,
            },
            Location {
                file: 2,
                offset: 1 << 40,
            },
        ];
        let mut packed = Locations::default();
        locs.iter().for_each(|&l| packed.push(l));
        assert_eq!(decode(packed.as_bytes()).unwrap(), locs);
        assert_eq!(decode(&[0x80]), None);
        assert_eq!(decode(&[0, 5]), None);
    }
}
