//! Connected organizations and the tenant's entitlement-management settings in GraphQL, as
//! Graph's `connectedOrganization` and `entitlementManagementSettings` have them.
//!
//! Identity sources are a union of Graph's subtypes; the mutations take them as a one-of input,
//! and `createConnectedOrganization` also takes Graph's JSON body (`graphJson`, with
//! `@odata.type` tags) for pasting Graph examples.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, OneofObject, SimpleObject, Union};
use em_engine::connected_organization::{
    ConnectedOrganization, ConnectedOrganizationPatch, ConnectedOrganizationState,
    EntitlementManagementSettings, ExternalUserLifecycleAction, IdentitySource, NewConnectedOrganization,
    SponsorKind,
};
use em_engine::duration::Duration;
use em_engine::id::ConnectedOrganizationId;
use em_engine::{Actor, DomainError};
use serde::Deserialize;
use serde_json::Value;

use super::catalog::DeletedPayload;
use super::directory::{DirectoryObject, directory_object};
use super::error::OrGraphql;
use super::node::{global_id, local_id};
use super::page::{self, Conn};
use super::roles::principal_argument;
use super::{actor, services};
use crate::service::model::OrganizationFilter;

/// `connectedOrganizationState`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ConnectedOrganizationState", rename_items = "camelCase")]
pub enum OrganizationStateValue {
    Configured,
    Proposed,
}

impl From<ConnectedOrganizationState> for OrganizationStateValue {
    fn from(s: ConnectedOrganizationState) -> Self {
        match s {
            ConnectedOrganizationState::Configured => Self::Configured,
            ConnectedOrganizationState::Proposed => Self::Proposed,
        }
    }
}

impl From<OrganizationStateValue> for ConnectedOrganizationState {
    fn from(s: OrganizationStateValue) -> Self {
        match s {
            OrganizationStateValue::Configured => Self::Configured,
            OrganizationStateValue::Proposed => Self::Proposed,
        }
    }
}

/// An Entra tenant, known by its tenant id.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "AzureActiveDirectoryTenantInput")]
pub struct AzureActiveDirectoryTenant {
    tenant_id: String,
    display_name: Option<String>,
}

/// An Entra tenant in another cloud.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "CrossCloudAzureActiveDirectoryTenantInput")]
pub struct CrossCloudAzureActiveDirectoryTenant {
    tenant_id: String,
    /// The cloud's host, e.g. `microsoftonline.us`.
    cloud_instance: String,
    display_name: Option<String>,
}

/// A domain: users whose verified e-mail address is at it.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "DomainIdentitySourceInput")]
pub struct DomainIdentitySource {
    domain_name: String,
    display_name: Option<String>,
}

/// A SAML/WS-Fed identity provider signing for a domain.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "ExternalDomainFederationInput")]
pub struct ExternalDomainFederation {
    domain_name: String,
    issuer_uri: String,
    display_name: Option<String>,
}

/// Graph's `identitySource` subtypes.
#[derive(Union)]
pub enum IdentitySourceValue {
    AzureActiveDirectoryTenant(AzureActiveDirectoryTenant),
    CrossCloudAzureActiveDirectoryTenant(CrossCloudAzureActiveDirectoryTenant),
    DomainIdentitySource(DomainIdentitySource),
    ExternalDomainFederation(ExternalDomainFederation),
}

/// One identity source: exactly one of the subtypes.
#[derive(OneofObject)]
pub enum IdentitySourceInput {
    AzureActiveDirectoryTenant(AzureActiveDirectoryTenant),
    CrossCloudAzureActiveDirectoryTenant(CrossCloudAzureActiveDirectoryTenant),
    DomainIdentitySource(DomainIdentitySource),
    ExternalDomainFederation(ExternalDomainFederation),
}

