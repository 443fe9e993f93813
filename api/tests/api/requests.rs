//! Requests, approvals and assignments through GraphQL over HTTP and WebSocket: seed scenario 2
//! for internal users end to end (a policy with the project owner as approver and a required
//! question, a request with a justification, the approver's live notification, the approval,
//! the grants in the directory, and their removal when the clock passes the end date).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, TestServer, directory, pluck, text};
use crate::ws::Ws;

pub const REQUEST_FIELDS: &str = "id requestType state status justification createdDateTime completedDateTime
    requestorId targetId answers { questionId value displayValue }
    accessPackage { id } assignment { id state status deliveredResourceRoles { type objectId roleId } }
    approval { id stages { id displayName reviewResult status assignedToMe assignedTo justification
      primaryApprovers { approvers { id via } notes usedFallback } reviewedBy { id } } }
    explanation { policyReason priority log { text } }";

pub fn submit_query() -> String {
    format!(
        "mutation($input: CreateAssignmentRequestInput!) {{
           createAssignmentRequest(input: $input) {{ assignmentRequest {{ {REQUEST_FIELDS} }} }} }}"
    )
}

pub fn decide_query() -> String {
    format!(
        "mutation($input: UpdateApprovalStageInput!) {{
           updateApprovalStage(input: $input) {{ assignmentRequest {{ {REQUEST_FIELDS} }} }} }}"
    )
}

const APPROVALS: &str = "subscription { approvalStageChanges { cursor kind stageId reason
    assignmentRequest { id justification state answers { value } target { id displayName } } } }";

const ACTIVITY: &str =
    "subscription($filter: AssignmentActivityFilter) { assignmentActivity(filter: $filter) {
    cursor kind reason assignmentRequest { id state status } assignment { id state status } } }";

/// The fixture directory with Ada as Global Administrator.
pub fn directory_with_admin() -> Value {
    let mut d = directory();
    for role in d["directoryRoles"].as_array_mut().unwrap() {
        if role["id"] == "role-ga" {
            role["members"] = json!([{"id": "u-ada"}]);
        }
    }
    d
}

/// Scenario 2's package: the ERP catalog with the project team (members), the HR site's readers
/// role and the Helpdesk Administrator role as an eligible assignment. Returns `(catalog, package)`.
pub async fn erp_package(admin: &Api) -> (String, String) {
    let catalog = admin.create_catalog("ERP project").await;
    let team = admin.add_resource(&catalog, "AadGroup", "g-team").await;
    let site = admin.add_resource(&catalog, "SharePointOnline", "site-hr").await;
    let role = admin.add_resource(&catalog, "DirectoryRole", "role-helpdesk").await;
    let package = admin.create_package(&catalog, "ERP project access").await;
    admin.add_role_scope(&package, &text(&team["id"]), &format!("Member_{}", "g-team")).await;
    admin.add_role_scope(&package, &text(&site["id"]), "7").await;
    admin.add_role_scope(&package, &text(&role["id"]), "Eligible").await;
    (catalog, package)
}

/// The internal users' policy: any member user requests, the project owner (Carol) approves,
/// the project role is a required question, access ends at `end`.
pub fn internal_policy(end: &str) -> Value {
    json!({
        "displayName": "Internal project members",
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {
            "isApprovalRequiredForAdd": true,
            "isRequestorJustificationRequired": true,
            "stages": [{"durationBeforeAutomaticDenial": "P14D",
                        "primaryApprovers": [{"type": "singleUser", "userId": "u-carol"}]}]
        },
        "questions": [{"type": "accessPackageTextInputQuestion", "id": "q-role", "text": "Your project role?",
                       "isRequired": true, "isSingleLineQuestion": true}],
        "expiration": {"type": "afterDateTime", "endDateTime": end}
    })
}

pub async fn create_policy(admin: &Api, package: &str, policy: Value) -> String {
    let data = admin
        .data(
            "mutation($input: CreateAssignmentPolicyInput!) {
               createAssignmentPolicy(input: $input) { assignmentPolicy { id } } }",
            json!({ "input": { "accessPackageId": package, "policy": policy } }),
        )
        .await;
    text(&data["createAssignmentPolicy"]["assignmentPolicy"]["id"])
}

/// A socket signed in as the holder of `api`'s token.
pub async fn socket(server: &TestServer, api: &Api) -> Ws {
    let token = api.bearer.clone().expect("the client has a token");
    Ws::connected(&server.base, json!({ "Authorization": format!("Bearer {token}") })).await
}

pub async fn members(api: &Api, group: &str) -> Vec<String> {
    let data = api
        .data(
            "query($g: ID!) { group(id: $g) { members { ... on User { objectId } } } }",
            json!({ "g": group }),
        )
        .await;
    pluck(&data["group"]["members"], "objectId")
}

