//! What the request path decides on, read through the in-memory read models of
//! [`super::cache`]: a package's context, users with their groups, group members, and a target's
//! requests and assignments.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use em_engine::DomainError;
use em_engine::access_package::AccessPackage;
use em_engine::approval::DirectoryView;
use em_engine::assignment::AccessPackageAssignment;
use em_engine::assignment::{DeliveryPlan, Grant, delivery_plan};
use em_engine::catalog::AccessPackageCatalog;
use em_engine::connected_organization::ConnectedOrganization;
use em_engine::directory::{Group, GroupRelation, User};
use em_engine::id::{AccessPackageId, AssignmentId, RequestId, UserId};
use em_engine::policy::{
    AccessPackageApprovalStage, AccessPackageAssignmentPolicy, ConnectedOrganizationFacts, SubjectFacts,
};
use em_engine::request::{
    AccessPackageAssignmentRequest, OpenRequest, RequestInput, SubmitContext, SubmittedRequest, submit,
};

use super::cache::GenerationMap;
use super::{ServiceResult, Services, found};
use crate::store::catalogs::IncompatibilityKind;
use crate::store::directory::MembershipRow;
use crate::store::requests::{GovernanceWrite, StoredAssignment, StoredRequest};

/// The read models of the request path.
#[derive(Default)]
pub(crate) struct Caches {
    packages: GenerationMap<AccessPackageId, PackageContext>,
    users: GenerationMap<String, Option<User>>,
    user_groups: GenerationMap<String, BTreeSet<String>>,
    group_members: GenerationMap<String, Vec<String>>,
    administrators: GenerationMap<String, bool>,
    /// Validated by the database (generation 0 always).
    targets: GenerationMap<UserId, TargetState>,
    requests: GenerationMap<RequestId, StoredRequest>,
}

/// Everything about an access package that a request through it decides on.
pub(crate) struct PackageContext {
    pub package: AccessPackage,
    pub catalog: AccessPackageCatalog,
    pub policies: Vec<AccessPackageAssignmentPolicy>,
    /// The approval stages of every policy (whose approvers a decision may resolve).
    pub stages: Vec<AccessPackageApprovalStage>,
    /// What an assignment of the package delivers.
    pub plan: DeliveryPlan,
    /// Grants of the plan whose group, application, site or role no longer exists.
    pub missing: BTreeSet<Grant>,
    /// Incompatible packages, either way round, and incompatible groups.
    pub incompatible_packages: Vec<AccessPackage>,
    pub incompatible_groups: Vec<Group>,
    /// The catalog's custom extensions, read when a policy of the package calls one.
    pub extensions: Vec<em_engine::extension::CustomCalloutExtension>,
}

impl PackageContext {
    /// The extensions a policy calls, by stage (for an assignment's own stages).
    pub(crate) fn stage_extensions(
        &self,
        policy_id: &em_engine::id::PolicyId,
    ) -> Vec<em_engine::extension::StageExtension> {
        self.policies
            .iter()
            .find(|p| p.id == *policy_id)
            .map(|p| em_engine::extension::resolve(&p.custom_extension_stage_settings, &self.extensions))
            .unwrap_or_default()
    }

    /// What delivering the package's assignments needs.
    pub(crate) fn delivery(&self) -> em_engine::request::change::Delivery<'_> {
        em_engine::request::change::Delivery {
            package: &self.package,
            plan: &self.plan,
            missing: &self.missing,
        }
    }

    /// The engine's decision on a request for this package: `target` with their requests and
    /// assignments in `state`, `requestor` (`None` for the engine and a local operator),
    /// approvers resolved from `directory`.
    pub(crate) fn submit(
        &self,
        input: RequestInput,
        requestor: Option<SubjectFacts<'_>>,
        target: SubjectFacts<'_>,
        state: &TargetState,
        directory: &dyn DirectoryView,
        now: DateTime<Utc>,
    ) -> Result<SubmittedRequest, DomainError> {
        let assignments: Vec<AccessPackageAssignment> =
            state.assignments.iter().map(|a| a.assignment.clone()).collect();
        let open: Vec<OpenRequest> = state
            .open_requests
            .iter()
            .map(|r| OpenRequest {
                id: r.request.id.clone(),
                access_package_id: r.request.access_package_id.clone(),
                request_type: r.request.request_type,
            })
            .collect();
        submit(
            input,
            &SubmitContext {
                package: &self.package,
                catalog: &self.catalog,
                policies: &self.policies,
                requestor,
                target,
                target_assignments: &assignments,
                target_open_requests: &open,
                incompatible_packages: &self.incompatible_packages,
                incompatible_groups: &self.incompatible_groups,
                directory,
                extensions: &self.extensions,
            },
            now,
        )
    }
}

