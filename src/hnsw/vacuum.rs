//! VACUUM for `vecx_hnsw`.
//!
//! `ambulkdelete` runs four passes over the element pages:
//!
//! 1. **Mark**: elements whose heap row is dead (`callback`) are marked deleted, one Generic WAL
//!    record per page. From now on inserts never choose them as neighbours and scans never
//!    return them, but they still route searches.
//! 2. **Wait**: take and release UPDATE_LOCK and SCAN_LOCK in exclusive mode. Inserts that
//!    might have chosen a now-deleted element before it was marked have finished; so have scans
//!    that might still hold one.
//! 3. **Repair**: every live element whose lists mention a deleted element gets those lists
//!    rebuilt: its live neighbours plus the live neighbours of the deleted ones, narrowed by the
//!    diversity heuristic, so the graph stays connected and recall stays high. If the entry point
//!    was deleted, the live element with the highest level replaces it.
//! 4. **Free**: after waiting out inserts and scans once more (one started during the repair may
//!    have read an old list or the old entry point), deleted elements, their neighbour tuples
//!    and vector pages are freed without moving any other byte of their pages (line pointers
//!    marked dead with their storage kept, see [`super::slots`]: searches read element tuples
//!    under a pin alone) and the pages' free space, holes included, goes into the free space
//!    map, where inserts find it and fill the holes in place: delete/reinsert cycles reuse
//!    space instead of growing the index. A page left without items is initialised
//!    afresh, so that a new out-of-line vector can take it whole.
//!
//! **Interrupted vacuums.** A crash, a cancel or an ERROR can stop the vacuum after any WAL
//! record, and every such prefix must be an index that works and checks. Marks (one record per
//! page) and repairs (one per rewritten list) are valid in any order and any prefix. In the free
//! pass (under FREE_LOCK, which `vecx_index_check` waits for), an element goes with its
//! neighbour tuple in one record (both pages locked in block order), so no element ever points
//! at a freed or reused neighbour tuple; its vector pages go after it. What an interrupted free
//! pass leaves behind is harmless: deleted elements that are no longer reachable (the repair
//! finished before the first free) whose lists may name elements already freed, which the next
//! vacuum frees in turn; and vector pages no element references, which pass 1 notes and the
//! next vacuum returns once it has seen that no element refers to them ([`orphan_vector_pages`]).
//! An insert stopped between writing its vector pages and its element leaves the same kind.
use std::collections::{BTreeMap, HashMap, HashSet};

use pgrx::pg_sys;
use pgrx::prelude::*;
use vecx_core::hnsw::format::{self, Meta, Tid, VectorPlace};
use vecx_core::hnsw::select::select_neighbors;
use vecx_core::hnsw::{GraphView, Scored};

use super::build::write_meta_page;
use super::graph::{PageGraph, META_BLOCK};
use super::insert::write_lists;
use super::slots;
use super::{PageLock, FREE_LOCK, SCAN_LOCK, UPDATE_LOCK};
use crate::pages::{self, corrupted, Buf, Wal};

use crate::am::vacuum_stats as alloc_stats;

