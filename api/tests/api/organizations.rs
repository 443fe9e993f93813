//! Connected organizations and the tenant's entitlement-management settings, over GraphQL:
//! creating them (typed and as Graph's JSON), claims unique across organizations, paging and
//! filters, sponsors, deletion while a policy names one, the settings, and who may do what.

use serde_json::{Value, json};

use crate::delegation::{PACKAGE_MANAGER, delegation_directory, give_role, scope};
use crate::requests::create_policy;
use crate::support::{Api, TestServer, text};

const CREATE: &str = "mutation($i: CreateConnectedOrganizationInput!) {
    createConnectedOrganization(input: $i) { connectedOrganization {
        id displayName description state createdDateTime
        identitySources {
            __typename
            ... on AzureActiveDirectoryTenant { tenantId displayName }
            ... on DomainIdentitySource { domainName displayName }
            ... on ExternalDomainFederation { domainName issuerUri }
        } } } }";

const SPONSOR: &str = "mutation($i: ConnectedOrganizationSponsorInput!) {
    addConnectedOrganizationSponsor(input: $i) { connectedOrganization {
        internalSponsors { __typename ... on User { id } ... on Group { id } }
        externalSponsors { __typename ... on User { id } } } } }";

const UNSPONSOR: &str = "mutation($i: ConnectedOrganizationSponsorInput!) {
    removeConnectedOrganizationSponsor(input: $i) { connectedOrganization { internalSponsors { __typename } } } }";

const FABRIKAM_TENANT: &str = "3b5b2d5e-8b1a-4a4e-9b6e-1f2a3c4d5e6f";

async fn create(api: &Api, input: Value) -> Value {
    api.data(CREATE, json!({ "i": input })).await["createConnectedOrganization"]["connectedOrganization"]
        .clone()
}

fn domain(d: &str) -> Value {
    json!({ "domainIdentitySource": { "domainName": d } })
}

