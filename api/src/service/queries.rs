//! The read path: every read the GraphQL edge makes, with the caller, answered with only what
//! the caller may see. An object the caller may not see answers exactly as one that does not
//! exist (`None`, or left out of a list), and a list's `totalCount` counts what the caller sees.
//!
//! Who sees what:
//! - **Catalogs** and what is inside them (resources, resource requests, every access package
//!   and policy): administrators, and whoever holds a role in the catalog.
//! - **Access packages and policies** also: a user a policy of the package applies to (the My
//!   Access view; a hidden package is not listed, but answers by id, its direct link).
//! - **Requests**: their requestor and target, their approvers, and whoever may read the
//!   catalog's requests; **assignments**: their target, and whoever may read the catalog's
//!   assignments. The package and policy of a request or assignment the caller sees are shown
//!   with it ([`Services::related_packages`], [`Services::related_policies`]).
//! - **Role assignments**: see `roles`.
//! - **Events** (the audit trail and every subscription): administrators all; others the events
//!   of what they may see in their catalogs, and the events they did, that are about them or
//!   that are addressed to them ([`Services::sees_event`]).
//! - **The directory** (users, groups, applications, sites, directory roles): members of the
//!   directory and administrators; a guest sees only their own user.
//!
//! Batch reads (`*_by_ids`) answer a page's nested objects in one query per kind; the GraphQL
//! edge calls them through its data loaders.

use std::collections::{BTreeSet, HashMap};

use em_engine::Actor;
use em_engine::access_package::{AccessPackage, AccessPackageResourceRoleScope};
use em_engine::approval::DirectorySnapshot;
use em_engine::catalog::AccessPackageCatalog;
use em_engine::delegation::{Delegations, Right};
use em_engine::directory::{Application, DirectoryRole, Group, GroupRelation, Site, User, UserType};
use em_engine::event::{Event, EventArea};
use em_engine::id::{AccessPackageId, AssignmentId, CatalogId, PolicyId};
use em_engine::policy::applicability::applicable_policy_requirements;
use em_engine::resource::AccessPackageResource;

use super::{ServiceResult, Services, authz};
use crate::store::catalogs::{AccessPackageFilter, CatalogFilter, IncompatibilityKind, ResourceRequestRow};
use crate::store::directory::{GroupFilter, UserFilter};
use crate::store::events::EventFilter;
use crate::store::policies::{PolicyFilter, StoredPolicy};
use crate::store::requests::{Exclusion, StoredAssignment, StoredRequest};
use crate::store::{Page, PageRequest};

/// An empty page: what a list of something the caller may not see answers.
fn nothing<T>() -> Page<T> {
    Page { items: Vec::new(), has_next: false, total: 0 }
}

/// The directory as the caller may read it.
enum DirectoryReader {
    /// Members and administrators read the whole directory.
    Everything,
    /// A guest reads their own user.
    Own(String),
    /// Someone outside the directory reads none of it.
    Nothing,
}

impl Services {
    // ----------------------------------------------------------------------------------------
    // Catalogs

    /// One page of the catalogs the caller sees. A delegate's listing reads only the catalogs
    /// where they hold a role.
    pub async fn catalogs(
        &self,
        actor: &Actor,
        mut filter: CatalogFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<AccessPackageCatalog>> {
        let delegations = self.delegations(actor).await?;
        filter.ids = delegations.reach(Right::ReadCatalog).catalog_ids();
        if filter.ids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(nothing());
        }
        Ok(self.store.catalogs(&filter, page).await?)
    }

    /// A catalog, if the caller sees it.
    pub async fn catalog(
        &self,
        actor: &Actor,
        id: &CatalogId,
    ) -> ServiceResult<Option<AccessPackageCatalog>> {
        if !self.delegations(actor).await?.reads(id) {
            return Ok(None);
        }
        Ok(self.store.catalog(id).await?)
    }

