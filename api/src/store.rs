//! The system of record: SurrealDB through the `surrealdb` crate.
//!
//! One [`Store`] wraps a connection to an embedded SurrealKV folder (`surrealkv://./data`, the
//! default), the in-memory engine (`mem://`, tests) or a SurrealDB server (`ws://host:port`).
//! The schema is defined at startup from versioned migrations ([`schema`]).
//!
//! Every state change is one SurrealQL transaction that re-checks, inside the transaction, the
//! conditions it depends on (guards that `THROW`), so a refused change leaves nothing behind and two
//! racing clients cannot both win. Guards that protect a count (a catalog's packages, a resource's
//! uses) keep that count on the parent record: both racers then write the same record and the
//! engine's conflict detection picks one. Retryable write conflicts are retried here; a guard's
//! refusal comes back as the [`DomainError`] it names.

pub mod catalogs;
pub mod directory;
pub mod events;
pub mod extensions;
pub mod guests;
pub mod leases;
pub mod organizations;
pub mod peers;
pub mod policies;
pub mod requests;
pub mod reviews;
pub mod roles;
pub mod schema;
pub mod writers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use em_engine::event::Event;
use em_engine::{DomainError, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use surrealdb::Surreal;
use surrealdb::engine::any::Any;
use tokio::sync::Notify;

/// How to reach the database. Its `Debug` leaves the password out.
#[derive(Clone)]
pub struct StoreConfig {
    /// `surrealkv://PATH`, `mem://` or `ws://host:port`.
    pub url: String,
    pub namespace: String,
    pub database: String,
    /// Root credentials for a SurrealDB server; unused by the embedded engines.
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url)
            .field("namespace", &self.namespace)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl StoreConfig {
    /// The in-memory engine, for tests.
    #[must_use]
    pub fn memory() -> Self {
        Self::at("mem://")
    }

    #[must_use]
    pub fn at(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            namespace: "em".to_owned(),
            database: "em".to_owned(),
            username: None,
            password: None,
        }
    }
}

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A guard inside a transaction refused the change, or a unique index did.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database failed: connection lost, disk error, unexpected response.
    #[error("database error: {0}")]
    Backend(String),
    /// A stored record could not be read back into the domain type.
    #[error("corrupt record in `{table}`: {message}")]
    Corrupt { table: &'static str, message: String },
    /// A change was decided on data that moved before it committed (a version guard refused
    /// it); the service decides again on fresh data.
    #[error("the data this change was decided on has changed; decide again")]
    Stale,
}

