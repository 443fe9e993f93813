//! Access reviews of a policy's assignments (Graph's `accessReviewInstance` and
//! `accessReviewInstanceDecisionItem`), decided here: when each review of a policy's
//! `reviewSettings.schedule` runs, who reviews each assignment and what is recommended, who may
//! record which decision, and what each item's result does when the review ends. Nothing here
//! stores or waits; the caller starts a review on its timer, records decisions, and applies the
//! results it is told to.
//!
//! ```text
//! schedule ─ start time ─▶ InProgress (an item per active assignment) ─ end time, or stopped ─▶ Completed
//! Completed ─ results applied (denials removed) ─▶ Applied
//! ```
//!
//! Decisions where Graph is silent:
//! - Reviews recur weekly, monthly, quarterly, semi-annually or annually (the portal's choices):
//!   `weekly` every week, `absoluteMonthly` every 1, 3, 6 or 12 months, `absoluteYearly` every
//!   year. Each lasts the schedule's `expiration` (`afterDuration`), 14 days when none is given,
//!   and must end before the next one starts.
//! - `requestorManager` reviewers are the assignee's managers; nobody reviews their own
//!   assignment except under `isSelfReview`, where the assignee alone does.
//! - `DontKnow` keeps the access, as `Approve` does; only `NotReviewed` items follow the
//!   `expirationBehavior`.
//! - A justification, when required, is required for every decision but `NotReviewed`.

use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::approval::{DirectoryView, ResolutionSubject, ResolvedApprover, resolve_approvers};
use crate::assignment::AccessPackageAssignment;
use crate::directory::User;
use crate::duration::Duration;
use crate::error::{DomainError, Problems};
use crate::event::{Event, EventKind};
use crate::id::{AccessPackageId, AssignmentId, CatalogId, PolicyId, UserId};
use crate::policy::schedule::{RecurrencePatternType, RecurrenceRangeType};
use crate::policy::{
    AccessReviewExpirationBehavior, EntitlementManagementSchedule, ExpirationPatternType, ReviewSettings,
};
use crate::text::MAX_DESCRIPTION;
use crate::timer::{Timer, TimerKind};

/// How long a review lasts when its schedule does not say.
pub const DEFAULT_REVIEW_DAYS: u64 = 14;

/// How recent a sign-in must be for a recommendation to approve.
pub const RECENT_SIGN_IN_DAYS: i64 = 30;

/// How often a policy's reviews recur.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReviewCadence {
    Weekly,
    Monthly,
    Quarterly,
    SemiAnnual,
    Annual,
}

impl ReviewCadence {
    /// The `n`th start (0-based) after `first`.
    fn start(self, first: DateTime<Utc>, n: u32) -> Option<DateTime<Utc>> {
        let months = |m: u32| first.checked_add_months(Months::new(m.checked_mul(n)?));
        match self {
            Self::Weekly => first.checked_add_signed(TimeDelta::try_weeks(i64::from(n))?),
            Self::Monthly => months(1),
            Self::Quarterly => months(3),
            Self::SemiAnnual => months(6),
            Self::Annual => months(12),
        }
    }

    /// The shortest time between two starts.
    fn shortest_period(self) -> Duration {
        Duration::days(match self {
            Self::Weekly => 7,
            Self::Monthly => 28,
            Self::Quarterly => 89,
            Self::SemiAnnual => 181,
            Self::Annual => 365,
        })
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
            Self::SemiAnnual => "semi-annual",
            Self::Annual => "annual",
        }
    }
}

/// When a policy's reviews run: the first start, the cadence, how long each lasts, and where the
/// recurrence's range ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewPlan {
    pub first: DateTime<Utc>,
    pub cadence: ReviewCadence,
    pub duration: Duration,
    /// No review starts after this day (`endDate` ranges).
    pub last_day: Option<NaiveDate>,
    /// No more reviews than this (`numbered` ranges).
    pub occurrences: Option<u32>,
}

