//! Assignment policies in GraphQL (`accessPackageAssignmentPolicy`), with every setting Graph
//! has, under Graph's names; and what the signed-in user may request.
//!
//! Graph's polymorphic `subjectSet` and `accessPackageQuestion` are objects with a `type` field
//! here (`singleUser`, `accessPackageTextInputQuestion`, ...) carrying the properties of every
//! subtype, the same shape in and out: a policy read from `assignmentPolicy` can be edited and
//! sent back to `updateAssignmentPolicy` as it is, and a Graph body translates field by field
//! (`"@odata.type": "#microsoft.graph.singleUser"` becomes `type: singleUser`). GraphQL has no
//! input unions, so a union on output would make the two directions differ.
//!
//! Durations are ISO 8601 strings (`P14D`), as in Graph. Inputs are lenient where the engine
//! is precise: omitted settings take Graph's defaults, and every problem (a bad duration, a
//! missing approver, a manager level of 3) comes back as `VALIDATION_FAILED` with the path of
//! the offending property in `extensions.field` and all of them in `extensions.problems`.
//!
//! The mutations also take a policy as Graph's JSON (`graphJson`), for pasting Graph examples.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use em_engine::DomainError;
use em_engine::duration::Duration;
use em_engine::error::Problems;
use em_engine::extension::{CustomExtensionStage, CustomExtensionStageSetting};
use em_engine::id::AccessPackageId;
use em_engine::policy::schedule::{
    DayOfWeek, PatternedRecurrence, RecurrencePattern, RecurrencePatternType, RecurrenceRange,
    RecurrenceRangeType, WeekIndex,
};
use em_engine::policy::{
    AccessPackageAnswerChoice, AccessPackageApprovalStage, AccessPackageLocalizedText, AccessPackageQuestion,
    AccessReviewExpirationBehavior, AllowedTargetScope, ApplicablePolicyRequirements, ApprovalSettings,
    ApproverInformationVisibility, AutomaticRequestSettings, EntitlementManagementSchedule,
    ExpirationPattern, ExpirationPatternType, NotificationSettings, PolicyInput, QuestionKind,
    RequestorSettings, ReviewSettings, SubjectSet,
};
use serde_json::Value;

use super::catalog::{AccessPackageCatalogNode, AccessPackageNode, DeleteByIdInput, DeletedPayload};
use super::directory::{GroupNode, UserNode};
use super::error::OrGraphql;
use super::node::{catalog_id, global_id, optional, package_id, policy_id};
use super::page::{self, Conn};
use super::{actor, services};
use crate::service::model::{PolicyFilter, StoredPolicy};

