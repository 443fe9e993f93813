//! The rules of requests, approvals and assignments, one behaviour per test, through GraphQL over
//! HTTP (and WebSocket for approvers' notifications): every refusal of a submission with its
//! stable code and nothing stored, separation of duties under concurrency, the approval rules,
//! time on a virtual clock (timeouts, escalation, scheduled starts), cancel, and what ending an
//! assignment takes away.
//!
//! Packages grant nothing unless a test needs a grant (an empty package is delivered at once);
//! the users are the fixture's: Ada administers, Dan requests, Carol and Bob approve, Eve is
//! blocked.

use std::time::Duration;

use chrono::Timelike;
use serde_json::{Value, json};

use crate::requests::{create_policy, decide_query, directory_with_admin, socket, submit_query};
use crate::support::{Api, TestServer, pluck, text};
use crate::ws::Ws;

// ---------------------------------------------------------------------------------------------
// Fixture

/// A server over the fixture directory (Ada is Global Administrator), Ada's client and a
/// published catalog.
struct Org {
    server: TestServer,
    ada: Api,
    catalog: String,
}

impl Org {
    async fn start() -> Self {
        Self::on(false).await
    }

    /// On a virtual clock, moved by `advanceClock`.
    async fn on_virtual_clock() -> Self {
        Self::on(true).await
    }

    async fn on(virtual_clock: bool) -> Self {
        Self::over(directory_with_admin(), virtual_clock).await
    }

    /// Over `directory` (with `u-ada` an administrator and `u-dan` a requestor).
    async fn over(directory: Value, virtual_clock: bool) -> Self {
        let server = TestServer::with_auth_on(directory, virtual_clock).await;
        let ada = server.as_user("u-ada");
        let catalog = ada.create_catalog("Governance").await;
        Self { server, ada, catalog }
    }

    fn user(&self, id: &str) -> Api {
        self.server.as_user(id)
    }

    /// A package granting nothing, with one policy; returns `(package, policy)`.
    async fn package(&self, name: &str, policy: Value) -> (String, String) {
        let package = self.ada.create_package(&self.catalog, name).await;
        let policy = create_policy(&self.ada, &package, policy).await;
        (package, policy)
    }

    /// A package granting membership of `group`, with one policy; returns `(package, policy)`.
    async fn granting(&self, name: &str, group: &str, policy: Value) -> (String, String) {
        let package = self.ada.create_package(&self.catalog, name).await;
        let resource = self.resource(group).await;
        self.ada.add_role_scope(&package, &resource, &format!("Member_{group}")).await;
        let policy = create_policy(&self.ada, &package, policy).await;
        (package, policy)
    }

    /// The catalog resource of `group`, added on first use.
    async fn resource(&self, group: &str) -> String {
        let found = self
            .ada
            .data(
                "query($c: ID!) { catalog(id: $c) { resources { nodes { id originId } } } }",
                json!({ "c": self.catalog }),
            )
            .await;
        let existing = found["catalog"]["resources"]["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|r| r["originId"] == group))
            .map(|r| text(&r["id"]));
        match existing {
            Some(id) => id,
            None => text(&self.ada.add_resource(&self.catalog, "AadGroup", group).await["id"]),
        }
    }

    /// Makes holders of (and requestors for) `other` ineligible for `package`.
    async fn incompatible(&self, package: &str, other: &str) {
        self.ada
            .data(
                "mutation($a: ID!, $b: ID!) { addIncompatibleAccessPackage(
                   input: {accessPackageId: $a, incompatibleAccessPackageId: $b}) { accessPackage { id } } }",
                json!({ "a": package, "b": other }),
            )
            .await;
    }

    /// The server's time (virtual or not).
    async fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let data = self.ada.data("{ clock { now } }", json!({})).await;
        time(&data["clock"]["now"])
    }

    /// Moves the virtual clock forward by an ISO 8601 duration; returns how many timers fired.
    async fn advance(&self, by: &str) -> u64 {
        let data = self.ada.data(ADVANCE, json!({ "by": by })).await;
        data["advanceClock"]["firedTimers"].as_u64().unwrap()
    }

    /// How many requests and assignments (expired ones too) the store holds for `package`.
    async fn stored(&self, package: &str) -> (u64, u64) {
        let data = self
            .ada
            .data(
                "query($p: ID!) {
                   assignmentRequests(filter: {accessPackageId: $p}) { totalCount }
                   assignments(filter: {accessPackageId: $p, activeOnly: false}) { totalCount } }",
                json!({ "p": package }),
            )
            .await;
        let count = |v: &Value| v["totalCount"].as_u64().unwrap();
        (count(&data["assignmentRequests"]), count(&data["assignments"]))
    }

    /// A request as the administrator reads it.
    async fn read(&self, request: &str) -> Value {
        self.ada.data(READ, json!({ "id": request })).await["assignmentRequest"].clone()
    }

    /// Whether `user` is a member of `group` in the directory.
    async fn is_member(&self, group: &str, user: &str) -> bool {
        let data = self
            .ada
            .data(
                "query($g: ID!) { group(id: $g) { members { ... on User { objectId } } } }",
                json!({ "g": group }),
            )
            .await;
        pluck(&data["group"]["members"], "objectId").iter().any(|m| m == user)
    }
}

const ADVANCE: &str = "mutation($by: String) { advanceClock(input: {by: $by}) { now firedTimers } }";

const READ: &str = "query($id: ID!) { assignmentRequest(id: $id) {
    id requestType state status requestorId
    approval { stages { id status reviewResult assignedTo isEscalated justification reviewedBy { objectId } } }
    assignment { id state status schedule { startDateTime } }
    explanation { log { text } } } }";

