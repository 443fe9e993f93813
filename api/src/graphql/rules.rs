//! Dynamic membership rules in GraphQL: try a rule against the directory before a policy is
//! saved — its errors, or how many users it selects and the first of them.

use async_graphql::{Context, Object, SimpleObject};
use em_engine::rule;

use super::directory::UserNode;
use super::error::OrGraphql;
use super::{actor, services};

/// One problem in a rule.
#[derive(SimpleObject)]
pub struct MembershipRuleError {
    /// What is wrong, lowercase, user input in backticks.
    message: String,
    /// 1-based line and column of the offending text.
    line: usize,
    column: usize,
    /// The offending text.
    text: String,
    /// How to fix it, when there is a suggestion.
    hint: Option<String>,
    /// The rule's line with the offending text underlined.
    rendered: String,
}

/// The outcome of trying a rule.
pub struct MembershipRulePreview {
    normalized: Option<String>,
    errors: Vec<MembershipRuleError>,
    match_count: usize,
    matches: Vec<em_engine::directory::User>,
}

#[Object]
impl MembershipRulePreview {
    /// Whether the rule is valid.
    async fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
    /// The rule in canonical form, when valid.
    async fn normalized(&self) -> Option<&str> {
        self.normalized.as_deref()
    }
    /// Every problem found, when invalid.
    async fn errors(&self) -> &[MembershipRuleError] {
        &self.errors
    }
    /// How many users the rule selects now.
    async fn match_count(&self) -> usize {
        self.match_count
    }
    /// The first users it selects, by object id.
    async fn matches(&self) -> Vec<UserNode> {
        self.matches.iter().cloned().map(UserNode).collect()
    }
}

#[derive(Default)]
pub struct RuleQuery;

#[Object]
impl RuleQuery {
    /// Tries a dynamic membership rule (`user.department -eq "Sales"`) against the directory:
    /// its errors, or the number of users it selects and the first `first` of them.
    async fn membership_rule_preview(
        &self,
        ctx: &Context<'_>,
        rule: String,
        #[graphql(default = 10, validator(minimum = 0, maximum = 100))] first: usize,
    ) -> async_graphql::Result<MembershipRulePreview> {
        let parsed = match rule::parse(&rule) {
            Ok(parsed) => parsed,
            Err(diagnostics) => {
                let errors = diagnostics
                    .iter()
                    .map(|d| MembershipRuleError {
                        message: d.message(),
                        line: d.line,
                        column: d.column,
                        text: d.text.clone(),
                        hint: d.hint.clone(),
                        rendered: d.render(&rule),
                    })
                    .collect();
                return Ok(MembershipRulePreview {
                    normalized: None,
                    errors,
                    match_count: 0,
                    matches: Vec::new(),
                });
            }
        };
        let (match_count, matches) =
            services(ctx).membership_rule_matches(&actor(ctx), &parsed, first).await.gql()?;
        Ok(MembershipRulePreview {
            normalized: Some(parsed.normalized()),
            errors: Vec::new(),
            match_count,
            matches,
        })
    }
}
