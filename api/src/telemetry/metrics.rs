//! Prometheus metrics, served at `/metrics` (the `metrics` facade, rendered by
//! `metrics-exporter-prometheus`). One recorder per process: servers started side by side in
//! one process (tests) share it.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `em_http_requests_total{route,status}` | counter | HTTP requests by route and status |
//! | `em_graphql_operation_seconds{transport,kind,operation,outcome}` | histogram | GraphQL operations: `outcome` is `ok` or the first error's `extensions.code` |
//! | `em_commit_batch_changes` | histogram | changes per group-committed transaction |
//! | `em_commit_seconds` | histogram | time to commit a batch |
//! | `em_live_subscriptions` | gauge | subscriptions running on this server |
//! | `em_websocket_connections` | gauge | open WebSocket connections |
//! | `em_timers_due` | gauge | timers due when the runner last looked (at most 256) |
//! | `em_timer_lateness_seconds` | histogram | how long after its due time each timer fired |
//! | `em_feed_lag_seconds` | histogram | from a commit's end to its events reaching subscribers |
//! | `em_database_ready` | gauge | 1 while the database answers, else 0 |
//!
//! Operation names are the client's: at most [`MAX_OPERATION_NAMES`] distinct ones are kept as
//! labels, later ones count as `other`, so no client can grow the series without bound.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Distinct operation names kept as labels.
pub const MAX_OPERATION_NAMES: usize = 200;

const SECONDS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];
const CHANGES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process's recorder, installed on first use; `None` if another recorder was installed
/// first (by an embedding program).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("em_commit_batch_changes".into()), CHANGES)
                })
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            // Histograms keep their samples until drained: drained every few seconds whether
            // or not anyone scrapes.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let upkeep = handle.clone();
                runtime.spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        upkeep.run_upkeep();
                    }
                });
            }
            Some(handle)
        })
        .as_ref()
}

/// The metrics in Prometheus' text format.
#[must_use]
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("em_http_requests_total", "HTTP requests by route and status");
    describe_histogram!(
        "em_graphql_operation_seconds",
        Unit::Seconds,
        "GraphQL operations by transport, kind, operation name and outcome"
    );
    describe_histogram!("em_commit_batch_changes", "Changes committed together in one transaction");
    describe_histogram!("em_commit_seconds", Unit::Seconds, "Time to commit a batch of changes");
    describe_gauge!("em_live_subscriptions", "Subscriptions running on this server");
    describe_gauge!("em_websocket_connections", "Open WebSocket connections");
    describe_gauge!("em_timers_due", "Timers due when the runner last looked (at most 256)");
    describe_histogram!(
        "em_timer_lateness_seconds",
        Unit::Seconds,
        "How long after its due time each timer fired"
    );
    describe_histogram!(
        "em_feed_lag_seconds",
        Unit::Seconds,
        "From a commit's end to its events reaching subscribers"
    );
    describe_gauge!("em_database_ready", "1 while the database answers, else 0");
}

/// One HTTP request answered.
pub fn http_request(route: &'static str, status: u16) {
    metrics::counter!("em_http_requests_total", "route" => route, "status" => status_label(status))
        .increment(1);
}

/// One GraphQL operation done.
pub fn graphql_operation(
    transport: &'static str,
    kind: &'static str,
    operation: &str,
    outcome: &str,
    took: Duration,
) {
    let operation = operation_label(operation);
    metrics::histogram!(
        "em_graphql_operation_seconds",
        "transport" => transport, "kind" => kind, "operation" => operation, "outcome" => outcome.to_owned()
    )
    .record(took.as_secs_f64());
}

/// A batch of `changes` committed in `took`.
pub fn commit(changes: usize, took: Duration) {
    #[expect(clippy::cast_precision_loss, reason = "a batch holds at most a few hundred changes")]
    metrics::histogram!("em_commit_batch_changes").record(changes as f64);
    metrics::histogram!("em_commit_seconds").record(took.as_secs_f64());
}

/// The timers due when the runner looked, and how late each fires.
pub fn timers_due(due: usize) {
    #[expect(clippy::cast_precision_loss, reason = "at most 256")]
    metrics::gauge!("em_timers_due").set(due as f64);
}

pub fn timer_fired(late: Duration) {
    metrics::histogram!("em_timer_lateness_seconds").record(late.as_secs_f64());
}

pub fn feed_lag(took: Duration) {
    metrics::histogram!("em_feed_lag_seconds").record(took.as_secs_f64());
}

pub fn database_ready(ready: bool) {
    metrics::gauge!("em_database_ready").set(if ready { 1.0 } else { 0.0 });
}

/// Counts one of a gauge's things while it lives (a subscription, a connection).
pub struct Live(&'static str);

impl Live {
    #[must_use]
    pub fn subscription() -> Self {
        Self::count("em_live_subscriptions")
    }

    #[must_use]
    pub fn connection() -> Self {
        Self::count("em_websocket_connections")
    }

    fn count(name: &'static str) -> Self {
        metrics::gauge!(name).increment(1.0);
        Self(name)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        101 => "101",
        204 => "204",
        304 => "304",
        308 => "308",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        406 => "406",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        503 => "503",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// `name` if it is one of the first [`MAX_OPERATION_NAMES`] seen, else `other`.
fn operation_label(name: &str) -> String {
    static SEEN: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    if seen.contains(name) || (seen.len() < MAX_OPERATION_NAMES && seen.insert(name.to_owned())) {
        name.to_owned()
    } else {
        "other".to_owned()
    }
}
