//! ISO 8601 durations as Graph's `Edm.Duration` writes them: `P14D`, `PT3H`, `P1DT2H`, `PT0S`.
//!
//! Policies measure time in days, hours, minutes and seconds (`durationBeforeAutomaticDenial`,
//! `durationBeforeEscalation`, `expiration.duration`, `gracePeriodBeforeAccessRemoval`). Months and
//! years have no fixed length, so a duration that names them is refused with a hint rather than
//! guessed at. Weeks (`P2W`) are accepted as seven days each. A [`Duration`] prints in the
//! canonical form (`P1DT12H`, never `PT36H`), so `PT36H` reads back as `P1DT12H`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// The longest duration accepted, in days. Far beyond any policy limit (3,660 days), and small
/// enough that adding it to any date the engine meets cannot overflow.
pub const MAX_DAYS: u64 = 100_000;

/// A non-negative length of time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    seconds: u64,
}

/// Why a duration text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not an ISO 8601 duration such as `P14D`, `PT3H` or `P1DT2H`")]
    Syntax(String),
    #[error(
        "`{0}` uses months or years, which have no fixed length; give days or hours instead (`P30D`, `P365D`)"
    )]
    Calendar(String),
    #[error("`{0}` has a fractional part; durations are counted in whole seconds")]
    Fraction(String),
    #[error("`{0}` is negative; durations are lengths of time")]
    Negative(String),
    #[error("`{0}` is longer than {MAX_DAYS} days")]
    TooLong(String),
}

impl Duration {
    /// No time at all, printed `PT0S`.
    pub const ZERO: Self = Self { seconds: 0 };

    /// A duration of `seconds` seconds.
    #[must_use]
    pub const fn from_seconds(seconds: u64) -> Self {
        Self { seconds }
    }

    /// `n` minutes.
    #[must_use]
    pub const fn minutes(n: u64) -> Self {
        Self { seconds: n * MINUTE }
    }

    /// `n` hours.
    #[must_use]
    pub const fn hours(n: u64) -> Self {
        Self { seconds: n * HOUR }
    }

    /// `n` days of 24 hours.
    #[must_use]
    pub const fn days(n: u64) -> Self {
        Self { seconds: n * DAY }
    }

    /// The length in seconds.
    #[must_use]
    pub const fn as_seconds(self) -> u64 {
        self.seconds
    }

    /// Whether this is `PT0S`.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.seconds == 0
    }

    /// The same length as a chrono delta. Every parsed duration fits (see [`MAX_DAYS`]); a
    /// larger one built with [`Duration::from_seconds`] saturates.
    #[must_use]
    pub fn to_time_delta(self) -> TimeDelta {
        i64::try_from(self.seconds).ok().and_then(TimeDelta::try_seconds).unwrap_or(TimeDelta::MAX)
    }

    /// `at + self`, or `None` past the end of chrono's calendar.
    #[must_use]
    pub fn after(self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        at.checked_add_signed(self.to_time_delta())
    }

    /// Parses the ISO 8601 text: `P[nW]` or `P[nD][T[nH][nM][nS]]`, with at least one part.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let syntax = || DurationError::Syntax(text.to_owned());
        if text.starts_with('-') {
            return Err(DurationError::Negative(text.to_owned()));
        }
        let body = text.strip_prefix('P').ok_or_else(syntax)?;
        let (date, time) = match body.split_once('T') {
            Some((_, "")) => return Err(syntax()),
            Some((date, time)) => (date, Some(time)),
            None => (body, None),
        };
        let mut seconds: u64 = 0;
        let mut parts = 0;
        let mut add = |n: u64, unit: u64| -> Result<(), DurationError> {
            parts += 1;
            seconds = n
                .checked_mul(unit)
                .and_then(|s| seconds.checked_add(s))
                .ok_or_else(|| DurationError::TooLong(text.to_owned()))?;
            Ok(())
        };
        let mut last_rank = 0;
        let mut weeks = false;
        for (n, designator) in components(date, text)? {
            let (rank, unit) = match designator {
                'Y' | 'M' => return Err(DurationError::Calendar(text.to_owned())),
                'W' => (1, 7 * DAY),
                'D' => (2, DAY),
                _ => return Err(syntax()),
            };
            if rank <= last_rank {
                return Err(syntax());
            }
            last_rank = rank;
            weeks |= designator == 'W';
            add(n, unit)?;
        }
        if weeks && (last_rank > 1 || time.is_some()) {
            // ISO 8601 allows weeks only on their own.
            return Err(syntax());
        }
        let mut last_rank = 0;
        for (n, designator) in time.map(|t| components(t, text)).transpose()?.unwrap_or_default() {
            let (rank, unit) = match designator {
                'H' => (1, HOUR),
                'M' => (2, MINUTE),
                'S' => (3, 1),
                _ => return Err(syntax()),
            };
            if rank <= last_rank {
                return Err(syntax());
            }
            last_rank = rank;
            add(n, unit)?;
        }
        if parts == 0 {
            return Err(syntax());
        }
        if seconds > MAX_DAYS * DAY {
            return Err(DurationError::TooLong(text.to_owned()));
        }
        Ok(Self { seconds })
    }
}

