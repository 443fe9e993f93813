//! Measurement C: an access review at scale, on a virtual clock moved over GraphQL.
//!
//! The directory holds `assignees` requestors, each managed by one of `reviewers` managers
//! (round robin). The administrator makes a package delivering `sim-group` with a policy every
//! member requests without approval, reviewed quarterly by the assignee's manager and removing
//! what is not reviewed. `clients` clients request it for every requestor (one assignment each).
//! Then, timed:
//! 1. **start**: `advanceClock` to the review's start, which starts it: the instance with an item
//!    per assignment, committed in one transaction;
//! 2. **decide**: every manager, concurrently, pages through `accessReviewDecisions
//!    (filterByCurrentUser: reviewer)` (100 items a page, each page timed) and records one
//!    decision per mutation: a seeded `deny` share denied, the rest approved;
//! 3. **apply**: `advanceClock` to the review's end, which completes it and removes every denied
//!    assignment through a system removal request.
//!
//! Afterwards the group must hold exactly the approved assignees.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::client::{Graphql, text};
use crate::directory::{self, ADMIN, GROUP, Sizes};
use crate::harness::{Harness, ServerOptions};
use crate::rng::Rng;
use crate::stats::{Samples, Summary};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub server: ServerOptions,
    pub assignees: usize,
    pub reviewers: usize,
    /// Clients requesting the assignments before the review.
    pub clients: usize,
    /// The share of items denied.
    pub deny: f64,
    /// Decisions per second all reviewers together aim at (0: as fast as they can).
    pub decision_rate: f64,
    pub seed: u64,
}

/// The figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub options: Options,
    pub assign_time: Duration,
    pub start_time: Duration,
    pub items: u64,
    pub decisions: usize,
    pub decide_time: Duration,
    pub decision_latency: Option<Summary>,
    /// A reviewer's page, opened every 50 ms while the others decide.
    pub page_latency: Option<Summary>,
    /// Every reviewer's first page, opened as they start.
    pub first_pages: Option<Summary>,
    /// A reviewer's first page read alone, before anyone decides.
    pub idle_page_latency: Option<Summary>,
    pub denied: usize,
    pub apply_time: Duration,
    pub members_after: u64,
}

const PAGE: &str = "query($after: String) { accessReviewDecisions(filterByCurrentUser: reviewer, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { id } } }";

const RECORD: &str =
    "mutation($d: [ReviewDecisionInput!]!) { recordAccessReviewDecisions(input: {decisions: $d}) {
    decisions { id } } }";

const ADVANCE: &str = "mutation($to: DateTime!) { advanceClock(input: {to: $to}) { now firedTimers } }";

/// Runs the measurement on a fresh server and stops it.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.reviewers > 0 && options.assignees > 0, "give reviewers and assignees");
    let sizes = Sizes {
        requestors: options.assignees,
        first_approvers: 0,
        second_approvers: 0,
        delegates: 0,
        managers: options.reviewers,
    };
    let server = ServerOptions { virtual_clock: true, ..options.server.clone() };
    let harness = Harness::start(&server, &directory::directory(sizes)).await?;
    let outcome = measure(&harness, &options).await;
    harness.stop().await?;
    outcome
}

