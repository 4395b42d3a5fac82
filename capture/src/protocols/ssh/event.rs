//! Building SSH events from what the parser saw: owned, capped name-lists,
//! the negotiated algorithms and the HASSH fingerprints.

use md5::{Digest, Md5};
use model::events::ssh::{SshHandshake, SshKexInit};
use model::{Direction, Timestamp};

use super::parser::{self, KexInit};

/// Bytes kept of one name-list, and names listed of one.
const MAX_LIST_BYTES: usize = 4096;
const MAX_NAMES: usize = 1024;

/// Bytes as text, invalid UTF-8 replaced, cut at `max` bytes.
pub fn lossy(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(bytes.get(..max.min(bytes.len())).unwrap_or(bytes)).into_owned()
}

/// One side's KEXINIT name-lists, owned and capped.
pub struct KexLists {
    /// In wire order: kex, host key, enc c2s, enc s2c, mac c2s, mac s2c,
    /// comp c2s, comp s2c, lang c2s, lang s2c.
    lists: [String; 10],
    first_kex_packet_follows: bool,
    pub truncated: bool,
}

impl KexLists {
    pub fn new(kex: &KexInit<'_>) -> KexLists {
        let raw = [
            kex.kex,
            kex.host_key,
            kex.enc_c2s,
            kex.enc_s2c,
            kex.mac_c2s,
            kex.mac_s2c,
            kex.comp_c2s,
            kex.comp_s2c,
            kex.lang_c2s,
            kex.lang_s2c,
        ];
        let mut truncated = false;
        let lists = raw.map(|list| {
            let (kept, cut) = cap_list(list);
            truncated |= cut;
            String::from_utf8_lossy(kept).into_owned()
        });
        KexLists {
            lists,
            first_kex_packet_follows: kex.first_kex_packet_follows,
            truncated,
        }
    }

    fn kex(&self) -> &str {
        &self.lists[0]
    }
    fn host_key(&self) -> &str {
        &self.lists[1]
    }

    /// `kex;enc;mac;comp` for one direction (the HASSH input).
    fn hassh_algorithms(&self, dir: Direction) -> String {
        let o = if dir == Direction::ToServer { 0 } else { 1 };
        [
            self.kex(),
            &self.lists[2 + o],
            &self.lists[4 + o],
            &self.lists[6 + o],
        ]
        .join(";")
    }

    pub fn event(&self, dir: Direction) -> SshKexInit {
        let names = |i: usize| -> Vec<String> {
            self.lists[i]
                .split(',')
                .filter(|s| !s.is_empty())
                .take(MAX_NAMES)
                .map(String::from)
                .collect()
        };
        let algorithms = self.hassh_algorithms(dir);
        SshKexInit {
            direction: Some(dir),
            kex_algorithms: names(0),
            server_host_key_algorithms: names(1),
            encryption_algorithms_client_to_server: names(2),
            encryption_algorithms_server_to_client: names(3),
            mac_algorithms_client_to_server: names(4),
            mac_algorithms_server_to_client: names(5),
            compression_algorithms_client_to_server: names(6),
            compression_algorithms_server_to_client: names(7),
            languages_client_to_server: names(8),
            languages_server_to_client: names(9),
            first_kex_packet_follows: self.first_kex_packet_follows,
            hassh: md5_hex(&algorithms),
            hassh_algorithms: algorithms,
            truncated: self.truncated,
        }
    }
}

/// Keeps at most [`MAX_LIST_BYTES`] and [`MAX_NAMES`] of a name-list,
/// cutting at a comma; says whether anything was cut.
fn cap_list(list: &[u8]) -> (&[u8], bool) {
    let mut end = list.len().min(MAX_LIST_BYTES);
    let mut cut = end < list.len();
    if cut {
        end = list
            .get(..end)
            .and_then(|l| l.iter().rposition(|&b| b == b','))
            .unwrap_or(0);
    }
    if let Some((i, _)) = list
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b',')
        .nth(MAX_NAMES - 1)
    {
        if i < end {
            end = i;
            cut = true;
        }
    }
    (list.get(..end).unwrap_or_default(), cut)
}

