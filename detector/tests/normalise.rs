//! Each normaliser over the lines its real daemon wrote (testdata/README.md).

use std::net::IpAddr;

use detector::{Kind, Normaliser, Observation, Service};

const LOCAL: &str = "127.0.0.1";

fn run(app: &str, file: &str) -> Vec<Observation> {
    let path = format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = String::from_utf8_lossy(&bytes);
    let mut n = Normaliser::new();
    let origin: IpAddr = "192.0.2.1".parse().unwrap();
    // Lines as a shipper sends them: one per line, CR LF as written.
    text.split_inclusive('\n')
        .filter_map(|l| n.line(origin, Some(app), l))
        .collect()
}

fn count(obs: &[Observation], kind: Kind) -> usize {
    obs.iter().filter(|o| o.kind == kind).count()
}

fn find<'a>(obs: &'a [Observation], kind: Kind, user: &str) -> &'a Observation {
    obs.iter()
        .find(|o| o.kind == kind && o.user.as_deref() == Some(user))
        .unwrap_or_else(|| panic!("no {kind:?} for {user}: {obs:#?}"))
}

#[test]
fn sshd_failed_accepted_and_invalid_users() {
    let obs = run("sshd", "sshd/sshd-E.log");
    assert!(obs
        .iter()
        .all(|o| o.service == Service::Ssh && o.source.to_string() == LOCAL));
    assert_eq!(
        find(&obs, Kind::LoginFailed, "root").detail.as_deref(),
        Some("password")
    );
    assert_eq!(
        find(&obs, Kind::LoginFailed, "nosuchuser")
            .detail
            .as_deref(),
        Some("password")
    );
    find(&obs, Kind::InvalidUser, "nosuchuser");
    assert_eq!(
        find(&obs, Kind::LoginSucceeded, "kyokatd")
            .detail
            .as_deref(),
        Some("password")
    );
    assert_eq!(
        find(&obs, Kind::LoginSucceeded, "root").detail.as_deref(),
        Some("publickey")
    );
    // askpass root + nosuchuser, and hydra's attempt(s) for root.
    assert!(count(&obs, Kind::LoginFailed) >= 3, "{obs:#?}");
}

#[test]
fn sshd_user_names_with_spaces_and_v6_sources() {
    let mut n = Normaliser::new();
    let o = n
        .line(
            "192.0.2.1".parse().unwrap(),
            Some("sshd"),
            "Failed password for invalid user a from b from 2001:db8::1 port 22 ssh2",
        )
        .unwrap();
    assert_eq!(o.user.as_deref(), Some("a from b"));
    assert_eq!(o.source.to_string(), "2001:db8::1");
}

#[test]
fn vsftpd_log_and_xferlog() {
    let obs = run("vsftpd", "vsftpd/vsftpd.log");
    assert!(obs
        .iter()
        .all(|o| o.service == Service::Ftp && o.source.to_string() == LOCAL));
    find(&obs, Kind::LoginFailed, "root");
    find(&obs, Kind::LoginFailed, "admin");
    find(&obs, Kind::LoginSucceeded, "ftp");
    find(&obs, Kind::LoginSucceeded, "kyokatd");
    assert_eq!(
        find(&obs, Kind::Upload, "ftp").detail.as_deref(),
        Some("/incoming/up.txt")
    );
    assert_eq!(
        find(&obs, Kind::Download, "ftp").detail.as_deref(),
        Some("/readme.txt")
    );
    assert!(count(&obs, Kind::Connect) >= 4);
    assert!(count(&obs, Kind::LoginFailed) >= 3, "{obs:#?}");

    let xfer = run("vsftpd", "vsftpd/xferlog");
    assert_eq!(xfer.len(), 2, "{xfer:#?}");
    assert_eq!(
        (xfer[0].kind, xfer[0].detail.as_deref()),
        (Kind::Download, Some("/readme.txt"))
    );
    assert_eq!(
        (xfer[1].kind, xfer[1].detail.as_deref()),
        (Kind::Upload, Some("/incoming/up.txt"))
    );
    assert_eq!(xfer[1].user.as_deref(), Some("x@y"));
}

#[test]
fn rsyncd_connects_listings_transfers_and_auth_failures() {
    let obs = run("rsyncd", "rsyncd/rsyncd.log");
    assert!(obs
        .iter()
        .all(|o| o.service == Service::Rsync && o.source.to_string() == LOCAL));
    assert_eq!(count(&obs, Kind::ModuleList), 1);
    assert_eq!(count(&obs, Kind::Connect), 6);
    let unauth: Vec<_> = obs
        .iter()
        .filter(|o| matches!(o.kind, Kind::Download | Kind::Upload) && o.user.is_none())
        .collect();
    assert_eq!(unauth.len(), 2, "{obs:#?}");
    assert_eq!(unauth[0].detail.as_deref(), Some("pub/file.txt"));
    assert_eq!(unauth[1].kind, Kind::Upload);
    assert_eq!(
        find(&obs, Kind::Download, "bob").detail.as_deref(),
        Some("secret/s.txt")
    );
    assert_eq!(
        find(&obs, Kind::LoginFailed, "bob").detail.as_deref(),
        Some("secret")
    );
}

