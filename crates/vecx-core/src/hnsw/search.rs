//! Searching one layer (Algorithm 2, SEARCH-LAYER) and the greedy descent through the upper
//! layers (the first loop of Algorithm 5, K-NN-SEARCH).
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::fxhash::FxHashSet as HashSet;

use super::visited::Visited;
use super::{GraphView, Scored};

/// Everything a layer search learned: its `ef` best results (sorted), every element it
/// computed a distance for, and which of those it expanded (what a continuation needs to know
/// where to start: [`LayerSearch::frontier`]).
pub struct LayerSearch<I> {
    pub best: Vec<Scored<I>>,
    /// Every discovered element, expanded or not, with its distance.
    pub discovered: Vec<Scored<I>>,
    /// The elements whose neighbours were read.
    pub expanded: Vec<I>,
    /// Discovered elements whose distance is only a lower bound: found when the search already
    /// had `ef` results, no closer than the furthest of them, so the graph was free to stop
    /// computing there (see `GraphView::distances`). None of them is among `best`; a
    /// continuation computes their exact distances before it orders them.
    pub inexact: Vec<I>,
}

impl<I: Copy + Eq + std::hash::Hash> LayerSearch<I> {
    /// The discovered elements whose neighbours were not read, with their distances: where a
    /// continuation starts. Worked out only when asked (a scan asks only when the caller reads
    /// past the search's best, which an unfiltered `LIMIT k` query never does).
    pub fn frontier(discovered: &[Scored<I>], expanded: &[I]) -> Vec<Scored<I>> {
        let expanded: HashSet<I> = expanded.iter().copied().collect();
        discovered
            .iter()
            .copied()
            .filter(|s| !expanded.contains(&s.id))
            .collect()
    }
}

/// Algorithm 2: best-first search of `level` from `entry`, keeping the `ef` closest elements
/// found. Returns them sorted by ascending distance. `visited` persists across calls so a caller
/// can continue a search.
pub fn search_layer<G: GraphView>(
    g: &G,
    query: &[f32],
    entry: &[Scored<G::Id>],
    ef: usize,
    level: usize,
    visited: &mut impl Visited<G::Id>,
) -> Vec<Scored<G::Id>> {
    search_layer_state(g, query, entry, ef, level, visited, false).best
}

