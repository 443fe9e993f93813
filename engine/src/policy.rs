//! Assignment policies: who may request or be assigned an access package, with which approval,
//! questions and expiration (`accessPackageAssignmentPolicy` in Graph).
//!
//! The model carries every setting Graph has for request-based and auto-assignment policies,
//! under Graph's names: [`AllowedTargetScope`], `specificAllowedTargets` ([`SubjectSet`]),
//! [`RequestorSettings`], [`ApprovalSettings`] with 1 to 3 [`AccessPackageApprovalStage`]s, questions
//! ([`AccessPackageQuestion`]), expiration ([`ExpirationPattern`]), `automaticRequestSettings`
//! and `reviewSettings` (stored; no review engine yet).
//!
//! - [`AccessPackageAssignmentPolicy::validate`] checks the rules Graph documents and reports all
//!   problems at once, each with its path (`requestApprovalSettings.stages[0].fallbackPrimaryApprovers`).
//! - [`applicability`] decides which of a package's policies let a user request it, with Graph's
//!   priority categories, and builds `getApplicablePolicyRequirements` answers.
//!
//! Two settings Graph v1.0 lacks are kept from beta and the portal: `requestorSettings.acceptRequests`
//! (the portal's "Enable new requests and assignments"; `false` refuses new requests and direct
//! assignments through the policy) and the flat `accessPackageId` instead of the `accessPackage`
//! navigation property.

use crate::id::{AccessPackageId, PolicyId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::duration::Duration;
use crate::error::DomainError;

pub mod applicability;
pub mod question;
pub mod schedule;
pub mod subject;
mod validate;

pub use applicability::{
    Applicability, ApplicablePolicy, ApplicablePolicyRequirements, ConnectedOrganizationFacts,
    ConnectedOrganizationState, PolicyPriority, RequestAction, SubjectFacts,
};
pub use question::{
    AccessPackageAnswerChoice, AccessPackageAnswerString, AccessPackageLocalizedText, AccessPackageQuestion,
    AnswerMode, QuestionKind,
};
pub use schedule::{
    EntitlementManagementSchedule, ExpirationPattern, ExpirationPatternType, PatternedRecurrence,
};
pub use subject::SubjectSet;
pub use validate::check_expiration;

/// `allowedTargetScope`: who may be assigned the package through the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AllowedTargetScope {
    /// Nobody may request: a direct-assignment-only policy.
    #[default]
    NotSpecified,
    /// The users and group members named in `specificAllowedTargets`.
    SpecificDirectoryUsers,
    /// The users of the connected organizations named in `specificAllowedTargets`.
    SpecificConnectedOrganizationUsers,
    /// The service principals named in `specificAllowedTargets`.
    SpecificDirectoryServicePrincipals,
    /// Every member user of the directory, guests excluded.
    AllMemberUsers,
    /// Every user of the directory, guests included.
    AllDirectoryUsers,
    AllDirectoryServicePrincipals,
    /// Users of every connected organization in the `configured` state.
    AllConfiguredConnectedOrganizationUsers,
    /// Any user outside the directory; unknown organizations become `proposed` connected organizations.
    AllExternalUsers,
    AllDirectoryAgentIdentities,
}

