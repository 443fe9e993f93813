//! The HTTP server: GraphQL over HTTP at `/graphql` (POST, and GET for queries), GraphQL over
//! WebSocket at `/graphql/ws` ([`crate::ws`]), the GraphiQL playground at `/`, and `/healthz`.
//!
//! The GraphQL endpoint is a thin handler over the schema that follows the GraphQL-over-HTTP
//! specification where async-graphql's stock handler does not: GET never executes a mutation
//! (405 with `Allow: POST`), the response media type follows `Accept`, a request that produced no
//! data answers 400 under `application/graphql-response+json`, batches are refused.

use async_graphql::parser::types::ExecutableDocument;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use std::sync::Arc;

use em_engine::{Actor, ExternalSubject};

mod observe;

use crate::auth::{AuthError, Authenticator, bearer};
use crate::graphql::{AppSchema, Operation};
use crate::limits::Limits;
use crate::service::Services;
use crate::service::cache::GenerationMap;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub services: Services,
    /// Checks bearer tokens; `None` serves every request as the local operator (no identity
    /// provider configured, for a server on a developer's machine).
    pub auth: Option<Arc<Authenticator>>,
    /// The body size and time limits (the schema applies the others).
    pub limits: Arc<Limits>,
    /// Whether the database answers, checked every [`Readiness::EVERY`].
    pub readiness: Arc<Readiness>,
    /// The origins browsers may call the API from (CORS); none by default.
    pub cors_origins: Vec<HeaderValue>,
    parsed: Arc<ParsedQueries>,
}

/// Whether the database answered its last check. While it does not, `/readyz` and every
/// GraphQL operation answer 503 at once, instead of waiting for a connection being re-made.
pub struct Readiness {
    ready: std::sync::atomic::AtomicBool,
}

impl Default for Readiness {
    fn default() -> Self {
        Self { ready: std::sync::atomic::AtomicBool::new(true) }
    }
}

impl Readiness {
    /// How often the database is asked.
    pub const EVERY: std::time::Duration = std::time::Duration::from_millis(500);
    /// The longest a check waits for an answer.
    pub const WAIT: std::time::Duration = std::time::Duration::from_secs(2);

    #[must_use]
    pub fn ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks the database every [`Self::EVERY`] until the readiness is dropped (with the app).
    async fn watch(readiness: std::sync::Weak<Self>, services: Services) {
        loop {
            let answered = matches!(tokio::time::timeout(Self::WAIT, services.health()).await, Ok(Ok(())));
            let Some(readiness) = readiness.upgrade() else { return };
            let was = readiness.ready.swap(answered, std::sync::atomic::Ordering::Relaxed);
            crate::telemetry::metrics::database_ready(answered);
            if was != answered {
                if answered {
                    services.database_back();
                    tracing::info!("the database answers again");
                } else {
                    tracing::error!("the database does not answer: serving 503 until it does");
                    services.database_lost();
                }
            }
            drop(readiness);
            tokio::time::sleep(Self::EVERY).await;
        }
    }
}

impl AppState {
    /// A server without authentication.
    #[must_use]
    pub fn new(schema: AppSchema, services: Services) -> Self {
        Self {
            schema,
            services,
            auth: None,
            limits: Arc::default(),
            readiness: Arc::default(),
            cors_origins: Vec::new(),
            parsed: Arc::default(),
        }
    }

    /// A server that browser applications on `origins` (`https://app.contoso.com`) may call.
    #[must_use]
    pub fn with_cors(mut self, origins: Vec<HeaderValue>) -> Self {
        self.cors_origins = origins;
        self
    }

    /// A server under `limits` (the same the schema was built with).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    /// `request` with its parsed document (kept by query text, see [`ParsedQueries`]), and the
    /// operation it runs; for both transports.
    pub(crate) fn prepare(&self, mut request: async_graphql::Request) -> (async_graphql::Request, Operation) {
        let name = request.operation_name.clone();
        let operation = match self.parsed.get(&request.query) {
            Some(document) => {
                let operation = Operation::of(&document, name.as_deref());
                request.set_parsed_query(document);
                operation
            }
            None => async_graphql::parser::parse_query(&request.query)
                .map_or_else(|_| Operation::unparsed(), |document| Operation::of(&document, name.as_deref())),
        };
        (request, operation)
    }

