//! Streams one message body (Content-Length, chunked with trailers, or
//! until the connection closes) through SHA-256 and the artifact writer,
//! never holding more than a chunk-size line or a trailer block.

use super::multipart::{Multipart, Part};
use super::parser;
use crate::artifact::ArtifactWriter;
use crate::protocols::Ctx;

/// Longest chunk-size line (with extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;

#[derive(Debug)]
pub enum Framing {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

/// What a call to [`Body::feed`] ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// All bytes given were used; more are needed.
    NeedMore,
    /// The body ended; bytes after it belong to the next message.
    Done,
    /// The framing is broken (`kind` names the anomaly).
    Bad(&'static str),
}

pub struct Body {
    framing: Framing,
    len: u64,
    sink: Option<ArtifactWriter>,
    multipart: Option<Multipart>,
    filenames: Vec<Vec<u8>>,
    /// The multipart file part being streamed, if any.
    upload: Option<OpenUpload>,
    uploads: Vec<Upload>,
    /// Bytes of this body were never captured: its hash means nothing.
    holed: bool,
}

struct OpenUpload {
    name: Vec<u8>,
    sink: ArtifactWriter,
    holed: bool,
}

/// A multipart file part, hashed on its own.
pub struct Upload {
    pub name: Vec<u8>,
    pub size: u64,
    /// `None` when bytes of it were not captured.
    pub sha256: Option<String>,
}

/// A finished (or cut-off) body.
pub struct Finished {
    pub len: u64,
    pub sha256: Option<String>,
    pub filenames: Vec<Vec<u8>>,
    pub uploads: Vec<Upload>,
}

/// File names (and uploads) kept per body.
const MAX_FILENAMES: usize = 1024;

impl Body {
    pub fn new(framing: Framing, multipart_boundary: Option<&[u8]>) -> Body {
        Body {
            framing,
            len: 0,
            sink: None,
            multipart: multipart_boundary.map(Multipart::new),
            filenames: Vec::new(),
            upload: None,
            uploads: Vec::new(),
            holed: false,
        }
    }

    /// Consumes body bytes from `data`; returns how many, and why it stopped.
    pub fn feed(&mut self, data: &[u8], ctx: &Ctx<'_>) -> (usize, Progress) {
        let mut used = 0;
        loop {
            let rest = data.get(used..).unwrap_or_default();
            match self.framing {
                Framing::Length(0) => return (used, Progress::Done),
                Framing::Length(left) => {
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.content(rest.get(..take).unwrap_or_default(), ctx);
                    used += take;
                    self.framing = Framing::Length(left - take as u64);
                    if left == take as u64 {
                        return (used, Progress::Done);
                    }
                    return (used, Progress::NeedMore);
                }
                Framing::UntilClose => {
                    self.content(rest, ctx);
                    return (data.len(), Progress::NeedMore);
                }
                Framing::Chunked(Chunk::Size) => match chunk_size(rest) {
                    Some(Ok((n, 0))) => {
                        used += n;
                        self.framing = Framing::Chunked(Chunk::Trailers);
                    }
                    Some(Ok((n, size))) => {
                        used += n;
                        self.framing = Framing::Chunked(Chunk::Data(size));
                    }
                    None if rest.len() <= MAX_CHUNK_LINE => return (used, Progress::NeedMore),
                    _ => return (used, Progress::Bad("bad_chunk_size")),
                },
                Framing::Chunked(Chunk::Data(left)) => {
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.content(rest.get(..take).unwrap_or_default(), ctx);
                    used += take;
                    if left == take as u64 {
                        self.framing = Framing::Chunked(Chunk::DataEnd);
                    } else {
                        self.framing = Framing::Chunked(Chunk::Data(left - take as u64));
                        return (used, Progress::NeedMore);
                    }
                }
                Framing::Chunked(Chunk::DataEnd) => match rest {
                    [b'\r', b'\n', ..] => {
                        used += 2;
                        self.framing = Framing::Chunked(Chunk::Size);
                    }
                    [b'\n', ..] => {
                        used += 1;
                        self.framing = Framing::Chunked(Chunk::Size);
                    }
                    [] | [b'\r'] => return (used, Progress::NeedMore),
                    _ => return (used, Progress::Bad("bad_chunk_end")),
                },
                Framing::Chunked(Chunk::Trailers) => {
                    // Either an empty line right away, or trailer fields
                    // ending with one.
                    let end = match rest {
                        [b'\n', ..] => Some(1),
                        [b'\r', b'\n', ..] => Some(2),
                        [] | [b'\r'] => None,
                        _ => parser::head_end(rest, 0),
                    };
                    match end {
                        Some(n) => return (used + n, Progress::Done),
                        None if rest.len() > parser::MAX_HEAD => {
                            return (used, Progress::Bad("oversized_trailers"))
                        }
                        None => return (used, Progress::NeedMore),
                    }
                }
            }
        }
    }

