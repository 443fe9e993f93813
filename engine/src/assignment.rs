//! Assignments: an access package held by one user for a time (`accessPackageAssignment`), the
//! schedule it runs on, and the resource grants it delivers and revokes.
//!
//! - [`assignment_schedule`] computes when an assignment starts and ends from the policy's
//!   expiration and the requested schedule, clamped to what the policy allows.
//! - [`delivery_plan`] lists the [`Grant`]s an assignment delivers: one per resource role scope of
//!   the package (group member or owner, app role, site role, directory role eligible or active).
//! - [`revocations`] lists what to take away when an assignment ends: every grant it delivered,
//!   except those another active assignment of the same user still delivers. A user who held a
//!   role before being assigned loses it too, as in Entra.
//!
//! States follow Graph: `delivering` → `delivered` | `partiallyDelivered` | `deliveryFailed`, and
//! `expired` at the end. The `status` string adds `NearExpiry1DayNotificationTriggered` the day
//! before the end.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::access_package::AccessPackageResourceRoleScope;
use crate::error::{DomainError, ErrorCode};
use crate::id::{AccessPackageId, AssignmentId, CatalogId, PolicyId, UserId};
use crate::policy::{EntitlementManagementSchedule, ExpirationPattern, ExpirationPatternType};
use crate::resource::{AccessPackageResource, AccessPackageResourceRole, OriginSystem};
use crate::timer::{Timer, TimerKind};

/// `accessPackageAssignmentState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccessPackageAssignmentState {
    Delivering,
    PartiallyDelivered,
    Delivered,
    Expired,
    DeliveryFailed,
}

/// The finer `status` string of an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AssignmentStatus {
    Delivering,
    Delivered,
    PartiallyDelivered,
    DeliveryFailed,
    NearExpiry1DayNotificationTriggered,
    Expired,
}

impl AssignmentStatus {
    /// Graph's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivering => "Delivering",
            Self::Delivered => "Delivered",
            Self::PartiallyDelivered => "PartiallyDelivered",
            Self::DeliveryFailed => "DeliveryFailed",
            Self::NearExpiry1DayNotificationTriggered => "NearExpiry1DayNotificationTriggered",
            Self::Expired => "Expired",
        }
    }
}

/// One resource role delivered to the assignment's target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Grant {
    /// Member of a group.
    GroupMember { group_id: String },
    /// Owner of a group.
    GroupOwner { group_id: String },
    /// An app role of an application (`appRoleId` Default Access is the all-zero id).
    AppRole { application_id: String, app_role_id: String },
    /// A role (site group) of a SharePoint site.
    SiteRole { site_id: String, role_id: String },
    /// An eligible assignment of a directory role.
    DirectoryRoleEligible { directory_role_id: String },
    /// An active assignment of a directory role.
    DirectoryRoleActive { directory_role_id: String },
}

impl Grant {
    /// The grant a resource role delivers; `None` for a role the engine does not know how to deliver.
    #[must_use]
    pub fn for_role(resource: &AccessPackageResource, role: &AccessPackageResourceRole) -> Option<Self> {
        let object = resource.object_id.clone();
        match resource.origin_system {
            OriginSystem::AadGroup => {
                let kind = role.origin_id.split('_').next().unwrap_or_default();
                if kind.eq_ignore_ascii_case("Member") {
                    Some(Self::GroupMember { group_id: object })
                } else if kind.eq_ignore_ascii_case("Owner") {
                    Some(Self::GroupOwner { group_id: object })
                } else {
                    None
                }
            }
            OriginSystem::AadApplication => {
                Some(Self::AppRole { application_id: object, app_role_id: role.origin_id.clone() })
            }
            OriginSystem::SharePointOnline => {
                Some(Self::SiteRole { site_id: object, role_id: role.origin_id.clone() })
            }
            OriginSystem::DirectoryRole => {
                if role.origin_id.eq_ignore_ascii_case("Eligible") {
                    Some(Self::DirectoryRoleEligible { directory_role_id: object })
                } else if role.origin_id.eq_ignore_ascii_case("Active") {
                    Some(Self::DirectoryRoleActive { directory_role_id: object })
                } else {
                    None
                }
            }
        }
    }

    /// A phrase for explanations: ``member of group `g` ``.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::GroupMember { group_id } => format!("member of group `{group_id}`"),
            Self::GroupOwner { group_id } => format!("owner of group `{group_id}`"),
            Self::AppRole { application_id, app_role_id } => {
                format!("app role `{app_role_id}` of application `{application_id}`")
            }
            Self::SiteRole { site_id, role_id } => format!("role `{role_id}` of site `{site_id}`"),
            Self::DirectoryRoleEligible { directory_role_id } => {
                format!("eligible for directory role `{directory_role_id}`")
            }
            Self::DirectoryRoleActive { directory_role_id } => {
                format!("active in directory role `{directory_role_id}`")
            }
        }
    }
}

