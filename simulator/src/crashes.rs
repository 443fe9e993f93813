//! Measurement E: crash safety under a mixed load. `em-api serve` runs as a separate process
//! ([`crate::process`]) on the real clock over a SurrealKV folder with durable commits, and is
//! killed with SIGKILL `cycles` times in a row while clients make a mixed load; each time it is
//! started again on the same folder. With [`Restarted::Database`], `em-api` stays up over a
//! SurrealDB server (`surreal`, another process, on SurrealKV) and the database server is the one
//! killed and started again, under the replica.
//!
//! The load, each client drawing its next step from a seeded generator:
//! - a requestor requests the approval package (acknowledged: the request is pending);
//! - the approver approves a pending request (acknowledged: delivered);
//! - a requestor requests the cycle's day pass, which ends three quarters into the cycle's load
//!   (acknowledged: delivered, with a due timer that ends it; after its end, delivery failed);
//! - the administrator moves a user between the auto-assignment policy's department and another
//!   (acknowledged: the user's department; the policy assigns users of its department).
//!
//! Each requestor requests once, so an operation answered with a transport or internal error
//! ("unanswered": committed or not) is told apart from every acknowledged one. An administrator
//! subscribed to `events` records each cursor, and after a restart resumes from the last one.
//!
//! At the end, on the last server: every acknowledged request and decision is stored as
//! acknowledged (lost: 0), no one holds a package twice (doubled: 0), every moved user's
//! department is the last acknowledged one, the users of the policy's department hold its
//! package, every due day pass has ended within [`LATE`] of its end or of the restart that
//! followed it, and the subscriber's events equal a replay of the log over the same span (no gap,
//! no duplicate).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use em_api::auth::{AuthSettings, Authenticator};
use serde_json::{Value, json};

use crate::client::{Graphql, Refused, Subscriber, text};
use crate::directory::{self, ADMIN, Sizes};
use crate::process::{Program, Server, free_port};

use crate::rng::Rng;
use crate::setup;

/// How long after its end (or after the restart that followed it) a day pass may still be active.
pub const LATE: Duration = Duration::from_secs(3);
/// How long a day pass lasts after its cycle began: three quarters of the cycle's load, at
/// least a second.
fn pass_length(options: &Options) -> Duration {
    (options.load * 3 / 4).max(Duration::from_secs(1))
}
/// The department the auto-assignment policy assigns, and the one users move to from it.
const IN: &str = "Crash Sales";
const OUT: &str = "Crash Operations";

const SUBMIT: &str = "mutation($input: CreateAssignmentRequestInput!) {
    createAssignmentRequest(input: $input) { assignmentRequest { id state } } }";
const DECIDE: &str = "mutation($input: UpdateApprovalStageInput!) {
    updateApprovalStage(input: $input) { assignmentRequest { id state } } }";
const MOVE: &str =
    "mutation($u: ID!, $d: String!) { updateUser(input: {id: $u, department: $d}) { user { id } } }";

/// Which process is killed.
#[derive(Debug, Clone)]
pub enum Restarted {
    /// `em-api`, on embedded SurrealKV.
    Api,
    /// The SurrealDB server (`surreal` at this path) under a running `em-api`.
    Database(PathBuf),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub program: Program,
    pub restarted: Restarted,
    pub cycles: usize,
    /// How long clients load the server in a cycle; the kill comes in its second half.
    pub load: Duration,
    pub clients: usize,
    /// Requestors in the directory (each requests once).
    pub users: usize,
    /// Users the administrator moves between departments.
    pub movers: usize,
    pub seed: u64,
    pub data_parent: Option<PathBuf>,
}

/// What one kind of operation came to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub acknowledged: usize,
    /// Transport or internal errors: committed or not.
    pub unanswered: usize,
    /// Refused with a code (nothing done).
    pub refused: usize,
}

