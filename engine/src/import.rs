//! Import of a directory file in the shape Microsoft Graph returns.
//!
//! ```json
//! {"users": [{"id": "...", "manager": {"id": "..."}}],
//!  "groups": [{"id": "...", "members": [{"id": "..."}], "owners": [{"id": "..."}]}],
//!  "applications": [...], "sites": [...], "directoryRoles": [...]}
//! ```
//!
//! Parsing checks every item and reports every problem with the path of the offending item
//! (`users[3].manager.id`), so a rejected file can be fixed in one pass. References may point into
//! the file or to objects already in the directory, which the caller describes with [`Known`].
//! A group that lists `members` (or `owners`) gets exactly those; one that omits the key keeps
//! what it had.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::directory::{
    Application, DirectoryRole, Group, GroupRelation, ObjectKind, Site, User, is_extension_property,
};
use crate::error::{DomainError, Problems};

/// Objects that already exist in the directory, for resolving references an import makes.
pub trait Known {
    /// The kind of the directory object with this id, if one exists.
    fn kind_of(&self, id: &str) -> Option<ObjectKind>;
}

impl Known for HashMap<String, ObjectKind> {
    fn kind_of(&self, id: &str) -> Option<ObjectKind> {
        self.get(id).copied()
    }
}

/// A validated directory import, ready to be written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectoryImport {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// For each group (or directory role) that listed them, its complete member (or owner) set.
    pub memberships: Vec<GroupMembers>,
    pub applications: Vec<Application>,
    pub sites: Vec<Site>,
    pub directory_roles: Vec<DirectoryRole>,
}

/// The complete set of principals holding `relation` on `group_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembers {
    pub group_id: String,
    pub relation: GroupRelation,
    pub principal_ids: Vec<String>,
}

/// How many objects of each kind an import holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportCounts {
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub applications: usize,
    pub sites: usize,
    pub directory_roles: usize,
}

impl DirectoryImport {
    #[must_use]
    pub fn counts(&self) -> ImportCounts {
        ImportCounts {
            users: self.users.len(),
            groups: self.groups.len(),
            memberships: self.memberships.iter().map(|m| m.principal_ids.len()).sum(),
            applications: self.applications.len(),
            sites: self.sites.len(),
            directory_roles: self.directory_roles.len(),
        }
    }
}

/// Members or owners a group listed: `(group id, relation, [(path, principal id)])`.
type Listed = (String, GroupRelation, Vec<(String, String)>);

const TOP_LEVEL: [&str; 5] = ["users", "groups", "applications", "sites", "directoryRoles"];

/// Parses and validates a directory document. `known` resolves references to existing objects.
pub fn parse_directory(text: &str, known: &dyn Known) -> Result<DirectoryImport, DomainError> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| DomainError::invalid("$", format!("the file is not valid JSON: {e}")))?;
    parse_directory_value(&root, known)
}

