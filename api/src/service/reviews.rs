//! Access reviews of policies' assignments (see `em_engine::review`): a policy's review timers
//! kept with its settings; a review started on its timer with an item for every assignment of the
//! policy active then; reviewers' decisions; the end (at the end time, or stopped by an
//! administrator) and the results applied through system removal requests.
//!
//! Applying survives a crash halfway: the review is completed before anything is applied, each
//! item records its result once applied, and the end timer goes only after the review is
//! `Applied`, so a restart fires it again and applies what is left; an assignment already gone
//! is recorded as such, never removed twice.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use em_engine::approval::DirectorySnapshot;
use em_engine::delegation::Right;
use em_engine::event::EventKind;
use em_engine::id::{PolicyId, RequestId};
use em_engine::policy::{ReviewSettings, SubjectSet};
use em_engine::request::{AccessPackageRequestType, RequestInput};
use em_engine::review::{
    self, AccessReviewDecision, AccessReviewDecisionItem, AccessReviewInstance, ItemOutcome, ReviewPlan,
    ReviewStatus, UnderReview,
};
use em_engine::timer::{Timer, TimerKind};
use em_engine::{Actor, DomainError, ErrorCode};

use super::{ServiceError, ServiceResult, Services, found};
use crate::store::requests::DueTimer;
use crate::store::reviews::StoredItem;
use crate::store::{Page, PageRequest};

/// How many items one application step removes and records.
const APPLY_CHUNK: usize = 200;

/// How many removals of one step run at once (each is another assignee's).
const APPLY_LANES: usize = 32;

/// A decision a reviewer sends.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    pub item_id: String,
    pub decision: AccessReviewDecision,
    pub justification: Option<String>,
}

impl Services {
    /// Keeps a policy's review timers in line with its settings after it was saved (`None`:
    /// deleted): the next review's start, after the one running if any.
    pub(crate) async fn schedule_reviews(
        &self,
        policy_id: &PolicyId,
        settings: Option<&ReviewSettings>,
    ) -> ServiceResult<()> {
        self.decided(|| async {
            let current = self.store.review_timers(policy_id).await?;
            let running: Vec<Timer> = current
                .iter()
                .filter(|t| !matches!(t.kind, TimerKind::ReviewStart { .. }))
                .copied()
                .collect();
            let from = running.iter().map(|t| t.due).max().unwrap_or_else(|| self.now()).max(self.now());
            let mut next = running;
            next.extend(review::waiting_timers(settings, from));
            if next == current {
                return Ok(());
            }
            Ok(self.store.set_review_timers(policy_id, &current, &next, Vec::new()).await?)
        })
        .await
    }

    /// Gives every policy with reviews enabled the timers its schedule calls for, where they are
    /// missing: a policy saved just before the process stopped, before its timers were written.
    /// Run at start; a policy with its timers is left as it is.
    pub async fn repair_review_schedules(&self) -> ServiceResult<usize> {
        let mut repaired = 0;
        for stored in self.store.reviewed_policies().await? {
            if self.store.review_timers(&stored.policy.id).await?.is_empty() {
                self.schedule_reviews(&stored.policy.id, stored.policy.review_settings.as_ref()).await?;
                repaired += 1;
            }
        }
        Ok(repaired)
    }

    /// Fires a policy's review timer: a review starts, its reviewers are reminded, or it ends.
    pub(crate) async fn fire_review_timer(&self, due: &DueTimer) -> ServiceResult<()> {
        let policy_id = PolicyId::new(due.owner_id.trim_end_matches("#review"));
        match due.timer.kind {
            TimerKind::ReviewStart { occurrence } => {
                self.start_review(&policy_id, occurrence, &due.timer).await
            }
            TimerKind::ReviewEnding { occurrence } => {
                self.remind_reviewers(&policy_id, occurrence, &due.timer).await
            }
            TimerKind::ReviewEnd { occurrence } => self.end_review(&policy_id, occurrence, &due.timer).await,
            _ => Err(ServiceError::Internal("a review's timer set holds a timer of another kind".into())),
        }
    }

