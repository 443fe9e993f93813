use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeZone;

use super::*;
use crate::access_package::{AccessPackage, NewAccessPackage};
use crate::approval::{DirectorySnapshot, ReviewDecision};
use crate::assignment::{AccessPackageAssignmentState, FailedGrant, Grant};
use crate::catalog::{AccessPackageCatalog, CatalogState};
use crate::directory::{Group, ObjectRef, UserType};
use crate::duration::Duration;
use crate::error::ErrorCode;
use crate::policy::{
    AccessPackageAnswerChoice, AccessPackageAssignmentPolicy, AccessPackageQuestion, AllowedTargetScope,
    ApprovalSettings, AutomaticRequestSettings, QuestionKind, RequestorSettings, SubjectFacts, SubjectSet,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, 0).single().unwrap_or_default()
}

fn hours(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::hours(n)
}

fn days(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::days(n)
}

fn person(id: &str, manager: Option<&str>) -> User {
    User {
        id: id.into(),
        display_name: Some(id.to_uppercase()),
        user_type: Some(UserType::Member),
        manager: manager.map(|m| ObjectRef { id: m.into() }),
        ..User::default()
    }
}

fn single(id: &str) -> SubjectSet {
    SubjectSet::SingleUser { user_id: id.into(), description: None }
}

fn package(id: &str, name: &str) -> AccessPackage {
    let input = NewAccessPackage { catalog_id: "c".into(), display_name: name.into(), ..Default::default() };
    AccessPackage::create(id.into(), input, t0()).unwrap_or_else(|e| panic!("{e}"))
}

fn stage(primary: Vec<SubjectSet>, fallback: Vec<SubjectSet>) -> AccessPackageApprovalStage {
    AccessPackageApprovalStage {
        duration_before_automatic_denial: Duration::days(7),
        primary_approvers: primary,
        fallback_primary_approvers: fallback,
        ..AccessPackageApprovalStage::default()
    }
}

/// Members of `g-sales` request for themselves (and may update and remove); their manager
/// approves, `frank` if they have none; justification and a cost center are required; a region
/// may be chosen; access lasts 30 days, custom schedules allowed.
fn p_sales() -> AccessPackageAssignmentPolicy {
    AccessPackageAssignmentPolicy {
        id: "p-sales".into(),
        access_package_id: "ap".into(),
        display_name: "Sales reps".into(),
        description: None,
        allowed_target_scope: AllowedTargetScope::SpecificDirectoryUsers,
        specific_allowed_targets: vec![SubjectSet::GroupMembers {
            group_id: "g-sales".into(),
            description: None,
        }],
        automatic_request_settings: None,
        expiration: ExpirationPattern::after_duration(Duration::days(30)),
        requestor_settings: RequestorSettings {
            enable_targets_to_self_add_access: true,
            enable_targets_to_self_update_access: true,
            enable_targets_to_self_remove_access: true,
            allow_custom_assignment_schedule: true,
            enable_on_behalf_requestors_to_add_access: true,
            on_behalf_requestors: vec![SubjectSet::TargetManager { manager_level: 1 }],
            ..RequestorSettings::default()
        },
        request_approval_settings: ApprovalSettings {
            is_approval_required_for_add: true,
            is_requestor_justification_required: true,
            stages: vec![stage(
                vec![SubjectSet::RequestorManager { manager_level: 1 }],
                vec![single("frank")],
            )],
            ..ApprovalSettings::default()
        },
        review_settings: None,
        notification_settings: None,
        questions: vec![
            AccessPackageQuestion {
                id: "q-cc".into(),
                text: "Cost center?".into(),
                localizations: vec![],
                is_required: true,
                is_answer_editable: true,
                sequence: 0,
                kind: QuestionKind::TextInput {
                    is_single_line_question: true,
                    regex_pattern: Some("^[0-9]{4}$".into()),
                },
            },
            AccessPackageQuestion {
                id: "q-region".into(),
                text: "Region?".into(),
                localizations: vec![],
                is_required: false,
                is_answer_editable: false,
                sequence: 1,
                kind: QuestionKind::MultipleChoice {
                    choices: ["emea", "amer"]
                        .map(|v| AccessPackageAnswerChoice {
                            actual_value: v.into(),
                            text: v.to_uppercase(),
                            localizations: vec![],
                        })
                        .to_vec(),
                    is_multiple_selection_allowed: false,
                },
            },
        ],
        custom_extension_stage_settings: vec![],
        created_date_time: t0(),
        modified_date_time: t0(),
    }
}

/// Every member requests without approval or questions; access never expires.
fn p_open() -> AccessPackageAssignmentPolicy {
    AccessPackageAssignmentPolicy {
        id: "p-open".into(),
        display_name: "Everyone".into(),
        allowed_target_scope: AllowedTargetScope::AllMemberUsers,
        specific_allowed_targets: vec![],
        expiration: ExpirationPattern::no_expiration(),
        request_approval_settings: ApprovalSettings::default(),
        questions: vec![],
        ..p_sales()
    }
}

/// Administrators assign anyone directly.
fn p_direct() -> AccessPackageAssignmentPolicy {
    AccessPackageAssignmentPolicy {
        id: "p-direct".into(),
        display_name: "Direct".into(),
        allowed_target_scope: AllowedTargetScope::NotSpecified,
        requestor_settings: RequestorSettings::default(),
        ..p_open()
    }
}

/// The tenant: alice (manager bob, manager carol) and dave (no manager) are in `g-sales`; erin is
/// blocked; frank approves as fallback; zed is in `g-contractors`, incompatible with the package,
/// and `AMER sales` is an incompatible package.
struct World {
    package: AccessPackage,
    catalog: AccessPackageCatalog,
    policies: Vec<AccessPackageAssignmentPolicy>,
    directory: DirectorySnapshot,
    groups: BTreeMap<String, BTreeSet<String>>,
    assignments: Vec<AccessPackageAssignment>,
    open_requests: Vec<OpenRequest>,
    incompatible_packages: Vec<AccessPackage>,
    incompatible_groups: Vec<Group>,
    none: BTreeSet<String>,
    extensions: Vec<crate::extension::CustomCalloutExtension>,
}

impl World {
    fn new() -> Self {
        let mut directory = DirectorySnapshot::default();
        for u in [
            person("alice", Some("bob")),
            person("bob", Some("carol")),
            person("carol", None),
            person("dave", None),
            User { account_enabled: Some(false), ..person("erin", None) },
            person("frank", None),
            person("zed", Some("bob")),
            person("admin", None),
        ] {
            directory.add_user(u);
        }
        let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (user, group) in [
            ("alice", "g-sales"),
            ("dave", "g-sales"),
            ("erin", "g-sales"),
            ("zed", "g-sales"),
            ("zed", "g-contractors"),
        ] {
            groups.entry(user.into()).or_default().insert(group.into());
            directory.add_member(group, user);
        }
        Self {
            package: package("ap", "Sales tools"),
            catalog: AccessPackageCatalog { id: "c".into(), ..AccessPackageCatalog::general(t0()) },
            policies: vec![p_sales()],
            directory,
            groups,
            assignments: vec![],
            open_requests: vec![],
            incompatible_packages: vec![package("ap-amer", "AMER sales")],
            incompatible_groups: vec![Group {
                id: "g-contractors".into(),
                display_name: "Contractors".into(),
                ..Group::default()
            }],
            none: BTreeSet::new(),
            extensions: vec![],
        }
    }

    fn facts(&self, id: &str) -> Option<SubjectFacts<'_>> {
        let user = self.directory.users.get(id)?;
        Some(SubjectFacts::new(user, self.groups.get(id).unwrap_or(&self.none)))
    }

    fn submit(
        &self,
        input: RequestInput,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, DomainError> {
        let requestor = match &input.requestor {
            Actor::User { id } => self.facts(id),
            Actor::System | Actor::LocalOperator | Actor::External { .. } => None,
        };
        let target = self.facts(target).unwrap_or_else(|| panic!("no user `{target}`"));
        let ctx = SubmitContext {
            package: &self.package,
            catalog: &self.catalog,
            policies: &self.policies,
            requestor,
            target,
            target_assignments: &self.assignments,
            target_open_requests: &self.open_requests,
            incompatible_packages: &self.incompatible_packages,
            incompatible_groups: &self.incompatible_groups,
            directory: &self.directory,
            extensions: &self.extensions,
        };
        submit(input, &ctx, now)
    }

    fn user(&self, id: &str) -> User {
        self.directory.users.get(id).cloned().unwrap_or_else(|| person(id, None))
    }
}

