//! The events a change of the request path tells, decided here beside the change itself: a
//! request created or moved on, the approval stages that opened for approvers (or escalated to
//! more of them) and those taken from them, an assignment created or changed. Whoever commits
//! the change writes these events with it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{AccessPackageAssignmentRequest, AccessPackageRequestState};
use crate::access_package::AccessPackage;
use crate::actor::Actor;
use crate::approval::ApprovalStage;
use crate::assignment::AccessPackageAssignment;
use crate::event::{Event, EventKind};
use crate::id::RequestId;

/// Who makes a change and when, and where its events get their ids.
pub struct Stamp<'a> {
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
    /// A new event id each call.
    pub ids: &'a (dyn Fn() -> String + Sync),
}

impl Stamp<'_> {
    fn event(&self, kind: EventKind, subject_type: &str, subject_id: &str) -> Event {
        Event::new((self.ids)(), kind, self.actor, self.now, subject_type, subject_id)
    }
}

/// The events of a request's change from `before` (`None`: submitted now) to `after`: the
/// request's own event, which carries the request (created, state or status changed, or updated),
/// addressed to its requestor and target; one per stage that opened for approvers (or escalated
/// to more of them), addressed to the new ones; one per stage taken from its approvers (decided,
/// canceled, timed out), addressed to them.
#[must_use]
pub fn request_events(
    stamp: &Stamp<'_>,
    before: Option<&AccessPackageAssignmentRequest>,
    after: &AccessPackageAssignmentRequest,
    package: &AccessPackage,
) -> Vec<Event> {
    let mut events = Vec::new();
    let reason = after.explanation.log.last().map(|e| e.text.clone());
    let base = |kind: EventKind, audience: Vec<String>| {
        let mut event = about_request(stamp, kind, after, package, audience);
        event.justification.clone_from(&after.justification);
        if let Some(r) = &reason {
            event = event.with_reason(r.clone());
        }
        event
    };
    let kind = match before {
        None => EventKind::RequestCreated,
        Some(b) if b.state != after.state || b.status != after.status => EventKind::RequestStateChanged,
        Some(_) => EventKind::RequestUpdated,
    };
    events.push(base(kind, parties(after)).with_data(json!({ "request": after })));
    let stages_after = after.approval.as_ref().map(|a| a.stages.as_slice()).unwrap_or_default();
    let stages_before =
        before.and_then(|b| b.approval.as_ref()).map(|a| a.stages.as_slice()).unwrap_or_default();
    for (i, stage) in stages_after.iter().enumerate() {
        let old = stages_before.get(i);
        let was_open = old.is_some_and(ApprovalStage::is_open);
        let had: BTreeSet<&String> =
            old.filter(|_| was_open).map(|s| s.assigned_to.iter().collect()).unwrap_or_default();
        if stage.is_open() && after.state == AccessPackageRequestState::PendingApproval {
            let new: Vec<String> = stage.assigned_to.iter().filter(|a| !had.contains(a)).cloned().collect();
            if !new.is_empty() {
                events.push(stage_event(base(EventKind::ApprovalStageAssigned, new), &after.id, stage));
            }
        } else if was_open {
            let audience: Vec<String> = had.into_iter().cloned().collect();
            if !audience.is_empty() {
                events.push(stage_event(base(EventKind::ApprovalStageRemoved, audience), &after.id, stage));
            }
        }
    }
    events
}

/// The event of an assignment created (and delivered) by a request.
#[must_use]
pub fn assignment_created(
    stamp: &Stamp<'_>,
    assignment: &AccessPackageAssignment,
    package: &AccessPackage,
) -> Event {
    let mut event = stamp
        .event(EventKind::AssignmentCreated, "AccessPackageAssignment", &assignment.id)
        .in_catalog(&package.catalog_id)
        .for_package(&package.id)
        .with_data(json!({ "assignment": assignment }));
    event.target_id = Some(assignment.target_id.to_string());
    event
}

/// The event of an assignment's change from `before` to `after`; `package_name` gives the reason
/// its words.
#[must_use]
pub fn assignment_changed(
    stamp: &Stamp<'_>,
    before: &AccessPackageAssignment,
    after: &AccessPackageAssignment,
    package_name: Option<&str>,
) -> Event {
    let kind = if before.state != after.state || before.status != after.status {
        EventKind::AssignmentStateChanged
    } else {
        EventKind::AssignmentUpdated
    };
    let mut event = stamp
        .event(kind, "AccessPackageAssignment", &after.id)
        .with_data(json!({ "assignment": after }))
        .in_catalog(&after.catalog_id)
        .for_package(&after.access_package_id);
    if let Some(name) = package_name {
        event = event.with_reason(format!("assignment to `{name}` is {}", after.status.as_str()));
    }
    event.target_id = Some(after.target_id.to_string());
    event
}

