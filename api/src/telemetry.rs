//! Structured logs with `tracing`: human-readable by default, JSON with `--log-format json`.
//! `RUST_LOG` sets the filter (default `info`, with SurrealDB's own logs at `warn`).

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
