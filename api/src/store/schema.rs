//! The database schema in SurrealQL, as an ordered list of migrations.
//!
//! Each migration runs once, in one transaction, and records its number in `schema_meta:version`.
//! A later version appends a migration; existing databases are brought forward at startup.
//! Never edit a migration that has shipped: add another.

/// `(version, SurrealQL)` in order. The version recorded after migration `n` is `n`.
pub const MIGRATIONS: &[(u32, &str)] = &[
    (1, V1),
    (2, V2),
    (3, V3),
    (4, V4),
    (5, V5),
    (6, V6),
    (7, V7),
    (8, V8),
    (9, V9),
    (10, V10),
    (11, V11),
    (12, V12),
    (13, V13),
    (14, V14),
    (15, V15),
    (16, V16),
    (17, V17),
    (18, V18),
    (19, V19),
    (20, V20),
    (21, V21),
    (22, V22),
    (23, V23),
    (24, V24),
    (25, V25),
    (26, V26),
];

/// The version this build expects.
#[must_use]
pub fn current_version() -> u32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Version 1: the directory, catalogs, resources and access packages.
const V1: &str = r#"
DEFINE TABLE schema_meta SCHEMAFULL;
DEFINE FIELD version ON schema_meta TYPE int;
DEFINE FIELD migratedDateTime ON schema_meta TYPE string;

-- The directory: users, groups, applications, SharePoint sites, directory roles.
-- Users carry many optional Graph properties; the ones queried by the engine are typed here and
-- the table stays open for the rest (onPremisesExtensionAttributes, extensions, ...).
DEFINE TABLE user SCHEMALESS;
DEFINE FIELD displayName ON user TYPE option<string>;
DEFINE FIELD userPrincipalName ON user TYPE option<string> ASSERT $value == NONE OR string::contains($value, '@');
DEFINE FIELD mail ON user TYPE option<string>;
DEFINE FIELD department ON user TYPE option<string>;
DEFINE FIELD country ON user TYPE option<string>;
DEFINE FIELD userType ON user TYPE option<string> ASSERT $value == NONE OR $value IN ['Member', 'Guest'];
DEFINE FIELD accountEnabled ON user TYPE option<bool>;
DEFINE FIELD managerId ON user TYPE option<string>;
DEFINE FIELD sortKey ON user TYPE string;
DEFINE FIELD upnKey ON user TYPE option<string>;
DEFINE INDEX userUpn ON user FIELDS upnKey UNIQUE;
DEFINE INDEX userManager ON user FIELDS managerId;
DEFINE INDEX userSort ON user FIELDS sortKey;

DEFINE TABLE group SCHEMALESS;
DEFINE FIELD displayName ON group TYPE string ASSERT string::len($value) > 0;
DEFINE FIELD securityEnabled ON group TYPE bool DEFAULT false;
DEFINE FIELD mailEnabled ON group TYPE bool DEFAULT false;
DEFINE FIELD groupTypes ON group TYPE array<string> DEFAULT [];
DEFINE FIELD sortKey ON group TYPE string;
DEFINE INDEX groupSort ON group FIELDS sortKey;

-- Group membership and ownership: one record per (group, principal, relation).
DEFINE TABLE membership SCHEMAFULL;
DEFINE FIELD groupId ON membership TYPE string;
DEFINE FIELD principalId ON membership TYPE string;
DEFINE FIELD relation ON membership TYPE string ASSERT $value IN ['member', 'owner'];
DEFINE INDEX membershipGroup ON membership FIELDS groupId, relation;
DEFINE INDEX membershipPrincipal ON membership FIELDS principalId;

DEFINE TABLE application SCHEMALESS;
DEFINE FIELD displayName ON application TYPE string ASSERT string::len($value) > 0;
DEFINE FIELD sortKey ON application TYPE string;

DEFINE TABLE site SCHEMALESS;
DEFINE FIELD displayName ON site TYPE string ASSERT string::len($value) > 0;
DEFINE FIELD webUrl ON site TYPE string ASSERT string::starts_with($value, 'http');
DEFINE FIELD sortKey ON site TYPE string;
DEFINE INDEX siteUrl ON site FIELDS webUrl UNIQUE;

DEFINE TABLE directory_role SCHEMALESS;
DEFINE FIELD displayName ON directory_role TYPE string ASSERT string::len($value) > 0;
DEFINE FIELD sortKey ON directory_role TYPE string;

-- Entitlement management.
DEFINE TABLE catalog SCHEMAFULL;
DEFINE FIELD displayName ON catalog TYPE string ASSERT string::len($value) > 0;
DEFINE FIELD nameKey ON catalog VALUE string::lowercase(displayName);
DEFINE FIELD description ON catalog TYPE option<string>;
DEFINE FIELD catalogType ON catalog TYPE string ASSERT $value IN ['userManaged', 'serviceDefault', 'serviceManaged'];
DEFINE FIELD state ON catalog TYPE string ASSERT $value IN ['published', 'unpublished'];
DEFINE FIELD isExternallyVisible ON catalog TYPE bool;
DEFINE FIELD createdDateTime ON catalog TYPE string;
DEFINE FIELD modifiedDateTime ON catalog TYPE string;
DEFINE FIELD accessPackageCount ON catalog TYPE int DEFAULT 0 ASSERT $value >= 0;
DEFINE FIELD sortKey ON catalog TYPE string;
DEFINE INDEX catalogName ON catalog FIELDS nameKey UNIQUE;

DEFINE TABLE resource SCHEMAFULL;
DEFINE FIELD catalogId ON resource TYPE string;
DEFINE FIELD displayName ON resource TYPE string;
DEFINE FIELD description ON resource TYPE option<string>;
DEFINE FIELD originId ON resource TYPE string;
DEFINE FIELD originSystem ON resource TYPE string ASSERT $value IN ['AadGroup', 'AadApplication', 'SharePointOnline', 'DirectoryRole'];
DEFINE FIELD objectId ON resource TYPE string;
DEFINE FIELD resourceType ON resource TYPE string;
DEFINE FIELD roles ON resource TYPE array<object> FLEXIBLE;
DEFINE FIELD scopes ON resource TYPE array<object> FLEXIBLE;
DEFINE FIELD createdDateTime ON resource TYPE string;
DEFINE FIELD modifiedDateTime ON resource TYPE string;
DEFINE FIELD roleScopeCount ON resource TYPE int DEFAULT 0 ASSERT $value >= 0;
DEFINE FIELD sortKey ON resource TYPE string;
DEFINE INDEX resourceOrigin ON resource FIELDS catalogId, originSystem, originId UNIQUE;
DEFINE INDEX resourceObject ON resource FIELDS objectId;

DEFINE TABLE resource_request SCHEMAFULL;
DEFINE FIELD catalogId ON resource_request TYPE string;
DEFINE FIELD resourceId ON resource_request TYPE string;
DEFINE FIELD requestType ON resource_request TYPE string ASSERT $value IN ['adminAdd', 'adminRemove'];
DEFINE FIELD state ON resource_request TYPE string;
DEFINE FIELD createdDateTime ON resource_request TYPE string;
DEFINE FIELD actor ON resource_request TYPE string;
DEFINE FIELD resource ON resource_request TYPE object FLEXIBLE;
DEFINE FIELD sortKey ON resource_request TYPE string;

DEFINE TABLE access_package SCHEMAFULL;
DEFINE FIELD catalogId ON access_package TYPE string;
DEFINE FIELD displayName ON access_package TYPE string ASSERT string::len($value) > 0;
DEFINE FIELD description ON access_package TYPE option<string>;
DEFINE FIELD isHidden ON access_package TYPE bool;
DEFINE FIELD createdDateTime ON access_package TYPE string;
DEFINE FIELD modifiedDateTime ON access_package TYPE string;
DEFINE FIELD sortKey ON access_package TYPE string;
DEFINE INDEX accessPackageCatalog ON access_package FIELDS catalogId;

DEFINE TABLE role_scope SCHEMAFULL;
DEFINE FIELD accessPackageId ON role_scope TYPE string;
DEFINE FIELD resourceId ON role_scope TYPE string;
DEFINE FIELD roleId ON role_scope TYPE string;
DEFINE FIELD scopeId ON role_scope TYPE string;
DEFINE FIELD createdDateTime ON role_scope TYPE string;
DEFINE INDEX roleScopePackage ON role_scope FIELDS accessPackageId;
DEFINE INDEX roleScopeResource ON role_scope FIELDS resourceId;

