//! The rules a policy must satisfy when it is saved, as Graph and the Entra documentation state
//! them. Every problem is reported, each with the path of the offending property.

use super::question::check_questions;
use super::{
    AccessPackageApprovalStage, AccessPackageAssignmentPolicy, AllowedTargetScope, ExpirationPattern,
    ExpirationPatternType, ReviewSettings, SubjectSet,
};
use crate::duration::Duration;
use crate::error::{DomainError, Problems};
use crate::text::{MAX_DESCRIPTION, MAX_DISPLAY_NAME};

/// Users and groups one policy may name as who can request.
pub const MAX_USERS_AND_GROUPS: usize = 500;
/// Connected organizations one policy may name.
pub const MAX_CONNECTED_ORGANIZATIONS: usize = 1_000;
/// Approval stages a policy may have.
pub const MAX_STAGES: usize = 3;
/// The longest assignment duration a policy may set (the portal's 3,660 days).
pub const MAX_ASSIGNMENT_DAYS: u64 = 3_660;

/// Which subject-set kinds a property accepts.
#[derive(Clone, Copy)]
enum Kinds {
    DirectoryTargets { automatic: bool },
    ConnectedOrganizationTargets,
    ServicePrincipalTargets,
    OnBehalfRequestors,
    PrimaryApprovers,
    EscalationApprovers,
    Fallback,
    Reviewers,
}

impl Kinds {
    fn accepts(self, set: &SubjectSet) -> bool {
        use SubjectSet as S;
        match self {
            Self::DirectoryTargets { automatic } => {
                matches!(set, S::SingleUser { .. } | S::GroupMembers { .. })
                    || (automatic && matches!(set, S::AttributeRuleMembers { .. }))
            }
            Self::ConnectedOrganizationTargets => matches!(set, S::ConnectedOrganizationMembers { .. }),
            Self::ServicePrincipalTargets => matches!(set, S::SingleServicePrincipal { .. }),
            Self::OnBehalfRequestors => matches!(
                set,
                S::SingleUser { .. }
                    | S::GroupMembers { .. }
                    | S::TargetManager { .. }
                    | S::TargetApplicationOwners
            ),
            Self::PrimaryApprovers => matches!(
                set,
                S::SingleUser { .. }
                    | S::GroupMembers { .. }
                    | S::RequestorManager { .. }
                    | S::InternalSponsors
                    | S::ExternalSponsors
                    | S::TargetUserSponsors
            ),
            Self::EscalationApprovers | Self::Reviewers => {
                matches!(set, S::SingleUser { .. } | S::GroupMembers { .. } | S::RequestorManager { .. })
            }
            Self::Fallback => matches!(set, S::SingleUser { .. } | S::GroupMembers { .. }),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Self::DirectoryTargets { automatic: false } => "`singleUser` or `groupMembers`",
            Self::DirectoryTargets { automatic: true } => "`attributeRuleMembers`",
            Self::ConnectedOrganizationTargets => "`connectedOrganizationMembers`",
            Self::ServicePrincipalTargets => "`singleServicePrincipal`",
            Self::OnBehalfRequestors => "`targetManager`, `singleUser` or `groupMembers`",
            Self::PrimaryApprovers => {
                "`singleUser`, `groupMembers`, `requestorManager`, `internalSponsors`, `externalSponsors` or `targetUserSponsors`"
            }
            Self::EscalationApprovers | Self::Reviewers => {
                "`singleUser`, `groupMembers` or `requestorManager`"
            }
            Self::Fallback => "`singleUser` or `groupMembers`",
        }
    }
}