fn wait_for(index: pg_sys::Relation, tag: u32) {
    drop(PageLock::acquire(index, tag, pg_sys::ExclusiveLock));
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    let stats = alloc_stats(stats);
    // SAFETY: info is valid for the call; the index is open.
    let index = unsafe { (*info).index };
    let g = PageGraph::open(index);
    let Some(callback) = callback else {
        return stats;
    };
    let nblocks = pages::nblocks(index);

    // Pass 1: mark.
    let mut deleted: HashSet<Tid> = HashSet::new();
    let mut live = 0f64;
    let mut top_live: Option<(u8, Tid)> = None;
    // Vector pages by block number (what `orphan_vector_pages` checks).
    let mut vector_pages = vec![false; nblocks as usize];
    for blk in 1..nblocks {
        crate::am::vacuum_delay();
        let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        if pages::is_new(buf.page()) {
            // Left by a crash between extending the index and logging the page: make it an
            // empty element page and offer it to inserts (as btree vacuum recycles new pages).
            let mut wal = Wal::start(index);
            let page = wal.register(&buf, true);
            pages::init_page(page, pages::PAGE_ELEMENTS);
            let free = pages::free_space(page);
            wal.finish();
            drop(buf);
            record_free_space(index, blk, free);
            continue;
        }
        match pages::opaque(index, buf.page(), blk).page_type {
            pages::PAGE_ELEMENTS => {}
            pages::PAGE_VECTOR => {
                vector_pages[blk as usize] = true;
                continue;
            }
            _ => continue,
        }
        let mut dead_here: Vec<u16> = Vec::new();
        for off in 1..=pages::max_offset(buf.page()) {
            let Some(bytes) = pages::item(buf.page(), off) else {
                continue;
            };
            if bytes.first() != Some(&format::KIND_ELEMENT) {
                continue;
            }
            let e = match format::decode_element(bytes, g.dims) {
                Ok(e) => e,
                Err(err) => corrupted(index, format!("Element ({blk},{off}): {err}.")),
            };
            let id = Tid {
                block: blk,
                offset: off,
            };
            if e.state == format::STATE_DELETED {
                deleted.insert(id);
                continue;
            }
            let mut heap = pg_sys::ItemPointerData::default();
            pgrx::itemptr::item_pointer_set_all(&mut heap, e.heap.block, e.heap.offset);
            // SAFETY: the callback decides whether a heap TID is dead; it does not touch our page.
            if unsafe { callback(&mut heap, callback_state) } {
                dead_here.push(off);
                deleted.insert(id);
            } else {
                live += 1.0;
                if top_live.is_none_or(|(l, _)| e.level > l) {
                    top_live = Some((e.level, id));
                }
            }
        }
        if !dead_here.is_empty() {
            let mut wal = Wal::start(index);
            let page = wal.register(&buf, false);
            for off in &dead_here {
                if let Some(bytes) = pages::item_mut(page, *off) {
                    bytes[format::ELEMENT_STATE_AT] = format::STATE_DELETED;
                }
            }
            wal.finish();
            // SAFETY: stats is valid.
            unsafe { (*stats).tuples_removed += dead_here.len() as f64 };
        }
    }
    // SAFETY: stats is valid.
    unsafe {
        (*stats).num_index_tuples = live;
        (*stats).num_pages = nblocks;
    }
    if deleted.is_empty() {
        return stats;
    }

    // Pass 2: wait for inserts and scans that may have seen the deleted elements as live.
    wait_for(index, UPDATE_LOCK);
    wait_for(index, SCAN_LOCK);

    // Pass 3: repair lists and the entry point.
    repair(&g, &deleted);
    replace_entry(index, &deleted, top_live);

    // Pass 4: free, once scans and inserts that read pre-repair lists (or the old entry point)
    // are gone. An insert that started after pass 2 still walks through deleted elements (they
    // route searches) until the repair has reached the lists it reads; freeing under it makes
    // it fail with "No tuple at (b,o)", or follow a slot a newer insert has reused.
    wait_for(index, UPDATE_LOCK);
    wait_for(index, SCAN_LOCK);
    let _freeing = PageLock::acquire(index, FREE_LOCK, pg_sys::ExclusiveLock);
    let orphans = orphan_vector_pages(&g, vector_pages);
    free(&g, &deleted, &orphans);
    stats
}

/// Vector pages that pass 1 saw and that no element refers to now: left by a vacuum stopped
/// between freeing an element and its vector pages, or by an insert stopped between writing its
/// vector pages and its element. Called after pass 2: every insert that was writing a page pass
/// 1 saw has finished, so its element, if it wrote one, is there to be found; later inserts
/// write vector pages only on new blocks or on empty element pages (`write_chunks`), never on a
/// page that is a vector page, and only this vacuum's free pass turns those into element pages.
fn orphan_vector_pages(g: &PageGraph, mut seen: Vec<bool>) -> Vec<u32> {
    if !seen.contains(&true) {
        return Vec::new();
    }
    g.for_each_element(crate::am::vacuum_delay, |_, e| {
        if let VectorPlace::Pages(first) = e.vector {
            for blk in first..first + format::chunk_count(g.dims) as u32 {
                if let Some(s) = seen.get_mut(blk as usize) {
                    *s = false;
                }
            }
        }
    });
    (0..seen.len() as u32)
        .filter(|&b| seen[b as usize])
        .collect()
}

