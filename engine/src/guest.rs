//! Guests that entitlement management invites for people from other organizations, and what
//! becomes of them when their access ends (Graph's `externalUserLifecycleAction`).
//!
//! ```text
//! an outsider's first assignment ─▶ guest invited (PendingAcceptance) ─ first sign-in ─▶ Accepted
//! last assignment ends ─▶ blocked (accountEnabled false) ─┬─ an assignment again ─▶ unblocked
//!                                                         └─ the duration passes ─▶ deleted
//! ```
//!
//! A guest's id is decided by who they are at their identity provider (the token's issuer and
//! object id), so the same person always maps to the same guest: their racing requests change
//! one target, whose version lets only one of them create the guest. Entitlement management
//! keeps its own record of the guests it created ([`ManagedGuest`]); a guest it did not create
//! has none, and is left alone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::actor::{Actor, ExternalSubject};
use crate::connected_organization::{
    ConnectedOrganization, EntitlementManagementSettings, ExternalUserLifecycleAction,
};
use crate::directory::{ObjectRef, User, UserType};
use crate::event::{Event, EventKind};
use crate::id::{ConnectedOrganizationId, UserId};
use crate::timer::{Timer, TimerKind};

/// The namespace of guest ids (a UUID v5 of the issuer and the object id).
const GUEST_NAMESPACE: Uuid = Uuid::from_u128(0x6b1e_41f3_9c1d_4a7e_8f0b_2d5c_7e91_a3f4);

/// `creationType` of an invited guest.
pub const INVITATION: &str = "Invitation";
/// `externalUserState` before the guest's first sign-in.
pub const PENDING_ACCEPTANCE: &str = "PendingAcceptance";
/// `externalUserState` after it.
pub const ACCEPTED: &str = "Accepted";

/// The directory's guest user id for the person `issuer` knows as `object_id`.
#[must_use]
pub fn guest_id(issuer: &str, object_id: &str) -> UserId {
    let name = format!("{}\n{object_id}", issuer.trim_end_matches('/'));
    UserId::new(Uuid::new_v5(&GUEST_NAMESPACE, name.as_bytes()).to_string())
}

/// Entitlement management's record of a guest it invited: who they are at home, and where they
/// are in their lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedGuest {
    pub id: UserId,
    pub issuer: String,
    pub object_id: String,
    pub tenant_id: Option<String>,
    pub email: String,
    /// The connected organization they came from (when they were invited).
    pub connected_organization_id: Option<ConnectedOrganizationId>,
    pub created_date_time: DateTime<Utc>,
    /// When their last assignment ended and sign-in was blocked; `None` while they hold access.
    pub blocked_date_time: Option<DateTime<Utc>>,
    /// When they are deleted, while blocked under `blockSignInAndDelete`.
    pub deletion_date_time: Option<DateTime<Utc>>,
}

impl ManagedGuest {
    /// The owner id of the guest's timers.
    #[must_use]
    pub fn timer_owner(id: &str) -> String {
        format!("{id}{TIMER_SUFFIX}")
    }

    /// The guest's timers: their deletion, while one is due.
    #[must_use]
    pub fn timers(&self) -> Vec<Timer> {
        self.deletion_date_time.map(|at| Timer::new(at, TimerKind::GuestDeletion)).into_iter().collect()
    }
}

/// The suffix of a guest's timer owner id, after the user id.
pub const TIMER_SUFFIX: &str = "#guest";

/// A guest written with a change of their requests and assignments: the user and the record,
/// created (`created`) or replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestWrite {
    pub user: User,
    pub record: ManagedGuest,
    pub created: bool,
}

/// A guest as the directory and entitlement management know them.
#[derive(Debug, Clone, Copy)]
pub struct Guest<'a> {
    pub user: &'a User,
    pub record: &'a ManagedGuest,
}

