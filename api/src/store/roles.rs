//! Role assignments of delegated administration (`unifiedRoleAssignment`) in the store.
//!
//! A row is the assignment as Graph writes it, with `catalogId` (for catalog-scoped roles),
//! `grantKey` (principal, role and scope; unique) and `sortKey` (creation time, then id). Every
//! transaction that changes role assignments bumps [`Store::roles_version`] once it committed,
//! which the in-memory role index is rebuilt on.

use std::sync::atomic::Ordering;

use em_engine::ErrorCode;
use em_engine::delegation::{EmRole, UnifiedRoleAssignment};
use em_engine::id::CatalogId;
use serde_json::{Map, Value, json};

use super::{Page, PageRequest, Store, StoreResult, content, throw};
use crate::vars;

/// Filters for listing role assignments (Graph's `$filter` on `principalId`, `roleDefinitionId`
/// and `appScopeId`), and the catalogs the caller may see the assignments of.
#[derive(Debug, Clone, Default)]
pub struct RoleAssignmentFilter {
    pub principal_id: Option<String>,
    pub role_definition_id: Option<String>,
    pub app_scope_id: Option<String>,
    /// Only assignments in these catalogs, or held by `own_principals`; `None`: all.
    pub visible: Option<VisibleRoleAssignments>,
}

/// The role assignments a caller who is not an administrator may see.
#[derive(Debug, Clone, Default)]
pub struct VisibleRoleAssignments {
    /// Catalogs whose role assignments the caller sees.
    pub catalog_ids: Vec<CatalogId>,
    /// The caller and their groups: their own assignments, tenant-wide ones included.
    pub own_principals: Vec<String>,
}

pub(crate) fn role_row(assignment: &UnifiedRoleAssignment) -> StoreResult<Value> {
    let mut row = content(assignment)?;
    if let Some(object) = row.as_object_mut() {
        object.insert("catalogId".into(), json!(assignment.catalog_id()));
        object.insert(
            "grantKey".into(),
            json!(format!(
                "{}\u{1}{}\u{1}{}",
                assignment.principal_id,
                assignment.role_definition_id,
                assignment.app_scope_id.to_lowercase()
            )),
        );
        object.insert(
            "sortKey".into(),
            json!(format!("{}\u{1}{}", assignment.created_date_time.to_rfc3339(), assignment.id)),
        );
        object.retain(|_, v| !v.is_null());
    }
    Ok(row)
}

/// The statements that take a catalog owner assignment out of its catalog's owner count, for
/// every owner assignment `$gone` (rows with `catalogId`) lists.
const UNCOUNT_OWNERS: &str = "FOR $r IN $gone {
     IF $r.catalogId != NONE AND record::exists(type::record('catalog', $r.catalogId)) {
         UPDATE type::record('catalog', $r.catalogId) SET ownerCount = math::max([ownerCount - 1, 0]) RETURN NONE;
     };
 };";

impl Store {
    /// Counts committed changes to role assignments (see the module docs).
    #[must_use]
    pub fn roles_version(&self) -> u64 {
        self.roles_version.load(Ordering::Acquire)
    }

    pub(crate) fn roles_changed(&self) {
        self.roles_version.fetch_add(1, Ordering::AcqRel);
    }

    pub async fn role_assignment(&self, id: &str) -> StoreResult<Option<UnifiedRoleAssignment>> {
        self.get("role_assignment", id).await
    }

    /// Every role assignment, for the in-memory role index.
    pub async fn all_role_assignments(&self) -> StoreResult<Vec<UnifiedRoleAssignment>> {
        self.all("role_assignment", "true", "sortKey", Map::new()).await
    }

