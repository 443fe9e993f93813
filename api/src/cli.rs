//! The command line: `serve` (the default), `import`, `schema`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::clock::SystemClock;
use crate::graphql;
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
pub enum Command {
    /// Run the GraphQL server (the default).
    Serve(ServeArgs),
    /// Import a directory file in Microsoft Graph's JSON shape into the database.
    Import(ImportArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
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
    /// Logs as JSON lines.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
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
    let store = Store::open(&db.config()).await.map_err(|e| {
        anyhow::anyhow!("cannot open the database at `{}`: {e}{}", db.url, lock_hint(&e.to_string()))
    })?;
    let services = Services::new(store, Arc::new(SystemClock));
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

/// Runs the server until it is asked to stop.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let services = open(&args.db).await?;
    if args.demo
        && crate::demo::load(&services).await.map_err(|e| anyhow::anyhow!("cannot load the demo: {e}"))?
    {
        tracing::info!("demo directory loaded");
    }
    let schema = graphql::build_schema(services.clone());
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, db = %args.db.url, "listening; GraphiQL at http://{address}/");
    axum::serve(listener, server::app(AppState { schema, services }))
        .with_graceful_shutdown(server::shutdown_signal())
        .await?;
    Ok(())
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
