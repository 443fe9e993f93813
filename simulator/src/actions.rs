//! What a scenario's people do beyond directory changes: the set-up operations (by the
//! administrator or a delegate, once or per department, repeated), requests of their
//! department's packages decided by its approver, and delegates trying to act in a catalog that
//! is not theirs. Values captured by set-up operations are kept globally or per department.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::client::{Graphql, Refused};
use crate::rng::Rng;
use crate::scenario::{ForEach, Operation, Organization, People, Phase, substitute, substitute_text};
use crate::stats::Samples;

/// Captured values, each department's owner and manager, and the partner organizations.
#[derive(Debug, Default)]
pub struct Captured {
    pub global: BTreeMap<String, Value>,
    /// Values captured by operations run once per department or organization, by its name.
    pub departments: BTreeMap<String, BTreeMap<String, Value>>,
    pub heads: BTreeMap<String, (String, String)>,
    pub organizations: BTreeMap<String, Organization>,
}

impl Captured {
    /// The names a `${...}` may use in the scope of `unit` (a department or an organization;
    /// the global ones otherwise), with `${i}` when given.
    #[must_use]
    pub fn scope(&self, unit: Option<&str>, i: Option<usize>) -> BTreeMap<String, Value> {
        let mut scope = self.global.clone();
        if let Some(unit) = unit {
            if let Some(o) = self.organizations.get(unit) {
                scope.insert("organization".into(), json!(o.name));
                scope.insert("organization.domain".into(), json!(o.domain));
                scope.insert("organization.tenant".into(), json!(o.tenant));
                scope.insert("organization.sponsor".into(), json!(o.sponsor));
            } else {
                scope.insert("department".into(), json!(unit));
                if let Some((owner, manager)) = self.heads.get(unit) {
                    scope.insert("department.owner".into(), json!(owner));
                    scope.insert("department.manager".into(), json!(manager));
                }
            }
            if let Some(own) = self.departments.get(unit) {
                scope.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        if let Some(i) = i {
            scope.insert("i".into(), json!(i));
        }
        scope
    }
}

/// Mints a bearer token for a user.
type Mint<'a> = Box<dyn Fn(&str) -> anyhow::Result<String> + Send + Sync + 'a>;

/// Bearer tokens of the people acting, minted once each.
pub struct Tokens<'a> {
    mint: Mint<'a>,
    minted: HashMap<String, String>,
}

impl<'a> Tokens<'a> {
    pub fn new(mint: impl Fn(&str) -> anyhow::Result<String> + Send + Sync + 'a) -> Self {
        Self { mint: Box::new(mint), minted: HashMap::new() }
    }

