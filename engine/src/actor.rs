//! Who is acting. Every state change takes an [`Actor`] so that authentication and delegated
//! administration decide on the same value the audit trail records.

use serde::{Deserialize, Serialize};

use crate::id::UserId;

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
}

impl Actor {
    /// A short label for logs and the audit trail.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::System => "system".to_owned(),
            Self::LocalOperator => "local-operator".to_owned(),
            Self::User { id } => format!("user:{id}"),
        }
    }
}