/// Declares a GraphQL enum mirroring an engine enum variant for variant (Graph's camelCase
/// spellings), with conversions both ways. The first variant is the default.
macro_rules! mirror_enum {
    ($(#[$meta:meta])* $name:ident = $graphql:literal <=> $engine:ident { $first:ident $(, $variant:ident)* $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
        #[graphql(name = $graphql, rename_items = "camelCase")]
        pub enum $name {
            #[default]
            $first,
            $($variant),*
        }

        impl From<$engine> for $name {
            fn from(value: $engine) -> Self {
                match value {
                    $engine::$first => Self::$first,
                    $($engine::$variant => Self::$variant),*
                }
            }
        }

        impl From<$name> for $engine {
            fn from(value: $name) -> Self {
                match value {
                    $name::$first => Self::$first,
                    $($name::$variant => Self::$variant),*
                }
            }
        }
    };
}

mirror_enum! {
    /// `allowedTargetScope`: who may be assigned the package through the policy.
    AllowedTargetScopeValue = "AllowedTargetScope" <=> AllowedTargetScope {
        NotSpecified, SpecificDirectoryUsers, SpecificConnectedOrganizationUsers,
        SpecificDirectoryServicePrincipals, AllMemberUsers, AllDirectoryUsers, AllDirectoryServicePrincipals,
        AllConfiguredConnectedOrganizationUsers, AllExternalUsers, AllDirectoryAgentIdentities,
    }
}

mirror_enum! {
    /// `approverInformationVisibility`.
    ApproverInformationVisibilityValue = "ApproverInformationVisibility" <=> ApproverInformationVisibility {
        Default, NotVisible, Visible,
    }
}

mirror_enum! {
    /// `expirationPatternType`.
    ExpirationPatternTypeValue = "ExpirationPatternType" <=> ExpirationPatternType {
        NotSpecified, NoExpiration, AfterDateTime, AfterDuration,
    }
}

mirror_enum! {
    /// `accessReviewExpirationBehavior`: what happens to an assignment nobody reviewed.
    AccessReviewExpirationBehaviorValue = "AccessReviewExpirationBehavior" <=> AccessReviewExpirationBehavior {
        KeepAccess, RemoveAccess, AcceptAccessRecommendation,
    }
}

mirror_enum! {
    /// `recurrencePatternType`.
    RecurrencePatternTypeValue = "RecurrencePatternType" <=> RecurrencePatternType {
        Daily, Weekly, AbsoluteMonthly, RelativeMonthly, AbsoluteYearly, RelativeYearly,
    }
}

mirror_enum! {
    /// `dayOfWeek`.
    DayOfWeekValue = "DayOfWeek" <=> DayOfWeek {
        Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday,
    }
}

mirror_enum! {
    /// `weekIndex`.
    WeekIndexValue = "WeekIndex" <=> WeekIndex { First, Second, Third, Fourth, Last }
}

mirror_enum! {
    /// `recurrenceRangeType`.
    RecurrenceRangeTypeValue = "RecurrenceRangeType" <=> RecurrenceRangeType { EndDate, NoEnd, Numbered }
}

mirror_enum! {
    /// `accessPackageCustomExtensionStage`: when a custom extension is called.
    CustomExtensionStageValue = "AccessPackageCustomExtensionStage" <=> CustomExtensionStage {
        AssignmentRequestCreated, AssignmentRequestApproved, AssignmentRequestGranted, AssignmentRequestRemoved,
        AssignmentFourteenDaysBeforeExpiration, AssignmentOneDayBeforeExpiration,
    }
}

/// `customExtensionStageSetting`: the catalog's custom extension a policy calls at a stage.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "CustomExtensionStageSetting", input_name = "CustomExtensionStageSettingInput")]
pub struct CustomExtensionStageSettingValue {
    pub stage: CustomExtensionStageValue,
    /// The extension (`CustomCalloutExtension:<id>` or its bare id).
    pub custom_extension_id: ID,
}

/// The subtype of a `subjectSet` (Graph's `@odata.type` without `#microsoft.graph.`).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(rename_items = "camelCase")]
pub enum SubjectSetType {
    /// A user (`userId`).
    SingleUser,
    /// The direct members of a group (`groupId`).
    GroupMembers,
    /// A service principal (`servicePrincipalId`).
    SingleServicePrincipal,
    /// The users of a connected organization (`connectedOrganizationId`).
    ConnectedOrganizationMembers,
    /// The users a dynamic membership rule selects (`membershipRule`): auto-assignment targets.
    AttributeRuleMembers,
    /// The requestor's manager (`managerLevel` 1) or the manager's manager (2), as approver or reviewer.
    RequestorManager,
    /// The target's manager (`managerLevel`), as on-behalf requestor.
    TargetManager,
    InternalSponsors,
    ExternalSponsors,
    TargetUserSponsors,
    TargetApplicationOwners,
}

/// The subtype of an `accessPackageQuestion`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(rename_items = "camelCase")]
pub enum AccessPackageQuestionType {
    /// Short (`isSingleLineQuestion`) or long text, optionally matching `regexPattern`.
    AccessPackageTextInputQuestion,
    /// One of `choices`, or several with `isMultipleSelectionAllowed`.
    AccessPackageMultipleChoiceQuestion,
}

/// `subjectSet`: a user, a group's members, the requestor's manager, ... `type` says which, and
/// only the properties of that subtype are set.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "SubjectSet", input_name = "SubjectSetInput", complex)]
pub struct SubjectSetValue {
    #[graphql(name = "type")]
    pub kind: SubjectSetType,
    /// `singleUser`.
    pub user_id: Option<String>,
    /// `groupMembers`.
    pub group_id: Option<String>,
    /// `singleServicePrincipal`.
    pub service_principal_id: Option<String>,
    /// `connectedOrganizationMembers`.
    pub connected_organization_id: Option<String>,
    /// `attributeRuleMembers`: a dynamic membership rule, `user.department -eq "Sales"`.
    pub membership_rule: Option<String>,
    /// `requestorManager` and `targetManager`: 1 (the manager, the default) or 2.
    pub manager_level: Option<i32>,
    pub description: Option<String>,
}

#[ComplexObject]
impl SubjectSetValue {
    /// The user a `singleUser` names.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserNode>> {
        match &self.user_id {
            Some(id) => super::directory::user_of(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The group a `groupMembers` names.
    async fn group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<GroupNode>> {
        match &self.group_id {
            Some(id) => Ok(services(ctx).group(&actor(ctx), id).await.gql()?.map(GroupNode)),
            None => Ok(None),
        }
    }
}

impl From<&SubjectSet> for SubjectSetValue {
    fn from(set: &SubjectSet) -> Self {
        use SubjectSet as S;
        use SubjectSetType as T;
        let of = |kind: SubjectSetType| Self {
            kind,
            user_id: None,
            group_id: None,
            service_principal_id: None,
            connected_organization_id: None,
            membership_rule: None,
            manager_level: None,
            description: None,
        };
        match set.clone() {
            S::SingleUser { user_id, description } => {
                Self { user_id: Some(user_id), description, ..of(T::SingleUser) }
            }
            S::GroupMembers { group_id, description } => {
                Self { group_id: Some(group_id), description, ..of(T::GroupMembers) }
            }
            S::SingleServicePrincipal { service_principal_id, description } => Self {
                service_principal_id: Some(service_principal_id),
                description,
                ..of(T::SingleServicePrincipal)
            },
            S::ConnectedOrganizationMembers { connected_organization_id, description } => Self {
                connected_organization_id: Some(connected_organization_id),
                description,
                ..of(T::ConnectedOrganizationMembers)
            },
            S::AttributeRuleMembers { membership_rule, description } => {
                Self { membership_rule: Some(membership_rule), description, ..of(T::AttributeRuleMembers) }
            }
            S::RequestorManager { manager_level } => {
                Self { manager_level: Some(manager_level), ..of(T::RequestorManager) }
            }
            S::TargetManager { manager_level } => {
                Self { manager_level: Some(manager_level), ..of(T::TargetManager) }
            }
            S::InternalSponsors => of(T::InternalSponsors),
            S::ExternalSponsors => of(T::ExternalSponsors),
            S::TargetUserSponsors => of(T::TargetUserSponsors),
            S::TargetApplicationOwners => of(T::TargetApplicationOwners),
        }
    }
}

fn subject_sets(sets: &[SubjectSet]) -> Vec<SubjectSetValue> {
    sets.iter().map(SubjectSetValue::from).collect()
}

/// `expirationPattern`: when assignments end.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "ExpirationPattern", input_name = "ExpirationPatternInput")]
pub struct ExpirationPatternValue {
    /// `afterDateTime` uses `endDateTime`, `afterDuration` uses `duration`.
    #[graphql(name = "type")]
    pub kind: ExpirationPatternTypeValue,
    pub end_date_time: Option<DateTime<Utc>>,
    /// ISO 8601: `P30D`, `PT8H` (1 hour to 3,660 days).
    pub duration: Option<String>,
}

impl From<&ExpirationPattern> for ExpirationPatternValue {
    fn from(e: &ExpirationPattern) -> Self {
        Self {
            kind: e.kind.into(),
            end_date_time: e.end_date_time,
            duration: e.duration.map(|d| d.to_string()),
        }
    }
}

/// `accessPackageAssignmentRequestorSettings`: who may request, for whom, and how.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(
    name = "AccessPackageAssignmentRequestorSettings",
    input_name = "AccessPackageAssignmentRequestorSettingsInput"
)]
pub struct RequestorSettingsValue {
    /// `false` refuses new requests and direct assignments through the policy (the portal's
    /// "Enable new requests and assignments"; beta's name, not in Graph v1.0).
    #[graphql(default = true)]
    pub accept_requests: bool,
    #[graphql(default)]
    pub enable_targets_to_self_add_access: bool,
    #[graphql(default)]
    pub enable_targets_to_self_update_access: bool,
    #[graphql(default)]
    pub enable_targets_to_self_remove_access: bool,
    /// Whether a request may name its own schedule.
    #[graphql(default)]
    pub allow_custom_assignment_schedule: bool,
    #[graphql(default)]
    pub enable_on_behalf_requestors_to_add_access: bool,
    #[graphql(default)]
    pub enable_on_behalf_requestors_to_update_access: bool,
    #[graphql(default)]
    pub enable_on_behalf_requestors_to_remove_access: bool,
    /// `targetManager`, `singleUser` or `groupMembers`.
    #[graphql(default)]
    pub on_behalf_requestors: Vec<SubjectSetValue>,
}

impl From<&RequestorSettings> for RequestorSettingsValue {
    fn from(r: &RequestorSettings) -> Self {
        Self {
            accept_requests: r.accept_requests,
            enable_targets_to_self_add_access: r.enable_targets_to_self_add_access,
            enable_targets_to_self_update_access: r.enable_targets_to_self_update_access,
            enable_targets_to_self_remove_access: r.enable_targets_to_self_remove_access,
            allow_custom_assignment_schedule: r.allow_custom_assignment_schedule,
            enable_on_behalf_requestors_to_add_access: r.enable_on_behalf_requestors_to_add_access,
            enable_on_behalf_requestors_to_update_access: r.enable_on_behalf_requestors_to_update_access,
            enable_on_behalf_requestors_to_remove_access: r.enable_on_behalf_requestors_to_remove_access,
            on_behalf_requestors: subject_sets(&r.on_behalf_requestors),
        }
    }
}

/// `accessPackageApprovalStage`: one stage of approval.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "AccessPackageApprovalStage", input_name = "AccessPackageApprovalStageInput")]
pub struct ApprovalStageValue {
    /// How long the stage may wait for a decision before the request is denied (ISO 8601).
    #[graphql(default_with = "String::from(\"P14D\")")]
    pub duration_before_automatic_denial: String,
    #[graphql(default)]
    pub is_approver_justification_required: bool,
    /// Alternate approvers take over after `durationBeforeEscalation`.
    #[graphql(default)]
    pub is_escalation_enabled: bool,
    /// At least `P1D`, less than `durationBeforeAutomaticDenial`; `PT0S` without escalation.
    #[graphql(default_with = "String::from(\"PT0S\")")]
    pub duration_before_escalation: String,
    #[graphql(default)]
    pub primary_approvers: Vec<SubjectSetValue>,
    /// Who decides when the primary approvers resolve to nobody; required with `requestorManager`.
    #[graphql(default)]
    pub fallback_primary_approvers: Vec<SubjectSetValue>,
    #[graphql(default)]
    pub escalation_approvers: Vec<SubjectSetValue>,
    #[graphql(default)]
    pub fallback_escalation_approvers: Vec<SubjectSetValue>,
    #[graphql(default)]
    pub approver_information_visibility: ApproverInformationVisibilityValue,
}

impl From<&AccessPackageApprovalStage> for ApprovalStageValue {
    fn from(s: &AccessPackageApprovalStage) -> Self {
        Self {
            duration_before_automatic_denial: s.duration_before_automatic_denial.to_string(),
            is_approver_justification_required: s.is_approver_justification_required,
            is_escalation_enabled: s.is_escalation_enabled,
            duration_before_escalation: s.duration_before_escalation.to_string(),
            primary_approvers: subject_sets(&s.primary_approvers),
            fallback_primary_approvers: subject_sets(&s.fallback_primary_approvers),
            escalation_approvers: subject_sets(&s.escalation_approvers),
            fallback_escalation_approvers: subject_sets(&s.fallback_escalation_approvers),
            approver_information_visibility: s.approver_information_visibility.into(),
        }
    }
}

/// `accessPackageAssignmentApprovalSettings`.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(
    name = "AccessPackageAssignmentApprovalSettings",
    input_name = "AccessPackageAssignmentApprovalSettingsInput"
)]
pub struct ApprovalSettingsValue {
    #[graphql(default)]
    pub is_approval_required_for_add: bool,
    #[graphql(default)]
    pub is_approval_required_for_update: bool,
    #[graphql(default)]
    pub is_requestor_justification_required: bool,
    /// 1 to 3 stages when approval is required, none otherwise.
    #[graphql(default)]
    pub stages: Vec<ApprovalStageValue>,
}

