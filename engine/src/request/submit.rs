//! Submitting a request: every check that can refuse it, then its first steps.
//!
//! The checks run in this order, and the first that fails refuses the request with nothing
//! stored: the request type and who sends it; the catalog (published, for user requests); blocked
//! accounts; the policy (which one applies, and whether the requestor and the target are in it);
//! an existing assignment or open request; separation of duties; and last the input itself
//! (justification, answers, schedule), whose problems are all reported together.
//!
//! Codes: `FORBIDDEN` when this requestor may not make this request (not in scope, blocked,
//! unpublished catalog, no approver), `CONFLICT` when the target's state is in the way (an active
//! assignment, an open request for the package except for a removal, an incompatible package or
//! group, or an open request for one), `VALIDATION_FAILED` for the input, `NOT_FOUND` for a
//! policy or an assignment that is not the package's. The message names exactly what blocked the
//! request.

use crate::id::{AccessPackageId, AssignmentId, PolicyId, RequestId};
use chrono::{DateTime, Utc};

use super::{
    AccessPackageAssignmentRequest, AccessPackageRequestState, AccessPackageRequestType, PolicySnapshot,
    RequestExplanation, RequestOrigin, RequestStatus, Transition,
};
use crate::access_package::AccessPackage;
use crate::actor::Actor;
use crate::approval::{Approval, ApprovalStage, DirectoryView};
use crate::assignment::{AccessPackageAssignment, assignment_schedule};
use crate::catalog::AccessPackageCatalog;
use crate::directory::Group;
use crate::error::{DomainError, ErrorCode, Problems};
use crate::extension::{CustomCalloutExtension, CustomExtensionStage};
use crate::policy::applicability::{
    self, ApplicablePolicy, PolicyNote, SubjectFacts, catalog_allows, requestor_allowed, target_in_scope,
    user_label,
};
use crate::policy::question::check_answers;
use crate::policy::{
    AccessPackageAnswerString, AccessPackageAssignmentPolicy, AllowedTargetScope, AnswerMode,
    EntitlementManagementSchedule, RequestAction, check_expiration,
};
use crate::text::MAX_DESCRIPTION;

/// What a caller asks for. For update and remove requests, `assignment_id` names the assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInput {
    /// The new request's id, chosen by the caller.
    pub id: RequestId,
    pub request_type: AccessPackageRequestType,
    /// Who sends it: the signed-in user, or the engine for `system*` requests.
    pub requestor: Actor,
    pub access_package_id: AccessPackageId,
    /// The policy to request through; for user requests it may be left out when exactly one applies.
    pub assignment_policy_id: Option<PolicyId>,
    pub assignment_id: Option<AssignmentId>,
    pub justification: Option<String>,
    pub answers: Vec<AccessPackageAnswerString>,
    pub schedule: Option<EntitlementManagementSchedule>,
    /// Whether the requestor agreed to share their profile (name and e-mail address) with this
    /// organization: required of someone from another organization, as My Access asks them.
    pub profile_consent: bool,
}

/// A request of the target that is not finished yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    pub id: RequestId,
    pub access_package_id: AccessPackageId,
    pub request_type: AccessPackageRequestType,
}

/// Everything a submission decides on, loaded by the caller (and re-checked in its transaction).
#[derive(Clone, Copy)]
pub struct SubmitContext<'a> {
    pub package: &'a AccessPackage,
    pub catalog: &'a AccessPackageCatalog,
    /// Every policy of the package; the named one is found among them.
    pub policies: &'a [AccessPackageAssignmentPolicy],
    /// The requesting user; `None` for the engine and a local operator.
    pub requestor: Option<SubjectFacts<'a>>,
    /// The user who would get (or lose) the access.
    pub target: SubjectFacts<'a>,
    /// The target's assignments, of any package (expired ones are ignored).
    pub target_assignments: &'a [AccessPackageAssignment],
    /// The target's unfinished requests, of any package.
    pub target_open_requests: &'a [OpenRequest],
    /// The package's `incompatibleAccessPackages`.
    pub incompatible_packages: &'a [AccessPackage],
    /// The package's `incompatibleGroups`.
    pub incompatible_groups: &'a [Group],
    pub directory: &'a dyn DirectoryView,
    /// The catalog's custom extensions, which the policy's stage settings name.
    pub extensions: &'a [CustomCalloutExtension],
}

