//! The directory in GraphQL: users, groups and their members, applications, SharePoint sites and
//! directory roles, with import and editing mutations.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject, Union};
use em_engine::directory::{
    AppRole, Application, AssignedPlan, DirectoryRole, Group, GroupRelation, ObjectRef, Site, SiteRole, User,
    UserType,
};
use serde_json::{Map, Value, json};

use super::error::OrGraphql;
use super::node::{global_id, local_id};
use super::page::{self, Conn};
use super::{actor, services};
use crate::service::model::{GroupFilter, UserFilter};

/// `userType`: a member of the organisation or a guest.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "UserType", rename_items = "PascalCase")]
pub enum UserTypeValue {
    Member,
    Guest,
}

impl From<UserType> for UserTypeValue {
    fn from(t: UserType) -> Self {
        match t {
            UserType::Member => Self::Member,
            UserType::Guest => Self::Guest,
        }
    }
}

/// A directory user.
pub struct UserNode(pub User);

#[Object(name = "User")]
impl UserNode {
    pub async fn id(&self) -> ID {
        global_id("User", &self.0.id)
    }
    /// The user's object id in the directory.
    async fn object_id(&self) -> &str {
        &self.0.id
    }
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }
    async fn given_name(&self) -> Option<&str> {
        self.0.given_name.as_deref()
    }
    async fn surname(&self) -> Option<&str> {
        self.0.surname.as_deref()
    }
    async fn user_principal_name(&self) -> Option<&str> {
        self.0.user_principal_name.as_deref()
    }
    async fn mail(&self) -> Option<&str> {
        self.0.mail.as_deref()
    }
    async fn mail_nickname(&self) -> Option<&str> {
        self.0.mail_nickname.as_deref()
    }
    async fn other_mails(&self) -> &[String] {
        &self.0.other_mails
    }
    async fn proxy_addresses(&self) -> &[String] {
        &self.0.proxy_addresses
    }
    async fn user_type(&self) -> UserTypeValue {
        self.0.user_type().into()
    }
    async fn account_enabled(&self) -> bool {
        self.0.account_enabled()
    }
    async fn department(&self) -> Option<&str> {
        self.0.department.as_deref()
    }
    async fn job_title(&self) -> Option<&str> {
        self.0.job_title.as_deref()
    }
    async fn company_name(&self) -> Option<&str> {
        self.0.company_name.as_deref()
    }
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }
    async fn state(&self) -> Option<&str> {
        self.0.state.as_deref()
    }
    async fn street_address(&self) -> Option<&str> {
        self.0.street_address.as_deref()
    }
    async fn postal_code(&self) -> Option<&str> {
        self.0.postal_code.as_deref()
    }
    async fn usage_location(&self) -> Option<&str> {
        self.0.usage_location.as_deref()
    }
    async fn employee_id(&self) -> Option<&str> {
        self.0.employee_id.as_deref()
    }
    /// ISO 8601 date and time.
    async fn employee_hire_date(&self) -> Option<&str> {
        self.0.employee_hire_date.as_deref()
    }
    async fn employee_type(&self) -> Option<&str> {
        self.0.employee_type.as_deref()
    }
    async fn physical_delivery_office_name(&self) -> Option<&str> {
        self.0.physical_delivery_office_name.as_deref()
    }
    async fn preferred_language(&self) -> Option<&str> {
        self.0.preferred_language.as_deref()
    }
    async fn mobile_phone(&self) -> Option<&str> {
        self.0.mobile_phone.as_deref()
    }
    async fn business_phones(&self) -> &[String] {
        &self.0.business_phones
    }
    async fn fax_number(&self) -> Option<&str> {
        self.0.fax_number.as_deref()
    }
    async fn sip_proxy_address(&self) -> Option<&str> {
        self.0.sip_proxy_address.as_deref()
    }
    async fn password_policies(&self) -> Option<&str> {
        self.0.password_policies.as_deref()
    }
    async fn on_premises_sync_enabled(&self) -> Option<bool> {
        self.0.on_premises_sync_enabled
    }
    async fn on_premises_distinguished_name(&self) -> Option<&str> {
        self.0.on_premises_distinguished_name.as_deref()
    }
    async fn on_premises_security_identifier(&self) -> Option<&str> {
        self.0.on_premises_security_identifier.as_deref()
    }
    async fn assigned_plans(&self) -> Vec<AssignedPlanNode> {
        self.0.assigned_plans.iter().cloned().map(AssignedPlanNode).collect()
    }
    async fn on_premises_extension_attributes(&self) -> OnPremisesExtensionAttributesNode {
        OnPremisesExtensionAttributesNode(
            (1..=15).map(|n| self.0.on_premises_extension_attributes.get(n).map(str::to_owned)).collect(),
        )
    }
    /// Custom `extension_<appId>_<name>` properties.
    async fn extension_properties(&self) -> Vec<ExtensionProperty> {
        self.0
            .extensions
            .iter()
            .map(|(name, value)| ExtensionProperty { name: name.clone(), value: value.clone() })
            .collect()
    }
    async fn manager(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserNode>> {
        let Some(id) = self.0.manager_id() else { return Ok(None) };
        user_of(ctx, id).await
    }
    /// `Invitation` for a guest invited into the directory (by entitlement management, say).
    async fn creation_type(&self) -> Option<&str> {
        self.0.creation_type.as_deref()
    }
    /// A guest's invitation: `PendingAcceptance` until their first sign-in, then `Accepted`.
    async fn external_user_state(&self) -> Option<&str> {
        self.0.external_user_state.as_deref()
    }
    async fn external_user_state_change_date_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.external_user_state_change_date_time
    }
    /// The users and groups responsible for a guest, as far as the caller sees them.
    async fn sponsors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DirectoryObject>> {
        let mut out = Vec::new();
        for sponsor in &self.0.sponsors {
            out.extend(directory_object(ctx, &sponsor.id).await?);
        }
        Ok(out)
    }
    /// Users whose manager is this user.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn direct_reports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<UserNode>> {
        let filter = UserFilter { manager_id: Some(self.0.id.to_string()), ..UserFilter::default() };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let users = services(ctx).users(&actor(ctx), &filter, &request).await.gql()?;
        Ok(page::connection(users, has_previous, UserNode))
    }
    /// Groups the user is a direct member of.
    async fn member_of(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GroupNode>> {
        let groups = services(ctx).user_groups(&actor(ctx), &self.0.id).await.gql()?;
        Ok(groups.into_iter().map(GroupNode).collect())
    }
}

