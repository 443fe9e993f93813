//! Property tests without external crates, driven by a seeded xorshift generator.
//!
//! - Random checked rules, printed with random but equivalent surface syntax (case, hyphens,
//!   quote styles, extra parentheses, spacing, `$null`, date offsets), parse back to the rule
//!   generated; the normalized form parses back to it too, and evaluation does not panic.
//! - Random token soup and random bytes never panic any stage; every error carries a span that
//!   fits the text, and any rule that does parse round-trips through its normalized form.

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};

use super::ast::{
    Comparison, Expr, IsoDuration, Offset, Op, Pattern, Quantified, Quantifier, Sign, Subject, Value,
};
use super::corpus::{fixtures, relations};
use super::schema::{Collection, PlanField, PropertyType, UserProperty, known_names};
use super::{Diagnostic, EvalContext, MAX_RULE_CHARS, Rule, RuleBody, evaluate, parse};

/// xorshift64: small, fast, and the same sequence on every machine.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`; `n` must not be zero.
    pub(super) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or_default()
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(super) fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

const APP_ID: &str = "c272a57b722d4eb29bfe327874ae79cb";
const PATTERNS: [&str; 7] = ["^Da.*", r"@contoso\.com$", "[0-9]+", "x|y", "a\"b", "", r"\d{2,3}"];
const ALPHABET: [char; 24] = [
    'a', 'B', 'z', '0', '7', ' ', '"', '\'', '`', 'é', '-', '_', '(', ')', '[', ']', ',', '\\', '$', '@',
    '.', '\t', 'ß', '→',
];

fn random_text(rng: &mut Rng) -> String {
    let length = rng.below(9);
    (0..length).map(|_| rng.pick(&ALPHABET)).collect()
}

/// An id: not blank, no surrounding whitespace.
fn random_id(rng: &mut Rng) -> String {
    format!("g{}{}", rng.below(100), random_text(rng).trim())
}

pub(super) fn random_rule(rng: &mut Rng) -> Rule {
    let body = match rng.below(20) {
        0 => RuleBody::MemberOf { group_ids: (0..1 + rng.below(3)).map(|_| random_id(rng)).collect() },
        1 => RuleBody::DirectReports { manager_id: random_id(rng) },
        _ => RuleBody::Condition(random_expr(rng, 3, None)),
    };
    Rule::new(body)
}

fn random_expr(rng: &mut Rng, depth: usize, scope: Option<Collection>) -> Expr {
    if depth == 0 || rng.chance(35) {
        return random_leaf(rng, depth, scope);
    }
    match rng.below(3) {
        0 | 1 => {
            let or = rng.chance(50);
            let mut items = Vec::new();
            for _ in 0..2 + rng.below(2) {
                match (random_expr(rng, depth - 1, scope), or) {
                    (Expr::Or(inner), true) | (Expr::And(inner), false) => items.extend(inner),
                    (other, _) => items.push(other),
                }
            }
            if or { Expr::Or(items) } else { Expr::And(items) }
        }
        _ => Expr::Not(Box::new(random_expr(rng, depth - 1, scope))),
    }
}

fn random_leaf(rng: &mut Rng, depth: usize, scope: Option<Collection>) -> Expr {
    if scope.is_none() && depth > 0 && rng.chance(20) {
        let collection =
            rng.pick(&[Collection::OtherMails, Collection::ProxyAddresses, Collection::AssignedPlans]);
        let quantifier = rng.pick(&[Quantifier::Any, Quantifier::All]);
        let predicate = Box::new(random_expr(rng, depth - 1, Some(collection)));
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
            let value = if rng.chance(20) { Value::Null } else { Value::Bool(rng.chance(50)) };
            (rng.pick(&[Op::Eq, Op::Ne]), value)
        }
        PropertyType::DateTime => {
            let op = rng.pick(&[Op::Eq, Op::Ne, Op::Le, Op::Ge]);
            let value = match rng.below(4) {
                0 if matches!(op, Op::Eq | Op::Ne) => Value::Null,
                1 => Value::Now(None),
                2 => Value::Now(Some(random_offset(rng))),
                _ => Value::DateTime(random_instant(rng)),
            };
            (op, value)
        }
        _ => {
            let op = rng.pick(&Op::ALL[..12]);
            let value = match op {
                Op::In | Op::NotIn => Value::List((0..1 + rng.below(3)).map(|_| random_text(rng)).collect()),
                Op::Match | Op::NotMatch => match Pattern::new(rng.pick(&PATTERNS)) {
                    Ok(pattern) => Value::Pattern(pattern),
                    Err(_) => Value::Null,
                },
                Op::Eq | Op::Ne if rng.chance(20) => Value::Null,
                _ if rng.chance(10) => Value::String(format!("{}", rng.below(1000))),
                _ => Value::String(random_text(rng)),
            };
            (op, value)
        }
    };
    Expr::Compare(Comparison { subject, op, value })
}

