//! The in-memory graph CREATE INDEX builds, and its parallel construction (Algorithm 1, INSERT).
//!
//! Vectors sit in one flat array; every element has one neighbour list per level, each behind
//! its own `RwLock`, so rayon threads insert concurrently: a search takes read locks one list at
//! a time, and linking a new element back takes the write lock of one list at a time (never two
//! at once, so there is no lock ordering to get wrong). The entry point has its own lock.
//!
//! The build is driven from outside through [`MemGraph::insert`] and the helpers of
//! [`build_parallel`], which reports progress through an atomic counter and stops early when a
//! cancel flag is raised: PostgreSQL's backend thread watches both while rayon threads (which
//! must never call into PostgreSQL) do the work.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::RwLock;

use rayon::prelude::*;
use smallvec::SmallVec;

use super::select::{self, neighbors_for_insert};
use super::visited::DenseVisited;
use super::{GraphView, Params, Scored};
use crate::distance::Metric;

thread_local! {
    /// Each build thread's visited set, reused from insert to insert (see [`super::visited`]).
    static VISITED: std::cell::RefCell<DenseVisited> = std::cell::RefCell::default();
}

/// Neighbours a list holds inline, beside its lock: a layer-0 list at the default `m = 16`.
/// Expanding an element then reads one place in memory, not a lock here and a list elsewhere
/// (a cache miss each, at a million elements); a longer list spills to the heap.
const INLINE: usize = 32;

/// One neighbour list: each neighbour with its distance from the element (a list that
/// overflows is pruned without recomputing the distances it knows) and, when the list came from
/// a selection, the heuristic's flags for [`select::reselect`] (empty otherwise).
#[derive(Default)]
struct Links {
    list: SmallVec<[Scored<u32>; INLINE]>,
    diverse: SmallVec<[bool; INLINE]>,
}

pub struct MemGraph {
    pub dim: usize,
    pub metric: Metric,
    pub params: Params,
    vectors: Vec<f32>,
    levels: Vec<u8>,
    /// Every element's layer-0 list, in one array: a search reaches a list through one
    /// indirection fewer than through a per-element array of levels (the lookup was 15% of a
    /// build's profile).
    layer0: Vec<RwLock<Links>>,
    /// upper[element][level - 1], for the few elements above layer 0 (empty, unallocated,
    /// for the rest).
    upper: Vec<Vec<RwLock<Links>>>,
    entry: RwLock<Option<(u32, usize)>>,
    /// When the dimensions are stored reordered (see [`MemGraph::reorder_dimensions`]): the
    /// original dimension each stored position holds.
    order: Option<Vec<u32>>,
}

/// Bytes of memory one element of `dim` dimensions takes in a [`MemGraph`] (vector, layer-0
/// list at capacity, the average upper-layer lists, and bookkeeping), for budgeting against
/// `maintenance_work_mem`.
pub fn bytes_per_element(dim: usize, params: &Params) -> usize {
    let links = std::mem::size_of::<RwLock<Links>>();
    // Layer 0 inline (plus its spill when 2m is longer than INLINE), and the upper layers: one
    // list in m - 1 elements, each in a Vec of its own.
    let spill = |n: usize| {
        if n > INLINE {
            n * (std::mem::size_of::<Scored<u32>>() + 1)
        } else {
            0
        }
    };
    let upper = (links + spill(params.m) + 24).div_ceil(params.m.max(2) - 1);
    dim * 4 + links + spill(2 * params.m) + upper + 24 + 32
}

impl MemGraph {
    /// An empty graph for elements with the given vectors (flat, `dim` per element) and levels.
    pub fn new(
        dim: usize,
        metric: Metric,
        params: Params,
        vectors: Vec<f32>,
        levels: Vec<u8>,
    ) -> MemGraph {
        let empty = |lc: usize| {
            RwLock::new(Links {
                list: SmallVec::with_capacity(params.max_neighbors(lc)),
                diverse: SmallVec::new(),
            })
        };
        let layer0 = levels.iter().map(|_| empty(0)).collect();
        let upper = levels
            .iter()
            .map(|l| (1..=*l as usize).map(empty).collect())
            .collect();
        MemGraph {
            dim,
            metric,
            params,
            vectors,
            levels,
            layer0,
            upper,
            entry: RwLock::new(None),
            order: None,
        }
    }

