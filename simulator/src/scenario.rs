//! Scenarios as data: a TOML file (`scenarios/*.toml`, documented in `scenarios/README.md`)
//! declares a population generated from a seed, the administrator's set-up as GraphQL
//! operations, a timeline in virtual days with daily rates, and invariants. [`crate::run`]
//! replays it over the wire.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::directory::{ADMIN, GLOBAL_ADMINISTRATOR_TEMPLATE};
use crate::rng::Rng;

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Every random choice comes from this seed (`--seed` overrides it).
    pub seed: u64,
    /// The virtual time the run starts at (RFC 3339): the clock is moved there before the
    /// set-up, so that dates in the set-up (a review's first start) mean the same on every run.
    #[serde(default)]
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    /// Start an endpoint for custom extensions to call, as a partner's service would run it: its
    /// URL is `${receiver.url}` in the set-up, and it verifies calls with the secret the set-up
    /// captures as `signingSecret`.
    #[serde(default)]
    pub receiver: bool,
    /// The scale `cargo test` replays it at, checking its invariants every day.
    #[serde(default = "tenth")]
    pub test_scale: f64,
    pub population: Population,
    #[serde(default)]
    pub setup: Vec<Operation>,
    #[serde(default)]
    pub phase: Vec<Phase>,
    #[serde(default)]
    pub invariant: Vec<Invariant>,
}

/// The people of the directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// How many people (multiplied by `--scale`).
    pub users: usize,
    /// Each department with its weight.
    #[serde(default)]
    pub departments: BTreeMap<String, u32>,
    /// More departments, `Department 001`, ... each of weight 1 (multiplied by `--scale`, at
    /// least one).
    #[serde(default)]
    pub generated_departments: usize,
    /// Each region with its countries; a person's region is chosen uniformly, then a country of it.
    pub regions: BTreeMap<String, Vec<String>>,
    /// Empty security groups the directory holds (ids and names), for packages to deliver.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Partner organizations and their people, who are not in the directory.
    #[serde(default)]
    pub partners: Option<Partners>,
    /// Give everyone a manager: their department's manager, whose manager is the department's
    /// owner.
    #[serde(default)]
    pub managers: bool,
}

/// Partner organizations to connect, and the people of theirs who may sign up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partners {
    /// How many organizations (multiplied by `--scale`, at least one): `Partner 001`, ... with
    /// the domain `partner-001.example` and a tenant id of their own.
    pub organizations: usize,
    /// How many of their people (multiplied by `--scale`), spread evenly over them.
    pub people: usize,
    /// Each organization's internal sponsor is a person of this department, in turn.
    pub sponsor_department: String,
}

/// An administrator's GraphQL operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    pub name: String,
    pub query: String,
    /// `${name}` in a string is replaced by a value captured before.
    #[serde(default)]
    pub variables: toml::Table,
    /// More variables as a JSON object (a Graph body pasted as it is), `${name}` allowed in
    /// its strings; merged over `variables`.
    #[serde(default)]
    pub variables_json: Option<String>,
    /// Values to capture: a name and a JSON pointer into the operation's `data`.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Reported as a figure of its own (the first population of auto-assignment policies).
    #[serde(default)]
    pub timed: bool,
    /// `department`: run once per department, with `${department}`, `${department.owner}` and
    /// `${department.manager}` (its first two people), and captures kept per department.
    #[serde(default)]
    pub for_each: Option<ForEach>,
    /// Run this many times (per department), with `${i}` from 1.
    #[serde(default = "one")]
    pub repeat: usize,
    /// Run once per item of this list (captured or collected before), with `${item}`.
    #[serde(default)]
    pub over: Option<String>,
    /// Who sends it (a user id, `${...}` allowed); the administrator by default.
    #[serde(default, rename = "as")]
    pub actor: Option<String>,
    /// Values appended to a list each time (a name and a JSON pointer), kept like captures.
    #[serde(default)]
    pub collect: BTreeMap<String, String>,
}

fn one() -> usize {
    1
}

fn tenth() -> f64 {
    0.1
}

