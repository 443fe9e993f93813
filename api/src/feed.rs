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

use std::collections::{HashMap, VecDeque};
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
/// Events a recipient's own channel holds (see [`EventFeed::subscribe_for`]); one further behind
/// catches up from the store.
const RECIPIENT_CAPACITY: usize = 64;
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
    /// The tailer's rounds begun, and (watched) ended: a subscription "from now on" waits for a
    /// round begun after it asked, so what committed before it is published by then.
    rounds_begun: std::sync::atomic::AtomicU64,
    rounds_ended: tokio::sync::watch::Sender<u64>,
    /// Set once the tailer runs; started by the first subscriber.
    started: OnceCell<()>,
}

/// The channels and the cursor up to which the tailer has published, changed together.
struct Published {
    /// Every event, for subscribers of everything they may see.
    sender: broadcast::Sender<Arc<FeedEvent>>,
    /// The events of each recipient (a user in an event's `audience`) someone subscribed for:
    /// an event wakes its audience's subscribers only, not every connection.
    recipients: HashMap<String, broadcast::Sender<Arc<FeedEvent>>>,
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
        let published = Mutex::new(Published { sender, recipients: HashMap::new(), upto: 0 });
        Self {
            inner: Arc::new(Inner {
                store,
                published,
                rounds_begun: std::sync::atomic::AtomicU64::new(0),
                rounds_ended: tokio::sync::watch::channel(0).0,
                started: OnceCell::new(),
            }),
        }
    }

    /// The events after the cursor `after`, or, without one, the events committed from now on:
    /// replayed from the store, then live, each once and in commit order. The stream ends after
    /// yielding a store error; the subscriber resumes with the last cursor it received.
    pub async fn subscribe(
        &self,
        after: Option<u128>,
    ) -> StoreResult<impl Stream<Item = StoreResult<Arc<FeedEvent>>> + Send + use<>> {
        self.subscribe_for(None, after).await
    }

    /// Like [`Self::subscribe`]; with a `recipient`, only the events whose `audience` names
    /// them, from a channel of the recipient's own: what an approver's notifications cost does
    /// not grow with the connections of others.
    pub async fn subscribe_for(
        &self,
        recipient: Option<&str>,
        after: Option<u128>,
    ) -> StoreResult<impl Stream<Item = StoreResult<Arc<FeedEvent>>> + Send + use<>> {
        let recipient = recipient.map(str::to_owned);
        self.start().await?;
        if after.is_none() {
            self.inner.caught_up().await;
        }
        let (rx, upto) = self.inner.receiver(recipient.as_deref());
        let reader = Reader {
            inner: Arc::clone(&self.inner),
            recipient,
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
                let peers = store.peers();
                let nothing_known = std::collections::HashMap::new();
                tokio::join!(settle(&writers, writers.mark()), peers.settled(&nothing_known));
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

    /// Resolves once the tailer has ended a round begun after this call (it is woken for one):
    /// everything committed before the call is published by then.
    async fn caught_up(&self) {
        let mut ended = self.rounds_ended.subscribe();
        let need = self.rounds_begun.load(std::sync::atomic::Ordering::Acquire) + 1;
        self.store.committed().notify_waiters();
        let wait = ended.wait_for(|done| *done >= need);
        // A tailer that cannot read (the store is down) does not hold the subscriber forever.
        let _ = tokio::time::timeout(SETTLE_LIMIT, wait).await;
    }

    /// A receiver for what is published after `upto` (all of it, or `recipient`'s), and `upto`.
    fn receiver(&self, recipient: Option<&str>) -> (broadcast::Receiver<Arc<FeedEvent>>, u128) {
        let mut published = self.lock();
        let rx = match recipient {
            None => published.sender.subscribe(),
            Some(recipient) => published
                .recipients
                .entry(recipient.to_owned())
                .or_insert_with(|| broadcast::channel(RECIPIENT_CAPACITY).0)
                .subscribe(),
        };
        (rx, published.upto)
    }

    /// Publishes final events, in order, and moves `upto` to the last one.
    fn publish(&self, events: Vec<FeedEvent>) {
        let mut published = self.lock();
        for event in events {
            published.upto = published.upto.max(event.cursor);
            let event = Arc::new(event);
            for recipient in &event.event.audience {
                // A recipient nobody listens for any more is forgotten.
                if let Some(channel) = published.recipients.get(recipient)
                    && channel.send(Arc::clone(&event)).is_err()
                {
                    published.recipients.remove(recipient);
                }
            }
            // No receiver is not an error: nobody is listening.
            let _ = published.sender.send(event);
        }
    }

    /// Reads, settles and publishes everything committed after `last`, page by page.
    async fn catch_up(&self, last: &mut u128) -> StoreResult<()> {
        let writers = self.store.writers();
        let peers = self.store.peers();
        loop {
            // What had ended before the read: one that ends while it runs may have become
            // visible after it began.
            let (ended, peers_ended) = (writers.ended(), peers.ended());
            let page = self.store.events_since(*last, PAGE).await?;
            let Some(read_to) = page.last().map(|e| e.cursor) else { return Ok(()) };
            let mark = writers.mark();
            let moved_here = writers.running_before(mark) || writers.ended() != ended;
            let page = if moved_here || peers.any() {
                // A transaction running now, here or on another replica, may yet commit below
                // `read_to`: wait for it. Then, unless no transaction anywhere ended since
                // before the read (every peer's count as it told it), read again up to `read_to`.
                let ((), peers_unchanged) = tokio::join!(settle(&writers, mark), peers.settled(&peers_ended));
                if moved_here || !peers_unchanged { self.read_between(*last, read_to).await? } else { page }
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
    // When the commit that woke this round ended (none for a round the poll began).
    let mut woken_at = None;
    loop {
        let woken = committed.notified();
        tokio::pin!(woken);
        // Registered before reading, so a commit during the read wakes the next wait.
        woken.as_mut().enable();
        {
            let Some(inner) = feed.upgrade() else { return };
            let round = inner.rounds_begun.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
            if let Err(e) = inner.catch_up(&mut last).await {
                tracing::error!(error = %e, "the live feed cannot read the change feed; retrying");
            }
            inner.rounds_ended.send_replace(round);
            if let Some(at) = woken_at.take() {
                crate::telemetry::metrics::feed_lag(std::time::Instant::now().duration_since(at));
            }
        }
        tokio::select! {
            () = &mut woken => woken_at = Some(std::time::Instant::now()),
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One subscriber's position: replaying from the store up to `replay_to`, then live.
struct Reader {
    inner: Arc<Inner>,
    /// Only the events whose audience names this user, when set.
    recipient: Option<String>,
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
                        let read_to = page.last().map_or(self.last, |e| e.cursor.min(replay_to));
                        let recipient = self.recipient.as_deref();
                        self.buffer.extend(
                            page.into_iter()
                                .filter(|e| e.cursor <= replay_to && is_for(e, recipient))
                                .map(Arc::new),
                        );
                        if self.buffer.is_empty() {
                            // Nothing (more) for this subscriber in the store up to the page's
                            // end, or up to `replay_to`.
                            if read_to <= self.last {
                                self.replay_to = self.last;
                            } else {
                                self.last = read_to;
                            }
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
                    (self.rx, self.replay_to) = self.inner.receiver(self.recipient.as_deref());
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// Whether `event` is for `recipient` (every event is, without one).
fn is_for(event: &FeedEvent, recipient: Option<&str>) -> bool {
    recipient.is_none_or(|r| event.event.audience.iter().any(|a| a == r))
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

    /// Events `ns`, each for `u-a` when even and `u-b` when odd.
    async fn write_for(store: &Store, ns: impl IntoIterator<Item = u32>) {
        let events = ns
            .into_iter()
            .map(|n| {
                let mut e = event(n);
                e.audience = vec![if n % 2 == 0 { "u-a" } else { "u-b" }.to_owned()];
                e
            })
            .collect();
        store.logged(events).transaction("LET $x = 1;", Map::new()).await.unwrap();
    }

    #[tokio::test]
    async fn a_recipient_gets_only_their_events_replayed_then_live_and_after_lagging() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let feed = EventFeed::new(store.clone());
        let mut everything = Box::pin(feed.subscribe(None).await.unwrap());
        // More than a page of the store and more than a recipient's channel holds.
        let before: Vec<u32> = (0..2_500).collect();
        for chunk in before.chunks(250) {
            write_for(&store, chunk.iter().copied()).await;
        }
        let all = take(&mut everything, before.len()).await;
        // Replayed from the start, through pages with nothing for `u-a`'s neighbour.
        let mut a = Box::pin(feed.subscribe_for(Some("u-a"), Some(0)).await.unwrap());
        let mut b = Box::pin(feed.subscribe_for(Some("u-b"), Some(all[1_999].0)).await.unwrap());
        let after: Vec<u32> = (2_500..2_800).collect();
        for chunk in after.chunks(10) {
            write_for(&store, chunk.iter().copied()).await;
        }
        // `u-a` reads nothing until everything is published: its channel of 64 lags.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got_a = take(&mut a, 1_400).await;
        let want_a: Vec<String> = (0..2_800).filter(|n| n % 2 == 0).map(|n| format!("e{n}")).collect();
        assert_eq!(ids(&got_a), want_a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(got_a.windows(2).all(|w| w[0].0 < w[1].0), "cursors ascend");
        let got_b = take(&mut b, 400).await;
        let want_b: Vec<String> = (2_000..2_800).filter(|n| n % 2 == 1).map(|n| format!("e{n}")).collect();
        assert_eq!(ids(&got_b), want_b.iter().map(String::as_str).collect::<Vec<_>>());
        let more = tokio::time::timeout(Duration::from_millis(200), a.next()).await;
        assert!(more.is_err(), "nothing else for u-a: {more:?}");
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
