//! Streaming scan of a `multipart/form-data` body: the file name of each
//! part, and the content of file parts, handed on as it streams past (to be
//! hashed and kept). Keeps at most one delimiter's worth of bytes plus one
//! part's headers (capped), whatever the body's size.

use memchr::memmem;

use super::parser;

/// Part headers longer than this are skipped, not parsed.
const MAX_PART_HEADERS: usize = 8 * 1024;

/// What [`Multipart::feed`] finds, in body order.
#[derive(Debug, PartialEq, Eq)]
pub enum Part<'a> {
    /// A part with a file name starts; its content follows.
    File(&'a [u8]),
    /// Content bytes of the current file part.
    Content(&'a [u8]),
    /// The current file part ended at its delimiter.
    End,
}

pub struct Multipart {
    /// `\r\n--` + boundary.
    delimiter: Vec<u8>,
    /// Last bytes of the body seen, too few to hold a whole delimiter, and
    /// not yet known to be content.
    carry: Vec<u8>,
    /// The bytes in `carry` belong to a file part's content.
    in_file: bool,
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
            in_file: false,
            phase: Phase::Body,
        }
    }

    /// Scans the next body bytes; what it finds goes to `found`.
    pub fn feed(&mut self, mut data: &[u8], found: &mut impl FnMut(Part<'_>)) {
        while !data.is_empty() {
            match &mut self.phase {
                Phase::Done => return,
                Phase::Body => match self.find_delimiter(data) {
                    Some((content_in_carry, content_in_data, after)) => {
                        if self.in_file {
                            emit(
                                found,
                                self.carry.get(..content_in_carry).unwrap_or_default(),
                            );
                            emit(found, data.get(..content_in_data).unwrap_or_default());
                            found(Part::End);
                            self.in_file = false;
                        }
                        self.carry.clear();
                        self.phase = Phase::Headers(Vec::new());
                        data = data.get(after..).unwrap_or_default();
                    }
                    None => {
                        self.keep_tail(data, found);
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
                                found(Part::File(name));
                                self.in_file = true;
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

    /// The first delimiter in `carry` + `data`, including one that began in
    /// the previous bytes: how many bytes of `carry`, then of `data`, come
    /// before it, and the offset in `data` just after it.
    fn find_delimiter(&self, data: &[u8]) -> Option<(usize, usize, usize)> {
        let dl = self.delimiter.len();
        let kept = self.carry.len();
        if kept > 0 {
            let head = data.get(..data.len().min(dl)).unwrap_or_default();
            let mut joined = Vec::with_capacity(kept + head.len());
            joined.extend_from_slice(&self.carry);
            joined.extend_from_slice(head);
            if let Some(at) = memmem::find(&joined, &self.delimiter) {
                let after = (at + dl).saturating_sub(kept);
                return Some((at.min(kept), at.saturating_sub(kept), after));
            }
        }
        memmem::find(data, &self.delimiter).map(|at| (kept, at, at + dl))
    }

    /// No delimiter ends in `data`: everything but the last bytes (which
    /// may start one) is content.
    fn keep_tail(&mut self, data: &[u8], found: &mut impl FnMut(Part<'_>)) {
        let keep = self.delimiter.len().saturating_sub(1);
        let total = self.carry.len() + data.len();
        let release = total.saturating_sub(keep);
        let from_carry = release.min(self.carry.len());
        let from_data = release - from_carry;
        if self.in_file {
            emit(found, self.carry.get(..from_carry).unwrap_or_default());
            emit(found, data.get(..from_data).unwrap_or_default());
        }
        self.carry.drain(..from_carry);
        self.carry
            .extend_from_slice(data.get(from_data..).unwrap_or_default());
    }

    /// The body ended: a file part still open ends with the bytes held back
    /// (the body was cut, or its closing delimiter is missing).
    pub fn finish(&mut self, found: &mut impl FnMut(Part<'_>)) {
        if self.in_file && matches!(self.phase, Phase::Body) {
            emit(found, &self.carry);
            found(Part::End);
        }
        self.in_file = false;
        self.carry.clear();
        self.phase = Phase::Done;
    }
}

fn emit(found: &mut impl FnMut(Part<'_>), bytes: &[u8]) {
    if !bytes.is_empty() {
        found(Part::Content(bytes));
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

    /// (file name, content) of each file part, fed in chunks of `chunk`.
    fn files(body: &[u8], chunk: usize) -> Vec<(String, Vec<u8>)> {
        let mut m = Multipart::new(b"XyZ");
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut open = false;
        let mut on = |p: Part<'_>| match p {
            Part::File(name) => {
                assert!(!open, "a part starts inside another");
                open = true;
                out.push((String::from_utf8_lossy(name).into_owned(), Vec::new()));
            }
            Part::Content(bytes) => {
                assert!(open, "content outside a file part");
                out.last_mut().unwrap().1.extend_from_slice(bytes);
            }
            Part::End => {
                assert!(open, "end outside a file part");
                open = false;
            }
        };
        for c in body.chunks(chunk) {
            m.feed(c, &mut on);
        }
        m.finish(&mut on);
        assert!(!open, "a file part left open");
        out
    }

    #[test]
    fn finds_file_parts_however_the_body_is_split() {
        let want = vec![
            (
                "shell.php".to_string(),
                b"<?php system($_GET['c']); ?>".to_vec(),
            ),
            ("b.txt".to_string(), b"hi".to_vec()),
        ];
        for chunk in 1..=BODY.len() {
            assert_eq!(files(BODY, chunk), want, "chunk {chunk}");
        }
    }

    #[test]
    fn part_of_a_delimiter_in_content_stays_content() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n\
a\r\n--Xy\r\n--XyZZ\r\n-\r\n--XyZ--\r\n";
        // `\r\n--Xy` is content; `\r\n--XyZZ` does hold the delimiter (a
        // boundary must not occur in content), so the part ends there, as a
        // server would read it.
        for chunk in 1..=body.len() {
            assert_eq!(
                files(body, chunk),
                vec![("x".to_string(), b"a\r\n--Xy".to_vec())],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_cut_body_ends_its_open_file_part() {
        // Cut after the first byte of the last part's content.
        let cut = BODY.get(..BODY.len() - 12).unwrap();
        for chunk in 1..=cut.len() {
            let got = files(cut, chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}");
            assert_eq!(
                got[1],
                ("b.txt".to_string(), b"h".to_vec()),
                "chunk {chunk}"
            );
        }
    }
}
