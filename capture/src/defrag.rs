//! IPv4 fragment reassembly, bounded in datagrams, bytes and time.

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::decode::FragmentInfo;

/// Largest datagram IPv4 can carry.
const MAX_DATAGRAM: u32 = 65_535;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    id: u32,
}

#[derive(Default)]
struct Pending {
    /// Received byte ranges with their data, in arrival order.
    pieces: Vec<(u32, Vec<u8>)>,
    /// Length of the datagram, known once the last fragment arrived.
    total: Option<u32>,
    bytes: usize,
    first_seen_micros: i64,
}

/// What became of a fragment.
pub enum Defragged {
    /// More fragments are needed.
    Held,
    /// The datagram is complete: its payload.
    Complete(Vec<u8>),
    /// Dropped: overlapping inconsistently, too large, or no room.
    Dropped(&'static str),
}

pub struct Defragmenter {
    pending: FxHashMap<Key, Pending>,
    order: VecDeque<Key>,
    max_datagrams: usize,
    timeout_micros: i64,
}

impl Defragmenter {
    pub fn new(max_datagrams: usize, timeout_seconds: u64) -> Defragmenter {
        Defragmenter {
            pending: FxHashMap::default(),
            order: VecDeque::new(),
            max_datagrams: max_datagrams.max(1),
            timeout_micros: (timeout_seconds as i64).saturating_mul(1_000_000),
        }
    }

    pub fn fragment(
        &mut self,
        now_micros: i64,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        frag: FragmentInfo,
        data: &[u8],
    ) -> Defragged {
        self.expire(now_micros);
        let end = frag.offset.saturating_add(data.len() as u32);
        if end > MAX_DATAGRAM {
            return Defragged::Dropped("fragment beyond 65535 bytes");
        }
        let key = Key {
            src,
            dst,
            protocol,
            id: frag.id,
        };
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= self.max_datagrams {
                if let Some(oldest) = self.order.pop_front() {
                    self.pending.remove(&oldest);
                }
            }
            self.pending.insert(
                key,
                Pending {
                    first_seen_micros: now_micros,
                    ..Pending::default()
                },
            );
            self.order.push_back(key);
        }
        let Some(p) = self.pending.get_mut(&key) else {
            return Defragged::Dropped("no room");
        };
        if !frag.more {
            if p.total.is_some_and(|t| t != end) {
                self.forget(&key);
                return Defragged::Dropped("two different last fragments");
            }
            p.total = Some(end);
        }
        p.bytes += data.len();
        p.pieces.push((frag.offset, data.to_vec()));
        let Some(total) = p.total else {
            return Defragged::Held;
        };
        if p.bytes < total as usize {
            return Defragged::Held;
        }
        // Enough bytes: check they cover [0, total) and assemble; the first
        // copy of any byte wins.
        p.pieces.sort_by_key(|(offset, _)| *offset);
        let mut out = Vec::with_capacity(total as usize);
        for (offset, piece) in &p.pieces {
            let offset = *offset as usize;
            if offset > out.len() {
                return Defragged::Held;
            }
            let skip = out.len() - offset;
            if skip < piece.len() {
                let room = total as usize - out.len();
                let take = (piece.len() - skip).min(room);
                out.extend_from_slice(&piece[skip..skip + take]);
            }
        }
        if out.len() < total as usize {
            return Defragged::Held;
        }
        self.forget(&key);
        Defragged::Complete(out)
    }

    fn forget(&mut self, key: &Key) {
        self.pending.remove(key);
        self.order.retain(|k| k != key);
    }

    fn expire(&mut self, now_micros: i64) {
        while let Some(key) = self.order.front() {
            match self.pending.get(key) {
                Some(p)
                    if now_micros.saturating_sub(p.first_seen_micros) <= self.timeout_micros =>
                {
                    break
                }
                _ => {
                    let key = *key;
                    self.order.pop_front();
                    self.pending.remove(&key);
                }
            }
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn frag(offset: u32, more: bool) -> FragmentInfo {
        FragmentInfo {
            id: 7,
            offset,
            more,
        }
    }

    #[test]
    fn reassembles_out_of_order_and_overlapping_fragments() {
        let mut d = Defragmenter::new(16, 30);
        let data: Vec<u8> = (0..40u8).collect();
        assert!(matches!(
            d.fragment(0, A, B, 6, frag(24, false), &data[24..]),
            Defragged::Held
        ));
        assert!(matches!(
            d.fragment(0, A, B, 6, frag(8, true), &data[8..32]),
            Defragged::Held
        ));
        match d.fragment(0, A, B, 6, frag(0, true), &data[..16]) {
            Defragged::Complete(out) => assert_eq!(out, data),
            _ => panic!("not complete"),
        }
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn bounded_in_datagrams_and_time() {
        let mut d = Defragmenter::new(4, 30);
        for id in 0..100 {
            let f = FragmentInfo {
                id,
                offset: 0,
                more: true,
            };
            d.fragment(0, A, B, 6, f, b"12345678");
        }
        assert_eq!(d.pending(), 4);
        d.fragment(
            31_000_001,
            A,
            B,
            6,
            FragmentInfo {
                id: 999,
                offset: 0,
                more: true,
            },
            b"x",
        );
        assert_eq!(d.pending(), 1);
    }

    #[test]
    fn rejects_fragments_past_the_largest_datagram() {
        let mut d = Defragmenter::new(4, 30);
        assert!(matches!(
            d.fragment(0, A, B, 6, frag(65_528, false), &[0; 16]),
            Defragged::Dropped(_)
        ));
    }
}
