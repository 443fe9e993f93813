//! What embedded SurrealKV can write on this machine, with none of the product around it.
//!
//! `--lanes` tasks each commit transactions of `INSERT INTO row $rows RETURN NONE` with `--chunk`
//! rows, back to back, for `--rows` rows in all, on a fresh database in a temporary folder
//! (`sync=every` unless `--sync` says otherwise, as `em-api serve` opens it). A row is an object
//! of about `--bytes` bytes in ten fields; `--indexes` of its fields carry a plain index. The
//! figure is rows committed per second, with the process's CPU time per row.
//!
//! It is the floor under the write-heavy targets: a first population or a request lifecycle that
//! writes N rows per unit cannot go faster than this rate divided by N, whatever the code around
//! the store does. `cargo run --release -p em-benches --bin store_ceiling -- --rows 200000`.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use em_benches::process_cpu;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Rows per second embedded SurrealKV commits, with nothing around it")]
struct Cli {
    /// Rows to write in all.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Rows per transaction.
    #[arg(long, default_value_t = 250)]
    chunk: usize,
    /// Concurrent writers, each committing its own transactions.
    #[arg(long, default_value_t = 2)]
    lanes: usize,
    /// Approximate size of a row's fields, in bytes.
    #[arg(long, default_value_t = 400)]
    bytes: usize,
    /// Plain indexes on the row's fields (0 to 10).
    #[arg(long, default_value_t = 0)]
    indexes: usize,
    /// Elements of an array field `tags` that carries one index (0: no such field).
    #[arg(long, default_value_t = 0)]
    tags: usize,
    /// A JSON document every row also carries, in the field `doc` (a stored request, say).
    #[arg(long)]
    document: Option<std::path::PathBuf>,
    /// Store `--document` as its JSON text instead of as a SurrealDB object.
    #[arg(long)]
    as_text: bool,
    /// SurrealKV's `sync=`: `every` (durable commits), `never`, or an interval.
    #[arg(long, default_value = "every")]
    sync: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    cli.lanes = cli.lanes.max(1);
    cli.chunk = cli.chunk.max(1);
    cli.indexes = cli.indexes.min(10);
    let folder = tempfile::Builder::new().prefix("em-store-ceiling-").tempdir()?;
    let url = format!("surrealkv://{}?sync={}", folder.path().join("data").display(), cli.sync);
    let db = surrealdb::engine::any::connect(url.as_str()).await.context("open SurrealKV")?;
    db.use_ns("bench").use_db("bench").await?;
    let mut schema = String::from("DEFINE TABLE row SCHEMALESS;\n");
    for i in 0..cli.indexes {
        schema.push_str(&format!("DEFINE INDEX row{i} ON row FIELDS f{i};\n"));
    }
    if cli.tags > 0 {
        schema.push_str("DEFINE INDEX rowTags ON row FIELDS tags;\n");
    }
    db.query(schema).await?.check()?;

    let filler = "x".repeat(cli.bytes / 10);
    let document: Option<Value> = match &cli.document {
        Some(path) => {
            let text = std::fs::read_to_string(path).context("read --document")?;
            let value: Value = serde_json::from_str(&text).context("parse --document")?;
            Some(if cli.as_text { Value::String(value.to_string()) } else { value })
        }
        None => None,
    };
    let per_lane = cli.rows / cli.lanes;
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut lanes = Vec::new();
    for lane in 0..cli.lanes {
        let db = db.clone();
        let filler = filler.clone();
        let chunk = cli.chunk;
        let tags = cli.tags;
        let document = document.clone();
        lanes.push(tokio::spawn(async move {
            let mut written = 0;
            while written < per_lane {
                let n = chunk.min(per_lane - written);
                let rows: Vec<Value> = (written..written + n)
                    .map(|i| {
                        let mut row = serde_json::Map::new();
                        row.insert("id".into(), json!(format!("{lane}-{i:09}")));
                        for f in 0..10 {
                            row.insert(format!("f{f}"), json!(format!("{filler}{f}-{}", i % 997)));
                        }
                        if tags > 0 {
                            let t: Vec<String> = (0..tags).map(|k| format!("t{k}:{}", i % 997)).collect();
                            row.insert("tags".into(), json!(t));
                        }
                        if let Some(doc) = &document {
                            row.insert("doc".into(), doc.clone());
                        }
                        Value::Object(row)
                    })
                    .collect();
                db.query("BEGIN; INSERT INTO row $rows RETURN NONE; COMMIT;")
                    .bind(("rows", Value::Array(rows)))
                    .await?
                    .check()?;
                written += n;
            }
            anyhow::Ok(written)
        }));
    }
    let mut total = 0;
    for lane in lanes {
        total += lane.await??;
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let count: Option<usize> = db.query("(SELECT count() FROM row GROUP ALL)[0].count").await?.take(0)?;
    anyhow::ensure!(count == Some(total), "{total} rows written, {count:?} counted");
    println!(
        "{total} rows of ~{} bytes with {} index(es), {} lane(s) x {} rows per transaction, sync={}",
        cli.bytes, cli.indexes, cli.lanes, cli.chunk, cli.sync
    );
    println!(
        "committed in {:.2} s: {:.0} rows/s, {:.1} µs of CPU per row ({:.2} cores)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / total as f64,
        cpu.as_secs_f64() / elapsed.as_secs_f64()
    );
    Ok(())
}
