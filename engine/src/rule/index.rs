//! The directory index: every user property a rule can read, column by column, for the compiled
//! evaluator ([`super::compile`]).
//!
//! Each user has a [`Position`], and every column is indexed by it:
//!
//! - **String properties** (the fixed ones, `extensionAttribute1`–`15`, and every
//!   `extension_<appId>_<name>` seen) are columns of `u32` codes into a per-column
//!   `Dictionary`; code 0 is null (absent or empty). Values are interned **exactly as
//!   written**, not lowercased: `-match` must see the original text, because a case-insensitive
//!   regular expression and lowercasing disagree on some Unicode (`İ` lowercases to two
//!   characters). Case-insensitive comparison costs nothing per user anyway: the compiler decides
//!   each distinct value once, so `Sales` and `SALES` both land in the table of `-eq "sales"`.
//!   A column is allocated when its first value arrives; a position past its end is null.
//! - **Booleans** (`accountEnabled`, `dirSyncEnabled`) are [`Bitset`]s, with Graph's defaults
//!   applied by the schema, so they are never null.
//! - **`employeeHireDate`** is one `i128` per user: seconds since the epoch in the high bits and
//!   nanoseconds in the low 32, so integer order is instant order, to the nanosecond, leap
//!   seconds included. `NULL_DATE` marks null. (Microseconds in an `i64` would round, and the
//!   reference evaluator compares exactly.)
//! - **String collections** (`otherMails`, `proxyAddresses`) are lists of codes into one
//!   dictionary per collection, stored CSR-style (`CodeLists`): one array of element codes,
//!   and per position where its list starts and how long it is.
//! - **`assignedPlans`** is a list per position too, of codes into a dictionary of whole plans
//!   (`servicePlanId`, `service`, `capabilityStatus`, each a code into its own field
//!   dictionary). A predicate inside `-any (...)` sees one whole plan at a time, so interning
//!   plans makes the predicate a function of one code, decided once per distinct plan.
//! - **`memberOf`** is, per group, the sorted positions of its direct members (group ids ignore
//!   ASCII case, as the reference evaluator's relations do).
//! - **The manager** is a column of codes into a dictionary of manager ids (ASCII-lowercased),
//!   not of positions: a manager need not be in the index, and a position may be reused.
//!
//! # Keeping it current
//!
//! [`DirectoryIndex::upsert`] writes one user, at its old position or a new one;
//! [`DirectoryIndex::remove`] tombstones the position (it leaves the set of live users and its
//! columns are cleared) and a later upsert reuses it, last freed first. Dictionaries only grow:
//! codes are never reused, so tables a compiled rule holds stay valid and only need extending
//! for new codes. Lists are overwritten in place when the new list is no longer, else appended,
//! and compacted when more than half of the element array is garbage. Values no live user holds
//! any more stay in the dictionaries until the index is rebuilt with [`DirectoryIndex::build`].
//!
//! The index is pure: it is built from users and memberships it is given, and reads nothing else.

mod dictionary;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use foldhash::fast::FixedState;

pub(crate) use dictionary::{Dictionary, NULL};

use super::bitset::Bitset;
use super::schema::{PlanField, UserProperty};
use crate::directory::{AssignedPlan, User};

/// A user's place in the index, and so its bit in an evaluation's [`Bitset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position(u32);

