//! Errors at the GraphQL edge: every refusal carries `extensions.code` and, when one input is at
//! fault, `extensions.field`; an import's problems are listed in `extensions.problems`.
//! Internal errors are logged in full and shown redacted.

use async_graphql::{Error, ErrorExtensions};
use em_engine::DomainError;

use crate::service::ServiceError;

/// The stable code of a failure the server could not handle.
pub const INTERNAL: &str = "INTERNAL";

/// Converts a service error into a GraphQL error.
#[must_use]
pub fn to_graphql(error: ServiceError) -> Error {
    match error {
        ServiceError::Domain(e) => domain(e),
        ServiceError::Stale => domain(DomainError::conflict(ServiceError::Stale.to_string())),
        ServiceError::Internal(message) => {
            tracing::error!(%message, "internal error");
            Error::new("internal error; the server log has the details")
                .extend_with(|_, ext| ext.set("code", INTERNAL))
        }
    }
}

/// Converts a domain refusal into a GraphQL error.
#[must_use]
pub fn domain(e: DomainError) -> Error {
    let DomainError { code, message, field, details } = e;
    Error::new(message).extend_with(|_, ext| {
        ext.set("code", code.as_str());
        if let Some(field) = &field {
            ext.set("field", field.as_str());
        }
        if !details.is_empty() {
            let problems: Vec<async_graphql::Value> = details
                .iter()
                .map(|d| {
                    let mut object = async_graphql::indexmap::IndexMap::new();
                    object.insert(
                        async_graphql::Name::new("path"),
                        async_graphql::Value::from(d.path.as_str()),
                    );
                    object.insert(
                        async_graphql::Name::new("message"),
                        async_graphql::Value::from(d.message.as_str()),
                    );
                    async_graphql::Value::Object(object)
                })
                .collect();
            ext.set("problems", async_graphql::Value::List(problems));
        }
    })
}

/// Shorthand for resolvers: run a service call and convert its error.
pub trait OrGraphql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> OrGraphql<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}

impl<T> OrGraphql<T> for Result<T, DomainError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(domain)
    }
}
