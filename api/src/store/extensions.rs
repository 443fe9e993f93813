//! Custom extensions and their calls, in the store.
//!
//! - `custom_extension:⟨id⟩`: the extension (`doc`), its catalog and its signing secret.
//! - `callout_outbox:⟨id⟩`: the calls a governance transaction makes (`doc`, their JSON text),
//!   written by it (see `requests::governance_sql`) under its first call's id, and deleted with
//!   the result of its last call. A call of an outbox row without a result has not been sent.
//! - `callout:[owner, id]`: what became of a call (sent, or failed with the error), written in
//!   batches by the sender. A request's or an assignment's calls are read as an id range.
//!
//! One outbox row per transaction rather than per call: each row written or deleted costs about
//! 50 µs of SurrealDB's time, and a transaction of the group committer makes many calls.

use em_engine::ErrorCode;
use em_engine::event::Event;
use em_engine::extension::{Callout, CustomCalloutExtension};
use em_engine::id::{CatalogId, CustomExtensionId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::requests::document_text;
use super::{Store, StoreError, StoreResult, sort_key, throw};
use crate::vars;

/// An extension with the secret its calls are signed with.
#[derive(Debug, Clone)]
pub struct StoredExtension {
    pub extension: CustomCalloutExtension,
    pub secret: String,
}

/// What became of a call, as the sender records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalloutDelivery {
    /// The call's id (`customExtensionStageInstanceId`).
    #[serde(rename = "calloutId")]
    pub id: String,
    pub owner_id: String,
    /// `sent` or `failed`.
    pub status: String,
    pub attempts: u32,
    #[serde(default)]
    pub error: Option<String>,
    pub completed_date_time: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub custom_extension_id: Option<String>,
    #[serde(default)]
    pub stage: Option<em_engine::extension::CustomExtensionStage>,
    #[serde(default)]
    pub launched_date_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// The outbox row a transaction wrote: its id and the calls in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    pub id: String,
    pub calls: usize,
}

impl Outbox {
    /// The row the calls of one transaction's changes go to, if they make any.
    pub(crate) fn of<'a>(changes: impl Iterator<Item = &'a [Callout]>) -> Option<Self> {
        let mut calls = changes.flatten().peekable();
        let id = calls.peek()?.id.clone();
        Some(Self { id, calls: calls.count() })
    }
}

/// An outbox row read at start: the calls of it that have no result yet.
#[derive(Debug, Clone)]
pub struct PendingOutbox {
    pub outbox: Outbox,
    pub unsent: Vec<Callout>,
}

/// A document stored as JSON text in `table`.
fn from_text<T: serde::de::DeserializeOwned>(table: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("{table}: undecodable document: {e}")))
}

fn decode_extension(row: &Value) -> StoreResult<StoredExtension> {
    let extension =
        from_text("custom_extension", row.get("doc").and_then(Value::as_str).unwrap_or_default())?;
    let secret = row.get("secret").and_then(Value::as_str).unwrap_or_default().to_owned();
    Ok(StoredExtension { extension, secret })
}

fn extension_row(extension: &CustomCalloutExtension, secret: &str) -> StoreResult<Value> {
    let doc = document_text(extension)?;
    Ok(json!({
        "catalogId": extension.catalog_id,
        "sortKey": sort_key(&extension.display_name, &extension.id),
        "doc": doc,
        "secret": secret,
    }))
}

/// The outbox rows of these calls, for the governance transaction.
/// The outbox row of one transaction's changes (see [`Outbox`]), if they make calls.
pub(crate) fn outbox_row<'a>(
    changes: impl Iterator<Item = &'a [Callout]> + Clone,
) -> StoreResult<Option<Value>> {
    let Some(outbox) = Outbox::of(changes.clone()) else { return Ok(None) };
    let calls: Vec<&Callout> = changes.flatten().collect();
    Ok(Some(json!({ "id": outbox.id, "doc": document_text(&calls)? })))
}

