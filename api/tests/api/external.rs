//! Seed scenario 2's external half end to end, over the demo directory and GraphQL: connected
//! partner organizations with their leads as external sponsors, the ERP Project catalog created
//! with its package, an external and an internal policy on it; a Fabrikam contractor who is not
//! in the directory signs in, requests, is approved live by the sponsors, becomes a guest with the
//! project's resources; someone from an unconnected tenant is refused; at the end date the
//! access ends, the guest is blocked and later deleted. Then the guest lifecycle's edges on the
//! small fixture directory: unblocking, one guest per person under races, proposed organizations.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::requests::{directory_with_admin, members, socket};
use crate::support::{Api, TestServer, advance_clock as advance, clock_now as now, text};

const MEGAN: &str = "00000000-0000-0000-0000-0000000000a3";
const CHRISTIE: &str = "00000000-0000-0000-0000-0000000000a2";
const NORA: &str = "00000000-0000-0000-0000-0000000000c1";
const TOMAS: &str = "00000000-0000-0000-0000-0000000000c2";
const MEI: &str = "00000000-0000-0000-0000-0000000000c3";
const ERP_TEAM: &str = "00000000-0000-0000-0001-000000000008";
const ERP_APPROVERS: &str = "00000000-0000-0000-0001-000000000009";
const ERP_SYSTEM: &str = "00000000-0000-0000-0002-000000000002";
const ERP_USER_ROLE: &str = "00000000-0000-0000-0002-000200000001";
const ERP_SITE: &str = "00000000-0000-0000-0003-000000000002";
const ERP_REVIEWER_ROLE: &str = "00000000-0000-0000-0004-000000000001";
const FABRIKAM_TENANT: &str = "4f1c2a3b-5d6e-4f70-8a91-b2c3d4e5f601";

const APPROVALS: &str = "subscription { approvalStageChanges { kind stageId
    assignmentRequest { id justification answers { value }
      requestorSubject { email displayName connectedOrganization { displayName } } } } }";

const REQUEST: &str = "mutation($input: CreateAssignmentRequestInput!) {
    createAssignmentRequest(input: $input) { assignmentRequest { id state status
      approval { stages { assignedTo primaryApprovers { approvers { id via } } } }
      requestorSubject { objectId email connectedOrganization { displayName } } } } }";

const DECIDE: &str = "mutation($input: UpdateApprovalStageInput!) {
    updateApprovalStage(input: $input) { assignmentRequest { id state status
      assignment { id state deliveredResourceRoles { type objectId roleId } }
      requestorSubject { objectId } } } }";

const GUEST: &str = "query($id: ID!) { user(id: $id) { objectId displayName userType accountEnabled
    creationType externalUserState mail userPrincipalName companyName
    sponsors { __typename ... on User { objectId } ... on Group { id } } } }";

/// Creates a policy from Graph's JSON body, as an administrator pastes it.
pub(crate) async fn create_policy(admin: &Api, package: &str, mut graph: Value) -> String {
    graph["accessPackage"] = json!({ "id": package });
    let data = admin
        .data(
            "mutation($input: CreateAssignmentPolicyInput!) {
               createAssignmentPolicy(input: $input) { assignmentPolicy { id } } }",
            json!({ "input": { "accessPackageId": package, "graphJson": graph } }),
        )
        .await;
    text(&data["createAssignmentPolicy"]["assignmentPolicy"]["id"])
}

/// The kinds of the guest lifecycle's events about `guest` in the audit trail, oldest first.
async fn guest_trail(admin: &Api, guest: &str) -> Vec<String> {
    let trail = admin
        .data(
            "query($s: String!) { auditEvents(filter: {subjectId: $s, kind: \"externalUser.\"}) { nodes { kind } } }",
            json!({ "s": guest }),
        )
        .await;
    trail["auditEvents"]["nodes"].as_array().unwrap().iter().map(|e| text(&e["kind"])).collect()
}

/// Connects a partner known by its domain (and tenant, when given), sponsored by its lead
/// (external) and `internal`. Returns its id.
async fn connect(
    admin: &Api,
    name: &str,
    domain: &str,
    tenant: Option<&str>,
    lead: &str,
    internal: &str,
) -> String {
    let mut sources = vec![json!({ "domainIdentitySource": { "domainName": domain } })];
    if let Some(tenant) = tenant {
        sources.push(json!({ "azureActiveDirectoryTenant": { "tenantId": tenant, "displayName": name } }));
    }
    let created = admin
        .data(
            "mutation($i: CreateConnectedOrganizationInput!) {
                createConnectedOrganization(input: $i) { connectedOrganization { id } } }",
            json!({ "i": { "displayName": name, "identitySources": sources } }),
        )
        .await;
    let id = text(&created["createConnectedOrganization"]["connectedOrganization"]["id"]);
    for (kind, sponsor) in [("EXTERNAL", lead), ("INTERNAL", internal)] {
        admin
            .data(
                "mutation($i: ConnectedOrganizationSponsorInput!) {
                    addConnectedOrganizationSponsor(input: $i) { connectedOrganization { id } } }",
                json!({ "i": { "connectedOrganizationId": id, "sponsorType": kind, "sponsorId": sponsor } }),
            )
            .await;
    }
    id
}

