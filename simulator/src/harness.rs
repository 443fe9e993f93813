//! The server under test, in this process: the real store, services, schema and router that
//! `em-api serve` builds, on a random loopback port, with bearer-token authentication; or a
//! server started elsewhere, reached at its URL with an administrator's token
//! ([`Harness::connect`]).
//!
//! The server runs on its own Tokio runtime in its own thread, so the load the clients make
//! and the work the server does are scheduled by the operating system as two programs would
//! be; SurrealDB's embedded engine lives on the server's runtime. The database is a fresh
//! SurrealKV folder with durable commits (`sync=every`, as `serve` uses by default), deleted
//! when the harness stops, or the in-memory engine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use em_api::auth::{AuthSettings, Authenticator, PartnerTrust};
use em_api::clock::SystemClock;
use em_api::graphql;
use em_api::server::{self, AppState};
use em_api::service::{Services, Statistics};
use em_api::store::{Store, StoreConfig};
use em_engine::Actor;
use serde_json::Value;
use tokio::sync::oneshot;

/// Where the server keeps its data.
#[derive(Debug, Clone)]
pub enum Storage {
    /// Embedded SurrealKV in a new temporary folder under `parent` (the system's temporary
    /// folder when `None`). `sync` is SurrealKV's `sync=` setting: `every` (each commit synced
    /// to disk before it is acknowledged, what `em-api serve` uses), `never`, or an interval.
    SurrealKv { parent: Option<PathBuf>, sync: String },
    /// SurrealDB's in-memory engine (for quick checks; nothing reaches the disk).
    Memory,
    /// A new database (named for this run) on a SurrealDB server at `url` (`ws://HOST:PORT`),
    /// signed in as a root user.
    Server { url: String, username: String, password: String },
}

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub storage: Storage,
    /// Worker threads of the server's runtime.
    pub threads: usize,
    /// Run on a virtual clock that only `advanceClock` moves (no timer runner).
    pub virtual_clock: bool,
    /// Accept custom extensions whose endpoint is plain `http` on a loopback host, as `em-api
    /// serve --allow-http-loopback-extensions` does (the simulator's own receiver).
    pub loopback_extensions: bool,
    /// Replicas serving the one database (more than one needs [`Storage::Server`]), each on
    /// its own runtime and port, joined as `em-api serve` joins them.
    pub replicas: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            storage: Storage::SurrealKv { parent: None, sync: "every".into() },
            threads: default_threads(),
            virtual_clock: false,
            loopback_extensions: false,
            replicas: 1,
        }
    }
}

/// The machine's cores, as `em-api serve` would use them.
#[must_use]
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

