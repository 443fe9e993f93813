//! The directory: import of Graph-shaped files (and what a rejected one leaves behind), the
//! directory queries, `node(id:)`, and the user, group and membership mutations.

use serde_json::{Value, json};

use crate::support::{OFFICE_NUMBER, TestServer, directory, directory_counts, pluck, text};

#[tokio::test]
async fn a_graph_shaped_directory_imports_with_its_counts() {
    let server = TestServer::start().await;
    assert_eq!(server.import(directory()).await, directory_counts());

    let data = server
        .data(
            "{ users { totalCount } groups { totalCount } applications { totalCount }
               sites { totalCount } directoryRoles { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data,
        json!({"users": {"totalCount": 5}, "groups": {"totalCount": 7}, "applications": {"totalCount": 2},
               "sites": {"totalCount": 2}, "directoryRoles": {"totalCount": 2}})
    );

    // Importing the same file again replaces the objects: nothing is duplicated.
    assert_eq!(server.import(directory()).await, directory_counts());
    assert_eq!(server.data("{ users { totalCount } }", json!({})).await["users"]["totalCount"], 5);
    assert_eq!(server.census().await["group"]["memberCount"], 2);
}

#[tokio::test]
async fn imported_users_read_back_with_manager_reports_and_memberships() {
    let server = TestServer::with_directory().await;
    let query = "query($id: ID!) { user(id: $id) {
        id objectId displayName givenName userPrincipalName mail jobTitle department country usageLocation
        userType accountEnabled companyName employeeHireDate
        onPremisesExtensionAttributes { extensionAttribute1 extensionAttribute15 }
        extensionProperties { name value }
        manager { objectId }
        directReports { totalCount nodes { objectId } }
        memberOf { objectId } } }";

    let ada = server.data(query, json!({"id": "User:u-ada"})).await["user"].clone();
    assert_eq!(
        ada,
        json!({
            "id": "User:u-ada", "objectId": "u-ada", "displayName": "Ada Lovelace", "givenName": "Ada",
            "userPrincipalName": "ada@contoso.com", "mail": "ada@contoso.com", "jobTitle": "CEO",
            "department": "Executive", "country": "United Kingdom", "usageLocation": "GB",
            "userType": "Member", "accountEnabled": true, "companyName": null,
            "employeeHireDate": "2015-03-01T00:00:00Z",
            "onPremisesExtensionAttributes": {"extensionAttribute1": null, "extensionAttribute15": "EMEA"},
            "extensionProperties": [{"name": OFFICE_NUMBER, "value": "101"}],
            "manager": null,
            // Ordered by display name: Bob Builder, Carol Danvers, Dan Brown.
            "directReports": {"totalCount": 3, "nodes": [{"objectId": "u-bob"}, {"objectId": "u-carol"}, {"objectId": "u-dan"}]},
            // Owning Sales Team does not make Ada a member of it.
            "memberOf": [{"objectId": "g-all"}],
        })
    );

    let eve = server.data(query, json!({"id": "u-eve"})).await["user"].clone();
    assert_eq!(eve["userType"], "Guest", "`guest` is read case-insensitively, as Entra does");
    assert_eq!(eve["accountEnabled"], false);
    assert_eq!(eve["companyName"], "Fabrikam");
    assert_eq!(eve["manager"], json!({"objectId": "u-bob"}));
    assert_eq!(eve["memberOf"], json!([]));

    let bob = server.data(query, json!({"id": "u-bob"})).await["user"].clone();
    assert_eq!(bob["manager"], json!({"objectId": "u-ada"}));
    assert_eq!(bob["directReports"], json!({"totalCount": 1, "nodes": [{"objectId": "u-eve"}]}));
    // Direct memberships only: Bob is in All Staff through Sales Team, which memberOf does not list.
    assert_eq!(bob["memberOf"], json!([{"objectId": "g-sales"}]));

    assert_eq!(server.data(query, json!({"id": "User:nobody"})).await["user"], Value::Null);
}

