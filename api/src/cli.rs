//! The command line: `serve` (the default), `import`, `schema`, `token`, `rule`.

pub mod rule;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::auth::{AuthSettings, Authenticator, PartnerTrust};
use crate::clock::SystemClock;
use crate::graphql;
use crate::limits::{Budget, Limits};
use crate::server::{self, AppState};
use crate::service::Services;
use crate::store::{Store, StoreConfig};

#[derive(Parser, Debug)]
#[command(
    name = "em-api",
    version,
    about = "Entitlement management: catalogs, access packages and policies over GraphQL"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
#[expect(clippy::large_enum_variant, reason = "parsed once, at start")]
pub enum Command {
    /// Run the GraphQL server (the default).
    Serve(ServeArgs),
    /// Import a directory file in Microsoft Graph's JSON shape into the database.
    Import(ImportArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Mint an HS256 bearer token for a directory user (for local use and tests).
    Token(TokenArgs),
    /// Check dynamic membership rules and try them on a directory file.
    #[command(subcommand)]
    Rule(rule::RuleCommand),
    /// Evaluate every auto-assignment policy (or one) over the directory and repair any drift
    /// (with the server stopped; a running server answers the `reconcileAutoAssignments` mutation).
    Reconcile(ReconcileArgs),
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// One auto-assignment policy; every one when left out.
    #[arg(long)]
    pub policy: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Runs `em-api reconcile` and describes what it did.
pub async fn reconcile(args: ReconcileArgs) -> anyhow::Result<String> {
    let services = open(&args.db).await?;
    let o = services
        .reconcile_auto_assignments(&em_engine::Actor::LocalOperator, args.policy.map(Into::into).as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(format!(
        "assigned {}, removals scheduled {}, removed {}, removals called off {}, excluded {}",
        o.assigned, o.removals_scheduled, o.removed, o.removals_canceled, o.excluded
    ))
}

/// How bearer tokens are checked. Without a secret or a JWKS file the server does not
/// authenticate: every request acts as the local operator.
#[derive(Args, Debug, Clone, Default)]
pub struct AuthArgs {
    /// Shared secret of HS256 tokens (at least 32 bytes).
    #[arg(long = "auth-secret", env = "EM_AUTH_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// JWKS file with the public keys of RS256/ES256 tokens.
    #[arg(long = "auth-jwks", env = "EM_AUTH_JWKS")]
    pub jwks: Option<PathBuf>,
    /// Required `iss` claim.
    #[arg(long = "auth-issuer", env = "EM_AUTH_ISSUER", default_value = "em-api")]
    pub issuer: String,
    /// Required `aud` claim.
    #[arg(long = "auth-audience", env = "EM_AUTH_AUDIENCE", default_value = "em-api")]
    pub audience: String,
    /// A partner's identity provider whose users may sign in: its issuer (`{tenantid}` stands
    /// for the token's tenant, as in `https://login.microsoftonline.com/{tenantid}/v2.0`) and a
    /// JWKS file of its keys. Repeat for more partners.
    #[arg(long = "auth-partner", num_args = 2, value_names = ["ISSUER", "JWKS_FILE"])]
    pub partner: Vec<String>,
}

impl AuthArgs {
    /// The authenticator, or `None` when no key is configured.
    pub fn authenticator(&self) -> anyhow::Result<Option<Authenticator>> {
        if self.secret.is_none() && self.jwks.is_none() {
            anyhow::ensure!(
                self.partner.is_empty(),
                "--auth-partner needs this server's own keys too: give --auth-secret or --auth-jwks"
            );
            return Ok(None);
        }
        let jwks = self.jwks.as_deref().map(Authenticator::read_jwks).transpose()?;
        let settings = AuthSettings {
            hs256_secret: self.secret.clone(),
            jwks,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            partners: self.partners()?,
        };
        Ok(Some(Authenticator::new(settings)?))
    }

    /// The partners' trusts, from `--auth-partner ISSUER JWKS_FILE` pairs.
    fn partners(&self) -> anyhow::Result<Vec<PartnerTrust>> {
        self.partner
            .chunks(2)
            .map(|pair| match pair {
                [issuer, jwks] => Ok(PartnerTrust {
                    issuer: issuer.trim().to_owned(),
                    jwks: Authenticator::read_jwks(std::path::Path::new(jwks))?,
                }),
                _ => anyhow::bail!("--auth-partner takes an issuer and a JWKS file"),
            })
            .collect()
    }
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The object id of the directory user the token names.
    #[arg(long)]
    pub user: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Where the database is.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// `surrealkv://PATH` (embedded, default), `mem://` (in memory) or `ws://HOST:PORT` (a SurrealDB server).
    #[arg(long = "db", env = "EM_DB", default_value = "surrealkv://./data", global = true)]
    pub url: String,
    #[arg(long = "db-namespace", env = "EM_DB_NAMESPACE", default_value = "em", global = true)]
    pub namespace: String,
    #[arg(long = "db-database", env = "EM_DB_DATABASE", default_value = "em", global = true)]
    pub database: String,
    /// Root user of a SurrealDB server.
    #[arg(long = "db-user", env = "EM_DB_USER", global = true)]
    pub username: Option<String>,
    #[arg(long = "db-pass", env = "EM_DB_PASS", global = true, hide_env_values = true)]
    pub password: Option<String>,
}

impl DbArgs {
    /// The store configuration. Embedded SurrealKV syncs every commit to disk (`sync=every`)
    /// unless the URL says otherwise, so an acknowledged change survives a crash.
    #[must_use]
    pub fn config(&self) -> StoreConfig {
        let mut url = self.url.clone();
        if url.starts_with("surrealkv://") && !url.contains("sync=") {
            url.push_str(if url.contains('?') { "&sync=every" } else { "?sync=every" });
        }
        StoreConfig {
            url,
            namespace: self.namespace.clone(),
            database: self.database.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "EM_LISTEN", default_value = "127.0.0.1:4000")]
    pub listen: SocketAddr,
    /// Load the demo directory (a Contoso-like organisation) if it is not loaded yet.
    #[arg(long)]
    pub demo: bool,
    /// The URL other replicas on the same SurrealDB server reach this one at
    /// (`http://10.0.0.5:4000`); by default `http://` and the address it listens on. Unused on
    /// an embedded database.
    #[arg(long, env = "EM_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Logs as JSON lines.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
    /// Run on a virtual clock that starts now and moves only when an administrator calls the
    /// `advanceClock` mutation (for tests, demos and the simulator).
    #[arg(long)]
    pub virtual_clock: bool,
    /// The directory's initial domain: the domain of the user principal names of the guests
    /// entitlement management invites (`alice_fabrikam.com#EXT#@<domain>`).
    #[arg(long, env = "EM_INITIAL_DOMAIN", default_value = crate::service::guests::DEFAULT_INITIAL_DOMAIN)]
    pub initial_domain: String,
    /// Accept custom extensions whose endpoint is plain `http` on a loopback host
    /// (`http://127.0.0.1:8080/...`), for development and tests; every other endpoint is `https`.
    #[arg(long, env = "EM_ALLOW_HTTP_LOOPBACK_EXTENSIONS")]
    pub allow_http_loopback_extensions: bool,
    /// How long the first retry of a failed custom extension call waits, in milliseconds; each
    /// later retry waits twice as long (up to a minute).
    #[arg(long, env = "EM_CALLOUT_RETRY_MS", default_value_t = 1000)]
    pub callout_retry_ms: u64,
    /// The SMTP relay notifications go through: `smtp://host:port` (STARTTLS when the relay
    /// offers it is not forced), `smtps://host:465`, with `user:password@` if it wants them.
    /// Without it no e-mail is sent.
    #[arg(long, env = "EM_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of notifications.
    #[arg(long, env = "EM_MAIL_FROM", default_value = "Entitlement management <noreply@localhost>")]
    pub mail_from: String,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The directory file: `{"users": [...], "groups": [...], ...}` as Microsoft Graph returns them.
    #[arg(long)]
    pub directory: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Opens the store and the services on the system clock.
pub async fn open(db: &DbArgs) -> anyhow::Result<Services> {
    open_on(db, false).await
}

/// Opens the store and the services, on a virtual clock starting now when `virtual_clock`.
pub async fn open_on(db: &DbArgs, virtual_clock: bool) -> anyhow::Result<Services> {
    let store = Store::open(&db.config()).await.map_err(|e| {
        anyhow::anyhow!("cannot open the database at `{}`: {e}{}", db.url, lock_hint(&e.to_string()))
    })?;
    let services = if virtual_clock {
        Services::with_virtual_clock(store, crate::clock::ManualClock::starting_at(chrono::Utc::now()))
    } else {
        Services::new(store, Arc::new(SystemClock))
    };
    services.bootstrap().await.map_err(|e| anyhow::anyhow!("cannot prepare the database: {e}"))?;
    Ok(services)
}

fn lock_hint(message: &str) -> &'static str {
    if message.contains("LOCK") || message.contains("locked") {
        " (another process, probably a running server, holds this database; stop it, or import through its GraphQL `importDirectory` mutation)"
    } else {
        ""
    }
}

/// What the server accepts from clients (see [`crate::limits`]).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Deepest selection accepted.
    #[arg(long, env = "EM_MAX_DEPTH", default_value_t = Limits::default().max_depth)]
    pub max_depth: usize,
    /// Most expensive operation accepted (a list costs its `first` times what each item selects).
    #[arg(long, env = "EM_MAX_COMPLEXITY", default_value_t = Limits::default().max_complexity)]
    pub max_complexity: usize,
    /// Most aliased fields in one query.
    #[arg(long, env = "EM_MAX_ALIASES", default_value_t = Limits::default().max_aliases)]
    pub max_aliases: usize,
    /// Largest request body (and WebSocket message), in bytes.
    #[arg(long, env = "EM_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Seconds an operation may run before the answer is 503 (a mutation still runs to its end).
    #[arg(long, env = "EM_REQUEST_TIMEOUT_SECS", default_value_t = Limits::default().request_timeout.as_secs())]
    pub request_timeout_secs: u64,
    /// Answer introspection (`__schema`, `__type`) and suggest field names; on with `--demo`.
    #[arg(long, env = "EM_INTROSPECTION")]
    pub introspection: bool,
    /// Cost each signed-in caller may spend per second (every field costs 1, a list its `first`
    /// times its items'); 0 for no limit.
    #[arg(long, env = "EM_RATE_LIMIT", default_value_t = Limits::default().budget.map_or(0.0, |b| b.per_second))]
    pub rate_limit: f64,
    /// Cost a caller may spend at once before the rate applies.
    #[arg(long, env = "EM_RATE_BURST", default_value_t = Limits::default().budget.map_or(0.0, |b| b.burst))]
    pub rate_burst: f64,
}

impl LimitArgs {
    /// The limits these arguments set; `introspection` also on when `demo`.
    #[must_use]
    pub fn limits(&self, demo: bool) -> Limits {
        Limits {
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
            max_aliases: self.max_aliases,
            max_body_bytes: self.max_body_bytes,
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
            introspection: self.introspection || demo,
            budget: (self.rate_limit > 0.0).then_some(Budget {
                per_second: self.rate_limit,
                burst: self.rate_burst.max(self.rate_limit),
            }),
        }
    }
}

/// Raises this process's limit of open files to the most the system allows (every WebSocket
/// is a file descriptor); returns the limit now in force.
pub fn raise_open_files() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the limit of open files");
            None
        }
    }
}

