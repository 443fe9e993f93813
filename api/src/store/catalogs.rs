//! Catalogs, their resources, access packages, role scopes and incompatibilities in the store.

use em_engine::ErrorCode;
use em_engine::access_package::{AccessPackage, AccessPackageResourceRoleScope};
use em_engine::catalog::AccessPackageCatalog;
use em_engine::delegation::UnifiedRoleAssignment;
use em_engine::id::{AccessPackageId, CatalogId};
use em_engine::resource::AccessPackageResource;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Page, PageRequest, Store, StoreResult, content, sort_key, throw};
use crate::vars;

/// Filters for listing catalogs.
#[derive(Debug, Clone, Default)]
pub struct CatalogFilter {
    pub search: Option<String>,
    pub state: Option<String>,
    pub catalog_type: Option<String>,
    /// Only these catalogs, read by id (a delegate's catalogs); `None`: every catalog.
    pub ids: Option<Vec<CatalogId>>,
}

/// Filters for listing access packages.
#[derive(Debug, Clone, Default)]
pub struct AccessPackageFilter {
    pub search: Option<String>,
    pub catalog_id: Option<CatalogId>,
    pub is_hidden: Option<bool>,
    /// Only packages of these catalogs; `None`: every catalog.
    pub catalog_ids: Option<Vec<CatalogId>>,
}

/// What the two kinds of incompatibility point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IncompatibilityKind {
    AccessPackage,
    Group,
}

impl IncompatibilityKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessPackage => "accessPackage",
            Self::Group => "group",
        }
    }
}

/// A stored incompatibility edge.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncompatibilityRow {
    pub access_package_id: AccessPackageId,
    pub kind: IncompatibilityKind,
    pub target_id: String,
}

/// A resource request (`accessPackageResourceRequest`), kept as the record of what was done.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequestRow {
    pub id: String,
    pub catalog_id: CatalogId,
    pub resource_id: String,
    pub request_type: String,
    pub state: String,
    pub created_date_time: String,
    pub actor: String,
    /// The resource as it was when the request was delivered.
    pub resource: Value,
}

fn row<T: Serialize>(value: &T, display_name: &str, id: &str) -> StoreResult<Value> {
    let mut row = content(value)?;
    if let Some(object) = row.as_object_mut() {
        object.insert("sortKey".into(), json!(sort_key(display_name, id)));
    }
    Ok(row)
}

fn row_of_package(package: &AccessPackage) -> StoreResult<Value> {
    row(package, &package.display_name, &package.id)
}

fn request_row(request: &ResourceRequestRow) -> StoreResult<Value> {
    let mut row = content(request)?;
    if let Some(object) = row.as_object_mut() {
        object.insert("sortKey".into(), json!(format!("{}\u{1}{}", request.created_date_time, request.id)));
    }
    Ok(row)
}

impl Store {
    pub async fn catalog(&self, id: &CatalogId) -> StoreResult<Option<AccessPackageCatalog>> {
        self.get("catalog", id).await
    }

    pub async fn catalogs(
        &self,
        filter: &CatalogFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AccessPackageCatalog>> {
        let mut conditions = Vec::new();
        let mut vars = Map::new();
        if let Some(text) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            conditions.push("string::contains(nameKey, $search)".to_owned());
            vars.insert("search".into(), json!(text.to_lowercase()));
        }
        if let Some(state) = &filter.state {
            conditions.push("state = $state".to_owned());
            vars.insert("state".into(), json!(state));
        }
        if let Some(kind) = &filter.catalog_type {
            conditions.push("catalogType = $catalogType".to_owned());
            vars.insert("catalogType".into(), json!(kind));
        }
        match &filter.ids {
            None => self.page("catalog", &conditions, vars, page).await,
            // Only the records named are read, however many catalogs there are.
            Some(ids) => self.page_of_ids("catalog", ids, &conditions, vars, page).await,
        }
    }

    /// Catalogs by id; ids that do not exist are skipped.
    pub async fn catalogs_by_ids(&self, ids: &[CatalogId]) -> StoreResult<Vec<AccessPackageCatalog>> {
        self.get_many("catalog", ids).await
    }