impl From<&ApprovalSettings> for ApprovalSettingsValue {
    fn from(a: &ApprovalSettings) -> Self {
        Self {
            is_approval_required_for_add: a.is_approval_required_for_add,
            is_approval_required_for_update: a.is_approval_required_for_update,
            is_requestor_justification_required: a.is_requestor_justification_required,
            stages: a.stages.iter().map(Into::into).collect(),
        }
    }
}

/// `accessPackageAutomaticRequestSettings`: present on an auto-assignment policy.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(
    name = "AccessPackageAutomaticRequestSettings",
    input_name = "AccessPackageAutomaticRequestSettingsInput"
)]
pub struct AutomaticRequestSettingsValue {
    #[graphql(default)]
    pub request_access_for_allowed_targets: bool,
    #[graphql(default)]
    pub remove_access_when_target_leaves_allowed_targets: bool,
    /// ISO 8601: how long access stays after a user stops matching.
    pub grace_period_before_access_removal: Option<String>,
}

impl From<&AutomaticRequestSettings> for AutomaticRequestSettingsValue {
    fn from(a: &AutomaticRequestSettings) -> Self {
        Self {
            request_access_for_allowed_targets: a.request_access_for_allowed_targets,
            remove_access_when_target_leaves_allowed_targets: a
                .remove_access_when_target_leaves_allowed_targets,
            grace_period_before_access_removal: a.grace_period_before_access_removal.map(|d| d.to_string()),
        }
    }
}

/// `recurrencePattern`.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "RecurrencePattern", input_name = "RecurrencePatternInput")]
pub struct RecurrencePatternValue {
    #[graphql(name = "type")]
    pub kind: RecurrencePatternTypeValue,
    #[graphql(default = 1)]
    pub interval: i32,
    #[graphql(default)]
    pub month: i32,
    #[graphql(default)]
    pub day_of_month: i32,
    #[graphql(default)]
    pub days_of_week: Vec<DayOfWeekValue>,
    pub first_day_of_week: Option<DayOfWeekValue>,
    pub index: Option<WeekIndexValue>,
}

/// `recurrenceRange`.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "RecurrenceRange", input_name = "RecurrenceRangeInput")]
pub struct RecurrenceRangeValue {
    #[graphql(name = "type")]
    pub kind: RecurrenceRangeTypeValue,
    /// `YYYY-MM-DD`.
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub end_date: Option<String>,
    #[graphql(default)]
    pub number_of_occurrences: i32,
    pub recurrence_time_zone: Option<String>,
}

/// `patternedRecurrence`.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "PatternedRecurrence", input_name = "PatternedRecurrenceInput")]
pub struct PatternedRecurrenceValue {
    pub pattern: RecurrencePatternValue,
    pub range: RecurrenceRangeValue,
}

impl From<&PatternedRecurrence> for PatternedRecurrenceValue {
    fn from(r: &PatternedRecurrence) -> Self {
        let p = &r.pattern;
        let range = &r.range;
        Self {
            pattern: RecurrencePatternValue {
                kind: p.kind.into(),
                interval: p.interval,
                month: p.month,
                day_of_month: p.day_of_month,
                days_of_week: p.days_of_week.iter().map(|d| (*d).into()).collect(),
                first_day_of_week: p.first_day_of_week.map(Into::into),
                index: p.index.map(Into::into),
            },
            range: RecurrenceRangeValue {
                kind: range.kind.into(),
                start_date: range.start_date.map(|d| d.to_string()),
                end_date: range.end_date.map(|d| d.to_string()),
                number_of_occurrences: range.number_of_occurrences,
                recurrence_time_zone: range.recurrence_time_zone.clone(),
            },
        }
    }
}

/// `entitlementManagementSchedule`: a start, an expiration and a recurrence.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "EntitlementManagementSchedule", input_name = "EntitlementManagementScheduleInput")]
pub struct ScheduleValue {
    pub start_date_time: Option<DateTime<Utc>>,
    pub expiration: Option<ExpirationPatternValue>,
    pub recurrence: Option<PatternedRecurrenceValue>,
}

