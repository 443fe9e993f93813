//! The directory being governed: users, groups, applications, SharePoint sites and directory roles,
//! with the Microsoft Graph properties that rules and policies read.
//!
//! Field names and JSON shapes are Graph's (`userPrincipalName`, `onPremisesExtensionAttributes`,
//! `"manager": {"id": ...}`), so a Graph export deserializes as it is. Properties Graph has that we
//! do not use are ignored; custom `extension_<appId>_<name>` properties are kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::UserId;

/// `Member` or `Guest`, as Graph's `userType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum UserType {
    #[default]
    Member,
    Guest,
}

impl UserType {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "member" => Some(Self::Member),
            "guest" => Some(Self::Guest),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Guest => "Guest",
        }
    }
}

/// A reference to another directory object, as Graph writes navigation properties: `{"id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub id: String,
}

/// One service plan a user is licensed for (`assignedPlans` in Graph).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AssignedPlan {
    #[serde(default)]
    pub assigned_date_time: Option<String>,
    #[serde(default)]
    pub capability_status: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub service_plan_id: Option<String>,
}

/// `extensionAttribute1` to `extensionAttribute15`, synced from on-premises or set in the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OnPremisesExtensionAttributes {
    pub extension_attribute1: Option<String>,
    pub extension_attribute2: Option<String>,
    pub extension_attribute3: Option<String>,
    pub extension_attribute4: Option<String>,
    pub extension_attribute5: Option<String>,
    pub extension_attribute6: Option<String>,
    pub extension_attribute7: Option<String>,
    pub extension_attribute8: Option<String>,
    pub extension_attribute9: Option<String>,
    pub extension_attribute10: Option<String>,
    pub extension_attribute11: Option<String>,
    pub extension_attribute12: Option<String>,
    pub extension_attribute13: Option<String>,
    pub extension_attribute14: Option<String>,
    pub extension_attribute15: Option<String>,
}

impl OnPremisesExtensionAttributes {
    /// `extensionAttribute{n}` for n in 1..=15.
    #[must_use]
    pub fn get(&self, n: u8) -> Option<&str> {
        let slot = match n {
            1 => &self.extension_attribute1,
            2 => &self.extension_attribute2,
            3 => &self.extension_attribute3,
            4 => &self.extension_attribute4,
            5 => &self.extension_attribute5,
            6 => &self.extension_attribute6,
            7 => &self.extension_attribute7,
            8 => &self.extension_attribute8,
            9 => &self.extension_attribute9,
            10 => &self.extension_attribute10,
            11 => &self.extension_attribute11,
            12 => &self.extension_attribute12,
            13 => &self.extension_attribute13,
            14 => &self.extension_attribute14,
            15 => &self.extension_attribute15,
            _ => return None,
        };
        slot.as_deref()
    }
}

/// A directory user with every property that dynamic membership rules and policies use.
///
/// Graph's names for the rule properties that differ: `mobilePhone` (rule `mobile`),
/// `businessPhones[0]` (rule `telephoneNumber`), `faxNumber` (rule `facsimileTelephoneNumber`),
/// `onPremisesSyncEnabled` (rule `dirSyncEnabled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    pub mail_nickname: Option<String>,
    #[serde(default)]
    pub other_mails: Vec<String>,
    #[serde(default)]
    pub proxy_addresses: Vec<String>,
    pub user_type: Option<UserType>,
    pub account_enabled: Option<bool>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub company_name: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub street_address: Option<String>,
    pub postal_code: Option<String>,
    pub usage_location: Option<String>,
    pub employee_id: Option<String>,
    pub employee_hire_date: Option<String>,
    pub employee_type: Option<String>,
    pub physical_delivery_office_name: Option<String>,
    pub preferred_language: Option<String>,
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    pub fax_number: Option<String>,
    pub sip_proxy_address: Option<String>,
    pub password_policies: Option<String>,
    pub on_premises_sync_enabled: Option<bool>,
    pub on_premises_distinguished_name: Option<String>,
    pub on_premises_security_identifier: Option<String>,
    pub manager: Option<ObjectRef>,
    #[serde(default)]
    pub assigned_plans: Vec<AssignedPlan>,
    #[serde(default)]
    pub on_premises_extension_attributes: OnPremisesExtensionAttributes,
    /// Custom `extension_<appIdWithoutDashes>_<name>` properties, string-valued.
    #[serde(default)]
    pub extensions: BTreeMap<String, String>,
    /// How the account was made: `Invitation` for a guest invited into the directory.
    pub creation_type: Option<String>,
    /// A guest's invitation: `PendingAcceptance` until their first sign-in, then `Accepted`.
    pub external_user_state: Option<String>,
    pub external_user_state_change_date_time: Option<chrono::DateTime<chrono::Utc>>,
    /// The users and groups responsible for a guest (Graph's `sponsors`).
    #[serde(default)]
    pub sponsors: Vec<ObjectRef>,
}

impl User {
    /// The effective `userType`: Graph treats a missing value as `Member`.
    #[must_use]
    pub fn user_type(&self) -> UserType {
        self.user_type.unwrap_or_default()
    }

    /// Graph's `accountEnabled` defaults to true.
    #[must_use]
    pub fn account_enabled(&self) -> bool {
        self.account_enabled.unwrap_or(true)
    }

    #[must_use]
    pub fn manager_id(&self) -> Option<&str> {
        self.manager.as_ref().map(|m| m.id.as_str())
    }
}

/// Whether a custom property name has the `extension_<appId>_<name>` shape Entra uses.
#[must_use]
pub fn is_extension_property(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("extension_") else { return false };
    let Some((app, attr)) = rest.split_once('_') else { return false };
    app.len() == 32 && app.chars().all(|c| c.is_ascii_hexdigit()) && !attr.is_empty()
}