impl ReviewPlan {
    /// The plan of `settings`, or every problem with its path under `at`
    /// (`reviewSettings.schedule...`).
    pub fn of(schedule: &EntitlementManagementSchedule, at: &str) -> Result<Self, DomainError> {
        let mut p = Problems::default();
        let plan = plan(schedule, at, &mut p);
        p.into_result("the review schedule is invalid")?;
        plan.ok_or_else(|| DomainError::invalid(at, "the review schedule is invalid"))
    }

    /// The `n`th review's start and end (0-based); `None` past the range's end.
    #[must_use]
    pub fn occurrence(&self, n: u32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.occurrences.is_some_and(|max| n >= max) {
            return None;
        }
        let start = self.cadence.start(self.first, n)?;
        if self.last_day.is_some_and(|last| start.date_naive() > last) {
            return None;
        }
        Some((start, self.duration.after(start)?))
    }

    /// The first review that starts at or after `at`, with its number.
    #[must_use]
    pub fn next_from(&self, at: DateTime<Utc>) -> Option<(u32, DateTime<Utc>, DateTime<Utc>)> {
        let mut n = 0u32;
        loop {
            let (start, end) = self.occurrence(n)?;
            if start >= at {
                return Some((n, start, end));
            }
            n = n.checked_add(1)?;
        }
    }
}

/// Checks a review schedule, pushing each problem with its path under `at`.
pub fn check_schedule(schedule: &EntitlementManagementSchedule, at: &str, p: &mut Problems) {
    let _ = plan(schedule, at, p);
}

fn plan(schedule: &EntitlementManagementSchedule, at: &str, p: &mut Problems) -> Option<ReviewPlan> {
    let Some(first) = schedule.start_date_time else {
        p.push(format!("{at}.startDateTime"), "give when the first review starts");
        return None;
    };
    let Some(recurrence) = &schedule.recurrence else {
        p.push(
            format!("{at}.recurrence"),
            "reviews recur: give the recurrence (weekly, monthly, quarterly, semi-annual or annual)",
        );
        return None;
    };
    let pattern = &recurrence.pattern;
    let cadence = match (pattern.kind, pattern.interval) {
        (RecurrencePatternType::Weekly, 1) => Some(ReviewCadence::Weekly),
        (RecurrencePatternType::AbsoluteMonthly, 1) => Some(ReviewCadence::Monthly),
        (RecurrencePatternType::AbsoluteMonthly, 3) => Some(ReviewCadence::Quarterly),
        (RecurrencePatternType::AbsoluteMonthly, 6) => Some(ReviewCadence::SemiAnnual),
        (RecurrencePatternType::AbsoluteMonthly, 12) | (RecurrencePatternType::AbsoluteYearly, 1) => {
            Some(ReviewCadence::Annual)
        }
        (kind, interval) => {
            p.push(
                format!("{at}.recurrence.pattern"),
                format!(
                    "reviews recur weekly (`weekly`, interval 1), monthly, quarterly, semi-annually or annually \
                     (`absoluteMonthly`, interval 1, 3, 6 or 12; `absoluteYearly`, interval 1), not `{}` every {interval}",
                    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
                ),
            );
            None
        }
    };
    let range = &recurrence.range;
    let (last_day, occurrences) = match range.kind {
        RecurrenceRangeType::NoEnd => (None, None),
        RecurrenceRangeType::EndDate => match range.end_date {
            Some(end) if end >= first.date_naive() => (Some(end), None),
            Some(_) => {
                p.push(
                    format!("{at}.recurrence.range.endDate"),
                    "the range ends before the first review starts",
                );
                (None, None)
            }
            None => {
                p.push(format!("{at}.recurrence.range.endDate"), "an `endDate` range needs its end date");
                (None, None)
            }
        },
        RecurrenceRangeType::Numbered => match u32::try_from(range.number_of_occurrences) {
            Ok(n) if n > 0 => (None, Some(n)),
            _ => {
                p.push(
                    format!("{at}.recurrence.range.numberOfOccurrences"),
                    "a `numbered` range needs at least one review",
                );
                (None, None)
            }
        },
    };
    let duration = match &schedule.expiration {
        None => Duration::days(DEFAULT_REVIEW_DAYS),
        Some(e)
            if e.kind == ExpirationPatternType::AfterDuration && e.duration.is_some_and(|d| !d.is_zero()) =>
        {
            e.duration.unwrap_or_default()
        }
        Some(_) => {
            p.push(
                format!("{at}.expiration"),
                "a review lasts a duration: give `afterDuration` with its length (`P14D`)",
            );
            Duration::days(DEFAULT_REVIEW_DAYS)
        }
    };
    let cadence = cadence?;
    if duration >= cadence.shortest_period() {
        p.push(
            format!("{at}.expiration.duration"),
            format!(
                "a {} review must end before the next one starts; {duration} is too long",
                cadence.as_str()
            ),
        );
    }
    Some(ReviewPlan { first, cadence, duration, last_day, occurrences })
}

