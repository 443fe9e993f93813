//! Assignment requests and their life (`accessPackageAssignmentRequest`).
//!
//! [`submit`] decides whether a request may be made, and if so where it goes first; every other
//! step is a method of [`AccessPackageAssignmentRequest`] of the shape
//! `(request, event, now) -> Result<Transition, DomainError>`. A [`Transition`] carries the new
//! request, the [`Effect`]s the caller carries out (create an assignment and deliver it, extend
//! one, remove one), and the request's timers afterwards. Nothing here stores or waits.
//!
//! ```text
//! submit ─┬─ approval required ─▶ pendingApproval ─┬─ every stage approves ─▶ (scheduled ─▶) delivering
//!         │   (PendingApprovalEscalated once       ├─ a deny ──────────────▶ denied  (status Denied)
//!         │    forwarded to alternate approvers)   ├─ a stage times out ───▶ denied  (status Expired)
//!         │                                        └─ cancel ──────────────▶ canceled
//!         ├─ future start ─▶ scheduled (PendingNotBefore) ─┬─ start ─▶ delivering
//!         │                                                └─ cancel ─▶ canceled
//!         └─ otherwise ───▶ delivering
//!
//! delivering ─ outcome ─▶ delivered | partiallyDelivered | deliveryFailed
//! partiallyDelivered | deliveryFailed ─ reprocess within 14 days ─▶ delivering
//! ```
//!
//! Graph answers a new request with `submitted`/`Accepted` and moves it on asynchronously. The
//! engine takes the synchronous steps at once, so [`submit`] returns the request already
//! `pendingApproval`, `scheduled` or `delivering`; its explanation log records the `submitted`
//! step. Cancel is allowed in the statuses Graph names: `Accepted`, `PendingApproval`,
//! `PendingApprovalEscalated`, `PendingNotBefore`.
//!
//! Decisions where Graph is silent:
//! - A request made for someone else is a `userAdd` (or `userUpdate`, `userRemove`) whose target is
//!   not the requestor; `onBehalfAdd` is refused, as Graph does not support it.
//! - `requestorManager` approvers resolve from the target, the user who would get the access.
//! - An approval stage's `durationBeforeAutomaticDenial` and `durationBeforeEscalation` count from
//!   when that stage opens.
//! - A request keeps the policy's approval stages and expiration as they were when it was
//!   submitted; later policy changes do not affect it (as Entra documents for expiration).
//! - `adminAdd` through a policy that requires approval goes through approval: an administrator
//!   cannot bypass it. Administrators answer the policy's questions but need no justification.

use crate::id::{AccessPackageId, AssignmentId, CatalogId, PolicyId, RequestId, UserId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actor::Actor;
use crate::approval::{
    Approval, ApprovalStage, DirectoryView, ResolutionSubject, ReviewResult, StageDecision, StageStatus,
};
use crate::assignment::{AccessPackageAssignment, DeliveryOutcome, NewAssignment, assignment_schedule};
use crate::directory::User;
use crate::error::DomainError;
use crate::extension::{CallbackData, CalloutInstance, CalloutStatus, CustomExtensionStage, StageExtension};
use crate::policy::{
    AccessPackageAnswerString, AccessPackageApprovalStage, EntitlementManagementSchedule, ExpirationPattern,
    PolicyPriority, RequestAction, applicability::PolicyNote,
};
use crate::timer::{Timer, TimerKind};

pub mod change;
pub mod events;
mod submit;

pub use submit::{OpenRequest, RequestInput, SubmitContext, SubmittedRequest, submit};

/// How long after completion a failed delivery may be reprocessed.
pub const REPROCESS_WINDOW_DAYS: i64 = 14;

/// `accessPackageRequestType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccessPackageRequestType {
    NotSpecified,
    UserAdd,
    UserUpdate,
    UserRemove,
    AdminAdd,
    AdminUpdate,
    AdminRemove,
    SystemAdd,
    SystemUpdate,
    SystemRemove,
    /// Listed by Graph as not supported.
    OnBehalfAdd,
    /// Removal decided by an access review (not processed: reviews remove through `systemRemove`).
    ApproverRemove,
}

/// Who originates a request type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOrigin {
    /// A user, for themselves or on behalf of someone else.
    User,
    /// An administrator assigning directly.
    Admin,
    /// The engine (auto-assignment, expiry).
    System,
}