impl From<surrealdb::Error> for StoreError {
    fn from(e: surrealdb::Error) -> Self {
        classify(&e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The prefix of messages thrown by our own guards: `em:<CODE>:<field>:<message>`.
const GUARD: &str = "em:";

/// Turns a database error message into the error the caller should see.
fn classify(message: &str) -> StoreError {
    if let Some(at) = message.find(GUARD) {
        let mut parts = message[at + GUARD.len()..].splitn(3, ':');
        let code = parts.next().unwrap_or_default();
        let field = parts.next().unwrap_or_default();
        let text = parts.next().unwrap_or_default().trim_end_matches(['\'', '"']).to_owned();
        let code = match code {
            STALE => return StoreError::Stale,
            "NOT_FOUND" => ErrorCode::NotFound,
            "CONFLICT" => ErrorCode::Conflict,
            "FORBIDDEN" => ErrorCode::Forbidden,
            _ => ErrorCode::ValidationFailed,
        };
        let mut error = DomainError::new(code, text);
        if !field.is_empty() {
            error = error.at(field);
        }
        return StoreError::Domain(error);
    }
    if message.contains("already contains") {
        return StoreError::Domain(DomainError::conflict(unique_message(message)));
    }
    StoreError::Backend(message.to_owned())
}

fn unique_message(message: &str) -> String {
    if message.contains("catalogName") {
        "a catalog with this display name already exists".to_owned()
    } else if message.contains("userUpn") {
        "a user with this userPrincipalName already exists".to_owned()
    } else if message.contains("siteUrl") {
        "a site with this webUrl already exists".to_owned()
    } else if message.contains("resourceOrigin") {
        "the resource is already in the catalog".to_owned()
    } else if message.contains("roleAssignmentGrant") {
        "the principal already holds this role at this scope".to_owned()
    } else {
        "the change collides with an existing object".to_owned()
    }
}

fn is_retryable(message: &str) -> bool {
    message.contains("can be retried")
        || message.contains("failed transaction")
        || message.contains("Transaction conflict")
        || message.contains("Resource busy")
}

/// The code of a version guard's refusal (see [`StoreError::Stale`]).
const STALE: &str = "STALE";

/// Writes the guard of a version: `THROW` with a message [`classify`] maps back to
/// [`StoreError::Stale`].
#[must_use]
pub fn throw_stale() -> String {
    format!("THROW {}", quote(&format!("{GUARD}{STALE}::stale")))
}

/// Writes a guard: `THROW` with a message [`classify`] maps back to a [`DomainError`].
#[must_use]
pub fn throw(code: ErrorCode, field: &str, message: &str) -> String {
    let text = format!("{GUARD}{}:{field}:{message}", code.as_str());
    format!("THROW {}", quote(&text))
}

/// A SurrealQL string literal.
#[must_use]
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The connection and the operations on it.
#[derive(Clone)]
pub struct Store {
    /// One session for every handle: with SDK 3.3, cloning a `Surreal` opens a new session and
    /// replays its sign-in (a password hash on a server, per clone).
    db: Arc<Surreal<Any>>,
    /// Events the next transaction writes with its change (see [`Store::logged`]).
    pending: Arc<Vec<Event>>,
    /// Woken after every transaction that wrote events, for the live feed.
    committed: Arc<Notify>,
    /// The event-writing transactions now running, for the live feed.
    writers: Arc<writers::Writers>,
    /// The other replicas on the same database server (see [`peers`]).
    peers: Arc<peers::Peers>,
    /// This process among the replicas of a database: a random id per start (its registry
    /// record, its tells, the leases it holds).
    origin: Arc<str>,
    /// Whether the database is a server that other processes may write too (`ws://`, ...).
    remote: bool,
    /// Woken when the readiness check finds the database gone: queries waiting for an answer
    /// fail then (the SDK re-makes a lost connection but never answers what was in flight).
    lost: Arc<Notify>,
    /// Set while the readiness check finds the database gone: queries fail at once.
    down: Arc<std::sync::atomic::AtomicBool>,
    /// Counts committed changes to the directory and the catalogs (every transaction but
    /// [`Store::commit_governance`]'s), so read models built from them know when to rebuild.
    generation: Arc<AtomicU64>,
    /// Counts the committed changes of those that are not to users or group memberships alone
    /// (see [`Store::people`]): what an access package's context is read from.
    catalog_generation: Arc<AtomicU64>,
    /// Counts committed changes to role assignments (see [`roles`]).
    roles_version: Arc<AtomicU64>,
    /// Counts the queries this store ran (a transaction counts once).
    queries: Arc<AtomicU64>,
    /// Whether this handle's next transaction leaves the generation alone.
    untracked: bool,
    /// Whether this handle's next transaction changes users or memberships only.
    people_only: bool,
}

impl Store {
    /// Connects, signs in when credentials are given, selects namespace and database and brings
    /// the schema to the current version.
    pub async fn open(config: &StoreConfig) -> StoreResult<Self> {
        let db = surrealdb::engine::any::connect(config.url.as_str()).await?;
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            db.signin(surrealdb::opt::auth::Root { username: username.clone(), password: password.clone() })
                .await?;
            db.query(format!(
                "DEFINE NAMESPACE IF NOT EXISTS {ns}; USE NS {ns}; DEFINE DATABASE IF NOT EXISTS {db};",
                ns = ident(&config.namespace),
                db = ident(&config.database)
            ))
            .await?
            .check()?;
        }
        db.use_ns(config.namespace.as_str()).use_db(config.database.as_str()).await?;
        let store = Self {
            db: Arc::new(db),
            pending: Arc::new(Vec::new()),
            committed: Arc::new(Notify::new()),
            writers: Arc::new(writers::Writers::default()),
            peers: Arc::new(peers::Peers::default()),
            origin: uuid::Uuid::new_v4().simple().to_string().into(),
            remote: is_remote(&config.url),
            lost: Arc::new(Notify::new()),
            down: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            generation: Arc::new(AtomicU64::new(0)),
            catalog_generation: Arc::new(AtomicU64::new(0)),
            roles_version: Arc::new(AtomicU64::new(0)),
            queries: Arc::new(AtomicU64::new(0)),
            untracked: false,
            people_only: false,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies every migration newer than the database's version, each in its own transaction.
    async fn migrate(&self) -> StoreResult<()> {
        let have = self.schema_version().await?;
        if have > schema::current_version() {
            return Err(StoreError::Backend(format!(
                "the database is at schema version {have}, newer than this build's {}: run a build at least as new",
                schema::current_version()
            )));
        }
        for (version, sql) in schema::MIGRATIONS.iter().filter(|(v, _)| *v > have) {
            if *version == schema::PACKED_EVENTS {
                let packed = self.pack_plain_event_records().await?;
                tracing::info!(packed, "event records packed");
            }
            let record = format!(
                "UPSERT schema_meta:version CONTENT {{ version: {version}, migratedDateTime: time::format(time::now(), '%+') }};"
            );
            self.db.query(format!("BEGIN;\n{sql}\n{record}\nCOMMIT;")).await?.check()?;
            tracing::info!(version, "schema migrated");
        }
        Ok(())
    }

    /// The schema version recorded in the database (0 for a new database).
    pub async fn schema_version(&self) -> StoreResult<u32> {
        let mut response = self.db.query("INFO FOR DB").await?.check()?;
        let info: Option<Value> = response.take(0)?;
        let has_meta = info
            .as_ref()
            .and_then(|i| i.get("tables"))
            .and_then(Value::as_object)
            .is_some_and(|t| t.contains_key("schema_meta"));
        if !has_meta {
            return Ok(0);
        }
        let mut response =
            self.db.query("SELECT VALUE version FROM ONLY schema_meta:version").await?.check()?;
        let version: Option<i64> = response.take(0)?;
        Ok(version.and_then(|v| u32::try_from(v).ok()).unwrap_or(0))
    }

    /// Runs statements as one transaction, retrying write conflicts, and returns the response.
    /// `body` must not contain BEGIN/COMMIT.
    /// The events given here are written by the transaction this handle runs next, together with
    /// its change: a change and its events commit or fail together.
    #[must_use]
    pub fn logged(&self, events: Vec<Event>) -> Self {
        Self { pending: Arc::new(events), ..self.clone() }
    }

    /// The events this handle was to write (see [`Store::logged`]), back from it.
    #[must_use]
    pub fn take_pending(self) -> Vec<Event> {
        Arc::try_unwrap(self.pending).unwrap_or_else(|shared| shared.as_ref().clone())
    }

    /// The number of committed changes to the directory and the catalogs so far (see
    /// `generation`). Read it before reading what it guards: a read model built from data read
    /// after it is current up to it.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The number of committed changes other than to users and group memberships alone: every
    /// catalog change, and every directory change that could change an access package's context
    /// (groups, applications, sites, roles). Read it as [`Store::generation`].
    #[must_use]
    pub fn catalog_generation(&self) -> u64 {
        self.catalog_generation.load(Ordering::Acquire)
    }

    /// Another replica committed a change to users or group memberships (`people`) or to the
    /// directory or the catalogs: read models built before it are read again.
    pub(crate) fn moved_elsewhere(&self, people: bool) {
        if !people {
            self.catalog_generation.fetch_add(1, Ordering::AcqRel);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// This handle's next transaction changes users or group memberships and nothing else: it
    /// counts in the generation, not in the catalog generation.
    #[must_use]
    pub(crate) fn people(&self) -> Self {
        Self { people_only: true, pending: Arc::clone(&self.pending), ..self.clone() }
    }

    /// This handle's next transaction does not count as a directory or catalog change.
    #[must_use]
    pub(crate) fn untracked(&self) -> Self {
        Self { untracked: true, pending: Arc::clone(&self.pending), ..self.clone() }
    }

    /// Notified (`notify_waiters`) after every transaction that wrote events has ended. Only
    /// current waiters wake: a reader creates and enables its `Notified` before it reads.
    pub fn committed(&self) -> Arc<Notify> {
        Arc::clone(&self.committed)
    }

    /// The event-writing transactions now running (see [`writers`]).
    pub fn writers(&self) -> Arc<writers::Writers> {
        Arc::clone(&self.writers)
    }

    /// The other replicas on this store's database server (none unless it joined them).
    pub fn peers(&self) -> Arc<peers::Peers> {
        Arc::clone(&self.peers)
    }

    /// This process's id among the replicas (see `origin`).
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The database stopped answering: every query waiting for an answer fails with
    /// [`CONNECTION_LOST`] (a transaction among them may still have committed).
    pub fn connection_lost(&self) {
        self.down.store(true, Ordering::Release);
        self.lost.notify_waiters();
    }

    /// The database answers again: queries are sent again.
    pub fn connection_restored(&self) {
        self.down.store(false, Ordering::Release);
    }

    /// Whether the database is a server other processes may write to as well.
    #[must_use]
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    pub(crate) async fn transaction(
        &self,
        body: &str,
        mut vars: Map<String, Value>,
    ) -> StoreResult<Response> {
        let mut body = body.to_owned();
        if !self.pending.is_empty() {
            let rows = events::event_records(&self.pending)?;
            vars.insert("__events".into(), Value::Array(rows));
            body.push_str("\nINSERT INTO event $__events RETURN NONE;");
        }
        let sql = format!("BEGIN;\n{body}\nCOMMIT;");
        // Registered before the database stamps the change feed, ended after the commit is visible.
        let writing = (!self.pending.is_empty()).then(|| self.writers.begin());
        let mut attempt = 0u32;
        loop {
            let outcome = self.run(&sql, &vars).await;
            match outcome {
                Err(StoreError::Backend(message)) if is_retryable(&message) && attempt < 8 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 3)).await;
                }
                Err(StoreError::Backend(message)) if message == CONNECTION_LOST => {
                    // Sent, and perhaps committed: the feed counts it as running for a while
                    // (the registration lingers when dropped unfinished).
                    drop(writing);
                    return Err(StoreError::Backend(message));
                }
                other => {
                    if other.is_ok() && !self.untracked {
                        if !self.people_only {
                            self.catalog_generation.fetch_add(1, Ordering::AcqRel);
                        }
                        self.generation.fetch_add(1, Ordering::AcqRel);
                    }
                    if let Some(writing) = writing {
                        writing.finish();
                        if other.is_ok() {
                            self.committed.notify_waiters();
                            // Before the change is acknowledged: see `peers`.
                            self.peers.tell(&self.origin, self.writers.ended(), &self.pending).await;
                        }
                    }
                    return other;
                }
            }
        }
    }

    /// Runs statements without a transaction of their own (reads).
    pub(crate) async fn read(&self, sql: &str, vars: Map<String, Value>) -> StoreResult<Response> {
        self.run(sql, &vars).await
    }

    /// How many queries this store has run (a transaction counts once): what a read costs, for
    /// tests and measurements.
    #[must_use]
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    async fn run(&self, sql: &str, vars: &Map<String, Value>) -> StoreResult<Response> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let query = self.db.query(sql).bind(Value::Object(vars.clone()));
        let mut response = if self.remote {
            let lost = self.lost.notified();
            tokio::pin!(lost);
            lost.as_mut().enable();
            if self.down.load(Ordering::Acquire) {
                // A query sent now would wait for an answer that never comes.
                return Err(StoreError::Backend(CONNECTION_LOST.into()));
            }
            tokio::select! {
                response = query => response?,
                () = lost => return Err(StoreError::Backend(CONNECTION_LOST.into())),
            }
        } else {
            query.await?
        };
        let errors = response.take_errors();
        if let Some(message) = pick_error(errors.into_values().map(|e| e.to_string()).collect()) {
            return Err(classify(&message));
        }
        Ok(Response(response))
    }

    /// Checks that the database answers.
    pub async fn health(&self) -> StoreResult<()> {
        self.db.query("RETURN 1").await?.check()?;
        Ok(())
    }
}

/// What a query waiting when the database stopped answering fails with.
pub const CONNECTION_LOST: &str =
    "the connection to the database was lost while waiting for an answer; a change may have been made";

/// Whether `url` names a database server rather than an engine inside this process.
fn is_remote(url: &str) -> bool {
    ["ws://", "wss://", "http://", "https://"].iter().any(|scheme| url.starts_with(scheme))
}

/// When a transaction fails, every later statement reports "the query was not executed due to a
/// failed transaction"; the cause is the one message that says something else.
fn pick_error(mut messages: Vec<String>) -> Option<String> {
    let consequence = |m: &String| {
        m.contains("not executed due to a")
            || m.contains("Cannot COMMIT")
            || m.contains("cancelled transaction")
    };
    messages.sort_by_key(|m| (!m.contains(GUARD), consequence(m), m.clone()));
    messages.into_iter().next()
}

/// A checked response: statement results read by index.
pub(crate) struct Response(surrealdb::IndexedResults);

impl Response {
    /// Every row of statement `index`, as domain values.
    pub(crate) fn rows<T: DeserializeOwned>(
        &mut self,
        index: usize,
        table: &'static str,
    ) -> StoreResult<Vec<T>> {
        let rows: Vec<Value> = self.0.take(index)?;
        rows.into_iter().map(|row| decode(table, row)).collect()
    }

    /// A single value (`RETURN`, `SELECT VALUE ... FROM ONLY`, a count).
    pub(crate) fn value(&mut self, index: usize) -> StoreResult<Value> {
        let value: Option<Value> = self.0.take(index)?;
        Ok(value.unwrap_or(Value::Null))
    }
}

/// Reads a stored record into a domain type.
pub(crate) fn decode<T: DeserializeOwned>(table: &'static str, row: Value) -> StoreResult<T> {
    serde_json::from_value(row).map_err(|e| StoreError::Corrupt { table, message: e.to_string() })
}

/// A record fetched by id (`type::record(table, id).*`), with its id: `None` when there is none.
pub(crate) fn fetched<T: DeserializeOwned>(
    table: &'static str,
    id: &str,
    value: Value,
) -> StoreResult<Option<T>> {
    match value {
        Value::Object(mut row) => {
            row.insert("id".into(), Value::String(id.to_owned()));
            decode(table, Value::Object(row)).map(Some)
        }
        _ => Ok(None),
    }
}

/// A domain value as record content: its JSON without `id` (the record id carries it).
pub(crate) fn content<T: Serialize>(value: &T) -> StoreResult<Value> {
    let mut json = serde_json::to_value(value).map_err(|e| StoreError::Backend(e.to_string()))?;
    if let Some(object) = json.as_object_mut() {
        object.remove("id");
        object.retain(|_, v| !v.is_null());
    }
    Ok(json)
}

/// Builds query variables.
#[macro_export]
macro_rules! vars {
    ($($key:literal => $value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut map = serde_json::Map::new();
        $( map.insert($key.to_owned(), serde_json::json!($value)); )*
        map
    }};
}

/// Keeps a listing to the rows of these catalogs (what a delegate may read), when they are given.
pub(crate) fn in_catalogs(
    ids: Option<&[em_engine::id::CatalogId]>,
    conditions: &mut Vec<String>,
    vars: &mut Map<String, Value>,
) {
    if let Some(ids) = ids {
        conditions.push("catalogId IN $catalogIds".to_owned());
        vars.insert("catalogIds".into(), serde_json::json!(ids));
    }
}

/// The key that orders lists: display name (case-insensitive), then id, so cursors are stable.
#[must_use]
pub fn sort_key(display_name: &str, id: &str) -> String {
    format!("{}\u{1}{id}", display_name.to_lowercase())
}

/// How a table's rows get their domain id back from the record id. Role scopes are keyed
/// `[packageId, roleScopeId]` because Graph's role scope ids are unique only within a package.
fn id_expr(table: &str) -> &'static str {
    match table {
        "role_scope" => "record::id(id)[1]",
        _ => "record::id(id)",
    }
}

fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', ""))
}

