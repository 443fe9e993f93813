//! Directory operations: importing a Graph export, and editing users, groups and memberships.

use em_engine::directory::{Group, GroupRelation, User};
use em_engine::event::EventKind;
use em_engine::import::{self, ImportCounts};
use em_engine::{Actor, DomainError};
use serde_json::{Map, Value};

use super::{ServiceResult, Services, found};

impl Services {
    /// Imports a directory file (Graph's JSON shape) in one transaction, or changes nothing.
    #[tracing::instrument(skip(self, text), fields(actor = actor.label(), bytes = text.len()))]
    pub async fn import_directory(&self, actor: &Actor, text: &str) -> ServiceResult<ImportCounts> {
        self.require_admin(actor).await?;
        let known = self.store.directory_kinds().await?;
        let parsed = import::parse_directory(text, &known)?;
        let counts = parsed.counts();
        let event = self
            .event(actor, EventKind::DirectoryImported, "Directory", "directory")
            .with_data(serde_json::to_value(counts).unwrap_or_default());
        self.store.logged(vec![event]).import_directory(&parsed).await?;
        tracing::info!(?counts, "directory imported");
        self.auto_reset().await;
        self.auto_settle(self.reconcile_auto_assignments(&Actor::System, None).await);
        Ok(counts)
    }

    /// Creates a user from Graph properties; a missing id gets a new GUID.
    pub async fn create_user(
        &self,
        actor: &Actor,
        mut properties: Map<String, Value>,
    ) -> ServiceResult<User> {
        self.require_admin(actor).await?;
        if !properties.contains_key("id") {
            properties.insert("id".into(), Value::String(self.new_id()));
        }
        let display =
            properties.get("displayName").and_then(Value::as_str).map(str::trim).unwrap_or_default();
        if display.is_empty() {
            return Err(DomainError::invalid("displayName", "`displayName` is required").into());
        }
        let user = import::parse_user_object(&Value::Object(properties))?;
        self.check_manager(&user).await?;
        let event = self.event(actor, EventKind::UserCreated, "User", &user.id).with_data(user_json(&user));
        self.store.logged(vec![event]).create_user(&user).await?;
        self.auto_settle(self.auto_user_changed(&user.id).await);
        Ok(user)
    }