impl Store {
    /// Creates an extension in its catalog (which must exist).
    pub async fn create_extension(
        &self,
        extension: &CustomCalloutExtension,
        secret: &str,
        event: Event,
    ) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('catalog', $catalog)) {{ {missing} }};
             CREATE type::record('custom_extension', $id) CONTENT $row RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "catalogId", "the catalog does not exist"),
        );
        let vars = vars! {
            "id" => extension.id,
            "catalog" => extension.catalog_id,
            "row" => extension_row(extension, secret)?,
        };
        self.logged(vec![event]).transaction(&body, vars).await?;
        Ok(())
    }

    /// Replaces an extension's document, keeping its secret.
    pub async fn update_extension(
        &self,
        extension: &CustomCalloutExtension,
        event: Event,
    ) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('custom_extension', $id)) {{ {missing} }};
             UPDATE type::record('custom_extension', $id) SET doc = $row.doc, sortKey = $row.sortKey RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "id", "the custom extension does not exist"),
        );
        let vars = vars! { "id" => extension.id, "row" => extension_row(extension, "")? };
        self.logged(vec![event]).transaction(&body, vars).await?;
        Ok(())
    }

    /// Deletes an extension; refused (`CONFLICT`) while a policy calls it.
    pub async fn delete_extension(&self, id: &CustomExtensionId, event: Event) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('custom_extension', $id)) {{ {missing} }};
             IF count(SELECT VALUE id FROM assignment_policy WHERE $id IN customExtensionIds) > 0 {{ {named} }};
             DELETE type::record('custom_extension', $id);",
            missing = throw(ErrorCode::NotFound, "id", "the custom extension does not exist"),
            named = throw(
                ErrorCode::Conflict,
                "id",
                "an assignment policy calls this custom extension; remove it from the policy's customExtensionStageSettings first"
            ),
        );
        self.logged(vec![event]).transaction(&body, vars! { "id" => id }).await?;
        Ok(())
    }

    /// An extension with its secret.
    pub async fn extension(&self, id: &str) -> StoreResult<Option<StoredExtension>> {
        let mut response =
            self.read("RETURN type::record('custom_extension', $id).*;", vars! { "id" => id }).await?;
        let row = response.value(0)?;
        if row.is_null() {
            return Ok(None);
        }
        decode_extension(&row).map(Some)
    }

    /// A catalog's extensions, by name.
    pub async fn catalog_extensions(&self, catalog: &CatalogId) -> StoreResult<Vec<CustomCalloutExtension>> {
        let mut response = self
            .read(
                "SELECT doc, sortKey FROM custom_extension WHERE catalogId = $catalog ORDER BY sortKey;",
                vars! { "catalog" => catalog },
            )
            .await?;
        let rows: Vec<Value> = response.rows(0, "custom_extension")?;
        rows.iter().map(|r| decode_extension(r).map(|s| s.extension)).collect()
    }

    /// Every outbox row, with its calls that have no result yet.
    pub async fn pending_callouts(&self) -> StoreResult<Vec<PendingOutbox>> {
        let mut response =
            self.read("SELECT record::id(id) AS id, doc FROM callout_outbox;", vars! {}).await?;
        let rows: Vec<Value> = response.rows(0, "callout_outbox")?;
        let mut outboxes = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = row.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let doc = row.get("doc").and_then(Value::as_str).unwrap_or_default();
            let calls: Vec<Callout> = from_text("callout_outbox", doc)?;
            outboxes.push((id, calls));
        }
        // Which calls have a result, all in one query.
        let keys: Vec<Value> = outboxes
            .iter()
            .flat_map(|(_, calls)| calls.iter().map(|c| json!([c.owner.id(), c.id])))
            .collect();
        let mut response = self
            .read(
                "RETURN $keys.map(|$k| record::exists(type::record('callout', $k)));",
                vars! { "keys" => keys },
            )
            .await?;
        let mut recorded = response.rows::<bool>(0, "callout")?.into_iter();
        let mut pending = Vec::with_capacity(outboxes.len());
        for (id, calls) in outboxes {
            let outbox = Outbox { id, calls: calls.len() };
            let unsent = calls.into_iter().filter(|_| !recorded.next().unwrap_or(false)).collect();
            pending.push(PendingOutbox { outbox, unsent });
        }
        Ok(pending)
    }

    /// Records what became of calls, deletes the outbox rows whose last call this is, and
    /// writes their events, in one transaction. With `replace`, a result already recorded for a
    /// call is replaced; without it, the transaction fails.
    pub async fn record_callouts(
        &self,
        results: &[CalloutDelivery],
        done: &[String],
        events: Vec<Event>,
        replace: bool,
    ) -> StoreResult<()> {
        let rows: Vec<Value> = results
            .iter()
            .map(|r| {
                let mut row = serde_json::to_value(r).unwrap_or(Value::Null);
                if let Value::Object(fields) = &mut row {
                    fields.insert("id".into(), json!([r.owner_id, r.id]));
                }
                row
            })
            .collect();
        let mut body = String::new();
        if !rows.is_empty() {
            // A call has one result (a call made again has an id of its own), so a plain INSERT,
            // the cheapest write; should one be there, the last result counts.
            body.push_str(if replace {
                "INSERT INTO callout $results ON DUPLICATE KEY UPDATE status = $input.status,
                     attempts = $input.attempts, error = $input.error,
                     completedDateTime = $input.completedDateTime RETURN NONE;\n"
            } else {
                "INSERT INTO callout $results RETURN NONE;\n"
            });
        }
        if !done.is_empty() {
            body.push_str("FOR $k IN $done { DELETE type::record('callout_outbox', $k) RETURN NONE; };\n");
        }
        self.logged(events)
            .untracked()
            .transaction(&body, vars! { "results" => rows, "done" => done })
            .await?;
        Ok(())
    }

    /// What became of the calls of a request or an assignment (sent or failed so far).
    pub async fn callouts_of(&self, owner: &str) -> StoreResult<Vec<CalloutDelivery>> {
        let mut response = self
            .read("SELECT * OMIT id FROM callout:[$owner, NONE]..[$owner, {}];", vars! { "owner" => owner })
            .await?;
        response.rows(0, "callout")
    }
}

