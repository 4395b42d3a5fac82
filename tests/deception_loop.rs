//! The deception loop end to end, with real parts only: network namespaces
//! for a production host, an appliance (detector, its Redis, and a sandbox
//! running the same daemons with other banners), a good client and six
//! attackers. Production runs Debian's vsftpd, sshd, redis-server, MariaDB
//! (`mariadbd`, general log) and the rsync daemon (a module that needs a
//! login), with `kyoka-agent` shipping their logs; the sandbox tells itself
//! apart by its FTP banner, SSH version, a Redis key, a row in MariaDB
//! (`kyoka.whoami`) and the rsync motd, module comment and file name. The
//! attackers run hydra against FTP, SSH, Redis and MySQL, and one lists the
//! rsync modules without logging in (`rsync.unauthenticated_listing`; hydra
//! has no rsync module). After the threshold, an attacker's new connections
//! reach the sandbox (for MySQL, the real `mysql` client logged in reads the
//! sandbox's row) while the good client (FTP, Redis, MySQL, a logged-in
//! rsync), connections already open (FTP, a mysql session) and whitelisted
//! ports stay on production; the agent's other modes and restarts of the
//! agent and the detector are checked on the same lab. Each daemon keeps its
//! data in the run's temporary folder; a killed run's namespaces, daemons
//! and folder are removed by the next run.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "kyokaloop";
const PASSWORD: &str = "Gr3en-Lantern-42";
const REDIS_PASSWORD: &str = "prod-redis-pass";

// One /24 per link; production is .1 on each, the peer .2.
const LINKS: [(&str, u8); 8] = [
    ("app", 3),
    ("good", 2),
    ("att1", 4),
    ("att2", 5),
    ("att3", 6),
    ("att4", 7),
    ("att5", 8),
    ("att6", 9),
];

fn addr(link: u8, host: u8) -> String {
    format!("10.201.{link}.{host}")
}

fn prod_seen_from(link: u8) -> String {
    addr(link, 1)
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn require(tools: &[&str]) {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "the deception loop test builds network namespaces and needs root"
    );
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(found, "{tool} is missing: run scripts/deps.sh");
    }
}

/// `kyoka-agent` is another package's binary: build it if this test runs alone.
fn agent_binary() -> PathBuf {
    let kyoka = PathBuf::from(env!("CARGO_BIN_EXE_kyoka"));
    let agent = kyoka.with_file_name("kyoka-agent");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "agent", "--bin", "kyoka-agent"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building kyoka-agent failed");
    assert!(agent.exists(), "{} is missing", agent.display());
    agent
}

struct Lab {
    tag: String,
    work: tempfile::TempDir,
    children: Vec<(String, Child)>,
}

impl Lab {
    fn new() -> Lab {
        require(&[
            "ip", "nft", "conntrack", "hydra", "vsftpd", "redis-server", "python3", "mariadbd",
            "mariadb-install-db", "mysql", "rsync",
        ]);
        remove_dead_runs();
        let tag = format!("kyl{}", std::process::id());
        let lab = Lab {
            work: tempfile::Builder::new().prefix(&format!("{tag}-")).tempdir().unwrap(),
            tag,
            children: Vec::new(),
        };
        sh(&["ip", "netns", "add", &lab.ns("prod")]);
        sh(&["ip", "-n", &lab.ns("prod"), "link", "set", "lo", "up"]);
        for (name, link) in LINKS {
            let ns = lab.ns(name);
            sh(&["ip", "netns", "add", &ns]);
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            let dev = format!("v{link}");
            sh(&[
                "ip", "-n", &lab.ns("prod"), "link", "add", &dev, "type", "veth", "peer", "name",
                "eth0", "netns", &ns,
            ]);
            let prod = lab.ns("prod");
            sh(&["ip", "-n", &prod, "addr", "add", &format!("{}/24", addr(link, 1)), "dev", &dev]);
            sh(&["ip", "-n", &prod, "link", "set", &dev, "up"]);
            sh(&["ip", "-n", &ns, "addr", "add", &format!("{}/24", addr(link, 2)), "dev", "eth0"]);
            sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            // Replies go back through production, so the sandbox answers the
            // attacker's real address.
            sh(&["ip", "-n", &ns, "route", "add", "default", "via", &addr(link, 1)]);
        }
        sh(&["ip", "netns", "exec", &lab.ns("prod"), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        lab
    }

    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.tag)
    }