impl AllowedTargetScope {
    /// Graph's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotSpecified => "notSpecified",
            Self::SpecificDirectoryUsers => "specificDirectoryUsers",
            Self::SpecificConnectedOrganizationUsers => "specificConnectedOrganizationUsers",
            Self::SpecificDirectoryServicePrincipals => "specificDirectoryServicePrincipals",
            Self::AllMemberUsers => "allMemberUsers",
            Self::AllDirectoryUsers => "allDirectoryUsers",
            Self::AllDirectoryServicePrincipals => "allDirectoryServicePrincipals",
            Self::AllConfiguredConnectedOrganizationUsers => "allConfiguredConnectedOrganizationUsers",
            Self::AllExternalUsers => "allExternalUsers",
            Self::AllDirectoryAgentIdentities => "allDirectoryAgentIdentities",
        }
    }

    /// Scopes for users not in the directory: connected organizations and external users.
    #[must_use]
    pub fn is_external(self) -> bool {
        matches!(
            self,
            Self::SpecificConnectedOrganizationUsers
                | Self::AllConfiguredConnectedOrganizationUsers
                | Self::AllExternalUsers
        )
    }

    /// Scopes for service principals and agent identities rather than users.
    #[must_use]
    pub fn is_service_principal(self) -> bool {
        matches!(
            self,
            Self::SpecificDirectoryServicePrincipals
                | Self::AllDirectoryServicePrincipals
                | Self::AllDirectoryAgentIdentities
        )
    }

    /// Scopes whose principals are listed in `specificAllowedTargets`.
    #[must_use]
    pub fn is_specific(self) -> bool {
        matches!(
            self,
            Self::SpecificDirectoryUsers
                | Self::SpecificConnectedOrganizationUsers
                | Self::SpecificDirectoryServicePrincipals
        )
    }
}

/// `accessPackageAssignmentRequestorSettings`: who can create requests through the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestorSettings {
    /// Beta's name for the portal's "Enable new requests and assignments" (not in Graph v1.0).
    #[serde(default = "yes")]
    pub accept_requests: bool,
    #[serde(default)]
    pub enable_targets_to_self_add_access: bool,
    #[serde(default)]
    pub enable_targets_to_self_update_access: bool,
    #[serde(default)]
    pub enable_targets_to_self_remove_access: bool,
    /// `false`: a request may not name its own schedule.
    #[serde(default)]
    pub allow_custom_assignment_schedule: bool,
    #[serde(default)]
    pub enable_on_behalf_requestors_to_add_access: bool,
    #[serde(default)]
    pub enable_on_behalf_requestors_to_update_access: bool,
    #[serde(default)]
    pub enable_on_behalf_requestors_to_remove_access: bool,
    /// Who may request for others: `targetManager`, `singleUser`, `groupMembers`.
    #[serde(default)]
    pub on_behalf_requestors: Vec<SubjectSet>,
}

impl Default for RequestorSettings {
    fn default() -> Self {
        Self {
            accept_requests: true,
            enable_targets_to_self_add_access: false,
            enable_targets_to_self_update_access: false,
            enable_targets_to_self_remove_access: false,
            allow_custom_assignment_schedule: false,
            enable_on_behalf_requestors_to_add_access: false,
            enable_on_behalf_requestors_to_update_access: false,
            enable_on_behalf_requestors_to_remove_access: false,
            on_behalf_requestors: Vec::new(),
        }
    }
}

impl RequestorSettings {
    /// Whether any self or on-behalf request is enabled.
    #[must_use]
    pub fn any_request_enabled(&self) -> bool {
        self.enable_targets_to_self_add_access
            || self.enable_targets_to_self_update_access
            || self.enable_targets_to_self_remove_access
            || self.enable_on_behalf_requestors_to_add_access
            || self.enable_on_behalf_requestors_to_update_access
            || self.enable_on_behalf_requestors_to_remove_access
    }

    /// Whether targets may make this kind of request for themselves.
    #[must_use]
    pub fn self_enabled(&self, action: RequestAction) -> bool {
        match action {
            RequestAction::Add => self.enable_targets_to_self_add_access,
            RequestAction::Update => self.enable_targets_to_self_update_access,
            RequestAction::Remove => self.enable_targets_to_self_remove_access,
        }
    }

    /// Whether on-behalf requestors may make this kind of request for others.
    #[must_use]
    pub fn on_behalf_enabled(&self, action: RequestAction) -> bool {
        match action {
            RequestAction::Add => self.enable_on_behalf_requestors_to_add_access,
            RequestAction::Update => self.enable_on_behalf_requestors_to_update_access,
            RequestAction::Remove => self.enable_on_behalf_requestors_to_remove_access,
        }
    }
}