/// The reminder to an assignment's holder that it ends soon (`days` before its end).
#[must_use]
pub fn assignment_reminder(
    stamp: &Stamp<'_>,
    assignment: &AccessPackageAssignment,
    days: i64,
    package_name: Option<&str>,
) -> Event {
    let end = assignment.end_date_time().map(|e| e.to_rfc3339()).unwrap_or_default();
    let what = package_name.map_or_else(|| "your access".to_owned(), |n| format!("your access to `{n}`"));
    let when = if days == 1 { "tomorrow".to_owned() } else { format!("in {days} days") };
    let mut event = stamp
        .event(EventKind::AssignmentExpiryReminder, "AccessPackageAssignment", &assignment.id)
        .with_data(json!({ "assignment": assignment, "daysBeforeEnd": days }))
        .in_catalog(&assignment.catalog_id)
        .for_package(&assignment.access_package_id)
        .with_reason(format!("{what} ends {when}, at {end}"));
    event.target_id = Some(assignment.target_id.to_string());
    event
}

/// An approval stage's event, made from its request's: it names the request instead of carrying
/// it, since the request's own event of the same transaction does (readers of the feed give the
/// stage event the request from there), so a transaction writes the request once.
fn stage_event(mut event: Event, request_id: &RequestId, stage: &ApprovalStage) -> Event {
    event.subject_type = "ApprovalStage".into();
    event.subject_id.clone_from(&stage.id);
    event.data = json!({ "requestId": request_id, "stage": stage });
    event
}

/// The events of callbacks a request's change records (received, timed out, or a call that
/// failed), addressed to the requestor and target.
#[must_use]
pub fn callback_events(
    stamp: &Stamp<'_>,
    before: Option<&AccessPackageAssignmentRequest>,
    after: &AccessPackageAssignmentRequest,
    package: &AccessPackage,
) -> Vec<Event> {
    use crate::extension::CalloutStatus;
    let mut events = Vec::new();
    for instance in &after.custom_extension_callout_instances {
        let old = before
            .and_then(|b| b.custom_extension_callout_instances.iter().find(|i| i.id == instance.id))
            .map(|i| i.status);
        if old == Some(instance.status) {
            continue;
        }
        let kind = match instance.status {
            CalloutStatus::CallbackReceived => EventKind::CustomExtensionCallbackReceived,
            CalloutStatus::CallbackTimedOut => EventKind::CustomExtensionCallbackTimedOut,
            CalloutStatus::CalloutFailed => EventKind::CustomExtensionCalloutFailed,
            CalloutStatus::Launched | CalloutStatus::WaitingForCallback => continue,
        };
        let event = about_request(stamp, kind, after, package, parties(after))
            .with_data(json!({
                "customExtensionStageInstanceId": instance.id,
                "customExtensionId": instance.custom_extension_id,
                "stage": instance.stage.as_str(),
            }))
            .with_reason(format!(
                "custom extension at {}: {}",
                instance.stage.label(),
                match instance.status {
                    CalloutStatus::CallbackReceived => "called back".to_owned(),
                    CalloutStatus::CallbackTimedOut => "did not call back in time".to_owned(),
                    _ => format!("could not be called: {}", instance.detail.as_deref().unwrap_or_default()),
                }
            ));
        events.push(event);
    }
    events
}

/// An event about request `after` of `package`, addressed to `audience`.
fn about_request(
    stamp: &Stamp<'_>,
    kind: EventKind,
    after: &AccessPackageAssignmentRequest,
    package: &AccessPackage,
    audience: Vec<String>,
) -> Event {
    let mut event = stamp
        .event(kind, "AccessPackageAssignmentRequest", &after.id)
        .in_catalog(&package.catalog_id)
        .for_package(&package.id);
    event.target_id = Some(after.target_id.to_string());
    event.audience = audience;
    event
}

/// The requestor and the target of a request.
fn parties(request: &AccessPackageAssignmentRequest) -> Vec<String> {
    let mut parties = vec![request.target_id.to_string()];
    if let Actor::User { id } = &request.requestor
        && *id != request.target_id
    {
        parties.push(id.to_string());
    }
    parties
}