#[tokio::test]
async fn users_filter_by_department_country_search_type_and_manager() {
    let server = TestServer::with_directory().await;
    let check = |filter: Value, expected: &'static [&'static str]| {
        let server = &server;
        async move {
            let data = server
                .data(
                    "query($f: UserFilter) { users(filter: $f) { totalCount nodes { objectId } } }",
                    json!({ "f": filter }),
                )
                .await;
            assert_eq!(pluck(&data["users"]["nodes"], "objectId"), expected, "filter {filter}");
            assert_eq!(data["users"]["totalCount"], expected.len(), "filter {filter}");
        }
    };
    check(json!(null), &["u-ada", "u-bob", "u-carol", "u-dan", "u-eve"]).await;
    check(json!({"department": "Sales"}), &["u-bob", "u-carol"]).await;
    check(json!({"department": "sales"}), &["u-bob", "u-carol"]).await;
    check(json!({"country": "Germany"}), &["u-bob", "u-carol", "u-eve"]).await;
    check(json!({"country": "Germany", "department": "Sales"}), &["u-bob", "u-carol"]).await;
    // `search` is a case-insensitive prefix of displayName, userPrincipalName or mail.
    check(json!({"search": "car"}), &["u-carol"]).await;
    check(json!({"search": "EVE@fabrikam"}), &["u-eve"]).await;
    check(json!({"search": "builder"}), &[]).await;
    check(json!({"managerId": "User:u-ada"}), &["u-bob", "u-carol", "u-dan"]).await;
    check(json!({"managerId": "u-bob"}), &["u-eve"]).await;
    check(json!({"userType": "Guest"}), &["u-eve"]).await;
    check(json!({"accountEnabled": false}), &["u-eve"]).await;
    check(json!({"department": "Legal"}), &[]).await;
}