    /// The catalogs of `ids` the caller sees, by id.
    pub async fn catalogs_by_ids(
        &self,
        actor: &Actor,
        ids: &[CatalogId],
    ) -> ServiceResult<HashMap<CatalogId, AccessPackageCatalog>> {
        let delegations = self.delegations(actor).await?;
        let ids: Vec<CatalogId> = ids.iter().filter(|id| delegations.reads(id)).cloned().collect();
        Ok(self.store.catalogs_by_ids(&ids).await?.into_iter().map(|c| (c.id.clone(), c)).collect())
    }

    /// One page of a catalog's resources.
    pub async fn catalog_resources(
        &self,
        actor: &Actor,
        catalog_id: &CatalogId,
        origin_system: Option<&str>,
        page: &PageRequest,
    ) -> ServiceResult<Page<AccessPackageResource>> {
        if !self.delegations(actor).await?.reads(catalog_id) {
            return Ok(nothing());
        }
        Ok(self.store.resources(catalog_id, origin_system, page).await?)
    }

    /// One page of the resource requests that changed a catalog's resources.
    pub async fn catalog_resource_requests(
        &self,
        actor: &Actor,
        catalog_id: &CatalogId,
        page: &PageRequest,
    ) -> ServiceResult<Page<ResourceRequestRow>> {
        if !self.delegations(actor).await?.reads(catalog_id) {
            return Ok(nothing());
        }
        Ok(self.store.resource_requests(catalog_id, page).await?)
    }

    /// A catalog resource, if the caller sees its catalog.
    pub async fn resource(&self, actor: &Actor, id: &str) -> ServiceResult<Option<AccessPackageResource>> {
        let Some(resource) = self.store.resource(id).await? else { return Ok(None) };
        Ok(self.delegations(actor).await?.reads(&resource.catalog_id).then_some(resource))
    }

    // ----------------------------------------------------------------------------------------
    // Access packages

    /// One page of the access packages of the catalogs the caller sees.
    pub async fn access_packages(
        &self,
        actor: &Actor,
        mut filter: AccessPackageFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<AccessPackage>> {
        let delegations = self.delegations(actor).await?;
        if filter.catalog_id.as_ref().is_some_and(|c| !delegations.reads(c)) {
            return Ok(nothing());
        }
        filter.catalog_ids = delegations.reach(Right::ReadCatalog).catalog_ids();
        if filter.catalog_ids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(nothing());
        }
        Ok(self.store.access_packages(&filter, page).await?)
    }

    /// An access package, if the caller sees its catalog or may request it (a hidden package
    /// answers too: its direct link).
    pub async fn access_package(
        &self,
        actor: &Actor,
        id: &AccessPackageId,
    ) -> ServiceResult<Option<AccessPackage>> {
        let Some(package) = self.store.access_package(id).await? else { return Ok(None) };
        let delegations = self.delegations(actor).await?;
        Ok(self.sees_package(&delegations, actor, &package).await?.then_some(package))
    }

    /// The packages of `ids` the caller sees, by id.
    pub async fn packages_by_ids(
        &self,
        actor: &Actor,
        ids: &[AccessPackageId],
    ) -> ServiceResult<HashMap<AccessPackageId, AccessPackage>> {
        let delegations = self.delegations(actor).await?;
        let mut out = HashMap::new();
        for package in self.store.access_packages_by_ids(ids).await? {
            if self.sees_package(&delegations, actor, &package).await? {
                out.insert(package.id.clone(), package);
            }
        }
        Ok(out)
    }

    /// The packages named by requests and assignments the caller sees (their own, those they
    /// approve, those of catalogs they manage), by id: shown with what names them.
    pub async fn related_packages(
        &self,
        ids: &[AccessPackageId],
    ) -> ServiceResult<HashMap<AccessPackageId, AccessPackage>> {
        Ok(self.store.access_packages_by_ids(ids).await?.into_iter().map(|p| (p.id.clone(), p)).collect())
    }

