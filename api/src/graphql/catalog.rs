//! Catalogs, catalog resources (with their roles and scopes), resource requests and access
//! packages in GraphQL, named as Microsoft Graph names them.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use em_engine::DomainError;
use em_engine::access_package::{
    AccessPackage, AccessPackagePatch, AccessPackageResourceRoleScope, NewAccessPackage, RoleScopeSelection,
};
use em_engine::catalog::{AccessPackageCatalog, CatalogPatch, CatalogState, CatalogType, NewCatalog};
use em_engine::id::CatalogId;
use em_engine::resource::{
    AccessPackageResource, AccessPackageResourceRole, AccessPackageResourceScope, OriginSystem, RoleType,
};

use super::directory::GroupNode;
use super::error::OrGraphql;
use super::node::{catalog_id, global_id, local_id, optional, package_id};
use super::page::{self, Conn};
use super::{actor, services};
use crate::service::catalogs::{ResourceRequestInput, ResourceRequestType};
use crate::service::model::{AccessPackageFilter, CatalogFilter, IncompatibilityKind, ResourceRequestRow};

/// `accessPackageCatalogType`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessPackageCatalogType", rename_items = "camelCase")]
pub enum CatalogTypeValue {
    UserManaged,
    ServiceDefault,
    ServiceManaged,
}

/// `accessPackageCatalogState`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessPackageCatalogState", rename_items = "camelCase")]
pub enum CatalogStateValue {
    Published,
    Unpublished,
}

impl From<CatalogType> for CatalogTypeValue {
    fn from(t: CatalogType) -> Self {
        match t {
            CatalogType::UserManaged => Self::UserManaged,
            CatalogType::ServiceDefault => Self::ServiceDefault,
            CatalogType::ServiceManaged => Self::ServiceManaged,
        }
    }
}

impl From<CatalogTypeValue> for CatalogType {
    fn from(t: CatalogTypeValue) -> Self {
        match t {
            CatalogTypeValue::UserManaged => Self::UserManaged,
            CatalogTypeValue::ServiceDefault => Self::ServiceDefault,
            CatalogTypeValue::ServiceManaged => Self::ServiceManaged,
        }
    }
}

impl From<CatalogState> for CatalogStateValue {
    fn from(s: CatalogState) -> Self {
        match s {
            CatalogState::Published => Self::Published,
            CatalogState::Unpublished => Self::Unpublished,
        }
    }
}

impl From<CatalogStateValue> for CatalogState {
    fn from(s: CatalogStateValue) -> Self {
        match s {
            CatalogStateValue::Published => Self::Published,
            CatalogStateValue::Unpublished => Self::Unpublished,
        }
    }
}

fn state_str(s: CatalogStateValue) -> &'static str {
    match s {
        CatalogStateValue::Published => "published",
        CatalogStateValue::Unpublished => "unpublished",
    }
}

/// `originSystem` of a catalog resource.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessPackageResourceOriginSystem", rename_items = "PascalCase")]
pub enum OriginSystemValue {
    AadGroup,
    AadApplication,
    SharePointOnline,
    DirectoryRole,
}

impl From<OriginSystem> for OriginSystemValue {
    fn from(s: OriginSystem) -> Self {
        match s {
            OriginSystem::AadGroup => Self::AadGroup,
            OriginSystem::AadApplication => Self::AadApplication,
            OriginSystem::SharePointOnline => Self::SharePointOnline,
            OriginSystem::DirectoryRole => Self::DirectoryRole,
        }
    }
}

impl From<OriginSystemValue> for OriginSystem {
    fn from(s: OriginSystemValue) -> Self {
        match s {
            OriginSystemValue::AadGroup => Self::AadGroup,
            OriginSystemValue::AadApplication => Self::AadApplication,
            OriginSystemValue::SharePointOnline => Self::SharePointOnline,
            OriginSystemValue::DirectoryRole => Self::DirectoryRole,
        }
    }
}

/// `roleType` of a resource role.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessPackageResourceRoleType", rename_items = "camelCase")]
pub enum RoleTypeValue {
    Active,
    Eligible,
    Application,
    Delegated,
}

impl From<RoleType> for RoleTypeValue {
    fn from(t: RoleType) -> Self {
        match t {
            RoleType::Active => Self::Active,
            RoleType::Eligible => Self::Eligible,
            RoleType::Application => Self::Application,
            RoleType::Delegated => Self::Delegated,
        }
    }
}

