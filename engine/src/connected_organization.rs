//! Connected organizations: the other organizations whose users may request access
//! (`connectedOrganization` in Graph), the tenant's settings for the guests entitlement management
//! creates (`entitlementManagementSettings`), and the index that finds a signed-in outsider's
//! organization.
//!
//! An organization is known by its identity sources: an Entra tenant (by tenant id), a domain
//! (`domainIdentitySource`), or a SAML/WS-Fed federation (`externalDomainFederation`, a domain and
//! the issuer that signs for it). Each tenant id and each domain belongs to at most one
//! organization, so an outsider's organization is one lookup: the tenant of their token, else the
//! domain of their verified e-mail address.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::directory::{Group, ObjectRef, User, UserType};
use crate::duration::Duration;
use crate::error::{DomainError, Problems};
use crate::id::ConnectedOrganizationId;
use crate::text;

/// The most identity sources one organization may have.
pub const MAX_IDENTITY_SOURCES: usize = 50;
/// The most internal or external sponsors one organization may have.
pub const MAX_SPONSORS: usize = 100;

/// `connectedOrganizationState`: `configured` organizations are the ones an administrator set up;
/// `proposed` ones were recorded when an outsider from an unknown domain requested through an
/// `allExternalUsers` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConnectedOrganizationState {
    Configured,
    Proposed,
}

impl ConnectedOrganizationState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "configured",
            Self::Proposed => "proposed",
        }
    }
}

/// `identitySource`, with Graph's subtypes, written as Graph writes them (`@odata.type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "@odata.type")]
pub enum IdentitySource {
    /// Another Entra tenant: its users sign in with tokens whose `tid` is `tenant_id`.
    #[serde(rename = "#microsoft.graph.azureActiveDirectoryTenant", rename_all = "camelCase")]
    AzureActiveDirectoryTenant {
        tenant_id: String,
        #[serde(default)]
        display_name: Option<String>,
    },
    /// An Entra tenant in another cloud (`cloudInstance`, e.g. `microsoftonline.us`).
    #[serde(rename = "#microsoft.graph.crossCloudAzureActiveDirectoryTenant", rename_all = "camelCase")]
    CrossCloudAzureActiveDirectoryTenant {
        tenant_id: String,
        cloud_instance: String,
        #[serde(default)]
        display_name: Option<String>,
    },
    /// A domain: users whose verified e-mail address is at `domain_name`.
    #[serde(rename = "#microsoft.graph.domainIdentitySource", rename_all = "camelCase")]
    DomainIdentitySource {
        domain_name: String,
        #[serde(default)]
        display_name: Option<String>,
    },
    /// A SAML/WS-Fed identity provider that signs for `domain_name` as `issuer_uri`.
    #[serde(rename = "#microsoft.graph.externalDomainFederation", rename_all = "camelCase")]
    ExternalDomainFederation {
        domain_name: String,
        issuer_uri: String,
        #[serde(default)]
        display_name: Option<String>,
    },
}

/// What an identity source claims: a tenant or a domain, which no other organization may claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Claim {
    Tenant(String),
    Domain(String),
}

impl Claim {
    fn describe(&self) -> String {
        match self {
            Self::Tenant(t) => format!("tenant `{t}`"),
            Self::Domain(d) => format!("domain `{d}`"),
        }
    }
}

impl IdentitySource {
    /// What this source claims.
    #[must_use]
    pub fn claim(&self) -> Claim {
        match self {
            Self::AzureActiveDirectoryTenant { tenant_id, .. }
            | Self::CrossCloudAzureActiveDirectoryTenant { tenant_id, .. } => {
                Claim::Tenant(tenant_id.clone())
            }
            Self::DomainIdentitySource { domain_name, .. }
            | Self::ExternalDomainFederation { domain_name, .. } => Claim::Domain(domain_name.clone()),
        }
    }

    /// The issuer this source trusts tokens from, for a federation.
    #[must_use]
    pub fn issuer_uri(&self) -> Option<&str> {
        match self {
            Self::ExternalDomainFederation { issuer_uri, .. } => Some(issuer_uri),
            _ => None,
        }
    }

