//! The Microsoft Entra dynamic membership rule language, for user rules.
//!
//! A rule such as `user.department -eq "Sales" -and -not (user.jobTitle -startsWith "SDE")`
//! selects the users an auto-assignment policy gives access to. It goes through a pipeline of
//! stages, one module each:
//!
//! ```text
//! text ─lexer─▶ tokens ─parser─▶ parse tree (syntax) ─check against schema─▶ ast::Rule ─▶ evaluate
//! ```
//!
//! [`parse`] runs the first three and returns a checked [`Rule`] or every problem found, each a
//! [`Diagnostic`] with its span, line, column, offending text and hint. [`evaluate`] is the
//! reference evaluator: slow and obviously correct. [`CompiledRule`] is the fast one: a rule
//! compiled against a [`DirectoryIndex`] (the users, column by column) decides every user at
//! once, as a [`Bitset`]; property tests check that it agrees with the reference.
//! [`Rule::normalized`] prints the canonical text.
//!
//! The whole documented syntax is supported: every comparison operator, `-not`/`-and`/`-or` with
//! Entra's precedence, `-any`/`-all` over `assignedPlans` and string collections, `memberOf`,
//! extension attributes and custom extension properties, `null`, booleans, dates with
//! `system.now -plus <ISO duration>`, and `Direct Reports for "<id>"`. Keywords and property names
//! ignore case; operators may drop their hyphen. The restrictions Entra documents are errors:
//! `memberOf` and `Direct Reports for` can't be combined, `-le`/`-ge` need `employeeHireDate`,
//! `-not` is not a comparison operator (`user.mail -not null`), and a rule is at most
//! [`MAX_RULE_CHARS`] characters. The semantics of null, collections and negative operators are
//! documented in [`eval_reference`].
//!
//! Architecture invariant: every stage is pure and total. No stage panics or reads a clock, on
//! any input; `now` and the directory's relationships come in through [`EvalContext`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::directory::User;

pub mod ast;
pub mod bitset;
pub mod check;
pub mod compile;
pub mod error;
pub mod eval_reference;
pub mod index;
mod lexer;
mod parser;
pub mod schema;
mod syntax;

#[cfg(test)]
mod agreement;
#[cfg(test)]
mod corpus;
#[cfg(test)]
mod roundtrip;

pub use ast::{Rule, RuleBody};
pub use bitset::Bitset;
pub use compile::CompiledRule;
pub use error::{Diagnostic, RuleError, Span};
pub use eval_reference::evaluate;
pub use index::{DirectoryIndex, Position};

/// The longest rule Entra accepts, in characters.
pub const MAX_RULE_CHARS: usize = 3_072;

/// How deep parentheses, `-not` and quantifiers may nest. Entra documents no limit; this one is
/// far beyond any real rule and keeps every recursive stage's stack small.
pub const MAX_DEPTH: usize = 64;

/// Parses and checks a user rule, reporting every problem at once.
pub fn parse(source: &str) -> Result<Rule, Vec<Diagnostic>> {
    let mut report = error::Report::new(source);
    let chars = source.chars().count();
    if chars > MAX_RULE_CHARS {
        let past_limit = source.char_indices().nth(MAX_RULE_CHARS).map_or(source.len(), |(at, _)| at);
        report
            .error(Span::new(past_limit, source.len()), RuleError::TooLong { chars, limit: MAX_RULE_CHARS })
            .hint("shorten it: replace `-or` chains with `-in`, and `-ne` chains with `-notIn`");
    }
    let tokens = lexer::lex(source, &mut report);
    let tree = parser::parse(source, &tokens, &mut report);
    let rule = check::check(&tree, &mut report);
    match rule {
        Some(rule) if !report.has_errors() => Ok(rule),
        _ => Err(report.finish()),
    }
}

/// What evaluation needs besides the user: the time, and the relationships rules read that are
/// not properties of the user.
#[derive(Clone, Copy)]
pub struct EvalContext<'a> {
    /// The value of `system.now`.
    pub now: DateTime<Utc>,
    pub relations: &'a dyn Relations,
}

impl<'a> EvalContext<'a> {
    #[must_use]
    pub fn new(now: DateTime<Utc>, relations: &'a dyn Relations) -> Self {
        Self { now, relations }
    }
}

/// The directory relationships `memberOf` and `Direct Reports for` rules read.
pub trait Relations {
    /// Whether the user is a direct member of the group.
    fn is_member_of(&self, user_id: &str, group_id: &str) -> bool;
    /// The id of the user's manager, if the user has one.
    fn manager_of(&self, user_id: &str) -> Option<&str>;
}

/// Relationships held in maps: each user's direct groups, and each user's manager.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryRelations {
    /// User id to the ids of the groups the user is a direct member of.
    pub member_of: BTreeMap<String, BTreeSet<String>>,
    /// User id to manager id.
    pub managers: BTreeMap<String, String>,
}

impl DirectoryRelations {
    /// The managers the users name, and no memberships yet.
    pub fn from_users<'u>(users: impl IntoIterator<Item = &'u User>) -> Self {
        let managers = users
            .into_iter()
            .filter_map(|user| Some((user.id.to_string(), user.manager_id()?.to_owned())))
            .collect();
        Self { member_of: BTreeMap::new(), managers }
    }

    /// Records that the user is a direct member of the group.
    pub fn add_member(&mut self, user_id: &str, group_id: &str) {
        self.member_of.entry(user_id.to_owned()).or_default().insert(group_id.to_owned());
    }

    /// Every direct membership as `(user id, group id)`, as `DirectoryIndex::build` takes them.
    pub fn memberships(&self) -> impl Iterator<Item = (&str, &str)> {
        self.member_of
            .iter()
            .flat_map(|(user, groups)| groups.iter().map(move |group| (user.as_str(), group.as_str())))
    }
}

impl Relations for DirectoryRelations {
    fn is_member_of(&self, user_id: &str, group_id: &str) -> bool {
        self.member_of
            .get(user_id)
            .is_some_and(|groups| groups.iter().any(|g| g.eq_ignore_ascii_case(group_id)))
    }

    fn manager_of(&self, user_id: &str) -> Option<&str> {
        self.managers.get(user_id).map(String::as_str)
    }
}
