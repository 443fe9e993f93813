//! Requests, assignments, their timers and what they deliver into the directory.
//!
//! A request or an assignment record keeps the engine's whole document (`request`,
//! `assignment`) beside the typed fields that queries read, and a `version` that every write
//! bumps. Every change to a target's requests and assignments is one [`GovernanceWrite`],
//! committed in one transaction with its events, which checks inside the transaction that
//! nothing it decided on has moved:
//!
//! - the target's `target_state.version`: every write for a target bumps it, so two
//!   submissions for the same user (say, for two incompatible packages) cannot both commit on
//!   what each saw alone; the loser gets [`StoreError::Stale`] and the service decides again on fresh data;
//! - each request's and assignment's `version`: the first decision on a stage wins.
//!
//! A `systemAdd` request that the write creating its assignment delivers at once (an
//! auto-assignment policy's) is carried by that assignment rather than written as a row of its
//! own (schema V25): the assignment row names it (`carried`, `requestId`, `requestEvent`) and
//! takes its sort key, its document is the one its creation event holds, written in the same
//! transaction, and it is found by id through its assignment, whose id is derived from the
//! request's ([`assignment_id_for`](em_engine::request::assignment_id_for)). Listings of requests
//! merge these, read among a target's assignments or, package by package (`carried_package`),
//! through the assignment keys, with the `request` rows in sort-key order; a carried request that
//! changes becomes a row of its own, in the same place.
//!
//! The assignment table has no index (schema V26): SurrealDB gives every record of an indexed
//! table a document id and checks every index entry it writes, which cost a first population a
//! third of its time. A package's assignments are key ranges (`assignment_key`, see
//! [`assignment_key`]), a target's are named by its `target_state`, and an assignment's timers
//! are a timer set of their own.
//!
//! Grants are delivered into the directory as `grant` records (one per principal and role, with
//! the assignments that deliver it in `sources`); group membership and ownership and active
//! directory roles are also written as `membership` records, which is what the directory, the
//! administrator check and `memberOf` rules read, each with its group key (`group_member`).
//!
//! The tables written here have no field definitions (schema V12); their rows are, by table:
//!
//! - `request:<id>`: see `request_row`, with `due` and `timers` (schema V10);
//! - `assignment:<id>`: see `assignment_row`, and `carried` (true), `requestId` and
//!   `requestEvent` when it carries its request;
//! - `assignment_key:[<package>, <active>, <sort key>]`: `a` (the assignment's id), `policy`,
//!   `carried` (true, when the assignment carries its request);
//! - `assignment_package:<package id>`: `catalogId`, once the package has an assignment;
//! - `carried_package:<package id>`: `catalogId`, once a request of the package is carried;
//! - `target_state:<user id>`: `version` (integer), `active` and `ended` (the ids of the
//!   target's assignments that give access, oldest first, and that ended, in the order they did);
//! - `grant:[<principal>, <grant key>]`: `principalId`, `grant` (the engine's [`Grant`] as an
//!   object), `sources` (assignment ids);
//! - `membership:[<principal>, <group or role>, <relation>]`: `principalId`, `groupId`, `relation`
//!   (`member` or `owner`); `group_member:[<group or role>, <relation>, <principal>]`, no fields;
//! - `assignment_tally:[<package>, <policy>, <shard>]`: `accessPackageId`, `assignmentPolicyId`,
//!   `n` (integer);
//! - `timer_set:<assignment id>#scope`: `owner` (`scope`), `targetId`, `due`, `timers`; and
//!   `timer_set:<assignment id>`, owner `assignment`, for an assignment with timers.

use em_engine::ErrorCode;
use em_engine::assignment::{AccessPackageAssignment, Grant};
use em_engine::id::{AccessPackageId, AssignmentId, CatalogId, PolicyId, RequestId, UserId};
use em_engine::request::AccessPackageAssignmentRequest;
use em_engine::timer::Timer;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Page, PageRequest, Store, StoreError, StoreResult, throw};
use crate::vars;

/// A time as text that sorts as the time does.
pub(crate) fn time_key(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A request as stored, with its version.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RequestRecord")]
pub struct StoredRequest {
    pub request: AccessPackageAssignmentRequest,
    pub version: u64,
}

#[derive(Deserialize)]
struct RequestRecord {
    id: String,
    version: i64,
    request: Value,
}

impl TryFrom<RequestRecord> for StoredRequest {
    type Error = serde_json::Error;

    fn try_from(record: RequestRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            request: with_id(record.request, record.id)?,
            version: u64::try_from(record.version).unwrap_or(0),
        })
    }
}

/// An assignment as stored, with its version.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "AssignmentRecord")]
pub struct StoredAssignment {
    pub assignment: AccessPackageAssignment,
    pub version: u64,
}

#[derive(Deserialize)]
struct AssignmentRecord {
    id: String,
    version: i64,
    assignment: Value,
}

impl TryFrom<AssignmentRecord> for StoredAssignment {
    type Error = serde_json::Error;

    fn try_from(record: AssignmentRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            assignment: with_id(record.assignment, record.id)?,
            version: u64::try_from(record.version).unwrap_or(0),
        })
    }
}

/// A stored document (its JSON text, schema V7 and V14) with its record's id.
pub(crate) fn with_id<T: serde::de::DeserializeOwned>(
    document: Value,
    id: String,
) -> Result<T, serde_json::Error> {
    let mut document: Value = match document {
        Value::String(text) => serde_json::from_str(&text)?,
        other => return Err(serde::de::Error::custom(format!("a document is JSON text, not {other}"))),
    };
    if let Some(object) = document.as_object_mut() {
        object.insert("id".into(), Value::String(id));
    }
    serde_json::from_value(document)
}

/// The table whose records hold an owner's timers: a request's row (schema V10), else a timer
/// set (an assignment's since schema V26, so that the assignment table has no index).
fn table(owner: TimerOwner) -> &'static str {
    match owner {
        TimerOwner::Request => "request",
        TimerOwner::Assignment | TimerOwner::Scope | TimerOwner::Guest | TimerOwner::Review => "timer_set",
    }
}

/// The tables holding timers, each once, with the owner of their rows (`None`: `timer_set`,
/// whose rows name theirs).
const TIMER_TABLES: [(&str, Option<TimerOwner>); 2] =
    [("request", Some(TimerOwner::Request)), ("timer_set", None)];

/// A stored timer: what is due, and for which request or assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub owner: TimerOwner,
    pub owner_id: String,
    pub target_id: UserId,
    pub timer: Timer,
}

/// The timers of one owner with a due one: a request (schema V10), or a timer set (schema V8):
/// a scope removal's, a guest's, a review's or an assignment's (schema V26).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimerSetRecord {
    /// A `timer_set` row's owner (`scope`, `guest`, `review`, `assignment`).
    #[serde(default)]
    owner: Option<String>,
    owner_id: String,
    target_id: UserId,
    due: String,
    timers: Vec<Timer>,
}

/// The `due` of an owner with no timers left: after every time key.
const NEVER: &str = "~";

/// The `due` values of owners with timers or none left: a request or assignment without a `due`
/// (written before schema V10 and not since) has no timers, and `due > ''` leaves it out of the
/// index range.
const DUE_RANGE: &str = "due > ''";

/// One statement per table of timers, in [`TIMER_TABLES`]' order, each made by `statement` from
/// the table.
fn owner_statements(statement: impl Fn(&str) -> String) -> String {
    TIMER_TABLES.iter().map(|(table, _)| statement(table)).collect::<Vec<_>>().join("\n")
}

/// A timer set's row (a scope removal's, a guest's, a review's, an assignment's): its owner,
/// its timers, earliest first, and the earliest due time.
pub(crate) fn timer_set_row(
    owner: TimerOwner,
    owner_id: &str,
    target_id: &UserId,
    timers: &[Timer],
) -> StoreResult<Value> {
    let (due, timers) = timer_set_fields(timers)?;
    Ok(
        json!({ "id": owner_id, "owner": owner.as_str(), "targetId": target_id, "due": due, "timers": timers }),
    )
}

/// Adds an owner's timers and their earliest due time to its record's row (schema V10).
fn with_timers(mut row: Value, timers: &[Timer]) -> StoreResult<Value> {
    let (due, timers) = timer_set_fields(timers)?;
    if let Some(object) = row.as_object_mut() {
        object.insert("due".into(), Value::String(due));
        object.insert("timers".into(), timers);
    }
    Ok(row)
}

/// A timer set's `due` (the earliest, or [`NEVER`]) and its timers, earliest first.
pub(crate) fn timer_set_fields(timers: &[Timer]) -> StoreResult<(String, Value)> {
    let mut timers = timers.to_vec();
    timers.sort_by_key(|t| t.due);
    let due = timers.first().map_or_else(|| NEVER.to_owned(), |t| time_key(t.due));
    Ok((due, serde_json::to_value(&timers).map_err(|e| StoreError::Backend(e.to_string()))?))
}

/// The suffix of a scope-removal timer's owner id, after the assignment id.
pub const SCOPE_SUFFIX: &str = "#scope";

/// A user an auto-assignment policy selects but could not assign.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exclusion {
    pub policy_id: PolicyId,
    pub target_id: UserId,
    pub reason: String,
    pub recorded_date_time: String,
}

/// A grant held by a principal, and the assignments that deliver it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantRecord {
    pub principal_id: String,
    pub grant: Grant,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// Everything one change to a target's requests and assignments writes, in one transaction: the
/// engine's [`Change`](em_engine::request::change::Change).
pub type GovernanceWrite = em_engine::request::change::Change;
pub use super::extensions::Outbox;

pub use em_engine::request::change::TimerOwner;

/// A grant's record key: stable text naming the role.
fn grant_key(grant: &Grant) -> String {
    match grant {
        Grant::GroupMember { group_id } => format!("groupMember:{group_id}"),
        Grant::GroupOwner { group_id } => format!("groupOwner:{group_id}"),
        Grant::AppRole { application_id, app_role_id } => format!("appRole:{application_id}:{app_role_id}"),
        Grant::SiteRole { site_id, role_id } => format!("siteRole:{site_id}:{role_id}"),
        Grant::DirectoryRoleEligible { directory_role_id } => format!("roleEligible:{directory_role_id}"),
        Grant::DirectoryRoleActive { directory_role_id } => format!("roleActive:{directory_role_id}"),
    }
}

/// The `membership` a grant shows as in the directory: `(group or role id, relation)`.
fn grant_membership(grant: &Grant) -> Option<(&str, &'static str)> {
    match grant {
        Grant::GroupMember { group_id } => Some((group_id, "member")),
        Grant::GroupOwner { group_id } => Some((group_id, "owner")),
        Grant::DirectoryRoleActive { directory_role_id } => Some((directory_role_id, "member")),
        _ => None,
    }
}

