//! The decoy against the real MongoDB driver (pymongo, installed by
//! scripts/deps.sh): handshake, both SCRAM mechanisms, listing, CRUD,
//! cursors and a refused password.

use std::net::TcpListener;
use std::process::Command;

const SCRIPT: &str = r#"
import sys, pymongo
from pymongo.errors import OperationFailure
port = int(sys.argv[1])
def client(user, password, mech):
    return pymongo.MongoClient("127.0.0.1", port, username=user, password=password,
        authMechanism=mech, serverSelectionTimeoutMS=5000, directConnection=True)
for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
    c = client("admin", "admin", mech)
    assert c.admin.command("ping")["ok"] == 1.0
    c.close()
c = client("backup", "backup123", "SCRAM-SHA-256")
info = c.server_info()
assert info["version"] == "6.0.14", info
names = c.list_database_names()
assert "shop" in names and "admin" in names, names
shop = c.shop
assert "customers" in shop.list_collection_names()
assert len(list(shop.customers.find({"city": "Osaka"}))) == 1
events = list(c.analytics.events.find().batch_size(7))
assert len(events) == 30, len(events)
cur = c.analytics.events.find().batch_size(5)
next(cur); cur.close()
shop.loot.insert_one({"x": 1, "note": "pwned"})
shop.loot.insert_many([{"x": 2}, {"x": 3}])
assert shop.loot.update_one({"x": 1}, {"$set": {"y": 9}}).modified_count == 1
assert shop.loot.find_one({"x": 1})["y"] == 9
assert shop.loot.delete_one({"x": 2}).deleted_count == 1
assert shop.loot.count_documents({}) == 2
shop.loot.drop()
assert "loot" not in shop.list_collection_names()
c.close()
bad = client("admin", "wrong", "SCRAM-SHA-256")
try:
    bad.admin.command("ping")
    raise SystemExit("wrong password accepted")
except OperationFailure as e:
    assert e.code == 18, e
print("PYMONGO-OK")
"#;

#[test]
fn pymongo_talks_to_the_decoy() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let users = mongo_decoy::Config::parse_users(include_str!("../../credentials.txt"));
    let config = mongo_decoy::Config { version: "6.0.14".into(), hostname: "db01".into(), users };
    std::thread::spawn(move || mongo_decoy::serve(listener, config));
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &port.to_string()])
        .output()
        .expect("python3 is missing (scripts/deps.sh installs it with pymongo)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("No module named 'pymongo'"), "pymongo is missing: run scripts/deps.sh");
    assert!(out.status.success(), "pymongo script failed:\n{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("PYMONGO-OK"));
}

/// Garbage, truncated and oversized messages end that connection only.
#[test]
fn hostile_bytes_close_the_connection_without_a_panic() {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = mongo_decoy::Config { version: "6.0.14".into(), hostname: "db01".into(), users: vec![] };
    std::thread::spawn(move || mongo_decoy::serve(listener, config));
    let cases: Vec<Vec<u8>> = vec![
        vec![0xff; 64],
        [&40i32.to_le_bytes()[..], &[0u8; 8], &2013i32.to_le_bytes(), &[0, 0, 0, 0, 0, 200, 0, 0, 0]].concat(),
        [&i32::MAX.to_le_bytes()[..], &[0u8; 12]].concat(),
        [&26i32.to_le_bytes()[..], &[0u8; 8], &2004i32.to_le_bytes(), &[0, 0, 0, 0, b'a', b'.']].concat(),
    ];
    for bytes in cases {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&bytes);
        let mut buf = [0u8; 64];
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "the decoy should close on {bytes:?}");
    }
    // Still serving.
    std::net::TcpStream::connect(addr).unwrap();
}
