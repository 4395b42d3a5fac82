//! Where packets come from: a capture file (pcap or pcapng) or a live
//! interface, both through libpcap.

use std::path::{Path, PathBuf};

use model::Timestamp;

use crate::decode::LinkType;
use crate::{Error, Result};

/// One captured frame, borrowed from the source until the next read.
pub struct Frame<'a> {
    pub ts: Timestamp,
    pub data: &'a [u8],
    /// Length on the wire (may exceed `data.len()` under a snap length).
    pub wire_len: u32,
}

/// Counters a live capture reports on exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u32,
    /// Dropped by the kernel because the buffer was full.
    pub dropped: u32,
    /// Dropped by the interface or its driver.
    pub if_dropped: u32,
}

/// Every pcap and pcapng file under `dir` (or `dir` itself when it is one),
/// sorted by path. Folders that cannot be read are skipped.
pub fn capture_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if is_capture_file(&path) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    if is_capture_file(dir) {
        out.push(dir.to_path_buf());
    } else {
        walk(dir, &mut out);
    }
    out.sort();
    out
}

fn is_capture_file(path: &Path) -> bool {
    path.is_file()
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("pcap" | "pcapng")
        )
}

pub struct FileSource {
    path: PathBuf,
    capture: pcap::Capture<pcap::Offline>,
    link: LinkType,
    dlt: i32,
}

impl FileSource {
    pub fn open(path: &Path) -> Result<FileSource> {
        let bad = |message: String| Error::BadCapture {
            path: path.to_path_buf(),
            message,
        };
        if let Err(e) = std::fs::metadata(path) {
            return Err(bad(e.to_string()));
        }
        let capture = pcap::Capture::from_file(path).map_err(|e| bad(pcap_message(e)))?;
        let dlt = capture.get_datalink().0;
        let link =
            LinkType::from_dlt(dlt).ok_or_else(|| bad(format!("unsupported link type {dlt}")))?;
        Ok(FileSource {
            path: path.to_path_buf(),
            capture,
            link,
            dlt,
        })
    }

    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The file's link-layer type number (DLT), as a pcap header carries it.
    pub fn dlt(&self) -> i32 {
        self.dlt
    }

    /// The next frame, `Ok(None)` at the end of the file, or an error for a
    /// truncated or corrupt file (every frame before it was returned).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>> {
        match self.capture.next_packet() {
            Ok(p) => Ok(Some(Frame {
                ts: Timestamp::from_timeval(p.header.ts.tv_sec, p.header.ts.tv_usec),
                data: p.data,
                wire_len: p.header.len,
            })),
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(Error::BadCapture {
                path: self.path.clone(),
                message: pcap_message(e),
            }),
        }
    }
}

pub struct LiveSource {
    device: String,
    capture: pcap::Capture<pcap::Active>,
    link: LinkType,
}

impl LiveSource {
    /// Opens `device` (promiscuous, full snap length) with an optional BPF
    /// filter. Reads wake up at least every 100 ms so callers can stop.
    pub fn open(device: &str, filter: Option<&str>) -> Result<LiveSource> {
        let fail = |message: String| Error::Device {
            device: device.to_string(),
            message,
        };
        let mut capture = pcap::Capture::from_device(device)
            .map_err(|e| fail(pcap_message(e)))?
            .promisc(true)
            .snaplen(262_144)
            .buffer_size(32 << 20)
            .immediate_mode(true)
            .timeout(100)
            .open()
            .and_then(|c| c.setnonblock())
            .map_err(|e| fail(pcap_message(e)))?;
        if let Some(filter) = filter {
            capture
                .filter(filter, true)
                .map_err(|e| fail(format!("filter {filter:?}: {}", pcap_message(e))))?;
        }
        let dlt = capture.get_datalink().0;
        let link =
            LinkType::from_dlt(dlt).ok_or_else(|| fail(format!("unsupported link type {dlt}")))?;
        Ok(LiveSource {
            device: device.to_string(),
            capture,
            link,
        })
    }

    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The next frame, or `Ok(None)` when none came within 100 ms.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>> {
        // Non-blocking reads plus our own poll: libpcap's own read timeout
        // does not return while no packet arrives, so callers could not stop.
        if !self.ready()? {
            return Ok(None);
        }
        match self.capture.next_packet() {
            Ok(p) => Ok(Some(Frame {
                ts: Timestamp::from_timeval(p.header.ts.tv_sec, p.header.ts.tv_usec),
                data: p.data,
                wire_len: p.header.len,
            })),
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(Error::Device {
                device: self.device.clone(),
                message: pcap_message(e),
            }),
        }
    }

    fn ready(&self) -> Result<bool> {
        use std::os::fd::AsRawFd;
        let mut fds = libc::pollfd {
            fd: self.capture.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, owned by this frame.
        let n = unsafe { libc::poll(&mut fds, 1, 100) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(Error::Device {
                device: self.device.clone(),
                message: err.to_string(),
            });
        }
        // Even without POLLIN, libpcap may hold packets already read.
        Ok(true)
    }

    pub fn stats(&mut self) -> Result<LiveStats> {
        let s = self.capture.stats().map_err(|e| Error::Device {
            device: self.device.clone(),
            message: pcap_message(e),
        })?;
        Ok(LiveStats {
            received: s.received,
            dropped: s.dropped,
            if_dropped: s.if_dropped,
        })
    }
}

fn pcap_message(e: pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s,
        other => other.to_string(),
    }
}
