//! Several `em-api` replicas on one database server. Each keeps read models in memory (the
//! caller cache, package contexts, the role index, the directory index of auto-assignment, the
//! connected organizations); what its own commits change it updates after each commit
//! (`after_commit`, the store's generations). What other replicas commit they tell it before
//! they acknowledge it ([`Services::replica_committed`], see `store::peers`), each tell
//! numbered: a tell missing for [`GAP_WAIT`] (a peer that could not reach this one), or a peer
//! that left the registry (it may have died between a commit and its tell), sends every read
//! model back to the store.
//!
//! The live feed publishes only what is final across replicas (`store::peers`), so every
//! subscription sees the commits of all replicas in one order.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use em_engine::event::EventKind;
use em_engine::id::{AssignmentId, PolicyId, RequestId};

use super::{ServiceResult, Services};
use crate::store::peers::{Changed, Committed, Replica};

/// How long a replica's own running transactions are waited for when a peer asks.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

impl Services {
    /// Joins the replicas of the database server as `url` (what the others call this one at),
    /// then follows their changes. Call it before serving; a store inside this process has no
    /// other replicas, and nothing is done.
    pub async fn join_replicas(&self, url: &str) -> ServiceResult<Vec<Replica>> {
        if !self.store.is_remote() {
            return Ok(Vec::new());
        }
        let peers = self.store.join(url).await?;
        tokio::spawn(watch_peers(self.clone()));
        Ok(peers)
    }

    /// The read models start over: a change could not be followed, a peer's tell is missing,
    /// or a peer left (it may have died between a commit and its tell).
    async fn forget_everything(&self) {
        tracing::info!("the read models start over");
        self.store.moved_elsewhere(false);
        self.store.roles_changed();
        self.forget_all_cached();
        self.auto_reset().await;
        self.organizations_forget().await;
    }

    /// Resolves once the event-writing transactions this replica is running now have ended (a
    /// peer's feed asks before it publishes past what it read), with how many have ended so far;
    /// `None` when one ran too long to wait for.
    pub async fn replica_settled(&self) -> Option<u64> {
        let writers = self.store.writers();
        let mark = writers.mark();
        if tokio::time::timeout(SETTLE_LIMIT, writers.settled(mark)).await.is_err() {
            tracing::warn!("a transaction has run for 30 s; answering a peer without it");
            return None;
        }
        Some(writers.ended())
    }

    /// A peer tells what a commit of its changed, before it acknowledges it: the read models
    /// forget what it made stale, and the feed reads now instead of at its next poll.
    pub async fn replica_committed(&self, committed: Committed) {
        if committed.origin != self.store.origin() {
            for changed in &committed.changed {
                if let Err(e) = self.follow_changed(changed).await {
                    tracing::warn!(error = %e, "cannot follow a peer's change; reading everything again");
                    self.forget_everything().await;
                }
            }
            if lock(&self.tells).received(&committed.origin, committed.seq) {
                tracing::warn!(peer = %committed.origin, "a tell of a peer is missing; reading everything again");
                self.forget_everything().await;
            }
            // Known before the feed is woken, so the read it begins counts it.
            if let Some(ended) = committed.ended {
                self.store.peers().heard(&committed.origin, ended);
            }
        }
        self.store.committed().notify_waiters();
    }