#[tokio::test]
async fn lists_paginate_with_first_after_and_total_count() {
    let server = TestServer::with_directory().await;
    let query = "query($after: String) { users(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor } nodes { displayName } } }";
    let mut after = Value::Null;
    let mut pages = Vec::new();
    loop {
        let data = server.data(query, json!({ "after": after })).await;
        let users = &data["users"];
        assert_eq!(users["totalCount"], 5, "totalCount counts every page");
        assert_eq!(users["pageInfo"]["hasPreviousPage"], !after.is_null());
        pages.push(pluck(&users["nodes"], "displayName"));
        if users["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = users["pageInfo"]["endCursor"].clone();
        assert!(pages.len() < 5, "pagination does not end");
    }
    assert_eq!(
        pages,
        [vec!["Ada Lovelace", "Bob Builder"], vec!["Carol Danvers", "Dan Brown"], vec!["Eve Online"]]
    );

    let groups = server
        .data("{ groups(first: 3) { totalCount pageInfo { hasNextPage } nodes { displayName } } }", json!({}))
        .await;
    assert_eq!(
        groups["groups"],
        json!({"totalCount": 7, "pageInfo": {"hasNextPage": true},
               "nodes": [{"displayName": "All Staff"}, {"displayName": "Legacy AD Group"}, {"displayName": "Marketing 365"}]})
    );
}

#[tokio::test]
async fn groups_applications_sites_and_directory_roles_read_back() {
    let server = TestServer::with_directory().await;
    let data = server
        .data(
            "{ sales: group(id: \"Group:g-sales\") {
                 id displayName securityEnabled mailEnabled isTeam isDynamic memberCount
                 members { __typename ... on User { objectId } ... on Group { objectId } }
                 owners { objectId } }
               all: group(id: \"g-all\") {
                 members { __typename ... on User { objectId } ... on Group { objectId } } }
               team: group(id: \"g-team\") { isTeam groupTypes resourceProvisioningOptions memberCount }
               dynamic: group(id: \"g-dynamic\") { isDynamic membershipRule }
               teams: groups(filter: {isTeam: true}) { nodes { objectId } }
               security: groups(filter: {securityEnabled: true}) { totalCount }
               searched: groups(filter: {search: \"sales\"}) { nodes { objectId } }
               applications { totalCount nodes { objectId appId displayName appRoles { id isEnabled allowedMemberTypes } } }
               sites { nodes { objectId webUrl roles { id displayName description } } }
               directoryRoles { nodes { objectId displayName isPrivileged roleTemplateId } }
               roles: directoryRoles(search: \"help\") { nodes { objectId } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["sales"],
        json!({"id": "Group:g-sales", "displayName": "Sales Team", "securityEnabled": true, "mailEnabled": false,
               "isTeam": false, "isDynamic": false, "memberCount": 2,
               "members": [{"__typename": "User", "objectId": "u-bob"}, {"__typename": "User", "objectId": "u-carol"}],
               "owners": [{"objectId": "u-ada"}]})
    );
    assert_eq!(
        data["all"]["members"],
        json!([{"__typename": "User", "objectId": "u-ada"}, {"__typename": "Group", "objectId": "g-sales"}])
    );
    assert_eq!(
        data["team"],
        json!({"isTeam": true, "groupTypes": ["Unified"], "resourceProvisioningOptions": ["Team"], "memberCount": 0})
    );
    assert_eq!(
        data["dynamic"],
        json!({"isDynamic": true, "membershipRule": "user.department -eq \"Sales\""})
    );
    assert_eq!(data["teams"]["nodes"], json!([{"objectId": "g-team"}]));
    assert_eq!(data["security"]["totalCount"], 4);
    assert_eq!(pluck(&data["searched"]["nodes"], "objectId"), ["g-dynamic", "g-sales"]);
    assert_eq!(data["applications"]["totalCount"], 2);
    assert_eq!(
        data["applications"]["nodes"],
        json!([
            {"objectId": "app-sf", "appId": "00000000-0000-0000-0000-00000000a5f0", "displayName": "Salesforce",
             "appRoles": [
                {"id": "r-sf-user", "isEnabled": true, "allowedMemberTypes": ["User"]},
                {"id": "r-sf-admin", "isEnabled": true, "allowedMemberTypes": []},
                {"id": "r-sf-daemon", "isEnabled": true, "allowedMemberTypes": ["Application"]},
                {"id": "r-sf-old", "isEnabled": false, "allowedMemberTypes": []}]},
            {"objectId": "app-wiki", "appId": null, "displayName": "Wiki", "appRoles": []}
        ])
    );
    assert_eq!(
        data["sites"]["nodes"],
        json!([
            {"objectId": "site-hr", "webUrl": "https://contoso.sharepoint.com/sites/hr", "roles": [
                {"id": "3", "displayName": "HR Owners", "description": null},
                {"id": "7", "displayName": "HR Readers", "description": "Read"}]},
            // A site without roles gets SharePoint's default site groups.
            {"objectId": "site-mkt", "webUrl": "https://contoso.sharepoint.com/sites/marketing", "roles": [
                {"id": "3", "displayName": "Marketing Site Owners", "description": "Full control"},
                {"id": "4", "displayName": "Marketing Site Members", "description": "Edit"},
                {"id": "5", "displayName": "Marketing Site Visitors", "description": "Read"}]}
        ])
    );
    assert_eq!(
        data["directoryRoles"]["nodes"],
        json!([
            {"objectId": "role-ga", "displayName": "Global Administrator", "isPrivileged": true,
             "roleTemplateId": "62e90394-69f5-4237-9190-012177145e10"},
            {"objectId": "role-helpdesk", "displayName": "Helpdesk Administrator", "isPrivileged": false,
             "roleTemplateId": "729827e3-9c14-49f7-bb1b-9608f156bbb8"}
        ])
    );
    assert_eq!(data["roles"]["nodes"], json!([{"objectId": "role-helpdesk"}]));
}

#[tokio::test]
async fn node_fetches_every_node_type_by_global_id() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    let resource = server.add_resource(&catalog, "AadGroup", "g-sales").await;
    let resource_id = text(&resource["id"]);
    let package = server.create_package(&catalog, "Sales access").await;

    let query = "query($id: ID!) { node(id: $id) { __typename id
        ... on User { displayName } ... on Group { displayName } ... on Application { displayName }
        ... on Site { displayName } ... on DirectoryRole { displayName }
        ... on AccessPackageCatalog { displayName } ... on AccessPackageResource { displayName }
        ... on AccessPackage { displayName } } }";
    let cases = [
        ("User:u-ada".to_owned(), "User", "Ada Lovelace"),
        ("Group:g-sales".to_owned(), "Group", "Sales Team"),
        ("Application:app-sf".to_owned(), "Application", "Salesforce"),
        ("Site:site-mkt".to_owned(), "Site", "Marketing Site"),
        ("DirectoryRole:role-ga".to_owned(), "DirectoryRole", "Global Administrator"),
        (catalog.clone(), "AccessPackageCatalog", "Sales"),
        (resource_id.clone(), "AccessPackageResource", "Sales Team"),
        (package.clone(), "AccessPackage", "Sales access"),
    ];
    for (id, type_name, name) in cases {
        assert!(id.starts_with(&format!("{type_name}:")), "`{id}` is a global id of a {type_name}");
        let node = server.data(query, json!({ "id": id })).await["node"].clone();
        assert_eq!(node, json!({"__typename": type_name, "id": id, "displayName": name}));
    }

    // A well-formed global id of nothing is null; a bare id is not a global id.
    assert_eq!(server.data(query, json!({"id": "User:nobody"})).await["node"], Value::Null);
    server.refused(query, json!({"id": "u-ada"}), "VALIDATION_FAILED", Some("id")).await;
    server.refused(query, json!({"id": "Robot:r2d2"}), "VALIDATION_FAILED", Some("id")).await;
}

/// The directory's counts and the Sales Team's members, read after each rejected import.
#[tokio::test]
async fn rejected_imports_change_nothing_and_list_every_problem() {
    let server = TestServer::with_directory().await;
    let before = server.census().await;
    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "unknown manager",
            json!({"users": [{"id": "n-1", "displayName": "New", "manager": {"id": "ghost"}}]}),
            &["users[0].manager.id"],
        ),
        (
            "a manager that is a group",
            json!({"users": [{"id": "n-1", "displayName": "New", "manager": {"id": "g-sales"}}]}),
            &["users[0].manager.id"],
        ),
        (
            "own manager",
            json!({"users": [{"id": "n-1", "displayName": "New", "manager": {"id": "n-1"}}]}),
            &["users[0].manager.id"],
        ),
        (
            "unknown group member",
            json!({"groups": [{"id": "n-g", "displayName": "New", "members": [{"id": "u-bob"}, {"id": "ghost"}]}]}),
            &["groups[0].members[1].id"],
        ),
        (
            "an existing group's members replaced by a bad list",
            json!({"groups": [{"id": "g-sales", "displayName": "Sales Team", "securityEnabled": true,
                               "members": [{"id": "ghost"}]}]}),
            &["groups[0].members[0].id"],
        ),
        (
            "a group as owner, a group as its own member",
            json!({"groups": [{"id": "n-g", "displayName": "New", "owners": [{"id": "g-sales"}],
                               "members": [{"id": "n-g"}]}]}),
            &["groups[0].members[0].id", "groups[0].owners[0].id"],
        ),
        (
            "duplicate ids",
            json!({"users": [{"id": "n-1", "displayName": "A"}, {"id": "n-1", "displayName": "B"}],
                   "groups": [{"id": "n-1", "displayName": "G"}]}),
            &["groups[0].id", "users[1].id"],
        ),
        (
            "malformed values",
            json!({"users": [
                {"id": "n-1", "displayName": "A", "usageLocation": "Germany"},
                {"id": "n-2", "displayName": "B", "employeeHireDate": "yesterday"},
                {"id": "n-3", "displayName": "C", "userType": "Robot"},
                {"id": "n-4", "displayName": "D", "accountEnabled": "yes"},
                {"id": "n-5", "displayName": "E", "mail": "not an address", "extension_short_Office": "1"}]}),
            &[
                "users[0].usageLocation",
                "users[1].employeeHireDate",
                "users[2].userType",
                "users[3].accountEnabled",
                "users[4].extension_short_Office",
                "users[4].mail",
            ],
        ),
        (
            "a valid first user and a bad last item",
            json!({"users": [{"id": "n-1", "displayName": "Fresh"}],
                   "groups": [{"id": "n-g", "displayName": "Fresh group", "members": [{"id": "n-1"}]}],
                   "sites": [{"id": "n-s", "displayName": "Site", "webUrl": "ftp://example.com"}],
                   "directoryRoles": [{"id": "n-r", "displayName": " "}]}),
            &["directoryRoles[0].displayName", "sites[0].webUrl"],
        ),
        (
            "an unknown collection",
            json!({"users": [{"id": "n-1", "displayName": "Fresh"}], "teams": []}),
            &["teams"],
        ),
        ("not an object", json!([{"id": "n-1"}]), &["$"]),
    ];
    for (name, file, paths) in cases {
        let refusal = server.refusal(crate::support::IMPORT, json!({ "d": file })).await;
        assert_eq!(refusal.code, "VALIDATION_FAILED", "{name}: {}", refusal.message);
        let found = if refusal.problems.is_empty() {
            refusal.field.iter().map(String::as_str).collect()
        } else {
            refusal.paths()
        };
        assert_eq!(found, paths, "{name}: {}", refusal.message);
        assert_eq!(server.census().await, before, "{name}: the rejected import changed the directory");
        for id in ["n-1", "n-g"] {
            let left = server
                .data("query($id: ID!) { user(id: $id) { id } group(id: $id) { id } }", json!({ "id": id }))
                .await;
            assert_eq!(left, json!({"user": null, "group": null}), "{name}: `{id}` was written");
        }
    }
}

