//! `kyoka agents`: provision and revoke the agents that may use the policy API.

use std::process::ExitCode;

use anyhow::Context;
use detector::agents;
use detector::state::Store;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Redis URL of the detector's state.
    #[arg(long, global = true, default_value = "redis://127.0.0.1:6379")]
    redis: String,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Adds an agent; prints `{"id": …, "key": …}`. The key is shown only this once.
    Add { name: String },
    /// Revokes every live agent of that name: its requests get 401 from now on.
    Revoke { name: String },
    /// Lists agents (without keys) with their last heartbeat, as JSON lines.
    List,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let store = Store::connect(&args.redis)
            .await
            .with_context(|| format!("connecting to {}", args.redis))?;
        match args.command {
            Command::Add { name } => {
                let agent = agents::add(&store, &name).await?;
                println!(
                    "{}",
                    serde_json::json!({ "id": agent.id, "key": agent.key })
                );
            }
            Command::Revoke { name } => {
                let n = agents::revoke(&store, &name).await?;
                if n == 0 {
                    anyhow::bail!("no live agent named {name:?}");
                }
                eprintln!("revoked {n} agent(s) named {name:?}");
            }
            Command::List => {
                for agent in agents::list(&store).await? {
                    println!("{}", serde_json::to_string(&agent)?);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
