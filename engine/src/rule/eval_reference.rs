//! The reference evaluator: slow, obviously correct, and written to read like the documentation.
//!
//! A compiled evaluator will be tested against this one on random rules and users. The meaning
//! of a rule, Entra's where it is documented and Entra-like where it is not:
//!
//! - String comparisons ignore case. `-contains` is a substring test; `-match` searches for a
//!   case-insensitive regular expression anywhere in the value (anchor it with `^` and `$`).
//! - A string property that is absent or empty is null, and reads as the empty string: `-eq null`
//!   holds for it, `-eq "x"` and `-startsWith "x"` do not, `-ne "x"` does.
//! - Every negative operator is exactly the negation of its positive one: `x -notStartsWith "a"`
//!   means `-not (x -startsWith "a")`, so negative operators hold on null.
//! - `accountEnabled`, `dirSyncEnabled` and `userType` are never null: the schema applies Graph's
//!   defaults.
//! - `employeeHireDate` absent or unreadable is null: `-le`, `-ge` and `-eq` a date do not hold on
//!   it, `-ne` does. `system.now` is [`EvalContext::now`]; an offset that leaves chrono's range
//!   makes the comparison fail (and `-ne` hold).
//! - A string collection compared directly (`user.proxyAddresses -startsWith "smtp:"`): `-eq null`
//!   holds when it is empty, `-ne null` when it is not; a positive operator holds when any element
//!   satisfies it, a negative one when no element satisfies its positive.
//! - `-any` holds when at least one element satisfies the predicate, so never on an empty
//!   collection; `-all` when every element does, so always on an empty one.
//! - `memberOf` holds for direct members of any listed group, `Direct Reports for` for users
//!   whose manager is the one named, both as [`EvalContext::relations`] says; ids ignore case.
//!
//! Evaluation never panics.

use chrono::{DateTime, Utc};

use super::EvalContext;
use super::ast::{Comparison, Expr, Op, Quantified, Quantifier, Rule, RuleBody, Subject, Value};
use super::schema::{Collection, PropertyType};
use crate::directory::{AssignedPlan, User};

/// Whether `user` satisfies `rule`.
#[must_use]
pub fn evaluate(rule: &Rule, user: &User, ctx: &EvalContext<'_>) -> bool {
    match rule.body() {
        RuleBody::Condition(expr) => holds(expr, user, None, ctx),
        RuleBody::MemberOf { group_ids } => {
            group_ids.iter().any(|group_id| ctx.relations.is_member_of(&user.id, group_id))
        }
        RuleBody::DirectReports { manager_id } => {
            ctx.relations.manager_of(&user.id).is_some_and(|manager| manager.eq_ignore_ascii_case(manager_id))
        }
    }
}

/// The element of a collection a quantifier is looking at.
#[derive(Debug, Clone, Copy)]
enum Element<'u> {
    Text(&'u str),
    Plan(&'u AssignedPlan),
}

fn holds(expr: &Expr, user: &User, element: Option<Element<'_>>, ctx: &EvalContext<'_>) -> bool {
    match expr {
        Expr::Or(items) => items.iter().any(|item| holds(item, user, element, ctx)),
        Expr::And(items) => items.iter().all(|item| holds(item, user, element, ctx)),
        Expr::Not(inner) => !holds(inner, user, element, ctx),
        Expr::Compare(comparison) => compares(comparison, user, element, ctx),
        Expr::Quantified(quantified) => quantifies(quantified, user, ctx),
    }
}

fn quantifies(q: &Quantified, user: &User, ctx: &EvalContext<'_>) -> bool {
    let elements: Vec<Element<'_>> = match q.collection {
        Collection::AssignedPlans => user.assigned_plans.iter().map(Element::Plan).collect(),
        strings => strings.property().texts(user).iter().map(|text| Element::Text(text)).collect(),
    };
    let satisfies = |element| holds(&q.predicate, user, Some(element), ctx);
    match q.quantifier {
        Quantifier::Any => elements.into_iter().any(satisfies),
        Quantifier::All => elements.into_iter().all(satisfies),
    }
}

fn compares(c: &Comparison, user: &User, element: Option<Element<'_>>, ctx: &EvalContext<'_>) -> bool {
    match (&c.subject, element) {
        (Subject::Element, Some(Element::Text(text))) => text_matches(Some(text), c.op, &c.value),
        (Subject::Plan(field), Some(Element::Plan(plan))) => text_matches(field.text(plan), c.op, &c.value),
        (Subject::User(property), _) => match property.property_type() {
            PropertyType::String => text_matches(property.text(user), c.op, &c.value),
            PropertyType::Boolean => flag_matches(property.flag(user), c.op, &c.value),
            PropertyType::DateTime => date_matches(property.date(user), c.op, &c.value, ctx.now),
            PropertyType::StringCollection => texts_match(property.texts(user), c.op, &c.value),
            // The checker lets these appear only in `-any`/`-all` and `memberOf` rules.
            PropertyType::PlanCollection | PropertyType::GroupCollection => false,
        },
        // The checker lets `_` and `assignedPlan.` appear only inside their quantifier.
        _ => false,
    }
}