#[tokio::test]
async fn administrators_connect_organizations_known_by_tenant_domain_or_federation() {
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");

    let fabrikam = create(
        &ada,
        json!({ "displayName": " Fabrikam ", "description": "ERP partner",
                "identitySources": [
                    { "azureActiveDirectoryTenant": { "tenantId": FABRIKAM_TENANT.to_uppercase(), "displayName": "Fabrikam" } },
                    domain("Fabrikam.COM"),
                    { "externalDomainFederation": { "domainName": "fabrikam-partners.com", "issuerUri": "https://idp.fabrikam.com/" } }
                ] }),
    )
    .await;
    assert_eq!(fabrikam["displayName"], "Fabrikam");
    assert_eq!(fabrikam["state"], "configured");
    assert_eq!(
        fabrikam["identitySources"],
        json!([
            {"__typename": "AzureActiveDirectoryTenant", "tenantId": FABRIKAM_TENANT, "displayName": "Fabrikam"},
            {"__typename": "DomainIdentitySource", "domainName": "fabrikam.com", "displayName": null},
            {"__typename": "ExternalDomainFederation", "domainName": "fabrikam-partners.com", "issuerUri": "https://idp.fabrikam.com/"}
        ])
    );

    // Graph's JSON body, as Graph's documentation writes it.
    let litware = create(
        &ada,
        json!({ "graphJson": {
            "displayName": "Litware", "description": "Litware Inc.", "state": "proposed",
            "identitySources": [{ "@odata.type": "#microsoft.graph.domainIdentitySource",
                                  "domainName": "litware.com", "displayName": "litware.com" }] } }),
    )
    .await;
    assert_eq!(
        (litware["displayName"].clone(), litware["state"].clone()),
        (json!("Litware"), json!("proposed"))
    );

    // A tenant or domain another organization holds is a conflict; nothing is written.
    for taken in
        [domain("FABRIKAM.com"), json!({ "azureActiveDirectoryTenant": { "tenantId": FABRIKAM_TENANT } })]
    {
        let refusal = ada
            .refused(
                CREATE,
                json!({ "i": { "displayName": "Copycat", "identitySources": [taken] } }),
                "CONFLICT",
                None,
            )
            .await;
        assert!(refusal.message.contains("Fabrikam"), "{}", refusal.message);
    }
    // Bad identity sources, all reported at once.
    let refusal = ada
        .refused(
            CREATE,
            json!({ "i": { "displayName": "Bad", "identitySources": [
                { "azureActiveDirectoryTenant": { "tenantId": "not-a-guid" } }, domain("localhost") ] } }),
            "VALIDATION_FAILED",
            Some("identitySources[0].tenantId"),
        )
        .await;
    assert_eq!(refusal.problems.len(), 2, "{:?}", refusal.problems);
    ada.refused(
        CREATE,
        json!({ "i": { "displayName": "None", "identitySources": [] } }),
        "VALIDATION_FAILED",
        Some("identitySources"),
    )
    .await;
    ada.refused(
        CREATE,
        json!({ "i": { "displayName": "Both", "identitySources": [domain("both.com")], "graphJson": {"displayName": "x"} } }),
        "VALIDATION_FAILED",
        Some("graphJson"),
    )
    .await;

    // Listing, by name, with filters and pages.
    let list = "query($f: ConnectedOrganizationFilter, $after: String) {
        connectedOrganizations(filter: $f, first: 1, after: $after) {
            totalCount pageInfo { hasNextPage endCursor } nodes { displayName } } }";
    let first = ada.data(list, json!({})).await["connectedOrganizations"].clone();
    assert_eq!(
        (first["totalCount"].clone(), first["nodes"].clone()),
        (json!(2), json!([{"displayName": "Fabrikam"}]))
    );
    let next =
        ada.data(list, json!({ "after": first["pageInfo"]["endCursor"] })).await["connectedOrganizations"]
            .clone();
    assert_eq!(next["nodes"], json!([{"displayName": "Litware"}]));
    assert_eq!(next["pageInfo"]["hasNextPage"], false);
    let proposed = ada.data(list, json!({ "f": { "state": "proposed" } })).await;
    assert_eq!(proposed["connectedOrganizations"]["nodes"], json!([{"displayName": "Litware"}]));
    let named = ada.data(list, json!({ "f": { "displayName": "FABRIKAM" } })).await;
    assert_eq!(named["connectedOrganizations"]["totalCount"], 1);

    // Updating: properties left out stay; identity sources are replaced, and their claims move.
    let update = "mutation($i: UpdateConnectedOrganizationInput!) { updateConnectedOrganization(input: $i) {
        connectedOrganization { displayName state description identitySources { ... on DomainIdentitySource { domainName } } } } }";
    let updated = ada
        .data(
            update,
            json!({ "i": { "id": litware["id"], "state": "configured",
                                     "identitySources": [domain("litware.co.uk")] } }),
        )
        .await["updateConnectedOrganization"]["connectedOrganization"]
        .clone();
    assert_eq!(
        updated,
        json!({"displayName": "Litware", "state": "configured", "description": "Litware Inc.",
               "identitySources": [{"domainName": "litware.co.uk"}]})
    );
    create(&ada, json!({ "displayName": "Litware Retail", "identitySources": [domain("litware.com")] }))
        .await;
    ada.refused(
        update,
        json!({ "i": { "id": litware["id"], "identitySources": [domain("fabrikam.com")] } }),
        "CONFLICT",
        None,
    )
    .await;
    ada.refused(
        update,
        json!({ "i": { "id": "ConnectedOrganization:ghost", "displayName": "x" } }),
        "NOT_FOUND",
        Some("id"),
    )
    .await;

    // node(id:) finds it.
    let node = ada.data("query($id: ID!) { node(id: $id) { id } }", json!({ "id": fabrikam["id"] })).await;
    assert_eq!(node["node"]["id"], fabrikam["id"]);
}

