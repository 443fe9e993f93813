//! Catalog operations: catalogs, resource requests, access packages, their role scopes and
//! separation-of-duties edges.

use em_engine::access_package::{
    AccessPackage, AccessPackagePatch, AccessPackageResourceRoleScope, NewAccessPackage, RoleScopeSelection,
    check_incompatible_package,
};
use em_engine::catalog::{AccessPackageCatalog, CatalogPatch, NewCatalog};
use em_engine::delegation::{Right, UnifiedRoleAssignment};
use em_engine::directory::GroupRelation;
use em_engine::id::{AccessPackageId, CatalogId};
use em_engine::resource::{AccessPackageResource, OriginSystem, ResourceSource, resource_id};
use em_engine::{Actor, DomainError};

use em_engine::event::EventKind;

use super::{ServiceResult, Services, found};
use crate::store::catalogs::{IncompatibilityKind, ResourceRequestRow};

/// `requestType` of a resource request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceRequestType {
    AdminAdd,
    AdminRemove,
}

/// A resource request as a user writes it: the catalog, and the resource by Graph origin.
#[derive(Debug, Clone)]
pub struct ResourceRequestInput {
    pub catalog_id: CatalogId,
    pub request_type: ResourceRequestType,
    pub origin_id: String,
    pub origin_system: OriginSystem,
}

impl Services {
    pub async fn create_catalog(
        &self,
        actor: &Actor,
        input: NewCatalog,
    ) -> ServiceResult<AccessPackageCatalog> {
        self.create_catalog_with(actor, input, None).await.map(|(catalog, _)| catalog)
    }

    /// Creates a catalog and its first access package in one transaction, as the portal's
    /// "Create new catalog" does while creating a package: for those who may create catalogs.
    pub async fn create_access_package_in_new_catalog(
        &self,
        actor: &Actor,
        catalog: NewCatalog,
        package: NewAccessPackage,
    ) -> ServiceResult<(AccessPackageCatalog, AccessPackage)> {
        match self.create_catalog_with(actor, catalog, Some(package)).await? {
            (catalog, Some(package)) => Ok((catalog, package)),
            (_, None) => Err(super::ServiceError::Internal("the package was not created".into())),
        }
    }

    /// A new catalog, its first owner when the creator is not an administrator, and a first
    /// package when given (its `catalogId` is set here).
    async fn create_catalog_with(
        &self,
        actor: &Actor,
        input: NewCatalog,
        package: Option<NewAccessPackage>,
    ) -> ServiceResult<(AccessPackageCatalog, Option<AccessPackage>)> {
        let delegations = self.require_anywhere(actor, Right::CreateCatalog).await?;
        let now = self.now();
        let catalog = AccessPackageCatalog::create(self.new_id().into(), input, now)?;
        let package = match package {
            Some(new) => {
                let new = NewAccessPackage { catalog_id: catalog.id.clone(), ..new };
                Some(AccessPackage::create(self.new_id().into(), new, now)?)
            }
            None => None,
        };
        let mut events = vec![
            self.event(actor, EventKind::CatalogCreated, "AccessPackageCatalog", &catalog.id)
                .in_catalog(&catalog.id)
                .with_data(json(&catalog)),
        ];
        // A catalog creator becomes the catalog's first owner (administrators hold every right
        // anyway, as the reference has it).
        let owner = match actor {
            Actor::User { id } if !delegations.administrator => {
                Some(UnifiedRoleAssignment::first_owner(self.new_id(), id, &catalog.id, now))
            }
            _ => None,
        };
        if let Some(owner) = &owner {
            let mut event = self
                .event(actor, EventKind::RoleAssignmentCreated, "UnifiedRoleAssignment", &owner.id)
                .in_catalog(&catalog.id)
                .with_data(json(owner));
            event.target_id = Some(owner.principal_id.clone());
            events.push(event);
        }
        if let Some(package) = &package {
            events.push(
                self.package_event(actor, EventKind::AccessPackageCreated, package).with_data(json(package)),
            );
        }
        self.store
            .logged(events)
            .create_catalog(&catalog, owner.as_ref(), package.as_ref())
            .await
            .map_err(|e| name_taken(e, &catalog.display_name))?;
        Ok((catalog, package))
    }

