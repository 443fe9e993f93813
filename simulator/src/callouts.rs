//! Measurement D: custom extension calls survive a server killed with SIGKILL, and each arrives
//! once at a receiver that drops repeats by id.
//!
//! The server is `em-api serve`, a separate process ([`crate::process`]) over a SurrealKV folder
//! with durable commits, allowed to call loopback `http` and retrying a failed call after 50 ms
//! (then 100, 200...). The directory holds `count` users and the administrator (`em-api
//! import`). The administrator makes a catalog holding the group, a request workflow extension
//! calling a receiver in this process ([`crate::receiver`]) that answers HTTP 500 to the first two
//! attempts of each call and accepts the third, and a package delivering the group's membership
//! through a policy without approval that calls the extension at `assignmentRequestGranted`.
//! Then `clients` clients assign the users directly (`adminAdd`), which makes one call each:
//!
//! 1. when half the assignments were acknowledged, the server is killed (SIGKILL) with
//!    assignments and calls in flight;
//! 2. it is started again on the same folder, and sends at start the calls it had not recorded
//!    as sent;
//! 3. the clients assign the rest, and again those that were in flight at the kill (those the
//!    server had committed are refused as already assigned, `CONFLICT`);
//! 4. the command waits until the receiver has accepted a call for every user, or `wait` passes.
//!
//! Every acknowledged assignment's call must have arrived (the body names its request,
//! `data.accessPackageAssignmentRequestId`), and so must the call of every assignment committed
//! without an answer; no request may be called under two ids, and no signature may fail. Calls
//! the receiver had accepted but the server had not yet recorded as sent when it died are sent
//! again after the restart: the receiver drops them by `webhook-id`, and they are counted as
//! repeats.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use em_api::auth::{AuthSettings, Authenticator};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::Notify;

use crate::client::{Graphql, Refused, text};
use crate::directory::{self, ADMIN, Sizes};
use crate::process::{Program, Server};
use crate::receiver::{Receiver, Tally};
use crate::setup::{self, Package};

/// Attempts of each call the receiver answers with HTTP 500 before it accepts one.
pub const FAIL_FIRST: u32 = 2;
/// Retries the extension allows after a failed call (more than [`FAIL_FIRST`]).
const RETRIES: u32 = 5;
/// The server's first retry waits this long (`--callout-retry-ms`), each next one twice as long.
const RETRY_MS: &str = "50";

/// `createAssignmentRequest` as an administrator's client sends it for a direct assignment.
const ASSIGN: &str = "mutation($input: CreateAssignmentRequestInput!) {
    createAssignmentRequest(input: $input) { assignmentRequest { id state } } }";

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// How to run `em-api`.
    pub program: Program,
    /// Users assigned, one call each.
    pub count: usize,
    /// Concurrent clients assigning.
    pub clients: usize,
    /// Where the temporary database folder goes (default: the system's temporary folder).
    pub data_parent: Option<PathBuf>,
    /// How long to wait for the last calls after the last assignment.
    pub wait: Duration,
}

/// The figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub options: Options,
    pub import_time: Duration,
    pub setup_time: Duration,
    /// Assignments acknowledged before the kill.
    pub before_kill: usize,
    /// Assignments sent but not answered when the server was killed.
    pub unanswered: usize,
    /// Of those, the ones the server had committed (refused as already assigned afterwards).
    pub committed_unanswered: usize,
    /// From starting the server again to its first healthy answer.
    pub restart_time: Duration,
    /// Assignments acknowledged after the restart.
    pub after_restart: usize,
    /// Assignments refused otherwise, by error code (with one message).
    pub refused: BTreeMap<String, (usize, String)>,
    /// What the receiver saw.
    pub tally: Tally,
    /// From the first assignment to the last call accepted (or the end of the wait).
    pub elapsed: Duration,
    /// Acknowledged assignments (request ids) whose call never arrived.
    pub lost: Vec<String>,
    /// Users assigned without an answer whose call never arrived.
    pub lost_unanswered: Vec<String>,
    /// Requests called under more than one call id.
    pub doubled: usize,
    /// The database folder and the servers' logs, kept when the run failed.
    pub kept: Option<PathBuf>,
}

