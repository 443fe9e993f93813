//! Custom extensions and their calls, in the store.
//!
//! - `custom_extension:⟨id⟩`: the extension (`doc`), its catalog and its signing secret.
//! - `callout_outbox:[owner, id]`: a call not yet sent, written by the governance transaction of
//!   the change that makes it (see `requests::governance_sql`), deleted once it is sent or given up.
//! - `callout:[owner, id]`: what became of a call (sent, or failed with the error), written in
//!   batches by the sender. A request's or an assignment's calls are read as an id range.

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

/// A call waiting to be sent.
#[derive(Debug, Clone)]
pub struct PendingCallout {
    pub callout: Callout,
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
pub(crate) fn outbox_rows(callouts: &[Callout]) -> StoreResult<Vec<Value>> {
    callouts.iter().map(|c| Ok(json!({ "id": [c.owner.id(), c.id], "doc": document_text(c)? }))).collect()
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

    /// Every call not yet sent.
    pub async fn pending_callouts(&self) -> StoreResult<Vec<PendingCallout>> {
        let mut response = self.read("SELECT doc FROM callout_outbox;", vars! {}).await?;
        let rows: Vec<Value> = response.rows(0, "callout_outbox")?;
        rows.iter()
            .map(|r| {
                let doc = r.get("doc").and_then(Value::as_str).unwrap_or_default();
                from_text("callout_outbox", doc).map(|callout| PendingCallout { callout })
            })
            .collect()
    }

    /// Records what became of calls, takes them out of the outbox, and writes their events, in
    /// one transaction.
    pub async fn record_callouts(&self, results: &[CalloutDelivery], events: Vec<Event>) -> StoreResult<()> {
        let rows: Vec<Value> = results
            .iter()
            .map(|r| {
                json!({
                    "key": [r.owner_id, r.id],
                    "row": serde_json::to_value(r).unwrap_or(Value::Null),
                })
            })
            .collect();
        let body = "FOR $r IN $results {
                 UPSERT type::record('callout', $r.key) CONTENT $r.row RETURN NONE;
                 DELETE type::record('callout_outbox', $r.key);
             };";
        self.logged(events).untracked().transaction(body, vars! { "results" => rows }).await?;
        Ok(())
    }

    /// What became of the calls of a request or an assignment (sent or failed so far), and the
    /// ids of those still waiting to be sent.
    pub async fn callouts_of(&self, owner: &str) -> StoreResult<(Vec<CalloutDelivery>, Vec<Callout>)> {
        let mut response = self
            .read(
                "SELECT * OMIT id FROM callout:[$owner, NONE]..[$owner, {}];
                 SELECT VALUE doc FROM callout_outbox:[$owner, NONE]..[$owner, {}];",
                vars! { "owner" => owner },
            )
            .await?;
        let sent: Vec<CalloutDelivery> = response.rows(0, "callout")?;
        let docs: Vec<String> = response.rows(1, "callout_outbox")?;
        let pending = docs.iter().map(|d| from_text("callout_outbox", d)).collect::<StoreResult<_>>()?;
        Ok((sent, pending))
    }
}
