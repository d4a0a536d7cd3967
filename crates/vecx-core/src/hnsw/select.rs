//! Neighbour selection (Algorithm 4, SELECT-NEIGHBORS-HEURISTIC).
//!
//! Taking simply the `m` closest candidates makes elements of a dense cluster link only to each
//! other, and the graph falls apart into islands. The heuristic keeps a candidate only if it is
//! closer to the base element than to every neighbour already kept: each kept edge points in a
//! new direction. With `keepPrunedConnections`, discarded candidates fill any remaining slots
//! (closest first), so elements never end up with needlessly few edges.
use smallvec::SmallVec;

use super::search::{descend_wide, search_layer};
use super::visited::Visited;
use super::{GraphView, Params, Scored};

/// Chooses at most `m` neighbours among `candidates` (distances to the base element), by the
/// heuristic, then fills up from the pruned ones.
pub fn select_neighbors<G: GraphView>(
    g: &G,
    candidates: &[Scored<G::Id>],
    m: usize,
) -> Vec<Scored<G::Id>> {
    select_neighbors_flagged(g, candidates, m).0
}

/// [`select_neighbors`], also returning for each chosen neighbour whether the heuristic kept it
/// as diverse (`true`) or it filled a slot from the pruned ones (`false`); the flags are empty
/// when there were no more than `m` candidates (all are taken, none is checked). A list that
/// keeps these flags can take one more candidate with [`reselect`] instead of a full run.
pub fn select_neighbors_flagged<G: GraphView>(
    g: &G,
    candidates: &[Scored<G::Id>],
    m: usize,
) -> (Vec<Scored<G::Id>>, Vec<bool>) {
    let mut sorted: Vec<Scored<G::Id>> = candidates.to_vec();
    sorted.sort_unstable(); // (distance, id) is a total order: the same as a stable sort
    sorted.dedup_by(|a, b| a.id == b.id);
    if sorted.len() <= m {
        return (sorted, Vec::new());
    }
    let (kept, pruned) = keep_diverse(g, sorted, m);
    fill(kept, pruned, m)
}

/// Entries [`reselect`] keeps on the stack: a layer-0 list at the default `m = 16`, plus one
/// (rounded up to a size smallvec takes).
const LIST: usize = 36;

/// A neighbour of a list [`reselect`] reruns, with its old flag (`None` for the new one).
type Entry<I> = (Scored<I>, Option<bool>);

/// Kept and pruned candidates, both in distance order.
type KeptAndPruned<I> = (Vec<Scored<I>>, Vec<Scored<I>>);

/// Algorithm 4's loop over `sorted` (ascending distance, distinct): each candidate is kept when
/// it is closer to the base element than to every one kept before it, until `m` are kept.
/// Returns the kept ones and the pruned ones, both in distance order.
fn keep_diverse<G: GraphView>(g: &G, sorted: Vec<Scored<G::Id>>, m: usize) -> KeptAndPruned<G::Id> {
    let mut kept: Vec<Scored<G::Id>> = Vec::with_capacity(m.min(sorted.len()));
    let mut pruned: Vec<Scored<G::Id>> = Vec::with_capacity(sorted.len());
    for c in sorted {
        if kept.len() >= m {
            break;
        }
        if diverse(g, &c, &kept) {
            kept.push(c);
        } else {
            pruned.push(c);
        }
    }
    (kept, pruned)
}

/// The heuristic's verdict on each element of a neighbour list (distances to the base element),
/// in the list's order: `true` where it would be kept as diverse, `false` where it only fills
/// a slot (some closer kept neighbour is closer to it than the base element is).
pub fn diversity_flags<G: GraphView>(g: &G, list: &[Scored<G::Id>]) -> Vec<bool> {
    let mut sorted = list.to_vec();
    sorted.sort_unstable();
    let (kept, _) = keep_diverse(g, sorted, list.len());
    list.iter()
        .map(|s| kept.iter().any(|k| k.id == s.id))
        .collect()
}

/// Whether `c` is closer to the base element than to every element of `kept`.
fn diverse<G: GraphView>(g: &G, c: &Scored<G::Id>, kept: &[Scored<G::Id>]) -> bool {
    kept.iter()
        .all(|r| g.distance_between_until(c.id, r.id, c.dist) > c.dist)
}

/// The kept neighbours (diverse) and the closest pruned ones, up to `m`, merged in distance
/// order (both come in distance order), each with its flag: a list kept sorted this way lets
/// [`reselect`] place a new candidate without sorting.
fn fill<I: Copy + Ord>(
    kept: Vec<Scored<I>>,
    pruned: impl IntoIterator<Item = Scored<I>>,
    m: usize,
) -> (Vec<Scored<I>>, Vec<bool>) {
    let len = m.max(kept.len());
    let (mut out, mut flags) = (Vec::with_capacity(len), Vec::with_capacity(len));
    let mut pruned = pruned
        .into_iter()
        .take(m.saturating_sub(kept.len()))
        .peekable();
    for k in kept {
        while let Some(p) = pruned.next_if(|p| *p < k) {
            out.push(p);
            flags.push(false);
        }
        out.push(k);
        flags.push(true);
    }
    for p in pruned {
        out.push(p);
        flags.push(false);
    }
    (out, flags)
}

