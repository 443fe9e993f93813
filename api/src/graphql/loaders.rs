//! Data loaders: the nested objects of a list (each request's package, policy, catalog and
//! target, say) read in one batch per kind, through the services' read path with the caller.
//! A page of 100 requests costs one read of their packages, not 100.
//!
//! One set of loaders serves one GraphQL request (one operation over HTTP, one subscription's
//! events over WebSocket), for one caller; they remember nothing between requests.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use em_engine::Actor;
use em_engine::access_package::AccessPackage;
use em_engine::catalog::AccessPackageCatalog;
use em_engine::directory::User;

use super::error::to_graphql;
use crate::service::Services;
use crate::service::model::{StoredAssignment, StoredPolicy};

/// How long a loader waits for more keys before it reads: siblings of a list are resolved
/// together, so their keys arrive within one poll; the wait only has to outlast that.
const GATHER: Duration = Duration::from_micros(200);

/// A catalog the caller sees.
#[derive(Clone, Hash, PartialEq, Eq)]
pub struct CatalogKey(pub em_engine::id::CatalogId);

/// An access package the caller sees (its catalog, or a policy that applies to them).
#[derive(Clone, Hash, PartialEq, Eq)]
pub struct PackageKey(pub em_engine::id::AccessPackageId);

/// The access package a request or assignment the caller sees names.
#[derive(Clone, Hash, PartialEq, Eq)]
pub struct RelatedPackageKey(pub em_engine::id::AccessPackageId);

/// The policy a request or assignment the caller sees names.
#[derive(Clone, Hash, PartialEq, Eq)]
pub struct RelatedPolicyKey(pub em_engine::id::PolicyId);

/// The assignment a request the caller sees created or changed.
#[derive(Clone, Hash, PartialEq, Eq)]
pub struct RelatedAssignmentKey(pub em_engine::id::AssignmentId);

/// A user of the directory.
#[derive(Clone, Hash, PartialEq, Eq)]
pub struct UserKey(pub String);

/// What the loaders read with: the services and the caller.
pub struct Reads {
    services: Services,
    actor: Actor,
}

type Failure = Arc<async_graphql::Error>;

fn failed(e: crate::service::ServiceError) -> Failure {
    Arc::new(to_graphql(e))
}

fn keyed<I, K, V>(found: HashMap<I, V>, wrap: impl Fn(I) -> K) -> HashMap<K, V>
where
    K: std::hash::Hash + Eq,
{
    found.into_iter().map(|(id, v)| (wrap(id), v)).collect()
}

fn ids<K, I: Clone>(keys: &[K], id: impl Fn(&K) -> &I) -> Vec<I> {
    keys.iter().map(|k| id(k).clone()).collect()
}

impl Loader<CatalogKey> for Reads {
    type Value = AccessPackageCatalog;
    type Error = Failure;

    async fn load(&self, keys: &[CatalogKey]) -> Result<HashMap<CatalogKey, Self::Value>, Self::Error> {
        let found = self.services.catalogs_by_ids(&self.actor, &ids(keys, |k| &k.0)).await.map_err(failed)?;
        Ok(keyed(found, CatalogKey))
    }
}

impl Loader<PackageKey> for Reads {
    type Value = AccessPackage;
    type Error = Failure;

    async fn load(&self, keys: &[PackageKey]) -> Result<HashMap<PackageKey, Self::Value>, Self::Error> {
        let found = self.services.packages_by_ids(&self.actor, &ids(keys, |k| &k.0)).await.map_err(failed)?;
        Ok(keyed(found, PackageKey))
    }
}

impl Loader<RelatedPackageKey> for Reads {
    type Value = AccessPackage;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[RelatedPackageKey],
    ) -> Result<HashMap<RelatedPackageKey, Self::Value>, Self::Error> {
        let found = self.services.related_packages(&ids(keys, |k| &k.0)).await.map_err(failed)?;
        Ok(keyed(found, RelatedPackageKey))
    }
}

impl Loader<RelatedPolicyKey> for Reads {
    type Value = StoredPolicy;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[RelatedPolicyKey],
    ) -> Result<HashMap<RelatedPolicyKey, Self::Value>, Self::Error> {
        let found = self.services.related_policies(&ids(keys, |k| &k.0)).await.map_err(failed)?;
        Ok(keyed(found, RelatedPolicyKey))
    }
}

impl Loader<RelatedAssignmentKey> for Reads {
    type Value = StoredAssignment;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[RelatedAssignmentKey],
    ) -> Result<HashMap<RelatedAssignmentKey, Self::Value>, Self::Error> {
        let found = self.services.related_assignments(&ids(keys, |k| &k.0)).await.map_err(failed)?;
        Ok(keyed(found, RelatedAssignmentKey))
    }
}

impl Loader<UserKey> for Reads {
    type Value = User;
    type Error = Failure;

    async fn load(&self, keys: &[UserKey]) -> Result<HashMap<UserKey, Self::Value>, Self::Error> {
        let found = self.services.users_by_ids(&self.actor, &ids(keys, |k| &k.0)).await.map_err(failed)?;
        Ok(keyed(found, UserKey))
    }
}

/// The loaders of one GraphQL request, made on first use.
pub struct Loaders {
    services: Services,
    actor: Actor,
    loader: OnceLock<DataLoader<Reads>>,
}

impl Loaders {
    #[must_use]
    pub fn new(services: Services, actor: Actor) -> Self {
        Self { services, actor, loader: OnceLock::new() }
    }

    fn loader(&self) -> &DataLoader<Reads> {
        self.loader.get_or_init(|| {
            let reads = Reads { services: self.services.clone(), actor: self.actor.clone() };
            DataLoader::new(reads, tokio::spawn).delay(GATHER)
        })
    }
}

/// Loads one object through the request's loaders.
pub async fn load<K>(ctx: &Context<'_>, key: K) -> async_graphql::Result<Option<<Reads as Loader<K>>::Value>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    Reads: Loader<K, Error = Failure>,
{
    let loaded = match ctx.data_opt::<Loaders>() {
        Some(loaders) => loaders.loader().load_one(key).await,
        // A schema executed without the server's request data: load alone.
        None => {
            let loaders = Loaders::new(super::services(ctx).clone(), super::actor(ctx));
            loaders.loader().load_one(key).await
        }
    };
    loaded.map_err(|e| (*e).clone())
}