    /// Stores every vector with its dimensions in descending order of variance (measured on up
    /// to 10,000 elements), when the metric is L2 and a vector is longer than one block of
    /// [`crate::distance::l2_squared_until`]. L2 distances do not change (the same dimensions
    /// are added up), but the dimensions that differ most come first, so the build's bounded
    /// comparisons are abandoned sooner: on MNIST (784-d, whose first and last pixels are
    /// nearly always blank) the first 128 positions then carry 46% of the variance, and the
    /// graph builds about 15% faster. Call it before inserting anything. Afterwards the
    /// queries a caller passes to this graph's [`GraphView`] methods must be in the stored
    /// order ([`MemGraph::stored`] gives an element's); [`MemGraph::vector`] still gives the
    /// original order.
    pub fn reorder_dimensions(&mut self) {
        let dim = self.dim;
        if self.metric != Metric::L2 || dim <= crate::distance::UNTIL_BLOCK || self.is_empty() {
            return;
        }
        let n = self.len();
        let step = n.div_ceil(10_000);
        let (mut mean, mut sq) = (vec![0f64; dim], vec![0f64; dim]);
        let mut count = 0f64;
        for v in self.vectors.chunks_exact(dim).step_by(step) {
            for (j, &x) in v.iter().enumerate() {
                mean[j] += x as f64;
                sq[j] += x as f64 * x as f64;
            }
            count += 1.0;
        }
        let var: Vec<f64> = (0..dim)
            .map(|j| sq[j] / count - (mean[j] / count).powi(2))
            .collect();
        let mut order: Vec<u32> = (0..dim as u32).collect();
        order.sort_by(|&a, &b| var[b as usize].total_cmp(&var[a as usize]).then(a.cmp(&b)));
        let mut tmp = vec![0f32; dim];
        for v in self.vectors.chunks_exact_mut(dim) {
            for (t, &j) in tmp.iter_mut().zip(&order) {
                *t = v[j as usize];
            }
            v.copy_from_slice(&tmp);
        }
        self.order = Some(order);
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Element `id`'s vector as the graph stores and compares it: in the original dimension
    /// order unless [`MemGraph::reorder_dimensions`] reordered it. The query to pass to this
    /// graph's searches for the element itself.
    pub fn stored(&self, id: u32) -> &[f32] {
        let i = id as usize * self.dim;
        &self.vectors[i..i + self.dim]
    }

    /// A query in original dimension order, in the order this graph stores (and compares).
    pub fn to_stored<'q>(&self, query: &'q [f32]) -> std::borrow::Cow<'q, [f32]> {
        match &self.order {
            None => std::borrow::Cow::Borrowed(query),
            Some(order) => order.iter().map(|&j| query[j as usize]).collect(),
        }
    }

    /// Element `id`'s vector in its original dimension order (what goes on pages).
    pub fn vector(&self, id: u32) -> std::borrow::Cow<'_, [f32]> {
        let v = self.stored(id);
        match &self.order {
            None => std::borrow::Cow::Borrowed(v),
            Some(order) => {
                let mut out = vec![0f32; self.dim];
                for (&x, &j) in v.iter().zip(order) {
                    out[j as usize] = x;
                }
                std::borrow::Cow::Owned(out)
            }
        }
    }

    pub fn level(&self, id: u32) -> usize {
        self.levels[id as usize] as usize
    }

    /// The entry point (top element) and its level.
    pub fn entry(&self) -> Option<(u32, usize)> {
        *self.entry.read().unwrap_or_else(|e| e.into_inner())
    }

    /// `id`'s list on `level`, if it reaches that level.
    #[inline]
    fn links(&self, id: u32, level: usize) -> Option<&RwLock<Links>> {
        match level {
            0 => self.layer0.get(id as usize),
            l => self.upper.get(id as usize)?.get(l - 1),
        }
    }

    /// All neighbour lists of `id`, level 0 first.
    pub fn neighbor_lists(&self, id: u32) -> Vec<Vec<u32>> {
        (0..=self.level(id))
            .filter_map(|l| self.links(id, l))
            .map(|l| {
                let l = l.read().unwrap_or_else(|e| e.into_inner());
                l.list.iter().map(|s| s.id).collect()
            })
            .collect()
    }

    /// Algorithm 1 (INSERT): links element `q` into the graph. Safe to call from many threads
    /// at once for different elements.
    pub fn insert(&self, q: u32) {
        let level = self.level(q);
        let entry = {
            let mut e = self.entry.write().unwrap_or_else(|e| e.into_inner());
            match *e {
                None => {
                    *e = Some((q, level));
                    return;
                }
                Some(x) => x,
            }
        };
        let (ep, top) = entry;
        self.link_in(q, ep, top);
        if level > top {
            let mut e = self.entry.write().unwrap_or_else(|e| e.into_inner());
            if e.is_none_or(|(_, l)| level > l) {
                *e = Some((q, level));
            }
        }
    }

    /// Algorithm 1, lines 1-16: finds `q`'s neighbours on each of its levels (searched from
    /// `ep`, the entry point at level `top`), sets them as `q`'s lists and links them back.
    fn link_in(&self, q: u32, ep: u32, top: usize) {
        // Find the neighbours on every level first, then publish the element's own lists, then
        // link back. An element must not become reachable (through a back link) before all its
        // own lists exist: a concurrent search entering it would find an empty layer-0 list and
        // link its element to almost nothing.
        let chosen_per_level = VISITED.with_borrow_mut(|visited| {
            visited.ensure(self.len());
            neighbors_for_insert(
                self,
                visited,
                q,
                self.stored(q),
                self.level(q),
                ep,
                top,
                &self.params,
                |_| true,
            )
        });
        for (lc, chosen) in &chosen_per_level {
            *self
                .links(q, *lc)
                .expect("a level of the element")
                .write()
                .unwrap_or_else(|e| e.into_inner()) = Links {
                list: SmallVec::from_slice(chosen),
                diverse: SmallVec::new(),
            };
        }
        for (lc, chosen) in &chosen_per_level {
            for n in chosen {
                self.link(n.id, q, n.dist, *lc);
            }
        }
    }

    /// Adds the edge `from -> to` on `level` (distance `dist`), shrinking `from`'s list with the
    /// heuristic when it overflows.
    fn link(&self, from: u32, to: u32, dist: f32, level: usize) {
        let max = self.params.max_neighbors(level);
        let Some(list) = self.links(from, level) else {
            return;
        };
        let mut links = list.write().unwrap_or_else(|e| e.into_inner());
        if links.list.iter().any(|s| s.id == to) {
            return;
        }
        let new = Scored { dist, id: to };
        if links.list.len() < max {
            links.list.push(new);
            links.diverse.clear();
            return;
        }
        let (list, diverse) = if links.diverse.len() == links.list.len() {
            select::reselect(self, &links.list, &links.diverse, new, max)
        } else {
            let mut cands = links.list.to_vec();
            cands.push(new);
            select::select_neighbors_flagged(self, &cands, max)
        };
        *links = Links {
            list: SmallVec::from_vec(list),
            diverse: SmallVec::from_vec(diverse),
        };
    }
}

