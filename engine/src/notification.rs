//! E-mail notifications, decided from events: who is told what, and the words.
//!
//! [`notifications`] reads one committed event and returns the notifications it calls for, as
//! Entra sends them:
//! - an approval stage that opened (or escalated) for approvers: each new approver;
//! - a request decided (delivered, partially delivered, delivery failed, denied or timed out):
//!   its requestor and its target;
//! - an assignment 14 days and 1 day from its end: its holder;
//! - an access review that started: its reviewers.
//!
//! Notifications to requestors and assignees are *assignment notifications*: a policy with
//! `notificationSettings.isAssignmentNotificationDisabled` sends none (the caller tells, by the
//! policy each names). Approvers and reviewers are always told.
//!
//! [`render`] fills a notification's template (`notification/*.txt`: a `Subject:` line, then
//! the body) with its fields, the recipient's name and the names the caller resolved.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::event::{Event, EventKind};

/// What a notification tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    ApprovalRequested,
    RequestDecided,
    AccessExpiring,
    ReviewStarted,
}

impl NotificationKind {
    fn template(self) -> &'static str {
        match self {
            Self::ApprovalRequested => include_str!("notification/approval_requested.txt"),
            Self::RequestDecided => include_str!("notification/request_decided.txt"),
            Self::AccessExpiring => include_str!("notification/access_expiring.txt"),
            Self::ReviewStarted => include_str!("notification/review_started.txt"),
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApprovalRequested => "approvalRequested",
            Self::RequestDecided => "requestDecided",
            Self::AccessExpiring => "accessExpiring",
            Self::ReviewStarted => "reviewStarted",
        }
    }
}

/// One notification of an event, to its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: NotificationKind,
    /// The event it comes from (with the recipient, a message's id).
    pub event_id: String,
    /// User ids.
    pub recipients: Vec<String>,
    /// Whether it is an assignment notification, which a policy may turn off.
    pub about_assignment: bool,
    /// The policy it is about, when the event tells (for `isAssignmentNotificationDisabled`).
    pub policy_id: Option<String>,
    pub access_package_id: Option<String>,
    /// The user the request or assignment is for.
    pub target_id: Option<String>,
    /// Template fields (`requestId`, `outcome`, `due`...).
    pub fields: BTreeMap<String, String>,
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// The notifications an event calls for (none for most events).
#[must_use]
pub fn notifications(event: &Event) -> Vec<Notification> {
    let mut fields = BTreeMap::new();
    let base =
        |kind, recipients: Vec<String>, about_assignment, policy_id: Option<String>, fields| Notification {
            kind,
            event_id: event.id.clone(),
            recipients,
            about_assignment,
            policy_id,
            access_package_id: event.access_package_id.as_ref().map(ToString::to_string),
            target_id: event.target_id.clone(),
            fields,
        };
    let out = match event.kind {
        EventKind::ApprovalStageAssigned => {
            let stage = &event.data["stage"];
            fields.insert("requestId".into(), text(&event.data["requestId"]).unwrap_or_default());
            fields.insert("stage".into(), text(&stage["displayName"]).unwrap_or_default().to_lowercase());
            fields.insert("due".into(), text(&stage["dueDateTime"]).unwrap_or_else(|| "it expires".into()));
            fields.insert(
                "justification".into(),
                event.justification.clone().unwrap_or_else(|| "(none)".into()),
            );
            base(NotificationKind::ApprovalRequested, event.audience.clone(), false, None, fields)
        }
        EventKind::RequestStateChanged => {
            let request = &event.data["request"];
            let outcome = match (request["state"].as_str(), request["status"].as_str()) {
                (Some("delivered"), _) => "delivered: the access is yours",
                (Some("partiallyDelivered"), _) => "partially delivered",
                (Some("deliveryFailed"), _) => "not delivered: delivery failed",
                (Some("denied"), Some("Expired")) => "denied: nobody decided in time",
                (Some("denied"), _) => "denied",
                _ => return Vec::new(),
            };
            fields.insert("requestId".into(), text(&request["id"]).unwrap_or_default());
            fields.insert("outcome".into(), outcome.into());
            fields.insert("reason".into(), event.reason.clone().unwrap_or_default());
            let mut recipients = vec![text(&request["targetId"]).unwrap_or_default()];
            if let Some(requestor) = text(&request["requestor"]["id"]).filter(|r| !recipients.contains(r)) {
                recipients.push(requestor);
            }
            recipients.retain(|r| !r.is_empty());
            let policy = text(&request["assignmentPolicyId"]);
            base(NotificationKind::RequestDecided, recipients, true, policy, fields)
        }
        EventKind::AssignmentExpiryReminder => {
            let assignment = &event.data["assignment"];
            let days = event.data["daysBeforeEnd"].as_i64().unwrap_or(1);
            fields.insert("assignmentId".into(), text(&assignment["id"]).unwrap_or_default());
            fields
                .insert("when".into(), if days == 1 { "tomorrow".into() } else { format!("in {days} days") });
            fields.insert(
                "end".into(),
                text(&assignment["schedule"]["expiration"]["endDateTime"]).unwrap_or_default(),
            );
            let recipients: Vec<String> = text(&assignment["targetId"]).into_iter().collect();
            let policy = text(&assignment["assignmentPolicyId"]);
            base(NotificationKind::AccessExpiring, recipients, true, policy, fields)
        }
        EventKind::AccessReviewStarted => {
            let instance = &event.data["instance"];
            fields.insert("reviewId".into(), text(&instance["id"]).unwrap_or_default());
            fields.insert("end".into(), text(&instance["endDateTime"]).unwrap_or_default());
            base(NotificationKind::ReviewStarted, event.audience.clone(), false, None, fields)
        }
        _ => return Vec::new(),
    };
    if out.recipients.is_empty() { Vec::new() } else { vec![out] }
}

