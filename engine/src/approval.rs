//! Approval of requests, stage by stage (Graph's `approval` and `approvalStage`).
//!
//! When a stage opens, its approvers are resolved from the policy's subject sets, and every step
//! is explained: who was named, who came from a group, whose manager was asked, who was left out
//! and why, and when the fallback approvers took over.
//!
//! - `singleUser` is that user; `groupMembers` the group's direct members that are users.
//! - `requestorManager` level 1 is the manager of the target (the user who would get the access,
//!   who is the requestor of a self request); level 2 the manager's manager.
//! - Users that do not exist or are blocked from signing in (`accountEnabled` false) are left out,
//!   and so are the requestor and the target: nobody approves their own request.
//! - When the primary approvers resolve to nobody (no manager, say), the fallback approvers are
//!   resolved the same way. Escalation approvers (and their fallbacks) are resolved when the
//!   stage opens and join the stage at `durationBeforeEscalation`; the primary approvers can
//!   still decide after that.
//! - Sponsors (`internalSponsors`, `externalSponsors`, `targetUserSponsors`) belong to connected
//!   organizations, which come later: they resolve to nobody, so the fallback decides.
//!
//! Graph does not document what happens when a stage resolves to nobody at all. The engine
//! refuses to submit a request whose first stage has no approver (nothing could ever approve it,
//! so waiting `durationBeforeAutomaticDenial` to deny it helps nobody), and denies a request whose
//! later stage opens with no approver; both explain why.
//!
//! Any one approver assigned to a stage decides it. The first decision wins: a second gets
//! `CONFLICT`, as Graph answers `409`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::connected_organization::ConnectedOrganization;
use crate::directory::{ObjectRef, User};
use crate::error::DomainError;
use crate::id::UserId;
use crate::policy::applicability::user_label;
use crate::policy::{AccessPackageApprovalStage, SubjectSet};
use crate::text::MAX_DESCRIPTION;

/// The directory as approver resolution reads it, loaded by the caller.
pub trait DirectoryView {
    /// The user with this id, if there is one.
    fn user(&self, id: &str) -> Option<&User>;
    /// The ids of the direct members of a group (users and others), in a stable order.
    fn group_members(&self, group_id: &str) -> Vec<String>;
    /// The connected organization a user comes from, for `internalSponsors` and
    /// `externalSponsors` approvers.
    fn organization_of(&self, _user_id: &str) -> Option<&ConnectedOrganization> {
        None
    }
}

/// A [`DirectoryView`] held in maps: for tests, the simulator, and callers that load a slice of
/// the directory up front.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectorySnapshot {
    pub users: BTreeMap<UserId, User>,
    /// Group id to member ids.
    pub group_members: BTreeMap<String, Vec<String>>,
    /// The connected organization of the users who come from one.
    pub organizations: BTreeMap<UserId, ConnectedOrganization>,
}

impl DirectorySnapshot {
    /// Adds (or replaces) a user.
    pub fn add_user(&mut self, user: User) {
        self.users.insert(user.id.clone(), user);
    }

    /// Records that `member_id` is a direct member of `group_id`.
    pub fn add_member(&mut self, group_id: &str, member_id: &str) {
        self.group_members.entry(group_id.to_owned()).or_default().push(member_id.to_owned());
    }
}

impl DirectoryView for DirectorySnapshot {
    fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    fn group_members(&self, group_id: &str) -> Vec<String> {
        self.group_members.get(group_id).cloned().unwrap_or_default()
    }

    fn organization_of(&self, user_id: &str) -> Option<&ConnectedOrganization> {
        self.organizations.get(user_id)
    }
}

/// The id of `user`'s manager `level` steps up the chain (1: the manager, 2: the manager's manager).
#[must_use]
pub fn manager_at_level(user: &User, level: u8, directory: &dyn DirectoryView) -> Option<String> {
    if level == 0 {
        return None;
    }
    let mut current = user.manager_id()?.to_owned();
    for _ in 1..level {
        current = directory.user(&current)?.manager_id()?.to_owned();
    }
    Some(current)
}

