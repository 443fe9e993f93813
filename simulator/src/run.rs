//! `em-simulator run FILE`: a scenario replayed over the wire against a server this process
//! starts (embedded SurrealKV, virtual clock). The administrator's set-up runs as GraphQL
//! operations; each virtual day the day's movers, joiners and leavers are sent as `updateUser`,
//! `createUser` and `deleteUser`, the clock is moved a day (`advanceClock`), and the invariants
//! are checked against the simulator's own model of the people. The report gives the time of
//! each set-up operation, the latency of each operation kind, the changes per second, and each
//! invariant with its result, as JSON and as Markdown, and each virtual day's changes and wall
//! time, which [`crate::plots`] draws.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use chrono::{DateTime, Utc};

use crate::actions::{self, Captured, Tally, Tokens};
use crate::client::Graphql;
use crate::harness::{Harness, ServerOptions};
use crate::partners::{PartnerTally, Partnership, Wire};
use crate::receiver::Receiver;
use crate::rng::Rng;
use crate::scenario::{Invariant, People, Scenario, scaled, substitute_text};
use crate::stats::Samples;

/// How to replay a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Multiplies the population.
    pub scale: f64,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    pub server: ServerOptions,
    /// Replay against a server started elsewhere instead of one this process starts.
    pub target: Option<Target>,
    /// At most this many virtual days of each phase (a shorter run for sizing).
    pub days: Option<u32>,
    /// Check the invariants at the end of every virtual day, not only at the end.
    pub check_daily: bool,
    /// Draw a bar over each phase's virtual days on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Concurrent clients sending a day's requests (directory changes go one at a time, each
    /// timed on its own).
    pub clients: usize,
}

