//! Auto-assignment policies at work: the directory index kept in memory, every auto-assignment
//! policy's rule compiled against it, and the `systemAdd`/`systemRemove` requests that follow
//! from a change.
//!
//! - When a policy is created or its rule changes (and on `reconcileAutoAssignments`), the whole
//!   directory is evaluated at once and every difference between "selected" and "assigned"
//!   is acted on ([`Services::reconcile_auto_assignments`], idempotent).
//! - After that only what changed is evaluated: a user created, updated or deleted, a
//!   membership added or removed ([`Services::auto_user_changed`]) re-decides that one user
//!   against every policy.
//! - A user who leaves a policy's scope keeps the access for the grace period: a `scope` timer
//!   fires at its end and removes the assignment if they still do not match.
//! - A user the policy selects but cannot assign (separation of duties: they hold an
//!   incompatible package or group) is recorded with the reason (`auto_exclusion`), visible in
//!   `autoAssignmentExclusions`; once something is removed from a user, they are re-decided, so
//!   a user moved from AMER to EMEA gets EMEA when the grace period of AMER ends.
//!
//! The index is loaded from the store on first use and updated after each committed directory
//! change of this process, by reading the changed user back from the store (so two racing
//! changes of one user end with the committed one).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use em_engine::approval::DirectorySnapshot;
use em_engine::assignment::Grant;
use em_engine::auto::{AutoAction, Holding, decide, rule_of};
use em_engine::event::EventKind;
use em_engine::id::{AccessPackageId, AssignmentId, PolicyId, RequestId, UserId};
use em_engine::policy::AccessPackageAssignmentPolicy;
use em_engine::policy::SubjectFacts;
use em_engine::request::{AccessPackageRequestType, RequestInput};
use em_engine::rule::{self, CompiledRule, DirectoryIndex};
use em_engine::timer::{Timer, TimerKind};
use em_engine::{Actor, DomainError, ErrorCode};
use tokio::sync::RwLock;

use super::context::{PackageContext, TargetState};
use super::{ServiceError, ServiceResult, Services};
use crate::store::directory::MembershipRow;
use crate::store::requests::{GovernanceWrite, SCOPE_SUFFIX, TimerOwner};

/// The in-memory model auto-assignment decides on.
#[derive(Default)]
pub(crate) struct AutoModel {
    state: RwLock<Option<Model>>,
}

struct Model {
    index: DirectoryIndex,
    /// Auto-assignment policies by id, with their compiled rules.
    policies: BTreeMap<PolicyId, Compiled>,
    /// Scheduled removals: assignment id to due time.
    removals: HashMap<AssignmentId, DateTime<Utc>>,
    /// The recorded exclusions, `(policy id, user id)`, so that clearing one costs nothing
    /// when there is none.
    exclusions: HashSet<(PolicyId, UserId)>,
}

struct Compiled {
    policy: AccessPackageAssignmentPolicy,
    rule: Option<CompiledRule>,
}

impl Compiled {
    fn new(policy: AccessPackageAssignmentPolicy, index: &DirectoryIndex) -> Self {
        let rule = rule_of(&policy).and_then(|text| match rule::parse(text) {
            Ok(parsed) => Some(CompiledRule::compile(&parsed, index)),
            Err(errors) => {
                tracing::warn!(policy = %policy.id, errors = errors.len(), "an auto-assignment rule does not parse; it selects nobody");
                None
            }
        });
        Self { policy, rule }
    }

    fn matches(&self, index: &DirectoryIndex, user_id: &str, now: DateTime<Utc>) -> bool {
        match (&self.rule, index.position(user_id)) {
            (Some(rule), Some(position)) => rule.matches(index, position, now),
            _ => false,
        }
    }
}

/// How many users a bulk assignment commits per transaction.
const BATCH: usize = 250;

/// Above this many users with something already, a reconciliation reads every active assignment
/// and unfinished request at once rather than each user's through their `target_state` and index.
const HOLDINGS_ONE_BY_ONE: usize = 20_000;

/// Batches of a bulk assignment committed at once: one transaction's statements run on one
/// core, so two keep a two-core machine busy. Their transactions write different targets.
const LANES: usize = 2;

