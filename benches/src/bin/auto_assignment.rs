//! Auto-assignment at directory scale, through the real services on durable SurrealKV.
//!
//! Two measurements, each on a fresh database in a temporary folder (`sync=every`, as
//! `em-api serve` opens it):
//!
//! - `population`: the first population of an auto-assignment policy. A directory of `--users`
//!   generated users (the generator of the rule benches) is loaded, a catalog, a group and a
//!   package holding the group's Member role are created, and `create_assignment_policy` of a
//!   policy whose rule selects about `--in-scope` of the users is timed until it returns (it
//!   evaluates the directory and commits every assignment before returning). The assignments
//!   in the store are then counted against the users the reference evaluator selects.
//! - `user-change`: `--policies` auto-assignment policies on as many packages (each selects one
//!   department in one country), populated first; then `--samples` times one user moves to
//!   another country so that a policy starts to select them. Timed: from the call of
//!   `Services::update_user` to its return (the user and the assignment committed), and to the
//!   arrival of the `assignment.created` event of that user on the live event feed.
//!
//! Loading the directory is setup, timed and reported apart. It goes through the store's own
//! `import_directory` (the rows the `importDirectory` mutation writes), in chunks of about
//! `--chunk` users instead of one transaction. Every user is a member of one team group of
//! `--team-size` users; a team's group and members are in one chunk, since an import replaces
//! the member list of each group it names.
//!
//! `cargo run --release -p em-benches --bin auto_assignment -- population --users 1000000`;
//! see `benches/README.md`. `RUST_LOG=warn` quiets the service's info logs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::{Args, Parser, Subcommand};
use em_api::clock::SystemClock;
use em_api::feed::EventFeed;
use em_api::service::Services;
use em_api::service::catalogs::{ResourceRequestInput, ResourceRequestType};
use em_api::store::requests::AssignmentFilter;
use em_api::store::{PageRequest, Store, StoreConfig};
use em_benches::directory;
use em_engine::Actor;
use em_engine::access_package::{NewAccessPackage, RoleScopeSelection};
use em_engine::catalog::NewCatalog;
use em_engine::directory::{Group, GroupRelation, User};
use em_engine::event::EventKind;
use em_engine::id::{AccessPackageId, CatalogId};
use em_engine::import::{self, DirectoryImport, GroupMembers};
use em_engine::policy::PolicyInput;
use em_engine::resource::OriginSystem;
use em_engine::rule::{DirectoryRelations, EvalContext, evaluate, parse};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(about = "Auto-assignment at directory scale on durable SurrealKV")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Times the first population of one auto-assignment policy.
    Population(PopulationArgs),
    /// Times one user's attribute change to the assignment and its event.
    UserChange(UserChangeArgs),
}

#[derive(Args, Clone)]
struct Setup {
    /// Users in the directory.
    #[arg(long, default_value_t = 1_000_000)]
    users: usize,
    /// Seed of the generated directory and of the choices made on it.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Users per import transaction while loading.
    #[arg(long, default_value_t = 5_000)]
    chunk: usize,
    /// Users per team group (every user is a member of one); 0 for no groups.
    #[arg(long, default_value_t = 1_000)]
    team_size: usize,
    /// The database folder (must not exist yet); a temporary folder, removed at the end, if absent.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// SurrealKV durability: the `sync` parameter of the URL (`every` is the server's default).
    #[arg(long, default_value = "every")]
    sync: String,
}

#[derive(Args)]
struct PopulationArgs {
    #[command(flatten)]
    setup: Setup,
    /// The share of users the policy's rule selects.
    #[arg(long, default_value_t = 0.33)]
    in_scope: f64,
    /// Print the number of assignments committed so far every this many seconds (0: never).
    /// Counting reads the store, so it slows the population a little.
    #[arg(long, default_value_t = 0)]
    progress: u64,
}

#[derive(Args)]
struct UserChangeArgs {
    #[command(flatten)]
    setup: Setup,
    /// Auto-assignment policies, each on its own access package.
    #[arg(long, default_value_t = 100)]
    policies: usize,
    /// Timed user changes.
    #[arg(long, default_value_t = 500)]
    samples: usize,
    /// Untimed changes before the timed ones.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Policies also require one job title: each selects about an eighth as many users, so the
    /// setup populates fewer assignments.
    #[arg(long)]
    narrow: bool,
    /// How long to wait for a change's event before counting it as missing, in seconds.
    #[arg(long, default_value_t = 10)]
    event_timeout: u64,
}

