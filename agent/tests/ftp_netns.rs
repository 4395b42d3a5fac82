//! FTP through the redirect, for real: vsftpd in the sandbox and on
//! production, the agent's Enforcer in the production namespace, curl and a
//! hand-driven FTP client in the attacker's. The table's FTP conntrack
//! helper must make passive (PASV, EPSV) and active (PORT, EPRT) transfers
//! work for a redirected attacker without ever showing it the sandbox.

mod common;

use agent::enforce::Enforcer;
use common::*;
use model::policy::{Attacker, Endpoint, Mode, Policy, Sandbox, ServiceInfo, Whitelist};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const USER: &str = "kyokaftp";
const PASSWORD: &str = "Pasv-Lab-42";
/// The sandbox's FTP address: longer than production's as text, so the
/// helper's rewrite of a 227 reply changes its length (the kernel must then
/// shift the control connection's sequence numbers).
const SANDBOX_FTP: &str = "10.200.3.222";
/// A file only the sandbox has, and one only production has.
const SECRET: &str = "secret.bin";
const PUBLIC: &str = "public.txt";

fn secret_bytes() -> Vec<u8> {
    // 300 KB that are not all alike: many data segments, any byte value.
    let mut x: u32 = 0x2545_f491;
    (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// The local user both vsftpd instances log in (PAM), made once.
fn add_user() {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let exists = Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    // vsftpd changes to the home directory before `local_root`: it must
    // exist.
    if exists {
        sh(&["usermod", "-d", "/", "-s", "/bin/bash", USER]);
    } else {
        sh(&["useradd", "-M", "-d", "/", "-s", "/bin/bash", USER]);
    }
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(chpasswd.stdin.take().unwrap(), "{USER}:{PASSWORD}").unwrap();
    assert!(chpasswd.wait().unwrap().success());
    *done = true;
}

/// Roots, configs and logs of the lab's vsftpd instances; removed at the end.
struct Ftp {
    dir: tempfile::TempDir,
}

impl Ftp {
    fn new() -> Ftp {
        require(&["vsftpd", "curl", "useradd", "usermod", "chpasswd"]);
        add_user();
        std::fs::create_dir_all("/var/run/vsftpd/empty").unwrap();
        let dir = tempfile::Builder::new()
            .prefix("kyoka-ftp-")
            .tempdir()
            .unwrap();
        // vsftpd's user reads the roots.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Ftp { dir }
    }

    /// Starts vsftpd in `ns` serving `files` from a root of its own, on
    /// `listen` (an address of `ns`, or None for all IPv4 addresses) and
    /// port, passive ports `pasv`..`pasv + 9`.
    fn start(
        &self,
        lab: &mut Lab,
        ns: &str,
        name: &str,
        (listen, port): (Option<&str>, u16),
        pasv: u16,
        files: &[(&str, &[u8])],
    ) {
        let root = self.dir.path().join(name);
        std::fs::create_dir_all(&root).unwrap();
        for (file, bytes) in files {
            std::fs::write(root.join(file), bytes).unwrap();
        }
        let v6 = listen.is_some_and(|a| a.contains(':'));
        let listen_line = match listen {
            Some(a) if v6 => format!("listen=NO\nlisten_ipv6=YES\nlisten_address6={a}\n"),
            Some(a) => format!("listen=YES\nlisten_ipv6=NO\nlisten_address={a}\n"),
            None => "listen=YES\nlisten_ipv6=NO\n".to_owned(),
        };
        let conf = self.dir.path().join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "{listen_line}listen_port={port}\nbackground=NO\nanonymous_enable=NO\n\
                 local_enable=YES\nlocal_root={root}\nftpd_banner={name} FTP\n\
                 pasv_enable=YES\npasv_min_port={pasv}\npasv_max_port={}\n\
                 secure_chroot_dir=/var/run/vsftpd/empty\npam_service_name=vsftpd\n\
                 seccomp_sandbox=NO\nisolate=NO\nisolate_network=NO\n\
                 delay_failed_login=0\nxferlog_enable=YES\nxferlog_std_format=NO\n\
                 log_ftp_protocol=YES\n\
                 vsftpd_log_file={}\n",
                pasv + 9,
                self.dir.path().join(format!("{name}.log")).display(),
                root = root.display(),
            ),
        )
        .unwrap();
        lab.spawn(ns, &["vsftpd", conf.to_str().unwrap()]);
        let to = listen.unwrap_or("127.0.0.1").to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let greeting = banner(ns, &to, port).unwrap_or_default();
            if greeting.contains(&format!("{name} FTP")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "vsftpd {name} did not start in {ns}: {greeting}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }
}

/// What curl got: the body, and its `-v` dialogue.
struct Curl {
    ok: bool,
    body: Vec<u8>,
    dialogue: String,
}

/// Runs curl in `ns` for `url` (`-v`, so the FTP replies are in the
/// dialogue).
fn curl(ns: &str, url: &str, extra: &[&str]) -> Curl {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "curl", "-sS", "-v", "--max-time", "30"])
        .args(["--connect-timeout", "10"])
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl");
    Curl {
        ok: out.status.success(),
        body: out.stdout,
        dialogue: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn url(host: &str, file: &str) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    format!("ftp://{USER}:{PASSWORD}@{host}/{file}")
}

/// curl fetches `file` from `host` out of `ns`, and the bytes must be
/// `want`; returns the dialogue.
fn fetch(ns: &str, host: &str, file: &str, extra: &[&str], want: &[u8]) -> String {
    let got = curl(ns, &url(host, file), extra);
    assert!(
        got.ok && got.body == want,
        "curl {extra:?} {file} from {host}: {} of {} bytes, same: {}\n{}",
        got.body.len(),
        want.len(),
        got.body == want,
        got.dialogue
    );
    got.dialogue
}

/// A hand-driven FTP control connection (to see the replies as sent).
struct Control {
    reader: BufReader<TcpStream>,
}

impl Control {
    fn login(to: SocketAddr) -> Control {
        let stream = TcpStream::connect_timeout(&to, Duration::from_secs(5)).expect("control");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut c = Control {
            reader: BufReader::new(stream),
        };
        assert!(c.reply().starts_with("220"));
        assert!(c.cmd(&format!("USER {USER}")).starts_with("331"));
        assert!(c.cmd(&format!("PASS {PASSWORD}")).starts_with("230"));
        assert!(c.cmd("TYPE I").starts_with("200"));
        c
    }

    /// The last line of one reply (multi-line replies end with `NNN `).
    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("reply");
            assert!(n > 0, "control connection closed");
            let line = line.trim_end().to_owned();
            if line.len() >= 4 && line.as_bytes()[3] == b' ' {
                return line;
            }
        }
    }

    fn cmd(&mut self, text: &str) -> String {
        self.reader
            .get_mut()
            .write_all(format!("{text}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }
}

/// `a,b,c,d,p1,p2` of a 227 reply.
fn pasv_target(reply: &str) -> SocketAddr {
    let inner = reply
        .split('(')
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no address in {reply:?}"));
    let n: Vec<u16> = inner
        .split(',')
        .map(|x| x.trim().parse().unwrap())
        .collect();
    assert_eq!(n.len(), 6, "{reply}");
    let ip = std::net::Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
    SocketAddr::new(ip.into(), n[4] * 256 + n[5])
}

/// Passive by hand from `ns`: the 227 reply as the client got it, and the
/// file through the address it names.
fn raw_pasv(ns: &str, to: &str, file: &'static str) -> (String, Vec<u8>) {
    let to: SocketAddr = SocketAddr::new(to.parse().unwrap(), 21);
    in_ns(ns, move || {
        let mut c = Control::login(to);
        let reply = c.cmd("PASV");
        assert!(reply.starts_with("227"), "{reply}");
        let mut data = TcpStream::connect_timeout(&pasv_target(&reply), Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("data connection to what {reply:?} names: {e}"));
        data.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert!(c.cmd(&format!("RETR {file}")).starts_with("150"));
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).unwrap();
        assert!(c.reply().starts_with("226"));
        // The control connection still works after the rewrite.
        assert!(c.cmd("NOOP").starts_with("200"));
        (reply, bytes)
    })
}

/// Active by hand from `ns` (whose address is `me`): where the data
/// connection came from, and the file.
fn raw_port(ns: &str, to: &str, me: &'static str, file: &'static str) -> (IpAddr, Vec<u8>) {
    let to: SocketAddr = SocketAddr::new(to.parse().unwrap(), 21);
    in_ns(ns, move || {
        let mut c = Control::login(to);
        let listener = TcpListener::bind((me, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = c.cmd(&format!(
            "PORT {},{},{}",
            me.replace('.', ","),
            port / 256,
            port % 256
        ));
        assert!(reply.starts_with("200"), "{reply}");
        assert!(c.cmd(&format!("RETR {file}")).starts_with("150"));
        let (mut data, from) = accept_within(&listener, Duration::from_secs(10));
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).unwrap();
        assert!(c.reply().starts_with("226"));
        assert!(c.cmd("NOOP").starts_with("200"));
        (from.ip(), bytes)
    })
}

/// The sandbox's data connection, or a failure after `wait`.
fn accept_within(listener: &TcpListener, wait: Duration) -> (TcpStream, SocketAddr) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + wait;
    loop {
        match listener.accept() {
            Ok((s, from)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return (s, from);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no data connection came");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn services() -> Vec<ServiceInfo> {
    vec![
        ServiceInfo {
            name: "ftp".into(),
            port: 21,
        },
        ServiceInfo {
            name: "ssh".into(),
            port: 22,
        },
    ]
}

fn sandbox(addr: &str, ftp_port: u16) -> Sandbox {
    Sandbox {
        id: "sb-ftp".into(),
        endpoints: vec![
            Endpoint {
                service: "ftp".into(),
                address: addr.parse().unwrap(),
                port: ftp_port,
            },
            Endpoint {
                service: "ssh".into(),
                address: addr.parse().unwrap(),
                port: 22,
            },
        ],
    }
}

fn policy(
    mode: Mode,
    attackers: &[(&str, Sandbox)],
    whitelist: &[&str],
    default: Sandbox,
) -> Policy {
    let now = model::signing::now();
    Policy {
        version: 1,
        mode,
        whitelist: Whitelist {
            addresses: whitelist.iter().map(|s| s.to_string()).collect(),
            ports: vec![],
        },
        attackers: attackers
            .iter()
            .map(|(a, sb)| Attacker {
                address: a.parse().unwrap(),
                reason: "test".into(),
                since: now,
                expires: now + 600,
                sandbox: Some(sb.clone()),
            })
            .collect(),
        default_sandbox: Some(default),
    }
}

fn enforce(lab: &Lab, mode: Mode, masquerade: bool, policy: Policy) -> Enforcer {
    let mut e = Enforcer::new("kyoka", mode, "nft".into(), "conntrack".into(), services());
    e.masquerade = masquerade;
    in_ns(&lab.prod.clone(), move || {
        e.start_empty().expect("empty table");
        e.apply(&policy).expect("apply policy");
        e
    })
}

fn remove(lab: &Lab, e: Enforcer) {
    in_ns(&lab.prod.clone(), move || {
        let mut e = e;
        e.remove().expect("remove table");
    });
    let left = lab.nft_list();
    assert!(
        !left.contains("kyoka") && !left.contains("helper"),
        "left behind:\n{left}"
    );
}

/// Kills what the lab's vsftpd instances forked (sessions) when a test
/// ends, then the lab goes (its Drop removes the namespaces).
struct Sessions<'a>(&'a Lab);

impl Drop for Sessions<'_> {
    fn drop(&mut self) {
        for ns in [&self.0.prod, &self.0.sandbox] {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                        }
                    }
                }
            }
        }
    }
}

