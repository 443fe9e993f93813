//! Which policies of an access package let a user request it, and which one wins.
//!
//! A policy applies to a request when it accepts requests, lets this requestor make this kind of
//! request (for themselves, or on behalf of the target), and its `allowedTargetScope` covers the
//! target. When several apply, Graph's priority categories pick among them ("if any policy in a
//! higher priority category applies, lower categories are ignored"):
//!
//! | priority | scopes |
//! |---|---|
//! | P1 | specific users and groups in the directory, or specific connected organizations |
//! | P2 | all members of the directory (guests excluded) |
//! | P3 | all users of the directory, guests included |
//! | P4 | all configured connected organizations, or all external users |
//!
//! (Entra's table also lists "specified connected organizations" under P3; a scope can only sit
//! in one category, and the engine keeps it in P1 where the table names it first.)
//!
//! Every decision carries its reason, so the request can explain which policy applied and why,
//! and the others why not.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    AccessPackageAssignmentPolicy, AccessPackageQuestion, AllowedTargetScope, EntitlementManagementSchedule,
    SubjectSet,
};
use crate::approval::{DirectoryView, manager_at_level};
use crate::catalog::{AccessPackageCatalog, CatalogState};
use crate::directory::{User, UserType};
use crate::id::PolicyId;

/// What a request does to an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RequestAction {
    /// Create an assignment (or renew an expired one).
    Add,
    /// Extend an assignment or change its answers.
    Update,
    /// End an assignment.
    Remove,
}

impl RequestAction {
    /// Graph's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Update => "update",
            Self::Remove => "remove",
        }
    }
}

pub use crate::connected_organization::ConnectedOrganizationState;

/// The connected organization a user comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedOrganizationFacts {
    pub id: String,
    pub state: ConnectedOrganizationState,
}

/// What applicability reads about a requestor or a target, loaded by the caller.
#[derive(Debug, Clone, Copy)]
pub struct SubjectFacts<'a> {
    pub user: &'a User,
    /// The ids of the groups the user is a direct member of.
    pub group_ids: &'a BTreeSet<String>,
    /// The user's connected organization, for users from outside the directory.
    pub connected_organization: Option<&'a ConnectedOrganizationFacts>,
}

impl<'a> SubjectFacts<'a> {
    /// A user of the directory with their direct groups and no connected organization.
    #[must_use]
    pub fn new(user: &'a User, group_ids: &'a BTreeSet<String>) -> Self {
        Self { user, group_ids, connected_organization: None }
    }

    fn is_member_of(&self, group_id: &str) -> bool {
        self.group_ids.iter().any(|g| g.eq_ignore_ascii_case(group_id))
    }
}

/// Graph's policy priority categories; `P1` is the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyPriority {
    P1,
    P2,
    P3,
    P4,
}

impl PolicyPriority {
    /// The category of a user scope; `None` for scopes that no user requests through.
    #[must_use]
    pub fn of(scope: AllowedTargetScope) -> Option<Self> {
        use AllowedTargetScope as S;
        match scope {
            S::SpecificDirectoryUsers | S::SpecificConnectedOrganizationUsers => Some(Self::P1),
            S::AllMemberUsers => Some(Self::P2),
            S::AllDirectoryUsers => Some(Self::P3),
            S::AllConfiguredConnectedOrganizationUsers | S::AllExternalUsers => Some(Self::P4),
            S::NotSpecified
            | S::SpecificDirectoryServicePrincipals
            | S::AllDirectoryServicePrincipals
            | S::AllDirectoryAgentIdentities => None,
        }
    }

    /// Graph's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P1 => "P1",
            Self::P2 => "P2",
            Self::P3 => "P3",
            Self::P4 => "P4",
        }
    }
}

/// A policy that applies to a request, with its category and the reason it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicablePolicy {
    pub policy_id: PolicyId,
    pub policy_display_name: String,
    pub priority: PolicyPriority,
    /// Why it applies: `` `Alice` is a direct member of group `g1` (P1: specific users and groups) ``.
    pub reason: String,
}

