//! The corpus: every rule the documentation shows, every error case, and what each selects among
//! a few fixture users, all through one `check(rule, expect)` helper.
//!
//! `expect` is the outcome as text. For a rule that parses: its normalized form, then
//! `selects: <fixture ids>`. For one that does not: each diagnostic as `line:column: message`,
//! its hint indented below. `check` also asserts that the normalized form parses back to the same
//! rule.

use chrono::{DateTime, Utc};

use super::{DirectoryRelations, EvalContext, evaluate, parse};
use crate::directory::{AssignedPlan, ObjectRef, OnPremisesExtensionAttributes, User, UserType};

fn check(source: &str, expect: &str) {
    let actual = outcome(source);
    let expect = expect.trim();
    assert!(actual == expect, "\nrule:     {source}\nexpected: {expect}\nactual:   {actual}\n");
}

fn outcome(source: &str) -> String {
    match parse(source) {
        Ok(rule) => {
            let normalized = rule.normalized();
            let again = parse(&normalized);
            assert_eq!(
                again.as_ref().ok(),
                Some(&rule),
                "`{normalized}` does not parse back to the same rule"
            );
            let users = fixtures();
            let relations = relations(&users);
            let ctx = EvalContext::new(now(), &relations);
            let selected: Vec<&str> = users
                .iter()
                .filter(|user| evaluate(&rule, user, &ctx))
                .map(|user| user.id.as_str())
                .collect();
            let selected = if selected.is_empty() { "nobody".to_owned() } else { selected.join(", ") };
            format!("{normalized}\nselects: {selected}")
        }
        Err(diagnostics) => {
            let lines: Vec<String> = diagnostics
                .iter()
                .map(|d| match &d.hint {
                    Some(hint) => format!("{d}\n    hint: {hint}"),
                    None => d.to_string(),
                })
                .collect();
            lines.join("\n")
        }
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z").map(|at| at.with_timezone(&Utc)).unwrap_or_default()
}

const PLAN_EXCHANGE: &str = "efb87545-963c-4e0d-99df-69c6916d9eb0";
const PLAN_SCO: &str = "113feb6c-3fe4-4440-bddc-54d774bf0318";
const OFFICE_NUMBER: &str = "extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber";

fn plan(id: &str, service: &str, status: &str) -> AssignedPlan {
    AssignedPlan {
        assigned_date_time: None,
        capability_status: Some(status.into()),
        service: Some(service.into()),
        service_plan_id: Some(id.into()),
    }
}

fn text(value: &str) -> Option<String> {
    Some(value.to_owned())
}

/// Five users who between them exercise every property type, null, case and escaping.
pub(super) fn fixtures() -> Vec<User> {
    let dana = User {
        id: "dana".into(),
        display_name: text("Dana Scully"),
        given_name: text("Dana"),
        user_principal_name: text("dana@contoso.com"),
        mail: text("dana@contoso.com"),
        proxy_addresses: vec!["SMTP:dana@contoso.com".into(), "smtp:dscully@contoso.net".into()],
        department: text("Sales"),
        job_title: text("SDE II"),
        country: text("US"),
        city: text("Lagos"),
        employee_id: text("E100"),
        employee_hire_date: text("2020-06-10T18:13:20Z"),
        on_premises_sync_enabled: Some(true),
        password_policies: text("DisablePasswordExpiration"),
        manager: Some(ObjectRef { id: "mira".into() }),
        assigned_plans: vec![plan(PLAN_EXCHANGE, "exchange", "Enabled")],
        on_premises_extension_attributes: OnPremisesExtensionAttributes {
            extension_attribute15: text("Marketing"),
            ..OnPremisesExtensionAttributes::default()
        },
        ..User::default()
    };
    let eli = User {
        id: "eli".into(),
        display_name: text("Eli Adams"),
        mail: text("eli@fabrikam.com"),
        department: text("Marketing"),
        job_title: text("Marketing Lead"),
        country: text("US"),
        city: text("Abuja"),
        employee_id: text("E101"),
        employee_hire_date: text("2024-06-01"),
        business_phones: vec!["+1 555 0101".into()],
        manager: Some(ObjectRef { id: "mira".into() }),
        assigned_plans: vec![plan(PLAN_SCO, "SCO", "Enabled"), plan(PLAN_EXCHANGE, "exchange", "Suspended")],
        extensions: [(OFFICE_NUMBER.to_owned(), "123".to_owned())].into(),
        ..User::default()
    };
    let gus = User {
        id: "gus".into(),
        display_name: text("gus (guest)"),
        other_mails: vec!["gus@gmail.com".into()],
        user_type: Some(UserType::Guest),
        account_enabled: Some(false),
        ..User::default()
    };
    let mira = User {
        id: "mira".into(),
        display_name: text("Mira Davidson"),
        mail: text("mira@contoso.com"),
        department: text("sales"),
        job_title: text("Director"),
        country: text("DE"),
        city: text("Port Harcourt"),
        employee_hire_date: text("2025-09-01T00:00:00Z"),
        mobile_phone: text("+49 170 0000"),
        on_premises_sync_enabled: Some(true),
        ..User::default()
    };
    let ned = User {
        id: "ned".into(),
        display_name: text("Ned"),
        department: text("R&D \"Labs\""),
        company_name: text("O'Brien & Sons"),
        employee_hire_date: text("not a date"),
        proxy_addresses: vec!["smtp:ned@contoso.com".into()],
        city: Some(String::new()),
        ..User::default()
    };
    vec![dana, eli, gus, mira, ned]
}

pub(super) fn relations(users: &[User]) -> DirectoryRelations {
    let mut relations = DirectoryRelations::from_users(users);
    relations.add_member("eli", "g-sales");
    relations.add_member("ned", "G-SALES");
    relations.add_member("mira", "g-eng");
    relations
}

#[test]
fn documented_examples() {
    check(
        r#"user.department -eq "Sales""#,
        r#"
user.department -eq "Sales"
selects: dana, mira"#,
    );
    check(
        r#"(user.department -eq "Sales") -or (user.department -eq "Marketing")"#,
        r#"
user.department -eq "Sales" -or user.department -eq "Marketing"
selects: dana, eli, mira"#,
    );
    check(
        r#"(user.department -eq "Sales") -and -not (user.jobTitle -startsWith "SDE")"#,
        r#"
user.department -eq "Sales" -and -not user.jobTitle -startsWith "SDE"
selects: mira"#,
    );
    check(
        r#"user.country -eq "US" -and (user.department -eq "Marketing" -or user.department -eq "Sales")"#,
        r#"
user.country -eq "US" -and (user.department -eq "Marketing" -or user.department -eq "Sales")
selects: dana, eli"#,
    );
    check(
        r#"user.department -in ["50001","50002","50003"]"#,
        r#"
user.department -in ["50001", "50002", "50003"]
selects: nobody"#,
    );
    check(
        r#"user.department -eq "Accounts" -and user.city -in ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]"#,
        r#"
user.department -eq "Accounts" -and user.city -in ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]
selects: nobody"#,
    );
    check(
        r#"user.city -notin ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]"#,
        r#"
user.city -notIn ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]
selects: gus, ned"#,
    );
    check(
        r#"user.displayName -match "^Da.*""#,
        r#"
user.displayName -match "^Da.*"
selects: dana"#,
    );
    check(
        "user.employeehiredate -ge system.now -plus p1d",
        "
user.employeeHireDate -ge system.now -plus P1D
selects: mira",
    );
    check(
        "user.employeehiredate -le 2020-06-10T18:13:20Z",
        "
user.employeeHireDate -le 2020-06-10T18:13:20Z
selects: dana",
    );
    check(
        r#"user.assignedPlans -any (assignedPlan.servicePlanId -eq "efb87545-963c-4e0d-99df-69c6916d9eb0" -and assignedPlan.capabilityStatus -eq "Enabled")"#,
        r#"
user.assignedPlans -any (assignedPlan.servicePlanId -eq "efb87545-963c-4e0d-99df-69c6916d9eb0" -and assignedPlan.capabilityStatus -eq "Enabled")
selects: dana"#,
    );
    check(
        r#"user.assignedPlans -any (assignedPlan.service -eq "SCO" -and assignedPlan.capabilityStatus -eq "Enabled")"#,
        r#"
user.assignedPlans -any (assignedPlan.service -eq "SCO" -and assignedPlan.capabilityStatus -eq "Enabled")
selects: eli"#,
    );
    check(
        "user.assignedPlans -all (assignedPlan.servicePlanId -eq null)",
        "
user.assignedPlans -all (assignedPlan.servicePlanId -eq null)
selects: gus, mira, ned",
    );
    check(
        "user.assignedPlans -all (assignedPlan.servicePlanId -ne null)",
        "
user.assignedPlans -all (assignedPlan.servicePlanId -ne null)
selects: dana, eli, gus, mira, ned",
    );
    check(
        r#"(user.proxyAddresses -any (_ -startsWith "contoso"))"#,
        r#"
user.proxyAddresses -any (_ -startsWith "contoso")
selects: nobody"#,
    );
    check(
        "user.objectId -ne null",
        "
user.objectId -ne null
selects: dana, eli, gus, mira, ned",
    );
    check(
        r#"(user.objectId -ne null) -and (user.userType -eq "Member")"#,
        r#"
user.objectId -ne null -and user.userType -eq "Member"
selects: dana, eli, mira, ned"#,
    );
    check(
        r#"(user.extensionAttribute15 -eq "Marketing")"#,
        r#"
user.extensionAttribute15 -eq "Marketing"
selects: dana"#,
    );
    check(
        r#"user.extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber -eq "123""#,
        r#"
user.extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber -eq "123"
selects: eli"#,
    );
    check(
        r#"Direct Reports for "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb""#,
        r#"
Direct Reports for "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb"
selects: nobody"#,
    );
    check(
        "user.memberof -any (group.objectId -in ['groupId'])",
        "
user.memberOf -any (group.objectId -in ['groupId'])
selects: nobody",
    );
    check(
        r#"user.mail -notEndsWith "@Contoso.com""#,
        r#"
user.mail -notEndsWith "@Contoso.com"
selects: eli, gus, ned"#,
    );
    check(
        "user.employeeId -ne null",
        "
user.employeeId -ne null
selects: dana, eli",
    );
}

