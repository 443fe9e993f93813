//! Access packages: their lifecycle, the resource roles they grant, their incompatibilities; and
//! how id arguments accept global and bare Graph ids but refuse ids of another type.

use serde_json::{Value, json};

use crate::support::{ADD_ROLE_SCOPE, TestServer, pluck, text};

const CREATE_PACKAGE: &str =
    "mutation($input: CreateAccessPackageInput!) { createAccessPackage(input: $input) {
    accessPackage { id displayName description isHidden catalog { id } } } }";

const UPDATE_PACKAGE: &str =
    "mutation($input: UpdateAccessPackageInput!) { updateAccessPackage(input: $input) {
    accessPackage { id displayName description isHidden } } }";

const DELETE_PACKAGE: &str = "mutation($id: ID!) { deleteAccessPackage(input: {id: $id}) { deletedId } }";

const REMOVE_ROLE_SCOPE: &str = "mutation($p: ID!, $rs: String!) { removeAccessPackageResourceRoleScope(
    input: {accessPackageId: $p, resourceRoleScopeId: $rs}) { accessPackage { resourceRoleScopes { id } } } }";

const PACKAGE: &str = "query($id: ID!) { accessPackage(id: $id) { displayName
    resourceRoleScopes { id role { originId } scope { isRootScope } }
    incompatibleAccessPackages { id } accessPackagesIncompatibleWith { id } incompatibleGroups { id } } }";

