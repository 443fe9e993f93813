//! Delegated administration through GraphQL: role definitions and role assignments with their
//! refusals, the delegation matrix (every task against every role), roles held through a group,
//! and the last-owner rule.

use serde_json::{Value, json};

use crate::requests::{create_policy, submit_query};
use crate::support::{Api, TestServer, pluck, text};

/// Graph's role definition ids.
pub const CATALOG_CREATOR: &str = "ba92d953-d8e0-4e39-a797-0cbedb0a89e8";
pub const CATALOG_OWNER: &str = "ae79f266-94d4-4dab-b730-feca7e132178";
pub const CATALOG_READER: &str = "44272f93-9762-48e8-af59-1b5351b1d6b3";
pub const PACKAGE_MANAGER: &str = "7f480852-ebdc-47d4-87de-0d8498384a83";
pub const ASSIGNMENT_MANAGER: &str = "e2182095-804a-4656-ae11-64734e9b7ae5";

pub const CREATE_ROLE: &str = "mutation($input: CreateRoleAssignmentInput!) {
    createRoleAssignment(input: $input) { roleAssignment { id principalId roleDefinitionId appScopeId
      roleDefinition { displayName } catalog { id } } } }";

pub const DELETE_ROLE: &str = "mutation($id: ID!) { deleteRoleAssignment(input: {id: $id}) { deletedId } }";

/// A directory for delegation: Ada administers (Identity Governance Administrator); one user per
/// entitlement-management role (Cora creates catalogs, Olga owns, Rita reads, Pete manages
/// packages, Anna manages assignments), Nick holds nothing, Tina and Tom are targets, Quinn
/// requests and Val approves. Olga owns the group `g-olga`; `g-stewards` (Sam, Sue) is a
/// security group that can hold a role; `g-list` is a distribution group, which cannot.
pub fn delegation_directory() -> Value {
    let user = |id: &str, name: &str| {
        json!({"id": id, "displayName": name, "userPrincipalName": format!("{id}@contoso.com"),
               "department": "Design"})
    };
    json!({
        "users": [
            user("u-ada", "Ada Admin"), user("u-cora", "Cora Creator"), user("u-olga", "Olga Owner"),
            user("u-rita", "Rita Reader"), user("u-pete", "Pete Manager"), user("u-anna", "Anna Assigner"),
            user("u-nick", "Nick Nobody"), user("u-tina", "Tina Target"), user("u-tom", "Tom Target"),
            user("u-quinn", "Quinn Requestor"), user("u-val", "Val Approver"), user("u-sam", "Sam Steward"),
            user("u-sue", "Sue Steward"),
            {"id": "u-gwen", "displayName": "Gwen Guest", "userType": "Guest",
             "userPrincipalName": "gwen_fabrikam.com#EXT#@contoso.onmicrosoft.com"}
        ],
        "groups": [
            {"id": "g-res", "displayName": "Design Resources", "securityEnabled": true, "members": []},
            {"id": "g-spare", "displayName": "Spare Group", "securityEnabled": true, "members": []},
            {"id": "g-olga", "displayName": "Olga's Group", "securityEnabled": true, "members": [],
             "owners": [{"id": "u-olga"}, {"id": "u-cora"}, {"id": "u-rita"}, {"id": "u-pete"},
                        {"id": "u-anna"}, {"id": "u-nick"}]},
            {"id": "g-stewards", "displayName": "Stewards", "securityEnabled": true,
             "members": [{"id": "u-sam"}, {"id": "u-sue"}]},
            {"id": "g-requestors", "displayName": "Requestors", "securityEnabled": true,
             "members": [{"id": "u-quinn"}]},
            {"id": "g-list", "displayName": "Newsletter", "mailEnabled": true, "securityEnabled": false}
        ],
        "directoryRoles": [
            {"id": "role-iga", "displayName": "Identity Governance Administrator",
             "roleTemplateId": "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e", "members": [{"id": "u-ada"}]}
        ]
    })
}