/// `accessReviewInstance.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReviewStatus {
    InProgress,
    Completed,
    Applied,
}

/// `accessReviewInstance`: one review of a policy's assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewInstance {
    pub id: String,
    pub policy_id: PolicyId,
    pub access_package_id: AccessPackageId,
    pub catalog_id: CatalogId,
    /// Which review of the schedule (0-based).
    pub occurrence: u32,
    pub start_date_time: DateTime<Utc>,
    pub end_date_time: DateTime<Utc>,
    pub status: ReviewStatus,
    /// The policy's review settings when the review started; later changes do not affect it.
    pub settings: ReviewSettings,
    /// When an administrator stopped it before its end.
    pub stopped_date_time: Option<DateTime<Utc>>,
    pub applied_date_time: Option<DateTime<Utc>>,
}

/// A reviewer's decision (`accessReviewInstanceDecisionItem.decision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum AccessReviewDecision {
    Approve,
    Deny,
    DontKnow,
    #[default]
    NotReviewed,
}

/// What the review recommends for an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Recommendation {
    Approve,
    Deny,
    NotAvailable,
}

/// `applyResult` of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum ApplyResult {
    #[default]
    New,
    /// Nothing to do (access kept), or the assignment removed.
    AppliedSuccessfully,
    /// The assignment had ended meanwhile.
    AppliedSuccessfullyButObjectNotFound,
}

/// `accessReviewInstanceDecisionItem`: one assignment under review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewDecisionItem {
    pub id: String,
    pub instance_id: String,
    pub assignment_id: AssignmentId,
    pub access_package_id: AccessPackageId,
    /// The assignee (`principal`).
    pub principal_id: UserId,
    pub principal_display_name: Option<String>,
    pub recommendation: Recommendation,
    /// Why: the assignee's last sign-in.
    pub recommendation_reason: String,
    /// Who may decide, and how each came to.
    pub reviewers: Vec<ResolvedApprover>,
    /// How the reviewers were resolved, when something was missing.
    pub notes: Vec<String>,
    pub decision: AccessReviewDecision,
    pub justification: Option<String>,
    pub reviewed_by: Option<UserId>,
    pub reviewed_date_time: Option<DateTime<Utc>>,
    pub apply_result: ApplyResult,
    pub applied_date_time: Option<DateTime<Utc>>,
}

/// An assignment to review: the assignment, its assignee, and their last successful sign-in.
#[derive(Debug, Clone, Copy)]
pub struct UnderReview<'a> {
    pub assignment: &'a AccessPackageAssignment,
    pub assignee: &'a User,
    pub last_sign_in: Option<DateTime<Utc>>,
}

/// What a review recommends for an assignee who last signed in at `last_sign_in`: approval
/// within [`RECENT_SIGN_IN_DAYS`] of `now`, denial otherwise, with the reason.
#[must_use]
pub fn recommend(
    enabled: bool,
    last_sign_in: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Recommendation, String) {
    if !enabled {
        return (Recommendation::NotAvailable, "recommendations are off for this review".into());
    }
    match last_sign_in {
        Some(at) if now - at <= TimeDelta::days(RECENT_SIGN_IN_DAYS) => (
            Recommendation::Approve,
            format!("signed in within the last {RECENT_SIGN_IN_DAYS} days (last {})", at.to_rfc3339()),
        ),
        Some(at) => (
            Recommendation::Deny,
            format!("no sign-in in the last {RECENT_SIGN_IN_DAYS} days (last {})", at.to_rfc3339()),
        ),
        None => (Recommendation::Deny, "never signed in".into()),
    }
}