impl Report {
    /// Every assignment's call arrived once, signed, and nothing was refused.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.lost_unanswered.is_empty()
            && self.doubled == 0
            && self.refused.is_empty()
            && self.tally.forged == 0
            && self.tally.malformed == 0
            && self.tally.distinct == self.options.count
    }
}

/// Runs the measurement; deletes the database folder unless the run failed.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.count >= 2 && options.clients > 0, "give at least two users and one client");
    let folder = match &options.data_parent {
        Some(parent) => tempfile::Builder::new().prefix("em-callouts-").tempdir_in(parent),
        None => tempfile::Builder::new().prefix("em-callouts-").tempdir(),
    }
    .context("cannot create the database folder")?;
    match measure(&options, folder.path()).await {
        Ok(report) if report.passed() => {
            folder.close().context("cannot delete the database folder")?;
            Ok(report)
        }
        Ok(report) => Ok(Report { kept: Some(folder.keep()), ..report }),
        Err(e) => {
            let kept = folder.keep();
            Err(e.context(format!("the database and the servers' logs are in `{}`", kept.display())))
        }
    }
}

/// How the first half went.
#[derive(Default)]
struct Assigned {
    /// The requests (ids) of the acknowledged assignments.
    acknowledged: Vec<String>,
    /// Users whose assignment got no answer.
    unanswered: Vec<usize>,
    refused: Vec<Refused>,
}

/// Shared by the clients of the first half.
struct Progress {
    next: AtomicUsize,
    acknowledged: AtomicUsize,
    killed: AtomicBool,
    half: Notify,
}

async fn measure(options: &Options, folder: &Path) -> anyhow::Result<Report> {
    let count = options.count;
    let db = format!("surrealkv://{}", folder.join("db").display());
    let file = folder.join("directory.json");
    let sizes = Sizes { requestors: count, ..Sizes::default() };
    std::fs::write(&file, directory::directory(sizes).to_string()).context("writing the directory file")?;
    let import_time = options.program.import(&db, &file).await.context("importing the directory")?;

    let receiver = Receiver::start(FAIL_FIRST).await.context("starting the receiver")?;
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let admin = Authenticator::new(AuthSettings {
        hs256_secret: Some(secret.clone()),
        jwks: None,
        issuer: "em-api".into(),
        audience: "em-api".into(),
        partners: Vec::new(),
    })?
    .mint(ADMIN, chrono::Utc::now().timestamp(), 24 * 3600)?;
    let args = ["--allow-http-loopback-extensions", "--callout-retry-ms", RETRY_MS];
    let env = [("EM_AUTH_SECRET", secret.as_str())];

    let first = options
        .program
        .serve(&db, &args, &env, &folder.join("first.log"))
        .await
        .context("starting the server")?;
    let api = Graphql::new(&first.base)?;
    let started = Instant::now();
    let package = Arc::new(build(&api, &admin, &receiver).await.context("setting up the package")?);
    let setup_time = started.elapsed();

    // 1. Assign until half are acknowledged, then kill the server with work in flight.
    let started = Instant::now();
    let (before, next) = until_half_then_kill(&api, &admin, &package, options, first).await?;

    // 2. The server again, on the same folder.
    let second = options
        .program
        .serve(&db, &args, &env, &folder.join("second.log"))
        .await
        .context("starting the server again")?;
    let restart_time = second.start_time;
    let api = Graphql::new(&second.base)?;

    // 3. The rest, and again those that got no answer.
    let again: HashSet<usize> = before.unanswered.iter().copied().collect();
    let targets: Vec<usize> = before.unanswered.iter().copied().chain(next..count).collect();
    let results: Vec<(usize, Result<String, Refused>)> = futures::stream::iter(targets)
        .map(|i| {
            let (api, admin, package) = (&api, &admin, &package);
            async move { (i, assign(api, admin, package, i).await) }
        })
        .buffer_unordered(options.clients)
        .collect()
        .await;
    let mut after = Vec::new();
    let mut committed_unanswered = Vec::new();
    let mut refused: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut refuse = |e: Refused| refused.entry(e.code).or_insert((0, e.message)).0 += 1;
    for refusal in before.refused {
        refuse(refusal);
    }
    for (i, result) in results {
        match result {
            Ok(request) => after.push(request),
            Err(e) if e.code == "CONFLICT" && again.contains(&i) => committed_unanswered.push(i),
            Err(e) => refuse(e),
        }
    }

    // 4. The last calls.
    if !receiver.wait_for(count, options.wait).await {
        tracing::warn!("not every call arrived within {:?}", options.wait);
    }
    let elapsed = started.elapsed();
    second.kill()?;
    let (tally, accepted) = (receiver.tally(), receiver.accepted());
    receiver.stop().await?;

    let mut calls_per_request: HashMap<&str, usize> = HashMap::new();
    for call in &accepted {
        *calls_per_request.entry(call.request_id.as_str()).or_default() += 1;
    }
    let targets: HashSet<&str> = accepted.iter().map(|call| call.target_id.as_str()).collect();
    let acknowledged: Vec<&String> = before.acknowledged.iter().chain(&after).collect();
    Ok(Report {
        options: options.clone(),
        import_time,
        setup_time,
        before_kill: before.acknowledged.len(),
        unanswered: before.unanswered.len(),
        committed_unanswered: committed_unanswered.len(),
        restart_time,
        after_restart: after.len(),
        refused,
        tally,
        elapsed,
        lost: acknowledged
            .into_iter()
            .filter(|request| !calls_per_request.contains_key(request.as_str()))
            .cloned()
            .collect(),
        lost_unanswered: committed_unanswered
            .into_iter()
            .map(directory::requestor)
            .filter(|user| !targets.contains(user.as_str()))
            .collect(),
        doubled: calls_per_request.values().filter(|&&calls| calls > 1).count(),
        kept: None,
    })
}

