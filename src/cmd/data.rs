//! The `--data DIR` option shared by the data-folder commands.

use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct DataArg {
    /// Data folder (default: $XDG_DATA_HOME/kyoka or ~/.local/share/kyoka).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl DataArg {
    pub fn dir(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(capture::ops::default_data_dir)
    }
}