/// Runs the server until it is asked to stop.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(limit) = raise_open_files() {
        tracing::info!(limit, "open files (sockets) allowed");
    }
    let services = open_on(&args.db, args.virtual_clock)
        .await?
        .with_initial_domain(&args.initial_domain)?
        .with_callout_settings(
            em_engine::extension::EndpointRules { allow_loopback_http: args.allow_http_loopback_extensions },
            std::time::Duration::from_millis(args.callout_retry_ms),
        );
    if args.demo
        && crate::demo::load(&services).await.map_err(|e| anyhow::anyhow!("cannot load the demo: {e}"))?
    {
        tracing::info!("demo directory loaded");
    }
    let limits = args.limits.limits(args.demo);
    let schema = graphql::build_schema_with(services.clone(), &limits);
    let mut state = AppState::new(schema, services.clone()).with_limits(limits);
    let mut auth = args.auth.clone();
    if args.demo && auth.secret.is_none() && auth.jwks.is_none() {
        // The demo authenticates like a real deployment, with a secret made for this run.
        auth.secret = Some(format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()));
    }
    match auth.authenticator()? {
        Some(authenticator) => {
            if args.demo && authenticator_mints(&auth) {
                print_demo_tokens(&authenticator)?;
            }
            state = state.with_auth(authenticator);
        }
        None => tracing::warn!(
            "no --auth-secret or --auth-jwks: requests are not authenticated and act as the local operator"
        ),
    }
    // Timers that fell due while the server was down fire now; on the real clock a runner
    // keeps firing them as they fall due.
    services
        .repair_review_schedules()
        .await
        .map_err(|e| anyhow::anyhow!("cannot check the review schedules: {e}"))?;
    services.fire_due_timers().await.map_err(|e| anyhow::anyhow!("cannot fire due timers: {e}"))?;
    // Calls of custom extensions a stopped server had not sent go now.
    let pending = services
        .send_pending_callouts()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read unsent calls: {e}"))?;
    if pending > 0 {
        tracing::info!(pending, "sending custom extension calls left unsent");
    }
    if let Some(url) = &args.smtp_url {
        let settings =
            crate::service::notifications::MailSettings { url: url.clone(), from: args.mail_from.clone() };
        services
            .start_notifier(settings)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start notifications: {e}"))?;
        tracing::info!("e-mail notifications on");
    }
    if args.virtual_clock {
        tracing::info!("virtual clock: time moves only with the advanceClock mutation");
    } else {
        tokio::spawn(crate::service::timers::run(services.clone()));
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    let advertise = args.advertise_url.clone().unwrap_or_else(|| format!("http://{address}"));
    // Bound but not yet serving: a peer that calls once this replica said hello waits in the
    // listener's queue until it serves.
    let peers = services
        .join_replicas(&advertise)
        .await
        .map_err(|e| anyhow::anyhow!("cannot join the replicas: {e}"))?;
    if services.store.is_remote() {
        tracing::info!(url = %advertise, peers = peers.len(), "replica on a database server");
    }
    tracing::info!(%address, db = %args.db.url, "listening; GraphiQL at http://{address}/");
    axum::serve(listener, server::app(state)).with_graceful_shutdown(server::shutdown_signal()).await?;
    Ok(())
}

