//! Property tests: the compiled evaluator ([`super::compile`]) agrees with the reference
//! evaluator on random rules and random directories, before and after random changes to the
//! index, and neither panics.
//!
//! Rules and users draw their strings from one small vocabulary, with case variants and the
//! Unicode that lowercasing and case-insensitive regular expressions treat differently, so that
//! comparisons hold often enough to mean something. A share of the rules comes from the
//! round-trip tests' generator, for shapes this one does not make. Seeds are fixed.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::ast::{
    Comparison, Expr, IsoDuration, Offset, Op, Pattern, Quantified, Quantifier, Sign, Subject, Value,
};
use super::roundtrip::{Rng, random_rule};
use super::schema::{Collection, PlanField, PropertyType, UserProperty, parse_datetime};
use super::{CompiledRule, DirectoryIndex, DirectoryRelations, EvalContext, Rule, RuleBody, evaluate};
use crate::directory::{AssignedPlan, ObjectRef, OnPremisesExtensionAttributes, User, UserType};

const WORDS: &[&str] = &[
    "Sales",
    "sales",
    "SALES",
    "Marketing",
    "Sales Ops",
    "",
    " ",
    "École",
    "ÉCOLE",
    "İstanbul",
    "istanbul",
    "straße",
    "STRASSE",
    "ΣΊΣΥΦΟΣ",
    "σίσυφος",
    "\u{212A}",
    "k",
    "smtp:alice@contoso.com",
    "SMTP:Bob@Contoso.com",
    "x@fabrikam.com",
    "50001",
    "David",
    "aDa",
    "Enabled",
    "Suspended",
    "exchange",
    "SCO",
    "a\"b",
    "12",
];

const PATTERNS: &[&str] =
    &["^Da.*", ".*vid", r"@contoso\.com$", "^s", "^[0-9]+$", "^i", "^.$", "(?-i)Sales", "", "SS", "^k$"];

const EXTENSIONS: [&str; 2] = [
    "extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber",
    "extension_c272a57b722d4eb29bfe327874ae79cb_cost",
];

const HIRE_DATES: &[&str] = &[
    "2020-06-10",
    "2020-06-10T00:00:00Z",
    "2020-06-10T02:00:00+02:00",
    "2020-06-10T00:00:00.000000001",
    "2025-05-31T00:00:00Z",
    "2025-06-01T00:00:00Z",
    "2016-12-31T23:59:60Z",
    "yesterday",
    "",
];

const GROUPS: &[&str] = &["g-sales", "G-SALES", "g-eng", "g-x"];

fn now() -> DateTime<Utc> {
    parse_datetime("2025-06-01T00:00:00Z").unwrap_or_default()
}

fn word(rng: &mut Rng) -> String {
    rng.pick(WORDS).to_owned()
}

fn maybe(rng: &mut Rng, percent: u64) -> Option<String> {
    rng.chance(percent).then(|| word(rng))
}

fn words(rng: &mut Rng) -> Vec<String> {
    (0..rng.below(4)).map(|_| word(rng)).collect()
}

fn random_user(rng: &mut Rng, id: String, ids: &[String]) -> User {
    let plan = |rng: &mut Rng| AssignedPlan {
        assigned_date_time: None,
        capability_status: maybe(rng, 70),
        service: maybe(rng, 70),
        service_plan_id: maybe(rng, 50),
    };
    let mut extensions = std::collections::BTreeMap::new();
    for _ in 0..rng.below(3) {
        let name = rng.pick(&EXTENSIONS);
        let name = if rng.chance(30) { name.to_ascii_uppercase() } else { name.to_owned() };
        extensions.insert(name, word(rng));
    }
    let manager = match rng.below(4) {
        0 => None,
        1 => Some("Ghost".to_owned()),
        _ if ids.is_empty() => None,
        _ => Some(rng.pick(ids)).map(|id| if rng.chance(30) { id.to_ascii_uppercase() } else { id }),
    };
    User {
        id: id.into(),
        display_name: maybe(rng, 80),
        given_name: maybe(rng, 30),
        mail: maybe(rng, 60),
        department: maybe(rng, 80),
        job_title: maybe(rng, 50),
        country: maybe(rng, 70),
        city: maybe(rng, 40),
        employee_id: maybe(rng, 20),
        business_phones: words(rng),
        other_mails: words(rng),
        proxy_addresses: words(rng),
        user_type: [None, Some(UserType::Member), Some(UserType::Guest)].get(rng.below(3)).copied().flatten(),
        account_enabled: [None, Some(true), Some(false)].get(rng.below(3)).copied().flatten(),
        on_premises_sync_enabled: [None, Some(true), Some(false)].get(rng.below(3)).copied().flatten(),
        employee_hire_date: rng.chance(70).then(|| rng.pick(HIRE_DATES).to_owned()),
        manager: manager.map(|id| ObjectRef { id }),
        assigned_plans: (0..rng.below(4)).map(|_| plan(rng)).collect(),
        on_premises_extension_attributes: OnPremisesExtensionAttributes {
            extension_attribute1: maybe(rng, 40),
            extension_attribute15: maybe(rng, 20),
            ..OnPremisesExtensionAttributes::default()
        },
        extensions,
        ..User::default()
    }
}