/// The records of `table` (in `$table`) named by the ids in `$ids` that exist. Selecting from
/// a list of records reads only those records, but does not honour `ORDER BY`.
const RECORDS_OF_IDS: &str =
    "array::filter(array::map($ids, |$i| type::record($table, $i)), |$r| record::exists($r))";

impl Store {
    /// One page of `table` in sort-key order, filtered by `conditions` (SurrealQL over `vars`).
    pub(crate) async fn page<T: DeserializeOwned>(
        &self,
        table: &'static str,
        conditions: &[String],
        mut vars: Map<String, Value>,
        page: &PageRequest,
    ) -> StoreResult<Page<T>> {
        let filter = if conditions.is_empty() { "true".to_owned() } else { conditions.join(" AND ") };
        vars.insert("after".into(), Value::String(page.after.clone().unwrap_or_default()));
        vars.insert("limit".into(), Value::from(page.first + 1));
        let id = id_expr(table);
        let count = if page.count {
            format!("SELECT count() AS n FROM {table} WHERE {filter} GROUP ALL;")
        } else {
            "RETURN NONE;".to_owned()
        };
        let sql = format!(
            "{count}\n\
             SELECT *, {id} AS id FROM {table} WHERE ({filter}) AND sortKey > $after ORDER BY sortKey LIMIT $limit;"
        );
        let mut response = self.read(&sql, vars).await?;
        let total = response.value(0)?.get("n").and_then(Value::as_u64).unwrap_or(0);
        let rows: Vec<Value> = response.rows(1, table)?;
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        paged(table, rows, total, page)
    }

