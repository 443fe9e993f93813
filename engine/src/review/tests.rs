use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::approval::DirectorySnapshot;
use crate::assignment::NewAssignment;
use crate::directory::ObjectRef;
use crate::error::ErrorCode;
use crate::policy::{AccessPackageAssignmentPolicy, policy_input_from_graph_json};

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
}

fn schedule(
    pattern: serde_json::Value,
    range: serde_json::Value,
    duration: &str,
) -> EntitlementManagementSchedule {
    serde_json::from_value(json!({
        "startDateTime": "2027-01-31T09:00:00Z",
        "expiration": {"type": "afterDuration", "duration": duration},
        "recurrence": {"pattern": pattern, "range": range}
    }))
    .unwrap()
}

fn no_end() -> serde_json::Value {
    json!({"type": "noEnd", "startDate": "2027-01-31"})
}

fn quarterly() -> EntitlementManagementSchedule {
    schedule(json!({"type": "absoluteMonthly", "interval": 3}), no_end(), "P14D")
}

#[test]
fn reviews_recur_from_the_first_start_and_last_their_duration() {
    let plan = ReviewPlan::of(&quarterly(), "s").unwrap();
    assert_eq!(plan.cadence, ReviewCadence::Quarterly);
    let starts: Vec<DateTime<Utc>> = (0..4).map(|n| plan.occurrence(n).unwrap().0).collect();
    // The 31st does not exist in April: the review starts on the month's last day.
    assert_eq!(starts, [at(2027, 1, 31), at(2027, 4, 30), at(2027, 7, 31), at(2027, 10, 31)]);
    assert_eq!(plan.occurrence(1).unwrap().1, at(2027, 5, 14));
    assert_eq!(plan.next_from(at(2027, 1, 31)), Some((0, at(2027, 1, 31), at(2027, 2, 14))));
    assert_eq!(plan.next_from(at(2027, 2, 1)).map(|n| n.0), Some(1));

    let weekly = schedule(json!({"type": "weekly", "interval": 1}), no_end(), "P3D");
    assert_eq!(ReviewPlan::of(&weekly, "s").unwrap().occurrence(2).unwrap().0, at(2027, 2, 14));
    let yearly = schedule(json!({"type": "absoluteYearly", "interval": 1}), no_end(), "P30D");
    assert_eq!(ReviewPlan::of(&yearly, "s").unwrap().occurrence(1).unwrap().0, at(2028, 1, 31));
}

#[test]
fn the_range_ends_the_reviews() {
    let numbered = schedule(
        json!({"type": "absoluteMonthly", "interval": 1}),
        json!({"type": "numbered", "startDate": "2027-01-31", "numberOfOccurrences": 2}),
        "P7D",
    );
    let plan = ReviewPlan::of(&numbered, "s").unwrap();
    assert!(plan.occurrence(1).is_some());
    assert_eq!(plan.occurrence(2), None);
    assert_eq!(plan.next_from(at(2027, 3, 1)), None);
    let dated = schedule(
        json!({"type": "absoluteMonthly", "interval": 6}),
        json!({"type": "endDate", "startDate": "2027-01-31", "endDate": "2027-12-31"}),
        "P14D",
    );
    let plan = ReviewPlan::of(&dated, "s").unwrap();
    assert_eq!(plan.cadence, ReviewCadence::SemiAnnual);
    assert!(plan.occurrence(1).is_some());
    assert_eq!(plan.occurrence(2), None);
}

fn problems(schedule: &EntitlementManagementSchedule) -> Vec<(String, String)> {
    let mut p = Problems::default();
    check_schedule(schedule, "reviewSettings.schedule", &mut p);
    p.into_inner().into_iter().map(|e| (e.path, e.message)).collect()
}

#[test]
fn schedules_graph_does_not_allow_are_refused_with_their_path() {
    let daily = schedule(json!({"type": "daily", "interval": 1}), no_end(), "P1D");
    let found = problems(&daily);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "reviewSettings.schedule.recurrence.pattern");
    assert!(found[0].1.contains("not `daily` every 1"), "{}", found[0].1);
    let every_two_months = schedule(json!({"type": "absoluteMonthly", "interval": 2}), no_end(), "P14D");
    assert_eq!(problems(&every_two_months)[0].0, "reviewSettings.schedule.recurrence.pattern");
    let too_long = schedule(json!({"type": "absoluteMonthly", "interval": 3}), no_end(), "P100D");
    assert_eq!(problems(&too_long)[0].0, "reviewSettings.schedule.expiration.duration");
    let no_end_date = schedule(json!({"type": "weekly", "interval": 1}), json!({"type": "endDate"}), "P2D");
    assert_eq!(problems(&no_end_date)[0].0, "reviewSettings.schedule.recurrence.range.endDate");
    let mut fixed_end = quarterly();
    fixed_end.expiration = Some(crate::policy::ExpirationPattern::after_date_time(at(2027, 2, 1)));
    assert_eq!(problems(&fixed_end)[0].0, "reviewSettings.schedule.expiration");
    let mut unstarted = quarterly();
    unstarted.start_date_time = None;
    assert_eq!(problems(&unstarted)[0].0, "reviewSettings.schedule.startDateTime");
    let mut once = quarterly();
    once.recurrence = None;
    assert_eq!(problems(&once)[0].0, "reviewSettings.schedule.recurrence");
    assert!(problems(&quarterly()).is_empty());
    let error = ReviewPlan::of(&daily, "reviewSettings.schedule").unwrap_err();
    assert_eq!(error.code, ErrorCode::ValidationFailed);
}

