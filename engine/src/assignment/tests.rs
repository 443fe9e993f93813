use chrono::TimeZone;

use super::*;
use crate::access_package::{AccessPackage, NewAccessPackage, RoleScopeSelection};
use crate::directory::{AppRole, Application, DirectoryRole, Group, Site};
use crate::duration::Duration;
use crate::resource::ResourceSource;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).single().unwrap_or_default()
}

fn at(days: i64) -> DateTime<Utc> {
    now() + TimeDelta::days(days)
}

fn requested(start: Option<i64>, expiration: Option<ExpirationPattern>) -> EntitlementManagementSchedule {
    EntitlementManagementSchedule { start_date_time: start.map(at), expiration, recurrence: None }
}

/// Computes a schedule and expects its start and end (days from now) or an error fragment.
fn check(
    policy: ExpirationPattern,
    wanted: Option<EntitlementManagementSchedule>,
    expect: Result<(i64, Option<i64>), &str>,
    notes: &[&str],
) {
    let got = assignment_schedule(&policy, wanted.as_ref(), now());
    match (got, expect) {
        (Ok(decision), Ok((start, end))) => {
            assert_eq!(decision.schedule.start_date_time, Some(at(start)));
            assert_eq!(decision.end(), end.map(at));
            let kind = decision.schedule.expiration.as_ref().map(|e| e.kind);
            let want = if end.is_some() {
                ExpirationPatternType::AfterDateTime
            } else {
                ExpirationPatternType::NoExpiration
            };
            assert_eq!(kind, Some(want));
            assert_eq!(decision.notes.len(), notes.len(), "{:?}", decision.notes);
            for (note, fragment) in decision.notes.iter().zip(notes) {
                assert!(note.contains(fragment), "`{note}` lacks `{fragment}`");
            }
        }
        (Err(e), Err(fragment)) => {
            assert!(e.message.contains(fragment), "`{}` lacks `{fragment}`", e.message)
        }
        (got, expect) => panic!("got {got:?}, expected {expect:?}"),
    }
}

#[test]
fn policy_expiration_sets_the_end() {
    check(ExpirationPattern::after_duration(Duration::days(30)), None, Ok((0, Some(30))), &[]);
    check(ExpirationPattern::after_date_time(at(10)), None, Ok((0, Some(10))), &[]);
    check(ExpirationPattern::no_expiration(), None, Ok((0, None)), &[]);
    check(ExpirationPattern::default(), None, Ok((0, None)), &[]);
}

#[test]
fn a_duration_counts_from_the_requested_start() {
    check(
        ExpirationPattern::after_duration(Duration::days(30)),
        Some(requested(Some(5), None)),
        Ok((5, Some(35))),
        &[],
    );
    check(
        ExpirationPattern::after_duration(Duration::days(30)),
        Some(requested(Some(-2), None)),
        Ok((0, Some(30))),
        &["has passed; access starts now"],
    );
}

#[test]
fn requested_ends_are_clamped_to_the_policy() {
    let policy = ExpirationPattern::after_duration(Duration::days(30));
    check(
        policy.clone(),
        Some(requested(None, Some(ExpirationPattern::after_date_time(at(7))))),
        Ok((0, Some(7))),
        &[],
    );
    check(
        policy.clone(),
        Some(requested(None, Some(ExpirationPattern::after_duration(Duration::days(90))))),
        Ok((0, Some(30))),
        &["later than the policy allows (ends after P30D)"],
    );
    check(
        ExpirationPattern::after_date_time(at(10)),
        Some(requested(Some(2), Some(ExpirationPattern::after_duration(Duration::days(20))))),
        Ok((2, Some(10))),
        &["later than the policy allows"],
    );
    check(
        ExpirationPattern::no_expiration(),
        Some(requested(None, Some(ExpirationPattern::after_date_time(at(400))))),
        Ok((0, Some(400))),
        &[],
    );
    check(policy, Some(requested(None, Some(ExpirationPattern::no_expiration()))), Ok((0, Some(30))), &[]);
}

#[test]
fn impossible_schedules_are_refused() {
    check(
        ExpirationPattern::after_date_time(at(3)),
        Some(requested(Some(5), None)),
        Err("end at 2025-03-04T09:00:00+00:00, before access would start"),
        &[],
    );
    check(
        ExpirationPattern::no_expiration(),
        Some(requested(Some(5), Some(ExpirationPattern::after_date_time(at(4))))),
        Err("is not after the start"),
        &[],
    );
}

fn package() -> AccessPackage {
    let input = NewAccessPackage { catalog_id: "c".into(), display_name: "P".into(), ..Default::default() };
    AccessPackage::create("ap".into(), input, now()).unwrap_or_else(|e| panic!("{e}"))
}