async fn measure(harness: &Harness, options: &Options) -> anyhow::Result<Report> {
    let api = Graphql::new(&harness.base)?;
    let ttl = Duration::from_secs(4 * 3600);
    let admin = harness.token(ADMIN, ttl)?;
    let now = api.execute(&admin, "{ clock { now } }", json!({})).await?;
    let now = chrono::DateTime::parse_from_rfc3339(text(&now, "/clock/now"))?.to_utc();
    let first = now + chrono::TimeDelta::days(1);
    let (package, policy) = setup(&api, &admin, first).await.context("setting up the reviewed package")?;

    // Every requestor requests the package once.
    let started = Instant::now();
    let tokens: Vec<String> = (0..options.assignees)
        .map(|i| harness.token(&directory::requestor(i), ttl))
        .collect::<anyhow::Result<_>>()?;
    futures::stream::iter(tokens)
        .map(|token| {
            let (api, package) = (api.clone(), package.clone());
            async move {
                api.execute(
                    &token,
                    "mutation($p: ID!) { createAssignmentRequest(input: {accessPackageId: $p}) { assignmentRequest { state } } }",
                    json!({ "p": package }),
                )
                .await
                .map_err(anyhow::Error::from)
            }
        })
        .buffer_unordered(options.clients.max(1))
        .try_collect::<Vec<_>>()
        .await
        .context("requesting the assignments")?;
    let assign_time = started.elapsed();

    // 1. The review starts.
    let started = Instant::now();
    api.execute(&admin, ADVANCE, json!({ "to": first.to_rfc3339() })).await.context("starting the review")?;
    let start_time = started.elapsed();
    let reviews = api
        .execute(
            &admin,
            "query($p: ID!) { accessReviewInstances(policyId: $p) { nodes { id decisions(first: 1) { totalCount } } } }",
            json!({ "p": policy }),
        )
        .await?;
    let items = reviews
        .pointer("/accessReviewInstances/nodes/0/decisions/totalCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);

    // A reviewer's first page, read alone.
    let mut idle_page = Samples::default();
    let probe = harness.token(&directory::manager(0), ttl)?;
    for _ in 0..50 {
        let began = Instant::now();
        api.execute(&probe, PAGE, json!({ "after": null })).await?;
        idle_page.push(began.elapsed());
    }

    // 2. Every reviewer decides their items, concurrently, one decision per mutation.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..options.reviewers {
        let (api, token) = (api.clone(), harness.token(&directory::manager(r), ttl)?);
        let (deny, seed) = (options.deny, options.seed.wrapping_add(r as u64));
        // Each reviewer's share of the rate: one decision every `pace`.
        let pace = (options.decision_rate > 0.0)
            .then(|| Duration::from_secs_f64(options.reviewers as f64 / options.decision_rate));
        // Reviewers start a share of the pace apart, as people would, not all at once.
        let offset = pace.map(|p| p.mul_f64(r as f64 / options.reviewers as f64)).unwrap_or_default();
        tasks.push(tokio::spawn(async move { decide_all(&api, &token, deny, seed, pace, offset).await }));
    }
    // Meanwhile a reviewer opens their page every 50 ms, as someone looking at it would.
    let deciding = Arc::new(AtomicBool::new(true));
    let probe_task = {
        let (api, probe, deciding) = (api.clone(), probe.clone(), Arc::clone(&deciding));
        tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            while deciding.load(Ordering::Relaxed) {
                tick.tick().await;
                let began = Instant::now();
                if api.execute(&probe, PAGE, json!({ "after": null })).await.is_ok() {
                    samples.push(began.elapsed());
                }
            }
            samples
        })
    };
    let (mut decisions, mut denied) = (0, 0);
    let (mut decision_latency, mut first_pages) = (Samples::default(), Samples::default());
    for task in tasks {
        let done = task.await??;
        decisions += done.decisions;
        denied += done.denied;
        decision_latency.extend(&done.decision_latency);
        first_pages.extend(&done.page_latency);
    }
    let decide_time = started.elapsed();
    deciding.store(false, Ordering::Relaxed);
    let page_latency = probe_task.await?;

    // 3. The review ends and its denials are applied.
    let started = Instant::now();
    let end = first + chrono::TimeDelta::days(14);
    api.execute(&admin, ADVANCE, json!({ "to": end.to_rfc3339() })).await.context("ending the review")?;
    let apply_time = started.elapsed();
    let data = api
        .execute(&admin, "query($g: ID!) { group(id: $g) { memberCount } }", json!({ "g": GROUP }))
        .await?;
    let members_after = data.pointer("/group/memberCount").and_then(Value::as_u64).unwrap_or(0);
    Ok(Report {
        options: options.clone(),
        assign_time,
        start_time,
        items,
        decisions,
        decide_time,
        decision_latency: decision_latency.summary(),
        page_latency: page_latency.summary(),
        first_pages: first_pages.summary(),
        idle_page_latency: idle_page.summary(),
        denied,
        apply_time,
        members_after,
    })
}

struct Decided {
    decisions: usize,
    denied: usize,
    decision_latency: Samples,
    page_latency: Samples,
}