impl AccessPackageAssignmentPolicy {
    /// Checks every rule and reports every problem found, each with its path.
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut p = Problems::default();
        self.check_names(&mut p);
        self.check_targets(&mut p);
        self.check_requestors(&mut p);
        self.check_approval(&mut p);
        self.check_automatic(&mut p);
        check_questions(&self.questions, &mut p);
        check_expiration(&self.expiration, "expiration", &mut p);
        if let Some(review) = &self.review_settings {
            check_review(review, &mut p);
        }
        p.into_result("the policy is invalid")
    }

    fn check_names(&self, p: &mut Problems) {
        if self.access_package_id.trim().is_empty() {
            p.push("accessPackageId", "a policy belongs to an access package; name it");
        }
        let name = self.display_name.trim();
        if name.is_empty() {
            p.push("displayName", "`displayName` must not be empty");
        } else if name.chars().count() > MAX_DISPLAY_NAME {
            p.push("displayName", format!("`displayName` is longer than {MAX_DISPLAY_NAME} characters"));
        } else if name.chars().any(char::is_control) {
            p.push("displayName", "`displayName` must not contain control characters");
        }
        if self.description.as_deref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
            p.push("description", format!("`description` is longer than {MAX_DESCRIPTION} characters"));
        }
    }

    fn check_targets(&self, p: &mut Problems) {
        use AllowedTargetScope as Scope;
        let scope = self.allowed_target_scope;
        let targets = &self.specific_allowed_targets;
        let at = "specificAllowedTargets";
        let kinds = match scope {
            Scope::SpecificDirectoryUsers => Kinds::DirectoryTargets { automatic: self.is_automatic() },
            Scope::SpecificConnectedOrganizationUsers => Kinds::ConnectedOrganizationTargets,
            Scope::SpecificDirectoryServicePrincipals => Kinds::ServicePrincipalTargets,
            _ => {
                if !targets.is_empty() {
                    p.push(
                        at,
                        format!(
                            "`allowedTargetScope` `{}` takes no `specificAllowedTargets`; use a `specific…` scope to name principals",
                            scope.as_str()
                        ),
                    );
                }
                return;
            }
        };
        if targets.is_empty() {
            p.push(at, format!("`allowedTargetScope` `{}` needs at least one target", scope.as_str()));
        }
        for (i, set) in targets.iter().enumerate() {
            let internal = matches!(set, SubjectSet::SingleUser { .. } | SubjectSet::GroupMembers { .. });
            let external = matches!(set, SubjectSet::ConnectedOrganizationMembers { .. });
            let mixes = (scope == Scope::SpecificDirectoryUsers && external)
                || (scope == Scope::SpecificConnectedOrganizationUsers && internal);
            if mixes {
                p.push(
                    format!("{at}[{i}]"),
                    "a policy cannot cover both users in the directory and users of connected organizations; create one policy for each",
                );
            } else if !kinds.accepts(set) {
                let message = if matches!(set, SubjectSet::AttributeRuleMembers { .. }) {
                    "`attributeRuleMembers` targets only auto-assignment policies (with `automaticRequestSettings`)"
                        .to_owned()
                } else {
                    format!(
                        "`{}` is not a target of `{}`; use {}",
                        set.type_name(),
                        scope.as_str(),
                        kinds.expected()
                    )
                };
                p.push(format!("{at}[{i}]"), message);
            }
        }
        check_ids_and_duplicates(targets, at, p);
        let users_and_groups = targets.iter().filter(|s| s.is_user_or_group()).count();
        if users_and_groups > MAX_USERS_AND_GROUPS {
            p.push(
                at,
                format!("a policy names at most {MAX_USERS_AND_GROUPS} users and groups; this one names {users_and_groups}"),
            );
        }
        let organizations =
            targets.iter().filter(|s| matches!(s, SubjectSet::ConnectedOrganizationMembers { .. })).count();
        if organizations > MAX_CONNECTED_ORGANIZATIONS {
            p.push(
                at,
                format!(
                    "a policy names at most {MAX_CONNECTED_ORGANIZATIONS} connected organizations; this one names {organizations}"
                ),
            );
        }
    }

    fn check_requestors(&self, p: &mut Problems) {
        let r = &self.requestor_settings;
        let at = "requestorSettings";
        if self.allowed_target_scope == AllowedTargetScope::NotSpecified {
            for (flag, on) in [
                ("enableTargetsToSelfAddAccess", r.enable_targets_to_self_add_access),
                ("enableTargetsToSelfUpdateAccess", r.enable_targets_to_self_update_access),
                ("enableTargetsToSelfRemoveAccess", r.enable_targets_to_self_remove_access),
                ("enableOnBehalfRequestorsToAddAccess", r.enable_on_behalf_requestors_to_add_access),
                ("enableOnBehalfRequestorsToUpdateAccess", r.enable_on_behalf_requestors_to_update_access),
                ("enableOnBehalfRequestorsToRemoveAccess", r.enable_on_behalf_requestors_to_remove_access),
            ] {
                if on {
                    p.push(
                        format!("{at}.{flag}"),
                        "nobody can request through a policy whose `allowedTargetScope` is `notSpecified` (direct assignment only); turn this off or choose who may request",
                    );
                }
            }
            if self.request_approval_settings.is_approval_required() {
                p.push(
                    "requestApprovalSettings",
                    "a direct-assignment-only policy (`allowedTargetScope` `notSpecified`) has no approval; administrators assign directly",
                );
            }
        }
        let on_behalf = r.enable_on_behalf_requestors_to_add_access
            || r.enable_on_behalf_requestors_to_update_access
            || r.enable_on_behalf_requestors_to_remove_access;
        if on_behalf && r.on_behalf_requestors.is_empty() {
            p.push(
                format!("{at}.onBehalfRequestors"),
                "on-behalf requests are enabled but nobody may make them; add `targetManager`, a user or a group",
            );
        }
        for (i, set) in r.on_behalf_requestors.iter().enumerate() {
            let at = format!("{at}.onBehalfRequestors[{i}]");
            if !Kinds::OnBehalfRequestors.accepts(set) {
                p.push(
                    at,
                    format!(
                        "`{}` cannot request on behalf of others; use {}",
                        set.type_name(),
                        Kinds::OnBehalfRequestors.expected()
                    ),
                );
            } else if matches!(set, SubjectSet::TargetApplicationOwners)
                && !self.allowed_target_scope.is_service_principal()
            {
                p.push(at, "`targetApplicationOwners` request only for service principals");
            }
        }
        check_ids_and_duplicates(&r.on_behalf_requestors, &format!("{at}.onBehalfRequestors"), p);
    }

    fn check_approval(&self, p: &mut Problems) {
        let a = &self.request_approval_settings;
        let at = "requestApprovalSettings.stages";
        if a.is_approval_required() {
            if a.stages.is_empty() || a.stages.len() > MAX_STAGES {
                p.push(at, format!("approval needs 1 to {MAX_STAGES} stages; {} given", a.stages.len()));
            }
        } else if !a.stages.is_empty() {
            p.push(
                at,
                "stages are given but no approval is required; set `isApprovalRequiredForAdd` or remove the stages",
            );
        }
        let mut manager_stage: Option<usize> = None;
        for (i, stage) in a.stages.iter().enumerate() {
            let at = format!("{at}[{i}]");
            self.check_stage(stage, &at, p);
            let uses_manager = stage
                .primary_approvers
                .iter()
                .chain(&stage.escalation_approvers)
                .any(|s| matches!(s, SubjectSet::RequestorManager { .. }));
            if uses_manager {
                match manager_stage {
                    Some(first) => p.push(
                        at,
                        format!("the requestor's manager may approve in only one stage; stages[{first}] already uses `requestorManager`"),
                    ),
                    None => manager_stage = Some(i),
                }
            }
        }
    }

    fn check_stage(&self, stage: &AccessPackageApprovalStage, at: &str, p: &mut Problems) {
        if stage.duration_before_automatic_denial.is_zero() {
            p.push(
                format!("{at}.durationBeforeAutomaticDenial"),
                "a stage needs time to decide; `PT0S` would deny every request at once",
            );
        } else if stage.duration_before_automatic_denial > Duration::days(MAX_ASSIGNMENT_DAYS) {
            p.push(
                format!("{at}.durationBeforeAutomaticDenial"),
                format!("a stage may wait at most {MAX_ASSIGNMENT_DAYS} days"),
            );
        }
        if stage.primary_approvers.is_empty() {
            p.push(format!("{at}.primaryApprovers"), "a stage needs at least one primary approver");
        }
        let lists = [
            ("primaryApprovers", &stage.primary_approvers, Kinds::PrimaryApprovers),
            ("fallbackPrimaryApprovers", &stage.fallback_primary_approvers, Kinds::Fallback),
            ("escalationApprovers", &stage.escalation_approvers, Kinds::EscalationApprovers),
            ("fallbackEscalationApprovers", &stage.fallback_escalation_approvers, Kinds::Fallback),
        ];
        for (name, sets, kinds) in lists {
            for (j, set) in sets.iter().enumerate() {
                let at = format!("{at}.{name}[{j}]");
                if !kinds.accepts(set) {
                    p.push(
                        at,
                        format!(
                            "`{}` cannot be one of the `{name}`; use {}",
                            set.type_name(),
                            kinds.expected()
                        ),
                    );
                    continue;
                }
                if matches!(set, SubjectSet::InternalSponsors | SubjectSet::ExternalSponsors)
                    && !self.allowed_target_scope.is_external()
                {
                    p.push(
                        at,
                        format!(
                            "`{}` approve only requests from connected organizations; this policy's scope is `{}`",
                            set.type_name(),
                            self.allowed_target_scope.as_str()
                        ),
                    );
                }
            }
            check_ids_and_duplicates(sets, &format!("{at}.{name}"), p);
        }
        if stage.primary_approvers.iter().any(SubjectSet::needs_fallback)
            && stage.fallback_primary_approvers.is_empty()
        {
            p.push(
                format!("{at}.fallbackPrimaryApprovers"),
                "the requestor's manager or sponsors may not exist; add a fallback approver to decide then",
            );
        }
        if stage.escalation_approvers.iter().any(SubjectSet::needs_fallback)
            && stage.fallback_escalation_approvers.is_empty()
        {
            p.push(
                format!("{at}.fallbackEscalationApprovers"),
                "the requestor's manager may not exist; add a fallback escalation approver to decide then",
            );
        }
        if stage.is_escalation_enabled {
            if stage.duration_before_automatic_denial < Duration::days(4) {
                p.push(
                    format!("{at}.durationBeforeAutomaticDenial"),
                    format!(
                        "alternate approvers need a timeout of at least 4 days (`P4D`); this stage waits {}",
                        stage.duration_before_automatic_denial
                    ),
                );
            }
            if stage.duration_before_escalation < Duration::days(1) {
                p.push(
                    format!("{at}.durationBeforeEscalation"),
                    format!(
                        "a request is forwarded to alternate approvers no earlier than 1 day (`P1D`); {} given",
                        stage.duration_before_escalation
                    ),
                );
            } else if stage.duration_before_escalation >= stage.duration_before_automatic_denial {
                p.push(
                    format!("{at}.durationBeforeEscalation"),
                    format!(
                        "escalation after {} comes too late: the request is denied after {}",
                        stage.duration_before_escalation, stage.duration_before_automatic_denial
                    ),
                );
            }
            if stage.escalation_approvers.is_empty() {
                p.push(
                    format!("{at}.escalationApprovers"),
                    "escalation is enabled; name the alternate approvers",
                );
            }
        } else {
            for (name, sets) in [
                ("escalationApprovers", &stage.escalation_approvers),
                ("fallbackEscalationApprovers", &stage.fallback_escalation_approvers),
            ] {
                if !sets.is_empty() {
                    p.push(
                        format!("{at}.{name}"),
                        "escalation is disabled; set `isEscalationEnabled` or remove these approvers",
                    );
                }
            }
        }
    }

    fn check_automatic(&self, p: &mut Problems) {
        if self.automatic_request_settings.is_none() {
            return;
        }
        if self.allowed_target_scope != AllowedTargetScope::SpecificDirectoryUsers {
            p.push(
                "allowedTargetScope",
                format!(
                    "an auto-assignment policy's scope is `specificDirectoryUsers`, not `{}`",
                    self.allowed_target_scope.as_str()
                ),
            );
        }
        let rules: Vec<(usize, &str)> = self
            .specific_allowed_targets
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                SubjectSet::AttributeRuleMembers { membership_rule, .. } => {
                    Some((i, membership_rule.as_str()))
                }
                _ => None,
            })
            .collect();
        if rules.len() != 1 || self.specific_allowed_targets.len() != 1 {
            p.push(
                "specificAllowedTargets",
                "an auto-assignment policy has exactly one target, an `attributeRuleMembers` with the rule",
            );
        }
        for (i, rule) in rules {
            let at = format!("specificAllowedTargets[{i}].membershipRule");
            if rule.trim().is_empty() {
                p.push(at, "the rule must not be empty");
            } else if let Err(diagnostics) = crate::rule::parse(rule) {
                for d in diagnostics {
                    let hint = d.hint.as_deref().map(|h| format!("; hint: {h}")).unwrap_or_default();
                    p.push(at.clone(), format!("{d}{hint}"));
                }
            }
        }
        if self.request_approval_settings.is_approval_required() {
            p.push("requestApprovalSettings", "auto-assignment needs no approval; nobody requests");
        }
        if !self.questions.is_empty() {
            p.push("questions", "auto-assignment asks no questions; nobody requests");
        }
        if self.requestor_settings.any_request_enabled()
            || !self.requestor_settings.on_behalf_requestors.is_empty()
        {
            p.push(
                "requestorSettings",
                "nobody requests through an auto-assignment policy; turn off self and on-behalf requests",
            );
        }
    }
}