/// The guest user invited for `subject` from `organization`: `userType` `Guest`, `creationType`
/// `Invitation`, `externalUserState` `PendingAcceptance`, a guest user principal name in
/// `initial_domain` (`alice_fabrikam.com#EXT#@contoso.onmicrosoft.com`), their e-mail, their
/// organization as company, its sponsors as theirs.
#[must_use]
pub fn invite(
    subject: &ExternalSubject,
    organization: Option<&ConnectedOrganization>,
    initial_domain: &str,
    now: DateTime<Utc>,
) -> GuestWrite {
    let id = guest_id(&subject.issuer, &subject.object_id);
    let email = subject.email.to_lowercase();
    let nickname = format!("{}#EXT#", email.replace('@', "_"));
    let mut sponsors: Vec<ObjectRef> = Vec::new();
    if let Some(org) = organization {
        for sponsor in org.external_sponsors.iter().chain(&org.internal_sponsors) {
            if !sponsors.contains(sponsor) {
                sponsors.push(sponsor.clone());
            }
        }
    }
    let display_name = subject
        .display_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_owned());
    let user = User {
        id: id.clone(),
        display_name: Some(display_name),
        user_principal_name: Some(format!("{nickname}@{initial_domain}")),
        mail: Some(email.clone()),
        mail_nickname: Some(nickname),
        other_mails: vec![email.clone()],
        proxy_addresses: vec![format!("SMTP:{email}")],
        user_type: Some(UserType::Guest),
        account_enabled: Some(true),
        company_name: organization.map(|o| o.display_name.clone()),
        creation_type: Some(INVITATION.to_owned()),
        external_user_state: Some(PENDING_ACCEPTANCE.to_owned()),
        external_user_state_change_date_time: Some(now),
        sponsors,
        ..User::default()
    };
    let record = ManagedGuest {
        id,
        issuer: subject.issuer.clone(),
        object_id: subject.object_id.clone(),
        tenant_id: subject.tenant_id.clone(),
        email,
        connected_organization_id: organization.map(|o| o.id.clone()),
        created_date_time: now,
        blocked_date_time: None,
        deletion_date_time: None,
    };
    GuestWrite { user, record, created: true }
}

/// The guest's first sign-in after their invitation: accepted. `None` when it already was.
#[must_use]
pub fn accept(user: &User, now: DateTime<Utc>) -> Option<User> {
    if user.external_user_state.as_deref() != Some(PENDING_ACCEPTANCE) {
        return None;
    }
    let mut next = user.clone();
    next.external_user_state = Some(ACCEPTED.to_owned());
    next.external_user_state_change_date_time = Some(now);
    Some(next)
}

/// What a change of a managed guest's active assignments, from `before` to `after` of them, does
/// to the guest: losing the last one blocks sign-in under `blockSignIn` and
/// `blockSignInAndDelete` (and schedules the deletion under the latter); getting one while
/// blocked unblocks them and cancels the deletion. `None` when nothing changes.
#[must_use]
pub fn on_access(
    guest: Guest<'_>,
    before: usize,
    after: usize,
    settings: &EntitlementManagementSettings,
    now: DateTime<Utc>,
) -> Option<(GuestWrite, EventKind, String)> {
    let blocked = guest.record.blocked_date_time.is_some();
    let mut user = guest.user.clone();
    let mut record = guest.record.clone();
    if after > 0 && blocked {
        user.account_enabled = Some(true);
        record.blocked_date_time = None;
        record.deletion_date_time = None;
        let reason = "has access again: sign-in allowed, deletion canceled".to_owned();
        return Some((GuestWrite { user, record, created: false }, EventKind::ExternalUserUnblocked, reason));
    }
    if after > 0 || before == 0 || blocked {
        return None;
    }
    let (deletion, reason) = match settings.external_user_lifecycle_action {
        ExternalUserLifecycleAction::None => return None,
        ExternalUserLifecycleAction::BlockSignIn => {
            (None, "lost their last assignment: sign-in blocked".to_owned())
        }
        ExternalUserLifecycleAction::BlockSignInAndDelete => {
            let at = settings.duration_until_external_user_deleted_after_blocked.after(now).unwrap_or(now);
            (
                Some(at),
                format!("lost their last assignment: sign-in blocked, deletion at {}", at.to_rfc3339()),
            )
        }
    };
    user.account_enabled = Some(false);
    record.blocked_date_time = Some(now);
    record.deletion_date_time = deletion;
    Some((GuestWrite { user, record, created: false }, EventKind::ExternalUserBlocked, reason))
}

/// Whether the guest's deletion timer, firing at `now`, deletes them: still blocked, due, and
/// holding no assignment.
#[must_use]
pub fn is_deletion_due(record: &ManagedGuest, active_assignments: usize, now: DateTime<Utc>) -> bool {
    record.blocked_date_time.is_some()
        && record.deletion_date_time.is_some_and(|at| at <= now)
        && active_assignments == 0
}

/// The event of a guest's step, carrying the guest.
#[must_use]
pub fn event(
    id: String,
    kind: EventKind,
    actor: &Actor,
    user: &User,
    reason: &str,
    now: DateTime<Utc>,
) -> Event {
    let who = user.display_name.as_deref().unwrap_or(&user.id);
    let mut event = Event::new(id, kind, actor, now, "User", &user.id)
        .with_reason(format!("guest `{who}` {reason}"))
        .with_data(json!({ "user": user }));
    event.target_id = Some(user.id.to_string());
    event
}

#[cfg(test)]
mod tests;
