//! Every measurement at a tiny scale (lifecycles of directory users and of outsiders, with a custom
//! extension called at each delivery, approver latency, reviews, custom extension calls across a
//! server killed with SIGKILL), on a real SurrealKV folder: the tool works end to end, every
//! completed lifecycle delivered its group membership, every notification arrived on the right
//! socket, every call arrived once, and the query counter sees the store's queries.

use std::time::Duration;

use em_simulator::harness::{ServerOptions, Storage};
use em_simulator::process::Program;
use em_simulator::{callouts, latency, lifecycles, profile};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn server() -> ServerOptions {
    ServerOptions {
        storage: Storage::SurrealKv { parent: None, sync: "every".into() },
        threads: 2,
        virtual_clock: false,
        loopback_extensions: false,
        replicas: 1,
    }
}

/// Two clients for a second over 300 requestors and one package.
fn tiny_lifecycles() -> lifecycles::Options {
    lifecycles::Options {
        server: server(),
        clients: 2,
        duration: Duration::from_secs(1),
        users: 300,
        packages: 1,
        seed: 7,
        profile: 0,
        delegated_catalogs: 0,
        roles_per_catalog: 0,
        external: 0,
        extension_at_granted: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycles_complete_deliver_and_are_profiled() {
    let _ = tracing_subscriber::registry().with(profile::layer()).try_init();
    let report = lifecycles::run(lifecycles::Options {
        packages: 2,
        profile: 2,
        delegated_catalogs: 3,
        roles_per_catalog: 4,
        ..tiny_lifecycles()
    })
    .await
    .unwrap();
    println!("{report}");
    assert!(report.completed > 0, "no lifecycle completed");
    assert!(report.failures.is_empty(), "failures: {:?}", report.failures);
    assert_eq!(report.group_members, report.completed as u64, "one group membership per lifecycle");
    assert_eq!(report.per_step.len(), 3);
    assert_eq!(report.profile.len(), 3);
    assert!(
        report.profile.iter().all(|p| p.queries > 0),
        "the query counter saw no queries: {:?}",
        report.profile
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_lifecycles_each_invite_one_guest() {
    let report = lifecycles::run(lifecycles::Options { external: 5, ..tiny_lifecycles() }).await.unwrap();
    println!("{report}");
    assert!(report.completed > 0, "no lifecycle completed");
    assert!(report.failures.is_empty(), "failures: {:?}", report.failures);
    assert_eq!(report.group_members, report.completed as u64, "one group membership per lifecycle");
    assert_eq!(report.guests, report.completed as u64, "one guest per lifecycle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_lifecycle_calls_the_extension_at_granted_once() {
    let report = lifecycles::run(lifecycles::Options { extension_at_granted: true, ..tiny_lifecycles() })
        .await
        .unwrap();
    println!("{report}");
    assert!(report.completed > 0, "no lifecycle completed");
    assert!(report.failures.is_empty(), "failures: {:?}", report.failures);
    let calls = report.calls.expect("the receiver's tally");
    assert_eq!(calls.distinct, report.completed, "one call per delivered lifecycle");
    assert_eq!(
        (calls.calls, calls.repeats, calls.forged, calls.malformed),
        (report.completed as u64, 0, 0, 0)
    );
    assert_eq!(calls.latency.map(|l| l.count), Some(report.completed));
}

/// The server is this package's binary running em-api's `serve` (Cargo builds no binary of a
/// dependency), a separate process killed with SIGKILL halfway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_arrives_once_across_a_server_killed_with_sigkill() {
    let report = callouts::run(callouts::Options {
        program: Program::subcommand(env!("CARGO_BIN_EXE_em-simulator"), "em-api"),
        count: 60,
        clients: 4,
        data_parent: None,
        wait: Duration::from_secs(60),
    })
    .await
    .unwrap();
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert_eq!(report.tally.distinct, 60);
    assert!(report.before_kill >= 30, "killed after half were acknowledged");
    assert!(report.unanswered <= 4, "at most one assignment per client in flight at the kill");
    assert_eq!(report.before_kill + report.committed_unanswered + report.after_restart, 60);
    assert_eq!(report.tally.refused, 2 * 60, "each call refused twice before it was accepted");
}

fn crashes(restarted: em_simulator::crashes::Restarted) -> em_simulator::crashes::Options {
    em_simulator::crashes::Options {
        program: Program::subcommand(env!("CARGO_BIN_EXE_em-simulator"), "em-api"),
        restarted,
        cycles: 2,
        load: Duration::from_secs(2),
        clients: 4,
        users: 1500,
        movers: 10,
        seed: 7,
        data_parent: None,
    }
}

/// `em-api` killed with SIGKILL twice under the mixed load: nothing acknowledged is lost or
/// doubled, due day passes end, the subscriber resumes without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_servers_killed_with_sigkill() {
    let report = em_simulator::crashes::run(crashes(em_simulator::crashes::Restarted::Api)).await.unwrap();
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(
        report.requests.acknowledged > 0
            && report.approvals.acknowledged > 0
            && report.moves.acknowledged > 0
    );
    assert!(report.passes_due > 0 && report.resumed == 2 && report.events > 0, "{report}");
}

/// The SurrealDB server killed twice under a running `em-api`: the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_database_servers_killed_with_sigkill() {
    let test = std::env::current_exe().unwrap();
    let surreal = test.parent().and_then(std::path::Path::parent).unwrap().join("surreal");
    assert!(surreal.exists(), "{} is missing: `cargo test --workspace` builds it", surreal.display());
    let report = em_simulator::crashes::run(crashes(em_simulator::crashes::Restarted::Database(surreal)))
        .await
        .unwrap();
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(report.requests.acknowledged > 0 && report.passes_due > 0 && report.resumed == 2, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_starts_is_decided_and_its_denials_are_applied() {
    let report = em_simulator::reviews::run(em_simulator::reviews::Options {
        server: server(),
        assignees: 60,
        reviewers: 4,
        clients: 4,
        deny: 0.5,
        decision_rate: 0.0,
        seed: 7,
    })
    .await
    .unwrap();
    println!("{report}");
    assert_eq!(report.items, 60);
    assert_eq!(report.decisions, 60);
    assert!(report.denied > 0 && report.denied < 60);
    assert_eq!(report.members_after, 60 - report.denied as u64, "the approved stay, the denied go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_two_approver_hears_of_the_stage_one_approval() {
    let report = latency::run(latency::Options {
        separate: None,
        server: server(),
        approvers: 20,
        samples: 10,
        seed: 7,
        pause: Duration::ZERO,
    })
    .await
    .unwrap();
    println!("{report}");
    assert_eq!((report.missed, report.misrouted, report.unexpected), (0, 0, 0));
    assert_eq!(report.after_response.map(|s| s.count), Some(10));
    assert_eq!(report.received, 10, "each approver hears only of its own stage");
}

/// Every scenario file replayed at a tiny scale on SurrealKV, its invariants checked at the end
/// of every virtual day: a scenario that stops working fails here. The same seed gives the same
/// report's counts; each day is logged, and the plots are drawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_replays_at_a_tiny_scale_with_its_invariants_held() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let scenario = em_simulator::scenario::Scenario::load(&file).unwrap();
        let options = em_simulator::run::RunOptions {
            scale: scenario.test_scale,
            seed: None,
            server: server(),
            check_daily: true,
            progress: false,
            clients: 4,
            target: None,
            days: None,
        };
        let report = em_simulator::run::run(&scenario, &options).await.unwrap();
        let markdown = em_simulator::run::to_markdown(&report);
        assert!(report.passed(), "{}:\n{markdown}", file.display());
        assert!(report.invariants.iter().all(|i| i.checks > 1), "{markdown}");
        let json = em_simulator::run::to_json(&report);
        assert_eq!(json["passed"], true);
        for (phase, logged) in report.phases.iter().zip(json["phases"].as_array().unwrap()) {
            assert_eq!(phase.days_log.len(), phase.days as usize, "{markdown}");
            assert_eq!(phase.days_log.iter().map(|d| d.changes).sum::<usize>(), phase.changes);
            assert_eq!(logged["days"].as_array().unwrap().len(), phase.days_log.len());
        }
        let out = tempfile::tempdir().unwrap();
        let plots = em_simulator::plots::write_plots(&report, out.path()).unwrap();
        for name in ["throughput.svg", "latency.svg"] {
            let path = out.path().join(name);
            assert!(plots.contains(&path), "{name} not written: {plots:?}");
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.starts_with("<svg") && svg.contains("<polyline"), "{}: {name}", file.display());
        }
        // Checking the invariants changes nothing of what the people do.
        let again = em_simulator::run::run(
            &scenario,
            &em_simulator::run::RunOptions { check_daily: false, ..options },
        )
        .await
        .unwrap();
        assert!(again.passed(), "{}", em_simulator::run::to_markdown(&again));
        let counts = |r: &em_simulator::run::Report| {
            let t = &r.tally;
            let changes: usize = r.phases.iter().map(|p| p.changes).sum();
            let partners = r.partners.as_ref().map(|p| {
                (
                    p.signups,
                    p.approved,
                    p.denied,
                    p.silent,
                    p.extensions,
                    p.review_items,
                    p.review_denied,
                    p.outsiders.made,
                )
            });
            (
                changes,
                t.requests,
                t.delivered,
                t.denied,
                t.refused.clone(),
                t.intrusions.made,
                partners,
                r.guests_with_access,
                (t.on_behalf, t.on_behalf_delivered.len(), t.strangers.made),
            )
        };
        assert_eq!(counts(&report), counts(&again), "the same seed makes the same changes and decisions");
        let (changes, requests, _, _, _, intrusions, partners, _, _) = counts(&report);
        assert!(
            changes + requests + intrusions + partners.map_or(0, |p| p.0) > 0,
            "the scenario did something: {markdown}"
        );
        if let Some((signups, approved, denied, silent, extensions, items, review_denied, outsiders)) =
            partners
        {
            assert!(
                signups > 0
                    && approved > 0
                    && denied > 0
                    && silent > 0
                    && extensions > 0
                    && items > 0
                    && review_denied > 0
                    && outsiders > 0,
                "every partner path ran: {markdown}"
            );
        }
    }
}

/// `run --target`: the bonus scenario (a receiver on this machine) and seed scenario 2
/// (partners signing in with the simulated partners' keys, sponsors and reviewers on their
/// sockets), each against an `em-api serve --virtual-clock` of its own, started as another
/// program on a database that holds only an operator who is Global Administrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_replay_against_a_server_started_elsewhere() {
    const SECRET: &str = "a-secret-of-the-server-elsewhere-for-tests";
    let program = Program::subcommand(env!("CARGO_BIN_EXE_em-simulator"), "em-api");
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for (file, scale) in [("on-behalf-tap.toml", 0.05), ("erp-project.toml", 0.02)] {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("surrealkv://{}", dir.path().join("db").display());
        let operator = dir.path().join("operator.json");
        let directory = serde_json::json!({
            "users": [{"id": "ops-admin", "displayName": "Operator", "userPrincipalName": "ops@contoso.com"}],
            "directoryRoles": [{"id": "r-ga", "displayName": "Global Administrator", "isPrivileged": true,
                                "roleTemplateId": "62e90394-69f5-4237-9190-012177145e10", "members": [{"id": "ops-admin"}]}]
        });
        std::fs::write(&operator, directory.to_string()).unwrap();
        program.import(&db, &operator).await.unwrap();
        let (issuer, jwks) = em_simulator::harness::Harness::partner_trust_json();
        let keys = dir.path().join("partners.jwks.json");
        std::fs::write(&keys, jwks.to_string()).unwrap();
        let keys = keys.display().to_string();
        let args = ["--virtual-clock", "--auth-partner", &issuer, &keys, "--allow-http-loopback-extensions"];
        let server = program
            .serve(&db, &args, &[("EM_AUTH_SECRET", SECRET)], &dir.path().join("server.log"))
            .await
            .unwrap();
        let minter = em_api::auth::Authenticator::new(em_api::auth::AuthSettings {
            hs256_secret: Some(SECRET.into()),
            jwks: None,
            issuer: "em-api".into(),
            audience: "em-api".into(),
            partners: Vec::new(),
        })
        .unwrap();
        let token = minter.mint("ops-admin", chrono::Utc::now().timestamp(), 3600).unwrap();
        let scenario = em_simulator::scenario::Scenario::load(&scenarios.join(file)).unwrap();
        let options = em_simulator::run::RunOptions {
            scale,
            seed: None,
            server: ServerOptions::default(),
            check_daily: false,
            progress: false,
            clients: 4,
            days: None,
            target: Some(em_simulator::run::Target {
                url: server.base.clone(),
                token,
                secret: Some(SECRET.into()),
            }),
        };
        let report = em_simulator::run::run(&scenario, &options).await.unwrap();
        let markdown = em_simulator::run::to_markdown(&report);
        assert!(report.passed(), "{file}:\n{markdown}");
        assert!(markdown.contains(&format!("against {}", server.base)), "{markdown}");
        assert_eq!(report.tally.unfinished, Vec::<String>::new());
        if let Some(partners) = &report.partners {
            assert!(partners.approved > 0 && partners.review_items > 0, "{markdown}");
        } else {
            assert!(report.tally.on_behalf_delivered.len() > 10, "{markdown}");
        }
        server.kill().unwrap();
    }
}
