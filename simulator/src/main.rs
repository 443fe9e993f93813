//! `em-simulator`: glue. Parse the command line, install logging, run a measurement, print it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use em_simulator::harness::{ServerOptions, Storage, default_threads};
use em_simulator::process::Program;
use em_simulator::{callouts, latency, lifecycles, profile};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Parser, Debug)]
#[command(name = "em-simulator", version, about = "Load and latency measurements of requests and approvals")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replays a scenario file (`scenarios/*.toml`) over the wire, in virtual time, and reports.
    Run(RunArgs),
    /// Complete two-stage request lifecycles per second with concurrent clients.
    Lifecycles(LifecyclesArgs),
    /// Notification latency to the stage-2 approver with many approvers connected.
    ApproverLatency(LatencyArgs),
    /// An access review at scale: starting it, reviewers deciding concurrently, applying denials.
    Reviews(ReviewsArgs),
    /// Custom extension calls across a server killed with SIGKILL: each arrives, once.
    Callouts(CalloutsArgs),
    /// `em-api` (or its SurrealDB server) killed with SIGKILL again and again under a mixed
    /// load: nothing acknowledged lost or doubled, due timers fired, subscribers without gaps.
    Crashes(CrashesArgs),
    /// Writes the keys of the simulated partners' identity provider, for a server `run
    /// --target` replays against to trust (`em-api serve --auth-partner ISSUER FILE`).
    PartnerTrust(PartnerTrustArgs),
    /// `em-api serve` and `em-api import`, run by this binary: the server `callouts` starts and
    /// kills when no `em-api` is built beside this executable (and in the tests).
    #[command(name = "em-api", hide = true)]
    EmApi {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Args, Debug)]
struct CalloutsArgs {
    /// Users assigned directly, each assignment making one call.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Concurrent clients assigning.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// The `em-api` binary (default: the one beside this executable, else this executable's
    /// own copy of its `serve`).
    #[arg(long)]
    em_api: Option<PathBuf>,
    /// Create the temporary database folder under this folder (default: the system's).
    #[arg(long)]
    data_parent: Option<PathBuf>,
    /// How long to wait for the last calls after the last assignment.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    wait: Duration,
}

#[derive(Args, Debug)]
struct CrashesArgs {
    /// Kills in a row.
    #[arg(long, default_value_t = 10)]
    cycles: usize,
    /// Load per cycle; the kill comes at a random moment of its second half.
    #[arg(long, default_value = "6s", value_parser = parse_duration)]
    load: Duration,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Requestors in the directory (each requests once).
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    /// Users the administrator moves between departments.
    #[arg(long, default_value_t = 200)]
    movers: usize,
    /// Kill the SurrealDB server (`surreal` at this path, on SurrealKV) under `em-api` instead of
    /// `em-api` itself.
    #[arg(long)]
    restart_database: Option<PathBuf>,
    /// The `em-api` binary (default: the one beside this executable, else this executable's
    /// own copy of its `serve`).
    #[arg(long)]
    em_api: Option<PathBuf>,
    /// Create the temporary data folder under this folder (default: the system's).
    #[arg(long)]
    data_parent: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The scenario file.
    file: PathBuf,
    /// Multiplies the population.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Seed of every random choice (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Check the invariants at the end of every virtual day, not only at the end of the run.
    #[arg(long)]
    check_daily: bool,
    /// Write `report.json`, `report.md` and the plots `throughput.svg` and `latency.svg` to this
    /// folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use SurrealDB's in-memory engine instead of SurrealKV on disk.
    #[arg(long)]
    memory: bool,
    /// Create the temporary SurrealKV folder under this folder (default: the system's).
    #[arg(long)]
    data_parent: Option<PathBuf>,
    /// Concurrent clients sending each day's requests.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Replay at most this many virtual days of each phase.
    #[arg(long)]
    days: Option<u32>,
    /// Replay against this server instead of starting one: `em-api serve --virtual-clock` on an
    /// empty database (with `--auth-partner` trusting `em-simulator partner-trust` for partners'
    /// sign-ups, `--allow-http-loopback-extensions` for a receiver on this machine).
    #[arg(long, requires = "token")]
    target: Option<String>,
    /// An administrator's bearer token on `--target`.
    #[arg(long, env = "EM_SIM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// `--target`'s `--auth-secret`, to sign the scenario's people in.
    #[arg(long, env = "EM_AUTH_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
}

#[derive(Args, Debug)]
struct PartnerTrustArgs {
    /// Write the simulated partners' keys here (a JWKS file).
    #[arg(long, default_value = "sim-partners.jwks.json")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct ReviewsArgs {
    /// Assignments under review (one per requestor).
    #[arg(long, default_value_t = 10_000)]
    assignees: usize,
    /// Reviewers (the assignees' managers), deciding concurrently.
    #[arg(long, default_value_t = 100)]
    reviewers: usize,
    /// Clients requesting the assignments before the review.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// The share of items denied.
    #[arg(long, default_value_t = 0.5)]
    deny: f64,
    /// Decisions per second all reviewers together aim at (0: as fast as they can).
    #[arg(long, default_value_t = 0.0)]
    decision_rate: f64,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args, Debug)]
