//! The checked rule: names resolved against the schema, values typed, parentheses gone.
//!
//! This is what evaluators walk and what a compiler will lower. Every [`Rule`] comes out of
//! [`crate::rule::parse`], so it holds these invariants, which a walker may rely on:
//!
//! - a comparison's operator and value fit its subject's type (the table in `check.rs`);
//! - `_` appears only inside a quantifier over a string collection, `assignedPlan.<field>` only
//!   inside one over `assignedPlans`, and quantifiers do not nest;
//! - `Or` and `And` have at least two operands and none of the same kind (they are flattened);
//! - nesting is at most [`crate::rule::MAX_DEPTH`] deep, and every pattern compiled.
//!
//! `Display` prints the canonical form ([`Rule::normalized`]): `user.` and the property names as
//! the documentation writes them, operators as `-startsWith`, strings in double quotes, and only
//! the parentheses that precedence needs.

use std::fmt;

use chrono::{DateTime, Months, SecondsFormat, TimeDelta, Utc};
use regex::{Regex, RegexBuilder};

use super::schema::{Collection, PlanField, UserProperty};

/// A checked rule: a condition on the user's properties, or one of the two special forms that
/// Entra does not let combine with anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    body: RuleBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleBody {
    Condition(Expr),
    /// `user.memberOf -any (group.objectId -in ['<id>', ...])`: a direct member of any of them.
    MemberOf {
        group_ids: Vec<String>,
    },
    /// `Direct Reports for "<id>"`: the users whose manager is this one.
    DirectReports {
        manager_id: String,
    },
}

impl Rule {
    pub(crate) fn new(body: RuleBody) -> Self {
        Self { body }
    }

    #[must_use]
    pub fn body(&self) -> &RuleBody {
        &self.body
    }

    /// The canonical text of the rule; parsing it gives this rule back.
    #[must_use]
    pub fn normalized(&self) -> String {
        self.to_string()
    }
}

/// A condition. Precedence, loosest first: `-or`, `-and`, `-not`, comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare(Comparison),
    Quantified(Quantified),
}

/// `subject op value`, such as `user.department -eq "Sales"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub subject: Subject,
    pub op: Op,
    pub value: Value,
}

/// What a comparison reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `user.<property>`.
    User(UserProperty),
    /// `_`: the current element of a string collection.
    Element,
    /// `assignedPlan.<field>`: a field of the current element of `assignedPlans`.
    Plan(PlanField),
}

/// `user.<collection> -any (predicate)` or `-all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantified {
    pub collection: Collection,
    pub quantifier: Quantifier,
    pub predicate: Box<Expr>,
}

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
    Contains,
    NotContains,
    Match,
    NotMatch,
    In,
    NotIn,
    Le,
    Ge,
}

impl Op {
    pub const ALL: [Op; 14] = [
        Self::Eq,
        Self::Ne,
        Self::StartsWith,
        Self::NotStartsWith,
        Self::EndsWith,
        Self::NotEndsWith,
        Self::Contains,
        Self::NotContains,
        Self::Match,
        Self::NotMatch,
        Self::In,
        Self::NotIn,
        Self::Le,
        Self::Ge,
    ];

    /// The canonical spelling, with its hyphen.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "-eq",
            Self::Ne => "-ne",
            Self::StartsWith => "-startsWith",
            Self::NotStartsWith => "-notStartsWith",
            Self::EndsWith => "-endsWith",
            Self::NotEndsWith => "-notEndsWith",
            Self::Contains => "-contains",
            Self::NotContains => "-notContains",
            Self::Match => "-match",
            Self::NotMatch => "-notMatch",
            Self::In => "-in",
            Self::NotIn => "-notIn",
            Self::Le => "-le",
            Self::Ge => "-ge",
        }
    }

    /// The operator named by a keyword written without its hyphen, in any case.
    #[must_use]
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str()[1..].eq_ignore_ascii_case(word))
    }

    /// Whether this is the negation of another operator (`-ne`, `-notStartsWith`, ...).
    #[must_use]
    pub fn is_negative(self) -> bool {
        self != self.positive()
    }

    /// The operator this one negates, or itself: `-notIn` gives `-in`.
    #[must_use]
    pub fn positive(self) -> Self {
        match self {
            Self::Ne => Self::Eq,
            Self::NotStartsWith => Self::StartsWith,
            Self::NotEndsWith => Self::EndsWith,
            Self::NotContains => Self::Contains,
            Self::NotMatch => Self::Match,
            Self::NotIn => Self::In,
            other => other,
        }
    }
}

