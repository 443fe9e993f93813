//! GraphQL over HTTP: GET for queries only, media types, malformed bodies, batches, the
//! playground, the health check and the page-size limit.

use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::support::TestServer;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

fn content_type(response: &reqwest::Response) -> String {
    response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn get_runs_queries_but_not_mutations() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.url("/graphql"))
        .query(&[("query", "{catalogs{totalCount}}")])
        .send()
        .await
        .expect("GET answers");
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("application/json"), "{}", content_type(&response));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body, json!({"data": {"catalogs": {"totalCount": 1}}}));

    let with_variables = server
        .http
        .get(server.url("/graphql"))
        .query(&[
            ("query", "query($s: String) { catalogs(filter: {search: $s}) { totalCount } }"),
            ("variables", r#"{"s": "gen"}"#),
        ])
        .send()
        .await
        .expect("GET answers");
    assert_eq!(
        with_variables.json::<Value>().await.expect("JSON"),
        json!({"data": {"catalogs": {"totalCount": 1}}})
    );

    let mutation = "mutation { createCatalog(input: {displayName: \"Via GET\"}) { catalog { id } } }";
    let response = server
        .http
        .get(server.url("/graphql"))
        .query(&[("query", mutation)])
        .send()
        .await
        .expect("GET answers");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers().get(ALLOW).and_then(|v| v.to_str().ok()), Some("POST"));
    // Nothing was created.
    assert_eq!(server.data("{ catalogs { totalCount } }", json!({})).await["catalogs"]["totalCount"], 1);

    let missing = server.http.get(server.url("/graphql")).send().await.expect("GET answers");
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn malformed_posts_are_refused_with_the_right_status() {
    let server = TestServer::start().await;
    let post = |content_type: &'static str, body: &'static str| {
        server.http.post(server.url("/graphql")).header(CONTENT_TYPE, content_type).body(body).send()
    };
    let cases = [
        ("text/plain", r#"{"query": "{ catalogs { totalCount } }"}"#, 415),
        ("application/x-www-form-urlencoded", "query=%7Bcatalogs%7BtotalCount%7D%7D", 415),
        ("application/json", "{\"query\": ", 400),
        ("application/json", "not json at all", 400),
        ("application/json", r#"[{"query": "{ catalogs { totalCount } }"}]"#, 400),
        ("application/json", r#"{"query": ""}"#, 400),
        ("application/json", r#"{"query": 42}"#, 400),
        ("application/json", r#"{"query": "{ catalogs { totalCount } }", "variables": [1]}"#, 400),
        ("application/json", r#""just a string""#, 400),
    ];
    for (media, body, status) in cases {
        let response = post(media, body).await.expect("POST answers");
        assert_eq!(response.status(), status, "{media} {body}");
        let error: Value = response.json().await.expect("the refusal is JSON");
        assert_eq!(error["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{media} {body}");
    }
    // A content type with parameters is still JSON.
    let ok = post("application/json; charset=utf-8", r#"{"query": "{ catalogs { totalCount } }"}"#)
        .await
        .expect("POST answers");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn graphql_response_media_type_answers_400_when_nothing_ran() {
    let server = TestServer::start().await;
    let send = |accept: &'static str, query: &'static str| {
        server
            .http
            .post(server.url("/graphql"))
            .header(ACCEPT, accept)
            .json(&json!({ "query": query }))
            .send()
    };

    let syntax = send(GRAPHQL_RESPONSE, "{ catalogs { totalCount ").await.expect("POST answers");
    assert_eq!(syntax.status(), 400);
    assert!(content_type(&syntax).starts_with(GRAPHQL_RESPONSE), "{}", content_type(&syntax));
    let body: Value = syntax.json().await.expect("JSON");
    assert!(body["errors"][0]["message"].is_string(), "{body}");

    let unknown_field = send(GRAPHQL_RESPONSE, "{ nonsense }").await.expect("POST answers");
    assert_eq!(unknown_field.status(), 400);

    let ok = send(GRAPHQL_RESPONSE, "{ catalogs { totalCount } }").await.expect("POST answers");
    assert_eq!(ok.status(), 200);
    assert!(content_type(&ok).starts_with(GRAPHQL_RESPONSE));

    // A refusal during execution produced data (null), so it is a 200 with errors.
    let refused = server
        .http
        .post(server.url("/graphql"))
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .json(&json!({"query": "{ users(first: 100000) { totalCount } }"}))
        .send()
        .await
        .expect("POST answers");
    assert_eq!(refused.status(), 200);

    // Under plain JSON the legacy rule holds: 200 with errors.
    let legacy = send("application/json", "{ catalogs { totalCount ").await.expect("POST answers");
    assert_eq!(legacy.status(), 200);
    assert!(content_type(&legacy).starts_with("application/json"));

    let neither = send("text/html", "{ catalogs { totalCount } }").await.expect("POST answers");
    assert_eq!(neither.status(), 406);
}

#[tokio::test]
async fn health_check_and_playground_are_served() {
    let server = TestServer::start().await;
    let health = server.http.get(server.url("/healthz")).send().await.expect("GET answers");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("text"), "ok");

    let playground = server.http.get(server.url("/")).send().await.expect("GET answers");
    assert_eq!(playground.status(), 200);
    assert!(content_type(&playground).starts_with("text/html"), "{}", content_type(&playground));
    let html = playground.text().await.expect("text");
    assert!(html.to_lowercase().contains("graphiql"), "the playground is GraphiQL");
    assert!(html.contains("/graphql"), "the playground talks to /graphql");
}

#[tokio::test]
async fn page_sizes_and_cursors_are_validated() {
    let server = TestServer::start().await;
    let cases = [
        ("{ catalogs(first: 100000) { totalCount } }", "first"),
        ("{ users(first: 501) { totalCount } }", "first"),
        ("{ groups(first: -1) { totalCount } }", "first"),
        ("{ catalogs(after: \"%%%\") { totalCount } }", "after"),
    ];
    for (query, field) in cases {
        server.refused(query, json!({}), "VALIDATION_FAILED", Some(field)).await;
    }
    let largest = server
        .data("{ catalogs(first: 500) { totalCount } users(first: 0) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(largest, json!({"catalogs": {"totalCount": 1}, "users": {"nodes": []}}));
}
