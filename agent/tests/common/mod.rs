//! A small lab of network namespaces for the agent's tests: a production
//! host routing between an attacker, a good client and a sandbox. Every run
//! gets unique namespace names; the lab removes them when dropped.
#![allow(dead_code)]

pub mod detector;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const PROD_ATT: &str = "10.200.1.1";
pub const ATTACKER: &str = "10.200.1.2";
pub const PROD_GOOD: &str = "10.200.2.1";
pub const GOOD: &str = "10.200.2.2";
pub const PROD_SB: &str = "10.200.3.1";
pub const SANDBOX: &str = "10.200.3.2";
pub const PROD_ATT6: &str = "fd00:1::1";
pub const ATTACKER6: &str = "fd00:1::2";
pub const PROD_GOOD6: &str = "fd00:2::1";
pub const GOOD6: &str = "fd00:2::2";
pub const SANDBOX6: &str = "fd00:3::2";

/// Root and the tools are prerequisites: their absence is a failure.
pub fn require(tools: &[&str]) {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "these tests build network namespaces and need root"
    );
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(found, "{tool} is missing: run scripts/deps.sh");
    }
}

pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Namespaces left by runs that were killed (their process is gone).
fn remove_dead_runs() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("kya").and_then(|r| r.split('x').next()) else {
            continue;
        };
        if !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct Lab {
    pub prod: String,
    pub attacker: String,
    pub good: String,
    pub sandbox: String,
    children: Vec<Child>,
}

impl Lab {
    pub fn new() -> Lab {
        require(&["ip", "nft", "conntrack"]);
        remove_dead_runs();
        let tag = format!(
            "kya{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab {
            prod: format!("{tag}-prod"),
            attacker: format!("{tag}-att"),
            good: format!("{tag}-good"),
            sandbox: format!("{tag}-sb"),
            children: Vec::new(),
        };
        for ns in [&lab.prod, &lab.attacker, &lab.good, &lab.sandbox] {
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            // No duplicate address detection: addresses usable at once.
            for conf in ["all", "default"] {
                sh(&[
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-q",
                    "-w",
                    &format!("net.ipv6.conf.{conf}.accept_dad=0"),
                ]);
            }
        }
        for (dev, peer_ns, prod_ip, peer_ip, net6) in [
            ("va", &lab.attacker, PROD_ATT, ATTACKER, "fd00:1::"),
            ("vg", &lab.good, PROD_GOOD, GOOD, "fd00:2::"),
            ("vs", &lab.sandbox, PROD_SB, SANDBOX, "fd00:3::"),
        ] {
            sh(&[
                "ip", "-n", &lab.prod, "link", "add", dev, "type", "veth", "peer", "name", "eth0",
                "netns", peer_ns,
            ]);
            sh(&[
                "ip",
                "-n",
                &lab.prod,
                "addr",
                "add",
                &format!("{prod_ip}/24"),
                "dev",
                dev,
            ]);
            sh(&["ip", "-n", &lab.prod, "link", "set", dev, "up"]);
            sh(&[
                "ip",
                "-n",
                peer_ns,
                "addr",
                "add",
                &format!("{peer_ip}/24"),
                "dev",
                "eth0",
            ]);
            sh(&["ip", "-n", peer_ns, "link", "set", "eth0", "up"]);
            // Replies go back through production: the sandbox sees (and
            // answers) the attacker's real address.
            sh(&[
                "ip", "-n", peer_ns, "route", "add", "default", "via", prod_ip,
            ]);
            // IPv6 too (nodad: usable at once).
            let (prod6, peer6) = (format!("{net6}1"), format!("{net6}2"));
            sh(&[
                "ip",
                "-n",
                &lab.prod,
                "addr",
                "add",
                &format!("{prod6}/64"),
                "dev",
                dev,
                "nodad",
            ]);
            sh(&[
                "ip",
                "-n",
                peer_ns,
                "addr",
                "add",
                &format!("{peer6}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
            sh(&[
                "ip", "-n", peer_ns, "-6", "route", "add", "default", "via", &prod6,
            ]);
        }
        sh(&[
            "ip",
            "netns",
            "exec",
            &lab.prod,
            "sysctl",
            "-q",
            "-w",
            "net.ipv6.conf.all.forwarding=1",
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &lab.prod,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ]);
        lab
    }

    /// Starts `args` inside namespace `ns`; killed when the lab is dropped.
    pub fn spawn(&mut self, ns: &str, args: &[&str]) -> u32 {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn in namespace");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    pub fn take_child(&mut self, pid: u32) -> Option<Child> {
        let i = self.children.iter().position(|c| c.id() == pid)?;
        Some(self.children.remove(i))
    }

    pub fn nft_list(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.prod, "nft", "list", "ruleset"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGKILL);
            }
            let _ = child.wait();
        }
        for ns in [&self.prod, &self.attacker, &self.good, &self.sandbox] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `f` on a thread that lives in namespace `ns`; sockets it creates
/// stay in that namespace, processes it starts too.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = PathBuf::from("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        use std::os::fd::AsRawFd;
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {}", path.display());
        f()
    })
    .join()
    .expect("thread in namespace")
}

