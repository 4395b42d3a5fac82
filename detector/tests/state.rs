//! Detections in a real Redis: thresholds, whitelist, the policy, the
//! detections stream, expiry, and two detector instances sharing one Redis.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;

use common::{rfc5424, until, Redis};
use detector::{Config, Detector};
use model::policy::{Mode, Whitelist};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn send(d: &Detector, lines: &[String]) {
    let mut s = TcpStream::connect(d.syslog_tcp.unwrap()).await.unwrap();
    let mut wire = String::new();
    for l in lines {
        wire.push_str(l);
        wire.push('\n');
    }
    s.write_all(wire.as_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
}

async fn settle(d: &Detector, total: u64) {
    until(20, "lines processed", async || {
        d.stats.snapshot().processed >= total
    })
    .await;
}

fn ssh_fail(ip: &str) -> String {
    rfc5424(
        "sshd",
        &format!("Failed password for root from {ip} port 4242 ssh2"),
    )
}

async fn attackers(d: &Detector) -> BTreeSet<(IpAddr, String)> {
    d.store
        .policy()
        .await
        .unwrap()
        .attackers
        .into_iter()
        .map(|a| (a.address, a.reason))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_flags_once_with_reason_and_expiry_and_whitelist_is_never_flagged() {
    let redis = Redis::start();
    let mut config = Config::new(&redis.url);
    config.whitelist = Whitelist {
        addresses: vec!["198.51.100.0/24".into()],
        ports: vec![22],
    };
    let d = Detector::start(config).await.unwrap();
    let v0 = d.store.version().await.unwrap();
    assert!(v0 >= 1, "settings publish a version");

    let mut lines: Vec<String> = (0..4).map(|_| ssh_fail("203.0.113.10")).collect();
    lines.extend((0..10).map(|_| ssh_fail("198.51.100.7")));
    send(&d, &lines).await;
    settle(&d, 14).await;
    assert!(
        attackers(&d).await.is_empty(),
        "4 failures are below the threshold of 5"
    );

    send(&d, &[ssh_fail("203.0.113.10"), ssh_fail("203.0.113.10")]).await;
    settle(&d, 16).await;
    let policy = d.store.policy().await.unwrap();
    assert_eq!(policy.version, v0 + 1, "one flag, one version: {policy:?}");
    assert_eq!(policy.mode, Mode::Unreal);
    assert_eq!(policy.whitelist.ports, [22]);
    let a = &policy.attackers[..];
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].address.to_string().as_str(), a[0].reason.as_str()),
        ("203.0.113.10", "ssh.brute_force")
    );
    assert_eq!(a[0].expires - a[0].since, 3600);

    let detections = d.store.detections(10).await.unwrap();
    assert_eq!(detections.len(), 1);
    assert_eq!(detections[0].rule, "ssh.brute_force");
    assert_eq!(detections[0].version, v0 + 1);
    assert_eq!(
        detections[0].observation.as_ref().unwrap().user.as_deref(),
        Some("root")
    );

    // A dangerous statement flags at once; the sandbox written by the orchestrator joins the policy.
    let mysql = [
        rfc5424(
            "mysqld",
            "\t\t    7 Connect\tapp@203.0.113.11 on  using TCP/IP",
        ),
        rfc5424("mysqld", "\t\t    7 Query\tSELECT LOAD_FILE('/etc/shadow')"),
    ];
    send(&d, &mysql).await;
    settle(&d, 18).await;
    let mut conn = d.store.connection();
    let sandbox =
        r#"{"id":"sb-9","endpoints":[{"service":"mysql","address":"172.30.0.9","port":3306}]}"#;
    let _: () = redis::cmd("SET")
        .arg(model::state::sandbox_of("203.0.113.11".parse().unwrap()))
        .arg(sandbox)
        .query_async(&mut conn)
        .await
        .unwrap();
    let policy = d.store.policy().await.unwrap();
    let flagged = policy
        .attackers
        .iter()
        .find(|a| a.address.to_string() == "203.0.113.11")
        .unwrap();
    assert_eq!(flagged.reason, "mysql.dangerous_sql");
    assert_eq!(flagged.sandbox.as_ref().unwrap().id, "sb-9");

    // Expiry: an attacker whose time is up leaves the policy with a new version.
    let _: () = redis::cmd("ZADD")
        .arg(model::state::ATTACKERS)
        .arg(1)
        .arg("203.0.113.10")
        .query_async(&mut conn)
        .await
        .unwrap();
    let before = d.store.version().await.unwrap();
    until(5, "sweeper", async || {
        d.store.version().await.unwrap() > before
    })
    .await;
    assert_eq!(
        attackers(&d)
            .await
            .into_iter()
            .map(|a| a.0.to_string())
            .collect::<Vec<_>>(),
        ["203.0.113.11"]
    );
}