/// As [`parse_directory`], from an already parsed JSON value.
pub fn parse_directory_value(root: &Value, known: &dyn Known) -> Result<DirectoryImport, DomainError> {
    let mut problems = Problems::default();
    let Some(object) = root.as_object() else {
        return Err(DomainError::invalid(
            "$",
            "a directory file is a JSON object with `users`, `groups`, ...",
        ));
    };
    for key in object.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) && !key.starts_with('@') {
            problems.push(
                key.clone(),
                format!("unknown collection `{key}`; expected one of {}", TOP_LEVEL.join(", ")),
            );
        }
    }
    let mut import = DirectoryImport::default();
    let mut ids: HashMap<String, (ObjectKind, String)> = HashMap::new();

    let mut claim = |problems: &mut Problems, kind: ObjectKind, id: &str, path: &str| {
        if id.trim().is_empty() {
            problems.push(format!("{path}.id"), "`id` must not be empty");
        } else if let Some((_, first)) = ids.get(id) {
            problems.push(format!("{path}.id"), format!("duplicate id `{id}`, first used at {first}"));
        } else if let Some(existing) = known.kind_of(id).filter(|k| *k != kind) {
            problems.push(
                format!("{path}.id"),
                format!("id `{id}` already belongs to a {} in the directory", existing.as_str()),
            );
        } else {
            ids.insert(id.to_owned(), (kind, path.to_owned()));
        }
    };

    for (path, item) in items(object, "users", &mut problems) {
        if let Some(user) = parse_user(&path, item, &mut problems) {
            claim(&mut problems, ObjectKind::User, &user.id, &path);
            import.users.push(user);
        }
    }
    let mut listed: Vec<Listed> = Vec::new();
    for (path, item) in items(object, "groups", &mut problems) {
        if let Some(group) = parse_item::<Group>(&path, item, &mut problems) {
            check_group(&path, &group, &mut problems);
            claim(&mut problems, ObjectKind::Group, &group.id, &path);
            for relation in [GroupRelation::Member, GroupRelation::Owner] {
                let key = match relation {
                    GroupRelation::Member => "members",
                    GroupRelation::Owner => "owners",
                };
                if let Some(refs) = item.get(key) {
                    let refs = parse_refs(&format!("{path}.{key}"), refs, &mut problems);
                    listed.push((group.id.clone(), relation, refs));
                }
            }
            import.groups.push(group);
        }
    }
    for (path, item) in items(object, "applications", &mut problems) {
        if let Some(app) = parse_item::<Application>(&path, item, &mut problems) {
            check_application(&path, &app, &mut problems);
            claim(&mut problems, ObjectKind::Application, &app.id, &path);
            import.applications.push(app);
        }
    }
    for (path, item) in items(object, "sites", &mut problems) {
        if let Some(site) = parse_item::<Site>(&path, item, &mut problems) {
            check_site(&path, &site, &mut problems);
            claim(&mut problems, ObjectKind::Site, &site.id, &path);
            import.sites.push(site);
        }
    }
    let mut role_members: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (path, item) in items(object, "directoryRoles", &mut problems) {
        if let Some(role) = parse_item::<DirectoryRole>(&path, item, &mut problems) {
            if role.display_name.trim().is_empty() {
                problems.push(format!("{path}.displayName"), "`displayName` must not be empty");
            }
            claim(&mut problems, ObjectKind::DirectoryRole, &role.id, &path);
            if let Some(refs) = item.get("members") {
                role_members
                    .push((role.id.clone(), parse_refs(&format!("{path}.members"), refs, &mut problems)));
            }
            import.directory_roles.push(role);
        }
    }

    let kind_of = |id: &str| ids.get(id).map(|(kind, _)| *kind).or_else(|| known.kind_of(id));

    for (index, user) in import.users.iter().enumerate() {
        if let Some(manager) = user.manager_id() {
            let path = format!("users[{index}].manager.id");
            if manager == user.id {
                problems.push(path, "a user cannot be their own manager");
            } else {
                match kind_of(manager) {
                    Some(ObjectKind::User) => {}
                    Some(other) => problems
                        .push(path, format!("manager `{manager}` is a {}, not a user", other.as_str())),
                    None => problems.push(path, format!("unknown manager `{manager}`")),
                }
            }
        }
    }
    for (group_id, relation, refs) in listed {
        let mut seen = HashSet::new();
        let mut principal_ids = Vec::with_capacity(refs.len());
        for (path, id) in refs {
            match kind_of(&id) {
                Some(ObjectKind::User) => {}
                Some(ObjectKind::Group) if relation == GroupRelation::Member && id != group_id => {}
                Some(ObjectKind::Group) if id == group_id => {
                    problems.push(path, "a group cannot be a member of itself");
                    continue;
                }
                Some(other) => {
                    problems.push(
                        path,
                        format!("`{id}` is a {} and cannot be a group {}", other.as_str(), relation.as_str()),
                    );
                    continue;
                }
                None => {
                    problems.push(path, format!("unknown {} `{id}`", relation.as_str()));
                    continue;
                }
            }
            if seen.insert(id.clone()) {
                principal_ids.push(id);
            }
        }
        import.memberships.push(GroupMembers { group_id, relation, principal_ids });
    }

    let owned =
        import.applications.iter().enumerate().map(|(i, a)| (format!("applications[{i}]"), &a.owners));
    let owned = owned.chain(import.sites.iter().enumerate().map(|(i, s)| (format!("sites[{i}]"), &s.owners)));
    for (path, owners) in owned {
        for (j, owner) in owners.iter().enumerate() {
            let path = format!("{path}.owners[{j}].id");
            match kind_of(&owner.id) {
                Some(ObjectKind::User) => {}
                Some(other) => {
                    problems.push(path, format!("owner `{}` is a {}, not a user", owner.id, other.as_str()));
                }
                None => problems.push(path, format!("unknown owner `{}`", owner.id)),
            }
        }
    }

    for (role_id, refs) in role_members {
        let mut principal_ids = Vec::with_capacity(refs.len());
        for (path, id) in refs {
            match kind_of(&id) {
                Some(ObjectKind::User) if !principal_ids.contains(&id) => principal_ids.push(id),
                Some(ObjectKind::User) => {}
                Some(other) => problems
                    .push(path, format!("`{id}` is a {}; directory roles are held by users", other.as_str())),
                None => problems.push(path, format!("unknown role member `{id}`")),
            }
        }
        import.memberships.push(GroupMembers {
            group_id: role_id,
            relation: GroupRelation::Member,
            principal_ids,
        });
    }

    problems.into_result("the directory file was rejected")?;
    Ok(import)
}