/// The external policy: users of configured connected organizations request, describe their
/// role, the external sponsor approves (ERP Project Approvers when there is none), then the
/// internal sponsors; access ends on `end` and may be extended.
fn external_policy(end: &str) -> Value {
    json!({
        "displayName": "Partner contractors",
        "allowedTargetScope": "allConfiguredConnectedOrganizationUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true, "enableTargetsToSelfUpdateAccess": true},
        "requestApprovalSettings": {
            "isApprovalRequiredForAdd": true,
            "isApprovalRequiredForUpdate": true,
            "stages": [
                {"durationBeforeAutomaticDenial": "P14D",
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.externalSponsors"}],
                 "fallbackPrimaryApprovers": [{"@odata.type": "#microsoft.graph.groupMembers", "groupId": ERP_APPROVERS}]},
                {"durationBeforeAutomaticDenial": "P14D",
                 "primaryApprovers": [{"@odata.type": "#microsoft.graph.internalSponsors"}],
                 "fallbackPrimaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": CHRISTIE}]}
            ]
        },
        "questions": [{"@odata.type": "#microsoft.graph.accessPackageTextInputQuestion", "id": "q-role",
                       "text": "Describe your role on the project", "isRequired": true, "isSingleLineQuestion": false}],
        "expiration": {"type": "afterDateTime", "endDateTime": end}
    })
}

/// The internal policy beside it: members request, Christie approves, no extension.
fn internal_policy(end: &str) -> Value {
    json!({
        "displayName": "Internal project members",
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {
            "isApprovalRequiredForAdd": true,
            "stages": [{"durationBeforeAutomaticDenial": "P14D",
                        "primaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": CHRISTIE}]}]
        },
        "expiration": {"type": "afterDateTime", "endDateTime": end}
    })
}

/// The ERP Project catalog, created with its package, holding the site's members role, the
/// team's membership, the ERP System's user role and the ERP Project Reviewer role as eligible.
async fn erp_project(admin: &Api) -> (String, String) {
    let created = admin
        .data(
            "mutation($i: CreateAccessPackageInput!) { createAccessPackage(input: $i) {
                accessPackage { id catalog { id isExternallyVisible } } } }",
            json!({ "i": { "newCatalog": { "displayName": "ERP Project", "isExternallyVisible": true },
                           "displayName": "ERP Project access" } }),
        )
        .await["createAccessPackage"]["accessPackage"]
        .clone();
    assert_eq!(created["catalog"]["isExternallyVisible"], json!(true));
    let (catalog, package) = (text(&created["catalog"]["id"]), text(&created["id"]));
    for (system, origin, role) in [
        ("SharePointOnline", ERP_SITE, "4".to_owned()),
        ("AadGroup", ERP_TEAM, format!("Member_{ERP_TEAM}")),
        ("AadApplication", ERP_SYSTEM, ERP_USER_ROLE.to_owned()),
        ("DirectoryRole", ERP_REVIEWER_ROLE, "Eligible".to_owned()),
    ] {
        let resource = admin.add_resource(&catalog, system, origin).await;
        admin.add_role_scope(&package, &text(&resource["id"]), &role).await;
    }
    (catalog, package)
}