impl AccessPackageRequestType {
    /// Graph's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotSpecified => "notSpecified",
            Self::UserAdd => "userAdd",
            Self::UserUpdate => "userUpdate",
            Self::UserRemove => "userRemove",
            Self::AdminAdd => "adminAdd",
            Self::AdminUpdate => "adminUpdate",
            Self::AdminRemove => "adminRemove",
            Self::SystemAdd => "systemAdd",
            Self::SystemUpdate => "systemUpdate",
            Self::SystemRemove => "systemRemove",
            Self::OnBehalfAdd => "onBehalfAdd",
            Self::ApproverRemove => "approverRemove",
        }
    }

    /// What the request does; `None` for the types the engine does not process.
    #[must_use]
    pub fn action(self) -> Option<RequestAction> {
        match self {
            Self::UserAdd | Self::AdminAdd | Self::SystemAdd => Some(RequestAction::Add),
            Self::UserUpdate | Self::AdminUpdate | Self::SystemUpdate => Some(RequestAction::Update),
            Self::UserRemove | Self::AdminRemove | Self::SystemRemove => Some(RequestAction::Remove),
            Self::NotSpecified | Self::OnBehalfAdd | Self::ApproverRemove => None,
        }
    }

    /// Who makes requests of this type; `None` for the types the engine does not process.
    #[must_use]
    pub fn origin(self) -> Option<RequestOrigin> {
        match self {
            Self::UserAdd | Self::UserUpdate | Self::UserRemove => Some(RequestOrigin::User),
            Self::AdminAdd | Self::AdminUpdate | Self::AdminRemove => Some(RequestOrigin::Admin),
            Self::SystemAdd | Self::SystemUpdate | Self::SystemRemove => Some(RequestOrigin::System),
            Self::NotSpecified | Self::OnBehalfAdd | Self::ApproverRemove => None,
        }
    }
}

/// `accessPackageRequestState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccessPackageRequestState {
    Submitted,
    PendingApproval,
    Delivering,
    Delivered,
    DeliveryFailed,
    Denied,
    Scheduled,
    Canceled,
    PartiallyDelivered,
}

impl AccessPackageRequestState {
    /// Graph's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::PendingApproval => "pendingApproval",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::DeliveryFailed => "deliveryFailed",
            Self::Denied => "denied",
            Self::Scheduled => "scheduled",
            Self::Canceled => "canceled",
            Self::PartiallyDelivered => "partiallyDelivered",
        }
    }

    /// Whether the request is finished (its `completedDateTime` is set).
    #[must_use]
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::DeliveryFailed | Self::Denied | Self::Canceled | Self::PartiallyDelivered
        )
    }
}

/// The finer `status` string of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RequestStatus {
    Accepted,
    PendingApproval,
    PendingApprovalEscalated,
    PendingNotBefore,
    Delivering,
    Delivered,
    PartiallyDelivered,
    DeliveryFailed,
    Denied,
    /// Denied because an approval stage timed out (the portal's "Expired").
    Expired,
    Canceled,
    /// A launch-and-wait custom extension was called; the request goes on when it calls back.
    WaitingForCallback,
}

impl RequestStatus {
    /// Graph's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "Accepted",
            Self::PendingApproval => "PendingApproval",
            Self::PendingApprovalEscalated => "PendingApprovalEscalated",
            Self::PendingNotBefore => "PendingNotBefore",
            Self::Delivering => "Delivering",
            Self::Delivered => "Delivered",
            Self::PartiallyDelivered => "PartiallyDelivered",
            Self::DeliveryFailed => "DeliveryFailed",
            Self::Denied => "Denied",
            Self::Expired => "Expired",
            Self::Canceled => "Canceled",
            Self::WaitingForCallback => "WaitingForCallback",
        }
    }

    /// The statuses Graph lets a request be canceled in.
    #[must_use]
    pub fn is_cancellable(self) -> bool {
        matches!(
            self,
            Self::Accepted | Self::PendingApproval | Self::PendingApprovalEscalated | Self::PendingNotBefore
        )
    }
}

/// The policy settings a request keeps from submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySnapshot {
    pub display_name: String,
    pub expiration: ExpirationPattern,
    pub stages: Vec<AccessPackageApprovalStage>,
    /// The custom extensions the request calls, by stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_extensions: Vec<StageExtension>,
}

/// One step of a request's story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationEntry {
    pub at: DateTime<Utc>,
    pub text: String,
}

/// Why a request is where it is: the policy that applied and why, the others and why not, and
/// every step since. Approver resolution is explained on each approval stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RequestExplanation {
    pub policy_reason: String,
    pub priority: Option<PolicyPriority>,
    pub other_policies: Vec<PolicyNote>,
    pub log: Vec<ExplanationEntry>,
}

/// An access package assignment request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageAssignmentRequest {
    pub id: RequestId,
    pub request_type: AccessPackageRequestType,
    pub state: AccessPackageRequestState,
    pub status: RequestStatus,
    pub justification: Option<String>,
    pub answers: Vec<AccessPackageAnswerString>,
    /// The schedule the requestor asked for (immutable); the assignment's own is computed at delivery.
    pub schedule: Option<EntitlementManagementSchedule>,
    pub access_package_id: AccessPackageId,
    pub assignment_policy_id: PolicyId,
    pub catalog_id: CatalogId,
    pub requestor: Actor,
    pub target_id: UserId,
    /// The assignment the request creates, updates or removes.
    pub assignment_id: Option<AssignmentId>,
    pub created_date_time: DateTime<Utc>,
    pub completed_date_time: Option<DateTime<Utc>>,
    pub approval: Option<Approval>,
    pub policy_snapshot: PolicySnapshot,
    pub explanation: RequestExplanation,
    /// The custom extensions called for the request (Graph's `customExtensionCalloutInstances`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_extension_callout_instances: Vec<CalloutInstance>,
}

