//! Events: what happened, who did it, when, and why. One event is written in the same
//! transaction as the change it describes, so the event log is both the feed that live
//! subscriptions read and the audit trail.

use crate::id::{AccessPackageId, CatalogId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;

/// What happened: one kind per change the engine makes, shared by the code that writes events
/// and every reader (subscriptions, the audit trail). Stored and shown as `<object>.<verb>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    /// A catalog was created.
    #[serde(rename = "catalog.created")]
    CatalogCreated,
    /// A catalog was edited.
    #[serde(rename = "catalog.updated")]
    CatalogUpdated,
    /// A catalog was deleted.
    #[serde(rename = "catalog.deleted")]
    CatalogDeleted,
    /// A resource was added to a catalog.
    #[serde(rename = "catalog.resourceAdded")]
    CatalogResourceAdded,
    /// A resource was removed from a catalog.
    #[serde(rename = "catalog.resourceRemoved")]
    CatalogResourceRemoved,
    #[serde(rename = "accessPackage.created")]
    AccessPackageCreated,
    #[serde(rename = "accessPackage.updated")]
    AccessPackageUpdated,
    #[serde(rename = "accessPackage.deleted")]
    AccessPackageDeleted,
    /// A resource role was added to an access package.
    #[serde(rename = "accessPackage.resourceRoleScopeAdded")]
    ResourceRoleScopeAdded,
    /// A resource role was removed from an access package.
    #[serde(rename = "accessPackage.resourceRoleScopeRemoved")]
    ResourceRoleScopeRemoved,
    #[serde(rename = "accessPackage.incompatibleAccessPackageAdded")]
    IncompatibleAccessPackageAdded,
    #[serde(rename = "accessPackage.incompatibleGroupAdded")]
    IncompatibleGroupAdded,
    #[serde(rename = "accessPackage.incompatibilityRemoved")]
    IncompatibilityRemoved,
    #[serde(rename = "assignmentPolicy.created")]
    AssignmentPolicyCreated,
    #[serde(rename = "assignmentPolicy.updated")]
    AssignmentPolicyUpdated,
    #[serde(rename = "assignmentPolicy.deleted")]
    AssignmentPolicyDeleted,
    /// A request was submitted (the event carries it).
    #[serde(rename = "assignmentRequest.created")]
    RequestCreated,
    /// A request's state or status changed (the event carries it).
    #[serde(rename = "assignmentRequest.stateChanged")]
    RequestStateChanged,
    /// A request changed otherwise (the event carries it).
    #[serde(rename = "assignmentRequest.updated")]
    RequestUpdated,
    /// A stage opened for approvers, or escalated to more of them (its audience).
    #[serde(rename = "approvalStage.assigned")]
    ApprovalStageAssigned,
    /// A stage was taken from its approvers: decided, canceled, timed out.
    #[serde(rename = "approvalStage.removed")]
    ApprovalStageRemoved,
    #[serde(rename = "assignment.created")]
    AssignmentCreated,
    #[serde(rename = "assignment.stateChanged")]
    AssignmentStateChanged,
    #[serde(rename = "assignment.updated")]
    AssignmentUpdated,
    /// An assignment ends soon (14 days, then 1 day before): its holder is reminded.
    #[serde(rename = "assignment.expiryReminder")]
    AssignmentExpiryReminder,
    /// A user left an auto-assignment policy's scope: their assignment ends after the grace period.
    #[serde(rename = "autoAssignment.removalScheduled")]
    AutoRemovalScheduled,
    /// A user came back into scope before the grace period ended.
    #[serde(rename = "autoAssignment.removalCanceled")]
    AutoRemovalCanceled,
    #[serde(rename = "roleAssignment.created")]
    RoleAssignmentCreated,
    #[serde(rename = "roleAssignment.deleted")]
    RoleAssignmentDeleted,
    #[serde(rename = "directory.imported")]
    DirectoryImported,
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    #[serde(rename = "group.created")]
    GroupCreated,
    #[serde(rename = "group.updated")]
    GroupUpdated,
    #[serde(rename = "group.deleted")]
    GroupDeleted,
    #[serde(rename = "group.memberAdded")]
    GroupMemberAdded,
    #[serde(rename = "group.memberRemoved")]
    GroupMemberRemoved,
    #[serde(rename = "group.ownerAdded")]
    GroupOwnerAdded,
    #[serde(rename = "group.ownerRemoved")]
    GroupOwnerRemoved,
    #[serde(rename = "connectedOrganization.created")]
    ConnectedOrganizationCreated,
    /// Its properties, identity sources or sponsors changed.
    #[serde(rename = "connectedOrganization.updated")]
    ConnectedOrganizationUpdated,
    #[serde(rename = "connectedOrganization.deleted")]
    ConnectedOrganizationDeleted,
    /// The tenant's entitlement-management settings changed.
    #[serde(rename = "settings.updated")]
    SettingsUpdated,
    /// Entitlement management invited a guest for an approved outsider.
    #[serde(rename = "externalUser.created")]
    ExternalUserCreated,
    /// A guest signed in for the first time: their invitation is accepted.
    #[serde(rename = "externalUser.invitationAccepted")]
    ExternalUserInvitationAccepted,
    /// A guest lost their last assignment: sign-in blocked (their deletion scheduled, if so set).
    #[serde(rename = "externalUser.blocked")]
    ExternalUserBlocked,
    /// A blocked guest got an assignment again: sign-in allowed, deletion canceled.
    #[serde(rename = "externalUser.unblocked")]
    ExternalUserUnblocked,
    /// A blocked guest was deleted with their memberships.
    #[serde(rename = "externalUser.deleted")]
    ExternalUserDeleted,
    /// A review of a policy's assignments started (addressed to its reviewers).
    #[serde(rename = "accessReview.started")]
    AccessReviewStarted,
    /// A review ends in a day (addressed to the reviewers with items not decided).
    #[serde(rename = "accessReview.endingSoon")]
    AccessReviewEndingSoon,
    /// A review ended (at its end time, or stopped).
    #[serde(rename = "accessReview.completed")]
    AccessReviewCompleted,
    /// A review's results were applied.
    #[serde(rename = "accessReview.applied")]
    AccessReviewApplied,
    /// A reviewer recorded a decision.
    #[serde(rename = "accessReview.decisionRecorded")]
    AccessReviewDecisionRecorded,
    #[serde(rename = "customExtension.created")]
    CustomExtensionCreated,
    #[serde(rename = "customExtension.updated")]
    CustomExtensionUpdated,
    #[serde(rename = "customExtension.deleted")]
    CustomExtensionDeleted,
    /// A custom extension's endpoint accepted a call.
    #[serde(rename = "customExtension.calloutSent")]
    CustomExtensionCalloutSent,
    /// A call failed after its retries (the error in the reason).
    #[serde(rename = "customExtension.calloutFailed")]
    CustomExtensionCalloutFailed,
    /// A launch-and-wait extension resumed its request.
    #[serde(rename = "customExtension.callbackReceived")]
    CustomExtensionCallbackReceived,
    /// A launch-and-wait extension did not call back in time: its request failed.
    #[serde(rename = "customExtension.callbackTimedOut")]
    CustomExtensionCallbackTimedOut,
}