#[tokio::test]
async fn seed_scenario_2_a_partners_contractor_signs_in_requests_and_becomes_a_guest_until_the_end_date() {
    let server = TestServer::demo_on(true).await;
    let megan = server.as_user(MEGAN);
    let start = now(&megan).await;
    let end = start + chrono::TimeDelta::days(120);
    connect(&megan, "Fabrikam", "fabrikam.com", Some(FABRIKAM_TENANT), NORA, ERP_APPROVERS).await;
    connect(&megan, "Litware", "litware.com", None, TOMAS, ERP_APPROVERS).await;
    connect(&megan, "Adatum", "adatum.com", None, MEI, ERP_APPROVERS).await;
    let (_, package) = erp_project(&megan).await;
    create_policy(&megan, &package, external_policy(&end.to_rfc3339())).await;
    create_policy(&megan, &package, internal_policy(&end.to_rfc3339())).await;

    // A Fabrikam contractor who is not in the directory signs in with Fabrikam's own identity
    // provider: they see the package and what requesting it takes.
    let nina = server.as_partner(FABRIKAM_TENANT, "nina-oid", "Nina.Novak@fabrikam.com", "Nina Novak");
    let me = nina
        .data("{ signedInSubject { objectId email connectedOrganization { displayName } } }", json!({}))
        .await;
    assert_eq!(
        me["signedInSubject"],
        json!({"objectId": null, "email": "nina.novak@fabrikam.com", "connectedOrganization": {"displayName": "Fabrikam"}})
    );
    let offered = nina.data("{ accessPackagesForMe { id displayName } }", json!({})).await;
    assert_eq!(offered["accessPackagesForMe"], json!([{"id": package, "displayName": "ERP Project access"}]));
    let requirements = nina
        .data(
            "query($id: ID!) { getApplicablePolicyRequirements(accessPackageId: $id) {
                policyDisplayName isApprovalRequiredForAdd questions { id text } } }",
            json!({ "id": package }),
        )
        .await["getApplicablePolicyRequirements"]
        .clone();
    assert_eq!(requirements.as_array().map(Vec::len), Some(1), "only the external policy: {requirements}");
    assert_eq!(requirements[0]["policyDisplayName"], json!("Partner contractors"));
    assert_eq!(requirements[0]["questions"][0]["text"], json!("Describe your role on the project"));
    // Nothing administrative or of the directory is theirs to read.
    let directory = nina.data("{ users { totalCount } groups { totalCount } }", json!({})).await;
    assert_eq!(directory, json!({"users": {"totalCount": 0}, "groups": {"totalCount": 0}}));
    nina.refused(
        "{ entitlementManagementSettings { externalUserLifecycleAction } }",
        json!({}),
        "FORBIDDEN",
        None,
    )
    .await;

    // The sponsors listen for approvals.
    let (nora, christie) = (server.as_user(NORA), server.as_user(CHRISTIE));
    let mut nora_ws = socket(&server, &nora).await;
    nora_ws.subscribe("approvals", APPROVALS, json!({})).await;
    let mut christie_ws = socket(&server, &christie).await;
    christie_ws.subscribe("approvals", APPROVALS, json!({})).await;
    // The administrator watches the guests' lifecycle.
    let mut megan_ws = socket(&server, &megan).await;
    megan_ws
        .subscribe(
            "guests",
            "subscription { events(filter: {kind: \"externalUser.\"}) { event { kind subjectId reason } } }",
            json!({}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Without the role description, or without agreeing to share their profile: refused.
    let answer = json!([{"questionId": "q-role", "value": "SAP FI consultant for the ledger migration"}]);
    let input = |answers: Value, consent: bool| {
        json!({ "input": { "accessPackageId": package, "answers": answers, "consentToShareProfile": consent,
                           "justification": "Fabrikam's ledger migration" } })
    };
    nina.refused(REQUEST, input(json!([]), true), "VALIDATION_FAILED", Some("answers")).await;
    nina.refused(REQUEST, input(answer.clone(), false), "VALIDATION_FAILED", Some("consentToShareProfile"))
        .await;
    // Someone from a tenant nobody connected is told so.
    let zed =
        server.as_partner("9a9a9a9a-0000-4000-8000-000000000002", "zed-oid", "zed@unknown.example", "Zed");
    assert_eq!(zed.data("{ accessPackagesForMe { id } }", json!({})).await["accessPackagesForMe"], json!([]));
    let refusal =
        zed.refused(REQUEST, input(answer.clone(), true), "FORBIDDEN", Some("accessPackageId")).await;
    assert!(refusal.message.contains("not connected"), "{}", refusal.message);

    let request =
        nina.data(REQUEST, input(answer, true)).await["createAssignmentRequest"]["assignmentRequest"].clone();
    assert_eq!(request["state"], json!("pendingApproval"));
    assert_eq!(request["approval"]["stages"][0]["assignedTo"], json!([NORA]));
    let via = text(&request["approval"]["stages"][0]["primaryApprovers"]["approvers"][0]["via"]);
    assert!(via.contains("external sponsor of connected organization `Fabrikam`"), "{via}");
    assert_eq!(request["requestorSubject"]["objectId"], json!(null), "no guest yet");
    let mine = nina
        .data(
            "{ assignmentRequests(filterByCurrentUser: target) { totalCount nodes { id state } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine["assignmentRequests"]["nodes"],
        json!([{"id": request["id"], "state": "pendingApproval"}])
    );

    // Nora is told at once, sees who asks and from where, and approves.
    let told = nora_ws.next("approvals").await["approvalStageChanges"].clone();
    assert_eq!(told["kind"], json!("assigned"));
    assert_eq!(
        told["assignmentRequest"]["requestorSubject"],
        json!({"email": "nina.novak@fabrikam.com", "displayName": "Nina Novak",
               "connectedOrganization": {"displayName": "Fabrikam"}})
    );
    let approve = |who: &str| json!({ "input": { "approvalId": request["id"], "reviewResult": "Approve", "justification": who } });
    let after_nora =
        nora.data(DECIDE, approve("Nina works for us")).await["updateApprovalStage"]["assignmentRequest"]
            .clone();
    assert_eq!(after_nora["state"], json!("pendingApproval"));

    // ERP Project Approvers, the internal sponsors, are told next; Christie approves.
    let told = christie_ws.next("approvals").await["approvalStageChanges"].clone();
    assert_eq!(
        (told["kind"].clone(), told["assignmentRequest"]["id"].clone()),
        (json!("assigned"), request["id"].clone())
    );
    let delivered = christie.data(DECIDE, approve("Approved for the project")).await["updateApprovalStage"]
        ["assignmentRequest"]
        .clone();
    assert_eq!(
        (text(&delivered["state"]), text(&delivered["status"])),
        ("delivered".into(), "Delivered".into())
    );
    let mut roles: Vec<String> = delivered["assignment"]["deliveredResourceRoles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| text(&r["type"]))
        .collect();
    roles.sort();
    assert_eq!(roles, ["appRole", "directoryRoleEligible", "groupMember", "siteRole"]);

    // The guest was invited in the same transaction, with what Graph's invitation gives them.
    let guest_node = text(&delivered["requestorSubject"]["objectId"]);
    let guest = guest_node.strip_prefix("User:").unwrap().to_owned();
    let user = megan.data(GUEST, json!({ "id": guest })).await["user"].clone();
    assert_eq!(user["userType"], json!("Guest"));
    assert_eq!(user["creationType"], json!("Invitation"));
    assert_eq!(user["externalUserState"], json!("PendingAcceptance"));
    assert_eq!(user["mail"], json!("nina.novak@fabrikam.com"));
    assert_eq!(user["userPrincipalName"], json!("nina.novak_fabrikam.com#EXT#@contoso.onmicrosoft.com"));
    assert_eq!(user["companyName"], json!("Fabrikam"));
    assert_eq!(
        user["sponsors"],
        json!([{"__typename": "User", "objectId": NORA}, {"__typename": "Group", "id": format!("Group:{ERP_APPROVERS}")}])
    );
    assert!(members(&megan, ERP_TEAM).await.contains(&guest));
    let heard = megan_ws.next("guests").await["events"]["event"].clone();
    assert_eq!(
        (heard["kind"].clone(), heard["subjectId"].clone()),
        (json!("externalUser.created"), json!(guest))
    );
    // Her manager is set for the quarterly manager reviews.
    let managed = megan
        .data(
            "mutation($id: ID!, $m: ID!) { updateUser(input: {id: $id, managerId: $m}) {
                user { manager { objectId } externalUserState } } }",
            json!({ "id": guest_node, "m": format!("User:{CHRISTIE}") }),
        )
        .await;
    assert_eq!(
        managed["updateUser"]["user"],
        json!({"manager": {"objectId": CHRISTIE}, "externalUserState": "PendingAcceptance"})
    );

    // Her next sign-in, an hour later, is the guest's: the invitation is accepted.
    advance(&megan, start + chrono::TimeDelta::hours(1)).await;
    let me = nina.data("{ signedInSubject { objectId } }", json!({})).await;
    assert_eq!(me["signedInSubject"]["objectId"], json!(guest_node));
    let user = megan.data(GUEST, json!({ "id": guest })).await["user"].clone();
    assert_eq!(user["externalUserState"], json!("Accepted"));
    let access = nina.data("{ assignments(filterByCurrentUser: true) { totalCount } }", json!({})).await;
    assert_eq!(access["assignments"]["totalCount"], json!(1));

    // As a guest of a connected organization she may ask to extend it: the sponsors decide
    // again. (She withdraws it here; reviews and extensions are another issue's.)
    let extension = json!({ "input": { "requestType": "userUpdate", "accessPackageId": package,
        "assignmentId": delivered["assignment"]["id"], "justification": "The migration runs late" } });
    let asked = nina.data(REQUEST, extension).await["createAssignmentRequest"]["assignmentRequest"].clone();
    assert_eq!(asked["state"], json!("pendingApproval"));
    assert_eq!(asked["approval"]["stages"][0]["assignedTo"], json!([NORA]));
    let cancel =
        "mutation($id: ID!) { cancelAssignmentRequest(input: {id: $id}) { assignmentRequest { state } } }";
    nina.data(cancel, json!({ "id": asked["id"] })).await;

    // On the end date her access ends and the guest is blocked: her tokens no longer work.
    let moved = advance(&megan, end + chrono::TimeDelta::hours(1)).await;
    assert!(moved["firedTimers"].as_u64().unwrap() >= 2, "{moved}");
    assert!(!members(&megan, ERP_TEAM).await.contains(&guest));
    let user = megan.data(GUEST, json!({ "id": guest })).await["user"].clone();
    assert_eq!(user["accountEnabled"], json!(false));
    let status = nina
        .http
        .post(nina.url("/graphql"))
        .bearer_auth(nina.bearer.clone().unwrap())
        .json(&json!({"query": "{ signedInSubject { email } }"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);

    // After the tenant's 30 days, the guest is deleted.
    advance(&megan, end + chrono::TimeDelta::days(31)).await;
    assert_eq!(megan.data(GUEST, json!({ "id": guest })).await["user"], json!(null));
    assert_eq!(
        guest_trail(&megan, &guest).await,
        [
            "externalUser.created",
            "externalUser.invitationAccepted",
            "externalUser.blocked",
            "externalUser.deleted"
        ]
    );
    let mut heard = Vec::new();
    while heard.len() < 3 {
        heard.push(text(&megan_ws.next("guests").await["events"]["event"]["kind"]));
    }
    assert_eq!(heard, ["externalUser.invitationAccepted", "externalUser.blocked", "externalUser.deleted"]);
    nora_ws.close().await;
    christie_ws.close().await;
    megan_ws.close().await;
}

// ------------------------------------------------------------------------------------------
// The guest lifecycle's edges, on the fixture directory.

const FABRIKAM: &str = "fabrikam.com";

/// The fixture directory with Ada as administrator and Gus, a Fabrikam guest nobody invited
/// through entitlement management.
fn fixture() -> Value {
    let mut directory = directory_with_admin();
    directory["users"].as_array_mut().unwrap().push(json!({
        "id": "u-gus", "displayName": "Gus Guest", "userType": "Guest",
        "userPrincipalName": "gus_fabrikam.com#EXT#@contoso.onmicrosoft.com", "mail": "gus@fabrikam.com"
    }));
    directory
}

/// An externally visible catalog with `packages` packages delivering Project Falcon's
/// membership, each through a policy of `scope` without approval whose access lasts 10 days.
async fn open_packages(admin: &Api, scope: &str, packages: usize) -> Vec<String> {
    let created = admin
        .data(
            "mutation($i: CreateAccessPackageInput!) { createAccessPackage(input: $i) {
                accessPackage { id catalog { id } } } }",
            json!({ "i": { "newCatalog": { "displayName": "Partners", "isExternallyVisible": true },
                           "displayName": "Partner access 0" } }),
        )
        .await["createAccessPackage"]["accessPackage"]
        .clone();
    let catalog = text(&created["catalog"]["id"]);
    let team = admin.add_resource(&catalog, "AadGroup", "g-team").await;
    let mut ids = vec![text(&created["id"])];
    for i in 1..packages {
        ids.push(admin.create_package(&catalog, &format!("Partner access {i}")).await);
    }
    for package in &ids {
        admin.add_role_scope(package, &text(&team["id"]), "Member_g-team").await;
        let policy = json!({
            "displayName": "Partners, no approval",
            "allowedTargetScope": scope,
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": false},
            "expiration": {"type": "afterDuration", "duration": "P10D"}
        });
        create_policy(admin, package, policy).await;
    }
    ids
}

