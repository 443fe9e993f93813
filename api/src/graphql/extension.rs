//! Custom extensions in GraphQL, as Graph's `customCalloutExtension` subtypes have them
//! (`accessPackageAssignmentRequestWorkflowExtension`, `accessPackageAssignmentWorkflowExtension`),
//! their calls (`customExtensionCalloutInstance`) and `resume`.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use em_engine::DomainError;
use em_engine::duration::Duration;
use em_engine::error::Problems;
use em_engine::extension::{
    CallbackConfiguration, CallbackData, ClientConfiguration, CustomCalloutExtension, CustomExtensionInput,
    CustomExtensionType,
};

use super::catalog::{DeleteByIdInput, DeletedPayload};
use super::error::OrGraphql;
use super::node::{catalog_id, global_id, local_id, request_id};
use super::policy::CustomExtensionStageValue;
use super::request::AccessPackageAssignmentRequestNode;
use super::{actor, services};
use crate::service::extensions::{CalloutState, CalloutView};

/// The two kinds of custom extension (Graph's `@odata.type`).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "CustomCalloutExtensionType", rename_items = "camelCase")]
pub enum ExtensionTypeValue {
    /// Called at request created, approved, granted, removed; may make the request wait.
    AccessPackageAssignmentRequestWorkflowExtension,
    /// Called 14 days and 1 day before an assignment expires.
    AccessPackageAssignmentWorkflowExtension,
}

impl From<CustomExtensionType> for ExtensionTypeValue {
    fn from(t: CustomExtensionType) -> Self {
        match t {
            CustomExtensionType::AccessPackageAssignmentRequestWorkflowExtension => {
                Self::AccessPackageAssignmentRequestWorkflowExtension
            }
            CustomExtensionType::AccessPackageAssignmentWorkflowExtension => {
                Self::AccessPackageAssignmentWorkflowExtension
            }
        }
    }
}

impl From<ExtensionTypeValue> for CustomExtensionType {
    fn from(t: ExtensionTypeValue) -> Self {
        match t {
            ExtensionTypeValue::AccessPackageAssignmentRequestWorkflowExtension => {
                Self::AccessPackageAssignmentRequestWorkflowExtension
            }
            ExtensionTypeValue::AccessPackageAssignmentWorkflowExtension => {
                Self::AccessPackageAssignmentWorkflowExtension
            }
        }
    }
}

/// `httpRequestEndpoint`: where calls go.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "HttpRequestEndpointInput")]
pub struct HttpRequestEndpoint {
    /// `https://...`; plain `http` only to a loopback host, where the operator allows it.
    pub target_url: String,
}

/// `customExtensionClientConfiguration`.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(
    name = "CustomExtensionClientConfiguration",
    input_name = "CustomExtensionClientConfigurationInput"
)]
pub struct ClientConfigurationValue {
    /// Retries after a failed call (0 to 10; default 3), with exponential backoff.
    #[graphql(default = 3)]
    pub maximum_retries: i32,
    /// How long one call may take (1 to 60,000 ms; default 30,000).
    #[graphql(default = 30000)]
    pub timeout_in_milliseconds: i32,
}

/// `customExtensionCallbackConfiguration`: the extension is launch-and-wait.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(
    name = "CustomExtensionCallbackConfiguration",
    input_name = "CustomExtensionCallbackConfigurationInput"
)]
pub struct CallbackConfigurationValue {
    /// How long a request waits for the callback (`PT5M` to `P14D`); then it fails.
    pub timeout_duration: String,
}

/// A catalog's custom extension.
pub struct CustomCalloutExtensionNode(pub CustomCalloutExtension);

#[Object(name = "CustomCalloutExtension")]
impl CustomCalloutExtensionNode {
    async fn id(&self) -> ID {
        global_id("CustomCalloutExtension", &self.0.id)
    }
    /// Graph's `@odata.type`.
    #[graphql(name = "type")]
    async fn extension_type(&self) -> ExtensionTypeValue {
        self.0.extension_type.into()
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn catalog_id(&self) -> ID {
        global_id("AccessPackageCatalog", &self.0.catalog_id)
    }
    async fn endpoint_configuration(&self) -> HttpRequestEndpoint {
        HttpRequestEndpoint { target_url: self.0.target_url.clone() }
    }
    async fn client_configuration(&self) -> ClientConfigurationValue {
        let c = self.0.client_configuration;
        ClientConfigurationValue {
            maximum_retries: i32::try_from(c.maximum_retries).unwrap_or(i32::MAX),
            timeout_in_milliseconds: i32::try_from(c.timeout_in_milliseconds).unwrap_or(i32::MAX),
        }
    }
    /// Present on a launch-and-wait extension.
    async fn callback_configuration(&self) -> Option<CallbackConfigurationValue> {
        self.0
            .callback_configuration
            .map(|c| CallbackConfigurationValue { timeout_duration: c.timeout_duration.to_string() })
    }
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_date_time
    }
    async fn last_modified_by(&self) -> &str {
        &self.0.last_modified_by
    }
    async fn last_modified_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.last_modified_date_time
    }
}

