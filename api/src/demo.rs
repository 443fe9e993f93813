//! The demo directory (`scenarios/demo-directory.json`), built into the binary so that
//! `em-api serve --demo` works from any folder, and the access package the demo starts with.

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

/// The access package the demo starts with, so that My Access has something to request: the
/// Sales and Marketing team's membership, in the "Sales and Marketing" catalog, for any member
/// with a justification and the campaign it is for, approved by Christie Cline, for 90 days
/// (extensible). Made once, with the directory, by the local operator.
const DEMO_PACKAGE: &str = r#"mutation {
  createAccessPackage(input: {
    newCatalog: { displayName: "Sales and Marketing", description: "Teams, sites and apps of Sales and Marketing" },
    displayName: "Sales workspace",
    description: "Membership of the Sales and Marketing team, for campaign work"
  }) { accessPackage { id catalog { id } } }
}"#;

const DEMO_TEAM: &str = r#"mutation($catalog: ID!) {
  createResourceRequest(input: { catalogId: $catalog, requestType: adminAdd,
    resource: { originSystem: AadGroup, originId: "00000000-0000-0000-0001-000000000001" } }) { resource { id } }
}"#;

const DEMO_ROLE: &str = r#"mutation($package: ID!, $resource: ID!) {
  addAccessPackageResourceRoleScope(input: { accessPackageId: $package, resourceId: $resource,
    roleOriginId: "Member_00000000-0000-0000-0001-000000000001" }) { resourceRoleScope { id } }
}"#;

const DEMO_POLICY: &str = r#"mutation($package: ID!) {
  createAssignmentPolicy(input: { accessPackageId: $package, policy: {
    displayName: "Members request, Christie Cline approves",
    description: "Any member may request; the Sales and Marketing owner approves",
    allowedTargetScope: allMemberUsers,
    requestorSettings: { enableTargetsToSelfAddAccess: true, enableTargetsToSelfUpdateAccess: true,
      enableTargetsToSelfRemoveAccess: true },
    requestApprovalSettings: { isApprovalRequiredForAdd: true, isApprovalRequiredForUpdate: true,
      isRequestorJustificationRequired: true,
      stages: [{ durationBeforeAutomaticDenial: "P14D",
        primaryApprovers: [{ type: singleUser, userId: "00000000-0000-0000-0000-0000000000a2" }] }] },
    questions: [{ type: accessPackageTextInputQuestion, text: "Which campaign is it for?", isRequired: true,
      isSingleLineQuestion: true }],
    expiration: { type: afterDuration, duration: "P90D" }
  } }) { assignmentPolicy { id } }
}"#;

/// Makes the demo's access package (see [`DEMO_PACKAGE`]) through the GraphQL schema, as the
/// local operator.
pub async fn seed_governance(schema: &crate::graphql::AppSchema, services: &Services) -> anyhow::Result<()> {
    let run = |query: &'static str, variables: serde_json::Value| async move {
        let request =
            async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables));
        let response =
            schema.execute(crate::graphql::as_caller(request, services, Actor::LocalOperator)).await;
        anyhow::ensure!(response.errors.is_empty(), "the demo's access package: {:?}", response.errors);
        Ok(response.data.into_json()?)
    };
    let made = run(DEMO_PACKAGE, serde_json::json!({})).await?;
    let package = &made["createAccessPackage"]["accessPackage"];
    let team = run(DEMO_TEAM, serde_json::json!({ "catalog": package["catalog"]["id"] })).await?;
    let resource = &team["createResourceRequest"]["resource"]["id"];
    run(DEMO_ROLE, serde_json::json!({ "package": package["id"], "resource": resource })).await?;
    run(DEMO_POLICY, serde_json::json!({ "package": package["id"] })).await?;
    Ok(())
}