-- Separation of duties: one-way edges from a package to an incompatible package or group.
DEFINE TABLE incompatibility SCHEMAFULL;
DEFINE FIELD accessPackageId ON incompatibility TYPE string;
DEFINE FIELD kind ON incompatibility TYPE string ASSERT $value IN ['accessPackage', 'group'];
DEFINE FIELD targetId ON incompatibility TYPE string;
DEFINE FIELD createdDateTime ON incompatibility TYPE string;
DEFINE INDEX incompatibilityFrom ON incompatibility FIELDS accessPackageId, kind;
DEFINE INDEX incompatibilityTo ON incompatibility FIELDS targetId, kind;
"#;

/// Version 2: the event log. Every change writes its events in its own transaction; the table's
/// change feed orders them by commit (versionstamps), which is the cursor live subscriptions
/// resume from. The table itself is the audit trail.
const V2: &str = r#"
DEFINE TABLE event SCHEMAFULL CHANGEFEED 30d;
DEFINE FIELD kind ON event TYPE string;
DEFINE FIELD actor ON event TYPE string;
DEFINE FIELD actorId ON event TYPE option<string>;
DEFINE FIELD occurredDateTime ON event TYPE string;
DEFINE FIELD subjectType ON event TYPE string;
DEFINE FIELD subjectId ON event TYPE string;
DEFINE FIELD catalogId ON event TYPE option<string>;
DEFINE FIELD accessPackageId ON event TYPE option<string>;
DEFINE FIELD targetId ON event TYPE option<string>;
DEFINE FIELD audience ON event TYPE array<string> DEFAULT [];
DEFINE FIELD justification ON event TYPE option<string>;
DEFINE FIELD reason ON event TYPE option<string>;
DEFINE FIELD data ON event TYPE option<object | array | string | number | bool> FLEXIBLE;
DEFINE FIELD sortKey ON event TYPE string;
DEFINE INDEX eventSort ON event FIELDS sortKey;
DEFINE INDEX eventSubject ON event FIELDS subjectId;
DEFINE INDEX eventCatalog ON event FIELDS catalogId;
DEFINE INDEX eventPackage ON event FIELDS accessPackageId;
DEFINE INDEX eventActor ON event FIELDS actorId;
"#;

/// Version 3: assignment policies. The policy's Graph document is kept whole in `policy`; the
/// fields queries and guards read are typed beside it. The access package counts its policies
/// (so creating a policy and deleting its package write the same record), its auto-assignment
/// policies (at most one, as Graph requires) and its assignments; a policy counts its own
/// assignments. Deletions are refused while assignments remain.
const V3: &str = r#"
DEFINE FIELD policyCount ON access_package TYPE int DEFAULT 0 ASSERT $value >= 0;
DEFINE FIELD automaticPolicyCount ON access_package TYPE int DEFAULT 0 ASSERT $value >= 0 AND $value <= 1;
DEFINE FIELD assignmentCount ON access_package TYPE int DEFAULT 0 ASSERT $value >= 0;
UPDATE access_package SET policyCount = 0, automaticPolicyCount = 0, assignmentCount = 0 RETURN NONE;

DEFINE TABLE assignment_policy SCHEMAFULL;
DEFINE FIELD accessPackageId ON assignment_policy TYPE string;
DEFINE FIELD catalogId ON assignment_policy TYPE string;
DEFINE FIELD displayName ON assignment_policy TYPE string ASSERT string::len($value) > 0;
DEFINE FIELD allowedTargetScope ON assignment_policy TYPE string;
DEFINE FIELD isAutomatic ON assignment_policy TYPE bool;
-- The users and groups `specificAllowedTargets` names, lower-cased: who may request, at a glance.
DEFINE FIELD targetIds ON assignment_policy TYPE array<string> DEFAULT [];
DEFINE FIELD assignmentCount ON assignment_policy TYPE int DEFAULT 0 ASSERT $value >= 0;
DEFINE FIELD createdDateTime ON assignment_policy TYPE string;
DEFINE FIELD modifiedDateTime ON assignment_policy TYPE string;
DEFINE FIELD sortKey ON assignment_policy TYPE string;
DEFINE FIELD policy ON assignment_policy TYPE object FLEXIBLE;
DEFINE INDEX assignmentPolicyPackage ON assignment_policy FIELDS accessPackageId;
DEFINE INDEX assignmentPolicyCatalog ON assignment_policy FIELDS catalogId;
"#;

/// Version 4: requests, assignments, their timers and the grants they deliver. Each request and
/// assignment keeps the engine's document beside the typed fields queries read, and a version
/// every write bumps; `target_state` holds a version per target user that every change to the
/// user's requests and assignments bumps (see `store::requests`).
const V4: &str = r#"
DEFINE TABLE request SCHEMAFULL;
DEFINE FIELD accessPackageId ON request TYPE string;
DEFINE FIELD catalogId ON request TYPE string;
DEFINE FIELD assignmentPolicyId ON request TYPE string;
DEFINE FIELD targetId ON request TYPE string;
DEFINE FIELD requestorId ON request TYPE option<string>;
DEFINE FIELD requestType ON request TYPE string;
DEFINE FIELD state ON request TYPE string;
DEFINE FIELD status ON request TYPE string;
DEFINE FIELD createdDateTime ON request TYPE string;
-- The approvers who may decide the open stage now, and everyone ever asked to decide.
DEFINE FIELD assignedTo ON request TYPE array<string> DEFAULT [];
DEFINE FIELD approverIds ON request TYPE array<string> DEFAULT [];
DEFINE FIELD version ON request TYPE int;
DEFINE FIELD sortKey ON request TYPE string;
DEFINE FIELD request ON request TYPE object FLEXIBLE;
DEFINE INDEX requestTarget ON request FIELDS targetId, state;
DEFINE INDEX requestRequestor ON request FIELDS requestorId;
DEFINE INDEX requestPackage ON request FIELDS accessPackageId;
DEFINE INDEX requestCatalog ON request FIELDS catalogId;
DEFINE INDEX requestSort ON request FIELDS sortKey;

DEFINE TABLE assignment SCHEMAFULL;
DEFINE FIELD accessPackageId ON assignment TYPE string;
DEFINE FIELD catalogId ON assignment TYPE string;
DEFINE FIELD assignmentPolicyId ON assignment TYPE string;
DEFINE FIELD targetId ON assignment TYPE string;
DEFINE FIELD state ON assignment TYPE string;
DEFINE FIELD status ON assignment TYPE string;
DEFINE FIELD active ON assignment TYPE bool;
DEFINE FIELD version ON assignment TYPE int;
DEFINE FIELD sortKey ON assignment TYPE string;
DEFINE FIELD assignment ON assignment TYPE object FLEXIBLE;
DEFINE INDEX assignmentTarget ON assignment FIELDS targetId, active;
DEFINE INDEX assignmentPackage ON assignment FIELDS accessPackageId, active;
DEFINE INDEX assignmentCatalog ON assignment FIELDS catalogId;
DEFINE INDEX assignmentSort ON assignment FIELDS sortKey;

DEFINE TABLE target_state SCHEMAFULL;
DEFINE FIELD version ON target_state TYPE int;

-- Durable timers: what is due when, for which request or assignment. `due` is fixed-width UTC
-- text, so it sorts as time does.
DEFINE TABLE timer SCHEMAFULL;
DEFINE FIELD owner ON timer TYPE string ASSERT $value IN ['request', 'assignment', 'scope'];
DEFINE FIELD ownerId ON timer TYPE string;
DEFINE FIELD targetId ON timer TYPE string;
DEFINE FIELD due ON timer TYPE string;
DEFINE FIELD timer ON timer TYPE object FLEXIBLE;
DEFINE INDEX timerDue ON timer FIELDS due;
DEFINE INDEX timerOwner ON timer FIELDS ownerId;

-- What assignments deliver into the directory: one record per principal and role.
DEFINE TABLE grant SCHEMAFULL;
DEFINE FIELD principalId ON grant TYPE string;
DEFINE FIELD grant ON grant TYPE object FLEXIBLE;
DEFINE FIELD sources ON grant TYPE array<string> DEFAULT [];
DEFINE INDEX grantPrincipal ON grant FIELDS principalId;

-- Users an auto-assignment policy selects but cannot assign (separation of duties), and why.
DEFINE TABLE auto_exclusion SCHEMAFULL;
DEFINE FIELD policyId ON auto_exclusion TYPE string;
DEFINE FIELD targetId ON auto_exclusion TYPE string;
DEFINE FIELD reason ON auto_exclusion TYPE string;
DEFINE FIELD recordedDateTime ON auto_exclusion TYPE string;
DEFINE INDEX autoExclusionPolicy ON auto_exclusion FIELDS policyId;
"#;

