//! The generated directory and the policies the measurements use, in Microsoft Graph's shape.
//!
//! Every object id is derived from its index, so a run with the same sizes imports the same
//! directory. Requestors are plain member users; approvers are users too (an approver must be
//! a directory user to sign in); the administrator holds Global Administrator.

use serde_json::{Value, json};

/// The Global Administrator directory role template.
pub const GLOBAL_ADMINISTRATOR_TEMPLATE: &str = "62e90394-69f5-4237-9190-012177145e10";
/// The administrator who builds the catalog, packages and policies.
pub const ADMIN: &str = "sim-admin";
/// The group the packages deliver membership of.
pub const GROUP: &str = "sim-group";

const DEPARTMENTS: [&str; 6] = ["Sales", "Marketing", "Engineering", "Finance", "Operations", "Legal"];
const COUNTRIES: [&str; 5] = ["Germany", "France", "United States", "United Kingdom", "Japan"];

/// The `i`th requestor.
#[must_use]
pub fn requestor(i: usize) -> String {
    format!("sim-user-{i:06}")
}

/// The `i`th first-stage approver.
#[must_use]
pub fn first_approver(i: usize) -> String {
    format!("sim-approver1-{i:05}")
}

/// The `i`th second-stage approver.
#[must_use]
pub fn second_approver(i: usize) -> String {
    format!("sim-approver2-{i:05}")
}

/// The `i`th manager: the manager (and reviewer) of the requestors `i`, `i + managers`, ...
#[must_use]
pub fn manager(i: usize) -> String {
    format!("sim-manager-{i:05}")
}

/// The `i`th delegate: a user who holds roles in delegated catalogs and nothing else.
#[must_use]
pub fn delegate(i: usize) -> String {
    format!("sim-delegate-{i:05}")
}

/// How many of each kind of user the directory holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sizes {
    pub requestors: usize,
    pub first_approvers: usize,
    pub second_approvers: usize,
    pub delegates: usize,
    /// Managers of the requestors, round robin (none: requestors have no manager).
    pub managers: usize,
}

/// The directory: the users of [`Sizes`], the administrator, the group and the Global
/// Administrator role with the administrator as member.
#[must_use]
pub fn directory(sizes: Sizes) -> Value {
    let mut users = vec![user(ADMIN, "Simulation Administrator", 0)];
    users.extend(
        (0..sizes.first_approvers).map(|i| user(&first_approver(i), &format!("Approver One {i}"), i)),
    );
    users.extend(
        (0..sizes.second_approvers).map(|i| user(&second_approver(i), &format!("Approver Two {i}"), i)),
    );
    users.extend((0..sizes.managers).map(|i| user(&manager(i), &format!("Manager {i}"), i)));
    users.extend((0..sizes.requestors).map(|i| {
        let mut u = user(&requestor(i), &format!("Requestor {i}"), i);
        if sizes.managers > 0 {
            u["manager"] = json!({ "id": manager(i % sizes.managers) });
        }
        u
    }));
    users.extend((0..sizes.delegates).map(|i| user(&delegate(i), &format!("Delegate {i}"), i)));
    json!({
        "users": users,
        "groups": [{"id": GROUP, "displayName": "Simulation project team", "securityEnabled": true,
                    "members": []}],
        "directoryRoles": [{"id": "sim-role-ga", "displayName": "Global Administrator", "isPrivileged": true,
                            "roleTemplateId": GLOBAL_ADMINISTRATOR_TEMPLATE, "members": [{"id": ADMIN}]}]
    })
}

fn user(id: &str, name: &str, i: usize) -> Value {
    json!({
        "id": id,
        "displayName": name,
        "userPrincipalName": format!("{id}@sim.contoso.com"),
        "mail": format!("{id}@sim.contoso.com"),
        "department": DEPARTMENTS[i % DEPARTMENTS.len()],
        "country": COUNTRIES[i % COUNTRIES.len()],
    })
}

/// The tenant id of the `k`th partner organization.
#[must_use]
pub fn partner_tenant(k: usize) -> String {
    format!("5150a000-0000-4000-8000-{k:012}")
}

/// The e-mail domain of the `k`th partner organization.
#[must_use]
pub fn partner_domain(k: usize) -> String {
    format!("partner{k}.example")
}

/// A policy every member user (with `external`, every user of a configured connected
/// organization) may request for themselves, with a justification and two approval stages:
/// `first` approves stage 1, `second` stage 2 (both `singleUser`).
#[must_use]
pub fn two_stage_policy(name: &str, first: &str, second: &str, external: bool) -> Value {
    let scope = if external { "allConfiguredConnectedOrganizationUsers" } else { "allMemberUsers" };
    json!({
        "displayName": name,
        "allowedTargetScope": scope,
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {
            "isApprovalRequiredForAdd": true,
            "isRequestorJustificationRequired": true,
            "stages": [
                {"durationBeforeAutomaticDenial": "P14D",
                 "primaryApprovers": [{"type": "singleUser", "userId": first}]},
                {"durationBeforeAutomaticDenial": "P14D",
                 "primaryApprovers": [{"type": "singleUser", "userId": second}]}
            ]
        }
    })
}

/// A policy through which administrators assign any user directly (`adminAdd`), without approval.
#[must_use]
pub fn direct_assignment_policy(name: &str) -> Value {
    json!({
        "displayName": name,
        "allowedTargetScope": "notSpecified",
        "requestApprovalSettings": {"isApprovalRequiredForAdd": false}
    })
}

/// `policy`, calling the custom extension `extension` when a request's assignment is granted
/// (`assignmentRequestGranted`).
#[must_use]
pub fn calling_when_granted(mut policy: Value, extension: &str) -> Value {
    policy["customExtensionStageSettings"] =
        json!([{"stage": "assignmentRequestGranted", "customExtensionId": extension}]);
    policy
}
