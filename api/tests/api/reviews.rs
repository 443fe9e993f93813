//! Access reviews over GraphQL, in virtual time: a policy's reviews start on their schedule
//! with an item per active assignment, managers decide (recommendations from real sign-ins),
//! results are applied at the end (denials and, under `removeAccess`, items nobody reviewed),
//! the next review follows, and an administrator stops one early. Bad input changes nothing.

use serde_json::{Value, json};

use crate::requests::{directory_with_admin, members, socket};
use crate::support::{Api, TestServer, advance_clock as advance, clock_now as now, text};

const DECISIONS_FOR_ME: &str = "{ accessReviewDecisions(filterByCurrentUser: reviewer) { totalCount
    nodes { id principalId principalDisplayName recommendation recommendationReason decision
      reviewers { id via } } } }";

const RECORD: &str =
    "mutation($d: [ReviewDecisionInput!]!) { recordAccessReviewDecisions(input: {decisions: $d}) {
    decisions { id decision justification reviewedById } } }";

/// A package delivering Project Falcon, with a policy any member requests without approval,
/// reviewed quarterly from `first` for 14 days by the assignee's manager (Carol when there is
/// none), removing what nobody reviews.
pub(crate) async fn reviewed_package(
    ada: &Api,
    first: chrono::DateTime<chrono::Utc>,
    recurrence: Value,
) -> Result<(String, String), Value> {
    let catalog = ada.create_catalog("Projects").await;
    let team = ada.add_resource(&catalog, "AadGroup", "g-team").await;
    let package = ada.create_package(&catalog, "Falcon").await;
    ada.add_role_scope(&package, &text(&team["id"]), "Member_g-team").await;
    let policy = json!({
        "displayName": "Members, reviewed quarterly",
        "accessPackage": {"id": package},
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": false},
        "reviewSettings": {
            "isEnabled": true,
            "expirationBehavior": "removeAccess",
            "isRecommendationEnabled": true,
            "isReviewerJustificationRequired": true,
            "isSelfReview": false,
            "schedule": {"startDateTime": first.to_rfc3339(), "expiration": {"type": "afterDuration", "duration": "P14D"},
                         "recurrence": recurrence},
            "primaryReviewers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}],
            "fallbackReviewers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": "u-carol"}]
        }
    });
    let created = ada
        .gql(
            "mutation($input: CreateAssignmentPolicyInput!) {
               createAssignmentPolicy(input: $input) { assignmentPolicy { id } } }",
            json!({ "input": { "accessPackageId": package, "graphJson": policy } }),
        )
        .await;
    if created.get("errors").is_some() {
        return Err(created);
    }
    Ok((package, text(&created["data"]["createAssignmentPolicy"]["assignmentPolicy"]["id"])))
}

/// Each of `users` requests `package` (no approval): delivered at once.
async fn request_as(server: &TestServer, package: &str, users: &[&str]) {
    for user in users {
        let request = server
            .as_user(user)
            .data(
                "mutation($p: ID!) { createAssignmentRequest(input: {accessPackageId: $p}) { assignmentRequest { state } } }",
                json!({ "p": package }),
            )
            .await;
        assert_eq!(request["createAssignmentRequest"]["assignmentRequest"]["state"], json!("delivered"));
    }
}

pub(crate) fn quarterly() -> Value {
    json!({"pattern": {"type": "absoluteMonthly", "interval": 3}, "range": {"type": "noEnd", "startDate": "2026-01-01"}})
}

async fn reviews(ada: &Api, policy: &str) -> Vec<Value> {
    let data = ada
        .data(
            "query($p: ID!) { accessReviewInstances(policyId: $p) { nodes { id status occurrence startDateTime endDateTime
                decisions { totalCount nodes { principalId decision applyResult } } } } }",
            json!({ "p": policy }),
        )
        .await;
    data["accessReviewInstances"]["nodes"].as_array().unwrap().clone()
}

fn decision(id: &Value, decision: &str, justification: Option<&str>) -> Value {
    json!([{ "id": id, "decision": decision, "justification": justification }])
}

