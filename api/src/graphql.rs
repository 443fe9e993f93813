//! The GraphQL schema: Microsoft Graph's entitlement-management names, Relay conventions (`Node`,
//! global ids, cursor connections, input and payload types), and errors with a stable
//! `extensions.code`.
//!
//! The query, mutation and subscription roots are merged from one module per domain area.
//! Output types are newtypes over engine types; inputs convert into engine commands.

pub mod audit;
pub mod auto;
pub mod catalog;
pub mod directory;
pub mod error;
pub mod extension;
pub mod loaders;
pub mod node;
pub mod organization;
pub mod page;
pub mod policy;
pub mod request;
pub mod review;
pub mod roles;
pub mod rules;
pub mod subscription;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema};
use em_engine::Actor;

use crate::limits::Limits;
use crate::service::Services;

/// The query root.
#[derive(MergedObject, Default)]
pub struct Query(
    node::NodeQuery,
    directory::DirectoryQuery,
    catalog::CatalogQuery,
    policy::PolicyQuery,
    request::RequestQuery,
    rules::RuleQuery,
    audit::AuditQuery,
    auto::AutoQuery,
    roles::RoleQuery,
    organization::OrganizationQuery,
    review::ReviewQuery,
    extension::ExtensionQuery,
);

/// The mutation root.
#[derive(MergedObject, Default)]
pub struct Mutation(
    directory::DirectoryMutation,
    catalog::CatalogMutation,
    policy::PolicyMutation,
    request::RequestMutation,
    auto::AutoMutation,
    roles::RoleMutation,
    organization::OrganizationMutation,
    review::ReviewMutation,
    extension::ExtensionMutation,
);

/// The subscription root.
#[derive(MergedSubscription, Default)]
pub struct Subscription(subscription::EventSubscription, subscription::ApprovalSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema around the services, with the live event feed of their store, under the
/// default [`Limits`].
#[must_use]
pub fn build_schema(services: Services) -> AppSchema {
    build_schema_with(services, &Limits::default())
}

/// Builds the schema around the services under `limits`: depth, cost, aliases and each caller's
/// budget are checked by [`crate::limits::Guard`]; introspection and suggestions answer only
/// when the limits allow them.
#[must_use]
pub fn build_schema_with(services: Services, limits: &Limits) -> AppSchema {
    let feed = services.event_feed();
    let builder = Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .data(services)
        .data(feed)
        .extension(crate::limits::Guard::new(limits.clone()));
    if limits.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().disable_suggestions().finish()
    }
}

/// The schema in SDL, as committed in `schema.graphql`.
#[must_use]
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription::default()).finish().sdl()
}

/// A request as `actor` makes it: the caller, and the loaders that batch its reads.
#[must_use]
pub fn as_caller(
    request: async_graphql::Request,
    services: &Services,
    actor: Actor,
) -> async_graphql::Request {
    let loaders = loaders::Loaders::new(services.clone(), actor.clone());
    request.data(actor).data(loaders)
}

/// Whether the operation a request would run is a mutation (`false` when the query does not parse).
#[must_use]
pub fn is_mutation(query: &str, operation_name: Option<&str>) -> bool {
    async_graphql::parser::parse_query(query)
        .is_ok_and(|document| operation_is_mutation(&document, operation_name))
}

/// Whether the operation of `document` that `operation_name` selects is a mutation.
#[must_use]
pub fn operation_is_mutation(
    document: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> bool {
    Operation::of(document, operation_name).is_mutation()
}

/// What a request runs, for its logs and metrics: the kind and name of the operation it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `query`, `mutation`, `subscription`, or `unknown` when none is selected (a syntax error,
    /// an unknown operation name).
    pub kind: &'static str,
    /// The operation's name, `anonymous` for none.
    pub name: String,
}

impl Operation {
    /// The operation of `document` that `operation_name` selects.
    #[must_use]
    pub fn of(
        document: &async_graphql::parser::types::ExecutableDocument,
        operation_name: Option<&str>,
    ) -> Self {
        use async_graphql::parser::types::{DocumentOperations, OperationType};
        let kind = |ty: OperationType| match ty {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        // Only a name the document gives is kept: it is what logs and metrics label, and the
        // client's `operationName` may be anything.
        let (kind, name) = match &document.operations {
            DocumentOperations::Single(op) => (kind(op.node.ty), None),
            DocumentOperations::Multiple(ops) => match operation_name {
                Some(name) => match ops.get(name) {
                    Some(op) => (kind(op.node.ty), Some(name)),
                    None => ("unknown", Some("unknown")),
                },
                None if ops.len() == 1 => ops
                    .iter()
                    .next()
                    .map_or(("unknown", None), |(name, op)| (kind(op.node.ty), Some(name.as_str()))),
                None => ("unknown", None),
            },
        };
        // A GraphQL name, as the parser read it; cut to a label's length.
        let name: String = name.unwrap_or("anonymous").chars().take(64).collect();
        Self { kind, name }
    }

    /// The operation of a query that does not parse.
    #[must_use]
    pub fn unparsed() -> Self {
        Self { kind: "unknown", name: "unparsed".to_owned() }
    }

    #[must_use]
    pub fn is_mutation(&self) -> bool {
        self.kind == "mutation"
    }
}

/// The services, from the request context.
pub(crate) fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Who is calling: the signed-in user, or the local operator on a server without authentication.
pub(crate) fn actor(ctx: &Context<'_>) -> Actor {
    ctx.data_opt::<Actor>().cloned().unwrap_or(Actor::LocalOperator)
}

#[cfg(test)]
mod tests {
    /// The edge reads through the services' read path, with the caller; it never names the store.
    #[test]
    fn the_graphql_edge_never_reads_the_store() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![root.join("graphql.rs")];
        for entry in std::fs::read_dir(root.join("graphql")).unwrap() {
            files.push(entry.unwrap().path());
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for needle in ["crate::store", ".store.", "store::"] {
                assert!(!code.contains(needle), "{} names the store (`{needle}`)", file.display());
            }
        }
    }

    #[test]
    fn committed_schema_is_current() {
        let committed = include_str!("../../schema.graphql");
        assert!(
            committed == super::sdl(),
            "schema.graphql is stale: run `cargo run -p em-api -- schema > schema.graphql` and commit it"
        );
    }
}
