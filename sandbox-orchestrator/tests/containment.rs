//! From inside a sandbox nothing new gets out: not to a listener on the
//! host (through the bridge's gateway or any host address), not to another
//! sandbox, not to a host in a network namespace this test made. Fork
//! bombs and memory hogs stay inside their limits. Every target here is a
//! listener the test itself runs.

mod common;

use std::net::TcpListener;
use std::process::Command;

use common::*;

/// From the sandbox's ssh container: does a TCP connect to addr:port succeed?
fn connects_from(sb: &sandbox_orchestrator::SandboxInfo, addr: &str, port: u16) -> bool {
    let script = format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{addr}/{port}' && echo CONNECTED");
    text(&exec(sb, "ssh", "root", &script)).contains("CONNECTED")
}

/// A network namespace with a listener, reachable from the host.
struct Netns {
    name: String,
    listener: std::process::Child,
}

impl Netns {
    fn new(port: u16) -> (Netns, String) {
        let pid = std::process::id();
        let name = format!("kyk-t{pid}");
        let host_if = format!("kykh{}", pid % 100_000);
        let block = pid % 250 + 1;
        let (host_ip, ns_ip) = (format!("10.199.{block}.1"), format!("10.199.{block}.2"));
        let sh = |cmd: &str| {
            let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
            assert!(out.status.success(), "{cmd}: {}", text(&out));
        };
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip link add {host_if} type veth peer name eth0 netns {name}"));
        sh(&format!("ip addr add {host_ip}/30 dev {host_if} && ip link set {host_if} up"));
        sh(&format!("ip netns exec {name} sh -c 'ip addr add {ns_ip}/30 dev eth0 && ip link set eth0 up && ip link set lo up && ip route add default via {host_ip}'"));
        let listener = Command::new("ip")
            .args(["netns", "exec", &name, "python3", "-c"])
            .arg(format!("import socket,time\ns=socket.socket(); s.bind(('0.0.0.0',{port})); s.listen(16)\nwhile True:\n  c,_=s.accept(); c.sendall(b'hi'); c.close()"))
            .spawn()
            .unwrap();
        (Netns { name, listener }, ns_ip)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.listener.kill();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

#[test]
fn nothing_new_leaves_a_sandbox() {
    let config = config("containment");
    let _cleanup = Cleanup(config.clone());
    let rt = runtime();
    let o = rt.block_on(connect(config));
    let a = rt.block_on(o.assign("198.51.100.31".parse().unwrap())).unwrap();
    let b = rt.block_on(o.assign("198.51.100.32".parse().unwrap())).unwrap();
    assert_ne!(a.sandbox, b.sandbox);
    let sa = rt.block_on(o.get(&a.sandbox)).unwrap();
    let sb = rt.block_on(o.get(&b.sandbox)).unwrap();
    rt.block_on(wait_ready(&o, &sa));
    rt.block_on(wait_ready(&o, &sb));

    // The method works: inside its own container a connect succeeds.
    assert!(connects_from(&sa, "127.0.0.1", 22), "the probe itself is broken");

    // A listener on the host, on every address, through the gateway trap.
    let host = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let gateway = sandbox_orchestrator::subnets::host(sa.subnet, 1).to_string();
    assert!(!connects_from(&sa, &gateway, port), "reached the host through the bridge gateway");
    let docker0 = text(&run("sh", &["-c", "ip -4 -o addr show docker0 | awk '{print $4}' | cut -d/ -f1"])).trim().to_string();
    if !docker0.is_empty() {
        assert!(!connects_from(&sa, &docker0, port), "reached the host through docker0's address");
    }

    // Another sandbox's service.
    let b_ssh = sb.address_of("ssh").unwrap();
    assert!(!connects_from(&sa, &b_ssh.ip().to_string(), 22), "reached another sandbox");

    // A host in a namespace this test made: the host reaches it, the sandbox does not.
    let ns_port = 20_000 + (std::process::id() % 20_000) as u16;
    let (_ns, ns_ip) = Netns::new(ns_port);
    let mut reached = false;
    for _ in 0..50 {
        if std::net::TcpStream::connect((ns_ip.as_str(), ns_port)).is_ok() {
            reached = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(reached, "the test's namespace listener is not reachable from the host");
    assert!(!connects_from(&sa, &ns_ip, ns_port), "reached a host outside the sandbox");

    // Limits: a memory hog meets the OOM killer, a fork bomb pids_limit.
    let out = exec(&sa, "ssh", "admin", "head -c 1000m /dev/zero | tail > /dev/null; echo status=$?");
    assert!(text(&out).contains("status=137"), "a 1 GB tail under a 128 MB limit: {}", text(&out));
    let container = &sa.containers["ssh"];
    assert_eq!(std::fs::read_to_string(cgroup_file(container, "pids", "pids.max", "pids.max")).unwrap().trim(), "64");
    let out = run("docker", &["exec", "-d", "-u", "admin", container, "bash", "-c", "b(){ b|b & }; b"]);
    assert!(out.status.success(), "{}", text(&out));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let current: u64 = std::fs::read_to_string(cgroup_file(container, "pids", "pids.current", "pids.current")).unwrap().trim().parse().unwrap();
    let events = std::fs::read_to_string(cgroup_file(container, "pids", "pids.events", "pids.events")).unwrap();
    assert!(current <= 64, "{current} processes under pids_limit 64");
    assert!(!events.contains("max 0"), "the fork bomb never hit the limit: {events}");
    // The other sandbox is untouched.
    assert!(rt.block_on(sandbox_orchestrator::probe::answers("ssh", b_ssh, std::time::Duration::from_secs(10))));
}
