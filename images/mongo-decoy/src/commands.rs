//! One client's session: command dispatch, cursors and the SASL state. Each
//! answer has the shape a MongoDB 6.0 server gives, close enough for
//! pymongo, mongosh and scanners.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use bson::{doc, spec::BinarySubtype, Binary, Bson, DateTime, Document};

use crate::scram::{Conversation, Mechanism};
use crate::store::Store;
use crate::Config;

/// What a command did, for the log.
#[derive(Debug, Default)]
pub struct Outcome {
    pub reply: Document,
    /// An authentication attempt ended: (user, mechanism, success).
    pub auth: Option<(String, String, bool)>,
}

pub struct Session<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub connection_id: i64,
    pub user: Option<String>,
    cursors: HashMap<i64, (String, Vec<Document>)>,
    next_cursor: i64,
    conversation: Option<Conversation>,
}

/// The server's topology identity: one per process, as on a real mongod.
/// A fresh one per reply tells a driver's monitor that the topology changed,
/// and it asks again at once, in a loop.
fn process_id() -> bson::oid::ObjectId {
    static ID: OnceLock<bson::oid::ObjectId> = OnceLock::new();
    *ID.get_or_init(bson::oid::ObjectId::new)
}

/// The longest an awaitable hello is held, whatever the client asks.
const MAX_AWAIT: Duration = Duration::from_secs(10);

/// How long to hold an awaitable hello (streaming monitoring): a client that
/// already knows the current topology waits `maxAwaitTimeMS` for a change,
/// and this decoy's topology never changes.
fn await_time(cmd: &Document) -> Option<Duration> {
    let known = cmd.get_document("topologyVersion").ok()?;
    if known.get_object_id("processId").ok()? != process_id() {
        return None;
    }
    let ms = int(cmd.get("maxAwaitTimeMS"))?;
    Some(Duration::from_millis(ms.max(0) as u64).min(MAX_AWAIT))
}

fn error(code: i32, name: &str, msg: impl Into<String>) -> Document {
    doc! { "ok": 0.0, "errmsg": msg.into(), "code": code, "codeName": name }
}

fn int(v: Option<&Bson>) -> Option<i64> {
    match v? {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(f) if f.is_finite() => Some(*f as i64),
        Bson::Boolean(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes })
}

