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
    /// A TOML file of `serve`'s settings, named as its long flags (`listen = "0.0.0.0:4000"`,
    /// `cors-origin = ["https://portal.contoso.com"]`). A flag or environment variable given
    /// as well wins over the file.
    #[arg(long, env = "EM_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
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

/// The command line, with the settings of `--config FILE` (or `EM_CONFIG`) put before the flags
/// given: a flag, or an environment variable set, wins over the file.
pub fn parse() -> anyhow::Result<Cli> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    Ok(Cli::parse_from(with_config(args, std::env::var_os("EM_CONFIG"), |name| {
        std::env::var_os(name).is_some()
    })?))
}

/// `args` with the settings of the config file they or `from_env` name, for `serve` only;
/// `env_set` tells whether an environment variable is set (it then wins over the file).
pub fn with_config(
    args: Vec<std::ffi::OsString>,
    from_env: Option<std::ffi::OsString>,
    env_set: impl Fn(&std::ffi::OsStr) -> bool,
) -> anyhow::Result<Vec<std::ffi::OsString>> {
    use clap::CommandFactory;
    let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let named = text.iter().enumerate().find_map(|(i, arg)| {
        if arg == "--config" {
            text.get(i + 1).cloned()
        } else {
            arg.strip_prefix("--config=").map(str::to_owned)
        }
    });
    let explicit = named.is_some();
    let Some(path) = named.or_else(|| from_env.map(|p| p.to_string_lossy().into_owned())) else {
        return Ok(args);
    };
    // Which command runs, as clap reads the line without the file (a line it cannot read is
    // left to the real parse to report).
    let Ok(parsed) = Cli::try_parse_from(&args) else { return Ok(args) };
    if let Some(command) = &parsed.command
        && !matches!(command, Command::Serve(_))
    {
        anyhow::ensure!(!explicit, "--config holds the settings of `serve`; other commands take flags");
        // `EM_CONFIG` in the environment is for the server, not for `import` or `token`.
        return Ok(args);
    }
    let command = Cli::command();
    let file = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read the config file `{path}`: {e}"))?;
    let table: toml::Table =
        file.parse().map_err(|e| anyhow::anyhow!("the config file `{path}` is not valid TOML: {e}"))?;
    let serve = command.find_subcommand("serve").ok_or_else(|| anyhow::anyhow!("no serve command"))?;
    let mut settings = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let Some(arg) =
            serve.get_arguments().find(|a| a.get_long() == Some(long.as_str()) && long != "config")
        else {
            let known: Vec<&str> = serve
                .get_arguments()
                .filter_map(clap::Arg::get_long)
                .filter(|l| *l != "config" && *l != "help")
                .collect();
            anyhow::bail!(
                "the config file `{path}` has an unknown setting `{key}`; the settings are: {}",
                known.join(", ")
            );
        };
        let flag = format!("--{long}");
        let given = text.iter().any(|a| *a == flag || a.starts_with(&format!("{flag}=")));
        if given || arg.get_env().is_some_and(&env_set) {
            continue;
        }
        let scalar = |value: &toml::Value| match value {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(n) => Ok(n.to_string()),
            toml::Value::Float(n) => Ok(n.to_string()),
            other => Err(anyhow::anyhow!(
                "the config file's `{key}` must be a string or a number, not {}",
                other.type_str()
            )),
        };
        match &value {
            toml::Value::Boolean(true) => settings.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) if matches!(arg.get_action(), clap::ArgAction::Append) => {
                let pairs = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
                for item in items {
                    settings.push(flag.clone());
                    match item {
                        toml::Value::Array(parts) if pairs => {
                            for part in parts {
                                settings.push(scalar(part)?);
                            }
                        }
                        one => {
                            settings.pop();
                            settings.push(format!("{flag}={}", scalar(one)?));
                        }
                    }
                }
            }
            one => settings.push(format!("{flag}={}", scalar(one)?)),
        }
    }
    // After everything given, so they land on `serve` however the line is written (`em-api
    // --config f serve`); no setting given on the line is among them.
    let mut expanded = args;
    expanded.extend(settings.into_iter().map(Into::into));
    Ok(expanded)
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

