//! Services: the operations users perform, as sentences — load, decide (in the engine), persist
//! in one transaction. Every state change takes the [`Actor`] performing it.

pub(crate) mod after_commit;
pub(crate) mod authz;
pub mod auto;
pub(crate) mod cache;
pub mod catalogs;
pub(crate) mod commit;
pub(crate) mod context;
pub mod directory;
pub mod extensions;
pub mod guests;
pub mod notifications;
pub mod organizations;
pub mod policies;
pub mod queries;
pub mod replicas;
pub mod requests;
pub mod reviews;
pub mod roles;
pub mod timers;

#[cfg(test)]
mod architecture;

use std::sync::Arc;

use em_engine::event::{Event, EventKind};
use em_engine::{Actor, DomainError};

/// The values the services answer with and the filters they take, as the store keeps them: the
/// GraphQL edge names them from here, never from the store.
pub mod model {
    pub use crate::store::catalogs::{
        AccessPackageFilter, CatalogFilter, IncompatibilityKind, ResourceRequestRow,
    };
    pub use crate::store::directory::{GroupFilter, UserFilter};
    pub use crate::store::events::{EventFilter, FeedEvent};
    pub use crate::store::organizations::OrganizationFilter;
    pub use crate::store::policies::{PolicyFilter, StoredPolicy};
    pub use crate::store::requests::{
        AssignmentFilter, Exclusion, RequestFilter, StoredAssignment, StoredRequest,
    };
    pub use crate::store::reviews::StoredItem as StoredReviewItem;
    pub use crate::store::roles::RoleAssignmentFilter;
    pub use crate::store::{Page, PageRequest, StoreResult};
}

use crate::clock::{Clock, ManualClock};
use crate::store::{Store, StoreError};

/// Errors of the service layer: a refusal the user can act on, or an internal failure.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The change was decided on data that moved meanwhile (see `StoreError::Stale`); shown as
    /// `CONFLICT` when deciding again did not help.
    #[error("the data this change was decided on kept changing; try again")]
    Stale,
    /// Something failed that the caller cannot fix; logged in full, shown redacted.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => Self::Domain(d),
            StoreError::Stale => Self::Stale,
            other => Self::Internal(other.to_string()),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Everything the services need: the store, the clock and a source of new ids.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    clock: Arc<dyn Clock>,
    /// The clock when the server runs on virtual time (`--virtual-clock`): moved by
    /// [`Services::advance_clock`], never by itself.
    virtual_clock: Option<ManualClock>,
    /// The read models of the request path (see `cache`).
    caches: Arc<context::Caches>,
    /// The directory index and compiled auto-assignment rules (see `auto`).
    auto: auto::SharedAutoModel,
    /// Commits governance writes, batching concurrent ones (see `commit`).
    committer: Arc<commit::GroupCommit>,
    /// Role assignments and callers' delegations (see `authz`).
    authz: Arc<authz::Authz>,
    /// The connected organizations' tenants and domains (see `organizations`).
    organizations: Arc<organizations::Organizations>,
    /// The domain of invited guests' user principal names.
    initial_domain: Arc<str>,
    /// Sign-ins not written yet (see `reviews`).
    sign_ins: Arc<reviews::SignIns>,
    /// The sender of custom extensions' calls (see `extensions`).
    callouts: Arc<extensions::Callouts>,
    /// The live event feed, one per process (its tailer reads each commit once).
    feed: Arc<std::sync::OnceLock<crate::feed::EventFeed>>,
    /// Counts of the engine's work since start.
    statistics: Arc<Statistics>,
    /// The tells received from other replicas (see `replicas`).
    tells: Arc<std::sync::Mutex<replicas::Tells>>,
}

/// Counts of the engine's work in this process since it started, for throughput figures.
#[derive(Debug, Default)]
pub struct Statistics {
    /// A user evaluated against an auto-assignment policy's rule (a whole-directory evaluation
    /// counts every user of the directory).
    pub rule_evaluations: std::sync::atomic::AtomicU64,
    /// A request evaluated against its policy: submitted (taken or refused) or an approval
    /// stage decided.
    pub policy_decisions: std::sync::atomic::AtomicU64,
}