#[tokio::test]
async fn quarterly_reviews_run_on_schedule_and_remove_what_is_denied_or_not_reviewed() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let ada = server.as_user("u-ada");
    let start = now(&ada).await;
    let first = start + chrono::TimeDelta::days(1);
    let (package, policy) = reviewed_package(&ada, first, quarterly()).await.unwrap();
    request_as(&server, &package, &["u-bob", "u-carol", "u-dan"]).await;
    assert!(reviews(&ada, &policy).await.is_empty(), "no review before its start");

    // Ada, the reviewer, listens for reviews.
    let mut ada_ws = socket(&server, &ada).await;
    let reviews_feed = "subscription { events(filter: {kind: \"accessReview.\"}) { event { kind reason } } }";
    ada_ws.subscribe("reviews", reviews_feed, json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // The first review starts on its day, with an item per assignment; Ada manages all three.
    advance(&ada, first).await;
    let told = ada_ws.next("reviews").await["events"]["event"].clone();
    assert_eq!(told["kind"], json!("accessReview.started"), "{told}");
    assert!(text(&told["reason"]).contains("3 assignments to review"), "{told}");
    let started = reviews(&ada, &policy).await;
    assert_eq!(started.len(), 1);
    assert_eq!(
        (started[0]["status"].clone(), started[0]["occurrence"].clone()),
        (json!("InProgress"), json!(1))
    );
    assert_eq!(started[0]["decisions"]["totalCount"], json!(3));
    let mine = ada.data(DECISIONS_FOR_ME, json!({})).await["accessReviewDecisions"].clone();
    assert_eq!(mine["totalCount"], json!(3));
    let items = mine["nodes"].as_array().unwrap().clone();
    let item = |user: &str| items.iter().find(|i| i["principalId"] == json!(user)).unwrap()["id"].clone();
    for i in &items {
        assert_eq!(i["reviewers"][0]["id"], json!("u-ada"));
        assert!(text(&i["reviewers"][0]["via"]).contains("manager of"));
        // They signed in to request a day ago.
        assert_eq!(i["recommendation"], json!("Approve"), "{i}");
        assert!(text(&i["recommendationReason"]).contains("within the last 30 days"));
    }

    // Bad input changes nothing: not a reviewer, no justification.
    let bob = server.as_user("u-bob");
    bob.refused(
        RECORD,
        json!({ "d": decision(&item("u-dan"), "Deny", Some("no")) }),
        "FORBIDDEN",
        Some("decisions[0].id"),
    )
    .await;
    ada.refused(
        RECORD,
        json!({ "d": decision(&item("u-dan"), "Deny", None) }),
        "VALIDATION_FAILED",
        Some("decisions[0].justification"),
    )
    .await;

    // Ada approves Bob, denies Carol, changes her mind on Bob and back; Dan is not reviewed.
    let recorded = ada.data(RECORD, json!({ "d": decision(&item("u-bob"), "Deny", Some("unsure")) })).await;
    assert_eq!(recorded["recordAccessReviewDecisions"]["decisions"][0]["reviewedById"], json!("u-ada"));
    let both = json!([
        { "id": item("u-bob"), "decision": "Approve", "justification": "still on Falcon" },
        { "id": item("u-carol"), "decision": "Deny", "justification": "moved to Sales" }
    ]);
    let recorded =
        ada.data(RECORD, json!({ "d": both })).await["recordAccessReviewDecisions"]["decisions"].clone();
    assert_eq!(
        (recorded[0]["decision"].clone(), recorded[1]["decision"].clone()),
        (json!("Approve"), json!("Deny"))
    );
    // Her list shows what she decided.
    let listed = ada.data(DECISIONS_FOR_ME, json!({})).await["accessReviewDecisions"]["nodes"].clone();
    let decided: Vec<(String, String)> =
        listed.as_array().unwrap().iter().map(|i| (text(&i["principalId"]), text(&i["decision"]))).collect();
    assert_eq!(
        decided,
        [
            ("u-bob".into(), "Approve".into()),
            ("u-carol".into(), "Deny".into()),
            ("u-dan".into(), "NotReviewed".into())
        ]
    );

    // A day before the end, Ada is reminded (Dan is left); at its end the results are applied:
    // Carol (denied) and Dan (nobody reviewed) lose access.
    advance(&ada, first + chrono::TimeDelta::days(13)).await;
    let mut kinds = Vec::new();
    while !kinds.contains(&"accessReview.endingSoon".to_owned()) {
        kinds.push(text(&ada_ws.next("reviews").await["events"]["event"]["kind"]));
    }
    assert_eq!(kinds.iter().filter(|k| *k == "accessReview.decisionRecorded").count(), 3, "{kinds:?}");
    ada_ws.close().await;
    advance(&ada, first + chrono::TimeDelta::days(14)).await;
    let ended = reviews(&ada, &policy).await;
    assert_eq!(ended[0]["status"], json!("Applied"));
    let results: Vec<(String, String, String)> = ended[0]["decisions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (text(&n["principalId"]), text(&n["decision"]), text(&n["applyResult"])))
        .collect();
    assert_eq!(
        results,
        [
            ("u-bob".into(), "Approve".into(), "AppliedSuccessfully".into()),
            ("u-carol".into(), "Deny".into(), "AppliedSuccessfully".into()),
            ("u-dan".into(), "NotReviewed".into(), "AppliedSuccessfully".into()),
        ]
    );
    assert_eq!(members(&ada, "g-team").await, ["u-bob"]);
    assert_eq!(ada.data(DECISIONS_FOR_ME, json!({})).await["accessReviewDecisions"]["totalCount"], json!(0));
    ada.refused(
        RECORD,
        json!({ "d": decision(&item("u-bob"), "Deny", Some("late")) }),
        "CONFLICT",
        Some("decisions[0].id"),
    )
    .await;
    // Every step is in the audit trail; Ada, the reviewer, was told of the start and of the
    // end's approach (she had Dan left to decide).
    let trail = ada
        .data(
            "query($s: String!) { auditEvents(filter: {subjectId: $s}) { nodes { kind reason } } }",
            json!({ "s": ended[0]["id"] }),
        )
        .await;
    let nodes = trail["auditEvents"]["nodes"].as_array().unwrap().clone();
    let mut kinds: Vec<String> = nodes.iter().map(|e| text(&e["kind"])).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "accessReview.applied",
            "accessReview.completed",
            "accessReview.decisionRecorded",
            "accessReview.decisionRecorded",
            "accessReview.decisionRecorded",
            "accessReview.endingSoon",
            "accessReview.started"
        ]
    );
    let ending = nodes.iter().find(|e| e["kind"] == json!("accessReview.endingSoon")).unwrap();
    assert!(text(&ending["reason"]).contains("ends at"), "{ending}");

    // The next quarter's review covers who still has access; Ada stops it early, which applies it.
    advance(&ada, first + chrono::TimeDelta::days(92)).await;
    let all = reviews(&ada, &policy).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["decisions"]["totalCount"], json!(1));
    let stopped = ada
        .data(
            "mutation($id: ID!) { stopAccessReviewInstance(input: {id: $id}) { accessReviewInstance { status stoppedDateTime } } }",
            json!({ "id": all[1]["id"] }),
        )
        .await["stopAccessReviewInstance"]["accessReviewInstance"]
        .clone();
    assert_eq!(stopped["status"], json!("Applied"));
    assert!(members(&ada, "g-team").await.is_empty(), "nobody reviewed Bob this time");
}

