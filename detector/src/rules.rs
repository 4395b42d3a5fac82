//! Rules over observations, read from TOML (`rules/default.toml` is built
//! in). A rule only says what to count and when to flag; counting happens
//! in Redis ([`crate::state`]) so that detector instances share it.

use model::policy::Mode;
use serde::Deserialize;

use crate::observation::{Kind, Observation, Service};
use crate::{Error, Result};

/// The built-in set.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Also the `reason` an attacker is flagged with: `service.what`.
    pub name: String,
    /// Only observations of this service; none = any.
    #[serde(default)]
    pub service: Option<Service>,
    /// Only these kinds; empty = any.
    #[serde(default)]
    pub kinds: Vec<Kind>,
    /// Only in these detector modes; empty = all.
    #[serde(default)]
    pub modes: Vec<Mode>,
    /// Only observations without a user (an unauthenticated client).
    #[serde(default)]
    pub unauthenticated: bool,
    /// The normalised detail contains one of these (lowercase).
    #[serde(default)]
    pub detail_contains: Vec<String>,
    /// The normalised detail starts with one of these as whole words (lowercase).
    #[serde(default)]
    pub detail_prefix: Vec<String>,
    pub threshold: u32,
    pub window_seconds: u64,
    pub flag_seconds: u64,
}

#[derive(Clone, Debug)]
pub struct Rules {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rule: Vec<Rule>,
}

impl Rules {
    pub fn builtin() -> Rules {
        Rules::from_toml(DEFAULT_RULES).expect("the built-in rules parse")
    }

