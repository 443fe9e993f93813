//! Group commit of governance writes: the changes that concurrent operations want to commit
//! while a transaction is running are committed together, in the next transaction.
//!
//! A transaction costs the same fixed work (begin, conflict checks, commit, a share of an
//! fsync) whatever it holds, so under load one transaction for many changes does much more per
//! second than one each. Nobody waits for a batch to fill: a change arriving on an idle
//! committer goes at once, alone. Each change keeps its own guards; when a batch fails (one of
//! its changes was decided on moved data), each change is committed again on its own, so only
//! the stale one fails. Two changes of one target never share a batch.
//!
//! Every caller still gets its answer only after its change is committed.

use std::collections::{HashSet, VecDeque};
use std::sync::OnceLock;

use em_engine::event::Event;
use tokio::sync::{mpsc, oneshot};

use crate::store::requests::GovernanceWrite;
use crate::store::{Store, StoreError, StoreResult};

/// The most changes one transaction holds.
const MAX_BATCH: usize = 64;

struct Job {
    write: GovernanceWrite,
    events: Vec<Event>,
    done: oneshot::Sender<StoreResult<()>>,
}

/// The committer: a queue and the task that drains it, started on first use.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl GroupCommit {
    /// Commits `write` with its `events`, possibly together with other changes.
    pub(crate) async fn commit(
        &self,
        store: &Store,
        write: GovernanceWrite,
        events: Vec<Event>,
    ) -> StoreResult<()> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run(store.clone(), receiver));
            sender
        });
        let (done, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = queue.send(Job { write, events, done }) {
            // The committer is gone (the runtime is shutting down): commit directly.
            return store.logged(job.events).commit_governance(&job.write).await;
        }
        answer.await.unwrap_or_else(|_| Err(StoreError::Backend("the committer stopped".into())))
    }
}

async fn run(store: Store, mut receiver: mpsc::UnboundedReceiver<Job>) {
    let mut carried: VecDeque<Job> = VecDeque::new();
    loop {
        let first = match carried.pop_front() {
            Some(job) => job,
            None => match receiver.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut targets = HashSet::from([first.write.target_id.clone()]);
        let mut batch = vec![first];
        let mut later = VecDeque::new();
        while batch.len() < MAX_BATCH {
            let next = match carried.pop_front() {
                Some(job) => job,
                None => match receiver.try_recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
            };
            if targets.insert(next.write.target_id.clone()) {
                batch.push(next);
            } else {
                later.push_back(next);
            }
        }
        carried.extend(later);
        commit_batch(&store, batch).await;
    }
}

async fn commit_batch(store: &Store, batch: Vec<Job>) {
    if batch.len() == 1 {
        for job in batch {
            let outcome = store.logged(job.events).commit_governance(&job.write).await;
            let _ = job.done.send(outcome);
        }
        return;
    }
    let events: Vec<Event> = batch.iter().flat_map(|job| job.events.iter().cloned()).collect();
    let writes: Vec<&GovernanceWrite> = batch.iter().map(|job| &job.write).collect();
    match store.logged(events).commit_governance_batch(&writes).await {
        Ok(()) => {
            for job in batch {
                let _ = job.done.send(Ok(()));
            }
        }
        Err(_) => {
            // One of them is stale, or the batch hit a conflict: each on its own.
            for job in batch {
                let outcome = store.logged(job.events).commit_governance(&job.write).await;
                let _ = job.done.send(outcome);
            }
        }
    }
}
