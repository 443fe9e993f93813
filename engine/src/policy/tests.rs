use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::applicability::{
    ConnectedOrganizationFacts, ConnectedOrganizationState, SubjectFacts, applicable_policies,
    applicable_policy_requirements,
};
use super::*;
use crate::approval::DirectorySnapshot;
use crate::catalog::{AccessPackageCatalog, CatalogState};
use crate::directory::{ObjectRef, User, UserType};
use crate::id::AccessPackageId;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).single().unwrap_or_default()
}

fn user(id: &str) -> SubjectSet {
    SubjectSet::SingleUser { user_id: id.into(), description: None }
}

fn group(id: &str) -> SubjectSet {
    SubjectSet::GroupMembers { group_id: id.into(), description: None }
}

fn manager(level: i32) -> SubjectSet {
    SubjectSet::RequestorManager { manager_level: level }
}

fn stage(primary: Vec<SubjectSet>, fallback: Vec<SubjectSet>) -> AccessPackageApprovalStage {
    AccessPackageApprovalStage {
        primary_approvers: primary,
        fallback_primary_approvers: fallback,
        ..AccessPackageApprovalStage::default()
    }
}

/// A valid request policy: members of `g-sales` request for themselves, their manager approves
/// (fallback `u-fallback`), access lasts 30 days.
fn base() -> AccessPackageAssignmentPolicy {
    AccessPackageAssignmentPolicy {
        id: "p-sales".into(),
        access_package_id: "ap".into(),
        display_name: "Sales reps".into(),
        description: None,
        allowed_target_scope: AllowedTargetScope::SpecificDirectoryUsers,
        specific_allowed_targets: vec![group("g-sales")],
        automatic_request_settings: None,
        expiration: ExpirationPattern::after_duration(Duration::days(30)),
        requestor_settings: RequestorSettings {
            enable_targets_to_self_add_access: true,
            ..RequestorSettings::default()
        },
        request_approval_settings: ApprovalSettings {
            is_approval_required_for_add: true,
            stages: vec![stage(vec![manager(1)], vec![user("u-fallback")])],
            ..ApprovalSettings::default()
        },
        review_settings: None,
        notification_settings: None,
        questions: vec![],
        custom_extension_stage_settings: vec![],
        created_date_time: now(),
        modified_date_time: now(),
    }
}

/// Validates `base()` changed by `mutate`, expecting exactly these `(path, message fragment)` problems.
fn check(mutate: impl FnOnce(&mut AccessPackageAssignmentPolicy), expect: &[(&str, &str)]) {
    let mut policy = base();
    mutate(&mut policy);
    let got = policy.validate().err().map(|e| e.details).unwrap_or_default();
    let paths: Vec<&str> = got.iter().map(|p| p.path.as_str()).collect();
    let want: Vec<&str> = expect.iter().map(|(p, _)| *p).collect();
    assert_eq!(paths, want, "{got:#?}");
    for (problem, (_, fragment)) in got.iter().zip(expect) {
        assert!(problem.message.contains(fragment), "`{}` lacks `{fragment}`", problem.message);
    }
}

#[test]
fn the_base_policy_is_valid() {
    check(|_| {}, &[]);
}

#[test]
fn names_are_required_and_bounded() {
    check(|p| p.display_name = "  ".into(), &[("displayName", "must not be empty")]);
    check(|p| p.display_name = "x".repeat(257), &[("displayName", "longer than 256")]);
    check(
        |p| p.access_package_id = AccessPackageId::default(),
        &[("accessPackageId", "belongs to an access package")],
    );
}

#[test]
fn specific_scopes_need_targets_of_their_kind() {
    check(|p| p.specific_allowed_targets.clear(), &[("specificAllowedTargets", "needs at least one target")]);
    check(
        |p| {
            p.specific_allowed_targets.push(SubjectSet::SingleServicePrincipal {
                service_principal_id: "sp".into(),
                description: None,
            })
        },
        &[(
            "specificAllowedTargets[1]",
            "`singleServicePrincipal` is not a target of `specificDirectoryUsers`",
        )],
    );
    check(
        |p| {
            p.allowed_target_scope = AllowedTargetScope::SpecificDirectoryServicePrincipals;
            p.request_approval_settings = ApprovalSettings::default();
        },
        &[("specificAllowedTargets[0]", "use `singleServicePrincipal`")],
    );
    check(
        |p| p.specific_allowed_targets.push(user(" ")),
        &[("specificAllowedTargets[1].userId", "must not be empty")],
    );
    check(
        |p| p.specific_allowed_targets.push(group("G-SALES")),
        &[("specificAllowedTargets[1]", "already listed at [0]")],
    );
}

