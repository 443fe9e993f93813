//! GraphQL over WebSocket at `/graphql/ws`: the `graphql-transport-ws` protocol of `graphql-ws`
//! (its PROTOCOL.md), close codes included, for the `graphql-ws` client and GraphiQL.
//!
//! async-graphql's own handler deviates from the protocol (no 4408 on a missing
//! `connection_init`, 1011 instead of 4401, 1002 instead of 4403 and 4400, duplicate ids not
//! refused with 4409), so the protocol is implemented here and only execution is the schema's
//! (`execute_stream`).
//!
//! - The socket must speak the `graphql-transport-ws` subprotocol, else it is closed with 4406.
//! - `connection_init` must come within 3 s (4408); a second one closes with 4429. Its payload
//!   carries the bearer token (`Authorization: "Bearer <token>"`, `authorization` or `token`),
//!   checked as over HTTP; a missing or bad token closes with 4403. The token's expiry closes the
//!   socket with 4403, which ends its subscriptions.
//! - `subscribe` before the acknowledgement closes with 4401, with an id already running with
//!   4409; a message that is not one of the protocol's closes with 4400.
//! - Each operation (subscription, query or mutation) runs in its own task and sends `next`s then
//!   `complete`; a request the schema refuses before executing (syntax, validation, variables)
//!   gets one `error` and no `complete`. A client `complete` stops the operation.
//! - The server sends WebSocket pings every 30 s and drops a peer silent for two of them.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::{Request, Variables};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use em_engine::Actor;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::clock::{Clock, SystemClock};
use crate::graphql::AppSchema;
use crate::server::AppState;
use crate::telemetry::metrics;

/// The WebSocket subprotocol.
pub const PROTOCOL: &str = "graphql-transport-ws";
/// How long a client has to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(3);
/// The interval of WebSocket pings.
const KEEPALIVE: Duration = Duration::from_secs(30);
/// Messages the operations of one connection may queue for a slow client.
const OUTBOX: usize = 256;

/// The protocol's close codes.
pub mod close {
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    pub const CONNECTION_INITIALISATION_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_ALREADY_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITIALISATION_REQUESTS: u16 = 4429;
}

/// `GET /graphql/ws`: upgrades to a WebSocket and serves the protocol on it.
pub async fn graphql_ws(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let max_message = state.limits.max_body_bytes;
    upgrade.protocols([PROTOCOL]).max_message_size(max_message).on_upgrade(move |socket| serve(state, socket))
}

async fn serve(state: AppState, socket: WebSocket) {
    let _open = metrics::Live::connection();
    let speaks_protocol = socket.protocol().is_some_and(|p| p.as_bytes() == PROTOCOL.as_bytes());
    let (sink, incoming) = socket.split();
    let (outbox, mut operations_out) = mpsc::channel(OUTBOX);
    let mut connection = Connection {
        state,
        sink,
        incoming,
        outbox,
        init_received: false,
        actor: None,
        operations: HashMap::new(),
        generation: 0,
    };
    if !speaks_protocol {
        return connection.close(close::SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable").await;
    }
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    let expiry = until(None);
    tokio::pin!(expiry);
    let mut keepalive = tokio::time::interval_at(Instant::now() + KEEPALIVE, KEEPALIVE);
    let mut last_heard = Instant::now();
    let ending = loop {
        tokio::select! {
            frame = connection.incoming.next() => {
                last_heard = Instant::now();
                let text = match frame {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
                    Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                        Ok(text) => text,
                        Err(_) => break Some((close::BAD_REQUEST, "Invalid message received: not UTF-8".to_owned())),
                    },
                };
                match connection.receive(&text).await {
                    Ok(Some(expires)) => expiry.set(until(Some(expires))),
                    Ok(None) => {}
                    Err(ending) => break Some(ending),
                }
            }
            Some(out) = operations_out.recv() => {
                if connection.forward(out).await.is_err() {
                    break None;
                }
            }
            () = &mut init_deadline, if !connection.init_received => {
                break Some((close::CONNECTION_INITIALISATION_TIMEOUT, "Connection initialisation timeout".into()));
            }
            () = &mut expiry => break Some((close::FORBIDDEN, "Forbidden: token expired".into())),
            _ = keepalive.tick() => {
                if last_heard.elapsed() > 2 * KEEPALIVE {
                    break None;
                }
                if connection.sink.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
            }
        }
    };
    connection.stop_all();
    match ending {
        Some((code, reason)) => connection.close(code, &reason).await,
        None => {
            let _ = tokio::time::timeout(Duration::from_secs(1), connection.sink.close()).await;
        }
    }
}

/// Resolves at `deadline`, or never.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Why the connection must close: a close code and its reason.
type Ending = (u16, String);

