//! Connected organizations (Graph's `identityGovernance/entitlementManagement/connectedOrganizations`)
//! and the tenant's settings (`entitlementManagement/settings`).
//!
//! Administrators manage them; anyone holding an entitlement-management role reads the
//! organizations (they name them in policies); the settings are read and changed by
//! administrators. The organizations and their tenants and domains are kept in memory
//! ([`OrganizationIndex`]), read again from the store after every change this process commits.

use std::collections::HashMap;
use std::sync::Arc;

use em_engine::connected_organization::email_domain;
use em_engine::connected_organization::{
    ConnectedOrganization, ConnectedOrganizationPatch, EntitlementManagementSettings,
    ExternalUserLifecycleAction, NewConnectedOrganization, OrganizationIndex, SponsorCandidate, SponsorKind,
    check_claims_free,
};
use em_engine::delegation::Right;
use em_engine::duration::Duration;
use em_engine::event::{Event, EventKind};
use em_engine::id::ConnectedOrganizationId;
use em_engine::{Actor, ExternalSubject};

use super::{ServiceError, ServiceResult, Services, found};
use crate::store::organizations::OrganizationFilter;
use crate::store::{Page, PageRequest};

/// Every organization, and the index of their tenants and domains, read from the store when
/// first needed after a change.
#[derive(Default)]
pub(crate) struct Organizations {
    loaded: tokio::sync::RwLock<Option<Arc<Loaded>>>,
}

struct Loaded {
    index: Arc<OrganizationIndex>,
    by_id: HashMap<ConnectedOrganizationId, Arc<ConnectedOrganization>>,
}