impl From<IdentitySourceInput> for IdentitySource {
    fn from(input: IdentitySourceInput) -> Self {
        match input {
            IdentitySourceInput::AzureActiveDirectoryTenant(s) => {
                Self::AzureActiveDirectoryTenant { tenant_id: s.tenant_id, display_name: s.display_name }
            }
            IdentitySourceInput::CrossCloudAzureActiveDirectoryTenant(s) => {
                Self::CrossCloudAzureActiveDirectoryTenant {
                    tenant_id: s.tenant_id,
                    cloud_instance: s.cloud_instance,
                    display_name: s.display_name,
                }
            }
            IdentitySourceInput::DomainIdentitySource(s) => {
                Self::DomainIdentitySource { domain_name: s.domain_name, display_name: s.display_name }
            }
            IdentitySourceInput::ExternalDomainFederation(s) => Self::ExternalDomainFederation {
                domain_name: s.domain_name,
                issuer_uri: s.issuer_uri,
                display_name: s.display_name,
            },
        }
    }
}

impl From<&IdentitySource> for IdentitySourceValue {
    fn from(source: &IdentitySource) -> Self {
        match source.clone() {
            IdentitySource::AzureActiveDirectoryTenant { tenant_id, display_name } => {
                Self::AzureActiveDirectoryTenant(AzureActiveDirectoryTenant { tenant_id, display_name })
            }
            IdentitySource::CrossCloudAzureActiveDirectoryTenant {
                tenant_id,
                cloud_instance,
                display_name,
            } => Self::CrossCloudAzureActiveDirectoryTenant(CrossCloudAzureActiveDirectoryTenant {
                tenant_id,
                cloud_instance,
                display_name,
            }),
            IdentitySource::DomainIdentitySource { domain_name, display_name } => {
                Self::DomainIdentitySource(DomainIdentitySource { domain_name, display_name })
            }
            IdentitySource::ExternalDomainFederation { domain_name, issuer_uri, display_name } => {
                Self::ExternalDomainFederation(ExternalDomainFederation {
                    domain_name,
                    issuer_uri,
                    display_name,
                })
            }
        }
    }
}

/// Another organization whose users may request access.
pub struct ConnectedOrganizationNode(pub ConnectedOrganization);

#[Object(name = "ConnectedOrganization")]
impl ConnectedOrganizationNode {
    pub async fn id(&self) -> ID {
        global_id("ConnectedOrganization", &self.0.id)
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn identity_sources(&self) -> Vec<IdentitySourceValue> {
        self.0.identity_sources.iter().map(IdentitySourceValue::from).collect()
    }
    async fn state(&self) -> OrganizationStateValue {
        self.0.state.into()
    }
    /// Users and groups of this directory who approve for the organization's users.
    async fn internal_sponsors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DirectoryObject>> {
        sponsors(ctx, &self.0, SponsorKind::Internal).await
    }
    /// Guests from the organization who approve for its users.
    async fn external_sponsors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DirectoryObject>> {
        sponsors(ctx, &self.0, SponsorKind::External).await
    }
    async fn created_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_date_time
    }
    async fn modified_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.modified_date_time
    }
}

/// The sponsors of one kind that still exist and the caller may see.
async fn sponsors(
    ctx: &Context<'_>,
    org: &ConnectedOrganization,
    kind: SponsorKind,
) -> async_graphql::Result<Vec<DirectoryObject>> {
    let mut out = Vec::new();
    for sponsor in org.sponsors(kind) {
        out.extend(directory_object(ctx, &sponsor.id).await?);
    }
    Ok(out)
}

/// `accessPackageExternalUserLifecycleAction`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessPackageExternalUserLifecycleAction", rename_items = "camelCase")]
pub enum LifecycleActionValue {
    None,
    BlockSignIn,
    BlockSignInAndDelete,
}

impl From<ExternalUserLifecycleAction> for LifecycleActionValue {
    fn from(a: ExternalUserLifecycleAction) -> Self {
        match a {
            ExternalUserLifecycleAction::None => Self::None,
            ExternalUserLifecycleAction::BlockSignIn => Self::BlockSignIn,
            ExternalUserLifecycleAction::BlockSignInAndDelete => Self::BlockSignInAndDelete,
        }
    }
}