impl Operation {
    /// The operation's variables as JSON, before substitution.
    pub fn variables(&self) -> anyhow::Result<Value> {
        let mut variables = serde_json::to_value(&self.variables)?;
        if let Some(text) = &self.variables_json {
            let Value::Object(more) = serde_json::from_str::<Value>(text)
                .with_context(|| format!("set-up `{}`: variables_json is not JSON", self.name))?
            else {
                bail!("set-up `{}`: variables_json is a JSON object", self.name);
            };
            if let Value::Object(fields) = &mut variables {
                fields.extend(more);
            }
        }
        Ok(variables)
    }
}

/// What an operation runs once for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForEach {
    Department,
    /// Each partner organization, with `${organization}`, `${organization.domain}`,
    /// `${organization.tenant}` and `${organization.sponsor}`.
    Organization,
}

/// Virtual days with daily rates, as fractions of the people present that day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    pub days: u32,
    /// People who move to another region (and country).
    #[serde(default)]
    pub movers: f64,
    #[serde(default)]
    pub joiners: f64,
    #[serde(default)]
    pub leavers: f64,
    /// People who request a package of their own department (from the list a set-up operation
    /// collected per department as `packages`), with a justification.
    #[serde(default)]
    pub requests: f64,
    /// The share of requests the approver (`approver`, `${department.manager}` by default)
    /// approves; the rest are denied.
    #[serde(default = "all")]
    pub approve: f64,
    /// Who decides a request of a department's package.
    #[serde(default)]
    pub approver: Option<String>,
    /// Times a day a department's owner tries to create a package in another department's
    /// catalog (`catalog` captured per department): each must be refused.
    #[serde(default)]
    pub intrusions: usize,
    /// Partner people who sign in with their organization's identity provider and request
    /// `partner_package`: a fraction of those who have not yet, each day.
    #[serde(default)]
    pub signups: f64,
    /// The package partners request (a `${...}` captured in the set-up).
    #[serde(default)]
    pub partner_package: Option<String>,
    /// Answers to the policy's questions (question id to the answer's text).
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
    /// The share of partners' requests their sponsor approves when told; the rest are denied.
    #[serde(default = "all")]
    pub sponsor_approve: f64,
    /// The share of partners' requests their sponsor never answers: they time out.
    #[serde(default)]
    pub sponsor_silent: f64,
    /// The share of guests who ask to extend their access once it ends within `extend_within`
    /// days; their sponsor approves.
    #[serde(default)]
    pub extend: f64,
    #[serde(default = "fortnight")]
    pub extend_within: u32,
    /// The share of review items reviewers deny; they approve the rest.
    #[serde(default)]
    pub review_deny: f64,
    /// How many days after a review starts its reviewers decide.
    #[serde(default = "two")]
    pub review_after: u32,
    /// Times a day someone of an organization nobody connected requests `partner_package`:
    /// each must be refused.
    #[serde(default)]
    pub outsiders: usize,
    /// People whose manager requests `on_behalf_package` for them, a fraction of the people.
    #[serde(default)]
    pub on_behalf: f64,
    #[serde(default)]
    pub on_behalf_package: Option<String>,
    /// Times a day someone requests `on_behalf_package` for a person who does not report to
    /// them: each must be refused.
    #[serde(default)]
    pub strangers: usize,
}

fn fortnight() -> u32 {
    14
}

fn two() -> u32 {
    2
}

fn all() -> f64 {
    1.0
}

/// What must hold at the end of every day and of the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Invariant {
    /// Nobody holds two of these packages.
    Disjoint { name: String, packages: Vec<String> },
    /// The package's holders are exactly the people of this department and region.
    AssignedExactly { name: String, package: String, department: String, region: String },
    /// Every request sent ended delivered or denied, and the deliveries hold.
    RequestsFinal { name: String },
    /// Every attempt to act outside one's catalog was refused.
    IntrusionsRefused { name: String },
    /// Each department's owner and manager see their department's catalog and no other.
    DelegatesSeeOwnCatalog { name: String },
    /// The package's guest holders are exactly the guests the simulator expects (approved by
    /// their sponsor, not denied at a review, before their end date), nobody else from outside
    /// holds it, and the directory's guests are enabled and deleted as the tenant's lifecycle
    /// setting says.
    GuestsAsDecided { name: String, package: String },
    /// Every request from an organization nobody connected was refused.
    OutsidersRefused { name: String },
    /// Every approver and reviewer was told on their socket of what they had to decide.
    DecidersNotified { name: String },
    /// The receiver got exactly one signed call for each request delivered on someone's behalf.
    ExtensionCalledOnce { name: String },
    /// Every request on behalf of someone who does not report to the requestor was refused.
    StrangersRefused { name: String },
}

