//! What an administrator builds before the measurements, over GraphQL like any administrator:
//! a catalog holding the group, access packages that each deliver the group's Member role
//! through one two-stage policy, and the custom extensions those policies call.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::client::{Graphql, text};
use crate::directory::{
    GROUP, calling_when_granted, delegate, partner_domain, partner_tenant, two_stage_policy,
};

/// How many setup mutations run at once. Creating a package writes its catalog's record (the
/// package count), so more only makes them conflict and retry.
const SETUP_CONCURRENCY: usize = 4;

/// The packages made, and how long it took.
#[derive(Debug, Clone)]
pub struct Built {
    pub catalog: String,
    pub packages: Vec<String>,
    /// The extension the policies call when an assignment is granted, if asked for.
    pub extension: Option<Extension>,
    pub time: Duration,
}

/// A custom extension, with the secret its calls are signed with.
#[derive(Debug, Clone)]
pub struct Extension {
    pub id: String,
    pub secret: String,
}

/// Builds the catalog and `count` packages; package `i`'s policy has `approvers(i)` as its
/// (stage 1, stage 2) approvers. With `external`, the catalog is visible to external users and
/// the policies are for users of configured connected organizations. With `granted_call`, a
/// request workflow extension of the catalog calls that URL whenever a policy's request is
/// granted.
pub async fn two_stage_packages(
    api: &Graphql,
    admin: &str,
    count: usize,
    approvers: impl Fn(usize) -> (String, String),
    external: bool,
    granted_call: Option<&str>,
) -> anyhow::Result<Built> {
    let started = Instant::now();
    let (catalog, resource) = catalog_with_group(api, admin, "Simulation", external).await?;
    let extension = match granted_call {
        // Graph's default of 3 retries.
        Some(url) => Some(request_workflow_extension(api, admin, &catalog, "Granted", url, 3).await?),
        None => None,
    };
    let plans: Vec<(usize, Value)> = (0..count)
        .map(|i| {
            let (first, second) = approvers(i);
            let policy = two_stage_policy(&format!("Two approvers {i}"), &first, &second, external);
            let policy = match &extension {
                Some(extension) => calling_when_granted(policy, &extension.id),
                None => policy,
            };
            (i, policy)
        })
        .collect();
    let packages = futures::stream::iter(plans)
        .map(|(i, policy)| {
            let (catalog, resource) = (&catalog, &resource);
            async move {
                let name = format!("Simulation package {i}");
                Ok::<String, anyhow::Error>(package(api, admin, catalog, resource, &name, policy).await?.id)
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(Built { catalog, packages, extension, time: started.elapsed() })
}

/// A request workflow extension of `catalog` that calls `url` and does not wait for a
/// callback, retrying a failed call `retries` times.
pub async fn request_workflow_extension(
    api: &Graphql,
    admin: &str,
    catalog: &str,
    name: &str,
    url: &str,
    retries: u32,
) -> anyhow::Result<Extension> {
    let extension = json!({
        "type": "accessPackageAssignmentRequestWorkflowExtension",
        "displayName": name,
        "endpointConfiguration": {"targetUrl": url},
        "clientConfiguration": {"maximumRetries": retries, "timeoutInMilliseconds": 10_000},
    });
    let data = api
        .execute(
            admin,
            "mutation($c: ID!, $e: CustomCalloutExtensionBodyInput!) {
               createCustomCalloutExtension(input: {catalogId: $c, extension: $e}) {
                 customCalloutExtension { id } signingSecret } }",
            json!({ "c": catalog, "e": extension }),
        )
        .await
        .with_context(|| format!("createCustomCalloutExtension `{name}`"))?;
    Ok(Extension {
        id: text(&data, "/createCustomCalloutExtension/customCalloutExtension/id").to_owned(),
        secret: text(&data, "/createCustomCalloutExtension/signingSecret").to_owned(),
    })
}

/// A catalog named `name` (visible to external users with `external`) holding the group
/// `sim-group`: `(catalog id, resource id)`.
pub async fn catalog_with_group(
    api: &Graphql,
    admin: &str,
    name: &str,
    external: bool,
) -> anyhow::Result<(String, String)> {
    let data = api
        .execute(
            admin,
            "mutation($n: String!, $x: Boolean!) {
               createCatalog(input: {displayName: $n, isExternallyVisible: $x}) { catalog { id } } }",
            json!({ "n": name, "x": external }),
        )
        .await
        .context("createCatalog")?;
    let catalog = text(&data, "/createCatalog/catalog/id").to_owned();
    let data = api
        .execute(
            admin,
            "mutation($c: ID!, $o: String!) { createResourceRequest(input: {catalogId: $c, requestType: adminAdd,
               resource: {originSystem: AadGroup, originId: $o}}) { resource { id } } }",
            json!({ "c": catalog, "o": GROUP }),
        )
        .await
        .context("createResourceRequest")?;
    Ok((catalog, text(&data, "/createResourceRequest/resource/id").to_owned()))
}

