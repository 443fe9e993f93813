//! Auto-assignment policies through GraphQL: seed scenario 1 (EMEA sales get the EMEA package
//! the moment they match, a user moved to AMER loses it after the grace period and gets the
//! AMER one, no one ever holds both), the what-if of a proposed rule, exclusions for separation
//! of duties, and reconciliation that changes nothing when run twice.

use serde_json::{Value, json};

use crate::requests::{create_policy, directory_with_admin};
use crate::support::{Api, TestServer, pluck, text};

/// An auto-assignment policy selecting by `rule`, removing after `grace`.
pub fn automatic(name: &str, rule: &str, grace: &str) -> Value {
    json!({
        "displayName": name,
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "attributeRuleMembers", "membershipRule": rule}],
        "automaticRequestSettings": {"requestAccessForAllowedTargets": true,
                                     "removeAccessWhenTargetLeavesAllowedTargets": true,
                                     "gracePeriodBeforeAccessRemoval": grace}
    })
}

const EMEA: &str =
    r#"user.department -eq "Sales" -and user.country -in ["Germany", "France", "United Kingdom"]"#;
const AMER: &str = r#"user.department -eq "Sales" -and user.country -in ["United States", "Canada"]"#;

/// The package names `user` holds, sorted.
async fn held(admin: &Api, user: &str) -> Vec<String> {
    let data = admin
        .data(
            "query($u: ID!) { assignments(filter: {targetId: $u}) { nodes { accessPackage { displayName } } } }",
            json!({ "u": user }),
        )
        .await;
    let mut names: Vec<String> = data["assignments"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| text(&n["accessPackage"]["displayName"]))
        .collect();
    names.sort();
    names
}

async fn members(api: &Api, group: &str) -> Vec<String> {
    let data = api
        .data(
            "query($g: ID!) { group(id: $g) { members { ... on User { objectId } } } }",
            json!({ "g": group }),
        )
        .await;
    pluck(&data["group"]["members"], "objectId")
}

async fn move_to(admin: &Api, user: &str, country: &str) {
    admin
        .data(
            "mutation($u: ID!, $c: String!) { updateUser(input: {id: $u, country: $c}) { user { id } } }",
            json!({ "u": user, "c": country }),
        )
        .await;
}