fn random_text_value(rng: &mut Rng, op: Op, patterns: &[Pattern]) -> Value {
    match op {
        Op::In | Op::NotIn => Value::List((0..1 + rng.below(3)).map(|_| word(rng)).collect()),
        Op::Match | Op::NotMatch => Value::Pattern(rng.pick(patterns)),
        Op::Eq | Op::Ne if rng.chance(20) => Value::Null,
        _ => Value::String(word(rng)),
    }
}

fn random_property(rng: &mut Rng) -> UserProperty {
    rng.pick(&[
        UserProperty::Department,
        UserProperty::Country,
        UserProperty::DisplayName,
        UserProperty::Mail,
        UserProperty::JobTitle,
        UserProperty::City,
        UserProperty::GivenName,
        UserProperty::EmployeeId,
        UserProperty::Surname,
        UserProperty::TelephoneNumber,
        UserProperty::UserType,
        UserProperty::ObjectId,
        UserProperty::ExtensionAttribute(1),
        UserProperty::ExtensionAttribute(15),
        UserProperty::Extension(EXTENSIONS[0].to_owned()),
        UserProperty::Extension(EXTENSIONS[1].to_owned()),
        UserProperty::AccountEnabled,
        UserProperty::DirSyncEnabled,
        UserProperty::EmployeeHireDate,
        UserProperty::OtherMails,
        UserProperty::ProxyAddresses,
    ])
}

fn random_condition(rng: &mut Rng, depth: usize, scope: Option<Collection>, patterns: &[Pattern]) -> Expr {
    if depth == 0 || rng.chance(40) {
        return random_leaf(rng, depth, scope, patterns);
    }
    let items = (0..2 + rng.below(2)).map(|_| random_condition(rng, depth - 1, scope, patterns)).collect();
    match rng.below(5) {
        0 | 1 => Expr::Or(items),
        2 | 3 => Expr::And(items),
        _ => Expr::Not(Box::new(random_condition(rng, depth - 1, scope, patterns))),
    }
}

fn random_leaf(rng: &mut Rng, depth: usize, scope: Option<Collection>, patterns: &[Pattern]) -> Expr {
    if scope.is_none() && depth > 0 && rng.chance(20) {
        let collection =
            rng.pick(&[Collection::OtherMails, Collection::ProxyAddresses, Collection::AssignedPlans]);
        let quantifier = rng.pick(&[Quantifier::Any, Quantifier::All]);
        let predicate = Box::new(random_condition(rng, depth - 1, Some(collection), patterns));
        return Expr::Quantified(Quantified { collection, quantifier, predicate });
    }
    let subject = match scope {
        None => Subject::User(random_property(rng)),
        Some(Collection::AssignedPlans) => Subject::Plan(rng.pick(&PlanField::ALL)),
        Some(_) => Subject::Element,
    };
    let kind = match &subject {
        Subject::User(property) => property.property_type(),
        _ => PropertyType::String,
    };
    let (op, value) = match kind {
        PropertyType::Boolean => {
            let value = if rng.chance(15) { Value::Null } else { Value::Bool(rng.chance(50)) };
            (rng.pick(&[Op::Eq, Op::Ne]), value)
        }
        PropertyType::DateTime => {
            let op = rng.pick(&[Op::Eq, Op::Ne, Op::Le, Op::Ge]);
            let day = IsoDuration { days: 1, ..IsoDuration::default() };
            let huge = IsoDuration { years: 999_999, ..IsoDuration::default() };
            let value = match rng.below(5) {
                0 if matches!(op, Op::Eq | Op::Ne) => Value::Null,
                1 => Value::Now(None),
                2 => Value::Now(Some(Offset {
                    sign: rng.pick(&[Sign::Plus, Sign::Minus]),
                    duration: if rng.chance(15) { huge } else { day },
                })),
                _ => Value::DateTime(parse_datetime(rng.pick(HIRE_DATES)).unwrap_or_else(now)),
            };
            (op, value)
        }
        _ => {
            let op = rng.pick(&Op::ALL[..12]);
            (op, random_text_value(rng, op, patterns))
        }
    };
    Expr::Compare(Comparison { subject, op, value })
}

