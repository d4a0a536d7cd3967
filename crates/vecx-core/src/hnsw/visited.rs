//! The set of elements a search has reached ("visited" in Algorithm 2).
//!
//! A search asks it once for every neighbour of every element it expands (about 1,500 times per
//! insert at `ef_construction = 64`), so its cost shows: a hash set was 6-9% of an in-memory
//! build's profile. Elements of the in-memory graph are numbered densely, so there a bitset
//! does the job with one load and one store ([`DenseVisited`]); it is cleared word by word
//! through the list of words it set, so reusing it for the next search costs what that search
//! touched, not the size of the graph. Page graphs, whose ids are (block, offset) pairs, keep the
//! hash set.
use std::hash::Hash;

use super::fxhash::FxHashSet;

/// A set of element ids that a search fills.
pub trait Visited<I> {
    /// Adds `id`; whether it was new.
    fn insert(&mut self, id: I) -> bool;

    /// Empties the set for another search.
    fn clear(&mut self);
}

impl<I: Hash + Eq> Visited<I> for FxHashSet<I> {
    #[inline]
    fn insert(&mut self, id: I) -> bool {
        std::collections::HashSet::insert(self, id)
    }

    fn clear(&mut self) {
        std::collections::HashSet::clear(self);
    }
}

/// A bitset over the ids `0..len` of a dense numbering (an in-memory graph's elements).
#[derive(Default)]
pub struct DenseVisited {
    bits: Vec<u64>,
    /// The words with a bit set, each once (what [`Visited::clear`] resets).
    touched: Vec<u32>,
}

impl DenseVisited {
    /// An empty set for ids below `len`.
    pub fn new(len: usize) -> DenseVisited {
        let mut v = DenseVisited::default();
        v.ensure(len);
        v
    }

    /// Makes room for ids below `len` (an empty set stays empty).
    pub fn ensure(&mut self, len: usize) {
        let words = len.div_ceil(64);
        if self.bits.len() < words {
            self.bits.resize(words, 0);
        }
    }
}

impl Visited<u32> for DenseVisited {
    /// Panics on an id beyond the set's room (see [`DenseVisited::ensure`]), as indexing does.
    #[inline]
    fn insert(&mut self, id: u32) -> bool {
        let (w, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        let old = self.bits[w];
        if old & bit != 0 {
            return false;
        }
        if old == 0 {
            self.touched.push(w as u32);
        }
        self.bits[w] = old | bit;
        true
    }

    fn clear(&mut self) {
        for &w in &self.touched {
            self.bits[w as usize] = 0;
        }
        self.touched.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_set_matches_a_hash_set_across_reuse() {
        let mut rng = crate::rng::Rng::new(3);
        let mut dense = DenseVisited::new(1000);
        let mut hashed = FxHashSet::default();
        for _round in 0..20 {
            for _ in 0..300 {
                let id = (rng.next_u64() % 1000) as u32;
                assert_eq!(
                    Visited::insert(&mut dense, id),
                    Visited::insert(&mut hashed, id)
                );
            }
            Visited::clear(&mut dense);
            Visited::clear(&mut hashed);
            assert!(dense.bits.iter().all(|&w| w == 0));
        }
    }
}