/// Production's vsftpd (on every address) and the sandbox's (on
/// `SANDBOX_FTP`, an extra address of the sandbox, port `sb_port`).
fn ftp_lab(sb_port: u16) -> (Lab, Ftp) {
    let mut lab = Lab::new();
    let ftp = Ftp::new();
    sh(&[
        "ip",
        "-n",
        &lab.sandbox,
        "addr",
        "add",
        &format!("{SANDBOX_FTP}/24"),
        "dev",
        "eth0",
    ]);
    let (prod, sb) = (lab.prod.clone(), lab.sandbox.clone());
    ftp.start(
        &mut lab,
        &prod,
        "production",
        (None, 21),
        41000,
        &[(PUBLIC, b"production bytes\n")],
    );
    ftp.start(
        &mut lab,
        &sb,
        "sandbox",
        (Some(SANDBOX_FTP), sb_port),
        40000,
        &[(SECRET, &secret_bytes())],
    );
    (lab, ftp)
}

/// The good client still gets production's FTP, passive and active, and
/// production has no secret.
fn good_client_reaches_production(lab: &Lab) {
    let d = fetch(
        &lab.good,
        PROD_GOOD,
        PUBLIC,
        &["--disable-epsv"],
        b"production bytes\n",
    );
    assert!(d.contains("227 Entering Passive Mode (10,200,2,1,"), "{d}");
    fetch(
        &lab.good,
        PROD_GOOD,
        PUBLIC,
        &["--ftp-port", "-"],
        b"production bytes\n",
    );
    assert!(!curl(&lab.good, &url(PROD_GOOD, SECRET), &[]).ok);
}