/// What an assignment of a package delivers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPlan {
    /// Sorted, without duplicates.
    pub grants: Vec<Grant>,
    /// Role scopes that could not be turned into a grant, and why. Their delivery fails.
    pub unresolved: Vec<String>,
}

/// The grants the package's role scopes deliver, given the catalog resources they point to.
#[must_use]
pub fn delivery_plan(
    role_scopes: &[AccessPackageResourceRoleScope],
    resources: &[AccessPackageResource],
) -> DeliveryPlan {
    let mut grants = BTreeSet::new();
    let mut unresolved = Vec::new();
    for scope in role_scopes {
        let Some(resource) = resources.iter().find(|r| r.id == scope.resource_id) else {
            unresolved.push(format!(
                "role scope `{}`: resource `{}` is not in the catalog",
                scope.id, scope.resource_id
            ));
            continue;
        };
        let Some(role) = resource.role(&scope.role_id) else {
            unresolved.push(format!(
                "role scope `{}`: resource `{}` has no role `{}`",
                scope.id, resource.display_name, scope.role_id
            ));
            continue;
        };
        match Grant::for_role(resource, role) {
            Some(grant) => {
                grants.insert(grant);
            }
            None => unresolved.push(format!(
                "role scope `{}`: role `{}` of `{}` cannot be delivered",
                scope.id, role.origin_id, resource.display_name
            )),
        }
    }
    DeliveryPlan { grants: grants.into_iter().collect(), unresolved }
}

/// A grant kept when an assignment ends, because other assignments still deliver it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptGrant {
    pub grant: Grant,
    /// The ids of the assignments that still deliver it.
    pub held_by: Vec<AssignmentId>,
}

/// What to take away when an assignment ends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevocationPlan {
    pub revoke: Vec<Grant>,
    pub keep: Vec<KeptGrant>,
}

/// The grants of `ending` to revoke: all it delivered, except those another of `others` (the
/// target's other assignments, of any package) still delivers. Expired assignments and
/// `ending` itself, if listed, do not count.
#[must_use]
pub fn revocations(ending: &AccessPackageAssignment, others: &[AccessPackageAssignment]) -> RevocationPlan {
    let mut held: BTreeMap<&Grant, Vec<AssignmentId>> = BTreeMap::new();
    for other in
        others.iter().filter(|o| o.id != ending.id && o.target_id == ending.target_id && o.is_active())
    {
        for grant in &other.delivered_grants {
            held.entry(grant).or_default().push(other.id.clone());
        }
    }
    let mut plan = RevocationPlan::default();
    let ending_grants: BTreeSet<&Grant> = ending.delivered_grants.iter().collect();
    for grant in ending_grants {
        match held.get(grant) {
            Some(ids) => plan.keep.push(KeptGrant { grant: grant.clone(), held_by: ids.clone() }),
            None => plan.revoke.push(grant.clone()),
        }
    }
    plan
}

/// The result of delivering grants, reported by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOutcome {
    pub delivered: Vec<Grant>,
    pub failed: Vec<FailedGrant>,
}

/// A grant that could not be delivered (or revoked), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedGrant {
    pub grant: Option<Grant>,
    pub error: String,
}

impl DeliveryOutcome {
    /// Everything in the plan delivered.
    #[must_use]
    pub fn all(plan: &DeliveryPlan) -> Self {
        let failed = plan.unresolved.iter().map(|u| FailedGrant { grant: None, error: u.clone() }).collect();
        Self { delivered: plan.grants.clone(), failed }
    }

    /// How the outcome reads as a state: all, some or none delivered. Nothing to deliver and
    /// nothing failed is a full delivery.
    #[must_use]
    pub fn state(&self) -> AccessPackageAssignmentState {
        match (self.delivered.is_empty(), self.failed.is_empty()) {
            (_, true) => AccessPackageAssignmentState::Delivered,
            (true, false) => AccessPackageAssignmentState::DeliveryFailed,
            (false, false) => AccessPackageAssignmentState::PartiallyDelivered,
        }
    }
}

/// When an assignment runs, and what was adjusted to fit the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDecision {
    /// `startDateTime` set; `expiration` is `afterDateTime` with the end, or `noExpiration`.
    pub schedule: EntitlementManagementSchedule,
    /// What was clamped or defaulted, for the explanation.
    pub notes: Vec<String>,
}

impl ScheduleDecision {
    /// The end, if the assignment ends.
    #[must_use]
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.schedule.expiration.as_ref().and_then(|e| e.end_date_time)
    }
}

