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

impl Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` into a fixed buffer, without allocating:
    /// every event carries a timestamp, so this is on the hot path.
    fn rfc3339(self) -> Option<[u8; 27]> {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let day_secs = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, day_secs / 3600);
        put(14, 2, day_secs / 60 % 60);
        put(17, 2, day_secs % 60);
        put(20, 6, micros);
        Some(out)
    }
}

/// Proleptic Gregorian date of a day number (days since 1970-01-01), by
/// counting 400-year eras of 146097 days from 0000-03-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rfc3339() {
            // The buffer is ASCII digits and separators.
            Some(buf) => f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?),
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

    #[test]
    fn agrees_with_chrono_across_the_calendar() {
        // Leap years, century rules, month ends, far past and future.
        let mut micros: i64 = -62_135_596_800_000_000; // 0001-01-01
        while micros < 253_402_300_799_000_000 {
            let ours = Timestamp(micros).to_string();
            let dt = chrono::DateTime::from_timestamp_micros(micros).unwrap();
            assert_eq!(ours, dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            micros += 86_399_999_999 * 7 + 123_457;
        }
    }
}
