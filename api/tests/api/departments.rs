//! Seed scenario 3 end to end, over the demo directory: one catalog per department, run by its
//! head and delegates without any tenant-wide role.

use serde_json::{Value, json};

use crate::delegation::{
    ASSIGNMENT_MANAGER, CATALOG_OWNER, CREATE_ROLE, PACKAGE_MANAGER, catalogs_seen, give_role, scope,
};
use crate::requests::create_policy;
use crate::support::{TestServer, text};

const MEGAN: &str = "00000000-0000-0000-0000-0000000000a3";
const DIEGO: &str = "00000000-0000-0000-0000-0000000000a4";
const ADELE: &str = "00000000-0000-0000-0000-0000000000a5";
const DESIGN_DEPARTMENT: &str = "00000000-0000-0000-0001-000000000010";
const FINANCE_DEPARTMENT: &str = "00000000-0000-0000-0001-000000000012";
const DESIGN_MANAGERS: &str = "00000000-0000-0000-0001-000000000017";
const DESIGN_SITE: &str = "00000000-0000-0000-0003-000000000103";
const FINANCE_SITE: &str = "00000000-0000-0000-0003-000000000105";
const DESIGN_ASSET_LIBRARY: &str = "00000000-0000-0000-0002-000000000003";
const WORKDAY: &str = "00000000-0000-0000-0002-000000000004";

/// The departments of the demo directory and their heads.
const DEPARTMENTS: [(&str, &str); 9] = [
    ("Sales", "00000000-0000-0000-0000-0000000000b1"),
    ("Marketing", "00000000-0000-0000-0000-0000000000b2"),
    ("Design", DIEGO),
    ("Engineering", "00000000-0000-0000-0000-0000000000b3"),
    ("Finance", "00000000-0000-0000-0000-0000000000b4"),
    ("HR", "00000000-0000-0000-0000-0000000000b5"),
    ("IT", "00000000-0000-0000-0000-0000000000b6"),
    ("Operations", "00000000-0000-0000-0000-0000000000b7"),
    ("Legal", "00000000-0000-0000-0000-0000000000b8"),
];

const CREATE_PACKAGE: &str = "mutation($c: ID!, $n: String!) {
    createAccessPackage(input: {catalogId: $c, displayName: $n}) { accessPackage { id } } }";

const UPDATE_PACKAGE: &str = "mutation($p: ID!, $d: String!) {
    updateAccessPackage(input: {id: $p, description: $d}) { accessPackage { id description } } }";

/// Members of a group (their ids), as the administrator reads them.
async fn members(server: &TestServer, group: &str) -> Vec<String> {
    crate::requests::members(&server.as_user(MEGAN), group).await
}

