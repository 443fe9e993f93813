//! Events: what happened, who did it, when, and why. One event is written in the same
//! transaction as the change it describes, so the event log is both the feed that live
//! subscriptions read and the audit trail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;

/// One fact in the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    /// What happened, as `<object>.<verb>`: `catalog.created`, `accessPackage.deleted`, ...
    pub kind: String,
    /// Who did it (`system`, `local-operator` or `user:<id>`).
    pub actor: String,
    /// The acting user's object id, when a user acted.
    pub actor_id: Option<String>,
    pub occurred_date_time: DateTime<Utc>,
    /// The type and id of the object the event is about.
    pub subject_type: String,
    pub subject_id: String,
    /// The catalog and access package involved, for filtering and for administrators' feeds.
    pub catalog_id: Option<String>,
    pub access_package_id: Option<String>,
    /// The user the change is for (a request's target, an assignment's holder).
    pub target_id: Option<String>,
    /// Users who should hear about the event (approvers of a stage, requestor, target).
    #[serde(default)]
    pub audience: Vec<String>,
    /// The justification a person gave.
    pub justification: Option<String>,
    /// Why the engine did what it did, in words.
    pub reason: Option<String>,
    /// The changed object or other details, as JSON.
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Event {
    /// A new event about `subject_type`/`subject_id`, done by `actor` at `now`.
    #[must_use]
    pub fn new(
        id: String,
        kind: &str,
        actor: &Actor,
        now: DateTime<Utc>,
        subject_type: &str,
        subject_id: &str,
    ) -> Self {
        let actor_id = match actor {
            Actor::User { id } => Some(id.clone()),
            Actor::System | Actor::LocalOperator => None,
        };
        Self {
            id,
            kind: kind.to_owned(),
            actor: actor.label(),
            actor_id,
            occurred_date_time: now,
            subject_type: subject_type.to_owned(),
            subject_id: subject_id.to_owned(),
            catalog_id: None,
            access_package_id: None,
            target_id: None,
            audience: Vec::new(),
            justification: None,
            reason: None,
            data: serde_json::Value::Null,
        }
    }

    #[must_use]
    pub fn in_catalog(mut self, catalog_id: &str) -> Self {
        self.catalog_id = Some(catalog_id.to_owned());
        self
    }

    #[must_use]
    pub fn for_package(mut self, access_package_id: &str) -> Self {
        self.access_package_id = Some(access_package_id.to_owned());
        self
    }

    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_record_the_acting_user() {
        let e = Event::new(
            "e".into(),
            "catalog.created",
            &Actor::User { id: "u".into() },
            DateTime::<Utc>::UNIX_EPOCH,
            "AccessPackageCatalog",
            "c",
        )
        .in_catalog("c");
        assert_eq!(e.actor, "user:u");
        assert_eq!(e.actor_id.as_deref(), Some("u"));
        assert_eq!(e.catalog_id.as_deref(), Some("c"));
    }
}