#[tokio::test]
async fn a_refused_field_is_named_in_its_problem_message() {
    let server = TestServer::with_directory().await;
    let refusal = server
        .refusal(
            crate::support::IMPORT,
            json!({"d": {"users": [{"id": "n-4", "displayName": "D", "accountEnabled": "yes"}]}}),
        )
        .await;
    assert_eq!(refusal.code, "VALIDATION_FAILED");
    let (path, message) = refusal.problems.first().cloned().unwrap_or_default();
    assert!(
        path == "users[0].accountEnabled" || (path == "users[0]" && message.contains("accountEnabled")),
        "the problem names the field: {path}: {message}"
    );
}

/// Graph object ids are unique across users, groups and the other directory objects.
#[tokio::test]
async fn a_new_user_cannot_take_the_id_of_a_group() {
    let server = TestServer::with_directory().await;
    server
        .refused(
            "mutation { createUser(input: {objectId: \"g-sales\", displayName: \"Clash\"}) { user { id } } }",
            json!({}),
            "CONFLICT",
            Some("id"),
        )
        .await;
    assert_eq!(server.data("{ user(id: \"g-sales\") { id } }", json!({})).await["user"], Value::Null);
}

#[tokio::test]
async fn an_import_cannot_give_a_user_the_id_of_an_existing_group() {
    let server = TestServer::with_directory().await;
    let refusal = server
        .refusal(crate::support::IMPORT, json!({"d": {"users": [{"id": "g-sales", "displayName": "Clash"}]}}))
        .await;
    assert_eq!((refusal.code.as_str(), refusal.paths()), ("VALIDATION_FAILED", vec!["users[0].id"]));
    assert_eq!(server.data("{ user(id: \"g-sales\") { id } }", json!({})).await["user"], Value::Null);
}