/// A submitted request: the request after its first steps, what to do, and its timers.
pub type SubmittedRequest = Transition;

/// The policy a request goes through, and why.
struct Chosen<'a> {
    policy: &'a AccessPackageAssignmentPolicy,
    reason: String,
    priority: Option<crate::policy::PolicyPriority>,
    others: Vec<PolicyNote>,
    assignment: Option<&'a AccessPackageAssignment>,
}

/// Decides a new request. See the module documentation for the order of the checks.
pub fn submit(
    input: RequestInput,
    ctx: &SubmitContext<'_>,
    now: DateTime<Utc>,
) -> Result<SubmittedRequest, DomainError> {
    let kind = input.request_type;
    let (Some(action), Some(origin)) = (kind.action(), kind.origin()) else {
        let hint = match kind {
            AccessPackageRequestType::OnBehalfAdd => {
                "; to request for someone else, send `userAdd` with their id as the target"
            }
            _ => "",
        };
        return Err(DomainError::invalid(
            "requestType",
            format!("`{}` requests are not supported{hint}", kind.as_str()),
        ));
    };
    if input.access_package_id != ctx.package.id {
        return Err(DomainError::invalid(
            "accessPackageId",
            format!(
                "the request names access package `{}`, not `{}`",
                input.access_package_id, ctx.package.id
            ),
        ));
    }
    let requestor = check_requestor(&input, origin, ctx)?;
    let target = &ctx.target;
    if origin == RequestOrigin::User && action != RequestAction::Remove {
        let facts = requestor.as_ref().unwrap_or(target);
        catalog_allows(ctx.catalog, facts)
            .map_err(|reason| DomainError::forbidden(reason).at("accessPackageId"))?;
    }
    if action != RequestAction::Remove && !target.user.account_enabled() {
        return Err(DomainError::forbidden(format!(
            "{} is blocked from signing in and cannot be given access",
            user_label(target.user)
        ))
        .at("targetId"));
    }
    let chosen = choose_policy(&input, action, origin, requestor.as_ref(), ctx)?;
    check_conflicts(action, ctx)?;
    if action == RequestAction::Add {
        check_separation_of_duties(ctx)?;
    }
    let answers = check_input(&input, action, origin, chosen.policy, now)?;
    build(input, action, origin, chosen, answers, ctx, now)
}

/// The requestor must fit the request type: a signed-in user for `user*`, the engine for `system*`.
fn check_requestor<'a>(
    input: &RequestInput,
    origin: RequestOrigin,
    ctx: &SubmitContext<'a>,
) -> Result<Option<SubjectFacts<'a>>, DomainError> {
    let kind = input.request_type.as_str();
    match origin {
        RequestOrigin::User => {
            let id = match &input.requestor {
                Actor::User { id } => id.clone(),
                // Someone from another organization, as the guest they would become.
                Actor::External { subject } => crate::guest::guest_id(&subject.issuer, &subject.object_id),
                Actor::System | Actor::LocalOperator => {
                    return Err(DomainError::forbidden(format!(
                        "`{kind}` requests come from a signed-in user"
                    )));
                }
            };
            let facts = ctx.requestor.filter(|f| f.user.id == id).ok_or_else(|| {
                DomainError::forbidden(format!("the requestor `{id}` is not a user of the directory"))
            })?;
            if !facts.user.account_enabled() {
                return Err(DomainError::forbidden(format!(
                    "{} is blocked from signing in and cannot request",
                    user_label(facts.user)
                )));
            }
            Ok(Some(facts))
        }
        RequestOrigin::Admin => {
            if !matches!(input.requestor, Actor::User { .. } | Actor::LocalOperator) {
                return Err(DomainError::forbidden(format!("`{kind}` requests come from an administrator")));
            }
            Ok(ctx.requestor)
        }
        RequestOrigin::System => {
            if input.requestor != Actor::System {
                return Err(DomainError::forbidden(format!("`{kind}` requests come from the engine itself")));
            }
            Ok(None)
        }
    }
}

fn find_policy<'a>(
    id: &str,
    ctx: &SubmitContext<'a>,
) -> Result<&'a AccessPackageAssignmentPolicy, DomainError> {
    ctx.policies.iter().find(|p| p.id == id).ok_or_else(|| {
        DomainError::new(
            ErrorCode::NotFound,
            format!("policy `{id}` is not a policy of access package `{}`", ctx.package.display_name),
        )
        .at("assignmentPolicyId")
    })
}

