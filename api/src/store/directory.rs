//! Directory objects in the store: users, groups and their members, applications, sites and
//! directory roles.

use std::collections::HashMap;

use em_engine::directory::{Application, DirectoryRole, Group, GroupRelation, ObjectKind, Site, User};
use em_engine::import::DirectoryImport;
use em_engine::{DomainError, ErrorCode};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Page, PageRequest, Store, StoreResult, content, sort_key, throw};
use crate::vars;

/// The tables holding directory objects, with their kinds.
pub const DIRECTORY_TABLES: [(&str, ObjectKind); 5] = [
    ("user", ObjectKind::User),
    ("group", ObjectKind::Group),
    ("application", ObjectKind::Application),
    ("site", ObjectKind::Site),
    ("directory_role", ObjectKind::DirectoryRole),
];

/// The table that holds objects of `kind`.
#[must_use]
pub fn table_of(kind: ObjectKind) -> &'static str {
    DIRECTORY_TABLES.iter().find(|(_, k)| *k == kind).map_or("user", |(t, _)| t)
}

/// True when any directory object already has the id `$id`: ids are unique across kinds.
const ID_TAKEN: &str = "(record::exists(type::record('user', $id)) OR record::exists(type::record('group', $id)) \
    OR record::exists(type::record('application', $id)) OR record::exists(type::record('site', $id)) \
    OR record::exists(type::record('directory_role', $id)))";

/// A member or owner of a group, as stored.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MembershipRow {
    pub group_id: String,
    pub principal_id: String,
    pub relation: GroupRelation,
}

/// The statement that reads the memberships of `$principal`: the key range of the principal
/// (schema V11), in the order of the groups' ids. A macro, so that `concat!` can join it to the
/// other statements of a read.
macro_rules! memberships_of_principal {
    () => {
        "SELECT groupId, principalId, relation FROM membership:[$principal, NONE]..[$principal, {}];"
    };
}

/// The statements that delete the memberships of `$id` (a principal) with their group keys.
/// A group's members are the key range of `group_member:[<group>, <relation>, <principal>]`
/// (schema V26), rows without fields: the membership table has no index.
macro_rules! delete_memberships_of_id {
    () => {
        "FOR $m IN (SELECT groupId, relation FROM membership:[$id, NONE]..[$id, {}]) {
             DELETE type::record('group_member', [$m.groupId, $m.relation, $id]);
         };
         DELETE membership:[$id, NONE]..[$id, {}];"
    };
}
pub(crate) use delete_memberships_of_id;

/// The statements that delete the memberships of a group, with their group keys: every one
/// whose key starts with `$prefix` (`$group` for every relation, `$group, $relation` for one).
macro_rules! delete_members_of {
    ($prefix:expr) => {
        format!(
            "FOR $k IN (SELECT VALUE record::id(id) FROM group_member:[{p}, NONE]..[{p}, {{}}]) {{
                 DELETE type::record('membership', [$k[2], $k[0], $k[1]]);
             }};
             DELETE group_member:[{p}, NONE]..[{p}, {{}}];",
            p = $prefix
        )
    };
}

impl MembershipRow {
    /// The groups these rows make their principal a direct member of (not an owner).
    pub fn member_groups<C: FromIterator<String>>(rows: Vec<Self>) -> C {
        rows.into_iter().filter(|m| m.relation == GroupRelation::Member).map(|m| m.group_id).collect()
    }
}

/// Filters for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive prefix of displayName, userPrincipalName or mail.
    pub search: Option<String>,
    pub department: Option<String>,
    pub country: Option<String>,
    pub user_type: Option<String>,
    pub account_enabled: Option<bool>,
    pub manager_id: Option<String>,
}

/// Filters for listing groups.
#[derive(Debug, Clone, Default)]
pub struct GroupFilter {
    pub search: Option<String>,
    pub security_enabled: Option<bool>,
    pub is_team: Option<bool>,
}