fn answers(cc: &str) -> Vec<AccessPackageAnswerString> {
    vec![AccessPackageAnswerString::new("q-cc", cc)]
}

fn input(kind: AccessPackageRequestType, requestor: &str) -> RequestInput {
    RequestInput {
        id: "r1".into(),
        request_type: kind,
        requestor: Actor::User { id: requestor.into() },
        access_package_id: "ap".into(),
        assignment_policy_id: None,
        assignment_id: None,
        justification: Some("quarterly forecast".into()),
        answers: answers("1234"),
        schedule: None,
        profile_consent: false,
    }
}

fn user_add(requestor: &str) -> RequestInput {
    input(AccessPackageRequestType::UserAdd, requestor)
}

fn ok(result: Result<Transition, DomainError>) -> Transition {
    result.unwrap_or_else(|e| panic!("refused: {} ({:?})", e.message, e.details))
}

/// Expects a refusal with this code and message fragment.
fn check_refused(result: Result<Transition, DomainError>, code: ErrorCode, fragment: &str) {
    match result {
        Ok(t) => panic!("accepted: {:?}", t.request.state),
        Err(e) => {
            assert_eq!(e.code, code, "{e:?}");
            let all = std::iter::once(e.message.clone())
                .chain(e.details.iter().map(ToString::to_string))
                .collect::<Vec<_>>();
            assert!(all.iter().any(|m| m.contains(fragment)), "{all:#?} lack `{fragment}`");
        }
    }
}

fn check_state(t: &Transition, state: AccessPackageRequestState, status: &str) {
    assert_eq!(
        (t.request.state, t.request.status.as_str()),
        (state, status),
        "{:#?}",
        t.request.explanation.log
    );
}

fn approve(by: &str, justification: Option<&str>) -> StageDecision {
    StageDecision {
        stage_id: None,
        approver_id: by.into(),
        review_result: ReviewDecision::Approve,
        justification: justification.map(str::to_owned),
    }
}

fn deny(by: &str) -> StageDecision {
    StageDecision { review_result: ReviewDecision::Deny, ..approve(by, Some("no")) }
}

fn logged(t: &Transition, fragment: &str) -> bool {
    t.request.explanation.log.iter().any(|e| e.text.contains(fragment))
}

// Submission: the happy paths.

#[test]
fn a_self_request_with_approval_waits_for_the_manager() {
    let w = World::new();
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    check_state(&t, AccessPackageRequestState::PendingApproval, "PendingApproval");
    let stage = t.request.current_stage().map(|(_, s)| s.clone()).unwrap_or_else(|| panic!("no open stage"));
    assert_eq!(stage.assigned_to, ["bob"]);
    assert_eq!(t.timers, vec![Timer::new(days(7), TimerKind::ApprovalTimeout { stage: 0 })]);
    assert!(t.effects.is_empty());
    assert_eq!(t.request.explanation.priority, Some(PolicyPriority::P1));
    assert!(t.request.explanation.policy_reason.contains("`ALICE` is a direct member of group `g-sales`"));
    assert!(logged(&t, "submitted: `userAdd` by `ALICE` for `ALICE` through policy `Sales reps`"));
    assert!(logged(&t, "stage 1 awaits `bob` (manager of `ALICE`)"));
    assert_eq!(t.request.answers[0].display_value.as_deref(), Some("1234"));
    assert_eq!(t.request.created_date_time, t0());
    assert_eq!(t.request.completed_date_time, None);
}

#[test]
fn without_approval_delivery_starts_at_once() {
    let mut w = World::new();
    w.policies = vec![p_open()];
    let t = ok(w.submit(RequestInput { answers: vec![], ..user_add("dave") }, "dave", t0()));
    check_state(&t, AccessPackageRequestState::Delivering, "Delivering");
    let Some(Effect::CreateAssignment { assignment }) = t.effects.first() else { panic!("{:?}", t.effects) };
    assert_eq!(assignment.id, assignment_id_for(&"r1".into()));
    assert_eq!(t.request.assignment_id.as_deref(), Some(assignment.id.as_str()));
    assert_eq!((assignment.target_id.as_str(), assignment.assignment_policy_id.as_str()), ("dave", "p-open"));
    assert_eq!(assignment.state, AccessPackageAssignmentState::Delivering);
    assert_eq!(assignment.end_date_time(), None);
    assert!(t.timers.is_empty());
    let done = ok(t.request.record_delivery(
        &DeliveryOutcome { delivered: vec![Grant::GroupMember { group_id: "g".into() }], failed: vec![] },
        hours(1),
    ));
    check_state(&done, AccessPackageRequestState::Delivered, "Delivered");
    assert_eq!(done.request.completed_date_time, Some(hours(1)));
}

#[test]
fn a_future_start_is_scheduled_and_delivered_at_its_start() {
    let mut w = World::new();
    w.policies = vec![p_open()];
    let schedule =
        EntitlementManagementSchedule { start_date_time: Some(days(3)), expiration: None, recurrence: None };
    let t = ok(w.submit(
        RequestInput { answers: vec![], schedule: Some(schedule), ..user_add("dave") },
        "dave",
        t0(),
    ));
    check_state(&t, AccessPackageRequestState::Scheduled, "PendingNotBefore");
    let start = Timer::new(days(3), TimerKind::ScheduledStart);
    assert_eq!(t.timers, vec![start]);
    check_refused(t.request.on_timer(&start, days(2)), ErrorCode::Conflict, "not yet");
    let started = ok(t.request.on_timer(&start, days(3)));
    check_state(&started, AccessPackageRequestState::Delivering, "Delivering");
    let Some(Effect::CreateAssignment { assignment }) = started.effects.first() else {
        panic!("{:?}", started.effects)
    };
    assert_eq!(assignment.schedule.start_date_time, Some(days(3)));
    // A second firing of the same timer is stale.
    assert!(!ok(started.request.on_timer(&start, days(3))).changed);
}

#[test]
fn approval_then_delivery_computes_the_end_from_delivery() {
    let w = World::new();
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    let approved = ok(t.request.decide(&approve("bob", None), &w.user("alice"), &w.directory, days(2)));
    check_state(&approved, AccessPackageRequestState::Delivering, "Delivering");
    assert!(approved.timers.is_empty());
    let Some(Effect::CreateAssignment { assignment }) = approved.effects.first() else {
        panic!("{:?}", approved.effects)
    };
    assert_eq!(assignment.end_date_time(), Some(days(32)));
    assert!(logged(&approved, "stage 1 approved by `BOB`"));
    assert!(logged(&approved, "approved: every stage approved"));
}

#[test]
fn a_requested_end_past_the_policy_is_clamped_and_explained() {
    let w = World::new();
    let schedule = EntitlementManagementSchedule {
        start_date_time: None,
        expiration: Some(ExpirationPattern::after_duration(Duration::days(90))),
        recurrence: None,
    };
    let t = ok(w.submit(RequestInput { schedule: Some(schedule), ..user_add("alice") }, "alice", t0()));
    let approved = ok(t.request.decide(&approve("bob", None), &w.user("alice"), &w.directory, t0()));
    let Some(Effect::CreateAssignment { assignment }) = approved.effects.first() else { panic!() };
    assert_eq!(assignment.end_date_time(), Some(days(30)));
    assert!(logged(&approved, "later than the policy allows"));
}

#[test]
fn a_manager_requests_on_behalf_of_a_report() {
    let w = World::new();
    let t = ok(w.submit(user_add("bob"), "alice", t0()));
    assert!(t.request.explanation.policy_reason.contains("`BOB` is the level-1 manager of `ALICE`"));
    // bob is alice's manager but the requestor: the fallback approves.
    let stage = t.request.current_stage().map(|(_, s)| s.clone()).unwrap_or_else(|| panic!());
    assert_eq!(stage.assigned_to, ["frank"]);
    assert!(stage.primary.notes.iter().any(|n| n.contains("`BOB` (manager of `ALICE`) is the requestor")));
    check_refused(
        w.submit(user_add("carol"), "alice", t0()),
        ErrorCode::Forbidden,
        "not one of the on-behalf requestors",
    );
}

