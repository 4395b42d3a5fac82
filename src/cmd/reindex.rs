//! `kyoka reindex`: rebuild the index from the pcap store.

use std::process::ExitCode;

use capture::ops::{self, Options};

use super::data::DataArg;
use super::ingest::{summary, Bar};

/// Rebuild the index of the data folder from its stored packets.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut bar = Bar::new();
    let report = ops::reindex(&args.data.dir(), &Options::default(), &mut |p| bar.show(p))?;
    bar.done();
    summary(&report, false)?;
    Ok(ExitCode::SUCCESS)
}
