//! The endpoint custom extensions call, as a partner would run it: an HTTP server on a loopback
//! port that verifies each call's Standard Webhooks signature, drops repeats by `webhook-id`,
//! and records each call it accepts with the latency from the body's `time` (when the server
//! decided the change, just before its commit) to the call's arrival.
//!
//! With `fail_first` > 0 it answers HTTP 500 to the first `fail_first` attempts of each call id
//! and accepts the next, so every call is retried that many times by the server.
//!
//! It runs on a runtime of its own, in its own thread, so the clients' load does not delay the
//! arrivals it times (as the harness does for the server).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use crate::stats::{Samples, Summary};

/// The path calls are POSTed to.
const PATH: &str = "/calls";

/// A running receiver; [`Receiver::stop`] (or dropping it) ends it.
pub struct Receiver {
    /// The URL to give the extension: `http://127.0.0.1:PORT/calls`.
    pub url: String,
    shared: Arc<Shared>,
    accepted: watch::Receiver<usize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One call the receiver accepted (the first time its id was accepted).
#[derive(Debug, Clone)]
pub struct Accepted {
    /// `webhook-id`: the call's id (Graph's `customExtensionStageInstanceId`).
    pub id: String,
    /// `data.accessPackageAssignmentRequestId`.
    pub request_id: String,
    /// `data.target.objectId`.
    pub target_id: String,
}

/// What the receiver saw.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Every POST that arrived.
    pub calls: u64,
    /// Distinct call ids accepted.
    pub distinct: usize,
    /// Calls that arrived again after their id was accepted: answered 2xx, dropped.
    pub repeats: u64,
    /// Attempts answered HTTP 500 on purpose (`fail_first` per id).
    pub refused: u64,
    /// Calls whose signature did not verify (answered 401).
    pub forged: u64,
    /// Signed calls whose body is not a call of a request (no `time`, request id or target).
    pub malformed: u64,
    /// From the body's `time` to the arrival of the attempt accepted, one sample per id.
    pub latency: Option<Summary>,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1 with a port chosen by the system. It refuses every call
    /// until it is given the extension's secret ([`Receiver::trust`]).
    pub async fn start(fail_first: u32) -> anyhow::Result<Self> {
        let (accepted_tx, accepted) = watch::channel(0);
        let shared = Arc::new(Shared {
            fail_first,
            secret: OnceLock::new(),
            book: Mutex::default(),
            accepted: accepted_tx,
        });
        let app = axum::Router::new().route(PATH, axum::routing::post(call)).with_state(Arc::clone(&shared));
        let (ready_tx, ready_rx) = oneshot::channel::<std::io::Result<SocketAddr>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("em-receiver".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(listener.local_addr());
                tokio::select! {
                    served = axum::serve(listener, app) => {
                        if let Err(e) = served {
                            tracing::error!(error = %e, "the receiver stopped");
                        }
                    }
                    _ = stop_rx => {}
                }
            });
        })?;
        let address = ready_rx.await.context("the receiver's thread ended before it listened")??;
        Ok(Self {
            url: format!("http://{address}{PATH}"),
            shared,
            accepted,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Verifies calls with `secret` (the extension's `signingSecret`, `whsec_...`) from now on.
    pub fn trust(&self, secret: &str) -> anyhow::Result<()> {
        self.shared
            .secret
            .set(secret.to_owned())
            .map_err(|_| anyhow::anyhow!("the receiver already trusts a secret"))
    }

    /// Waits until `distinct` call ids were accepted, at most `timeout`; whether they were.
    pub async fn wait_for(&self, distinct: usize, timeout: Duration) -> bool {
        let mut accepted = self.accepted.clone();
        tokio::time::timeout(timeout, accepted.wait_for(|n| *n >= distinct)).await.is_ok_and(|r| r.is_ok())
    }

    /// What arrived so far.
    #[must_use]
    pub fn tally(&self) -> Tally {
        let book = self.shared.book();
        Tally {
            calls: book.calls,
            distinct: book.accepted.len(),
            repeats: book.repeats,
            refused: book.refused,
            forged: book.forged,
            malformed: book.malformed,
            latency: book.latency.summary(),
        }
    }

    /// The calls accepted so far, one per id.
    #[must_use]
    pub fn accepted(&self) -> Vec<Accepted> {
        self.shared.book().accepted.values().cloned().collect()
    }

    /// Stops the receiver and waits for its thread.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        crate::harness::stop_thread(self.stop.take(), self.thread.take(), "the receiver").await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} calls received, {} distinct, {} repeats dropped, {} signature failures",
            self.calls, self.distinct, self.repeats, self.forged
        )?;
        if self.refused > 0 {
            write!(f, ", {} attempts refused on purpose (HTTP 500)", self.refused)?;
        }
        if self.malformed > 0 {
            write!(f, ", {} malformed", self.malformed)?;
        }
        Ok(())
    }
}