/// The peer is gone (the code a closed connection reports; never sent).
const GONE: u16 = 1006;

struct Connection {
    state: AppState,
    sink: SplitSink<WebSocket, Message>,
    incoming: SplitStream<WebSocket>,
    /// Where operation tasks send their messages.
    outbox: mpsc::Sender<Outgoing>,
    init_received: bool,
    /// Set by the acknowledgement.
    actor: Option<Actor>,
    /// Running operations by id, with the generation that tells a reused id's messages apart.
    /// A mutation's task is not aborted: once started, a change runs to its end.
    operations: HashMap<String, (u64, Running)>,
    generation: u64,
}

/// A message an operation task sends through the connection.
enum Outgoing {
    /// A `next` message.
    Next { id: String, generation: u64, text: String },
    /// The operation ended; `text` is its `complete` or `error` message.
    Finished { id: String, generation: u64, text: String },
}

impl Connection {
    /// Handles one client message. `Ok(Some(expiry))` when the connection was acknowledged with a
    /// token that expires.
    async fn receive(&mut self, text: &str) -> Result<Option<Instant>, Ending> {
        let message = ClientMessage::parse(text)
            .map_err(|reason| (close::BAD_REQUEST, format!("Invalid message received: {reason}")))?;
        match message {
            ClientMessage::Init(payload) => {
                if self.init_received {
                    return Err((
                        close::TOO_MANY_INITIALISATION_REQUESTS,
                        "Too many initialisation requests".into(),
                    ));
                }
                self.init_received = true;
                self.acknowledge(payload.as_ref()).await
            }
            ClientMessage::Ping(payload) => {
                let pong = match payload {
                    Some(payload) => json!({ "type": "pong", "payload": payload }),
                    None => json!({ "type": "pong" }),
                };
                self.send(pong.to_string()).await?;
                Ok(None)
            }
            ClientMessage::Pong => Ok(None),
            ClientMessage::Subscribe { id, request } => {
                let Some(actor) = self.actor.clone() else {
                    return Err((close::UNAUTHORIZED, "Unauthorized".into()));
                };
                if self.operations.contains_key(&id) {
                    return Err((
                        close::SUBSCRIBER_ALREADY_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    ));
                }
                self.generation += 1;
                let generation = self.generation;
                let (request, operation) =
                    self.state.prepare(crate::graphql::as_caller(*request, &self.state.services, actor));
                let mutation = operation.is_mutation();
                let running = run(
                    self.state.schema.clone(),
                    request,
                    operation,
                    Sending { id: id.clone(), generation, outbox: self.outbox.clone() },
                );
                let task = tokio::spawn(tracing::Instrument::in_current_span(running));
                self.operations.insert(id, (generation, Running { task: task.abort_handle(), mutation }));
                Ok(None)
            }
            ClientMessage::Complete { id } => {
                if let Some((_, running)) = self.operations.remove(&id) {
                    running.stop();
                }
                Ok(None)
            }
        }
    }

    /// Checks the `connection_init` payload's token and acknowledges, or refuses with 4403.
    async fn acknowledge(&mut self, payload: Option<&Map<String, Value>>) -> Result<Option<Instant>, Ending> {
        let authorization = payload.and_then(authorization);
        let (actor, expires_at) = match self.state.caller_until(authorization.as_deref()).await {
            Ok(caller) => caller,
            Err(e) => return Err((close::FORBIDDEN, format!("Forbidden: {e}"))),
        };
        let expiry = match expires_at {
            Some(at) => {
                let left = at.saturating_mul(1000).saturating_sub(SystemClock.now().timestamp_millis());
                // The token's lifetime is wall-clock time: its `exp` is checked against the system clock.
                let Ok(left) = u64::try_from(left) else {
                    return Err((close::FORBIDDEN, "Forbidden: token expired".into()));
                };
                Some(Instant::now() + Duration::from_millis(left))
            }
            None => None,
        };
        self.actor = Some(actor);
        self.send(json!({ "type": "connection_ack" }).to_string()).await?;
        Ok(expiry)
    }

    /// Sends an operation's message if the operation is still the one that sent it.
    async fn forward(&mut self, out: Outgoing) -> Result<(), Ending> {
        match out {
            Outgoing::Next { id, generation, text } => {
                if self.operations.get(&id).is_some_and(|(g, _)| *g == generation) {
                    self.send(text).await?;
                }
            }
            Outgoing::Finished { id, generation, text } => {
                if self.operations.get(&id).is_some_and(|(g, _)| *g == generation) {
                    self.operations.remove(&id);
                    self.send(text).await?;
                }
            }
        }
        Ok(())
    }

    async fn send(&mut self, text: String) -> Result<(), Ending> {
        self.sink.send(Message::Text(text.into())).await.map_err(|_| (GONE, String::new()))
    }

