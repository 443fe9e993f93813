//! What operators and browsers meet besides GraphQL: `/metrics`, request ids, `/healthz` and
//! `/readyz`, CORS for configured origins only, the pages' assets (Content-Security-Policy,
//! gzip, entity tags), and the real binary's `--config` file.

use std::time::Duration;

use serde_json::json;

use crate::requests::{
    create_policy, directory_with_admin, erp_package, internal_policy, socket, submit_query,
};
use crate::support::{Process, TestServer, directory};

/// The value of the sample of `metrics` whose name and labels start with `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find(|l| l.starts_with(series)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_operations_by_name_and_outcome_and_requests_by_route() {
    let server = TestServer::with_auth(directory()).await;
    let ada = server.as_user("u-ada");
    for _ in 0..3 {
        ada.data("query CatalogsForMetrics { catalogs { totalCount } }", json!({})).await;
    }
    ada.refused(
        "mutation RefusedForMetrics { createCatalog(input: {displayName: \"\"}) { catalog { id } } }",
        json!({}),
        "FORBIDDEN",
        None,
    )
    .await;
    let response = server.http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let metrics = response.text().await.unwrap();
    // The recorder is the process's: other tests' operations count too, never these less.
    let ok = sample(
        &metrics,
        "em_graphql_operation_seconds_count{transport=\"http\",kind=\"query\",operation=\"CatalogsForMetrics\",outcome=\"ok\"}",
    );
    assert!(ok.is_some_and(|n| n >= 3.0), "{metrics}");
    let refused = sample(
        &metrics,
        "em_graphql_operation_seconds_count{transport=\"http\",kind=\"mutation\",operation=\"RefusedForMetrics\",outcome=\"FORBIDDEN\"}",
    );
    assert!(refused.is_some_and(|n| n >= 1.0), "{metrics}");
    assert!(
        sample(&metrics, "em_http_requests_total{route=\"graphql\",status=\"200\"}")
            .is_some_and(|n| n >= 4.0)
    );
}