#[test]
fn non_specific_scopes_take_no_targets() {
    check(
        |p| p.allowed_target_scope = AllowedTargetScope::AllMemberUsers,
        &[("specificAllowedTargets", "`allMemberUsers` takes no `specificAllowedTargets`")],
    );
    check(
        |p| {
            p.allowed_target_scope = AllowedTargetScope::AllDirectoryUsers;
            p.specific_allowed_targets.clear();
        },
        &[],
    );
}

#[test]
fn one_policy_cannot_cover_internal_and_external_users() {
    let org = SubjectSet::ConnectedOrganizationMembers {
        connected_organization_id: "co".into(),
        description: None,
    };
    check(
        |p| p.specific_allowed_targets.push(org.clone()),
        &[("specificAllowedTargets[1]", "both users in the directory and users of connected organizations")],
    );
    check(
        |p| {
            p.allowed_target_scope = AllowedTargetScope::SpecificConnectedOrganizationUsers;
            p.specific_allowed_targets.insert(0, org.clone());
        },
        &[("specificAllowedTargets[1]", "create one policy for each")],
    );
}

#[test]
fn at_most_500_users_and_groups() {
    check(
        |p| p.specific_allowed_targets = (0..501).map(|i| user(&format!("u{i}"))).collect(),
        &[("specificAllowedTargets", "at most 500 users and groups; this one names 501")],
    );
    check(|p| p.specific_allowed_targets = (0..500).map(|i| user(&format!("u{i}"))).collect(), &[]);
}

#[test]
fn direct_assignment_only_policies_have_no_requestors_and_no_approval() {
    let direct = |p: &mut AccessPackageAssignmentPolicy| {
        p.allowed_target_scope = AllowedTargetScope::NotSpecified;
        p.specific_allowed_targets.clear();
        p.requestor_settings = RequestorSettings::default();
        p.request_approval_settings = ApprovalSettings::default();
    };
    check(direct, &[]);
    let mut policy = base();
    direct(&mut policy);
    assert!(policy.is_direct_assignment_only());
    assert!(!base().is_direct_assignment_only());
    check(
        |p| {
            direct(p);
            p.requestor_settings.enable_targets_to_self_add_access = true;
            p.requestor_settings.enable_on_behalf_requestors_to_remove_access = true;
            p.requestor_settings.on_behalf_requestors = vec![SubjectSet::TargetManager { manager_level: 1 }];
        },
        &[
            ("requestorSettings.enableTargetsToSelfAddAccess", "direct assignment only"),
            ("requestorSettings.enableOnBehalfRequestorsToRemoveAccess", "direct assignment only"),
        ],
    );
    check(
        |p| {
            direct(p);
            p.request_approval_settings = base().request_approval_settings;
        },
        &[("requestApprovalSettings", "has no approval")],
    );
}

#[test]
fn on_behalf_requestors_are_checked() {
    check(
        |p| p.requestor_settings.enable_on_behalf_requestors_to_add_access = true,
        &[("requestorSettings.onBehalfRequestors", "nobody may make them")],
    );
    check(
        |p| {
            p.requestor_settings.enable_on_behalf_requestors_to_add_access = true;
            p.requestor_settings.on_behalf_requestors = vec![
                SubjectSet::TargetManager { manager_level: 3 },
                manager(1),
                SubjectSet::TargetApplicationOwners,
            ];
        },
        &[
            ("requestorSettings.onBehalfRequestors[1]", "`requestorManager` cannot request on behalf"),
            ("requestorSettings.onBehalfRequestors[2]", "only for service principals"),
            ("requestorSettings.onBehalfRequestors[0].managerLevel", "not 3"),
        ],
    );
}