/// Computes an assignment's schedule at `now`: it starts at the requested start (or now, when
/// none or a past one is requested), and ends at the earlier of the requested end and the end the
/// policy allows (`afterDuration` counts from the start; `afterDateTime` is fixed).
pub fn assignment_schedule(
    policy_expiration: &ExpirationPattern,
    requested: Option<&EntitlementManagementSchedule>,
    now: DateTime<Utc>,
) -> Result<ScheduleDecision, DomainError> {
    let mut notes = Vec::new();
    let start = match requested.and_then(|s| s.start_date_time) {
        Some(start) if start > now => start,
        Some(start) => {
            if start < now {
                notes.push(format!(
                    "the requested start {} has passed; access starts now",
                    start.to_rfc3339()
                ));
            }
            now
        }
        None => now,
    };
    let policy_end = policy_expiration.end_for_start(start);
    if let Some(end) = policy_end
        && end <= start
    {
        return Err(DomainError::invalid(
            "schedule.startDateTime",
            format!("the policy's assignments end at {}, before access would start", end.to_rfc3339()),
        ));
    }
    let requested_end = requested.and_then(|s| s.expiration.as_ref()).and_then(|e| e.end_for_start(start));
    if let Some(end) = requested_end
        && end <= start
    {
        return Err(DomainError::invalid(
            "schedule.expiration",
            format!("the requested end {} is not after the start {}", end.to_rfc3339(), start.to_rfc3339()),
        ));
    }
    let end = match (policy_end, requested_end) {
        (Some(policy), Some(wanted)) if wanted > policy => {
            notes.push(format!(
                "the requested end {} is later than the policy allows ({}); access ends {}",
                wanted.to_rfc3339(),
                policy_expiration.describe(),
                policy.to_rfc3339()
            ));
            Some(policy)
        }
        (_, Some(wanted)) => Some(wanted),
        (policy, None) => policy,
    };
    let expiration = end.map_or_else(ExpirationPattern::no_expiration, ExpirationPattern::after_date_time);
    Ok(ScheduleDecision {
        schedule: EntitlementManagementSchedule {
            start_date_time: Some(start),
            expiration: Some(expiration),
            recurrence: None,
        },
        notes,
    })
}

/// An access package assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageAssignment {
    pub id: AssignmentId,
    pub access_package_id: AccessPackageId,
    pub assignment_policy_id: PolicyId,
    pub catalog_id: CatalogId,
    /// The user who holds the access.
    pub target_id: UserId,
    pub state: AccessPackageAssignmentState,
    pub status: AssignmentStatus,
    pub schedule: EntitlementManagementSchedule,
    pub expired_date_time: Option<DateTime<Utc>>,
    /// The grants actually delivered (beta's `accessPackageAssignmentResourceRoles`), which are
    /// what revocation takes away.
    #[serde(default)]
    pub delivered_grants: Vec<Grant>,
    /// Whether its holder was reminded 14 days before its end (for the end it has now).
    #[serde(default)]
    pub reminded_14_days_before_end: bool,
}

/// How many days before an assignment's end its holder is first reminded.
pub const FIRST_REMINDER_DAYS: i64 = 14;

/// What an assignment needs when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    pub id: AssignmentId,
    pub access_package_id: AccessPackageId,
    pub assignment_policy_id: PolicyId,
    pub catalog_id: CatalogId,
    pub target_id: UserId,
    pub schedule: EntitlementManagementSchedule,
}

impl AccessPackageAssignment {
    /// A new assignment, delivering.
    #[must_use]
    pub fn new(input: NewAssignment) -> Self {
        Self {
            id: input.id,
            access_package_id: input.access_package_id,
            assignment_policy_id: input.assignment_policy_id,
            catalog_id: input.catalog_id,
            target_id: input.target_id,
            state: AccessPackageAssignmentState::Delivering,
            status: AssignmentStatus::Delivering,
            schedule: input.schedule,
            expired_date_time: None,
            delivered_grants: Vec::new(),
            reminded_14_days_before_end: false,
        }
    }

