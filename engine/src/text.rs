//! Parsed text values: names and descriptions validated once, at the edge of the domain.

use crate::error::DomainError;

/// The longest display name we accept (Graph caps most display names at 256 characters).
pub const MAX_DISPLAY_NAME: usize = 256;
/// The longest description we accept.
pub const MAX_DESCRIPTION: usize = 4_000;

/// Trims and checks a required display name; `field` names the input for the error.
pub fn display_name(field: &str, raw: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(DomainError::invalid(field, format!("`{field}` must not be empty")));
    }
    if name.chars().count() > MAX_DISPLAY_NAME {
        return Err(DomainError::invalid(
            field,
            format!("`{field}` is longer than {MAX_DISPLAY_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::invalid(field, format!("`{field}` must not contain control characters")));
    }
    Ok(name.to_owned())
}

/// Checks an optional description; empty means none.
pub fn description(field: &str, raw: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(DomainError::invalid(
            field,
            format!("`{field}` is longer than {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(display_name("displayName", "  Sales  ").ok().as_deref(), Some("Sales"));
        assert!(display_name("displayName", "   ").is_err());
        assert!(display_name("displayName", &"x".repeat(257)).is_err());
        assert!(display_name("displayName", "a\u{0}b").is_err());
    }

    #[test]
    fn blank_descriptions_are_none() {
        assert_eq!(description("description", Some("  ")).ok(), Some(None));
        assert_eq!(description("description", None).ok(), Some(None));
    }
}