#[test]
fn approval_needs_one_to_three_stages_and_none_without_approval() {
    check(
        |p| p.request_approval_settings.stages.clear(),
        &[("requestApprovalSettings.stages", "1 to 3 stages; 0 given")],
    );
    check(
        |p| {
            p.request_approval_settings.stages =
                (0..4).map(|i| stage(vec![user(&format!("a{i}"))], vec![])).collect();
        },
        &[("requestApprovalSettings.stages", "1 to 3 stages; 4 given")],
    );
    check(
        |p| p.request_approval_settings.is_approval_required_for_add = false,
        &[("requestApprovalSettings.stages", "no approval is required")],
    );
    check(
        |p| {
            p.request_approval_settings.is_approval_required_for_add = false;
            p.request_approval_settings.is_approval_required_for_update = true;
        },
        &[],
    );
}

#[test]
fn a_manager_approver_needs_a_fallback_and_one_stage() {
    check(
        |p| p.request_approval_settings.stages[0].fallback_primary_approvers.clear(),
        &[("requestApprovalSettings.stages[0].fallbackPrimaryApprovers", "add a fallback approver")],
    );
    check(
        |p| {
            let second = stage(vec![manager(2)], vec![user("u-fallback")]);
            p.request_approval_settings.stages.push(second);
        },
        &[("requestApprovalSettings.stages[1]", "only one stage; stages[0] already uses `requestorManager`")],
    );
    check(
        |p| p.request_approval_settings.stages[0].primary_approvers = vec![manager(0)],
        &[("requestApprovalSettings.stages[0].primaryApprovers[0].managerLevel", "not 0")],
    );
}

#[test]
fn approvers_have_allowed_kinds() {
    check(
        |p| {
            let s = &mut p.request_approval_settings.stages[0];
            s.primary_approvers.push(SubjectSet::TargetManager { manager_level: 1 });
            s.fallback_primary_approvers.push(manager(1));
        },
        &[
            (
                "requestApprovalSettings.stages[0].primaryApprovers[1]",
                "`targetManager` cannot be one of the `primaryApprovers`",
            ),
            (
                "requestApprovalSettings.stages[0].fallbackPrimaryApprovers[1]",
                "use `singleUser` or `groupMembers`",
            ),
        ],
    );
    check(
        |p| p.request_approval_settings.stages[0].primary_approvers = vec![],
        &[("requestApprovalSettings.stages[0].primaryApprovers", "at least one primary approver")],
    );
    check(
        |p| p.request_approval_settings.stages[0].duration_before_automatic_denial = Duration::ZERO,
        &[("requestApprovalSettings.stages[0].durationBeforeAutomaticDenial", "`PT0S` would deny")],
    );
}

#[test]
fn sponsors_approve_only_for_connected_organizations() {
    check(
        |p| p.request_approval_settings.stages[0].primary_approvers = vec![SubjectSet::InternalSponsors],
        &[(
            "requestApprovalSettings.stages[0].primaryApprovers[0]",
            "only requests from connected organizations",
        )],
    );
    check(
        |p| {
            p.allowed_target_scope = AllowedTargetScope::AllConfiguredConnectedOrganizationUsers;
            p.specific_allowed_targets.clear();
            p.request_approval_settings.stages[0].primary_approvers =
                vec![SubjectSet::InternalSponsors, SubjectSet::ExternalSponsors];
        },
        &[],
    );
}

#[test]
fn escalation_needs_four_days_one_day_and_approvers() {
    let escalate = |p: &mut AccessPackageAssignmentPolicy| {
        let s = &mut p.request_approval_settings.stages[0];
        s.is_escalation_enabled = true;
        s.duration_before_automatic_denial = Duration::days(4);
        s.duration_before_escalation = Duration::days(1);
        s.escalation_approvers = vec![user("u-alt")];
    };
    check(escalate, &[]);
    check(
        |p| {
            escalate(p);
            p.request_approval_settings.stages[0].duration_before_automatic_denial = Duration::hours(95);
        },
        &[("requestApprovalSettings.stages[0].durationBeforeAutomaticDenial", "at least 4 days (`P4D`)")],
    );
    check(
        |p| {
            escalate(p);
            p.request_approval_settings.stages[0].duration_before_escalation = Duration::hours(23);
        },
        &[("requestApprovalSettings.stages[0].durationBeforeEscalation", "no earlier than 1 day")],
    );
    check(
        |p| {
            escalate(p);
            p.request_approval_settings.stages[0].duration_before_escalation = Duration::days(4);
        },
        &[("requestApprovalSettings.stages[0].durationBeforeEscalation", "comes too late")],
    );
    check(
        |p| {
            escalate(p);
            p.request_approval_settings.stages[0].escalation_approvers.clear();
        },
        &[("requestApprovalSettings.stages[0].escalationApprovers", "name the alternate approvers")],
    );
    check(
        |p| {
            escalate(p);
            p.request_approval_settings.stages[0].escalation_approvers = vec![manager(2)];
        },
        &[("requestApprovalSettings.stages[0].fallbackEscalationApprovers", "fallback escalation approver")],
    );
    check(
        |p| p.request_approval_settings.stages[0].escalation_approvers = vec![user("u-alt")],
        &[("requestApprovalSettings.stages[0].escalationApprovers", "escalation is disabled")],
    );
}