    fn stop_all(&mut self) {
        for (_, (_, running)) in self.operations.drain() {
            running.stop();
        }
    }

    /// Closes with `code`, then waits briefly for the client's close.
    async fn close(mut self, code: u16, reason: &str) {
        if code == GONE {
            return;
        }
        let frame = CloseFrame { code, reason: limit_reason(reason).into() };
        if self.sink.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(frame)) = self.incoming.next().await {
                if matches!(frame, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// A close reason fits in 123 bytes.
fn limit_reason(reason: &str) -> String {
    if reason.len() <= 123 {
        return reason.to_owned();
    }
    let mut end = 120;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &reason[..end])
}

/// The `Authorization` value the `connection_init` payload carries: `Authorization` or
/// `authorization` (`Bearer <token>`, or the bare token), else `token`.
fn authorization(payload: &Map<String, Value>) -> Option<String> {
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty());
    if let Some(value) = text("Authorization").or_else(|| text("authorization")) {
        return Some(if value.contains(' ') { value.to_owned() } else { format!("Bearer {value}") });
    }
    text("token").map(|token| format!("Bearer {token}"))
}

/// A running operation of a connection.
struct Running {
    task: AbortHandle,
    mutation: bool,
}

impl Running {
    /// Stops a query or subscription; a mutation goes on to its end (its messages are dropped).
    fn stop(self) {
        if !self.mutation {
            self.task.abort();
        }
    }
}

/// Where an operation's messages go: its id on the connection, and which of the operations
/// that had this id it is.
struct Sending {
    id: String,
    generation: u64,
    outbox: mpsc::Sender<Outgoing>,
}

/// Runs one operation and sends its messages to the connection; a query's or mutation's time
/// goes to the metrics, a subscription counts as live while it runs.
async fn run(schema: AppSchema, request: Request, operation: crate::graphql::Operation, sending: Sending) {
    let started = Instant::now();
    let _live = (operation.kind == "subscription").then(metrics::Live::subscription);
    let mut outcome = "ok".to_owned();
    stream(schema, request, sending, &mut outcome).await;
    if operation.kind != "subscription" {
        metrics::graphql_operation("ws", operation.kind, &operation.name, &outcome, started.elapsed());
    }
}

/// Sends each response of `request` as it comes, then `complete`; `outcome` becomes the first
/// error's code.
async fn stream(schema: AppSchema, request: Request, sending: Sending, outcome: &mut String) {
    let Sending { id, generation, outbox } = sending;
    let mut responses = schema.execute_stream(request);
    let mut first = true;
    while let Some(response) = responses.next().await {
        if let Some(error) = response.errors.first()
            && outcome == "ok"
        {
            *outcome = crate::server::error_code(error);
        }
        // A request refused before execution (syntax, validation, variables, limits) has no data
        // and errors without a path: the protocol's `error`, with no `complete` after it.
        if first
            && response.data == async_graphql::Value::Null
            && response.is_err()
            && response.errors.iter().all(|e| e.path.is_empty())
        {
            let text = json!({ "id": id, "type": "error", "payload": response.errors }).to_string();
            let _ = outbox.send(Outgoing::Finished { id, generation, text }).await;
            return;
        }
        first = false;
        let payload = match serde_json::to_value(&response) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "response serialization failed");
                json!({ "errors": [{ "message": "internal error; the server log has the details" }] })
            }
        };
        let text = json!({ "id": id, "type": "next", "payload": payload }).to_string();
        if outbox.send(Outgoing::Next { id: id.clone(), generation, text }).await.is_err() {
            return;
        }
    }
    let text = json!({ "id": id, "type": "complete" }).to_string();
    let _ = outbox.send(Outgoing::Finished { id, generation, text }).await;
}

/// A message from the client, checked as the protocol's reference implementation checks it.
#[derive(Debug)]
enum ClientMessage {
    Init(Option<Map<String, Value>>),
    Ping(Option<Value>),
    Pong,
    Subscribe { id: String, request: Box<Request> },
    Complete { id: String },
}