impl From<LifecycleActionValue> for ExternalUserLifecycleAction {
    fn from(a: LifecycleActionValue) -> Self {
        match a {
            LifecycleActionValue::None => Self::None,
            LifecycleActionValue::BlockSignIn => Self::BlockSignIn,
            LifecycleActionValue::BlockSignInAndDelete => Self::BlockSignInAndDelete,
        }
    }
}

/// The tenant's entitlement-management settings.
pub struct SettingsNode(EntitlementManagementSettings);

#[Object(name = "EntitlementManagementSettings")]
impl SettingsNode {
    /// What happens to a guest entitlement management created when their last assignment ends.
    async fn external_user_lifecycle_action(&self) -> LifecycleActionValue {
        self.0.external_user_lifecycle_action.into()
    }
    /// How long a blocked guest is kept before deletion (ISO 8601, e.g. `P30D`), under
    /// `blockSignInAndDelete`.
    async fn duration_until_external_user_deleted_after_blocked(&self) -> String {
        self.0.duration_until_external_user_deleted_after_blocked.to_string()
    }
}

/// Who is signed in, as Graph's `accessPackageSubject` has it: a directory user, or someone from
/// another organization who has no directory object yet.
pub struct AccessPackageSubjectNode {
    object_id: Option<String>,
    email: Option<String>,
    display_name: Option<String>,
    principal_name: Option<String>,
    organization: Option<ConnectedOrganization>,
}

impl AccessPackageSubjectNode {
    /// Someone from another organization, as their token describes them; `object_id` is the
    /// guest invited for them, once there is one.
    pub(crate) fn outsider(
        subject: &em_engine::ExternalSubject,
        object_id: Option<String>,
        organization: Option<ConnectedOrganization>,
    ) -> Self {
        Self {
            object_id,
            email: Some(subject.email.clone()),
            display_name: subject.display_name.clone(),
            principal_name: Some(subject.email.clone()),
            organization,
        }
    }
}

#[Object(name = "AccessPackageSubject")]
impl AccessPackageSubjectNode {
    /// `user`.
    async fn subject_type(&self) -> &str {
        "user"
    }
    /// The directory object, once there is one.
    async fn object_id(&self) -> Option<ID> {
        self.object_id.as_deref().map(|id| global_id("User", id))
    }
    async fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    async fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }
    async fn principal_name(&self) -> Option<&str> {
        self.principal_name.as_deref()
    }
    /// The connected organization of someone from another organization.
    async fn connected_organization(&self) -> Option<ConnectedOrganizationNode> {
        self.organization.clone().map(ConnectedOrganizationNode)
    }
}

/// Graph's `$filter` on connected organizations.
#[derive(InputObject, Default)]
#[graphql(name = "ConnectedOrganizationFilter")]
pub struct OrganizationFilterInput {
    /// `displayName eq`, case-insensitive.
    display_name: Option<String>,
    state: Option<OrganizationStateValue>,
}