/// Parses one user in Graph's JSON shape, with the same checks as an import; paths are relative
/// to the object (`mail`, `manager.id`). References are not resolved here.
pub fn parse_user_object(item: &Value) -> Result<User, DomainError> {
    let mut problems = Problems::default();
    let user = parse_user("", item, &mut problems);
    relative(problems).into_result("the user was rejected")?;
    user.ok_or_else(|| DomainError::invalid("input", "expected an object"))
}

/// Parses one group in Graph's JSON shape, with the same checks as an import.
pub fn parse_group_object(item: &Value) -> Result<Group, DomainError> {
    let mut problems = Problems::default();
    let group = parse_item::<Group>("", item, &mut problems);
    if let Some(g) = &group {
        check_group("", g, &mut problems);
    }
    relative(problems).into_result("the group was rejected")?;
    group.ok_or_else(|| DomainError::invalid("input", "expected an object"))
}

/// A user as Graph writes it: custom extension properties inline, absent values left out.
#[must_use]
pub fn user_to_graph_json(user: &User) -> serde_json::Map<String, Value> {
    let mut object = match serde_json::to_value(user) {
        Ok(Value::Object(o)) => o,
        _ => serde_json::Map::new(),
    };
    object.remove("extensions");
    for (key, value) in &user.extensions {
        object.insert(key.clone(), Value::String(value.clone()));
    }
    object.retain(|_, v| !v.is_null());
    object
}

fn relative(problems: Problems) -> Problems {
    let mut out = Problems::default();
    for p in problems.into_inner() {
        let path = p.path.strip_prefix('.').map(str::to_owned).unwrap_or(p.path);
        out.push(if path.is_empty() { "input".to_owned() } else { path }, p.message);
    }
    out
}

fn items<'a>(
    object: &'a serde_json::Map<String, Value>,
    key: &str,
    problems: &mut Problems,
) -> Vec<(String, &'a Value)> {
    match object.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            list.iter().enumerate().map(|(i, v)| (format!("{key}[{i}]"), v)).collect()
        }
        Some(_) => {
            problems.push(key, format!("`{key}` must be an array"));
            Vec::new()
        }
    }
}

