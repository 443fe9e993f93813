//! Catalogs and the resources in them (`createResourceRequest` with `adminAdd` and `adminRemove`).

use em_engine::catalog::GENERAL_CATALOG_ID;
use serde_json::{Value, json};

use crate::support::{RESOURCE_REQUEST, TestServer, pluck, resource_request, text};

const CREATE_CATALOG: &str =
    "mutation($input: CreateCatalogInput!) { createCatalog(input: $input) { catalog {
    id displayName description catalogType state isExternallyVisible } } }";

const UPDATE_CATALOG: &str =
    "mutation($input: UpdateCatalogInput!) { updateCatalog(input: $input) { catalog {
    id displayName description catalogType state isExternallyVisible } } }";

const DELETE_CATALOG: &str = "mutation($id: ID!) { deleteCatalog(input: {id: $id}) { deletedId } }";

#[tokio::test]
async fn the_general_catalog_is_built_in_and_cannot_be_deleted_or_renamed() {
    let server = TestServer::start().await;
    let general_id = format!("AccessPackageCatalog:{GENERAL_CATALOG_ID}");
    let data = server
        .data(
            "{ catalogs { totalCount nodes { id displayName catalogType state isExternallyVisible } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["catalogs"],
        json!({"totalCount": 1, "nodes": [{"id": general_id, "displayName": "General", "catalogType": "serviceDefault",
                                            "state": "published", "isExternallyVisible": true}]})
    );
    server.refused(DELETE_CATALOG, json!({ "id": general_id }), "VALIDATION_FAILED", Some("id")).await;
    server
        .refused(
            UPDATE_CATALOG,
            json!({"input": {"id": general_id, "displayName": "Renamed"}}),
            "VALIDATION_FAILED",
            Some("displayName"),
        )
        .await;
    assert_eq!(
        server
            .data("query($id: ID!) { catalog(id: $id) { displayName } }", json!({ "id": general_id }))
            .await,
        json!({"catalog": {"displayName": "General"}})
    );
    // Its other properties can be changed, as in Entra.
    let updated =
        server.data(UPDATE_CATALOG, json!({"input": {"id": general_id, "isExternallyVisible": false}})).await;
    assert_eq!(updated["updateCatalog"]["catalog"]["isExternallyVisible"], false);
}

#[tokio::test]
async fn catalogs_are_created_with_portal_defaults_and_unique_names() {
    let server = TestServer::start().await;
    let catalog = server
        .data(CREATE_CATALOG, json!({"input": {"displayName": "  ERP  "}}))
        .await["createCatalog"]["catalog"]
        .clone();
    assert!(text(&catalog["id"]).starts_with("AccessPackageCatalog:"), "{catalog}");
    assert_eq!(
        catalog,
        json!({"id": catalog["id"], "displayName": "ERP", "description": null, "catalogType": "userManaged",
               "state": "published", "isExternallyVisible": true})
    );
    let given = server
        .data(
            CREATE_CATALOG,
            json!({"input": {"displayName": "HR", "description": "People", "state": "unpublished",
                             "isExternallyVisible": false, "catalogType": "userManaged"}}),
        )
        .await["createCatalog"]["catalog"]
        .clone();
    assert_eq!(
        (&given["description"], &given["state"], &given["isExternallyVisible"]),
        (&json!("People"), &json!("unpublished"), &json!(false))
    );

    let refusals = [
        (json!({"displayName": "erp"}), "CONFLICT", "displayName"),
        (json!({"displayName": " ERP "}), "CONFLICT", "displayName"),
        (json!({"displayName": "GENERAL"}), "CONFLICT", "displayName"),
        (json!({"displayName": ""}), "VALIDATION_FAILED", "displayName"),
        (json!({"displayName": "   "}), "VALIDATION_FAILED", "displayName"),
        (json!({"displayName": "x".repeat(257)}), "VALIDATION_FAILED", "displayName"),
        (json!({"displayName": "Mine", "catalogType": "serviceDefault"}), "VALIDATION_FAILED", "catalogType"),
        (json!({"displayName": "Mine", "catalogType": "serviceManaged"}), "VALIDATION_FAILED", "catalogType"),
    ];
    for (input, code, field) in refusals {
        server.refused(CREATE_CATALOG, json!({ "input": input }), code, Some(field)).await;
    }
    let names = server.data("{ catalogs { nodes { displayName } } }", json!({})).await;
    assert_eq!(pluck(&names["catalogs"]["nodes"], "displayName"), ["ERP", "General", "HR"]);
}

