use chrono::{TimeDelta, TimeZone};

use super::*;
use crate::directory::ObjectRef;
use crate::duration::Duration;
use crate::error::ErrorCode;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).single().unwrap_or_default()
}

fn person(id: &str, manager: Option<&str>) -> User {
    User {
        id: id.into(),
        display_name: Some(id.to_uppercase()),
        manager: manager.map(|m| ObjectRef { id: m.into() }),
        ..User::default()
    }
}

/// alice → bob → carol (managers); dave has no manager; erin is blocked; group `g-approvers` holds
/// frank, alice and a non-user; `g-empty` is empty.
fn directory() -> DirectorySnapshot {
    let mut d = DirectorySnapshot::default();
    for u in [
        person("alice", Some("bob")),
        person("bob", Some("carol")),
        person("carol", None),
        person("dave", None),
        person("frank", None),
        person("zoe", Some("dave")),
        User { account_enabled: Some(false), ..person("erin", None) },
    ] {
        d.add_user(u);
    }
    d.add_member("g-approvers", "frank");
    d.add_member("g-approvers", "alice");
    d.add_member("g-approvers", "some-device");
    d.group_members.insert("g-empty".into(), vec![]);
    d
}

fn single(id: &str) -> SubjectSet {
    SubjectSet::SingleUser { user_id: id.into(), description: None }
}

fn members(id: &str) -> SubjectSet {
    SubjectSet::GroupMembers { group_id: id.into(), description: None }
}

fn manager(level: i32) -> SubjectSet {
    SubjectSet::RequestorManager { manager_level: level }
}

/// Resolves `primary` / `fallback` for a request by `requestor` for `target`, expecting these
/// approvers (`id`, fragment of `via`) and note fragments, in order.
fn check(
    primary: &[SubjectSet],
    fallback: &[SubjectSet],
    requestor: &str,
    target: &str,
    approvers: &[(&str, &str)],
    notes: &[&str],
) {
    let d = directory();
    let target = d.user(target).cloned().unwrap_or_else(|| person(target, None));
    let subject = ResolutionSubject { requestor_id: Some(requestor), target: &target };
    let got = resolve_approvers(primary, fallback, "primary", &subject, &d);
    let ids: Vec<(&str, &str)> = got.approvers.iter().map(|a| (a.id.as_str(), a.via.as_str())).collect();
    assert_eq!(ids.len(), approvers.len(), "{got:#?}");
    for ((id, via), (want_id, fragment)) in ids.iter().zip(approvers) {
        assert_eq!(id, want_id, "{got:#?}");
        assert!(via.contains(fragment), "`{via}` lacks `{fragment}`");
    }
    assert_eq!(got.notes.len(), notes.len(), "{:#?}", got.notes);
    for (note, fragment) in got.notes.iter().zip(notes) {
        assert!(note.contains(fragment), "`{note}` lacks `{fragment}`");
    }
    assert_eq!(got.used_fallback, notes.iter().any(|n| n.contains("fallback approvers decide")));
}

#[test]
fn single_users_and_group_members_approve() {
    check(&[single("carol")], &[], "alice", "alice", &[("carol", "named as `singleUser`")], &[]);
    check(
        &[members("g-approvers")],
        &[],
        "zoe",
        "zoe",
        &[("frank", "member of group `g-approvers`"), ("alice", "member of group")],
        &[],
    );
    check(
        &[members("g-empty"), single("dave")],
        &[],
        "zoe",
        "zoe",
        &[("dave", "singleUser")],
        &["group `g-empty` has no user members"],
    );
}

#[test]
fn the_manager_chain_resolves_from_the_target() {
    check(&[manager(1)], &[single("dave")], "alice", "alice", &[("bob", "manager of `ALICE`")], &[]);
    check(
        &[manager(2)],
        &[single("dave")],
        "alice",
        "alice",
        &[("carol", "manager of `BOB`, the manager of `ALICE`")],
        &[],
    );
    // On behalf: carol asks for alice; alice's manager bob approves.
    check(&[manager(1)], &[single("dave")], "carol", "alice", &[("bob", "manager of `ALICE`")], &[]);
}