#[test]
fn no_manager_routes_to_the_fallback_approver() {
    let w = World::new();
    let t = ok(w.submit(user_add("dave"), "dave", t0()));
    let stage = t.request.current_stage().map(|(_, s)| s.clone()).unwrap_or_else(|| panic!());
    assert_eq!(stage.assigned_to, ["frank"]);
    assert!(stage.primary.used_fallback);
    assert!(logged(&t, "stage 1 awaits `frank` (fallback: named as `singleUser`)"));
}

#[test]
fn nobody_to_approve_the_first_stage_refuses_the_request() {
    let mut w = World::new();
    w.policies[0].request_approval_settings.stages[0].fallback_primary_approvers = vec![single("dave")];
    check_refused(
        w.submit(user_add("dave"), "dave", t0()),
        ErrorCode::Forbidden,
        "nobody can approve this request in stage 1",
    );
}

// Submission: refusals.

#[test]
fn requestors_and_targets_outside_the_scope_are_refused() {
    let w = World::new();
    check_refused(
        w.submit(user_add("frank"), "frank", t0()),
        ErrorCode::Forbidden,
        "`FRANK` is not in the scope of policy `Sales reps`",
    );
    check_refused(
        w.submit(
            RequestInput { assignment_policy_id: Some("nope".into()), ..user_add("alice") },
            "alice",
            t0(),
        ),
        ErrorCode::NotFound,
        "policy `nope` is not a policy of access package `Sales tools`",
    );
}

#[test]
fn blocked_users_unpublished_catalogs_and_bad_types_are_refused() {
    let mut w = World::new();
    check_refused(
        w.submit(user_add("erin"), "erin", t0()),
        ErrorCode::Forbidden,
        "`ERIN` is blocked from signing in and cannot request",
    );
    check_refused(
        w.submit(user_add("bob"), "erin", t0()),
        ErrorCode::Forbidden,
        "`ERIN` is blocked from signing in and cannot be given access",
    );
    check_refused(
        w.submit(input(AccessPackageRequestType::OnBehalfAdd, "bob"), "alice", t0()),
        ErrorCode::ValidationFailed,
        "send `userAdd` with their id as the target",
    );
    check_refused(
        w.submit(RequestInput { requestor: Actor::System, ..user_add("alice") }, "alice", t0()),
        ErrorCode::Forbidden,
        "come from a signed-in user",
    );
    w.catalog.state = CatalogState::Unpublished;
    check_refused(
        w.submit(user_add("alice"), "alice", t0()),
        ErrorCode::Forbidden,
        "catalog `General` is not published",
    );
}

#[test]
fn answers_justification_and_schedule_are_checked_together() {
    let mut w = World::new();
    let bad = RequestInput {
        justification: Some("  ".into()),
        answers: vec![AccessPackageAnswerString::new("q-region", "apac")],
        ..user_add("alice")
    };
    let err = w.submit(bad, "alice", t0()).err().unwrap_or_else(|| panic!("accepted"));
    assert_eq!(err.code, ErrorCode::ValidationFailed);
    let paths: Vec<&str> = err.details.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["justification", "answers[0].value", "answers"]);
    check_refused(
        w.submit(RequestInput { answers: answers("12x4"), ..user_add("alice") }, "alice", t0()),
        ErrorCode::ValidationFailed,
        "`12x4` does not match the pattern `^[0-9]{4}$`",
    );
    check_refused(
        w.submit(RequestInput { answers: vec![], ..user_add("alice") }, "alice", t0()),
        ErrorCode::ValidationFailed,
        "required question `Cost center?`",
    );
    let past = EntitlementManagementSchedule {
        start_date_time: None,
        expiration: Some(ExpirationPattern::after_date_time(hours(-1))),
        recurrence: None,
    };
    check_refused(
        w.submit(RequestInput { schedule: Some(past), ..user_add("alice") }, "alice", t0()),
        ErrorCode::ValidationFailed,
        "has passed",
    );
    w.policies[0].requestor_settings.allow_custom_assignment_schedule = false;
    let schedule = EntitlementManagementSchedule {
        start_date_time: Some(days(1)),
        ..EntitlementManagementSchedule::default()
    };
    check_refused(
        w.submit(RequestInput { schedule: Some(schedule), ..user_add("alice") }, "alice", t0()),
        ErrorCode::ValidationFailed,
        "does not let requestors choose their schedule",
    );
}

#[test]
fn an_active_assignment_or_an_open_request_is_a_conflict() {
    let mut w = World::new();
    w.assignments.push(assignment("a-1", "ap", "p-sales"));
    check_refused(
        w.submit(user_add("alice"), "alice", t0()),
        ErrorCode::Conflict,
        "already has an active assignment `a-1`",
    );
    w.assignments[0].state = AccessPackageAssignmentState::Expired;
    assert!(
        w.submit(user_add("alice"), "alice", t0()).is_ok(),
        "an expired assignment is renewed by a new request"
    );
    w.open_requests.push(OpenRequest {
        id: "r0".into(),
        access_package_id: "ap".into(),
        request_type: AccessPackageRequestType::UserAdd,
    });
    check_refused(
        w.submit(user_add("alice"), "alice", t0()),
        ErrorCode::Conflict,
        "already has an open `userAdd` request `r0`",
    );
}

#[test]
fn separation_of_duties_blocks_incompatible_access() {
    let mut w = World::new();
    check_refused(
        w.submit(user_add("zed"), "zed", t0()),
        ErrorCode::Conflict,
        "`ZED` is a member of incompatible group `Contractors`",
    );
    w.assignments.push(assignment("a-amer", "ap-amer", "p-x"));
    check_refused(
        w.submit(user_add("alice"), "alice", t0()),
        ErrorCode::Conflict,
        "`ALICE` holds incompatible access package `AMER sales`",
    );
    w.assignments.clear();
    w.open_requests.push(OpenRequest {
        id: "r-amer".into(),
        access_package_id: "ap-amer".into(),
        request_type: AccessPackageRequestType::UserAdd,
    });
    check_refused(
        w.submit(user_add("alice"), "alice", t0()),
        ErrorCode::Conflict,
        "has a pending request `r-amer` for incompatible access package `AMER sales`",
    );
}

#[test]
fn priority_picks_the_policy_and_a_choice_is_needed_within_a_category() {
    let mut w = World::new();
    w.policies.push(p_open());
    // alice is in g-sales (P1) and a member (P2): the P1 policy is chosen without naming it.
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    assert_eq!(t.request.assignment_policy_id, "p-sales");
    assert!(
        t.request
            .explanation
            .other_policies
            .iter()
            .any(|n| n.policy_id == "p-open" && n.reason.contains("higher priority (P1)"))
    );
    check_refused(
        w.submit(
            RequestInput { assignment_policy_id: Some("p-open".into()), ..user_add("alice") },
            "alice",
            t0(),
        ),
        ErrorCode::Forbidden,
        "policy `Everyone` (P2) is ignored because a policy of higher priority (P1) applies",
    );
    // frank is not in g-sales: only P2 applies.
    let t = ok(w.submit(RequestInput { answers: vec![], ..user_add("frank") }, "frank", t0()));
    assert_eq!(t.request.assignment_policy_id, "p-open");
    w.policies.push(AccessPackageAssignmentPolicy {
        id: "p-sales-2".into(),
        display_name: "Sales again".into(),
        ..p_sales()
    });
    check_refused(
        w.submit(user_add("alice"), "alice", t0()),
        ErrorCode::ValidationFailed,
        "2 policies apply; choose one",
    );
    let named = ok(w.submit(
        RequestInput { assignment_policy_id: Some("p-sales-2".into()), ..user_add("alice") },
        "alice",
        t0(),
    ));
    assert_eq!(named.request.assignment_policy_id, "p-sales-2");
}

