//! The whole change a request's transition makes, decided here: the request and the assignments
//! to write (each with the version it was decided on), the grants to deliver and take away, the
//! timers afterwards, and the events it tells. The caller loads what this reads, commits the
//! [`Change`] in one transaction, and takes the step after the commit; it interprets nothing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::events::{self, Stamp};
use super::{AccessPackageAssignmentRequest, Effect, Transition};
use crate::access_package::AccessPackage;
use crate::assignment::{AccessPackageAssignment, DeliveryOutcome, DeliveryPlan, FailedGrant, Grant};
use crate::error::DomainError;
use crate::event::Event;
use crate::extension::{Callout, CustomExtensionStage, StageExtension};
use crate::guest::GuestWrite;
use crate::id::{AssignmentId, UserId};
use crate::timer::{Timer, TimerKind};

/// Whose timers a change writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerOwner {
    Request,
    Assignment,
    /// An auto-assignment policy's removal of an assignment after its grace period; the owner id
    /// is `<assignment id>#scope`.
    Scope,
    /// A guest's deletion; the owner id is `<user id>#guest` (see [`crate::guest`]).
    Guest,
    /// A policy's access reviews; the owner id is `<policy id>#review` (see [`crate::review`]).
    Review,
}

impl TimerOwner {
    /// Every kind of owner.
    pub const ALL: [Self; 5] = [Self::Request, Self::Assignment, Self::Scope, Self::Guest, Self::Review];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Assignment => "assignment",
            Self::Scope => "scope",
            Self::Guest => "guest",
            Self::Review => "review",
        }
    }
}

/// Everything one change to a target's requests and assignments writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// The user whose requests and assignments change.
    pub target_id: UserId,
    /// The target's version the change was decided on.
    pub target_version: u64,
    /// Requests to write, each with the version it was read at (`None`: a new request).
    pub requests: Vec<(AccessPackageAssignmentRequest, Option<u64>)>,
    /// Assignments to write, each with the version it was read at (`None`: a new assignment).
    pub assignments: Vec<(AccessPackageAssignment, Option<u64>)>,
    /// The complete timers of each request or assignment written.
    pub timers: Vec<(TimerOwner, String, Vec<Timer>)>,
    /// Grants to deliver to the target: `(assignment id, grant)`.
    pub deliver: Vec<(AssignmentId, Grant)>,
    /// Grants an assignment stops delivering: `(assignment id, grant, take it from the target)`;
    /// `false` when another assignment still delivers it.
    pub revoke: Vec<(AssignmentId, Grant, bool)>,
    /// The target as a guest entitlement management invites, blocks or unblocks with this change
    /// (see [`crate::guest`]).
    pub guest: Option<GuestWrite>,
    /// Custom extension calls the change makes: written with it, sent after it commits.
    pub callouts: Vec<Callout>,
}

impl Change {
    #[must_use]
    pub fn new(target_id: &UserId, target_version: u64) -> Self {
        Self { target_id: target_id.clone(), target_version, ..Self::default() }
    }
}

/// An assignment the target holds, with the version it was read at.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    pub assignment: &'a AccessPackageAssignment,
    pub version: u64,
}

/// What delivering an access package's assignment needs: the package, what it delivers, and the
/// grants whose group, application, site or role no longer exists.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub package: &'a AccessPackage,
    pub plan: &'a DeliveryPlan,
    pub missing: &'a BTreeSet<Grant>,
}

impl Delivery<'_> {
    /// Adds the grants of the package that can be delivered to `change`, and reports the
    /// outcome: a grant whose group, application, site or role no longer exists fails.
    pub fn deliver(&self, assignment: &AccessPackageAssignment, change: &mut Change) -> DeliveryOutcome {
        let mut outcome = DeliveryOutcome::default();
        for problem in &self.plan.unresolved {
            outcome.failed.push(FailedGrant { grant: None, error: problem.clone() });
        }
        for grant in &self.plan.grants {
            if self.missing.contains(grant) {
                outcome.failed.push(FailedGrant {
                    grant: Some(grant.clone()),
                    error: format!("{} no longer exists in the directory", grant_object(grant)),
                });
            } else {
                change.deliver.push((assignment.id.clone(), grant.clone()));
                outcome.delivered.push(grant.clone());
            }
        }
        outcome
    }
}

/// A transition carried out: the change to commit, its events, and the request after it.
#[derive(Debug, Clone)]
pub struct Realized {
    pub change: Change,
    pub events: Vec<Event>,
    pub request: AccessPackageAssignmentRequest,
}