    pub fn of(&mut self, user: &str) -> anyhow::Result<String> {
        if let Some(token) = self.minted.get(user) {
            return Ok(token.clone());
        }
        let token = (self.mint)(user)?;
        self.minted.insert(user.to_owned(), token.clone());
        Ok(token)
    }
}

/// Runs the set-up operations in order; answers each operation's name and time.
pub async fn setup(
    api: &Graphql,
    tokens: &mut Tokens<'_>,
    admin: &str,
    operations: &[Operation],
    people: &People,
    captured: &mut Captured,
) -> anyhow::Result<Vec<(String, Duration, bool)>> {
    // Every department's owner and manager are `${department.<name>.owner}` and `.manager`
    // everywhere (when it has two people), and `${department.owner}` in its own operations.
    match people.department_heads() {
        Ok(heads) => captured.heads = heads,
        Err(e) if operations.iter().any(|op| op.for_each == Some(ForEach::Department)) => return Err(e),
        Err(_) => {}
    }
    for (department, (owner, manager)) in &captured.heads {
        captured.global.insert(format!("department.{department}.owner"), json!(owner));
        captured.global.insert(format!("department.{department}.manager"), json!(manager));
    }
    let mut times = Vec::new();
    for op in operations {
        let departments: Vec<Option<String>> = match op.for_each {
            Some(ForEach::Department) => people.departments().into_iter().map(Some).collect(),
            Some(ForEach::Organization) => captured.organizations.keys().cloned().map(Some).collect(),
            None => vec![None],
        };
        let started = Instant::now();
        for department in &departments {
            let items: Vec<Option<Value>> = match &op.over {
                Some(list) => match captured.scope(department.as_deref(), None).get(list) {
                    Some(Value::Array(items)) => items.iter().cloned().map(Some).collect(),
                    _ => anyhow::bail!("set-up `{}`: `{list}` is not a list captured before", op.name),
                },
                None => vec![None],
            };
            for (i, item) in (1..=op.repeat).flat_map(|i| items.iter().map(move |item| (i, item))) {
                let mut scope = captured.scope(department.as_deref(), (op.repeat > 1).then_some(i));
                if let Some(item) = item {
                    scope.insert("item".into(), item.clone());
                }
                let variables = substitute(&op.variables()?, &scope)?;
                let query = substitute_text(&op.query, &scope)?;
                let token = match &op.actor {
                    Some(actor) => tokens.of(&substitute_text(actor, &scope)?)?,
                    None => admin.to_owned(),
                };
                let data = api.execute(&token, &query, variables).await.map_err(|e| {
                    anyhow::anyhow!(
                        "set-up `{}` ({}): {} {}",
                        op.name,
                        department.as_deref().unwrap_or("-"),
                        e.code,
                        e.message
                    )
                })?;
                let into = match department {
                    Some(d) => captured.departments.entry(d.clone()).or_default(),
                    None => &mut captured.global,
                };
                for (name, pointer) in &op.capture {
                    into.insert(name.clone(), picked(&data, pointer, &op.name, name)?);
                }
                for (name, pointer) in &op.collect {
                    let value = picked(&data, pointer, &op.name, name)?;
                    if let Value::Array(items) = into.entry(name.clone()).or_insert_with(|| json!([])) {
                        items.push(value);
                    }
                }
            }
        }
        tracing::info!(operation = %op.name, seconds = started.elapsed().as_secs_f64(), "set-up operation done");
        times.push((op.name.clone(), started.elapsed(), op.timed));
    }
    Ok(times)
}

/// The value at `pointer` in an operation's `data`, to keep as `name`.
fn picked(data: &Value, pointer: &str, operation: &str, name: &str) -> anyhow::Result<Value> {
    data.pointer(pointer).filter(|v| !v.is_null()).cloned().with_context(|| {
        format!("set-up `{operation}`: nothing at `{pointer}` to keep as `{name}` in {data}")
    })
}

/// What requests and intrusions came to.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Requests acknowledged.
    pub requests: usize,
    pub delivered: usize,
    pub denied: usize,
    /// Requests refused when sent (the person holds or asked for the package already).
    pub refused: BTreeMap<String, usize>,
    /// Requests that did not end delivered or denied, with what they ended as.
    pub unfinished: Vec<String>,
    /// Delegates' attempts to act outside their catalog.
    pub intrusions: Attempts,
    /// Delegates who saw other catalogs than their own.
    pub overseen: Vec<String>,
    /// Requests managers made for their reports, and the ids of those delivered.
    pub on_behalf: usize,
    pub on_behalf_delivered: Vec<String>,
    /// Requests for someone who does not report to the requestor.
    pub strangers: Attempts,
}

/// Attempts at something that must be refused: how many, the refusals by error code, and
/// what was let through.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    pub made: usize,
    pub refused: BTreeMap<String, usize>,
    pub let_through: Vec<String>,
}

impl Attempts {
    /// Counts an attempt by its answer; `described` says what an answer that let it through did.
    pub fn record(&mut self, answer: Result<Value, Refused>, described: impl FnOnce(Value) -> String) {
        self.made += 1;
        match answer {
            Err(e) => *self.refused.entry(e.code).or_default() += 1,
            Ok(data) => self.let_through.push(described(data)),
        }
    }