#[test]
fn expiration_patterns_are_complete_and_bounded() {
    let end = now();
    check(|p| p.expiration = ExpirationPattern::no_expiration(), &[]);
    check(|p| p.expiration = ExpirationPattern::after_date_time(end), &[]);
    check(
        |p| {
            p.expiration = ExpirationPattern {
                kind: ExpirationPatternType::AfterDateTime,
                end_date_time: None,
                duration: Some(Duration::days(1)),
            }
        },
        &[("expiration.endDateTime", "needs an `endDateTime`"), ("expiration.duration", "takes no duration")],
    );
    check(
        |p| {
            p.expiration = ExpirationPattern {
                kind: ExpirationPatternType::AfterDuration,
                end_date_time: Some(end),
                duration: None,
            }
        },
        &[
            ("expiration.duration", "needs a `duration`"),
            ("expiration.endDateTime", "takes no `endDateTime`"),
        ],
    );
    check(
        |p| p.expiration = ExpirationPattern::after_duration(Duration::minutes(59)),
        &[("expiration.duration", "at least 1 hour")],
    );
    check(|p| p.expiration = ExpirationPattern::after_duration(Duration::hours(1)), &[]);
    check(|p| p.expiration = ExpirationPattern::after_duration(Duration::days(3660)), &[]);
    check(
        |p| p.expiration = ExpirationPattern::after_duration(Duration::days(3661)),
        &[("expiration.duration", "at most 3660 days")],
    );
    check(
        |p| {
            p.expiration = ExpirationPattern {
                kind: ExpirationPatternType::NoExpiration,
                end_date_time: Some(end),
                duration: None,
            }
        },
        &[("expiration.endDateTime", "needs `type` `afterDateTime`")],
    );
}

#[test]
fn questions_are_validated_with_the_policy() {
    check(
        |p| {
            p.questions = vec![AccessPackageQuestion {
                id: "q".into(),
                text: "Cost center?".into(),
                localizations: vec![],
                is_required: true,
                is_answer_editable: false,
                sequence: 0,
                kind: QuestionKind::TextInput {
                    is_single_line_question: true,
                    regex_pattern: Some("(?=x)".into()),
                },
            }];
        },
        &[("questions[0].regexPattern", "look-around")],
    );
}

fn automatic(p: &mut AccessPackageAssignmentPolicy) {
    p.automatic_request_settings = Some(AutomaticRequestSettings {
        request_access_for_allowed_targets: true,
        remove_access_when_target_leaves_allowed_targets: true,
        grace_period_before_access_removal: Some(Duration::days(7)),
    });
    p.specific_allowed_targets = vec![SubjectSet::AttributeRuleMembers {
        membership_rule: "user.department -eq \"Sales\"".into(),
        description: None,
    }];
    p.requestor_settings = RequestorSettings::default();
    p.request_approval_settings = ApprovalSettings::default();
}