/// A server started elsewhere (`em-api serve --virtual-clock`, on an empty database).
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port`
    pub url: String,
    /// An administrator's bearer token there.
    pub token: String,
    /// Its `--auth-secret`, to sign the people in (scenarios where people act need it).
    pub secret: Option<String>,
}

/// What a run did and measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub scale: f64,
    pub users: usize,
    pub import: Duration,
    /// Each set-up operation and how long it took.
    pub setup: Vec<(String, Duration, bool)>,
    /// The server's rule evaluations during the set-up (the first population of auto-assignment
    /// policies).
    pub setup_rule_evaluations: u64,
    pub phases: Vec<PhaseReport>,
    pub invariants: Vec<InvariantResult>,
    /// Requests sent and decided, and attempts to act outside one's catalog.
    pub tally: Tally,
    /// What partners, their sponsors, reviewers and outsiders did.
    pub partners: Option<PartnerTally>,
    /// Guests whose access held at the end.
    pub guests_with_access: usize,
    /// What the custom extensions' receiver got.
    pub extension_calls: Option<crate::receiver::Tally>,
    /// The virtual time at the end.
    pub virtual_end: Option<DateTime<Utc>>,
    /// The server replayed against, when it was started elsewhere.
    pub target: Option<String>,
    pub wall: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct PhaseReport {
    pub name: String,
    pub days: u32,
    pub wall: Duration,
    /// Latency of each operation kind (HTTP round trip).
    pub operations: BTreeMap<String, Samples>,
    /// Directory changes sent (movers, joiners, leavers).
    pub changes: usize,
    /// Timers fired by the day's clock moves.
    pub fired_timers: u64,
    /// The server's rule evaluations and policy decisions during the phase.
    pub rule_evaluations: u64,
    pub policy_decisions: u64,
    /// Requests that reached the end their approver decided (delivered or denied, or timed out).
    pub lifecycles: usize,
    /// Each virtual day as it ended, in order.
    pub days_log: Vec<DayLog>,
}

/// A virtual day of a phase, for the throughput over time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayLog {
    /// The day of its phase, from 1.
    pub day: u32,
    /// Wall time from the start of the phase to the end of the day (its invariant checks included).
    pub wall_end: Duration,
    /// Directory changes sent that day.
    pub changes: usize,
}

impl PhaseReport {
    /// Logs the end of virtual day `day`, `wall_end` after the phase began: the changes sent since
    /// the day before.
    fn log_day(&mut self, day: u32, wall_end: Duration) {
        let before: usize = self.days_log.iter().map(|d| d.changes).sum();
        self.days_log.push(DayLog { day, wall_end, changes: self.changes.saturating_sub(before) });
    }
}

#[derive(Debug, Clone, Default)]
pub struct InvariantResult {
    pub name: String,
    /// How many times it was checked, and how many of those failed.
    pub checks: usize,
    pub failures: usize,
    /// The first failure.
    pub detail: Option<String>,
}

impl Report {
    /// Whether every invariant held every time it was checked.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|i| i.failures == 0)
    }
}

/// Replays `scenario`.
pub async fn run(scenario: &Scenario, options: &RunOptions) -> anyhow::Result<Report> {
    let started = Instant::now();
    let seed = options.seed.unwrap_or(scenario.seed);
    let mut rng = Rng::seeded(seed);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let users = ((scenario.population.users as f64) * options.scale).round().max(1.0) as usize;
    let mut population = scenario.population.clone();
    if population.generated_departments > 0 {
        population.generated_departments = scaled(population.generated_departments, options.scale);
    }
    let mut people = People::generate(&population, users, &mut rng);
    let receiver = if scenario.receiver { Some(Receiver::start(0).await?) } else { None };
    let server = ServerOptions {
        virtual_clock: true,
        loopback_extensions: scenario.receiver,
        ..options.server.clone()
    };
    let directory = people.directory(&scenario.population.groups, population.managers)?;
    let harness = match &options.target {
        Some(target) => {
            Harness::connect(&target.url, &target.token, target.secret.clone(), &directory).await?
        }
        None => Harness::start(&server, &directory).await?,
    };
    let result = replay(scenario, options, &harness, receiver.as_ref(), &mut people, &mut rng).await;
    harness.stop().await?;
    if let Some(receiver) = receiver {
        receiver.stop().await?;
    }
    let mut report = result?;
    report.scenario.clone_from(&scenario.name);
    report.seed = seed;
    report.scale = options.scale;
    report.users = users;
    report.wall = started.elapsed();
    report.target = options.target.as_ref().map(|t| t.url.clone());
    Ok(report)
}

async fn replay(
    scenario: &Scenario,
    options: &RunOptions,
    harness: &Harness,
    receiver: Option<&Receiver>,
    people: &mut People,
    rng: &mut Rng,
) -> anyhow::Result<Report> {
    let api = Graphql::new(&harness.base)?;
    let admin = harness.admin_token(Duration::from_secs(24 * 3600))?;
    let mut report = Report { import: harness.import_time, ..Report::default() };
    let mut tokens = Tokens::new(|user| harness.token(user, Duration::from_secs(24 * 3600)));
    let mut now = match scenario.start {
        Some(start) => clock(&api, &admin, "to", &start.to_rfc3339()).await?.0,
        None => api
            .execute(&admin, "{ clock { now } }", json!({}))
            .await
            .map_err(|e| anyhow::anyhow!("clock: {} {}", e.code, e.message))?
            .pointer("/clock/now")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .parse()?,
    };
    let mut captured = Captured::default();
    let partners = match &scenario.population.partners {
        Some(partners) => Some(people.partners(partners, options.scale)?),
        None => None,
    };
    if let Some((organizations, _)) = &partners {
        captured.organizations = organizations.iter().map(|o| (o.name.clone(), o.clone())).collect();
    }
    if let Some(receiver) = receiver {
        captured.global.insert("receiver.url".into(), json!(receiver.url));
    }
    let before = counters(harness);
    report.setup = actions::setup(&api, &mut tokens, &admin, &scenario.setup, people, &mut captured).await?;
    if let Some(receiver) = receiver {
        let secret = captured.global.get("signingSecret").and_then(Value::as_str).ok_or_else(|| {
            anyhow::anyhow!(
                "the scenario starts a receiver: its set-up captures the extension's `signingSecret`"
            )
        })?;
        receiver.trust(secret)?;
    }
    report.setup_rule_evaluations = counters(harness).0 - before.0;
    let mut partnership = match partners {
        Some(partners) => {
            // Those who may be told to review: the sponsors, and each department's owner and manager.
            let mut reviewers: BTreeSet<String> = partners.0.iter().map(|o| o.sponsor.clone()).collect();
            reviewers.extend(captured.heads.values().flat_map(|(o, m)| [o.clone(), m.clone()]));
            let seed = options.seed.unwrap_or(scenario.seed);
            let wire = Wire { harness, api: &api, admin: &admin };
            Some(Partnership::start(wire, &mut tokens, partners, reviewers, seed, now).await?)
        }
        None => None,
    };
    let mut partner_package = None;
    let global = captured.scope(None, None);
    let watch_visibility =
        scenario.invariant.iter().any(|i| matches!(i, Invariant::DelegatesSeeOwnCatalog { .. }));
    let invariants: Vec<Invariant> =
        scenario.invariant.iter().map(|i| resolved(i, &global)).collect::<anyhow::Result<_>>()?;
    let mut results: Vec<InvariantResult> = invariants
        .iter()
        .map(|i| InvariantResult { name: i.name().to_owned(), ..InvariantResult::default() })
        .collect();

    for phase in &scenario.phase {
        let phase_started = Instant::now();
        let counted = (counters(harness), finished(&report.tally, partnership.as_ref()));
        let days = options.days.map_or(phase.days, |most| phase.days.min(most));
        let mut out = PhaseReport { name: phase.name.clone(), days, ..PhaseReport::default() };
        // What is due of each rate: a rate below one person a day adds up over the days.
        let mut due = [0.0_f64; 5];
        let bar = day_bar(&phase.name, days, options.progress);
        for day in 1..=days {
            let present = people.present.len() as f64;
            let [movers, joiners, leavers] =
                [phase.movers, phase.joiners, phase.leavers].map(|rate| rate * present);
            let mut count = |k: usize, amount: f64| {
                due[k] += amount;
                let whole = due[k].floor();
                due[k] -= whole;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let whole = whole as usize;
                whole
            };
            let (movers, joiners, leavers) = (count(0, movers), count(1, joiners), count(2, leavers));
            let requests = count(3, phase.requests * present);
            let on_behalf = count(4, phase.on_behalf * present);
            for _ in 0..movers {
                let Some(id) = people.pick(rng) else { break };
                let Some(person) = people.relocate(&id, rng) else { continue };
                let query = "mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { id } } }";
                let variables = json!({ "i": { "id": person.id, "country": person.country } });
                directory_change(&api, &admin, &mut out, "updateUser (mover)", &person.id, query, variables)
                    .await?;
            }
            for _ in 0..joiners {
                let person = people.join(rng);
                let query = "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }";
                let variables = json!({ "i": {
                    "objectId": person.id, "displayName": person.id,
                    "userPrincipalName": format!("{}@sim.contoso.com", person.id),
                    "accountEnabled": true, "department": person.department, "country": person.country,
                } });
                directory_change(&api, &admin, &mut out, "createUser (joiner)", &person.id, query, variables)
                    .await?;
            }
            for _ in 0..leavers {
                let Some(id) = people.pick(rng) else { break };
                people.leave(&id);
                let query = "mutation($i: DeleteInput!) { deleteUser(input: $i) { deletedId } }";
                let variables = json!({ "i": { "id": id } });
                directory_change(&api, &admin, &mut out, "deleteUser (leaver)", &id, query, variables)
                    .await?;
            }
            let mut actors = actions::Day {
                api: &api,
                tokens: &mut tokens,
                people,
                captured: &captured,
                rng,
                operations: &mut out.operations,
                tally: &mut report.tally,
            };
            actors.requests(phase, requests, options.clients).await?;
            actors.intrusions(phase.intrusions).await?;
            if let Some(package) = &phase.on_behalf_package {
                let package = substitute_text(package, &global)?;
                actors.on_behalf(&package, on_behalf, phase.strangers, options.clients).await?;
            }
            if let Some(package) = &phase.partner_package {
                partner_package = Some(substitute_text(package, &global)?);
            }
            if let (Some(partnership), Some(package)) = (&mut partnership, &partner_package) {
                let wire = Wire { harness, api: &api, admin: &admin };
                partnership
                    .day(wire, &mut tokens, phase, package, options.clients, &mut out.operations)
                    .await?;
            }
            let at = Instant::now();
            let (moved_to, fired) = clock(&api, &admin, "by", "P1D").await?;
            out.operations.entry("advanceClock (a day)".into()).or_default().push(at.elapsed());
            out.fired_timers += fired;
            now = moved_to;
            if let Some(partnership) = &mut partnership {
                partnership.now = now;
            }
            if options.check_daily {
                if watch_visibility {
                    actions::visibility(&api, &mut tokens, &captured, &mut report.tally).await?;
                }
                check(
                    Wire { harness, api: &api, admin: &admin },
                    &invariants,
                    people,
                    &report.tally,
                    partnership.as_mut(),
                    receiver,
                    &mut results,
                )
                .await?;
            }
            out.log_day(day, phase_started.elapsed());
            bar.set_message(format!("{} changes", out.changes));
            bar.inc(1);
        }
        bar.finish();
        out.wall = phase_started.elapsed();
        let ((rules, decisions), lifecycles) = counted;
        let (rules_now, decisions_now) = counters(harness);
        out.rule_evaluations = rules_now - rules;
        out.policy_decisions = decisions_now - decisions;
        out.lifecycles = finished(&report.tally, partnership.as_ref()) - lifecycles;
        for (kind, samples) in &out.operations {
            if let Some(m) = samples.summary() {
                tracing::info!(phase = %out.name, operation = %kind, n = m.count, p50_ms = m.p50, p99_ms = m.p99, "phase done");
            }
        }
        report.phases.push(out);
    }
    if watch_visibility {
        actions::visibility(&api, &mut tokens, &captured, &mut report.tally).await?;
    }
    check(
        Wire { harness, api: &api, admin: &admin },
        &invariants,
        people,
        &report.tally,
        partnership.as_mut(),
        receiver,
        &mut results,
    )
    .await?;
    report.invariants = results;
    if let Some(partnership) = partnership {
        report.partners = Some(partnership.tally.clone());
        report.guests_with_access = partnership.guests_with_access();
        partnership.stop().await;
    }
    report.virtual_end = Some(now);
    report.extension_calls = receiver.map(Receiver::tally);
    Ok(report)
}

/// Whether the receiver got one signed call for each of `delivered` (waiting up to 10 s for the
/// last ones), and no other: the first difference, if any.
async fn called_once(receiver: &Receiver, delivered: &[String]) -> Option<String> {
    receiver.wait_for(delivered.len(), Duration::from_secs(10)).await;
    let tally = receiver.tally();
    let called: BTreeSet<String> = receiver
        .accepted()
        .into_iter()
        .map(|a| a.request_id.rsplit(':').next().unwrap_or_default().to_owned())
        .collect();
    let wanted: BTreeSet<String> =
        delivered.iter().map(|id| id.rsplit(':').next().unwrap_or_default().to_owned()).collect();
    if tally.forged > 0 || tally.malformed > 0 {
        return Some(format!(
            "{} calls did not verify, {} were not calls of a request",
            tally.forged, tally.malformed
        ));
    }
    if tally.distinct != called.len() {
        return Some(format!(
            "{} calls for {} requests: a request was called twice",
            tally.distinct,
            called.len()
        ));
    }
    let missing: Vec<&String> = wanted.difference(&called).take(3).collect();
    let extra: Vec<&String> = called.difference(&wanted).take(3).collect();
    (!missing.is_empty() || !extra.is_empty()).then(|| {
        format!(
            "{} requests delivered, {} called; not called: {missing:?}; called, not delivered: {extra:?}",
            wanted.len(),
            called.len()
        )
    })
}

/// The server's rule evaluations and policy decisions so far (none counted on a server
/// elsewhere).
fn counters(harness: &Harness) -> (u64, u64) {
    harness.statistics.as_ref().map_or((0, 0), |s| {
        (s.rule_evaluations.load(Ordering::Relaxed), s.policy_decisions.load(Ordering::Relaxed))
    })
}

/// Requests that reached the end their approver decided, so far.
fn finished(tally: &Tally, partnership: Option<&Partnership>) -> usize {
    tally.delivered
        + tally.denied
        + partnership.map_or(0, |p| p.tally.approved + p.tally.denied + p.tally.timed_out + p.tally.extended)
}

/// Moves the virtual clock (`to` a time or `by` a duration); answers the time it is now and the
/// timers that fired.
async fn clock(api: &Graphql, admin: &str, how: &str, value: &str) -> anyhow::Result<(DateTime<Utc>, u64)> {
    let data = api
        .execute(
            admin,
            &format!(
                "mutation($v: {}) {{ advanceClock(input: {{{how}: $v}}) {{ now firedTimers }} }}",
                if how == "to" { "DateTime!" } else { "String!" }
            ),
            json!({ "v": value }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("advanceClock {how} {value}: {} {}", e.code, e.message))?;
    let now = data.pointer("/advanceClock/now").and_then(Value::as_str).unwrap_or_default().parse()?;
    Ok((now, data.pointer("/advanceClock/firedTimers").and_then(Value::as_u64).unwrap_or(0)))
}

/// Sends one directory change of `who` as the administrator, timed under `kind` and counted.
async fn directory_change(
    api: &Graphql,
    admin: &str,
    out: &mut PhaseReport,
    kind: &str,
    who: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<()> {
    let at = Instant::now();
    api.execute(admin, query, variables)
        .await
        .map_err(|e| anyhow::anyhow!("{kind} {who}: {} {}", e.code, e.message))?;
    out.operations.entry(kind.to_owned()).or_default().push(at.elapsed());
    out.changes += 1;
    Ok(())
}

/// `invariant` with the captured values its package ids name.
fn resolved(invariant: &Invariant, scope: &BTreeMap<String, Value>) -> anyhow::Result<Invariant> {
    Ok(match invariant {
        Invariant::Disjoint { name, packages } => Invariant::Disjoint {
            name: name.clone(),
            packages: packages.iter().map(|p| substitute_text(p, scope)).collect::<anyhow::Result<_>>()?,
        },
        Invariant::AssignedExactly { name, package, department, region } => Invariant::AssignedExactly {
            name: name.clone(),
            package: substitute_text(package, scope)?,
            department: department.clone(),
            region: region.clone(),
        },
        Invariant::GuestsAsDecided { name, package } => {
            Invariant::GuestsAsDecided { name: name.clone(), package: substitute_text(package, scope)? }
        }
        other => other.clone(),
    })
}

/// Checks every invariant once, counting failures.
async fn check(
    Wire { api, admin, .. }: Wire<'_>,
    invariants: &[Invariant],
    people: &People,
    tally: &Tally,
    mut partnership: Option<&mut Partnership>,
    receiver: Option<&Receiver>,
    results: &mut [InvariantResult],
) -> anyhow::Result<()> {
    if let Some(partnership) = partnership.as_mut() {
        partnership.check_timeouts(api, admin).await?;
    }
    let partners = partnership.as_ref().map(|p| &p.tally);
    let mut holders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (invariant, result) in invariants.iter().zip(results.iter_mut()) {
        let packages: Vec<&String> = match invariant {
            Invariant::Disjoint { packages, .. } => packages.iter().collect(),
            Invariant::AssignedExactly { package, .. } | Invariant::GuestsAsDecided { package, .. } => {
                vec![package]
            }
            Invariant::RequestsFinal { .. }
            | Invariant::IntrusionsRefused { .. }
            | Invariant::DelegatesSeeOwnCatalog { .. }
            | Invariant::OutsidersRefused { .. }
            | Invariant::DecidersNotified { .. }
            | Invariant::ExtensionCalledOnce { .. }
            | Invariant::StrangersRefused { .. } => Vec::new(),
        };
        for package in packages {
            if !holders.contains_key(package) {
                holders.insert(package.clone(), holders_of(api, admin, package).await?);
            }
        }
        let failure = match invariant {
            Invariant::Disjoint { packages, .. } => {
                let mut seen: BTreeMap<&String, &String> = BTreeMap::new();
                let mut twice = None;
                for package in packages {
                    for holder in &holders[package] {
                        if let Some(other) = seen.insert(holder, package) {
                            twice = Some(format!("{holder} holds {other} and {package}"));
                        }
                    }
                }
                twice
            }
            Invariant::AssignedExactly { package, department, region, .. } => {
                let expected: BTreeSet<String> = people.selected(department, region).into_iter().collect();
                let held = &holders[package];
                let missing: Vec<&String> = expected.difference(held).take(3).collect();
                let extra: Vec<&String> = held.difference(&expected).take(3).collect();
                (!missing.is_empty() || !extra.is_empty()).then(|| {
                    format!(
                        "{} expected, {} hold it; not holding it: {missing:?}; holding it wrongly: {extra:?}",
                        expected.len(),
                        held.len()
                    )
                })
            }
            Invariant::RequestsFinal { .. } => {
                let unfinished: Vec<&String> =
                    tally.unfinished.iter().chain(partners.iter().flat_map(|p| &p.unfinished)).collect();
                unfinished.first().map(|u| {
                    format!(
                        "{} of {} requests did not end as decided, first {u}",
                        unfinished.len(),
                        tally.requests + partners.map_or(0, |p| p.signups + p.extensions)
                    )
                })
            }
            Invariant::GuestsAsDecided { package, .. } => match partnership.as_ref() {
                Some(p) => {
                    p.check(api, admin, &holders[package], |id| people.present.contains_key(id)).await?
                }
                None => Some("the population has no partners".to_owned()),
            },
            Invariant::OutsidersRefused { .. } => partners.and_then(|p| p.outsiders.failure("let in")),
            Invariant::ExtensionCalledOnce { .. } => match receiver {
                Some(receiver) => called_once(receiver, &tally.on_behalf_delivered).await,
                None => Some("the scenario starts no receiver (`receiver = true`)".to_owned()),
            },
            Invariant::StrangersRefused { .. } => tally.strangers.failure("let through"),
            Invariant::DecidersNotified { .. } => partners.and_then(|p| {
                p.unnotified.first().map(|u| format!("{} not told, first: {u}", p.unnotified.len()))
            }),
            Invariant::IntrusionsRefused { .. } => tally.intrusions.failure("attempts let through"),
            Invariant::DelegatesSeeOwnCatalog { .. } => tally
                .overseen
                .first()
                .map(|o| format!("{} delegates see other catalogs, first: {o}", tally.overseen.len())),
        };
        result.checks += 1;
        if let Some(detail) = failure {
            result.failures += 1;
            result.detail.get_or_insert(detail);
        }
    }
    Ok(())
}

/// The targets of a package's active assignments, page by page.
async fn holders_of(api: &Graphql, admin: &str, package: &str) -> anyhow::Result<BTreeSet<String>> {
    let mut holders = BTreeSet::new();
    let mut after = Value::Null;
    loop {
        let data = api
            .execute(
                admin,
                "query($p: ID!, $a: String) { assignments(filter: {accessPackageId: $p}, first: 500, after: $a) {
                   pageInfo { hasNextPage endCursor } edges { node { targetId } } } }",
                json!({ "p": package, "a": after }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("assignments of {package}: {} {}", e.code, e.message))?;
        let page = &data["assignments"];
        for edge in page["edges"].as_array().into_iter().flatten() {
            holders.insert(edge["node"]["targetId"].as_str().unwrap_or_default().to_owned());
        }
        if page["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
            return Ok(holders);
        }
        after = page["pageInfo"]["endCursor"].clone();
        if after.is_null() {
            bail!("assignments of {package}: a next page without a cursor");
        }
    }
}

/// A bar over a phase's virtual days on stderr: the day, and the directory changes so far.
/// Hidden when `shown` is false or stderr is not a terminal (a log file, a test).
fn day_bar(phase: &str, days: u32, shown: bool) -> ProgressBar {
    if !shown || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{prefix} [{wide_bar}] day {pos}/{len}, {msg} ({elapsed})")
        .map_or_else(|_| ProgressStyle::default_bar(), |style| style.progress_chars("=> "));
    ProgressBar::new(u64::from(days))
        .with_style(style)
        .with_prefix(format!("phase `{phase}`"))
        .with_message("0 changes")
}

/// The report as JSON.
#[must_use]
pub fn to_json(report: &Report) -> Value {
    let summary = |s: &Samples| {
        s.summary().map_or(Value::Null, |m| {
            json!({ "n": m.count, "p50_ms": m.p50, "p90_ms": m.p90, "p99_ms": m.p99, "max_ms": m.max, "mean_ms": m.mean })
        })
    };
    json!({
        "scenario": report.scenario,
        "seed": report.seed,
        "scale": report.scale,
        "users": report.users,
        "import_s": report.import.as_secs_f64(),
        "setup_rule_evaluations": report.setup_rule_evaluations,
        "setup": report.setup.iter().map(|(name, took, timed)| json!({ "name": name, "seconds": took.as_secs_f64(), "timed": timed })).collect::<Vec<_>>(),
        "phases": report.phases.iter().map(|p| json!({
            "name": p.name,
            "virtual_days": p.days,
            "wall_s": p.wall.as_secs_f64(),
            "changes": p.changes,
            "changes_per_s": p.changes as f64 / p.wall.as_secs_f64().max(1e-9),
            "fired_timers": p.fired_timers,
            "rule_evaluations": p.rule_evaluations,
            "rule_evaluations_per_s": p.rule_evaluations as f64 / p.wall.as_secs_f64().max(1e-9),
            "policy_decisions": p.policy_decisions,
            "policy_decisions_per_s": p.policy_decisions as f64 / p.wall.as_secs_f64().max(1e-9),
            "request_lifecycles": p.lifecycles,
            "request_lifecycles_per_s": p.lifecycles as f64 / p.wall.as_secs_f64().max(1e-9),
            "days": p.days_log.iter().map(|d| json!({
                "day": d.day, "wall_s": d.wall_end.as_secs_f64(), "changes": d.changes,
            })).collect::<Vec<_>>(),
            "operations": p.operations.iter().map(|(k, s)| (k.clone(), summary(s))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "invariants": report.invariants.iter().map(|i| json!({
            "name": i.name, "checks": i.checks, "failures": i.failures, "passed": i.failures == 0, "detail": i.detail,
        })).collect::<Vec<_>>(),
        "requests": {
            "acknowledged": report.tally.requests, "delivered": report.tally.delivered, "denied": report.tally.denied,
            "refused_by_code": report.tally.refused, "unfinished": report.tally.unfinished.len(),
        },
        "authorization": {
            "attempts_outside_catalog": report.tally.intrusions.made,
            "refused_by_code": report.tally.intrusions.refused,
            "let_through": report.tally.intrusions.let_through.len(),
        },
        "partners": report.partners.as_ref().map(|p| json!({
            "signups": p.signups, "approved": p.approved, "denied": p.denied, "never_answered": p.silent,
            "timed_out": p.timed_out, "refused_by_code": p.refused, "extensions": p.extensions,
            "review_items": p.review_items, "review_denied": p.review_denied,
            "guests_with_access_at_end": report.guests_with_access,
            "outsiders": p.outsiders.made, "outsiders_refused_by_code": p.outsiders.refused, "outsiders_let_in": p.outsiders.let_through.len(),
            "deciders_not_told": p.unnotified.len(), "unfinished": p.unfinished.len(),
        })),
        "on_behalf": {
            "requests": report.tally.on_behalf, "delivered": report.tally.on_behalf_delivered.len(),
            "not_their_report": report.tally.strangers.made, "not_their_report_refused_by_code": report.tally.strangers.refused,
            "not_their_report_let_through": report.tally.strangers.let_through.len(),
        },
        "extension_calls": report.extension_calls.as_ref().map(|t| json!({
            "distinct": t.distinct, "repeats": t.repeats, "forged": t.forged, "malformed": t.malformed,
        })),
        "virtual_end": report.virtual_end.map(|t| t.to_rfc3339()),
        "target": report.target,
        "passed": report.passed(),
        "wall_s": report.wall.as_secs_f64(),
    })
}

/// The report as Markdown.
#[must_use]
pub fn to_markdown(report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Scenario `{}`\n", report.scenario);
    let _ = writeln!(
        md,
        "seed {}, scale {}: {} people, imported in {:.2} s; {:.1} s in all; invariants: {}{}\n",
        report.seed,
        report.scale,
        report.users,
        report.import.as_secs_f64(),
        report.wall.as_secs_f64(),
        if report.passed() { "all held" } else { "FAILED" },
        report.target.as_ref().map_or(String::new(), |url| format!(
            " (against {url}: rule evaluations and policy decisions are counted only by a server this process starts)"
        ))
    );
    let _ = writeln!(
        md,
        "## Set-up\n\n{} rule evaluations.\n\n| operation | seconds |\n|---|---|",
        report.setup_rule_evaluations
    );
    for (name, took, timed) in &report.setup {
        let _ =
            writeln!(md, "| {name}{} | {:.3} |", if *timed { " (timed)" } else { "" }, took.as_secs_f64());
    }
    for phase in &report.phases {
        let per_s = |n: f64| n / phase.wall.as_secs_f64().max(1e-9);
        let _ = writeln!(
            md,
            "\n## Phase `{}`: {} virtual days in {:.1} s, {} directory changes ({:.1}/s), {} timers fired\n\n\
             Evaluation throughput: {} rule evaluations ({:.0}/s), {} policy decisions ({:.1}/s), {} request \
             lifecycles ended as decided ({:.1}/s).\n",
            phase.name,
            phase.days,
            phase.wall.as_secs_f64(),
            phase.changes,
            per_s(phase.changes as f64),
            phase.fired_timers,
            phase.rule_evaluations,
            per_s(phase.rule_evaluations as f64),
            phase.policy_decisions,
            per_s(phase.policy_decisions as f64),
            phase.lifecycles,
            per_s(phase.lifecycles as f64),
        );
        let _ =
            writeln!(md, "| operation | n | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|");
        for (name, samples) in &phase.operations {
            if let Some(s) = samples.summary() {
                let _ = writeln!(
                    md,
                    "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    s.count, s.p50, s.p90, s.p99, s.max
                );
            }
        }
    }
    let t = &report.tally;
    if t.requests > 0 || !t.refused.is_empty() || t.intrusions.made > 0 {
        let _ = writeln!(
            md,
            "\n## Requests and authorization\n\n{} requests acknowledged: {} delivered, {} denied, {} not as decided; \
             refused when sent: {:?}. {} attempts to act outside one's catalog: refused {:?}, let through {}.",
            t.requests,
            t.delivered,
            t.denied,
            t.unfinished.len(),
            t.refused,
            t.intrusions.made,
            t.intrusions.refused,
            t.intrusions.let_through.len()
        );
    }
    if let Some(p) = &report.partners {
        let _ = writeln!(
            md,
            "\n## Partners\n\n{} partners signed up: their sponsors approved {}, denied {}, never answered {} \
             ({} timed out); refused when sent: {:?}. {} extensions asked. Reviews: {} items decided, {} denied. \
             {} guests hold access at the end. {} outsiders tried: refused {:?}, let in {}. \
             Approvers not told on their socket: {}.",
            p.signups,
            p.approved,
            p.denied,
            p.silent,
            p.timed_out,
            p.refused,
            p.extensions,
            p.review_items,
            p.review_denied,
            report.guests_with_access,
            p.outsiders.made,
            p.outsiders.refused,
            p.outsiders.let_through.len(),
            p.unnotified.len()
        );
    }
    if t.on_behalf > 0 || t.strangers.made > 0 {
        let _ = writeln!(
            md,
            "\n## On behalf\n\n{} requests by managers for their reports, {} delivered; {} for someone not \
             their report: refused {:?}, let through {}.",
            t.on_behalf,
            t.on_behalf_delivered.len(),
            t.strangers.made,
            t.strangers.refused,
            t.strangers.let_through.len()
        );
    }
    if let Some(calls) = &report.extension_calls {
        let _ = writeln!(
            md,
            "\nThe custom extension's endpoint received {} distinct calls ({} repeats, {} that did not verify).",
            calls.distinct, calls.repeats, calls.forged
        );
    }
    let _ = writeln!(md, "\n## Invariants\n\n| invariant | checks | result |\n|---|---|---|");
    for i in &report.invariants {
        let result = match (&i.detail, i.failures) {
            (_, 0) => "held".to_owned(),
            (Some(d), n) => format!("FAILED {n} times: {d}"),
            (None, n) => format!("FAILED {n} times"),
        };
        let _ = writeln!(md, "| {} | {} | {result} |", i.name, i.checks);
    }
    md
}
