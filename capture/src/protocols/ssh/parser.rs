//! Pure, streaming parsing of the clear-text part of SSH (RFC 4253): the
//! identification lines and the binary packets before NEWKEYS. Bytes in,
//! borrowed views out; `Incomplete` just means "wait for more".

use memchr::memchr;

/// RFC 4253 4.2 allows 255 bytes for the identification line; we are lenient
/// up to this many before calling it an anomaly.
pub const MAX_LINE: usize = 1024;

/// RFC 4253 6.1: implementations must handle packets of 35000 bytes in total.
pub const MAX_PACKET: u32 = 35000;

pub const MSG_KEXINIT: u8 = 20;
pub const MSG_NEWKEYS: u8 = 21;
/// KEXDH_REPLY / KEX_ECDH_REPLY (and GEX's KEX_DH_GEX_GROUP, same number).
pub const MSG_KEX_REPLY: u8 = 31;
pub const MSG_KEX_DH_GEX_REPLY: u8 = 33;

/// One line of the identification phase.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A whole line, without its `\r\n` or `\n`; `consumed` includes it.
    Complete {
        text: &'a [u8],
        consumed: usize,
    },
    Incomplete,
    /// No newline within [`MAX_LINE`] bytes.
    TooLong,
}

pub fn line(data: &[u8]) -> Line<'_> {
    let window = data.get(..MAX_LINE.min(data.len())).unwrap_or(data);
    match memchr(b'\n', window) {
        Some(end) => {
            let text = window.get(..end).unwrap_or_default();
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            Line::Complete {
                text,
                consumed: end + 1,
            }
        }
        None if data.len() >= MAX_LINE => Line::TooLong,
        None => Line::Incomplete,
    }
}

/// The protocol version of an identification line (`2.0` of
/// `SSH-2.0-OpenSSH_9.2`), if it is one.
pub fn proto_version(text: &[u8]) -> Option<&[u8]> {
    let rest = text.strip_prefix(b"SSH-")?;
    let end = memchr(b'-', rest).unwrap_or(rest.len());
    rest.get(..end)
}

/// One binary packet before encryption: no MAC, nothing compressed.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    Complete {
        payload: &'a [u8],
        consumed: usize,
    },
    Incomplete,
    /// `packet_length` or `padding_length` cannot be (too big, padding
    /// longer than the packet): the stream is not clear-text SSH any more.
    BadLength {
        packet_length: u32,
        padding_length: Option<u8>,
    },
}

pub fn packet(data: &[u8]) -> Packet<'_> {
    let Some(header) = data.get(..4) else {
        return Packet::Incomplete;
    };
    let packet_length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if !(1..=MAX_PACKET).contains(&packet_length) {
        return Packet::BadLength {
            packet_length,
            padding_length: None,
        };
    }
    let Some(&padding_length) = data.get(4) else {
        return Packet::Incomplete;
    };
    // packet_length = 1 (padding_length byte) + payload + padding.
    let Some(payload_len) = (packet_length as usize).checked_sub(1 + padding_length as usize)
    else {
        return Packet::BadLength {
            packet_length,
            padding_length: Some(padding_length),
        };
    };
    let total = 4 + packet_length as usize;
    if data.len() < total {
        return Packet::Incomplete;
    }
    match data.get(5..5 + payload_len) {
        Some(payload) => Packet::Complete {
            payload,
            consumed: total,
        },
        None => Packet::Incomplete,
    }
}

/// The ten name-lists of SSH_MSG_KEXINIT (RFC 4253 7.1), in wire order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KexInit<'a> {
    pub kex: &'a [u8],
    pub host_key: &'a [u8],
    pub enc_c2s: &'a [u8],
    pub enc_s2c: &'a [u8],
    pub mac_c2s: &'a [u8],
    pub mac_s2c: &'a [u8],
    pub comp_c2s: &'a [u8],
    pub comp_s2c: &'a [u8],
    pub lang_c2s: &'a [u8],
    pub lang_s2c: &'a [u8],
    pub first_kex_packet_follows: bool,
}