/// What an event is about, by kind: the area decides who may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventArea {
    Catalog,
    Request,
    Assignment,
    Directory,
}

impl EventKind {
    pub const ALL: [Self; 61] = [
        Self::CatalogCreated,
        Self::CatalogUpdated,
        Self::CatalogDeleted,
        Self::CatalogResourceAdded,
        Self::CatalogResourceRemoved,
        Self::AccessPackageCreated,
        Self::AccessPackageUpdated,
        Self::AccessPackageDeleted,
        Self::ResourceRoleScopeAdded,
        Self::ResourceRoleScopeRemoved,
        Self::IncompatibleAccessPackageAdded,
        Self::IncompatibleGroupAdded,
        Self::IncompatibilityRemoved,
        Self::AssignmentPolicyCreated,
        Self::AssignmentPolicyUpdated,
        Self::AssignmentPolicyDeleted,
        Self::RequestCreated,
        Self::RequestStateChanged,
        Self::RequestUpdated,
        Self::ApprovalStageAssigned,
        Self::ApprovalStageRemoved,
        Self::AssignmentCreated,
        Self::AssignmentStateChanged,
        Self::AssignmentUpdated,
        Self::AssignmentExpiryReminder,
        Self::AutoRemovalScheduled,
        Self::AutoRemovalCanceled,
        Self::RoleAssignmentCreated,
        Self::RoleAssignmentDeleted,
        Self::DirectoryImported,
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDeleted,
        Self::GroupCreated,
        Self::GroupUpdated,
        Self::GroupDeleted,
        Self::GroupMemberAdded,
        Self::GroupMemberRemoved,
        Self::GroupOwnerAdded,
        Self::GroupOwnerRemoved,
        Self::ConnectedOrganizationCreated,
        Self::ConnectedOrganizationUpdated,
        Self::ConnectedOrganizationDeleted,
        Self::SettingsUpdated,
        Self::ExternalUserCreated,
        Self::ExternalUserInvitationAccepted,
        Self::ExternalUserBlocked,
        Self::ExternalUserUnblocked,
        Self::ExternalUserDeleted,
        Self::AccessReviewStarted,
        Self::AccessReviewEndingSoon,
        Self::AccessReviewCompleted,
        Self::AccessReviewApplied,
        Self::AccessReviewDecisionRecorded,
        Self::CustomExtensionCreated,
        Self::CustomExtensionUpdated,
        Self::CustomExtensionDeleted,
        Self::CustomExtensionCalloutSent,
        Self::CustomExtensionCalloutFailed,
        Self::CustomExtensionCallbackReceived,
        Self::CustomExtensionCallbackTimedOut,
    ];

