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
use em_engine::id::{AccessPackageId, CatalogId, UserId};
use serde_json::{Map, Value, json};

use super::{Page, PageRequest, Store, StoreError, StoreResult};
use crate::vars;

/// A time as text that sorts as the time does: UTC, always nine fractional digits.
fn fixed_width(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The most events one record holds: a transaction that writes more (a bulk change) writes
/// several records.
const RECORD_EVENTS: usize = 256;

/// The records a transaction writes its events as: each holds up to
/// [`RECORD_EVENTS`] of them, in order, as their JSON text packed ([`pack`], in `eventsGz`), with
/// the ids the audit trail filters on, the earliest time (in `sortKey`, which orders the trail)
/// and the latest (`lastAt`). The record's id is its first event's.
pub(crate) fn event_records(events: &[Event]) -> StoreResult<Vec<Value>> {
    events.chunks(RECORD_EVENTS).map(event_record).collect()
}

fn event_record(events: &[Event]) -> StoreResult<Value> {
    let (Some(first), Some(earliest), Some(latest)) = (
        events.first(),
        events.iter().map(|e| e.occurred_date_time).min(),
        events.iter().map(|e| e.occurred_date_time).max(),
    ) else {
        return Err(StoreError::Backend("an event record needs an event".into()));
    };
    let keys: std::collections::BTreeSet<String> = events.iter().flat_map(event_keys).collect();
    let text = serde_json::to_string(events).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(json!({
        "id": first.id,
        "sortKey": format!("{}\u{1}{}", fixed_width(earliest), first.id),
        "lastAt": fixed_width(latest),
        "keys": keys,
        "n": events.len(),
        "eventsGz": pack(&text)?,
    }))
}

/// For each request whose creation event (with the request in `data.request`) is among `events`,
/// the id of the record [`event_records`] writes that event in, by request id.
pub(crate) fn creation_records(events: &[Event]) -> std::collections::HashMap<&str, &str> {
    events
        .chunks(RECORD_EVENTS)
        .flat_map(|chunk| {
            let record = chunk.first().map(|e| e.id.as_str()).unwrap_or_default();
            chunk
                .iter()
                .filter(|e| {
                    e.kind == em_engine::event::EventKind::RequestCreated && e.data.get("request").is_some()
                })
                .map(move |e| (e.subject_id.as_str(), record))
        })
        .collect()
}

/// The requests created by the events of one stored record, by request id: the document each
/// creation event holds (`data.request`).
pub(crate) fn created_requests(row: &Value) -> StoreResult<std::collections::HashMap<String, Value>> {
    Ok(events_of_record(row)?
        .into_iter()
        .filter(|e| e.kind == em_engine::event::EventKind::RequestCreated)
        .filter_map(|mut e| Some((e.subject_id, e.data.get_mut("request")?.take())))
        .collect())
}

/// Events' JSON text as stored: deflated (at the fastest level) and in base64. A record is
/// written twice, in the table and in its change feed, and a bulk change's events repeat the same
/// shape hundreds of times: packed, they take about a fourteenth of the bytes, which the store
/// otherwise copies through its log, memtable and files (`benches/README.md`, "Events packed").
fn pack(text: &str) -> StoreResult<String> {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::with_capacity(text.len() / 8), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).map_err(|e| StoreError::Backend(e.to_string()))?;
    let packed = encoder.finish().map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(packed))
}

/// The JSON text [`pack`] packed.
fn unpack(packed: &str) -> Result<String, String> {
    use base64::Engine as _;
    use std::io::Read as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(packed).map_err(|e| e.to_string())?;
    let mut text = String::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(text)
}

