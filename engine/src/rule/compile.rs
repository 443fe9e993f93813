//! The compiled evaluator: a checked [`Rule`] lowered against a [`DirectoryIndex`] into a plan
//! that decides every user at once, as a [`Bitset`] of positions.
//!
//! How each part of a rule runs:
//!
//! - A comparison on a string property is decided **once per distinct value** of its column, at
//!   compile time, into a table over dictionary codes; evaluation then runs the column's codes
//!   through the table. When exactly one code passes (`-eq "Sales"`, usually), the scan is a
//!   plain comparison of codes, which the compiler vectorizes; when none or all pass, no scan at
//!   all. `-in`, `-startsWith`, `-contains` and `-match` cost the same per user as `-eq`: the
//!   string work is per distinct value, and dictionaries are small next to directories.
//! - `-and`, `-or` and `-not` are word-wise operations on bitsets, 64 users at a time.
//! - `-any`/`-all` decide their predicate once per distinct element (a string, or a whole plan),
//!   then reduce each user's list. A string collection compared directly
//!   (`user.proxyAddresses -startsWith "smtp:"`) is the same thing: `-any` of the comparison.
//! - Booleans are the index's bitsets; `employeeHireDate` is a scan of integer keys against the
//!   target, with `system.now` resolved from the `now` given to [`CompiledRule::evaluate`].
//! - `memberOf` unions the groups' member lists; `Direct Reports for` compares the manager
//!   column with one code.
//!
//! A plan belongs to the index it was compiled against, in that index's later states too:
//! dictionaries only grow, so the tables stay right for the codes they cover, and codes added
//! since are decided when met (in a bulk evaluation, by extending a copy of the table). Call
//! [`CompiledRule::refresh`] after changes to make the extension permanent. A plan evaluated
//! against an unrelated index gives meaningless answers, but never panics.
//!
//! The meaning of every operator is the reference evaluator's ([`super::eval_reference`]); the
//! property tests in `agreement.rs` check the two agree on random rules and directories.
//! Evaluation never panics.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::ast::{Comparison, Expr, Offset, Op, Pattern, Quantifier, Rule, RuleBody, Subject, Value};
use super::bitset::Bitset;
use super::index::{Dictionary, DirectoryIndex, NULL, NULL_DATE, PlanList, Position, StringList, date_key};
use super::schema::{Collection, PlanField, PropertyType, UserProperty};

/// A rule compiled against a [`DirectoryIndex`]: evaluate it over every user with
/// [`CompiledRule::evaluate`], or over one with [`CompiledRule::matches`].
#[derive(Debug, Clone)]
pub struct CompiledRule {
    root: Node,
}

impl CompiledRule {
    /// Lowers a rule against the index's current dictionaries.
    #[must_use]
    pub fn compile(rule: &Rule, index: &DirectoryIndex) -> Self {
        let root = match rule.body() {
            RuleBody::Condition(expr) => Compiler { index }.expr(expr, Scope::User),
            RuleBody::MemberOf { group_ids } => Node::MemberOf(group_ids.clone()),
            RuleBody::DirectReports { manager_id } => Node::ReportsTo(manager_id.to_ascii_lowercase()),
        };
        Self { root }
    }

    /// The users who satisfy the rule, as positions below [`DirectoryIndex::positions`];
    /// tombstoned positions are never in it.
    #[must_use]
    pub fn evaluate(&self, index: &DirectoryIndex, now: DateTime<Utc>) -> Bitset {
        let run = Run { index, now, positions: index.positions() };
        let mut words = run.words(&self.root);
        for (word, live) in words.iter_mut().zip(index.live().words()) {
            *word &= live;
        }
        Bitset::from_words(words, run.positions)
    }

