//! Assignment policies: creating, replacing (Graph's `PUT`) and deleting them, and what the
//! signed-in user may request (`filterByCurrentUser(on='allowedRequestor')` and
//! `getApplicablePolicyRequirements`).
//!
//! The engine validates a policy and decides applicability; this module loads what those
//! decisions read: the package, the users and groups a policy names (they must exist), and for
//! the signed-in user, their user object and direct group memberships.

use std::collections::{BTreeMap, BTreeSet};

use super::context::Subject;
use em_engine::access_package::AccessPackage;
use em_engine::approval::DirectorySnapshot;
use em_engine::delegation::Right;
use em_engine::error::FieldError;
use em_engine::event::EventKind;
use em_engine::id::{AccessPackageId, CatalogId, PolicyId};
use em_engine::policy::applicability::applicable_policy_requirements;
use em_engine::policy::{
    AccessPackageAssignmentPolicy, ApplicablePolicyRequirements, PolicyInput, SubjectFacts, SubjectSet,
};
use em_engine::{Actor, DomainError, ErrorCode};

use super::{ServiceResult, Services, found};
use crate::store::policies::StoredPolicy;

/// The signed-in user as applicability reads them: the user, their direct groups, and the slice
/// of the directory that holds them.
struct Requestor {
    subject: Subject,
    directory: DirectorySnapshot,
}

impl Requestor {
    fn facts(&self) -> SubjectFacts<'_> {
        self.subject.facts()
    }

    /// The user and their groups: the principals a policy may name as targets.
    fn principal_ids(&self) -> Vec<String> {
        std::iter::once(self.subject.user.id.to_string())
            .chain(self.subject.group_ids.iter().cloned())
            .collect()
    }

    /// The connected organization they come from (`""` for an outsider whose organization is
    /// not connected), for policies of external users.
    fn organization_id(&self) -> Option<&str> {
        self.subject.organization.as_ref().map(|(_, facts)| facts.id.as_str())
    }
}

impl Services {
    /// Creates a policy for an existing access package: administrators, and the catalog's owners
    /// and access package managers; auto-assignment policies need an administrator.
    pub async fn create_assignment_policy(
        &self,
        actor: &Actor,
        input: PolicyInput,
    ) -> ServiceResult<StoredPolicy> {
        let package_id = input.access_package_id.clone();
        let package = self.package_for(actor, Right::ManagePolicies, &package_id, "accessPackageId").await?;
        let policy = AccessPackageAssignmentPolicy::create(self.new_id().into(), input, self.now())?;
        if policy.is_automatic() {
            self.require_automatic(actor, &package.catalog_id).await?;
        }
        self.check_subjects_exist(&policy).await?;
        let catalog = found(
            self.store.catalog(&package.catalog_id).await?,
            "catalog",
            "accessPackageId",
            &package.catalog_id,
        )?;
        policy.check_catalog(&catalog)?;
        self.check_stage_settings(&catalog.id, &policy).await?;
        let event = self.policy_event(actor, EventKind::AssignmentPolicyCreated, &policy, &package);
        self.store.logged(vec![event]).create_assignment_policy(&policy, &package.catalog_id).await?;
        if policy.is_automatic() {
            self.auto_policy_changed_detached(&policy.id).await?;
        }
        self.schedule_reviews(&policy.id, policy.review_settings.as_ref()).await?;
        Ok(StoredPolicy { policy, catalog_id: package.catalog_id, assignment_count: 0 })
    }

    /// Replaces a policy as a whole (Graph updates policies with `PUT`). An input without an
    /// access package keeps the policy's; naming another one is refused.
    pub async fn replace_assignment_policy(
        &self,
        actor: &Actor,
        id: &PolicyId,
        mut input: PolicyInput,
    ) -> ServiceResult<StoredPolicy> {
        let current = self.policy_for(actor, id).await?;
        if input.access_package_id.trim().is_empty() {
            input.access_package_id.clone_from(&current.policy.access_package_id);
        }
        let next = current.policy.replace(input, self.now())?;
        if next.is_automatic() || current.policy.is_automatic() {
            self.require_automatic(actor, &current.catalog_id).await?;
        }
        self.check_subjects_exist(&next).await?;
        let catalog =
            found(self.store.catalog(&current.catalog_id).await?, "catalog", "id", &current.catalog_id)?;
        next.check_catalog(&catalog)?;
        self.check_stage_settings(&catalog.id, &next).await?;
        let package = self.policy_package(&current).await?;
        let event = self.policy_event(actor, EventKind::AssignmentPolicyUpdated, &next, &package);
        self.store.logged(vec![event]).replace_assignment_policy(&next).await?;
        if next.is_automatic() || current.policy.is_automatic() {
            self.auto_policy_changed_detached(&next.id).await?;
        }
        self.schedule_reviews(&next.id, next.review_settings.as_ref()).await?;
        Ok(StoredPolicy { policy: next, ..current })
    }