// Administrators and the system.

fn admin_add(policy: Option<&str>) -> RequestInput {
    RequestInput {
        assignment_policy_id: policy.map(Into::into),
        justification: None,
        ..input(AccessPackageRequestType::AdminAdd, "admin")
    }
}

#[test]
fn administrators_assign_directly_within_the_policy() {
    let mut w = World::new();
    w.policies.push(p_direct());
    check_refused(w.submit(admin_add(None), "frank", t0()), ErrorCode::ValidationFailed, "names the policy");
    check_refused(
        w.submit(admin_add(Some("p-sales")), "frank", t0()),
        ErrorCode::Forbidden,
        "`FRANK` is not in the scope",
    );
    let direct = ok(w.submit(RequestInput { answers: vec![], ..admin_add(Some("p-direct")) }, "frank", t0()));
    check_state(&direct, AccessPackageRequestState::Delivering, "Delivering");
    assert!(direct.request.explanation.policy_reason.contains("assigned directly by an administrator"));
    // An administrator cannot bypass approval, and needs no justification.
    let approval = ok(w.submit(admin_add(Some("p-sales")), "alice", t0()));
    check_state(&approval, AccessPackageRequestState::PendingApproval, "PendingApproval");
    // Separation of duties binds administrators too.
    check_refused(
        w.submit(RequestInput { answers: vec![], ..admin_add(Some("p-direct")) }, "zed", t0()),
        ErrorCode::Conflict,
        "incompatible group",
    );
    w.policies[1].requestor_settings.accept_requests = false;
    check_refused(
        w.submit(RequestInput { answers: vec![], ..admin_add(Some("p-direct")) }, "frank", t0()),
        ErrorCode::Forbidden,
        "does not accept new assignments",
    );
}

#[test]
fn the_system_assigns_through_an_automatic_policy() {
    let mut w = World::new();
    let mut auto = p_open();
    auto.id = "p-auto".into();
    auto.automatic_request_settings = Some(AutomaticRequestSettings::default());
    w.policies.push(auto);
    let system = RequestInput {
        request_type: AccessPackageRequestType::SystemAdd,
        requestor: Actor::System,
        assignment_policy_id: Some("p-auto".into()),
        justification: None,
        answers: vec![],
        ..user_add("alice")
    };
    let t = ok(w.submit(system.clone(), "dave", t0()));
    check_state(&t, AccessPackageRequestState::Delivering, "Delivering");
    check_refused(
        w.submit(
            RequestInput { assignment_policy_id: Some("p-sales".into()), ..system.clone() },
            "dave",
            t0(),
        ),
        ErrorCode::ValidationFailed,
        "not an auto-assignment policy",
    );
    check_refused(
        w.submit(RequestInput { requestor: Actor::User { id: "alice".into() }, ..system }, "dave", t0()),
        ErrorCode::Forbidden,
        "come from the engine itself",
    );
    check_refused(
        w.submit(
            RequestInput { assignment_policy_id: Some("p-auto".into()), answers: vec![], ..admin_add(None) },
            "dave",
            t0(),
        ),
        ErrorCode::ValidationFailed,
        "assigns automatically",
    );
}

// Updates and removals.

fn assignment(id: &str, package: &str, policy: &str) -> AccessPackageAssignment {
    AccessPackageAssignment::new(NewAssignment {
        id: id.into(),
        access_package_id: package.into(),
        assignment_policy_id: policy.into(),
        catalog_id: "c".into(),
        target_id: "alice".into(),
        schedule: EntitlementManagementSchedule {
            start_date_time: Some(days(-20)),
            expiration: Some(ExpirationPattern::after_date_time(days(10))),
            recurrence: None,
        },
    })
    .record_delivery(&DeliveryOutcome::default())
}

#[test]
fn users_extend_and_remove_their_own_assignment() {
    let mut w = World::new();
    w.assignments.push(assignment("a-1", "ap", "p-sales"));
    let update = RequestInput {
        assignment_id: Some("a-1".into()),
        answers: vec![],
        ..input(AccessPackageRequestType::UserUpdate, "alice")
    };
    let t = ok(w.submit(update.clone(), "alice", t0()));
    check_state(&t, AccessPackageRequestState::Delivering, "Delivering");
    assert_eq!(
        t.effects,
        vec![Effect::ExtendAssignment {
            assignment_id: "a-1".into(),
            expiration: ExpirationPattern::after_date_time(days(30))
        }]
    );
    // Editable answers may change; others may not.
    check_refused(
        w.submit(
            RequestInput {
                answers: vec![AccessPackageAnswerString::new("q-region", "emea")],
                ..update.clone()
            },
            "alice",
            t0(),
        ),
        ErrorCode::ValidationFailed,
        "cannot be changed",
    );
    let remove = RequestInput {
        assignment_id: Some("a-1".into()),
        answers: vec![],
        justification: None,
        ..input(AccessPackageRequestType::UserRemove, "alice")
    };
    let t = ok(w.submit(remove.clone(), "alice", t0()));
    assert_eq!(t.effects, vec![Effect::RemoveAssignment { assignment_id: "a-1".into() }]);
    let removed = ok(t.request.record_delivery(&DeliveryOutcome::default(), t0()));
    check_state(&removed, AccessPackageRequestState::Delivered, "Delivered");
    // A pending update blocks another update, not a removal.
    w.open_requests.push(OpenRequest {
        id: "r0".into(),
        access_package_id: "ap".into(),
        request_type: AccessPackageRequestType::UserUpdate,
    });
    check_refused(
        w.submit(update.clone(), "alice", t0()),
        ErrorCode::Conflict,
        "open `userUpdate` request `r0`",
    );
    assert!(w.submit(remove.clone(), "alice", t0()).is_ok());
    w.open_requests.clear();
    w.assignments[0].state = AccessPackageAssignmentState::Expired;
    check_refused(
        w.submit(remove.clone(), "alice", t0()),
        ErrorCode::Conflict,
        "assignment `a-1` has expired",
    );
    w.assignments[0].state = AccessPackageAssignmentState::Delivered;
    check_refused(
        w.submit(RequestInput { assignment_id: Some("a-9".into()), ..remove.clone() }, "alice", t0()),
        ErrorCode::NotFound,
        "assignment `a-9` does not exist",
    );
    check_refused(
        w.submit(RequestInput { assignment_id: None, ..remove.clone() }, "alice", t0()),
        ErrorCode::ValidationFailed,
        "names the assignment",
    );
    w.policies[0].requestor_settings.enable_targets_to_self_remove_access = false;
    check_refused(
        w.submit(remove, "alice", t0()),
        ErrorCode::Forbidden,
        "does not let users remove access for themselves",
    );
    w.policies[0].request_approval_settings.is_approval_required_for_update = true;
    let pending = ok(w.submit(update, "alice", t0()));
    check_state(&pending, AccessPackageRequestState::PendingApproval, "PendingApproval");
}

// Approval.

fn two_stages(w: &mut World) {
    let second = stage(vec![single("carol"), single("frank")], vec![]);
    w.policies[0].request_approval_settings.stages.push(second);
    w.policies[0].request_approval_settings.stages[1].is_approver_justification_required = true;
}

#[test]
fn stages_open_one_after_another() {
    let mut w = World::new();
    two_stages(&mut w);
    let alice = w.user("alice");
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    let first = ok(t.request.decide(&approve("bob", None), &alice, &w.directory, days(1)));
    check_state(&first, AccessPackageRequestState::PendingApproval, "PendingApproval");
    let (i, stage) = first.request.current_stage().unwrap_or_else(|| panic!());
    assert_eq!((i, stage.assigned_to.clone()), (1, vec!["carol".to_owned(), "frank".to_owned()]));
    assert_eq!(first.timers, vec![Timer::new(days(8), TimerKind::ApprovalTimeout { stage: 1 })]);
    check_refused(
        first.request.decide(&approve("frank", None), &alice, &w.directory, days(2)),
        ErrorCode::ValidationFailed,
        "justify",
    );
    let second = ok(first.request.decide(&approve("frank", Some("fine")), &alice, &w.directory, days(2)));
    check_state(&second, AccessPackageRequestState::Delivering, "Delivering");
    // The first decision on a stage wins.
    check_refused(
        second.request.decide(&approve("carol", Some("me too")), &alice, &w.directory, days(2)),
        ErrorCode::Conflict,
        "already approved by `frank`",
    );
    let stage_one = second.request.approval.as_ref().map(|a| a.stages[0].id.clone());
    let late = StageDecision { stage_id: stage_one, ..deny("bob") };
    check_refused(
        second.request.decide(&late, &alice, &w.directory, days(2)),
        ErrorCode::Conflict,
        "stage 1 was already approved by `bob`",
    );
}