    /// Drops a fired timer from a policy's set and adds `more`, writing `events` with it.
    async fn replace_review_timer(
        &self,
        policy_id: &PolicyId,
        fired: &Timer,
        more: Vec<Timer>,
        events: Vec<em_engine::event::Event>,
    ) -> ServiceResult<()> {
        let current = self.store.review_timers(policy_id).await?;
        let mut next: Vec<Timer> = current.iter().filter(|t| *t != fired).copied().collect();
        next.extend(more);
        Ok(self.store.set_review_timers(policy_id, &current, &next, events).await?)
    }

    async fn start_review(&self, policy_id: &PolicyId, occurrence: u32, timer: &Timer) -> ServiceResult<()> {
        let Some(stored) = self.store.assignment_policy(policy_id).await? else {
            return self.replace_review_timer(policy_id, timer, Vec::new(), Vec::new()).await;
        };
        let settings = stored.policy.review_settings.as_ref().filter(|s| s.is_enabled);
        let plan =
            settings.and_then(|s| s.schedule.as_ref()).and_then(|s| ReviewPlan::of(s, "schedule").ok());
        let due = plan.and_then(|p| p.occurrence(occurrence)).filter(|(start, _)| *start == timer.due);
        let (Some(plan), Some((start, end))) = (plan, due) else {
            // The settings changed since the timer was set: the next review as they say now.
            let next = review::waiting_timers(settings, self.now());
            return self.replace_review_timer(policy_id, timer, next, Vec::new()).await;
        };
        let policy = &stored.policy;
        let assignments: Vec<_> = self
            .store
            .active_assignments_of_package(&policy.access_package_id)
            .await?
            .into_iter()
            .filter(|a| a.assignment.assignment_policy_id == *policy_id)
            .collect();
        let ids: Vec<String> = assignments.iter().map(|a| a.assignment.target_id.to_string()).collect();
        let users: BTreeMap<String, em_engine::directory::User> =
            self.store.users_by_ids(&ids).await?.into_iter().map(|u| (u.id.to_string(), u)).collect();
        let sign_ins = self.last_sign_ins(&ids).await?;
        let directory = self.review_directory(settings, users.values().cloned().collect()).await?;
        let under: Vec<UnderReview<'_>> = assignments
            .iter()
            .filter_map(|a| {
                let assignee = users.get(a.assignment.target_id.as_str())?;
                let last_sign_in = sign_ins.get(assignee.id.as_str()).copied();
                Some(UnderReview { assignment: &a.assignment, assignee, last_sign_in })
            })
            .collect();
        let mut ids = || self.new_id();
        let (instance, items) = review::start(
            review::instance_id(policy_id, occurrence),
            policy,
            &stored.catalog_id,
            occurrence,
            (start, end),
            &under,
            &directory,
            &mut ids,
        );
        let reason = format!(
            "review {} of policy `{}` started: {} assignments to review until {}",
            occurrence + 1,
            policy.display_name,
            items.len(),
            end.to_rfc3339()
        );
        let event = review::event(
            self.new_id(),
            EventKind::AccessReviewStarted,
            &Actor::System,
            &instance,
            review::reviewers_of(&items, false),
            reason,
            self.now(),
        );
        let current = self.store.review_timers(policy_id).await?;
        let mut timers: Vec<Timer> = current.iter().filter(|t| *t != timer).copied().collect();
        timers.extend(review::running_timers(&plan, occurrence, start, end));
        Ok(self.store.start_review(&instance, &items, &current, &timers, vec![event]).await?)
    }