/// A running server; [`Harness::stop`] ends it and deletes its data.
pub struct Harness {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Every replica's base, the first being `base`.
    pub bases: Vec<String>,
    /// The database URL the server opened.
    pub db_url: String,
    /// How long importing the directory took.
    pub import_time: Duration,
    /// The server's counts of rule evaluations and policy decisions (a server this process
    /// started).
    pub statistics: Option<Arc<Statistics>>,
    /// Mints the people's tokens (`None`: a server elsewhere, without its secret).
    minter: Option<Authenticator>,
    /// The administrator's token on a server elsewhere.
    admin: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The replicas after the first.
    others: Vec<(oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
    /// Deleted on drop.
    data: Option<tempfile::TempDir>,
}

struct Ready {
    address: std::net::SocketAddr,
    import_time: Duration,
    statistics: Arc<Statistics>,
}

impl Harness {
    /// Opens a fresh database, imports `directory` (as the local operator, like `em-api
    /// import`), and serves GraphQL on 127.0.0.1 with a port chosen by the system.
    pub async fn start(options: &ServerOptions, directory: &Value) -> anyhow::Result<Self> {
        let (data, config) = match &options.storage {
            Storage::SurrealKv { parent, sync } => {
                let dir = match parent {
                    Some(p) => tempfile::Builder::new().prefix("em-simulator-").tempdir_in(p),
                    None => tempfile::Builder::new().prefix("em-simulator-").tempdir(),
                }
                .context("cannot create the database folder")?;
                let url = format!("surrealkv://{}?sync={sync}", dir.path().join("db").display());
                (Some(dir), StoreConfig::at(&url))
            }
            Storage::Memory => (None, StoreConfig::memory()),
            Storage::Server { url, username, password } => (
                None,
                StoreConfig {
                    database: format!("sim_{}", uuid::Uuid::new_v4().simple()),
                    username: Some(username.clone()),
                    password: Some(password.clone()),
                    ..StoreConfig::at(url)
                },
            ),
        };
        let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let settings = AuthSettings {
            hs256_secret: Some(secret),
            jwks: None,
            issuer: "em-api".into(),
            audience: "em-api".into(),
            partners: vec![partner_trust()?],
        };
        let minter = Authenticator::new(settings.clone())?;
        anyhow::ensure!(
            options.replicas <= 1 || matches!(options.storage, Storage::Server { .. }),
            "replicas share a database on a SurrealDB server: give --db-server"
        );
        let db_url = match &options.storage {
            Storage::Server { url, .. } => format!("{url} (database {})", config.database),
            _ => config.url.clone(),
        };
        let (ready, stop_tx, thread) =
            spawn_replica(options, &config, Some(directory.to_string()), settings.clone()).await?;
        let mut others = Vec::new();
        let mut bases = vec![format!("http://{}", ready.address)];
        for _ in 1..options.replicas.max(1) {
            let (other, stop, thread) = spawn_replica(options, &config, None, settings.clone()).await?;
            bases.push(format!("http://{}", other.address));
            others.push((stop, thread));
        }
        Ok(Self {
            base: bases[0].clone(),
            bases,
            db_url,
            import_time: ready.import_time,
            statistics: Some(ready.statistics),
            minter: Some(minter),
            admin: None,
            stop: Some(stop_tx),
            thread: Some(thread),
            others,
            data,
        })
    }

    /// A server started elsewhere (`em-api serve --virtual-clock`, on an empty database): the
    /// administrator's `token` imports `directory` (`importDirectory`) and runs what the
    /// administrator does; the people sign in with tokens minted with `secret`, the server's
    /// `--auth-secret`, when it is given.
    pub async fn connect(
        base: &str,
        token: &str,
        secret: Option<String>,
        directory: &Value,
    ) -> anyhow::Result<Self> {
        let minter = match secret {
            Some(secret) => Some(Authenticator::new(AuthSettings {
                hs256_secret: Some(secret),
                jwks: None,
                issuer: "em-api".into(),
                audience: "em-api".into(),
                partners: Vec::new(),
            })?),
            None => None,
        };
        let api = crate::client::Graphql::new(base)?;
        let clock =
            api.execute(token, "{ clock { isVirtual } }", serde_json::json!({})).await.map_err(|e| {
                anyhow::anyhow!("{base} does not answer the administrator's token: {} {}", e.code, e.message)
            })?;
        anyhow::ensure!(
            clock.pointer("/clock/isVirtual") == Some(&Value::Bool(true)),
            "{base} runs on the real clock: a scenario moves a virtual one (start it with `em-api serve --virtual-clock`)"
        );
        let started = Instant::now();
        api.execute(
            token,
            "mutation($d: JSON!) { importDirectory(input: {directory: $d}) { users } }",
            serde_json::json!({ "d": directory }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("importDirectory: {} {}", e.code, e.message))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            bases: vec![base.trim_end_matches('/').to_owned()],
            db_url: String::new(),
            import_time: started.elapsed(),
            statistics: None,
            minter,
            admin: Some(token.to_owned()),
            stop: None,
            thread: None,
            others: Vec::new(),
            data: None,
        })
    }

    /// A server started elsewhere whose database already holds the directory (imported in
    /// `import_time`); the people and the administrator sign in with tokens minted with
    /// `secret`, the server's `--auth-secret`.
    pub fn attach(base: &str, secret: &str, import_time: Duration) -> anyhow::Result<Self> {
        let minter = Authenticator::new(AuthSettings {
            hs256_secret: Some(secret.to_owned()),
            jwks: None,
            issuer: "em-api".into(),
            audience: "em-api".into(),
            partners: Vec::new(),
        })?;
        let base = base.trim_end_matches('/').to_owned();
        Ok(Self {
            base: base.clone(),
            bases: vec![base],
            db_url: String::new(),
            import_time,
            statistics: None,
            minter: Some(minter),
            admin: None,
            stop: None,
            thread: None,
            others: Vec::new(),
            data: None,
        })
    }