/// A catalog's scope id.
pub fn scope(catalog: &str) -> String {
    format!("/AccessPackageCatalog/{}", catalog.trim_start_matches("AccessPackageCatalog:"))
}

/// Gives `principal` a role; returns the role assignment.
pub async fn give_role(api: &Api, principal: &str, role: &str, app_scope: &str) -> Value {
    let input = json!({ "principalId": principal, "roleDefinitionId": role, "appScopeId": app_scope });
    api.data(CREATE_ROLE, json!({ "input": input })).await["createRoleAssignment"]["roleAssignment"].clone()
}

/// The display names of the catalogs a user sees.
pub async fn catalogs_seen(api: &Api) -> Vec<String> {
    pluck(
        &api.data("{ catalogs { nodes { displayName } } }", json!({})).await["catalogs"]["nodes"],
        "displayName",
    )
}

fn approval_policy(approver: &str) -> Value {
    json!({
        "displayName": "Requestors, approved by Val",
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "groupMembers", "groupId": "g-requestors"}],
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
            {"durationBeforeAutomaticDenial": "P14D",
             "primaryApprovers": [{"type": "singleUser", "userId": approver}]}]}
    })
}

fn direct_policy() -> Value {
    json!({"displayName": "Direct assignment", "allowedTargetScope": "notSpecified"})
}

// ---------------------------------------------------------------------------------------------
// Role definitions and role assignments

