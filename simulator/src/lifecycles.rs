//! Measurement A: complete request lifecycles per second.
//!
//! Each lifecycle is what Microsoft Entra's two-stage approval looks like from outside: a user
//! submits a `userAdd` request with a justification for a package whose policy has two
//! `singleUser` approval stages, the stage-1 approver approves, the stage-2 approver
//! approves, and the request comes back `delivered` with an assignment that delivered the
//! group's membership. `clients` clients run lifecycles back to back, each for a distinct
//! (user, package) pair drawn from a seeded shuffle, until `duration` has passed; every
//! lifecycle started finishes. Afterwards the group's member count is checked against the
//! lifecycles completed.
//!
//! With `external` > 0 the requestors are not in the directory: they are people of that many
//! connected partner organizations, each signing in for the first time with a token of their
//! own organization's identity provider, requesting through a policy for configured connected
//! organizations (agreeing to share their profile); the second approval delivers the access
//! to the guest invited for them in the same transaction. Afterwards the guests are counted.
//!
//! With `extension_at_granted`, the catalog has a request workflow extension calling a receiver
//! in this process ([`crate::receiver`]), and every policy calls it at `assignmentRequestGranted`:
//! each lifecycle's delivery makes one signed call, sent after its commit. The receiver verifies
//! the signatures, drops repeats by id and times each call from the body's `time` (the change's
//! decision, just before its commit) to its arrival; after the run the command waits (at most
//! [`CALL_WAIT`]) for the last calls.
//!
//! With `profile` > 0 the command then runs that many lifecycles with one client and reads,
//! around each mutation, how many SurrealDB queries it ran and how long they took.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::client::{Graphql, Refused, text};
use crate::cpu;
use crate::directory::{self, ADMIN, GROUP, Sizes};
use crate::harness::{Harness, ServerOptions};
use crate::profile;
use crate::receiver::{Receiver, Tally};
use crate::rng::Rng;
use crate::setup;
use crate::stats::{Samples, Summary};

/// `createAssignmentRequest` as a requestor's client would send it.
pub const SUBMIT: &str = "mutation($input: CreateAssignmentRequestInput!) {
    createAssignmentRequest(input: $input) { assignmentRequest { id state status } } }";

/// `updateApprovalStage` as an approver's client would send it.
pub const DECIDE: &str = "mutation($input: UpdateApprovalStageInput!) {
    updateApprovalStage(input: $input) { assignmentRequest { id state status
      assignment { id state deliveredResourceRoles { type objectId } } } } }";

/// How long the command waits after the run for the calls of the last lifecycles.
pub const CALL_WAIT: Duration = Duration::from_secs(10);

/// The target for the calls: p99 from the decision to the call's arrival, in ms.
pub const CALL_P99_TARGET_MS: f64 = 50.0;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub server: ServerOptions,
    pub clients: usize,
    pub duration: Duration,
    /// Requestors in the directory; each does at most one lifecycle.
    pub users: usize,
    /// Access packages (each with its own two-stage policy, same approvers).
    pub packages: usize,
    pub seed: u64,
    /// Lifecycles run afterwards with one client to count queries per mutation.
    pub profile: usize,
    /// Catalogs of delegated administration made before the run, each with
    /// `roles_per_catalog` role assignments held by delegates (users who neither request nor
    /// approve): what authorization costs the request path.
    pub delegated_catalogs: usize,
    pub roles_per_catalog: usize,
    /// Connected organizations whose people request, each for the first time (0: the
    /// requestors are users of the directory).
    pub external: usize,
    /// Every policy calls a custom extension (a receiver in this process) when a request is
    /// granted.
    pub extension_at_granted: bool,
}

/// The three steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Submit,
    ApproveStage1,
    ApproveStage2,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Submit, Step::ApproveStage1, Step::ApproveStage2];

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Step::Submit => "createAssignmentRequest",
            Step::ApproveStage1 => "updateApprovalStage (stage 1)",
            Step::ApproveStage2 => "updateApprovalStage (stage 2 + delivery)",
        }
    }
}