/// A policy that does not apply (or was outranked), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyNote {
    pub policy_id: PolicyId,
    pub policy_display_name: String,
    pub reason: String,
}

/// The outcome of matching a package's policies against a request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applicability {
    /// The policies of the highest applicable category, ordered by display name then id.
    pub applicable: Vec<ApplicablePolicy>,
    /// Every other policy, with the reason it does not apply or was outranked.
    pub not_applicable: Vec<PolicyNote>,
}

/// `accessPackageAssignmentRequestRequirements`: what a requestor must provide to request through
/// one policy (the answer of `getApplicablePolicyRequirements`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicablePolicyRequirements {
    pub policy_id: PolicyId,
    pub policy_display_name: String,
    pub policy_description: Option<String>,
    pub is_approval_required_for_add: bool,
    pub is_approval_required_for_update: bool,
    pub is_requestor_justification_required: bool,
    pub allow_custom_assignment_schedule: bool,
    /// The schedule the policy gives: its expiration, no start.
    pub schedule: EntitlementManagementSchedule,
    pub questions: Vec<AccessPackageQuestion>,
}

impl ApplicablePolicyRequirements {
    /// The requirements a policy states.
    #[must_use]
    pub fn of(policy: &AccessPackageAssignmentPolicy) -> Self {
        let approval = &policy.request_approval_settings;
        let mut questions = policy.questions.clone();
        questions.sort_by_key(|q| q.sequence);
        Self {
            policy_id: policy.id.clone(),
            policy_display_name: policy.display_name.clone(),
            policy_description: policy.description.clone(),
            is_approval_required_for_add: approval.is_approval_required_for_add,
            is_approval_required_for_update: approval.is_approval_required_for_update,
            is_requestor_justification_required: approval.is_requestor_justification_required,
            allow_custom_assignment_schedule: policy.requestor_settings.allow_custom_assignment_schedule,
            schedule: EntitlementManagementSchedule {
                start_date_time: None,
                expiration: Some(policy.expiration.clone()),
                recurrence: None,
            },
            questions,
        }
    }
}

/// A user as explanations name them: their display name, else their id, in backticks.
#[must_use]
pub fn user_label(user: &User) -> String {
    format!("`{}`", user.display_name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(&user.id))
}

/// Whether the catalog lets this user request its packages: it must be published, and enabled
/// for external users when the user comes from a connected organization.
pub fn catalog_allows(catalog: &AccessPackageCatalog, requestor: &SubjectFacts<'_>) -> Result<(), String> {
    if catalog.state != CatalogState::Published {
        return Err(format!(
            "catalog `{}` is not published, so its access packages cannot be requested",
            catalog.display_name
        ));
    }
    if requestor.connected_organization.is_some() && !catalog.is_externally_visible {
        return Err(format!(
            "catalog `{}` is not enabled for external users, and {} comes from a connected organization",
            catalog.display_name,
            user_label(requestor.user)
        ));
    }
    Ok(())
}

