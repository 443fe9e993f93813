//! The other `em-api` replicas writing the same database server: what the live feed of each
//! needs from the others to publish only what is final, and to wake when another commits.
//!
//! [`super::writers`] tells the feed when this process's event-writing transactions have ended.
//! A transaction of another replica can take a change-feed stamp below what this replica's feed
//! has read and become visible later, just the same; so before the feed moves past what it read,
//! it asks every peer to answer once the event-writing transactions that peer was running have
//! ended (`POST /replica/settled`, answered by [`Writers::settled`]). The peers answer over HTTP
//! on the address they registered.
//!
//! **Registry.** Each replica on a server keeps `replica:⟨origin⟩` (its origin is a random id
//! of the process, written into its event records) with the URL its peers reach it at, and
//! refreshes it every [`HEARTBEAT`]; a peer is a record refreshed within [`ALIVE`]. A replica
//! that joins reads the registry after writing its own record and says hello to every peer it
//! found (`POST /replica/hello`) before it serves, so of two replicas that join at once, each
//! knows the other before either commits.
//!
//! **Told before acknowledged.** After a transaction that wrote events commits, and before it is
//! acknowledged, the replica tells every peer what it changed (`POST /replica/committed`: each
//! event's kind and ids, [`Changed`]); a peer answers once its read models forgot what the
//! change made stale, and its feed reads at once. So a client acknowledged by one replica is
//! never answered by another from what it remembered before. A transaction of a batch tells
//! its peers once, with every event of the batch.
//!
//! **Only peers call.** Every call carries `Authorization: Bearer <key>`, the key made with the
//! database (`replica_key:only`), which a replica reads when it joins; a call without it is
//! refused (401) before its body is read, and a process that has not joined (an embedded
//! database) has no `/replica/*` at all (404).
//!
//! **Counts of ended transactions.** Each replica counts its event-writing transactions that
//! have ended ([`super::writers::Writers::ended`]) and says the count in every tell and every
//! settle answer. A feed that saw no peer's count move between what it knew before its read and
//! the settle answers after it (nor its own) publishes what it read without reading again.
//!
//! **A peer that does not answer** is waited for once for [`DEAD_WAIT`] (a transaction it
//! had sent the server commits within it), then left out until it answers again; it leaves the
//! registry when its record is [`ALIVE`] old.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Store, StoreResult};

/// How often a replica refreshes its record and reads its peers'.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How recently a peer's record must have been refreshed for it to count (the registry's query
/// says `5s`).
const ALIVE: Duration = Duration::from_secs(5);
/// How long a peer that stopped answering is waited for, once.
const DEAD_WAIT: Duration = Duration::from_secs(1);
/// The longest a peer's answer to `settled` is waited for.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(35);
/// The longest a connection to a peer is waited for.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest a call telling a peer of a commit (or saying hello) is waited for.
const WAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// A replica as its peers know it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Replica {
    pub origin: String,
    pub url: String,
}

/// This process's view of its peers; empty (and free) unless the store joined a server's
/// replicas.
#[derive(Default)]
pub struct Peers {
    state: Mutex<State>,
    /// Tells sent so far (see [`Committed::seq`]).
    told: std::sync::atomic::AtomicU64,
    /// Peers that left the registry so far: what they committed without telling it (they died
    /// between a commit and its tell) may be missing from this replica's read models.
    departed: std::sync::atomic::AtomicU64,
}

/// What one event changed, as a peer's read models need it (see [`Peers::tell`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changed {
    pub kind: em_engine::event::EventKind,
    pub subject_id: String,
    #[serde(default)]
    pub target_id: Option<String>,
    /// The request an approval stage's event is about.
    #[serde(default)]
    pub request_id: Option<String>,
    /// When an auto-assigned assignment is removed, for a removal scheduled.
    #[serde(default)]
    pub removal: Option<String>,
}

