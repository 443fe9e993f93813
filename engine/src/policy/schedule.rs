//! Time shapes shared by policies, requests and assignments: `expirationPattern`,
//! `entitlementManagementSchedule` and `patternedRecurrence`, as Graph writes them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// `expirationPatternType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum ExpirationPatternType {
    /// None given. The engine reads it as [`ExpirationPatternType::NoExpiration`].
    #[default]
    NotSpecified,
    NoExpiration,
    /// Ends at `endDateTime`.
    AfterDateTime,
    /// Ends `duration` after the start.
    AfterDuration,
}

/// `expirationPattern`: when something ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationPattern {
    #[serde(rename = "type", default)]
    pub kind: ExpirationPatternType,
    #[serde(default)]
    pub end_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration: Option<Duration>,
}

impl ExpirationPattern {
    /// Never ends.
    #[must_use]
    pub fn no_expiration() -> Self {
        Self { kind: ExpirationPatternType::NoExpiration, end_date_time: None, duration: None }
    }

    /// Ends at `end`.
    #[must_use]
    pub fn after_date_time(end: DateTime<Utc>) -> Self {
        Self { kind: ExpirationPatternType::AfterDateTime, end_date_time: Some(end), duration: None }
    }

    /// Ends `duration` after the start.
    #[must_use]
    pub fn after_duration(duration: Duration) -> Self {
        Self { kind: ExpirationPatternType::AfterDuration, end_date_time: None, duration: Some(duration) }
    }

    /// When something that starts at `start` ends under this pattern; `None` when it does not
    /// end (or the pattern is incomplete, which validation refuses).
    #[must_use]
    pub fn end_for_start(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.kind {
            ExpirationPatternType::NotSpecified | ExpirationPatternType::NoExpiration => None,
            ExpirationPatternType::AfterDateTime => self.end_date_time,
            ExpirationPatternType::AfterDuration => self.duration.and_then(|d| d.after(start)),
        }
    }

    /// A phrase for explanations: `no expiration`, `ends 2025-01-01T00:00:00Z`, `after P30D`.
    #[must_use]
    pub fn describe(&self) -> String {
        match (self.kind, self.end_date_time, self.duration) {
            (ExpirationPatternType::AfterDateTime, Some(end), _) => format!("ends {}", end.to_rfc3339()),
            (ExpirationPatternType::AfterDuration, _, Some(d)) => format!("ends after {d}"),
            _ => "no expiration".to_owned(),
        }
    }
}

/// `entitlementManagementSchedule`: a start, an expiration and an optional recurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementManagementSchedule {
    #[serde(default)]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub expiration: Option<ExpirationPattern>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<PatternedRecurrence>,
}

/// `patternedRecurrence`: used by access review schedules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatternedRecurrence {
    pub pattern: RecurrencePattern,
    pub range: RecurrenceRange,
}

/// `recurrencePatternType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecurrencePatternType {
    Daily,
    Weekly,
    AbsoluteMonthly,
    RelativeMonthly,
    AbsoluteYearly,
    RelativeYearly,
}

/// `dayOfWeek`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DayOfWeek {
    Sunday,
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
}

/// `weekIndex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WeekIndex {
    First,
    Second,
    Third,
    Fourth,
    Last,
}

/// `recurrencePattern`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecurrencePattern {
    #[serde(rename = "type")]
    pub kind: RecurrencePatternType,
    #[serde(default = "one")]
    pub interval: i32,
    #[serde(default)]
    pub month: i32,
    #[serde(default)]
    pub day_of_month: i32,
    #[serde(default)]
    pub days_of_week: Vec<DayOfWeek>,
    #[serde(default)]
    pub first_day_of_week: Option<DayOfWeek>,
    #[serde(default)]
    pub index: Option<WeekIndex>,
}

fn one() -> i32 {
    1
}

/// `recurrenceRangeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecurrenceRangeType {
    EndDate,
    NoEnd,
    Numbered,
}

/// `recurrenceRange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecurrenceRange {
    #[serde(rename = "type")]
    pub kind: RecurrenceRangeType,
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    pub number_of_occurrences: i32,
    #[serde(default)]
    pub recurrence_time_zone: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_patterns_read_graph_json() {
        let json = r#"{"type":"afterDuration","duration":"P365D","endDateTime":null}"#;
        let p: Option<ExpirationPattern> = serde_json::from_str(json).ok();
        assert_eq!(p, Some(ExpirationPattern::after_duration(Duration::days(365))));
        let review = r#"{"startDateTime":"2024-01-01T00:00:00Z","expiration":{"type":"afterDuration","duration":"P14D"},
            "recurrence":{"pattern":{"type":"absoluteMonthly","interval":3},"range":{"type":"noEnd","startDate":"2024-01-01"}}}"#;
        let s: Result<EntitlementManagementSchedule, _> = serde_json::from_str(review);
        assert!(s.is_ok(), "{s:?}");
    }

    #[test]
    fn ends_follow_the_pattern() {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(ExpirationPattern::no_expiration().end_for_start(start), None);
        assert_eq!(ExpirationPattern::default().end_for_start(start), None);
        assert_eq!(
            ExpirationPattern::after_duration(Duration::hours(2)).end_for_start(start),
            Duration::hours(2).after(start)
        );
    }
}
