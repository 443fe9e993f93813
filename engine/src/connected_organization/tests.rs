use super::*;
use crate::ErrorCode;
use crate::id::UserId;

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

const FABRIKAM_TENANT: &str = "3b5b2d5e-8b1a-4a4e-9b6e-1f2a3c4d5e6f";

fn tenant(id: &str) -> IdentitySource {
    IdentitySource::AzureActiveDirectoryTenant { tenant_id: id.into(), display_name: Some("Fabrikam".into()) }
}

fn domain_source(d: &str) -> IdentitySource {
    IdentitySource::DomainIdentitySource { domain_name: d.into(), display_name: None }
}

fn org(id: &str, name: &str, sources: Vec<IdentitySource>) -> ConnectedOrganization {
    let input = NewConnectedOrganization {
        display_name: name.into(),
        identity_sources: sources,
        ..Default::default()
    };
    ConnectedOrganization::create(id.into(), input, now()).unwrap()
}

fn user(id: &str, kind: UserType) -> User {
    User { id: UserId::new(id), user_type: Some(kind), ..Default::default() }
}

#[test]
fn identity_sources_read_and_write_as_graph_does() {
    let json = serde_json::json!([
        {"@odata.type": "#microsoft.graph.azureActiveDirectoryTenant", "tenantId": FABRIKAM_TENANT, "displayName": "Fabrikam"},
        {"@odata.type": "#microsoft.graph.domainIdentitySource", "domainName": "fabrikam.com", "displayName": "fabrikam.com"},
        {"@odata.type": "#microsoft.graph.externalDomainFederation", "domainName": "contractors.fabrikam.com",
         "issuerUri": "https://idp.fabrikam.com/", "displayName": "Fabrikam IdP"}
    ]);
    let sources: Vec<IdentitySource> = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&sources).unwrap(), json);
    assert_eq!(sources[2].issuer_uri(), Some("https://idp.fabrikam.com/"));
}

#[test]
fn new_organizations_are_configured_and_normalized() {
    let o =
        org("o", " Fabrikam ", vec![tenant(&FABRIKAM_TENANT.to_uppercase()), domain_source("Fabrikam.COM.")]);
    assert_eq!(o.display_name, "Fabrikam");
    assert_eq!(o.state, ConnectedOrganizationState::Configured);
    let claims: Vec<Claim> = o.claims().collect();
    assert_eq!(claims, vec![Claim::Tenant(FABRIKAM_TENANT.into()), Claim::Domain("fabrikam.com".into())]);
}

#[test]
fn bad_identity_sources_are_refused_together() {
    let input = NewConnectedOrganization {
        display_name: "".into(),
        identity_sources: vec![
            tenant("not-a-guid"),
            domain_source("localhost"),
            domain_source("a.com"),
            domain_source("A.com"),
        ],
        ..Default::default()
    };
    let err = ConnectedOrganization::create("o".into(), input, now()).unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationFailed);
    let paths: Vec<&str> = err.details.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        ["displayName", "identitySources[0].tenantId", "identitySources[1].domainName", "identitySources[3]"]
    );
    let none = NewConnectedOrganization { display_name: "x".into(), ..Default::default() };
    let err = ConnectedOrganization::create("o".into(), none, now()).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("identitySources"));
}

#[test]
fn domains_and_emails_parse() {
    assert_eq!(domain(" Litware.com ").as_deref(), Some("litware.com"));
    assert_eq!(domain("-bad.com"), None);
    assert_eq!(domain("com"), None);
    assert_eq!(domain("a..b"), None);
    assert_eq!(email_domain("Ann@Sub.Adatum.com").as_deref(), Some("sub.adatum.com"));
    assert_eq!(email_domain("@adatum.com"), None);
    assert_eq!(email_domain("nobody"), None);
}

#[test]
fn the_index_resolves_by_tenant_then_domain() {
    let fabrikam = org("f", "Fabrikam", vec![tenant(FABRIKAM_TENANT), domain_source("fabrikam.com")]);
    let litware = org("l", "Litware", vec![domain_source("litware.com"), domain_source("litware.co.uk")]);
    let index = OrganizationIndex::new([&fabrikam, &litware]);
    assert_eq!(index.len(), 2);
    assert_eq!(index.resolve(Some(FABRIKAM_TENANT), None).map(|e| e.id.as_str()), Some("f"));
    assert_eq!(index.resolve(Some(FABRIKAM_TENANT), Some("litware.com")).map(|e| e.id.as_str()), Some("f"));
    assert_eq!(
        index
            .resolve(Some("00000000-0000-0000-0000-000000000000"), Some("litware.co.uk"))
            .map(|e| e.id.as_str()),
        Some("l")
    );
    assert_eq!(index.resolve(None, Some("adatum.com")), None);
    assert_eq!(index.resolve(None, None), None);
}