    pub fn from_toml(text: &str) -> Result<Rules> {
        let file: File = toml::from_str(text).map_err(|e| Error::Rules(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for rule in &file.rule {
            let bad = |what: &str| Error::Rules(format!("rule {:?}: {what}", rule.name));
            if rule.name.is_empty()
                || !rule
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(bad("name must be letters, digits, '.', '_' or '-'"));
            }
            if !seen.insert(rule.name.clone()) {
                return Err(bad("defined twice"));
            }
            if rule.threshold == 0 || rule.window_seconds == 0 || rule.flag_seconds == 0 {
                return Err(bad(
                    "threshold, window_seconds and flag_seconds must be at least 1",
                ));
            }
        }
        let mut rules = file.rule;
        for rule in &mut rules {
            rule.detail_contains
                .iter_mut()
                .for_each(|p| *p = p.to_lowercase());
            rule.detail_prefix
                .iter_mut()
                .for_each(|p| *p = p.to_lowercase());
        }
        Ok(Rules { rules })
    }

    pub fn all(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules `obs` counts towards in `mode`. The detail is normalised
    /// only when a rule needs it.
    pub fn matching<'a>(
        &'a self,
        obs: &'a Observation,
        mode: Mode,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        let detail = std::cell::OnceCell::new();
        self.rules
            .iter()
            .filter(move |r| r.matches(obs, &detail, mode))
    }
}

impl Rule {
    fn matches(
        &self,
        obs: &Observation,
        detail: &std::cell::OnceCell<Option<String>>,
        mode: Mode,
    ) -> bool {
        if self.service.is_some_and(|s| s != obs.service)
            || (!self.kinds.is_empty() && !self.kinds.contains(&obs.kind))
            || (!self.modes.is_empty() && !self.modes.contains(&mode))
            || (self.unauthenticated && obs.user.is_some())
        {
            return false;
        }
        if self.detail_contains.is_empty() && self.detail_prefix.is_empty() {
            return true;
        }
        let Some(detail) = detail.get_or_init(|| obs.detail.as_deref().map(normalise_detail))
        else {
            return false;
        };
        self.detail_contains
            .iter()
            .any(|p| detail.contains(p.as_str()))
            || self.detail_prefix.iter().any(|p| {
                detail
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            })
    }
}

/// Lowercase, backticks gone, runs of whitespace and `/**/` one space, and
/// one space after the last word: `contains(" soname ")` anchors on word
/// breaks and `strip_prefix("flushall")` sees the first word.
pub fn normalise_detail(text: &str) -> String {
    let lowered = text.to_lowercase().replace("/**/", " ").replace('`', "");
    let mut out = String::with_capacity(lowered.len() + 1);
    for word in lowered.split_whitespace() {
        out.push_str(word);
        out.push(' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(service: Service, kind: Kind, detail: &str) -> Observation {
        Observation::new(service, kind, "203.0.113.1".parse().unwrap()).detail(detail)
    }

    fn names(rules: &Rules, o: &Observation, mode: Mode) -> Vec<String> {
        rules.matching(o, mode).map(|r| r.name.clone()).collect()
    }

    #[test]
    fn dangerous_sql_and_redis_commands_match_however_written() {
        let rules = Rules::builtin();
        for sql in [
            "SELECT 1 INTO   OUTFILE '/tmp/x'",
            "select LOAD_FILE('/etc/passwd')",
            "CREATE FUNCTION sys_exec RETURNS int SONAME 'udf.so'",
            "select * from `mysql`.`user`",
            "select\n1\tinto/**/dumpfile '/x'",
        ] {
            assert_eq!(
                names(&rules, &obs(Service::Mysql, Kind::Query, sql), Mode::Unreal),
                ["mysql.dangerous_sql"],
                "{sql}"
            );
        }
        assert!(names(
            &rules,
            &obs(Service::Mysql, Kind::Query, "select name from users"),
            Mode::Unreal
        )
        .is_empty());
        for cmd in [
            "config SET dir /tmp",
            "CONFIG set   dbfilename x",
            // What kyoka-agent reports from INFO commandstats (no arguments).
            "config set",
            "slaveof 1.2.3.4 6379",
            "module LOAD /x.so",
            "flushall",
            "eval return 1 0",
        ] {
            assert_eq!(
                names(
                    &rules,
                    &obs(Service::Redis, Kind::Command, cmd),
                    Mode::Firewall
                ),
                ["redis.dangerous_command"],
                "{cmd}"
            );
        }
        for cmd in ["config get dir", "get eval", "set flushall 1", "evaluate"] {
            assert!(
                names(
                    &rules,
                    &obs(Service::Redis, Kind::Command, cmd),
                    Mode::Unreal
                )
                .is_empty(),
                "{cmd}"
            );
        }
    }

    #[test]
    fn honeypot_mode_flags_any_contact_and_unauthenticated_means_no_user() {
        let rules = Rules::builtin();
        let connect = Observation::new(Service::Ftp, Kind::Connect, "203.0.113.1".parse().unwrap());
        assert!(names(&rules, &connect, Mode::Unreal).is_empty());
        assert_eq!(
            names(&rules, &connect, Mode::Honeypot),
            ["honeypot.contact"]
        );
        let anon = obs(Service::Rsync, Kind::Download, "pub/x");
        assert_eq!(
            names(&rules, &anon, Mode::Unreal),
            ["rsync.unauthenticated_transfer"]
        );
        assert!(names(&rules, &anon.clone().user("bob"), Mode::Unreal).is_empty());
    }

    #[test]
    fn bad_rule_files_are_clear_errors() {
        for (text, want) in [
            ("[[rule]]\nname='a'\nthreshold=0\nwindow_seconds=1\nflag_seconds=1", "at least 1"),
            ("[[rule]]\nname='a'\nthreshold=1\nwindow_seconds=1\nflag_seconds=1\n[[rule]]\nname='a'\nthreshold=1\nwindow_seconds=1\nflag_seconds=1", "twice"),
            ("[[rule]]\nname='a'\nthreshold=1\nwindow_seconds=1\nflag_seconds=1\nsevrice='ftp'", "unknown field"),
            ("[[rule]]\nname='a'\nservice='telnet'\nthreshold=1\nwindow_seconds=1\nflag_seconds=1", "unknown variant"),
        ] {
            let err = Rules::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
