//! Custom extensions (Graph's `customCalloutExtension`): catalog-scoped HTTP endpoints that
//! entitlement management calls at stages of a request or an assignment, and that a
//! launch-and-wait extension answers through `resume`.
//!
//! - [`CustomCalloutExtension`] is either an `accessPackageAssignmentRequestWorkflowExtension`
//!   (stages request created, approved, granted, removed; with a `callbackConfiguration` it is
//!   launch-and-wait) or an `accessPackageAssignmentWorkflowExtension` (14 days and 1 day before
//!   an assignment expires; launch-and-continue only).
//! - A policy attaches extensions to stages with `customExtensionStageSettings`
//!   ([`CustomExtensionStageSetting`]); [`check_stage_settings`] checks them against the catalog's
//!   extensions, and [`resolve`] turns them into the [`StageExtension`]s a request keeps.
//! - Each call is a [`CalloutInstance`] (Graph's `customExtensionCalloutInstance`) recorded on the
//!   request, and a [`Callout`] the change hands to whoever sends it, with Graph's payload
//!   ([`payload`]).
//!
//! Decisions where Graph is silent:
//! - A request waits for a callback only at request created and request approved; an extension
//!   with a callback configuration at granted or removed is called without waiting (the request
//!   is already finished there).
//! - A callback timeout, or a launch-and-wait call that fails after its retries, fails the request
//!   (`deliveryFailed`) with the reason; `reprocess` calls the extension again.
//! - Target URLs are `https`; plain `http` only to a loopback host, and only where the operator
//!   allows it ([`EndpointRules`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::duration::Duration;
use crate::error::{DomainError, Problems};
use crate::id::{CatalogId, CustomExtensionId};

/// The most retries a client configuration may ask for.
pub const MAX_RETRIES: u32 = 10;
/// The longest a single call may take, in milliseconds.
pub const MAX_TIMEOUT_MS: u32 = 60_000;
/// How long a call may take unless the extension says otherwise (Graph's default is 30 s).
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// How many retries a call gets unless the extension says otherwise.
pub const DEFAULT_RETRIES: u32 = 3;
/// The longest a request waits for a callback (Graph: 14 days).
pub const MAX_CALLBACK_DAYS: u64 = 14;
/// The shortest callback timeout (the portal's five minutes).
pub const MIN_CALLBACK_MINUTES: u64 = 5;
/// The longest accepted target URL.
pub const MAX_URL: usize = 2_048;

/// The two kinds of extension, by Graph's `@odata.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CustomExtensionType {
    /// Request created, approved, granted, removed; launch-and-continue or launch-and-wait.
    AccessPackageAssignmentRequestWorkflowExtension,
    /// 14 days and 1 day before an assignment expires; launch-and-continue.
    AccessPackageAssignmentWorkflowExtension,
}

impl CustomExtensionType {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessPackageAssignmentRequestWorkflowExtension => {
                "accessPackageAssignmentRequestWorkflowExtension"
            }
            Self::AccessPackageAssignmentWorkflowExtension => "accessPackageAssignmentWorkflowExtension",
        }
    }

    /// The stages an extension of this type may be attached to.
    #[must_use]
    pub fn stages(self) -> &'static [CustomExtensionStage] {
        use CustomExtensionStage as S;
        match self {
            Self::AccessPackageAssignmentRequestWorkflowExtension => &[
                S::AssignmentRequestCreated,
                S::AssignmentRequestApproved,
                S::AssignmentRequestGranted,
                S::AssignmentRequestRemoved,
            ],
            Self::AccessPackageAssignmentWorkflowExtension => {
                &[S::AssignmentFourteenDaysBeforeExpiration, S::AssignmentOneDayBeforeExpiration]
            }
        }
    }
}

/// `accessPackageCustomExtensionStage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CustomExtensionStage {
    AssignmentRequestCreated,
    AssignmentRequestApproved,
    AssignmentRequestGranted,
    AssignmentRequestRemoved,
    AssignmentFourteenDaysBeforeExpiration,
    AssignmentOneDayBeforeExpiration,
}