fn main() -> anyhow::Result<()> {
    em_api::telemetry::init(false);
    let command = Cli::parse().command;
    let setup = match &command {
        Command::Population(args) => &args.setup,
        Command::UserChange(args) => &args.setup,
    };
    // The folder outlives the runtime, so the store can close (and flush) into it.
    let (folder, _temp) = match &setup.dir {
        Some(dir) => {
            ensure!(!dir.exists(), "{} exists; name a folder that does not", dir.display());
            (dir.clone(), None)
        }
        None => {
            let temp = tempfile::Builder::new().prefix("em-auto-bench-").tempdir_in(bench_tmp())?;
            (temp.path().join("data"), Some(temp))
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(async {
        match command {
            Command::Population(args) => population(args, folder).await,
            Command::UserChange(args) => user_change(args, folder).await,
        }
    });
    drop(runtime);
    outcome
}

const ACTOR: Actor = Actor::LocalOperator;

/// The services over a loaded directory, and its users.
struct Bench {
    services: Services,
    users: Vec<User>,
}

/// Opens a fresh database in `folder`, loads the generated directory and the groups
/// `extra_groups` into it, and reports how long that took.
async fn open_and_load(setup: &Setup, folder: PathBuf, extra_groups: Vec<Group>) -> anyhow::Result<Bench> {
    let url = format!("surrealkv://{}?sync={}", folder.display(), setup.sync);
    println!("database   {url}");
    let store = Store::open(&StoreConfig::at(&url)).await.context("the store opens")?;
    let services = Services::new(store, Arc::new(SystemClock));
    services.bootstrap().await?;

    let started = Instant::now();
    let users = directory(setup.users, setup.seed)
        .into_iter()
        .map(as_graph_user)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let generated = started.elapsed();
    let started = Instant::now();
    let memberships = load(&services.store, &users, extra_groups, setup).await?;
    let loaded = started.elapsed();
    println!(
        "setup      generated and validated {} users in {:.1} s; loaded {} users and {} memberships in {:.1} s ({:.0} users/s)",
        users.len(),
        generated.as_secs_f64(),
        users.len(),
        memberships,
        loaded.as_secs_f64(),
        per_second(users.len(), loaded)
    );
    Ok(Bench { services, users })
}

/// A generated user as the directory import stores it: the generator writes hire dates as
/// plain dates, Graph (and the import) as date and time. Every user then goes through the
/// parser the import and `updateUser` use, so the rows are the ones an import would write.
fn as_graph_user(mut user: User) -> anyhow::Result<User> {
    if let Some(date) = user.employee_hire_date.as_mut().filter(|d| d.len() == 10) {
        date.push_str("T00:00:00Z");
    }
    let parsed = import::parse_user_object(&Value::Object(import::user_to_graph_json(&user)))
        .with_context(|| format!("generated user {} does not import", user.id))?;
    ensure!(parsed == user, "generated user {} changes when imported", user.id);
    Ok(parsed)
}

/// Where temporary databases go: `EM_BENCH_TMP`, or the system's temporary folder.
fn bench_tmp() -> PathBuf {
    std::env::var_os("EM_BENCH_TMP").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// The id of team group `team`.
fn team_group_id(team: usize) -> String {
    format!("00000000-0000-0000-00aa-{team:012x}")
}

/// The id of the group that package `n` holds the Member role of.
fn package_group_id(n: usize) -> String {
    format!("00000000-0000-0000-00bb-{n:012x}")
}

fn group(id: String, display_name: String) -> Group {
    Group { id, display_name, security_enabled: true, ..Group::default() }
}

/// Writes the directory with the store's import, a chunk of whole teams per transaction.
/// Returns the number of memberships written.
async fn load(
    store: &Store,
    users: &[User],
    extra_groups: Vec<Group>,
    setup: &Setup,
) -> anyhow::Result<usize> {
    store.import_directory(&DirectoryImport { groups: extra_groups, ..DirectoryImport::default() }).await?;
    let per_chunk = match setup.team_size {
        0 => setup.chunk.max(1),
        team => team * (setup.chunk / team).max(1),
    };
    let mut memberships = 0;
    let mut last_report = Instant::now();
    let started = Instant::now();
    for (n, chunk) in users.chunks(per_chunk).enumerate() {
        let first = n * per_chunk;
        let mut import = DirectoryImport { users: chunk.to_vec(), ..DirectoryImport::default() };
        if setup.team_size > 0 {
            for (t, team) in chunk.chunks(setup.team_size).enumerate() {
                let number = first / setup.team_size + t;
                let id = team_group_id(number);
                import.groups.push(group(id.clone(), format!("Team {number:06}")));
                import.memberships.push(GroupMembers {
                    group_id: id,
                    relation: GroupRelation::Member,
                    principal_ids: team.iter().map(|u| u.id.to_string()).collect(),
                });
                memberships += team.len();
            }
        }
        store.import_directory(&import).await.with_context(|| format!("importing users from {first}"))?;
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            let done = first + chunk.len();
            eprintln!("  loaded {done} users ({:.0} users/s)", per_second(done, started.elapsed()));
        }
    }
    Ok(memberships)
}

/// A catalog for the bench's packages.
async fn catalog(services: &Services) -> anyhow::Result<CatalogId> {
    let catalog = services
        .create_catalog(
            &ACTOR,
            NewCatalog { display_name: "Auto-assignment bench".into(), ..NewCatalog::default() },
        )
        .await?;
    Ok(catalog.id)
}

/// An access package in `catalog_id` holding the Member role of group `group_id`.
async fn package_with_group(
    services: &Services,
    catalog_id: &CatalogId,
    group_id: &str,
    name: &str,
) -> anyhow::Result<AccessPackageId> {
    let (_, resource) = services
        .request_resource(
            &ACTOR,
            ResourceRequestInput {
                catalog_id: catalog_id.to_owned(),
                request_type: ResourceRequestType::AdminAdd,
                origin_id: group_id.to_owned(),
                origin_system: OriginSystem::AadGroup,
            },
        )
        .await?;
    let package = services
        .create_access_package(
            &ACTOR,
            NewAccessPackage {
                catalog_id: catalog_id.to_owned(),
                display_name: name.to_owned(),
                ..NewAccessPackage::default()
            },
        )
        .await?;
    services
        .add_role_scope(
            &ACTOR,
            &package.id,
            &resource.id,
            RoleScopeSelection {
                role_origin_id: Some(format!("Member_{group_id}")),
                ..RoleScopeSelection::default()
            },
        )
        .await?;
    Ok(package.id)
}

/// An auto-assignment policy of `package_id` selecting by `rule`, removing after `grace`.
fn automatic(
    package_id: &AccessPackageId,
    name: &str,
    rule: &str,
    grace: &str,
) -> anyhow::Result<PolicyInput> {
    Ok(serde_json::from_value(json!({
        "accessPackageId": package_id,
        "displayName": name,
        "allowedTargetScope": "specificDirectoryUsers",
        "specificAllowedTargets": [{"type": "attributeRuleMembers", "membershipRule": rule}],
        "automaticRequestSettings": {"requestAccessForAllowedTargets": true,
                                     "removeAccessWhenTargetLeavesAllowedTargets": true,
                                     "gracePeriodBeforeAccessRemoval": grace}
    }))?)
}

/// The users `rule` selects, by the reference evaluator (independent of the compiled one the
/// service uses).
fn selected_by(rule: &str, users: &[User]) -> anyhow::Result<HashSet<String>> {
    let parsed = parse(rule).map_err(|errors| anyhow::anyhow!("the rule does not parse: {errors:?}"))?;
    let relations = DirectoryRelations::default();
    let ctx = EvalContext::new(chrono::Utc::now(), &relations);
    Ok(users.iter().filter(|u| evaluate(&parsed, u, &ctx)).map(|u| u.id.to_string()).collect())
}

/// Forces the service to build its directory index (done once per process, on first use), and
/// returns how long that took.
async fn warm_index(services: &Services) -> anyhow::Result<Duration> {
    let started = Instant::now();
    services.reconcile_auto_assignments(&ACTOR, None).await?;
    Ok(started.elapsed())
}

/// Active assignments of a package, counted by the store.
async fn active_assignments(store: &Store, package_id: &AccessPackageId) -> anyhow::Result<usize> {
    let filter = AssignmentFilter {
        access_package_id: Some(package_id.to_owned()),
        active_only: true,
        ..AssignmentFilter::default()
    };
    Ok(store.assignments(&filter, &PageRequest { after: None, first: 1, count: true }).await?.total)
}

fn quoted(values: &[&str]) -> String {
    values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Countries whose enabled users make up about `share` of all users, largest first.
fn countries_for_share(users: &[User], share: f64) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for user in users.iter().filter(|u| u.account_enabled()) {
        *counts.entry(user.country.as_deref().unwrap_or_default()).or_default() += 1;
    }
    let mut by_size: Vec<(&str, usize)> = counts.into_iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let target = share * users.len() as f64;
    let mut chosen = Vec::new();
    let mut total = 0.0;
    for (country, count) in by_size {
        let count = count as f64;
        if total + count <= target + count / 2.0 {
            total += count;
            chosen.push(country.to_owned());
        }
    }
    chosen
}

async fn population(args: PopulationArgs, folder: PathBuf) -> anyhow::Result<()> {
    ensure!((0.0..=1.0).contains(&args.in_scope), "--in-scope is a share between 0 and 1");
    let group_id = package_group_id(0);
    let Bench { services, users } =
        open_and_load(&args.setup, folder, vec![group(group_id.clone(), "Auto-assigned".into())]).await?;
    let services = &services;
    let catalog_id = catalog(services).await?;
    let package_id = package_with_group(services, &catalog_id, &group_id, "Auto-assigned").await?;

    let countries = countries_for_share(&users, args.in_scope);
    let names: Vec<&str> = countries.iter().map(String::as_str).collect();
    let rule = format!("user.country -in [{}] -and user.accountEnabled -eq true", quoted(&names));
    let expected = selected_by(&rule, &users)?;
    println!(
        "rule       {} countries, selects {} of {} users ({:.1}%)",
        countries.len(),
        expected.len(),
        users.len(),
        100.0 * expected.len() as f64 / users.len().max(1) as f64
    );
    // The service reads the whole directory back for its index: leave it the memory.
    drop(users);

    let index = warm_index(services).await?;
    println!(
        "index      the service built its directory index in {:.2} s (once per process)",
        index.as_secs_f64()
    );

    let progress = (args.progress > 0).then(|| {
        let store = services.store.clone();
        let package = package_id.clone();
        let every = Duration::from_secs(args.progress);
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                match active_assignments(&store, &package).await {
                    Ok(n) => eprintln!(
                        "  {:.0} s: {n} assignments ({:.0}/s)",
                        started.elapsed().as_secs_f64(),
                        per_second(n, started.elapsed())
                    ),
                    Err(e) => eprintln!("  progress: {e}"),
                }
            }
        })
    });
    let input = automatic(&package_id, "Everyone in scope", &rule, "P7D")?;
    let started = Instant::now();
    let policy = services.create_assignment_policy(&ACTOR, input).await?;
    let elapsed = started.elapsed();
    if let Some(task) = progress {
        task.abort();
    }

    let assigned = active_assignments(&services.store, &package_id).await?;
    let counted =
        services.store.assignment_policy(&policy.policy.id).await?.map_or(0, |p| p.assignment_count);
    let members = services.store.group_members(&group_id, GroupRelation::Member).await?;
    let member_ids: HashSet<&str> = members.iter().map(|m| m.principal_id.as_str()).collect();
    let exclusions = services.store.exclusions(&policy.policy.id).await?.len();
    println!(
        "population {} assignments committed in {:.2} s: {:.0} assignments/s ({:.1} µs each)",
        assigned,
        elapsed.as_secs_f64(),
        per_second(assigned, elapsed),
        elapsed.as_secs_f64() * 1e6 / assigned.max(1) as f64
    );
    println!("           with the index build: {:.2} s", (elapsed + index).as_secs_f64());
    println!(
        "check      selected {}, active assignments {}, policy's count {}, group members {}, exclusions {}",
        expected.len(),
        assigned,
        counted,
        members.len(),
        exclusions
    );
    let same_members = expected.iter().all(|id| member_ids.contains(id.as_str()));
    ensure!(
        assigned == expected.len()
            && usize::try_from(counted).ok() == Some(assigned)
            && members.len() == assigned
            && same_members
            && exclusions == 0,
        "the store does not hold exactly the selected users' assignments"
    );
    println!("check      ok: every selected user holds the package and is a member of its group");
    Ok(())
}

