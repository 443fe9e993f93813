//! Timers as data. The engine never waits: a decision that must happen later (a stage times out,
//! a stage escalates, a scheduled request starts, an assignment expires) comes back as a
//! [`Timer`], which the caller stores durably with the object and hands back when it is due.
//!
//! Every transition returns the complete set of timers its object has afterwards; the caller
//! replaces the stored set with it. A timer that fires after its object moved on is stale and
//! changes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Something to do at `due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timer {
    pub due: DateTime<Utc>,
    pub kind: TimerKind,
}

/// What a timer does, and to which stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TimerKind {
    /// A request's approval stage (0-based) reaches `durationBeforeAutomaticDenial`: it is denied.
    ApprovalTimeout { stage: usize },
    /// A request's approval stage reaches `durationBeforeEscalation`: the alternate approvers join.
    ApprovalEscalation { stage: usize },
    /// A scheduled request reaches its `startDateTime`: delivery starts.
    ScheduledStart,
    /// An assignment is 14 days from its end: its holder is reminded (as Entra notifies).
    AssignmentExpiryReminder,
    /// An assignment is one day from its end (status `NearExpiry1DayNotificationTriggered`).
    AssignmentNearExpiry,
    /// An assignment reaches its end: it expires and its access is removed.
    AssignmentExpiration,
    /// The grace period of an auto-assignment policy ends for a user who left its scope: the
    /// assignment is removed if they still do not match (see [`crate::auto`]).
    ScopeRemoval,
    /// A guest entitlement management blocked after their last assignment ended reaches the
    /// tenant's `durationUntilExternalUserDeletedAfterBlocked`: they are deleted (see
    /// [`crate::guest`]).
    GuestDeletion,
    /// The `occurrence`th review of a policy starts (see [`crate::review`]).
    ReviewStart { occurrence: u32 },
    /// A day before the `occurrence`th review of a policy ends: its reviewers are reminded.
    ReviewEnding { occurrence: u32 },
    /// The `occurrence`th review of a policy ends: its results are applied.
    ReviewEnd { occurrence: u32 },
    /// A request waiting for a launch-and-wait custom extension's callback stops waiting: it fails
    /// (see [`crate::extension`]).
    CallbackTimeout,
}

impl Timer {
    /// A timer of `kind` due at `due`.
    #[must_use]
    pub fn new(due: DateTime<Utc>, kind: TimerKind) -> Self {
        Self { due, kind }
    }
}