/// `approverInformationVisibility`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum ApproverInformationVisibility {
    #[default]
    Default,
    NotVisible,
    Visible,
}

/// `accessPackageApprovalStage`: one stage of approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageApprovalStage {
    /// How long the stage may wait for a decision before the request is denied (portal default `P14D`).
    #[serde(default = "fourteen_days")]
    pub duration_before_automatic_denial: Duration,
    #[serde(default)]
    pub is_approver_justification_required: bool,
    /// Whether alternate (escalation) approvers take over after `durationBeforeEscalation`.
    #[serde(default)]
    pub is_escalation_enabled: bool,
    /// `PT0S` when escalation is off.
    #[serde(default)]
    pub duration_before_escalation: Duration,
    #[serde(default)]
    pub primary_approvers: Vec<SubjectSet>,
    /// Who decides when the primary approvers resolve to nobody (no manager, say).
    #[serde(default)]
    pub fallback_primary_approvers: Vec<SubjectSet>,
    #[serde(default)]
    pub escalation_approvers: Vec<SubjectSet>,
    #[serde(default)]
    pub fallback_escalation_approvers: Vec<SubjectSet>,
    #[serde(default)]
    pub approver_information_visibility: ApproverInformationVisibility,
}

fn fourteen_days() -> Duration {
    Duration::days(14)
}

impl Default for AccessPackageApprovalStage {
    fn default() -> Self {
        Self {
            duration_before_automatic_denial: fourteen_days(),
            is_approver_justification_required: false,
            is_escalation_enabled: false,
            duration_before_escalation: Duration::ZERO,
            primary_approvers: Vec::new(),
            fallback_primary_approvers: Vec::new(),
            escalation_approvers: Vec::new(),
            fallback_escalation_approvers: Vec::new(),
            approver_information_visibility: ApproverInformationVisibility::Default,
        }
    }
}

/// `accessPackageAssignmentApprovalSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalSettings {
    #[serde(default)]
    pub is_approval_required_for_add: bool,
    #[serde(default)]
    pub is_approval_required_for_update: bool,
    #[serde(default)]
    pub is_requestor_justification_required: bool,
    /// 1 to 3 stages when approval is required, none otherwise.
    #[serde(default)]
    pub stages: Vec<AccessPackageApprovalStage>,
}

impl ApprovalSettings {
    /// Whether any approval is required.
    #[must_use]
    pub fn is_approval_required(&self) -> bool {
        self.is_approval_required_for_add || self.is_approval_required_for_update
    }
}

/// `accessPackageAutomaticRequestSettings`: present on auto-assignment policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutomaticRequestSettings {
    /// Create assignments for every user the rule selects.
    #[serde(default)]
    pub request_access_for_allowed_targets: bool,
    /// Remove them when a user stops matching.
    #[serde(default)]
    pub remove_access_when_target_leaves_allowed_targets: bool,
    /// How long access stays after the user stops matching.
    #[serde(default)]
    pub grace_period_before_access_removal: Option<Duration>,
}

/// `accessReviewExpirationBehavior`: what happens to an assignment nobody reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AccessReviewExpirationBehavior {
    #[default]
    KeepAccess,
    RemoveAccess,
    AcceptAccessRecommendation,
}

/// `accessPackageAssignmentReviewSettings`: recurring reviews of the policy's assignments.
/// Stored as Graph has them; [`crate::review`] runs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSettings {
    #[serde(default)]
    pub is_enabled: bool,
    #[serde(default)]
    pub schedule: Option<EntitlementManagementSchedule>,
    #[serde(default)]
    pub primary_reviewers: Vec<SubjectSet>,
    #[serde(default)]
    pub fallback_reviewers: Vec<SubjectSet>,
    #[serde(default)]
    pub is_self_review: bool,
    #[serde(default)]
    pub expiration_behavior: AccessReviewExpirationBehavior,
    #[serde(default = "yes")]
    pub is_recommendation_enabled: bool,
    #[serde(default = "yes")]
    pub is_reviewer_justification_required: bool,
}

