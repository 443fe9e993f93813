//! Delegated administration: entitlement management's role definitions and role assignments
//! (Graph's `/roleManagement/entitlementManagement/roleDefinitions` and `roleAssignments`).
//!
//! Tenant-wide assignments (Catalog creator) are made and removed by administrators; a catalog's
//! assignments by administrators and the catalog's owners. A principal is a user or a
//! security-enabled group; a role held through a group follows the group's membership.

use em_engine::delegation::{
    AppScope, EmRole, NewRoleAssignment, ROLE_DEFINITIONS, Right, RoleDefinition, UnifiedRoleAssignment,
};
use em_engine::id::CatalogId;
use em_engine::{Actor, DomainError};

use em_engine::event::EventKind;

use super::{ServiceResult, Services, found};
use crate::store::roles::{RoleAssignmentFilter, VisibleRoleAssignments};
use crate::store::{Page, PageRequest};

impl Services {
    /// The built-in role definitions.
    #[must_use]
    pub fn role_definitions(&self) -> &'static [RoleDefinition] {
        &ROLE_DEFINITIONS
    }

    /// Assigns a role to a user or a group at the tenant or in a catalog.
    pub async fn create_role_assignment(
        &self,
        actor: &Actor,
        input: NewRoleAssignment,
    ) -> ServiceResult<UnifiedRoleAssignment> {
        let delegations = self.require_anywhere(actor, Right::ManageRoleAssignments).await?;
        let assignment = UnifiedRoleAssignment::create(self.new_id(), input, self.now())?;
        match &assignment.catalog_id() {
            None => delegations.require_anywhere(Right::AdministerTenant)?,
            Some(catalog_id) => {
                let missing = || DomainError::not_found("catalog", catalog_id).at("appScopeId");
                self.require_in(&delegations, Right::ManageRoleAssignments, catalog_id, missing).await?;
                found(self.store.catalog(catalog_id).await?, "catalog", "appScopeId", catalog_id)?;
            }
        }
        self.check_principal(&assignment.principal_id).await?;
        let held = self.roles_held_by(std::slice::from_ref(&assignment.principal_id)).await?;
        if held.iter().any(|h| h.same_grant(&assignment)) {
            return Err(DomainError::conflict(format!(
                "`{}` already holds {} at `{}`",
                assignment.principal_id,
                assignment.role().map_or("the role", EmRole::display_name),
                assignment.app_scope_id
            ))
            .into());
        }
        let event = self.role_event(actor, EventKind::RoleAssignmentCreated, &assignment);
        self.store.logged(vec![event]).create_role_assignment(&assignment).await?;
        Ok(assignment)
    }

    /// Removes a role assignment. A catalog's last owner is removed only by an administrator.
    pub async fn delete_role_assignment(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<UnifiedRoleAssignment> {
        let delegations = self.require_anywhere(actor, Right::ManageRoleAssignments).await?;
        let missing = || DomainError::not_found("role assignment", id).at("id");
        let assignment = self.store.role_assignment(id).await?.ok_or_else(missing)?;
        match &assignment.catalog_id() {
            None if !delegations.administrator => return Err(missing().into()),
            None => {}
            Some(catalog_id) => {
                self.require_in(&delegations, Right::ManageRoleAssignments, catalog_id, missing).await?;
            }
        }
        if let Some(catalog_id) = &assignment.catalog_id() {
            let owners = self.catalog_owners(catalog_id).await?;
            let left = owners.iter().filter(|o| o.id != assignment.id).count();
            assignment.check_removal(left, delegations.administrator)?;
        }
        let event = self.role_event(actor, EventKind::RoleAssignmentDeleted, &assignment);
        self.store.logged(vec![event]).delete_role_assignment(&assignment, delegations.administrator).await?;
        Ok(assignment)
    }

    /// One page of the role assignments the caller may see: administrators all; others those of
    /// the catalogs they see, and their own (held directly or through a group).
    pub async fn role_assignments(
        &self,
        actor: &Actor,
        mut filter: RoleAssignmentFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<UnifiedRoleAssignment>> {
        filter.visible = self.visible_role_assignments(actor).await?;
        Ok(self.store.role_assignments(&filter, page).await?)
    }

    /// A role assignment, if the caller may see it.
    pub async fn role_assignment(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<Option<UnifiedRoleAssignment>> {
        let Some(assignment) = self.store.role_assignment(id).await? else { return Ok(None) };
        let visible = match self.visible_role_assignments(actor).await? {
            None => true,
            Some(v) => {
                v.own_principals.contains(&assignment.principal_id)
                    || assignment.catalog_id().is_some_and(|c| v.catalog_ids.contains(&c))
            }
        };
        Ok(visible.then_some(assignment))
    }

    /// `None` for administrators (everything), else the catalogs and principals whose role
    /// assignments `actor` sees.
    async fn visible_role_assignments(&self, actor: &Actor) -> ServiceResult<Option<VisibleRoleAssignments>> {
        let delegations = self.delegations(actor).await?;
        let id = match actor {
            Actor::User { id } => id,
            Actor::System | Actor::LocalOperator => return Ok(None),
            Actor::External { .. } => return Ok(Some(VisibleRoleAssignments::default())),
        };
        if delegations.administrator {
            return Ok(None);
        }
        let Some(catalog_ids) = delegations.reach(Right::ReadCatalog).catalog_ids() else { return Ok(None) };
        let mut own_principals = vec![id.to_string()];
        own_principals.extend(self.group_ids(id).await?.iter().cloned());
        Ok(Some(VisibleRoleAssignments { catalog_ids, own_principals }))
    }

    /// The owner assignments of a catalog.
    async fn catalog_owners(&self, catalog_id: &CatalogId) -> ServiceResult<Vec<UnifiedRoleAssignment>> {
        let filter = RoleAssignmentFilter {
            role_definition_id: Some(EmRole::CatalogOwner.definition().id.to_owned()),
            app_scope_id: Some(AppScope::Catalog(catalog_id.clone()).id()),
            ..RoleAssignmentFilter::default()
        };
        let page = self
            .store
            .role_assignments(&filter, &PageRequest { after: None, first: 1_000, count: true })
            .await?;
        Ok(page.items.into_iter().map(|(_, a)| a).collect())
    }

    /// A role's principal is a user or a security-enabled group.
    async fn check_principal(&self, id: &str) -> ServiceResult<()> {
        if self.store.user(id).await?.is_some() {
            return Ok(());
        }
        match self.store.group(id).await? {
            Some(group) if group.security_enabled => Ok(()),
            Some(group) => Err(DomainError::invalid(
                "principalId",
                format!(
                    "group `{}` is not security-enabled; roles are held by users and security groups",
                    group.display_name
                ),
            )
            .into()),
            None => Err(DomainError::not_found("user or group", id).at("principalId").into()),
        }
    }

    fn role_event(
        &self,
        actor: &Actor,
        kind: EventKind,
        assignment: &UnifiedRoleAssignment,
    ) -> em_engine::event::Event {
        let mut event = self
            .event(actor, kind, "UnifiedRoleAssignment", &assignment.id)
            .with_data(serde_json::to_value(assignment).unwrap_or_default());
        if let Some(catalog_id) = &assignment.catalog_id() {
            event = event.in_catalog(catalog_id);
        }
        event.target_id = Some(assignment.principal_id.clone());
        event
    }
}
