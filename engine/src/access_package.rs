//! Access packages: bundles of resource roles that users are assigned (`accessPackage` in Graph),
//! and the separation-of-duties edges between packages and groups.

use crate::id::{AccessPackageId, CatalogId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::resource::{AccessPackageResource, role_scope_id};
use crate::text;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackage {
    pub id: AccessPackageId,
    pub catalog_id: CatalogId,
    pub display_name: String,
    pub description: Option<String>,
    pub is_hidden: bool,
    pub created_date_time: DateTime<Utc>,
    pub modified_date_time: DateTime<Utc>,
}

/// What an administrator gives to create an access package.
#[derive(Debug, Clone, Default)]
pub struct NewAccessPackage {
    pub catalog_id: CatalogId,
    pub display_name: String,
    pub description: Option<String>,
    pub is_hidden: Option<bool>,
}

/// A partial update: `None` leaves a property as it is.
#[derive(Debug, Clone, Default)]
pub struct AccessPackagePatch {
    pub display_name: Option<String>,
    pub description: Option<Option<String>>,
    pub is_hidden: Option<bool>,
}

impl AccessPackage {
    pub fn create(
        id: AccessPackageId,
        input: NewAccessPackage,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            id,
            catalog_id: input.catalog_id,
            display_name: text::display_name("displayName", &input.display_name)?,
            description: text::description("description", input.description.as_deref())?,
            is_hidden: input.is_hidden.unwrap_or(false),
            created_date_time: now,
            modified_date_time: now,
        })
    }

    pub fn update(&self, patch: AccessPackagePatch, now: DateTime<Utc>) -> Result<Self, DomainError> {
        let mut next = self.clone();
        if let Some(name) = patch.display_name {
            next.display_name = text::display_name("displayName", &name)?;
        }
        if let Some(description) = patch.description {
            next.description = text::description("description", description.as_deref())?;
        }
        if let Some(hidden) = patch.is_hidden {
            next.is_hidden = hidden;
        }
        next.modified_date_time = now;
        Ok(next)
    }
}

/// A resource role granted, at a scope, by an access package (`accessPackageResourceRoleScope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageResourceRoleScope {
    pub id: String,
    pub access_package_id: AccessPackageId,
    pub resource_id: String,
    pub role_id: String,
    pub scope_id: String,
    pub created_date_time: DateTime<Utc>,
}

/// How the role and scope of a new role scope are named: by id, or by Graph origin id.
#[derive(Debug, Clone, Default)]
pub struct RoleScopeSelection {
    pub role_id: Option<String>,
    pub role_origin_id: Option<String>,
    pub scope_id: Option<String>,
}

impl AccessPackageResourceRoleScope {
    /// Binds a role and scope of `resource` into `package`. The resource must be in the package's
    /// catalog; the role defaults to none (it must be named) and the scope to the root scope.
    pub fn bind(
        package: &AccessPackage,
        resource: &AccessPackageResource,
        selection: &RoleScopeSelection,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        if resource.catalog_id != package.catalog_id {
            return Err(DomainError::invalid(
                "resourceId",
                format!(
                    "resource `{}` is not in the access package's catalog; add it to the catalog first",
                    resource.display_name
                ),
            ));
        }
        let role = match (&selection.role_id, &selection.role_origin_id) {
            (Some(id), _) => resource.role(id).ok_or_else(|| {
                DomainError::invalid(
                    "roleId",
                    format!("resource `{}` has no role `{id}`", resource.display_name),
                )
            })?,
            (None, Some(origin)) => resource.role_by_origin(origin).ok_or_else(|| {
                DomainError::invalid(
                    "roleOriginId",
                    format!(
                        "resource `{}` has no role with origin id `{origin}`; its roles are {}",
                        resource.display_name,
                        resource
                            .roles
                            .iter()
                            .map(|r| format!("`{}`", r.origin_id))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?,
            (None, None) => {
                return Err(DomainError::invalid("roleId", "name the role, by `roleId` or `roleOriginId`"));
            }
        };
        let scope = match &selection.scope_id {
            Some(id) => resource.scope(id).ok_or_else(|| {
                DomainError::invalid(
                    "scopeId",
                    format!("resource `{}` has no scope `{id}`", resource.display_name),
                )
            })?,
            None => resource
                .root_scope()
                .ok_or_else(|| DomainError::invalid("scopeId", "the resource has no root scope; name one"))?,
        };
        Ok(Self {
            id: role_scope_id(&role.id, &scope.id),
            access_package_id: package.id.clone(),
            resource_id: resource.id.clone(),
            role_id: role.id.clone(),
            scope_id: scope.id.clone(),
            created_date_time: now,
        })
    }
}

/// Checks an incompatible-package edge `package -> other` (one-way, as in Graph).
pub fn check_incompatible_package(package: &AccessPackage, other: &AccessPackage) -> Result<(), DomainError> {
    if package.id == other.id {
        return Err(DomainError::invalid(
            "incompatibleAccessPackageId",
            "an access package cannot be incompatible with itself",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Group;
    use crate::resource::ResourceSource;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    fn package(catalog: &str) -> AccessPackage {
        AccessPackage::create(
            "p".into(),
            NewAccessPackage { catalog_id: catalog.into(), display_name: "P".into(), ..Default::default() },
            now(),
        )
        .unwrap_or_else(|_| unreachable_package())
    }

    fn unreachable_package() -> AccessPackage {
        AccessPackage {
            id: AccessPackageId::default(),
            catalog_id: CatalogId::default(),
            display_name: String::new(),
            description: None,
            is_hidden: false,
            created_date_time: now(),
            modified_date_time: now(),
        }
    }

    fn group_resource(catalog: &str) -> Option<AccessPackageResource> {
        let g =
            Group { id: "g".into(), display_name: "G".into(), security_enabled: true, ..Group::default() };
        AccessPackageResource::derive(&catalog.into(), ResourceSource::Group(&g), now()).ok()
    }

    #[test]
    fn role_scopes_bind_by_origin_at_the_root_scope() {
        let resource = group_resource("c").unwrap_or_else(|| unreachable!("derive failed"));
        let selection = RoleScopeSelection { role_origin_id: Some("member_g".into()), ..Default::default() };
        let bound = AccessPackageResourceRoleScope::bind(&package("c"), &resource, &selection, now()).ok();
        let expected = role_scope_id(&resource.roles[0].id, &resource.scopes[0].id);
        assert_eq!(bound.map(|b| b.id), Some(expected));
    }

    #[test]
    fn resources_outside_the_catalog_are_refused() {
        let resource = group_resource("other").unwrap_or_else(|| unreachable!("derive failed"));
        let selection = RoleScopeSelection { role_origin_id: Some("Member_g".into()), ..Default::default() };
        let err = AccessPackageResourceRoleScope::bind(&package("c"), &resource, &selection, now()).err();
        assert_eq!(err.and_then(|e| e.field).as_deref(), Some("resourceId"));
    }

    #[test]
    fn a_package_is_not_incompatible_with_itself() {
        assert!(check_incompatible_package(&package("c"), &package("c")).is_err());
    }
}
