//! A copy of a graph's upper layers in memory, for the descent of Algorithm 5 (K-NN-SEARCH).
//!
//! Every search starts at the same entry point and walks the same few upper layers down to
//! layer 1 before its layer-0 search begins. On pages each element it meets costs a pin, a
//! share lock and a tuple decode, the same as an element of layer 0, and the upper layers are
//! 10-20% of a search's distances at the widths people use. They are also small (an element
//! reaches layer `l` with probability `M^-l`, so layers 1 and up hold a sixteenth of the
//! elements at `M = 16`, layers 2 and up a 256th) and change rarely: only an insert drawn at
//! level 1 or higher (one in `M`) or vacuum's removal of such an element touches them.
//!
//! [`UpperLayers`] is such a copy: the elements reachable from the entry point through the lists
//! of layers `min_level` and up, with their vectors and those lists. It implements
//! [`GraphView`] for those layers, so the descent runs on it unchanged, and a search with a
//! current copy finds exactly what it would have found on the graph itself: the copy holds the
//! same vectors and lists, and a search is deterministic. Whoever keeps a copy is responsible
//! for knowing when it is current (the PostgreSQL side keys it on a counter in the meta page
//! that every change to these layers bumps).
//!
//! Layers below `min_level` are not copied: the descent continues on the graph itself from
//! where the copy left off ([`descend_through`]).
use super::fxhash::FxHashMap;
use super::search::descend_wide_from;
use super::visited::Visited;
use super::{GraphView, Scored};
use crate::distance::Metric;

/// What a copy reads for one element: its vector and its lists, layer 0 first. `None` for an
/// element that is gone (a reference a standby may meet, see the page graph): the copy treats it
/// as the graph does, infinitely far and without neighbours.
pub type ReadElement<I> = Option<(Vec<f32>, Vec<Vec<I>>)>;

/// The upper layers `min_level..` of a graph, in memory.
pub struct UpperLayers<I> {
    metric: Metric,
    dims: usize,
    min_level: usize,
    /// Element id -> its slot below.
    slots: FxHashMap<I, u32>,
    /// Slot `s`'s vector at `s * dims` (zeros for an element that is gone).
    vectors: Vec<f32>,
    /// Slot `s`'s lists for layers `min_level..=its level` (empty for an element that is gone).
    lists: Vec<Vec<Vec<I>>>,
    /// Whether slot `s` is an element that is gone.
    gone: Vec<bool>,
    bytes: usize,
}

/// Bookkeeping bytes per copied element beyond its vector and lists (hash entry, list headers).
const ELEMENT_OVERHEAD: usize = 64;

impl<I: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug> UpperLayers<I> {
    /// Copies the layers `min_level` and up: every element reachable from `entry` through
    /// their lists, read once each with `read`. Gives up (`None`) once the copy would take more
    /// than `max_bytes`, or when `stop` says so (it is asked once per element, so a caller can
    /// honour a cancel).
    pub fn copy(
        metric: Metric,
        dims: usize,
        entry: I,
        min_level: usize,
        max_bytes: usize,
        mut read: impl FnMut(I) -> ReadElement<I>,
        mut stop: impl FnMut() -> bool,
    ) -> Option<UpperLayers<I>> {
        let mut copy = UpperLayers {
            metric,
            dims,
            min_level: min_level.max(1),
            slots: FxHashMap::default(),
            vectors: Vec::new(),
            lists: Vec::new(),
            gone: Vec::new(),
            bytes: 0,
        };
        let mut queue = vec![entry];
        while let Some(id) = queue.pop() {
            if copy.slots.contains_key(&id) {
                continue;
            }
            if stop() {
                return None;
            }
            let slot = copy.gone.len() as u32;
            copy.slots.insert(id, slot);
            match read(id) {
                Some((vector, mut all)) if vector.len() == dims => {
                    let upper: Vec<Vec<I>> = if all.len() > copy.min_level {
                        all.split_off(copy.min_level)
                    } else {
                        Vec::new()
                    };
                    for list in &upper {
                        queue.extend(list.iter().filter(|n| !copy.slots.contains_key(n)));
                    }
                    copy.bytes += dims * 4
                        + upper.iter().map(|l| l.len()).sum::<usize>() * size_of::<I>()
                        + ELEMENT_OVERHEAD;
                    copy.vectors.extend_from_slice(&vector);
                    copy.lists.push(upper);
                    copy.gone.push(false);
                }
                _ => {
                    copy.bytes += dims * 4 + ELEMENT_OVERHEAD;
                    copy.vectors.extend(std::iter::repeat_n(0.0, dims));
                    copy.lists.push(Vec::new());
                    copy.gone.push(true);
                }
            }
            if copy.bytes > max_bytes {
                return None;
            }
        }
        Some(copy)
    }