/// Version 5: assignments are counted in tallies, per access package, policy and shard, instead
/// of in one counter on the package and one on the policy. Every transaction that makes or ends
/// assignments wrote those two records, so two such transactions could never run side by side
/// (SurrealKV lets the first of two writers of a record commit and fails the other); now each
/// writes the tallies of its own shard. Deleting a package or a policy writes every shard of
/// its tallies, so it still conflicts with any transaction adding an assignment to it, and is
/// refused while their sum is above zero.
const V5: &str = r#"
DEFINE TABLE assignment_tally SCHEMAFULL;
DEFINE FIELD accessPackageId ON assignment_tally TYPE string;
DEFINE FIELD assignmentPolicyId ON assignment_tally TYPE string;
DEFINE FIELD n ON assignment_tally TYPE int;
DEFINE INDEX tallyPackage ON assignment_tally FIELDS accessPackageId;
DEFINE INDEX tallyPolicy ON assignment_tally FIELDS assignmentPolicyId;
FOR $p IN (SELECT record::id(id) AS id, accessPackageId, assignmentCount FROM assignment_policy WHERE assignmentCount > 0) {
    CREATE type::record('assignment_tally', [$p.accessPackageId, $p.id, 0])
        CONTENT { accessPackageId: $p.accessPackageId, assignmentPolicyId: $p.id, n: $p.assignmentCount } RETURN NONE;
};
REMOVE FIELD assignmentCount ON access_package;
REMOVE FIELD assignmentCount ON assignment_policy;
UPDATE access_package UNSET assignmentCount RETURN NONE;
UPDATE assignment_policy UNSET assignmentCount RETURN NONE;
"#;

/// Version 6: grants lose their principal index. Nothing queries it (a principal's grants are
/// the id range `grant:[principal, NONE]..[principal, {}]`), and in SurrealDB 3 the first index of
/// a table costs every row written to it about as much again as the row itself (see
/// `benches/README.md`, "The store's ceiling"); every delivered assignment writes a grant.
const V6: &str = r#"
REMOVE INDEX grantPrincipal ON grant;
"#;

/// Version 7: a request's and an assignment's document, and an event's data, are stored as their
/// JSON text. SurrealDB turns a nested object into a tree of its own values and serializes every
/// node on each write (and again into the change feed); one string costs a fraction of that
/// (`benches/README.md`, "The store's ceiling"). No query looks inside
/// these documents. Version 14 moves the rows written before to text.
const V7: &str = r#"
DEFINE FIELD OVERWRITE request ON request TYPE object | string FLEXIBLE;
DEFINE FIELD OVERWRITE assignment ON assignment TYPE object | string FLEXIBLE;
DEFINE FIELD dataJson ON event TYPE option<string>;
"#;

/// Version 8: the timers of one request, assignment or scope removal are one record, keyed by
/// its owner's id, with the earliest due time beside them (`~`, after every time, once none are
/// left). A write replaces the set in place (`INSERT ... ON DUPLICATE KEY UPDATE`), where it used
/// to delete the owner's timers by an indexed field and insert the new ones: a DELETE costs its
/// transaction a walk of the schema for reference fields (`benches/README.md`, "Statement
/// forms"). Emptied sets are swept in bulk
/// by the timer runner.
const V8: &str = r#"
DEFINE TABLE timer_set SCHEMAFULL;
DEFINE FIELD owner ON timer_set TYPE string ASSERT $value IN ['request', 'assignment', 'scope'];
DEFINE FIELD targetId ON timer_set TYPE string;
DEFINE FIELD due ON timer_set TYPE string;
DEFINE FIELD timers ON timer_set TYPE array<object> FLEXIBLE;
DEFINE INDEX timerSetDue ON timer_set FIELDS due;
FOR $t IN (SELECT owner, ownerId, targetId, due, timer FROM timer ORDER BY due) {
    UPSERT type::record('timer_set', $t.ownerId) SET owner = $t.owner, targetId = $t.targetId,
        due = due ?? $t.due, timers = array::append(timers ?? [], $t.timer) RETURN NONE;
};
REMOVE TABLE timer;
"#;

/// Version 9: an `event` record holds every event one transaction wrote (up to 256; more take
/// several records), as JSON text in `eventsJson`, with the ids the audit trail filters on in
/// `keys` (`subject:<id>`, `actor:<id>`, `catalog:<id>`, `package:<id>`, `target:<id>`), the
/// earliest time in `sortKey` and the latest in `lastAt`. Each event used to be a record of its
/// own with five indexes, which cost a stage approval's transaction more than everything else it
/// wrote (`benches/README.md`, "Events: one record per transaction").
/// Filters read `keys` without an index (SurrealDB 3.3 does not answer `CONTAINS` from an index
/// on an array) and every event of the records they select is checked again one by one. Records
/// written before keep one event each and stay as they are: readers take both forms, and the
/// filters test their fields.
const V9: &str = r#"
DEFINE FIELD OVERWRITE kind ON event TYPE option<string>;
DEFINE FIELD OVERWRITE actor ON event TYPE option<string>;
DEFINE FIELD OVERWRITE occurredDateTime ON event TYPE option<string>;
DEFINE FIELD OVERWRITE subjectType ON event TYPE option<string>;
DEFINE FIELD OVERWRITE subjectId ON event TYPE option<string>;
DEFINE FIELD OVERWRITE audience ON event TYPE option<array<string>>;
DEFINE FIELD keys ON event TYPE option<array<string>>;
DEFINE FIELD eventsJson ON event TYPE option<string>;
DEFINE FIELD lastAt ON event TYPE option<string>;
DEFINE FIELD n ON event TYPE option<int>;
REMOVE INDEX eventSubject ON event;
REMOVE INDEX eventCatalog ON event;
REMOVE INDEX eventPackage ON event;
REMOVE INDEX eventActor ON event;
"#;

/// Version 10: a request's and an assignment's timers are fields of its own record, `timers`,
/// with the earliest due time in the indexed `due` (`~` once none are left), written with the
/// record in the statement that writes it anyway. A timer set of its own cost a governance
/// transaction a statement and a record per request or assignment written, and the runner a
/// sweep of the emptied sets (`benches/README.md`, "Timers in their owner's record"). A scope
/// removal (an auto-assignment policy's grace period) keeps its set in `timer_set`. Records
/// written before and never written since have no `due`, and no timers.
const V10: &str = r#"
DEFINE FIELD due ON request TYPE option<string>;
DEFINE FIELD timers ON request TYPE option<array<object>> FLEXIBLE;
DEFINE INDEX requestDue ON request FIELDS due;
DEFINE FIELD due ON assignment TYPE option<string>;
DEFINE FIELD timers ON assignment TYPE option<array<object>> FLEXIBLE;
DEFINE INDEX assignmentDue ON assignment FIELDS due;
FOR $t IN (SELECT owner, record::id(id) AS ownerId, due, timers FROM timer_set WHERE owner != 'scope') {
    UPDATE type::record($t.owner, $t.ownerId) SET due = $t.due, timers = $t.timers RETURN NONE;
};
DELETE timer_set WHERE owner != 'scope';
"#;

/// Version 11: a membership's key leads with the principal, `[principal, group, relation]`, so a
/// principal's groups are a range of keys, as a principal's grants are (V6), and the index on
/// `principalId` goes: a key range is read without planning a query (`benches/README.md`,
/// "Memberships by principal"); a group's
/// members are still read through `membershipGroup`.
const V11: &str = r#"
LET $rows = SELECT [principalId, groupId, relation] AS key, groupId, principalId, relation FROM membership;
DELETE membership;
REMOVE INDEX membershipPrincipal ON membership;
FOR $m IN $rows {
    CREATE type::record('membership', $m.key)
        CONTENT { groupId: $m.groupId, principalId: $m.principalId, relation: $m.relation } RETURN NONE;
};
"#;

