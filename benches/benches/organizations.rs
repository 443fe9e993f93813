//! Resolving a signed-in outsider's connected organization among 2,500 organizations (Entra's
//! limit) with 10 domains each: by home tenant, by e-mail domain, and a miss.
//! `cargo bench -p em-benches --bench organizations`; figures in README.md.

#![expect(clippy::expect_used, reason = "a bench whose fixture can't be built has nothing to time")]

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use em_engine::connected_organization::{
    ConnectedOrganization, IdentitySource, NewConnectedOrganization, OrganizationIndex,
};

const ORGANIZATIONS: usize = 2_500;
const DOMAINS: usize = 10;

fn tenant(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

fn organizations() -> Vec<ConnectedOrganization> {
    (0..ORGANIZATIONS)
        .map(|i| {
            let mut sources =
                vec![IdentitySource::AzureActiveDirectoryTenant { tenant_id: tenant(i), display_name: None }];
            sources.extend((0..DOMAINS - 1).map(|d| IdentitySource::DomainIdentitySource {
                domain_name: format!("d{d}.partner{i}.example"),
                display_name: None,
            }));
            let input = NewConnectedOrganization {
                display_name: format!("Partner {i}"),
                identity_sources: sources,
                ..NewConnectedOrganization::default()
            };
            ConnectedOrganization::create(format!("o{i}").into(), input, DateTime::<Utc>::UNIX_EPOCH)
                .expect("a valid organization")
        })
        .collect()
}

fn resolve(c: &mut Criterion) {
    let organizations = organizations();
    let index = OrganizationIndex::new(&organizations);
    assert_eq!(index.len(), ORGANIZATIONS);
    let tenants: Vec<String> = (0..ORGANIZATIONS).step_by(7).map(tenant).collect();
    let domains: Vec<String> =
        (0..ORGANIZATIONS).step_by(7).map(|i| format!("d5.partner{i}.example")).collect();
    assert!(tenants.iter().all(|t| index.resolve(Some(t), None).is_some()));
    assert!(domains.iter().all(|d| index.resolve(None, Some(d)).is_some()));

    let mut group = c.benchmark_group("organizations");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    let mut i = 0;
    group.bench_function("by_tenant", |b| {
        b.iter(|| {
            i = (i + 1) % tenants.len();
            black_box(index.resolve(Some(&tenants[i]), None).map(|e| e.state))
        });
    });
    group.bench_function("by_domain", |b| {
        b.iter(|| {
            i = (i + 1) % domains.len();
            black_box(
                index
                    .resolve(Some("ffffffff-0000-4000-8000-ffffffffffff"), Some(&domains[i]))
                    .map(|e| e.state),
            )
        });
    });
    group.bench_function("unknown", |b| {
        b.iter(|| {
            black_box(index.resolve(Some("ffffffff-0000-4000-8000-ffffffffffff"), Some("nowhere.example")))
        });
    });
    group.bench_function("build_25k_claims", |b| {
        b.iter(|| black_box(OrganizationIndex::new(&organizations).len()))
    });
    group.finish();
}

criterion_group!(benches, resolve);
criterion_main!(benches);