    /// Deletes a policy; refused while assignments were made through it.
    pub async fn delete_assignment_policy(&self, actor: &Actor, id: &PolicyId) -> ServiceResult<()> {
        let current = self.policy_for(actor, id).await?;
        if current.policy.is_automatic() {
            self.require_automatic(actor, &current.catalog_id).await?;
        }
        if current.assignment_count > 0 {
            return Err(DomainError::conflict(format!(
                "{} has {} assignment(s); a policy can be deleted only when it has none",
                current.policy.label(),
                current.assignment_count
            ))
            .at("id")
            .into());
        }
        let package = self.policy_package(&current).await?;
        let event = self.policy_event(actor, EventKind::AssignmentPolicyDeleted, &current.policy, &package);
        self.store.logged(vec![event]).delete_assignment_policy(id).await?;
        if current.policy.is_automatic() {
            self.auto_policy_changed_detached(id).await?;
        }
        self.schedule_reviews(id, None).await?;
        Ok(())
    }

    /// The access packages the signed-in user may request (Graph's
    /// `filterByCurrentUser(on='allowedRequestor')`): not hidden, in a catalog that lets them
    /// request, with at least one policy that applies to them. Ordered by display name.
    pub async fn access_packages_for_me(&self, actor: &Actor) -> ServiceResult<Vec<AccessPackage>> {
        let me = self.requestor(actor).await?;
        let mut by_package: BTreeMap<AccessPackageId, Vec<AccessPackageAssignmentPolicy>> = BTreeMap::new();
        for stored in
            self.store.requestable_assignment_policies(&me.principal_ids(), me.organization_id()).await?
        {
            by_package.entry(stored.policy.access_package_id.clone()).or_default().push(stored.policy);
        }
        let ids: Vec<AccessPackageId> = by_package.keys().cloned().collect();
        let mut catalogs = BTreeMap::new();
        let mut out = Vec::new();
        for package in self.store.access_packages_by_ids(&ids).await? {
            if package.is_hidden {
                continue;
            }
            if !catalogs.contains_key(&package.catalog_id) {
                let catalog = self.store.catalog(&package.catalog_id).await?;
                catalogs.insert(package.catalog_id.clone(), catalog);
            }
            let Some(Some(catalog)) = catalogs.get(&package.catalog_id) else { continue };
            let policies = by_package.get(&package.id).map_or(&[][..], Vec::as_slice);
            if !applicable_policy_requirements(catalog, policies, &me.facts(), &me.directory).is_empty() {
                out.push(package);
            }
        }
        Ok(out)
    }

    /// `getApplicablePolicyRequirements`: for each policy through which the signed-in user may
    /// request the package for themselves (after Graph's priority rules), what they must
    /// provide. Hidden packages answer too: a user with the direct link may request them.
    pub async fn applicable_policy_requirements(
        &self,
        actor: &Actor,
        package_id: &AccessPackageId,
    ) -> ServiceResult<Vec<ApplicablePolicyRequirements>> {
        if actor.is_operator() {
            return Err(not_a_user().into());
        }
        // A package that does not exist answers as one no policy of which applies, unless the
        // caller sees every package anyway (no existence oracle).
        if self.delegations(actor).await?.administrator {
            self.access_package_at(package_id, "accessPackageId").await?;
        }
        self.requirements_for_caller(actor, package_id).await
    }

    /// The policy `id` for a change: `NOT_FOUND` when there is none or its catalog is not
    /// visible to the caller, `FORBIDDEN` without the right to manage the catalog's policies.
    async fn policy_for(&self, actor: &Actor, id: &PolicyId) -> ServiceResult<StoredPolicy> {
        let delegations = self.require_anywhere(actor, Right::ManagePolicies).await?;
        let missing = || DomainError::not_found("assignment policy", id).at("id");
        let current = self.store.assignment_policy(id).await?.ok_or_else(missing)?;
        self.require_in(&delegations, Right::ManagePolicies, &current.catalog_id, missing).await?;
        Ok(current)
    }

    /// Auto-assignment policies are managed by administrators only.
    async fn require_automatic(&self, actor: &Actor, catalog_id: &CatalogId) -> ServiceResult<()> {
        let delegations = self.delegations(actor).await?;
        let missing = || DomainError::not_found("catalog", catalog_id);
        self.require_in(&delegations, Right::ManageAutomaticPolicies, catalog_id, missing).await
    }

    /// The signed-in directory user, with their direct groups.
    async fn requestor(&self, actor: &Actor) -> ServiceResult<Requestor> {
        let Some(subject) = self.caller_subject(actor).await? else { return Err(not_a_user().into()) };
        let mut directory = DirectorySnapshot::default();
        for group in &subject.group_ids {
            directory.add_member(group, &subject.user.id);
        }
        directory.add_user(subject.user.clone());
        Ok(Requestor { subject, directory })
    }