#[tokio::test]
async fn role_definitions_carry_graphs_ids_and_names() {
    let server = TestServer::with_auth(delegation_directory()).await;
    let nick = server.as_user("u-nick");
    let data = nick.data("{ roleDefinitions { id displayName scope isBuiltIn rolePermissions { allowedResourceActions } } }", json!({})).await;
    let definitions = data["roleDefinitions"].as_array().unwrap();
    let names: Vec<(String, String, String)> =
        definitions.iter().map(|d| (text(&d["id"]), text(&d["displayName"]), text(&d["scope"]))).collect();
    assert_eq!(
        names,
        [
            (CATALOG_CREATOR, "Catalog creator", "tenant"),
            (CATALOG_OWNER, "Catalog owner", "catalog"),
            (CATALOG_READER, "Catalog reader", "catalog"),
            (PACKAGE_MANAGER, "Access package manager", "catalog"),
            (ASSIGNMENT_MANAGER, "Access package assignment manager", "catalog"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    let owner_actions = definitions[1]["rolePermissions"][0]["allowedResourceActions"].to_string();
    assert!(owner_actions.contains("microsoft.entitlementManagement/catalogs/update"), "{owner_actions}");
    let one = nick
        .data("query($id: ID!) { roleDefinition(id: $id) { displayName } }", json!({ "id": PACKAGE_MANAGER }))
        .await;
    assert_eq!(one["roleDefinition"]["displayName"], "Access package manager");
}

#[tokio::test]
async fn role_assignments_are_made_listed_and_removed_and_bad_ones_change_nothing() {
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");
    let design = ada.create_catalog("Design").await;
    let finance = ada.create_catalog("Finance").await;

    let owner = give_role(&ada, "u-olga", CATALOG_OWNER, &scope(&design)).await;
    assert_eq!(
        (&owner["principalId"], &owner["roleDefinition"]["displayName"], &owner["catalog"]["id"]),
        (&json!("u-olga"), &json!("Catalog owner"), &json!(design))
    );
    // A catalog's global id is accepted as its scope, and a group can hold a role.
    let stewards = give_role(&ada, "Group:g-stewards", PACKAGE_MANAGER, &design).await;
    assert_eq!(stewards["appScopeId"], json!(scope(&design)));
    give_role(&ada, "u-cora", CATALOG_CREATOR, "/").await;

    let list = |api: Api, filter: Value| async move {
        let data = api
            .data(
                "query($f: UnifiedRoleAssignmentFilter) { roleAssignments(filter: $f) { totalCount nodes { principalId } } }",
                json!({ "f": filter }),
            )
            .await;
        (
            data["roleAssignments"]["totalCount"].clone(),
            pluck(&data["roleAssignments"]["nodes"], "principalId"),
        )
    };
    assert_eq!(
        list(server.as_user("u-ada"), json!({})).await,
        (json!(3), vec!["u-olga".into(), "g-stewards".into(), "u-cora".into()])
    );
    assert_eq!(
        list(server.as_user("u-ada"), json!({ "appScopeId": scope(&design) })).await,
        (json!(2), vec!["u-olga".into(), "g-stewards".into()])
    );
    assert_eq!(
        list(server.as_user("u-ada"), json!({ "roleDefinitionId": CATALOG_CREATOR })).await,
        (json!(1), vec!["u-cora".into()])
    );
    // Olga sees the roles of her catalog; Nick sees none; Cora sees her own.
    assert_eq!(list(server.as_user("u-olga"), json!({})).await.0, json!(2));
    assert_eq!(list(server.as_user("u-nick"), json!({})).await, (json!(0), vec![]));
    assert_eq!(list(server.as_user("u-cora"), json!({})).await, (json!(1), vec!["u-cora".into()]));

    // Bad input: each refused with a stable code, nothing stored.
    let input = |principal: &str, role: &str, app_scope: &str| json!({ "input": { "principalId": principal, "roleDefinitionId": role, "appScopeId": app_scope } });
    ada.refused(
        CREATE_ROLE,
        input("u-ghost", CATALOG_OWNER, &scope(&design)),
        "NOT_FOUND",
        Some("principalId"),
    )
    .await;
    ada.refused(
        CREATE_ROLE,
        input("u-olga", "not-a-role", &scope(&design)),
        "NOT_FOUND",
        Some("roleDefinitionId"),
    )
    .await;
    ada.refused(
        CREATE_ROLE,
        input("u-olga", CATALOG_OWNER, "/AccessPackageCatalog/ghost"),
        "NOT_FOUND",
        Some("appScopeId"),
    )
    .await;
    ada.refused(
        CREATE_ROLE,
        input("u-olga", CATALOG_OWNER, "/catalogs/x"),
        "VALIDATION_FAILED",
        Some("appScopeId"),
    )
    .await;
    ada.refused(CREATE_ROLE, input("u-olga", CATALOG_OWNER, "/"), "VALIDATION_FAILED", Some("appScopeId"))
        .await;
    ada.refused(
        CREATE_ROLE,
        input("u-olga", CATALOG_CREATOR, &scope(&design)),
        "VALIDATION_FAILED",
        Some("appScopeId"),
    )
    .await;
    ada.refused(CREATE_ROLE, input("u-olga", CATALOG_OWNER, &scope(&design)), "CONFLICT", None).await;
    ada.refused(
        CREATE_ROLE,
        input("g-list", CATALOG_READER, &scope(&design)),
        "VALIDATION_FAILED",
        Some("principalId"),
    )
    .await;
    ada.refused(
        CREATE_ROLE,
        input("AccessPackage:x", CATALOG_READER, &scope(&design)),
        "VALIDATION_FAILED",
        Some("principalId"),
    )
    .await;
    // Olga manages her catalog's roles, not Finance's (which she cannot see), nor tenant roles.
    let olga = server.as_user("u-olga");
    olga.refused(
        CREATE_ROLE,
        input("u-rita", CATALOG_READER, &scope(&finance)),
        "NOT_FOUND",
        Some("appScopeId"),
    )
    .await;
    olga.refused(CREATE_ROLE, input("u-rita", CATALOG_CREATOR, "/"), "FORBIDDEN", None).await;
    server
        .as_user("u-nick")
        .refused(CREATE_ROLE, input("u-nick", CATALOG_OWNER, &scope(&design)), "FORBIDDEN", None)
        .await;
    assert_eq!(list(server.as_user("u-ada"), json!({})).await.0, json!(3), "nothing was stored");

    let reader = give_role(&olga, "u-rita", CATALOG_READER, &scope(&design)).await;
    let node = server
        .as_user("u-rita")
        .data(
            "query($id: ID!) { node(id: $id) { ... on UnifiedRoleAssignment { principalId } } }",
            json!({ "id": reader["id"] }),
        )
        .await;
    assert_eq!(node["node"]["principalId"], "u-rita");
    olga.data(DELETE_ROLE, json!({ "id": reader["id"] })).await;
    olga.refused(DELETE_ROLE, json!({ "id": reader["id"] }), "NOT_FOUND", Some("id")).await;
    assert!(catalogs_seen(&server.as_user("u-rita")).await.is_empty(), "the role is gone");
}

#[tokio::test]
async fn only_an_administrator_removes_a_catalogs_last_owner() {
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");
    let design = ada.create_catalog("Design").await;
    let olga = give_role(&ada, "u-olga", CATALOG_OWNER, &scope(&design)).await;
    let sam = give_role(&ada, "u-sam", CATALOG_OWNER, &scope(&design)).await;
    let as_olga = server.as_user("u-olga");
    // Two owners: Olga may remove Sam; then she is the last one and may not remove herself.
    as_olga.data(DELETE_ROLE, json!({ "id": sam["id"] })).await;
    let refusal = as_olga.refused(DELETE_ROLE, json!({ "id": olga["id"] }), "FORBIDDEN", Some("id")).await;
    assert!(refusal.message.contains("last"), "{}", refusal.message);
    assert_eq!(catalogs_seen(&as_olga).await, ["Design"], "the refusal changed nothing");
    ada.data(DELETE_ROLE, json!({ "id": olga["id"] })).await;
    assert!(catalogs_seen(&as_olga).await.is_empty());
}

#[tokio::test]
async fn a_catalog_creator_owns_the_catalogs_they_create_and_sees_no_other() {
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");
    ada.create_catalog("Finance").await;
    give_role(&ada, "u-cora", CATALOG_CREATOR, "/").await;
    let cora = server.as_user("u-cora");
    assert!(catalogs_seen(&cora).await.is_empty());
    let mine = cora.create_catalog("Cora's").await;
    assert_eq!(catalogs_seen(&cora).await, ["Cora's"]);
    let owners = ada
        .data(
            "query($s: String!) { roleAssignments(filter: {appScopeId: $s}) { nodes { principalId roleDefinition { displayName } } } }",
            json!({ "s": scope(&mine) }),
        )
        .await;
    assert_eq!(
        owners["roleAssignments"]["nodes"],
        json!([{"principalId": "u-cora", "roleDefinition": {"displayName": "Catalog owner"}}])
    );
    // As owner she adds groups she owns, not others; she cannot make another catalog creator.
    cora.add_resource(&mine, "AadGroup", "g-olga").await;
    let input = json!({ "input": { "catalogId": mine, "requestType": "adminAdd",
                                   "resource": { "originId": "g-res", "originSystem": "AadGroup" } } });
    cora.refused(crate::support::RESOURCE_REQUEST, input, "FORBIDDEN", Some("resource.originId")).await;
    let tenant = json!({ "input": { "principalId": "u-nick", "roleDefinitionId": CATALOG_CREATOR, "appScopeId": "/" } });
    cora.refused(CREATE_ROLE, tenant, "FORBIDDEN", None).await;
}

#[tokio::test]
async fn a_role_held_through_a_group_follows_the_groups_membership() {
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");
    let design = ada.create_catalog("Design").await;
    give_role(&ada, "g-stewards", PACKAGE_MANAGER, &scope(&design)).await;
    let (sam, tina) = (server.as_user("u-sam"), server.as_user("u-tina"));
    assert_eq!(catalogs_seen(&sam).await, ["Design"]);
    sam.create_package(&design, "Stewarded").await;
    assert!(catalogs_seen(&tina).await.is_empty());
    let member = "mutation($g: ID!, $p: ID!, $add: Boolean!) {
        a: addGroupMember(input: {groupId: $g, principalId: $p}) @include(if: $add) { group { id } }
        r: removeGroupMember(input: {groupId: $g, principalId: $p}) @skip(if: $add) { group { id } } }";
    ada.data(member, json!({ "g": "g-stewards", "p": "u-tina", "add": true })).await;
    assert_eq!(catalogs_seen(&tina).await, ["Design"], "Tina joined the group");
    tina.create_package(&design, "Tina's").await;
    ada.data(member, json!({ "g": "g-stewards", "p": "u-tina", "add": false })).await;
    assert!(catalogs_seen(&tina).await.is_empty(), "Tina left the group");
    let create = "mutation($c: ID!) { createAccessPackage(input: {catalogId: $c, displayName: \"Late\"}) { accessPackage { id } } }";
    tina.refused(create, json!({ "c": design }), "FORBIDDEN", None).await;
}

// ---------------------------------------------------------------------------------------------
// The matrix

/// Who acts in a round of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Administrator,
    Creator,
    Owner,
    Reader,
    PackageManager,
    AssignmentManager,
    Nobody,
}

const WHO: [Who; 7] = [
    Who::Administrator,
    Who::Creator,
    Who::Owner,
    Who::Reader,
    Who::PackageManager,
    Who::AssignmentManager,
    Who::Nobody,
];

impl Who {
    fn user(self) -> &'static str {
        match self {
            Self::Administrator => "u-ada",
            Self::Creator => "u-cora",
            Self::Owner => "u-olga",
            Self::Reader => "u-rita",
            Self::PackageManager => "u-pete",
            Self::AssignmentManager => "u-anna",
            Self::Nobody => "u-nick",
        }
    }

    /// The role given in the round's catalogs (or at the tenant).
    fn role(self) -> Option<(&'static str, bool)> {
        match self {
            Self::Administrator | Self::Nobody => None,
            Self::Creator => Some((CATALOG_CREATOR, true)),
            Self::Owner => Some((CATALOG_OWNER, false)),
            Self::Reader => Some((CATALOG_READER, false)),
            Self::PackageManager => Some((PACKAGE_MANAGER, false)),
            Self::AssignmentManager => Some((ASSIGNMENT_MANAGER, false)),
        }
    }
}