#[tokio::test]
async fn metrics_follow_commits_the_live_feed_and_subscribers() {
    let server = TestServer::with_auth(directory_with_admin()).await;
    let (ada, carol, dan) = (server.as_user("u-ada"), server.as_user("u-carol"), server.as_user("u-dan"));
    let end = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (_, package) = erp_package(&ada).await;
    create_policy(&ada, &package, internal_policy(&end)).await;
    let mut carol_ws = socket(&server, &carol).await;
    carol_ws.subscribe("approvals", "subscription { approvalStageChanges { kind } }", json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let live = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(sample(&live, "em_live_subscriptions").is_some_and(|n| n >= 1.0), "{live}");
    assert!(sample(&live, "em_websocket_connections").is_some_and(|n| n >= 1.0), "{live}");

    let input = json!({
        "accessPackageId": package,
        "justification": "metrics",
        "answers": [{"questionId": "q-role", "value": "Observer"}]
    });
    dan.data(&submit_query(), json!({ "input": input })).await;
    assert_eq!(carol_ws.next("approvals").await["approvalStageChanges"]["kind"], "assigned");
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for series in ["em_commit_seconds_count", "em_commit_batch_changes_count", "em_feed_lag_seconds_count"] {
        assert!(sample(&metrics, series).is_some_and(|n| n >= 1.0), "{series} in\n{metrics}");
    }
    // One gauge per process, which other tests' lost databases move: there, not its value.
    assert!(sample(&metrics, "em_database_ready").is_some(), "{metrics}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_plain_one_sent_comes_back() {
    let server = TestServer::start().await;
    let fresh = server.http.get(server.url("/healthz")).send().await.unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{id}");
    let other = server.http.get(server.url("/healthz")).send().await.unwrap();
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
    let kept = server
        .http
        .get(server.url("/graphql?query={clock{now}}"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-42");
    let replaced =
        server.http.get(server.url("/healthz")).header("x-request-id", "a b<script>").send().await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "a b<script>");
}

#[tokio::test]
async fn healthz_says_alive_and_readyz_says_ready() {
    let server = TestServer::start().await;
    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.unwrap(), body);
    }
}

#[tokio::test]
async fn the_pages_allow_only_their_own_origin_and_are_sent_gzipped_once() {
    let server = TestServer::start().await;
    let page = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.starts_with("default-src 'self'; script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe") && !policy.contains("http"), "{policy}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(html.contains("/playground/vendor/graphiql.min.js"), "{html}");
    assert!(
        !html.contains("https://") && !html.contains("<script>"),
        "no other host, no inline script: {html}"
    );

    let script = "/playground/vendor/graphiql.min.js";
    let plain =
        server.http.get(server.url(script)).header("accept-encoding", "identity").send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let etag = plain.headers()["etag"].to_str().unwrap().to_owned();
    let plain_length = plain.bytes().await.unwrap().len();
    let gzipped =
        server.http.get(server.url(script)).header("accept-encoding", "gzip, br").send().await.unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.headers()["vary"], "accept-encoding");
    let gzipped_length = gzipped.bytes().await.unwrap().len();
    assert!(gzipped_length * 2 < plain_length, "{gzipped_length} of {plain_length}");
    let again = server.http.get(server.url(script)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    let folder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let redirect = folder.get(server.url("/my-access")).send().await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/my-access/");
    let my_access = server.http.get(server.url("/my-access/")).send().await.unwrap();
    assert_eq!(my_access.status(), 200);
    assert!(
        my_access.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'")
    );
    // Sent as written (an HTTP client would resolve the dots before sending).
    for missing in [
        "/my-access/nothing.js",
        "/playground/../Cargo.toml",
        "/my-access/%2e%2e/build.rs",
        "/my-access/..%2fweb.rs",
    ] {
        assert_eq!(raw_status(&server.base, missing).await, 404, "{missing}");
    }
}

/// The status of `GET path` sent byte for byte as written.
async fn raw_status(base: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

/// An `em-api serve` configured by a file, with one flag given besides.
#[tokio::test]
async fn the_config_file_sets_what_no_flag_does_and_cors_answers_its_origins_only() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("em.toml");
    std::fs::write(
        &config,
        "cors-origin = [\"https://portal.contoso.com\", \"http://localhost:5173\"]\n\
         max-depth = 7\n\
         auth-secret = \"a-secret-of-the-config-file-at-least-32-bytes\"\n\
         log-format = \"json\"\n",
    )
    .unwrap();
    let db = format!("surrealkv://{}", folder.path().join("data").display());
    let log = folder.path().join("em.log");
    let server =
        Process::serve_with(&db, &log, &["--config", config.to_str().unwrap(), "--max-depth", "9"]).await;
    // The file's secret is in force: a request without a token is refused.
    let anonymous =
        server.api.http.post(server.api.url("/graphql")).json(&json!({"query": "{ clock { now } }"}));
    assert_eq!(anonymous.send().await.unwrap().status(), 401);

    let preflight = |origin: &'static str| {
        server
            .api
            .http
            .request(reqwest::Method::OPTIONS, server.api.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight("https://portal.contoso.com").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://portal.contoso.com");
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let simple = server
        .api
        .http
        .get(server.api.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(simple.headers().get("access-control-allow-origin").is_none());

    // Logs are JSON lines (the file's log format), and none of them holds the secret.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.lines().filter(|l| !l.trim().is_empty()).all(|l| l.starts_with('{')), "{logged}");
    assert!(!logged.contains("a-secret-of-the-config-file"), "{logged}");
    assert!(logged.contains("\"request_id\""), "{logged}");
}

#[tokio::test]
async fn a_config_file_with_an_unknown_setting_or_a_bad_origin_stops_the_server_with_a_clear_error() {
    let folder = tempfile::tempdir().unwrap();
    for (text, says) in [
        ("listen = \"127.0.0.1:0\"\nlisten-port = 4000\n", "unknown setting `listen-port`"),
        ("cors-origin = [\"https://portal.contoso.com/app\"]\n", "is not an origin"),
        ("cors-origin = \"*\"\n", "is not an origin"),
        ("listen = [[1]]\n", "must be a string or a number"),
        ("listen = \n", "not valid TOML"),
    ] {
        let config = folder.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_em-api"))
            .args(["serve", "--db", "mem://", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{text}: {stderr}");
    }
}