fn resources() -> Vec<AccessPackageResource> {
    let group =
        Group { id: "g".into(), display_name: "Sales".into(), security_enabled: true, ..Group::default() };
    let app = Application {
        id: "app".into(),
        display_name: "CRM".into(),
        app_roles: vec![AppRole {
            id: "r-admin".into(),
            display_name: "Admin".into(),
            is_enabled: true,
            ..AppRole::default()
        }],
        ..Application::default()
    };
    let site = Site {
        id: "site".into(),
        display_name: "Hub".into(),
        web_url: "https://x/sites/hub".into(),
        ..Site::default()
    };
    let role = DirectoryRole { id: "dr".into(), display_name: "Helpdesk".into(), ..DirectoryRole::default() };
    [
        ResourceSource::Group(&group),
        ResourceSource::Application(&app),
        ResourceSource::Site(&site),
        ResourceSource::DirectoryRole(&role),
    ]
    .into_iter()
    .map(|s| AccessPackageResource::derive(&CatalogId::new("c"), s, now()).unwrap_or_else(|e| panic!("{e}")))
    .collect()
}

fn bind(resource: &AccessPackageResource, origin: &str) -> AccessPackageResourceRoleScope {
    let selection = RoleScopeSelection { role_origin_id: Some(origin.into()), ..Default::default() };
    AccessPackageResourceRoleScope::bind(&package(), resource, &selection, now())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_kind_of_role_scope_becomes_a_grant() {
    let r = resources();
    let scopes = vec![
        bind(&r[0], "Member_g"),
        bind(&r[0], "Owner_g"),
        bind(&r[1], "r-admin"),
        bind(&r[2], "4"),
        bind(&r[3], "Eligible"),
        bind(&r[3], "Active"),
        bind(&r[0], "Member_g"),
    ];
    let plan = delivery_plan(&scopes, &r);
    assert_eq!(
        plan.grants,
        vec![
            Grant::GroupMember { group_id: "g".into() },
            Grant::GroupOwner { group_id: "g".into() },
            Grant::AppRole { application_id: "app".into(), app_role_id: "r-admin".into() },
            Grant::SiteRole { site_id: "site".into(), role_id: "4".into() },
            Grant::DirectoryRoleEligible { directory_role_id: "dr".into() },
            Grant::DirectoryRoleActive { directory_role_id: "dr".into() },
        ]
    );
    assert!(plan.unresolved.is_empty());
    let missing = delivery_plan(&scopes[..1], &r[1..]);
    assert!(missing.grants.is_empty());
    assert!(missing.unresolved[0].contains("is not in the catalog"), "{:?}", missing.unresolved);
    let value = serde_json::to_value(&plan.grants[2]).unwrap_or_default();
    assert_eq!(value, serde_json::json!({"type": "appRole", "applicationId": "app", "appRoleId": "r-admin"}));
}

fn assignment(id: &str, package: &str, grants: &[Grant]) -> AccessPackageAssignment {
    let mut a = AccessPackageAssignment::new(NewAssignment {
        id: id.into(),
        access_package_id: package.into(),
        assignment_policy_id: "p".into(),
        catalog_id: "c".into(),
        target_id: "alice".into(),
        schedule: requested(Some(0), Some(ExpirationPattern::after_date_time(at(30)))),
    });
    a = a.record_delivery(&DeliveryOutcome { delivered: grants.to_vec(), failed: vec![] });
    a
}

fn member(g: &str) -> Grant {
    Grant::GroupMember { group_id: g.into() }
}

#[test]
fn revocation_keeps_what_another_assignment_grants() {
    let ending = assignment("a1", "ap1", &[member("g1"), member("g2"), member("g3")]);
    let other = assignment("a2", "ap2", &[member("g2")]);
    let expired = AccessPackageAssignment {
        state: AccessPackageAssignmentState::Expired,
        ..assignment("a3", "ap3", &[member("g3")])
    };
    let someone_else =
        AccessPackageAssignment { target_id: "bob".into(), ..assignment("a4", "ap1", &[member("g1")]) };
    let plan = revocations(&ending, &[ending.clone(), other, expired, someone_else]);
    assert_eq!(plan.revoke, vec![member("g1"), member("g3")]);
    assert_eq!(plan.keep, vec![KeptGrant { grant: member("g2"), held_by: vec!["a2".into()] }]);
}

#[test]
fn delivery_outcomes_set_the_state() {
    let a = assignment("a1", "ap", &[]);
    let failed = FailedGrant { grant: Some(member("g2")), error: "group is gone".into() };
    let cases = [
        (
            DeliveryOutcome { delivered: vec![member("g1")], failed: vec![] },
            AccessPackageAssignmentState::Delivered,
            "Delivered",
        ),
        (DeliveryOutcome::default(), AccessPackageAssignmentState::Delivered, "Delivered"),
        (
            DeliveryOutcome { delivered: vec![member("g1")], failed: vec![failed.clone()] },
            AccessPackageAssignmentState::PartiallyDelivered,
            "PartiallyDelivered",
        ),
        (
            DeliveryOutcome { delivered: vec![], failed: vec![failed] },
            AccessPackageAssignmentState::DeliveryFailed,
            "DeliveryFailed",
        ),
    ];
    for (outcome, state, status) in cases {
        let next = a.record_delivery(&outcome);
        assert_eq!((next.state, next.status.as_str()), (state, status));
    }
    let plan = DeliveryPlan { grants: vec![member("g1")], unresolved: vec!["role scope `x`: gone".into()] };
    assert_eq!(DeliveryOutcome::all(&plan).state(), AccessPackageAssignmentState::PartiallyDelivered);
}

#[test]
fn timers_remind_14_days_and_a_day_before_and_expire_at_the_end() {
    let a = assignment("a1", "ap", &[member("g1")]);
    let reminder = Timer::new(at(16), TimerKind::AssignmentExpiryReminder);
    assert_eq!(
        a.timers(),
        vec![
            reminder,
            Timer::new(at(29), TimerKind::AssignmentNearExpiry),
            Timer::new(at(30), TimerKind::AssignmentExpiration)
        ]
    );
    // Reminded once: the reminder is gone until an extension gives the assignment a new end.
    let (reminded, plan) = a.on_timer(&reminder, &[], at(16)).unwrap_or_else(|e| panic!("{e}"));
    assert!(reminded.reminded_14_days_before_end && plan.is_none());
    assert_eq!(reminded.timers().len(), 2);
    let extended = reminded.extend(ExpirationPattern::after_date_time(at(60)));
    assert_eq!(extended.timers()[0], Timer::new(at(46), TimerKind::AssignmentExpiryReminder));
    let forever = AccessPackageAssignment {
        schedule: requested(Some(0), Some(ExpirationPattern::no_expiration())),
        ..a.clone()
    };
    assert!(forever.timers().is_empty());
    let short = AccessPackageAssignment {
        schedule: EntitlementManagementSchedule {
            start_date_time: Some(now()),
            expiration: Some(ExpirationPattern::after_duration(Duration::hours(12))),
            recurrence: None,
        },
        ..a.clone()
    };
    assert_eq!(
        short.timers(),
        vec![Timer::new(now() + TimeDelta::hours(12), TimerKind::AssignmentExpiration)]
    );
}

#[test]
fn timers_fire_in_order_and_stale_ones_change_nothing() {
    let a = assignment("a1", "ap", &[member("g1"), member("g2")]);
    let other = assignment("a2", "ap2", &[member("g2")]);
    let notice = Timer::new(at(29), TimerKind::AssignmentNearExpiry);
    let end = Timer::new(at(30), TimerKind::AssignmentExpiration);
    assert!(a.on_timer(&notice, &[], at(28)).is_err_and(|e| e.code == crate::ErrorCode::Conflict));
    let a = AccessPackageAssignment { reminded_14_days_before_end: true, ..a };
    let (noticed, plan) = a.on_timer(&notice, &[], at(29)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(noticed.status, AssignmentStatus::NearExpiry1DayNotificationTriggered);
    assert_eq!(plan, None);
    assert_eq!(noticed.timers(), vec![end]);
    let (expired, plan) =
        noticed.on_timer(&end, std::slice::from_ref(&other), at(30)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (expired.state, expired.status, expired.expired_date_time),
        (AccessPackageAssignmentState::Expired, AssignmentStatus::Expired, Some(at(30)))
    );
    assert_eq!(plan.map(|p| p.revoke), Some(vec![member("g1")]));
    // Extended before the end: the old timer is stale.
    let extended = noticed.extend(ExpirationPattern::after_date_time(at(60)));
    assert_eq!(extended.status, AssignmentStatus::Delivered);
    let (same, plan) = extended.on_timer(&end, &[], at(30)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((same, plan), (extended.clone(), None));
    assert!(expired.end(&[], at(31)).is_err_and(|e| e.code == crate::ErrorCode::Conflict));
    assert!(expired.timers().is_empty());
    let foreign = Timer::new(at(1), TimerKind::ScheduledStart);
    assert!(a.on_timer(&foreign, &[], at(1)).is_err_and(|e| e.message.contains("belongs to a request")));
}

#[test]
fn assignments_serialize_with_graph_names() {
    let value = serde_json::to_value(assignment("a1", "ap", &[member("g1")])).unwrap_or_default();
    assert_eq!(value["state"], "delivered");
    assert_eq!(value["status"], "Delivered");
    assert_eq!(value["schedule"]["expiration"]["type"], "afterDateTime");
    assert_eq!(value["deliveredGrants"][0], serde_json::json!({"type": "groupMember", "groupId": "g1"}));
}