/// A tiny service: greets with `220 <name>` and answers each line with
/// `<name>: <line>`. Runs until the process ends.
pub fn banner_server(ns: &str, port: u16, name: &'static str) {
    let listener = in_ns(ns, move || {
        // `[::]` takes IPv4 too (v4-mapped).
        TcpListener::bind(("::", port)).expect("bind banner")
    });
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let _ = conn.write_all(format!("220 {name}\r\n").as_bytes());
                let reader = BufReader::new(conn.try_clone().unwrap());
                for line in reader.lines() {
                    let Ok(line) = line else { break };
                    if conn
                        .write_all(format!("{name}: {line}\r\n").as_bytes())
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
}

/// An open connection from one namespace.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end().to_owned())
    }
    pub fn send(&mut self, text: &str) -> std::io::Result<()> {
        self.reader.get_mut().write_all(text.as_bytes())
    }
    /// Sends a line and returns the answer.
    pub fn ask(&mut self, text: &str) -> std::io::Result<String> {
        self.send(&format!("{text}\r\n"))?;
        self.line()
    }
}

pub fn connect(ns: &str, to: &str, port: u16) -> std::io::Result<Conn> {
    let addr = SocketAddr::new(to.parse().unwrap(), port);
    in_ns(ns, move || {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(1500))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    })
}

/// The greeting a new connection gets, or the error.
pub fn banner(ns: &str, to: &str, port: u16) -> Result<String, String> {
    let mut conn = connect(ns, to, port).map_err(|e| e.to_string())?;
    conn.line().map_err(|e| e.to_string())
}

/// Starts redis-server in `ns` with a dbfilename that says who it is
/// (`CONFIG GET dbfilename` tells production from sandbox).
pub fn start_redis(lab: &mut Lab, ns: &str, who: &str) {
    let ns = ns.to_owned();
    let dir = std::env::temp_dir();
    lab.spawn(
        &ns,
        &[
            "redis-server",
            "--port",
            "6379",
            "--bind",
            "0.0.0.0",
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            dir.to_str().unwrap(),
            "--dbfilename",
            &format!("{who}.rdb"),
            "--loglevel",
            "warning",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis_who(&ns, "127.0.0.1").is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not start in {ns}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `CONFIG GET dbfilename` through a new connection: which redis answered.
pub fn redis_who(ns: &str, to: &str) -> Result<String, String> {
    let addr: SocketAddr = format!("{to}:6379").parse().unwrap();
    in_ns(ns, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(1500))
            .map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(b"CONFIG GET dbfilename\r\n")
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b".rdb") {
            let n = s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed".into());
            }
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        Ok(text
            .split("\r\n")
            .find(|l| l.ends_with(".rdb"))
            .unwrap_or("")
            .trim_end_matches(".rdb")
            .to_owned())
    })
}

/// Whether a new connection from `from` (an address of namespace `ns`) to
/// production's FTP port gets the sandbox's banner.
pub fn landed_in_sandbox(ns: &str, from: String) -> bool {
    in_ns(ns, move || match connect_from(&from, PROD_ATT, 21) {
        Some(s) => {
            let mut line = String::new();
            let _ = BufReader::new(s).read_line(&mut line);
            line.contains("sandbox")
        }
        None => false,
    })
}

/// Connects from a given IPv4 source address (bind before connect).
pub fn connect_from(from: &str, to: &str, port: u16) -> Option<TcpStream> {
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let sa = |ip: &str, port: u16| {
            let mut a: libc::sockaddr_in = std::mem::zeroed();
            a.sin_family = libc::AF_INET as u16;
            a.sin_port = port.to_be();
            a.sin_addr.s_addr = u32::from(ip.parse::<std::net::Ipv4Addr>().ok()?).to_be();
            Some(a)
        };
        let local = sa(from, 0)?;
        let remote = sa(to, port)?;
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        use std::os::fd::FromRawFd;
        let stream = TcpStream::from_raw_fd(fd);
        if libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) != 0
            || libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len) != 0
        {
            return None;
        }
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        Some(stream)
    }
}
