//! Several replicas on one SurrealDB server: subscriptions on one replica receive what another
//! commits, in one order, resumable on either by cursor; the read models of each follow the
//! changes made on the others (packages, policies, role assignments, users for auto-assignment);
//! separation of duties, one decision per stage and due timers hold across replicas.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::auto_assignment::automatic;
use crate::requests::{create_policy, decide_query, directory_with_admin, socket, submit_query};
use crate::support::{Api, TestServer, text};
use crate::ws::Ws;

/// How long a change made on one replica may take to reach the read models of another.
const FOLLOW: Duration = Duration::from_secs(5);

const STAGE_CHANGES: &str =
    "subscription { approvalStageChanges { cursor kind assignmentRequest { id state } } }";

const EVENTS: &str =
    "subscription($after: String) { events(after: $after) { cursor event { kind targetId } } }";

fn open_policy() -> Value {
    json!({
        "displayName": "Open to members",
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true, "enableTargetsToSelfRemoveAccess": true},
        "expiration": {"type": "afterDuration", "duration": "P30D"}
    })
}

fn approved_by(approvers: &[&str]) -> Value {
    let mut policy = open_policy();
    let approvers: Vec<Value> =
        approvers.iter().map(|u| json!({"type": "singleUser", "userId": u})).collect();
    policy["displayName"] = json!("Approved");
    policy["requestApprovalSettings"] = json!({"isApprovalRequiredForAdd": true, "stages": [
        {"durationBeforeAutomaticDenial": "P14D", "primaryApprovers": approvers}]});
    policy
}

/// Two replicas over the fixture directory, Ada's client on each, and a catalog.
struct Pair {
    replicas: Vec<TestServer>,
    catalog: String,
}

impl Pair {
    async fn start(virtual_clock: bool) -> Self {
        Self::over(directory_with_admin(), virtual_clock).await
    }

    async fn over(directory: Value, virtual_clock: bool) -> Self {
        let replicas = TestServer::replicas(directory, 2, virtual_clock).await;
        // The first knows the second at once (its hello), not at its next heartbeat.
        let known = replicas[0].services.store.peers().known();
        assert_eq!(known.len(), 1, "{known:?}");
        assert_eq!(known[0].origin, replicas[1].services.store.origin());
        let catalog = replicas[0].as_user("u-ada").create_catalog("Governance").await;
        Self { replicas, catalog }
    }

    fn on(&self, replica: usize, user: &str) -> Api {
        self.replicas[replica].as_user(user)
    }

    /// A package with one policy, made on replica `on`; returns the package.
    async fn package(&self, on: usize, name: &str, policy: Value) -> String {
        let ada = self.on(on, "u-ada");
        let package = ada.create_package(&self.catalog, name).await;
        create_policy(&ada, &package, policy).await;
        package
    }
}

fn submitted<'a>(api: &'a Api, package: &str) -> impl Future<Output = Value> + 'a {
    let package = package.to_owned();
    async move { api.gql(&submit_query(), json!({ "input": { "accessPackageId": package } })).await }
}

fn outcome(body: &Value, field: &str) -> Result<String, String> {
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => Err(code.to_owned()),
        None => Ok(text(&body["data"][field]["assignmentRequest"]["state"])),
    }
}

/// Retries `check` until it holds or [`FOLLOW`] has passed; returns how long it took.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < FOLLOW, "{what}: not within {FOLLOW:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

