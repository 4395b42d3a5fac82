//! The contract with the detector and agents (model::state): the
//! orchestrator writes `kyoka:sandbox:{attacker}`, bumps the policy version
//! and announces it; flagged attackers are read from `kyoka:attackers`.

use std::net::IpAddr;

use redis::AsyncCommands;

use crate::error::Result;
use model::state;

/// Stores one attacker's sandbox and announces the new policy version.
pub async fn publish(redis: &mut redis::aio::ConnectionManager, attacker: IpAddr, sandbox: &model::policy::Sandbox) -> Result<u64> {
    let json = serde_json::to_string(sandbox)?;
    let _: () = redis.set(state::sandbox_of(attacker), json).await?;
    bump(redis).await
}

/// Forgets a destroyed sandbox's attackers.
pub async fn withdraw(redis: &mut redis::aio::ConnectionManager, attackers: &[IpAddr]) -> Result<u64> {
    for a in attackers {
        let _: () = redis.del(state::sandbox_of(*a)).await?;
    }
    bump(redis).await
}

async fn bump(redis: &mut redis::aio::ConnectionManager) -> Result<u64> {
    let version: u64 = redis.incr(state::POLICY_VERSION, 1).await?;
    let _: () = redis.publish(state::POLICY_CHANGED, version).await?;
    Ok(version)
}

/// Attackers flagged and not expired (`kyoka:attackers`, address → expiry).
pub async fn flagged(redis: &mut redis::aio::ConnectionManager, now_secs: i64) -> Result<Vec<IpAddr>> {
    let members: Vec<String> = redis.zrangebyscore(state::ATTACKERS, now_secs, "+inf").await?;
    Ok(members.iter().filter_map(|m| m.parse().ok()).collect())
}

/// Attackers that already have a sandbox published.
pub async fn published(redis: &mut redis::aio::ConnectionManager, attacker: IpAddr) -> Result<Option<model::policy::Sandbox>> {
    let json: Option<String> = redis.get(state::sandbox_of(attacker)).await?;
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}