    /// Creates the built-in General catalog when the database has none.
    pub async fn ensure_catalog(&self, catalog: &AccessPackageCatalog) -> StoreResult<()> {
        let body = "IF !record::exists(type::record('catalog', $id)) { CREATE type::record('catalog', $id) CONTENT $row RETURN NONE; };";
        let row = row(catalog, &catalog.display_name, &catalog.id)?;
        self.transaction(body, vars! { "id" => catalog.id, "row" => row }).await?;
        Ok(())
    }

    /// Creates a catalog, with its first owner's role assignment when there is one; the unique
    /// index on the display name refuses a duplicate.
    /// Creates a catalog, with its first owner and its first access package when given (the
    /// portal's "Create new catalog" while creating a package): one transaction.
    pub async fn create_catalog(
        &self,
        catalog: &AccessPackageCatalog,
        owner: Option<&UnifiedRoleAssignment>,
        package: Option<&AccessPackage>,
    ) -> StoreResult<()> {
        let mut row = row(catalog, &catalog.display_name, &catalog.id)?;
        let mut body = "CREATE type::record('catalog', $id) CONTENT $row RETURN NONE;".to_owned();
        let mut vars = vars! { "id" => catalog.id };
        if let Some(package) = package {
            if let Some(object) = row.as_object_mut() {
                object.insert("accessPackageCount".into(), json!(1));
            }
            body.push_str(
                "\nCREATE type::record('access_package', $packageId) CONTENT $package RETURN NONE;",
            );
            vars.insert("packageId".into(), json!(package.id));
            vars.insert("package".into(), row_of_package(package)?);
        }
        if let Some(owner) = owner {
            if let Some(object) = row.as_object_mut() {
                object.insert("ownerCount".into(), json!(1));
            }
            body.push_str("\nCREATE type::record('role_assignment', $ownerId) CONTENT $owner RETURN NONE;");
            vars.insert("ownerId".into(), json!(owner.id));
            vars.insert("owner".into(), super::roles::role_row(owner)?);
        }
        vars.insert("row".into(), row);
        self.transaction(&body, vars).await?;
        if owner.is_some() {
            self.roles_changed();
        }
        Ok(())
    }