fn choose_policy<'a>(
    input: &RequestInput,
    action: RequestAction,
    origin: RequestOrigin,
    requestor: Option<&SubjectFacts<'a>>,
    ctx: &SubmitContext<'a>,
) -> Result<Chosen<'a>, DomainError> {
    if action != RequestAction::Add {
        return choose_for_assignment(input, action, origin, requestor, ctx);
    }
    let target = &ctx.target;
    match (origin, requestor) {
        (RequestOrigin::User, Some(requestor)) => {
            let found =
                applicability::applicable_policies(ctx.policies, requestor, target, action, ctx.directory);
            let pick = |a: &ApplicablePolicy| -> Result<Chosen<'a>, DomainError> {
                let policy = find_policy(&a.policy_id, ctx)?;
                let others = found
                    .applicable
                    .iter()
                    .filter(|o| o.policy_id != a.policy_id)
                    .map(|o| PolicyNote {
                        policy_id: o.policy_id.clone(),
                        policy_display_name: o.policy_display_name.clone(),
                        reason: format!("also applies, but {} was chosen", policy.label()),
                    })
                    .chain(found.not_applicable.iter().cloned())
                    .collect();
                Ok(Chosen {
                    policy,
                    reason: a.reason.clone(),
                    priority: Some(a.priority),
                    others,
                    assignment: None,
                })
            };
            match &input.assignment_policy_id {
                Some(id) => {
                    find_policy(id, ctx)?;
                    if let Some(a) = found.applicable.iter().find(|a| &a.policy_id == id) {
                        return pick(a);
                    }
                    let reason = found
                        .not_applicable
                        .iter()
                        .find(|n| &n.policy_id == id)
                        .map_or_else(|| format!("policy `{id}` does not apply"), |n| n.reason.clone());
                    Err(DomainError::forbidden(reason).at("assignmentPolicyId"))
                }
                None => match found.applicable.as_slice() {
                    [one] => pick(one),
                    [] => {
                        let reasons: Vec<_> = found.not_applicable.iter().map(|n| n.reason.clone()).collect();
                        let why = if reasons.is_empty() {
                            format!("access package `{}` has no policy", ctx.package.display_name)
                        } else {
                            reasons.join("; ")
                        };
                        Err(DomainError::forbidden(format!(
                            "no policy of access package `{}` lets {} request it for {}: {why}",
                            ctx.package.display_name,
                            user_label(requestor.user),
                            user_label(target.user)
                        ))
                        .at("assignmentPolicyId"))
                    }
                    several => Err(DomainError::invalid(
                        "assignmentPolicyId",
                        format!(
                            "{} policies apply; choose one: {}",
                            several.len(),
                            several
                                .iter()
                                .map(|a| format!("`{}` (`{}`)", a.policy_display_name, a.policy_id))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                },
            }
        }
        (RequestOrigin::User, None) => Err(DomainError::forbidden("user requests need a requestor")),
        (RequestOrigin::Admin | RequestOrigin::System, _) => {
            let id = input.assignment_policy_id.as_deref().ok_or_else(|| {
                DomainError::invalid(
                    "assignmentPolicyId",
                    "a direct assignment names the policy it assigns through",
                )
            })?;
            let policy = find_policy(id, ctx)?;
            let reason = if origin == RequestOrigin::System {
                if !policy.is_automatic() {
                    return Err(DomainError::invalid(
                        "assignmentPolicyId",
                        format!(
                            "{} is not an auto-assignment policy; `systemAdd` goes through one",
                            policy.label()
                        ),
                    ));
                }
                format!("{}: auto-assignment of {}", policy.label(), user_label(target.user))
            } else {
                if policy.is_automatic() {
                    return Err(DomainError::invalid(
                        "assignmentPolicyId",
                        format!(
                            "{} assigns automatically; assign through a request-based policy",
                            policy.label()
                        ),
                    ));
                }
                if !policy.requestor_settings.accept_requests {
                    return Err(DomainError::forbidden(format!(
                        "{} does not accept new assignments",
                        policy.label()
                    ))
                    .at("assignmentPolicyId"));
                }
                let scope = if policy.allowed_target_scope == AllowedTargetScope::NotSpecified {
                    "a direct-assignment policy, open to any user".to_owned()
                } else {
                    target_in_scope(policy, target)
                        .map_err(|reason| DomainError::forbidden(reason).at("targetId"))?
                        .1
                };
                format!("{}: assigned directly by an administrator; {scope}", policy.label())
            };
            let priority = crate::policy::PolicyPriority::of(policy.allowed_target_scope);
            Ok(Chosen { policy, reason, priority, others: Vec::new(), assignment: None })
        }
    }
}

/// Update and remove requests go through the policy of the assignment they change.
fn choose_for_assignment<'a>(
    input: &RequestInput,
    action: RequestAction,
    origin: RequestOrigin,
    requestor: Option<&SubjectFacts<'a>>,
    ctx: &SubmitContext<'a>,
) -> Result<Chosen<'a>, DomainError> {
    let id = input.assignment_id.as_deref().ok_or_else(|| {
        DomainError::invalid("assignmentId", format!("an {} request names the assignment", action.as_str()))
    })?;
    let assignment = ctx
        .target_assignments
        .iter()
        .find(|a| a.id == id && a.access_package_id == ctx.package.id)
        .ok_or_else(|| DomainError::not_found("assignment", id).at("assignmentId"))?;
    if !assignment.is_active() {
        return Err(DomainError::conflict(format!(
            "assignment `{id}` has expired; request the access package again"
        ))
        .at("assignmentId"));
    }
    if input.assignment_policy_id.as_deref().is_some_and(|p| p != assignment.assignment_policy_id) {
        return Err(DomainError::invalid(
            "assignmentPolicyId",
            format!("assignment `{id}` was made through policy `{}`", assignment.assignment_policy_id),
        ));
    }
    let policy = find_policy(&assignment.assignment_policy_id, ctx)?;
    let target = &ctx.target;
    let reason = match (origin, requestor) {
        (RequestOrigin::User, Some(requestor)) => {
            let allowed = requestor_allowed(policy, requestor, target, action, ctx.directory)
                .map_err(|reason| DomainError::forbidden(reason).at("requestType"))?;
            let scope = if action == RequestAction::Update {
                // Extending access needs the target to still be in the policy's scope.
                format!(
                    "; {}",
                    target_in_scope(policy, target).map_err(|r| DomainError::forbidden(r).at("targetId"))?.1
                )
            } else {
                String::new()
            };
            format!("{}: the policy of assignment `{id}`; {allowed}{scope}", policy.label())
        }
        (RequestOrigin::User, None) => return Err(DomainError::forbidden("user requests need a requestor")),
        (RequestOrigin::Admin, _) => {
            format!("{}: the policy of assignment `{id}`, changed by an administrator", policy.label())
        }
        (RequestOrigin::System, _) => {
            format!("{}: the policy of assignment `{id}`, changed by the engine", policy.label())
        }
    };
    Ok(Chosen { policy, reason, priority: None, others: Vec::new(), assignment: Some(assignment) })
}

