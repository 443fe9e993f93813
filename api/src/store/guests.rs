//! The guests entitlement management invites, in the store: `managed_guest:⟨user id⟩`, the record
//! beside the guest's `user` row. A guest is created, blocked and unblocked in the transaction of
//! the change to their assignments that decides it (see `requests::governance_sql`); their
//! invitation is accepted and they are deleted here.

use em_engine::event::Event;
use em_engine::guest::{ACCEPTED, ManagedGuest, PENDING_ACCEPTANCE};
use serde_json::json;

use super::{Store, StoreError, StoreResult, throw_stale};
use crate::vars;

impl Store {
    /// Entitlement management's record of the guest `id`, if it invited them.
    pub async fn managed_guest(&self, id: &str) -> StoreResult<Option<ManagedGuest>> {
        self.get("managed_guest", id).await
    }

    /// Accepts the invitation of guest `id` at `at`; `false` when it was accepted already.
    pub async fn accept_invitation(
        &self,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
        event: Event,
    ) -> StoreResult<bool> {
        let body = format!(
            "IF type::record('user', $id).externalUserState != $pending {{ {stale} }};
             UPDATE type::record('user', $id)
                 SET externalUserState = $accepted, externalUserStateChangeDateTime = $at RETURN NONE;",
            stale = throw_stale(),
        );
        let vars = vars! { "id" => id, "pending" => PENDING_ACCEPTANCE, "accepted" => ACCEPTED, "at" => at };
        match self.logged(vec![event]).untracked().transaction(&body, vars).await {
            Ok(_) => Ok(true),
            Err(StoreError::Stale) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes a blocked guest with their memberships, role assignments and record, when their
    /// record is still `record` (blocked, deletion due) and they hold no active assignment;
    /// stale otherwise.
    pub async fn delete_managed_guest(&self, record: &ManagedGuest, event: Event) -> StoreResult<()> {
        let body = format!(
            "LET $now = type::record('managed_guest', $id).{{ blockedDateTime, deletionDateTime }};
             IF $now.blockedDateTime != $blocked OR $now.deletionDateTime != $deletion {{ {stale} }};
             IF array::len(type::record('target_state', $id).active ?? []) > 0 {{ {stale} }};
             {memberships}
             DELETE grant:[$id, NONE]..[$id, {{}}];
             UPDATE user SET manager = NONE, managerId = NONE WHERE managerId = $id RETURN NONE;
             {roles}
             DELETE type::record('user', $id);
             DELETE type::record('managed_guest', $id);
             DELETE type::record('timer_set', $timers);",
            stale = throw_stale(),
            memberships = super::directory::delete_memberships_of_id!(),
            roles = super::roles::delete_principal_roles(),
        );
        let vars = vars! {
            "id" => record.id,
            "blocked" => json!(record.blocked_date_time),
            "deletion" => json!(record.deletion_date_time),
            "timers" => ManagedGuest::timer_owner(&record.id),
        };
        self.logged(vec![event]).people().transaction(&body, vars).await?;
        self.roles_changed();
        Ok(())
    }
}