impl Invariant {
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Disjoint { name, .. }
            | Self::AssignedExactly { name, .. }
            | Self::RequestsFinal { name }
            | Self::IntrusionsRefused { name }
            | Self::DelegatesSeeOwnCatalog { name }
            | Self::GuestsAsDecided { name, .. }
            | Self::OutsidersRefused { name }
            | Self::DecidersNotified { name }
            | Self::ExtensionCalledOnce { name }
            | Self::StrangersRefused { name } => name,
        }
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Reads and checks a scenario's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let scenario: Self = toml::from_str(text)?;
        scenario.check()?;
        Ok(scenario)
    }

    fn check(&self) -> anyhow::Result<()> {
        let p = &self.population;
        if p.generated_departments == 0 && p.departments.values().all(|w| *w == 0) {
            bail!(
                "population.departments needs a department with a weight above 0 (or generated_departments)"
            );
        }
        if p.regions.is_empty() || p.regions.values().any(Vec::is_empty) {
            bail!("population.regions needs a region, each with a country");
        }
        for op in &self.setup {
            if op.repeat == 0 {
                bail!("set-up `{}`: repeat is 1 or more", op.name);
            }
            op.variables()?;
        }
        for phase in &self.phase {
            for (what, rate) in [
                ("movers", phase.movers),
                ("joiners", phase.joiners),
                ("leavers", phase.leavers),
                ("requests", phase.requests),
                ("approve", phase.approve),
                ("signups", phase.signups),
                ("sponsor_approve", phase.sponsor_approve),
                ("sponsor_silent", phase.sponsor_silent),
                ("extend", phase.extend),
                ("review_deny", phase.review_deny),
                ("on_behalf", phase.on_behalf),
            ] {
                if !(0.0..=1.0).contains(&rate) {
                    bail!(
                        "phase `{}`: {what} is a fraction of the people, from 0 to 1, not {rate}",
                        phase.name
                    );
                }
            }
            if (phase.signups > 0.0 || phase.outsiders > 0) && phase.partner_package.is_none() {
                bail!(
                    "phase `{}`: partners sign up or outsiders request: name the partner_package",
                    phase.name
                );
            }
            if (phase.on_behalf > 0.0 || phase.strangers > 0) && phase.on_behalf_package.is_none() {
                bail!("phase `{}`: managers request on behalf: name the on_behalf_package", phase.name);
            }
            if phase.on_behalf > 0.0 && !p.managers {
                bail!(
                    "phase `{}`: managers request on behalf, but the population has no managers",
                    phase.name
                );
            }
            if phase.signups > 0.0 && p.partners.is_none() {
                bail!("phase `{}`: partners sign up, but the population has no partners", phase.name);
            }
        }
        if let Some(partners) = &p.partners
            && !p.departments.contains_key(&partners.sponsor_department)
            && p.generated_departments == 0
        {
            bail!(
                "population.partners.sponsor_department `{}` is not a department",
                partners.sponsor_department
            );
        }
        for invariant in &self.invariant {
            if let Invariant::AssignedExactly { region, department, name, .. } = invariant
                && (!p.regions.contains_key(region) || !p.departments.contains_key(department))
            {
                bail!("invariant `{name}`: {department} in {region} is not in the population");
            }
        }
        Ok(())
    }
}

/// A person of the population, as the simulator knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub department: String,
    pub region: String,
    pub country: String,
}