/// `-any` (at least one element matches) or `-all` (every element matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantifier {
    Any,
    All,
}

impl Quantifier {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "-any",
            Self::All => "-all",
        }
    }

    #[must_use]
    pub fn from_keyword(word: &str) -> Option<Self> {
        [Self::Any, Self::All].into_iter().find(|q| q.as_str()[1..].eq_ignore_ascii_case(word))
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `null`: no value. A string property that is absent or empty is null.
    Null,
    Bool(bool),
    /// As written; compared without regard to case.
    String(String),
    /// The list of `-in` and `-notIn`.
    List(Vec<String>),
    /// The regular expression of `-match` and `-notMatch`.
    Pattern(Pattern),
    DateTime(DateTime<Utc>),
    /// `system.now`, optionally `-plus` or `-minus` a duration.
    Now(Option<Offset>),
}

/// `-plus P1D` or `-minus PT12H` after `system.now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Offset {
    pub sign: Sign,
    pub duration: IsoDuration,
}

impl Offset {
    /// `now` moved by the offset; `None` when it leaves the representable range.
    #[must_use]
    pub fn apply(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let d = self.duration;
        let months = d.years.checked_mul(12)?.checked_add(d.months)?;
        let seconds = i64::from(d.weeks) * 7 * 86_400
            + i64::from(d.days) * 86_400
            + i64::from(d.hours) * 3_600
            + i64::from(d.minutes) * 60
            + i64::from(d.seconds);
        let delta = TimeDelta::try_seconds(seconds)?;
        match self.sign {
            Sign::Plus => now.checked_add_months(Months::new(months))?.checked_add_signed(delta),
            Sign::Minus => now.checked_sub_months(Months::new(months))?.checked_sub_signed(delta),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sign {
    Plus,
    Minus,
}

impl Sign {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plus => "-plus",
            Self::Minus => "-minus",
        }
    }

    #[must_use]
    pub fn from_keyword(word: &str) -> Option<Self> {
        [Self::Plus, Self::Minus].into_iter().find(|s| s.as_str()[1..].eq_ignore_ascii_case(word))
    }
}

/// An ISO 8601 duration in whole units, such as `P1D`, `PT12H` or `P1Y2M3W4DT5H6M7S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IsoDuration {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    pub seconds: u32,
}

impl IsoDuration {
    /// Parses `P[nY][nM][nW][nD][T[nH][nM][nS]]` in any case, with at least one component and
    /// the components in that order.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(['P', 'p'])?;
        let (date, time) = match rest.split_once(['T', 't']) {
            Some((date, time)) if !time.is_empty() => (date, Some(time)),
            Some(_) => return None,
            None => (rest, None),
        };
        let mut duration = Self::default();
        let [years, months, weeks, days] = components(date, ['Y', 'M', 'W', 'D'])?;
        (duration.years, duration.months, duration.weeks, duration.days) = (years, months, weeks, days);
        if let Some(time) = time {
            let [hours, minutes, seconds] = components(time, ['H', 'M', 'S'])?;
            (duration.hours, duration.minutes, duration.seconds) = (hours, minutes, seconds);
        }
        (!(date.is_empty() && time.is_none())).then_some(duration)
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        let date = [(self.years, 'Y'), (self.months, 'M'), (self.weeks, 'W'), (self.days, 'D')];
        let time = [(self.hours, 'H'), (self.minutes, 'M'), (self.seconds, 'S')];
        if date.iter().chain(&time).all(|(n, _)| *n == 0) {
            return f.write_str("0D");
        }
        for (n, designator) in date.into_iter().filter(|(n, _)| *n > 0) {
            write!(f, "{n}{designator}")?;
        }
        if time.iter().any(|(n, _)| *n > 0) {
            f.write_str("T")?;
            for (n, designator) in time.into_iter().filter(|(n, _)| *n > 0) {
                write!(f, "{n}{designator}")?;
            }
        }
        Ok(())
    }
}