const CANCEL: &str = "mutation($id: ID!) { cancelAssignmentRequest(input: {id: $id}) {
    assignmentRequest { id state status approval { stages { status reviewResult assignedTo } } } } }";

/// Every stage change addressed to the signed-in approver, from the start of the log, so a test
/// cannot miss one by subscribing late.
const STAGE_CHANGES: &str = "subscription { approvalStageChanges(after: \"0\") {
    kind stageId assignmentRequest { id state status } } }";

/// Any member user requests for themselves, and may remove their own access; no approval, no
/// questions.
fn open_policy() -> Value {
    json!({
        "displayName": "Open to members",
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true, "enableTargetsToSelfRemoveAccess": true},
        "expiration": {"type": "afterDuration", "duration": "P30D"}
    })
}

/// [`open_policy`] with `patch` merged in (JSON merge patch: objects merge, values replace).
fn open_policy_with(patch: Value) -> Value {
    let mut policy = open_policy();
    merge(&mut policy, &patch);
    policy
}

/// [`open_policy`] with approval in `stages`.
fn approval_policy(stages: Value) -> Value {
    open_policy_with(json!({
        "displayName": "Approved by named users",
        "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": stages}
    }))
}

/// A stage that the named users approve, denied after 14 days without a decision.
fn stage(approvers: &[&str]) -> Value {
    let approvers: Vec<Value> =
        approvers.iter().map(|u| json!({"type": "singleUser", "userId": u})).collect();
    json!({"durationBeforeAutomaticDenial": "P14D", "primaryApprovers": approvers})
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&text(value)).unwrap().to_utc()
}

// ---------------------------------------------------------------------------------------------
// Requests and decisions

/// Submits a request that must be accepted; returns the request.
async fn submit(api: &Api, input: Value) -> Value {
    api.data(&submit_query(), json!({ "input": input })).await["createAssignmentRequest"]["assignmentRequest"]
        .clone()
}

/// Dan requests `package` for himself, with a justification.
async fn dan_requests(org: &Org, package: &str) -> Value {
    submit(&org.user("u-dan"), json!({ "accessPackageId": package, "justification": "for my project" })).await
}

/// Asserts that `api` submitting `input` is refused with `code` at `field`, and that the store
/// holds no more requests and assignments of the package than before.
async fn refused_with_nothing_stored(org: &Org, api: &Api, input: Value, code: &str, field: Option<&str>) {
    let package = text(&input["accessPackageId"]);
    let before = org.stored(&package).await;
    api.refused(&submit_query(), json!({ "input": input }), code, field).await;
    assert_eq!(org.stored(&package).await, before, "a refused request stores nothing");
}

fn decision(request: &Value, result: &str, justification: Option<&str>) -> Value {
    json!({ "input": { "approvalId": request["id"], "reviewResult": result, "justification": justification } })
}

/// An approver's decision that must be accepted; returns the request after it.
async fn decide(api: &Api, request: &Value, result: &str) -> Value {
    api.data(&decide_query(), decision(request, result, Some("checked"))).await["updateApprovalStage"]
        ["assignmentRequest"]
        .clone()
}

fn state_of(request: &Value) -> (String, String) {
    (text(&request["state"]), text(&request["status"]))
}

fn pair(state: &str, status: &str) -> (String, String) {
    (state.to_owned(), status.to_owned())
}

/// Asserts that a request still awaits its first stage's decision, undecided.
async fn still_pending(org: &Org, request: &Value) {
    let read = org.read(&text(&request["id"])).await;
    assert_eq!(state_of(&read), pair("pendingApproval", "PendingApproval"));
    assert_eq!(read["approval"]["stages"][0]["reviewResult"], json!("NotReviewed"));
}

/// The next stage change of the subscription `STAGE_CHANGES` opened as `id`.
async fn next_change(ws: &mut Ws, id: &str) -> Value {
    ws.next(id).await["approvalStageChanges"].clone()
}

/// A socket of `user` subscribed to their stage changes as `changes`.
async fn approver_socket(org: &Org, user: &str) -> Ws {
    let mut ws = socket(&org.server, &org.user(user)).await;
    ws.subscribe("changes", STAGE_CHANGES, json!({})).await;
    ws
}

// ---------------------------------------------------------------------------------------------
// 1. Submissions refused, with nothing stored

#[tokio::test]
async fn a_requestor_outside_the_policy_scope_is_refused() {
    let org = Org::start().await;
    let sales_only = open_policy_with(json!({
        "displayName": "Sales team only",
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "groupMembers", "groupId": "g-sales"}]
    }));
    let (package, _) = org.package("Sales tools", sales_only).await;
    // Dan is in Marketing 365, not in the Sales Team.
    let input = json!({ "accessPackageId": package });
    refused_with_nothing_stored(&org, &org.user("u-dan"), input, "FORBIDDEN", Some("assignmentPolicyId"))
        .await;
}

/// A policy asking a required cost center (four digits) and a required region (a choice).
fn policy_with_questions() -> Value {
    open_policy_with(json!({"questions": [
        {"type": "accessPackageTextInputQuestion", "id": "q-cc", "text": "Cost center?", "isRequired": true,
         "isSingleLineQuestion": true, "regexPattern": "^[0-9]{4}$", "sequence": 1},
        {"type": "accessPackageMultipleChoiceQuestion", "id": "q-region", "text": "Region?", "isRequired": true,
         "sequence": 2,
         "choices": [{"actualValue": "emea", "text": "EMEA"}, {"actualValue": "amer", "text": "Americas"}]}
    ]}))
}

fn answers(cost_center: &str, region: &str) -> Value {
    json!([{"questionId": "q-cc", "value": cost_center}, {"questionId": "q-region", "value": region}])
}

