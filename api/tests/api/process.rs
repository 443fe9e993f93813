//! The binary: a server killed with SIGKILL loses nothing it acknowledged on SurrealKV (and a
//! review being applied goes on after the restart), and the `import` and `schema` commands.

use std::path::Path;
use std::process::{Command, Output};

use em_api::store::directory::UserFilter;
use em_api::store::{PageRequest, Store, StoreConfig};
use serde_json::{Value, json};

use crate::support::{Api, Process, directory, directory_counts, text};

/// Everything the restart test builds, read back in one query.
const SNAPSHOT: &str = "query($c: ID!, $p: ID!) {
    catalogs { totalCount nodes { displayName catalogType state isExternallyVisible } }
    catalog(id: $c) { displayName description
        resources { totalCount nodes { originId resourceType roles { id originId } } }
        resourceRequests { totalCount nodes { requestType } } }
    accessPackage(id: $p) { displayName isHidden catalog { id }
        resourceRoleScopes { id role { originId resource { originId } } scope { isRootScope } }
        incompatibleGroups { id } }
    users { totalCount } groups { totalCount }
    user(id: \"u-eve\") { manager { objectId } extensionProperties { name } }
    group(id: \"g-sales\") { memberCount owners { objectId } }
    bob: user(id: \"u-bob\") { memberOf { objectId } } }";

async fn build_catalog(api: &Api) -> (String, String) {
    assert_eq!(api.import(directory()).await, directory_counts());
    let catalog = api
        .data(
            "mutation { createCatalog(input: {displayName: \"Durable\", description: \"Survives a crash\"}) {
                 catalog { id } } }",
            json!({}),
        )
        .await["createCatalog"]["catalog"]["id"]
        .clone();
    let catalog = text(&catalog);
    let group = api.add_resource(&catalog, "AadGroup", "g-sales").await;
    let app = api.add_resource(&catalog, "AadApplication", "app-sf").await;
    let site =
        api.add_resource(&catalog, "SharePointOnline", "https://contoso.sharepoint.com/sites/hr").await;
    let package = api.create_package(&catalog, "Durable access").await;
    api.add_role_scope(&package, &text(&group["id"]), "Member_g-sales").await;
    api.add_role_scope(&package, &text(&app["id"]), "r-sf-admin").await;
    api.add_role_scope(&package, &text(&site["id"]), "7").await;
    api.data(
        "mutation($p: ID!) { addIncompatibleGroup(input: {accessPackageId: $p, groupId: \"g-m365\"}) {
             accessPackage { id } } }",
        json!({ "p": package }),
    )
    .await;
    (catalog, package)
}

#[tokio::test]
async fn a_server_killed_with_sigkill_keeps_everything_it_acknowledged() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let db = format!("surrealkv://{}", folder.path().join("data").display());

    let first = Process::serve(&db, &folder.path().join("first.log")).await;
    let (catalog, package) = build_catalog(&first.api).await;
    let variables = json!({ "c": catalog, "p": package });
    let before = first.api.data(SNAPSHOT, variables.clone()).await;
    // The snapshot holds what was built, so comparing it after the restart means something.
    assert_eq!(before["catalog"]["resources"]["totalCount"], 3);
    assert_eq!(
        before["accessPackage"]["resourceRoleScopes"]
            .as_array()
            .map(|l| l.iter().map(|rs| text(&rs["role"]["originId"])).collect::<Vec<_>>()),
        Some(vec!["Member_g-sales".to_owned(), "r-sf-admin".to_owned(), "7".to_owned()])
    );
    assert_eq!(before["bob"]["memberOf"], json!([{"objectId": "g-sales"}]));
    assert_eq!(before["group"]["memberCount"], 2);
    first.kill();

    let second = Process::serve(&db, &folder.path().join("second.log")).await;
    let after = second.api.data(SNAPSHOT, variables).await;
    assert_eq!(after, before);
    // The reopened database takes writes, and still enforces what it did before the crash.
    let refusal = second
        .api
        .refusal(
            "mutation { createCatalog(input: {displayName: \"durable\"}) { catalog { id } } }",
            json!({}),
        )
        .await;
    assert_eq!((refusal.code.as_str(), refusal.field.as_deref()), ("CONFLICT", Some("displayName")));
    second.api.create_package(&catalog, "After the crash").await;
    let refusal = second
        .api
        .refusal(
            "mutation($c: ID!) { deleteCatalog(input: {id: $c}) { deletedId } }",
            json!({ "c": catalog }),
        )
        .await;
    assert_eq!(refusal.code, "CONFLICT");
}