/// Many sources, some below and some above the threshold, with lines split
/// between two detectors as a load balancer would.
fn workload() -> Vec<String> {
    let mut lines = Vec::new();
    for round in 0..6 {
        for i in 0..60u32 {
            let ip = format!("203.0.113.{i}");
            // Sources 0..20 fail 6 times (flagged), 20..40 four times (not), 40..60 ftp 6 times (flagged).
            match i {
                0..20 => lines.push(ssh_fail(&ip)),
                20..40 if round < 4 => lines.push(ssh_fail(&ip)),
                40..60 => lines.push(rfc5424(
                    "vsftpd",
                    &format!(r#"[pid 1] [u] FAIL LOGIN: Client "{ip}""#),
                )),
                _ => {}
            }
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_detectors_on_one_redis_give_the_attacker_list_one_gives() {
    let lines = workload();

    let one_redis = Redis::start();
    let one = Detector::start(Config::new(&one_redis.url)).await.unwrap();
    send(&one, &lines).await;
    settle(&one, lines.len() as u64).await;
    let expected = attackers(&one).await;
    assert_eq!(expected.len(), 40, "{expected:?}");
    let one_version = one.store.version().await.unwrap();

    let two_redis = Redis::start();
    let a = Detector::start(Config::new(&two_redis.url)).await.unwrap();
    let b = Detector::start(Config::new(&two_redis.url)).await.unwrap();
    let (even, odd): (Vec<_>, Vec<_>) = lines
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let even: Vec<String> = even.into_iter().map(|x| x.1).collect();
    let odd: Vec<String> = odd.into_iter().map(|x| x.1).collect();
    tokio::join!(send(&a, &even), send(&b, &odd));
    settle(&a, even.len() as u64).await;
    settle(&b, odd.len() as u64).await;
    assert_eq!(attackers(&a).await, expected);
    assert_eq!(attackers(&b).await, expected);
    // Same number of versions: each attacker flagged exactly once (the second
    // detector's settings are the same, so they add no version).
    assert_eq!(a.store.version().await.unwrap(), one_version);
    assert_eq!(a.store.detections(1000).await.unwrap().len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_published_at_start_and_hand_flags_take_the_policy_path() {
    let redis = Redis::start();
    let d = Detector::start(Config::new(&redis.url)).await.unwrap();
    let rules = d.store.rules().await.unwrap().expect("published at start");
    let builtin = detector::rules::Rules::builtin();
    assert_eq!(
        rules.iter().map(|r| &r.name).collect::<Vec<_>>(),
        builtin.all().iter().map(|r| &r.name).collect::<Vec<_>>()
    );
    assert_eq!(
        d.store.settings().await.unwrap().unwrap().mode,
        Mode::Unreal
    );
    let v0 = d.store.version().await.unwrap();
    let a: IpAddr = "203.0.113.77".parse().unwrap();
    assert_eq!(d.store.flag(a, 600, "admin").await.unwrap(), v0 + 1);
    assert!(attackers(&d)
        .await
        .contains(&(a, detector::state::MANUAL.to_string())));
    // The running detector's policy watcher sees it (what agents are served).
    let mut rx = d.policy.clone();
    until(10, "the watcher's snapshot", async || {
        rx.borrow_and_update()
            .policy
            .attackers
            .iter()
            .any(|x| x.address == a)
    })
    .await;
    let last = d.store.detections(1).await.unwrap();
    assert_eq!(
        (last[0].rule.as_str(), last[0].by.as_deref()),
        ("manual", Some("admin"))
    );
    assert_eq!(d.store.unflag(a).await.unwrap(), v0 + 2);
    assert!(attackers(&d).await.is_empty());
    assert_eq!(
        d.store.unflag(a).await.unwrap(),
        0,
        "not flagged: no new version"
    );
    assert_eq!(d.store.version().await.unwrap(), v0 + 2);
}

/// A batch is counted as if its hits came one by one: same counters, same
/// attackers with the same reasons, same detections in the same order. Two
/// rules on overlapping observations make the order inside a batch matter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_counts_exactly_like_its_hits_one_by_one() {
    use detector::observation::{Kind, Observation, Service};
    use detector::rules::Rules;
    use detector::state::{counter, Hit, Store};

    let rules = Rules::from_toml(
        r#"
        [[rule]]
        name = "ssh.failures"
        service = "ssh"
        kinds = ["login_failed", "invalid_user"]
        threshold = 4
        window_seconds = 600
        flag_seconds = 3600
        [[rule]]
        name = "ssh.invalid_users"
        service = "ssh"
        kinds = ["invalid_user"]
        threshold = 2
        window_seconds = 600
        flag_seconds = 3600
        "#,
    )
    .unwrap();
    let mut seed = 7u64;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let observations: Vec<Observation> = (0..400)
        .map(|i| {
            let source: IpAddr = format!("198.51.100.{}", next(12)).parse().unwrap();
            let kind = if next(5) == 0 {
                Kind::InvalidUser
            } else {
                Kind::LoginFailed
            };
            Observation::new(Service::Ssh, kind, source).user(format!("u{i}"))
        })
        .collect();
    let hits: Vec<Hit> = observations
        .iter()
        .flat_map(|o| {
            rules.matching(o, Mode::Unreal).map(move |rule| Hit {
                rule,
                observation: o,
            })
        })
        .collect();

    let (one_redis, batch_redis) = (Redis::start(), Redis::start());
    let one = Store::connect(&one_redis.url).await.unwrap();
    let batched = Store::connect(&batch_redis.url).await.unwrap();
    for hit in &hits {
        one.record(std::slice::from_ref(hit)).await.unwrap();
    }
    let mut rest = &hits[..];
    while !rest.is_empty() {
        let take = (next(90) as usize + 1).min(rest.len());
        batched.record(&rest[..take]).await.unwrap();
        rest = &rest[take..];
    }

    let seen = |store: Store| async move {
        let policy = store.policy().await.unwrap();
        let attackers: BTreeSet<(IpAddr, String)> = policy
            .attackers
            .into_iter()
            .map(|a| (a.address, a.reason))
            .collect();
        let detections: Vec<_> = store
            .detections(1000)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.address, d.rule, d.version, d.observation))
            .collect();
        let mut conn = store.connection();
        let mut counters = Vec::new();
        for i in 0..12 {
            let source: IpAddr = format!("198.51.100.{i}").parse().unwrap();
            for rule in ["ssh.failures", "ssh.invalid_users"] {
                let key = counter(rule, source);
                let value: Option<u64> = redis::AsyncCommands::get(&mut conn, &key).await.unwrap();
                let ttl: i64 = redis::AsyncCommands::ttl(&mut conn, &key).await.unwrap();
                counters.push((key, value, ttl > 0 || value.is_none()));
            }
        }
        (policy.version, attackers, detections, counters)
    };
    let expected = seen(one).await;
    assert!(
        expected.1.len() >= 8,
        "the workload flags most sources: {:?}",
        expected.1
    );
    assert_eq!(seen(batched).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_page_reads_only_what_it_shows_and_counts_the_rest() {
    let redis = Redis::start();
    let store = detector::state::Store::connect(&redis.url).await.unwrap();
    for i in 1..=5u8 {
        store.flag(IpAddr::from([192, 0, 2, i]), 600 * u64::from(i), "test").await.unwrap();
    }
    let (page, total) = store.policy_page(2).await.unwrap();
    assert_eq!(total, 5);
    let shown: BTreeSet<IpAddr> = page.attackers.iter().map(|a| a.address).collect();
    assert_eq!(shown, [[192, 0, 2, 4], [192, 0, 2, 5]].map(IpAddr::from).into_iter().collect(), "those flagged longest");
    let everything = store.policy().await.unwrap();
    assert_eq!(everything.attackers.len(), 5);
    assert_eq!((page.version, page.mode), (everything.version, everything.mode));
    let (none, total) = store.policy_page(0).await.unwrap();
    assert!(none.attackers.is_empty() && total == 5);
}
