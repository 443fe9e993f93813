//! Delegated administration, as Graph's `/roleManagement/entitlementManagement` has it: the role
//! definitions, role assignments at the tenant or at one catalog (`unifiedRoleAssignment`), and
//! the delegation matrix of what each role may do.
//!
//! Every change and every read is decided here from what the caller holds ([`Delegations`]):
//! tenant-wide administrators (Identity Governance Administrator, Global Administrator) may do
//! everything; the Catalog creator may create catalogs (and becomes the first owner of each);
//! catalog roles act only inside their catalog. A right the caller holds nowhere is refused
//! before anything is looked up; an object in a catalog the caller cannot read is answered as one
//! that does not exist ([`Decision::Invisible`]); an object they can read but not change is
//! refused with the missing right named.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorCode};
use crate::id::CatalogId;

/// An entitlement-management role (Graph's built-in `unifiedRoleDefinition`s of the
/// entitlement-management provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EmRole {
    CatalogCreator,
    CatalogOwner,
    CatalogReader,
    AccessPackageManager,
    AccessPackageAssignmentManager,
}

/// Where a role applies: the tenant (`/`) or one catalog (`/AccessPackageCatalog/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Tenant,
    Catalog,
}

/// A role definition as Graph lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleDefinition {
    pub role: EmRole,
    /// Graph's id of the built-in definition.
    pub id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub scope: ScopeKind,
}

/// The built-in role definitions, with Graph's ids and names.
pub const ROLE_DEFINITIONS: [RoleDefinition; 5] = [
    RoleDefinition {
        role: EmRole::CatalogCreator,
        id: "ba92d953-d8e0-4e39-a797-0cbedb0a89e8",
        display_name: "Catalog creator",
        description: "Create catalogs; the creator of a catalog becomes its first owner.",
        scope: ScopeKind::Tenant,
    },
    RoleDefinition {
        role: EmRole::CatalogOwner,
        id: "ae79f266-94d4-4dab-b730-feca7e132178",
        display_name: "Catalog owner",
        description: "Edit and manage the catalog, its resources, access packages, policies, assignments and role assignments.",
        scope: ScopeKind::Catalog,
    },
    RoleDefinition {
        role: EmRole::CatalogReader,
        id: "44272f93-9762-48e8-af59-1b5351b1d6b3",
        display_name: "Catalog reader",
        description: "View the catalog's resources, access packages and policies.",
        scope: ScopeKind::Catalog,
    },
    RoleDefinition {
        role: EmRole::AccessPackageManager,
        id: "7f480852-ebdc-47d4-87de-0d8498384a83",
        display_name: "Access package manager",
        description: "Create, edit and delete the catalog's access packages and their policies, and manage their requests and assignments.",
        scope: ScopeKind::Catalog,
    },
    RoleDefinition {
        role: EmRole::AccessPackageAssignmentManager,
        id: "e2182095-804a-4656-ae11-64734e9b7ae5",
        display_name: "Access package assignment manager",
        description: "Assign users directly to the catalog's access packages, remove assignments, and manage requests.",
        scope: ScopeKind::Catalog,
    },
];

impl EmRole {
    pub const ALL: [Self; 5] = [
        Self::CatalogCreator,
        Self::CatalogOwner,
        Self::CatalogReader,
        Self::AccessPackageManager,
        Self::AccessPackageAssignmentManager,
    ];