/// A connected organization's id from its global or Graph id.
fn organization_id(raw: &str, field: &str) -> Result<ConnectedOrganizationId, DomainError> {
    local_id(raw, "ConnectedOrganization", field).map(Into::into)
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// Connected organizations, by name: for administrators and holders of an
    /// entitlement-management role.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn connected_organizations(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrganizationFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<ConnectedOrganizationNode>> {
        let f = filter.unwrap_or_default();
        let filter = OrganizationFilter { display_name: f.display_name, state: f.state.map(Into::into) };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let found = services(ctx).connected_organizations(&actor(ctx), &filter, &request).await.gql()?;
        Ok(page::connection(found, has_previous, ConnectedOrganizationNode))
    }

    async fn connected_organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<ConnectedOrganizationNode>> {
        let id = organization_id(&id, "id").gql()?;
        Ok(services(ctx).connected_organization(&actor(ctx), &id).await.gql()?.map(ConnectedOrganizationNode))
    }

    /// Who is signed in: a directory user, or someone from another organization (with the
    /// connected organization their tenant or e-mail domain belongs to). `null` for the local
    /// operator.
    async fn signed_in_subject(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<AccessPackageSubjectNode>> {
        let (svc, who) = (services(ctx), actor(ctx));
        match &who {
            Actor::User { id } => Ok(svc.user(&who, id).await.gql()?.map(|user| AccessPackageSubjectNode {
                object_id: Some(user.id.to_string()),
                email: user.mail.clone(),
                display_name: user.display_name.clone(),
                principal_name: user.user_principal_name.clone(),
                organization: None,
            })),
            Actor::External { subject } => {
                let organization = svc.caller_organization(&who).await.gql()?;
                Ok(Some(AccessPackageSubjectNode::outsider(subject, None, organization)))
            }
            Actor::System | Actor::LocalOperator => Ok(None),
        }
    }

    /// The tenant's entitlement-management settings: administrators only.
    async fn entitlement_management_settings(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<SettingsNode> {
        Ok(SettingsNode(services(ctx).entitlement_management_settings(&actor(ctx)).await.gql()?))
    }
}

/// Creates a connected organization: give its properties, or Graph's JSON body in `graphJson`.
#[derive(InputObject)]
pub struct CreateConnectedOrganizationInput {
    display_name: Option<String>,
    description: Option<String>,
    identity_sources: Option<Vec<IdentitySourceInput>>,
    /// `configured` unless said otherwise.
    state: Option<OrganizationStateValue>,
    /// Graph's `POST connectedOrganizations` body, `@odata.type` tags and all.
    graph_json: Option<Json<Value>>,
}

/// Graph's body of `POST connectedOrganizations`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphOrganization {
    display_name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    identity_sources: Vec<IdentitySource>,
    #[serde(default)]
    state: Option<ConnectedOrganizationState>,
}

impl CreateConnectedOrganizationInput {
    fn into_engine(self) -> Result<NewConnectedOrganization, DomainError> {
        let typed = self.display_name.is_some() || self.identity_sources.is_some();
        match (typed, self.graph_json) {
            (true, Some(_)) => Err(DomainError::invalid(
                "graphJson",
                "give the organization as properties or as Graph's JSON in `graphJson`, not both",
            )),
            (false, Some(Json(json))) => {
                let graph: GraphOrganization = serde_json::from_value(json).map_err(|e| {
                    DomainError::invalid("graphJson", format!("not a connectedOrganization: {e}"))
                })?;
                Ok(NewConnectedOrganization {
                    display_name: graph.display_name,
                    description: graph.description,
                    identity_sources: graph.identity_sources,
                    state: graph.state,
                })
            }
            (_, None) => Ok(NewConnectedOrganization {
                display_name: self.display_name.unwrap_or_default(),
                description: self.description,
                identity_sources: self
                    .identity_sources
                    .unwrap_or_default()
                    .into_iter()
                    .map(Into::into)
                    .collect(),
                state: self.state.map(Into::into),
            }),
        }
    }
}

/// Changes a connected organization; properties left out stay as they are. `identitySources`
/// replaces the list.
#[derive(InputObject)]
pub struct UpdateConnectedOrganizationInput {
    id: ID,
    display_name: Option<String>,
    description: Option<String>,
    identity_sources: Option<Vec<IdentitySourceInput>>,
    state: Option<OrganizationStateValue>,
}

#[derive(InputObject)]
pub struct DeleteConnectedOrganizationInput {
    id: ID,
}

/// Which sponsors: Graph's `internalSponsors` or `externalSponsors`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SponsorType {
    /// Users or groups of this directory.
    Internal,
    /// Guest users from the organization.
    External,
}

/// Adds a sponsor to, or removes one from, a connected organization.
#[derive(InputObject)]
pub struct ConnectedOrganizationSponsorInput {
    connected_organization_id: ID,
    /// A user's or a group's id.
    sponsor_id: ID,
    sponsor_type: SponsorType,
}

#[derive(SimpleObject)]
pub struct ConnectedOrganizationPayload {
    connected_organization: ConnectedOrganizationNode,
}