    /// The ids of the users who satisfy the rule, in position order.
    #[must_use]
    pub fn matching_ids<'i>(&self, index: &'i DirectoryIndex, now: DateTime<Utc>) -> Vec<&'i str> {
        self.evaluate(index, now).iter().filter_map(|position| index.user_id(position)).collect()
    }

    /// Whether the user at `position` satisfies the rule: the same answer as its bit in
    /// [`CompiledRule::evaluate`], for re-deciding one user after it changed. False at a
    /// tombstone.
    #[must_use]
    pub fn matches(&self, index: &DirectoryIndex, position: Position, now: DateTime<Utc>) -> bool {
        let run = Run { index, now, positions: index.positions() };
        index.live().contains(position.index()) && run.holds(&self.root, position.index(), None)
    }

    /// Extends every table to the codes the index's dictionaries gained since compilation, so
    /// later evaluations decide no value twice.
    pub fn refresh(&mut self, index: &DirectoryIndex) {
        refresh(&mut self.root, index, None);
    }
}

/// One step of a plan.
#[derive(Debug, Clone)]
enum Node {
    Const(bool),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    /// A string property of the user, through a table over its column's codes.
    Text {
        property: UserProperty,
        leaf: Leaf,
    },
    /// `accountEnabled` or `dirSyncEnabled` equals `value`.
    Flag {
        property: UserProperty,
        value: bool,
    },
    HireDate(DateTest),
    Quantified(Box<QuantifiedNode>),
    /// A direct member of any of these groups (ids ignore ASCII case).
    MemberOf(Vec<String>),
    /// The manager's id, ASCII-lowercased, is this.
    ReportsTo(String),
    /// `_ op value`: the current element of a string collection.
    Element(Leaf),
    /// `assignedPlan.<field> op value`: a field of the current plan.
    PlanField {
        field: PlanField,
        leaf: Leaf,
    },
}

#[derive(Debug, Clone)]
struct QuantifiedNode {
    collection: Collection,
    quantifier: Quantifier,
    predicate: Node,
    /// The predicate decided per element code, when it reads nothing but the element (always,
    /// for rules the checker accepted).
    table: Option<Table>,
}

/// A test on text and its decisions per code of one dictionary.
#[derive(Debug, Clone)]
struct Leaf {
    test: TextTest,
    table: Table,
}

impl Leaf {
    fn new(test: TextTest, dictionary: Option<&Dictionary>) -> Self {
        let table = Table::build(dictionary_len(dictionary), |code| test.holds(text(dictionary, code)));
        Self { test, table }
    }

    fn decide(&self, code: u32, dictionary: Option<&Dictionary>) -> bool {
        self.table.get(code).unwrap_or_else(|| self.test.holds(text(dictionary, code)))
    }

    /// The table, extended to every code of the dictionary if it has grown.
    fn covering(&self, dictionary: Option<&Dictionary>) -> Cow<'_, Table> {
        self.table.covering(dictionary_len(dictionary), |code| self.test.holds(text(dictionary, code)))
    }
}

fn dictionary_len(dictionary: Option<&Dictionary>) -> usize {
    dictionary.map_or(1, Dictionary::len)
}

fn text(dictionary: Option<&Dictionary>, code: u32) -> &str {
    dictionary.map_or("", |dictionary| dictionary.text(code))
}

/// A decision per code, and what the decisions have in common.
#[derive(Debug, Clone)]
struct Table {
    /// 1 or 0 per code.
    decisions: Vec<u8>,
    shape: Shape,
}

/// Which scan a table needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Never,
    Always,
    /// Only this code passes.
    Only(u32),
    /// Every code but this one passes.
    AllBut(u32),
    Mixed,
}

impl Table {
    fn build(len: usize, decide: impl FnMut(u32) -> bool) -> Self {
        Self::from_decisions(Self::decide(0..len, decide))
    }

    fn decide(codes: std::ops::Range<usize>, mut decide: impl FnMut(u32) -> bool) -> Vec<u8> {
        codes.map(|code| u8::from(decide(u32::try_from(code).unwrap_or(u32::MAX)))).collect()
    }

    fn from_decisions(decisions: Vec<u8>) -> Self {
        let passing = decisions.iter().filter(|&&d| d != 0).count();
        let first = |wanted: u8| {
            decisions.iter().position(|&d| d == wanted).and_then(|code| u32::try_from(code).ok())
        };
        let shape = match (passing, decisions.len() - passing) {
            (0, _) => Shape::Never,
            (_, 0) => Shape::Always,
            (1, _) => first(1).map_or(Shape::Mixed, Shape::Only),
            (_, 1) => first(0).map_or(Shape::Mixed, Shape::AllBut),
            _ => Shape::Mixed,
        };
        Self { decisions, shape }
    }

