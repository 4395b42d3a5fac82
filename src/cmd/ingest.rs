//! `kyoka ingest FILE...`: store and index capture files.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use capture::ops::{self, IngestReport, Options, Progress};

use super::data::DataArg;

/// Store capture files in the data folder and index their sessions, flows
/// and events. A file ingested before (same SHA-256) adds nothing.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Capture files (pcap or pcapng), or folders to search for them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Disk budget of the data folder (store + artifacts + index), e.g.
    /// `50G`, `500M` or bytes; kept for later runs. When over it, the
    /// oldest captured data is deleted first. `0` means unlimited (the
    /// default of a new folder).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    max_bytes: Option<u64>,
}

/// `123`, `10K`, `500M`, `50G`, `2T` (powers of 1024).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("unknown unit {c:?} (K, M, G, T)")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 500M, 50G)"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = args.data.dir();
    let mut bar = Bar::new();
    let files = super::expand_folders(&args.files);
    let options = Options {
        max_bytes: args.max_bytes,
        ..Options::default()
    };
    let report = ops::ingest(&data, &files, &options, &mut |p| bar.show(p))?;
    bar.done();
    summary(&report, args.json)?;
    let damaged = report.damaged().next().is_some();
    Ok(if damaged {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn summary(report: &IngestReport, json: bool) -> anyhow::Result<()> {
    for f in &report.files {
        if f.skipped && f.error.is_none() {
            eprintln!("{}: already ingested, skipped", f.path.display());
        }
        match (&f.error, f.skipped) {
            (Some(e), true) => eprintln!("kyoka: {e}"),
            (Some(e), false) => eprintln!("kyoka: {e} (the packets before the damage were kept)"),
            (None, _) => {}
        }
    }
    let t = &report.totals;
    let mb = report.bytes_read as f64 / 1e6;
    let rate = if report.seconds > 0.0 {
        mb / report.seconds
    } else {
        0.0
    };
    eprintln!(
        "{} packets, {} flows, {} events, {} sessions from {} file(s) ({:.1} MB) in {:.2} s, {:.1} MB/s",
        t.packets,
        t.flows,
        t.events,
        t.sessions,
        report.files.len(),
        mb,
        report.seconds,
        rate
    );
    if json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, report)?;
        writeln!(out)?;
    }
    Ok(())
}

/// A progress line on stderr (only on a terminal).
pub struct Bar {
    on: bool,
    last: Instant,
}

impl Bar {
    pub fn new() -> Bar {
        Bar {
            on: std::io::stderr().is_terminal(),
            last: Instant::now(),
        }
    }

    pub fn show(&mut self, p: &Progress<'_>) {
        if !self.on || self.last.elapsed().as_millis() < 200 {
            return;
        }
        self.last = Instant::now();
        let pct = (p.read_bytes * 100)
            .checked_div(p.file_bytes)
            .unwrap_or(0)
            .min(100);
        let filled = (pct / 4) as usize;
        eprint!(
            "\r{} [{}{}] {pct:>3}% {} packets",
            p.path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            "#".repeat(filled),
            " ".repeat(25 - filled),
            p.packets
        );
    }

    pub fn done(&mut self) {
        if self.on {
            eprint!("\r\x1b[K");
        }
    }
}