/// A string against a value; absent reads as the empty string, which is what `null` means.
fn text_matches(actual: Option<&str>, op: Op, value: &Value) -> bool {
    if op.is_negative() {
        return !text_matches(actual, op.positive(), value);
    }
    let actual = actual.unwrap_or_default();
    match (op, value) {
        (Op::Eq, Value::Null) => actual.is_empty(),
        (Op::Eq, Value::String(expected)) => same_text(actual, expected),
        (Op::StartsWith, Value::String(prefix)) => fold(actual).starts_with(&fold(prefix)),
        (Op::EndsWith, Value::String(suffix)) => fold(actual).ends_with(&fold(suffix)),
        (Op::Contains, Value::String(part)) => fold(actual).contains(&fold(part)),
        (Op::Match, Value::Pattern(pattern)) => pattern.is_match(actual),
        (Op::In, Value::List(candidates)) => candidates.iter().any(|candidate| same_text(actual, candidate)),
        _ => false,
    }
}

/// A string collection compared directly: `null` tests emptiness, other values any element.
fn texts_match(elements: &[String], op: Op, value: &Value) -> bool {
    if *value == Value::Null {
        let empty = elements.iter().all(String::is_empty);
        return match op {
            Op::Eq => empty,
            Op::Ne => !empty,
            _ => false,
        };
    }
    if op.is_negative() {
        return !texts_match(elements, op.positive(), value);
    }
    elements.iter().any(|element| text_matches(Some(element), op, value))
}

fn flag_matches(actual: Option<bool>, op: Op, value: &Value) -> bool {
    if op.is_negative() {
        return !flag_matches(actual, op.positive(), value);
    }
    match (op, value) {
        (Op::Eq, Value::Bool(expected)) => actual == Some(*expected),
        (Op::Eq, Value::Null) => actual.is_none(),
        _ => false,
    }
}

fn date_matches(actual: Option<DateTime<Utc>>, op: Op, value: &Value, now: DateTime<Utc>) -> bool {
    if op.is_negative() {
        return !date_matches(actual, op.positive(), value, now);
    }
    let target = match value {
        Value::Null => return op == Op::Eq && actual.is_none(),
        Value::DateTime(at) => Some(*at),
        Value::Now(None) => Some(now),
        Value::Now(Some(offset)) => offset.apply(now),
        _ => None,
    };
    let (Some(actual), Some(target)) = (actual, target) else { return false };
    match op {
        Op::Eq => actual == target,
        Op::Le => actual <= target,
        Op::Ge => actual >= target,
        _ => false,
    }
}

fn same_text(a: &str, b: &str) -> bool {
    fold(a) == fold(b)
}

/// Case folding for comparisons that ignore case.
fn fold(text: &str) -> String {
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::ast::Pattern;

    fn text(value: &str) -> Value {
        Value::String(value.into())
    }

    #[test]
    fn strings_compare_without_regard_to_case() {
        assert!(text_matches(Some("Sales"), Op::Eq, &text("SALES")));
        assert!(text_matches(Some("École"), Op::StartsWith, &text("éc")));
        assert!(text_matches(Some("contoso.com"), Op::Contains, &text("TOSO")));
        assert!(text_matches(Some("b"), Op::In, &Value::List(vec!["A".into(), "B".into()])));
    }

    #[test]
    fn null_reads_as_the_empty_string() {
        assert!(text_matches(None, Op::Eq, &Value::Null));
        assert!(!text_matches(None, Op::Ne, &Value::Null));
        assert!(!text_matches(None, Op::Eq, &text("x")));
        assert!(text_matches(None, Op::Ne, &text("x")));
        assert!(!text_matches(None, Op::StartsWith, &text("x")));
        assert!(text_matches(None, Op::NotStartsWith, &text("x")));
        assert!(text_matches(None, Op::NotIn, &Value::List(vec!["x".into()])));
    }

    #[test]
    fn negative_operators_negate_their_positive() {
        let values = [Some("Sales"), Some(""), None];
        let pattern = Pattern::new("^s");
        assert!(pattern.is_ok());
        let Ok(pattern) = pattern else { return };
        let cases = [
            (Op::Ne, text("sales")),
            (Op::NotStartsWith, text("SA")),
            (Op::NotEndsWith, text("les")),
            (Op::NotContains, text("al")),
            (Op::NotMatch, Value::Pattern(pattern)),
            (Op::NotIn, Value::List(vec!["sales".into()])),
        ];
        for actual in values {
            for (op, value) in &cases {
                assert_eq!(text_matches(actual, *op, value), !text_matches(actual, op.positive(), value));
            }
        }
    }

    #[test]
    fn collections_compared_directly_test_any_element() {
        let addresses = ["SMTP:a@contoso.com".to_owned(), "smtp:b@fabrikam.com".to_owned()];
        assert!(texts_match(&addresses, Op::EndsWith, &text("@FABRIKAM.com")));
        assert!(!texts_match(&addresses, Op::NotEndsWith, &text("@fabrikam.com")));
        assert!(texts_match(&addresses, Op::NotEndsWith, &text("@example.com")));
        assert!(texts_match(&[], Op::Eq, &Value::Null) && texts_match(&addresses, Op::Ne, &Value::Null));
    }

    #[test]
    fn dates_compare_as_instants_and_null_only_equals_null() {
        let dates = (
            crate::rule::schema::parse_datetime("2020-01-01"),
            crate::rule::schema::parse_datetime("2021-01-01"),
        );
        assert!(dates.0.is_some() && dates.1.is_some());
        let (Some(early), Some(late)) = dates else { return };
        assert!(date_matches(Some(early), Op::Le, &Value::DateTime(late), late));
        assert!(date_matches(Some(late), Op::Ge, &Value::Now(None), late));
        assert!(!date_matches(None, Op::Ge, &Value::Now(None), late));
        assert!(date_matches(None, Op::Eq, &Value::Null, late));
        assert!(date_matches(None, Op::Ne, &Value::DateTime(late), late));
    }
}