/// A review starting: the instance, and an item for every assignment `under_review` (the
/// policy's assignments active now), each with its reviewers resolved from `directory` and its
/// recommendation. `ids` gives each item its id.
#[allow(clippy::too_many_arguments)]
#[must_use]
pub fn start(
    id: String,
    policy: &crate::policy::AccessPackageAssignmentPolicy,
    catalog_id: &CatalogId,
    occurrence: u32,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    under_review: &[UnderReview<'_>],
    directory: &dyn DirectoryView,
    ids: &mut dyn FnMut() -> String,
) -> (AccessReviewInstance, Vec<AccessReviewDecisionItem>) {
    let settings = policy.review_settings.clone().unwrap_or_else(|| ReviewSettings {
        is_enabled: false,
        schedule: None,
        primary_reviewers: Vec::new(),
        fallback_reviewers: Vec::new(),
        is_self_review: false,
        expiration_behavior: AccessReviewExpirationBehavior::KeepAccess,
        is_recommendation_enabled: true,
        is_reviewer_justification_required: true,
    });
    let instance = AccessReviewInstance {
        id,
        policy_id: policy.id.clone(),
        access_package_id: policy.access_package_id.clone(),
        catalog_id: catalog_id.clone(),
        occurrence,
        start_date_time: start,
        end_date_time: end,
        status: ReviewStatus::InProgress,
        settings,
        stopped_date_time: None,
        applied_date_time: None,
    };
    let items = under_review.iter().map(|r| item(&instance, r, directory, ids(), start)).collect();
    (instance, items)
}

fn item(
    instance: &AccessReviewInstance,
    r: &UnderReview<'_>,
    directory: &dyn DirectoryView,
    id: String,
    now: DateTime<Utc>,
) -> AccessReviewDecisionItem {
    let settings = &instance.settings;
    let (reviewers, notes) = if settings.is_self_review {
        let me = ResolvedApprover {
            id: r.assignee.id.to_string(),
            display_name: r.assignee.display_name.clone(),
            via: "self-review".into(),
        };
        (vec![me], Vec::new())
    } else {
        let subject = ResolutionSubject { requestor_id: None, target: r.assignee };
        let resolved = resolve_approvers(
            &settings.primary_reviewers,
            &settings.fallback_reviewers,
            "primary",
            &subject,
            directory,
        );
        let notes = resolved
            .notes
            .iter()
            .map(|n| n.replace("approver", "reviewer").replace("approves", "reviews"))
            .collect();
        (resolved.approvers, notes)
    };
    let (recommendation, recommendation_reason) =
        recommend(settings.is_recommendation_enabled, r.last_sign_in, now);
    AccessReviewDecisionItem {
        id,
        instance_id: instance.id.clone(),
        assignment_id: r.assignment.id.clone(),
        access_package_id: r.assignment.access_package_id.clone(),
        principal_id: r.assignee.id.clone(),
        principal_display_name: r.assignee.display_name.clone(),
        recommendation,
        recommendation_reason,
        reviewers,
        notes,
        decision: AccessReviewDecision::NotReviewed,
        justification: None,
        reviewed_by: None,
        reviewed_date_time: None,
        apply_result: ApplyResult::New,
        applied_date_time: None,
    }
}

impl AccessReviewInstance {
    /// Whether decisions may be recorded at `now`.
    #[must_use]
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.status == ReviewStatus::InProgress && now < self.end_date_time
    }

    /// Stopped early by an administrator: `Completed` now.
    pub fn stop(&self, now: DateTime<Utc>) -> Result<Self, DomainError> {
        if self.status != ReviewStatus::InProgress {
            return Err(DomainError::conflict(format!("review `{}` has already ended", self.id)));
        }
        Ok(Self {
            status: ReviewStatus::Completed,
            stopped_date_time: Some(now),
            end_date_time: now.min(self.end_date_time),
            ..self.clone()
        })
    }

    /// Its end time reached: `Completed`; unchanged when it already ended.
    #[must_use]
    pub fn complete(&self) -> Self {
        match self.status {
            ReviewStatus::InProgress => Self { status: ReviewStatus::Completed, ..self.clone() },
            _ => self.clone(),
        }
    }

    /// Every item's result applied.
    #[must_use]
    pub fn applied(&self, now: DateTime<Utc>) -> Self {
        Self { status: ReviewStatus::Applied, applied_date_time: Some(now), ..self.clone() }
    }
}