fn random_property(rng: &mut Rng) -> UserProperty {
    match rng.below(10) {
        0 => UserProperty::ExtensionAttribute(u8::try_from(1 + rng.below(15)).unwrap_or(1)),
        1 => UserProperty::Extension(format!(
            "extension_{APP_ID}_{}",
            rng.pick(&["OfficeNumber", "cost_center"])
        )),
        _ => {
            let comparable: Vec<UserProperty> = known_names()
                .filter_map(UserProperty::from_name)
                .filter(|p| !matches!(p, UserProperty::AssignedPlans | UserProperty::MemberOf))
                .collect();
            rng.pick(&comparable)
        }
    }
}

fn random_offset(rng: &mut Rng) -> Offset {
    let unit = |rng: &mut Rng| if rng.chance(40) { u32::try_from(rng.below(40)).unwrap_or(0) } else { 0 };
    let duration = IsoDuration {
        years: unit(rng),
        months: unit(rng),
        weeks: unit(rng),
        days: unit(rng),
        hours: unit(rng),
        minutes: unit(rng),
        seconds: unit(rng),
    };
    Offset { sign: rng.pick(&[Sign::Plus, Sign::Minus]), duration }
}

fn random_instant(rng: &mut Rng) -> DateTime<Utc> {
    let seconds = i64::try_from(rng.below(4_000_000_000)).unwrap_or(0) - 1_000_000_000;
    let seconds = if rng.chance(30) { seconds - seconds.rem_euclid(86_400) } else { seconds };
    let nanos = if rng.chance(10) { 123_000_000 } else { 0 };
    Utc.timestamp_opt(seconds, nanos).single().unwrap_or_default()
}

/// Prints a rule in random but equivalent surface syntax.
struct Noisy<'r> {
    rng: &'r mut Rng,
    out: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Or,
    And,
    Not,
    Atom,
}