    /// A peer joined: believed if the registry has it at that address.
    pub async fn replica_hello(&self, replica: Replica) {
        match self.store.registered(&replica.origin).await {
            Ok(Some(registered)) if registered == replica => {
                self.store.peers().hello(replica);
            }
            Ok(_) => {
                tracing::warn!(origin = %replica.origin, url = %replica.url, "a hello from a replica not in the registry; ignored")
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the replicas' registry"),
        }
    }

    /// Takes another replica's committed change to the read models it changes.
    async fn follow_changed(&self, e: &Changed) -> ServiceResult<()> {
        use EventKind as K;
        let target = e.target_id.as_deref();
        match e.kind {
            K::UserCreated | K::UserUpdated | K::UserDeleted => {
                self.store.moved_elsewhere(true);
                self.auto_follow_user(&e.subject_id).await?;
            }
            K::GroupMemberAdded | K::GroupMemberRemoved => {
                self.store.moved_elsewhere(true);
                if let Some(member) = target {
                    self.auto_follow_user(member).await?;
                }
            }
            K::GroupCreated
            | K::GroupUpdated
            | K::GroupDeleted
            | K::GroupOwnerAdded
            | K::GroupOwnerRemoved => {
                self.store.moved_elsewhere(false);
            }
            K::DirectoryImported => {
                self.store.moved_elsewhere(false);
                self.auto_reset().await;
            }
            K::AssignmentPolicyCreated | K::AssignmentPolicyUpdated | K::AssignmentPolicyDeleted => {
                self.store.moved_elsewhere(false);
                self.auto_follow_policy(&PolicyId::new(&e.subject_id)).await?;
            }
            K::CatalogCreated
            | K::CatalogUpdated
            | K::CatalogDeleted
            | K::CatalogResourceAdded
            | K::CatalogResourceRemoved
            | K::AccessPackageCreated
            | K::AccessPackageUpdated
            | K::AccessPackageDeleted
            | K::ResourceRoleScopeAdded
            | K::ResourceRoleScopeRemoved
            | K::IncompatibleAccessPackageAdded
            | K::IncompatibleGroupAdded
            | K::IncompatibilityRemoved
            | K::CustomExtensionCreated
            | K::CustomExtensionUpdated
            | K::CustomExtensionDeleted => self.store.moved_elsewhere(false),
            K::RoleAssignmentCreated | K::RoleAssignmentDeleted => self.store.roles_changed(),
            K::ConnectedOrganizationCreated
            | K::ConnectedOrganizationUpdated
            | K::ConnectedOrganizationDeleted => {
                self.organizations_forget().await;
            }
            K::SettingsUpdated => self.store.moved_elsewhere(false),
            K::AutoRemovalScheduled | K::AutoRemovalCanceled => {
                let at = e
                    .removal
                    .as_deref()
                    .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                    .map(|at| at.with_timezone(&chrono::Utc));
                let at = if e.kind == K::AutoRemovalScheduled { at } else { None };
                self.auto_follow_removal(&AssignmentId::new(&e.subject_id), at).await;
                self.forget_changed_elsewhere(target, None);
            }
            K::RequestCreated
            | K::RequestStateChanged
            | K::RequestUpdated
            | K::ApprovalStageAssigned
            | K::ApprovalStageRemoved => {
                let request = e.request_id.as_deref().unwrap_or(&e.subject_id);
                self.forget_changed_elsewhere(target, Some(&RequestId::new(request)));
            }
            K::AssignmentCreated | K::AssignmentStateChanged | K::AssignmentUpdated => {
                // A delivery or a removal may have changed the holder's groups.
                self.forget_changed_elsewhere(target, None);
                if let Some(holder) = target {
                    self.authz_forget(holder);
                    self.auto_follow_user(holder).await?;
                }
            }
            K::ExternalUserCreated
            | K::ExternalUserInvitationAccepted
            | K::ExternalUserBlocked
            | K::ExternalUserUnblocked
            | K::ExternalUserDeleted => {
                self.store.moved_elsewhere(true);
                self.forget_changed_elsewhere(Some(target.unwrap_or(&e.subject_id)), None);
                self.auto_follow_user(target.unwrap_or(&e.subject_id)).await?;
            }
            K::AssignmentExpiryReminder
            | K::AccessReviewStarted
            | K::AccessReviewEndingSoon
            | K::AccessReviewCompleted
            | K::AccessReviewApplied
            | K::AccessReviewDecisionRecorded
            | K::CustomExtensionCalloutSent
            | K::CustomExtensionCalloutFailed
            | K::CustomExtensionCallbackReceived
            | K::CustomExtensionCallbackTimedOut => {}
        }
        Ok(())
    }
}

/// How long a tell may arrive after a later one of the same peer (they are sent concurrently)
/// before it counts as missing.
const GAP_WAIT: Duration = Duration::from_secs(2);

/// The tells received from each peer (see `store::peers::Committed::seq`).
#[derive(Default)]
pub(crate) struct Tells {
    peers: HashMap<String, Received>,
}

struct Received {
    /// The next tell expected.
    next: u64,
    /// Tells received ahead of `next`, and since when the first of them waits.
    ahead: BTreeSet<u64>,
    since: Option<Instant>,
}

impl Tells {
    /// Records tell `seq` of `origin`; whether a tell has been missing for [`GAP_WAIT`].
    fn received(&mut self, origin: &str, seq: u64) -> bool {
        let Some(peer) = self.peers.get_mut(origin) else {
            // The first tell heard from a peer: what it committed before it knew this replica,
            // this replica read from the store.
            self.peers
                .insert(origin.to_owned(), Received { next: seq + 1, ahead: BTreeSet::new(), since: None });
            return false;
        };
        if seq == peer.next {
            peer.next += 1;
            while peer.ahead.remove(&peer.next) {
                peer.next += 1;
            }
            if peer.ahead.is_empty() {
                peer.since = None;
            }
        } else if seq > peer.next {
            peer.ahead.insert(seq);
            peer.since.get_or_insert_with(Instant::now);
        }
        self.overdue()
    }

    /// Whether a tell of some peer has been missing for [`GAP_WAIT`]; each such gap is then
    /// passed over (the read models start over once for it).
    fn overdue(&mut self) -> bool {
        let mut overdue = false;
        for peer in self.peers.values_mut() {
            if peer.since.is_some_and(|at| at.elapsed() >= GAP_WAIT) {
                overdue = true;
                peer.next = peer.ahead.last().map_or(peer.next, |last| last + 1);
                peer.ahead.clear();
                peer.since = None;
            }
        }
        overdue
    }
}

fn lock(tells: &std::sync::Mutex<Tells>) -> std::sync::MutexGuard<'_, Tells> {
    tells.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every second: a tell missing for [`GAP_WAIT`], or a peer that left the registry, sends the
/// read models back to the store, for as long as the process runs.
async fn watch_peers(services: Services) {
    let peers = services.store.peers();
    let mut departed = peers.departed();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = peers.departed();
        let overdue = lock(&services.tells).overdue();
        if now != departed || overdue {
            departed = now;
            services.forget_everything().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_out_of_order_are_not_a_gap_but_one_missing_for_long_is() {
        let mut tells = Tells::default();
        assert!(!tells.received("a", 7), "the first tell heard sets where a peer is");
        assert!(!tells.received("a", 9), "ahead of one not yet arrived");
        assert!(!tells.received("a", 8), "which arrives");
        assert_eq!(tells.peers["a"].next, 10);
        assert!(tells.peers["a"].ahead.is_empty() && tells.peers["a"].since.is_none());
        assert!(!tells.received("a", 8), "a repeat changes nothing");
        assert!(!tells.received("a", 12));
        // Tell 10 and 11 never come.
        tells.peers.get_mut("a").unwrap().since = Some(Instant::now() - GAP_WAIT);
        assert!(tells.overdue(), "missing for the wait: the read models start over");
        assert_eq!(tells.peers["a"].next, 13);
        assert!(!tells.overdue(), "once");
        assert!(!tells.received("a", 13));
    }
}
