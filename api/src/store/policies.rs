//! Assignment policies in the store.
//!
//! A record keeps the policy's whole document (`policy`, the engine's JSON) beside the typed
//! fields that queries and guards read: the package and catalog, the scope, whether it assigns
//! automatically, the users and groups it names as targets, and its assignment count.
//!
//! Guards, each inside the change's transaction:
//! - a policy is created only while its access package exists, and counts itself on the package
//!   (`policyCount`), so creating a policy and deleting its package write the same record and
//!   cannot both commit;
//! - a package has at most one auto-assignment policy (`automaticPolicyCount`, asserted ≤ 1);
//! - a policy with assignments cannot be deleted, nor can a package whose policies have any.

use em_engine::ErrorCode;
use em_engine::access_package::AccessPackage;
use em_engine::id::{AccessPackageId, CatalogId, PolicyId};
use em_engine::policy::{AccessPackageAssignmentPolicy, SubjectSet};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Page, PageRequest, Store, StoreResult, content, sort_key, throw};
use crate::vars;

/// A policy as stored: the engine's policy and what the store keeps about it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "PolicyRecord")]
pub struct StoredPolicy {
    pub policy: AccessPackageAssignmentPolicy,
    /// The catalog of the policy's access package.
    pub catalog_id: CatalogId,
    /// Assignments made through the policy; while there are any, it cannot be deleted.
    pub assignment_count: u64,
}

/// Filters for listing policies.
#[derive(Debug, Clone, Default)]
pub struct PolicyFilter {
    pub access_package_id: Option<AccessPackageId>,
    pub catalog_id: Option<CatalogId>,
    /// Only policies of these catalogs; `None`: every catalog.
    pub catalog_ids: Option<Vec<CatalogId>>,
}

/// The record as SurrealDB returns it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyRecord {
    id: String,
    catalog_id: CatalogId,
    #[serde(default)]
    assignment_count: Option<i64>,
    policy: Value,
}

impl TryFrom<PolicyRecord> for StoredPolicy {
    type Error = serde_json::Error;

    fn try_from(record: PolicyRecord) -> Result<Self, Self::Error> {
        let mut document = record.policy;
        if let Some(object) = document.as_object_mut() {
            object.insert("id".into(), Value::String(record.id));
        }
        Ok(Self {
            policy: serde_json::from_value(document)?,
            catalog_id: record.catalog_id,
            assignment_count: record.assignment_count.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        })
    }
}

/// The users and groups a policy names in `specificAllowedTargets`, lower-cased (the engine
/// compares ids case-insensitively).
fn target_ids(policy: &AccessPackageAssignmentPolicy) -> Vec<String> {
    policy
        .specific_allowed_targets
        .iter()
        .filter_map(|set| match set {
            SubjectSet::SingleUser { user_id: id, .. } | SubjectSet::GroupMembers { group_id: id, .. } => {
                Some(id.to_lowercase())
            }
            _ => None,
        })
        .collect()
}

/// The record content of a policy (its counts are kept by the transactions, not written here).
fn policy_row(policy: &AccessPackageAssignmentPolicy, catalog_id: &CatalogId) -> StoreResult<Value> {
    let document = content(policy)?;
    Ok(json!({
        "accessPackageId": policy.access_package_id,
        "catalogId": catalog_id,
        "displayName": policy.display_name,
        "allowedTargetScope": policy.allowed_target_scope.as_str(),
        "isAutomatic": policy.is_automatic(),
        "targetIds": target_ids(policy),
        "connectedOrganizationIds": organization_ids(policy),
        "customExtensionIds": extension_ids(policy),
        "createdDateTime": document.get("createdDateTime").cloned().unwrap_or(Value::Null),
        "modifiedDateTime": document.get("modifiedDateTime").cloned().unwrap_or(Value::Null),
        "sortKey": sort_key(&policy.display_name, &policy.id),
        "policy": document,
    }))
}