#[tokio::test]
async fn catalogs_update_and_delete() {
    let server = TestServer::start().await;
    let erp = server
        .data(CREATE_CATALOG, json!({"input": {"displayName": "ERP", "description": "Finance systems"}}))
        .await["createCatalog"]["catalog"]["id"]
        .clone();
    server.create_catalog("HR").await;

    let updated = server
        .data(
            UPDATE_CATALOG,
            json!({"input": {"id": erp, "state": "unpublished", "isExternallyVisible": false, "description": null}}),
        )
        .await["updateCatalog"]["catalog"]
        .clone();
    assert_eq!(
        updated,
        json!({"id": erp, "displayName": "ERP", "description": null, "catalogType": "userManaged",
               "state": "unpublished", "isExternallyVisible": false})
    );
    // Omitted fields stay as they are; the stored catalog is the one returned.
    let renamed =
        server.data(UPDATE_CATALOG, json!({"input": {"id": erp, "displayName": "ERP Systems"}})).await;
    assert_eq!(renamed["updateCatalog"]["catalog"]["state"], "unpublished");
    let stored = server
        .data(
            "query($id: ID!) { catalog(id: $id) { displayName description state isExternallyVisible } }",
            json!({ "id": erp }),
        )
        .await;
    assert_eq!(
        stored["catalog"],
        json!({"displayName": "ERP Systems", "description": null, "state": "unpublished", "isExternallyVisible": false})
    );

    server
        .refused(
            UPDATE_CATALOG,
            json!({"input": {"id": erp, "displayName": "hr"}}),
            "CONFLICT",
            Some("displayName"),
        )
        .await;
    server
        .refused(
            UPDATE_CATALOG,
            json!({"input": {"id": erp, "displayName": " "}}),
            "VALIDATION_FAILED",
            Some("displayName"),
        )
        .await;
    server
        .refused(
            UPDATE_CATALOG,
            json!({"input": {"id": "AccessPackageCatalog:ghost", "state": "published"}}),
            "NOT_FOUND",
            Some("id"),
        )
        .await;

    let deleted = server.data(DELETE_CATALOG, json!({ "id": erp })).await;
    assert_eq!(deleted["deleteCatalog"]["deletedId"], erp);
    assert_eq!(
        server.data("query($id: ID!) { catalog(id: $id) { id } }", json!({ "id": erp })).await["catalog"],
        Value::Null
    );
    server.refused(DELETE_CATALOG, json!({ "id": erp }), "NOT_FOUND", Some("id")).await;
    // The name is free again.
    server.create_catalog("ERP Systems").await;
}

#[tokio::test]
async fn a_catalog_with_access_packages_cannot_be_deleted() {
    let server = TestServer::start().await;
    let catalog = server.create_catalog("ERP").await;
    let package = server.create_package(&catalog, "ERP users").await;
    let refusal = server.refused(DELETE_CATALOG, json!({ "id": catalog }), "CONFLICT", Some("id")).await;
    assert!(refusal.message.contains("access package"), "{}", refusal.message);
    let still = server
        .data(
            "query($id: ID!) { catalog(id: $id) { displayName accessPackages { totalCount } } }",
            json!({ "id": catalog }),
        )
        .await;
    assert_eq!(still["catalog"], json!({"displayName": "ERP", "accessPackages": {"totalCount": 1}}));

    server
        .data(
            "mutation($id: ID!) { deleteAccessPackage(input: {id: $id}) { deletedId } }",
            json!({ "id": package }),
        )
        .await;
    assert_eq!(
        server.data(DELETE_CATALOG, json!({ "id": catalog })).await["deleteCatalog"]["deletedId"],
        catalog
    );
}

