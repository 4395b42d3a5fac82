//! The `kyoka-agent` binary in a production namespace, following a
//! stand-in detector (tests/common/detector.rs): pushed policy enforced,
//! lower versions ignored, table removed on SIGTERM, the last good policy
//! enforced again after a restart while the detector is away.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::detector::StandInDetector;
use common::*;
use model::policy::{Attacker, Endpoint, Mode, Policy, Sandbox, Whitelist};
use model::signing;

fn policy(version: u64, attackers: &[&str]) -> Policy {
    let now = signing::now();
    let sandbox = Sandbox {
        id: "sb-1".into(),
        endpoints: vec![Endpoint {
            service: "ftp".into(),
            address: SANDBOX.parse().unwrap(),
            port: 21,
        }],
    };
    Policy {
        version,
        mode: Mode::Unreal,
        whitelist: Whitelist {
            addresses: vec![],
            ports: vec![22],
        },
        attackers: attackers
            .iter()
            .map(|a| Attacker {
                address: a.parse().unwrap(),
                reason: "ftp.brute_force".into(),
                since: now,
                expires: now + 600,
                sandbox: Some(sandbox.clone()),
            })
            .collect(),
        default_sandbox: None,
    }
}

fn write_config(dir: &Path, url: &str, key: &str) -> std::path::PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            r#"host = "prod-1"
state_dir = "{state}"
table_check_interval_seconds = 1

[detector]
url = "{url}"
agent_id = "prod-1"
agent_key = "{key}"
heartbeat_interval_seconds = 1
poll_interval_seconds = 1
reconnect_min_milliseconds = 100
reconnect_max_seconds = 1

[[services]]
name = "ftp"
port = 21

[[services]]
name = "ssh"
port = 22
"#,
            state = dir.join("state").display()
        ),
    )
    .unwrap();
    path
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(lab: &mut Lab, pid: u32) {
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let mut child = lab.take_child(pid).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "kyoka-agent exited with {status}");
}

#[test]
fn agent_follows_pushes_and_cleans_up_on_sigterm() {
    let mut lab = Lab::new();
    let (prod, sb) = (lab.prod.clone(), lab.sandbox.clone());
    banner_server(&prod, 21, "production-ftp");
    banner_server(&sb, 21, "sandbox-ftp");
    let key = signing::new_key();
    let listener = in_ns(&prod, || TcpListener::bind("127.0.0.1:0").unwrap());
    let detector = StandInDetector::serve(listener, &key);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &detector.url(), &key);
    let bin = env!("CARGO_BIN_EXE_kyoka-agent");
    let args = [
        bin,
        "--mode",
        "unreal",
        "--config",
        config.to_str().unwrap(),
    ];

    let pid = lab.spawn(&prod, &args);
    wait_for("the table", || lab.nft_list().contains("table inet kyoka"));
    let mut open = connect(&lab.attacker, PROD_ATT, 21).unwrap();
    assert_eq!(open.line().unwrap(), "220 production-ftp");

    detector.publish(policy(2, &[ATTACKER]));
    wait_for("the redirect", || {
        banner(&lab.attacker, PROD_ATT, 21).as_deref() == Ok("220 sandbox-ftp")
    });
    assert_eq!(
        banner(&lab.good, PROD_GOOD, 21).unwrap(),
        "220 production-ftp"
    );
    assert_eq!(
        open.ask("still here").unwrap(),
        "production-ftp: still here"
    );

    // Someone removes the table (`nft flush ruleset`, a firewall reload):
    // the agent loads it again.
    sh(&[
        "ip", "netns", "exec", &prod, "nft", "delete", "table", "inet", "kyoka",
    ]);
    wait_for("the table loaded again", || {
        banner(&lab.attacker, PROD_ATT, 21).as_deref() == Ok("220 sandbox-ftp")
    });

    // A lower version changes nothing.
    detector.publish(policy(1, &[]));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 sandbox-ftp"
    );
    wait_for("a signed heartbeat", || {
        detector.seen().iter().any(|s| {
            s.path == "/api/v1/agents/heartbeat"
                && s.signature_ok
                && String::from_utf8_lossy(&s.body).contains("\"policy_version\":2")
        })
    });

    stop(&mut lab, pid);
    assert!(
        !lab.nft_list().contains("kyoka"),
        "table left after SIGTERM"
    );
    assert_eq!(
        banner(&lab.attacker, PROD_ATT, 21).unwrap(),
        "220 production-ftp"
    );

    // Restart with the detector away: the saved policy is enforced at once.
    let away = write_config(dir.path(), "http://127.0.0.1:9", &key);
    let pid = lab.spawn(
        &prod,
        &[bin, "--mode", "unreal", "--config", away.to_str().unwrap()],
    );
    wait_for("the saved policy", || {
        banner(&lab.attacker, PROD_ATT, 21).as_deref() == Ok("220 sandbox-ftp")
    });
    assert_eq!(
        banner(&lab.good, PROD_GOOD, 21).unwrap(),
        "220 production-ftp"
    );

    // Killed without a chance to clean up: the table stays (and keeps
    // enforcing); the next start rebuilds it, one table, no stray rule.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let _ = lab.take_child(pid).unwrap().wait();
    assert!(lab.nft_list().contains("table inet kyoka"));
    let pid = lab.spawn(
        &prod,
        &[
            bin,
            "--mode",
            "firewall",
            "--config",
            away.to_str().unwrap(),
        ],
    );
    wait_for("the rebuilt table", || {
        banner(&lab.attacker, PROD_ATT, 21).is_err()
    });
    let rules = lab.nft_list();
    assert_eq!(rules.matches("table inet kyoka").count(), 1, "{rules}");
    assert!(
        !rules.contains("dnat"),
        "no redirect left from unreal mode:\n{rules}"
    );
    stop(&mut lab, pid);
    assert!(!lab.nft_list().contains("kyoka"));
}