impl From<&EntitlementManagementSchedule> for ScheduleValue {
    fn from(s: &EntitlementManagementSchedule) -> Self {
        Self {
            start_date_time: s.start_date_time,
            expiration: s.expiration.as_ref().map(Into::into),
            recurrence: s.recurrence.as_ref().map(Into::into),
        }
    }
}

/// `accessPackageAssignmentReviewSettings`: recurring access reviews of the policy's
/// assignments (run as access reviews: `accessReviewInstances`).
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(
    name = "AccessPackageAssignmentReviewSettings",
    input_name = "AccessPackageAssignmentReviewSettingsInput"
)]
pub struct ReviewSettingsValue {
    #[graphql(default)]
    pub is_enabled: bool,
    pub schedule: Option<ScheduleValue>,
    #[graphql(default)]
    pub primary_reviewers: Vec<SubjectSetValue>,
    #[graphql(default)]
    pub fallback_reviewers: Vec<SubjectSetValue>,
    #[graphql(default)]
    pub is_self_review: bool,
    #[graphql(default)]
    pub expiration_behavior: AccessReviewExpirationBehaviorValue,
    #[graphql(default = true)]
    pub is_recommendation_enabled: bool,
    #[graphql(default = true)]
    pub is_reviewer_justification_required: bool,
}

impl From<&ReviewSettings> for ReviewSettingsValue {
    fn from(r: &ReviewSettings) -> Self {
        Self {
            is_enabled: r.is_enabled,
            schedule: r.schedule.as_ref().map(Into::into),
            primary_reviewers: subject_sets(&r.primary_reviewers),
            fallback_reviewers: subject_sets(&r.fallback_reviewers),
            is_self_review: r.is_self_review,
            expiration_behavior: r.expiration_behavior.into(),
            is_recommendation_enabled: r.is_recommendation_enabled,
            is_reviewer_justification_required: r.is_reviewer_justification_required,
        }
    }
}

/// `accessPackageNotificationSettings`.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "AccessPackageNotificationSettings", input_name = "AccessPackageNotificationSettingsInput")]
pub struct NotificationSettingsValue {
    #[graphql(default)]
    pub is_assignment_notification_disabled: bool,
}

/// `accessPackageLocalizedText`: a text in one language.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "AccessPackageLocalizedText", input_name = "AccessPackageLocalizedTextInput")]
pub struct LocalizedTextValue {
    /// `en`, `fr-CA`.
    #[graphql(default)]
    pub language_code: String,
    #[graphql(default)]
    pub text: String,
}

fn localized(texts: &[AccessPackageLocalizedText]) -> Vec<LocalizedTextValue> {
    texts
        .iter()
        .map(|l| LocalizedTextValue { language_code: l.language_code.clone(), text: l.text.clone() })
        .collect()
}

fn to_localized(texts: Vec<LocalizedTextValue>) -> Vec<AccessPackageLocalizedText> {
    texts
        .into_iter()
        .map(|l| AccessPackageLocalizedText { language_code: l.language_code, text: l.text })
        .collect()
}

/// `accessPackageAnswerChoice`: an option of a multiple-choice question.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "AccessPackageAnswerChoice", input_name = "AccessPackageAnswerChoiceInput")]
pub struct AnswerChoiceValue {
    /// The value an answer carries when this choice is picked.
    #[graphql(default)]
    pub actual_value: String,
    /// What the requestor sees.
    #[graphql(default)]
    pub text: String,
    #[graphql(default)]
    pub localizations: Vec<LocalizedTextValue>,
}

/// `accessPackageQuestion`: what a requestor is asked. `type` says which kind; the text
/// properties (`isSingleLineQuestion`, `regexPattern`) belong to text questions, `choices` and
/// `isMultipleSelectionAllowed` to multiple-choice ones.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "AccessPackageQuestion", input_name = "AccessPackageQuestionInput")]
pub struct QuestionValue {
    #[graphql(name = "type")]
    pub kind: AccessPackageQuestionType,
    /// Unique within the policy; derived from the policy when omitted.
    pub id: Option<String>,
    #[graphql(default)]
    pub text: String,
    #[graphql(default)]
    pub localizations: Vec<LocalizedTextValue>,
    #[graphql(default)]
    pub is_required: bool,
    /// Whether the requestor may change the answer later.
    #[graphql(default)]
    pub is_answer_editable: bool,
    /// Display order.
    #[graphql(default)]
    pub sequence: i32,
    pub is_single_line_question: Option<bool>,
    /// Every answer must match it (anywhere, unless anchored: `^[0-9]{4}$`).
    pub regex_pattern: Option<String>,
    pub choices: Option<Vec<AnswerChoiceValue>>,
    pub is_multiple_selection_allowed: Option<bool>,
}

impl From<&AccessPackageQuestion> for QuestionValue {
    fn from(q: &AccessPackageQuestion) -> Self {
        let mut value = Self {
            kind: AccessPackageQuestionType::AccessPackageTextInputQuestion,
            id: Some(q.id.clone()),
            text: q.text.clone(),
            localizations: localized(&q.localizations),
            is_required: q.is_required,
            is_answer_editable: q.is_answer_editable,
            sequence: q.sequence,
            is_single_line_question: None,
            regex_pattern: None,
            choices: None,
            is_multiple_selection_allowed: None,
        };
        match &q.kind {
            QuestionKind::TextInput { is_single_line_question, regex_pattern } => {
                value.is_single_line_question = Some(*is_single_line_question);
                value.regex_pattern.clone_from(regex_pattern);
            }
            QuestionKind::MultipleChoice { choices, is_multiple_selection_allowed } => {
                value.kind = AccessPackageQuestionType::AccessPackageMultipleChoiceQuestion;
                value.choices = Some(
                    choices
                        .iter()
                        .map(|c| AnswerChoiceValue {
                            actual_value: c.actual_value.clone(),
                            text: c.text.clone(),
                            localizations: localized(&c.localizations),
                        })
                        .collect(),
                );
                value.is_multiple_selection_allowed = Some(*is_multiple_selection_allowed);
            }
        }
        value
    }
}

/// An assignment policy of an access package: who may request it or be assigned it, with which
/// approval, questions and expiration.
pub struct AccessPackageAssignmentPolicyNode(pub StoredPolicy);