impl Position {
    /// The position as an index into columns and bitsets.
    #[must_use]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The `employeeHireDate` of a user who has none (or an unreadable one).
pub(crate) const NULL_DATE: i128 = i128::MIN;

/// The sortable key of an instant: seconds since the epoch, then nanoseconds.
pub(crate) fn date_key(at: DateTime<Utc>) -> i128 {
    (i128::from(at.timestamp()) << 32) | i128::from(at.timestamp_subsec_nanos())
}

/// The string properties with a fixed name, in the order of their columns; the fifteen
/// `extensionAttribute`s follow them.
const FIXED_STRINGS: [UserProperty; 27] = [
    UserProperty::City,
    UserProperty::CompanyName,
    UserProperty::Country,
    UserProperty::Department,
    UserProperty::DisplayName,
    UserProperty::EmployeeId,
    UserProperty::FacsimileTelephoneNumber,
    UserProperty::GivenName,
    UserProperty::JobTitle,
    UserProperty::Mail,
    UserProperty::MailNickName,
    UserProperty::Mobile,
    UserProperty::ObjectId,
    UserProperty::OnPremisesDistinguishedName,
    UserProperty::OnPremisesSecurityIdentifier,
    UserProperty::PasswordPolicies,
    UserProperty::PhysicalDeliveryOfficeName,
    UserProperty::PostalCode,
    UserProperty::PreferredLanguage,
    UserProperty::SipProxyAddress,
    UserProperty::State,
    UserProperty::StreetAddress,
    UserProperty::Surname,
    UserProperty::TelephoneNumber,
    UserProperty::UsageLocation,
    UserProperty::UserPrincipalName,
    UserProperty::UserType,
];

const EXTENSION_ATTRIBUTES: u8 = 15;
const STRING_SLOTS: usize = FIXED_STRINGS.len() + EXTENSION_ATTRIBUTES as usize;

/// The column slot of a string property with a fixed name or an `extensionAttribute<n>`.
fn string_slot(property: &UserProperty) -> Option<usize> {
    match property {
        UserProperty::ExtensionAttribute(n @ 1..=EXTENSION_ATTRIBUTES) => {
            Some(FIXED_STRINGS.len() + usize::from(*n) - 1)
        }
        other => FIXED_STRINGS.iter().position(|fixed| fixed == other),
    }
}

/// The slot of a plan field among a plan's three.
pub(crate) fn field_slot(field: PlanField) -> usize {
    match field {
        PlanField::ServicePlanId => 0,
        PlanField::Service => 1,
        PlanField::CapabilityStatus => 2,
    }
}

/// A column of codes into its own dictionary.
#[derive(Debug, Clone, Default)]
pub(crate) struct StringColumn {
    /// Code per position; positions at or past the end are [`NULL`].
    codes: Vec<u32>,
    dictionary: Dictionary,
}

impl StringColumn {
    pub(crate) fn code(&self, position: usize) -> u32 {
        self.codes.get(position).copied().unwrap_or(NULL)
    }

    /// The codes of the first positions; the rest are [`NULL`].
    pub(crate) fn codes(&self) -> &[u32] {
        &self.codes
    }

    pub(crate) fn dictionary(&self) -> &Dictionary {
        &self.dictionary
    }

    /// Writes a string value: absent and empty are [`NULL`].
    fn set_text(&mut self, position: usize, positions: usize, text: Option<&str>) {
        let code = match text.filter(|text| !text.is_empty()) {
            Some(text) => self.dictionary.intern(text),
            None => NULL,
        };
        self.set_code(position, positions, code);
    }

    fn set_code(&mut self, position: usize, positions: usize, code: u32) {
        if position >= self.codes.len() {
            if code == NULL {
                return;
            }
            self.codes.resize(positions.max(position + 1), NULL);
        }
        if let Some(slot) = self.codes.get_mut(position) {
            *slot = code;
        }
    }
}

/// A list of codes per position, CSR-style: one element array, and each position's start and
/// length in it. Rewriting a list reuses its place when the new one is no longer, else appends.
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeLists {
    starts: Vec<usize>,
    lens: Vec<u32>,
    elements: Vec<u32>,
    /// Elements no list covers any more.
    garbage: usize,
}

impl CodeLists {
    /// The list at a position; empty past the end.
    pub(crate) fn of(&self, position: usize) -> &[u32] {
        let (Some(&start), Some(&len)) = (self.starts.get(position), self.lens.get(position)) else {
            return &[];
        };
        self.elements.get(start..start + len as usize).unwrap_or_default()
    }

    fn set(&mut self, position: usize, codes: &[u32]) {
        if position >= self.starts.len() {
            if codes.is_empty() {
                return;
            }
            self.starts.resize(position + 1, 0);
            self.lens.resize(position + 1, 0);
        }
        let (Some(start), Some(len)) = (self.starts.get_mut(position), self.lens.get_mut(position)) else {
            return;
        };
        let old = *len as usize;
        if codes.len() <= old {
            if let Some(place) = self.elements.get_mut(*start..*start + codes.len()) {
                place.copy_from_slice(codes);
            }
            self.garbage += old - codes.len();
        } else {
            *start = self.elements.len();
            self.elements.extend_from_slice(codes);
            self.garbage += old;
        }
        *len = u32::try_from(codes.len()).unwrap_or(u32::MAX);
        if self.garbage > 1_024 && self.garbage * 2 > self.elements.len() {
            self.compact();
        }
    }

