//! Warm pool (paused, own host keys), same attacker same sandbox, overflow
//! into the shared sandbox, idle → frozen → destroyed with evidence, and
//! re-adoption after a restart without leaks or duplicates.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use sandbox_orchestrator::{Orchestrator, State};

fn host_keys(sb: &sandbox_orchestrator::SandboxInfo) -> String {
    let addr = sb.address_of("ssh").unwrap().ip().to_string();
    text(&run("ssh-keyscan", &["-T", "10", "-t", "ed25519,ecdsa,rsa", &addr]))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn pool_overflow_and_host_keys() {
    let mut config = config("pool");
    config.pool_size = 2;
    config.max_sandboxes = 2;
    let _cleanup = Cleanup(config.clone());
    let rt = runtime();
    let o = rt.block_on(connect(config));
    assert_eq!(rt.block_on(o.fill_pool()).unwrap(), 2);
    let pooled = rt.block_on(o.sandboxes()).unwrap();
    assert!(pooled.iter().all(|s| s.state == State::Pooled && s.attacker.is_none()), "{pooled:?}");
    // Topped up already: nothing more to make.
    assert_eq!(rt.block_on(o.fill_pool()).unwrap(), 0);

    let x: IpAddr = "198.51.100.41".parse().unwrap();
    let y: IpAddr = "198.51.100.42".parse().unwrap();
    let ax = rt.block_on(o.assign(x)).unwrap();
    let ay = rt.block_on(o.assign(y)).unwrap();
    assert_eq!((ax.how.as_str(), ay.how.as_str()), ("warm", "warm"));
    assert!(pooled.iter().any(|s| s.id == ax.sandbox) && pooled.iter().any(|s| s.id == ay.sandbox));
    assert_eq!(rt.block_on(o.assign(x)).unwrap().sandbox, ax.sandbox);
    let sx = rt.block_on(o.get(&ax.sandbox)).unwrap();
    let sy = rt.block_on(o.get(&ay.sandbox)).unwrap();
    assert_eq!((sx.state, sx.attacker.as_deref()), (State::Active, Some("198.51.100.41")));
    rt.block_on(wait_ready(&o, &sx));
    rt.block_on(wait_ready(&o, &sy));

    // Every pre-created sandbox made its own host keys.
    let (kx, ky) = (host_keys(&sx), host_keys(&sy));
    assert_eq!(kx.lines().count(), 3, "{kx}");
    assert!(kx.lines().all(|k| !ky.contains(k)), "two sandboxes share a host key:\n{kx}\n{ky}");

    // Past max_sandboxes, attackers share one sandbox.
    let z1 = rt.block_on(o.assign("198.51.100.43".parse().unwrap())).unwrap();
    let z2 = rt.block_on(o.assign("198.51.100.44".parse().unwrap())).unwrap();
    assert_eq!((z1.how.as_str(), z2.how.as_str()), ("shared", "shared"));
    assert_eq!(z1.sandbox, z2.sandbox);
    assert_ne!(z1.sandbox, ax.sandbox);
    let all = rt.block_on(o.sandboxes()).unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().any(|s| s.id == z1.sandbox && s.is_shared()));
}

#[test]
fn idle_sandboxes_freeze_then_go_with_evidence() {
    let mut config = config("reap");
    config.idle_freeze_after_secs = 2;
    config.idle_destroy_after_secs = 5;
    let _cleanup = Cleanup(config.clone());
    let rt = runtime();
    let o = rt.block_on(connect(config.clone()));
    let a = rt.block_on(o.assign("198.51.100.51".parse().unwrap())).unwrap();
    assert_eq!(a.how, "cold");
    let sb = rt.block_on(o.get(&a.sandbox)).unwrap();
    rt.block_on(wait_ready(&o, &sb));
    let out = ssh(&sb.address_of("ssh").unwrap().ip().to_string(), "admin", "admin", "touch /tmp/was-here");
    assert!(out.status.success(), "{}", text(&out));

    let mut activity = sandbox_orchestrator::activity::Activity::default();
    let mut frozen = false;
    let mut evidence = None;
    for _ in 0..60 {
        let r = rt.block_on(activity.reap(&o)).unwrap();
        if r.frozen.contains(&a.sandbox) {
            frozen = true;
            assert_eq!(rt.block_on(o.get(&a.sandbox)).unwrap().state, State::Frozen);
        }
        if let Some((_, _, e)) = r.destroyed.into_iter().find(|(id, _, _)| *id == a.sandbox) {
            evidence = e;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(frozen, "never frozen");
    let evidence = evidence.expect("never destroyed, or no evidence");
    assert!(std::fs::read_to_string(evidence.join("ssh/changes.json")).unwrap().contains("/tmp/was-here"));
    assert!(rt.block_on(o.sandboxes()).unwrap().is_empty());
}

#[test]
fn a_restarted_orchestrator_adopts_without_leaks_or_duplicates() {
    let config = config("adopt");
    let _cleanup = Cleanup(config.clone());
    let rt = runtime();
    let attacker: IpAddr = "198.51.100.61".parse().unwrap();
    let first = rt.block_on(async {
        let o = connect(config.clone()).await;
        let a = o.assign(attacker).await.unwrap();
        // A half-made sandbox, as a crash in the middle of a create leaves it.
        let broken = o.create(None).await.unwrap();
        o.docker.remove_container(&broken.containers["redis"], Some(bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() })).await.unwrap();
        // And one whose network namespace holder is gone (its daemons lost their address).
        let homeless = o.create(None).await.unwrap();
        o.docker.remove_container(homeless.netns.as_deref().unwrap(), Some(bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() })).await.unwrap();
        (a, broken.id, homeless.id)
    });
    // "Restart": a new orchestrator with nothing but Docker's labels.
    rt.block_on(async {
        let o: Orchestrator = connect(config.clone()).await;
        let kept = o.adopt().await.unwrap();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].id, first.0.sandbox);
        assert!(o.sandboxes().await.unwrap().iter().all(|s| s.id != first.1 && s.id != first.2), "a broken sandbox leaked");
        let left = text(&run("docker", &["ps", "-aq", "--filter", &format!("label=kyoka.sandbox={}", first.2)]));
        assert!(left.trim().is_empty(), "the containers of the sandbox without its netns leaked: {left}");
        let nets = text(&run("docker", &["network", "ls", "-q", "--filter", &format!("label=kyoka.sandbox={}", first.1)]));
        assert!(nets.trim().is_empty(), "its network leaked");
        let again = o.assign(attacker).await.unwrap();
        assert_eq!((again.sandbox.as_str(), again.how.as_str()), (first.0.sandbox.as_str(), "existing"));
        assert_eq!(o.sandboxes().await.unwrap().len(), 1, "duplicated");
    });
}