#[test]
fn no_manager_means_the_fallback_decides() {
    check(
        &[manager(1)],
        &[single("frank")],
        "dave",
        "dave",
        &[("frank", "fallback: named as `singleUser`")],
        &["`DAVE` has no manager", "no primary approver could be resolved, so the fallback approvers decide"],
    );
    check(
        &[manager(2)],
        &[members("g-approvers")],
        "bob",
        "bob",
        &[("frank", "fallback: member of group"), ("alice", "fallback: member of group")],
        &["`CAROL`, the manager of `BOB`, has no manager", "fallback approvers decide"],
    );
}

#[test]
fn requestor_and_target_never_approve_their_own_request() {
    // bob asks for himself; bob is a named approver and the group's alice is not involved.
    check(
        &[single("bob"), single("carol")],
        &[],
        "bob",
        "bob",
        &[("carol", "singleUser")],
        &["`BOB` (named as `singleUser`) is the target of the request; nobody approves their own request"],
    );
    // bob (alice's manager) requests on her behalf with the manager as approver: the fallback decides.
    check(
        &[manager(1)],
        &[single("dave")],
        "bob",
        "alice",
        &[("dave", "fallback")],
        &["`BOB` (manager of `ALICE`) is the requestor", "fallback approvers decide"],
    );
    check(
        &[members("g-approvers")],
        &[],
        "alice",
        "alice",
        &[("frank", "group")],
        &["`ALICE` (member of group `g-approvers`) is the target"],
    );
}

#[test]
fn blocked_and_unknown_users_are_left_out() {
    check(
        &[single("erin"), single("ghost"), single("carol")],
        &[],
        "alice",
        "alice",
        &[("carol", "singleUser")],
        &[
            "`ERIN` (named as `singleUser`) is blocked from signing in",
            "user `ghost` (named as `singleUser`) does not exist",
        ],
    );
}

/// `guest` comes from an organization whose internal sponsors are carol and the group
/// `g-approvers`, and whose external sponsor is frank; alice comes from none.
fn sponsored(internal: Vec<ObjectRef>, external: Vec<ObjectRef>) -> DirectorySnapshot {
    let mut d = directory();
    let mut guest = person("guest", None);
    guest.sponsors = vec![ObjectRef { id: "dave".into() }];
    d.add_user(guest);
    let org = ConnectedOrganization {
        id: "co".into(),
        display_name: "Fabrikam".into(),
        description: None,
        identity_sources: Vec::new(),
        state: crate::connected_organization::ConnectedOrganizationState::Configured,
        internal_sponsors: internal,
        external_sponsors: external,
        created_date_time: now(),
        modified_date_time: now(),
    };
    d.organizations.insert("guest".into(), org);
    d
}

fn resolve(
    sets: &[SubjectSet],
    fallback: &[SubjectSet],
    target: &str,
    d: &DirectorySnapshot,
) -> ApproverResolution {
    let target = d.user(target).cloned().unwrap_or_else(|| person(target, None));
    let subject = ResolutionSubject { requestor_id: Some(target.id.as_str()), target: &target };
    resolve_approvers(sets, fallback, "primary", &subject, d)
}

#[test]
fn sponsors_resolve_from_the_requestors_organization() {
    let refs = |ids: &[&str]| ids.iter().map(|id| ObjectRef { id: (*id).into() }).collect::<Vec<_>>();
    let d = sponsored(refs(&["carol", "g-approvers"]), refs(&["frank"]));
    let internal = resolve(&[SubjectSet::InternalSponsors], &[], "guest", &d);
    let ids: Vec<&str> = internal.approvers.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["carol", "frank", "alice"], "{internal:#?}");
    assert!(internal.approvers[0].via.contains("internal sponsor of connected organization `Fabrikam`"));
    assert!(internal.approvers[1].via.contains("member of group `g-approvers`"));
    let external = resolve(&[SubjectSet::ExternalSponsors], &[], "guest", &d);
    assert_eq!(external.ids(), ["frank"]);
    let own = resolve(&[SubjectSet::TargetUserSponsors], &[], "guest", &d);
    assert_eq!(own.ids(), ["dave"]);
}

