//! The live event feed: every event the store commits, in commit order, to every subscriber,
//! with a cursor to resume from after a disconnection.
//!
//! One tailer task per process reads the store's change feed. It wakes when a transaction that
//! wrote events ends ([`Store::committed`]), with a slow poll as a fallback, reads what was
//! committed after the last cursor it published, and publishes each event to a
//! [`broadcast`] channel. Subscribers filter in memory.
//!
//! Events come from the change feed, never from the memory of the request that wrote them, so
//! the feed shows exactly what was committed, in commit order, whichever process or request
//! committed it.
//!
//! **Final before published.** SurrealDB stamps a transaction's change-feed entries just before
//! it commits, so a transaction with a lower stamp can become visible after one with a higher
//! stamp. Having read up to stamp V, the tailer publishes only once every event-writing
//! transaction that was running when its read ended has ended, then reads again up to V: a
//! transaction with a stamp below V took its stamp before V's transaction committed, so it had
//! begun by then and is among those waited for ([`crate::store::writers`]).
//!
//! **Replay, then live, without gaps or duplicates.** A subscriber takes a broadcast receiver
//! and the cursor `upto` the tailer has published up to in one step (under the lock the tailer
//! publishes under). Everything at or before `upto` is final and in the store, so it replays
//! from the store after its own cursor up to `upto`; everything after `upto` arrives on the
//! receiver. A subscriber that falls behind the channel (`Lagged`) does the same again from the
//! last cursor it delivered.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Notify, OnceCell, broadcast};

use crate::store::events::FeedEvent;
use crate::store::writers::Writers;
use crate::store::{Store, StoreResult};

/// Transactions read from the change feed per page.
const PAGE: usize = 1000;
/// Events the channel holds for a subscriber that has not taken them yet; one further behind
/// catches up from the store.
const CAPACITY: usize = 4096;
/// The fallback poll, for commits the tailer was not woken for (another process's, say).
const POLL: Duration = Duration::from_secs(1);
/// The longest the tailer waits for running transactions before it publishes anyway.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// The live event feed of one store; cheap to clone.
#[derive(Clone)]
pub struct EventFeed {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    published: Mutex<Published>,
    /// Set once the tailer runs; started by the first subscriber.
    started: OnceCell<()>,
}

/// The channel and the cursor up to which the tailer has published, changed together.
struct Published {
    sender: broadcast::Sender<Arc<FeedEvent>>,
    upto: u128,
}

impl EventFeed {
    /// The feed of `store`. The tailer starts with the first subscription.
    #[must_use]
    pub fn new(store: Store) -> Self {
        Self::with_capacity(store, CAPACITY)
    }

    fn with_capacity(store: Store, capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        let published = Mutex::new(Published { sender, upto: 0 });
        Self { inner: Arc::new(Inner { store, published, started: OnceCell::new() }) }
    }

    /// The events after the cursor `after`, or, without one, the events committed from now on:
    /// replayed from the store, then live, each once and in commit order. The stream ends after
    /// yielding a store error; the subscriber resumes with the last cursor it received.
    pub async fn subscribe(
        &self,
        after: Option<u128>,
    ) -> StoreResult<impl Stream<Item = StoreResult<Arc<FeedEvent>>> + Send + use<>> {
        self.start().await?;
        let (rx, upto) = self.inner.receiver();
        let reader = Reader {
            inner: Arc::clone(&self.inner),
            rx,
            last: after.unwrap_or(upto),
            replay_to: upto,
            buffer: VecDeque::new(),
            done: false,
        };
        Ok(futures::stream::unfold(reader, |mut reader| async move {
            let item = reader.next().await?;
            Some((item, reader))
        }))
    }

