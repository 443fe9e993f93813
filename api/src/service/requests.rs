//! Requests, approvals and assignments: submitting a request, deciding its stages, canceling
//! and reprocessing it, and carrying out what the engine decides (creating an assignment and
//! delivering its grants into the directory, ending one and revoking what no other assignment
//! still grants), with the events that tell approvers, requestors and administrators.
//!
//! Every operation loads what the engine decides on, asks the engine, and commits the outcome
//! as one [`GovernanceWrite`]. The write checks in its transaction that the target's requests and
//! assignments have not moved since they were read; when they have, the operation decides again
//! on fresh data ([`Services::decided`]), so that two racing submissions for incompatible
//! packages cannot both pass separation of duties and the first decision on a stage wins.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use em_engine::approval::{DirectorySnapshot, StageDecision};
use em_engine::assignment::AccessPackageAssignment;
use em_engine::delegation::{Delegations, Right};
use em_engine::directory::GroupRelation;
use em_engine::id::{AccessPackageId, AssignmentId, RequestId, UserId};
use em_engine::policy::SubjectSet;
use em_engine::request::change::{self, Held, Realized};
use em_engine::request::{AccessPackageAssignmentRequest, RequestInput, Transition};
use em_engine::timer::Timer;
use em_engine::{Actor, DomainError};

use super::authz;
use super::context::{PackageContext, Subject, TargetState};
use super::{ServiceError, ServiceResult, Services, found};
use crate::store::requests::{DueTimer, GovernanceWrite, StoredAssignment, StoredRequest, TimerOwner};

/// How many times an operation decides again after its data moved under it.
const ATTEMPTS: usize = 8;

fn is_stale(error: &ServiceError) -> bool {
    matches!(error, ServiceError::Stale)
}