#[Object(name = "AccessPackageAssignmentPolicy")]
impl AccessPackageAssignmentPolicyNode {
    pub async fn id(&self) -> ID {
        global_id("AccessPackageAssignmentPolicy", &self.0.policy.id)
    }
    async fn display_name(&self) -> &str {
        &self.0.policy.display_name
    }
    async fn description(&self) -> Option<&str> {
        self.0.policy.description.as_deref()
    }
    /// Who may be assigned the package through the policy.
    async fn allowed_target_scope(&self) -> AllowedTargetScopeValue {
        self.0.policy.allowed_target_scope.into()
    }
    /// The principals of a `specific…` scope.
    async fn specific_allowed_targets(&self) -> Vec<SubjectSetValue> {
        subject_sets(&self.0.policy.specific_allowed_targets)
    }
    /// Present on an auto-assignment policy, null on a request-based one.
    async fn automatic_request_settings(&self) -> Option<AutomaticRequestSettingsValue> {
        self.0.policy.automatic_request_settings.as_ref().map(Into::into)
    }
    /// When assignments made through the policy end.
    async fn expiration(&self) -> ExpirationPatternValue {
        (&self.0.policy.expiration).into()
    }
    async fn requestor_settings(&self) -> RequestorSettingsValue {
        (&self.0.policy.requestor_settings).into()
    }
    async fn request_approval_settings(&self) -> ApprovalSettingsValue {
        (&self.0.policy.request_approval_settings).into()
    }
    async fn review_settings(&self) -> Option<ReviewSettingsValue> {
        self.0.policy.review_settings.as_ref().map(Into::into)
    }
    async fn notification_settings(&self) -> Option<NotificationSettingsValue> {
        self.0.policy.notification_settings.map(|n| NotificationSettingsValue {
            is_assignment_notification_disabled: n.is_assignment_notification_disabled,
        })
    }
    /// The catalog's custom extensions the policy calls, by stage.
    async fn custom_extension_stage_settings(&self) -> Vec<CustomExtensionStageSettingValue> {
        self.0
            .policy
            .custom_extension_stage_settings
            .iter()
            .map(|s| CustomExtensionStageSettingValue {
                stage: s.stage.into(),
                custom_extension_id: global_id("CustomCalloutExtension", &s.custom_extension_id),
            })
            .collect()
    }
    /// What requestors are asked, in `sequence` order.
    async fn questions(&self) -> Vec<QuestionValue> {
        let mut questions: Vec<&AccessPackageQuestion> = self.0.policy.questions.iter().collect();
        questions.sort_by_key(|q| q.sequence);
        questions.into_iter().map(Into::into).collect()
    }
    async fn created_date_time(&self) -> DateTime<Utc> {
        self.0.policy.created_date_time
    }
    async fn modified_date_time(&self) -> DateTime<Utc> {
        self.0.policy.modified_date_time
    }
    /// The policy's package (whoever sees the policy sees it).
    async fn access_package(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageNode>> {
        super::request::related_package(ctx, &self.0.policy.access_package_id).await
    }
    async fn catalog(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccessPackageCatalogNode>> {
        super::catalog::catalog_of(ctx, &self.0.catalog_id).await
    }
}

/// `accessPackageAssignmentRequestRequirements`: what the signed-in user must provide to request
/// an access package through one policy.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AccessPackageAssignmentRequestRequirements {
    pub policy_id: ID,
    pub policy_display_name: String,
    pub policy_description: Option<String>,
    pub is_approval_required_for_add: bool,
    pub is_approval_required_for_update: bool,
    pub is_requestor_justification_required: bool,
    /// Whether the request may name its own schedule.
    pub allow_custom_assignment_schedule: bool,
    /// The policy's expiration; no start.
    pub schedule: ScheduleValue,
    /// In `sequence` order.
    pub questions: Vec<QuestionValue>,
}

#[ComplexObject]
impl AccessPackageAssignmentRequestRequirements {
    /// The policy itself.
    async fn policy(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<AccessPackageAssignmentPolicyNode>> {
        let id = policy_id(&self.policy_id, "policyId").gql()?;
        Ok(services(ctx)
            .assignment_policy(&actor(ctx), &id)
            .await
            .gql()?
            .map(AccessPackageAssignmentPolicyNode))
    }
}

impl From<ApplicablePolicyRequirements> for AccessPackageAssignmentRequestRequirements {
    fn from(r: ApplicablePolicyRequirements) -> Self {
        Self {
            policy_id: global_id("AccessPackageAssignmentPolicy", &r.policy_id),
            policy_display_name: r.policy_display_name,
            policy_description: r.policy_description,
            is_approval_required_for_add: r.is_approval_required_for_add,
            is_approval_required_for_update: r.is_approval_required_for_update,
            is_requestor_justification_required: r.is_requestor_justification_required,
            allow_custom_assignment_schedule: r.allow_custom_assignment_schedule,
            schedule: (&r.schedule).into(),
            questions: r.questions.iter().map(Into::into).collect(),
        }
    }
}

/// The body of a policy, as Graph's `accessPackageAssignmentPolicy` has it (its package is named
/// by the mutation). Omitted settings take Graph's defaults.
#[derive(InputObject)]
#[graphql(name = "AccessPackageAssignmentPolicyInput")]
pub struct PolicyBodyInput {
    pub display_name: String,
    pub description: Option<String>,
    /// `notSpecified` (the default): a direct-assignment-only policy.
    #[graphql(default)]
    pub allowed_target_scope: AllowedTargetScopeValue,
    #[graphql(default)]
    pub specific_allowed_targets: Vec<SubjectSetValue>,
    /// Makes the policy an auto-assignment policy (one per package).
    pub automatic_request_settings: Option<AutomaticRequestSettingsValue>,
    pub expiration: Option<ExpirationPatternValue>,
    pub requestor_settings: Option<RequestorSettingsValue>,
    pub request_approval_settings: Option<ApprovalSettingsValue>,
    pub review_settings: Option<ReviewSettingsValue>,
    pub notification_settings: Option<NotificationSettingsValue>,
    #[graphql(default)]
    pub questions: Vec<QuestionValue>,
    /// The catalog's custom extensions called at stages of requests and assignments.
    #[graphql(default)]
    pub custom_extension_stage_settings: Vec<CustomExtensionStageSettingValue>,
}

/// Creates a policy for an access package. Give the policy as `policy`, or as Graph's JSON in
/// `graphJson` (with `@odata.type` tags), not both.
#[derive(InputObject)]
pub struct CreateAssignmentPolicyInput {
    pub access_package_id: ID,
    pub policy: Option<PolicyBodyInput>,
    pub graph_json: Option<Json<Value>>,
}

/// Replaces a policy as a whole (Graph's `PUT`): settings left out return to their defaults.
#[derive(InputObject)]
pub struct UpdateAssignmentPolicyInput {
    pub id: ID,
    pub policy: Option<PolicyBodyInput>,
    pub graph_json: Option<Json<Value>>,
}

#[derive(SimpleObject)]
pub struct AssignmentPolicyPayload {
    pub assignment_policy: AccessPackageAssignmentPolicyNode,
}

/// Filters for `assignmentPolicies`.
#[derive(InputObject, Default)]
#[graphql(name = "AccessPackageAssignmentPolicyFilter")]
pub struct PolicyFilterInput {
    pub access_package_id: Option<ID>,
    pub catalog_id: Option<ID>,
}

/// The policies of a package the caller sees, for `AccessPackage.assignmentPolicies`.
pub(crate) async fn policies_of_package(
    ctx: &Context<'_>,
    package: &em_engine::access_package::AccessPackage,
) -> async_graphql::Result<Vec<AccessPackageAssignmentPolicyNode>> {
    let policies = services(ctx).package_policies(&actor(ctx), package).await.gql()?;
    Ok(policies.into_iter().map(AccessPackageAssignmentPolicyNode).collect())
}

#[derive(Default)]
pub struct PolicyQuery;

#[Object]
impl PolicyQuery {
    async fn assignment_policy(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AccessPackageAssignmentPolicyNode>> {
        let id = policy_id(&id, "id").gql()?;
        Ok(services(ctx)
            .assignment_policy(&actor(ctx), &id)
            .await
            .gql()?
            .map(AccessPackageAssignmentPolicyNode))
    }

    /// Assignment policies, ordered by display name.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn assignment_policies(
        &self,
        ctx: &Context<'_>,
        filter: Option<PolicyFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessPackageAssignmentPolicyNode>> {
        let f = filter.unwrap_or_default();
        let filter = PolicyFilter {
            access_package_id: optional(f.access_package_id, "filter.accessPackageId", package_id)?,
            catalog_id: optional(f.catalog_id, "filter.catalogId", catalog_id)?,
            catalog_ids: None,
        };
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let policies = services(ctx).assignment_policies(&actor(ctx), filter, &request).await.gql()?;
        Ok(page::connection(policies, has_previous, AccessPackageAssignmentPolicyNode))
    }

    /// The access packages the signed-in user may request, ordered by display name (Graph's
    /// `accessPackages/filterByCurrentUser(on='allowedRequestor')`): not hidden, in a published
    /// catalog, with a policy that applies to them.
    async fn access_packages_for_me(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AccessPackageNode>> {
        let packages = services(ctx).access_packages_for_me(&actor(ctx)).await.gql()?;
        Ok(packages.into_iter().map(AccessPackageNode).collect())
    }

    /// For each policy through which the signed-in user may request the package, what they must
    /// provide; empty when they may not request it. Hidden packages answer too (the direct link).
    /// When several policies apply, Graph's priority rules keep the most specific ones.
    async fn get_applicable_policy_requirements(
        &self,
        ctx: &Context<'_>,
        access_package_id: ID,
    ) -> async_graphql::Result<Vec<AccessPackageAssignmentRequestRequirements>> {
        let id = package_id(&access_package_id, "accessPackageId").gql()?;
        let requirements = services(ctx).applicable_policy_requirements(&actor(ctx), &id).await.gql()?;
        Ok(requirements.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct PolicyMutation;

#[Object]
impl PolicyMutation {
    /// Creates an assignment policy for an access package. Administrators only.
    async fn create_assignment_policy(
        &self,
        ctx: &Context<'_>,
        input: CreateAssignmentPolicyInput,
    ) -> async_graphql::Result<AssignmentPolicyPayload> {
        let package_id = package_id(&input.access_package_id, "accessPackageId").gql()?;
        let policy = policy_input(Some(&package_id), input.policy, input.graph_json).gql()?;
        let stored = services(ctx).create_assignment_policy(&actor(ctx), policy).await.gql()?;
        Ok(AssignmentPolicyPayload { assignment_policy: AccessPackageAssignmentPolicyNode(stored) })
    }

    /// Replaces an assignment policy as a whole (Graph's `PUT`). It stays with its package.
    async fn update_assignment_policy(
        &self,
        ctx: &Context<'_>,
        input: UpdateAssignmentPolicyInput,
    ) -> async_graphql::Result<AssignmentPolicyPayload> {
        let id = policy_id(&input.id, "id").gql()?;
        let policy = policy_input(None, input.policy, input.graph_json).gql()?;
        let stored = services(ctx).replace_assignment_policy(&actor(ctx), &id, policy).await.gql()?;
        Ok(AssignmentPolicyPayload { assignment_policy: AccessPackageAssignmentPolicyNode(stored) })
    }

    /// Deletes an assignment policy; refused while assignments were made through it.
    async fn delete_assignment_policy(
        &self,
        ctx: &Context<'_>,
        input: DeleteByIdInput,
    ) -> async_graphql::Result<DeletedPayload> {
        let id = policy_id(&input.id, "id").gql()?;
        services(ctx).delete_assignment_policy(&actor(ctx), &id).await.gql()?;
        Ok(DeletedPayload { deleted_id: global_id("AccessPackageAssignmentPolicy", &id) })
    }
}

/// The engine's policy input from the typed `policy` or the Graph JSON `graphJson` (exactly one).
/// `package_id` is the package a new policy is for; an update keeps the policy's package.
fn policy_input(
    package_id: Option<&AccessPackageId>,
    policy: Option<PolicyBodyInput>,
    graph_json: Option<Json<Value>>,
) -> Result<PolicyInput, DomainError> {
    let mut input = match (policy, graph_json) {
        (Some(policy), None) => policy.into_engine()?,
        (None, Some(Json(json))) => from_graph_json(json)?,
        (Some(_), Some(_)) => {
            return Err(DomainError::invalid(
                "graphJson",
                "give the policy as `policy` or as `graphJson`, not both",
            ));
        }
        (None, None) => {
            return Err(DomainError::invalid(
                "policy",
                "give the policy, as `policy` or as Graph's JSON in `graphJson`",
            ));
        }
    };
    if let Some(package_id) = package_id {
        if !input.access_package_id.is_empty() && input.access_package_id != *package_id {
            return Err(DomainError::invalid(
                "graphJson.accessPackage",
                format!(
                    "`graphJson` names access package `{}` but `accessPackageId` is `{package_id}`; remove one or make them agree",
                    input.access_package_id
                ),
            ));
        }
        input.access_package_id = package_id.clone();
    }
    Ok(input)
}

/// A Graph request body (`@odata.type` tags, `accessPackage: {id}`) as the engine's input; the
/// package id may be a global id.
fn from_graph_json(json: Value) -> Result<PolicyInput, DomainError> {
    if !json.is_object() {
        return Err(DomainError::invalid("graphJson", "`graphJson` is a policy object as Graph writes it"));
    }
    let mut input = em_engine::policy::policy_input_from_graph_json(json)
        .map_err(|e| DomainError::invalid("graphJson", e.message))?;
    if !input.access_package_id.trim().is_empty() {
        input.access_package_id = package_id(&input.access_package_id, "graphJson.accessPackage")?;
    }
    // Ids copied from this API (`CustomCalloutExtension:...`) are taken as Graph's own.
    for (i, setting) in input.custom_extension_stage_settings.iter_mut().enumerate() {
        let at = format!("graphJson.customExtensionStageSettings[{i}].customExtensionId");
        setting.custom_extension_id =
            super::node::local_id(setting.custom_extension_id.as_str(), "CustomCalloutExtension", &at)?
                .into();
    }
    Ok(input)
}

impl PolicyBodyInput {
    /// The engine's input, or every problem found converting it (bad durations and dates, stray
    /// properties of a subject set or question), each with its path.
    fn into_engine(self) -> Result<PolicyInput, DomainError> {
        let mut c = Convert::default();
        let input = PolicyInput {
            access_package_id: AccessPackageId::default(),
            display_name: self.display_name,
            description: self.description,
            allowed_target_scope: self.allowed_target_scope.into(),
            specific_allowed_targets: c.subject_sets(self.specific_allowed_targets, "specificAllowedTargets"),
            automatic_request_settings: self.automatic_request_settings.map(|a| AutomaticRequestSettings {
                request_access_for_allowed_targets: a.request_access_for_allowed_targets,
                remove_access_when_target_leaves_allowed_targets: a
                    .remove_access_when_target_leaves_allowed_targets,
                grace_period_before_access_removal: c.optional_duration(
                    a.grace_period_before_access_removal.as_deref(),
                    "automaticRequestSettings.gracePeriodBeforeAccessRemoval",
                ),
            }),
            expiration: self.expiration.map(|e| c.expiration(e, "expiration")).unwrap_or_default(),
            requestor_settings: self.requestor_settings.map(|r| c.requestor_settings(r)).unwrap_or_default(),
            request_approval_settings: self
                .request_approval_settings
                .map(|a| c.approval_settings(a))
                .unwrap_or_default(),
            review_settings: self.review_settings.map(|r| c.review_settings(r)),
            notification_settings: self.notification_settings.map(|n| NotificationSettings {
                is_assignment_notification_disabled: n.is_assignment_notification_disabled,
            }),
            questions: self.questions.into_iter().enumerate().map(|(i, q)| c.question(q, i)).collect(),
            custom_extension_stage_settings: self
                .custom_extension_stage_settings
                .into_iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let at = format!("customExtensionStageSettings[{i}].customExtensionId");
                    match super::node::local_id(&s.custom_extension_id, "CustomCalloutExtension", &at) {
                        Ok(id) => Some(CustomExtensionStageSetting {
                            stage: s.stage.into(),
                            custom_extension_id: id.into(),
                        }),
                        Err(e) => {
                            c.problems.push(at, e.message);
                            None
                        }
                    }
                })
                .collect(),
        };
        c.problems.into_result("the policy is invalid")?;
        Ok(input)
    }
}

/// A requested schedule as the engine's, or every problem found converting it.
pub(crate) fn schedule_input(value: ScheduleValue) -> Result<EntitlementManagementSchedule, DomainError> {
    let mut c = Convert::default();
    let schedule = c.schedule(value, "schedule");
    c.problems.into_result("the schedule is invalid")?;
    Ok(schedule)
}

/// Converts typed inputs into engine values, collecting problems with their paths.
#[derive(Default)]
struct Convert {
    problems: Problems,
}

impl Convert {
    fn duration(&mut self, text: &str, at: &str) -> Duration {
        Duration::parse(text.trim()).unwrap_or_else(|e| {
            self.problems.push(at, e.to_string());
            Duration::ZERO
        })
    }

    fn optional_duration(&mut self, text: Option<&str>, at: &str) -> Option<Duration> {
        text.map(|t| self.duration(t, at))
    }

    fn date(&mut self, text: Option<String>, at: &str) -> Option<NaiveDate> {
        let text = text?;
        match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                self.problems.push(at, format!("`{text}` is not a date such as `2025-01-31`"));
                None
            }
        }
    }

    fn expiration(&mut self, e: ExpirationPatternValue, at: &str) -> ExpirationPattern {
        ExpirationPattern {
            kind: e.kind.into(),
            end_date_time: e.end_date_time,
            duration: self.optional_duration(e.duration.as_deref(), &format!("{at}.duration")),
        }
    }

    fn subject_sets(&mut self, sets: Vec<SubjectSetValue>, at: &str) -> Vec<SubjectSet> {
        sets.into_iter().enumerate().map(|(i, set)| self.subject_set(set, &format!("{at}[{i}]"))).collect()
    }

    /// One subject set; properties of another subtype are refused rather than ignored.
    fn subject_set(&mut self, set: SubjectSetValue, at: &str) -> SubjectSet {
        use SubjectSetType as T;
        let kind = set.kind;
        let given = [
            ("userId", set.user_id.is_some()),
            ("groupId", set.group_id.is_some()),
            ("servicePrincipalId", set.service_principal_id.is_some()),
            ("connectedOrganizationId", set.connected_organization_id.is_some()),
            ("membershipRule", set.membership_rule.is_some()),
            ("managerLevel", set.manager_level.is_some()),
            ("description", set.description.is_some()),
        ];
        let takes: &[&str] = match kind {
            T::SingleUser => &["userId", "description"],
            T::GroupMembers => &["groupId", "description"],
            T::SingleServicePrincipal => &["servicePrincipalId", "description"],
            T::ConnectedOrganizationMembers => &["connectedOrganizationId", "description"],
            T::AttributeRuleMembers => &["membershipRule", "description"],
            T::RequestorManager | T::TargetManager => &["managerLevel"],
            T::InternalSponsors
            | T::ExternalSponsors
            | T::TargetUserSponsors
            | T::TargetApplicationOwners => &[],
        };
        let type_name = |kind: T| -> &'static str {
            match kind {
                T::SingleUser => "singleUser",
                T::GroupMembers => "groupMembers",
                T::SingleServicePrincipal => "singleServicePrincipal",
                T::ConnectedOrganizationMembers => "connectedOrganizationMembers",
                T::AttributeRuleMembers => "attributeRuleMembers",
                T::RequestorManager => "requestorManager",
                T::TargetManager => "targetManager",
                T::InternalSponsors => "internalSponsors",
                T::ExternalSponsors => "externalSponsors",
                T::TargetUserSponsors => "targetUserSponsors",
                T::TargetApplicationOwners => "targetApplicationOwners",
            }
        };
        for (field, present) in given {
            if present && !takes.contains(&field) {
                self.problems
                    .push(format!("{at}.{field}"), format!("`{}` takes no `{field}`", type_name(kind)));
            }
        }
        // A missing id becomes an empty one, which validation reports at its path.
        let description = set.description;
        let level = set.manager_level.unwrap_or(1);
        match kind {
            T::SingleUser => SubjectSet::SingleUser { user_id: set.user_id.unwrap_or_default(), description },
            T::GroupMembers => {
                SubjectSet::GroupMembers { group_id: set.group_id.unwrap_or_default(), description }
            }
            T::SingleServicePrincipal => SubjectSet::SingleServicePrincipal {
                service_principal_id: set.service_principal_id.unwrap_or_default(),
                description,
            },
            T::ConnectedOrganizationMembers => SubjectSet::ConnectedOrganizationMembers {
                connected_organization_id: set.connected_organization_id.unwrap_or_default(),
                description,
            },
            T::AttributeRuleMembers => SubjectSet::AttributeRuleMembers {
                membership_rule: set.membership_rule.unwrap_or_default(),
                description,
            },
            T::RequestorManager => SubjectSet::RequestorManager { manager_level: level },
            T::TargetManager => SubjectSet::TargetManager { manager_level: level },
            T::InternalSponsors => SubjectSet::InternalSponsors,
            T::ExternalSponsors => SubjectSet::ExternalSponsors,
            T::TargetUserSponsors => SubjectSet::TargetUserSponsors,
            T::TargetApplicationOwners => SubjectSet::TargetApplicationOwners,
        }
    }

