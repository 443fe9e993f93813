//! Catalog resources and the roles and scopes derived from them, as Graph derives them.
//!
//! A resource is a directory object added to a catalog (`accessPackageResource`). Its roles are
//! what an access package can grant: a group's Member and Owner, an application's app roles (or
//! Default Access), a site's roles, a directory role's Eligible and Active assignments. Every
//! resource has one root scope. Ids are derived deterministically from the catalog and the origin,
//! so the same resource added twice to one catalog collides.

use crate::id::CatalogId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::directory::{Application, DirectoryRole, Group, Site};
use crate::error::DomainError;

/// `originSystem`: where the resource lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OriginSystem {
    AadGroup,
    AadApplication,
    SharePointOnline,
    DirectoryRole,
}

impl OriginSystem {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AadGroup => "AadGroup",
            Self::AadApplication => "AadApplication",
            Self::SharePointOnline => "SharePointOnline",
            Self::DirectoryRole => "DirectoryRole",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::AadGroup, Self::AadApplication, Self::SharePointOnline, Self::DirectoryRole]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
    }
}

/// `roleType` of a resource role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RoleType {
    Active,
    Eligible,
    Application,
    Delegated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageResourceRole {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub origin_id: String,
    pub origin_system: OriginSystem,
    pub role_type: Option<RoleType>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageResourceScope {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub is_root_scope: bool,
    pub origin_id: String,
    pub origin_system: OriginSystem,
}

/// A resource in a catalog, with its roles and scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageResource {
    pub id: String,
    pub catalog_id: CatalogId,
    pub display_name: String,
    pub description: Option<String>,
    pub origin_id: String,
    pub origin_system: OriginSystem,
    /// The directory object the resource stands for (group, application, site or role id).
    pub object_id: String,
    /// `Security Group`, `Microsoft 365 Group`, `Team`, `Application`, `SharePoint Site`, `Directory Role`.
    pub resource_type: String,
    pub roles: Vec<AccessPackageResourceRole>,
    pub scopes: Vec<AccessPackageResourceScope>,
    pub created_date_time: DateTime<Utc>,
    pub modified_date_time: DateTime<Utc>,
}