#[test]
fn without_sponsors_the_fallback_decides() {
    let d = sponsored(Vec::new(), Vec::new());
    let got = resolve(&[SubjectSet::ExternalSponsors], &[single("carol")], "guest", &d);
    assert_eq!(got.ids(), ["carol"]);
    assert!(got.notes[0].contains("has no external sponsor"), "{:#?}", got.notes);
    assert!(got.used_fallback);
    // Someone of the directory comes from no connected organization.
    check(
        &[SubjectSet::InternalSponsors],
        &[single("carol")],
        "alice",
        "alice",
        &[("carol", "fallback")],
        &["comes from no connected organization", "fallback approvers decide"],
    );
}

#[test]
fn nobody_at_all_is_explained() {
    check(
        &[manager(1)],
        &[single("dave")],
        "dave",
        "dave",
        &[],
        &[
            "`DAVE` has no manager",
            "fallback approvers decide",
            "`DAVE` (fallback: named as `singleUser`) is the target",
            "no primary approver could be resolved",
        ],
    );
}

#[test]
fn level_two_managers_are_found_through_the_directory() {
    let d = directory();
    let alice = person("alice", Some("bob"));
    assert_eq!(manager_at_level(&alice, 1, &d).as_deref(), Some("bob"));
    assert_eq!(manager_at_level(&alice, 2, &d).as_deref(), Some("carol"));
    assert_eq!(manager_at_level(&alice, 3, &d), None);
    assert_eq!(manager_at_level(&alice, 0, &d), None);
}

fn settings() -> AccessPackageApprovalStage {
    AccessPackageApprovalStage {
        duration_before_automatic_denial: Duration::days(5),
        is_approver_justification_required: true,
        is_escalation_enabled: true,
        duration_before_escalation: Duration::days(2),
        primary_approvers: vec![manager(1)],
        fallback_primary_approvers: vec![single("dave")],
        escalation_approvers: vec![single("carol")],
        ..AccessPackageApprovalStage::default()
    }
}

fn open_stage() -> ApprovalStage {
    let d = directory();
    let alice = person("alice", Some("bob"));
    let subject = ResolutionSubject { requestor_id: Some("alice"), target: &alice };
    ApprovalStage::pending("r1", 0, &settings()).open(&settings(), &subject, &d, now())
}

fn decision(approver: &str, result: ReviewDecision, justification: Option<&str>) -> StageDecision {
    StageDecision {
        stage_id: None,
        approver_id: approver.into(),
        review_result: result,
        justification: justification.map(str::to_owned),
    }
}

/// Decides `stage` as `approver` and expects the error code, or success.
fn check_decision(stage: &ApprovalStage, d: &StageDecision, expect: Result<ReviewResult, (ErrorCode, &str)>) {
    let alice = person("alice", Some("bob"));
    let subject = ResolutionSubject { requestor_id: Some("alice"), target: &alice };
    let got = stage.decide(d, &subject, now() + TimeDelta::hours(1));
    match (got, expect) {
        (Ok(s), Ok(result)) => {
            assert_eq!(s.review_result, result);
            assert_eq!(s.status, StageStatus::Completed);
            assert_eq!(s.reviewed_by.as_deref(), Some(d.approver_id.as_str()));
            assert_eq!(s.reviewed_date_time, Some(now() + TimeDelta::hours(1)));
        }
        (Err(e), Err((code, fragment))) => {
            assert_eq!(e.code, code, "{e:?}");
            assert!(e.message.contains(fragment), "`{}` lacks `{fragment}`", e.message);
        }
        (got, expect) => panic!("got {got:?}, expected {expect:?}"),
    }
}

#[test]
fn opening_a_stage_resolves_approvers_and_deadlines() {
    let stage = open_stage();
    assert_eq!(stage.status, StageStatus::InProgress);
    assert_eq!(stage.display_name, "Stage 1");
    assert_eq!(stage.assigned_to, ["bob"]);
    assert_eq!(stage.due_date_time, Some(now() + TimeDelta::days(5)));
    assert_eq!(stage.escalation_date_time, Some(now() + TimeDelta::days(2)));
    assert_eq!(stage.escalation.as_ref().map(ApproverResolution::ids), Some(vec!["carol".to_owned()]));
    assert!(stage.is_assigned_to("bob") && !stage.is_assigned_to("carol"));
    let pending = ApprovalStage::pending("r1", 1, &settings());
    assert_eq!(pending.status, StageStatus::Initializing);
    assert_ne!(pending.id, stage.id);
    assert_eq!(pending.id, ApprovalStage::pending("r1", 1, &settings()).id);
}

