//! Lines → observations → rule hits → Redis, in batches: whatever has
//! arrived is taken at once (no waiting to fill a batch), so a quiet line
//! goes straight through and a flood costs one round trip per batch.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use model::policy::Mode;
use tokio::sync::mpsc;

use crate::normalise::Normaliser;
use crate::rules::Rules;
use crate::state::{Hit, Store};
use crate::syslog::{LogLine, Stats};
use crate::whitelist::Networks;

const BATCH: usize = 1024;

/// What decides whether an observation counts.
#[derive(Clone, Debug)]
pub struct Judge {
    pub rules: Rules,
    pub mode: Mode,
    pub whitelist: Networks,
}

/// Runs until every sender of `lines` is gone. A Redis failure is retried
/// (the batch is held, the channel fills, TCP senders wait): no detection
/// is lost to a Redis restart.
pub async fn run(
    mut lines: mpsc::Receiver<LogLine>,
    judge: Arc<Judge>,
    store: Store,
    stats: Arc<Stats>,
) {
    let mut normaliser = Normaliser::new();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if lines.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        let observations: Vec<_> = batch
            .iter()
            .filter_map(|l| normaliser.line(l.peer, l.app.as_deref(), &l.msg))
            .collect();
        let hits: Vec<Hit> = observations
            .iter()
            .filter(|o| !judge.whitelist.contains(o.source))
            .flat_map(|o| {
                judge.rules.matching(o, judge.mode).map(move |rule| Hit {
                    rule,
                    observation: o,
                })
            })
            .collect();
        let mut delay = Duration::from_millis(50);
        loop {
            match store.record(&hits).await {
                Ok(flagged) => {
                    for version in &flagged {
                        tracing::info!(version, "attacker flagged");
                    }
                    stats
                        .detections
                        .fetch_add(flagged.len() as u64, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "recording detections failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
        stats
            .observations
            .fetch_add(observations.len() as u64, Ordering::Relaxed);
        stats
            .processed
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        batch.clear();
    }
}