impl Changed {
    #[must_use]
    pub fn of(event: &em_engine::event::Event) -> Self {
        let text = |key: &str| event.data.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            kind: event.kind,
            subject_id: event.subject_id.clone(),
            target_id: event.target_id.clone(),
            request_id: text("requestId"),
            removal: text("removalDateTime"),
        }
    }
}

/// A peer's commit, as it tells it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Committed {
    pub origin: String,
    /// The teller's count of its tells, from 1: a peer that sees one missing (it could not be
    /// told) knows its read models may be behind.
    pub seq: u64,
    pub changed: Vec<Changed>,
    /// How many of the teller's event-writing transactions had ended once this one had
    /// ([`super::writers::Writers::ended`]); see [`Peers::settled`].
    #[serde(default)]
    pub ended: Option<u64>,
}

/// A peer's answer to `settled`: how many of its event-writing transactions had ended once those
/// it was running when asked had.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Settled {
    pub ended: u64,
}

#[derive(Default)]
struct State {
    me: Option<Replica>,
    /// The database's replica key (see the module docs), once joined.
    key: Option<String>,
    client: Option<reqwest::Client>,
    peers: HashMap<String, Peer>,
}

#[derive(Debug, Clone)]
struct Peer {
    url: String,
    /// When it stopped answering, while it does not.
    failed: Option<Instant>,
    /// When it said hello: it counts until the registry shows it (a read begun before it
    /// registered does not).
    hello: Option<Instant>,
    /// The most of its ended event-writing transactions it has told of (in a tell or a settle
    /// answer).
    ended: Option<u64>,
}

impl Peer {
    /// It told how many of its event-writing transactions had ended: the most it told is kept
    /// (a tell and a settle answer may arrive out of order).
    fn told(&mut self, ended: u64) {
        self.ended = Some(self.ended.map_or(ended, |known| known.max(ended)));
    }
}