/// Something the caller does after a transition, in the same transaction as storing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Effect {
    /// Create this assignment (state `delivering`), deliver the grants of
    /// [`crate::assignment::delivery_plan`], and report with [`AccessPackageAssignmentRequest::record_delivery`].
    CreateAssignment { assignment: Box<AccessPackageAssignment> },
    /// Deliver the assignment's grants again (reprocess), and report.
    Deliver { assignment_id: AssignmentId },
    /// Give the assignment this expiration ([`AccessPackageAssignment::extend`]), and report.
    ExtendAssignment { assignment_id: AssignmentId, expiration: ExpirationPattern },
    /// End the assignment ([`AccessPackageAssignment::end`]), revoke its plan, and report.
    RemoveAssignment { assignment_id: AssignmentId },
}

/// The result of a step: the new request, what to do, and its timers afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub request: AccessPackageAssignmentRequest,
    pub effects: Vec<Effect>,
    /// The complete set of the request's pending timers: replace the stored ones with these.
    pub timers: Vec<Timer>,
    /// `false` when the event changed nothing (a stale timer).
    pub changed: bool,
}

/// An extension as a request's story names it: "`TAP issuer`".
fn extension_label(extension: &StageExtension) -> String {
    if extension.display_name.is_empty() {
        format!("`{}`", extension.custom_extension_id)
    } else {
        format!("`{}`", extension.display_name)
    }
}

const ASSIGNMENT_NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_3a90_c2b8_47e5_8d14_b7a2_e05c_9f63);

/// The id of the assignment an add request creates: derived from the request id, so that
/// replaying a transition creates the same assignment.
#[must_use]
pub fn assignment_id_for(request_id: &RequestId) -> AssignmentId {
    Uuid::new_v5(&ASSIGNMENT_NAMESPACE, request_id.as_bytes()).to_string().into()
}

impl AccessPackageAssignmentRequest {
    fn log(&mut self, at: DateTime<Utc>, text: impl Into<String>) {
        self.explanation.log.push(ExplanationEntry { at, text: text.into() });
    }

    fn set(&mut self, state: AccessPackageRequestState, status: RequestStatus, now: DateTime<Utc>) {
        self.state = state;
        self.status = status;
        self.completed_date_time = state.is_completed().then_some(now);
    }

    fn finish(self, effects: Vec<Effect>) -> Transition {
        let timers = self.timers();
        Transition { request: self, effects, timers, changed: true }
    }

    fn unchanged(&self) -> Transition {
        Transition { request: self.clone(), effects: Vec::new(), timers: self.timers(), changed: false }
    }

    /// What the request does.
    #[must_use]
    pub fn action(&self) -> Option<RequestAction> {
        self.request_type.action()
    }

    /// The open approval stage and its index, if any.
    #[must_use]
    pub fn current_stage(&self) -> Option<(usize, &ApprovalStage)> {
        self.approval.as_ref()?.stages.iter().enumerate().find(|(_, s)| s.is_open())
    }

    /// The timers the request has in its current state.
    #[must_use]
    pub fn timers(&self) -> Vec<Timer> {
        let mut timers = Vec::new();
        match self.state {
            AccessPackageRequestState::PendingApproval => {
                if let Some((i, stage)) = self.current_stage() {
                    if let Some(at) = stage.escalation_date_time.filter(|_| !stage.escalated) {
                        timers.push(Timer::new(at, TimerKind::ApprovalEscalation { stage: i }));
                    }
                    if let Some(at) = stage.due_date_time {
                        timers.push(Timer::new(at, TimerKind::ApprovalTimeout { stage: i }));
                    }
                }
            }
            AccessPackageRequestState::Scheduled => {
                if let Some(at) = self.schedule.as_ref().and_then(|s| s.start_date_time) {
                    timers.push(Timer::new(at, TimerKind::ScheduledStart));
                }
            }
            _ => {}
        }
        if self.status == RequestStatus::WaitingForCallback {
            timers.retain(|t| {
                !matches!(t.kind, TimerKind::ApprovalTimeout { .. } | TimerKind::ApprovalEscalation { .. })
            });
            if let Some(until) = self.waiting().and_then(|i| i.wait_until) {
                timers.push(Timer::new(until, TimerKind::CallbackTimeout));
            }
        }
        timers.sort();
        timers
    }

    /// The launch-and-wait call the request waits for, if it waits.
    #[must_use]
    pub fn waiting(&self) -> Option<&CalloutInstance> {
        if self.status != RequestStatus::WaitingForCallback {
            return None;
        }
        self.custom_extension_callout_instances
            .iter()
            .rev()
            .find(|i| i.status == CalloutStatus::WaitingForCallback)
    }