/// A catalog: a container of resources and access packages.
pub struct AccessPackageCatalogNode(pub AccessPackageCatalog);

#[Object(name = "AccessPackageCatalog")]
impl AccessPackageCatalogNode {
    pub async fn id(&self) -> ID {
        global_id("AccessPackageCatalog", &self.0.id)
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn catalog_type(&self) -> CatalogTypeValue {
        self.0.catalog_type.into()
    }
    /// `published`: its access packages can be requested.
    async fn state(&self) -> CatalogStateValue {
        self.0.state.into()
    }
    /// Whether users outside the directory (connected organizations) may request its packages.
    async fn is_externally_visible(&self) -> bool {
        self.0.is_externally_visible
    }
    async fn created_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_date_time
    }
    async fn modified_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.modified_date_time
    }
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn access_packages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessPackageNode>> {
        let filter =
            AccessPackageFilter { catalog_id: Some(self.0.id.clone()), ..AccessPackageFilter::default() };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let packages = services(ctx).access_packages(&actor(ctx), filter, &request).await.gql()?;
        Ok(page::connection(packages, has_previous, AccessPackageNode))
    }
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn resources(
        &self,
        ctx: &Context<'_>,
        origin_system: Option<OriginSystemValue>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessPackageResourceNode>> {
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let system = origin_system.map(|s| OriginSystem::from(s).as_str());
        let resources =
            services(ctx).catalog_resources(&actor(ctx), &self.0.id, system, &request).await.gql()?;
        Ok(page::connection(resources, has_previous, AccessPackageResourceNode))
    }
    /// Every role of every resource in the catalog.
    async fn resource_roles(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AccessPackageResourceRoleNode>> {
        let all = page::request_counted(Some(i32::try_from(page::MAX_PAGE).unwrap_or(500)), None).gql()?;
        let resources = services(ctx).catalog_resources(&actor(ctx), &self.0.id, None, &all).await.gql()?;
        Ok(resources
            .items
            .into_iter()
            .flat_map(|(_, r)| {
                let resource = r.clone();
                r.roles
                    .into_iter()
                    .map(move |role| AccessPackageResourceRoleNode { role, resource: resource.clone() })
            })
            .collect())
    }
    /// The resource requests that added and removed resources, newest last.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn resource_requests(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessPackageResourceRequestNode>> {
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let rows = services(ctx).catalog_resource_requests(&actor(ctx), &self.0.id, &request).await.gql()?;
        Ok(page::connection(rows, has_previous, AccessPackageResourceRequestNode))
    }
}

/// A resource in a catalog.
pub struct AccessPackageResourceNode(pub AccessPackageResource);

#[Object(name = "AccessPackageResource")]
impl AccessPackageResourceNode {
    pub async fn id(&self) -> ID {
        global_id("AccessPackageResource", &self.0.id)
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The group id, application id, site URL or directory role id.
    async fn origin_id(&self) -> &str {
        &self.0.origin_id
    }
    async fn origin_system(&self) -> OriginSystemValue {
        self.0.origin_system.into()
    }
    /// `Security Group`, `Microsoft 365 Group`, `Team`, `Application`, `SharePoint Site` or `Directory Role`.
    async fn resource_type(&self) -> &str {
        &self.0.resource_type
    }
    async fn created_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_date_time
    }
    async fn modified_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.modified_date_time
    }
    async fn roles(&self) -> Vec<AccessPackageResourceRoleNode> {
        self.0
            .roles
            .iter()
            .map(|role| AccessPackageResourceRoleNode { role: role.clone(), resource: self.0.clone() })
            .collect()
    }
    async fn scopes(&self) -> Vec<AccessPackageResourceScopeNode> {
        self.0.scopes.iter().cloned().map(AccessPackageResourceScopeNode).collect()
    }
    async fn catalog(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageCatalogNode>> {
        catalog_of(ctx, &self.0.catalog_id).await
    }
}

/// A role a resource defines, which access packages grant.
pub struct AccessPackageResourceRoleNode {
    role: AccessPackageResourceRole,
    resource: AccessPackageResource,
}

