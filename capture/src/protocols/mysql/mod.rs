//! MySQL / MariaDB dissector.
//!
//! Each direction is cut into packets (3-byte length, 1-byte sequence);
//! packets longer than [`HEAD_CAP`] (server: [`SERVER_HEAD_CAP`]) are streamed: their head is handed on
//! and the rest skipped, so a 16 MiB row or query never waits in memory.
//! [`session::Session`] follows the conversation: greeting, handshake
//! response and auth exchange, then commands and their responses.

mod parser;
mod probe;
mod session;

use model::Direction;

use self::parser::{HEADER_LEN, MAX_PAYLOAD};
use self::session::{Packet, Session, QUERY_CAP};
use super::{Ctx, Dissector, ProtocolSpec};

pub use self::probe::probe;

pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: "mysql",
    ports: &[3306],
    probe,
    new,
};

/// Bytes of a client packet's payload looked at; the rest of a longer
/// packet is skipped as it arrives. Room for the query cap and its prefix.
const HEAD_CAP: usize = QUERY_CAP + 64;
/// The same for server packets: enough for an ERR message or a file name;
/// rows are only counted.
const SERVER_HEAD_CAP: usize = 8 * 1024;

fn new() -> Box<dyn Dissector> {
    Box::new(State {
        // Until a packet that can start a message is seen, the boundary is
        // unknown: the capture may begin mid-stream.
        streams: [
            Stream {
                resync: true,
                ..Stream::default()
            },
            Stream {
                resync: true,
                ..Stream::default()
            },
        ],
        session: Session::new(),
    })
}

/// Framing state of one direction.
#[derive(Default)]
struct Stream {
    /// Bytes of the current packet still to skip.
    skip: u64,
    /// The last packet was 16 MiB - 1 long: the next one continues it.
    continues: bool,
    /// Bytes were lost: the next packet boundary is unknown.
    resync: bool,
}

struct State {
    streams: [Stream; 2],
    session: Session,
}

impl Dissector for State {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn parse(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let stream = &mut self.streams[dir.index()];
        let mut pos = 0usize;
        while !self.session.stopped {
            let rest = data.get(pos..).unwrap_or_default();
            if stream.skip > 0 {
                let n = stream.skip.min(rest.len() as u64) as usize;
                stream.skip -= n as u64;
                self.session.tail(dir, rest.get(..n).unwrap_or_default());
                pos += n;
                if stream.skip > 0 {
                    break;
                }
                continue;
            }
            let Some(h) = parser::header(rest) else { break };
            let cap = if dir == Direction::ToServer {
                HEAD_CAP
            } else {
                SERVER_HEAD_CAP
            };
            let head = h.len.min(cap);
            if stream.resync && !self.session.plausible_header(dir, h.seq, h.len) {
                // Not a packet boundary: wait for the next segment.
                return data.len();
            }
            let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + head) else {
                break;
            };
            if stream.resync {
                if !self.session.plausible_start(dir, h.seq, payload) {
                    // Not a packet boundary: wait for the next segment.
                    return data.len();
                }
                stream.resync = false;
            }
            let packet = Packet {
                seq: h.seq,
                len: h.len,
                payload,
                continuation: stream.continues,
            };
            stream.continues = h.len == MAX_PAYLOAD;
            stream.skip = (h.len - head) as u64;
            pos += HEADER_LEN + head;
            self.session.packet(dir, &packet, ctx);
        }
        if self.session.stopped {
            data.len()
        } else {
            pos
        }
    }

    fn gap(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>) {
        let _ = len;
        self.streams[dir.index()] = Stream {
            resync: true,
            ..Stream::default()
        };
        self.session.gap(dir, ctx);
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        self.session.flush(ctx);
    }

    fn wants_more(&self) -> bool {
        !self.session.stopped
    }
}

#[cfg(test)]
mod tests;