#[cfg(test)]
mod tests {
    use em_engine::extension::{CalloutOwner, CustomExtensionStage};
    use em_engine::id::{AccessPackageId, RequestId, UserId};

    use super::*;
    use crate::store::StoreConfig;
    use crate::store::requests::GovernanceWrite;

    fn call(id: &str, target: &str) -> Callout {
        Callout {
            id: id.into(),
            owner: CalloutOwner::Request(RequestId::new(format!("r-{target}"))),
            custom_extension_id: CustomExtensionId::new("x1"),
            catalog_id: CatalogId::new("c1"),
            access_package_id: AccessPackageId::new("p1"),
            target_id: UserId::new(target),
            stage: CustomExtensionStage::AssignmentRequestGranted,
            wait: false,
            data: json!({}),
            created_date_time: chrono::Utc::now(),
        }
    }

    fn result(call: &Callout, status: &str) -> CalloutDelivery {
        CalloutDelivery {
            id: call.id.clone(),
            owner_id: call.owner.id().to_owned(),
            status: status.into(),
            attempts: 1,
            error: None,
            completed_date_time: chrono::Utc::now(),
            custom_extension_id: None,
            stage: None,
            launched_date_time: None,
        }
    }

    /// The calls of one transaction share an outbox row; a call without a result is pending
    /// until its result is written, and the row goes with its last result.
    #[tokio::test]
    async fn a_transactions_calls_share_an_outbox_row_until_each_has_its_result() {
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let (a, b) = (call("k1", "u1"), call("k2", "u2"));
        let mut first = GovernanceWrite::new(&UserId::new("u1"), 0);
        first.callouts.push(a.clone());
        let mut second = GovernanceWrite::new(&UserId::new("u2"), 0);
        second.callouts.push(b.clone());
        let outbox = store.commit_governance_batch(&[&first, &second]).await.unwrap();
        assert_eq!(outbox, Some(Outbox { id: "k1".into(), calls: 2 }));
        assert_eq!(
            store.commit_governance(&GovernanceWrite::new(&UserId::new("u3"), 0)).await.unwrap(),
            None
        );

        let pending = store.pending_callouts().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].unsent.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["k1", "k2"]);

        store.record_callouts(&[result(&a, "sent")], &[], Vec::new(), false).await.unwrap();
        let pending = store.pending_callouts().await.unwrap();
        assert_eq!(pending[0].unsent.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["k2"]);
        assert!(
            store.record_callouts(&[result(&a, "failed")], &[], Vec::new(), false).await.is_err(),
            "a second result is refused unless it replaces the first"
        );
        store.record_callouts(&[result(&a, "failed")], &[], Vec::new(), true).await.unwrap();
        assert_eq!(store.callouts_of("r-u1").await.unwrap()[0].status, "failed");

        store.record_callouts(&[result(&b, "sent")], &["k1".into()], Vec::new(), false).await.unwrap();
        assert!(store.pending_callouts().await.unwrap().is_empty());
        assert_eq!(store.callouts_of("r-u2").await.unwrap().len(), 1);
    }
}