/// Graph's `PATCH entitlementManagement/settings`.
#[derive(InputObject)]
pub struct UpdateEntitlementManagementSettingsInput {
    external_user_lifecycle_action: Option<LifecycleActionValue>,
    /// ISO 8601, e.g. `P30D`.
    duration_until_external_user_deleted_after_blocked: Option<String>,
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Connects an organization: administrators only.
    async fn create_connected_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateConnectedOrganizationInput,
    ) -> async_graphql::Result<ConnectedOrganizationPayload> {
        let new = input.into_engine().gql()?;
        let org = services(ctx).create_connected_organization(&actor(ctx), new).await.gql()?;
        Ok(ConnectedOrganizationPayload { connected_organization: ConnectedOrganizationNode(org) })
    }

    async fn update_connected_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateConnectedOrganizationInput,
    ) -> async_graphql::Result<ConnectedOrganizationPayload> {
        let id = organization_id(&input.id, "id").gql()?;
        let patch = ConnectedOrganizationPatch {
            display_name: input.display_name,
            description: input.description.map(Some),
            identity_sources: input.identity_sources.map(|s| s.into_iter().map(Into::into).collect()),
            state: input.state.map(Into::into),
        };
        let org = services(ctx).update_connected_organization(&actor(ctx), &id, patch).await.gql()?;
        Ok(ConnectedOrganizationPayload { connected_organization: ConnectedOrganizationNode(org) })
    }

    /// Deletes a connected organization; refused while a policy names it.
    async fn delete_connected_organization(
        &self,
        ctx: &Context<'_>,
        input: DeleteConnectedOrganizationInput,
    ) -> async_graphql::Result<DeletedPayload> {
        let id = organization_id(&input.id, "id").gql()?;
        services(ctx).delete_connected_organization(&actor(ctx), &id).await.gql()?;
        Ok(DeletedPayload { deleted_id: global_id("ConnectedOrganization", &id) })
    }

    /// Adds an internal sponsor (a member user or a group) or an external one (a guest user).
    async fn add_connected_organization_sponsor(
        &self,
        ctx: &Context<'_>,
        input: ConnectedOrganizationSponsorInput,
    ) -> async_graphql::Result<ConnectedOrganizationPayload> {
        let (id, kind, sponsor) = sponsor_arguments(&input)?;
        let org = services(ctx).add_sponsor(&actor(ctx), &id, kind, &sponsor).await.gql()?;
        Ok(ConnectedOrganizationPayload { connected_organization: ConnectedOrganizationNode(org) })
    }

    async fn remove_connected_organization_sponsor(
        &self,
        ctx: &Context<'_>,
        input: ConnectedOrganizationSponsorInput,
    ) -> async_graphql::Result<ConnectedOrganizationPayload> {
        let (id, kind, sponsor) = sponsor_arguments(&input)?;
        let org = services(ctx).remove_sponsor(&actor(ctx), &id, kind, &sponsor).await.gql()?;
        Ok(ConnectedOrganizationPayload { connected_organization: ConnectedOrganizationNode(org) })
    }

    /// Changes the tenant's entitlement-management settings: administrators only.
    async fn update_entitlement_management_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateEntitlementManagementSettingsInput,
    ) -> async_graphql::Result<SettingsNode> {
        let duration = input
            .duration_until_external_user_deleted_after_blocked
            .map(|d| {
                Duration::parse(d.trim()).map_err(|e| {
                    DomainError::invalid("durationUntilExternalUserDeletedAfterBlocked", e.to_string())
                })
            })
            .transpose()
            .gql()?;
        let action = input.external_user_lifecycle_action.map(Into::into);
        let settings = services(ctx)
            .update_entitlement_management_settings(&actor(ctx), action, duration)
            .await
            .gql()?;
        Ok(SettingsNode(settings))
    }
}

fn sponsor_arguments(
    input: &ConnectedOrganizationSponsorInput,
) -> async_graphql::Result<(ConnectedOrganizationId, SponsorKind, String)> {
    let id = organization_id(&input.connected_organization_id, "connectedOrganizationId").gql()?;
    let sponsor = principal_argument(&input.sponsor_id, "sponsorId")?;
    let kind = match input.sponsor_type {
        SponsorType::Internal => SponsorKind::Internal,
        SponsorType::External => SponsorKind::External,
    };
    Ok((id, kind, sponsor))
}