/// A regular expression of `-match`, compiled once, matched without regard to case.
///
/// Compilation is bounded ([`Pattern::SIZE_LIMIT`]) so a hostile pattern can't exhaust memory;
/// the `regex` crate matches in linear time, so none can exhaust time either.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// The most memory, in bytes, a compiled pattern may take.
    pub const SIZE_LIMIT: usize = 1 << 20;

    /// Compiles a pattern; the error says what is wrong, in lowercase.
    pub fn new(source: &str) -> Result<Self, String> {
        let regex = RegexBuilder::new(source)
            .case_insensitive(true)
            .size_limit(Self::SIZE_LIMIT)
            .dfa_size_limit(Self::SIZE_LIMIT)
            .nest_limit(64)
            .build()
            .map_err(|error| match error {
                regex::Error::Syntax(message) => message
                    .lines()
                    .rev()
                    .find_map(|line| line.strip_prefix("error: "))
                    .unwrap_or("the pattern is not valid")
                    .to_owned(),
                regex::Error::CompiledTooBig(_) => "the pattern is too large".to_owned(),
                _ => "the pattern can't be compiled".to_owned(),
            })?;
        Ok(Self { source: source.to_owned(), regex })
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches anywhere in `text` (anchor it with `^` and `$` to match all).
    #[must_use]
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            RuleBody::Condition(expr) => write!(f, "{expr}"),
            RuleBody::MemberOf { group_ids } => {
                let ids: Vec<String> = group_ids.iter().map(|id| single_quoted(id)).collect();
                write!(f, "user.memberOf -any (group.objectId -in [{}])", ids.join(", "))
            }
            RuleBody::DirectReports { manager_id } => write!(f, "Direct Reports for {}", quoted(manager_id)),
        }
    }
}

/// How tightly an expression binds; a child binding more loosely than its place needs parentheses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Precedence {
    Or,
    And,
    Not,
    Atom,
}

impl Expr {
    fn precedence(&self) -> Precedence {
        match self {
            Self::Or(_) => Precedence::Or,
            Self::And(_) => Precedence::And,
            Self::Not(_) => Precedence::Not,
            Self::Compare(_) | Self::Quantified(_) => Precedence::Atom,
        }
    }

    /// Writes the expression where at least `place` is needed, adding parentheses if it binds looser.
    fn write_at(&self, f: &mut fmt::Formatter<'_>, place: Precedence) -> fmt::Result {
        if self.precedence() < place {
            f.write_str("(")?;
            self.write_at(f, Precedence::Or)?;
            return f.write_str(")");
        }
        match self {
            Self::Or(items) => write_joined(f, items, " -or ", Precedence::And),
            Self::And(items) => write_joined(f, items, " -and ", Precedence::Not),
            Self::Not(inner) => {
                f.write_str("-not ")?;
                inner.write_at(f, Precedence::Not)
            }
            Self::Compare(comparison) => write!(f, "{comparison}"),
            Self::Quantified(q) => {
                write!(f, "user.{} {} (", q.collection.property().name(), q.quantifier.as_str())?;
                q.predicate.write_at(f, Precedence::Or)?;
                f.write_str(")")
            }
        }
    }
}

fn write_joined(
    f: &mut fmt::Formatter<'_>,
    items: &[Expr],
    separator: &str,
    place: Precedence,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        item.write_at(f, place)?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_at(f, Precedence::Or)
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.subject, self.op.as_str(), self.value)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(property) => write!(f, "user.{}", property.name()),
            Self::Element => f.write_str("_"),
            Self::Plan(field) => write!(f, "assignedPlan.{}", field.name()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::String(s) => f.write_str(&quoted(s)),
            Self::List(items) => {
                let items: Vec<String> = items.iter().map(|s| quoted(s)).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Self::Pattern(pattern) => f.write_str(&quoted(pattern.as_str())),
            Self::DateTime(at) => f.write_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Self::Now(None) => f.write_str("system.now"),
            Self::Now(Some(offset)) => write!(f, "system.now {} {}", offset.sign.as_str(), offset.duration),
        }
    }
}