/// A domain object's record content as JSON text (schema V7), written straight from the object
/// (its `id` and empty fields included: a reader takes the id from the record).
pub(crate) fn document_text<T: serde::Serialize>(value: &T) -> StoreResult<Value> {
    serde_json::to_string(value).map(Value::String).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A request's row: `accessPackageId`, `catalogId`, `assignmentPolicyId`, `targetId`,
/// `requestorId` (absent unless a user requested), `requestType`, `state`, `status`,
/// `createdDateTime` (text), `assignedTo` (who may decide the open stage), `approverIds` (everyone
/// ever asked), `version` (integer), `sortKey` and `request` (the document as JSON text).
fn request_row(request: &AccessPackageAssignmentRequest, version: u64) -> StoreResult<Value> {
    let document = document_text(request)?;
    let requestor_id = match &request.requestor {
        em_engine::Actor::User { id } => Some(id.clone()),
        _ => None,
    };
    let assigned: Vec<String> = request
        .current_stage()
        .filter(|_| request.state == em_engine::request::AccessPackageRequestState::PendingApproval)
        .map(|(_, stage)| stage.assigned_to.clone())
        .unwrap_or_default();
    let approvers: Vec<String> = {
        let mut all: Vec<String> = request
            .approval
            .iter()
            .flat_map(|a| a.stages.iter())
            .flat_map(|s| s.assigned_to.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    };
    let mut row = json!({
        "accessPackageId": request.access_package_id,
        "catalogId": request.catalog_id,
        "assignmentPolicyId": request.assignment_policy_id,
        "targetId": request.target_id,
        "requestType": request.request_type.as_str(),
        "state": request.state.as_str(),
        "status": request.status.as_str(),
        "createdDateTime": time_key(request.created_date_time),
        "assignedTo": assigned,
        "approverIds": approvers,
        "version": version,
        "sortKey": format!("{}\u{1}{}", time_key(request.created_date_time), request.id),
        "request": document,
    });
    // SurrealDB's `option<string>` takes NONE (an absent field), not NULL.
    if let (Some(object), Some(id)) = (row.as_object_mut(), requestor_id) {
        object.insert("requestorId".into(), Value::String(id.into_string()));
    }
    Ok(row)
}

/// An assignment's row: `accessPackageId`, `catalogId`, `assignmentPolicyId`, `targetId`, `state`,
/// `status`, `active` (bool), `version` (integer), `sortKey` and `assignment` (the document as JSON
/// text).
fn assignment_row(assignment: &AccessPackageAssignment, version: u64, created: &str) -> StoreResult<Value> {
    let document = document_text(assignment)?;
    Ok(json!({
        "accessPackageId": assignment.access_package_id,
        "catalogId": assignment.catalog_id,
        "assignmentPolicyId": assignment.assignment_policy_id,
        "targetId": assignment.target_id,
        "state": serde_json::to_value(assignment.state).unwrap_or(Value::Null),
        "status": assignment.status.as_str(),
        "active": assignment.is_active(),
        "version": version,
        "sortKey": format!("{created}\u{1}{}", assignment.id),
        "assignment": document,
    }))
}

/// An assignment's key row (schema V26): `assignment_key:[<package>, <active>, <sort key>]`, with
/// `a` (its id), `policy` and `carried` (true, when it carries its request). A package's
/// assignments, those that give access and those that ended, are each a range of these keys in
/// sort-key order: the lookups the assignment table's indexes served, without an index (every
/// record of an indexed table costs SurrealDB a document id and each index entry an admission
/// check; `benches/README.md`).
fn assignment_key(assignment: &AccessPackageAssignment, sort_key: &str, carried: bool) -> Value {
    let mut key = json!({
        "id": [assignment.access_package_id, assignment.is_active(), sort_key],
        "a": assignment.id,
        "policy": assignment.assignment_policy_id,
    });
    if carried && let Some(object) = key.as_object_mut() {
        object.insert("carried".into(), Value::Bool(true));
    }
    key
}

/// The statement reading one page of a range of assignment keys: package `package` (a
/// variable), `active`, after the cursor `$after`, meeting `condition`, at most `$limit`, in
/// order (a `RecordIdScan`, cut at its limit, nothing sorted).
fn key_range_page(package: &str, active: bool, condition: &str) -> String {
    format!(
        "SELECT record::id(id)[2] AS k, a FROM assignment_key:[{package}, {active}, $after]..[{package}, {active}, {{}}]
             WHERE ({condition}) AND record::id(id)[2] > $after LIMIT $limit"
    )
}

/// An assignment key's sort key and assignment id, as [`Store::key_page`] reads them.
#[derive(Deserialize)]
struct KeyRow {
    k: String,
    a: String,
}

/// An assignment that carries its request, as a listing of requests reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CarriedRow {
    id: String,
    request_id: String,
    request_event: String,
}

/// Filters for listing requests.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub access_package_id: Option<AccessPackageId>,
    pub catalog_id: Option<CatalogId>,
    pub target_id: Option<UserId>,
    pub requestor_id: Option<UserId>,
    /// Requests whose open stage this user may decide now.
    pub assigned_to: Option<String>,
    /// Requests this user was ever an approver of.
    pub approver_id: Option<String>,
    pub state: Option<String>,
    /// Only requests of these catalogs (what a delegate may read); `None`: every catalog.
    pub catalog_ids: Option<Vec<CatalogId>>,
}

/// Filters for listing assignments.
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    pub access_package_id: Option<AccessPackageId>,
    pub catalog_id: Option<CatalogId>,
    pub target_id: Option<UserId>,
    pub assignment_policy_id: Option<PolicyId>,
    /// Only those that still give access (not expired).
    pub active_only: bool,
    /// Only assignments of these catalogs (what a delegate may read); `None`: every catalog.
    pub catalog_ids: Option<Vec<CatalogId>>,
}

fn conditions(pairs: &[(&str, Option<&str>)]) -> (Vec<String>, Map<String, Value>) {
    let mut conditions = Vec::new();
    let mut vars = Map::new();
    for (field, value) in pairs {
        if let Some(v) = value {
            conditions.push(format!("{field} = ${field}"));
            vars.insert((*field).to_owned(), json!(v));
        }
    }
    (conditions, vars)
}

/// The states of a request that has not ended yet.
const OPEN_STATES: &str = "['submitted', 'pendingApproval', 'scheduled', 'delivering']";

/// The assignments of target `$t` that still give access, oldest first: those its
/// `target_state.active` names (schema V26).
const ACTIVE_OF_TARGET: &str = "SELECT *, record::id(id) AS id FROM array::map(
     type::record('target_state', $t).active ?? [], |$i| type::record('assignment', $i)) WHERE active = true";

/// The unfinished requests of target `$t`, through the target index.
fn open_of_target() -> String {
    format!(
        "SELECT *, record::id(id) AS id FROM request WHERE targetId = $t AND state IN {OPEN_STATES} ORDER BY sortKey"
    )
}

/// `(target, version)` of `target_state` rows read with their id.
fn versions(rows: &[Value]) -> impl Iterator<Item = (String, u64)> + '_ {
    rows.iter().filter_map(|r| Some((r.get("id")?.as_str()?.to_owned(), r.get("version")?.as_u64()?)))
}

impl Store {
    /// A request by id: its row, or the assignment that carries it, which has the id derived
    /// from the request's.
    pub async fn request(&self, id: &RequestId) -> StoreResult<Option<StoredRequest>> {
        let mut response = self
            .read(
                "RETURN type::record('request', $id).*;
                 RETURN type::record('assignment', $carrier).{ carried, requestId, requestEvent };",
                vars! { "id" => id, "carrier" => em_engine::request::assignment_id_for(id) },
            )
            .await?;
        if let Some(found) = super::fetched("request", id, response.value(0)?)? {
            return Ok(Some(found));
        }
        let carrier = response.value(1)?;
        let carries = carrier.get("carried").and_then(Value::as_bool) == Some(true)
            && carrier.get("requestId").and_then(Value::as_str) == Some(id.as_str());
        let Some(event) = carrier.get("requestEvent").and_then(Value::as_str).filter(|_| carries) else {
            return Ok(None);
        };
        let event = event.to_owned();
        let mut carried = self.carried_documents(&[(id.to_string(), event)]).await?;
        Ok(carried.remove(id.as_str()))
    }

    /// Carried requests, by `(request id, event record id)`: each is the document its creation
    /// event holds, at version 1 (a carried request that changes becomes a row of its own).
    async fn carried_documents(
        &self,
        wanted: &[(String, String)],
    ) -> StoreResult<std::collections::HashMap<String, StoredRequest>> {
        let mut records: Vec<&str> = wanted.iter().map(|(_, event)| event.as_str()).collect();
        records.sort_unstable();
        records.dedup();
        let mut documents = std::collections::HashMap::new();
        for row in self.get_many::<Value>("event", &records).await? {
            documents.extend(super::events::created_requests(&row)?);
        }
        let corrupt = |message: String| StoreError::Corrupt { table: "assignment", message };
        wanted
            .iter()
            .map(|(id, event)| {
                let document = documents
                    .remove(id)
                    .ok_or_else(|| corrupt(format!("event record `{event}` does not hold request `{id}`")))?;
                let request = serde_json::from_value(document).map_err(|e| corrupt(e.to_string()))?;
                Ok((id.clone(), StoredRequest { request, version: 1 }))
            })
            .collect()
    }

    /// One page of the carried requests a filter selects (see the module documentation), or
    /// `None` when it selects none by its terms: a request carried by an assignment is a
    /// delivered `systemAdd`, with no requestor and no approver. A target's are among the
    /// assignments its `target_state` names; otherwise each package with carried requests
    /// (`carried_package`, few: those with an auto-assignment policy) that the filter selects is
    /// read through its assignment keys.
    async fn carried_requests(
        &self,
        filter: &RequestFilter,
        page: &PageRequest,
    ) -> StoreResult<Option<Page<StoredRequest>>> {
        if filter.requestor_id.is_some()
            || filter.assigned_to.is_some()
            || filter.approver_id.is_some()
            || filter.state.as_deref().is_some_and(|s| s != "delivered")
        {
            return Ok(None);
        }
        let found: Page<CarriedRow> = if let Some(target) = &filter.target_id {
            let (mut conditions, mut vars) = conditions(&[
                ("accessPackageId", filter.access_package_id.as_deref()),
                ("catalogId", filter.catalog_id.as_deref()),
            ]);
            conditions.push("carried = true".to_owned());
            super::in_catalogs(filter.catalog_ids.as_deref(), &mut conditions, &mut vars);
            let ids = self.assignment_ids_of_target(target, false).await?;
            self.page_of_ids("assignment", &ids, &conditions, vars, page).await?
        } else {
            let selects = AssignmentFilter {
                access_package_id: filter.access_package_id.clone(),
                catalog_id: filter.catalog_id.clone(),
                catalog_ids: filter.catalog_ids.clone(),
                ..AssignmentFilter::default()
            };
            let packages = self.packages_in("carried_package", &selects).await?;
            let keys = self.key_page(&packages, &[true, false], "carried = true", Map::new(), page).await?;
            self.rows_of_keys(keys, |r: &CarriedRow| r.id.clone()).await?
        };
        let wanted: Vec<(String, String)> =
            found.items.iter().map(|(_, r)| (r.request_id.clone(), r.request_event.clone())).collect();
        let mut documents = self.carried_documents(&wanted).await?;
        let items = found
            .items
            .into_iter()
            .filter_map(|(key, r)| Some((key, documents.remove(&r.request_id)?)))
            .collect();
        Ok(Some(Page { items, has_next: found.has_next, total: found.total }))
    }

    /// The ids of a target's assignments, as its `target_state` names them (schema V26): those
    /// that give access, and unless `active_only` those that ended.
    async fn assignment_ids_of_target(&self, target: &UserId, active_only: bool) -> StoreResult<Vec<String>> {
        // Wrapped in an object: a bare array would read as several results.
        let sql = if active_only {
            "RETURN { ids: type::record('target_state', $t).active ?? [] };"
        } else {
            "RETURN { ids: array::concat(type::record('target_state', $t).active ?? [], type::record('target_state', $t).ended ?? []) };"
        };
        let ids = self.read(sql, vars! { "t" => target }).await?.value(0)?;
        super::decode("target_state", ids.get("ids").cloned().unwrap_or_default())
    }