fn payload(cmd: &Document) -> Vec<u8> {
    match cmd.get("payload") {
        Some(Bson::Binary(b)) => b.bytes.clone(),
        Some(Bson::String(s)) => s.as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

impl<'a> Session<'a> {
    pub fn new(config: &'a Config, store: &'a Store, connection_id: i64) -> Self {
        Session { config, store, connection_id, user: None, cursors: HashMap::new(), next_cursor: 0, conversation: None }
    }

    /// The command's name: its first key, as the server reads it.
    pub fn name(cmd: &Document) -> String {
        cmd.keys().next().cloned().unwrap_or_default()
    }

    pub fn handle(&mut self, db: &str, cmd: &Document) -> Outcome {
        let name = Session::name(cmd);
        let mut auth = None;
        let reply = match name.to_ascii_lowercase().as_str() {
            "hello" | "ismaster" => self.hello(cmd, name != "hello"),
            "buildinfo" => self.build_info(),
            "ping" => doc! { "ok": 1.0 },
            "whatsmyuri" => doc! { "you": "0.0.0.0:0", "ok": 1.0 },
            "getlasterror" => doc! { "n": 0, "err": Bson::Null, "ok": 1.0 },
            "getparameter" => doc! { "featureCompatibilityVersion": { "version": "6.0" }, "ok": 1.0 },
            "getcmdlineopts" => doc! { "argv": ["mongod", "--config", "/etc/mongod.conf"], "parsed": { "net": { "bindIp": "0.0.0.0", "port": 27017 } }, "ok": 1.0 },
            "hostinfo" => doc! { "system": { "hostname": self.config.hostname.clone(), "numCores": 4, "memSizeMB": 7962 }, "os": { "type": "Linux", "name": "Ubuntu", "version": "22.04" }, "ok": 1.0 },
            "serverstatus" => self.server_status(),
            "connectionstatus" => doc! { "authInfo": { "authenticatedUsers": self.user.iter().map(|u| doc! { "user": u.clone(), "db": "admin" }).collect::<Vec<_>>(), "authenticatedUserRoles": [] }, "ok": 1.0 },
            "listdatabases" => self.list_databases(cmd),
            "listcollections" => self.list_collections(db),
            "listindexes" => self.first_batch(db, cmd, vec![doc! { "v": 2, "key": { "_id": 1 }, "name": "_id_" }]),
            "find" => self.find(db, cmd),
            "getmore" => self.get_more(cmd),
            "killcursors" => self.kill_cursors(cmd),
            "count" => {
                let coll = cmd.get_str(&name).unwrap_or_default();
                let filter = cmd.get_document("query").cloned().unwrap_or_default();
                doc! { "n": self.store.find(db, coll, &filter).len() as i64, "ok": 1.0 }
            }
            "aggregate" => self.aggregate(db, cmd),
            "insert" => self.insert(db, cmd),
            "update" => self.update(db, cmd),
            "delete" => self.delete(db, cmd),
            "create" => {
                self.store.create(db, cmd.get_str(&name).unwrap_or_default());
                doc! { "ok": 1.0 }
            }
            "drop" => {
                let coll = cmd.get_str(&name).unwrap_or_default();
                if self.store.drop_collection(db, coll) {
                    doc! { "ns": format!("{db}.{coll}"), "nIndexesWas": 1, "ok": 1.0 }
                } else {
                    error(26, "NamespaceNotFound", "ns not found")
                }
            }
            "dropdatabase" => {
                self.store.drop_database(db);
                doc! { "dropped": db, "ok": 1.0 }
            }
            "saslstart" => {
                let (reply, done) = self.sasl_start(cmd);
                auth = done;
                reply
            }
            "saslcontinue" => {
                let (reply, done) = self.sasl_continue(cmd);
                auth = done;
                reply
            }
            "logout" => {
                self.user = None;
                doc! { "ok": 1.0 }
            }
            "endsessions" | "killsessions" | "refreshsessions" | "startsession" => doc! { "ok": 1.0 },
            "" => error(59, "CommandNotFound", "no command given"),
            _ => error(59, "CommandNotFound", format!("no such command: '{name}'")),
        };
        Outcome { reply, auth }
    }

    fn hello(&self, cmd: &Document, legacy: bool) -> Document {
        if let Some(wait) = await_time(cmd) {
            std::thread::sleep(wait);
        }
        let mut d = doc! {};
        if legacy {
            d.insert("ismaster", true);
        } else {
            d.insert("isWritablePrimary", true);
        }
        if cmd.contains_key("helloOk") {
            d.insert("helloOk", true);
        }
        d.insert("topologyVersion", doc! { "processId": process_id(), "counter": 0i64 });
        d.insert("maxBsonObjectSize", 16 * 1024 * 1024);
        d.insert("maxMessageSizeBytes", crate::wire::MAX_MESSAGE as i32);
        d.insert("maxWriteBatchSize", 100_000);
        d.insert("localTime", DateTime::now());
        d.insert("logicalSessionTimeoutMinutes", 30);
        d.insert("connectionId", self.connection_id);
        d.insert("minWireVersion", 0);
        d.insert("maxWireVersion", 17);
        d.insert("readOnly", false);
        // Real servers list mechanisms only for users that exist.
        if let Ok(ns_user) = cmd.get_str("saslSupportedMechs") {
            let user = ns_user.split_once('.').map(|(_, u)| u).unwrap_or(ns_user);
            if self.config.password_of(user).is_some() {
                d.insert("saslSupportedMechs", ["SCRAM-SHA-1", "SCRAM-SHA-256"]);
            }
        }
        d.insert("ok", 1.0);
        d
    }

    fn build_info(&self) -> Document {
        let v = &self.config.version;
        let parts: Vec<i32> = v.split('.').filter_map(|p| p.parse().ok()).chain(std::iter::repeat(0)).take(3).collect();
        doc! {
            "version": v.clone(),
            "gitVersion": "a6f3a4e3d4fa0e0c9bbb52c0b2f6f1b3a3b2e6c0",
            "modules": [],
            "allocator": "tcmalloc",
            "javascriptEngine": "mozjs",
            "sysInfo": "deprecated",
            "versionArray": [parts[0], parts[1], parts[2], 0],
            "openssl": { "running": "OpenSSL 3.0.2 15 Mar 2022", "compiled": "OpenSSL 3.0.2 15 Mar 2022" },
            "buildEnvironment": { "distmod": "ubuntu2204", "distarch": "x86_64", "target_arch": "x86_64", "target_os": "linux" },
            "bits": 64,
            "debug": false,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "storageEngines": ["devnull", "ephemeralForTest", "wiredTiger"],
            "ok": 1.0,
        }
    }

    fn server_status(&self) -> Document {
        doc! {
            "host": self.config.hostname.clone(),
            "version": self.config.version.clone(),
            "process": "mongod",
            "uptime": 1_734_221.0,
            "localTime": DateTime::now(),
            "connections": { "current": 3, "available": 838_857, "totalCreated": self.connection_id },
            "ok": 1.0,
        }
    }

    fn list_databases(&self, cmd: &Document) -> Document {
        let dbs = self.store.databases();
        let total: i64 = dbs.iter().map(|(_, s)| s).sum();
        let names_only = cmd.get_bool("nameOnly").unwrap_or(false);
        let list: Vec<Document> = dbs
            .into_iter()
            .map(|(name, size)| if names_only { doc! { "name": name } } else { doc! { "name": name, "sizeOnDisk": size, "empty": false } })
            .collect();
        doc! { "databases": list, "totalSize": total, "totalSizeMb": total / (1024 * 1024), "ok": 1.0 }
    }

    fn list_collections(&mut self, db: &str) -> Document {
        let colls: Vec<Document> = self
            .store
            .collections(db)
            .into_iter()
            .map(|name| {
                doc! { "name": name, "type": "collection", "options": {}, "info": { "readOnly": false }, "idIndex": { "v": 2, "key": { "_id": 1 }, "name": "_id_" } }
            })
            .collect();
        let ns = format!("{db}.$cmd.listCollections");
        self.cursor_reply(ns, colls, None)
    }

    fn first_batch(&mut self, db: &str, cmd: &Document, docs: Vec<Document>) -> Document {
        let coll = cmd.get_str(Session::name(cmd).as_str()).unwrap_or_default();
        self.cursor_reply(format!("{db}.{coll}"), docs, None)
    }

    /// `{cursor: {id, ns, firstBatch}}`, keeping the rest for getMore.
    fn cursor_reply(&mut self, ns: String, mut docs: Vec<Document>, batch: Option<usize>) -> Document {
        let batch = batch.unwrap_or(101).min(docs.len());
        let rest = docs.split_off(batch);
        let id = if rest.is_empty() {
            0
        } else {
            self.next_cursor += 1;
            let id = self.connection_id * 1_000_003 + self.next_cursor;
            self.cursors.insert(id, (ns.clone(), rest));
            id
        };
        doc! { "cursor": { "firstBatch": docs, "id": id, "ns": ns }, "ok": 1.0 }
    }

    fn find(&mut self, db: &str, cmd: &Document) -> Document {
        let coll = cmd.get_str("find").unwrap_or_default().to_string();
        let filter = cmd.get_document("filter").cloned().unwrap_or_default();
        let mut docs = self.store.find(db, &coll, &filter);
        let skip = int(cmd.get("skip")).unwrap_or(0).clamp(0, i64::from(u32::MAX)) as usize;
        docs.drain(..skip.min(docs.len()));
        if let Some(limit) = int(cmd.get("limit")).filter(|&l| l != 0) {
            docs.truncate(limit.unsigned_abs() as usize);
        }
        let batch = int(cmd.get("batchSize")).map(|b| b.clamp(0, 1_000_000) as usize);
        self.cursor_reply(format!("{db}.{coll}"), docs, batch)
    }

    fn get_more(&mut self, cmd: &Document) -> Document {
        let id = int(cmd.get("getMore")).unwrap_or(0);
        let batch = int(cmd.get("batchSize")).map(|b| b.clamp(1, 1_000_000) as usize).unwrap_or(usize::MAX);
        let Some((ns, mut docs)) = self.cursors.remove(&id) else {
            return error(43, "CursorNotFound", format!("cursor id {id} not found"));
        };
        let rest = docs.split_off(batch.min(docs.len()));
        let next_id = if rest.is_empty() {
            0
        } else {
            self.cursors.insert(id, (ns.clone(), rest));
            id
        };
        doc! { "cursor": { "nextBatch": docs, "id": next_id, "ns": ns }, "ok": 1.0 }
    }

    fn kill_cursors(&mut self, cmd: &Document) -> Document {
        let ids: Vec<i64> = cmd.get_array("cursors").map(|a| a.iter().filter_map(|b| int(Some(b))).collect()).unwrap_or_default();
        let (killed, unknown): (Vec<i64>, Vec<i64>) = ids.into_iter().partition(|id| self.cursors.remove(id).is_some());
        doc! { "cursorsKilled": killed, "cursorsNotFound": unknown, "cursorsAlive": [], "cursorsUnknown": [], "ok": 1.0 }
    }

    fn aggregate(&mut self, db: &str, cmd: &Document) -> Document {
        let coll = cmd.get_str("aggregate").unwrap_or_default().to_string();
        let mut docs = self.store.find(db, &coll, &doc! {});
        for stage in cmd.get_array("pipeline").map(|a| a.as_slice()).unwrap_or_default() {
            let Bson::Document(stage) = stage else { continue };
            if let Ok(m) = stage.get_document("$match") {
                docs.retain(|d| crate::store::matches(d, m));
            } else if let Some(n) = int(stage.get("$skip")) {
                docs.drain(..(n.max(0) as usize).min(docs.len()));
            } else if let Some(n) = int(stage.get("$limit")) {
                docs.truncate(n.max(0) as usize);
            } else if let Ok(field) = stage.get_str("$count") {
                docs = vec![doc! { field: docs.len() as i32 }];
            } else if let Ok(group) = stage.get_document("$group") {
                // count_documents: {$group: {_id: 1, n: {$sum: 1}}}
                let id = group.get("_id").cloned().unwrap_or(Bson::Null);
                let mut out = doc! { "_id": id };
                for (k, v) in group.iter().filter(|(k, _)| *k != "_id") {
                    let n = match v {
                        Bson::Document(d) if d.contains_key("$sum") => int(d.get("$sum")).unwrap_or(0) * docs.len() as i64,
                        _ => 0,
                    };
                    out.insert(k.clone(), n as i32);
                }
                docs = if docs.is_empty() { vec![] } else { vec![out] };
            }
        }
        let batch = cmd.get_document("cursor").ok().and_then(|c| int(c.get("batchSize"))).map(|b| b.clamp(0, 1_000_000) as usize);
        self.cursor_reply(format!("{db}.{coll}"), docs, batch)
    }

    fn insert(&self, db: &str, cmd: &Document) -> Document {
        let coll = cmd.get_str("insert").unwrap_or_default();
        let docs: Vec<Document> = cmd.get_array("documents").map(|a| a.iter().filter_map(|b| b.as_document().cloned()).collect()).unwrap_or_default();
        let n = self.store.insert(db, coll, docs);
        doc! { "n": n as i32, "ok": 1.0 }
    }

    fn update(&self, db: &str, cmd: &Document) -> Document {
        let coll = cmd.get_str("update").unwrap_or_default();
        let (mut matched, mut modified) = (0usize, 0usize);
        let mut upserted = Vec::new();
        for (index, u) in cmd.get_array("updates").map(|a| a.as_slice()).unwrap_or_default().iter().enumerate() {
            let Bson::Document(u) = u else { continue };
            let q = u.get_document("q").cloned().unwrap_or_default();
            let update = u.get_document("u").cloned().unwrap_or_default();
            let (m, n, id) = self.store.update(db, coll, &q, &update, u.get_bool("multi").unwrap_or(false), u.get_bool("upsert").unwrap_or(false));
            matched += m;
            modified += n;
            if let Some(id) = id {
                upserted.push(doc! { "index": index as i32, "_id": id });
            }
        }
        let mut d = doc! { "n": (matched + upserted.len()) as i32, "nModified": modified as i32 };
        if !upserted.is_empty() {
            d.insert("upserted", upserted);
        }
        d.insert("ok", 1.0);
        d
    }

    fn delete(&self, db: &str, cmd: &Document) -> Document {
        let coll = cmd.get_str("delete").unwrap_or_default();
        let mut n = 0;
        for d in cmd.get_array("deletes").map(|a| a.as_slice()).unwrap_or_default() {
            let Bson::Document(d) = d else { continue };
            let q = d.get_document("q").cloned().unwrap_or_default();
            n += self.store.delete(db, coll, &q, int(d.get("limit")) == Some(1));
        }
        doc! { "n": n as i32, "ok": 1.0 }
    }

    fn sasl_start(&mut self, cmd: &Document) -> (Document, Option<(String, String, bool)>) {
        let mech_name = cmd.get_str("mechanism").unwrap_or_default();
        let Some(mech) = Mechanism::parse(mech_name) else {
            return (error(2, "BadValue", format!("Received authentication for mechanism {mech_name} which is not enabled")), None);
        };
        match Conversation::start(mech, &payload(cmd)) {
            Ok((conv, server_first)) => {
                self.conversation = Some(conv);
                (doc! { "conversationId": 1, "done": false, "payload": binary(server_first.into_bytes()), "ok": 1.0 }, None)
            }
            Err(e) => (error(18, "AuthenticationFailed", e.0), Some((String::new(), mech.name().into(), false))),
        }
    }

    fn sasl_continue(&mut self, cmd: &Document) -> (Document, Option<(String, String, bool)>) {
        let Some(conv) = self.conversation.as_mut() else {
            return (error(17, "ProtocolError", "No SASL session state found"), None);
        };
        if conv.finished {
            // The empty last step of clients that do not skip it.
            self.conversation = None;
            return (doc! { "conversationId": 1, "done": true, "payload": binary(Vec::new()), "ok": 1.0 }, None);
        }
        let user = conv.user.clone();
        let mech = conv.mechanism.name().to_string();
        let password = self.config.password_of(&user);
        match conv.finish(&payload(cmd), password) {
            Ok(server_final) => {
                self.user = Some(user.clone());
                let skip_empty = true;
                if skip_empty {
                    self.conversation = None;
                }
                (doc! { "conversationId": 1, "done": skip_empty, "payload": binary(server_final.into_bytes()), "ok": 1.0 }, Some((user, mech, true)))
            }
            Err(e) => {
                self.conversation = None;
                (error(18, "AuthenticationFailed", e.0), Some((user, mech, false)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_reply(cmd: Document) -> Document {
        let config = Config { version: "6.0.14".into(), hostname: "db1".into(), users: vec![] };
        let store = Store::with_fake_data();
        Session::new(&config, &store, 1).handle("admin", &cmd).reply
    }

    #[test]
    fn the_topology_version_is_the_same_on_every_hello() {
        let a = session_reply(doc! { "hello": 1 });
        let b = session_reply(doc! { "isMaster": 1 });
        assert_eq!(a.get_document("topologyVersion").unwrap(), b.get_document("topologyVersion").unwrap());
    }

    #[test]
    fn an_awaitable_hello_waits_when_the_client_is_current() {
        let current = session_reply(doc! { "hello": 1 }).get_document("topologyVersion").unwrap().clone();
        let asked = doc! { "hello": 1, "topologyVersion": current, "maxAwaitTimeMS": 300 };
        assert_eq!(await_time(&asked), Some(Duration::from_millis(300)));
        // A client that knows another process, or asks for too long, is not held past the cap.
        let stranger = doc! { "hello": 1, "topologyVersion": { "processId": bson::oid::ObjectId::new(), "counter": 0i64 }, "maxAwaitTimeMS": 300 };
        assert_eq!(await_time(&stranger), None);
        let greedy = doc! { "hello": 1, "topologyVersion": { "processId": process_id(), "counter": 0i64 }, "maxAwaitTimeMS": 3_600_000 };
        assert_eq!(await_time(&greedy), Some(MAX_AWAIT));
        let start = std::time::Instant::now();
        let reply = session_reply(asked);
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert_eq!(reply.get_f64("ok").unwrap(), 1.0);
    }
}
