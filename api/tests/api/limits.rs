//! Hostile clients (the OWASP GraphQL cheat sheet): every limit refuses with its code and changes
//! nothing, introspection and suggestions are off by default, a caller who spends their budget
//! waits (429 with `Retry-After`, over HTTP and WebSocket), and a seeded generator of malformed
//! and oversized inputs gets a clear error for each, never a 5xx.

use std::time::Duration;

use em_api::limits::{Budget, Limits};
use serde_json::{Value, json};

use crate::support::{Api, TestServer, directory};
use crate::ws::Ws;

/// A raw POST of `body` (any bytes) to `/graphql` as `api`'s caller: status, `Retry-After`, body.
async fn post_raw(api: &Api, body: Vec<u8>) -> (u16, Option<String>, Value) {
    let mut request = api
        .http
        .post(api.url("/graphql"))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(body);
    if let Some(token) = &api.bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
    (status, retry, body)
}

async fn post(api: &Api, query: &str, variables: Value) -> (u16, Option<String>, Value) {
    post_raw(api, json!({ "query": query, "variables": variables }).to_string().into_bytes()).await
}

/// The code of the first error of `body`.
fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code in {body}"))
}

/// What exists, to check that refusals changed nothing.
async fn census(api: &Api) -> Value {
    api.data("{ catalogs { totalCount } accessPackages { totalCount } users { totalCount } }", json!({}))
        .await
}

#[tokio::test]
async fn depth_cost_and_aliases_are_limited_with_their_codes() {
    let server = TestServer::with_auth(directory()).await;
    let ada = server.as_user("u-ada");
    let deep = format!(
        "{{ user(id: \"u-bob\") {}{} }}",
        "{ manager ".repeat(20),
        "{ id }".to_owned() + &"}".repeat(20)
    );
    let (status, _, body) = post(&ada, &deep, json!({})).await;
    assert_eq!((status, code(&body)), (400, "QUERY_TOO_DEEP"), "{body}");
    // 500 users, each with 500 reports: 250,000 at worst.
    let costly = "{ users(first: 500) { nodes { directReports(first: 500) { nodes { id } } } } }";
    let (status, _, body) = post(&ada, costly, json!({})).await;
    assert_eq!((status, code(&body)), (400, "QUERY_TOO_COMPLEX"), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("`first`"), "{body}");
    // The same shape with small pages is served.
    let (status, _, body) =
        post(&ada, "{ users(first: 20) { nodes { directReports(first: 20) { nodes { id } } } } }", json!({}))
            .await;
    assert_eq!(status, 200, "{body}");
    let aliased: String = (0..51).map(|i| format!("a{i}: __typename ")).collect();
    let (status, _, body) = post(&ada, &format!("{{ {aliased} }}"), json!({})).await;
    assert_eq!((status, code(&body)), (400, "TOO_MANY_ALIASES"), "{body}");
    let fifty: String = (0..50).map(|i| format!("a{i}: __typename ")).collect();
    assert_eq!(post(&ada, &format!("{{ {fifty} }}"), json!({})).await.0, 200);
    // Aliased mutations are refused before any runs.
    let before = census(&ada).await;
    let creates: String = (0..60)
        .map(|i| format!("c{i}: createCatalog(input: {{displayName: \"C{i}\"}}) {{ catalog {{ id }} }} "))
        .collect();
    let (status, _, body) = post(&ada, &format!("mutation {{ {creates} }}"), json!({})).await;
    assert_eq!((status, code(&body)), (400, "TOO_MANY_ALIASES"), "{body}");
    assert_eq!(census(&ada).await, before, "nothing was created");
}

