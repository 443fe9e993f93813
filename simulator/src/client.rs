//! The clients: GraphQL over HTTP (one pooled `reqwest` client, keep-alive connections) and
//! `graphql-transport-ws` subscriptions (`approvalStageChanges`, or any other), with a mailbox
//! where what they receive waits for whoever acts on it.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// A GraphQL error the server answered with (the operation wrote nothing).
#[derive(Debug, Clone)]
pub struct Refused {
    /// `extensions.code`, or `HTTP <status>` / `TRANSPORT` for failures outside GraphQL.
    pub code: String,
    pub message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Refused {}

/// GraphQL over HTTP to one server.
#[derive(Clone)]
pub struct Graphql {
    http: reqwest::Client,
    url: String,
}

impl Graphql {
    /// A client of the server at `base` (`http://host:port`).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            // A set-up operation may run a first population of a million users.
            .timeout(Duration::from_secs(900))
            .build()?;
        Ok(Self { http, url: format!("{base}/graphql") })
    }

    /// POSTs one operation signed in with `token`; `data` when there are no errors.
    pub async fn execute(&self, token: &str, query: &str, variables: Value) -> Result<Value, Refused> {
        let transport = |e: reqwest::Error| Refused { code: "TRANSPORT".into(), message: e.to_string() };
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            return Err(Refused { code: format!("HTTP {}", status.as_u16()), message: body });
        }
        let mut body: Value = response.json().await.map_err(transport)?;
        if let Some(error) = body.get("errors").and_then(|e| e.get(0)) {
            return Err(Refused {
                code: error["extensions"]["code"].as_str().unwrap_or("GRAPHQL").to_owned(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(body.get_mut("data").map(Value::take).unwrap_or(Value::Null))
    }
}

/// The text at `pointer` (`/a/b/0/c`) of a JSON value, or an empty string.
#[must_use]
pub fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// An `approvalStageChanges` notification as one subscriber received it.
#[derive(Debug, Clone)]
pub struct Notification {
    /// When the frame was read, before it was parsed.
    pub at: Instant,
    /// The approver whose socket it came on.
    pub approver: String,
    pub kind: String,
    pub request_id: String,
}

/// Who is waiting for which request's `assigned` notification.
#[derive(Default)]
pub struct Waiters {
    waiting: Mutex<HashMap<String, oneshot::Sender<Notification>>>,
    /// Every notification received, on any socket.
    pub received: AtomicU64,
    /// `assigned` notifications nobody waited for.
    pub unexpected: AtomicU64,
}

impl Waiters {
    /// Waits for the next `assigned` notification about `request_id`.
    pub fn expect(&self, request_id: &str) -> oneshot::Receiver<Notification> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(request_id.to_owned(), tx);
        rx
    }

    /// Stops waiting for `request_id`.
    pub fn forget(&self, request_id: &str) {
        self.lock().remove(request_id);
    }

    fn deliver(&self, notification: Notification) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if notification.kind != "assigned" {
            return;
        }
        match self.lock().remove(&notification.request_id) {
            Some(waiter) => {
                let _ = waiter.send(notification);
            }
            None => {
                self.unexpected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Notification>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The subscription every approver holds.
pub const APPROVALS: &str = "subscription { approvalStageChanges { cursor kind stageId reason
    assignmentRequest { id state justification target { id displayName } } } }";

/// A `graphql-transport-ws` socket holding one subscription, read by its own task until closed.
pub struct Subscriber {
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    close: Option<oneshot::Sender<()>>,
}

impl Subscriber {
    /// One approver's socket, subscribed to [`APPROVALS`]; notifications go to `waiters`.
    pub async fn connect(
        base: &str,
        approver: &str,
        token: &str,
        waiters: Arc<Waiters>,
    ) -> anyhow::Result<Self> {
        let approver = approver.to_owned();
        Self::listen(base, token, APPROVALS, move |at, data| {
            let change = &data["approvalStageChanges"];
            waiters.deliver(Notification {
                at,
                approver: approver.clone(),
                kind: change["kind"].as_str().unwrap_or_default().to_owned(),
                request_id: text_at(change, "/assignmentRequest/id"),
            });
        })
        .await
    }

    /// Connects to `base`'s `/graphql/ws`, signs in with `token` in `connection_init`, waits for
    /// the ack and subscribes to `query`; each event's `data` goes to `on_next` with the instant
    /// its frame was read.
    pub async fn listen(
        base: &str,
        token: &str,
        query: &str,
        mut on_next: impl FnMut(Instant, &Value) + Send + 'static,
    ) -> anyhow::Result<Self> {
        let url = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.context("the socket opens")?;
        let init =
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
        socket.send(Message::text(init.to_string())).await?;
        let ack = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(frame) = socket.next().await {
                if let Message::Text(text) = frame? {
                    let message: Value = serde_json::from_str(&text)?;
                    anyhow::ensure!(
                        message["type"] == "connection_ack",
                        "expected connection_ack, got {message}"
                    );
                    return Ok(());
                }
            }
            anyhow::bail!("the server closed the socket before acknowledging it")
        })
        .await
        .context("no connection_ack within 30 s")?;
        ack?;
        let subscribe = json!({ "id": "s", "type": "subscribe", "payload": { "query": query } });
        socket.send(Message::text(subscribe.to_string())).await?;
        let (close_tx, mut close_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                let frame = tokio::select! {
                    frame = socket.next() => frame,
                    _ = &mut close_rx => {
                        let _ = socket.close(None).await;
                        return Ok(());
                    }
                };
                let Some(frame) = frame else { return Ok(()) };
                let at = Instant::now();
                let Message::Text(text) = frame? else { continue };
                let message: Value = serde_json::from_str(&text)?;
                match message["type"].as_str() {
                    Some("next") => on_next(at, &message["payload"]["data"]),
                    Some("ping") => socket.send(Message::text(json!({ "type": "pong" }).to_string())).await?,
                    Some("error" | "complete") => anyhow::bail!("the subscription ended: {message}"),
                    _ => {}
                }
            }
        });
        Ok(Self { task, close: Some(close_tx) })
    }

    /// Closes the socket; returns how its reader ended.
    pub async fn close(mut self) -> anyhow::Result<()> {
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        self.task.await?
    }
}

/// Values put under a key by one task and taken by another that waits for them: the
/// notifications a scenario's approvers and reviewers receive, taken by the simulated person
/// who acts on them (which may arrive before the answer that names them).
#[derive(Default)]
pub struct Mailbox {
    items: Mutex<HashMap<String, Vec<Value>>>,
    arrived: tokio::sync::Notify,
}

impl Mailbox {
    pub fn put(&self, key: String, value: Value) {
        self.lock().entry(key).or_default().push(value);
        self.arrived.notify_waiters();
    }

    /// The first value under `key`, waiting up to `timeout` for one.
    pub async fn take(&self, key: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(value) = self.take_now(key) {
                return Some(value);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.take_now(key);
            }
        }
    }

    /// Every value under `key` now, without waiting.
    pub fn drain(&self, key: &str) -> Vec<Value> {
        self.lock().remove(key).unwrap_or_default()
    }

    fn take_now(&self, key: &str) -> Option<Value> {
        let mut items = self.lock();
        let values = items.get_mut(key)?;
        let value = (!values.is_empty()).then(|| values.remove(0));
        if values.is_empty() {
            items.remove(key);
        }
        value
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Value>>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn text_at(value: &Value, pointer: &str) -> String {
    text(value, pointer).to_owned()
}
