//! `kyoka stats`: what the data folder holds.

use std::process::ExitCode;

use super::data::DataArg;

/// Sizes, counts and time range of the data folder.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let s = capture::ops::stats(&args.data.dir())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
    let ts = |t: Option<model::Timestamp>| t.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
    println!("data folder   {}", s.data_dir);
    println!(
        "sources       {} ({} damaged)",
        s.sources, s.damaged_sources
    );
    println!(
        "store         {} files, {}, {} packets",
        s.store_files,
        mb(s.store_bytes),
        s.packets
    );
    println!("index         {}", mb(s.index_bytes));
    let used = s.store_bytes + s.index_bytes + s.artifact_bytes;
    match s.max_bytes {
        Some(max) => println!(
            "budget        {} of {} used ({:.0} %); the oldest data goes first",
            mb(used),
            mb(max),
            used as f64 * 100.0 / max.max(1) as f64
        ),
        None => println!("budget        none (kyoka ingest --max-bytes N sets one)"),
    }
    println!(
        "artifacts     {} files, {}",
        s.artifacts,
        mb(s.artifact_bytes)
    );
    println!("sessions      {}", s.sessions);
    println!("flows         {}", s.flows);
    println!("events        {}", s.events);
    println!(
        "time range    {} .. {}",
        ts(s.first_packet),
        ts(s.last_packet)
    );
    Ok(ExitCode::SUCCESS)
}