    /// Writes an updated catalog, keeping its package count.
    pub async fn update_catalog(&self, catalog: &AccessPackageCatalog) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('catalog', $id)) {{ {missing} }};
             UPDATE type::record('catalog', $id) SET displayName = $row.displayName, description = $row.description,
                 state = $row.state, isExternallyVisible = $row.isExternallyVisible,
                 modifiedDateTime = $row.modifiedDateTime, sortKey = $row.sortKey RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "id", "the catalog does not exist"),
        );
        let row = row(catalog, &catalog.display_name, &catalog.id)?;
        self.transaction(&body, vars! { "id" => catalog.id, "row" => row }).await?;
        Ok(())
    }

    /// Deletes a catalog with its resources, unless it still holds access packages (checked on
    /// the catalog's own package count, which package creation increments in its transaction).
    pub async fn delete_catalog(&self, id: &CatalogId) -> StoreResult<()> {
        let body = format!(
            "LET $c = (SELECT * FROM ONLY type::record('catalog', $id));
             IF $c == NONE {{ {missing} }};
             IF $c.accessPackageCount > 0 {{ {in_use} }};
             DELETE resource WHERE catalogId = $id;
             DELETE resource_request WHERE catalogId = $id;
             DELETE role_assignment WHERE catalogId = $id;
             DELETE custom_extension WHERE catalogId = $id;
             DELETE type::record('catalog', $id);",
            missing = throw(ErrorCode::NotFound, "id", "the catalog does not exist"),
            in_use = throw(
                ErrorCode::Conflict,
                "id",
                "the catalog still holds access packages; a catalog can be deleted only when it has none"
            ),
        );
        self.transaction(&body, vars! { "id" => id }).await?;
        self.roles_changed();
        Ok(())
    }

    pub async fn resource(&self, id: &str) -> StoreResult<Option<AccessPackageResource>> {
        self.get("resource", id).await
    }

    pub async fn resources(
        &self,
        catalog_id: &CatalogId,
        origin_system: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<AccessPackageResource>> {
        let mut conditions = vec!["catalogId = $catalog".to_owned()];
        let mut vars = vars! { "catalog" => catalog_id };
        if let Some(system) = origin_system {
            conditions.push("originSystem = $system".to_owned());
            vars.insert("system".into(), json!(system));
        }
        self.page("resource", &conditions, vars, page).await
    }

    /// Resources by id; ids that do not exist are skipped.
    pub async fn resources_by_ids(&self, ids: &[String]) -> StoreResult<Vec<AccessPackageResource>> {
        self.get_many("resource", ids).await
    }

    /// Adds a resource to its catalog and records the request, in one transaction.
    pub async fn add_resource(
        &self,
        resource: &AccessPackageResource,
        request: &ResourceRequestRow,
    ) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('catalog', $catalog)) {{ {missing} }};
             IF record::exists(type::record('resource', $id)) {{ {already} }};
             CREATE type::record('resource', $id) CONTENT $row RETURN NONE;
             CREATE type::record('resource_request', $requestId) CONTENT $request RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "catalogId", "the catalog does not exist"),
            already =
                throw(ErrorCode::Conflict, "resource.originId", "the resource is already in the catalog"),
        );
        self.transaction(
            &body,
            vars! {
                "catalog" => resource.catalog_id,
                "id" => resource.id,
                "row" => row(resource, &resource.display_name, &resource.id)?,
                "requestId" => request.id,
                "request" => request_row(request)?,
            },
        )
        .await?;
        Ok(())
    }

    /// Removes a resource from its catalog unless an access package uses one of its roles.
    pub async fn remove_resource(&self, resource_id: &str, request: &ResourceRequestRow) -> StoreResult<()> {
        let body = format!(
            "LET $r = (SELECT * FROM ONLY type::record('resource', $id));
             IF $r == NONE {{ {missing} }};
             IF $r.roleScopeCount > 0 {{ {in_use} }};
             DELETE type::record('resource', $id);
             CREATE type::record('resource_request', $requestId) CONTENT $request RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "resource.originId", "the resource is not in the catalog"),
            in_use = throw(
                ErrorCode::Conflict,
                "resource.originId",
                "an access package in the catalog still uses the resource; remove its roles from those packages first"
            ),
        );
        self.transaction(
            &body,
            vars! {
                "id" => resource_id, "requestId" => request.id, "request" => request_row(request)?
            },
        )
        .await?;
        Ok(())
    }

    pub async fn resource_requests(
        &self,
        catalog_id: &CatalogId,
        page: &PageRequest,
    ) -> StoreResult<Page<ResourceRequestRow>> {
        self.page(
            "resource_request",
            &["catalogId = $catalog".to_owned()],
            vars! { "catalog" => catalog_id },
            page,
        )
        .await
    }

    pub async fn access_package(&self, id: &AccessPackageId) -> StoreResult<Option<AccessPackage>> {
        self.get("access_package", id).await
    }

    pub async fn access_packages(
        &self,
        filter: &AccessPackageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AccessPackage>> {
        let mut conditions = Vec::new();
        let mut vars = Map::new();
        if let Some(text) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            conditions.push("string::contains(string::lowercase(displayName), $search)".to_owned());
            vars.insert("search".into(), json!(text.to_lowercase()));
        }
        if let Some(catalog) = &filter.catalog_id {
            conditions.push("catalogId = $catalog".to_owned());
            vars.insert("catalog".into(), json!(catalog));
        }
        if let Some(hidden) = filter.is_hidden {
            conditions.push("isHidden = $hidden".to_owned());
            vars.insert("hidden".into(), json!(hidden));
        }
        super::in_catalogs(filter.catalog_ids.as_deref(), &mut conditions, &mut vars);
        self.page("access_package", &conditions, vars, page).await
    }

    /// Creates a package in its catalog and counts it on the catalog, in one transaction: a
    /// concurrent catalog deletion writes the same catalog record, so one of the two loses.
    pub async fn create_access_package(&self, package: &AccessPackage) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('catalog', $catalog)) {{ {missing} }};
             UPDATE type::record('catalog', $catalog) SET accessPackageCount += 1 RETURN NONE;
             CREATE type::record('access_package', $id) CONTENT $row RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "catalogId", "the catalog does not exist"),
        );
        self.transaction(
            &body,
            vars! {
                "catalog" => package.catalog_id, "id" => package.id,
                "row" => row_of_package(package)?,
            },
        )
        .await?;
        Ok(())
    }

    /// Writes an updated package, keeping the counts its policies and assignments keep on it.
    pub async fn update_access_package(&self, package: &AccessPackage) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('access_package', $id)) {{ {missing} }};
             UPDATE type::record('access_package', $id) SET displayName = $row.displayName,
                 description = $row.description, isHidden = $row.isHidden,
                 modifiedDateTime = $row.modifiedDateTime, sortKey = $row.sortKey RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "id", "the access package does not exist"),
        );
        self.transaction(
            &body,
            vars! {
                "id" => package.id, "row" => row(package, &package.display_name, &package.id)?
            },
        )
        .await?;
        Ok(())
    }

    /// Deletes a package with its role scopes, its assignment policies and every incompatibility
    /// naming it; refused while it or one of its policies has assignments.
    pub async fn delete_access_package(&self, id: &AccessPackageId) -> StoreResult<()> {
        let body = format!(
            "LET $p = (SELECT * FROM ONLY type::record('access_package', $id));
             IF $p == NONE {{ {missing} }};
             FOR $policy IN (SELECT VALUE record::id(id) FROM assignment_policy WHERE accessPackageId = $id) {{
                 FOR $s IN $shards {{
                     UPSERT type::record('assignment_tally', [$id, $policy, $s])
                         SET accessPackageId = $id, assignmentPolicyId = $policy, n = n ?? 0 RETURN NONE;
                 }};
             }};
             IF math::sum(SELECT VALUE n FROM assignment_tally WHERE accessPackageId = $id) > 0 {{ {assigned} }};
             DELETE assignment_tally WHERE accessPackageId = $id;
             DELETE assignment_policy WHERE accessPackageId = $id;
             FOR $rs IN (SELECT resourceId FROM role_scope WHERE accessPackageId = $id) {{
                 UPDATE type::record('resource', $rs.resourceId) SET roleScopeCount -= 1 RETURN NONE;
             }};
             DELETE role_scope WHERE accessPackageId = $id;
             DELETE incompatibility WHERE accessPackageId = $id OR (kind = 'accessPackage' AND targetId = $id);
             UPDATE type::record('catalog', $p.catalogId) SET accessPackageCount -= 1 RETURN NONE;
             DELETE type::record('access_package', $id);",
            missing = throw(ErrorCode::NotFound, "id", "the access package does not exist"),
            assigned = throw(
                ErrorCode::Conflict,
                "id",
                "the access package has assignments; an access package can be deleted only when it has none"
            ),
        );
        self.transaction(&body, vars! { "id" => id, "shards" => super::requests::tally_shards() }).await?;
        Ok(())
    }

    pub async fn role_scopes(
        &self,
        package_id: &AccessPackageId,
    ) -> StoreResult<Vec<AccessPackageResourceRoleScope>> {
        self.all(
            "role_scope",
            "accessPackageId = $package",
            "createdDateTime, id",
            vars! { "package" => package_id },
        )
        .await
    }

    /// Adds a role scope; the package and the resource must still exist, and the same role and
    /// scope cannot be in the package twice.
    pub async fn add_role_scope(&self, role_scope: &AccessPackageResourceRoleScope) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('access_package', $package)) {{ {missing_package} }};
             IF !record::exists(type::record('resource', $resource)) {{ {missing_resource} }};
             IF record::exists(type::record('role_scope', $key)) {{ {already} }};
             UPDATE type::record('resource', $resource) SET roleScopeCount += 1 RETURN NONE;
             CREATE type::record('role_scope', $key) CONTENT $row RETURN NONE;",
            missing_package =
                throw(ErrorCode::NotFound, "accessPackageId", "the access package does not exist"),
            missing_resource = throw(ErrorCode::NotFound, "resourceId", "the resource is not in the catalog"),
            already = throw(
                ErrorCode::Conflict,
                "roleId",
                "the access package already holds this role at this scope"
            ),
        );
        self.transaction(
            &body,
            vars! {
                "package" => role_scope.access_package_id,
                "resource" => role_scope.resource_id,
                "key" => role_scope_key(&role_scope.access_package_id, &role_scope.id),
                "row" => content(role_scope)?,
            },
        )
        .await?;
        Ok(())
    }

    pub async fn remove_role_scope(
        &self,
        package_id: &AccessPackageId,
        role_scope_id: &str,
    ) -> StoreResult<()> {
        let body = format!(
            "LET $rs = (SELECT * FROM ONLY type::record('role_scope', $key));
             IF $rs == NONE {{ {missing} }};
             UPDATE type::record('resource', $rs.resourceId) SET roleScopeCount -= 1 RETURN NONE;
             DELETE type::record('role_scope', $key);",
            missing = throw(ErrorCode::NotFound, "roleScopeId", "the access package has no such role scope"),
        );
        self.transaction(&body, vars! { "key" => role_scope_key(package_id, role_scope_id) }).await?;
        Ok(())
    }

    /// Incompatibilities declared by a package (`incompatibleAccessPackages`, `incompatibleGroups`).
    pub async fn incompatibilities_from(
        &self,
        package_id: &AccessPackageId,
        kind: IncompatibilityKind,
    ) -> StoreResult<Vec<IncompatibilityRow>> {
        self.all(
            "incompatibility",
            "accessPackageId = $package AND kind = $kind",
            "targetId",
            vars! {
                "package" => package_id, "kind" => kind.as_str()
            },
        )
        .await
    }

    /// The ids of the packages or groups `package_id` declares incompatible.
    pub async fn incompatible_ids(
        &self,
        package_id: &AccessPackageId,
        kind: IncompatibilityKind,
    ) -> StoreResult<Vec<String>> {
        Ok(self
            .incompatibilities_from(package_id, kind)
            .await?
            .into_iter()
            .map(|row| row.target_id)
            .collect())
    }

    /// The packages `package_id` declares incompatible.
    pub async fn incompatible_package_ids(
        &self,
        package_id: &AccessPackageId,
    ) -> StoreResult<Vec<AccessPackageId>> {
        let ids = self.incompatible_ids(package_id, IncompatibilityKind::AccessPackage).await?;
        Ok(ids.into_iter().map(AccessPackageId::from).collect())
    }

    /// Packages that declare `package_id` incompatible (`accessPackagesIncompatibleWith`).
    pub async fn incompatibilities_to(
        &self,
        package_id: &AccessPackageId,
    ) -> StoreResult<Vec<IncompatibilityRow>> {
        self.all(
            "incompatibility",
            "targetId = $package AND kind = 'accessPackage'",
            "accessPackageId",
            vars! {
                "package" => package_id
            },
        )
        .await
    }

    /// Adds a one-way incompatibility edge; both ends must exist.
    pub async fn add_incompatibility(
        &self,
        package_id: &AccessPackageId,
        kind: IncompatibilityKind,
        target_id: &str,
        created: &str,
    ) -> StoreResult<()> {
        let target_table = match kind {
            IncompatibilityKind::AccessPackage => "access_package",
            IncompatibilityKind::Group => "group",
        };
        let body = format!(
            "IF !record::exists(type::record('access_package', $package)) {{ {missing_package} }};
             IF !record::exists(type::record('{target_table}', $target)) {{ {missing_target} }};
             IF record::exists(type::record('incompatibility', [$package, $kind, $target])) {{ {already} }};
             CREATE type::record('incompatibility', [$package, $kind, $target])
                 CONTENT {{ accessPackageId: $package, kind: $kind, targetId: $target, createdDateTime: $created }} RETURN NONE;",
            missing_package = throw(ErrorCode::NotFound, "accessPackageId", "the access package does not exist"),
            missing_target = throw(ErrorCode::NotFound, "targetId", &format!("the incompatible {} does not exist", kind_label(kind))),
            already = throw(ErrorCode::Conflict, "targetId", &format!("the {} is already incompatible with the access package", kind_label(kind))),
        );
        self.transaction(
            &body,
            vars! {
                "package" => package_id, "kind" => kind.as_str(), "target" => target_id, "created" => created
            },
        )
        .await?;
        Ok(())
    }

    pub async fn remove_incompatibility(
        &self,
        package_id: &AccessPackageId,
        kind: IncompatibilityKind,
        target_id: &str,
    ) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('incompatibility', [$package, $kind, $target])) {{ {missing} }};
             DELETE type::record('incompatibility', [$package, $kind, $target]);",
            missing = throw(
                ErrorCode::NotFound,
                "targetId",
                &format!("the {} is not incompatible with the access package", kind_label(kind))
            ),
        );
        self.transaction(
            &body,
            vars! { "package" => package_id, "kind" => kind.as_str(), "target" => target_id },
        )
        .await?;
        Ok(())
    }
}