/// The numbers before each designator, in order, each at most once; zero when absent.
fn components<const N: usize>(text: &str, designators: [char; N]) -> Option<[u32; N]> {
    let mut values = [0; N];
    let mut next = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let offset = designators.get(next..)?.iter().position(|d| d.eq_ignore_ascii_case(&c))?;
        if digits.is_empty() {
            return None;
        }
        *values.get_mut(next + offset)? = digits.parse().ok()?;
        digits.clear();
        next += offset + 1;
    }
    digits.is_empty().then_some(values)
}

/// A string in double quotes, each `"` and `` ` `` escaped with a backtick.
pub(crate) fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('`', "``").replace('"', "`\""))
}

/// A string in single quotes, each `'` doubled.
pub(crate) fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare(property: UserProperty, op: Op, value: Value) -> Expr {
        Expr::Compare(Comparison { subject: Subject::User(property), op, value })
    }

    fn city(name: &str) -> Expr {
        compare(UserProperty::City, Op::Eq, Value::String(name.into()))
    }

    #[test]
    fn prints_only_the_parentheses_precedence_needs() {
        let expr = Expr::And(vec![
            city("a"),
            Expr::Or(vec![city("b"), Expr::Not(Box::new(city("c")))]),
            Expr::Not(Box::new(Expr::And(vec![city("d"), city("e")]))),
        ]);
        assert_eq!(
            expr.to_string(),
            "user.city -eq \"a\" -and (user.city -eq \"b\" -or -not user.city -eq \"c\") \
             -and -not (user.city -eq \"d\" -and user.city -eq \"e\")"
        );
    }

    #[test]
    fn strings_escape_quotes_and_backticks() {
        assert_eq!(quoted("say \"hi\" `now`"), "\"say `\"hi`\" ``now``\"");
        assert_eq!(single_quoted("O'Brien"), "'O''Brien'");
    }

    #[test]
    fn operators_parse_in_any_case_and_know_their_negation() {
        assert_eq!(Op::from_keyword("STARTSWITH"), Some(Op::StartsWith));
        assert_eq!(Op::from_keyword("notin"), Some(Op::NotIn));
        assert_eq!(Op::from_keyword("-eq"), None);
        assert!(Op::NotMatch.is_negative() && !Op::Le.is_negative());
        assert_eq!(Op::NotEndsWith.positive(), Op::EndsWith);
    }

    #[test]
    fn durations_parse_and_print_iso_8601() {
        for (text, printed) in
            [("p1d", "P1D"), ("PT12H", "PT12H"), ("P1Y2M3W4DT5H6M7S", "P1Y2M3W4DT5H6M7S"), ("P0D", "P0D")]
        {
            assert_eq!(IsoDuration::parse(text).map(|d| d.to_string()).as_deref(), Some(printed), "{text}");
        }
        for bad in ["", "P", "PT", "1D", "P1", "PD", "P1D1Y", "P1DT", "P1H", "PT1D", "P1.5D", "P99999999999D"]
        {
            assert_eq!(IsoDuration::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn offsets_move_now_and_never_overflow() {
        let now = DateTime::<Utc>::MIN_UTC;
        let day = IsoDuration { days: 1, ..IsoDuration::default() };
        assert_eq!(Offset { sign: Sign::Minus, duration: day }.apply(now), None);
        let plus = Offset { sign: Sign::Plus, duration: day }.apply(now);
        assert_eq!(plus.map(|at| at - now), Some(TimeDelta::days(1)));
        let huge = IsoDuration { years: u32::MAX, ..IsoDuration::default() };
        assert_eq!(Offset { sign: Sign::Plus, duration: huge }.apply(now), None);
    }

    #[test]
    fn patterns_match_anywhere_without_regard_to_case() {
        let matches =
            Pattern::new("^Da.*").map(|p| [p.is_match("david"), p.is_match("Da"), p.is_match("aDa")]);
        assert_eq!(matches, Ok([true, true, false]));
        assert_eq!(Pattern::new("(").err().as_deref(), Some("unclosed group"));
        assert_eq!(Pattern::new("a{1000}{1000}").err().as_deref(), Some("the pattern is too large"));
    }
}