const CREATE_USER: &str = "mutation($input: CreateUserInput!) { createUser(input: $input) { user {
    id objectId displayName department manager { objectId } extensionProperties { name value } } } }";

const UPDATE_USER: &str = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user {
    id displayName department jobTitle manager { objectId } extensionProperties { name value } } } }";

#[tokio::test]
async fn users_are_created_with_generated_or_given_ids() {
    let server = TestServer::with_directory().await;
    let user = server
        .data(CREATE_USER, json!({"input": {"displayName": "Frank Ocean", "department": "Sales"}}))
        .await["createUser"]["user"]
        .clone();
    let object_id = text(&user["objectId"]);
    let is_guid = object_id.len() == 36
        && object_id
            .chars()
            .enumerate()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    assert!(is_guid, "a generated object id is a GUID: {object_id}");
    assert_eq!(user["id"], format!("User:{object_id}"));

    let user = server
        .data(
            CREATE_USER,
            json!({"input": {"objectId": "u-grace", "displayName": "Grace Hopper", "managerId": "User:u-ada",
                             "userPrincipalName": "grace@contoso.com",
                             "extensionProperties": [{"name": OFFICE_NUMBER, "value": "202"}]}}),
        )
        .await["createUser"]["user"]
        .clone();
    assert_eq!(
        user,
        json!({"id": "User:u-grace", "objectId": "u-grace", "displayName": "Grace Hopper", "department": null,
               "manager": {"objectId": "u-ada"}, "extensionProperties": [{"name": OFFICE_NUMBER, "value": "202"}]})
    );
    let reports = server.data("{ user(id: \"u-ada\") { directReports { totalCount } } }", json!({})).await;
    assert_eq!(reports["user"]["directReports"]["totalCount"], 4);

    let refusals = [
        (json!({"objectId": "u-grace", "displayName": "Again"}), "CONFLICT", Some("id")),
        (json!({"displayName": "Twin", "userPrincipalName": "GRACE@contoso.com"}), "CONFLICT", None),
        (json!({"department": "Sales"}), "VALIDATION_FAILED", Some("displayName")),
        (json!({"displayName": "X", "managerId": "User:ghost"}), "NOT_FOUND", Some("manager.id")),
        (json!({"displayName": "X", "usageLocation": "Germany"}), "VALIDATION_FAILED", Some("usageLocation")),
        (
            json!({"displayName": "X", "employeeHireDate": "yesterday"}),
            "VALIDATION_FAILED",
            Some("employeeHireDate"),
        ),
        (
            json!({"displayName": "X", "extensionProperties": [{"name": "extension_x_y", "value": "1"}]}),
            "VALIDATION_FAILED",
            Some("extension_x_y"),
        ),
    ];
    for (input, code, field) in refusals {
        server.refused(CREATE_USER, json!({ "input": input }), code, field).await;
    }
    assert_eq!(server.data("{ users { totalCount } }", json!({})).await["users"]["totalCount"], 7);
}