fn parse_item<T: DeserializeOwned>(path: &str, item: &Value, problems: &mut Problems) -> Option<T> {
    if !item.is_object() {
        problems.push(path, "expected an object");
        return None;
    }
    match serde_path_to_error::deserialize::<_, T>(item) {
        Ok(value) => Some(value),
        Err(e) => {
            // The path of the offending property (`accountEnabled`, `appRoles[2].id`), which
            // serde alone loses.
            let at = e.path().to_string();
            let message = e.into_inner().to_string();
            if at != "." && !at.is_empty() && !message.starts_with("missing field") {
                problems.push(format!("{path}.{at}"), message);
                return None;
            }
            // Name the missing property in the path, as every other problem does.
            let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
            match missing {
                Some(field) => problems.push(format!("{path}.{field}"), format!("`{field}` is required")),
                None => problems.push(path, message),
            }
            None
        }
    }
}

fn parse_refs(path: &str, refs: &Value, problems: &mut Problems) -> Vec<(String, String)> {
    let Some(list) = refs.as_array() else {
        problems.push(path, "expected an array of `{\"id\": ...}` references");
        return Vec::new();
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        match r.get("id").and_then(Value::as_str) {
            Some(id) if !id.trim().is_empty() => out.push((format!("{item_path}.id"), id.to_owned())),
            _ => problems.push(item_path, "expected `{\"id\": \"...\"}`"),
        }
    }
    out
}

fn parse_user(path: &str, item: &Value, problems: &mut Problems) -> Option<User> {
    let object = item.as_object()?;
    // Graph writes `userType` as "Member"/"Guest"; accept any case, as Entra does.
    let mut normalized = object.clone();
    if let Some(Value::String(raw)) = object.get("userType") {
        match crate::directory::UserType::parse(raw) {
            Some(t) => {
                normalized.insert("userType".into(), Value::String(t.as_str().into()));
            }
            None => {
                problems.push(
                    format!("{path}.userType"),
                    format!("`userType` must be `Member` or `Guest`, not `{raw}`"),
                );
                normalized.remove("userType");
            }
        }
    }
    let mut user: User = parse_item(path, &Value::Object(normalized), problems)?;
    let mut extensions = BTreeMap::new();
    for (key, value) in object {
        if !key.starts_with("extension_") {
            continue;
        }
        let field = format!("{path}.{key}");
        if !is_extension_property(key) {
            problems
                .push(field, format!("`{key}` is not of the form `extension_<appId without dashes>_<name>`"));
            continue;
        }
        match value {
            Value::String(s) => {
                extensions.insert(key.clone(), s.clone());
            }
            Value::Number(n) => {
                extensions.insert(key.clone(), n.to_string());
            }
            Value::Bool(b) => {
                extensions.insert(key.clone(), b.to_string());
            }
            Value::Null => {}
            _ => problems.push(field, "extension properties must be strings, numbers or booleans"),
        }
    }
    user.extensions = extensions;
    check_user(path, &user, problems);
    Some(user)
}

/// Checks the values of a user's properties; `path` prefixes each problem.
pub fn check_user(path: &str, user: &User, problems: &mut Problems) {
    if user.id.trim().is_empty() {
        problems.push(format!("{path}.id"), "`id` must not be empty");
    }
    for (field, value) in [("mail", &user.mail), ("userPrincipalName", &user.user_principal_name)] {
        if let Some(v) = value
            && !looks_like_address(v)
        {
            problems.push(format!("{path}.{field}"), format!("`{v}` is not an email-style address"));
        }
    }
    for (i, m) in user.other_mails.iter().enumerate() {
        if !looks_like_address(m) {
            problems.push(format!("{path}.otherMails[{i}]"), format!("`{m}` is not an email address"));
        }
    }
    if let Some(loc) = &user.usage_location
        && !(loc.len() == 2 && loc.chars().all(|c| c.is_ascii_alphabetic()))
    {
        problems.push(format!("{path}.usageLocation"), format!("`{loc}` is not a two-letter country code"));
    }
    // Read as rules read it: a date and time, or a date alone (midnight UTC), as HR exports write it.
    if let Some(date) = &user.employee_hire_date
        && crate::rule::schema::parse_datetime(date).is_none()
    {
        problems.push(
            format!("{path}.employeeHireDate"),
            format!("`{date}` is not an ISO 8601 date, or date and time"),
        );
    }
    for (i, plan) in user.assigned_plans.iter().enumerate() {
        if let Some(at) = &plan.assigned_date_time
            && chrono::DateTime::parse_from_rfc3339(at).is_err()
        {
            problems.push(
                format!("{path}.assignedPlans[{i}].assignedDateTime"),
                format!("`{at}` is not an ISO 8601 date and time"),
            );
        }
    }
}