    /// Whether the assignment still gives access (any state but `expired`).
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.state != AccessPackageAssignmentState::Expired
    }

    /// When the assignment ends, if it does.
    #[must_use]
    pub fn end_date_time(&self) -> Option<DateTime<Utc>> {
        self.schedule.expiration.as_ref().and_then(|e| match e.kind {
            ExpirationPatternType::AfterDateTime => e.end_date_time,
            ExpirationPatternType::AfterDuration => {
                self.schedule.start_date_time.and_then(|s| e.end_for_start(s))
            }
            ExpirationPatternType::NoExpiration | ExpirationPatternType::NotSpecified => None,
        })
    }

    /// Records a delivery: the grants delivered join those delivered before; the state says
    /// whether everything arrived.
    #[must_use]
    pub fn record_delivery(&self, outcome: &DeliveryOutcome) -> Self {
        let mut grants: BTreeSet<Grant> = self.delivered_grants.iter().cloned().collect();
        grants.extend(outcome.delivered.iter().cloned());
        let state = outcome.state();
        let status = match state {
            AccessPackageAssignmentState::Delivered => AssignmentStatus::Delivered,
            AccessPackageAssignmentState::PartiallyDelivered => AssignmentStatus::PartiallyDelivered,
            _ => AssignmentStatus::DeliveryFailed,
        };
        Self { state, status, delivered_grants: grants.into_iter().collect(), ..self.clone() }
    }

    /// Extends (or shortens) the assignment: a new expiration, the start kept.
    #[must_use]
    pub fn extend(&self, expiration: ExpirationPattern) -> Self {
        let mut next = self.clone();
        next.schedule.expiration = Some(expiration);
        next.reminded_14_days_before_end = false;
        if next.status == AssignmentStatus::NearExpiry1DayNotificationTriggered {
            next.status = AssignmentStatus::Delivered;
        }
        next
    }

    /// Ends the assignment at `now`, and plans the revocation of what it delivered that none of
    /// `others` still delivers.
    pub fn end(
        &self,
        others: &[AccessPackageAssignment],
        now: DateTime<Utc>,
    ) -> Result<(Self, RevocationPlan), DomainError> {
        if !self.is_active() {
            return Err(DomainError::new(
                ErrorCode::Conflict,
                format!("assignment `{}` has already expired", self.id),
            ));
        }
        let plan = revocations(self, others);
        let ended = Self {
            state: AccessPackageAssignmentState::Expired,
            status: AssignmentStatus::Expired,
            expired_date_time: Some(now),
            ..self.clone()
        };
        Ok((ended, plan))
    }

    /// The timers the assignment has: the reminder 14 days before the end, the day-before
    /// notice and the end.
    #[must_use]
    pub fn timers(&self) -> Vec<Timer> {
        let Some(end) = self.end_date_time().filter(|_| self.is_active()) else { return Vec::new() };
        let mut timers = Vec::new();
        if !self.reminded_14_days_before_end
            && self.status != AssignmentStatus::NearExpiry1DayNotificationTriggered
            && let Some(reminder) = end.checked_sub_signed(TimeDelta::days(FIRST_REMINDER_DAYS))
            && self.schedule.start_date_time.is_none_or(|s| reminder > s)
        {
            timers.push(Timer::new(reminder, TimerKind::AssignmentExpiryReminder));
        }
        if self.status != AssignmentStatus::NearExpiry1DayNotificationTriggered
            && let Some(notice) = end.checked_sub_signed(TimeDelta::days(1))
            && self.schedule.start_date_time.is_none_or(|s| notice > s)
        {
            timers.push(Timer::new(notice, TimerKind::AssignmentNearExpiry));
        }
        timers.push(Timer::new(end, TimerKind::AssignmentExpiration));
        timers
    }

    /// Handles a due timer: the notice sets the status; the end expires the assignment and plans
    /// its revocations. A stale timer (the assignment was extended or ended) changes nothing.
    pub fn on_timer(
        &self,
        timer: &Timer,
        others: &[AccessPackageAssignment],
        now: DateTime<Utc>,
    ) -> Result<(Self, Option<RevocationPlan>), DomainError> {
        if timer.due > now {
            return Err(DomainError::conflict(format!(
                "the timer is due at {}, not yet",
                timer.due.to_rfc3339()
            )));
        }
        if !matches!(
            timer.kind,
            TimerKind::AssignmentExpiryReminder
                | TimerKind::AssignmentNearExpiry
                | TimerKind::AssignmentExpiration
        ) {
            return Err(DomainError::invalid("timer", "this timer belongs to a request, not an assignment"));
        }
        if !self.timers().contains(timer) {
            return Ok((self.clone(), None));
        }
        match timer.kind {
            TimerKind::AssignmentExpiryReminder => {
                Ok((Self { reminded_14_days_before_end: true, ..self.clone() }, None))
            }
            TimerKind::AssignmentNearExpiry => Ok((
                Self { status: AssignmentStatus::NearExpiry1DayNotificationTriggered, ..self.clone() },
                None,
            )),
            TimerKind::AssignmentExpiration => {
                let (ended, plan) = self.end(others, now)?;
                Ok((ended, Some(plan)))
            }
            _ => Err(DomainError::invalid("timer", "this timer belongs to a request, not an assignment")),
        }
    }
}

#[cfg(test)]
mod tests;