/// Parses a KEXINIT payload (message byte included). `None` if it is cut
/// short or a name-list overruns it.
pub fn kexinit(payload: &[u8]) -> Option<KexInit<'_>> {
    let (&msg, rest) = payload.split_first()?;
    if msg != MSG_KEXINIT {
        return None;
    }
    let mut rest = rest.get(16..)?; // cookie
    let mut lists: [&[u8]; 10] = [&[]; 10];
    for list in lists.iter_mut() {
        let (value, tail) = string(rest)?;
        *list = value;
        rest = tail;
    }
    let first_kex_packet_follows = rest.first().is_some_and(|&b| b != 0);
    let [kex, host_key, enc_c2s, enc_s2c, mac_c2s, mac_s2c, comp_c2s, comp_s2c, lang_c2s, lang_s2c] =
        lists;
    Some(KexInit {
        kex,
        host_key,
        enc_c2s,
        enc_s2c,
        mac_c2s,
        mac_s2c,
        comp_c2s,
        comp_s2c,
        lang_c2s,
        lang_s2c,
        first_kex_packet_follows,
    })
}

/// The server's public host key (`K_S`) of a key exchange reply, and the
/// key type it names. `None` for anything else, such as the group-exchange
/// message that shares number 31 but starts with a prime.
pub fn host_key(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&msg, rest) = payload.split_first()?;
    if msg != MSG_KEX_REPLY && msg != MSG_KEX_DH_GEX_REPLY {
        return None;
    }
    let (key, _) = string(rest)?;
    let (kind, _) = string(key)?;
    let plausible = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-@._".contains(&b))
        && kind.first().is_some_and(u8::is_ascii_alphabetic);
    plausible.then_some((key, kind))
}

/// An SSH `string`: uint32 length, then that many bytes.
fn string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let end = 4usize.checked_add(len)?;
    Some((data.get(4..end)?, data.get(end..)?))
}

/// RFC 4253 7.1: the first algorithm on the client's list that the server
/// also lists.
pub fn negotiate<'a>(client: &'a str, server: &str) -> Option<&'a str> {
    client
        .split(',')
        .find(|c| !c.is_empty() && server.split(',').any(|s| s == *c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            line(b"SSH-2.0-x\r\nrest"),
            Line::Complete {
                text: b"SSH-2.0-x",
                consumed: 11
            }
        );
        assert_eq!(
            line(b"SSH-2.0-x\n"),
            Line::Complete {
                text: b"SSH-2.0-x",
                consumed: 10
            }
        );
        assert_eq!(line(b"SSH-2.0"), Line::Incomplete);
        assert_eq!(line(&[b'a'; MAX_LINE]), Line::TooLong);
        assert_eq!(proto_version(b"SSH-1.99-OpenSSH_6.6"), Some(&b"1.99"[..]));
        assert_eq!(proto_version(b"SSH-2.0"), Some(&b"2.0"[..]));
        assert_eq!(proto_version(b"HTTP/1.1"), None);
    }

    #[test]
    fn packets() {
        // NEWKEYS: length 12, padding 10.
        let newkeys = [0, 0, 0, 12, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        assert_eq!(
            packet(&newkeys),
            Packet::Complete {
                payload: &[21],
                consumed: 16
            }
        );
        assert_eq!(packet(&newkeys[..10]), Packet::Incomplete);
        assert_eq!(packet(&newkeys[..3]), Packet::Incomplete);
        assert!(matches!(packet(&[0, 1, 0, 0, 4]), Packet::BadLength { .. }));
        assert!(matches!(packet(&[0, 0, 0, 4, 9]), Packet::BadLength { .. }));
        assert!(matches!(packet(&[0, 0, 0, 0]), Packet::BadLength { .. }));
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate("a,b,c", "c,b"), Some("b"));
        assert_eq!(negotiate("a", "b"), None);
        assert_eq!(negotiate("", ""), None);
    }

    #[test]
    fn host_keys() {
        let mut reply = vec![31, 0, 0, 0, 19, 0, 0, 0, 11];
        reply.extend_from_slice(b"ssh-ed25519");
        reply.extend_from_slice(&[0, 0, 0, 0]);
        let (key, kind) = host_key(&reply).unwrap();
        assert_eq!((key.len(), kind), (19, &b"ssh-ed25519"[..]));
        // KEX_DH_GEX_GROUP: an mpint prime where the key would be.
        assert_eq!(host_key(&[31, 0, 0, 1, 1, 0, 0xff, 0xff]), None);
        assert_eq!(host_key(&[33]), None);
    }

    #[test]
    fn kexinit_short() {
        assert_eq!(kexinit(&[20; 10]), None);
        assert_eq!(kexinit(&[]), None);
    }
}