/// `customExtensionCalloutInstanceStatus`, with `calloutPending` (not in Graph) for a call not
/// sent yet.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "CustomExtensionCalloutInstanceStatus", rename_items = "camelCase")]
pub enum CalloutStatusValue {
    CalloutPending,
    CalloutSent,
    CallbackReceived,
    CalloutFailed,
    CallbackTimedOut,
    WaitingForCallback,
}

impl From<CalloutState> for CalloutStatusValue {
    fn from(s: CalloutState) -> Self {
        match s {
            CalloutState::CalloutPending => Self::CalloutPending,
            CalloutState::CalloutSent => Self::CalloutSent,
            CalloutState::WaitingForCallback => Self::WaitingForCallback,
            CalloutState::CallbackReceived => Self::CallbackReceived,
            CalloutState::CalloutFailed => Self::CalloutFailed,
            CalloutState::CallbackTimedOut => Self::CallbackTimedOut,
        }
    }
}

/// `customExtensionCalloutInstance`: one call of a custom extension.
#[derive(SimpleObject)]
#[graphql(name = "CustomExtensionCalloutInstance")]
pub struct CalloutInstanceValue {
    /// Graph's `customExtensionStageInstanceId`, sent as `webhook-id`: receivers drop repeats by it.
    pub id: String,
    pub custom_extension_id: ID,
    pub stage: CustomExtensionStageValue,
    pub status: CalloutStatusValue,
    /// What the callback said (`customExtensionStageInstanceDetail`), or why the call failed;
    /// shown to the requestor, the target and whoever reads the catalog's requests.
    pub detail: Option<String>,
    /// How many times it was sent.
    pub attempts: i32,
    pub launched_date_time: chrono::DateTime<chrono::Utc>,
    pub completed_date_time: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<CalloutView> for CalloutInstanceValue {
    fn from(v: CalloutView) -> Self {
        Self {
            id: v.id,
            custom_extension_id: global_id("CustomCalloutExtension", &v.custom_extension_id),
            stage: v.stage.into(),
            status: v.status.into(),
            detail: v.detail,
            attempts: i32::try_from(v.attempts).unwrap_or(i32::MAX),
            launched_date_time: v.launched_date_time,
            completed_date_time: v.completed_date_time,
        }
    }
}

fn extension_id(raw: &ID, field: &str) -> Result<em_engine::id::CustomExtensionId, DomainError> {
    local_id(raw, "CustomCalloutExtension", field).map(Into::into)
}

/// An extension's properties.
#[derive(InputObject)]
pub struct CustomCalloutExtensionBodyInput {
    /// Required on create; an extension's type cannot change.
    #[graphql(name = "type")]
    pub extension_type: Option<ExtensionTypeValue>,
    pub display_name: String,
    pub description: Option<String>,
    pub endpoint_configuration: HttpRequestEndpoint,
    pub client_configuration: Option<ClientConfigurationValue>,
    /// Makes a request workflow extension launch-and-wait.
    pub callback_configuration: Option<CallbackConfigurationValue>,
}

impl CustomCalloutExtensionBodyInput {
    fn into_engine(self) -> Result<CustomExtensionInput, DomainError> {
        let mut problems = Problems::default();
        let client = self.client_configuration.map(|c| ClientConfiguration {
            maximum_retries: u32::try_from(c.maximum_retries).unwrap_or_else(|_| {
                problems.push("clientConfiguration.maximumRetries", "retries are counted from 0");
                0
            }),
            timeout_in_milliseconds: u32::try_from(c.timeout_in_milliseconds).unwrap_or(0),
        });
        let callback =
            self.callback_configuration.and_then(|c| match Duration::parse(c.timeout_duration.trim()) {
                Ok(timeout_duration) => Some(CallbackConfiguration { timeout_duration }),
                Err(e) => {
                    problems.push("callbackConfiguration.timeoutDuration", e.to_string());
                    None
                }
            });
        problems.into_result("the custom extension is invalid")?;
        Ok(CustomExtensionInput {
            extension_type: self.extension_type.map(Into::into),
            display_name: self.display_name,
            description: self.description,
            target_url: self.endpoint_configuration.target_url,
            client_configuration: client,
            callback_configuration: callback,
        })
    }
}

#[derive(InputObject)]
pub struct CreateCustomCalloutExtensionInput {
    pub catalog_id: ID,
    pub extension: CustomCalloutExtensionBodyInput,
}

#[derive(InputObject)]
pub struct UpdateCustomCalloutExtensionInput {
    pub id: ID,
    pub extension: CustomCalloutExtensionBodyInput,
}

#[derive(SimpleObject)]
pub struct CustomCalloutExtensionPayload {
    pub custom_callout_extension: CustomCalloutExtensionNode,
}

#[derive(SimpleObject)]
pub struct CreateCustomCalloutExtensionPayload {
    pub custom_callout_extension: CustomCalloutExtensionNode,
    /// The secret the server signs this extension's calls with (`whsec_...`, Standard Webhooks),
    /// and its callbacks must be signed with. Shown only here: keep it.
    pub signing_secret: String,
}

/// `accessPackageAssignmentRequestCallbackData`.
#[derive(InputObject)]
pub struct CallbackDataInput {
    pub custom_extension_stage_instance_id: String,
    pub custom_extension_stage_instance_detail: Option<String>,
    /// `denied` or `canceled`, only at `assignmentRequestCreated`.
    pub state: Option<String>,
}

/// Graph's `resume` body.
#[derive(InputObject)]
pub struct ResumeAssignmentRequestInput {
    /// The request waiting for the callback.
    pub id: ID,
    /// The stage the callback answers.
    pub stage: Option<CustomExtensionStageValue>,
    pub data: CallbackDataInput,
}

#[derive(Default)]
pub struct ExtensionQuery;

#[Object]
impl ExtensionQuery {
    /// A custom extension, for whoever sees its catalog.
    async fn custom_callout_extension(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<CustomCalloutExtensionNode>> {
        let id = extension_id(&id, "id").gql()?;
        let found = services(ctx).visible_extension(&actor(ctx), &id).await.gql()?;
        Ok(found.map(CustomCalloutExtensionNode))
    }

    /// A catalog's custom extensions (Graph's `customWorkflowExtensions`), by name.
    async fn custom_workflow_extensions(
        &self,
        ctx: &Context<'_>,
        catalog_id: ID,
    ) -> async_graphql::Result<Vec<CustomCalloutExtensionNode>> {
        let catalog = super::node::catalog_id(&catalog_id, "catalogId").gql()?;
        let all = services(ctx).catalog_extensions(&actor(ctx), &catalog).await.gql()?;
        Ok(all.into_iter().map(CustomCalloutExtensionNode).collect())
    }
}

#[derive(Default)]
pub struct ExtensionMutation;

#[Object]
impl ExtensionMutation {
    /// Creates a custom extension in a catalog (catalog owners and administrators); the payload
    /// carries its signing secret, shown only here.
    async fn create_custom_callout_extension(
        &self,
        ctx: &Context<'_>,
        input: CreateCustomCalloutExtensionInput,
    ) -> async_graphql::Result<CreateCustomCalloutExtensionPayload> {
        let catalog = catalog_id(&input.catalog_id, "catalogId").gql()?;
        let body = input.extension.into_engine().gql()?;
        let (extension, secret) = services(ctx).create_extension(&actor(ctx), &catalog, body).await.gql()?;
        Ok(CreateCustomCalloutExtensionPayload {
            custom_callout_extension: CustomCalloutExtensionNode(extension),
            signing_secret: secret,
        })
    }

