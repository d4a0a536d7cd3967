//! Neighbour selection (Algorithm 4, SELECT-NEIGHBORS-HEURISTIC).
//!
//! Taking simply the `m` closest candidates makes elements of a dense cluster link only to each
//! other, and the graph falls apart into islands. The heuristic keeps a candidate only if it is
//! closer to the base element than to every neighbour already kept: each kept edge points in a
//! new direction. With `keepPrunedConnections`, discarded candidates fill any remaining slots
//! (closest first), so elements never end up with needlessly few edges.
use super::fxhash::FxHashSet;
use super::search::{descend_wide, search_layer};
use super::{GraphView, Params, Scored};

/// Chooses at most `m` neighbours among `candidates` (distances to the base element), by the
/// heuristic, then fills up from the pruned ones.
pub fn select_neighbors<G: GraphView>(
    g: &G,
    candidates: &[Scored<G::Id>],
    m: usize,
) -> Vec<Scored<G::Id>> {
    let mut sorted: Vec<Scored<G::Id>> = candidates.to_vec();
    sorted.sort();
    sorted.dedup_by(|a, b| a.id == b.id);
    if sorted.len() <= m {
        return sorted;
    }
    let mut kept: Vec<Scored<G::Id>> = Vec::with_capacity(m);
    let mut pruned: Vec<Scored<G::Id>> = Vec::new();
    for c in sorted {
        if kept.len() >= m {
            break;
        }
        let diverse = kept.iter().all(|r| g.distance_between(c.id, r.id) > c.dist);
        if diverse {
            kept.push(c);
        } else {
            pruned.push(c);
        }
    }
    for p in pruned {
        if kept.len() >= m {
            break;
        }
        kept.push(p);
    }
    kept
}

/// Algorithm 1 (INSERT), lines 1-14 without the writes: the neighbours element `q` (vector `qv`,
/// drawn at `level`) gets on every level from `min(level, top)` down to 0, searched from the
/// entry point `entry` (at level `top`), chosen by the heuristic. `eligible` says whether a found
/// element may be chosen (deleted elements still route the search but are never chosen).
/// Returns `(level, chosen)` pairs, top level first. Both the in-memory build and the on-page
/// insert call this and differ only in how they write the result, and in `descent_width`: the
/// levels above the element's own are searched that wide (1 = the paper's greedy descent, right
/// for a fresh build; inserts into a graph that churn may have fragmented search wider, see
/// [`super::search::descend_wide`]).
#[allow(clippy::too_many_arguments)]
pub fn neighbors_for_insert<G: GraphView>(
    g: &G,
    q: G::Id,
    qv: &[f32],
    level: usize,
    entry: G::Id,
    top: usize,
    params: &Params,
    descent_width: usize,
    eligible: impl Fn(G::Id) -> bool,
) -> Vec<(usize, Vec<Scored<G::Id>>)> {
    let cur = Scored {
        dist: g.distance(qv, entry),
        id: entry,
    };
    let mut eps = if top > level {
        descend_wide(g, qv, cur, top, level, descent_width)
    } else {
        vec![cur]
    };
    let mut out = Vec::new();
    for lc in (0..=level.min(top)).rev() {
        let mut visited = FxHashSet::default();
        let found = search_layer(g, qv, &eps, params.ef_construction, lc, &mut visited);
        let candidates: Vec<Scored<G::Id>> = found
            .iter()
            .copied()
            .filter(|s| s.id != q && eligible(s.id))
            .collect();
        out.push((
            lc,
            select_neighbors(g, &candidates, params.max_neighbors(lc)),
        ));
        if !found.is_empty() {
            eps = found;
        }
    }
    out
}