/// A notification in words for one recipient: `(subject, body)`. `names` gives the fields the
/// caller resolved (`recipient`, `target`, `package`); a field nobody gave reads as empty.
#[must_use]
pub fn render(notification: &Notification, names: &BTreeMap<String, String>) -> (String, String) {
    let template = notification.kind.template();
    let filled = fill(template, |key| {
        names.get(key).or_else(|| notification.fields.get(key)).cloned().unwrap_or_default()
    });
    let (first, body) = filled.split_once('\n').unwrap_or((&filled, ""));
    let subject = first.strip_prefix("Subject:").unwrap_or(first).trim().to_owned();
    (subject, body.trim_start_matches('\n').to_owned())
}

/// `template` with every `{{key}}` replaced by `value(key)`.
fn fill(template: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str(&value(after[..end].trim()));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Actor;
    use serde_json::json;

    fn event(kind: EventKind, data: Value) -> Event {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().into();
        let mut event = Event::new("e1".into(), kind, &Actor::System, now, "X", "x").with_data(data);
        event.access_package_id = Some("ap".into());
        event
    }

    #[test]
    fn approvers_are_told_when_a_stage_waits_for_them() {
        let mut e = event(
            EventKind::ApprovalStageAssigned,
            json!({"requestId": "r1", "stage": {"displayName": "Stage 1", "dueDateTime": "2026-01-15T00:00:00Z"}}),
        );
        e.audience = vec!["carol".into()];
        e.justification = Some("month-end close".into());
        let [n] = notifications(&e).try_into().unwrap();
        assert_eq!(
            (n.kind, n.recipients.clone(), n.about_assignment),
            (NotificationKind::ApprovalRequested, vec!["carol".to_owned()], false)
        );
        let names: BTreeMap<String, String> =
            [("recipient", "Carol"), ("target", "Adele Vance"), ("package", "ERP")]
                .map(|(k, v)| (k.into(), v.into()))
                .into();
        let (subject, body) = render(&n, &names);
        assert_eq!(subject, "Approval needed: ERP for Adele Vance");
        assert!(body.starts_with("Hello Carol,"), "{body}");
        assert!(body.contains("Justification: month-end close"));
        assert!(body.contains("Decide before 2026-01-15T00:00:00Z"));
        assert!(!body.contains("{{"));
    }

    #[test]
    fn requestors_and_targets_are_told_of_a_decision_only() {
        let request = |state: &str, status: &str| {
            json!({"request": {"id": "r1", "state": state, "status": status, "targetId": "gerhart",
                               "requestor": {"kind": "user", "id": "lynne"}, "assignmentPolicyId": "p1"}})
        };
        let decided = notifications(&event(EventKind::RequestStateChanged, request("denied", "Expired")));
        let [n] = decided.as_slice() else { panic!("one notification") };
        assert_eq!(n.recipients, ["gerhart", "lynne"]);
        assert_eq!((n.about_assignment, n.policy_id.as_deref()), (true, Some("p1")));
        assert_eq!(n.fields["outcome"], "denied: nobody decided in time");
        assert!(
            notifications(&event(
                EventKind::RequestStateChanged,
                request("pendingApproval", "PendingApproval")
            ))
            .is_empty()
        );
        assert!(
            notifications(&event(EventKind::RequestCreated, request("delivered", "Delivered"))).is_empty()
        );
    }

    #[test]
    fn holders_are_reminded_and_reviewers_told() {
        let e = event(
            EventKind::AssignmentExpiryReminder,
            json!({"daysBeforeEnd": 14, "assignment": {"id": "a1", "targetId": "adele", "assignmentPolicyId": "p1",
                    "schedule": {"expiration": {"endDateTime": "2026-02-01T00:00:00Z"}}}}),
        );
        let [n] = notifications(&e).try_into().unwrap();
        let (subject, _) = render(&n, &[("package".to_owned(), "ERP".to_owned())].into());
        assert_eq!(subject, "Your access to ERP ends in 14 days");
        let mut e = event(
            EventKind::AccessReviewStarted,
            json!({"instance": {"id": "rv1", "endDateTime": "2026-03-01T00:00:00Z"}}),
        );
        e.audience = vec!["lynne".into(), "nestor".into()];
        let [n] = notifications(&e).try_into().unwrap();
        assert_eq!(n.recipients.len(), 2);
        assert!(!n.about_assignment);
    }

    #[test]
    fn templates_fill_every_field_once() {
        assert_eq!(fill("a {{x}} b {{ y }} {{x}}", |k| k.to_uppercase()), "a X b Y X");
        assert_eq!(fill("open {{x", |_| "v".into()), "open {{x");
    }
}