    /// Updates a user: given properties replace the stored ones, `null` clears one.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: &str,
        changes: Map<String, Value>,
    ) -> ServiceResult<User> {
        self.require_admin(actor).await?;
        let current = found(self.store.user(id).await?, "user", "id", id)?;
        let mut merged = import::user_to_graph_json(&current);
        for (key, value) in changes {
            if key == "id" {
                continue;
            }
            if value.is_null() {
                merged.remove(&key);
            } else {
                merged.insert(key, value);
            }
        }
        let user = import::parse_user_object(&Value::Object(merged))?;
        if user.display_name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(DomainError::invalid("displayName", "`displayName` cannot be cleared").into());
        }
        self.check_manager(&user).await?;
        let event = self.event(actor, EventKind::UserUpdated, "User", &user.id).with_data(user_json(&user));
        self.store.logged(vec![event]).replace_user(&user).await?;
        self.auto_settle(self.auto_user_changed(&user.id).await);
        Ok(user)
    }

    async fn check_manager(&self, user: &User) -> ServiceResult<()> {
        let Some(manager) = user.manager_id() else { return Ok(()) };
        if manager == user.id {
            return Err(DomainError::invalid("manager.id", "a user cannot be their own manager").into());
        }
        // Walk up the chain: a manager loop would make "manager of manager" approvals meaningless.
        let mut seen = vec![user.id.to_string()];
        let mut next = Some(manager.to_owned());
        while let Some(id) = next {
            if seen.contains(&id) {
                return Err(DomainError::invalid(
                    "manager.id",
                    "the manager chain would loop back to this user",
                )
                .into());
            }
            let Some(m) = self.store.user(&id).await? else {
                if id == manager {
                    return Err(DomainError::not_found("manager", manager).at("manager.id").into());
                }
                break;
            };
            seen.push(id);
            next = m.manager_id().map(str::to_owned);
        }
        Ok(())
    }

    pub async fn delete_user(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        self.require_admin(actor).await?;
        let event = self.event(actor, EventKind::UserDeleted, "User", id);
        self.store.logged(vec![event]).delete_user(id).await?;
        self.auto_settle(self.auto_user_changed(id).await);
        Ok(())
    }

    pub async fn create_group(
        &self,
        actor: &Actor,
        mut properties: Map<String, Value>,
    ) -> ServiceResult<Group> {
        self.require_admin(actor).await?;
        if !properties.contains_key("id") {
            properties.insert("id".into(), Value::String(self.new_id()));
        }
        let group = import::parse_group_object(&Value::Object(properties))?;
        let event =
            self.event(actor, EventKind::GroupCreated, "Group", &group.id).with_data(group_json(&group));
        self.store.logged(vec![event]).create_group(&group).await?;
        Ok(group)
    }

    pub async fn update_group(
        &self,
        actor: &Actor,
        id: &str,
        changes: Map<String, Value>,
    ) -> ServiceResult<Group> {
        self.require_admin(actor).await?;
        let current = found(self.store.group(id).await?, "group", "id", id)?;
        let mut merged = match serde_json::to_value(&current) {
            Ok(Value::Object(o)) => o,
            _ => Map::new(),
        };
        for (key, value) in changes {
            if key != "id" {
                merged.insert(key, value);
            }
        }
        merged.retain(|_, v| !v.is_null());
        let group = import::parse_group_object(&Value::Object(merged))?;
        let event =
            self.event(actor, EventKind::GroupUpdated, "Group", &group.id).with_data(group_json(&group));
        self.store.logged(vec![event]).replace_group(&group).await?;
        Ok(group)
    }

    pub async fn delete_group(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        self.require_admin(actor).await?;
        let event = self.event(actor, EventKind::GroupDeleted, "Group", id);
        self.store.logged(vec![event]).delete_group(id).await?;
        Ok(())
    }

    pub async fn add_group_member(
        &self,
        actor: &Actor,
        group_id: &str,
        principal_id: &str,
        relation: GroupRelation,
    ) -> ServiceResult<()> {
        self.change_membership(actor, group_id, principal_id, relation, true).await
    }

    pub async fn remove_group_member(
        &self,
        actor: &Actor,
        group_id: &str,
        principal_id: &str,
        relation: GroupRelation,
    ) -> ServiceResult<()> {
        self.change_membership(actor, group_id, principal_id, relation, false).await
    }

    async fn change_membership(
        &self,
        actor: &Actor,
        group_id: &str,
        principal_id: &str,
        relation: GroupRelation,
        add: bool,
    ) -> ServiceResult<()> {
        self.require_admin(actor).await?;
        let kind = match (relation, add) {
            (GroupRelation::Member, true) => EventKind::GroupMemberAdded,
            (GroupRelation::Member, false) => EventKind::GroupMemberRemoved,
            (GroupRelation::Owner, true) => EventKind::GroupOwnerAdded,
            (GroupRelation::Owner, false) => EventKind::GroupOwnerRemoved,
        };
        let mut event = self.event(actor, kind, "Group", group_id);
        event.target_id = Some(principal_id.to_owned());
        let store = self.store.logged(vec![event]);
        if add {
            store.add_group_member(group_id, principal_id, relation).await?;
        } else {
            store.remove_group_member(group_id, principal_id, relation).await?;
        }
        if relation == GroupRelation::Member {
            self.auto_settle(self.auto_user_changed(principal_id).await);
        }
        Ok(())
    }
}

impl Services {
    /// The directory change committed; what auto-assignment did after it is logged, and a
    /// failure there does not undo the change (`reconcileAutoAssignments` repairs the drift).
    fn auto_settle(&self, outcome: ServiceResult<super::auto::AutoOutcome>) {
        match outcome {
            Ok(o) if o != super::auto::AutoOutcome::default() => tracing::info!(?o, "auto-assignment acted"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "auto-assignment after a directory change failed; reconcile to repair")
            }
        }
    }
}

fn user_json(user: &User) -> Value {
    Value::Object(import::user_to_graph_json(user))
}

fn group_json(group: &Group) -> Value {
    serde_json::to_value(group).unwrap_or(Value::Null)
}