/// The catalog with the group, the extension calling `receiver`, and the package whose policy
/// (direct assignments, no approval) calls it when an assignment is granted.
async fn build(api: &Graphql, admin: &str, receiver: &Receiver) -> anyhow::Result<Package> {
    let (catalog, resource) = setup::catalog_with_group(api, admin, "Callouts", false).await?;
    let extension =
        setup::request_workflow_extension(api, admin, &catalog, "Granted", &receiver.url, RETRIES).await?;
    receiver.trust(&extension.secret)?;
    let policy = directory::calling_when_granted(
        directory::direct_assignment_policy("Direct assignments"),
        &extension.id,
    );
    setup::package(api, admin, &catalog, &resource, "Called when granted", policy).await
}

/// The clients assign users in order until half are acknowledged; then they stop sending and
/// the server is killed with their last assignments in flight. Returns what they did and the
/// first user not sent.
async fn until_half_then_kill(
    api: &Graphql,
    admin: &str,
    package: &Arc<Package>,
    options: &Options,
    server: Server,
) -> anyhow::Result<(Assigned, usize)> {
    let count = options.count;
    let kill_at = count / 2;
    let progress = Arc::new(Progress {
        next: AtomicUsize::new(0),
        acknowledged: AtomicUsize::new(0),
        killed: AtomicBool::new(false),
        half: Notify::new(),
    });
    let clients: Vec<_> = (0..options.clients)
        .map(|_| {
            let (api, admin, package, progress) =
                (api.clone(), admin.to_owned(), Arc::clone(package), Arc::clone(&progress));
            tokio::spawn(async move {
                let mut out = Assigned::default();
                while !progress.killed.load(Ordering::Relaxed) {
                    let i = progress.next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    match assign(&api, &admin, &package, i).await {
                        Ok(request) => {
                            out.acknowledged.push(request);
                            if progress.acknowledged.fetch_add(1, Ordering::Relaxed) + 1 == kill_at {
                                progress.half.notify_one();
                            }
                        }
                        Err(e) if e.code == "TRANSPORT" => {
                            // The server is gone: this one goes again after the restart.
                            out.unanswered.push(i);
                            break;
                        }
                        Err(e) => out.refused.push(e),
                    }
                }
                out
            })
        })
        .collect();
    let all = futures::future::join_all(clients);
    tokio::pin!(all);
    tokio::select! {
        () = progress.half.notified() => {}
        _ = &mut all => anyhow::bail!("the clients stopped before half the assignments were acknowledged"),
    }
    progress.killed.store(true, Ordering::Relaxed);
    server.kill()?;
    let mut assigned = Assigned::default();
    for client in all.await {
        let out = client?;
        assigned.acknowledged.extend(out.acknowledged);
        assigned.unanswered.extend(out.unanswered);
        assigned.refused.extend(out.refused);
    }
    assigned.unanswered.sort_unstable();
    Ok((assigned, progress.next.load(Ordering::Relaxed).min(count)))
}