fn authenticator_mints(auth: &AuthArgs) -> bool {
    auth.secret.is_some()
}

/// Prints ready tokens for the demo's administrator, requestor and approver.
fn print_demo_tokens(authenticator: &Authenticator) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    println!("Demo tokens (valid 8 hours). In GraphiQL, open Headers and paste one as");
    println!("  {{\"Authorization\": \"Bearer <token>\"}}");
    for (who, id) in crate::demo::DEMO_PEOPLE {
        println!("\n{who}:\n{}", authenticator.mint(id, now, 8 * 3600)?);
    }
    println!();
    Ok(())
}

/// Mints a token for `em-api token`.
pub fn token(args: &TokenArgs) -> anyhow::Result<String> {
    let Some(authenticator) = args.auth.authenticator()? else {
        anyhow::bail!("give the server's HS256 secret with --auth-secret or EM_AUTH_SECRET");
    };
    Ok(authenticator.mint(&args.user, chrono::Utc::now().timestamp(), args.ttl)?)
}

/// Imports a directory file and prints what was written.
pub async fn import(args: ImportArgs) -> anyhow::Result<ImportOutcome> {
    let text = std::fs::read_to_string(&args.directory)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", args.directory.display()))?;
    let services = open(&args.db).await?;
    match services.import_directory(&em_engine::Actor::LocalOperator, &text).await {
        Ok(counts) => Ok(ImportOutcome::Imported(counts)),
        Err(crate::service::ServiceError::Domain(e)) => Ok(ImportOutcome::Rejected(e)),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// The result of `em-api import`.
pub enum ImportOutcome {
    Imported(em_engine::import::ImportCounts),
    Rejected(em_engine::DomainError),
}