#[test]
fn unreal_attacker_downloads_from_the_sandbox_in_passive_epsv_and_active_mode() {
    let (lab, ftp) = ftp_lab(21);
    let _sessions = Sessions(&lab);
    let e = enforce(
        &lab,
        Mode::Unreal,
        false,
        policy(
            Mode::Unreal,
            &[(ATTACKER, sandbox(SANDBOX_FTP, 21))],
            &[],
            sandbox(SANDBOX_FTP, 21),
        ),
    );
    let rules = lab.nft_list();
    assert!(rules.contains("ct helper ftp"), "{rules}");
    let secret = secret_bytes();

    // PASV: the 227 the attacker reads names the address it dialled.
    let d = fetch(
        &lab.attacker,
        PROD_ATT,
        SECRET,
        &["--disable-epsv"],
        &secret,
    );
    assert!(d.contains("227 Entering Passive Mode (10,200,1,1,"), "{d}");
    assert!(!d.contains("10,200,3,") && !d.contains("10.200.3."), "{d}");
    // Two files on one control connection: the replies after a rewrite
    // that changed the stream's length arrive intact.
    let two = curl(
        &lab.attacker,
        &url(PROD_ATT, SECRET),
        &["--disable-epsv", "--url", &url(PROD_ATT, SECRET)],
    );
    assert!(two.ok, "{}", two.dialogue);
    assert_eq!(two.body.len(), 2 * secret.len());
    assert!(two.body == [secret.clone(), secret.clone()].concat());
    assert_eq!(
        two.dialogue.matches("Re-using existing connection").count(),
        1,
        "{}",
        two.dialogue
    );
    // EPSV (curl's first choice): the 229 carries only the port.
    let d = fetch(&lab.attacker, PROD_ATT, SECRET, &[], &secret);
    assert!(d.contains("229 Entering Extended Passive Mode"), "{d}");
    // Active: EPRT and PORT, the sandbox connects back to the attacker.
    let d = fetch(
        &lab.attacker,
        PROD_ATT,
        SECRET,
        &["--ftp-port", "-"],
        &secret,
    );
    assert!(d.contains("EPRT |1|10.200.1.2|"), "{d}");
    let d = fetch(
        &lab.attacker,
        PROD_ATT,
        SECRET,
        &["--ftp-port", "-", "--disable-eprt"],
        &secret,
    );
    assert!(d.contains("PORT 10,200,1,2,"), "{d}");

    // By hand, what the attacker's socket sees.
    let (reply, bytes) = raw_pasv(&lab.attacker, PROD_ATT, SECRET);
    assert!(reply.contains("(10,200,1,1,"), "{reply}");
    assert!(bytes == secret);
    let (from, bytes) = raw_port(&lab.attacker, PROD_ATT, ATTACKER, SECRET);
    assert_eq!(
        from.to_string(),
        PROD_ATT,
        "the data connection comes from production"
    );
    assert!(bytes == secret);
    assert!(
        ftp.log("sandbox").contains("OK DOWNLOAD"),
        "{}",
        ftp.log("sandbox")
    );
    assert!(!ftp.log("production").contains(SECRET));

    good_client_reaches_production(&lab);
    remove(&lab, e);
}

