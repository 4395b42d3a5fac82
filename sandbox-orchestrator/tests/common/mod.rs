//! Shared by the sandbox tests: an orchestrator of its own (a unique
//! `instance` label, so parallel tests never touch each other's sandboxes)
//! against the real engine, with helpers to run real clients.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::time::Duration;

use sandbox_orchestrator::{Config, Orchestrator, SandboxInfo};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// A config with a unique instance; Docker and the images must be there.
pub fn config(test: &str) -> Config {
    let dir = std::env::temp_dir().join(format!("kyoka-sb-{test}-{}", std::process::id()));
    Config {
        instance: format!("test-{test}-{}", std::process::id()),
        pool_size: 0,
        memory_limit_mb: 128,
        pids_limit: 64,
        evidence_dir: dir,
        ..Config::default()
    }
}

pub async fn connect(config: Config) -> Orchestrator {
    match Orchestrator::connect(config).await {
        Ok(o) => o,
        Err(e) => panic!("sandbox tests need the Docker engine and the images (bash images/build.sh): {e}"),
    }
}

/// Removes every sandbox (and spare network) of this test's instance when dropped.
pub struct Cleanup(pub Config);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let config = self.0.clone();
        let _ = std::thread::spawn(move || {
            runtime().block_on(async {
                if let Ok(o) = Orchestrator::connect(config).await {
                    for sb in o.sandboxes().await.unwrap_or_default() {
                        let _ = o.remove(&sb.id).await;
                    }
                    for (id, _) in o.spare_networks().await.unwrap_or_default() {
                        let _ = o.remove(&id).await;
                    }
                }
            })
        })
        .join();
        let _ = std::fs::remove_dir_all(&self.0.evidence_dir);
    }
}

/// Runs a client program; panics with a clear message when it is missing.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("30")
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/deps.sh installs it): {e}"))
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `docker exec` in a sandbox container.
pub fn exec(sb: &SandboxInfo, service: &str, user: &str, script: &str) -> Output {
    let container = &sb.containers[service];
    run("docker", &["exec", "-u", user, container, "bash", "-c", script])
}

pub fn docker_logs(sb: &SandboxInfo, service: &str) -> String {
    text(&run("docker", &["logs", &sb.containers[service]]))
}

/// Waits until every service of the sandbox answers like a client expects
/// and sshd has reloaded with its RSA key (a cold sandbox makes it after
/// start; a login during the reload is refused).
pub async fn wait_ready(o: &Orchestrator, sb: &SandboxInfo) {
    assert!(o.wait_ready(sb, Duration::from_secs(60)).await, "{} never answered on every service", sb.id);
}

/// An ssh command with a password, without sshpass: OpenSSH's askpass.
pub fn ssh(host: &str, user: &str, password: &str, command: &str) -> Output {
    let dir = std::env::temp_dir().join(format!("kyoka-askpass-{}-{password}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let askpass = dir.join("askpass.sh");
    std::fs::write(&askpass, format!("#!/bin/sh\necho '{password}'\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    Command::new("timeout")
        .args(["30", "ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-o", "PreferredAuthentications=password", "-o", "ConnectTimeout=10"])
        .arg(format!("{user}@{host}"))
        .arg(command)
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .output()
        .expect("ssh client missing (scripts/deps.sh installs openssh-client)")
}

/// A cgroup file of a container, on cgroup v1 (per-controller hierarchies)
/// or v2 (one unified tree); `v1`/`v2` are the file's names in each.
pub fn cgroup_file(container: &str, controller: &str, v1: &str, v2: &str) -> String {
    let pid = text(&run("docker", &["inspect", "-f", "{{.State.Pid}}", container])).trim().to_string();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if names.split(',').any(|n| n == controller) {
            return format!("/sys/fs/cgroup/{controller}{path}/{v1}");
        }
    }
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::")).expect("no cgroup of the container").trim().to_string();
    format!("/sys/fs/cgroup{path}/{v2}")
}
