//! `kyoka orchestrator`: adopts what runs, keeps the pool full, gives every
//! flagged attacker (Redis `kyoka:attackers`) a sandbox and publishes it,
//! freezes and reaps idle sandboxes, forwards daemon logs as syslog.

use std::collections::HashSet;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::activity::Activity;
use crate::error::Result;
use crate::orchestrator::Orchestrator;
use crate::publish;
use crate::sandbox::State;

/// Wakes the loop early on every `kyoka:policy:changed` message (a newly
/// flagged attacker); the loop also polls each `reap_interval_ms`.
async fn listen_for_changes(client: redis::Client, wake: Arc<Notify>) {
    loop {
        if let Ok(mut pubsub) = client.get_async_pubsub().await {
            if pubsub.subscribe(model::state::POLICY_CHANGED).await.is_ok() {
                let mut messages = pubsub.on_message();
                while messages.next().await.is_some() {
                    wake.notify_one();
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One pass: sandboxes for flagged attackers that have none (or whose
/// sandbox is gone), published per the contract.
pub async fn assign_flagged(o: &Orchestrator, redis: &mut redis::aio::ConnectionManager) -> Result<Vec<IpAddr>> {
    assign_flagged_captured(o, redis, None).await
}

/// [`assign_flagged`], with the sandbox's bridge captured before it is
/// published (so before an agent sends the attacker there).
pub async fn assign_flagged_captured(
    o: &Orchestrator,
    redis: &mut redis::aio::ConnectionManager,
    captures: Option<&Arc<crate::capture::Captures>>,
) -> Result<Vec<IpAddr>> {
    let now = chrono::Utc::now().timestamp();
    let live: HashSet<String> = o.sandboxes().await?.into_iter().filter(|s| s.state != State::Broken).map(|s| s.id).collect();
    let mut assigned = Vec::new();
    for attacker in publish::flagged(redis, now).await? {
        let current = publish::published(redis, attacker).await?;
        if current.as_ref().is_some_and(|s| live.contains(&s.id)) {
            continue;
        }
        let a = o.assign(attacker).await?;
        if let Some(c) = captures {
            let all = o.sandboxes().await?;
            let c = c.clone();
            let _ = tokio::task::spawn_blocking(move || c.sync(&all)).await;
        }
        let sandbox = model::policy::Sandbox { id: a.sandbox.clone(), endpoints: a.endpoints.clone() };
        let version = publish::publish(redis, attacker, &sandbox).await?;
        tracing::info!(%attacker, sandbox = %a.sandbox, how = %a.how, version, "sandbox published");
        assigned.push(attacker);
    }
    Ok(assigned)
}

pub async fn run(o: Arc<Orchestrator>, shutdown: impl Future<Output = ()>) -> Result<()> {
    crate::containment::reload()?;
    let kept = o.adopt().await?;
    tracing::info!(sandboxes = kept.len(), "adopted");
    // Bridges are captured from here on (adopted sandboxes included).
    let captures = match &o.config.capture_data {
        Some(data) => Some(Arc::new(crate::capture::Captures::start(data)?)),
        None => None,
    };
    let following = captures.clone().map(|c| tokio::spawn(crate::capture::follow(o.clone(), c)));
    let client = redis::Client::open(o.config.redis_url.as_str())?;
    let mut redis = redis::aio::ConnectionManager::new(client.clone()).await?;
    let wake = Arc::new(Notify::new());
    tokio::spawn(listen_for_changes(client, wake.clone()));
    // The pool refills in the background: pre-creating takes seconds.
    let pool = o.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = pool.fill_pool().await {
                tracing::warn!(%e, "filling the pool");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut activity = Activity::default();
    let mut followed = HashSet::new();
    let interval = Duration::from_millis(o.config.reap_interval_ms.max(50));
    tokio::pin!(shutdown);
    loop {
        if let Err(e) = assign_flagged_captured(&o, &mut redis, captures.as_ref()).await {
            tracing::warn!(%e, "assigning flagged attackers");
        }
        match activity.reap(&o).await {
            Ok(r) => {
                for (id, attacker, evidence) in r.destroyed {
                    tracing::info!(sandbox = %id, ?attacker, ?evidence, "idle sandbox destroyed");
                    let gone: Vec<IpAddr> = attacker.and_then(|a| a.parse().ok()).into_iter().collect();
                    if let Err(e) = publish::withdraw(&mut redis, &gone).await {
                        tracing::warn!(%e, "withdrawing");
                    }
                }
            }
            Err(e) => tracing::warn!(%e, "reaping"),
        }
        if let Some(target) = o.config.syslog_target.clone() {
            if let Ok(all) = o.sandboxes().await {
                for sb in all.iter().filter(|s| s.attacker.is_some() && s.state != State::Broken) {
                    crate::syslog::follow(&o, &target, sb, &mut followed);
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
    if let Some(f) = following {
        f.abort();
        let _ = f.await;
    }
    if let Some(mut c) = captures {
        // A sync still running holds a reference for a moment.
        for _ in 0..100 {
            match Arc::try_unwrap(c) {
                Ok(c) => {
                    let counts = tokio::task::spawn_blocking(move || c.stop()).await;
                    tracing::info!(?counts, "sandbox capture stopped");
                    break;
                }
                Err(shared) => c = shared,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}