#[test]
fn a_deny_ends_the_request() {
    let mut w = World::new();
    two_stages(&mut w);
    let alice = w.user("alice");
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    let denied = ok(t.request.decide(&deny("bob"), &alice, &w.directory, hours(3)));
    check_state(&denied, AccessPackageRequestState::Denied, "Denied");
    assert_eq!(denied.request.completed_date_time, Some(hours(3)));
    assert!(denied.timers.is_empty() && denied.effects.is_empty());
    let stages = denied.request.approval.as_ref().map(|a| a.stages.clone()).unwrap_or_default();
    assert_eq!(stages[0].review_result, ReviewResult::Denied);
    assert_eq!(stages[1].status, StageStatus::Initializing);
    check_refused(
        denied.request.decide(&deny("bob"), &alice, &w.directory, hours(4)),
        ErrorCode::Conflict,
        "already denied",
    );
    let stage_two = StageDecision { stage_id: Some(stages[1].id.clone()), ..approve("carol", Some("x")) };
    check_refused(
        denied.request.decide(&stage_two, &alice, &w.directory, hours(4)),
        ErrorCode::Conflict,
        "is `denied` and no longer awaits approval",
    );
}

#[test]
fn nobody_approves_their_own_request() {
    let mut w = World::new();
    w.policies[0].request_approval_settings.stages[0].primary_approvers =
        vec![single("alice"), single("carol")];
    let alice = w.user("alice");
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    check_refused(
        t.request.decide(&approve("alice", None), &alice, &w.directory, t0()),
        ErrorCode::Forbidden,
        "nobody approves their own request",
    );
    check_refused(
        t.request.decide(&approve("dave", None), &alice, &w.directory, t0()),
        ErrorCode::Forbidden,
        "not an approver",
    );
    let bad_stage = StageDecision { stage_id: Some("nope".into()), ..approve("carol", None) };
    check_refused(
        t.request.decide(&bad_stage, &alice, &w.directory, t0()),
        ErrorCode::NotFound,
        "approval stage `nope`",
    );
}

#[test]
fn a_later_stage_with_nobody_to_decide_denies_the_request() {
    let mut w = World::new();
    w.policies[0].request_approval_settings.stages.push(stage(vec![single("alice")], vec![]));
    let alice = w.user("alice");
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    let next = ok(t.request.decide(&approve("bob", None), &alice, &w.directory, t0()));
    check_state(&next, AccessPackageRequestState::Denied, "Denied");
    assert!(logged(&next, "stage 2 opened with no approver"));
    assert!(logged(&next, "denied: nobody can decide stage 2"));
    check_refused(
        next.request.decide(&approve("alice", None), &alice, &w.directory, t0()),
        ErrorCode::Conflict,
        "is `denied` and no longer awaits approval",
    );
}

#[test]
fn a_stage_that_times_out_denies_the_request() {
    let w = World::new();
    let alice = w.user("alice");
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    let timeout = t.timers[0];
    check_refused(t.request.on_timer(&timeout, days(6)), ErrorCode::Conflict, "not yet");
    let expired = ok(t.request.on_timer(&timeout, days(7)));
    check_state(&expired, AccessPackageRequestState::Denied, "Expired");
    assert!(logged(&expired, "stage 1 had no decision within P7D and timed out"));
    assert_eq!(expired.request.approval.as_ref().map(|a| a.stages[0].status), Some(StageStatus::Expired));
    check_refused(
        expired.request.decide(&approve("bob", None), &alice, &w.directory, days(8)),
        ErrorCode::Conflict,
        "timed out",
    );
    // After a decision, the timeout is stale.
    let approved = ok(t.request.decide(&approve("bob", None), &alice, &w.directory, days(1)));
    let stale = ok(approved.request.on_timer(&timeout, days(7)));
    assert!(!stale.changed);
    assert_eq!(stale.request, approved.request);
}

#[test]
fn escalation_forwards_to_alternate_approvers() {
    let mut w = World::new();
    {
        let s = &mut w.policies[0].request_approval_settings.stages[0];
        s.is_escalation_enabled = true;
        s.duration_before_escalation = Duration::days(2);
        s.escalation_approvers = vec![single("carol")];
    }
    let alice = w.user("alice");
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    let escalation = Timer::new(days(2), TimerKind::ApprovalEscalation { stage: 0 });
    assert_eq!(t.timers, vec![escalation, Timer::new(days(7), TimerKind::ApprovalTimeout { stage: 0 })]);
    check_refused(
        t.request.decide(&approve("carol", None), &alice, &w.directory, days(1)),
        ErrorCode::Forbidden,
        "only after escalation",
    );
    let escalated = ok(t.request.on_timer(&escalation, days(2)));
    check_state(&escalated, AccessPackageRequestState::PendingApproval, "PendingApprovalEscalated");
    assert_eq!(escalated.timers, vec![Timer::new(days(7), TimerKind::ApprovalTimeout { stage: 0 })]);
    assert!(logged(
        &escalated,
        "stage 1 escalated to `carol` (named as `singleUser`); the primary approvers can still decide"
    ));
    assert!(
        ok(escalated.request.decide(&approve("bob", None), &alice, &w.directory, days(3))).request.state
            == AccessPackageRequestState::Delivering
    );
    let by_alternate = ok(escalated.request.decide(&approve("carol", None), &alice, &w.directory, days(3)));
    check_state(&by_alternate, AccessPackageRequestState::Delivering, "Delivering");
    assert!(!ok(escalated.request.on_timer(&escalation, days(3))).changed);
}

// Cancel, delivery outcomes, reprocess.

#[test]
fn cancel_only_in_cancellable_statuses_and_by_the_right_people() {
    let mut w = World::new();
    let alice_actor = Actor::User { id: "alice".into() };
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    check_refused(
        t.request.cancel(&Actor::User { id: "dave".into() }, false, t0()),
        ErrorCode::Forbidden,
        "only the requestor, the target or an administrator",
    );
    let canceled = ok(t.request.cancel(&alice_actor, false, hours(1)));
    check_state(&canceled, AccessPackageRequestState::Canceled, "Canceled");
    assert!(canceled.timers.is_empty());
    assert_eq!(canceled.request.approval.as_ref().map(|a| a.stages[0].status), Some(StageStatus::Completed));
    check_refused(
        canceled.request.cancel(&alice_actor, false, hours(2)),
        ErrorCode::Conflict,
        "status `Canceled` cannot be canceled",
    );
    let alice = w.user("alice");
    check_refused(
        canceled.request.decide(&approve("bob", None), &alice, &w.directory, hours(2)),
        ErrorCode::Conflict,
        "is `canceled` and no longer awaits approval",
    );
    let stage_id = canceled.request.approval.as_ref().map(|a| a.stages[0].id.clone());
    let named = StageDecision { stage_id, ..approve("bob", None) };
    check_refused(
        canceled.request.decide(&named, &alice, &w.directory, hours(2)),
        ErrorCode::Conflict,
        "no longer awaits approval",
    );
    assert!(t.request.cancel(&Actor::User { id: "dave".into() }, true, t0()).is_ok());
    assert!(t.request.cancel(&Actor::System, false, t0()).is_ok());
    // Scheduled requests can be canceled; delivering ones cannot.
    w.policies = vec![p_open()];
    let schedule = EntitlementManagementSchedule {
        start_date_time: Some(days(3)),
        ..EntitlementManagementSchedule::default()
    };
    let scheduled = ok(w.submit(
        RequestInput { answers: vec![], schedule: Some(schedule), ..user_add("dave") },
        "dave",
        t0(),
    ));
    let dave = Actor::User { id: "dave".into() };
    check_state(
        &ok(scheduled.request.cancel(&dave, false, t0())),
        AccessPackageRequestState::Canceled,
        "Canceled",
    );
    let delivering = ok(w.submit(RequestInput { answers: vec![], ..user_add("dave") }, "dave", t0()));
    check_refused(
        delivering.request.cancel(&dave, false, t0()),
        ErrorCode::Conflict,
        "`Delivering` cannot be canceled",
    );
}

