//! The detector's state in Redis (key names in [`model::state`], plus the
//! detector's own below). Every change that touches more than one key is one
//! Lua script, so any number of detector instances on one Redis agree: the
//! script that crosses a threshold flags, bumps the version and publishes,
//! and any other instance's script then sees the attacker already flagged.
//! Time is Redis' own clock (`TIME`), so instances need not agree on it.

use std::collections::HashMap;
use std::net::IpAddr;

use model::policy::{Attacker, Mode, Policy, Sandbox, Whitelist};
use model::state as keys;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};

use crate::observation::Observation;
use crate::rules::Rule;
use crate::Result;

/// String: JSON of [`Settings`], the part of the policy the detector's
/// configuration gives (mode and whitelist).
pub const SETTINGS: &str = "kyoka:policy:settings";
/// String: JSON of the detector's rules ([`Rule`] list), written at start
/// for the UI to show. Not part of the policy agents get.
pub const RULES: &str = "kyoka:detector:rules";
/// The reason of an attacker flagged by hand.
pub const MANUAL: &str = "manual";
/// Detections kept in the stream (approximately).
pub const DETECTIONS_MAX: u64 = 100_000;

/// Counter per rule and source.
pub fn counter(rule: &str, source: IpAddr) -> String {
    format!("kyoka:count:{rule}:{source}")
}

/// A nonce seen from an agent.
pub fn nonce(agent: &str, nonce: &str) -> String {
    format!("kyoka:nonce:{agent}:{nonce}")
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub mode: Mode,
    pub whitelist: Whitelist,
}

/// One observation counting towards one rule.
#[derive(Clone, Debug)]
pub struct Hit<'a> {
    pub rule: &'a Rule,
    pub observation: &'a Observation,
}

/// Counts a whole batch in one call, exactly as if its hits had been counted
/// one by one in order. Hits are grouped per counter (rule and source); a
/// group is one INCRBY. A group crosses the threshold at its `need`-th hit
/// (`need = threshold - count before`, at least 1); crossings are then
/// applied in the order of those hits in the batch, so which rule flags a
/// source (its reason) and the order of versions are those of the one-by-one
/// count. The hit that crossed resets the counter; the group's later hits
/// count from zero again with a fresh window, as they would have.
///
/// KEYS: attackers, policy version, detections, then per group its counter
/// and its attacker hash. ARGV: channel, stream length, then per group
/// window, threshold, flag seconds, hits, source, rule, k, and k pairs
/// (position in the batch, observation JSON) for its first k hits
/// (k = min(hits, threshold): the crossing hit is always among them).
/// Returns the versions created, in order.
const HIT_BATCH: &str = r#"
local crossings = {}
local a = 3
for g = 0, (#KEYS - 3) / 2 - 1 do
  local counter = KEYS[4 + 2 * g]
  local window, threshold, hits = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 3])
  local k = tonumber(ARGV[a + 6])
  -- Strings from ARGV go to redis.call as they are (no number formatting).
  local n = redis.call('INCRBY', counter, ARGV[a + 3])
  if n == hits then redis.call('EXPIRE', counter, window) end
  if n >= threshold then
    local need = math.max(threshold - (n - hits), 1)
    local at = a + 7 + 2 * (need - 1)
    crossings[#crossings + 1] = {pos = tonumber(ARGV[at]), json = ARGV[at + 1], g = g, a = a, need = need}
  end
  a = a + 7 + 2 * k
end
local out = {}
if #crossings == 0 then return out end
table.sort(crossings, function(x, y) return x.pos < y.pos end)
local now = tonumber(redis.call('TIME')[1])
for _, c in ipairs(crossings) do
  local source, rule = ARGV[c.a + 4], ARGV[c.a + 5]
  local current = redis.call('ZSCORE', KEYS[1], source)
  if not (current and tonumber(current) > now) then
    local counter, hash = KEYS[4 + 2 * c.g], KEYS[5 + 2 * c.g]
    local rest = tonumber(ARGV[c.a + 3]) - c.need
    if rest > 0 then
      redis.call('SET', counter, rest, 'EX', ARGV[c.a])
    else
      redis.call('DEL', counter)
    end
    local expires = now + tonumber(ARGV[c.a + 2])
    redis.call('ZADD', KEYS[1], expires, source)
    redis.call('HSET', hash, 'reason', rule, 'since', now, 'expires', expires)
    redis.call('EXPIREAT', hash, expires)
    local v = redis.call('INCR', KEYS[2])
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'address', source, 'rule', rule,
      'since', now, 'expires', expires, 'version', v, 'observation', c.json)
    redis.call('PUBLISH', ARGV[1], v)
    out[#out + 1] = v
  end
end
return out
"#;

/// Flags one attacker by hand (or extends its time): the same keys as
/// [`HIT`], so agents get it like any detection.
const FLAG: &str = r#"
local now = tonumber(redis.call('TIME')[1])
local expires = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('HSET', KEYS[2], 'reason', ARGV[3], 'since', now, 'expires', expires)
redis.call('EXPIREAT', KEYS[2], expires)
local v = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'address', ARGV[1], 'rule', ARGV[3],
  'since', now, 'expires', expires, 'version', v, 'by', ARGV[6])