#[tokio::test]
async fn scenario_2_internal_users_request_are_approved_live_and_lose_access_at_the_end_date() {
    let server = TestServer::with_auth_on(directory_with_admin(), true).await;
    let (ada, carol, dan) = (server.as_user("u-ada"), server.as_user("u-carol"), server.as_user("u-dan"));
    let now = ada.data("{ clock { now isVirtual } }", json!({})).await["clock"].clone();
    assert_eq!(now["isVirtual"], json!(true));
    let start = chrono::DateTime::parse_from_rfc3339(&text(&now["now"])).unwrap().to_utc();
    let end = (start + chrono::TimeDelta::days(90)).to_rfc3339();
    let (catalog, package) = erp_package(&ada).await;
    create_policy(&ada, &package, internal_policy(&end)).await;

    // The approver and the requestor listen before anything happens.
    let mut carol_ws = socket(&server, &carol).await;
    carol_ws.subscribe("approvals", APPROVALS, json!({})).await;
    let mut dan_ws = socket(&server, &dan).await;
    dan_ws.subscribe("mine", ACTIVITY, json!({})).await;
    let mut ada_ws = socket(&server, &ada).await;
    ada_ws.subscribe("catalog", ACTIVITY, json!({ "filter": { "catalogId": catalog } })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let input = json!({
        "accessPackageId": package,
        "justification": "I run the ERP data migration",
        "answers": [{"questionId": "q-role", "value": "Data migration lead"}]
    });
    let request = dan.data(&submit_query(), json!({ "input": input })).await["createAssignmentRequest"]
        ["assignmentRequest"]
        .clone();
    assert_eq!(
        (text(&request["state"]), text(&request["status"])),
        ("pendingApproval".into(), "PendingApproval".into())
    );
    assert_eq!(request["requestType"], json!("userAdd"));
    let stage = &request["approval"]["stages"][0];
    assert_eq!(stage["assignedTo"], json!(["u-carol"]));
    assert_eq!(stage["primaryApprovers"]["approvers"][0]["via"], json!("named as `singleUser`"));
    assert!(text(&request["explanation"]["policyReason"]).contains("Internal project members"));

    // Carol is told at once, with the justification and the answer.
    let told = carol_ws.next("approvals").await["approvalStageChanges"].clone();
    assert_eq!(told["kind"], json!("assigned"));
    assert_eq!(told["assignmentRequest"]["justification"], json!("I run the ERP data migration"));
    assert_eq!(told["assignmentRequest"]["answers"][0]["value"], json!("Data migration lead"));
    assert_eq!(told["assignmentRequest"]["target"]["displayName"], json!("Dan Brown"));

    // She finds it in her approvals list and approves.
    let pending = carol
        .data(
            "{ assignmentRequests(filterByCurrentUser: approver) { totalCount nodes { id justification } } }",
            json!({}),
        )
        .await;
    assert_eq!(pending["assignmentRequests"]["totalCount"], json!(1));
    let decided = carol
        .data(
            &decide_query(),
            json!({ "input": { "approvalId": request["id"], "reviewResult": "Approve",
                              "justification": "Welcome aboard" } }),
        )
        .await["updateApprovalStage"]["assignmentRequest"]
        .clone();
    assert_eq!((text(&decided["state"]), text(&decided["status"])), ("delivered".into(), "Delivered".into()));
    let assignment = &decided["assignment"];
    assert_eq!(assignment["state"], json!("delivered"));
    let mut roles = pluck(&assignment["deliveredResourceRoles"], "type");
    roles.sort();
    assert_eq!(roles, ["directoryRoleEligible", "groupMember", "siteRole"]);
    let removed = carol_ws.next("approvals").await["approvalStageChanges"].clone();
    assert_eq!(removed["kind"], json!("removed"));
    carol_ws.close().await;

    // The directory shows Dan in the team; his assignment is his to see.
    assert!(members(&ada, "g-team").await.contains(&"u-dan".to_owned()));
    let mine = dan
        .data(
            "{ assignments(filterByCurrentUser: true) { totalCount nodes { id state status endDateTime
                 deliveredResourceRoles { type objectId roleId } accessPackage { displayName } } } }",
            json!({}),
        )
        .await;
    assert_eq!(mine["assignments"]["totalCount"], json!(1));
    // The approval's answer showed the assignment as it is stored.
    let stored = &mine["assignments"]["nodes"][0];
    for field in ["id", "state", "status", "deliveredResourceRoles"] {
        assert_eq!(stored[field], assignment[field], "{field}");
    }

    // Dan saw every step of his request; the administrator saw the catalog's activity.
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        kinds.push(text(&dan_ws.next("mine").await["assignmentActivity"]["kind"]));
    }
    assert_eq!(kinds, ["assignmentRequest.created", "assignment.created", "assignmentRequest.stateChanged"]);
    let first = ada_ws.next("catalog").await["assignmentActivity"].clone();
    assert_eq!(first["kind"], json!("assignmentRequest.created"));

    // When the clock passes the end date, the assignment expires and the access goes.
    let moved = ada
        .data(
            "mutation($to: DateTime!) { advanceClock(input: {to: $to}) { now firedTimers } }",
            json!({ "to": (start + chrono::TimeDelta::days(91)).to_rfc3339() }),
        )
        .await;
    assert_eq!(
        moved["advanceClock"]["firedTimers"],
        json!(3),
        "the reminder 14 days before, the day-before notice, then the end"
    );
    // Dan was reminded 14 days and a day before the end, on his subscription.
    let mut heard = Vec::new();
    while heard.len() < 5 {
        heard.push(text(&dan_ws.next("mine").await["assignmentActivity"]["kind"]));
    }
    assert_eq!(
        heard,
        [
            "assignment.updated",
            "assignment.expiryReminder",
            "assignment.stateChanged",
            "assignment.expiryReminder",
            "assignment.stateChanged"
        ]
    );
    assert!(!members(&ada, "g-team").await.contains(&"u-dan".to_owned()));
    let after = dan
        .data(
            "query($id: ID!) { assignment(id: $id) { state status expiredDateTime } }",
            json!({ "id": assignment["id"] }),
        )
        .await;
    assert_eq!(after["assignment"]["state"], json!("expired"));
    dan_ws.close().await;
    ada_ws.close().await;
}