/// Version 12: the tables every governance transaction writes (requests, assignments, events,
/// target versions, grants, memberships and tallies) are SCHEMALESS, without field definitions.
/// SurrealDB checks and coerces every defined field of a SCHEMAFULL table on each write, absent
/// ones included (`benches/README.md`, "Schemaless governance tables" has what that costs). Only the
/// store writes these rows, from typed Rust values, and reads them back through serde; the row
/// shapes are documented beside the code that writes them (`store::requests`, `store::events`,
/// `store::directory`). Their indexes and the event table's change feed stay.
const V12: &str = r#"
DEFINE TABLE OVERWRITE request SCHEMALESS;
REMOVE FIELD approverIds.* ON request;
REMOVE FIELD assignedTo.* ON request;
REMOVE FIELD timers.* ON request;
REMOVE FIELD accessPackageId ON request;
REMOVE FIELD approverIds ON request;
REMOVE FIELD assignedTo ON request;
REMOVE FIELD assignmentPolicyId ON request;
REMOVE FIELD catalogId ON request;
REMOVE FIELD createdDateTime ON request;
REMOVE FIELD due ON request;
REMOVE FIELD request ON request;
REMOVE FIELD requestType ON request;
REMOVE FIELD requestorId ON request;
REMOVE FIELD sortKey ON request;
REMOVE FIELD state ON request;
REMOVE FIELD status ON request;
REMOVE FIELD targetId ON request;
REMOVE FIELD timers ON request;
REMOVE FIELD version ON request;
DEFINE TABLE OVERWRITE assignment SCHEMALESS;
REMOVE FIELD timers.* ON assignment;
REMOVE FIELD accessPackageId ON assignment;
REMOVE FIELD active ON assignment;
REMOVE FIELD assignment ON assignment;
REMOVE FIELD assignmentPolicyId ON assignment;
REMOVE FIELD catalogId ON assignment;
REMOVE FIELD due ON assignment;
REMOVE FIELD sortKey ON assignment;
REMOVE FIELD state ON assignment;
REMOVE FIELD status ON assignment;
REMOVE FIELD targetId ON assignment;
REMOVE FIELD timers ON assignment;
REMOVE FIELD version ON assignment;
DEFINE TABLE OVERWRITE event SCHEMALESS CHANGEFEED 30d;
REMOVE FIELD audience.* ON event;
REMOVE FIELD data.* ON event;
REMOVE FIELD keys.* ON event;
REMOVE FIELD accessPackageId ON event;
REMOVE FIELD actor ON event;
REMOVE FIELD actorId ON event;
REMOVE FIELD audience ON event;
REMOVE FIELD catalogId ON event;
REMOVE FIELD data ON event;
REMOVE FIELD dataJson ON event;
REMOVE FIELD eventsJson ON event;
REMOVE FIELD justification ON event;
REMOVE FIELD keys ON event;
REMOVE FIELD kind ON event;
REMOVE FIELD lastAt ON event;
REMOVE FIELD n ON event;
REMOVE FIELD occurredDateTime ON event;
REMOVE FIELD reason ON event;
REMOVE FIELD sortKey ON event;
REMOVE FIELD subjectId ON event;
REMOVE FIELD subjectType ON event;
REMOVE FIELD targetId ON event;
DEFINE TABLE OVERWRITE target_state SCHEMALESS;
REMOVE FIELD version ON target_state;
DEFINE TABLE OVERWRITE grant SCHEMALESS;
REMOVE FIELD sources.* ON grant;
REMOVE FIELD grant ON grant;
REMOVE FIELD principalId ON grant;
REMOVE FIELD sources ON grant;
DEFINE TABLE OVERWRITE membership SCHEMALESS;
REMOVE FIELD groupId ON membership;
REMOVE FIELD principalId ON membership;
REMOVE FIELD relation ON membership;
DEFINE TABLE OVERWRITE assignment_tally SCHEMALESS;
REMOVE FIELD accessPackageId ON assignment_tally;
REMOVE FIELD assignmentPolicyId ON assignment_tally;
REMOVE FIELD n ON assignment_tally;
"#;

/// Version 13: delegated administration. A role assignment (Graph's `unifiedRoleAssignment`) gives
/// a principal (a user or a group) an entitlement-management role at the tenant (`/`) or in one
/// catalog. `grantKey` (principal, role, scope) is unique, so a duplicate is refused by the index;
/// a catalog counts its owners in `ownerCount`, which every owner's creation and deletion writes,
/// so two racing removals of its last two owners cannot both pass the last-owner guard.
const V13: &str = r#"
DEFINE TABLE role_assignment SCHEMAFULL;
DEFINE FIELD principalId ON role_assignment TYPE string;
DEFINE FIELD roleDefinitionId ON role_assignment TYPE string;
DEFINE FIELD appScopeId ON role_assignment TYPE string;
DEFINE FIELD directoryScopeId ON role_assignment TYPE string;
DEFINE FIELD catalogId ON role_assignment TYPE option<string>;
DEFINE FIELD grantKey ON role_assignment TYPE string;
DEFINE FIELD createdDateTime ON role_assignment TYPE string;
DEFINE FIELD sortKey ON role_assignment TYPE string;
DEFINE INDEX roleAssignmentGrant ON role_assignment FIELDS grantKey UNIQUE;
DEFINE INDEX roleAssignmentCatalog ON role_assignment FIELDS catalogId;
DEFINE INDEX roleAssignmentPrincipal ON role_assignment FIELDS principalId;
DEFINE FIELD ownerCount ON catalog TYPE int DEFAULT 0 ASSERT $value >= 0;
UPDATE catalog SET ownerCount = 0 RETURN NONE;
"#;

/// Version 14: requests and assignments written before version 7, whose document is still an
/// object, get it as JSON text like every other row, so the store reads one form only.
const V14: &str = r#"
UPDATE request SET request = encoding::json::encode(request) WHERE type::is_object(request) RETURN NONE;
UPDATE assignment SET assignment = encoding::json::encode(assignment) WHERE type::is_object(assignment) RETURN NONE;
"#;

/// Version 15: events recorded one per record (before version 9) become records of their own
/// transaction's events like every other (`store::events`), so the store reads one form only.
/// A rewritten record carries `migrated: true`, and the live feed passes over its change: the
/// event was published when it was first written. The change feed keeps entries of the old form
/// for its 30 days; the feed passes over those too, so a subscriber resuming from a cursor taken
/// before version 9 does not get the events written before version 9 again (the audit trail has
/// them).
const V15: &str = r#"
FOR $e IN (SELECT * FROM event WHERE eventsJson = NONE) {
    LET $event = {
        id: record::id($e.id),
        kind: $e.kind,
        actor: $e.actor,
        actorId: $e.actorId,
        occurredDateTime: $e.occurredDateTime,
        subjectType: $e.subjectType,
        subjectId: $e.subjectId,
        catalogId: $e.catalogId,
        accessPackageId: $e.accessPackageId,
        targetId: $e.targetId,
        audience: $e.audience ?? [],
        justification: $e.justification,
        reason: $e.reason,
        data: IF $e.dataJson != NONE { encoding::json::decode($e.dataJson) } ELSE { $e.data ?? NULL }
    };
    LET $keys = array::concat(
        ['subject:' + $e.subjectId],
        IF $e.actorId != NONE { ['actor:' + $e.actorId] } ELSE { [] },
        IF $e.catalogId != NONE { ['catalog:' + $e.catalogId] } ELSE { [] },
        IF $e.accessPackageId != NONE { ['package:' + $e.accessPackageId] } ELSE { [] },
        IF $e.targetId != NONE { ['target:' + $e.targetId] } ELSE { [] }
    );
    UPDATE $e.id CONTENT {
        sortKey: $e.sortKey,
        lastAt: string::slice($e.sortKey, 0, 30),
        keys: array::sort($keys),
        n: 1,
        eventsJson: encoding::json::encode([$event]),
        migrated: true
    } RETURN NONE;
};
"#;

/// Version 16: connected organizations with their claims (a tenant or domain belongs to one
/// organization), the tenant's settings, and the organizations each policy names.
const V16: &str = r#"
DEFINE TABLE connected_organization SCHEMALESS;
DEFINE FIELD displayName ON connected_organization TYPE string ASSERT string::len($value) > 0;
DEFINE FIELD state ON connected_organization TYPE string ASSERT $value IN ['configured', 'proposed'];
DEFINE FIELD claims ON connected_organization TYPE array<string>;
DEFINE FIELD sortKey ON connected_organization TYPE string;
DEFINE INDEX connectedOrganizationSort ON connected_organization FIELDS sortKey;

DEFINE TABLE organization_claim SCHEMAFULL;
DEFINE FIELD organizationId ON organization_claim TYPE string;
DEFINE INDEX organizationClaimOrganization ON organization_claim FIELDS organizationId;

DEFINE TABLE settings SCHEMALESS;

DEFINE FIELD connectedOrganizationIds ON assignment_policy TYPE array<string> DEFAULT [];
UPDATE assignment_policy SET connectedOrganizationIds = array::distinct(array::filter(
    array::map(policy.specificAllowedTargets ?? [], |$t| $t.connectedOrganizationId), |$v| type::is_string($v)
)) RETURN NONE;
"#;

/// Version 17: the guests entitlement management invites (`managed_guest`, keyed by user id, one
/// per person at their identity provider), and their deletion timers in `timer_set`.
const V17: &str = r#"
DEFINE TABLE managed_guest SCHEMALESS;
DEFINE FIELD email ON managed_guest TYPE string;
DEFINE FIELD OVERWRITE owner ON timer_set TYPE string ASSERT $value IN ['request', 'assignment', 'scope', 'guest'];
"#;