#[tokio::test]
async fn introspection_and_suggestions_are_off_unless_enabled() {
    let server = TestServer::with_auth(directory()).await;
    let ada = server.as_user("u-ada");
    let (status, _, body) = post(&ada, "{ __schema { types { name } } }", json!({})).await;
    assert_eq!((status, code(&body)), (400, "INTROSPECTION_DISABLED"), "{body}");
    let fragment = "query { ...F } fragment F on Query { __type(name: \"Catalog\") { name } }";
    let (_, _, body) = post(&ada, fragment, json!({})).await;
    assert_eq!(code(&body), "INTROSPECTION_DISABLED", "{body}");
    let (status, _, body) = post(&ada, "{ catalogz { totalCount } }", json!({})).await;
    assert_eq!((status, code(&body)), (400, "GRAPHQL_VALIDATION_FAILED"), "{body}");
    assert!(!body.to_string().contains("Did you mean"), "no suggestions: {body}");
    // `__typename` is not introspection.
    assert_eq!(post(&ada, "{ __typename }", json!({})).await.2["data"]["__typename"], "Query");

    let open = Limits { introspection: true, ..Limits::default() };
    let server = TestServer::with_auth_limited(directory(), false, open).await;
    let ada = server.as_user("u-ada");
    let (status, _, body) = post(&ada, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!((status, &body["data"]["__schema"]["queryType"]["name"]), (200, &json!("Query")), "{body}");
    let (_, _, body) = post(&ada, "{ catalogz { totalCount } }", json!({})).await;
    assert!(body.to_string().contains("Did you mean"), "suggestions with introspection: {body}");
}

#[tokio::test]
async fn a_caller_who_spends_their_budget_waits_and_others_do_not() {
    // 100 at once, then 20 a second; a page of 10 catalogs' ids costs 10 x 2 + 1.
    let limits = Limits { budget: Some(Budget { per_second: 20.0, burst: 100.0 }), ..Limits::default() };
    let server = TestServer::with_auth_limited(directory(), false, limits).await;
    let (ada, bob) = (server.as_user("u-ada"), server.as_user("u-bob"));
    let page = "{ catalogs(first: 10) { nodes { id } } }";
    let mut served = 0;
    let throttled = loop {
        let (status, retry, body) = post(&ada, page, json!({})).await;
        if status == 429 {
            break (retry, body);
        }
        assert_eq!(status, 200, "{body}");
        served += 1;
        assert!(served < 10, "a budget of 100 allows 5 pages of 21");
    };
    assert!(served >= 4, "{served} pages before the budget was spent");
    let (retry, body) = throttled;
    assert_eq!(code(&body), "THROTTLED", "{body}");
    let seconds: u64 = retry.expect("429 carries Retry-After").parse().unwrap();
    assert!((1..=2).contains(&seconds), "{seconds}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], json!(seconds));
    // Others have budgets of their own.
    assert_eq!(post(&bob, page, json!({})).await.0, 200);
    // Over the socket, the spent caller's operation gets the protocol's `error`.
    let token = ada.bearer.clone().unwrap();
    let mut ws = Ws::connected(&server.base, json!({ "Authorization": format!("Bearer {token}") })).await;
    ws.subscribe("q", page, json!({})).await;
    let error = ws.message().await;
    assert_eq!((error["type"].as_str(), error["id"].as_str()), (Some("error"), Some("q")), "{error}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "THROTTLED", "{error}");
    // Paid back over time.
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    assert_eq!(post(&ada, page, json!({})).await.0, 200);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let limits = Limits { max_body_bytes: 4096, ..Limits::default() };
    let server = TestServer::with_auth_limited(directory(), false, limits).await;
    let ada = server.as_user("u-ada");
    let name = "x".repeat(8192);
    let (status, _, _) = post(
        &ada,
        "mutation($n: String!) { createCatalog(input: {displayName: $n}) { catalog { id } } }",
        json!({ "n": name }),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(post(&ada, "{ __typename }", json!({})).await.0, 200);
}

/// splitmix64: the generator's seeded source, so a failure replays.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    /// A random JSON value, nested up to `depth`.
    fn json(&mut self, depth: usize) -> Value {
        match self.below(if depth == 0 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => json!(self.next().is_multiple_of(2)),
            2 => json!(self.next() as i64),
            3 => json!(f64::from(u32::try_from(self.next() >> 40).unwrap()) / 7.0),
            4 => json!(self.string()),
            5 => json!("x".repeat(self.below(200_000))),
            6 => Value::Array((0..self.below(5)).map(|_| self.json(depth - 1)).collect()),
            _ => Value::Object((0..self.below(5)).map(|_| (self.string(), self.json(depth - 1))).collect()),
        }
    }

    fn string(&mut self) -> String {
        let pool = [
            "",
            "displayName",
            "accessPackageId",
            "u-ada",
            "\u{0}",
            "é",
            "🙂",
            "'; DROP TABLE catalog; --",
            "\u{202e}",
        ];
        (0..self.below(4)).map(|_| pool[self.below(pool.len())]).collect()
    }

    fn bytes(&mut self) -> Vec<u8> {
        (0..self.below(300)).map(|_| u8::try_from(self.next() & 0xFF).unwrap()).collect()
    }
}

/// Operations the generator sends random variables to.
const OPERATIONS: [&str; 5] = [
    "mutation($input: CreateCatalogInput!) { createCatalog(input: $input) { catalog { id } } }",
    "mutation($input: CreateAccessPackageInput!) { createAccessPackage(input: $input) { accessPackage { id } } }",
    "query($first: Int, $after: String) { catalogs(first: $first, after: $after) { nodes { id } } }",
    "query($id: ID!) { node(id: $id) { id } }",
    "mutation($input: CreateAssignmentRequestInput!) { createAssignmentRequest(input: $input) { assignmentRequest { id } } }",
];

#[tokio::test]
async fn malformed_and_oversized_inputs_get_a_clear_error_and_never_a_5xx() {
    let server =
        TestServer::with_auth_limited(directory(), false, Limits { budget: None, ..Limits::default() }).await;
    let ada = server.as_user("u-ada");
    let before = census(&ada).await;
    let mut random = Seeded(0x5EED_0019);
    let mut answered = 0;
    for round in 0..300 {
        let body: Vec<u8> = match round % 6 {
            // Random variables for real operations.
            0 | 1 => {
                let query = OPERATIONS[random.below(OPERATIONS.len())];
                let variables = random.json(3);
                json!({ "query": query, "variables": { "input": variables.clone(), "id": variables.clone(), "first": variables.clone(), "after": variables } })
                    .to_string()
                    .into_bytes()
            }
            // Random bytes, mostly not UTF-8, not JSON.
            2 => random.bytes(),
            // Deep selections and deeply nested JSON.
            3 => {
                let n = 1 + random.below(5_000);
                if random.next().is_multiple_of(2) {
                    json!({ "query": format!("{}{}", "{ a ".repeat(n), "}".repeat(n)) })
                        .to_string()
                        .into_bytes()
                } else {
                    format!(
                        "{{\"query\": \"{{ __typename }}\", \"variables\": {}{}}}",
                        "{\"a\":".repeat(n),
                        "1".to_owned() + &"}".repeat(n)
                    )
                    .into_bytes()
                }
            }
            // Wide selections.
            4 => {
                let n = 1 + random.below(40_000);
                json!({ "query": format!("{{ {} }}", "__typename ".repeat(n)) }).to_string().into_bytes()
            }
            // Valid JSON in the wrong shapes, broken UTF-8 inside strings.
            _ => {
                let mut bytes = json!({ "query": random.string(), "operationName": random.json(1), "variables": random.json(2) })
                    .to_string()
                    .into_bytes();
                if !bytes.is_empty() && random.next().is_multiple_of(2) {
                    let at = random.below(bytes.len());
                    bytes.insert(at, 0xC3);
                    bytes.insert(at + 1, 0x28);
                }
                bytes
            }
        };
        let (status, _, answer) = post_raw(&ada, body.clone()).await;
        assert!(
            status < 500,
            "round {round}: {status} for {:.300}: {answer}",
            String::from_utf8_lossy(&body)
        );
        if answer.get("errors").is_some() {
            let errors = answer["errors"].as_array().unwrap_or_else(|| panic!("round {round}: {answer}"));
            for error in errors {
                assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "round {round}: {answer}");
                assert!(error["extensions"]["code"].is_string(), "round {round}: no code in {answer}");
            }
        } else {
            assert!(status == 200 && answer.get("data").is_some(), "round {round}: {status} {answer}");
            answered += 1;
        }
    }
    assert!(answered > 0, "some generated requests were valid and served");
    // The server still serves, and the random mutations that were valid are all it changed.
    assert_eq!(ada.data("{ __typename }", json!({})).await["__typename"], "Query");
    let after = census(&ada).await;
    assert_eq!(after["users"], before["users"], "no user appeared");
}
