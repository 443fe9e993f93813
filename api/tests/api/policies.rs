//! Assignment policies: their lifecycle through GraphQL (typed input and Graph JSON), every
//! documented validation rule refused with the path of the offending property, references to
//! users and groups that must exist, and what the signed-in user may request: packages listed
//! for them, hidden ones reachable by id, and Graph's priority among policies.
//!
//! A policy with assignments cannot be deleted, nor can its package: assignments do not exist
//! yet, so the store's unit tests pin that guard (`store::policies::tests`).

use serde_json::{Value, json};

use crate::support::{Api, TestServer, directory, pluck, text};

const FIELDS: &str = "id displayName description allowedTargetScope
    specificAllowedTargets { type userId groupId membershipRule managerLevel description }
    automaticRequestSettings { requestAccessForAllowedTargets removeAccessWhenTargetLeavesAllowedTargets
                               gracePeriodBeforeAccessRemoval }
    expiration { type endDateTime duration }
    requestorSettings { acceptRequests enableTargetsToSelfAddAccess enableTargetsToSelfUpdateAccess
                        enableTargetsToSelfRemoveAccess allowCustomAssignmentSchedule
                        enableOnBehalfRequestorsToAddAccess enableOnBehalfRequestorsToUpdateAccess
                        enableOnBehalfRequestorsToRemoveAccess onBehalfRequestors { type managerLevel } }
    requestApprovalSettings { isApprovalRequiredForAdd isApprovalRequiredForUpdate isRequestorJustificationRequired
      stages { durationBeforeAutomaticDenial isApproverJustificationRequired isEscalationEnabled
               durationBeforeEscalation approverInformationVisibility
               primaryApprovers { type userId managerLevel user { displayName } }
               fallbackPrimaryApprovers { type userId groupId group { displayName } }
               escalationApprovers { type userId } fallbackEscalationApprovers { type userId } } }
    reviewSettings { isEnabled }
    notificationSettings { isAssignmentNotificationDisabled }
    questions { type id text isRequired isAnswerEditable sequence isSingleLineQuestion regexPattern
                choices { actualValue text localizations { languageCode text } } isMultipleSelectionAllowed
                localizations { languageCode text } }
    accessPackage { id } catalog { id }";

fn create_query() -> String {
    format!(
        "mutation($input: CreateAssignmentPolicyInput!) {{
           createAssignmentPolicy(input: $input) {{ assignmentPolicy {{ {FIELDS} }} }} }}"
    )
}

fn update_query() -> String {
    format!(
        "mutation($input: UpdateAssignmentPolicyInput!) {{
           updateAssignmentPolicy(input: $input) {{ assignmentPolicy {{ {FIELDS} createdDateTime }} }} }}"
    )
}

const DELETE: &str = "mutation($id: ID!) { deleteAssignmentPolicy(input: {id: $id}) { deletedId } }";

const REQUIREMENTS: &str = "query($p: ID!) { getApplicablePolicyRequirements(accessPackageId: $p) {
    policyId policyDisplayName policyDescription isApprovalRequiredForAdd isApprovalRequiredForUpdate
    isRequestorJustificationRequired allowCustomAssignmentSchedule
    schedule { startDateTime expiration { type duration } }
    questions { id text isRequired } policy { id } } }";

const FOR_ME: &str = "{ accessPackagesForMe { displayName } }";

/// The `n`th GraphQL example (from 1) of the README's "Assignment policies" section, with the
/// demo's approver replaced by the fixture's Ada, so the README cannot drift from the schema.
fn readme_example(n: usize) -> String {
    let readme = include_str!("../../../README.md");
    let section = readme.split("\n## Assignment policies").nth(1).expect("the README has the section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let block = section.split("```graphql").nth(n).and_then(|b| b.split("```").next());
    block.expect("the section has the example").replace("00000000-0000-0000-0000-0000000000a2", "u-ada")
}

/// A valid request policy: members of Sales request for themselves, their manager approves
/// (Ada when they have none), one required question, access for 30 days.
fn base_policy() -> Value {
    json!({
        "displayName": "Sales reps",
        "description": "For the sales team",
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "groupMembers", "groupId": "g-sales"}],
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [manager_stage()]},
        "questions": [{"type": "accessPackageTextInputQuestion", "text": "Cost center?", "isRequired": true,
                       "regexPattern": "^[0-9]{4}$"}],
        "expiration": {"type": "afterDuration", "duration": "P30D"}
    })
}

