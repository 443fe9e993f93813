//! Measurements of the request → approval → assignment path over the real server: the
//! `em-api` store, services, GraphQL schema and router, started in this process on a random
//! loopback port over a fresh embedded SurrealKV folder with durable commits, driven by
//! clients that speak GraphQL over HTTP and `graphql-transport-ws` like any other client.
//!
//! - [`lifecycles`]: complete two-stage lifecycles per second with N concurrent clients, and
//!   the latency of each mutation; optionally the SurrealDB queries each mutation runs, or a
//!   custom extension called at each delivery and the latency of its calls.
//! - [`latency`]: with many approvers connected, the time from a stage-1 approval's commit to
//!   the stage-2 approver's notification.
//! - [`reviews`]: an access review of many assignments: starting it, reviewers deciding
//!   concurrently, and applying the denials.
//! - [`callouts`]: custom extension calls across a server killed with SIGKILL: each arrives,
//!   once, at a receiver that drops repeats by id. The one measurement whose server is a
//!   separate process ([`process`]), since it is killed.
//!
//! - [`crashes`]: `em-api` (or its SurrealDB server) killed with SIGKILL again and again under a
//!   mixed load: nothing acknowledged lost or doubled, timers on time, subscribers without gaps.
//!
//! - [`run`]: a scenario file ([`scenario`]) replayed in virtual time: the administrator's
//!   set-up, daily movers, joiners and leavers, and invariants checked against a model of the people;
//!   [`plots`] draws its throughput over time and its latencies as SVG.
//!
//! The directory is generated ([`directory`]), the catalog, packages and policies are made by
//! an administrator over GraphQL ([`setup`]), and every random choice comes from a seeded
//! generator ([`rng`]), so two runs with the same options do the same work.

pub mod actions;
pub mod callouts;
pub mod client;
pub mod cpu;
pub mod crashes;
pub mod directory;
pub mod harness;
pub mod latency;
pub mod lifecycles;
pub mod partners;
pub mod plots;
pub mod process;
pub mod profile;
pub mod receiver;
pub mod reviews;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod setup;
pub mod stats;