    /// Replaces a custom extension's properties (its type and secret stay).
    async fn update_custom_callout_extension(
        &self,
        ctx: &Context<'_>,
        input: UpdateCustomCalloutExtensionInput,
    ) -> async_graphql::Result<CustomCalloutExtensionPayload> {
        let id = extension_id(&input.id, "id").gql()?;
        let body = input.extension.into_engine().gql()?;
        let extension = services(ctx).update_extension(&actor(ctx), &id, body).await.gql()?;
        Ok(CustomCalloutExtensionPayload { custom_callout_extension: CustomCalloutExtensionNode(extension) })
    }

    /// Deletes a custom extension no policy calls.
    async fn delete_custom_callout_extension(
        &self,
        ctx: &Context<'_>,
        input: DeleteByIdInput,
    ) -> async_graphql::Result<DeletedPayload> {
        let id = extension_id(&input.id, "id").gql()?;
        services(ctx).delete_extension(&actor(ctx), &id).await.gql()?;
        Ok(DeletedPayload { deleted_id: global_id("CustomCalloutExtension", &id) })
    }

    /// Graph's `resume` for whoever may manage the requests of the request's catalog. An
    /// extension's endpoint resumes at the `callbackUriPath` of its call instead, signed with
    /// the extension's secret.
    async fn resume_access_package_assignment_request(
        &self,
        ctx: &Context<'_>,
        input: ResumeAssignmentRequestInput,
    ) -> async_graphql::Result<AccessPackageAssignmentRequestNode> {
        let id = request_id(&input.id, "id").gql()?;
        let data = CallbackData {
            stage: input.stage.map(Into::into),
            custom_extension_stage_instance_id: input.data.custom_extension_stage_instance_id,
            custom_extension_stage_instance_detail: input.data.custom_extension_stage_instance_detail,
            state: input.data.state,
        };
        let request = services(ctx).resume_as(&actor(ctx), &id, &data).await.gql()?;
        Ok(AccessPackageAssignmentRequestNode(request, None))
    }
}