/// The connected organizations a policy names in `specificAllowedTargets`.
fn organization_ids(policy: &AccessPackageAssignmentPolicy) -> Vec<String> {
    let mut ids: Vec<String> = policy
        .specific_allowed_targets
        .iter()
        .filter_map(|set| match set {
            SubjectSet::ConnectedOrganizationMembers { connected_organization_id, .. } => {
                Some(connected_organization_id.clone())
            }
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The custom extensions a policy calls at its stages.
fn extension_ids(policy: &AccessPackageAssignmentPolicy) -> Vec<String> {
    let mut ids: Vec<String> =
        policy.custom_extension_stage_settings.iter().map(|s| s.custom_extension_id.to_string()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The statements that check the organizations and extensions a policy row names exist and
/// write each of them, so that deleting one of them and saving the policy cannot both commit.
fn name_organizations() -> String {
    format!(
        "FOR $o IN $row.connectedOrganizationIds {{
             IF !record::exists(type::record('connected_organization', $o)) {{ {missing} }};
             UPDATE type::record('connected_organization', $o) SET namedByPolicyDateTime = $row.modifiedDateTime RETURN NONE;
         }};
         FOR $e IN $row.customExtensionIds {{
             IF !record::exists(type::record('custom_extension', $e)) {{ {no_extension} }};
             UPDATE type::record('custom_extension', $e) SET namedByPolicyDateTime = $row.modifiedDateTime RETURN NONE;
         }};",
        no_extension = throw(
            ErrorCode::NotFound,
            "customExtensionStageSettings",
            "a custom extension the policy calls does not exist"
        ),
        missing = throw(
            ErrorCode::NotFound,
            "specificAllowedTargets",
            "a connected organization the policy names does not exist"
        ),
    )
}

/// The guard of the one-auto-assignment-policy rule.
fn second_automatic() -> String {
    throw(
        ErrorCode::ValidationFailed,
        "automaticRequestSettings",
        "the access package already has an auto-assignment policy, and Graph allows one per package; change that policy instead",
    )
}

impl Store {
    pub async fn assignment_policy(&self, id: &PolicyId) -> StoreResult<Option<StoredPolicy>> {
        let sql = "SELECT *, record::id(id) AS id,
                       math::sum(SELECT VALUE n FROM assignment_tally WHERE assignmentPolicyId = $id) AS assignmentCount
                   FROM ONLY type::record('assignment_policy', $id);";
        match self.read(sql, vars! { "id" => id }).await?.value(0)? {
            Value::Null => Ok(None),
            row => super::decode("assignment_policy", row).map(Some),
        }
    }

    /// Policies by id, with their assignment counts; ids that do not exist are skipped. Only those
    /// records are read.
    pub async fn assignment_policies_by_ids(&self, ids: &[PolicyId]) -> StoreResult<Vec<StoredPolicy>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = "SELECT *, record::id(id) AS id,
                       math::sum((SELECT VALUE n FROM assignment_tally WHERE assignmentPolicyId = record::id($parent.id))) AS assignmentCount
                   FROM array::filter(array::map($ids, |$i| type::record('assignment_policy', $i)), |$r| record::exists($r));";
        self.read(sql, vars! { "ids" => ids }).await?.rows(0, "assignment_policy")
    }

    /// One page of policies, ordered by display name.
    pub async fn assignment_policies(
        &self,
        filter: &PolicyFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<StoredPolicy>> {
        let mut conditions = Vec::new();
        let mut vars = Map::new();
        if let Some(package) = &filter.access_package_id {
            conditions.push("accessPackageId = $package".to_owned());
            vars.insert("package".into(), json!(package));
        }
        if let Some(catalog) = &filter.catalog_id {
            conditions.push("catalogId = $catalog".to_owned());
            vars.insert("catalog".into(), json!(catalog));
        }
        super::in_catalogs(filter.catalog_ids.as_deref(), &mut conditions, &mut vars);
        self.page("assignment_policy", &conditions, vars, page).await
    }

    /// Every policy of an access package, ordered by display name.
    pub async fn assignment_policies_of_package(
        &self,
        package_id: &AccessPackageId,
    ) -> StoreResult<Vec<StoredPolicy>> {
        self.all(
            "assignment_policy",
            "accessPackageId = $package",
            "sortKey",
            vars! { "package" => package_id },
        )
        .await
    }

    /// Every policy with reviews enabled.
    pub async fn reviewed_policies(&self) -> StoreResult<Vec<StoredPolicy>> {
        self.all("assignment_policy", "policy.reviewSettings.isEnabled = true", "sortKey", Map::new()).await
    }

    /// Every auto-assignment policy, ordered by display name.
    pub async fn automatic_policies(&self) -> StoreResult<Vec<StoredPolicy>> {
        self.all("assignment_policy", "isAutomatic = true", "sortKey", Map::new()).await
    }

    /// Every policy of the packages of a catalog, ordered by display name.
    pub async fn assignment_policies_of_catalog(
        &self,
        catalog_id: &CatalogId,
    ) -> StoreResult<Vec<StoredPolicy>> {
        self.all("assignment_policy", "catalogId = $catalog", "sortKey", vars! { "catalog" => catalog_id })
            .await
    }

    /// The request-based policies a user could request through: those for all members or all
    /// users, those naming the user or one of `principal_ids` (the user and their groups) as
    /// targets, and for someone from connected organization `organization_id` (`""`: one not
    /// connected) those for external users. A superset of what applies (the engine decides),
    /// never less.
    pub async fn requestable_assignment_policies(
        &self,
        principal_ids: &[String],
        organization_id: Option<&str>,
    ) -> StoreResult<Vec<StoredPolicy>> {
        let ids: Vec<String> = principal_ids.iter().map(|id| id.to_lowercase()).collect();
        let external = if organization_id.is_some() {
            " OR allowedTargetScope IN ['allExternalUsers', 'allConfiguredConnectedOrganizationUsers'] \
             OR (allowedTargetScope = 'specificConnectedOrganizationUsers' AND connectedOrganizationIds CONTAINS $org)"
        } else {
            ""
        };
        self.all(
            "assignment_policy",
            &format!(
                "isAutomatic = false AND (allowedTargetScope IN ['allMemberUsers', 'allDirectoryUsers'] \
                 OR (allowedTargetScope = 'specificDirectoryUsers' AND targetIds CONTAINSANY $ids){external})"
            ),
            "accessPackageId, sortKey",
            vars! { "ids" => ids, "org" => organization_id.unwrap_or_default() },
        )
        .await
    }

    /// Access packages by id, ordered by display name; ids that do not exist are skipped.
    pub async fn access_packages_by_ids(&self, ids: &[AccessPackageId]) -> StoreResult<Vec<AccessPackage>> {
        let mut packages: Vec<AccessPackage> = self.get_many("access_package", ids).await?;
        packages.sort_by_cached_key(|p| sort_key(&p.display_name, &p.id));
        Ok(packages)
    }

    /// Creates a policy of an existing package and counts it there; a second auto-assignment
    /// policy is refused.
    pub async fn create_assignment_policy(
        &self,
        policy: &AccessPackageAssignmentPolicy,
        catalog_id: &CatalogId,
    ) -> StoreResult<()> {
        let body = format!(
            "LET $p = (SELECT * FROM ONLY type::record('access_package', $package));
             IF $p == NONE {{ {missing} }};
             IF $automatic AND $p.automaticPolicyCount > 0 {{ {second} }};
             {organizations}
             UPDATE type::record('access_package', $package)
                 SET policyCount += 1, automaticPolicyCount += (IF $automatic {{ 1 }} ELSE {{ 0 }}) RETURN NONE;
             CREATE type::record('assignment_policy', $id) CONTENT $row RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "accessPackageId", "the access package does not exist"),
            second = second_automatic(),
            organizations = name_organizations(),
        );
        self.transaction(
            &body,
            vars! {
                "package" => policy.access_package_id,
                "id" => policy.id,
                "automatic" => policy.is_automatic(),
                "row" => policy_row(policy, catalog_id)?,
            },
        )
        .await?;
        Ok(())
    }

    /// Replaces a policy's document (Graph's `PUT`), keeping its package, catalog and counts.
    pub async fn replace_assignment_policy(&self, policy: &AccessPackageAssignmentPolicy) -> StoreResult<()> {
        let body = format!(
            "LET $old = (SELECT * FROM ONLY type::record('assignment_policy', $id));
             IF $old == NONE {{ {missing} }};
             LET $p = (SELECT * FROM ONLY type::record('access_package', $old.accessPackageId));
             IF $automatic AND !$old.isAutomatic AND $p.automaticPolicyCount > 0 {{ {second} }};
             {organizations}
             LET $delta = IF $automatic == $old.isAutomatic {{ 0 }} ELSE IF $automatic {{ 1 }} ELSE {{ -1 }};
             UPDATE type::record('access_package', $old.accessPackageId)
                 SET automaticPolicyCount += $delta RETURN NONE;
             UPDATE type::record('assignment_policy', $id) SET displayName = $row.displayName,
                 allowedTargetScope = $row.allowedTargetScope, isAutomatic = $row.isAutomatic,
                 targetIds = $row.targetIds, connectedOrganizationIds = $row.connectedOrganizationIds,
                 customExtensionIds = $row.customExtensionIds,
                 modifiedDateTime = $row.modifiedDateTime,
                 sortKey = $row.sortKey, policy = $row.policy RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "id", "the assignment policy does not exist"),
            second = second_automatic(),
            organizations = name_organizations(),
        );
        self.transaction(
            &body,
            vars! {
                "id" => policy.id,
                "automatic" => policy.is_automatic(),
                // The catalog is kept from the record; the row's is not written.
                "row" => policy_row(policy, &CatalogId::default())?,
            },
        )
        .await?;
        Ok(())
    }

    /// Deletes a policy unless assignments were made through it.
    pub async fn delete_assignment_policy(&self, id: &PolicyId) -> StoreResult<()> {
        let body = format!(
            "LET $old = (SELECT * FROM ONLY type::record('assignment_policy', $id));
             IF $old == NONE {{ {missing} }};
             FOR $s IN $shards {{
                 UPSERT type::record('assignment_tally', [$old.accessPackageId, $id, $s])
                     SET accessPackageId = $old.accessPackageId, assignmentPolicyId = $id, n = n ?? 0 RETURN NONE;
             }};
             IF math::sum(SELECT VALUE n FROM assignment_tally WHERE assignmentPolicyId = $id) > 0 {{ {in_use} }};
             DELETE assignment_tally WHERE assignmentPolicyId = $id;
             UPDATE type::record('access_package', $old.accessPackageId)
                 SET policyCount -= 1, automaticPolicyCount -= (IF $old.isAutomatic {{ 1 }} ELSE {{ 0 }}) RETURN NONE;
             DELETE type::record('assignment_policy', $id);",
            missing = throw(ErrorCode::NotFound, "id", "the assignment policy does not exist"),
            in_use = throw(
                ErrorCode::Conflict,
                "id",
                "assignments were made through the policy; a policy can be deleted only when it has none"
            ),
        );
        self.transaction(&body, vars! { "id" => id, "shards" => super::requests::tally_shards() }).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use em_engine::access_package::{AccessPackage, NewAccessPackage};
    use em_engine::catalog::AccessPackageCatalog;
    use em_engine::policy::{AutomaticRequestSettings, PolicyInput};

    use super::*;
    use crate::store::{StoreConfig, StoreError};

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    /// A store with the General catalog and one access package, `ap`.
    async fn store() -> (Store, AccessPackage) {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let general = AccessPackageCatalog::general(now());
        store.ensure_catalog(&general).await.unwrap();
        let new = NewAccessPackage {
            catalog_id: general.id.clone(),
            display_name: "Package".into(),
            description: None,
            is_hidden: None,
        };
        let package = AccessPackage::create("ap".into(), new, now()).unwrap();
        store.create_access_package(&package).await.unwrap();
        (store, package)
    }

    fn direct(id: &str) -> AccessPackageAssignmentPolicy {
        let input =
            PolicyInput { access_package_id: "ap".into(), display_name: id.into(), ..PolicyInput::default() };
        AccessPackageAssignmentPolicy::create(id.into(), input, now()).unwrap()
    }

    fn automatic(id: &str) -> AccessPackageAssignmentPolicy {
        let input = PolicyInput {
            access_package_id: "ap".into(),
            display_name: id.into(),
            allowed_target_scope: em_engine::policy::AllowedTargetScope::SpecificDirectoryUsers,
            specific_allowed_targets: vec![SubjectSet::AttributeRuleMembers {
                membership_rule: "user.department -eq \"Sales\"".into(),
                description: None,
            }],
            automatic_request_settings: Some(AutomaticRequestSettings::default()),
            ..PolicyInput::default()
        };
        AccessPackageAssignmentPolicy::create(id.into(), input, now()).unwrap()
    }

    async fn counts(store: &Store, table: &str, id: &str) -> Value {
        let sql = format!("SELECT policyCount, automaticPolicyCount FROM ONLY type::record('{table}', $id);");
        store.read(&sql, vars! { "id" => id }).await.unwrap().value(0).unwrap()
    }

    fn refusal(result: StoreResult<()>) -> (ErrorCode, Option<String>) {
        match result {
            Err(StoreError::Domain(e)) => (e.code, e.field),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn policies_round_trip_and_are_counted_on_their_package() {
        let (store, package) = store().await;
        let policy = direct("p1");
        store.create_assignment_policy(&policy, &package.catalog_id).await.unwrap();
        let stored = store.assignment_policy(&PolicyId::new("p1")).await.unwrap().unwrap();
        assert_eq!(stored.policy, policy);
        assert_eq!((stored.catalog_id.as_str(), stored.assignment_count), (package.catalog_id.as_str(), 0));
        assert_eq!(counts(&store, "access_package", "ap").await["policyCount"], 1);

        let mut renamed = policy.clone();
        renamed.display_name = "Renamed".into();
        store.replace_assignment_policy(&renamed).await.unwrap();
        assert_eq!(store.assignment_policy(&PolicyId::new("p1")).await.unwrap().unwrap().policy, renamed);
        assert_eq!(store.assignment_policies_of_package(&package.id).await.unwrap().len(), 1);
        assert_eq!(store.assignment_policies_of_catalog(&package.catalog_id).await.unwrap().len(), 1);

        store.delete_assignment_policy(&PolicyId::new("p1")).await.unwrap();
        assert_eq!(store.assignment_policy(&PolicyId::new("p1")).await.unwrap(), None);
        assert_eq!(counts(&store, "access_package", "ap").await["policyCount"], 0);
        assert_eq!(
            refusal(store.delete_assignment_policy(&PolicyId::new("p1")).await),
            (ErrorCode::NotFound, Some("id".into()))
        );
    }

    #[tokio::test]
    async fn a_policy_needs_its_package() {
        let (store, package) = store().await;
        let mut policy = direct("p1");
        policy.access_package_id = "ghost".into();
        assert_eq!(
            refusal(store.create_assignment_policy(&policy, &package.catalog_id).await),
            (ErrorCode::NotFound, Some("accessPackageId".into()))
        );
    }

    #[tokio::test]
    async fn a_package_has_at_most_one_auto_assignment_policy() {
        let (store, package) = store().await;
        store.create_assignment_policy(&automatic("a1"), &package.catalog_id).await.unwrap();
        let refused = (ErrorCode::ValidationFailed, Some("automaticRequestSettings".to_owned()));
        assert_eq!(
            refusal(store.create_assignment_policy(&automatic("a2"), &package.catalog_id).await),
            refused
        );
        // Turning a request policy into a second automatic one is refused too.
        store.create_assignment_policy(&direct("p1"), &package.catalog_id).await.unwrap();
        let changed = automatic("p1");
        assert_eq!(refusal(store.replace_assignment_policy(&changed).await), refused);
        // Once the automatic policy is a request policy, another may assign automatically.
        store.replace_assignment_policy(&direct("a1")).await.unwrap();
        store.replace_assignment_policy(&changed).await.unwrap();
        assert_eq!(counts(&store, "access_package", "ap").await["automaticPolicyCount"], 1);
        store.delete_assignment_policy(&PolicyId::new("p1")).await.unwrap();
        assert_eq!(counts(&store, "access_package", "ap").await["automaticPolicyCount"], 0);
    }

    #[tokio::test]
    async fn assignments_block_deleting_the_policy_and_its_package() {
        let (store, package) = store().await;
        store.create_assignment_policy(&direct("p1"), &package.catalog_id).await.unwrap();
        // What a delivered request will do in its transaction.
        store
            .transaction(
                "UPSERT assignment_tally:['ap', 'p1', 3] SET accessPackageId = 'ap', assignmentPolicyId = 'p1', n = 1 RETURN NONE;",
                Map::new(),
            )
            .await
            .unwrap();
        assert_eq!(store.assignment_policy(&PolicyId::new("p1")).await.unwrap().unwrap().assignment_count, 1);
        assert_eq!(
            refusal(store.delete_assignment_policy(&PolicyId::new("p1")).await),
            (ErrorCode::Conflict, Some("id".into()))
        );
        assert_eq!(
            refusal(store.delete_access_package(&AccessPackageId::new("ap")).await),
            (ErrorCode::Conflict, Some("id".into()))
        );
        assert!(
            store.assignment_policy(&PolicyId::new("p1")).await.unwrap().is_some(),
            "a refusal changes nothing"
        );

        // Tallies of one shard may go below zero: their sum is what counts.
        store
            .transaction(
                "UPSERT assignment_tally:['ap', 'p1', 5] SET accessPackageId = 'ap', assignmentPolicyId = 'p1', n = -1 RETURN NONE;",
                Map::new(),
            )
            .await
            .unwrap();
        assert_eq!(store.assignment_policy(&PolicyId::new("p1")).await.unwrap().unwrap().assignment_count, 0);
        store.delete_access_package(&AccessPackageId::new("ap")).await.unwrap();
        assert_eq!(
            store.assignment_policy(&PolicyId::new("p1")).await.unwrap(),
            None,
            "policies go with their package"
        );
    }

    #[tokio::test]
    async fn updating_a_package_keeps_its_counts() {
        let (store, package) = store().await;
        store.create_assignment_policy(&automatic("a1"), &package.catalog_id).await.unwrap();
        let mut renamed = package.clone();
        renamed.display_name = "Renamed".into();
        store.update_access_package(&renamed).await.unwrap();
        assert_eq!(
            counts(&store, "access_package", "ap").await,
            json!({"policyCount": 1, "automaticPolicyCount": 1})
        );
    }

    #[tokio::test]
    async fn requestable_policies_are_found_by_scope_and_named_targets() {
        let (store, package) = store().await;
        let named = |id: &str, target: SubjectSet| {
            let input = PolicyInput {
                access_package_id: "ap".into(),
                display_name: id.into(),
                allowed_target_scope: em_engine::policy::AllowedTargetScope::SpecificDirectoryUsers,
                specific_allowed_targets: vec![target],
                requestor_settings: em_engine::policy::RequestorSettings {
                    enable_targets_to_self_add_access: true,
                    ..Default::default()
                },
                ..PolicyInput::default()
            };
            AccessPackageAssignmentPolicy::create(id.into(), input, now()).unwrap()
        };
        let all = PolicyInput {
            access_package_id: "ap".into(),
            display_name: "all".into(),
            allowed_target_scope: em_engine::policy::AllowedTargetScope::AllMemberUsers,
            ..PolicyInput::default()
        };
        let policies = [
            named("by-user", SubjectSet::SingleUser { user_id: "U-Bob".into(), description: None }),
            named("by-group", SubjectSet::GroupMembers { group_id: "g-sales".into(), description: None }),
            named("other", SubjectSet::SingleUser { user_id: "u-dan".into(), description: None }),
            AccessPackageAssignmentPolicy::create("all".into(), all, now()).unwrap(),
            direct("direct"),
            automatic("auto"),
        ];
        for policy in &policies {
            store.create_assignment_policy(policy, &package.catalog_id).await.unwrap();
        }
        let found =
            store.requestable_assignment_policies(&["u-bob".into(), "G-SALES".into()], None).await.unwrap();
        let mut ids: Vec<&str> = found.iter().map(|p| p.policy.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["all", "by-group", "by-user"]);
    }
}
