//! The set of elements a search has reached ("visited" in Algorithm 2).
//!
//! A search asks it once for every neighbour of every element it expands (about 1,500 times per
//! insert at `ef_construction = 64`), so its cost shows: a hash set was 6-9% of an in-memory
//! build's profile. Elements of the in-memory graph are numbered densely, so there a bitset
//! does the job with one load and one store ([`DenseVisited`]); it is cleared word by word
//! through the list of words it set, so reusing it for the next search costs what that search
//! touched, not the size of the graph. Page graphs' ids are (block, offset) pairs: for them
//! [`PageVisited`] numbers the slots of the first blocks densely (block times the most items a
//! page holds, plus offset) in a bitset the backend keeps from scan to scan, and hashes the
//! rest.
use std::cell::RefCell;
use std::hash::Hash;

use super::format::Tid;
use super::fxhash::FxHashSet;

/// A set of element ids that a search fills.
pub trait Visited<I> {
    /// Adds `id`; whether it was new.
    fn insert(&mut self, id: I) -> bool;

    /// Empties the set for another search.
    fn clear(&mut self);
}

/// A visited set a search keeps after it ends, to ask about (the index scan's stream).
pub trait VisitedSet<I>: Visited<I> {
    fn contains(&self, id: &I) -> bool;

    /// Ids in the set.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
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

impl<I: Hash + Eq> VisitedSet<I> for FxHashSet<I> {
    fn contains(&self, id: &I) -> bool {
        std::collections::HashSet::contains(self, id)
    }

    fn len(&self) -> usize {
        std::collections::HashSet::len(self)
    }
}

/// A bitset over the ids `0..len` of a dense numbering (an in-memory graph's elements, or a
/// page graph's slots, see [`PageVisited`]). A big set is cleared word by word through the list
/// of words it set, so reusing it costs what the last search touched, not its size; a small one
/// (up to 64 kB) is cleared with one `memset`, which spares the tracking's branch on every
/// first visit to a word.
pub struct DenseVisited {
    bits: Vec<u64>,
    /// Words of `bits` in use.
    words: usize,
    /// The words with a bit set, each once (what [`Visited::clear`] resets), unless the set is
    /// small enough to clear at once.
    touched: Option<Vec<u32>>,
}

/// Up to this many words (64 kB) a [`DenseVisited`] sized by [`DenseVisited::reset`] is cleared
/// with one `memset` instead of tracking the words it set.
const MEMSET_WORDS: usize = 1 << 13;

impl Default for DenseVisited {
    fn default() -> DenseVisited {
        DenseVisited {
            bits: Vec::new(),
            words: 0,
            touched: Some(Vec::new()),
        }
    }
}

impl DenseVisited {
    /// An empty set for ids below `len`, cleared through the words it set.
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
        self.words = self.words.max(words);
    }

    /// Turns an empty set into one for ids below `len`, cleared by `memset` when that is at most
    /// 64 kB (its memory is reused).
    pub fn reset(&mut self, len: usize) {
        debug_assert!(
            self.bits.iter().all(|&w| w == 0),
            "reset of a non-empty set"
        );
        self.words = 0;
        self.ensure(len);
        self.touched = (self.words > MEMSET_WORDS).then(Vec::new);
    }

    #[inline]
    fn contains(&self, id: u32) -> bool {
        self.bits[(id / 64) as usize] & (1u64 << (id % 64)) != 0
    }
}

impl Visited<u32> for DenseVisited {
    /// Panics on an id beyond the set's room (see [`DenseVisited::ensure`]), as indexing does.
    #[inline]
    fn insert(&mut self, id: u32) -> bool {
        let (w, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        let old = self.bits[w];
        self.bits[w] = old | bit;
        if let Some(t) = self.touched.as_mut() {
            if old == 0 {
                t.push(w as u32);
            }
        }
        old & bit == 0
    }

    fn clear(&mut self) {
        match self.touched.as_mut() {
            Some(t) => {
                for &w in t.iter() {
                    self.bits[w as usize] = 0;
                }
                t.clear();
            }
            None => self.bits[..self.words].fill(0),
        }
    }
}

/// Bits of bitset [`PageVisited`] may use: 1 MiB. Blocks past what fits go to the hash set (the
/// bitset would cost the backend more memory than it saves time).
const DENSE_BITS: usize = 1 << 23;

thread_local! {
    /// The bitset of the last [`PageVisited`] dropped on this thread (emptied): the next scan
    /// reuses it instead of allocating and zeroing its own.
    static SPARE: RefCell<DenseVisited> = RefCell::default();
}

/// The visited set of a search over a page graph (ids are (block, offset) pairs): a bitset with
/// `slots` bits per block (a power of two at least the most items a page can hold) over the first
/// blocks, a hash set for any other id. An index scan asks it once per neighbour of every element
/// it expands; the hash set alone was 8% of a scan's profile. The bitset is as small as the page
/// format allows (64 bits per block for 128-d vectors: 8 kB for a 10,000-row index), because a
/// scan's pages push it out of the CPU caches between lookups.
pub struct PageVisited {
    dense: DenseVisited,
    blocks: u32,
    slot_bits: u32,
    rest: FxHashSet<Tid>,
    len: usize,
}

impl PageVisited {
    /// An empty set for a graph of `blocks` blocks holding at most `slots` items each, with room
    /// for `expected` hashed ids. Its bitset is the thread's spare one when there is one.
    pub fn new(blocks: u32, slots: usize, expected: usize) -> PageVisited {
        let slot_bits = slots.max(1).next_power_of_two().trailing_zeros();
        let dense_blocks = (blocks as usize).min(DENSE_BITS >> slot_bits);
        let mut dense = SPARE.with(|s| std::mem::take(&mut *s.borrow_mut()));
        dense.reset(dense_blocks << slot_bits);
        let hashed = if dense_blocks < blocks as usize {
            expected
        } else {
            0
        };
        PageVisited {
            dense,
            blocks: dense_blocks as u32,
            slot_bits,
            rest: FxHashSet::with_capacity_and_hasher(hashed, Default::default()),
            len: 0,
        }
    }