/// The figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub options: Options,
    pub requests: Tally,
    pub approvals: Tally,
    pub passes: Tally,
    pub moves: Tally,
    /// Refusals by code, with one message.
    pub refusals: BTreeMap<String, (usize, String)>,
    /// From each kill to the restarted server's first healthy answer.
    pub restarts: Vec<Duration>,
    /// Acknowledged requests or decisions not stored as acknowledged.
    pub lost: Vec<String>,
    /// (user, package) pairs with more than one request or assignment.
    pub doubled: Vec<String>,
    /// Moved users whose department is not the last acknowledged one.
    pub wrong_department: Vec<String>,
    /// Users of the policy's department (acknowledged last) without its package.
    pub not_auto_assigned: Vec<String>,
    /// Day passes due by the end, how many ended, and the latest ending after its due time (or
    /// after the restart that followed it).
    pub passes_due: usize,
    pub passes_ended: usize,
    pub latest_end: Duration,
    /// Passes that ended later than [`LATE`] after their due time or restart, or not at all.
    pub late: Vec<String>,
    /// Events the subscriber received, the times it resumed, and what a replay disagreed on.
    pub events: usize,
    pub resumed: usize,
    pub missed: usize,
    pub duplicated: usize,
    /// The data folder and logs, kept when the run failed.
    pub kept: Option<PathBuf>,
}

impl Report {
    /// Nothing acknowledged lost, nothing doubled, every timer on time, no gap.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.doubled.is_empty()
            && self.wrong_department.is_empty()
            && self.not_auto_assigned.is_empty()
            && self.late.is_empty()
            && self.missed == 0
            && self.duplicated == 0
    }
}

/// Runs the measurement; deletes the data folder unless it failed.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.cycles > 0 && options.clients > 0, "give at least one cycle and one client");
    anyhow::ensure!(options.movers > 0 && options.users > 0, "give requestors and movers");
    let folder = match &options.data_parent {
        Some(parent) => tempfile::Builder::new().prefix("em-crashes-").tempdir_in(parent),
        None => tempfile::Builder::new().prefix("em-crashes-").tempdir(),
    }
    .context("cannot create the data folder")?;
    match measure(&options, folder.path()).await {
        Ok(report) if report.passed() => {
            folder.close().context("cannot delete the data folder")?;
            Ok(report)
        }
        Ok(report) => Ok(Report { kept: Some(folder.keep()), ..report }),
        Err(e) => {
            let kept = folder.keep();
            Err(e.context(format!("the data and the logs are in `{}`", kept.display())))
        }
    }
}

/// The processes of a run.
struct Processes {
    options: Options,
    folder: PathBuf,
    db: String,
    env: Vec<(String, String)>,
    api: Option<Server>,
    database: Option<Database>,
    started: usize,
}

