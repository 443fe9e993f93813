//! The check: the parse tree resolved against the attribute schema into a typed [`Rule`].
//!
//! Names are resolved without regard to case; values are typed by the property they are
//! compared with; the restrictions Entra documents are enforced. Every problem is reported, not
//! just the first. What each property type accepts:
//!
//! | type                 | operators                                    | values                           |
//! |----------------------|----------------------------------------------|----------------------------------|
//! | string               | all but `-le`/`-ge`                          | `"text"`, numbers, `null` (`-eq`/`-ne` only), a list for `-in`/`-notIn`, a valid regex for `-match`/`-notMatch` |
//! | string collection    | as string (any element; see evaluation), or `-any`/`-all` over `_` | as string |
//! | boolean              | `-eq`, `-ne`                                 | `true`, `false`, `null`          |
//! | `employeeHireDate`   | `-eq`, `-ne`, `-le`, `-ge`                   | a date and time (quoted or not), `system.now [-plus|-minus duration]`, `null` (`-eq`/`-ne` only) |
//! | `assignedPlans`      | `-any`/`-all` over `assignedPlan.servicePlanId`, `.service`, `.capabilityStatus` | |
//! | `memberOf`           | only `user.memberOf -any (group.objectId -in ['<id>', ...])`, alone, at most 50 ids | |
//!
//! `Direct Reports for "<id>"` and `memberOf` rules can't be combined with anything, `-not`
//! included. `$null` is read as `null`.

use super::ast::{
    Comparison, Expr, IsoDuration, Offset, Op, Pattern, Quantified, Quantifier, Rule, RuleBody, Subject,
    Value, quoted,
};
use super::error::{Report, RuleError, Span, nearest};
use super::schema::{
    Collection, PlanField, PropertyType, UserProperty, is_misnumbered_extension_attribute, known_names,
    parse_datetime, rule_name_for_graph_name,
};
use super::syntax::{self, Name};

/// The most groups a `memberOf` rule may list, as Entra allows.
pub const MAX_MEMBER_OF_GROUPS: usize = 50;

const MEMBER_OF_EXAMPLE: &str = "write `user.memberOf -any (group.objectId -in ['<group id>'])` alone";
const DATE_EXAMPLE: &str = "write an ISO 8601 date and time such as `2020-06-10T18:13:20Z`, or `system.now`";

/// Resolves and type-checks a parse tree. `None` when something was reported.
pub(crate) fn check(tree: &syntax::Expr, report: &mut Report<'_>) -> Option<Rule> {
    Checker { report }.rule(tree)
}