async fn request_as(api: &Api, package: &str) -> Value {
    let input = json!({ "input": { "accessPackageId": package, "consentToShareProfile": true } });
    api.data(REQUEST, input).await["createAssignmentRequest"]["assignmentRequest"].clone()
}

async fn status_of(api: &Api) -> u16 {
    api.http
        .post(api.url("/graphql"))
        .bearer_auth(api.bearer.clone().unwrap())
        .json(&json!({"query": "{ signedInSubject { email } }"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn guests(admin: &Api) -> Vec<Value> {
    let data = admin
        .data(
            "{ users(filter: {userType: Guest}) { nodes { objectId mail accountEnabled companyName creationType } } }",
            json!({}),
        )
        .await;
    data["users"]["nodes"].as_array().unwrap().clone()
}

async fn guest_by_mail(admin: &Api, mail: &str) -> Option<Value> {
    guests(admin).await.into_iter().find(|g| g["mail"] == json!(mail))
}

#[tokio::test]
async fn a_blocked_guest_given_access_again_is_unblocked_and_kept_and_other_guests_are_left_alone() {
    let server = TestServer::with_auth_on(fixture(), true).await;
    let ada = server.as_user("u-ada");
    let start = now(&ada).await;
    connect(&ada, "Fabrikam", FABRIKAM, None, "u-gus", "u-carol").await;
    ada.data(
        "mutation { updateEntitlementManagementSettings(input: {durationUntilExternalUserDeletedAfterBlocked: \"P5D\"}) {
            durationUntilExternalUserDeletedAfterBlocked } }",
        json!({}),
    )
    .await;
    let package = open_packages(&ada, "allConfiguredConnectedOrganizationUsers", 1).await.remove(0);

    let nina =
        server.as_partner("7e7e7e7e-0000-4000-8000-000000000001", "nina-oid", "nina@fabrikam.com", "Nina");
    let request = request_as(&nina, &package).await;
    assert_eq!(request["state"], json!("delivered"), "no approval: delivered at once, guest and all");
    let guest = guest_by_mail(&ada, "nina@fabrikam.com").await.expect("the guest was invited");
    assert_eq!(
        (guest["companyName"].clone(), guest["creationType"].clone()),
        (json!("Fabrikam"), json!("Invitation"))
    );
    let guest_id = text(&guest["objectId"]);
    // Gus, a guest entitlement management did not invite, gets the same access directly.
    let policies = ada
        .data(
            "query($p: ID!) { accessPackage(id: $p) { assignmentPolicies { id } } }",
            json!({ "p": package }),
        )
        .await;
    let policy = text(&policies["accessPackage"]["assignmentPolicies"][0]["id"]);
    let add = |target: &str| {
        json!({ "input": { "requestType": "adminAdd", "accessPackageId": package, "assignmentPolicyId": policy,
                           "targetId": format!("User:{target}") } })
    };
    assert_eq!(
        ada.data(REQUEST, add("u-gus")).await["createAssignmentRequest"]["assignmentRequest"]["state"],
        json!("delivered")
    );

    // Ten days on, both lose it: Nina's guest is blocked, Gus is left alone.
    advance(&ada, start + chrono::TimeDelta::days(11)).await;
    let nina_guest = guest_by_mail(&ada, "nina@fabrikam.com").await.unwrap();
    assert_eq!(nina_guest["accountEnabled"], json!(false));
    assert_eq!(guest_by_mail(&ada, "gus@fabrikam.com").await.unwrap()["accountEnabled"], json!(true));
    assert_eq!(status_of(&nina).await, 401);

    // An administrator gives Nina access again before the deletion: she is unblocked, and kept
    // past the day she would have been deleted.
    let again =
        ada.data(REQUEST, add(&guest_id)).await["createAssignmentRequest"]["assignmentRequest"].clone();
    assert_eq!(again["state"], json!("delivered"));
    assert_eq!(guest_by_mail(&ada, "nina@fabrikam.com").await.unwrap()["accountEnabled"], json!(true));
    advance(&ada, start + chrono::TimeDelta::days(11) + chrono::TimeDelta::hours(1)).await;
    assert_eq!(status_of(&nina).await, 200, "her first sign-in as the guest: the invitation is accepted");
    advance(&ada, start + chrono::TimeDelta::days(17)).await;
    assert_eq!(guest_by_mail(&ada, "nina@fabrikam.com").await.unwrap()["accountEnabled"], json!(true));

    // When that access ends too, the five days start again, and then she is deleted.
    advance(&ada, start + chrono::TimeDelta::days(22)).await;
    assert_eq!(guest_by_mail(&ada, "nina@fabrikam.com").await.unwrap()["accountEnabled"], json!(false));
    advance(&ada, start + chrono::TimeDelta::days(28)).await;
    assert!(guest_by_mail(&ada, "nina@fabrikam.com").await.is_none(), "deleted");
    assert!(guest_by_mail(&ada, "gus@fabrikam.com").await.is_some(), "never touched");
    assert_eq!(
        guest_trail(&ada, &guest_id).await,
        [
            "externalUser.created",
            "externalUser.blocked",
            "externalUser.unblocked",
            "externalUser.invitationAccepted",
            "externalUser.blocked",
            "externalUser.deleted"
        ]
    );
}

#[tokio::test]
async fn one_person_racing_requests_become_one_guest() {
    let server = TestServer::with_auth(fixture()).await;
    let ada = server.as_user("u-ada");
    connect(&ada, "Fabrikam", FABRIKAM, None, "u-gus", "u-carol").await;
    let packages = open_packages(&ada, "allConfiguredConnectedOrganizationUsers", 4).await;
    let nina =
        server.as_partner("7e7e7e7e-0000-4000-8000-000000000001", "nina-oid", "nina@fabrikam.com", "Nina");
    let requests = futures::future::join_all(packages.iter().map(|p| request_as(&nina, p))).await;
    for request in &requests {
        assert_eq!(request["state"], json!("delivered"), "{request}");
    }
    let invited: Vec<Value> =
        guests(&ada).await.into_iter().filter(|g| g["mail"] == json!("nina@fabrikam.com")).collect();
    assert_eq!(invited.len(), 1, "one guest: {invited:?}");
    let access = nina.data("{ assignments(filterByCurrentUser: true) { totalCount } }", json!({})).await;
    assert_eq!(access["assignments"]["totalCount"], json!(4));
}

#[tokio::test]
async fn someone_from_an_unknown_domain_requesting_through_all_external_users_is_recorded_as_proposed() {
    let server = TestServer::with_auth(fixture()).await;
    let ada = server.as_user("u-ada");
    let package = open_packages(&ada, "allExternalUsers", 1).await.remove(0);
    let orgs = "{ connectedOrganizations { totalCount nodes { displayName state } } }";
    assert_eq!(ada.data(orgs, json!({})).await["connectedOrganizations"]["totalCount"], json!(0));

    let zed =
        server.as_partner("9a9a9a9a-0000-4000-8000-000000000002", "zed-oid", "zed@unknown.example", "Zed");
    let offered = zed.data("{ accessPackagesForMe { id } }", json!({})).await;
    assert_eq!(offered["accessPackagesForMe"], json!([{"id": package}]));
    // A request the policy refuses records nothing.
    let bad = json!({ "input": { "accessPackageId": package } });
    zed.refused(REQUEST, bad, "VALIDATION_FAILED", Some("consentToShareProfile")).await;
    assert_eq!(ada.data(orgs, json!({})).await["connectedOrganizations"]["totalCount"], json!(0));

    let request = request_as(&zed, &package).await;
    assert_eq!(request["state"], json!("delivered"));
    assert_eq!(request["requestorSubject"]["connectedOrganization"]["displayName"], json!("unknown.example"));
    let zoe =
        server.as_partner("9a9a9a9a-0000-4000-8000-000000000003", "zoe-oid", "zoe@unknown.example", "Zoe");
    assert_eq!(request_as(&zoe, &package).await["state"], json!("delivered"));
    let recorded = ada.data(orgs, json!({})).await["connectedOrganizations"].clone();
    assert_eq!(
        recorded,
        json!({"totalCount": 1, "nodes": [{"displayName": "unknown.example", "state": "proposed"}]})
    );
    let guest = guest_by_mail(&ada, "zed@unknown.example").await.unwrap();
    assert_eq!(guest["companyName"], json!("unknown.example"));
}

#[tokio::test]
async fn outsiders_follow_and_cancel_their_own_requests_only() {
    let server = TestServer::with_auth(fixture()).await;
    let ada = server.as_user("u-ada");
    connect(&ada, "Fabrikam", FABRIKAM, None, "u-gus", "u-carol").await;
    let package = open_packages(&ada, "allConfiguredConnectedOrganizationUsers", 1).await.remove(0);
    let approved = json!({
        "displayName": "Partners, Carol approves",
        "allowedTargetScope": "allConfiguredConnectedOrganizationUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [{"durationBeforeAutomaticDenial": "P14D",
            "primaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": "u-carol"}]}]}
    });
    let catalog = ada
        .data("query($p: ID!) { accessPackage(id: $p) { catalog { id } } }", json!({ "p": package }))
        .await;
    let gated = ada.create_package(&text(&catalog["accessPackage"]["catalog"]["id"]), "Gated").await;
    create_policy(&ada, &gated, approved).await;

    let nina =
        server.as_partner("7e7e7e7e-0000-4000-8000-000000000001", "nina-oid", "nina@fabrikam.com", "Nina");
    let omar =
        server.as_partner("7e7e7e7e-0000-4000-8000-000000000001", "omar-oid", "omar@fabrikam.com", "Omar");
    let request = request_as(&nina, &gated).await;
    assert_eq!(request["state"], json!("pendingApproval"));
    let read = "query($id: ID!) { assignmentRequest(id: $id) { id state } }";
    assert_eq!(omar.data(read, json!({ "id": request["id"] })).await["assignmentRequest"], json!(null));
    let cancel =
        "mutation($id: ID!) { cancelAssignmentRequest(input: {id: $id}) { assignmentRequest { state } } }";
    omar.refused(cancel, json!({ "id": request["id"] }), "FORBIDDEN", None).await;
    let canceled = nina.data(cancel, json!({ "id": request["id"] })).await;
    assert_eq!(canceled["cancelAssignmentRequest"]["assignmentRequest"]["state"], json!("canceled"));
    assert!(guest_by_mail(&ada, "nina@fabrikam.com").await.is_none(), "no access, no guest");
}