/// A SurrealDB server process on a fixed port, killed when dropped.
struct Database {
    child: std::process::Child,
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Processes {
    fn base(&self) -> &str {
        self.api.as_ref().map_or("", |s| s.base.as_str())
    }

    async fn start_database(&mut self, port: u16) -> anyhow::Result<()> {
        let Restarted::Database(surreal) = &self.options.restarted else { return Ok(()) };
        self.started += 1;
        let log = std::fs::File::create(self.folder.join(format!("surreal-{}.log", self.started)))?;
        let child = std::process::Command::new(surreal)
            .args(["start", "--bind", &format!("127.0.0.1:{port}"), "--user", "root", "--pass", "root"])
            .arg(format!("surrealkv://{}", self.folder.join("surreal").display()))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start `{}`", surreal.display()))?;
        self.database = Some(Database { child });
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "the SurrealDB server did not listen within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn start_api(&mut self) -> anyhow::Result<()> {
        self.started += 1;
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let log = self.folder.join(format!("em-api-{}.log", self.started));
        self.api = Some(self.options.program.serve(&self.db, &["--rate-limit", "0"], &env, &log).await?);
        Ok(())
    }

    /// Kills what this run restarts, with SIGKILL.
    fn kill(&mut self) -> anyhow::Result<()> {
        match self.options.restarted {
            Restarted::Api => {
                if let Some(api) = self.api.take() {
                    api.kill()?;
                }
            }
            Restarted::Database(_) => {
                if let Some(mut database) = self.database.take() {
                    database.child.kill().context("cannot kill the SurrealDB server")?;
                    database.child.wait()?;
                }
            }
        }
        Ok(())
    }

    /// Starts again what was killed; returns when it serves (for the database: when `em-api`
    /// answers `/healthz` again).
    async fn restart(&mut self, port: u16) -> anyhow::Result<()> {
        match self.options.restarted {
            Restarted::Api => self.start_api().await,
            Restarted::Database(_) => {
                self.start_database(port).await?;
                let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let answer = http.get(format!("{}/readyz", self.base())).send().await;
                    if answer.is_ok_and(|r| r.status().is_success()) {
                        return Ok(());
                    }
                    anyhow::ensure!(Instant::now() < deadline, "em-api did not answer /readyz within 60 s");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// What the clients share.
#[derive(Default)]
struct Shared {
    next_requestor: AtomicUsize,
    /// Acknowledged pending requests, for the approver.
    pending: Mutex<Vec<String>>,
    /// Acknowledged requests (id → the state acknowledged).
    acknowledged: Mutex<HashMap<String, String>>,
    /// Day passes acknowledged: request id → due.
    passes: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Moved users: the last acknowledged department, or none once a move went unanswered.
    moved: Mutex<HashMap<String, Option<String>>>,
    tallies: Mutex<[Tally; 4]>,
    /// Clients that saw the server gone in this cycle.
    gone: Mutex<HashSet<usize>>,
    refusals: Mutex<BTreeMap<String, (usize, String)>>,
}

#[derive(Clone, Copy)]
enum Step {
    Request = 0,
    Approve = 1,
    Pass = 2,
    Move = 3,
}

impl Shared {
    /// Counts what `step` came to; an answer that says the server or its database is gone
    /// (unanswered, or `UNAVAILABLE`) also ends the client's cycle, through `gone`.
    fn count(&self, client: usize, step: Step, outcome: &Result<Value, Refused>) -> Answer {
        if let Err(e) = outcome
            && (matches!(e.code.as_str(), "TRANSPORT" | "INTERNAL" | "TIMEOUT" | "UNAVAILABLE")
                || e.code.starts_with("HTTP 5"))
        {
            lock(&self.gone).insert(client);
        }
        let answer = match outcome {
            Ok(_) => Answer::Acknowledged,
            Err(e)
                if matches!(e.code.as_str(), "TRANSPORT" | "INTERNAL" | "TIMEOUT")
                    || e.code.starts_with("HTTP 5") =>
            {
                Answer::Unanswered
            }
            Err(e) => {
                let mut refusals = self.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                refusals.entry(e.code.clone()).or_insert((0, e.message.clone())).0 += 1;
                Answer::Refused
            }
        };
        let mut tallies = self.tallies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tally = &mut tallies[step as usize];
        match answer {
            Answer::Acknowledged => tally.acknowledged += 1,
            Answer::Unanswered => tally.unanswered += 1,
            Answer::Refused => tally.refused += 1,
        }
        answer
    }
}

#[derive(PartialEq, Eq)]
enum Answer {
    Acknowledged,
    Unanswered,
    Refused,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn measure(options: &Options, folder: &Path) -> anyhow::Result<Report> {
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let minter = Authenticator::new(AuthSettings {
        hs256_secret: Some(secret.clone()),
        jwks: None,
        issuer: "em-api".into(),
        audience: "em-api".into(),
        partners: Vec::new(),
    })?;
    let ttl = 24 * 3600;
    let token = |user: &str| minter.mint(user, chrono::Utc::now().timestamp(), ttl);
    let admin = token(ADMIN)?;
    let approver = directory::first_approver(0);
    let approver_token = token(&approver)?;
    let sizes = Sizes { requestors: options.users + options.movers, first_approvers: 1, ..Sizes::default() };
    let file = folder.join("directory.json");
    std::fs::write(&file, directory::directory(sizes).to_string()).context("writing the directory file")?;

    let db_port = free_port()?;
    let db = match options.restarted {
        Restarted::Api => format!("surrealkv://{}", folder.join("db").display()),
        Restarted::Database(_) => format!("ws://127.0.0.1:{db_port}"),
    };
    let mut env = vec![("EM_AUTH_SECRET".to_owned(), secret.clone())];
    if matches!(options.restarted, Restarted::Database(_)) {
        env.push(("EM_DB_USER".into(), "root".into()));
        env.push(("EM_DB_PASS".into(), "root".into()));
    }
    let mut processes = Processes {
        options: options.clone(),
        folder: folder.to_owned(),
        db: db.clone(),
        env,
        api: None,
        database: None,
        started: 0,
    };
    processes.start_database(db_port).await?;
    let env: Vec<(&str, &str)> = processes.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    options.program.import_with(&db, &file, &env).await.context("importing the directory")?;
    processes.start_api().await.context("starting em-api")?;
    let mut api = Graphql::new(processes.base())?;

    // The set-up: a catalog with the group, the approval package, the auto-assignment package.
    let (catalog, resource) = setup::catalog_with_group(&api, &admin, "Crashes", false).await?;
    let approval =
        setup::package(&api, &admin, &catalog, &resource, "Approved", one_stage(&approver)).await?;
    let auto = setup::package(&api, &admin, &catalog, &resource, "Automatic", automatic()).await?;

    let shared = Arc::new(Shared::default());
    let movers: Vec<String> = (0..options.movers).map(|i| directory::requestor(options.users + i)).collect();
    let tokens: Arc<Vec<String>> =
        Arc::new((0..options.users).map(|i| token(&directory::requestor(i))).collect::<Result<_, _>>()?);

    // The subscriber, from now on; it resumes after each restart from its last cursor.
    let received: Arc<Mutex<Vec<u128>>> = Arc::default();
    let mut subscriber = Some(subscribe(processes.base(), &admin, None, Arc::clone(&received)).await?);
    let mut resumed = 0;

    let mut rng = Rng::seeded(options.seed);
    let mut restarts = Vec::new();
    // When each server start (or database restart) served again, to judge timers due while down.
    let mut served_again: Vec<DateTime<Utc>> = Vec::new();
    let mut passes: Vec<setup::Package> = Vec::new();
    for cycle in 0..=options.cycles {
        // A day pass per cycle, ending three quarters into the cycle's load: some come due
        // before the kill, some while the server is down, some after the restart.
        let end = Utc::now() + chrono::Duration::from_std(pass_length(options))?;
        let pass =
            setup::package(&api, &admin, &catalog, &resource, &format!("Day pass {cycle}"), day_pass(end))
                .await
                .with_context(|| format!("cycle {cycle}: the day pass"))?;
        passes.push(pass.clone());
        if cycle == options.cycles {
            break;
        }
        lock(&shared.gone).clear();
        let load = load(
            &api,
            options,
            &shared,
            &tokens,
            &admin,
            &approver_token,
            &approval.id,
            &pass.id,
            end,
            &movers,
            rng.next_u64(),
        );
        let kill_after = options.load / 2
            + Duration::from_millis(rng.next_u64() % (options.load.as_millis() as u64 / 2 + 1));
        let clients = tokio::spawn(load);
        tokio::time::sleep(kill_after).await;
        processes.kill().with_context(|| format!("cycle {cycle}: the kill"))?;
        tracing::info!(cycle, after = ?kill_after, "killed");
        let killed = Instant::now();
        // The clients see the server gone (or 503s) and stop at the end of the cycle's load.
        clients.await?;
        processes.restart(db_port).await.with_context(|| format!("cycle {cycle}: the restart"))?;
        restarts.push(killed.elapsed());
        served_again.push(Utc::now());
        api = Graphql::new(processes.base())?;
        // The subscriber's socket died with the server (or its stream ended with the database):
        // it resumes from the last cursor it received.
        if let Some(old) = subscriber.take() {
            close(old).await;
        }
        let last = lock(&received).last().copied();
        subscriber = Some(subscribe(processes.base(), &admin, last, Arc::clone(&received)).await?);
        resumed += 1;
    }

    // Every pass's end has passed, and the runner has had its tick.
    let last_end = Utc::now() + chrono::Duration::from_std(pass_length(options))?;
    let wait = (last_end - Utc::now()).to_std().unwrap_or_default() + LATE;
    tokio::time::sleep(wait).await;
    // The last commits reach the subscriber.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tracing::info!("closing the subscriber");
    if let Some(subscriber) = subscriber.take() {
        close(subscriber).await;
    }

    let tallies = *lock(&shared.tallies);
    let mut report = Report {
        options: options.clone(),
        requests: tallies[Step::Request as usize],
        approvals: tallies[Step::Approve as usize],
        passes: tallies[Step::Pass as usize],
        moves: tallies[Step::Move as usize],
        refusals: lock(&shared.refusals).clone(),
        restarts,
        lost: Vec::new(),
        doubled: Vec::new(),
        wrong_department: Vec::new(),
        not_auto_assigned: Vec::new(),
        passes_due: 0,
        passes_ended: 0,
        latest_end: Duration::ZERO,
        late: Vec::new(),
        events: 0,
        resumed,
        missed: 0,
        duplicated: 0,
        kept: None,
    };
    tracing::info!("checking what was stored");
    check_requests(&api, &admin, &shared, &approval.id, &passes, &mut report).await?;
    tracing::info!("checking the directory");
    check_people(&api, &admin, &shared, &auto.id, &mut report).await?;
    tracing::info!("checking the timers");
    check_passes(&api, &admin, &passes, &served_again, &mut report).await?;
    tracing::info!("checking the feed");
    let received = lock(&received).clone();
    check_feed(processes.base(), &admin, &received, &mut report).await?;
    Ok(report)
}

/// The clients' load for one cycle: each runs steps until the cycle's load time has passed.
#[allow(clippy::too_many_arguments)]
fn load(
    api: &Graphql,
    options: &Options,
    shared: &Arc<Shared>,
    tokens: &Arc<Vec<String>>,
    admin: &str,
    approver: &str,
    approval: &str,
    pass: &str,
    end: DateTime<Utc>,
    movers: &[String],
    seed: u64,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let deadline = Instant::now() + options.load;
    let clients: Vec<_> = (0..options.clients)
        .map(|k| {
            let (api, shared, tokens) = (api.clone(), Arc::clone(shared), Arc::clone(tokens));
            let (admin, approver, approval, pass) =
                (admin.to_owned(), approver.to_owned(), approval.to_owned(), pass.to_owned());
            // Each client moves users of its own, so a user's moves are acknowledged in the
            // order they commit.
            let movers: Vec<String> = movers.iter().skip(k).step_by(options.clients).cloned().collect();
            let mut rng = Rng::seeded(seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            async move {
                while Instant::now() < deadline && !gone(&shared, k) {
                    match rng.below(8) {
                        0..=2 => {
                            let Some(i) = next_requestor(&shared, &tokens) else { break };
                            let outcome = api
                                .execute(&tokens[i], SUBMIT, json!({ "input": { "accessPackageId": approval, "justification": "crash test" } }))
                                .await;
                            if shared.count(k, Step::Request, &outcome) == Answer::Acknowledged
                                && let Ok(data) = &outcome
                            {
                                let id = text(data, "/createAssignmentRequest/assignmentRequest/id").to_owned();
                                let state = text(data, "/createAssignmentRequest/assignmentRequest/state").to_owned();
                                if state == "pendingApproval" {
                                    lock(&shared.pending).push(id.clone());
                                }
                                lock(&shared.acknowledged).insert(id, state);
                            }
                        }
                        3..=4 => {
                            let Some(id) = lock(&shared.pending).pop() else { continue };
                            let outcome = api
                                .execute(&approver, DECIDE, json!({ "input": { "approvalId": id, "reviewResult": "Approve", "justification": "ok" } }))
                                .await;
                            match shared.count(k, Step::Approve, &outcome) {
                                Answer::Acknowledged => {
                                    let state = outcome
                                        .as_ref()
                                        .map(|d| text(d, "/updateApprovalStage/assignmentRequest/state").to_owned())
                                        .unwrap_or_default();
                                    lock(&shared.acknowledged).insert(id, state);
                                }
                                // Decided or not: checked as pending-or-delivered.
                                Answer::Unanswered => {
                                    lock(&shared.acknowledged).insert(id, "pendingApproval|delivered".into());
                                }
                                Answer::Refused => lock(&shared.pending).push(id),
                            }
                        }
                        5 => {
                            let Some(i) = next_requestor(&shared, &tokens) else { break };
                            let outcome = api
                                .execute(&tokens[i], SUBMIT, json!({ "input": { "accessPackageId": pass } }))
                                .await;
                            if shared.count(k, Step::Pass, &outcome) == Answer::Acknowledged
                                && let Ok(data) = &outcome
                            {
                                let id = text(data, "/createAssignmentRequest/assignmentRequest/id").to_owned();
                                // A pass requested after its end fails delivery: acknowledged as such.
                                let state = text(data, "/createAssignmentRequest/assignmentRequest/state").to_owned();
                                if state == "delivered" {
                                    lock(&shared.passes).insert(id.clone(), end);
                                }
                                lock(&shared.acknowledged).insert(id, state);
                            }
                        }
                        _ => {
                            if movers.is_empty() {
                                continue;
                            }
                            let user = &movers[rng.below(movers.len())];
                            let department = if rng.below(2) == 0 { IN } else { OUT };
                            let outcome = api.execute(&admin, MOVE, json!({ "u": user, "d": department })).await;
                            let answer = shared.count(k, Step::Move, &outcome);
                            let mut moved = lock(&shared.moved);
                            match answer {
                                Answer::Acknowledged => {
                                    // Unless an earlier move went unanswered: then it is unknown.
                                    let known = moved.get(user).is_none_or(Option::is_some);
                                    if known {
                                        moved.insert(user.clone(), Some(department.to_owned()));
                                    }
                                }
                                Answer::Unanswered => {
                                    moved.insert(user.clone(), None);
                                }
                                Answer::Refused => {}
                            }
                        }
                    }
                }
            }
        })
        .collect();
    async move {
        futures::future::join_all(clients).await;
    }
}

/// Whether the server answered this client's last step as a server gone away would (the rest
/// of its cycle waits for the restart).
fn gone(shared: &Shared, client: usize) -> bool {
    lock(&shared.gone).contains(&client)
}

fn next_requestor(shared: &Shared, tokens: &[String]) -> Option<usize> {
    let i = shared.next_requestor.fetch_add(1, Ordering::Relaxed);
    (i < tokens.len()).then_some(i)
}

fn one_stage(approver: &str) -> Value {
    json!({
        "displayName": "Approved by one",
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
            {"durationBeforeAutomaticDenial": "P14D", "primaryApprovers": [{"type": "singleUser", "userId": approver}]}]}
    })
}

fn day_pass(end: DateTime<Utc>) -> Value {
    json!({
        "displayName": "Day pass",
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": false},
        "expiration": {"type": "afterDateTime", "endDateTime": end.to_rfc3339()}
    })
}

fn automatic() -> Value {
    json!({
        "displayName": "Department",
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "attributeRuleMembers", "membershipRule": format!("user.department -eq \"{IN}\"")}],
        "automaticRequestSettings": {"requestAccessForAllowedTargets": true,
                                     "removeAccessWhenTargetLeavesAllowedTargets": false}
    })
}

/// Closes a subscriber's socket, giving up on a reader that does not end within a second.
async fn close(subscriber: Subscriber) {
    if tokio::time::timeout(Duration::from_secs(1), subscriber.close()).await.is_err() {
        tracing::debug!("a subscriber did not close within a second");
    }
}

async fn subscribe(
    base: &str,
    admin: &str,
    after: Option<u128>,
    into: Arc<Mutex<Vec<u128>>>,
) -> anyhow::Result<Subscriber> {
    let after = after.map_or(String::new(), |c| format!("(after: \"{c}\")"));
    let query = format!("subscription {{ events{after} {{ cursor }} }}");
    Subscriber::listen(base, admin, &query, move |_, data| {
        if let Some(cursor) = data["events"]["cursor"].as_str().and_then(|c| c.parse().ok()) {
            lock(&into).push(cursor);
        }
    })
    .await
}

/// Every page of a connection: `query` takes `$after` and selects `nodes` and `pageInfo`
/// under `field`.
async fn all_nodes(
    api: &Graphql,
    admin: &str,
    query: &str,
    field: &str,
    mut variables: Value,
) -> anyhow::Result<Vec<Value>> {
    let mut nodes = Vec::new();
    loop {
        let data = api
            .execute(admin, query, variables.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{field}: {e}"))?;
        let page = &data[field];
        nodes.extend(page["nodes"].as_array().cloned().unwrap_or_default());
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return Ok(nodes);
        }
        variables["after"] = page["pageInfo"]["endCursor"].clone();
    }
}

async fn check_requests(
    api: &Graphql,
    admin: &str,
    shared: &Shared,
    approval: &str,
    passes: &[setup::Package],
    report: &mut Report,
) -> anyhow::Result<()> {
    let requests = "query($p: ID!, $after: String) { assignmentRequests(filter: {accessPackageId: $p}, first: 500, after: $after) {
        nodes { id state target { id } } pageInfo { hasNextPage endCursor } } }";
    let assignments = "query($p: ID!, $after: String) { assignments(filter: {accessPackageId: $p, activeOnly: false}, first: 500, after: $after) {
        nodes { id state target { id } } pageInfo { hasNextPage endCursor } } }";
    let mut stored: HashMap<String, String> = HashMap::new();
    for package in std::iter::once(approval).chain(passes.iter().map(|p| p.id.as_str())) {
        let mut per_target: HashMap<String, usize> = HashMap::new();
        for node in all_nodes(api, admin, requests, "assignmentRequests", json!({ "p": package })).await? {
            stored.insert(text(&node, "/id").to_owned(), text(&node, "/state").to_owned());
            *per_target.entry(text(&node, "/target/id").to_owned()).or_default() += 1;
        }
        let mut held: HashMap<String, usize> = HashMap::new();
        for node in all_nodes(api, admin, assignments, "assignments", json!({ "p": package })).await? {
            *held.entry(text(&node, "/target/id").to_owned()).or_default() += 1;
        }
        for (target, n) in per_target.iter().chain(held.iter()) {
            if *n > 1 {
                report.doubled.push(format!("{target} in {package}: {n}"));
            }
        }
    }
    for (id, acknowledged) in lock(&shared.acknowledged).iter() {
        let ok = match stored.get(id) {
            None => false,
            // A day pass may have ended since.
            Some(state) => {
                acknowledged.split('|').any(|s| s == state)
                    || (acknowledged == "delivered" && state == "expired")
            }
        };
        if !ok {
            report.lost.push(format!("{id}: acknowledged {acknowledged}, stored {:?}", stored.get(id)));
        }
    }
    Ok(())
}