/// One policy of the user-change bench: the users of `department` in `country` (with
/// `job_title`, when narrow).
#[derive(Clone)]
struct Scope {
    department: String,
    country: String,
    job_title: Option<String>,
    package_id: AccessPackageId,
}

impl Scope {
    fn rule(&self) -> String {
        let mut rule = format!(
            "user.department -eq \"{}\" -and user.country -eq \"{}\" -and user.accountEnabled -eq true",
            self.department, self.country
        );
        if let Some(title) = &self.job_title {
            rule.push_str(&format!(" -and user.jobTitle -eq \"{title}\""));
        }
        rule
    }

    /// The scope's key without the country: users who would match in its country.
    fn key(&self) -> (String, Option<String>) {
        (self.department.clone(), self.job_title.clone())
    }
}

/// xorshift64, for the choices the bench makes (the directory has its own generator).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        usize::try_from(x % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// An event seen on the feed, with when it arrived.
struct Arrival {
    at: Instant,
    kind: EventKind,
    subject_id: String,
    target_id: Option<String>,
    access_package_id: Option<AccessPackageId>,
}

/// Latencies of one measured quantity.
#[derive(Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn report(&mut self, name: &str) {
        self.0.sort();
        let n = self.0.len();
        if n == 0 {
            println!("{name:<28} no samples");
            return;
        }
        let at = |q: f64| self.0[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mean = self.0.iter().sum::<Duration>() / u32::try_from(n).unwrap_or(u32::MAX);
        println!(
            "{name:<28} n={n:<5} p50 {:>8.2} ms   p90 {:>8.2} ms   p99 {:>8.2} ms   max {:>8.2} ms   mean {:>8.2} ms",
            ms(at(0.5)),
            ms(at(0.9)),
            ms(at(0.99)),
            ms(self.0[n - 1]),
            ms(mean)
        );
    }
}

