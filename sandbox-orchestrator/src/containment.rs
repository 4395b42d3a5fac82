//! The firewall around every sandbox bridge (`kyk-*`), loaded once per
//! process and idempotent:
//!
//! - our own nft table, at a priority before Docker's filter chains, DROPs
//!   every new connection that starts inside a sandbox: to the outside, to
//!   other sandboxes (forward) and to the host's own services through the
//!   bridge's gateway address (input). Only replies leave. A drop is final
//!   in netfilter, whatever Docker's chains say afterwards.
//! - an ACCEPT in Docker's `DOCKER-USER` chain for traffic into a sandbox
//!   bridge, so connections an agent redirects (DNAT) to a sandbox get past
//!   the FORWARD policy. An accept in our own nft table would not do: an
//!   accept ends only its own base chain, and Docker's iptables chain still
//!   runs after it.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Sandbox bridges are named `kyk-<sandbox suffix>`.
pub const BRIDGE_PREFIX: &str = "kyk-";
pub const TABLE: &str = "kyoka_sandbox";

fn ruleset() -> String {
    format!(
        "table inet {TABLE} {{}}\n\
         flush table inet {TABLE}\n\
         table inet {TABLE} {{\n\
           chain input {{\n\
             type filter hook input priority filter - 10; policy accept;\n\
             iifname \"{BRIDGE_PREFIX}*\" ct state established,related accept\n\
             iifname \"{BRIDGE_PREFIX}*\" counter drop\n\
           }}\n\
           chain forward {{\n\
             type filter hook forward priority filter - 10; policy accept;\n\
             iifname \"{BRIDGE_PREFIX}*\" ct state established,related accept\n\
             iifname \"{BRIDGE_PREFIX}*\" counter drop\n\
           }}\n\
         }}\n"
    )
}

fn run(cmd: &str, args: &[&str], input: Option<&str>) -> Result<bool> {
    let firewall = |message: String| Error::Firewall { command: format!("{cmd} {}", args.join(" ")), message };
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| firewall(format!("cannot run {cmd}: {e}")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).map_err(|e| firewall(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| firewall(e.to_string()))?;
    if !out.status.success() && input.is_some() {
        return Err(firewall(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(out.status.success())
}

static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();

/// Loads the table and the DOCKER-USER accept, once per process (the
/// service also reloads it at start, in case someone flushed the ruleset).
pub fn install() -> Result<()> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    reload()?;
    let _ = INSTALLED.set(());
    Ok(())
}

/// Loads the table and the DOCKER-USER accept (checks before adding).
pub fn reload() -> Result<()> {
    run("nft", &["-f", "-"], Some(&ruleset()))?;
    let rule = ["DOCKER-USER", "-o", "kyk-+", "-j", "ACCEPT"];
    let check: Vec<&str> = ["-w", "-C"].into_iter().chain(rule).collect();
    if !run("iptables", &check, None)? {
        let insert: Vec<&str> = ["-w", "-I"].into_iter().chain(rule).collect();
        if !run("iptables", &insert, None)? {
            return Err(Error::Firewall {
                command: format!("iptables {}", insert.join(" ")),
                message: "failed (is Docker's DOCKER-USER chain there?)".into(),
            });
        }
    }
    Ok(())
}
