//! Joining islands after a build (ours; the idea is Lucene's `connectComponents`).
//!
//! The heuristic (Algorithm 4) is meant to keep edges between clusters, but it only sees the
//! candidates an insert's search found, and once a cluster holds more than `ef_construction`
//! elements every candidate of a new element lies in its own cluster. Edges to other clusters
//! then exist only from the first elements inserted, and as their lists overflow the heuristic
//! drops those long edges too: in a neighbour list full of elements of its own cluster, some
//! kept neighbour is nearly always closer to the far element than the base element is. On data
//! made of tight, well separated clusters (tenants, languages, near-duplicate families) whole
//! clusters end up with no incoming edge on a layer. Plain queries still reach them through the
//! upper layers, but the index scan's continuation, which walks layer 0 for as long as a
//! filter discards rows, would never enter them. In a 12-cluster test set (3,000 rows, one
//! thread) half the builds left such an island on layer 0.
//!
//! [`connect_islands`] runs once the parallel build is done. On each upper level, every element
//! is checked with the greedy descent a query takes (Algorithm 5's first loop) for its own
//! vector; where the descent stops at another element, that element gets an edge to it. On
//! layer 0 it marks what the entry point reaches; each element left unmarked gets one incoming
//! edge from the closest marked element that can take it: the element is searched for from the
//! entry point like an insert would (descent, then a layer search `ef_construction` wide, which
//! only ever finds marked elements), and the first result with a free slot takes the edge;
//! failing that, the first whose list has a neighbour the heuristic kept only to fill a slot
//! (one another kept neighbour covers) gives up that one. Everything the newly linked element
//! reaches is marked in turn, so one edge usually joins a whole island. The pass is serial and
//! costs a greedy descent per upper-level element (a sixteenth of them), a walk of layer 0 and
//! one search per island: about 1% of a build.
//!
//! (Re-inserting every element a search for its own vector misses was tried too: it found
//! 25-30% of the rows of a 100,000-row Gaussian mixture with a greedy check and took 40% of
//! the build's time, for recall 0.996 -> 0.9975 at `ef_search = 40`; a wider check found few
//! but cost as much. The wide insert descent, [`super::Params::descent_width`], does most of
//! that work at no extra cost.)
use super::fxhash::FxHashSet;
use super::memory::MemGraph;
use super::search::{descend, search_layer};
use super::{GraphView, Scored};

/// What [`connect_islands`] did, per level (index = level): edges added, and elements it could
/// not help (no candidate element could take an edge).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Joined {
    pub per_level: Vec<usize>,
    pub unjoined: Vec<usize>,
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
    out.unjoined = vec![0; top + 1];
    let n = g.len() as u32;
    for level in (1..=top).rev() {
        for u in 0..n {
            if g.level(u) < level {
                continue;
            }
            if u % 1024 == 0 && cancelled() {
                return out;
            }
            let q = g.stored(u);
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
                out.unjoined[level] += 1;
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
            _ => out.unjoined[0] += 1,
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
    let q = g.stored(u);
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
