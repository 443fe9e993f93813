//! The event log in the store: events are written inside the transactions of the changes they
//! describe ([`Store::logged`]); the table's change feed replays them in commit order from a
//! cursor (a versionstamp), and the table answers audit queries.

use em_engine::event::Event;
use serde_json::{Map, Value, json};

use super::{Page, PageRequest, Store, StoreError, StoreResult, content, decode};
use crate::vars;

/// An event as stored: its JSON without id and nulls, with the key that orders the audit trail.
pub(crate) fn event_row(event: &Event) -> StoreResult<Value> {
    let mut row = content(event)?;
    if let Some(object) = row.as_object_mut() {
        object.insert("id".into(), json!(event.id));
        object.insert(
            "sortKey".into(),
            json!(format!("{}\u{1}{}", event.occurred_date_time.to_rfc3339(), event.id)),
        );
    }
    Ok(row)
}

/// Filters for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Events whose kind starts with this (`catalog.`, `accessPackage.created`).
    pub kind: Option<String>,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub catalog_id: Option<String>,
    pub access_package_id: Option<String>,
    pub target_id: Option<String>,
    /// Inclusive lower and exclusive upper bounds of `occurredDateTime` (RFC 3339).
    pub from: Option<String>,
    pub until: Option<String>,
}

/// An event with its change-feed cursor.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    /// The commit versionstamp: events replay in this order, and a client resumes after it.
    pub cursor: u128,
    pub event: Event,
}

impl Store {
    /// The audit trail, oldest first.
    pub async fn events(&self, filter: &EventFilter, page: &PageRequest) -> StoreResult<Page<Event>> {
        let mut conditions = Vec::new();
        let mut vars = Map::new();
        for (field, value) in [
            ("actorId", &filter.actor_id),
            ("subjectId", &filter.subject_id),
            ("catalogId", &filter.catalog_id),
            ("accessPackageId", &filter.access_package_id),
            ("targetId", &filter.target_id),
        ] {
            if let Some(v) = value {
                conditions.push(format!("{field} = ${field}"));
                vars.insert(field.to_owned(), json!(v));
            }
        }
        if let Some(kind) = &filter.kind {
            conditions.push("string::starts_with(kind, $kind)".to_owned());
            vars.insert("kind".into(), json!(kind));
        }
        if let Some(from) = &filter.from {
            conditions.push("occurredDateTime >= $from".to_owned());
            vars.insert("from".into(), json!(from));
        }
        if let Some(until) = &filter.until {
            conditions.push("occurredDateTime < $until".to_owned());
            vars.insert("until".into(), json!(until));
        }
        self.page("event", &conditions, vars, page).await
    }

    /// Events committed after `cursor` (0 for all that the change feed still holds), in commit
    /// order, at most `limit`.
    pub async fn events_since(&self, cursor: u128, limit: usize) -> StoreResult<Vec<FeedEvent>> {
        let since = u64::try_from(cursor.saturating_add(1)).unwrap_or(u64::MAX);
        let sql = format!("SHOW CHANGES FOR TABLE event SINCE {since} LIMIT {limit};");
        let sets: Vec<Value> = self.read(&sql, vars! {}).await?.0.take(0)?;
        let mut out = Vec::new();
        for set in sets {
            let stamp = set.get("versionstamp").and_then(Value::as_u64).map(u128::from).ok_or_else(|| {
                StoreError::Corrupt { table: "event", message: "a change set without a versionstamp".into() }
            })?;
            for change in set.get("changes").and_then(Value::as_array).into_iter().flatten() {
                let Some(mut row) = change.get("update").cloned() else { continue };
                if let Some(object) = row.as_object_mut()
                    && let Some(Value::String(id)) = object.get("id")
                {
                    let bare =
                        id.strip_prefix("event:").unwrap_or(id).trim_matches(['`', '⟨', '⟩']).to_owned();
                    object.insert("id".into(), Value::String(bare));
                }
                out.push(FeedEvent { cursor: stamp, event: decode("event", row)? });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use em_engine::Actor;

    use super::*;
    use crate::store::StoreConfig;

    fn event(n: u32) -> Event {
        Event::new(
            format!("e{n}"),
            "test.happened",
            &Actor::System,
            DateTime::<Utc>::UNIX_EPOCH,
            "Test",
            &format!("s{n}"),
        )
    }

    #[tokio::test]
    async fn the_feed_replays_committed_events_after_a_cursor() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        for n in 0..3 {
            store.logged(vec![event(n)]).transaction("LET $x = 1;", Map::new()).await.unwrap();
        }
        // A failed transaction writes no event.
        let failed = store.logged(vec![event(99)]).transaction("THROW 'em:CONFLICT::no';", Map::new()).await;
        assert!(failed.is_err());
        let all = store.events_since(0, 100).await.unwrap();
        let ids: Vec<_> = all.iter().map(|f| f.event.id.as_str()).collect();
        assert_eq!(ids, ["e0", "e1", "e2"]);
        assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor));
        let rest = store.events_since(all[0].cursor, 100).await.unwrap();
        let ids: Vec<_> = rest.iter().map(|f| f.event.id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2"], "resuming after a cursor gives exactly the events after it");
        let page = store
            .events(
                &EventFilter { subject_id: Some("s1".into()), ..EventFilter::default() },
                &PageRequest { after: None, first: 10 },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 1);
    }
}