/// A user as policies and separation of duties read them: the user and their direct groups, and
/// for someone from another organization, that organization.
pub(crate) struct Subject {
    pub user: User,
    pub group_ids: BTreeSet<String>,
    pub organization: Option<(ConnectedOrganization, ConnectedOrganizationFacts)>,
}

impl Subject {
    pub(crate) fn facts(&self) -> SubjectFacts<'_> {
        SubjectFacts {
            user: &self.user,
            group_ids: &self.group_ids,
            connected_organization: self.organization.as_ref().map(|(_, facts)| facts),
        }
    }
}

/// What a target's requests and assignments looked like when read.
#[derive(Clone, Default)]
pub(crate) struct TargetState {
    pub version: u64,
    /// Active assignments.
    pub assignments: Vec<StoredAssignment>,
    /// Unfinished requests.
    pub open_requests: Vec<StoredRequest>,
}

impl TargetState {
    /// The state after `write` committed.
    pub(crate) fn after(&self, write: &GovernanceWrite) -> Self {
        let mut next = self.clone();
        next.version = write.target_version + 1;
        for (assignment, version) in &write.assignments {
            next.assignments.retain(|a| a.assignment.id != assignment.id);
            if assignment.is_active() {
                next.assignments.push(StoredAssignment {
                    assignment: assignment.clone(),
                    version: version.map_or(1, |v| v + 1),
                });
            }
        }
        for (request, version) in &write.requests {
            next.open_requests.retain(|r| r.request.id != request.id);
            if is_open(request) {
                next.open_requests
                    .push(StoredRequest { request: request.clone(), version: version.map_or(1, |v| v + 1) });
            }
        }
        next
    }
}

fn is_open(request: &AccessPackageAssignmentRequest) -> bool {
    !request.state.is_completed() && request.state != em_engine::request::AccessPackageRequestState::Denied
}

impl Services {
    /// The read models after `write` committed on `state`: the target's requests and
    /// assignments as written; the principal's groups, administrator check and delegations, and
    /// the members of the groups a delivery touched, read again on next use.
    pub(crate) fn remember_commit(&self, write: &GovernanceWrite, state: &TargetState) {
        let next = state.after(write);
        self.caches.targets.put(write.target_id.clone(), 0, Arc::new(next));
        for (request, version) in &write.requests {
            let stored = StoredRequest { request: request.clone(), version: version.map_or(1, |v| v + 1) };
            self.caches.requests.put(request.id.clone(), 0, Arc::new(stored));
        }
        if write.guest.is_some() {
            // Invited, blocked or unblocked: read again on next use.
            self.caches.users.remove(write.target_id.as_str());
        }
        if !write.deliver.is_empty() || !write.revoke.is_empty() {
            self.caches.user_groups.remove(write.target_id.as_str());
            self.caches.administrators.remove(write.target_id.as_str());
            let touched = write.deliver.iter().map(|(_, g)| g).chain(write.revoke.iter().map(|(_, g, _)| g));
            for grant in touched {
                if let Grant::GroupMember { group_id } = grant {
                    self.caches.group_members.remove(group_id);
                }
            }
        }
    }

    /// Forgets a user changed outside the directory's own operations (a guest's invitation
    /// accepted, a guest deleted): read again on next use.
    pub(crate) fn forget_user(&self, id: &str) {
        self.caches.users.remove(id);
        self.caches.user_groups.remove(id);
    }

    /// Forgets what the read models hold about a target another replica changed (a request,
    /// an assignment, a delivery: see `replicas`): their requests and assignments, the request
    /// named, their groups and administrator check, and the members of every group (which a
    /// delivery may have changed).
    pub(crate) fn forget_changed_elsewhere(&self, target_id: Option<&str>, request_id: Option<&RequestId>) {
        if let Some(target) = target_id {
            self.caches.targets.remove(&UserId::new(target));
            self.caches.users.remove(target);
            self.caches.user_groups.remove(target);
            self.caches.administrators.remove(target);
        }
        if let Some(request) = request_id {
            self.caches.requests.remove(request);
        }
        self.caches.group_members.clear();
    }

    /// Forgets every cached user, group, target and request (the read models start over).
    pub(crate) fn forget_all_cached(&self) {
        self.caches.users.clear();
        self.caches.user_groups.clear();
        self.caches.group_members.clear();
        self.caches.administrators.clear();
        self.caches.targets.clear();
        self.caches.requests.clear();
    }

    /// Forgets what a write that failed was decided on: the next decision reads it again.
    pub(crate) fn forget_write(&self, write: &GovernanceWrite) {
        self.caches.targets.remove(&write.target_id);
        for (request, _) in &write.requests {
            self.caches.requests.remove(&request.id);
        }
    }

