//! Counting SurrealDB queries from SurrealDB's own tracing. Every `db.query(...)` the store
//! makes reaches the embedded datastore as `Datastore::run_streaming` (queries whose results
//! the SDK streams) or `Datastore::run` (the others; `execute` goes through it), and both open
//! a debug span in `surrealdb::core::kvs::ds`. The layer here counts those spans: one per
//! query, whatever the query's size (a whole transaction is one).
//!
//! The counts are process-wide. The lifecycles command reads them around single mutations sent
//! one at a time, which attributes them to that mutation (give or take the timer runner's one
//! query a second, which the median removes).

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::span::{Attributes, Id};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterFn, Filtered};
use tracing_subscriber::layer::Context;

static QUERIES: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicU64 = AtomicU64::new(0);

/// Queries run so far in this process.
#[must_use]
pub fn queries() -> u64 {
    QUERIES.load(Ordering::Relaxed)
}

/// Whether [`layer`] is part of the installed subscriber (the count stays zero otherwise).
#[must_use]
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed) > 0
}

/// The counting layer.
pub struct QueryLayer;

impl<S: Subscriber> Layer<S> for QueryLayer {
    fn on_register_dispatch(&self, _: &tracing::Dispatch) {
        INSTALLED.store(1, Ordering::Relaxed);
    }

    fn on_new_span(&self, _: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        QUERIES.fetch_add(1, Ordering::Relaxed);
    }
}

fn is_query(metadata: &Metadata<'_>) -> bool {
    metadata.is_span()
        && metadata.target() == "surrealdb::core::kvs::ds"
        && matches!(metadata.name(), "run" | "run_streaming")
}

/// The filter of [`layer`]: a plain function of the call site's metadata.
pub type QueryFilter = FilterFn<fn(&Metadata<'_>) -> bool>;

/// The layer to add to the subscriber; its filter is decided once per call site, so other
/// spans and events cost nothing more.
#[must_use]
pub fn layer<S: Subscriber>() -> Filtered<QueryLayer, QueryFilter, S> {
    QueryLayer.with_filter(FilterFn::new(is_query as fn(&Metadata<'_>) -> bool))
}
