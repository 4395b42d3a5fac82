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
    /// Masquerade redirected connections (sandboxes that do not route back
    /// through this host); the sandbox then sees this host's address.
    pub masquerade: bool,
    /// Cleared when the kernel refused the FTP conntrack helper (no
    /// nf_conntrack_ftp): redirects go on without it.
    ftp_helper: bool,
    current: Option<Plan>,
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
            flush_limit: 32,
            masquerade: false,
            ftp_helper: true,
            current: None,
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
        let (mut plan, skipped) = Plan::build(self.mode, policy, &self.services, now);
        plan.masquerade = self.masquerade;
        if !self.ftp_helper {
            plan.ftp_ports.clear();
        }
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
        let new: Vec<IpAddr> = sources(&plan).difference(&old_sources).copied().collect();
        applied.new_attackers = new.len();
        if self.mode != Mode::Firewall {
            // Before the rules change, never after: a flush that runs once
            // the new attacker is in the table can delete the entry of its
            // first redirected connection in the middle of the handshake
            // (seen in the namespace tests), and that connection dies.
            // Entries flushed here are picked up again mid-stream and stay
            // where they are (only a pure SYN is redirected).
            for addr in new.iter().take(self.flush_limit) {
                match nft::flush_conntrack(&self.conntrack, *addr) {
                    Ok(()) => applied.flushed += 1,
                    Err(e) => tracing::warn!(error = %e, "conntrack flush failed"),
                }
            }
            if new.len() > self.flush_limit {
                tracing::info!(
                    skipped = new.len() - self.flush_limit,
                    "conntrack flush limited per change"
                );
            }
        }
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
                    self.full(&mut plan, now)?;
                    applied.full = true;
                }
            }
            None => {
                self.full(&mut plan, now)?;
                applied.full = true;
            }
        }
        applied.nft_time = started.elapsed();
        self.current = Some(plan);
        Ok(applied)
    }

    /// Loads `plan` as a whole. A kernel without the FTP helper refuses
    /// the table: it is loaded again without it (redirects matter more than
    /// FTP data connections), and the helper is not asked for again.
    fn full(&mut self, plan: &mut Plan, now: i64) -> Result<()> {
        let result = nft::apply(
            &self.nft,
            &nft::render_full(&self.table, self.mode, plan, now),
        );
        let Err(e) = result else { return Ok(()) };
        if plan.ftp_ports.is_empty() {
            return Err(e);
        }
        let mut without = plan.clone();
        without.ftp_ports.clear();
        // Refused again: the helper was not the cause, the first error says
        // what was.
        if nft::apply(
            &self.nft,
            &nft::render_full(&self.table, self.mode, &without, now),
        )
        .is_err()
        {
            return Err(e);
        }
        tracing::warn!(error = %e, "the kernel refused the FTP conntrack helper (nf_conntrack_ftp, nf_nat_ftp): FTP data connections of redirected attackers will fail");
        self.ftp_helper = false;
        *plan = without;
        Ok(())
    }

    /// Is the table still in the kernel? (Someone may have run `nft flush
    /// ruleset`, or a firewall manager reloaded.) Lists one chain only,
    /// never the sets, so it stays cheap with 100,000 attackers.
    pub fn table_present(&self) -> bool {
        std::process::Command::new(&self.nft)
            .args(["list", "chain", "inet", &self.table, "prerouting"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(true)
    }

    /// Loads the current plan again as a whole.
    pub fn rebuild(&mut self) -> Result<()> {
        let now = model::signing::now();
        let mut plan = self.current.take().unwrap_or_default();
        plan.prune(now);
        let result = self.full(&mut plan, now);
        self.current = Some(plan);
        result
    }

    pub fn remove(&mut self) -> Result<()> {
        self.current = None;
        nft::delete_table(&self.nft, &self.table)
    }
}

fn sources(plan: &Plan) -> BTreeSet<IpAddr> {
    plan.flagged
        .keys()
        .copied()
        .chain(plan.redirect.keys().map(|(a, _)| *a))
        .chain(plan.sandbox_addr.keys().copied())
        .collect()
}