fn manager_stage() -> Value {
    json!({"primaryApprovers": [{"type": "requestorManager", "managerLevel": 1}],
           "fallbackPrimaryApprovers": [{"type": "singleUser", "userId": "u-ada"}]})
}

fn ada_stage() -> Value {
    json!({"primaryApprovers": [{"type": "singleUser", "userId": "u-ada"}]})
}

/// An auto-assignment policy: Sales get the package while their department is Sales.
fn automatic_policy() -> Value {
    json!({
        "displayName": "Sales automatically",
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "attributeRuleMembers", "membershipRule": "user.department -eq \"Sales\""}],
        "automaticRequestSettings": {"requestAccessForAllowedTargets": true,
                                     "removeAccessWhenTargetLeavesAllowedTargets": true,
                                     "gracePeriodBeforeAccessRemoval": "P7D"}
    })
}

/// JSON merge patch (RFC 7386): objects merge, `null` removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn patched(patch: &Value) -> Value {
    let mut policy = base_policy();
    merge(&mut policy, patch);
    policy
}

/// Creates a policy on `package` and returns it.
async fn create(api: &Api, package: &str, policy: Value) -> Value {
    let input = json!({ "accessPackageId": package, "policy": policy });
    api.data(&create_query(), json!({ "input": input })).await["createAssignmentPolicy"]["assignmentPolicy"]
        .clone()
}

/// Creates `base_policy()` changed by `patch` and expects it refused with `code`, the first
/// problem's path in `extensions.field`, and exactly these `(path, message fragment)` problems.
async fn check(api: &Api, package: &str, patch: Value, code: &str, expect: &[(&str, &str)]) {
    let input = json!({ "accessPackageId": package, "policy": patched(&patch) });
    let refusal =
        api.refused(&create_query(), json!({ "input": input }), code, expect.first().map(|(p, _)| *p)).await;
    let problems: Vec<&str> = refusal.problems.iter().map(|(p, _)| p.as_str()).collect();
    let want: Vec<&str> = expect.iter().map(|(p, _)| *p).collect();
    assert_eq!(problems, want, "{patch}: {refusal:#?}");
    for ((_, message), (_, fragment)) in refusal.problems.iter().zip(expect) {
        assert!(message.contains(fragment), "{patch}: `{message}` lacks `{fragment}`");
    }
}