/// A `systemAdd` request of `package` through `policy`.
fn system_add(package: &AccessPackageId, policy: &PolicyId, id: RequestId) -> RequestInput {
    RequestInput {
        id,
        request_type: AccessPackageRequestType::SystemAdd,
        requestor: Actor::System,
        access_package_id: package.clone(),
        assignment_policy_id: Some(policy.to_owned()),
        assignment_id: None,
        justification: None,
        answers: Vec::new(),
        schedule: None,
        profile_consent: false,
    }
}

/// What every batch of a bulk assignment decides on, read once.
struct Bulk {
    policy: AccessPackageAssignmentPolicy,
    states: HashMap<UserId, TargetState>,
    /// The groups of the users to assign, when the package is incompatible with any group.
    groups: HashMap<String, BTreeSet<String>>,
    context: Arc<PackageContext>,
}

/// One thing to do, decided under the model's lock and carried out after it.
#[derive(Debug, Clone)]
struct Step {
    policy_id: PolicyId,
    package_id: AccessPackageId,
    user_id: UserId,
    assignment_id: Option<AssignmentId>,
    action: AutoAction,
}

/// What a reconciliation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutoOutcome {
    pub assigned: usize,
    pub removals_scheduled: usize,
    pub removed: usize,
    pub removals_canceled: usize,
    pub excluded: usize,
}

/// Who a proposed rule would give the package to, and take it from.
#[derive(Debug, Clone, Default)]
pub struct WhatIf {
    /// Users the rule selects.
    pub matching: usize,
    /// Selected users who do not hold the package: the rule would assign them.
    pub gain: Vec<String>,
    /// Users holding the package through the package's auto-assignment policy whom the rule
    /// would not select: they would lose it (after the grace period, if removal is on).
    pub lose: Vec<String>,
}

impl Model {
    /// The index entry of `user_id` as read back from the store: the user and their groups, or
    /// none (deleted).
    fn index_user(&mut self, user_id: &str, user: Option<&em_engine::directory::User>, groups: &[String]) {
        match user {
            Some(user) => {
                self.index.upsert(user);
                self.index.set_member_of(user_id, groups);
            }
            None => {
                self.index.remove(user_id);
            }
        }
    }
}