/// The next `events` payloads of subscription `id`, `n` of them.
async fn events(ws: &mut Ws, id: &str, n: usize) -> Vec<(u128, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let event = ws.next(id).await["events"].clone();
        out.push((text(&event["cursor"]).parse().unwrap(), text(&event["event"]["kind"])));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_on_one_replica_hears_of_a_request_made_on_the_other() {
    let pair = Pair::start(false).await;
    let package = pair.package(0, "Payments", approved_by(&["u-carol"])).await;
    let carol_b = pair.on(1, "u-carol");
    let mut carol_ws = socket(&pair.replicas[1], &carol_b).await;
    carol_ws.subscribe("stages", STAGE_CHANGES, json!({})).await;
    // The subscription is live before the request is made.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dan_a = pair.on(0, "u-dan");
    let sent = Instant::now();
    let made = submitted(&dan_a, &package).await;
    let request = text(&made["data"]["createAssignmentRequest"]["assignmentRequest"]["id"]);
    let heard = carol_ws.next("stages").await["approvalStageChanges"].clone();
    // Woken by A's call, not by the feed's one-second poll.
    assert!(sent.elapsed() < Duration::from_millis(300), "heard after {:?}", sent.elapsed());
    assert_eq!(heard["assignmentRequest"]["id"], json!(request), "{heard:#}");
    assert_eq!(heard["assignmentRequest"]["state"], json!("pendingApproval"));

    // Carol approves on replica B; Dan's request on replica A is delivered.
    let approved = carol_b
        .data(
            &decide_query(),
            json!({ "input": { "approvalId": request, "reviewResult": "Approve", "justification": "ok" } }),
        )
        .await;
    assert_eq!(approved["updateApprovalStage"]["assignmentRequest"]["state"], json!("delivered"));
    let read = dan_a
        .data("query($id: ID!) { assignmentRequest(id: $id) { state } }", json!({ "id": request }))
        .await;
    assert_eq!(read["assignmentRequest"]["state"], json!("delivered"));
}

/// Requests made on both replicas at once: a subscriber of everything on B receives every
/// event in one order (cursors rising), and a subscriber on A resuming from one of B's cursors
/// receives exactly what followed it on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_replicas_publish_every_commit_in_one_order_resumable_on_either() {
    let pair = Pair::start(false).await;
    let mut packages = Vec::new();
    for i in 0..8 {
        packages.push(pair.package(i % 2, &format!("Package {i}"), open_policy()).await);
    }
    let ada_b = pair.on(1, "u-ada");
    let mut feed_b = socket(&pair.replicas[1], &ada_b).await;
    feed_b.subscribe("all", EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Dan and Bob request every package, each request on the replica of its parity, all at once.
    let clients: Vec<Api> = ["u-dan", "u-bob"].iter().flat_map(|u| [pair.on(0, u), pair.on(1, u)]).collect();
    let sends = packages.iter().enumerate().flat_map(|(i, package)| {
        [(&clients[i % 2], package), (&clients[2 + (i + 1) % 2], package)]
            .map(|(client, package)| submitted(client, package))
    });
    let answers = futures::future::join_all(sends).await;
    for answer in &answers {
        assert_eq!(outcome(answer, "createAssignmentRequest"), Ok("delivered".to_owned()), "{answer:#}");
    }
    // Each delivery commits a request and an assignment event at least.
    let seen = events(&mut feed_b, "all", 32).await;
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "cursors rise: {seen:?}");
    let created = seen.iter().filter(|(_, kind)| kind == "assignment.created").count();
    assert_eq!(created, 16, "{seen:?}");

    let ada_a = pair.on(0, "u-ada");
    let mut feed_a = socket(&pair.replicas[0], &ada_a).await;
    let from = seen[9].0;
    feed_a.subscribe("resumed", EVENTS, json!({ "after": from.to_string() })).await;
    let resumed = events(&mut feed_a, "resumed", seen.len() - 10).await;
    assert_eq!(resumed, seen[10..].to_vec(), "A resumes after B's cursor with exactly what followed it");
}

