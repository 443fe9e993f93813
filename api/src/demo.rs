//! The demo directory (`scenarios/demo-directory.json`), built into the binary so that
//! `em-api serve --demo` works from any folder.

use em_engine::Actor;

use crate::service::{ServiceResult, Services};

/// The demo directory file.
pub const DEMO_DIRECTORY: &str = include_str!("../../scenarios/demo-directory.json");

/// The demo's CEO: present once the demo directory has been loaded.
pub const DEMO_MARKER_USER: &str = "00000000-0000-0000-0000-0000000000a0";

/// The people the demo prints tokens for: an administrator (Identity Governance Administrator),
/// a requestor and an approver.
pub const DEMO_PEOPLE: [(&str, &str); 3] = [
    ("Administrator: Megan Bowen, Identity Governance Administrator", "00000000-0000-0000-0000-0000000000a3"),
    ("Requestor: Adele Vance, Sales EMEA", "00000000-0000-0000-0000-0000000000a5"),
    ("Approver: Christie Cline, ERP project owner", "00000000-0000-0000-0000-0000000000a2"),
];

/// Loads the demo directory unless it is already there. Returns whether it loaded.
pub async fn load(services: &Services) -> ServiceResult<bool> {
    if services.store.user(DEMO_MARKER_USER).await?.is_some() {
        return Ok(false);
    }
    services.import_directory(&Actor::System, DEMO_DIRECTORY).await?;
    Ok(true)
}
