//! The pure domain core of the entitlement-management engine.
//!
//! Everything here is a function of its inputs: no I/O, no database, no async runtime and no clock
//! reads (`now` is always an argument). The API crate loads state from the store, asks this crate
//! for a decision, and persists the result; the simulator and the benches call the same code.
//!
//! Names follow Microsoft Graph's entitlement-management resources so that a reader who knows
//! Graph knows this model: [`catalog::AccessPackageCatalog`], [`resource::AccessPackageResource`],
//! [`access_package::AccessPackage`] and so on.

pub mod access_package;
pub mod actor;
pub mod approval;
pub mod assignment;
pub mod auto;
pub mod catalog;
pub mod connected_organization;
pub mod delegation;
pub mod directory;
pub mod duration;
pub mod error;
pub mod event;
pub mod extension;
pub mod guest;
pub mod id;
pub mod import;
pub mod notification;
pub mod policy;
pub mod request;
pub mod resource;
pub mod review;
pub mod rule;
pub mod text;
pub mod timer;

pub use actor::{Actor, ExternalSubject};
pub use error::{DomainError, ErrorCode, FieldError};