/// Whether the policy's `allowedTargetScope` covers the target; the reason either way.
pub fn target_in_scope(
    policy: &AccessPackageAssignmentPolicy,
    target: &SubjectFacts<'_>,
) -> Result<(PolicyPriority, String), String> {
    use AllowedTargetScope as S;
    let who = user_label(target.user);
    let scope = policy.allowed_target_scope;
    let Some(priority) = PolicyPriority::of(scope) else {
        return Err(match scope {
            S::NotSpecified => format!("{} is for direct assignment by administrators only", policy.label()),
            _ => format!("{} assigns `{}`, not users", policy.label(), scope.as_str()),
        });
    };
    let covered = match scope {
        S::SpecificDirectoryUsers => policy.specific_allowed_targets.iter().find_map(|set| match set {
            SubjectSet::SingleUser { user_id, .. } if user_id.eq_ignore_ascii_case(&target.user.id) => {
                Some(format!("{who} is named in its `specificAllowedTargets`"))
            }
            SubjectSet::GroupMembers { group_id, .. } if target.is_member_of(group_id) => {
                Some(format!("{who} is a direct member of group `{group_id}`"))
            }
            _ => None,
        }),
        S::SpecificConnectedOrganizationUsers => target.connected_organization.and_then(|org| {
            policy.specific_allowed_targets.iter().find_map(|set| match set {
                SubjectSet::ConnectedOrganizationMembers { connected_organization_id, .. }
                    if connected_organization_id.eq_ignore_ascii_case(&org.id) =>
                {
                    Some(format!("{who} comes from connected organization `{}`", org.id))
                }
                _ => None,
            })
        }),
        S::AllMemberUsers => (target.user.user_type() == UserType::Member)
            .then(|| format!("{who} is a member user of the directory")),
        S::AllDirectoryUsers => Some(format!("{who} is a user of the directory")),
        S::AllConfiguredConnectedOrganizationUsers => target
            .connected_organization
            .filter(|org| org.state == ConnectedOrganizationState::Configured)
            .map(|org| format!("{who} comes from configured connected organization `{}`", org.id)),
        S::AllExternalUsers => target
            .connected_organization
            .map(|org| format!("{who} is an external user from connected organization `{}`", org.id)),
        _ => None,
    };
    if covered.is_none() && scope == S::AllMemberUsers {
        return Err(format!("{who} is a guest, and {} covers member users only", policy.label()));
    }
    match covered {
        Some(reason) => {
            Ok((priority, format!("{reason} ({}: {})", priority.as_str(), describe_scope(scope))))
        }
        None => Err(format!("{who} is not in the scope of {} ({})", policy.label(), describe_scope(scope))),
    }
}

fn describe_scope(scope: AllowedTargetScope) -> &'static str {
    use AllowedTargetScope as S;
    match scope {
        S::SpecificDirectoryUsers => "specific users and groups",
        S::SpecificConnectedOrganizationUsers => "specific connected organizations",
        S::AllMemberUsers => "all members, guests excluded",
        S::AllDirectoryUsers => "all users, guests included",
        S::AllConfiguredConnectedOrganizationUsers => "all configured connected organizations",
        S::AllExternalUsers => "all external users",
        S::NotSpecified => "direct assignment only",
        S::SpecificDirectoryServicePrincipals | S::AllDirectoryServicePrincipals => "service principals",
        S::AllDirectoryAgentIdentities => "agent identities",
    }
}

/// Whether `requestor` may request `action` for `target` through the policy: for themselves when
/// the policy enables self requests, for someone else when they are one of its on-behalf
/// requestors (`targetManager` at level n is the target's n-th manager up the chain).
pub fn requestor_allowed(
    policy: &AccessPackageAssignmentPolicy,
    requestor: &SubjectFacts<'_>,
    target: &SubjectFacts<'_>,
    action: RequestAction,
    directory: &dyn DirectoryView,
) -> Result<String, String> {
    let settings = &policy.requestor_settings;
    let who = user_label(requestor.user);
    if requestor.user.id == target.user.id {
        return if settings.self_enabled(action) {
            Ok(format!("users may {} access for themselves", action.as_str()))
        } else {
            Err(format!("{} does not let users {} access for themselves", policy.label(), action.as_str()))
        };
    }
    if !settings.on_behalf_enabled(action) {
        return Err(format!(
            "{} does not let anyone {} access on behalf of others",
            policy.label(),
            action.as_str()
        ));
    }
    let target_name = user_label(target.user);
    settings
        .on_behalf_requestors
        .iter()
        .find_map(|set| match set {
            SubjectSet::SingleUser { user_id, .. } if user_id.eq_ignore_ascii_case(&requestor.user.id) => {
                Some(format!("{who} is named as an on-behalf requestor"))
            }
            SubjectSet::GroupMembers { group_id, .. } if requestor.is_member_of(group_id) => {
                Some(format!("{who} may request on behalf of others as a member of group `{group_id}`"))
            }
            SubjectSet::TargetManager { manager_level } => {
                let level = u8::try_from(*manager_level).unwrap_or(0);
                (manager_at_level(target.user, level, directory).as_deref()
                    == Some(requestor.user.id.as_str()))
                .then(|| format!("{who} is the level-{level} manager of {target_name}"))
            }
            _ => None,
        })
        .ok_or_else(|| {
            format!("{who} is not one of the on-behalf requestors of {} for {target_name}", policy.label())
        })
}