async fn user_change(args: UserChangeArgs, folder: PathBuf) -> anyhow::Result<()> {
    ensure!(args.policies > 0, "--policies must be at least 1");
    let groups = (0..args.policies).map(|n| group(package_group_id(n), format!("Auto {n:03}"))).collect();
    let Bench { services, users } = open_and_load(&args.setup, folder, groups).await?;
    let services = &services;
    let mut rng = Rng::new(args.setup.seed);

    // Every (department, country[, job title]) present, in a seeded order; the first
    // `policies` become policies.
    let mut combos: Vec<(String, String, Option<String>)> = users
        .iter()
        .map(|u| {
            (
                u.department.clone().unwrap_or_default(),
                u.country.clone().unwrap_or_default(),
                args.narrow.then(|| u.job_title.clone().unwrap_or_default()),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    ensure!(combos.len() >= args.policies, "only {} department/country combinations exist", combos.len());
    for i in (1..combos.len()).rev() {
        combos.swap(i, rng.below(i + 1));
    }
    combos.truncate(args.policies);

    let catalog_id = catalog(services).await?;
    let started = Instant::now();
    let mut scopes = Vec::with_capacity(args.policies);
    for (n, (department, country, job_title)) in combos.into_iter().enumerate() {
        let package_id =
            package_with_group(services, &catalog_id, &package_group_id(n), &format!("Auto {n:03}")).await?;
        scopes.push(Scope { department, country, job_title, package_id });
    }
    println!(
        "setup      {} packages with a group role in {:.1} s",
        scopes.len(),
        started.elapsed().as_secs_f64()
    );

    let mut expected = 0;
    let mut selected_by_scope = Vec::with_capacity(scopes.len());
    for scope in &scopes {
        let selected = selected_by(&scope.rule(), &users)?;
        expected += selected.len();
        selected_by_scope.push(selected.len());
    }

    // Who can be moved into each scope: enabled users with its department (and title).
    let mut candidates: HashMap<(String, Option<String>), Vec<usize>> = HashMap::new();
    for (i, user) in users.iter().enumerate().filter(|(_, u)| u.account_enabled()) {
        let key = (
            user.department.clone().unwrap_or_default(),
            args.narrow.then(|| user.job_title.clone().unwrap_or_default()),
        );
        candidates.entry(key).or_default().push(i);
    }
    // Each user's id and country; the service reads the whole directory back for its index, so
    // the users themselves leave it the memory.
    let people: Vec<(String, String)> =
        users.into_iter().map(|u| (u.id.into_string(), u.country.unwrap_or_default())).collect();

    let index = warm_index(services).await?;
    println!("index      the service built its directory index in {:.2} s", index.as_secs_f64());
    println!(
        "policies   {} rules select {} users in all ({} to {} per policy); populating them",
        scopes.len(),
        expected,
        selected_by_scope.iter().min().copied().unwrap_or(0),
        selected_by_scope.iter().max().copied().unwrap_or(0)
    );
    let started = Instant::now();
    let mut last_report = Instant::now();
    for (n, scope) in scopes.iter().enumerate() {
        let input = automatic(&scope.package_id, &format!("Auto {n:03}"), &scope.rule(), "P7D")?;
        services.create_assignment_policy(&ACTOR, input).await?;
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!("  {} policies populated in {:.0} s", n + 1, started.elapsed().as_secs_f64());
        }
    }
    let populated = started.elapsed();
    let mut assigned = 0;
    for scope in &scopes {
        assigned += active_assignments(&services.store, &scope.package_id).await?;
    }
    println!(
        "setup      populated {} policies: {} assignments in {:.1} s ({:.0}/s)",
        scopes.len(),
        assigned,
        populated.as_secs_f64(),
        per_second(assigned, populated)
    );
    ensure!(assigned == expected, "{assigned} assignments, but the rules select {expected} users");

    let scope_of: HashMap<(String, String, Option<String>), usize> = scopes
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.department.clone(), s.country.clone(), s.job_title.clone()), i))
        .collect();

    // Listen to the feed from now on, stamping each event as it arrives.
    let feed = EventFeed::new(services.store.clone());
    let mut stream = Box::pin(feed.subscribe(None).await?);
    let (sender, mut arrivals) = mpsc::unbounded_channel();
    let listener = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            match item {
                Ok(e) => {
                    let arrival = Arrival {
                        at: Instant::now(),
                        kind: e.event.kind,
                        subject_id: e.event.subject_id.clone(),
                        target_id: e.event.target_id.clone(),
                        access_package_id: e.event.access_package_id.clone(),
                    };
                    if sender.send(arrival).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    eprintln!("the event feed failed: {e}");
                    return;
                }
            }
        }
    });

    let mut used: HashSet<usize> = HashSet::new();
    let mut returned = Latencies::default();
    let mut assignment_event = Latencies::default();
    let mut user_event = Latencies::default();
    let mut left = 0;
    let mut missing = 0;
    let timeout = Duration::from_secs(args.event_timeout);
    for sample in 0..args.warmup + args.samples {
        // A policy, and a user it does not select yet who would match in its country.
        let scope = &scopes[rng.below(scopes.len())];
        let pool = candidates.get(&scope.key()).map(Vec::as_slice).unwrap_or_default();
        let mut picked = None;
        for _ in 0..1000 {
            let Some(&i) = pool.get(rng.below(pool.len())) else { break };
            if !used.contains(&i) && people.get(i).is_some_and(|(_, country)| *country != scope.country) {
                picked = Some(i);
                break;
            }
        }
        let Some((user_id, country)) = picked.and_then(|i| used.insert(i).then(|| &people[i])) else {
            bail!("no user left to move into the scope of {}", scope.rule())
        };
        let (department, title) = scope.key();
        if scope_of.contains_key(&(department, country.clone(), title)) {
            left += 1;
        }
        let changes: Map<String, Value> =
            [("country".to_owned(), json!(scope.country))].into_iter().collect();

        let started = Instant::now();
        services.update_user(&ACTOR, user_id, changes).await?;
        let back = started.elapsed();

        // Wait for the assignment's event; the user's own event comes first, in its own commit.
        let deadline = started + timeout;
        let mut updated_at = None;
        let mut assigned_at = None;
        while assigned_at.is_none() {
            let Ok(Some(arrival)) = tokio::time::timeout_at(deadline.into(), arrivals.recv()).await else {
                break;
            };
            match arrival.kind {
                EventKind::UserUpdated if arrival.subject_id == *user_id => {
                    updated_at = updated_at.or(Some(arrival.at))
                }
                _ if arrival.target_id.as_deref() != Some(user_id.as_str()) => {}
                EventKind::AssignmentCreated
                    if arrival.access_package_id.as_deref() == Some(scope.package_id.as_str()) =>
                {
                    assigned_at = Some(arrival.at);
                }
                _ => {}
            }
        }
        if sample < args.warmup {
            continue;
        }
        returned.0.push(back);
        match assigned_at {
            Some(at) => assignment_event.0.push(at - started),
            None => missing += 1,
        }
        if let Some(at) = updated_at {
            user_event.0.push(at - started);
        }
    }
    listener.abort();

    println!(
        "changes    {} timed after {} untimed; {} also left another policy's scope (removal scheduled); {} events missing",
        args.samples, args.warmup, left, missing
    );
    returned.report("update_user returned");
    assignment_event.report("assignment.created arrived");
    user_event.report("user.updated arrived");
    ensure!(
        missing == 0,
        "{missing} changes had no assignment.created event within {} s",
        args.event_timeout
    );
    Ok(())
}
