//! The attribute schema of user rules: which properties exist, their types, their canonical
//! names, and where each one lives on a [`User`].
//!
//! The rule language names a few properties differently from Graph (and so from [`User`]):
//! `mobile` is `mobilePhone`, `telephoneNumber` is `businessPhones[0]`, `facsimileTelephoneNumber`
//! is `faxNumber`, `dirSyncEnabled` is `onPremisesSyncEnabled` and `objectId` is `id`. This module
//! is the one place that knows it; the checker resolves names here and evaluators read values here.
//!
//! Reading values, the schema applies Graph's defaults: `accountEnabled` is true and `userType` is
//! `Member` when absent, and `dirSyncEnabled` is false for a user never synced from on-premises,
//! so those three are never null. A string property that is absent or empty reads as `None`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::directory::{AssignedPlan, User, is_extension_property};

/// The type of a property, which decides the operators and values a rule may use with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyType {
    String,
    Boolean,
    DateTime,
    /// `otherMails`, `proxyAddresses`: compared directly or element by element with `_`.
    StringCollection,
    /// `assignedPlans`: only through `-any`/`-all` over `assignedPlan.<field>`.
    PlanCollection,
    /// `memberOf`: only in the form `user.memberOf -any (group.objectId -in [...])`.
    GroupCollection,
}

impl PropertyType {
    /// How messages name the type: "the {kind} property".
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::DateTime => "date and time",
            Self::StringCollection => "string collection",
            Self::PlanCollection => "plan collection",
            Self::GroupCollection => "group collection",
        }
    }
}

/// A user property a rule can test, as `user.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserProperty {
    AccountEnabled,
    DirSyncEnabled,
    EmployeeHireDate,
    City,
    CompanyName,
    Country,
    Department,
    DisplayName,
    EmployeeId,
    FacsimileTelephoneNumber,
    GivenName,
    JobTitle,
    Mail,
    MailNickName,
    Mobile,
    ObjectId,
    OnPremisesDistinguishedName,
    OnPremisesSecurityIdentifier,
    PasswordPolicies,
    PhysicalDeliveryOfficeName,
    PostalCode,
    PreferredLanguage,
    SipProxyAddress,
    State,
    StreetAddress,
    Surname,
    TelephoneNumber,
    UsageLocation,
    UserPrincipalName,
    UserType,
    OtherMails,
    ProxyAddresses,
    AssignedPlans,
    MemberOf,
    /// `extensionAttribute1` to `extensionAttribute15`.
    ExtensionAttribute(u8),
    /// `extension_<appIdWithoutDashes>_<name>`, with the prefix and the app id in lowercase and
    /// the name as written (it is matched without regard to case).
    Extension(String),
}

/// Every property with a fixed name, with its canonical name as the documentation writes it.
const NAMED: &[(UserProperty, &str)] = &[
    (UserProperty::AccountEnabled, "accountEnabled"),
    (UserProperty::DirSyncEnabled, "dirSyncEnabled"),
    (UserProperty::EmployeeHireDate, "employeeHireDate"),
    (UserProperty::City, "city"),
    (UserProperty::CompanyName, "companyName"),
    (UserProperty::Country, "country"),
    (UserProperty::Department, "department"),
    (UserProperty::DisplayName, "displayName"),
    (UserProperty::EmployeeId, "employeeId"),
    (UserProperty::FacsimileTelephoneNumber, "facsimileTelephoneNumber"),
    (UserProperty::GivenName, "givenName"),
    (UserProperty::JobTitle, "jobTitle"),
    (UserProperty::Mail, "mail"),
    (UserProperty::MailNickName, "mailNickName"),
    (UserProperty::Mobile, "mobile"),
    (UserProperty::ObjectId, "objectId"),
    (UserProperty::OnPremisesDistinguishedName, "onPremisesDistinguishedName"),
    (UserProperty::OnPremisesSecurityIdentifier, "onPremisesSecurityIdentifier"),
    (UserProperty::PasswordPolicies, "passwordPolicies"),
    (UserProperty::PhysicalDeliveryOfficeName, "physicalDeliveryOfficeName"),
    (UserProperty::PostalCode, "postalCode"),
    (UserProperty::PreferredLanguage, "preferredLanguage"),
    (UserProperty::SipProxyAddress, "sipProxyAddress"),
    (UserProperty::State, "state"),
    (UserProperty::StreetAddress, "streetAddress"),
    (UserProperty::Surname, "surname"),
    (UserProperty::TelephoneNumber, "telephoneNumber"),
    (UserProperty::UsageLocation, "usageLocation"),
    (UserProperty::UserPrincipalName, "userPrincipalName"),
    (UserProperty::UserType, "userType"),
    (UserProperty::OtherMails, "otherMails"),
    (UserProperty::ProxyAddresses, "proxyAddresses"),
    (UserProperty::AssignedPlans, "assignedPlans"),
    (UserProperty::MemberOf, "memberOf"),
];