#[test]
fn honeypot_sources_download_from_the_default_sandbox() {
    let (lab, _ftp) = ftp_lab(21);
    let _sessions = Sessions(&lab);
    let e = enforce(
        &lab,
        Mode::Honeypot,
        false,
        policy(
            Mode::Honeypot,
            &[],
            &[&format!("{GOOD}/32")],
            sandbox(SANDBOX_FTP, 21),
        ),
    );
    let secret = secret_bytes();
    let d = fetch(
        &lab.attacker,
        PROD_ATT,
        SECRET,
        &["--disable-epsv"],
        &secret,
    );
    assert!(d.contains("227 Entering Passive Mode (10,200,1,1,"), "{d}");
    fetch(&lab.attacker, PROD_ATT, SECRET, &[], &secret);
    let (from, bytes) = raw_port(&lab.attacker, PROD_ATT, ATTACKER, SECRET);
    assert_eq!(from.to_string(), PROD_ATT);
    assert!(bytes == secret);
    good_client_reaches_production(&lab);
    remove(&lab, e);
}

#[test]
fn masqueraded_sandbox_on_another_port_serves_passive_and_active() {
    // The per-service map (sandbox FTP on 2121), and a sandbox that only
    // knows its own link: the data connections are masqueraded too.
    let (lab, ftp) = ftp_lab(2121);
    let _sessions = Sessions(&lab);
    sh(&["ip", "-n", &lab.sandbox, "route", "del", "default"]);
    let e = enforce(
        &lab,
        Mode::Unreal,
        true,
        policy(
            Mode::Unreal,
            &[(ATTACKER, sandbox(SANDBOX_FTP, 2121))],
            &[],
            sandbox(SANDBOX_FTP, 2121),
        ),
    );
    assert!(
        lab.nft_list().contains(". 21 timeout"),
        "{}",
        lab.nft_list()
    );
    let secret = secret_bytes();
    let d = fetch(
        &lab.attacker,
        PROD_ATT,
        SECRET,
        &["--disable-epsv"],
        &secret,
    );
    assert!(d.contains("227 Entering Passive Mode (10,200,1,1,"), "{d}");
    fetch(&lab.attacker, PROD_ATT, SECRET, &[], &secret);
    fetch(
        &lab.attacker,
        PROD_ATT,
        SECRET,
        &["--ftp-port", "-"],
        &secret,
    );
    let (from, bytes) = raw_port(&lab.attacker, PROD_ATT, ATTACKER, SECRET);
    assert_eq!(from.to_string(), PROD_ATT);
    assert!(bytes == secret);
    // The sandbox saw production's address, never the attacker's.
    let log = ftp.log("sandbox");
    assert!(log.contains(PROD_SB) && !log.contains(ATTACKER), "{log}");
    remove(&lab, e);
}

