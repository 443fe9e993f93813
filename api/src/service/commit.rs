//! Group commit of governance writes: the changes that concurrent operations want to commit
//! while a transaction is running are committed together, in the next transaction.
//!
//! A transaction costs the same fixed work (begin, conflict checks, commit, a share of an
//! fsync) whatever it holds, so under load one transaction for many changes does much more per
//! second than one each. Nobody waits for a batch to fill: a change arriving on an idle
//! committer goes at once, alone. Each change keeps its own guards; when a batch fails (one of
//! its changes was decided on moved data), each change is committed again on its own, so only
//! the stale one fails. Two changes of one target never share a batch, nor are they committed at
//! the same time: up to two batches commit side by side, on different targets, and a second
//! starts beside a running one only when enough changes wait for it to be worth a transaction.
//!
//! Every caller still gets its answer only after its change is committed.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use em_engine::event::Event;
use em_engine::id::UserId;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use crate::store::requests::{GovernanceWrite, Outbox};
use crate::store::{Store, StoreError, StoreResult};

/// The most changes one transaction holds.
const MAX_BATCH: usize = 64;

/// Batches committed at once: one transaction's statements run on one core.
const LANES: usize = 2;

/// The changes that must be waiting before a batch starts beside one being committed: a
/// transaction's fixed work (its statements, begin and commit) is a large part of a small
/// batch's cost, so fewer changes wait for the running batch and go together
/// (`simulator/README.md` has the measurements).
const SECOND_LANE_MIN: usize = 8;

struct Job {
    write: Arc<GovernanceWrite>,
    events: Vec<Event>,
    done: oneshot::Sender<StoreResult<Option<Outbox>>>,
}