    fn requestor_settings(&mut self, r: RequestorSettingsValue) -> RequestorSettings {
        RequestorSettings {
            accept_requests: r.accept_requests,
            enable_targets_to_self_add_access: r.enable_targets_to_self_add_access,
            enable_targets_to_self_update_access: r.enable_targets_to_self_update_access,
            enable_targets_to_self_remove_access: r.enable_targets_to_self_remove_access,
            allow_custom_assignment_schedule: r.allow_custom_assignment_schedule,
            enable_on_behalf_requestors_to_add_access: r.enable_on_behalf_requestors_to_add_access,
            enable_on_behalf_requestors_to_update_access: r.enable_on_behalf_requestors_to_update_access,
            enable_on_behalf_requestors_to_remove_access: r.enable_on_behalf_requestors_to_remove_access,
            on_behalf_requestors: self
                .subject_sets(r.on_behalf_requestors, "requestorSettings.onBehalfRequestors"),
        }
    }

    fn approval_settings(&mut self, a: ApprovalSettingsValue) -> ApprovalSettings {
        let stages = a
            .stages
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let at = format!("requestApprovalSettings.stages[{i}]");
                AccessPackageApprovalStage {
                    duration_before_automatic_denial: self.duration(
                        &s.duration_before_automatic_denial,
                        &format!("{at}.durationBeforeAutomaticDenial"),
                    ),
                    is_approver_justification_required: s.is_approver_justification_required,
                    is_escalation_enabled: s.is_escalation_enabled,
                    duration_before_escalation: self
                        .duration(&s.duration_before_escalation, &format!("{at}.durationBeforeEscalation")),
                    primary_approvers: self
                        .subject_sets(s.primary_approvers, &format!("{at}.primaryApprovers")),
                    fallback_primary_approvers: self.subject_sets(
                        s.fallback_primary_approvers,
                        &format!("{at}.fallbackPrimaryApprovers"),
                    ),
                    escalation_approvers: self
                        .subject_sets(s.escalation_approvers, &format!("{at}.escalationApprovers")),
                    fallback_escalation_approvers: self.subject_sets(
                        s.fallback_escalation_approvers,
                        &format!("{at}.fallbackEscalationApprovers"),
                    ),
                    approver_information_visibility: s.approver_information_visibility.into(),
                }
            })
            .collect();
        ApprovalSettings {
            is_approval_required_for_add: a.is_approval_required_for_add,
            is_approval_required_for_update: a.is_approval_required_for_update,
            is_requestor_justification_required: a.is_requestor_justification_required,
            stages,
        }
    }