/// Rebuilds every live element's lists that mention a deleted element.
fn repair(g: &PageGraph, deleted: &HashSet<Tid>) {
    let index = g.index;
    let mut deleted_lists: HashMap<Tid, Vec<Vec<Tid>>> = HashMap::new();
    for blk in 1..pages::nblocks(index) {
        crate::am::vacuum_delay();
        let ids: Vec<Tid> = {
            let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_SHARE);
            if !pages::is_type(index, buf.page(), blk, pages::PAGE_ELEMENTS) {
                continue;
            }
            (1..=pages::max_offset(buf.page()))
                .filter(|off| {
                    pages::item(buf.page(), *off).and_then(|b| b.first().copied())
                        == Some(format::KIND_ELEMENT)
                })
                .map(|off| Tid {
                    block: blk,
                    offset: off,
                })
                .filter(|id| !deleted.contains(id))
                .collect()
        };
        for id in ids {
            let (_, lists) = g.neighbor_lists(id);
            if !lists.iter().any(|l| l.iter().any(|n| deleted.contains(n))) {
                continue;
            }
            let fv = g.vector(id);
            let mut rebuilt = lists.clone();
            for (lc, list) in lists.iter().enumerate() {
                if !list.iter().any(|n| deleted.contains(n)) {
                    continue;
                }
                let mut pool: HashSet<Tid> = list
                    .iter()
                    .copied()
                    .filter(|n| !deleted.contains(n))
                    .collect();
                for d in list.iter().filter(|n| deleted.contains(n)) {
                    let dl = deleted_lists
                        .entry(*d)
                        .or_insert_with(|| g.neighbor_lists(*d).1);
                    if let Some(second) = dl.get(lc) {
                        pool.extend(
                            second
                                .iter()
                                .copied()
                                .filter(|n| !deleted.contains(n) && *n != id),
                        );
                    }
                }
                let cands: Vec<Scored<Tid>> = pool
                    .into_iter()
                    .map(|n| Scored {
                        dist: g.distance(&fv, n),
                        id: n,
                    })
                    .collect();
                rebuilt[lc] = select_neighbors(g, &cands, g.params.max_neighbors(lc))
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
            }
            write_lists(g, id, |current| {
                // Keep edges inserts added meanwhile (to live elements), plus the rebuilt ones.
                for (lc, l) in current.iter_mut().enumerate() {
                    let mut merged: Vec<Tid> = rebuilt.get(lc).cloned().unwrap_or_default();
                    for n in l.iter() {
                        if !deleted.contains(n)
                            && !merged.contains(n)
                            && merged.len() < g.params.max_neighbors(lc)
                        {
                            merged.push(*n);
                        }
                    }
                    *l = merged;
                }
                true
            });
        }
    }
}

