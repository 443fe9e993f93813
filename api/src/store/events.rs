//! The event log in the store: events are written inside the transactions of the changes they
//! describe ([`Store::logged`]); the table's change feed replays them in commit order from a
//! cursor, and the table answers audit queries.
//!
//! A cursor is an event's position in the feed: the versionstamp of its transaction's change set
//! in the high bits and the event's place in that change set (from 1) in the low 32 bits, so the
//! events of one transaction have distinct cursors and a reader can resume between them. Cursor 0
//! is before every event.
//!
//! `SHOW CHANGES ... LIMIT n` counts change-feed entries of every table of the database, and
//! skips those of other tables after counting them: the `event` table must stay the only table
//! with a change feed, or a short page would no longer mean the end of the feed.

use em_engine::event::Event;
use serde_json::{Map, Value, json};

use super::{Page, PageRequest, Store, StoreError, StoreResult, content, decode};
use crate::vars;

/// A time as text that sorts as the time does: UTC, always nine fractional digits.
fn fixed_width(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// An event as stored: its JSON without id and nulls, with the key that orders the audit trail,
/// and its data as JSON text in `dataJson` (schema V7: text costs SurrealDB far less to write
/// than a tree of values, and no query looks inside it).
pub(crate) fn event_row(event: &Event) -> StoreResult<Value> {
    let mut row = content(event)?;
    if let Some(object) = row.as_object_mut() {
        if let Some(data) = object.remove("data") {
            object.insert("dataJson".into(), Value::String(data.to_string()));
        }
        object.insert("id".into(), json!(event.id));
        object.insert(
            "sortKey".into(),
            json!(format!("{}\u{1}{}", fixed_width(event.occurred_date_time), event.id)),
        );
    }
    Ok(row)
}

/// An event from its stored row: its data from `dataJson`, or from `data` in rows written before
/// schema V7.
fn event_from_row(mut row: Value) -> StoreResult<Event> {
    if let Some(object) = row.as_object_mut()
        && let Some(Value::String(text)) = object.remove("dataJson")
    {
        let data: Value = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt { table: "event", message: e.to_string() })?;
        object.insert("data".into(), data);
    }
    decode("event", row)
}

/// Gives each event of one transaction that names a request (`data.requestId`, an approval
/// stage's event) the request as its request's own event in the transaction carries it
/// (`data.request`), so a subscriber reads it from the event as from any other.
fn with_requests(events: &mut [FeedEvent]) {
    if !events.iter().any(|e| e.event.data.get("requestId").is_some()) {
        return;
    }
    let requests: std::collections::HashMap<String, Value> = events
        .iter()
        .filter_map(|e| Some((e.event.subject_id.clone(), e.event.data.get("request")?.clone())))
        .collect();
    if requests.is_empty() {
        return;
    }
    for e in events.iter_mut() {
        let named = e.event.data.get("requestId").and_then(Value::as_str).map(str::to_owned);
        if let (Some(id), Some(object)) = (named, e.event.data.as_object_mut())
            && !object.contains_key("request")
            && let Some(request) = requests.get(&id)
        {
            object.insert("request".into(), request.clone());
        }
    }
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
    /// The event's position (see the module documentation): events replay in this order, and a
    /// reader resumes after it.
    pub cursor: u128,
    pub event: Event,
}

/// The cursor of the `index`th event (from 1) of the change set stamped `versionstamp`.
#[must_use]
pub fn cursor(versionstamp: u64, index: u32) -> u128 {
    (u128::from(versionstamp) << 32) | u128::from(index)
}