const EXTENSION_ATTRIBUTES: [&str; 15] = [
    "extensionAttribute1",
    "extensionAttribute2",
    "extensionAttribute3",
    "extensionAttribute4",
    "extensionAttribute5",
    "extensionAttribute6",
    "extensionAttribute7",
    "extensionAttribute8",
    "extensionAttribute9",
    "extensionAttribute10",
    "extensionAttribute11",
    "extensionAttribute12",
    "extensionAttribute13",
    "extensionAttribute14",
    "extensionAttribute15",
];

/// Graph names people write by habit, with the rule-language name to use instead.
const GRAPH_NAMES: &[(&str, &str)] = &[
    ("mobilePhone", "mobile"),
    ("businessPhones", "telephoneNumber"),
    ("faxNumber", "facsimileTelephoneNumber"),
    ("onPremisesSyncEnabled", "dirSyncEnabled"),
    ("id", "objectId"),
    ("officeLocation", "physicalDeliveryOfficeName"),
    ("onPremisesExtensionAttributes", "extensionAttribute1"),
];

impl UserProperty {
    /// Resolves a name written after `user.`, ignoring case as Entra does.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        if let Some((property, _)) = NAMED.iter().find(|(_, canonical)| canonical.eq_ignore_ascii_case(name))
        {
            return Some(property.clone());
        }
        if let Some(n) = extension_attribute_number(name) {
            return Some(Self::ExtensionAttribute(n));
        }
        extension_name(name).map(Self::Extension)
    }

    /// The canonical name, as written after `user.`.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::ExtensionAttribute(n) => EXTENSION_ATTRIBUTES
                .get(usize::from(*n).saturating_sub(1))
                .copied()
                .unwrap_or("extensionAttribute"),
            Self::Extension(name) => name,
            fixed => NAMED.iter().find(|(p, _)| p == fixed).map_or("", |(_, name)| name),
        }
    }

    #[must_use]
    pub fn property_type(&self) -> PropertyType {
        match self {
            Self::AccountEnabled | Self::DirSyncEnabled => PropertyType::Boolean,
            Self::EmployeeHireDate => PropertyType::DateTime,
            Self::OtherMails | Self::ProxyAddresses => PropertyType::StringCollection,
            Self::AssignedPlans => PropertyType::PlanCollection,
            Self::MemberOf => PropertyType::GroupCollection,
            _ => PropertyType::String,
        }
    }

    /// The value of a string property; `None` when absent or empty, and for other types.
    #[must_use]
    pub fn text<'u>(&self, user: &'u User) -> Option<&'u str> {
        let value = match self {
            Self::City => user.city.as_deref(),
            Self::CompanyName => user.company_name.as_deref(),
            Self::Country => user.country.as_deref(),
            Self::Department => user.department.as_deref(),
            Self::DisplayName => user.display_name.as_deref(),
            Self::EmployeeId => user.employee_id.as_deref(),
            Self::FacsimileTelephoneNumber => user.fax_number.as_deref(),
            Self::GivenName => user.given_name.as_deref(),
            Self::JobTitle => user.job_title.as_deref(),
            Self::Mail => user.mail.as_deref(),
            Self::MailNickName => user.mail_nickname.as_deref(),
            Self::Mobile => user.mobile_phone.as_deref(),
            Self::ObjectId => Some(user.id.as_str()),
            Self::OnPremisesDistinguishedName => user.on_premises_distinguished_name.as_deref(),
            Self::OnPremisesSecurityIdentifier => user.on_premises_security_identifier.as_deref(),
            Self::PasswordPolicies => user.password_policies.as_deref(),
            Self::PhysicalDeliveryOfficeName => user.physical_delivery_office_name.as_deref(),
            Self::PostalCode => user.postal_code.as_deref(),
            Self::PreferredLanguage => user.preferred_language.as_deref(),
            Self::SipProxyAddress => user.sip_proxy_address.as_deref(),
            Self::State => user.state.as_deref(),
            Self::StreetAddress => user.street_address.as_deref(),
            Self::Surname => user.surname.as_deref(),
            Self::TelephoneNumber => user.business_phones.first().map(String::as_str),
            Self::UsageLocation => user.usage_location.as_deref(),
            Self::UserPrincipalName => user.user_principal_name.as_deref(),
            Self::UserType => Some(user.user_type().as_str()),
            Self::ExtensionAttribute(n) => user.on_premises_extension_attributes.get(*n),
            Self::Extension(name) => user
                .extensions
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
            Self::AccountEnabled
            | Self::DirSyncEnabled
            | Self::EmployeeHireDate
            | Self::OtherMails
            | Self::ProxyAddresses
            | Self::AssignedPlans
            | Self::MemberOf => None,
        };
        value.filter(|v| !v.is_empty())
    }

    /// The value of a boolean property, with Graph's defaults; `None` for other types.
    #[must_use]
    pub fn flag(&self, user: &User) -> Option<bool> {
        match self {
            Self::AccountEnabled => Some(user.account_enabled()),
            Self::DirSyncEnabled => Some(user.on_premises_sync_enabled.unwrap_or(false)),
            _ => None,
        }
    }

    /// The value of `employeeHireDate`; `None` when absent or not a date.
    #[must_use]
    pub fn date(&self, user: &User) -> Option<DateTime<Utc>> {
        match self {
            Self::EmployeeHireDate => user.employee_hire_date.as_deref().and_then(parse_datetime),
            _ => None,
        }
    }

    /// The elements of a string collection; empty for other types.
    #[must_use]
    pub fn texts<'u>(&self, user: &'u User) -> &'u [String] {
        match self {
            Self::OtherMails => &user.other_mails,
            Self::ProxyAddresses => &user.proxy_addresses,
            _ => &[],
        }
    }
}