    /// The slice of the directory review resolution reads: the assignees and their managers two
    /// levels up, the users named, and the members of the groups named.
    async fn review_directory(
        &self,
        settings: Option<&ReviewSettings>,
        assignees: Vec<em_engine::directory::User>,
    ) -> ServiceResult<DirectorySnapshot> {
        let mut directory = DirectorySnapshot::default();
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for user in assignees {
            if let Some(manager) = user.manager_id() {
                wanted.insert(manager.to_owned());
            }
            directory.add_user(user);
        }
        let sets: Vec<SubjectSet> = settings
            .map(|s| s.primary_reviewers.iter().chain(&s.fallback_reviewers).cloned().collect())
            .unwrap_or_default();
        for set in &sets {
            match set {
                SubjectSet::SingleUser { user_id, .. } => {
                    wanted.insert(user_id.clone());
                }
                SubjectSet::GroupMembers { group_id, .. } => {
                    let members = self.cached_group_members(group_id).await?;
                    wanted.extend(members.iter().cloned());
                    directory.group_members.insert(group_id.clone(), (*members).clone());
                }
                _ => {}
            }
        }
        // Managers of managers, for `managerLevel` 2.
        for _ in 0..2 {
            let missing: Vec<String> =
                wanted.iter().filter(|id| !directory.users.contains_key(id.as_str())).cloned().collect();
            if missing.is_empty() {
                break;
            }
            for user in self.store.users_by_ids(&missing).await? {
                if let Some(manager) = user.manager_id() {
                    wanted.insert(manager.to_owned());
                }
                directory.add_user(user);
            }
            wanted.retain(|id| !directory.users.contains_key(id.as_str()));
        }
        Ok(directory)
    }

    async fn remind_reviewers(
        &self,
        policy_id: &PolicyId,
        occurrence: u32,
        timer: &Timer,
    ) -> ServiceResult<()> {
        let mut events = Vec::new();
        if let Some(instance) = self.store.access_review(&review::instance_id(policy_id, occurrence)).await?
            && instance.status == ReviewStatus::InProgress
        {
            let items: Vec<_> =
                self.all_review_items(&instance.id).await?.into_iter().map(|s| s.item).collect();
            let audience = review::reviewers_of(&items, true);
            let reason = format!("review `{}` ends at {}", instance.id, instance.end_date_time.to_rfc3339());
            events.push(review::event(
                self.new_id(),
                EventKind::AccessReviewEndingSoon,
                &Actor::System,
                &instance,
                audience,
                reason,
                self.now(),
            ));
        }
        self.replace_review_timer(policy_id, timer, Vec::new(), events).await
    }

    async fn end_review(&self, policy_id: &PolicyId, occurrence: u32, timer: &Timer) -> ServiceResult<()> {
        if let Some(instance) = self.store.access_review(&review::instance_id(policy_id, occurrence)).await? {
            self.complete_and_apply(instance, &Actor::System, false).await?;
        }
        self.replace_review_timer(policy_id, timer, Vec::new(), Vec::new()).await
    }

    /// Completes a review (when still in progress; stopped early by `actor` when `stop`) and
    /// applies its results.
    async fn complete_and_apply(
        &self,
        instance: AccessReviewInstance,
        actor: &Actor,
        stop: bool,
    ) -> ServiceResult<AccessReviewInstance> {
        let mut instance = instance;
        if instance.status == ReviewStatus::InProgress {
            let completed = if stop { instance.stop(self.now())? } else { instance.complete() };
            let items: Vec<_> =
                self.all_review_items(&instance.id).await?.into_iter().map(|s| s.item).collect();
            let reason = match completed.stopped_date_time {
                Some(_) => format!("review `{}` was stopped", instance.id),
                None => format!("review `{}` ended", instance.id),
            };
            let event = review::event(
                self.new_id(),
                EventKind::AccessReviewCompleted,
                actor,
                &completed,
                Vec::new(),
                reason,
                self.now(),
            );
            self.store.update_review(&completed, ReviewStatus::InProgress, &items, vec![event]).await?;
            instance = completed;
        }
        if instance.status == ReviewStatus::Completed {
            instance = self.apply_review(instance).await?;
        }
        Ok(instance)
    }