    fn len(&self) -> usize {
        self.decisions.len()
    }

    fn get(&self, code: u32) -> Option<bool> {
        self.decisions.get(code as usize).map(|&d| d != 0)
    }

    fn covering(&self, len: usize, decide: impl FnMut(u32) -> bool) -> Cow<'_, Self> {
        if self.len() >= len {
            return Cow::Borrowed(self);
        }
        let mut decisions = self.decisions.clone();
        decisions.extend(Self::decide(self.len()..len, decide));
        Cow::Owned(Self::from_decisions(decisions))
    }
}

/// A test on one string, as the reference evaluator's `text_matches`: null reads as the empty
/// string, comparisons fold case with `str::to_lowercase`, and a negative operator is the
/// negation of its positive.
#[derive(Debug, Clone)]
struct TextTest {
    op: TextOp,
    negate: bool,
}

/// A positive test, with its operand folded once.
#[derive(Debug, Clone)]
enum TextOp {
    Never,
    IsEmpty,
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Matches(Pattern),
    OneOf(Vec<String>),
}

impl TextTest {
    fn new(op: Op, value: &Value) -> Self {
        let positive = match (op.positive(), value) {
            (Op::Eq, Value::Null) => TextOp::IsEmpty,
            (Op::Eq, Value::String(expected)) => TextOp::Equals(fold(expected)),
            (Op::StartsWith, Value::String(prefix)) => TextOp::StartsWith(fold(prefix)),
            (Op::EndsWith, Value::String(suffix)) => TextOp::EndsWith(fold(suffix)),
            (Op::Contains, Value::String(part)) => TextOp::Contains(fold(part)),
            (Op::Match, Value::Pattern(pattern)) => TextOp::Matches(pattern.clone()),
            (Op::In, Value::List(candidates)) => TextOp::OneOf(candidates.iter().map(|c| fold(c)).collect()),
            _ => TextOp::Never,
        };
        Self { op: positive, negate: op.is_negative() }
    }

    fn holds(&self, text: &str) -> bool {
        let positive = match &self.op {
            TextOp::Never => false,
            TextOp::IsEmpty => text.is_empty(),
            TextOp::Equals(expected) => fold(text) == *expected,
            TextOp::StartsWith(prefix) => fold(text).starts_with(prefix.as_str()),
            TextOp::EndsWith(suffix) => fold(text).ends_with(suffix.as_str()),
            TextOp::Contains(part) => fold(text).contains(part.as_str()),
            TextOp::Matches(pattern) => pattern.is_match(text),
            TextOp::OneOf(candidates) => {
                let text = fold(text);
                candidates.contains(&text)
            }
        };
        positive != self.negate
    }
}

fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// A positive test on `employeeHireDate`; the target is resolved when evaluating.
#[derive(Debug, Clone, Copy)]
enum DateTest {
    IsNull,
    Compare { op: DateOp, target: DateTarget },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateOp {
    Eq,
    Le,
    Ge,
}

#[derive(Debug, Clone, Copy)]
enum DateTarget {
    At(i128),
    /// `system.now`, moved by the offset if any.
    Now(Option<Offset>),
}

impl DateTest {
    /// The test with the target resolved: `None` when the target leaves chrono's range.
    fn resolve(self, now: DateTime<Utc>) -> Option<ResolvedDate> {
        match self {
            Self::IsNull => Some(ResolvedDate::IsNull),
            Self::Compare { op, target } => {
                let target = match target {
                    DateTarget::At(key) => key,
                    DateTarget::Now(None) => date_key(now),
                    DateTarget::Now(Some(offset)) => date_key(offset.apply(now)?),
                };
                Some(ResolvedDate::Compare { op, target })
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum ResolvedDate {
    IsNull,
    Compare { op: DateOp, target: i128 },
}

impl ResolvedDate {
    #[inline]
    fn holds(self, date: i128) -> bool {
        match self {
            Self::IsNull => date == NULL_DATE,
            Self::Compare { op: DateOp::Eq, target } => date == target,
            Self::Compare { op: DateOp::Le, target } => date != NULL_DATE && date <= target,
            Self::Compare { op: DateOp::Ge, target } => date != NULL_DATE && date >= target,
        }
    }
}

/// Where a condition stands: on the user, or on the current element of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    User,
    Strings,
    Plans,
}

struct Compiler<'i> {
    index: &'i DirectoryIndex,
}

impl Compiler<'_> {
    fn expr(&self, expr: &Expr, scope: Scope) -> Node {
        match expr {
            Expr::Or(items) => Node::Or(items.iter().map(|item| self.expr(item, scope)).collect()),
            Expr::And(items) => Node::And(items.iter().map(|item| self.expr(item, scope)).collect()),
            Expr::Not(inner) => not(self.expr(inner, scope)),
            Expr::Compare(comparison) => self.comparison(comparison, scope),
            // On the user wherever it stands, as in the reference (the checker forbids nesting).
            Expr::Quantified(q) => {
                self.quantified(q.collection, q.quantifier, |c, scope| c.expr(&q.predicate, scope))
            }
        }
    }

    fn comparison(&self, c: &Comparison, scope: Scope) -> Node {
        match (&c.subject, scope) {
            (Subject::Element, Scope::Strings) => self.element(TextTest::new(c.op, &c.value)),
            (Subject::Plan(field), Scope::Plans) => {
                let dictionary = self.index.plans().dictionary(*field);
                Node::PlanField { field: *field, leaf: Leaf::new(TextTest::new(c.op, &c.value), dictionary) }
            }
            (Subject::User(property), _) => self.property(property, c.op, &c.value),
            // `_` and `assignedPlan.` outside their quantifier never hold.
            _ => Node::Const(false),
        }
    }

    fn property(&self, property: &UserProperty, op: Op, value: &Value) -> Node {
        match property.property_type() {
            PropertyType::String => {
                let dictionary = self.index.string_column(property).map(|column| column.dictionary());
                let leaf = Leaf::new(TextTest::new(op, value), dictionary);
                Node::Text { property: property.clone(), leaf }
            }
            PropertyType::Boolean => {
                let positive = match (op.positive(), value) {
                    (Op::Eq, Value::Bool(expected)) => {
                        Node::Flag { property: property.clone(), value: *expected }
                    }
                    // Booleans are never null, and other operators never hold.
                    _ => Node::Const(false),
                };
                negated_if(op.is_negative(), positive)
            }
            PropertyType::DateTime => negated_if(op.is_negative(), date(op.positive(), value)),
            PropertyType::StringCollection => {
                let Some(collection) = Collection::of(property) else { return Node::Const(false) };
                self.texts(collection, op, value)
            }
            PropertyType::PlanCollection | PropertyType::GroupCollection => Node::Const(false),
        }
    }

    /// A string collection compared directly: `null` tests that every element is empty, other
    /// values that some element passes the positive test.
    fn texts(&self, collection: Collection, op: Op, value: &Value) -> Node {
        let element = |test: TextTest| move |c: &Compiler<'_>, _: Scope| c.element(test.clone());
        if *value == Value::Null {
            let all_empty =
                self.quantified(collection, Quantifier::All, element(TextTest::new(Op::Eq, value)));
            return match op {
                Op::Eq => all_empty,
                Op::Ne => not(all_empty),
                _ => Node::Const(false),
            };
        }
        let any = self.quantified(collection, Quantifier::Any, element(TextTest::new(op.positive(), value)));
        negated_if(op.is_negative(), any)
    }

    fn element(&self, test: TextTest) -> Node {
        Node::Element(Leaf::new(test, None))
    }

    fn quantified(
        &self,
        collection: Collection,
        quantifier: Quantifier,
        predicate: impl Fn(&Self, Scope) -> Node,
    ) -> Node {
        let scope = if collection == Collection::AssignedPlans { Scope::Plans } else { Scope::Strings };
        let mut node =
            QuantifiedNode { collection, quantifier, predicate: predicate(self, scope), table: None };
        // Element leaves were built without their dictionary; build their tables now.
        refresh(&mut node.predicate, self.index, Some(collection));
        if reads_only_the_element(&node.predicate) {
            let run = Run { index: self.index, now: DateTime::<Utc>::MIN_UTC, positions: 0 };
            let frame = run.frame(collection);
            node.table = Some(Table::build(run.elements(frame), |code| {
                run.holds(&node.predicate, usize::MAX, Some((frame, code)))
            }));
        }
        Node::Quantified(Box::new(node))
    }
}

fn date(op: Op, value: &Value) -> Node {
    let op = match op {
        Op::Eq => DateOp::Eq,
        Op::Le => DateOp::Le,
        Op::Ge => DateOp::Ge,
        _ => return Node::Const(false),
    };
    let target = match value {
        Value::Null if op == DateOp::Eq => return Node::HireDate(DateTest::IsNull),
        Value::DateTime(at) => DateTarget::At(date_key(*at)),
        Value::Now(offset) => DateTarget::Now(*offset),
        _ => return Node::Const(false),
    };
    Node::HireDate(DateTest::Compare { op, target })
}

fn not(node: Node) -> Node {
    match node {
        Node::Const(value) => Node::Const(!value),
        Node::Not(inner) => *inner,
        other => Node::Not(Box::new(other)),
    }
}

fn negated_if(negate: bool, node: Node) -> Node {
    if negate { not(node) } else { node }
}

/// Whether a predicate inside a quantifier depends on the current element alone.
fn reads_only_the_element(node: &Node) -> bool {
    match node {
        Node::Const(_) | Node::Element(_) | Node::PlanField { .. } => true,
        Node::Not(inner) => reads_only_the_element(inner),
        Node::And(items) | Node::Or(items) => items.iter().all(reads_only_the_element),
        _ => false,
    }
}

/// Extends tables to the index's dictionaries. `collection` is the quantifier a node is in.
fn refresh(node: &mut Node, index: &DirectoryIndex, collection: Option<Collection>) {
    let run = Run { index, now: DateTime::<Utc>::MIN_UTC, positions: 0 };
    match node {
        Node::Not(inner) => refresh(inner, index, collection),
        Node::And(items) | Node::Or(items) => {
            items.iter_mut().for_each(|item| refresh(item, index, collection))
        }
        Node::Text { property, leaf } => {
            let dictionary = index.string_column(property).map(|column| column.dictionary());
            leaf.table = leaf.covering(dictionary).into_owned();
        }
        Node::Element(leaf) => {
            let dictionary = collection.and_then(|c| run.string_list(c)).map(StringList::dictionary);
            leaf.table = leaf.covering(dictionary).into_owned();
        }
        Node::PlanField { field, leaf } => {
            leaf.table = leaf.covering(index.plans().dictionary(*field)).into_owned();
        }
        Node::Quantified(q) => {
            refresh(&mut q.predicate, index, Some(q.collection));
            if let Some(table) = &q.table {
                let frame = run.frame(q.collection);
                let covering = table.covering(run.elements(frame), |code| {
                    run.holds(&q.predicate, usize::MAX, Some((frame, code)))
                });
                q.table = Some(covering.into_owned());
            }
        }
        Node::Const(_) | Node::Flag { .. } | Node::HireDate(_) | Node::MemberOf(_) | Node::ReportsTo(_) => {}
    }
}

/// The collection a quantifier ranges over, in the index.
#[derive(Debug, Clone, Copy)]
enum Frame<'i> {
    Strings(Option<&'i StringList>),
    Plans(&'i PlanList),
}

/// One evaluation: the index, `now`, and how many positions the bitsets cover.
struct Run<'i> {
    index: &'i DirectoryIndex,
    now: DateTime<Utc>,
    positions: usize,
}

impl<'i> Run<'i> {
    fn string_list(&self, collection: Collection) -> Option<&'i StringList> {
        self.index.string_list(&collection.property())
    }