    /// A server that requires bearer tokens.
    #[must_use]
    pub fn with_auth(mut self, auth: Authenticator) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// Who is calling: the local operator without authentication, else the token's user, who
    /// must exist in the directory.
    pub async fn caller(&self, authorization: Option<&str>) -> Result<Actor, AuthError> {
        self.caller_until(authorization).await.map(|(actor, _)| actor)
    }

    /// [`Self::caller`], and when the token expires (seconds since the epoch; `None` without
    /// authentication), for connections that outlive a request.
    pub async fn caller_until(&self, authorization: Option<&str>) -> Result<(Actor, Option<i64>), AuthError> {
        let Some(auth) = &self.auth else { return Ok((Actor::LocalOperator, None)) };
        let token = bearer(authorization).ok_or(AuthError::Missing)?;
        let verified = auth.verify(token)?;
        if let Some(partner) = verified.partner {
            let subject = ExternalSubject {
                issuer: partner.issuer,
                object_id: verified.user_id,
                tenant_id: partner.tenant_id,
                email: partner.email,
                display_name: partner.name,
                connected_organization_id: None,
            };
            return match self.services.external_caller(subject).await {
                Ok(Some(actor)) => {
                    if let Actor::User { id } = &actor {
                        self.services.record_sign_in(id);
                    }
                    Ok((actor, Some(verified.expires_at)))
                }
                // Their guest is blocked from signing in.
                Ok(None) => Err(AuthError::UnknownUser),
                Err(e) => {
                    tracing::error!(error = %e, "cannot resolve a partner's caller");
                    Err(AuthError::Unavailable)
                }
            };
        }
        match self.services.caller_user(&verified.user_id).await {
            Ok(Some(user)) if user.account_enabled() => {
                self.services.record_sign_in(&verified.user_id);
                Ok((Actor::User { id: verified.user_id.into() }, Some(verified.expires_at)))
            }
            Ok(_) => Err(AuthError::UnknownUser),
            Err(e) => {
                tracing::error!(error = %e, "cannot look up the caller");
                Err(AuthError::Unavailable)
            }
        }
    }
}

/// The application's routes, ready to serve or to drive in tests.
pub fn app(state: AppState) -> Router {
    let max_body = state.limits.max_body_bytes;
    crate::telemetry::metrics::handle();
    tokio::spawn(Readiness::watch(Arc::downgrade(&state.readiness), state.services.clone()));
    let cors = cors(&state.cors_origins);
    let router = Router::new()
        .route("/", get(crate::web::page))
        .route("/playground/{*file}", get(crate::web::page))
        .route("/my-access", get(crate::web::my_access_folder))
        .route("/my-access/", get(crate::web::page))
        .route("/my-access/{*file}", get(crate::web::page))
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(crate::ws::graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/identityGovernance/entitlementManagement/assignmentRequests/{id}/resume",
            axum::routing::post(resume),
        )
        .merge(replica_routes(&state))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state);
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(axum::middleware::from_fn(observe::observe))
}

/// CORS for `origins` only (none: no CORS headers at all, so browsers keep other origins out).
fn cors(origins: &[HeaderValue]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::Method;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT, observe::REQUEST_ID])
            .expose_headers([observe::REQUEST_ID, header::RETRY_AFTER, header::WWW_AUTHENTICATE])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// `GET /metrics`: Prometheus' text format.
async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::telemetry::metrics::render(),
    )
        .into_response()
}