    /// Rewrites the element array in position order, without garbage.
    fn compact(&mut self) {
        let live = self.elements.len() - self.garbage;
        let mut elements = Vec::with_capacity(live);
        for (start, &len) in self.starts.iter_mut().zip(&self.lens) {
            let list = self.elements.get(*start..*start + len as usize).unwrap_or_default();
            *start = elements.len();
            elements.extend_from_slice(list);
        }
        self.elements = elements;
        self.garbage = 0;
    }
}

/// A string collection: a list of element codes per position; an empty element is [`NULL`].
#[derive(Debug, Clone, Default)]
pub(crate) struct StringList {
    lists: CodeLists,
    dictionary: Dictionary,
}

impl StringList {
    pub(crate) fn of(&self, position: usize) -> &[u32] {
        self.lists.of(position)
    }

    pub(crate) fn dictionary(&self) -> &Dictionary {
        &self.dictionary
    }

    fn set(&mut self, position: usize, texts: &[String]) {
        let codes: Vec<u32> = texts
            .iter()
            .map(|text| if text.is_empty() { NULL } else { self.dictionary.intern(text) })
            .collect();
        self.lists.set(position, &codes);
    }
}

/// `assignedPlans`: a list of plan codes per position, into a dictionary of distinct plans.
#[derive(Debug, Clone)]
pub(crate) struct PlanList {
    lists: CodeLists,
    /// One dictionary per field, in [`field_slot`] order; a null field is [`NULL`].
    fields: [Dictionary; 3],
    /// Plan code to its field codes.
    plans: Vec<[u32; 3]>,
    codes: HashMap<[u32; 3], u32, FixedState>,
}

impl Default for PlanList {
    fn default() -> Self {
        Self {
            lists: CodeLists::default(),
            fields: Default::default(),
            plans: Vec::new(),
            codes: HashMap::with_hasher(FixedState::with_seed(0x9_1A45)),
        }
    }
}

impl PlanList {
    pub(crate) fn of(&self, position: usize) -> &[u32] {
        self.lists.of(position)
    }

    /// How many distinct plans there are: every plan code is below this.
    pub(crate) fn len(&self) -> usize {
        self.plans.len()
    }

    /// The code, in the field's dictionary, of a plan's field; [`NULL`] for unknown plans.
    pub(crate) fn field(&self, plan: u32, field: PlanField) -> u32 {
        self.plans
            .get(plan as usize)
            .and_then(|fields| fields.get(field_slot(field)))
            .copied()
            .unwrap_or(NULL)
    }

    pub(crate) fn dictionary(&self, field: PlanField) -> Option<&Dictionary> {
        self.fields.get(field_slot(field))
    }

    fn set(&mut self, position: usize, plans: &[AssignedPlan]) {
        let codes: Vec<u32> = plans.iter().map(|plan| self.intern(plan)).collect();
        self.lists.set(position, &codes);
    }

    fn intern(&mut self, plan: &AssignedPlan) -> u32 {
        let mut key = [NULL; 3];
        for field in PlanField::ALL {
            let slot = field_slot(field);
            if let (Some(text), Some(dictionary), Some(code)) =
                (field.text(plan), self.fields.get_mut(slot), key.get_mut(slot))
            {
                *code = dictionary.intern(text);
            }
        }
        let next = u32::try_from(self.plans.len()).unwrap_or(u32::MAX);
        let code = *self.codes.entry(key).or_insert(next);
        if code == next {
            self.plans.push(key);
        }
        code
    }
}

/// Direct memberships: per group, the sorted positions of its members, and per position the
/// groups it is in (to forget them when the user goes).
#[derive(Debug, Clone, Default)]
struct Groups {
    /// Group ids, ASCII-lowercased.
    ids: Dictionary,
    /// Group code to sorted member positions.
    members: Vec<Vec<u32>>,
    /// Position to group codes, unordered.
    groups_of: Vec<Vec<u32>>,
}

impl Groups {
    fn group(&mut self, group_id: &str) -> u32 {
        let code = self.ids.intern(&group_id.to_ascii_lowercase());
        if self.members.len() <= code as usize {
            self.members.resize(code as usize + 1, Vec::new());
        }
        code
    }