impl Noisy<'_> {
    fn rule(&mut self, rule: &Rule) {
        match rule.body() {
            RuleBody::Condition(expr) => self.expr(expr, Place::Or),
            RuleBody::MemberOf { group_ids } => {
                self.word("user.memberOf");
                self.keyword("-any");
                self.out.push_str(" (");
                self.word("group.objectId");
                self.keyword("-in");
                self.list(group_ids);
                self.out.push(')');
            }
            RuleBody::DirectReports { manager_id } => {
                self.word("Direct");
                self.word("Reports");
                self.word("for");
                self.space();
                self.string(manager_id);
            }
        }
    }

    fn expr(&mut self, expr: &Expr, place: Place) {
        let own = match expr {
            Expr::Or(_) => Place::Or,
            Expr::And(_) => Place::And,
            Expr::Not(_) => Place::Not,
            Expr::Compare(_) | Expr::Quantified(_) => Place::Atom,
        };
        if own < place || self.rng.chance(15) {
            self.out.push('(');
            self.expr_bare(expr);
            self.space();
            self.out.push(')');
        } else {
            self.expr_bare(expr);
        }
    }

    fn expr_bare(&mut self, expr: &Expr) {
        match expr {
            Expr::Or(items) => self.joined(items, "-or", Place::And),
            Expr::And(items) => self.joined(items, "-and", Place::Not),
            Expr::Not(inner) => {
                self.keyword("-not");
                self.space();
                self.expr(inner, Place::Not);
            }
            Expr::Compare(comparison) => self.comparison(comparison),
            Expr::Quantified(q) => {
                self.word(&format!("user.{}", q.collection.property().name()));
                self.keyword(q.quantifier.as_str());
                self.space();
                if matches!(*q.predicate, Expr::Compare(_)) && self.rng.chance(30) {
                    self.expr_bare(&q.predicate);
                } else {
                    self.out.push('(');
                    self.expr(&q.predicate, Place::Or);
                    self.out.push(')');
                }
            }
        }
    }

    fn joined(&mut self, items: &[Expr], keyword: &str, place: Place) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.keyword(keyword);
                self.space();
            }
            self.expr(item, place);
        }
    }

    fn comparison(&mut self, c: &Comparison) {
        match &c.subject {
            Subject::User(UserProperty::Extension(name)) => {
                let attribute = name.get(43..).unwrap_or_default();
                self.word(&format!("user.extension_{APP_ID}_"));
                self.out.push_str(attribute);
            }
            Subject::User(property) => self.word(&format!("user.{}", property.name())),
            Subject::Element => self.word("_"),
            Subject::Plan(field) => self.word(&format!("assignedPlan.{}", field.name())),
        }
        self.keyword(c.op.as_str());
        self.space();
        self.value(&c.value);
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Null => {
                let null = self.rng.pick(&["null", "NULL", "$null", "Null"]);
                self.out.push_str(null);
            }
            Value::Bool(b) => {
                let cased = self.cased(&b.to_string());
                self.out.push_str(&cased);
            }
            Value::String(text) => self.string_or_number(text),
            Value::List(items) => self.list(items),
            Value::Pattern(pattern) => self.string(pattern.as_str()),
            Value::DateTime(at) => {
                let text = match self.rng.below(3) {
                    0 => at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    1 => match FixedOffset::east_opt(7_200) {
                        Some(offset) => at.with_timezone(&offset).to_rfc3339(),
                        None => at.to_rfc3339(),
                    },
                    _ if at.timestamp() % 86_400 == 0 => at.format("%Y-%m-%d").to_string(),
                    _ => at.to_rfc3339(),
                };
                if self.rng.chance(30) { self.string(&text) } else { self.out.push_str(&text) }
            }
            Value::Now(offset) => {
                let now = self.cased("system.now");
                self.out.push_str(&now);
                if let Some(offset) = offset {
                    self.keyword(offset.sign.as_str());
                    self.space();
                    let duration = self.cased(&offset.duration.to_string());
                    self.out.push_str(&duration);
                }
            }
        }
    }

    fn list(&mut self, items: &[String]) {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                let separator = self.rng.pick(&[",", ", ", " ,\n"]);
                self.out.push_str(separator);
            }
            self.string_or_number(item);
        }
        self.out.push(']');
    }

    fn string_or_number(&mut self, text: &str) {
        let number = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit());
        if number && self.rng.chance(50) { self.out.push_str(text) } else { self.string(text) }
    }

    fn string(&mut self, text: &str) {
        if self.rng.chance(50) {
            self.out.push_str(&super::ast::quoted(text));
        } else {
            self.out.push_str(&super::ast::single_quoted(text));
        }
    }

    /// A name or word after a space, in random case.
    fn word(&mut self, word: &str) {
        self.space();
        let cased = self.cased(word);
        self.out.push_str(&cased);
    }

    /// A keyword such as `-startsWith` after a space, in random case, perhaps without its hyphen.
    fn keyword(&mut self, keyword: &str) {
        let bare = keyword.trim_start_matches('-');
        let written = if self.rng.chance(70) { format!("-{bare}") } else { bare.to_owned() };
        self.word(&written);
    }

    fn space(&mut self) {
        let space = self.rng.pick(&[" ", " ", " ", "  ", "\n", "\t "]);
        self.out.push_str(space);
    }

    fn cased(&mut self, word: &str) -> String {
        match self.rng.below(4) {
            0 => word.to_ascii_lowercase(),
            1 => word.to_ascii_uppercase(),
            2 => word.chars().map(|c| if self.rng.chance(50) { c.to_ascii_uppercase() } else { c }).collect(),
            _ => word.to_owned(),
        }
    }
}

fn noisy(rule: &Rule, rng: &mut Rng) -> String {
    let mut printer = Noisy { rng, out: String::new() };
    printer.rule(rule);
    printer.out
}

/// Evaluates against every fixture, which must not panic.
fn evaluate_all(rule: &Rule) {
    let users = fixtures();
    let relations = relations(&users);
    let ctx = EvalContext::new(Utc.timestamp_opt(1_750_000_000, 0).single().unwrap_or_default(), &relations);
    for user in &users {
        let _ = evaluate(rule, user, &ctx);
    }
}

#[test]
fn random_rules_survive_noisy_printing_and_normalization() {
    let mut rng = Rng::new(0x5EED);
    let mut checked = 0;
    for case in 0..3_000 {
        let rule = random_rule(&mut rng);
        let text = noisy(&rule, &mut rng);
        if text.chars().count() > MAX_RULE_CHARS {
            continue;
        }
        let parsed = parse(&text);
        assert!(
            parsed.as_ref().ok() == Some(&rule),
            "case {case}\ntext: {text}\nparsed: {parsed:#?}\nwanted: {rule:#?}"
        );
        let normalized = rule.normalized();
        assert_eq!(parse(&normalized).ok().as_ref(), Some(&rule), "case {case}: {normalized}");
        assert_eq!(parse(&normalized).ok().map(|r| r.normalized()), Some(normalized.clone()));
        evaluate_all(&rule);
        checked += 1;
    }
    assert!(checked > 2_500, "only {checked} rules were short enough to check");
}