    fn review_settings(&mut self, r: ReviewSettingsValue) -> ReviewSettings {
        let at = "reviewSettings";
        ReviewSettings {
            is_enabled: r.is_enabled,
            schedule: r.schedule.map(|s| self.schedule(s, &format!("{at}.schedule"))),
            primary_reviewers: self.subject_sets(r.primary_reviewers, &format!("{at}.primaryReviewers")),
            fallback_reviewers: self.subject_sets(r.fallback_reviewers, &format!("{at}.fallbackReviewers")),
            is_self_review: r.is_self_review,
            expiration_behavior: r.expiration_behavior.into(),
            is_recommendation_enabled: r.is_recommendation_enabled,
            is_reviewer_justification_required: r.is_reviewer_justification_required,
        }
    }

    fn schedule(&mut self, s: ScheduleValue, at: &str) -> EntitlementManagementSchedule {
        EntitlementManagementSchedule {
            start_date_time: s.start_date_time,
            expiration: s.expiration.map(|e| self.expiration(e, &format!("{at}.expiration"))),
            recurrence: s.recurrence.map(|r| PatternedRecurrence {
                pattern: RecurrencePattern {
                    kind: r.pattern.kind.into(),
                    interval: r.pattern.interval,
                    month: r.pattern.month,
                    day_of_month: r.pattern.day_of_month,
                    days_of_week: r.pattern.days_of_week.into_iter().map(Into::into).collect(),
                    first_day_of_week: r.pattern.first_day_of_week.map(Into::into),
                    index: r.pattern.index.map(Into::into),
                },
                range: RecurrenceRange {
                    kind: r.range.kind.into(),
                    start_date: self.date(r.range.start_date, &format!("{at}.recurrence.range.startDate")),
                    end_date: self.date(r.range.end_date, &format!("{at}.recurrence.range.endDate")),
                    number_of_occurrences: r.range.number_of_occurrences,
                    recurrence_time_zone: r.range.recurrence_time_zone,
                },
            }),
        }
    }