/// A collection a rule can quantify over with `-any` or `-all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    /// Strings, tested through `_`.
    OtherMails,
    /// Strings, tested through `_`.
    ProxyAddresses,
    /// Plans, tested through `assignedPlan.<field>`.
    AssignedPlans,
}

impl Collection {
    #[must_use]
    pub fn property(self) -> UserProperty {
        match self {
            Self::OtherMails => UserProperty::OtherMails,
            Self::ProxyAddresses => UserProperty::ProxyAddresses,
            Self::AssignedPlans => UserProperty::AssignedPlans,
        }
    }

    #[must_use]
    pub fn of(property: &UserProperty) -> Option<Self> {
        match property {
            UserProperty::OtherMails => Some(Self::OtherMails),
            UserProperty::ProxyAddresses => Some(Self::ProxyAddresses),
            UserProperty::AssignedPlans => Some(Self::AssignedPlans),
            _ => None,
        }
    }
}

/// A property of one element of `assignedPlans`, as `assignedPlan.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanField {
    ServicePlanId,
    Service,
    CapabilityStatus,
}

impl PlanField {
    pub const ALL: [PlanField; 3] = [Self::ServicePlanId, Self::Service, Self::CapabilityStatus];

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name().eq_ignore_ascii_case(name))
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ServicePlanId => "servicePlanId",
            Self::Service => "service",
            Self::CapabilityStatus => "capabilityStatus",
        }
    }

    /// The field's value; `None` when absent or empty.
    #[must_use]
    pub fn text(self, plan: &AssignedPlan) -> Option<&str> {
        let value = match self {
            Self::ServicePlanId => plan.service_plan_id.as_deref(),
            Self::Service => plan.service.as_deref(),
            Self::CapabilityStatus => plan.capability_status.as_deref(),
        };
        value.filter(|v| !v.is_empty())
    }
}

/// Every fixed property name, for suggestions.
pub(crate) fn known_names() -> impl Iterator<Item = &'static str> {
    NAMED.iter().map(|(_, name)| *name).chain(EXTENSION_ATTRIBUTES)
}

/// The rule-language name for a Graph property name that differs, such as `mobilePhone`.
pub(crate) fn rule_name_for_graph_name(name: &str) -> Option<&'static str> {
    GRAPH_NAMES.iter().find(|(graph, _)| graph.eq_ignore_ascii_case(name)).map(|(_, rule)| *rule)
}

/// Whether a name looks like an extension attribute but is not one of 1 to 15.
pub(crate) fn is_misnumbered_extension_attribute(name: &str) -> bool {
    name.get(..18).is_some_and(|prefix| prefix.eq_ignore_ascii_case("extensionAttribute"))
        && extension_attribute_number(name).is_none()
}

/// Reads a date and time the way the rule language and Graph write them: RFC 3339
/// (`2020-06-10T18:13:20Z`, any offset), a date and time without offset (taken as UTC), or a
/// date alone (midnight UTC).
#[must_use]
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(at.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0).map(|at| at.and_utc())
}