/// What one mutation cost, from the profile run.
#[derive(Debug, Clone)]
pub struct StepProfile {
    pub step: Step,
    /// Median SurrealDB queries (`db.query` calls, a transaction counting once) per mutation.
    pub queries: u64,
    /// Wall time of the mutation over HTTP, with nothing else running.
    pub wall: Summary,
}

/// The figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub options: Options,
    pub db_url: String,
    pub import_time: Duration,
    pub setup_time: Duration,
    pub completed: usize,
    /// Failed lifecycles by the step that failed and the error code.
    pub failures: BTreeMap<(Step, String), (usize, String)>,
    pub elapsed: Duration,
    pub per_step: BTreeMap<Step, Summary>,
    pub lifecycle: Option<Summary>,
    /// Lifecycles completed in each second of the run.
    pub per_second: Vec<usize>,
    /// Whether the clients ran out of users before the duration passed.
    pub ran_out_of_users: bool,
    /// Members of the group afterwards (one per delivered lifecycle).
    pub group_members: u64,
    /// Guest users afterwards (one per delivered external lifecycle).
    pub guests: u64,
    /// CPU used during the timed run.
    pub cpu: Option<cpu::Usage>,
    /// What the extension's receiver saw of the timed run's calls (with `extension_at_granted`).
    pub calls: Option<Tally>,
    pub profile: Vec<StepProfile>,
}

impl Report {
    /// Completed lifecycles per second over the whole run.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

struct Plan {
    user: String,
    token: String,
    package: String,
}

#[derive(Default)]
struct Outcome {
    steps: BTreeMap<Step, Samples>,
    lifecycle: Samples,
    /// When each completed lifecycle finished, from the start of the run.
    finished: Vec<Duration>,
    failures: Vec<(Step, Refused)>,
}

/// Runs the measurement on a fresh server and stops it.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.clients > 0 && options.packages > 0, "give at least one client and one package");
    let first = directory::first_approver(0);
    let second = directory::second_approver(0);
    let sizes = Sizes {
        requestors: options.users,
        first_approvers: 1,
        second_approvers: 1,
        delegates: options.delegated_catalogs * options.roles_per_catalog,
        managers: 0,
    };
    let receiver = if options.extension_at_granted {
        Some(Receiver::start(0).await.context("starting the extension's receiver")?)
    } else {
        None
    };
    let server = ServerOptions {
        loopback_extensions: options.server.loopback_extensions || options.extension_at_granted,
        ..options.server.clone()
    };
    let harness = Harness::start(&server, &directory::directory(sizes)).await?;
    let (db_url, harness_import) = (harness.db_url.clone(), harness.import_time);
    let outcome = measure(&harness, &options, &first, &second, receiver.as_ref()).await;
    harness.stop().await?;
    if let Some(receiver) = receiver {
        receiver.stop().await?;
    }
    let measured = outcome?;
    let mut per_step = BTreeMap::new();
    let mut lifecycle = Samples::default();
    let mut failures: BTreeMap<(Step, String), (usize, String)> = BTreeMap::new();
    let mut finished = Vec::new();
    for o in &measured.outcomes {
        for (step, samples) in &o.steps {
            per_step.entry(*step).or_insert_with(Samples::default).extend(samples);
        }
        lifecycle.extend(&o.lifecycle);
        finished.extend(o.finished.iter().copied());
        for (step, refused) in &o.failures {
            let entry = failures.entry((*step, refused.code.clone())).or_insert((0, refused.message.clone()));
            entry.0 += 1;
        }
    }
    let elapsed = finished.iter().copied().max().unwrap_or_default();
    let mut per_second = vec![0; elapsed.as_secs() as usize + 1];
    for at in &finished {
        per_second[at.as_secs() as usize] += 1;
    }
    Ok(Report {
        db_url,
        import_time: harness_import,
        setup_time: measured.setup_time,
        completed: finished.len(),
        failures,
        elapsed,
        per_step: per_step.into_iter().filter_map(|(k, v)| Some((k, v.summary()?))).collect(),
        lifecycle: lifecycle.summary(),
        per_second,
        ran_out_of_users: measured.ran_out_of_users,
        group_members: measured.group_members,
        guests: measured.guests,
        profile: measured.profile,
        cpu: measured.cpu,
        calls: measured.calls,
        options,
    })
}

