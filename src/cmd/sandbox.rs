//! `kyoka sandbox create|list|destroy|pool`: per-attacker sandboxes by hand
//! (operators, tests). Docker is the state, so this agrees with a running
//! `kyoka orchestrator`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sandbox_orchestrator::{Config, Orchestrator};

#[derive(clap::Args)]
/// Per-attacker sandboxes: create (or find) one, list, destroy, pre-create
pub struct Args {
    /// Orchestrator settings (TOML); defaults when absent.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// The attacker's sandbox (existing, from the warm pool, or new), as JSON.
    Create {
        #[arg(long)]
        attacker: IpAddr,
    },
    /// Every sandbox, one JSON object a line.
    List,
    /// Destroys a sandbox, keeping evidence of what changed on disk.
    Destroy { id: String },
    /// Tops the warm pool up to `pool_size` (or --size) paused sandboxes.
    Pool {
        #[arg(long)]
        size: Option<usize>,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        if let Command::Pool { size: Some(n) } = &args.command {
            config.pool_size = *n;
        }
        let o = Orchestrator::connect(config).await?;
        match args.command {
            Command::Create { attacker } => {
                let a = o.assign(attacker).await?;
                println!("{}", serde_json::to_string(&a)?);
            }
            Command::List => {
                for sb in o.sandboxes().await? {
                    let mut v = serde_json::to_value(&sb)?;
                    v["endpoints"] = serde_json::to_value(sb.endpoints(&o.config.services))?;
                    println!("{v}");
                }
            }
            Command::Destroy { id } => {
                let evidence = o.destroy(&id).await.with_context(|| format!("destroying {id}"))?;
                println!("{}", serde_json::json!({"destroyed": id, "evidence": evidence}));
            }
            Command::Pool { .. } => {
                let made = o.fill_pool().await?;
                println!("{}", serde_json::json!({"precreated": made}));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
