//! Requests, approvals and assignments in GraphQL, under Graph's names:
//! `accessPackageAssignmentRequest` with its `approval` stages, `accessPackageAssignment`,
//! `filterByCurrentUser`, the approver's decision (Graph's `PATCH approvals/{id}/stages/{id}`),
//! `cancel` and `reprocess`; and, on a server started with `--virtual-clock`, `advanceClock`.
//!
//! Every request explains itself (`explanation`): the policy that applied and why, the other
//! policies and why not, how each stage's approvers were resolved, and every step since.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use em_engine::approval::{ApprovalStage, ApproverResolution, ReviewDecision, StageDecision};
use em_engine::assignment::{AccessPackageAssignment, Grant};
use em_engine::policy::AccessPackageAnswerString;
use em_engine::request::{AccessPackageAssignmentRequest, AccessPackageRequestType, RequestInput};
use em_engine::{Actor, DomainError};

use super::catalog::{AccessPackageCatalogNode, AccessPackageNode};
use super::directory::{UserNode, user_of};
use super::error::OrGraphql;
use super::loaders::{RelatedPackageKey, RelatedPolicyKey};
use super::node::{assignment_id, catalog_id, global_id, local_id, optional, package_id, policy_id};
use super::page::{self, Conn};
use super::policy::{AccessPackageAssignmentPolicyNode, ScheduleValue, schedule_input};
use super::{actor, services};
use crate::service::model::{AssignmentFilter, RequestFilter, StoredAssignment, StoredRequest};
use crate::service::requests::RequestsOf;

/// Graph's spelling of an engine enum (its serde name).
fn spelled<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// `accessPackageRequestType`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(name = "AccessPackageRequestType", rename_items = "camelCase")]
pub enum RequestTypeValue {
    NotSpecified,
    #[default]
    UserAdd,
    UserUpdate,
    UserRemove,
    AdminAdd,
    AdminUpdate,
    AdminRemove,
    SystemAdd,
    SystemUpdate,
    SystemRemove,
    OnBehalfAdd,
}

impl From<RequestTypeValue> for AccessPackageRequestType {
    fn from(v: RequestTypeValue) -> Self {
        match v {
            RequestTypeValue::NotSpecified => Self::NotSpecified,
            RequestTypeValue::UserAdd => Self::UserAdd,
            RequestTypeValue::UserUpdate => Self::UserUpdate,
            RequestTypeValue::UserRemove => Self::UserRemove,
            RequestTypeValue::AdminAdd => Self::AdminAdd,
            RequestTypeValue::AdminUpdate => Self::AdminUpdate,
            RequestTypeValue::AdminRemove => Self::AdminRemove,
            RequestTypeValue::SystemAdd => Self::SystemAdd,
            RequestTypeValue::SystemUpdate => Self::SystemUpdate,
            RequestTypeValue::SystemRemove => Self::SystemRemove,
            RequestTypeValue::OnBehalfAdd => Self::OnBehalfAdd,
        }
    }
}

/// An answer to one of the policy's questions.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "AccessPackageAnswerString", input_name = "AccessPackageAnswerStringInput")]
pub struct AnswerValue {
    /// The question answered (`answeredQuestion.id` in Graph).
    pub question_id: String,
    /// The answer: the text, or the value of the chosen choice (several choices: one answer each).
    pub value: String,
    /// What the requestor saw: the choice's text, or the value itself. Set on submission.
    #[graphql(skip_input)]
    pub display_value: Option<String>,
}

impl From<&AccessPackageAnswerString> for AnswerValue {
    fn from(a: &AccessPackageAnswerString) -> Self {
        Self {
            question_id: a.answered_question.id.clone(),
            value: a.value.clone(),
            display_value: a.display_value.clone(),
        }
    }
}

/// An approver and how they came to be one.
#[derive(SimpleObject)]
pub struct ResolvedApproverValue {
    pub id: ID,
    pub display_name: Option<String>,
    /// How: `named as singleUser`, `member of group ...`, `manager of ...`, `fallback: ...`.
    pub via: String,
}

