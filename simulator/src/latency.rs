//! Measurement B: how long after an approval commits the next approver hears of it.
//!
//! `approvers` second-stage approvers each approve stage 2 of their own package (one
//! two-stage policy per package, one shared stage-1 approver), and each holds a WebSocket
//! subscribed to `approvalStageChanges`. A sample: a requestor submits a request for a
//! package (not timed), the stage-1 approver approves over HTTP, and the time runs from the
//! moment that HTTP response arrives (the approval is committed before the response is
//! built) to the moment the package's stage-2 approver's socket receives the `assigned`
//! notification for that request. Samples run one after another, so they measure the path,
//! not a queue. The notification can beat the HTTP response (both leave the server after the
//! commit), so latencies can be negative; the time from sending the approval is reported too.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use crate::client::{Graphql, Subscriber, Waiters, text};
use crate::directory::{self, ADMIN, Sizes};
use crate::harness::{Harness, ServerOptions};
use crate::lifecycles::{DECIDE, SUBMIT};
use crate::rng::Rng;
use crate::setup;
use crate::stats::{Samples, Summary};

/// Sockets opened at once while connecting the approvers.
const CONNECT_CONCURRENCY: usize = 32;
/// How long a sample waits for its notification before it counts as missed.
const NOTIFICATION_TIMEOUT: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub server: ServerOptions,
    /// Connected stage-2 approvers, one package each.
    pub approvers: usize,
    pub samples: usize,
    pub seed: u64,
    /// Pause between samples.
    pub pause: Duration,
    /// Run the server as this separate program (`em-api serve`) instead of in this process.
    pub separate: Option<crate::process::Program>,
}

/// The figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub options: Options,
    pub db_url: String,
    pub import_time: Duration,
    pub setup_time: Duration,
    pub connect_time: Duration,
    /// HTTP response of the stage-1 approval -> the stage-2 approver's `assigned` notification.
    pub after_response: Option<Summary>,
    /// Sending the stage-1 approval -> the notification.
    pub after_send: Option<Summary>,
    /// The stage-1 approval's HTTP round trip.
    pub approval: Option<Summary>,
    /// Samples whose notification did not arrive within [`NOTIFICATION_TIMEOUT`].
    pub missed: usize,
    /// Notifications that came on the wrong approver's socket.
    pub misrouted: usize,
    /// Every notification received by any approver, and `assigned` ones nobody waited for.
    pub received: u64,
    pub unexpected: u64,
}

/// Runs the measurement on a fresh server and stops it.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.approvers > 0, "give at least one approver");
    let sizes = Sizes {
        requestors: options.samples,
        first_approvers: 1,
        second_approvers: options.approvers,
        delegates: 0,
        managers: 0,
    };
    let (harness, separate) = match &options.separate {
        None => (Harness::start(&options.server, &directory::directory(sizes)).await?, None),
        Some(program) => {
            let (harness, server) =
                start_separate(program, &options.server, &directory::directory(sizes)).await?;
            (harness, Some(server))
        }
    };
    let db_url = harness.db_url.clone();
    let import_time = harness.import_time;
    let measured = measure(&harness, &options).await;
    harness.stop().await?;
    if let Some((server, folder)) = separate {
        server.kill()?;
        folder.close()?;
    }
    let mut report = measured?;
    report.db_url = db_url;
    report.import_time = import_time;
    Ok(report)
}

