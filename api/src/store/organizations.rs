//! Connected organizations and the tenant's entitlement-management settings in the store.
//!
//! An organization's row is the organization as Graph writes it, with `sortKey` (name, then id)
//! and `claims` (the tenants and domains of its identity sources). Each claim is also a record of
//! its own, `organization_claim:⟨tenant:…⟩` or `⟨domain:…⟩`, created in the organization's
//! transaction: two organizations racing for one domain write the same record, and the second
//! is refused `CONFLICT`. A policy that names an organization writes the organization's record
//! in its transaction, so an organization is never deleted under a policy being saved.
//! The settings are one record, `settings:entitlementManagement`.

use em_engine::ErrorCode;
use em_engine::connected_organization::{
    Claim, ConnectedOrganization, ConnectedOrganizationState, EntitlementManagementSettings,
};
use em_engine::id::ConnectedOrganizationId;
use serde_json::{Map, Value, json};

use super::{Page, PageRequest, Store, StoreResult, content, sort_key, throw};
use crate::vars;

/// Graph's `$filter` on connected organizations.
#[derive(Debug, Clone, Default)]
pub struct OrganizationFilter {
    /// `displayName eq` (case-insensitive).
    pub display_name: Option<String>,
    pub state: Option<ConnectedOrganizationState>,
}

/// The record id of a claim.
fn claim_key(claim: &Claim) -> String {
    match claim {
        Claim::Tenant(t) => format!("tenant:{t}"),
        Claim::Domain(d) => format!("domain:{d}"),
    }
}

fn row(org: &ConnectedOrganization) -> StoreResult<Value> {
    let mut row = content(org)?;
    if let Some(object) = row.as_object_mut() {
        object.insert("sortKey".into(), json!(sort_key(&org.display_name, &org.id)));
        object.insert("claims".into(), json!(org.claims().map(|c| claim_key(&c)).collect::<Vec<_>>()));
    }
    Ok(row)
}

/// The statements that create the claims of `$claims` for organization `$id`, refusing one that
/// another organization holds.
fn claim_statements() -> String {
    format!(
        "FOR $c IN $claims {{
             IF record::exists(type::record('organization_claim', $c)) {{ {taken} }};
             CREATE type::record('organization_claim', $c) SET organizationId = $id RETURN NONE;
         }};",
        taken = throw(
            ErrorCode::Conflict,
            "identitySources",
            "a tenant or domain of the identity sources belongs to another connected organization"
        ),
    )
}

impl Store {
    pub async fn connected_organization(&self, id: &str) -> StoreResult<Option<ConnectedOrganization>> {
        self.get("connected_organization", id).await
    }

    /// The organizations with these ids that exist, in no particular order.
    pub async fn connected_organizations_by_ids(
        &self,
        ids: &[String],
    ) -> StoreResult<Vec<ConnectedOrganization>> {
        self.get_many("connected_organization", ids).await
    }

    /// Every connected organization, for the in-memory index.
    pub async fn all_connected_organizations(&self) -> StoreResult<Vec<ConnectedOrganization>> {
        self.all("connected_organization", "true", "sortKey", Map::new()).await
    }