    /// [`Store::page`] over the records of `table` with the given ids only: only those records
    /// are read (a delegate's few catalogs among thousands), and they are ordered here.
    pub(crate) async fn page_of_ids<T: DeserializeOwned>(
        &self,
        table: &'static str,
        ids: &[impl Serialize + Sync],
        conditions: &[String],
        mut vars: Map<String, Value>,
        page: &PageRequest,
    ) -> StoreResult<Page<T>> {
        let filter = if conditions.is_empty() { "true".to_owned() } else { conditions.join(" AND ") };
        vars.insert("ids".into(), serde_json::json!(ids));
        vars.insert("table".into(), Value::from(table));
        let sql = format!("SELECT *, {} AS id FROM {RECORDS_OF_IDS} WHERE {filter};", id_expr(table));
        let mut rows: Vec<Value> = self.read(&sql, vars).await?.rows(0, table)?;
        let key = |row: &Value| row.get("sortKey").and_then(Value::as_str).unwrap_or_default().to_owned();
        rows.sort_by_cached_key(key);
        let total = rows.len();
        let after = page.after.clone().unwrap_or_default();
        let rows: Vec<Value> = rows.into_iter().filter(|row| key(row) > after).take(page.first + 1).collect();
        paged(table, rows, total, page)
    }