/// Every subject set names something, manager levels are 1 or 2, and no list names the same
/// subject twice (descriptions aside).
fn check_ids_and_duplicates(sets: &[SubjectSet], at: &str, p: &mut Problems) {
    let mut seen: Vec<(&SubjectSet, usize)> = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        let named = match set {
            SubjectSet::SingleUser { user_id, .. } => Some(("userId", user_id)),
            SubjectSet::GroupMembers { group_id, .. } => Some(("groupId", group_id)),
            SubjectSet::SingleServicePrincipal { service_principal_id, .. } => {
                Some(("servicePrincipalId", service_principal_id))
            }
            SubjectSet::ConnectedOrganizationMembers { connected_organization_id, .. } => {
                Some(("connectedOrganizationId", connected_organization_id))
            }
            _ => None,
        };
        if let Some((field, value)) = named
            && value.trim().is_empty()
        {
            p.push(format!("{at}[{i}].{field}"), format!("`{field}` must not be empty"));
        }
        if let SubjectSet::RequestorManager { manager_level } | SubjectSet::TargetManager { manager_level } =
            set
            && !(1..=2).contains(manager_level)
        {
            p.push(
                format!("{at}[{i}].managerLevel"),
                format!(
                    "`managerLevel` is 1 (the manager) or 2 (the manager's manager), not {manager_level}"
                ),
            );
        }
        match seen.iter().find(|(other, _)| same_subject(other, set)) {
            Some((_, first)) => {
                p.push(format!("{at}[{i}]"), format!("{} is already listed at [{first}]", set.label()))
            }
            None => seen.push((set, i)),
        }
    }
}

