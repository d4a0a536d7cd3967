//! A search that never has to stop: it yields elements one at a time, closest first as far as the
//! graph lets it know, for as long as the caller keeps asking.
//!
//! This is what lets an index scan serve `WHERE ... ORDER BY v <-> q LIMIT k` when the executor
//! throws most rows away (filters, row-level security, dead tuples): instead of a fixed `ef`
//! window, layer 0 is explored best-first without bound. Every discovered element sits in the
//! result heap R, every unexpanded one in the candidate heap C; the closest element of R is
//! yielded once every candidate in C is strictly further (so everything as near, itself
//! included, has been expanded), otherwise the closest candidate is expanded first. The first results come from an ordinary `ef`-wide
//! layer search, continued exactly where it stopped (no element is evaluated twice), so an
//! unfiltered query costs what a plain HNSW search costs.
//!
//! Graph search is approximate: expanding a distant candidate can still reveal an element closer
//! than one already yielded. Such late elements are reported as such ([`Next::Late`]) so the
//! caller can decide (the index scan keeps result order strict and sets them aside). When the
//! reachable graph is exhausted the stream ends; elements the graph never reached are the
//! caller's to sweep up (the index scan does, so no row is ever silently lost).
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::fxhash::FxHashSet as HashSet;

use super::search::{search_layer_state, LayerSearch};
use super::upper::{descend_through, UpperLayers};
use super::visited::VisitedSet;
use super::{GraphView, Scored};

/// Room per unit of `ef` in the visited set and the record of a layer-0 search, allocated up
/// front so they do not rehash while it runs (rehashing was 4% of a scan's profile). A search
/// expands somewhat more than `ef` elements, each bringing the unvisited part of up to 2m
/// neighbours; an estimate, not a bound (the sets grow past it if they must).
pub const VISITS_PER_EF: usize = 16;

/// What [`Stream::next`] produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next<I> {
    /// The next element, no closer than anything yielded before.
    InOrder(Scored<I>),
    /// An element closer than one already yielded (the graph revealed it late).
    Late(Scored<I>),
}

/// What the window search found beyond its best, held until the heaps are built.
struct Pending<I> {
    discovered: Vec<Scored<I>>,
    expanded: Vec<I>,
    /// Discovered elements with only a lower bound for a distance (see `LayerSearch::inexact`).
    inexact: Vec<I>,
}

pub struct Stream<I, V = HashSet<I>> {
    /// The window search's `ef` best, closest last (popped from the end), yielded before the
    /// heaps below are built (see [`Stream::start`]).
    ready: Vec<Scored<I>>,
    /// The furthest of the window search's best: every other element the window search
    /// discovered, expanded or not, is at least this far.
    bound: f32,
    /// No other discovered element is exactly as far as the furthest of the best (no tie at
    /// `bound`), so it too comes out of `ready` (see [`Stream::next`]).
    furthest_alone: bool,
    /// The window search's frontier and the rest of what it discovered, not yet in the heaps.
    pending: Option<Pending<I>>,
    /// What was yielded from `ready`, to leave out of the results heap when it is built.
    yielded: Vec<I>,
    visited: V,
    candidates: BinaryHeap<Reverse<Scored<I>>>,
    results: BinaryHeap<Reverse<Scored<I>>>,
    last: f32,
    /// The neighbours of the element being expanded (one buffer for the whole stream).
    expanding: Vec<I>,
    /// Their distances.
    dists: Vec<f32>,
    /// Elements whose distance was computed.
    pub computed: usize,
}

impl<I: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug> Stream<I> {
    /// [`Stream::start_with`] a hash set.
    pub fn start<G: GraphView<Id = I>>(
        g: &G,
        query: &[f32],
        entry: I,
        entry_level: usize,
        ef: usize,
    ) -> Stream<I> {
        let visited = HashSet::with_capacity_and_hasher(ef * VISITS_PER_EF, Default::default());
        Stream::start_with(g, None, query, entry, entry_level, ef, visited)
    }
}

