//! Searching one layer (Algorithm 2, SEARCH-LAYER) and the greedy descent through the upper
//! layers (the first loop of Algorithm 5, K-NN-SEARCH).
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::fxhash::FxHashSet as HashSet;

use super::{GraphView, Scored};

/// Algorithm 2: best-first search of `level` from `entry`, keeping the `ef` closest elements
/// found. Returns them sorted by ascending distance. `visited` persists across calls so a caller
/// can continue a search.
pub fn search_layer<G: GraphView>(
    g: &G,
    query: &[f32],
    entry: &[Scored<G::Id>],
    ef: usize,
    level: usize,
    visited: &mut HashSet<G::Id>,
) -> Vec<Scored<G::Id>> {
    let ef = ef.max(1);
    // C: candidates to expand (closest first); W: the ef best found (furthest on top).
    let mut candidates: BinaryHeap<Reverse<Scored<G::Id>>> = BinaryHeap::new();
    let mut best: BinaryHeap<Scored<G::Id>> = BinaryHeap::new();
    for e in entry {
        if visited.insert(e.id) {
            candidates.push(Reverse(*e));
            best.push(*e);
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
        for n in g.neighbors(c.id, level) {
            if !visited.insert(n) {
                continue;
            }
            let d = g.distance(query, n);
            let furthest = best.peek().map_or(f32::INFINITY, |f| f.dist);
            if best.len() < ef || d < furthest {
                let s = Scored { dist: d, id: n };
                candidates.push(Reverse(s));
                best.push(s);
                if best.len() > ef {
                    best.pop();
                }
            }
        }
    }
    best.into_sorted_vec()
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
    while level > to_level {
        loop {
            let mut moved = false;
            for n in g.neighbors(cur.id, level) {
                let d = g.distance(query, n);
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
