//! Repairs after a build: strays re-linked, islands joined (ours; the second idea is Lucene's
//! `connectComponents`).
//!
//! **Strays.** An insert whose descent ends in the wrong cluster searches layer 0 there, links
//! the element to strangers, and none of its real neighbours ever links to it (their later
//! searches do not find it). On tight, well separated clusters a few builds in forty left up
//! to 1% of the rows unfindable even at `ef_search = 200`, in groups inserted while the route
//! into their cluster was missing. [`relink_strays`] checks every element with a cheap greedy
//! search for its own vector in the finished graph (about a twentieth of the build's distance
//! work) and inserts the ones it misses again: in the finished graph the search reaches their
//! cluster, so they get real neighbours that link back. Some the greedy check misses are
//! perfectly findable by a real search; re-inserting them costs a little and changes nothing.
//!
//! The heuristic (Algorithm 4) is meant to keep edges between clusters, but it only sees the
//! candidates an insert's search found, and once a cluster holds more than `ef_construction`
//! elements every candidate of a new element lies in its own cluster. Edges to other clusters
//! then exist only from the first elements inserted, and as their lists overflow the heuristic
//! drops those long edges too: in a neighbour list full of elements of its own cluster, some
//! kept neighbour is nearly always closer to the far element than the base element is. On data
//! made of tight, well separated clusters (tenants, languages, near-duplicate families) whole
//! clusters end up with no incoming edge on a layer, and a query near such a cluster is routed
//! into another one and never comes back: a wider `ef` does not help. In the regression test's
//! 12-cluster set, 6 builds in 20 left a layer-0 island, and up to 4% of rows failed to find
//! themselves even at `ef_search = 200`.
//!
//! After the parallel build, for each level from the top down, this pass marks what the entry
//! point reaches on that level (following edges only on it). Each element left unmarked gets
//! one incoming edge from the closest marked element that can take it: the element is searched
//! for from the entry point like an insert would (descent, then a layer search `ef_construction`
//! wide, which only ever finds marked elements), and the first result with a free slot on that
//! level takes the edge; failing that, the first whose list has a neighbour the heuristic kept
//! only to fill a slot (one another kept neighbour covers) gives up that one. Everything the
//! newly linked element reaches is marked in turn, so one edge usually joins a whole island.
//! The pass is serial and costs a graph walk per level plus one search per island.
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::fxhash::FxHashSet;
use super::memory::MemGraph;
use super::search::{descend, search_layer};
use super::{GraphView, Scored};
use crate::distance::Metric;

/// Re-inserts every element a greedy search for its own vector does not end at (see the
/// module comment), on the current rayon pool; returns how many. Under the inner product an
/// element need not be its own nearest neighbour, so nothing is checked there. Stops when
/// `cancel` is raised.
pub fn relink_strays(g: &MemGraph, cancel: &AtomicBool) -> usize {
    if g.metric == Metric::InnerProduct {
        return 0;
    }
    let strays: Vec<u32> = (0..g.len() as u32)
        .into_par_iter()
        .filter(|&q| !cancel.load(Ordering::Relaxed) && !g.finds_itself(q))
        .collect();
    strays.par_iter().for_each(|&q| {
        if !cancel.load(Ordering::Relaxed) {
            g.relink(q);
        }
    });
    strays.len()
}

/// What [`connect_islands`] did: islands joined per level (index = level) and elements it could
/// not join (no reachable element could take an edge).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Joined {
    pub per_level: Vec<usize>,
    pub unjoined: usize,
}

/// Joins the islands of `g` (see the module comment): on each upper level, every element is
/// made findable by a greedy descent for its own vector; on layer 0, every element is made
/// reachable from the entry point. `cancelled` is polled between elements.
pub fn connect_islands(g: &MemGraph, cancelled: impl Fn() -> bool) -> Joined {
    let mut out = Joined::default();
    let Some((entry, top)) = g.entry() else {
        return out;
    };
    out.per_level = vec![0; top + 1];
    let n = g.len() as u32;
    for level in (1..=top).rev() {
        for u in 0..n {
            if g.level(u) < level {
                continue;
            }
            if u % 1024 == 0 && cancelled() {
                return out;
            }
            let q = g.vector(u);
            let start = Scored {
                dist: g.distance(q, entry),
                id: entry,
            };
            let end = descend(g, q, start, top, level - 1);
            if end.id == u {
                continue;
            }
            if g.force_link(end.id, u, end.dist, level) {
                out.per_level[level] += 1;
            } else {
                out.unjoined += 1;
            }
        }
    }
    let mut reached = vec![false; n as usize];
    mark_from(g, entry, 0, &mut reached);
    for u in 0..n {
        if reached[u as usize] {
            continue;
        }
        if cancelled() {
            return out;
        }
        match closest_taker(g, u, entry, top, 0, &reached) {
            Some(from) if g.force_link(from.id, u, from.dist, 0) => {
                out.per_level[0] += 1;
                mark_from(g, u, 0, &mut reached);
            }
            _ => out.unjoined += 1,
        }
    }
    out
}

/// Marks everything reachable from `start` on `level` (depth-first, edges on that level only).
fn mark_from(g: &MemGraph, start: u32, level: usize, reached: &mut [bool]) {
    if reached[start as usize] {
        return;
    }
    reached[start as usize] = true;
    let mut stack = vec![start];
    while let Some(x) = stack.pop() {
        for y in g.neighbors(x, level) {
            if !reached[y as usize] {
                reached[y as usize] = true;
                stack.push(y);
            }
        }
    }
}

/// The element, among those the entry point reaches on `level`, closest to `u` whose list on
/// `level` can take an edge to `u` (see the module comment); `dist` is its distance to `u`.
/// The search starts where an insert's would (the greedy descent's end) when that element is
/// marked, else at the entry point itself, so it only walks marked elements.
fn closest_taker(
    g: &MemGraph,
    u: u32,
    entry: u32,
    top: usize,
    level: usize,
    reached: &[bool],
) -> Option<Scored<u32>> {
    let q = g.vector(u);
    let start = Scored {
        dist: g.distance(q, entry),
        id: entry,
    };
    let mut near = descend(g, q, start, top, level);
    if !reached[near.id as usize] {
        near = start;
    }
    let mut visited = FxHashSet::default();
    let found = search_layer(g, q, &[near], g.params.ef_construction, level, &mut visited);
    let found: Vec<Scored<u32>> = found
        .into_iter()
        .filter(|s| s.id != u && reached[s.id as usize])
        .collect();
    found
        .iter()
        .find(|s| g.has_room(s.id, level))
        .or_else(|| found.iter().find(|s| g.has_filler(s.id, level)))
        .copied()
}
