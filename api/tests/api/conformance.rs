//! Independent clients check the server against the public protocols: the `graphql-http` server
//! audit (GraphQL over HTTP) and a raw-socket check of `graphql-transport-ws`'s close codes
//! (`api/tests/conformance/`, run with Node.js; see [`crate::support::npm_installed`]).

use crate::support::{TestServer, directory};

/// Runs `script` with `args`: its exit status and what it printed.
fn node(script: &str, args: &[&str]) -> (bool, String) {
    crate::support::node(crate::support::npm_installed("conformance"), script, args, &[])
}

#[tokio::test]
async fn the_graphql_http_audit_passes_every_check_with_no_warning() {
    // Its checks of variables query `__type`: it audits a server that answers introspection.
    let limits = em_api::limits::Limits { introspection: true, ..em_api::limits::Limits::default() };
    let server = TestServer::with_auth_limited(directory(), false, limits).await;
    let token = server.as_user("u-ada").bearer.unwrap();
    let url = server.url("/graphql");
    let (passed, printed) =
        tokio::task::spawn_blocking(move || node("audit.mjs", &[&url, &token])).await.unwrap();
    assert!(passed, "{printed}");
    let summary = printed.lines().find(|l| l.starts_with("graphql-http audit:")).unwrap_or_default();
    assert!(summary.contains(" 0 warnings, 0 errors"), "{printed}");
}

#[tokio::test]
async fn the_graphql_transport_ws_checker_gets_every_close_code() {
    let server = TestServer::with_auth(directory()).await;
    let token = server.as_user("u-ada").bearer.unwrap();
    let url = format!("{}/graphql/ws", server.base.replacen("http://", "ws://", 1));
    let (passed, printed) =
        tokio::task::spawn_blocking(move || node("ws-protocol.mjs", &[&url, &token])).await.unwrap();
    assert!(passed, "{printed}");
    assert!(printed.contains("7/7 checks hold"), "{printed}");
}