/// A user named by an object the caller sees (a manager, a request's target), read with the
/// others of its page in one batch.
pub(crate) async fn user_of(ctx: &Context<'_>, id: &str) -> async_graphql::Result<Option<UserNode>> {
    if let Some(user) = services(ctx).remembered_user(&actor(ctx), id) {
        return Ok(user.map(UserNode));
    }
    Ok(super::loaders::load(ctx, super::loaders::UserKey(id.to_owned())).await?.map(UserNode))
}

/// A user or a group the caller sees, by id (a role's principal, an organization's sponsor).
pub(crate) async fn directory_object(
    ctx: &Context<'_>,
    id: &str,
) -> async_graphql::Result<Option<DirectoryObject>> {
    let (svc, who) = (services(ctx), actor(ctx));
    if let Some(user) = svc.user(&who, id).await.gql()? {
        return Ok(Some(DirectoryObject::User(UserNode(user))));
    }
    Ok(svc.group(&who, id).await.gql()?.map(|g| DirectoryObject::Group(GroupNode(g))))
}

/// Users by display name, then id (as lists are ordered).
fn sorted_users(users: std::collections::HashMap<String, User>) -> Vec<UserNode> {
    let mut users: Vec<User> = users.into_values().collect();
    users.sort_by_cached_key(|u| (u.display_name.as_deref().unwrap_or("").to_lowercase(), u.id.clone()));
    users.into_iter().map(UserNode).collect()
}

/// A service plan the user is licensed for.
pub struct AssignedPlanNode(AssignedPlan);

#[Object(name = "AssignedPlan")]
impl AssignedPlanNode {
    async fn assigned_date_time(&self) -> Option<&str> {
        self.0.assigned_date_time.as_deref()
    }
    async fn capability_status(&self) -> Option<&str> {
        self.0.capability_status.as_deref()
    }
    async fn service(&self) -> Option<&str> {
        self.0.service.as_deref()
    }
    async fn service_plan_id(&self) -> Option<&str> {
        self.0.service_plan_id.as_deref()
    }
}

