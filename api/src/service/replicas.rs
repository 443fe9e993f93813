//! Several `em-api` replicas on one database server. Each keeps read models in memory (the
//! caller cache, package contexts, the role index, the directory index of auto-assignment, the
//! connected organizations); what its own commits change it updates after each commit
//! (`after_commit`, the store's generations). What other replicas commit it learns from the
//! event feed: every change writes its events in its own transaction, each event record names
//! the process that wrote it (`FeedEvent::origin`), and [`Services::join_replicas`] starts a
//! follower that takes each event of another origin to the read models it changes.
//!
//! The feed itself publishes only what is final across replicas (`store::peers`), so the
//! follower and every subscription see the commits of all replicas in one order.

use std::sync::Arc;
use std::time::Duration;

use em_engine::event::EventKind;
use em_engine::id::{AssignmentId, PolicyId, RequestId};
use futures::StreamExt as _;

use super::{ServiceResult, Services};
use crate::store::events::FeedEvent;
use crate::store::peers::Replica;

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
        let feed = self.event_feed();
        let start = feed.caught_up().await?;
        let events = feed.subscribe(Some(start)).await?;
        self.followed.send_replace(start);
        tokio::spawn(follow(self.clone(), Box::pin(events)));
        Ok(peers)
    }

    /// Resolves once the event-writing transactions this replica is running now have ended (a
    /// peer's feed asks before it publishes past what it read).
    pub async fn replica_settled(&self) {
        let writers = self.store.writers();
        let mark = writers.mark();
        if tokio::time::timeout(SETTLE_LIMIT, writers.settled(mark)).await.is_err() {
            tracing::warn!("a transaction has run for 30 s; answering a peer without it");
        }
    }

    /// Resolves once the read models have followed every commit any replica made before the
    /// call (at once without peers): what a mutation waits for before it is decided, so that a
    /// client acknowledged by one replica is never refused by another on older data.
    pub async fn replicas_caught_up(&self) {
        if !self.store.peers().any() {
            return;
        }
        let wait = async {
            let upto = self.event_feed().caught_up().await?;
            let mut followed = self.followed.subscribe();
            let _ = followed.wait_for(|at| *at >= upto).await;
            ServiceResult::Ok(())
        };
        match tokio::time::timeout(SETTLE_LIMIT, wait).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot catch up with the other replicas; deciding on what is known")
            }
            Err(_) => tracing::warn!("the replica follower is 30 s behind; deciding on what is known"),
        }
    }

    /// A peer committed: the feed reads now instead of at its next poll.
    pub fn replica_committed(&self) {
        self.store.committed().notify_waiters();
    }

    /// A peer joined: believed if the registry has it at that address.
    pub async fn replica_hello(&self, replica: Replica) {
        match self.store.registered(&replica.origin).await {
            Ok(Some(registered)) if registered == replica => self.store.peers().hello(replica),
            Ok(_) => {
                tracing::warn!(origin = %replica.origin, url = %replica.url, "a hello from a replica not in the registry; ignored")
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the replicas' registry"),
        }
    }

    /// Takes another replica's committed event to the read models it changes.
    async fn follow_event(&self, event: &FeedEvent) -> ServiceResult<()> {
        use EventKind as K;
        let e = &event.event;
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
                    .data
                    .get("removalDateTime")
                    .and_then(serde_json::Value::as_str)
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
                let request =
                    e.data.get("requestId").and_then(serde_json::Value::as_str).unwrap_or(&e.subject_id);
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

/// Follows the feed for as long as the process runs, resuming from the last event taken after
/// a store error.
async fn follow(
    services: Services,
    mut events: std::pin::Pin<
        Box<dyn futures::Stream<Item = crate::store::StoreResult<Arc<FeedEvent>>> + Send>,
    >,
) {
    let mut last = None;
    loop {
        while let Some(item) = events.next().await {
            match item {
                Ok(event) => {
                    last = Some(event.cursor);
                    if *event.origin != *services.store.origin()
                        && let Err(e) = services.follow_event(&event).await
                    {
                        // The read models may be behind this change: they start over.
                        tracing::warn!(error = %e, "cannot follow another replica's change; reading everything again");
                        services.store.moved_elsewhere(false);
                        services.store.roles_changed();
                        services.auto_reset().await;
                        services.organizations_forget().await;
                    }
                    services.followed.send_replace(event.cursor);
                }
                Err(e) => tracing::warn!(error = %e, "the replica follower lost the feed; resuming"),
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        match services.event_feed().subscribe(last).await {
            Ok(stream) => events = Box::pin(stream),
            Err(e) => tracing::warn!(error = %e, "the replica follower cannot resume yet"),
        }
    }
}