#[test]
fn every_status_is_cancellable_or_not_as_graph_says() {
    use RequestStatus as S;
    let cancellable = [S::Accepted, S::PendingApproval, S::PendingApprovalEscalated, S::PendingNotBefore];
    for s in [
        S::Accepted,
        S::PendingApproval,
        S::PendingApprovalEscalated,
        S::PendingNotBefore,
        S::Delivering,
        S::Delivered,
        S::PartiallyDelivered,
        S::DeliveryFailed,
        S::Denied,
        S::Expired,
        S::Canceled,
    ] {
        assert_eq!(s.is_cancellable(), cancellable.contains(&s), "{s:?}");
    }
}

/// dave's approval-free request, delivering.
fn delivering() -> Transition {
    let mut w = World::new();
    w.policies = vec![p_open()];
    ok(w.submit(RequestInput { answers: vec![], ..user_add("dave") }, "dave", t0()))
}

#[test]
fn delivery_outcomes_and_reprocess() {
    let t = delivering();
    let grant = |g: &str| Grant::GroupMember { group_id: g.into() };
    let failed = FailedGrant { grant: Some(grant("g2")), error: "group deleted".into() };
    let partial = ok(t.request.record_delivery(
        &DeliveryOutcome { delivered: vec![grant("g1")], failed: vec![failed.clone()] },
        hours(1),
    ));
    check_state(&partial, AccessPackageRequestState::PartiallyDelivered, "PartiallyDelivered");
    assert!(logged(&partial, "partially delivered; failed: member of group `g2`: group deleted"));
    let failed_all =
        ok(t.request.record_delivery(&DeliveryOutcome { delivered: vec![], failed: vec![failed] }, hours(1)));
    check_state(&failed_all, AccessPackageRequestState::DeliveryFailed, "DeliveryFailed");
    check_refused(
        failed_all.request.record_delivery(&DeliveryOutcome::default(), hours(2)),
        ErrorCode::Conflict,
        "not delivering",
    );
    let again = ok(partial.request.reprocess(days(14)));
    check_state(&again, AccessPackageRequestState::Delivering, "Delivering");
    assert_eq!(again.effects, vec![Effect::Deliver { assignment_id: assignment_id_for(&"r1".into()) }]);
    assert_eq!(again.request.completed_date_time, None);
    check_refused(failed_all.request.reprocess(days(15)), ErrorCode::Conflict, "more than 14 days ago");
    let done = ok(t.request.record_delivery(&DeliveryOutcome::default(), hours(1)));
    check_refused(
        done.request.reprocess(hours(2)),
        ErrorCode::Conflict,
        "only `deliveryFailed` and `partiallyDelivered`",
    );
}

#[test]
fn requests_serialize_with_graph_names() {
    let w = World::new();
    let t = ok(w.submit(user_add("alice"), "alice", t0()));
    let value = serde_json::to_value(&t.request).unwrap_or_default();
    assert_eq!(value["requestType"], "userAdd");
    assert_eq!(value["state"], "pendingApproval");
    assert_eq!(value["status"], "PendingApproval");
    assert_eq!(
        value["answers"][0],
        serde_json::json!({"value": "1234", "displayValue": "1234", "answeredQuestion": {"id": "q-cc"}})
    );
    assert_eq!(value["approval"]["stages"][0]["status"], "InProgress");
    assert_eq!(value["explanation"]["priority"], "P1");
    let back: Option<AccessPackageAssignmentRequest> = serde_json::from_value(value).ok();
    assert_eq!(back, Some(t.request));
}

#[test]
fn request_types_map_to_actions_and_origins() {
    use AccessPackageRequestType as T;
    let cases = [
        (T::UserAdd, Some(RequestAction::Add), Some(RequestOrigin::User)),
        (T::UserUpdate, Some(RequestAction::Update), Some(RequestOrigin::User)),
        (T::UserRemove, Some(RequestAction::Remove), Some(RequestOrigin::User)),
        (T::AdminAdd, Some(RequestAction::Add), Some(RequestOrigin::Admin)),
        (T::AdminUpdate, Some(RequestAction::Update), Some(RequestOrigin::Admin)),
        (T::AdminRemove, Some(RequestAction::Remove), Some(RequestOrigin::Admin)),
        (T::SystemAdd, Some(RequestAction::Add), Some(RequestOrigin::System)),
        (T::SystemUpdate, Some(RequestAction::Update), Some(RequestOrigin::System)),
        (T::SystemRemove, Some(RequestAction::Remove), Some(RequestOrigin::System)),
        (T::NotSpecified, None, None),
        (T::OnBehalfAdd, None, None),
        (T::ApproverRemove, None, None),
    ];
    for (kind, action, origin) in cases {
        assert_eq!((kind.action(), kind.origin()), (action, origin), "{kind:?}");
        let json = serde_json::to_value(kind).unwrap_or_default();
        assert_eq!(json, kind.as_str());
    }
}

#[test]
fn events_that_do_not_fit_the_request_are_refused() {
    let w = World::new();
    let t = delivering();
    let dave = w.user("dave");
    check_refused(
        t.request.decide(&approve("frank", None), &dave, &w.directory, t0()),
        ErrorCode::Conflict,
        "needs no approval",
    );
    let expiry = Timer::new(t0(), TimerKind::AssignmentExpiration);
    check_refused(t.request.on_timer(&expiry, t0()), ErrorCode::ValidationFailed, "belongs to an assignment");
    let timeout = Timer::new(t0(), TimerKind::ApprovalTimeout { stage: 0 });
    assert!(!ok(t.request.on_timer(&timeout, t0())).changed);
}

// ---------------------------------------------------------------------------------------------
// The events a change tells.

#[test]
fn a_submission_and_its_approval_tell_the_parties_and_the_approvers() {
    use crate::event::EventKind;
    let w = World::new();
    let alice = Actor::User { id: "alice".into() };
    let ids = || "e".to_owned();
    let stamp = events::Stamp { actor: &alice, now: t0(), ids: &ids };
    let submitted = ok(w.submit(user_add("alice"), "alice", t0()));
    let told = events::request_events(&stamp, None, &submitted.request, &w.package);
    let kinds: Vec<EventKind> = told.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::RequestCreated, EventKind::ApprovalStageAssigned]);
    assert_eq!(told[0].audience, ["alice"], "the request's own event tells its parties");
    assert_eq!(told[0].data["request"]["id"], "r1", "and carries the request");
    assert_eq!(told[1].audience, ["bob"], "the stage's event tells its approver");
    assert_eq!(told[1].data["requestId"], "r1", "and names the request");
    assert_eq!(
        (told[0].catalog_id.as_deref(), told[0].access_package_id.as_deref()),
        (Some("c"), Some("ap"))
    );

    let bob = Actor::User { id: "bob".into() };
    let stamp = events::Stamp { actor: &bob, now: hours(1), ids: &ids };
    let decided =
        ok(submitted.request.decide(&approve("bob", Some("ok")), &w.user("alice"), &w.directory, hours(1)));
    let told = events::request_events(&stamp, Some(&submitted.request), &decided.request, &w.package);
    let kinds: Vec<EventKind> = told.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::RequestStateChanged, EventKind::ApprovalStageRemoved]);
    assert_eq!(told[1].audience, ["bob"], "the stage is taken from its approver");
    assert_eq!(told[0].actor_id.as_deref(), Some("bob"));
}