/// `extensionAttribute1` to `extensionAttribute15`.
pub struct OnPremisesExtensionAttributesNode(Vec<Option<String>>);

macro_rules! extension_attribute_fields {
    ($($name:ident => $index:expr),* $(,)?) => {
        #[Object(name = "OnPremisesExtensionAttributes")]
        impl OnPremisesExtensionAttributesNode {
            $( async fn $name(&self) -> Option<&str> { self.0.get($index).and_then(|v| v.as_deref()) } )*
        }
    };
}

extension_attribute_fields!(
    extension_attribute1 => 0, extension_attribute2 => 1, extension_attribute3 => 2, extension_attribute4 => 3,
    extension_attribute5 => 4, extension_attribute6 => 5, extension_attribute7 => 6, extension_attribute8 => 7,
    extension_attribute9 => 8, extension_attribute10 => 9, extension_attribute11 => 10, extension_attribute12 => 11,
    extension_attribute13 => 12, extension_attribute14 => 13, extension_attribute15 => 14,
);

/// A custom `extension_<appId>_<name>` property and its value.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "ExtensionPropertyInput")]
pub struct ExtensionProperty {
    pub name: String,
    pub value: String,
}

/// A security or Microsoft 365 group.
pub struct GroupNode(pub Group);

/// A member of a group: a user or a nested group.
#[expect(
    clippy::large_enum_variant,
    reason = "short-lived response values; boxing users would only add indirection"
)]
#[derive(Union)]
pub enum DirectoryObject {
    User(UserNode),
    Group(GroupNode),
}