    /// One page of assignment keys (see [`assignment_key`]), merged in sort-key order from the
    /// ranges of `packages`, each for every value of `active` given, whose key rows meet
    /// `condition` (SurrealQL over `vars`): `(sort key, assignment id)`. Each range is read in
    /// order and cut at the page's length; the total counts every key the ranges hold that meets
    /// the condition, when the page asks for it.
    async fn key_page(
        &self,
        packages: &[String],
        active: &[bool],
        condition: &str,
        mut vars: Map<String, Value>,
        page: &PageRequest,
    ) -> StoreResult<Page<String>> {
        if packages.is_empty() {
            return Ok(Page { items: Vec::new(), has_next: false, total: 0 });
        }
        vars.insert("after".into(), Value::String(page.after.clone().unwrap_or_default()));
        vars.insert("limit".into(), Value::from(page.first + 1));
        // (package variable, active)
        let mut ranges = Vec::new();
        for (i, package) in packages.iter().enumerate() {
            vars.insert(format!("p{i}"), Value::String(package.clone()));
            ranges.extend(active.iter().map(|a| (format!("$p{i}"), a)));
        }
        // A statement per range: its count when the page asks for it (every key of the range,
        // not only those after the cursor), then its page.
        let mut sql = String::new();
        for (p, a) in ranges.iter().filter(|_| page.count) {
            sql.push_str(&format!(
                "RETURN (SELECT count() AS n FROM assignment_key:[{p}, {a}, NONE]..[{p}, {a}, {{}}] WHERE {condition} GROUP ALL)[0].n ?? 0;\n"
            ));
        }
        for (p, a) in &ranges {
            sql.push_str(&format!("{};\n", key_range_page(p, **a, condition)));
        }
        let mut response = self.read(&sql, vars).await?;
        let counted = if page.count { ranges.len() } else { 0 };
        let mut total = 0usize;
        for i in 0..counted {
            let n = usize::try_from(response.value(i)?.as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
            total = total.saturating_add(n);
        }
        let mut keys: Vec<(String, String)> = Vec::new();
        for i in 0..ranges.len() {
            let rows: Vec<KeyRow> = response.rows(counted + i, "assignment_key")?;
            keys.extend(rows.into_iter().map(|r| (r.k, r.a)));
        }
        keys.sort();
        let has_next = keys.len() > page.first;
        keys.truncate(page.first);
        Ok(Page { items: keys, has_next, total })
    }

    /// The assignment rows of a page of keys ([`Store::key_page`]), in the keys' order, each
    /// found by its id (`id_of`); a key whose row is gone is skipped.
    async fn rows_of_keys<T: serde::de::DeserializeOwned>(
        &self,
        keys: Page<String>,
        id_of: impl Fn(&T) -> String,
    ) -> StoreResult<Page<T>> {
        let ids: Vec<&str> = keys.items.iter().map(|(_, id)| id.as_str()).collect();
        let mut rows: std::collections::HashMap<String, T> =
            self.get_many::<T>("assignment", &ids).await?.into_iter().map(|r| (id_of(&r), r)).collect();
        let items = keys.items.into_iter().filter_map(|(key, id)| Some((key, rows.remove(&id)?))).collect();
        Ok(Page { items, has_next: keys.has_next, total: keys.total })
    }

    /// The packages of `table` (`assignment_package`, those with assignments, or
    /// `carried_package`, those with carried requests) that a listing's filters select.
    async fn packages_in(&self, table: &'static str, filter: &AssignmentFilter) -> StoreResult<Vec<String>> {
        let (mut conditions, mut vars) = conditions(&[("catalogId", filter.catalog_id.as_deref())]);
        if let Some(package) = &filter.access_package_id {
            conditions.push("record::id(id) = $package".to_owned());
            vars.insert("package".into(), json!(package));
        }
        if let Some(policy) = &filter.assignment_policy_id {
            // A policy is of one package (every package, should the policy be gone).
            conditions.push(
                "record::id(id) = (type::record('assignment_policy', $policy).accessPackageId ?? record::id(id))"
                    .to_owned(),
            );
            vars.insert("policy".into(), json!(policy));
        }
        super::in_catalogs(filter.catalog_ids.as_deref(), &mut conditions, &mut vars);
        let filter_sql = if conditions.is_empty() { "true".to_owned() } else { conditions.join(" AND ") };
        self.read(&format!("SELECT VALUE record::id(id) FROM {table} WHERE {filter_sql} ORDER BY id;"), vars)
            .await?
            .rows(0, table)
    }

    pub async fn assignment(&self, id: &AssignmentId) -> StoreResult<Option<StoredAssignment>> {
        self.get("assignment", id).await
    }

    /// Assignments by id; ids that do not exist are skipped.
    pub async fn assignments_by_ids(&self, ids: &[AssignmentId]) -> StoreResult<Vec<StoredAssignment>> {
        self.get_many("assignment", ids).await
    }

    /// One page of requests, oldest first.
    pub async fn requests(
        &self,
        filter: &RequestFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<StoredRequest>> {
        let (mut conditions, mut vars) = conditions(&[
            ("accessPackageId", filter.access_package_id.as_deref()),
            ("catalogId", filter.catalog_id.as_deref()),
            ("targetId", filter.target_id.as_deref()),
            ("requestorId", filter.requestor_id.as_deref()),
            ("state", filter.state.as_deref()),
        ]);
        if let Some(me) = &filter.assigned_to {
            conditions.push("assignedTo CONTAINS $assigned".to_owned());
            vars.insert("assigned".into(), json!(me));
        }
        if let Some(me) = &filter.approver_id {
            conditions.push("approverIds CONTAINS $approver".to_owned());
            vars.insert("approver".into(), json!(me));
        }
        super::in_catalogs(filter.catalog_ids.as_deref(), &mut conditions, &mut vars);
        let own = self.page("request", &conditions, vars, page).await?;
        let Some(carried) = self.carried_requests(filter, page).await? else { return Ok(own) };
        // Each side's first page after the cursor holds the first page of both.
        let mut items = own.items;
        items.extend(carried.items);
        items.sort_by(|(a, _), (b, _)| a.cmp(b));
        let has_next = own.has_next || carried.has_next || items.len() > page.first;
        items.truncate(page.first);
        Ok(Page { items, has_next, total: own.total + carried.total })
    }

    /// One page of assignments, oldest first: a target's among those its `target_state` names,
    /// else merged from the key ranges of the packages the filter selects (schema V26).
    pub async fn assignments(
        &self,
        filter: &AssignmentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<StoredAssignment>> {
        if let Some(target) = &filter.target_id {
            let (mut conditions, mut vars) = conditions(&[
                ("accessPackageId", filter.access_package_id.as_deref()),
                ("catalogId", filter.catalog_id.as_deref()),
                ("assignmentPolicyId", filter.assignment_policy_id.as_deref()),
            ]);
            if filter.active_only {
                conditions.push("active = true".to_owned());
            }
            super::in_catalogs(filter.catalog_ids.as_deref(), &mut conditions, &mut vars);
            let ids = self.assignment_ids_of_target(target, filter.active_only).await?;
            return self.page_of_ids("assignment", &ids, &conditions, vars, page).await;
        }
        let packages = self.packages_in("assignment_package", filter).await?;
        let active: &[bool] = if filter.active_only { &[true] } else { &[true, false] };
        let (condition, vars) = match &filter.assignment_policy_id {
            Some(policy) => ("policy = $policy", vars! { "policy" => policy }),
            None => ("true", Map::new()),
        };
        let keys = self.key_page(&packages, active, condition, vars, page).await?;
        let mut found = self.rows_of_keys(keys, |a: &StoredAssignment| a.assignment.id.to_string()).await?;
        // An assignment that ended between the two reads is left out of a list of active ones.
        found.items.retain(|(_, a)| !filter.active_only || a.assignment.is_active());
        Ok(found)
    }

    /// The active assignments of an access package, oldest first: its range of assignment keys.
    pub async fn active_assignments_of_package(
        &self,
        package_id: &AccessPackageId,
    ) -> StoreResult<Vec<StoredAssignment>> {
        let sql = "SELECT *, record::id(id) AS id FROM
                       (SELECT VALUE type::record('assignment', a) FROM assignment_key:[$package, true, NONE]..[$package, true, {}]);";
        let mut found: Vec<(String, StoredAssignment)> = Vec::new();
        let rows: Vec<Value> =
            self.read(sql, vars! { "package" => package_id }).await?.rows(0, "assignment")?;
        for row in rows {
            let key = row.get("sortKey").and_then(Value::as_str).unwrap_or_default().to_owned();
            found.push((key, super::decode("assignment", row)?));
        }
        found.sort_by(|(a, _), (b, _)| a.cmp(b));
        Ok(found.into_iter().map(|(_, a)| a).collect())
    }

    /// Every active assignment, of every target (bulk work: a first population).
    pub async fn all_active_assignments(&self) -> StoreResult<Vec<StoredAssignment>> {
        self.all("assignment", "active = true", "sortKey", Map::new()).await
    }

    /// Every unfinished request (bulk work).
    pub async fn all_open_requests(&self) -> StoreResult<Vec<StoredRequest>> {
        self.all("request", &format!("state IN {OPEN_STATES}"), "sortKey", Map::new()).await
    }

    /// The version of every target that has one (bulk work).
    pub async fn target_versions(&self) -> StoreResult<std::collections::HashMap<String, u64>> {
        let rows: Vec<Value> = self
            .read("SELECT record::id(id) AS id, version FROM target_state;", Map::new())
            .await?
            .rows(0, "target_state")?;
        Ok(versions(&rows).collect())
    }

    /// The versions of those of `ids` that have one (bulk work: the users a policy selects).
    /// Only those records are read.
    pub async fn target_versions_of(
        &self,
        ids: &[UserId],
    ) -> StoreResult<std::collections::HashMap<String, u64>> {
        let mut found = std::collections::HashMap::new();
        for chunk in ids.chunks(5_000) {
            let rows: Vec<Value> = self.get_many("target_state", chunk).await?;
            found.extend(versions(&rows));
        }
        Ok(found)
    }

    /// The active assignments and unfinished requests of these targets, each target's read
    /// through its `target_state` and its request index (bulk work over a few targets among many).
    pub async fn holdings_of(
        &self,
        ids: &[UserId],
    ) -> StoreResult<(Vec<StoredAssignment>, Vec<StoredRequest>)> {
        let (mut assignments, mut requests) = (Vec::new(), Vec::new());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "RETURN array::flatten(array::map($ids, |$t| ({ACTIVE_OF_TARGET})));
                 RETURN array::flatten(array::map($ids, |$t| ({})));",
                open_of_target()
            );
            let mut response = self.read(&sql, vars! { "ids" => chunk }).await?;
            assignments.extend(response.rows::<StoredAssignment>(0, "assignment")?);
            requests.extend(response.rows::<StoredRequest>(1, "request")?);
        }
        Ok((assignments, requests))
    }

    /// What a target holds, in one round trip: the version of its requests and assignments (0
    /// before the first), its assignments that still give access and its unfinished requests, of
    /// every package.
    pub async fn target_snapshot(
        &self,
        target_id: &UserId,
    ) -> StoreResult<(u64, Vec<StoredAssignment>, Vec<StoredRequest>)> {
        // Every change of a target's requests and assignments bumps its version, so a target
        // without one has none, and its two SELECTs (each planned) are skipped:
        // most submissions are of users with nothing yet.
        let sql = format!(
            "LET $version = type::record('target_state', $t).version ?? 0;
             RETURN $version;
             IF $version == 0 {{ [] }} ELSE {{ {ACTIVE_OF_TARGET} }};
             IF $version == 0 {{ [] }} ELSE {{ {} }};",
            open_of_target()
        );
        let mut response = self.read(&sql, vars! { "t" => target_id }).await?;
        let version = response.value(1)?.as_u64().unwrap_or(0);
        Ok((version, response.rows(2, "assignment")?, response.rows(3, "request")?))
    }

    /// The grants a principal holds, with the assignments that deliver each.
    pub async fn grants_of(&self, principal_id: &str) -> StoreResult<Vec<GrantRecord>> {
        // The id range of the principal: no index (schema V6); ids sort by their grant key.
        let sql = "SELECT principalId, grant, sources FROM grant:[$principal, NONE]..[$principal, {}];";
        self.read(sql, vars! { "principal" => principal_id }).await?.rows(0, "grant")
    }

    /// Timers due at or before `now`, earliest first, from the `limit` owners due first.
    pub async fn due_timers(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> StoreResult<Vec<DueTimer>> {
        let sql = owner_statements(|table| {
            format!(
                "SELECT record::id(id) AS ownerId, {owner} targetId, timers, due FROM {table}
                     WHERE {DUE_RANGE} AND due <= $now ORDER BY due, id LIMIT $limit;",
                owner = if table == "timer_set" { "owner," } else { "" },
            )
        });
        let mut response = self.read(&sql, vars! { "now" => time_key(now), "limit" => limit }).await?;
        let mut owners: Vec<(TimerOwner, TimerSetRecord)> = Vec::new();
        for (i, (table, owner)) in TIMER_TABLES.into_iter().enumerate() {
            let rows: Vec<TimerSetRecord> = response.rows(i, table)?;
            owners.extend(rows.into_iter().map(|r| {
                let owner = owner.unwrap_or(match r.owner.as_deref() {
                    Some("assignment") => TimerOwner::Assignment,
                    Some("guest") => TimerOwner::Guest,
                    Some("review") => TimerOwner::Review,
                    _ => TimerOwner::Scope,
                });
                (owner, r)
            }));
        }
        // The first `limit` of each table hold the first `limit` of all three.
        owners.sort_by(|(_, a), (_, b)| (&a.due, &a.owner_id).cmp(&(&b.due, &b.owner_id)));
        owners.truncate(limit);
        let mut due: Vec<DueTimer> = owners
            .into_iter()
            .flat_map(|(owner, r)| {
                let (owner_id, target_id) = (r.owner_id, r.target_id);
                r.timers.into_iter().filter(|t| t.due <= now).map(move |timer| DueTimer {
                    owner,
                    owner_id: owner_id.clone(),
                    target_id: target_id.clone(),
                    timer,
                })
            })
            .collect();
        due.sort_by(|a, b| (a.timer.due, &a.owner_id).cmp(&(b.timer.due, &b.owner_id)));
        Ok(due)
    }

    /// Deletes one stored timer; `false` when its owner's timers changed since they were read
    /// (or the owner is gone), and nothing was written.
    pub async fn delete_timer(&self, owner: TimerOwner, owner_id: &str, timer: &Timer) -> StoreResult<bool> {
        let table = table(owner);
        // Wrapped in an object: a bare array would read as several results.
        let read = self
            .read(
                "RETURN { timers: type::record($table, $owner).timers };",
                vars! { "table" => table, "owner" => owner_id },
            )
            .await?
            .value(0)?;
        let Some(read) = read.get("timers").filter(|t| t.is_array()).cloned() else { return Ok(false) };
        let timers: Vec<Timer> = super::decode(table, read.clone())?;
        let left: Vec<Timer> = timers.into_iter().filter(|t| t != timer).collect();
        let (due, left) = timer_set_fields(&left)?;
        // Only the timers as read: ones a write replaced meanwhile are left to the next firing.
        let mut response = self
            .untracked()
            .transaction(
                "LET $same = type::record($table, $owner).timers == $read;
                 IF $same {
                     UPDATE type::record($table, $owner) SET due = $due, timers = $left RETURN NONE;
                 };
                 RETURN $same;",
                vars! { "table" => table, "owner" => owner_id, "read" => read, "due" => due, "left" => left },
            )
            .await?;
        // Statement 0 is the transaction's BEGIN.
        Ok(response.value(3)?.as_bool().unwrap_or(false))
    }

    /// Deletes timer sets (scope removals', assignments', guests', reviews') with no timers left,
    /// at most `limit`; returns how many.
    /// Writes replace a set in place and leave it empty rather than delete it (see schema V8).
    pub async fn sweep_timer_sets(&self, limit: usize) -> StoreResult<usize> {
        let empty: Vec<String> = self
            .read(
                "SELECT VALUE record::id(id) FROM timer_set WHERE due = $never LIMIT $limit;",
                vars! { "never" => NEVER, "limit" => limit },
            )
            .await?
            .rows(0, "timer_set")?;
        let swept = empty.len();
        if swept > 0 {
            // Only sets still empty go: one a write refilled meanwhile stays.
            self.untracked()
                .transaction(
                    "DELETE $empty.map(|$k| type::record('timer_set', $k)) WHERE due = $never RETURN NONE;",
                    vars! { "empty" => empty, "never" => NEVER },
                )
                .await?;
        }
        Ok(swept)
    }

    /// The scheduled removals of auto-assigned access: `(assignment id, due)`.
    pub async fn scope_removals(&self) -> StoreResult<Vec<(AssignmentId, chrono::DateTime<chrono::Utc>)>> {
        let rows: Vec<Value> = self
            .read(
                "SELECT record::id(id) AS ownerId, due FROM timer_set WHERE owner = 'scope' AND due != $never;",
                vars! { "never" => NEVER },
            )
            .await?
            .rows(0, "timer_set")?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let id = AssignmentId::new(row.get("ownerId")?.as_str()?.strip_suffix(SCOPE_SUFFIX)?);
                let due = chrono::DateTime::parse_from_rfc3339(row.get("due")?.as_str()?).ok()?.to_utc();
                Some((id, due))
            })
            .collect())
    }

    /// Records why an auto-assignment policy could not assign a user it selects.
    pub async fn record_exclusion(
        &self,
        policy_id: &PolicyId,
        target_id: &UserId,
        reason: &str,
        at: &str,
    ) -> StoreResult<()> {
        self.untracked()
            .transaction(
                "UPSERT type::record('auto_exclusion', [$policy, $target]) CONTENT { policyId: $policy, targetId: $target, reason: $reason, recordedDateTime: $at } RETURN NONE;",
                vars! { "policy" => policy_id, "target" => target_id, "reason" => reason, "at" => at },
            )
            .await?;
        Ok(())
    }

    /// Forgets an exclusion (the user was assigned, or left the scope).
    pub async fn clear_exclusion(&self, policy_id: &PolicyId, target_id: &UserId) -> StoreResult<()> {
        self.untracked()
            .transaction(
                "DELETE type::record('auto_exclusion', [$policy, $target]);",
                vars! { "policy" => policy_id, "target" => target_id },
            )
            .await?;
        Ok(())
    }

    /// Every recorded exclusion, as `(policy id, user id)`.
    pub async fn all_exclusions(&self) -> StoreResult<Vec<(PolicyId, UserId)>> {
        let rows: Vec<Exclusion> =
            self.all("auto_exclusion", "true", "policyId, targetId", Map::new()).await?;
        Ok(rows.into_iter().map(|e| (e.policy_id, e.target_id)).collect())
    }

    /// The users a policy selects but could not assign, and why, by user id.
    pub async fn exclusions(&self, policy_id: &PolicyId) -> StoreResult<Vec<Exclusion>> {
        self.all("auto_exclusion", "policyId = $policy", "targetId", vars! { "policy" => policy_id }).await
    }

    /// When the next timer is due, if any is stored.
    pub async fn next_timer_due(&self) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
        let sql = owner_statements(|table| {
            format!(
                "RETURN (SELECT VALUE due FROM {table} WHERE {DUE_RANGE} AND due < $never ORDER BY due LIMIT 1)[0];"
            )
        });
        let mut response = self.read(&sql, vars! { "never" => NEVER }).await?;
        let firsts =
            (0..TIMER_TABLES.len()).map(|i| response.value(i)).collect::<StoreResult<Vec<Value>>>()?;
        Ok(firsts
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(Into::into)
            .min())
    }

    /// Commits a change to a target's requests and assignments (see the module documentation).
    /// Answers the outbox row its calls were written to, if it made any.
    pub async fn commit_governance(&self, write: &GovernanceWrite) -> StoreResult<Option<Outbox>> {
        self.commit_governance_batch(&[write]).await
    }

    /// Commits several changes, for different targets, in one transaction: all of them or none.
    /// Each keeps its own guards, so one decided on moved data fails the batch as stale.
    ///
    /// The statements are set-based: whatever the number of changes, the transaction is the
    /// same dozen statements over arrays (new rows go in with one `INSERT` per table), so its
    /// cost grows with the rows written, not with the statements parsed. The custom extension
    /// calls the changes make go into one outbox row, which is answered.
    pub async fn commit_governance_batch(&self, writes: &[&GovernanceWrite]) -> StoreResult<Option<Outbox>> {
        let mut seen = std::collections::HashSet::new();
        if !writes.iter().all(|w| seen.insert(w.target_id.as_str())) {
            // Two changes of one target cannot both hold on the version they were decided on.
            return Err(StoreError::Stale);
        }
        let (body, vars) = governance_sql(writes, &self.pending)?;
        self.untracked().transaction(&body, vars).await?;
        Ok(Outbox::of(writes.iter().map(|w| w.callouts.as_slice())))
    }
}