impl CustomExtensionStage {
    pub const ALL: [Self; 6] = [
        Self::AssignmentRequestCreated,
        Self::AssignmentRequestApproved,
        Self::AssignmentRequestGranted,
        Self::AssignmentRequestRemoved,
        Self::AssignmentFourteenDaysBeforeExpiration,
        Self::AssignmentOneDayBeforeExpiration,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssignmentRequestCreated => "assignmentRequestCreated",
            Self::AssignmentRequestApproved => "assignmentRequestApproved",
            Self::AssignmentRequestGranted => "assignmentRequestGranted",
            Self::AssignmentRequestRemoved => "assignmentRequestRemoved",
            Self::AssignmentFourteenDaysBeforeExpiration => "assignmentFourteenDaysBeforeExpiration",
            Self::AssignmentOneDayBeforeExpiration => "assignmentOneDayBeforeExpiration",
        }
    }

    /// Parses Graph's spelling, also as the resume body's `type`
    /// (`microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestCreated`).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let name = text.trim().trim_start_matches('#');
        let name = name.strip_prefix("microsoft.graph.accessPackageCustomExtensionStage.").unwrap_or(name);
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether a request may wait for a callback at this stage.
    #[must_use]
    pub fn may_wait(self) -> bool {
        matches!(self, Self::AssignmentRequestCreated | Self::AssignmentRequestApproved)
    }

    /// The words for it in a request's story: "request created".
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::AssignmentRequestCreated => "request created",
            Self::AssignmentRequestApproved => "request approved",
            Self::AssignmentRequestGranted => "assignment granted",
            Self::AssignmentRequestRemoved => "assignment removed",
            Self::AssignmentFourteenDaysBeforeExpiration => "14 days before expiration",
            Self::AssignmentOneDayBeforeExpiration => "1 day before expiration",
        }
    }
}

/// `customExtensionClientConfiguration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfiguration {
    pub maximum_retries: u32,
    pub timeout_in_milliseconds: u32,
}

impl Default for ClientConfiguration {
    fn default() -> Self {
        Self { maximum_retries: DEFAULT_RETRIES, timeout_in_milliseconds: DEFAULT_TIMEOUT_MS }
    }
}

/// `customExtensionCallbackConfiguration`: how long a request waits for the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackConfiguration {
    pub timeout_duration: Duration,
}

/// A catalog's custom extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomCalloutExtension {
    pub id: CustomExtensionId,
    pub catalog_id: CatalogId,
    #[serde(rename = "type")]
    pub extension_type: CustomExtensionType,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `endpointConfiguration` (`httpRequestEndpoint`): where calls go.
    pub target_url: String,
    pub client_configuration: ClientConfiguration,
    /// Present: launch-and-wait (request workflow extensions only).
    #[serde(default)]
    pub callback_configuration: Option<CallbackConfiguration>,
    pub created_by: String,
    pub created_date_time: DateTime<Utc>,
    pub last_modified_by: String,
    pub last_modified_date_time: DateTime<Utc>,
}

/// What an administrator gives to create an extension, or to update one (the whole object).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomExtensionInput {
    pub extension_type: Option<CustomExtensionType>,
    pub display_name: String,
    pub description: Option<String>,
    pub target_url: String,
    pub client_configuration: Option<ClientConfiguration>,
    pub callback_configuration: Option<CallbackConfiguration>,
}

/// What the operator allows of target URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointRules {
    /// Plain `http` to a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`), for development and tests.
    pub allow_loopback_http: bool,
}

impl CustomCalloutExtension {
    /// A new extension of a catalog, checked.
    pub fn create(
        id: CustomExtensionId,
        catalog_id: CatalogId,
        input: CustomExtensionInput,
        rules: EndpointRules,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let Some(extension_type) = input.extension_type else {
            return Err(DomainError::invalid(
                "type",
                "say which kind of extension this is: `accessPackageAssignmentRequestWorkflowExtension` or `accessPackageAssignmentWorkflowExtension`",
            ));
        };
        let extension = Self {
            id,
            catalog_id,
            extension_type,
            display_name: String::new(),
            description: None,
            target_url: String::new(),
            client_configuration: ClientConfiguration::default(),
            callback_configuration: None,
            created_by: by.to_owned(),
            created_date_time: now,
            last_modified_by: by.to_owned(),
            last_modified_date_time: now,
        };
        extension.update(input, rules, by, now)
    }