fn person(id: &str, manager: Option<&str>) -> User {
    User {
        id: id.into(),
        display_name: Some(id.to_uppercase()),
        manager: manager.map(|m| ObjectRef { id: m.into() }),
        ..User::default()
    }
}

/// alice (manager mona) and gus (no manager); the fallback group holds fay and gus.
fn directory() -> DirectorySnapshot {
    let mut d = DirectorySnapshot::default();
    for u in [person("alice", Some("mona")), person("gus", None), person("mona", None), person("fay", None)] {
        d.add_user(u);
    }
    d.add_member("g-fallback", "fay");
    d.add_member("g-fallback", "gus");
    d
}

fn policy(review: serde_json::Value) -> AccessPackageAssignmentPolicy {
    let input = policy_input_from_graph_json(json!({
        "accessPackageId": "ap", "displayName": "Partners", "allowedTargetScope": "allDirectoryUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": false},
        "reviewSettings": review
    }))
    .unwrap();
    AccessPackageAssignmentPolicy::create("p1".into(), input, at(2027, 1, 1)).unwrap()
}

fn managers_review(expiration: &str) -> serde_json::Value {
    json!({
        "isEnabled": true,
        "schedule": quarterly(),
        "primaryReviewers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}],
        "fallbackReviewers": [{"@odata.type": "#microsoft.graph.groupMembers", "groupId": "g-fallback"}],
        "expirationBehavior": expiration,
        "isRecommendationEnabled": true,
        "isReviewerJustificationRequired": true
    })
}

fn assignment(id: &str, target: &str) -> AccessPackageAssignment {
    AccessPackageAssignment::new(NewAssignment {
        id: id.into(),
        access_package_id: "ap".into(),
        assignment_policy_id: "p1".into(),
        catalog_id: "c1".into(),
        target_id: target.into(),
        schedule: EntitlementManagementSchedule::default(),
    })
}

fn started(review: serde_json::Value) -> (AccessReviewInstance, Vec<AccessReviewDecisionItem>) {
    let d = directory();
    let (a1, a2) = (assignment("as-alice", "alice"), assignment("as-gus", "gus"));
    let (alice, gus) = (d.users["alice"].clone(), d.users["gus"].clone());
    let now = at(2027, 1, 31);
    let under = [
        UnderReview { assignment: &a1, assignee: &alice, last_sign_in: Some(now - TimeDelta::days(10)) },
        UnderReview { assignment: &a2, assignee: &gus, last_sign_in: None },
    ];
    let mut n = 0;
    let mut ids = || {
        n += 1;
        format!("item-{n}")
    };
    let plan = ReviewPlan::of(&quarterly(), "s").unwrap();
    start("r1".into(), &policy(review), &"c1".into(), 0, plan.occurrence(0).unwrap(), &under, &d, &mut ids)
}

#[test]
fn managers_review_their_reports_and_the_fallback_reviews_the_others() {
    let (instance, items) = started(managers_review("removeAccess"));
    assert_eq!(instance.status, ReviewStatus::InProgress);
    assert_eq!((instance.start_date_time, instance.end_date_time), (at(2027, 1, 31), at(2027, 2, 14)));
    assert_eq!(items.len(), 2);
    let reviewers = |i: usize| items[i].reviewers.iter().map(|r| r.id.as_str()).collect::<Vec<_>>();
    assert_eq!(reviewers(0), ["mona"]);
    assert!(items[0].reviewers[0].via.contains("manager of `ALICE`"), "{:?}", items[0].reviewers);
    // Gus has no manager; the fallback group reviews, but not Gus himself.
    assert_eq!(reviewers(1), ["fay"]);
    assert!(items[1].notes.iter().any(|n| n.contains("has no manager")), "{:?}", items[1].notes);
    assert!(items[1].notes.iter().any(|n| n.contains("nobody reviews their own")), "{:?}", items[1].notes);
    // Recommendations come from the last sign-in.
    assert_eq!(items[0].recommendation, Recommendation::Approve);
    assert!(items[0].recommendation_reason.contains("within the last 30 days"));
    assert_eq!(
        (items[1].recommendation, items[1].recommendation_reason.as_str()),
        (Recommendation::Deny, "never signed in")
    );
}

#[test]
fn under_self_review_each_assignee_reviews_their_own_access() {
    let review = json!({"isEnabled": true, "schedule": quarterly(), "isSelfReview": true,
                        "isRecommendationEnabled": false, "isReviewerJustificationRequired": false});
    let (_, items) = started(review);
    assert_eq!(items[0].reviewers[0].id, "alice");
    assert_eq!(items[1].reviewers[0].id, "gus");
    assert_eq!(items[0].recommendation, Recommendation::NotAvailable);
}