#[test]
fn the_last_approval_creates_and_delivers_the_assignment_in_one_change() {
    use crate::assignment::DeliveryPlan;
    use crate::event::EventKind;
    use crate::request::change::{Delivery, Held, TimerOwner, realize};
    let w = World::new();
    let ids = || "e".to_owned();
    let bob = Actor::User { id: "bob".into() };
    let stamp = events::Stamp { actor: &bob, now: hours(1), ids: &ids };
    let plan = DeliveryPlan {
        grants: vec![
            Grant::GroupMember { group_id: "g-team".into() },
            Grant::GroupMember { group_id: "g-gone".into() },
        ],
        unresolved: vec![],
    };
    let missing: BTreeSet<Grant> = [Grant::GroupMember { group_id: "g-gone".into() }].into();
    let delivery = Delivery { package: &w.package, plan: &plan, missing: &missing };
    let submitted = ok(w.submit(user_add("alice"), "alice", t0()));
    let approved =
        ok(submitted.request.decide(&approve("bob", Some("ok")), &w.user("alice"), &w.directory, hours(1)));
    let held: [Held<'_>; 0] = [];
    let realized = realize(Some((&submitted.request, 1)), approved, 7, &held, &delivery, &stamp, hours(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let change = &realized.change;
    assert_eq!((change.target_id.as_str(), change.target_version), ("alice", 7));
    assert_eq!(
        change.deliver,
        vec![(change.assignments[0].0.id.clone(), Grant::GroupMember { group_id: "g-team".into() })]
    );
    assert_eq!(change.assignments[0].1, None, "a new assignment");
    assert_eq!(change.requests, vec![(realized.request.clone(), Some(1))]);
    assert_eq!(
        realized.request.state,
        AccessPackageRequestState::PartiallyDelivered,
        "one grant's group is gone"
    );
    let owners: Vec<TimerOwner> = change.timers.iter().map(|(owner, _, _)| *owner).collect();
    assert_eq!(owners, [TimerOwner::Assignment, TimerOwner::Request]);
    let kinds: Vec<EventKind> = realized.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::AssignmentCreated, EventKind::RequestStateChanged, EventKind::ApprovalStageRemoved]
    );
}

#[test]
fn a_regrant_delivers_added_roles_and_takes_away_removed_ones_unless_another_assignment_grants_them() {
    use crate::assignment::DeliveryPlan;
    use crate::event::EventKind;
    use crate::request::change::{Delivery, Held, regrant};
    let w = World::new();
    let ids = || "e".to_owned();
    let megan = Actor::User { id: "megan".into() };
    let stamp = events::Stamp { actor: &megan, now: hours(2), ids: &ids };
    let group = |id: &str| Grant::GroupMember { group_id: id.into() };
    let first_plan =
        DeliveryPlan { grants: vec![group("g-a"), group("g-b"), group("g-c")], unresolved: vec![] };
    let none = BTreeSet::new();
    let first = Delivery { package: &w.package, plan: &first_plan, missing: &none };
    let submitted = ok(w.submit(user_add("alice"), "alice", t0()));
    let approved =
        ok(submitted.request.decide(&approve("bob", Some("ok")), &w.user("alice"), &w.directory, hours(1)));
    let realized = realize_first(&submitted.request, approved, &first, &stamp);
    let mut assignment = realized.change.assignments[0].0.clone();
    assignment.delivered_grants = vec![group("g-a"), group("g-b"), group("g-c")];
    let mut other = assignment.clone();
    other.id = "other".into();
    other.delivered_grants = vec![group("g-b")];
    let held = [Held { assignment: &assignment, version: 3 }, Held { assignment: &other, version: 1 }];

    let unchanged = regrant(held[0], &held, 9, &first, &stamp);
    assert!(unchanged.is_none(), "an assignment that delivers its package's roles is left alone");

    let now_plan = DeliveryPlan { grants: vec![group("g-a"), group("g-d")], unresolved: vec![] };
    let now = Delivery { package: &w.package, plan: &now_plan, missing: &none };
    let (change, event) = regrant(held[0], &held, 9, &now, &stamp).unwrap_or_else(|| panic!("a change"));
    assert_eq!((change.target_id.as_str(), change.target_version), ("alice", 9));
    assert_eq!(change.deliver, vec![(assignment.id.clone(), group("g-d"))]);
    assert_eq!(
        change.revoke,
        vec![(assignment.id.clone(), group("g-b"), false), (assignment.id.clone(), group("g-c"), true)],
        "g-b stays with the target: the other assignment still grants it"
    );
    assert_eq!(change.assignments[0].1, Some(3), "written at the version it was decided on");
    assert_eq!(change.assignments[0].0.delivered_grants, vec![group("g-a"), group("g-d")]);
    assert_eq!(event.kind, EventKind::AssignmentUpdated);
}

fn realize_first(
    before: &AccessPackageAssignmentRequest,
    approved: Transition,
    delivery: &crate::request::change::Delivery<'_>,
    stamp: &events::Stamp<'_>,
) -> crate::request::change::Realized {
    crate::request::change::realize(Some((before, 1)), approved, 1, &[], delivery, stamp, hours(1))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_assignments_expiry_ends_it_and_takes_away_only_what_no_other_assignment_grants() {
    use crate::assignment::DeliveryPlan;
    use crate::event::EventKind;
    use crate::policy::{ExpirationPattern, ExpirationPatternType};
    use crate::request::change::{Delivery, Held, TimerOwner, assignment_timer};
    use crate::timer::{Timer, TimerKind};
    let w = World::new();
    let ids = || "e".to_owned();
    let stamp = events::Stamp { actor: &Actor::System, now: hours(30), ids: &ids };
    let group = |id: &str| Grant::GroupMember { group_id: id.into() };
    let plan = DeliveryPlan { grants: vec![group("g-a"), group("g-b")], unresolved: vec![] };
    let none = BTreeSet::new();
    let delivery = Delivery { package: &w.package, plan: &plan, missing: &none };
    let submitted = ok(w.submit(user_add("alice"), "alice", t0()));
    let approved =
        ok(submitted.request.decide(&approve("bob", Some("ok")), &w.user("alice"), &w.directory, hours(1)));
    let mut assignment =
        realize_first(&submitted.request, approved, &delivery, &stamp).change.assignments[0].0.clone();
    assignment.delivered_grants = vec![group("g-a"), group("g-b")];
    assignment.schedule.expiration = Some(ExpirationPattern {
        kind: ExpirationPatternType::AfterDateTime,
        end_date_time: Some(hours(24)),
        duration: None,
    });
    let mut other = assignment.clone();
    other.id = "other".into();
    other.schedule.expiration = None;
    other.delivered_grants = vec![group("g-b")];
    let held = [Held { assignment: &assignment, version: 4 }, Held { assignment: &other, version: 1 }];
    let expiry = Timer::new(hours(24), TimerKind::AssignmentExpiration);

    let (change, told) = assignment_timer(held[0], &held, &expiry, 6, Some("Sales"), &[], &stamp, hours(30))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        change.revoke,
        vec![(assignment.id.clone(), group("g-a"), true), (assignment.id.clone(), group("g-b"), false)]
    );
    assert_eq!(change.assignments[0].1, Some(4));
    assert!(!change.assignments[0].0.is_active(), "the assignment ended");
    assert_eq!(change.timers, vec![(TimerOwner::Assignment, assignment.id.to_string(), Vec::new())]);
    let kinds: Vec<EventKind> = told.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::AssignmentStateChanged]);

    let stale = Timer::new(hours(23), TimerKind::AssignmentExpiration);
    let (unchanged, none_told) = assignment_timer(held[0], &held, &stale, 6, None, &[], &stamp, hours(30))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(unchanged.assignments.is_empty() && unchanged.revoke.is_empty() && none_told.is_empty());
}

// Custom extensions.

mod extensions {
    use super::*;
    use crate::assignment::DeliveryPlan;
    use crate::event::EventKind;
    use crate::extension::{
        CallbackConfiguration, CallbackData, CalloutStatus, CustomCalloutExtension, CustomExtensionInput,
        CustomExtensionStage as S, CustomExtensionStageSetting, CustomExtensionType, EndpointRules,
    };
    use crate::request::change::{Delivery, realize};