    /// One page of role assignments, oldest first.
    pub async fn role_assignments(
        &self,
        filter: &RoleAssignmentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<UnifiedRoleAssignment>> {
        let mut conditions = Vec::new();
        let mut vars = Map::new();
        if let Some(principal) = &filter.principal_id {
            conditions.push("principalId = $principal".to_owned());
            vars.insert("principal".into(), json!(principal));
        }
        if let Some(role) = &filter.role_definition_id {
            conditions.push("roleDefinitionId = $role".to_owned());
            vars.insert("role".into(), json!(role.trim().to_lowercase()));
        }
        if let Some(scope) = &filter.app_scope_id {
            conditions.push("string::lowercase(appScopeId) = $scope".to_owned());
            vars.insert("scope".into(), json!(scope.trim().to_lowercase()));
        }
        if let Some(visible) = &filter.visible {
            conditions.push("(catalogId IN $visibleCatalogs OR principalId IN $ownPrincipals)".to_owned());
            vars.insert("visibleCatalogs".into(), json!(visible.catalog_ids));
            vars.insert("ownPrincipals".into(), json!(visible.own_principals));
        }
        self.page("role_assignment", &conditions, vars, page).await
    }

    /// Creates a role assignment. The principal must be a user or a group and a catalog scope an
    /// existing catalog (`NOT_FOUND`); the same role for the same principal at the same scope is
    /// refused by the unique index (`CONFLICT`).
    pub async fn create_role_assignment(&self, assignment: &UnifiedRoleAssignment) -> StoreResult<()> {
        let body = format!(
            "IF type::is_string($catalog) AND !record::exists(type::record('catalog', $catalog)) {{ {no_catalog} }};
             IF !record::exists(type::record('user', $principal)) AND !record::exists(type::record('group', $principal)) {{ {no_principal} }};
             CREATE type::record('role_assignment', $id) CONTENT $row RETURN NONE;
             IF $owner {{ UPDATE type::record('catalog', $catalog) SET ownerCount += 1 RETURN NONE; }};",
            no_catalog = throw(ErrorCode::NotFound, "appScopeId", "the catalog of the scope does not exist"),
            no_principal = throw(ErrorCode::NotFound, "principalId", "no user or group has this id"),
        );
        let owner = assignment.role() == Some(EmRole::CatalogOwner);
        self.untracked()
            .transaction(
                &body,
                vars! {
                    "id" => assignment.id, "row" => role_row(assignment)?, "catalog" => assignment.catalog_id(),
                    "principal" => assignment.principal_id, "owner" => owner
                },
            )
            .await?;
        self.roles_changed();
        Ok(())
    }

    /// Deletes a role assignment. A catalog's last owner goes only when `administrator` (checked
    /// on the catalog's owner count, which every owner's creation and deletion writes).
    pub async fn delete_role_assignment(
        &self,
        assignment: &UnifiedRoleAssignment,
        administrator: bool,
    ) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('role_assignment', $id)) {{ {missing} }};
             IF $owner AND record::exists(type::record('catalog', $catalog)) {{
                 IF type::record('catalog', $catalog).ownerCount <= 1 AND !$administrator {{ {last} }};
                 UPDATE type::record('catalog', $catalog) SET ownerCount = math::max([ownerCount - 1, 0]) RETURN NONE;
             }};
             DELETE type::record('role_assignment', $id);",
            missing = throw(ErrorCode::NotFound, "id", "the role assignment does not exist"),
            last = throw(
                ErrorCode::Forbidden,
                "id",
                "this is the catalog's last owner: only an administrator may remove the last Catalog owner"
            ),
        );
        let owner = assignment.role() == Some(EmRole::CatalogOwner);
        self.untracked()
            .transaction(
                &body,
                vars! {
                    "id" => assignment.id, "catalog" => assignment.catalog_id(), "owner" => owner,
                    "administrator" => administrator
                },
            )
            .await?;
        self.roles_changed();
        Ok(())
    }
}

/// The statements that delete the role assignments held by principal `$id` (a user or a group
/// being deleted), keeping their catalogs' owner counts.
pub(crate) fn delete_principal_roles() -> String {
    format!(
        "LET $gone = (SELECT catalogId FROM role_assignment WHERE principalId = $id AND roleDefinitionId = '{owner}');
         {UNCOUNT_OWNERS}
         DELETE role_assignment WHERE principalId = $id;",
        owner = EmRole::CatalogOwner.definition().id,
    )
}