impl Statistics {
    pub(crate) fn count(counter: &std::sync::atomic::AtomicU64, n: u64) {
        counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Services {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            virtual_clock: None,
            caches: Arc::default(),
            auto: Arc::default(),
            committer: Arc::default(),
            authz: Arc::default(),
            organizations: Arc::default(),
            initial_domain: guests::DEFAULT_INITIAL_DOMAIN.into(),
            sign_ins: Arc::default(),
            callouts: Arc::default(),
            feed: Arc::default(),
            statistics: Arc::default(),
            tells: Arc::default(),
        }
    }

    /// Counts of the engine's work in this process since it started.
    #[must_use]
    pub fn statistics(&self) -> Arc<Statistics> {
        Arc::clone(&self.statistics)
    }

    /// These services with `domain` as the directory's initial domain (see `guests`).
    pub fn with_initial_domain(mut self, domain: &str) -> Result<Self, DomainError> {
        let domain = em_engine::connected_organization::domain(domain).ok_or_else(|| {
            DomainError::invalid("initialDomain", format!("`{domain}` is not a domain name"))
        })?;
        self.initial_domain = domain.into();
        Ok(self)
    }

    /// Services on a virtual clock, which only [`Services::advance_clock`] moves.
    pub fn with_virtual_clock(store: Store, clock: ManualClock) -> Self {
        Self {
            store,
            clock: Arc::new(clock.clone()),
            virtual_clock: Some(clock),
            caches: Arc::default(),
            auto: Arc::default(),
            committer: Arc::default(),
            authz: Arc::default(),
            organizations: Arc::default(),
            initial_domain: guests::DEFAULT_INITIAL_DOMAIN.into(),
            sign_ins: Arc::default(),
            callouts: Arc::default(),
            feed: Arc::default(),
            statistics: Arc::default(),
            tells: Arc::default(),
        }
    }

    /// The live feed of the events this store commits.
    #[must_use]
    pub fn event_feed(&self) -> crate::feed::EventFeed {
        self.feed.get_or_init(|| crate::feed::EventFeed::new(self.store.clone())).clone()
    }

    /// Whether the clock is virtual.
    #[must_use]
    pub fn is_virtual_clock(&self) -> bool {
        self.virtual_clock.is_some()
    }

    /// Prepares a fresh or existing database: the built-in General catalog exists.
    pub async fn bootstrap(&self) -> ServiceResult<()> {
        let general = em_engine::catalog::AccessPackageCatalog::general(self.now());
        self.store.ensure_catalog(&general).await?;
        Ok(())
    }

    #[must_use]
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// A new event done by `actor` now, about `subject_type`/`subject_id`.
    #[must_use]
    pub fn event(&self, actor: &Actor, kind: EventKind, subject_type: &str, subject_id: &str) -> Event {
        Event::new(self.new_id(), kind, actor, self.now(), subject_type, subject_id)
    }

    /// Who makes a change at `now`, with the ids its events get (see `em_engine::request::events`).
    #[must_use]
    pub fn stamp<'a>(
        &self,
        actor: &'a Actor,
        now: chrono::DateTime<chrono::Utc>,
    ) -> em_engine::request::events::Stamp<'a> {
        em_engine::request::events::Stamp { actor, now, ids: &new_event_id }
    }

    /// A new object id, in Graph's GUID form.
    #[must_use]
    pub fn new_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

impl Services {
    /// The access package `id`, or NOT_FOUND naming the input `field` it came from.
    pub(crate) async fn access_package_at(
        &self,
        id: &em_engine::id::AccessPackageId,
        field: &str,
    ) -> ServiceResult<em_engine::access_package::AccessPackage> {
        found(self.store.access_package(id).await?, "access package", field, id)
    }
}

/// A new event's id.
fn new_event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Reads something that must exist, or NOT_FOUND naming `what` and the `field` it came from.
pub(crate) fn found<T>(value: Option<T>, what: &str, field: &str, id: &str) -> ServiceResult<T> {
    value.ok_or_else(|| DomainError::not_found(what, id).at(field).into())
}