    /// One record by id, if it exists.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        table: &'static str,
        id: &str,
    ) -> StoreResult<Option<T>> {
        // A record fetched by its id, not selected: SurrealDB plans a SELECT even for one record,
        // which costs several times the fetch itself. The id given is the record's whole key, so
        // this serves the tables keyed by a plain id (not `role_scope`, whose key is a pair).
        let mut response =
            self.read(&format!("RETURN type::record('{table}', $id).*;"), vars! { "id" => id }).await?;
        fetched(table, id, response.value(0)?)
    }

    /// The records of `table` with these ids (keyed by a plain id), in no particular order;
    /// ids without a record are skipped. Only those records are read.
    pub(crate) async fn get_many<T: DeserializeOwned>(
        &self,
        table: &'static str,
        ids: &[impl Serialize + Sync],
    ) -> StoreResult<Vec<T>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT *, record::id(id) AS id FROM {RECORDS_OF_IDS};");
        self.read(&sql, vars! { "ids" => ids, "table" => table }).await?.rows(0, table)
    }

    /// All records of `table` matching `filter`, ordered by `order`.
    pub(crate) async fn all<T: DeserializeOwned>(
        &self,
        table: &'static str,
        filter: &str,
        order: &str,
        vars: Map<String, Value>,
    ) -> StoreResult<Vec<T>> {
        let sql = format!("SELECT *, {} AS id FROM {table} WHERE {filter} ORDER BY {order};", id_expr(table));
        self.read(&sql, vars).await?.rows(0, table)
    }
}