#[tokio::test]
async fn policies_are_created_read_replaced_and_deleted() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let package = server.create_package(&catalog, "Sales tools").await;

    let policy = create(&server, &package, base_policy()).await;
    let id = text(&policy["id"]);
    assert!(id.starts_with("AccessPackageAssignmentPolicy:"), "{id}");
    let question_id = text(&policy["questions"][0]["id"]);
    assert!(!question_id.is_empty(), "questions get ids");
    assert_eq!(
        policy,
        json!({
            "id": id, "displayName": "Sales reps", "description": "For the sales team",
            "allowedTargetScope": "specificDirectoryUsers",
            "specificAllowedTargets": [{"type": "groupMembers", "userId": null, "groupId": "g-sales",
                                        "membershipRule": null, "managerLevel": null, "description": null}],
            "automaticRequestSettings": null,
            "expiration": {"type": "afterDuration", "endDateTime": null, "duration": "P30D"},
            "requestorSettings": {"acceptRequests": true, "enableTargetsToSelfAddAccess": true,
                                  "enableTargetsToSelfUpdateAccess": false,
                                  "enableTargetsToSelfRemoveAccess": false,
                                  "allowCustomAssignmentSchedule": false,
                                  "enableOnBehalfRequestorsToAddAccess": false,
                                  "enableOnBehalfRequestorsToUpdateAccess": false,
                                  "enableOnBehalfRequestorsToRemoveAccess": false, "onBehalfRequestors": []},
            "requestApprovalSettings": {
                "isApprovalRequiredForAdd": true, "isApprovalRequiredForUpdate": false,
                "isRequestorJustificationRequired": false,
                "stages": [{"durationBeforeAutomaticDenial": "P14D", "isApproverJustificationRequired": false,
                            "isEscalationEnabled": false,
                            "durationBeforeEscalation": "PT0S", "approverInformationVisibility": "default",
                            "primaryApprovers": [{"type": "requestorManager", "userId": null, "managerLevel": 1,
                                                  "user": null}],
                            "fallbackPrimaryApprovers": [{"type": "singleUser", "userId": "u-ada", "groupId": null,
                                                          "group": null}],
                            "escalationApprovers": [], "fallbackEscalationApprovers": []}]},
            "reviewSettings": null,
            "notificationSettings": null,
            "questions": [{"type": "accessPackageTextInputQuestion", "id": question_id, "text": "Cost center?",
                           "isRequired": true, "isAnswerEditable": false, "sequence": 0,
                           "isSingleLineQuestion": false, "regexPattern": "^[0-9]{4}$", "choices": null,
                           "isMultipleSelectionAllowed": null, "localizations": []}],
            "accessPackage": {"id": package}, "catalog": {"id": catalog}
        })
    );

    let read = server
        .data(
            "query($id: ID!, $p: ID!, $c: ID!) {
               node(id: $id) { ... on AccessPackageAssignmentPolicy { displayName } }
               assignmentPolicy(id: $id) { requestApprovalSettings { stages {
                 fallbackPrimaryApprovers { user { displayName } } } } }
               accessPackage(id: $p) { assignmentPolicies { id } }
               byPackage: assignmentPolicies(filter: {accessPackageId: $p}) { totalCount }
               byCatalog: assignmentPolicies(filter: {catalogId: $c}) { totalCount nodes { id } } }",
            json!({ "id": id, "p": package, "c": catalog }),
        )
        .await;
    assert_eq!(read["node"]["displayName"], "Sales reps");
    assert_eq!(
        read["assignmentPolicy"]["requestApprovalSettings"]["stages"][0]["fallbackPrimaryApprovers"][0]["user"],
        json!({"displayName": "Ada Lovelace"})
    );
    assert_eq!(read["accessPackage"]["assignmentPolicies"], json!([{"id": id}]));
    assert_eq!(read["byPackage"]["totalCount"], 1);
    assert_eq!(read["byCatalog"], json!({"totalCount": 1, "nodes": [{"id": id}]}));

    // PUT: what the new body leaves out returns to its default.
    let body = json!({
        "displayName": "Sales reps (no approval)",
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "singleUser", "userId": "u-bob"}],
        "requestorSettings": {"enableTargetsToSelfAddAccess": true, "allowCustomAssignmentSchedule": true},
        "questions": [{"type": "accessPackageMultipleChoiceQuestion", "text": "Region?",
                       "choices": [{"actualValue": "emea", "text": "EMEA",
                                    "localizations": [{"languageCode": "fr", "text": "EMEA (fr)"}]}],
                       "localizations": [{"languageCode": "fr", "text": "Région ?"}]}]
    });
    let updated = server.data(&update_query(), json!({ "input": { "id": id, "policy": body } })).await
        ["updateAssignmentPolicy"]["assignmentPolicy"]
        .clone();
    assert_eq!(updated["displayName"], "Sales reps (no approval)");
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["requestApprovalSettings"]["stages"], json!([]));
    assert_eq!(updated["expiration"]["type"], "notSpecified");
    assert_eq!(updated["requestorSettings"]["allowCustomAssignmentSchedule"], true);
    assert_eq!(
        (
            &updated["questions"][0]["type"],
            &updated["questions"][0]["choices"][0]["localizations"][0]["text"]
        ),
        (&json!("accessPackageMultipleChoiceQuestion"), &json!("EMEA (fr)"))
    );
    assert_eq!(updated["accessPackage"]["id"], package, "a policy stays with its package");

    let events = server
        .data(
            "query($p: ID!) { auditEvents(filter: {kind: \"assignmentPolicy.\", accessPackageId: $p}) {
               nodes { kind subjectType subjectId catalogId } } }",
            json!({ "p": package }),
        )
        .await;
    assert_eq!(
        pluck(&events["auditEvents"]["nodes"], "kind"),
        ["assignmentPolicy.created", "assignmentPolicy.updated"]
    );
    assert_eq!(events["auditEvents"]["nodes"][0]["subjectType"], "AccessPackageAssignmentPolicy");

    assert_eq!(server.data(DELETE, json!({ "id": id })).await["deleteAssignmentPolicy"]["deletedId"], id);
    assert_eq!(
        server.data("query($id: ID!) { assignmentPolicy(id: $id) { id } }", json!({ "id": id })).await["assignmentPolicy"],
        Value::Null
    );
    server.refused(DELETE, json!({ "id": id }), "NOT_FOUND", Some("id")).await;
    server
        .refused(
            &update_query(),
            json!({ "input": { "id": id, "policy": base_policy() } }),
            "NOT_FOUND",
            Some("id"),
        )
        .await;
    server
        .refused(
            &create_query(),
            json!({ "input": { "accessPackageId": "AccessPackage:ghost", "policy": base_policy() } }),
            "NOT_FOUND",
            Some("accessPackageId"),
        )
        .await;
    server.refused(DELETE, json!({ "id": package }), "VALIDATION_FAILED", Some("id")).await;
}