#[test]
fn mariadb_general_and_error_logs() {
    let obs = run("mariadbd", "mariadb/general.log");
    assert!(obs
        .iter()
        .all(|o| o.service == Service::Mysql && o.source.to_string() == LOCAL));
    find(&obs, Kind::LoginFailed, "root");
    find(&obs, Kind::LoginFailed, "nobody");
    let queries: Vec<&str> = obs
        .iter()
        .filter(|o| o.kind == Kind::Query)
        .filter_map(|o| o.detail.as_deref())
        .collect();
    assert!(
        queries.contains(&"select user, password from mysql.user"),
        "{queries:?}"
    );
    assert!(queries
        .iter()
        .any(|q| q.contains("load_file('/etc/passwd')")));
    assert!(queries.iter().any(|q| q.contains("into outfile")));
    assert!(queries
        .iter()
        .any(|q| q.contains("soname 'lib_mysqludf_sys.so'")));
    assert!(obs
        .iter()
        .filter(|o| o.kind == Kind::Query)
        .all(|o| o.user.as_deref() == Some("app")));

    let errors = run("mariadbd", "mariadb/error.log");
    assert!(
        errors.len() >= 3 && errors.iter().all(|o| o.kind == Kind::LoginFailed),
        "{errors:#?}"
    );
}

#[test]
fn mariadb_statements_over_several_lines_keep_their_client() {
    let mut n = Normaliser::new();
    let origin = "192.0.2.1".parse().unwrap();
    let lines = [
        "\t\t    12 Connect\tapp@203.0.113.4 on shop using TCP/IP",
        "\t\t    12 Query\tselect 1",
        "into outfile '/tmp/x'",
    ];
    let obs: Vec<_> = lines
        .iter()
        .filter_map(|l| n.line(origin, Some("mysqld"), l))
        .collect();
    assert_eq!(obs.len(), 3);
    assert_eq!(obs[2].detail.as_deref(), Some("into outfile '/tmp/x'"));
    assert_eq!(obs[2].source.to_string(), "203.0.113.4");
    // Another sender's connection 12 is not this one.
    assert_eq!(
        n.line(
            "192.0.2.2".parse().unwrap(),
            Some("mysqld"),
            "\t\t    12 Query\tselect 2"
        ),
        None
    );
}

#[test]
fn redis_monitor_lines() {
    let obs = run("redis-server", "redis/monitor.log");
    assert!(obs
        .iter()
        .all(|o| o.service == Service::Redis && o.source.to_string() == LOCAL));
    assert!(count(&obs, Kind::Auth) >= 10, "{obs:#?}");
    let commands: Vec<&str> = obs
        .iter()
        .filter(|o| o.kind == Kind::Command)
        .filter_map(|o| o.detail.as_deref())
        .collect();
    for want in [
        "set k v",
        "get k",
        "flushall",
        "eval return redis.call('get', KEYS[1]) 1 k",
        "set bin\u{fffd}\u{1}key a b\"c",
    ] {
        assert!(commands.contains(&want), "{want:?} not in {commands:?}");
    }
    // `[0 lua]` has no client.
    assert_eq!(commands.iter().filter(|c| **c == "get k").count(), 1);

    let admin = run("redis", "redis/monitor-admin.log");
    let details: Vec<(String, &str)> = admin
        .iter()
        .map(|o| (o.source.to_string(), o.detail.as_deref().unwrap()))
        .collect();
    assert_eq!(
        details,
        [
            (
                "203.0.113.50".to_string(),
                "config SET dir /var/spool/cron/crontabs"
            ),
            ("203.0.113.50".to_string(), "config set dbfilename root"),
            ("203.0.113.50".to_string(), "slaveof 203.0.113.50 21000"),
            ("203.0.113.50".to_string(), "module LOAD /tmp/exp.so"),
            ("2001:db8::50".to_string(), "replicaof no one"),
        ]
    );
}

#[test]
fn mongo_json_log() {
    let obs = run("mongod", "mongo/mongod.log");
    assert_eq!(obs.len(), 5, "{obs:#?}");
    assert_eq!(obs[0].kind, Kind::Connect);
    assert_eq!(
        find(&obs, Kind::LoginFailed, "admin").source.to_string(),
        "198.51.100.23"
    );
    find(&obs, Kind::LoginFailed, "root");
    assert_eq!(
        find(&obs, Kind::LoginSucceeded, "app").source.to_string(),
        "2001:db8::7"
    );
    assert_eq!(obs[4].detail.as_deref(), Some("find shop.users"));
}

#[test]
fn unknown_apps_are_sniffed_and_hostile_lines_give_nothing() {
    let mut n = Normaliser::new();
    let origin = "192.0.2.1".parse().unwrap();
    let o = n
        .line(
            origin,
            Some("whatever"),
            "Failed password for root from 203.0.113.1 port 1 ssh2",
        )
        .unwrap();
    assert_eq!(o.service, Service::Ssh);
    let hostile = [
        "",
        "\u{fffd}\u{fffd}",
        "Failed password for root from not-an-ip port 1 ssh2",
        "1.5 [0 ",
        "1.5 [0 1.2.3.4:5] \"unterminated",
        "1.5 [0 1.2.3.4:5] \"\\x\"",
        "{\"attr\":{\"remote\":5}}",
        "{",
        "\t\t 99999999999999999999999 Query\tx",
        "Wed Nov 25 21:21:34 2026 1 127.0.0.1 6 /f b _ o a u ftp 0 * c extra",
    ];
    for app in [
        "sshd", "vsftpd", "rsyncd", "mysqld", "redis", "mongod", "unknown",
    ] {
        for line in hostile {
            let _ = n.line(origin, Some(app), line);
        }
        let long = "A".repeat(100_000);
        assert_eq!(n.line(origin, Some(app), &long), None);
    }
}