/// `accessPackageNotificationSettings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSettings {
    #[serde(default)]
    pub is_assignment_notification_disabled: bool,
}

fn yes() -> bool {
    true
}

/// An assignment policy of an access package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageAssignmentPolicy {
    pub id: PolicyId,
    pub access_package_id: AccessPackageId,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_target_scope: AllowedTargetScope,
    #[serde(default)]
    pub specific_allowed_targets: Vec<SubjectSet>,
    /// Present on an auto-assignment policy, absent on a request-based one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_request_settings: Option<AutomaticRequestSettings>,
    #[serde(default)]
    pub expiration: ExpirationPattern,
    #[serde(default)]
    pub requestor_settings: RequestorSettings,
    #[serde(default)]
    pub request_approval_settings: ApprovalSettings,
    #[serde(default)]
    pub review_settings: Option<ReviewSettings>,
    #[serde(default)]
    pub notification_settings: Option<NotificationSettings>,
    #[serde(default)]
    pub questions: Vec<AccessPackageQuestion>,
    /// The catalog's custom extensions called at stages of requests and assignments (checked
    /// against the catalog's extensions by [`crate::extension::check_stage_settings`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_extension_stage_settings: Vec<crate::extension::CustomExtensionStageSetting>,
    pub created_date_time: DateTime<Utc>,
    pub modified_date_time: DateTime<Utc>,
}

/// What an administrator gives to create a policy, or to replace one (Graph updates policies
/// with `PUT`, the whole object). Deserializes from Graph's JSON after [`normalize_graph_json`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInput {
    pub access_package_id: AccessPackageId,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_target_scope: AllowedTargetScope,
    #[serde(default)]
    pub specific_allowed_targets: Vec<SubjectSet>,
    #[serde(default)]
    pub automatic_request_settings: Option<AutomaticRequestSettings>,
    #[serde(default)]
    pub expiration: ExpirationPattern,
    #[serde(default)]
    pub requestor_settings: RequestorSettings,
    #[serde(default)]
    pub request_approval_settings: ApprovalSettings,
    #[serde(default)]
    pub review_settings: Option<ReviewSettings>,
    #[serde(default)]
    pub notification_settings: Option<NotificationSettings>,
    #[serde(default)]
    pub questions: Vec<AccessPackageQuestion>,
    /// The catalog's custom extensions called at stages of requests and assignments (checked
    /// against the catalog's extensions by [`crate::extension::check_stage_settings`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_extension_stage_settings: Vec<crate::extension::CustomExtensionStageSetting>,
}

const QUESTION_NAMESPACE: Uuid = Uuid::from_u128(0x8a3c_61f2_0d7e_4b59_a1c4_2e6f_9b0d_7c35);

impl AccessPackageAssignmentPolicy {
    /// Builds and validates a new policy. Questions without an id get one derived from the policy
    /// id and their position, so the same input always produces the same policy.
    pub fn create(id: PolicyId, input: PolicyInput, now: DateTime<Utc>) -> Result<Self, DomainError> {
        let policy = Self::assemble(id, input, now, now);
        policy.validate()?;
        Ok(policy)
    }

    /// Replaces the whole policy (Graph's `PUT`), keeping its id, package and creation time.
    pub fn replace(&self, input: PolicyInput, now: DateTime<Utc>) -> Result<Self, DomainError> {
        if input.access_package_id != self.access_package_id {
            return Err(DomainError::invalid(
                "accessPackageId",
                "a policy cannot move to another access package; create a policy there instead",
            ));
        }
        let policy = Self::assemble(self.id.clone(), input, self.created_date_time, now);
        policy.validate()?;
        Ok(policy)
    }

