//! The entitlement-management service: the SurrealDB store, the services that carry out what
//! users ask, the GraphQL schema, the HTTP server and the command line.
//!
//! The binary (`main.rs`) is glue: parse the command line, set up logging, call into here.
//! Tests build the same [`server::app`] on port 0 with an in-memory database.

/// jemalloc for every binary built on this crate (the server, the simulator, the benches): the
/// store's write path is dominated by allocation, where it does markedly better than the system
/// allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod auth;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod feed;
pub mod graphql;
pub mod limits;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod ws;