/// The read models of B follow what is changed on A: a package and its policy made on A are
/// requested on B; a role assignment made on A lets its holder act on B; an auto-assignment
/// policy made on A assigns a user changed on B; a user changed on A is in B's index when a
/// policy made on B populates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_models_of_each_replica_follow_changes_made_on_the_other() {
    let pair = Pair::start(false).await;
    let (ada_a, ada_b) = (pair.on(0, "u-ada"), pair.on(1, "u-ada"));
    let dan_b = pair.on(1, "u-dan");
    // B reads the catalog's packages (and caches what it read) before A changes them.
    let mine = "{ accessPackagesForMe { displayName } }";
    assert_eq!(dan_b.data(mine, json!({})).await["accessPackagesForMe"], json!([]));
    let package = pair.package(0, "Payments", open_policy()).await;
    eventually("the package made on A shows on B", || async {
        dan_b.data(mine, json!({})).await["accessPackagesForMe"] == json!([{ "displayName": "Payments" }])
    })
    .await;
    assert_eq!(
        outcome(&submitted(&dan_b, &package).await, "createAssignmentRequest"),
        Ok("delivered".into())
    );

    // Carol may not create packages in the catalog on B until A makes her its owner.
    let carol_b = pair.on(1, "u-carol");
    let create = "mutation($c: ID!) { createAccessPackage(input: {catalogId: $c, displayName: \"Carol's\"}) { accessPackage { id } } }";
    let refused = carol_b.gql(create, json!({ "c": pair.catalog })).await;
    assert!(refused["errors"][0]["extensions"]["code"].is_string(), "{refused:#}");
    ada_a
        .data(
            "mutation($c: ID!) { createRoleAssignment(input: {principalId: \"u-carol\",
               roleDefinitionId: \"ae79f266-94d4-4dab-b730-feca7e132178\", appScopeId: $c}) { roleAssignment { id } } }",
            json!({ "c": format!("/AccessPackageCatalog/{}", pair.catalog.trim_start_matches("AccessPackageCatalog:")) }),
        )
        .await;
    eventually("Carol's ownership made on A holds on B", || async {
        carol_b.gql(create, json!({ "c": pair.catalog })).await["errors"].is_null()
    })
    .await;

    // An auto-assignment policy made on A; Carol moved into its scope on B is assigned by B.
    let emea = ada_a.create_package(&pair.catalog, "EMEA sales").await;
    let rule = r#"user.department -eq "Sales" -and user.country -eq "France""#;
    create_policy(&ada_a, &emea, automatic("EMEA", rule, "P7D")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ada_b
        .data(
            "mutation { updateUser(input: {id: \"u-carol\", country: \"France\"}) { user { id } } }",
            json!({}),
        )
        .await;
    assert!(holds(&ada_b, "u-carol", &emea).await, "B assigned Carol by the policy made on A");

    // Dan moved into scope on A, then a policy made on B: B's index has Dan.
    ada_a
        .data(
            "mutation { updateUser(input: {id: \"u-dan\", department: \"Sales\", country: \"Spain\"}) { user { id } } }",
            json!({}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spain = ada_b.create_package(&pair.catalog, "Spain sales").await;
    let rule = r#"user.department -eq "Sales" -and user.country -eq "Spain""#;
    create_policy(&ada_b, &spain, automatic("Spain", rule, "P7D")).await;
    assert!(holds(&ada_a, "u-dan", &spain).await, "B's first population saw Dan's move made on A");
}

async fn holds(admin: &Api, user: &str, package: &str) -> bool {
    let data = admin
        .data(
            "query($u: ID!, $p: ID!) { assignments(filter: {targetId: $u, accessPackageId: $p}) { totalCount } }",
            json!({ "u": user, "p": package }),
        )
        .await;
    data["assignments"]["totalCount"] == json!(1)
}

async fn stored(admin: &Api, package: &str) -> (u64, u64) {
    let data = admin
        .data(
            "query($p: ID!) {
               assignmentRequests(filter: {accessPackageId: $p}) { totalCount }
               assignments(filter: {accessPackageId: $p, activeOnly: false}) { totalCount } }",
            json!({ "p": package }),
        )
        .await;
    let count = |v: &Value| v["totalCount"].as_u64().unwrap();
    (count(&data["assignmentRequests"]), count(&data["assignments"]))
}

/// Dan requests two incompatible packages at once, one on each replica, ten times: one is
/// delivered, the other refused, and only one is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incompatible_packages_requested_at_once_on_two_replicas_deliver_at_most_one() {
    let pair = Pair::start(false).await;
    let ada = pair.on(0, "u-ada");
    let (dan_a, dan_b) = (pair.on(0, "u-dan"), pair.on(1, "u-dan"));
    for round in 0..10 {
        let a = pair.package(0, &format!("Payments {round}"), open_policy()).await;
        let b = pair.package(1, &format!("Audit {round}"), open_policy()).await;
        ada.data(
            "mutation($a: ID!, $b: ID!) { addIncompatibleAccessPackage(
               input: {accessPackageId: $a, incompatibleAccessPackageId: $b}) { accessPackage { id } } }",
            json!({ "a": b, "b": a }),
        )
        .await;
        let (first, second) = tokio::join!(submitted(&dan_a, &a), submitted(&dan_b, &b));
        let mut outcomes =
            [outcome(&first, "createAssignmentRequest"), outcome(&second, "createAssignmentRequest")];
        outcomes.sort();
        assert_eq!(outcomes[0], Ok("delivered".to_owned()), "round {round}:\n{first:#}\n{second:#}");
        assert!(outcomes[1].is_err(), "round {round}:\n{first:#}\n{second:#}");
        let (stored_a, stored_b) = (stored(&ada, &a).await, stored(&ada, &b).await);
        assert_eq!(stored_a.1 + stored_b.1, 1, "round {round}: exactly one assignment");
    }
}

