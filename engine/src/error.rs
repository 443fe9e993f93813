//! Domain errors: what was refused and why, with a stable code and the offending field.
//!
//! The API maps these to GraphQL errors once, at the edge; the code becomes `extensions.code`.

use std::fmt;

/// The stable, machine-readable class of a refusal. Clients branch on this, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The input is well-formed but breaks a rule of the model.
    ValidationFailed,
    /// A referenced object does not exist.
    NotFound,
    /// The change collides with existing state (a duplicate, an object still in use, a lost race).
    Conflict,
    /// The caller may not do this.
    Forbidden,
}

impl ErrorCode {
    /// The string clients see in `extensions.code`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::Forbidden => "FORBIDDEN",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one input field, addressed by a path such as `users[3].manager.id`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A refusal from the domain. `field` names the offending input (when there is one) and
/// `details` lists every problem found when more than one was checked (an import, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DomainError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    pub details: Vec<FieldError>,
}

impl DomainError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None, details: Vec::new() }
    }

    /// A validation failure of one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message).at(field)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} `{id}` does not exist"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// Many field errors reported at once; the first one gives the message and the field.
    pub fn invalid_many(summary: &str, details: Vec<FieldError>) -> Self {
        let (message, field) = match details.as_slice() {
            [one] => (one.to_string(), Some(one.path.clone())),
            [first, ..] => (
                format!("{summary}: {} problems, the first: {first}", details.len()),
                Some(first.path.clone()),
            ),
            [] => (summary.to_owned(), None),
        };
        Self { code: ErrorCode::ValidationFailed, message, field, details }
    }

    /// Names the offending input field.
    #[must_use]
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// Collects field errors so that a validation reports every problem, not just the first.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn into_inner(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok(())` when nothing was found, else one error carrying all of them.
    pub fn into_result(self, summary: &str) -> Result<(), DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(DomainError::invalid_many(summary, self.0)) }
    }
}