#[test]
fn decisions_are_checked() {
    let stage = open_stage();
    check_decision(&stage, &decision("bob", ReviewDecision::Approve, Some("ok")), Ok(ReviewResult::Approved));
    check_decision(&stage, &decision("bob", ReviewDecision::Deny, Some("no")), Ok(ReviewResult::Denied));
    check_decision(
        &stage,
        &decision("bob", ReviewDecision::Approve, Some("  ")),
        Err((ErrorCode::ValidationFailed, "requires the approver to justify")),
    );
    check_decision(
        &stage,
        &decision("alice", ReviewDecision::Approve, Some("me")),
        Err((ErrorCode::Forbidden, "nobody approves their own request")),
    );
    check_decision(
        &stage,
        &decision("dave", ReviewDecision::Approve, Some("x")),
        Err((ErrorCode::Forbidden, "`dave` is not an approver of stage 1")),
    );
    check_decision(
        &stage,
        &decision("carol", ReviewDecision::Approve, Some("x")),
        Err((ErrorCode::Forbidden, "only after escalation")),
    );
}

#[test]
fn the_first_decision_wins() {
    let alice = person("alice", Some("bob"));
    let subject = ResolutionSubject { requestor_id: Some("alice"), target: &alice };
    let decided =
        open_stage().decide(&decision("bob", ReviewDecision::Deny, Some("no")), &subject, now()).ok();
    let decided = decided.unwrap_or_else(open_stage);
    check_decision(
        &decided,
        &decision("bob", ReviewDecision::Approve, Some("yes")),
        Err((ErrorCode::Conflict, "already denied by `bob`")),
    );
    check_decision(
        &open_stage().expire(),
        &decision("bob", ReviewDecision::Approve, Some("y")),
        Err((ErrorCode::Conflict, "timed out")),
    );
    let pending = ApprovalStage::pending("r1", 1, &settings());
    check_decision(
        &pending,
        &decision("bob", ReviewDecision::Approve, Some("y")),
        Err((ErrorCode::Conflict, "has not opened yet")),
    );
    let closed = ApprovalStage { status: StageStatus::Completed, ..open_stage() };
    check_decision(
        &closed,
        &decision("bob", ReviewDecision::Approve, Some("y")),
        Err((ErrorCode::Conflict, "closed without a decision")),
    );
}

#[test]
fn escalation_adds_alternates_and_keeps_primaries() {
    let escalated = open_stage().escalate();
    assert_eq!(
        escalated.as_ref().map(|s| s.assigned_to.clone()),
        Some(vec!["bob".to_owned(), "carol".to_owned()])
    );
    let escalated = escalated.unwrap_or_else(open_stage);
    assert!(escalated.escalated);
    assert_eq!(escalated.escalate(), None);
    check_decision(
        &escalated,
        &decision("carol", ReviewDecision::Approve, Some("x")),
        Ok(ReviewResult::Approved),
    );
    check_decision(
        &escalated,
        &decision("bob", ReviewDecision::Approve, Some("x")),
        Ok(ReviewResult::Approved),
    );
    assert_eq!(ApprovalStage::pending("r", 0, &settings()).escalate(), None);
}

#[test]
fn stages_serialize_as_graph_approval_stages() {
    let value = serde_json::to_value(open_stage()).unwrap_or_default();
    assert_eq!(value["reviewResult"], "NotReviewed");
    assert_eq!(value["status"], "InProgress");
    assert_eq!(value["displayName"], "Stage 1");
    assert_eq!(value["assignedTo"], serde_json::json!(["bob"]));
    assert_eq!(value["primary"]["approvers"][0]["via"], "manager of `ALICE`");
    let d: Result<StageDecision, _> = serde_json::from_value(
        serde_json::json!({"approverId": "bob", "reviewResult": "Approve", "justification": "ok"}),
    );
    assert!(d.is_ok_and(|d| d.review_result == ReviewDecision::Approve));
}