#[Object(name = "AccessPackageResourceRole")]
impl AccessPackageResourceRoleNode {
    async fn id(&self) -> &str {
        &self.role.id
    }
    async fn display_name(&self) -> &str {
        &self.role.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.role.description.as_deref()
    }
    /// `Member_<groupId>`, an app role id, a site role number, `Eligible` or `Active`.
    async fn origin_id(&self) -> &str {
        &self.role.origin_id
    }
    async fn origin_system(&self) -> OriginSystemValue {
        self.role.origin_system.into()
    }
    async fn role_type(&self) -> Option<RoleTypeValue> {
        self.role.role_type.map(Into::into)
    }
    async fn resource(&self) -> AccessPackageResourceNode {
        AccessPackageResourceNode(self.resource.clone())
    }
}

/// A scope of a resource.
pub struct AccessPackageResourceScopeNode(AccessPackageResourceScope);

#[Object(name = "AccessPackageResourceScope")]
impl AccessPackageResourceScopeNode {
    async fn id(&self) -> &str {
        &self.0.id
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn is_root_scope(&self) -> bool {
        self.0.is_root_scope
    }
    async fn origin_id(&self) -> &str {
        &self.0.origin_id
    }
    async fn origin_system(&self) -> OriginSystemValue {
        self.0.origin_system.into()
    }
}

/// A request that added a resource to a catalog or removed it.
pub struct AccessPackageResourceRequestNode(pub ResourceRequestRow);

#[Object(name = "AccessPackageResourceRequest")]
impl AccessPackageResourceRequestNode {
    async fn id(&self) -> &str {
        &self.0.id
    }
    /// `adminAdd` or `adminRemove`.
    async fn request_type(&self) -> &str {
        &self.0.request_type
    }
    /// `delivered` once the change is committed.
    async fn state(&self) -> &str {
        &self.0.state
    }
    async fn created_date_time(&self) -> &str {
        &self.0.created_date_time
    }
    /// Who made the request.
    async fn requestor(&self) -> &str {
        &self.0.actor
    }
    async fn catalog(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageCatalogNode>> {
        catalog_of(ctx, &self.0.catalog_id).await
    }
    /// The resource as it was when the request was delivered.
    async fn resource(&self) -> Option<AccessPackageResourceNode> {
        serde_json::from_value(self.0.resource.clone()).ok().map(AccessPackageResourceNode)
    }
}

/// An access package: a bundle of resource roles users are assigned.
pub struct AccessPackageNode(pub AccessPackage);

#[Object(name = "AccessPackage")]
impl AccessPackageNode {
    pub async fn id(&self) -> ID {
        global_id("AccessPackage", &self.0.id)
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Hidden from the list of packages users can request; reachable by its direct link.
    async fn is_hidden(&self) -> bool {
        self.0.is_hidden
    }
    async fn created_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_date_time
    }
    async fn modified_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.modified_date_time
    }
    async fn catalog(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageCatalogNode>> {
        catalog_of(ctx, &self.0.catalog_id).await
    }
    /// How users request the package or are assigned it, ordered by display name.
    async fn assignment_policies(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::policy::AccessPackageAssignmentPolicyNode>> {
        super::policy::policies_of_package(ctx, &self.0).await
    }
    /// The resource roles the package grants.
    async fn resource_role_scopes(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AccessPackageResourceRoleScopeNode>> {
        let scopes = services(ctx).package_role_scopes(&actor(ctx), &self.0).await.gql()?;
        Ok(scopes
            .into_iter()
            .map(|(role_scope, resource)| AccessPackageResourceRoleScopeNode { role_scope, resource })
            .collect())
    }
    /// Packages whose assignees may not be assigned this one (one-way, as in Graph).
    async fn incompatible_access_packages(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AccessPackageNode>> {
        let packages = services(ctx).incompatible_packages(&actor(ctx), &self.0).await.gql()?;
        Ok(packages.into_iter().map(AccessPackageNode).collect())
    }
    /// Groups whose members may not be assigned this package.
    async fn incompatible_groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GroupNode>> {
        let groups = services(ctx).incompatible_groups(&actor(ctx), &self.0).await.gql()?;
        Ok(groups.into_iter().map(GroupNode).collect())
    }
    /// Packages that declare this one incompatible (the reverse edge).
    async fn access_packages_incompatible_with(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AccessPackageNode>> {
        let packages = services(ctx).packages_incompatible_with(&actor(ctx), &self.0).await.gql()?;
        Ok(packages.into_iter().map(AccessPackageNode).collect())
    }
}

/// A resource role, at a scope, granted by an access package.
pub struct AccessPackageResourceRoleScopeNode {
    role_scope: AccessPackageResourceRoleScope,
    resource: AccessPackageResource,
}

#[Object(name = "AccessPackageResourceRoleScope")]
impl AccessPackageResourceRoleScopeNode {
    /// `<roleId>_<scopeId>`, as in Graph.
    async fn id(&self) -> &str {
        &self.role_scope.id
    }
    async fn created_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.role_scope.created_date_time
    }
    async fn role(&self) -> Option<AccessPackageResourceRoleNode> {
        self.resource
            .role(&self.role_scope.role_id)
            .map(|role| AccessPackageResourceRoleNode { role: role.clone(), resource: self.resource.clone() })
    }
    async fn scope(&self) -> Option<AccessPackageResourceScopeNode> {
        self.resource.scope(&self.role_scope.scope_id).cloned().map(AccessPackageResourceScopeNode)
    }
}

/// Filters for `catalogs`.
#[derive(InputObject, Default)]
#[graphql(name = "AccessPackageCatalogFilter")]
pub struct CatalogFilterInput {
    /// Case-insensitive part of the display name.
    search: Option<String>,
    state: Option<CatalogStateValue>,
    catalog_type: Option<CatalogTypeValue>,
}

/// Filters for `accessPackages`.
#[derive(InputObject, Default)]
#[graphql(name = "AccessPackageFilter")]
pub struct AccessPackageFilterInput {
    /// Case-insensitive part of the display name.
    search: Option<String>,
    catalog_id: Option<ID>,
    is_hidden: Option<bool>,
}

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// Catalogs, ordered by display name.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn catalogs(
        &self,
        ctx: &Context<'_>,
        filter: Option<CatalogFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessPackageCatalogNode>> {
        let f = filter.unwrap_or_default();
        let filter = CatalogFilter {
            search: f.search,
            state: f.state.map(|s| state_str(s).to_owned()),
            catalog_type: f.catalog_type.map(|t| {
                serde_json::to_value(CatalogType::from(t))
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
            ids: None,
        };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let catalogs = services(ctx).catalogs(&actor(ctx), filter, &request).await.gql()?;
        Ok(page::connection(catalogs, has_previous, AccessPackageCatalogNode))
    }

    async fn catalog(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AccessPackageCatalogNode>> {
        let id = catalog_id(&id, "id").gql()?;
        Ok(services(ctx).catalog(&actor(ctx), &id).await.gql()?.map(AccessPackageCatalogNode))
    }

    /// Access packages, ordered by display name.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn access_packages(
        &self,
        ctx: &Context<'_>,
        filter: Option<AccessPackageFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessPackageNode>> {
        let f = filter.unwrap_or_default();
        let catalog_id = optional(f.catalog_id, "filter.catalogId", catalog_id)?;
        let filter =
            AccessPackageFilter { search: f.search, catalog_id, is_hidden: f.is_hidden, catalog_ids: None };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let packages = services(ctx).access_packages(&actor(ctx), filter, &request).await.gql()?;
        Ok(page::connection(packages, has_previous, AccessPackageNode))
    }

    async fn access_package(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AccessPackageNode>> {
        let id = package_id(&id, "id").gql()?;
        Ok(services(ctx).access_package(&actor(ctx), &id).await.gql()?.map(AccessPackageNode))
    }

    async fn access_package_resource(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AccessPackageResourceNode>> {
        let id = local_id(&id, "AccessPackageResource", "id").gql()?;
        Ok(services(ctx).resource(&actor(ctx), &id).await.gql()?.map(AccessPackageResourceNode))
    }
}

#[derive(InputObject)]
pub struct CreateCatalogInput {
    /// Unique among catalogs (case-insensitive).
    display_name: String,
    description: Option<String>,
    /// Only `userManaged` catalogs can be created.
    catalog_type: Option<CatalogTypeValue>,
    /// `published` unless given.
    state: Option<CatalogStateValue>,
    /// `true` unless given, as in the Entra portal.
    is_externally_visible: Option<bool>,
}

#[derive(InputObject)]
pub struct UpdateCatalogInput {
    id: ID,
    display_name: Option<String>,
    description: MaybeUndefined<String>,
    state: Option<CatalogStateValue>,
    is_externally_visible: Option<bool>,
}

#[derive(SimpleObject)]
pub struct CatalogPayload {
    catalog: AccessPackageCatalogNode,
}

#[derive(InputObject)]
pub struct DeleteByIdInput {
    pub(crate) id: ID,
}

#[derive(SimpleObject)]
pub struct DeletedPayload {
    pub(crate) deleted_id: ID,
}

/// `requestType` of a resource request.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessPackageResourceRequestType", rename_items = "camelCase")]
pub enum ResourceRequestTypeValue {
    AdminAdd,
    AdminRemove,
}

/// The resource a request names, by Graph origin.
#[derive(InputObject)]
pub struct AccessPackageResourceInput {
    /// The group id, application id, site id or URL, or directory role id.
    origin_id: String,
    origin_system: OriginSystemValue,
}

/// Graph's `resourceRequests` body: add a resource to a catalog or remove it.
#[derive(InputObject)]
pub struct CreateResourceRequestInput {
    catalog_id: ID,
    request_type: ResourceRequestTypeValue,
    resource: AccessPackageResourceInput,
}

#[derive(SimpleObject)]
pub struct ResourceRequestPayload {
    resource_request: AccessPackageResourceRequestNode,
    resource: AccessPackageResourceNode,
}

#[derive(InputObject)]
pub struct CreateAccessPackageInput {
    /// The catalog to create the package in; or give `newCatalog` instead.
    catalog_id: Option<ID>,
    /// A catalog to create with the package, in the same transaction (the portal's "Create new
    /// catalog"): for administrators and catalog creators.
    new_catalog: Option<CreateCatalogInput>,
    display_name: String,
    description: Option<String>,
    is_hidden: Option<bool>,
}

#[derive(InputObject)]
pub struct UpdateAccessPackageInput {
    id: ID,
    display_name: Option<String>,
    description: MaybeUndefined<String>,
    is_hidden: Option<bool>,
}

#[derive(SimpleObject)]
pub struct AccessPackagePayload {
    access_package: AccessPackageNode,
}

/// A resource role (and scope) to add to an access package. Name the role by `roleId` or by its
/// Graph `roleOriginId` (`Member_<groupId>`, an app role id, `4`, `Eligible`); the scope defaults
/// to the resource's root scope.
#[derive(InputObject)]
pub struct AddResourceRoleScopeInput {
    access_package_id: ID,
    resource_id: ID,
    role_id: Option<String>,
    role_origin_id: Option<String>,
    scope_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct ResourceRoleScopePayload {
    access_package: AccessPackageNode,
    resource_role_scope: AccessPackageResourceRoleScopeNode,
}

#[derive(InputObject)]
pub struct RemoveResourceRoleScopeInput {
    access_package_id: ID,
    /// `<roleId>_<scopeId>`.
    resource_role_scope_id: String,
}

#[derive(InputObject)]
pub struct IncompatibleAccessPackageInput {
    access_package_id: ID,
    incompatible_access_package_id: ID,
}

#[derive(InputObject)]
pub struct IncompatibleGroupInput {
    access_package_id: ID,
    group_id: ID,
}

impl CreateCatalogInput {
    fn into_engine(self) -> NewCatalog {
        NewCatalog {
            display_name: self.display_name,
            description: self.description,
            catalog_type: self.catalog_type.map(Into::into),
            state: self.state.map(Into::into),
            is_externally_visible: self.is_externally_visible,
        }
    }
}

#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    async fn create_catalog(
        &self,
        ctx: &Context<'_>,
        input: CreateCatalogInput,
    ) -> async_graphql::Result<CatalogPayload> {
        let catalog = services(ctx).create_catalog(&actor(ctx), input.into_engine()).await.gql()?;
        Ok(CatalogPayload { catalog: AccessPackageCatalogNode(catalog) })
    }

    async fn update_catalog(
        &self,
        ctx: &Context<'_>,
        input: UpdateCatalogInput,
    ) -> async_graphql::Result<CatalogPayload> {
        let id = catalog_id(&input.id, "id").gql()?;
        let patch = CatalogPatch {
            display_name: input.display_name,
            description: maybe(input.description),
            state: input.state.map(Into::into),
            is_externally_visible: input.is_externally_visible,
        };
        let catalog = services(ctx).update_catalog(&actor(ctx), &id, patch).await.gql()?;
        Ok(CatalogPayload { catalog: AccessPackageCatalogNode(catalog) })
    }

    /// Deletes a catalog and its resources; refused while it holds access packages.
    async fn delete_catalog(
        &self,
        ctx: &Context<'_>,
        input: DeleteByIdInput,
    ) -> async_graphql::Result<DeletedPayload> {
        let id = catalog_id(&input.id, "id").gql()?;
        services(ctx).delete_catalog(&actor(ctx), &id).await.gql()?;
        Ok(DeletedPayload { deleted_id: global_id("AccessPackageCatalog", &id) })
    }

    /// Adds a resource to a catalog (`adminAdd`) or removes it (`adminRemove`).
    async fn create_resource_request(
        &self,
        ctx: &Context<'_>,
        input: CreateResourceRequestInput,
    ) -> async_graphql::Result<ResourceRequestPayload> {
        let catalog_id = catalog_id(&input.catalog_id, "catalogId").gql()?;
        let request = ResourceRequestInput {
            catalog_id,
            request_type: match input.request_type {
                ResourceRequestTypeValue::AdminAdd => ResourceRequestType::AdminAdd,
                ResourceRequestTypeValue::AdminRemove => ResourceRequestType::AdminRemove,
            },
            origin_id: input.resource.origin_id,
            origin_system: input.resource.origin_system.into(),
        };
        let (row, resource) = services(ctx).request_resource(&actor(ctx), request).await.gql()?;
        Ok(ResourceRequestPayload {
            resource_request: AccessPackageResourceRequestNode(row),
            resource: AccessPackageResourceNode(resource),
        })
    }

    async fn create_access_package(
        &self,
        ctx: &Context<'_>,
        input: CreateAccessPackageInput,
    ) -> async_graphql::Result<AccessPackagePayload> {
        let mut new = NewAccessPackage {
            catalog_id: CatalogId::default(),
            display_name: input.display_name,
            description: input.description,
            is_hidden: input.is_hidden,
        };
        let package = match (input.catalog_id, input.new_catalog) {
            (Some(id), None) => {
                new.catalog_id = catalog_id(&id, "catalogId").gql()?;
                services(ctx).create_access_package(&actor(ctx), new).await.gql()?
            }
            (None, Some(catalog)) => {
                let catalog = catalog.into_engine();
                let (_, package) = services(ctx)
                    .create_access_package_in_new_catalog(&actor(ctx), catalog, new)
                    .await
                    .gql()?;
                package
            }
            _ => {
                return Err(DomainError::invalid(
                    "catalogId",
                    "give the package's catalog as `catalogId`, or a catalog to create as `newCatalog`: one of the two",
                ))
                .gql();
            }
        };
        Ok(AccessPackagePayload { access_package: AccessPackageNode(package) })
    }

    async fn update_access_package(
        &self,
        ctx: &Context<'_>,
        input: UpdateAccessPackageInput,
    ) -> async_graphql::Result<AccessPackagePayload> {
        let id = package_id(&input.id, "id").gql()?;
        let patch = AccessPackagePatch {
            display_name: input.display_name,
            description: maybe(input.description),
            is_hidden: input.is_hidden,
        };
        let package = services(ctx).update_access_package(&actor(ctx), &id, patch).await.gql()?;
        Ok(AccessPackagePayload { access_package: AccessPackageNode(package) })
    }

    /// Deletes an access package with its resource role scopes, assignment policies and
    /// incompatibilities; refused while it has assignments.
    async fn delete_access_package(
        &self,
        ctx: &Context<'_>,
        input: DeleteByIdInput,
    ) -> async_graphql::Result<DeletedPayload> {
        let id = package_id(&input.id, "id").gql()?;
        services(ctx).delete_access_package(&actor(ctx), &id).await.gql()?;
        Ok(DeletedPayload { deleted_id: global_id("AccessPackage", &id) })
    }

    /// Adds a resource role to an access package; the resource must be in the package's catalog.
    async fn add_access_package_resource_role_scope(
        &self,
        ctx: &Context<'_>,
        input: AddResourceRoleScopeInput,
    ) -> async_graphql::Result<ResourceRoleScopePayload> {
        let package_id = package_id(&input.access_package_id, "accessPackageId").gql()?;
        let resource_id = local_id(&input.resource_id, "AccessPackageResource", "resourceId").gql()?;
        let selection = RoleScopeSelection {
            role_id: input.role_id,
            role_origin_id: input.role_origin_id,
            scope_id: input.scope_id,
        };
        let (package, role_scope, resource) =
            services(ctx).add_role_scope(&actor(ctx), &package_id, &resource_id, selection).await.gql()?;
        Ok(ResourceRoleScopePayload {
            access_package: AccessPackageNode(package),
            resource_role_scope: AccessPackageResourceRoleScopeNode { role_scope, resource },
        })
    }

    /// Removes a resource role from an access package.
    async fn remove_access_package_resource_role_scope(
        &self,
        ctx: &Context<'_>,
        input: RemoveResourceRoleScopeInput,
    ) -> async_graphql::Result<AccessPackagePayload> {
        let package_id = package_id(&input.access_package_id, "accessPackageId").gql()?;
        let svc = services(ctx);
        svc.remove_role_scope(&actor(ctx), &package_id, &input.resource_role_scope_id).await.gql()?;
        package_payload(ctx, &package_id).await
    }

    /// Makes assignees of another package ineligible for this one (one-way).
    async fn add_incompatible_access_package(
        &self,
        ctx: &Context<'_>,
        input: IncompatibleAccessPackageInput,
    ) -> async_graphql::Result<AccessPackagePayload> {
        let id = package_id(&input.access_package_id, "accessPackageId").gql()?;
        let other = package_id(&input.incompatible_access_package_id, "incompatibleAccessPackageId").gql()?;
        let package_id = id;
        services(ctx).add_incompatible_access_package(&actor(ctx), &package_id, &other).await.gql()?;
        package_payload(ctx, &package_id).await
    }

    async fn remove_incompatible_access_package(
        &self,
        ctx: &Context<'_>,
        input: IncompatibleAccessPackageInput,
    ) -> async_graphql::Result<AccessPackagePayload> {
        let id = package_id(&input.access_package_id, "accessPackageId").gql()?;
        let other = package_id(&input.incompatible_access_package_id, "incompatibleAccessPackageId").gql()?;
        let package_id = id;
        services(ctx)
            .remove_incompatibility(&actor(ctx), &package_id, IncompatibilityKind::AccessPackage, &other)
            .await
            .gql()?;
        package_payload(ctx, &package_id).await
    }

    /// Makes members of a group ineligible for this package.
    async fn add_incompatible_group(
        &self,
        ctx: &Context<'_>,
        input: IncompatibleGroupInput,
    ) -> async_graphql::Result<AccessPackagePayload> {
        let package_id = package_id(&input.access_package_id, "accessPackageId").gql()?;
        let group_id = local_id(&input.group_id, "Group", "groupId").gql()?;
        services(ctx).add_incompatible_group(&actor(ctx), &package_id, &group_id).await.gql()?;
        package_payload(ctx, &package_id).await
    }

    async fn remove_incompatible_group(
        &self,
        ctx: &Context<'_>,
        input: IncompatibleGroupInput,
    ) -> async_graphql::Result<AccessPackagePayload> {
        let package_id = package_id(&input.access_package_id, "accessPackageId").gql()?;
        let group_id = local_id(&input.group_id, "Group", "groupId").gql()?;
        services(ctx)
            .remove_incompatibility(&actor(ctx), &package_id, IncompatibilityKind::Group, &group_id)
            .await
            .gql()?;
        package_payload(ctx, &package_id).await
    }
}

async fn package_payload(
    ctx: &Context<'_>,
    id: &em_engine::id::AccessPackageId,
) -> async_graphql::Result<AccessPackagePayload> {
    let package = services(ctx).access_package(&actor(ctx), id).await.gql()?;
    let package = package.ok_or_else(|| em_engine::DomainError::not_found("access package", id)).gql()?;
    Ok(AccessPackagePayload { access_package: AccessPackageNode(package) })
}

/// A catalog named by an object the caller sees, if they see the catalog too (one batched read
/// for a page of objects).
pub(crate) async fn catalog_of(
    ctx: &Context<'_>,
    id: &em_engine::id::CatalogId,
) -> async_graphql::Result<Option<AccessPackageCatalogNode>> {
    Ok(super::loaders::load(ctx, super::loaders::CatalogKey(id.clone())).await?.map(AccessPackageCatalogNode))
}

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