/// `reviewResult` of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum ReviewResult {
    #[default]
    NotReviewed,
    Approved,
    Denied,
}

/// `status` of a stage: `Initializing` until it opens, `InProgress` while it waits for a
/// decision, `Completed` once decided, `Expired` when it timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum StageStatus {
    #[default]
    Initializing,
    InProgress,
    Completed,
    Expired,
}

/// The decision an approver sends (`reviewResult` in Graph's `PATCH`: `Approve` or `Deny`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReviewDecision {
    Approve,
    Deny,
}

/// One approver of a stage and how they came to be one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedApprover {
    pub id: String,
    pub display_name: Option<String>,
    /// How: `named as singleUser`, `member of group `g``, `manager of `Alice``, with
    /// `fallback: ` in front when the fallback approvers decide.
    pub via: String,
}

/// The approvers of one role in a stage (primary or escalation), with the story of their resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApproverResolution {
    pub approvers: Vec<ResolvedApprover>,
    /// What was left out and why, in order: missing managers, blocked users, self-approval.
    pub notes: Vec<String>,
    /// Whether the fallback approvers were used.
    pub used_fallback: bool,
}

impl ApproverResolution {
    /// The approver ids.
    #[must_use]
    pub fn ids(&self) -> Vec<String> {
        self.approvers.iter().map(|a| a.id.clone()).collect()
    }
}

/// Who a request is for, as resolution needs it.
#[derive(Debug, Clone, Copy)]
pub struct ResolutionSubject<'a> {
    /// The requesting user, when a user requested (absent for the system).
    pub requestor_id: Option<&'a str>,
    /// The user who would get the access.
    pub target: &'a User,
}

impl ResolutionSubject<'_> {
    fn is_party(&self, id: &str) -> Option<&'static str> {
        if id == self.target.id {
            Some("the target of the request")
        } else if self.requestor_id == Some(id) {
            Some("the requestor")
        } else {
            None
        }
    }
}

/// Resolves `primary`, or `fallback` when `primary` yields nobody. `role` names them in notes
/// (`primary`, `escalation`).
#[must_use]
pub fn resolve_approvers(
    primary: &[SubjectSet],
    fallback: &[SubjectSet],
    role: &str,
    subject: &ResolutionSubject<'_>,
    directory: &dyn DirectoryView,
) -> ApproverResolution {
    let mut out = ApproverResolution::default();
    expand_all(primary, "", subject, directory, &mut out);
    if out.approvers.is_empty() && !fallback.is_empty() {
        out.notes.push(format!("no {role} approver could be resolved, so the fallback approvers decide"));
        out.used_fallback = true;
        expand_all(fallback, "fallback: ", subject, directory, &mut out);
    }
    if out.approvers.is_empty() {
        out.notes.push(format!("no {role} approver could be resolved"));
    }
    out
}

fn expand_all(
    sets: &[SubjectSet],
    prefix: &str,
    subject: &ResolutionSubject<'_>,
    directory: &dyn DirectoryView,
    out: &mut ApproverResolution,
) {
    for set in sets {
        for (id, via) in expand(set, subject, directory, &mut out.notes) {
            admit(id, format!("{prefix}{via}"), subject, directory, out);
        }
    }
}