/// An add needs no active assignment and no open request for the package; an update or remove
/// needs no other open request for it.
fn check_conflicts(action: RequestAction, ctx: &SubmitContext<'_>) -> Result<(), DomainError> {
    let who = user_label(ctx.target.user);
    let package = &ctx.package.display_name;
    if action == RequestAction::Add
        && let Some(existing) =
            ctx.target_assignments.iter().find(|a| a.access_package_id == ctx.package.id && a.is_active())
    {
        return Err(DomainError::conflict(format!(
            "{who} already has an active assignment `{}` to access package `{package}`; extend it with an update request",
            existing.id
        )));
    }
    // A removal goes ahead whatever else is pending.
    if action != RequestAction::Remove
        && let Some(open) = ctx.target_open_requests.iter().find(|r| r.access_package_id == ctx.package.id)
    {
        return Err(DomainError::conflict(format!(
            "{who} already has an open `{}` request `{}` for access package `{package}`",
            open.request_type.as_str(),
            open.id
        )));
    }
    Ok(())
}

/// Separation of duties: the target may not hold an incompatible package, be a member of an
/// incompatible group, or have an open request for an incompatible package.
fn check_separation_of_duties(ctx: &SubmitContext<'_>) -> Result<(), DomainError> {
    let who = user_label(ctx.target.user);
    let package = &ctx.package.display_name;
    for other in ctx.incompatible_packages {
        if let Some(held) =
            ctx.target_assignments.iter().find(|a| a.access_package_id == other.id && a.is_active())
        {
            return Err(DomainError::conflict(format!(
                "{who} holds incompatible access package `{}` (assignment `{}`), so access package `{package}` cannot be assigned",
                other.display_name, held.id
            )));
        }
    }
    for group in ctx.incompatible_groups {
        if ctx.target.group_ids.iter().any(|g| g.eq_ignore_ascii_case(&group.id)) {
            return Err(DomainError::conflict(format!(
                "{who} is a member of incompatible group `{}`, so access package `{package}` cannot be assigned",
                group.display_name
            )));
        }
    }
    for other in ctx.incompatible_packages {
        if let Some(open) = ctx.target_open_requests.iter().find(|r| r.access_package_id == other.id) {
            return Err(DomainError::conflict(format!(
                "{who} has a pending request `{}` for incompatible access package `{}`, so access package `{package}` cannot be assigned",
                open.id, other.display_name
            )));
        }
    }
    Ok(())
}

