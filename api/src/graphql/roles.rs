//! Delegated administration in GraphQL, as Graph's `/roleManagement/entitlementManagement` has
//! it: `unifiedRoleDefinition` (the built-in roles, with Graph's ids) and
//! `unifiedRoleAssignment` (a user or group holding a role at `/` or
//! `/AccessPackageCatalog/{id}`).

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use em_engine::delegation::{
    AppScope, NewRoleAssignment, Right, RoleDefinition, ScopeKind, UnifiedRoleAssignment,
};

use super::catalog::{AccessPackageCatalogNode, DeletedPayload};
use super::directory::{DirectoryObject, directory_object};
use super::error::OrGraphql;
use super::node::{catalog_id, global_id, local_id};
use super::page::{self, Conn};
use super::{actor, services};
use crate::service::model::RoleAssignmentFilter;

/// A role definition of entitlement management.
pub struct UnifiedRoleDefinitionNode(&'static RoleDefinition);

/// What a role lets its holders do.
#[derive(SimpleObject)]
#[graphql(name = "UnifiedRolePermission")]
pub struct RolePermissionValue {
    /// The rights (`microsoft.entitlementManagement/accessPackages/create`, ...).
    allowed_resource_actions: Vec<String>,
}

#[Object(name = "UnifiedRoleDefinition")]
impl UnifiedRoleDefinitionNode {
    /// Graph's id of the built-in role.
    async fn id(&self) -> &str {
        self.0.id
    }
    async fn display_name(&self) -> &str {
        self.0.display_name
    }
    async fn description(&self) -> &str {
        self.0.description
    }
    async fn is_built_in(&self) -> bool {
        true
    }
    async fn is_enabled(&self) -> bool {
        true
    }
    /// `tenant` for roles held at `/`, `catalog` for roles held in a catalog.
    async fn scope(&self) -> &str {
        match self.0.scope {
            ScopeKind::Tenant => "tenant",
            ScopeKind::Catalog => "catalog",
        }
    }
    async fn role_permissions(&self) -> Vec<RolePermissionValue> {
        let role = self.0.role;
        let actions = Right::ALL
            .iter()
            .filter(|r| r.granted_by().contains(&role))
            .map(|r| r.name().to_owned())
            .collect();
        vec![RolePermissionValue { allowed_resource_actions: actions }]
    }
}

/// A role held by a user or a group, at the tenant or in a catalog.
pub struct UnifiedRoleAssignmentNode(pub UnifiedRoleAssignment);

#[Object(name = "UnifiedRoleAssignment")]
impl UnifiedRoleAssignmentNode {
    pub async fn id(&self) -> ID {
        global_id("UnifiedRoleAssignment", &self.0.id)
    }
    /// The user or group holding the role.
    async fn principal_id(&self) -> &str {
        &self.0.principal_id
    }
    async fn principal(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DirectoryObject>> {
        directory_object(ctx, &self.0.principal_id).await
    }
    async fn role_definition_id(&self) -> &str {
        &self.0.role_definition_id
    }
    async fn role_definition(&self) -> Option<UnifiedRoleDefinitionNode> {
        self.0.role().map(|r| UnifiedRoleDefinitionNode(r.definition()))
    }
    /// `/` (the tenant) or `/AccessPackageCatalog/{catalogId}`.
    async fn app_scope_id(&self) -> &str {
        &self.0.app_scope_id
    }
    async fn directory_scope_id(&self) -> &str {
        &self.0.directory_scope_id
    }
    /// The catalog of a catalog-scoped role, if the caller sees it.
    async fn catalog(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageCatalogNode>> {
        let Some(id) = self.0.catalog_id() else { return Ok(None) };
        Ok(services(ctx).catalog(&actor(ctx), &id).await.gql()?.map(AccessPackageCatalogNode))
    }
    async fn created_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_date_time
    }
}

/// Graph's `$filter` on role assignments.
#[derive(InputObject, Default)]
#[graphql(name = "UnifiedRoleAssignmentFilter")]
pub struct RoleAssignmentFilterInput {
    principal_id: Option<ID>,
    role_definition_id: Option<String>,
    /// `/` or `/AccessPackageCatalog/{catalogId}`; a catalog's global id is accepted too.
    app_scope_id: Option<String>,
}

/// A scope argument: `/`, `/AccessPackageCatalog/{id}`, or a catalog's (global) id.
fn scope_argument(raw: &str, field: &str) -> async_graphql::Result<String> {
    let raw = raw.trim();
    if raw.starts_with('/') {
        return Ok(AppScope::parse(raw).map_err(|e| e.at(field)).gql()?.id());
    }
    let catalog = catalog_id(raw, field).gql()?;
    Ok(AppScope::Catalog(catalog).id())
}

#[derive(Default)]
pub struct RoleQuery;

#[Object]
impl RoleQuery {
    /// Entitlement management's role definitions (Graph's
    /// `roleManagement/entitlementManagement/roleDefinitions`), with Graph's ids.
    async fn role_definitions(&self, ctx: &Context<'_>) -> Vec<UnifiedRoleDefinitionNode> {
        services(ctx).role_definitions().iter().map(UnifiedRoleDefinitionNode).collect()
    }

    async fn role_definition(&self, ctx: &Context<'_>, id: ID) -> Option<UnifiedRoleDefinitionNode> {
        services(ctx)
            .role_definitions()
            .iter()
            .find(|d| d.id.eq_ignore_ascii_case(id.trim()))
            .map(UnifiedRoleDefinitionNode)
    }

    /// Role assignments, oldest first: administrators see all of them; others those of the
    /// catalogs where they hold a role, and their own.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn role_assignments(
        &self,
        ctx: &Context<'_>,
        filter: Option<RoleAssignmentFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<UnifiedRoleAssignmentNode>> {
        let f = filter.unwrap_or_default();
        let principal_id =
            f.principal_id.map(|p| principal_argument(&p, "filter.principalId")).transpose()?;
        let filter = RoleAssignmentFilter {
            principal_id,
            role_definition_id: f.role_definition_id,
            app_scope_id: f.app_scope_id.map(|s| scope_argument(&s, "filter.appScopeId")).transpose()?,
            visible: None,
        };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let found = services(ctx).role_assignments(&actor(ctx), filter, &request).await.gql()?;
        Ok(page::connection(found, has_previous, UnifiedRoleAssignmentNode))
    }

    async fn role_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<UnifiedRoleAssignmentNode>> {
        let id = local_id(&id, "UnifiedRoleAssignment", "id").gql()?;
        Ok(services(ctx).role_assignment(&actor(ctx), &id).await.gql()?.map(UnifiedRoleAssignmentNode))
    }
}

/// A principal argument: a user's or a group's id, global or bare.
pub(crate) fn principal_argument(raw: &ID, field: &str) -> async_graphql::Result<String> {
    local_id(raw, "User", field).or_else(|_| local_id(raw, "Group", field)).gql()
}

/// Graph's `POST roleManagement/entitlementManagement/roleAssignments`.
#[derive(InputObject)]
pub struct CreateRoleAssignmentInput {
    /// The user or (security) group to hold the role.
    principal_id: ID,
    /// A role definition's id (`ae79f266-94d4-4dab-b730-feca7e132178` is Catalog owner).
    role_definition_id: String,
    /// `/` for Catalog creator, `/AccessPackageCatalog/{catalogId}` for the catalog roles; a
    /// catalog's global id is accepted too.
    app_scope_id: String,
}

#[derive(SimpleObject)]
pub struct RoleAssignmentPayload {
    role_assignment: UnifiedRoleAssignmentNode,
}

#[derive(InputObject)]
pub struct DeleteRoleAssignmentInput {
    id: ID,
}

#[derive(Default)]
pub struct RoleMutation;

#[Object]
impl RoleMutation {
    /// Gives a user or a security group a role: Catalog creator (administrators), or a role in a
    /// catalog (administrators and the catalog's owners).
    async fn create_role_assignment(
        &self,
        ctx: &Context<'_>,
        input: CreateRoleAssignmentInput,
    ) -> async_graphql::Result<RoleAssignmentPayload> {
        let new = NewRoleAssignment {
            principal_id: principal_argument(&input.principal_id, "principalId")?,
            role_definition_id: input.role_definition_id,
            app_scope_id: scope_argument(&input.app_scope_id, "appScopeId")?,
        };
        let assignment = services(ctx).create_role_assignment(&actor(ctx), new).await.gql()?;
        Ok(RoleAssignmentPayload { role_assignment: UnifiedRoleAssignmentNode(assignment) })
    }

    /// Takes a role away. Only an administrator removes a catalog's last owner.
    async fn delete_role_assignment(
        &self,
        ctx: &Context<'_>,
        input: DeleteRoleAssignmentInput,
    ) -> async_graphql::Result<DeletedPayload> {
        let id = local_id(&input.id, "UnifiedRoleAssignment", "id").gql()?;
        services(ctx).delete_role_assignment(&actor(ctx), &id).await.gql()?;
        Ok(DeletedPayload { deleted_id: global_id("UnifiedRoleAssignment", &id) })
    }
}