    #[must_use]
    pub fn definition(self) -> &'static RoleDefinition {
        let at = Self::ALL.iter().position(|r| *r == self).unwrap_or(0);
        &ROLE_DEFINITIONS[at]
    }

    /// The role a Graph role definition id names.
    #[must_use]
    pub fn from_definition_id(id: &str) -> Option<Self> {
        ROLE_DEFINITIONS.iter().find(|d| d.id.eq_ignore_ascii_case(id.trim())).map(|d| d.role)
    }

    #[must_use]
    pub fn display_name(self) -> &'static str {
        self.definition().display_name
    }

    #[must_use]
    pub fn scope(self) -> ScopeKind {
        self.definition().scope
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for EmRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// A set of roles held at one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleSet(u8);

impl RoleSet {
    pub fn insert(&mut self, role: EmRole) {
        self.0 |= role.bit();
    }

    #[must_use]
    pub fn contains(self, role: EmRole) -> bool {
        self.0 & role.bit() != 0
    }

    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether any role of `roles` is in the set.
    #[must_use]
    pub fn any_of(self, roles: &[EmRole]) -> bool {
        roles.iter().any(|r| self.contains(*r))
    }

    pub fn iter(self) -> impl Iterator<Item = EmRole> {
        EmRole::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<EmRole> for RoleSet {
    fn from_iter<I: IntoIterator<Item = EmRole>>(iter: I) -> Self {
        let mut set = Self::default();
        for role in iter {
            set.insert(role);
        }
        set
    }
}

/// What a caller may be allowed to do: one row of the delegation matrix each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Right {
    /// Create a catalog (tenant-wide).
    CreateCatalog,
    /// See the catalog, its resources, access packages and policies.
    ReadCatalog,
    /// Edit the catalog (name, description, state, external visibility).
    UpdateCatalog,
    DeleteCatalog,
    /// Add resources to the catalog and remove them.
    ManageResources,
    /// Add and remove the catalog's role assignments (owners, managers, readers).
    ManageRoleAssignments,
    CreateAccessPackage,
    /// Edit an access package: its properties, hiding it, its resource roles and its
    /// incompatibilities.
    UpdateAccessPackage,
    DeleteAccessPackage,
    /// Create, edit and delete request-based assignment policies.
    ManagePolicies,
    /// Create, edit and delete auto-assignment policies, and ask what they would do.
    ManageAutomaticPolicies,
    /// See who has an assignment.
    ReadAssignments,
    /// See the access packages' requests and their delivery errors.
    ReadRequests,
    /// Assign a user directly, or change a direct assignment.
    AssignDirectly,
    /// Remove a user's assignment.
    RemoveAssignments,
    /// Cancel a pending request, reprocess a failed one.
    ManageRequests,
    /// See the connected organizations (anyone who holds an entitlement-management role: they
    /// name organizations in policies).
    ReadConnectedOrganizations,
    /// Create, edit and delete connected organizations and their sponsors, and change the
    /// tenant's entitlement-management settings.
    ManageConnectedOrganizations,
    /// Tenant-wide administration: the directory, tenant-wide role assignments, the clock,
    /// reconciliation of auto-assignments.
    AdministerTenant,
}

impl Right {
    pub const ALL: [Self; 19] = [
        Self::CreateCatalog,
        Self::ReadCatalog,
        Self::UpdateCatalog,
        Self::DeleteCatalog,
        Self::ManageResources,
        Self::ManageRoleAssignments,
        Self::CreateAccessPackage,
        Self::UpdateAccessPackage,
        Self::DeleteAccessPackage,
        Self::ManagePolicies,
        Self::ManageAutomaticPolicies,
        Self::ReadAssignments,
        Self::ReadRequests,
        Self::AssignDirectly,
        Self::RemoveAssignments,
        Self::ManageRequests,
        Self::ReadConnectedOrganizations,
        Self::ManageConnectedOrganizations,
        Self::AdministerTenant,
    ];

    /// The stable name refusals give (Graph's resource-action style).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateCatalog => "microsoft.entitlementManagement/catalogs/create",
            Self::ReadCatalog => "microsoft.entitlementManagement/catalogs/read",
            Self::UpdateCatalog => "microsoft.entitlementManagement/catalogs/update",
            Self::DeleteCatalog => "microsoft.entitlementManagement/catalogs/delete",
            Self::ManageResources => "microsoft.entitlementManagement/catalogs/resources/manage",
            Self::ManageRoleAssignments => "microsoft.entitlementManagement/catalogs/roleAssignments/manage",
            Self::CreateAccessPackage => "microsoft.entitlementManagement/accessPackages/create",
            Self::UpdateAccessPackage => "microsoft.entitlementManagement/accessPackages/update",
            Self::DeleteAccessPackage => "microsoft.entitlementManagement/accessPackages/delete",
            Self::ManagePolicies => "microsoft.entitlementManagement/assignmentPolicies/manage",
            Self::ManageAutomaticPolicies => {
                "microsoft.entitlementManagement/assignmentPolicies/automatic/manage"
            }
            Self::ReadAssignments => "microsoft.entitlementManagement/assignments/read",
            Self::ReadRequests => "microsoft.entitlementManagement/assignmentRequests/read",
            Self::AssignDirectly => "microsoft.entitlementManagement/assignments/create",
            Self::RemoveAssignments => "microsoft.entitlementManagement/assignments/delete",
            Self::ManageRequests => "microsoft.entitlementManagement/assignmentRequests/manage",
            Self::ReadConnectedOrganizations => "microsoft.entitlementManagement/connectedOrganizations/read",
            Self::ManageConnectedOrganizations => {
                "microsoft.entitlementManagement/connectedOrganizations/manage"
            }
            Self::AdministerTenant => "microsoft.entitlementManagement/tenant/manage",
        }
    }

    /// What the right lets one do, in words.
    #[must_use]
    pub fn task(self) -> &'static str {
        match self {
            Self::CreateCatalog => "create catalogs",
            Self::ReadCatalog => "see the catalog",
            Self::UpdateCatalog => "edit the catalog",
            Self::DeleteCatalog => "delete the catalog",
            Self::ManageResources => "add resources to the catalog or remove them",
            Self::ManageRoleAssignments => "manage the catalog's role assignments",
            Self::CreateAccessPackage => "create access packages in the catalog",
            Self::UpdateAccessPackage => "edit the catalog's access packages",
            Self::DeleteAccessPackage => "delete the catalog's access packages",
            Self::ManagePolicies => "create, edit or delete assignment policies",
            Self::ManageAutomaticPolicies => "manage auto-assignment policies",
            Self::ReadAssignments => "see the catalog's assignments",
            Self::ReadRequests => "see the catalog's requests",
            Self::AssignDirectly => "assign users directly",
            Self::RemoveAssignments => "remove assignments",
            Self::ManageRequests => "cancel or reprocess requests",
            Self::ReadConnectedOrganizations => "see the connected organizations",
            Self::ManageConnectedOrganizations => "manage connected organizations and the tenant's settings",
            Self::AdministerTenant => "administer the tenant",
        }
    }

    /// The entitlement-management roles that hold the right (administrators hold every right).
    #[must_use]
    pub fn granted_by(self) -> &'static [EmRole] {
        use EmRole::{
            AccessPackageAssignmentManager as Apam, AccessPackageManager as Apm, CatalogCreator,
            CatalogOwner, CatalogReader,
        };
        match self {
            Self::CreateCatalog => &[CatalogCreator],
            Self::ReadCatalog => &[CatalogOwner, CatalogReader, Apm, Apam],
            Self::UpdateCatalog
            | Self::DeleteCatalog
            | Self::ManageResources
            | Self::ManageRoleAssignments => &[CatalogOwner],
            Self::CreateAccessPackage
            | Self::UpdateAccessPackage
            | Self::DeleteAccessPackage
            | Self::ManagePolicies => &[CatalogOwner, Apm],
            Self::ReadAssignments
            | Self::ReadRequests
            | Self::AssignDirectly
            | Self::RemoveAssignments
            | Self::ManageRequests => &[CatalogOwner, Apm, Apam],
            Self::ReadConnectedOrganizations => &[CatalogCreator, CatalogOwner, CatalogReader, Apm, Apam],
            Self::ManageAutomaticPolicies | Self::ManageConnectedOrganizations | Self::AdministerTenant => {
                &[]
            }
        }
    }

    /// Whether the right is held at the tenant (not at one catalog).
    #[must_use]
    pub fn is_tenant_wide(self) -> bool {
        matches!(
            self,
            Self::CreateCatalog
                | Self::ReadConnectedOrganizations
                | Self::ManageConnectedOrganizations
                | Self::AdministerTenant
        )
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a caller holds: a tenant-wide administrator role, tenant-scoped entitlement-management
/// roles, and roles per catalog (directly or through a group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delegations {
    /// Identity Governance Administrator or Global Administrator (or the engine itself).
    pub administrator: bool,
    pub tenant: RoleSet,
    pub catalogs: BTreeMap<CatalogId, RoleSet>,
}