    /// Applies a completed review's results: each item not applied yet, its assignment removed
    /// through a system removal request when its outcome says so; then the review is `Applied`.
    async fn apply_review(&self, instance: AccessReviewInstance) -> ServiceResult<AccessReviewInstance> {
        let behavior = instance.settings.expiration_behavior;
        let pending: Vec<StoredItem> = self
            .all_review_items(&instance.id)
            .await?
            .into_iter()
            .filter(|s| s.item.apply_result == review::ApplyResult::New)
            .collect();
        let (mut removed, mut kept) = (0usize, 0usize);
        for chunk in pending.chunks(APPLY_CHUNK) {
            // Removals of different assignees run side by side, so the committer batches them.
            let outcomes: Vec<ServiceResult<(StoredItem, ItemOutcome)>> =
                futures::stream::iter(chunk.to_vec())
                    .map(|stored| {
                        let services = self.clone();
                        async move {
                            let outcome = stored.item.outcome(behavior);
                            let found = match outcome {
                                ItemOutcome::Keep => true,
                                ItemOutcome::Remove => {
                                    services
                                        .remove_reviewed(&stored.item, &stored.item.reason(behavior))
                                        .await?
                                }
                            };
                            let item = stored.item.applied(found, services.now());
                            Ok((StoredItem { item, version: stored.version }, outcome))
                        }
                    })
                    .buffer_unordered(APPLY_LANES)
                    .collect()
                    .await;
            let mut applied = Vec::with_capacity(chunk.len());
            for result in outcomes {
                let (item, outcome) = result?;
                match outcome {
                    ItemOutcome::Keep => kept += 1,
                    ItemOutcome::Remove => removed += 1,
                }
                applied.push(item);
            }
            self.store.mark_items_applied(&applied).await?;
        }
        let done = instance.applied(self.now());
        let reason = format!("review `{}` applied: {removed} removed, {kept} kept", instance.id);
        let event = review::event(
            self.new_id(),
            EventKind::AccessReviewApplied,
            &Actor::System,
            &done,
            Vec::new(),
            reason,
            self.now(),
        );
        self.store.update_review(&done, ReviewStatus::Completed, &[], vec![event]).await?;
        Ok(done)
    }