/// Graph's `resume`, as a custom extension's endpoint calls it: the body signed with the
/// extension's secret (Standard Webhooks headers). `204` on success; errors as Graph writes them
/// (`{"error": {"code", "message"}}`) with 400, 401, 404 or 409.
async fn resume(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use crate::service::extensions::{ResumeError, SignedHeaders};
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let signed = SignedHeaders {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
    };
    let error = |status: StatusCode, code: &str, message: String| {
        (status, axum::Json(serde_json::json!({ "error": { "code": code, "message": message } })))
            .into_response()
    };
    match state.services.resume_signed(&id.as_str().into(), &signed, &body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(ResumeError::Unauthenticated(message)) => {
            error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
        }
        Err(ResumeError::Service(crate::service::ServiceError::Domain(e))) => {
            let status = match e.code {
                em_engine::ErrorCode::ValidationFailed => StatusCode::BAD_REQUEST,
                em_engine::ErrorCode::NotFound => StatusCode::NOT_FOUND,
                em_engine::ErrorCode::Conflict => StatusCode::CONFLICT,
                em_engine::ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            };
            error(status, e.code.as_str(), e.message)
        }
        Err(ResumeError::Service(crate::service::ServiceError::Stale)) => {
            error(StatusCode::CONFLICT, "CONFLICT", "the request kept changing; try again".into())
        }
        Err(ResumeError::Service(e)) => {
            tracing::error!(error = %e, "resume failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error".into())
        }
    }
}

/// `GET /healthz`: the process is alive and serving.
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 503 while the database does not answer (checked every [`Readiness::EVERY`]).
async fn readyz(State(state): State<AppState>) -> Response {
    if state.readiness.ready() { (StatusCode::OK, "ready").into_response() } else { unavailable() }
}

/// The calls between replicas (see `store::peers`), behind [`replica_gate`].
fn replica_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/replica/hello", axum::routing::post(replica_hello))
        .route("/replica/committed", axum::routing::post(replica_committed))
        .route("/replica/settled", axum::routing::post(replica_settled))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), replica_gate))
}

/// Lets a `/replica/*` call through only from a peer: 404 on a process that joined no replicas,
/// 401 without the database's replica key; the body is not read before.
async fn replica_gate(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match state.services.store.peers().admits(authorization) {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(false) => StatusCode::UNAUTHORIZED.into_response(),
        Some(true) => next.run(request).await,
    }
}

/// The JSON body of a peer's call, or 400.
fn replica_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, (StatusCode, String)> {
    serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("not a replica's message: {e}")))
}

/// Another replica on the same database server joined (see `store::peers`).
async fn replica_hello(State(state): State<AppState>, body: Bytes) -> Response {
    let replica = match replica_body(&body) {
        Ok(replica) => replica,
        Err(refusal) => return refusal.into_response(),
    };
    state.services.replica_hello(replica).await;
    StatusCode::NO_CONTENT.into_response()
}

/// Another replica tells what a commit of its changed, before it acknowledges it.
async fn replica_committed(State(state): State<AppState>, body: Bytes) -> Response {
    let committed = match replica_body(&body) {
        Ok(committed) => committed,
        Err(refusal) => return refusal.into_response(),
    };
    state.services.replica_committed(committed).await;
    StatusCode::NO_CONTENT.into_response()
}