/// Which catalogs a right reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Everywhere,
    Catalogs(BTreeSet<CatalogId>),
}

impl Reach {
    /// The catalogs reached, in order; `None` when the right reaches every catalog.
    #[must_use]
    pub fn catalog_ids(self) -> Option<Vec<CatalogId>> {
        match self {
            Self::Everywhere => None,
            Self::Catalogs(ids) => Some(ids.into_iter().collect()),
        }
    }

    #[must_use]
    pub fn contains(&self, catalog_id: &CatalogId) -> bool {
        match self {
            Self::Everywhere => true,
            Self::Catalogs(ids) => ids.contains(catalog_id),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Catalogs(ids) if ids.is_empty())
    }
}

/// The outcome of asking for a right on an object of a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The caller cannot even see the catalog: answer as if the object did not exist.
    Invisible,
    /// The caller sees the catalog but lacks the right ([`forbidden`] says so).
    Forbidden,
}

impl Delegations {
    /// Everything: administrators, the engine, the local operator.
    #[must_use]
    pub fn administrator() -> Self {
        Self { administrator: true, ..Self::default() }
    }

    /// What the holder of `assignments` holds, `administrator` or not.
    pub fn of<'a>(
        administrator: bool,
        assignments: impl IntoIterator<Item = &'a UnifiedRoleAssignment>,
    ) -> Self {
        let mut out = Self { administrator, ..Self::default() };
        for assignment in assignments {
            let Some(role) = assignment.role() else { continue };
            match AppScope::parse(&assignment.app_scope_id) {
                Ok(AppScope::Tenant) => out.tenant.insert(role),
                Ok(AppScope::Catalog(id)) => out.catalogs.entry(id).or_default().insert(role),
                Err(_) => {}
            }
        }
        out
    }

    /// Whether the caller holds `right` in `catalog_id` (tenant-wide rights ignore it).
    #[must_use]
    pub fn allows(&self, right: Right, catalog_id: &CatalogId) -> bool {
        if self.administrator {
            return true;
        }
        if right.is_tenant_wide() {
            return self.holds_tenant_wide(right);
        }
        self.catalogs.get(catalog_id).is_some_and(|roles| roles.any_of(right.granted_by()))
    }

    /// A tenant-wide right: held through a role that grants it, wherever that role is held (a
    /// tenant role such as Catalog creator is held at `/` only; reading connected organizations
    /// comes with the catalog roles too).
    fn holds_tenant_wide(&self, right: Right) -> bool {
        std::iter::once(&self.tenant)
            .chain(self.catalogs.values())
            .any(|roles| roles.any_of(right.granted_by()))
    }

    /// Whether the caller holds `right` anywhere at all.
    #[must_use]
    pub fn holds_anywhere(&self, right: Right) -> bool {
        if self.administrator {
            return true;
        }
        if right.is_tenant_wide() {
            return self.holds_tenant_wide(right);
        }
        self.catalogs.values().any(|roles| roles.any_of(right.granted_by()))
    }

    /// The catalogs where the caller holds `right`.
    #[must_use]
    pub fn reach(&self, right: Right) -> Reach {
        if self.administrator {
            return Reach::Everywhere;
        }
        Reach::Catalogs(
            self.catalogs
                .iter()
                .filter(|(_, roles)| roles.any_of(right.granted_by()))
                .map(|(id, _)| id.clone())
                .collect(),
        )
    }

    /// Whether the caller may see the catalog.
    #[must_use]
    pub fn reads(&self, catalog_id: &CatalogId) -> bool {
        self.allows(Right::ReadCatalog, catalog_id)
    }

    /// Refuses a right the caller holds nowhere, before anything is looked up (so the refusal
    /// says nothing about whether the object exists).
    pub fn require_anywhere(&self, right: Right) -> Result<(), DomainError> {
        if self.holds_anywhere(right) { Ok(()) } else { Err(forbidden(right, None)) }
    }

    /// The decision on `right` for an object of catalog `catalog_id`.
    #[must_use]
    pub fn decide(&self, right: Right, catalog_id: &CatalogId) -> Decision {
        if self.allows(right, catalog_id) {
            Decision::Allowed
        } else if self.reads(catalog_id) {
            Decision::Forbidden
        } else {
            Decision::Invisible
        }
    }
}