    /// An invariant's failure when one was let through (`what`: "let through", "let in").
    #[must_use]
    pub fn failure(&self, what: &str) -> Option<String> {
        self.let_through
            .first()
            .map(|first| format!("{} of {} {what}, first: {first}", self.let_through.len(), self.made))
    }
}

const SUBMIT: &str = "mutation($input: CreateAssignmentRequestInput!) {
    createAssignmentRequest(input: $input) { assignmentRequest { id state } } }";
const DECIDE: &str = "mutation($input: UpdateApprovalStageInput!) {
    updateApprovalStage(input: $input) { assignmentRequest { id state status } } }";

/// The people acting on a day, and where what they do is counted.
pub struct Day<'a, 't> {
    pub api: &'a Graphql,
    pub tokens: &'a mut Tokens<'t>,
    pub people: &'a People,
    pub captured: &'a Captured,
    pub rng: &'a mut Rng,
    pub operations: &'a mut BTreeMap<String, Samples>,
    pub tally: &'a mut Tally,
}

impl Day<'_, '_> {
    /// The day's requests: `count` people each request a package of their department, and the
    /// department's approver decides each at once. The day's requests are drawn first (a person
    /// asks for a package once a day), then sent by `clients` concurrent clients; their outcomes
    /// are counted in the order they were drawn, so the counts do not depend on timing.
    pub async fn requests(&mut self, phase: &Phase, count: usize, clients: usize) -> anyhow::Result<()> {
        let Self { api, tokens, people, captured, rng, operations, tally } = self;
        let mut planned = Vec::new();
        let mut drawn = HashSet::new();
        for _ in 0..count {
            let Some(id) = people.pick(rng) else { break };
            let department = people.present[&id].department.clone();
            // What the department's scope would give, looked up without copying the scope for
            // each request: its own `packages`, else the global ones.
            let own = captured.departments.get(&department);
            let Some(Value::Array(packages)) =
                own.and_then(|c| c.get("packages")).or_else(|| captured.global.get("packages"))
            else {
                continue;
            };
            if packages.is_empty() {
                continue;
            }
            let package = packages[rng.below(packages.len())].clone();
            let approver = match &phase.approver {
                Some(a) => substitute_text(a, &captured.scope(Some(&department), None))?,
                None => {
                    captured.heads.get(&department).map(|(_, manager)| manager.clone()).unwrap_or_default()
                }
            };
            #[allow(clippy::cast_precision_loss)]
            let approve = (rng.below(1_000_000) as f64) < phase.approve * 1_000_000.0;
            if approver == id || !drawn.insert((id.clone(), package.to_string())) {
                continue;
            }
            let (requestor, decider) = (tokens.of(&id)?, tokens.of(&approver)?);
            planned.push(Planned { id, department, package, approver, approve, requestor, decider });
        }
        let outcomes: Vec<Outcome> = futures::stream::iter(planned)
            .map(|plan| lifecycle(api, plan))
            .buffered(clients.max(1))
            .collect()
            .await;
        for outcome in outcomes {
            operations.entry("createAssignmentRequest".into()).or_default().push(outcome.submitted);
            if let Some(decided) = outcome.decided {
                operations.entry("updateApprovalStage".into()).or_default().push(decided);
            }
            match outcome.result {
                Ended::Refused(code) => *tally.refused.entry(code).or_default() += 1,
                Ended::AsDecided { approved } => {
                    tally.requests += 1;
                    if approved {
                        tally.delivered += 1;
                    } else {
                        tally.denied += 1;
                    }
                }
                Ended::Otherwise(what) => {
                    tally.requests += 1;
                    tally.unfinished.push(what);
                }
            }
        }
        Ok(())
    }

