//! A fixed-length set of positions, one bit each: what the compiled evaluator produces, and how
//! the directory index stores boolean properties.
//!
//! Bit `i` of the set is bit `i % 64` of word `i / 64`. Bits past [`Bitset::len`] in the last
//! word are always zero, so word-wise operations and counts need no special case for the tail.

/// A set of positions below a fixed length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    /// An empty set of positions below `len`.
    #[must_use]
    pub fn new(len: usize) -> Self {
        Self { words: vec![0; len.div_ceil(64)], len }
    }

    /// Every position below `len`.
    #[must_use]
    pub fn full(len: usize) -> Self {
        let mut set = Self { words: vec![u64::MAX; len.div_ceil(64)], len };
        set.clear_tail();
        set
    }

    /// The set whose words are `words`, for positions below `len`; missing words are zero and
    /// bits at or past `len` are dropped.
    #[must_use]
    pub fn from_words(mut words: Vec<u64>, len: usize) -> Self {
        words.resize(len.div_ceil(64), 0);
        let mut set = Self { words, len };
        set.clear_tail();
        set
    }

    /// How many positions the set ranges over (not how many it holds: see [`Bitset::count`]).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set ranges over no position at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The words, least significant bit first.
    #[must_use]
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    #[must_use]
    pub fn into_words(self) -> Vec<u64> {
        self.words
    }

    /// Whether `position` is in the set; false past the end.
    #[must_use]
    pub fn contains(&self, position: usize) -> bool {
        self.words.get(position / 64).is_some_and(|word| word >> (position % 64) & 1 == 1)
    }

    /// Adds or removes `position`; positions past the end are ignored.
    pub fn set(&mut self, position: usize, value: bool) {
        if position >= self.len {
            return;
        }
        if let Some(word) = self.words.get_mut(position / 64) {
            let bit = 1 << (position % 64);
            if value {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
    }

    /// How many positions are in the set.
    #[must_use]
    pub fn count(&self) -> usize {
        self.words.iter().map(|word| word.count_ones() as usize).sum()
    }

    /// The positions in the set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(i * 64 + bit)
            })
        })
    }

    /// Grows or shrinks the range to `len` positions; new positions are not in the set.
    pub fn resize(&mut self, len: usize) {
        self.words.resize(len.div_ceil(64), 0);
        self.len = len;
        self.clear_tail();
    }

    /// Keeps the positions also in `other`.
    pub fn intersect_with(&mut self, other: &Self) {
        for (word, theirs) in self.words.iter_mut().zip(other.words.iter().chain(std::iter::repeat(&0))) {
            *word &= theirs;
        }
    }

    /// Adds the positions in `other` that are in range.
    pub fn union_with(&mut self, other: &Self) {
        for (word, theirs) in self.words.iter_mut().zip(&other.words) {
            *word |= theirs;
        }
        self.clear_tail();
    }

    /// Replaces the set with its complement within the range.
    pub fn complement(&mut self) {
        for word in &mut self.words {
            *word = !*word;
        }
        self.clear_tail();
    }

    /// Zeroes the bits at or past `len` in the last word.
    fn clear_tail(&mut self) {
        let used = self.len % 64;
        if used != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1 << used) - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_past_the_length_stays_empty() {
        let mut set = Bitset::new(70);
        set.complement();
        assert_eq!(set.count(), 70);
        assert_eq!(Bitset::full(70), set);
        set.set(69, false);
        set.set(500, true);
        assert_eq!(set.count(), 69);
        assert!(!set.contains(69) && set.contains(68) && !set.contains(500));
        assert_eq!(Bitset::from_words(vec![u64::MAX; 3], 65).count(), 65);
    }

    #[test]
    fn iterates_in_order_and_combines_word_by_word() {
        let mut a = Bitset::new(200);
        for position in [0, 63, 64, 130, 199] {
            a.set(position, true);
        }
        assert_eq!(a.iter().collect::<Vec<_>>(), [0, 63, 64, 130, 199]);
        let mut b = Bitset::new(200);
        b.set(64, true);
        b.set(100, true);
        let mut both = a.clone();
        both.intersect_with(&b);
        assert_eq!(both.iter().collect::<Vec<_>>(), [64]);
        let mut either = a;
        either.union_with(&b);
        assert_eq!(either.count(), 6);
        either.resize(64);
        assert_eq!(either.iter().collect::<Vec<_>>(), [0, 63]);
    }
}