#[tokio::test]
async fn the_readme_example_creates_a_policy() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let package = server.create_package(&catalog, "Sales tools").await;
    let data = server.data(&readme_example(1), json!({ "package": package })).await;
    let policy = &data["createAssignmentPolicy"]["assignmentPolicy"];
    assert_eq!(policy["allowedTargetScope"], "allMemberUsers");
    assert_eq!(policy["expiration"], json!({"type": "afterDuration", "duration": "P30D"}));
    assert_eq!(
        policy["requestApprovalSettings"]["stages"][0]["primaryApprovers"][0],
        json!({"type": "singleUser", "userId": "u-ada", "user": {"displayName": "Ada Lovelace"}})
    );
    assert_eq!(policy["questions"][0]["isRequired"], true);
}

#[tokio::test]
async fn graph_json_bodies_are_accepted_as_graph_writes_them() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let package = server.create_package(&catalog, "Sales tools").await;
    let bare_package = package.trim_start_matches("AccessPackage:").to_owned();
    // Graph's example body, with this directory's ids.
    let graph = json!({
        "displayName": "Sales department users",
        "description": "All users from sales department",
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"@odata.type": "#microsoft.graph.groupMembers", "groupId": "g-sales",
                                    "description": "Sales Team"}],
        "expiration": {"type": "afterDuration", "duration": "P365D"},
        "requestorSettings": {"enableTargetsToSelfAddAccess": true, "enableTargetsToSelfUpdateAccess": true,
                              "enableTargetsToSelfRemoveAccess": true,
                              "enableOnBehalfRequestorsToAddAccess": true,
                              "onBehalfRequestors": [{"@odata.type": "#microsoft.graph.targetManager",
                                                      "managerLevel": 1}]},
        "requestApprovalSettings": {
            "isApprovalRequiredForAdd": true, "isApprovalRequiredForUpdate": true,
            "stages": [{"durationBeforeAutomaticDenial": "P2D",
                        "isApproverJustificationRequired": false, "isEscalationEnabled": false,
                        "durationBeforeEscalation": "PT0S",
                        "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}],
                        "fallbackPrimaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": "u-ada"}],
                        "escalationApprovers": [], "fallbackEscalationApprovers": []}]},
        "questions": [{"@odata.type": "#microsoft.graph.accessPackageMultipleChoiceQuestion",
                       "text": "Region?", "isRequired": true, "sequence": 1,
                       "choices": [{"actualValue": "emea", "text": "EMEA"}, {"actualValue": "amer", "text": "AMER"}],
                       "allowsMultipleSelection": true}],
        "accessPackage": {"id": bare_package}
    });
    let input = json!({ "accessPackageId": package, "graphJson": graph });
    let policy = server.data(&create_query(), json!({ "input": input })).await["createAssignmentPolicy"]
        ["assignmentPolicy"]
        .clone();
    assert_eq!(policy["specificAllowedTargets"][0]["description"], "Sales Team");
    assert_eq!(
        policy["requestorSettings"]["onBehalfRequestors"],
        json!([{"type": "targetManager", "managerLevel": 1}])
    );
    assert_eq!(policy["requestApprovalSettings"]["stages"][0]["durationBeforeAutomaticDenial"], "P2D");
    assert_eq!(policy["questions"][0]["isMultipleSelectionAllowed"], true);
    assert_eq!(pluck(&policy["questions"][0]["choices"], "actualValue"), ["emea", "amer"]);
    let id = text(&policy["id"]);

    // The typed policy read back can be sent back as it is.
    let mut read_back = policy.clone();
    for key in ["id", "accessPackage", "catalog"] {
        read_back.as_object_mut().unwrap().remove(key);
    }
    strip_resolved(&mut read_back);
    let replaced = server.data(&update_query(), json!({ "input": { "id": id, "policy": read_back } })).await;
    let mut again = replaced["updateAssignmentPolicy"]["assignmentPolicy"].clone();
    again.as_object_mut().unwrap().remove("createdDateTime");
    assert_eq!(again, policy, "a policy read back and sent back is unchanged");

    let refusals = [
        (json!({ "accessPackageId": package }), "policy"),
        (json!({ "accessPackageId": package, "policy": base_policy(), "graphJson": {} }), "graphJson"),
        (json!({ "accessPackageId": package, "graphJson": [] }), "graphJson"),
        (json!({ "accessPackageId": package, "graphJson": {"displayName": 7} }), "graphJson"),
        (
            json!({ "accessPackageId": package, "graphJson": {"displayName": "x", "accessPackage": {"id": "other"}} }),
            "graphJson.accessPackage",
        ),
    ];
    for (input, field) in refusals {
        server.refused(&create_query(), json!({ "input": input }), "VALIDATION_FAILED", Some(field)).await;
    }
    let elsewhere = json!({"displayName": "x", "accessPackageId": "elsewhere"});
    server
        .refused(
            &update_query(),
            json!({ "input": { "id": id, "graphJson": elsewhere } }),
            "VALIDATION_FAILED",
            Some("accessPackageId"),
        )
        .await;
}