#[tokio::test]
async fn sponsors_are_members_or_groups_inside_and_guests_outside() {
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");
    let org =
        create(&ada, json!({ "displayName": "Fabrikam", "identitySources": [domain("fabrikam.com")] })).await;
    let sponsor = |who: &str, kind: &str| json!({ "i": { "connectedOrganizationId": org["id"], "sponsorId": who, "sponsorType": kind } });
    ada.data(SPONSOR, sponsor("u-val", "INTERNAL")).await;
    ada.data(SPONSOR, sponsor("Group:g-stewards", "INTERNAL")).await;
    let data = ada.data(SPONSOR, sponsor("u-gwen", "EXTERNAL")).await;
    let again = ada.data(SPONSOR, sponsor("u-gwen", "EXTERNAL")).await;
    assert_eq!(data, again, "adding a sponsor twice changes nothing");
    assert_eq!(
        data["addConnectedOrganizationSponsor"]["connectedOrganization"],
        json!({ "internalSponsors": [{"__typename": "User", "id": "User:u-val"}, {"__typename": "Group", "id": "Group:g-stewards"}],
                "externalSponsors": [{"__typename": "User", "id": "User:u-gwen"}] })
    );

    ada.refused(SPONSOR, sponsor("u-val", "EXTERNAL"), "VALIDATION_FAILED", Some("externalSponsors")).await;
    ada.refused(SPONSOR, sponsor("u-gwen", "INTERNAL"), "VALIDATION_FAILED", Some("internalSponsors")).await;
    ada.refused(SPONSOR, sponsor("u-ghost", "INTERNAL"), "NOT_FOUND", Some("sponsorId")).await;

    let removed = ada.data(UNSPONSOR, sponsor("u-val", "INTERNAL")).await;
    assert_eq!(
        removed["removeConnectedOrganizationSponsor"]["connectedOrganization"]["internalSponsors"],
        json!([{"__typename": "Group"}])
    );
    ada.refused(UNSPONSOR, sponsor("u-val", "INTERNAL"), "NOT_FOUND", Some("sponsorId")).await;

    // Only administrators manage sponsors.
    let pete = server.as_user("u-pete");
    pete.refused(SPONSOR, sponsor("u-val", "INTERNAL"), "FORBIDDEN", None).await;
}

#[tokio::test]
async fn an_organization_named_by_a_policy_stays_and_external_policies_need_an_external_catalog() {
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");
    let org =
        create(&ada, json!({ "displayName": "Fabrikam", "identitySources": [domain("fabrikam.com")] })).await;
    let org_id = text(&org["id"]).replace("ConnectedOrganization:", "");
    let catalog = ada.create_catalog("ERP").await;
    let package = ada.create_package(&catalog, "ERP access").await;
    let external = |org: &str| {
        json!({ "displayName": "Fabrikam users", "allowedTargetScope": "specificConnectedOrganizationUsers",
                "specificAllowedTargets": [{"type": "connectedOrganizationMembers", "connectedOrganizationId": org}],
                "requestorSettings": {"enableTargetsToSelfAddAccess": true},
                "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
                    {"durationBeforeAutomaticDenial": "P14D", "primaryApprovers": [{"type": "externalSponsors"}],
                     "fallbackPrimaryApprovers": [{"type": "singleUser", "userId": "u-val"}]}]} })
    };
    let policy_mutation = "mutation($i: CreateAssignmentPolicyInput!) { createAssignmentPolicy(input: $i) { assignmentPolicy { id } } }";
    ada.refused(
        policy_mutation,
        json!({ "i": { "accessPackageId": package, "policy": external("ghost") } }),
        "NOT_FOUND",
        Some("specificAllowedTargets[0].connectedOrganizationId"),
    )
    .await;
    let policy = create_policy(&ada, &package, external(&org_id)).await;

    let delete = "mutation($id: ID!) { deleteConnectedOrganization(input: { id: $id }) { deletedId } }";
    let refusal = ada.refused(delete, json!({ "id": org["id"] }), "CONFLICT", None).await;
    assert!(refusal.message.contains("Fabrikam"), "{}", refusal.message);

    // A catalog not enabled for external users takes no policy for them.
    let internal_only = ada
        .data(
            "mutation { createCatalog(input: {displayName: \"Internal\", isExternallyVisible: false}) { catalog { id } } }",
            json!({}),
        )
        .await["createCatalog"]["catalog"]["id"]
        .clone();
    let hidden_package = ada.create_package(&text(&internal_only), "Internal tools").await;
    let refusal = ada
        .refused(
            policy_mutation,
            json!({ "i": { "accessPackageId": hidden_package, "policy": external(&org_id) } }),
            "VALIDATION_FAILED",
            Some("allowedTargetScope"),
        )
        .await;
    assert!(refusal.message.contains("isExternallyVisible"), "{}", refusal.message);

    // Once the policy is gone, so may the organization be.
    ada.data(
        "mutation($id: ID!) { deleteAssignmentPolicy(input: { id: $id }) { deletedId } }",
        json!({ "id": policy }),
    )
    .await;
    let deleted = ada.data(delete, json!({ "id": org["id"] })).await;
    assert_eq!(deleted["deleteConnectedOrganization"]["deletedId"], org["id"]);
    ada.refused(delete, json!({ "id": org["id"] }), "NOT_FOUND", Some("id")).await;
}