async fn check_people(
    api: &Graphql,
    admin: &str,
    shared: &Shared,
    auto: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    let moved = lock(&shared.moved).clone();
    for (user, department) in moved {
        let Some(department) = department else { continue };
        let data = api
            .execute(
                admin,
                "query($u: ID!, $p: ID!) { user(id: $u) { department }
                   assignments(filter: {targetId: $u, accessPackageId: $p}) { totalCount } }",
                json!({ "u": user, "p": auto }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("reading {user}: {e}"))?;
        if text(&data, "/user/department") != department {
            report
                .wrong_department
                .push(format!("{user}: {} (acknowledged {department})", text(&data, "/user/department")));
        }
        if department == IN && data["assignments"]["totalCount"] != json!(1) {
            report.not_auto_assigned.push(user);
        }
    }
    Ok(())
}

async fn check_passes(
    api: &Graphql,
    admin: &str,
    passes: &[setup::Package],
    served_again: &[DateTime<Utc>],
    report: &mut Report,
) -> anyhow::Result<()> {
    let query = "query($p: ID!, $after: String) { assignments(filter: {accessPackageId: $p, activeOnly: false}, first: 500, after: $after) {
        nodes { id state schedule { expiration { endDateTime } } } pageInfo { hasNextPage endCursor } } }";
    let ended = "query($p: ID!, $after: String) { auditEvents(filter: {accessPackageId: $p, kind: \"assignment.stateChanged\"}, first: 500, after: $after) {
        nodes { subjectId occurredDateTime } pageInfo { hasNextPage endCursor } } }";
    let now = Utc::now();
    for package in passes {
        let ends: HashMap<String, DateTime<Utc>> =
            all_nodes(api, admin, ended, "auditEvents", json!({ "p": package.id }))
                .await?
                .iter()
                .filter_map(|n| {
                    Some((text(n, "/subjectId").to_owned(), text(n, "/occurredDateTime").parse().ok()?))
                })
                .collect();
        for node in all_nodes(api, admin, query, "assignments", json!({ "p": package.id })).await? {
            let Ok(due) = text(&node, "/schedule/expiration/endDateTime").parse::<DateTime<Utc>>() else {
                continue;
            };
            if due > now - chrono::Duration::from_std(LATE)? {
                continue;
            }
            // Global ids are `<Type>:<id>`; the audit trail names the bare id.
            let global = text(&node, "/id");
            let id = global.rsplit(':').next().unwrap_or(global).to_owned();
            report.passes_due += 1;
            // Due while the server was down: on time if it ended soon after it served again.
            let from = served_again
                .iter()
                .copied()
                .find(|at| *at >= due)
                .filter(|at| *at - due < chrono::Duration::seconds(60));
            let from = from.map_or(due, |at| at.max(due));
            match (text(&node, "/state"), ends.get(&id)) {
                ("expired", Some(at)) => {
                    report.passes_ended += 1;
                    let after = (*at - due).to_std().unwrap_or_default();
                    report.latest_end = report.latest_end.max(after);
                    if (*at - from).to_std().unwrap_or_default() > LATE && *at > from {
                        report.late.push(format!("{id}: due {due}, ended {at}"));
                    }
                }
                (state, _) => report.late.push(format!("{id}: due {due}, still {state}")),
            }
        }
    }
    Ok(())
}

