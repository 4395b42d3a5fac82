//! Capture timestamps: microseconds since the Unix epoch, written as RFC 3339
//! with exactly six fractional digits (`2009-11-18T16:44:07.123456Z`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub fn from_timeval(secs: i64, micros: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000).saturating_add(micros))
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn seconds_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Parses RFC 3339 (any fractional precision, any offset).
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let dt = chrono::DateTime::parse_from_rfc3339(s).ok()?;
        Some(Timestamp(dt.timestamp_micros()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        match chrono::DateTime::from_timestamp(secs, 0) {
            Some(dt) => write!(f, "{}.{:06}Z", dt.format("%Y-%m-%dT%H:%M:%S"), micros),
            None => write!(f, "invalid-timestamp({})", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_microseconds() {
        let ts = Timestamp::from_timeval(1_258_562_647, 123_456);
        assert_eq!(ts.to_string(), "2009-11-18T16:44:07.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&ts.to_string()), Some(ts));
    }

    #[test]
    fn pre_epoch_times_keep_positive_fractions() {
        let ts = Timestamp(-1);
        assert_eq!(ts.to_string(), "1969-12-31T23:59:59.999999Z");
    }
}