#[tokio::test]
async fn catalogs_filter_by_search_state_and_type() {
    let server = TestServer::start().await;
    for (name, state) in [("ERP", "published"), ("Sales Tools", "unpublished"), ("Sales Data", "published")] {
        server.data(CREATE_CATALOG, json!({"input": {"displayName": name, "state": state}})).await;
    }
    let check = |filter: Value, expected: &'static [&'static str]| {
        let server = &server;
        async move {
            let data = server
                .data(
                    "query($f: AccessPackageCatalogFilter) { catalogs(filter: $f) { totalCount nodes { displayName } } }",
                    json!({ "f": filter }),
                )
                .await;
            assert_eq!(pluck(&data["catalogs"]["nodes"], "displayName"), expected, "filter {filter}");
            assert_eq!(data["catalogs"]["totalCount"], expected.len(), "filter {filter}");
        }
    };
    check(json!({}), &["ERP", "General", "Sales Data", "Sales Tools"]).await;
    // `search` is a case-insensitive part of the name.
    check(json!({"search": "sales"}), &["Sales Data", "Sales Tools"]).await;
    check(json!({"search": "TOOL"}), &["Sales Tools"]).await;
    check(json!({"state": "unpublished"}), &["Sales Tools"]).await;
    check(json!({"search": "sales", "state": "published"}), &["Sales Data"]).await;
    check(json!({"catalogType": "serviceDefault"}), &["General"]).await;
    check(json!({"catalogType": "userManaged", "search": "r"}), &["ERP"]).await;
    check(json!({"search": "payroll"}), &[]).await;
}

/// The origin ids of a resource's roles.
fn role_origins(resource: &Value) -> Vec<String> {
    pluck(&resource["roles"], "originId")
}

#[tokio::test]
async fn groups_and_teams_are_added_with_member_and_owner_roles() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let data =
        server.data(RESOURCE_REQUEST, resource_request(&catalog, "adminAdd", "AadGroup", "g-sales")).await;
    let payload = &data["createResourceRequest"];
    assert_eq!(
        payload["resourceRequest"],
        json!({"requestType": "adminAdd", "state": "delivered", "requestor": "local-operator", "catalog": {"id": catalog}})
    );
    let sales = &payload["resource"];
    assert!(text(&sales["id"]).starts_with("AccessPackageResource:"), "{sales}");
    assert_eq!(
        (&sales["displayName"], &sales["originId"], &sales["originSystem"], &sales["resourceType"]),
        (&json!("Sales Team"), &json!("g-sales"), &json!("AadGroup"), &json!("Security Group"))
    );
    assert_eq!(role_origins(sales), ["Member_g-sales", "Owner_g-sales"]);
    assert_eq!(pluck(&sales["roles"], "displayName"), ["Member", "Owner"]);
    assert_eq!(
        sales["scopes"],
        json!([{"id": sales["scopes"][0]["id"], "originId": "g-sales", "isRootScope": true}])
    );

    let team = server.add_resource(&catalog, "AadGroup", "g-team").await;
    assert_eq!(
        (text(&team["resourceType"]), role_origins(&team)),
        ("Team".to_owned(), vec!["Member_g-team".to_owned(), "Owner_g-team".to_owned()])
    );
    let m365 = server.add_resource(&catalog, "AadGroup", "g-m365").await;
    assert_eq!(m365["resourceType"], "Microsoft 365 Group");

    // The same group may be in another catalog, as its own resource.
    let other = server.create_catalog("Other").await;
    let again = server.add_resource(&other, "AadGroup", "g-sales").await;
    assert_ne!(again["id"], sales["id"]);

    let listed = server
        .data(
            "query($id: ID!) { catalog(id: $id) {
                 resources { totalCount nodes { originId resourceType catalog { id } } }
                 groups: resources(originSystem: AadGroup) { totalCount }
                 apps: resources(originSystem: AadApplication) { totalCount }
                 resourceRoles { originId resource { originId } }
                 resourceRequests { totalCount nodes { requestType resource { originId } } } } }",
            json!({ "id": catalog }),
        )
        .await["catalog"]
        .clone();
    // Ordered by display name: Marketing 365, Project Falcon, Sales Team.
    assert_eq!(pluck(&listed["resources"]["nodes"], "originId"), ["g-m365", "g-team", "g-sales"]);
    assert_eq!(listed["resources"]["nodes"][0]["catalog"]["id"], catalog);
    assert_eq!((&listed["groups"]["totalCount"], &listed["apps"]["totalCount"]), (&json!(3), &json!(0)));
    assert_eq!(
        role_origins(&json!({"roles": listed["resourceRoles"]})),
        ["Member_g-m365", "Owner_g-m365", "Member_g-team", "Owner_g-team", "Member_g-sales", "Owner_g-sales"]
    );
    assert_eq!(listed["resourceRequests"]["totalCount"], 3);
    assert_eq!(
        pluck(&listed["resourceRequests"]["nodes"], "requestType"),
        ["adminAdd", "adminAdd", "adminAdd"]
    );
}