#[tokio::test]
async fn access_packages_are_created_updated_and_deleted() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let package = server
        .data(CREATE_PACKAGE, json!({"input": {"catalogId": catalog, "displayName": " Sales access ", "description": "For sellers"}}))
        .await["createAccessPackage"]["accessPackage"]
        .clone();
    let id = text(&package["id"]);
    assert!(id.starts_with("AccessPackage:"), "{id}");
    assert_eq!(
        package,
        json!({"id": id, "displayName": "Sales access", "description": "For sellers", "isHidden": false,
               "catalog": {"id": catalog}})
    );

    let updated = server
        .data(UPDATE_PACKAGE, json!({"input": {"id": id, "isHidden": true, "description": "Sellers only"}}))
        .await["updateAccessPackage"]["accessPackage"]
        .clone();
    assert_eq!(
        updated,
        json!({"id": id, "displayName": "Sales access", "description": "Sellers only", "isHidden": true})
    );
    let cleared = server.data(UPDATE_PACKAGE, json!({"input": {"id": id, "description": null}})).await;
    assert_eq!(cleared["updateAccessPackage"]["accessPackage"]["description"], Value::Null);
    assert_eq!(cleared["updateAccessPackage"]["accessPackage"]["isHidden"], true, "omitted fields stay");

    let listed = server
        .data(
            "query($c: ID!) { catalog(id: $c) { accessPackages { totalCount nodes { id } } }
               hidden: accessPackages(filter: {isHidden: true}) { totalCount }
               inCatalog: accessPackages(filter: {catalogId: $c, search: \"SALES\"}) { nodes { displayName description } } }",
            json!({ "c": catalog }),
        )
        .await;
    assert_eq!(listed["catalog"]["accessPackages"], json!({"totalCount": 1, "nodes": [{"id": id}]}));
    assert_eq!(listed["hidden"]["totalCount"], 1);
    assert_eq!(listed["inCatalog"]["nodes"], json!([{"displayName": "Sales access", "description": null}]));

    let refusals = [
        (
            CREATE_PACKAGE,
            json!({"catalogId": "AccessPackageCatalog:ghost", "displayName": "X"}),
            "NOT_FOUND",
            "catalogId",
        ),
        (CREATE_PACKAGE, json!({"catalogId": "ghost", "displayName": "X"}), "NOT_FOUND", "catalogId"),
        (
            CREATE_PACKAGE,
            json!({"catalogId": catalog, "displayName": "  "}),
            "VALIDATION_FAILED",
            "displayName",
        ),
        (UPDATE_PACKAGE, json!({"id": id, "displayName": ""}), "VALIDATION_FAILED", "displayName"),
        (UPDATE_PACKAGE, json!({"id": "AccessPackage:ghost", "isHidden": false}), "NOT_FOUND", "id"),
    ];
    for (query, input, code, field) in refusals {
        server.refused(query, json!({ "input": input }), code, Some(field)).await;
    }

    assert_eq!(
        server.data(DELETE_PACKAGE, json!({ "id": id })).await["deleteAccessPackage"]["deletedId"],
        id
    );
    assert_eq!(server.data(PACKAGE, json!({ "id": id })).await["accessPackage"], Value::Null);
    server.refused(DELETE_PACKAGE, json!({ "id": id }), "NOT_FOUND", Some("id")).await;
    let count = server
        .data("query($c: ID!) { catalog(id: $c) { accessPackages { totalCount } } }", json!({ "c": catalog }))
        .await;
    assert_eq!(count["catalog"]["accessPackages"]["totalCount"], 0);
}

#[tokio::test]
async fn resource_role_scopes_are_added_by_origin_id_or_role_id_and_removed() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Everything").await;
    let sales = server.add_resource(&catalog, "AadGroup", "g-sales").await;
    let salesforce = server.add_resource(&catalog, "AadApplication", "app-sf").await;
    let site = server.add_resource(&catalog, "SharePointOnline", "site-mkt").await;
    let helpdesk = server.add_resource(&catalog, "DirectoryRole", "role-helpdesk").await;
    let global_admin = server.add_resource(&catalog, "DirectoryRole", "role-ga").await;
    let package = server.create_package(&catalog, "Everything").await;

    let cases = [
        (&sales, "Member_g-sales"),
        (&salesforce, "r-sf-user"),
        (&site, "4"),
        (&helpdesk, "Eligible"),
        (&global_admin, "Eligible"),
    ];
    let mut ids = Vec::new();
    for (resource, origin) in cases {
        let role_scope = server.add_role_scope(&package, &text(&resource["id"]), origin).await;
        let role =
            resource["roles"].as_array().and_then(|roles| roles.iter().find(|r| r["originId"] == origin));
        let role_id = text(&role.cloned().unwrap_or_default()["id"]);
        let scope_id = text(&resource["scopes"][0]["id"]);
        // Graph's role scope id: `<roleId>_<scopeId>`, at the resource's root scope.
        assert_eq!(
            role_scope,
            json!({"id": format!("{role_id}_{scope_id}"),
                   "role": {"id": role_id, "originId": origin, "displayName": role.cloned().unwrap_or_default()["displayName"]},
                   "scope": {"id": scope_id, "isRootScope": true}})
        );
        ids.push(text(&role_scope["id"]));
    }
    // By role id: the group's Owner role.
    let owner = sales["roles"][1].clone();
    assert_eq!(owner["originId"], "Owner_g-sales");
    let by_id = server
        .data(
            ADD_ROLE_SCOPE,
            json!({"input": {"accessPackageId": package, "resourceId": sales["id"], "roleId": owner["id"]}}),
        )
        .await["addAccessPackageResourceRoleScope"]
        .clone();
    assert_eq!(by_id["accessPackage"]["id"], package);
    assert_eq!(by_id["resourceRoleScope"]["role"]["originId"], "Owner_g-sales");

    let stored = server.data(PACKAGE, json!({ "id": package })).await["accessPackage"].clone();
    assert_eq!(
        pluck(&stored["resourceRoleScopes"], "id")
            .iter()
            .map(|rs| pluck_role(&stored, rs))
            .collect::<Vec<_>>(),
        ["Member_g-sales", "r-sf-user", "4", "Eligible", "Eligible", "Owner_g-sales"]
    );

    // Another catalog's resource, a role twice, roles that do not exist.
    let other = server.create_catalog("Other").await;
    let elsewhere = server.add_resource(&other, "AadGroup", "g-m365").await;
    let refusals = [
        (
            json!({"resourceId": elsewhere["id"], "roleOriginId": "Member_g-m365"}),
            "VALIDATION_FAILED",
            "resourceId",
        ),
        (json!({"resourceId": sales["id"], "roleOriginId": "Member_g-sales"}), "CONFLICT", "roleId"),
        (json!({"resourceId": sales["id"], "roleId": owner["id"]}), "CONFLICT", "roleId"),
        (
            json!({"resourceId": sales["id"], "roleOriginId": "Admin_g-sales"}),
            "VALIDATION_FAILED",
            "roleOriginId",
        ),
        (json!({"resourceId": site["id"], "roleOriginId": "9"}), "VALIDATION_FAILED", "roleOriginId"),
        // The privileged role has no Active role to grant.
        (
            json!({"resourceId": global_admin["id"], "roleOriginId": "Active"}),
            "VALIDATION_FAILED",
            "roleOriginId",
        ),
        (
            json!({"resourceId": salesforce["id"], "roleOriginId": "r-sf-daemon"}),
            "VALIDATION_FAILED",
            "roleOriginId",
        ),
        (json!({"resourceId": sales["id"], "roleId": "no-such-role"}), "VALIDATION_FAILED", "roleId"),
        (json!({"resourceId": sales["id"]}), "VALIDATION_FAILED", "roleId"),
        (
            json!({"resourceId": sales["id"], "roleOriginId": "Member_g-sales", "scopeId": "nope"}),
            "VALIDATION_FAILED",
            "scopeId",
        ),
        (
            json!({"resourceId": "AccessPackageResource:ghost", "roleOriginId": "Member_g-sales"}),
            "NOT_FOUND",
            "resourceId",
        ),
    ];
    for (mut input, code, field) in refusals {
        input["accessPackageId"] = json!(package);
        server.refused(ADD_ROLE_SCOPE, json!({ "input": input }), code, Some(field)).await;
    }
    server
        .refused(
            ADD_ROLE_SCOPE,
            json!({"input": {"accessPackageId": "AccessPackage:ghost", "resourceId": sales["id"], "roleOriginId": "Member_g-sales"}}),
            "NOT_FOUND",
            Some("accessPackageId"),
        )
        .await;

    let removed = server.data(REMOVE_ROLE_SCOPE, json!({ "p": package, "rs": ids[0] })).await;
    assert_eq!(
        removed["removeAccessPackageResourceRoleScope"]["accessPackage"]["resourceRoleScopes"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    server
        .refused(REMOVE_ROLE_SCOPE, json!({ "p": package, "rs": ids[0] }), "NOT_FOUND", Some("roleScopeId"))
        .await;
    let stored = server.data(PACKAGE, json!({ "id": package })).await["accessPackage"].clone();
    assert!(!pluck(&stored["resourceRoleScopes"], "id").contains(&ids[0]));
    // The removed role can be added again.
    server.add_role_scope(&package, &text(&sales["id"]), "member_G-SALES").await;
}

/// The role origin id of role scope `id` in a package read with [`PACKAGE`].
fn pluck_role(package: &Value, id: &str) -> String {
    let scopes = package["resourceRoleScopes"].as_array().cloned().unwrap_or_default();
    scopes.iter().find(|rs| rs["id"] == id).map(|rs| text(&rs["role"]["originId"])).unwrap_or_default()
}

const ADD_INCOMPATIBLE: &str = "mutation($a: ID!, $b: ID!) { addIncompatibleAccessPackage(
    input: {accessPackageId: $a, incompatibleAccessPackageId: $b}) { accessPackage { incompatibleAccessPackages { id } } } }";

