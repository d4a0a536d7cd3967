//! HNSW: Hierarchical Navigable Small World graphs (Malkov & Yashunin, "Efficient and robust
//! approximate nearest neighbor search using Hierarchical Navigable Small World graphs", 2016/2018).
//!
//! The index is a stack of proximity graphs. Every element lives on layer 0; an element drawn at
//! level `l` (probability decaying as `exp(-l / mL)`, `mL = 1 / ln(M)`) also lives on layers 1..l.
//! A search enters at the single element of the top layer, walks greedily down to layer 1, and
//! runs a best-first search of width `ef` on layer 0. Each element keeps at most `M` neighbours
//! per upper layer and `2M` on layer 0, chosen by the diversity heuristic so the graph stays
//! navigable across clusters.
//!
//! This module holds the algorithms only, written against two small traits:
//!
//! * [`GraphView`]: read access (distance from a query to an element, neighbour lists), which the
//!   PostgreSQL extension implements on top of index pages and the in-memory builder implements
//!   on vectors in RAM;
//! * [`memory::MemGraph`]: the in-memory graph CREATE INDEX builds on rayon threads.
//!
//! Files, one concept each:
//!
//! | file | paper | what |
//! |---|---|---|
//! | [`search`] | Algorithm 2 (SEARCH-LAYER), Algorithm 5 (K-NN-SEARCH) | layer search and greedy descent |
//! | [`select`] | Algorithm 4 (SELECT-NEIGHBORS-HEURISTIC) | diverse neighbour selection |
//! | [`memory`] | Algorithm 1 (INSERT) | the concurrent in-memory graph and its parallel build |
//! | [`connect`] | (ours, after Lucene) | joining islands left after a build |
//! | [`stream`] | (ours) | an unbounded best-first search that yields results one at a time |
//! | [`upper`] | Algorithm 5's descent | the upper layers copied into memory for the descent |
//! | [`visited`] | Algorithm 2's `v` | the set of elements a search has reached |
use std::cmp::Ordering;

pub mod code;
pub mod connect;
pub mod format;
pub mod fxhash;
pub mod layout;
pub mod memory;
pub mod search;
pub mod select;
pub mod stream;
pub mod upper;
pub mod visited;

#[cfg(test)]
mod tests;

/// Highest level an element may be drawn at (the probability of exceeding it is negligible).
pub const MAX_LEVEL: usize = 15;

/// Construction parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Neighbours per element on layers above 0 (`M`); layer 0 keeps `2M`.
    pub m: usize,
    /// Width of the search that finds an inserted element's neighbours.
    pub ef_construction: usize,
}

impl Params {
    pub fn max_neighbors(&self, level: usize) -> usize {
        if level == 0 {
            2 * self.m
        } else {
            self.m
        }
    }

    /// How wide an insert searches the layers above its element's own (Algorithm 1's descent
    /// with `ef = 1` in the paper): an eighth of `ef_construction`. A greedy descent that ends
    /// one cluster off places the element in that cluster: its layer-0 search never leaves it,
    /// the element links only to strangers and no neighbour of its own links back, so no query
    /// finds it later. On tight, well separated clusters, 17 builds in 40 of 3,000 rows left
    /// such orphans with a greedy descent (106 rows in all), 1 in 40 at this width (3 rows);
    /// the upper layers hold a sixteenth of the elements, so the cost is small.
    pub fn descent_width(&self) -> usize {
        (self.ef_construction / 8).max(1)
    }

    /// The level of a new element from a uniform draw `u` in (0, 1]: `floor(-ln(u) * mL)`.
    pub fn level_for(&self, u: f64) -> usize {
        let ml = 1.0 / (self.m.max(2) as f64).ln();
        ((-u.max(f64::MIN_POSITIVE).ln() * ml).floor() as usize).min(MAX_LEVEL)
    }
}

/// The level of element number `seq` in an index seeded with `seed`: a fixed hash, so builds
/// are reproducible.
pub fn level_of(params: &Params, seed: u64, seq: u64) -> usize {
    let mut z = seq.wrapping_add(seed).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let u = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64; // (0, 1]
    params.level_for(u)
}

/// Read access to a graph, whatever stores it.
pub trait GraphView {
    type Id: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug;

    /// Distance from `query` to element `id` (smaller is closer).
    fn distance(&self, query: &[f32], id: Self::Id) -> f32;

    /// Distance between two elements (for the neighbour-selection heuristic).
    fn distance_between(&self, a: Self::Id, b: Self::Id) -> f32;

    /// [`Self::distance_between`] where only "is it above `bound`?" matters: exact when at most
    /// `bound`, otherwise any value above it (a graph may stop computing early). The default is
    /// exact.
    fn distance_between_until(&self, a: Self::Id, b: Self::Id, _bound: f32) -> f32 {
        self.distance_between(a, b)
    }

    /// Neighbours of `id` on `level` into `out` (cleared first; empty when it has none or does
    /// not reach that level), so a search reuses one buffer for every element it expands.
    fn neighbors_into(&self, id: Self::Id, level: usize, out: &mut Vec<Self::Id>);

    /// [`Self::neighbors_into`] into a new list (callers outside the hot loops).
    fn neighbors(&self, id: Self::Id, level: usize) -> Vec<Self::Id> {
        let mut out = Vec::new();
        self.neighbors_into(id, level, &mut out);
        out
    }

    /// A hint that [`Self::distance`] will soon be asked for `id`: a graph in memory starts
    /// loading its vector (see [`crate::distance::simd::prefetch`]). Changes no result.
    fn prefetch(&self, _id: Self::Id) {}

    /// A hint that [`Self::neighbors_into`] may soon be asked for `id` on `level`: a graph in
    /// memory starts loading that list. Changes no result.
    fn prefetch_neighbors(&self, _id: Self::Id, _level: usize) {}

    /// [`Self::distance`] where only "is it above `bound`?" matters: exact when at most `bound`,
    /// otherwise any value above it. The default is exact.
    fn distance_until(&self, query: &[f32], id: Self::Id, _bound: f32) -> f32 {
        self.distance(query, id)
    }

    /// Whether [`Self::distances`] may return, above its bound, a value short of the exact
    /// distance (a search that records every distance then notes which). The default, exact
    /// `distance_until`, never does.
    fn bounds_distances(&self) -> bool {
        false
    }

    /// The distances from `query` to each of `ids`, in order, into `out` (cleared first): what
    /// a search does with the unvisited neighbours of the element it expands. Each is exact when
    /// at most `bound` and otherwise above it (see [`Self::distance_until`]; pass infinity for
    /// exact distances). Asking for them together lets a graph overlap their memory latency;
    /// this default prefetches every one (see [`Self::prefetch`]) before comparing any. The page
    /// graph pins all their pages first instead.
    fn distances(&self, query: &[f32], ids: &[Self::Id], bound: f32, out: &mut Vec<f32>) {
        out.clear();
        for &id in ids {
            self.prefetch(id);
        }
        out.extend(ids.iter().map(|&id| self.distance_until(query, id, bound)));
    }
}

/// An element with its distance to the query; ordered by distance, then id, so ties break the
/// same way everywhere.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored<I> {
    pub dist: f32,
    pub id: I,
}

impl<I: Ord> Eq for Scored<I> where I: PartialEq {}

impl<I: Ord> PartialOrd for Scored<I> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<I: Ord> Ord for Scored<I> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then_with(|| self.id.cmp(&other.id))
    }
}
