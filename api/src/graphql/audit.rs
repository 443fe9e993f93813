//! The audit trail in GraphQL: every change, who made it, when, with which justification and why.

use async_graphql::{Context, ID, InputObject, Json, Object};
use em_engine::event::Event;

use super::error::OrGraphql;
use super::page::{self, Conn};
use super::{actor, services};
use crate::service::model::EventFilter;

/// One entry of the audit trail.
pub struct AuditEventNode(pub Event);

#[Object(name = "AuditEvent")]
impl AuditEventNode {
    async fn id(&self) -> &str {
        &self.0.id
    }
    /// What happened, as `<object>.<verb>`: `catalog.created`, `accessPackage.resourceRoleScopeAdded`, ...
    async fn kind(&self) -> &str {
        self.0.kind.as_str()
    }
    /// Who did it: `system`, `local-operator` or `user:<objectId>`.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// The acting user's object id, when a user acted.
    async fn actor_id(&self) -> Option<&str> {
        self.0.actor_id.as_deref()
    }
    async fn occurred_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.occurred_date_time
    }
    async fn subject_type(&self) -> &str {
        &self.0.subject_type
    }
    async fn subject_id(&self) -> &str {
        &self.0.subject_id
    }
    async fn catalog_id(&self) -> Option<&str> {
        self.0.catalog_id.as_deref()
    }
    async fn access_package_id(&self) -> Option<&str> {
        self.0.access_package_id.as_deref()
    }
    /// The user the change was for.
    async fn target_id(&self) -> Option<&str> {
        self.0.target_id.as_deref()
    }
    async fn justification(&self) -> Option<&str> {
        self.0.justification.as_deref()
    }
    /// Why the engine did what it did.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// The changed object or other details.
    async fn data(&self) -> Json<serde_json::Value> {
        Json(self.0.data.clone())
    }
}

/// Filters for the audit trail.
#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    /// Events whose kind starts with this: `catalog.`, `accessPackage.created`.
    kind: Option<String>,
    /// Events done by this user.
    actor_id: Option<ID>,
    subject_id: Option<String>,
    catalog_id: Option<ID>,
    access_package_id: Option<ID>,
    target_id: Option<ID>,
    /// Events at or after this time.
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Events before this time.
    until: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail, oldest first: administrators see every event; others the events of
    /// what they may see in their catalogs, and those they did, about them or addressed to them.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AuditEventNode>> {
        let f = filter.unwrap_or_default();
        let bare =
            |id: Option<ID>| id.map(|i| i.0.split_once(':').map_or(i.0.clone(), |(_, rest)| rest.to_owned()));
        let filter = EventFilter {
            kind: f.kind,
            actor_id: bare(f.actor_id).map(Into::into),
            subject_id: f.subject_id,
            catalog_id: bare(f.catalog_id).map(Into::into),
            access_package_id: bare(f.access_package_id).map(Into::into),
            target_id: bare(f.target_id),
            from: f.from.map(|t| t.to_rfc3339()),
            until: f.until.map(|t| t.to_rfc3339()),
        };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let events = services(ctx).audit_events(&actor(ctx), &filter, &request).await.gql()?;
        Ok(page::connection(events, has_previous, AuditEventNode))
    }
}