#[tokio::test]
async fn scenario_1_emea_sales_are_assigned_automatically_and_never_overlap_with_amer() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let ada = server.as_user("u-ada");
    let catalog = ada.create_catalog("Sales").await;
    let team = ada.add_resource(&catalog, "AadGroup", "g-team").await;
    let emea = ada.create_package(&catalog, "EMEA sales").await;
    let amer = ada.create_package(&catalog, "AMER sales").await;
    ada.add_role_scope(&emea, &text(&team["id"]), "Member_g-team").await;
    ada.data(
        "mutation($a: ID!, $b: ID!) { addIncompatibleAccessPackage(
             input: {accessPackageId: $a, incompatibleAccessPackageId: $b}) { accessPackage { id } } }",
        json!({ "a": emea, "b": amer }),
    )
    .await;

    // Before saving, the what-if shows who would get EMEA: Bob and Carol (Sales, Germany).
    let what_if = ada
        .data(
            "query($p: ID!, $r: String!) { autoAssignmentWhatIf(accessPackageId: $p, rule: $r) { matchingCount gain lose } }",
            json!({ "p": emea, "r": EMEA }),
        )
        .await["autoAssignmentWhatIf"]
        .clone();
    assert_eq!(what_if, json!({ "matchingCount": 2, "gain": ["u-bob", "u-carol"], "lose": [] }));

    create_policy(&ada, &emea, automatic("EMEA sales", EMEA, "P7D")).await;
    let amer_policy = create_policy(&ada, &amer, automatic("AMER sales", AMER, "PT0S")).await;
    assert_eq!(held(&ada, "u-carol").await, ["EMEA sales"]);
    assert!(members(&ada, "g-team").await.contains(&"u-carol".to_owned()));

    // A new EMEA sales person is assigned the moment they exist.
    ada.data(
        "mutation { createUser(input: {objectId: \"u-gerhart\", displayName: \"Gerhart Moller\",
             userPrincipalName: \"gerhart@contoso.com\", department: \"Sales\", country: \"Germany\"}) { user { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(held(&ada, "u-gerhart").await, ["EMEA sales"]);

    // Carol moves to the United States: she keeps EMEA for the grace period, and AMER waits,
    // excluded because EMEA is incompatible.
    move_to(&ada, "u-carol", "United States").await;
    assert_eq!(held(&ada, "u-carol").await, ["EMEA sales"]);
    let exclusions = ada
        .data(
            "query($p: ID!) { autoAssignmentExclusions(policyId: $p) { userId reason } }",
            json!({ "p": amer_policy }),
        )
        .await["autoAssignmentExclusions"]
        .clone();
    assert_eq!(exclusions[0]["userId"], json!("u-carol"));
    assert!(text(&exclusions[0]["reason"]).contains("incompatible"), "{exclusions}");

    // After the grace period she loses EMEA (and the team) and gets AMER; never both.
    let moved = ada.data("mutation { advanceClock(input: {by: \"P8D\"}) { firedTimers } }", json!({})).await;
    assert_eq!(moved["advanceClock"]["firedTimers"], json!(1));
    assert_eq!(held(&ada, "u-carol").await, ["AMER sales"]);
    assert!(!members(&ada, "g-team").await.contains(&"u-carol".to_owned()));
    let exclusions = ada
        .data(
            "query($p: ID!) { autoAssignmentExclusions(policyId: $p) { userId } }",
            json!({ "p": amer_policy }),
        )
        .await;
    assert_eq!(exclusions["autoAssignmentExclusions"], json!([]));

    // Reconciling changes nothing: everything is already as the rules say.
    let reconcile = "mutation { reconcileAutoAssignments { assigned removalsScheduled removed removalsCanceled excluded } }";
    let outcome = ada.data(reconcile, json!({})).await["reconcileAutoAssignments"].clone();
    assert_eq!(
        outcome,
        json!({"assigned": 0, "removalsScheduled": 0, "removed": 0, "removalsCanceled": 0, "excluded": 0})
    );
}

/// A deleted user's automatic assignment ends (after the grace period), although the user the
/// removal is for no longer exists.
#[tokio::test]
async fn a_deleted_users_automatic_access_is_removed() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let ada = server.as_user("u-ada");
    let catalog = ada.create_catalog("Sales").await;
    let emea = ada.create_package(&catalog, "EMEA sales").await;
    create_policy(&ada, &emea, automatic("EMEA sales", EMEA, "P7D")).await;
    assert_eq!(held(&ada, "u-carol").await, ["EMEA sales"]);
    ada.data("mutation { deleteUser(input: {id: \"u-carol\"}) { deletedId } }", json!({})).await;
    let later = ada.data("mutation { advanceClock(input: {by: \"P8D\"}) { firedTimers } }", json!({})).await;
    assert_eq!(later["advanceClock"]["firedTimers"], json!(1), "the removal at the end of the grace period");
    assert!(held(&ada, "u-carol").await.is_empty());
}

#[tokio::test]
async fn a_user_who_comes_back_during_the_grace_period_keeps_the_access() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let ada = server.as_user("u-ada");
    let catalog = ada.create_catalog("Sales").await;
    let emea = ada.create_package(&catalog, "EMEA sales").await;
    create_policy(&ada, &emea, automatic("EMEA sales", EMEA, "P7D")).await;
    move_to(&ada, "u-carol", "Canada").await;
    ada.data("mutation { advanceClock(input: {by: \"P3D\"}) { firedTimers } }", json!({})).await;
    move_to(&ada, "u-carol", "France").await;
    let moved = ada.data("mutation { advanceClock(input: {by: \"P10D\"}) { firedTimers } }", json!({})).await;
    assert_eq!(moved["advanceClock"]["firedTimers"], json!(0), "the removal was called off");
    assert_eq!(held(&ada, "u-carol").await, ["EMEA sales"]);
}

