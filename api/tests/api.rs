//! The integration tests of em-api, in one test binary: each test serves the real app (the
//! router, schema and services the binary builds) on port 0 over a fresh in-memory SurrealDB and
//! talks GraphQL over HTTP to it; the process tests run the built `em-api` binary itself.
//!
//! | module | what it covers |
//! |---|---|
//! | `departments` | seed scenario 3 over the demo directory: a catalog per department, run by its head and delegates |
//! | `directory` | directory import and its rejections, directory queries, `node`, user and group mutations |
//! | `catalogs` | catalogs and catalog resources (resource requests) |
//! | `delegation` | role definitions and role assignments, the delegation matrix, roles through groups, the last owner |
//! | `access_packages` | access packages, role scopes, incompatibilities, id arguments, races |
//! | `policies` | assignment policies, their validation, what the signed-in user may request |
//! | `reviews` | access reviews in virtual time: schedules, managers' decisions, results applied, the next review, stopping one; bad input |
//! | `rules` | `membershipRulePreview`, `em-api rule check` and `em-api rule eval` |
//! | `organizations` | connected organizations: identity sources, claims, sponsors, deletion under policies, the tenant's settings |
//! | `external` | seed scenario 2's external half over the demo directory: partner sign-in, sponsors' live approvals, guests invited, blocked and deleted; the guest lifecycle's edges |
//! | `extensions` | the bonus scenario (a manager requests a Temporary Access Pass for her report; a real TAP issuer verifies the signed call and resumes the request), failing extensions, callback timeouts, forged callbacks, bad input |
//! | `notifications` | e-mail through a real SMTP conversation: approvers, requestors, holders before the end; `isAssignmentNotificationDisabled` |
//! | `limits` | hostile clients: depth, cost, aliases, introspection, body size, each caller's budget (429), a seeded generator of malformed inputs |
//! | `conformance` | the `graphql-http` audit and the `graphql-transport-ws` close codes, by independent Node.js clients |
//! | `replicas` | two replicas on one SurrealDB server: live events across them in one order, read models following each other's changes, races and timers across replicas |
//! | `faults` | a SurrealDB server killed and restarted under a running server: 503 on `/healthz`, no data, then everything committed |
//! | `http` | GraphQL over HTTP: methods, media types, malformed requests, health, playground |
//! | `requests` | seed scenario 2 end to end (request, live approval, delivery, expiry), role changes, `additionalAccess` |
//! | `read_path` | an end user, a delegate and an approver query every root field, `node` and every subscription; batched nested reads |
//! | `request_rules` | submission refusals, separation of duties under races, approval rules, virtual-clock timers, cancel, assignment removal |
//! | `auto_assignment` | seed scenario 1, what-if, exclusions, grace periods, reconciliation |
//! | `ws` | graphql-transport-ws: close codes, ping/pong, live events, resuming from a cursor, token expiry |
//! | `browser` | the playground and My Access in Debian's Chromium: nothing from other hosts, under 1 MB, approvals seen live in another browser |
//! | `operations` | `/metrics`, request ids, `/healthz` and `/readyz`, CORS, the pages' headers, `--config` |
//! | `process` | restart after SIGKILL on SurrealKV (data, timers, a review being applied), `em-api import`, `schema`, `reconcile` |

// Test code: helpers outside `#[test]` functions unwrap and panic on purpose, to fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/access_packages.rs"]
mod access_packages;
#[path = "api/auto_assignment.rs"]
mod auto_assignment;
#[path = "api/browser.rs"]
mod browser;
#[path = "api/catalogs.rs"]
mod catalogs;
#[path = "api/conformance.rs"]
mod conformance;
#[path = "api/delegation.rs"]
mod delegation;
#[path = "api/departments.rs"]
mod departments;
#[path = "api/directory.rs"]
mod directory;
#[path = "api/extensions.rs"]
mod extensions;
#[path = "api/external.rs"]
mod external;
#[path = "api/faults.rs"]
mod faults;
#[path = "api/http.rs"]
mod http;
#[path = "api/limits.rs"]
mod limits;
#[path = "api/notifications.rs"]
mod notifications;
#[path = "api/operations.rs"]
mod operations;
#[path = "api/organizations.rs"]
mod organizations;
#[path = "api/policies.rs"]
mod policies;
#[path = "api/process.rs"]
mod process;
#[path = "api/read_path.rs"]
mod read_path;
#[path = "api/replicas.rs"]
mod replicas;
#[path = "api/request_rules.rs"]
mod request_rules;
#[path = "api/requests.rs"]
mod requests;
#[path = "api/reviews.rs"]
mod reviews;
#[path = "api/rules.rs"]
mod rules;
#[path = "api/support.rs"]
mod support;
#[path = "api/ws.rs"]
mod ws;
