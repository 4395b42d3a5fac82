//! Pure, streaming parsing of the rsync daemon protocol's text phase:
//! `@RSYNCD:` greetings, the module request, authentication, the server's
//! replies and the client's argument list. Bytes in, borrowed views out.

use memchr::memchr;

/// Longest line or argument we wait for; rsync itself uses far less.
pub const MAX_LINE: usize = 4096;

pub const GREETING: &[u8] = b"@RSYNCD: ";

/// One newline- or NUL-terminated token.
#[derive(Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// The token without its terminator (nor a `\r` before a `\n`);
    /// `consumed` includes the terminator.
    Complete {
        text: &'a [u8],
        consumed: usize,
    },
    Incomplete,
    /// No terminator within [`MAX_LINE`] bytes.
    TooLong,
}

pub fn token(data: &[u8], terminator: u8) -> Token<'_> {
    let window = data.get(..MAX_LINE.min(data.len())).unwrap_or(data);
    match memchr(terminator, window) {
        Some(end) => {
            let text = window.get(..end).unwrap_or_default();
            let text = if terminator == b'\n' {
                text.strip_suffix(b"\r").unwrap_or(text)
            } else {
                text
            };
            Token::Complete {
                text,
                consumed: end + 1,
            }
        }
        None if data.len() >= MAX_LINE => Token::TooLong,
        None => Token::Incomplete,
    }
}

/// `@RSYNCD: 31.0 sha512 sha256 md5`: the version and the digests offered.
#[derive(Debug, PartialEq, Eq)]
pub struct Greeting<'a> {
    pub version: &'a [u8],
    /// The protocol number (`31` of `31.0`), if it is one.
    pub protocol: Option<u32>,
    pub digests: &'a [u8],
}

pub fn greeting(text: &[u8]) -> Option<Greeting<'_>> {
    let rest = text.strip_prefix(GREETING)?;
    let rest = trim_start(rest);
    let end = memchr(b' ', rest).unwrap_or(rest.len());
    let version = rest.get(..end)?;
    let digits = version.iter().take_while(|b| b.is_ascii_digit()).count();
    let protocol = std::str::from_utf8(version.get(..digits)?)
        .ok()
        .and_then(|d| d.parse().ok());
    // A greeting must start with a number; `@RSYNCD: OK` and friends are not greetings.
    protocol?;
    Some(Greeting {
        version,
        protocol,
        digests: trim_start(rest.get(end..)?),
    })
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let Some(rest) = s.strip_prefix(b" ") {
        s = rest;
    }
    s
}

/// A line the daemon sends after its greeting.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerLine<'a> {
    Ok,
    AuthRequired {
        challenge: &'a [u8],
    },
    Exit,
    Error {
        message: &'a [u8],
    },
    /// `@RSYNCD:` followed by something we do not know.
    Other(&'a [u8]),
    /// Not an `@` line: MOTD or a module listing line.
    Text(&'a [u8]),
}

pub fn server_line(text: &[u8]) -> ServerLine<'_> {
    if let Some(rest) = text.strip_prefix(GREETING) {
        return match rest {
            b"OK" => ServerLine::Ok,
            b"EXIT" => ServerLine::Exit,
            _ => match rest.strip_prefix(b"AUTHREQD") {
                Some(challenge) => ServerLine::AuthRequired {
                    challenge: trim_start(challenge),
                },
                None => ServerLine::Other(rest),
            },
        };
    }
    if let Some(rest) = text.strip_prefix(b"@ERROR") {
        let rest = rest.strip_prefix(b":").unwrap_or(rest);
        return ServerLine::Error {
            message: trim_start(rest),
        };
    }
    ServerLine::Text(text)
}

/// A module listing line, `name<spaces>\tcomment`: the name.
pub fn listed_module(text: &[u8]) -> Option<&[u8]> {
    let tab = memchr(b'\t', text)?;
    let name = text.get(..tab)?;
    let end = name.iter().rposition(|&b| b != b' ')? + 1;
    name.get(..end)
}

/// `user response` of the client's reply to AUTHREQD.
pub fn auth_reply(text: &[u8]) -> (&[u8], &[u8]) {
    match memchr(b' ', text) {
        Some(i) => (
            text.get(..i).unwrap_or_default(),
            text.get(i + 1..).unwrap_or_default(),
        ),
        None => (text, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(
            token(b"pub\nx", b'\n'),
            Token::Complete {
                text: b"pub",
                consumed: 4
            }
        );
        assert_eq!(
            token(b"pub\r\n", b'\n'),
            Token::Complete {
                text: b"pub",
                consumed: 5
            }
        );
        assert_eq!(
            token(b"--server\0x", 0),
            Token::Complete {
                text: b"--server",
                consumed: 9
            }
        );
        assert_eq!(
            token(b"\0", 0),
            Token::Complete {
                text: b"",
                consumed: 1
            }
        );
        assert_eq!(token(b"abc", 0), Token::Incomplete);
        assert_eq!(token(&[b'a'; MAX_LINE], b'\n'), Token::TooLong);
    }

    #[test]
    fn greetings() {
        let g = greeting(b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4").unwrap();
        assert_eq!(g.version, b"32.0");
        assert_eq!(g.protocol, Some(32));
        assert_eq!(g.digests, b"sha512 sha256 sha1 md5 md4");
        let g = greeting(b"@RSYNCD: 29").unwrap();
        assert_eq!(
            (g.version, g.protocol, g.digests),
            (&b"29"[..], Some(29), &b""[..])
        );
        assert_eq!(greeting(b"@RSYNCD: OK"), None);
        assert_eq!(greeting(b"@RSYNCD: 99999999999999999999"), None);
        assert_eq!(greeting(b"SSH-2.0"), None);
    }

    #[test]
    fn server_lines() {
        assert_eq!(server_line(b"@RSYNCD: OK"), ServerLine::Ok);
        assert_eq!(server_line(b"@RSYNCD: EXIT"), ServerLine::Exit);
        assert_eq!(
            server_line(b"@RSYNCD: AUTHREQD abc"),
            ServerLine::AuthRequired { challenge: b"abc" }
        );
        assert_eq!(
            server_line(b"@ERROR: auth failed on module priv"),
            ServerLine::Error {
                message: b"auth failed on module priv"
            }
        );
        assert_eq!(server_line(b"hello"), ServerLine::Text(b"hello"));
        assert_eq!(
            listed_module(b"pub            \tpublic files"),
            Some(&b"pub"[..])
        );
        assert_eq!(listed_module(b"no tab"), None);
        assert_eq!(listed_module(b"  \tx"), None);
        assert_eq!(auth_reply(b"alice abc"), (&b"alice"[..], &b"abc"[..]));
        assert_eq!(auth_reply(b"alice"), (&b"alice"[..], &b""[..]));
    }
}