/// The ids an event is found by, each named by what it is: `subject:<id>`, `actor:<id>`, ...
fn event_keys(event: &Event) -> impl Iterator<Item = String> + '_ {
    [
        ("subject", Some(event.subject_id.as_str())),
        ("actor", event.actor_id.as_deref()),
        ("catalog", event.catalog_id.as_deref()),
        ("package", event.access_package_id.as_deref()),
        ("target", event.target_id.as_deref()),
    ]
    .into_iter()
    .filter_map(|(kind, id)| Some(format!("{kind}:{}", id?)))
}

/// The events of one stored record, in order.
/// Records written before events were packed hold the text as it is, in `eventsJson`.
fn events_of_record(row: &Value) -> StoreResult<Vec<Event>> {
    let corrupt = |message: String| StoreError::Corrupt { table: "event", message };
    let text =
        match (row.get("eventsGz").and_then(Value::as_str), row.get("eventsJson").and_then(Value::as_str)) {
            (Some(packed), _) => std::borrow::Cow::Owned(unpack(packed).map_err(corrupt)?),
            (None, Some(text)) => std::borrow::Cow::Borrowed(text),
            (None, None) => return Err(corrupt("a record without events".into())),
        };
    serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))
}

/// Whether a row is a record of events (either form), not an event written before schema V9.
fn holds_events(row: &Value) -> bool {
    row.get("eventsGz").is_some() || row.get("eventsJson").is_some()
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
    pub actor_id: Option<UserId>,
    pub subject_id: Option<String>,
    pub catalog_id: Option<CatalogId>,
    pub access_package_id: Option<AccessPackageId>,
    pub target_id: Option<String>,
    /// Inclusive lower and exclusive upper bounds of `occurredDateTime` (RFC 3339).
    pub from: Option<String>,
    pub until: Option<String>,
}

/// Records the audit trail reads at a time.
const CHUNK: usize = 32;

/// Which events a reader may see (the read path decides); `None` reads every event.
pub type Sees<'a> = Option<&'a (dyn Fn(&Event) -> bool + Sync)>;