    /// The extension with `input`'s properties; its type cannot change.
    pub fn update(
        &self,
        input: CustomExtensionInput,
        rules: EndpointRules,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let mut problems = Problems::default();
        if input.extension_type.is_some_and(|t| t != self.extension_type) {
            problems.push(
                "type",
                format!(
                    "an extension's type cannot change; it is `{}`. Create another extension instead",
                    self.extension_type.as_str()
                ),
            );
        }
        let display_name = match crate::text::display_name("displayName", &input.display_name) {
            Ok(name) => name,
            Err(e) => {
                problems.push("displayName", e.message);
                String::new()
            }
        };
        let description = match crate::text::description("description", input.description.as_deref()) {
            Ok(d) => d,
            Err(e) => {
                problems.push("description", e.message);
                None
            }
        };
        let target_url = input.target_url.trim().to_owned();
        if let Err(message) = check_target_url(&target_url, rules) {
            problems.push("endpointConfiguration.targetUrl", message);
        }
        let client = input.client_configuration.unwrap_or_default();
        if client.maximum_retries > MAX_RETRIES {
            problems.push(
                "clientConfiguration.maximumRetries",
                format!("at most {MAX_RETRIES} retries, not {}", client.maximum_retries),
            );
        }
        if client.timeout_in_milliseconds == 0 || client.timeout_in_milliseconds > MAX_TIMEOUT_MS {
            problems.push(
                "clientConfiguration.timeoutInMilliseconds",
                format!(
                    "a call may take from 1 to {MAX_TIMEOUT_MS} ms, not {}",
                    client.timeout_in_milliseconds
                ),
            );
        }
        if let Some(callback) = input.callback_configuration {
            let wait = callback.timeout_duration;
            if self.extension_type == CustomExtensionType::AccessPackageAssignmentWorkflowExtension {
                problems.push(
                    "callbackConfiguration",
                    "pre-expiration extensions launch and continue; only request workflow extensions wait for a callback",
                );
            } else if wait < Duration::minutes(MIN_CALLBACK_MINUTES)
                || wait > Duration::days(MAX_CALLBACK_DAYS)
            {
                problems.push(
                    "callbackConfiguration.timeoutDuration",
                    format!(
                        "a request waits from {MIN_CALLBACK_MINUTES} minutes to {MAX_CALLBACK_DAYS} days for a callback, not {wait}"
                    ),
                );
            }
        }
        problems.into_result("the custom extension is invalid")?;
        Ok(Self {
            display_name,
            description,
            target_url,
            client_configuration: client,
            callback_configuration: input.callback_configuration,
            last_modified_by: by.to_owned(),
            last_modified_date_time: now,
            ..self.clone()
        })
    }

    /// How long a request waits for its callback, when it is attached at `stage`.
    #[must_use]
    pub fn wait_at(&self, stage: CustomExtensionStage) -> Option<Duration> {
        self.callback_configuration.filter(|_| stage.may_wait()).map(|c| c.timeout_duration)
    }
}