#[test]
fn automatic_policies_have_one_valid_rule_and_nothing_to_request() {
    check(automatic, &[]);
    check(
        |p| {
            automatic(p);
            p.specific_allowed_targets = vec![SubjectSet::AttributeRuleMembers {
                membership_rule: "user.departmnet -eq \"Sales\"".into(),
                description: None,
            }];
        },
        &[("specificAllowedTargets[0].membershipRule", "unknown property `user.departmnet`")],
    );
    check(
        |p| {
            automatic(p);
            p.specific_allowed_targets.push(group("g"));
        },
        &[("specificAllowedTargets", "exactly one target")],
    );
    check(
        |p| {
            automatic(p);
            p.allowed_target_scope = AllowedTargetScope::AllMemberUsers;
        },
        &[
            ("specificAllowedTargets", "takes no `specificAllowedTargets`"),
            ("allowedTargetScope", "`specificDirectoryUsers`, not `allMemberUsers`"),
        ],
    );
    check(
        |p| {
            automatic(p);
            p.request_approval_settings = base().request_approval_settings;
            p.requestor_settings.enable_targets_to_self_add_access = true;
            p.questions = base_question();
        },
        &[
            ("requestApprovalSettings", "needs no approval"),
            ("questions", "asks no questions"),
            ("requestorSettings", "nobody requests"),
        ],
    );
    check(
        |p| {
            p.specific_allowed_targets
                .push(SubjectSet::AttributeRuleMembers { membership_rule: "x".into(), description: None })
        },
        &[("specificAllowedTargets[1]", "only auto-assignment policies")],
    );
}

fn base_question() -> Vec<AccessPackageQuestion> {
    vec![AccessPackageQuestion {
        id: "q".into(),
        text: "Why?".into(),
        localizations: vec![],
        is_required: true,
        is_answer_editable: false,
        sequence: 0,
        kind: QuestionKind::TextInput { is_single_line_question: false, regex_pattern: None },
    }]
}

#[test]
fn reviews_are_stored_and_lightly_checked() {
    let review = ReviewSettings {
        is_enabled: true,
        schedule: None,
        primary_reviewers: vec![manager(1)],
        fallback_reviewers: vec![],
        is_self_review: false,
        expiration_behavior: AccessReviewExpirationBehavior::RemoveAccess,
        is_recommendation_enabled: true,
        is_reviewer_justification_required: true,
    };
    check(
        |p| p.review_settings = Some(review.clone()),
        &[
            ("reviewSettings.fallbackReviewers", "fallback reviewer"),
            ("reviewSettings.schedule", "give their schedule"),
        ],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = AccessPackageAssignmentPolicy {
        display_name: String::new(),
        specific_allowed_targets: vec![],
        ..base()
    }
    .validate()
    .err();
    assert_eq!(err.as_ref().map(|e| e.details.len()), Some(2));
    assert_eq!(err.and_then(|e| e.field).as_deref(), Some("displayName"));
}

#[test]
fn graph_json_creates_a_policy() {
    let mut body = json!({
        "displayName": "Sales reps",
        "description": "Members of Sales request for themselves",
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"@odata.type": "#microsoft.graph.groupMembers", "groupId": "g-sales", "description": "Sales"}],
        "expiration": {"endDateTime": null, "duration": "P365D", "type": "afterDuration"},
        "requestorSettings": {
            "enableTargetsToSelfAddAccess": true, "enableTargetsToSelfUpdateAccess": true,
            "enableTargetsToSelfRemoveAccess": true, "allowCustomAssignmentSchedule": true,
            "enableOnBehalfRequestorsToAddAccess": false, "enableOnBehalfRequestorsToUpdateAccess": false,
            "enableOnBehalfRequestorsToRemoveAccess": false, "onBehalfRequestors": []
        },
        "requestApprovalSettings": {
            "isApprovalRequiredForAdd": true, "isApprovalRequiredForUpdate": true,
            "isRequestorJustificationRequired": true,
            "stages": [{
                "durationBeforeAutomaticDenial": "P7D", "isApproverJustificationRequired": true,
                "isEscalationEnabled": true, "durationBeforeEscalation": "P2D",
                "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}],
                "fallbackPrimaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": "u-fallback"}],
                "escalationApprovers": [{"@odata.type": "#microsoft.graph.groupMembers", "groupId": "g-alt"}],
                "fallbackEscalationApprovers": []
            }]
        },
        "questions": [{
            "@odata.type": "#microsoft.graph.accessPackageMultipleChoiceQuestion",
            "isRequired": true, "sequence": 0, "text": "Region?",
            "isMultipleSelectionAllowed": false,
            "choices": [{"actualValue": "emea", "text": "EMEA", "localizations": [{"languageCode": "fr", "text": "EMEA"}]}]
        }],
        "accessPackage": {"id": "ap"}
    });
    normalize_graph_json(&mut body);
    assert_eq!(body["specificAllowedTargets"][0]["type"], "groupMembers");
    let input = policy_input_from_graph_json(body);
    assert!(input.is_ok(), "{input:?}");
    let created = input.and_then(|i| AccessPackageAssignmentPolicy::create("p".into(), i, now()));
    let policy = created.as_ref().ok();
    assert!(created.is_ok(), "{created:?}");
    assert_eq!(policy.map(|p| p.access_package_id.as_str()), Some("ap"));
    // Questions without an id get a stable one.
    let id = policy.map(|p| p.questions[0].id.clone()).unwrap_or_default();
    assert_eq!(id.len(), 36);
    let again =
        policy.cloned().map(|p| AccessPackageAssignmentPolicy::create("p".into(), to_input(&p), now()));
    assert_eq!(again.and_then(Result::ok).map(|p| p.questions[0].id.clone()), Some(id));
}