/// The heuristic over `list` plus one `new` candidate, when `list` (at most `m` neighbours,
/// distinct, `new` not among them) came from a selection with its flags `diverse`: the result
/// equals [`select_neighbors_flagged`] of `list` and `new`, with far fewer distances.
///
/// In distance order, every neighbour kept before a given one is in `list` (a selection keeps
/// at most `m`, all of them), so the flags stay valid for `list` alone. Adding `new` changes
/// the kept set before a later neighbour only by elements *added* to it (`new`, or a formerly
/// pruned neighbour that now passes) and elements *removed* from it (a formerly kept one that
/// `new` makes redundant). A formerly kept neighbour passed against the old set, so it only has
/// to be checked against the added ones; a formerly pruned one can only pass once something was
/// removed, and is then checked against the whole kept set. (The caching idea is pgvector's,
/// whose in-memory build spends most of its distances here.)
pub fn reselect<G: GraphView>(
    g: &G,
    list: &[Scored<G::Id>],
    diverse_flags: &[bool],
    new: Scored<G::Id>,
    m: usize,
) -> (Vec<Scored<G::Id>>, Vec<bool>) {
    debug_assert_eq!(list.len(), diverse_flags.len());
    // On the stack: this runs for every back link of every insert (a heap allocation each was
    // a few percent of a build).
    let mut entries: SmallVec<[Entry<G::Id>; LIST]> = list
        .iter()
        .copied()
        .zip(diverse_flags.iter().map(|f| Some(*f)))
        .collect();
    // A list from a selection is in distance order (see `fill`): `new` goes in its place.
    // Otherwise (a list from elsewhere) sort; ids are distinct, so there are no ties.
    if entries.is_sorted_by_key(|e| e.0) {
        let at = entries.partition_point(|e| e.0 < new);
        entries.insert(at, (new, None));
    } else {
        entries.push((new, None));
        entries.sort_unstable_by_key(|e| e.0);
    }
    if entries.len() <= m {
        return (entries.into_iter().map(|e| e.0).collect(), Vec::new());
    }
    let mut kept: Vec<Scored<G::Id>> = Vec::with_capacity(m);
    let mut pruned: SmallVec<[Scored<G::Id>; LIST]> = SmallVec::new();
    let mut added: SmallVec<[Scored<G::Id>; 4]> = SmallVec::new();
    let mut removed_any = false;
    for (c, was) in entries {
        if kept.len() >= m {
            break;
        }
        let passes = match was {
            None => {
                let ok = diverse(g, &c, &kept);
                if ok {
                    added.push(c);
                }
                ok
            }
            Some(true) => {
                let ok = diverse(g, &c, &added);
                removed_any |= !ok;
                ok
            }
            Some(false) if removed_any => {
                let ok = diverse(g, &c, &kept);
                if ok {
                    added.push(c);
                }
                ok
            }
            Some(false) => false,
        };
        if passes {
            kept.push(c);
        } else {
            pruned.push(c);
        }
    }
    fill(kept, pruned, m)
}

/// Algorithm 1 (INSERT), lines 1-14 without the writes: the neighbours element `q` (vector `qv`,
/// drawn at `level`) gets on every level from `min(level, top)` down to 0, searched from the
/// entry point `entry` (at level `top`), chosen by the heuristic. `eligible` says whether a found
/// element may be chosen (deleted elements still route the search but are never chosen).
/// Returns `(level, chosen)` pairs, top level first. Both the in-memory build and the on-page
/// insert call this and differ only in how they write the result. The levels above the
/// element's own are searched [`Params::descent_width`] wide, not greedily (see there and
/// [`super::search::descend_wide`]). `visited` is the set the layer searches use (emptied before
/// each; see [`super::visited`]).
#[allow(clippy::too_many_arguments)]
pub fn neighbors_for_insert<G: GraphView>(
    g: &G,
    visited: &mut impl Visited<G::Id>,
    q: G::Id,
    qv: &[f32],
    level: usize,
    entry: G::Id,
    top: usize,
    params: &Params,
    eligible: impl Fn(G::Id) -> bool,
) -> Vec<(usize, Vec<Scored<G::Id>>)> {
    let cur = Scored {
        dist: g.distance(qv, entry),
        id: entry,
    };
    let mut eps = if top > level {
        descend_wide(g, qv, cur, top, level, params.descent_width(), visited)
    } else {
        vec![cur]
    };
    let mut out = Vec::new();
    for lc in (0..=level.min(top)).rev() {
        visited.clear();
        let found = search_layer(g, qv, &eps, params.ef_construction, lc, visited);
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