#[tokio::test]
async fn an_unanswered_required_question_is_refused() {
    let org = Org::start().await;
    let (package, _) = org.package("Finance", policy_with_questions()).await;
    let input =
        json!({ "accessPackageId": package, "answers": [{"questionId": "q-region", "value": "emea"}] });
    refused_with_nothing_stored(&org, &org.user("u-dan"), input, "VALIDATION_FAILED", Some("answers")).await;
}

#[tokio::test]
async fn an_answer_that_does_not_match_the_question_pattern_is_refused() {
    let org = Org::start().await;
    let (package, _) = org.package("Finance", policy_with_questions()).await;
    let input = json!({ "accessPackageId": package, "answers": answers("12a4", "emea") });
    refused_with_nothing_stored(
        &org,
        &org.user("u-dan"),
        input,
        "VALIDATION_FAILED",
        Some("answers[0].value"),
    )
    .await;
}

#[tokio::test]
async fn a_multiple_choice_answer_that_is_not_a_choice_is_refused() {
    let org = Org::start().await;
    let (package, _) = org.package("Finance", policy_with_questions()).await;
    let input = json!({ "accessPackageId": package, "answers": answers("1234", "apac") });
    refused_with_nothing_stored(
        &org,
        &org.user("u-dan"),
        input,
        "VALIDATION_FAILED",
        Some("answers[1].value"),
    )
    .await;
    // The same request with valid answers goes through.
    let accepted =
        submit(&org.user("u-dan"), json!({ "accessPackageId": package, "answers": answers("1234", "emea") }))
            .await;
    assert_eq!(state_of(&accepted), pair("delivered", "Delivered"));
}

#[tokio::test]
async fn a_missing_justification_is_refused_when_the_policy_requires_one() {
    let org = Org::start().await;
    let policy =
        open_policy_with(json!({"requestApprovalSettings": {"isRequestorJustificationRequired": true}}));
    let (package, _) = org.package("Audit logs", policy).await;
    for justification in [Value::Null, json!("   ")] {
        let input = json!({ "accessPackageId": package, "justification": justification });
        refused_with_nothing_stored(
            &org,
            &org.user("u-dan"),
            input,
            "VALIDATION_FAILED",
            Some("justification"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_requested_schedule_is_refused_when_the_policy_allows_no_custom_schedule() {
    let org = Org::start().await;
    let (package, _) = org.package("Audit logs", open_policy()).await;
    let start = (org.now().await + chrono::TimeDelta::days(2)).to_rfc3339();
    let input = json!({ "accessPackageId": package, "schedule": { "startDateTime": start } });
    refused_with_nothing_stored(&org, &org.user("u-dan"), input, "VALIDATION_FAILED", Some("schedule")).await;
}

#[tokio::test]
async fn a_package_in_an_unpublished_catalog_cannot_be_requested() {
    let org = Org::start().await;
    let (package, _) = org.package("Audit logs", open_policy()).await;
    let unpublished = org
        .ada
        .data(
            "mutation($c: ID!) { updateCatalog(input: {id: $c, state: unpublished}) { catalog { state } } }",
            json!({ "c": org.catalog }),
        )
        .await;
    assert_eq!(unpublished["updateCatalog"]["catalog"]["state"], json!("unpublished"));
    let input = json!({ "accessPackageId": package });
    refused_with_nothing_stored(&org, &org.user("u-dan"), input, "FORBIDDEN", Some("accessPackageId")).await;
}

#[tokio::test]
async fn a_user_blocked_from_signing_in_cannot_be_given_access() {
    let org = Org::start().await;
    let direct = json!({"displayName": "Direct assignment", "allowedTargetScope": "notSpecified"});
    let (package, policy) = org.package("Audit logs", direct).await;
    let input = json!({ "requestType": "adminAdd", "accessPackageId": package, "assignmentPolicyId": policy,
                        "targetId": "u-eve" });
    refused_with_nothing_stored(&org, &org.ada, input, "FORBIDDEN", Some("targetId")).await;
}

#[tokio::test]
async fn a_second_request_while_the_assignment_is_active_is_a_conflict() {
    let org = Org::start().await;
    let (package, _) = org.package("Audit logs", open_policy()).await;
    assert_eq!(state_of(&dan_requests(&org, &package).await), pair("delivered", "Delivered"));
    assert_eq!(org.stored(&package).await, (1, 1));
    let input = json!({ "accessPackageId": package, "justification": "again" });
    refused_with_nothing_stored(&org, &org.user("u-dan"), input, "CONFLICT", None).await;
}

#[tokio::test]
async fn a_target_holding_an_incompatible_package_is_refused() {
    let org = Org::start().await;
    let (payments, _) = org.package("Payments", open_policy()).await;
    let (audit, _) = org.package("Audit", open_policy()).await;
    org.incompatible(&audit, &payments).await;
    assert_eq!(state_of(&dan_requests(&org, &payments).await), pair("delivered", "Delivered"));
    let input = json!({ "accessPackageId": audit });
    refused_with_nothing_stored(&org, &org.user("u-dan"), input, "CONFLICT", None).await;
    assert_eq!(org.stored(&audit).await, (0, 0));
}

#[tokio::test]
async fn a_member_of_an_incompatible_group_is_refused() {
    let org = Org::start().await;
    let (package, _) = org.package("Audit", open_policy()).await;
    org.ada
        .data(
            "mutation($a: ID!, $g: ID!) { addIncompatibleGroup(input: {accessPackageId: $a, groupId: $g}) {
               accessPackage { id } } }",
            json!({ "a": package, "g": "g-m365" }),
        )
        .await;
    // Dan is a member of Marketing 365.
    let input = json!({ "accessPackageId": package });
    refused_with_nothing_stored(&org, &org.user("u-dan"), input, "CONFLICT", None).await;
    assert_eq!(org.stored(&package).await, (0, 0));
}

#[tokio::test]
async fn a_pending_request_for_an_incompatible_package_blocks_a_request() {
    let org = Org::start().await;
    let (payments, _) = org.package("Payments", approval_policy(json!([stage(&["u-carol"])]))).await;
    let (audit, _) = org.package("Audit", open_policy()).await;
    org.incompatible(&audit, &payments).await;
    assert_eq!(state_of(&dan_requests(&org, &payments).await), pair("pendingApproval", "PendingApproval"));
    let input = json!({ "accessPackageId": audit });
    refused_with_nothing_stored(&org, &org.user("u-dan"), input, "CONFLICT", None).await;
    assert_eq!(org.stored(&audit).await, (0, 0));
}

// ---------------------------------------------------------------------------------------------
// 2. Concurrency

/// The code of a refused operation, or the request's state.
fn outcome(body: &Value, field: &str) -> Result<String, String> {
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => Err(code.to_owned()),
        None => Ok(text(&body["data"][field]["assignmentRequest"]["state"])),
    }
}

// Two worker threads, so the server handles both operations in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_requests_for_incompatible_packages_deliver_at_most_one() {
    let org = Org::start().await;
    let dan = org.user("u-dan");
    for round in 0..10 {
        let (a, _) = org.package(&format!("Payments {round}"), open_policy()).await;
        let (b, _) = org.package(&format!("Audit {round}"), open_policy()).await;
        org.incompatible(&b, &a).await;
        let query = submit_query();
        let (first, second) = tokio::join!(
            dan.gql(&query, json!({ "input": { "accessPackageId": a } })),
            dan.gql(&query, json!({ "input": { "accessPackageId": b } })),
        );
        let mut outcomes =
            [outcome(&first, "createAssignmentRequest"), outcome(&second, "createAssignmentRequest")];
        outcomes.sort();
        assert_eq!(
            outcomes,
            [Ok("delivered".to_owned()), Err("CONFLICT".to_owned())],
            "round {round}:\n{first:#}\n{second:#}"
        );
        let (stored_a, stored_b) = (org.stored(&a).await, org.stored(&b).await);
        assert_eq!(stored_a.1 + stored_b.1, 1, "round {round}: exactly one assignment");
        assert_eq!(stored_a.0 + stored_b.0, 1, "round {round}: the refused request is not stored");
    }
}

