//! Read models the request path decides on, kept in memory.
//!
//! A request's submission reads the package, its catalog, policies, roles and
//! incompatibilities, the requestor and target with their groups, managers and approvers, and
//! the target's assignments and open requests: twenty reads or more. Kept here, a decision reads
//! none, and the database only commits.
//!
//! Two kinds of entries, two ways of staying correct:
//! - **Directory and catalog entries** (a package's context, a user, a user's groups, a group's
//!   members) carry the store's generation when they were read ([`crate::store::Store::generation`],
//!   bumped after every committed directory or catalog change); an entry of an older generation is
//!   read again. Deliveries change group memberships without bumping it, so the services drop the
//!   entries of the principal and groups a delivery touched.
//! - **A target's requests and assignments** are validated by the database: every write checks
//!   the versions it was decided on, so a stale entry makes the write fail as stale; the entry is
//!   dropped and the service decides again. After a commit the entry is replaced by what was
//!   written.
//!
//! Entries are bounded: a map that grows past its capacity is cleared (they are caches; the
//! store has everything).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// The largest number of entries a map keeps before it starts over.
const CAPACITY: usize = 200_000;

/// A map of entries read at a generation (a map whose entries never go stale uses one
/// generation for all).
pub(crate) struct GenerationMap<K, V> {
    entries: Mutex<HashMap<K, (u64, Arc<V>)>>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> Default for GenerationMap<K, V> {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl<K: Eq + Hash + Clone, V> GenerationMap<K, V> {
    /// A map that starts over when it holds `capacity` entries.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity }
    }

    /// The entry for `key` if it was read at `generation`.
    pub(crate) fn get<Q>(&self, key: &Q, generation: u64) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key).filter(|(g, _)| *g == generation).map(|(_, v)| Arc::clone(v))
    }

    pub(crate) fn put(&self, key: K, generation: u64, value: Arc<V>) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, (generation, value));
    }

    /// Forgets every entry.
    pub(crate) fn clear(&self) {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_another_generation_are_misses() {
        let map: GenerationMap<String, u32> = GenerationMap::default();
        map.put("a".into(), 3, Arc::new(7));
        assert_eq!(map.get("a", 3).as_deref(), Some(&7));
        assert_eq!(map.get("a", 4), None);
        map.remove("a");
        assert_eq!(map.get("a", 3), None);
    }

    #[test]
    fn a_full_map_starts_over() {
        let map: GenerationMap<String, u32> = GenerationMap::with_capacity(2);
        map.put("a".into(), 0, Arc::new(1));
        map.put("b".into(), 0, Arc::new(2));
        map.put("c".into(), 0, Arc::new(3));
        assert_eq!((map.get("a", 0), map.get("b", 0)), (None, None));
        assert_eq!(map.get("c", 0).as_deref(), Some(&3));
    }
}