/// An [`EventFilter`] ready to test events, and to select the records that may hold them.
struct Wanted<'a> {
    filter: &'a EventFilter,
    sees: Sees<'a>,
    from: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> Wanted<'a> {
    fn new(filter: &'a EventFilter, sees: Sees<'a>) -> StoreResult<Self> {
        let time = |text: &Option<String>, field: &str| {
            text.as_deref()
                .map(|t| {
                    chrono::DateTime::parse_from_rfc3339(t).map(|t| t.to_utc()).map_err(|_| {
                        StoreError::Domain(em_engine::DomainError::invalid(
                            field,
                            format!("`{t}` is not a time"),
                        ))
                    })
                })
                .transpose()
        };
        Ok(Self { filter, sees, from: time(&filter.from, "from")?, until: time(&filter.until, "until")? })
    }

    fn ids(&self) -> [(&'static str, Option<&'a str>); 5] {
        let f = self.filter;
        [
            ("subject", f.subject_id.as_deref()),
            ("actor", f.actor_id.as_deref()),
            ("catalog", f.catalog_id.as_deref()),
            ("package", f.access_package_id.as_deref()),
            ("target", f.target_id.as_deref()),
        ]
    }

    fn is_everything(&self) -> bool {
        self.sees.is_none()
            && self.ids().iter().all(|(_, id)| id.is_none())
            && self.filter.kind.is_none()
            && self.from.is_none()
            && self.until.is_none()
    }

    /// Conditions that every record holding a wanted event meets (and some others): it has the
    /// ids among its `keys` and its time span overlaps the times asked for.
    fn conditions(&self) -> (Vec<String>, Map<String, Value>) {
        let mut conditions = Vec::new();
        let mut vars = Map::new();
        for (kind, id) in self.ids() {
            if let Some(id) = id {
                conditions.push(format!("keys CONTAINS ${kind}"));
                vars.insert(kind.to_owned(), json!(format!("{kind}:{id}")));
            }
        }
        // A record's sort key starts with its earliest time, fixed-width, and `lastAt` is its
        // latest.
        if let Some(from) = self.from {
            conditions.push("lastAt >= $fromKey".to_owned());
            vars.insert("fromKey".into(), json!(fixed_width(from)));
        }
        if let Some(until) = self.until {
            conditions.push("sortKey < $untilKey".to_owned());
            vars.insert("untilKey".into(), json!(fixed_width(until)));
        }
        (conditions, vars)
    }

    fn matches(&self, event: &Event) -> bool {
        let f = self.filter;
        let same =
            |wanted: &Option<String>, have: Option<&String>| wanted.as_ref().is_none_or(|w| have == Some(w));
        f.kind.as_ref().is_none_or(|k| event.kind.starts_with(k.as_str()))
            && same(&f.subject_id, Some(&event.subject_id))
            && f.actor_id.as_ref().is_none_or(|w| event.actor_id.as_ref() == Some(w))
            && f.catalog_id.as_ref().is_none_or(|w| event.catalog_id.as_ref() == Some(w))
            && f.access_package_id.as_ref().is_none_or(|w| event.access_package_id.as_ref() == Some(w))
            && same(&f.target_id, event.target_id.as_ref())
            && self.from.is_none_or(|from| event.occurred_date_time >= from)
            && self.until.is_none_or(|until| event.occurred_date_time < until)
            && self.sees.is_none_or(|sees| sees(event))
    }
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
    /// Schema V24's data step: every event record that still holds its events as plain JSON
    /// text (`eventsJson`) is rewritten packed, 500 a transaction, and marked `migrated` so the
    /// feed passes over the change (the events were published when first written). Idempotent:
    /// a step cut short is taken up where it stopped.
    pub(crate) async fn pack_plain_event_records(&self) -> StoreResult<usize> {
        let mut packed = 0;
        loop {
            let mut response = self
                .db
                .query(
                    "SELECT record::id(id) AS id, eventsJson FROM event WHERE eventsJson != NONE LIMIT 500;",
                )
                .await?
                .check()?;
            let rows: Vec<Value> = response.take(0)?;
            if rows.is_empty() {
                return Ok(packed);
            }
            let mut rewritten = Vec::with_capacity(rows.len());
            for row in &rows {
                let text = row.get("eventsJson").and_then(Value::as_str).unwrap_or("[]");
                rewritten.push(json!({ "id": row.get("id"), "gz": pack(text)? }));
            }
            self.db
                .query(
                    "BEGIN;
                     FOR $r IN $rows {
                         UPDATE type::record('event', $r.id) SET eventsGz = $r.gz, eventsJson = NONE, migrated = true RETURN NONE;
                     };
                     COMMIT;",
                )
                .bind(("rows", Value::Array(rewritten)))
                .await?
                .check()?;
            packed += rows.len();
        }
    }

    /// The audit trail, oldest first: records in the order of their sort keys, the events of one
    /// record in the order they were written. A cursor names a record and an event in it.
    pub async fn events(
        &self,
        filter: &EventFilter,
        sees: Sees<'_>,
        page: &PageRequest,
    ) -> StoreResult<Page<Event>> {
        let wanted = Wanted::new(filter, sees)?;
        let (conditions, mut vars) = wanted.conditions();
        let filter = if conditions.is_empty() { "true".to_owned() } else { conditions.join(" AND ") };
        let total = self.count_events(&wanted, &filter, &vars).await?;
        // `<record sort key>\u{2}<place in the record>`.
        let (mut from, mut skip) = match page.after.as_deref() {
            None => (String::new(), None),
            Some(after) => {
                let place = after
                    .split_once('\u{2}')
                    .and_then(|(key, place)| Some((key, place.parse::<usize>().ok()?)));
                let Some((key, place)) = place else {
                    return Err(StoreError::Domain(em_engine::DomainError::invalid(
                        "after",
                        "not a cursor of the audit trail",
                    )));
                };
                (key.to_owned(), Some(place))
            }
        };
        vars.insert("chunk".into(), json!(CHUNK));
        let mut items = Vec::new();
        'records: loop {
            // The record the cursor points into is read again, for the events after it.
            let after = if skip.is_some() { ">=" } else { ">" };
            vars.insert("from".into(), Value::String(from.clone()));
            let sql = format!(
                "SELECT *, record::id(id) AS id FROM event WHERE ({filter}) AND sortKey {after} $from
                     ORDER BY sortKey LIMIT $chunk;"
            );
            let rows: Vec<Value> = self.read(&sql, vars.clone()).await?.rows(0, "event")?;
            let read = rows.len();
            for row in rows {
                let key = row.get("sortKey").and_then(Value::as_str).unwrap_or_default().to_owned();
                let first = match skip.take() {
                    Some(place) if key == from => place.saturating_add(1),
                    _ => 0,
                };
                for (place, event) in events_of_record(&row)?.into_iter().enumerate().skip(first) {
                    if wanted.matches(&event) {
                        items.push((format!("{key}\u{2}{place}"), event));
                        if items.len() > page.first {
                            break 'records;
                        }
                    }
                }
                from = key;
            }
            if read < CHUNK {
                break;
            }
        }
        let has_next = items.len() > page.first;
        items.truncate(page.first);
        Ok(Page { items, has_next, total })
    }

    /// How many events match: every event of the records the conditions select is checked; with
    /// no filter, the records' counts are added up.
    async fn count_events(
        &self,
        wanted: &Wanted<'_>,
        filter: &str,
        vars: &Map<String, Value>,
    ) -> StoreResult<usize> {
        if wanted.is_everything() {
            let sql = "RETURN math::sum(SELECT VALUE n FROM event);";
            let n = self.read(sql, Map::new()).await?.value(0)?.as_u64().unwrap_or(0);
            return Ok(usize::try_from(n).unwrap_or(usize::MAX));
        }
        let sql = format!("SELECT * FROM event WHERE {filter};");
        let rows: Vec<Value> = self.read(&sql, vars.clone()).await?.rows(0, "event")?;
        let mut total = 0;
        for row in rows {
            total += events_of_record(&row)?.iter().filter(|e| wanted.matches(e)).count();
        }
        Ok(total)
    }

    /// Events committed after `cursor` (0 for all that the change feed still holds), in commit
    /// order, from at most `limit` transactions (at most 1,000).
    pub async fn events_since(&self, cursor: u128, limit: usize) -> StoreResult<Vec<FeedEvent>> {
        let mut out = Vec::new();
        for set in self.change_sets(versionstamp(cursor), limit).await? {
            let mut set_events = Vec::new();
            let stamp = set_stamp(&set)?;
            let changes = set.get("changes").and_then(Value::as_array).into_iter().flatten();
            // Each event of the set has the next place, from 1: a record of a transaction's
            // events one per event, any other change one. A record rewritten by a migration is
            // not news, nor is an event written before schema V9 (see `schema::V15`).
            let mut place = 0u32;
            for change in changes {
                let row =
                    change.get("update").filter(|row| holds_events(row) && row.get("migrated").is_none());
                let Some(row) = row else {
                    place += 1;
                    continue;
                };
                for event in events_of_record(row)? {
                    place += 1;
                    let position = self::cursor(stamp, place);
                    if position > cursor {
                        set_events.push(FeedEvent { cursor: position, event });
                    }
                }
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
    /// How far the e-mail notifier has read the feed, once it has started.
    pub async fn notifier_cursor(&self) -> StoreResult<Option<u128>> {
        let mut response = self.read("RETURN notifier:cursor.at;", crate::vars! {}).await?;
        Ok(response.value(0)?.as_str().and_then(|s| s.parse().ok()))
    }

    /// Records how far the e-mail notifier has read the feed.
    pub async fn save_notifier_cursor(&self, cursor: u128) -> StoreResult<()> {
        self.untracked()
            .transaction(
                "UPSERT notifier:cursor SET at = $at RETURN NONE;",
                crate::vars! { "at" => cursor.to_string() },
            )
            .await?;
        Ok(())
    }

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
            em_engine::event::EventKind::UserUpdated,
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
                None,
                &PageRequest { after: None, first: 10, count: true },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 1);
    }

    /// The feed passes over a record that a migration rewrote and over an event recorded in the
    /// form before schema V9 (their events were published when first written); the audit trail
    /// reads the rewritten record as any other.
    #[tokio::test]
    async fn the_feed_passes_over_migrated_records() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let data = json!({ "request": { "id": "r1" } });
        let mut migrated = event_records(&[event(1).with_data(data.clone())]).unwrap().remove(0);
        migrated.as_object_mut().unwrap().insert("migrated".into(), json!(true));
        let old = json!({ "id": "e2", "kind": "user.updated", "subjectId": "s2", "sortKey": "0\u{1}e2" });
        store
            .transaction(
                "INSERT INTO event [$migrated, $old] RETURN NONE;",
                vars! { "migrated" => migrated, "old" => old },
            )
            .await
            .unwrap();
        store
            .logged(vec![event(3).with_data(data.clone())])
            .transaction("LET $x = 1;", Map::new())
            .await
            .unwrap();
        let fed = store.events_since(0, 100).await.unwrap();
        let ids: Vec<&str> = fed.iter().map(|f| f.event.id.as_str()).collect();
        assert_eq!(ids, ["e3"]);
        store.transaction("DELETE event:e2;", Map::new()).await.unwrap();
        let page = store
            .events(&EventFilter::default(), None, &PageRequest { after: None, first: 10, count: true })
            .await
            .unwrap();
        let listed: Vec<(&str, &Value)> = page.items.iter().map(|(_, e)| (e.id.as_str(), &e.data)).collect();
        assert_eq!(listed, [("e1", &data), ("e3", &data)]);
        assert_eq!(page.total, 2);
    }

    fn about(n: u32, subject: &str, catalog: Option<&str>) -> Event {
        let mut e = event(n);
        e.subject_id = subject.to_owned();
        e.catalog_id = catalog.map(Into::into);
        e
    }

    /// The audit trail pages through the events of a record one by one, filters each of them,
    /// counts only those that match, and refuses a cursor it did not issue.
    #[tokio::test]
    async fn the_audit_trail_pages_and_filters_inside_records() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let one = vec![about(0, "s1", Some("c1")), about(1, "s2", Some("c1")), about(2, "s1", Some("c2"))];
        store.logged(one).transaction("LET $x = 1;", Map::new()).await.unwrap();
        store.logged(vec![about(3, "s1", None)]).transaction("LET $x = 1;", Map::new()).await.unwrap();
        store.logged(vec![about(4, "s1", Some("c1"))]).transaction("LET $x = 1;", Map::new()).await.unwrap();

        let pages = |filter: EventFilter, first: usize| {
            let store = store.clone();
            async move {
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let page = store
                        .events(&filter, None, &PageRequest { after: after.clone(), first, count: true })
                        .await
                        .unwrap();
                    seen.push((page.items.iter().map(|(_, e)| e.id.clone()).collect::<Vec<_>>(), page.total));
                    if !page.has_next {
                        return seen;
                    }
                    after = page.items.last().map(|(cursor, _)| cursor.clone());
                }
            }
        };
        let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            pages(EventFilter::default(), 2).await,
            [(ids(&["e0", "e1"]), 5), (ids(&["e2", "e3"]), 5), (ids(&["e4"]), 5)]
        );
        let subject = EventFilter { subject_id: Some("s1".into()), ..EventFilter::default() };
        assert_eq!(
            pages(subject, 1).await,
            [(ids(&["e0"]), 4), (ids(&["e2"]), 4), (ids(&["e3"]), 4), (ids(&["e4"]), 4)]
        );
        let catalog = EventFilter { catalog_id: Some("c1".into()), ..EventFilter::default() };
        assert_eq!(pages(catalog, 10).await, [(ids(&["e0", "e1", "e4"]), 3)]);
        let both = EventFilter {
            subject_id: Some("s1".into()),
            catalog_id: Some("c2".into()),
            kind: Some("user.".into()),
            ..EventFilter::default()
        };
        assert_eq!(pages(both, 10).await, [(ids(&["e2"]), 1)]);
        let none = EventFilter { kind: Some("catalog.".into()), ..EventFilter::default() };
        assert_eq!(pages(none, 10).await, [(ids(&[]), 0)]);

        let first = store
            .events(&EventFilter::default(), None, &PageRequest { after: None, first: 1, count: true })
            .await
            .unwrap();
        let record = first.items[0].0.split_once('\u{2}').unwrap().0.to_owned();
        let refused = store
            .events(
                &EventFilter::default(),
                None,
                &PageRequest { after: Some(record), first: 10, count: true },
            )
            .await;
        assert!(matches!(refused, Err(StoreError::Domain(_))), "a record's sort key alone is not a cursor");
    }

    /// Events are written packed; a record of the form before, beside them, is read by the feed
    /// and the audit trail alike, and schema V24's data step packs it without publishing it again.
    #[tokio::test]
    async fn events_are_stored_packed_and_records_of_either_form_are_read() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let many: Vec<Event> = (0..200).map(event).collect();
        store.logged(many).transaction("LET $x = 1;", Map::new()).await.unwrap();
        let row: Value =
            store.read("SELECT * FROM ONLY event LIMIT 1;", Map::new()).await.unwrap().value(0).unwrap();
        let packed = row["eventsGz"].as_str().unwrap();
        assert!(row.get("eventsJson").is_none());
        let text = serde_json::to_string(&(0..200).map(event).collect::<Vec<_>>()).unwrap();
        assert!(packed.len() * 5 < text.len(), "{} bytes packed from {}", packed.len(), text.len());
        assert_eq!(unpack(packed).unwrap(), text);
        // A record written before events were packed, beside it: the feed and the trail read both.
        let legacy = serde_json::to_string(&[event(500)]).unwrap();
        store
            .logged(Vec::new())
            .transaction(
                "CREATE event:e500 CONTENT { sortKey: '9', lastAt: '9', keys: ['subject:s500'], n: 1, eventsJson: $t };",
                vars! { "t" => legacy },
            )
            .await
            .unwrap();
        let trail = store
            .events(&EventFilter::default(), None, &PageRequest { first: 500, after: None, count: false })
            .await
            .unwrap();
        assert_eq!(trail.items.len(), 201);
        assert_eq!(trail.items.last().map(|(_, e)| e.id.as_str()), Some("e500"));
        let fed: Vec<String> =
            store.events_since(0, 100).await.unwrap().into_iter().map(|f| f.event.id).collect();
        assert_eq!(fed.len(), 201);
        assert_eq!(fed.last().map(String::as_str), Some("e500"));
        assert!(unpack("not base64!").is_err());

        // Schema V24's data step packs it; the feed does not publish it again, the trail reads it.
        assert_eq!(store.pack_plain_event_records().await.unwrap(), 1);
        assert_eq!(store.pack_plain_event_records().await.unwrap(), 0);
        let row: Value = store.read("RETURN event:e500.*;", Map::new()).await.unwrap().value(0).unwrap();
        assert!(row.get("eventsJson").is_none() && row["migrated"] == json!(true));
        assert_eq!(events_of_record(&row).unwrap()[0].id, "e500");
        let fed_after: Vec<String> =
            store.events_since(0, 100).await.unwrap().into_iter().map(|f| f.event.id).collect();
        assert_eq!(fed_after, fed);
        let trail = store
            .events(&EventFilter::default(), None, &PageRequest { first: 500, after: None, count: false })
            .await
            .unwrap();
        assert_eq!(trail.items.len(), 201);
    }

    /// A transaction with more events than one record holds writes several; the feed and the
    /// audit trail give them all, in order, each once.
    #[tokio::test]
    async fn a_large_transaction_writes_several_records() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let n = u32::try_from(RECORD_EVENTS).unwrap() + 44;
        let events: Vec<Event> = (0..n).map(|i| event(10_000 + i)).collect();
        store.logged(events.clone()).transaction("LET $x = 1;", Map::new()).await.unwrap();
        let mut response = store.db.query("SELECT VALUE n FROM event ORDER BY sortKey").await.unwrap();
        let sizes: Vec<usize> = response.take(0).unwrap();
        assert_eq!(sizes, [RECORD_EVENTS, 44]);
        let expected: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let fed = store.events_since(0, 100).await.unwrap();
        assert_eq!(fed.iter().map(|f| f.event.id.as_str()).collect::<Vec<_>>(), expected);
        assert!(fed.windows(2).all(|w| w[0].cursor < w[1].cursor));
        let page = store
            .events(&EventFilter::default(), None, &PageRequest { after: None, first: 500, count: true })
            .await
            .unwrap();
        assert_eq!(page.items.iter().map(|(_, e)| e.id.as_str()).collect::<Vec<_>>(), expected);
        assert_eq!(page.total, expected.len());
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
            let event = Event::new(
                format!("t{n}"),
                em_engine::event::EventKind::UserUpdated,
                &Actor::System,
                at,
                "Test",
                "s",
            );
            store.logged(vec![event]).transaction("LET $x = 1;", Map::new()).await.unwrap();
        }
        let all = PageRequest { after: None, first: 10, count: true };
        let page = store.events(&EventFilter::default(), None, &all).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|(_, e)| e.id.as_str()).collect();
        assert_eq!(ids, ["t0", "t1", "t2"]);
        let from = (start + TimeDelta::microseconds(410_000)).to_rfc3339();
        let until = (start + TimeDelta::seconds(2)).to_rfc3339();
        let filter = EventFilter { from: Some(from), until: Some(until), ..EventFilter::default() };
        let page = store.events(&filter, None, &all).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|(_, e)| e.id.as_str()).collect();
        assert_eq!(ids, ["t1"]);
    }

    /// One transaction's events at different times are one record: a time filter takes those
    /// inside it, and only those.
    #[tokio::test]
    async fn time_filters_test_each_event_of_a_record() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let start = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default();
        let events: Vec<Event> = [0, 10, 20]
            .into_iter()
            .map(|s| {
                let at = start + TimeDelta::seconds(s);
                Event::new(
                    format!("t{s}"),
                    em_engine::event::EventKind::UserUpdated,
                    &Actor::System,
                    at,
                    "Test",
                    "s",
                )
            })
            .collect();
        store.logged(events).transaction("LET $x = 1;", Map::new()).await.unwrap();
        let all = PageRequest { after: None, first: 10, count: true };
        let at = |s: i64| Some((start + TimeDelta::seconds(s)).to_rfc3339());
        for (from, until, expected) in [
            (at(5), None, vec!["t10", "t20"]),
            (None, at(10), vec!["t0"]),
            (at(10), at(11), vec!["t10"]),
            (at(21), None, vec![]),
        ] {
            let filter = EventFilter { from: from.clone(), until: until.clone(), ..EventFilter::default() };
            let page = store.events(&filter, None, &all).await.unwrap();
            let ids: Vec<_> = page.items.iter().map(|(_, e)| e.id.as_str()).collect();
            assert_eq!(ids, expected, "from {from:?} until {until:?}");
            assert_eq!(page.total, expected.len());
        }
    }
}