/// Another replica's feed asks whether what it read is final: answered once this replica's
/// event-writing transactions running now have ended.
async fn replica_settled(State(state): State<AppState>) -> Response {
    match state.services.replica_settled().await {
        Some(ended) => axum::Json(crate::store::peers::Settled { ended }).into_response(),
        // Answered without waiting for all: the caller reads again.
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// A GraphQL request's 503 (`UNAVAILABLE`, `Retry-After: 1`) while the database does not
/// answer: nothing was done.
fn database_unavailable(media: &'static str) -> Response {
    let mut response = error_response(
        media,
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        "the database does not answer; retry shortly (nothing was done)",
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
    response
}

/// 503 with `Retry-After`, while the database does not answer.
fn unavailable() -> Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
    response
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    variables: Option<String>,
    operation_name: Option<String>,
    extensions: Option<String>,
}

async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> Response {
    let media = negotiate(&headers);
    let Some(media) = media else { return not_acceptable() };
    let Some(query) = params.query.filter(|q| !q.trim().is_empty()) else {
        return request_error(media, StatusCode::BAD_REQUEST, "the `query` parameter is required");
    };
    let mut request = async_graphql::Request::new(query.clone());
    if let Some(name) = params.operation_name.clone().filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    if let Some(raw) = params.variables.filter(|v| !v.is_empty()) {
        match serde_json::from_str::<serde_json::Value>(&raw) {
            Ok(v @ serde_json::Value::Object(_)) => {
                request = request.variables(async_graphql::Variables::from_json(v));
            }
            _ => return request_error(media, StatusCode::BAD_REQUEST, "`variables` must be a JSON object"),
        }
    }
    if let Some(raw) = params.extensions.filter(|v| !v.is_empty())
        && !matches!(serde_json::from_str::<serde_json::Value>(&raw), Ok(serde_json::Value::Object(_)))
    {
        return request_error(media, StatusCode::BAD_REQUEST, "`extensions` must be a JSON object");
    }
    if crate::graphql::is_mutation(&query, params.operation_name.as_deref()) {
        let mut response =
            request_error(media, StatusCode::METHOD_NOT_ALLOWED, "mutations must be sent with POST");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, &headers, request, media).await
}

async fn graphql_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(media) = negotiate(&headers) else { return not_acceptable() };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with(JSON) {
        return request_error(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as `application/json`",
        );
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return request_error(
                media,
                StatusCode::BAD_REQUEST,
                &format!("the body is not valid JSON: {e}"),
            );
        }
    };
    if value.is_array() {
        return request_error(
            media,
            StatusCode::BAD_REQUEST,
            "batched requests are not accepted; send one operation",
        );
    }
    let Some(object) = value.as_object() else {
        return request_error(media, StatusCode::BAD_REQUEST, "the body must be a JSON object");
    };
    match object.get("query") {
        Some(serde_json::Value::String(q)) if !q.trim().is_empty() => {}
        _ => return request_error(media, StatusCode::BAD_REQUEST, "`query` must be a non-empty string"),
    }
    for key in ["variables", "extensions"] {
        if !matches!(object.get(key), None | Some(serde_json::Value::Null | serde_json::Value::Object(_))) {
            return request_error(media, StatusCode::BAD_REQUEST, &format!("`{key}` must be a JSON object"));
        }
    }
    if !matches!(
        object.get("operationName"),
        None | Some(serde_json::Value::Null | serde_json::Value::String(_))
    ) {
        return request_error(media, StatusCode::BAD_REQUEST, "`operationName` must be a string");
    }
    let request: async_graphql::Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => return request_error(media, StatusCode::BAD_REQUEST, &format!("malformed request: {e}")),
    };
    execute(&state, &headers, request, media).await
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
    media: &'static str,
) -> Response {
    let started = std::time::Instant::now();
    let (request, operation) = state.prepare(request);
    let (mut response, outcome) = run(state, headers, request, operation.is_mutation(), media).await;
    crate::telemetry::metrics::graphql_operation(
        "http",
        operation.kind,
        &operation.name,
        &outcome,
        started.elapsed(),
    );
    response.extensions_mut().insert(observe::Answered { operation: operation.name, outcome });
    response
}