/// What a cell expects: done, refused with `FORBIDDEN`, or read as nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Forbidden,
    Nothing,
}

use Outcome::{Done as D, Forbidden as F, Nothing as N};

/// The tasks of the reference's delegation matrix, and the outcome for
/// [Administrator, Catalog creator, Catalog owner, Catalog reader, Access package manager,
/// Access package assignment manager, nobody].
const MATRIX: &[(&str, [Outcome; 7])] = &[
    ("view the catalog", [D, N, D, D, D, D, N]),
    ("view the catalog's access packages", [D, N, D, D, D, D, N]),
    ("add a resource to the catalog", [D, F, D, F, F, F, F]),
    ("remove a resource from the catalog", [D, F, D, F, F, F, F]),
    ("add a catalog owner", [D, F, D, F, F, F, F]),
    ("delegate to an access package manager", [D, F, D, F, F, F, F]),
    ("remove an access package manager", [D, F, D, F, F, F, F]),
    ("edit the catalog", [D, F, D, F, F, F, F]),
    ("create an access package in the catalog", [D, F, D, F, D, F, F]),
    ("change the resource roles of an access package", [D, F, D, F, D, F, F]),
    ("create and edit policies", [D, F, D, F, D, F, F]),
    ("create an auto-assignment policy", [D, F, F, F, F, F, F]),
    ("directly assign a user", [D, F, D, F, D, D, F]),
    ("directly remove a user", [D, F, D, F, D, D, F]),
    ("view who has an assignment", [D, F, D, F, D, D, F]),
    ("view an access package's requests", [D, F, D, F, D, D, F]),
    ("view a request's delivery errors", [D, N, D, N, D, D, N]),
    ("reprocess a request", [D, F, D, F, D, D, F]),
    ("cancel a pending request", [D, F, D, F, D, D, F]),
    ("hide an access package", [D, F, D, F, D, F, F]),
    ("delete an access package", [D, F, D, F, D, F, F]),
    ("delete the catalog", [D, F, D, F, F, F, F]),
    ("delegate to a catalog creator", [D, F, F, F, F, F, F]),
    ("create a catalog", [D, D, F, F, F, F, F]),
];