    pub async fn update_catalog(
        &self,
        actor: &Actor,
        id: &CatalogId,
        patch: CatalogPatch,
    ) -> ServiceResult<AccessPackageCatalog> {
        let current = self.catalog_for(actor, Right::UpdateCatalog, id, "id").await?;
        if current.catalog_type != em_engine::catalog::CatalogType::UserManaged
            && patch.display_name.is_some()
        {
            return Err(DomainError::invalid(
                "displayName",
                "the built-in General catalog cannot be renamed",
            )
            .into());
        }
        let next = current.update(patch, self.now())?;
        let event = self
            .event(actor, EventKind::CatalogUpdated, "AccessPackageCatalog", &next.id)
            .in_catalog(&next.id)
            .with_data(json(&next));
        self.store
            .logged(vec![event])
            .update_catalog(&next)
            .await
            .map_err(|e| name_taken(e, &next.display_name))?;
        Ok(next)
    }

    pub async fn delete_catalog(&self, actor: &Actor, id: &CatalogId) -> ServiceResult<()> {
        let catalog = self.catalog_for(actor, Right::DeleteCatalog, id, "id").await?;
        catalog.check_deletable(0)?;
        let event = self
            .event(actor, EventKind::CatalogDeleted, "AccessPackageCatalog", id)
            .in_catalog(id)
            .with_data(json(&catalog));
        self.store.logged(vec![event]).delete_catalog(id).await?;
        Ok(())
    }

    /// Adds a resource to a catalog (`adminAdd`) or removes it (`adminRemove`), as Graph's
    /// `resourceRequests` do. Returns the delivered request and the resource.
    pub async fn request_resource(
        &self,
        actor: &Actor,
        input: ResourceRequestInput,
    ) -> ServiceResult<(ResourceRequestRow, AccessPackageResource)> {
        let catalog = self.catalog_for(actor, Right::ManageResources, &input.catalog_id, "catalogId").await?;
        let now = self.now();
        let origin = input.origin_id.trim();
        if origin.is_empty() {
            return Err(DomainError::invalid("resource.originId", "`originId` must not be empty").into());
        }
        let mut request = ResourceRequestRow {
            id: self.new_id(),
            catalog_id: catalog.id.clone(),
            resource_id: String::new(),
            request_type: String::new(),
            state: "delivered".to_owned(),
            created_date_time: now.to_rfc3339(),
            actor: actor.label(),
            resource: serde_json::Value::Null,
        };
        match input.request_type {
            ResourceRequestType::AdminAdd => {
                let resource = self.derive_resource(&catalog.id, input.origin_system, origin, now).await?;
                self.check_resource_owner(actor, &resource).await?;
                request.request_type = "adminAdd".to_owned();
                request.resource_id = resource.id.clone();
                request.resource = serde_json::to_value(&resource).unwrap_or_default();
                let event = self
                    .event(actor, EventKind::CatalogResourceAdded, "AccessPackageResource", &resource.id)
                    .in_catalog(&catalog.id)
                    .with_data(json(&resource));
                self.store.logged(vec![event]).add_resource(&resource, &request).await?;
                Ok((request, resource))
            }
            ResourceRequestType::AdminRemove => {
                let id = self.resolve_resource_id(&catalog.id, input.origin_system, origin).await?;
                let resource = found(
                    self.store.resource(&id).await?,
                    "resource in the catalog",
                    "resource.originId",
                    origin,
                )?;
                request.request_type = "adminRemove".to_owned();
                request.resource_id = resource.id.clone();
                request.resource = serde_json::to_value(&resource).unwrap_or_default();
                let event = self
                    .event(actor, EventKind::CatalogResourceRemoved, "AccessPackageResource", &resource.id)
                    .in_catalog(&catalog.id)
                    .with_data(json(&resource));
                self.store.logged(vec![event]).remove_resource(&resource.id, &request).await?;
                Ok((request, resource))
            }
        }
    }