    /// Checks and normalizes: tenant ids and domains lower-cased, display names trimmed.
    fn normalized(self, at: &str, problems: &mut Problems) -> Self {
        let name = |display_name: Option<String>, problems: &mut Problems| {
            display_name.filter(|n| !n.trim().is_empty()).and_then(|n| {
                text::display_name(&format!("{at}.displayName"), &n)
                    .map_err(|e| problems.push(format!("{at}.displayName"), e.message))
                    .ok()
            })
        };
        match self {
            Self::AzureActiveDirectoryTenant { tenant_id, display_name } => {
                Self::AzureActiveDirectoryTenant {
                    tenant_id: tenant(&tenant_id, &format!("{at}.tenantId"), problems),
                    display_name: name(display_name, problems),
                }
            }
            Self::CrossCloudAzureActiveDirectoryTenant { tenant_id, cloud_instance, display_name } => {
                let cloud = cloud_instance.trim().to_ascii_lowercase();
                if domain(&cloud).is_none() {
                    problems.push(
                        format!("{at}.cloudInstance"),
                        format!("`{cloud_instance}` is not a cloud instance such as `microsoftonline.us`"),
                    );
                }
                Self::CrossCloudAzureActiveDirectoryTenant {
                    tenant_id: tenant(&tenant_id, &format!("{at}.tenantId"), problems),
                    cloud_instance: cloud,
                    display_name: name(display_name, problems),
                }
            }
            Self::DomainIdentitySource { domain_name, display_name } => Self::DomainIdentitySource {
                domain_name: checked_domain(&domain_name, &format!("{at}.domainName"), problems),
                display_name: name(display_name, problems),
            },
            Self::ExternalDomainFederation { domain_name, issuer_uri, display_name } => {
                let issuer = issuer_uri.trim().to_owned();
                if issuer.is_empty()
                    || issuer.len() > 2048
                    || issuer.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    problems.push(
                        format!("{at}.issuerUri"),
                        "`issuerUri` must be the identity provider's issuer URI, without spaces, at most 2,048 characters",
                    );
                }
                Self::ExternalDomainFederation {
                    domain_name: checked_domain(&domain_name, &format!("{at}.domainName"), problems),
                    issuer_uri: issuer,
                    display_name: name(display_name, problems),
                }
            }
        }
    }
}

/// A tenant id: a GUID, lower-cased.
fn tenant(raw: &str, at: &str, problems: &mut Problems) -> String {
    let id = raw.trim().to_ascii_lowercase();
    let groups: Vec<&str> = id.split('-').collect();
    let shape = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
    if !shape || !groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit())) {
        problems.push(
            at,
            format!("`{raw}` is not a tenant id (a GUID such as `72f988bf-86f1-41af-91ab-2d7cd011db47`)"),
        );
    }
    id
}

fn checked_domain(raw: &str, at: &str, problems: &mut Problems) -> String {
    domain(raw).unwrap_or_else(|| {
        problems.push(at, format!("`{raw}` is not a domain name such as `fabrikam.com`"));
        raw.trim().to_ascii_lowercase()
    })
}

/// A DNS domain name, lower-cased: two labels or more of letters, digits and inner hyphens.
#[must_use]
pub fn domain(raw: &str) -> Option<String> {
    let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    (labels.len() >= 2 && d.len() <= 253 && labels.iter().all(label_ok)).then_some(d)
}

/// The domain of an e-mail address, lower-cased, or `None` when it is not one.
#[must_use]
pub fn email_domain(email: &str) -> Option<String> {
    let (local, host) = email.trim().rsplit_once('@')?;
    if local.is_empty() {
        return None;
    }
    domain(host)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedOrganization {
    pub id: ConnectedOrganizationId,
    pub display_name: String,
    pub description: Option<String>,
    pub identity_sources: Vec<IdentitySource>,
    pub state: ConnectedOrganizationState,
    /// Users or groups of this directory who approve for the organization's users.
    #[serde(default)]
    pub internal_sponsors: Vec<ObjectRef>,
    /// Guest users of this directory, from the organization, who approve for its users.
    #[serde(default)]
    pub external_sponsors: Vec<ObjectRef>,
    pub created_date_time: DateTime<Utc>,
    pub modified_date_time: DateTime<Utc>,
}

/// What an administrator gives to create a connected organization.
#[derive(Debug, Clone, Default)]
pub struct NewConnectedOrganization {
    pub display_name: String,
    pub description: Option<String>,
    pub identity_sources: Vec<IdentitySource>,
    pub state: Option<ConnectedOrganizationState>,
}

/// A partial update: `None` leaves a property as it is.
#[derive(Debug, Clone, Default)]
pub struct ConnectedOrganizationPatch {
    pub display_name: Option<String>,
    pub description: Option<Option<String>>,
    pub identity_sources: Option<Vec<IdentitySource>>,
    pub state: Option<ConnectedOrganizationState>,
}

/// Which sponsors: internal (users or groups of the directory) or external (guest users).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SponsorKind {
    Internal,
    External,
}

