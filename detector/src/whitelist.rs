//! Whitelisted networks: addresses never flagged (and never redirected by
//! agents, which get the same list in the policy).

use std::net::IpAddr;

use crate::{Error, Result};

#[derive(Clone, Debug, Default)]
pub struct Networks {
    nets: Vec<(IpAddr, u8)>,
}

impl Networks {
    /// `10.0.0.5`, `192.168.0.0/16`, `2001:db8::/32`.
    pub fn parse(entries: &[String]) -> Result<Networks> {
        let mut nets = Vec::new();
        for entry in entries {
            let (addr, len) = match entry.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (entry.as_str(), None),
            };
            let addr: IpAddr = addr.trim().parse().map_err(|_| {
                Error::Config(format!("whitelist: {entry:?} is no address or network"))
            })?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => l
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| {
                        Error::Config(format!("whitelist: bad prefix length in {entry:?}"))
                    })?,
            };
            nets.push((addr, len));
        }
        Ok(Networks { nets })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.nets.iter().any(|&(net, len)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), len),
            _ => false,
        })
    }
}

fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let (bytes, bits) = ((len / 8) as usize, len % 8);
    if a[..bytes] != b[..bytes] {
        return false;
    }
    bits == 0 || (a[bytes] ^ b[bytes]) >> (8 - bits) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks() {
        let w = Networks::parse(&[
            "10.0.0.5".into(),
            "192.168.0.0/17".into(),
            "2001:db8::/32".into(),
        ])
        .unwrap();
        for yes in [
            "10.0.0.5",
            "192.168.127.1",
            "2001:db8::1",
            "::ffff:10.0.0.5",
        ] {
            assert!(w.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in ["10.0.0.6", "192.168.128.1", "2001:db9::1"] {
            assert!(!w.contains(no.parse().unwrap()), "{no}");
        }
        assert!(Networks::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(Networks::parse(&["host".into()]).is_err());
        assert!(Networks::parse(&["0.0.0.0/0".into()])
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }
}
