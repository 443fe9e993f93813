//! Leases: one replica at a time does a piece of work that every replica could do (firing due
//! timers on the real clock), taking it over when the holder stops renewing.

use serde_json::Value;

use super::{Store, StoreResult};
use crate::vars;

impl Store {
    /// Takes or renews the lease `name` for this process for `seconds`, unless another holds it
    /// unexpired; returns whether this process holds it now. Two replicas taking a free lease at
    /// once write the same record: one transaction fails and, retried, finds the other's.
    pub async fn hold_lease(&self, name: &str, seconds: u32) -> StoreResult<bool> {
        let sql = "LET $lease = type::record('lease', $name);
             LET $held = $lease.*;
             IF $held = NONE OR $held.holder = $holder OR $held.until < time::now() {
                 UPSERT $lease SET holder = $holder, until = time::now() + <duration> $term RETURN NONE;
             };
             RETURN $lease.holder = $holder;";
        let mut response = self
            .untracked()
            .transaction(
                sql,
                vars! { "name" => name, "holder" => self.origin(), "term" => format!("{seconds}s") },
            )
            .await?;
        // Statement 0 is the transaction's BEGIN.
        Ok(response.value(4)? == Value::Bool(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    #[tokio::test]
    async fn a_lease_is_held_by_one_process_until_it_expires() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        assert!(store.hold_lease("timers", 5).await.unwrap(), "a free lease is taken");
        assert!(store.hold_lease("timers", 5).await.unwrap(), "and renewed by its holder");
        let other = "UPSERT lease:timers SET holder = 'another', until = time::now() + 1m RETURN NONE;";
        store.read(other, vars! {}).await.unwrap();
        assert!(!store.hold_lease("timers", 5).await.unwrap(), "held by another, unexpired");
        let expired = "UPSERT lease:timers SET holder = 'another', until = time::now() - 1s RETURN NONE;";
        store.read(expired, vars! {}).await.unwrap();
        assert!(store.hold_lease("timers", 5).await.unwrap(), "expired: taken over");
    }
}