    /// The day's requests on behalf of others: `count` people drawn, each one's manager requests
    /// `package` for them (sent by `clients` concurrent clients; no two for one person a day),
    /// and `strangers` times someone of another department requests it for a person drawn.
    pub async fn on_behalf(
        &mut self,
        package: &str,
        count: usize,
        strangers: usize,
        clients: usize,
    ) -> anyhow::Result<()> {
        let Self { api, tokens, people, captured, rng, operations, tally } = self;
        let api: &Graphql = api;
        let mut planned = Vec::new();
        let mut drawn = HashSet::new();
        for _ in 0..count {
            let Some(id) = people.pick(rng) else { break };
            let Some(manager) = people.manager_of(&id, &captured.heads) else { continue };
            if drawn.insert(id.clone()) {
                planned.push((tokens.of(manager)?, manager.clone(), id));
            }
        }
        let sent: Vec<(Duration, Result<Value, Refused>, String, String)> = futures::stream::iter(planned)
            .map(|(token, manager, id)| async move {
                let at = Instant::now();
                let sent = api.execute(&token, ON_BEHALF, on_behalf_input(package, &id)).await;
                (at.elapsed(), sent, manager, id)
            })
            .buffered(clients.max(1))
            .collect()
            .await;
        for (took, sent, manager, id) in sent {
            operations.entry("createAssignmentRequest (on behalf)".into()).or_default().push(took);
            tally.requests += 1;
            tally.on_behalf += 1;
            match sent {
                Ok(data) if data["createAssignmentRequest"]["assignmentRequest"]["state"] == "delivered" => {
                    let request = &data["createAssignmentRequest"]["assignmentRequest"]["id"];
                    tally.delivered += 1;
                    tally.on_behalf_delivered.push(request.as_str().unwrap_or_default().to_owned());
                }
                Ok(data) => tally.unfinished.push(format!("{manager} for {id}: {data}")),
                Err(e) => {
                    tally.unfinished.push(format!("{manager} for {id}: refused {} {}", e.code, e.message))
                }
            }
        }
        for _ in 0..strangers {
            let (Some(id), Some(stranger)) = (people.pick(rng), people.pick(rng)) else { break };
            if people.present[&id].department == people.present[&stranger].department
                || people.manager_of(&id, &captured.heads) == Some(&stranger)
            {
                continue;
            }
            let token = tokens.of(&stranger)?;
            let at = Instant::now();
            let sent = api.execute(&token, ON_BEHALF, on_behalf_input(package, &id)).await;
            operations
                .entry("createAssignmentRequest (not their report)".into())
                .or_default()
                .push(at.elapsed());
            tally.strangers.record(sent, |data| format!("{stranger} requested for {id}: {data}"));
        }
        Ok(())
    }

    /// The day's intrusions: a department's owner tries to create a package in the catalog of
    /// another department.
    pub async fn intrusions(&mut self, count: usize) -> anyhow::Result<()> {
        let Self { api, tokens, people, captured, rng, operations, tally } = self;
        let departments = people.departments();
        if departments.len() < 2 {
            return Ok(());
        }
        for _ in 0..count {
            let from = &departments[rng.below(departments.len())];
            let others: Vec<&String> = departments.iter().filter(|d| *d != from).collect();
            let into = others[rng.below(others.len())];
            let Some((owner, _)) = captured.heads.get(from) else { continue };
            let Some(catalog) = captured.departments.get(into).and_then(|c| c.get("catalog")) else {
                continue;
            };
            let token = tokens.of(owner)?;
            let at = Instant::now();
            let attempt = api
                .execute(
                    &token,
                    "mutation($c: ID!) { createAccessPackage(input: {catalogId: $c, displayName: \"Not mine\"}) {
                       accessPackage { id } } }",
                    json!({ "c": catalog }),
                )
                .await;
            operations
                .entry("createAccessPackage (outside the catalog)".into())
                .or_default()
                .push(at.elapsed());
            tally.intrusions.record(attempt, |data| {
                format!("{owner} of {from} created a package in {into}'s catalog: {data}")
            });
        }
        Ok(())
    }
}