// ------------------------------------------------------------------------------------------
// Seed scenario 2's lifecycle, over a virtual year.

const ADELE: &str = "00000000-0000-0000-0000-0000000000a5";

const FOR_ME: &str = "{ accessReviewDecisions(filterByCurrentUser: reviewer, first: 50) {
    nodes { id principalDisplayName reviewers { id } } } }";

const RECORD: &str =
    "mutation($d: [ReviewDecisionInput!]!) { recordAccessReviewDecisions(input: {decisions: $d}) {
    decisions { id decision } } }";

/// Quarterly reviews from `first`: the assignees' managers (ERP Project Approvers when there is
/// none), removing what nobody reviews; or, with `self_review`, each assignee their own.
fn quarterly_review(first: chrono::DateTime<chrono::Utc>, self_review: bool) -> Value {
    let mut review = json!({
        "isEnabled": true, "expirationBehavior": "removeAccess", "isRecommendationEnabled": true,
        "isReviewerJustificationRequired": true, "isSelfReview": self_review,
        "schedule": {"startDateTime": first.to_rfc3339(), "expiration": {"type": "afterDuration", "duration": "P14D"},
                     "recurrence": {"pattern": {"type": "absoluteMonthly", "interval": 3},
                                    "range": {"type": "noEnd", "startDate": first.date_naive().to_string()}}}
    });
    if !self_review {
        review["primaryReviewers"] =
            json!([{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}]);
        review["fallbackReviewers"] =
            json!([{"@odata.type": "#microsoft.graph.groupMembers", "groupId": ERP_APPROVERS}]);
    }
    review
}

