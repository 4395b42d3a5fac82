//! Server-sent events: `data:` lines up to a blank line make one event;
//! comments (`:` keep-alives) and other fields are skipped.

use std::io::{BufRead, Read};

/// Longest line accepted (a whole policy travels in one `data:` line).
pub const LINE_MAX: usize = 256 * 1024 * 1024;

pub struct Events<R> {
    reader: R,
}

impl<R: BufRead> Events<R> {
    pub fn new(reader: R) -> Events<R> {
        Events { reader }
    }

    /// The next event's data; `Ok(None)` at the end of the stream.
    pub fn next_data(&mut self) -> std::io::Result<Option<String>> {
        let mut data: Option<String> = None;
        loop {
            let mut line = Vec::new();
            let n = (&mut self.reader)
                .take(LINE_MAX as u64)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                return Ok(None);
            }
            if !line.ends_with(b"\n") {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "event line too long or cut",
                ));
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            if line.is_empty() {
                if let Some(d) = data.take() {
                    return Ok(Some(d));
                }
                continue;
            }
            if line[0] == b':' {
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            let (field, value) = match text.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (&*text, ""),
            };
            if field == "data" {
                match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_owned()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_and_skip_comments() {
        let text = b": keep-alive\n\nevent: policy\ndata: {\"a\":\ndata: 1}\n\ndata:x\r\n\r\n";
        let mut events = Events::new(&text[..]);
        assert_eq!(events.next_data().unwrap().as_deref(), Some("{\"a\":\n1}"));
        assert_eq!(events.next_data().unwrap().as_deref(), Some("x"));
        assert_eq!(events.next_data().unwrap(), None);
    }
}