/// The candidates a subject set names, before exclusions.
fn expand(
    set: &SubjectSet,
    subject: &ResolutionSubject<'_>,
    directory: &dyn DirectoryView,
    notes: &mut Vec<String>,
) -> Vec<(String, String)> {
    match set {
        SubjectSet::SingleUser { user_id, .. } => vec![(user_id.clone(), "named as `singleUser`".to_owned())],
        SubjectSet::GroupMembers { group_id, .. } => {
            let members: Vec<_> = directory
                .group_members(group_id)
                .into_iter()
                .filter(|id| directory.user(id).is_some())
                .map(|id| (id, format!("member of group `{group_id}`")))
                .collect();
            if members.is_empty() {
                notes.push(format!("group `{group_id}` has no user members"));
            }
            members
        }
        SubjectSet::RequestorManager { manager_level } => {
            let target = subject.target;
            let Some(manager) = manager_at_level(target, 1, directory) else {
                notes.push(format!("{} has no manager", user_label(target)));
                return Vec::new();
            };
            let manager_name = directory.user(&manager).map_or_else(|| format!("`{manager}`"), user_label);
            if *manager_level < 2 {
                return vec![(manager, format!("manager of {}", user_label(target)))];
            }
            match manager_at_level(target, 2, directory) {
                Some(second) => {
                    vec![(
                        second,
                        format!("manager of {manager_name}, the manager of {}", user_label(target)),
                    )]
                }
                None => {
                    notes.push(format!(
                        "{manager_name}, the manager of {}, has no manager",
                        user_label(target)
                    ));
                    Vec::new()
                }
            }
        }
        SubjectSet::InternalSponsors | SubjectSet::ExternalSponsors => {
            let target = subject.target;
            let Some(org) = directory.organization_of(&target.id) else {
                notes.push(format!(
                    "{} comes from no connected organization, so `{}` names nobody",
                    user_label(target),
                    set.type_name()
                ));
                return Vec::new();
            };
            let (sponsors, kind) = match set {
                SubjectSet::InternalSponsors => (&org.internal_sponsors, "internal"),
                _ => (&org.external_sponsors, "external"),
            };
            let via = format!("{kind} sponsor of connected organization `{}`", org.display_name);
            let found = sponsors_of(sponsors, &via, directory);
            if found.is_empty() {
                notes.push(format!("connected organization `{}` has no {kind} sponsor", org.display_name));
            }
            found
        }
        SubjectSet::TargetUserSponsors => {
            let target = subject.target;
            let found =
                sponsors_of(&target.sponsors, &format!("sponsor of {}", user_label(target)), directory);
            if found.is_empty() {
                notes.push(format!("{} has no sponsor", user_label(target)));
            }
            found
        }
        other => {
            notes.push(format!("`{}` cannot approve", other.type_name()));
            Vec::new()
        }
    }
}

/// The users among `sponsors`, and the user members of the groups among them.
fn sponsors_of(sponsors: &[ObjectRef], via: &str, directory: &dyn DirectoryView) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sponsor in sponsors {
        if directory.user(&sponsor.id).is_some() {
            out.push((sponsor.id.clone(), via.to_owned()));
            continue;
        }
        for member in directory.group_members(&sponsor.id) {
            if directory.user(&member).is_some() {
                out.push((member, format!("member of group `{}`, {via}", sponsor.id)));
            }
        }
    }
    out
}

fn admit(
    id: String,
    via: String,
    subject: &ResolutionSubject<'_>,
    directory: &dyn DirectoryView,
    out: &mut ApproverResolution,
) {
    if out.approvers.iter().any(|a| a.id == id) {
        return;
    }
    let Some(user) = directory.user(&id) else {
        out.notes.push(format!("user `{id}` ({via}) does not exist and cannot approve"));
        return;
    };
    if let Some(party) = subject.is_party(&id) {
        let note = format!("{} ({via}) is {party}; nobody approves their own request", user_label(user));
        if !out.notes.contains(&note) {
            out.notes.push(note);
        }
        return;
    }
    if !user.account_enabled() {
        out.notes.push(format!("{} ({via}) is blocked from signing in and cannot approve", user_label(user)));
        return;
    }
    out.approvers.push(ResolvedApprover { id, display_name: user.display_name.clone(), via });
}

/// Graph's `approval`: the decisions on one request, its id the request's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub id: String,
    pub stages: Vec<ApprovalStage>,
}

