//! Fuzz target for the rule language: no input makes the parser, the index, the compiled
//! evaluator or the reference evaluator panic, and the two evaluators agree on every rule that
//! parses.
//!
//! The input is split at its first zero byte: before it, the rule text; after it, bytes that
//! pick a small directory from a vocabulary of values, case variants and Unicode that lowercasing
//! and case-insensitive regular expressions treat differently.

#![no_main]

use chrono::{DateTime, Utc};
use em_engine::directory::{AssignedPlan, ObjectRef, User};
use em_engine::rule::{CompiledRule, DirectoryIndex, DirectoryRelations, EvalContext, evaluate, parse};
use libfuzzer_sys::fuzz_target;

const WORDS: &[&str] = &[
    "",
    "Sales",
    "SALES",
    "sales ops",
    "École",
    "İstanbul",
    "straße",
    "STRASSE",
    "\u{212A}",
    "k",
    "smtp:a@contoso.com",
    "SMTP:B@Contoso.com",
    "Enabled",
    "2020-06-10",
    "2020-06-10T00:00:00Z",
    "g1",
    "G1",
    "u0",
    "U1",
    "Member",
    "Guest",
];

/// Reads the next choice from the bytes; zero once they run out.
struct Choices<'a>(std::slice::Iter<'a, u8>);

impl Choices<'_> {
    fn below(&mut self, n: usize) -> usize {
        usize::from(self.0.next().copied().unwrap_or(0)) % n.max(1)
    }

    fn word(&mut self) -> Option<String> {
        let at = self.below(WORDS.len() + 1);
        WORDS.get(at).map(|word| (*word).to_owned())
    }

    fn words(&mut self) -> Vec<String> {
        (0..self.below(3)).filter_map(|_| self.word()).collect()
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (text, rest) = data.split_at(split);
    let Ok(rule) = parse(&String::from_utf8_lossy(text)) else { return };
    let mut choices = Choices(rest.iter());
    let users: Vec<User> = (0..choices.below(8))
        .map(|n| User {
            id: format!("u{n}"),
            department: choices.word(),
            country: choices.word(),
            mail: choices.word(),
            employee_hire_date: choices.word(),
            proxy_addresses: choices.words(),
            other_mails: choices.words(),
            account_enabled: [None, Some(true), Some(false)].get(choices.below(3)).copied().flatten(),
            manager: choices.word().map(|id| ObjectRef { id }),
            assigned_plans: (0..choices.below(3))
                .map(|_| AssignedPlan {
                    assigned_date_time: None,
                    capability_status: choices.word(),
                    service: choices.word(),
                    service_plan_id: choices.word(),
                })
                .collect(),
            extensions: choices
                .word()
                .map(|value| ("extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber".to_owned(), value))
                .into_iter()
                .collect(),
            ..User::default()
        })
        .collect();
    let memberships: Vec<(String, String)> =
        users.iter().filter_map(|user| choices.word().map(|group| (user.id.clone(), group))).collect();
    let mut relations = DirectoryRelations::from_users(&users);
    for (user, group) in &memberships {
        relations.add_member(user, group);
    }
    let now = DateTime::<Utc>::from_timestamp(1_750_000_000, 0).unwrap_or_default();
    let ctx = EvalContext::new(now, &relations);
    let index = DirectoryIndex::build(&users, memberships.iter().map(|(u, g)| (u.as_str(), g.as_str())));
    let compiled = CompiledRule::compile(&rule, &index);
    let bits = compiled.evaluate(&index, now);
    for user in &users {
        let expected = evaluate(&rule, user, &ctx);
        let Some(position) = index.position(&user.id) else { panic!("{} is not indexed", user.id) };
        assert_eq!(bits.contains(position.index()), expected, "`{rule}` on {user:?}");
        assert_eq!(compiled.matches(&index, position, now), expected, "`{rule}` on {user:?}");
    }
});