/// How one role of a stage (primary or escalation) was resolved.
#[derive(SimpleObject)]
pub struct ApproverResolutionValue {
    pub approvers: Vec<ResolvedApproverValue>,
    /// What was left out and why: missing managers, blocked users, self-approval.
    pub notes: Vec<String>,
    pub used_fallback: bool,
}

impl From<&ApproverResolution> for ApproverResolutionValue {
    fn from(r: &ApproverResolution) -> Self {
        Self {
            approvers: r
                .approvers
                .iter()
                .map(|a| ResolvedApproverValue {
                    id: ID(a.id.clone()),
                    display_name: a.display_name.clone(),
                    via: a.via.clone(),
                })
                .collect(),
            notes: r.notes.clone(),
            used_fallback: r.used_fallback,
        }
    }
}

/// Graph's `approvalStage`.
pub struct ApprovalStageNode(ApprovalStage);

#[Object(name = "ApprovalStage")]
impl ApprovalStageNode {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    /// `NotReviewed`, `Approved` or `Denied`.
    async fn review_result(&self) -> String {
        spelled(&self.0.review_result)
    }
    /// `Initializing`, `InProgress`, `Completed` or `Expired`.
    async fn status(&self) -> String {
        spelled(&self.0.status)
    }
    async fn reviewed_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserNode>> {
        let Some(id) = &self.0.reviewed_by else { return Ok(None) };
        user_of(ctx, id).await
    }
    async fn reviewed_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.reviewed_date_time
    }
    async fn justification(&self) -> Option<&str> {
        self.0.justification.as_deref()
    }
    /// Whether the signed-in user may decide this stage now.
    async fn assigned_to_me(&self, ctx: &Context<'_>) -> bool {
        match actor(ctx) {
            Actor::User { id } => self.0.is_assigned_to(&id),
            _ => false,
        }
    }
    /// The ids of who may decide now: the primary approvers, and the escalation ones once escalated.
    async fn assigned_to(&self) -> Vec<ID> {
        self.0.assigned_to.iter().cloned().map(ID).collect()
    }
    async fn is_escalated(&self) -> bool {
        self.0.escalated
    }
    async fn is_approver_justification_required(&self) -> bool {
        self.0.is_approver_justification_required
    }
    async fn started_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.started_date_time
    }
    /// When the stage is denied if nobody decides.
    async fn due_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.due_date_time
    }
    /// When the escalation approvers join.
    async fn escalation_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.escalation_date_time
    }
    /// How the primary approvers were resolved.
    async fn primary_approvers(&self) -> ApproverResolutionValue {
        (&self.0.primary).into()
    }
    /// How the escalation approvers were resolved, when the stage escalates.
    async fn escalation_approvers(&self) -> Option<ApproverResolutionValue> {
        self.0.escalation.as_ref().map(Into::into)
    }
}

/// Graph's `approval` of a request: its id is the request's.
pub struct ApprovalNode(AccessPackageAssignmentRequest);

#[Object(name = "Approval")]
impl ApprovalNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn stages(&self) -> Vec<ApprovalStageNode> {
        self.0.approval.iter().flat_map(|a| a.stages.iter().cloned()).map(ApprovalStageNode).collect()
    }
}

/// A policy considered for a request, and why it was not chosen.
#[derive(SimpleObject)]
pub struct PolicyNoteValue {
    pub policy_id: ID,
    pub policy_display_name: String,
    pub reason: String,
}

/// One step of a request's story.
#[derive(SimpleObject)]
pub struct ExplanationEntryValue {
    pub at: DateTime<Utc>,
    pub text: String,
}