impl Services {
    async fn loaded(&self) -> ServiceResult<tokio::sync::RwLockWriteGuard<'_, Option<Model>>> {
        let mut state = self.auto.state.write().await;
        if state.is_none() {
            let users = self.store.all_users().await?;
            let members = self.store.all_group_members().await?;
            let index = DirectoryIndex::build(&users, members);
            let policies = self
                .store
                .automatic_policies()
                .await?
                .into_iter()
                .map(|stored| (stored.policy.id.clone(), Compiled::new(stored.policy, &index)))
                .collect();
            let removals = self.store.scope_removals().await?.into_iter().collect();
            let exclusions = self.store.all_exclusions().await?.into_iter().collect();
            tracing::info!(users = index.len(), "directory index loaded for auto-assignment");
            *state = Some(Model { index, policies, removals, exclusions });
        }
        Ok(state)
    }

    /// The model, for reading (loaded first if need be).
    async fn model(&self) -> ServiceResult<tokio::sync::RwLockReadGuard<'_, Option<Model>>> {
        {
            let state = self.auto.state.read().await;
            if state.is_some() {
                return Ok(state);
            }
        }
        drop(self.loaded().await?);
        Ok(self.auto.state.read().await)
    }

    /// Forgets the model; the next use loads it again (after an import).
    pub(crate) async fn auto_reset(&self) {
        *self.auto.state.write().await = None;
    }

    /// A user changed (created, updated, deleted, joined or left a group): their index entry is
    /// read back from the store, and every auto-assignment policy re-decides them.
    pub async fn auto_user_changed(&self, user_id: &str) -> ServiceResult<AutoOutcome> {
        // Read before the user: what is read is current up to it (see `Store::generation`).
        let generation = self.store.generation();
        let user = self.store.user(user_id).await?;
        let groups: Vec<String> = MembershipRow::member_groups(self.store.memberships_of(user_id).await?);
        // The request path reads them next.
        self.prime_subject(generation, user_id, user.clone(), groups.iter().cloned().collect());
        {
            let mut state = self.loaded().await?;
            let Some(model) = state.as_mut() else { return Ok(AutoOutcome::default()) };
            model.index_user(user_id, user.as_ref(), &groups);
        }
        self.auto_decide_users(&[user_id.into()], None).await
    }

    /// Another replica changed a user (or what they hold): their index entry is read back from
    /// the store, and nothing is decided here (the replica that made the change decides). A
    /// model not loaded yet is left alone: it will be read whole.
    pub(crate) async fn auto_follow_user(&self, user_id: &str) -> ServiceResult<()> {
        if self.auto.state.read().await.is_none() {
            return Ok(());
        }
        let user = self.store.user(user_id).await?;
        let groups: Vec<String> = MembershipRow::member_groups(self.store.memberships_of(user_id).await?);
        let mut state = self.auto.state.write().await;
        let Some(model) = state.as_mut() else { return Ok(()) };
        model.index_user(user_id, user.as_ref(), &groups);
        Ok(())
    }

    /// Another replica created, changed or deleted a policy: its compiled rule is replaced (that
    /// replica populates it).
    pub(crate) async fn auto_follow_policy(&self, policy_id: &PolicyId) -> ServiceResult<()> {
        if self.auto.state.read().await.is_none() {
            return Ok(());
        }
        let stored = self.store.assignment_policy(policy_id).await?;
        let mut state = self.auto.state.write().await;
        let Some(model) = state.as_mut() else { return Ok(()) };
        match stored.filter(|s| s.policy.is_automatic()) {
            Some(s) => {
                let compiled = Compiled::new(s.policy, &model.index);
                model.policies.insert(policy_id.clone(), compiled);
            }
            None => {
                model.policies.remove(policy_id);
            }
        }
        Ok(())
    }

    /// Another replica scheduled (or, with `None`, called off) an auto-assigned assignment's
    /// removal.
    pub(crate) async fn auto_follow_removal(&self, assignment_id: &AssignmentId, at: Option<DateTime<Utc>>) {
        let mut state = self.auto.state.write().await;
        if let Some(model) = state.as_mut() {
            match at {
                Some(at) => model.removals.insert(assignment_id.clone(), at),
                None => model.removals.remove(assignment_id),
            };
        }
    }

    /// Re-decides users against every policy (or one), and carries out the steps. After a
    /// removal the user is decided once more: what the removal made possible (an incompatible
    /// package) follows at once.
    async fn auto_decide_users(
        &self,
        users: &[UserId],
        only: Option<&PolicyId>,
    ) -> ServiceResult<AutoOutcome> {
        let mut outcome = AutoOutcome::default();
        let mut pending: Vec<UserId> = users.to_vec();
        for _ in 0..2 {
            let mut steps = Vec::new();
            for user in &pending {
                steps.extend(self.auto_steps_for(user, only).await?);
            }
            let removed: BTreeSet<UserId> =
                steps.iter().filter(|s| s.action == AutoAction::Remove).map(|s| s.user_id.clone()).collect();
            self.run_steps(steps, &mut outcome).await?;
            if removed.is_empty() {
                break;
            }
            pending = removed.into_iter().collect();
        }
        Ok(outcome)
    }

    /// What every policy (or one) does about one user now.
    async fn auto_steps_for(&self, user_id: &UserId, only: Option<&PolicyId>) -> ServiceResult<Vec<Step>> {
        let now = self.now();
        let target = self.target_state(user_id).await?;
        let mut steps = Vec::new();
        let mut out_of_scope = Vec::new();
        {
            let state = self.model().await?;
            let Some(model) = state.as_ref() else { return Ok(Vec::new()) };
            for compiled in model.policies.values().filter(|c| only.is_none_or(|id| *id == c.policy.id)) {
                let policy = &compiled.policy;
                let matches = compiled.matches(&model.index, user_id, now);
                super::Statistics::count(&self.statistics.rule_evaluations, 1);
                let package_id = &policy.access_package_id;
                let held = target.assignments.iter().find(|a| &a.assignment.access_package_id == package_id);
                let open = target.open_requests.iter().any(|r| &r.request.access_package_id == package_id);
                let (holding, assignment_id) = match held {
                    Some(a) if a.assignment.assignment_policy_id == policy.id => (
                        Holding::ThroughPolicy { removal_due: model.removals.get(&a.assignment.id).copied() },
                        Some(a.assignment.id.clone()),
                    ),
                    Some(_) => (Holding::Otherwise, None),
                    None if open => (Holding::Otherwise, None),
                    None => (Holding::Nothing, None),
                };
                let action = decide(policy, matches, holding, now);
                if action != AutoAction::Nothing {
                    steps.push(Step {
                        policy_id: policy.id.clone(),
                        package_id: package_id.clone(),
                        user_id: user_id.to_owned(),
                        assignment_id,
                        action,
                    });
                } else if !matches && model.exclusions.contains(&(policy.id.clone(), user_id.to_owned())) {
                    out_of_scope.push(policy.id.clone());
                }
            }
        }
        for policy_id in out_of_scope {
            // Out of scope: an old exclusion no longer applies.
            self.clear_exclusion(&policy_id, user_id).await?;
        }
        Ok(steps)
    }

    async fn run_steps(&self, mut steps: Vec<Step>, outcome: &mut AutoOutcome) -> ServiceResult<()> {
        // Removals, then assignments, then timers: what a removal ends can no longer stand in an
        // assignment's way, and a user who moves gets the new package before the old one's
        // removal is scheduled. The sort is stable: the policies' order holds otherwise.
        steps.sort_by_key(|s| match s.action {
            AutoAction::Remove => 0,
            AutoAction::Assign => 1,
            _ => 2,
        });
        for step in steps {
            match step.action {
                AutoAction::Nothing => {}
                AutoAction::Assign => {
                    let input = system_add(&step.package_id, &step.policy_id, RequestId::default());
                    match self.submit_request(&Actor::System, input, Some(step.user_id.clone())).await {
                        Ok(_) => {
                            outcome.assigned += 1;
                            self.clear_exclusion(&step.policy_id, &step.user_id).await?;
                        }
                        Err(ServiceError::Domain(e)) if e.code != ErrorCode::NotFound => {
                            outcome.excluded += 1;
                            let at = self.now().to_rfc3339();
                            self.record_exclusion(&step.policy_id, &step.user_id, &e.message, &at).await?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                AutoAction::ScheduleRemoval { at } => {
                    let Some(assignment_id) = &step.assignment_id else { continue };
                    self.set_scope_timer(&step.user_id, assignment_id, Some(at)).await?;
                    outcome.removals_scheduled += 1;
                }
                AutoAction::CancelRemoval => {
                    let Some(assignment_id) = &step.assignment_id else { continue };
                    self.set_scope_timer(&step.user_id, assignment_id, None).await?;
                    outcome.removals_canceled += 1;
                }
                AutoAction::Remove => {
                    let Some(assignment_id) = &step.assignment_id else { continue };
                    let input = RequestInput {
                        id: RequestId::default(),
                        request_type: AccessPackageRequestType::SystemRemove,
                        requestor: Actor::System,
                        access_package_id: step.package_id.clone(),
                        assignment_policy_id: None,
                        assignment_id: Some(assignment_id.clone()),
                        justification: None,
                        answers: Vec::new(),
                        schedule: None,
                        profile_consent: false,
                    };
                    self.submit_request(&Actor::System, input, Some(step.user_id.clone())).await?;
                    self.set_scope_timer(&step.user_id, assignment_id, None).await?;
                    outcome.removed += 1;
                }
            }
        }
        Ok(())
    }

    async fn record_exclusion(
        &self,
        policy_id: &PolicyId,
        user_id: &UserId,
        reason: &str,
        at: &str,
    ) -> ServiceResult<()> {
        self.store.record_exclusion(policy_id, user_id, reason, at).await?;
        let mut state = self.auto.state.write().await;
        if let Some(model) = state.as_mut() {
            model.exclusions.insert((policy_id.clone(), user_id.clone()));
        }
        Ok(())
    }

    async fn clear_exclusion(&self, policy_id: &PolicyId, user_id: &UserId) -> ServiceResult<()> {
        let key = (policy_id.clone(), user_id.clone());
        // Another replica may have recorded it: on a shared database, the store decides.
        let known = self.store.is_remote() || {
            let state = self.auto.state.read().await;
            state.as_ref().is_none_or(|m| m.exclusions.contains(&key))
        };
        if known {
            self.store.clear_exclusion(policy_id, user_id).await?;
            let mut state = self.auto.state.write().await;
            if let Some(model) = state.as_mut() {
                model.exclusions.remove(&key);
            }
        }
        Ok(())
    }

    /// Schedules (or, with `None`, calls off) the removal of an auto-assigned assignment.
    async fn set_scope_timer(
        &self,
        user_id: &UserId,
        assignment_id: &AssignmentId,
        at: Option<DateTime<Utc>>,
    ) -> ServiceResult<()> {
        self.decided(|| async {
            let state = self.target_state(user_id).await?;
            let mut write = GovernanceWrite::new(user_id, state.version);
            let timers: Vec<Timer> = at.map(|due| Timer::new(due, TimerKind::ScopeRemoval)).into_iter().collect();
            write.timers.push((TimerOwner::Scope, format!("{assignment_id}{SCOPE_SUFFIX}"), timers));
            let mut event = self.event(
                &Actor::System,
                if at.is_some() { EventKind::AutoRemovalScheduled } else { EventKind::AutoRemovalCanceled },
                "AccessPackageAssignment",
                assignment_id,
            );
            event.target_id = Some(user_id.to_string());
            if let Some(at) = at {
                // What other replicas read the removal from (see `replicas`).
                event = event.with_data(serde_json::json!({ "removalDateTime": at.to_rfc3339() }));
                event = event.with_reason(format!(
                    "left the scope of its auto-assignment policy; access is removed at {} unless they match again",
                    at.to_rfc3339()
                ));
            }
            self.commit_governance(write, vec![event], &state).await
        })
        .await?;
        let mut state = self.auto.state.write().await;
        if let Some(model) = state.as_mut() {
            match at {
                Some(at) => model.removals.insert(assignment_id.clone(), at),
                None => model.removals.remove(assignment_id),
            };
        }
        Ok(())
    }

    /// A scope timer fell due: the user is re-decided (removed if they still do not match).
    pub(crate) async fn fire_scope_timer(&self, user_id: &UserId, owner_id: &str) -> ServiceResult<()> {
        let assignment_id = &AssignmentId::new(owner_id.strip_suffix(SCOPE_SUFFIX).unwrap_or(owner_id));
        let held =
            self.target_state(user_id).await?.assignments.iter().any(|a| a.assignment.id == *assignment_id);
        if held {
            self.auto_decide_users(&[user_id.to_owned()], None).await?;
        }
        // Whatever was decided, this timer is done.
        let still = {
            let state = self.auto.state.read().await;
            state.as_ref().and_then(|m| m.removals.get(assignment_id).copied())
        };
        if still.is_some_and(|due| due <= self.now()) || !held {
            self.set_scope_timer(user_id, assignment_id, None).await?;
        }
        Ok(())
    }

    /// A policy was created, changed or deleted: its compiled rule is replaced and the whole
    /// directory evaluated against it.
    /// [`Services::auto_policy_changed`] on a task of its own, awaited: a client that hangs up
    /// while a million users are evaluated and assigned does not stop the population halfway
    /// (its request's future is dropped; the task goes on).
    pub(crate) async fn auto_policy_changed_detached(
        &self,
        policy_id: &PolicyId,
    ) -> ServiceResult<AutoOutcome> {
        let (services, policy_id) = (self.clone(), policy_id.clone());
        tokio::spawn(async move { services.auto_policy_changed(&policy_id).await })
            .await
            .map_err(|e| ServiceError::Internal(format!("an auto-assignment population stopped: {e}")))?
    }

    pub(crate) async fn auto_policy_changed(&self, policy_id: &PolicyId) -> ServiceResult<AutoOutcome> {
        let stored = self.store.assignment_policy(policy_id).await?;
        {
            let mut state = self.loaded().await?;
            let Some(model) = state.as_mut() else { return Ok(AutoOutcome::default()) };
            match stored.filter(|s| s.policy.is_automatic()) {
                Some(s) => {
                    let compiled = Compiled::new(s.policy, &model.index);
                    model.policies.insert(policy_id.clone(), compiled);
                }
                None => {
                    model.policies.remove(policy_id);
                    return Ok(AutoOutcome::default());
                }
            }
        }
        self.reconcile_policy(policy_id).await
    }

    /// Repairs drift: every auto-assignment policy (or one) is evaluated over the whole
    /// directory and every difference acted on. Running it twice changes nothing the second
    /// time. Administrators only.
    pub async fn reconcile_auto_assignments(
        &self,
        actor: &Actor,
        policy_id: Option<&PolicyId>,
    ) -> ServiceResult<AutoOutcome> {
        self.require_admin(actor).await?;
        self.auto_reset().await;
        let ids: Vec<PolicyId> = {
            let state = self.model().await?;
            state.as_ref().map(|m| m.policies.keys().cloned().collect()).unwrap_or_default()
        };
        if let Some(id) = policy_id
            && !ids.contains(id)
        {
            return Err(DomainError::not_found("auto-assignment policy", id).at("policyId").into());
        }
        let mut total = AutoOutcome::default();
        for id in ids.iter().filter(|i| policy_id.is_none_or(|p| p == *i)) {
            let o = self.reconcile_policy(id).await?;
            total.assigned += o.assigned;
            total.removals_scheduled += o.removals_scheduled;
            total.removed += o.removed;
            total.removals_canceled += o.removals_canceled;
            total.excluded += o.excluded;
        }
        Ok(total)
    }

    /// Evaluates one policy over the directory and decides every user it selects or holds.
    /// Everything it decides on is read in bulk; the users to assign are decided and committed
    /// in batches ([`BATCH`] per transaction), the rest one by one.
    async fn reconcile_policy(&self, policy_id: &PolicyId) -> ServiceResult<AutoOutcome> {
        let now = self.now();
        let (selected, policy) = {
            let state = self.model().await?;
            let Some(model) = state.as_ref() else { return Ok(AutoOutcome::default()) };
            let Some(compiled) = model.policies.get(policy_id) else { return Ok(AutoOutcome::default()) };
            let selected: BTreeSet<UserId> = match &compiled.rule {
                Some(rule) => {
                    super::Statistics::count(&self.statistics.rule_evaluations, model.index.len() as u64);
                    rule.matching_ids(&model.index, now).into_iter().map(UserId::from).collect()
                }
                None => BTreeSet::new(),
            };
            (selected, compiled.policy.clone())
        };
        let removals = {
            let state = self.auto.state.read().await;
            state.as_ref().map(|m| m.removals.clone()).unwrap_or_default()
        };
        // What the users decided on hold: read for the users the rule selects and the package's
        // holders only, not for the whole directory (a million users, most of them outside this
        // policy). A user without a version holds nothing.
        let package_id = policy.access_package_id.clone();
        let holders: BTreeSet<UserId> = self
            .store
            .active_assignments_of_package(&package_id)
            .await?
            .into_iter()
            .map(|a| a.assignment.target_id)
            .collect();
        let users: Vec<UserId> = selected.union(&holders).cloned().collect();
        let versions = self.store.target_versions_of(&users).await?;
        let known: Vec<UserId> =
            users.iter().filter(|u| versions.contains_key(u.as_str())).cloned().collect();
        let (assignments, open_requests) = if known.len() > HOLDINGS_ONE_BY_ONE {
            (self.store.all_active_assignments().await?, self.store.all_open_requests().await?)
        } else {
            self.store.holdings_of(&known).await?
        };
        let mut states: HashMap<UserId, TargetState> = HashMap::new();
        let state_of = |states: &mut HashMap<UserId, TargetState>, target: &UserId| -> TargetState {
            states
                .entry(target.clone())
                .or_insert_with(|| TargetState {
                    version: versions.get(target.as_str()).copied().unwrap_or(0),
                    assignments: Vec::new(),
                    open_requests: Vec::new(),
                })
                .clone()
        };
        for stored in assignments {
            let target = stored.assignment.target_id.clone();
            state_of(&mut states, &target);
            if let Some(s) = states.get_mut(&target) {
                s.assignments.push(stored);
            }
        }
        for stored in open_requests {
            let target = stored.request.target_id.clone();
            state_of(&mut states, &target);
            if let Some(s) = states.get_mut(&target) {
                s.open_requests.push(stored);
            }
        }
        let mut adds = Vec::new();
        let mut steps = Vec::new();
        for user in selected.union(&holders) {
            let state = state_of(&mut states, user);
            let held = state.assignments.iter().find(|a| a.assignment.access_package_id == package_id);
            let open = state.open_requests.iter().any(|r| r.request.access_package_id == package_id);
            let (holding, assignment_id) = match held {
                Some(a) if a.assignment.assignment_policy_id == policy.id => (
                    Holding::ThroughPolicy { removal_due: removals.get(&a.assignment.id).copied() },
                    Some(a.assignment.id.clone()),
                ),
                Some(_) => (Holding::Otherwise, None),
                None if open => (Holding::Otherwise, None),
                None => (Holding::Nothing, None),
            };
            match decide(&policy, selected.contains(user), holding, now) {
                AutoAction::Nothing => {}
                AutoAction::Assign => adds.push(user.clone()),
                action => steps.push(Step {
                    policy_id: policy.id.clone(),
                    package_id: package_id.clone(),
                    user_id: user.clone(),
                    assignment_id,
                    action,
                }),
            }
        }
        let mut outcome = AutoOutcome::default();
        self.assign_in_bulk(&policy, adds, states, &mut outcome).await?;
        let removed: Vec<UserId> =
            steps.iter().filter(|s| s.action == AutoAction::Remove).map(|s| s.user_id.clone()).collect();
        self.run_steps(steps, &mut outcome).await?;
        if !removed.is_empty() {
            let after = self.auto_decide_users(&removed, None).await?;
            outcome.assigned += after.assigned;
            outcome.excluded += after.excluded;
        }
        Ok(outcome)
    }

    /// `systemAdd` for many users: decided in memory on what was read in bulk, committed
    /// [`BATCH`] users per transaction. A batch that fails (something moved since the bulk read)
    /// is decided again user by user.
    async fn assign_in_bulk(
        &self,
        policy: &AccessPackageAssignmentPolicy,
        users: Vec<UserId>,
        states: HashMap<UserId, TargetState>,
        outcome: &mut AutoOutcome,
    ) -> ServiceResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        let context = self.package_context(&policy.access_package_id, "accessPackageId").await?;
        let wanted: BTreeSet<&str> = users.iter().map(UserId::as_str).collect();
        let mut groups: HashMap<String, BTreeSet<String>> = HashMap::new();
        if !context.incompatible_groups.is_empty() {
            for (user, group) in self.store.all_group_members().await? {
                if wanted.contains(user.as_str()) {
                    groups.entry(user).or_default().insert(group);
                }
            }
        }
        // Each batch on a task of its own: a transaction runs on the task that awaits it.
        let shared = Arc::new(Bulk { policy: policy.clone(), states, groups, context });
        let mut chunks = users.chunks(BATCH).map(<[UserId]>::to_vec);
        let mut lanes = tokio::task::JoinSet::new();
        loop {
            while lanes.len() < LANES {
                let Some(chunk) = chunks.next() else { break };
                let (services, shared) = (self.clone(), Arc::clone(&shared));
                lanes.spawn(async move { services.assign_chunk(&shared, chunk).await });
            }
            let Some(done) = lanes.join_next().await else { break };
            let part = done.map_err(|e| ServiceError::Internal(format!("a bulk batch stopped: {e}")))??;
            outcome.assigned += part.assigned;
            outcome.excluded += part.excluded;
        }
        Ok(())
    }

    /// Decides and commits one batch of [`Services::assign_in_bulk`].
    async fn assign_chunk(&self, bulk: &Bulk, chunk: Vec<UserId>) -> ServiceResult<AutoOutcome> {
        let Bulk { policy, states, groups, context } = bulk;
        let mut outcome = AutoOutcome::default();
        let nobody = BTreeSet::new();
        let directory = DirectorySnapshot::default();
        let now = self.now();
        let mut decided = Vec::new();
        let chunk: Vec<String> = chunk.into_iter().map(UserId::into_string).collect();
        for user in self.store.users_by_ids(&chunk).await? {
            let state = states.get(&user.id).cloned().unwrap_or_default();
            let input = system_add(&policy.access_package_id, &policy.id, self.new_id().into());
            let facts = SubjectFacts::new(&user, groups.get(user.id.as_str()).unwrap_or(&nobody));
            let submitted = context.submit(input, None, facts, &state, &directory, now);
            match submitted {
                Ok(transition) => {
                    let realized = self.realize(None, transition, &state, context, &Actor::System, now)?;
                    decided.push((realized, state));
                }
                Err(e) => {
                    outcome.excluded += 1;
                    self.record_exclusion(&policy.id, &user.id, &e.message, &now.to_rfc3339()).await?;
                }
            }
        }
        // The events are moved into the commit (each carries its request or assignment as a JSON
        // tree); what follows the commit needs the changes only.
        let events: Vec<_> = decided.iter_mut().flat_map(|(r, _)| std::mem::take(&mut r.events)).collect();
        let writes: Vec<&GovernanceWrite> = decided.iter().map(|(r, _)| &r.change).collect();
        match self.store.logged(events).commit_governance_batch(&writes).await {
            Ok(outbox) => {
                outcome.assigned += decided.len();
                for (realized, state) in &decided {
                    self.after_commit(&realized.change, state, outbox.as_ref()).await;
                }
            }
            Err(e) => {
                tracing::info!(error = %e, "a bulk batch failed; deciding its users one by one");
                let retry: Vec<UserId> = decided.iter().map(|(r, _)| r.change.target_id.clone()).collect();
                for user in &retry {
                    self.forget_target(user);
                }
                let again = self.auto_decide_users(&retry, Some(&policy.id)).await?;
                outcome.assigned += again.assigned;
                outcome.excluded += again.excluded;
            }
        }
        Ok(outcome)
    }

    /// Who a proposed rule would give the package to and take it from, before it is saved.
    pub async fn auto_what_if(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
        rule_text: &str,
    ) -> ServiceResult<WhatIf> {
        self.require_admin(actor).await?;
        let package = self.access_package_at(package_id, "accessPackageId").await?;
        let parsed = rule::parse(rule_text).map_err(|errors| {
            let first = errors.first().map(|e| e.message().to_string()).unwrap_or_default();
            DomainError::invalid(
                "rule",
                format!("the rule has {} error(s); the first: {first}", errors.len()),
            )
        })?;
        let now = self.now();
        let (selected, automatic) = {
            let state = self.model().await?;
            let Some(model) = state.as_ref() else { return Ok(WhatIf::default()) };
            let compiled = CompiledRule::compile(&parsed, &model.index);
            let selected: BTreeSet<String> =
                compiled.matching_ids(&model.index, now).into_iter().map(str::to_owned).collect();
            let automatic: Option<PolicyId> = model
                .policies
                .values()
                .find(|c| c.policy.access_package_id == package.id)
                .map(|c| c.policy.id.clone());
            (selected, automatic)
        };
        let assignments = self.store.active_assignments_of_package(&package.id).await?;
        let holders: BTreeSet<&str> = assignments.iter().map(|a| a.assignment.target_id.as_str()).collect();
        let through: BTreeSet<&str> = assignments
            .iter()
            .filter(|a| Some(&a.assignment.assignment_policy_id) == automatic.as_ref())
            .map(|a| a.assignment.target_id.as_str())
            .collect();
        Ok(WhatIf {
            matching: selected.len(),
            gain: selected.iter().filter(|u| !holders.contains(u.as_str())).cloned().collect(),
            lose: through.iter().filter(|u| !selected.contains(**u)).map(|u| (*u).to_owned()).collect(),
        })
    }
}

/// Shared handle type for the services.
pub(crate) type SharedAutoModel = Arc<AutoModel>;

/// Keeps the directory index's memberships in step with what a delivery to `user_id` granted or
/// revoked (the after-commit step's part of auto-assignment: its index, not its operations).
pub(crate) async fn follow_deliveries(model: &AutoModel, user_id: &str, write: &GovernanceWrite) {
    let mut state = model.state.write().await;
    let Some(model) = state.as_mut() else { return };
    for (_, grant) in &write.deliver {
        if let Grant::GroupMember { group_id } = grant {
            model.index.add_member(user_id, group_id);
        }
    }
    for (_, grant, remove) in &write.revoke {
        if let (Grant::GroupMember { group_id }, true) = (grant, remove) {
            model.index.remove_member(user_id, group_id);
        }
    }
}