/// The people present, generated from the seed; the source of the expected answers.
#[derive(Debug, Clone)]
pub struct People {
    pub present: BTreeMap<String, Person>,
    /// The ids of `present`, in the order they came (a leaver's place taken by the last), and
    /// each one's place, so that a person is picked and leaves in constant time.
    ids: Vec<String>,
    places: HashMap<String, usize>,
    departments: Vec<(String, u32)>,
    regions: Vec<(String, Vec<String>)>,
    next: usize,
}

impl People {
    /// `users` people drawn from `population` with `rng`.
    #[must_use]
    pub fn generate(population: &Population, users: usize, rng: &mut Rng) -> Self {
        let mut people = Self {
            present: BTreeMap::new(),
            ids: Vec::new(),
            places: HashMap::new(),
            departments: population
                .departments
                .iter()
                .map(|(d, w)| (d.clone(), *w))
                .chain((1..=population.generated_departments).map(|n| (format!("Department {n:03}"), 1)))
                .collect(),
            regions: population.regions.iter().map(|(r, c)| (r.clone(), c.clone())).collect(),
            next: 0,
        };
        for _ in 0..users {
            people.join(rng);
        }
        people
    }

    /// A new person, present from now on.
    pub fn join(&mut self, rng: &mut Rng) -> Person {
        let id = format!("person-{:07}", self.next);
        self.next += 1;
        let total: u32 = self.departments.iter().map(|(_, w)| w).sum();
        let mut pick = u32::try_from(rng.below(total as usize)).unwrap_or(0);
        let mut department = self.departments[0].0.clone();
        for (d, w) in &self.departments {
            if pick < *w {
                department.clone_from(d);
                break;
            }
            pick -= w;
        }
        let (region, countries) = &self.regions[rng.below(self.regions.len())];
        let person = Person {
            id: id.clone(),
            department,
            region: region.clone(),
            country: countries[rng.below(countries.len())].clone(),
        };
        self.places.insert(id.clone(), self.ids.len());
        self.ids.push(id.clone());
        self.present.insert(id, person.clone());
        person
    }

    /// A person present, chosen with `rng`.
    pub fn pick(&self, rng: &mut Rng) -> Option<String> {
        if self.ids.is_empty() {
            return None;
        }
        Some(self.ids[rng.below(self.ids.len())].clone())
    }

    /// Takes `id` out of the people present.
    pub fn leave(&mut self, id: &str) {
        self.present.remove(id);
        if let Some(place) = self.places.remove(id) {
            self.ids.swap_remove(place);
            if let Some(moved) = self.ids.get(place) {
                self.places.insert(moved.clone(), place);
            }
        }
    }

    /// Moves `id` to a country of another region; answers the person as they are now.
    pub fn relocate(&mut self, id: &str, rng: &mut Rng) -> Option<Person> {
        let others: Vec<&(String, Vec<String>)> = {
            let region = &self.present.get(id)?.region;
            self.regions.iter().filter(|(r, _)| r != region).collect()
        };
        let (region, countries) = others[rng.below(others.len())].clone();
        let person = self.present.get_mut(id)?;
        person.country = countries[rng.below(countries.len())].clone();
        person.region = region;
        Some(person.clone())
    }

    /// Every department, in order.
    #[must_use]
    pub fn departments(&self) -> Vec<String> {
        self.departments.iter().map(|(d, _)| d.clone()).collect()
    }

    /// The owner and the manager of each department: its first two people present.
    pub fn department_heads(&self) -> anyhow::Result<BTreeMap<String, (String, String)>> {
        let mut heads = BTreeMap::new();
        for department in self.departments() {
            let mut members =
                self.present.values().filter(|p| p.department == department).map(|p| p.id.clone());
            match (members.next(), members.next()) {
                (Some(owner), Some(manager)) => {
                    heads.insert(department, (owner, manager));
                }
                _ => bail!("department `{department}` has fewer than two people: make the population larger"),
            }
        }
        Ok(heads)
    }

    /// The people of `department` in `region`.
    #[must_use]
    pub fn selected(&self, department: &str, region: &str) -> Vec<String> {
        self.present
            .values()
            .filter(|p| p.department == department && p.region == region)
            .map(|p| p.id.clone())
            .collect()
    }