    /// Calls the extension the request has at `stage`, if any: records the call, and with a
    /// launch-and-wait extension at a stage that may wait, makes the request wait for its
    /// callback. Returns whether it now waits.
    fn launch(&mut self, stage: CustomExtensionStage, now: DateTime<Utc>) -> bool {
        let Some(extension) =
            self.policy_snapshot.custom_extensions.iter().find(|e| e.stage == stage).cloned()
        else {
            return false;
        };
        let n = self.custom_extension_callout_instances.len();
        let wait_until = extension.wait.filter(|_| stage.may_wait()).and_then(|d| d.after(now));
        self.custom_extension_callout_instances.push(CalloutInstance {
            id: crate::extension::callout_id(&self.id, stage, n),
            custom_extension_id: extension.custom_extension_id.clone(),
            stage,
            status: if wait_until.is_some() {
                CalloutStatus::WaitingForCallback
            } else {
                CalloutStatus::Launched
            },
            detail: None,
            launched_date_time: now,
            wait_until,
            completed_date_time: None,
        });
        let name = extension_label(&extension);
        match (wait_until, extension.wait) {
            (Some(until), Some(wait)) => {
                self.status = RequestStatus::WaitingForCallback;
                self.completed_date_time = None;
                self.log(
                    now,
                    format!(
                        "{}: custom extension {name} called; waiting up to {wait} (until {}) for its callback",
                        stage.label(),
                        until.to_rfc3339()
                    ),
                );
                true
            }
            _ => {
                self.log(now, format!("{}: custom extension {name} called", stage.label()));
                false
            }
        }
    }

    /// How long the request waits for a callback at `stage`, if its extension there waits.
    #[must_use]
    pub fn callback_wait(&self, stage: CustomExtensionStage) -> Option<crate::duration::Duration> {
        self.policy_snapshot.custom_extensions.iter().find(|e| e.stage == stage).and_then(|e| e.wait)
    }

    fn extension_name(&self, id: &str) -> String {
        self.policy_snapshot
            .custom_extensions
            .iter()
            .find(|e| e.custom_extension_id == id)
            .map_or_else(|| format!("`{id}`"), extension_label)
    }

    fn replace_instance(&mut self, instance: CalloutInstance) {
        if let Some(slot) = self.custom_extension_callout_instances.iter_mut().find(|i| i.id == instance.id) {
            *slot = instance;
        }
    }