/// The approvals and denials a request's explanation logs.
fn decisions_logged(read: &Value) -> usize {
    pluck(&read["explanation"]["log"], "text")
        .into_iter()
        .filter(|t| t.contains(" approved by ") || t.contains(" denied by "))
        .count()
}

// Two worker threads, so the server handles both operations in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_deciding_at_once_make_exactly_one_decision() {
    let org = Org::start().await;
    let (carol, bob) = (org.user("u-carol"), org.user("u-bob"));
    for round in 0..5 {
        let policy = approval_policy(json!([stage(&["u-carol", "u-bob"])]));
        let (package, _) = org.package(&format!("Payments {round}"), policy).await;
        let request = dan_requests(&org, &package).await;
        let query = decide_query();
        let (approved, denied) = tokio::join!(
            carol.gql(&query, decision(&request, "Approve", None)),
            bob.gql(&query, decision(&request, "Deny", None)),
        );
        let outcomes = [outcome(&approved, "updateApprovalStage"), outcome(&denied, "updateApprovalStage")];
        let (winner, expected) = match &outcomes {
            [Ok(_), Err(code)] if code == "CONFLICT" => ("u-carol", pair("delivered", "Delivered")),
            [Err(code), Ok(_)] if code == "CONFLICT" => ("u-bob", pair("denied", "Denied")),
            _ => panic!("round {round}: expected one success and one CONFLICT:\n{approved:#}\n{denied:#}"),
        };
        let read = org.read(&text(&request["id"])).await;
        assert_eq!(state_of(&read), expected, "round {round}");
        assert_eq!(read["approval"]["stages"][0]["reviewedBy"]["objectId"], json!(winner), "round {round}");
        assert_eq!(decisions_logged(&read), 1, "round {round}: {:#}", read["explanation"]);
    }
}

