//! The corpus: every rule the documentation shows, every error case, and what each selects among
//! a few fixture users, all through one `check(rule, expect)` helper.
//!
//! The corpus is data, in `engine/tests/corpus/`, so that the `em-api rule` integration tests
//! hold the command line to the same answers:
//!
//! - `directory.json` is the fixture directory: five users who between them exercise every
//!   property type, null, case and escaping, and the groups they are direct members of, in the
//!   Graph shape that an import and `em-api rule eval --directory` read.
//! - `rules.json` holds `now`, the value of `system.now`, and the cases in sections. A case is a
//!   `rule` and either what it parses to, `normalized` with the sorted ids it `selects`, or its
//!   `errors`, each `{"at": "line:column", "message": ..., "hint": ...}` with the hint optional.
//!
//! `check` compares outcomes as text: for a rule that parses, its normalized form, then
//! `selects: <fixture ids>`; for one that does not, each diagnostic as `line:column: message`,
//! its hint indented below. Along the way it asserts that the normalized form parses back to the
//! same rule, and that the reference evaluator and the compiled rule select the same users, over
//! the directory file and over [`fixtures`], which holds values an import rejects.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{CompiledRule, DirectoryIndex, DirectoryRelations, EvalContext, Rule, evaluate, parse};
use crate::directory::{GroupRelation, User};
use crate::import::{DirectoryImport, parse_directory};

const DIRECTORY: &str = include_str!("../../tests/corpus/directory.json");
const RULES: &str = include_str!("../../tests/corpus/rules.json");

/// `rules.json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    #[serde(rename = "@corpus.about")]
    _about: String,
    now: DateTime<Utc>,
    sections: Vec<Section>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    name: String,
    cases: Vec<Case>,
}

/// A rule and its outcome: `normalized` and `selects` when it parses, `errors` when it does not.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: String,
    normalized: Option<String>,
    selects: Option<Vec<String>>,
    errors: Option<Vec<Expected>>,
}

/// A diagnostic a case expects.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    at: String,
    message: String,
    hint: Option<String>,
}

impl Case {
    /// The outcome the case expects, in the text [`outcome`] gives.
    fn expect(&self) -> String {
        match (&self.normalized, &self.selects, &self.errors) {
            (Some(normalized), Some(selects), None) => {
                let selects = if selects.is_empty() { "nobody".to_owned() } else { selects.join(", ") };
                format!("{normalized}\nselects: {selects}")
            }
            (None, None, Some(errors)) if !errors.is_empty() => {
                let lines: Vec<String> = errors
                    .iter()
                    .map(|e| match &e.hint {
                        Some(hint) => format!("{}: {}\n    hint: {hint}", e.at, e.message),
                        None => format!("{}: {}", e.at, e.message),
                    })
                    .collect();
                lines.join("\n")
            }
            _ => format!("a case has `normalized` and `selects`, or `errors`: `{}`", self.rule),
        }
    }
}

fn corpus() -> Corpus {
    serde_json::from_str(RULES).unwrap_or_else(|e| panic!("tests/corpus/rules.json: {e}"))
}

fn directory() -> DirectoryImport {
    parse_directory(DIRECTORY, &HashMap::new())
        .unwrap_or_else(|e| panic!("tests/corpus/directory.json: {e}: {:?}", e.details))
}

/// Compares the outcome of a rule with the one expected; on a difference, says what both are.
fn check(source: &str, expect: &str) -> Result<(), String> {
    let actual = outcome(source);
    if actual == expect {
        Ok(())
    } else {
        Err(format!("rule:     {source}\nexpected: {expect}\nactual:   {actual}\n"))
    }
}

fn outcome(source: &str) -> String {
    match parse(source) {
        Ok(rule) => {
            let normalized = rule.normalized();
            let again = parse(&normalized);
            assert_eq!(
                again.as_ref().ok(),
                Some(&rule),
                "`{normalized}` does not parse back to the same rule"
            );
            let selected = selection(&rule);
            let selected = if selected.is_empty() { "nobody".to_owned() } else { selected.join(", ") };
            format!("{normalized}\nselects: {selected}")
        }
        Err(diagnostics) => {
            let lines: Vec<String> = diagnostics
                .iter()
                .map(|d| match &d.hint {
                    Some(hint) => format!("{d}\n    hint: {hint}"),
                    None => d.to_string(),
                })
                .collect();
            lines.join("\n")
        }
    }
}