struct Shared {
    fail_first: u32,
    secret: OnceLock<String>,
    book: Mutex<Book>,
    /// How many distinct ids were accepted.
    accepted: watch::Sender<usize>,
}

#[derive(Default)]
struct Book {
    calls: u64,
    repeats: u64,
    refused: u64,
    forged: u64,
    malformed: u64,
    /// Attempts that arrived (signed), by id.
    attempts: HashMap<String, u32>,
    accepted: HashMap<String, Accepted>,
    latency: Samples,
}

impl Shared {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One call: verified, refused on purpose, dropped as a repeat, or accepted and recorded.
async fn call(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let arrived = chrono::Utc::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let id = header("webhook-id");
    let verified = shared.secret.get().is_some_and(|secret| {
        header("webhook-timestamp").trim().parse::<i64>().is_ok_and(|timestamp| {
            em_api::service::extensions::verify(secret, id, timestamp, &body, header("webhook-signature"))
        })
    });
    let mut book = shared.book();
    book.calls += 1;
    if !verified || id.is_empty() {
        book.forged += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let attempts = book.attempts.entry(id.to_owned()).or_default();
    *attempts += 1;
    if *attempts <= shared.fail_first {
        book.refused += 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if book.accepted.contains_key(id) {
        book.repeats += 1;
        return StatusCode::NO_CONTENT;
    }
    let Some((accepted, decided)) = read_call(id, &body) else {
        book.malformed += 1;
        return StatusCode::BAD_REQUEST;
    };
    book.latency.push_ms((arrived - decided).as_seconds_f64() * 1e3);
    book.accepted.insert(id.to_owned(), accepted);
    let distinct = book.accepted.len();
    drop(book);
    shared.accepted.send_replace(distinct);
    StatusCode::NO_CONTENT
}

/// The call's request, target and `time`, when the body is a call about a request whose
/// envelope `id` is the `webhook-id`.
fn read_call(id: &str, body: &[u8]) -> Option<(Accepted, chrono::DateTime<chrono::Utc>)> {
    let body: Value = serde_json::from_slice(body).ok()?;
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty());
    if text("/id")? != id {
        return None;
    }
    let decided = chrono::DateTime::parse_from_rfc3339(text("/time")?).ok()?.to_utc();
    let accepted = Accepted {
        id: id.to_owned(),
        request_id: text("/data/accessPackageAssignmentRequestId")?.to_owned(),
        target_id: text("/data/target/objectId")?.to_owned(),
    };
    Some((accepted, decided))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// POSTs a call signed with `secret`; the status the receiver answered.
    async fn post(receiver: &Receiver, id: &str, request: &str, secret: &str) -> u16 {
        let body = json!({ "id": id, "source": "em-api", "type": "t", "time": chrono::Utc::now(),
                           "data": { "accessPackageAssignmentRequestId": request, "target": { "objectId": "u1" } } });
        let body = serde_json::to_vec(&body).unwrap();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = em_api::service::extensions::sign(secret, id, timestamp, &body);
        reqwest::Client::new()
            .post(&receiver.url)
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", format!("v1,{signature}"))
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn the_first_attempts_fail_the_next_is_accepted_and_repeats_are_dropped() {
        let receiver = Receiver::start(2).await.unwrap();
        receiver.trust(SECRET).unwrap();
        let statuses = [
            post(&receiver, "c1", "r1", SECRET).await,
            post(&receiver, "c1", "r1", SECRET).await,
            post(&receiver, "c1", "r1", SECRET).await,
            post(&receiver, "c1", "r1", SECRET).await,
            post(&receiver, "c1", "r1", "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await,
        ];
        assert_eq!(statuses, [500, 500, 204, 204, 401]);
        assert!(receiver.wait_for(1, Duration::from_secs(1)).await);
        assert!(!receiver.wait_for(2, Duration::from_millis(10)).await);
        let tally = receiver.tally();
        assert_eq!(
            (tally.calls, tally.distinct, tally.refused, tally.repeats, tally.forged, tally.malformed),
            (5, 1, 2, 1, 1, 0)
        );
        assert_eq!(tally.latency.map(|l| l.count), Some(1));
        let accepted = receiver.accepted();
        assert_eq!(
            accepted
                .iter()
                .map(|a| (a.id.as_str(), a.request_id.as_str(), a.target_id.as_str()))
                .collect::<Vec<_>>(),
            [("c1", "r1", "u1")]
        );
        receiver.stop().await.unwrap();
    }
}