    /// An active assignment as this server last committed it, while it remembers its target's
    /// state: what a mutation's answer shows of the assignment it just delivered.
    #[must_use]
    pub fn committed_assignment(&self, target_id: &UserId, id: &AssignmentId) -> Option<StoredAssignment> {
        let state = self.caches.targets.get(target_id, 0)?;
        state.assignments.iter().find(|a| a.assignment.id == *id).cloned()
    }

    /// Forgets what the read models hold about a target (its data moved elsewhere).
    pub(crate) fn forget_target(&self, target_id: &UserId) {
        self.caches.targets.remove(&target_id.to_owned());
    }

    /// The context of a package; NOT_FOUND naming `field` when there is no such package.
    /// Cached at the catalog generation: a change to users or memberships leaves it alone.
    pub(crate) async fn package_context(
        &self,
        id: &AccessPackageId,
        field: &str,
    ) -> ServiceResult<Arc<PackageContext>> {
        let generation = self.store.catalog_generation();
        if let Some(hit) = self.caches.packages.get(id, generation) {
            return Ok(hit);
        }
        let package = self.access_package_at(id, field).await?;
        let catalog =
            found(self.store.catalog(&package.catalog_id).await?, "catalog", field, &package.catalog_id)?;
        let policies: Vec<AccessPackageAssignmentPolicy> = self
            .store
            .assignment_policies_of_package(&package.id)
            .await?
            .into_iter()
            .map(|stored| stored.policy)
            .collect();
        let stages =
            policies.iter().flat_map(|p| p.request_approval_settings.stages.iter().cloned()).collect();
        let scopes = self.store.role_scopes(&package.id).await?;
        let mut resources = Vec::new();
        let resource_ids: BTreeSet<&str> = scopes.iter().map(|s| s.resource_id.as_str()).collect();
        for resource_id in resource_ids {
            if let Some(resource) = self.store.resource(resource_id).await? {
                resources.push(resource);
            }
        }
        let plan = delivery_plan(&scopes, &resources);
        let mut missing = BTreeSet::new();
        for grant in &plan.grants {
            if !self.grant_object_exists(grant).await? {
                missing.insert(grant.clone());
            }
        }
        let mut package_ids: BTreeSet<AccessPackageId> =
            self.store.incompatible_package_ids(&package.id).await?.into_iter().collect();
        package_ids.extend(
            self.store.incompatibilities_to(&package.id).await?.into_iter().map(|row| row.access_package_id),
        );
        let package_ids: Vec<AccessPackageId> = package_ids.into_iter().collect();
        let incompatible_packages = self.store.access_packages_by_ids(&package_ids).await?;
        let group_ids: Vec<String> =
            self.store.incompatible_ids(&package.id, IncompatibilityKind::Group).await?;
        let incompatible_groups = self.store.groups_by_ids(&group_ids).await?;
        let extensions = if policies.iter().any(|p| !p.custom_extension_stage_settings.is_empty()) {
            self.store.catalog_extensions(&catalog.id).await?
        } else {
            Vec::new()
        };
        let context = Arc::new(PackageContext {
            package,
            catalog,
            policies,
            stages,
            plan,
            missing,
            incompatible_packages,
            incompatible_groups,
            extensions,
        });
        self.caches.packages.put(id.clone(), generation, Arc::clone(&context));
        Ok(context)
    }

    async fn grant_object_exists(&self, grant: &Grant) -> ServiceResult<bool> {
        Ok(match grant {
            Grant::GroupMember { group_id } | Grant::GroupOwner { group_id } => {
                self.store.group(group_id).await?.is_some()
            }
            Grant::AppRole { application_id, .. } => self.store.application(application_id).await?.is_some(),
            Grant::SiteRole { site_id, .. } => self.store.site(site_id).await?.is_some(),
            Grant::DirectoryRoleEligible { directory_role_id }
            | Grant::DirectoryRoleActive { directory_role_id } => {
                self.store.directory_role(directory_role_id).await?.is_some()
            }
        })
    }

    /// A user (or that there is none) as remembered at `generation`.
    pub(crate) fn caches_users(&self, id: &str, generation: u64) -> Option<Arc<Option<User>>> {
        self.caches.users.get(id, generation)
    }

    /// A user of the directory, if there is one.
    pub async fn cached_user(&self, id: &str) -> ServiceResult<Option<User>> {
        let generation = self.store.generation();
        if let Some(hit) = self.caches.users.get(id, generation) {
            return Ok((*hit).clone());
        }
        let user = self.store.user(id).await?;
        self.caches.users.put(id.to_owned(), generation, Arc::new(user.clone()));
        Ok(user)
    }

    /// The signed-in caller's user (what authentication checks), remembered like
    /// [`Self::cached_user`]. Read with their groups and the version of their requests and
    /// assignments in one round trip, which are remembered too: a caller without a version holds
    /// nothing, so a submission of theirs reads nothing more before it commits.
    pub async fn caller_user(&self, id: &str) -> ServiceResult<Option<User>> {
        self.caller_as(id, false).await
    }