/// Checks a target URL: `https://host[:port][/path]`, or `http://` to a loopback host where the
/// operator allows it. No user information, no fragment, no whitespace.
pub fn check_target_url(url: &str, rules: EndpointRules) -> Result<(), String> {
    if url.is_empty() {
        return Err("give the endpoint's URL (`https://...`)".into());
    }
    if url.len() > MAX_URL {
        return Err(format!("a URL is at most {MAX_URL} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a URL has no spaces or control characters".into());
    }
    let (scheme, rest) = url.split_once("://").ok_or("a URL starts with `https://`")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if rest.contains('#') {
        return Err("a URL for a call has no fragment (`#...`)".into());
    }
    if authority.contains('@') {
        return Err("put credentials in the extension's signing secret, not in the URL".into());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() {
        return Err("the URL names no host".into());
    }
    if let Some(port) = authority.rsplit_once("]:").map(|(_, p)| p).or_else(|| {
        (!authority.starts_with('[')).then(|| authority.split_once(':').map(|(_, p)| p)).flatten()
    }) && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!("`{port}` is not a port"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback(host) && rules.allow_loopback_http => Ok(()),
        "http" if is_loopback(host) => Err(
            "plain `http` is refused; use `https`, or start the server with `--allow-http-loopback-extensions` for a local endpoint".into(),
        ),
        "http" => Err("calls carry access decisions: the URL must use `https`".into()),
        other => Err(format!("`{other}` is not a scheme for calls; use `https`")),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host == "::1"
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// `customExtensionStageSetting`: an extension a policy calls at a stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomExtensionStageSetting {
    pub stage: CustomExtensionStage,
    pub custom_extension_id: CustomExtensionId,
}

/// Checks a policy's stage settings against its catalog's extensions: each names an extension
/// of the catalog, at a stage its type allows, one extension per stage.
pub fn check_stage_settings(
    settings: &[CustomExtensionStageSetting],
    extensions: &[CustomCalloutExtension],
) -> Result<(), DomainError> {
    let mut problems = Problems::default();
    let mut seen = std::collections::BTreeSet::new();
    for (i, setting) in settings.iter().enumerate() {
        let at = format!("customExtensionStageSettings[{i}]");
        if !seen.insert(setting.stage) {
            problems.push(
                format!("{at}.stage"),
                format!("stage `{}` already has an extension; one per stage", setting.stage.as_str()),
            );
        }
        let Some(extension) = extensions.iter().find(|e| e.id == setting.custom_extension_id) else {
            problems.push(
                format!("{at}.customExtension"),
                format!("the catalog has no custom extension `{}`", setting.custom_extension_id),
            );
            continue;
        };
        if !extension.extension_type.stages().contains(&setting.stage) {
            problems.push(
                format!("{at}.stage"),
                format!(
                    "`{}` is a `{}`, which runs at {}; not at `{}`",
                    extension.display_name,
                    extension.extension_type.as_str(),
                    extension
                        .extension_type
                        .stages()
                        .iter()
                        .map(|s| format!("`{}`", s.as_str()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    setting.stage.as_str()
                ),
            );
        }
    }
    problems.into_result("the policy's custom extension stage settings are invalid")
}

/// An extension a request calls at a stage, as it was when the request was submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageExtension {
    pub stage: CustomExtensionStage,
    pub custom_extension_id: CustomExtensionId,
    #[serde(default)]
    pub display_name: String,
    /// Launch-and-wait: how long the request waits for the callback.
    #[serde(default)]
    pub wait: Option<Duration>,
}

/// A policy's stage settings resolved against its catalog's extensions (settings naming an
/// extension that no longer exists are left out).
#[must_use]
pub fn resolve(
    settings: &[CustomExtensionStageSetting],
    extensions: &[CustomCalloutExtension],
) -> Vec<StageExtension> {
    settings
        .iter()
        .filter_map(|s| {
            let extension = extensions.iter().find(|e| e.id == s.custom_extension_id)?;
            Some(StageExtension {
                stage: s.stage,
                custom_extension_id: extension.id.clone(),
                display_name: extension.display_name.clone(),
                wait: extension.wait_at(s.stage),
            })
        })
        .collect()
}

/// `customExtensionCalloutInstanceStatus`, as the request knows it. Whether a call has been sent
/// yet, or failed, is known to the sender: see the callout's delivery record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CalloutStatus {
    /// Launched; the sender reports when it is sent (`calloutSent`) or failed.
    Launched,
    WaitingForCallback,
    CallbackReceived,
    CallbackTimedOut,
    CalloutFailed,
}

/// One call of an extension (`customExtensionCalloutInstance`), as the request records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalloutInstance {
    /// Graph's `customExtensionStageInstanceId`: the id receivers drop repeats by.
    pub id: String,
    pub custom_extension_id: CustomExtensionId,
    pub stage: CustomExtensionStage,
    pub status: CalloutStatus,
    /// What the callback said (`customExtensionStageInstanceDetail`), or why the call failed.
    #[serde(default)]
    pub detail: Option<String>,
    pub launched_date_time: DateTime<Utc>,
    /// Launch-and-wait: when the request stops waiting.
    #[serde(default)]
    pub wait_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub completed_date_time: Option<DateTime<Utc>>,
}

const CALLOUT_NAMESPACE: Uuid = Uuid::from_u128(0x2b7e_90c4_5a1d_4f38_9e62_d0c8_71a5_3f14);

/// The id of the `n`th call made for `owner` (a request or an assignment) at `stage`: the same
/// change decided again calls with the same id.
#[must_use]
pub fn callout_id(owner: &str, stage: CustomExtensionStage, n: usize) -> String {
    Uuid::new_v5(&CALLOUT_NAMESPACE, format!("{owner}|{}|{n}", stage.as_str()).as_bytes()).to_string()
}

/// What a callout belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "camelCase")]
pub enum CalloutOwner {
    Request(crate::id::RequestId),
    Assignment(crate::id::AssignmentId),
}

impl CalloutOwner {
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::Request(id) => id.as_str(),
            Self::Assignment(id) => id.as_str(),
        }
    }
}