struct Measured {
    setup_time: Duration,
    ran_out_of_users: bool,
    outcomes: Vec<Outcome>,
    group_members: u64,
    guests: u64,
    profile: Vec<StepProfile>,
    cpu: Option<cpu::Usage>,
    calls: Option<Tally>,
}

async fn measure(
    harness: &Harness,
    options: &Options,
    first: &str,
    second: &str,
    receiver: Option<&Receiver>,
) -> anyhow::Result<Measured> {
    let api = Graphql::new(&harness.base)?;
    let ttl = options.duration + Duration::from_secs(3600);
    let admin = harness.token(ADMIN, ttl)?;
    let external = options.external > 0;
    let built = setup::two_stage_packages(
        &api,
        &admin,
        options.packages,
        |_| (first.to_owned(), second.to_owned()),
        external,
        receiver.map(|r| r.url.as_str()),
    )
    .await
    .context("setting up the catalog, packages and policies")?;
    if let (Some(receiver), Some(extension)) = (receiver, &built.extension) {
        receiver.trust(&extension.secret)?;
    }
    let connected = setup::connected_organizations(&api, &admin, options.external)
        .await
        .context("connecting the partner organizations")?;
    let delegated =
        setup::delegated_catalogs(&api, &admin, options.delegated_catalogs, options.roles_per_catalog)
            .await
            .context("setting up the delegated catalogs")?;
    tracing::info!(packages = built.packages.len(), time = ?(built.time + delegated + connected), "setup done");

    // Who requests which package, in which order: a seeded shuffle of the users, each with a
    // package drawn at random. Tokens are minted before the clock starts.
    let mut rng = Rng::seeded(options.seed);
    let mut users: Vec<usize> = (0..options.users).collect();
    rng.shuffle(&mut users);
    let mut plans = Vec::with_capacity(users.len());
    for i in users {
        let (user, token) = if external {
            let k = i % options.external;
            let (oid, email) =
                (format!("contractor-{i:06}"), format!("contractor{i}@{}", directory::partner_domain(k)));
            let token = harness.partner_token(
                &directory::partner_tenant(k),
                &oid,
                &email,
                &format!("Contractor {i}"),
                ttl,
            )?;
            (email, token)
        } else {
            let user = directory::requestor(i);
            let token = harness.token(&user, ttl)?;
            (user, token)
        };
        let package = built.packages[rng.below(built.packages.len())].clone();
        plans.push(Plan { user, token, package });
    }
    // The profile takes its users from the end of the plan.
    let profile_plans = plans.split_off(plans.len().saturating_sub(options.profile));
    let plans = Arc::new(plans);
    let approvers = Arc::new((harness.token(first, ttl)?, harness.token(second, ttl)?));

    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu::Reading::now();
    let started = Instant::now();
    let deadline = started + options.duration;
    // With replicas, each client's steps take turns over them: every lifecycle crosses them.
    let replicas: Vec<Graphql> =
        harness.bases.iter().map(|b| Graphql::new(b)).collect::<anyhow::Result<_>>()?;
    let mut clients = Vec::new();
    for k in 0..options.clients {
        let apis = [0, 1, 2].map(|step| replicas[(k + step) % replicas.len()].clone());
        let (plans, approvers, next) = (Arc::clone(&plans), Arc::clone(&approvers), Arc::clone(&next));
        clients.push(tokio::spawn(async move {
            let mut outcome = Outcome::default();
            while Instant::now() < deadline {
                let Some(plan) = plans.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                let began = Instant::now();
                let apis = [&apis[0], &apis[1], &apis[2]];
                match lifecycle(apis, plan, &approvers.0, &approvers.1, &mut outcome.steps).await {
                    Ok(()) => {
                        outcome.lifecycle.push(began.elapsed());
                        outcome.finished.push(started.elapsed());
                    }
                    Err(failure) => {
                        tracing::debug!(user = %plan.user, step = ?failure.0, error = %failure.1, "lifecycle failed");
                        outcome.failures.push(failure);
                    }
                }
            }
            outcome
        }));
    }
    let mut outcomes = Vec::new();
    for client in clients {
        outcomes.push(client.await?);
    }
    let ran_out = next.load(Ordering::Relaxed) >= plans.len() && Instant::now() < deadline;
    let cpu = cpu_before.zip(cpu::Reading::now()).map(|(before, after)| after.since(&before));
    // Each delivered lifecycle calls once; the last calls leave after the last commits.
    let mut calls = None;
    if let Some(receiver) = receiver {
        let delivered: usize = outcomes.iter().map(|o| o.finished.len()).sum();
        if !receiver.wait_for(delivered, CALL_WAIT).await {
            tracing::warn!(delivered, "not every lifecycle's call arrived within {CALL_WAIT:?}");
        }
        calls = Some(receiver.tally());
    }

    let mut profile = Vec::new();
    if !profile_plans.is_empty() {
        profile = profile_steps(&api, &profile_plans, &approvers.0, &approvers.1).await?;
    }

    let data = api
        .execute(&admin, "query($g: ID!) { group(id: $g) { memberCount } }", json!({ "g": GROUP }))
        .await
        .context("reading the group's members")?;
    let members = data.pointer("/group/memberCount").and_then(Value::as_u64).unwrap_or(0);
    let data = api
        .execute(&admin, "{ users(filter: {userType: Guest}) { totalCount } }", json!({}))
        .await
        .context("counting the guests")?;
    let guests = data.pointer("/users/totalCount").and_then(Value::as_u64).unwrap_or(0);
    let profiled = u64::try_from(profile_plans.len()).unwrap_or(0);
    Ok(Measured {
        setup_time: built.time,
        ran_out_of_users: ran_out,
        outcomes,
        group_members: members.saturating_sub(profiled),
        guests: if external { guests.saturating_sub(profiled) } else { guests },
        profile,
        cpu,
        calls,
    })
}

