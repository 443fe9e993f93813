//! Custom extensions and requests on behalf of others, through GraphQL and real HTTP receivers:
//! the seed's bonus scenario (a manager requests a Temporary Access Pass for her report; a TAP
//! issuer, called when the request is approved, verifies the call's signature and resumes the
//! request with the pass; the pass ends with the assignment), an extension that keeps failing,
//! forged callbacks, and the bad input the issue names.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::requests::{create_policy, socket};
use crate::support::{Api, TestServer, advance_clock, clock_now, text};

const MEGAN: &str = "00000000-0000-0000-0000-0000000000a3";
const CHRISTIE: &str = "00000000-0000-0000-0000-0000000000a2";
const GERHART: &str = "00000000-0000-0000-0000-0000000000a1";
const ADELE: &str = "00000000-0000-0000-0000-0000000000a5";
const LYNNE: &str = "00000000-0000-0000-0000-0000000000a6";

const CREATE_EXTENSION: &str = "mutation($input: CreateCustomCalloutExtensionInput!) {
    createCustomCalloutExtension(input: $input) { signingSecret
      customCalloutExtension { id type displayName endpointConfiguration { targetUrl }
        clientConfiguration { maximumRetries timeoutInMilliseconds } callbackConfiguration { timeoutDuration } } } }";

const REQUEST: &str = "mutation($input: CreateAssignmentRequestInput!) {
    createAssignmentRequest(input: $input) { assignmentRequest { id state status requestorId targetId } } }";

const DECIDE: &str = "mutation($input: UpdateApprovalStageInput!) {
    updateApprovalStage(input: $input) { assignmentRequest { id state status } } }";

const CALLOUTS: &str =
    "customExtensionCalloutInstances { id customExtensionId stage status detail attempts }";

fn request_query() -> String {
    format!(
        "query($id: ID!) {{ assignmentRequest(id: $id) {{ id state status {CALLOUTS}
           assignment {{ id state schedule {{ expiration {{ endDateTime }} }} }}
           explanation {{ log {{ text }} }} }} }}"
    )
}

/// The Standard Webhooks signature, written here as a receiver would, from the specification.
fn signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("the secret is base64 after `whsec_`");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// What a receiver saw.
#[derive(Default)]
struct Seen {
    secret: String,
    /// Every call that arrived, with its `webhook-id`.
    calls: Vec<(String, Value)>,
    /// Calls whose signature did not verify.
    forged: usize,
    /// Ids already handled: a repeat is answered but not handled again.
    handled: BTreeSet<String>,
    /// Passes issued, by request, with whether they were revoked.
    passes: Vec<(String, String, bool)>,
}

/// A small Temporary Access Pass issuer: verifies each call's signature; when a request is
/// approved, it issues a pass and (once `release` is notified) resumes the request with it at the
/// call's `callbackUriPath`; when an assignment ends, it revokes the pass. Answers 202 at once.
#[derive(Clone)]
struct TapIssuer {
    seen: Arc<Mutex<Seen>>,
    release: Arc<Notify>,
    api_base: String,
}

