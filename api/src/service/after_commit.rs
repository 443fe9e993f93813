//! The step that follows every committed change to a user's requests and assignments: the
//! committer commits the write with its events ([`super::commit`]), then this step brings what
//! this process keeps in memory up to date, in one place, instead of the component that
//! committed calling into the others:
//!
//! - the request path's read models (`context`): the target's requests and assignments as
//!   written, and what a delivery changed (their groups, what they hold) read again on next use;
//! - what the target holds through their groups (`authz`), read again on next use;
//! - auto-assignment's directory index (`auto`): the group memberships a delivery granted or
//!   took away. Only the index follows: auto-assignment's operations are never called from here.
//!
//! Subscribers hear of the change from the event feed, which reads what was committed.

use std::sync::Arc;

use super::context::TargetState;
use super::{ServiceResult, Services};
use crate::store::requests::{GovernanceWrite, Outbox};

impl Services {
    /// Commits a change decided on `state`, with its events, then takes the after-commit step. A
    /// write refused (as stale, say) forgets what it was decided on.
    pub(crate) async fn commit_governance(
        &self,
        write: GovernanceWrite,
        events: Vec<em_engine::event::Event>,
        state: &TargetState,
    ) -> ServiceResult<()> {
        let write = Arc::new(write);
        match self.committer.commit(&self.store, Arc::clone(&write), events).await {
            Ok(outbox) => {
                self.after_commit(&write, state, outbox.as_ref()).await;
                Ok(())
            }
            Err(e) => {
                self.forget_write(&write);
                Err(e.into())
            }
        }
    }

    /// What follows a committed write decided on `state` (see the module docs); `outbox` is
    /// where its transaction wrote its custom extension calls.
    pub(crate) async fn after_commit(
        &self,
        write: &GovernanceWrite,
        state: &TargetState,
        outbox: Option<&Outbox>,
    ) {
        self.remember_commit(write, state);
        super::extensions::hand_off(self, &write.callouts, outbox);
        if !write.deliver.is_empty() || !write.revoke.is_empty() {
            // What the target holds through their groups is read again on next use.
            self.authz_forget(&write.target_id);
            super::auto::follow_deliveries(&self.auto, &write.target_id, write).await;
        }
    }
}
