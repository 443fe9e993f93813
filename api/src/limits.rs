//! What the server accepts from a client (the OWASP GraphQL cheat sheet's limits), each
//! configurable (`em-api serve --help`): query depth, cost (a connection field costs its page size
//! times what each item selects), aliases, body size, time, introspection and field suggestions,
//! and a budget of cost per caller that refills over time (`429` with `Retry-After` when spent).
//!
//! The checks run in one schema extension ([`Guard`]), so GraphQL over HTTP and over WebSocket
//! refuse the same operations with the same codes in `extensions.code`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Request, ServerError, ServerResult, ValidationResult, Value};
use em_engine::Actor;

/// The codes of the refusals below, in `extensions.code`.
pub mod code {
    pub const TOO_DEEP: &str = "QUERY_TOO_DEEP";
    pub const TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    pub const TOO_MANY_ALIASES: &str = "TOO_MANY_ALIASES";
    pub const THROTTLED: &str = "THROTTLED";
    /// The query is not GraphQL.
    pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// The query names what the schema does not have, or gives it the wrong arguments or variables.
    pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// A value the operation was given does not fit its type (a variable's value, say).
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// `__schema` or `__type` on a server that does not answer introspection.
    pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
}

/// The limits of one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Deepest selection accepted.
    pub max_depth: usize,
    /// Most expensive operation accepted: every field costs 1, a connection field its page size
    /// times what each item selects.
    pub max_complexity: usize,
    /// Most aliased fields in one document (aliases batch many calls of a field into one request).
    pub max_aliases: usize,
    /// Largest request body, in bytes (a directory import is the largest request).
    pub max_body_bytes: usize,
    /// Longest an operation may run before the server answers 503 (a mutation still runs to its end).
    pub request_timeout: Duration,
    /// Whether `__schema` and `__type` answer, and unknown fields get "did you mean" suggestions.
    pub introspection: bool,
    /// Each signed-in caller's budget of cost; `None` for no budget.
    pub budget: Option<Budget>,
}

/// A caller's budget of cost: it holds up to `burst` and refills at `per_second`. An operation
/// is refused while the budget is spent, and debits its cost when it runs (so one costly
/// operation may leave the budget in debt, and the next waits until it is paid back).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 20_000,
            max_aliases: 50,
            max_body_bytes: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(120),
            introspection: false,
            budget: Some(Budget { per_second: 10_000.0, burst: 100_000.0 }),
        }
    }
}

/// The schema extension that applies [`Limits`] to every operation.
pub struct Guard {
    limits: Arc<Limits>,
    budgets: Arc<Budgets>,
}

impl Guard {
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self { limits: Arc::new(limits), budgets: Arc::default() }
    }
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension { limits: Arc::clone(&self.limits), budgets: Arc::clone(&self.budgets) })
    }
}

struct GuardExtension {
    limits: Arc<Limits>,
    budgets: Arc<Budgets>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for GuardExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let (aliases, introspects) = match request.parsed_query() {
            Ok(document) => (count_aliases(document), introspects(document)),
            Err(error) => return Err(with_code(error, code::PARSE_FAILED)),
        };
        if introspects && !self.limits.introspection {
            return Err(refusal(
                code::INTROSPECTION_DISABLED,
                "introspection is off on this server (`em-api serve --introspection` turns it on)".to_owned(),
            ));
        }
        if aliases > self.limits.max_aliases {
            return Err(refusal(
                code::TOO_MANY_ALIASES,
                format!(
                    "the query has {aliases} aliased fields; at most {} are accepted",
                    self.limits.max_aliases
                ),
            ));
        }
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let caller = ctx.data_opt::<Actor>().and_then(budget_key);
        if let (Some(budget), Some(key)) = (self.limits.budget, &caller)
            && let Some(wait) = self.budgets.spent(key, budget, Instant::now())
        {
            return Err(vec![throttled(wait)]);
        }
        let result = next.run(ctx).await.map_err(|errors| {
            errors.into_iter().map(|e| with_code(e, code::VALIDATION_FAILED)).collect::<Vec<_>>()
        })?;
        if result.depth > self.limits.max_depth {
            return Err(vec![refusal(
                code::TOO_DEEP,
                format!(
                    "the query is nested {} deep; at most {} is accepted",
                    result.depth, self.limits.max_depth
                ),
            )]);
        }
        if result.complexity > self.limits.max_complexity {
            return Err(vec![refusal(
                code::TOO_COMPLEX,
                format!(
                    "the query costs {}; at most {} is accepted (a list costs its `first` times what each item selects)",
                    result.complexity, self.limits.max_complexity
                ),
            )]);
        }
        if let (Some(budget), Some(key)) = (self.limits.budget, caller) {
            self.budgets.debit(key, budget, result.complexity.max(1), Instant::now());
        }
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        coded(next.run(ctx, operation_name).await)
    }
}

/// Every error of `response` without a code gets `BAD_USER_INPUT`: the service's refusals carry
/// their codes (`graphql/error.rs`), so those without are async-graphql's, about input values.
fn coded(mut response: async_graphql::Response) -> async_graphql::Response {
    response.errors = response.errors.into_iter().map(|e| with_code(e, code::BAD_USER_INPUT)).collect();
    response
}

