//! `kyoka`: the appliance's one command line. Parses arguments, sets up
//! logging, runs the chosen command and prints its error once.

mod cmd;

use std::process::ExitCode;

/// mimalloc: `ingest` allocates each event's JSON on the pipeline's thread
/// and frees it on the index writer's; glibc's malloc spent 14 % of the
/// pipeline thread's time on that (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kyoka",
    version,
    about = "Deception-defence and forensic capture appliance"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Dissect(cmd::dissect::Args),
    Capture(cmd::capture::Args),
    Ingest(cmd::ingest::Args),
    Search(cmd::search::Args),
    Export(cmd::export::Args),
    Stats(cmd::stats::Args),
    Reindex(cmd::reindex::Args),
    Detector(cmd::detector::Args),
    Agents(cmd::agents::Args),
    Ui(cmd::ui::Args),
    User(cmd::user::Args),
    Token(cmd::token::Args),
    Sandbox(cmd::sandbox::Args),
    Orchestrator(cmd::orchestrator::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KYOKA_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dissect(args) => cmd::dissect::run(args),
        Command::Capture(args) => cmd::capture::run(args),
        Command::Ingest(args) => cmd::ingest::run(args),
        Command::Search(args) => cmd::search::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Stats(args) => cmd::stats::run(args),
        Command::Reindex(args) => cmd::reindex::run(args),
        Command::Detector(args) => cmd::detector::run(args),
        Command::Agents(args) => cmd::agents::run(args),
        Command::Ui(args) => cmd::ui::run(args),
        Command::User(args) => cmd::user::run(args),
        Command::Token(args) => cmd::token::run(args),
        Command::Sandbox(args) => cmd::sandbox::run(args),
        Command::Orchestrator(args) => cmd::orchestrator::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("kyoka: {err:#}");
            cmd::exit_code(&err)
        }
    }
}