impl Services {
    /// Runs `attempt` until it commits on data that did not move under it.
    pub(crate) async fn decided<T, F, Fut>(&self, mut attempt: F) -> ServiceResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ServiceResult<T>>,
    {
        let mut tries = 0;
        loop {
            match attempt().await {
                Err(e) if is_stale(&e) && tries + 1 < ATTEMPTS => {
                    tries += 1;
                    if tries > 1 {
                        // Writers racing for one target on several replicas: apart, at random.
                        let spread = 1u128 << tries.min(6);
                        let wait = uuid::Uuid::new_v4().as_u128() % spread;
                        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Submits a request (Graph's `POST assignmentRequests`). The requestor is the caller; for
    /// `adminAdd`/`adminUpdate` the caller needs the right to assign directly in the package's
    /// catalog, for `adminRemove` the right to remove assignments.
    pub async fn submit_request(
        &self,
        actor: &Actor,
        mut input: RequestInput,
        target_id: Option<UserId>,
    ) -> ServiceResult<AccessPackageAssignmentRequest> {
        input.requestor = actor.clone();
        if input.request_type.origin() == Some(em_engine::request::RequestOrigin::Admin) {
            let right = match input.request_type {
                em_engine::request::AccessPackageRequestType::AdminRemove => Right::RemoveAssignments,
                _ => Right::AssignDirectly,
            };
            self.package_for(actor, right, &input.access_package_id, "accessPackageId").await?;
        }
        let named = match &input.assignment_id {
            // An update or removal names the assignment; its target is the assignment's.
            Some(id) => {
                let missing = || DomainError::not_found("assignment", id).at("assignmentId");
                let stored = self.store.assignment(id).await?.ok_or_else(missing)?;
                let delegations = self.delegations(actor).await?;
                if !authz::sees_assignment(&delegations, actor, &stored.assignment) {
                    return Err(missing().into());
                }
                Some(stored)
            }
            None => None,
        };
        let target_id = match (target_id, actor) {
            // Someone from another organization requests for themselves only, as the guest
            // they would become (or are).
            (target, Actor::External { subject }) => {
                let own = em_engine::guest::guest_id(&subject.issuer, &subject.object_id);
                if target.is_some_and(|t| !t.trim().is_empty() && t != own) {
                    return Err(outsider_request().into());
                }
                own
            }
            (Some(t), _) if !t.trim().is_empty() => t,
            _ if named.is_some() => named.map(|a| a.assignment.target_id).unwrap_or_default(),
            (_, Actor::User { id }) => id.clone(),
            _ => {
                return Err(
                    DomainError::invalid("targetId", "name the user who should get the access").into()
                );
            }
        };
        input.id = self.new_id().into();
        let submitted = self.decided(|| self.submit_once(&input, &target_id)).await;
        super::Statistics::count(&self.statistics.policy_decisions, 1);
        submitted
    }

    async fn submit_once(
        &self,
        input: &RequestInput,
        target_id: &UserId,
    ) -> ServiceResult<AccessPackageAssignmentRequest> {
        let now = self.now();
        let context = self.package_context(&input.access_package_id, "accessPackageId").await?;
        let target = match self.target_subject(target_id, &input.requestor, "targetId").await {
            // A deleted user's access is still removed (auto-assignment removes it when the
            // user goes): the removal needs nothing of them but their id.
            Err(ServiceError::Domain(e))
                if e.code == em_engine::ErrorCode::NotFound
                    && input.request_type.action() == Some(em_engine::policy::RequestAction::Remove) =>
            {
                let user = em_engine::directory::User { id: target_id.clone(), ..Default::default() };
                Subject { user, group_ids: std::collections::BTreeSet::new(), organization: None }
            }
            other => other?,
        };
        let requestor = match &input.requestor {
            Actor::User { id } if id == target_id => None,
            Actor::User { id } => Some(self.subject(id, "requestor").await?),
            Actor::System | Actor::LocalOperator | Actor::External { .. } => None,
        };
        let unconnected = match &input.requestor {
            Actor::External { subject } if subject.connected_organization_id.is_none() => Some(subject),
            _ => None,
        };
        if let Some(subject) = unconnected {
            outsider_covered(&context, subject)?;
        }
        let state = self.target_state(target_id).await?;
        let directory = self.approver_directory(&context.stages, &target, requestor.as_ref()).await?;
        let requestor_facts = match &input.requestor {
            Actor::User { .. } | Actor::External { .. } => {
                Some(requestor.as_ref().unwrap_or(&target).facts())
            }
            _ => None,
        };
        let mut transition =
            context.submit(input.clone(), requestor_facts, target.facts(), &state, &directory, now)?;
        if let Some(subject) = unconnected {
            // Accepted through an `allExternalUsers` policy: their domain is recorded as a
            // proposed organization, which their guest will come from.
            let organization = self.propose_organization(subject).await?;
            if let Actor::External { subject } = &mut transition.request.requestor {
                subject.connected_organization_id = Some(organization);
            }
        }
        let realized = self.realize(None, transition, &state, &context, &input.requestor, now)?;
        self.commit_with_guest(realized.change, realized.events, &state, &input.requestor).await?;
        Ok(realized.request)
    }

    /// Commits a change of a target's requests and assignments with its guest step (see
    /// `guests`).
    async fn commit_with_guest(
        &self,
        write: GovernanceWrite,
        events: Vec<em_engine::event::Event>,
        state: &TargetState,
        actor: &Actor,
    ) -> ServiceResult<()> {
        let (write, events) = self.with_guest_step(write, events, state, actor).await?;
        self.commit_governance(write, events, state).await
    }

    /// Records an approver's decision on a request's open stage (Graph's `PATCH stages/{id}`).
    pub async fn decide_request(
        &self,
        actor: &Actor,
        request_id: &RequestId,
        mut decision: StageDecision,
    ) -> ServiceResult<AccessPackageAssignmentRequest> {
        let Actor::User { id } = actor else {
            return Err(DomainError::forbidden("approvals are decided by a signed-in directory user").into());
        };
        decision.approver_id = id.to_string();
        let decided = self
            .decided(|| async {
                let now = self.now();
                let (stored, state, target) = self.request_context(request_id).await?;
                let stages = stored.request.policy_snapshot.stages.clone();
                let directory = self.approver_directory(&stages, &target, None).await?;
                let transition = stored.request.decide(&decision, &target.user, &directory, now)?;
                self.commit_transition(stored, transition, &state, actor, now).await
            })
            .await;
        super::Statistics::count(&self.statistics.policy_decisions, 1);
        decided
    }

    /// Cancels a request while it is pending: its requestor or target, or whoever may manage
    /// the requests of its catalog.
    pub async fn cancel_request(
        &self,
        actor: &Actor,
        request_id: &RequestId,
    ) -> ServiceResult<AccessPackageAssignmentRequest> {
        let delegations = self.delegations(actor).await?;
        self.decided(|| async {
            let now = self.now();
            let (stored, state, _) = self.request_context(request_id).await?;
            let manager = self.may_manage_request(&delegations, actor, &stored.request, "id")?;
            let transition = stored.request.cancel(actor, manager, now)?;
            self.commit_transition(stored, transition, &state, actor, now).await
        })
        .await
    }

    /// Retries a failed or partial delivery (Graph's `reprocess`): the requestor and the target,
    /// and whoever may manage the requests of its catalog.
    pub async fn reprocess_request(
        &self,
        actor: &Actor,
        request_id: &RequestId,
    ) -> ServiceResult<AccessPackageAssignmentRequest> {
        let delegations = self.delegations(actor).await?;
        self.decided(|| async {
            let now = self.now();
            let (stored, state, _) = self.request_context(request_id).await?;
            let manager = self.may_manage_request(&delegations, actor, &stored.request, "id")?;
            if !(manager || authz::is_party(actor, &stored.request)) {
                return Err(DomainError::forbidden(format!(
                    "only the requestor, the target or whoever may {} may reprocess a request",
                    Right::ManageRequests.task()
                ))
                .into());
            }
            let transition = stored.request.reprocess(now)?;
            self.commit_transition(stored, transition, &state, actor, now).await
        })
        .await
    }

    /// A launch-and-wait custom extension called back (authenticated by the caller of this:
    /// its signature, or a right to manage the catalog's requests): the request goes on, or at
    /// request created is denied or canceled as the callback says.
    pub(crate) async fn resume_request(
        &self,
        actor: &Actor,
        request_id: &RequestId,
        data: &em_engine::extension::CallbackData,
    ) -> ServiceResult<AccessPackageAssignmentRequest> {
        self.decided(|| async {
            let now = self.now();
            let (stored, state, target) = self.request_context(request_id).await?;
            let stages = stored.request.policy_snapshot.stages.clone();
            let directory = self.approver_directory(&stages, &target, None).await?;
            let transition = stored.request.resume(data, &target.user, &directory, now)?;
            self.commit_transition(stored, transition, &state, actor, now).await
        })
        .await
    }

    /// A custom extension's call failed after its retries: a request waiting for it fails, and
    /// the failure is recorded on the request.
    pub(crate) async fn callout_failed(
        &self,
        request_id: &RequestId,
        callout_id: &str,
        error: &str,
    ) -> ServiceResult<()> {
        self.decided(|| async {
            let now = self.now();
            let Some(stored) = self.stored_request(request_id).await? else { return Ok(()) };
            let state = self.target_state(&stored.request.target_id).await?;
            let transition = stored.request.callout_failed(callout_id, error, now);
            if !transition.changed {
                return Ok(());
            }
            self.commit_transition(stored, transition, &state, &Actor::System, now).await?;
            Ok(())
        })
        .await
    }

    /// Fires a due timer of a request or an assignment: the transition it makes, or the stale
    /// timer dropped.
    pub(crate) async fn fire_lifecycle_timer(&self, due: &DueTimer) -> ServiceResult<()> {
        let now = self.now();
        let state = self.target_state(&due.target_id).await?;
        match due.owner {
            TimerOwner::Scope | TimerOwner::Guest | TimerOwner::Review => Err(ServiceError::Internal(
                "a scope removal's timer belongs to auto-assignment, a guest's to guests, a review's to reviews".into(),
            )),
            TimerOwner::Request => {
                let Some(stored) = self.stored_request(&due.owner_id.as_str().into()).await? else {
                    return self
                        .drop_timers(&due.target_id, state.version, TimerOwner::Request, &due.owner_id)
                        .await;
                };
                let transition = stored.request.on_timer(&due.timer, now)?;
                if !transition.changed {
                    return self
                        .drop_stale_timer(
                            &due.target_id,
                            state.version,
                            TimerOwner::Request,
                            &due.owner_id,
                            transition.timers,
                        )
                        .await;
                }
                self.commit_transition(stored, transition, &state, &Actor::System, now).await?;
                Ok(())
            }
            TimerOwner::Assignment => {
                let Some(stored) =
                    state.assignments.iter().find(|a| a.assignment.id == due.owner_id).cloned()
                else {
                    // Ended (or never active): its timers go.
                    return self
                        .drop_timers(&due.target_id, state.version, TimerOwner::Assignment, &due.owner_id)
                        .await;
                };
                let context =
                    self.package_context(&stored.assignment.access_package_id, "accessPackageId").await.ok();
                let name = context.as_ref().map(|c| c.package.display_name.as_str());
                let extensions = context
                    .as_ref()
                    .map(|c| c.stage_extensions(&stored.assignment.assignment_policy_id))
                    .unwrap_or_default();
                let held = held(&state);
                let mine = Held { assignment: &stored.assignment, version: stored.version };
                let stamp = self.stamp(&Actor::System, now);
                let (write, events) = change::assignment_timer(
                    mine,
                    &held,
                    &due.timer,
                    state.version,
                    name,
                    &extensions,
                    &stamp,
                    now,
                )?;
                self.commit_with_guest(write, events, &state, &Actor::System).await
            }
        }
    }

    async fn drop_timers(
        &self,
        target: &UserId,
        version: u64,
        owner: TimerOwner,
        id: &str,
    ) -> ServiceResult<()> {
        self.drop_stale_timer(target, version, owner, id, Vec::new()).await
    }

    /// Replaces an object's timers with the ones it has now (a fired timer turned out stale).
    async fn drop_stale_timer(
        &self,
        target: &UserId,
        version: u64,
        owner: TimerOwner,
        id: &str,
        timers: Vec<Timer>,
    ) -> ServiceResult<()> {
        let mut write = GovernanceWrite::new(target, version);
        write.timers.push((owner, id.to_owned(), timers));
        let state = self.target_state(target).await?;
        self.commit_governance(write, Vec::new(), &state).await
    }

    /// A request, its target's state and the target.
    /// Whether `actor` may manage the request as a manager of its catalog's requests; a request
    /// they cannot see at all while they manage requests elsewhere is `NOT_FOUND` (naming
    /// `field`), as a missing one.
    fn may_manage_request(
        &self,
        delegations: &Delegations,
        actor: &Actor,
        request: &AccessPackageAssignmentRequest,
        field: &str,
    ) -> ServiceResult<bool> {
        if delegations.allows(Right::ManageRequests, &request.catalog_id) {
            return Ok(true);
        }
        if !authz::sees_request(delegations, actor, request)
            && delegations.holds_anywhere(Right::ManageRequests)
        {
            return Err(DomainError::not_found("assignment request", &request.id).at(field).into());
        }
        Ok(false)
    }

    async fn request_context(
        &self,
        request_id: &RequestId,
    ) -> ServiceResult<(StoredRequest, Arc<TargetState>, Subject)> {
        let stored = found(self.stored_request(request_id).await?, "assignment request", "id", request_id)?;
        let state = self.target_state(&stored.request.target_id).await?;
        let target =
            self.target_subject(&stored.request.target_id, &stored.request.requestor, "targetId").await?;
        Ok((stored, state, target))
    }

    async fn commit_transition(
        &self,
        stored: StoredRequest,
        transition: Transition,
        state: &TargetState,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> ServiceResult<AccessPackageAssignmentRequest> {
        let context = self.package_context(&stored.request.access_package_id, "accessPackageId").await?;
        let realized = self.realize(Some(&stored), transition, state, &context, actor, now)?;
        self.commit_with_guest(realized.change, realized.events, state, actor).await?;
        Ok(realized.request)
    }

    /// The engine's whole change for a transition of `before` (`None`: being submitted), decided
    /// on `state` (see `em_engine::request::change`).
    pub(crate) fn realize(
        &self,
        before: Option<&StoredRequest>,
        transition: Transition,
        state: &TargetState,
        context: &PackageContext,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> ServiceResult<Realized> {
        let held = held(state);
        let before = before.map(|b| (&b.request, b.version));
        let stamp = self.stamp(actor, now);
        Ok(change::realize(before, transition, state.version, &held, &context.delivery(), &stamp, now)?)
    }

    /// The slice of the directory approver resolution reads for these stages: the target and
    /// requestor, their managers two levels up, the users named, and the members of the groups
    /// named.
    async fn approver_directory(
        &self,
        stages: &[em_engine::policy::AccessPackageApprovalStage],
        target: &Subject,
        requestor: Option<&Subject>,
    ) -> ServiceResult<DirectorySnapshot> {
        let mut directory = DirectorySnapshot::default();
        let mut users: Vec<String> = Vec::new();
        let mut subjects = vec![&target.user];
        subjects.extend(requestor.map(|r| &r.user));
        for user in subjects {
            directory.add_user(user.clone());
            let mut current = user.manager_id().map(str::to_owned);
            for _ in 0..2 {
                let Some(manager_id) = current.take() else { break };
                if let Some(manager) = self.cached_user(&manager_id).await? {
                    current = manager.manager_id().map(str::to_owned);
                    directory.add_user(manager);
                }
            }
        }
        let mut sets: Vec<SubjectSet> = Vec::new();
        for s in stages {
            sets.extend(s.primary_approvers.iter().cloned());
            sets.extend(s.fallback_primary_approvers.iter().cloned());
            sets.extend(s.escalation_approvers.iter().cloned());
            sets.extend(s.fallback_escalation_approvers.iter().cloned());
        }
        // Sponsors are users, or groups whose members approve.
        let mut sponsors: Vec<String> = Vec::new();
        let sponsored = sets.iter().any(|s| {
            matches!(
                s,
                SubjectSet::InternalSponsors | SubjectSet::ExternalSponsors | SubjectSet::TargetUserSponsors
            )
        });
        if sponsored {
            sponsors.extend(target.user.sponsors.iter().map(|s| s.id.clone()));
            if let Some((org, _)) = &target.organization {
                sponsors
                    .extend(org.internal_sponsors.iter().chain(&org.external_sponsors).map(|s| s.id.clone()));
                directory.organizations.insert(target.user.id.clone(), org.clone());
            }
        }
        for sponsor in sponsors {
            match self.cached_user(&sponsor).await? {
                Some(user) => directory.add_user(user),
                None => sets.push(SubjectSet::GroupMembers { group_id: sponsor, description: None }),
            }
        }
        for set in &sets {
            match set {
                SubjectSet::SingleUser { user_id, .. } => users.push(user_id.clone()),
                SubjectSet::GroupMembers { group_id, .. }
                    if !directory.group_members.contains_key(group_id) =>
                {
                    let members = self.cached_group_members(group_id).await?;
                    users.extend(members.iter().cloned());
                    directory.group_members.insert(group_id.clone(), (*members).clone());
                }
                _ => {}
            }
        }
        users.retain(|id| !directory.users.contains_key(id.as_str()));
        users.sort();
        users.dedup();
        for id in users {
            if let Some(user) = self.cached_user(&id).await? {
                directory.add_user(user);
            }
        }
        Ok(directory)
    }
}

/// What a target holds, as the engine reads it.
fn held(state: &TargetState) -> Vec<Held<'_>> {
    state.assignments.iter().map(|a| Held { assignment: &a.assignment, version: a.version }).collect()
}

/// `filterByCurrentUser(on: ...)` for requests: the signed-in user's requests by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestsOf {
    /// Requests for the user (`target`).
    Target,
    /// Requests the user made (`createdBy`).
    CreatedBy,
    /// Requests awaiting the user's decision (`approver`).
    Approver,
}

impl Services {
    /// One page of requests. With `filterByCurrentUser`, the caller's own (as target, requestor or
    /// approver); without it, the requests of every catalog where the caller may read requests.
    pub async fn list_requests(
        &self,
        actor: &Actor,
        by_me: Option<RequestsOf>,
        mut filter: crate::store::requests::RequestFilter,
        page: &crate::store::PageRequest,
    ) -> ServiceResult<crate::store::Page<StoredRequest>> {
        let outsider = match actor {
            Actor::External { subject } => {
                Some(em_engine::guest::guest_id(&subject.issuer, &subject.object_id))
            }
            _ => None,
        };
        match (by_me, actor) {
            // Someone from another organization: their requests, which target their guest.
            (Some(RequestsOf::Target | RequestsOf::CreatedBy), Actor::External { .. }) => {
                filter.target_id = outsider;
            }
            (Some(on), Actor::User { id }) => match on {
                RequestsOf::Target => filter.target_id = Some(id.clone()),
                RequestsOf::CreatedBy => filter.requestor_id = Some(id.clone()),
                RequestsOf::Approver => filter.assigned_to = Some(id.to_string()),
            },
            (Some(_), _) => {
                return Err(DomainError::invalid(
                    "filterByCurrentUser",
                    "`filterByCurrentUser` answers for a signed-in directory user",
                )
                .into());
            }
            (None, _) => {
                let delegations = self.require_anywhere(actor, Right::ReadRequests).await.map_err(|_| {
                    let refusal = em_engine::delegation::forbidden(Right::ReadRequests, None);
                    DomainError::forbidden(format!(
                        "{}; use `filterByCurrentUser` for your own requests",
                        refusal.message
                    ))
                })?;
                filter.catalog_ids = delegations.reach(Right::ReadRequests).catalog_ids();
            }
        }
        Ok(self.store.requests(&filter, page).await?)
    }

    /// One page of assignments: with `filterByCurrentUser: true` the caller's own (Graph's
    /// `on='target'`), without it those of every catalog where the caller may read assignments.
    pub async fn list_assignments(
        &self,
        actor: &Actor,
        mine: bool,
        mut filter: crate::store::requests::AssignmentFilter,
        page: &crate::store::PageRequest,
    ) -> ServiceResult<crate::store::Page<StoredAssignment>> {
        match (mine, actor) {
            (true, Actor::User { id }) => filter.target_id = Some(id.clone()),
            (true, Actor::External { subject }) => {
                filter.target_id = Some(em_engine::guest::guest_id(&subject.issuer, &subject.object_id));
            }
            (true, _) => {
                return Err(DomainError::invalid(
                    "filterByCurrentUser",
                    "`filterByCurrentUser` answers for a signed-in directory user",
                )
                .into());
            }
            (false, _) => {
                let delegations =
                    self.require_anywhere(actor, Right::ReadAssignments).await.map_err(|_| {
                        let refusal = em_engine::delegation::forbidden(Right::ReadAssignments, None);
                        DomainError::forbidden(format!(
                            "{}; use `filterByCurrentUser` for your own assignments",
                            refusal.message
                        ))
                    })?;
                filter.catalog_ids = delegations.reach(Right::ReadAssignments).catalog_ids();
            }
        }
        Ok(self.store.assignments(&filter, page).await?)
    }

    /// A request, when the caller may see it: its requestor and target, anyone asked to approve
    /// it, and whoever may read the requests of its catalog.
    pub async fn visible_request(
        &self,
        actor: &Actor,
        id: &RequestId,
    ) -> ServiceResult<Option<StoredRequest>> {
        let Some(stored) = self.store.request(id).await? else { return Ok(None) };
        let delegations = self.delegations(actor).await?;
        Ok(authz::sees_request(&delegations, actor, &stored.request).then_some(stored))
    }

    /// An assignment, when the caller may see it: its target, and whoever may read the
    /// assignments of its catalog.
    pub async fn visible_assignment(
        &self,
        actor: &Actor,
        id: &AssignmentId,
    ) -> ServiceResult<Option<StoredAssignment>> {
        let Some(stored) = self.store.assignment(id).await? else { return Ok(None) };
        let delegations = self.delegations(actor).await?;
        Ok(authz::sees_assignment(&delegations, actor, &stored.assignment).then_some(stored))
    }
}

/// The catalogs where `delegations` reach `right`, as a store filter (`None`: every catalog).
impl Services {
    /// Brings every active assignment of a package in line with the package's resource roles
    /// now: roles added to the package are delivered to its assignees, roles removed are taken
    /// away (except where another of the assignee's assignments still grants them). Idempotent.
    /// Returns how many assignments changed.
    pub async fn reconcile_package_grants(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
    ) -> ServiceResult<usize> {
        let mut changed = 0;
        for stored in self.store.active_assignments_of_package(package_id).await? {
            let id = stored.assignment.id.clone();
            let target = stored.assignment.target_id.clone();
            if self.decided(|| self.reconcile_assignment(actor, package_id, &target, &id)).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn reconcile_assignment(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
        target_id: &UserId,
        assignment_id: &AssignmentId,
    ) -> ServiceResult<bool> {
        let context = self.package_context(package_id, "accessPackageId").await?;
        let state = self.target_state(target_id).await?;
        let Some(stored) = state.assignments.iter().find(|a| a.assignment.id == *assignment_id) else {
            return Ok(false);
        };
        let mine = Held { assignment: &stored.assignment, version: stored.version };
        let stamp = self.stamp(actor, self.now());
        let Some((write, event)) =
            change::regrant(mine, &held(&state), state.version, &context.delivery(), &stamp)
        else {
            return Ok(false);
        };
        self.commit_governance(write, vec![event], &state).await?;
        Ok(true)
    }
}

/// An existing separation-of-duties violation: an assignment of a package held by a user who
/// also holds an incompatible package or is a member of an incompatible group.
#[derive(Debug, Clone)]
pub struct Violation {
    pub assignment: AccessPackageAssignment,
    /// Why: ``also holds incompatible access package `X` (assignment `a`)``.
    pub reason: String,
}

impl Services {
    /// Graph's `additionalAccess`: the assignments of `package_id` whose targets also hold
    /// `incompatible_id` (or, without it, any package or group incompatible with the package,
    /// either way round). For whoever may read the package's assignments. Ordered by target, then assignment.
    pub async fn additional_access(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
        incompatible_id: Option<&AccessPackageId>,
    ) -> ServiceResult<Vec<Violation>> {
        self.package_for(actor, Right::ReadAssignments, package_id, "accessPackageId").await?;
        let context = self.package_context(package_id, "accessPackageId").await?;
        let package = &context.package;
        let (mut packages, mut groups) =
            (context.incompatible_packages.clone(), context.incompatible_groups.clone());
        if let Some(other) = incompatible_id {
            let other =
                self.package_for(actor, Right::ReadCatalog, other, "incompatibleAccessPackageId").await?;
            packages = vec![other];
            groups.clear();
        }
        let mut out = Vec::new();
        let assignments = self.store.active_assignments_of_package(&package.id).await?;
        let mut holders: std::collections::BTreeMap<UserId, Vec<StoredAssignment>> = Default::default();
        for other in &packages {
            for held in self.store.active_assignments_of_package(&other.id).await? {
                holders.entry(held.assignment.target_id.clone()).or_default().push(held);
            }
        }
        let mut members: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for group in &groups {
            for row in self.store.group_members(&group.id, GroupRelation::Member).await? {
                members.entry(row.principal_id).or_default().push(group.display_name.clone());
            }
        }
        for stored in assignments {
            let target = &stored.assignment.target_id;
            for held in holders.get(target).into_iter().flatten() {
                let name = packages.iter().find(|p| p.id == held.assignment.access_package_id).map_or_else(
                    || held.assignment.access_package_id.to_string(),
                    |p| p.display_name.clone(),
                );
                out.push(Violation {
                    assignment: stored.assignment.clone(),
                    reason: format!(
                        "`{target}` also holds incompatible access package `{name}` (assignment `{}`)",
                        held.assignment.id
                    ),
                });
            }
            for group in members.get(target.as_str()).into_iter().flatten() {
                out.push(Violation {
                    assignment: stored.assignment.clone(),
                    reason: format!("`{target}` is a member of incompatible group `{group}`"),
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.assignment.target_id, &a.assignment.id).cmp(&(&b.assignment.target_id, &b.assignment.id))
        });
        Ok(out)
    }
}

/// The refusal of a request from someone outside the directory (they request through the
/// external requestor path).
fn outsider_request() -> DomainError {
    DomainError::forbidden("someone from another organization requests access for themselves only")
}

/// Whether a package can be requested by an outsider whose organization is not connected: only
/// through an `allExternalUsers` policy; `FORBIDDEN`, saying so, otherwise.
fn outsider_covered(context: &PackageContext, subject: &em_engine::ExternalSubject) -> ServiceResult<()> {
    let open = context
        .policies
        .iter()
        .any(|p| p.allowed_target_scope == em_engine::policy::AllowedTargetScope::AllExternalUsers);
    if open {
        return Ok(());
    }
    let domain = em_engine::connected_organization::email_domain(&subject.email).unwrap_or_default();
    let tenant = subject.tenant_id.as_deref().map(|t| format!("tenant `{t}` or ")).unwrap_or_default();
    Err(DomainError::forbidden(format!(
        "your organization ({tenant}domain `{domain}`) is not connected to this directory, and access package `{}` is offered to connected organizations only",
        context.package.display_name
    ))
    .at("accessPackageId")
    .into())
}