/// What one round builds as the administrator: a catalog with resources, packages, policies, an
/// assignment and a pending request, an empty catalog to delete, and the role under test in
/// both.
struct Round {
    catalog: String,
    resource: String,
    manager_role: String,
    empty: String,
    package: String,
    doomed: String,
    direct: String,
    pending: String,
    delivered: String,
    assignment: String,
}

impl Round {
    async fn build(server: &TestServer, ada: &Api, who: Who, n: usize) -> Self {
        let catalog = ada.create_catalog(&format!("Round {n}")).await;
        let empty = ada.create_catalog(&format!("Empty {n}")).await;
        let res = ada.add_resource(&catalog, "AadGroup", "g-res").await;
        ada.add_resource(&catalog, "AadGroup", "g-spare").await;
        let package = ada.create_package(&catalog, "Tools").await;
        ada.add_role_scope(&package, &text(&res["id"]), "Member_g-res").await;
        let direct = create_policy(ada, &package, direct_policy()).await;
        create_policy(ada, &package, approval_policy("u-val")).await;
        let doomed = ada.create_package(&catalog, "Doomed").await;
        let manager_role = text(&give_role(ada, "g-stewards", PACKAGE_MANAGER, &scope(&catalog)).await["id"]);
        let submit = submit_query();
        let added = ada
            .data(
                &submit,
                json!({ "input": { "requestType": "adminAdd", "accessPackageId": package,
                                                "assignmentPolicyId": direct, "targetId": "u-tom" } }),
            )
            .await;
        let delivered = text(&added["createAssignmentRequest"]["assignmentRequest"]["id"]);
        let assignment = text(&added["createAssignmentRequest"]["assignmentRequest"]["assignment"]["id"]);
        let quinn = server.as_user("u-quinn");
        let asked = quinn
            .data(&submit, json!({ "input": { "accessPackageId": package, "justification": "work" } }))
            .await;
        let pending = text(&asked["createAssignmentRequest"]["assignmentRequest"]["id"]);
        if let Some((role, tenant)) = who.role() {
            if tenant {
                give_role(ada, who.user(), role, "/").await;
            } else {
                give_role(ada, who.user(), role, &scope(&catalog)).await;
                give_role(ada, who.user(), role, &scope(&empty)).await;
            }
        }
        Self {
            catalog,
            resource: text(&res["id"]),
            manager_role,
            empty,
            package,
            doomed,
            direct,
            pending,
            delivered,
            assignment,
        }
    }

