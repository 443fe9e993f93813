//! The event-writing transactions that are running, so the live feed can tell when what it read
//! from the change feed is final.
//!
//! SurrealDB stamps a transaction's change-feed entries just before the transaction commits, not
//! when it becomes visible. Two transactions can therefore become visible out of stamp order: A
//! takes stamp 100, B takes 101 and commits first. A reader that saw 101 and moved its cursor past
//! it would never see A. The feed (`crate::feed`) publishes what it read only once every
//! event-writing transaction that was running when the read ended has ended; this registry is
//! how it knows; and since one that ended while the read ran may have become visible after the
//! read began, it also counts the transactions that ended ([`Writers::ended`]). It covers the
//! transactions of this process only.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// How long a transaction whose caller stopped waiting for it (a dropped future) still counts as
/// running: the database may go on to commit it.
const LINGER: Duration = Duration::from_secs(5);

/// The registry of running event-writing transactions.
#[derive(Debug, Default)]
pub struct Writers {
    state: Mutex<State>,
    /// Woken whenever a transaction ends.
    ended: Notify,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    running: BTreeSet<u64>,
    /// How many have ended so far.
    ended: u64,
}

impl Writers {
    /// Registers a transaction that is about to run; it ends when the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Writing {
        let mut state = self.lock();
        let id = state.next;
        state.next += 1;
        state.running.insert(id);
        Writing { writers: Arc::clone(self), id, finished: false }
    }

    /// A mark between the transactions begun so far and those begun later.
    pub fn mark(&self) -> u64 {
        self.lock().next
    }

    /// How many transactions have ended so far: a reader that sees the count move across its
    /// read knows one may have become visible while it read.
    pub fn ended(&self) -> u64 {
        self.lock().ended
    }

    /// Whether a transaction begun before `mark` is still running.
    pub fn running_before(&self, mark: u64) -> bool {
        self.lock().running.range(..mark).next().is_some()
    }

    /// Resolves once no transaction begun before `mark` is running.
    pub async fn settled(&self, mark: u64) {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if !self.running_before(mark) {
                return;
            }
            ended.await;
        }
    }

    fn end(&self, id: u64) {
        {
            let mut state = self.lock();
            if state.running.remove(&id) {
                state.ended += 1;
            }
        }
        self.ended.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent under a panic (one insert or remove), so a poisoned lock is
        // still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running transaction; see [`Writers::begin`].
pub(crate) struct Writing {
    writers: Arc<Writers>,
    id: u64,
    finished: bool,
}

impl Writing {
    /// The transaction has ended: committed and visible, or failed.
    pub(crate) fn finish(mut self) {
        self.finished = true;
        self.writers.end(self.id);
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        if !self.finished {
            // The caller stopped waiting, but the database may still commit: keep counting the
            // transaction as running for a while rather than let the feed move past it.
            self.writers.end_later(self.id, LINGER);
        }
    }
}

impl Writers {
    fn end_later(self: &Arc<Self>, id: u64, after: Duration) {
        let writers = Arc::clone(self);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(after).await;
                    writers.end(id);
                });
            }
            Err(_) => writers.end(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settling_waits_for_the_transactions_begun_before_the_mark() {
        let writers = Arc::new(Writers::default());
        let first = writers.begin();
        let mark = writers.mark();
        let later = writers.begin();
        assert!(writers.running_before(mark));
        let waiter = tokio::spawn({
            let writers = Arc::clone(&writers);
            async move { writers.settled(mark).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        first.finish();
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
        // A transaction begun after the mark does not hold it up.
        assert!(!writers.running_before(mark));
        later.finish();
    }

    #[tokio::test]
    async fn every_transaction_that_ends_is_counted_once_however_it_ends() {
        let writers = Arc::new(Writers::default());
        assert_eq!(writers.ended(), 0);
        writers.begin().finish();
        assert_eq!(writers.ended(), 1);
        // Abandoned: counted when it stops counting as running, not before.
        drop(writers.begin());
        assert_eq!(writers.ended(), 1);
        tokio::time::timeout(Duration::from_secs(10), writers.settled(writers.mark())).await.unwrap();
        assert_eq!(writers.ended(), 2);
        // Ending an id twice (it cannot happen, but) counts once.
        let writing = writers.begin();
        let id = writing.id;
        writing.finish();
        writers.end(id);
        assert_eq!(writers.ended(), 3);
    }

    #[tokio::test]
    async fn an_abandoned_transaction_counts_as_running_for_a_while() {
        let writers = Arc::new(Writers::default());
        let mut writing = writers.begin();
        let id = writing.id;
        writing.finished = true;
        drop(writing);
        writers.end_later(id, Duration::from_millis(50));
        let mark = writers.mark();
        assert!(writers.running_before(mark));
        tokio::time::timeout(Duration::from_secs(5), writers.settled(mark)).await.unwrap();
        assert!(!writers.running_before(mark));
    }
}