    async fn derive_resource(
        &self,
        catalog_id: &CatalogId,
        system: OriginSystem,
        origin: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ServiceResult<AccessPackageResource> {
        let field = "resource.originId";
        let resource = match system {
            OriginSystem::AadGroup => {
                let g = found(self.store.group(origin).await?, "group", field, origin)?;
                AccessPackageResource::derive(catalog_id, ResourceSource::Group(&g), now)?
            }
            OriginSystem::AadApplication => {
                let a = found(self.store.application(origin).await?, "application", field, origin)?;
                AccessPackageResource::derive(catalog_id, ResourceSource::Application(&a), now)?
            }
            OriginSystem::SharePointOnline => {
                let s = found(self.store.site_by_id_or_url(origin).await?, "site", field, origin)?;
                AccessPackageResource::derive(catalog_id, ResourceSource::Site(&s), now)?
            }
            OriginSystem::DirectoryRole => {
                let r = found(self.store.directory_role(origin).await?, "directory role", field, origin)?;
                AccessPackageResource::derive(catalog_id, ResourceSource::DirectoryRole(&r), now)?
            }
        };
        Ok(resource)
    }

    /// The resource id for an origin: sites may be named by id or URL, the resource keys on URL.
    async fn resolve_resource_id(
        &self,
        catalog_id: &CatalogId,
        system: OriginSystem,
        origin: &str,
    ) -> ServiceResult<String> {
        let origin = match system {
            OriginSystem::SharePointOnline => {
                self.store.site_by_id_or_url(origin).await?.map_or_else(|| origin.to_owned(), |s| s.web_url)
            }
            _ => origin.to_owned(),
        };
        Ok(resource_id(catalog_id, system, &origin))
    }

    pub async fn create_access_package(
        &self,
        actor: &Actor,
        input: NewAccessPackage,
    ) -> ServiceResult<AccessPackage> {
        self.catalog_for(actor, Right::CreateAccessPackage, &input.catalog_id, "catalogId").await?;
        let package = AccessPackage::create(self.new_id().into(), input, self.now())?;
        let event =
            self.package_event(actor, EventKind::AccessPackageCreated, &package).with_data(json(&package));
        self.store.logged(vec![event]).create_access_package(&package).await?;
        Ok(package)
    }

    pub async fn update_access_package(
        &self,
        actor: &Actor,
        id: &AccessPackageId,
        patch: AccessPackagePatch,
    ) -> ServiceResult<AccessPackage> {
        let current = self.package_for(actor, Right::UpdateAccessPackage, id, "id").await?;
        let next = current.update(patch, self.now())?;
        let event = self.package_event(actor, EventKind::AccessPackageUpdated, &next).with_data(json(&next));
        self.store.logged(vec![event]).update_access_package(&next).await?;
        Ok(next)
    }

    pub async fn delete_access_package(&self, actor: &Actor, id: &AccessPackageId) -> ServiceResult<()> {
        let package = self.package_for(actor, Right::DeleteAccessPackage, id, "id").await?;
        let event =
            self.package_event(actor, EventKind::AccessPackageDeleted, &package).with_data(json(&package));
        self.store.logged(vec![event]).delete_access_package(id).await?;
        Ok(())
    }

    /// Adds a resource role (at a scope) to a package; the resource must be in the package's
    /// catalog. Returns the package, the role scope and the resource.
    pub async fn add_role_scope(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
        resource_id: &str,
        selection: RoleScopeSelection,
    ) -> ServiceResult<(AccessPackage, AccessPackageResourceRoleScope, AccessPackageResource)> {
        let package =
            self.package_for(actor, Right::UpdateAccessPackage, package_id, "accessPackageId").await?;
        let resource = found(self.store.resource(resource_id).await?, "resource", "resourceId", resource_id)?;
        let role_scope = AccessPackageResourceRoleScope::bind(&package, &resource, &selection, self.now())?;
        let event = self
            .package_event(actor, EventKind::ResourceRoleScopeAdded, &package)
            .with_data(json(&role_scope));
        self.store.logged(vec![event]).add_role_scope(&role_scope).await?;
        // The package's current assignees get the new role.
        self.reconcile_package_grants(actor, &package.id).await?;
        Ok((package, role_scope, resource))
    }

    pub async fn remove_role_scope(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
        role_scope_id: &str,
    ) -> ServiceResult<()> {
        let package =
            self.package_for(actor, Right::UpdateAccessPackage, package_id, "accessPackageId").await?;
        let event = self
            .package_event(actor, EventKind::ResourceRoleScopeRemoved, &package)
            .with_data(serde_json::json!({ "resourceRoleScopeId": role_scope_id }));
        self.store.logged(vec![event]).remove_role_scope(package_id, role_scope_id).await?;
        // The package's current assignees lose the role, unless another assignment grants it.
        self.reconcile_package_grants(actor, &package.id).await?;
        Ok(())
    }

    pub async fn add_incompatible_access_package(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
        other_id: &AccessPackageId,
    ) -> ServiceResult<()> {
        let package =
            self.package_for(actor, Right::UpdateAccessPackage, package_id, "accessPackageId").await?;
        let other =
            self.package_for(actor, Right::ReadCatalog, other_id, "incompatibleAccessPackageId").await?;
        check_incompatible_package(&package, &other)?;
        let now = self.now().to_rfc3339();
        let event = self
            .package_event(actor, EventKind::IncompatibleAccessPackageAdded, &package)
            .with_data(serde_json::json!({ "incompatibleAccessPackageId": other_id }));
        self.store
            .logged(vec![event])
            .add_incompatibility(package_id, IncompatibilityKind::AccessPackage, other_id, &now)
            .await?;
        Ok(())
    }

    pub async fn add_incompatible_group(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
        group_id: &str,
    ) -> ServiceResult<()> {
        let package =
            self.package_for(actor, Right::UpdateAccessPackage, package_id, "accessPackageId").await?;
        found(self.store.group(group_id).await?, "group", "groupId", group_id)?;
        let now = self.now().to_rfc3339();
        let event = self
            .package_event(actor, EventKind::IncompatibleGroupAdded, &package)
            .with_data(serde_json::json!({ "groupId": group_id }));
        self.store
            .logged(vec![event])
            .add_incompatibility(package_id, IncompatibilityKind::Group, group_id, &now)
            .await?;
        Ok(())
    }

    pub async fn remove_incompatibility(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
        kind: IncompatibilityKind,
        target_id: &str,
    ) -> ServiceResult<()> {
        let package =
            self.package_for(actor, Right::UpdateAccessPackage, package_id, "accessPackageId").await?;
        let event = self
            .package_event(actor, EventKind::IncompatibilityRemoved, &package)
            .with_data(serde_json::json!({ "kind": kind.as_str(), "targetId": target_id }));
        self.store.logged(vec![event]).remove_incompatibility(package_id, kind, target_id).await?;
        Ok(())
    }
}

impl Services {
    /// A catalog owner who is not an administrator adds only resources they manage, as in Entra:
    /// groups they own, applications they own, sites they administer. Directory roles are
    /// added by administrators.
    async fn check_resource_owner(
        &self,
        actor: &Actor,
        resource: &AccessPackageResource,
    ) -> ServiceResult<()> {
        let id = match actor {
            Actor::User { id } => id,
            Actor::System | Actor::LocalOperator => return Ok(()),
            Actor::External { .. } => {
                return Err(DomainError::forbidden(
                    "a user who is not in the directory owns no resource here",
                )
                .into());
            }
        };
        if self.delegations(actor).await?.administrator {
            return Ok(());
        }
        let origin = &resource.origin_id;
        let owned = match resource.origin_system {
            OriginSystem::AadGroup => self
                .store
                .group_members(origin, GroupRelation::Owner)
                .await?
                .iter()
                .any(|m| m.principal_id == *id),
            OriginSystem::AadApplication => {
                self.store.application(origin).await?.is_some_and(|a| a.is_owned_by(id))
            }
            OriginSystem::SharePointOnline => {
                self.store.site_by_id_or_url(origin).await?.is_some_and(|s| s.is_owned_by(id))
            }
            OriginSystem::DirectoryRole => false,
        };
        if owned {
            return Ok(());
        }
        Err(DomainError::forbidden(format!(
            "you may add only resources you manage to a catalog: `{}` is {}; an administrator can add it",
            resource.display_name,
            match resource.origin_system {
                OriginSystem::AadGroup => "a group you do not own",
                OriginSystem::AadApplication => "an application you do not own",
                OriginSystem::SharePointOnline => "a SharePoint site you do not administer",
                OriginSystem::DirectoryRole => "a directory role",
            }
        ))
        .at("resource.originId")
        .into())
    }

    fn package_event(
        &self,
        actor: &Actor,
        kind: EventKind,
        package: &AccessPackage,
    ) -> em_engine::event::Event {
        self.event(actor, kind, "AccessPackage", &package.id)
            .in_catalog(&package.catalog_id)
            .for_package(&package.id)
    }
}

/// An object as event data.
fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// A unique-index refusal on a catalog names the display name that is taken.
fn name_taken(e: crate::store::StoreError, name: &str) -> super::ServiceError {
    match e {
        crate::store::StoreError::Domain(d)
            if d.code == em_engine::ErrorCode::Conflict && d.field.is_none() =>
        {
            DomainError::conflict(format!("a catalog named `{name}` already exists")).at("displayName").into()
        }
        other => other.into(),
    }
}
