//! `kyoka dissect FILE...`: decoded events of capture files as JSON lines.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use capture::artifact::ArtifactStore;
use capture::engine::{dissect_file_with, Config};

use super::EventWriter;

/// Print the decoded events of pcap/pcapng files, one JSON object per line.
#[derive(clap::Args)]
pub struct Args {
    /// Capture files (pcap or pcapng), or folders to search for them; each
    /// file is dissected on its own.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Keep extracted files (FTP transfers, HTTP bodies) here, named by SHA-256.
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let artifacts = match &args.artifacts {
        Some(dir) => ArtifactStore::in_dir(dir)
            .with_context(|| format!("artifacts folder {}", dir.display()))?,
        None => ArtifactStore::hash_only(),
    };
    let stdout = std::io::stdout().lock();
    let mut out = EventWriter::new(BufWriter::with_capacity(1 << 16, stdout));
    let mut write_error = None;
    let mut failure = None;
    for file in &super::expand_folders(&args.files) {
        let result = dissect_file_with(file, Config::default(), &artifacts, &mut |event| {
            if write_error.is_none() {
                if let Err(e) = out.write(&event) {
                    write_error = Some(e);
                }
            }
        });
        if let Err(e) = result {
            // Keep going: the other files are intact; report at the end.
            out.flush()?;
            eprintln!("kyoka: {e}");
            failure.get_or_insert(e);
        }
        if let Some(e) = write_error.take() {
            return Err(e).context("writing events");
        }
    }
    out.flush()?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}