/// A policy anyone in the directory requests through, without approval.
fn open_policy() -> Value {
    json!({
        "displayName": "Open",
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true, "enableTargetsToSelfRemoveAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": false}
    })
}

async fn request_for_me(api: &Api, package: &str) -> Value {
    let input = json!({ "accessPackageId": package });
    api.data(&submit_query(), json!({ "input": input })).await["createAssignmentRequest"]["assignmentRequest"]
        .clone()
}

#[tokio::test]
async fn changing_a_packages_roles_changes_what_its_assignees_hold() {
    let server = TestServer::with_auth(directory_with_admin()).await;
    let (ada, dan) = (server.as_user("u-ada"), server.as_user("u-dan"));
    let catalog = ada.create_catalog("Tools").await;
    let team = ada.add_resource(&catalog, "AadGroup", "g-team").await;
    let app = ada.add_resource(&catalog, "AadApplication", "app-sf").await;
    let package = ada.create_package(&catalog, "Toolbox").await;
    let scope = ada.add_role_scope(&package, &text(&team["id"]), "Member_g-team").await;
    create_policy(&ada, &package, open_policy()).await;
    let request = request_for_me(&dan, &package).await;
    assert_eq!(request["state"], json!("delivered"));
    assert!(members(&ada, "g-team").await.contains(&"u-dan".to_owned()));

    ada.add_role_scope(&package, &text(&app["id"]), "r-sf-user").await;
    let read = "query($id: ID!) { assignment(id: $id) { deliveredResourceRoles { type roleId } } }";
    let id = json!({ "id": request["assignment"]["id"] });
    let roles = dan.data(read, id.clone()).await["assignment"]["deliveredResourceRoles"].clone();
    assert_eq!(
        roles,
        json!([{"type": "groupMember", "roleId": null}, {"type": "appRole", "roleId": "r-sf-user"}])
    );

    ada.data(
        "mutation($p: ID!, $s: ID!) { removeAccessPackageResourceRoleScope(
             input: {accessPackageId: $p, resourceRoleScopeId: $s}) { accessPackage { id } } }",
        json!({ "p": package, "s": scope["id"] }),
    )
    .await;
    assert!(!members(&ada, "g-team").await.contains(&"u-dan".to_owned()));
    let roles = dan.data(read, id).await["assignment"]["deliveredResourceRoles"].clone();
    assert_eq!(roles, json!([{"type": "appRole", "roleId": "r-sf-user"}]));
}

#[tokio::test]
async fn additional_access_lists_the_violations_that_exist() {
    let server = TestServer::with_auth(directory_with_admin()).await;
    let (ada, dan) = (server.as_user("u-ada"), server.as_user("u-dan"));
    let catalog = ada.create_catalog("Finance").await;
    let payables = ada.create_package(&catalog, "Payables").await;
    let receivables = ada.create_package(&catalog, "Receivables").await;
    create_policy(&ada, &payables, open_policy()).await;
    create_policy(&ada, &receivables, open_policy()).await;
    request_for_me(&dan, &payables).await;
    request_for_me(&dan, &receivables).await;
    ada.data(
        "mutation($a: ID!, $b: ID!) { addIncompatibleAccessPackage(
             input: {accessPackageId: $a, incompatibleAccessPackageId: $b}) { accessPackage { id } } }",
        json!({ "a": payables, "b": receivables }),
    )
    .await;
    let query = "query($p: ID!) { additionalAccess(accessPackageId: $p) { reason assignment { targetId } } }";
    for package in [&payables, &receivables] {
        let found = ada.data(query, json!({ "p": package })).await["additionalAccess"].clone();
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
        assert_eq!(found[0]["assignment"]["targetId"], json!("u-dan"));
        assert!(text(&found[0]["reason"]).contains("incompatible access package"));
    }
    dan.refused(query, json!({ "p": payables }), "FORBIDDEN", None).await;
}
