//! TCP syslog framing (RFC 6587): octet counting (`LEN SP MSG`) and
//! newline-terminated frames, chosen per frame by its first byte, as rsyslog
//! and syslog-ng do. A frame longer than the limit is skipped whole and
//! reported, never buffered: memory per connection stays bounded by the limit.

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

/// One frame off the wire.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A message's bytes (without framing, CR/LF or NUL trailer).
    Message(BytesMut),
    /// A message longer than the limit was skipped.
    Oversized,
    /// Bytes that are no frame (an octet count that is no number).
    Garbage,
}

/// The codec. `max_len` bounds one message.
#[derive(Debug)]
pub struct SyslogCodec {
    max_len: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame boundary.
    Start,
    /// Skipping the rest of an oversized newline frame.
    SkipLine,
    /// Skipping the rest of a garbage line (already reported).
    Discard,
    /// Skipping this many bytes of an oversized counted frame.
    SkipCount(usize),
    /// Reading a counted frame of this length.
    Counted(usize),
}

/// Longest octet count accepted (digits): more digits than this is garbage.
const MAX_COUNT_DIGITS: usize = 9;

impl SyslogCodec {
    pub fn new(max_len: usize) -> SyslogCodec {
        SyslogCodec {
            max_len,
            state: State::Start,
        }
    }
}

fn trim_line(mut line: BytesMut) -> BytesMut {
    while matches!(line.last(), Some(b'\r' | b'\n' | b'\0')) {
        line.truncate(line.len() - 1);
    }
    line
}

impl Decoder for SyslogCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        loop {
            match self.state {
                State::SkipLine => match memchr_nl(buf) {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.state = State::Start;
                        return Ok(Some(Frame::Oversized));
                    }
                    None => {
                        buf.clear();
                        return Ok(None);
                    }
                },
                State::Discard => match memchr_nl(buf) {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.state = State::Start;
                    }
                    None => {
                        buf.clear();
                        return Ok(None);
                    }
                },
                State::SkipCount(n) => {
                    let take = n.min(buf.len());
                    buf.advance(take);
                    if take < n {
                        self.state = State::SkipCount(n - take);
                        return Ok(None);
                    }
                    self.state = State::Start;
                    return Ok(Some(Frame::Oversized));
                }
                State::Counted(n) => {
                    if buf.len() < n {
                        buf.reserve(n - buf.len());
                        return Ok(None);
                    }
                    let msg = buf.split_to(n);
                    self.state = State::Start;
                    return Ok(Some(Frame::Message(trim_line(msg))));
                }
                State::Start => {
                    // Blank lines and stray trailers between frames are not messages.
                    while matches!(buf.first(), Some(b'\r' | b'\n' | b'\0')) {
                        buf.advance(1);
                    }
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first.is_ascii_digit() {
                        let digits = buf
                            .iter()
                            .take(MAX_COUNT_DIGITS + 1)
                            .take_while(|b| b.is_ascii_digit())
                            .count();
                        if digits == buf.len() && digits <= MAX_COUNT_DIGITS {
                            return Ok(None); // the count is not complete yet
                        }
                        if digits > MAX_COUNT_DIGITS || buf[digits] != b' ' {
                            // Not an octet count: drop the line it is on.
                            return match memchr_nl(buf) {
                                Some(i) => {
                                    buf.advance(i + 1);
                                    self.state = State::Start;
                                    Ok(Some(Frame::Garbage))
                                }
                                None => {
                                    buf.clear();
                                    self.state = State::Discard;
                                    Ok(Some(Frame::Garbage))
                                }
                            };
                        }
                        let n: usize = std::str::from_utf8(&buf[..digits])
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(usize::MAX);
                        buf.advance(digits + 1);
                        self.state = if n > self.max_len {
                            State::SkipCount(n)
                        } else {
                            State::Counted(n)
                        };
                        continue;
                    }
                    match memchr_nl(buf) {
                        Some(i) if i <= self.max_len => {
                            let line = buf.split_to(i + 1);
                            return Ok(Some(Frame::Message(trim_line(line))));
                        }
                        Some(_) => {
                            self.state = State::SkipLine;
                            continue;
                        }
                        None if buf.len() > self.max_len => {
                            buf.clear();
                            self.state = State::SkipLine;
                            return Ok(None);
                        }
                        None => return Ok(None),
                    }
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // A last newline frame without its newline still counts as a message;
        // a cut counted frame or skip in progress is reported once.
        let state = std::mem::replace(&mut self.state, State::Start);
        match state {
            State::Start if !buf.is_empty() => Ok(Some(Frame::Message(trim_line(buf.split())))),
            State::Start | State::Discard => {
                buf.clear();
                Ok(None)
            }
            State::SkipLine | State::SkipCount(_) => {
                buf.clear();
                Ok(Some(Frame::Oversized))
            }
            State::Counted(_) => {
                buf.clear();
                Ok(Some(Frame::Garbage))
            }
        }
    }
}

fn memchr_nl(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize, chunk: usize) -> Vec<Frame> {
        let mut codec = SyslogCodec::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        while let Some(f) = codec.decode_eof(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(BytesMut::from(s))
    }

    #[test]
    fn both_framings_mixed_in_one_stream_whatever_the_chunking() {
        let input = b"<13>a\r\n5 <13>b<13>c\n11 <13>d\ne\nf\n\n<13>last";
        for chunk in 1..input.len() {
            assert_eq!(
                frames(input, 100, chunk),
                vec![
                    msg("<13>a"),
                    msg("<13>b"),
                    msg("<13>c"),
                    msg("<13>d\ne\nf"),
                    msg("<13>last")
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn oversized_frames_are_skipped_whole_and_reported_once() {
        let long = "x".repeat(50);
        let input = format!("{long}\n<13>ok\n50 {long}<13>ok2\n{long}");
        for chunk in [1, 7, 1000] {
            assert_eq!(
                frames(input.as_bytes(), 20, chunk),
                vec![
                    Frame::Oversized,
                    msg("<13>ok"),
                    Frame::Oversized,
                    msg("<13>ok2"),
                    Frame::Oversized
                ]
            );
        }
    }

    #[test]
    fn a_bad_octet_count_is_garbage_and_the_stream_resyncs() {
        let input = b"12x34\n9999999999999 y\n<13>ok\n99 cut";
        assert_eq!(
            frames(input, 100, 3),
            vec![
                Frame::Garbage,
                Frame::Garbage,
                msg("<13>ok"),
                Frame::Garbage
            ]
        );
    }
}