    fn dir(&self, name: &str) -> PathBuf {
        let d = self.work.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn spawn(&mut self, name: &str, ns: &str, args: &[&str]) {
        let log = std::fs::File::create(self.work.path().join(format!("{name}.out"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(ns)])
            .args(args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        self.children.push((name.to_string(), child));
    }

    fn stop(&mut self, name: &str, signal: &str) {
        let Some(at) = self.children.iter().position(|(n, _)| n == name) else {
            return;
        };
        let (_, mut child) = self.children.remove(at);
        sh(&["kill", signal, &child.id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "{name} did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn output(&self, name: &str) -> String {
        std::fs::read_to_string(self.work.path().join(format!("{name}.out"))).unwrap_or_default()
    }

    fn exec(&self, ns: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(ns)])
            .args(args)
            .output()
            .unwrap()
    }

    /// The first bytes a service sends (after `send`, if any), as seen from
    /// `ns`; None when the connection is refused or times out.
    fn hello(&self, ns: &str, ip: &str, port: u16, send: &str) -> Option<String> {
        let script = "import socket,sys\n\
            s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=3)\n\
            s.sendall(sys.argv[3].encode())\n\
            data=b''\n\
            while len(data)<4 or not data.endswith(b'\\n'):\n\
            \x20   chunk=s.recv(4096)\n\
            \x20   if not chunk: break\n\
            \x20   data+=chunk\n\
            sys.stdout.write(data.decode('latin-1'))\n";
        let out = self.exec(ns, &["python3", "-c", script, ip, &port.to_string(), send]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        while !ready() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}; logs in {}:\n{}",
                self.work.path().display(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        start.elapsed()
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for name in ["detector", "agent", "agent-2", "agent-3", "agent-4", "agent-5"] {
            let text = self.output(name);
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            all += &format!("--- {name}\n{}\n", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        all
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in ["prod"].into_iter().chain(LINKS.iter().map(|(n, _)| *n)) {
            remove_namespace(&self.ns(name));
        }
    }
}

fn remove_namespace(ns: &str) {
    // Forked daemons (vsftpd, sshd sessions, rsync) live in our namespaces.
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", ns]).status();
}

/// What runs that were killed (their process is gone) left: namespaces,
/// the daemons still running in them, then their folders (MariaDB's
/// datadirs are some 20 MB each).
fn remove_dead_runs() {
    let dead = |name: &str| {
        let pid = name.strip_prefix("kyl").and_then(|r| r.split('-').next()).unwrap_or("");
        !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && !Path::new(&format!("/proc/{pid}")).exists()
    };
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    for name in names(Path::new("/run/netns")) {
        if dead(&name) {
            remove_namespace(&name);
        }
    }
    let tmp = std::env::temp_dir();
    for name in names(&tmp) {
        if dead(&name) {
            let _ = std::fs::remove_dir_all(tmp.join(name));
        }
    }
}

/// Real daemons, the same on production and in the sandbox but for banners.
fn start_services(lab: &mut Lab, host: &str, who: &str) {
    let dir = lab.dir(host);
    let d = dir.display();
    std::fs::create_dir_all("/var/run/vsftpd/empty").unwrap();
    let vsftpd = dir.join("vsftpd.conf");
    std::fs::write(
        &vsftpd,
        format!(
            "listen=YES\nlisten_ipv6=NO\nbackground=NO\nanonymous_enable=NO\nlocal_enable=YES\n\
             write_enable=YES\nftpd_banner=Welcome to the {who} FTP service.\n\
             xferlog_enable=YES\nxferlog_std_format=NO\nlog_ftp_protocol=YES\n\
             vsftpd_log_file={d}/vsftpd.log\npasv_enable=YES\npasv_min_port=40000\n\
             pasv_max_port=40009\nsecure_chroot_dir=/var/run/vsftpd/empty\n\
             pam_service_name=vsftpd\nseccomp_sandbox=NO\nisolate=NO\nisolate_network=NO\n\
             max_login_fails=2\ndelay_failed_login=0\n"
        ),
    )
    .unwrap();
    // delay_failed_login=0: hydra's FTP runs then end in seconds, not ten.
    lab.spawn(&format!("vsftpd-{host}"), host, &["vsftpd", vsftpd.to_str().unwrap()]);

    for kind in ["ed25519", "ecdsa"] {
        let key = dir.join(format!("ssh_host_{kind}_key"));
        if !key.exists() {
            sh(&["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", key.to_str().unwrap()]);
        }
    }
    let sshd = dir.join("sshd_config");
    std::fs::write(
        &sshd,
        format!(
            "Port 22\nPort 2222\nListenAddress 0.0.0.0\nHostKey {d}/ssh_host_ed25519_key\n\
             HostKey {d}/ssh_host_ecdsa_key\nPidFile {d}/sshd.pid\nUsePAM no\n\
             PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPermitRootLogin no\n\
             UseDNS no\nMaxAuthTries 6\nLogLevel VERBOSE\nVersionAddendum {who}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let sshd_log = format!("{d}/sshd.log");
    lab.spawn(
        &format!("sshd-{host}"),
        host,
        &["/usr/sbin/sshd", "-D", "-f", sshd.to_str().unwrap(), "-E", &sshd_log],
    );

    let redis = dir.join("redis.conf");
    std::fs::write(
        &redis,
        format!(
            "bind 0.0.0.0\nport 6379\nprotected-mode no\ndaemonize no\ndir {d}\nsave \"\"\n\
             appendonly no\nrequirepass {REDIS_PASSWORD}\n"
        ),
    )
    .unwrap();
    lab.spawn(&format!("redis-{host}"), host, &["redis-server", redis.to_str().unwrap()]);

    // The rsync daemon: one module that needs a login (the good client's),
    // its motd and module comment naming the host.
    let module = dir.join("rsync-data");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(module.join(format!("{who}.txt")), who).unwrap();
    let secrets = dir.join("rsyncd.secrets");
    std::fs::write(&secrets, format!("{USER}:{PASSWORD}\n")).unwrap();
    let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&secrets, owner_only).unwrap();
    let motd = format!("Welcome to the {who} rsync service.\n");
    std::fs::write(dir.join("rsyncd.motd"), motd).unwrap();
    let rsyncd = dir.join("rsyncd.conf");
    std::fs::write(
        &rsyncd,
        format!(
            "port = 873\nuse chroot = no\nreverse lookup = no\nlog file = {d}/rsyncd.log\n\
             pid file = {d}/rsyncd.pid\nmotd file = {d}/rsyncd.motd\nuid = root\ngid = root\n\
             [data]\npath = {m}\ncomment = {who} data\nread only = yes\nauth users = {USER}\n\
             secrets file = {s}\n",
            m = module.display(),
            s = secrets.display(),
        ),
    )
    .unwrap();
    lab.spawn(
        &format!("rsyncd-{host}"),
        host,
        &["rsync", "--daemon", "--no-detach", &format!("--config={}", rsyncd.display())],
    );

}

/// MariaDB on its datadir from prepare_mariadb; a socket of its own so the
/// two instances (and a system one) never meet.
fn start_mariadb(lab: &mut Lab, host: &str) {
    let d = lab.dir(host).display().to_string();
    lab.spawn(
        &format!("mariadb-{host}"),
        host,
        &[
            "mariadbd",
            "--no-defaults",
            &format!("--datadir={d}/mariadb"),
            &format!("--tmpdir={d}/mariadb-tmp"),
            "--user=root",
            "--port=3306",
            "--bind-address=0.0.0.0",
            &format!("--socket={d}/mysql.sock"),
            &format!("--pid-file={d}/mariadb.pid"),
            "--general-log=1",
            &format!("--general-log-file={d}/mariadb-general.log"),
            &format!("--log-error={d}/mariadb-error.log"),
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            MARIADB_REDO_SIZE,
        ],
    );
}

/// Every daemon of start_services and start_mariadb answers (from inside).
fn wait_for_services(lab: &Lab, host: &str, who: &str) {
    let ns = host.to_string();
    lab.wait_for(&format!("redis on {host}"), || {
        lab.exec(&ns, &["redis-cli", "-a", REDIS_PASSWORD, "--no-auth-warning", "set", "whoami", who])
            .stdout
            .starts_with(b"OK")
    });
    lab.wait_for(&format!("MariaDB on {host}"), || {
        mysql_who(lab, &ns, "127.0.0.1").as_deref() == Some(who)
    });
    lab.wait_for(&format!("the rsync daemon on {host}"), || {
        lab.hello(&ns, "127.0.0.1", 873, "").is_some_and(|g| g.starts_with("@RSYNCD"))
    });
}

/// A small redo log: the default (96 MB) per instance only costs disk here.
const MARIADB_REDO_SIZE: &str = "--innodb-log-file-size=4M";

/// Both hosts' MariaDB datadirs, made in parallel and while the other
/// daemons start (mariadb-install-db takes 3-4 s, mostly waiting on the
/// disk): the same user and password on both, and a table `kyoka.whoami`
/// that says which host answers.
fn prepare_mariadb(lab: &Lab) -> std::thread::JoinHandle<()> {
    let hosts = [(lab.dir("prod"), "production"), (lab.dir("app"), "sandbox")];
    std::thread::spawn(move || {
        std::thread::scope(|s| {
            for (dir, who) in &hosts {
                s.spawn(move || init_mariadb(dir, who));
            }
        })
    })
}

fn init_mariadb(dir: &Path, who: &str) {
    let datadir = format!("--datadir={}", dir.join("mariadb").display());
    // Two installs sharing /tmp failed now and then on each other's
    // temporary tables ("Unknown table 'mysql.tmp_user_sys'").
    let tmp = dir.join("mariadb-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let tmpdir = format!("--tmpdir={}", tmp.display());
    sh(&[
        "mariadb-install-db",
        "--no-defaults",
        &datadir,
        &tmpdir,
        "--user=root",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        MARIADB_REDO_SIZE,
    ]);
    // The stock grants only let root in by socket: users come from
    // --bootstrap, one statement per line, privileges loaded first.
    let sql = format!(
        "FLUSH PRIVILEGES;\nCREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
         CREATE DATABASE kyoka;\nCREATE TABLE kyoka.whoami (who VARCHAR(32));\n\
         INSERT INTO kyoka.whoami VALUES ('{who}');\nGRANT SELECT ON kyoka.* TO '{USER}'@'%';\n"
    );
    let mut boot = Command::new("mariadbd")
        .args(["--no-defaults", "--bootstrap", &datadir, &tmpdir, "--user=root", MARIADB_REDO_SIZE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mariadbd runs");
    boot.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    let out = boot.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "mariadbd --bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn add_user() {
    let exists = Command::new("id").arg(USER).stdout(Stdio::null()).status().unwrap().success();
    if !exists {
        sh(&["useradd", "-m", "-s", "/bin/bash", USER]);
    }
    let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().unwrap();
    writeln!(chpasswd.stdin.take().unwrap(), "{USER}:{PASSWORD}").unwrap();
    assert!(chpasswd.wait().unwrap().success());
}

const APP: u8 = 3;
const API_PORT: u16 = 8088;
const SYSLOG_PORT: u16 = 5514;
const STATE_REDIS: &str = "redis://127.0.0.1:6380";

fn start_detector(lab: &mut Lab, name: &str) {
    let kyoka = env!("CARGO_BIN_EXE_kyoka");
    let app = addr(APP, 2);
    let config = lab.dir("detector").join("detector.toml");
    std::fs::write(
        &config,
        "mode = \"unreal\"\n[whitelist]\naddresses = []\nports = [2222]\n",
    )
    .unwrap();
    lab.spawn(
        name,
        "app",
        &[
            kyoka,
            "detector",
            "--redis",
            STATE_REDIS,
            "--syslog",
            &format!("{app}:{SYSLOG_PORT}"),
            "--api",
            &format!("{app}:{API_PORT}"),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    lab.wait_for("the detector's API", || {
        lab.hello("prod", &app, API_PORT, "GET /api/v1/health HTTP/1.0\r\n\r\n")
            .is_some_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"))
    });
}

fn write_agent_config(lab: &Lab, id: &str, key: &str) -> PathBuf {
    let dir = lab.dir("agent");
    let prod = lab.dir("prod");
    let app = addr(APP, 2);
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "host = \"prod-1\"\nstate_dir = \"{state}\"\n\n[detector]\nurl = \"http://{app}:{API_PORT}\"\n\
             agent_id = \"{id}\"\nagent_key = \"{key}\"\nsyslog_address = \"{app}:{SYSLOG_PORT}\"\n\
             heartbeat_interval_seconds = 2\npoll_interval_seconds = 2\n\n\
             [[services]]\nname = \"ftp\"\nport = 21\n\n[[services]]\nname = \"ssh\"\nport = 22\n\n\
             [[services]]\nname = \"redis\"\nport = 6379\n\n\
             [[services]]\nname = \"mysql\"\nport = 3306\n\n\
             [[services]]\nname = \"rsync\"\nport = 873\n\n\
             [[files]]\npath = \"{p}/vsftpd.log\"\napp_name = \"vsftpd\"\nstart_at = \"beginning\"\n\n\
             [[files]]\npath = \"{p}/sshd.log\"\napp_name = \"sshd\"\nstart_at = \"beginning\"\n\n\
             [[files]]\npath = \"{p}/mariadb-general.log\"\napp_name = \"mariadbd\"\n\
             start_at = \"beginning\"\n\n\
             [[files]]\npath = \"{p}/rsyncd.log\"\napp_name = \"rsyncd\"\nstart_at = \"beginning\"\n\n\
             [[redis_monitor]]\naddress = \"127.0.0.1:6379\"\npassword = \"{REDIS_PASSWORD}\"\napp_name = \"redis\"\n",
            state = dir.join("state").display(),
            p = prod.display(),
        ),
    )
    .unwrap();
    config
}

fn start_agent(lab: &mut Lab, name: &str, mode: &str, config: &Path) {
    let agent = agent_binary();
    lab.spawn(
        name,
        "prod",
        &[agent.to_str().unwrap(), "--mode", mode, "--config", config.to_str().unwrap()],
    );
    lab.wait_for("the agent's table", || kyoka_tables(lab) == 1);
}

fn kyoka_tables(lab: &Lab) -> usize {
    let out = lab.exec("prod", &["nft", "list", "tables"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("kyoka"))
        .count()
}

/// A connection kept open across the redirect: an FTP control connection,
/// or the mysql client's session (one statement per line, one row back).
struct OpenConnection {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl OpenConnection {
    fn ftp(lab: &Lab, ns: &str, ip: &str) -> (OpenConnection, String) {
        let script = "import socket,sys\n\
            s=socket.create_connection((sys.argv[1],21),timeout=10)\n\
            f=s.makefile('rb')\n\
            print(f.readline().decode().strip(),flush=True)\n\
            for line in sys.stdin:\n\
            \x20   s.sendall(line.strip().encode()+b'\\r\\n')\n\
            \x20   print(f.readline().decode().strip(),flush=True)\n";
        let mut open = OpenConnection::spawn(lab, ns, &["python3", "-c", script, ip]);
        let mut banner = String::new();
        open.stdout.read_line(&mut banner).unwrap();
        (open, banner)
    }

    fn mysql(lab: &Lab, ns: &str, ip: &str) -> OpenConnection {
        let password = format!("--password={PASSWORD}");
        OpenConnection::spawn(
            lab,
            ns,
            &[
                "mysql", "--no-defaults", "--skip-reconnect", "--unbuffered", "-N", "-B", "-h", ip,
                "-u", USER, &password,
            ],
        )
    }

    fn spawn(lab: &Lab, ns: &str, args: &[&str]) -> OpenConnection {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.ns(ns)])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        OpenConnection { child, stdin, stdout }
    }

    fn send(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        let mut reply = String::new();
        self.stdout.read_line(&mut reply).unwrap();
        reply
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ftp_banner(lab: &Lab, ns: &str, link: u8) -> Option<String> {
    lab.hello(ns, &prod_seen_from(link), 21, "")
}

fn ssh_banner(lab: &Lab, ns: &str, link: u8, port: u16) -> Option<String> {
    lab.hello(ns, &prod_seen_from(link), port, "")
}

fn redis_whoami(lab: &Lab, ns: &str, link: u8) -> Option<String> {
    lab.hello(
        ns,
        &prod_seen_from(link),
        6379,
        &format!("AUTH {REDIS_PASSWORD}\r\nGET whoami\r\n"),
    )
}

/// What `kyoka.whoami` says to the real mysql client logged in as USER.
fn mysql_who(lab: &Lab, ns: &str, ip: &str) -> Option<String> {
    let out = lab.exec(
        ns,
        &[
            "mysql", "--no-defaults", "--connect-timeout=3", "-h", ip, "-u", USER,
            &format!("--password={PASSWORD}"), "-N", "-B", "-e", "SELECT who FROM kyoka.whoami",
        ],
    );
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn mysql_whoami(lab: &Lab, ns: &str, link: u8) -> Option<String> {
    mysql_who(lab, ns, &prod_seen_from(link))
}

/// An anonymous module listing (motd and module comments): what gets an
/// rsync client flagged.
fn rsync_list(lab: &Lab, ns: &str, link: u8) -> Option<String> {
    let url = format!("rsync://{}/", prod_seen_from(link));
    let out = lab.exec(ns, &["rsync", "--contimeout=3", "--timeout=5", &url]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A logged-in listing of the module (motd and files): a good client's use.
fn rsync_login(lab: &Lab, ns: &str, link: u8) -> Option<String> {
    let url = format!("rsync://{USER}@{}/data/", prod_seen_from(link));
    let password = format!("RSYNC_PASSWORD={PASSWORD}");
    let out = lab.exec(ns, &["env", &password, "rsync", "--contimeout=3", "--timeout=5", &url]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn hydra(lab: &Lab, ns: &str, link: u8, service: &str) -> Child {
    let words = lab.dir("hydra").join("passwords.txt");
    std::fs::write(&words, "123456\npassword\nletmein\nqwerty\nadmin\ndragon\nmonkey\nabc123\n").unwrap();
    let target = format!("{service}://{}", prod_seen_from(link));
    let mut args = vec!["hydra", "-I", "-t", "2", "-P", words.to_str().unwrap()];
    if service != "redis" {
        args.extend(["-l", USER]);
    }
    args.push(&target);
    let ns = lab.ns(ns);
    Command::new("ip")
        .args(["netns", "exec", &ns])
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn register_agent(lab: &Lab) -> (String, String) {
    let kyoka = env!("CARGO_BIN_EXE_kyoka");
    let out = lab.exec("app", &[kyoka, "agents", "add", "prod-1", "--redis", STATE_REDIS]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("agents add prints JSON");
    (v["id"].as_str().unwrap().to_string(), v["key"].as_str().unwrap().to_string())
}

/// Why the detector flagged the attacker on `link` (its record in Redis).
fn flag_reason(lab: &Lab, link: u8) -> String {
    let ip: std::net::IpAddr = addr(link, 2).parse().unwrap();
    let key = model::state::attacker(ip);
    let out = lab.exec("app", &["redis-cli", "-p", "6380", "hget", &key, "reason"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What the orchestrator does for a shared sandbox: publish its endpoints.
fn publish_sandbox(lab: &Lab) {
    let sandbox = addr(APP, 2);
    let json = serde_json::json!({
        "id": "sandbox-lab",
        "endpoints": [
            {"service": "ftp", "address": sandbox, "port": 21},
            {"service": "ssh", "address": sandbox, "port": 22},
            {"service": "redis", "address": sandbox, "port": 6379},
            {"service": "mysql", "address": sandbox, "port": 3306},
            {"service": "rsync", "address": sandbox, "port": 873},
        ]
    });
    let cli = |args: &[&str]| {
        let mut all = vec!["redis-cli", "-p", "6380"];
        all.extend(args);
        let out = lab.exec("app", &all);
        assert!(out.status.success());
    };
    cli(&["set", model::state::DEFAULT_SANDBOX, &json.to_string()]);
    let out = lab.exec("app", &["redis-cli", "-p", "6380", "incr", model::state::POLICY_VERSION]);
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    cli(&["publish", model::state::POLICY_CHANGED, &version]);
}

#[test]
fn attackers_are_moved_to_the_sandbox_and_everyone_else_stays() {
    add_user();
    let mut lab = Lab::new();
    let datadirs = prepare_mariadb(&lab);
    start_services(&mut lab, "prod", "production");
    start_services(&mut lab, "app", "sandbox");
    datadirs.join().expect("making MariaDB's datadirs failed");
    start_mariadb(&mut lab, "prod");
    start_mariadb(&mut lab, "app");
    wait_for_services(&lab, "prod", "production");
    wait_for_services(&lab, "app", "sandbox");
    let state = lab.dir("state-redis");
    lab.spawn(
        "state-redis",
        "app",
        &[
            "redis-server", "--port", "6380", "--bind", "127.0.0.1", "--save", "", "--dir",
            state.to_str().unwrap(),
        ],
    );
    lab.wait_for("the state Redis", || {
        lab.exec("app", &["redis-cli", "-p", "6380", "ping"]).stdout.starts_with(b"PONG")
    });
    start_detector(&mut lab, "detector");
    publish_sandbox(&lab);
    let (id, key) = register_agent(&lab);
    let config = write_agent_config(&lab, &id, &key);
    start_agent(&mut lab, "agent", "unreal", &config);

    // Before: everyone reaches production.
    let good = |lab: &Lab| ftp_banner(lab, "good", 2).unwrap_or_default();
    assert!(good(&lab).contains("production"), "{}", good(&lab));
    assert!(ftp_banner(&lab, "att1", 4).unwrap().contains("production"));
    let (mut open, banner) = OpenConnection::ftp(&lab, "att1", &prod_seen_from(4));
    assert!(banner.contains("production"), "{banner}");
    assert_eq!(mysql_whoami(&lab, "good", 2).as_deref(), Some("production"));
    assert_eq!(mysql_whoami(&lab, "att5", 8).as_deref(), Some("production"));
    let mut open_sql = OpenConnection::mysql(&lab, "att5", &prod_seen_from(8));
    let who = open_sql.send("SELECT who FROM kyoka.whoami;");
    assert_eq!(who.trim(), "production");
    let login = rsync_login(&lab, "good", 2).unwrap_or_default();
    assert!(login.contains("production rsync") && login.contains("production.txt"), "{login}");

    // Four attackers brute-force four services at once; a fifth lists the
    // rsync modules without logging in (production answers that once).
    let mut runs = vec![
        hydra(&lab, "att1", 4, "ftp"),
        hydra(&lab, "att2", 5, "ssh"),
        hydra(&lab, "att3", 6, "redis"),
        hydra(&lab, "att5", 8, "mysql"),
    ];
    let listing = rsync_list(&lab, "att6", 9).unwrap_or_default();
    assert!(listing.contains("production data"), "{listing}");
    let ftp_moved = lab.wait_for("the FTP attacker's redirect", || {
        ftp_banner(&lab, "att1", 4).is_some_and(|b| b.contains("sandbox"))
    });
    lab.wait_for("the SSH attacker's redirect", || {
        ssh_banner(&lab, "att2", 5, 22).is_some_and(|b| b.contains("sandbox"))
    });
    lab.wait_for("the Redis attacker's redirect", || {
        redis_whoami(&lab, "att3", 6).is_some_and(|b| b.contains("sandbox"))
    });
    // The real mysql client, with the right password, gets the sandbox's data.
    lab.wait_for("the MySQL attacker's redirect", || {
        mysql_whoami(&lab, "att5", 8).as_deref() == Some("sandbox")
    });
    lab.wait_for("the rsync lister's redirect", || {
        rsync_list(&lab, "att6", 9).is_some_and(|l| l.contains("sandbox data"))
    });
    for run in &mut runs {
        let _ = run.wait();
    }
    // Flagged by the rules meant for them, from the shipped logs.
    let reason = flag_reason(&lab, 8);
    assert!(reason.contains("mysql.brute_force"), "{reason}");
    let reason = flag_reason(&lab, 9);
    assert!(reason.contains("rsync.unauthenticated_listing"), "{reason}");
    eprintln!("the FTP attacker was redirected {ftp_moved:?} after waiting began");

    // A flagged attacker goes to the sandbox on every protected service...
    assert!(ssh_banner(&lab, "att1", 4, 22).unwrap().contains("sandbox"));
    assert!(redis_whoami(&lab, "att1", 4).unwrap().contains("sandbox"));
    assert_eq!(mysql_whoami(&lab, "att1", 4).as_deref(), Some("sandbox"));
    assert!(rsync_login(&lab, "att1", 4).unwrap().contains("sandbox.txt"));
    assert!(ftp_banner(&lab, "att6", 9).unwrap().contains("sandbox"));
    // ...but not on a whitelisted port, nor on its connection already open.
    assert!(ssh_banner(&lab, "att1", 4, 2222).unwrap().contains("production"));
    let reply = open.send(&format!("USER {USER}"));
    assert!(reply.starts_with("331"), "the open connection was cut: {reply:?}");
    let who = open_sql.send("SELECT who FROM kyoka.whoami;");
    assert_eq!(who.trim(), "production", "the open MySQL session moved or was cut");
    // The good client and the untouched attacker stay on production.
    assert!(good(&lab).contains("production"));
    assert!(ftp_banner(&lab, "att4", 7).unwrap().contains("production"));
    assert!(redis_whoami(&lab, "good", 2).unwrap().contains("production"));
    assert_eq!(mysql_whoami(&lab, "good", 2).as_deref(), Some("production"));
    assert!(rsync_login(&lab, "good", 2).unwrap().contains("production.txt"));
    assert_eq!(mysql_whoami(&lab, "att4", 7).as_deref(), Some("production"));

    // The agent restarts (killed, no clean stop): it rebuilds from its last
    // good policy, without a second table or lost attacker.
    lab.stop("agent", "-KILL");
    assert_eq!(kyoka_tables(&lab), 1, "a killed agent leaves its table in place");
    start_agent(&mut lab, "agent-2", "unreal", &config);
    assert_eq!(kyoka_tables(&lab), 1);
    assert!(ftp_banner(&lab, "att1", 4).unwrap().contains("sandbox"));

    // The detector restarts: nothing is lost, and a new attacker is caught.
    lab.stop("detector", "-TERM");
    assert!(ftp_banner(&lab, "att2", 5).unwrap().contains("sandbox"), "enforced while the detector is away");
    start_detector(&mut lab, "detector-2");
    let mut run = hydra(&lab, "att4", 7, "ftp");
    lab.wait_for("the fourth attacker's redirect after a detector restart", || {
        ftp_banner(&lab, "att4", 7).is_some_and(|b| b.contains("sandbox"))
    });
    let _ = run.wait();
    assert!(ftp_banner(&lab, "att1", 4).unwrap().contains("sandbox"));
    assert!(good(&lab).contains("production"));

    // Firewall mode: flagged attackers are dropped, others are not.
    lab.stop("agent-2", "-TERM");
    assert_eq!(kyoka_tables(&lab), 0, "a clean stop removes the table");
    start_agent(&mut lab, "agent-3", "firewall", &config);
    lab.wait_for("the attackers to be dropped", || ftp_banner(&lab, "att1", 4).is_none());
    assert!(good(&lab).contains("production"));

    // Back mode: a flagged attacker's connection comes back to itself.
    lab.stop("agent-3", "-TERM");
    let own = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
               s.bind(('0.0.0.0',21))\ns.listen(8)\nwhile True:\n    c,_=s.accept()\n    c.sendall(b'220 the attacker itself\\r\\n')\n    c.close()\n";
    lab.spawn("att1-own-ftp", "att1", &["python3", "-c", own]);
    start_agent(&mut lab, "agent-4", "back", &config);
    lab.wait_for("the attacker's traffic to be reflected", || {
        ftp_banner(&lab, "att1", 4).is_some_and(|b| b.contains("attacker itself"))
    });
    assert!(good(&lab).contains("production"));

    // Honeypot mode: every source goes to the sandbox but on whitelisted ports.
    lab.stop("agent-4", "-TERM");
    start_agent(&mut lab, "agent-5", "honeypot", &config);
    lab.wait_for("the good client to land in the sandbox", || good(&lab).contains("sandbox"));
    assert_eq!(mysql_whoami(&lab, "good", 2).as_deref(), Some("sandbox"));
    assert!(ssh_banner(&lab, "good", 2, 2222).unwrap().contains("production"));
    lab.stop("agent-5", "-TERM");
    assert_eq!(kyoka_tables(&lab), 0, "a clean stop removes the table");
    assert!(good(&lab).contains("production"));
    assert_eq!(mysql_whoami(&lab, "good", 2).as_deref(), Some("production"));
}