impl MemGraph {
    /// What the build compares: the metric's distance, except that L2 is left squared (the
    /// same order, no square root per distance). Nothing the build compares leaves the build:
    /// the pages store neighbour references, not distances.
    #[inline]
    fn compare(&self, a: &[f32], b: &[f32]) -> f32 {
        self.compare_until(a, b, f32::INFINITY)
    }

    /// [`Self::compare`], abandoned past `bound` for L2 (see
    /// [`crate::distance::l2_squared_until`]; every L2 distance of the build goes through it, so
    /// the same pair always gets the same value). Other metrics are computed exactly.
    #[inline]
    fn compare_until(&self, a: &[f32], b: &[f32], bound: f32) -> f32 {
        match self.metric {
            Metric::L2 => crate::distance::l2_squared_until(a, b, bound as f64) as f32,
            m => m.distance(a, b) as f32,
        }
    }

    /// Whether `id`'s list on `level` has a free slot.
    pub fn has_room(&self, id: u32, level: usize) -> bool {
        self.links(id, level).is_some_and(|l| {
            l.read().unwrap_or_else(|e| e.into_inner()).list.len()
                < self.params.max_neighbors(level)
        })
    }

    /// Whether `id`'s list on `level` holds a neighbour the heuristic only kept to fill a slot.
    pub fn has_filler(&self, id: u32, level: usize) -> bool {
        self.links(id, level).is_some_and(|l| {
            self.filler(&l.read().unwrap_or_else(|e| e.into_inner()))
                .is_some()
        })
    }