fn em_api(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_em-api")).args(args).output().expect("em-api runs")
}

/// Signs in to a server started with `--auth-secret secret`: a client of `api`'s server as
/// `user`.
fn signer(secret: &str) -> impl Fn(&Api, &str) -> Api {
    let minter = em_api::auth::Authenticator::new(em_api::auth::AuthSettings {
        hs256_secret: Some(secret.into()),
        jwks: None,
        issuer: "em-api".into(),
        audience: "em-api".into(),
        partners: Vec::new(),
    })
    .expect("the secret is usable");
    move |api: &Api, user: &str| Api {
        bearer: Some(minter.mint(user, chrono::Utc::now().timestamp(), 600).expect("tokens mint")),
        ..Api::at_base(&api.base)
    }
}

/// A SurrealKV database in a new folder with the fixture directory (Ada as Global
/// Administrator) imported by `em-api import`: the folder (removed when dropped) and the URL.
fn imported_database() -> (tempfile::TempDir, String) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let db = format!("surrealkv://{}", folder.path().join("data").display());
    let file = folder.path().join("directory.json");
    write_json(&file, &crate::requests::directory_with_admin());
    assert!(em_api(&["import", "--db", &db, "--directory", &file.to_string_lossy()]).status.success());
    (folder, db)
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, value.to_string()).expect("the directory file is written");
}

#[tokio::test]
async fn cli_import_reports_counts_and_a_bad_file_imports_nothing() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let data = folder.path().join("data");
    let db = format!("surrealkv://{}", data.display());

    // A file whose first user is valid and whose later items are not.
    let bad = folder.path().join("bad.json");
    write_json(
        &bad,
        &json!({"users": [{"id": "fresh", "displayName": "Fresh"},
                          {"id": "n-2", "displayName": "B", "manager": {"id": "ghost"}, "usageLocation": "Germany"}],
                "groups": [{"id": "n-g", "displayName": "G", "members": [{"id": "fresh"}, {"id": "nobody"}]}]}),
    );
    let output = em_api(&["import", "--directory", &bad.display().to_string(), "--db", &db]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    for path in ["users[1].usageLocation", "users[1].manager.id", "groups[0].members[1].id"] {
        assert!(stderr.contains(path), "stderr names `{path}`: {stderr}");
    }
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(output.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&output.stdout));

    let good = folder.path().join("good.json");
    write_json(&good, &directory());
    let output = em_api(&["import", "--directory", &good.display().to_string(), "--db", &db]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        stdout.trim(),
        "imported 5 users, 7 groups, 6 memberships, 2 applications, 2 sites, 2 directory roles"
    );

    let missing = em_api(&[
        "import",
        "--directory",
        &folder.path().join("nope.json").display().to_string(),
        "--db",
        &db,
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.json"));

    // The database holds the good file and nothing of the bad one.
    let store = Store::open(&StoreConfig::at(&db)).await.expect("the database opens");
    let everyone = PageRequest { after: None, first: 100, count: true };
    let users = store.users(&UserFilter::default(), &everyone).await.expect("users read");
    assert_eq!(users.total, 5);
    assert!(
        store.user("fresh").await.expect("reads").is_none(),
        "`fresh` from the rejected file was imported"
    );
    assert!(store.group("n-g").await.expect("reads").is_none(), "`n-g` from the rejected file was imported");
    let eve = store.user("u-eve").await.expect("reads").expect("Eve was imported");
    assert_eq!(eve.manager_id(), Some("u-bob"));
}

#[test]
fn cli_schema_prints_the_committed_sdl() {
    let output = em_api(&["schema"]);
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).expect("the SDL is UTF-8");
    assert_eq!(printed, em_api::graphql::sdl());
    assert!(printed.contains("type Query") && printed.contains("type Mutation"), "{printed}");

    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    match std::fs::read_to_string(&committed) {
        Ok(committed) => assert_eq!(
            printed, committed,
            "schema.graphql is stale: run `cargo run -p em-api -- schema > schema.graphql`"
        ),
        // schema.graphql is not committed yet; this comparison starts to bite once it is.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipping the comparison with {}: not committed yet", committed.display());
        }
        Err(e) => panic!("cannot read {}: {e}", committed.display()),
    }
}

