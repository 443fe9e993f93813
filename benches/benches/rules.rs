//! Rule evaluation: the compiled evaluator over the directory index, the reference evaluator,
//! and the same condition through Cedar, one authorization per user. Also index build time and
//! re-deciding one user after it changed. `cargo bench -p em-benches`; figures in README.md.

#![expect(clippy::expect_used, reason = "a bench whose fixture can't be built has nothing to time")]

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression,
};
use chrono::{DateTime, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use em_benches::{directory, emea_cedar_policy, emea_rule};
use em_engine::directory::User;
use em_engine::rule::{CompiledRule, DirectoryIndex, DirectoryRelations, EvalContext, Rule, evaluate, parse};

const MILLION: usize = 1_000_000;
const CEDAR_USERS: usize = 100_000;
const SEED: u64 = 2024;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z").map(|at| at.with_timezone(&Utc)).unwrap_or_default()
}

fn no_memberships() -> Vec<(&'static str, &'static str)> {
    Vec::new()
}

fn emea() -> Rule {
    parse(&emea_rule()).expect("the EMEA rule parses")
}

/// The generated directory is deterministic and has the documented mix (CI compiles the benches
/// but does not run them, so this check runs with them rather than as a unit test: a unit test
/// of this package would make `cargo test` build Cedar and Criterion).
fn check_directory(users: &[em_engine::directory::User]) {
    let sample = &users[..20_000.min(users.len())];
    assert_eq!(sample, directory(sample.len(), SEED).as_slice(), "the directory is not deterministic");
    let share = |test: &dyn Fn(&em_engine::directory::User) -> bool| {
        sample.iter().filter(|u| test(u)).count() * 100 / sample.len().max(1)
    };
    let sales = share(&|u| u.department.as_deref() == Some("Sales"));
    let emea = share(&|u| u.country.as_deref().is_some_and(|c| em_benches::EMEA_COUNTRIES.contains(&c)));
    assert!((11..=13).contains(&sales), "{sales}% in Sales");
    assert!((33..=37).contains(&emea), "{emea}% in EMEA");
}

fn configured<'c>(
    c: &'c mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group
}

fn rules(c: &mut Criterion) {
    let users = directory(MILLION, SEED);
    check_directory(&users);
    let index = DirectoryIndex::build(&users, no_memberships());
    let rule = emea();
    let compiled = CompiledRule::compile(&rule, &index);
    let selected = compiled.evaluate(&index, now()).count();
    let relations = DirectoryRelations::default();
    let ctx = EvalContext::new(now(), &relations);
    let reference = users.iter().filter(|user| evaluate(&rule, user, &ctx)).count();
    assert_eq!(selected, reference, "compiled and reference disagree");
    println!("EMEA rule selects {selected} of {MILLION} users");

    let mut group = configured(c, "compiled");
    group.throughput(Throughput::Elements(MILLION as u64));
    group.bench_function("emea_1m", |b| b.iter(|| black_box(compiled.evaluate(black_box(&index), now()))));
    let sample: Vec<User> = users.iter().take(CEDAR_USERS).cloned().collect();
    let small = DirectoryIndex::build(&sample, no_memberships());
    let small_compiled = CompiledRule::compile(&rule, &small);
    group.throughput(Throughput::Elements(CEDAR_USERS as u64));
    group.bench_function("emea_100k", |b| {
        b.iter(|| black_box(small_compiled.evaluate(black_box(&small), now())))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("compile_emea", |b| {
        b.iter(|| black_box(CompiledRule::compile(black_box(&rule), &index)))
    });
    group.finish();

    let mut group = configured(c, "reference");
    group.throughput(Throughput::Elements(MILLION as u64));
    group.bench_function("emea_1m", |b| {
        b.iter(|| black_box(&users).iter().filter(|user| evaluate(&rule, user, &ctx)).count())
    });
    group.finish();

    cedar(c, &sample, small_compiled.evaluate(&small, now()).count());

    let mut group = configured(c, "index");
    group.throughput(Throughput::Elements(MILLION as u64));
    group.bench_function("build_1m", |b| {
        b.iter(|| black_box(DirectoryIndex::build(black_box(&users), no_memberships())))
    });
    group.finish();

    incremental(c, index, &users, &compiled);
}

/// One `is_authorized` per user, each user an entity with `department` and `country`; only the
/// authorizations are timed.
fn cedar(c: &mut Criterion, users: &[User], expected: usize) {
    let policies = PolicySet::from_str(&emea_cedar_policy()).expect("the policy parses");
    let uid = |kind: &str, id: &str| {
        EntityUid::from_type_name_and_id(
            EntityTypeName::from_str(kind).expect("a type name"),
            EntityId::new(id),
        )
    };
    let text = |value: Option<&String>| RestrictedExpression::new_string(value.cloned().unwrap_or_default());
    let entities = users.iter().map(|user| {
        let attributes = HashMap::from([
            ("department".to_owned(), text(user.department.as_ref())),
            ("country".to_owned(), text(user.country.as_ref())),
        ]);
        Entity::new(uid("User", &user.id), attributes, HashSet::new()).expect("a user entity")
    });
    let entities = Entities::from_entities(entities, None).expect("the entities");
    let (action, resource) = (uid("Action", "assign"), uid("AccessPackage", "emea-sales"));
    let requests: Vec<Request> = users
        .iter()
        .map(|user| {
            Request::new(uid("User", &user.id), action.clone(), resource.clone(), Context::empty(), None)
                .expect("a request")
        })
        .collect();
    let authorizer = Authorizer::new();
    let allow = |request: &Request| {
        authorizer.is_authorized(request, &policies, &entities).decision() == Decision::Allow
    };
    assert_eq!(requests.iter().filter(|r| allow(r)).count(), expected, "cedar and the rule disagree");

    let mut group = configured(c, "cedar");
    group.throughput(Throughput::Elements(users.len() as u64));
    group
        .bench_function("emea_100k", |b| b.iter(|| black_box(&requests).iter().filter(|r| allow(r)).count()));
    group.finish();
}

/// Re-deciding one user after a change: write the user into the index, then ask the compiled
/// rule about its position.
fn incremental(c: &mut Criterion, mut index: DirectoryIndex, users: &[User], compiled: &CompiledRule) {
    let mut group = configured(c, "incremental");
    let user = users.get(users.len() / 2).cloned().expect("a user");
    let mut moved = user.clone();
    moved.department = Some("Sales".to_owned());
    moved.country = Some("Germany".to_owned());
    let versions = [user, moved];
    let position = index.position(&versions[0].id).expect("the user is indexed");
    group.bench_function(BenchmarkId::new("matches", "one_user"), |b| {
        b.iter(|| compiled.matches(black_box(&index), position, now()))
    });
    let mut turn = 0;
    group.bench_function(BenchmarkId::new("upsert_and_matches", "one_user"), |b| {
        b.iter(|| {
            turn ^= 1;
            let position = index.upsert(&versions[turn]);
            compiled.matches(&index, position, now())
        })
    });
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