/// The subscriber's cursors against a replay of the log over the same span.
async fn check_feed(base: &str, admin: &str, received: &[u128], report: &mut Report) -> anyhow::Result<()> {
    report.events = received.len();
    let (Some(&first), Some(&last)) = (received.first(), received.last()) else { return Ok(()) };
    let unique: HashSet<u128> = received.iter().copied().collect();
    report.duplicated = received.len() - unique.len();
    let replayed: Arc<Mutex<Vec<u128>>> = Arc::default();
    let replay = subscribe(base, admin, Some(first - 1), Arc::clone(&replayed)).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while lock(&replayed).last().is_none_or(|&at| at < last) {
        anyhow::ensure!(Instant::now() < deadline, "the replay did not reach the subscriber's last cursor");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    close(replay).await;
    let replayed: Vec<u128> = lock(&replayed).iter().copied().filter(|&c| c <= last).collect();
    let replayed_set: HashSet<u128> = replayed.iter().copied().collect();
    report.missed = replayed_set.difference(&unique).count();
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let what = match &o.restarted {
            Restarted::Api => "em-api killed (SIGKILL) and restarted, embedded SurrealKV",
            Restarted::Database(_) => "the SurrealDB server killed (SIGKILL) and restarted under em-api",
        };
        writeln!(f, "== crashes: {what} ==")?;
        writeln!(
            f,
            "cycles: {}, each {:?} of load by {} clients (killed in its second half); {} requestors, {} moved users; seed {}",
            o.cycles, o.load, o.clients, o.users, o.movers, o.seed
        )?;
        let restarts: Vec<String> = self.restarts.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect();
        writeln!(f, "back after each kill (s): {}", restarts.join(" "))?;
        writeln!(f, "{:<34} {:>12} {:>11} {:>8}", "", "acknowledged", "unanswered", "refused")?;
        for (name, t) in [
            ("requests (approval package)", self.requests),
            ("approvals", self.approvals),
            ("requests (day passes)", self.passes),
            ("directory moves (auto-assignment)", self.moves),
        ] {
            writeln!(f, "{name:<34} {:>12} {:>11} {:>8}", t.acknowledged, t.unanswered, t.refused)?;
        }
        for (code, (n, message)) in &self.refusals {
            writeln!(f, "  refused {n} x {code}: {message}")?;
        }
        writeln!(f, "lost (acknowledged, not stored as acknowledged): {}", self.lost.len())?;
        writeln!(f, "doubled (a package held or requested twice): {}", self.doubled.len())?;
        writeln!(
            f,
            "directory: wrong department {}; in the policy's department without its package {}",
            self.wrong_department.len(),
            self.not_auto_assigned.len()
        )?;
        writeln!(
            f,
            "timers: {} day passes due, {} ended, latest {:.2} s after its end; late (> {:?} after its end or the restart): {}",
            self.passes_due,
            self.passes_ended,
            self.latest_end.as_secs_f64(),
            LATE,
            self.late.len()
        )?;
        writeln!(
            f,
            "subscriber: {} events, resumed {} times from its cursor; missed {}, duplicated {}",
            self.events, self.resumed, self.missed, self.duplicated
        )?;
        for line in self
            .lost
            .iter()
            .chain(&self.doubled)
            .chain(&self.wrong_department)
            .chain(&self.not_auto_assigned)
            .chain(&self.late)
            .take(20)
        {
            writeln!(f, "  {line}")?;
        }
        if let Some(kept) = &self.kept {
            writeln!(f, "data and logs kept in {}", kept.display())?;
        }
        writeln!(f, "{}", if self.passed() { "PASSED" } else { "FAILED" })
    }
}