/// Removes the navigation fields (`user`, `group`) that output has and input does not.
fn strip_resolved(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("user");
            map.remove("group");
            map.values_mut().for_each(strip_resolved);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_resolved),
        _ => {}
    }
}

#[tokio::test]
async fn every_documented_rule_is_refused_with_its_path() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let package = server.create_package(&catalog, "Sales tools").await;
    let invalid = "VALIDATION_FAILED";
    let approval = |stages: Value| json!({"requestApprovalSettings": {"stages": stages}});
    let question = |q: Value| json!({"questions": [q]});
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (json!({"displayName": "  "}), vec![("displayName", "must not be empty")]),
        (approval(json!([])), vec![("requestApprovalSettings.stages", "1 to 3 stages; 0 given")]),
        (
            approval(json!([ada_stage(), ada_stage(), ada_stage(), ada_stage()])),
            vec![("requestApprovalSettings.stages", "1 to 3 stages; 4 given")],
        ),
        (
            approval(json!([{"primaryApprovers": [{"type": "requestorManager"}]}])),
            vec![("requestApprovalSettings.stages[0].fallbackPrimaryApprovers", "add a fallback approver")],
        ),
        (
            approval(json!([{"primaryApprovers": [{"type": "singleUser", "userId": "u-ada"}],
                             "isEscalationEnabled": true, "durationBeforeAutomaticDenial": "P3D",
                             "durationBeforeEscalation": "P1D",
                             "escalationApprovers": [{"type": "singleUser", "userId": "u-bob"}]}])),
            vec![("requestApprovalSettings.stages[0].durationBeforeAutomaticDenial", "at least 4 days")],
        ),
        (
            approval(json!([{"primaryApprovers": [{"type": "requestorManager", "managerLevel": 3}],
                             "fallbackPrimaryApprovers": [{"type": "singleUser", "userId": "u-ada"}]}])),
            vec![(
                "requestApprovalSettings.stages[0].primaryApprovers[0].managerLevel",
                "1 (the manager) or 2",
            )],
        ),
        (
            approval(json!([manager_stage(), manager_stage()])),
            vec![("requestApprovalSettings.stages[1]", "manager may approve in only one stage")],
        ),
        (
            approval(json!([{"primaryApprovers": [{"type": "internalSponsors"}],
                             "fallbackPrimaryApprovers": [{"type": "singleUser", "userId": "u-ada"}]}])),
            vec![(
                "requestApprovalSettings.stages[0].primaryApprovers[0]",
                "only requests from connected organizations",
            )],
        ),
        (
            json!({"specificAllowedTargets": []}),
            vec![("specificAllowedTargets", "needs at least one target")],
        ),
        (
            json!({"specificAllowedTargets": [{"type": "groupMembers", "groupId": "g-sales", "userId": "u-bob"}]}),
            vec![("specificAllowedTargets[0].userId", "`groupMembers` takes no `userId`")],
        ),
        (
            json!({"allowedTargetScope": "notSpecified", "specificAllowedTargets": [],
                   "requestApprovalSettings": {"isApprovalRequiredForAdd": false, "stages": []}}),
            vec![("requestorSettings.enableTargetsToSelfAddAccess", "direct assignment only")],
        ),
        (
            question(json!({"type": "accessPackageTextInputQuestion", "text": "Code?", "regexPattern": "("})),
            vec![("questions[0].regexPattern", "")],
        ),
        (
            question(json!({"type": "accessPackageMultipleChoiceQuestion", "text": "Site?", "choices": []})),
            vec![("questions[0].choices", "")],
        ),
        (
            question(
                json!({"type": "accessPackageMultipleChoiceQuestion", "text": "Site?", "regexPattern": "x",
                            "choices": [{"actualValue": "emea", "text": "EMEA"}]}),
            ),
            vec![("questions[0].regexPattern", "takes no `regexPattern`")],
        ),
        (json!({"expiration": {"duration": null}}), vec![("expiration.duration", "needs a `duration`")]),
        (json!({"expiration": {"duration": "P3661D"}}), vec![("expiration.duration", "at most 3660 days")]),
        (json!({"expiration": {"duration": "P1M"}}), vec![("expiration.duration", "months or years")]),
        // Every problem is reported at once.
        (
            json!({"displayName": "", "expiration": {"duration": "PT30M"},
                   "requestApprovalSettings": {"stages": []}}),
            vec![
                ("displayName", "must not be empty"),
                ("requestApprovalSettings.stages", "0 given"),
                ("expiration.duration", "at least 1 hour"),
            ],
        ),
    ];
    for (patch, expect) in cases {
        check(&server, &package, patch, invalid, &expect).await;
    }

    // Users and groups a policy names must exist.
    let not_found = [
        (
            approval(json!([{"primaryApprovers": [{"type": "requestorManager"}],
                             "fallbackPrimaryApprovers": [{"type": "singleUser", "userId": "u-ghost"}]}])),
            vec![("requestApprovalSettings.stages[0].fallbackPrimaryApprovers[0].userId", "user `u-ghost`")],
        ),
        (
            json!({"specificAllowedTargets": [{"type": "groupMembers", "groupId": "g-ghost"},
                                              {"type": "singleUser", "userId": "u-ghost"}]}),
            vec![
                ("specificAllowedTargets[0].groupId", "group `g-ghost` does not exist"),
                ("specificAllowedTargets[1].userId", "user `u-ghost` does not exist"),
            ],
        ),
    ];
    for (patch, expect) in not_found {
        check(&server, &package, patch, "NOT_FOUND", &expect).await;
    }

    // One auto-assignment policy per package.
    let automatic = create(&server, &package, automatic_policy()).await;
    assert_eq!(
        automatic["automaticRequestSettings"],
        json!({"requestAccessForAllowedTargets": true, "removeAccessWhenTargetLeavesAllowedTargets": true,
               "gracePeriodBeforeAccessRemoval": "P7D"})
    );
    let input = json!({ "accessPackageId": package, "policy": automatic_policy() });
    let refusal = server
        .refused(&create_query(), json!({ "input": input }), invalid, Some("automaticRequestSettings"))
        .await;
    assert!(refusal.message.contains("one per package"), "{}", refusal.message);
    let other = server.create_package(&catalog, "Other").await;
    create(&server, &other, automatic_policy()).await;

    let listed = server
        .data(
            "query($p: ID!) { accessPackage(id: $p) { assignmentPolicies { displayName } } }",
            json!({"p": package}),
        )
        .await;
    assert_eq!(
        pluck(&listed["accessPackage"]["assignmentPolicies"], "displayName"),
        ["Sales automatically"],
        "refused policies leave nothing behind"
    );
}