/// Splits `12D3H` into `[(12, 'D'), (3, 'H')]`, refusing anything but digits and a designator.
fn components(part: &str, whole: &str) -> Result<Vec<(u64, char)>, DurationError> {
    let mut out = Vec::new();
    let mut digits = String::new();
    for c in part.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if c == '.' || c == ',' {
            return Err(DurationError::Fraction(whole.to_owned()));
        } else if c.is_ascii_uppercase() {
            if digits.is_empty() {
                return Err(DurationError::Syntax(whole.to_owned()));
            }
            let n = digits.parse().map_err(|_| DurationError::TooLong(whole.to_owned()))?;
            out.push((n, c));
            digits.clear();
        } else {
            return Err(DurationError::Syntax(whole.to_owned()));
        }
    }
    if digits.is_empty() { Ok(out) } else { Err(DurationError::Syntax(whole.to_owned())) }
}

impl fmt::Display for Duration {
    /// The canonical text: days, then hours, minutes and seconds, zero parts left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("PT0S");
        }
        let days = self.seconds / DAY;
        let hours = self.seconds % DAY / HOUR;
        let minutes = self.seconds % HOUR / MINUTE;
        let seconds = self.seconds % MINUTE;
        f.write_str("P")?;
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if hours + minutes + seconds > 0 {
            f.write_str("T")?;
        }
        for (n, designator) in [(hours, 'H'), (minutes, 'M'), (seconds, 'S')] {
            if n > 0 {
                write!(f, "{n}{designator}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Result<&str, &str>) {
        let got = Duration::parse(text).map(|d| d.to_string()).map_err(|e| e.to_string());
        match expect {
            Ok(canonical) => assert_eq!(got, Ok(canonical.to_owned()), "{text}"),
            Err(fragment) => {
                let message = got.err().unwrap_or_default();
                assert!(message.contains(fragment), "{text}: `{message}` lacks `{fragment}`");
            }
        }
    }

    #[test]
    fn graph_durations_round_trip() {
        for text in ["P14D", "PT3H", "P1DT2H", "PT0S", "P3660D", "PT1M", "PT30S", "P1DT2H3M4S"] {
            check(text, Ok(text));
        }
    }

    #[test]
    fn equivalent_spellings_print_canonically() {
        check("PT36H", Ok("P1DT12H"));
        check("P2W", Ok("P14D"));
        check("P0D", Ok("PT0S"));
        check("PT90M", Ok("PT1H30M"));
        check("PT3600S", Ok("PT1H"));
    }

    #[test]
    fn calendar_units_fractions_and_signs_are_refused_with_reasons() {
        check("P1M", Err("months or years"));
        check("P1Y2D", Err("months or years"));
        check("PT0.5S", Err("fractional"));
        check("-P1D", Err("negative"));
        check("P200000D", Err("longer than"));
        check("P99999999999999999999D", Err("longer than"));
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in [
            "", "P", "PT", "14D", "P1DT", "PD", "P1H", "PT1D", "P1D2D", "PT1S1H", "p1d", "P1W2D", "P 1D",
            "P1",
        ] {
            check(text, Err("not an ISO 8601 duration"));
        }
    }

    #[test]
    fn durations_order_and_add_to_instants() {
        assert!(Duration::days(4) > Duration::hours(95));
        assert_eq!(Duration::parse("P4D").ok(), Some(Duration::days(4)));
        let start = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(
            Duration::hours(25).after(start).map(|t| t.to_rfc3339()),
            Some("1970-01-02T01:00:00+00:00".into())
        );
    }

    #[test]
    fn serde_uses_the_iso_text() {
        let json = serde_json::to_string(&Duration::days(14)).ok();
        assert_eq!(json.as_deref(), Some("\"P14D\""));
        let back: Result<Duration, _> = serde_json::from_str("\"PT3H\"");
        assert_eq!(back.ok(), Some(Duration::hours(3)));
        let bad: Result<Duration, _> = serde_json::from_str("\"P1M\"");
        assert!(bad.is_err());
    }
}