impl ClientMessage {
    fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|_| "not JSON".to_owned())?;
        let Value::Object(mut message) = value else { return Err("not a JSON object".into()) };
        let kind = match message.get("type") {
            Some(Value::String(kind)) if !kind.is_empty() => kind.clone(),
            Some(Value::String(_)) | None => return Err("missing `type`".into()),
            Some(_) => return Err("`type` is not a string".into()),
        };
        let payload = message.remove("payload").filter(|p| !p.is_null());
        let id = || match message.get("id") {
            Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
            _ => Err(format!("`{kind}` needs a non-empty string `id`")),
        };
        let object_payload = |payload: Option<Value>| match payload {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(object)),
            Some(_) => Err(format!("the `{kind}` payload must be an object")),
        };
        match kind.as_str() {
            "connection_init" => Ok(Self::Init(object_payload(payload)?)),
            "ping" => Ok(Self::Ping(object_payload(payload)?.map(Value::Object))),
            "pong" => object_payload(payload).map(|_| Self::Pong),
            "subscribe" => {
                let id = id()?;
                let Some(Value::Object(payload)) = payload else {
                    return Err("the `subscribe` payload must be an object".into());
                };
                Ok(Self::Subscribe { id, request: Box::new(request(payload)?) })
            }
            "complete" => Ok(Self::Complete { id: id()? }),
            "connection_ack" | "next" | "error" => Err(format!("unexpected `{kind}` from a client")),
            other => Err(format!("unknown type `{}`", limit_reason(other))),
        }
    }
}

/// The GraphQL request of a `subscribe` payload.
fn request(mut payload: Map<String, Value>) -> Result<Request, String> {
    let Some(Value::String(query)) = payload.remove("query") else {
        return Err("the `subscribe` payload needs a string `query`".into());
    };
    let mut request = Request::new(query);
    match payload.remove("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => request = request.variables(Variables::from_json(variables)),
        Some(_) => return Err("`variables` must be an object".into()),
    }
    match payload.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("`operationName` must be a string".into()),
    }
    match payload.remove("extensions") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object".into()),
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_checked_like_the_reference_implementation_checks_them() {
        let ok = |text: &str| ClientMessage::parse(text).unwrap();
        let refused = |text: &str| ClientMessage::parse(text).unwrap_err();
        assert!(matches!(ok(r#"{"type":"connection_init"}"#), ClientMessage::Init(None)));
        assert!(matches!(ok(r#"{"type":"connection_init","payload":null}"#), ClientMessage::Init(None)));
        assert!(matches!(ok(r#"{"type":"ping","payload":{"a":1}}"#), ClientMessage::Ping(Some(_))));
        assert!(matches!(ok(r#"{"type":"pong"}"#), ClientMessage::Pong));
        assert!(matches!(
            ok(r#"{"id":"1","type":"subscribe","payload":{"query":"{ a }","variables":null}}"#),
            ClientMessage::Subscribe { .. }
        ));
        assert!(matches!(ok(r#"{"id":"1","type":"complete"}"#), ClientMessage::Complete { .. }));
        assert_eq!(refused("nonsense"), "not JSON");
        assert_eq!(refused("[]"), "not a JSON object");
        assert_eq!(refused(r#"{"type":"nonsense"}"#), "unknown type `nonsense`");
        assert_eq!(refused(r#"{"type":1}"#), "`type` is not a string");
        assert_eq!(refused(r#"{"payload":{}}"#), "missing `type`");
        assert_eq!(
            refused(r#"{"type":"connection_init","payload":"x"}"#),
            "the `connection_init` payload must be an object"
        );
        assert_eq!(
            refused(r#"{"type":"subscribe","payload":{"query":"{ a }"}}"#),
            "`subscribe` needs a non-empty string `id`"
        );
        assert_eq!(
            refused(r#"{"type":"subscribe","id":"","payload":{"query":"{ a }"}}"#),
            "`subscribe` needs a non-empty string `id`"
        );
        assert_eq!(
            refused(r#"{"type":"subscribe","id":"1","payload":{}}"#),
            "the `subscribe` payload needs a string `query`"
        );
        assert_eq!(
            refused(r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }","variables":[]}}"#),
            "`variables` must be an object"
        );
        assert_eq!(refused(r#"{"type":"next","id":"1","payload":{}}"#), "unexpected `next` from a client");
        assert_eq!(refused(r#"{"type":"complete"}"#), "`complete` needs a non-empty string `id`");
    }

    #[test]
    fn the_token_is_read_from_the_usual_payload_keys() {
        let payload = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(
            authorization(&payload(json!({"Authorization": "Bearer t"}))).as_deref(),
            Some("Bearer t")
        );
        assert_eq!(
            authorization(&payload(json!({"authorization": "Bearer t"}))).as_deref(),
            Some("Bearer t")
        );
        assert_eq!(authorization(&payload(json!({"Authorization": "t"}))).as_deref(), Some("Bearer t"));
        assert_eq!(authorization(&payload(json!({"token": "t"}))).as_deref(), Some("Bearer t"));
        assert_eq!(authorization(&payload(json!({"other": "t"}))), None);
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        let long = "é".repeat(100);
        let limited = limit_reason(&long);
        assert!(limited.len() <= 123 && limited.ends_with("..."));
        assert_eq!(limit_reason("Forbidden"), "Forbidden");
    }
}