const REMOVE_INCOMPATIBLE: &str = "mutation($a: ID!, $b: ID!) { removeIncompatibleAccessPackage(
    input: {accessPackageId: $a, incompatibleAccessPackageId: $b}) { accessPackage { incompatibleAccessPackages { id } } } }";

const ADD_GROUP: &str =
    "mutation($a: ID!, $g: ID!) { addIncompatibleGroup(input: {accessPackageId: $a, groupId: $g}) {
    accessPackage { incompatibleGroups { id } } } }";

const REMOVE_GROUP: &str =
    "mutation($a: ID!, $g: ID!) { removeIncompatibleGroup(input: {accessPackageId: $a, groupId: $g}) {
    accessPackage { incompatibleGroups { id } } } }";

#[tokio::test]
async fn incompatible_access_packages_are_one_way_edges() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Finance").await;
    let a = server.create_package(&catalog, "Payments").await;
    let b = server.create_package(&catalog, "Audit").await;

    let added = server.data(ADD_INCOMPATIBLE, json!({ "a": a, "b": b })).await;
    assert_eq!(
        added["addIncompatibleAccessPackage"]["accessPackage"]["incompatibleAccessPackages"],
        json!([{"id": b}])
    );
    let read = |id: &str| server.data(PACKAGE, json!({ "id": id }));
    let (pa, pb) = (read(&a).await["accessPackage"].clone(), read(&b).await["accessPackage"].clone());
    assert_eq!(
        (&pa["incompatibleAccessPackages"], &pa["accessPackagesIncompatibleWith"]),
        (&json!([{"id": b}]), &json!([]))
    );
    assert_eq!(
        (&pb["incompatibleAccessPackages"], &pb["accessPackagesIncompatibleWith"]),
        (&json!([]), &json!([{"id": a}]))
    );

    server.refused(ADD_INCOMPATIBLE, json!({ "a": a, "b": b }), "CONFLICT", Some("targetId")).await;
    server
        .refused(
            ADD_INCOMPATIBLE,
            json!({ "a": a, "b": a }),
            "VALIDATION_FAILED",
            Some("incompatibleAccessPackageId"),
        )
        .await;
    server
        .refused(
            ADD_INCOMPATIBLE,
            json!({ "a": a, "b": "AccessPackage:ghost" }),
            "NOT_FOUND",
            Some("incompatibleAccessPackageId"),
        )
        .await;
    server
        .refused(
            ADD_INCOMPATIBLE,
            json!({ "a": "AccessPackage:ghost", "b": a }),
            "NOT_FOUND",
            Some("accessPackageId"),
        )
        .await;
    // The reverse edge is a different edge, and allowed.
    server.data(ADD_INCOMPATIBLE, json!({ "a": b, "b": a })).await;

    let removed = server.data(REMOVE_INCOMPATIBLE, json!({ "a": a, "b": b })).await;
    assert_eq!(
        removed["removeIncompatibleAccessPackage"]["accessPackage"]["incompatibleAccessPackages"],
        json!([])
    );
    server.refused(REMOVE_INCOMPATIBLE, json!({ "a": a, "b": b }), "NOT_FOUND", Some("targetId")).await;
    let pb = read(&b).await["accessPackage"].clone();
    assert_eq!(
        (&pb["incompatibleAccessPackages"], &pb["accessPackagesIncompatibleWith"]),
        (&json!([{"id": a}]), &json!([]))
    );
}