impl Peers {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many peers have left the registry since this process joined.
    #[must_use]
    pub fn departed(&self) -> u64 {
        self.departed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a call to `/replica/*` comes from a peer: `None` when this process has not
    /// joined replicas (no such calls at all), else whether `authorization` carries the key.
    #[must_use]
    pub fn admits(&self, authorization: Option<&str>) -> Option<bool> {
        let state = self.lock();
        let key = state.key.as_deref()?;
        let given = authorization.and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
        // In constant time, so the answer's timing does not spell the key out.
        let same = given.len() == key.len()
            && given.bytes().zip(key.bytes()).fold(0_u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        Some(same)
    }

    /// Whether this process has joined and has peers.
    #[must_use]
    pub fn any(&self) -> bool {
        !self.lock().peers.is_empty()
    }

    /// The peers now known, by origin.
    #[must_use]
    pub fn known(&self) -> Vec<Replica> {
        let mut known: Vec<Replica> = self
            .lock()
            .peers
            .iter()
            .map(|(origin, peer)| Replica { origin: origin.clone(), url: peer.url.clone() })
            .collect();
        known.sort_by(|a, b| a.origin.cmp(&b.origin));
        known
    }

    /// A peer said hello: it counts from now on.
    pub fn hello(&self, replica: Replica) {
        let mut state = self.lock();
        if state.me.as_ref().is_some_and(|me| me.origin != replica.origin) {
            state.peers.insert(
                replica.origin,
                Peer { url: replica.url, failed: None, hello: Some(Instant::now()), ended: None },
            );
        }
    }

    /// A peer told how many of its event-writing transactions had ended.
    pub fn heard(&self, origin: &str, ended: u64) {
        if let Some(peer) = self.lock().peers.get_mut(origin) {
            peer.told(ended);
        }
    }

    /// What each peer last told of its ended transactions: taken before a read, and given to
    /// [`Peers::settled`] after it.
    #[must_use]
    pub fn ended(&self) -> HashMap<String, u64> {
        self.lock().peers.iter().filter_map(|(origin, peer)| Some((origin.clone(), peer.ended?))).collect()
    }

    /// Tells every peer what a commit of this replica changed, and waits for their answers
    /// (their read models forgot what it made stale). A peer that does not answer is left out
    /// until it answers a settle call again; its own follower of the feed catches up.
    pub(crate) async fn tell(&self, origin: &str, ended: u64, events: &[em_engine::event::Event]) {
        let (client, key, peers) = {
            let state = self.lock();
            let (Some(client), Some(key)) = (state.client.clone(), state.key.clone()) else { return };
            let peers: Vec<(String, String)> = state
                .peers
                .iter()
                .filter(|(_, p)| p.failed.is_none())
                .map(|(o, p)| (o.clone(), p.url.clone()))
                .collect();
            (client, key, peers)
        };
        if peers.is_empty() {
            return;
        }
        let seq = self.told.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
        let body = Committed {
            origin: origin.to_owned(),
            seq,
            changed: events.iter().map(Changed::of).collect(),
            ended: Some(ended),
        };
        let calls = peers.into_iter().map(|(peer, url)| {
            let (client, body, key) = (client.clone(), &body, &key);
            async move {
                let told = client
                    .post(format!("{url}/replica/committed"))
                    .bearer_auth(key)
                    .json(body)
                    .timeout(WAKE_TIMEOUT)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                (peer, told)
            }
        });
        for (peer, told) in futures::future::join_all(calls).await {
            if !told {
                tracing::warn!(%peer, "a replica was not told of a commit; leaving it out until it answers");
                if let Some(known) = self.lock().peers.get_mut(&peer) {
                    known.failed.get_or_insert_with(Instant::now);
                }
            }
        }
    }

    /// Resolves once every peer has answered that the event-writing transactions it was
    /// running when asked have ended (a peer that does not answer: see the module docs). Returns
    /// whether every peer's count of ended transactions is still the one in `before` (taken
    /// before a read): then none of theirs can have become visible while the read ran, and what
    /// it read is final as it is.
    pub async fn settled(&self, before: &HashMap<String, u64>) -> bool {
        let (client, key, peers) = {
            let state = self.lock();
            let (Some(client), Some(key)) = (state.client.clone(), state.key.clone()) else { return true };
            let peers: Vec<(String, Peer)> =
                state.peers.iter().map(|(o, p)| (o.clone(), p.clone())).collect();
            (client, key, peers)
        };
        let calls = peers.into_iter().map(|(origin, peer)| {
            let (client, key) = (client.clone(), &key);
            async move {
                let answer = client
                    .post(format!("{}/replica/settled", peer.url))
                    .bearer_auth(key)
                    .timeout(SETTLE_TIMEOUT)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success());
                let answered = answer.is_some();
                // A peer of a build before the count answers with no body: taken as moved.
                let ended = match answer {
                    Some(response) => response.json::<Settled>().await.ok().map(|s| s.ended),
                    None => None,
                };
                (origin, peer, answered, ended)
            }
        });
        let mut unchanged = true;
        for (origin, peer, answered, ended) in futures::future::join_all(calls).await {
            unchanged &= ended.is_some() && ended == before.get(&origin).copied();
            if answered {
                if let Some(known) = self.lock().peers.get_mut(&origin) {
                    known.failed = None;
                    if let Some(ended) = ended {
                        known.told(ended);
                    }
                }
                continue;
            }
            if peer.failed.is_none() {
                tracing::warn!(peer = %origin, url = %peer.url, "a replica does not answer; waiting for its last commits once");
                if let Some(known) = self.lock().peers.get_mut(&origin) {
                    known.failed = Some(Instant::now());
                }
                tokio::time::sleep(DEAD_WAIT).await;
            }
        }
        unchanged
    }
}

impl Store {
    /// Joins the replicas of this store's database server as `url` (what peers call): writes
    /// this replica's record, reads the others', says hello to each, then keeps its record fresh
    /// and its peers told of its commits. Call it before serving.
    pub async fn join(&self, url: &str) -> StoreResult<Vec<Replica>> {
        let me = Replica { origin: self.origin().to_owned(), url: url.trim_end_matches('/').to_owned() };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| super::StoreError::Backend(format!("an HTTP client for peers: {e}")))?;
        let key = self.replica_key().await?;
        {
            let mut state = self.peers.lock();
            state.me = Some(me.clone());
            state.key = Some(key.clone());
            state.client = Some(client.clone());
        }
        let found = self.heartbeat(&me).await?;
        let hellos = found.iter().map(|peer| {
            let client = client.clone();
            let (me, key) = (me.clone(), &key);
            async move {
                let sent = client
                    .post(format!("{}/replica/hello", peer.url))
                    .bearer_auth(key)
                    .json(&me)
                    .timeout(WAKE_TIMEOUT)
                    .send()
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(peer = %peer.origin, error = %e, "a replica in the registry does not answer");
                }
            }
        });
        futures::future::join_all(hellos).await;
        tokio::spawn(keep_fresh(self.clone(), me.clone()));
        tracing::info!(origin = %me.origin, url = %me.url, peers = found.len(), "joined the database's replicas");
        Ok(found)
    }

    /// The key replicas of this database call each other with (see the module docs).
    pub async fn replica_key(&self) -> StoreResult<String> {
        let mut response = self.read("SELECT VALUE key FROM ONLY replica_key:only;", crate::vars! {}).await?;
        response
            .value(0)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| super::StoreError::Backend("the database has no replica key".into()))
    }

    /// The replica registered as `origin`, if its record is fresh: a hello is believed only of
    /// a replica in the registry.
    pub async fn registered(&self, origin: &str) -> StoreResult<Option<Replica>> {
        let sql = "SELECT record::id(id) AS origin, url FROM ONLY type::record('replica', $origin)
                       WHERE seen > time::now() - 5s;";
        let mut response = self.read(sql, crate::vars! { "origin" => origin }).await?;
        Ok(serde_json::from_value(response.value(0)?).ok())
    }

    /// Refreshes `me`'s record, forgets records long dead, and reads the live peers into
    /// [`Peers`] (keeping what is known of each); returns them.
    async fn heartbeat(&self, me: &Replica) -> StoreResult<Vec<Replica>> {
        let sql = "UPSERT type::record('replica', $origin) SET url = $url, seen = time::now() RETURN NONE;
                   DELETE replica WHERE seen < time::now() - 1m RETURN NONE;
                   SELECT record::id(id) AS origin, url FROM replica
                       WHERE seen > time::now() - 5s AND record::id(id) != $origin ORDER BY origin;";
        let mut response =
            self.read(sql, crate::vars! { "origin" => me.origin.as_str(), "url" => me.url.as_str() }).await?;
        let rows: Vec<Value> = response.rows(2, "replica")?;
        let found: Vec<Replica> =
            rows.into_iter().filter_map(|row| serde_json::from_value(row).ok()).collect();
        let mut state = self.peers.lock();
        let mut peers = HashMap::new();
        for replica in &found {
            let known = state.peers.get(&replica.origin);
            let (failed, ended) = (known.and_then(|p| p.failed), known.and_then(|p| p.ended));
            peers.insert(
                replica.origin.clone(),
                Peer { url: replica.url.clone(), failed, hello: None, ended },
            );
        }
        // A peer that said hello lately counts even if this read began before it registered.
        for (origin, peer) in state.peers.drain() {
            if peer.hello.is_some_and(|at| at.elapsed() < ALIVE) {
                peers.entry(origin).or_insert(peer);
            } else if !peers.contains_key(&origin) {
                tracing::info!(peer = %origin, "a replica left the registry");
                self.peers.departed.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            }
        }
        state.peers = peers;
        Ok(found)
    }
}

/// Keeps this replica's record fresh and its peers current, for as long as the process runs.
async fn keep_fresh(store: Store, me: Replica) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = store.heartbeat(&me).await {
            tracing::warn!(error = %e, "cannot refresh this replica's record; retrying");
        }
    }
}