/// A call to send, written with the change that decides it (an outbox row): sent after the commit,
/// retried, and never lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Callout {
    pub id: String,
    pub owner: CalloutOwner,
    pub custom_extension_id: CustomExtensionId,
    pub catalog_id: CatalogId,
    pub access_package_id: crate::id::AccessPackageId,
    /// The user the request or assignment is for.
    pub target_id: crate::id::UserId,
    pub stage: CustomExtensionStage,
    /// Whether the request waits for the callback.
    pub wait: bool,
    /// The body's `data` (Graph's `accessPackageAssignmentRequestCalloutData` or
    /// `accessPackageAssignmentCalloutData`).
    pub data: Value,
    pub created_date_time: DateTime<Utc>,
}

impl Callout {
    /// The body sent: an envelope in the form `resume` answers with (`id`, `source`, `type`),
    /// and the data.
    #[must_use]
    pub fn body(&self, source: &str) -> Value {
        serde_json::to_value(self.envelope(source)).unwrap_or(Value::Null)
    }

    /// [`Callout::body`] as the JSON text sent, written without copying the data.
    #[must_use]
    pub fn body_bytes(&self, source: &str) -> Vec<u8> {
        serde_json::to_vec(&self.envelope(source)).unwrap_or_default()
    }

    fn envelope<'a>(&'a self, source: &'a str) -> Envelope<'a> {
        Envelope {
            id: &self.id,
            source,
            kind: format!("microsoft.graph.accessPackageCustomExtensionStage.{}", self.stage.as_str()),
            time: self.created_date_time,
            data: &self.data,
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: String,
    time: DateTime<Utc>,
    data: &'a Value,
}

/// The path a receiver resumes a waiting request at (Graph's `callbackUriPath`).
#[must_use]
pub fn callback_path(request_id: &str) -> String {
    format!("/identityGovernance/entitlementManagement/assignmentRequests/{request_id}/resume")
}

/// What a receiver answers with (Graph's `accessPackageAssignmentRequestCallbackData`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallbackData {
    pub stage: Option<CustomExtensionStage>,
    pub custom_extension_stage_instance_id: String,
    pub custom_extension_stage_instance_detail: Option<String>,
    /// `denied` or `canceled`, only at request created.
    pub state: Option<String>,
}

fn package_json(package: &crate::access_package::AccessPackage) -> Value {
    json!({ "id": package.id, "displayName": package.display_name, "description": package.description })
}

fn assignment_json(assignment: &crate::assignment::AccessPackageAssignment) -> Value {
    json!({
        "id": assignment.id,
        "state": assignment.state,
        "status": assignment.status,
        "schedule": assignment.schedule,
        "target": { "objectId": assignment.target_id },
        "assignmentPolicy": { "id": assignment.assignment_policy_id },
    })
}

/// The call for a request's callout instance: Graph's `accessPackageAssignmentRequestCalloutData`
/// with the request, its package, the assignment (once there is one) and, for launch-and-wait,
/// the callback path and timeout.
#[must_use]
pub fn request_callout(
    request: &crate::request::AccessPackageAssignmentRequest,
    instance: &CalloutInstance,
    package: &crate::access_package::AccessPackage,
    assignment: Option<&crate::assignment::AccessPackageAssignment>,
) -> Callout {
    let wait = instance.wait_until.is_some();
    let timeout = request.callback_wait(instance.stage).filter(|_| wait);
    let requestor = match &request.requestor {
        crate::Actor::User { id } => json!({ "objectId": id }),
        crate::Actor::External { subject } => {
            json!({ "email": subject.email, "displayName": subject.display_name })
        }
        crate::Actor::System | crate::Actor::LocalOperator => Value::Null,
    };
    let mut data = json!({
        "@odata.type": "#microsoft.graph.accessPackageAssignmentRequestCalloutData",
        "stage": instance.stage.as_str(),
        "customExtensionStageInstanceId": instance.id,
        "accessPackageAssignmentRequestId": request.id,
        "requestType": request.request_type.as_str(),
        "state": request.state.as_str(),
        "status": request.status.as_str(),
        "justification": request.justification,
        "answers": request.answers,
        "accessPackage": package_json(package),
        "accessPackageCatalog": { "id": request.catalog_id },
        "assignmentPolicy": { "id": request.assignment_policy_id, "displayName": request.policy_snapshot.display_name },
        "requestor": requestor,
        "target": { "objectId": request.target_id },
        "assignment": assignment.map(assignment_json),
    });
    if let (Some(timeout), Some(map)) = (timeout, data.as_object_mut()) {
        map.insert("callbackUriPath".into(), json!(callback_path(&request.id)));
        map.insert(
            "callbackConfiguration".into(),
            json!({
                "@odata.type": "#microsoft.graph.customExtensionCallbackConfiguration",
                "timeoutDuration": timeout.to_string(),
            }),
        );
    }
    Callout {
        id: instance.id.clone(),
        owner: CalloutOwner::Request(request.id.clone()),
        custom_extension_id: instance.custom_extension_id.clone(),
        catalog_id: request.catalog_id.clone(),
        access_package_id: request.access_package_id.clone(),
        target_id: request.target_id.clone(),
        stage: instance.stage,
        wait,
        data,
        created_date_time: instance.launched_date_time,
    }
}

/// The call an assignment makes at `stage` (before its expiry, or as it ends): Graph's
/// `accessPackageAssignmentCalloutData`. `occasion` tells calls of one stage apart (an extended
/// assignment is reminded again): the same occasion gives the same id.
#[must_use]
pub fn assignment_callout(
    assignment: &crate::assignment::AccessPackageAssignment,
    extension: &StageExtension,
    package_name: Option<&str>,
    occasion: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Callout {
    let owner = format!("{}@{}", assignment.id, occasion.timestamp());
    let id = callout_id(&owner, extension.stage, 0);
    let data = json!({
        "@odata.type": "#microsoft.graph.accessPackageAssignmentCalloutData",
        "stage": extension.stage.as_str(),
        "customExtensionStageInstanceId": id,
        "accessPackage": { "id": assignment.access_package_id, "displayName": package_name },
        "accessPackageCatalog": { "id": assignment.catalog_id },
        "assignment": assignment_json(assignment),
    });
    Callout {
        id,
        owner: CalloutOwner::Assignment(assignment.id.clone()),
        custom_extension_id: extension.custom_extension_id.clone(),
        catalog_id: assignment.catalog_id.clone(),
        access_package_id: assignment.access_package_id.clone(),
        target_id: assignment.target_id.clone(),
        stage: extension.stage,
        wait: false,
        data,
        created_date_time: now,
    }
}

/// The longest `customExtensionStageInstanceDetail` kept.
pub const MAX_DETAIL: usize = 4_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: bool) -> EndpointRules {
        EndpointRules { allow_loopback_http: allow }
    }