    /// A bearer token for `user_id`, valid for `ttl`.
    pub fn token(&self, user_id: &str, ttl: Duration) -> anyhow::Result<String> {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4);
        let minter = self.minter.as_ref().context(
            "people act in this scenario: give the server's token secret (`--token-secret` or EM_AUTH_SECRET)",
        )?;
        Ok(minter.mint(user_id, chrono::Utc::now().timestamp(), ttl)?)
    }

    /// The administrator's token: the one given for a server elsewhere, else the imported
    /// administrator's.
    pub fn admin_token(&self, ttl: Duration) -> anyhow::Result<String> {
        match &self.admin {
            Some(token) => Ok(token.clone()),
            None => self.token(crate::directory::ADMIN, ttl),
        }
    }

    /// The simulated partners' identity provider, for a server elsewhere to trust
    /// (`em-api serve --auth-partner ISSUER JWKS_FILE`): its issuer and its keys as a JWKS.
    #[must_use]
    pub fn partner_trust_json() -> (String, Value) {
        (PARTNER_ISSUER.to_owned(), partner_jwks())
    }

    /// A token of the simulated partners' identity provider (Entra's multi-tenant issuer) for
    /// someone of tenant `tenant`, valid for `ttl`.
    pub fn partner_token(
        &self,
        tenant: &str,
        object_id: &str,
        email: &str,
        name: &str,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4);
        let claims = serde_json::json!({
            "iss": PARTNER_ISSUER.replace("{tenantid}", tenant), "aud": "em-api", "tid": tenant,
            "oid": object_id, "email": email, "name": name, "iat": now, "exp": now + ttl,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("sim-partner".into());
        let key = jsonwebtoken::EncodingKey::from_ec_pem(PARTNER_KEY.as_bytes())?;
        Ok(jsonwebtoken::encode(&header, &claims, &key)?)
    }

    /// Stops the server, waits for its thread and deletes its data.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for (stop, thread) in std::mem::take(&mut self.others) {
            stop_thread(Some(stop), Some(thread), "a replica").await?;
        }
        stop_thread(self.stop.take(), self.thread.take(), "the server").await?;
        if let Some(data) = self.data.take() {
            data.close().context("cannot delete the database folder")?;
        }
        Ok(())
    }
}

/// Starts one replica on a thread and runtime of its own over `config`, importing `directory`
/// when given; returns once it serves.
async fn spawn_replica(
    options: &ServerOptions,
    config: &StoreConfig,
    directory: Option<String>,
    settings: AuthSettings,
) -> anyhow::Result<(Ready, oneshot::Sender<()>, std::thread::JoinHandle<()>)> {
    let config = config.clone();
    let (ready_tx, ready_rx) = oneshot::channel::<anyhow::Result<Ready>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let threads = options.threads.max(1);
    let (virtual_clock, loopback) = (options.virtual_clock, options.loopback_extensions);
    let thread = std::thread::Builder::new().name("em-server".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("em-server-worker")
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = ready_tx.send(Err(e.into()));
                return;
            }
        };
        runtime.block_on(async move {
            match prepare(&config, directory.as_deref(), settings, virtual_clock, loopback).await {
                Ok((listener, app, ready)) => {
                    let _ = ready_tx.send(Ok(ready));
                    tokio::select! {
                        served = axum::serve(listener, app) => {
                            if let Err(e) = served {
                                tracing::error!(error = %e, "the server stopped");
                            }
                        }
                        _ = stop_rx => {}
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        });
        // Open WebSockets and the timer runner are cut off here.
        runtime.shutdown_timeout(Duration::from_secs(5));
    })?;
    let ready = ready_rx.await.context("the server thread ended before it served")??;
    Ok((ready, stop_tx, thread))
}