/// Carol approves on A while Bob denies on B, five times: one decision wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_on_two_replicas_make_exactly_one_decision() {
    let pair = Pair::start(false).await;
    let dan = pair.on(0, "u-dan");
    for round in 0..5 {
        let package =
            pair.package(round % 2, &format!("Payments {round}"), approved_by(&["u-carol", "u-bob"])).await;
        let made = submitted(&dan, &package).await;
        let request = text(&made["data"]["createAssignmentRequest"]["assignmentRequest"]["id"]);
        let decide = |api: &'static str, on: usize, result: &str| {
            let variables = json!({ "input": { "approvalId": request, "reviewResult": result, "justification": "at once" } });
            let api = pair.on(on, api);
            async move { api.gql(&decide_query(), variables).await }
        };
        let (approved, denied) = tokio::join!(decide("u-carol", 0, "Approve"), decide("u-bob", 1, "Deny"));
        let outcomes = [outcome(&approved, "updateApprovalStage"), outcome(&denied, "updateApprovalStage")];
        let wins = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {outcomes:?}");
        assert!(outcomes.iter().any(|o| o.as_ref().err().is_some_and(|c| c == "CONFLICT")), "{outcomes:?}");
    }
}

/// An assignment ending in a day: both replicas' clocks move past it at once; it ends once,
/// with one event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_timer_fires_once_across_replicas() {
    let pair = Pair::start(true).await;
    let mut policy = open_policy();
    policy["expiration"] = json!({"type": "afterDuration", "duration": "P1D"});
    let ada = pair.on(0, "u-ada");
    let mut packages = Vec::new();
    for i in 0..4 {
        let package = pair.package(i % 2, &format!("Day pass {i}"), policy.clone()).await;
        for user in ["u-dan", "u-bob", "u-carol"] {
            let answer = submitted(&pair.on(i % 2, user), &package).await;
            assert_eq!(outcome(&answer, "createAssignmentRequest"), Ok("delivered".into()), "{answer:#}");
        }
        packages.push(package);
    }
    let to = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let advance = "mutation($to: DateTime) { advanceClock(input: {to: $to}) { firedTimers } }";
    let ada_b = pair.on(1, "u-ada");
    let (a, b) =
        tokio::join!(ada.data(advance, json!({ "to": to })), ada_b.data(advance, json!({ "to": to })));
    assert!(a["advanceClock"]["firedTimers"].is_u64() && b["advanceClock"]["firedTimers"].is_u64());
    for package in &packages {
        let data = ada
            .data(
                "query($p: ID!) { assignments(filter: {accessPackageId: $p, activeOnly: false}) { nodes { state } }
                   auditEvents(filter: {accessPackageId: $p, kind: \"assignment.stateChanged\"}) { totalCount } }",
                json!({ "p": package }),
            )
            .await;
        let states: Vec<String> =
            data["assignments"]["nodes"].as_array().unwrap().iter().map(|n| text(&n["state"])).collect();
        assert_eq!(states, vec!["expired"; 3], "{data:#}");
        assert_eq!(data["auditEvents"]["totalCount"], json!(3), "one ending per assignment: {data:#}");
    }
}

/// Twelve two-stage requests at once, each step on the other replica right after the last
/// one's answer: the stage-2 approver is never refused on what a replica remembered of the
/// request before stage 1 was decided on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_acknowledged_by_one_replica_is_not_refused_by_the_other_on_older_data() {
    let mut directory = directory_with_admin();
    for i in 0..12 {
        directory["users"].as_array_mut().unwrap().push(json!({
            "id": format!("u-requestor-{i}"), "displayName": format!("Requestor {i}"),
            "userPrincipalName": format!("requestor{i}@contoso.com")
        }));
    }
    let pair = Pair::over(directory, false).await;
    let mut policy = approved_by(&["u-carol"]);
    policy["requestApprovalSettings"]["stages"].as_array_mut().unwrap().push(
        json!({"durationBeforeAutomaticDenial": "P14D", "primaryApprovers": [{"type": "singleUser", "userId": "u-bob"}]}),
    );
    let mut packages = Vec::new();
    for i in 0..12 {
        packages.push(pair.package(i % 2, &format!("Two stages {i}"), policy.clone()).await);
    }
    let lifecycles = packages.iter().enumerate().map(|(i, package)| {
        let (a, b) = (i % 2, 1 - i % 2);
        let requestor = pair.on(a, &format!("u-requestor-{i}"));
        let (carol, bob) = (pair.on(b, "u-carol"), pair.on(a, "u-bob"));
        async move {
            let made = submitted(&requestor, package).await;
            let request = made["data"]["createAssignmentRequest"]["assignmentRequest"]["id"].clone();
            let variables = json!({ "input": { "approvalId": request, "reviewResult": "Approve", "justification": "ok" } });
            let first = carol.gql(&decide_query(), variables.clone()).await;
            let second = bob.gql(&decide_query(), variables).await;
            [outcome(&made, "createAssignmentRequest"), outcome(&first, "updateApprovalStage"), outcome(&second, "updateApprovalStage")]
        }
    });
    for steps in futures::future::join_all(lifecycles).await {
        let expected = ["pendingApproval", "pendingApproval", "delivered"].map(|s| Ok(s.to_owned()));
        assert_eq!(steps, expected);
    }
}