/// Runs a prepared request: the response, and the outcome its metrics and log line name (`ok`,
/// or the first error's code).
async fn run(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
    mutation: bool,
    media: &'static str,
) -> (Response, String) {
    let unavailable = || (database_unavailable(media), "UNAVAILABLE".to_owned());
    if !state.readiness.ready() {
        return unavailable();
    }
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let actor = match state.caller(authorization).await {
        Ok(actor) => actor,
        Err(AuthError::Unavailable) => return unavailable(),
        Err(e) => return (unauthorized(media, &e), "UNAUTHENTICATED".to_owned()),
    };
    let request = crate::graphql::as_caller(request, &state.services, actor);
    // A mutation runs to its end on a task of its own even when the client hangs up or the
    // timeout below answers first: a change is never stopped between its commit and what
    // follows it (a policy's first population, a request's notices). A query is stopped.
    let schema = state.schema.clone();
    let handle =
        tokio::spawn(tracing::Instrument::in_current_span(async move { schema.execute(request).await }));
    let task = Detached { handle, mutation };
    let response = match tokio::time::timeout(state.limits.request_timeout, task.finished()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let response = error_response(
                media,
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::graphql::error::INTERNAL,
                "internal error; the server log has the details",
            );
            return (response, crate::graphql::error::INTERNAL.to_owned());
        }
        Err(_) => {
            let message = if mutation {
                "the request took too long; the change goes on and may still be made: read before you send it again"
            } else {
                "the request took too long"
            };
            return (
                error_response(media, StatusCode::SERVICE_UNAVAILABLE, "TIMEOUT", message),
                "TIMEOUT".to_owned(),
            );
        }
    };
    let outcome = outcome(&response);
    // Errors without a path happened before execution (syntax, validation, variables): such a
    // response has no `data` entry and, under graphql-response+json, a 400 status. Field errors
    // keep `data` (possibly null) and a 2xx status, as GraphQL over HTTP says.
    let request_error = response.data == async_graphql::Value::Null
        && response.is_err()
        && response.errors.iter().all(|e| e.path.is_empty());
    // A caller whose budget is spent gets 429 with `Retry-After`, whatever the media type.
    let retry_after = crate::limits::retry_after(&response);
    let status = if retry_after.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else if media == GRAPHQL_RESPONSE && request_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    // Straight to text, except for a request error, whose `data` entry goes.
    let body = if request_error {
        serde_json::to_value(&response).map(|mut body| {
            if let Some(object) = body.as_object_mut() {
                object.remove("data");
            }
            body.to_string()
        })
    } else {
        serde_json::to_string(&response)
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "response serialization failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                crate::graphql::error::INTERNAL.to_owned(),
            );
        }
    };
    let mut response = (status, [(header::CONTENT_TYPE, content_type(media))], body).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    (response, outcome)
}

/// `ok`, or the code of a response's first error (`error` when it has none).
fn outcome(response: &async_graphql::Response) -> String {
    response.errors.first().map_or_else(|| "ok".to_owned(), error_code)
}

/// An error's `extensions.code`, for metrics and logs (`error` when it has none).
pub(crate) fn error_code(error: &async_graphql::ServerError) -> String {
    match error.extensions.as_ref().and_then(|e| e.get("code")) {
        Some(async_graphql::Value::String(code)) if code.len() <= 40 => code.clone(),
        Some(async_graphql::Value::Enum(code)) => code.to_string(),
        _ => "error".to_owned(),
    }
}

fn content_type(media: &'static str) -> HeaderValue {
    HeaderValue::from_static(if media == GRAPHQL_RESPONSE {
        "application/graphql-response+json; charset=utf-8"
    } else {
        "application/json; charset=utf-8"
    })
}

/// The response media type the client accepts, or `None` when it accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if accept.trim().is_empty() {
        return Some(JSON);
    }
    let types: Vec<&str> = accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).collect();
    if types.contains(&GRAPHQL_RESPONSE) {
        Some(GRAPHQL_RESPONSE)
    } else if types.iter().any(|t| *t == JSON || *t == "*/*" || *t == "application/*") {
        Some(JSON)
    } else {
        None
    }
}

/// 401 with the `WWW-Authenticate` challenge of RFC 6750.
fn unauthorized(media: &'static str, error: &AuthError) -> Response {
    let challenge = match error {
        AuthError::Missing => "Bearer".to_owned(),
        other => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            other.to_string().replace('"', "'")
        ),
    };
    let body = serde_json::json!({ "errors": [{ "message": error.to_string(), "extensions": { "code": "UNAUTHENTICATED" } }] });
    let mut response =
        (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, content_type(media))], body.to_string())
            .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn not_acceptable() -> Response {
    (StatusCode::NOT_ACCEPTABLE, "accept application/graphql-response+json or application/json")
        .into_response()
}