/// Assigns user `i` directly; the request's id (bare, as calls name it) once delivered.
async fn assign(api: &Graphql, admin: &str, package: &Package, i: usize) -> Result<String, Refused> {
    let input = json!({ "input": {
        "requestType": "adminAdd",
        "accessPackageId": package.id,
        "assignmentPolicyId": package.policy,
        "targetId": directory::requestor(i),
    } });
    let data = api.execute(admin, ASSIGN, input).await?;
    let request = &data["createAssignmentRequest"]["assignmentRequest"];
    if text(request, "/state") != "delivered" {
        return Err(Refused { code: "UNEXPECTED".into(), message: format!("not delivered: {request}") });
    }
    let id = text(request, "/id");
    Ok(id.rsplit(':').next().unwrap_or(id).to_owned())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "== callouts: {} direct assignments, each calling a custom extension; the server killed (SIGKILL) halfway ==",
            o.count
        )?;
        writeln!(
            f,
            "server: {} serve, SurrealKV sync=every, first retry after {RETRY_MS} ms; {} users imported in {:.2} s; \
             set up in {:.2} s; {} clients",
            o.program,
            o.count,
            self.import_time.as_secs_f64(),
            self.setup_time.as_secs_f64(),
            o.clients
        )?;
        writeln!(
            f,
            "receiver: answers HTTP 500 to the first {FAIL_FIRST} attempts of each call, accepts the next, drops repeats by webhook-id"
        )?;
        writeln!(
            f,
            "before the kill: {} assignments acknowledged, {} unanswered ({} of them committed: refused as already assigned afterwards)",
            self.before_kill, self.unanswered, self.committed_unanswered
        )?;
        writeln!(f, "restart: healthy again in {:.2} s", self.restart_time.as_secs_f64())?;
        writeln!(f, "after the restart: {} assignments acknowledged", self.after_restart)?;
        let refused: usize = self.refused.values().map(|(n, _)| n).sum();
        writeln!(f, "refused: {refused}")?;
        for (code, (n, message)) in &self.refused {
            writeln!(f, "  {n} x {code}: {message}")?;
        }
        writeln!(f, "calls: {}", self.tally)?;
        writeln!(
            f,
            "distinct calls accepted: {} of {}{}",
            self.tally.distinct,
            o.count,
            if self.tally.distinct == o.count {
                String::new()
            } else {
                format!(
                    " ({} MISSING after waiting {:?})",
                    o.count.saturating_sub(self.tally.distinct),
                    o.wait
                )
            }
        )?;
        writeln!(
            f,
            "repeats sent: {} (calls sent again after the receiver had accepted them)",
            self.tally.repeats
        )?;
        writeln!(
            f,
            "lost: {} acknowledged, {} committed without an answer; requests called under two ids: {}",
            self.lost.len(),
            self.lost_unanswered.len(),
            self.doubled
        )?;
        for request in self.lost.iter().take(10) {
            writeln!(f, "  lost: the call of request {request}")?;
        }
        for user in self.lost_unanswered.iter().take(10) {
            writeln!(f, "  lost: the call of {user}'s assignment (committed without an answer)")?;
        }
        writeln!(f, "time: {:.2} s from the first assignment to the last call", self.elapsed.as_secs_f64())?;
        if let Some(kept) = &self.kept {
            writeln!(f, "the database and the servers' logs are kept in `{}`", kept.display())?;
        }
        writeln!(f, "result: {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}