/// A stage's timeout is stored with the request: a server killed with SIGKILL and restarted
/// still denies the request when the (virtual) clock passes the deadline.
#[tokio::test]
async fn timers_survive_a_restart_and_fire_after_it() {
    let (folder, db) = imported_database();
    let secret = "the process test's secret of 32+ bytes";
    let args = ["--virtual-clock", "--auth-secret", secret];
    let signed_in = signer(secret);

    let first = Process::serve_with(&db, &folder.path().join("first.log"), &args).await;
    let (ada, dan) = (signed_in(&first.api, "u-ada"), signed_in(&first.api, "u-dan"));
    let (_, package) = crate::requests::erp_package(&ada).await;
    let end = (chrono::Utc::now() + chrono::TimeDelta::days(90)).to_rfc3339();
    crate::requests::create_policy(&ada, &package, crate::requests::internal_policy(&end)).await;
    let input = json!({ "accessPackageId": package, "justification": "migration",
                        "answers": [{"questionId": "q-role", "value": "lead"}] });
    let request = dan.data(&crate::requests::submit_query(), json!({ "input": input })).await
        ["createAssignmentRequest"]["assignmentRequest"]["id"]
        .clone();
    first.kill();

    let second = Process::serve_with(&db, &folder.path().join("second.log"), &args).await;
    let (ada, dan) = (signed_in(&second.api, "u-ada"), signed_in(&second.api, "u-dan"));
    let fired = ada.data("mutation { advanceClock(input: {by: \"P15D\"}) { firedTimers } }", json!({})).await;
    assert_eq!(fired["advanceClock"]["firedTimers"], json!(1));
    let after = dan
        .data("query($id: ID!) { assignmentRequest(id: $id) { state status } }", json!({ "id": request }))
        .await;
    assert_eq!(after["assignmentRequest"], json!({ "state": "denied", "status": "Expired" }));
}

/// `em-api reconcile` repairs drift (a user written behind the engine's back, who matches an
/// auto-assignment rule but has no assignment) and changes nothing when run again.
#[tokio::test]
async fn cli_reconcile_repairs_drift_and_is_idempotent() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let db = format!("surrealkv://{}", folder.path().join("data").display());
    let server = Process::serve(&db, &folder.path().join("serve.log")).await;
    server.api.import(directory()).await;
    let catalog = server.api.create_catalog("Sales").await;
    let package = server.api.create_package(&catalog, "Sales in Germany").await;
    let policy = json!({
        "displayName": "Sales in Germany",
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "attributeRuleMembers",
            "membershipRule": "user.department -eq \"Sales\" -and user.country -eq \"Germany\""}],
        "automaticRequestSettings": {"requestAccessForAllowedTargets": true,
                                     "removeAccessWhenTargetLeavesAllowedTargets": true}
    });
    crate::requests::create_policy(&server.api, &package, policy).await;
    server.kill();

    let store = Store::open(&StoreConfig::at(&db)).await.expect("the database opens");
    let user = em_engine::import::parse_user_object(&json!({
        "id": "u-hans", "displayName": "Hans", "department": "Sales", "country": "Germany"
    }))
    .expect("a user");
    store.create_user(&user).await.expect("written behind the engine's back");
    drop(store);

    // The embedded engine lets go of its folder lock shortly after the handle is dropped.
    let mut first = em_api(&["reconcile", "--db", &db]);
    for _ in 0..50 {
        if !String::from_utf8_lossy(&first.stderr).contains("LOCK") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        first = em_api(&["reconcile", "--db", &db]);
    }
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("assigned 1,"), "{first:?}");
    let second = em_api(&["reconcile", "--db", &db]);
    assert!(
        String::from_utf8_lossy(&second.stdout).starts_with("assigned 0, removals scheduled 0, removed 0")
    );
}