    /// The manager of `id` when everyone has one: their department's manager, whose manager is
    /// its owner (who has none).
    #[must_use]
    pub fn manager_of<'h>(
        &self,
        id: &str,
        heads: &'h BTreeMap<String, (String, String)>,
    ) -> Option<&'h String> {
        let (owner, manager) = heads.get(&self.present.get(id)?.department)?;
        if id == owner {
            None
        } else if id == manager {
            Some(owner)
        } else {
            Some(manager)
        }
    }

    /// The directory to import: the people (with their managers, when `managers`), the
    /// administrator and the groups.
    pub fn directory(&self, groups: &[String], managers: bool) -> anyhow::Result<Value> {
        let mut users = vec![json!({
            "id": ADMIN, "displayName": "Simulation Administrator",
            "userPrincipalName": format!("{ADMIN}@sim.contoso.com"),
        })];
        let heads = if managers { self.department_heads()? } else { BTreeMap::new() };
        users.extend(self.present.values().map(|p| {
            let mut user = user_json(p);
            if let Some(manager) = self.manager_of(&p.id, &heads) {
                user["manager"] = json!({ "id": manager });
            }
            user
        }));
        let groups: Vec<Value> = groups
            .iter()
            .map(|g| json!({ "id": g, "displayName": g, "securityEnabled": true, "members": [] }))
            .collect();
        Ok(json!({
            "users": users,
            "groups": groups,
            "directoryRoles": [{"id": "sim-role-ga", "displayName": "Global Administrator", "isPrivileged": true,
                                "roleTemplateId": GLOBAL_ADMINISTRATOR_TEMPLATE, "members": [{"id": ADMIN}]}]
        }))
    }
}

/// A partner organization to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub name: String,
    pub domain: String,
    /// Its Entra tenant, whose tokens its people sign in with.
    pub tenant: String,
    /// The person of the directory who sponsors it.
    pub sponsor: String,
}

/// Someone of a partner organization: known to their organization's identity provider, not to
/// the directory until they become a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// Their organization's place in the list.
    pub organization: usize,
    pub object_id: String,
    pub email: String,
    pub name: String,
}

/// `n` multiplied by `scale`, rounded, at least one.
#[must_use]
pub fn scaled(n: usize, scale: f64) -> usize {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let scaled = ((n as f64) * scale).round().max(1.0) as usize;
    scaled
}

impl People {
    /// The partner organizations and their people at `scale`; each organization is sponsored by
    /// a person of `sponsor_department`, in turn.
    pub fn partners(
        &self,
        partners: &Partners,
        scale: f64,
    ) -> anyhow::Result<(Vec<Organization>, Vec<Partner>)> {
        let sponsors: Vec<&String> = self
            .present
            .values()
            .filter(|p| p.department == partners.sponsor_department)
            .map(|p| &p.id)
            .collect();
        if sponsors.is_empty() {
            bail!(
                "nobody is in `{}` to sponsor the partners: make the population larger",
                partners.sponsor_department
            );
        }
        let organizations: Vec<Organization> = (1..=scaled(partners.organizations, scale))
            .map(|k| Organization {
                name: format!("Partner {k:03}"),
                domain: format!("partner-{k:03}.example"),
                tenant: format!("00000000-0000-4000-8000-{k:012}"),
                sponsor: sponsors[(k - 1) % sponsors.len()].clone(),
            })
            .collect();
        let people = (0..scaled(partners.people, scale))
            .map(|n| {
                let organization = n % organizations.len();
                Partner {
                    organization,
                    object_id: format!("partner-oid-{n:07}"),
                    email: format!("contractor-{n:07}@{}", organizations[organization].domain),
                    name: format!("Contractor {n:07}"),
                }
            })
            .collect();
        Ok((organizations, people))
    }
}

/// A person as Graph shows a user.
#[must_use]
pub fn user_json(p: &Person) -> Value {
    json!({
        "id": p.id,
        "displayName": p.id,
        "userPrincipalName": format!("{}@sim.contoso.com", p.id),
        "department": p.department,
        "country": p.country,
    })
}