#[test]
fn a_claimed_domain_or_tenant_conflicts_with_another_organization_only() {
    let fabrikam = org("f", "Fabrikam", vec![tenant(FABRIKAM_TENANT), domain_source("fabrikam.com")]);
    let index = OrganizationIndex::new([&fabrikam]);
    let copycat = org("c", "Copycat", vec![domain_source("FABRIKAM.com")]);
    let err = check_claims_free(&copycat, &index).unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict);
    assert!(err.message.contains("fabrikam.com") && err.message.contains("Fabrikam"), "{}", err.message);
    assert!(check_claims_free(&fabrikam, &index).is_ok(), "an organization does not conflict with itself");
}

#[test]
fn sponsors_are_members_or_groups_inside_and_guests_outside() {
    let o = org("o", "Fabrikam", vec![domain_source("fabrikam.com")]);
    let member = user("m", UserType::Member);
    let guest = user("g", UserType::Guest);
    let group =
        Group { id: "grp".into(), display_name: "ERP Project Approvers".into(), ..Default::default() };
    let o = o.add_sponsor(SponsorKind::Internal, SponsorCandidate::User(&member), now()).unwrap();
    let o = o.add_sponsor(SponsorKind::Internal, SponsorCandidate::Group(&group), now()).unwrap();
    let o = o.add_sponsor(SponsorKind::External, SponsorCandidate::User(&guest), now()).unwrap();
    let again = o.add_sponsor(SponsorKind::External, SponsorCandidate::User(&guest), now()).unwrap();
    assert_eq!(again, o, "adding a sponsor twice changes nothing");
    let ids = |k| o.sponsors(k).iter().map(|s| s.id.as_str()).collect::<Vec<_>>();
    assert_eq!(ids(SponsorKind::Internal), ["m", "grp"]);
    assert_eq!(ids(SponsorKind::External), ["g"]);
    for (kind, candidate) in [
        (SponsorKind::External, SponsorCandidate::User(&member)),
        (SponsorKind::External, SponsorCandidate::Group(&group)),
        (SponsorKind::Internal, SponsorCandidate::User(&guest)),
    ] {
        let err = o.add_sponsor(kind, candidate, now()).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), (ErrorCode::ValidationFailed, Some(kind.field())));
    }
    let o = o.remove_sponsor(SponsorKind::Internal, "m", now()).unwrap();
    assert_eq!(o.remove_sponsor(SponsorKind::Internal, "m", now()).unwrap_err().code, ErrorCode::NotFound);
}

#[test]
fn an_organization_named_by_a_policy_is_not_deletable() {
    let o = org("o", "Fabrikam", vec![domain_source("fabrikam.com")]);
    assert!(o.check_deletable(0).is_ok());
    assert_eq!(o.check_deletable(2).unwrap_err().code, ErrorCode::Conflict);
}

#[test]
fn proposed_organizations_claim_their_domain() {
    let o = ConnectedOrganization::proposed("p".into(), "unknown.example", now());
    assert_eq!(o.state, ConnectedOrganizationState::Proposed);
    assert_eq!(o.claims().collect::<Vec<_>>(), vec![Claim::Domain("unknown.example".into())]);
}

#[test]
fn settings_default_to_block_then_delete_after_30_days() {
    let s = EntitlementManagementSettings::default();
    assert_eq!(
        serde_json::to_value(s).unwrap(),
        serde_json::json!({"externalUserLifecycleAction": "blockSignInAndDelete",
                           "durationUntilExternalUserDeletedAfterBlocked": "P30D"})
    );
    let s = s.update(Some(ExternalUserLifecycleAction::BlockSignIn), Some(Duration::days(7))).unwrap();
    assert_eq!(s.external_user_lifecycle_action, ExternalUserLifecycleAction::BlockSignIn);
    assert!(s.update(None, Some(Duration::days(5000))).is_err());
}
