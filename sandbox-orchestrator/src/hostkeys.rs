//! RSA host keys made ahead on the host, one per cold sandbox, never
//! reused. The ssh entrypoint skips a key that is already there, so sshd
//! of a cold sandbox starts with all three keys: no SIGHUP re-exec a few
//! seconds later under its attacker (a login in that moment is refused),
//! and none of the container's CPU quota spent on a 3072-bit key while
//! the other daemons start. Pre-created sandboxes make their own key
//! before they are paused and need none. Without `ssh-keygen` on the host
//! the stock stays empty and cold sandboxes make their key as before.

use std::process::Command;
use std::sync::Mutex;

pub struct HostKey {
    pub private: Vec<u8>,
    pub public: Vec<u8>,
}

static STOCK: Mutex<Vec<HostKey>> = Mutex::new(Vec::new());

/// One key from the stock, if there is one.
pub fn take() -> Option<HostKey> {
    STOCK.lock().ok()?.pop()
}

pub fn stocked() -> usize {
    STOCK.lock().map(|s| s.len()).unwrap_or(0)
}

/// Tops the stock up to `want` keys (commented `root@{hostname}`, like one
/// made inside the container); how many it made.
pub async fn fill(want: usize, hostname: &str) -> usize {
    let mut made = 0;
    while stocked() < want {
        let hostname = hostname.to_string();
        match tokio::task::spawn_blocking(move || make(&hostname)).await {
            Ok(Ok(key)) => {
                if let Ok(mut s) = STOCK.lock() {
                    s.push(key);
                }
                made += 1;
            }
            Ok(Err(e)) => {
                tracing::debug!(%e, "no RSA host key made ahead; cold sandboxes make their own");
                break;
            }
            Err(_) => break,
        }
    }
    made
}

fn make(hostname: &str) -> std::io::Result<HostKey> {
    let mut rnd = [0u8; 8];
    let _ = getrandom::fill(&mut rnd);
    let dir = std::env::temp_dir().join(format!("kyoka-hostkey-{}-{}", std::process::id(), hex::encode(rnd)));
    std::fs::create_dir(&dir)?;
    let file = dir.join("key");
    let result = (|| {
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", &format!("root@{hostname}"), "-f"])
            .arg(&file)
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        Ok(HostKey { private: std::fs::read(&file)?, public: std::fs::read(file.with_extension("pub"))? })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A tar archive of `ssh_host_rsa_key` (0600) and its `.pub` (0644), owned
/// by root, to unpack into `/etc/ssh`.
pub fn archive(key: &HostKey) -> Vec<u8> {
    let mut tar = Vec::new();
    entry(&mut tar, "ssh_host_rsa_key", 0o600, &key.private);
    entry(&mut tar, "ssh_host_rsa_key.pub", 0o644, &key.public);
    // End of archive: two zero blocks.
    tar.resize(tar.len() + 1024, 0);
    tar
}

/// One regular file in ustar format: a 512-byte header, then the data
/// padded to 512 bytes.
fn entry(tar: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
    let mut h = [0u8; 512];
    let field = |h: &mut [u8; 512], at: usize, len: usize, value: &[u8]| {
        h[at..at + value.len().min(len)].copy_from_slice(&value[..value.len().min(len)]);
    };
    field(&mut h, 0, 100, name.as_bytes());
    field(&mut h, 100, 8, format!("{mode:07o}\0").as_bytes());
    field(&mut h, 108, 8, b"0000000\0");
    field(&mut h, 116, 8, b"0000000\0");
    field(&mut h, 124, 12, format!("{:011o}\0", data.len()).as_bytes());
    let mtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    field(&mut h, 136, 12, format!("{mtime:011o}\0").as_bytes());
    h[156] = b'0';
    field(&mut h, 257, 8, b"ustar\x0000");
    field(&mut h, 265, 32, b"root");
    field(&mut h, 297, 32, b"root");
    // The checksum counts its own field as spaces.
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    field(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    tar.extend_from_slice(&h);
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_unpacks_with_tar() {
        let key = HostKey { private: b"PRIVATE\n".to_vec(), public: b"ssh-rsa AAAA root@srv01\n".to_vec() };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.tar");
        std::fs::write(&path, archive(&key)).unwrap();
        let out = Command::new("tar").args(["-tvf"]).arg(&path).output().unwrap();
        let list = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(list.contains("-rw------- root/root         8") && list.contains("ssh_host_rsa_key\n"), "{list}");
        assert!(list.contains("-rw-r--r-- root/root        24") && list.contains("ssh_host_rsa_key.pub"), "{list}");
        let out = Command::new("tar").arg("-xf").arg(&path).arg("-C").arg(dir.path()).output().unwrap();
        assert!(out.status.success());
        assert_eq!(std::fs::read(dir.path().join("ssh_host_rsa_key.pub")).unwrap(), key.public);
    }
}
