//! Catalogs: containers of resources and access packages (`accessPackageCatalog` in Graph).

use crate::id::CatalogId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::text;

/// The id of the built-in General catalog every tenant has.
pub const GENERAL_CATALOG_ID: &str = "a3f1a0f8-0b47-4d7e-9d51-2c1e6d6a0b01";

/// `catalogType`: who manages the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CatalogType {
    UserManaged,
    ServiceDefault,
    ServiceManaged,
}

/// `state`: whether the catalog's access packages can be requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CatalogState {
    Published,
    Unpublished,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPackageCatalog {
    pub id: CatalogId,
    pub display_name: String,
    pub description: Option<String>,
    pub catalog_type: CatalogType,
    pub state: CatalogState,
    pub is_externally_visible: bool,
    pub created_date_time: DateTime<Utc>,
    pub modified_date_time: DateTime<Utc>,
}

/// What an administrator gives to create a catalog.
#[derive(Debug, Clone, Default)]
pub struct NewCatalog {
    pub display_name: String,
    pub description: Option<String>,
    pub catalog_type: Option<CatalogType>,
    pub state: Option<CatalogState>,
    pub is_externally_visible: Option<bool>,
}

/// A partial update: `None` leaves a property as it is.
#[derive(Debug, Clone, Default)]
pub struct CatalogPatch {
    pub display_name: Option<String>,
    pub description: Option<Option<String>>,
    pub state: Option<CatalogState>,
    pub is_externally_visible: Option<bool>,
}

impl AccessPackageCatalog {
    /// Validates a new catalog. Catalogs people create are `userManaged`, published and visible to
    /// external users unless said otherwise, as in the Entra portal.
    pub fn create(id: CatalogId, input: NewCatalog, now: DateTime<Utc>) -> Result<Self, DomainError> {
        let catalog_type = input.catalog_type.unwrap_or(CatalogType::UserManaged);
        if catalog_type != CatalogType::UserManaged {
            return Err(DomainError::invalid(
                "catalogType",
                "only `userManaged` catalogs can be created; the service manages the others",
            ));
        }
        Ok(Self {
            id,
            display_name: text::display_name("displayName", &input.display_name)?,
            description: text::description("description", input.description.as_deref())?,
            catalog_type,
            state: input.state.unwrap_or(CatalogState::Published),
            is_externally_visible: input.is_externally_visible.unwrap_or(true),
            created_date_time: now,
            modified_date_time: now,
        })
    }

    /// The built-in General catalog.
    #[must_use]
    pub fn general(now: DateTime<Utc>) -> Self {
        Self {
            id: CatalogId::new(GENERAL_CATALOG_ID),
            display_name: "General".to_owned(),
            description: Some("Built-in catalog.".to_owned()),
            catalog_type: CatalogType::ServiceDefault,
            state: CatalogState::Published,
            is_externally_visible: true,
            created_date_time: now,
            modified_date_time: now,
        }
    }

    /// Applies a partial update.
    pub fn update(&self, patch: CatalogPatch, now: DateTime<Utc>) -> Result<Self, DomainError> {
        let mut next = self.clone();
        if let Some(name) = patch.display_name {
            next.display_name = text::display_name("displayName", &name)?;
        }
        if let Some(description) = patch.description {
            next.description = text::description("description", description.as_deref())?;
        }
        if let Some(state) = patch.state {
            next.state = state;
        }
        if let Some(visible) = patch.is_externally_visible {
            next.is_externally_visible = visible;
        }
        next.modified_date_time = now;
        Ok(next)
    }

    /// Whether the catalog may be deleted, given how many access packages it holds.
    pub fn check_deletable(&self, access_packages: usize) -> Result<(), DomainError> {
        if self.catalog_type == CatalogType::ServiceDefault {
            return Err(DomainError::invalid("id", "the built-in General catalog cannot be deleted"));
        }
        if access_packages > 0 {
            return Err(DomainError::conflict(format!(
                "catalog `{}` still holds {access_packages} access package(s); a catalog can be deleted only when it has none",
                self.display_name
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    #[test]
    fn new_catalogs_default_as_the_portal_does() {
        let c = AccessPackageCatalog::create(
            "c".into(),
            NewCatalog { display_name: " ERP ".into(), ..Default::default() },
            now(),
        );
        let c = c.ok();
        assert_eq!(c.as_ref().map(|c| c.display_name.as_str()), Some("ERP"));
        assert_eq!(c.as_ref().map(|c| c.state), Some(CatalogState::Published));
        assert_eq!(c.map(|c| c.is_externally_visible), Some(true));
    }

    #[test]
    fn only_user_managed_catalogs_are_created() {
        let input = NewCatalog {
            display_name: "x".into(),
            catalog_type: Some(CatalogType::ServiceDefault),
            ..Default::default()
        };
        let err = AccessPackageCatalog::create("c".into(), input, now()).err();
        assert_eq!(err.and_then(|e| e.field), Some("catalogType".to_owned()));
    }

    #[test]
    fn catalogs_with_packages_and_general_are_not_deletable() {
        let general = AccessPackageCatalog::general(now());
        assert!(general.check_deletable(0).is_err());
        let mine = AccessPackageCatalog { catalog_type: CatalogType::UserManaged, ..general };
        assert!(mine.check_deletable(0).is_ok());
        assert_eq!(mine.check_deletable(2).err().map(|e| e.code), Some(crate::ErrorCode::Conflict));
    }
}