/// OpenSSH's `SHA256:` fingerprint of a host key blob.
pub fn fingerprint(key: &[u8]) -> String {
    use base64::Engine;
    let digest = sha2::Sha256::digest(key);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// Zeek's rule: SSH 2 when both sides speak it (`2.x` or `1.99`), SSH 1
/// when either side only speaks 1.x.
pub fn protocol_major(client: &str, server: &str) -> Option<u8> {
    let speaks_2 = |v: &[u8]| v.starts_with(b"2.") || v == b"1.99";
    let only_1 = |v: &[u8]| v.starts_with(b"1.") && v != b"1.99";
    let c = parser::proto_version(client.as_bytes())?;
    let s = parser::proto_version(server.as_bytes())?;
    if only_1(c) || only_1(s) {
        Some(1)
    } else if speaks_2(c) && speaks_2(s) {
        Some(2)
    } else {
        None
    }
}

/// The negotiated compression, client to server then server to client.
pub fn compression<'a>(
    client: &'a KexLists,
    server: &'a KexLists,
) -> impl Iterator<Item = Option<&'a str>> {
    [6, 7]
        .into_iter()
        .map(|i| parser::negotiate(&client.lists[i], &server.lists[i]))
}

/// What the handshake event needs of one side.
pub struct SideView<'a> {
    pub version: Option<&'a str>,
    pub kexinit: Option<&'a KexLists>,
    pub encrypted_offset: Option<u64>,
    pub encrypted_at: Option<Timestamp>,
}

pub fn handshake(client: SideView<'_>, server: SideView<'_>, banner: &[String]) -> SshHandshake {
    let version = match (client.version, server.version) {
        (Some(c), Some(s)) => protocol_major(c, s),
        _ => None,
    };
    let mut h = SshHandshake {
        version,
        client_version: client.version.map(String::from),
        server_version: server.version.map(String::from),
        encrypted_offset_to_server: client.encrypted_offset,
        encrypted_offset_to_client: server.encrypted_offset,
        encrypted_at: match (client.encrypted_at, server.encrypted_at) {
            (Some(c), Some(s)) => Some(c.max(s)),
            _ => None,
        },
        server_banner: banner.to_vec(),
        ..SshHandshake::default()
    };
    if let Some(c) = client.kexinit {
        let algorithms = c.hassh_algorithms(Direction::ToServer);
        h.hassh = Some(md5_hex(&algorithms));
        h.hassh_algorithms = Some(algorithms);
    }
    if let Some(s) = server.kexinit {
        let algorithms = s.hassh_algorithms(Direction::ToClient);
        h.hassh_server = Some(md5_hex(&algorithms));
        h.hassh_server_algorithms = Some(algorithms);
    }
    if let (Some(c), Some(s)) = (client.kexinit, server.kexinit) {
        let pick = |i: usize| parser::negotiate(&c.lists[i], &s.lists[i]).map(String::from);
        h.kex_alg = parser::negotiate(c.kex(), s.kex()).map(String::from);
        h.host_key_alg = parser::negotiate(c.host_key(), s.host_key()).map(String::from);
        h.cipher_alg = pick(2);
        h.cipher_alg_to_client = pick(3);
        h.mac_alg = pick(4);
        h.mac_alg_to_client = pick(5);
        h.compression_alg = pick(6);
        h.compression_alg_to_client = pick(7);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(protocol_major("SSH-2.0-a", "SSH-1.99-b"), Some(2));
        assert_eq!(protocol_major("SSH-1.5-a", "SSH-1.99-b"), Some(1));
        assert_eq!(protocol_major("SSH-2.0-a", "SSH-2.0-b"), Some(2));
        assert_eq!(protocol_major("SSH-2.0-a", "SSH-1.5-b"), Some(1));
    }

    #[test]
    fn caps() {
        assert_eq!(cap_list(b"a,b"), (&b"a,b"[..], false));
        let long = "abc,".repeat(2000);
        let (kept, cut) = cap_list(long.as_bytes());
        assert!(cut && kept.len() <= MAX_LIST_BYTES && !kept.ends_with(b","));
        let many = "a,".repeat(3000);
        let (kept, cut) = cap_list(many.as_bytes());
        assert!(cut);
        assert_eq!(kept.split(|&b| b == b',').count(), MAX_NAMES);
    }
}