#[Object(name = "Group")]
impl GroupNode {
    pub async fn id(&self) -> ID {
        global_id("Group", &self.0.id)
    }
    async fn object_id(&self) -> &str {
        &self.0.id
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn mail(&self) -> Option<&str> {
        self.0.mail.as_deref()
    }
    async fn mail_nickname(&self) -> Option<&str> {
        self.0.mail_nickname.as_deref()
    }
    async fn mail_enabled(&self) -> bool {
        self.0.mail_enabled
    }
    async fn security_enabled(&self) -> bool {
        self.0.security_enabled
    }
    /// `Unified` (Microsoft 365) and `DynamicMembership`.
    async fn group_types(&self) -> &[String] {
        &self.0.group_types
    }
    async fn membership_rule(&self) -> Option<&str> {
        self.0.membership_rule.as_deref()
    }
    async fn on_premises_sync_enabled(&self) -> Option<bool> {
        self.0.on_premises_sync_enabled
    }
    /// `["Team"]` for a group that backs a Microsoft Teams team.
    async fn resource_provisioning_options(&self) -> &[String] {
        &self.0.resource_provisioning_options
    }
    async fn visibility(&self) -> Option<&str> {
        self.0.visibility.as_deref()
    }
    /// Whether the group backs a Teams team.
    async fn is_team(&self) -> bool {
        self.0.is_team()
    }
    /// Whether a membership rule decides the members.
    async fn is_dynamic(&self) -> bool {
        self.0.is_dynamic()
    }
    /// Direct members: users and nested groups.
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DirectoryObject>> {
        let (svc, who) = (services(ctx), actor(ctx));
        let ids = svc.group_principals(&who, &self.0.id, GroupRelation::Member).await.gql()?;
        let mut out: Vec<DirectoryObject> = sorted_users(svc.users_by_ids(&who, &ids).await.gql()?)
            .into_iter()
            .map(DirectoryObject::User)
            .collect();
        let mut groups: Vec<Group> = svc.groups_by_ids(&who, &ids).await.gql()?.into_values().collect();
        groups.sort_by_cached_key(|g| (g.display_name.to_lowercase(), g.id.clone()));
        out.extend(groups.into_iter().map(|g| DirectoryObject::Group(GroupNode(g))));
        Ok(out)
    }
    async fn member_count(&self, ctx: &Context<'_>) -> async_graphql::Result<usize> {
        Ok(services(ctx).group_principals(&actor(ctx), &self.0.id, GroupRelation::Member).await.gql()?.len())
    }
    async fn owners(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<UserNode>> {
        let (svc, who) = (services(ctx), actor(ctx));
        let ids = svc.group_principals(&who, &self.0.id, GroupRelation::Owner).await.gql()?;
        Ok(sorted_users(svc.users_by_ids(&who, &ids).await.gql()?))
    }
}

/// An enterprise application.
pub struct ApplicationNode(pub Application);

#[Object(name = "Application")]
impl ApplicationNode {
    pub async fn id(&self) -> ID {
        global_id("Application", &self.0.id)
    }
    async fn object_id(&self) -> &str {
        &self.0.id
    }
    async fn app_id(&self) -> Option<&str> {
        self.0.app_id.as_deref()
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn app_roles(&self) -> Vec<AppRoleNode> {
        self.0.app_roles.iter().cloned().map(AppRoleNode).collect()
    }
    /// Its owners the caller may see: they may add it to a catalog they own.
    async fn owners(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<UserNode>> {
        owners(ctx, &self.0.owners).await
    }
}

/// The users of `refs` the caller may see, in order.
async fn owners(ctx: &Context<'_>, refs: &[ObjectRef]) -> async_graphql::Result<Vec<UserNode>> {
    let mut out = Vec::with_capacity(refs.len());
    for owner in refs {
        out.extend(user_of(ctx, &owner.id).await?);
    }
    Ok(out)
}

/// A role an application defines.
pub struct AppRoleNode(AppRole);

#[Object(name = "AppRole")]
impl AppRoleNode {
    async fn id(&self) -> &str {
        &self.0.id
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn value(&self) -> Option<&str> {
        self.0.value.as_deref()
    }
    async fn is_enabled(&self) -> bool {
        self.0.is_enabled
    }
    async fn allowed_member_types(&self) -> &[String] {
        &self.0.allowed_member_types
    }
}

/// A SharePoint Online site.
pub struct SiteNode(pub Site);

#[Object(name = "Site")]
impl SiteNode {
    pub async fn id(&self) -> ID {
        global_id("Site", &self.0.id)
    }
    async fn object_id(&self) -> &str {
        &self.0.id
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn web_url(&self) -> &str {
        &self.0.web_url
    }
    /// The site's roles (SharePoint's default site groups when none were given).
    async fn roles(&self) -> Vec<SiteRoleNode> {
        self.0.effective_roles().into_iter().map(SiteRoleNode).collect()
    }
    /// Its site administrators the caller may see: they may add it to a catalog they own.
    async fn owners(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<UserNode>> {
        owners(ctx, &self.0.owners).await
    }
}

/// A role on a SharePoint site.
pub struct SiteRoleNode(SiteRole);

#[Object(name = "SiteRole")]
impl SiteRoleNode {
    async fn id(&self) -> &str {
        &self.0.id
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
}

/// A Microsoft Entra directory role.
pub struct DirectoryRoleNode(pub DirectoryRole);

#[Object(name = "DirectoryRole")]
impl DirectoryRoleNode {
    pub async fn id(&self) -> ID {
        global_id("DirectoryRole", &self.0.id)
    }
    async fn object_id(&self) -> &str {
        &self.0.id
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn role_template_id(&self) -> Option<&str> {
        self.0.role_template_id.as_deref()
    }
    async fn is_built_in(&self) -> bool {
        self.0.is_built_in
    }
    /// Privileged roles are granted only as eligible.
    async fn is_privileged(&self) -> bool {
        self.0.is_privileged
    }
    /// Users who hold the role.
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<UserNode>> {
        let (svc, who) = (services(ctx), actor(ctx));
        let ids = svc.group_principals(&who, &self.0.id, GroupRelation::Member).await.gql()?;
        Ok(sorted_users(svc.users_by_ids(&who, &ids).await.gql()?))
    }
}

/// Filters for `users`.
#[derive(InputObject, Default)]
#[graphql(name = "UserFilter")]
pub struct UserFilterInput {
    /// Case-insensitive prefix of displayName, userPrincipalName or mail.
    search: Option<String>,
    department: Option<String>,
    country: Option<String>,
    user_type: Option<UserTypeValue>,
    account_enabled: Option<bool>,
    /// Only the direct reports of this user.
    manager_id: Option<ID>,
}

/// Filters for `groups`.
#[derive(InputObject, Default)]
#[graphql(name = "GroupFilter")]
pub struct GroupFilterInput {
    search: Option<String>,
    security_enabled: Option<bool>,
    is_team: Option<bool>,
}

#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// Users, ordered by display name.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<UserNode>> {
        let f = filter.unwrap_or_default();
        let manager_id = f.manager_id.map(|m| local_id(&m, "User", "filter.managerId")).transpose().gql()?;
        let filter = UserFilter {
            search: f.search,
            department: f.department,
            country: f.country,
            user_type: f.user_type.map(|t| match t {
                UserTypeValue::Member => "Member".to_owned(),
                UserTypeValue::Guest => "Guest".to_owned(),
            }),
            account_enabled: f.account_enabled,
            manager_id,
        };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let users = services(ctx).users(&actor(ctx), &filter, &request).await.gql()?;
        Ok(page::connection(users, has_previous, UserNode))
    }

    async fn user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<UserNode>> {
        let id = local_id(&id, "User", "id").gql()?;
        Ok(services(ctx).user(&actor(ctx), &id).await.gql()?.map(UserNode))
    }

    /// Groups, ordered by display name.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn groups(
        &self,
        ctx: &Context<'_>,
        filter: Option<GroupFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<GroupNode>> {
        let f = filter.unwrap_or_default();
        let filter =
            GroupFilter { search: f.search, security_enabled: f.security_enabled, is_team: f.is_team };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let groups = services(ctx).groups(&actor(ctx), &filter, &request).await.gql()?;
        Ok(page::connection(groups, has_previous, GroupNode))
    }

    async fn group(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<GroupNode>> {
        let id = local_id(&id, "Group", "id").gql()?;
        Ok(services(ctx).group(&actor(ctx), &id).await.gql()?.map(GroupNode))
    }

    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn applications(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<ApplicationNode>> {
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let apps = services(ctx).applications(&actor(ctx), search.as_deref(), &request).await.gql()?;
        Ok(page::connection(apps, has_previous, ApplicationNode))
    }

    async fn application(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<ApplicationNode>> {
        let id = local_id(&id, "Application", "id").gql()?;
        Ok(services(ctx).application(&actor(ctx), &id).await.gql()?.map(ApplicationNode))
    }

    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn sites(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<SiteNode>> {
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let sites = services(ctx).sites(&actor(ctx), search.as_deref(), &request).await.gql()?;
        Ok(page::connection(sites, has_previous, SiteNode))
    }

    async fn site(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<SiteNode>> {
        let id = local_id(&id, "Site", "id").gql()?;
        Ok(services(ctx).site(&actor(ctx), &id).await.gql()?.map(SiteNode))
    }

    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn directory_roles(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<DirectoryRoleNode>> {
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let roles = services(ctx).directory_roles(&actor(ctx), search.as_deref(), &request).await.gql()?;
        Ok(page::connection(roles, has_previous, DirectoryRoleNode))
    }

    async fn directory_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<DirectoryRoleNode>> {
        let id = local_id(&id, "DirectoryRole", "id").gql()?;
        Ok(services(ctx).directory_role(&actor(ctx), &id).await.gql()?.map(DirectoryRoleNode))
    }
}

/// A directory file in Microsoft Graph's shape.
#[derive(InputObject)]
pub struct ImportDirectoryInput {
    /// `{"users": [...], "groups": [...], "applications": [...], "sites": [...], "directoryRoles": [...]}`
    directory: Json<Value>,
}

/// How many objects of each kind an import wrote.
#[derive(SimpleObject)]
pub struct ImportDirectoryPayload {
    users: usize,
    groups: usize,
    memberships: usize,
    applications: usize,
    sites: usize,
    directory_roles: usize,
}

/// A service plan, as input.
#[derive(InputObject, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedPlanInput {
    assigned_date_time: Option<String>,
    capability_status: Option<String>,
    service: Option<String>,
    service_plan_id: Option<String>,
}

/// `extensionAttribute1` to `extensionAttribute15`, as input; the object replaces the stored one.
#[derive(InputObject, serde::Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OnPremisesExtensionAttributesInput {
    extension_attribute1: Option<String>,
    extension_attribute2: Option<String>,
    extension_attribute3: Option<String>,
    extension_attribute4: Option<String>,
    extension_attribute5: Option<String>,
    extension_attribute6: Option<String>,
    extension_attribute7: Option<String>,
    extension_attribute8: Option<String>,
    extension_attribute9: Option<String>,
    extension_attribute10: Option<String>,
    extension_attribute11: Option<String>,
    extension_attribute12: Option<String>,
    extension_attribute13: Option<String>,
    extension_attribute14: Option<String>,
    extension_attribute15: Option<String>,
}

/// Declares the user properties input and its conversion to Graph JSON: an omitted field is left
/// as it is, `null` clears it.
macro_rules! user_properties {
    ($($field:ident : $ty:ty => $graph:literal),* $(,)?) => {
        /// Graph properties of a user. Omitted fields are left as they are; `null` clears one.
        #[derive(InputObject, Default)]
        pub struct UserProperties {
            $( $field: MaybeUndefined<$ty>, )*
            /// The user's manager.
            manager_id: MaybeUndefined<ID>,
            /// Custom `extension_<appId>_<name>` properties to set.
            extension_properties: Option<Vec<ExtensionProperty>>,
        }

        impl UserProperties {
            fn into_graph(self) -> async_graphql::Result<Map<String, Value>> {
                let mut map = Map::new();
                $( put(&mut map, $graph, self.$field)?; )*
                match self.manager_id {
                    MaybeUndefined::Undefined => {}
                    MaybeUndefined::Null => { map.insert("manager".into(), Value::Null); }
                    MaybeUndefined::Value(id) => {
                        let id = local_id(&id, "User", "managerId").gql()?;
                        map.insert("manager".into(), json!({ "id": id }));
                    }
                }
                for p in self.extension_properties.unwrap_or_default() {
                    map.insert(p.name, Value::String(p.value));
                }
                Ok(map)
            }
        }
    };
}

fn put<T: serde::Serialize>(
    map: &mut Map<String, Value>,
    key: &str,
    value: MaybeUndefined<T>,
) -> async_graphql::Result<()> {
    match value {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => {
            map.insert(key.to_owned(), Value::Null);
        }
        MaybeUndefined::Value(v) => {
            map.insert(
                key.to_owned(),
                serde_json::to_value(v).map_err(|e| async_graphql::Error::new(e.to_string()))?,
            );
        }
    }
    Ok(())
}

impl serde::Serialize for UserTypeValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Self::Member => "Member",
            Self::Guest => "Guest",
        })
    }
}

user_properties!(
    display_name: String => "displayName",
    given_name: String => "givenName",
    surname: String => "surname",
    user_principal_name: String => "userPrincipalName",
    mail: String => "mail",
    mail_nickname: String => "mailNickname",
    other_mails: Vec<String> => "otherMails",
    proxy_addresses: Vec<String> => "proxyAddresses",
    user_type: UserTypeValue => "userType",
    account_enabled: bool => "accountEnabled",
    department: String => "department",
    job_title: String => "jobTitle",
    company_name: String => "companyName",
    country: String => "country",
    city: String => "city",
    state: String => "state",
    street_address: String => "streetAddress",
    postal_code: String => "postalCode",
    usage_location: String => "usageLocation",
    employee_id: String => "employeeId",
    employee_hire_date: String => "employeeHireDate",
    employee_type: String => "employeeType",
    physical_delivery_office_name: String => "physicalDeliveryOfficeName",
    preferred_language: String => "preferredLanguage",
    mobile_phone: String => "mobilePhone",
    business_phones: Vec<String> => "businessPhones",
    fax_number: String => "faxNumber",
    sip_proxy_address: String => "sipProxyAddress",
    password_policies: String => "passwordPolicies",
    on_premises_sync_enabled: bool => "onPremisesSyncEnabled",
    on_premises_distinguished_name: String => "onPremisesDistinguishedName",
    on_premises_security_identifier: String => "onPremisesSecurityIdentifier",
    assigned_plans: Vec<AssignedPlanInput> => "assignedPlans",
    on_premises_extension_attributes: OnPremisesExtensionAttributesInput => "onPremisesExtensionAttributes",
);

#[derive(InputObject)]
pub struct CreateUserInput {
    /// The object id; a new GUID when omitted.
    object_id: Option<String>,
    #[graphql(flatten)]
    properties: UserProperties,
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    id: ID,
    #[graphql(flatten)]
    properties: UserProperties,
}

#[derive(SimpleObject)]
pub struct UserPayload {
    user: UserNode,
}

#[derive(InputObject)]
pub struct DeleteInput {
    id: ID,
}

/// The global id of what was deleted.
#[derive(SimpleObject)]
pub struct DeletePayload {
    deleted_id: ID,
}

/// Graph properties of a group.
#[derive(InputObject, Default)]
pub struct GroupProperties {
    display_name: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    mail: MaybeUndefined<String>,
    mail_nickname: MaybeUndefined<String>,
    mail_enabled: MaybeUndefined<bool>,
    security_enabled: MaybeUndefined<bool>,
    /// `Unified` for Microsoft 365 groups, `DynamicMembership` for dynamic ones.
    group_types: MaybeUndefined<Vec<String>>,
    membership_rule: MaybeUndefined<String>,
    on_premises_sync_enabled: MaybeUndefined<bool>,
    /// `["Team"]` for a group that backs a Teams team.
    resource_provisioning_options: MaybeUndefined<Vec<String>>,
    visibility: MaybeUndefined<String>,
}

impl GroupProperties {
    fn into_graph(self) -> async_graphql::Result<Map<String, Value>> {
        let mut map = Map::new();
        put(&mut map, "displayName", self.display_name)?;
        put(&mut map, "description", self.description)?;
        put(&mut map, "mail", self.mail)?;
        put(&mut map, "mailNickname", self.mail_nickname)?;
        put(&mut map, "mailEnabled", self.mail_enabled)?;
        put(&mut map, "securityEnabled", self.security_enabled)?;
        put(&mut map, "groupTypes", self.group_types)?;
        put(&mut map, "membershipRule", self.membership_rule)?;
        put(&mut map, "onPremisesSyncEnabled", self.on_premises_sync_enabled)?;
        put(&mut map, "resourceProvisioningOptions", self.resource_provisioning_options)?;
        put(&mut map, "visibility", self.visibility)?;
        Ok(map)
    }
}

#[derive(InputObject)]
pub struct CreateGroupInput {
    object_id: Option<String>,
    #[graphql(flatten)]
    properties: GroupProperties,
}

#[derive(InputObject)]
pub struct UpdateGroupInput {
    id: ID,
    #[graphql(flatten)]
    properties: GroupProperties,
}

#[derive(SimpleObject)]
pub struct GroupPayload {
    group: GroupNode,
}

/// A principal and a group, for membership and ownership changes.
#[derive(InputObject)]
pub struct GroupMemberInput {
    group_id: ID,
    /// A user, or (for members) a group.
    principal_id: ID,
}

/// A principal argument: a user or group id, global or bare.
fn principal_local(raw: &ID) -> async_graphql::Result<String> {
    local_id(raw, "User", "principalId").or_else(|_| local_id(raw, "Group", "principalId")).gql()
}

#[derive(Default)]
pub struct DirectoryMutation;

#[Object]
impl DirectoryMutation {
    /// Imports a directory file in Microsoft Graph's shape, in one transaction. Objects are
    /// created or replaced; a group that lists `members` or `owners` gets exactly those. A file
    /// with any problem changes nothing, and every problem is listed in `extensions.problems`.
    async fn import_directory(
        &self,
        ctx: &Context<'_>,
        input: ImportDirectoryInput,
    ) -> async_graphql::Result<ImportDirectoryPayload> {
        let text = input.directory.0.to_string();
        let counts = services(ctx).import_directory(&actor(ctx), &text).await.gql()?;
        Ok(ImportDirectoryPayload {
            users: counts.users,
            groups: counts.groups,
            memberships: counts.memberships,
            applications: counts.applications,
            sites: counts.sites,
            directory_roles: counts.directory_roles,
        })
    }

    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserInput,
    ) -> async_graphql::Result<UserPayload> {
        let mut properties = input.properties.into_graph()?;
        if let Some(id) = input.object_id {
            properties.insert("id".into(), Value::String(id));
        }
        let user = services(ctx).create_user(&actor(ctx), properties).await.gql()?;
        Ok(UserPayload { user: UserNode(user) })
    }

    async fn update_user(
        &self,
        ctx: &Context<'_>,
        input: UpdateUserInput,
    ) -> async_graphql::Result<UserPayload> {
        let id = local_id(&input.id, "User", "id").gql()?;
        let changes = input.properties.into_graph()?;
        let user = services(ctx).update_user(&actor(ctx), &id, changes).await.gql()?;
        Ok(UserPayload { user: UserNode(user) })
    }

    /// Deletes a user with their memberships; their direct reports lose their manager.
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> async_graphql::Result<DeletePayload> {
        let id = local_id(&input.id, "User", "id").gql()?;
        services(ctx).delete_user(&actor(ctx), &id).await.gql()?;
        Ok(DeletePayload { deleted_id: global_id("User", &id) })
    }

    async fn create_group(
        &self,
        ctx: &Context<'_>,
        input: CreateGroupInput,
    ) -> async_graphql::Result<GroupPayload> {
        let mut properties = input.properties.into_graph()?;
        if let Some(id) = input.object_id {
            properties.insert("id".into(), Value::String(id));
        }
        let group = services(ctx).create_group(&actor(ctx), properties).await.gql()?;
        Ok(GroupPayload { group: GroupNode(group) })
    }

    async fn update_group(
        &self,
        ctx: &Context<'_>,
        input: UpdateGroupInput,
    ) -> async_graphql::Result<GroupPayload> {
        let id = local_id(&input.id, "Group", "id").gql()?;
        let changes = input.properties.into_graph()?;
        let group = services(ctx).update_group(&actor(ctx), &id, changes).await.gql()?;
        Ok(GroupPayload { group: GroupNode(group) })
    }

    /// Deletes a group, unless a catalog holds it as a resource.
    async fn delete_group(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> async_graphql::Result<DeletePayload> {
        let id = local_id(&input.id, "Group", "id").gql()?;
        services(ctx).delete_group(&actor(ctx), &id).await.gql()?;
        Ok(DeletePayload { deleted_id: global_id("Group", &id) })
    }

    async fn add_group_member(
        &self,
        ctx: &Context<'_>,
        input: GroupMemberInput,
    ) -> async_graphql::Result<GroupPayload> {
        change_membership(ctx, input, GroupRelation::Member, true).await
    }

    async fn remove_group_member(
        &self,
        ctx: &Context<'_>,
        input: GroupMemberInput,
    ) -> async_graphql::Result<GroupPayload> {
        change_membership(ctx, input, GroupRelation::Member, false).await
    }

    async fn add_group_owner(
        &self,
        ctx: &Context<'_>,
        input: GroupMemberInput,
    ) -> async_graphql::Result<GroupPayload> {
        change_membership(ctx, input, GroupRelation::Owner, true).await
    }

    async fn remove_group_owner(
        &self,
        ctx: &Context<'_>,
        input: GroupMemberInput,
    ) -> async_graphql::Result<GroupPayload> {
        change_membership(ctx, input, GroupRelation::Owner, false).await
    }
}

async fn change_membership(
    ctx: &Context<'_>,
    input: GroupMemberInput,
    relation: GroupRelation,
    add: bool,
) -> async_graphql::Result<GroupPayload> {
    let group_id = local_id(&input.group_id, "Group", "groupId").gql()?;
    let principal_id = principal_local(&input.principal_id)?;
    let svc = services(ctx);
    if add {
        svc.add_group_member(&actor(ctx), &group_id, &principal_id, relation).await.gql()?;
    } else {
        svc.remove_group_member(&actor(ctx), &group_id, &principal_id, relation).await.gql()?;
    }
    let group = svc.group(&actor(ctx), &group_id).await.gql()?;
    let group = group.ok_or_else(|| em_engine::DomainError::not_found("group", &group_id)).gql()?;
    Ok(GroupPayload { group: GroupNode(group) })
}