#[tokio::test]
async fn applications_sites_and_directory_roles_are_added_with_their_roles() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Everything").await;

    let salesforce = server.add_resource(&catalog, "AadApplication", "app-sf").await;
    assert_eq!(
        (text(&salesforce["resourceType"]), text(&salesforce["originId"])),
        ("Application".into(), "app-sf".into())
    );
    // Enabled roles that users can hold: not the application-only role, not the disabled one.
    assert_eq!(role_origins(&salesforce), ["r-sf-user", "r-sf-admin"]);
    assert_eq!(pluck(&salesforce["roles"], "roleType"), ["application", "application"]);

    let wiki = server.add_resource(&catalog, "AadApplication", "app-wiki").await;
    assert_eq!(
        wiki["roles"],
        json!([{"id": wiki["roles"][0]["id"], "displayName": "Default Access",
                "originId": "00000000-0000-0000-0000-000000000000", "roleType": "application"}])
    );

    // A site by its id: the resource's origin is its URL, its roles SharePoint's defaults.
    let marketing = server.add_resource(&catalog, "SharePointOnline", "site-mkt").await;
    assert_eq!(
        (text(&marketing["originId"]), text(&marketing["resourceType"])),
        ("https://contoso.sharepoint.com/sites/marketing".into(), "SharePoint Site".into())
    );
    assert_eq!(role_origins(&marketing), ["3", "4", "5"]);
    // A site by URL, with the roles it lists.
    let hr =
        server.add_resource(&catalog, "SharePointOnline", "https://contoso.sharepoint.com/sites/hr").await;
    assert_eq!(text(&hr["displayName"]), "HR Portal");
    assert_eq!(role_origins(&hr), ["3", "7"]);
    assert_eq!(pluck(&hr["roles"], "displayName"), ["HR Owners", "HR Readers"]);

    let helpdesk = server.add_resource(&catalog, "DirectoryRole", "role-helpdesk").await;
    assert_eq!(text(&helpdesk["resourceType"]), "Directory Role");
    assert_eq!(role_origins(&helpdesk), ["Eligible", "Active"]);
    assert_eq!(pluck(&helpdesk["roles"], "roleType"), ["eligible", "active"]);
    // Privileged roles are granted only as eligible.
    let global_admin = server.add_resource(&catalog, "DirectoryRole", "role-ga").await;
    assert_eq!(role_origins(&global_admin), ["Eligible"]);

    let listed = server
        .data(
            "query($id: ID!) { catalog(id: $id) { resources { totalCount }
                 sites: resources(originSystem: SharePointOnline) { nodes { originId } }
                 resourceRoles { originId } resourceRequests { totalCount } } }",
            json!({ "id": catalog }),
        )
        .await["catalog"]
        .clone();
    assert_eq!(listed["resources"]["totalCount"], 6);
    assert_eq!(
        pluck(&listed["sites"]["nodes"], "originId"),
        ["https://contoso.sharepoint.com/sites/hr", "https://contoso.sharepoint.com/sites/marketing"]
    );
    assert_eq!(listed["resourceRoles"].as_array().map(Vec::len), Some(2 + 1 + 3 + 2 + 2 + 1));
    assert_eq!(listed["resourceRequests"]["totalCount"], 6);
}

