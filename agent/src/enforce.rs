//! Keeps the kernel's table equal to the newest policy: a full rebuild at
//! start and whenever the frame (whitelist, default sandbox) changes, a delta
//! of attacker elements otherwise; every change one `nft -f` transaction.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use model::policy::{Mode, Policy, ServiceInfo};

use crate::error::Result;
use crate::nft;
use crate::plan::Plan;

pub struct Enforcer {
    pub table: String,
    pub mode: Mode,
    pub nft: PathBuf,
    pub conntrack: PathBuf,
    pub services: Vec<ServiceInfo>,
    pub flush_limit: usize,
    current: Option<Plan>,
    flusher: Option<std::sync::mpsc::Sender<IpAddr>>,
}

/// What one apply did, for logs and tests.
#[derive(Debug, Default)]
pub struct Applied {
    pub full: bool,
    pub new_attackers: usize,
    pub flushed: usize,
    /// Time spent in `nft -f` (the transaction itself).
    pub nft_time: std::time::Duration,
}

impl Enforcer {
    pub fn new(
        table: &str,
        mode: Mode,
        nft: PathBuf,
        conntrack: PathBuf,
        services: Vec<ServiceInfo>,
    ) -> Enforcer {
        Enforcer {
            table: table.to_owned(),
            mode,
            nft,
            conntrack,
            services,
            flush_limit: 256,
            current: None,
            flusher: None,
        }
    }

    /// Loads the table with no attackers: tracking starts before any
    /// redirect exists.
    pub fn start_empty(&mut self) -> Result<()> {
        let plan = Plan::default();
        nft::apply(
            &self.nft,
            &nft::render_full(&self.table, self.mode, &plan, model::signing::now()),
        )?;
        self.current = Some(plan);
        Ok(())
    }

    pub fn apply(&mut self, policy: &Policy) -> Result<Applied> {
        let now = model::signing::now();
        let (plan, skipped) = Plan::build(self.mode, policy, &self.services, now);
        if !skipped.bad_whitelist.is_empty() {
            tracing::warn!(entries = ?skipped.bad_whitelist, "whitelist entries that are not addresses or networks were left out");
        }
        if skipped.no_sandbox > 0 {
            tracing::warn!(
                count = skipped.no_sandbox,
                "attackers without a sandbox endpoint for this host's services are not redirected"
            );
        }
        let mut applied = Applied::default();
        if let Some(old) = &mut self.current {
            old.prune(now + 1);
        }
        let old_sources = self.current.as_ref().map(sources).unwrap_or_default();
        let delta = match &self.current {
            Some(old) if old.same_frame(&plan) => {
                Some(nft::render_delta(&self.table, old, &plan, now))
            }
            _ => None,
        };
        let started = std::time::Instant::now();
        match delta {
            Some(None) => {}
            Some(Some(batch)) => {
                if let Err(e) = nft::apply(&self.nft, &batch) {
                    // Most often an element the kernel already timed out.
                    tracing::debug!(error = %e, "delta refused, rebuilding the table");
                    self.full(&plan, now)?;
                    applied.full = true;
                }
            }
            None => {
                self.full(&plan, now)?;
                applied.full = true;
            }
        }
        applied.nft_time = started.elapsed();
        let new: Vec<IpAddr> = sources(&plan).difference(&old_sources).copied().collect();
        applied.new_attackers = new.len();
        if self.mode != Mode::Firewall {
            // Off the enforcement path: one `conntrack -D` costs tens of ms
            // with a full conntrack table, and the rules already redirect
            // every new connection (a SYN always gets a fresh entry).
            let flusher = self
                .flusher
                .get_or_insert_with(|| spawn_flusher(self.conntrack.clone()));
            for addr in new.iter().take(self.flush_limit) {
                if flusher.send(*addr).is_ok() {
                    applied.flushed += 1;
                }
            }
            if new.len() > self.flush_limit {
                tracing::info!(
                    skipped = new.len() - self.flush_limit,
                    "conntrack flush limited per change"
                );
            }
        }
        self.current = Some(plan);
        Ok(applied)
    }

    fn full(&mut self, plan: &Plan, now: i64) -> Result<()> {
        nft::apply(
            &self.nft,
            &nft::render_full(&self.table, self.mode, plan, now),
        )
    }

    pub fn remove(&mut self) -> Result<()> {
        self.current = None;
        nft::delete_table(&self.nft, &self.table)
    }
}

/// A thread that runs the conntrack flushes one after another. It is
/// started from the enforcing thread, so it lives in the same namespace.
fn spawn_flusher(conntrack: PathBuf) -> std::sync::mpsc::Sender<IpAddr> {
    let (tx, rx) = std::sync::mpsc::channel::<IpAddr>();
    std::thread::spawn(move || {
        for addr in rx {
            if let Err(e) = nft::flush_conntrack(&conntrack, addr) {
                tracing::warn!(error = %e, "conntrack flush failed");
            }
        }
    });
    tx
}

fn sources(plan: &Plan) -> BTreeSet<IpAddr> {
    plan.flagged
        .keys()
        .copied()
        .chain(plan.redirect.keys().map(|(a, _)| *a))
        .chain(plan.sandbox_addr.keys().copied())
        .collect()
}