struct ServerArgs {
    /// Use SurrealDB's in-memory engine instead of SurrealKV on disk.
    #[arg(long)]
    memory: bool,
    /// Create the temporary SurrealKV folder under this folder (default: the system's).
    #[arg(long)]
    data_parent: Option<PathBuf>,
    /// SurrealKV's `sync=`: `every` (durable commits, as `em-api serve`), `never`, or an
    /// interval such as `200ms`.
    #[arg(long, default_value = "every")]
    sync: String,
    /// Keep the data on this SurrealDB server (`ws://HOST:PORT`, e.g. `em-surreal`'s `surreal
    /// start`), in a new database, instead of embedded SurrealKV.
    #[arg(long, conflicts_with = "memory")]
    db_server: Option<String>,
    /// The server's root user and password.
    #[arg(long, default_value = "root")]
    db_user: String,
    #[arg(long, default_value = "root")]
    db_pass: String,
    /// Worker threads of the server's runtime (default: the machine's cores).
    #[arg(long)]
    server_threads: Option<usize>,
    /// `em-api` replicas serving the database on `--db-server`, each with its own runtime and
    /// port; clients spread their steps over them.
    #[arg(long, default_value_t = 1, requires = "db_server")]
    replicas: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

impl ServerArgs {
    fn options(&self) -> ServerOptions {
        ServerOptions {
            storage: if let Some(url) = &self.db_server {
                Storage::Server {
                    url: url.clone(),
                    username: self.db_user.clone(),
                    password: self.db_pass.clone(),
                }
            } else if self.memory {
                Storage::Memory
            } else {
                Storage::SurrealKv { parent: self.data_parent.clone(), sync: self.sync.clone() }
            },
            threads: self.server_threads.unwrap_or_else(default_threads),
            virtual_clock: false,
            loopback_extensions: false,
            replicas: self.replicas.max(1),
        }
    }
}

#[derive(Args, Debug)]
struct LifecyclesArgs {
    /// Concurrent clients, each running lifecycles back to back.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// How long clients start new lifecycles (`20s`, `500ms`, `2m`).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Requestors in the directory; each requests once.
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    /// Access packages the requests spread over (each with its own two-stage policy).
    #[arg(long, default_value_t = 1)]
    packages: usize,
    /// Afterwards, run this many lifecycles with one client and count SurrealDB queries per
    /// mutation.
    #[arg(long, default_value_t = 0)]
    profile: usize,
    /// Catalogs of delegated administration made before the run, each with
    /// `--roles-per-catalog` role assignments held by other users than the requestors and
    /// approvers: what authorization costs the request path.
    #[arg(long, default_value_t = 0)]
    delegated_catalogs: usize,
    #[arg(long, default_value_t = 10)]
    roles_per_catalog: usize,
    /// Requestors from outside the directory: people of `--organizations` connected partner
    /// organizations, each signing in for the first time; every lifecycle ends with their guest
    /// invited.
    #[arg(long)]
    external: bool,
    /// Connected organizations the external requestors come from.
    #[arg(long, default_value_t = 100)]
    organizations: usize,
    /// Every policy calls a custom extension (a receiver in this process, verifying signatures)
    /// when a request is granted; reports the calls and their latency from the decision.
    #[arg(long)]
    extension_at_granted: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args, Debug)]