pub(crate) fn user_row(user: &User) -> StoreResult<Value> {
    let mut row = content(user)?;
    if let Some(object) = row.as_object_mut() {
        object
            .insert("sortKey".into(), json!(sort_key(user.display_name.as_deref().unwrap_or(""), &user.id)));
        if let Some(upn) = &user.user_principal_name {
            object.insert("upnKey".into(), json!(upn.to_lowercase()));
        }
        if let Some(manager) = user.manager_id() {
            object.insert("managerId".into(), json!(manager));
        }
    }
    Ok(row)
}

fn named_row<T: Serialize>(value: &T, display_name: &str, id: &str) -> StoreResult<Value> {
    let mut row = content(value)?;
    if let Some(object) = row.as_object_mut() {
        object.insert("sortKey".into(), json!(sort_key(display_name, id)));
    }
    Ok(row)
}

fn with_id(id: &str, row: Value) -> Value {
    json!({ "id": id, "row": row })
}

fn search_condition(
    conditions: &mut Vec<String>,
    vars: &mut Map<String, Value>,
    search: Option<&str>,
    fields: &[&str],
) {
    if let Some(text) = search.map(str::trim).filter(|s| !s.is_empty()) {
        vars.insert("search".into(), json!(text.to_lowercase()));
        let any = fields
            .iter()
            .map(|f| format!("string::starts_with(string::lowercase({f} ?? ''), $search)"))
            .collect::<Vec<_>>()
            .join(" OR ");
        conditions.push(format!("({any})"));
    }
}

/// How many users an import commits per transaction.
const USERS_PER_TRANSACTION: usize = 20_000;

impl Store {
    /// Every directory object id with its kind, for resolving the references of an import.
    pub async fn directory_kinds(&self) -> StoreResult<HashMap<String, ObjectKind>> {
        let sql = DIRECTORY_TABLES
            .iter()
            .map(|(table, _)| format!("SELECT VALUE record::id(id) FROM {table};"))
            .collect::<String>();
        let mut response = self.read(&sql, Map::new()).await?;
        let mut kinds = HashMap::new();
        for (index, (table, kind)) in DIRECTORY_TABLES.iter().enumerate() {
            for id in response.rows::<String>(index, table)? {
                kinds.insert(id, *kind);
            }
        }
        Ok(kinds)
    }

    /// Writes a validated import: objects are created or replaced, and groups that listed
    /// members or owners get exactly those. Users commit in chunks of [`USERS_PER_TRANSACTION`],
    /// the last chunk with everything else and the import's events.
    pub async fn import_directory(&self, import: &DirectoryImport) -> StoreResult<()> {
        self.import_in_chunks(import, USERS_PER_TRANSACTION).await
    }