    fn frame(&self, collection: Collection) -> Frame<'i> {
        match collection {
            Collection::AssignedPlans => Frame::Plans(self.index.plans()),
            strings => Frame::Strings(self.string_list(strings)),
        }
    }

    /// How many element codes a collection has: every element code is below this.
    fn elements(&self, frame: Frame<'_>) -> usize {
        match frame {
            Frame::Strings(list) => dictionary_len(list.map(StringList::dictionary)),
            Frame::Plans(plans) => plans.len(),
        }
    }

    fn list(&self, frame: Frame<'i>, position: usize) -> &'i [u32] {
        match frame {
            Frame::Strings(list) => list.map_or(&[], |list| list.of(position)),
            Frame::Plans(plans) => plans.of(position),
        }
    }

    /// Whether `node` holds for the user at `position`, looking at `element` if inside a
    /// quantifier.
    fn holds(&self, node: &Node, position: usize, element: Option<(Frame<'i>, u32)>) -> bool {
        match node {
            Node::Const(value) => *value,
            Node::Not(inner) => !self.holds(inner, position, element),
            Node::And(items) => items.iter().all(|item| self.holds(item, position, element)),
            Node::Or(items) => items.iter().any(|item| self.holds(item, position, element)),
            Node::Text { property, leaf } => match self.index.string_column(property) {
                Some(column) => leaf.decide(column.code(position), Some(column.dictionary())),
                None => leaf.decide(NULL, None),
            },
            Node::Flag { property, value } => {
                self.index.flag(property).is_some_and(|flags| flags.contains(position) == *value)
            }
            Node::HireDate(test) => {
                let date = self.index.hire_dates().get(position).copied().unwrap_or(NULL_DATE);
                test.resolve(self.now).is_some_and(|test| test.holds(date))
            }
            Node::Quantified(q) => {
                let frame = self.frame(q.collection);
                let decide = |&code: &u32| match q.table.as_ref().and_then(|table| table.get(code)) {
                    Some(decision) => decision,
                    None => self.holds(&q.predicate, position, Some((frame, code))),
                };
                let list = self.list(frame, position);
                match q.quantifier {
                    Quantifier::Any => list.iter().any(decide),
                    Quantifier::All => list.iter().all(decide),
                }
            }
            Node::MemberOf(groups) => {
                let position = u32::try_from(position).unwrap_or(u32::MAX);
                groups.iter().any(|group| self.index.members(group).binary_search(&position).is_ok())
            }
            Node::ReportsTo(manager) => {
                let managers = self.index.managers();
                managers.dictionary().code(manager).is_some_and(|code| managers.code(position) == code)
            }
            Node::Element(leaf) => match element {
                Some((Frame::Strings(list), code)) => leaf.decide(code, list.map(StringList::dictionary)),
                _ => false,
            },
            Node::PlanField { field, leaf } => match element {
                Some((Frame::Plans(plans), plan)) => {
                    leaf.decide(plans.field(plan, *field), plans.dictionary(*field))
                }
                _ => false,
            },
        }
    }

    /// The words of the bitset of users for whom `node` holds. Bits of tombstones and past the
    /// end are unspecified; [`CompiledRule::evaluate`] clears them.
    fn words(&self, node: &Node) -> Vec<u64> {
        let words = self.positions.div_ceil(64);
        match node {
            Node::Const(value) => vec![if *value { u64::MAX } else { 0 }; words],
            Node::Not(inner) => {
                let mut bits = self.words(inner);
                bits.iter_mut().for_each(|word| *word = !*word);
                bits
            }
            Node::And(items) => {
                let mut items = items.iter();
                let mut bits = items.next().map_or_else(|| vec![u64::MAX; words], |item| self.words(item));
                for item in items {
                    if bits.iter().all(|&word| word == 0) {
                        break;
                    }
                    bits.iter_mut().zip(self.words(item)).for_each(|(word, other)| *word &= other);
                }
                bits
            }
            Node::Or(items) => {
                let mut bits = vec![0; words];
                for item in items {
                    bits.iter_mut().zip(self.words(item)).for_each(|(word, other)| *word |= other);
                }
                bits
            }
            Node::Text { property, leaf } => {
                let column = self.index.string_column(property);
                let table = leaf.covering(column.map(|column| column.dictionary()));
                scan_codes(column.map_or(&[], |column| column.codes()), &table, self.positions)
            }
            Node::Flag { property, value } => {
                let mut bits =
                    self.index.flag(property).map_or_else(|| vec![0; words], |f| f.words().to_vec());
                bits.resize(words, 0);
                if !*value {
                    bits.iter_mut().for_each(|word| *word = !*word);
                }
                bits
            }
            Node::HireDate(test) => match test.resolve(self.now) {
                Some(test) => {
                    scan(self.index.hire_dates(), NULL_DATE, self.positions, |date| test.holds(date))
                }
                None => vec![0; words],
            },
            Node::Quantified(q) => self.quantified(q),
            Node::MemberOf(groups) => {
                let mut bits = Bitset::new(self.positions);
                for group in groups {
                    for &position in self.index.members(group) {
                        bits.set(position as usize, true);
                    }
                }
                bits.into_words()
            }
            Node::ReportsTo(manager) => {
                let managers = self.index.managers();
                match managers.dictionary().code(manager) {
                    Some(code) => scan(managers.codes(), NULL, self.positions, |c| c == code),
                    None => vec![0; words],
                }
            }
            // Never at the user level: the compiler turns these into `false` there.
            Node::Element(_) | Node::PlanField { .. } => vec![0; words],
        }
    }

    fn quantified(&self, q: &QuantifiedNode) -> Vec<u64> {
        let frame = self.frame(q.collection);
        let table = q.table.as_ref().map(|table| {
            table.covering(self.elements(frame), |code| {
                self.holds(&q.predicate, usize::MAX, Some((frame, code)))
            })
        });
        let mut bits = Bitset::new(self.positions);
        for position in 0..self.positions {
            let list = self.list(frame, position);
            let decide = |&code: &u32| match table.as_ref().and_then(|table| table.get(code)) {
                Some(decision) => decision,
                None => self.holds(&q.predicate, position, Some((frame, code))),
            };
            let holds = match q.quantifier {
                Quantifier::Any => list.iter().any(decide),
                Quantifier::All => list.iter().all(decide),
            };
            if holds {
                bits.set(position, true);
            }
        }
        bits.into_words()
    }
}

/// Runs a column of codes through a table; positions past the column's end are null.
fn scan_codes(codes: &[u32], table: &Table, positions: usize) -> Vec<u64> {
    let words = positions.div_ceil(64);
    match table.shape {
        Shape::Never => vec![0; words],
        Shape::Always => vec![u64::MAX; words],
        Shape::Only(code) => scan(codes, NULL, positions, |c| c == code),
        Shape::AllBut(code) => scan(codes, NULL, positions, |c| c != code),
        Shape::Mixed => {
            let decisions = table.decisions.as_slice();
            scan(codes, NULL, positions, |c| decisions.get(c as usize).is_some_and(|&d| d != 0))
        }
    }
}

/// The words of `test` over `values`, 64 at a time; positions past the end of `values` get
/// `test(missing)`. Monomorphized per test so the inner loop compiles to straight-line code.
#[inline]
fn scan<T: Copy>(values: &[T], missing: T, positions: usize, test: impl Fn(T) -> bool) -> Vec<u64> {
    let values = values.get(..positions).unwrap_or(values);
    let mut words = Vec::with_capacity(positions.div_ceil(64));
    let mut chunks = values.chunks_exact(64);
    for chunk in &mut chunks {
        let mut word = 0u64;
        for (bit, &value) in chunk.iter().enumerate() {
            word |= u64::from(test(value)) << bit;
        }
        words.push(word);
    }
    let rest = chunks.remainder();
    let mut position = values.len() - rest.len();
    let mut word = 0u64;
    let mut bit = 0;
    let missing = test(missing);
    while position < positions {
        let value = rest.get(bit).copied().map_or(missing, &test);
        word |= u64::from(value) << (position % 64);
        position += 1;
        bit += 1;
        if position % 64 == 0 {
            words.push(word);
            word = 0;
        }
    }
    if position % 64 != 0 {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::User;
    use crate::rule::parse;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z")
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn user(id: &str, department: &str, country: &str) -> User {
        User {
            id: id.into(),
            department: Some(department.into()),
            country: Some(country.into()),
            ..User::default()
        }
    }

    fn selected(rule: &str, index: &DirectoryIndex) -> Vec<String> {
        let rule = parse(rule).unwrap_or_else(|errors| panic!("{errors:?}"));
        let compiled = CompiledRule::compile(&rule, index);
        compiled.matching_ids(index, now()).into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn tables_pick_the_cheapest_scan() {
        let shape = |decisions: &[u8]| Table::from_decisions(decisions.to_vec()).shape;
        assert_eq!(shape(&[0, 0, 0]), Shape::Never);
        assert_eq!(shape(&[1, 1]), Shape::Always);
        assert_eq!(shape(&[0, 0, 1, 0]), Shape::Only(2));
        assert_eq!(shape(&[1, 0, 1, 1]), Shape::AllBut(1));
        assert_eq!(shape(&[1, 0, 1, 0]), Shape::Mixed);
    }

    #[test]
    fn scans_fill_whole_words_and_the_tail() {
        let values: Vec<u32> = (0..130).collect();
        let words = scan(&values, 0, 200, |v| v % 2 == 0);
        assert_eq!(words.len(), 4);
        assert_eq!(words[0], 0x5555_5555_5555_5555);
        assert_eq!(words[2], !0b10, "128 passes, 129 does not, and the missing 130.. pass as 0 does");
        assert_eq!(words[3] & 0xFF, 0xFF, "missing values pass as the test of `missing` says");
        assert_eq!(scan(&values, 1, 64, |v| v == 63), vec![1 << 63]);
        assert!(scan::<u32>(&[], 0, 0, |_| true).is_empty());
    }

    #[test]
    fn the_emea_rule_ignores_case_and_sees_new_values_after_compilation() {
        let users = [
            user("a", "Sales", "Germany"),
            user("b", "SALES", "france"),
            user("c", "Sales", "United States"),
            user("d", "Marketing", "Germany"),
        ];
        let mut index = DirectoryIndex::build(&users, Vec::<(&str, &str)>::new());
        let rule = parse(r#"user.department -eq "sales" -and user.country -in ["Germany", "France"]"#)
            .unwrap_or_else(|errors| panic!("{errors:?}"));
        let mut compiled = CompiledRule::compile(&rule, &index);
        assert_eq!(compiled.matching_ids(&index, now()), ["a", "b"]);

        index.upsert(&user("e", "sAlEs", "FRANCE"));
        index.remove("a");
        assert_eq!(compiled.matching_ids(&index, now()), ["b", "e"], "new codes are decided when met");
        let e = index.position("e").unwrap_or_else(|| panic!("e is indexed"));
        assert!(compiled.matches(&index, e, now()));
        compiled.refresh(&index);
        assert_eq!(compiled.matching_ids(&index, now()), ["b", "e"]);
        assert_eq!(index.upsert(&user("f", "Sales", "Germany")).index(), 0, "a's position is reused");
        assert_eq!(compiled.matching_ids(&index, now()), ["f", "b", "e"]);
    }

    #[test]
    fn relationships_and_dates() {
        let mut users = [user("a", "x", "y"), user("b", "x", "y"), user("c", "x", "y")];
        users[0].manager = Some(crate::directory::ObjectRef { id: "BOSS".into() });
        users[1].employee_hire_date = Some("2025-05-31T00:00:00Z".into());
        users[2].employee_hire_date = Some("2020-01-01".into());
        let index = DirectoryIndex::build(&users, [("b", "G1"), ("c", "g2")]);
        assert_eq!(selected(r#"Direct Reports for "boss""#, &index), ["a"]);
        assert_eq!(selected("user.memberOf -any (group.objectId -in ['g1', 'G2'])", &index), ["b", "c"]);
        assert_eq!(selected("user.employeeHireDate -ge system.now -minus P7D", &index), ["b"]);
        assert_eq!(selected("user.employeeHireDate -ne null", &index), ["b", "c"]);
        assert_eq!(
            selected("user.employeeHireDate -ge system.now -plus P99999999Y", &index),
            Vec::<String>::new()
        );
    }
}