fn to_input(p: &AccessPackageAssignmentPolicy) -> PolicyInput {
    PolicyInput {
        access_package_id: p.access_package_id.clone(),
        display_name: p.display_name.clone(),
        description: p.description.clone(),
        allowed_target_scope: p.allowed_target_scope,
        specific_allowed_targets: p.specific_allowed_targets.clone(),
        automatic_request_settings: p.automatic_request_settings.clone(),
        expiration: p.expiration.clone(),
        requestor_settings: p.requestor_settings.clone(),
        request_approval_settings: p.request_approval_settings.clone(),
        review_settings: p.review_settings.clone(),
        notification_settings: p.notification_settings,
        questions: p
            .questions
            .iter()
            .map(|q| AccessPackageQuestion { id: String::new(), ..q.clone() })
            .collect(),
        custom_extension_stage_settings: p.custom_extension_stage_settings.clone(),
    }
}

#[test]
fn replace_keeps_identity_and_refuses_moving_packages() {
    let policy = base();
    let later = now() + chrono::TimeDelta::days(1);
    let mut input = to_input(&policy);
    input.display_name = "Renamed".into();
    let replaced = policy.replace(input.clone(), later).ok();
    assert_eq!(
        replaced.as_ref().map(|p| (p.id.as_str(), p.display_name.as_str())),
        Some(("p-sales", "Renamed"))
    );
    assert_eq!(replaced.map(|p| (p.created_date_time, p.modified_date_time)), Some((now(), later)));
    input.access_package_id = "other".into();
    assert_eq!(policy.replace(input, later).err().and_then(|e| e.field).as_deref(), Some("accessPackageId"));
}

#[test]
fn policies_serialize_with_graph_names() {
    let value = serde_json::to_value(base()).unwrap_or_default();
    assert_eq!(value["allowedTargetScope"], "specificDirectoryUsers");
    assert_eq!(
        value["expiration"],
        json!({"type": "afterDuration", "endDateTime": null, "duration": "P30D"})
    );
    assert_eq!(value["requestApprovalSettings"]["stages"][0]["durationBeforeAutomaticDenial"], "P14D");
    assert_eq!(
        value["requestApprovalSettings"]["stages"][0]["primaryApprovers"][0],
        json!({"type": "requestorManager", "managerLevel": 1})
    );
    assert_eq!(value["requestorSettings"]["enableTargetsToSelfAddAccess"], true);
    let back: Option<AccessPackageAssignmentPolicy> = serde_json::from_value(value).ok();
    assert_eq!(back, Some(base()));
}

// Applicability and priority.

fn person(id: &str, kind: UserType, manager: Option<&str>) -> User {
    User {
        id: id.into(),
        display_name: Some(id.to_uppercase()),
        user_type: Some(kind),
        manager: manager.map(|m| ObjectRef { id: m.into() }),
        ..User::default()
    }
}

fn open_policy(
    id: &str,
    scope: AllowedTargetScope,
    targets: Vec<SubjectSet>,
) -> AccessPackageAssignmentPolicy {
    AccessPackageAssignmentPolicy {
        id: id.into(),
        display_name: id.into(),
        allowed_target_scope: scope,
        specific_allowed_targets: targets,
        request_approval_settings: ApprovalSettings::default(),
        ..base()
    }
}