    fn add(&mut self, position: u32, group_id: &str) -> bool {
        let group = self.group(group_id);
        let Some(members) = self.members.get_mut(group as usize) else { return false };
        let Err(at) = members.binary_search(&position) else { return false };
        members.insert(at, position);
        if let Some(groups) = self.groups_of.get_mut(position as usize) {
            groups.push(group);
        }
        true
    }

    fn remove(&mut self, position: u32, group_id: &str) -> bool {
        let Some(group) = self.ids.code(&group_id.to_ascii_lowercase()) else { return false };
        let Some(members) = self.members.get_mut(group as usize) else { return false };
        let Ok(at) = members.binary_search(&position) else { return false };
        members.remove(at);
        if let Some(groups) = self.groups_of.get_mut(position as usize) {
            groups.retain(|&g| g != group);
        }
        true
    }

    fn clear(&mut self, position: u32) {
        let groups = self.groups_of.get_mut(position as usize).map(std::mem::take).unwrap_or_default();
        for group in groups {
            if let Some(members) = self.members.get_mut(group as usize)
                && let Ok(at) = members.binary_search(&position)
            {
                members.remove(at);
            }
        }
    }
}

/// Every user property rules read, column by column, with direct group memberships and managers.
///
/// See the [module documentation](self) for the layout and how it is kept current.
#[derive(Debug, Clone)]
pub struct DirectoryIndex {
    /// The id of the user at each position; empty at a tombstone.
    ids: Vec<Box<str>>,
    positions: HashMap<Box<str>, u32, FixedState>,
    live: Bitset,
    /// Tombstoned positions, reused last freed first.
    free: Vec<u32>,
    strings: Vec<StringColumn>,
    /// `extension_*` properties, by ASCII-lowercased name.
    extensions: BTreeMap<String, StringColumn>,
    account_enabled: Bitset,
    dir_sync_enabled: Bitset,
    hire_dates: Vec<i128>,
    other_mails: StringList,
    proxy_addresses: StringList,
    plans: PlanList,
    /// Codes of ASCII-lowercased manager ids; [`NULL`] for no manager.
    managers: StringColumn,
    groups: Groups,
}

impl Default for DirectoryIndex {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            positions: HashMap::with_hasher(FixedState::with_seed(0x1D5)),
            live: Bitset::default(),
            free: Vec::new(),
            strings: vec![StringColumn::default(); STRING_SLOTS],
            extensions: BTreeMap::new(),
            account_enabled: Bitset::default(),
            dir_sync_enabled: Bitset::default(),
            hire_dates: Vec::new(),
            other_mails: StringList::default(),
            proxy_addresses: StringList::default(),
            plans: PlanList::default(),
            managers: StringColumn::default(),
            groups: Groups::default(),
        }
    }
}