#[tokio::test]
async fn seed_scenario_3_departments_run_their_own_catalogs() {
    let server = TestServer::demo().await;
    let megan = server.as_user(MEGAN);

    // Megan, Identity Governance Administrator, makes one catalog per department and its head
    // the catalog owner; in Design, the Design Managers group manages access packages.
    let mut catalogs = std::collections::BTreeMap::new();
    for (department, head) in DEPARTMENTS {
        let catalog = megan.create_catalog(department).await;
        give_role(&megan, head, CATALOG_OWNER, &scope(&catalog)).await;
        catalogs.insert(department, catalog);
    }
    let (design, finance) = (catalogs["Design"].clone(), catalogs["Finance"].clone());
    give_role(&megan, DESIGN_MANAGERS, PACKAGE_MANAGER, &scope(&design)).await;

    // Diego sees his catalog only, adds the group he owns and the site he administers, and
    // builds a package with a policy; Finance's group and site are not his to add.
    let diego = server.as_user(DIEGO);
    assert_eq!(catalogs_seen(&diego).await, ["Design"]);
    let group = diego.add_resource(&design, "AadGroup", DESIGN_DEPARTMENT).await;
    let site = diego.add_resource(&design, "SharePointOnline", DESIGN_SITE).await;
    let library = diego.add_resource(&design, "AadApplication", DESIGN_ASSET_LIBRARY).await;
    assert_eq!(text(&library["displayName"]), "Design Asset Library");
    let finance_group = crate::support::resource_request(&design, "adminAdd", "AadGroup", FINANCE_DEPARTMENT);
    let refusal = diego
        .refused(crate::support::RESOURCE_REQUEST, finance_group, "FORBIDDEN", Some("resource.originId"))
        .await;
    assert!(refusal.message.contains("a group you do not own"), "{}", refusal.message);
    let finance_site =
        crate::support::resource_request(&design, "adminAdd", "SharePointOnline", FINANCE_SITE);
    let refusal = diego
        .refused(crate::support::RESOURCE_REQUEST, finance_site, "FORBIDDEN", Some("resource.originId"))
        .await;
    assert!(refusal.message.contains("a SharePoint site you do not administer"), "{}", refusal.message);
    let workday = crate::support::resource_request(&design, "adminAdd", "AadApplication", WORKDAY);
    let refusal = diego
        .refused(crate::support::RESOURCE_REQUEST, workday, "FORBIDDEN", Some("resource.originId"))
        .await;
    assert!(refusal.message.contains("an application you do not own"), "{}", refusal.message);
    let tools = diego.create_package(&design, "Design tools").await;
    diego.add_role_scope(&tools, &text(&group["id"]), &format!("Member_{DESIGN_DEPARTMENT}")).await;
    diego.add_role_scope(&tools, &text(&site["id"]), "4").await;
    let policy = json!({
        "displayName": "Design staff, approved by Diego", "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "groupMembers", "groupId": DESIGN_DEPARTMENT}],
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
            {"durationBeforeAutomaticDenial": "P14D", "primaryApprovers": [{"type": "singleUser", "userId": DIEGO}]}]}
    });
    create_policy(&diego, &tools, policy).await;
    let showcase = diego.create_package(&design, "Design showcase").await;
    let everyone = json!({"displayName": "Anyone in the company", "allowedTargetScope": "allMemberUsers",
                          "requestorSettings": {"enableTargetsToSelfAddAccess": true}});
    create_policy(&diego, &showcase, everyone).await;

    // In Finance he is refused, and the catalog does not exist for him.
    diego
        .refused(CREATE_PACKAGE, json!({ "c": finance, "n": "Not mine" }), "NOT_FOUND", Some("catalogId"))
        .await;
    let seen = diego
        .data("query($c: ID!) { catalog(id: $c) { id } node(id: $c) { id } }", json!({ "c": finance }))
        .await;
    assert_eq!(seen, json!({ "catalog": null, "node": null }));

    // A Design manager (through the Design Managers group) edits Design's packages but cannot
    // manage the catalog's roles.
    let manager_id = members(&server, DESIGN_MANAGERS).await.into_iter().find(|m| m != DIEGO).unwrap();
    let manager = server.as_user(&manager_id);
    assert_eq!(catalogs_seen(&manager).await, ["Design"]);
    let edited =
        manager.data(UPDATE_PACKAGE, json!({ "p": tools, "d": "Figma, the asset library, the site" })).await;
    assert_eq!(
        edited["updateAccessPackage"]["accessPackage"]["description"],
        "Figma, the asset library, the site"
    );
    let role = json!({ "input": { "principalId": manager_id, "roleDefinitionId": CATALOG_OWNER, "appScopeId": scope(&design) } });
    let refusal = manager.refused(CREATE_ROLE, role, "FORBIDDEN", None).await;
    assert!(refusal.message.contains("roleAssignments/manage"), "{}", refusal.message);

    // Diego makes a Design employee an access package assignment manager: she assigns directly
    // but cannot edit packages.
    let managers = members(&server, DESIGN_MANAGERS).await;
    let assigner_id =
        members(&server, DESIGN_DEPARTMENT).await.into_iter().find(|m| !managers.contains(m)).unwrap();
    give_role(&diego, &assigner_id, ASSIGNMENT_MANAGER, &scope(&design)).await;
    let assigner = server.as_user(&assigner_id);
    let direct =
        create_policy(&diego, &tools, json!({"displayName": "Direct", "allowedTargetScope": "notSpecified"}))
            .await;
    let newcomer = members(&server, DESIGN_DEPARTMENT)
        .await
        .into_iter()
        .find(|m| *m != assigner_id && *m != DIEGO && !managers.contains(m))
        .unwrap();
    let assigned = assigner
        .data(
            "mutation($input: CreateAssignmentRequestInput!) { createAssignmentRequest(input: $input) {
               assignmentRequest { state assignment { state deliveredResourceRoles { type objectId } } } } }",
            json!({ "input": { "requestType": "adminAdd", "accessPackageId": tools, "assignmentPolicyId": direct,
                               "targetId": newcomer } }),
        )
        .await;
    assert_eq!(assigned["createAssignmentRequest"]["assignmentRequest"]["state"], "delivered");
    assigner.refused(UPDATE_PACKAGE, json!({ "p": tools, "d": "mine now" }), "FORBIDDEN", None).await;

    // Adele sees none of the catalogs, only what she may request.
    let adele = server.as_user(ADELE);
    assert!(catalogs_seen(&adele).await.is_empty());
    let mine = adele
        .data(
            "query($t: ID!, $s: ID!) { accessPackagesForMe { displayName }
               tools: accessPackage(id: $t) { id } showcase: accessPackage(id: $s) { displayName catalog { id } }
               accessPackages { totalCount } assignmentPolicies { totalCount } }",
            json!({ "t": tools, "s": showcase }),
        )
        .await;
    assert_eq!(
        mine,
        json!({ "accessPackagesForMe": [{"displayName": "Design showcase"}], "tools": null,
                "showcase": {"displayName": "Design showcase", "catalog": null},
                "accessPackages": {"totalCount": 0}, "assignmentPolicies": {"totalCount": 0} })
    );

    // Every head sees their own catalog only, but Nestor (IT), who is a Global Administrator.
    for (department, head) in DEPARTMENTS {
        let seen = catalogs_seen(&server.as_user(head)).await;
        if department == "IT" {
            assert_eq!(seen.len(), 10, "a Global Administrator sees every catalog");
        } else {
            assert_eq!(seen, [department], "{department}");
        }
    }
    let all: Value = megan.data("{ catalogs { totalCount } }", json!({})).await;
    assert_eq!(all["catalogs"]["totalCount"], 10, "nine departments and General");
}
