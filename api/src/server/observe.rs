//! What every HTTP request leaves behind: a request id (the client's `X-Request-Id` when it is a
//! plain token of at most 64 characters, else a new one) returned in the response's
//! `X-Request-Id` and carried by every log line of the request; one access log line (target
//! `em_api::access`) with method, path, status and time, and for GraphQL the operation and its
//! outcome; and the `em_http_requests_total` counter.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::telemetry::metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What a GraphQL handler answered, for the access log line.
#[derive(Clone)]
pub struct Answered {
    pub operation: String,
    pub outcome: String,
}

/// The middleware.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = route(&path);
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    metrics::http_request(route, status);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let answered = response.extensions().get::<Answered>();
    let (operation, outcome) = answered.map_or(("", ""), |a| (a.operation.as_str(), a.outcome.as_str()));
    let _in_request = span.enter();
    if matches!(route, "healthz" | "readyz" | "metrics" | "replica") {
        tracing::debug!(target: "em_api::access", %method, path, status, micros, "answered");
    } else if answered.is_some() {
        tracing::info!(target: "em_api::access", %method, path, status, micros, operation, outcome, "answered");
    } else {
        tracing::info!(target: "em_api::access", %method, path, status, micros, "answered");
    }
    response
}

/// The client's request id if it is a plain one, else a new one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// The route a path belongs to, as the metrics label it (a bounded set).
fn route(path: &str) -> &'static str {
    match path {
        "/graphql" => "graphql",
        "/graphql/ws" => "graphql_ws",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/" => "playground",
        p if p.starts_with("/playground/") => "playground",
        p if p.starts_with("/my-access") => "my_access",
        p if p.starts_with("/replica/") => "replica",
        p if p.starts_with("/identityGovernance/") => "resume",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_request_id_is_kept_and_anything_else_replaced() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(REQUEST_ID, HeaderValue::from_str(value).unwrap());
            request_id(&headers)
        };
        assert_eq!(with("abc-123_x.y:z"), "abc-123_x.y:z");
        assert_ne!(with("has space"), "has space");
        assert_eq!(with(&"x".repeat(65)).len(), 32);
        assert_eq!(request_id(&HeaderMap::new()).len(), 32);
    }
}