#[tokio::test]
async fn a_direct_assignment_only_policy_is_accepted() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let package = server.create_package(&catalog, "Sales tools").await;
    let policy = create(&server, &package, json!({"displayName": "Administrators assign"})).await;
    assert_eq!(policy["allowedTargetScope"], "notSpecified");
    assert_eq!(policy["requestorSettings"]["enableTargetsToSelfAddAccess"], false);
    assert_eq!(policy["requestApprovalSettings"]["isApprovalRequiredForAdd"], false);
    assert_eq!(policy["expiration"]["type"], "notSpecified");
}

#[tokio::test]
async fn deleting_a_package_deletes_its_policies() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let package = server.create_package(&catalog, "Sales tools").await;
    let policy = text(&create(&server, &package, base_policy()).await["id"]);
    server
        .data(
            "mutation($id: ID!) { deleteAccessPackage(input: {id: $id}) { deletedId } }",
            json!({"id": package}),
        )
        .await;
    let gone = server
        .data(
            "query($id: ID!, $c: ID!) { assignmentPolicy(id: $id) { id }
               assignmentPolicies(filter: {catalogId: $c}) { totalCount } }",
            json!({ "id": policy, "c": catalog }),
        )
        .await;
    assert_eq!(gone, json!({"assignmentPolicy": null, "assignmentPolicies": {"totalCount": 0}}));
    // The catalog, now empty, can go too: the package count on it was kept right.
    server
        .data("mutation($id: ID!) { deleteCatalog(input: {id: $id}) { deletedId } }", json!({"id": catalog}))
        .await;
}