    /// [`Self::caller_user`]; with `future`, the id is one a user may get (an outsider's guest),
    /// and what they hold is remembered even while no such user exists.
    pub(crate) async fn caller_as(&self, id: &str, future: bool) -> ServiceResult<Option<User>> {
        let generation = self.store.generation();
        if let Some(hit) = self.caches.users.get(id, generation) {
            return Ok((*hit).clone());
        }
        let (user, memberships, version) = self.store.caller(id).await?;
        self.prime_subject(generation, id, user.clone(), MembershipRow::member_groups(memberships));
        // A remembered state may be newer (a commit of theirs may have ended meanwhile); and one
        // that is stale makes the write that decides on it fail as stale, and be decided again.
        if version == 0 && (user.is_some() || future) && self.caches.targets.get(id, 0).is_none() {
            self.caches.targets.put(id.into(), 0, Arc::new(TargetState::default()));
        }
        Ok(user)
    }

    /// Remembers a user and their direct groups as read after the generation `generation`.
    pub(crate) fn prime_subject(
        &self,
        generation: u64,
        id: &str,
        user: Option<User>,
        groups: BTreeSet<String>,
    ) {
        self.caches.users.put(id.to_owned(), generation, Arc::new(user));
        self.caches.user_groups.put(id.to_owned(), generation, Arc::new(groups));
    }

    /// A user and their direct groups; NOT_FOUND naming `field` when there is no such user.
    pub(crate) async fn subject(&self, id: &str, field: &str) -> ServiceResult<Subject> {
        let user = found(self.cached_user(id).await?, "user", field, id)?;
        let group_ids = (*self.group_ids(&user.id).await?).clone();
        Ok(Subject { user, group_ids, organization: None })
    }

    /// The groups a principal is a direct member of, remembered until the directory changes.
    pub(crate) async fn group_ids(&self, id: &str) -> ServiceResult<Arc<BTreeSet<String>>> {
        let generation = self.store.generation();
        if let Some(hit) = self.caches.user_groups.get(id, generation) {
            return Ok(hit);
        }
        let groups: Arc<BTreeSet<String>> =
            Arc::new(MembershipRow::member_groups(self.store.memberships_of(id).await?));
        self.caches.user_groups.put(id.to_owned(), generation, Arc::clone(&groups));
        Ok(groups)
    }

    /// The direct members of a group.
    pub(crate) async fn cached_group_members(&self, group_id: &str) -> ServiceResult<Arc<Vec<String>>> {
        let generation = self.store.generation();
        if let Some(hit) = self.caches.group_members.get(group_id, generation) {
            return Ok(hit);
        }
        let members: Vec<String> = self
            .store
            .group_members(group_id, GroupRelation::Member)
            .await?
            .into_iter()
            .map(|row| row.principal_id)
            .collect();
        let members = Arc::new(members);
        self.caches.group_members.put(group_id.to_owned(), generation, Arc::clone(&members));
        Ok(members)
    }

    /// Whether a user holds an administrator role, remembered until the directory changes.
    pub(crate) async fn is_administrator(&self, user_id: &str) -> ServiceResult<bool> {
        let generation = self.store.generation();
        if let Some(hit) = self.caches.administrators.get(user_id, generation) {
            return Ok(*hit);
        }
        let templates = [
            em_engine::directory::role_templates::IDENTITY_GOVERNANCE_ADMINISTRATOR,
            em_engine::directory::role_templates::GLOBAL_ADMINISTRATOR,
        ];
        let held = self.store.holds_directory_role(user_id, &templates).await?;
        self.caches.administrators.put(user_id.to_owned(), generation, Arc::new(held));
        Ok(held)
    }

    /// A target's active assignments and open requests, and their version.
    pub(crate) async fn target_state(&self, target_id: &UserId) -> ServiceResult<Arc<TargetState>> {
        if let Some(hit) = self.caches.targets.get(target_id, 0) {
            return Ok(hit);
        }
        let (version, assignments, open_requests) = self.store.target_snapshot(target_id).await?;
        let state = Arc::new(TargetState { version, assignments, open_requests });
        self.caches.targets.put(target_id.to_owned(), 0, Arc::clone(&state));
        Ok(state)
    }

    /// A request with its version.
    pub(crate) async fn stored_request(&self, id: &RequestId) -> ServiceResult<Option<StoredRequest>> {
        if let Some(hit) = self.caches.requests.get(id, 0) {
            return Ok(Some((*hit).clone()));
        }
        let stored = self.store.request(id).await?;
        if let Some(s) = &stored {
            self.caches.requests.put(id.to_owned(), 0, Arc::new(s.clone()));
        }
        Ok(stored)
    }
}