/// Tells a background thread to stop and waits for it to end; `what` names it in the error.
pub(crate) async fn stop_thread(
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    what: &str,
) -> anyhow::Result<()> {
    if let Some(stop) = stop {
        let _ = stop.send(());
    }
    if let Some(thread) = thread {
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the thread of {what} panicked"))?;
    }
    Ok(())
}

impl Drop for Harness {
    fn drop(&mut self) {
        // A harness dropped without `stop` (an error on the way) still ends its server; the
        // temporary folder deletes itself.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for (stop, _) in self.others.drain(..) {
            let _ = stop.send(());
        }
    }
}

/// The simulated partners' identity provider: Entra's multi-tenant issuer, signing with
/// [`PARTNER_KEY`] (a fixed P-256 key: the partners are simulated, and nothing else trusts it).
const PARTNER_ISSUER: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

const PARTNER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgS0/QPtIYvur1oYEX
eERslcVfKeyAUVHVyJV5FLGf6ByhRANCAATcxG/G5mBYdPgNFkTGK2SFaeacfrwS
K35GLWSL+22BMjvKfbeQpuazcsZycxlpJFEtNyvdZC4uMF/6JxLYDMDx
-----END PRIVATE KEY-----";

/// The server's trust in the simulated partners: the public half of [`PARTNER_KEY`].
fn partner_trust() -> anyhow::Result<PartnerTrust> {
    Ok(PartnerTrust { issuer: PARTNER_ISSUER.into(), jwks: serde_json::from_value(partner_jwks())? })
}

/// The public half of [`PARTNER_KEY`] as a JWKS.
fn partner_jwks() -> Value {
    serde_json::json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "sim-partner", "use": "sig", "alg": "ES256",
        "x": "3MRvxuZgWHT4DRZExitkhWnmnH68Eit-Ri1ki_ttgTI", "y": "O8p9t5Cm5rNyxnJzGWkkUS03K91kLi4wX_onEtgMwPE"
    }] })
}

/// Opens the store, imports the directory and builds the app as `em-api serve` does, with the
/// timer runner of a server on the real clock. With `loopback_extensions`, custom extensions may
/// call plain `http` on a loopback host; the first retry of a failed call waits 1 s, as `serve`'s.
async fn prepare(
    config: &StoreConfig,
    directory: Option<&str>,
    settings: AuthSettings,
    virtual_clock: bool,
    loopback_extensions: bool,
) -> anyhow::Result<(tokio::net::TcpListener, axum::Router, Ready)> {
    let store =
        Store::open(config).await.map_err(|e| anyhow::anyhow!("cannot open `{}`: {e}", config.url))?;
    let services = if virtual_clock {
        Services::with_virtual_clock(store, em_api::clock::ManualClock::starting_at(chrono::Utc::now()))
    } else {
        Services::new(store, Arc::new(SystemClock))
    }
    .with_callout_settings(
        em_engine::extension::EndpointRules { allow_loopback_http: loopback_extensions },
        Duration::from_secs(1),
    );
    services.bootstrap().await.map_err(|e| anyhow::anyhow!("cannot prepare the database: {e}"))?;
    let started = Instant::now();
    if let Some(directory) = directory {
        services
            .import_directory(&Actor::LocalOperator, directory)
            .await
            .map_err(|e| anyhow::anyhow!("the directory does not import: {e}"))?;
    }
    let import_time = started.elapsed();
    if !virtual_clock {
        tokio::spawn(em_api::service::timers::run(services.clone()));
    }
    let statistics = services.statistics();
    // The simulator is the load: its callers spend without a budget.
    let limits = em_api::limits::Limits { budget: None, ..em_api::limits::Limits::default() };
    let schema = graphql::build_schema_with(services.clone(), &limits);
    let state =
        AppState::new(schema, services.clone()).with_auth(Authenticator::new(settings)?).with_limits(limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    // On a database server, as `em-api serve` does: bound, joined, then serving.
    services
        .join_replicas(&format!("http://{address}"))
        .await
        .map_err(|e| anyhow::anyhow!("cannot join the replicas: {e}"))?;
    Ok((listener, server::app(state), Ready { address, import_time, statistics }))
}
