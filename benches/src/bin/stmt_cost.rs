//! What one SurrealQL statement form costs, measured on its own: `--setup` runs once on a fresh
//! database, then each `--stmt` runs `--n` times, each time in a transaction of its own
//! (`BEGIN; <stmt>; COMMIT;`) with `$i` bound to the iteration. The figure is the process's CPU
//! time per transaction (and the wall time); a `LET $x = 1` line gives the cost of an empty
//! transaction to subtract.
//!
//! It is how the store's statements were chosen (`benches/README.md`, "Statement forms"): a
//! record fetched by id against a SELECT of it, a version guard as a record link against a
//! subquery, a DELETE by id against one by an indexed field.
//!
//! `cargo run --release -p em-benches --bin stmt_cost -- --engine surrealkv --setup "DEFINE TABLE a;"
//! --stmt "LET \$x = 1" --stmt "CREATE type::record('a', \$i) SET x = 1 RETURN NONE"`

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use em_benches::process_cpu;

#[derive(Parser)]
#[command(about = "CPU per transaction of SurrealQL statement forms, on embedded SurrealDB")]
struct Cli {
    /// Statements run once before measuring (schema, rows to read).
    #[arg(long, default_value = "")]
    setup: String,
    /// A statement (or several, `;`-separated) to measure; repeat for more.
    #[arg(long, required = true)]
    stmt: Vec<String>,
    /// Transactions per statement.
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// `surrealkv` (durable commits, `sync=every`, as `em-api serve`) or `memory`.
    #[arg(long, default_value = "surrealkv")]
    engine: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let folder = tempfile::Builder::new().prefix("em-stmt-cost-").tempdir()?;
    let url = match cli.engine.as_str() {
        "memory" => "mem://".to_owned(),
        "surrealkv" => format!("surrealkv://{}?sync=every", folder.path().join("data").display()),
        other => anyhow::bail!("--engine is surrealkv or memory, not {other}"),
    };
    let db = surrealdb::engine::any::connect(url.as_str()).await.context("open the database")?;
    db.use_ns("bench").use_db("bench").await?;
    if !cli.setup.is_empty() {
        db.query(cli.setup.as_str()).await?.check().context("--setup")?;
    }
    let n = cli.n.max(1);
    for stmt in &cli.stmt {
        let sql = format!("BEGIN; {stmt}; COMMIT;");
        let cpu_before = process_cpu();
        let started = Instant::now();
        for i in 0..n {
            let i = i64::try_from(i)?;
            db.query(sql.as_str()).bind(("i", i)).await?.check().with_context(|| stmt.clone())?;
        }
        let cpu = process_cpu().saturating_sub(cpu_before);
        println!(
            "{:8.1} µs CPU {:8.1} µs wall per transaction  {stmt}",
            cpu.as_secs_f64() * 1e6 / n as f64,
            started.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
    Ok(())
}
