//! `em-api rule`: tools for people who write dynamic membership rules.
//!
//! `rule check '<rule>'` prints the normalized rule, or every error with the offending text
//! underlined, and exits with 2. `rule eval --directory FILE '<rule>'` prints the ids of the
//! users of a directory file (Graph's JSON shape) that the rule selects, sorted, one per line.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use em_engine::directory::GroupRelation;
use em_engine::import;
use em_engine::rule::{self, CompiledRule, Diagnostic, DirectoryIndex};

#[derive(Subcommand, Debug)]
pub enum RuleCommand {
    /// Check a rule: print it normalized, or its errors (exit code 2).
    Check {
        /// The rule, e.g. `user.department -eq "Sales"` (a rule may start with `-not`).
        #[arg(allow_hyphen_values = true)]
        rule: String,
    },
    /// Print the ids of the users of a directory file that a rule selects, sorted.
    Eval(EvalArgs),
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A directory file in Microsoft Graph's JSON shape.
    #[arg(long)]
    pub directory: PathBuf,
    /// The time `system.now` stands for (RFC 3339); the current time when omitted.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    /// The rule (it may start with `-not`).
    #[arg(allow_hyphen_values = true)]
    pub rule: String,
}

/// What a rule command prints and how it exits.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

impl Outcome {
    fn ok(stdout: String) -> Self {
        Self { stdout, stderr: String::new(), code: 0 }
    }

    fn rejected(stderr: String) -> Self {
        Self { stdout: String::new(), stderr, code: 2 }
    }
}

/// Runs a rule command.
pub fn run(command: &RuleCommand) -> Outcome {
    match command {
        RuleCommand::Check { rule } => check(rule),
        RuleCommand::Eval(args) => match std::fs::read_to_string(&args.directory) {
            Ok(text) => eval(&text, &args.rule, args.now.unwrap_or_else(Utc::now)),
            Err(e) => Outcome::rejected(format!("error: cannot read `{}`: {e}\n", args.directory.display())),
        },
    }
}

/// `rule check`.
#[must_use]
pub fn check(source: &str) -> Outcome {
    match rule::parse(source) {
        Ok(rule) => Outcome::ok(format!("{}\n", rule.normalized())),
        Err(diagnostics) => Outcome::rejected(render(source, &diagnostics)),
    }
}

/// `rule eval` over the text of a directory file.
#[must_use]
pub fn eval(directory: &str, source: &str, now: DateTime<Utc>) -> Outcome {
    let rule = match rule::parse(source) {
        Ok(rule) => rule,
        Err(diagnostics) => return Outcome::rejected(render(source, &diagnostics)),
    };
    let parsed = match import::parse_directory(directory, &HashMap::new()) {
        Ok(parsed) => parsed,
        Err(e) => {
            let mut text = format!("error[{}]: {}\n", e.code, e.message);
            for problem in &e.details {
                text.push_str(&format!("  {problem}\n"));
            }
            return Outcome::rejected(text);
        }
    };
    let memberships = parsed
        .memberships
        .iter()
        .filter(|m| m.relation == GroupRelation::Member)
        .flat_map(|m| m.principal_ids.iter().map(move |p| (p.as_str(), m.group_id.as_str())));
    let index = DirectoryIndex::build(&parsed.users, memberships);
    let compiled = CompiledRule::compile(&rule, &index);
    let mut ids = compiled.matching_ids(&index, now);
    ids.sort_unstable();
    Outcome::ok(ids.iter().map(|id| format!("{id}\n")).collect())
}

fn render(source: &str, diagnostics: &[Diagnostic]) -> String {
    let mut text = String::new();
    for d in diagnostics {
        text.push_str(&d.render(source));
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    text.push_str(&format!(
        "{} error{} in the rule\n",
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIRECTORY: &str = r#"{
      "users": [
        {"id": "u1", "displayName": "Gerhart", "department": "Sales", "country": "Germany"},
        {"id": "u2", "displayName": "Ana", "department": "sales", "country": "Brazil"},
        {"id": "u3", "displayName": "Kai", "department": "Design", "country": "Germany"}
      ],
      "groups": [{"id": "g1", "displayName": "EMEA", "securityEnabled": true, "members": [{"id": "u1"}, {"id": "u3"}]}]
    }"#;

    #[test]
    fn check_prints_the_normalized_rule() {
        let out = check("user.department -eq \"Sales\" and user.country -in [\"Germany\",\"France\"]");
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "user.department -eq \"Sales\" -and user.country -in [\"Germany\", \"France\"]\n"
        );
    }

    #[test]
    fn check_reports_every_error_and_exits_2() {
        let out = check("user.departmnt -eq \"Sales\" -and user.city -le \"x\"");
        assert_eq!(out.code, 2);
        assert!(out.stderr.contains("department"), "hint missing: {}", out.stderr);
        assert!(out.stderr.contains("2 errors"), "{}", out.stderr);
    }

    #[test]
    fn eval_prints_matching_ids_sorted() {
        let out = eval(DIRECTORY, "user.department -eq \"SALES\"", DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(out.stdout, "u1\nu2\n");
        let out =
            eval(DIRECTORY, "user.memberOf -any (group.objectId -in ['g1'])", DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(out.stdout, "u1\nu3\n");
    }

    #[test]
    fn eval_rejects_a_bad_directory_with_paths() {
        let out = eval(
            r#"{"users": [{"id": "u1", "manager": {"id": "nobody"}}]}"#,
            "user.objectId -ne null",
            DateTime::<Utc>::UNIX_EPOCH,
        );
        assert_eq!(out.code, 2);
        assert!(out.stderr.contains("users[0].manager.id"), "{}", out.stderr);
    }
}