    /// The lowest layer copied.
    pub fn min_level(&self) -> usize {
        self.min_level
    }

    /// Elements copied.
    pub fn len(&self) -> usize {
        self.gone.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gone.is_empty()
    }

    /// Memory the copy takes (approximately).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn vector(&self, id: I) -> Option<&[f32]> {
        let s = *self.slots.get(&id)? as usize;
        if self.gone[s] {
            return None;
        }
        Some(&self.vectors[s * self.dims..(s + 1) * self.dims])
    }
}

impl<I: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug> GraphView for UpperLayers<I> {
    type Id = I;

    /// Infinitely far for an element that is gone, as on the graph; also for one the copy does
    /// not hold, which a descent confined to the copied layers never asks for.
    fn distance(&self, query: &[f32], id: I) -> f32 {
        match self.vector(id) {
            Some(v) => self.metric.distance(query, v) as f32,
            None => f32::INFINITY,
        }
    }

    /// The query's own part of a cosine distance once for the whole list (`Metric::prepare`:
    /// bit for bit the distances [`GraphView::distance`] gives, as the page graph computes them).
    fn distances(&self, query: &[f32], ids: &[I], _bound: f32, out: &mut Vec<f32>) {
        out.clear();
        let prepared = (ids.len() > 1)
            .then(|| self.metric.prepare(query))
            .flatten();
        out.extend(ids.iter().map(|&id| match self.vector(id) {
            Some(v) => self.metric.partial_prepared(query, prepared, v).finish() as f32,
            None => f32::INFINITY,
        }));
    }

    fn distance_between(&self, a: I, b: I) -> f32 {
        match (self.vector(a), self.vector(b)) {
            (Some(a), Some(b)) => self.metric.distance(a, b) as f32,
            _ => f32::INFINITY,
        }
    }

    /// The list on `level` (empty below the copied layers).
    fn neighbors_into(&self, id: I, level: usize, out: &mut Vec<I>) {
        out.clear();
        let Some(&s) = self.slots.get(&id) else {
            return;
        };
        if let Some(l) = level
            .checked_sub(self.min_level)
            .and_then(|i| self.lists[s as usize].get(i))
        {
            out.extend_from_slice(l);
        }
    }
}

/// The descent of Algorithm 5 from the entry point (`entry` on `entry_level`) down to layer 1,
/// `width` wide (see [`super::search::descend_wide`]): on the copy `upper` for the layers it
/// holds, then on `g` for the rest. Returns the closest elements found on layer 1 (sorted), the
/// seeds of the layer-0 search, exactly as a descent entirely on `g` would when the copy is
/// current. Without a copy (or one whose layers lie above the entry point) it is that descent.
pub fn descend_through<G: GraphView>(
    upper: Option<&UpperLayers<G::Id>>,
    g: &G,
    query: &[f32],
    entry: G::Id,
    entry_level: usize,
    width: usize,
    visited: &mut impl Visited<G::Id>,
) -> Vec<Scored<G::Id>> {
    match upper {
        Some(u) if entry_level >= u.min_level() => {
            let start = Scored {
                dist: u.distance(query, entry),
                id: entry,
            };
            let near = descend_wide_from(
                u,
                query,
                vec![start],
                entry_level,
                u.min_level() - 1,
                width,
                visited,
            );
            descend_wide_from(g, query, near, u.min_level() - 1, 0, width, visited)
        }
        _ => {
            let start = Scored {
                dist: g.distance(query, entry),
                id: entry,
            };
            descend_wide_from(g, query, vec![start], entry_level, 0, width, visited)
        }
    }
}