/// The refusal of a missing right: what it is, and who holds it.
#[must_use]
pub fn forbidden(right: Right, catalog_name: Option<&str>) -> DomainError {
    let holders: Vec<&str> = right.granted_by().iter().map(|r| r.display_name()).collect();
    let mut holders = holders.join(", ");
    if !holders.is_empty() {
        holders.push_str(", ");
    }
    holders.push_str("Identity Governance Administrator and Global Administrator");
    let place = catalog_name.map(|n| format!(" in catalog `{n}`")).unwrap_or_default();
    DomainError::new(
        ErrorCode::Forbidden,
        format!(
            "you may not {}{place}: it needs the right `{}`, which {holders} hold",
            right.task(),
            right.name()
        ),
    )
}

/// Where a role assignment applies, as Graph's `appScopeId` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppScope {
    /// `/`
    Tenant,
    /// `/AccessPackageCatalog/{catalogId}`
    Catalog(CatalogId),
}

const CATALOG_SCOPE: &str = "/AccessPackageCatalog/";

impl AppScope {
    /// Reads `/` or `/AccessPackageCatalog/{id}`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        if raw == "/" {
            return Ok(Self::Tenant);
        }
        match raw.strip_prefix(CATALOG_SCOPE) {
            Some(id) if !id.is_empty() && !id.contains('/') && !id.chars().any(char::is_whitespace) => {
                Ok(Self::Catalog(CatalogId::new(id)))
            }
            _ => Err(DomainError::invalid(
                "appScopeId",
                format!(
                    "`{raw}` is not a scope: use `/` for the tenant or `/AccessPackageCatalog/{{catalogId}}`"
                ),
            )),
        }
    }

    #[must_use]
    pub fn id(&self) -> String {
        match self {
            Self::Tenant => "/".to_owned(),
            Self::Catalog(id) => format!("{CATALOG_SCOPE}{id}"),
        }
    }

    #[must_use]
    pub fn catalog_id(&self) -> Option<&CatalogId> {
        match self {
            Self::Tenant => None,
            Self::Catalog(id) => Some(id),
        }
    }
}