fn same_subject(a: &SubjectSet, b: &SubjectSet) -> bool {
    use SubjectSet as S;
    match (a, b) {
        (S::SingleUser { user_id: x, .. }, S::SingleUser { user_id: y, .. })
        | (S::GroupMembers { group_id: x, .. }, S::GroupMembers { group_id: y, .. })
        | (
            S::SingleServicePrincipal { service_principal_id: x, .. },
            S::SingleServicePrincipal { service_principal_id: y, .. },
        )
        | (
            S::ConnectedOrganizationMembers { connected_organization_id: x, .. },
            S::ConnectedOrganizationMembers { connected_organization_id: y, .. },
        )
        | (
            S::AttributeRuleMembers { membership_rule: x, .. },
            S::AttributeRuleMembers { membership_rule: y, .. },
        ) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

/// `noExpiration` and `notSpecified` take nothing; `afterDateTime` an end; `afterDuration` a
/// duration from 1 hour to 3,660 days.
pub fn check_expiration(e: &ExpirationPattern, at: &str, p: &mut Problems) {
    match e.kind {
        ExpirationPatternType::NotSpecified | ExpirationPatternType::NoExpiration => {
            if e.end_date_time.is_some() {
                p.push(format!("{at}.endDateTime"), "an end date needs `type` `afterDateTime`");
            }
            if e.duration.is_some() {
                p.push(format!("{at}.duration"), "a duration needs `type` `afterDuration`");
            }
        }
        ExpirationPatternType::AfterDateTime => {
            if e.end_date_time.is_none() {
                p.push(format!("{at}.endDateTime"), "`afterDateTime` needs an `endDateTime`");
            }
            if e.duration.is_some() {
                p.push(format!("{at}.duration"), "`afterDateTime` takes no duration; give one or the other");
            }
        }
        ExpirationPatternType::AfterDuration => {
            match e.duration {
                None => p.push(format!("{at}.duration"), "`afterDuration` needs a `duration`"),
                Some(d) if d < Duration::hours(1) => p.push(
                    format!("{at}.duration"),
                    format!("an assignment lasts at least 1 hour (`PT1H`); {d} given"),
                ),
                Some(d) if d > Duration::days(MAX_ASSIGNMENT_DAYS) => p.push(
                    format!("{at}.duration"),
                    format!("an assignment lasts at most {MAX_ASSIGNMENT_DAYS} days (`P{MAX_ASSIGNMENT_DAYS}D`); {d} given"),
                ),
                Some(_) => {}
            }
            if e.end_date_time.is_some() {
                p.push(
                    format!("{at}.endDateTime"),
                    "`afterDuration` takes no `endDateTime`; give one or the other",
                );
            }
        }
    }
}

fn check_review(r: &ReviewSettings, p: &mut Problems) {
    let at = "reviewSettings";
    for (name, sets) in
        [("primaryReviewers", &r.primary_reviewers), ("fallbackReviewers", &r.fallback_reviewers)]
    {
        let kinds = if name == "primaryReviewers" { Kinds::Reviewers } else { Kinds::Fallback };
        for (i, set) in sets.iter().enumerate() {
            if !kinds.accepts(set) {
                p.push(
                    format!("{at}.{name}[{i}]"),
                    format!("`{}` cannot review; use {}", set.type_name(), kinds.expected()),
                );
            }
        }
        check_ids_and_duplicates(sets, &format!("{at}.{name}"), p);
    }
    if !r.is_enabled {
        return;
    }
    if !r.is_self_review && r.primary_reviewers.is_empty() {
        p.push(
            format!("{at}.primaryReviewers"),
            "reviews are enabled; name the reviewers or set `isSelfReview`",
        );
    }
    if r.primary_reviewers.iter().any(SubjectSet::needs_fallback) && r.fallback_reviewers.is_empty() {
        p.push(
            format!("{at}.fallbackReviewers"),
            "the requestor's manager may not exist; add a fallback reviewer",
        );
    }
    match &r.schedule {
        None => p.push(format!("{at}.schedule"), "reviews are enabled; give their schedule"),
        Some(schedule) => crate::review::check_schedule(schedule, &format!("{at}.schedule"), p),
    }
}
