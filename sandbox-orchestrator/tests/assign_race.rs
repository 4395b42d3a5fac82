//! Concurrent `create` calls: two callers (two orchestrator connections,
//! as the CLI and the service would be) asking for the same attacker at
//! once get one sandbox; two attackers racing for one pool sandbox get
//! different sandboxes.

mod common;

use std::net::IpAddr;

use common::*;
use sandbox_orchestrator::Config;

#[test]
fn racing_creates_for_one_attacker_give_one_sandbox() {
    let config = config("race");
    let _cleanup = Cleanup(config.clone());
    runtime().block_on(async {
        let (one, two) = (connect(config.clone()).await, connect(config.clone()).await);
        let attacker: IpAddr = "198.51.100.61".parse().unwrap();
        let (a, b) = tokio::join!(one.assign(attacker), two.assign(attacker));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.sandbox, b.sandbox, "two sandboxes for one attacker: {a:?} {b:?}");
        let mut how = [a.how.as_str(), b.how.as_str()];
        how.sort();
        assert_eq!(how, ["cold", "existing"]);
        let mine: Vec<_> = one.sandboxes().await.unwrap().into_iter().filter(|s| s.attacker.as_deref() == Some("198.51.100.61")).collect();
        assert_eq!(mine.len(), 1, "{mine:?}");
    });
}

#[test]
fn two_attackers_never_share_one_pool_sandbox() {
    let config = Config { pool_size: 1, ..config("race-pool") };
    let _cleanup = Cleanup(config.clone());
    runtime().block_on(async {
        let (one, two) = (connect(config.clone()).await, connect(config.clone()).await);
        assert_eq!(one.fill_pool().await.unwrap(), 1);
        let (x, y): (IpAddr, IpAddr) = ("198.51.100.62".parse().unwrap(), "198.51.100.63".parse().unwrap());
        let (a, b) = tokio::join!(one.assign(x), two.assign(y));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_ne!(a.sandbox, b.sandbox, "one pool sandbox for two attackers");
        let mut how = [a.how.as_str(), b.how.as_str()];
        how.sort();
        assert_eq!(how, ["cold", "warm"]);
    });
}