/// A role held by a principal (a user or a group) at a scope: Graph's `unifiedRoleAssignment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedRoleAssignment {
    pub id: String,
    /// A user or a group.
    pub principal_id: String,
    pub role_definition_id: String,
    /// `/` or `/AccessPackageCatalog/{catalogId}`.
    pub app_scope_id: String,
    /// Always `/` for entitlement-management roles.
    pub directory_scope_id: String,
    pub created_date_time: DateTime<Utc>,
}

/// What an administrator or a catalog owner gives to assign a role.
#[derive(Debug, Clone, Default)]
pub struct NewRoleAssignment {
    pub principal_id: String,
    pub role_definition_id: String,
    pub app_scope_id: String,
}

impl UnifiedRoleAssignment {
    /// Checks a new role assignment: a known role definition (`NOT_FOUND`), a well-formed scope
    /// that suits the role (`VALIDATION_FAILED`), a principal id. Whether the principal and the
    /// catalog exist is for the caller to check.
    pub fn create(id: String, input: NewRoleAssignment, now: DateTime<Utc>) -> Result<Self, DomainError> {
        let principal_id = input.principal_id.trim();
        if principal_id.is_empty() {
            return Err(DomainError::invalid("principalId", "`principalId` must not be empty"));
        }
        let Some(role) = EmRole::from_definition_id(&input.role_definition_id) else {
            return Err(DomainError::not_found("role definition", input.role_definition_id.trim())
                .at("roleDefinitionId"));
        };
        let scope = AppScope::parse(&input.app_scope_id)?;
        match (role.scope(), &scope) {
            (ScopeKind::Tenant, AppScope::Tenant) | (ScopeKind::Catalog, AppScope::Catalog(_)) => {}
            (ScopeKind::Tenant, AppScope::Catalog(_)) => {
                return Err(DomainError::invalid(
                    "appScopeId",
                    format!("{role} is a tenant-wide role: its `appScopeId` is `/`"),
                ));
            }
            (ScopeKind::Catalog, AppScope::Tenant) => {
                return Err(DomainError::invalid(
                    "appScopeId",
                    format!(
                        "{role} is held in a catalog: its `appScopeId` is `/AccessPackageCatalog/{{catalogId}}`"
                    ),
                ));
            }
        }
        Ok(Self {
            id,
            principal_id: principal_id.to_owned(),
            role_definition_id: role.definition().id.to_owned(),
            app_scope_id: scope.id(),
            directory_scope_id: "/".to_owned(),
            created_date_time: now,
        })
    }