    /// Removes a reviewed assignment; `false` when it had ended meanwhile.
    async fn remove_reviewed(
        &self,
        item: &review::AccessReviewDecisionItem,
        reason: &str,
    ) -> ServiceResult<bool> {
        let active =
            self.store.assignment(&item.assignment_id).await?.is_some_and(|a| a.assignment.is_active());
        if !active {
            return Ok(false);
        }
        let input = RequestInput {
            id: RequestId::default(),
            request_type: AccessPackageRequestType::SystemRemove,
            requestor: Actor::System,
            access_package_id: item.access_package_id.clone(),
            assignment_policy_id: None,
            assignment_id: Some(item.assignment_id.clone()),
            justification: Some(reason.to_owned()),
            answers: Vec::new(),
            schedule: None,
            profile_consent: false,
        };
        match self.submit_request(&Actor::System, input, Some(item.principal_id.clone())).await {
            Ok(_) => Ok(true),
            // Ended, or being removed, meanwhile.
            Err(ServiceError::Domain(e)) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Conflict) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    async fn all_review_items(&self, instance_id: &str) -> ServiceResult<Vec<StoredItem>> {
        let mut out = Vec::new();
        let mut page = PageRequest { after: None, first: 1000, count: true };
        loop {
            let got = self.store.review_items(instance_id, &page).await?;
            let last = got.items.last().map(|(key, _)| key.clone());
            out.extend(got.items.into_iter().map(|(_, item)| item));
            match (got.has_next, last) {
                (true, Some(key)) => page.after = Some(key),
                _ => return Ok(out),
            }
        }
    }

    /// Records a reviewer's decisions (Graph's `recordAllDecisions` / `PATCH decisions/{id}`):
    /// all of them or none.
    pub async fn record_review_decisions(
        &self,
        actor: &Actor,
        decisions: &[DecisionInput],
    ) -> ServiceResult<Vec<review::AccessReviewDecisionItem>> {
        let Actor::User { id } = actor else {
            return Err(DomainError::forbidden("reviews are decided by a signed-in directory user").into());
        };
        if decisions.is_empty() {
            return Err(DomainError::invalid("decisions", "send at least one decision").into());
        }
        self.decided(|| async {
            let now = self.now();
            let ids: Vec<String> = decisions.iter().map(|d| d.item_id.clone()).collect();
            let stored: BTreeMap<String, StoredItem> = self
                .store
                .review_items_by_ids(&ids)
                .await?
                .into_iter()
                .map(|s| (s.item.id.clone(), s))
                .collect();
            let mut instances: BTreeMap<String, AccessReviewInstance> = BTreeMap::new();
            let mut decided = Vec::with_capacity(decisions.len());
            let mut events = Vec::new();
            for (i, d) in decisions.iter().enumerate() {
                let missing = || {
                    DomainError::not_found("access review decision", &d.item_id)
                        .at(format!("decisions[{i}].id"))
                };
                let item = stored.get(&d.item_id).ok_or_else(missing)?;
                if !instances.contains_key(&item.item.instance_id) {
                    let instance = found(
                        self.store.access_review(&item.item.instance_id).await?,
                        "access review",
                        "id",
                        &item.item.instance_id,
                    )?;
                    instances.insert(instance.id.clone(), instance);
                }
                let instance = &instances[&item.item.instance_id];
                let next = item
                    .item
                    .decide(instance, id, d.decision, d.justification.as_deref(), now)
                    .map_err(|e| {
                        let field = match e.field.as_deref() {
                            Some(field) => format!("decisions[{i}].{field}"),
                            None => format!("decisions[{i}].id"),
                        };
                        e.at(field)
                    })?;
                let reason = format!(
                    "{:?} for `{}`",
                    next.decision,
                    next.principal_display_name.as_deref().unwrap_or(&next.principal_id)
                );
                events.push(
                    review::event(
                        self.new_id(),
                        EventKind::AccessReviewDecisionRecorded,
                        actor,
                        instance,
                        Vec::new(),
                        reason,
                        now,
                    )
                    .with_data(serde_json::json!({ "decision": next })),
                );
                decided.push(StoredItem { item: next, version: item.version });
            }
            self.store.record_review_decisions(&decided, events).await?;
            Ok(decided.into_iter().map(|s| s.item).collect())
        })
        .await
    }

    /// Stops a review before its end (administrators, and whoever may manage the policies of
    /// its catalog) and applies its results.
    pub async fn stop_review(&self, actor: &Actor, id: &str) -> ServiceResult<AccessReviewInstance> {
        let instance = self.visible_review(actor, id).await?;
        let delegations = self.delegations(actor).await?;
        self.require_in(&delegations, Right::ManagePolicies, &instance.catalog_id, || {
            DomainError::not_found("access review", id).at("id")
        })
        .await?;
        if instance.status != ReviewStatus::InProgress {
            return Err(DomainError::conflict(format!("review `{id}` has already ended")).into());
        }
        self.complete_and_apply(instance, actor, true).await
    }

    /// A review the caller sees: whoever reads its catalog.
    async fn visible_review(&self, actor: &Actor, id: &str) -> ServiceResult<AccessReviewInstance> {
        self.review_access(actor, id).await.map(|(instance, _)| instance)
    }

    /// A review the caller sees, and how: whoever reads its catalog sees all of it; a reviewer
    /// with items in it while it is open (Graph's `pendingAccessReviewInstances`), whatever
    /// catalog it is in, sees it and their own items only.
    async fn review_access(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<(AccessReviewInstance, ReviewAccess)> {
        let missing = || DomainError::not_found("access review", id).at("id");
        let instance = self.store.access_review(id).await?.ok_or_else(missing)?;
        if self.delegations(actor).await?.reads(&instance.catalog_id) {
            return Ok((instance, ReviewAccess::Catalog));
        }
        if let Actor::User { id: reviewer } = actor
            && self.store.reviews_in(reviewer, id).await?
        {
            return Ok((instance, ReviewAccess::Reviewer(reviewer.to_string())));
        }
        Err(missing().into())
    }

    /// What an item the caller was given reviews (Graph's decision item `resource`): its access
    /// package's id and name, which a reviewer is shown though they may not read its catalog.
    pub async fn reviewed_resource(&self, item: &AccessReviewDecisionItem) -> ServiceResult<Option<String>> {
        let package = self.store.access_package(&item.access_package_id).await?;
        Ok(package.map(|p| p.display_name))
    }

    /// A policy's reviews, for whoever reads its catalog.
    pub async fn access_reviews(
        &self,
        actor: &Actor,
        policy_id: &PolicyId,
        page: &PageRequest,
    ) -> ServiceResult<Page<AccessReviewInstance>> {
        let stored = found(
            self.store.assignment_policy(policy_id).await?,
            "assignment policy",
            "policyId",
            policy_id,
        )?;
        if !self.delegations(actor).await?.reads(&stored.catalog_id) {
            return Err(DomainError::not_found("assignment policy", policy_id).at("policyId").into());
        }
        Ok(self.store.access_reviews_of_policy(policy_id, page).await?)
    }

    /// One review, for whoever reads its catalog and for a reviewer with items in it.
    pub async fn access_review(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<Option<AccessReviewInstance>> {
        match self.visible_review(actor, id).await {
            Ok(instance) => Ok(Some(instance)),
            Err(ServiceError::Domain(e)) if e.code == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A review's items: all of them for whoever reads its catalog, their own for a reviewer.
    pub async fn access_review_items(
        &self,
        actor: &Actor,
        instance_id: &str,
        page: &PageRequest,
    ) -> ServiceResult<Page<StoredItem>> {
        match self.review_access(actor, instance_id).await?.1 {
            ReviewAccess::Catalog => Ok(self.store.review_items(instance_id, page).await?),
            ReviewAccess::Reviewer(reviewer) => {
                Ok(self.store.items_for_reviewer(&reviewer, Some(instance_id), page).await?)
            }
        }
    }

    /// The items the caller has to decide in the reviews open now (Graph's
    /// `filterByCurrentUser(on='reviewer')`).
    pub async fn review_items_for_me(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> ServiceResult<Page<StoredItem>> {
        let Actor::User { id } = actor else {
            return Err(DomainError::invalid(
                "filterByCurrentUser",
                "reviews are decided by a signed-in directory user",
            )
            .into());
        };
        Ok(self.store.items_for_reviewer(id, None, page).await?)
    }
}

/// How a caller sees a review (see [`Services::review_access`]).
enum ReviewAccess {
    /// They read its catalog: all of it.
    Catalog,
    /// They review items in it: the review and their own items.
    Reviewer(String),
}

/// Users' last successful sign-ins: what recommendations read. Recorded in memory as callers
/// sign in, and written to the store in batches (at most every [`SIGN_IN_FLUSH`]), so the request
/// path never waits on it; readers merge what is not written yet.
#[derive(Default)]
pub(crate) struct SignIns {
    state: std::sync::Mutex<SignInState>,
}

#[derive(Default)]
struct SignInState {
    pending: BTreeMap<String, chrono::DateTime<chrono::Utc>>,
    flushing: bool,
}

/// How long sign-ins wait in memory before they are written.
pub const SIGN_IN_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

impl Services {
    /// Records that `user_id` signed in now.
    pub fn record_sign_in(&self, user_id: &str) {
        let now = self.now();
        let start = {
            let mut state = self.sign_ins.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            state.pending.insert(user_id.to_owned(), now);
            !std::mem::replace(&mut state.flushing, true)
        };
        if start {
            let services = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(SIGN_IN_FLUSH).await;
                if let Err(e) = services.flush_sign_ins().await {
                    tracing::warn!(error = %e, "recording sign-ins failed; they are kept for the next flush");
                }
            });
        }
    }

    /// Writes the sign-ins recorded in memory.
    pub async fn flush_sign_ins(&self) -> ServiceResult<()> {
        let batch: Vec<(String, chrono::DateTime<chrono::Utc>)> = {
            let mut state = self.sign_ins.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            state.flushing = false;
            state.pending.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        self.store.record_sign_ins(&batch).await?;
        let mut state = self.sign_ins.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (id, at) in batch {
            if state.pending.get(&id) == Some(&at) {
                state.pending.remove(&id);
            }
        }
        Ok(())
    }

    /// Users' last successful sign-ins, by id (none for users never seen signing in).
    pub(crate) async fn last_sign_ins(
        &self,
        ids: &[String],
    ) -> ServiceResult<BTreeMap<String, chrono::DateTime<chrono::Utc>>> {
        let mut out = self.store.sign_ins(ids).await?;
        let state = self.sign_ins.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in ids {
            if let Some(at) = state.pending.get(id) {
                let entry = out.entry(id.clone()).or_insert(*at);
                *entry = (*entry).max(*at);
            }
        }
        Ok(out)
    }
}