    /// A launch-and-wait extension called back (Graph's `resume`): the request goes on from the
    /// stage it waited at, or, at request created, is denied or canceled as the callback says.
    pub fn resume(
        &self,
        data: &CallbackData,
        target: &User,
        directory: &dyn DirectoryView,
        now: DateTime<Utc>,
    ) -> Result<Transition, DomainError> {
        let id = data.custom_extension_stage_instance_id.trim();
        let Some(instance) = self.custom_extension_callout_instances.iter().find(|i| i.id == id) else {
            return Err(DomainError::not_found("custom extension stage instance", id)
                .at("data.customExtensionStageInstanceId"));
        };
        if self.waiting().map(|w| w.id.as_str()) != Some(id) {
            return Err(DomainError::conflict(format!(
                "request `{}` is not waiting for a callback of stage instance `{id}` (its status is `{}`)",
                self.id,
                self.status.as_str()
            )));
        }
        if let Some(stage) = data.stage.filter(|s| *s != instance.stage) {
            return Err(DomainError::invalid(
                "type",
                format!(
                    "stage instance `{id}` is at `{}`, not `{}`",
                    instance.stage.as_str(),
                    stage.as_str()
                ),
            ));
        }
        let detail =
            data.custom_extension_stage_instance_detail.as_deref().map(str::trim).filter(|d| !d.is_empty());
        if detail.is_some_and(|d| d.chars().count() > crate::extension::MAX_DETAIL) {
            return Err(DomainError::invalid(
                "data.customExtensionStageInstanceDetail",
                format!("at most {} characters", crate::extension::MAX_DETAIL),
            ));
        }
        let outcome = match data.state.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) if s.eq_ignore_ascii_case("denied") => Some(AccessPackageRequestState::Denied),
            Some(s) if s.eq_ignore_ascii_case("canceled") => Some(AccessPackageRequestState::Canceled),
            Some(other) => {
                return Err(DomainError::invalid(
                    "data.state",
                    format!("a callback may set `denied` or `canceled`, not `{other}`"),
                ));
            }
        };
        if outcome.is_some() && instance.stage != CustomExtensionStage::AssignmentRequestCreated {
            return Err(DomainError::invalid(
                "data.state",
                "only a callback at `assignmentRequestCreated` may deny or cancel the request",
            ));
        }
        let mut next = self.clone();
        let stage = instance.stage;
        let name = self.extension_name(&instance.custom_extension_id);
        next.replace_instance(CalloutInstance {
            status: CalloutStatus::CallbackReceived,
            detail: detail.map(str::to_owned),
            completed_date_time: Some(now),
            ..instance.clone()
        });
        match outcome {
            Some(AccessPackageRequestState::Denied) => {
                next.set(AccessPackageRequestState::Denied, RequestStatus::Denied, now);
                next.log(now, format!("denied by custom extension {name} at {}", stage.label()));
                return Ok(next.finish(Vec::new()));
            }
            Some(_) => {
                next.set(AccessPackageRequestState::Canceled, RequestStatus::Canceled, now);
                next.log(now, format!("canceled by custom extension {name} at {}", stage.label()));
                return Ok(next.finish(Vec::new()));
            }
            None => next.log(now, format!("{}: custom extension {name} called back", stage.label())),
        }
        next.status = match next.state {
            AccessPackageRequestState::PendingApproval => RequestStatus::PendingApproval,
            _ => RequestStatus::Accepted,
        };
        if stage == CustomExtensionStage::AssignmentRequestCreated && next.approval.is_some() {
            return Ok(next.open_stage(0, target, directory, now));
        }
        Ok(next.proceed(now))
    }

    /// A launch-and-wait call failed after its retries: the request fails, saying why. A
    /// launch-and-continue call that failed is recorded on the request, which goes on. A call
    /// the request no longer waits for changes nothing.
    pub fn callout_failed(&self, callout_id: &str, error: &str, now: DateTime<Utc>) -> Transition {
        let Some(instance) = self.custom_extension_callout_instances.iter().find(|i| i.id == callout_id)
        else {
            return self.unchanged();
        };
        if !matches!(instance.status, CalloutStatus::Launched | CalloutStatus::WaitingForCallback) {
            return self.unchanged();
        }
        let waiting = self.waiting().is_some_and(|w| w.id == callout_id);
        let mut next = self.clone();
        let name = self.extension_name(&instance.custom_extension_id);
        next.replace_instance(CalloutInstance {
            status: CalloutStatus::CalloutFailed,
            detail: Some(error.to_owned()),
            completed_date_time: Some(now),
            ..instance.clone()
        });
        if waiting {
            next.set(AccessPackageRequestState::DeliveryFailed, RequestStatus::DeliveryFailed, now);
            next.log(
                now,
                format!(
                    "failed: custom extension {name} at {} could not be called: {error}",
                    instance.stage.label()
                ),
            );
        } else {
            next.log(
                now,
                format!("custom extension {name} at {} could not be called: {error}", instance.stage.label()),
            );
        }
        next.finish(Vec::new())
    }

    /// Moves an approved (or approval-free) request on: to `scheduled` when it starts later, else
    /// to `delivering` with the effect that delivers it.
    fn proceed(mut self, now: DateTime<Utc>) -> Transition {
        let start = self.schedule.as_ref().and_then(|s| s.start_date_time);
        if self.action() == Some(RequestAction::Add)
            && let Some(start) = start.filter(|s| *s > now)
        {
            self.set(AccessPackageRequestState::Scheduled, RequestStatus::PendingNotBefore, now);
            self.log(now, format!("scheduled: delivery starts at {}", start.to_rfc3339()));
            return self.finish(Vec::new());
        }
        self.start_delivery(now)
    }

    fn start_delivery(mut self, now: DateTime<Utc>) -> Transition {
        let effect = match self.action() {
            Some(RequestAction::Add) => {
                match assignment_schedule(&self.policy_snapshot.expiration, self.schedule.as_ref(), now) {
                    Ok(decision) => {
                        for note in &decision.notes {
                            self.log(now, note.clone());
                        }
                        let id = assignment_id_for(&self.id);
                        self.assignment_id = Some(id.clone());
                        let ends = decision.end().map_or_else(|| "never".to_owned(), |e| e.to_rfc3339());
                        self.log(now, format!("delivering: assignment `{id}` is created, ending {ends}"));
                        Effect::CreateAssignment {
                            assignment: Box::new(AccessPackageAssignment::new(NewAssignment {
                                id,
                                access_package_id: self.access_package_id.clone(),
                                assignment_policy_id: self.assignment_policy_id.clone(),
                                catalog_id: self.catalog_id.clone(),
                                target_id: self.target_id.clone(),
                                schedule: decision.schedule,
                            })),
                        }
                    }
                    Err(error) => {
                        self.set(
                            AccessPackageRequestState::DeliveryFailed,
                            RequestStatus::DeliveryFailed,
                            now,
                        );
                        self.log(now, format!("delivery failed: {}", error.message));
                        return self.finish(Vec::new());
                    }
                }
            }
            Some(RequestAction::Update) => {
                let id = self.assignment_id.clone().unwrap_or_default();
                match assignment_schedule(&self.policy_snapshot.expiration, self.schedule.as_ref(), now) {
                    Ok(decision) => {
                        for note in &decision.notes {
                            self.log(now, note.clone());
                        }
                        let expiration =
                            decision.schedule.expiration.unwrap_or_else(ExpirationPattern::no_expiration);
                        self.log(now, format!("delivering: assignment `{id}` now {}", expiration.describe()));
                        Effect::ExtendAssignment { assignment_id: id, expiration }
                    }
                    Err(error) => {
                        self.set(
                            AccessPackageRequestState::DeliveryFailed,
                            RequestStatus::DeliveryFailed,
                            now,
                        );
                        self.log(now, format!("delivery failed: {}", error.message));
                        return self.finish(Vec::new());
                    }
                }
            }
            Some(RequestAction::Remove) | None => {
                let id = self.assignment_id.clone().unwrap_or_default();
                self.log(now, format!("delivering: assignment `{id}` is removed"));
                Effect::RemoveAssignment { assignment_id: id }
            }
        };
        self.set(AccessPackageRequestState::Delivering, RequestStatus::Delivering, now);
        self.finish(vec![effect])
    }

    /// An approver decides a stage (the open one, or `decision.stage_id`). Approve opens the
    /// next stage, or moves the request on after the last; deny ends it.
    pub fn decide(
        &self,
        decision: &StageDecision,
        target: &User,
        directory: &dyn DirectoryView,
        now: DateTime<Utc>,
    ) -> Result<Transition, DomainError> {
        let Some(approval) = &self.approval else {
            return Err(DomainError::conflict(format!("request `{}` needs no approval", self.id)));
        };
        let index = match &decision.stage_id {
            Some(id) => approval
                .stages
                .iter()
                .position(|s| &s.id == id)
                .ok_or_else(|| DomainError::not_found("approval stage", id))?,
            None => match self.current_stage() {
                Some((i, _)) => i,
                // Nothing open: report on the last stage that was acted on.
                None => {
                    approval.stages.iter().rposition(|s| s.status != StageStatus::Initializing).unwrap_or(0)
                }
            },
        };
        let Some(stage) = approval.stages.get(index) else {
            return Err(DomainError::conflict(format!("request `{}` has no approval stage", self.id)));
        };
        // A stage nobody decided reports the request's state (canceled, denied at another stage);
        // a decided or timed-out one reports its own story.
        let undecided =
            stage.review_result == ReviewResult::NotReviewed && stage.status != StageStatus::Expired;
        if undecided && self.state != AccessPackageRequestState::PendingApproval {
            return Err(DomainError::conflict(format!(
                "request `{}` is `{}` and no longer awaits approval",
                self.id,
                self.state.as_str()
            )));
        }
        let subject = self.subject(target);
        let decided = stage.decide(decision, &subject, now)?;
        let mut next = self.clone();
        let who = directory
            .user(&decision.approver_id)
            .map_or_else(|| format!("`{}`", decision.approver_id), crate::policy::applicability::user_label);
        let justification = decided.justification.as_deref().map(|j| format!(": {j}")).unwrap_or_default();
        let approved = decided.review_result == ReviewResult::Approved;
        let verb = if approved { "approved" } else { "denied" };
        next.log(now, format!("{} {verb} by {who}{justification}", decided.display_name.to_lowercase()));
        next.replace_stage(index, decided);
        if !approved {
            next.set(AccessPackageRequestState::Denied, RequestStatus::Denied, now);
            return Ok(next.finish(Vec::new()));
        }
        let following = index + 1;
        if following < next.policy_snapshot.stages.len() {
            return Ok(next.open_stage(following, target, directory, now));
        }
        next.log(now, "approved: every stage approved");
        if next.launch(CustomExtensionStage::AssignmentRequestApproved, now) {
            return Ok(next.finish(Vec::new()));
        }
        Ok(next.proceed(now))
    }

    fn subject<'a>(&'a self, target: &'a User) -> ResolutionSubject<'a> {
        let requestor_id = match &self.requestor {
            Actor::User { id } => Some(id.as_str()),
            Actor::System | Actor::LocalOperator | Actor::External { .. } => None,
        };
        ResolutionSubject { requestor_id, target }
    }

    fn replace_stage(&mut self, index: usize, stage: ApprovalStage) {
        if let Some(slot) = self.approval.as_mut().and_then(|a| a.stages.get_mut(index)) {
            *slot = stage;
        }
    }

    /// Opens stage `index`: resolves its approvers; with nobody to decide, the request is denied.
    fn open_stage(
        mut self,
        index: usize,
        target: &User,
        directory: &dyn DirectoryView,
        now: DateTime<Utc>,
    ) -> Transition {
        let (Some(settings), Some(stage)) = (
            self.policy_snapshot.stages.get(index).cloned(),
            self.approval.as_ref().and_then(|a| a.stages.get(index)).cloned(),
        ) else {
            return self.proceed(now);
        };
        let opened = stage.open(&settings, &self.subject(target), directory, now);
        let names: Vec<String> =
            opened.primary.approvers.iter().map(|a| format!("`{}` ({})", a.id, a.via)).collect();
        let empty = opened.primary.approvers.is_empty();
        let label = opened.display_name.to_lowercase();
        self.log(
            now,
            if empty {
                format!("{label} opened with no approver: {}", opened.primary.notes.join("; "))
            } else {
                format!("{label} awaits {}", names.join(", "))
            },
        );
        self.replace_stage(index, opened);
        if empty {
            // The stage closes at once, undecided: nobody can ever decide it.
            if let Some(stage) = self.approval.as_ref().and_then(|a| a.stages.get(index)) {
                let closed = ApprovalStage { status: StageStatus::Completed, ..stage.clone() };
                self.replace_stage(index, closed);
            }
            self.set(AccessPackageRequestState::Denied, RequestStatus::Denied, now);
            self.log(now, format!("denied: nobody can decide {label}"));
        } else {
            self.set(AccessPackageRequestState::PendingApproval, RequestStatus::PendingApproval, now);
        }
        self.finish(Vec::new())
    }

    /// Cancels the request. Allowed in the cancellable statuses, to the requestor, the target, an
    /// administrator (`as_administrator`, decided by the caller) and the engine.
    pub fn cancel(
        &self,
        by: &Actor,
        as_administrator: bool,
        now: DateTime<Utc>,
    ) -> Result<Transition, DomainError> {
        let allowed = as_administrator
            || match by {
                Actor::System | Actor::LocalOperator => true,
                Actor::User { id } => &self.requestor == by || *id == self.target_id,
                // The same person, whatever their token says of them now.
                Actor::External { subject } => {
                    self.target_id == crate::guest::guest_id(&subject.issuer, &subject.object_id)
                }
            };
        if !allowed {
            return Err(DomainError::forbidden(format!(
                "only the requestor, the target or an administrator may cancel request `{}`",
                self.id
            )));
        }
        if !self.status.is_cancellable() {
            return Err(DomainError::conflict(format!(
                "a request in status `{}` cannot be canceled; only `Accepted`, `PendingApproval`, `PendingApprovalEscalated` and `PendingNotBefore` requests can",
                self.status.as_str()
            )));
        }
        let mut next = self.clone();
        if let Some((i, stage)) = self.current_stage() {
            // An open stage closes without a review, so it no longer shows as awaiting anyone.
            next.replace_stage(i, ApprovalStage { status: StageStatus::Completed, ..stage.clone() });
        }
        next.set(AccessPackageRequestState::Canceled, RequestStatus::Canceled, now);
        next.log(now, format!("canceled by {}", by.label()));
        Ok(next.finish(Vec::new()))
    }

    /// Handles a due timer. A stale one (the stage was decided, the request canceled) changes
    /// nothing; one that is not due yet is refused.
    pub fn on_timer(&self, timer: &Timer, now: DateTime<Utc>) -> Result<Transition, DomainError> {
        if timer.due > now {
            return Err(DomainError::conflict(format!(
                "the timer is due at {}, not yet",
                timer.due.to_rfc3339()
            )));
        }
        if matches!(
            timer.kind,
            TimerKind::AssignmentExpiryReminder
                | TimerKind::AssignmentNearExpiry
                | TimerKind::AssignmentExpiration
                | TimerKind::ScopeRemoval
        ) {
            return Err(DomainError::invalid("timer", "this timer belongs to an assignment, not a request"));
        }
        if !self.timers().contains(timer) {
            return Ok(self.unchanged());
        }
        let mut next = self.clone();
        match timer.kind {
            TimerKind::ApprovalTimeout { stage } => {
                let Some(open) = self.approval.as_ref().and_then(|a| a.stages.get(stage)) else {
                    return Ok(self.unchanged());
                };
                let waited = self
                    .policy_snapshot
                    .stages
                    .get(stage)
                    .map(|s| s.duration_before_automatic_denial.to_string())
                    .unwrap_or_default();
                let label = open.display_name.to_lowercase();
                next.replace_stage(stage, open.expire());
                next.set(AccessPackageRequestState::Denied, RequestStatus::Expired, now);
                next.log(now, format!("denied: {label} had no decision within {waited} and timed out"));
                Ok(next.finish(Vec::new()))
            }
            TimerKind::ApprovalEscalation { stage } => {
                let Some(escalated) = self
                    .approval
                    .as_ref()
                    .and_then(|a| a.stages.get(stage))
                    .and_then(ApprovalStage::escalate)
                else {
                    return Ok(self.unchanged());
                };
                let label = escalated.display_name.to_lowercase();
                let text = match &escalated.escalation {
                    Some(e) if !e.approvers.is_empty() => format!(
                        "{label} escalated to {}; the primary approvers can still decide",
                        e.approvers
                            .iter()
                            .map(|a| format!("`{}` ({})", a.id, a.via))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some(e) => format!(
                        "{label} escalated, but no alternate approver could be resolved ({}); the primary approvers still decide",
                        e.notes.join("; ")
                    ),
                    None => format!("{label} escalated"),
                };
                next.replace_stage(stage, escalated);
                next.status = RequestStatus::PendingApprovalEscalated;
                next.log(now, text);
                Ok(next.finish(Vec::new()))
            }
            TimerKind::ScheduledStart => {
                next.log(now, "the scheduled start is reached");
                Ok(next.start_delivery(now))
            }
            TimerKind::CallbackTimeout => {
                let Some(instance) = self.waiting().cloned() else { return Ok(self.unchanged()) };
                let name = self.extension_name(&instance.custom_extension_id);
                let waited = self.callback_wait(instance.stage).map(|d| d.to_string()).unwrap_or_default();
                next.replace_instance(CalloutInstance {
                    status: CalloutStatus::CallbackTimedOut,
                    completed_date_time: Some(now),
                    ..instance.clone()
                });
                next.set(AccessPackageRequestState::DeliveryFailed, RequestStatus::DeliveryFailed, now);
                next.log(
                    now,
                    format!(
                        "failed: custom extension {name} at {} did not call back within {waited}",
                        instance.stage.label()
                    ),
                );
                Ok(next.finish(Vec::new()))
            }
            TimerKind::AssignmentExpiryReminder
            | TimerKind::AssignmentNearExpiry
            | TimerKind::AssignmentExpiration
            | TimerKind::ScopeRemoval
            | TimerKind::GuestDeletion
            | TimerKind::ReviewStart { .. }
            | TimerKind::ReviewEnding { .. }
            | TimerKind::ReviewEnd { .. } => Err(DomainError::invalid(
                "timer",
                "this timer belongs to an assignment, a guest or a review, not a request",
            )),
        }
    }

    /// Records how delivery went: everything, some, or nothing delivered.
    pub fn record_delivery(
        &self,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<Transition, DomainError> {
        if self.state != AccessPackageRequestState::Delivering {
            return Err(DomainError::conflict(format!(
                "request `{}` is `{}`, not delivering",
                self.id,
                self.state.as_str()
            )));
        }
        let mut next = self.clone();
        let failures: Vec<String> = outcome
            .failed
            .iter()
            .map(|f| match &f.grant {
                Some(g) => format!("{}: {}", g.describe(), f.error),
                None => f.error.clone(),
            })
            .collect();
        let (state, status, text) = match outcome.state() {
            crate::assignment::AccessPackageAssignmentState::Delivered => (
                AccessPackageRequestState::Delivered,
                RequestStatus::Delivered,
                format!("delivered ({} grant(s))", outcome.delivered.len()),
            ),
            crate::assignment::AccessPackageAssignmentState::PartiallyDelivered => (
                AccessPackageRequestState::PartiallyDelivered,
                RequestStatus::PartiallyDelivered,
                format!("partially delivered; failed: {}", failures.join("; ")),
            ),
            _ => (
                AccessPackageRequestState::DeliveryFailed,
                RequestStatus::DeliveryFailed,
                format!("delivery failed: {}", failures.join("; ")),
            ),
        };
        next.set(state, status, now);
        next.log(now, text);
        if state == AccessPackageRequestState::Delivered {
            let stage = match self.action() {
                Some(RequestAction::Remove) => CustomExtensionStage::AssignmentRequestRemoved,
                _ => CustomExtensionStage::AssignmentRequestGranted,
            };
            next.launch(stage, now);
        }
        Ok(next.finish(Vec::new()))
    }

    /// Retries a failed or partial delivery, within 14 days of its completion.
    pub fn reprocess(&self, now: DateTime<Utc>) -> Result<Transition, DomainError> {
        if !matches!(
            self.state,
            AccessPackageRequestState::DeliveryFailed | AccessPackageRequestState::PartiallyDelivered
        ) {
            return Err(DomainError::conflict(format!(
                "request `{}` is `{}`; only `deliveryFailed` and `partiallyDelivered` requests can be reprocessed",
                self.id,
                self.state.as_str()
            )));
        }
        let completed = self.completed_date_time.unwrap_or(self.created_date_time);
        if now - completed > TimeDelta::days(REPROCESS_WINDOW_DAYS) {
            return Err(DomainError::conflict(format!(
                "request `{}` completed on {}, more than {REPROCESS_WINDOW_DAYS} days ago; submit a new request",
                self.id,
                completed.to_rfc3339()
            )));
        }
        let mut next = self.clone();
        next.log(now, "reprocessing");
        // A call the request waited for failed: the extension is called again.
        let failed_wait = self
            .custom_extension_callout_instances
            .last()
            .filter(|i| i.wait_until.is_some())
            .filter(|i| matches!(i.status, CalloutStatus::CallbackTimedOut | CalloutStatus::CalloutFailed))
            .map(|i| i.stage);
        if let Some(stage) =
            failed_wait.filter(|_| self.assignment_id.is_none() || self.action() != Some(RequestAction::Add))
        {
            next.state = if stage == CustomExtensionStage::AssignmentRequestApproved {
                AccessPackageRequestState::PendingApproval
            } else {
                AccessPackageRequestState::Submitted
            };
            next.completed_date_time = None;
            if next.launch(stage, now) {
                return Ok(next.finish(Vec::new()));
            }
            return Ok(next.proceed(now));
        }
        let effect = match (self.action(), &self.assignment_id) {
            (Some(RequestAction::Add), Some(id)) => Effect::Deliver { assignment_id: id.clone() },
            // The assignment was never created (its schedule could not be computed): start over.
            (Some(RequestAction::Add | RequestAction::Update), _) => return Ok(next.start_delivery(now)),
            (_, id) => Effect::RemoveAssignment { assignment_id: id.clone().unwrap_or_default() },
        };
        next.set(AccessPackageRequestState::Delivering, RequestStatus::Delivering, now);
        Ok(next.finish(vec![effect]))
    }
}

#[cfg(test)]
mod tests;