#[tokio::test]
async fn incompatible_groups_are_added_and_removed() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Finance").await;
    let a = server.create_package(&catalog, "Payments").await;

    let added = server.data(ADD_GROUP, json!({ "a": a, "g": "Group:g-sales" })).await;
    assert_eq!(
        added["addIncompatibleGroup"]["accessPackage"]["incompatibleGroups"],
        json!([{"id": "Group:g-sales"}])
    );
    let added = server.data(ADD_GROUP, json!({ "a": a, "g": "g-m365" })).await;
    assert_eq!(
        added["addIncompatibleGroup"]["accessPackage"]["incompatibleGroups"],
        json!([{"id": "Group:g-m365"}, {"id": "Group:g-sales"}])
    );
    server.refused(ADD_GROUP, json!({ "a": a, "g": "g-sales" }), "CONFLICT", Some("targetId")).await;
    server.refused(ADD_GROUP, json!({ "a": a, "g": "ghost" }), "NOT_FOUND", Some("groupId")).await;
    server
        .refused(ADD_GROUP, json!({ "a": a, "g": "User:u-ada" }), "VALIDATION_FAILED", Some("groupId"))
        .await;

    let removed = server.data(REMOVE_GROUP, json!({ "a": a, "g": "g-sales" })).await;
    assert_eq!(
        removed["removeIncompatibleGroup"]["accessPackage"]["incompatibleGroups"],
        json!([{"id": "Group:g-m365"}])
    );
    server.refused(REMOVE_GROUP, json!({ "a": a, "g": "g-sales" }), "NOT_FOUND", Some("targetId")).await;

    // Deleting the group takes the edge with it.
    server.data("mutation { deleteGroup(input: {id: \"g-m365\"}) { deletedId } }", json!({})).await;
    assert_eq!(
        server.data(PACKAGE, json!({ "id": a })).await["accessPackage"]["incompatibleGroups"],
        json!([])
    );
}