#[tokio::test]
async fn a_review_schedule_graph_does_not_allow_is_refused_with_its_path() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let ada = server.as_user("u-ada");
    let first = now(&ada).await + chrono::TimeDelta::days(1);
    let daily = json!({"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd", "startDate": "2026-01-01"}});
    let refused = reviewed_package(&ada, first, daily).await.unwrap_err();
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["code"], json!("VALIDATION_FAILED"), "{refused}");
    let paths: Vec<String> =
        error["extensions"]["problems"].as_array().unwrap().iter().map(|p| text(&p["path"])).collect();
    assert_eq!(paths, ["reviewSettings.schedule.recurrence.pattern"]);
}

/// Applying a review that stopped halfway (the process died after some removals) goes on where
/// it stopped: what was applied stays applied, an assignment already removed is recorded as
/// gone, and nothing is removed twice.
#[tokio::test]
async fn applying_again_after_a_crash_removes_nothing_twice() {
    use em_engine::review::{ApplyResult, ReviewStatus};
    use em_engine::timer::{Timer, TimerKind};

    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let ada = server.as_user("u-ada");
    let first = now(&ada).await + chrono::TimeDelta::days(1);
    let (package, policy) = reviewed_package(&ada, first, quarterly()).await.unwrap();
    request_as(&server, &package, &["u-bob", "u-carol"]).await;
    advance(&ada, first).await;
    let mine = ada.data(DECISIONS_FOR_ME, json!({})).await["accessReviewDecisions"]["nodes"].clone();
    let decisions: Vec<Value> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!({ "id": i["id"], "decision": "Deny", "justification": "project over" }))
        .collect();
    ada.data(RECORD, json!({ "d": decisions })).await;
    let end = first + chrono::TimeDelta::days(14);
    advance(&ada, end).await;
    assert!(members(&ada, "g-team").await.is_empty());

    // As if the process had died after removing Bob and Carol but before recording Carol's
    // result: the review is back to `Completed`, Carol's item to `New`, the end timer due again.
    let store = &server.services.store;
    let instance = store.access_review(&text(&reviews(&ada, &policy).await[0]["id"])).await.unwrap().unwrap();
    let completed =
        em_engine::review::AccessReviewInstance { status: ReviewStatus::Completed, ..instance.clone() };
    store.update_review(&completed, ReviewStatus::Applied, &[], Vec::new()).await.unwrap();
    let page = em_api::store::PageRequest { after: None, first: 10, count: true };
    let items = store.review_items(&instance.id, &page).await.unwrap().items;
    let mut carol = items.into_iter().map(|(_, s)| s).find(|s| s.item.principal_id == "u-carol").unwrap();
    carol.item.apply_result = ApplyResult::New;
    carol.item.applied_date_time = None;
    store.mark_items_applied(std::slice::from_ref(&carol)).await.unwrap();
    let policy_id = em_engine::id::PolicyId::new(policy.replace("AccessPackageAssignmentPolicy:", ""));
    let timers = store.review_timers(&policy_id).await.unwrap();
    let mut again = timers.clone();
    again.push(Timer::new(end, TimerKind::ReviewEnd { occurrence: 0 }));
    store.set_review_timers(&policy_id, &timers, &again, Vec::new()).await.unwrap();

    advance(&ada, end + chrono::TimeDelta::hours(1)).await;
    let after = reviews(&ada, &policy).await;
    assert_eq!(after[0]["status"], json!("Applied"));
    let results: Vec<(String, String)> = after[0]["decisions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (text(&n["principalId"]), text(&n["applyResult"])))
        .collect();
    assert_eq!(
        results,
        [
            ("u-bob".into(), "AppliedSuccessfully".into()),
            ("u-carol".into(), "AppliedSuccessfullyButObjectNotFound".into())
        ]
    );
    let removals =
        ada.data("{ assignmentRequests(first: 50) { nodes { requestType targetId } } }", json!({})).await;
    let carol_removals = removals["assignmentRequests"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["requestType"] == json!("systemRemove") && r["targetId"] == json!("u-carol"))
        .count();
    assert_eq!(carol_removals, 1, "Carol's access was removed once");
}