/// The whole change a transition of a request (at `before`, with its version; `None` when it is
/// being submitted) makes for its target, who holds `held` at `target_version`: each effect
/// carried out (an assignment created and delivered, delivered again, extended or ended, what
/// it grants delivered or taken away unless another assignment still grants it), the request's
/// outcome recorded, every timer, and the events.
pub fn realize(
    before: Option<(&AccessPackageAssignmentRequest, u64)>,
    transition: Transition,
    target_version: u64,
    held: &[Held<'_>],
    delivery: &Delivery<'_>,
    stamp: &Stamp<'_>,
    now: DateTime<Utc>,
) -> Result<Realized, DomainError> {
    let package = delivery.package;
    let name = Some(package.display_name.as_str());
    let Transition { mut request, effects, mut timers, .. } = transition;
    let mut change = Change::new(&request.target_id, target_version);
    let mut told = Vec::new();
    let others = |except: &str| -> Vec<AccessPackageAssignment> {
        held.iter().filter(|h| h.assignment.id != except).map(|h| h.assignment.clone()).collect()
    };
    let existing = |id: &str| held.iter().find(|h| h.assignment.id == id).copied();
    for effect in effects {
        let (outcome, previous, next) = match effect {
            Effect::CreateAssignment { assignment } => {
                let outcome = delivery.deliver(&assignment, &mut change);
                (outcome, None, *assignment)
            }
            Effect::Deliver { assignment_id } => {
                let Some(held) = existing(&assignment_id) else {
                    let t = request.record_delivery(
                        &failed(format!("assignment `{assignment_id}` no longer exists")),
                        now,
                    )?;
                    (request, timers) = (t.request, t.timers);
                    continue;
                };
                let outcome = delivery.deliver(held.assignment, &mut change);
                (outcome, Some(held), held.assignment.clone())
            }
            Effect::ExtendAssignment { assignment_id, expiration } => {
                let Some(held) = existing(&assignment_id) else {
                    let t = request.record_delivery(
                        &failed(format!("assignment `{assignment_id}` is no longer active")),
                        now,
                    )?;
                    (request, timers) = (t.request, t.timers);
                    continue;
                };
                let next = held.assignment.extend(expiration);
                let outcome =
                    DeliveryOutcome { delivered: next.delivered_grants.clone(), failed: Vec::new() };
                (outcome, Some(held), next)
            }
            Effect::RemoveAssignment { assignment_id } => {
                let Some(held) = existing(&assignment_id) else {
                    let t = request.record_delivery(
                        &failed(format!("assignment `{assignment_id}` is no longer active")),
                        now,
                    )?;
                    (request, timers) = (t.request, t.timers);
                    continue;
                };
                let (ended, plan) = held.assignment.end(&others(&assignment_id), now)?;
                for grant in &plan.revoke {
                    change.revoke.push((ended.id.clone(), grant.clone(), true));
                }
                for kept in &plan.keep {
                    change.revoke.push((ended.id.clone(), kept.grant.clone(), false));
                }
                let outcome = DeliveryOutcome { delivered: plan.revoke.clone(), failed: Vec::new() };
                change.timers.push((TimerOwner::Assignment, ended.id.to_string(), Vec::new()));
                told.push(events::assignment_changed(stamp, held.assignment, &ended, name));
                change.assignments.push((ended, Some(held.version)));
                let t = request.record_delivery(&outcome, now)?;
                (request, timers) = (t.request, t.timers);
                continue;
            }
        };
        let delivered = next.record_delivery(&outcome);
        change.timers.push((TimerOwner::Assignment, delivered.id.to_string(), delivered.timers()));
        match previous {
            Some(held) => told.push(events::assignment_changed(stamp, held.assignment, &delivered, name)),
            None => told.push(events::assignment_created(stamp, &delivered, package)),
        }
        change.assignments.push((delivered, previous.map(|p| p.version)));
        let t = request.record_delivery(&outcome, now)?;
        (request, timers) = (t.request, t.timers);
    }
    change.timers.push((TimerOwner::Request, request.id.to_string(), timers));
    let launched_before = before.map_or(0, |(b, _)| b.custom_extension_callout_instances.len());
    for instance in request.custom_extension_callout_instances.iter().skip(launched_before) {
        let assignment = request.assignment_id.as_ref().and_then(|id| {
            change
                .assignments
                .iter()
                .map(|(a, _)| a)
                .chain(held.iter().map(|h| h.assignment))
                .find(|a| a.id == *id)
        });
        change.callouts.push(crate::extension::request_callout(&request, instance, package, assignment));
    }
    told.extend(events::callback_events(stamp, before.map(|(b, _)| b), &request, package));
    told.extend(events::request_events(stamp, before.map(|(b, _)| b), &request, package));
    change.requests.push((request.clone(), before.map(|(_, version)| version)));
    Ok(Realized { change, events: told, request })
}

/// The change an assignment's own timer makes (its start, its expiry notice, its end) for its
/// target, who holds `held` at `target_version` (the assignment among them): the assignment and its
/// timers written, and on its end what it granted taken away unless another assignment still
/// grants it. `package_name` gives the event's reason its words.
#[allow(clippy::too_many_arguments)]
pub fn assignment_timer(
    assignment: Held<'_>,
    held: &[Held<'_>],
    timer: &Timer,
    target_version: u64,
    package_name: Option<&str>,
    extensions: &[StageExtension],
    stamp: &Stamp<'_>,
    now: DateTime<Utc>,
) -> Result<(Change, Vec<Event>), DomainError> {
    let current = assignment.assignment;
    let others: Vec<AccessPackageAssignment> =
        held.iter().filter(|h| h.assignment.id != current.id).map(|h| h.assignment.clone()).collect();
    let (next, plan) = current.on_timer(timer, &others, now)?;
    let mut change = Change::new(&current.target_id, target_version);
    change.timers.push((TimerOwner::Assignment, next.id.to_string(), next.timers()));
    let mut told = Vec::new();
    if next != *current {
        if let Some(plan) = &plan {
            for grant in &plan.revoke {
                change.revoke.push((next.id.clone(), grant.clone(), true));
            }
            for kept in &plan.keep {
                change.revoke.push((next.id.clone(), kept.grant.clone(), false));
            }
        }
        told.push(events::assignment_changed(stamp, current, &next, package_name));
        let days = match timer.kind {
            TimerKind::AssignmentExpiryReminder => Some(crate::assignment::FIRST_REMINDER_DAYS),
            TimerKind::AssignmentNearExpiry => Some(1),
            _ => None,
        };
        if let Some(days) = days {
            told.push(events::assignment_reminder(stamp, &next, days, package_name));
        }
        let stage = match timer.kind {
            TimerKind::AssignmentExpiryReminder => {
                Some(CustomExtensionStage::AssignmentFourteenDaysBeforeExpiration)
            }
            TimerKind::AssignmentNearExpiry => Some(CustomExtensionStage::AssignmentOneDayBeforeExpiration),
            TimerKind::AssignmentExpiration if !next.is_active() => {
                Some(CustomExtensionStage::AssignmentRequestRemoved)
            }
            _ => None,
        };
        if let Some(extension) = stage.and_then(|stage| extensions.iter().find(|e| e.stage == stage)) {
            change.callouts.push(crate::extension::assignment_callout(
                &next,
                extension,
                package_name,
                timer.due,
                now,
            ));
        }
        change.assignments.push((next, Some(assignment.version)));
    }
    Ok((change, told))
}

/// The change that brings an active assignment in line with its package's resource roles now
/// (`delivery`): roles added delivered, roles removed taken away unless another assignment of
/// `held` still grants them. `None` when it already delivers exactly those.
#[must_use]
pub fn regrant(
    assignment: Held<'_>,
    held: &[Held<'_>],
    target_version: u64,
    delivery: &Delivery<'_>,
    stamp: &Stamp<'_>,
) -> Option<(Change, Event)> {
    let current = assignment.assignment;
    let mut probe = Change::default();
    let want: BTreeSet<Grant> = delivery.deliver(current, &mut probe).delivered.into_iter().collect();
    let have: BTreeSet<Grant> = current.delivered_grants.iter().cloned().collect();
    if want == have {
        return None;
    }
    let mut change = Change::new(&current.target_id, target_version);
    for grant in want.difference(&have) {
        change.deliver.push((current.id.clone(), grant.clone()));
    }
    for grant in have.difference(&want) {
        let elsewhere = held
            .iter()
            .any(|h| h.assignment.id != current.id && h.assignment.delivered_grants.contains(grant));
        change.revoke.push((current.id.clone(), grant.clone(), !elsewhere));
    }
    let mut next = current.clone();
    next.delivered_grants = want.into_iter().collect();
    let event = events::assignment_changed(stamp, current, &next, None).with_reason(format!(
        "the resource roles of access package `{}` changed",
        delivery.package.display_name
    ));
    change.assignments.push((next, Some(assignment.version)));
    Some((change, event))
}

fn failed(error: String) -> DeliveryOutcome {
    DeliveryOutcome { delivered: Vec::new(), failed: vec![FailedGrant { grant: None, error }] }
}

/// The directory object a grant needs.
fn grant_object(grant: &Grant) -> String {
    match grant {
        Grant::GroupMember { group_id } | Grant::GroupOwner { group_id } => format!("group `{group_id}`"),
        Grant::AppRole { application_id, .. } => format!("application `{application_id}`"),
        Grant::SiteRole { site_id, .. } => format!("site `{site_id}`"),
        Grant::DirectoryRoleEligible { directory_role_id }
        | Grant::DirectoryRoleActive { directory_role_id } => {
            format!("directory role `{directory_role_id}`")
        }
    }
}