fn kind_label(kind: IncompatibilityKind) -> &'static str {
    match kind {
        IncompatibilityKind::AccessPackage => "access package",
        IncompatibilityKind::Group => "group",
    }
}

/// Role scope ids (`<roleId>_<scopeId>`) are unique within a package, so the record key pairs them.
fn role_scope_key(package_id: &AccessPackageId, role_scope_id: &str) -> Value {
    json!([package_id, role_scope_id])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    /// A delegate's catalogs are read by id: the plan iterates the records named, not the table,
    /// and the page is what the ids select, in sort-key order.
    #[tokio::test]
    async fn a_delegates_catalogs_are_read_by_id() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let now = chrono::Utc::now();
        let mut ids = Vec::new();
        for i in 0..40 {
            let catalog = AccessPackageCatalog::create(
                format!("c{i:03}").into(),
                em_engine::catalog::NewCatalog {
                    display_name: format!("Catalog {i:03}"),
                    ..Default::default()
                },
                now,
            )
            .unwrap();
            store.create_catalog(&catalog, None, None).await.unwrap();
            if i % 4 == 0 {
                ids.push(catalog.id);
            }
        }
        let filter = CatalogFilter { ids: Some(ids.clone()), ..CatalogFilter::default() };
        let page =
            store.catalogs(&filter, &PageRequest { after: None, first: 3, count: true }).await.unwrap();
        assert_eq!(page.total, 10);
        assert!(page.has_next);
        let names: Vec<&str> = page.items.iter().map(|(_, c)| c.display_name.as_str()).collect();
        assert_eq!(names, ["Catalog 000", "Catalog 004", "Catalog 008"]);
        let next = PageRequest { after: page.items.last().map(|(k, _)| k.clone()), first: 10, count: true };
        let rest = store.catalogs(&filter, &next).await.unwrap();
        assert_eq!(rest.items.len(), 7);
        assert!(!rest.has_next);

        let explain = |sql: String| {
            let store = store.clone();
            let ids = ids.clone();
            async move {
                let plan: Vec<Value> = store
                    .db
                    .query(sql)
                    .bind(("ids", ids.iter().map(ToString::to_string).collect::<Vec<_>>()))
                    .bind(("table", "catalog"))
                    .await
                    .unwrap()
                    .take(0)
                    .unwrap();
                Value::Array(plan).to_string()
            }
        };
        let by_id =
            explain(format!("SELECT id FROM {} WHERE true EXPLAIN;", super::super::RECORDS_OF_IDS)).await;
        assert!(
            by_id.contains("DynamicScan") && !by_id.contains("TableScan"),
            "the records named, not the table: {by_id}"
        );
        let scan = explain("SELECT id FROM catalog WHERE true EXPLAIN;".to_owned()).await;
        assert!(scan.contains("TableScan"), "a listing of every catalog scans the table: {scan}");
    }
}
