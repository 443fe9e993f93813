//! Dictionary encoding: each distinct string of a column gets a small integer code.
//!
//! Codes are dense, start at 1 and are never reused or removed, so a table indexed by code stays
//! valid as the dictionary grows: only the new codes need computing. Code 0 is reserved for "no
//! value" and reads as the empty string. The strings live end to end in one arena and the hash
//! table holds each code with 32 bits of its string's hash (so growing the table never reads the
//! arena again), so a column of a million distinct ids costs about its text plus twenty bytes a
//! value.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

/// The code of "no value": absent or empty.
pub(crate) const NULL: u32 = 0;

/// Distinct strings and their codes; the strings are kept exactly as written.
#[derive(Debug, Clone)]
pub(crate) struct Dictionary {
    /// Every string, end to end.
    arena: String,
    /// Code `c` is `arena[bounds[c]..bounds[c + 1]]`; code 0 is the empty string.
    bounds: Vec<usize>,
    /// Each code with its [`short_hash`].
    codes: HashTable<(u32, u32)>,
    hasher: FixedState,
}

impl Default for Dictionary {
    fn default() -> Self {
        Self {
            arena: String::new(),
            bounds: vec![0, 0],
            codes: HashTable::new(),
            // A fixed seed: the same codes and the same memory layout on every run.
            hasher: FixedState::with_seed(0x5EED_D1C7),
        }
    }
}

impl Dictionary {
    /// How many codes are in use, [`NULL`] included: every code is below this.
    pub(crate) fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    /// The string of a code; the empty string for [`NULL`] and for codes not in use.
    pub(crate) fn text(&self, code: u32) -> &str {
        text_of(&self.arena, &self.bounds, code)
    }

    /// The code of `text`, added if new. The empty string gets a code of its own here: callers
    /// that mean "no value" by it use [`NULL`] instead.
    pub(crate) fn intern(&mut self, text: &str) -> u32 {
        let short = self.short_hash(text);
        let (arena, bounds) = (&self.arena, &self.bounds);
        let same = |&(code, hash): &(u32, u32)| hash == short && text_of(arena, bounds, code) == text;
        if let Some(&(code, _)) = self.codes.find(spread(short), same) {
            return code;
        }
        let code = u32::try_from(self.len()).unwrap_or(u32::MAX);
        self.arena.push_str(text);
        self.bounds.push(self.arena.len());
        self.codes.insert_unique(spread(short), (code, short), |&(_, hash)| spread(hash));
        code
    }

    /// The code of `text`, if it has one.
    pub(crate) fn code(&self, text: &str) -> Option<u32> {
        let short = self.short_hash(text);
        let same = |&(code, hash): &(u32, u32)| hash == short && self.text(code) == text;
        self.codes.find(spread(short), same).map(|&(code, _)| code)
    }

    /// 32 bits of the string's hash: what the table keeps beside each code.
    fn short_hash(&self, text: &str) -> u32 {
        let hash = self.hasher.hash_one(text);
        (hash ^ (hash >> 32)) as u32
    }
}

/// A short hash spread over 64 bits, as the table wants them (it reads both the top and the
/// bottom bits).
fn spread(short: u32) -> u64 {
    u64::from(short).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn text_of<'a>(arena: &'a str, bounds: &[usize], code: u32) -> &'a str {
    let code = code as usize;
    match (bounds.get(code), bounds.get(code + 1)) {
        (Some(&start), Some(&end)) => arena.get(start..end).unwrap_or_default(),
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_stable_and_exact() {
        let mut dictionary = Dictionary::default();
        let sales = dictionary.intern("Sales");
        let upper = dictionary.intern("SALES");
        assert_eq!((sales, upper), (1, 2), "case variants are distinct values");
        assert_eq!(dictionary.intern("Sales"), sales);
        assert_eq!(dictionary.intern(""), 3, "the empty string is a value when interned");
        assert_eq!(dictionary.code("SALES"), Some(upper));
        assert_eq!(dictionary.code("sales"), None);
        assert_eq!(dictionary.len(), 4);
        assert_eq!(dictionary.text(NULL), "");
        assert_eq!(dictionary.text(99), "");
    }

    #[test]
    fn many_values_keep_their_codes_as_the_table_grows() {
        let mut dictionary = Dictionary::default();
        let codes: Vec<u32> = (0..10_000).map(|i| dictionary.intern(&format!("user{i}"))).collect();
        for (i, code) in codes.iter().enumerate() {
            assert_eq!(dictionary.code(&format!("user{i}")), Some(*code));
            assert_eq!(dictionary.text(*code), format!("user{i}"));
        }
    }
}
