//! What a scenario's people do beyond directory changes: the set-up operations (by the
//! administrator or a delegate, once or per department, repeated), requests of their
//! department's packages decided by its approver, and delegates trying to act in a catalog that
//! is not theirs. Values captured by set-up operations are kept globally or per department.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::client::Graphql;
use crate::rng::Rng;
use crate::scenario::{ForEach, Operation, People, Phase, substitute, substitute_text};
use crate::stats::Samples;

/// Captured values, and each department's owner and manager.
#[derive(Debug, Default)]
pub struct Captured {
    pub global: BTreeMap<String, Value>,
    pub departments: BTreeMap<String, BTreeMap<String, Value>>,
    pub heads: BTreeMap<String, (String, String)>,
}

impl Captured {
    /// The names a `${...}` may use in `department`'s scope (the global ones otherwise), with
    /// `${i}` when given.
    #[must_use]
    pub fn scope(&self, department: Option<&str>, i: Option<usize>) -> BTreeMap<String, Value> {
        let mut scope = self.global.clone();
        if let Some(department) = department {
            scope.insert("department".into(), json!(department));
            if let Some((owner, manager)) = self.heads.get(department) {
                scope.insert("department.owner".into(), json!(owner));
                scope.insert("department.manager".into(), json!(manager));
            }
            if let Some(own) = self.departments.get(department) {
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
    if operations.iter().any(|op| op.for_each == Some(ForEach::Department)) {
        captured.heads = people.department_heads()?;
    }
    let mut times = Vec::new();
    for op in operations {
        let departments: Vec<Option<String>> = match op.for_each {
            Some(ForEach::Department) => people.departments().into_iter().map(Some).collect(),
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
                let variables = substitute(&serde_json::to_value(&op.variables)?, &scope)?;
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
    pub intrusions: usize,
    /// Intrusions refused, by error code.
    pub intrusions_refused: BTreeMap<String, usize>,
    /// An intrusion that was let through.
    pub breaches: Vec<String>,
    /// Delegates who saw other catalogs than their own.
    pub overseen: Vec<String>,
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
    /// department's approver decides each at once.
    pub async fn requests(&mut self, phase: &Phase, count: usize) -> anyhow::Result<()> {
        let Self { api, tokens, people, captured, rng, operations, tally } = self;
        for _ in 0..count {
            let Some(id) = people.pick(rng) else { break };
            let department = people.present[&id].department.clone();
            let scope = captured.scope(Some(&department), None);
            let Some(Value::Array(packages)) = scope.get("packages") else { continue };
            if packages.is_empty() {
                continue;
            }
            let package = packages[rng.below(packages.len())].clone();
            let approver = match &phase.approver {
                Some(a) => substitute_text(a, &scope)?,
                None => {
                    scope.get("department.manager").and_then(Value::as_str).unwrap_or_default().to_owned()
                }
            };
            if approver == id {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let approve = (rng.below(1_000_000) as f64) < phase.approve * 1_000_000.0;
            let token = tokens.of(&id)?;
            let at = Instant::now();
            let submitted = api
                .execute(
                    &token,
                    SUBMIT,
                    json!({ "input": { "requestType": "userAdd", "accessPackageId": package,
                                       "justification": format!("{id} needs it for {department}") } }),
                )
                .await;
            operations.entry("createAssignmentRequest".into()).or_default().push(at.elapsed());
            let request = match submitted {
                Ok(data) => data["createAssignmentRequest"]["assignmentRequest"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                Err(e) => {
                    *tally.refused.entry(e.code).or_default() += 1;
                    continue;
                }
            };
            tally.requests += 1;
            let token = tokens.of(&approver)?;
            let at = Instant::now();
            let decided = api
                .execute(
                    &token,
                    DECIDE,
                    json!({ "input": { "approvalId": request,
                                       "reviewResult": if approve { "Approve" } else { "Deny" },
                                       "justification": "decided by the department's approver" } }),
                )
                .await;
            operations.entry("updateApprovalStage".into()).or_default().push(at.elapsed());
            let state = match decided {
                Ok(data) => data["updateApprovalStage"]["assignmentRequest"]["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                Err(e) => format!("{} {}", e.code, e.message),
            };
            match state.as_str() {
                "delivered" if approve => tally.delivered += 1,
                "denied" if !approve => tally.denied += 1,
                other => tally.unfinished.push(format!("{request} ({id}, approver {approver}): {other}")),
            }
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
            tally.intrusions += 1;
            match attempt {
                Err(e) => *tally.intrusions_refused.entry(e.code).or_default() += 1,
                Ok(data) => tally
                    .breaches
                    .push(format!("{owner} of {from} created a package in {into}'s catalog: {data}")),
            }
        }
        Ok(())
    }
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