/// The committer: a queue and the task that drains it, started on first use.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl GroupCommit {
    /// Commits `write` with its `events`, possibly together with other changes; answers the
    /// outbox row of the transaction's custom extension calls, if it made any.
    pub(crate) async fn commit(
        &self,
        store: &Store,
        write: Arc<GovernanceWrite>,
        events: Vec<Event>,
    ) -> StoreResult<Option<Outbox>> {
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

/// Drains the queue into batches and commits up to [`LANES`] of them at once, each on a task of
/// its own (a transaction runs on the task that awaits it). A change whose target is in a batch
/// being committed waits for it: the changes of one target commit in the order they came.
async fn run(store: Store, mut receiver: mpsc::UnboundedReceiver<Job>) {
    let lanes = Arc::new(Semaphore::new(LANES));
    let busy: Arc<Mutex<HashSet<UserId>>> = Arc::default();
    let finished = Arc::new(Notify::new());
    let mut carried: VecDeque<Job> = VecDeque::new();
    loop {
        let Ok(permit) = Arc::clone(&lanes).acquire_owned().await else { return };
        if carried.is_empty() {
            match receiver.recv().await {
                Some(job) => carried.push_back(job),
                None => return,
            }
        }
        while let Ok(job) = receiver.try_recv() {
            carried.push_back(job);
        }
        // This permit is one lane; the others' missing permits are batches being committed.
        let running = LANES - lanes.available_permits() - 1;
        if running > 0 && carried.len() < SECOND_LANE_MIN {
            // Few changes wait beside a running batch: they gather until it ends (or more come)
            // and go together, rather than pay a transaction's fixed cost among few of them.
            drop(permit);
            if !wait_for_end_or_change(&finished, &mut receiver, &mut carried).await {
                return;
            }
            continue;
        }
        let mut batch = Vec::new();
        {
            let busy = lock(&busy);
            let mut targets = HashSet::new();
            let mut later = VecDeque::new();
            let mut take = |job: Job, batch: &mut Vec<Job>| {
                let target = &job.write.target_id;
                if batch.len() < MAX_BATCH && !busy.contains(target) && targets.insert(target.clone()) {
                    batch.push(job);
                } else {
                    later.push_back(job);
                }
            };
            // `carried` holds every change waiting (the queue was drained into it above).
            for job in carried.drain(..) {
                take(job, &mut batch);
            }
            carried = later;
        }
        if batch.is_empty() {
            // Every waiting change is of a target being committed: wait for a batch to end, or
            // for a new change.
            drop(permit);
            if !wait_for_end_or_change(&finished, &mut receiver, &mut carried).await {
                return;
            }
            continue;
        }
        let targets: Vec<UserId> = batch.iter().map(|job| job.write.target_id.clone()).collect();
        lock(&busy).extend(targets.iter().cloned());
        let (store, busy, finished) = (store.clone(), Arc::clone(&busy), Arc::clone(&finished));
        tokio::spawn(async move {
            commit_batch(&store, batch).await;
            let mut busy = lock(&busy);
            for target in &targets {
                busy.remove(target);
            }
            drop(busy);
            drop(permit);
            finished.notify_one();
        });
    }
}

/// Waits until a running batch ends or a new change arrives (kept in `carried`); `false` when the
/// queue is closed.
async fn wait_for_end_or_change(
    finished: &Notify,
    receiver: &mut mpsc::UnboundedReceiver<Job>,
    carried: &mut VecDeque<Job>,
) -> bool {
    tokio::select! {
        () = finished.notified() => true,
        job = receiver.recv() => match job {
            Some(job) => {
                carried.push_back(job);
                true
            }
            None => false,
        },
    }
}

fn lock(busy: &Mutex<HashSet<UserId>>) -> std::sync::MutexGuard<'_, HashSet<UserId>> {
    // A set of strings stays consistent under a panic, so a poisoned lock is still usable.
    busy.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn commit_batch(store: &Store, batch: Vec<Job>) {
    let started = std::time::Instant::now();
    let changes = batch.len();
    commit_jobs(store, batch).await;
    crate::telemetry::metrics::commit(changes, started.elapsed());
}

async fn commit_jobs(store: &Store, mut batch: Vec<Job>) {
    if batch.len() == 1 {
        for job in batch {
            let outcome = store.logged(job.events).commit_governance(&job.write).await;
            let _ = job.done.send(outcome);
        }
        return;
    }
    // The events move into the batch's transaction (a request's event carries the whole
    // request, so they are not copied), and back on failure.
    let counts: Vec<usize> = batch.iter().map(|job| job.events.len()).collect();
    let events: Vec<Event> = batch.iter_mut().flat_map(|job| std::mem::take(&mut job.events)).collect();
    let logged = store.logged(events);
    let writes: Vec<&GovernanceWrite> = batch.iter().map(|job| job.write.as_ref()).collect();
    match logged.commit_governance_batch(&writes).await {
        Ok(outbox) => {
            for job in batch {
                let _ = job.done.send(Ok(outbox.clone()));
            }
        }
        Err(_) => {
            // One of them is stale, or the batch hit a conflict: each on its own.
            let mut events = logged.take_pending().into_iter();
            for (job, count) in batch.into_iter().zip(counts) {
                let own: Vec<Event> = events.by_ref().take(count).collect();
                let outcome = store.logged(own).commit_governance(&job.write).await;
                let _ = job.done.send(outcome);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    /// Forty changes at once, each of its own target: every one is committed and answered
    /// (those waiting beside a running batch are not left behind). Then changes of one target,
    /// one after another, each commit on the version the one before left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_changes_are_all_committed() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let committer = Arc::new(GroupCommit::default());
        let mut tasks = Vec::new();
        for n in 0..40u32 {
            let (store, committer) = (store.clone(), Arc::clone(&committer));
            tasks.push(tokio::spawn(async move {
                let write = GovernanceWrite::new(&format!("u{n}").into(), 0);
                committer.commit(&store, Arc::new(write), Vec::new()).await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        // One target, versions 1 to 5 in turn: each change waits for the one before.
        for version in 0..5u64 {
            let write = GovernanceWrite::new(&UserId::new("u0"), version + 1);
            committer.commit(&store, Arc::new(write), Vec::new()).await.unwrap();
        }
        let versions = store.target_versions().await.unwrap();
        assert_eq!(versions.len(), 40);
        assert_eq!(versions.get("u0"), Some(&6));
        assert!(versions.iter().filter(|(id, _)| *id != "u0").all(|(_, v)| *v == 1));
    }

    /// A batch with a stale change fails as a whole; then each change is committed on its own
    /// with its own events, and only the stale one is refused, writing none of its events.
    #[tokio::test]
    async fn a_failed_batch_commits_each_change_with_its_own_events() {
        use crate::store::PageRequest;
        use crate::store::events::EventFilter;
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let event = |id: &str, target: &str| {
            let mut event = Event::new(
                id.into(),
                em_engine::event::EventKind::UserUpdated,
                &em_engine::Actor::System,
                at,
                "User",
                target,
            );
            event.target_id = Some(target.into());
            event
        };
        let mut answers = Vec::new();
        let mut batch = Vec::new();
        // u2 is decided on version 5, which it never had: stale.
        for (target, version, events) in [
            ("u1", 0, vec![event("e1", "u1"), event("e2", "u1")]),
            ("u2", 5, vec![event("e3", "u2")]),
            ("u3", 0, vec![event("e4", "u3")]),
        ] {
            let (done, answer) = oneshot::channel();
            batch.push(Job { write: Arc::new(GovernanceWrite::new(&target.into(), version)), events, done });
            answers.push(answer);
        }
        commit_batch(&store, batch).await;
        let outcomes: Vec<bool> =
            futures::future::join_all(answers).await.into_iter().map(|a| a.unwrap().is_ok()).collect();
        assert_eq!(outcomes, [true, false, true]);
        let page = store
            .events(&EventFilter::default(), None, &PageRequest { after: None, first: 10, count: true })
            .await
            .unwrap();
        let written: Vec<(String, String)> =
            page.items.iter().map(|(_, e)| (e.id.clone(), e.subject_id.clone())).collect();
        let expected = [("e1", "u1"), ("e2", "u1"), ("e4", "u3")].map(|(e, u)| (e.to_owned(), u.to_owned()));
        assert_eq!(written, expected);
    }
}
