//! Just enough HTTP/1.1 for the policy API: one request per connection
//! (`Connection: close`), bodies by length, chunks or end of stream. Kept
//! here instead of a client crate so the agent stays small and every socket
//! has the timeouts we choose.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Error, Result};

/// Largest response head accepted.
const HEAD_MAX: usize = 64 * 1024;
/// Largest body read into memory (a policy of 100,000 attackers with
/// sandboxes is about 30 MB).
pub const BODY_MAX: usize = 256 * 1024 * 1024;

/// `http://host:port` of the detector.
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| Error::Http(format!("{url}: only http:// is supported")))?;
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>()
                    .map_err(|_| Error::Http(format!("{url}: bad port")))?,
            ),
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(Error::Http(format!("{url}: no host")));
        }
        Ok(Target {
            host: host.to_owned(),
            port,
        })
    }

    fn connect(&self, timeout: Duration) -> Result<TcpStream> {
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| Error::Http(format!("resolving {}: {e}", self.host)))?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::Http(format!(
            "connecting to {}:{}: {}",
            self.host,
            self.port,
            last.map(|e| e.to_string())
                .unwrap_or_else(|| "no address".into())
        )))
    }
}

/// Status, headers and body of a response read whole.
pub type FullResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// A response whose body has not been read yet.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole body, at most [`BODY_MAX`] bytes.
    pub fn read_body(mut self) -> Result<FullResponse> {
        let mut body = Vec::new();
        (&mut self.body)
            .take(BODY_MAX as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| Error::Http(format!("reading body: {e}")))?;
        if body.len() > BODY_MAX {
            return Err(Error::Http("body too large".into()));
        }
        Ok((self.status, self.headers, body))
    }
}

/// Sends one request; `read_timeout` bounds every read of the answer.
pub fn send(
    target: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
    read_timeout: Duration,
) -> Result<Response> {
    let stream = target.connect(read_timeout)?;
    let io = |e: std::io::Error| Error::Http(format!("{method} {path}: {e}"));
    stream.set_read_timeout(Some(read_timeout)).map_err(io)?;
    stream.set_write_timeout(Some(read_timeout)).map_err(io)?;
    let _ = stream.set_nodelay(true);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        target.host,
        target.port,
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = &stream;
    writer.write_all(head.as_bytes()).map_err(io)?;
    writer.write_all(body).map_err(io)?;
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader)?;
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<u64>().ok());
    let body = if chunked {
        Body::Chunked(Chunked {
            inner: reader,
            left: 0,
            done: false,
        })
    } else if let Some(n) = length {
        Body::Plain(reader.take(n))
    } else {
        Body::Plain(reader.take(u64::MAX))
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn read_head(reader: &mut BufReader<TcpStream>) -> Result<(u16, Vec<(String, String)>)> {
    let mut raw = Vec::new();
    loop {
        let n = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| Error::Http(format!("reading response: {e}")))?;
        if n == 0 {
            return Err(Error::Http("connection closed before the response".into()));
        }
        if raw.len() > HEAD_MAX {
            return Err(Error::Http("response head too large".into()));
        }
        if raw.ends_with(b"\r\n\r\n") || raw.ends_with(b"\n\n") {
            break;
        }
    }
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(Error::Http("malformed response head".into())),
    }
    let status = parsed.code.ok_or_else(|| Error::Http("no status".into()))?;
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Ok((status, headers))
}

pub enum Body {
    Plain(std::io::Take<BufReader<TcpStream>>),
    Chunked(Chunked),
}

impl Body {
    /// Changes the read timeout (a stream waits longer than a request).
    pub fn set_read_timeout(&self, timeout: Duration) {
        let stream = match self {
            Body::Plain(r) => r.get_ref().get_ref(),
            Body::Chunked(c) => c.inner.get_ref(),
        };
        let _ = stream.set_read_timeout(Some(timeout));
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Body::Plain(r) => r.read(buf),
            Body::Chunked(r) => r.read(buf),
        }
    }
}

/// `Transfer-Encoding: chunked` decoding.
pub struct Chunked {
    inner: BufReader<TcpStream>,
    left: u64,
    done: bool,
}

impl Chunked {
    fn line(&mut self) -> std::io::Result<String> {
        let mut line = Vec::new();
        (&mut self.inner).take(4096).read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "bad chunk line",
            ));
        }
        Ok(String::from_utf8_lossy(&line).trim().to_owned())
    }
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            self.left = u64::from_str_radix(size, 16).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size")
            })?;
            if self.left == 0 {
                // Trailers end with an empty line.
                while !self.line()?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if self.left == 0 {
            let rest = self.line()?;
            if !rest.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "chunk not followed by CRLF",
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = Target::parse("http://10.0.0.1:8080").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.1", 8080));
        let t = Target::parse("http://[::1]:9").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
        assert_eq!(Target::parse("http://detector/").unwrap().port, 80);
        assert!(Target::parse("https://x").is_err());
        assert!(Target::parse("http://x:99999").is_err());
    }
}