#[tokio::test]
async fn users_update_set_clear_and_change_manager() {
    let server = TestServer::with_directory().await;
    let updated = server
        .data(
            UPDATE_USER,
            json!({"input": {"id": "User:u-carol", "jobTitle": "Account Executive", "department": null,
                             "managerId": "u-bob",
                             "extensionProperties": [{"name": OFFICE_NUMBER, "value": "303"}]}}),
        )
        .await["updateUser"]["user"]
        .clone();
    assert_eq!(
        updated,
        json!({"id": "User:u-carol", "displayName": "Carol Danvers", "department": null,
               "jobTitle": "Account Executive", "manager": {"objectId": "u-bob"},
               "extensionProperties": [{"name": OFFICE_NUMBER, "value": "303"}]})
    );
    // The change is stored, not only echoed: the new manager lists Carol, the old one does not.
    let reports = server
        .data(
            "{ bob: user(id: \"u-bob\") { directReports { nodes { objectId } } }
               ada: user(id: \"u-ada\") { directReports { nodes { objectId } } }
               carol: user(id: \"u-carol\") { department jobTitle } }",
            json!({}),
        )
        .await;
    assert_eq!(pluck(&reports["bob"]["directReports"]["nodes"], "objectId"), ["u-carol", "u-eve"]);
    assert_eq!(pluck(&reports["ada"]["directReports"]["nodes"], "objectId"), ["u-bob", "u-dan"]);
    assert_eq!(reports["carol"], json!({"department": null, "jobTitle": "Account Executive"}));

    // Omitted fields stay; a null manager clears it.
    let cleared =
        server.data(UPDATE_USER, json!({"input": {"id": "u-carol", "managerId": null}})).await["updateUser"]
            ["user"]
            .clone();
    assert_eq!(cleared["manager"], Value::Null);
    assert_eq!(cleared["jobTitle"], "Account Executive");

    let refusals = [
        // Ada manages Bob; Bob managing Ada would close a loop.
        (json!({"id": "u-ada", "managerId": "u-bob"}), "VALIDATION_FAILED", Some("manager.id")),
        // Ada -> Bob -> Eve: Eve managing Ada loops through two levels.
        (json!({"id": "u-ada", "managerId": "u-eve"}), "VALIDATION_FAILED", Some("manager.id")),
        (json!({"id": "u-ada", "managerId": "u-ada"}), "VALIDATION_FAILED", Some("manager.id")),
        (json!({"id": "u-ada", "managerId": "ghost"}), "NOT_FOUND", Some("manager.id")),
        (json!({"id": "u-ada", "displayName": null}), "VALIDATION_FAILED", Some("displayName")),
        (json!({"id": "u-ada", "usageLocation": "Germany"}), "VALIDATION_FAILED", Some("usageLocation")),
        (json!({"id": "ghost", "jobTitle": "x"}), "NOT_FOUND", Some("id")),
    ];
    for (input, code, field) in refusals {
        server.refused(UPDATE_USER, json!({ "input": input }), code, field).await;
    }
    let ada =
        server.data("{ user(id: \"u-ada\") { manager { id } displayName usageLocation } }", json!({})).await;
    assert_eq!(ada["user"], json!({"manager": null, "displayName": "Ada Lovelace", "usageLocation": "GB"}));
}

#[tokio::test]
async fn deleting_a_user_removes_memberships_and_reports_lose_their_manager() {
    let server = TestServer::with_directory().await;
    let deleted =
        server.data("mutation { deleteUser(input: {id: \"User:u-bob\"}) { deletedId } }", json!({})).await;
    assert_eq!(deleted["deleteUser"]["deletedId"], "User:u-bob");
    let after = server
        .data(
            "{ bob: user(id: \"u-bob\") { id }
               eve: user(id: \"u-eve\") { manager { id } }
               sales: group(id: \"g-sales\") { memberCount members { ... on User { objectId } } }
               users(filter: {managerId: \"u-bob\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        after,
        json!({"bob": null, "eve": {"manager": null},
               "sales": {"memberCount": 1, "members": [{"objectId": "u-carol"}]},
               "users": {"totalCount": 0}})
    );
    server
        .refused(
            "mutation { deleteUser(input: {id: \"u-bob\"}) { deletedId } }",
            json!({}),
            "NOT_FOUND",
            Some("id"),
        )
        .await;
}

const CREATE_GROUP: &str = "mutation($input: CreateGroupInput!) { createGroup(input: $input) { group {
    id objectId displayName description securityEnabled isTeam isDynamic memberCount } } }";

const UPDATE_GROUP: &str = "mutation($input: UpdateGroupInput!) { updateGroup(input: $input) { group {
    id displayName description securityEnabled } } }";