    /// The catalog owner role assignment the creator of a catalog receives.
    #[must_use]
    pub fn first_owner(id: String, principal_id: &str, catalog_id: &CatalogId, now: DateTime<Utc>) -> Self {
        Self {
            id,
            principal_id: principal_id.to_owned(),
            role_definition_id: EmRole::CatalogOwner.definition().id.to_owned(),
            app_scope_id: AppScope::Catalog(catalog_id.clone()).id(),
            directory_scope_id: "/".to_owned(),
            created_date_time: now,
        }
    }

    #[must_use]
    pub fn role(&self) -> Option<EmRole> {
        EmRole::from_definition_id(&self.role_definition_id)
    }

    /// The catalog of a catalog-scoped assignment.
    #[must_use]
    pub fn catalog_id(&self) -> Option<CatalogId> {
        self.app_scope_id.strip_prefix(CATALOG_SCOPE).map(CatalogId::new)
    }

    /// Two assignments of the same role to the same principal at the same scope are one too many.
    #[must_use]
    pub fn same_grant(&self, other: &Self) -> bool {
        self.principal_id == other.principal_id
            && self.role_definition_id == other.role_definition_id
            && self.app_scope_id == other.app_scope_id
    }

    /// Whether removing this assignment is allowed, given the catalog owner assignments that
    /// would be left: the last owner of a catalog is removed only by an administrator.
    pub fn check_removal(&self, owners_left: usize, administrator: bool) -> Result<(), DomainError> {
        if self.role() == Some(EmRole::CatalogOwner) && owners_left == 0 && !administrator {
            return Err(DomainError::forbidden(
                "this is the catalog's last owner: only an administrator may remove the last Catalog owner",
            )
            .at("id"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(role: EmRole, scope: &str) -> UnifiedRoleAssignment {
        UnifiedRoleAssignment::create(
            "r".into(),
            NewRoleAssignment {
                principal_id: "p".into(),
                role_definition_id: role.definition().id.into(),
                app_scope_id: scope.into(),
            },
            DateTime::<Utc>::UNIX_EPOCH,
        )
        .unwrap()
    }

    #[test]
    fn definitions_carry_graphs_ids() {
        assert_eq!(
            EmRole::from_definition_id("AE79F266-94D4-4DAB-B730-FECA7E132178"),
            Some(EmRole::CatalogOwner)
        );
        for role in EmRole::ALL {
            assert_eq!(EmRole::from_definition_id(role.definition().id), Some(role));
            assert_eq!(role.definition().role, role);
        }
    }

    #[test]
    fn scopes_parse_and_suit_their_roles() {
        assert_eq!(AppScope::parse("/"), Ok(AppScope::Tenant));
        assert_eq!(AppScope::parse(" /AccessPackageCatalog/c1 "), Ok(AppScope::Catalog("c1".into())));
        for bad in ["", "/AccessPackageCatalog/", "/catalogs/c1", "/AccessPackageCatalog/a/b"] {
            assert!(AppScope::parse(bad).is_err(), "{bad}");
        }
        let new = |role: EmRole, scope: &str| {
            UnifiedRoleAssignment::create(
                "r".into(),
                NewRoleAssignment {
                    principal_id: "p".into(),
                    role_definition_id: role.definition().id.into(),
                    app_scope_id: scope.into(),
                },
                DateTime::<Utc>::UNIX_EPOCH,
            )
        };
        assert!(new(EmRole::CatalogCreator, "/").is_ok());
        assert_eq!(
            new(EmRole::CatalogCreator, "/AccessPackageCatalog/c").unwrap_err().field.as_deref(),
            Some("appScopeId")
        );
        assert_eq!(new(EmRole::CatalogOwner, "/").unwrap_err().field.as_deref(), Some("appScopeId"));
        let unknown = UnifiedRoleAssignment::create(
            "r".into(),
            NewRoleAssignment {
                principal_id: "p".into(),
                role_definition_id: "nope".into(),
                app_scope_id: "/".into(),
            },
            DateTime::<Utc>::UNIX_EPOCH,
        )
        .unwrap_err();
        assert_eq!((unknown.code, unknown.field.as_deref()), (ErrorCode::NotFound, Some("roleDefinitionId")));
    }

    /// The delegation matrix of the reference, every right against every role held in catalog
    /// `c`: `true` where the role holds the right there.
    #[test]
    fn the_matrix() {
        use Right::*;
        let expected: &[(Right, [bool; 5])] = &[
            // CatalogCreator, CatalogOwner, CatalogReader, AccessPackageManager, AccessPackageAssignmentManager
            (CreateCatalog, [true, false, false, false, false]),
            (ReadCatalog, [false, true, true, true, true]),
            (UpdateCatalog, [false, true, false, false, false]),
            (DeleteCatalog, [false, true, false, false, false]),
            (ManageResources, [false, true, false, false, false]),
            (ManageRoleAssignments, [false, true, false, false, false]),
            (CreateAccessPackage, [false, true, false, true, false]),
            (UpdateAccessPackage, [false, true, false, true, false]),
            (DeleteAccessPackage, [false, true, false, true, false]),
            (ManagePolicies, [false, true, false, true, false]),
            (ManageAutomaticPolicies, [false, false, false, false, false]),
            (ReadAssignments, [false, true, false, true, true]),
            (ReadRequests, [false, true, false, true, true]),
            (AssignDirectly, [false, true, false, true, true]),
            (RemoveAssignments, [false, true, false, true, true]),
            (ManageRequests, [false, true, false, true, true]),
            (ReadConnectedOrganizations, [true, true, true, true, true]),
            (ManageConnectedOrganizations, [false, false, false, false, false]),
            (AdministerTenant, [false, false, false, false, false]),
        ];
        assert_eq!(expected.len(), Right::ALL.len());
        for (right, row) in expected {
            for (role, want) in EmRole::ALL.iter().zip(row) {
                let held = match role.scope() {
                    ScopeKind::Tenant => at(*role, "/"),
                    ScopeKind::Catalog => at(*role, "/AccessPackageCatalog/c"),
                };
                let delegations = Delegations::of(false, [&held]);
                assert_eq!(delegations.allows(*right, &CatalogId::new("c")), *want, "{right:?} for {role:?}");
                assert!(
                    !delegations.allows(*right, &CatalogId::new("other")) || right.is_tenant_wide(),
                    "{right:?} elsewhere"
                );
                assert!(Delegations::administrator().allows(*right, &CatalogId::new("c")));
            }
        }
    }

    #[test]
    fn invisible_catalogs_answer_as_missing_and_visible_ones_name_the_right() {
        let reader = Delegations::of(false, [&at(EmRole::CatalogReader, "/AccessPackageCatalog/c")]);
        assert_eq!(reader.decide(Right::ReadCatalog, &CatalogId::new("c")), Decision::Allowed);
        assert_eq!(reader.decide(Right::UpdateCatalog, &CatalogId::new("other")), Decision::Invisible);
        assert_eq!(reader.decide(Right::UpdateCatalog, &CatalogId::new("c")), Decision::Forbidden);
        let refusal = forbidden(Right::UpdateCatalog, Some("Design"));
        assert_eq!(refusal.code, ErrorCode::Forbidden);
        assert!(refusal.message.contains("in catalog `Design`"), "{}", refusal.message);
        assert!(refusal.message.contains(Right::UpdateCatalog.name()), "{}", refusal.message);
        assert!(refusal.message.contains("Catalog owner"), "{}", refusal.message);
        assert!(reader.require_anywhere(Right::CreateAccessPackage).is_err());
        assert!(reader.require_anywhere(Right::ReadCatalog).is_ok());
        assert_eq!(reader.reach(Right::ReadCatalog), Reach::Catalogs([CatalogId::new("c")].into()));
        assert_eq!(reader.reach(Right::ReadRequests), Reach::Catalogs(BTreeSet::new()));
    }

    #[test]
    fn the_last_owner_goes_only_with_an_administrator() {
        let owner = at(EmRole::CatalogOwner, "/AccessPackageCatalog/c");
        assert!(owner.check_removal(1, false).is_ok());
        assert_eq!(owner.check_removal(0, false).unwrap_err().code, ErrorCode::Forbidden);
        assert!(owner.check_removal(0, true).is_ok());
        assert!(at(EmRole::CatalogReader, "/AccessPackageCatalog/c").check_removal(0, false).is_ok());
    }
}