fn request_error(media: &'static str, status: StatusCode, message: &str) -> Response {
    error_response(media, status, "BAD_REQUEST", message)
}

/// A response with one error, `code` in its extensions, and no `data`.
fn error_response(media: &'static str, status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, content_type(media))], body.to_string()).into_response()
}

/// Parsed query documents by their text. Clients send the same few operations over and over,
/// and parsing one costs more than cloning it; the schema still checks every request (depth,
/// directives, validation, complexity) as usual. Bounded: a full cache starts over.
struct ParsedQueries {
    documents: GenerationMap<String, ExecutableDocument>,
}

impl Default for ParsedQueries {
    fn default() -> Self {
        Self { documents: GenerationMap::with_capacity(Self::CAPACITY) }
    }
}

impl ParsedQueries {
    /// Documents kept at most.
    const CAPACITY: usize = 512;
    /// Longer query texts are parsed each time (they are rare, and would crowd the cache).
    const LONGEST: usize = 16 * 1024;

    /// The document of `query`, parsed now or before; `None` when it does not parse (the schema
    /// then reports the syntax error as usual) or is too long to keep.
    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        if query.len() > Self::LONGEST {
            return None;
        }
        // A query's document never changes: one generation for all.
        if let Some(document) = self.documents.get(query, 0) {
            return Some(document.as_ref().clone());
        }
        let document = async_graphql::parser::parse_query(query).ok()?;
        self.documents.put(query.to_owned(), 0, Arc::new(document.clone()));
        Some(document)
    }
}

/// An operation running on its own task: a query's is stopped when its handler is dropped (the
/// client hung up, or the timeout answered), a mutation's runs to its end.
struct Detached {
    handle: tokio::task::JoinHandle<async_graphql::Response>,
    mutation: bool,
}

impl Detached {
    /// The operation's response; `None` if its task panicked (logged).
    async fn finished(mut self) -> Option<async_graphql::Response> {
        match (&mut self.handle).await {
            Ok(response) => Some(response),
            Err(e) => {
                tracing::error!(error = %e, "a GraphQL operation's task failed");
                None
            }
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if !self.mutation {
            self.handle.abort();
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::is_mutation;

    #[test]
    fn parsed_queries_are_kept_by_text_and_bounded() {
        let parsed = ParsedQueries::default();
        let first = parsed.get("{ me { id } }").expect("parses");
        assert_eq!(format!("{first:?}"), format!("{:?}", parsed.get("{ me { id } }").unwrap()));
        assert!(parsed.get("{ me { id }").is_none(), "a syntax error is left to the schema");
        assert!(parsed.get(&format!("{{ me {{ id }} }}{}", " ".repeat(ParsedQueries::LONGEST))).is_none());
        for i in 0..ParsedQueries::CAPACITY + 3 {
            assert!(parsed.get(&format!("query Q{i} {{ me {{ id }} }}")).is_some());
        }
        assert!(parsed.documents.get("query Q0 { me { id } }", 0).is_none(), "a full cache starts over");
        assert!(parsed.documents.get("query Q514 { me { id } }", 0).is_some());
    }

    #[test]
    fn mutations_are_recognised_for_get() {
        assert!(is_mutation(
            "mutation { createCatalog(input: {displayName: \"x\"}) { catalog { id } } }",
            None
        ));
        assert!(!is_mutation("{ catalogs { totalCount } }", None));
        assert!(is_mutation("query a { x } mutation b { y }", Some("b")));
        assert!(!is_mutation("query a { x } mutation b { y }", Some("a")));
    }

    #[test]
    fn accept_header_picks_the_media_type() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(&h), Some(JSON));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/graphql-response+json, application/json;q=0.9"),
        );
        assert_eq!(negotiate(&h), Some(GRAPHQL_RESPONSE));
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        assert_eq!(negotiate(&h), None);
    }
}