const ON_BEHALF: &str = "mutation($input: CreateAssignmentRequestInput!) {
    createAssignmentRequest(input: $input) { assignmentRequest { id state } } }";

fn on_behalf_input(package: &str, target: &str) -> Value {
    json!({ "input": { "requestType": "userAdd", "accessPackageId": package, "targetId": target,
                       "justification": format!("{target} lost their phone and needs a Temporary Access Pass") } })
}

/// A request drawn for the day, with the tokens of its requestor and its approver.
struct Planned {
    id: String,
    department: String,
    package: Value,
    approver: String,
    approve: bool,
    requestor: String,
    decider: String,
}

/// How a drawn request went, and how long its two operations took.
struct Outcome {
    submitted: Duration,
    decided: Option<Duration>,
    result: Ended,
}

enum Ended {
    /// Refused when sent, with the error's code.
    Refused(String),
    AsDecided {
        approved: bool,
    },
    /// Not as the approver decided: what it ended as.
    Otherwise(String),
}

/// Sends a drawn request and has its approver decide it.
async fn lifecycle(api: &Graphql, plan: Planned) -> Outcome {
    let Planned { id, department, package, approver, approve, requestor, decider } = plan;
    let at = Instant::now();
    let submitted = api
        .execute(
            &requestor,
            SUBMIT,
            json!({ "input": { "requestType": "userAdd", "accessPackageId": package,
                               "justification": format!("{id} needs it for {department}") } }),
        )
        .await;
    let submit_time = at.elapsed();
    let request = match submitted {
        Ok(data) => {
            data["createAssignmentRequest"]["assignmentRequest"]["id"].as_str().unwrap_or_default().to_owned()
        }
        Err(e) => return Outcome { submitted: submit_time, decided: None, result: Ended::Refused(e.code) },
    };
    let at = Instant::now();
    let decided = api
        .execute(
            &decider,
            DECIDE,
            json!({ "input": { "approvalId": request,
                               "reviewResult": if approve { "Approve" } else { "Deny" },
                               "justification": "decided by the department's approver" } }),
        )
        .await;
    let decide_time = at.elapsed();
    let state = match decided {
        Ok(data) => {
            data["updateApprovalStage"]["assignmentRequest"]["state"].as_str().unwrap_or_default().to_owned()
        }
        Err(e) => format!("{} {}", e.code, e.message),
    };
    let result = match state.as_str() {
        "delivered" if approve => Ended::AsDecided { approved: true },
        "denied" if !approve => Ended::AsDecided { approved: false },
        other => Ended::Otherwise(format!("{request} ({id}, approver {approver}): {other}")),
    };
    Outcome { submitted: submit_time, decided: Some(decide_time), result }
}

/// Each department's owner and manager list the catalogs they see: theirs, and no other.
pub async fn visibility(
    api: &Graphql,
    tokens: &mut Tokens<'_>,
    captured: &Captured,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    tally.overseen.clear();
    for (department, (owner, manager)) in &captured.heads {
        let own = captured.departments.get(department).and_then(|c| c.get("catalog")).and_then(Value::as_str);
        for delegate in [owner, manager] {
            let token = tokens.of(delegate)?;
            let data = api
                .execute(&token, "{ catalogs(first: 100) { nodes { id } } }", json!({}))
                .await
                .map_err(|e| anyhow::anyhow!("catalogs of {delegate}: {} {}", e.code, e.message))?;
            let seen: Vec<&str> = data["catalogs"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["id"].as_str())
                .collect();
            if seen != own.into_iter().collect::<Vec<_>>() {
                tally.overseen.push(format!("{delegate} of {department} sees {seen:?}"));
            }
        }
    }
    Ok(())
}
