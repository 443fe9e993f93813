//! Authorization: what a caller holds, and the three steps every change takes before it is
//! decided (see `em_engine::delegation`).
//!
//! 1. A right the caller holds nowhere is refused at once, `FORBIDDEN` naming it, before
//!    anything is looked up: the refusal says nothing about whether the object exists.
//! 2. An object in a catalog the caller cannot see is answered `NOT_FOUND`, exactly as a missing
//!    one.
//! 3. An object the caller sees but may not change is refused, `FORBIDDEN` naming the right and
//!    the catalog.
//!
//! What a caller holds ([`em_engine::delegation::Delegations`]) comes from a tenant-wide
//! administrator role (the directory), and from role assignments held by the user or by any of
//! their groups, so a role held through a group follows the group's membership. Role
//! assignments are kept in memory, indexed by principal, and read again from the store when its
//! roles version moved; a caller's delegations are remembered at the store's generation and
//! roles version.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use em_engine::access_package::AccessPackage;
use em_engine::assignment::AccessPackageAssignment;
use em_engine::catalog::AccessPackageCatalog;
use em_engine::delegation::{Decision, Delegations, Right, UnifiedRoleAssignment, forbidden};
use em_engine::id::{AccessPackageId, CatalogId};
use em_engine::request::AccessPackageAssignmentRequest;
use em_engine::{Actor, DomainError};

use super::cache::GenerationMap;
use super::{ServiceResult, Services};

/// Every role assignment, by principal, as of a roles version of the store.
#[derive(Default)]
struct RoleIndex {
    version: Option<u64>,
    by_principal: HashMap<String, Vec<UnifiedRoleAssignment>>,
}

/// The authorization read models: the role index and callers' delegations.
#[derive(Default)]
pub(crate) struct Authz {
    index: tokio::sync::RwLock<RoleIndex>,
    delegations: GenerationMap<String, Delegations>,
}

/// What the engine, the local operator and administrators hold: everything.
static EVERYTHING: LazyLock<Arc<Delegations>> = LazyLock::new(|| Arc::new(Delegations::administrator()));

/// What someone outside the directory holds: nothing.
static NOTHING: LazyLock<Arc<Delegations>> = LazyLock::new(|| Arc::new(Delegations::default()));

impl Services {
    /// What `actor` holds. The engine and the local operator hold everything; someone outside
    /// the directory nothing.
    pub async fn delegations(&self, actor: &Actor) -> ServiceResult<Arc<Delegations>> {
        let id = match actor {
            Actor::User { id } => id,
            Actor::External { .. } => return Ok(Arc::clone(&NOTHING)),
            Actor::System | Actor::LocalOperator => return Ok(Arc::clone(&EVERYTHING)),
        };
        // Both counters only grow, so their sum moves whenever either does.
        let generation = self.store.generation() + self.store.roles_version();
        if let Some(hit) = self.authz.delegations.get(id.as_str(), generation) {
            return Ok(hit);
        }
        let administrator = self.is_administrator(id).await?;
        let delegations = if administrator {
            Arc::clone(&EVERYTHING)
        } else {
            let mut principals = vec![id.to_string()];
            principals.extend(self.group_ids(id).await?.iter().cloned());
            let held = self.roles_held_by(&principals).await?;
            Arc::new(Delegations::of(false, &held))
        };
        self.authz.delegations.put(id.to_string(), generation, Arc::clone(&delegations));
        Ok(delegations)
    }

    /// The role assignments held by any of `principals`.
    pub(crate) async fn roles_held_by(
        &self,
        principals: &[String],
    ) -> ServiceResult<Vec<UnifiedRoleAssignment>> {
        let version = self.store.roles_version();
        {
            let index = self.authz.index.read().await;
            if index.version == Some(version) {
                return Ok(held(&index, principals));
            }
        }
        let mut index = self.authz.index.write().await;
        if index.version != Some(version) {
            let mut by_principal: HashMap<String, Vec<UnifiedRoleAssignment>> = HashMap::new();
            for assignment in self.store.all_role_assignments().await? {
                by_principal.entry(assignment.principal_id.clone()).or_default().push(assignment);
            }
            *index = RoleIndex { version: Some(version), by_principal };
        }
        Ok(held(&index, principals))
    }

    /// Forgets what a principal holds (a delivery changed their groups).
    pub(crate) fn authz_forget(&self, principal_id: &str) {
        self.authz.delegations.remove(principal_id);
    }

