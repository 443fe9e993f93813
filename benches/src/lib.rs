//! Fixtures shared by the benches: a deterministic directory with a realistic spread of
//! departments and countries, and the EMEA rule the issue times.
//!
//! The same seed gives the same users on every machine, so figures from different runs compare.
//! The directory has no case variants of departments or countries, so Cedar (which compares
//! exactly) and the rule language (which ignores case) select the same users; the bench checks
//! that before timing anything.

use em_engine::directory::{User, UserType};

/// Countries of Europe, the Middle East and Africa in the rule, about 35% of users.
pub const EMEA_COUNTRIES: [&str; 24] = [
    "Germany",
    "France",
    "United Kingdom",
    "Italy",
    "Spain",
    "Netherlands",
    "Sweden",
    "Poland",
    "Belgium",
    "Switzerland",
    "Austria",
    "Ireland",
    "Denmark",
    "Norway",
    "Finland",
    "Portugal",
    "Czech Republic",
    "South Africa",
    "United Arab Emirates",
    "Saudi Arabia",
    "Israel",
    "Egypt",
    "Nigeria",
    "Kenya",
];

/// The other countries, about 65% of users.
const OTHER_COUNTRIES: [&str; 12] = [
    "United States",
    "Canada",
    "Brazil",
    "Mexico",
    "India",
    "China",
    "Japan",
    "Australia",
    "Singapore",
    "South Korea",
    "Argentina",
    "New Zealand",
];

/// Departments with their share of users in percent; Sales is 12%.
const DEPARTMENTS: [(&str, u64); 10] = [
    ("Sales", 12),
    ("Engineering", 25),
    ("Customer Support", 15),
    ("Operations", 10),
    ("IT", 9),
    ("Marketing", 8),
    ("Research", 8),
    ("Finance", 6),
    ("Human Resources", 5),
    ("Legal", 2),
];

const GIVEN_NAMES: [&str; 16] = [
    "Ada", "Ben", "Chloé", "Dana", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kofi", "Lena", "Mira",
    "Noah", "Olga", "Priya",
];

const SURNAMES: [&str; 16] = [
    "Smith", "Müller", "García", "Rossi", "Nowak", "Okafor", "Tanaka", "Silva", "Dubois", "Jansen",
    "Kowalski", "Haddad", "Nguyen", "Olsen", "Patel", "Schmidt",
];

const JOB_TITLES: [&str; 8] = [
    "Account Executive",
    "Software Engineer",
    "Senior Software Engineer",
    "Support Specialist",
    "Analyst",
    "Manager",
    "Director",
    "Consultant",
];

/// The rule the issue times: Sales in an EMEA country.
#[must_use]
pub fn emea_rule() -> String {
    let countries: Vec<String> = EMEA_COUNTRIES.iter().map(|c| format!("\"{c}\"")).collect();
    format!("user.department -eq \"Sales\" -and user.country -in [{}]", countries.join(", "))
}

/// The same condition as a Cedar policy, written the way a team would write it.
#[must_use]
pub fn emea_cedar_policy() -> String {
    let countries: Vec<String> = EMEA_COUNTRIES.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "permit(principal, action, resource) when {{ principal.department == \"Sales\" && [{}].contains(principal.country) }};",
        countries.join(", ")
    )
}

/// `count` users, the same for the same `seed`.
#[must_use]
pub fn directory(count: usize, seed: u64) -> Vec<User> {
    let mut rng = Rng::new(seed);
    (0..count).map(|n| user(n, &mut rng)).collect()
}

fn user(n: usize, rng: &mut Rng) -> User {
    let given = rng.pick(&GIVEN_NAMES);
    let surname = rng.pick(&SURNAMES);
    let country = if rng.below(100) < 35 { rng.pick(&EMEA_COUNTRIES) } else { rng.pick(&OTHER_COUNTRIES) };
    let mut share = rng.below(100);
    let department = DEPARTMENTS
        .iter()
        .find(|(_, percent)| {
            let found = share < *percent;
            share = share.saturating_sub(*percent);
            found
        })
        .map_or("Engineering", |(name, _)| name);
    let login = format!("{}.{}{n}", given.to_lowercase(), surname.to_lowercase());
    User {
        id: format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            rng.next() as u32,
            rng.next() as u16,
            rng.next() & 0xFFF,
            rng.next() & 0xFFF,
            rng.next() & 0xFFFF_FFFF_FFFF
        )
        .into(),
        display_name: Some(format!("{given} {surname}")),
        given_name: Some(given.to_owned()),
        surname: Some(surname.to_owned()),
        user_principal_name: Some(format!("{login}@contoso.com")),
        mail: Some(format!("{login}@contoso.com")),
        department: Some(department.to_owned()),
        job_title: Some(rng.pick(&JOB_TITLES).to_owned()),
        country: Some(country.to_owned()),
        account_enabled: Some(rng.below(100) >= 3),
        user_type: Some(if rng.below(100) < 5 { UserType::Guest } else { UserType::Member }),
        employee_hire_date: Some(format!(
            "20{:02}-{:02}-{:02}",
            5 + rng.below(20),
            1 + rng.below(12),
            1 + rng.below(28)
        )),
        ..User::default()
    }
}

/// xorshift64: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let at = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items.get(at).copied().unwrap_or_default()
    }
}

/// CPU time of this process, user and system (`/proc/self/stat`, clock ticks of 10 ms), for the
/// measurement binaries.
#[must_use]
pub fn process_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    std::time::Duration::from_millis(ticks * 10)
}
