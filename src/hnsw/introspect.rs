//! The `vecx_hnsw` side of `vecx_index_stats(regclass)` and `vecx_index_check(regclass)`
//! (see [`crate::introspect`]).
use std::collections::{HashMap, HashSet};

use pgrx::pg_sys;
use vecx_core::hnsw::code;
use vecx_core::hnsw::format::{self, Tid, VectorPlace};

use super::graph::PageGraph;
use super::{slots, PageLock, FREE_LOCK, UPDATE_LOCK};
use crate::introspect::Stats;
use crate::pages::{self, corrupted};

struct Census {
    elements: HashMap<Tid, (u8, u8, Tid)>, // level, state, neighbours
    pages: u32,
    /// Elements with a traversal code.
    coded: i64,
}

/// Every element's header; with `verify_codes`, every traversal code is also checked against
/// the vector it was made from (a wrong code could make searches drop a near neighbour).
fn census(g: &PageGraph, verify_codes: bool) -> Census {
    let pages = pages::nblocks(g.index);
    let mut elements = HashMap::new();
    let mut coded = 0;
    let mut floats = Vec::new();
    g.for_each_element(
        || {
            pgrx::check_for_interrupts!();
        },
        |id, e| {
            elements.insert(id, (e.level, e.state, e.neighbors));
            let Some(c) = e.code else {
                return;
            };
            coded += 1;
            if let (true, VectorPlace::Inline(bytes)) = (verify_codes, &e.vector) {
                floats.clear();
                format::read_floats(bytes, &mut floats);
                if code::encode_for(g.metric, &floats).as_deref() != Some(c) {
                    corrupted(
                        g.index,
                        format!(
                            "Element ({},{}) has a traversal code that does not match its vector.",
                            id.block, id.offset
                        ),
                    );
                }
            }
        },
    );
    Census {
        elements,
        pages,
        coded,
    }
}

/// Rows, levels, deleted elements and pages of a vecx_hnsw index.
pub fn stats(index: pg_sys::Relation) -> Stats {
    let g = PageGraph::open(index);
    let c = census(&g, false);
    let rows = c
        .elements
        .values()
        .filter(|e| e.1 == format::STATE_LIVE)
        .count() as i64;
    let deleted = c.elements.len() as i64 - rows;
    let levels = if g.meta.entry.is_valid() {
        g.meta.entry_level as i32 + 1
    } else {
        0
    };
    Stats {
        rows,
        levels: Some(levels),
        deleted,
        pages: c.pages as i64,
        coded: Some(c.coded),
        ..Default::default()
    }
}

/// Every element page's tuples and freed slots lie inside its tuple space without overlapping
/// (see `super::slots::layout_problem`).
fn check_layouts(idx: pg_sys::Relation) {
    for blk in 1..pages::nblocks(idx) {
        pgrx::check_for_interrupts!();
        let buf = pages::Buf::read(idx, blk, pg_sys::BUFFER_LOCK_SHARE);
        if !pages::is_type(idx, buf.page(), blk, pages::PAGE_ELEMENTS) {
            continue;
        }
        if let Some(problem) = slots::layout_problem(buf.page()) {
            corrupted(idx, format!("Block {blk}: {problem}."));
        }
    }
}

/// Verifies a vecx_hnsw index: every element page's storage is laid out soundly (no tuple or
/// freed slot overlaps another), the meta page, every element and neighbour tuple decodes, every
/// traversal code matches its element's vector, every live element's neighbour references
/// point at elements that exist and reach that level, no list holds duplicates or
/// self-references, and the entry point is a live element of the recorded level. Returns, or raises `index ... is corrupted` (XX002) naming the first problem.
///
/// A deleted element's lists must decode, but their entries are not looked up: once vacuum has
/// repaired the live lists nothing follows a deleted element's, and a vacuum stopped in its free
/// pass (crash, cancel) leaves deleted elements whose lists name elements it already freed (the
/// next vacuum frees them too; see `vacuum.rs`).
///
/// The check sees one consistent graph: it holds UPDATE_LOCK in exclusive mode (inserts wait
/// for it, and it for the inserts in flight) and FREE_LOCK in share mode (it waits for a vacuum's
/// free pass to end, and vacuum's next one waits for it), so it may run during writes and
/// vacuum. Without them, an element inserted after the census, or freed between reading a list
/// and looking its entries up, would look like a dangling reference. A hot standby does not see
/// the primary's heavyweight locks; there the check is exact only while replay is not freeing
/// elements.
pub fn check(idx: pg_sys::Relation) {
    let _inserts = PageLock::acquire(idx, UPDATE_LOCK, pg_sys::ExclusiveLock);
    let _frees = PageLock::acquire(idx, FREE_LOCK, pg_sys::ShareLock);
    let g = PageGraph::open(idx);
    check_layouts(idx);
    let c = census(&g, true);
    if g.meta.entry.is_valid() {
        match c.elements.get(&g.meta.entry) {
            Some((level, _, _)) if *level as u32 == g.meta.entry_level => {}
            Some((level, _, _)) => corrupted(
                idx,
                format!(
                    "Entry point has level {level}, meta page says {}.",
                    g.meta.entry_level
                ),
            ),
            None => corrupted(idx, "The entry point is not an element."),
        }
    } else if c.elements.values().any(|e| e.1 == format::STATE_LIVE) {
        corrupted(idx, "The index has live elements but no entry point.");
    }
    let mut neighbor_tuples: HashSet<Tid> = HashSet::new();
    for (id, (level, state, ntid)) in &c.elements {
        if !neighbor_tuples.insert(*ntid) {
            corrupted(
                idx,
                format!(
                    "Two elements share the neighbour tuple ({},{}).",
                    ntid.block, ntid.offset
                ),
            );
        }
        let (_, lists) = g.neighbor_lists(*id);
        if lists.len() != *level as usize + 1 {
            corrupted(
                idx,
                format!(
                    "Element ({},{}) of level {level} has {} lists.",
                    id.block,
                    id.offset,
                    lists.len()
                ),
            );
        }
        if *state != format::STATE_LIVE {
            continue;
        }
        for (lc, list) in lists.iter().enumerate() {
            let mut seen = HashSet::new();
            for n in list {
                if n == id {
                    corrupted(
                        idx,
                        format!("Element ({},{}) lists itself.", id.block, id.offset),
                    );
                }
                if !seen.insert(*n) {
                    corrupted(
                        idx,
                        format!(
                            "Element ({},{}) lists ({},{}) twice.",
                            id.block, id.offset, n.block, n.offset
                        ),
                    );
                }
                match c.elements.get(n) {
                    Some((nl, _, _)) if (*nl as usize) >= lc => {}
                    Some(_) => corrupted(
                        idx,
                        format!(
                            "Element ({},{}) links ({},{}) on a level it does not reach.",
                            id.block, id.offset, n.block, n.offset
                        ),
                    ),
                    None => corrupted(
                        idx,
                        format!(
                            "Element ({},{}) links ({},{}), which is not an element (dangling).",
                            id.block, id.offset, n.block, n.offset
                        ),
                    ),
                }
            }
        }
    }
}