/// Which policies apply to `who` requesting for themselves, and the reasons of the others.
fn check_applicable(
    policies: &[AccessPackageAssignmentPolicy],
    who: &User,
    groups: &[&str],
    org: Option<ConnectedOrganizationFacts>,
    expect: &[&str],
    expect_ignored: &[(&str, &str)],
) {
    let groups: BTreeSet<String> = groups.iter().map(|g| (*g).to_owned()).collect();
    let facts = SubjectFacts { user: who, group_ids: &groups, connected_organization: org.as_ref() };
    let found =
        applicable_policies(policies, &facts, &facts, RequestAction::Add, &DirectorySnapshot::default());
    let ids: Vec<&str> = found.applicable.iter().map(|a| a.policy_id.as_str()).collect();
    assert_eq!(ids, expect, "{found:#?}");
    for (id, fragment) in expect_ignored {
        let note = found.not_applicable.iter().find(|n| n.policy_id == *id);
        assert!(note.is_some_and(|n| n.reason.contains(fragment)), "{id}: {note:?} lacks `{fragment}`");
    }
}

fn four_categories() -> Vec<AccessPackageAssignmentPolicy> {
    vec![
        open_policy("p4", AllowedTargetScope::AllExternalUsers, vec![]),
        open_policy("p3", AllowedTargetScope::AllDirectoryUsers, vec![]),
        open_policy("p2", AllowedTargetScope::AllMemberUsers, vec![]),
        open_policy("p1", AllowedTargetScope::SpecificDirectoryUsers, vec![group("g-sales")]),
    ]
}

#[test]
fn the_highest_priority_category_wins() {
    let alice = person("alice", UserType::Member, None);
    check_applicable(
        &four_categories(),
        &alice,
        &["g-sales"],
        None,
        &["p1"],
        &[
            ("p2", "ignored because a policy of higher priority (P1) applies"),
            ("p3", "(P3) is ignored"),
            ("p4", "not in the scope"),
        ],
    );
    check_applicable(
        &four_categories(),
        &alice,
        &[],
        None,
        &["p2"],
        &[("p1", "not in the scope"), ("p3", "(P2) applies")],
    );
    let guest = person("gus", UserType::Guest, None);
    check_applicable(
        &four_categories(),
        &guest,
        &[],
        None,
        &["p3"],
        &[("p2", "is a guest, and policy `p2` covers member users only")],
    );
    let external =
        ConnectedOrganizationFacts { id: "co".into(), state: ConnectedOrganizationState::Proposed };
    check_applicable(&four_categories()[..1], &guest, &[], Some(external), &["p4"], &[]);
}

#[test]
fn policies_of_one_category_all_apply_in_name_order() {
    let policies = vec![
        open_policy("b", AllowedTargetScope::SpecificDirectoryUsers, vec![user("alice")]),
        open_policy("a", AllowedTargetScope::SpecificDirectoryUsers, vec![group("g-sales")]),
    ];
    let alice = person("alice", UserType::Member, None);
    check_applicable(&policies, &alice, &["g-sales"], None, &["a", "b"], &[]);
}

#[test]
fn connected_organization_scopes_match_the_organization() {
    let guest = person("gus", UserType::Guest, None);
    let configured =
        ConnectedOrganizationFacts { id: "co".into(), state: ConnectedOrganizationState::Configured };
    let proposed =
        ConnectedOrganizationFacts { id: "co".into(), state: ConnectedOrganizationState::Proposed };
    let org = SubjectSet::ConnectedOrganizationMembers {
        connected_organization_id: "co".into(),
        description: None,
    };
    let specific =
        vec![open_policy("specific", AllowedTargetScope::SpecificConnectedOrganizationUsers, vec![org])];
    check_applicable(&specific, &guest, &[], Some(configured.clone()), &["specific"], &[]);
    let all_configured =
        vec![open_policy("configured", AllowedTargetScope::AllConfiguredConnectedOrganizationUsers, vec![])];
    check_applicable(&all_configured, &guest, &[], Some(configured), &["configured"], &[]);
    check_applicable(
        &all_configured,
        &guest,
        &[],
        Some(proposed),
        &[],
        &[("configured", "not in the scope")],
    );
}

