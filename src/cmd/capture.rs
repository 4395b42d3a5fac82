//! `kyoka capture --iface NAME`: live capture, events as JSON lines, packet
//! and drop counters on exit.

use std::io::BufWriter;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use capture::artifact::ArtifactStore;
use capture::engine::{Config, Engine};
use capture::source::LiveSource;

use super::EventWriter;

/// Capture live on an interface and print decoded events as JSON lines.
#[derive(clap::Args)]
pub struct Args {
    /// Interface to capture on (`any` for all).
    #[arg(long)]
    iface: String,
    /// BPF filter, as tcpdump takes it.
    #[arg(long)]
    filter: Option<String>,
    /// Keep extracted files here, named by SHA-256.
    #[arg(long, value_name = "DIR")]
    artifacts: Option<std::path::PathBuf>,
    /// Stop after this many packets (default: until interrupted).
    #[arg(long)]
    count: Option<u64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let artifacts = match &args.artifacts {
        Some(dir) => ArtifactStore::in_dir(dir)?,
        None => ArtifactStore::hash_only(),
    };
    let mut source = LiveSource::open(&args.iface, args.filter.as_deref())?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the signal handler")?;
    }
    let link = source.link();
    // As tcpdump does: packets from here on are seen.
    eprintln!("kyoka: listening on {} ({link:?})", args.iface);
    let mut engine = Engine::new(Config::default(), artifacts);
    let stdout = std::io::stdout().lock();
    let mut out = EventWriter::new(BufWriter::new(stdout));
    while !stop.load(Ordering::SeqCst) && args.count.is_none_or(|n| engine.stats().packets < n) {
        if let Some(frame) = source.next_frame()? {
            engine.frame(link, &frame);
        }
        for event in engine.drain_events() {
            out.write(&event)?;
        }
        out.flush()?;
    }
    engine.finish();
    for event in engine.drain_events() {
        out.write(&event)?;
    }
    out.flush()?;
    let live = source.stats()?;
    let stats = engine.stats();
    eprintln!(
        "kyoka: {} packets captured, {} received by filter, {} dropped by kernel, {} dropped by interface; {} flows, {} events",
        stats.packets, live.received, live.dropped, live.if_dropped, stats.flows, stats.events
    );
    Ok(ExitCode::SUCCESS)
}
