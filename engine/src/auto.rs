//! Auto-assignment: what an auto-assignment policy does about one user.
//!
//! A policy with `automaticRequestSettings` assigns its package to every user its
//! `attributeRuleMembers` rule selects (Graph's `systemAdd`), and, when
//! `removeAccessWhenTargetLeavesAllowedTargets` is set, removes the assignments it made once the
//! user stops matching (`systemRemove`), after `gracePeriodBeforeAccessRemoval`. The rule is
//! evaluated elsewhere (the compiled evaluator over the directory index); [`decide`] turns
//! "matches or not" and "what the user holds" into an action, and [`rule_of`] finds the rule.
//!
//! Decisions where Graph is silent:
//! - A user who already holds the package through another policy is left alone when they match:
//!   the auto-assignment policy adds nothing and removes nothing it did not make.
//! - A user who matches again during the grace period keeps the assignment (the removal is
//!   called off).
//! - `requestAccessForAllowedTargets` false means the policy creates nothing (Graph uses it to
//!   pause a policy); removals still follow their own setting.

use chrono::{DateTime, Utc};

use crate::policy::{AccessPackageAssignmentPolicy, SubjectSet};

/// What a user holds of a policy's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// No active assignment of the package, and no open request for it.
    Nothing,
    /// An active assignment made through this policy; `removal_due` when its removal is scheduled.
    ThroughPolicy { removal_due: Option<DateTime<Utc>> },
    /// An active assignment through another policy, or an open request for the package.
    Otherwise,
}

/// What to do about one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoAction {
    Nothing,
    /// Submit a `systemAdd`.
    Assign,
    /// The user left the scope: remove at this time (now, without a grace period).
    ScheduleRemoval {
        at: DateTime<Utc>,
    },
    /// Submit a `systemRemove` now (a scheduled removal fell due, or no grace period).
    Remove,
    /// The user is back in scope during the grace period: keep the assignment.
    CancelRemoval,
}

/// The rule of an auto-assignment policy: its `attributeRuleMembers` target.
#[must_use]
pub fn rule_of(policy: &AccessPackageAssignmentPolicy) -> Option<&str> {
    policy.automatic_request_settings.as_ref()?;
    policy.specific_allowed_targets.iter().find_map(|set| match set {
        SubjectSet::AttributeRuleMembers { membership_rule, .. } => Some(membership_rule.as_str()),
        _ => None,
    })
}

/// Decides what an auto-assignment policy does about a user who `matches` (or not) and holds
/// `holding`, at `now`. `None` settings (not an auto-assignment policy) do nothing.
#[must_use]
pub fn decide(
    policy: &AccessPackageAssignmentPolicy,
    matches: bool,
    holding: Holding,
    now: DateTime<Utc>,
) -> AutoAction {
    let Some(settings) = &policy.automatic_request_settings else { return AutoAction::Nothing };
    match (matches, holding) {
        (true, Holding::Nothing) if settings.request_access_for_allowed_targets => AutoAction::Assign,
        (true, Holding::ThroughPolicy { removal_due: Some(_) }) => AutoAction::CancelRemoval,
        (false, Holding::ThroughPolicy { removal_due }) => {
            if !settings.remove_access_when_target_leaves_allowed_targets {
                return AutoAction::Nothing;
            }
            match removal_due {
                Some(due) if due <= now => AutoAction::Remove,
                Some(_) => AutoAction::Nothing,
                None => {
                    let at = settings
                        .grace_period_before_access_removal
                        .filter(|g| !g.is_zero())
                        .and_then(|g| g.after(now))
                        .unwrap_or(now);
                    if at <= now { AutoAction::Remove } else { AutoAction::ScheduleRemoval { at } }
                }
            }
        }
        _ => AutoAction::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::duration::Duration;
    use crate::policy::AutomaticRequestSettings;

    fn policy(remove: bool, grace: Option<Duration>) -> AccessPackageAssignmentPolicy {
        let mut p: AccessPackageAssignmentPolicy = serde_json::from_value(serde_json::json!({
            "id": "p", "displayName": "EMEA sales", "accessPackageId": "ap",
            "allowedTargetScope": "specificDirectoryUsers",
            "specificAllowedTargets": [{"type": "attributeRuleMembers", "membershipRule": "user.country -eq \"DE\""}],
            "createdDateTime": "2026-01-01T00:00:00Z", "modifiedDateTime": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        p.automatic_request_settings = Some(AutomaticRequestSettings {
            request_access_for_allowed_targets: true,
            remove_access_when_target_leaves_allowed_targets: remove,
            grace_period_before_access_removal: grace,
        });
        p
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").unwrap().to_utc()
    }

    #[test]
    fn a_matching_user_without_the_package_is_assigned() {
        assert_eq!(decide(&policy(true, None), true, Holding::Nothing, now()), AutoAction::Assign);
        assert_eq!(decide(&policy(true, None), true, Holding::Otherwise, now()), AutoAction::Nothing);
        let paused = AccessPackageAssignmentPolicy {
            automatic_request_settings: Some(AutomaticRequestSettings::default()),
            ..policy(true, None)
        };
        assert_eq!(decide(&paused, true, Holding::Nothing, now()), AutoAction::Nothing);
    }

    #[test]
    fn a_user_who_leaves_loses_the_assignment_after_the_grace_period() {
        let held = Holding::ThroughPolicy { removal_due: None };
        assert_eq!(decide(&policy(true, None), false, held, now()), AutoAction::Remove);
        let grace = policy(true, Some(Duration::days(7)));
        let at = now() + TimeDelta::days(7);
        assert_eq!(decide(&grace, false, held, now()), AutoAction::ScheduleRemoval { at });
        let scheduled = Holding::ThroughPolicy { removal_due: Some(at) };
        assert_eq!(decide(&grace, false, scheduled, now()), AutoAction::Nothing);
        assert_eq!(decide(&grace, false, scheduled, at), AutoAction::Remove);
        assert_eq!(decide(&grace, true, scheduled, now()), AutoAction::CancelRemoval);
        assert_eq!(decide(&policy(false, None), false, held, now()), AutoAction::Nothing);
        assert_eq!(decide(&grace, false, Holding::Otherwise, now()), AutoAction::Nothing);
    }

    #[test]
    fn the_rule_is_the_attribute_rule_target() {
        assert_eq!(rule_of(&policy(true, None)), Some("user.country -eq \"DE\""));
    }
}