/// Justification, answers and schedule; every problem is reported together.
fn check_input(
    input: &RequestInput,
    action: RequestAction,
    origin: RequestOrigin,
    policy: &AccessPackageAssignmentPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<AccessPackageAnswerString>, DomainError> {
    let mut p = Problems::default();
    let justification = input.justification.as_deref().map(str::trim).filter(|j| !j.is_empty());
    if origin == RequestOrigin::User
        && action != RequestAction::Remove
        && policy.request_approval_settings.is_requestor_justification_required
        && justification.is_none()
    {
        p.push("justification", format!("{} requires a justification", policy.label()));
    }
    if justification.is_some_and(|j| j.chars().count() > MAX_DESCRIPTION) {
        p.push("justification", format!("a justification is at most {MAX_DESCRIPTION} characters"));
    }
    let answers = match action {
        RequestAction::Remove => {
            if !input.answers.is_empty() {
                p.push("answers", "a removal takes no answers");
            }
            Vec::new()
        }
        RequestAction::Add if origin == RequestOrigin::System => Vec::new(),
        RequestAction::Add => check_answers(&policy.questions, &input.answers, AnswerMode::New, &mut p),
        RequestAction::Update => check_answers(&policy.questions, &input.answers, AnswerMode::Update, &mut p),
    };
    if let Some(schedule) = &input.schedule {
        check_schedule(schedule, action, origin, policy, now, &mut p);
    }
    if matches!(input.requestor, Actor::External { .. }) && !input.profile_consent {
        p.push(
            "consentToShareProfile",
            "someone from another organization must agree to share their name and e-mail address to request access",
        );
    }
    p.into_result("the request is invalid")?;
    Ok(answers)
}

fn check_schedule(
    schedule: &EntitlementManagementSchedule,
    action: RequestAction,
    origin: RequestOrigin,
    policy: &AccessPackageAssignmentPolicy,
    now: DateTime<Utc>,
    p: &mut Problems,
) {
    if action == RequestAction::Remove {
        p.push("schedule", "a removal takes no schedule");
        return;
    }
    if origin == RequestOrigin::User && !policy.requestor_settings.allow_custom_assignment_schedule {
        p.push("schedule", format!("{} does not let requestors choose their schedule", policy.label()));
        return;
    }
    if schedule.recurrence.is_some() {
        p.push("schedule.recurrence", "an assignment does not recur");
    }
    let mut shape = Problems::default();
    if let Some(expiration) = &schedule.expiration {
        check_expiration(expiration, "schedule.expiration", &mut shape);
        if let Some(end) = expiration.end_date_time
            && end <= now
        {
            shape.push("schedule.expiration.endDateTime", format!("{} has passed", end.to_rfc3339()));
        }
    }
    if shape.is_empty() {
        if let Err(e) = assignment_schedule(&policy.expiration, Some(schedule), now) {
            p.push(e.field.unwrap_or_else(|| "schedule".to_owned()), e.message);
        }
        // An extension never goes past a policy's fixed end date (a new request's end is
        // clamped to it instead).
        let fixed = (policy.expiration.kind == crate::policy::ExpirationPatternType::AfterDateTime)
            .then_some(policy.expiration.end_date_time)
            .flatten();
        let wanted = schedule.expiration.as_ref().and_then(|e| e.end_date_time);
        if action == RequestAction::Update
            && let (Some(fixed), Some(wanted)) = (fixed, wanted)
            && wanted > fixed
        {
            p.push(
                "schedule.expiration.endDateTime",
                format!(
                    "{} ends every assignment at {}; access cannot be extended past it",
                    policy.label(),
                    fixed.to_rfc3339()
                ),
            );
        }
    } else {
        for problem in shape.into_inner() {
            p.push(problem.path, problem.message);
        }
    }
}

fn build(
    input: RequestInput,
    action: RequestAction,
    origin: RequestOrigin,
    chosen: Chosen<'_>,
    answers: Vec<AccessPackageAnswerString>,
    ctx: &SubmitContext<'_>,
    now: DateTime<Utc>,
) -> Result<SubmittedRequest, DomainError> {
    let policy = chosen.policy;
    let approval_required = origin != RequestOrigin::System && policy.is_approval_required(action);
    let stages = if approval_required { policy.request_approval_settings.stages.clone() } else { Vec::new() };
    let target = ctx.target.user;
    let mut request = AccessPackageAssignmentRequest {
        id: input.id,
        request_type: input.request_type,
        state: AccessPackageRequestState::Submitted,
        status: RequestStatus::Accepted,
        justification: input.justification.map(|j| j.trim().to_owned()).filter(|j| !j.is_empty()),
        answers,
        schedule: input.schedule,
        access_package_id: ctx.package.id.clone(),
        assignment_policy_id: policy.id.clone(),
        catalog_id: ctx.catalog.id.clone(),
        requestor: input.requestor,
        target_id: target.id.clone(),
        assignment_id: chosen.assignment.map(|a| a.id.clone()),
        created_date_time: now,
        completed_date_time: None,
        approval: None,
        policy_snapshot: PolicySnapshot {
            display_name: policy.display_name.clone(),
            expiration: policy.expiration.clone(),
            stages,
            custom_extensions: crate::extension::resolve(
                &policy.custom_extension_stage_settings,
                ctx.extensions,
            ),
        },
        explanation: RequestExplanation {
            policy_reason: chosen.reason,
            priority: chosen.priority,
            other_policies: chosen.others,
            log: Vec::new(),
        },
        custom_extension_callout_instances: Vec::new(),
    };
    let by = match (&request.requestor, ctx.requestor) {
        (Actor::User { .. }, Some(facts)) => user_label(facts.user),
        (Actor::External { subject }, _) => format!("`{}` from another organization", subject.email),
        (actor, _) => actor.label(),
    };
    request.log(
        now,
        format!(
            "submitted: `{}` by {by} for {} through {}",
            request.request_type.as_str(),
            user_label(target),
            policy.label()
        ),
    );
    if let Actor::External { subject } = &request.requestor {
        request.log(
            now,
            format!(
                "`{}` agreed to share their name and e-mail address with this organization",
                subject.email
            ),
        );
    }
    // A launch-and-wait extension at request created holds the request until it calls back.
    let waits = request.launch(CustomExtensionStage::AssignmentRequestCreated, now);
    if !approval_required {
        if action != RequestAction::Remove {
            request.log(now, format!("{} needs no approval to {}", policy.label(), action.as_str()));
        }
        if waits {
            return Ok(request.finish(Vec::new()));
        }
        return Ok(request.proceed(now));
    }
    request.approval = Some(Approval {
        id: request.id.to_string(),
        stages: request
            .policy_snapshot
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| ApprovalStage::pending(&request.id, i, s))
            .collect(),
    });
    // With a wait at request created, the stage is only tried now (nobody to approve refuses the
    // request at once) and opens when the extension calls back.
    let held = waits.then(|| request.clone());
    let opened = request.open_stage(0, target, ctx.directory, now);
    if opened.request.state == AccessPackageRequestState::Denied {
        let notes = opened
            .request
            .approval
            .as_ref()
            .and_then(|a| a.stages.first())
            .map(|s| s.primary.notes.join("; "))
            .unwrap_or_default();
        return Err(DomainError::forbidden(format!(
            "nobody can approve this request in stage 1 of {}: {notes}",
            policy.label()
        )));
    }
    if let Some(request) = held {
        return Ok(request.finish(Vec::new()));
    }
    Ok(opened)
}