    /// `len` bytes of the body are missing. Returns false when the framing
    /// cannot be followed across the hole.
    pub fn gap(&mut self, len: u64) -> bool {
        self.holed = true;
        if let Some(upload) = &mut self.upload {
            upload.holed = true;
        }
        match self.framing {
            Framing::Length(left) if len <= left => {
                self.len = self.len.saturating_add(len);
                self.framing = Framing::Length(left - len);
                true
            }
            Framing::UntilClose => {
                self.len = self.len.saturating_add(len);
                true
            }
            _ => false,
        }
    }

    fn content(&mut self, bytes: &[u8], ctx: &Ctx<'_>) {
        if bytes.is_empty() {
            return;
        }
        self.len = self.len.saturating_add(bytes.len() as u64);
        self.sink.get_or_insert_with(|| ctx.artifact()).write(bytes);
        if let Some(m) = &mut self.multipart {
            let (names, upload, uploads) =
                (&mut self.filenames, &mut self.upload, &mut self.uploads);
            m.feed(bytes, &mut |part| {
                on_part(part, names, upload, uploads, ctx)
            });
        }
    }

    pub fn finish(mut self) -> Finished {
        if let Some(m) = &mut self.multipart {
            let (upload, uploads) = (&mut self.upload, &mut self.uploads);
            m.finish(&mut |part| {
                if let Part::End = part {
                    close_upload(upload, uploads);
                } else if let (Part::Content(bytes), Some(open)) = (part, upload.as_mut()) {
                    open.sink.write(bytes);
                }
            });
        }
        let artifact = self.sink.map(ArtifactWriter::finish);
        let sha256 = if self.holed {
            None
        } else {
            artifact.map(|a| a.sha256)
        };
        Finished {
            len: self.len,
            sha256,
            filenames: self.filenames,
            uploads: self.uploads,
        }
    }
}

/// Streams multipart file parts into artifacts of their own.
fn on_part(
    part: Part<'_>,
    names: &mut Vec<Vec<u8>>,
    upload: &mut Option<OpenUpload>,
    uploads: &mut Vec<Upload>,
    ctx: &Ctx<'_>,
) {
    match part {
        Part::File(name) => {
            if names.len() < MAX_FILENAMES {
                names.push(name.to_vec());
            }
            close_upload(upload, uploads);
            if uploads.len() < MAX_FILENAMES {
                *upload = Some(OpenUpload {
                    name: name.to_vec(),
                    sink: ctx.artifact(),
                    holed: false,
                });
            }
        }
        Part::Content(bytes) => {
            if let Some(open) = upload {
                open.sink.write(bytes);
            }
        }
        Part::End => close_upload(upload, uploads),
    }
}

fn close_upload(upload: &mut Option<OpenUpload>, uploads: &mut Vec<Upload>) {
    if let Some(open) = upload.take() {
        let artifact = open.sink.finish();
        uploads.push(Upload {
            name: open.name,
            size: artifact.size,
            sha256: (!open.holed).then_some(artifact.sha256),
        });
    }
}

/// A chunk-size line (`1a;ext=x\r\n`, bare `\n` accepted): its length
/// and the size. `None` until the line is complete.
fn chunk_size(data: &[u8]) -> Option<Result<(usize, u64), ()>> {
    let (line, len) = parser::first_line(data.get(..data.len().min(MAX_CHUNK_LINE))?)?;
    let digits = parser::trim(line.split(|&b| b == b';').next().unwrap_or_default());
    if digits.is_empty() || digits.len() > 15 {
        return Some(Err(()));
    }
    let size = digits.iter().try_fold(0u64, |n, &d| {
        Some(n << 4 | u64::from((d as char).to_digit(16)?))
    });
    Some(size.map(|s| (len, s)).ok_or(()))
}
