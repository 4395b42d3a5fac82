//! `kyoka-agent --mode honeypot|unreal|back|firewall --config FILE`

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use model::policy::Mode;

#[derive(Parser)]
#[command(
    name = "kyoka-agent",
    version,
    about = "Kyoka's agent for production hosts"
)]
struct Args {
    /// honeypot, unreal, back or firewall
    #[arg(long)]
    mode: Mode,
    /// TOML config file (see docs/agent.md)
    #[arg(long)]
    config: PathBuf,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = agent::config::Config::load(&args.config)?;
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    // SIGINT and SIGTERM: a clean stop removes the table.
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the signal handler")?;
    agent::run::run(config, args.mode, stop_rx).context("kyoka-agent")?;
    Ok(())
}