#[test]
fn policies_that_nobody_requests_through_never_apply() {
    let alice = person("alice", UserType::Member, None);
    let mut auto = base();
    automatic(&mut auto);
    auto.id = "auto".into();
    let mut closed = open_policy("closed", AllowedTargetScope::AllMemberUsers, vec![]);
    closed.requestor_settings.accept_requests = false;
    let mut no_self = open_policy("no-self", AllowedTargetScope::AllMemberUsers, vec![]);
    no_self.requestor_settings.enable_targets_to_self_add_access = false;
    let direct = open_policy("direct", AllowedTargetScope::NotSpecified, vec![]);
    let sp = open_policy("sp", AllowedTargetScope::AllDirectoryServicePrincipals, vec![]);
    check_applicable(
        &[auto, closed, no_self, direct, sp],
        &alice,
        &[],
        None,
        &[],
        &[
            ("auto", "assigns automatically"),
            ("closed", "does not accept new requests"),
            ("no-self", "does not let users add access for themselves"),
            ("direct", "direct assignment by administrators only"),
            ("sp", "assigns `allDirectoryServicePrincipals`, not users"),
        ],
    );
}

#[test]
fn managers_request_on_behalf_of_their_reports() {
    let mut policy = open_policy("p", AllowedTargetScope::AllMemberUsers, vec![]);
    policy.requestor_settings.enable_on_behalf_requestors_to_add_access = true;
    policy.requestor_settings.on_behalf_requestors = vec![SubjectSet::TargetManager { manager_level: 2 }];
    let mut directory = DirectorySnapshot::default();
    let alice = person("alice", UserType::Member, Some("bob"));
    let bob = person("bob", UserType::Member, Some("carol"));
    let carol = person("carol", UserType::Member, None);
    for u in [&alice, &bob, &carol] {
        directory.add_user(u.clone());
    }
    let none = BTreeSet::new();
    let target = SubjectFacts::new(&alice, &none);
    let by = |policy: &AccessPackageAssignmentPolicy, u: &User| {
        super::applicability::evaluate(
            policy,
            &SubjectFacts::new(u, &none),
            &target,
            RequestAction::Add,
            &directory,
        )
    };
    assert!(
        by(&policy, &carol).is_ok_and(|a| a.reason.contains("`CAROL` is the level-2 manager of `ALICE`"))
    );
    assert!(by(&policy, &bob).is_err_and(|r| r.contains("not one of the on-behalf requestors")));
    policy.requestor_settings.enable_on_behalf_requestors_to_add_access = false;
    assert!(
        by(&policy, &carol).is_err_and(|r| r.contains("does not let anyone add access on behalf of others"))
    );
}

#[test]
fn requirements_list_each_applicable_policy() {
    let alice = person("alice", UserType::Member, None);
    let groups: BTreeSet<String> = ["g-sales".to_owned()].into();
    let me = SubjectFacts::new(&alice, &groups);
    let mut policy = base();
    policy.questions = base_question();
    policy.request_approval_settings.is_requestor_justification_required = true;
    policy.requestor_settings.allow_custom_assignment_schedule = true;
    let other = open_policy("p2", AllowedTargetScope::AllMemberUsers, vec![]);
    let catalog = AccessPackageCatalog::general(now());
    let directory = DirectorySnapshot::default();
    let found = applicable_policy_requirements(&catalog, [&policy, &other], &me, &directory);
    let value = serde_json::to_value(&found).unwrap_or_default();
    assert_eq!(value.as_array().map(Vec::len), Some(1));
    assert_eq!(value[0]["policyId"], "p-sales");
    assert_eq!(value[0]["policyDisplayName"], "Sales reps");
    assert_eq!(value[0]["isApprovalRequiredForAdd"], true);
    assert_eq!(value[0]["isApprovalRequiredForUpdate"], false);
    assert_eq!(value[0]["isRequestorJustificationRequired"], true);
    assert_eq!(value[0]["allowCustomAssignmentSchedule"], true);
    assert_eq!(value[0]["schedule"]["expiration"]["duration"], "P30D");
    assert_eq!(value[0]["questions"][0]["text"], "Why?");
    let unpublished = AccessPackageCatalog { state: CatalogState::Unpublished, ..catalog };
    assert!(applicable_policy_requirements(&unpublished, [&policy], &me, &directory).is_empty());
}
