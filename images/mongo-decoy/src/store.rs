//! The fake databases, shared by every client of one decoy: what one
//! attacker inserts, the next query sees. Queries match on top-level
//! equality only; anything fancier matches everything, which is what a
//! careless real server with the data an attacker hopes for looks like.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bson::{doc, oid::ObjectId, Bson, Document};

type Collections = BTreeMap<String, Vec<Document>>;

pub struct Store {
    dbs: Mutex<BTreeMap<String, Collections>>,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_fake_data()
    }
}

/// Equality on the filter's plain top-level fields; operators match.
pub fn matches(doc: &Document, filter: &Document) -> bool {
    filter.iter().all(|(k, v)| {
        if k.starts_with('$') {
            return true;
        }
        if let Bson::Document(d) = v {
            if d.keys().next().is_some_and(|k| k.starts_with('$')) {
                return true;
            }
        }
        doc.get(k) == Some(v)
    })
}

impl Store {
    pub fn with_fake_data() -> Store {
        let mut dbs: BTreeMap<String, Collections> = BTreeMap::new();
        let customers = [
            ("h.tanaka@example.jp", "Hiroshi Tanaka", "Tokyo", 12),
            ("m.suzuki@example.jp", "Mai Suzuki", "Osaka", 3),
            ("k.sato@example.jp", "Kenji Sato", "Sendai", 7),
            ("y.ito@example.jp", "Yui Ito", "Fukuoka", 1),
            ("r.nakamura@example.jp", "Ren Nakamura", "Sapporo", 22),
        ];
        let shop: Collections = [
            (
                "customers".to_string(),
                customers
                    .iter()
                    .map(|(mail, name, city, orders)| {
                        doc! { "_id": ObjectId::new(), "email": *mail, "name": *name, "city": *city, "orders": *orders }
                    })
                    .collect(),
            ),
            (
                "orders".to_string(),
                (1..=8)
                    .map(|i| doc! { "_id": i, "customer": customers[i as usize % 5].0, "total_yen": 980 * i, "status": if i % 3 == 0 { "pending" } else { "shipped" } })
                    .collect(),
            ),
            (
                "api_keys".to_string(),
                vec![doc! { "_id": ObjectId::new(), "service": "payments", "key": "sk_live_FAKE_8c1e0f4b2d9a", "owner": "ops" }],
            ),
        ]
        .into_iter()
        .collect();
        dbs.insert("shop".into(), shop);
        dbs.insert(
            "analytics".into(),
            [(
                "events".to_string(),
                (0..30).map(|i| doc! { "_id": i, "type": if i % 2 == 0 { "page_view" } else { "click" }, "path": format!("/products/{}", i % 7) }).collect(),
            )]
            .into_iter()
            .collect(),
        );
        dbs.insert(
            "admin".into(),
            [("system.version".to_string(), vec![doc! { "_id": "featureCompatibilityVersion", "version": "6.0" }])]
                .into_iter()
                .collect(),
        );
        dbs.insert("config".into(), [("system.sessions".to_string(), vec![])].into_iter().collect());
        dbs.insert(
            "local".into(),
            [("startup_log".to_string(), vec![doc! { "_id": "db01-1700000000000", "hostname": "db01" }])]
                .into_iter()
                .collect(),
        );
        Store { dbs: Mutex::new(dbs) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Collections>) -> T) -> T {
        // A panic elsewhere must not take the decoy down: use the data as is.
        let mut guard = self.dbs.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// (name, approximate size in bytes) of every database.
    pub fn databases(&self) -> Vec<(String, i64)> {
        self.with(|dbs| {
            dbs.iter()
                .map(|(name, colls)| {
                    let size: usize = colls.values().flatten().map(|d| d.to_vec().map(|v| v.len()).unwrap_or(0)).sum();
                    (name.clone(), (size as i64 + 4095) / 4096 * 4096 + 8192)
                })
                .collect()
        })
    }

    pub fn collections(&self, db: &str) -> Vec<String> {
        self.with(|dbs| dbs.get(db).map(|c| c.keys().cloned().collect()).unwrap_or_default())
    }

    pub fn find(&self, db: &str, coll: &str, filter: &Document) -> Vec<Document> {
        self.with(|dbs| {
            dbs.get(db)
                .and_then(|c| c.get(coll))
                .map(|docs| docs.iter().filter(|d| matches(d, filter)).cloned().collect())
                .unwrap_or_default()
        })
    }

    pub fn insert(&self, db: &str, coll: &str, docs: Vec<Document>) -> usize {
        let n = docs.len();
        self.with(|dbs| {
            let target = dbs.entry(db.to_string()).or_default().entry(coll.to_string()).or_default();
            for mut d in docs {
                if !d.contains_key("_id") {
                    d.insert("_id", ObjectId::new());
                }
                target.push(d);
            }
        });
        n
    }

    /// Applies `$set`/`$unset` or replaces; returns (matched, modified).
    pub fn update(&self, db: &str, coll: &str, filter: &Document, update: &Document, multi: bool, upsert: bool) -> (usize, usize, Option<Bson>) {
        self.with(|dbs| {
            let target = dbs.entry(db.to_string()).or_default().entry(coll.to_string()).or_default();
            let mut matched = 0;
            for d in target.iter_mut().filter(|d| matches(d, filter)) {
                matched += 1;
                apply_update(d, update);
                if !multi {
                    break;
                }
            }
            if matched == 0 && upsert {
                let mut d: Document = filter.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), v.clone())).collect();
                apply_update(&mut d, update);
                let id = d.get("_id").cloned().unwrap_or_else(|| Bson::ObjectId(ObjectId::new()));
                d.insert("_id", id.clone());
                target.push(d);
                return (0, 0, Some(id));
            }
            (matched, matched, None)
        })
    }

    pub fn delete(&self, db: &str, coll: &str, filter: &Document, limit_one: bool) -> usize {
        self.with(|dbs| {
            let Some(target) = dbs.get_mut(db).and_then(|c| c.get_mut(coll)) else { return 0 };
            let mut removed = 0;
            target.retain(|d| {
                if (limit_one && removed > 0) || !matches(d, filter) {
                    return true;
                }
                removed += 1;
                false
            });
            removed
        })
    }

    pub fn create(&self, db: &str, coll: &str) {
        self.with(|dbs| {
            dbs.entry(db.to_string()).or_default().entry(coll.to_string()).or_default();
        });
    }

    pub fn drop_collection(&self, db: &str, coll: &str) -> bool {
        self.with(|dbs| dbs.get_mut(db).and_then(|c| c.remove(coll)).is_some())
    }

    pub fn drop_database(&self, db: &str) -> bool {
        self.with(|dbs| dbs.remove(db).is_some())
    }
}

fn apply_update(d: &mut Document, update: &Document) {
    let has_operators = update.keys().any(|k| k.starts_with('$'));
    if !has_operators {
        let id = d.get("_id").cloned();
        *d = update.clone();
        if let Some(id) = id {
            d.insert("_id", id);
        }
        return;
    }
    if let Ok(set) = update.get_document("$set") {
        for (k, v) in set {
            d.insert(k.clone(), v.clone());
        }
    }
    if let Ok(unset) = update.get_document("$unset") {
        for k in unset.keys() {
            d.remove(k);
        }
    }
    if let Ok(inc) = update.get_document("$inc") {
        for (k, v) in inc {
            let add = v.as_i64().or_else(|| v.as_i32().map(i64::from)).unwrap_or(0);
            let now = d.get(k).and_then(|x| x.as_i64().or_else(|| x.as_i32().map(i64::from))).unwrap_or(0);
            d.insert(k.clone(), now.saturating_add(add));
        }
    }
}