#[test]
fn recommendations_follow_the_last_sign_in() {
    let now = at(2027, 6, 1);
    assert_eq!(recommend(true, Some(now - TimeDelta::days(30)), now).0, Recommendation::Approve);
    assert_eq!(recommend(true, Some(now - TimeDelta::days(31)), now).0, Recommendation::Deny);
    assert_eq!(recommend(true, None, now).0, Recommendation::Deny);
    assert_eq!(recommend(false, None, now).0, Recommendation::NotAvailable);
}

#[test]
fn reviewers_decide_and_change_their_minds_until_the_review_ends() {
    let (instance, items) = started(managers_review("keepAccess"));
    let during = at(2027, 2, 1);
    let mona: UserId = "mona".into();
    let denied = items[0]
        .decide(&instance, &mona, AccessReviewDecision::Deny, Some("left the project"), during)
        .unwrap();
    assert_eq!(
        (denied.decision, denied.reviewed_by.clone()),
        (AccessReviewDecision::Deny, Some(mona.clone()))
    );
    let approved =
        denied.decide(&instance, &mona, AccessReviewDecision::Approve, Some("back on it"), during).unwrap();
    assert_eq!(approved.decision, AccessReviewDecision::Approve);

    // Someone who is not a reviewer of the item, a review that ended, a missing justification.
    let fay: UserId = "fay".into();
    let refused =
        items[0].decide(&instance, &fay, AccessReviewDecision::Deny, Some("x"), during).unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden);
    let late = items[0]
        .decide(&instance, &mona, AccessReviewDecision::Deny, Some("x"), at(2027, 2, 14))
        .unwrap_err();
    assert_eq!(late.code, ErrorCode::Conflict);
    let bare = items[0].decide(&instance, &mona, AccessReviewDecision::Deny, Some("  "), during).unwrap_err();
    assert_eq!((bare.code, bare.field.as_deref()), (ErrorCode::ValidationFailed, Some("justification")));
    let nothing =
        items[0].decide(&instance, &mona, AccessReviewDecision::NotReviewed, Some("x"), during).unwrap_err();
    assert_eq!(nothing.field.as_deref(), Some("decision"));

    // Stopped early: it has ended.
    let stopped = instance.stop(during).unwrap();
    assert_eq!((stopped.status, stopped.end_date_time), (ReviewStatus::Completed, during));
    assert_eq!(stopped.stop(during).unwrap_err().code, ErrorCode::Conflict);
    let after_stop =
        items[0].decide(&stopped, &mona, AccessReviewDecision::Deny, Some("x"), during).unwrap_err();
    assert_eq!(after_stop.code, ErrorCode::Conflict);
    assert_eq!(instance.complete().status, ReviewStatus::Completed);
    assert_eq!(stopped.complete(), stopped);
}

#[test]
fn results_remove_denials_and_what_the_expiration_behavior_says() {
    use AccessReviewDecision as D;
    use AccessReviewExpirationBehavior as B;
    let (_, items) = started(managers_review("keepAccess"));
    let with = |decision: D, recommendation: Recommendation| AccessReviewDecisionItem {
        decision,
        recommendation,
        ..items[0].clone()
    };
    let cases = [
        (D::Deny, Recommendation::Approve, B::KeepAccess, ItemOutcome::Remove),
        (D::Approve, Recommendation::Deny, B::RemoveAccess, ItemOutcome::Keep),
        (D::DontKnow, Recommendation::Deny, B::RemoveAccess, ItemOutcome::Keep),
        (D::NotReviewed, Recommendation::Deny, B::KeepAccess, ItemOutcome::Keep),
        (D::NotReviewed, Recommendation::Approve, B::RemoveAccess, ItemOutcome::Remove),
        (D::NotReviewed, Recommendation::Deny, B::AcceptAccessRecommendation, ItemOutcome::Remove),
        (D::NotReviewed, Recommendation::Approve, B::AcceptAccessRecommendation, ItemOutcome::Keep),
    ];
    for (decision, recommendation, behavior, want) in cases {
        let item = with(decision, recommendation);
        assert_eq!(item.outcome(behavior), want, "{decision:?} {recommendation:?} {behavior:?}");
        assert!(!item.reason(behavior).is_empty());
    }
    let applied = items[0].applied(false, at(2027, 2, 14));
    assert_eq!(applied.apply_result, ApplyResult::AppliedSuccessfullyButObjectNotFound);
}

#[test]
fn the_next_review_of_a_policy_is_the_first_at_or_after_now() {
    let p = policy(managers_review("removeAccess"));
    assert_eq!(next_review(p.review_settings.as_ref(), at(2027, 3, 1)).map(|n| n.0), Some(1));
    let mut off = p.review_settings.clone().unwrap();
    off.is_enabled = false;
    assert_eq!(next_review(Some(&off), at(2027, 3, 1)), None);
}
