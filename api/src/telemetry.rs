//! Structured logs with `tracing`, and Prometheus metrics ([`metrics`]).
//!
//! Logs: human-readable by default, JSON with `--log-format json`.
//! `RUST_LOG` sets the filter (default `info`, with SurrealDB's own logs at `warn`).

pub mod metrics;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call once per process.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,surrealdb=warn,surrealkv=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if json { builder.json().try_init() } else { builder.try_init() };
    if result.is_err() {
        // Already installed (tests start several servers in one process).
    }
}

/// The subscriber for tests: what a test logs is captured with its output, shown only when it
/// fails. Safe to call from every test.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,surrealdb=warn,surrealkv=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}