#[test]
fn relationships() {
    check(
        r#"Direct Reports for "MIRA""#,
        r#"
Direct Reports for "MIRA"
selects: dana, eli"#,
    );
    check(
        r#"(user.memberOf -any (group.objectId -in ['g-sales', "g-eng"]))"#,
        "
user.memberOf -any (group.objectId -in ['g-sales', 'g-eng'])
selects: eli, mira, ned",
    );
}

#[test]
fn keywords_and_names_ignore_case_and_hyphens() {
    check(
        r#"USER.DEPARTMENT EQ "sales" Or user.City -EQ "abuja""#,
        r#"
user.department -eq "sales" -or user.city -eq "abuja"
selects: dana, eli, mira"#,
    );
    check(
        r#"not user.jobTitle -STARTSWITH "sde" and user.proxyaddresses any (_ startswith "SMTP:")"#,
        r#"
-not user.jobTitle -startsWith "sde" -and user.proxyAddresses -any (_ -startsWith "SMTP:")
selects: ned"#,
    );
    check(
        r#"User.AssignedPlans -ANY (ASSIGNEDPLAN.SERVICE -eq "exchange")"#,
        r#"
user.assignedPlans -any (assignedPlan.service -eq "exchange")
selects: dana, eli"#,
    );
}

#[test]
fn quoting_and_escaping() {
    check(
        "user.companyName -eq 'O''Brien & Sons'",
        r#"
user.companyName -eq "O'Brien & Sons"
selects: ned"#,
    );
    check(
        r#"user.department -eq "R&D `"Labs`"""#,
        r#"
user.department -eq "R&D `"Labs`""
selects: ned"#,
    );
    check(
        r#"user.department -eq "null""#,
        r#"
user.department -eq "null"
selects: nobody"#,
    );
    check(
        "user.employeeId -in [100, E100]",
        "
1:27: string values must be quoted: `E100`
    hint: write `\"E100\"`",
    );
    check(
        "user.employeeId -notIn [100, \"E100\"]",
        r#"
user.employeeId -notIn ["100", "E100"]
selects: eli, gus, mira, ned"#,
    );
}