#[tokio::test]
async fn delegates_read_organizations_and_only_administrators_change_them_or_the_settings() {
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");
    let org =
        create(&ada, json!({ "displayName": "Fabrikam", "identitySources": [domain("fabrikam.com")] })).await;
    let catalog = ada.create_catalog("Alpha").await;
    give_role(&ada, "u-pete", PACKAGE_MANAGER, &scope(&catalog)).await;

    let list = "{ connectedOrganizations { totalCount } }";
    let pete = server.as_user("u-pete");
    assert_eq!(pete.data(list, json!({})).await["connectedOrganizations"]["totalCount"], 1);
    let refusal = server.as_user("u-nick").refused(list, json!({}), "FORBIDDEN", None).await;
    assert!(refusal.message.contains("connectedOrganizations/read"), "{}", refusal.message);
    let create_refusal = pete
        .refused(
            CREATE,
            json!({ "i": { "displayName": "Mine", "identitySources": [domain("mine.com")] } }),
            "FORBIDDEN",
            None,
        )
        .await;
    assert!(create_refusal.message.contains("connectedOrganizations/manage"), "{}", create_refusal.message);
    pete.refused(
        "mutation($id: ID!) { deleteConnectedOrganization(input: { id: $id }) { deletedId } }",
        json!({ "id": org["id"] }),
        "FORBIDDEN",
        None,
    )
    .await;

    // The settings: Graph's defaults, changed by administrators only.
    let read = "{ entitlementManagementSettings { externalUserLifecycleAction durationUntilExternalUserDeletedAfterBlocked } }";
    assert_eq!(
        ada.data(read, json!({})).await["entitlementManagementSettings"],
        json!({"externalUserLifecycleAction": "blockSignInAndDelete", "durationUntilExternalUserDeletedAfterBlocked": "P30D"})
    );
    let change = "mutation($i: UpdateEntitlementManagementSettingsInput!) { updateEntitlementManagementSettings(input: $i) {
        externalUserLifecycleAction durationUntilExternalUserDeletedAfterBlocked } }";
    let changed = ada
        .data(change, json!({ "i": { "externalUserLifecycleAction": "blockSignIn", "durationUntilExternalUserDeletedAfterBlocked": "P7D" } }))
        .await;
    assert_eq!(
        changed["updateEntitlementManagementSettings"],
        json!({"externalUserLifecycleAction": "blockSignIn", "durationUntilExternalUserDeletedAfterBlocked": "P7D"})
    );
    ada.refused(
        change,
        json!({ "i": { "durationUntilExternalUserDeletedAfterBlocked": "P1M" } }),
        "VALIDATION_FAILED",
        Some("durationUntilExternalUserDeletedAfterBlocked"),
    )
    .await;
    pete.refused(change, json!({ "i": { "externalUserLifecycleAction": "none" } }), "FORBIDDEN", None).await;
    pete.refused(read, json!({}), "FORBIDDEN", None).await;
    assert_eq!(
        ada.data(read, json!({})).await["entitlementManagementSettings"]["externalUserLifecycleAction"],
        "blockSignIn",
        "refusals changed nothing"
    );

    // Every change is in the audit trail.
    let audit = ada.data("{ auditEvents(first: 100) { nodes { kind } } }", json!({})).await;
    let kinds: Vec<String> =
        audit["auditEvents"]["nodes"].as_array().unwrap().iter().map(|e| text(&e["kind"])).collect();
    for kind in ["connectedOrganization.created", "settings.updated"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
    }
}

const SUBJECT: &str =
    "{ signedInSubject { subjectType objectId email displayName connectedOrganization { displayName } } }";