/// How many shards an access package's and a policy's assignment tallies have (schema V5).
const TALLY_SHARDS: u64 = 16;

/// Every tally shard, for the deletions that write them all.
pub(crate) fn tally_shards() -> Vec<u64> {
    (0..TALLY_SHARDS).collect()
}

/// The tally shard a batch counts its assignments in: a hash of its first target, so that
/// concurrent transactions rarely share one.
fn tally_shard(writes: &[&GovernanceWrite]) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    writes.first().map(|w| w.target_id.as_str()).unwrap_or_default().hash(&mut hasher);
    hasher.finish() % TALLY_SHARDS
}

/// The request a write creates that its new assignment can carry (see the module
/// documentation): a `systemAdd` request delivered by the write that creates its assignment,
/// with no timers (`timers`, those its row would have), whose creation event is written with
/// it, and whose assignment has the id derived from its own
/// ([`assignment_id_for`](em_engine::request::assignment_id_for), as every add request's has);
/// answers its assignment's id and the id of the event record holding its document.
fn carrier<'a>(
    write: &'a GovernanceWrite,
    request: &'a AccessPackageAssignmentRequest,
    timers: &[Timer],
    created: &std::collections::HashMap<&str, &'a str>,
) -> Option<(&'a str, &'a str)> {
    use em_engine::request::{AccessPackageRequestState, AccessPackageRequestType};
    if request.request_type != AccessPackageRequestType::SystemAdd
        || request.state != AccessPackageRequestState::Delivered
        || !timers.is_empty()
    {
        return None;
    }
    let assignment = request.assignment_id.as_deref()?;
    // Its id is what `Store::request` finds it by.
    (em_engine::request::assignment_id_for(&request.id).as_str() == assignment).then_some(())?;
    write.assignments.iter().any(|(a, v)| v.is_none() && a.id.as_str() == assignment).then_some(())?;
    Some((assignment, created.get(request.id.as_str())?))
}