/// The directory object a resource request names.
#[derive(Debug, Clone, Copy)]
pub enum ResourceSource<'a> {
    Group(&'a Group),
    Application(&'a Application),
    Site(&'a Site),
    DirectoryRole(&'a DirectoryRole),
}

/// The role id Graph uses for an application's Default Access role.
pub const DEFAULT_ACCESS_ROLE_ID: &str = "00000000-0000-0000-0000-000000000000";

const NAMESPACE: Uuid = Uuid::from_u128(0x5d1e_2c3a_9f4b_4e0a_8c7d_6b5a_4f3e_2d1c);

/// The id of the resource for `origin` in `catalog_id`.
#[must_use]
pub fn resource_id(catalog_id: &CatalogId, origin_system: OriginSystem, origin_id: &str) -> String {
    Uuid::new_v5(&NAMESPACE, format!("{catalog_id}|{}|{origin_id}", origin_system.as_str()).as_bytes())
        .to_string()
}

fn child_id(resource_id: &str, kind: &str, origin_id: &str) -> String {
    Uuid::new_v5(&NAMESPACE, format!("{resource_id}|{kind}|{origin_id}").as_bytes()).to_string()
}

/// The id of a role scope in a package: Graph's `<roleId>_<scopeId>`.
#[must_use]
pub fn role_scope_id(role_id: &str, scope_id: &str) -> String {
    format!("{role_id}_{scope_id}")
}

impl AccessPackageResource {
    /// Derives the catalog resource for a directory object, refusing what Graph refuses: dynamic
    /// groups, groups synced from on-premises and distribution groups.
    pub fn derive(
        catalog_id: &CatalogId,
        source: ResourceSource<'_>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let (origin_system, origin_id, object_id, display_name, description, resource_type, roles) =
            match source {
                ResourceSource::Group(g) => {
                    if g.is_dynamic() {
                        return Err(DomainError::invalid(
                            "resource.originId",
                            format!(
                                "group `{}` has dynamic membership, so its members cannot be assigned; dynamic groups cannot be added to a catalog",
                                g.display_name
                            ),
                        ));
                    }
                    if g.is_on_premises_synced() {
                        return Err(DomainError::invalid(
                            "resource.originId",
                            format!(
                                "group `{}` is synced from on-premises Active Directory and cannot be added to a catalog",
                                g.display_name
                            ),
                        ));
                    }
                    if !g.is_unified() && !g.security_enabled {
                        return Err(DomainError::invalid(
                            "resource.originId",
                            format!(
                                "group `{}` is a distribution group; only security and Microsoft 365 groups can be added",
                                g.display_name
                            ),
                        ));
                    }
                    let kind = if g.is_team() {
                        "Team"
                    } else if g.is_unified() {
                        "Microsoft 365 Group"
                    } else {
                        "Security Group"
                    };
                    let roles = vec![
                        (format!("Member_{}", g.id), "Member".to_owned(), None, None),
                        (format!("Owner_{}", g.id), "Owner".to_owned(), None, None),
                    ];
                    (
                        OriginSystem::AadGroup,
                        g.id.clone(),
                        g.id.clone(),
                        g.display_name.clone(),
                        g.description.clone(),
                        kind,
                        roles,
                    )
                }
                ResourceSource::Application(a) => {
                    let mut roles: Vec<_> = a
                        .app_roles
                        .iter()
                        .filter(|r| r.is_enabled)
                        .filter(|r| {
                            r.allowed_member_types.is_empty()
                                || r.allowed_member_types.iter().any(|t| t.eq_ignore_ascii_case("User"))
                        })
                        .map(|r| {
                            (
                                r.id.clone(),
                                r.display_name.clone(),
                                r.description.clone(),
                                Some(RoleType::Application),
                            )
                        })
                        .collect();
                    if roles.is_empty() {
                        roles.push((
                            DEFAULT_ACCESS_ROLE_ID.to_owned(),
                            "Default Access".to_owned(),
                            None,
                            Some(RoleType::Application),
                        ));
                    }
                    (
                        OriginSystem::AadApplication,
                        a.id.clone(),
                        a.id.clone(),
                        a.display_name.clone(),
                        a.description.clone(),
                        "Application",
                        roles,
                    )
                }
                ResourceSource::Site(s) => {
                    let roles = s
                        .effective_roles()
                        .into_iter()
                        .map(|r| (r.id, r.display_name, r.description, None))
                        .collect();
                    (
                        OriginSystem::SharePointOnline,
                        s.web_url.clone(),
                        s.id.clone(),
                        s.display_name.clone(),
                        s.description.clone(),
                        "SharePoint Site",
                        roles,
                    )
                }
                ResourceSource::DirectoryRole(r) => {
                    let mut roles = vec![(
                        "Eligible".to_owned(),
                        "Eligible Member".to_owned(),
                        None,
                        Some(RoleType::Eligible),
                    )];
                    if !r.is_privileged {
                        roles.push((
                            "Active".to_owned(),
                            "Active Member".to_owned(),
                            None,
                            Some(RoleType::Active),
                        ));
                    }
                    (
                        OriginSystem::DirectoryRole,
                        r.id.clone(),
                        r.id.clone(),
                        r.display_name.clone(),
                        r.description.clone(),
                        "Directory Role",
                        roles,
                    )
                }
            };
        let id = resource_id(catalog_id, origin_system, &origin_id);
        let roles = roles
            .into_iter()
            .map(|(role_origin, name, desc, role_type)| AccessPackageResourceRole {
                id: child_id(&id, "role", &role_origin),
                display_name: name,
                description: desc,
                origin_id: role_origin,
                origin_system,
                role_type,
            })
            .collect();
        let scopes = vec![AccessPackageResourceScope {
            id: child_id(&id, "scope", &origin_id),
            display_name: "Root".to_owned(),
            description: Some("Root scope".to_owned()),
            is_root_scope: true,
            origin_id: origin_id.clone(),
            origin_system,
        }];
        Ok(Self {
            id,
            catalog_id: catalog_id.clone(),
            display_name,
            description,
            origin_id,
            origin_system,
            object_id,
            resource_type: resource_type.to_owned(),
            roles,
            scopes,
            created_date_time: now,
            modified_date_time: now,
        })
    }

    #[must_use]
    pub fn role(&self, id: &str) -> Option<&AccessPackageResourceRole> {
        self.roles.iter().find(|r| r.id == id)
    }

    #[must_use]
    pub fn role_by_origin(&self, origin_id: &str) -> Option<&AccessPackageResourceRole> {
        self.roles.iter().find(|r| r.origin_id.eq_ignore_ascii_case(origin_id))
    }

    #[must_use]
    pub fn scope(&self, id: &str) -> Option<&AccessPackageResourceScope> {
        self.scopes.iter().find(|s| s.id == id)
    }

    #[must_use]
    pub fn root_scope(&self) -> Option<&AccessPackageResourceScope> {
        self.scopes.iter().find(|s| s.is_root_scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::AppRole;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    #[test]
    fn groups_get_member_and_owner_roles() {
        let g = Group {
            id: "g".into(),
            display_name: "Sales".into(),
            security_enabled: true,
            ..Group::default()
        };
        let r = AccessPackageResource::derive(&CatalogId::new("c"), ResourceSource::Group(&g), now());
        let origins: Vec<_> = r.iter().flat_map(|r| r.roles.iter().map(|x| x.origin_id.clone())).collect();
        assert_eq!(origins, ["Member_g", "Owner_g"]);
    }

    #[test]
    fn dynamic_synced_and_distribution_groups_are_refused() {
        let dynamic = Group {
            id: "g".into(),
            display_name: "D".into(),
            security_enabled: true,
            group_types: vec!["DynamicMembership".into()],
            ..Group::default()
        };
        let synced = Group { on_premises_sync_enabled: Some(true), group_types: vec![], ..dynamic.clone() };
        let distribution =
            Group { on_premises_sync_enabled: None, security_enabled: false, ..synced.clone() };
        for g in [dynamic, synced, distribution] {
            assert!(
                AccessPackageResource::derive(&CatalogId::new("c"), ResourceSource::Group(&g), now())
                    .is_err()
            );
        }
    }

    #[test]
    fn applications_without_user_roles_get_default_access() {
        let mut app = Application { id: "a".into(), display_name: "App".into(), ..Application::default() };
        let r = AccessPackageResource::derive(&CatalogId::new("c"), ResourceSource::Application(&app), now())
            .ok();
        assert_eq!(r.map(|r| r.roles[0].display_name.clone()).as_deref(), Some("Default Access"));
        app.app_roles.push(AppRole {
            id: "r1".into(),
            display_name: "Admin".into(),
            is_enabled: true,
            ..AppRole::default()
        });
        let r = AccessPackageResource::derive(&CatalogId::new("c"), ResourceSource::Application(&app), now())
            .ok();
        assert_eq!(r.map(|r| r.roles.len()), Some(1));
    }

    #[test]
    fn privileged_directory_roles_are_eligible_only() {
        let role = DirectoryRole {
            id: "d".into(),
            display_name: "Admin".into(),
            is_privileged: true,
            ..DirectoryRole::default()
        };
        let r =
            AccessPackageResource::derive(&CatalogId::new("c"), ResourceSource::DirectoryRole(&role), now())
                .ok();
        assert_eq!(r.map(|r| r.roles.len()), Some(1));
    }

    #[test]
    fn ids_are_stable_per_catalog_and_origin() {
        assert_eq!(
            resource_id(&CatalogId::new("c"), OriginSystem::AadGroup, "g"),
            resource_id(&CatalogId::new("c"), OriginSystem::AadGroup, "g")
        );
        assert_ne!(
            resource_id(&CatalogId::new("c"), OriginSystem::AadGroup, "g"),
            resource_id(&CatalogId::new("d"), OriginSystem::AadGroup, "g")
        );
    }
}
