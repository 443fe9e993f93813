//! Who is acting. Every state change takes an [`Actor`] so that authentication and delegated
//! administration decide on the same value the audit trail records.

use serde::{Deserialize, Serialize};

use crate::id::{ConnectedOrganizationId, UserId};

/// The identity on whose behalf a command runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Actor {
    /// The engine itself (timers, auto-assignment, demo loading).
    System,
    /// An operator on this machine with no authentication configured: the CLI, or a server
    /// started without an identity provider. Has full administrative rights.
    LocalOperator,
    /// A directory user, identified by object id.
    User { id: UserId },
    /// Someone signed in through a partner's identity provider who has no directory object
    /// (Graph's `accessPackageSubject` of an external requestor): they see and request only what
    /// policies for users not in the directory offer them.
    External { subject: Box<ExternalSubject> },
}

/// A person from another organization, as their token describes them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSubject {
    /// The issuer of their token, and their id there (`oid`, else `sub`): who they are.
    pub issuer: String,
    pub object_id: String,
    /// Their home Entra tenant (`tid`), when their token has one.
    pub tenant_id: Option<String>,
    /// Their verified e-mail address, lower-cased.
    pub email: String,
    pub display_name: Option<String>,
    /// The connected organization their tenant or e-mail domain belongs to, if any.
    pub connected_organization_id: Option<ConnectedOrganizationId>,
}

impl Actor {
    /// A short label for logs and the audit trail.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::System => "system".to_owned(),
            Self::LocalOperator => "local-operator".to_owned(),
            Self::User { id } => format!("user:{id}"),
            Self::External { subject } => format!("external:{}", subject.email),
        }
    }

    /// The engine or the local operator: callers that hold every right.
    #[must_use]
    pub fn is_operator(&self) -> bool {
        matches!(self, Self::System | Self::LocalOperator)
    }
}