/// Graph's `approvalStage`, with what the engine needs to run it and to explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalStage {
    pub id: String,
    /// `Stage 1`, `Stage 2`, `Stage 3`.
    pub display_name: String,
    pub review_result: ReviewResult,
    pub status: StageStatus,
    /// The approver who decided.
    pub reviewed_by: Option<String>,
    pub reviewed_date_time: Option<DateTime<Utc>>,
    pub justification: Option<String>,
    /// Who may decide now: the primary approvers, and the escalation approvers once escalated.
    pub assigned_to: Vec<String>,
    pub escalated: bool,
    pub is_approver_justification_required: bool,
    pub started_date_time: Option<DateTime<Utc>>,
    /// When the stage is denied if nobody decided (`durationBeforeAutomaticDenial` after it opened).
    pub due_date_time: Option<DateTime<Utc>>,
    /// When the escalation approvers join, if escalation is enabled.
    pub escalation_date_time: Option<DateTime<Utc>>,
    pub primary: ApproverResolution,
    pub escalation: Option<ApproverResolution>,
}

const STAGE_NAMESPACE: Uuid = Uuid::from_u128(0x2b7e_151b_af94_4c6d_9e8a_3f1c_5d20_8e47);

impl ApprovalStage {
    /// A stage that has not opened yet.
    #[must_use]
    pub fn pending(request_id: &str, index: usize, settings: &AccessPackageApprovalStage) -> Self {
        Self {
            id: Uuid::new_v5(&STAGE_NAMESPACE, format!("{request_id}|{index}").as_bytes()).to_string(),
            display_name: format!("Stage {}", index + 1),
            review_result: ReviewResult::NotReviewed,
            status: StageStatus::Initializing,
            reviewed_by: None,
            reviewed_date_time: None,
            justification: None,
            assigned_to: Vec::new(),
            escalated: false,
            is_approver_justification_required: settings.is_approver_justification_required,
            started_date_time: None,
            due_date_time: None,
            escalation_date_time: None,
            primary: ApproverResolution::default(),
            escalation: None,
        }
    }

    /// Opens the stage at `now`: resolves its approvers and sets its deadlines.
    #[must_use]
    pub fn open(
        &self,
        settings: &AccessPackageApprovalStage,
        subject: &ResolutionSubject<'_>,
        directory: &dyn DirectoryView,
        now: DateTime<Utc>,
    ) -> Self {
        let primary = resolve_approvers(
            &settings.primary_approvers,
            &settings.fallback_primary_approvers,
            "primary",
            subject,
            directory,
        );
        let escalation = settings.is_escalation_enabled.then(|| {
            resolve_approvers(
                &settings.escalation_approvers,
                &settings.fallback_escalation_approvers,
                "escalation",
                subject,
                directory,
            )
        });
        Self {
            status: StageStatus::InProgress,
            assigned_to: primary.ids(),
            started_date_time: Some(now),
            due_date_time: settings.duration_before_automatic_denial.after(now),
            escalation_date_time: if settings.is_escalation_enabled {
                settings.duration_before_escalation.after(now)
            } else {
                None
            },
            primary,
            escalation,
            ..self.clone()
        }
    }