#[tokio::test]
async fn resource_requests_refuse_what_graph_refuses() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    server.add_resource(&catalog, "AadGroup", "g-sales").await;
    server.add_resource(&catalog, "SharePointOnline", "site-mkt").await;

    let cases = [
        ("adminAdd", "AadGroup", "g-dynamic", "VALIDATION_FAILED", "resource.originId"),
        ("adminAdd", "AadGroup", "g-onprem", "VALIDATION_FAILED", "resource.originId"),
        ("adminAdd", "AadGroup", "g-dist", "VALIDATION_FAILED", "resource.originId"),
        ("adminAdd", "AadGroup", "g-sales", "CONFLICT", "resource.originId"),
        // The same site named by URL (any case, trailing slash) is the same resource.
        (
            "adminAdd",
            "SharePointOnline",
            "https://CONTOSO.sharepoint.com/sites/marketing/",
            "CONFLICT",
            "resource.originId",
        ),
        ("adminAdd", "AadGroup", "ghost", "NOT_FOUND", "resource.originId"),
        ("adminAdd", "AadApplication", "ghost", "NOT_FOUND", "resource.originId"),
        (
            "adminAdd",
            "SharePointOnline",
            "https://contoso.sharepoint.com/sites/ghost",
            "NOT_FOUND",
            "resource.originId",
        ),
        ("adminAdd", "DirectoryRole", "ghost", "NOT_FOUND", "resource.originId"),
        // A group id is not an application.
        ("adminAdd", "AadApplication", "g-sales", "NOT_FOUND", "resource.originId"),
        ("adminAdd", "AadGroup", " ", "VALIDATION_FAILED", "resource.originId"),
        ("adminRemove", "AadGroup", "g-m365", "NOT_FOUND", "resource.originId"),
    ];
    for (request_type, system, origin, code, field) in cases {
        server
            .refused(
                RESOURCE_REQUEST,
                resource_request(&catalog, request_type, system, origin),
                code,
                Some(field),
            )
            .await;
    }
    server
        .refused(
            RESOURCE_REQUEST,
            resource_request("AccessPackageCatalog:ghost", "adminAdd", "AadGroup", "g-sales"),
            "NOT_FOUND",
            Some("catalogId"),
        )
        .await;
    let listed = server
        .data("query($id: ID!) { catalog(id: $id) { resources { totalCount } resourceRequests { totalCount } } }", json!({ "id": catalog }))
        .await;
    assert_eq!(
        listed["catalog"],
        json!({"resources": {"totalCount": 2}, "resourceRequests": {"totalCount": 2}})
    );
}

