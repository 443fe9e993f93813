//! Faults of the database under a running server: a SurrealDB server killed and restarted.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::requests::directory_with_admin;
use crate::support::{Api, SurrealServer, TestServer};

/// `/readyz`'s status.
async fn health(api: &Api) -> u16 {
    api.http.get(api.url("/readyz")).send().await.map_or(0, |r| r.status().as_u16())
}

/// `/healthz`'s status: the process is alive, whatever the database does.
async fn alive(api: &Api) -> u16 {
    api.http.get(api.url("/healthz")).send().await.map_or(0, |r| r.status().as_u16())
}

/// Waits until `/readyz` answers `status`, at most `within`.
async fn health_becomes(api: &Api, status: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while health(api).await != status {
        assert!(Instant::now() < deadline, "/readyz did not answer {status} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_lost_database_answers_503_and_no_data_until_it_is_back_with_everything_committed() {
    let folder = tempfile::tempdir().unwrap();
    let storage = format!("surrealkv://{}", folder.path().join("data").display());
    let mut server =
        TestServer::with_auth_over(directory_with_admin(), SurrealServer::start(&storage).await).await;
    let ada = server.as_user("u-ada");
    let create = "mutation($n: String!) { createCatalog(input: {displayName: $n}) { catalog { id } } }";
    let catalogs = "{ catalogs { nodes { displayName } } }";
    ada.data(create, json!({ "n": "Before the fault" })).await;
    assert_eq!(health(&server).await, 200);

    server.database.as_mut().unwrap().kill();
    health_becomes(&server, 503, Duration::from_secs(10)).await;
    assert_eq!(alive(&server).await, 200);
    // Reads and changes are refused at once with 503 while the database is away: no data, nothing done.
    for query in [catalogs, create] {
        let response = ada
            .http
            .post(ada.url("/graphql"))
            .bearer_auth(ada.bearer.clone().unwrap())
            .json(&json!({ "query": query, "variables": { "n": "During the fault" } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }

    server.database.as_mut().unwrap().restart().await;
    health_becomes(&server, 200, Duration::from_secs(30)).await;
    let names = ada.data(catalogs, json!({})).await["catalogs"]["nodes"].clone();
    assert!(names.as_array().unwrap().iter().any(|n| n["displayName"] == "Before the fault"), "{names}");
    assert!(!names.as_array().unwrap().iter().any(|n| n["displayName"] == "During the fault"), "{names}");
    ada.data(create, json!({ "n": "After the fault" })).await;
}