/// The statements and variables of a batch of governance writes, written with `events`.
fn governance_sql(
    writes: &[&GovernanceWrite],
    events: &[em_engine::event::Event],
) -> StoreResult<(String, Map<String, Value>)> {
    let created = super::events::creation_records(events);
    // package -> catalog, of the new assignments
    let mut packages = std::collections::BTreeMap::new();
    // package -> catalog, of the carried requests
    let mut carried_packages = std::collections::BTreeMap::new();
    let stale = super::throw_stale();
    let gone = throw(ErrorCode::NotFound, "accessPackageId", "the access package no longer exists");
    let mut targets = Vec::new();
    let mut target_rows = Vec::new();
    let mut new_requests = Vec::new();
    let mut changed_requests = Vec::new();
    let mut new_assignments = Vec::new();
    let mut new_keys = Vec::new();
    let mut changed_assignments = Vec::new();
    // (package, policy) -> assignments added
    let mut added: std::collections::BTreeMap<(&str, &str), u64> = std::collections::BTreeMap::new();
    let mut timer_rows = Vec::new();
    let mut timer_updates = Vec::new();
    let mut assignment_timers = Vec::new();
    let mut grants = Vec::new();
    let mut memberships = Vec::new();
    let mut revoked = Vec::new();
    let mut new_guests = Vec::new();
    let mut changed_guests = Vec::new();
    let outbox = super::extensions::outbox_row(writes.iter().map(|w| w.callouts.as_slice()))?;
    for write in writes {
        let target = &write.target_id;
        if let Some(guest) = &write.guest {
            let record = super::content(&guest.record)?;
            if guest.created {
                let user = super::directory::user_row(&guest.user)?;
                new_guests.push(json!({ "id": target, "user": user, "record": record }));
            } else {
                // Only what the lifecycle changes: the rest of the user may have been edited since.
                changed_guests.push(json!({
                    "id": target,
                    "accountEnabled": guest.user.account_enabled(),
                    "record": record,
                }));
            }
        }
        // The target's assignments that give access and that ended, as this write leaves them.
        let (mut active, mut ended): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
        for (assignment, _) in &write.assignments {
            let list = if assignment.is_active() { &mut active } else { &mut ended };
            list.push(assignment.id.as_str());
        }
        if write.target_version == 0 {
            target_rows.push(json!({ "id": target, "version": 1, "active": active, "ended": ended }));
        }
        targets.push(json!({ "id": target, "seen": write.target_version, "active": active, "ended": ended }));
        // An owner's timers as the write gives them, else the ones its document has now.
        let timers_of = |owner: TimerOwner, id: &str| {
            write
                .timers
                .iter()
                .find(|(o, i, _)| *o == owner && i == id)
                .map(|(_, _, timers)| timers.as_slice())
        };
        // assignment id -> (request id, event record id, the request's sort key)
        let mut carriers: std::collections::HashMap<&str, (&str, &str, String)> =
            std::collections::HashMap::new();
        for (request, version) in &write.requests {
            let timers = timers_of(TimerOwner::Request, &request.id)
                .map_or_else(|| request.timers(), <[Timer]>::to_vec);
            if version.is_none()
                && let Some((assignment, event)) = carrier(write, request, &timers, &created)
            {
                carried_packages.insert(request.access_package_id.as_str(), request.catalog_id.as_str());
                // Listed where its row would be: a carried request that becomes a row keeps its place.
                let sort_key = format!("{}\u{1}{}", time_key(request.created_date_time), request.id);
                carriers.insert(assignment, (request.id.as_str(), event, sort_key));
                continue;
            }
            let next = version.map_or(1, |v| v + 1);
            let mut row = with_timers(request_row(request, next)?, &timers)?;
            match version {
                None => {
                    if let Some(object) = row.as_object_mut() {
                        object.insert("id".into(), json!(request.id));
                    }
                    new_requests.push(row);
                }
                Some(v) => changed_requests.push(json!({
                    "id": request.id,
                    "expected": v,
                    "row": row,
                    // Only a `systemAdd` may be carried by its assignment, which has this id.
                    "carrier": (request.request_type == em_engine::request::AccessPackageRequestType::SystemAdd)
                        .then(|| em_engine::request::assignment_id_for(&request.id)),
                })),
            }
        }
        for (assignment, version) in &write.assignments {
            let next = version.map_or(1, |v| v + 1);
            // Its timers are a timer set of their own (schema V26): only one with timers has one.
            let timers = timers_of(TimerOwner::Assignment, &assignment.id)
                .map_or_else(|| assignment.timers(), <[Timer]>::to_vec);
            if !timers.is_empty() {
                timer_rows.push(timer_set_row(TimerOwner::Assignment, &assignment.id, target, &timers)?);
            } else if version.is_some() {
                timer_updates
                    .push(json!({ "table": "timer_set", "id": assignment.id, "due": NEVER, "timers": [] }));
            }
            match version {
                None => {
                    let created = time_key(assignment.schedule.start_date_time.unwrap_or_default());
                    let mut row = assignment_row(assignment, next, &created)?;
                    let carried = carriers.get(assignment.id.as_str());
                    if let Some(object) = row.as_object_mut() {
                        object.insert("id".into(), json!(assignment.id));
                        if let Some((request, event, sort_key)) = carried {
                            object.insert("carried".into(), Value::Bool(true));
                            object.insert("requestId".into(), json!(request));
                            object.insert("requestEvent".into(), json!(event));
                            object.insert("sortKey".into(), json!(sort_key));
                        }
                    }
                    new_keys.push(assignment_key(
                        assignment,
                        row.get("sortKey").and_then(Value::as_str).unwrap_or_default(),
                        carried.is_some(),
                    ));
                    packages.insert(assignment.access_package_id.as_str(), assignment.catalog_id.as_str());
                    new_assignments.push(row);
                    *added
                        .entry((
                            assignment.access_package_id.as_str(),
                            assignment.assignment_policy_id.as_str(),
                        ))
                        .or_default() += 1;
                }
                Some(v) => changed_assignments.push(json!({
                    "id": assignment.id,
                    "expected": v,
                    "ends": !assignment.is_active(),
                    "row": assignment_row(assignment, next, "")?,
                })),
            }
        }
        for (owner, owner_id, timers) in &write.timers {
            match owner {
                TimerOwner::Scope | TimerOwner::Guest | TimerOwner::Review => {
                    timer_rows.push(timer_set_row(*owner, owner_id, target, timers)?);
                }
                // A request this write writes carries its timers in its row; an assignment's were
                // written with it above.
                TimerOwner::Request if write.requests.iter().any(|(r, _)| r.id == *owner_id) => {}
                TimerOwner::Assignment if write.assignments.iter().any(|(a, _)| a.id == *owner_id) => {}
                // Another assignment's, only if it exists (see the statement).
                TimerOwner::Assignment if !timers.is_empty() => {
                    assignment_timers.push(timer_set_row(*owner, owner_id, target, timers)?);
                }
                _ => {
                    let (due, timers) = timer_set_fields(timers)?;
                    timer_updates.push(
                        json!({ "table": table(*owner), "id": owner_id, "due": due, "timers": timers }),
                    );
                }
            }
        }
        for (assignment_id, grant) in &write.deliver {
            grants.push(json!({
                "id": [target, grant_key(grant)],
                "principalId": target,
                "grant": serde_json::to_value(grant).map_err(|e| StoreError::Backend(e.to_string()))?,
                "sources": [assignment_id],
            }));
            if let Some((group, relation)) = grant_membership(grant) {
                memberships.push(json!({
                    "id": [target, group, relation],
                    "groupId": group,
                    "principalId": target,
                    "relation": relation,
                }));
            }
        }
        for (assignment_id, grant, remove) in &write.revoke {
            revoked.push(json!({
                "target": target,
                "key": grant_key(grant),
                "source": assignment_id,
                "remove": remove,
                "membership": grant_membership(grant).map(|(group, relation)| json!({ "group": group, "relation": relation })),
            }));
        }
    }

    let mut body = String::new();
    let mut vars = Map::new();
    vars.insert("shard".into(), json!(tally_shard(writes)));
    // Every target still at the version its change was decided on, then one past it: a target
    // with a version is updated in place, one without gets its first. (`INSERT ... ON DUPLICATE
    // KEY UPDATE` costs an existing row about twice an UPDATE: SurrealDB tries the insert, builds
    // an error, then updates; `benches/README.md`, "Statement forms".)
    // Its `active` and `ended` lists name the target's assignments (schema V26), in the order
    // they were created.
    body.push_str(&format!(
        "FOR $t IN $targets {{
             IF (type::record('target_state', $t.id).version ?? 0) != $t.seen {{ {stale} }};
             IF $t.seen > 0 {{
                 UPDATE type::record('target_state', $t.id) SET version = $t.seen + 1,
                     active = array::union(array::complement(active ?? [], $t.ended), $t.active),
                     ended = array::union(array::complement(ended ?? [], $t.active), $t.ended)
                     RETURN NONE;
             }};
         }};\n"
    ));
    vars.insert("targets".into(), Value::Array(targets));
    if !target_rows.is_empty() {
        body.push_str("INSERT INTO target_state $targetRows RETURN NONE;\n");
        vars.insert("targetRows".into(), Value::Array(target_rows));
    }
    if !new_guests.is_empty() {
        // One guest per person: a second invitation of the same person decided on the same
        // version cannot get here, and one decided before the first committed finds the user.
        body.push_str(&format!(
            "FOR $g IN $newGuests {{
                 IF record::exists(type::record('user', $g.id)) {{ {stale} }};
                 CREATE type::record('user', $g.id) CONTENT $g.user RETURN NONE;
                 UPSERT type::record('managed_guest', $g.id) CONTENT $g.record RETURN NONE;
             }};\n"
        ));
        vars.insert("newGuests".into(), Value::Array(new_guests));
    }
    if !changed_guests.is_empty() {
        body.push_str(&format!(
            "FOR $g IN $changedGuests {{
                 IF !record::exists(type::record('managed_guest', $g.id)) {{ {stale} }};
                 UPDATE type::record('user', $g.id) SET accountEnabled = $g.accountEnabled RETURN NONE;
                 UPDATE type::record('managed_guest', $g.id) CONTENT $g.record RETURN NONE;
             }};\n"
        ));
        vars.insert("changedGuests".into(), Value::Array(changed_guests));
    }
    if !changed_requests.is_empty() {
        // A carried request (version 1) that changes becomes a row of its own.
        body.push_str(&format!(
            "FOR $r IN $changedRequests {{
                 LET $a = IF $r.carrier != NONE AND $r.carrier != NULL {{
                     type::record('assignment', $r.carrier).{{ carried, requestId, accessPackageId, active, sortKey }}
                 }} ELSE {{ NONE }};
                 IF $a.carried == true AND $a.requestId == $r.id {{
                     IF $r.expected != 1 {{ {stale} }};
                     UPDATE type::record('assignment', $r.carrier)
                         SET carried = NONE, requestId = NONE, requestEvent = NONE RETURN NONE;
                     UPDATE type::record('assignment_key', [$a.accessPackageId, $a.active, $a.sortKey])
                         SET carried = NONE RETURN NONE;
                     CREATE type::record('request', $r.id) CONTENT $r.row RETURN NONE;
                 }} ELSE {{
                     IF (type::record('request', $r.id).version ?? -1) != $r.expected {{ {stale} }};
                     UPDATE type::record('request', $r.id) CONTENT $r.row RETURN NONE;
                 }};
             }};\n"
        ));
        vars.insert("changedRequests".into(), Value::Array(changed_requests));
    }
    let package_rows = |packages: std::collections::BTreeMap<&str, &str>| -> Value {
        packages
            .into_iter()
            .map(|(package, catalog)| json!({ "id": package, "catalogId": catalog }))
            .collect()
    };
    if !carried_packages.is_empty() {
        body.push_str("INSERT IGNORE INTO carried_package $carriedPackages RETURN NONE;\n");
        vars.insert("carriedPackages".into(), package_rows(carried_packages));
    }
    if !new_requests.is_empty() {
        body.push_str("INSERT INTO request $newRequests RETURN NONE;\n");
        vars.insert("newRequests".into(), Value::Array(new_requests));
    }
    if !changed_assignments.is_empty() {
        body.push_str(&format!(
            "FOR $a IN $changedAssignments {{
                 LET $old = type::record('assignment', $a.id).{{ active, version, sortKey, carried, requestId, requestEvent }};
                 IF ($old.version ?? -1) != $a.expected {{ {stale} }};
                 IF $old.active != $a.row.active {{
                     DELETE type::record('assignment_key', [$a.row.accessPackageId, $old.active, $old.sortKey]);
                     CREATE type::record('assignment_key', [$a.row.accessPackageId, $a.row.active, $old.sortKey])
                         CONTENT {{ a: $a.id, policy: $a.row.assignmentPolicyId, carried: $old.carried }} RETURN NONE;
                 }};
                 IF $a.ends AND $old.active {{
                     UPSERT type::record('assignment_tally', [$a.row.accessPackageId, $a.row.assignmentPolicyId, $shard])
                         SET accessPackageId = $a.row.accessPackageId, assignmentPolicyId = $a.row.assignmentPolicyId,
                             n = (n ?? 0) - 1 RETURN NONE;
                 }};
                 UPDATE type::record('assignment', $a.id) CONTENT object::extend($a.row, {{
                     sortKey: $old.sortKey, carried: $old.carried, requestId: $old.requestId, requestEvent: $old.requestEvent,
                 }}) RETURN NONE;
             }};\n"
        ));
        vars.insert("changedAssignments".into(), Value::Array(changed_assignments));
    }
    if !new_assignments.is_empty() {
        let counts: Vec<Value> = added
            .into_iter()
            .map(|((package, policy), n)| json!({ "package": package, "policy": policy, "n": n }))
            .collect();
        body.push_str(&format!(
            "FOR $c IN $added {{
                 IF !record::exists(type::record('access_package', $c.package)) {{ {gone} }};
                 UPSERT type::record('assignment_tally', [$c.package, $c.policy, $shard])
                     SET accessPackageId = $c.package, assignmentPolicyId = $c.policy, n = (n ?? 0) + $c.n RETURN NONE;
             }};
             INSERT INTO assignment $newAssignments RETURN NONE;
             INSERT INTO assignment_key $newKeys RETURN NONE;
             INSERT IGNORE INTO assignment_package $packages RETURN NONE;\n"
        ));
        vars.insert("added".into(), Value::Array(counts));
        vars.insert("newAssignments".into(), Value::Array(new_assignments));
        vars.insert("newKeys".into(), Value::Array(new_keys));
        vars.insert("packages".into(), package_rows(packages));
    }
    if !timer_updates.is_empty() {
        // Only a record that exists: UPDATE creates none.
        body.push_str(
            "FOR $t IN $timerUpdates {
                 UPDATE type::record($t.table, $t.id) SET due = $t.due, timers = $t.timers RETURN NONE;
             };\n",
        );
        vars.insert("timerUpdates".into(), Value::Array(timer_updates));
    }
    if !assignment_timers.is_empty() {
        body.push_str(
            "FOR $t IN $assignmentTimers {
                 IF record::exists(type::record('assignment', $t.id)) {
                     UPSERT type::record('timer_set', $t.id) CONTENT $t RETURN NONE;
                 };
             };\n",
        );
        vars.insert("assignmentTimers".into(), Value::Array(assignment_timers));
    }
    if !timer_rows.is_empty() {
        body.push_str(
            "INSERT INTO timer_set $timers ON DUPLICATE KEY UPDATE due = $input.due, timers = $input.timers RETURN NONE;\n",
        );
        vars.insert("timers".into(), Value::Array(timer_rows));
    }
    if !grants.is_empty() {
        body.push_str(
            "INSERT INTO grant $grants ON DUPLICATE KEY UPDATE grant = $input.grant,
                 sources = array::union(sources ?? [], $input.sources) RETURN NONE;\n",
        );
        vars.insert("grants".into(), Value::Array(grants));
    }
    if !memberships.is_empty() {
        body.push_str(
            "INSERT IGNORE INTO membership $memberships RETURN NONE;
             INSERT IGNORE INTO group_member $groupKeys RETURN NONE;\n",
        );
        let group_keys: Vec<Value> = memberships
            .iter()
            .map(|m| json!({ "id": [&m["groupId"], &m["relation"], &m["principalId"]] }))
            .collect();
        vars.insert("groupKeys".into(), Value::Array(group_keys));
        vars.insert("memberships".into(), Value::Array(memberships));
    }
    if let Some(outbox) = outbox {
        // The calls these changes make: sent after they commit, never lost (see `store::extensions`).
        body.push_str("INSERT INTO callout_outbox $outbox RETURN NONE;\n");
        vars.insert("outbox".into(), outbox);
    }
    if !revoked.is_empty() {
        body.push_str(
            "FOR $r IN $revoked {
                 IF $r.remove {
                     DELETE type::record('grant', [$r.target, $r.key]);
                     IF $r.membership != NONE AND $r.membership != NULL {
                         DELETE type::record('membership', [$r.target, $r.membership.group, $r.membership.relation]);
                         DELETE type::record('group_member', [$r.membership.group, $r.membership.relation, $r.target]);
                     };
                 } ELSE {
                     UPDATE type::record('grant', [$r.target, $r.key]) SET sources = array::complement(sources ?? [], [$r.source]) RETURN NONE;
                 };
             };\n",
        );
        vars.insert("revoked".into(), Value::Array(revoked));
    }
    Ok((body, vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_keys_name_the_role() {
        let grant = Grant::AppRole { application_id: "a".into(), app_role_id: "r".into() };
        assert_eq!(grant_key(&grant), "appRole:a:r");
        assert_eq!(grant_membership(&Grant::GroupOwner { group_id: "g".into() }), Some(("g", "owner")));
        assert_eq!(grant_membership(&grant), None);
    }

    /// A caller is read with their memberships and the version of their requests and
    /// assignments, in one round trip; a user without a version has 0.
    #[tokio::test]
    async fn a_caller_is_read_with_groups_and_version() {
        let store = Store::open(&crate::store::StoreConfig::memory()).await.unwrap();
        store
            .db
            .query(
                "CREATE user:u1 CONTENT { displayName: 'U', userPrincipalName: 'u1@x', upnKey: 'u1@x', accountEnabled: true,
                     userType: 'Member', sortKey: 'u' };
                 CREATE membership:['u1', 'g2', 'member'] CONTENT { groupId: 'g2', principalId: 'u1', relation: 'member' };
                 CREATE membership:['u1', 'g1', 'owner'] CONTENT { groupId: 'g1', principalId: 'u1', relation: 'owner' };
                 CREATE membership:['u2', 'g3', 'member'] CONTENT { groupId: 'g3', principalId: 'u2', relation: 'member' };
                 CREATE membership:['u10', 'g0', 'member'] CONTENT { groupId: 'g0', principalId: 'u10', relation: 'member' };",
            )
            .await
            .unwrap()
            .check()
            .unwrap();
        let (user, memberships, version) = store.caller("u1").await.unwrap();
        assert_eq!(user.map(|u| u.id), Some(UserId::new("u1")));
        let groups: Vec<&str> = memberships.iter().map(|m| m.group_id.as_str()).collect();
        assert_eq!(groups, ["g1", "g2"], "the key range of u1, not of u10");
        assert_eq!(version, 0);
        store.commit_governance_batch(&[&GovernanceWrite::new(&UserId::new("u1"), 0)]).await.unwrap();
        assert_eq!(store.caller("u1").await.unwrap().2, 1);
        let (nobody, none, version) = store.caller("u9").await.unwrap();
        assert!(nobody.is_none() && none.is_empty() && version == 0);
    }

    /// A principal's grants are the id range of the principal, without an index (schema V6):
    /// another principal's grants, even one whose id starts with this one's, stay out.
    #[tokio::test]
    async fn grants_of_a_principal_are_its_id_range() {
        let store = Store::open(&crate::store::StoreConfig::memory()).await.unwrap();
        let member = Grant::GroupMember { group_id: "g".into() };
        let role = Grant::AppRole { application_id: "a".into(), app_role_id: "r".into() };
        let mut write = GovernanceWrite::new(&UserId::new("u1"), 0);
        write.deliver = vec![("as1".into(), member.clone()), ("as1".into(), role.clone())];
        store.commit_governance_batch(&[&write]).await.unwrap();
        let mut other = GovernanceWrite::new(&UserId::new("u10"), 0);
        other.deliver = vec![("as2".into(), member.clone())];
        store.commit_governance_batch(&[&other]).await.unwrap();

        let held = store.grants_of("u1").await.unwrap();
        let grants: Vec<&Grant> = held.iter().map(|g| &g.grant).collect();
        assert_eq!(grants, vec![&role, &member], "ordered by grant key");
        assert!(held.iter().all(|g| g.principal_id == "u1" && g.sources == ["as1"]));
        assert_eq!(store.grants_of("u10").await.unwrap().len(), 1);
        assert!(store.grants_of("u").await.unwrap().is_empty());
    }

    fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// A request's timers are fields of its record (schema V10), written with it or alone, and
    /// a scope removal's are a set of their own (schema V8) that is swept once emptied; one
    /// timer can be deleted alone; the earliest timers of all owners come first.
    #[tokio::test]
    async fn timers_live_with_their_owner_and_fire_in_order() {
        use em_engine::timer::TimerKind;
        let store = Store::open(&crate::store::StoreConfig::memory()).await.unwrap();
        let timeout = Timer::new(at("2026-01-03T00:00:00Z"), TimerKind::ApprovalTimeout { stage: 0 });
        let escalation = Timer::new(at("2026-01-02T00:00:00Z"), TimerKind::ApprovalEscalation { stage: 0 });
        let mut write = GovernanceWrite::new(&UserId::new("u1"), 0);
        // r2 is written without timers: it has those of its document, none.
        write.requests = vec![(sample_request("r1"), None), (sample_request("r2"), None)];
        write.timers = vec![(TimerOwner::Request, "r1".into(), vec![timeout, escalation])];
        store.commit_governance_batch(&[&write]).await.unwrap();
        let mut other = GovernanceWrite::new(&UserId::new("u2"), 0);
        let removal = Timer::new(at("2026-01-02T12:00:00Z"), TimerKind::ScopeRemoval);
        other.timers = vec![
            (TimerOwner::Scope, format!("as2{SCOPE_SUFFIX}"), vec![removal]),
            // No such assignment: nothing is written for it.
            (TimerOwner::Assignment, "as9".into(), vec![removal]),
        ];
        store.commit_governance_batch(&[&other]).await.unwrap();
        let mut response = store
            .db
            .query("SELECT record::id(id) AS id, due FROM request ORDER BY id; RETURN count(SELECT id FROM assignment);")
            .await
            .unwrap();
        let rows: Vec<Value> = response.take(0).unwrap();
        assert_eq!(
            rows,
            vec![json!({ "id": "r1", "due": time_key(escalation.due) }), json!({ "id": "r2", "due": NEVER })]
        );
        assert_eq!(response.take::<Option<i64>>(1).unwrap(), Some(0), "a timer creates no owner");

        assert!(store.due_timers(at("2026-01-01T00:00:00Z"), 10).await.unwrap().is_empty());
        let due = store.due_timers(at("2026-01-05T00:00:00Z"), 10).await.unwrap();
        let order: Vec<(&str, TimerKind)> = due.iter().map(|d| (d.owner_id.as_str(), d.timer.kind)).collect();
        assert_eq!(
            order,
            [
                ("r1", TimerKind::ApprovalEscalation { stage: 0 }),
                ("as2#scope", TimerKind::ScopeRemoval),
                ("r1", TimerKind::ApprovalTimeout { stage: 0 }),
            ],
            "every due timer, earliest first"
        );
        assert_eq!((due[0].owner, due[0].target_id.as_str()), (TimerOwner::Request, "u1"));
        assert_eq!((due[1].owner, due[1].target_id.as_str()), (TimerOwner::Scope, "u2"));
        let due = store.due_timers(at("2026-01-02T06:00:00Z"), 10).await.unwrap();
        assert_eq!(due.len(), 1, "only what is due: {due:?}");
        let first = store.due_timers(at("2026-01-05T00:00:00Z"), 1).await.unwrap();
        assert_eq!(first.len(), 2, "the timers due of the owner due first: {first:?}");
        assert!(first.iter().all(|d| d.owner_id == "r1"));
        assert_eq!(store.next_timer_due().await.unwrap(), Some(escalation.due));

        // The escalation is deleted alone; then the request's timers are replaced by none.
        assert!(store.delete_timer(TimerOwner::Request, "r1", &escalation).await.unwrap());
        assert!(
            !store.delete_timer(TimerOwner::Assignment, "as9", &escalation).await.unwrap(),
            "no such owner"
        );
        let due = store.due_timers(at("2026-01-05T00:00:00Z"), 10).await.unwrap();
        let left: Vec<&DueTimer> = due.iter().filter(|d| d.owner_id == "r1").collect();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].timer, timeout);
        let mut emptied = GovernanceWrite::new(&UserId::new("u1"), 1);
        emptied.timers = vec![(TimerOwner::Request, "r1".into(), Vec::new())];
        store.commit_governance_batch(&[&emptied]).await.unwrap();
        let due = store.due_timers(at("9999-01-01T00:00:00Z"), 10).await.unwrap();
        assert_eq!(due.iter().map(|d| d.owner_id.as_str()).collect::<Vec<_>>(), ["as2#scope"]);
        assert_eq!(store.next_timer_due().await.unwrap(), Some(removal.due));

        // The scope removal's set is emptied, then swept.
        let mut emptied = GovernanceWrite::new(&UserId::new("u2"), 1);
        emptied.timers = vec![(TimerOwner::Scope, format!("as2{SCOPE_SUFFIX}"), Vec::new())];
        store.commit_governance_batch(&[&emptied]).await.unwrap();
        assert!(store.due_timers(at("9999-01-01T00:00:00Z"), 10).await.unwrap().is_empty());
        assert_eq!(store.next_timer_due().await.unwrap(), None);
        assert_eq!(store.sweep_timer_sets(100).await.unwrap(), 1);
        assert_eq!(store.sweep_timer_sets(100).await.unwrap(), 0);
    }

    /// The runner's queries for due timers read the `due` indexes.
    #[tokio::test]
    async fn due_timers_are_read_from_indexes() {
        let store = Store::open(&crate::store::StoreConfig::memory()).await.unwrap();
        for (table, index) in [("request", "requestDue"), ("timer_set", "timerSetDue")] {
            let sql = format!(
                "SELECT id FROM {table} WHERE due > '' AND due <= '2026' ORDER BY due LIMIT 5 EXPLAIN"
            );
            let plan: Vec<Value> = store.db.query(sql).await.unwrap().take(0).unwrap();
            let plan = Value::Array(plan).to_string();
            assert!(plan.contains(index), "{table}: {plan}");
        }
    }

    /// A page of a package's, catalog's, target's or requestor's requests and assignments is a
    /// range of one index read in order up to its limit: nothing is sorted, whatever the size.
    #[tokio::test]
    async fn a_page_is_a_range_of_one_index() {
        let store = Store::open(&crate::store::StoreConfig::memory()).await.unwrap();
        for (table, filter, index) in [
            ("request", "accessPackageId = $v", "requestPackage"),
            ("request", "catalogId = $v", "requestCatalog"),
            ("request", "requestorId = $v", "requestRequestor"),
        ] {
            let sql = format!(
                "SELECT id FROM {table} WHERE ({filter}) AND sortKey > $after ORDER BY sortKey LIMIT 51 EXPLAIN"
            );
            let plan: Vec<Value> =
                store.db.query(sql).bind(("v", "x")).bind(("after", "")).await.unwrap().take(0).unwrap();
            let plan = Value::Array(plan).to_string();
            assert!(plan.contains(index) && plan.contains("MoreThan"), "{table} {filter}: {plan}");
            assert!(!plan.contains("Sort"), "{table} {filter}: {plan}");
        }
    }

    /// A page of a package's assignments is a range of its keys read in order up to its limit:
    /// nothing is sorted and no table is scanned, whatever the size.
    #[tokio::test]
    async fn a_page_of_assignments_is_a_range_of_keys() {
        let store = Store::open(&crate::store::StoreConfig::memory()).await.unwrap();
        let sql = format!("{} EXPLAIN", key_range_page("$v", true, "policy = $v"));
        let plan: Vec<Value> = store
            .db
            .query(sql)
            .bind(("v", "x"))
            .bind(("after", ""))
            .bind(("limit", 51))
            .await
            .unwrap()
            .take(0)
            .unwrap();
        let plan = Value::Array(plan).to_string();
        assert!(plan.contains("RecordIdScan") && !plan.contains("Sort"), "{plan}");
    }

    /// Every item of a listing, read a page of one at a time through `page` (given the cursor of
    /// the page before): each once, in order.
    async fn one_at_a_time<T, F, Fut>(mut page: F) -> Vec<T>
    where
        F: FnMut(PageRequest) -> Fut,
        Fut: std::future::Future<Output = Page<T>>,
    {
        let (mut seen, mut after) = (Vec::new(), None);
        loop {
            let found = page(PageRequest { after, first: 1, count: false }).await;
            after = found.items.last().map(|(cursor, _)| cursor.clone());
            let more = found.has_next;
            seen.extend(found.items.into_iter().map(|(_, item)| item));
            if !more {
                return seen;
            }
        }
    }

    /// A delivered `systemAdd` request for `target`, its new assignment and its creation event.
    fn system_add(
        n: usize,
        target: &str,
        created: &str,
    ) -> (
        AccessPackageAssignmentRequest,
        em_engine::assignment::AccessPackageAssignment,
        em_engine::event::Event,
    ) {
        let mut request = sample_request(&format!("sys{n}"));
        request.request_type = em_engine::request::AccessPackageRequestType::SystemAdd;
        request.state = em_engine::request::AccessPackageRequestState::Delivered;
        request.requestor = em_engine::Actor::System;
        request.target_id = UserId::new(target);
        request.created_date_time = at(created);
        let id = em_engine::request::assignment_id_for(&request.id);
        let assignment = assignment_of(&id, ("ap", "c", "p"), target, created, None);
        request.assignment_id = Some(id);
        let event = em_engine::event::Event::new(
            format!("e{n}"),
            em_engine::event::EventKind::RequestCreated,
            &em_engine::Actor::System,
            at(created),
            "accessPackageAssignmentRequest",
            &request.id,
        )
        .with_data(json!({ "request": request }));
        (request, assignment, event)
    }

    /// A delivered `systemAdd` request written with its assignment and creation event is carried
    /// by the assignment (no `request` row): it is read by id and listed, merged in sort-key
    /// order with the request rows, by package, catalog, target and none, counted, and left out
    /// of what it cannot match; the assignment keeps carrying it when it changes; and a carried
    /// request that changes becomes a row of its own, listed once.
    #[tokio::test]
    async fn a_system_add_delivered_with_its_assignment_is_carried_by_it() {
        let store = Store::open(&crate::store::StoreConfig::memory()).await.unwrap();
        store.db.query("CREATE access_package:ap CONTENT { catalogId: 'c', displayName: 'P', isHidden: false, createdDateTime: 'x', modifiedDateTime: 'x', sortKey: 'p' };").await.unwrap().check().unwrap();
        let (first, first_assignment, first_event) = system_add(1, "u1", "2026-01-01T00:00:00Z");
        let mut write = GovernanceWrite::new(&UserId::new("u1"), 0);
        write.requests = vec![(first.clone(), None)];
        write.assignments = vec![(first_assignment.clone(), None)];
        store.logged(vec![first_event]).commit_governance_batch(&[&write]).await.unwrap();
        // A request of the same package and catalog, a row, created between the two carried ones.
        let mut requested = sample_request("r2");
        requested.target_id = UserId::new("u2");
        requested.created_date_time = at("2026-01-02T00:00:00Z");
        let mut write = GovernanceWrite::new(&UserId::new("u2"), 0);
        write.requests = vec![(requested.clone(), None)];
        store.commit_governance_batch(&[&write]).await.unwrap();
        let (third, third_assignment, third_event) = system_add(3, "u3", "2026-01-03T00:00:00Z");
        let mut write = GovernanceWrite::new(&UserId::new("u3"), 0);
        write.requests = vec![(third.clone(), None)];
        write.assignments = vec![(third_assignment, None)];
        store.logged(vec![third_event]).commit_governance_batch(&[&write]).await.unwrap();

        let rows: Vec<String> =
            store.db.query("SELECT VALUE record::id(id) FROM request").await.unwrap().take(0).unwrap();
        assert_eq!(rows, ["r2"], "the carried requests have no row");
        let read = store.request(&first.id).await.unwrap().unwrap();
        assert_eq!((read.request, read.version), (first.clone(), 1));
        assert!(store.request(&RequestId::new("nope")).await.unwrap().is_none());

        let ids = |page: Page<StoredRequest>| -> Vec<String> {
            page.items.into_iter().map(|(_, r)| r.request.id.to_string()).collect()
        };
        let all = PageRequest { after: None, first: 10, count: true };
        for filter in [
            RequestFilter::default(),
            RequestFilter { access_package_id: Some("ap".into()), ..RequestFilter::default() },
            RequestFilter { catalog_id: Some("c".into()), ..RequestFilter::default() },
            RequestFilter { catalog_ids: Some(vec!["c".into()]), ..RequestFilter::default() },
        ] {
            let page = store.requests(&filter, &all).await.unwrap();
            assert_eq!(page.total, 3, "{filter:?}");
            assert_eq!(ids(page), ["sys1", "r2", "sys3"], "{filter:?}");
        }
        // A carried request is listed where its row would be.
        let first_page = store.requests(&RequestFilter::default(), &all).await.unwrap();
        assert_eq!(first_page.items[0].0, format!("{}\u{1}sys1", time_key(first.created_date_time)));
        // Page by page, one at a time: each once, in order.
        let seen = one_at_a_time(|page| {
            let store = store.clone();
            async move { store.requests(&RequestFilter::default(), &page).await.unwrap() }
        })
        .await;
        let seen: Vec<String> = seen.into_iter().map(|r| r.request.id.to_string()).collect();
        assert_eq!(seen, ["sys1", "r2", "sys3"]);
        let of = |filter: RequestFilter| {
            let (store, all) = (store.clone(), all.clone());
            async move { ids(store.requests(&filter, &all).await.unwrap()) }
        };
        assert_eq!(
            of(RequestFilter { target_id: Some("u3".into()), ..RequestFilter::default() }).await,
            ["sys3"]
        );
        assert_eq!(
            of(RequestFilter { requestor_id: Some("u1".into()), ..RequestFilter::default() }).await,
            ["r2"]
        );
        assert_eq!(
            of(RequestFilter { state: Some("delivered".into()), ..RequestFilter::default() }).await,
            ["sys1", "sys3"]
        );
        let none: [&str; 0] = [];
        assert_eq!(
            of(RequestFilter { catalog_id: Some("other".into()), ..RequestFilter::default() }).await,
            none
        );
        let elsewhere = RequestFilter { catalog_ids: Some(vec!["other".into()]), ..RequestFilter::default() };
        assert_eq!(of(elsewhere).await, none);
        assert!(
            of(RequestFilter { access_package_id: Some("other".into()), ..RequestFilter::default() })
                .await
                .is_empty()
        );

        // The assignment ends: it still carries its request.
        let (ended, _) = first_assignment.end(&[], at("2026-02-01T00:00:00Z")).unwrap();
        let mut write = GovernanceWrite::new(&UserId::new("u1"), 1);
        write.assignments = vec![(ended, Some(1))];
        store.commit_governance_batch(&[&write]).await.unwrap();
        assert_eq!(
            of(RequestFilter { target_id: Some("u1".into()), ..RequestFilter::default() }).await,
            ["sys1"]
        );
        assert_eq!(store.request(&first.id).await.unwrap().map(|r| r.version), Some(1));

        // The carried request changes: it becomes a row, at version 2, and is listed once.
        let mut changed = first.clone();
        changed.justification = Some("reviewed".into());
        let mut write = GovernanceWrite::new(&UserId::new("u1"), 2);
        write.requests = vec![(changed.clone(), Some(1))];
        store.commit_governance_batch(&[&write]).await.unwrap();
        let read = store.request(&first.id).await.unwrap().unwrap();
        assert_eq!((read.request, read.version), (changed, 2));
        assert_eq!(of(RequestFilter::default()).await, ["sys1", "r2", "sys3"]);
        // Deciding on the carried version again is stale.
        let mut write = GovernanceWrite::new(&UserId::new("u1"), 3);
        write.requests = vec![(first.clone(), Some(1))];
        assert!(matches!(store.commit_governance_batch(&[&write]).await, Err(StoreError::Stale)));
    }

    /// An assignment of `package` (catalog `catalog`, policy `policy`) for `target`, starting at
    /// `start`, with an expiration on `end` when given.
    fn assignment_of(
        id: &str,
        (package, catalog, policy): (&str, &str, &str),
        target: &str,
        start: &str,
        end: Option<&str>,
    ) -> AccessPackageAssignment {
        use em_engine::assignment::NewAssignment;
        use em_engine::policy::schedule::{EntitlementManagementSchedule, ExpirationPattern};
        AccessPackageAssignment::new(NewAssignment {
            id: AssignmentId::new(id),
            access_package_id: package.into(),
            assignment_policy_id: policy.into(),
            catalog_id: catalog.into(),
            target_id: UserId::new(target),
            schedule: EntitlementManagementSchedule {
                start_date_time: Some(at(start)),
                expiration: end.map(|end| ExpirationPattern {
                    kind: em_engine::policy::schedule::ExpirationPatternType::AfterDateTime,
                    end_date_time: Some(at(end)),
                    duration: None,
                }),
                recurrence: None,
            },
        })
        .record_delivery(&em_engine::assignment::DeliveryOutcome::default())
    }

    /// Assignments are listed without an index (schema V26): by package, policy, catalog, a
    /// delegate's catalogs and none, merged from the packages' key ranges in sort-key order, and
    /// by target from its `target_state`; counted; page by page, each once; one that ends moves
    /// from the active range to the ended one; its timers are a timer set that goes with them.
    #[tokio::test]
    async fn assignments_are_listed_from_their_keys() {
        let store = Store::open(&crate::store::StoreConfig::memory()).await.unwrap();
        for (package, catalog) in [("ap1", "c1"), ("ap2", "c1"), ("ap3", "c2")] {
            store
                .db
                .query(format!("CREATE access_package:{package} CONTENT {{ catalogId: '{catalog}', displayName: 'P', isHidden: false, createdDateTime: 'x', modifiedDateTime: 'x', sortKey: '{package}' }};"))
                .await
                .unwrap()
                .check()
                .unwrap();
        }
        let one = ("ap1", "c1", "p1");
        let one_more = ("ap1", "c1", "p1b");
        let two = ("ap2", "c1", "p2");
        let three = ("ap3", "c2", "p3");
        let all = [
            assignment_of("a1", one, "u1", "2026-01-01T00:00:00Z", None),
            assignment_of("a2", two, "u1", "2026-01-02T00:00:00Z", None),
            assignment_of("a3", three, "u2", "2026-01-03T00:00:00Z", None),
            assignment_of("a4", one_more, "u2", "2026-01-04T00:00:00Z", Some("2026-06-01T00:00:00Z")),
            assignment_of("a5", two, "u3", "2026-01-05T00:00:00Z", None),
        ];
        for target in ["u1", "u2", "u3"] {
            let mut write = GovernanceWrite::new(&UserId::new(target), 0);
            write.assignments =
                all.iter().filter(|a| a.target_id.as_str() == target).map(|a| (a.clone(), None)).collect();
            store.commit_governance_batch(&[&write]).await.unwrap();
        }
        // a4's timers are a timer set of its own; no other assignment has one.
        let owners: Vec<Value> = store
            .db
            .query("SELECT record::id(id) AS id, owner, targetId FROM timer_set")
            .await
            .unwrap()
            .take(0)
            .unwrap();
        assert_eq!(owners, [json!({ "id": "a4", "owner": "assignment", "targetId": "u2" })]);
        assert_eq!(store.next_timer_due().await.unwrap(), all[3].timers().iter().map(|t| t.due).min());

        let ids = |page: Page<StoredAssignment>| -> Vec<String> {
            page.items.into_iter().map(|(_, a)| a.assignment.id.to_string()).collect()
        };
        let of = |filter: AssignmentFilter| {
            let store = store.clone();
            async move {
                let page = store
                    .assignments(&filter, &PageRequest { after: None, first: 10, count: true })
                    .await
                    .unwrap();
                let total = page.total;
                let listed = ids(page);
                // Page by page, one at a time: the same, each once, in order.
                let seen: Vec<String> = one_at_a_time(|page| {
                    let (store, filter) = (store.clone(), filter.clone());
                    async move { store.assignments(&filter, &page).await.unwrap() }
                })
                .await
                .into_iter()
                .map(|a| a.assignment.id.to_string())
                .collect();
                assert_eq!(seen, listed, "{filter:?}");
                assert_eq!(total, listed.len(), "{filter:?}");
                listed
            }
        };
        let every = AssignmentFilter::default();
        assert_eq!(of(every.clone()).await, ["a1", "a2", "a3", "a4", "a5"]);
        let c1 = AssignmentFilter { catalog_id: Some("c1".into()), ..every.clone() };
        assert_eq!(of(c1).await, ["a1", "a2", "a4", "a5"]);
        let delegate = AssignmentFilter { catalog_ids: Some(vec!["c2".into()]), ..every.clone() };
        assert_eq!(of(delegate).await, ["a3"]);
        let package = AssignmentFilter { access_package_id: Some("ap1".into()), ..every.clone() };
        assert_eq!(of(package).await, ["a1", "a4"]);
        // (No policy record: read from every package's keys, as when a policy is gone.)
        let policy = AssignmentFilter { assignment_policy_id: Some("p1b".into()), ..every.clone() };
        assert_eq!(of(policy).await, ["a4"]);
        let target = AssignmentFilter { target_id: Some("u2".into()), ..every.clone() };
        assert_eq!(of(target).await, ["a3", "a4"]);

        // a1 ends, and a4 (with its timers).
        let (ended, _) = all[0].end(&[], at("2026-02-01T00:00:00Z")).unwrap();
        let mut write = GovernanceWrite::new(&UserId::new("u1"), 1);
        write.assignments = vec![(ended, Some(1))];
        store.commit_governance_batch(&[&write]).await.unwrap();
        let (ended, _) = all[3].end(&[], at("2026-02-01T00:00:00Z")).unwrap();
        let mut write = GovernanceWrite::new(&UserId::new("u2"), 1);
        write.assignments = vec![(ended, Some(1))];
        store.commit_governance_batch(&[&write]).await.unwrap();
        assert_eq!(store.next_timer_due().await.unwrap(), None, "a4's timers went with it");
        let active = AssignmentFilter { active_only: true, ..every.clone() };
        assert_eq!(of(active).await, ["a2", "a3", "a5"]);
        assert_eq!(of(every.clone()).await, ["a1", "a2", "a3", "a4", "a5"], "ended ones are still listed");
        let active_of_u1 =
            AssignmentFilter { target_id: Some("u1".into()), active_only: true, ..every.clone() };
        assert_eq!(of(active_of_u1).await, ["a2"]);
        let of_u1 = AssignmentFilter { target_id: Some("u1".into()), ..every };
        assert_eq!(of(of_u1).await, ["a1", "a2"]);
        let held: Vec<String> = store
            .active_assignments_of_package(&"ap1".into())
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.assignment.id.to_string())
            .collect();
        assert!(held.is_empty(), "{held:?}");
        let (_, active, _) = store.target_snapshot(&UserId::new("u1")).await.unwrap();
        let active: Vec<String> = active.into_iter().map(|a| a.assignment.id.to_string()).collect();
        assert_eq!(active, ["a2"]);
        let indexes: Option<Value> =
            store.db.query("INFO FOR TABLE assignment").await.unwrap().take(0).unwrap();
        assert_eq!(indexes.unwrap()["indexes"], json!({}), "the assignment table has no index");
    }

    fn sample_request(id: &str) -> AccessPackageAssignmentRequest {
        serde_json::from_value(json!({
            "id": id, "requestType": "userAdd", "state": "submitted", "status": "Accepted",
            "justification": "needed", "answers": [], "schedule": null,
            "accessPackageId": "ap", "assignmentPolicyId": "p", "catalogId": "c",
            "requestor": { "kind": "user", "id": "u1" }, "targetId": "u1", "assignmentId": null,
            "createdDateTime": "2026-01-01T00:00:00Z", "completedDateTime": null, "approval": null,
            "policySnapshot": { "displayName": "P", "expiration": { "type": "notSpecified", "duration": null, "endDateTime": null }, "stages": [] },
            "explanation": { "policyReason": "why", "priority": null, "otherPolicies": [], "log": [] }
        }))
        .unwrap()
    }

    #[test]
    fn time_keys_sort_as_times() {
        let a = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let b = a + chrono::TimeDelta::microseconds(1);
        assert!(time_key(a) < time_key(b));
        assert_eq!(time_key(a).len(), time_key(b).len());
    }
}