/// Whose budget an operation draws on: people who signed in. The local operator (a server without
/// authentication) and the system have none.
fn budget_key(actor: &Actor) -> Option<String> {
    match actor {
        Actor::User { id } => Some(format!("user:{}", id.as_str())),
        Actor::External { subject } => Some(format!("external:{}|{}", subject.issuer, subject.object_id)),
        Actor::LocalOperator | Actor::System => None,
    }
}

/// `error` with `code` in its extensions, unless it has a code already.
fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

fn refusal(code: &str, message: String) -> ServerError {
    with_code(ServerError::new(message, None), code)
}

/// `THROTTLED`, with the seconds to wait in `extensions.retryAfter` (the HTTP answer's
/// `Retry-After`).
fn throttled(wait: Duration) -> ServerError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut error = refusal(
        code::THROTTLED,
        format!("too many requests: this caller's budget is spent; retry in {seconds} s"),
    );
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("retryAfter", Value::from(seconds));
    }
    error
}

/// The seconds a response's `THROTTLED` error asks to wait, if it has one.
#[must_use]
pub fn retry_after(response: &async_graphql::Response) -> Option<u64> {
    response.errors.iter().find_map(|error| {
        let extensions = error.extensions.as_ref()?;
        if extensions.get("code") != Some(&Value::from(code::THROTTLED)) {
            return None;
        }
        match extensions.get("retryAfter") {
            Some(Value::Number(n)) => n.as_u64(),
            _ => Some(1),
        }
    })
}

/// Aliased fields in every operation and fragment of a document.
fn count_aliases(document: &ExecutableDocument) -> usize {
    count_fields(document, &|field| field.alias.is_some())
}

/// Whether a document selects `__schema` or `__type` anywhere.
fn introspects(document: &ExecutableDocument) -> bool {
    count_fields(document, &|field| matches!(field.name.node.as_str(), "__schema" | "__type")) > 0
}

/// The fields of every operation and fragment of a document that `counts` counts.
fn count_fields(document: &ExecutableDocument, counts: &dyn Fn(&Field) -> bool) -> usize {
    fn in_set(set: &SelectionSet, counts: &dyn Fn(&Field) -> bool) -> usize {
        set.items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) => {
                    usize::from(counts(&field.node)) + in_set(&field.node.selection_set.node, counts)
                }
                Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node, counts),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize =
        document.operations.iter().map(|(_, op)| in_set(&op.node.selection_set.node, counts)).sum();
    let fragments: usize =
        document.fragments.values().map(|f| in_set(&f.node.selection_set.node, counts)).sum();
    operations + fragments
}

/// Every caller's budget: what is left, and when it was last refilled. Bounded: callers whose
/// budget is full again are forgotten when the map grows large.
#[derive(Default)]
struct Budgets {
    left: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Budgets {
    /// Callers remembered before the full ones are forgotten.
    const REMEMBERED: usize = 100_000;

    /// How long `key` must wait before its budget is positive again; `None` when it is.
    fn spent(&self, key: &str, budget: Budget, now: Instant) -> Option<Duration> {
        let left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        let (balance, _) = refill(left.get(key).copied(), budget, now);
        (balance <= 0.0)
            .then(|| Duration::from_secs_f64((1.0 - balance) / budget.per_second.max(f64::MIN_POSITIVE)))
    }

    fn debit(&self, key: String, budget: Budget, cost: usize, now: Instant) {
        let mut left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        if left.len() >= Self::REMEMBERED {
            left.retain(|_, entry| refill(Some(*entry), budget, now).0 < budget.burst);
        }
        let (balance, _) = refill(left.get(&key).copied(), budget, now);
        #[allow(clippy::cast_precision_loss)] // costs are far below 2^52
        let balance = balance - cost as f64;
        left.insert(key, (balance, now));
    }
}

/// A budget's balance at `now`, refilled since it was last touched (a new caller's is full).
fn refill(entry: Option<(f64, Instant)>, budget: Budget, now: Instant) -> (f64, Instant) {
    match entry {
        None => (budget.burst, now),
        Some((balance, at)) => {
            let earned = now.saturating_duration_since(at).as_secs_f64() * budget.per_second;
            ((balance + earned).min(budget.burst), now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refills_and_a_costly_operation_leaves_it_in_debt() {
        let budgets = Budgets::default();
        let budget = Budget { per_second: 100.0, burst: 1_000.0 };
        let start = Instant::now();
        assert_eq!(budgets.spent("a", budget, start), None, "a new caller's budget is full");
        budgets.debit("a".into(), budget, 1_500, start);
        let wait = budgets.spent("a", budget, start).unwrap();
        assert!((5.0..5.1).contains(&wait.as_secs_f64()), "500 in debt at 100/s: {wait:?}");
        assert!(budgets.spent("a", budget, start + Duration::from_secs(4)).is_some());
        assert_eq!(budgets.spent("a", budget, start + Duration::from_millis(5_020)), None);
        assert_eq!(budgets.spent("b", budget, start), None, "budgets are per caller");
    }

    #[test]
    fn aliases_are_counted_in_operations_and_fragments() {
        let document = async_graphql::parser::parse_query(
            "query { a: users { totalCount } b: users { x: totalCount } ...F } fragment F on Query { c: groups { totalCount } }",
        )
        .unwrap();
        assert_eq!(count_aliases(&document), 4);
    }
}