#[tokio::test]
async fn groups_are_created_updated_and_deleted() {
    let server = TestServer::with_directory().await;
    let group = server
        .data(
            CREATE_GROUP,
            json!({"input": {"objectId": "g-new", "displayName": "Finance", "description": "Money",
                             "securityEnabled": true}}),
        )
        .await["createGroup"]["group"]
        .clone();
    assert_eq!(
        group,
        json!({"id": "Group:g-new", "objectId": "g-new", "displayName": "Finance", "description": "Money",
               "securityEnabled": true, "isTeam": false, "isDynamic": false, "memberCount": 0})
    );
    let generated = server
        .data(CREATE_GROUP, json!({"input": {"displayName": "Generated", "securityEnabled": true}}))
        .await["createGroup"]["group"]["objectId"]
        .clone();
    assert_eq!(text(&generated).len(), 36, "a generated group id is a GUID: {generated}");

    let updated = server
        .data(
            UPDATE_GROUP,
            json!({"input": {"id": "Group:g-new", "displayName": "Finance EMEA", "description": null}}),
        )
        .await["updateGroup"]["group"]
        .clone();
    assert_eq!(
        updated,
        json!({"id": "Group:g-new", "displayName": "Finance EMEA", "description": null, "securityEnabled": true})
    );
    assert_eq!(
        server.data("{ group(id: \"g-new\") { displayName description } }", json!({})).await["group"],
        json!({"displayName": "Finance EMEA", "description": null})
    );

    let refusals = [
        (CREATE_GROUP, json!({"objectId": "g-new", "displayName": "Again"}), "CONFLICT", Some("id")),
        (CREATE_GROUP, json!({"objectId": "u-ada", "displayName": "Clash"}), "CONFLICT", Some("id")),
        (CREATE_GROUP, json!({"securityEnabled": true}), "VALIDATION_FAILED", Some("displayName")),
        (
            CREATE_GROUP,
            json!({"displayName": "X", "groupTypes": ["Weird"]}),
            "VALIDATION_FAILED",
            Some("groupTypes"),
        ),
        (UPDATE_GROUP, json!({"id": "g-new", "displayName": " "}), "VALIDATION_FAILED", Some("displayName")),
        (UPDATE_GROUP, json!({"id": "ghost", "displayName": "X"}), "NOT_FOUND", Some("id")),
    ];
    for (query, input, code, field) in refusals {
        server.refused(query, json!({ "input": input }), code, field).await;
    }

    // Deleting a group takes its memberships (as member and as container) with it.
    let deleted = server
        .data("mutation { deleteGroup(input: {id: \"Group:g-sales\"}) { deletedId } }", json!({}))
        .await;
    assert_eq!(deleted["deleteGroup"]["deletedId"], "Group:g-sales");
    let after = server
        .data(
            "{ group(id: \"g-sales\") { id } all: group(id: \"g-all\") { members { ... on User { objectId } ... on Group { objectId } } }
               bob: user(id: \"u-bob\") { memberOf { objectId } } groups { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        after,
        json!({"group": null, "all": {"members": [{"objectId": "u-ada"}]}, "bob": {"memberOf": []},
               "groups": {"totalCount": 8}})
    );
    server
        .refused(
            "mutation { deleteGroup(input: {id: \"g-sales\"}) { deletedId } }",
            json!({}),
            "NOT_FOUND",
            Some("id"),
        )
        .await;
}

const MEMBER_MUTATIONS: [&str; 4] =
    ["addGroupMember", "removeGroupMember", "addGroupOwner", "removeGroupOwner"];

fn membership(mutation: &str) -> String {
    format!(
        "mutation($g: ID!, $p: ID!) {{ {mutation}(input: {{groupId: $g, principalId: $p}}) {{ group {{
           memberCount members {{ ... on User {{ objectId }} ... on Group {{ objectId }} }} owners {{ objectId }} }} }} }}"
    )
}