impl SponsorKind {
    #[must_use]
    pub fn field(self) -> &'static str {
        match self {
            Self::Internal => "internalSponsors",
            Self::External => "externalSponsors",
        }
    }
}

/// The directory object a sponsor would be.
#[derive(Debug, Clone, Copy)]
pub enum SponsorCandidate<'a> {
    User(&'a User),
    Group(&'a Group),
}

impl ConnectedOrganization {
    /// Validates a new organization. Administrators create `configured` organizations unless they
    /// say otherwise, as Graph does.
    pub fn create(
        id: ConnectedOrganizationId,
        input: NewConnectedOrganization,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let mut problems = Problems::default();
        let display_name = text::display_name("displayName", &input.display_name)
            .map_err(|e| problems.push("displayName", e.message))
            .unwrap_or_default();
        let description = text::description("description", input.description.as_deref())
            .map_err(|e| problems.push("description", e.message))
            .unwrap_or_default();
        let identity_sources = sources(input.identity_sources, &mut problems);
        problems.into_result("the connected organization is not valid")?;
        Ok(Self {
            id,
            display_name,
            description,
            identity_sources,
            state: input.state.unwrap_or(ConnectedOrganizationState::Configured),
            internal_sponsors: Vec::new(),
            external_sponsors: Vec::new(),
            created_date_time: now,
            modified_date_time: now,
        })
    }

    /// The organization recorded for an outsider from `domain` who requested through an
    /// `allExternalUsers` policy: `proposed`, named after the domain.
    #[must_use]
    pub fn proposed(id: ConnectedOrganizationId, domain: &str, now: DateTime<Utc>) -> Self {
        Self {
            id,
            display_name: domain.to_owned(),
            description: Some(format!("Proposed when a user from {domain} requested access.")),
            identity_sources: vec![IdentitySource::DomainIdentitySource {
                domain_name: domain.to_owned(),
                display_name: Some(domain.to_owned()),
            }],
            state: ConnectedOrganizationState::Proposed,
            internal_sponsors: Vec::new(),
            external_sponsors: Vec::new(),
            created_date_time: now,
            modified_date_time: now,
        }
    }

    /// Applies a partial update.
    pub fn update(&self, patch: ConnectedOrganizationPatch, now: DateTime<Utc>) -> Result<Self, DomainError> {
        let mut next = self.clone();
        let mut problems = Problems::default();
        if let Some(name) = patch.display_name {
            match text::display_name("displayName", &name) {
                Ok(name) => next.display_name = name,
                Err(e) => problems.push("displayName", e.message),
            }
        }
        if let Some(description) = patch.description {
            match text::description("description", description.as_deref()) {
                Ok(d) => next.description = d,
                Err(e) => problems.push("description", e.message),
            }
        }
        if let Some(identity_sources) = patch.identity_sources {
            next.identity_sources = sources(identity_sources, &mut problems);
        }
        if let Some(state) = patch.state {
            next.state = state;
        }
        problems.into_result("the connected organization is not valid")?;
        next.modified_date_time = now;
        Ok(next)
    }

    /// What the organization's identity sources claim.
    pub fn claims(&self) -> impl Iterator<Item = Claim> + '_ {
        self.identity_sources.iter().map(IdentitySource::claim)
    }

    /// The sponsors of one kind.
    #[must_use]
    pub fn sponsors(&self, kind: SponsorKind) -> &[ObjectRef] {
        match kind {
            SponsorKind::Internal => &self.internal_sponsors,
            SponsorKind::External => &self.external_sponsors,
        }
    }

    fn sponsors_mut(&mut self, kind: SponsorKind) -> &mut Vec<ObjectRef> {
        match kind {
            SponsorKind::Internal => &mut self.internal_sponsors,
            SponsorKind::External => &mut self.external_sponsors,
        }
    }

    /// Adds a sponsor: an internal sponsor is a member user or a group, an external sponsor a
    /// guest user. Adding one already there changes nothing.
    pub fn add_sponsor(
        &self,
        kind: SponsorKind,
        candidate: SponsorCandidate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let field = kind.field();
        let id = match (kind, candidate) {
            (SponsorKind::Internal, SponsorCandidate::User(u)) if u.user_type() == UserType::Member => {
                u.id.as_str()
            }
            (SponsorKind::Internal, SponsorCandidate::Group(g)) => g.id.as_str(),
            (SponsorKind::External, SponsorCandidate::User(u)) if u.user_type() == UserType::Guest => {
                u.id.as_str()
            }
            (SponsorKind::Internal, SponsorCandidate::User(u)) => {
                return Err(DomainError::invalid(
                    field,
                    format!(
                        "`{}` is a guest; internal sponsors are members of this directory or groups",
                        u.id
                    ),
                ));
            }
            (SponsorKind::External, SponsorCandidate::User(u)) => {
                return Err(DomainError::invalid(
                    field,
                    format!(
                        "`{}` is not a guest user; external sponsors are guests from the organization",
                        u.id
                    ),
                ));
            }
            (SponsorKind::External, SponsorCandidate::Group(g)) => {
                return Err(DomainError::invalid(
                    field,
                    format!("`{}` is a group; external sponsors are guest users", g.id),
                ));
            }
        };
        let mut next = self.clone();
        let list = next.sponsors_mut(kind);
        if list.iter().any(|s| s.id == id) {
            return Ok(next);
        }
        if list.len() >= MAX_SPONSORS {
            return Err(DomainError::invalid(
                field,
                format!("an organization has at most {MAX_SPONSORS} {field}"),
            ));
        }
        list.push(ObjectRef { id: id.to_owned() });
        next.modified_date_time = now;
        Ok(next)
    }

    /// Removes a sponsor; `NOT_FOUND` when they are not one.
    pub fn remove_sponsor(
        &self,
        kind: SponsorKind,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let mut next = self.clone();
        let list = next.sponsors_mut(kind);
        let before = list.len();
        list.retain(|s| s.id != id);
        if list.len() == before {
            return Err(DomainError::not_found(&format!("sponsor of `{}`", self.display_name), id));
        }
        next.modified_date_time = now;
        Ok(next)
    }

    /// Whether the organization may be deleted, given how many policies name it.
    pub fn check_deletable(&self, policies_naming_it: usize) -> Result<(), DomainError> {
        if policies_naming_it > 0 {
            return Err(DomainError::conflict(format!(
                "connected organization `{}` is named by {policies_naming_it} assignment polic{}; remove it from them first",
                self.display_name,
                if policies_naming_it == 1 { "y" } else { "ies" }
            )));
        }
        Ok(())
    }
}