/// `value` with every `${name}` in its strings replaced by the captured value (a whole string
/// `${name}` takes the captured value as it is).
pub fn substitute(value: &Value, captured: &BTreeMap<String, Value>) -> anyhow::Result<Value> {
    Ok(match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && !name.contains("${")
            {
                captured
                    .get(name)
                    .cloned()
                    .with_context(|| format!("`${{{name}}}` was not captured before"))?
            } else {
                Value::String(substitute_text(s, captured)?)
            }
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute(v, captured)).collect::<Result<_, _>>()?)
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, captured)?)))
                .collect::<anyhow::Result<_>>()?,
        ),
        other => other.clone(),
    })
}

/// `text` with every `${name}` replaced by the captured value's text.
pub fn substitute_text(text: &str, captured: &BTreeMap<String, Value>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').with_context(|| format!("an unclosed `${{` in `{text}`"))?;
        let name = &after[..end];
        let value = captured.get(name).with_context(|| format!("`${{{name}}}` was not captured before"))?;
        match value {
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_file_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap();
                n += 1;
            }
        }
        assert!(n >= 1);
    }

    #[test]
    fn bad_scenarios_are_refused_with_the_reason() {
        let base = r#"name = "x"
seed = 1
[population]
users = 10
departments = { Sales = 1 }
regions = { EMEA = ["Germany"], AMER = ["Canada"] }
"#;
        assert!(Scenario::parse(base).is_ok());
        let e =
            Scenario::parse(&format!("{base}[[phase]]\nname = \"p\"\ndays = 1\nmovers = 2.0\n")).unwrap_err();
        assert!(format!("{e:#}").contains("movers is a fraction"), "{e:#}");
        let e = Scenario::parse(&format!("{base}color = 1\n")).unwrap_err();
        assert!(format!("{e:#}").contains("unknown field"), "{e:#}");
        let e = Scenario::parse(&format!(
            "{base}[[invariant]]\nkind = \"assigned-exactly\"\nname = \"i\"\npackage = \"p\"\ndepartment = \"HR\"\nregion = \"EMEA\"\n"
        ))
        .unwrap_err();
        assert!(format!("{e:#}").contains("HR in EMEA is not in the population"), "{e:#}");
    }

    #[test]
    fn the_same_seed_gives_the_same_people_and_moves() {
        let scenario = Scenario::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/emea-auto-assignment.toml"),
        )
        .unwrap();
        let run = |seed| {
            let mut rng = Rng::seeded(seed);
            let mut people = People::generate(&scenario.population, 200, &mut rng);
            let id = people.pick(&mut rng).unwrap();
            let before = people.present[&id].region.clone();
            let moved = people.relocate(&id, &mut rng).unwrap();
            assert_ne!(moved.region, before);
            assert!(scenario.population.regions[&moved.region].contains(&moved.country));
            people.present
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn a_leaver_is_never_picked_again() {
        let scenario = Scenario::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/emea-auto-assignment.toml"),
        )
        .unwrap();
        let mut rng = Rng::seeded(3);
        let mut people = People::generate(&scenario.population, 50, &mut rng);
        let mut left = Vec::new();
        for _ in 0..40 {
            let id = people.pick(&mut rng).unwrap();
            people.leave(&id);
            left.push(id);
        }
        assert_eq!(people.present.len(), 10);
        for _ in 0..200 {
            let id = people.pick(&mut rng).unwrap();
            assert!(people.present.contains_key(&id) && !left.contains(&id));
        }
    }

    #[test]
    fn captured_values_replace_their_names() {
        let captured: BTreeMap<String, Value> =
            [("a".to_owned(), json!("id-1")), ("n".to_owned(), json!(3))].into();
        assert_eq!(
            substitute(&json!({"x": "${a}", "y": ["${n}", "p-${a}-${n}"]}), &captured).unwrap(),
            json!({"x": "id-1", "y": [3, "p-id-1-3"]})
        );
        assert!(substitute(&json!("${b}"), &captured).is_err());
    }
}
