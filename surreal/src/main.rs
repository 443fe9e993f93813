//! The SurrealDB server (`surreal start ...`), built from the official `surrealdb-server` crate with
//! the in-memory and SurrealKV storage engines. `em-api`'s tests start it on a loopback port to run
//! against `ws://`; a deployment may use it or the official binary, which speaks the same protocol.
#![recursion_limit = "256"]

fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_core::CommunityComposer())
}