    /// Whether the stage is waiting for a decision.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.status == StageStatus::InProgress
    }

    /// Records one approver's decision. Refused with `CONFLICT` when the stage is not open (the
    /// first decision won, it timed out, or it has not opened), `FORBIDDEN` for the requestor, the
    /// target and anyone not assigned, `VALIDATION_FAILED` for a missing required justification.
    pub fn decide(
        &self,
        decision: &StageDecision,
        subject: &ResolutionSubject<'_>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        match self.status {
            StageStatus::InProgress => {}
            StageStatus::Completed => {
                let result = match self.review_result {
                    ReviewResult::Approved => "approved",
                    ReviewResult::Denied => "denied",
                    ReviewResult::NotReviewed => {
                        return Err(DomainError::conflict(format!(
                            "{} was closed without a decision",
                            self.display_name.to_lowercase()
                        )));
                    }
                };
                let by = self.reviewed_by.as_deref().unwrap_or("another approver");
                return Err(DomainError::conflict(format!(
                    "{} was already {result} by `{by}`; the first decision stands",
                    self.display_name.to_lowercase()
                )));
            }
            StageStatus::Expired => {
                return Err(DomainError::conflict(format!(
                    "{} timed out without a decision and the request was denied",
                    self.display_name.to_lowercase()
                )));
            }
            StageStatus::Initializing => {
                return Err(DomainError::conflict(format!(
                    "{} has not opened yet; the stages before it must be approved first",
                    self.display_name.to_lowercase()
                )));
            }
        }
        let approver = decision.approver_id.as_str();
        if let Some(party) = subject.is_party(approver) {
            return Err(DomainError::forbidden(format!(
                "`{approver}` is {party}; nobody approves their own request"
            )));
        }
        if !self.assigned_to.iter().any(|a| a == approver) {
            let later =
                self.escalation.as_ref().is_some_and(|e| e.approvers.iter().any(|a| a.id == approver));
            let message = match (later, self.escalation_date_time) {
                (true, Some(at)) => format!(
                    "`{approver}` is an alternate approver of {} and may decide only after escalation at {}",
                    self.display_name.to_lowercase(),
                    at.to_rfc3339()
                ),
                _ => format!("`{approver}` is not an approver of {}", self.display_name.to_lowercase()),
            };
            return Err(DomainError::forbidden(message));
        }
        let justification = decision.justification.as_deref().map(str::trim).filter(|j| !j.is_empty());
        if self.is_approver_justification_required && justification.is_none() {
            return Err(DomainError::invalid(
                "justification",
                format!("{} requires the approver to justify the decision", self.display_name.to_lowercase()),
            ));
        }
        if justification.is_some_and(|j| j.chars().count() > MAX_DESCRIPTION) {
            return Err(DomainError::invalid(
                "justification",
                format!("a justification is at most {MAX_DESCRIPTION} characters"),
            ));
        }
        Ok(Self {
            status: StageStatus::Completed,
            review_result: match decision.review_result {
                ReviewDecision::Approve => ReviewResult::Approved,
                ReviewDecision::Deny => ReviewResult::Denied,
            },
            reviewed_by: Some(approver.to_owned()),
            reviewed_date_time: Some(now),
            justification: justification.map(str::to_owned),
            ..self.clone()
        })
    }

    /// Forwards the stage to its escalation approvers, who join the primary ones. `None` when
    /// there is nothing to do (not open, already escalated, or no escalation).
    #[must_use]
    pub fn escalate(&self) -> Option<Self> {
        if !self.is_open() || self.escalated {
            return None;
        }
        let escalation = self.escalation.as_ref()?;
        let mut assigned_to = self.assigned_to.clone();
        for id in escalation.ids() {
            if !assigned_to.contains(&id) {
                assigned_to.push(id);
            }
        }
        Some(Self { escalated: true, assigned_to, ..self.clone() })
    }

    /// Ends the stage without a decision, at its deadline.
    #[must_use]
    pub fn expire(&self) -> Self {
        Self { status: StageStatus::Expired, ..self.clone() }
    }

    /// Whether `user_id` may decide the stage now (Graph's `assignedToMe`).
    #[must_use]
    pub fn is_assigned_to(&self, user_id: &str) -> bool {
        self.is_open() && self.assigned_to.iter().any(|a| a == user_id)
    }
}

/// An approver's decision on a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageDecision {
    /// The stage decided; `None` means the open one.
    #[serde(default)]
    pub stage_id: Option<String>,
    pub approver_id: String,
    pub review_result: ReviewDecision,
    #[serde(default)]
    pub justification: Option<String>,
}

#[cfg(test)]
mod tests;