/// At least one, at most [`MAX_IDENTITY_SOURCES`], each valid, none claiming what another does.
fn sources(raw: Vec<IdentitySource>, problems: &mut Problems) -> Vec<IdentitySource> {
    if raw.is_empty() {
        problems.push("identitySources", "a connected organization needs an identity source");
    }
    if raw.len() > MAX_IDENTITY_SOURCES {
        problems.push(
            "identitySources",
            format!("a connected organization has at most {MAX_IDENTITY_SOURCES} identity sources"),
        );
    }
    let mut seen = HashMap::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, s)| {
            let at = format!("identitySources[{i}]");
            let s = s.normalized(&at, problems);
            if let Some(first) = seen.insert(s.claim(), i) {
                problems.push(&at, format!("{} is also identitySources[{first}]", s.claim().describe()));
            }
            s
        })
        .collect()
}

/// Refuses an organization whose tenants or domains another organization claims (`CONFLICT`).
pub fn check_claims_free(org: &ConnectedOrganization, index: &OrganizationIndex) -> Result<(), DomainError> {
    for claim in org.claims() {
        if let Some(other) = index.claimant(&claim).filter(|other| other.id != org.id) {
            return Err(DomainError::conflict(format!(
                "{} belongs to connected organization `{}`",
                claim.describe(),
                other.display_name
            )));
        }
    }
    Ok(())
}