    /// Runs a task as `api`; what happened.
    async fn run(&self, task: &str, api: &Api, n: usize) -> (Outcome, String) {
        let (query, variables): (&str, Value) = match task {
            "view the catalog" => ("query($c: ID!) { catalog(id: $c) { id } }", json!({ "c": self.catalog })),
            "view the catalog's access packages" => (
                "query($c: ID!) { accessPackages(filter: {catalogId: $c}) { totalCount } }",
                json!({ "c": self.catalog }),
            ),
            "add a resource to the catalog" => (
                crate::support::RESOURCE_REQUEST,
                crate::support::resource_request(&self.catalog, "adminAdd", "AadGroup", "g-olga"),
            ),
            "remove a resource from the catalog" => (
                crate::support::RESOURCE_REQUEST,
                crate::support::resource_request(&self.catalog, "adminRemove", "AadGroup", "g-spare"),
            ),
            "add a catalog owner" => (
                CREATE_ROLE,
                json!({ "input": { "principalId": "u-sam", "roleDefinitionId": CATALOG_OWNER, "appScopeId": scope(&self.catalog) } }),
            ),
            "delegate to an access package manager" => (
                CREATE_ROLE,
                json!({ "input": { "principalId": "u-sue", "roleDefinitionId": PACKAGE_MANAGER, "appScopeId": scope(&self.catalog) } }),
            ),
            "remove an access package manager" => (DELETE_ROLE, json!({ "id": self.manager_role })),
            "edit the catalog" => (
                "mutation($c: ID!) { updateCatalog(input: {id: $c, description: \"edited\"}) { catalog { id } } }",
                json!({ "c": self.catalog }),
            ),
            "create an access package in the catalog" => (
                "mutation($c: ID!) { createAccessPackage(input: {catalogId: $c, displayName: \"New\"}) { accessPackage { id } } }",
                json!({ "c": self.catalog }),
            ),
            "change the resource roles of an access package" => (
                crate::support::ADD_ROLE_SCOPE,
                json!({ "input": { "accessPackageId": self.doomed, "resourceId": self.resource, "roleOriginId": "Member_g-res" } }),
            ),
            "create and edit policies" => (
                "mutation($input: CreateAssignmentPolicyInput!) { createAssignmentPolicy(input: $input) { assignmentPolicy { id } } }",
                json!({ "input": { "accessPackageId": self.package, "policy": direct_policy() } }),
            ),
            "create an auto-assignment policy" => (
                "mutation($input: CreateAssignmentPolicyInput!) { createAssignmentPolicy(input: $input) { assignmentPolicy { id } } }",
                json!({ "input": { "accessPackageId": self.doomed, "policy": {
                    "displayName": "Automatic", "allowedTargetScope": "specificDirectoryUsers",
                    "specificAllowedTargets": [{"type": "attributeRuleMembers", "membershipRule": "user.department -eq \"Nowhere\""}],
                    "automaticRequestSettings": {"requestAccessForAllowedTargets": true} } } }),
            ),
            "directly assign a user" => (
                "mutation($input: CreateAssignmentRequestInput!) { createAssignmentRequest(input: $input) { assignmentRequest { id state } } }",
                json!({ "input": { "requestType": "adminAdd", "accessPackageId": self.package,
                                   "assignmentPolicyId": self.direct, "targetId": "u-tina" } }),
            ),
            "directly remove a user" => (
                "mutation($input: CreateAssignmentRequestInput!) { createAssignmentRequest(input: $input) { assignmentRequest { id state } } }",
                json!({ "input": { "requestType": "adminRemove", "accessPackageId": self.package,
                                   "assignmentId": self.assignment } }),
            ),
            "view who has an assignment" => (
                "query($c: ID!) { assignments(filter: {catalogId: $c}) { totalCount } }",
                json!({ "c": self.catalog }),
            ),
            "view an access package's requests" => (
                "query($p: ID!) { assignmentRequests(filter: {accessPackageId: $p}) { totalCount } }",
                json!({ "p": self.package }),
            ),
            "view a request's delivery errors" => (
                "query($r: ID!) { assignmentRequest(id: $r) { id state explanation { log { text } } } }",
                json!({ "r": self.delivered }),
            ),
            "reprocess a request" => (
                "mutation($r: ID!) { reprocessAssignmentRequest(input: {id: $r}) { assignmentRequest { id } } }",
                json!({ "r": self.delivered }),
            ),
            "cancel a pending request" => (
                "mutation($r: ID!) { cancelAssignmentRequest(input: {id: $r}) { assignmentRequest { state } } }",
                json!({ "r": self.pending }),
            ),
            "hide an access package" => (
                "mutation($p: ID!) { updateAccessPackage(input: {id: $p, isHidden: true}) { accessPackage { id } } }",
                json!({ "p": self.package }),
            ),
            "delete an access package" => (
                "mutation($p: ID!) { deleteAccessPackage(input: {id: $p}) { deletedId } }",
                json!({ "p": self.doomed }),
            ),
            "delete the catalog" => (
                "mutation($c: ID!) { deleteCatalog(input: {id: $c}) { deletedId } }",
                json!({ "c": self.empty }),
            ),
            "delegate to a catalog creator" => (
                CREATE_ROLE,
                json!({ "input": { "principalId": "u-tina", "roleDefinitionId": CATALOG_CREATOR, "appScopeId": "/" } }),
            ),
            "create a catalog" => (
                "mutation($n: String!) { createCatalog(input: {displayName: $n}) { catalog { id } } }",
                json!({ "n": format!("Created in round {n}") }),
            ),
            other => panic!("no such task: {other}"),
        };
        let body = api.gql(query, variables).await;
        let code = body["errors"][0]["extensions"]["code"].as_str().map(str::to_owned);
        let outcome = match code.as_deref() {
            Some("FORBIDDEN") => Outcome::Forbidden,
            // Reprocessing a delivered request passes authorization and is then refused by the
            // request's state.
            Some("CONFLICT") if task == "reprocess a request" => Outcome::Done,
            Some(_) => return (Outcome::Nothing, format!("unexpected error: {body}")),
            None => {
                let data = &body["data"];
                let empty = match task {
                    "view the catalog" => data["catalog"].is_null(),
                    "view the catalog's access packages" => data["accessPackages"]["totalCount"] == 0,
                    "view a request's delivery errors" => data["assignmentRequest"].is_null(),
                    _ => false,
                };
                if empty { Outcome::Nothing } else { Outcome::Done }
            }
        };
        (outcome, body.to_string())
    }
}