    /// The users and groups a policy names must exist: each missing one is reported with its
    /// path (`requestApprovalSettings.stages[0].primaryApprovers[1].userId`).
    async fn check_subjects_exist(&self, policy: &AccessPackageAssignmentPolicy) -> ServiceResult<()> {
        let named = named_subjects(policy);
        let ids = |kind: Named| -> Vec<String> {
            let set: BTreeSet<&str> = named.iter().filter(|n| n.kind == kind).map(|n| n.id).collect();
            set.into_iter().map(str::to_owned).collect()
        };
        let users: BTreeSet<String> = self
            .store
            .users_by_ids(&ids(Named::User))
            .await?
            .into_iter()
            .map(|u| u.id.into_string())
            .collect();
        let groups: BTreeSet<String> =
            self.store.groups_by_ids(&ids(Named::Group)).await?.into_iter().map(|g| g.id).collect();
        let organizations: BTreeSet<String> = self
            .store
            .connected_organizations_by_ids(&ids(Named::ConnectedOrganization))
            .await?
            .into_iter()
            .map(|o| o.id.into_string())
            .collect();
        let missing: Vec<FieldError> = named
            .iter()
            .filter(|n| match n.kind {
                Named::User => !users.contains(n.id),
                Named::Group => !groups.contains(n.id),
                Named::ConnectedOrganization => !organizations.contains(n.id),
            })
            .map(|n| FieldError::new(n.path.clone(), format!("{} `{}` does not exist", n.kind.label(), n.id)))
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            [first, ..] => {
                let message = if missing.len() == 1 {
                    first.to_string()
                } else {
                    format!(
                        "the policy names {} users, groups or organizations that do not exist, the first: {first}",
                        missing.len()
                    )
                };
                Err(DomainError {
                    code: ErrorCode::NotFound,
                    message,
                    field: Some(first.path.clone()),
                    details: missing,
                }
                .into())
            }
        }
    }

    async fn policy_package(&self, stored: &StoredPolicy) -> ServiceResult<AccessPackage> {
        let id = &stored.policy.access_package_id;
        self.access_package_at(id, "accessPackageId").await
    }

    fn policy_event(
        &self,
        actor: &Actor,
        kind: EventKind,
        policy: &AccessPackageAssignmentPolicy,
        package: &AccessPackage,
    ) -> em_engine::event::Event {
        self.event(actor, kind, "AccessPackageAssignmentPolicy", &policy.id)
            .in_catalog(&package.catalog_id)
            .for_package(&package.id)
            .with_data(serde_json::to_value(policy).unwrap_or(serde_json::Value::Null))
    }
}

/// The refusal of a question only a signed-in directory user can ask.
fn not_a_user() -> DomainError {
    DomainError::new(
        ErrorCode::ValidationFailed,
        "this query answers for a directory user; sign in as a directory user",
    )
}

/// What a subject set names: a user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    User,
    Group,
    ConnectedOrganization,
}

impl Named {
    fn label(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::ConnectedOrganization => "connected organization",
        }
    }
}

/// A user or group named somewhere in a policy, with the path of its id.
struct NamedSubject<'a> {
    kind: Named,
    id: &'a str,
    path: String,
}

/// Every user and group a policy names, in document order.
fn named_subjects(policy: &AccessPackageAssignmentPolicy) -> Vec<NamedSubject<'_>> {
    let mut lists: Vec<(String, &[SubjectSet])> = vec![
        ("specificAllowedTargets".to_owned(), &policy.specific_allowed_targets),
        ("requestorSettings.onBehalfRequestors".to_owned(), &policy.requestor_settings.on_behalf_requestors),
    ];
    for (i, stage) in policy.request_approval_settings.stages.iter().enumerate() {
        let at = format!("requestApprovalSettings.stages[{i}]");
        lists.push((format!("{at}.primaryApprovers"), &stage.primary_approvers));
        lists.push((format!("{at}.fallbackPrimaryApprovers"), &stage.fallback_primary_approvers));
        lists.push((format!("{at}.escalationApprovers"), &stage.escalation_approvers));
        lists.push((format!("{at}.fallbackEscalationApprovers"), &stage.fallback_escalation_approvers));
    }
    if let Some(review) = &policy.review_settings {
        lists.push(("reviewSettings.primaryReviewers".to_owned(), &review.primary_reviewers));
        lists.push(("reviewSettings.fallbackReviewers".to_owned(), &review.fallback_reviewers));
    }
    let mut out = Vec::new();
    for (at, sets) in lists {
        for (i, set) in sets.iter().enumerate() {
            match set {
                SubjectSet::SingleUser { user_id, .. } => {
                    out.push(NamedSubject {
                        kind: Named::User,
                        id: user_id,
                        path: format!("{at}[{i}].userId"),
                    });
                }
                SubjectSet::GroupMembers { group_id, .. } => {
                    out.push(NamedSubject {
                        kind: Named::Group,
                        id: group_id,
                        path: format!("{at}[{i}].groupId"),
                    });
                }
                SubjectSet::ConnectedOrganizationMembers { connected_organization_id, .. } => {
                    out.push(NamedSubject {
                        kind: Named::ConnectedOrganization,
                        id: connected_organization_id,
                        path: format!("{at}[{i}].connectedOrganizationId"),
                    });
                }
                _ => {}
            }
        }
    }
    out
}
