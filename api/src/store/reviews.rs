//! Access reviews in the store (schema V18): `access_review` (instances, by policy and start),
//! `access_review_item` (decision items, by instance, with a `version`), and
//! `review_assignment:[reviewer, item]`, what each reviewer has to decide while the review is
//! open (each row holding the item, written with it), read as one key range. A policy's review timers are its `timer_set` row
//! (`<policy id>#review`, owner `review`); every write of them checks they are still the ones the
//! change was decided on.

use em_engine::event::Event;
use em_engine::id::PolicyId;
use em_engine::request::change::TimerOwner;
use em_engine::review::{AccessReviewDecisionItem, AccessReviewInstance};
use em_engine::timer::Timer;
use serde::Deserialize;
use serde_json::{Value, json};

use super::requests::{document_text, time_key, timer_set_fields, timer_set_row, with_id};
use super::{Page, PageRequest, Store, StoreResult, content, sort_key, throw_stale};
use crate::vars;

/// A decision item as stored, with its version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ItemRecord")]
pub struct StoredItem {
    pub item: AccessReviewDecisionItem,
    pub version: u64,
}

/// An item's row: `instanceId`, `sortKey`, `version` and `item` (the document as JSON text,
/// which reads back several times faster than the same document as SurrealDB values).
#[derive(Deserialize)]
struct ItemRecord {
    id: String,
    version: i64,
    item: Value,
}

impl TryFrom<ItemRecord> for StoredItem {
    type Error = serde_json::Error;

    fn try_from(record: ItemRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            item: with_id(record.item, record.id)?,
            version: u64::try_from(record.version).unwrap_or(0),
        })
    }
}

/// The owner id of a policy's review timers.
#[must_use]
pub fn timer_owner(policy_id: &PolicyId) -> String {
    format!("{policy_id}#review")
}

fn instance_row(instance: &AccessReviewInstance) -> StoreResult<Value> {
    let mut row = content(instance)?;
    if let Some(object) = row.as_object_mut() {
        object.insert(
            "sortKey".into(),
            json!(format!("{}\u{1}{}", time_key(instance.start_date_time), instance.id)),
        );
    }
    Ok(row)
}

fn item_row(item: &AccessReviewDecisionItem, version: u64) -> StoreResult<Value> {
    let name = item.principal_display_name.as_deref().unwrap_or("");
    Ok(json!({
        "id": item.id,
        "instanceId": item.instance_id,
        "sortKey": sort_key(name, &item.id),
        "version": version,
        "item": document_text(item)?,
    }))
}

/// The `review_assignment` record ids of an item: one per reviewer.
fn reviewer_keys(item: &AccessReviewDecisionItem) -> Vec<Value> {
    item.reviewers.iter().map(|r| json!([r.id, item.id])).collect()
}

/// An item's rows for its reviewers: each holds the item as its own row does, so a reviewer's
/// items are one key range, read without fetching the items one by one.
fn reviewer_rows(item: &AccessReviewDecisionItem, version: u64) -> StoreResult<Vec<Value>> {
    let row = item_row(item, version)?;
    Ok(reviewer_keys(item)
        .into_iter()
        .map(|key| {
            let mut row = row.clone();
            row["id"] = key;
            row
        })
        .collect())
}

/// The guard that a policy's review timers are still `expected`.
fn timers_guard() -> String {
    format!(
        "IF (type::record('timer_set', $owner).timers ?? []) != $expected {{ {stale} }};",
        stale = throw_stale()
    )
}

fn timer_vars(policy_id: &PolicyId, expected: &[Timer], timers: &[Timer]) -> StoreResult<(Value, Value)> {
    let (_, expected) = timer_set_fields(expected)?;
    let row = timer_set_row(TimerOwner::Review, &timer_owner(policy_id), &policy_id.as_str().into(), timers)?;
    Ok((expected, row))
}

const WRITE_TIMERS: &str = "UPSERT type::record('timer_set', $owner) CONTENT $timerRow RETURN NONE;";

impl Store {
    pub async fn access_review(&self, id: &str) -> StoreResult<Option<AccessReviewInstance>> {
        self.get("access_review", id).await
    }

    /// A policy's reviews, oldest first.
    pub async fn access_reviews_of_policy(
        &self,
        policy_id: &PolicyId,
        page: &PageRequest,
    ) -> StoreResult<Page<AccessReviewInstance>> {
        self.page("access_review", &["policyId = $policy".to_owned()], vars! { "policy" => policy_id }, page)
            .await
    }