/// Someone from a partner tenant signs in with their own identity provider's token: they are an
/// outsider of the organization their tenant (or e-mail domain) belongs to, and see nothing of
/// the directory, the catalogs or the administration.
#[tokio::test]
async fn partners_sign_in_as_outsiders_of_their_connected_organization() {
    use crate::support::{PARTNER_KEY, UNTRUSTED_KEY, es256_token};
    let server = TestServer::with_auth(delegation_directory()).await;
    let ada = server.as_user("u-ada");
    create(
        &ada,
        json!({ "displayName": "Fabrikam", "identitySources": [
            { "azureActiveDirectoryTenant": { "tenantId": FABRIKAM_TENANT } } ] }),
    )
    .await;
    create(&ada, json!({ "displayName": "Litware", "identitySources": [domain("litware.com")] })).await;
    ada.create_catalog("Alpha").await;

    // By home tenant, then by e-mail domain; an unconnected tenant is an outsider of nowhere.
    let ann = server.as_partner(FABRIKAM_TENANT, "ann-oid", "Ann@Fabrikam.com", "Ann Contractor");
    assert_eq!(
        ann.data(SUBJECT, json!({})).await["signedInSubject"],
        json!({ "subjectType": "user", "objectId": null, "email": "ann@fabrikam.com", "displayName": "Ann Contractor",
                "connectedOrganization": {"displayName": "Fabrikam"} })
    );
    let lee = server.as_partner("9a9a9a9a-0000-4000-8000-000000000001", "lee-oid", "lee@litware.com", "Lee");
    assert_eq!(
        lee.data(SUBJECT, json!({})).await["signedInSubject"]["connectedOrganization"],
        json!({"displayName": "Litware"})
    );
    let zed =
        server.as_partner("9a9a9a9a-0000-4000-8000-000000000002", "zed-oid", "zed@unknown.example", "Zed");
    assert_eq!(zed.data(SUBJECT, json!({})).await["signedInSubject"]["connectedOrganization"], Value::Null);

    // An outsider reads nothing of the directory or the catalogs, and administers nothing.
    let empty = json!({ "users": {"totalCount": 0}, "user": null, "groups": {"totalCount": 0},
                        "catalogs": {"totalCount": 0}, "roleAssignments": {"totalCount": 0}, "auditEvents": {"totalCount": 0} });
    let reads =
        "{ users { totalCount } user(id: \"u-ada\") { id } groups { totalCount } catalogs { totalCount }
                   roleAssignments { totalCount } auditEvents { totalCount } }";
    assert_eq!(ann.data(reads, json!({})).await, empty);
    for refused in [
        "{ connectedOrganizations { totalCount } }",
        "{ entitlementManagementSettings { externalUserLifecycleAction } }",
        "{ assignmentRequests { totalCount } }",
        "mutation { createCatalog(input: { displayName: \"Mine\" }) { catalog { id } } }",
    ] {
        ann.refused(refused, json!({}), "FORBIDDEN", None).await;
    }

    // Tokens the server does not trust answer 401: an unknown key, the partner's key for another
    // issuer, the partner's key claiming to be this server's own issuer, no e-mail address.
    let status = |api: crate::support::Api| async move {
        api.http
            .post(api.url("/graphql"))
            .bearer_auth(api.bearer.clone().unwrap())
            .json(&json!({ "query": SUBJECT }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let claims = |iss: &str, email: Option<&str>| {
        let mut c = json!({ "iss": iss, "aud": "em-api", "tid": FABRIKAM_TENANT, "oid": "x" });
        if let Some(e) = email {
            c["email"] = json!(e);
        }
        c
    };
    let fabrikam_issuer = format!("https://login.microsoftonline.com/{FABRIKAM_TENANT}/v2.0");
    for token in [
        es256_token(UNTRUSTED_KEY, claims(&fabrikam_issuer, Some("ann@fabrikam.com"))),
        es256_token(PARTNER_KEY, claims("https://evil.example/v2.0", Some("ann@fabrikam.com"))),
        es256_token(PARTNER_KEY, claims("em-api", Some("ann@fabrikam.com"))),
        es256_token(PARTNER_KEY, claims(&fabrikam_issuer, None)),
    ] {
        assert_eq!(status(server.with_token(token)).await, 401);
    }
    assert_eq!(status(server.as_partner(FABRIKAM_TENANT, "ann-oid", "ann@fabrikam.com", "Ann")).await, 200);
}