/// Why a request is where it is.
#[derive(SimpleObject)]
pub struct RequestExplanationValue {
    /// Which policy applied and why.
    pub policy_reason: String,
    /// The policy's priority category (`P1` .. `P4`) when several could apply.
    pub priority: Option<String>,
    pub other_policies: Vec<PolicyNoteValue>,
    /// Every step, oldest first: submitted, each stage's approvers, decisions, delivery.
    pub log: Vec<ExplanationEntryValue>,
}

/// `accessPackageAssignmentRequest`.
/// A request, and for the answer of a mutation the assignment as that mutation committed it
/// (its `assignment` field then reads no database).
pub struct AccessPackageAssignmentRequestNode(
    pub AccessPackageAssignmentRequest,
    pub Option<StoredAssignment>,
);

/// The answer of a mutation: the request, with its assignment as the mutation committed it.
fn committed(
    ctx: &Context<'_>,
    request: AccessPackageAssignmentRequest,
) -> AccessPackageAssignmentRequestNode {
    let assignment = request
        .assignment_id
        .as_ref()
        .and_then(|id| services(ctx).committed_assignment(&request.target_id, id));
    AccessPackageAssignmentRequestNode(request, assignment)
}

impl From<StoredRequest> for AccessPackageAssignmentRequestNode {
    fn from(stored: StoredRequest) -> Self {
        Self(stored.request, None)
    }
}