    #[test]
    fn target_urls_are_https_or_loopback_http_when_allowed() {
        assert!(check_target_url("https://tap.example.com/issue", rules(false)).is_ok());
        assert!(check_target_url("https://tap.example.com:8443/issue?x=1", rules(false)).is_ok());
        assert!(check_target_url("http://tap.example.com/issue", rules(true)).unwrap_err().contains("https"));
        assert!(check_target_url("http://127.0.0.1:8080/x", rules(false)).unwrap_err().contains("loopback"));
        assert!(check_target_url("http://127.0.0.1:8080/x", rules(true)).is_ok());
        assert!(check_target_url("http://localhost:9/x", rules(true)).is_ok());
        assert!(check_target_url("http://[::1]:9/x", rules(true)).is_ok());
        assert!(check_target_url("ftp://x.example.com", rules(true)).is_err());
        assert!(
            check_target_url("https://user:pw@x.example.com", rules(true))
                .unwrap_err()
                .contains("credentials")
        );
        assert!(check_target_url("https://x.example.com:99999/", rules(true)).unwrap_err().contains("port"));
        assert!(check_target_url("https:// x", rules(true)).is_err());
        assert!(check_target_url("", rules(true)).is_err());
        assert!(check_target_url("x.example.com", rules(true)).is_err());
    }