#[test]
fn ipv6_attacker_downloads_over_epsv_and_eprt() {
    let mut lab = Lab::new();
    let ftp = Ftp::new();
    let sb = lab.sandbox.clone();
    ftp.start(
        &mut lab,
        &sb,
        "sandbox6",
        (Some(SANDBOX6), 21),
        40000,
        &[(SECRET, &secret_bytes())],
    );
    let _sessions = Sessions(&lab);
    let sb6 = Sandbox {
        id: "sb-6".into(),
        endpoints: vec![Endpoint {
            service: "ftp".into(),
            address: SANDBOX6.parse().unwrap(),
            port: 21,
        }],
    };
    let e = enforce(
        &lab,
        Mode::Unreal,
        false,
        policy(Mode::Unreal, &[(ATTACKER6, sb6.clone())], &[], sb6),
    );
    let secret = secret_bytes();
    // IPv6 handshakes through the namespaces sometimes stall when many
    // test binaries run at once (see enforce_netns.rs): a few tries.
    let try_fetch = |extra: &[&str]| {
        let mut last = String::new();
        for _ in 0..3 {
            let got = curl(&lab.attacker, &url(PROD_ATT6, SECRET), extra);
            if got.ok && got.body == secret {
                return got.dialogue;
            }
            last = got.dialogue;
        }
        panic!("{extra:?}: {last}");
    };
    let d = try_fetch(&[]);
    assert!(d.contains("229 Entering Extended Passive Mode"), "{d}");
    assert!(!d.contains(SANDBOX6), "{d}");
    let d = try_fetch(&["--ftp-port", "-"]);
    assert!(d.contains("EPRT |2|fd00:1::2|"), "{d}");
    remove(&lab, e);
}

#[test]
fn a_kernel_without_the_ftp_helper_still_gets_the_redirects() {
    // A stand-in for a kernel without nf_conntrack_ftp: the real nft, but a
    // batch that asks for the helper is refused, as such a kernel does.
    let (lab, ftp) = ftp_lab(21);
    let _sessions = Sessions(&lab);
    let nft = ftp.dir.path().join("nft-without-ftp-helper");
    std::fs::write(
        &nft,
        "#!/bin/sh\n[ \"$1\" = -f ] || exec nft \"$@\"\nbatch=$(cat)\n\
         case \"$batch\" in *'ct helper'*)\n\
         echo 'Error: Could not process rule: No such file or directory' >&2; exit 1;;\nesac\n\
         printf '%s\\n' \"$batch\" | exec nft \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&nft, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sb = sandbox(SANDBOX_FTP, 21);
    let first = policy(Mode::Unreal, &[(ATTACKER, sb.clone())], &[], sb.clone());
    let mut second = policy(
        Mode::Unreal,
        &[(ATTACKER, sb.clone()), ("10.200.1.3", sb.clone())],
        &[],
        sb,
    );
    second.version = 2;
    let (e, applied) = in_ns(&lab.prod.clone(), move || {
        let mut e = Enforcer::new("kyoka", Mode::Unreal, nft, "conntrack".into(), services());
        e.start_empty().expect("empty table");
        let first = e.apply(&first).expect("table without the helper");
        assert!(first.full);
        let second = e.apply(&second).expect("delta");
        (e, second)
    });
    assert!(
        !applied.full,
        "the helper is not asked for again: {applied:?}"
    );
    let rules = lab.nft_list();
    assert!(
        !rules.contains("helper") && rules.contains("10.200.1.3"),
        "{rules}"
    );
    // The redirect itself works; FTP data connections cannot.
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 sandbox FTP"
    );
    remove(&lab, e);
}
