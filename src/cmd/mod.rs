pub mod agents;
pub mod capture;
pub mod data;
pub mod detector;
pub mod dissect;
pub mod export;
pub mod ingest;
pub mod reindex;
pub mod search;
pub mod stats;
pub mod token;
pub mod ui;
pub mod user;
pub mod sandbox;
pub mod orchestrator;

use std::io::{self, Write};
use std::process::ExitCode;

use model::Event;

/// Arguments as files: a folder stands for every capture file under it.
pub fn expand_folders(args: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    args.iter()
        .flat_map(|arg| {
            if arg.is_dir() {
                ::capture::source::capture_files(arg)
            } else {
                vec![arg.clone()]
            }
        })
        .collect()
}

/// Exit status 2 means the input was bad (a malformed capture, a damaged
/// store, a bad query); 1 is any other failure.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    use ::capture::store::Error as StoreError;
    match (
        err.downcast_ref::<::capture::Error>(),
        err.downcast_ref::<StoreError>(),
    ) {
        (Some(::capture::Error::BadCapture { .. }), _) => ExitCode::from(2),
        (
            _,
            Some(
                StoreError::Capture(::capture::Error::BadCapture { .. })
                | StoreError::CorruptStore { .. }
                | StoreError::CorruptManifest { .. }
                | StoreError::Query { .. },
            ),
        ) => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

/// Writes events as JSON lines. A closed pipe (`| head`) ends output quietly.
pub struct EventWriter<W: Write> {
    out: W,
    closed: bool,
}

impl<W: Write> EventWriter<W> {
    pub fn new(out: W) -> Self {
        EventWriter { out, closed: false }
    }

    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = serde_json::to_writer(&mut self.out, event)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        self.check(result)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.out.flush();
        self.check(result)
    }

    fn check(&mut self, result: io::Result<()>) -> io::Result<()> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}