#[tokio::test]
async fn members_and_owners_are_added_and_removed() {
    let server = TestServer::with_directory().await;
    let [add_member, remove_member, add_owner, remove_owner] = MEMBER_MUTATIONS.map(membership);

    let group = server.data(&add_member, json!({"g": "Group:g-sales", "p": "User:u-dan"})).await;
    assert_eq!(
        group["addGroupMember"]["group"],
        json!({"memberCount": 3, "members": [{"objectId": "u-bob"}, {"objectId": "u-carol"}, {"objectId": "u-dan"}],
               "owners": [{"objectId": "u-ada"}]})
    );
    // A group can be a member (bare ids work as well as global ones).
    let group = server.data(&add_member, json!({"g": "g-team", "p": "g-m365"})).await;
    assert_eq!(group["addGroupMember"]["group"]["members"], json!([{"objectId": "g-m365"}]));

    let group = server.data(&add_owner, json!({"g": "g-sales", "p": "u-bob"})).await;
    assert_eq!(
        group["addGroupOwner"]["group"]["owners"],
        json!([{"objectId": "u-ada"}, {"objectId": "u-bob"}])
    );
    let group = server.data(&remove_owner, json!({"g": "g-sales", "p": "u-ada"})).await;
    assert_eq!(group["removeGroupOwner"]["group"]["owners"], json!([{"objectId": "u-bob"}]));
    let group = server.data(&remove_member, json!({"g": "g-sales", "p": "u-bob"})).await;
    assert_eq!(
        group["removeGroupMember"]["group"]["members"],
        json!([{"objectId": "u-carol"}, {"objectId": "u-dan"}])
    );
    let dan = server.data("{ user(id: \"u-dan\") { memberOf { objectId } } }", json!({})).await;
    assert_eq!(pluck(&dan["user"]["memberOf"], "objectId"), ["g-m365", "g-sales"]);

    let refusals = [
        (&add_member, json!({"g": "g-dynamic", "p": "u-bob"}), "VALIDATION_FAILED", Some("groupId")),
        (&add_member, json!({"g": "g-sales", "p": "u-carol"}), "CONFLICT", Some("principalId")),
        (&add_owner, json!({"g": "g-sales", "p": "u-bob"}), "CONFLICT", Some("principalId")),
        (&add_member, json!({"g": "g-sales", "p": "ghost"}), "NOT_FOUND", Some("principalId")),
        (&add_member, json!({"g": "ghost", "p": "u-bob"}), "NOT_FOUND", Some("groupId")),
        (
            &add_member,
            json!({"g": "g-sales", "p": "Group:g-sales"}),
            "VALIDATION_FAILED",
            Some("principalId"),
        ),
        (&add_owner, json!({"g": "g-sales", "p": "g-all"}), "VALIDATION_FAILED", Some("principalId")),
        (&remove_member, json!({"g": "g-sales", "p": "u-ada"}), "NOT_FOUND", Some("principalId")),
        (&remove_owner, json!({"g": "g-sales", "p": "u-carol"}), "NOT_FOUND", Some("principalId")),
    ];
    for (query, variables, code, field) in refusals {
        server.refused(query, variables, code, field).await;
    }
    let sales =
        server.data("{ group(id: \"g-sales\") { memberCount owners { objectId } } }", json!({})).await;
    assert_eq!(sales["group"], json!({"memberCount": 2, "owners": [{"objectId": "u-bob"}]}));
}

#[tokio::test]
async fn a_group_that_is_a_catalog_resource_cannot_be_deleted() {
    let server = TestServer::with_directory().await;
    let catalog = server.create_catalog("Sales").await;
    server.add_resource(&catalog, "AadGroup", "g-sales").await;
    let delete = "mutation { deleteGroup(input: {id: \"g-sales\"}) { deletedId } }";
    server.refused(delete, json!({}), "CONFLICT", Some("id")).await;
    assert_eq!(server.census().await["group"]["memberCount"], 2, "the refused delete kept the members");

    // Once the catalog lets go of it, it can be deleted.
    server
        .data(
            crate::support::RESOURCE_REQUEST,
            crate::support::resource_request(&catalog, "adminRemove", "AadGroup", "g-sales"),
        )
        .await;
    assert_eq!(server.data(delete, json!({})).await["deleteGroup"]["deletedId"], "Group:g-sales");
}