/// The sorted ids of the users the rule selects, which the reference evaluator and the compiled
/// rule must agree on, over the directory file and over [`fixtures`].
fn selection(rule: &Rule) -> Vec<String> {
    let now = now();
    let mut answers: Vec<(String, Vec<String>)> = Vec::new();
    for (over, users) in [("the directory file", directory().users), ("the fixtures", fixtures())] {
        let relations = relations(&users);
        let ctx = EvalContext::new(now, &relations);
        let mut reference: Vec<String> =
            users.iter().filter(|user| evaluate(rule, user, &ctx)).map(|user| user.id.to_string()).collect();
        reference.sort_unstable();
        answers.push((format!("the reference evaluator over {over}"), reference));

        let index = DirectoryIndex::build(&users, relations.memberships());
        let mut compiled: Vec<String> = CompiledRule::compile(rule, &index)
            .matching_ids(&index, now)
            .into_iter()
            .map(str::to_owned)
            .collect();
        compiled.sort_unstable();
        answers.push((format!("the compiled rule over {over}"), compiled));
    }
    let (_, first) = &answers[0];
    for (by, answer) in &answers {
        assert_eq!(answer, first, "`{rule}`: {by} disagrees: {answers:?}");
    }
    answers.swap_remove(0).1
}

fn now() -> DateTime<Utc> {
    corpus().now
}

/// The users of the directory file, with two values an import rejects but evaluation must still
/// decide: a hire date without a time, read as midnight UTC, and one that is not a date at all,
/// read as no date. Both select as the values the file holds, so every case holds over both.
pub(super) fn fixtures() -> Vec<User> {
    let mut users = directory().users;
    let mut rewritten = 0;
    for user in &mut users {
        let date = match user.id.as_str() {
            "eli" => "2024-06-01",
            "ned" => "not a date",
            _ => continue,
        };
        user.employee_hire_date = Some(date.to_owned());
        rewritten += 1;
    }
    assert_eq!(rewritten, 2, "tests/corpus/directory.json no longer has eli and ned");
    users
}

/// The managers the users name and the direct memberships the directory file lists.
pub(super) fn relations(users: &[User]) -> DirectoryRelations {
    let mut relations = DirectoryRelations::from_users(users);
    for group in directory().memberships.iter().filter(|m| m.relation == GroupRelation::Member) {
        for user in &group.principal_ids {
            relations.add_member(user, &group.group_id);
        }
    }
    relations
}

#[test]
fn every_case_of_the_corpus() {
    let corpus = corpus();
    let mut failures = Vec::new();
    let mut cases = 0;
    for section in &corpus.sections {
        for case in &section.cases {
            if let Err(failure) = check(&case.rule, &case.expect()) {
                failures.push(format!("[{}]\n{failure}", section.name));
            }
            cases += 1;
        }
    }
    assert!(failures.is_empty(), "{} of {cases} cases fail:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn diagnostics_carry_span_text_and_render() {
    let source = "user.city -eq \"a\" -and\n  user.citty -eq \"b\"";
    let Err(diagnostics) = parse(source) else {
        return assert_eq!(outcome(source), "an error");
    };
    let [d] = diagnostics.as_slice() else {
        return assert_eq!(diagnostics.len(), 1);
    };
    assert_eq!((d.line, d.column, d.text.as_str()), (2, 3, "user.citty"));
    assert_eq!(source.get(d.span.start..d.span.end), Some("user.citty"));
    assert_eq!(
        d.render(source),
        "error: unknown property `user.citty`\n --> 2:3\n  |\n2 |   user.citty -eq \"b\"\n  |   ^^^^^^^^^^\n  \
         = hint: did you mean `user.city`?"
    );
}