/// Requests the package as `api` and has every stage approved by Nora then Christie (partners)
/// or by Christie (employees); returns the delivered request.
async fn request_approved(api: &Api, package: &str, input: Value, approvers: &[&Api]) -> Value {
    let mut input = input;
    input["accessPackageId"] = json!(package);
    let request =
        api.data(REQUEST, json!({ "input": input })).await["createAssignmentRequest"]["assignmentRequest"]
            .clone();
    let mut last = request.clone();
    for approver in approvers {
        let decided = approver
            .data(DECIDE, json!({ "input": { "approvalId": request["id"], "reviewResult": "Approve", "justification": "ok" } }))
            .await;
        last = decided["updateApprovalStage"]["assignmentRequest"].clone();
    }
    last
}

/// Decides every item `reviewer` has, by assignee name: `deny` are denied, `skip` left alone,
/// the others approved.
async fn review_as(reviewer: &Api, deny: &[&str], skip: &[&str]) -> usize {
    let mine =
        reviewer.data(FOR_ME, json!({})).await["accessReviewDecisions"]["nodes"].as_array().unwrap().clone();
    let decisions: Vec<Value> = mine
        .iter()
        .filter(|i| !skip.contains(&text(&i["principalDisplayName"]).as_str()))
        .map(|i| {
            let name = text(&i["principalDisplayName"]);
            let decision = if deny.contains(&name.as_str()) { "Deny" } else { "Approve" };
            json!({ "id": i["id"], "decision": decision, "justification": format!("{decision} {name}") })
        })
        .collect();
    if !decisions.is_empty() {
        reviewer.data(RECORD, json!({ "d": decisions })).await;
    }
    decisions.len()
}