/// One reviewer: pages through their items, deciding each.
async fn decide_all(
    api: &Graphql,
    token: &str,
    deny: f64,
    seed: u64,
    pace: Option<Duration>,
    offset: Duration,
) -> anyhow::Result<Decided> {
    let mut rng = Rng::seeded(seed);
    tokio::time::sleep(offset).await;
    let mut next = tokio::time::Instant::now();
    let mut out = Decided {
        decisions: 0,
        denied: 0,
        decision_latency: Samples::default(),
        page_latency: Samples::default(),
    };
    let mut after: Option<String> = None;
    loop {
        let began = Instant::now();
        let page = api.execute(token, PAGE, json!({ "after": after })).await?;
        out.page_latency.push(began.elapsed());
        let nodes = page
            .pointer("/accessReviewDecisions/nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for node in nodes {
            if let Some(pace) = pace {
                tokio::time::sleep_until(next).await;
                next += pace;
            }
            let denied = (rng.below(10_000) as f64) < deny * 10_000.0;
            let decision = if denied { "Deny" } else { "Approve" };
            let began = Instant::now();
            api.execute(
                token,
                RECORD,
                json!({ "d": [{ "id": node["id"], "decision": decision, "justification": "reviewed" }] }),
            )
            .await?;
            out.decision_latency.push(began.elapsed());
            out.decisions += 1;
            out.denied += usize::from(denied);
        }
        if page.pointer("/accessReviewDecisions/pageInfo/hasNextPage").and_then(Value::as_bool) != Some(true)
        {
            return Ok(out);
        }
        after = page
            .pointer("/accessReviewDecisions/pageInfo/endCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
}

/// The catalog, the group, the package and its reviewed policy. Returns the package's and the
/// policy's ids.
async fn setup(
    api: &Graphql,
    admin: &str,
    first: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(String, String)> {
    let (catalog, resource) = crate::setup::catalog_with_group(api, admin, "Reviews", false).await?;
    let data = api
        .execute(
            admin,
            "mutation($c: ID!) { createAccessPackage(input: {catalogId: $c, displayName: \"Reviewed\"}) { accessPackage { id } } }",
            json!({ "c": catalog }),
        )
        .await?;
    let package = text(&data, "/createAccessPackage/accessPackage/id").to_owned();
    let policy = json!({
        "displayName": "Members, reviewed by their managers",
        "accessPackage": {"id": package},
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": false},
        "reviewSettings": {
            "isEnabled": true, "expirationBehavior": "removeAccess", "isRecommendationEnabled": true,
            "isReviewerJustificationRequired": true,
            "schedule": {"startDateTime": first.to_rfc3339(), "expiration": {"type": "afterDuration", "duration": "P14D"},
                         "recurrence": {"pattern": {"type": "absoluteMonthly", "interval": 3},
                                        "range": {"type": "noEnd", "startDate": first.date_naive().to_string()}}},
            "primaryReviewers": [{"@odata.type": "#microsoft.graph.requestorManager", "managerLevel": 1}],
            "fallbackReviewers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": ADMIN}]
        }
    });
    let data = api
        .execute(
        admin,
        "mutation($p: ID!, $r: ID!, $role: String!, $g: JSON!) {
           scope: addAccessPackageResourceRoleScope(input: {accessPackageId: $p, resourceId: $r, roleOriginId: $role}) {
             resourceRoleScope { id } }
           policy: createAssignmentPolicy(input: {accessPackageId: $p, graphJson: $g}) { assignmentPolicy { id } } }",
        json!({ "p": package, "r": resource, "role": format!("Member_{GROUP}"), "g": policy }),
    )
    .await?;
    Ok((package, text(&data, "/policy/assignmentPolicy/id").to_owned()))
}

impl Report {
    /// Decisions recorded per second, over all reviewers.
    #[must_use]
    pub fn decision_rate(&self) -> f64 {
        self.decisions as f64 / self.decide_time.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(f, "== access review: {} assignments, {} reviewers ==", o.assignees, o.reviewers)?;
        writeln!(
            f,
            "assignments requested by {} clients in {:.2} s",
            o.clients,
            self.assign_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "start: the review with {} items committed in {:.2} s (advanceClock)",
            self.items,
            self.start_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "decide: {} decisions in {:.2} s = {:.0} decisions/s ({} reviewers, one decision per mutation, {})",
            self.decisions,
            self.decide_time.as_secs_f64(),
            self.decision_rate(),
            o.reviewers,
            if o.decision_rate > 0.0 {
                format!("paced at {:.0}/s", o.decision_rate)
            } else {
                "as fast as they can".into()
            }
        )?;
        if let Some(s) = &self.decision_latency {
            writeln!(f, "  {:<40} {s}", "recordAccessReviewDecisions")?;
        }
        if let Some(s) = &self.page_latency {
            writeln!(f, "  {:<40} {s}", "decisions for me, page of 100, meanwhile")?;
        }
        if let Some(s) = &self.first_pages {
            writeln!(f, "  {:<40} {s}", "each reviewer's first page, at start")?;
        }
        if let Some(s) = &self.idle_page_latency {
            writeln!(f, "  {:<40} {s}", "the same page, read alone before")?;
        }
        let kept = o.assignees.saturating_sub(self.denied) as u64;
        writeln!(
            f,
            "apply: {} denials removed in {:.2} s (advanceClock); the group has {} members ({})",
            self.denied,
            self.apply_time.as_secs_f64(),
            self.members_after,
            if self.members_after == kept { "matches" } else { "MISMATCH" }
        )
    }
}