/// A page of `rows` (in sort-key order, at most one more than the page asks for) of `total`.
pub(crate) fn paged<T: DeserializeOwned>(
    table: &'static str,
    rows: Vec<Value>,
    total: usize,
    page: &PageRequest,
) -> StoreResult<Page<T>> {
    let has_next = rows.len() > page.first;
    let mut items = Vec::with_capacity(rows.len().min(page.first));
    for row in rows.into_iter().take(page.first) {
        let cursor = row.get("sortKey").and_then(Value::as_str).unwrap_or_default().to_owned();
        items.push((cursor, decode(table, row)?));
    }
    Ok(Page { items, has_next, total })
}

/// One page of a list: rows after a cursor, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub has_next: bool,
    pub total: usize,
}

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// The sort key of the last row already seen.
    pub after: Option<String>,
    pub first: usize,
    /// Whether the total is wanted (counting a package's million assignments costs a pass
    /// over all of them on every page); without it, `Page::total` is 0.
    pub count: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_newer_than_the_build_is_refused_and_left_alone() {
        let folder = tempfile::tempdir().unwrap();
        let config = StoreConfig::at(&format!("surrealkv://{}", folder.path().join("db").display()));
        let store = Store::open(&config).await.unwrap();
        let newer = schema::current_version() + 1;
        store
            .db
            .query(format!("UPSERT schema_meta:version SET version = {newer};"))
            .await
            .unwrap()
            .check()
            .unwrap();
        drop(store);
        // SurrealKV releases its folder's lock once the last handle is gone.
        let mut refused = None;
        for _ in 0..50 {
            match Store::open(&config).await {
                Err(StoreError::Backend(message)) if message.contains("LOCK") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => {
                    refused = Some(other);
                    break;
                }
            }
        }
        match refused {
            Some(Err(StoreError::Backend(message))) => {
                assert!(message.contains("newer than this build"), "{message}");
            }
            other => panic!("expected a refusal, got {:?}", other.map(|r| r.map(|_| ()))),
        }
    }

    #[test]
    fn guard_messages_come_back_as_domain_errors() {
        let message = "An error occurred: em:CONFLICT:id:catalog `x` still holds 2 access package(s)";
        match classify(message) {
            StoreError::Domain(e) => {
                assert_eq!(e.code, ErrorCode::Conflict);
                assert_eq!(e.field.as_deref(), Some("id"));
                assert_eq!(e.message, "catalog `x` still holds 2 access package(s)");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn version_guards_come_back_as_stale() {
        let thrown = throw_stale();
        let message = format!("An error occurred: {}", &thrown["THROW '".len()..thrown.len() - 1]);
        assert!(matches!(classify(&message), StoreError::Stale), "{message}");
    }

    #[test]
    fn the_cause_of_a_failed_transaction_is_reported() {
        let picked = pick_error(vec![
            "The query was not executed due to a failed transaction".into(),
            "em:NOT_FOUND:catalogId:catalog `c` does not exist".into(),
        ]);
        assert_eq!(picked.as_deref(), Some("em:NOT_FOUND:catalogId:catalog `c` does not exist"));
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r"it's a \ test"), r"'it\'s a \\ test'");
    }
}