#[tokio::test]
async fn seed_scenario_2_over_a_year_reviews_extensions_and_reminders() {
    let server = TestServer::demo_on(true).await;
    let megan = server.as_user(MEGAN);
    let start = now(&megan).await;
    let end = start + chrono::TimeDelta::days(365);
    connect(&megan, "Fabrikam", "fabrikam.com", Some(FABRIKAM_TENANT), NORA, ERP_APPROVERS).await;
    connect(&megan, "Litware", "litware.com", None, TOMAS, ERP_APPROVERS).await;
    let (_, package) = erp_project(&megan).await;
    let mut external = external_policy(&end.to_rfc3339());
    external["requestorSettings"]["allowCustomAssignmentSchedule"] = json!(true);
    external["reviewSettings"] = quarterly_review(start + chrono::TimeDelta::days(30), false);
    let external_policy_id = create_policy(&megan, &package, external).await;
    let mut internal = internal_policy(&end.to_rfc3339());
    internal["reviewSettings"] = quarterly_review(start + chrono::TimeDelta::days(30), true);
    create_policy(&megan, &package, internal).await;

    let (nora, christie) = (server.as_user(NORA), server.as_user(CHRISTIE));
    let tomas = server.as_user(TOMAS);
    let answer = json!([{"questionId": "q-role", "value": "ERP consultant"}]);
    let partner = |answers: &Value| json!({ "answers": answers, "consentToShareProfile": true });
    let nina = server.as_partner(FABRIKAM_TENANT, "nina-oid", "nina@fabrikam.com", "Nina Novak");
    let omar = server.as_partner(FABRIKAM_TENANT, "omar-oid", "omar@fabrikam.com", "Omar Ortiz");
    let lee =
        server.as_partner("7a7a7a7a-0000-4000-8000-00000000000c", "lee-oid", "lee@litware.com", "Lee Lin");
    let mut guests = BTreeMap::new();
    for (who, api, sponsor) in
        [("Nina Novak", &nina, &nora), ("Omar Ortiz", &omar, &nora), ("Lee Lin", &lee, &tomas)]
    {
        let done = request_approved(api, &package, partner(&answer), &[sponsor, &christie]).await;
        assert_eq!(done["state"], json!("delivered"), "{who}: {done}");
        let guest = text(&done["requestorSubject"]["objectId"]).replace("User:", "");
        guests.insert(who, (guest, done["assignment"]["id"].clone()));
    }
    // Nina and Omar report to Christie for the project; Lee has no manager here.
    for who in ["Nina Novak", "Omar Ortiz"] {
        megan
            .data(
                "mutation($id: ID!, $m: ID!) { updateUser(input: {id: $id, managerId: $m}) { user { id } } }",
                json!({ "id": guests[who].0, "m": format!("User:{CHRISTIE}") }),
            )
            .await;
    }
    let adele = server.as_user(ADELE);
    let adele_done = request_approved(&adele, &package, json!({}), &[&christie]).await;
    assert_eq!(adele_done["state"], json!("delivered"));

    // Extensions: a guest may extend within the project's end, not past it; an employee may not.
    let extend = |assignment: &Value, to: chrono::DateTime<chrono::Utc>| {
        json!({ "requestType": "userUpdate", "assignmentId": assignment, "consentToShareProfile": true,
                "schedule": {"startDateTime": start.to_rfc3339(), "expiration": {"type": "afterDateTime", "endDateTime": to.to_rfc3339()}} })
    };
    let nina = server.as_partner(FABRIKAM_TENANT, "nina-oid", "nina@fabrikam.com", "Nina Novak");
    let extended =
        request_approved(&nina, &package, extend(&guests["Nina Novak"].1, end), &[&nora, &christie]).await;
    assert_eq!(extended["state"], json!("delivered"), "{extended}");
    let past = json!({ "input": { "accessPackageId": package, "requestType": "userUpdate",
        "assignmentId": guests["Omar Ortiz"].1, "schedule": extend(&guests["Omar Ortiz"].1, end + chrono::TimeDelta::days(30))["schedule"] } });
    omar.refused(REQUEST, past, "VALIDATION_FAILED", Some("schedule.expiration.endDateTime")).await;
    let adele_extends = json!({ "input": { "accessPackageId": package, "requestType": "userUpdate",
        "assignmentId": adele_done["assignment"]["id"] } });
    adele.refused(REQUEST, adele_extends, "FORBIDDEN", Some("requestType")).await;

    // The first quarterly review: Christie, told on her subscription, approves Nina and denies
    // Omar; nobody reviews Lee; Adele reviews her own access.
    let mut christie_ws = socket(&server, &christie).await;
    let feed = "subscription { events(filter: {kind: \"accessReview.started\"}) { event { kind reason } } }";
    christie_ws.subscribe("reviews", feed, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = start + chrono::TimeDelta::days(30);
    advance(&megan, first).await;
    let told = christie_ws.next("reviews").await["events"]["event"].clone();
    assert_eq!(told["kind"], json!("accessReview.started"), "{told}");
    christie_ws.close().await;
    assert_eq!(review_as(&christie, &["Omar Ortiz"], &["Lee Lin"]).await, 2);
    assert_eq!(review_as(&adele, &[], &[]).await, 1);
    advance(&megan, first + chrono::TimeDelta::days(14)).await;
    let user = |id: &str| json!({ "id": id });
    let enabled = |u: &Value| u["user"]["accountEnabled"].clone();
    assert_eq!(enabled(&megan.data(GUEST, user(&guests["Nina Novak"].0)).await), json!(true));
    assert_eq!(
        enabled(&megan.data(GUEST, user(&guests["Omar Ortiz"].0)).await),
        json!(false),
        "denied: blocked"
    );
    assert_eq!(
        enabled(&megan.data(GUEST, user(&guests["Lee Lin"].0)).await),
        json!(false),
        "not reviewed: blocked"
    );
    let team = members(&megan, ERP_TEAM).await;
    assert!(team.contains(&guests["Nina Novak"].0), "Nina kept: {team:?}");
    assert!(team.contains(&ADELE.to_owned()), "Adele kept: {team:?}");
    assert!(!team.contains(&guests["Omar Ortiz"].0) && !team.contains(&guests["Lee Lin"].0));

    // Three more reviews in the year, each decided by Christie and Adele.
    for quarter in 1..4u32 {
        let begins = chrono::DateTime::parse_from_rfc3339(&first.to_rfc3339())
            .unwrap()
            .to_utc()
            .checked_add_months(chrono::Months::new(3 * quarter))
            .unwrap();
        advance(&megan, begins).await;
        assert_eq!(review_as(&christie, &[], &[]).await, 1, "quarter {quarter}: Nina");
        assert_eq!(review_as(&adele, &[], &[]).await, 1, "quarter {quarter}: Adele");
        advance(&megan, begins + chrono::TimeDelta::days(14)).await;
    }
    let reviews = megan
        .data(
            "query($p: ID!) { accessReviewInstances(policyId: $p) { totalCount nodes { status } } }",
            json!({ "p": external_policy_id }),
        )
        .await;
    assert_eq!(reviews["accessReviewInstances"]["totalCount"], json!(4));
    assert!(
        reviews["accessReviewInstances"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == json!("Applied"))
    );

    // Nina was reminded 14 days and a day before the project's end; then her access ends.
    advance(&megan, end + chrono::TimeDelta::hours(1)).await;
    let reminders = megan
        .data(
            "query($s: String!) { auditEvents(filter: {subjectId: $s, kind: \"assignment.expiryReminder\"}) { nodes { reason } } }",
            json!({ "s": text(&guests["Nina Novak"].1).replace("AccessPackageAssignment:", "") }),
        )
        .await;
    let reasons: Vec<String> =
        reminders["auditEvents"]["nodes"].as_array().unwrap().iter().map(|e| text(&e["reason"])).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("in 14 days") && reasons[1].contains("tomorrow"), "{reasons:?}");
    assert_eq!(enabled(&megan.data(GUEST, user(&guests["Nina Novak"].0)).await), json!(false));
}