fn random_case(rng: &mut Rng, text: &str) -> String {
    if rng.chance(30) { text.to_ascii_uppercase() } else { text.to_owned() }
}

fn random_rule_for(rng: &mut Rng, ids: &[String], patterns: &[Pattern]) -> Rule {
    let body = match rng.below(20) {
        0 => {
            let mut group_ids = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let group = rng.pick(GROUPS);
                group_ids.push(random_case(rng, group));
            }
            RuleBody::MemberOf { group_ids }
        }
        1 => {
            let manager = if ids.is_empty() || rng.chance(20) { "ghost".to_owned() } else { rng.pick(ids) };
            RuleBody::DirectReports { manager_id: random_case(rng, &manager) }
        }
        2 | 3 => return random_rule(rng),
        _ => RuleBody::Condition(random_condition(rng, 3, None, patterns)),
    };
    Rule::new(body)
}

/// The directory as the reference evaluator sees it: users and memberships.
struct World {
    users: Vec<User>,
    memberships: BTreeSet<(String, String)>,
    next_id: usize,
}

impl World {
    fn random(rng: &mut Rng) -> Self {
        let mut world = Self { users: Vec::new(), memberships: BTreeSet::new(), next_id: 0 };
        for _ in 0..rng.below(24) {
            let user = world.new_user(rng);
            world.users.push(user);
        }
        for _ in 0..rng.below(world.users.len() * 2 + 1) {
            if let Some(user) = world.users.get(rng.below(world.users.len())) {
                world.memberships.insert((user.id.to_string(), rng.pick(GROUPS).to_owned()));
            }
        }
        world
    }

    fn ids(&self) -> Vec<String> {
        self.users.iter().map(|user| user.id.to_string()).collect()
    }

    fn new_user(&mut self, rng: &mut Rng) -> User {
        self.next_id += 1;
        let ids = self.ids();
        random_user(rng, format!("u{}", self.next_id), &ids)
    }

    fn relations(&self) -> DirectoryRelations {
        let mut relations = DirectoryRelations::from_users(&self.users);
        for (user, group) in &self.memberships {
            relations.add_member(user, group);
        }
        relations
    }

    fn index(&self) -> DirectoryIndex {
        DirectoryIndex::build(&self.users, self.memberships.iter().map(|(u, g)| (u.as_str(), g.as_str())))
    }

    /// Random upserts of new and existing users, removals and membership changes, applied to
    /// both the world and the index.
    fn change(&mut self, rng: &mut Rng, index: &mut DirectoryIndex) {
        for _ in 0..1 + rng.below(6) {
            match rng.below(5) {
                0 | 1 => {
                    let user = self.new_user(rng);
                    index.upsert(&user);
                    self.users.push(user);
                }
                2 if !self.users.is_empty() => {
                    let at = rng.below(self.users.len());
                    let ids = self.ids();
                    let id = self.users[at].id.to_string();
                    self.users[at] = random_user(rng, id, &ids);
                    index.upsert(&self.users[at]);
                }
                3 if !self.users.is_empty() => {
                    let user = self.users.remove(rng.below(self.users.len()));
                    assert!(index.remove(&user.id).is_some());
                    self.memberships.retain(|(member, _)| *member != user.id);
                }
                _ if !self.users.is_empty() => {
                    let id = self.users[rng.below(self.users.len())].id.to_string();
                    let group = rng.pick(GROUPS).to_owned();
                    if rng.chance(50) {
                        index.add_member(&id, &group);
                        self.memberships.insert((id, group));
                    } else {
                        let groups: Vec<&str> = (0..rng.below(3)).map(|_| rng.pick(GROUPS)).collect();
                        index.set_member_of(&id, &groups);
                        self.memberships.retain(|(member, _)| *member != id);
                        self.memberships.extend(groups.iter().map(|g| (id.clone(), (*g).to_owned())));
                    }
                }
                _ => {}
            }
        }
    }