/// What an item's result does to its assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    Keep,
    Remove,
}

impl AccessReviewDecisionItem {
    /// Whether `user_id` may decide this item.
    #[must_use]
    pub fn is_reviewer(&self, user_id: &str) -> bool {
        self.reviewers.iter().any(|r| r.id == user_id)
    }

    /// `reviewer` records `decision` (with `justification`) at `now`, replacing an earlier one
    /// while the review is open. `FORBIDDEN` for someone who is not a reviewer of the item,
    /// `CONFLICT` once the review ended, `VALIDATION_FAILED` for a missing or too long
    /// justification or a `NotReviewed` decision.
    pub fn decide(
        &self,
        instance: &AccessReviewInstance,
        reviewer: &UserId,
        decision: AccessReviewDecision,
        justification: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        if !self.is_reviewer(reviewer) {
            return Err(DomainError::forbidden(format!(
                "you are not a reviewer of `{}`'s access in review `{}`",
                self.principal_display_name.as_deref().unwrap_or(&self.principal_id),
                instance.id
            )));
        }
        if !instance.is_open(now) {
            return Err(DomainError::conflict(format!(
                "review `{}` ended at {}; its decisions can no longer change",
                instance.id,
                instance.end_date_time.to_rfc3339()
            )));
        }
        let justification = justification.map(str::trim).filter(|j| !j.is_empty());
        let mut p = Problems::default();
        if decision == AccessReviewDecision::NotReviewed {
            p.push("decision", "decide `Approve`, `Deny` or `DontKnow`");
        }
        if instance.settings.is_reviewer_justification_required && justification.is_none() {
            p.push("justification", "this review requires a justification for each decision");
        }
        if justification.is_some_and(|j| j.chars().count() > MAX_DESCRIPTION) {
            p.push("justification", format!("a justification is at most {MAX_DESCRIPTION} characters"));
        }
        p.into_result("the decision is invalid")?;
        Ok(Self {
            decision,
            justification: justification.map(str::to_owned),
            reviewed_by: Some(reviewer.clone()),
            reviewed_date_time: Some(now),
            ..self.clone()
        })
    }

    /// What the item's result does when its review ends: a denial removes the access; an item
    /// nobody reviewed follows `behavior`; approval and `DontKnow` keep it.
    #[must_use]
    pub fn outcome(&self, behavior: AccessReviewExpirationBehavior) -> ItemOutcome {
        match (self.decision, behavior) {
            (AccessReviewDecision::Deny, _)
            | (AccessReviewDecision::NotReviewed, AccessReviewExpirationBehavior::RemoveAccess) => {
                ItemOutcome::Remove
            }
            (
                AccessReviewDecision::NotReviewed,
                AccessReviewExpirationBehavior::AcceptAccessRecommendation,
            ) if self.recommendation == Recommendation::Deny => ItemOutcome::Remove,
            _ => ItemOutcome::Keep,
        }
    }

    /// Why the item's result is what it is, for the removal request's justification and the
    /// audit trail.
    #[must_use]
    pub fn reason(&self, behavior: AccessReviewExpirationBehavior) -> String {
        let who = self.principal_display_name.as_deref().unwrap_or(&self.principal_id);
        match (self.decision, self.outcome(behavior)) {
            (AccessReviewDecision::Deny, _) => format!("`{who}`'s access was denied at review"),
            (AccessReviewDecision::NotReviewed, ItemOutcome::Remove) => format!(
                "nobody reviewed `{who}`'s access, and the review removes what is not reviewed{}",
                if behavior == AccessReviewExpirationBehavior::AcceptAccessRecommendation {
                    format!(" by its recommendation ({})", self.recommendation_reason)
                } else {
                    String::new()
                }
            ),
            (AccessReviewDecision::NotReviewed, ItemOutcome::Keep) => {
                format!("nobody reviewed `{who}`'s access; it is kept")
            }
            _ => format!("`{who}`'s access was kept at review"),
        }
    }