impl DirectoryIndex {
    /// Indexes `users` and the direct memberships `(user id, group id)` among them. A later user
    /// with the id of an earlier one replaces it; memberships of users not given are ignored.
    pub fn build<'u, U, G>(
        users: impl IntoIterator<Item = &'u User>,
        memberships: impl IntoIterator<Item = (U, G)>,
    ) -> Self
    where
        U: AsRef<str>,
        G: AsRef<str>,
    {
        let mut index = Self::default();
        let users = users.into_iter();
        let expected = users.size_hint().0;
        index.ids.reserve(expected);
        index.positions.reserve(expected);
        index.hire_dates.reserve(expected);
        index.groups.groups_of.reserve(expected);
        for user in users {
            index.upsert(user);
        }
        // Appended unordered, then sorted once: inserting in order one by one is quadratic in
        // the size of a large group.
        for (user_id, group_id) in memberships {
            let Some(&position) = index.positions.get(user_id.as_ref()) else { continue };
            let group = index.groups.group(group_id.as_ref());
            if let (Some(members), Some(groups)) = (
                index.groups.members.get_mut(group as usize),
                index.groups.groups_of.get_mut(position as usize),
            ) {
                members.push(position);
                groups.push(group);
            }
        }
        for members in &mut index.groups.members {
            members.sort_unstable();
            members.dedup();
        }
        for groups in &mut index.groups.groups_of {
            groups.sort_unstable();
            groups.dedup();
        }
        index
    }

    /// Writes a user's properties and manager, at its position if it has one (its memberships
    /// are kept) or at a new or reused position.
    pub fn upsert(&mut self, user: &User) -> Position {
        let position = match self.positions.get(user.id.as_str()) {
            Some(&position) => position,
            None => self.allocate(&user.id),
        };
        self.write(position as usize, user);
        Position(position)
    }

    /// Removes a user and its memberships; its position is tombstoned for reuse.
    pub fn remove(&mut self, user_id: &str) -> Option<Position> {
        let position = self.positions.remove(user_id)?;
        self.write(position as usize, &User::default());
        self.groups.clear(position);
        self.live.set(position as usize, false);
        if let Some(id) = self.ids.get_mut(position as usize) {
            *id = Box::default();
        }
        self.free.push(position);
        Some(Position(position))
    }

    /// Records that an indexed user is a direct member of a group; false if the user is not
    /// indexed or already a member.
    pub fn add_member(&mut self, user_id: &str, group_id: &str) -> bool {
        let Some(&position) = self.positions.get(user_id) else { return false };
        self.groups.add(position, group_id)
    }

    /// Forgets that a user is a direct member of a group; false if it was not.
    pub fn remove_member(&mut self, user_id: &str, group_id: &str) -> bool {
        let Some(&position) = self.positions.get(user_id) else { return false };
        self.groups.remove(position, group_id)
    }

    /// Replaces an indexed user's direct memberships; false if the user is not indexed.
    pub fn set_member_of<G: AsRef<str>>(
        &mut self,
        user_id: &str,
        group_ids: impl IntoIterator<Item = G>,
    ) -> bool {
        let Some(&position) = self.positions.get(user_id) else { return false };
        self.groups.clear(position);
        for group_id in group_ids {
            self.groups.add(position, group_id.as_ref());
        }
        true
    }

    /// The position of a user, by exact id.
    #[must_use]
    pub fn position(&self, user_id: &str) -> Option<Position> {
        self.positions.get(user_id).map(|&position| Position(position))
    }

    /// The id of the user at a position; `None` at a tombstone or past the end.
    #[must_use]
    pub fn user_id(&self, position: usize) -> Option<&str> {
        self.live.contains(position).then(|| self.ids.get(position).map(|id| &**id)).flatten()
    }

    /// How many positions there are, tombstones included: the length of every evaluation.
    #[must_use]
    pub fn positions(&self) -> usize {
        self.ids.len()
    }

    /// How many users are indexed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The positions that hold a user.
    #[must_use]
    pub fn live(&self) -> &Bitset {
        &self.live
    }

    /// The column of a string property; `None` for other properties and for an `extension_*`
    /// property no user has had.
    pub(crate) fn string_column(&self, property: &UserProperty) -> Option<&StringColumn> {
        match property {
            UserProperty::Extension(name) => self.extensions.get(&name.to_ascii_lowercase()),
            fixed => self.strings.get(string_slot(fixed)?),
        }
    }

    /// `accountEnabled` or `dirSyncEnabled`.
    pub(crate) fn flag(&self, property: &UserProperty) -> Option<&Bitset> {
        match property {
            UserProperty::AccountEnabled => Some(&self.account_enabled),
            UserProperty::DirSyncEnabled => Some(&self.dir_sync_enabled),
            _ => None,
        }
    }

    /// `employeeHireDate` per position, as [`date_key`]s or [`NULL_DATE`].
    pub(crate) fn hire_dates(&self) -> &[i128] {
        &self.hire_dates
    }

    pub(crate) fn string_list(&self, property: &UserProperty) -> Option<&StringList> {
        match property {
            UserProperty::OtherMails => Some(&self.other_mails),
            UserProperty::ProxyAddresses => Some(&self.proxy_addresses),
            _ => None,
        }
    }

    pub(crate) fn plans(&self) -> &PlanList {
        &self.plans
    }

    /// The manager column; its dictionary holds ASCII-lowercased ids.
    pub(crate) fn managers(&self) -> &StringColumn {
        &self.managers
    }

    /// The sorted positions of a group's direct members; the id ignores ASCII case.
    pub(crate) fn members(&self, group_id: &str) -> &[u32] {
        self.groups
            .ids
            .code(&group_id.to_ascii_lowercase())
            .and_then(|group| self.groups.members.get(group as usize))
            .map_or(&[], Vec::as_slice)
    }

    fn allocate(&mut self, user_id: &str) -> u32 {
        let position = match self.free.pop() {
            Some(position) => position,
            None => {
                let position = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
                self.ids.push(Box::default());
                let positions = self.ids.len();
                self.live.resize(positions);
                self.account_enabled.resize(positions);
                self.dir_sync_enabled.resize(positions);
                self.hire_dates.push(NULL_DATE);
                self.groups.groups_of.push(Vec::new());
                position
            }
        };
        if let Some(id) = self.ids.get_mut(position as usize) {
            *id = user_id.into();
        }
        self.positions.insert(user_id.into(), position);
        self.live.set(position as usize, true);
        position
    }

    /// Writes every column at `position` from `user`.
    fn write(&mut self, position: usize, user: &User) {
        let positions = self.ids.len();
        let extension_attributes = (1..=EXTENSION_ATTRIBUTES).map(UserProperty::ExtensionAttribute);
        for (property, column) in
            FIXED_STRINGS.iter().cloned().chain(extension_attributes).zip(&mut self.strings)
        {
            column.set_text(position, positions, property.text(user));
        }
        self.write_extensions(position, user);
        for (property, flags) in [
            (UserProperty::AccountEnabled, &mut self.account_enabled),
            (UserProperty::DirSyncEnabled, &mut self.dir_sync_enabled),
        ] {
            flags.set(position, property.flag(user) == Some(true));
        }
        if let Some(date) = self.hire_dates.get_mut(position) {
            *date = UserProperty::EmployeeHireDate.date(user).map_or(NULL_DATE, date_key);
        }
        self.other_mails.set(position, UserProperty::OtherMails.texts(user));
        self.proxy_addresses.set(position, UserProperty::ProxyAddresses.texts(user));
        self.plans.set(position, &user.assigned_plans);
        let manager = match user.manager_id() {
            Some(id) => self.managers.dictionary.intern(&id.to_ascii_lowercase()),
            None => NULL,
        };
        self.managers.set_code(position, positions, manager);
    }

    /// `extension_*` values: for each name ignoring ASCII case, the first in the user's (sorted)
    /// map, as [`UserProperty::text`] reads them; every other extension column gets null.
    fn write_extensions(&mut self, position: usize, user: &User) {
        let positions = self.ids.len();
        let mut values: Vec<(String, &str)> = Vec::with_capacity(user.extensions.len());
        for (name, value) in &user.extensions {
            let name = name.to_ascii_lowercase();
            if !values.iter().any(|(seen, _)| *seen == name) {
                values.push((name, value));
            }
        }
        for (name, column) in &mut self.extensions {
            if !values.iter().any(|(seen, _)| seen == name) {
                column.set_text(position, positions, None);
            }
        }
        for (name, value) in values {
            self.extensions.entry(name).or_default().set_text(position, positions, Some(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::ObjectRef;

    fn user(id: &str, department: &str) -> User {
        User { id: id.into(), department: Some(department.into()), ..User::default() }
    }

    fn department(index: &DirectoryIndex, id: &str) -> Option<String> {
        let position = index.position(id)?.index();
        let column = index.string_column(&UserProperty::Department)?;
        Some(column.dictionary().text(column.code(position)).to_owned())
    }

    #[test]
    fn removed_positions_are_tombstoned_and_reused() {
        let users = [user("a", "Sales"), user("b", "SALES"), user("c", "")];
        let mut index = DirectoryIndex::build(&users, [("a", "G1"), ("b", "g1"), ("zz", "g1")]);
        assert_eq!((index.len(), index.positions()), (3, 3));
        assert_eq!(index.members("g1"), [0, 1]);
        assert_eq!(department(&index, "b").as_deref(), Some("SALES"));
        assert_eq!(department(&index, "c").as_deref(), Some(""), "empty reads as null");

        assert_eq!(index.remove("a"), Some(Position(0)));
        assert_eq!(index.remove("a"), None);
        assert_eq!(index.members("G1"), [1]);
        assert_eq!((index.len(), index.user_id(0)), (2, None));

        let d = index.upsert(&user("d", "Marketing"));
        assert_eq!(d, Position(0), "the tombstone is reused");
        assert_eq!(index.user_id(0), Some("d"));
        assert_eq!(index.upsert(&user("b", "Legal")), Position(1), "an upsert keeps the position");
        assert_eq!(department(&index, "b").as_deref(), Some("Legal"));
        assert_eq!(index.members("g1"), [1], "and the memberships");
    }

    #[test]
    fn memberships_change_one_at_a_time() {
        let users = [user("a", "x"), user("b", "y")];
        let mut index = DirectoryIndex::build(&users, Vec::<(&str, &str)>::new());
        assert!(index.add_member("b", "G") && index.add_member("a", "g") && !index.add_member("a", "G"));
        assert!(!index.add_member("nobody", "g"));
        assert_eq!(index.members("g"), [0, 1]);
        assert!(index.remove_member("b", "g") && !index.remove_member("b", "g"));
        assert!(index.set_member_of("a", ["h", "i"]));
        assert_eq!((index.members("g"), index.members("h")), (&[][..], &[0][..]));
    }

    #[test]
    fn lists_are_rewritten_in_place_or_appended_and_compacted() {
        let mut lists = CodeLists::default();
        lists.set(3, &[1, 2, 3]);
        lists.set(0, &[4]);
        assert_eq!(
            (lists.of(3), lists.of(0), lists.of(1), lists.of(99)),
            (&[1, 2, 3][..], &[4][..], &[][..], &[][..])
        );
        lists.set(3, &[5]);
        assert_eq!((lists.of(3), lists.garbage), (&[5][..], 2));
        lists.set(0, &[6, 7]);
        assert_eq!((lists.of(0), lists.garbage), (&[6, 7][..], 3));
        for round in 0..2_000u32 {
            lists.set(1, &[round, round + 1]);
        }
        assert!(lists.elements.len() < 4_000, "compacted: {}", lists.elements.len());
        assert_eq!((lists.of(0), lists.of(1), lists.of(3)), (&[6, 7][..], &[1_999, 2_000][..], &[5][..]));
    }

    #[test]
    fn extension_names_ignore_case_and_the_first_spelling_wins() {
        let mut user = user("a", "x");
        user.extensions = [
            ("extension_AB_n".to_owned(), "first".to_owned()),
            ("extension_ab_N".to_owned(), "second".to_owned()),
        ]
        .into();
        user.manager = Some(ObjectRef { id: "MGR".into() });
        let mut index = DirectoryIndex::build([&user], Vec::<(&str, &str)>::new());
        let property = UserProperty::Extension("extension_ab_n".into());
        let read = |index: &DirectoryIndex| {
            index.string_column(&property).map(|c| c.dictionary().text(c.code(0)).to_owned())
        };
        assert_eq!(read(&index).as_deref(), Some(property.text(&user).unwrap_or_default()));
        assert_eq!(index.managers().dictionary().text(index.managers().code(0)), "mgr");
        user.extensions.clear();
        index.upsert(&user);
        assert_eq!(read(&index).as_deref(), Some(""), "a value no longer there is null");
    }

    #[test]
    fn hire_dates_sort_as_instants() {
        let at = |text| crate::rule::schema::parse_datetime(text).map(date_key);
        assert!(at("1960-01-01") < at("1960-01-01T00:00:00.000000001Z"));
        assert!(at("2020-06-10T23:59:59.9Z") < at("2020-06-10T23:59:60.5Z"));
        assert!(at("2020-06-10T23:59:60.5Z") < at("2020-06-11T00:00:00Z"));
        assert!(Some(NULL_DATE) < at("0001-01-01"));
    }
}