#[tokio::test]
async fn a_resource_in_use_by_an_access_package_cannot_be_removed() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let sales = server.add_resource(&catalog, "AadGroup", "g-sales").await;
    let site = server.add_resource(&catalog, "SharePointOnline", "site-mkt").await;
    let package = server.create_package(&catalog, "Sales access").await;
    let role_scope = server.add_role_scope(&package, &text(&sales["id"]), "Member_g-sales").await;
    server.add_role_scope(&package, &text(&site["id"]), "4").await;

    let remove_group = resource_request(&catalog, "adminRemove", "AadGroup", "g-sales");
    let refusal =
        server.refused(RESOURCE_REQUEST, remove_group.clone(), "CONFLICT", Some("resource.originId")).await;
    assert!(refusal.message.contains("access package"), "{}", refusal.message);
    // By URL as well as by id.
    server
        .refused(
            RESOURCE_REQUEST,
            resource_request(
                &catalog,
                "adminRemove",
                "SharePointOnline",
                "https://contoso.sharepoint.com/sites/marketing",
            ),
            "CONFLICT",
            Some("resource.originId"),
        )
        .await;
    let query = "query($id: ID!) { catalog(id: $id) { resources { nodes { originId } }
                     resourceRequests { nodes { requestType resource { originId } } } } }";
    let before = server.data(query, json!({ "id": catalog })).await;
    assert_eq!(
        pluck(&before["catalog"]["resources"]["nodes"], "originId"),
        ["https://contoso.sharepoint.com/sites/marketing", "g-sales"]
    );

    server
        .data(
            "mutation($p: ID!, $rs: String!) { removeAccessPackageResourceRoleScope(
                 input: {accessPackageId: $p, resourceRoleScopeId: $rs}) { accessPackage { id } } }",
            json!({ "p": package, "rs": role_scope["id"] }),
        )
        .await;
    let removed = server.data(RESOURCE_REQUEST, remove_group).await["createResourceRequest"].clone();
    assert_eq!(removed["resourceRequest"]["requestType"], "adminRemove");
    assert_eq!(removed["resource"]["originId"], "g-sales");

    let after = server.data(query, json!({ "id": catalog })).await["catalog"].clone();
    assert_eq!(
        pluck(&after["resources"]["nodes"], "originId"),
        ["https://contoso.sharepoint.com/sites/marketing"]
    );
    // The requests are the record of what was done, newest last.
    assert_eq!(
        pluck(&after["resourceRequests"]["nodes"], "requestType"),
        ["adminAdd", "adminAdd", "adminRemove"]
    );
    assert_eq!(after["resourceRequests"]["nodes"][2]["resource"]["originId"], "g-sales");
    // Removed resources can come back.
    server.add_resource(&catalog, "AadGroup", "g-sales").await;
}

#[tokio::test]
async fn renaming_a_group_renames_its_catalog_resources() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    server.add_resource(&catalog, "AadGroup", "g-sales").await;
    // Sales Team has no description: the rename must not trip over the missing value.
    let renamed = server
        .data(
            "mutation { updateGroup(input: {id: \"g-sales\", displayName: \"Sales EMEA\"}) { group { displayName } } }",
            json!({}),
        )
        .await;
    assert_eq!(renamed["updateGroup"]["group"]["displayName"], "Sales EMEA");
    let resources = server
        .data(
            "query($id: ID!) { catalog(id: $id) { resources { nodes { displayName description } } } }",
            json!({ "id": catalog }),
        )
        .await;
    assert_eq!(
        resources["catalog"]["resources"]["nodes"],
        json!([{"displayName": "Sales EMEA", "description": null}])
    );

    let described = server
        .data(
            "mutation { updateGroup(input: {id: \"g-sales\", description: \"EMEA sellers\"}) { group { description } } }",
            json!({}),
        )
        .await;
    assert_eq!(described["updateGroup"]["group"]["description"], "EMEA sellers");
    let resources = server
        .data(
            "query($id: ID!) { catalog(id: $id) { resources { nodes { displayName description } } } }",
            json!({ "id": catalog }),
        )
        .await;
    assert_eq!(
        resources["catalog"]["resources"]["nodes"],
        json!([{"displayName": "Sales EMEA", "description": "EMEA sellers"}])
    );
}