    /// `<object>.<verb>`, as stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CatalogCreated => "catalog.created",
            Self::CatalogUpdated => "catalog.updated",
            Self::CatalogDeleted => "catalog.deleted",
            Self::CatalogResourceAdded => "catalog.resourceAdded",
            Self::CatalogResourceRemoved => "catalog.resourceRemoved",
            Self::AccessPackageCreated => "accessPackage.created",
            Self::AccessPackageUpdated => "accessPackage.updated",
            Self::AccessPackageDeleted => "accessPackage.deleted",
            Self::ResourceRoleScopeAdded => "accessPackage.resourceRoleScopeAdded",
            Self::ResourceRoleScopeRemoved => "accessPackage.resourceRoleScopeRemoved",
            Self::IncompatibleAccessPackageAdded => "accessPackage.incompatibleAccessPackageAdded",
            Self::IncompatibleGroupAdded => "accessPackage.incompatibleGroupAdded",
            Self::IncompatibilityRemoved => "accessPackage.incompatibilityRemoved",
            Self::AssignmentPolicyCreated => "assignmentPolicy.created",
            Self::AssignmentPolicyUpdated => "assignmentPolicy.updated",
            Self::AssignmentPolicyDeleted => "assignmentPolicy.deleted",
            Self::RequestCreated => "assignmentRequest.created",
            Self::RequestStateChanged => "assignmentRequest.stateChanged",
            Self::RequestUpdated => "assignmentRequest.updated",
            Self::ApprovalStageAssigned => "approvalStage.assigned",
            Self::ApprovalStageRemoved => "approvalStage.removed",
            Self::AssignmentCreated => "assignment.created",
            Self::AssignmentStateChanged => "assignment.stateChanged",
            Self::AssignmentUpdated => "assignment.updated",
            Self::AssignmentExpiryReminder => "assignment.expiryReminder",
            Self::AutoRemovalScheduled => "autoAssignment.removalScheduled",
            Self::AutoRemovalCanceled => "autoAssignment.removalCanceled",
            Self::RoleAssignmentCreated => "roleAssignment.created",
            Self::RoleAssignmentDeleted => "roleAssignment.deleted",
            Self::DirectoryImported => "directory.imported",
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDeleted => "user.deleted",
            Self::GroupCreated => "group.created",
            Self::GroupUpdated => "group.updated",
            Self::GroupDeleted => "group.deleted",
            Self::GroupMemberAdded => "group.memberAdded",
            Self::GroupMemberRemoved => "group.memberRemoved",
            Self::GroupOwnerAdded => "group.ownerAdded",
            Self::GroupOwnerRemoved => "group.ownerRemoved",
            Self::ConnectedOrganizationCreated => "connectedOrganization.created",
            Self::ConnectedOrganizationUpdated => "connectedOrganization.updated",
            Self::ConnectedOrganizationDeleted => "connectedOrganization.deleted",
            Self::SettingsUpdated => "settings.updated",
            Self::ExternalUserCreated => "externalUser.created",
            Self::ExternalUserInvitationAccepted => "externalUser.invitationAccepted",
            Self::ExternalUserBlocked => "externalUser.blocked",
            Self::ExternalUserUnblocked => "externalUser.unblocked",
            Self::ExternalUserDeleted => "externalUser.deleted",
            Self::AccessReviewStarted => "accessReview.started",
            Self::AccessReviewEndingSoon => "accessReview.endingSoon",
            Self::AccessReviewCompleted => "accessReview.completed",
            Self::AccessReviewApplied => "accessReview.applied",
            Self::AccessReviewDecisionRecorded => "accessReview.decisionRecorded",
            Self::CustomExtensionCreated => "customExtension.created",
            Self::CustomExtensionUpdated => "customExtension.updated",
            Self::CustomExtensionDeleted => "customExtension.deleted",
            Self::CustomExtensionCalloutSent => "customExtension.calloutSent",
            Self::CustomExtensionCalloutFailed => "customExtension.calloutFailed",
            Self::CustomExtensionCallbackReceived => "customExtension.callbackReceived",
            Self::CustomExtensionCallbackTimedOut => "customExtension.callbackTimedOut",
        }
    }

    /// What the event is about.
    #[must_use]
    pub fn area(self) -> EventArea {
        match self {
            Self::RequestCreated
            | Self::RequestStateChanged
            | Self::RequestUpdated
            | Self::ApprovalStageAssigned
            | Self::ApprovalStageRemoved
            | Self::CustomExtensionCalloutSent
            | Self::CustomExtensionCalloutFailed
            | Self::CustomExtensionCallbackReceived
            | Self::CustomExtensionCallbackTimedOut => EventArea::Request,
            Self::AssignmentCreated
            | Self::AssignmentStateChanged
            | Self::AssignmentUpdated
            | Self::AssignmentExpiryReminder
            | Self::AutoRemovalScheduled
            | Self::AutoRemovalCanceled => EventArea::Assignment,
            Self::DirectoryImported
            | Self::UserCreated
            | Self::UserUpdated
            | Self::UserDeleted
            | Self::GroupCreated
            | Self::GroupUpdated
            | Self::GroupDeleted
            | Self::GroupMemberAdded
            | Self::GroupMemberRemoved
            | Self::GroupOwnerAdded
            | Self::GroupOwnerRemoved
            | Self::ConnectedOrganizationCreated
            | Self::ConnectedOrganizationUpdated
            | Self::ConnectedOrganizationDeleted
            | Self::SettingsUpdated
            | Self::ExternalUserCreated
            | Self::ExternalUserInvitationAccepted
            | Self::ExternalUserBlocked
            | Self::ExternalUserUnblocked
            | Self::ExternalUserDeleted => EventArea::Directory,
            _ => EventArea::Catalog,
        }
    }

    /// Whether this is a change of an approval stage (for approvers' notifications).
    #[must_use]
    pub fn is_approval_stage(self) -> bool {
        matches!(self, Self::ApprovalStageAssigned | Self::ApprovalStageRemoved)
    }

    /// Whether this is a change of a request or an assignment (for assignment activity).
    #[must_use]
    pub fn is_request_or_assignment(self) -> bool {
        matches!(
            self,
            Self::RequestCreated
                | Self::RequestStateChanged
                | Self::RequestUpdated
                | Self::AssignmentCreated
                | Self::AssignmentStateChanged
                | Self::AssignmentUpdated
                | Self::AssignmentExpiryReminder
        )
    }

    /// Whether the kind starts with `prefix` (a subscriber's or the audit trail's filter:
    /// `catalog.`, `accessPackage.created`).
    #[must_use]
    pub fn starts_with(self, prefix: &str) -> bool {
        self.as_str().starts_with(prefix)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One fact in the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// Who did it (`system`, `local-operator` or `user:<id>`).
    pub actor: String,
    /// The acting user's object id, when a user acted.
    pub actor_id: Option<UserId>,
    pub occurred_date_time: DateTime<Utc>,
    /// The type and id of the object the event is about.
    pub subject_type: String,
    pub subject_id: String,
    /// The catalog and access package involved, for filtering and for administrators' feeds.
    pub catalog_id: Option<CatalogId>,
    pub access_package_id: Option<AccessPackageId>,
    /// The user the change is for (a request's target, an assignment's holder).
    pub target_id: Option<String>,
    /// Users who should hear about the event (approvers of a stage, requestor, target).
    #[serde(default)]
    pub audience: Vec<String>,
    /// The justification a person gave.
    pub justification: Option<String>,
    /// Why the engine did what it did, in words.
    pub reason: Option<String>,
    /// The changed object or other details, as JSON.
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Event {
    /// A new event about `subject_type`/`subject_id`, done by `actor` at `now`.
    #[must_use]
    pub fn new(
        id: String,
        kind: EventKind,
        actor: &Actor,
        now: DateTime<Utc>,
        subject_type: &str,
        subject_id: &str,
    ) -> Self {
        let actor_id = match actor {
            Actor::User { id } => Some(id.clone()),
            Actor::System | Actor::LocalOperator | Actor::External { .. } => None,
        };
        Self {
            id,
            kind,
            actor: actor.label(),
            actor_id,
            occurred_date_time: now,
            subject_type: subject_type.to_owned(),
            subject_id: subject_id.to_owned(),
            catalog_id: None,
            access_package_id: None,
            target_id: None,
            audience: Vec::new(),
            justification: None,
            reason: None,
            data: serde_json::Value::Null,
        }
    }

    #[must_use]
    pub fn in_catalog(mut self, catalog_id: &CatalogId) -> Self {
        self.catalog_id = Some(catalog_id.clone());
        self
    }

    #[must_use]
    pub fn for_package(mut self, access_package_id: &AccessPackageId) -> Self {
        self.access_package_id = Some(access_package_id.to_owned());
        self
    }

    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_record_the_acting_user() {
        let e = Event::new(
            "e".into(),
            EventKind::CatalogCreated,
            &Actor::User { id: "u".into() },
            DateTime::<Utc>::UNIX_EPOCH,
            "AccessPackageCatalog",
            "c",
        )
        .in_catalog(&CatalogId::new("c"));
        assert_eq!(e.actor, "user:u");
        assert_eq!(e.actor_id.as_deref(), Some("u"));
        assert_eq!(e.catalog_id.as_deref(), Some("c"));
    }

    #[test]
    fn kinds_are_stored_as_their_names() {
        for kind in EventKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::json!(kind.as_str()));
            assert_eq!(serde_json::from_value::<EventKind>(json).unwrap(), kind);
        }
        assert!(EventKind::ApprovalStageAssigned.starts_with("approvalStage."));
        assert_eq!(EventKind::RequestCreated.area(), EventArea::Request);
    }
}
