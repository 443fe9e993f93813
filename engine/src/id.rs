//! Typed ids: an id names what it is the id of, so a function that takes a catalog's id cannot
//! be given an access package's. Each is the id's text (Graph's GUID form, or a name for the
//! built-in objects), serialized as that text.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[must_use]
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            #[must_use]
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

typed_id!(
    /// An `accessPackageCatalog`'s id: the scope of delegated administration.
    CatalogId
);

typed_id!(
    /// An `accessPackage`'s id.
    AccessPackageId
);

typed_id!(
    /// An `accessPackageAssignmentPolicy`'s id.
    PolicyId
);

typed_id!(
    /// An `accessPackageAssignmentRequest`'s id.
    RequestId
);

typed_id!(
    /// An `accessPackageAssignment`'s id.
    AssignmentId
);

typed_id!(
    /// A directory `user`'s object id: a request's and an assignment's target, an acting user.
    UserId
);

typed_id!(
    /// A `connectedOrganization`'s id.
    ConnectedOrganizationId
);

typed_id!(
    /// A custom extension's id (`customCalloutExtension`).
    CustomExtensionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_text() {
        let id = CatalogId::new("c1");
        assert_eq!(serde_json::to_value(&id).unwrap(), serde_json::json!("c1"));
        assert_eq!(serde_json::from_str::<CatalogId>("\"c1\"").unwrap(), id);
        assert_eq!(id, "c1");
        assert_eq!(id.to_string(), "c1");
        let by_id: std::collections::HashMap<CatalogId, u8> = [(id.clone(), 1)].into();
        assert_eq!(by_id.get("c1"), Some(&1));
    }
}