    /// A review's items, by assignee name.
    pub async fn review_items(&self, instance_id: &str, page: &PageRequest) -> StoreResult<Page<StoredItem>> {
        self.page(
            "access_review_item",
            &["instanceId = $instance".to_owned()],
            vars! { "instance" => instance_id },
            page,
        )
        .await
    }

    pub async fn review_items_by_ids(&self, ids: &[String]) -> StoreResult<Vec<StoredItem>> {
        self.get_many("access_review_item", ids).await
    }

    /// The items `reviewer` has to decide in the reviews open now (in `instance` only, when
    /// given), by assignee name.
    pub async fn items_for_reviewer(
        &self,
        reviewer: &str,
        instance: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<StoredItem>> {
        let sql = if instance.is_some() {
            "SELECT record::id(id)[1] AS id, version, sortKey, item FROM review_assignment:[$reviewer, NONE]..[$reviewer, {}]
                 WHERE instanceId = $instance;"
        } else {
            "SELECT record::id(id)[1] AS id, version, sortKey, item FROM review_assignment:[$reviewer, NONE]..[$reviewer, {}];"
        };
        let mut rows: Vec<Value> = self
            .read(sql, vars! { "reviewer" => reviewer, "instance" => instance.unwrap_or_default() })
            .await?
            .rows(0, "review_assignment")?;
        let key = |row: &Value| row.get("sortKey").and_then(Value::as_str).unwrap_or_default().to_owned();
        rows.sort_by_cached_key(key);
        let total = rows.len();
        let after = page.after.clone().unwrap_or_default();
        let rows: Vec<Value> = rows.into_iter().filter(|row| key(row) > after).take(page.first + 1).collect();
        super::paged("review_assignment", rows, total, page)
    }

    /// Whether `reviewer` has items in the review `instance_id` (while it is open).
    pub async fn reviews_in(&self, reviewer: &str, instance_id: &str) -> StoreResult<bool> {
        let mut response = self
            .read(
                "SELECT VALUE true FROM review_assignment:[$reviewer, NONE]..[$reviewer, {}]
                     WHERE instanceId = $instance LIMIT 1;",
                vars! { "reviewer" => reviewer, "instance" => instance_id },
            )
            .await?;
        let found: Vec<Value> = response.rows(0, "review_assignment")?;
        Ok(!found.is_empty())
    }

    /// A policy's review timers.
    pub async fn review_timers(&self, policy_id: &PolicyId) -> StoreResult<Vec<Timer>> {
        let read = self
            .read(
                "RETURN { timers: type::record('timer_set', $owner).timers ?? [] };",
                vars! { "owner" => timer_owner(policy_id) },
            )
            .await?
            .value(0)?;
        super::decode("timer_set", read.get("timers").cloned().unwrap_or(Value::Array(Vec::new())))
    }

    /// Replaces a policy's review timers `expected` with `timers` (stale when they moved).
    pub async fn set_review_timers(
        &self,
        policy_id: &PolicyId,
        expected: &[Timer],
        timers: &[Timer],
        events: Vec<Event>,
    ) -> StoreResult<()> {
        let (expected, row) = timer_vars(policy_id, expected, timers)?;
        let body = format!("{}\n{WRITE_TIMERS}", timers_guard());
        let vars = vars! { "owner" => timer_owner(policy_id), "expected" => expected, "timerRow" => row };
        self.logged(events).untracked().transaction(&body, vars).await?;
        Ok(())
    }

    /// Starts a review: the instance, its items and what each reviewer has to decide, in one
    /// transaction with the policy's timers after it (stale when the review exists or the
    /// timers moved).
    pub async fn start_review(
        &self,
        instance: &AccessReviewInstance,
        items: &[AccessReviewDecisionItem],
        expected: &[Timer],
        timers: &[Timer],
        events: Vec<Event>,
    ) -> StoreResult<()> {
        let (expected, row) = timer_vars(&instance.policy_id, expected, timers)?;
        let rows = items.iter().map(|i| item_row(i, 1)).collect::<StoreResult<Vec<Value>>>()?;
        let reviewers =
            items.iter().map(|i| reviewer_rows(i, 1)).collect::<StoreResult<Vec<Vec<Value>>>>()?;
        let reviewers: Vec<Value> = reviewers.into_iter().flatten().collect();
        let body = format!(
            "{timers}
             IF record::exists(type::record('access_review', $id)) {{ {stale} }};
             CREATE type::record('access_review', $id) CONTENT $instance RETURN NONE;
             IF array::len($items) > 0 {{ INSERT INTO access_review_item $items RETURN NONE; }};
             IF array::len($reviewers) > 0 {{ INSERT IGNORE INTO review_assignment $reviewers RETURN NONE; }};
             {WRITE_TIMERS}",
            timers = timers_guard(),
            stale = throw_stale(),
        );
        let vars = vars! {
            "owner" => timer_owner(&instance.policy_id), "expected" => expected, "timerRow" => row,
            "id" => instance.id, "instance" => instance_row(instance)?, "items" => rows, "reviewers" => reviewers,
        };
        self.logged(events).untracked().transaction(&body, vars).await?;
        Ok(())
    }

    /// Records decisions: each item as decided, if still at the version it was read at.
    pub async fn record_review_decisions(&self, items: &[StoredItem], events: Vec<Event>) -> StoreResult<()> {
        let rows = items
            .iter()
            .map(|s| {
                Ok(json!({
                    "id": s.item.id, "expected": s.version, "row": item_row(&s.item, s.version + 1)?,
                    "reviewers": reviewer_rows(&s.item, s.version + 1)?,
                }))
            })
            .collect::<StoreResult<Vec<Value>>>()?;
        let body = format!(
            "FOR $i IN $items {{
                 IF (type::record('access_review_item', $i.id).version ?? -1) != $i.expected {{ {stale} }};
                 UPDATE type::record('access_review_item', $i.id) CONTENT $i.row RETURN NONE;
                 FOR $r IN $i.reviewers {{
                     UPDATE type::record('review_assignment', $r.id) CONTENT $r RETURN NONE;
                 }};
             }};",
            stale = throw_stale(),
        );
        self.logged(events).untracked().transaction(&body, vars! { "items" => rows }).await?;
        Ok(())
    }

    /// Writes a review that moved on (completed, applied) from `status`, stale when it moved
    /// meanwhile; a completed review's reviewers no longer have its items to decide.
    pub async fn update_review(
        &self,
        instance: &AccessReviewInstance,
        status: em_engine::review::ReviewStatus,
        closed: &[AccessReviewDecisionItem],
        events: Vec<Event>,
    ) -> StoreResult<()> {
        let keys: Vec<Value> = closed.iter().flat_map(reviewer_keys).collect();
        let body = format!(
            "IF type::record('access_review', $id).status != $status {{ {stale} }};
             UPDATE type::record('access_review', $id) CONTENT $instance RETURN NONE;
             FOR $k IN $keys {{ DELETE type::record('review_assignment', $k); }};",
            stale = throw_stale(),
        );
        let vars = vars! {
            "id" => instance.id, "status" => status, "instance" => instance_row(instance)?, "keys" => keys,
        };
        self.logged(events).untracked().transaction(&body, vars).await?;
        Ok(())
    }

    /// Records the results applied to items (no version guard: applying is the last writer).
    pub async fn mark_items_applied(&self, items: &[StoredItem]) -> StoreResult<()> {
        let rows = items
            .iter()
            .map(|s| Ok(json!({ "id": s.item.id, "row": item_row(&s.item, s.version + 1)? })))
            .collect::<StoreResult<Vec<Value>>>()?;
        self.untracked()
            .transaction(
                "FOR $i IN $items { UPDATE type::record('access_review_item', $i.id) CONTENT $i.row RETURN NONE; };",
                vars! { "items" => rows },
            )
            .await?;
        Ok(())
    }

    /// Records users' sign-ins, keeping the latest of each.
    pub async fn record_sign_ins(
        &self,
        sign_ins: &[(String, chrono::DateTime<chrono::Utc>)],
    ) -> StoreResult<()> {
        let rows: Vec<Value> =
            sign_ins.iter().map(|(id, at)| json!({ "id": id, "at": time_key(*at) })).collect();
        self.untracked()
            .transaction(
                "INSERT INTO sign_in $rows ON DUPLICATE KEY UPDATE at = IF $input.at > at THEN $input.at ELSE at END RETURN NONE;",
                vars! { "rows" => rows },
            )
            .await?;
        Ok(())
    }

    /// Users' last sign-ins, by id.
    pub async fn sign_ins(
        &self,
        ids: &[String],
    ) -> StoreResult<std::collections::BTreeMap<String, chrono::DateTime<chrono::Utc>>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            at: String,
        }
        let rows: Vec<Row> = self.get_many("sign_in", ids).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((r.id, chrono::DateTime::parse_from_rfc3339(&r.at).ok()?.to_utc())))
            .collect())
    }
}