#[Object(name = "AccessPackageAssignmentRequest")]
impl AccessPackageAssignmentRequestNode {
    pub async fn id(&self) -> ID {
        global_id("AccessPackageAssignmentRequest", &self.0.id)
    }
    async fn request_type(&self) -> &'static str {
        self.0.request_type.as_str()
    }
    /// `submitted`, `pendingApproval`, `scheduled`, `delivering`, `delivered`,
    /// `partiallyDelivered`, `deliveryFailed`, `denied` or `canceled`.
    async fn state(&self) -> &'static str {
        self.0.state.as_str()
    }
    /// The finer status: `PendingApproval`, `PendingApprovalEscalated`, `PendingNotBefore`,
    /// `Delivered`, `Denied`, `Expired` (an approval timed out), `Canceled`, ...
    async fn status(&self) -> &'static str {
        self.0.status.as_str()
    }
    async fn justification(&self) -> Option<&str> {
        self.0.justification.as_deref()
    }
    async fn answers(&self) -> Vec<AnswerValue> {
        self.0.answers.iter().map(Into::into).collect()
    }
    /// The schedule the requestor asked for.
    async fn schedule(&self) -> Option<ScheduleValue> {
        self.0.schedule.as_ref().map(Into::into)
    }
    async fn created_date_time(&self) -> DateTime<Utc> {
        self.0.created_date_time
    }
    async fn completed_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.completed_date_time
    }
    /// The requestor: a user id, or `system` / `local-operator`.
    async fn requestor_id(&self) -> String {
        match &self.0.requestor {
            Actor::User { id } => id.to_string(),
            other => other.label(),
        }
    }
    async fn requestor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserNode>> {
        let Actor::User { id } = &self.0.requestor else { return Ok(None) };
        user_of(ctx, id).await
    }
    /// Someone from another organization who requested (Graph's `requestor` as an
    /// `accessPackageSubject`): their e-mail, name and connected organization, and the guest
    /// invited for them once there is one. `None` for a directory user or the engine.
    async fn requestor_subject(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::organization::AccessPackageSubjectNode>> {
        let Actor::External { subject } = &self.0.requestor else { return Ok(None) };
        let organization = services(ctx).caller_organization(&self.0.requestor).await.gql()?;
        let invited = user_of(ctx, &self.0.target_id).await?.is_some();
        let guest = invited.then(|| self.0.target_id.to_string());
        Ok(Some(super::organization::AccessPackageSubjectNode::outsider(subject, guest, organization)))
    }
    async fn target_id(&self) -> ID {
        ID(self.0.target_id.to_string())
    }
    /// The user who gets (or loses) the access.
    async fn target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserNode>> {
        user_of(ctx, &self.0.target_id).await
    }
    /// The custom extensions called for the request, and what became of each call.
    async fn custom_extension_callout_instances(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::extension::CalloutInstanceValue>> {
        let calls = services(ctx).request_callouts(&actor(ctx), &self.0).await.gql()?;
        Ok(calls.into_iter().map(Into::into).collect())
    }
    async fn access_package(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageNode>> {
        related_package(ctx, &self.0.access_package_id).await
    }
    async fn assignment_policy(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<AccessPackageAssignmentPolicyNode>> {
        let key = RelatedPolicyKey(self.0.assignment_policy_id.clone());
        Ok(super::loaders::load(ctx, key).await?.map(AccessPackageAssignmentPolicyNode))
    }
    async fn catalog(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageCatalogNode>> {
        super::catalog::catalog_of(ctx, &self.0.catalog_id).await
    }
    /// The assignment the request created, changes or removes.
    async fn assignment(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<AccessPackageAssignmentNode>> {
        let Some(id) = &self.0.assignment_id else { return Ok(None) };
        if let Some(committed) = self.1.as_ref().filter(|a| a.assignment.id == *id) {
            return Ok(Some(committed.clone().into()));
        }
        if !services(ctx).sees_request(&actor(ctx), &self.0).await.gql()? {
            return Ok(None);
        }
        let key = super::loaders::RelatedAssignmentKey(id.clone());
        Ok(super::loaders::load(ctx, key).await?.map(Into::into))
    }
    /// The approval stages, when the policy requires approval.
    async fn approval(&self) -> Option<ApprovalNode> {
        self.0.approval.as_ref().map(|_| ApprovalNode(self.0.clone()))
    }
    /// Why the request is where it is.
    async fn explanation(&self) -> RequestExplanationValue {
        let e = &self.0.explanation;
        RequestExplanationValue {
            policy_reason: e.policy_reason.clone(),
            priority: e.priority.map(|p| p.as_str().to_owned()),
            other_policies: e
                .other_policies
                .iter()
                .map(|n| PolicyNoteValue {
                    policy_id: ID(n.policy_id.to_string()),
                    policy_display_name: n.policy_display_name.clone(),
                    reason: n.reason.clone(),
                })
                .collect(),
            log: e.log.iter().map(|l| ExplanationEntryValue { at: l.at, text: l.text.clone() }).collect(),
        }
    }
}

/// A resource role an assignment delivered.
#[derive(SimpleObject)]
pub struct DeliveredGrantValue {
    /// `groupMember`, `groupOwner`, `appRole`, `siteRole`, `directoryRoleEligible`, `directoryRoleActive`.
    #[graphql(name = "type")]
    pub kind: String,
    /// The group, application, site or directory role.
    pub object_id: ID,
    /// The app role or site role, where there is one.
    pub role_id: Option<String>,
    pub description: String,
}

impl From<&Grant> for DeliveredGrantValue {
    fn from(grant: &Grant) -> Self {
        let (object, role) = match grant {
            Grant::GroupMember { group_id } | Grant::GroupOwner { group_id } => (group_id.clone(), None),
            Grant::AppRole { application_id, app_role_id } => {
                (application_id.clone(), Some(app_role_id.clone()))
            }
            Grant::SiteRole { site_id, role_id } => (site_id.clone(), Some(role_id.clone())),
            Grant::DirectoryRoleEligible { directory_role_id }
            | Grant::DirectoryRoleActive { directory_role_id } => (directory_role_id.clone(), None),
        };
        let kind = serde_json::to_value(grant)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
            .unwrap_or_default();
        Self { kind, object_id: ID(object), role_id: role, description: grant.describe() }
    }
}

/// `accessPackageAssignment`.
pub struct AccessPackageAssignmentNode(pub AccessPackageAssignment);

impl From<StoredAssignment> for AccessPackageAssignmentNode {
    fn from(stored: StoredAssignment) -> Self {
        Self(stored.assignment)
    }
}

#[Object(name = "AccessPackageAssignment")]
impl AccessPackageAssignmentNode {
    pub async fn id(&self) -> ID {
        global_id("AccessPackageAssignment", &self.0.id)
    }
    /// `delivering`, `delivered`, `partiallyDelivered`, `deliveryFailed` or `expired`.
    async fn state(&self) -> String {
        spelled(&self.0.state)
    }
    /// The finer status, with `NearExpiry1DayNotificationTriggered` the day before the end.
    async fn status(&self) -> &'static str {
        self.0.status.as_str()
    }
    /// The custom extensions called for the assignment (before its expiry, as it ends).
    async fn custom_extension_callout_instances(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::extension::CalloutInstanceValue>> {
        let calls = services(ctx).assignment_callouts(&self.0.id).await.gql()?;
        Ok(calls.into_iter().map(Into::into).collect())
    }
    async fn schedule(&self) -> ScheduleValue {
        (&self.0.schedule).into()
    }
    /// When the assignment ends, if it does.
    async fn end_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.end_date_time()
    }
    async fn expired_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.expired_date_time
    }
    async fn target_id(&self) -> ID {
        ID(self.0.target_id.to_string())
    }
    async fn target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserNode>> {
        user_of(ctx, &self.0.target_id).await
    }
    async fn access_package(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageNode>> {
        related_package(ctx, &self.0.access_package_id).await
    }
    async fn assignment_policy(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<AccessPackageAssignmentPolicyNode>> {
        let key = RelatedPolicyKey(self.0.assignment_policy_id.clone());
        Ok(super::loaders::load(ctx, key).await?.map(AccessPackageAssignmentPolicyNode))
    }
    async fn catalog(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageCatalogNode>> {
        super::catalog::catalog_of(ctx, &self.0.catalog_id).await
    }
    /// The resource roles delivered to the target (beta's `accessPackageAssignmentResourceRoles`).
    async fn delivered_resource_roles(&self) -> Vec<DeliveredGrantValue> {
        self.0.delivered_grants.iter().map(Into::into).collect()
    }
}

/// The package a request, assignment or policy the caller sees names (read with the others of
/// its page in one batch).
pub(crate) async fn related_package(
    ctx: &Context<'_>,
    id: &em_engine::id::AccessPackageId,
) -> async_graphql::Result<Option<AccessPackageNode>> {
    Ok(super::loaders::load(ctx, RelatedPackageKey(id.clone())).await?.map(AccessPackageNode))
}

/// `filterByCurrentUser(on: ...)` for requests.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessPackageAssignmentRequestFilterByCurrentUserOptions", rename_items = "camelCase")]
pub enum RequestsOfValue {
    /// Requests for the signed-in user.
    Target,
    /// Requests the signed-in user made.
    CreatedBy,
    /// Requests waiting for the signed-in user's decision.
    Approver,
}

impl From<RequestsOfValue> for RequestsOf {
    fn from(v: RequestsOfValue) -> Self {
        match v {
            RequestsOfValue::Target => Self::Target,
            RequestsOfValue::CreatedBy => Self::CreatedBy,
            RequestsOfValue::Approver => Self::Approver,
        }
    }
}

#[derive(InputObject, Default)]
#[graphql(name = "AccessPackageAssignmentRequestFilter")]
pub struct RequestFilterInput {
    pub access_package_id: Option<ID>,
    pub catalog_id: Option<ID>,
    /// A request state: `pendingApproval`, `delivered`, ...
    pub state: Option<String>,
}

#[derive(InputObject, Default)]
#[graphql(name = "AccessPackageAssignmentFilter")]
pub struct AssignmentFilterInput {
    pub access_package_id: Option<ID>,
    pub catalog_id: Option<ID>,
    pub assignment_policy_id: Option<ID>,
    pub target_id: Option<ID>,
    /// Only assignments that still give access (default), or also expired ones.
    #[graphql(default = true)]
    pub active_only: bool,
}

fn optional_id(raw: Option<ID>, type_name: &str, field: &str) -> async_graphql::Result<Option<String>> {
    raw.map(|id| local_id(&id, type_name, field)).transpose().gql()
}

#[derive(Default)]
pub struct RequestQuery;

#[Object]
impl RequestQuery {
    /// A request, if the caller may see it: administrators, its requestor and target, its approvers.
    async fn assignment_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AccessPackageAssignmentRequestNode>> {
        let id = super::node::request_id(&id, "id").gql()?;
        Ok(services(ctx).visible_request(&actor(ctx), &id).await.gql()?.map(Into::into))
    }

    /// Requests, oldest first. Administrators see every request; other users pass
    /// `filterByCurrentUser` (`target`, `createdBy`, or `approver` for those awaiting them).
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn assignment_requests(
        &self,
        ctx: &Context<'_>,
        filter_by_current_user: Option<RequestsOfValue>,
        filter: Option<RequestFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessPackageAssignmentRequestNode>> {
        let f = filter.unwrap_or_default();
        let filter = RequestFilter {
            access_package_id: optional(f.access_package_id, "filter.accessPackageId", package_id)?,
            catalog_id: optional(f.catalog_id, "filter.catalogId", catalog_id)?,
            state: f.state,
            ..RequestFilter::default()
        };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let found = services(ctx)
            .list_requests(&actor(ctx), filter_by_current_user.map(Into::into), filter, &request)
            .await
            .gql()?;
        Ok(page::connection(found, has_previous, Into::into))
    }

    /// An assignment, if the caller may see it: administrators and its target.
    async fn assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AccessPackageAssignmentNode>> {
        let id = super::node::assignment_id(&id, "id").gql()?;
        Ok(services(ctx).visible_assignment(&actor(ctx), &id).await.gql()?.map(Into::into))
    }

    /// Assignments, oldest first. Administrators see every assignment; other users pass
    /// `filterByCurrentUser: true` for their own (Graph's `on='target'`).
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn assignments(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] filter_by_current_user: bool,
        filter: Option<AssignmentFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessPackageAssignmentNode>> {
        let f = filter.unwrap_or(AssignmentFilterInput { active_only: true, ..Default::default() });
        let filter = AssignmentFilter {
            access_package_id: optional(f.access_package_id, "filter.accessPackageId", package_id)?,
            catalog_id: optional(f.catalog_id, "filter.catalogId", catalog_id)?,
            assignment_policy_id: optional(f.assignment_policy_id, "filter.assignmentPolicyId", policy_id)?,
            target_id: optional_id(f.target_id, "User", "filter.targetId")?.map(Into::into),
            active_only: f.active_only,
            catalog_ids: None,
        };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let found = services(ctx)
            .list_assignments(&actor(ctx), filter_by_current_user, filter, &request)
            .await
            .gql()?;
        Ok(page::connection(found, has_previous, Into::into))
    }

    /// Graph's `additionalAccess`: assignments of `accessPackageId` whose targets also hold
    /// `incompatibleAccessPackageId`, or, without it, any package or group marked incompatible
    /// with the package (either way round): the separation-of-duties violations that exist,
    /// for example from before the incompatibility was declared. Administrators only.
    async fn additional_access(
        &self,
        ctx: &Context<'_>,
        access_package_id: ID,
        incompatible_access_package_id: Option<ID>,
    ) -> async_graphql::Result<Vec<SeparationOfDutiesViolation>> {
        let package = package_id(&access_package_id, "accessPackageId").gql()?;
        let other = optional(incompatible_access_package_id, "incompatibleAccessPackageId", package_id)?;
        let found = services(ctx).additional_access(&actor(ctx), &package, other.as_ref()).await.gql()?;
        Ok(found
            .into_iter()
            .map(|v| SeparationOfDutiesViolation {
                assignment: AccessPackageAssignmentNode(v.assignment),
                reason: v.reason,
            })
            .collect())
    }

    /// The time the server runs on (virtual with `--virtual-clock`).
    async fn clock(&self, ctx: &Context<'_>) -> ClockValue {
        let s = services(ctx);
        ClockValue { now: s.now(), is_virtual: s.is_virtual_clock() }
    }
}

/// An assignment that breaks separation of duties, and why.
#[derive(SimpleObject)]
pub struct SeparationOfDutiesViolation {
    pub assignment: AccessPackageAssignmentNode,
    pub reason: String,
}

/// The server's time.
#[derive(SimpleObject)]
#[graphql(name = "Clock")]
pub struct ClockValue {
    pub now: DateTime<Utc>,
    /// Whether the server runs on a virtual clock that `advanceClock` moves.
    pub is_virtual: bool,
}

/// Graph's `POST assignmentRequests`.
#[derive(InputObject)]
pub struct CreateAssignmentRequestInput {
    /// `userAdd` (default), `userUpdate`, `userRemove`, `adminAdd`, `adminUpdate`, `adminRemove`.
    #[graphql(default)]
    pub request_type: RequestTypeValue,
    pub access_package_id: ID,
    /// The policy to request through; may be left out when exactly one applies.
    pub assignment_policy_id: Option<ID>,
    /// The user who should get the access; the caller when left out.
    pub target_id: Option<ID>,
    /// For update and remove requests: the assignment changed.
    pub assignment_id: Option<ID>,
    pub justification: Option<String>,
    #[graphql(default)]
    pub answers: Vec<AnswerValue>,
    /// When the access should start and end, where the policy lets requestors choose.
    pub schedule: Option<ScheduleValue>,
    /// Someone from another organization agrees to share their name and e-mail address with
    /// this organization (My Access asks them); required of them, recorded on the request.
    #[graphql(default)]
    pub consent_to_share_profile: bool,
}

#[derive(SimpleObject)]
pub struct AssignmentRequestPayload {
    pub assignment_request: AccessPackageAssignmentRequestNode,
}

/// An approver's decision: Graph's `PATCH .../approvals/{approvalId}/stages/{stageId}`.
#[derive(InputObject)]
pub struct UpdateApprovalStageInput {
    /// The approval's id, which is the request's.
    pub approval_id: ID,
    /// The stage decided; the open one when left out.
    pub stage_id: Option<ID>,
    pub review_result: ReviewDecisionValue,
    pub justification: Option<String>,
}

/// `Approve` or `Deny`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ReviewDecision", rename_items = "PascalCase")]
pub enum ReviewDecisionValue {
    Approve,
    Deny,
}

#[derive(InputObject)]
pub struct AssignmentRequestIdInput {
    pub id: ID,
}

/// Where to move a virtual clock: to a time, or forward by an ISO 8601 duration.
#[derive(InputObject)]
pub struct AdvanceClockInput {
    pub to: Option<DateTime<Utc>>,
    /// `PT1H`, `P14D`, ...
    pub by: Option<String>,
}

#[derive(SimpleObject)]
pub struct AdvanceClockPayload {
    pub now: DateTime<Utc>,
    /// How many timers fired (stage timeouts and escalations, scheduled starts, expirations).
    pub fired_timers: usize,
}

#[derive(Default)]
pub struct RequestMutation;

#[Object]
impl RequestMutation {
    /// Requests an access package: for yourself (`userAdd`), for someone else (`userAdd` with
    /// `targetId`, where the policy allows it), or directly as an administrator (`adminAdd`);
    /// extends (`*Update`) or removes (`*Remove`) an assignment. The request comes back already
    /// moved on: `pendingApproval`, `scheduled`, or delivered.
    async fn create_assignment_request(
        &self,
        ctx: &Context<'_>,
        input: CreateAssignmentRequestInput,
    ) -> async_graphql::Result<AssignmentRequestPayload> {
        let package_id = package_id(&input.access_package_id, "accessPackageId").gql()?;
        let schedule = input.schedule.map(schedule_input).transpose().gql()?;
        let request = RequestInput {
            id: em_engine::id::RequestId::default(),
            request_type: input.request_type.into(),
            requestor: actor(ctx),
            access_package_id: package_id,
            assignment_policy_id: optional(input.assignment_policy_id, "assignmentPolicyId", policy_id)?,
            assignment_id: optional(input.assignment_id, "assignmentId", assignment_id)?,
            justification: input.justification,
            answers: input
                .answers
                .iter()
                .map(|a| AccessPackageAnswerString::new(&a.question_id, &a.value))
                .collect(),
            schedule,
            profile_consent: input.consent_to_share_profile,
        };
        let target = optional_id(input.target_id, "User", "targetId")?.map(Into::into);
        let request = services(ctx).submit_request(&actor(ctx), request, target).await.gql()?;
        Ok(AssignmentRequestPayload { assignment_request: committed(ctx, request) })
    }

    /// Records the signed-in approver's decision on a stage. The first decision wins: a
    /// second gets `CONFLICT`.
    async fn update_approval_stage(
        &self,
        ctx: &Context<'_>,
        input: UpdateApprovalStageInput,
    ) -> async_graphql::Result<AssignmentRequestPayload> {
        let request_id = super::node::request_id(&input.approval_id, "approvalId").gql()?;
        let decision = StageDecision {
            stage_id: input.stage_id.map(|s| s.0),
            approver_id: String::new(),
            review_result: match input.review_result {
                ReviewDecisionValue::Approve => ReviewDecision::Approve,
                ReviewDecisionValue::Deny => ReviewDecision::Deny,
            },
            justification: input.justification,
        };
        let request = services(ctx).decide_request(&actor(ctx), &request_id, decision).await.gql()?;
        Ok(AssignmentRequestPayload { assignment_request: committed(ctx, request) })
    }

    /// Cancels a pending request: its requestor, its target or an administrator.
    async fn cancel_assignment_request(
        &self,
        ctx: &Context<'_>,
        input: AssignmentRequestIdInput,
    ) -> async_graphql::Result<AssignmentRequestPayload> {
        let id = super::node::request_id(&input.id, "id").gql()?;
        let request = services(ctx).cancel_request(&actor(ctx), &id).await.gql()?;
        Ok(AssignmentRequestPayload { assignment_request: committed(ctx, request) })
    }

    /// Retries a `deliveryFailed` or `partiallyDelivered` request within 14 days.
    async fn reprocess_assignment_request(
        &self,
        ctx: &Context<'_>,
        input: AssignmentRequestIdInput,
    ) -> async_graphql::Result<AssignmentRequestPayload> {
        let id = super::node::request_id(&input.id, "id").gql()?;
        let request = services(ctx).reprocess_request(&actor(ctx), &id).await.gql()?;
        Ok(AssignmentRequestPayload { assignment_request: committed(ctx, request) })
    }

    /// Moves a virtual clock forward (servers started with `--virtual-clock`; administrators
    /// only) and fires everything that falls due, in order.
    async fn advance_clock(
        &self,
        ctx: &Context<'_>,
        input: AdvanceClockInput,
    ) -> async_graphql::Result<AdvanceClockPayload> {
        let s = services(ctx);
        let to = match (input.to, input.by.as_deref()) {
            (Some(to), None) => to,
            (None, Some(by)) => {
                let duration = em_engine::duration::Duration::parse(by.trim())
                    .map_err(|e| DomainError::invalid("by", e.to_string()))
                    .gql()?;
                duration
                    .after(s.now())
                    .ok_or_else(|| DomainError::invalid("by", "the duration is too long"))
                    .gql()?
            }
            _ => return Err(DomainError::invalid("to", "give exactly one of `to` and `by`")).gql(),
        };
        let (now, fired) = s.advance_clock(&actor(ctx), to).await.gql()?;
        Ok(AdvanceClockPayload { now, fired_timers: fired })
    }
}
