//! `kyoka user add NAME --role admin|analyst`: a UI account, password on
//! standard input.

use std::io::BufRead;
use std::process::ExitCode;

use super::data::DataArg;

/// Manage forensics UI accounts.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Add a user, or set an existing user's role and password (read from
    /// the first line of standard input).
    Add {
        #[command(flatten)]
        data: DataArg,
        name: String,
        #[arg(long, value_parser = ["admin", "analyst"])]
        role: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Command::Add { data, name, role } = args.command;
    let role: forensics_ui::Role = role.parse().map_err(anyhow::Error::msg)?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']);
    let dir = data.dir();
    let mut accounts = forensics_ui::accounts::Accounts::load(&dir)?;
    accounts.set_user(&name, role, password)?;
    accounts.save(&dir)?;
    eprintln!("user {name} saved ({role:?}) in {}", forensics_ui::accounts::path(&dir).display());
    Ok(ExitCode::SUCCESS)
}