#[tokio::test]
async fn auto_assignment_needs_an_administrator_and_a_valid_rule() {
    let server = TestServer::with_auth(directory_with_admin()).await;
    let (ada, bob) = (server.as_user("u-ada"), server.as_user("u-bob"));
    let catalog = ada.create_catalog("Sales").await;
    let emea = ada.create_package(&catalog, "EMEA sales").await;
    let query = "query($p: ID!, $r: String!) { autoAssignmentWhatIf(accessPackageId: $p, rule: $r) { matchingCount } }";
    bob.refused(query, json!({ "p": emea, "r": EMEA }), "FORBIDDEN", None).await;
    ada.refused(query, json!({ "p": emea, "r": "user.department -eq" }), "VALIDATION_FAILED", Some("rule"))
        .await;
    bob.refused("mutation { reconcileAutoAssignments { assigned } }", json!({}), "FORBIDDEN", None).await;
}

/// The first population of a policy runs on a task of its own: an administrator whose client
/// gives up before it ends (a proxy's timeout, a closed laptop) does not stop it halfway.
#[tokio::test]
async fn a_first_population_goes_on_when_the_client_hangs_up() {
    const MEGAN: &str = "00000000-0000-0000-0000-0000000000a3";
    let server = TestServer::demo().await;
    let megan = server.as_user(MEGAN);
    let catalog = megan.create_catalog("Everyone in Sales").await;
    let package = megan.create_package(&catalog, "Sales, automatically").await;
    // The client's connection is open and Megan known to the server before the mutation is
    // sent, so the mutation starts within the 50 ms the client waits, whatever the database.
    let impatient = reqwest::Client::new();
    let warm = impatient
        .post(megan.url("/graphql"))
        .bearer_auth(megan.bearer.clone().unwrap())
        .json(&json!({ "query": "{ catalogs(first: 1) { totalCount } }" }))
        .send()
        .await;
    assert!(warm.is_ok_and(|r| r.status() == 200), "the impatient client is served");
    let sending = impatient
        .post(megan.url("/graphql"))
        .bearer_auth(megan.bearer.clone().unwrap())
        .json(&json!({
            "query": "mutation($input: CreateAssignmentPolicyInput!) { createAssignmentPolicy(input: $input) { assignmentPolicy { id } } }",
            "variables": { "input": { "accessPackageId": package,
                                      "policy": automatic("Sales", r#"user.department -eq "Sales""#, "PT0S") } }
        }))
        .send();
    let sent = tokio::time::timeout(std::time::Duration::from_millis(50), sending).await;
    assert!(sent.is_err(), "the client hung up before the 760 people of Sales were assigned");
    // It goes on to the end: once the count stops moving, a reconciliation finds nothing to do.
    let (mut assigned, mut still) = (0, 0);
    for _ in 0..300 {
        let data = megan
            .data(
                "query($p: ID!) { assignments(filter: {accessPackageId: $p}) { totalCount } }",
                json!({ "p": package }),
            )
            .await;
        let now = data["assignments"]["totalCount"].as_u64().unwrap();
        still = if now == assigned && now > 0 { still + 1 } else { 0 };
        assigned = now;
        if still == 10 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(assigned > 700, "{assigned}");
    let repaired = megan.data("mutation { reconcileAutoAssignments { assigned } }", json!({})).await;
    assert_eq!(repaired["reconcileAutoAssignments"]["assigned"], json!(0), "nothing was left undone");
}

/// The ids, request types and targets of a listing of requests, in its order, walked a page of
/// `first` at a time.
async fn walk_requests(api: &Api, arguments: &str, first: usize) -> Vec<(String, String, String)> {
    let query = format!(
        "query($after: String) {{ assignmentRequests({arguments} first: {first}, after: $after) {{
             pageInfo {{ hasNextPage endCursor }} nodes {{ id requestType state target {{ objectId }} }} }} }}"
    );
    let (mut seen, mut after) = (Vec::new(), Value::Null);
    loop {
        let page = api.data(&query, json!({ "after": after })).await["assignmentRequests"].clone();
        for node in page["nodes"].as_array().unwrap() {
            seen.push((text(&node["id"]), text(&node["requestType"]), text(&node["target"]["objectId"])));
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return seen;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// The `systemAdd` requests of an auto-assignment policy (carried by their assignments in the
/// store) are read by id and listed like every other request: with the requests people make for
/// the same package, oldest first, page by page, by package, catalog and target, and counted;
/// the target sees theirs; a filter they cannot match leaves them out; and they stay when the
/// assignment they created ends.
#[tokio::test]
async fn an_automatic_assignments_requests_are_read_and_listed_as_any_request() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let (ada, bob, dan) = (server.as_user("u-ada"), server.as_user("u-bob"), server.as_user("u-dan"));
    let catalog = ada.create_catalog("Sales").await;
    let emea = ada.create_package(&catalog, "EMEA sales").await;
    create_policy(&ada, &emea, automatic("EMEA sales", EMEA, "PT0S")).await;
    create_policy(
        &ada,
        &emea,
        json!({ "displayName": "Anyone asks", "allowedTargetScope": "allMemberUsers",
                "requestorSettings": {"enableTargetsToSelfAddAccess": true} }),
    )
    .await;
    ada.data("mutation { advanceClock(input: {by: \"PT1M\"}) { firedTimers } }", json!({})).await;
    let asked = dan
        .data(
            "mutation($p: ID!) { createAssignmentRequest(input: {accessPackageId: $p}) { assignmentRequest { id } } }",
            json!({ "p": emea }),
        )
        .await;
    let dans = text(&asked["createAssignmentRequest"]["assignmentRequest"]["id"]);

    let listed = walk_requests(&ada, &format!("filter: {{accessPackageId: \"{emea}\"}},"), 1).await;
    // Bob's and Carol's were made at the same time, in an order of their ids.
    let mut kinds: Vec<(&str, &str)> =
        listed.iter().map(|(_, kind, target)| (kind.as_str(), target.as_str())).collect();
    kinds[..2].sort_unstable();
    assert_eq!(kinds, [("systemAdd", "u-bob"), ("systemAdd", "u-carol"), ("userAdd", "u-dan")], "{listed:?}");
    assert_eq!(listed[2].0, dans);
    assert_eq!(walk_requests(&ada, "", 2).await, listed, "every request, two at a time");
    assert_eq!(walk_requests(&ada, &format!("filter: {{catalogId: \"{catalog}\"}},"), 50).await, listed);
    let count = ada
        .data(
            "query($p: ID!) { assignmentRequests(filter: {accessPackageId: $p}) { totalCount } }",
            json!({ "p": emea }),
        )
        .await;
    assert_eq!(count["assignmentRequests"]["totalCount"], json!(3));
    let pending = walk_requests(&ada, "filter: {state: \"pendingApproval\"},", 50).await;
    assert!(pending.is_empty(), "{pending:?}");

    // By id, and as the target's own.
    let bobs = listed.iter().find(|r| r.2 == "u-bob").unwrap().0.clone();
    let read = ada
        .data(
            "query($id: ID!) { assignmentRequest(id: $id) { requestType state status target { objectId } accessPackage { id } } }",
            json!({ "id": bobs }),
        )
        .await["assignmentRequest"]
        .clone();
    assert_eq!(
        read,
        json!({ "requestType": "systemAdd", "state": "delivered", "status": "Delivered",
                "target": { "objectId": "u-bob" }, "accessPackage": { "id": emea } })
    );
    let mine = walk_requests(&bob, "filterByCurrentUser: target,", 50).await;
    assert_eq!(mine.iter().map(|r| &r.0).collect::<Vec<_>>(), [&bobs]);

    // Carol leaves the scope: her assignment ends by a `systemRemove`, her `systemAdd` stays.
    move_to(&ada, "u-carol", "Canada").await;
    ada.data("mutation { advanceClock(input: {by: \"PT1M\"}) { firedTimers } }", json!({})).await;
    assert!(held(&ada, "u-carol").await.is_empty());
    let after = walk_requests(&ada, "", 50).await;
    let carols: Vec<&str> = after.iter().filter(|r| r.2 == "u-carol").map(|r| r.1.as_str()).collect();
    assert_eq!(carols, ["systemAdd", "systemRemove"], "{after:?}");
    assert_eq!(after.len(), 4);
}