/// Whether a request (`requestor` asking `action` for `target`) may go through the policy.
pub fn evaluate(
    policy: &AccessPackageAssignmentPolicy,
    requestor: &SubjectFacts<'_>,
    target: &SubjectFacts<'_>,
    action: RequestAction,
    directory: &dyn DirectoryView,
) -> Result<ApplicablePolicy, String> {
    if policy.is_automatic() {
        return Err(format!("{} assigns automatically; nobody requests through it", policy.label()));
    }
    if action == RequestAction::Add && !policy.requestor_settings.accept_requests {
        return Err(format!("{} does not accept new requests", policy.label()));
    }
    let (priority, scope_reason) = target_in_scope(policy, target)?;
    let requestor_reason = requestor_allowed(policy, requestor, target, action, directory)?;
    Ok(ApplicablePolicy {
        policy_id: policy.id.clone(),
        policy_display_name: policy.display_name.clone(),
        priority,
        reason: format!("{}: {scope_reason}; {requestor_reason}", policy.label()),
    })
}

/// Matches every policy of a package against a request and keeps the highest category.
pub fn applicable_policies<'p>(
    policies: impl IntoIterator<Item = &'p AccessPackageAssignmentPolicy>,
    requestor: &SubjectFacts<'_>,
    target: &SubjectFacts<'_>,
    action: RequestAction,
    directory: &dyn DirectoryView,
) -> Applicability {
    let mut out = Applicability::default();
    for policy in policies {
        match evaluate(policy, requestor, target, action, directory) {
            Ok(applicable) => out.applicable.push(applicable),
            Err(reason) => out.not_applicable.push(PolicyNote {
                policy_id: policy.id.clone(),
                policy_display_name: policy.display_name.clone(),
                reason,
            }),
        }
    }
    out.applicable.sort_by(|a, b| {
        (a.priority, &a.policy_display_name, &a.policy_id).cmp(&(
            b.priority,
            &b.policy_display_name,
            &b.policy_id,
        ))
    });
    if let Some(best) = out.applicable.first().map(|a| a.priority) {
        let (kept, outranked): (Vec<_>, Vec<_>) =
            out.applicable.into_iter().partition(|a| a.priority == best);
        out.applicable = kept;
        out.not_applicable.extend(outranked.into_iter().map(|a| PolicyNote {
            reason: format!(
                "policy `{}` ({}) is ignored because a policy of higher priority ({}) applies",
                a.policy_display_name,
                a.priority.as_str(),
                best.as_str()
            ),
            policy_id: a.policy_id,
            policy_display_name: a.policy_display_name,
        }));
    }
    out
}

/// `getApplicablePolicyRequirements` for the signed-in user: one entry per policy through which
/// they may request the package for themselves, after priority; empty when the catalog does not
/// let them request at all. A package is requestable (`filterByCurrentUser(on='allowedRequestor')`)
/// exactly when this is not empty.
pub fn applicable_policy_requirements<'p>(
    catalog: &AccessPackageCatalog,
    policies: impl IntoIterator<Item = &'p AccessPackageAssignmentPolicy>,
    me: &SubjectFacts<'_>,
    directory: &dyn DirectoryView,
) -> Vec<ApplicablePolicyRequirements> {
    if catalog_allows(catalog, me).is_err() {
        return Vec::new();
    }
    let policies: Vec<&AccessPackageAssignmentPolicy> = policies.into_iter().collect();
    let found = applicable_policies(policies.iter().copied(), me, me, RequestAction::Add, directory);
    found
        .applicable
        .iter()
        .filter_map(|a| policies.iter().find(|p| p.id == a.policy_id))
        .map(|p| ApplicablePolicyRequirements::of(p))
        .collect()
}
