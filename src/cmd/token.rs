//! `kyoka token create --user NAME`: an API token, printed once.

use std::process::ExitCode;

use super::data::DataArg;

/// API tokens for scripts (`Authorization: Bearer TOKEN`).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create a token for a user and print it (only its hash is kept).
    Create {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        user: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Command::Create { data, user } = args.command;
    let dir = data.dir();
    let mut accounts = forensics_ui::accounts::Accounts::load(&dir)?;
    let token = accounts.create_token(&user)?;
    accounts.save(&dir)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
