use chrono::{TimeZone, Utc};

use super::*;
use crate::connected_organization::{ConnectedOrganizationState, IdentitySource};
use crate::duration::Duration;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

fn subject() -> ExternalSubject {
    ExternalSubject {
        issuer: "https://login.microsoftonline.com/fab/v2.0".into(),
        object_id: "oid-1".into(),
        tenant_id: Some("fab".into()),
        email: "Nina.Novak@Fabrikam.com".into(),
        display_name: Some("Nina Novak".into()),
        connected_organization_id: Some("co-fab".into()),
    }
}

fn fabrikam() -> ConnectedOrganization {
    ConnectedOrganization {
        id: "co-fab".into(),
        display_name: "Fabrikam".into(),
        description: None,
        identity_sources: vec![IdentitySource::AzureActiveDirectoryTenant {
            tenant_id: "fab".into(),
            display_name: Some("Fabrikam".into()),
        }],
        state: ConnectedOrganizationState::Configured,
        internal_sponsors: vec![ObjectRef { id: "g-approvers".into() }],
        external_sponsors: vec![ObjectRef { id: "u-nora".into() }],
        created_date_time: now(),
        modified_date_time: now(),
    }
}

#[test]
fn the_same_person_maps_to_one_guest_and_others_to_others() {
    let a = guest_id("https://login.microsoftonline.com/fab/v2.0", "oid-1");
    assert_eq!(a, guest_id("https://login.microsoftonline.com/fab/v2.0/", "oid-1"));
    assert_ne!(a, guest_id("https://login.microsoftonline.com/fab/v2.0", "oid-2"));
    assert_ne!(a, guest_id("https://login.microsoftonline.com/lit/v2.0", "oid-1"));
}

#[test]
fn an_invited_guest_is_shaped_as_graph_invites_one() {
    let write = invite(&subject(), Some(&fabrikam()), "contoso.onmicrosoft.com", now());
    let user = &write.user;
    assert!(write.created);
    assert_eq!(user.id, guest_id(&subject().issuer, "oid-1"));
    assert_eq!(user.user_type, Some(UserType::Guest));
    assert_eq!(user.creation_type.as_deref(), Some("Invitation"));
    assert_eq!(user.external_user_state.as_deref(), Some("PendingAcceptance"));
    assert_eq!(
        user.user_principal_name.as_deref(),
        Some("nina.novak_fabrikam.com#EXT#@contoso.onmicrosoft.com")
    );
    assert_eq!(user.mail.as_deref(), Some("nina.novak@fabrikam.com"));
    assert_eq!(user.company_name.as_deref(), Some("Fabrikam"));
    assert_eq!(user.display_name.as_deref(), Some("Nina Novak"));
    let sponsors: Vec<&str> = user.sponsors.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(sponsors, ["u-nora", "g-approvers"]);
    assert_eq!(write.record.connected_organization_id.as_deref(), Some("co-fab"));
    assert!(write.record.timers().is_empty());
}

#[test]
fn the_first_sign_in_accepts_the_invitation_once() {
    let write = invite(&subject(), None, "contoso.onmicrosoft.com", now());
    let accepted = accept(&write.user, now()).unwrap();
    assert_eq!(accepted.external_user_state.as_deref(), Some("Accepted"));
    assert!(accept(&accepted, now()).is_none());
}

#[test]
fn losing_the_last_assignment_blocks_and_schedules_the_deletion() {
    let write = invite(&subject(), None, "contoso.onmicrosoft.com", now());
    let guest = Guest { user: &write.user, record: &write.record };
    let settings = EntitlementManagementSettings::default();
    assert!(on_access(guest, 2, 1, &settings, now()).is_none(), "one left");
    assert!(on_access(guest, 0, 1, &settings, now()).is_none(), "not blocked");
    let (blocked, kind, _) = on_access(guest, 1, 0, &settings, now()).unwrap();
    assert_eq!(kind, EventKind::ExternalUserBlocked);
    assert!(!blocked.user.account_enabled());
    let due = now() + chrono::TimeDelta::days(30);
    assert_eq!(blocked.record.timers(), vec![Timer::new(due, TimerKind::GuestDeletion)]);
    assert!(!is_deletion_due(&blocked.record, 0, now()));
    assert!(is_deletion_due(&blocked.record, 0, due));
    assert!(!is_deletion_due(&blocked.record, 1, due));

    let again = Guest { user: &blocked.user, record: &blocked.record };
    assert!(on_access(again, 1, 0, &settings, now()).is_none(), "already blocked");
    let (unblocked, kind, _) = on_access(again, 0, 1, &settings, now()).unwrap();
    assert_eq!(kind, EventKind::ExternalUserUnblocked);
    assert!(unblocked.user.account_enabled());
    assert!(unblocked.record.timers().is_empty());
    assert!(!is_deletion_due(&unblocked.record, 0, due));
}

#[test]
fn the_tenant_setting_decides_what_happens() {
    let write = invite(&subject(), None, "contoso.onmicrosoft.com", now());
    let guest = Guest { user: &write.user, record: &write.record };
    let block_only = EntitlementManagementSettings {
        external_user_lifecycle_action: ExternalUserLifecycleAction::BlockSignIn,
        duration_until_external_user_deleted_after_blocked: Duration::days(30),
    };
    let (blocked, _, _) = on_access(guest, 1, 0, &block_only, now()).unwrap();
    assert!(!blocked.user.account_enabled());
    assert!(blocked.record.timers().is_empty());
    let nothing = EntitlementManagementSettings {
        external_user_lifecycle_action: ExternalUserLifecycleAction::None,
        ..block_only
    };
    assert!(on_access(guest, 1, 0, &nothing, now()).is_none());
}