/// A policy saved just before the process stopped, before its review timers were written, gets
/// them at the next start.
#[tokio::test]
async fn missing_review_timers_are_repaired_at_start() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let ada = server.as_user("u-ada");
    let first = now(&ada).await + chrono::TimeDelta::days(1);
    let (_, policy) = reviewed_package(&ada, first, quarterly()).await.unwrap();
    let store = &server.services.store;
    let policy_id = em_engine::id::PolicyId::new(policy.replace("AccessPackageAssignmentPolicy:", ""));
    let timers = store.review_timers(&policy_id).await.unwrap();
    assert_eq!(timers.len(), 1, "the first review's start");
    store.set_review_timers(&policy_id, &timers, &[], Vec::new()).await.unwrap();
    assert_eq!(server.services.repair_review_schedules().await.unwrap(), 1);
    assert_eq!(store.review_timers(&policy_id).await.unwrap(), timers);
    assert_eq!(server.services.repair_review_schedules().await.unwrap(), 0, "nothing left to repair");
    advance(&ada, first).await;
    assert_eq!(reviews(&ada, &policy).await.len(), 1, "and the review starts on time");
}

/// An administrator extends an assignment (`adminUpdate`) where the policy does not let its
/// holder ask: the access runs the policy's duration again from now.
#[tokio::test]
async fn an_administrator_extends_what_the_holder_may_not() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let ada = server.as_user("u-ada");
    let start = now(&ada).await;
    let catalog = ada.create_catalog("Tools").await;
    let team = ada.add_resource(&catalog, "AadGroup", "g-team").await;
    let package = ada.create_package(&catalog, "Falcon").await;
    ada.add_role_scope(&package, &text(&team["id"]), "Member_g-team").await;
    let policy = json!({
        "displayName": "Thirty days", "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": false},
        "expiration": {"type": "afterDuration", "duration": "P30D"}
    });
    let policy_id = crate::external::create_policy(&ada, &package, policy).await;
    let bob = server.as_user("u-bob");
    let request = "mutation($input: CreateAssignmentRequestInput!) { createAssignmentRequest(input: $input) {
        assignmentRequest { state assignment { id endDateTime } } } }";
    let got = bob.data(request, json!({ "input": { "accessPackageId": package } })).await["createAssignmentRequest"]
        ["assignmentRequest"]["assignment"]
        .clone();
    let assignment = got["id"].clone();
    let extend = |kind: &str| {
        json!({ "input": { "requestType": kind, "accessPackageId": package, "assignmentId": assignment,
                           "assignmentPolicyId": policy_id, "targetId": "User:u-bob" } })
    };
    bob.refused(request, extend("userUpdate"), "FORBIDDEN", Some("requestType")).await;
    advance(&ada, start + chrono::TimeDelta::days(20)).await;
    let extended =
        ada.data(request, extend("adminUpdate")).await["createAssignmentRequest"]["assignmentRequest"]
            .clone();
    assert_eq!(extended["state"], json!("delivered"), "{extended}");
    let end =
        chrono::DateTime::parse_from_rfc3339(&text(&extended["assignment"]["endDateTime"])).unwrap().to_utc();
    assert_eq!(end, start + chrono::TimeDelta::days(50), "30 days from the extension");
    advance(&ada, start + chrono::TimeDelta::days(31)).await;
    assert_eq!(members(&ada, "g-team").await, ["u-bob"], "still a member past the first end");
}

