//! Subject sets: the people a policy names as targets, on-behalf requestors, approvers and
//! reviewers (Graph's abstract `subjectSet` and its subtypes).
//!
//! Graph tells the subtypes apart with `"@odata.type": "#microsoft.graph.singleUser"`; here the
//! tag is `"type": "singleUser"`, and [`super::normalize_graph_json`] rewrites Graph's spelling.

use serde::{Deserialize, Serialize};

/// One subtype of Graph's `subjectSet`. Which subtypes a property accepts is checked by
/// [`super::AccessPackageAssignmentPolicy::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum SubjectSet {
    /// A specific user (`userId`): target, on-behalf requestor, approver or reviewer.
    SingleUser {
        user_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// The direct members of a group (`groupId`).
    GroupMembers {
        group_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A specific service principal, target of `specificDirectoryServicePrincipals` policies.
    SingleServicePrincipal {
        service_principal_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// The users of a connected organization, target of `specificConnectedOrganizationUsers`.
    ConnectedOrganizationMembers {
        connected_organization_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// The users a dynamic membership rule selects: the one target of an auto-assignment policy.
    AttributeRuleMembers {
        membership_rule: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// The requestor's manager (level 1) or the manager's manager (level 2), as approver or
    /// reviewer. The engine resolves it from the target of the request, the user who would get
    /// the access: the requestor for a self request.
    RequestorManager {
        #[serde(default = "first_level")]
        manager_level: i32,
    },
    /// The target's manager at `managerLevel`, as an on-behalf requestor ("managers can request
    /// for their direct reports").
    TargetManager {
        #[serde(default = "first_level")]
        manager_level: i32,
    },
    /// The internal sponsors of the requestor's connected organization (approver).
    InternalSponsors,
    /// The external sponsors of the requestor's connected organization (approver).
    ExternalSponsors,
    /// The sponsors of the target user (approver).
    TargetUserSponsors,
    /// The owners of the target application, requesting on its behalf.
    TargetApplicationOwners,
}

fn first_level() -> i32 {
    1
}

impl SubjectSet {
    /// Graph's type name: `singleUser`, `groupMembers`, ...
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::SingleUser { .. } => "singleUser",
            Self::GroupMembers { .. } => "groupMembers",
            Self::SingleServicePrincipal { .. } => "singleServicePrincipal",
            Self::ConnectedOrganizationMembers { .. } => "connectedOrganizationMembers",
            Self::AttributeRuleMembers { .. } => "attributeRuleMembers",
            Self::RequestorManager { .. } => "requestorManager",
            Self::TargetManager { .. } => "targetManager",
            Self::InternalSponsors => "internalSponsors",
            Self::ExternalSponsors => "externalSponsors",
            Self::TargetUserSponsors => "targetUserSponsors",
            Self::TargetApplicationOwners => "targetApplicationOwners",
        }
    }

    /// A short label for explanations: `singleUser `u1``, `requestorManager (level 2)`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::SingleUser { user_id: id, .. }
            | Self::GroupMembers { group_id: id, .. }
            | Self::SingleServicePrincipal { service_principal_id: id, .. }
            | Self::ConnectedOrganizationMembers { connected_organization_id: id, .. } => {
                format!("{} `{id}`", self.type_name())
            }
            Self::AttributeRuleMembers { membership_rule, .. } => {
                format!("attributeRuleMembers `{membership_rule}`")
            }
            Self::RequestorManager { manager_level } | Self::TargetManager { manager_level } => {
                format!("{} (level {manager_level})", self.type_name())
            }
            Self::InternalSponsors
            | Self::ExternalSponsors
            | Self::TargetUserSponsors
            | Self::TargetApplicationOwners => self.type_name().to_owned(),
        }
    }

    /// Whether this set names a user or a group explicitly, counting toward the limit of 500
    /// users and groups per policy.
    #[must_use]
    pub fn is_user_or_group(&self) -> bool {
        matches!(self, Self::SingleUser { .. } | Self::GroupMembers { .. })
    }

    /// Whether the set is resolved through a relationship of the requestor (manager or sponsors)
    /// that may be missing, so a fallback must be configured.
    #[must_use]
    pub fn needs_fallback(&self) -> bool {
        matches!(
            self,
            Self::RequestorManager { .. }
                | Self::InternalSponsors
                | Self::ExternalSponsors
                | Self::TargetUserSponsors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_sets_use_graph_type_names_and_property_names() {
        let sets = vec![
            SubjectSet::SingleUser { user_id: "u".into(), description: None },
            SubjectSet::GroupMembers { group_id: "g".into(), description: Some("Sales".into()) },
            SubjectSet::RequestorManager { manager_level: 2 },
            SubjectSet::InternalSponsors,
        ];
        let json = serde_json::to_value(&sets).ok();
        assert_eq!(
            json,
            Some(serde_json::json!([
                {"type": "singleUser", "userId": "u"},
                {"type": "groupMembers", "groupId": "g", "description": "Sales"},
                {"type": "requestorManager", "managerLevel": 2},
                {"type": "internalSponsors"},
            ]))
        );
        let back: Option<Vec<SubjectSet>> = json.and_then(|j| serde_json::from_value(j).ok());
        assert_eq!(back, Some(sets));
    }

    #[test]
    fn manager_level_defaults_to_one() {
        let set: Option<SubjectSet> = serde_json::from_str(r#"{"type":"targetManager"}"#).ok();
        assert_eq!(set, Some(SubjectSet::TargetManager { manager_level: 1 }));
    }

    #[test]
    fn labels_name_the_subject() {
        assert_eq!(
            SubjectSet::SingleUser { user_id: "u1".into(), description: None }.label(),
            "singleUser `u1`"
        );
        assert_eq!(SubjectSet::RequestorManager { manager_level: 2 }.label(), "requestorManager (level 2)");
    }
}