#[tokio::test]
async fn only_a_replica_holding_the_database_key_is_heard_and_a_bad_message_changes_nothing() {
    let pair = Pair::start(false).await;
    let target = &pair.replicas[1];
    let key = target.services.store.replica_key().await.unwrap();
    assert_eq!(key.len(), 64);
    let http = reqwest::Client::new();
    let call = |path: &str, authorization: Option<String>, body: String| {
        let mut request = http.post(target.url(path)).header("content-type", "application/json").body(body);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        request.send()
    };
    let stranger = json!({ "origin": "stranger", "url": "http://127.0.0.1:9" }).to_string();
    let tell = json!({ "origin": "stranger", "seq": 7, "changed": [] }).to_string();
    for (path, body) in
        [("/replica/hello", &stranger), ("/replica/committed", &tell), ("/replica/settled", &tell)]
    {
        // No key, a wrong one, the key without its scheme.
        for authorization in [None, Some("Bearer not-the-key".to_owned()), Some(key.clone())] {
            let status = call(path, authorization.clone(), body.clone()).await.unwrap().status();
            assert_eq!(status, 401, "{path} with {authorization:?}");
        }
    }
    let bearer = Some(format!("Bearer {key}"));
    for (path, body) in [
        ("/replica/hello", "{\"origin\": 1}"),
        ("/replica/committed", "not json"),
        ("/replica/committed", "{\"origin\": \"x\", \"seq\": \"one\", \"changed\": []}"),
    ] {
        let response = call(path, bearer.clone(), body.to_owned()).await.unwrap();
        assert_eq!(response.status(), 400, "{path} {body}");
    }
    // With the key, a hello from a replica missing from the registry is still not believed.
    assert_eq!(call("/replica/hello", bearer.clone(), stranger).await.unwrap().status(), 204);
    let known = target.services.store.peers().known();
    assert!(known.iter().all(|r| r.origin != "stranger"), "{known:?}");
    // A process that joined no replicas (an embedded database) has no such endpoints.
    let alone = TestServer::start().await;
    if !alone.services.store.is_remote() {
        let response = http.post(alone.url("/replica/settled")).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
}