#[tokio::test]
async fn a_reviewer_outside_the_catalog_reads_their_review_and_what_it_reviews_and_nobody_else_does() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let (ada, carol, dan) = (server.as_user("u-ada"), server.as_user("u-carol"), server.as_user("u-dan"));
    let first = now(&ada).await + chrono::TimeDelta::days(1);
    let (package, policy) = reviewed_package(&ada, first, quarterly()).await.unwrap();
    // Carol reviews everything assignment of the package, and holds no role in its catalog.
    let mut settings = ada
        .data(
            "query($p: ID!) { assignmentPolicy(id: $p) { reviewSettings { isEnabled } } }",
            json!({ "p": policy }),
        )
        .await;
    assert_eq!(settings["assignmentPolicy"]["reviewSettings"]["isEnabled"], json!(true));
    settings = json!({
        "displayName": "Members, reviewed by Carol",
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "reviewSettings": {
            "isEnabled": true, "isReviewerJustificationRequired": false,
            "schedule": {"startDateTime": first.to_rfc3339(), "expiration": {"type": "afterDuration", "duration": "P14D"},
                         "recurrence": quarterly()},
            "primaryReviewers": [{"type": "requestorManager", "managerLevel": 1}],
            "fallbackReviewers": [{"type": "singleUser", "userId": "u-carol"}]
        }
    });
    ada.data(
        "mutation($id: ID!, $policy: AccessPackageAssignmentPolicyInput!) {
           updateAssignmentPolicy(input: {id: $id, policy: $policy}) { assignmentPolicy { id } } }",
        json!({ "id": policy, "policy": settings }),
    )
    .await;
    // Ada, who has no manager, is Carol's to review; Bob is his manager Ada's.
    request_as(&server, &package, &["u-ada", "u-bob"]).await;
    advance(&ada, first).await;

    let mine = carol
        .data(
            "{ accessReviewDecisions(filterByCurrentUser: reviewer) { nodes { id accessReviewId
                 resource { id displayName type } } } }",
            json!({}),
        )
        .await["accessReviewDecisions"]["nodes"]
        .clone();
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");
    assert_eq!(
        mine[0]["resource"],
        json!({ "id": format!("AccessPackage:{}", package.rsplit(':').next().unwrap()), "displayName": "Falcon", "type": "accessPackage" })
    );
    let review = "query($id: ID!) { accessReviewInstance(id: $id) { status endDateTime
        decisions { totalCount nodes { principalId } } } }";
    let id = json!({ "id": mine[0]["accessReviewId"] });
    let seen = carol.data(review, id.clone()).await["accessReviewInstance"].clone();
    assert_eq!(seen["status"], json!("InProgress"), "{seen}");
    assert!(seen["endDateTime"].is_string(), "{seen}");
    // She sees her own items of it, not the others'; Ada, who reads the catalog, sees all.
    assert_eq!(seen["decisions"], json!({ "totalCount": 1, "nodes": [{ "principalId": "u-ada" }] }));
    let all = ada.data(review, id.clone()).await["accessReviewInstance"]["decisions"]["totalCount"].clone();
    assert_eq!(all, json!(2));
    // Dan, no reviewer, does not see the review.
    assert_eq!(dan.data(review, id.clone()).await["accessReviewInstance"], Value::Null);

    // Having decided, she still reads the review she took part in while it is open.
    carol.data(RECORD, json!({ "d": decision(&mine[0]["id"], "Approve", None) })).await;
    assert_eq!(carol.data(review, id.clone()).await["accessReviewInstance"]["status"], json!("InProgress"));
    // Once the review ends, it is no longer hers to read.
    let ends = chrono::DateTime::parse_from_rfc3339(seen["endDateTime"].as_str().unwrap()).unwrap();
    advance(&ada, ends.with_timezone(&chrono::Utc) + chrono::TimeDelta::hours(1)).await;
    assert_eq!(carol.data(review, id.clone()).await["accessReviewInstance"], Value::Null);
}
