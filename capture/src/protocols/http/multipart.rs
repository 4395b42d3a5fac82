//! Streaming scan of a `multipart/form-data` body for the file names of
//! its parts. Keeps at most one boundary's worth of bytes plus one part's
//! headers (capped), whatever the body's size.

use memchr::memmem;

use super::parser;

/// Part headers longer than this are skipped, not parsed.
const MAX_PART_HEADERS: usize = 8 * 1024;

pub struct Multipart {
    /// `\r\n--` + boundary.
    delimiter: Vec<u8>,
    /// Last bytes of the body seen, too few to hold a whole delimiter.
    carry: Vec<u8>,
    phase: Phase,
}

enum Phase {
    Body,
    /// Bytes after a delimiter, up to the end of the part's headers.
    Headers(Vec<u8>),
    Done,
}

impl Multipart {
    pub fn new(boundary: &[u8]) -> Multipart {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary);
        // The body opens with the delimiter without its line break.
        Multipart {
            delimiter,
            carry: b"\r\n".to_vec(),
            phase: Phase::Body,
        }
    }

    /// Scans the next body bytes; file names found go to `found`.
    pub fn feed(&mut self, mut data: &[u8], found: &mut impl FnMut(&[u8])) {
        while !data.is_empty() {
            match &mut self.phase {
                Phase::Done => return,
                Phase::Body => match self.find_delimiter(data) {
                    Some(after) => {
                        self.carry.clear();
                        self.phase = Phase::Headers(Vec::new());
                        data = data.get(after..).unwrap_or_default();
                    }
                    None => {
                        self.keep_tail(data);
                        return;
                    }
                },
                Phase::Headers(buf) => {
                    let before = buf.len();
                    let take = data.len().min(MAX_PART_HEADERS - before);
                    buf.extend_from_slice(data.get(..take).unwrap_or_default());
                    if buf.starts_with(b"--") {
                        self.phase = Phase::Done; // closing delimiter
                        return;
                    }
                    let search_from = before.saturating_sub(3);
                    let end = buf
                        .get(search_from..)
                        .and_then(|t| memmem::find(t, b"\r\n\r\n"));
                    match end {
                        Some(at) => {
                            let end = search_from + at + 4;
                            if let Some(name) = part_filename(buf.get(..end).unwrap_or_default()) {
                                found(name);
                            }
                            let used = end.saturating_sub(before);
                            data = data.get(used..).unwrap_or_default();
                            self.carry.clear();
                            self.phase = Phase::Body;
                        }
                        None if buf.len() >= MAX_PART_HEADERS => {
                            data = data.get(take..).unwrap_or_default();
                            self.phase = Phase::Body;
                        }
                        None => return,
                    }
                }
            }
        }
    }

    /// Offset in `data` just after the first delimiter, including one that
    /// began in the previous bytes.
    fn find_delimiter(&self, data: &[u8]) -> Option<usize> {
        let dl = self.delimiter.len();
        if !self.carry.is_empty() {
            let head = data.get(..data.len().min(dl)).unwrap_or_default();
            let mut joined = Vec::with_capacity(self.carry.len() + head.len());
            joined.extend_from_slice(&self.carry);
            joined.extend_from_slice(head);
            if let Some(at) = memmem::find(&joined, &self.delimiter) {
                return Some((at + dl).saturating_sub(self.carry.len()));
            }
        }
        memmem::find(data, &self.delimiter).map(|at| at + dl)
    }

    fn keep_tail(&mut self, data: &[u8]) {
        let keep = self.delimiter.len().saturating_sub(1);
        if data.len() >= keep {
            self.carry.clear();
            self.carry
                .extend_from_slice(data.get(data.len() - keep..).unwrap_or_default());
        } else {
            self.carry.extend_from_slice(data);
            let excess = self.carry.len().saturating_sub(keep);
            self.carry.drain(..excess);
        }
    }
}

/// The file name in one part's headers (`\r\n` + header lines + `\r\n\r\n`).
fn part_filename(headers: &[u8]) -> Option<&[u8]> {
    let block = headers.strip_prefix(b"\r\n").unwrap_or(headers);
    let mut name = None;
    parser::each_header(block, |k, v| {
        if name.is_none() && k.eq_ignore_ascii_case(b"content-disposition") {
            name = parser::disposition_filename(v);
        }
    });
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"shell.php\"\r\n\
Content-Type: application/x-php\r\n\r\n<?php system($_GET['c']); ?>\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"g\"; filename=\"b.txt\"\r\n\r\nhi\r\n--XyZ--\r\n";

    fn names(chunk: usize) -> Vec<String> {
        let mut m = Multipart::new(b"XyZ");
        let mut out = Vec::new();
        for c in BODY.chunks(chunk) {
            m.feed(c, &mut |n: &[u8]| {
                out.push(String::from_utf8_lossy(n).into_owned())
            });
        }
        out
    }

    #[test]
    fn finds_file_names_however_the_body_is_split() {
        for chunk in 1..=BODY.len() {
            assert_eq!(names(chunk), ["shell.php", "b.txt"], "chunk {chunk}");
        }
    }
}
