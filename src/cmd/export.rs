//! `kyoka export QUERY -o OUT.pcap`: the packets of the matching flows.

use std::path::PathBuf;
use std::process::ExitCode;

use super::data::DataArg;

/// Write the packets of every flow that matches (an event brings its flow,
/// a session all its flows) to a pcap file, in capture order.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Output pcap file.
    #[arg(short, long, value_name = "OUT.pcap")]
    output: PathBuf,
    /// The query (docs/query.md); several words are joined.
    #[arg(required = true)]
    query: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let r = capture::ops::export(&args.data.dir(), &args.query.join(" "), &args.output)?;
    eprintln!(
        "{} packets of {} flows ({} bytes) written to {}",
        r.packets,
        r.flows,
        r.bytes,
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
