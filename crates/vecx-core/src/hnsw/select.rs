//! Neighbour selection (Algorithm 4, SELECT-NEIGHBORS-HEURISTIC).
//!
//! Taking simply the `m` closest candidates makes elements of a dense cluster link only to each
//! other, and the graph falls apart into islands. The heuristic keeps a candidate only if it is
//! closer to the base element than to every neighbour already kept: each kept edge points in a
//! new direction. With `keepPrunedConnections`, discarded candidates fill any remaining slots
//! (closest first), so elements never end up with needlessly few edges.
use super::{GraphView, Scored};

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