/// Version 18: access reviews. `access_review` holds review instances (by policy), and
/// `access_review_item` their decision items (by instance; each item's document is JSON text);
/// `review_assignment:[reviewer, item]` lists what each reviewer has to decide while the review
/// is open, read as an id range. A policy's review timers live in `timer_set` (owner `review`); `sign_in:<user>` holds
/// each user's last successful sign-in.
const V18: &str = r#"
DEFINE FIELD OVERWRITE owner ON timer_set TYPE string ASSERT $value IN ['request', 'assignment', 'scope', 'guest', 'review'];
DEFINE TABLE access_review SCHEMALESS;
DEFINE INDEX accessReviewPolicy ON access_review FIELDS policyId, startDateTime;
DEFINE TABLE access_review_item SCHEMALESS;
DEFINE INDEX accessReviewItemInstance ON access_review_item FIELDS instanceId, sortKey;
DEFINE TABLE review_assignment SCHEMALESS;
DEFINE TABLE sign_in SCHEMALESS;
"#;

/// Version 19: custom extensions (`custom_extension`, by catalog, with their signing secret), the
/// extensions each policy names, the calls not yet sent (`callout_outbox:[owner, id]` until version 20, written
/// with the change that makes them and deleted once they are sent or given up), and the record
/// of each call sent or failed (`callout:[owner, id]`); `notifier:cursor`, how far the e-mail
/// notifier has read the event feed.
const V19: &str = r#"
DEFINE TABLE custom_extension SCHEMALESS;
DEFINE FIELD catalogId ON custom_extension TYPE string;
DEFINE FIELD sortKey ON custom_extension TYPE string;
DEFINE INDEX customExtensionCatalog ON custom_extension FIELDS catalogId, sortKey;
DEFINE FIELD customExtensionIds ON assignment_policy TYPE array<string> DEFAULT [];
DEFINE TABLE callout_outbox SCHEMALESS;
DEFINE TABLE callout SCHEMALESS;
DEFINE TABLE notifier SCHEMALESS;
"#;

/// Version 20: one outbox row per transaction (`callout_outbox:⟨first call's id⟩`, `doc` the
/// JSON text of its calls) instead of one per call (`callout_outbox:[owner, id]`): each row still
/// waiting becomes a row of its one call.
const V20: &str = r#"
FOR $r IN (SELECT id, doc FROM callout_outbox) {
    IF type::is_array(record::id($r.id)) {
        CREATE type::record('callout_outbox', record::id($r.id)[1]) SET doc = string::concat('[', $r.doc, ']');
        DELETE $r.id;
    };
};
"#;

/// Version 21: the indexes that list requests and assignments by package, catalog, target and
/// requestor end with `sortKey`, so a page (`WHERE accessPackageId = $p AND active = true AND
/// sortKey > $after ORDER BY sortKey LIMIT n`) is a range of one index, read in order and cut at
/// its limit. With the shorter index every page read and sorted all the package's assignments: a
/// million-user package's holders took hours to page through.
const V21: &str = r#"
REMOVE INDEX requestRequestor ON request;
REMOVE INDEX requestPackage ON request;
REMOVE INDEX requestCatalog ON request;
REMOVE INDEX assignmentTarget ON assignment;
REMOVE INDEX assignmentPackage ON assignment;
REMOVE INDEX assignmentCatalog ON assignment;
DEFINE INDEX requestRequestor ON request FIELDS requestorId, sortKey;
DEFINE INDEX requestPackage ON request FIELDS accessPackageId, sortKey;
DEFINE INDEX requestCatalog ON request FIELDS catalogId, sortKey;
DEFINE INDEX assignmentTarget ON assignment FIELDS targetId, active, sortKey;
DEFINE INDEX assignmentPackage ON assignment FIELDS accessPackageId, active, sortKey;
DEFINE INDEX assignmentCatalog ON assignment FIELDS catalogId, sortKey;
"#;

/// Version 22: replicas on one database server: `replica:⟨origin⟩`, each replica's address
/// and last heartbeat (`store::peers`); `lease:⟨name⟩`, who does what one replica does at a time
/// (`store::leases`).
const V22: &str = r#"
DEFINE TABLE replica SCHEMALESS;
DEFINE TABLE lease SCHEMALESS;
"#;

/// Version 23: `replica_key:only`, the key replicas of one database call each other with
/// (`/replica/*`): made once, with the database, so only a process that reads the database
/// holds it.
const V23: &str = r#"
DEFINE TABLE replica_key SCHEMALESS;
UPSERT replica_key:only SET key = key ?? rand::string(64) RETURN NONE;
"#;

/// Version 24: events are written packed (`eventsGz`: their JSON text deflated, in base64; see
/// `store::events`). The table is schemaless, so no definition changes: before this version is
/// recorded, `Store::pack_plain_event_records` rewrites every record written before it, marked
/// `migrated` as in version 15 (deflating is not SurrealQL's). The change feed keeps entries of
/// the old form for its 30 days, which the feed still reads. A build before this version must not
/// serve the database: it would skip every packed event.
const V24: &str = "";

/// The version whose migration packs the event records written before it.
pub const PACKED_EVENTS: u32 = 24;

/// Version 25: a `systemAdd` request delivered in the transaction that creates its assignment is
/// carried by that assignment instead of being a `request` row of its own (see `store::requests`):
/// the assignment row names it (`carried`, `requestId`, `requestEvent`) and takes its sort key, its
/// document is the one its creation event holds, and `carried_request:⟨request id⟩` finds it by id
/// (`assignmentId`, `event`, the id of the event record). `carried_package:⟨package id⟩`
/// (`catalogId`) names the packages with carried requests, whose assignments a listing of
/// requests reads. A build before this version must not serve the database: it would find none
/// of those requests.
const V25: &str = r#"
DEFINE TABLE carried_request SCHEMALESS;
DEFINE TABLE carried_package SCHEMALESS;
"#;