/// `n` for `extensionAttribute<n>` with n in 1..=15, written without leading zeros.
fn extension_attribute_number(name: &str) -> Option<u8> {
    let (prefix, digits) = (name.get(..18)?, name.get(18..)?);
    if !prefix.eq_ignore_ascii_case("extensionAttribute")
        || digits.starts_with('0')
        || !digits.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok().filter(|n| (1..=15).contains(n))
}

/// The canonical form of `extension_<appId>_<name>`: prefix and app id in lowercase.
fn extension_name(name: &str) -> Option<String> {
    let (prefix, rest) = (name.get(..10)?, name.get(10..)?);
    if !prefix.eq_ignore_ascii_case("extension_") {
        return None;
    }
    let (app, attribute) = rest.split_once('_')?;
    let canonical = format!("extension_{}_{attribute}", app.to_ascii_lowercase());
    let well_formed =
        is_extension_property(&canonical) && attribute.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    well_formed.then_some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::OnPremisesExtensionAttributes;

    #[test]
    fn names_resolve_without_regard_to_case() {
        assert_eq!(UserProperty::from_name("employeehiredate"), Some(UserProperty::EmployeeHireDate));
        assert_eq!(UserProperty::from_name("MEMBEROF"), Some(UserProperty::MemberOf));
        assert_eq!(
            UserProperty::from_name("extensionattribute15"),
            Some(UserProperty::ExtensionAttribute(15))
        );
        assert_eq!(UserProperty::MemberOf.name(), "memberOf");
        assert_eq!(UserProperty::ExtensionAttribute(7).name(), "extensionAttribute7");
    }

    #[test]
    fn extension_attributes_are_numbered_one_to_fifteen() {
        for bad in
            ["extensionAttribute0", "extensionAttribute16", "extensionAttribute01", "extensionAttribute+1"]
        {
            assert_eq!(UserProperty::from_name(bad), None, "{bad}");
            assert!(is_misnumbered_extension_attribute(bad), "{bad}");
        }
    }

    #[test]
    fn extension_properties_keep_their_name_and_lowercase_the_app_id() {
        let name = "EXTENSION_C272A57B722D4EB29BFE327874AE79CB_OfficeNumber";
        let expected = "extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber";
        assert_eq!(UserProperty::from_name(name), Some(UserProperty::Extension(expected.into())));
        assert_eq!(UserProperty::from_name("extension_c272a57b_OfficeNumber"), None);
        assert_eq!(UserProperty::from_name("extension_c272a57b722d4eb29bfe327874ae79cb_a-b"), None);
    }

    #[test]
    fn values_come_from_the_graph_fields() {
        let user = User {
            id: "u1".into(),
            mobile_phone: Some("+1 555".into()),
            business_phones: vec!["+1 556".into(), "+1 557".into()],
            fax_number: Some(String::new()),
            on_premises_extension_attributes: OnPremisesExtensionAttributes {
                extension_attribute3: Some("x".into()),
                ..Default::default()
            },
            extensions: [(
                "extension_c272a57b722d4eb29bfe327874ae79cb_officeNumber".to_owned(),
                "7".to_owned(),
            )]
            .into(),
            employee_hire_date: Some("2020-06-10".into()),
            ..User::default()
        };
        assert_eq!(UserProperty::ObjectId.text(&user), Some("u1"));
        assert_eq!(UserProperty::Mobile.text(&user), Some("+1 555"));
        assert_eq!(UserProperty::TelephoneNumber.text(&user), Some("+1 556"));
        assert_eq!(UserProperty::FacsimileTelephoneNumber.text(&user), None, "empty reads as null");
        assert_eq!(UserProperty::ExtensionAttribute(3).text(&user), Some("x"));
        assert_eq!(UserProperty::UserType.text(&user), Some("Member"));
        let extension = UserProperty::from_name("extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber");
        assert_eq!(extension.and_then(|p| p.text(&user).map(str::to_owned)), Some("7".into()));
        assert_eq!(UserProperty::AccountEnabled.flag(&user), Some(true));
        assert_eq!(UserProperty::DirSyncEnabled.flag(&user), Some(false));
        assert_eq!(UserProperty::EmployeeHireDate.date(&user), parse_datetime("2020-06-10T00:00:00Z"));
    }

    #[test]
    fn datetimes_parse_in_the_forms_graph_writes() {
        let utc = parse_datetime("2020-06-10T18:13:20Z");
        assert!(utc.is_some());
        assert_eq!(parse_datetime("2020-06-10T20:13:20+02:00"), utc);
        assert_eq!(parse_datetime("2020-06-10T18:13:20"), utc);
        assert_eq!(parse_datetime("2020-13-10"), None);
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