/// If the entry point was deleted, the live element with the highest level takes its place.
fn replace_entry(index: pg_sys::Relation, deleted: &HashSet<Tid>, top_live: Option<(u8, Tid)>) {
    let buf = Buf::read(index, META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let mut meta = match Meta::decode(pages::contents(buf.page(), format::META_LEN)) {
        Ok(m) => m,
        Err(e) => corrupted(index, format!("Meta page: {e}.")),
    };
    if !deleted.contains(&meta.entry) {
        return;
    }
    match top_live {
        Some((level, id)) => {
            meta.entry = id;
            meta.entry_level = level as u32;
        }
        None => {
            meta.entry = Tid::INVALID;
            meta.entry_level = 0;
        }
    }
    let mut wal = Wal::start(index);
    let page = wal.register(&buf, false);
    write_meta_page(page, &meta);
    wal.finish();
}

/// Pass 4: removes deleted elements with their neighbour tuples, then their vector pages and
/// the orphaned ones; records the free space. Each element and its neighbour tuple go in one
/// WAL record (see the module comment), one record per page when they share it, as they nearly
/// always do.
fn free(g: &PageGraph, deleted: &HashSet<Tid>, orphans: &[u32]) {
    let index = g.index;
    // Items to delete per page for elements whose neighbour tuple is beside them, and the
    // (element, neighbour tuple) pairs on two pages.
    let mut same_page: BTreeMap<u32, Vec<u16>> = BTreeMap::new();
    let mut two_pages: Vec<(Tid, Tid)> = Vec::new();
    let mut vector_pages: Vec<u32> = orphans.to_vec();
    let mut ids: Vec<Tid> = deleted.iter().copied().collect();
    ids.sort_unstable_by_key(|t| (t.block, t.offset));
    for id in ids {
        let (n, place) = {
            let buf = Buf::read(index, id.block, pg_sys::BUFFER_LOCK_SHARE);
            let Some(bytes) = pages::item(buf.page(), id.offset) else {
                continue;
            };
            let Ok(e) = format::decode_element(bytes, g.dims) else {
                continue;
            };
            let place = match e.vector {
                VectorPlace::Pages(first) => Some(first),
                VectorPlace::Inline(_) => None,
            };
            (e.neighbors, place)
        };
        if n.block == id.block {
            same_page
                .entry(id.block)
                .or_default()
                .extend([id.offset, n.offset]);
        } else {
            two_pages.push((id, n));
        }
        if let Some(first) = place {
            vector_pages.extend((0..format::chunk_count(g.dims) as u32).map(|i| first + i));
        }
    }
    for (blk, offs) in same_page {
        crate::am::vacuum_delay();
        let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let mut wal = Wal::start(index);
        let page = wal.register(&buf, false);
        delete_items(page, offs);
        let free = slots::reusable(page);
        wal.finish();
        drop(buf);
        record_free_space(index, blk, free);
    }
    for (e, n) in two_pages {
        crate::am::vacuum_delay();
        // Block order, as every holder of several element pages takes them (inserts reusing a
        // run of empty pages for a vector, `insert::empty_run`).
        let (lo, hi) = if e.block < n.block { (e, n) } else { (n, e) };
        let lo_buf = Buf::read(index, lo.block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let hi_buf = Buf::read(index, hi.block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let mut wal = Wal::start(index);
        let lo_page = wal.register(&lo_buf, false);
        let hi_page = wal.register(&hi_buf, false);
        delete_items(lo_page, vec![lo.offset]);
        delete_items(hi_page, vec![hi.offset]);
        let (lo_free, hi_free) = (slots::reusable(lo_page), slots::reusable(hi_page));
        wal.finish();
        drop((lo_buf, hi_buf));
        record_free_space(index, lo.block, lo_free);
        record_free_space(index, hi.block, hi_free);
    }
    vector_pages.sort_unstable();
    vector_pages.dedup();
    for blk in vector_pages {
        crate::am::vacuum_delay();
        let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        if !pages::is_type(index, buf.page(), blk, pages::PAGE_VECTOR) {
            continue;
        }
        // A whole page freed: it becomes an (empty) element page for reuse.
        let mut wal = Wal::start(index);
        let page = wal.register(&buf, false);
        pages::init_page(page, pages::PAGE_ELEMENTS);
        let free = pages::free_space(page);
        wal.finish();
        drop(buf);
        record_free_space(index, blk, free);
    }
    // SAFETY: propagate the FSM leaf updates so searches find them.
    unsafe { pg_sys::IndexFreeSpaceMapVacuum(index) };
}

/// Frees the items at `offs` without moving any other byte of the page ([`slots::free`]: the
/// TIDs and the bytes of the tuples left stay where searches, which read element tuples under a
/// pin alone, expect them). A page left with no item at all is initialised afresh, so it shows
/// as empty in the free space map and a new out-of-line vector can take it
/// (`insert::empty_run`).
fn delete_items(page: pg_sys::Page, offs: Vec<u16>) {
    for off in offs {
        slots::free(page, off);
    }
    if (1..=pages::max_offset(page)).all(|off| pages::item(page, off).is_none()) {
        pages::init_page(page, pages::PAGE_ELEMENTS);
    }
}

fn record_free_space(index: pg_sys::Relation, blk: u32, free: usize) {
    // SAFETY: FSM update for an index page we have just changed and released.
    unsafe { pg_sys::RecordPageWithFreeSpace(index, blk, free) };
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: info is valid for the call.
    unsafe {
        if (*info).analyze_only {
            return stats;
        }
        let stats = alloc_stats(stats);
        let index = (*info).index;
        (*stats).num_pages = pages::nblocks(index);
        if (*stats).num_index_tuples == 0.0 {
            // No bulk delete ran: count live elements.
            let g = PageGraph::open(index);
            let mut live = 0.0;
            g.for_each_element(crate::am::vacuum_delay, |_, e| {
                live += (e.state == format::STATE_LIVE) as u8 as f64;
            });
            (*stats).num_index_tuples = live;
        }
        stats
    }
}
