//! One /27 per sandbox out of the configured pool, so the engine's default
//! address pools (a few dozen /16s) never run out and every endpoint address
//! is known before the containers exist.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::error::{Error, Result};

pub const PREFIX: u8 = 27;
/// Host offset of a sandbox's one address (.1 is the bridge): every
/// service listens there, on its own port.
pub const SANDBOX_HOST: u8 = 2;

/// (base address, prefix length) of `a.b.c.d/n`.
pub fn parse_pool(pool: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || Error::Config(format!("subnet_pool {pool:?} is not an IPv4 a.b.c.d/n with n <= {PREFIX}"));
    let (addr, len) = pool.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > PREFIX {
        return Err(bad());
    }
    Ok((addr, len))
}

/// The first /27 of `pool` not in `used` (network addresses).
pub fn allocate(pool: &str, used: &BTreeSet<Ipv4Addr>) -> Result<Ipv4Addr> {
    let (base, len) = parse_pool(pool)?;
    let base = u32::from(base) & (u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0));
    let count = 1u32 << (PREFIX - len);
    (0..count)
        .map(|i| Ipv4Addr::from(base + (i << (32 - PREFIX))))
        .find(|net| !used.contains(net))
        .ok_or_else(|| Error::NoSubnet(pool.to_string()))
}

/// Address `host` inside the /27 starting at `net`.
pub fn host(net: Ipv4Addr, host: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net) + u32::from(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_the_first_free_block() {
        let mut used = BTreeSet::new();
        let a = allocate("10.213.0.0/16", &used).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 213, 0, 0));
        used.insert(a);
        assert_eq!(allocate("10.213.0.0/16", &used).unwrap(), Ipv4Addr::new(10, 213, 0, 32));
        assert_eq!(host(a, 3), Ipv4Addr::new(10, 213, 0, 3));
        used.insert(Ipv4Addr::new(10, 213, 0, 32));
        assert!(allocate("10.213.0.0/26", &used).is_err());
        assert!(parse_pool("10.0.0.0/30").is_err() && parse_pool("nope").is_err());
    }
}