redis.call('PUBLISH', ARGV[4], v)
return v
"#;

/// Unflags one attacker by hand; 0 when it was not flagged. Its rule
/// counters (KEYS[4..]) go too, so its next hit does not flag it at once.
const UNFLAG: &str = r#"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[2], v)
return v
"#;

/// Drops attackers whose time is up; one version for all of them.
const EXPIRE: &str = r#"
local now = tonumber(redis.call('TIME')[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone == 0 then return 0 end
for _, a in ipairs(gone) do
  redis.call('ZREM', KEYS[1], a)
  redis.call('DEL', ARGV[2] .. a)
end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return v
"#;

/// Writes the settings; a new version only when they changed.
const SETTINGS_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], v)
return v
"#;

/// Everything the policy is made of, read at one instant:
/// version, settings, default sandbox, then per live attacker
/// address, expires, reason, since, sandbox. With ARGV[3] (a count), only
/// that many attackers, those that stay flagged longest, and the number of
/// live attackers after the first three values (a page for people, not
/// for agents).
const READ_POLICY: &str = r#"
local now = tonumber(redis.call('TIME')[1])
local out = {redis.call('GET', KEYS[1]) or '0', redis.call('GET', KEYS[2]) or '', redis.call('GET', KEYS[3]) or ''}
local live
if ARGV[3] then
  out[4] = tostring(redis.call('ZCOUNT', KEYS[4], '(' .. now, '+inf'))
  live = redis.call('ZREVRANGEBYSCORE', KEYS[4], '+inf', '(' .. now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
else
  live = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. now, '+inf', 'WITHSCORES')