/// A setting that must not be printed (a signing secret, a password, a URL carrying one): its
/// `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that uses it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

/// How bearer tokens are checked. Without a secret or a JWKS file the server does not
/// authenticate: every request acts as the local operator.
#[derive(Args, Debug, Clone, Default)]
pub struct AuthArgs {
    /// Shared secret of HS256 tokens (at least 32 bytes).
    #[arg(long = "auth-secret", env = "EM_AUTH_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,
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
            hs256_secret: self.secret.as_ref().map(|s| s.expose().to_owned()),
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
    pub password: Option<Secret>,
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
            password: self.password.as_ref().map(|s| s.expose().to_owned()),
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
    /// An origin whose browser applications may call the API (CORS), such as
    /// `https://portal.contoso.com`; repeat the flag, or separate origins with commas. None by
    /// default: browsers then let no page of another origin read the API's answers.
    #[arg(long = "cors-origin", env = "EM_CORS_ORIGINS", value_delimiter = ',', value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
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
    pub smtp_url: Option<Secret>,
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
    // Settings are checked before anything is opened.
    let cors = cors_origins(&args.cors_origins)?;
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
    let demo_loaded = args.demo
        && crate::demo::load(&services).await.map_err(|e| anyhow::anyhow!("cannot load the demo: {e}"))?;
    let limits = args.limits.limits(args.demo);
    let schema = graphql::build_schema_with(services.clone(), &limits);
    if demo_loaded {
        crate::demo::seed_governance(&schema, &services).await?;
        tracing::info!("demo directory loaded, with the Sales workspace access package");
    }
    let mut state = AppState::new(schema, services.clone()).with_limits(limits).with_cors(cors);
    let mut auth = args.auth.clone();
    if args.demo && auth.secret.is_none() && auth.jwks.is_none() {
        // The demo authenticates like a real deployment, with a secret made for this run.
        auth.secret =
            Some(Secret(format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())));
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
        let settings = crate::service::notifications::MailSettings {
            url: url.expose().to_owned(),
            from: args.mail_from.clone(),
        };
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

/// The CORS origins, each checked (`scheme://host[:port]`, nothing after) and written as
/// browsers send them: lowercase, without the scheme's default port.
fn cors_origins(origins: &[String]) -> anyhow::Result<Vec<axum::http::HeaderValue>> {
    origins
        .iter()
        .map(|origin| origin.trim())
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let lower = origin.to_ascii_lowercase();
            let (scheme, host) = lower
                .split_once("://")
                .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
                .unwrap_or(("", ""));
            let plain = !host.is_empty()
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
            anyhow::ensure!(
                plain,
                "--cors-origin `{origin}` is not an origin: write `https://host` or `https://host:port`, with no path, `*` or final `/`"
            );
            let default_port = if scheme == "https" { ":443" } else { ":80" };
            let host = host.strip_suffix(default_port).unwrap_or(host);
            Ok(axum::http::HeaderValue::from_str(&format!("{scheme}://{host}"))?)
        })
        .collect()
}

fn authenticator_mints(auth: &AuthArgs) -> bool {
    auth.secret.is_some()
}

/// Prints ready tokens for the demo's administrator, requestor and approver.
fn print_demo_tokens(authenticator: &Authenticator) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    println!("Demo tokens (valid 8 hours). Paste one in the token field of GraphiQL (/) or of My Access");
    println!("(/my-access/); other clients send it as the header `Authorization: Bearer <token>`.");
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