/// A security or Microsoft 365 group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub mail: Option<String>,
    pub mail_nickname: Option<String>,
    #[serde(default)]
    pub mail_enabled: bool,
    #[serde(default)]
    pub security_enabled: bool,
    /// `Unified` marks a Microsoft 365 group; `DynamicMembership` a dynamic one.
    #[serde(default)]
    pub group_types: Vec<String>,
    pub membership_rule: Option<String>,
    pub membership_rule_processing_state: Option<String>,
    pub on_premises_sync_enabled: Option<bool>,
    /// `["Team"]` when the group backs a Microsoft Teams team.
    #[serde(default)]
    pub resource_provisioning_options: Vec<String>,
    pub visibility: Option<String>,
}

impl Group {
    #[must_use]
    pub fn is_unified(&self) -> bool {
        self.group_types.iter().any(|t| t.eq_ignore_ascii_case("Unified"))
    }

    #[must_use]
    pub fn is_dynamic(&self) -> bool {
        self.group_types.iter().any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
            || self.membership_rule.as_deref().is_some_and(|r| !r.trim().is_empty())
    }

    #[must_use]
    pub fn is_team(&self) -> bool {
        self.resource_provisioning_options.iter().any(|t| t.eq_ignore_ascii_case("Team"))
    }

    #[must_use]
    pub fn is_on_premises_synced(&self) -> bool {
        self.on_premises_sync_enabled == Some(true)
    }

    /// `Microsoft 365`, `Security` or `Distribution`, as the Entra portal labels groups.
    #[must_use]
    pub fn kind_label(&self) -> &'static str {
        if self.is_unified() {
            "Microsoft 365"
        } else if self.security_enabled {
            "Security"
        } else {
            "Distribution"
        }
    }
}

/// Whether a principal belongs to a group as a member or as an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GroupRelation {
    Member,
    Owner,
}

impl GroupRelation {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Owner => "owner",
        }
    }
}

/// A role an application defines (`appRoles` in Graph).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub value: Option<String>,
    #[serde(default = "yes")]
    pub is_enabled: bool,
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
}

fn yes() -> bool {
    true
}

/// An enterprise application (its service principal) with its app roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub app_id: Option<String>,
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
    /// Its owners (users): who may manage its app role assignments, and so add it to a catalog
    /// they own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<ObjectRef>,
}

impl Application {
    /// Whether `user_id` owns the application.
    #[must_use]
    pub fn is_owned_by(&self, user_id: &str) -> bool {
        self.owners.iter().any(|o| o.id == user_id)
    }
}

/// A role on a SharePoint site (a site group: Owners, Members, Visitors, ...). The id is the
/// role's sequence number, as Graph's `originId` for SharePoint roles (`"4"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteRole {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
}

/// A SharePoint Online site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub web_url: String,
    /// Site roles; a site without any listed gets SharePoint's default site groups.
    #[serde(default)]
    pub roles: Vec<SiteRole>,
    /// Its site administrators (users), in Graph's `owners` form: who may manage the site, and
    /// so add it to a catalog they own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<ObjectRef>,
}

impl Site {
    /// Whether `user_id` administers the site.
    #[must_use]
    pub fn is_owned_by(&self, user_id: &str) -> bool {
        self.owners.iter().any(|o| o.id == user_id)
    }

    /// The site's roles, or SharePoint's default site groups when none were given.
    #[must_use]
    pub fn effective_roles(&self) -> Vec<SiteRole> {
        if !self.roles.is_empty() {
            return self.roles.clone();
        }
        [("3", "Owners", "Full control"), ("4", "Members", "Edit"), ("5", "Visitors", "Read")]
            .into_iter()
            .map(|(id, name, level)| SiteRole {
                id: id.to_owned(),
                display_name: format!("{} {name}", self.display_name),
                description: Some(level.to_owned()),
            })
            .collect()
    }
}

/// A Microsoft Entra directory role (built-in or custom).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryRole {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub role_template_id: Option<String>,
    #[serde(default = "yes")]
    pub is_built_in: bool,
    /// Privileged roles can only be granted as eligible, never active, through access packages.
    #[serde(default)]
    pub is_privileged: bool,
}

/// Well-known role template ids of Microsoft Entra built-in roles used by the engine.
pub mod role_templates {
    pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
    pub const IDENTITY_GOVERNANCE_ADMINISTRATOR: &str = "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e";
}

/// Every kind of directory object the engine knows, for references and global ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    User,
    Group,
    Application,
    Site,
    DirectoryRole,
}

impl ObjectKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Application => "application",
            Self::Site => "site",
            Self::DirectoryRole => "directory role",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_property_names_follow_entra() {
        assert!(is_extension_property("extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber"));
        assert!(!is_extension_property("extension_c272a57b_OfficeNumber"));
        assert!(!is_extension_property("extension_c272a57b722d4eb29bfe327874ae79cb_"));
        assert!(!is_extension_property("department"));
    }

    #[test]
    fn groups_classify_as_the_portal_does() {
        let team = Group {
            group_types: vec!["Unified".into()],
            resource_provisioning_options: vec!["Team".into()],
            ..Group::default()
        };
        assert!(team.is_unified() && team.is_team() && !team.is_dynamic());
        let dynamic = Group { membership_rule: Some("user.department -eq \"x\"".into()), ..Group::default() };
        assert!(dynamic.is_dynamic());
    }

    #[test]
    fn sites_without_roles_get_default_site_groups() {
        let site = Site { id: "s".into(), display_name: "Hub".into(), ..Site::default() };
        let ids: Vec<_> = site.effective_roles().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["3", "4", "5"]);
    }
}