/// One lifecycle; records each step's latency in `steps`.
/// One lifecycle: the submission through `apis[0]`, the approvals through `apis[1]` and
/// `apis[2]` (the same server, or replicas taking turns).
async fn lifecycle(
    apis: [&Graphql; 3],
    plan: &Plan,
    first: &str,
    second: &str,
    steps: &mut BTreeMap<Step, Samples>,
) -> Result<(), (Step, Refused)> {
    let mut timed = async |step: Step, token: &str, query: &str, variables: Value| {
        let api = match step {
            Step::Submit => apis[0],
            Step::ApproveStage1 => apis[1],
            Step::ApproveStage2 => apis[2],
        };
        let began = Instant::now();
        let data = api.execute(token, query, variables).await.map_err(|e| (step, e))?;
        steps.entry(step).or_default().push(began.elapsed());
        Ok::<Value, (Step, Refused)>(data)
    };
    let submitted = timed(Step::Submit, &plan.token, SUBMIT, submit_variables(plan)).await?;
    let request = &submitted["createAssignmentRequest"]["assignmentRequest"];
    expect(Step::Submit, request, "/state", "pendingApproval")?;
    let id = text(request, "/id").to_owned();
    let decided = timed(Step::ApproveStage1, first, DECIDE, approve(&id)).await?;
    expect(Step::ApproveStage1, &decided, "/updateApprovalStage/assignmentRequest/state", "pendingApproval")?;
    let decided = timed(Step::ApproveStage2, second, DECIDE, approve(&id)).await?;
    check_delivered(&decided).map_err(|e| (Step::ApproveStage2, e))
}

fn submit_variables(plan: &Plan) -> Value {
    json!({ "input": {
        "requestType": "userAdd",
        "accessPackageId": plan.package,
        "justification": format!("{} joins the simulation project", plan.user),
        // Asked of people from other organizations; ignored for users of the directory.
        "consentToShareProfile": true,
    } })
}