#[tokio::test]
async fn deleting_an_access_package_removes_its_edges_and_role_scopes() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Finance").await;
    let sales = server.add_resource(&catalog, "AadGroup", "g-sales").await;
    let a = server.create_package(&catalog, "Payments").await;
    let b = server.create_package(&catalog, "Audit").await;
    let c = server.create_package(&catalog, "Treasury").await;
    server.add_role_scope(&a, &text(&sales["id"]), "Member_g-sales").await;
    server.data(ADD_INCOMPATIBLE, json!({ "a": a, "b": b })).await;
    server.data(ADD_INCOMPATIBLE, json!({ "a": c, "b": a })).await;
    server.data(ADD_GROUP, json!({ "a": a, "g": "g-all" })).await;

    server.data(DELETE_PACKAGE, json!({ "id": a })).await;
    let pb = server.data(PACKAGE, json!({ "id": b })).await["accessPackage"].clone();
    let pc = server.data(PACKAGE, json!({ "id": c })).await["accessPackage"].clone();
    assert_eq!(pb["accessPackagesIncompatibleWith"], json!([]), "the edge from the deleted package is gone");
    assert_eq!(pc["incompatibleAccessPackages"], json!([]), "the edge to the deleted package is gone");

    // Its role scope no longer holds the resource in the catalog.
    let removed = server
        .data(
            crate::support::RESOURCE_REQUEST,
            crate::support::resource_request(&catalog, "adminRemove", "AadGroup", "g-sales"),
        )
        .await;
    assert_eq!(removed["createResourceRequest"]["resourceRequest"]["requestType"], "adminRemove");
    // A new package with the deleted one's name starts without its edges.
    let again = server.create_package(&catalog, "Payments").await;
    let fresh = server.data(PACKAGE, json!({ "id": again })).await["accessPackage"].clone();
    assert_eq!(
        fresh,
        json!({"displayName": "Payments", "resourceRoleScopes": [], "incompatibleAccessPackages": [],
               "accessPackagesIncompatibleWith": [], "incompatibleGroups": []})
    );
}