/// Where a condition stands: on the user, or inside a quantifier over one of its collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    User,
    Element(Collection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Junction {
    Or,
    And,
}

struct Checker<'r, 'a> {
    report: &'r mut Report<'a>,
}

impl Checker<'_, '_> {
    fn rule(&mut self, tree: &syntax::Expr) -> Option<Rule> {
        match tree.unparenthesized() {
            syntax::Expr::DirectReports { span, manager } => {
                let manager_id = manager.trim();
                if manager_id.is_empty() {
                    self.report.error(*span, RuleError::EmptyId("manager"));
                    return None;
                }
                Some(Rule::new(RuleBody::DirectReports { manager_id: manager_id.to_owned() }))
            }
            syntax::Expr::Quantified { subject, quantifier, quantifier_span, predicate }
                if is_member_of(subject) =>
            {
                let group_ids = self.member_of(*quantifier, *quantifier_span, predicate)?;
                Some(Rule::new(RuleBody::MemberOf { group_ids }))
            }
            _ => self.expr(tree, Scope::User).map(|expr| Rule::new(RuleBody::Condition(expr))),
        }
    }

    fn expr(&mut self, tree: &syntax::Expr, scope: Scope) -> Option<Expr> {
        match tree {
            syntax::Expr::Or(items) => self.junction(items, scope, Junction::Or),
            syntax::Expr::And(items) => self.junction(items, scope, Junction::And),
            syntax::Expr::Not { operand, .. } => self.expr(operand, scope).map(|e| Expr::Not(Box::new(e))),
            syntax::Expr::Paren { inner, .. } => self.expr(inner, scope),
            syntax::Expr::Compare { subject, op, op_span, value } => {
                self.comparison(subject, *op, *op_span, value, scope)
            }
            syntax::Expr::Quantified { subject, quantifier, quantifier_span, predicate } => {
                self.quantified(subject, *quantifier, *quantifier_span, predicate, scope)
            }
            syntax::Expr::DirectReports { span, .. } => {
                self.report
                    .error(*span, RuleError::DirectReportsCombined)
                    .hint("write `Direct Reports for \"<manager id>\"` alone");
                None
            }
            syntax::Expr::Error(_) => None,
        }
    }

    /// `-or` or `-and` of every item, flattened: `a -or (b -or c)` is one `-or` of three.
    fn junction(&mut self, items: &[syntax::Expr], scope: Scope, junction: Junction) -> Option<Expr> {
        let checked: Vec<Option<Expr>> = items.iter().map(|item| self.expr(item, scope)).collect();
        let mut flat = Vec::with_capacity(checked.len());
        for item in checked {
            match (item?, junction) {
                (Expr::Or(inner), Junction::Or) | (Expr::And(inner), Junction::And) => flat.extend(inner),
                (other, _) => flat.push(other),
            }
        }
        Some(match junction {
            Junction::Or => Expr::Or(flat),
            Junction::And => Expr::And(flat),
        })
    }

    fn comparison(
        &mut self,
        name: &Name,
        op: Op,
        op_span: Span,
        value: &syntax::Value,
        scope: Scope,
    ) -> Option<Expr> {
        let (subject, kind) = self.subject(name, scope)?;
        let value = match kind {
            PropertyType::String | PropertyType::StringCollection => {
                if matches!(op, Op::Le | Op::Ge) {
                    self.report.error(op_span, RuleError::DateOperator(op.as_str()));
                    return None;
                }
                self.string_value(op, value)?
            }
            PropertyType::Boolean => {
                if !matches!(op, Op::Eq | Op::Ne) {
                    self.mismatch(op, op_span, kind, name, "compare a boolean with `-eq` or `-ne`");
                    return None;
                }
                self.bool_value(value)?
            }
            PropertyType::DateTime => {
                if !matches!(op, Op::Eq | Op::Ne | Op::Le | Op::Ge) {
                    self.mismatch(
                        op,
                        op_span,
                        kind,
                        name,
                        "compare a date with `-eq`, `-ne`, `-le` or `-ge`",
                    );
                    return None;
                }
                self.date_value(op, value)?
            }
            PropertyType::PlanCollection => {
                self.report.error(name.span, RuleError::CollectionNeedsQuantifier(name.text.clone())).hint(
                    "for example `user.assignedPlans -any (assignedPlan.capabilityStatus -eq \"Enabled\")`",
                );
                return None;
            }
            PropertyType::GroupCollection => {
                self.report.error(name.span, RuleError::MemberOfForm).hint(MEMBER_OF_EXAMPLE);
                return None;
            }
        };
        Some(Expr::Compare(Comparison { subject, op, value }))
    }

    fn quantified(
        &mut self,
        name: &Name,
        quantifier: Quantifier,
        quantifier_span: Span,
        predicate: &syntax::Expr,
        scope: Scope,
    ) -> Option<Expr> {
        if scope != Scope::User {
            self.report.error(quantifier_span, RuleError::NestedQuantifier);
            return None;
        }
        let (Subject::User(property), kind) = self.subject(name, scope)? else { return None };
        if property == UserProperty::MemberOf {
            self.report
                .error(name.span.to(predicate.span()), RuleError::MemberOfCombined)
                .hint(MEMBER_OF_EXAMPLE);
            return None;
        }
        let Some(collection) = Collection::of(&property) else {
            let error = RuleError::NotACollection {
                quantifier: quantifier.as_str(),
                property: name.text.clone(),
                kind: kind.describe(),
            };
            self.report.error(quantifier_span, error).hint(
                "`-any` and `-all` work on `user.proxyAddresses`, `user.otherMails` and `user.assignedPlans`",
            );
            return None;
        };
        let predicate = self.expr(predicate, Scope::Element(collection))?;
        Some(Expr::Quantified(Quantified { collection, quantifier, predicate: Box::new(predicate) }))
    }

    /// The group ids of `user.memberOf -any (group.objectId -in [...])`.
    fn member_of(
        &mut self,
        quantifier: Quantifier,
        quantifier_span: Span,
        predicate: &syntax::Expr,
    ) -> Option<Vec<String>> {
        let inner = predicate.unparenthesized();
        let syntax::Expr::Compare { subject, op: Op::In, value: syntax::Value::List { items, span }, .. } =
            inner
        else {
            self.report.error(inner.span(), RuleError::MemberOfForm).hint(MEMBER_OF_EXAMPLE);
            return None;
        };
        let mut well_formed = true;
        if quantifier != Quantifier::Any {
            self.report.error(quantifier_span, RuleError::MemberOfForm).hint("write `-any`");
            well_formed = false;
        }
        if !subject.text.eq_ignore_ascii_case("group.objectId") {
            self.report.error(subject.span, RuleError::MemberOfForm).hint("write `group.objectId`");
            well_formed = false;
        }
        let ids = self.string_list(items, *span)?;
        if let Some(empty) = items.iter().zip(&ids).find(|(_, id)| id.trim().is_empty()) {
            self.report.error(empty.0.span(), RuleError::EmptyId("group"));
            well_formed = false;
        }
        if ids.len() > MAX_MEMBER_OF_GROUPS {
            let error = RuleError::TooManyGroups { count: ids.len(), limit: MAX_MEMBER_OF_GROUPS };
            self.report.error(*span, error).hint("split the groups across several rules");
            well_formed = false;
        }
        well_formed.then_some(ids)
    }

    /// What a name means where it stands, with the type of its values.
    fn subject(&mut self, name: &Name, scope: Scope) -> Option<(Subject, PropertyType)> {
        let text = name.text.as_str();
        let plan_field = strip_prefix_ignoring_case(text, "assignedPlan.");
        match scope {
            Scope::User if text == "_" => {
                self.report
                    .error(name.span, RuleError::ElementOutsideQuantifier)
                    .hint("for example `user.proxyAddresses -any (_ -startsWith \"smtp:\")`");
                None
            }
            Scope::User if plan_field.is_some() => {
                self.report.error(name.span, RuleError::PlanOutsideQuantifier(text.to_owned()));
                None
            }
            Scope::User if text.eq_ignore_ascii_case("group.objectId") => {
                self.report.error(name.span, RuleError::MemberOfForm).hint(MEMBER_OF_EXAMPLE);
                None
            }
            Scope::User => {
                let property = self.user_property(name)?;
                let kind = property.property_type();
                Some((Subject::User(property), kind))
            }
            Scope::Element(Collection::AssignedPlans) => {
                if let Some(field) = plan_field.and_then(PlanField::from_name) {
                    return Some((Subject::Plan(field), PropertyType::String));
                }
                let error = if plan_field.is_some() {
                    RuleError::UnknownProperty(text.to_owned())
                } else {
                    RuleError::WrongElement { found: text.to_owned(), collection: "user.assignedPlans" }
                };
                let fields = PlanField::ALL.map(|f| format!("`assignedPlan.{}`", f.name())).join(", ");
                self.report.error(name.span, error).hint(format!("test a plan's {fields}"));
                None
            }
            Scope::Element(collection) => {
                if text == "_" {
                    return Some((Subject::Element, PropertyType::String));
                }
                let collection = match collection {
                    Collection::OtherMails => "user.otherMails",
                    _ => "user.proxyAddresses",
                };
                let error = RuleError::WrongElement { found: text.to_owned(), collection };
                self.report.error(name.span, error).hint("test each element as `_`");
                None
            }
        }
    }

    fn user_property(&mut self, name: &Name) -> Option<UserProperty> {
        let text = name.text.as_str();
        let Some((prefix, rest)) = text.split_once('.') else {
            let known = UserProperty::from_name(text).map(|p| p.name().to_owned());
            let diagnostic = match known {
                Some(_) => self.report.error(name.span, RuleError::MissingPrefix(text.to_owned())),
                None => self.report.error(name.span, RuleError::UnknownProperty(text.to_owned())),
            };
            if let Some(known) = known.as_deref().or_else(|| nearest(text, known_names())) {
                diagnostic.hint(format!("write `user.{known}`"));
            }
            return None;
        };
        if prefix.eq_ignore_ascii_case("device") {
            self.report
                .error(name.span, RuleError::DeviceProperty)
                .hint("these rules select users: write `user.`");
            return None;
        }
        let property = UserProperty::from_name(rest);
        if let (Some(property), true) = (&property, prefix.eq_ignore_ascii_case("user")) {
            return Some(property.clone());
        }
        let hint = if let Some(property) = property {
            format!("write `user.{}`", property.name())
        } else if let Some(rule_name) = rule_name_for_graph_name(rest) {
            format!("the rule language calls it `user.{rule_name}`")
        } else if is_misnumbered_extension_attribute(rest) {
            "extension attributes are numbered `extensionAttribute1` to `extensionAttribute15`".to_owned()
        } else if strip_prefix_ignoring_case(rest, "extension_").is_some() {
            "custom extension properties are named `extension_<app id without dashes>_<name>`".to_owned()
        } else if let Some(near) = nearest(rest, known_names()) {
            format!("did you mean `user.{near}`?")
        } else {
            "see the supported user properties in the documentation of the rule language".to_owned()
        };
        self.report.error(name.span, RuleError::UnknownProperty(text.to_owned())).hint(hint);
        None
    }

    fn string_value(&mut self, op: Op, value: &syntax::Value) -> Option<Value> {
        if matches!(op, Op::In | Op::NotIn) {
            return match value {
                syntax::Value::List { items, span } => self.string_list(items, *span).map(Value::List),
                other => {
                    let diagnostic = self.report.error(other.span(), RuleError::NeedsList(op.as_str()));
                    if let syntax::Value::Quoted { text, .. } = other {
                        diagnostic.hint(format!("write `[{}]`", quoted(text)));
                    }
                    None
                }
            };
        }
        let text = match value {
            syntax::Value::List { span, .. } => {
                let diagnostic = self.report.error(*span, RuleError::UnexpectedList);
                match op {
                    Op::Eq => diagnostic.hint("write `-in`"),
                    Op::Ne => diagnostic.hint("write `-notIn`"),
                    _ => diagnostic,
                };
                return None;
            }
            syntax::Value::Now { span, .. } => {
                self.report.error(*span, RuleError::NowOutsideDate);
                return None;
            }
            syntax::Value::Bare { text, span } if is_null(text) => {
                if !matches!(op, Op::Eq | Op::Ne) {
                    self.report.error(*span, RuleError::NullOperator);
                    return None;
                }
                return Some(Value::Null);
            }
            other => self.string_item(other)?,
        };
        if !matches!(op, Op::Match | Op::NotMatch) {
            return Some(Value::String(text));
        }
        match Pattern::new(&text) {
            Ok(pattern) => Some(Value::Pattern(pattern)),
            Err(problem) => {
                self.report.error(value.span(), RuleError::InvalidRegex(problem));
                None
            }
        }
    }

    /// The strings of a list, every item checked.
    fn string_list(&mut self, items: &[syntax::Value], span: Span) -> Option<Vec<String>> {
        if items.is_empty() {
            self.report.error(span, RuleError::EmptyList);
            return None;
        }
        let checked: Vec<Option<String>> = items.iter().map(|item| self.string_item(item)).collect();
        checked.into_iter().collect()
    }

    /// A quoted string, or a number, which needs no quotes.
    fn string_item(&mut self, value: &syntax::Value) -> Option<String> {
        match value {
            syntax::Value::Quoted { text, .. } => Some(text.clone()),
            syntax::Value::Bare { text, .. } if is_number(text) => Some(text.clone()),
            syntax::Value::Bare { text, span } => {
                let error = if is_null(text) {
                    RuleError::WrongValue { expected: "a string", found: text.clone() }
                } else {
                    RuleError::UnquotedString(text.clone())
                };
                let diagnostic = self.report.error(*span, error);
                if !is_null(text) {
                    diagnostic.hint(format!("write `{}`", quoted(text)));
                }
                None
            }
            other => {
                let found = self.report_text(other.span());
                self.report.error(other.span(), RuleError::WrongValue { expected: "a string", found });
                None
            }
        }
    }

    fn bool_value(&mut self, value: &syntax::Value) -> Option<Value> {
        let expected = "`true`, `false` or `null`";
        match value {
            syntax::Value::Bare { text, .. } if text.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
            syntax::Value::Bare { text, .. } if text.eq_ignore_ascii_case("false") => {
                Some(Value::Bool(false))
            }
            syntax::Value::Bare { text, .. } if is_null(text) => Some(Value::Null),
            syntax::Value::Quoted { text, span } => {
                let diagnostic =
                    self.report.error(*span, RuleError::WrongValue { expected, found: quoted(text) });
                if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
                    diagnostic.hint(format!("write `{}` without quotes", text.to_lowercase()));
                }
                None
            }
            other => {
                let found = self.report_text(other.span());
                self.report.error(other.span(), RuleError::WrongValue { expected, found });
                None
            }
        }
    }

    fn date_value(&mut self, op: Op, value: &syntax::Value) -> Option<Value> {
        match value {
            syntax::Value::Bare { text, span } if is_null(text) => {
                if matches!(op, Op::Eq | Op::Ne) {
                    Some(Value::Null)
                } else {
                    self.report.error(*span, RuleError::NullOperator);
                    None
                }
            }
            syntax::Value::Bare { text, span } | syntax::Value::Quoted { text, span } => {
                if let Some(at) = parse_datetime(text) {
                    return Some(Value::DateTime(at));
                }
                self.report.error(*span, RuleError::InvalidDate(text.clone())).hint(DATE_EXAMPLE);
                None
            }
            syntax::Value::Now { offset: None, .. } => Some(Value::Now(None)),
            syntax::Value::Now { offset: Some((sign, written)), .. } => {
                let Some(duration) = IsoDuration::parse(&written.text) else {
                    self.report
                        .error(written.span, RuleError::InvalidDuration(written.text.clone()))
                        .hint("write a duration such as `P1D`, `PT12H` or `P1Y2M`");
                    return None;
                };
                Some(Value::Now(Some(Offset { sign: *sign, duration })))
            }
            syntax::Value::List { span, .. } => {
                let found = self.report_text(*span);
                self.report.error(*span, RuleError::WrongValue { expected: "a date and time", found });
                None
            }
        }
    }

    fn mismatch(&mut self, op: Op, op_span: Span, kind: PropertyType, name: &Name, hint: &str) {
        let error = RuleError::OperatorMismatch {
            op: op.as_str(),
            kind: kind.describe(),
            property: name.text.clone(),
        };
        self.report.error(op_span, error).hint(hint);
    }

    /// The text of a span, shortened for a message.
    fn report_text(&self, span: Span) -> String {
        let text = self.report.text(span);
        if text.chars().count() > 40 {
            format!("{}...", text.chars().take(40).collect::<String>())
        } else {
            text
        }
    }
}

fn is_member_of(name: &Name) -> bool {
    name.text.eq_ignore_ascii_case("user.memberOf")
}

fn is_null(text: &str) -> bool {
    text.eq_ignore_ascii_case("null") || text.eq_ignore_ascii_case("$null")
}

/// An integer or decimal, optionally negative: a value that needs no quotes.
fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    [whole, fraction].iter().all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

fn strip_prefix_ignoring_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| text.get(prefix.len()..)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_need_no_quotes() {
        for number in ["0", "42", "-7", "3.14"] {
            assert!(is_number(number), "{number}");
        }
        for other in ["", "-", "4.", ".5", "1e3", "12a", "--1"] {
            assert!(!is_number(other), "{other}");
        }
    }

    #[test]
    fn prefixes_strip_without_regard_to_case() {
        assert_eq!(strip_prefix_ignoring_case("ASSIGNEDPLAN.service", "assignedPlan."), Some("service"));
        assert_eq!(strip_prefix_ignoring_case("assigned", "assignedPlan."), None);
        assert_eq!(strip_prefix_ignoring_case("é", "ab"), None);
    }
}