impl<I: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug, V: VisitedSet<I>> Stream<I, V> {
    /// Starts a search for `query` from the entry point: an `ef / 8`-wide descent through the
    /// upper layers (on `upper`, a current copy of some of them, where it can: see
    /// [`descend_through`]), then an `ef`-wide search of layer 0 whose results and frontier seed
    /// the stream. `visited` is the (empty) set the searches fill; the stream keeps it.
    pub fn start_with<G: GraphView<Id = I>>(
        g: &G,
        upper: Option<&UpperLayers<I>>,
        query: &[f32],
        entry: I,
        entry_level: usize,
        ef: usize,
        mut visited: V,
    ) -> Stream<I, V> {
        // The upper layers are searched an eighth as wide as layer 0 (see `descend_wide`: a greedy
        // descent can end in the wrong island of a graph that churn has fragmented).
        let near = descend_through(
            upper,
            g,
            query,
            entry,
            entry_level,
            (ef / 8).max(1),
            &mut visited,
        );
        visited.clear();
        let layer = search_layer_state(g, query, &near, ef, 0, &mut visited, true);
        // Continue exactly where the window search stopped: everything it computed a distance
        // for is a result to yield (once), everything it did not expand is still a candidate.
        //
        // The search's best are all nearer than (or as near as) everything else it discovered,
        // frontier included: an element left out of the best was, when found or when pushed
        // out, at least as far as the best's furthest then, which only shrinks; the search
        // stopped with its nearest unexpanded candidate further than that. So the best closer
        // than their furthest come out in order with no heap at all, and the heaps (built from
        // about 16 times `ef` elements) are only built if the caller reads that far, which an
        // unfiltered `LIMIT k` query never does.
        let bound = layer.best.last().map_or(f32::INFINITY, |s| s.dist);
        let furthest_alone = layer.discovered.iter().filter(|s| s.dist == bound).count() == 1;
        let mut ready = layer.best;
        ready.reverse();
        Stream {
            computed: visited.len(),
            visited,
            ready,
            bound,
            furthest_alone,
            pending: Some(Pending {
                discovered: layer.discovered,
                expanded: layer.expanded,
                inexact: layer.inexact,
            }),
            yielded: Vec::new(),
            candidates: BinaryHeap::new(),
            results: BinaryHeap::new(),
            last: f32::NEG_INFINITY,
            expanding: Vec::new(),
            dists: Vec::new(),
        }
    }

    /// Moves what [`Stream::start`] left pending into the heaps: the frontier as candidates,
    /// every discovered element not yet yielded as a result, each with its exact distance (the
    /// window search may have settled some with a lower bound: they are computed now).
    pub(super) fn fill_heaps<G: GraphView<Id = I>>(&mut self, g: &G, query: &[f32]) {
        let Some(Pending {
            mut discovered,
            expanded,
            inexact,
        }) = self.pending.take()
        else {
            return;
        };
        if !inexact.is_empty() {
            let ids: Vec<I> = inexact
                .into_iter()
                .collect::<HashSet<I>>()
                .into_iter()
                .collect();
            g.distances(query, &ids, f32::INFINITY, &mut self.dists);
            self.computed += ids.len();
            let exact: super::fxhash::FxHashMap<I, f32> =
                ids.into_iter().zip(self.dists.iter().copied()).collect();
            for s in &mut discovered {
                if let Some(&d) = exact.get(&s.id) {
                    s.dist = d;
                }
            }
        }
        let frontier = LayerSearch::frontier(&discovered, &expanded);
        // `discovered` holds everything, the best already yielded from `ready` included.
        let yielded: HashSet<I> = self.yielded.drain(..).collect();
        self.results = discovered
            .into_iter()
            .filter(|s| !yielded.contains(&s.id))
            .map(Reverse)
            .collect();
        self.candidates = frontier.into_iter().map(Reverse).collect();
        self.ready = Vec::new();
    }

    /// The next element, or `None` when the reachable graph is exhausted.
    pub fn next<G: GraphView<Id = I>>(&mut self, g: &G, query: &[f32]) -> Option<Next<I>> {
        if self.pending.is_some() {
            // The furthest of the best too when nothing ties with it: the window search
            // expanded every one of its best (it stopped at a candidate further than all of
            // them), and everything else it found is further, so a window as wide as the rows
            // wanted gives them all without the heaps.
            let last = self.ready.len() == 1 && self.furthest_alone;
            match self.ready.last() {
                Some(&r) if r.dist < self.bound || last => {
                    self.ready.pop();
                    self.yielded.push(r.id);
                    self.last = r.dist;
                    return Some(Next::InOrder(r));
                }
                _ => self.fill_heaps(g, query),
            }
        }
        loop {
            let r = self.results.peek().map(|x| x.0);
            let c = self.candidates.peek().map(|x| x.0);
            let yield_result = match (r, c) {
                // Strictly closer: an element is expanded before it is yielded, so entering a
                // region at its edge explores inward before yielding the edge.
                (Some(r), Some(c)) => r.dist < c.dist,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if let (true, Some(r)) = (yield_result, r) {
                self.results.pop();
                if r.dist < self.last {
                    return Some(Next::Late(r));
                }
                self.last = r.dist;
                return Some(Next::InOrder(r));
            }
            let c = c?;
            self.candidates.pop();
            g.neighbors_into(c.id, 0, &mut self.expanding);
            super::visited::keep_unvisited(&mut self.expanding, &mut self.visited);
            g.distances(query, &self.expanding, f32::INFINITY, &mut self.dists);
            for (&n, &dist) in self.expanding.iter().zip(&self.dists) {
                let s = Scored { dist, id: n };
                self.computed += 1;
                self.results.push(Reverse(s));
                self.candidates.push(Reverse(s));
            }
        }
    }

    /// Whether `id` has been reached by this search.
    pub fn visited(&self, id: &I) -> bool {
        self.visited.contains(id)
    }

    /// Distance of the last in-order result (negative infinity before the first).
    pub fn last_distance(&self) -> f32 {
        self.last
    }
}
