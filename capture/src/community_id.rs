//! Community ID v1 flow hashing (https://github.com/corelight/community-id-spec),
//! so flows can be matched with Zeek, Suricata and Arkime records.

use std::net::IpAddr;

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// `1:<base64 sha1>` for a TCP (6) or UDP (17) flow, seed 0.
pub fn community_id(protocol: u8, a: IpAddr, a_port: u16, b: IpAddr, b_port: u16) -> String {
    let bytes = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let (a_bytes, b_bytes) = (bytes(a), bytes(b));
    // Order the endpoints so both directions hash alike.
    let a_first = (a_bytes.as_slice(), a_port) < (b_bytes.as_slice(), b_port);
    let ((src, sport), (dst, dport)) = if a_first {
        ((&a_bytes, a_port), (&b_bytes, b_port))
    } else {
        ((&b_bytes, b_port), (&a_bytes, a_port))
    };
    let mut h = Sha1::new();
    h.update(0u16.to_be_bytes());
    h.update(src);
    h.update(dst);
    h.update([protocol, 0]);
    h.update(sport.to_be_bytes());
    h.update(dport.to_be_bytes());
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values from the specification's baseline (community-id-spec, baseline_default.json).
    #[test]
    fn matches_the_specification_baseline() {
        let a: IpAddr = "128.232.110.120".parse().unwrap();
        let b: IpAddr = "66.35.250.204".parse().unwrap();
        assert_eq!(
            community_id(6, a, 34855, b, 80),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            community_id(6, b, 80, a, 34855),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        let c: IpAddr = "fe80::200:86ff:fe05:80da".parse().unwrap();
        let d: IpAddr = "fe80::260:97ff:fe07:69ea".parse().unwrap();
        assert_eq!(
            community_id(17, c, 53, d, 53),
            community_id(17, d, 53, c, 53)
        );
    }
}