    /// One question; properties of the other kind are refused rather than ignored.
    fn question(&mut self, q: QuestionValue, i: usize) -> AccessPackageQuestion {
        let at = format!("questions[{i}]");
        let text_only = [
            ("isSingleLineQuestion", q.is_single_line_question.is_some()),
            ("regexPattern", q.regex_pattern.is_some()),
        ];
        let choice_only = [
            ("choices", q.choices.is_some()),
            ("isMultipleSelectionAllowed", q.is_multiple_selection_allowed.is_some()),
        ];
        let (kind, stray, type_name) = match q.kind {
            AccessPackageQuestionType::AccessPackageTextInputQuestion => (
                QuestionKind::TextInput {
                    is_single_line_question: q.is_single_line_question.unwrap_or(false),
                    regex_pattern: q.regex_pattern,
                },
                choice_only,
                "accessPackageTextInputQuestion",
            ),
            AccessPackageQuestionType::AccessPackageMultipleChoiceQuestion => (
                QuestionKind::MultipleChoice {
                    choices: q
                        .choices
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| AccessPackageAnswerChoice {
                            actual_value: c.actual_value,
                            text: c.text,
                            localizations: to_localized(c.localizations),
                        })
                        .collect(),
                    is_multiple_selection_allowed: q.is_multiple_selection_allowed.unwrap_or(false),
                },
                text_only,
                "accessPackageMultipleChoiceQuestion",
            ),
        };
        for (field, present) in stray {
            if present {
                self.problems.push(format!("{at}.{field}"), format!("`{type_name}` takes no `{field}`"));
            }
        }
        AccessPackageQuestion {
            id: q.id.unwrap_or_default(),
            text: q.text,
            localizations: to_localized(q.localizations),
            is_required: q.is_required,
            is_answer_editable: q.is_answer_editable,
            sequence: q.sequence,
            kind,
        }
    }
}