struct LatencyArgs {
    /// Connected stage-2 approvers, each with its own package and a WebSocket subscription.
    #[arg(long, default_value_t = 1000)]
    approvers: usize,
    /// Approvals measured, one after another.
    #[arg(long, default_value_t = 300)]
    samples: usize,
    /// Pause between samples.
    #[arg(long, default_value = "10ms", value_parser = parse_duration)]
    pause: Duration,
    /// Run the server as a separate process (`em-api serve`, the binary beside this one or
    /// `--em-api`), so that its sockets and the clients' count against two processes' limits.
    #[arg(long)]
    separate: bool,
    /// The `em-api` binary `--separate` runs.
    #[arg(long)]
    em_api: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

/// `20s`, `500ms`, `2m`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 20s or 500ms"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}` (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,surrealdb=warn,surrealkv=warn,em_api=warn"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter);
    let _ = tracing_subscriber::registry().with(fmt).with(profile::layer()).try_init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::EmApi { .. }) {
        // (`em-api` installs its own logging, as its binary does.)
        init_logging();
        // Every client socket is a file descriptor.
        em_api::cli::raise_open_files();
    }
    match cli.command {
        Command::Lifecycles(args) => {
            let report = lifecycles::run(lifecycles::Options {
                server: args.server.options(),
                clients: args.clients,
                duration: args.duration,
                users: args.users,
                packages: args.packages,
                seed: args.server.seed,
                profile: args.profile,
                delegated_catalogs: args.delegated_catalogs,
                roles_per_catalog: args.roles_per_catalog,
                external: if args.external { args.organizations.max(1) } else { 0 },
                extension_at_granted: args.extension_at_granted,
            })
            .await?;
            print!("{report}");
        }
        Command::PartnerTrust(args) => {
            let (issuer, jwks) = em_simulator::harness::Harness::partner_trust_json();
            std::fs::write(&args.out, serde_json::to_string_pretty(&jwks)?)?;
            println!("em-api serve ... --auth-partner '{issuer}' {}", args.out.display());
        }
        Command::Run(args) => {
            let scenario = em_simulator::scenario::Scenario::load(&args.file)?;
            let storage = if args.memory {
                Storage::Memory
            } else {
                Storage::SurrealKv { parent: args.data_parent.clone(), sync: "every".into() }
            };
            let options = em_simulator::run::RunOptions {
                scale: args.scale,
                seed: args.seed,
                server: ServerOptions { storage, ..ServerOptions::default() },
                check_daily: args.check_daily,
                progress: true,
                clients: args.clients,
                days: args.days,
                target: args.target.clone().map(|url| em_simulator::run::Target {
                    url,
                    token: args.token.clone().unwrap_or_default(),
                    secret: args.token_secret.clone(),
                }),
            };
            let report = em_simulator::run::run(&scenario, &options).await?;
            let markdown = em_simulator::run::to_markdown(&report);
            print!("{markdown}");
            if let Some(out) = &args.out {
                std::fs::create_dir_all(out)?;
                let json = serde_json::to_string_pretty(&em_simulator::run::to_json(&report))?;
                std::fs::write(out.join("report.json"), json + "\n")?;
                let mut markdown = markdown + "\n## Plots\n";
                for plot in em_simulator::plots::write_plots(&report, out)? {
                    let (Some(name), Some(stem)) = (plot.file_name(), plot.file_stem()) else { continue };
                    markdown += &format!("\n![{}]({})\n", stem.to_string_lossy(), name.to_string_lossy());
                }
                std::fs::write(out.join("report.md"), markdown)?;
            }
            if !report.passed() {
                anyhow::bail!("an invariant failed");
            }
        }
        Command::Reviews(args) => {
            let report = em_simulator::reviews::run(em_simulator::reviews::Options {
                server: args.server.options(),
                assignees: args.assignees,
                reviewers: args.reviewers,
                clients: args.clients,
                deny: args.deny,
                decision_rate: args.decision_rate,
                seed: args.server.seed,
            })
            .await?;
            print!("{report}");
        }
        Command::ApproverLatency(args) => {
            let separate = match (args.separate, args.em_api) {
                (_, Some(path)) => Some(Program::em_api(path)),
                (true, None) => Some(Program::find()?),
                (false, None) => None,
            };
            let report = latency::run(latency::Options {
                server: args.server.options(),
                approvers: args.approvers,
                samples: args.samples,
                seed: args.server.seed,
                pause: args.pause,
                separate,
            })
            .await?;
            print!("{report}");
        }
        Command::Callouts(args) => {
            let report = callouts::run(callouts::Options {
                program: match args.em_api {
                    Some(path) => Program::em_api(path),
                    None => Program::find()?,
                },
                count: args.count,
                clients: args.clients,
                data_parent: args.data_parent,
                wait: args.wait,
            })
            .await?;
            print!("{report}");
            anyhow::ensure!(report.passed(), "calls were lost, doubled or forged, or assignments refused");
        }
        Command::Crashes(args) => {
            let report = em_simulator::crashes::run(em_simulator::crashes::Options {
                program: match args.em_api {
                    Some(path) => Program::em_api(path),
                    None => Program::find()?,
                },
                restarted: match args.restart_database {
                    Some(surreal) => em_simulator::crashes::Restarted::Database(surreal),
                    None => em_simulator::crashes::Restarted::Api,
                },
                cycles: args.cycles,
                load: args.load,
                clients: args.clients,
                users: args.users,
                movers: args.movers,
                seed: args.seed,
                data_parent: args.data_parent,
            })
            .await?;
            print!("{report}");
            anyhow::ensure!(
                report.passed(),
                "acknowledged changes were lost or doubled, timers late, or events missed"
            );
        }
        Command::EmApi { args } => run_em_api(args).await?,
    }
    Ok(())
}

/// What the `em-api` binary does for `serve` (the default) and `import`.
async fn run_em_api(args: Vec<String>) -> anyhow::Result<()> {
    use em_api::cli::{Cli as ApiCli, Command as ApiCommand, ImportOutcome};
    let cli = ApiCli::parse_from(std::iter::once("em-api".to_owned()).chain(args));
    let serve = match cli.command {
        None => cli.serve,
        Some(ApiCommand::Serve(serve)) => serve,
        Some(ApiCommand::Import(import)) => {
            em_api::telemetry::init(false);
            return match em_api::cli::import(import).await? {
                ImportOutcome::Imported(counts) => {
                    println!("imported {} users, {} groups", counts.users, counts.groups);
                    Ok(())
                }
                ImportOutcome::Rejected(e) => {
                    anyhow::bail!("error[{}]: {}; nothing was imported", e.code, e.message)
                }
            };
        }
        Some(_) => {
            anyhow::bail!("`em-simulator em-api` runs `serve` and `import`; the em-api binary does the rest")
        }
    };
    em_api::telemetry::init(serve.log_format == "json");
    em_api::cli::serve(serve).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