    fn input(kind: CustomExtensionType) -> CustomExtensionInput {
        CustomExtensionInput {
            extension_type: Some(kind),
            display_name: "TAP issuer".into(),
            description: None,
            target_url: "https://tap.example.com/issue".into(),
            client_configuration: None,
            callback_configuration: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().into()
    }

    #[test]
    fn an_extension_is_checked_whole() {
        let mut bad = input(CustomExtensionType::AccessPackageAssignmentWorkflowExtension);
        bad.display_name = " ".into();
        bad.target_url = "http://tap.example.com".into();
        bad.client_configuration =
            Some(ClientConfiguration { maximum_retries: 11, timeout_in_milliseconds: 0 });
        bad.callback_configuration = Some(CallbackConfiguration { timeout_duration: Duration::days(1) });
        let e = CustomCalloutExtension::create("x".into(), "c".into(), bad, rules(false), "u", now())
            .unwrap_err();
        let paths: Vec<&str> = e.details.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "displayName",
                "endpointConfiguration.targetUrl",
                "clientConfiguration.maximumRetries",
                "clientConfiguration.timeoutInMilliseconds",
                "callbackConfiguration"
            ]
        );
        let mut wait = input(CustomExtensionType::AccessPackageAssignmentRequestWorkflowExtension);
        wait.callback_configuration = Some(CallbackConfiguration { timeout_duration: Duration::days(15) });
        let e = CustomCalloutExtension::create("x".into(), "c".into(), wait, rules(false), "u", now())
            .unwrap_err();
        assert!(e.message.contains("14 days"), "{e}");
    }

    #[test]
    fn stage_settings_fit_the_extension_type() {
        let request = CustomCalloutExtension::create(
            "r".into(),
            "c".into(),
            input(CustomExtensionType::AccessPackageAssignmentRequestWorkflowExtension),
            rules(false),
            "u",
            now(),
        )
        .unwrap();
        let expiry = CustomCalloutExtension::create(
            "e".into(),
            "c".into(),
            input(CustomExtensionType::AccessPackageAssignmentWorkflowExtension),
            rules(false),
            "u",
            now(),
        )
        .unwrap();
        let all = [request, expiry];
        let set = |stage, id: &str| CustomExtensionStageSetting { stage, custom_extension_id: id.into() };
        use CustomExtensionStage as S;
        assert!(
            check_stage_settings(
                &[set(S::AssignmentRequestApproved, "r"), set(S::AssignmentOneDayBeforeExpiration, "e")],
                &all
            )
            .is_ok()
        );
        let e = check_stage_settings(
            &[
                set(S::AssignmentRequestGranted, "e"),
                set(S::AssignmentRequestCreated, "nope"),
                set(S::AssignmentRequestCreated, "r"),
            ],
            &all,
        )
        .unwrap_err();
        let paths: Vec<&str> = e.details.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "customExtensionStageSettings[0].stage",
                "customExtensionStageSettings[1].customExtension",
                "customExtensionStageSettings[2].stage"
            ]
        );
    }

    #[test]
    fn stages_parse_from_graph_spellings() {
        assert_eq!(
            CustomExtensionStage::parse(
                "microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestApproved"
            ),
            Some(CustomExtensionStage::AssignmentRequestApproved)
        );
        assert_eq!(
            CustomExtensionStage::parse("assignmentRequestCreated"),
            Some(CustomExtensionStage::AssignmentRequestCreated)
        );
        assert_eq!(CustomExtensionStage::parse("approved"), None);
    }
}