    async fn import_in_chunks(&self, import: &DirectoryImport, per_transaction: usize) -> StoreResult<()> {
        // Users beyond the last chunk commit first, a chunk per transaction: one transaction of a
        // million users holds tens of gigabytes. Each is an upsert, so an import cut short is
        // completed by importing the file again.
        let (earlier, last) = import.users.split_at(import.users.len().saturating_sub(per_transaction));
        for chunk in earlier.chunks(per_transaction) {
            let rows =
                chunk.iter().map(|u| Ok(with_id(&u.id, user_row(u)?))).collect::<StoreResult<Vec<_>>>()?;
            self.logged(Vec::new())
                .transaction(
                    "FOR $o IN $user { UPSERT type::record('user', $o.id) CONTENT $o.row RETURN NONE; };",
                    vars! { "user" => rows },
                )
                .await?;
        }
        let users = last.iter().map(|u| Ok(with_id(&u.id, user_row(u)?))).collect::<StoreResult<Vec<_>>>()?;
        let groups = import
            .groups
            .iter()
            .map(|g| Ok(with_id(&g.id, named_row(g, &g.display_name, &g.id)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let applications = import
            .applications
            .iter()
            .map(|a| Ok(with_id(&a.id, named_row(a, &a.display_name, &a.id)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let sites = import
            .sites
            .iter()
            .map(|s| Ok(with_id(&s.id, named_row(s, &s.display_name, &s.id)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let roles = import
            .directory_roles
            .iter()
            .map(|r| Ok(with_id(&r.id, named_row(r, &r.display_name, &r.id)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let cleared: Vec<Value> = import
            .memberships
            .iter()
            .map(|m| json!({ "groupId": m.group_id, "relation": m.relation }))
            .collect();
        let memberships: Vec<Value> = import
            .memberships
            .iter()
            .flat_map(|m| {
                m.principal_ids.iter().map(move |p| {
                    json!({
                        "id": [p, &m.group_id, m.relation.as_str()],
                        "groupId": m.group_id,
                        "principalId": p,
                        "relation": m.relation.as_str(),
                    })
                })
            })
            .collect();
        let mut body = String::new();
        for table in ["user", "group", "application", "site", "directory_role"] {
            body.push_str(&format!(
                "FOR $o IN ${table} {{ UPSERT type::record('{table}', $o.id) CONTENT $o.row RETURN NONE; }};\n"
            ));
        }
        body.push_str(&format!(
            "FOR $m IN $cleared {{ LET $group = $m.groupId; LET $relation = $m.relation; {} }};\n",
            delete_members_of!("$group, $relation")
        ));
        body.push_str(
            "INSERT INTO membership $memberships RETURN NONE;
             INSERT IGNORE INTO group_member $groupKeys RETURN NONE;\n",
        );
        let group_keys: Vec<Value> = memberships
            .iter()
            .map(|m| json!({ "id": [&m["groupId"], &m["relation"], &m["principalId"]] }))
            .collect();
        self.transaction(
            &body,
            vars! {
                "user" => users, "group" => groups, "application" => applications, "site" => sites,
                "directory_role" => roles, "cleared" => cleared, "memberships" => memberships,
                "groupKeys" => group_keys,
            },
        )
        .await?;
        Ok(())
    }

    pub async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        self.get("user", id).await
    }

    /// A user as a signed-in caller is looked up: the user, their memberships and the version of
    /// their requests and assignments (0 before the first), in one round trip. Most callers go on
    /// to act as themselves, and a submission decides on all three.
    pub async fn caller(&self, id: &str) -> StoreResult<(Option<User>, Vec<MembershipRow>, u64)> {
        let sql = concat!(
            "RETURN type::record('user', $principal).*;",
            memberships_of_principal!(),
            "RETURN type::record('target_state', $principal).version ?? 0;"
        );
        let mut response = self.read(sql, vars! { "principal" => id }).await?;
        let user = super::fetched("user", id, response.value(0)?)?;
        let memberships = response.rows(1, "membership")?;
        let version = response.value(2)?.as_u64().unwrap_or(0);
        Ok((user, memberships, version))
    }

    /// Every user, for building in-memory read models such as the rule index.
    pub async fn all_users(&self) -> StoreResult<Vec<User>> {
        self.all("user", "true", "sortKey", Map::new()).await
    }

    /// Every direct `(principal, group)` membership (not ownership).
    pub async fn all_group_members(&self) -> StoreResult<Vec<(String, String)>> {
        let rows: Vec<MembershipRow> =
            self.all("membership", "relation = 'member'", "groupId", Map::new()).await?;
        Ok(rows.into_iter().map(|m| (m.principal_id, m.group_id)).collect())
    }

    /// Users by id, ordered by display name; ids that do not exist are skipped.
    pub async fn users_by_ids(&self, ids: &[String]) -> StoreResult<Vec<User>> {
        let mut users: Vec<User> = self.get_many("user", ids).await?;
        // Selecting from a list of records does not honour ORDER BY: order here, as lists are ordered.
        users.sort_by_cached_key(|u| sort_key(u.display_name.as_deref().unwrap_or(""), &u.id));
        Ok(users)
    }

    /// Groups by id, ordered by display name; ids that do not exist are skipped.
    pub async fn groups_by_ids(&self, ids: &[String]) -> StoreResult<Vec<Group>> {
        let mut groups: Vec<Group> = self.get_many("group", ids).await?;
        groups.sort_by_cached_key(|g| sort_key(&g.display_name, &g.id));
        Ok(groups)
    }

    pub async fn users(&self, filter: &UserFilter, page: &PageRequest) -> StoreResult<Page<User>> {
        let mut conditions = Vec::new();
        let mut vars = Map::new();
        search_condition(
            &mut conditions,
            &mut vars,
            filter.search.as_deref(),
            &["displayName", "userPrincipalName", "mail"],
        );
        for (field, value) in [
            ("department", &filter.department),
            ("country", &filter.country),
            ("managerId", &filter.manager_id),
        ] {
            if let Some(v) = value {
                conditions.push(format!("string::lowercase({field} ?? '') = ${field}"));
                vars.insert(field.to_owned(), json!(v.to_lowercase()));
            }
        }
        if let Some(t) = &filter.user_type {
            conditions.push("(userType ?? 'Member') = $userType".to_owned());
            vars.insert("userType".into(), json!(t));
        }
        if let Some(enabled) = filter.account_enabled {
            conditions.push("(accountEnabled ?? true) = $accountEnabled".to_owned());
            vars.insert("accountEnabled".into(), json!(enabled));
        }
        self.page("user", &conditions, vars, page).await
    }

    /// Creates a user; the manager, when given, must exist.
    pub async fn create_user(&self, user: &User) -> StoreResult<()> {
        let exists = throw(ErrorCode::Conflict, "id", "a directory object with this id already exists");
        self.write_user(user, &format!("IF {ID_TAKEN} {{ {exists} }};"), "CREATE").await
    }

    /// Replaces a user; the user must exist and the manager, when given, too.
    pub async fn replace_user(&self, user: &User) -> StoreResult<()> {
        let missing = throw(ErrorCode::NotFound, "id", "the user does not exist");
        self.write_user(
            user,
            &format!("IF !record::exists(type::record('user', $id)) {{ {missing} }};"),
            "UPDATE",
        )
        .await
    }

    /// Writes a user with `statement` (`CREATE` or `UPDATE`) after `guard`, checking the manager.
    async fn write_user(&self, user: &User, guard: &str, statement: &str) -> StoreResult<()> {
        let body = format!(
            "{guard}
             IF $manager != NONE AND $manager != NULL AND !record::exists(type::record('user', $manager)) {{ {manager} }};
             {statement} type::record('user', $id) CONTENT $row RETURN NONE;",
            manager = throw(ErrorCode::NotFound, "managerId", "the manager does not exist"),
        );
        self.people()
            .transaction(
                &body,
                vars! { "id" => user.id, "manager" => user.manager_id(), "row" => user_row(user)? },
            )
            .await?;
        Ok(())
    }

    /// Deletes a user with their group memberships; their direct reports lose their manager.
    pub async fn delete_user(&self, id: &str) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('user', $id)) {{ {missing} }};
             {memberships}
             UPDATE user SET manager = NONE, managerId = NONE WHERE managerId = $id RETURN NONE;
             {roles}
             DELETE type::record('user', $id);",
            missing = throw(ErrorCode::NotFound, "id", "the user does not exist"),
            memberships = delete_memberships_of_id!(),
            roles = super::roles::delete_principal_roles(),
        );
        self.people().transaction(&body, vars! { "id" => id }).await?;
        self.roles_changed();
        Ok(())
    }

    pub async fn group(&self, id: &str) -> StoreResult<Option<Group>> {
        self.get("group", id).await
    }

    pub async fn groups(&self, filter: &GroupFilter, page: &PageRequest) -> StoreResult<Page<Group>> {
        let mut conditions = Vec::new();
        let mut vars = Map::new();
        search_condition(&mut conditions, &mut vars, filter.search.as_deref(), &["displayName", "mail"]);
        if let Some(security) = filter.security_enabled {
            conditions.push("securityEnabled = $security".to_owned());
            vars.insert("security".into(), json!(security));
        }
        if let Some(team) = filter.is_team {
            conditions.push("('Team' IN (resourceProvisioningOptions ?? [])) = $team".to_owned());
            vars.insert("team".into(), json!(team));
        }
        self.page("group", &conditions, vars, page).await
    }

    pub async fn create_group(&self, group: &Group) -> StoreResult<()> {
        let body = format!(
            "IF {taken} {{ {exists} }};
             CREATE type::record('group', $id) CONTENT $row RETURN NONE;",
            taken = ID_TAKEN,
            exists = throw(ErrorCode::Conflict, "id", "a directory object with this id already exists"),
        );
        let row = named_row(group, &group.display_name, &group.id)?;
        self.transaction(&body, vars! { "id" => group.id, "row" => row }).await?;
        Ok(())
    }

    pub async fn replace_group(&self, group: &Group) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('group', $id)) {{ {missing} }};
             UPDATE type::record('group', $id) CONTENT $row RETURN NONE;
             UPDATE resource SET displayName = $name, description = $description ?? NONE WHERE objectId = $id AND originSystem = 'AadGroup' RETURN NONE;",
            missing = throw(ErrorCode::NotFound, "id", "the group does not exist"),
        );
        let row = named_row(group, &group.display_name, &group.id)?;
        self.transaction(
            &body,
            vars! { "id" => group.id, "row" => row, "name" => group.display_name, "description" => group.description },
        )
        .await?;
        Ok(())
    }

    /// Deletes a group unless a catalog holds it as a resource; its memberships and the
    /// incompatibilities naming it go with it.
    pub async fn delete_group(&self, id: &str) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('group', $id)) {{ {missing} }};
             LET $used = (SELECT VALUE catalogId FROM resource WHERE objectId = $id AND originSystem = 'AadGroup');
             IF array::len($used) > 0 {{ {used} }};
             LET $group = $id;
             {members}
             {memberships}
             DELETE incompatibility WHERE kind = 'group' AND targetId = $id;
             {roles}
             DELETE type::record('group', $id);",
            missing = throw(ErrorCode::NotFound, "id", "the group does not exist"),
            used = throw(
                ErrorCode::Conflict,
                "id",
                "the group is a resource in a catalog; remove it from the catalog before deleting it"
            ),
            members = delete_members_of!("$group"),
            memberships = delete_memberships_of_id!(),
            roles = super::roles::delete_principal_roles(),
        );
        self.transaction(&body, vars! { "id" => id }).await?;
        self.roles_changed();
        Ok(())
    }

    /// The members (or owners) of a group, by principal id: the group's key range (schema V26).
    pub async fn group_members(
        &self,
        group_id: &str,
        relation: GroupRelation,
    ) -> StoreResult<Vec<MembershipRow>> {
        let sql = "SELECT VALUE record::id(id)[2] FROM group_member:[$group, $relation, NONE]..[$group, $relation, {}];";
        let principals: Vec<String> = self
            .read(sql, vars! { "group" => group_id, "relation" => relation.as_str() })
            .await?
            .rows(0, "group_member")?;
        Ok(principals
            .into_iter()
            .map(|principal_id| MembershipRow { group_id: group_id.to_owned(), principal_id, relation })
            .collect())
    }

    /// The groups a principal belongs to directly.
    pub async fn memberships_of(&self, principal_id: &str) -> StoreResult<Vec<MembershipRow>> {
        self.read(memberships_of_principal!(), vars! { "principal" => principal_id })
            .await?
            .rows(0, "membership")
    }

    /// Adds a member or owner. Dynamic groups are refused (their rule decides membership).
    pub async fn add_group_member(
        &self,
        group_id: &str,
        principal_id: &str,
        relation: GroupRelation,
    ) -> StoreResult<()> {
        let allowed_tables = match relation {
            GroupRelation::Member => "['user', 'group']",
            GroupRelation::Owner => "['user']",
        };
        let body = format!(
            "LET $g = (SELECT * FROM ONLY type::record('group', $group));
             IF $g == NONE {{ {missing_group} }};
             IF 'DynamicMembership' IN ($g.groupTypes ?? []) OR ($g.membershipRule ?? '') != '' {{ {dynamic} }};
             IF $group = $principal {{ {itself} }};
             LET $found = (SELECT VALUE t FROM [{{ t: 'user', e: record::exists(type::record('user', $principal)) }}, {{ t: 'group', e: record::exists(type::record('group', $principal)) }}] WHERE e);
             IF array::len($found) == 0 {{ {missing_principal} }};
             IF $found[0] NOT IN {allowed_tables} {{ {wrong_kind} }};
             IF record::exists(type::record('membership', [$principal, $group, $relation])) {{ {already} }};
             CREATE type::record('membership', [$principal, $group, $relation]) CONTENT {{ groupId: $group, principalId: $principal, relation: $relation }} RETURN NONE;
             UPSERT type::record('group_member', [$group, $relation, $principal]) RETURN NONE;",
            missing_group = throw(ErrorCode::NotFound, "groupId", "the group does not exist"),
            dynamic = throw(
                ErrorCode::ValidationFailed,
                "groupId",
                "the group has dynamic membership; its rule decides who is a member"
            ),
            itself = throw(ErrorCode::ValidationFailed, "principalId", "a group cannot be a member of itself"),
            missing_principal = throw(ErrorCode::NotFound, "principalId", "no user or group has this id"),
            wrong_kind = throw(ErrorCode::ValidationFailed, "principalId", "only users can own a group"),
            already = throw(ErrorCode::Conflict, "principalId", "the principal already holds this relation on the group"),
        );
        self.people()
            .transaction(
                &body,
                vars! { "group" => group_id, "principal" => principal_id, "relation" => relation.as_str() },
            )
            .await?;
        Ok(())
    }

    pub async fn remove_group_member(
        &self,
        group_id: &str,
        principal_id: &str,
        relation: GroupRelation,
    ) -> StoreResult<()> {
        let body = format!(
            "IF !record::exists(type::record('membership', [$principal, $group, $relation])) {{ {missing} }};
             DELETE type::record('membership', [$principal, $group, $relation]);
             DELETE type::record('group_member', [$group, $relation, $principal]);",
            missing = throw(
                ErrorCode::NotFound,
                "principalId",
                "the principal does not hold this relation on the group"
            ),
        );
        self.people()
            .transaction(
                &body,
                vars! { "group" => group_id, "principal" => principal_id, "relation" => relation.as_str() },
            )
            .await?;
        Ok(())
    }

    pub async fn application(&self, id: &str) -> StoreResult<Option<Application>> {
        self.get("application", id).await
    }

    pub async fn applications(
        &self,
        search: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<Application>> {
        let (conditions, vars) = searched(search);
        self.page("application", &conditions, vars, page).await
    }

    pub async fn site(&self, id: &str) -> StoreResult<Option<Site>> {
        self.get("site", id).await
    }

    /// A site by id or by its web URL (Graph names SharePoint resources by URL).
    pub async fn site_by_id_or_url(&self, key: &str) -> StoreResult<Option<Site>> {
        if let Some(site) = self.site(key).await? {
            return Ok(Some(site));
        }
        let url = key.trim_end_matches('/');
        let mut sites: Vec<Site> = self
            .all(
                "site",
                "string::lowercase(webUrl) = $url OR string::lowercase(webUrl) = $slash",
                "sortKey",
                vars! {
                    "url" => url.to_lowercase(), "slash" => format!("{}/", url.to_lowercase())
                },
            )
            .await?;
        Ok(sites.pop())
    }

    pub async fn sites(&self, search: Option<&str>, page: &PageRequest) -> StoreResult<Page<Site>> {
        let (conditions, vars) = searched(search);
        self.page("site", &conditions, vars, page).await
    }

    pub async fn directory_role(&self, id: &str) -> StoreResult<Option<DirectoryRole>> {
        self.get("directory_role", id).await
    }

    pub async fn directory_roles(
        &self,
        search: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<DirectoryRole>> {
        let (conditions, vars) = searched(search);
        self.page("directory_role", &conditions, vars, page).await
    }

    /// Whether a user holds a directory role made from one of `role_templates` (a role matches by
    /// its template id or, for built-in roles exported without one, by its id).
    pub async fn holds_directory_role(&self, user_id: &str, role_templates: &[&str]) -> StoreResult<bool> {
        let sql = "LET $held = (SELECT VALUE groupId FROM membership:[$user, NONE]..[$user, {}] WHERE relation = 'member');
                   RETURN count(SELECT * FROM directory_role WHERE record::id(id) IN $held AND (roleTemplateId IN $templates OR record::id(id) IN $templates));";
        let mut response = self.read(sql, vars! { "user" => user_id, "templates" => role_templates }).await?;
        Ok(response.value(1)?.as_u64().unwrap_or(0) > 0)
    }

    /// The kind of a directory object, or NOT_FOUND.
    pub async fn kind_of(&self, id: &str) -> StoreResult<ObjectKind> {
        let sql = DIRECTORY_TABLES
            .iter()
            .map(|(table, _)| format!("RETURN record::exists(type::record('{table}', $id));"))
            .collect::<String>();
        let mut response = self.read(&sql, vars! { "id" => id }).await?;
        for (index, (_, kind)) in DIRECTORY_TABLES.iter().enumerate() {
            if response.value(index)? == Value::Bool(true) {
                return Ok(*kind);
            }
        }
        Err(DomainError::not_found("directory object", id).into())
    }
}

fn searched(search: Option<&str>) -> (Vec<String>, Map<String, Value>) {
    let mut conditions = Vec::new();
    let mut vars = Map::new();
    search_condition(&mut conditions, &mut vars, search, &["displayName"]);
    (conditions, vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Users beyond a transaction's chunk are written first; the groups, their memberships and
    /// the import's event with the last chunk.
    #[tokio::test]
    async fn an_import_larger_than_a_transaction_writes_every_user_and_its_event_once() {
        let store = Store::open(&crate::store::StoreConfig::memory()).await.unwrap();
        let users: Vec<Value> = (0..7)
            .map(|n| {
                json!({ "id": format!("u{n}"), "displayName": format!("User {n}"),
                             "userPrincipalName": format!("u{n}@contoso.com") })
            })
            .collect();
        let text =
            json!({ "users": users, "groups": [{"id": "g", "displayName": "G", "securityEnabled": true,
                                                        "members": [{"id": "u0"}, {"id": "u6"}]}] })
            .to_string();
        let parsed =
            em_engine::import::parse_directory(&text, &store.directory_kinds().await.unwrap()).unwrap();
        let event = em_engine::event::Event::new(
            "e1".into(),
            em_engine::event::EventKind::DirectoryImported,
            &em_engine::Actor::LocalOperator,
            chrono::Utc::now(),
            "Directory",
            "directory",
        );
        store.logged(vec![event]).import_in_chunks(&parsed, 3).await.unwrap();
        for n in 0..7 {
            assert!(store.user(&format!("u{n}")).await.unwrap().is_some(), "u{n}");
        }
        let members: Vec<String> =
            store.all_group_members().await.unwrap().into_iter().map(|(user, _)| user).collect();
        assert_eq!(members.len(), 2, "{members:?}");
        let records: Vec<Value> =
            store.db.query("SELECT VALUE id FROM event").await.unwrap().take(0).unwrap();
        assert_eq!(records.len(), 1, "the import's event, written once: {records:?}");
    }
}
