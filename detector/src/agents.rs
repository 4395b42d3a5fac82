//! Agent records in [`model::state::AGENTS`]: id → JSON of [`AgentRecord`].
//! The key is stored because the detector must compute the same HMAC; it is
//! shown to the operator once, when the agent is added.

use model::policy::Heartbeat;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use crate::state::Store;
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub id: String,
    pub name: String,
    pub key: String,
    pub revoked: bool,
    /// Unix seconds.
    pub created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<i64>,
    /// The inventory the agent reported last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Heartbeat>,
}

/// What `kyoka agents add` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAgent {
    pub id: String,
    pub key: String,
}

/// An agent as the UI lists it: the record without its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
    pub revoked: bool,
    pub created: i64,
    pub last_heartbeat: Option<i64>,
    pub heartbeat: Option<Heartbeat>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Adds an agent. A name already held by an agent that is not revoked is refused.
pub async fn add(store: &Store, name: &str) -> Result<NewAgent> {
    if !valid_name(name) {
        return Err(Error::Agent(format!(
            "{name:?}: names are 1 to 64 letters, digits, '.', '_' or '-'"
        )));
    }
    if list_records(store)
        .await?
        .iter()
        .any(|r| r.name == name && !r.revoked)
    {
        return Err(Error::Agent(format!(
            "an agent named {name:?} exists; revoke it first"
        )));
    }
    let id = format!("ag-{}", &model::signing::new_nonce()[..16]);
    let record = AgentRecord {
        id: id.clone(),
        name: name.to_owned(),
        key: model::signing::new_key(),
        revoked: false,
        created: model::signing::now(),
        last_heartbeat: None,
        heartbeat: None,
    };
    let mut conn = store.connection();
    let added: bool = conn
        .hset_nx(model::state::AGENTS, &id, serde_json::to_string(&record)?)
        .await?;
    if !added {
        return Err(Error::Agent("agent id collision; try again".into()));
    }
    Ok(NewAgent {
        id,
        key: record.key,
    })
}

/// Revokes every live agent named `name`; how many were.
pub async fn revoke(store: &Store, name: &str) -> Result<usize> {
    let mut done = 0;
    for record in list_records(store).await? {
        if record.name != name || record.revoked {
            continue;
        }
        update(store, &record.id, |r| r.revoked = true).await?;
        done += 1;
    }
    Ok(done)
}

pub async fn get(store: &Store, id: &str) -> Result<Option<AgentRecord>> {
    let mut conn = store.connection();
    let text: Option<String> = conn.hget(model::state::AGENTS, id).await?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

pub async fn list_records(store: &Store) -> Result<Vec<AgentRecord>> {
    let mut conn = store.connection();
    let all: Vec<(String, String)> = conn.hgetall(model::state::AGENTS).await?;
    let mut out: Vec<AgentRecord> = all
        .into_iter()
        .filter_map(|(_, t)| serde_json::from_str(&t).ok())
        .collect();
    out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    Ok(out)
}

/// The agents without their keys, for the UI.
pub async fn list(store: &Store) -> Result<Vec<AgentInfo>> {
    Ok(list_records(store)
        .await?
        .into_iter()
        .map(|r| AgentInfo {
            id: r.id,
            name: r.name,
            revoked: r.revoked,
            created: r.created,
            last_heartbeat: r.last_heartbeat,
            heartbeat: r.heartbeat,
        })
        .collect())
}

/// Stores a heartbeat in the agent's record (unless it was revoked meanwhile).
pub async fn heartbeat(store: &Store, id: &str, beat: Heartbeat, now: i64) -> Result<bool> {
    update(store, id, |r| {
        if !r.revoked {
            r.last_heartbeat = Some(now);
            r.heartbeat = Some(beat.clone());
        }
    })
    .await
}

/// Read, change, compare-and-set; again if another writer came first.
async fn update(store: &Store, id: &str, change: impl Fn(&mut AgentRecord)) -> Result<bool> {
    let mut conn = store.connection();
    for _ in 0..16 {
        let Some(old) = conn
            .hget::<_, _, Option<String>>(model::state::AGENTS, id)
            .await?
        else {
            return Ok(false);
        };
        let mut record: AgentRecord = serde_json::from_str(&old)?;
        change(&mut record);
        let new = serde_json::to_string(&record)?;
        if store
            .compare_and_set(model::state::AGENTS, id, &old, &new)
            .await?
        {
            return Ok(true);
        }
    }
    Err(Error::Agent(format!(
        "agent {id}: too many concurrent updates"
    )))
}