/// Version 26: the assignment and membership tables have no index: SurrealDB gives every record
/// of an indexed table a document id and checks every index entry it writes for an index build
/// (`benches/README.md`), which cost a first population a third of its time. Their lookups are
/// served by rows keyed by what they look up (see `store::requests` and `store::directory`):
/// - `assignment_key:[⟨package⟩, ⟨active⟩, ⟨sort key⟩]` (`a`, the assignment's id, `policy`,
///   `carried`): a package's assignments, those that give access and those that ended, in order;
///   `assignment_package:⟨package⟩` (`catalogId`): the packages with assignments, which the
///   listings by catalog and of every assignment merge;
/// - `target_state.active` and `.ended`: a target's assignments that give access, oldest first,
///   and that ended;
/// - an assignment's timers are a `timer_set` (`owner` `assignment`), only for one that has any;
/// - `group_member:[⟨group⟩, ⟨relation⟩, ⟨principal⟩]`, without fields: a group's members;
/// - a carried request is found by its assignment's id, which is derived from the request's
///   (`assignment_id_for`): `carried_request` goes.
///
/// A build before this version must not serve the database: it would write assignments without
/// keys and their timers where no runner reads them, and memberships without group keys.
const V26: &str = r#"
REMOVE INDEX IF EXISTS assignmentTarget ON assignment;
REMOVE INDEX IF EXISTS assignmentPackage ON assignment;
REMOVE INDEX IF EXISTS assignmentCatalog ON assignment;
REMOVE INDEX IF EXISTS assignmentSort ON assignment;
REMOVE INDEX IF EXISTS assignmentDue ON assignment;
REMOVE INDEX IF EXISTS membershipGroup ON membership;
DEFINE TABLE assignment_key SCHEMALESS;
DEFINE TABLE assignment_package SCHEMALESS;
DEFINE TABLE group_member SCHEMALESS;
FOR $a IN (SELECT record::id(id) AS id, accessPackageId, catalogId, assignmentPolicyId, targetId, active, sortKey,
                  carried, due, timers FROM assignment ORDER BY sortKey) {
    CREATE type::record('assignment_key', [$a.accessPackageId, $a.active, $a.sortKey])
        CONTENT { a: $a.id, policy: $a.assignmentPolicyId, carried: $a.carried } RETURN NONE;
    UPSERT type::record('assignment_package', $a.accessPackageId) SET catalogId = $a.catalogId RETURN NONE;
    IF $a.active {
        UPDATE type::record('target_state', $a.targetId) SET active = array::append(active ?? [], $a.id) RETURN NONE;
    } ELSE {
        UPDATE type::record('target_state', $a.targetId) SET ended = array::append(ended ?? [], $a.id) RETURN NONE;
    };
    IF $a.due > '' AND $a.due != '~' {
        CREATE type::record('timer_set', $a.id)
            CONTENT { owner: 'assignment', targetId: $a.targetId, due: $a.due, timers: $a.timers } RETURN NONE;
    };
};
UPDATE assignment SET due = NONE, timers = NONE WHERE due != NONE RETURN NONE;
FOR $m IN (SELECT groupId, relation, principalId FROM membership) {
    CREATE type::record('group_member', [$m.groupId, $m.relation, $m.principalId]) RETURN NONE;
};
REMOVE TABLE IF EXISTS carried_request;
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory database migrated up to `version`.
    async fn database_at(version: u32) -> surrealdb::Surreal<surrealdb::engine::any::Any> {
        let db = surrealdb::engine::any::connect("mem://").await.unwrap();
        db.use_ns("em").use_db("em").await.unwrap();
        for (_, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= version) {
            db.query(format!("BEGIN;\n{sql}\nCOMMIT;")).await.unwrap().check().unwrap();
        }
        db
    }

    /// Timers stored one per record before version 8 come out of it as one set per owner, with
    /// the earliest due time, and the old table is gone.
    #[tokio::test]
    async fn version_8_gathers_timers_by_owner() {
        let db = database_at(7).await;
        db.query(
            "CREATE timer CONTENT { owner: 'request', ownerId: 'r1', targetId: 'u1', due: '2026-01-03T00:00:00.000000Z',
                 timer: { due: '2026-01-03T00:00:00Z', kind: { type: 'approvalTimeout', stage: 0 } } };
             CREATE timer CONTENT { owner: 'request', ownerId: 'r1', targetId: 'u1', due: '2026-01-02T00:00:00.000000Z',
                 timer: { due: '2026-01-02T00:00:00Z', kind: { type: 'approvalEscalation', stage: 0 } } };
             CREATE timer CONTENT { owner: 'scope', ownerId: 'as1#scope', targetId: 'u2', due: '2026-02-01T00:00:00.000000Z',
                 timer: { due: '2026-02-01T00:00:00Z', kind: { type: 'scopeRemoval' } } };",
        )
        .await
        .unwrap()
        .check()
        .unwrap();
        db.query(format!("BEGIN;\n{V8}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response = db
            .query(
                "SELECT record::id(id) AS owner, targetId, due, array::len(timers) AS n, timers[0].kind.type AS first
                     FROM timer_set ORDER BY owner;
                 INFO FOR DB;",
            )
            .await
            .unwrap()
            .check()
            .unwrap();
        let sets: Vec<serde_json::Value> = response.take(0).unwrap();
        assert_eq!(
            sets,
            vec![
                serde_json::json!({ "owner": "as1#scope", "targetId": "u2", "due": "2026-02-01T00:00:00.000000Z", "n": 1, "first": "scopeRemoval" }),
                serde_json::json!({ "owner": "r1", "targetId": "u1", "due": "2026-01-02T00:00:00.000000Z", "n": 2, "first": "approvalEscalation" }),
            ]
        );
        let info: Option<serde_json::Value> = response.take(1).unwrap();
        assert!(info.unwrap()["tables"].get("timer").is_none(), "the old table is removed");
    }

    /// A call waiting in the outbox of version 19 is a row of its own under version 20.
    #[tokio::test]
    async fn version_20_keeps_waiting_calls_in_outbox_rows() {
        let db = database_at(19).await;
        db.query("CREATE callout_outbox:['r1', 'c1'] SET doc = '{\"id\":\"c1\"}';")
            .await
            .unwrap()
            .check()
            .unwrap();
        db.query(format!("BEGIN;\n{V20}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response =
            db.query("SELECT record::id(id) AS id, doc FROM callout_outbox;").await.unwrap().check().unwrap();
        let rows: Vec<serde_json::Value> = response.take(0).unwrap();
        assert_eq!(rows, vec![serde_json::json!({ "id": "c1", "doc": "[{\"id\":\"c1\"}]" })]);
    }

    /// Version 9 keeps the events recorded one per record, drops the four indexes of their
    /// fields and takes records of a transaction's events, which have none of those fields.
    #[tokio::test]
    async fn version_9_takes_records_of_many_events_beside_the_old_ones() {
        let db = database_at(8).await;
        db.query(
            "CREATE event:e1 CONTENT { kind: 'catalog.created', actor: 'system', occurredDateTime: '2026-01-01T00:00:00Z',
                 subjectType: 'AccessPackageCatalog', subjectId: 'c1', catalogId: 'c1', audience: [],
                 sortKey: '2026-01-01T00:00:00.000000000Z\u{1}e1' };",
        )
        .await
        .unwrap()
        .check()
        .unwrap();
        db.query(format!("BEGIN;\n{V9}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response = db
            .query(
                "CREATE event:e2 CONTENT { sortKey: '2026-01-02T00:00:00.000000000Z\u{1}e2', keys: ['subject:c2'],
                     lastAt: '2026-01-02T00:00:00.000000000Z', n: 2, eventsJson: '[]' };
                 SELECT VALUE record::id(id) FROM event ORDER BY sortKey;
                 INFO FOR TABLE event;",
            )
            .await
            .unwrap()
            .check()
            .unwrap();
        let ids: Vec<String> = response.take(1).unwrap();
        assert_eq!(ids, ["e1", "e2"]);
        let info: Option<serde_json::Value> = response.take(2).unwrap();
        let indexes: Vec<String> = info.unwrap()["indexes"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(indexes, ["eventSort"], "only the sort key is indexed");
    }

    /// Version 10 moves the timers of requests and assignments into their records, with the
    /// earliest due time, and keeps scope removals in their sets; a set whose owner is gone goes.
    #[tokio::test]
    async fn version_10_moves_timers_into_their_owners() {
        let db = database_at(9).await;
        db.query(
            "CREATE request:r1 CONTENT { accessPackageId: 'ap', catalogId: 'c', assignmentPolicyId: 'p', targetId: 'u1',
                 requestType: 'userAdd', state: 'pendingApproval', status: 'PendingApproval', createdDateTime: 'x',
                 version: 1, sortKey: 'x', request: '{}' };
             CREATE request:r2 CONTENT { accessPackageId: 'ap', catalogId: 'c', assignmentPolicyId: 'p', targetId: 'u1',
                 requestType: 'userAdd', state: 'delivered', status: 'Delivered', createdDateTime: 'x',
                 version: 1, sortKey: 'y', request: '{}' };
             CREATE assignment:as1 CONTENT { accessPackageId: 'ap', catalogId: 'c', assignmentPolicyId: 'p', targetId: 'u1',
                 state: 'delivered', status: 'Delivered', active: true, version: 1, sortKey: 'x', assignment: '{}' };
             CREATE timer_set:r1 CONTENT { owner: 'request', targetId: 'u1', due: '2026-01-02T00:00:00.000000Z',
                 timers: [{ due: '2026-01-02T00:00:00Z', kind: { type: 'approvalEscalation', stage: 0 } }] };
             CREATE timer_set:as1 CONTENT { owner: 'assignment', targetId: 'u1', due: '2026-02-01T00:00:00.000000Z',
                 timers: [{ due: '2026-02-01T00:00:00Z', kind: { type: 'assignmentExpiration' } }] };
             CREATE timer_set:gone CONTENT { owner: 'assignment', targetId: 'u1', due: '~', timers: [] };
             CREATE type::record('timer_set', 'as1#scope') CONTENT { owner: 'scope', targetId: 'u1',
                 due: '2026-03-01T00:00:00.000000Z', timers: [{ due: '2026-03-01T00:00:00Z', kind: { type: 'scopeRemoval' } }] };",
        )
        .await
        .unwrap()
        .check()
        .unwrap();
        db.query(format!("BEGIN;\n{V10}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response = db
            .query(
                "SELECT record::id(id) AS id, due, timers[0].kind.type AS first FROM request ORDER BY id;
                 SELECT record::id(id) AS id, due, timers[0].kind.type AS first FROM assignment;
                 SELECT VALUE record::id(id) FROM timer_set;",
            )
            .await
            .unwrap()
            .check()
            .unwrap();
        let requests: Vec<serde_json::Value> = response.take(0).unwrap();
        assert_eq!(
            requests,
            vec![
                serde_json::json!({ "id": "r1", "due": "2026-01-02T00:00:00.000000Z", "first": "approvalEscalation" }),
                serde_json::json!({ "id": "r2", "due": null, "first": null }),
            ]
        );
        let assignments: Vec<serde_json::Value> = response.take(1).unwrap();
        assert_eq!(
            assignments,
            vec![
                serde_json::json!({ "id": "as1", "due": "2026-02-01T00:00:00.000000Z", "first": "assignmentExpiration" })
            ]
        );
        let sets: Vec<String> = response.take(2).unwrap();
        assert_eq!(sets, ["as1#scope"], "only the scope removal keeps a set");
    }

    /// Version 11 keys every membership by principal first and drops the principal index.
    #[tokio::test]
    async fn version_11_keys_memberships_by_principal() {
        let db = database_at(10).await;
        db.query(
            "CREATE membership:['g1', 'u1', 'member'] CONTENT { groupId: 'g1', principalId: 'u1', relation: 'member' };
             CREATE membership:['g1', 'u2', 'owner'] CONTENT { groupId: 'g1', principalId: 'u2', relation: 'owner' };
             CREATE membership:['g2', 'u1', 'member'] CONTENT { groupId: 'g2', principalId: 'u1', relation: 'member' };",
        )
        .await
        .unwrap()
        .check()
        .unwrap();
        db.query(format!("BEGIN;\n{V11}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response = db
            .query(
                "SELECT VALUE record::id(id) FROM membership ORDER BY id;
                 SELECT VALUE groupId FROM membership:['u1', NONE]..['u1', {}];
                 INFO FOR TABLE membership;",
            )
            .await
            .unwrap()
            .check()
            .unwrap();
        let keys: Vec<Vec<String>> = response.take(0).unwrap();
        assert_eq!(keys, [["u1", "g1", "member"], ["u1", "g2", "member"], ["u2", "g1", "owner"]]);
        let groups: Vec<String> = response.take(1).unwrap();
        assert_eq!(groups, ["g1", "g2"]);
        let info: Option<serde_json::Value> = response.take(2).unwrap();
        let indexes: Vec<String> = info.unwrap()["indexes"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(indexes, ["membershipGroup"]);
    }

    /// Version 12 leaves the governance tables without field definitions, their indexes and the
    /// event table's change feed in place, and their rows as they were.
    #[tokio::test]
    async fn version_12_makes_the_governance_tables_schemaless() {
        let db = database_at(11).await;
        db.query(
            "CREATE target_state:u1 CONTENT { version: 3 };
             CREATE event:e1 CONTENT { sortKey: 'k1', keys: ['subject:c1'], lastAt: 'k1', n: 1, eventsJson: '[]' };",
        )
        .await
        .unwrap()
        .check()
        .unwrap();
        let changes = |db: surrealdb::Surreal<surrealdb::engine::any::Any>| async move {
            let mut response = db.query("SHOW CHANGES FOR TABLE event SINCE 0 LIMIT 10;").await.unwrap();
            let sets: Vec<serde_json::Value> = response.take(0).unwrap();
            sets.iter().map(|s| s["versionstamp"].as_u64().unwrap()).collect::<Vec<u64>>()
        };
        let before = changes(db.clone()).await;
        assert!(!before.is_empty());
        db.query(format!("BEGIN;\n{V12}\nCOMMIT;")).await.unwrap().check().unwrap();
        // Redefining the table adds a change set of its own (a table definition, which the feed
        // skips) and keeps every one before it.
        assert!(changes(db.clone()).await.starts_with(&before), "the change feed keeps what it held");
        for (table, indexes) in [
            (
                "request",
                vec![
                    "requestCatalog",
                    "requestDue",
                    "requestPackage",
                    "requestRequestor",
                    "requestSort",
                    "requestTarget",
                ],
            ),
            (
                "assignment",
                vec![
                    "assignmentCatalog",
                    "assignmentDue",
                    "assignmentPackage",
                    "assignmentSort",
                    "assignmentTarget",
                ],
            ),
            ("event", vec!["eventSort"]),
            ("membership", vec!["membershipGroup"]),
            ("target_state", vec![]),
        ] {
            let mut response = db.query(format!("INFO FOR TABLE {table};")).await.unwrap().check().unwrap();
            let info: Option<serde_json::Value> = response.take(0).unwrap();
            let info = info.unwrap();
            assert!(info["fields"].as_object().unwrap().is_empty(), "{table}: {info}");
            let mut names: Vec<String> = info["indexes"].as_object().unwrap().keys().cloned().collect();
            names.sort();
            assert_eq!(names, indexes, "{table}");
        }
        let mut response = db.query("INFO FOR DB;").await.unwrap().check().unwrap();
        let info: Option<serde_json::Value> = response.take(0).unwrap();
        let event = info.unwrap()["tables"]["event"].as_str().unwrap().to_owned();
        assert!(event.contains("SCHEMALESS") && event.contains("CHANGEFEED 4w2d"), "{event}");
        let mut response = db.query("RETURN target_state:u1.version;").await.unwrap().check().unwrap();
        assert_eq!(response.take::<Option<i64>>(0).unwrap(), Some(3));
    }

    /// Documents stored as objects (before version 7) come out of version 14 as JSON text that
    /// reads as the same document; text documents stay as they were.
    #[tokio::test]
    async fn version_14_stores_every_document_as_text() {
        let db = database_at(13).await;
        db.query(
            "CREATE request:r1 CONTENT { request: { state: 'delivered', answers: [1, 2], nested: { at: '2026-01-01T00:00:00Z' } } };
             CREATE request:r2 CONTENT { request: '{\"state\":\"submitted\"}' };
             CREATE assignment:a1 CONTENT { assignment: { state: 'delivered' } };",
        )
        .await
        .unwrap()
        .check()
        .unwrap();
        db.query(format!("BEGIN;\n{V14}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response = db
            .query("SELECT VALUE request FROM request ORDER BY id; SELECT VALUE assignment FROM assignment;")
            .await
            .unwrap()
            .check()
            .unwrap();
        let requests: Vec<String> = response.take(0).unwrap();
        let parsed: Vec<serde_json::Value> =
            requests.iter().map(|t| serde_json::from_str(t).unwrap()).collect();
        assert_eq!(
            parsed,
            [
                serde_json::json!({ "state": "delivered", "answers": [1, 2], "nested": { "at": "2026-01-01T00:00:00Z" } }),
                serde_json::json!({ "state": "submitted" }),
            ]
        );
        let assignments: Vec<String> = response.take(1).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&assignments[0]).unwrap(),
            serde_json::json!({ "state": "delivered" })
        );
    }

    /// A database at version 4 with assignments counted on the package and the policy comes out
    /// of version 5 with the same counts in tallies, and without the old counters.
    #[tokio::test]
    async fn version_16_records_the_organizations_each_policy_names() {
        let db = database_at(15).await;
        let row = |id: &str, targets: &str| {
            format!(
                "CREATE assignment_policy:{id} CONTENT {{ accessPackageId: 'ap', catalogId: 'c', displayName: '{id}',
                   allowedTargetScope: 'x', isAutomatic: false, createdDateTime: '', modifiedDateTime: '',
                   sortKey: '{id}', policy: {{ specificAllowedTargets: {targets} }} }};"
            )
        };
        let setup = [
            row(
                "p1",
                "[{ type: 'connectedOrganizationMembers', connectedOrganizationId: 'o1' },
                        { type: 'groupMembers', groupId: 'g' },
                        { type: 'connectedOrganizationMembers', connectedOrganizationId: 'o1' }]",
            ),
            row("p2", "[]"),
        ]
        .join("\n");
        db.query(setup).await.unwrap().check().unwrap();
        db.query(format!("BEGIN;\n{V16}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response = db
            .query("SELECT VALUE connectedOrganizationIds FROM assignment_policy ORDER BY id;")
            .await
            .unwrap()
            .check()
            .unwrap();
        let ids: Vec<Vec<String>> = response.take(0).unwrap();
        assert_eq!(ids, [vec!["o1".to_owned()], vec![]]);
    }

    #[tokio::test]
    async fn version_5_moves_assignment_counts_into_tallies() {
        let db = database_at(4).await;
        db.query(
            "CREATE access_package:ap CONTENT { catalogId: 'c', displayName: 'P', isHidden: false,
                 createdDateTime: 'x', modifiedDateTime: 'x', sortKey: 'p', policyCount: 3, assignmentCount: 3 };
             CREATE assignment_policy:p1 CONTENT { accessPackageId: 'ap', catalogId: 'c', displayName: 'One',
                 allowedTargetScope: 'allMemberUsers', isAutomatic: false, assignmentCount: 2,
                 createdDateTime: 'x', modifiedDateTime: 'x', sortKey: 'one', policy: {} };
             CREATE assignment_policy:p2 CONTENT { accessPackageId: 'ap', catalogId: 'c', displayName: 'Two',
                 allowedTargetScope: 'allMemberUsers', isAutomatic: false, assignmentCount: 1,
                 createdDateTime: 'x', modifiedDateTime: 'x', sortKey: 'two', policy: {} };
             CREATE assignment_policy:p3 CONTENT { accessPackageId: 'ap', catalogId: 'c', displayName: 'Three',
                 allowedTargetScope: 'allMemberUsers', isAutomatic: false, assignmentCount: 0,
                 createdDateTime: 'x', modifiedDateTime: 'x', sortKey: 'three', policy: {} };",
        )
        .await
        .unwrap()
        .check()
        .unwrap();
        db.query(format!("BEGIN;\n{V5}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response = db
            .query(
                "SELECT assignmentPolicyId, n FROM assignment_tally ORDER BY assignmentPolicyId;
                 RETURN math::sum(SELECT VALUE n FROM assignment_tally WHERE accessPackageId = 'ap');
                 SELECT VALUE assignmentCount FROM assignment_policy;
                 SELECT VALUE assignmentCount FROM access_package;",
            )
            .await
            .unwrap()
            .check()
            .unwrap();
        let tallies: Vec<serde_json::Value> = response.take(0).unwrap();
        assert_eq!(
            tallies,
            vec![
                serde_json::json!({ "assignmentPolicyId": "p1", "n": 2 }),
                serde_json::json!({ "assignmentPolicyId": "p2", "n": 1 }),
            ]
        );
        let sum: Option<i64> = response.take(1).unwrap();
        assert_eq!(sum, Some(3));
        let left: Vec<Option<i64>> = response.take(2).unwrap();
        assert!(left.iter().all(Option::is_none), "the policies' counters are gone: {left:?}");
        let left: Vec<Option<i64>> = response.take(3).unwrap();
        assert!(left.iter().all(Option::is_none), "the package's counter is gone: {left:?}");
    }

    /// Events recorded one per record, with their data as an object (before version 7) or as
    /// text, come out of version 15 as records of one event each that read as the same events,
    /// found by the same ids and times; records of a transaction's events stay as they were.
    #[tokio::test]
    async fn version_15_records_every_event_as_a_transactions() {
        use em_engine::event::{Event, EventKind};
        let db = database_at(14).await;
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let mut object = Event::new(
            "e1".into(),
            EventKind::CatalogCreated,
            &em_engine::Actor::System,
            at,
            "AccessPackageCatalog",
            "c1",
        )
        .in_catalog(&em_engine::id::CatalogId::new("c1"))
        .with_data(serde_json::json!({ "catalog": { "displayName": "Sales" }, "n": [1, 2] }));
        object.audience = vec!["u1".into()];
        let mut text = object.clone();
        text.id = "e2".into();
        text.actor_id = Some("u2".into());
        text.target_id = Some("u3".into());
        text.catalog_id = None;
        text.data = serde_json::Value::Null;
        let row = |event: &Event, data_as_text: bool| {
            let mut row = serde_json::to_value(event).unwrap();
            let fields = row.as_object_mut().unwrap();
            fields.remove("id");
            let data = fields.remove("data").unwrap();
            if data_as_text {
                fields.insert("dataJson".into(), serde_json::Value::String(data.to_string()));
            } else if !data.is_null() {
                fields.insert("data".into(), data);
            }
            fields.retain(|_, v| !v.is_null());
            fields.insert(
                "sortKey".into(),
                serde_json::json!(format!("2026-01-01T00:00:00.000000000Z\u{1}{}", event.id)),
            );
            row
        };
        db.query("CREATE event:e1 CONTENT $one; CREATE event:e2 CONTENT $two;
                  CREATE event:e3 CONTENT { sortKey: '2026-01-02T00:00:00.000000000Z\u{1}e3', keys: [], lastAt: '2026-01-02T00:00:00.000000000Z', n: 0, eventsJson: '[]' };")
            .bind(("one", row(&object, false)))
            .bind(("two", row(&text, true)))
            .await
            .unwrap()
            .check()
            .unwrap();
        db.query(format!("BEGIN;\n{V15}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response = db
            .query("SELECT record::id(id) AS id, sortKey, lastAt, keys, n, eventsJson, migrated FROM event ORDER BY id;")
            .await
            .unwrap()
            .check()
            .unwrap();
        let rows: Vec<serde_json::Value> = response.take(0).unwrap();
        let events = |row: &serde_json::Value| -> Vec<Event> {
            serde_json::from_str(row["eventsJson"].as_str().unwrap()).unwrap()
        };
        assert_eq!(events(&rows[0]), [object]);
        assert_eq!(events(&rows[1]), [text]);
        assert_eq!(rows[0]["keys"], serde_json::json!(["catalog:c1", "subject:c1"]));
        assert_eq!(rows[1]["keys"], serde_json::json!(["actor:u2", "subject:c1", "target:u3"]));
        assert_eq!(rows[0]["lastAt"], "2026-01-01T00:00:00.000000000Z");
        assert_eq!((rows[0]["n"].as_i64(), rows[0]["migrated"].as_bool()), (Some(1), Some(true)));
        assert_eq!(rows[0]["sortKey"], "2026-01-01T00:00:00.000000000Z\u{1}e1");
        assert_eq!((rows[2]["n"].as_i64(), rows[2]["migrated"].as_bool()), (Some(0), None), "left as it was");
    }

    /// Version 26 serves the assignments' and memberships' lookups from key rows and drops
    /// their indexes: every assignment gets its key and its package row, its target's lists name
    /// it, its timers become a timer set, every membership gets its group key, and
    /// `carried_request` goes.
    #[tokio::test]
    async fn version_26_keys_assignments_and_group_members() {
        let db = database_at(25).await;
        db.query(
            "CREATE target_state:u1 CONTENT { version: 2 };
             CREATE assignment:a1 CONTENT { accessPackageId: 'ap1', catalogId: 'c1', assignmentPolicyId: 'p1',
                 targetId: 'u1', active: true, sortKey: 'k1', due: '2026-03-01T00:00:00.000000Z',
                 timers: [{ due: '2026-03-01T00:00:00Z' }], version: 1, assignment: '{}' };
             CREATE assignment:a2 CONTENT { accessPackageId: 'ap1', catalogId: 'c1', assignmentPolicyId: 'p1',
                 targetId: 'u1', active: false, sortKey: 'k2', due: '~', timers: [], version: 2, assignment: '{}',
                 carried: true, requestId: 'r2', requestEvent: 'e' };
             CREATE carried_request:r2 CONTENT { assignmentId: 'a2', event: 'e' };
             CREATE membership:['u1', 'g1', 'member'] CONTENT { groupId: 'g1', principalId: 'u1', relation: 'member' };",
        )
        .await
        .unwrap()
        .check()
        .unwrap();
        db.query(format!("BEGIN;\n{V26}\nCOMMIT;")).await.unwrap().check().unwrap();
        let mut response = db
            .query(
                "SELECT record::id(id) AS id, a, policy, carried FROM assignment_key ORDER BY id;
                 SELECT record::id(id) AS id, catalogId FROM assignment_package;
                 SELECT active, ended FROM ONLY target_state:u1;
                 SELECT record::id(id) AS id, owner, targetId, due FROM timer_set;
                 SELECT VALUE record::id(id) FROM group_member;
                 SELECT VALUE [due, timers] FROM assignment ORDER BY id;
                 INFO FOR TABLE assignment; INFO FOR TABLE membership; INFO FOR DB;",
            )
            .await
            .unwrap()
            .check()
            .unwrap();
        let keys: Vec<serde_json::Value> = response.take(0).unwrap();
        assert_eq!(
            keys,
            [
                serde_json::json!({ "id": ["ap1", false, "k2"], "a": "a2", "policy": "p1", "carried": true }),
                serde_json::json!({ "id": ["ap1", true, "k1"], "a": "a1", "policy": "p1", "carried": null }),
            ]
        );
        let packages: Vec<serde_json::Value> = response.take(1).unwrap();
        assert_eq!(packages, [serde_json::json!({ "id": "ap1", "catalogId": "c1" })]);
        let lists: Option<serde_json::Value> = response.take(2).unwrap();
        assert_eq!(lists.unwrap(), serde_json::json!({ "active": ["a1"], "ended": ["a2"] }));
        let timers: Vec<serde_json::Value> = response.take(3).unwrap();
        assert_eq!(
            timers,
            [
                serde_json::json!({ "id": "a1", "owner": "assignment", "targetId": "u1", "due": "2026-03-01T00:00:00.000000Z" })
            ]
        );
        let groups: Vec<Vec<String>> = response.take(4).unwrap();
        assert_eq!(groups, [["g1", "member", "u1"]]);
        let left: Vec<serde_json::Value> = response.take(5).unwrap();
        assert!(left.iter().all(|pair| pair == &serde_json::json!([null, null])), "{left:?}");
        for i in [6, 7] {
            let info: Option<serde_json::Value> = response.take(i).unwrap();
            assert_eq!(info.unwrap()["indexes"], serde_json::json!({}));
        }
        let info: Option<serde_json::Value> = response.take(8).unwrap();
        assert!(info.unwrap()["tables"].get("carried_request").is_none());
    }
}