    /// The item's result applied at `now`: `found` is whether its assignment was still active.
    #[must_use]
    pub fn applied(&self, found: bool, now: DateTime<Utc>) -> Self {
        Self {
            apply_result: if found {
                ApplyResult::AppliedSuccessfully
            } else {
                ApplyResult::AppliedSuccessfullyButObjectNotFound
            },
            applied_date_time: Some(now),
            ..self.clone()
        }
    }
}

/// The first review a policy's schedule runs at or after `now`, for a policy with reviews
/// enabled; `None` otherwise.
#[must_use]
pub fn next_review(
    settings: Option<&ReviewSettings>,
    now: DateTime<Utc>,
) -> Option<(u32, DateTime<Utc>, DateTime<Utc>)> {
    let settings = settings.filter(|s| s.is_enabled)?;
    let plan = ReviewPlan::of(settings.schedule.as_ref()?, "reviewSettings.schedule").ok()?;
    plan.next_from(now)
}

/// The namespace of review instance ids (a UUID v5 of the policy and the occurrence).
const INSTANCE_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x2f4e_8a11_6c3d_4b7a_9e05_d1c2_b3a4_f5e6);

/// The id of a policy's `occurrence`th review: one per occurrence, however often its start fires.
#[must_use]
pub fn instance_id(policy_id: &PolicyId, occurrence: u32) -> String {
    uuid::Uuid::new_v5(&INSTANCE_NAMESPACE, format!("{policy_id}#{occurrence}").as_bytes()).to_string()
}

/// A policy's review timers before any review ran, or after its settings changed at `now`:
/// the start of the next review, if reviews are enabled and one is left.
#[must_use]
pub fn waiting_timers(settings: Option<&ReviewSettings>, now: DateTime<Utc>) -> Vec<Timer> {
    next_review(settings, now)
        .map(|(occurrence, start, _)| Timer::new(start, TimerKind::ReviewStart { occurrence }))
        .into_iter()
        .collect()
}

/// A policy's review timers once its `occurrence`th review started at `start` and ends at
/// `end`: a day before the end (when the review lasts longer than a day), the end, and the next
/// review's start if one is left.
#[must_use]
pub fn running_timers(
    plan: &ReviewPlan,
    occurrence: u32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Timer> {
    let mut timers = Vec::new();
    if let Some(ending) = end.checked_sub_signed(TimeDelta::days(1)).filter(|at| *at > start) {
        timers.push(Timer::new(ending, TimerKind::ReviewEnding { occurrence }));
    }
    timers.push(Timer::new(end, TimerKind::ReviewEnd { occurrence }));
    if let Some((next, at, _)) =
        occurrence.checked_add(1).and_then(|n| plan.occurrence(n).map(|o| (n, o.0, o.1)))
    {
        timers.push(Timer::new(at, TimerKind::ReviewStart { occurrence: next }));
    }
    timers
}

/// The reviewers of `items` (of those not decided yet, with `pending`), each once, in order.
#[must_use]
pub fn reviewers_of(items: &[AccessReviewDecisionItem], pending: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items.iter().filter(|i| !pending || i.decision == AccessReviewDecision::NotReviewed) {
        for reviewer in &item.reviewers {
            if !out.contains(&reviewer.id) {
                out.push(reviewer.id.clone());
            }
        }
    }
    out
}

/// The event of a review's step, addressed to `audience`, carrying the instance.
#[must_use]
pub fn event(
    id: String,
    kind: EventKind,
    actor: &Actor,
    instance: &AccessReviewInstance,
    audience: Vec<String>,
    reason: String,
    now: DateTime<Utc>,
) -> Event {
    let mut event = Event::new(id, kind, actor, now, "AccessReviewInstance", &instance.id)
        .in_catalog(&instance.catalog_id)
        .for_package(&instance.access_package_id)
        .with_reason(reason)
        .with_data(serde_json::json!({ "instance": instance }));
    event.audience = audience;
    event
}

#[cfg(test)]
mod tests;