    /// The furthest neighbour in `links` that the heuristic does not keep as diverse (its
    /// position in the list).
    fn filler(&self, links: &Links) -> Option<usize> {
        let computed;
        let flags: &[bool] = if links.diverse.len() == links.list.len() {
            &links.diverse
        } else {
            computed = select::diversity_flags(self, &links.list);
            &computed
        };
        (0..links.list.len())
            .filter(|&i| !flags[i])
            .max_by_key(|&i| links.list[i])
    }

    /// Adds the edge `from -> to` on `level` (distance `dist`) whatever the heuristic would say:
    /// into a free slot, else in place of the furthest neighbour kept only to fill a slot. Returns
    /// whether the edge is there (false when the list is full of diverse neighbours). For
    /// [`super::connect`], on a graph no other thread is changing.
    pub fn force_link(&self, from: u32, to: u32, dist: f32, level: usize) -> bool {
        let max = self.params.max_neighbors(level);
        let Some(list) = self.links(from, level) else {
            return false;
        };
        let mut links = list.write().unwrap_or_else(|e| e.into_inner());
        if links.list.iter().any(|s| s.id == to) {
            return true;
        }
        let new = Scored { dist, id: to };
        if links.list.len() < max {
            links.list.push(new);
        } else if let Some(i) = self.filler(&links) {
            links.list[i] = new;
        } else {
            return false;
        }
        links.diverse.clear();
        true
    }
}

impl GraphView for MemGraph {
    type Id = u32;

    fn distance(&self, query: &[f32], id: u32) -> f32 {
        self.compare(query, self.stored(id))
    }

    fn distance_between(&self, a: u32, b: u32) -> f32 {
        self.compare(self.stored(a), self.stored(b))
    }

    /// L2 sums stop past their bound (`compare_until`).
    fn bounds_distances(&self) -> bool {
        true
    }

    fn distance_until(&self, query: &[f32], id: u32, bound: f32) -> f32 {
        self.compare_until(query, self.stored(id), bound)
    }

    fn distance_between_until(&self, a: u32, b: u32, bound: f32) -> f32 {
        self.compare_until(self.stored(a), self.stored(b), bound)
    }

    fn prefetch(&self, id: u32) {
        crate::distance::simd::prefetch(self.stored(id));
    }

    fn prefetch_neighbors(&self, id: u32, level: usize) {
        if let Some(l) = self.links(id, level) {
            // The lock word and the start of the inline list.
            crate::distance::simd::prefetch_bytes(
                (l as *const RwLock<Links>).cast(),
                std::mem::size_of::<RwLock<Links>>().min(192),
            );
        }
    }

    fn neighbors_into(&self, id: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        if let Some(l) = self.links(id, level) {
            out.extend(
                l.read()
                    .unwrap_or_else(|e| e.into_inner())
                    .list
                    .iter()
                    .map(|s| s.id),
            );
        }
    }
}

/// Inserts elements `range` into `graph` on the current rayon pool, in order (see
/// [`build_parallel_in`]).
pub fn build_parallel(
    graph: &MemGraph,
    range: std::ops::Range<u32>,
    done: &AtomicUsize,
    cancel: &AtomicBool,
) {
    let order: Vec<u32> = range.collect();
    build_parallel_in(graph, &order, done, cancel);
}

/// Inserts the elements `order` lists into `graph` on the current rayon pool, roughly in that
/// order (rayon splits it between the threads, each taking its part in order), counting
/// finished inserts in `done` and stopping (leaving the rest uninserted) once `cancel` is set.
/// The first element of an empty graph is inserted alone, so the others always find an entry
/// point.
pub fn build_parallel_in(graph: &MemGraph, order: &[u32], done: &AtomicUsize, cancel: &AtomicBool) {
    let mut rest = order;
    if graph.entry().is_none() {
        if let Some((&first, tail)) = order.split_first() {
            graph.insert(first);
            done.fetch_add(1, Ordering::Relaxed);
            rest = tail;
        }
    }
    rest.par_iter().for_each(|&i| {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        graph.insert(i);
        done.fetch_add(1, Ordering::Relaxed);
    });
}