    /// A policy for users not in the directory lives only in a catalog enabled for external
    /// users.
    pub fn check_catalog(&self, catalog: &crate::catalog::AccessPackageCatalog) -> Result<(), DomainError> {
        if self.allowed_target_scope.is_external() && !catalog.is_externally_visible {
            return Err(DomainError::invalid(
                "allowedTargetScope",
                format!(
                    "`{}` covers users not in the directory, and catalog `{}` is not enabled for external users; set its `isExternallyVisible` first",
                    self.allowed_target_scope.as_str(),
                    catalog.display_name
                ),
            ));
        }
        Ok(())
    }

    fn assemble(id: PolicyId, input: PolicyInput, created: DateTime<Utc>, modified: DateTime<Utc>) -> Self {
        let mut questions = input.questions;
        for (i, q) in questions.iter_mut().enumerate() {
            q.id = q.id.trim().to_owned();
            if q.id.is_empty() {
                q.id = Uuid::new_v5(&QUESTION_NAMESPACE, format!("{id}|{i}").as_bytes()).to_string();
            }
        }
        Self {
            id,
            access_package_id: input.access_package_id,
            display_name: input.display_name.trim().to_owned(),
            description: input.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()),
            allowed_target_scope: input.allowed_target_scope,
            specific_allowed_targets: input.specific_allowed_targets,
            automatic_request_settings: input.automatic_request_settings,
            expiration: input.expiration,
            requestor_settings: input.requestor_settings,
            request_approval_settings: input.request_approval_settings,
            review_settings: input.review_settings,
            notification_settings: input.notification_settings,
            questions,
            custom_extension_stage_settings: input.custom_extension_stage_settings,
            created_date_time: created,
            modified_date_time: modified,
        }
    }

    /// Whether this is an auto-assignment policy.
    #[must_use]
    pub fn is_automatic(&self) -> bool {
        self.automatic_request_settings.is_some()
    }

    /// Whether nobody can request through the policy: only administrators assign with it.
    #[must_use]
    pub fn is_direct_assignment_only(&self) -> bool {
        self.allowed_target_scope == AllowedTargetScope::NotSpecified
            && !self.requestor_settings.any_request_enabled()
            && !self.request_approval_settings.is_approval_required()
    }

    /// Whether a request of this kind goes through approval.
    #[must_use]
    pub fn is_approval_required(&self, action: RequestAction) -> bool {
        let a = &self.request_approval_settings;
        match action {
            RequestAction::Add => a.is_approval_required_for_add,
            RequestAction::Update => a.is_approval_required_for_update,
            RequestAction::Remove => false,
        }
    }

    /// A short label for messages: `policy `Sales reps` (`p1`)`.
    #[must_use]
    pub fn label(&self) -> String {
        format!("policy `{}`", self.display_name)
    }
}

/// Rewrites Graph's JSON into this model's: every `"@odata.type": "#microsoft.graph.x"` becomes
/// `"type": "x"` (unless the object already has a `type`), and `"accessPackage": {"id": ...}`
/// becomes `"accessPackageId"`. Call it on a Graph policy or request body before deserializing.
pub fn normalize_graph_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(odata)) = map.remove("@odata.type")
                && !map.contains_key("type")
            {
                let name = odata.trim_start_matches('#').trim_start_matches("microsoft.graph.").to_owned();
                map.insert("type".to_owned(), Value::String(name));
            }
            if !map.contains_key("accessPackageId")
                && let Some(Value::Object(package)) = map.get("accessPackage")
                && let Some(id) = package.get("id").cloned()
            {
                map.remove("accessPackage");
                map.insert("accessPackageId".to_owned(), id);
            }
            map.values_mut().for_each(normalize_graph_json);
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_graph_json),
        _ => {}
    }
}

/// Parses a Graph-shaped policy body (with `@odata.type` tags) into a [`PolicyInput`].
pub fn policy_input_from_graph_json(mut value: Value) -> Result<PolicyInput, DomainError> {
    normalize_graph_json(&mut value);
    serde_json::from_value(value)
        .map_err(|e| DomainError::invalid("policy", format!("the policy is malformed: {e}")))
}

#[cfg(test)]
mod tests;