/// Algorithm 2, optionally recording what a continuation needs (`record`): the discovered
/// elements and which of them were never expanded.
pub fn search_layer_state<G: GraphView>(
    g: &G,
    query: &[f32],
    entry: &[Scored<G::Id>],
    ef: usize,
    level: usize,
    visited: &mut impl Visited<G::Id>,
    record: bool,
) -> LayerSearch<G::Id> {
    let ef = ef.max(1);
    // C: candidates to expand (closest first); W: the ef best found (furthest on top).
    let mut candidates: BinaryHeap<Reverse<Scored<G::Id>>> = BinaryHeap::with_capacity(2 * ef);
    let mut best: BinaryHeap<Scored<G::Id>> = BinaryHeap::with_capacity(ef + 1);
    let mut neighbors = Vec::new();
    let mut dists = Vec::new();
    // Sized for a continuation's record of a typical search (see `stream::VISITS_PER_EF`).
    // A record needs to know which distances are only lower bounds: only from a graph that
    // returns such (otherwise the record's distances are all exact and the bound is not passed).
    let bounded = !record || g.bounds_distances();
    let mut inexact = Vec::with_capacity(if record && bounded {
        ef * super::stream::VISITS_PER_EF
    } else {
        0
    });
    let (mut discovered, mut expanded) = if record {
        (
            Vec::with_capacity(ef * super::stream::VISITS_PER_EF),
            Vec::with_capacity(2 * ef),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    for e in entry {
        if visited.insert(e.id) {
            candidates.push(Reverse(*e));
            best.push(*e);
            if record {
                discovered.push(*e);
            }
        }
    }
    while best.len() > ef {
        best.pop();
    }
    while let Some(Reverse(c)) = candidates.pop() {
        let furthest = best.peek().map_or(f32::INFINITY, |f| f.dist);
        if c.dist > furthest && best.len() >= ef {
            break; // every remaining candidate is further than the worst kept result
        }
        if record {
            expanded.push(c.id);
        }
        g.neighbors_into(c.id, level, &mut neighbors);
        // The closest candidate left is the next to expand unless one of these neighbours
        // turns out closer: start loading its list now, while their distances are computed.
        if let Some(Reverse(next)) = candidates.peek() {
            g.prefetch_neighbors(next.id, level);
        }
        // The unvisited neighbours, marked visited, their distances computed all at once.
        super::visited::keep_unvisited(&mut neighbors, visited);
        // A neighbour at least as far as the furthest kept result (once there are `ef`) is
        // dropped whatever its exact distance, so the graph may stop computing it there; a
        // record notes which distances may be only lower bounds (those above the bound).
        let bound = match best.peek() {
            Some(f) if bounded && best.len() >= ef => f.dist,
            _ => f32::INFINITY,
        };
        g.distances(query, &neighbors, bound, &mut dists);
        for (&n, &d) in neighbors.iter().zip(&dists) {
            let s = Scored { dist: d, id: n };
            if record {
                discovered.push(s);
                if d > bound {
                    inexact.push(n);
                }
            }
            let furthest = best.peek().map_or(f32::INFINITY, |f| f.dist);
            if best.len() < ef || d < furthest {
                candidates.push(Reverse(s));
                best.push(s);
                if best.len() > ef {
                    best.pop();
                }
            }
        }
    }
    LayerSearch {
        best: best.into_sorted_vec(),
        discovered,
        expanded,
        inexact,
    }
}

/// Greedy descent (Algorithm 5, first loop): from `entry` on `from_level` down to
/// `to_level + 1`, moving to the closest neighbour while one is closer. Returns the closest
/// element found on `to_level + 1`.
pub fn descend<G: GraphView>(
    g: &G,
    query: &[f32],
    entry: Scored<G::Id>,
    from_level: usize,
    to_level: usize,
) -> Scored<G::Id> {
    let mut cur = entry;
    let mut level = from_level;
    let (mut neighbors, mut dists) = (Vec::new(), Vec::new());
    while level > to_level {
        loop {
            let mut moved = false;
            g.neighbors_into(cur.id, level, &mut neighbors);
            // All of a list's distances at once (exact: no bound), which lets a graph share
            // work between them (see `GraphView::distances`).
            g.distances(query, &neighbors, f32::INFINITY, &mut dists);
            for (&n, &d) in neighbors.iter().zip(&dists) {
                if d < cur.dist {
                    cur = Scored { dist: d, id: n };
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        level -= 1;
    }
    cur
}

/// The upper layers searched `width` wide (Algorithm 5's first loop with `ef = width` instead
/// of 1): an ordinary layer search on each level from `from_level` down to `to_level + 1`,
/// every result seeding the next level. Returns the closest elements found on `to_level + 1`
/// (sorted), to seed the search below. `width <= 1` is the greedy [`descend`]. `visited` is
/// the set each level's search uses (emptied before each; the caller's, so it is allocated
/// once).
///
/// Why wider than the paper: after heavy churn (rows updated, deleted and vacuumed for a long
/// time) the layer-0 links between clusters, made when the first elements were inserted, can be
/// gone, and vacuum's repair only finds local replacements. Layer 0 then falls apart into
/// islands, one per cluster, some with no incoming edges; a greedy descent that ends one
/// cluster off traps the layer-0 search there at any `ef`. A wider upper-layer search seeds
/// layer 0 from every island the query is near.
#[allow(clippy::too_many_arguments)]
pub fn descend_wide<G: GraphView>(
    g: &G,
    query: &[f32],
    entry: Scored<G::Id>,
    from_level: usize,
    to_level: usize,
    width: usize,
    visited: &mut impl Visited<G::Id>,
) -> Vec<Scored<G::Id>> {
    descend_wide_from(g, query, vec![entry], from_level, to_level, width, visited)
}

/// [`descend_wide`] from `near` (sorted, closest first) found on `from_level + 1`, or the entry
/// point on `from_level`: how a descent continues on another graph where one left off (see
/// `upper::descend_through`). `from_level == to_level` returns `near` unchanged.
#[allow(clippy::too_many_arguments)]
pub fn descend_wide_from<G: GraphView>(
    g: &G,
    query: &[f32],
    mut near: Vec<Scored<G::Id>>,
    from_level: usize,
    to_level: usize,
    width: usize,
    visited: &mut impl Visited<G::Id>,
) -> Vec<Scored<G::Id>> {
    if width <= 1 {
        return match near.first() {
            Some(&cur) => vec![descend(g, query, cur, from_level, to_level)],
            None => near,
        };
    }
    for level in (to_level + 1..=from_level).rev() {
        visited.clear();
        let found = search_layer(g, query, &near, width, level, visited);
        if !found.is_empty() {
            near = found;
        }
    }
    near
}

/// Algorithm 5 (K-NN-SEARCH): descend to layer 1, search layer 0 with width `ef`, return the
/// `k` closest (sorted).
pub fn knn<G: GraphView>(
    g: &G,
    query: &[f32],
    entry: G::Id,
    entry_level: usize,
    k: usize,
    ef: usize,
) -> Vec<Scored<G::Id>> {
    let start = Scored {
        dist: g.distance(query, entry),
        id: entry,
    };
    let near = descend(g, query, start, entry_level, 0);
    let mut visited = HashSet::default();
    let mut found = search_layer(g, query, &[near], ef.max(k), 0, &mut visited);
    found.truncate(k);
    found
}