    /// Starts the tailer at the end of the feed, once.
    async fn start(&self) -> StoreResult<()> {
        let inner = &self.inner;
        inner
            .started
            .get_or_try_init(|| async {
                let store = &inner.store;
                let writers = store.writers();
                let end = store.end_of_feed().await?;
                // What the search read must be final before subscribers replay up to it.
                settle(&writers, writers.mark()).await;
                inner.lock().upto = end;
                tokio::spawn(tail(Arc::downgrade(inner), store.committed(), end));
                Ok(())
            })
            .await
            .map(|_| ())
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        // Both fields are written in one statement each; a poisoned lock still holds a
        // consistent value.
        self.published.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver for what is published after `upto`, and `upto`.
    fn receiver(&self) -> (broadcast::Receiver<Arc<FeedEvent>>, u128) {
        let published = self.lock();
        (published.sender.subscribe(), published.upto)
    }

    /// Publishes final events, in order, and moves `upto` to the last one.
    fn publish(&self, events: Vec<FeedEvent>) {
        let mut published = self.lock();
        for event in events {
            published.upto = published.upto.max(event.cursor);
            // No receiver is not an error: nobody is listening.
            let _ = published.sender.send(Arc::new(event));
        }
    }

    /// Reads, settles and publishes everything committed after `last`, page by page.
    async fn catch_up(&self, last: &mut u128) -> StoreResult<()> {
        let writers = self.store.writers();
        loop {
            let page = self.store.events_since(*last, PAGE).await?;
            let Some(read_to) = page.last().map(|e| e.cursor) else { return Ok(()) };
            let mark = writers.mark();
            let page = if writers.running_before(mark) {
                // A transaction running now may yet commit below `read_to`: wait for it, then
                // read again up to `read_to`.
                settle(&writers, mark).await;
                self.read_between(*last, read_to).await?
            } else {
                page
            };
            self.publish(page);
            *last = read_to;
        }
    }

    /// The events after `after`, up to and including `upto`.
    async fn read_between(&self, after: u128, upto: u128) -> StoreResult<Vec<FeedEvent>> {
        let mut out = Vec::new();
        let mut cursor = after;
        loop {
            let page = self.store.events_since(cursor, PAGE).await?;
            if page.is_empty() {
                return Ok(out);
            }
            for event in page {
                if event.cursor > upto {
                    return Ok(out);
                }
                cursor = event.cursor;
                out.push(event);
            }
        }
    }
}

/// Waits until the transactions begun before `mark` have ended, or gives up after
/// [`SETTLE_LIMIT`] (a transaction that long is stuck; the feed must not stop for it).
async fn settle(writers: &Writers, mark: u64) {
    if tokio::time::timeout(SETTLE_LIMIT, writers.settled(mark)).await.is_err() {
        tracing::warn!("an event-writing transaction has run for 30 s; publishing without it");
    }
}

/// The tailer: catches up whenever a transaction that wrote events ends, and every [`POLL`].
/// Ends when the feed is dropped.
async fn tail(feed: Weak<Inner>, committed: Arc<Notify>, mut last: u128) {
    loop {
        let woken = committed.notified();
        tokio::pin!(woken);
        // Registered before reading, so a commit during the read wakes the next wait.
        woken.as_mut().enable();
        {
            let Some(inner) = feed.upgrade() else { return };
            if let Err(e) = inner.catch_up(&mut last).await {
                tracing::error!(error = %e, "the live feed cannot read the change feed; retrying");
            }
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One subscriber's position: replaying from the store up to `replay_to`, then live.
struct Reader {
    inner: Arc<Inner>,
    rx: broadcast::Receiver<Arc<FeedEvent>>,
    /// The cursor of the last event delivered (or the starting cursor).
    last: u128,
    /// Events up to here come from the store; later ones from `rx`.
    replay_to: u128,
    buffer: VecDeque<Arc<FeedEvent>>,
    done: bool,
}

impl Reader {
    async fn next(&mut self) -> Option<StoreResult<Arc<FeedEvent>>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.buffer.pop_front() {
                self.last = event.cursor;
                return Some(Ok(event));
            }
            if self.last < self.replay_to {
                match self.inner.store.events_since(self.last, PAGE).await {
                    Ok(page) => {
                        let replay_to = self.replay_to;
                        self.buffer.extend(page.into_iter().filter(|e| e.cursor <= replay_to).map(Arc::new));
                        if self.buffer.is_empty() {
                            // Nothing more in the store up to `replay_to`.
                            self.replay_to = self.last;
                        }
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(event) if event.cursor > self.last => {
                    self.last = event.cursor;
                    return Some(Ok(event));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a live subscriber fell behind; catching up from the store");
                    (self.rx, self.replay_to) = self.inner.receiver();
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use em_engine::Actor;
    use em_engine::event::Event;
    use futures::StreamExt;
    use serde_json::Map;

    use super::*;
    use crate::store::StoreConfig;

    fn event(n: u32) -> Event {
        Event::new(
            format!("e{n}"),
            em_engine::event::EventKind::UserUpdated,
            &Actor::System,
            DateTime::<Utc>::UNIX_EPOCH,
            "Test",
            &format!("s{n}"),
        )
    }

    async fn write(store: &Store, events: impl IntoIterator<Item = u32>) {
        let events = events.into_iter().map(event).collect();
        store.logged(events).transaction("LET $x = 1;", Map::new()).await.unwrap();
    }

    async fn take<S: Stream<Item = StoreResult<Arc<FeedEvent>>> + Unpin>(
        stream: &mut S,
        n: usize,
    ) -> Vec<(u128, String)> {
        let mut out = Vec::new();
        for _ in 0..n {
            let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
            let event = next.expect("an event within 10 s").expect("the stream goes on").unwrap();
            out.push((event.cursor, event.event.id.clone()));
        }
        out
    }

    fn ids(events: &[(u128, String)]) -> Vec<&str> {
        events.iter().map(|(_, id)| id.as_str()).collect()
    }

    #[tokio::test]
    async fn a_subscriber_without_a_cursor_gets_what_is_committed_from_then_on() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        write(&store, [0]).await;
        let feed = EventFeed::new(store.clone());
        let mut live = Box::pin(feed.subscribe(None).await.unwrap());
        write(&store, [1, 2]).await;
        write(&store, [3]).await;
        assert_eq!(ids(&take(&mut live, 3).await), ["e1", "e2", "e3"]);
    }

    #[tokio::test]
    async fn a_subscriber_with_a_cursor_gets_the_rest_then_live_events_once_each() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let feed = EventFeed::new(store.clone());
        let mut first = Box::pin(feed.subscribe(None).await.unwrap());
        write(&store, [0, 1]).await;
        write(&store, [2]).await;
        let seen = take(&mut first, 3).await;
        // Resume in the middle of the first transaction.
        let mut resumed = Box::pin(feed.subscribe(Some(seen[0].0)).await.unwrap());
        write(&store, [3]).await;
        let rest = take(&mut resumed, 3).await;
        assert_eq!(ids(&rest), ["e1", "e2", "e3"]);
        assert_eq!(rest[..2], seen[1..]);
        // Nothing more, in particular no duplicate of a replayed event.
        let more = tokio::time::timeout(Duration::from_millis(300), resumed.next()).await;
        assert!(more.is_err(), "unexpected {more:?}");
    }

    #[tokio::test]
    async fn concurrent_writers_reach_every_subscriber_in_one_order() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let feed = EventFeed::new(store.clone());
        let mut a = Box::pin(feed.subscribe(None).await.unwrap());
        let mut b = Box::pin(feed.subscribe(None).await.unwrap());
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for n in 0..10 {
                        write(&store, [w * 100 + n]).await;
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let from_a = take(&mut a, 80).await;
        let from_b = take(&mut b, 80).await;
        assert_eq!(from_a, from_b);
        assert!(from_a.windows(2).all(|w| w[0].0 < w[1].0), "cursors ascend");
        let replayed = store.events_since(0, 1000).await.unwrap();
        let replayed: Vec<_> = replayed.into_iter().map(|f| (f.cursor, f.event.id)).collect();
        assert_eq!(from_a, replayed, "live order is commit order");
    }

    #[tokio::test]
    async fn a_lagging_subscriber_catches_up_from_the_store() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let feed = EventFeed::with_capacity(store.clone(), 4);
        let mut slow = Box::pin(feed.subscribe(None).await.unwrap());
        let many: Vec<u32> = (0..30).collect();
        for chunk in many.chunks(3) {
            write(&store, chunk.iter().copied()).await;
        }
        // Let the tailer publish everything before the subscriber takes anything.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = take(&mut slow, many.len()).await;
        let expected: Vec<String> = many.iter().map(|n| format!("e{n}")).collect();
        assert_eq!(ids(&got), expected.iter().map(String::as_str).collect::<Vec<_>>());
    }
}