/// A review whose results are being applied when the server is killed (SIGKILL) goes on after
/// the restart: every denial is removed, none twice, and the review ends `Applied`.
#[tokio::test]
async fn a_review_applied_halfway_when_the_server_is_killed_goes_on_after_the_restart() {
    const PEOPLE: usize = 400;
    let folder = tempfile::tempdir().expect("a temporary folder");
    let db = format!("surrealkv://{}", folder.path().join("data").display());
    let mut directory = crate::requests::directory_with_admin();
    let users = directory["users"].as_array_mut().unwrap();
    for i in 0..PEOPLE {
        users.push(json!({ "id": format!("u-r{i:03}"), "displayName": format!("Reviewed {i:03}"),
                           "userPrincipalName": format!("r{i}@contoso.com"), "manager": {"id": "u-ada"} }));
    }
    let file = folder.path().join("directory.json");
    write_json(&file, &directory);
    assert!(em_api(&["import", "--db", &db, "--directory", &file.to_string_lossy()]).status.success());
    let secret = "the process test's secret of 32+ bytes";
    let args = ["--virtual-clock", "--auth-secret", secret];
    let signed_in = signer(secret);

    let first = Process::serve_with(&db, &folder.path().join("first.log"), &args).await;
    let ada = signed_in(&first.api, "u-ada");
    let start = chrono::DateTime::parse_from_rfc3339(&text(
        &ada.data("{ clock { now } }", json!({})).await["clock"]["now"],
    ))
    .unwrap()
    .to_utc();
    let review_start = start + chrono::TimeDelta::days(1);
    let (package, policy) =
        crate::reviews::reviewed_package(&ada, review_start, crate::reviews::quarterly()).await.unwrap();
    let request = "mutation($p: ID!) { createAssignmentRequest(input: {accessPackageId: $p}) { assignmentRequest { state } } }";
    let people: Vec<Api> = (0..PEOPLE).map(|i| signed_in(&first.api, &format!("u-r{i:03}"))).collect();
    futures::future::join_all(people.iter().map(|p| p.data(request, json!({ "p": package })))).await;
    let advance = "mutation($to: DateTime!) { advanceClock(input: {to: $to}) { now } }";
    ada.data(advance, json!({ "to": review_start.to_rfc3339() })).await;
    let mine = ada
        .data(
            "{ accessReviewDecisions(filterByCurrentUser: reviewer, first: 500) { nodes { id } } }",
            json!({}),
        )
        .await;
    let denials: Vec<Value> = mine["accessReviewDecisions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!({ "id": i["id"], "decision": "Deny", "justification": "project over" }))
        .collect();
    assert_eq!(denials.len(), PEOPLE);
    ada.data(
        "mutation($d: [ReviewDecisionInput!]!) { recordAccessReviewDecisions(input: {decisions: $d}) { decisions { id } } }",
        json!({ "d": denials }),
    )
    .await;

    // The end applies 400 removals; the server is killed once some of them are done.
    let end = review_start + chrono::TimeDelta::days(14);
    let ending = {
        let ada = signed_in(&first.api, "u-ada");
        tokio::spawn(async move { ada.gql(advance, json!({ "to": end.to_rfc3339() })).await })
    };
    let count = "{ group(id: \"g-team\") { memberCount } }";
    loop {
        let left = ada.gql(count, json!({})).await["data"]["group"]["memberCount"].as_u64().unwrap_or(0);
        if left < PEOPLE as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    first.kill();
    let _ = ending.await;

    let second = Process::serve_with(&db, &folder.path().join("second.log"), &args).await;
    let ada = signed_in(&second.api, "u-ada");
    let status = "query($p: ID!) { accessReviewInstances(policyId: $p) { nodes { status } } }";
    let before = ada.data(status, json!({ "p": policy })).await;
    assert_eq!(
        before["accessReviewInstances"]["nodes"][0]["status"],
        json!("Completed"),
        "killed while applying"
    );
    let left = ada.data(count, json!({})).await["group"]["memberCount"].as_u64().unwrap();
    assert!(left > 0 && left < PEOPLE as u64, "some removed before the kill, some left: {left}");
    ada.data(advance, json!({ "to": (end + chrono::TimeDelta::hours(1)).to_rfc3339() })).await;
    let after = ada.data(status, json!({ "p": policy })).await;
    assert_eq!(after["accessReviewInstances"]["nodes"][0]["status"], json!("Applied"));
    assert_eq!(ada.data(count, json!({})).await["group"]["memberCount"], json!(0));
    let mut removals = 0;
    let mut after: Option<String> = None;
    loop {
        let page = ada
            .data(
                "query($a: String) { assignmentRequests(first: 200, after: $a) {
                    pageInfo { hasNextPage endCursor } nodes { requestType } } }",
                json!({ "a": after }),
            )
            .await;
        let page = &page["assignmentRequests"];
        removals += page["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["requestType"] == json!("systemRemove"))
            .count();
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(removals, PEOPLE, "each removed once");
}

/// A custom extension's call is written with the change that makes it: its endpoint is down, the
/// server is killed with SIGKILL while it retries, and after the restart the call arrives, with
/// the same id.
#[tokio::test]
async fn a_call_not_yet_sent_when_the_server_is_killed_is_sent_after_the_restart() {
    let (folder, db) = imported_database();
    let secret = "the process test's secret of 32+ bytes";
    let args = ["--auth-secret", secret, "--allow-http-loopback-extensions", "--callout-retry-ms", "200"];
    let signed_in = signer(secret);
    // Nothing listens on the receiver's port yet.
    let port = crate::support::free_port();

    let first = Process::serve_with(&db, &folder.path().join("first.log"), &args).await;
    let ada = signed_in(&first.api, "u-ada");
    let catalog = ada.create_catalog("Notified").await;
    let extension = ada
        .data(
            "mutation($input: CreateCustomCalloutExtensionInput!) { createCustomCalloutExtension(input: $input) {
               customCalloutExtension { id } } }",
            json!({ "input": { "catalogId": catalog, "extension": {
                "type": "accessPackageAssignmentRequestWorkflowExtension", "displayName": "Ticketing",
                "endpointConfiguration": { "targetUrl": format!("http://127.0.0.1:{port}/hook") },
                "clientConfiguration": { "maximumRetries": 10, "timeoutInMilliseconds": 2000 } } } }),
        )
        .await["createCustomCalloutExtension"]["customCalloutExtension"]["id"]
        .clone();
    let package = ada.create_package(&catalog, "Notified access").await;
    crate::requests::create_policy(
        &ada,
        &package,
        json!({ "displayName": "Anyone", "allowedTargetScope": "allMemberUsers",
                "requestorSettings": {"enableTargetsToSelfAddAccess": true},
                "customExtensionStageSettings": [{"stage": "assignmentRequestGranted", "customExtensionId": extension}] }),
    )
    .await;
    let dan = signed_in(&first.api, "u-dan");
    let request = dan
        .data(&crate::requests::submit_query(), json!({ "input": { "accessPackageId": package } }))
        .await["createAssignmentRequest"]["assignmentRequest"]
        .clone();
    assert_eq!(request["state"], json!("delivered"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    first.kill();

    // The receiver comes up; the restarted server sends what it had not sent.
    let arrived: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>> = std::sync::Arc::default();
    let seen = std::sync::Arc::clone(&arrived);
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
            let seen = std::sync::Arc::clone(&seen);
            async move {
                let id =
                    headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                seen.lock().unwrap().push((id, body.0));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the port is still free");
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let second = Process::serve_with(&db, &folder.path().join("second.log"), &args).await;
    for _ in 0..200 {
        if !arrived.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let calls = arrived.lock().unwrap().clone();
    let [(id, body)] = calls.as_slice() else { panic!("one call arrives: {calls:?}") };
    assert_eq!(body["data"]["stage"], json!("assignmentRequestGranted"));
    assert_eq!(body["id"], json!(id), "the envelope's id is the webhook id");
    let bare = text(&request["id"]).rsplit(':').next().unwrap().to_owned();
    assert_eq!(body["data"]["accessPackageAssignmentRequestId"], json!(bare));
    let ada = signed_in(&second.api, "u-ada");
    let mut status = Value::Null;
    for _ in 0..100 {
        status = ada
            .data(
                "query($id: ID!) { assignmentRequest(id: $id) { customExtensionCalloutInstances { id status attempts } } }",
                json!({ "id": request["id"] }),
            )
            .await["assignmentRequest"]["customExtensionCalloutInstances"][0]
            .clone();
        if status["status"] == "calloutSent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!((status["id"].clone(), status["status"].clone()), (json!(id), json!("calloutSent")));
}