    #[inline]
    fn slot(&self, id: &Tid) -> Option<u32> {
        (id.block < self.blocks && u32::from(id.offset) < (1 << self.slot_bits))
            .then(|| (id.block << self.slot_bits) | u32::from(id.offset))
    }
}

impl Visited<Tid> for PageVisited {
    #[inline]
    fn insert(&mut self, id: Tid) -> bool {
        let new = match self.slot(&id) {
            Some(slot) => self.dense.insert(slot),
            None => self.rest.insert(id),
        };
        self.len += new as usize;
        new
    }

    fn clear(&mut self) {
        self.dense.clear();
        self.rest.clear();
        self.len = 0;
    }
}

impl VisitedSet<Tid> for PageVisited {
    fn contains(&self, id: &Tid) -> bool {
        match self.slot(id) {
            Some(slot) => self.dense.contains(slot),
            None => self.rest.contains(id),
        }
    }

    fn len(&self) -> usize {
        self.len
    }
}

impl Drop for PageVisited {
    fn drop(&mut self) {
        self.dense.clear();
        let dense = std::mem::take(&mut self.dense);
        // Keep the larger bitset (a thread may scan indexes of different sizes).
        let _ = SPARE.try_with(|s| {
            let mut spare = s.borrow_mut();
            if dense.bits.len() > spare.bits.len() {
                *spare = dense;
            }
        });
    }
}

/// Drops the ids of `ids` already in `visited` and adds the rest, keeping their order. Written
/// without a branch on the answer (which is a coin flip in a search), unlike `Vec::retain`.
#[inline]
pub fn keep_unvisited<I: Copy>(ids: &mut Vec<I>, visited: &mut impl Visited<I>) {
    let mut kept = 0;
    for i in 0..ids.len() {
        let id = ids[i];
        ids[kept] = id;
        kept += visited.insert(id) as usize;
    }
    ids.truncate(kept);
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

    #[test]
    fn page_set_matches_a_hash_set_across_reuse_and_sizes() {
        let mut rng = crate::rng::Rng::new(5);
        for (blocks, slots) in [
            (1u32, 64),
            (40, 300),
            (40, 20),
            ((DENSE_BITS >> 9) as u32 + 10, 512),
        ] {
            for _round in 0..5 {
                let mut paged = PageVisited::new(blocks, slots, 64);
                let mut hashed: FxHashSet<Tid> = FxHashSet::default();
                for _ in 0..2000 {
                    let id = Tid {
                        block: (rng.next_u64() % (blocks as u64 + 3)) as u32,
                        // Mostly small offsets, some past the dense slots.
                        offset: (rng.next_u64() % 700) as u16,
                    };
                    assert_eq!(paged.contains(&id), VisitedSet::contains(&hashed, &id));
                    assert_eq!(
                        Visited::insert(&mut paged, id),
                        Visited::insert(&mut hashed, id)
                    );
                    assert_eq!(VisitedSet::len(&paged), VisitedSet::len(&hashed));
                }
                Visited::clear(&mut paged);
                assert_eq!(VisitedSet::len(&paged), 0);
                assert!(hashed.iter().all(|id| !paged.contains(id)));
            }
        }
        // The spare bitset handed back is empty.
        let spare = PageVisited::new(40, 64, 0);
        assert!(spare.dense.bits.iter().all(|&w| w == 0));
    }

    #[test]
    fn keep_unvisited_filters_in_order() {
        let mut seen: FxHashSet<u32> = [3, 5].into_iter().collect();
        let mut ids = vec![1, 3, 4, 5, 1, 6];
        keep_unvisited(&mut ids, &mut seen);
        assert_eq!(ids, vec![1, 4, 6]);
        assert_eq!(seen.len(), 5);
    }
}