impl Services {
    async fn loaded_organizations(&self) -> ServiceResult<Arc<Loaded>> {
        if let Some(loaded) = self.organizations.loaded.read().await.as_ref() {
            return Ok(Arc::clone(loaded));
        }
        let mut slot = self.organizations.loaded.write().await;
        if let Some(loaded) = slot.as_ref() {
            return Ok(Arc::clone(loaded));
        }
        let all = self.store.all_connected_organizations().await?;
        let index = Arc::new(OrganizationIndex::new(&all));
        let by_id = all.into_iter().map(|org| (org.id.clone(), Arc::new(org))).collect();
        let loaded = Arc::new(Loaded { index, by_id });
        *slot = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    /// Forgets the organizations (another replica changed them): read again on next use.
    pub(crate) async fn organizations_forget(&self) {
        *self.organizations.loaded.write().await = None;
    }

    /// The index of every organization's tenants and domains.
    pub async fn organization_index(&self) -> ServiceResult<Arc<OrganizationIndex>> {
        Ok(Arc::clone(&self.loaded_organizations().await?.index))
    }

    /// An organization as this process last read or wrote it (the request path's read of a
    /// requestor's organization, its sponsors and state).
    pub(crate) async fn known_organization(
        &self,
        id: &ConnectedOrganizationId,
    ) -> ServiceResult<Option<Arc<ConnectedOrganization>>> {
        Ok(self.loaded_organizations().await?.by_id.get(id).cloned())
    }

    /// The connected organization of `actor` when they come from another organization (a
    /// signed-in outsider's own, or a request's outsider requestor's, shown to whoever sees the
    /// request); `None` for everyone else.
    pub async fn caller_organization(&self, actor: &Actor) -> ServiceResult<Option<ConnectedOrganization>> {
        let Actor::External { subject } = actor else { return Ok(None) };
        let Some(id) = &subject.connected_organization_id else { return Ok(None) };
        Ok(self.known_organization(id).await?.map(|org| (*org).clone()))
    }

    /// Forgets the organizations after a change, under the write lock, so no reader keeps a
    /// stale one.
    async fn organizations_changed(&self) {
        *self.organizations.loaded.write().await = None;
    }

    /// One page of connected organizations, by name.
    pub async fn connected_organizations(
        &self,
        actor: &Actor,
        filter: &OrganizationFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<ConnectedOrganization>> {
        self.require_anywhere(actor, Right::ReadConnectedOrganizations).await?;
        Ok(self.store.connected_organizations(filter, page).await?)
    }

    /// A connected organization, if the caller may see it (`None` as if it did not exist
    /// otherwise).
    pub async fn connected_organization(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<Option<ConnectedOrganization>> {
        if !self.delegations(actor).await?.holds_anywhere(Right::ReadConnectedOrganizations) {
            return Ok(None);
        }
        Ok(self.store.connected_organization(id).await?)
    }

    pub async fn create_connected_organization(
        &self,
        actor: &Actor,
        input: NewConnectedOrganization,
    ) -> ServiceResult<ConnectedOrganization> {
        self.require_anywhere(actor, Right::ManageConnectedOrganizations).await?;
        let org = ConnectedOrganization::create(self.new_id().into(), input, self.now())?;
        check_claims_free(&org, &*self.organization_index().await?)?;
        let event = self.organization_event(actor, EventKind::ConnectedOrganizationCreated, &org);
        let written = self.store.logged(vec![event]).create_connected_organization(&org).await;
        self.organizations_changed().await;
        written?;
        Ok(org)
    }

    pub async fn update_connected_organization(
        &self,
        actor: &Actor,
        id: &ConnectedOrganizationId,
        patch: ConnectedOrganizationPatch,
    ) -> ServiceResult<ConnectedOrganization> {
        let current = self.managed_organization(actor, id).await?;
        let next = current.update(patch, self.now())?;
        check_claims_free(&next, &*self.organization_index().await?)?;
        self.save_organization(actor, &next).await?;
        Ok(next)
    }

    /// The organization recorded for an outsider whose domain is not connected, when they
    /// request through an `allExternalUsers` policy: `proposed`, claiming their domain. One
    /// recorded meanwhile for the same domain is theirs.
    pub(crate) async fn propose_organization(
        &self,
        subject: &ExternalSubject,
    ) -> ServiceResult<ConnectedOrganizationId> {
        let domain = email_domain(&subject.email).unwrap_or_default();
        let org = ConnectedOrganization::proposed(self.new_id().into(), &domain, self.now());
        let event = self.organization_event(&Actor::System, EventKind::ConnectedOrganizationCreated, &org);
        let written = self.store.logged(vec![event]).create_connected_organization(&org).await;
        self.organizations_changed().await;
        if written.is_ok() {
            return Ok(org.id);
        }
        let index = self.organization_index().await?;
        match index.resolve(subject.tenant_id.as_deref(), Some(&domain)) {
            Some(entry) => Ok(entry.id.clone()),
            None => Err(written.err().map_or_else(|| ServiceError::Stale, Into::into)),
        }
    }

    /// Deletes an organization; refused (`CONFLICT`) while a policy names it.
    pub async fn delete_connected_organization(
        &self,
        actor: &Actor,
        id: &ConnectedOrganizationId,
    ) -> ServiceResult<()> {
        let current = self.managed_organization(actor, id).await?;
        current.check_deletable(self.store.policies_naming_organization(id).await?)?;
        let event = self.organization_event(actor, EventKind::ConnectedOrganizationDeleted, &current);
        let written = self.store.logged(vec![event]).delete_connected_organization(id).await;
        self.organizations_changed().await;
        written?;
        Ok(())
    }

    /// Adds an internal sponsor (a member user or a group) or an external one (a guest user).
    pub async fn add_sponsor(
        &self,
        actor: &Actor,
        id: &ConnectedOrganizationId,
        kind: SponsorKind,
        sponsor_id: &str,
    ) -> ServiceResult<ConnectedOrganization> {
        let current = self.managed_organization(actor, id).await?;
        let (user, group);
        let candidate = if let Some(u) = self.store.user(sponsor_id).await? {
            user = u;
            SponsorCandidate::User(&user)
        } else {
            group = found(self.store.group(sponsor_id).await?, "user or group", "sponsorId", sponsor_id)?;
            SponsorCandidate::Group(&group)
        };
        let next = current.add_sponsor(kind, candidate, self.now())?;
        if next != current {
            self.save_organization(actor, &next).await?;
        }
        Ok(next)
    }

    pub async fn remove_sponsor(
        &self,
        actor: &Actor,
        id: &ConnectedOrganizationId,
        kind: SponsorKind,
        sponsor_id: &str,
    ) -> ServiceResult<ConnectedOrganization> {
        let current = self.managed_organization(actor, id).await?;
        let next = current.remove_sponsor(kind, sponsor_id, self.now()).map_err(|e| e.at("sponsorId"))?;
        self.save_organization(actor, &next).await?;
        Ok(next)
    }

    /// The tenant's settings: administrators only.
    pub async fn entitlement_management_settings(
        &self,
        actor: &Actor,
    ) -> ServiceResult<EntitlementManagementSettings> {
        self.require_anywhere(actor, Right::ManageConnectedOrganizations).await?;
        Ok(self.store.entitlement_management_settings().await?)
    }

    pub async fn update_entitlement_management_settings(
        &self,
        actor: &Actor,
        action: Option<ExternalUserLifecycleAction>,
        duration: Option<Duration>,
    ) -> ServiceResult<EntitlementManagementSettings> {
        self.require_anywhere(actor, Right::ManageConnectedOrganizations).await?;
        let next = self.store.entitlement_management_settings().await?.update(action, duration)?;
        let event = self
            .event(
                actor,
                EventKind::SettingsUpdated,
                "EntitlementManagementSettings",
                "entitlementManagement",
            )
            .with_data(serde_json::to_value(next).unwrap_or_default());
        self.store.logged(vec![event]).update_entitlement_management_settings(&next).await?;
        Ok(next)
    }

    /// The organization `id`, for a caller who may manage connected organizations.
    async fn managed_organization(
        &self,
        actor: &Actor,
        id: &ConnectedOrganizationId,
    ) -> ServiceResult<ConnectedOrganization> {
        self.require_anywhere(actor, Right::ManageConnectedOrganizations).await?;
        found(self.store.connected_organization(id).await?, "connected organization", "id", id)
    }

    async fn save_organization(&self, actor: &Actor, org: &ConnectedOrganization) -> ServiceResult<()> {
        let event = self.organization_event(actor, EventKind::ConnectedOrganizationUpdated, org);
        let written = self.store.logged(vec![event]).update_connected_organization(org).await;
        self.organizations_changed().await;
        Ok(written?)
    }

    fn organization_event(&self, actor: &Actor, kind: EventKind, org: &ConnectedOrganization) -> Event {
        self.event(actor, kind, "ConnectedOrganization", &org.id)
            .with_data(serde_json::to_value(org).unwrap_or_default())
    }
}