    /// One page of connected organizations, by name.
    pub async fn connected_organizations(
        &self,
        filter: &OrganizationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ConnectedOrganization>> {
        let mut conditions = Vec::new();
        let mut vars = Map::new();
        if let Some(name) = &filter.display_name {
            conditions.push("string::lowercase(displayName) = $name".to_owned());
            vars.insert("name".into(), json!(name.trim().to_lowercase()));
        }
        if let Some(state) = filter.state {
            conditions.push("state = $state".to_owned());
            vars.insert("state".into(), json!(state.as_str()));
        }
        self.page("connected_organization", &conditions, vars, page).await
    }

    /// Creates an organization with its claims (`CONFLICT` when another holds one).
    pub async fn create_connected_organization(&self, org: &ConnectedOrganization) -> StoreResult<()> {
        let body = format!(
            "{claims}
             CREATE type::record('connected_organization', $id) CONTENT $row RETURN NONE;",
            claims = claim_statements(),
        );
        self.write_organization(&body, org).await
    }

    /// Writes an updated organization (properties, identity sources, sponsors), moving its claims.
    pub async fn update_connected_organization(&self, org: &ConnectedOrganization) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('connected_organization', $id)) {{ {missing} }};
             DELETE organization_claim WHERE organizationId = $id;
             {claims}
             UPDATE type::record('connected_organization', $id) MERGE $row RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "id", "the connected organization does not exist"),
            claims = claim_statements(),
        );
        self.write_organization(&body, org).await
    }

    /// Runs `body` with the organization's row and claims as `$row` and `$claims`.
    async fn write_organization(&self, body: &str, org: &ConnectedOrganization) -> StoreResult<()> {
        let claims: Vec<String> = org.claims().map(|c| claim_key(&c)).collect();
        self.untracked()
            .transaction(body, vars! { "id" => org.id, "row" => row(org)?, "claims" => claims })
            .await?;
        Ok(())
    }

    /// Deletes an organization and its claims; refused (`CONFLICT`) while a policy names it.
    pub async fn delete_connected_organization(&self, id: &ConnectedOrganizationId) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('connected_organization', $id)) {{ {missing} }};
             IF count(SELECT VALUE id FROM assignment_policy WHERE $id IN connectedOrganizationIds) > 0 {{ {named} }};
             DELETE organization_claim WHERE organizationId = $id;
             DELETE type::record('connected_organization', $id);",
            missing = throw(ErrorCode::NotFound, "id", "the connected organization does not exist"),
            named = throw(
                ErrorCode::Conflict,
                "id",
                "an assignment policy names the connected organization; remove it from the policy first"
            ),
        );
        self.untracked().transaction(&body, vars! { "id" => id }).await?;
        Ok(())
    }

    /// How many policies name an organization in their targets.
    pub async fn policies_naming_organization(&self, id: &ConnectedOrganizationId) -> StoreResult<usize> {
        let mut response = self
            .read(
                "RETURN count(SELECT VALUE id FROM assignment_policy WHERE $id IN connectedOrganizationIds);",
                vars! { "id" => id },
            )
            .await?;
        Ok(response.value(0)?.as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0))
    }

    /// The tenant's settings (the defaults until an administrator changes them).
    pub async fn entitlement_management_settings(&self) -> StoreResult<EntitlementManagementSettings> {
        let found: Option<EntitlementManagementSettings> =
            self.get("settings", "entitlementManagement").await?;
        Ok(found.unwrap_or_default())
    }

    pub async fn update_entitlement_management_settings(
        &self,
        settings: &EntitlementManagementSettings,
    ) -> StoreResult<()> {
        self.untracked()
            .transaction(
                "UPSERT settings:entitlementManagement CONTENT $row RETURN NONE;",
                vars! { "row" => content(settings)? },
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use em_engine::connected_organization::{IdentitySource, NewConnectedOrganization};
    use em_engine::duration::Duration;

    use super::*;
    use crate::store::{StoreConfig, StoreError};

    fn org(id: &str, name: &str, domains: &[&str]) -> ConnectedOrganization {
        let sources = domains
            .iter()
            .map(|d| IdentitySource::DomainIdentitySource { domain_name: (*d).into(), display_name: None })
            .collect();
        let input = NewConnectedOrganization {
            display_name: name.into(),
            identity_sources: sources,
            ..Default::default()
        };
        ConnectedOrganization::create(id.into(), input, DateTime::<Utc>::UNIX_EPOCH).unwrap()
    }

    fn code(result: StoreResult<()>) -> Option<ErrorCode> {
        match result {
            Err(StoreError::Domain(e)) => Some(e.code),
            _ => None,
        }
    }

    #[tokio::test]
    async fn claims_are_unique_across_organizations_and_move_with_updates() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let fabrikam = org("f", "Fabrikam", &["fabrikam.com"]);
        store.create_connected_organization(&fabrikam).await.unwrap();
        let copy = org("c", "Copycat", &["fabrikam.com"]);
        assert_eq!(code(store.create_connected_organization(&copy).await), Some(ErrorCode::Conflict));
        assert_eq!(store.connected_organization("c").await.unwrap(), None, "a refusal writes nothing");

        let mut moved = fabrikam.clone();
        moved.identity_sources = vec![IdentitySource::DomainIdentitySource {
            domain_name: "fabrikam.net".into(),
            display_name: None,
        }];
        store.update_connected_organization(&moved).await.unwrap();
        store.create_connected_organization(&copy).await.unwrap();
        assert_eq!(store.connected_organization("f").await.unwrap(), Some(moved));

        let page = store
            .connected_organizations(
                &OrganizationFilter { display_name: Some("FABRIKAM".into()), state: None },
                &PageRequest { after: None, first: 10, count: true },
            )
            .await
            .unwrap();
        assert_eq!((page.total, page.items.len()), (1, 1));
        store.delete_connected_organization(&"f".into()).await.unwrap();
        assert_eq!(code(store.delete_connected_organization(&"f".into()).await), Some(ErrorCode::NotFound));
        assert_eq!(store.all_connected_organizations().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn settings_default_until_changed() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        assert_eq!(
            store.entitlement_management_settings().await.unwrap(),
            EntitlementManagementSettings::default()
        );
        let changed = EntitlementManagementSettings::default().update(None, Some(Duration::days(7))).unwrap();
        store.update_entitlement_management_settings(&changed).await.unwrap();
        assert_eq!(store.entitlement_management_settings().await.unwrap(), changed);
    }
}