    /// Asserts the compiled rule selects exactly whom the reference selects, in bulk and one
    /// user at a time. Returns how many it selected.
    fn assert_agrees(
        &self,
        rule: &Rule,
        compiled: &CompiledRule,
        index: &DirectoryIndex,
        case: usize,
    ) -> usize {
        let relations = self.relations();
        let ctx = EvalContext::new(now(), &relations);
        let bits = compiled.evaluate(index, now());
        assert_eq!(bits.len(), index.positions());
        let mut selected = 0;
        for user in &self.users {
            let expected = evaluate(rule, user, &ctx);
            let position = index.position(&user.id).unwrap_or_else(|| panic!("{} is not indexed", user.id));
            let (bulk, single) = (bits.contains(position.index()), compiled.matches(index, position, now()));
            assert!(
                bulk == expected && single == expected,
                "case {case}: rule `{rule}`\nreference {expected}, bulk {bulk}, single {single}\nuser {user:#?}"
            );
            selected += usize::from(expected);
        }
        assert_eq!(bits.count(), selected, "case {case}: `{rule}` selects a tombstone");
        selected
    }
}

#[test]
fn compiled_agrees_with_the_reference_on_random_rules_and_directories() {
    let patterns: Vec<Pattern> = PATTERNS.iter().filter_map(|p| Pattern::new(p).ok()).collect();
    assert_eq!(patterns.len(), PATTERNS.len());
    let mut rng = Rng::new(0xC0_4D11E);
    let (mut checked, mut selecting, mut rejecting) = (0, 0, 0);
    for case in 0..500 {
        let mut world = World::random(&mut rng);
        let mut index = world.index();
        let rules: Vec<Rule> = (0..12).map(|_| random_rule_for(&mut rng, &world.ids(), &patterns)).collect();
        let mut compiled: Vec<CompiledRule> =
            rules.iter().map(|rule| CompiledRule::compile(rule, &index)).collect();
        for (rule, plan) in rules.iter().zip(&compiled) {
            let selected = world.assert_agrees(rule, plan, &index, case);
            checked += 1;
            selecting += usize::from(selected > 0);
            rejecting += usize::from(selected < world.users.len());
        }

        // The plans were compiled before these changes: new values are decided when met.
        world.change(&mut rng, &mut index);
        for (rule, plan) in rules.iter().zip(&mut compiled) {
            world.assert_agrees(rule, plan, &index, case);
            plan.refresh(&index);
            world.assert_agrees(rule, plan, &index, case);
            world.assert_agrees(rule, &CompiledRule::compile(rule, &index), &index, case);
            checked += 3;
        }
    }
    assert!(checked >= 20_000, "only {checked} rule evaluations");
    assert!(
        selecting > 1_000 && rejecting > 1_000,
        "too few decided cases: {selecting} select, {rejecting} reject"
    );
}

#[test]
fn compiled_agrees_on_the_corpus_fixtures() {
    let users = super::corpus::fixtures();
    let relations = super::corpus::relations(&users);
    let index = DirectoryIndex::build(&users, relations.memberships());
    let world = World { users, memberships: BTreeSet::new(), next_id: 0 };
    let mut rng = Rng::new(11);
    let patterns: Vec<Pattern> = PATTERNS.iter().filter_map(|p| Pattern::new(p).ok()).collect();
    for case in 0..2_000 {
        let rule = random_rule_for(&mut rng, &world.ids(), &patterns);
        let ctx = EvalContext::new(now(), &relations);
        let compiled = CompiledRule::compile(&rule, &index);
        for user in &world.users {
            let position = index.position(&user.id).unwrap_or_else(|| panic!("{} is not indexed", user.id));
            assert_eq!(
                compiled.matches(&index, position, now()),
                evaluate(&rule, user, &ctx),
                "case {case}: `{rule}`"
            );
        }
    }
}