/// A stage of 100 approvers (a group's members), all deciding at once, five times: one decision
/// wins each time, and the 99 others are refused with `CONFLICT` and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_approvers_deciding_at_once_make_exactly_one_decision() {
    let mut directory = directory_with_admin();
    let approvers: Vec<String> = (0..100).map(|i| format!("u-approver-{i:03}")).collect();
    for id in &approvers {
        directory["users"].as_array_mut().unwrap().push(json!({
            "id": id, "displayName": format!("Approver {id}"), "userPrincipalName": format!("{id}@contoso.com")
        }));
    }
    let members: Vec<Value> = approvers.iter().map(|id| json!({ "id": id })).collect();
    directory["groups"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": "g-approvers", "displayName": "Approvers", "securityEnabled": true, "members": members }));
    let org = Org::over(directory, false).await;
    let clients: Vec<Api> = approvers.iter().map(|id| org.user(id)).collect();
    let query = decide_query();
    for round in 0..5 {
        let approval = json!({ "durationBeforeAutomaticDenial": "P14D",
                               "primaryApprovers": [{ "type": "groupMembers", "groupId": "g-approvers" }] });
        let (package, _) =
            org.package(&format!("Payments {round}"), approval_policy(json!([approval]))).await;
        let request = dan_requests(&org, &package).await;
        let decisions = clients.iter().enumerate().map(|(i, client)| {
            let result = if i.is_multiple_of(2) { "Approve" } else { "Deny" };
            let variables = decision(&request, result, Some("at once"));
            let query = query.clone();
            async move { client.gql(&query, variables).await }
        });
        let answers = futures::future::join_all(decisions).await;
        let outcomes: Vec<Result<String, String>> =
            answers.iter().map(|a| outcome(a, "updateApprovalStage")).collect();
        let winners: Vec<usize> = (0..100).filter(|&i| outcomes[i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes.iter().filter(|o| o.is_err()).all(|o| o.as_ref().err().is_some_and(|c| c == "CONFLICT")),
            "round {round}: every other decision is a CONFLICT: {outcomes:?}"
        );
        let winner = winners[0];
        let read = org.read(&text(&request["id"])).await;
        let expected =
            if winner.is_multiple_of(2) { pair("delivered", "Delivered") } else { pair("denied", "Denied") };
        assert_eq!(state_of(&read), expected, "round {round}");
        assert_eq!(read["approval"]["stages"][0]["reviewedBy"]["objectId"], json!(approvers[winner]));
        assert_eq!(decisions_logged(&read), 1, "round {round}: {:#}", read["explanation"]);
    }
}

/// The same request sent 20 times at once, for a package with approval and one without: one
/// is made, the others are refused with `CONFLICT` and stored nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_sent_twenty_times_at_once_is_made_once() {
    let org = Org::start().await;
    let dan = org.user("u-dan");
    let (pending, _) = org.package("Payments", approval_policy(json!([stage(&["u-carol"])]))).await;
    let (open, _) = org.package("Wiki", open_policy()).await;
    for (package, made) in [(pending, "pendingApproval"), (open, "delivered")] {
        let query = submit_query();
        let sends = (0..20).map(|_| dan.gql(&query, json!({ "input": { "accessPackageId": package } })));
        let answers = futures::future::join_all(sends).await;
        let mut outcomes: Vec<Result<String, String>> =
            answers.iter().map(|a| outcome(a, "createAssignmentRequest")).collect();
        outcomes.sort();
        let mut expected = vec![Ok(made.to_owned())];
        expected.extend(std::iter::repeat_n(Err("CONFLICT".to_owned()), 19));
        expected.sort();
        assert_eq!(outcomes, expected, "{package}");
        let (requests, assignments) = org.stored(&package).await;
        assert_eq!((requests, assignments), (1, u64::from(made == "delivered")), "{package}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Approvals

#[tokio::test]
async fn nobody_approves_their_own_request() {
    let org = Org::start().await;
    let (package, _) = org.package("Payments", approval_policy(json!([stage(&["u-carol", "u-dan"])]))).await;
    let request = dan_requests(&org, &package).await;
    let stage = &request["approval"]["stages"][0];
    assert_eq!(stage["assignedTo"], json!(["u-carol"]), "the target is left out of the approvers");
    let notes = stage["primaryApprovers"]["notes"].to_string();
    assert!(notes.contains("nobody approves their own request"), "{notes}");
    org.user("u-dan")
        .refused(&decide_query(), decision(&request, "Approve", Some("me")), "FORBIDDEN", None)
        .await;
    still_pending(&org, &request).await;
}

#[tokio::test]
async fn an_approver_must_justify_when_the_stage_requires_it() {
    let org = Org::start().await;
    let mut approval = stage(&["u-carol"]);
    approval["isApproverJustificationRequired"] = json!(true);
    let (package, _) = org.package("Payments", approval_policy(json!([approval]))).await;
    let request = dan_requests(&org, &package).await;
    let carol = org.user("u-carol");
    for missing in [None, Some("  ")] {
        carol
            .refused(
                &decide_query(),
                decision(&request, "Approve", missing),
                "VALIDATION_FAILED",
                Some("justification"),
            )
            .await;
        still_pending(&org, &request).await;
    }
    let decided = decide(&carol, &request, "Approve").await;
    assert_eq!(state_of(&decided), pair("delivered", "Delivered"));
    assert_eq!(decided["approval"]["stages"][0]["justification"], json!("checked"));
}

#[tokio::test]
async fn a_deny_ends_the_request() {
    let org = Org::start().await;
    let (package, _) = org.package("Payments", approval_policy(json!([stage(&["u-carol"])]))).await;
    let request = dan_requests(&org, &package).await;
    let denied = decide(&org.user("u-carol"), &request, "Deny").await;
    assert_eq!(state_of(&denied), pair("denied", "Denied"));
    assert!(denied["completedDateTime"].is_string());
    assert_eq!(denied["approval"]["stages"][0]["reviewResult"], json!("Denied"));
    assert_eq!(denied["assignment"], Value::Null);
    assert_eq!(org.stored(&package).await, (1, 0), "no assignment");
    // The request is over: a second decision is refused.
    org.user("u-carol").refused(&decide_query(), decision(&request, "Approve", None), "CONFLICT", None).await;
}

#[tokio::test]
async fn stage_two_opens_only_after_stage_one_is_approved_and_only_then_tells_its_approver() {
    let org = Org::start().await;
    let mut bob_ws = approver_socket(&org, "u-bob").await;
    let policy = approval_policy(json!([stage(&["u-carol"]), stage(&["u-bob"])]));
    let (package, _) = org.package("Payments", policy).await;
    let request = dan_requests(&org, &package).await;
    let stages = &request["approval"]["stages"];
    assert_eq!((&stages[0]["status"], &stages[0]["assignedTo"]), (&json!("InProgress"), &json!(["u-carol"])));
    assert_eq!((&stages[1]["status"], &stages[1]["assignedTo"]), (&json!("Initializing"), &json!([])));
    assert_eq!(bob_ws.quiet_for(Duration::from_millis(500)).await, None, "stage 2 has not opened");
    // Bob cannot decide yet, neither the open stage nor his own.
    let bob = org.user("u-bob");
    bob.refused(&decide_query(), decision(&request, "Approve", None), "FORBIDDEN", None).await;
    let mut early = decision(&request, "Approve", None);
    early["input"]["stageId"] = stages[1]["id"].clone();
    bob.refused(&decide_query(), early, "CONFLICT", None).await;
    still_pending(&org, &request).await;

    let after_one = decide(&org.user("u-carol"), &request, "Approve").await;
    assert_eq!(state_of(&after_one), pair("pendingApproval", "PendingApproval"));
    let stages = &after_one["approval"]["stages"];
    assert_eq!(stages[0]["reviewResult"], json!("Approved"));
    assert_eq!((&stages[1]["status"], &stages[1]["assignedTo"]), (&json!("InProgress"), &json!(["u-bob"])));
    let told = next_change(&mut bob_ws, "changes").await;
    assert_eq!((&told["kind"], &told["stageId"]), (&json!("assigned"), &stages[1]["id"]));
    assert_eq!(told["assignmentRequest"]["id"], request["id"]);

    let delivered = decide(&bob, &request, "Approve").await;
    assert_eq!(state_of(&delivered), pair("delivered", "Delivered"));
    assert_eq!(next_change(&mut bob_ws, "changes").await["kind"], json!("removed"));
    bob_ws.close().await;
}

#[tokio::test]
async fn someone_who_is_not_an_approver_cannot_decide() {
    let org = Org::start().await;
    let (package, _) = org.package("Payments", approval_policy(json!([stage(&["u-carol"])]))).await;
    let request = dan_requests(&org, &package).await;
    for stranger in ["u-bob", "u-ada"] {
        org.user(stranger)
            .refused(&decide_query(), decision(&request, "Approve", None), "FORBIDDEN", None)
            .await;
    }
    still_pending(&org, &request).await;
}

// ---------------------------------------------------------------------------------------------
// 4. Time

#[tokio::test]
async fn a_stage_without_a_decision_times_out_and_the_request_expires() {
    let org = Org::on_virtual_clock().await;
    let mut carol_ws = approver_socket(&org, "u-carol").await;
    let (package, _) = org.package("Payments", approval_policy(json!([stage(&["u-carol"])]))).await;
    let request = dan_requests(&org, &package).await;
    assert_eq!(next_change(&mut carol_ws, "changes").await["kind"], json!("assigned"));

    assert_eq!(org.advance("P13D").await, 0, "not due yet");
    still_pending(&org, &request).await;
    assert_eq!(org.advance("P2D").await, 1, "the timeout fires");
    let read = org.read(&text(&request["id"])).await;
    assert_eq!(state_of(&read), pair("denied", "Expired"));
    assert_eq!(read["approval"]["stages"][0]["status"], json!("Expired"));
    let removed = next_change(&mut carol_ws, "changes").await;
    assert_eq!(removed["kind"], json!("removed"));
    assert_eq!(state_of(&removed["assignmentRequest"]), pair("denied", "Expired"));
    // Too late to decide.
    org.user("u-carol").refused(&decide_query(), decision(&request, "Approve", None), "CONFLICT", None).await;
    carol_ws.close().await;
}

#[tokio::test]
async fn an_escalated_stage_is_forwarded_to_the_alternate_approver_who_can_approve() {
    let org = Org::on_virtual_clock().await;
    let mut bob_ws = approver_socket(&org, "u-bob").await;
    let mut escalating = stage(&["u-carol"]);
    merge(
        &mut escalating,
        &json!({"isEscalationEnabled": true, "durationBeforeEscalation": "P2D",
                "escalationApprovers": [{"type": "singleUser", "userId": "u-bob"}]}),
    );
    let (package, _) = org.package("Payments", approval_policy(json!([escalating]))).await;
    let request = dan_requests(&org, &package).await;
    assert_eq!(request["approval"]["stages"][0]["assignedTo"], json!(["u-carol"]));
    let bob = org.user("u-bob");
    bob.refused(&decide_query(), decision(&request, "Approve", None), "FORBIDDEN", None).await;
    assert_eq!(bob_ws.quiet_for(Duration::from_millis(500)).await, None, "not forwarded yet");

    assert_eq!(org.advance("P3D").await, 1, "the escalation fires");
    let read = org.read(&text(&request["id"])).await;
    assert_eq!(state_of(&read), pair("pendingApproval", "PendingApprovalEscalated"));
    let stage = &read["approval"]["stages"][0];
    assert_eq!((&stage["isEscalated"], &stage["assignedTo"]), (&json!(true), &json!(["u-carol", "u-bob"])));
    let told = next_change(&mut bob_ws, "changes").await;
    assert_eq!((&told["kind"], &told["stageId"]), (&json!("assigned"), &stage["id"]));
    assert_eq!(state_of(&told["assignmentRequest"]), pair("pendingApproval", "PendingApprovalEscalated"));

    let approved = decide(&bob, &request, "Approve").await;
    assert_eq!(state_of(&approved), pair("delivered", "Delivered"));
    let read = org.read(&text(&request["id"])).await;
    assert_eq!(read["approval"]["stages"][0]["reviewedBy"]["objectId"], json!("u-bob"));
    bob_ws.close().await;
}

#[tokio::test]
async fn a_request_starting_later_is_scheduled_and_delivered_when_the_clock_passes_the_start() {
    let org = Org::on_virtual_clock().await;
    let (package, _) = org
        .package(
            "Payments",
            open_policy_with(json!({"requestorSettings": {"allowCustomAssignmentSchedule": true}})),
        )
        .await;
    // Whole seconds, so the start reads back exactly.
    let start = (org.now().await + chrono::TimeDelta::days(2)).with_nanosecond(0).unwrap();
    let request = submit(
        &org.user("u-dan"),
        json!({ "accessPackageId": package, "schedule": { "startDateTime": start.to_rfc3339() } }),
    )
    .await;
    assert_eq!(state_of(&request), pair("scheduled", "PendingNotBefore"));
    assert_eq!(request["assignment"], Value::Null);
    assert_eq!(org.stored(&package).await, (1, 0));

    assert_eq!(org.advance("P1D").await, 0);
    assert_eq!(state_of(&org.read(&text(&request["id"])).await), pair("scheduled", "PendingNotBefore"));
    assert_eq!(org.advance("P2D").await, 1, "the start fires");
    let read = org.read(&text(&request["id"])).await;
    assert_eq!(state_of(&read), pair("delivered", "Delivered"));
    assert_eq!(read["assignment"]["state"], json!("delivered"));
    assert_eq!(time(&read["assignment"]["schedule"]["startDateTime"]), start);
}

#[tokio::test]
async fn the_clock_cannot_be_advanced_on_a_real_clock_server() {
    let org = Org::start().await;
    let clock = org.ada.data("{ clock { isVirtual } }", json!({})).await;
    assert_eq!(clock["clock"]["isVirtual"], json!(false));
    org.ada.refused(ADVANCE, json!({ "by": "P1D" }), "VALIDATION_FAILED", None).await;
}

#[tokio::test]
async fn only_an_administrator_advances_the_clock() {
    let org = Org::on_virtual_clock().await;
    let before = org.now().await;
    org.user("u-dan").refused(ADVANCE, json!({ "by": "P1D" }), "FORBIDDEN", None).await;
    assert_eq!(org.now().await, before, "the clock did not move");
}

// ---------------------------------------------------------------------------------------------
// 5. Cancel

#[tokio::test]
async fn the_requestor_cancels_a_pending_request_and_the_approver_is_told() {
    let org = Org::start().await;
    let mut carol_ws = approver_socket(&org, "u-carol").await;
    let (package, _) = org.package("Payments", approval_policy(json!([stage(&["u-carol"])]))).await;
    let request = dan_requests(&org, &package).await;
    assert_eq!(next_change(&mut carol_ws, "changes").await["kind"], json!("assigned"));

    let canceled = org.user("u-dan").data(CANCEL, json!({ "id": request["id"] })).await["cancelAssignmentRequest"]
        ["assignmentRequest"]
        .clone();
    assert_eq!(state_of(&canceled), pair("canceled", "Canceled"));
    let removed = next_change(&mut carol_ws, "changes").await;
    assert_eq!(
        (&removed["kind"], &removed["stageId"]),
        (&json!("removed"), &request["approval"]["stages"][0]["id"])
    );
    assert_eq!(state_of(&removed["assignmentRequest"]), pair("canceled", "Canceled"));
    let waiting = org
        .user("u-carol")
        .data("{ assignmentRequests(filterByCurrentUser: approver) { totalCount } }", json!({}))
        .await;
    assert_eq!(waiting["assignmentRequests"]["totalCount"], json!(0));
    org.user("u-carol").refused(&decide_query(), decision(&request, "Approve", None), "CONFLICT", None).await;
    carol_ws.close().await;
}

#[tokio::test]
async fn a_delivered_request_cannot_be_canceled() {
    let org = Org::start().await;
    let (package, _) = org.package("Payments", open_policy()).await;
    let request = dan_requests(&org, &package).await;
    assert_eq!(state_of(&request), pair("delivered", "Delivered"));
    org.user("u-dan").refused(CANCEL, json!({ "id": request["id"] }), "CONFLICT", None).await;
    assert_eq!(state_of(&org.read(&text(&request["id"])).await), pair("delivered", "Delivered"));
}

#[tokio::test]
async fn a_stranger_cannot_cancel_a_request() {
    let org = Org::start().await;
    let (package, _) = org.package("Payments", approval_policy(json!([stage(&["u-carol"])]))).await;
    let request = dan_requests(&org, &package).await;
    org.user("u-bob").refused(CANCEL, json!({ "id": request["id"] }), "FORBIDDEN", None).await;
    still_pending(&org, &request).await;
}

// ---------------------------------------------------------------------------------------------
// 6. Assignments

fn direct_policy() -> Value {
    json!({"displayName": "Direct assignment", "allowedTargetScope": "notSpecified"})
}

/// Ada assigns `package` to `target` directly through `policy`; returns the request.
async fn admin_adds(org: &Org, package: &str, policy: &str, target: &str) -> Value {
    let input = json!({ "requestType": "adminAdd", "accessPackageId": package, "assignmentPolicyId": policy,
                        "targetId": target });
    submit(&org.ada, input).await
}

#[tokio::test]
async fn an_administrator_assigns_directly_through_a_policy_without_approval() {
    let org = Org::start().await;
    let (package, policy) = org.granting("Project Falcon", "g-team", direct_policy()).await;
    let request = admin_adds(&org, &package, &policy, "u-dan").await;
    assert_eq!(state_of(&request), pair("delivered", "Delivered"));
    assert_eq!((&request["requestType"], &request["requestorId"]), (&json!("adminAdd"), &json!("u-ada")));
    assert_eq!(request["approval"], Value::Null);
    assert_eq!(request["assignment"]["state"], json!("delivered"));
    assert!(org.is_member("g-team", "u-dan").await);
    let mine =
        org.user("u-dan").data("{ assignments(filterByCurrentUser: true) { totalCount } }", json!({})).await;
    assert_eq!(mine["assignments"]["totalCount"], json!(1));
}

#[tokio::test]
async fn a_user_removing_their_assignment_ends_it_and_leaves_the_group() {
    let org = Org::start().await;
    let (package, _) = org.granting("Project Falcon", "g-team", open_policy()).await;
    let added = dan_requests(&org, &package).await;
    assert!(org.is_member("g-team", "u-dan").await);

    let input = json!({ "requestType": "userRemove", "accessPackageId": package,
                        "assignmentId": added["assignment"]["id"] });
    let removed = submit(&org.user("u-dan"), input).await;
    assert_eq!(removed["requestType"], json!("userRemove"));
    assert_eq!(state_of(&removed), pair("delivered", "Delivered"));
    assert_eq!(removed["assignment"]["state"], json!("expired"));
    assert!(!org.is_member("g-team", "u-dan").await);
    let active =
        org.user("u-dan").data("{ assignments(filterByCurrentUser: true) { totalCount } }", json!({})).await;
    assert_eq!(active["assignments"]["totalCount"], json!(0));
}

#[tokio::test]
async fn removing_one_of_two_assignments_granting_a_group_keeps_the_membership() {
    let org = Org::start().await;
    let (falcon, falcon_policy) = org.granting("Project Falcon", "g-team", direct_policy()).await;
    let (hawk, hawk_policy) = org.granting("Project Hawk", "g-team", direct_policy()).await;
    let first = admin_adds(&org, &falcon, &falcon_policy, "u-dan").await;
    let second = admin_adds(&org, &hawk, &hawk_policy, "u-dan").await;
    assert!(org.is_member("g-team", "u-dan").await);

    let remove = |package: &String, request: &Value| {
        json!({ "requestType": "adminRemove", "accessPackageId": package, "targetId": "u-dan",
                "assignmentId": request["assignment"]["id"] })
    };
    let ended = submit(&org.ada, remove(&falcon, &first)).await;
    assert_eq!(
        (state_of(&ended), &ended["assignment"]["state"]),
        (pair("delivered", "Delivered"), &json!("expired"))
    );
    assert!(org.is_member("g-team", "u-dan").await, "Project Hawk still grants the team");

    submit(&org.ada, remove(&hawk, &second)).await;
    assert!(!org.is_member("g-team", "u-dan").await, "nothing grants the team any more");
}

#[tokio::test]
async fn an_administrator_removes_an_assignment_named_only_by_its_id() {
    // Graph's adminRemove names the assignment alone; the target is the assignment's.
    let org = Org::start().await;
    let (package, policy) = org.granting("Project Falcon", "g-team", direct_policy()).await;
    let added = admin_adds(&org, &package, &policy, "u-dan").await;
    let input = json!({ "requestType": "adminRemove", "accessPackageId": package,
                        "assignmentId": added["assignment"]["id"] });
    let removed = submit(&org.ada, input).await;
    assert_eq!(removed["targetId"], json!("u-dan"));
    assert_eq!(removed["assignment"]["state"], json!("expired"));
    assert!(!org.is_member("g-team", "u-dan").await);
}

#[tokio::test]
async fn a_package_or_policy_with_an_active_assignment_cannot_be_deleted() {
    let org = Org::start().await;
    let (package, policy) = org.package("Payments", open_policy()).await;
    dan_requests(&org, &package).await;
    org.ada
        .refused(
            "mutation($id: ID!) { deleteAccessPackage(input: {id: $id}) { deletedId } }",
            json!({ "id": package }),
            "CONFLICT",
            Some("id"),
        )
        .await;
    org.ada
        .refused(
            "mutation($id: ID!) { deleteAssignmentPolicy(input: {id: $id}) { deletedId } }",
            json!({ "id": policy }),
            "CONFLICT",
            Some("id"),
        )
        .await;
    let still = org
        .ada
        .data(
            "query($p: ID!, $q: ID!) { accessPackage(id: $p) { id } assignmentPolicy(id: $q) { id } }",
            json!({ "p": package, "q": policy }),
        )
        .await;
    assert_eq!(
        (&still["accessPackage"]["id"], &still["assignmentPolicy"]["id"]),
        (&json!(package), &json!(policy))
    );
    assert_eq!(org.stored(&package).await, (1, 1));
}

#[tokio::test]
async fn only_administrators_list_every_request_and_assignment() {
    let org = Org::start().await;
    let (package, _) = org.package("Payments", open_policy()).await;
    dan_requests(&org, &package).await;
    let dan = org.user("u-dan");
    dan.refused("{ assignmentRequests { totalCount } }", json!({}), "FORBIDDEN", None).await;
    dan.refused("{ assignments { totalCount } }", json!({}), "FORBIDDEN", None).await;
    let own = dan
        .data(
            "{ assignmentRequests(filterByCurrentUser: target) { totalCount }
               assignments(filterByCurrentUser: true) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        (&own["assignmentRequests"]["totalCount"], &own["assignments"]["totalCount"]),
        (&json!(1), &json!(1))
    );
    let all =
        org.ada.data("{ assignmentRequests { totalCount } assignments { totalCount } }", json!({})).await;
    assert_eq!(
        (&all["assignmentRequests"]["totalCount"], &all["assignments"]["totalCount"]),
        (&json!(1), &json!(1))
    );
}

#[tokio::test]
async fn a_stranger_cannot_read_someone_elses_request() {
    let org = Org::start().await;
    let (package, _) = org.package("Payments", approval_policy(json!([stage(&["u-carol"])]))).await;
    let request = dan_requests(&org, &package).await;
    let read = |user: &str| {
        let api = org.user(user);
        let id = request["id"].clone();
        async move { api.data("query($id: ID!) { assignmentRequest(id: $id) { id } }", json!({ "id": id })).await }
    };
    assert_eq!(read("u-bob").await["assignmentRequest"], Value::Null, "a stranger sees nothing");
    for party in ["u-dan", "u-carol", "u-ada"] {
        assert_eq!(read(party).await["assignmentRequest"]["id"], request["id"], "{party} sees it");
    }
}
