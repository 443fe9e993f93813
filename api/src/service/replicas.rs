//! Several `em-api` replicas on one database server. Each keeps read models in memory (the
//! caller cache, package contexts, the role index, the directory index of auto-assignment, the
//! connected organizations); what its own commits change it updates after each commit
//! (`after_commit`, the store's generations). What other replicas commit they tell it before
//! they acknowledge it ([`Services::replica_committed`], see `store::peers`), and it also reads
//! from the event feed: every change writes its events in its own transaction, each event
//! record names the process that wrote it (`FeedEvent::origin`), and once the replica has
//! peers a follower takes each event of another origin to the read models it changes (the
//! backstop for a peer that could not tell it).
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
        if !peers.is_empty() {
            self.follow_feed().await;
        }
        Ok(peers)
    }

    /// Starts following the event feed for other replicas' commits, once there are any: what a
    /// peer could not tell this replica (it did not answer) still reaches the read models.
    async fn follow_feed(&self) {
        let started = self
            .following
            .get_or_try_init(|| async {
                let events = self.event_feed().subscribe(None).await?;
                tokio::spawn(follow(self.clone(), Box::pin(events)));
                ServiceResult::Ok(())
            })
            .await;
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot follow the other replicas' events yet");
        }
    }

    /// The read models start over (a change could not be followed).
    async fn forget_everything(&self) {
        self.store.moved_elsewhere(false);
        self.store.roles_changed();
        self.auto_reset().await;
        self.organizations_forget().await;
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
            self.follow_feed().await;
        }
        self.store.committed().notify_waiters();
    }

    /// A peer joined: believed if the registry has it at that address.
    pub async fn replica_hello(&self, replica: Replica) {
        match self.store.registered(&replica.origin).await {
            Ok(Some(registered)) if registered == replica => {
                self.store.peers().hello(replica);
                // Not awaited: starting the feed asks the peers to settle, and this one serves
                // only once its hello is answered.
                let services = self.clone();
                tokio::spawn(async move { services.follow_feed().await });
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
                        && let Err(e) = services.follow_changed(&Changed::of(&event.event)).await
                    {
                        // The read models may be behind this change: they start over.
                        tracing::warn!(error = %e, "cannot follow another replica's change; reading everything again");
                        services.forget_everything().await;
                    }
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