/// `em-api serve` as a separate process on the virtual clock (no timer runner, as the
/// in-process server), over a fresh SurrealKV folder or a new database on the SurrealDB server
/// of `server`, with `directory` imported by `em-api import` first.
async fn start_separate(
    program: &crate::process::Program,
    server: &crate::harness::ServerOptions,
    directory: &serde_json::Value,
) -> anyhow::Result<(Harness, (crate::process::Server, tempfile::TempDir))> {
    let folder = tempfile::Builder::new().prefix("em-latency-").tempdir()?;
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let mut env = vec![("EM_AUTH_SECRET".to_owned(), secret.clone())];
    let db = match &server.storage {
        crate::harness::Storage::Server { url, username, password } => {
            env.push(("EM_DB_USER".into(), username.clone()));
            env.push(("EM_DB_PASS".into(), password.clone()));
            env.push(("EM_DB_DATABASE".into(), format!("sim_{}", uuid::Uuid::new_v4().simple())));
            url.clone()
        }
        _ => format!("surrealkv://{}", folder.path().join("db").display()),
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let file = folder.path().join("directory.json");
    std::fs::write(&file, directory.to_string())?;
    let import_time = program.import_with(&db, &file, &env).await.context("importing the directory")?;
    let running = program
        .serve(&db, &["--virtual-clock", "--rate-limit", "0"], &env, &folder.path().join("em-api.log"))
        .await
        .context("starting em-api")?;
    let mut harness = Harness::attach(&running.base, &secret, import_time)?;
    harness.db_url = format!("{db} (em-api in its own process)");
    Ok((harness, (running, folder)))
}

async fn measure(harness: &Harness, options: &Options) -> anyhow::Result<Report> {
    let api = Graphql::new(&harness.base)?;
    let ttl = Duration::from_secs(4 * 3600);
    let admin = harness.token(ADMIN, ttl)?;
    let first = directory::first_approver(0);
    let built = setup::two_stage_packages(
        &api,
        &admin,
        options.approvers,
        |i| (first.clone(), directory::second_approver(i)),
        false,
        None,
    )
    .await
    .context("setting up the catalog, packages and policies")?;
    tracing::info!(packages = built.packages.len(), time = ?built.time, "setup done");

    let connecting = Instant::now();
    let waiters = Arc::new(Waiters::default());
    let mut tokens = Vec::with_capacity(options.approvers);
    for i in 0..options.approvers {
        let approver = directory::second_approver(i);
        let token = harness.token(&approver, ttl)?;
        tokens.push((approver, token));
    }
    let subscribers: Vec<Subscriber> = futures::stream::iter(tokens)
        .map(|(approver, token)| {
            // With replicas, the approvers listen on the last; the approvals go to the first.
            let (base, waiters) = (harness.bases.last().unwrap_or(&harness.base), Arc::clone(&waiters));
            async move {
                Subscriber::connect(base, &approver, &token, waiters)
                    .await
                    .with_context(|| format!("connecting {approver}"))
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;
    let connect_time = connecting.elapsed();
    // A subscription starts on the server after `subscribe` arrives; give the last ones time
    // to reach the feed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tracing::info!(sockets = subscribers.len(), time = ?connect_time, "approvers connected");

    // Which package each sample requests: a seeded shuffle, so consecutive samples notify
    // different approvers.
    let mut rng = Rng::seeded(options.seed);
    let mut order: Vec<usize> = (0..options.approvers).collect();
    rng.shuffle(&mut order);
    let first_token = harness.token(&first, ttl)?;
    let (mut after_response, mut after_send, mut approval) =
        (Samples::default(), Samples::default(), Samples::default());
    let (mut missed, mut misrouted) = (0, 0);
    for s in 0..options.samples {
        let p = order[s % order.len()];
        let requestor = directory::requestor(s);
        let token = harness.token(&requestor, ttl)?;
        let submitted = api
            .execute(
                &token,
                SUBMIT,
                json!({ "input": { "accessPackageId": built.packages[p], "justification": format!("sample {s}") } }),
            )
            .await
            .with_context(|| format!("sample {s}: createAssignmentRequest"))?;
        let id = text(&submitted, "/createAssignmentRequest/assignmentRequest/id").to_owned();
        let notified = waiters.expect(&id);
        let sent = Instant::now();
        let decided = api
            .execute(
                &first_token,
                DECIDE,
                json!({ "input": { "approvalId": id, "reviewResult": "Approve", "justification": "stage 1 ok" } }),
            )
            .await
            .with_context(|| format!("sample {s}: updateApprovalStage"))?;
        let responded = Instant::now();
        anyhow::ensure!(
            text(&decided, "/updateApprovalStage/assignmentRequest/state") == "pendingApproval",
            "sample {s}: stage 2 did not open: {decided}"
        );
        approval.push(responded - sent);
        match tokio::time::timeout(NOTIFICATION_TIMEOUT, notified).await {
            Ok(Ok(notification)) => {
                if notification.approver != directory::second_approver(p) {
                    misrouted += 1;
                }
                after_send.push(notification.at - sent);
                after_response.push_ms(signed_ms(notification.at, responded));
            }
            _ => {
                waiters.forget(&id);
                missed += 1;
            }
        }
        if !options.pause.is_zero() {
            tokio::time::sleep(options.pause).await;
        }
    }
    for subscriber in subscribers {
        if let Err(e) = subscriber.close().await {
            tracing::warn!(error = %e, "a subscriber ended with an error");
        }
    }
    Ok(Report {
        options: options.clone(),
        db_url: String::new(),
        import_time: Duration::ZERO,
        setup_time: built.time,
        connect_time,
        after_response: after_response.summary(),
        after_send: after_send.summary(),
        approval: approval.summary(),
        missed,
        misrouted,
        received: waiters.received.load(Ordering::Relaxed),
        unexpected: waiters.unexpected.load(Ordering::Relaxed),
    })
}

/// `later - earlier` in milliseconds, negative when `later` came first.
fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(earlier - later).as_secs_f64() * 1e3,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(f, "== approver latency: stage-1 approval committed -> stage-2 approver notified ==")?;
        writeln!(
            f,
            "server: {} worker threads, {}; directory imported in {:.2} s; {} packages set up in {:.2} s",
            o.server.threads,
            self.db_url,
            self.import_time.as_secs_f64(),
            o.approvers,
            self.setup_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "connected: {} approvers, each a WebSocket subscribed to approvalStageChanges, in {:.2} s",
            o.approvers,
            self.connect_time.as_secs_f64()
        )?;
        if o.server.replicas > 1 {
            writeln!(
                f,
                "replicas: {}; approvals sent to the first, approvers connected to the last",
                o.server.replicas
            )?;
        }
        writeln!(f, "samples: {} (seed {}), one at a time, {:?} apart", o.samples, o.seed, o.pause)?;
        let line = |f: &mut fmt::Formatter<'_>, label: &str, s: &Option<Summary>| match s {
            Some(s) => writeln!(f, "  {label:<44} {s}"),
            None => writeln!(f, "  {label:<44} no samples"),
        };
        line(f, "approval HTTP response -> notification", &self.after_response)?;
        line(f, "approval sent -> notification", &self.after_send)?;
        line(f, "approval (updateApprovalStage) round trip", &self.approval)?;
        writeln!(
            f,
            "missed (none within {:?}): {}; on the wrong socket: {}; notifications received: {} ({} unexpected)",
            NOTIFICATION_TIMEOUT, self.missed, self.misrouted, self.received, self.unexpected
        )
    }
}