end
for i = 1, #live, 2 do
  local a = live[i]
  local h = redis.call('HMGET', ARGV[1] .. a, 'reason', 'since')
  out[#out + 1] = a
  out[#out + 1] = live[i + 1]
  out[#out + 1] = h[1] or 'unknown'
  out[#out + 1] = h[2] or '0'
  out[#out + 1] = redis.call('GET', ARGV[2] .. a) or ''
end
return out
"#;

/// Compare-and-set of one hash field.
const CAS_FIELD: &str = r#"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"#;

/// A handle on the shared state. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    hit: Script,
    expire: Script,
    settings: Script,
    read_policy: Script,
    cas_field: Script,
    flag: Script,
    unflag: Script,
}

impl Store {
    pub async fn connect(url: &str) -> Result<Store> {
        let client = redis::Client::open(url)?;
        let conn = client.get_connection_manager().await?;
        Ok(Store::with_connection(conn))
    }

    pub fn with_connection(conn: ConnectionManager) -> Store {
        Store {
            conn,
            hit: Script::new(HIT_BATCH),
            expire: Script::new(EXPIRE),
            settings: Script::new(SETTINGS_SCRIPT),
            read_policy: Script::new(READ_POLICY),
            cas_field: Script::new(CAS_FIELD),
            flag: Script::new(FLAG),
            unflag: Script::new(UNFLAG),
        }
    }

    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Counts every hit in one round trip (one script call for the whole
    /// batch). Returns the policy versions this call created (one per newly
    /// flagged attacker).
    pub async fn record(&self, hits: &[Hit<'_>]) -> Result<Vec<u64>> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        let groups = group(hits);
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.hit.get_hash())
            .arg(3 + 2 * groups.len())
            .arg(keys::ATTACKERS)
            .arg(keys::POLICY_VERSION)
            .arg(keys::DETECTIONS);
        for g in &groups {
            let source = g.first.observation.source;
            cmd.arg(counter(&g.first.rule.name, source))
                .arg(keys::attacker(source));
        }
        cmd.arg(keys::POLICY_CHANGED).arg(DETECTIONS_MAX);
        for g in &groups {
            let rule = g.first.rule;
            cmd.arg(rule.window_seconds)
                .arg(rule.threshold)
                .arg(rule.flag_seconds)
                .arg(g.hits)
                .arg(g.first.observation.source.to_string())
                .arg(&rule.name)
                .arg(g.firsts.len());
            for &(position, observation) in &g.firsts {
                cmd.arg(position).arg(serde_json::to_string(observation)?);
            }
        }
        // Loads the script on NOSCRIPT (first call, or Redis restarted).
        let mut conn = self.conn.clone();
        for attempt in 0..2 {
            match cmd.query_async::<Vec<u64>>(&mut conn).await {
                Ok(versions) => return Ok(versions),
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
                        && attempt == 0 =>
                {
                    self.hit.load_async(&mut conn).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Removes expired attackers; the new version if any went.
    pub async fn expire_attackers(&self) -> Result<u64> {
        let mut conn = self.conn.clone();
        Ok(self
            .expire
            .key(keys::ATTACKERS)
            .key(keys::POLICY_VERSION)
            .arg(keys::POLICY_CHANGED)
            .arg("kyoka:attacker:")
            .invoke_async(&mut conn)
            .await?)
    }

    /// Publishes mode and whitelist; the new version if they changed.
    pub async fn publish_settings(&self, settings: &Settings) -> Result<u64> {
        let mut conn = self.conn.clone();
        Ok(self
            .settings
            .key(SETTINGS)
            .key(keys::POLICY_VERSION)
            .arg(serde_json::to_string(settings)?)
            .arg(keys::POLICY_CHANGED)
            .invoke_async(&mut conn)
            .await?)
    }

    /// Flags `address` for `seconds` by hand (`by` says who, for the
    /// detections stream); the reason is [`MANUAL`]. Returns the new version.
    pub async fn flag(&self, address: IpAddr, seconds: u64, by: &str) -> Result<u64> {
        let mut conn = self.conn.clone();
        Ok(self
            .flag
            .key(keys::ATTACKERS)
            .key(keys::attacker(address))
            .key(keys::POLICY_VERSION)
            .key(keys::DETECTIONS)
            .arg(address.to_string())
            .arg(seconds.max(1))
            .arg(MANUAL)
            .arg(keys::POLICY_CHANGED)
            .arg(DETECTIONS_MAX)
            .arg(by)
            .invoke_async(&mut conn)
            .await?)
    }

    /// Unflags `address` by hand; the new version, or 0 when it was not flagged.
    pub async fn unflag(&self, address: IpAddr) -> Result<u64> {
        let rules = self.rules().await?.unwrap_or_default();
        let mut conn = self.conn.clone();
        let mut call = self.unflag.prepare_invoke();
        call.key(keys::ATTACKERS)
            .key(keys::attacker(address))
            .key(keys::POLICY_VERSION);
        for rule in &rules {
            call.key(counter(&rule.name, address));
        }
        Ok(call
            .arg(address.to_string())
            .arg(keys::POLICY_CHANGED)
            .invoke_async(&mut conn)
            .await?)
    }

    /// Stores the rules for the UI (no new policy version: agents do not use them).
    pub async fn publish_rules(&self, rules: &[Rule]) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn.set(RULES, serde_json::to_string(rules)?).await?;
        Ok(())
    }

    /// The rules the detector last published, if any.
    pub async fn rules(&self) -> Result<Option<Vec<Rule>>> {
        let mut conn = self.conn.clone();
        let text: Option<String> = conn.get(RULES).await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The settings the detector last published (mode, whitelist), if any.
    pub async fn settings(&self) -> Result<Option<Settings>> {
        let mut conn = self.conn.clone();
        let text: Option<String> = conn.get(SETTINGS).await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The policy agents get, as it is now.
    pub async fn policy(&self) -> Result<Policy> {
        Ok(policy_from_raw(&self.read_policy_raw(None).await?))
    }

    /// The policy with at most `limit` attackers (those that stay flagged
    /// longest), and how many are flagged: what the UI's pages show,
    /// without reading every attacker.
    pub async fn policy_page(&self, limit: usize) -> Result<(Policy, usize)> {
        let mut raw = self.read_policy_raw(Some(limit)).await?;
        let total = if raw.len() > 3 { raw.remove(3).parse().unwrap_or(0) } else { 0 };
        Ok((policy_from_raw(&raw), total))
    }

    /// `READ_POLICY`'s answer, whole or one page.
    async fn read_policy_raw(&self, limit: Option<usize>) -> Result<Vec<String>> {
        let mut conn = self.conn.clone();
        let mut call = self.read_policy.key(keys::POLICY_VERSION);
        call.key(SETTINGS)
            .key(keys::DEFAULT_SANDBOX)
            .key(keys::ATTACKERS)
            .arg("kyoka:attacker:")
            .arg("kyoka:sandbox:");
        if let Some(limit) = limit {
            call.arg(limit);
        }
        Ok(call.invoke_async(&mut conn).await?)
    }

    /// Current policy version (0 before any change).
    pub async fn version(&self) -> Result<u64> {
        let mut conn = self.conn.clone();
        Ok(conn
            .get::<_, Option<u64>>(keys::POLICY_VERSION)
            .await?
            .unwrap_or(0))
    }

    /// Remembers a nonce; false when it was seen before.
    pub async fn fresh_nonce(&self, agent: &str, value: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(nonce(agent, value))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(model::signing::NONCE_MEMORY_SECONDS)
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }

    /// Sets `field` of hash `key` to `new` if it still holds `old`.
    pub async fn compare_and_set(
        &self,
        key: &str,
        field: &str,
        old: &str,
        new: &str,
    ) -> Result<bool> {
        let mut conn = self.conn.clone();
        let done: i64 = self
            .cas_field
            .key(key)
            .arg(field)
            .arg(old)
            .arg(new)
            .invoke_async(&mut conn)
            .await?;
        Ok(done == 1)
    }

    /// The most recent detections, newest last.
    pub async fn detections(&self, count: usize) -> Result<Vec<Detection>> {
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply = conn
            .xrevrange_count(keys::DETECTIONS, "+", "-", count)
            .await?;
        let mut out: Vec<Detection> = reply
            .ids
            .into_iter()
            .map(|entry| {
                let field = |name: &str| entry.get::<String>(name).unwrap_or_default();
                Detection {
                    id: entry.id.clone(),
                    address: field("address"),
                    rule: field("rule"),
                    since: field("since").parse().unwrap_or(0),
                    expires: field("expires").parse().unwrap_or(0),
                    version: field("version").parse().unwrap_or(0),
                    observation: serde_json::from_str(&field("observation")).ok(),
                    by: entry.get::<String>("by"),
                }
            })
            .collect();
        out.reverse();
        Ok(out)
    }
}

/// The hits of one batch on one counter (rule and source).
struct Group<'a> {
    first: &'a Hit<'a>,
    hits: u64,
    /// Position in the batch and observation of the first `threshold` hits:
    /// the one that crosses is among them whatever the count before.
    firsts: Vec<(usize, &'a Observation)>,
}

/// Groups hits per counter, in the order each counter is first hit.
fn group<'a>(hits: &'a [Hit<'a>]) -> Vec<Group<'a>> {
    let mut index: HashMap<(&str, IpAddr), usize> = HashMap::with_capacity(hits.len());
    let mut groups: Vec<Group<'a>> = Vec::new();
    for (position, hit) in hits.iter().enumerate() {
        let key = (hit.rule.name.as_str(), hit.observation.source);
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(Group {
                first: hit,
                hits: 0,
                firsts: Vec::new(),
            });
            groups.len() - 1
        });
        let g = &mut groups[i];
        g.hits += 1;
        if g.firsts.len() < hit.rule.threshold as usize {
            g.firsts.push((position, hit.observation));
        }
    }
    groups
}

/// One entry of [`model::state::DETECTIONS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    /// The stream entry id.
    pub id: String,
    pub address: String,
    pub rule: String,
    pub since: i64,
    pub expires: i64,
    pub version: u64,
    pub observation: Option<Observation>,
    /// Who flagged by hand (rule [`MANUAL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

fn policy_from_raw(raw: &[String]) -> Policy {
    let get = |i: usize| raw.get(i).map(String::as_str).unwrap_or("");
    let settings: Option<Settings> = serde_json::from_str(get(1)).ok();
    let (mode, whitelist) = settings
        .map(|s| (s.mode, s.whitelist))
        .unwrap_or((Mode::Unreal, Whitelist::default()));
    let sandbox = |text: &str| -> Option<Sandbox> { serde_json::from_str(text).ok() };
    let mut attackers = Vec::new();
    let mut seen = HashMap::new();
    for chunk in raw.get(3..).unwrap_or(&[]).chunks_exact(5) {
        let Ok(address) = chunk[0].parse::<IpAddr>() else {
            continue;
        };
        if seen.insert(address, ()).is_some() {
            continue;
        }
        attackers.push(Attacker {
            address,
            reason: chunk[2].clone(),
            since: chunk[3].parse().unwrap_or(0),
            expires: chunk[1].parse::<f64>().map(|f| f as i64).unwrap_or(0),
            sandbox: sandbox(&chunk[4]),
        });
    }
    Policy {
        version: get(0).parse().unwrap_or(0),
        mode,
        whitelist,
        attackers,
        default_sandbox: sandbox(get(2)),
    }
}
