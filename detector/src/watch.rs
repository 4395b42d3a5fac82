//! The current policy, kept by one task per detector: it subscribes to
//! [`model::state::POLICY_CHANGED`], rereads the policy on every message
//! (and every two seconds, in case a message was missed while reconnecting)
//! and hands it to every push stream at once through a `watch` channel.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use model::policy::Policy;
use tokio::sync::watch;

use crate::state::Store;

/// A policy and its JSON text (made once, sent to every agent).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub policy: Policy,
    pub json: String,
}

impl Snapshot {
    pub fn new(policy: Policy) -> Arc<Snapshot> {
        let json = serde_json::to_string(&policy).expect("a policy serialises");
        Arc::new(Snapshot { policy, json })
    }
}

const RESYNC: Duration = Duration::from_secs(2);

pub async fn run(client: redis::Client, store: Store, tx: watch::Sender<Arc<Snapshot>>) {
    loop {
        let mut pubsub = match client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "policy subscription failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if let Err(e) = pubsub.subscribe(model::state::POLICY_CHANGED).await {
            tracing::warn!(error = %e, "policy subscription failed; retrying");
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        refresh(&store, &tx).await;
        let mut messages = pubsub.into_on_message();
        let mut tick = tokio::time::interval(RESYNC);
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(_) => refresh(&store, &tx).await,
                    None => break,
                },
                _ = tick.tick() => {
                    if store.version().await.ok() != Some(tx.borrow().policy.version) {
                        refresh(&store, &tx).await;
                    }
                }
            }
        }
        tracing::warn!("policy subscription ended; reconnecting");
    }
}

async fn refresh(store: &Store, tx: &watch::Sender<Arc<Snapshot>>) {
    match store.policy().await {
        Ok(policy) => {
            tx.send_if_modified(|current| {
                if policy.version > current.policy.version
                    || (policy.version == current.policy.version && policy != current.policy)
                {
                    *current = Snapshot::new(policy);
                    true
                } else {
                    false
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "reading the policy failed"),
    }
}