/// The versionstamp of the change set a cursor points into.
#[must_use]
pub fn versionstamp(cursor: u128) -> u64 {
    u64::try_from(cursor >> 32).unwrap_or(u64::MAX)
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
            conditions.push("<datetime> occurredDateTime >= <datetime> $from".to_owned());
            vars.insert("from".into(), json!(from));
        }
        if let Some(until) = &filter.until {
            conditions.push("<datetime> occurredDateTime < <datetime> $until".to_owned());
            vars.insert("until".into(), json!(until));
        }
        let rows: Page<Value> = self.page("event", &conditions, vars, page).await?;
        let items = rows
            .items
            .into_iter()
            .map(|(cursor, row)| Ok((cursor, event_from_row(row)?)))
            .collect::<StoreResult<_>>()?;
        Ok(Page { items, has_next: rows.has_next, total: rows.total })
    }

    /// Events committed after `cursor` (0 for all that the change feed still holds), in commit
    /// order, from at most `limit` transactions (at most 1,000).
    pub async fn events_since(&self, cursor: u128, limit: usize) -> StoreResult<Vec<FeedEvent>> {
        let mut out = Vec::new();
        for set in self.change_sets(versionstamp(cursor), limit).await? {
            let mut set_events = Vec::new();
            let stamp = set_stamp(&set)?;
            let changes = set.get("changes").and_then(Value::as_array).into_iter().flatten();
            for (index, change) in (1..).zip(changes) {
                let position = self::cursor(stamp, index);
                if position <= cursor {
                    continue;
                }
                let Some(mut row) = change.get("update").cloned() else { continue };
                if let Some(object) = row.as_object_mut()
                    && let Some(Value::String(id)) = object.get("id")
                {
                    let bare =
                        id.strip_prefix("event:").unwrap_or(id).trim_matches(['`', '⟨', '⟩']).to_owned();
                    object.insert("id".into(), Value::String(bare));
                }
                set_events.push(FeedEvent { cursor: position, event: event_from_row(row)? });
            }
            with_requests(&mut set_events);
            out.append(&mut set_events);
        }
        Ok(out)
    }

    /// A cursor at the end of the change feed: after every event it holds, before every event
    /// committed later (the end of the last change set; 0 for an empty feed).
    ///
    /// The change feed cannot be asked for its last entry, but its stamps are ordered, so this
    /// searches for the last stamp: about 60 reads of one change set each, however long the feed.
    pub async fn end_of_feed(&self) -> StoreResult<u128> {
        let Some(mut low) = self.first_stamp_from(0).await? else { return Ok(0) };
        // The feed has a change set at `low` and none at or after `high`.
        let mut high = u64::try_from(i64::MAX).unwrap_or(u64::MAX);
        if let Some(stamp) = self.first_stamp_from(high).await? {
            low = stamp;
            high = stamp.saturating_add(1);
        }
        while high.saturating_sub(low) > 1 {
            let middle = low + (high - low) / 2;
            match self.first_stamp_from(middle).await? {
                Some(stamp) => low = stamp,
                None => high = middle,
            }
        }
        Ok(self::cursor(low, u32::MAX))
    }

    /// The stamp of the first change set at or after `stamp`.
    async fn first_stamp_from(&self, stamp: u64) -> StoreResult<Option<u64>> {
        self.change_sets(stamp, 1).await?.first().map(set_stamp).transpose()
    }

    /// The raw change sets stamped `since` or later.
    async fn change_sets(&self, since: u64, limit: usize) -> StoreResult<Vec<Value>> {
        let sql = format!("SHOW CHANGES FOR TABLE event SINCE {since} LIMIT {};", limit.clamp(1, 1000));
        Ok(self.read(&sql, vars! {}).await?.0.take(0)?)
    }
}