/// An access package and its policy.
#[derive(Debug, Clone)]
pub struct Package {
    pub id: String,
    pub policy: String,
}

/// An access package named `name` in `catalog`, delivering the Member role of the catalog's
/// group (`resource`) through `policy`.
pub async fn package(
    api: &Graphql,
    admin: &str,
    catalog: &str,
    resource: &str,
    name: &str,
    policy: Value,
) -> anyhow::Result<Package> {
    let data = api
        .execute(
            admin,
            "mutation($c: ID!, $n: String!) {
               createAccessPackage(input: {catalogId: $c, displayName: $n}) { accessPackage { id } } }",
            json!({ "c": catalog, "n": name }),
        )
        .await
        .with_context(|| format!("createAccessPackage `{name}`"))?;
    let package = text(&data, "/createAccessPackage/accessPackage/id").to_owned();
    let data = api
        .execute(
            admin,
            "mutation($p: ID!, $r: ID!, $role: String!, $policy: AccessPackageAssignmentPolicyInput!) {
           scope: addAccessPackageResourceRoleScope(input: {accessPackageId: $p, resourceId: $r, roleOriginId: $role}) {
             resourceRoleScope { id } }
           policy: createAssignmentPolicy(input: {accessPackageId: $p, policy: $policy}) { assignmentPolicy { id } } }",
            json!({ "p": package, "r": resource, "role": format!("Member_{GROUP}"), "policy": policy }),
        )
        .await
        .with_context(|| format!("role scope and policy of package `{name}`"))?;
    Ok(Package { id: package, policy: text(&data, "/policy/assignmentPolicy/id").to_owned() })
}

/// Connects `count` partner organizations, each known by its tenant and its domain. Returns how
/// long it took.
pub async fn connected_organizations(api: &Graphql, admin: &str, count: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(|k| async move {
            let sources = json!([
                { "azureActiveDirectoryTenant": { "tenantId": partner_tenant(k), "displayName": format!("Partner {k}") } },
                { "domainIdentitySource": { "domainName": partner_domain(k) } }
            ]);
            api.execute(
                admin,
                "mutation($i: CreateConnectedOrganizationInput!) {
                   createConnectedOrganization(input: $i) { connectedOrganization { id } } }",
                json!({ "i": { "displayName": format!("Partner {k}"), "identitySources": sources } }),
            )
            .await
            .with_context(|| format!("createConnectedOrganization {k}"))?;
            anyhow::Ok(())
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(started.elapsed())
}

/// The catalog roles delegates are given, in turn: Catalog owner, Catalog reader, Access package
/// manager, Access package assignment manager.
const CATALOG_ROLES: [&str; 4] = [
    "ae79f266-94d4-4dab-b730-feca7e132178",
    "44272f93-9762-48e8-af59-1b5351b1d6b3",
    "7f480852-ebdc-47d4-87de-0d8498384a83",
    "e2182095-804a-4656-ae11-64734e9b7ae5",
];

/// Makes `catalogs` catalogs of delegated administration, each with `roles` role assignments
/// held by its own delegates. Returns how long it took.
pub async fn delegated_catalogs(
    api: &Graphql,
    admin: &str,
    catalogs: usize,
    roles: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let made: Vec<String> = futures::stream::iter(0..catalogs)
        .map(|c| async move {
            let data = api
                .execute(
                    admin,
                    "mutation($n: String!) { createCatalog(input: {displayName: $n}) { catalog { id } } }",
                    json!({ "n": format!("Department {c}") }),
                )
                .await
                .with_context(|| format!("createCatalog {c}"))?;
            anyhow::Ok(text(&data, "/createCatalog/catalog/id").to_owned())
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let grants: Vec<(usize, String, usize)> =
        made.iter().enumerate().flat_map(|(c, id)| (0..roles).map(move |r| (c, id.clone(), r))).collect();
    futures::stream::iter(grants)
        .map(|(c, catalog, r)| async move {
            let scope = format!("/AccessPackageCatalog/{}", catalog.trim_start_matches("AccessPackageCatalog:"));
            api.execute(
                admin,
                "mutation($p: ID!, $r: String!, $s: String!) {
                   createRoleAssignment(input: {principalId: $p, roleDefinitionId: $r, appScopeId: $s}) { roleAssignment { id } } }",
                json!({ "p": delegate(c * roles + r), "r": CATALOG_ROLES[r % CATALOG_ROLES.len()], "s": scope }),
            )
            .await
            .with_context(|| format!("role assignment {r} of catalog {c}"))?;
            anyhow::Ok(())
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(started.elapsed())
}