#[test]
fn null_semantics() {
    check(
        "user.city -eq null",
        "
user.city -eq null
selects: gus, ned",
    );
    check(
        r#"user.city -ne "Lagos""#,
        r#"
user.city -ne "Lagos"
selects: eli, gus, mira, ned"#,
    );
    check(
        r#"user.mail -startsWith "" -or user.mail -contains "@""#,
        r#"
user.mail -startsWith "" -or user.mail -contains "@"
selects: dana, eli, gus, mira, ned"#,
    );
    check(
        "-not (user.mail -eq null)",
        "
-not user.mail -eq null
selects: dana, eli, mira",
    );
    check(
        "user.employeeHireDate -eq $null",
        "
user.employeeHireDate -eq null
selects: gus, ned",
    );
    check(
        "user.employeeHireDate -ne 2024-06-01",
        "
user.employeeHireDate -ne 2024-06-01T00:00:00Z
selects: dana, gus, mira, ned",
    );
    check(
        "user.otherMails -ne null",
        "
user.otherMails -ne null
selects: gus",
    );
}

#[test]
fn booleans_dates_and_collections() {
    check(
        "user.accountEnabled -eq false -or user.dirSyncEnabled -eq TRUE",
        "
user.accountEnabled -eq false -or user.dirSyncEnabled -eq true
selects: dana, gus, mira",
    );
    check(
        r#"user.employeeHireDate -ge "2024-01-01" -and user.employeeHireDate -le system.now"#,
        "
user.employeeHireDate -ge 2024-01-01T00:00:00Z -and user.employeeHireDate -le system.now
selects: eli",
    );
    check(
        "user.employeeHireDate -ge system.now -minus P1Y2M -and user.employeeHireDate -le 2025-06-01T02:00:00+02:00",
        "
user.employeeHireDate -ge system.now -minus P1Y2M -and user.employeeHireDate -le 2025-06-01T00:00:00Z
selects: eli",
    );
    check(
        r#"user.proxyAddresses -endsWith "@CONTOSO.NET" -or user.otherMails -contains "gmail""#,
        r#"
user.proxyAddresses -endsWith "@CONTOSO.NET" -or user.otherMails -contains "gmail"
selects: dana, gus"#,
    );
    check(
        r#"user.proxyAddresses -notStartsWith "smtp:""#,
        r#"
user.proxyAddresses -notStartsWith "smtp:"
selects: eli, gus, mira"#,
    );
    check(
        r#"user.proxyAddresses -all (_ -match "@contoso\.(com|net)$") -and user.proxyAddresses -ne null"#,
        r#"
user.proxyAddresses -all (_ -match "@contoso\.(com|net)$") -and user.proxyAddresses -ne null
selects: dana, ned"#,
    );
    check(
        r#"user.otherMails -any _ -endsWith "@gmail.com""#,
        r#"
user.otherMails -any (_ -endsWith "@gmail.com")
selects: gus"#,
    );
    check(
        r#"user.telephoneNumber -startsWith "+1" -or user.mobile -startsWith "+49""#,
        r#"
user.telephoneNumber -startsWith "+1" -or user.mobile -startsWith "+49"
selects: eli, mira"#,
    );
    check(
        r#"user.userType -eq "guest" -and user.displayName -notMatch "^\w+$""#,
        r#"
user.userType -eq "guest" -and user.displayName -notMatch "^\w+$"
selects: gus"#,
    );
}