/// The fixture directory, where Ada is a Global Administrator, with a guest who can sign in.
fn directory_with_roles() -> Value {
    let mut d = directory();
    d["users"].as_array_mut().unwrap().push(json!({
        "id": "u-gus", "displayName": "Gus Guest", "userType": "Guest",
        "userPrincipalName": "gus_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    }));
    for role in d["directoryRoles"].as_array_mut().unwrap() {
        if role["id"] == "role-ga" {
            role["members"] = json!([{"id": "u-ada"}]);
        }
    }
    d
}

/// Names of the packages a user may request.
async fn for_me(api: &Api) -> Vec<String> {
    pluck(&api.data(FOR_ME, json!({})).await["accessPackagesForMe"], "displayName")
}

/// The display names of the policies through which a user may request a package.
async fn requirements(api: &Api, package: &str) -> Vec<String> {
    pluck(
        &api.data(REQUIREMENTS, json!({ "p": package })).await["getApplicablePolicyRequirements"],
        "policyDisplayName",
    )
}

#[tokio::test]
async fn only_administrators_manage_policies() {
    let server = TestServer::with_auth(directory_with_roles()).await;
    let ada = server.as_user("u-ada");
    let bob = server.as_user("u-bob");
    let catalog = ada.create_catalog("Sales").await;
    let package = ada.create_package(&catalog, "Sales tools").await;
    let input = json!({ "accessPackageId": package, "policy": base_policy() });
    bob.refused(&create_query(), json!({ "input": input.clone() }), "FORBIDDEN", None).await;
    let automatic = json!({ "accessPackageId": package, "policy": automatic_policy() });
    bob.refused(&create_query(), json!({ "input": automatic }), "FORBIDDEN", None).await;
    let id = text(&create(&ada, &package, base_policy()).await["id"]);
    bob.refused(
        &update_query(),
        json!({ "input": { "id": id, "policy": base_policy() } }),
        "FORBIDDEN",
        None,
    )
    .await;
    bob.refused(DELETE, json!({ "id": id }), "FORBIDDEN", None).await;
    ada.data(DELETE, json!({ "id": id })).await;
}

#[tokio::test]
async fn requestable_packages_follow_scope_priority_and_visibility() {
    let server = TestServer::with_auth(directory_with_roles()).await;
    let (ada, bob, dan, gus) =
        (server.as_user("u-ada"), server.as_user("u-bob"), server.as_user("u-dan"), server.as_user("u-gus"));
    let catalog = ada.create_catalog("Sales").await;
    let tools = ada.create_package(&catalog, "Sales tools").await;

    // P1 only: Bob (in Sales) may request, Dan (not in Sales) may not.
    create(&ada, &tools, base_policy()).await;
    assert_eq!(for_me(&bob).await, ["Sales tools"]);
    assert_eq!(for_me(&dan).await, Vec::<String>::new(), "not in scope: nothing to request");
    assert_eq!(requirements(&dan, &tools).await, Vec::<String>::new());
    let bobs = bob.data(REQUIREMENTS, json!({ "p": tools })).await["getApplicablePolicyRequirements"].clone();
    assert_eq!(
        bobs[0],
        json!({"policyId": bobs[0]["policy"]["id"], "policyDisplayName": "Sales reps",
               "policyDescription": "For the sales team", "isApprovalRequiredForAdd": true,
               "isApprovalRequiredForUpdate": false, "isRequestorJustificationRequired": false,
               "allowCustomAssignmentSchedule": false,
               "schedule": {"startDateTime": null, "expiration": {"type": "afterDuration", "duration": "P30D"}},
               "questions": [{"id": bobs[0]["questions"][0]["id"], "text": "Cost center?", "isRequired": true}],
               "policy": {"id": bobs[0]["policyId"]}})
    );

    // A P2 policy for all members: Dan now may request through it; for Bob the P1 policy
    // (specific users and groups) outranks it.
    let all_members = json!({"displayName": "Any member", "allowedTargetScope": "allMemberUsers",
                             "requestorSettings": {"enableTargetsToSelfAddAccess": true}});
    create(&ada, &tools, all_members.clone()).await;
    assert_eq!(requirements(&bob, &tools).await, ["Sales reps"]);
    assert_eq!(requirements(&dan, &tools).await, ["Any member"]);
    assert_eq!(for_me(&dan).await, ["Sales tools"]);
    let readme = dan.data(&readme_example(2), json!({ "package": tools })).await;
    assert_eq!(readme["getApplicablePolicyRequirements"][0]["policyDisplayName"], "Any member");

    // Guests: all-members policies exclude them, all-users policies include them.
    let welcome = ada.create_package(&catalog, "Guest welcome").await;
    let all_users = json!({"displayName": "Anyone", "allowedTargetScope": "allDirectoryUsers",
                           "requestorSettings": {"enableTargetsToSelfAddAccess": true}});
    create(&ada, &welcome, all_users).await;
    assert_eq!(for_me(&gus).await, ["Guest welcome"]);
    assert_eq!(requirements(&gus, &tools).await, Vec::<String>::new());
    assert_eq!(for_me(&dan).await, ["Guest welcome", "Sales tools"]);

    // Hidden packages are not listed but answer by id (the direct link).
    let secret = ada.create_package(&catalog, "Secret project").await;
    ada.data(
        "mutation($id: ID!) { updateAccessPackage(input: {id: $id, isHidden: true}) { accessPackage { id } } }",
        json!({ "id": secret }),
    )
    .await;
    create(&ada, &secret, all_members.clone()).await;
    assert_eq!(for_me(&dan).await, ["Guest welcome", "Sales tools"]);
    assert_eq!(requirements(&dan, &secret).await, ["Any member"]);

    // Nobody requests through direct-assignment-only, auto-assignment or closed policies.
    let direct = ada.create_package(&catalog, "Direct only").await;
    create(&ada, &direct, json!({"displayName": "Administrators assign"})).await;
    let automatic = ada.create_package(&catalog, "Automatic").await;
    create(&ada, &automatic, automatic_policy()).await;
    let closed = ada.create_package(&catalog, "Closed").await;
    let mut closed_policy = all_members.clone();
    closed_policy["requestorSettings"]["acceptRequests"] = json!(false);
    create(&ada, &closed, closed_policy).await;
    assert_eq!(for_me(&bob).await, ["Guest welcome", "Sales tools"]);

    // Packages of an unpublished catalog cannot be requested.
    ada.data(
        "mutation($id: ID!) { updateCatalog(input: {id: $id, state: unpublished}) { catalog { id } } }",
        json!({ "id": catalog }),
    )
    .await;
    assert_eq!(for_me(&bob).await, Vec::<String>::new());
    assert_eq!(requirements(&bob, &tools).await, Vec::<String>::new());

    // A package that does not exist answers as one Bob may not request (no existence oracle);
    // an administrator, who sees every package, is told it does not exist.
    assert_eq!(requirements(&bob, "AccessPackage:ghost").await, Vec::<String>::new());
    ada.refused(REQUIREMENTS, json!({ "p": "AccessPackage:ghost" }), "NOT_FOUND", Some("accessPackageId"))
        .await;
}

#[tokio::test]
async fn requestable_packages_need_a_signed_in_user() {
    // Without authentication the caller is the local operator, who is nobody in the directory.
    let server = TestServer::with_directory().await;
    let refusal = server.refused(FOR_ME, json!({}), "VALIDATION_FAILED", None).await;
    assert!(refusal.message.contains("sign in as a directory user"), "{}", refusal.message);
    let catalog = server.create_catalog("Sales").await;
    let package = server.create_package(&catalog, "Sales tools").await;
    server.refused(REQUIREMENTS, json!({ "p": package }), "VALIDATION_FAILED", None).await;
}