fn set_stamp(set: &Value) -> StoreResult<u64> {
    set.get("versionstamp").and_then(Value::as_u64).ok_or_else(|| StoreError::Corrupt {
        table: "event",
        message: "a change set without a versionstamp".into(),
    })
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

    /// Schema V7 stores an event's data as JSON text in `dataJson`; an event written before, with
    /// `data` as an object, reads the same from the feed and from the audit trail.
    #[tokio::test]
    async fn event_data_reads_the_same_from_text_and_from_objects() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let data = json!({ "request": { "id": "r1", "answers": [{ "value": "x" }] }, "n": 2 });
        let new = event(1).with_data(data.clone());
        store.logged(vec![new]).transaction("LET $x = 1;", Map::new()).await.unwrap();
        let mut old = event_row(&event(2)).unwrap();
        old.as_object_mut().unwrap().insert("data".into(), data.clone());
        store.transaction("INSERT INTO event $old RETURN NONE;", vars! { "old" => old }).await.unwrap();
        let mut response =
            store.db.query("SELECT VALUE type::is_string(dataJson) FROM event ORDER BY id").await.unwrap();
        let text: Vec<bool> = response.take(0).unwrap();
        assert_eq!(text, [true, false], "the new event holds text, the old one an object");

        let fed: Vec<Value> =
            store.events_since(0, 100).await.unwrap().into_iter().map(|f| f.event.data).collect();
        assert_eq!(fed, [data.clone(), data.clone()]);
        let page =
            store.events(&EventFilter::default(), &PageRequest { after: None, first: 10 }).await.unwrap();
        let listed: Vec<Value> = page.items.into_iter().map(|(_, e)| e.data).collect();
        assert_eq!(listed, [data.clone(), data]);
    }

    #[tokio::test]
    async fn a_reader_resumes_between_the_events_of_one_transaction() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let end = store.end_of_feed().await.unwrap();
        assert!(store.events_since(end, 100).await.unwrap().is_empty(), "no event yet");
        store
            .logged(vec![event(0), event(1), event(2)])
            .transaction("LET $x = 1;", Map::new())
            .await
            .unwrap();
        store.logged(vec![event(3)]).transaction("LET $x = 1;", Map::new()).await.unwrap();
        let all = store.events_since(0, 100).await.unwrap();
        assert_eq!(all.len(), 4);
        assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor), "cursors are distinct and ordered");
        assert_eq!(versionstamp(all[0].cursor), versionstamp(all[2].cursor), "one transaction, one stamp");
        for (i, seen) in all.iter().enumerate() {
            let rest = store.events_since(seen.cursor, 100).await.unwrap();
            let ids: Vec<_> = rest.iter().map(|f| f.event.id.clone()).collect();
            let expected: Vec<_> = all[i + 1..].iter().map(|f| f.event.id.clone()).collect();
            assert_eq!(ids, expected, "after the event at {i}");
        }
        let end = store.end_of_feed().await.unwrap();
        assert!(end >= all[3].cursor && store.events_since(end, 100).await.unwrap().is_empty());
        store.logged(vec![event(4)]).transaction("LET $x = 1;", Map::new()).await.unwrap();
        let ids: Vec<_> =
            store.events_since(end, 100).await.unwrap().into_iter().map(|f| f.event.id).collect();
        assert_eq!(ids, ["e4"], "the end of the feed is before every later event");
    }
}

#[cfg(test)]
mod time_tests {
    use chrono::{TimeZone, Utc};

    use super::fixed_width;

    #[test]
    fn audit_keys_sort_as_their_times() {
        let a = Utc.timestamp_opt(1_700_000_000, 400_000_000).single().unwrap_or_default();
        let b = Utc.timestamp_opt(1_700_000_000, 410_000_001).single().unwrap_or_default();
        assert!(fixed_width(a) < fixed_width(b));
        assert_eq!(fixed_width(a).len(), fixed_width(b).len());
    }
}

#[cfg(test)]
mod filter_tests {
    use chrono::{TimeDelta, TimeZone, Utc};
    use em_engine::Actor;

    use super::*;
    use crate::store::StoreConfig;

    #[tokio::test]
    async fn the_audit_trail_filters_by_time_in_time_order() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let start = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default();
        // Fractions of different lengths, which a plain text comparison of RFC 3339 would misorder.
        for (n, micros) in [(0, 400_000), (1, 410_000), (2, 2_000_001)] {
            let at = start + TimeDelta::microseconds(micros);
            let event = Event::new(format!("t{n}"), "test.timed", &Actor::System, at, "Test", "s");
            store.logged(vec![event]).transaction("LET $x = 1;", Map::new()).await.unwrap();
        }
        let all = PageRequest { after: None, first: 10 };
        let page = store.events(&EventFilter::default(), &all).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|(_, e)| e.id.as_str()).collect();
        assert_eq!(ids, ["t0", "t1", "t2"]);
        let from = (start + TimeDelta::microseconds(410_000)).to_rfc3339();
        let until = (start + TimeDelta::seconds(2)).to_rfc3339();
        let filter = EventFilter { from: Some(from), until: Some(until), ..EventFilter::default() };
        let page = store.events(&filter, &all).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|(_, e)| e.id.as_str()).collect();
        assert_eq!(ids, ["t1"]);
    }
}
