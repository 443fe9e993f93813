//! The entitlement-management service: the SurrealDB store, the services that carry out what
//! users ask, the GraphQL schema, the HTTP server and the command line.
//!
//! The binary (`main.rs`) is glue: parse the command line, set up logging, call into here.
//! Tests build the same [`server::app`] on port 0 with an in-memory database.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod feed;
pub mod graphql;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod ws;