fn looks_like_address(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !value.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Checks a group's values.
pub fn check_group(path: &str, group: &Group, problems: &mut Problems) {
    if group.display_name.trim().is_empty() {
        problems.push(format!("{path}.displayName"), "`displayName` must not be empty");
    }
    for t in &group.group_types {
        if !t.eq_ignore_ascii_case("Unified") && !t.eq_ignore_ascii_case("DynamicMembership") {
            problems.push(
                format!("{path}.groupTypes"),
                format!("unknown group type `{t}`; expected `Unified` or `DynamicMembership`"),
            );
        }
    }
}

fn check_application(path: &str, app: &Application, problems: &mut Problems) {
    if app.display_name.trim().is_empty() {
        problems.push(format!("{path}.displayName"), "`displayName` must not be empty");
    }
    let mut seen = HashSet::new();
    for (i, role) in app.app_roles.iter().enumerate() {
        if role.id.trim().is_empty() {
            problems.push(format!("{path}.appRoles[{i}].id"), "`id` must not be empty");
        } else if !seen.insert(role.id.as_str()) {
            problems.push(format!("{path}.appRoles[{i}].id"), format!("duplicate app role id `{}`", role.id));
        }
    }
}

fn check_site(path: &str, site: &Site, problems: &mut Problems) {
    if site.display_name.trim().is_empty() {
        problems.push(format!("{path}.displayName"), "`displayName` must not be empty");
    }
    if !(site.web_url.starts_with("https://") || site.web_url.starts_with("http://")) {
        problems.push(format!("{path}.webUrl"), format!("`{}` is not an http(s) URL", site.web_url));
    }
    let mut seen = HashSet::new();
    for (i, role) in site.roles.iter().enumerate() {
        if !seen.insert(role.id.as_str()) {
            problems.push(format!("{path}.roles[{i}].id"), format!("duplicate site role id `{}`", role.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> HashMap<String, ObjectKind> {
        HashMap::new()
    }

    fn paths(err: &DomainError) -> Vec<&str> {
        err.details.iter().map(|d| d.path.as_str()).collect()
    }

    #[test]
    fn a_graph_shaped_file_loads() {
        let text = r##"{
          "users": [
            {"id": "u1", "displayName": "Ada", "userType": "member", "department": "Sales",
             "onPremisesExtensionAttributes": {"extensionAttribute15": "Marketing"},
             "extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber": "123",
             "createdDateTime": "2020-01-01T00:00:00Z", "@odata.type": "#microsoft.graph.user"},
            {"id": "u2", "displayName": "Bob", "manager": {"id": "u1"}}
          ],
          "groups": [{"id": "g1", "displayName": "Sales", "securityEnabled": true,
                      "members": [{"id": "u1"}, {"id": "u2"}, {"id": "u2"}], "owners": [{"id": "u1"}]}],
          "applications": [{"id": "a1", "displayName": "Salesforce", "appRoles": [{"id": "r1", "displayName": "User"}]}],
          "sites": [{"id": "s1", "displayName": "Marketing", "webUrl": "https://contoso.sharepoint.com/sites/m"}],
          "directoryRoles": [{"id": "d1", "displayName": "ERP Project Role", "isBuiltIn": false}]
        }"##;
        let import = parse_directory(text, &none()).unwrap_or_default();
        assert_eq!(import.users.len(), 2);
        assert_eq!(import.users[0].on_premises_extension_attributes.get(15), Some("Marketing"));
        assert_eq!(import.users[0].extensions.len(), 1);
        assert_eq!(import.memberships.len(), 2);
        assert_eq!(import.memberships[0].principal_ids, ["u1", "u2"]);
        assert_eq!(import.counts().memberships, 3);
    }

    #[test]
    fn a_hire_date_may_be_a_date_alone() {
        let text = r#"{"users": [
            {"id": "u1", "employeeHireDate": "2024-01-15"},
            {"id": "u2", "employeeHireDate": "2024-01-15T09:30:00Z"},
            {"id": "u3", "employeeHireDate": "2024-01-15T09:30:00"}
        ]}"#;
        let import = parse_directory(text, &none()).unwrap();
        assert_eq!(import.users.len(), 3);
        let err = parse_directory(r#"{"users": [{"id": "u1", "employeeHireDate": "15/01/2024"}]}"#, &none())
            .err()
            .unwrap_or_else(|| DomainError::conflict("x"));
        assert_eq!(paths(&err), ["users[0].employeeHireDate"]);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = r##"{
          "users": [
            {"id": "u1", "manager": {"id": "nobody"}, "usageLocation": "Germany"},
            {"id": "u1", "accountEnabled": "yes"},
            {"id": "u3", "employeeHireDate": "yesterday", "userType": "Robot"}
          ],
          "groups": [{"id": "g1", "displayName": "G", "members": [{"id": "ghost"}, {"id": "g1"}]}],
          "teams": []
        }"##;
        let err = parse_directory(text, &none()).err().unwrap_or_else(|| DomainError::conflict("x"));
        let found = paths(&err);
        for expected in [
            "teams",
            "users[0].usageLocation",
            "users[1].accountEnabled",
            "users[2].employeeHireDate",
            "users[2].userType",
            "users[0].manager.id",
            "groups[0].members[0].id",
            "groups[0].members[1].id",
        ] {
            assert!(found.contains(&expected), "missing {expected} in {found:?}");
        }
    }

    #[test]
    fn applications_and_sites_are_owned_by_users() {
        let text = r##"{
          "users": [{"id": "u1"}],
          "groups": [{"id": "g1", "displayName": "G"}],
          "applications": [{"id": "a1", "displayName": "App", "owners": [{"id": "u1"}, {"id": "g1"}]}],
          "sites": [{"id": "s1", "displayName": "Site", "webUrl": "https://contoso.sharepoint.com/sites/s",
                     "owners": [{"id": "ghost"}]}]
        }"##;
        let err = parse_directory(text, &none()).err().unwrap_or_else(|| DomainError::conflict("x"));
        assert_eq!(paths(&err), ["applications[0].owners[1].id", "sites[0].owners[0].id"]);
        let ok = r##"{"users": [{"id": "u1"}],
          "applications": [{"id": "a1", "displayName": "App", "owners": [{"id": "u1"}]}]}"##;
        let import = parse_directory(ok, &none()).unwrap_or_else(|e| panic!("{e}"));
        assert!(import.applications[0].is_owned_by("u1") && !import.applications[0].is_owned_by("u2"));
    }

    #[test]
    fn duplicate_ids_name_the_first_use() {
        let text = r##"{"users": [{"id": "x"}], "groups": [{"id": "x", "displayName": "G"}]}"##;
        let err = parse_directory(text, &none()).err().unwrap_or_else(|| DomainError::conflict("x"));
        assert_eq!(paths(&err), ["groups[0].id"]);
        assert!(err.details[0].message.contains("users[0]"));
    }

    #[test]
    fn references_resolve_against_existing_objects() {
        let known: HashMap<String, ObjectKind> = [("boss".to_owned(), ObjectKind::User)].into();
        let text = r##"{"users": [{"id": "u", "manager": {"id": "boss"}}]}"##;
        assert!(parse_directory(text, &known).is_ok());
    }
}