#[cfg(test)]
mod config_tests {
    use super::*;
    use clap::Parser;

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        list.iter().map(Into::into).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    fn serve_args(expanded: Vec<std::ffi::OsString>) -> ServeArgs {
        let cli = Cli::parse_from(expanded);
        match cli.command {
            Some(Command::Serve(args)) => args,
            None => cli.serve,
            Some(other) => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn the_file_fills_in_what_neither_a_flag_nor_the_environment_sets() {
        let config = file(
            "listen = \"127.0.0.1:4100\"\nmax_depth = 7\ncors-origin = [\"https://a.example\", \"https://b.example\"]\n\
             demo = true\nvirtual-clock = false\nauth-partner = [[\"https://login.example/{tenantid}/v2.0\", \"keys.json\"]]\n\
             db = \"mem://\"\n",
        );
        let path = config.path().to_str().unwrap();
        let expanded =
            with_config(args(&["em-api", "serve", "--config", path, "--db", "surrealkv://x"]), None, |_| {
                false
            });
        let serve = serve_args(expanded.unwrap());
        assert_eq!(serve.listen.to_string(), "127.0.0.1:4100");
        assert_eq!(serve.limits.max_depth, 7);
        assert_eq!(serve.cors_origins, ["https://a.example", "https://b.example"]);
        assert!(serve.demo);
        assert!(!serve.virtual_clock);
        assert_eq!(serve.auth.partner, ["https://login.example/{tenantid}/v2.0", "keys.json"]);
        // The flag wins over the file.
        assert_eq!(serve.db.url, "surrealkv://x");

        // The file named before the subcommand is still `serve`'s.
        let before = with_config(args(&["em-api", "--config", path, "serve"]), None, |_| false);
        assert_eq!(serve_args(before.unwrap()).listen.to_string(), "127.0.0.1:4100");

        // Without the subcommand (serve is the default), and with the environment setting one.
        let expanded =
            with_config(args(&["em-api", "--listen", "127.0.0.1:4200"]), Some(path.into()), |name| {
                name == "EM_MAX_DEPTH"
            });
        let serve = serve_args(expanded.unwrap());
        assert_eq!(serve.listen.to_string(), "127.0.0.1:4200");
        assert_eq!(serve.limits.max_depth, Limits::default().max_depth);
        assert_eq!(serve.cors_origins.len(), 2);
    }

    #[test]
    fn the_file_is_for_serve_and_names_its_flags() {
        let config = file("listen = \"127.0.0.1:4100\"\n");
        let path = config.path().to_str().unwrap();
        let other =
            with_config(args(&["em-api", "import", "--config", path, "--directory", "d.json"]), None, |_| {
                false
            });
        assert!(other.unwrap_err().to_string().contains("settings of `serve`"));
        let unknown = file("listen = \"127.0.0.1:4100\"\nport = 3\n");
        let error =
            with_config(args(&["em-api", "--config", unknown.path().to_str().unwrap()]), None, |_| false);
        let error = error.unwrap_err().to_string();
        assert!(error.contains("unknown setting `port`") && error.contains("listen, demo"), "{error}");
        // `EM_CONFIG` set for the server leaves other commands alone.
        let import = args(&["em-api", "import", "--directory", "d.json"]);
        assert_eq!(with_config(import.clone(), Some(path.into()), |_| false).unwrap(), import);
        // No file named: the arguments as they are.
        assert_eq!(
            with_config(args(&["em-api", "schema"]), None, |_| false).unwrap(),
            args(&["em-api", "schema"])
        );
    }

    #[test]
    fn cors_origins_are_written_as_browsers_send_them() {
        let origins = ["HTTPS://Portal.Contoso.com:443", "http://localhost:5173", "http://app.example:80"];
        let written = cors_origins(&origins.map(str::to_owned)).unwrap();
        assert_eq!(written, ["https://portal.contoso.com", "http://localhost:5173", "http://app.example"]);
        for bad in ["https://x.example/app", "*", "ftp://x.example", "https://"] {
            assert!(cors_origins(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let serve = serve_args(args(&[
            "em-api",
            "serve",
            "--auth-secret",
            "the-signing-secret-of-this-server-0123456789",
            "--db-pass",
            "the-database-password",
            "--smtp-url",
            "smtp://mailer:the-mail-password@relay:25",
        ]));
        let printed = format!("{serve:?} {:?}", serve.db.config());
        for secret in ["the-signing-secret", "the-database-password", "the-mail-password"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("<redacted>"));
    }
}