fn approve(request_id: &str) -> Value {
    json!({ "input": { "approvalId": request_id, "reviewResult": "Approve", "justification": "approved" } })
}

fn expect(step: Step, value: &Value, pointer: &str, want: &str) -> Result<(), (Step, Refused)> {
    let have = text(value, pointer);
    if have == want {
        Ok(())
    } else {
        Err((
            step,
            Refused {
                code: "UNEXPECTED".into(),
                message: format!("{pointer} is `{have}`, expected `{want}`"),
            },
        ))
    }
}

/// The request is delivered and its assignment delivered the group's membership.
fn check_delivered(decided: &Value) -> Result<(), Refused> {
    let request = &decided["updateApprovalStage"]["assignmentRequest"];
    let assignment = &request["assignment"];
    let member = assignment["deliveredResourceRoles"]
        .as_array()
        .is_some_and(|roles| roles.iter().any(|r| r["type"] == "groupMember" && r["objectId"] == GROUP));
    if text(request, "/state") == "delivered" && text(assignment, "/state") == "delivered" && member {
        Ok(())
    } else {
        Err(Refused { code: "UNEXPECTED".into(), message: format!("not delivered: {request}") })
    }
}

/// Lifecycles one at a time, with the queries each mutation ran.
async fn profile_steps(
    api: &Graphql,
    plans: &[Plan],
    first: &str,
    second: &str,
) -> anyhow::Result<Vec<StepProfile>> {
    let mut queries: BTreeMap<Step, Vec<u64>> = BTreeMap::new();
    let mut wall: BTreeMap<Step, Samples> = BTreeMap::new();
    for plan in plans {
        let mut measured = async |step: Step, token: &str, query: &str, variables: Value| {
            let (before, began) = (profile::queries(), Instant::now());
            let data = api.execute(token, query, variables).await.with_context(|| step.label())?;
            let took = began.elapsed();
            queries.entry(step).or_default().push(profile::queries() - before);
            wall.entry(step).or_default().push(took);
            Ok::<Value, anyhow::Error>(data)
        };
        let submitted = measured(Step::Submit, &plan.token, SUBMIT, submit_variables(plan)).await?;
        let id = text(&submitted, "/createAssignmentRequest/assignmentRequest/id").to_owned();
        measured(Step::ApproveStage1, first, DECIDE, approve(&id)).await?;
        let decided = measured(Step::ApproveStage2, second, DECIDE, approve(&id)).await?;
        check_delivered(&decided)?;
    }
    Ok(Step::ALL
        .iter()
        .filter_map(|&step| {
            let mut counts = queries.remove(&step).unwrap_or_default();
            counts.sort_unstable();
            Some(StepProfile {
                step,
                queries: counts.get(counts.len() / 2).copied().unwrap_or(0),
                wall: wall.get(&step)?.summary()?,
            })
        })
        .collect())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let who = match (o.external > 0, o.extension_at_granted) {
            (true, true) => " (external, extension at granted)",
            (true, false) => " (external)",
            (false, true) => " (extension at granted)",
            (false, false) => "",
        };
        writeln!(f, "== lifecycles{who}: submit -> approve stage 1 -> approve stage 2 -> delivered ==")?;
        writeln!(
            f,
            "server: {} worker threads, {}; {} requestors imported in {:.2} s; {} package(s) set up in {:.2} s",
            o.server.threads,
            self.db_url,
            o.users,
            self.import_time.as_secs_f64(),
            o.packages,
            self.setup_time.as_secs_f64()
        )?;
        if o.server.replicas > 1 {
            writeln!(
                f,
                "replicas: {} on the one database, each with {} worker threads; each client's steps take turns over them",
                o.server.replicas, o.server.threads
            )?;
        }
        writeln!(f, "load: {} clients for {:?}, seed {}", o.clients, o.duration, o.seed)?;
        if o.external > 0 {
            writeln!(
                f,
                "external: requestors from {} connected organizations, each signing in for the first time; \
                 {} guests invited ({})",
                o.external,
                self.guests,
                if self.guests == self.completed as u64 { "one per lifecycle" } else { "MISMATCH" }
            )?;
        }
        if o.delegated_catalogs > 0 {
            writeln!(
                f,
                "delegation: {} catalogs with {} role assignments each, held by {} delegates",
                o.delegated_catalogs,
                o.roles_per_catalog,
                o.delegated_catalogs * o.roles_per_catalog
            )?;
        }
        writeln!(
            f,
            "completed: {} lifecycles in {:.2} s = {:.1} lifecycles/s ({} mutations/s)",
            self.completed,
            self.elapsed.as_secs_f64(),
            self.rate(),
            (self.rate() * 3.0).round()
        )?;
        if self.ran_out_of_users {
            writeln!(
                f,
                "warning: the clients ran out of users before the duration passed; give more --users"
            )?;
        }
        let failed: usize = self.failures.values().map(|(n, _)| n).sum();
        writeln!(f, "failed: {failed}")?;
        for ((step, code), (n, message)) in &self.failures {
            writeln!(f, "  {n} x {} {code}: {message}", step.label())?;
        }
        writeln!(
            f,
            "delivered: the group has {} members from the timed run ({})",
            self.group_members,
            if self.group_members == self.completed as u64 { "matches" } else { "MISMATCH" }
        )?;
        if let Some(calls) = &self.calls {
            let missing = self.completed.saturating_sub(calls.distinct);
            writeln!(
                f,
                "extension at assignmentRequestGranted: {calls}; {}",
                if missing == 0 {
                    "every lifecycle's call arrived".to_owned()
                } else {
                    format!("{missing} lifecycles' calls MISSING after waiting {CALL_WAIT:?}")
                }
            )?;
            if let Some(latency) = &calls.latency {
                let verdict = if latency.p99 < CALL_P99_TARGET_MS { "met" } else { "NOT MET" };
                writeln!(f, "  {:<42} {latency}", "decided (body `time`) -> call arrived")?;
                writeln!(f, "  target p99 < {CALL_P99_TARGET_MS} ms: {verdict}")?;
            }
        }
        writeln!(f, "latency per mutation (HTTP round trip):")?;
        for (step, summary) in &self.per_step {
            writeln!(f, "  {:<42} {summary}", step.label())?;
        }
        if let Some(l) = &self.lifecycle {
            writeln!(f, "  {:<42} {l}", "whole lifecycle")?;
        }
        if let Some(cpu) = &self.cpu {
            let wall = self.elapsed.as_secs_f64().max(1e-9);
            let cores = crate::harness::default_threads() as f64;
            let ours = (cpu.server + cpu.clients).as_secs_f64() / wall;
            writeln!(
                f,
                "cpu: server {:.1} s ({:.2} cores, {:.2} ms per lifecycle), clients {:.1} s; \
                 machine {:.0}% busy of {cores} cores (other programs ~{:.2} cores)",
                cpu.server.as_secs_f64(),
                cpu.server.as_secs_f64() / wall,
                cpu.server.as_secs_f64() * 1e3 / (self.completed.max(1) as f64),
                cpu.clients.as_secs_f64(),
                cpu.machine_busy * 100.0,
                (cpu.machine_busy * cores - ours).max(0.0),
            )?;
        }
        let seconds: Vec<String> = self.per_second.iter().map(ToString::to_string).collect();
        writeln!(f, "completions per second: {}", seconds.join(" "))?;
        if !self.profile.is_empty() {
            let n = o.profile;
            writeln!(f, "profile ({n} lifecycles, one client, one mutation at a time):")?;
            if !profile::installed() {
                writeln!(f, "  (query counting is off: the simulator's tracing layer is not installed)")?;
            }
            for p in &self.profile {
                writeln!(
                    f,
                    "  {:<42} {:>3} SurrealDB queries; wall p50 {:>6.2} ms, p99 {:>6.2} ms",
                    p.step.label(),
                    p.queries,
                    p.wall.p50,
                    p.wall.p99
                )?;
            }
        }
        Ok(())
    }
}