    /// Step 1: refuses a right `actor` holds nowhere. Returns what they hold.
    pub(crate) async fn require_anywhere(
        &self,
        actor: &Actor,
        right: Right,
    ) -> ServiceResult<Arc<Delegations>> {
        let delegations = self.delegations(actor).await?;
        delegations.require_anywhere(right)?;
        Ok(delegations)
    }

    /// Tenant-wide administration: the directory, tenant-wide role assignments, the clock,
    /// reconciliation. Administrators only.
    pub async fn require_admin(&self, actor: &Actor) -> ServiceResult<()> {
        self.require_anywhere(actor, Right::AdministerTenant).await.map(drop)
    }

    /// Steps 2 and 3 for an object of catalog `catalog_id`: `missing` (the object's `NOT_FOUND`)
    /// when the catalog is not visible to the caller, `FORBIDDEN` when it is but the right is not
    /// held there.
    pub(crate) async fn require_in(
        &self,
        delegations: &Delegations,
        right: Right,
        catalog_id: &CatalogId,
        missing: impl FnOnce() -> DomainError,
    ) -> ServiceResult<()> {
        match delegations.decide(right, catalog_id) {
            Decision::Allowed => Ok(()),
            Decision::Invisible => Err(missing().into()),
            Decision::Forbidden => {
                let name = self.store.catalog(catalog_id).await?.map(|c| c.display_name);
                Err(forbidden(right, Some(name.as_deref().unwrap_or(catalog_id))).into())
            }
        }
    }
}

fn held(index: &RoleIndex, principals: &[String]) -> Vec<UnifiedRoleAssignment> {
    principals.iter().filter_map(|p| index.by_principal.get(p)).flatten().cloned().collect()
}

/// Whether `actor` made the request or is its target.
pub(crate) fn is_party(actor: &Actor, request: &AccessPackageAssignmentRequest) -> bool {
    match actor {
        Actor::User { id } => request.requestor == *actor || request.target_id == *id,
        // Someone from another organization requests only for the guest they would become.
        Actor::External { subject } => {
            request.target_id == em_engine::guest::guest_id(&subject.issuer, &subject.object_id)
        }
        Actor::System | Actor::LocalOperator => true,
    }
}

/// Whether `actor` was ever asked to approve a stage of the request.
pub(crate) fn is_approver(actor: &Actor, request: &AccessPackageAssignmentRequest) -> bool {
    let Actor::User { id } = actor else { return false };
    request.approval.iter().flat_map(|a| a.stages.iter()).any(|s| s.assigned_to.iter().any(|a| a == id))
}

/// Who sees a request: its requestor and target, its approvers, and whoever may read the
/// requests of its catalog.
pub(crate) fn sees_request(
    delegations: &Delegations,
    actor: &Actor,
    request: &AccessPackageAssignmentRequest,
) -> bool {
    is_party(actor, request)
        || is_approver(actor, request)
        || delegations.allows(Right::ReadRequests, &request.catalog_id)
}

/// Who sees an assignment: its target, and whoever may read the assignments of its catalog.
pub(crate) fn sees_assignment(
    delegations: &Delegations,
    actor: &Actor,
    assignment: &AccessPackageAssignment,
) -> bool {
    matches!(actor, Actor::User { id } if *id == assignment.target_id)
        || delegations.allows(Right::ReadAssignments, &assignment.catalog_id)
}

impl Services {
    /// The catalog `id` for a change that needs `right`: `NOT_FOUND` naming `field` when there is
    /// no such catalog or the caller cannot see it, `FORBIDDEN` when they see it but lack the
    /// right.
    pub(crate) async fn catalog_for(
        &self,
        actor: &Actor,
        right: Right,
        id: &CatalogId,
        field: &str,
    ) -> ServiceResult<AccessPackageCatalog> {
        let delegations = self.require_anywhere(actor, right).await?;
        let missing = || DomainError::not_found("catalog", id).at(field);
        let catalog = self.store.catalog(id).await?.ok_or_else(missing)?;
        self.require_in(&delegations, right, &catalog.id, missing).await?;
        Ok(catalog)
    }

    /// The access package `id` for a change that needs `right` in its catalog, as
    /// [`Self::catalog_for`].
    pub(crate) async fn package_for(
        &self,
        actor: &Actor,
        right: Right,
        id: &AccessPackageId,
        field: &str,
    ) -> ServiceResult<AccessPackage> {
        let delegations = self.require_anywhere(actor, right).await?;
        let missing = || DomainError::not_found("access package", id).at(field);
        let package = self.store.access_package(id).await?.ok_or_else(missing)?;
        self.require_in(&delegations, right, &package.catalog_id, missing).await?;
        Ok(package)
    }
}