    /// Whether the caller sees a package: they see its catalog, or a policy of it applies to them.
    pub(crate) async fn sees_package(
        &self,
        delegations: &Delegations,
        actor: &Actor,
        package: &AccessPackage,
    ) -> ServiceResult<bool> {
        if delegations.reads(&package.catalog_id) {
            return Ok(true);
        }
        Ok(!self.requirements_for_caller(actor, &package.id).await?.is_empty())
    }

    /// The resource roles a package grants, with their resources.
    pub async fn package_role_scopes(
        &self,
        actor: &Actor,
        package: &AccessPackage,
    ) -> ServiceResult<Vec<(AccessPackageResourceRoleScope, AccessPackageResource)>> {
        let delegations = self.delegations(actor).await?;
        if !self.sees_package(&delegations, actor, package).await? {
            return Ok(Vec::new());
        }
        let scopes = self.store.role_scopes(&package.id).await?;
        let ids: Vec<String> =
            scopes.iter().map(|s| s.resource_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let resources: HashMap<String, AccessPackageResource> =
            self.store.resources_by_ids(&ids).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
        Ok(scopes
            .into_iter()
            .filter_map(|scope| {
                let resource = resources.get(&scope.resource_id)?.clone();
                Some((scope, resource))
            })
            .collect())
    }

    /// The packages whose assignees may not get `package` (one-way, as Graph has it), those the
    /// caller sees.
    pub async fn incompatible_packages(
        &self,
        actor: &Actor,
        package: &AccessPackage,
    ) -> ServiceResult<Vec<AccessPackage>> {
        if !self.delegations(actor).await?.reads(&package.catalog_id) {
            return Ok(Vec::new());
        }
        let ids = self.store.incompatible_package_ids(&package.id).await?;
        self.visible_packages(actor, &ids).await
    }

    /// The packages that declare `package` incompatible, those the caller sees.
    pub async fn packages_incompatible_with(
        &self,
        actor: &Actor,
        package: &AccessPackage,
    ) -> ServiceResult<Vec<AccessPackage>> {
        if !self.delegations(actor).await?.reads(&package.catalog_id) {
            return Ok(Vec::new());
        }
        let ids: Vec<AccessPackageId> = self
            .store
            .incompatibilities_to(&package.id)
            .await?
            .into_iter()
            .map(|row| row.access_package_id)
            .collect();
        self.visible_packages(actor, &ids).await
    }

    /// The groups whose members may not get `package`.
    pub async fn incompatible_groups(
        &self,
        actor: &Actor,
        package: &AccessPackage,
    ) -> ServiceResult<Vec<Group>> {
        if !self.delegations(actor).await?.reads(&package.catalog_id) {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = self.store.incompatible_ids(&package.id, IncompatibilityKind::Group).await?;
        Ok(self.store.groups_by_ids(&ids).await?)
    }

    /// The packages of `ids` the caller sees, ordered by display name.
    async fn visible_packages(
        &self,
        actor: &Actor,
        ids: &[AccessPackageId],
    ) -> ServiceResult<Vec<AccessPackage>> {
        let visible = self.packages_by_ids(actor, ids).await?;
        let mut out: Vec<AccessPackage> = visible.into_values().collect();
        out.sort_by_cached_key(|p| crate::store::sort_key(&p.display_name, &p.id));
        Ok(out)
    }

    // ----------------------------------------------------------------------------------------
    // Policies

    /// One page of the policies of the catalogs the caller sees.
    pub async fn assignment_policies(
        &self,
        actor: &Actor,
        mut filter: PolicyFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<StoredPolicy>> {
        let delegations = self.delegations(actor).await?;
        if filter.catalog_id.as_ref().is_some_and(|c| !delegations.reads(c)) {
            return Ok(nothing());
        }
        filter.catalog_ids = delegations.reach(Right::ReadCatalog).catalog_ids();
        if filter.catalog_ids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(nothing());
        }
        Ok(self.store.assignment_policies(&filter, page).await?)
    }

    /// A policy, if the caller sees its catalog or it applies to them.
    pub async fn assignment_policy(
        &self,
        actor: &Actor,
        id: &PolicyId,
    ) -> ServiceResult<Option<StoredPolicy>> {
        let Some(stored) = self.store.assignment_policy(id).await? else { return Ok(None) };
        let visible = self.sees_policies(actor, &stored.catalog_id, &stored.policy.access_package_id).await?;
        Ok(visible.contains(&stored.policy.id).then_some(stored))
    }

    /// A package's policies the caller sees: all of them in a catalog they see, else those that
    /// apply to them. Ordered by display name.
    pub async fn package_policies(
        &self,
        actor: &Actor,
        package: &AccessPackage,
    ) -> ServiceResult<Vec<StoredPolicy>> {
        let policies = self.store.assignment_policies_of_package(&package.id).await?;
        let visible = self.sees_policies(actor, &package.catalog_id, &package.id).await?;
        Ok(policies.into_iter().filter(|p| visible.contains(&p.policy.id)).collect())
    }

    /// The policies of `ids` named by requests and assignments the caller sees, by id.
    pub async fn related_policies(&self, ids: &[PolicyId]) -> ServiceResult<HashMap<PolicyId, StoredPolicy>> {
        let policies = self.store.assignment_policies_by_ids(ids).await?;
        Ok(policies.into_iter().map(|p| (p.policy.id.clone(), p)).collect())
    }

    /// The ids of the policies of `package_id` (in `catalog_id`) the caller sees.
    async fn sees_policies(
        &self,
        actor: &Actor,
        catalog_id: &CatalogId,
        package_id: &AccessPackageId,
    ) -> ServiceResult<BTreeSet<PolicyId>> {
        if self.delegations(actor).await?.reads(catalog_id) {
            let all = self.store.assignment_policies_of_package(package_id).await?;
            return Ok(all.into_iter().map(|p| p.policy.id).collect());
        }
        Ok(self.requirements_for_caller(actor, package_id).await?.into_iter().map(|r| r.policy_id).collect())
    }

    /// The policies of a package through which the caller may request it for themselves (an
    /// outsider as the guest they would become); none for the engine and the local operator,
    /// and for a package that does not exist.
    pub(crate) async fn requirements_for_caller(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
    ) -> ServiceResult<Vec<em_engine::policy::ApplicablePolicyRequirements>> {
        let context = match self.package_context(package_id, "accessPackageId").await {
            Ok(context) => context,
            Err(super::ServiceError::Domain(e)) if e.code == em_engine::ErrorCode::NotFound => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let Some(me) = self.caller_subject(actor).await? else { return Ok(Vec::new()) };
        let mut directory = DirectorySnapshot::default();
        for group in &me.group_ids {
            directory.add_member(group, &me.user.id);
        }
        directory.add_user(me.user.clone());
        Ok(applicable_policy_requirements(&context.catalog, &context.policies, &me.facts(), &directory))
    }

    // ----------------------------------------------------------------------------------------
    // Requests and assignments

    /// The assignments named by requests the caller sees (the assignment a request created or
    /// changed is shown with it), by id.
    pub async fn related_assignments(
        &self,
        ids: &[AssignmentId],
    ) -> ServiceResult<HashMap<AssignmentId, StoredAssignment>> {
        let assignments: Vec<StoredAssignment> = self.store.assignments_by_ids(ids).await?;
        Ok(assignments.into_iter().map(|a| (a.assignment.id.clone(), a)).collect())
    }

    /// Whether the caller sees a request, by its value (a subscription's payload, say).
    pub async fn sees_request(
        &self,
        actor: &Actor,
        request: &em_engine::request::AccessPackageAssignmentRequest,
    ) -> ServiceResult<bool> {
        Ok(authz::sees_request(&*self.delegations(actor).await?, actor, request))
    }

    /// A page of requests already read, without those the caller may not see (for lists the
    /// store filtered by the caller's own ids, a check that costs nothing).
    pub async fn visible_requests(
        &self,
        actor: &Actor,
        page: Page<StoredRequest>,
    ) -> ServiceResult<Page<StoredRequest>> {
        let delegations = self.delegations(actor).await?;
        let before = page.items.len();
        let items: Vec<(String, StoredRequest)> = page
            .items
            .into_iter()
            .filter(|(_, r)| authz::sees_request(&delegations, actor, &r.request))
            .collect();
        let hidden = before - items.len();
        Ok(Page { items, has_next: page.has_next, total: page.total.saturating_sub(hidden) })
    }

    /// The exclusions an auto-assignment policy recorded (administrators: auto-assignment is
    /// theirs).
    pub async fn auto_exclusions(
        &self,
        actor: &Actor,
        policy_id: &PolicyId,
    ) -> ServiceResult<Vec<Exclusion>> {
        self.require_admin(actor).await?;
        Ok(self.store.exclusions(policy_id).await?)
    }

    // ----------------------------------------------------------------------------------------
    // Events

    /// Whether the caller may see an event: administrators every event; others the events they
    /// did, that are about them or addressed to them, and the events of what they may see in
    /// their catalogs (requests and assignments where they may read those, everything else of a
    /// catalog they see).
    #[must_use]
    pub fn sees_event(delegations: &Delegations, actor: &Actor, event: &Event) -> bool {
        if delegations.administrator {
            return true;
        }
        let id = match actor {
            Actor::User { id } => id,
            Actor::External { .. } => return false,
            Actor::System | Actor::LocalOperator => return true,
        };
        if event.actor_id.as_deref() == Some(id)
            || event.target_id.as_deref() == Some(id)
            || event.audience.iter().any(|a| a == id)
        {
            return true;
        }
        let Some(catalog) = &event.catalog_id else { return false };
        let right = match event.kind.area() {
            EventArea::Request => Right::ReadRequests,
            EventArea::Assignment => Right::ReadAssignments,
            EventArea::Catalog => Right::ReadCatalog,
            EventArea::Directory => return false,
        };
        delegations.allows(right, catalog)
    }

    /// One page of the audit trail, oldest first: the events the caller may see.
    pub async fn audit_events(
        &self,
        actor: &Actor,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<Event>> {
        let delegations = self.delegations(actor).await?;
        if delegations.administrator {
            return Ok(self.store.events(filter, None, page).await?);
        }
        let sees = |event: &Event| Self::sees_event(&delegations, actor, event);
        Ok(self.store.events(filter, Some(&sees), page).await?)
    }

    // ----------------------------------------------------------------------------------------
    // The directory

    async fn directory_reader(&self, actor: &Actor) -> ServiceResult<DirectoryReader> {
        let id = match actor {
            Actor::User { id } => id,
            Actor::External { .. } => return Ok(DirectoryReader::Nothing),
            Actor::System | Actor::LocalOperator => return Ok(DirectoryReader::Everything),
        };
        let guest = self.cached_user(id).await?.is_some_and(|u| u.user_type == Some(UserType::Guest));
        if guest && !self.delegations(actor).await?.administrator {
            return Ok(DirectoryReader::Own(id.to_string()));
        }
        Ok(DirectoryReader::Everything)
    }

    /// One page of users.
    pub async fn users(
        &self,
        actor: &Actor,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<User>> {
        match self.directory_reader(actor).await? {
            DirectoryReader::Everything => Ok(self.store.users(filter, page).await?),
            DirectoryReader::Own(_) | DirectoryReader::Nothing => Ok(nothing()),
        }
    }

    /// A user.
    pub async fn user(&self, actor: &Actor, id: &str) -> ServiceResult<Option<User>> {
        match self.directory_reader(actor).await? {
            DirectoryReader::Own(own) if own != id => Ok(None),
            DirectoryReader::Nothing => Ok(None),
            _ => self.cached_user(id).await,
        }
    }

    /// A user as the read models remember them, when the caller reads the whole directory and
    /// the user is remembered at the current generation; `None` when that is not known without a
    /// read (a page's loader then reads the users together). A subscription's payload names users
    /// its subscriber signed in with moments before: this answers them without waiting for a batch.
    #[must_use]
    pub fn remembered_user(&self, actor: &Actor, id: &str) -> Option<Option<User>> {
        let generation = self.store.generation();
        match actor {
            Actor::User { id: me } => {
                let caller = self.caches_users(me, generation)?;
                if Option::as_ref(&caller).is_none_or(|u| u.user_type == Some(UserType::Guest)) {
                    return None;
                }
            }
            Actor::External { .. } => return None,
            Actor::System | Actor::LocalOperator => {}
        }
        self.caches_users(id, generation).map(|user| (*user).clone())
    }

    /// The users of `ids` the caller may read, by id.
    pub async fn users_by_ids(&self, actor: &Actor, ids: &[String]) -> ServiceResult<HashMap<String, User>> {
        let ids: Vec<String> = match self.directory_reader(actor).await? {
            DirectoryReader::Everything => ids.to_vec(),
            DirectoryReader::Own(own) => ids.iter().filter(|id| **id == own).cloned().collect(),
            DirectoryReader::Nothing => Vec::new(),
        };
        Ok(self.store.users_by_ids(&ids).await?.into_iter().map(|u| (u.id.to_string(), u)).collect())
    }

    /// The groups a user is a direct member of.
    pub async fn user_groups(&self, actor: &Actor, user_id: &str) -> ServiceResult<Vec<Group>> {
        if !self.reads_directory(actor).await? {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = self
            .store
            .memberships_of(user_id)
            .await?
            .into_iter()
            .filter(|m| m.relation == GroupRelation::Member)
            .map(|m| m.group_id)
            .collect();
        Ok(self.store.groups_by_ids(&ids).await?)
    }

    /// One page of groups.
    pub async fn groups(
        &self,
        actor: &Actor,
        filter: &GroupFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<Group>> {
        self.read_directory(actor, nothing(), self.store.groups(filter, page)).await
    }

    /// A group.
    pub async fn group(&self, actor: &Actor, id: &str) -> ServiceResult<Option<Group>> {
        self.read_directory(actor, None, self.store.group(id)).await
    }

    /// The groups of `ids`, by id.
    pub async fn groups_by_ids(
        &self,
        actor: &Actor,
        ids: &[String],
    ) -> ServiceResult<HashMap<String, Group>> {
        if !self.reads_directory(actor).await? {
            return Ok(HashMap::new());
        }
        Ok(self.store.groups_by_ids(ids).await?.into_iter().map(|g| (g.id.clone(), g)).collect())
    }

    /// The direct members (or owners) of a group, or of a directory role: their ids.
    pub async fn group_principals(
        &self,
        actor: &Actor,
        group_id: &str,
        relation: GroupRelation,
    ) -> ServiceResult<Vec<String>> {
        if !self.reads_directory(actor).await? {
            return Ok(Vec::new());
        }
        Ok(self.store.group_members(group_id, relation).await?.into_iter().map(|m| m.principal_id).collect())
    }

    /// One page of applications.
    pub async fn applications(
        &self,
        actor: &Actor,
        search: Option<&str>,
        page: &PageRequest,
    ) -> ServiceResult<Page<Application>> {
        self.read_directory(actor, nothing(), self.store.applications(search, page)).await
    }

    pub async fn application(&self, actor: &Actor, id: &str) -> ServiceResult<Option<Application>> {
        self.read_directory(actor, None, self.store.application(id)).await
    }

    /// One page of SharePoint sites.
    pub async fn sites(
        &self,
        actor: &Actor,
        search: Option<&str>,
        page: &PageRequest,
    ) -> ServiceResult<Page<Site>> {
        self.read_directory(actor, nothing(), self.store.sites(search, page)).await
    }

    pub async fn site(&self, actor: &Actor, id: &str) -> ServiceResult<Option<Site>> {
        self.read_directory(actor, None, self.store.site(id)).await
    }

    /// One page of directory roles.
    pub async fn directory_roles(
        &self,
        actor: &Actor,
        search: Option<&str>,
        page: &PageRequest,
    ) -> ServiceResult<Page<DirectoryRole>> {
        self.read_directory(actor, nothing(), self.store.directory_roles(search, page)).await
    }

    pub async fn directory_role(&self, actor: &Actor, id: &str) -> ServiceResult<Option<DirectoryRole>> {
        self.read_directory(actor, None, self.store.directory_role(id)).await
    }

    /// What `read` answers, when the caller reads the whole directory; else `nothing` (what an
    /// empty directory answers).
    async fn read_directory<T>(
        &self,
        actor: &Actor,
        nothing: T,
        read: impl std::future::Future<Output = crate::store::StoreResult<T>>,
    ) -> ServiceResult<T> {
        if !self.reads_directory(actor).await? {
            return Ok(nothing);
        }
        Ok(read.await?)
    }

    /// Whether the caller reads the whole directory (members and administrators).
    async fn reads_directory(&self, actor: &Actor) -> ServiceResult<bool> {
        Ok(matches!(self.directory_reader(actor).await?, DirectoryReader::Everything))
    }

    /// How many users a checked rule selects in the directory now, and the first `first` of them
    /// by object id (a guest sees none).
    pub async fn membership_rule_matches(
        &self,
        actor: &Actor,
        rule: &em_engine::rule::Rule,
        first: usize,
    ) -> ServiceResult<(usize, Vec<User>)> {
        if !self.reads_directory(actor).await? {
            return Ok((0, Vec::new()));
        }
        let users = self.store.all_users().await?;
        let members = self.store.all_group_members().await?;
        let index = em_engine::rule::DirectoryIndex::build(&users, members);
        let compiled = em_engine::rule::CompiledRule::compile(rule, &index);
        let mut ids = compiled.matching_ids(&index, self.now());
        ids.sort_unstable();
        let count = ids.len();
        let wanted: std::collections::HashSet<&str> = ids.into_iter().take(first).collect();
        let mut matches: Vec<User> =
            users.iter().filter(|u| wanted.contains(u.id.as_str())).cloned().collect();
        matches.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((count, matches))
    }

    /// The database stopped answering: what waits for it fails now rather than forever.
    pub fn database_lost(&self) {
        self.store.connection_lost();
    }

    /// The database answers again.
    pub fn database_back(&self) {
        self.store.connection_restored();
    }

    /// Whether the database answers (`/readyz`).
    pub async fn health(&self) -> ServiceResult<()> {
        Ok(self.store.health().await?)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use em_engine::delegation::{EmRole, NewRoleAssignment, UnifiedRoleAssignment};
    use em_engine::event::EventKind;

    use super::*;

    fn event(kind: EventKind, actor: &Actor, catalog: Option<&str>) -> Event {
        let mut event = Event::new("e".into(), kind, actor, DateTime::<Utc>::UNIX_EPOCH, "Thing", "t");
        event.catalog_id = catalog.map(Into::into);
        event
    }

    fn holding(role: EmRole, catalog: &str) -> Delegations {
        let assignment = UnifiedRoleAssignment::create(
            "r".into(),
            NewRoleAssignment {
                principal_id: "ada".into(),
                role_definition_id: role.definition().id.into(),
                app_scope_id: format!("/AccessPackageCatalog/{catalog}"),
            },
            DateTime::<Utc>::UNIX_EPOCH,
        )
        .unwrap();
        Delegations::of(false, [&assignment])
    }

    #[test]
    fn users_see_what_they_did_what_is_about_them_and_what_is_addressed_to_them() {
        let ada = Actor::User { id: "ada".into() };
        let bob = Actor::User { id: "bob".into() };
        let nothing = Delegations::default();
        assert!(Services::sees_event(&nothing, &ada, &event(EventKind::CatalogCreated, &ada, Some("c"))));
        let mut other = event(EventKind::RequestCreated, &bob, Some("c"));
        assert!(!Services::sees_event(&nothing, &ada, &other));
        assert!(Services::sees_event(&Delegations::administrator(), &ada, &other));
        other.target_id = Some("ada".into());
        assert!(Services::sees_event(&nothing, &ada, &other));
        other.target_id = None;
        other.audience = vec!["carol".into(), "ada".into()];
        assert!(Services::sees_event(&nothing, &ada, &other));
    }

    /// Someone signed in from a partner tenant, with no directory object.
    fn outsider() -> Actor {
        Actor::External {
            subject: Box::new(em_engine::ExternalSubject {
                issuer: "https://login.microsoftonline.com/t/v2.0".into(),
                object_id: "o".into(),
                tenant_id: Some("t".into()),
                email: "ann@fabrikam.com".into(),
                display_name: None,
                connected_organization_id: None,
            }),
        }
    }

    #[test]
    fn someone_outside_the_directory_sees_no_event() {
        let outsider = outsider();
        let nothing = Delegations::default();
        assert!(!Services::sees_event(
            &nothing,
            &outsider,
            &event(EventKind::CatalogCreated, &outsider, Some("c"))
        ));
        assert!(!Services::sees_event(&nothing, &outsider, &event(EventKind::UserCreated, &outsider, None)));
    }

    /// An outsider holds no right and reads nothing of the directory, the catalogs or the roles.
    #[tokio::test]
    async fn someone_outside_the_directory_holds_and_reads_nothing() {
        use crate::clock::SystemClock;
        use crate::store::{Store, StoreConfig};
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let services = Services::new(store, std::sync::Arc::new(SystemClock));
        services.bootstrap().await.unwrap();
        let directory =
            r#"{"users": [{"id": "u1", "displayName": "Ann", "userPrincipalName": "ann@contoso.com"}]}"#;
        services.import_directory(&Actor::LocalOperator, directory).await.unwrap();
        let outsider = outsider();
        let delegations = services.delegations(&outsider).await.unwrap();
        assert_eq!(*delegations, Delegations::default());
        let page = PageRequest { after: None, first: 10, count: true };
        assert_eq!(services.users(&outsider, &UserFilter::default(), &page).await.unwrap().total, 0);
        assert_eq!(services.user(&outsider, "u1").await.unwrap(), None);
        assert_eq!(services.remembered_user(&outsider, "u1"), None);
        assert!(services.users_by_ids(&outsider, &["u1".to_owned()]).await.unwrap().is_empty());
        assert_eq!(services.catalogs(&outsider, CatalogFilter::default(), &page).await.unwrap().total, 0);
        let roles = crate::store::roles::RoleAssignmentFilter::default();
        assert_eq!(services.role_assignments(&outsider, roles, &page).await.unwrap().total, 0);
        assert_eq!(services.audit_events(&outsider, &EventFilter::default(), &page).await.unwrap().total, 0);
        // The operator reads what is there.
        assert_eq!(
            services.users(&Actor::LocalOperator, &UserFilter::default(), &page).await.unwrap().total,
            1
        );
    }

    #[test]
    fn delegates_see_their_catalogs_events_by_area() {
        let ada = Actor::User { id: "ada".into() };
        let bob = Actor::User { id: "bob".into() };
        let reader = holding(EmRole::CatalogReader, "c");
        let assigner = holding(EmRole::AccessPackageAssignmentManager, "c");
        let package = event(EventKind::AccessPackageCreated, &bob, Some("c"));
        let request = event(EventKind::RequestCreated, &bob, Some("c"));
        let elsewhere = event(EventKind::AccessPackageCreated, &bob, Some("d"));
        let directory = event(EventKind::UserUpdated, &bob, None);
        assert!(Services::sees_event(&reader, &ada, &package));
        assert!(!Services::sees_event(&reader, &ada, &request), "a reader does not read requests");
        assert!(Services::sees_event(&assigner, &ada, &request));
        assert!(!Services::sees_event(&assigner, &ada, &elsewhere));
        assert!(!Services::sees_event(&assigner, &ada, &directory));
    }
}