#[test]
fn normalization_keeps_only_needed_parentheses_and_flattens() {
    check(
        r#"((user.city -eq "a") -or ((user.city -eq "b" -or user.city -eq "c"))) -and (-not (-not (user.city -eq "d")))"#,
        r#"
(user.city -eq "a" -or user.city -eq "b" -or user.city -eq "c") -and -not -not user.city -eq "d"
selects: nobody"#,
    );
    check(
        r#"-not (user.city -eq "Lagos" -or user.city -eq "Abuja")"#,
        r#"
-not (user.city -eq "Lagos" -or user.city -eq "Abuja")
selects: gus, mira, ned"#,
    );
}

#[test]
fn documented_restrictions_are_errors() {
    check(
        r#"user.memberOf -any (group.objectId -in ['g1']) -and user.city -eq "x""#,
        "
1:1: `memberOf` can't be combined with other expressions
    hint: write `user.memberOf -any (group.objectId -in ['<group id>'])` alone",
    );
    check(
        "-not user.memberOf -any (group.objectId -in ['g1'])",
        "
1:6: `memberOf` can't be combined with other expressions
    hint: write `user.memberOf -any (group.objectId -in ['<group id>'])` alone",
    );
    check(
        r#"Direct Reports for "m1" -or user.city -eq "x""#,
        r#"
1:1: `Direct Reports for` can't be combined with other expressions
    hint: write `Direct Reports for "<manager id>"` alone"#,
    );
    check(r#"user.city -le "x""#, "1:11: `-le` can only be used with `user.employeeHireDate`");
    check(
        "user.mail -not null",
        "
1:11: `-not` can't be used as a comparison operator
    hint: test for a missing value with `-eq null`, for a present one with `-ne null`; negate a comparison with `-not (...)`",
    );
    let long = format!("user.city -eq \"{}\"", "x".repeat(3_100));
    check(
        &long,
        "
1:3073: the rule is 3116 characters long, over the limit of 3072
    hint: shorten it: replace `-or` chains with `-in`, and `-ne` chains with `-notIn`",
    );
    check(
        "user.memberOf -all (group.objectId -eq 'g1')",
        "
1:21: a `memberOf` rule must read `user.memberOf -any (group.objectId -in ['<group id>', ...])`
    hint: write `user.memberOf -any (group.objectId -in ['<group id>'])` alone",
    );
    let many: Vec<String> = (0..51).map(|i| format!("'g{i}'")).collect();
    check(
        &format!("user.memberOf -any (group.objectId -in [{}])", many.join(",")),
        "
1:40: the rule lists 51 groups, over the limit of 50
    hint: split the groups across several rules",
    );
}

#[test]
fn names_are_checked_against_the_schema() {
    check(
        r#"user.departmnet -eq "Sales""#,
        r#"
1:1: unknown property `user.departmnet`
    hint: did you mean `user.department`?"#,
    );
    check(
        r#"user.mobilePhone -eq "1" -or user.extensionAttribute16 -eq "x" -or department -eq "y""#,
        r#"
1:1: unknown property `user.mobilePhone`
    hint: the rule language calls it `user.mobile`
1:30: unknown property `user.extensionAttribute16`
    hint: extension attributes are numbered `extensionAttribute1` to `extensionAttribute15`
1:68: `department` needs the `user.` prefix
    hint: write `user.department`"#,
    );
    check(
        r#"device.deviceOSType -eq "Windows""#,
        "
1:1: device properties can't be used in a user rule
    hint: these rules select users: write `user.`",
    );
    check(
        r#"user.extension_c272a57b_OfficeNumber -eq "1""#,
        "
1:1: unknown property `user.extension_c272a57b_OfficeNumber`
    hint: custom extension properties are named `extension_<app id without dashes>_<name>`",
    );
    check(
        r#"_ -eq "x" -or assignedPlan.service -eq "SCO""#,
        r#"
1:1: `_` can only be used inside `-any` or `-all`
    hint: for example `user.proxyAddresses -any (_ -startsWith "smtp:")`
1:15: `assignedPlan.service` can only be used inside `user.assignedPlans -any` or `-all`"#,
    );
    check(
        r#"user.proxyAddresses -any (user.city -eq "x") -or user.assignedPlans -any (_ -eq "x" -or assignedPlan.sevice -eq "y")"#,
        r#"
1:27: `user.city` can't be tested inside a quantifier over `user.proxyAddresses`
    hint: test each element as `_`
1:75: `_` can't be tested inside a quantifier over `user.assignedPlans`
    hint: test a plan's `assignedPlan.servicePlanId`, `assignedPlan.service`, `assignedPlan.capabilityStatus`
1:89: unknown property `assignedPlan.sevice`
    hint: test a plan's `assignedPlan.servicePlanId`, `assignedPlan.service`, `assignedPlan.capabilityStatus`"#,
    );
}

#[test]
fn types_are_checked() {
    check(
        r#"user.accountEnabled -eq "true" -or user.accountEnabled -contains "t""#,
        r#"
1:25: expected `true`, `false` or `null`, found `"true"`
    hint: write `true` without quotes
1:56: `-contains` can't be used with the boolean property `user.accountEnabled`
    hint: compare a boolean with `-eq` or `-ne`"#,
    );
    check(
        r#"user.department -eq Sales -or user.city -in "Lagos" -or user.city -eq ["Lagos"]"#,
        r#"
1:21: string values must be quoted: `Sales`
    hint: write `"Sales"`
1:45: `-in` needs a list of values in brackets
    hint: write `["Lagos"]`
1:71: a list can only be compared with `-in` or `-notIn`
    hint: write `-in`"#,
    );
    check(
        r#"user.displayName -match "(" -or user.city -startsWith null -or user.city -in []"#,
        r#"
1:25: invalid regular expression: unclosed group
1:55: `null` can only be compared with `-eq` or `-ne`
1:78: the list is empty"#,
    );
    check(
        "user.employeeHireDate -ge yesterday -or user.employeeHireDate -le system.now -plus 1D -or user.employeeHireDate -contains \"2020\"",
        "
1:27: `yesterday` is not a date and time
    hint: write an ISO 8601 date and time such as `2020-06-10T18:13:20Z`, or `system.now`
1:84: `1D` is not an ISO 8601 duration
    hint: write a duration such as `P1D`, `PT12H` or `P1Y2M`
1:113: `-contains` can't be used with the date and time property `user.employeeHireDate`
    hint: compare a date with `-eq`, `-ne`, `-le` or `-ge`",
    );
    check(
        r#"user.assignedPlans -eq "x" -or user.city -any (_ -eq "x") -or user.city -eq system.now"#,
        r#"
1:1: `user.assignedPlans` is a collection: test its elements with `-any` or `-all`
    hint: for example `user.assignedPlans -any (assignedPlan.capabilityStatus -eq "Enabled")`
1:42: `-any` needs a collection, but `user.city` is a string property
    hint: `-any` and `-all` work on `user.proxyAddresses`, `user.otherMails` and `user.assignedPlans`
1:77: `system.now` can only be compared with `user.employeeHireDate`"#,
    );
    check(r#"user.proxyAddresses -any (_ -any (_ -eq "x"))"#, "1:29: `-any` and `-all` can't be nested");
}

#[test]
fn syntax_errors_are_all_reported_with_positions() {
    check(
        "user.city -eq \"a\" -and\n  (user.city == \"b\" -or\n   user.city -eq)",
        "
2:14: `==` is not an operator of the rule language
    hint: write `-eq`
3:17: expected a value, found `)`",
    );
    check("", "1:1: expected a condition such as `user.department -eq \"Sales\"`, found the end of the rule");
    check(
        "   \n ",
        "2:2: expected a condition such as `user.department -eq \"Sales\"`, found the end of the rule",
    );
    check(
        "user.city -eq \u{201C}Lagos\u{201D}",
        "
1:15: curly quotes don't delimit strings
    hint: write straight quotes: `\"Lagos\"`",
    );
}

#[test]
fn diagnostics_carry_span_text_and_render() {
    let source = "user.city -eq \"a\" -and\n  user.citty -eq \"b\"";
    let Err(diagnostics) = parse(source) else {
        return assert_eq!(outcome(source), "an error");
    };
    let [d] = diagnostics.as_slice() else {
        return assert_eq!(diagnostics.len(), 1);
    };
    assert_eq!((d.line, d.column, d.text.as_str()), (2, 3, "user.citty"));
    assert_eq!(source.get(d.span.start..d.span.end), Some("user.citty"));
    assert_eq!(
        d.render(source),
        "error: unknown property `user.citty`\n --> 2:3\n  |\n2 |   user.citty -eq \"b\"\n  |   ^^^^^^^^^^\n  \
         = hint: did you mean `user.city`?"
    );
}