    fn extension(id: &str, wait: Option<Duration>) -> CustomCalloutExtension {
        CustomCalloutExtension::create(
            id.into(),
            "c".into(),
            CustomExtensionInput {
                extension_type: Some(CustomExtensionType::AccessPackageAssignmentRequestWorkflowExtension),
                display_name: format!("ext {id}"),
                target_url: "https://ext.example.com/hook".into(),
                callback_configuration: wait
                    .map(|timeout_duration| CallbackConfiguration { timeout_duration }),
                ..CustomExtensionInput::default()
            },
            EndpointRules::default(),
            "admin",
            t0(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The sales policy with a launch-and-wait extension at `wait_at` and a launch-and-continue one
    /// at granted.
    fn world(wait_at: S) -> World {
        let mut w = World::new();
        w.extensions = vec![extension("wait", Some(Duration::hours(1))), extension("go", None)];
        w.policies[0].custom_extension_stage_settings = vec![
            CustomExtensionStageSetting { stage: wait_at, custom_extension_id: "wait".into() },
            CustomExtensionStageSetting {
                stage: S::AssignmentRequestGranted,
                custom_extension_id: "go".into(),
            },
        ];
        w
    }

    fn callback(id: &str) -> CallbackData {
        CallbackData { custom_extension_stage_instance_id: id.into(), ..CallbackData::default() }
    }

    #[test]
    fn a_request_waits_at_approved_resumes_and_calls_again_at_granted() {
        let w = world(S::AssignmentRequestApproved);
        let submitted = ok(w.submit(user_add("alice"), "alice", t0()));
        check_state(&submitted, AccessPackageRequestState::PendingApproval, "PendingApproval");
        let approved =
            ok(submitted.request.decide(&approve("bob", None), &w.user("alice"), &w.directory, hours(1)));
        check_state(&approved, AccessPackageRequestState::PendingApproval, "WaitingForCallback");
        assert!(approved.effects.is_empty(), "nothing is delivered while waiting");
        let waiting = approved.request.waiting().cloned().unwrap_or_else(|| panic!("not waiting"));
        assert_eq!((waiting.stage, waiting.wait_until), (S::AssignmentRequestApproved, Some(hours(2))));
        assert_eq!(approved.timers, vec![Timer::new(hours(2), TimerKind::CallbackTimeout)]);
        assert!(logged(
            &approved,
            "request approved: custom extension `ext wait` called; waiting up to PT1H"
        ));

        // The call is written with the change, with Graph's payload and the callback path.
        let plan =
            DeliveryPlan { grants: vec![Grant::GroupMember { group_id: "g".into() }], unresolved: vec![] };
        let none = BTreeSet::new();
        let delivery = Delivery { package: &w.package, plan: &plan, missing: &none };
        let ids = || "e".to_owned();
        let stamp = events::Stamp { actor: &Actor::System, now: hours(1), ids: &ids };
        let realized =
            realize(Some((&submitted.request, 1)), approved.clone(), 1, &[], &delivery, &stamp, hours(1))
                .unwrap_or_else(|e| panic!("{e}"));
        let [callout] = realized.change.callouts.as_slice() else { panic!("one callout") };
        assert!(callout.wait);
        assert_eq!(callout.id, waiting.id);
        assert_eq!(callout.data["stage"], "assignmentRequestApproved");
        assert_eq!(
            callout.data["callbackUriPath"],
            format!("/identityGovernance/entitlementManagement/assignmentRequests/r1/resume")
        );
        assert_eq!(callout.data["callbackConfiguration"]["timeoutDuration"], "PT1H");
        assert_eq!(
            callout.body("em")["type"],
            "microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestApproved"
        );

        // An unknown stage instance, and a state at approved, are refused.
        check_refused(
            approved.request.resume(&callback("nope"), &w.user("alice"), &w.directory, hours(1)),
            ErrorCode::NotFound,
            "stage instance `nope`",
        );
        check_refused(
            approved.request.resume(
                &CallbackData { state: Some("denied".into()), ..callback(&waiting.id) },
                &w.user("alice"),
                &w.directory,
                hours(1),
            ),
            ErrorCode::ValidationFailed,
            "only a callback at `assignmentRequestCreated`",
        );
        let resumed = ok(approved.request.resume(
            &CallbackData {
                custom_extension_stage_instance_detail: Some("TAP 1234".into()),
                ..callback(&waiting.id)
            },
            &w.user("alice"),
            &w.directory,
            hours(1),
        ));
        check_state(&resumed, AccessPackageRequestState::Delivering, "Delivering");
        assert_eq!(
            resumed.request.custom_extension_callout_instances[0].status,
            CalloutStatus::CallbackReceived
        );
        assert_eq!(resumed.request.custom_extension_callout_instances[0].detail.as_deref(), Some("TAP 1234"));
        check_refused(
            resumed.request.resume(&callback(&waiting.id), &w.user("alice"), &w.directory, hours(1)),
            ErrorCode::Conflict,
            "not waiting",
        );
        // Delivered: the granted extension is called, without waiting.
        let realized = realize(Some((&approved.request, 2)), resumed, 1, &[], &delivery, &stamp, hours(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(realized.request.state, AccessPackageRequestState::Delivered);
        let [granted] = realized.change.callouts.as_slice() else { panic!("one callout") };
        assert_eq!((granted.stage, granted.wait), (S::AssignmentRequestGranted, false));
        assert_eq!(granted.data["assignment"]["id"], realized.change.assignments[0].0.id.as_str());
        let kinds: Vec<EventKind> = realized.events.iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&EventKind::CustomExtensionCallbackReceived), "{kinds:?}");
    }

    #[test]
    fn no_callback_in_time_or_a_failed_call_fails_the_request_and_reprocess_calls_again() {
        let w = world(S::AssignmentRequestApproved);
        let submitted = ok(w.submit(user_add("alice"), "alice", t0()));
        let approved =
            ok(submitted.request.decide(&approve("bob", None), &w.user("alice"), &w.directory, hours(1)));
        let timed_out =
            ok(approved.request.on_timer(&Timer::new(hours(2), TimerKind::CallbackTimeout), hours(2)));
        check_state(&timed_out, AccessPackageRequestState::DeliveryFailed, "DeliveryFailed");
        assert!(logged(&timed_out, "did not call back within PT1H"));
        assert!(timed_out.effects.is_empty());
        let id = approved.request.custom_extension_callout_instances[0].id.clone();
        let failed = approved.request.callout_failed(&id, "HTTP 500 after 3 retries", hours(1));
        check_state(&failed, AccessPackageRequestState::DeliveryFailed, "DeliveryFailed");
        assert!(logged(&failed, "could not be called: HTTP 500 after 3 retries"));
        assert!(!failed.request.callout_failed(&id, "again", hours(1)).changed, "once failed, stays failed");
        // Reprocess calls the extension again, with a new stage instance.
        let again = ok(failed.request.reprocess(hours(3)));
        check_state(&again, AccessPackageRequestState::PendingApproval, "WaitingForCallback");
        let second = again.request.waiting().unwrap_or_else(|| panic!("waits again"));
        assert_ne!(second.id, id);
    }

    #[test]
    fn at_request_created_the_callback_opens_approval_or_denies() {
        let w = world(S::AssignmentRequestCreated);
        let submitted = ok(w.submit(user_add("alice"), "alice", t0()));
        check_state(&submitted, AccessPackageRequestState::Submitted, "WaitingForCallback");
        assert!(submitted.request.current_stage().is_none(), "approval waits for the callback");
        let id = submitted.request.custom_extension_callout_instances[0].id.clone();
        let resumed = ok(submitted.request.resume(&callback(&id), &w.user("alice"), &w.directory, t0()));
        check_state(&resumed, AccessPackageRequestState::PendingApproval, "PendingApproval");
        assert_eq!(
            resumed.request.current_stage().map(|(_, s)| s.assigned_to.clone()),
            Some(vec!["bob".to_owned()])
        );
        let denied = ok(submitted.request.resume(
            &CallbackData { state: Some("Denied".into()), ..callback(&id) },
            &w.user("alice"),
            &w.directory,
            t0(),
        ));
        check_state(&denied, AccessPackageRequestState::Denied, "Denied");
        assert!(logged(&denied, "denied by custom extension `ext wait` at request created"));
    }
}