async fn tap_call(State(tap): State<TapIssuer>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (id, timestamp, signed) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let secret = tap.seen.lock().unwrap().secret.clone();
    let expected = format!("v1,{}", signature(&secret, &id, &timestamp, &body));
    if !signed.split(' ').any(|s| s == expected) {
        tap.seen.lock().unwrap().forged += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let call: Value = serde_json::from_slice(&body).unwrap();
    let first = {
        let mut seen = tap.seen.lock().unwrap();
        seen.calls.push((id.clone(), call.clone()));
        seen.handled.insert(id.clone())
    };
    if !first {
        return StatusCode::ACCEPTED;
    }
    let data = &call["data"];
    match data["stage"].as_str().unwrap() {
        "assignmentRequestApproved" => {
            assert_eq!(
                call["id"], data["customExtensionStageInstanceId"],
                "the envelope's id is the stage instance's"
            );
            let request = text(&data["accessPackageAssignmentRequestId"]);
            let pass = format!("TAP-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            tap.seen.lock().unwrap().passes.push((request, pass.clone(), false));
            let tap = tap.clone();
            let data = data.clone();
            tokio::spawn(async move {
                tap.release.notified().await;
                let body = json!({
                    "source": "tap-issuer",
                    "type": "microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestApproved",
                    "data": {
                        "@odata.type": "microsoft.graph.accessPackageAssignmentRequestCallbackData",
                        "stage": "assignmentRequestApproved",
                        "customExtensionStageInstanceId": data["customExtensionStageInstanceId"],
                        "customExtensionStageInstanceDetail": format!("Temporary Access Pass: {pass}"),
                    }
                });
                let status = tap.resume(&text(&data["callbackUriPath"]), &body, None).await;
                assert_eq!(status, StatusCode::NO_CONTENT);
            });
        }
        "assignmentRequestRemoved" => {
            let target = text(&data["assignment"]["target"]["objectId"]);
            assert_eq!(target, GERHART);
            for pass in &mut tap.seen.lock().unwrap().passes {
                pass.2 = true;
            }
        }
        _ => {}
    }
    StatusCode::ACCEPTED
}

impl TapIssuer {
    /// POSTs a signed callback to `path`; with `sign_with`, signed with that secret instead.
    async fn resume(&self, path: &str, body: &Value, sign_with: Option<&str>) -> StatusCode {
        let secret = sign_with.map_or_else(|| self.seen.lock().unwrap().secret.clone(), str::to_owned);
        let bytes = serde_json::to_vec(body).unwrap();
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signed = format!("v1,{}", signature(&secret, &id, &timestamp, &bytes));
        reqwest::Client::new()
            .post(format!("{}{path}", self.api_base))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp)
            .header("webhook-signature", signed)
            .body(bytes)
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// A receiver on a free loopback port; returns its base URL.
async fn receiver(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

async fn create_extension(admin: &Api, catalog: &str, body: Value) -> (String, String) {
    let data =
        admin.data(CREATE_EXTENSION, json!({ "input": { "catalogId": catalog, "extension": body } })).await;
    let created = &data["createCustomCalloutExtension"];
    (text(&created["customCalloutExtension"]["id"]), text(&created["signingSecret"]))
}

/// Waits until `done` holds of the request, as `api` reads it.
async fn request_until(api: &Api, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let request = api.data(&request_query(), json!({ "id": id })).await["assignmentRequest"].clone();
        if done(&request) {
            return request;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("request {id} never got there")
}

/// The "Temporary Access Pass" package in a new catalog, with the TAP issuer called when a request
/// is approved (launch and wait, an hour), when it is granted and when the assignment ends;
/// managers request for their direct reports; Christie approves; access lasts 8 hours.
async fn tap_package(admin: &Api, url: &str) -> (String, String, String, String) {
    let catalog = admin.create_catalog("Security").await;
    let (extension, secret) = create_extension(
        admin,
        &catalog,
        json!({ "type": "accessPackageAssignmentRequestWorkflowExtension", "displayName": "TAP issuer",
                "endpointConfiguration": {"targetUrl": format!("{url}/tap")},
                "clientConfiguration": {"maximumRetries": 2, "timeoutInMilliseconds": 5000},
                "callbackConfiguration": {"timeoutDuration": "PT1H"} }),
    )
    .await;
    let package = admin.create_package(&catalog, "Temporary Access Pass").await;
    let policy = create_policy(
        admin,
        &package,
        json!({
            "displayName": "Managers for their reports",
            "allowedTargetScope": "allMemberUsers",
            "requestorSettings": {"enableOnBehalfRequestorsToAddAccess": true,
                                  "onBehalfRequestors": [{"type": "targetManager", "managerLevel": 1}]},
            "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "isRequestorJustificationRequired": true,
                "stages": [{"durationBeforeAutomaticDenial": "P1D",
                            "primaryApprovers": [{"type": "singleUser", "userId": CHRISTIE}]}]},
            "expiration": {"type": "afterDuration", "duration": "PT8H"},
            "customExtensionStageSettings": [
                {"stage": "assignmentRequestApproved", "customExtensionId": extension},
                {"stage": "assignmentRequestGranted", "customExtensionId": extension},
                {"stage": "assignmentRequestRemoved", "customExtensionId": extension}
            ]
        }),
    )
    .await;
    (catalog, package, extension, format!("{secret}|{policy}"))
}

#[tokio::test]
async fn bonus_scenario_a_manager_requests_a_temporary_access_pass_for_her_report() {
    let server = TestServer::demo_on(true).await;
    let (megan, christie, lynne, adele) =
        (server.as_user(MEGAN), server.as_user(CHRISTIE), server.as_user(LYNNE), server.as_user(ADELE));
    let tap =
        TapIssuer { seen: Arc::default(), release: Arc::new(Notify::new()), api_base: server.base.clone() };
    let url =
        receiver(axum::Router::new().route("/tap", axum::routing::post(tap_call)).with_state(tap.clone()))
            .await;
    let (_, package, extension, secret_and_policy) = tap_package(&megan, &url).await;
    let (secret, _policy) = secret_and_policy.split_once('|').unwrap();
    assert!(secret.starts_with("whsec_"));
    tap.seen.lock().unwrap().secret = secret.to_owned();

    // Lynne follows her requests live.
    let mut lynne_ws = socket(&server, &lynne).await;
    lynne_ws
        .subscribe(
            "activity",
            &format!("subscription {{ assignmentActivity {{ kind assignmentRequest {{ id state status {CALLOUTS} }} }} }}"),
            json!({}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Adele is not Christie's manager: she may not request for her.
    let input = |target: &str| {
        json!({ "input": { "accessPackageId": package, "targetId": target,
                           "justification": "Lost her phone; needs to register a new one" } })
    };
    let refusal = adele.refused(REQUEST, input(CHRISTIE), "FORBIDDEN", Some("assignmentPolicyId")).await;
    assert!(refusal.message.contains("on-behalf"), "{}", refusal.message);
    // Lynne requests for Gerhart, her direct report.
    let request =
        lynne.data(REQUEST, input(GERHART)).await["createAssignmentRequest"]["assignmentRequest"].clone();
    assert_eq!(
        (text(&request["state"]), text(&request["requestorId"]), text(&request["targetId"])),
        ("pendingApproval".into(), LYNNE.into(), GERHART.into())
    );
    let id = text(&request["id"]);
    let bare = id.rsplit(':').next().unwrap().to_owned();

    // Christie approves: the TAP issuer is called, and the request waits for it.
    let approved = christie
        .data(
            DECIDE,
            json!({ "input": { "approvalId": id, "reviewResult": "Approve", "justification": "ok" } }),
        )
        .await["updateApprovalStage"]["assignmentRequest"]
        .clone();
    assert_eq!(
        (text(&approved["state"]), text(&approved["status"])),
        ("pendingApproval".into(), "WaitingForCallback".into())
    );
    // (Waiting until the sender has recorded the call as sent, so the audit trail's order is fixed.)
    let waiting = request_until(&lynne, &id, |r| {
        r["customExtensionCalloutInstances"][0]["status"] == "waitingForCallback"
            && r["customExtensionCalloutInstances"][0]["attempts"] == 1
    })
    .await;
    let call = &waiting["customExtensionCalloutInstances"][0];
    assert_eq!(
        (text(&call["stage"]), text(&call["customExtensionId"])),
        ("assignmentRequestApproved".into(), extension.clone())
    );
    assert!(waiting["assignment"].is_null(), "nothing is delivered while waiting");
    {
        let seen = tap.seen.lock().unwrap();
        let (webhook_id, body) = &seen.calls[0];
        assert_eq!(webhook_id, &text(&call["id"]));
        assert_eq!(
            body["type"],
            json!("microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestApproved")
        );
        assert_eq!(body["data"]["accessPackageAssignmentRequestId"], json!(bare));
        assert_eq!(body["data"]["requestType"], json!("userAdd"));
        assert_eq!(body["data"]["requestor"]["objectId"], json!(LYNNE));
        assert_eq!(body["data"]["target"]["objectId"], json!(GERHART));
        assert_eq!(body["data"]["callbackConfiguration"]["timeoutDuration"], json!("PT1H"));
        assert_eq!(
            body["data"]["callbackUriPath"],
            json!(format!("/identityGovernance/entitlementManagement/assignmentRequests/{bare}/resume"))
        );
    }

    // Forged callbacks are refused and change nothing: another secret, an unknown stage instance.
    let path = format!("/identityGovernance/entitlementManagement/assignmentRequests/{bare}/resume");
    let callback = |instance: &str| {
        json!({ "type": "microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestApproved",
                "data": { "customExtensionStageInstanceId": instance, "customExtensionStageInstanceDetail": "TAP: forged" } })
    };
    let stranger = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert_eq!(
        tap.resume(&path, &callback(&text(&call["id"])), Some(stranger)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(tap.resume(&path, &callback("not-an-instance"), None).await, StatusCode::NOT_FOUND);
    let unsigned = reqwest::Client::new()
        .post(server.url(&path))
        .json(&callback(&text(&call["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let still = lynne.data(&request_query(), json!({ "id": id })).await["assignmentRequest"].clone();
    assert_eq!(text(&still["status"]), "WaitingForCallback");

    // The issuer resumes with the pass: the request is delivered, and Lynne sees the pass.
    tap.release.notify_one();
    let delivered = request_until(&lynne, &id, |r| r["state"] == "delivered").await;
    let pass = tap.seen.lock().unwrap().passes[0].1.clone();
    let received = &delivered["customExtensionCalloutInstances"][0];
    assert_eq!(text(&received["status"]), "callbackReceived");
    assert_eq!(text(&received["detail"]), format!("Temporary Access Pass: {pass}"));
    // ...and live, on her subscription.
    let mut live_pass = None;
    for _ in 0..10 {
        let event = lynne_ws.next("activity").await["assignmentActivity"].clone();
        let detail = event["assignmentRequest"]["customExtensionCalloutInstances"][0]["detail"].clone();
        if detail.is_string() {
            live_pass = Some(text(&detail));
            break;
        }
    }
    assert_eq!(live_pass, Some(format!("Temporary Access Pass: {pass}")));
    // The approver does not see the pass.
    let christies_view =
        christie.data(&request_query(), json!({ "id": id })).await["assignmentRequest"].clone();
    assert_eq!(christies_view["customExtensionCalloutInstances"][0]["detail"], json!(null));
    // A second callback for the same stage instance: the request no longer waits.
    assert_eq!(tap.resume(&path, &callback(&text(&received["id"])), None).await, StatusCode::CONFLICT);

    // The granted call follows, with the assignment and its end.
    let granted =
        request_until(&lynne, &id, |r| r["customExtensionCalloutInstances"][1]["status"] == "calloutSent")
            .await;
    assert_eq!(text(&granted["customExtensionCalloutInstances"][1]["stage"]), "assignmentRequestGranted");
    let end = text(&granted["assignment"]["schedule"]["expiration"]["endDateTime"]);
    {
        let seen = tap.seen.lock().unwrap();
        let (_, call) =
            seen.calls.iter().find(|(_, c)| c["data"]["stage"] == "assignmentRequestGranted").unwrap();
        let sent = text(&call["data"]["assignment"]["schedule"]["expiration"]["endDateTime"]);
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
        assert_eq!(at(&sent), at(&end), "the call carries the assignment's end");
        assert_eq!(seen.forged, 0);
    }

    // The pass ends with the assignment: 8 hours later the assignment expires, and the issuer,
    // called as it ends, revokes the pass.
    let now = clock_now(&megan).await;
    advance_clock(&megan, now + chrono::Duration::hours(9)).await;
    for _ in 0..200 {
        if tap.seen.lock().unwrap().passes[0].2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(tap.seen.lock().unwrap().passes[0].2, "the pass is revoked when the assignment ends");
    let assignment = text(&granted["assignment"]["id"]);
    let ended = megan
        .data(
            &format!("query($id: ID!) {{ assignment(id: $id) {{ state {CALLOUTS} }} }}"),
            json!({ "id": assignment }),
        )
        .await["assignment"]
        .clone();
    assert_eq!(text(&ended["state"]), "expired");

    // The audit trail tells every step of the calls.
    let trail = megan
        .data(
            "query($s: String!) { auditEvents(filter: {subjectId: $s, kind: \"customExtension.\"}) { nodes { kind } } }",
            json!({ "s": bare }),
        )
        .await;
    // (Events at one virtual instant are listed by id: compared as a set of counts.)
    let mut kinds: Vec<String> =
        trail["auditEvents"]["nodes"].as_array().unwrap().iter().map(|e| text(&e["kind"])).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["customExtension.callbackReceived", "customExtension.calloutSent", "customExtension.calloutSent"]
    );
}

/// A receiver that always fails, counting the calls.
async fn failing(State(count): State<Arc<Mutex<usize>>>) -> StatusCode {
    *count.lock().unwrap() += 1;
    StatusCode::INTERNAL_SERVER_ERROR
}

#[tokio::test]
async fn an_extension_that_keeps_failing_fails_the_request_and_delivers_nothing() {
    let server = TestServer::demo_on(true).await;
    let (megan, christie, lynne) = (server.as_user(MEGAN), server.as_user(CHRISTIE), server.as_user(LYNNE));
    let count = Arc::new(Mutex::new(0usize));
    let url = receiver(
        axum::Router::new().route("/tap", axum::routing::post(failing)).with_state(Arc::clone(&count)),
    )
    .await;
    let (_, package, _, _) = tap_package(&megan, &url).await;
    let request = lynne
        .data(REQUEST, json!({ "input": { "accessPackageId": package, "targetId": GERHART, "justification": "new phone" } }))
        .await["createAssignmentRequest"]["assignmentRequest"]
        .clone();
    let id = text(&request["id"]);
    christie
        .data(
            DECIDE,
            json!({ "input": { "approvalId": id, "reviewResult": "Approve", "justification": "ok" } }),
        )
        .await;
    let failed = request_until(&lynne, &id, |r| r["state"] == "deliveryFailed").await;
    assert!(failed["assignment"].is_null(), "nothing is delivered");
    let call = &failed["customExtensionCalloutInstances"][0];
    assert_eq!(text(&call["status"]), "calloutFailed");
    assert!(text(&call["detail"]).contains("HTTP 500"), "{call}");
    assert_eq!(*count.lock().unwrap(), 3, "the first call and two retries");
    let log: Vec<String> =
        failed["explanation"]["log"].as_array().unwrap().iter().map(|e| text(&e["text"])).collect();
    assert!(log.iter().any(|l| l.contains("could not be called: the endpoint answered HTTP 500")), "{log:?}");
}

#[tokio::test]
async fn a_request_not_called_back_in_time_fails_with_the_reason() {
    let server = TestServer::demo_on(true).await;
    let (megan, christie, lynne) = (server.as_user(MEGAN), server.as_user(CHRISTIE), server.as_user(LYNNE));
    let tap =
        TapIssuer { seen: Arc::default(), release: Arc::new(Notify::new()), api_base: server.base.clone() };
    let url =
        receiver(axum::Router::new().route("/tap", axum::routing::post(tap_call)).with_state(tap.clone()))
            .await;
    let (_, package, _, secret_and_policy) = tap_package(&megan, &url).await;
    tap.seen.lock().unwrap().secret = secret_and_policy.split_once('|').unwrap().0.to_owned();
    let id = text(
        &lynne
            .data(
                REQUEST,
                json!({ "input": { "accessPackageId": package, "targetId": GERHART, "justification": "x" } }),
            )
            .await["createAssignmentRequest"]["assignmentRequest"]["id"],
    );
    christie
        .data(
            DECIDE,
            json!({ "input": { "approvalId": id, "reviewResult": "Approve", "justification": "ok" } }),
        )
        .await;
    request_until(&lynne, &id, |r| r["customExtensionCalloutInstances"][0]["status"] == "waitingForCallback")
        .await;
    let now = clock_now(&megan).await;
    advance_clock(&megan, now + chrono::Duration::minutes(61)).await;
    let failed = request_until(&lynne, &id, |r| r["state"] == "deliveryFailed").await;
    assert_eq!(text(&failed["customExtensionCalloutInstances"][0]["status"]), "callbackTimedOut");
    let log: Vec<String> =
        failed["explanation"]["log"].as_array().unwrap().iter().map(|e| text(&e["text"])).collect();
    assert!(log.iter().any(|l| l.contains("did not call back within PT1H")), "{log:?}");
    // The issuer's late callback is refused: the request no longer waits.
    tap.release.notify_one();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let still = lynne.data(&request_query(), json!({ "id": id })).await["assignmentRequest"].clone();
    assert_eq!(text(&still["state"]), "deliveryFailed");
}

#[tokio::test]
async fn bad_extensions_stage_settings_and_resumes_are_refused_and_change_nothing() {
    let server = TestServer::demo_on(true).await;
    let megan = server.as_user(MEGAN);
    let catalog = megan.create_catalog("Security").await;
    let create = |body: Value| json!({ "input": { "catalogId": catalog, "extension": body } });
    let endpoint = |url: &str| {
        json!({ "type": "accessPackageAssignmentRequestWorkflowExtension", "displayName": "X",
                "endpointConfiguration": {"targetUrl": url} })
    };
    for url in ["http://tap.example.com/x", "ftp://tap.example.com", "https://user:pw@tap.example.com"] {
        megan
            .refused(
                CREATE_EXTENSION,
                create(endpoint(url)),
                "VALIDATION_FAILED",
                Some("endpointConfiguration.targetUrl"),
            )
            .await;
    }
    let mut wait_on_expiry = endpoint("https://tap.example.com/x");
    wait_on_expiry["type"] = json!("accessPackageAssignmentWorkflowExtension");
    wait_on_expiry["callbackConfiguration"] = json!({"timeoutDuration": "PT1H"});
    megan
        .refused(CREATE_EXTENSION, create(wait_on_expiry), "VALIDATION_FAILED", Some("callbackConfiguration"))
        .await;
    // Only catalog owners and administrators create extensions.
    server
        .as_user(ADELE)
        .refused(CREATE_EXTENSION, create(endpoint("https://tap.example.com/x")), "FORBIDDEN", None)
        .await;
    let listed = megan
        .data("query($c: ID!) { customWorkflowExtensions(catalogId: $c) { id } }", json!({ "c": catalog }))
        .await;
    assert_eq!(listed["customWorkflowExtensions"], json!([]), "nothing was created");

    // A pre-expiration extension at request approved: refused, and no policy is created.
    let mut expiry = endpoint("https://tap.example.com/x");
    expiry["type"] = json!("accessPackageAssignmentWorkflowExtension");
    let (expiry_id, _) = create_extension(&megan, &catalog, expiry).await;
    let package = megan.create_package(&catalog, "TAP").await;
    let policy = json!({ "displayName": "P", "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "customExtensionStageSettings": [{"stage": "assignmentRequestApproved", "customExtensionId": expiry_id}] });
    let refusal = megan
        .refused(
            "mutation($input: CreateAssignmentPolicyInput!) { createAssignmentPolicy(input: $input) { assignmentPolicy { id } } }",
            json!({ "input": { "accessPackageId": package, "policy": policy } }),
            "VALIDATION_FAILED",
            Some("customExtensionStageSettings[0].stage"),
        )
        .await;
    assert!(refusal.message.contains("assignmentFourteenDaysBeforeExpiration"), "{}", refusal.message);
    let policies = megan
        .data(
            "query($p: ID!) { accessPackage(id: $p) { assignmentPolicies { id } } }",
            json!({ "p": package }),
        )
        .await;
    assert_eq!(policies["accessPackage"]["assignmentPolicies"], json!([]));

    // An extension a policy calls cannot be deleted.
    let policy_id = create_policy(
        &megan,
        &package,
        json!({ "displayName": "P", "allowedTargetScope": "allMemberUsers",
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "customExtensionStageSettings": [{"stage": "assignmentFourteenDaysBeforeExpiration", "customExtensionId": expiry_id}] }),
    )
    .await;
    assert!(!policy_id.is_empty());
    // Pasted as Graph's JSON body, with the extension's id as this API gives it: taken too.
    let pasted_package = megan.create_package(&catalog, "TAP, pasted").await;
    let pasted = crate::external::create_policy(
        &megan,
        &pasted_package,
        json!({ "displayName": "Pasted", "allowedTargetScope": "allMemberUsers",
            "requestorSettings": {"enableTargetsToSelfAddAccess": true},
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "customExtensionStageSettings": [{"stage": "assignmentFourteenDaysBeforeExpiration", "customExtensionId": expiry_id}] }),
    )
    .await;
    assert!(!pasted.is_empty());
    megan
        .refused(
            "mutation($input: DeleteByIdInput!) { deleteCustomCalloutExtension(input: $input) { deletedId } }",
            json!({ "input": { "id": expiry_id } }),
            "CONFLICT",
            Some("id"),
        )
        .await;

    // A resume for a request that does not wait: CONFLICT, through GraphQL too.
    let adele = server.as_user(ADELE);
    let request = adele
        .data(REQUEST, json!({ "input": { "accessPackageId": package } }))
        .await["createAssignmentRequest"]["assignmentRequest"]
        .clone();
    assert_eq!(text(&request["state"]), "delivered");
    let resume = "mutation($input: ResumeAssignmentRequestInput!) { resumeAccessPackageAssignmentRequest(input: $input) { id } }";
    megan
        .refused(
            resume,
            json!({ "input": { "id": request["id"], "data": { "customExtensionStageInstanceId": "nope" } } }),
            "NOT_FOUND",
            Some("data.customExtensionStageInstanceId"),
        )
        .await;
    adele
        .refused(
            resume,
            json!({ "input": { "id": request["id"], "data": { "customExtensionStageInstanceId": "nope" } } }),
            "FORBIDDEN",
            None,
        )
        .await;
}