#[tokio::test]
async fn id_arguments_take_global_or_bare_ids_of_the_right_type() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let bare_catalog = catalog.trim_start_matches("AccessPackageCatalog:").to_owned();
    let package = server.create_package(&bare_catalog, "Sales access").await;
    let bare_package = package.trim_start_matches("AccessPackage:").to_owned();

    // Both forms name the same object.
    for (query, global, bare) in [
        ("query($id: ID!) { r: user(id: $id) { id } }", "User:u-ada", "u-ada"),
        ("query($id: ID!) { r: group(id: $id) { id } }", "Group:g-sales", "g-sales"),
        ("query($id: ID!) { r: application(id: $id) { id } }", "Application:app-sf", "app-sf"),
        ("query($id: ID!) { r: site(id: $id) { id } }", "Site:site-mkt", "site-mkt"),
        ("query($id: ID!) { r: directoryRole(id: $id) { id } }", "DirectoryRole:role-ga", "role-ga"),
        ("query($id: ID!) { r: catalog(id: $id) { id } }", catalog.as_str(), bare_catalog.as_str()),
        ("query($id: ID!) { r: accessPackage(id: $id) { id } }", package.as_str(), bare_package.as_str()),
    ] {
        let by_global = server.data(query, json!({ "id": global })).await;
        assert_eq!(by_global["r"]["id"], global, "{query}");
        assert_eq!(server.data(query, json!({ "id": bare })).await, by_global, "{query} with `{bare}`");
    }

    // An id of another type is refused, not looked up.
    let cases = [
        ("query($id: ID!) { catalog(id: $id) { id } }", json!({"id": "User:u-ada"}), "id"),
        ("query($id: ID!) { user(id: $id) { id } }", json!({"id": "Group:g-sales"}), "id"),
        ("query($id: ID!) { group(id: $id) { id } }", json!({"id": package}), "id"),
        ("query($id: ID!) { accessPackage(id: $id) { id } }", json!({"id": catalog}), "id"),
        ("query($id: ID!) { accessPackageResource(id: $id) { id } }", json!({"id": "Site:site-mkt"}), "id"),
        (
            "mutation($id: ID!) { createAccessPackage(input: {catalogId: $id, displayName: \"X\"}) { accessPackage { id } } }",
            json!({"id": "User:u-ada"}),
            "catalogId",
        ),
        (
            "mutation($id: ID!) { deleteCatalog(input: {id: $id}) { deletedId } }",
            json!({"id": package}),
            "id",
        ),
        (
            "mutation($id: ID!) { deleteUser(input: {id: $id}) { deletedId } }",
            json!({"id": "Group:g-sales"}),
            "id",
        ),
        (
            "mutation($id: ID!) { updateUser(input: {id: \"u-bob\", managerId: $id}) { user { id } } }",
            json!({"id": "Group:g-sales"}),
            "managerId",
        ),
        (
            "mutation($id: ID!) { addGroupMember(input: {groupId: $id, principalId: \"u-bob\"}) { group { id } } }",
            json!({"id": "User:u-ada"}),
            "groupId",
        ),
        (
            "mutation($id: ID!) { addGroupMember(input: {groupId: \"g-sales\", principalId: $id}) { group { id } } }",
            json!({"id": "Application:app-sf"}),
            "principalId",
        ),
        (
            "query($id: ID!) { users(filter: {managerId: $id}) { totalCount } }",
            json!({"id": "Group:g-sales"}),
            "filter.managerId",
        ),
        (
            "mutation($c: ID!) { createResourceRequest(input: {catalogId: $c, requestType: adminAdd,
                 resource: {originId: \"g-sales\", originSystem: AadGroup}}) { resource { id } } }",
            json!({"c": package}),
            "catalogId",
        ),
    ];
    for (query, variables, field) in cases {
        server.refused(query, variables, "VALIDATION_FAILED", Some(field)).await;
    }
    let left = server.data("{ catalogs { totalCount } accessPackages { totalCount } }", json!({})).await;
    assert_eq!(left, json!({"catalogs": {"totalCount": 2}, "accessPackages": {"totalCount": 1}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_catalogs_with_one_name_leave_exactly_one() {
    let server = TestServer::start().await;
    let create = "mutation($n: String!) { createCatalog(input: {displayName: $n}) { catalog { id } } }";
    for round in 0..10 {
        let name = format!("Race {round}");
        let (first, second) = tokio::join!(
            server.gql(create, json!({ "n": name })),
            server.gql(create, json!({ "n": name.to_uppercase() })),
        );
        let outcomes: Vec<String> = [&first, &second]
            .iter()
            .map(|body| match body["errors"][0]["extensions"]["code"].as_str() {
                Some(code) => format!("{code} at {}", text(&body["errors"][0]["extensions"]["field"])),
                None => "created".to_owned(),
            })
            .collect();
        let mut sorted = outcomes.clone();
        sorted.sort();
        assert_eq!(sorted, ["CONFLICT at displayName", "created"], "round {round}: {first} / {second}");
        let left = server
            .data("query($n: String) { catalogs(filter: {search: $n}) { totalCount } }", json!({ "n": name }))
            .await;
        assert_eq!(left["catalogs"]["totalCount"], 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_catalog_deleted_while_a_package_is_created_never_holds_the_package() {
    let server = TestServer::start().await;
    let mut outcomes = Vec::new();
    for round in 0..10 {
        let catalog = server.create_catalog(&format!("Short-lived {round}")).await;
        let (created, deleted) = tokio::join!(
            server.gql(CREATE_PACKAGE, json!({"input": {"catalogId": catalog, "displayName": "Racer"}})),
            server.gql(
                "mutation($id: ID!) { deleteCatalog(input: {id: $id}) { deletedId } }",
                json!({ "id": catalog })
            ),
        );
        let code = |body: &Value| body["errors"][0]["extensions"]["code"].as_str().unwrap_or("ok").to_owned();
        let outcome = (code(&created), code(&deleted));
        let state = server
            .data(
                "query($c: ID!) { catalog(id: $c) { accessPackages { totalCount } }
                   accessPackages(filter: {catalogId: $c}) { totalCount } }",
                json!({ "c": catalog }),
            )
            .await;
        match (outcome.0.as_str(), outcome.1.as_str()) {
            // The package won: the catalog stays and holds it.
            ("ok", "CONFLICT") => assert_eq!(
                state,
                json!({"catalog": {"accessPackages": {"totalCount": 1}}, "accessPackages": {"totalCount": 1}}),
                "round {round}"
            ),
            // The deletion won: no package refers to the deleted catalog.
            ("NOT_FOUND", "ok") => {
                assert_eq!(
                    state,
                    json!({"catalog": null, "accessPackages": {"totalCount": 0}}),
                    "round {round}"
                );
            }
            other => {
                panic!("round {round}: unexpected outcome {other:?}: {created} / {deleted}; now {state}")
            }
        }
        outcomes.push(outcome);
    }
    assert_eq!(outcomes.len(), 10);
}

/// The portal's "Create new catalog" while creating a package: one mutation, one transaction.
#[tokio::test]
async fn a_package_is_created_with_its_new_catalog_in_one_transaction() {
    use crate::delegation::{CATALOG_CREATOR, delegation_directory, give_role};
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");
    let with_catalog = |name: &str, package: &str| json!({"input": {"newCatalog": {"displayName": name, "isExternallyVisible": true}, "displayName": package}});
    let made = ada.data(CREATE_PACKAGE, with_catalog("ERP Project", "ERP access")).await;
    let package = &made["createAccessPackage"]["accessPackage"];
    assert_eq!(package["displayName"], "ERP access");
    let catalog = ada
        .data("query($id: ID!) { catalog(id: $id) { displayName isExternallyVisible accessPackages { totalCount } } }",
              json!({"id": package["catalog"]["id"]}))
        .await;
    assert_eq!(
        catalog["catalog"],
        json!({"displayName": "ERP Project", "isExternallyVisible": true, "accessPackages": {"totalCount": 1}})
    );

    // A catalog creator becomes the new catalog's owner; the package is theirs to manage.
    give_role(&ada, "u-cora", CATALOG_CREATOR, "/").await;
    let cora = server.as_user("u-cora");
    let made = cora.data(CREATE_PACKAGE, with_catalog("Cora's", "Cora's tools")).await;
    let package_id = made["createAccessPackage"]["accessPackage"]["id"].clone();
    cora.data(UPDATE_PACKAGE, json!({"input": {"id": package_id, "description": "edited by the owner"}}))
        .await;
    let owners = cora
        .data("{ roleAssignments { nodes { principalId roleDefinition { displayName } } } }", json!({}))
        .await;
    assert_eq!(
        owners["roleAssignments"]["nodes"],
        json!([{"principalId": "u-cora", "roleDefinition": {"displayName": "Catalog creator"}},
               {"principalId": "u-cora", "roleDefinition": {"displayName": "Catalog owner"}}])
    );

    // Refusals change nothing: a taken name, someone who may not create catalogs, both or neither.
    let count = "{ catalogs { totalCount } accessPackages { totalCount } }";
    let before = ada.data(count, json!({})).await;
    ada.refused(CREATE_PACKAGE, with_catalog("erp project", "Again"), "CONFLICT", Some("displayName")).await;
    server.as_user("u-nick").refused(CREATE_PACKAGE, with_catalog("Nick's", "Nope"), "FORBIDDEN", None).await;
    let both = json!({"input": {"catalogId": package["catalog"]["id"], "newCatalog": {"displayName": "X"}, "displayName": "Y"}});
    ada.refused(CREATE_PACKAGE, both, "VALIDATION_FAILED", Some("catalogId")).await;
    ada.refused(
        CREATE_PACKAGE,
        json!({"input": {"displayName": "Y"}}),
        "VALIDATION_FAILED",
        Some("catalogId"),
    )
    .await;
    ada.refused(CREATE_PACKAGE, with_catalog("Fine name", " "), "VALIDATION_FAILED", Some("displayName"))
        .await;
    assert_eq!(ada.data(count, json!({})).await, before);
}
