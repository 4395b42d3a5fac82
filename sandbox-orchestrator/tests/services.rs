//! A sandbox for an attacker address, then real clients against every
//! endpoint: lftp, ssh (commands show up in the command log), mysql,
//! redis-cli, rsync, pymongo and curl. The same attacker gets the same
//! sandbox; destroying it keeps what the attacker changed.

mod common;

use common::*;

#[test]
fn real_clients_get_real_answers_from_every_service() {
    let config = config("services");
    let _cleanup = Cleanup(config.clone());
    let rt = runtime();
    let o = rt.block_on(connect(config));
    // A documentation address: never contacted, only used as a label.
    let attacker: std::net::IpAddr = "198.51.100.23".parse().unwrap();
    let a = rt.block_on(o.assign(attacker)).unwrap();
    assert_eq!(a.attacker, "198.51.100.23");
    assert_eq!(a.endpoints.len(), 7, "{a:?}");
    let sb = rt.block_on(o.get(&a.sandbox)).unwrap();
    rt.block_on(wait_ready(&o, &sb));
    let ep = |s: &str| a.endpoints.iter().find(|e| e.service == s).unwrap().clone();
    // One server: every service on one address, one host name.
    assert!(a.endpoints.iter().all(|e| e.address == a.endpoints[0].address), "{a:?}");
    for service in ["ssh", "mysql"] {
        let name = text(&run("docker", &["exec", &sb.containers[service], "hostname"]));
        assert_eq!(name.trim(), "srv01", "{service}");
    }

    // FTP: log in with a weak pair, list, upload.
    let ftp = ep("ftp");
    let out = run("lftp", &["-u", "admin,admin", "-e", "set net:max-retries 1; ls; put /etc/hostname -o dropped.txt; bye", &ftp.address.to_string()]);
    assert!(text(&out).contains("notes.txt"), "lftp: {}", text(&out));

    // SSH: commands run and land in snoopy's log (the container's stdout).
    let ssh_ep = ep("ssh");
    let out = ssh(&ssh_ep.address.to_string(), "deploy", "deploy", "id; echo kyoka-marker-$((6*7)) > /tmp/loot.txt; cat /tmp/loot.txt");
    assert!(text(&out).contains("kyoka-marker-42"), "ssh: {}", text(&out));
    let bad = ssh(&ssh_ep.address.to_string(), "deploy", "wrong", "id");
    assert!(!bad.status.success(), "a wrong password got in");
    let mut logged = String::new();
    for _ in 0..50 {
        logged = docker_logs(&sb, "ssh");
        if logged.contains("kyoka-marker") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(logged.contains("snoopy") && logged.contains("echo kyoka-marker"), "command log: {logged}");

    // MySQL: the fake shop.
    let my = ep("mysql");
    let out = run("mysql", &["-h", &my.address.to_string(), "-u", "backup", "-pbackup123", "-N", "-e", "SELECT email FROM shop.customers ORDER BY id LIMIT 1"]);
    assert!(text(&out).contains("h.tanaka@example.jp"), "mysql: {}", text(&out));

    // Redis: any weak password, fake keys.
    let r = ep("redis");
    let out = run("redis-cli", &["-h", &r.address.to_string(), "--no-auth-warning", "-a", "test", "GET", "config:api_token"]);
    assert!(text(&out).contains("sk_live_FAKE"), "redis: {}", text(&out));
    let out = run("redis-cli", &["-h", &r.address.to_string(), "GET", "config:api_token"]);
    assert!(text(&out).contains("NOAUTH"), "redis without a password: {}", text(&out));

    // rsync: module list, then the protected module with a weak pair.
    let rs = ep("rsync");
    let out = run("rsync", &[&format!("rsync://{}/", rs.address)]);
    assert!(text(&out).contains("backup") && text(&out).contains("www"), "rsync list: {}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "backup123\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run("rsync", &["-r", &format!("--password-file={}", pw.display()), &format!("rsync://backup@{}/backup/", rs.address), dir.path().join("got").to_str().unwrap()]);
    assert!(out.status.success(), "rsync fetch: {}", text(&out));
    assert!(dir.path().join("got/db/shop-2026-11-24.sql").exists());

    // MongoDB decoy through pymongo.
    let m = ep("mongo");
    let script = format!(
        "import pymongo; c = pymongo.MongoClient('{}', {}, username='admin', password='admin', serverSelectionTimeoutMS=10000); print(sorted(c.list_database_names())); print(c.shop.customers.find_one({{'city': 'Tokyo'}})['email'])",
        m.address, m.port
    );
    let out = run("python3", &["-c", &script]);
    assert!(text(&out).contains("h.tanaka@example.jp") && text(&out).contains("'shop'"), "pymongo: {}", text(&out));

    // The web site, with the request in the access log.
    let h = ep("http");
    let out = run("curl", &["-s", "-A", "kyoka-test-agent", &format!("http://{}/robots.txt", h.address)]);
    assert!(text(&out).contains("Disallow: /admin/"), "curl: {}", text(&out));
    assert!(docker_logs(&sb, "http").contains("kyoka-test-agent"));

    // Same attacker, same sandbox.
    let again = rt.block_on(o.assign(attacker)).unwrap();
    assert_eq!((again.sandbox.as_str(), again.how.as_str()), (a.sandbox.as_str(), "existing"));

    // Destroy: the files the attacker left are evidence.
    let evidence = rt.block_on(o.destroy(&a.sandbox)).unwrap().expect("an attacker's sandbox keeps evidence");
    let changes = std::fs::read_to_string(evidence.join("ssh/changes.json")).unwrap();
    assert!(changes.contains("/tmp/loot.txt"), "{changes}");
    let ftp_changes = std::fs::read_to_string(evidence.join("ftp/changes.json")).unwrap();
    assert!(ftp_changes.contains("dropped.txt"), "{ftp_changes}");
    assert!(std::fs::read_dir(evidence.join("ssh")).unwrap().any(|e| e.unwrap().path().extension().is_some_and(|x| x == "tar")));
    assert!(rt.block_on(o.sandboxes()).unwrap().is_empty(), "destroy left something behind");
}