const FRAGMENTS: &[&str] = &[
    "user.city",
    "user.department",
    "user.proxyAddresses",
    "user.otherMails",
    "user.assignedPlans",
    "user.memberOf",
    "user.employeeHireDate",
    "user.accountEnabled",
    "user.extensionAttribute3",
    "department",
    "device.x",
    "_",
    "assignedPlan.service",
    "group.objectId",
    "-eq",
    "eq",
    "-ne",
    "-startsWith",
    "-contains",
    "-in",
    "-notIn",
    "-match",
    "-le",
    "-ge",
    "-any",
    "all",
    "-not",
    "not",
    "-and",
    "and",
    "-or",
    "or",
    "(",
    ")",
    "[",
    "]",
    ",",
    "\"x\"",
    "'y'",
    "\"(\"",
    "\"\"",
    "null",
    "$null",
    "true",
    "42",
    "system.now",
    "-plus",
    "P1D",
    "p1x",
    "2020-01-01",
    "Direct",
    "Reports",
    "for",
    "\"m1\"",
    "==",
    "&&",
    "!",
    "\u{201C}",
    "\"open",
    "`",
    "-",
    "\\\"",
];

/// Every error points into the text, and renders.
fn assert_well_formed(source: &str, diagnostics: &[Diagnostic]) {
    assert!(!diagnostics.is_empty(), "an error without a diagnostic: {source:?}");
    for d in diagnostics {
        assert!(d.span.start <= d.span.end && d.span.end <= source.len(), "{source:?}: {d:?}");
        assert_eq!(source.get(d.span.start..d.span.end), Some(d.text.as_str()), "{source:?}: {d:?}");
        assert!(d.line >= 1 && d.column >= 1);
        assert!(d.render(source).contains('^'));
        let message = d.message();
        assert!(
            !message.ends_with('.') && message.chars().next().is_some_and(|c| !c.is_uppercase()),
            "{message}"
        );
    }
}

/// Whole conditions, for soup that is nearly a rule.
const CLAUSES: &[&str] = &[
    "user.city -eq \"x\"",
    "user.employeeHireDate -ge system.now -plus P1D",
    "(user.department -in ['a', \"b\"])",
    "-not user.accountEnabled -eq true",
    "user.proxyAddresses -any (_ -startsWith 'smtp:' -or _ -eq null)",
    "user.assignedPlans -all (assignedPlan.capabilityStatus -ne \"Enabled\")",
    "user.displayName -notMatch \"^a.*\"",
];

/// Random fragments, or a few conditions with a fragment inserted or a word removed.
fn soup(rng: &mut Rng) -> String {
    if rng.chance(50) {
        let mut words: Vec<&str> = Vec::new();
        for i in 0..1 + rng.below(4) {
            if i > 0 {
                words.push(rng.pick(&["-and", "or", "-OR"]));
            }
            words.extend(rng.pick(CLAUSES).split(' '));
        }
        match rng.below(3) {
            0 => words.insert(rng.below(words.len() + 1), rng.pick(FRAGMENTS)),
            1 => {
                words.remove(rng.below(words.len()));
            }
            _ => {}
        }
        return words.join(" ");
    }
    let mut source = String::new();
    for _ in 0..1 + rng.below(30) {
        source.push_str(rng.pick(FRAGMENTS));
        if rng.chance(85) {
            source.push(' ');
        }
    }
    source
}

#[test]
fn token_soup_never_panics_and_what_parses_round_trips() {
    let mut rng = Rng::new(42);
    let mut parsed = 0;
    for _ in 0..5_000 {
        let source = soup(&mut rng);
        match parse(&source) {
            Ok(rule) => {
                parsed += 1;
                assert_eq!(parse(&rule.normalized()).ok().as_ref(), Some(&rule), "{source}");
                evaluate_all(&rule);
            }
            Err(diagnostics) => assert_well_formed(&source, &diagnostics),
        }
    }
    assert!(parsed > 500, "the soup made only {parsed} rules");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(7);
    for _ in 0..5_000 {
        let bytes: Vec<u8> =
            (0..rng.below(200)).map(|_| u8::try_from(rng.next() & 0xFF).unwrap_or(0)).collect();
        let source = String::from_utf8_lossy(&bytes);
        if let Err(diagnostics) = parse(&source) {
            assert_well_formed(&source, &diagnostics);
        }
    }
}

#[test]
fn hostile_input_is_bounded() {
    for source in [
        "(".repeat(5_000),
        "-not ".repeat(1_000),
        format!("user.city -in [{}]", "\"a\",".repeat(2_000)),
        format!("user.displayName -match \"{}\"", "(a*)*".repeat(500)),
        format!("user.displayName -match \"{}\"", "a{1000}{1000}"),
        "\"".repeat(4_000),
    ] {
        match parse(&source) {
            Ok(rule) => evaluate_all(&rule),
            Err(diagnostics) => assert_well_formed(&source, &diagnostics),
        }
    }
}