/// What the administrator sees of everything a task could change.
async fn snapshot(ada: &Api) -> Value {
    ada.data(
        "{ catalogs { totalCount nodes { description resources { totalCount } resourceRequests { totalCount } } }
           accessPackages { totalCount nodes { isHidden resourceRoleScopes { id } } }
           assignmentPolicies { totalCount } roleAssignments { totalCount }
           assignmentRequests { totalCount nodes { state } } assignments { totalCount } }",
        json!({}),
    )
    .await
}

#[tokio::test]
async fn every_task_against_every_role() {
    // The administrator's snapshots around each of some 250 tasks would spend her budget of cost.
    let unlimited = em_api::limits::Limits { budget: None, ..em_api::limits::Limits::default() };
    let server = TestServer::with_auth_limited(delegation_directory(), false, unlimited).await;
    let ada = server.as_user("u-ada");
    let mut failures = Vec::new();
    for (n, who) in WHO.into_iter().enumerate() {
        let round = Round::build(&server, &ada, who, n).await;
        let api = server.as_user(who.user());
        for (task, row) in MATRIX {
            let before = snapshot(&ada).await;
            let (got, body) = round.run(task, &api, n).await;
            if got != row[n] {
                failures.push(format!("{who:?} / {task}: expected {:?}, got {got:?}: {body}", row[n]));
            }
            if got != Outcome::Done && snapshot(&ada).await != before {
                failures.push(format!("{who:?} / {task}: refused, yet something changed"));
            }
        }
    }
    assert!(failures.is_empty(), "{} cells failed:\n{}", failures.len(), failures.join("\n"));
    // Every refusal names the right it lacks.
    let nick = server.as_user("u-nick");
    let refusal = nick
        .refusal("mutation { createCatalog(input: {displayName: \"X\"}) { catalog { id } } }", json!({}))
        .await;
    assert!(
        refusal.message.contains("microsoft.entitlementManagement/catalogs/create"),
        "{}",
        refusal.message
    );
}