/// What the index keeps of an organization: enough to decide a sign-in and a policy's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationEntry {
    pub id: ConnectedOrganizationId,
    pub display_name: String,
    pub state: ConnectedOrganizationState,
}

/// Every organization's tenants and domains, for O(1) resolution of an outsider's organization.
#[derive(Debug, Clone, Default)]
pub struct OrganizationIndex {
    by_tenant: HashMap<String, usize>,
    by_domain: HashMap<String, usize>,
    entries: Vec<OrganizationEntry>,
}

impl OrganizationIndex {
    /// Indexes `organizations`. A tenant or domain claimed twice (which creation refuses) goes
    /// to the first.
    pub fn new<'a>(organizations: impl IntoIterator<Item = &'a ConnectedOrganization>) -> Self {
        let mut index = Self::default();
        for org in organizations {
            let at = index.entries.len();
            index.entries.push(OrganizationEntry {
                id: org.id.clone(),
                display_name: org.display_name.clone(),
                state: org.state,
            });
            for claim in org.claims() {
                match claim {
                    Claim::Tenant(t) => index.by_tenant.entry(t).or_insert(at),
                    Claim::Domain(d) => index.by_domain.entry(d).or_insert(at),
                };
            }
        }
        index
    }

    /// How many organizations there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The organization that claims `claim`.
    #[must_use]
    pub fn claimant(&self, claim: &Claim) -> Option<&OrganizationEntry> {
        match claim {
            Claim::Tenant(t) => self.by_tenant.get(t.as_str()),
            Claim::Domain(d) => self.by_domain.get(d.as_str()),
        }
        .map(|&i| &self.entries[i])
    }

    /// An outsider's organization: the one of their home tenant (`tid`, lower-case) if any
    /// claims it, else the one of their e-mail domain (lower-case).
    #[must_use]
    pub fn resolve(&self, tenant_id: Option<&str>, email_domain: Option<&str>) -> Option<&OrganizationEntry> {
        tenant_id
            .and_then(|t| self.by_tenant.get(t))
            .or_else(|| email_domain.and_then(|d| self.by_domain.get(d)))
            .map(|&i| &self.entries[i])
    }
}

/// `accessPackageExternalUserLifecycleAction`: what happens to a guest entitlement management
/// created when their last assignment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum ExternalUserLifecycleAction {
    None,
    BlockSignIn,
    #[default]
    BlockSignInAndDelete,
}

/// `entitlementManagementSettings`: the tenant's one settings object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementManagementSettings {
    pub external_user_lifecycle_action: ExternalUserLifecycleAction,
    /// How long a blocked guest is kept before deletion, under `blockSignInAndDelete`.
    pub duration_until_external_user_deleted_after_blocked: Duration,
}

/// The most days a blocked guest may be kept before deletion.
pub const MAX_DAYS_BEFORE_DELETION: u64 = 3_650;

impl Default for EntitlementManagementSettings {
    /// The portal's: block sign-in, then delete after 30 days.
    fn default() -> Self {
        Self {
            external_user_lifecycle_action: ExternalUserLifecycleAction::BlockSignInAndDelete,
            duration_until_external_user_deleted_after_blocked: Duration::days(30),
        }
    }
}

impl EntitlementManagementSettings {
    /// Applies an update; `None` leaves a setting as it is.
    pub fn update(
        self,
        action: Option<ExternalUserLifecycleAction>,
        duration: Option<Duration>,
    ) -> Result<Self, DomainError> {
        let next = Self {
            external_user_lifecycle_action: action.unwrap_or(self.external_user_lifecycle_action),
            duration_until_external_user_deleted_after_blocked: duration
                .unwrap_or(self.duration_until_external_user_deleted_after_blocked),
        };
        if next.duration_until_external_user_deleted_after_blocked > Duration::days(MAX_DAYS_BEFORE_DELETION)
        {
            return Err(DomainError::invalid(
                "durationUntilExternalUserDeletedAfterBlocked",
                format!("a blocked guest is kept at most {MAX_DAYS_BEFORE_DELETION} days"),
            ));
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests;
