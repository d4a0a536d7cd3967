//! INSERT into `vecx_hnsw` (Algorithm 1 of the HNSW paper, on pages).
//!
//! 1. The new element and an empty neighbour tuple are written side by side on a page with room
//!    (holes vacuum left on a page the free space map offers, see [`super::slots`], else the
//!    meta page's insert page, else a fresh block), in one Generic WAL record. Vectors above
//!    `INLINE_MAX_DIMS` first get their own vector pages (a run of empty pages vacuum freed,
//!    else new ones at the end of the index). The element is now present but not yet
//!    reachable.
//! 2. Its neighbours are found by vecx-core's layer search over the pages (greedy descent, then
//!    `ef_construction`-wide searches from its level down) and chosen with the diversity
//!    heuristic; deleted elements route the search but are never chosen.
//! 3. Its own neighbour tuple is written, then each chosen neighbour gets a back link: its list is
//!    read and recomputed without holding any lock, then written under the page's exclusive lock
//!    only if it has not changed meanwhile (else recomputed, up to three times). Concurrent
//!    inserts therefore never wait on each other for more than one page write, and there is no
//!    global lock serialising them.
//! 4. If the element's level is above the entry point's, the meta page is updated under its
//!    exclusive buffer lock (re-checked there, so two racing inserts cannot both win).
//!
//! The whole insert holds the UPDATE_LOCK heavyweight lock in share mode, so vacuum can wait for
//! in-flight inserts before it repairs the graph.

use pgrx::pg_sys;
use pgrx::prelude::*;
use vecx_core::hnsw::format::{self, Meta, Tid};
use vecx_core::hnsw::fxhash::FxHashSet;
use vecx_core::hnsw::select::{neighbors_for_insert, select_neighbors};
use vecx_core::hnsw::{level_of, GraphView, Scored};

use super::build::{check_dims, level_cap, level_key, write_meta_page};
use super::graph::{read_meta, PageGraph, META_BLOCK};
use super::{slots, PageLock, UPDATE_LOCK};
use crate::pages::{self, corrupted, Buf, Wal};

#[cfg(not(feature = "pg13"))]
#[pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: the arguments PostgreSQL passes to aminsert for a single-column index.
    unsafe {
        crate::am::insert_one(values, isnull, heap_tid, "vecx_hnsw insert", |heap, v| {
            insert_vector(index, heap, v)
        })
    }
}

/// PostgreSQL 13's `aminsert` has no `indexUnchanged` argument (added in 14).
#[cfg(feature = "pg13")]
#[pg_guard]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: the arguments PostgreSQL passes to aminsert for a single-column index.
    unsafe {
        crate::am::insert_one(values, isnull, heap_tid, "vecx_hnsw insert", |heap, v| {
            insert_vector(index, heap, v)
        })
    }
}

/// Inserts one vector for heap row `heap`.
pub fn insert_vector(index: pg_sys::Relation, heap: Tid, vector: &[f32]) {
    let _lock = PageLock::acquire(index, UPDATE_LOCK, pg_sys::ShareLock);
    let mut g = PageGraph::open(index);
    if g.meta.dims == 0 {
        set_dims(index, vector.len());
        g = PageGraph::open(index);
    }
    check_dims(g.dims, vector.len());
    // One insert's searches, each ef_construction wide on its levels.
    g.cache_headers(g.params.ef_construction * g.params.max_neighbors(0));
    let level = level_of(&g.params, g.meta.seed, level_key(heap)).min(level_cap(g.params.m));
    let id = place_element(&g, &g.meta, level, heap, vector);
    link(&g, id, level, vector);
}

/// First vector into an index built empty on a column without a type modifier: the index takes
/// its dimension count.
fn set_dims(index: pg_sys::Relation, dims: usize) {
    let buf = Buf::read(index, META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let mut meta = match Meta::decode(pages::contents(buf.page(), format::META_LEN)) {
        Ok(m) => m,
        Err(e) => corrupted(index, format!("Meta page: {e}.")),
    };
    if meta.dims == 0 {
        meta.dims = dims as u32;
        let mut wal = Wal::start(index);
        let page = wal.register(&buf, false);
        write_meta_page(page, &meta);
        wal.finish();
    }
}

/// Writes the element and its empty neighbour tuple; returns the element's TID.
fn place_element(g: &PageGraph, meta: &Meta, level: usize, heap: Tid, vector: &[f32]) -> Tid {
    let index = g.index;
    let dims = vector.len();
    let first_chunk = if dims > format::INLINE_MAX_DIMS {
        write_chunks(index, vector)
    } else {
        0
    };
    let code = (meta.codes == 1)
        .then(|| vecx_core::hnsw::code::encode_for(g.metric, vector))
        .flatten();
    let element = format::encode_element(
        level as u8,
        format::STATE_LIVE,
        heap,
        Tid::INVALID,
        vector,
        first_chunk,
        code.as_deref(),
    );
    let neighbors = format::encode_neighbors(level, g.params.m, &[]);
    let need = pages::maxalign(element.len()) + pages::maxalign(neighbors.len()) + 8;
    // Candidate pages: up to FSM_TRIES the free space map offers (space freed by vacuum; each
    // one found wanting is recorded below what this insert needs, so the next offer is another
    // page), then the insert page.
    let mut fsm_tries = 0;
    let candidates = std::iter::from_fn(|| {
        if fsm_tries == FSM_TRIES {
            return None;
        }
        fsm_tries += 1;
        // SAFETY: FSM lookup on an open index.
        let blk = unsafe { pg_sys::GetPageWithFreeSpace(index, need) };
        (blk != pg_sys::InvalidBlockNumber).then_some(blk)
    })
    .fuse()
    .chain(std::iter::once(meta.insert_page));
    for candidate in candidates {
        if candidate == pg_sys::InvalidBlockNumber
            || candidate == META_BLOCK
            || candidate >= pages::nblocks(index)
        {
            continue;
        }
        let buf = Buf::read(index, candidate, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let o = pages::opaque(index, buf.page(), candidate);
        let page = buf.page();
        if o.page_type != pages::PAGE_ELEMENTS
            || !slots::fits(page, &[element.len(), neighbors.len()])
        {
            // What the page has, but less than this insert needed: holes of the wrong sizes
            // (see `slots`) must not make the map offer the page for this size again.
            let free = if o.page_type == pages::PAGE_ELEMENTS {
                slots::reusable(page).min(need - 1)
            } else {
                0
            };
            drop(buf);
            // SAFETY: records what we saw so the FSM stops offering this page for this size.
            unsafe { pg_sys::RecordPageWithFreeSpace(index, candidate, free) };
            continue;
        }
        return add_pair(index, &buf, false, &element, &neighbors);
    }
    // No room anywhere: a new page, which becomes the insert page.
    let buf = Buf::extend(index, pg_sys::ForkNumber::MAIN_FORKNUM);
    let id = add_pair(index, &buf, true, &element, &neighbors);
    let blkno = buf.blkno();
    drop(buf);
    let meta_buf = Buf::read(index, META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    if let Ok(mut m) = Meta::decode(pages::contents(meta_buf.page(), format::META_LEN)) {
        if m.insert_page < blkno {
            m.insert_page = blkno;
            let mut wal = Wal::start(index);
            let page = wal.register(&meta_buf, false);
            write_meta_page(page, &m);
            wal.finish();
        }
    }
    id
}

/// Pages the free space map may offer one insert before it tries the insert page: an offer is
/// stale or its holes the wrong sizes now and then (see `slots`), and an insert that gives up
/// extends the index.
const FSM_TRIES: usize = 8;

/// Adds element + neighbour tuple to a locked page in one WAL record.
fn add_pair(
    index: pg_sys::Relation,
    buf: &Buf,
    new_page: bool,
    element: &[u8],
    neighbors: &[u8],
) -> Tid {
    let blkno = buf.blkno();
    let mut wal = Wal::start(index);
    let page = wal.register(buf, new_page);
    if new_page {
        pages::init_page(page, pages::PAGE_ELEMENTS);
    }
    let Some(&[e_off, n_off]) = slots::place(page, &[element, neighbors]).as_deref() else {
        corrupted(
            index,
            format!("Block {blkno} reported free space it does not have."),
        );
    };
    if let Some(bytes) = pages::item_mut(page, e_off) {
        format::set_element_neighbors(
            bytes,
            Tid {
                block: blkno,
                offset: n_off,
            },
        );
    }
    wal.finish();
    Tid {
        block: blkno,
        offset: e_off,
    }
}

/// Writes an out-of-line vector on consecutive pages; returns the first block. A run of empty
/// pages that vacuum freed is reused when there is one (see [`empty_run`]), otherwise the
/// index is extended.
fn write_chunks(index: pg_sys::Relation, vector: &[f32]) -> u32 {
    let count = format::chunk_count(vector.len());
    let (bufs, reused) = match empty_run(index, count) {
        Some(bufs) => (bufs, true),
        None => (new_run(index, count), false),
    };
    let first = bufs[0].blkno();
    for (c, buf) in bufs.iter().enumerate() {
        let mut wal = Wal::start(index);
        let page = wal.register(buf, true);
        pages::init_page(page, pages::PAGE_VECTOR);
        pages::add_item(page, &format::encode_chunk(vector, c));
        wal.finish();
    }
    drop(bufs);
    if reused {
        for blk in first..first + count as u32 {
            // SAFETY: FSM update: the page is now a vector page with no room for elements.
            unsafe { pg_sys::RecordPageWithFreeSpace(index, blk, 0) };
        }
    }
    first
}

/// `count` fresh consecutive blocks at the end of the index, locked exclusively.
fn new_run(index: pg_sys::Relation, count: usize) -> Vec<Buf> {
    // Consecutive blocks: hold the extension lock across all of them.
    // SAFETY: the extension lock serialises extenders; the pages are new and ours.
    unsafe { pg_sys::LockRelationForExtension(index, pg_sys::ExclusiveLock as i32) };
    let bufs = (0..count)
        .map(|_| {
            // SAFETY: P_NEW under the extension lock we hold.
            let buffer = unsafe {
                pg_sys::ReadBufferExtended(
                    index,
                    pg_sys::ForkNumber::MAIN_FORKNUM,
                    pg_sys::InvalidBlockNumber,
                    pg_sys::ReadBufferMode::RBM_NORMAL,
                    std::ptr::null_mut(),
                )
            };
            // SAFETY: lock the new buffer before use.
            unsafe { pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32) };
            Buf::from_locked(buffer)
        })
        .collect();
    // SAFETY: releasing the lock taken above.
    unsafe { pg_sys::UnlockRelationForExtension(index, pg_sys::ExclusiveLock as i32) };
    bufs
}

/// What the free space map records for an empty page: its free space (the capacity less one
/// line pointer) rounded down to the map's 32-byte steps. A page holding even one element is
/// below it (the smallest element with its neighbour tuple takes more than 32 bytes), and vacuum
/// re-initialises the pages it empties, so no unused line pointers keep an empty page below.
const EMPTY_PAGE_FREE: usize = (pages::CONTENTS_CAPACITY - 4) & !31;

/// `count` consecutive empty element pages (no item at all), locked exclusively in block order,
/// found through the free space map: vacuum turns the vector pages of the elements it frees
/// into empty element pages and records them there, so without this a delete/reinsert cycle of
/// vectors above `INLINE_MAX_DIMS` would extend the index by every new vector. `None` when the
/// map offers no page that starts or ends such a run.
///
/// An empty page holds nothing any live list points at (vacuum frees elements only after the
/// lists are repaired), so it can change type; an insert that picked it from the map meanwhile
/// sees a vector page under its lock and moves on. Holding several page locks cannot deadlock:
/// they are taken in block order, as vacuum takes its two, and inserts and scans hold at most
/// one element page (and then the meta page) at a time.
fn empty_run(index: pg_sys::Relation, count: usize) -> Option<Vec<Buf>> {
    let count = count as u32;
    // SAFETY (closure): FSM lookups on an open index.
    let recorded_empty =
        |blk: u32| unsafe { pg_sys::GetRecordedFreeSpace(index, blk) } >= EMPTY_PAGE_FREE;
    // The map is not told when an insert puts an element on a page it offered, so a few of its
    // offers may be stale; each one found stale is corrected before the next try.
    for _ in 0..EMPTY_RUN_TRIES {
        // SAFETY: FSM lookup on an open index.
        let hit = unsafe { pg_sys::GetPageWithFreeSpace(index, EMPTY_PAGE_FREE) };
        let nblocks = pages::nblocks(index);
        if hit == pg_sys::InvalidBlockNumber || hit == META_BLOCK || hit >= nblocks {
            return None;
        }
        let start = (hit.saturating_sub(count - 1).max(1)..=hit)
            .find(|s| s + count <= nblocks && (*s..s + count).all(recorded_empty))?;
        if let Some(bufs) = lock_empty_run(index, start, count) {
            return Some(bufs);
        }
    }
    None
}

/// Stale free space map offers [`empty_run`] corrects before it extends the index instead.
const EMPTY_RUN_TRIES: usize = 8;

/// Locks blocks `start..start + count` exclusively in block order if every one is an empty
/// element page; otherwise records the first that is not at its real free space and returns
/// `None`.
fn lock_empty_run(index: pg_sys::Relation, start: u32, count: u32) -> Option<Vec<Buf>> {
    let mut bufs = Vec::with_capacity(count as usize);
    for blk in start..start + count {
        let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let page = buf.page();
        let is_elements = pages::is_type(index, page, blk, pages::PAGE_ELEMENTS);
        if !is_elements || (1..=pages::max_offset(page)).any(|off| pages::item(page, off).is_some())
        {
            let free = if is_elements {
                slots::reusable(page)
            } else {
                0
            };
            drop(buf);
            drop(bufs);
            // SAFETY: records what we saw so the map stops offering this page as empty.
            unsafe { pg_sys::RecordPageWithFreeSpace(index, blk, free) };
            return None;
        }
        bufs.push(buf);
    }
    Some(bufs)
}

/// Links element `q` (level `level`, vector `qv`) into the graph.
fn link(g: &PageGraph, q: Tid, level: usize, qv: &[f32]) {
    // The entry point as of PageGraph::open, a moment ago: a newer one only matters for the
    // descent's starting point, and set_entry re-checks under the meta page lock.
    let (mut ep, mut top) = (g.meta.entry, g.meta.entry_level as usize);
    if !ep.is_valid() {
        if set_entry(g.index, q, level) {
            return;
        }
        // Another insert made the first entry point meanwhile: link to the graph it started.
        let meta = read_meta(g.index);
        (ep, top) = (meta.entry, meta.entry_level as usize);
    }
    // Sized for what an ef_construction-wide layer-0 search usually visits: it never rehashes.
    let mut visited = FxHashSet::with_capacity_and_hasher(
        g.params.ef_construction * g.params.max_neighbors(0),
        Default::default(),
    );
    let backlinks = neighbors_for_insert(g, &mut visited, q, qv, level, ep, top, &g.params, |id| {
        g.info(id).state == format::STATE_LIVE
    });
    let mut own: Vec<Vec<Tid>> = vec![Vec::new(); level + 1];
    for (lc, chosen) in &backlinks {
        own[*lc] = chosen.iter().map(|s| s.id).collect();
    }
    write_lists(g, q, |lists| {
        for (lc, l) in own.iter().enumerate() {
            if lc < lists.len() {
                lists[lc] = l.clone();
            }
        }
        true
    });
    for (lc, chosen) in backlinks {
        for n in chosen {
            add_backlink(g, n.id, q, n.dist, lc);
        }
    }
    if level > top {
        set_entry(g.index, q, level);
    }
}

/// Makes `q` the entry point if there is none or its level is above the current one (checked
/// under the meta page lock); returns whether `q` is now the entry point.
fn set_entry(index: pg_sys::Relation, q: Tid, level: usize) -> bool {
    let buf = Buf::read(index, META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let mut meta = match Meta::decode(pages::contents(buf.page(), format::META_LEN)) {
        Ok(m) => m,
        Err(e) => corrupted(index, format!("Meta page: {e}.")),
    };
    if !meta.entry.is_valid() || level as u32 > meta.entry_level {
        meta.entry = q;
        meta.entry_level = level as u32;
        let mut wal = Wal::start(index);
        let page = wal.register(&buf, false);
        write_meta_page(page, &meta);
        wal.finish();
        return true;
    }
    false
}

/// Rewrites the neighbour tuple of `id` under its page's exclusive lock: `f` edits the decoded
/// lists and returns whether to write them.
pub fn write_lists(g: &PageGraph, id: Tid, f: impl FnOnce(&mut Vec<Vec<Tid>>) -> bool) -> bool {
    let info = g.info(id);
    let n = info.neighbors;
    let buf = Buf::read(g.index, n.block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let Some(bytes) = pages::item(buf.page(), n.offset) else {
        corrupted(
            g.index,
            format!("Neighbour tuple ({},{}) is missing.", n.block, n.offset),
        );
    };
    let mut lists = match format::decode_neighbors(bytes, g.params.m) {
        Ok(l) => l,
        Err(e) => corrupted(
            g.index,
            format!("Neighbour tuple ({},{}): {e}.", n.block, n.offset),
        ),
    };
    let level = lists.len() - 1;
    let upper_before = lists[1..].to_vec();
    if !f(&mut lists) {
        return false;
    }
    let encoded = format::encode_neighbors(level, g.params.m, &lists);
    // A change to a list of layer 1 or above bumps the meta page's upper_version in the same
    // WAL record (see `super::upper`). Lock order: the element page, then the meta page; no
    // code path holds the meta page while it locks another.
    let meta_buf = (lists[1..] != upper_before[..])
        .then(|| Buf::read(g.index, META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE));
    let mut wal = Wal::start(g.index);
    let page = wal.register(&buf, false);
    match pages::item_mut(page, n.offset) {
        Some(target) if target.len() == encoded.len() => target.copy_from_slice(&encoded),
        _ => corrupted(
            g.index,
            format!("Neighbour tuple ({},{}) changed size.", n.block, n.offset),
        ),
    }
    if let Some(meta_buf) = &meta_buf {
        let meta_page = wal.register(meta_buf, false);
        let mut meta = match Meta::decode(pages::contents(meta_page, format::META_LEN)) {
            Ok(m) => m,
            Err(e) => corrupted(g.index, format!("Meta page: {e}.")),
        };
        meta.upper_version = meta.upper_version.wrapping_add(1);
        write_meta_page(meta_page, &meta);
    }
    wal.finish();
    true
}

/// Adds the edge `from -> to` on `level`, shrinking `from`'s list with the heuristic when full.
/// The new list is computed without locks and written only if the list did not change meanwhile.
fn add_backlink(g: &PageGraph, from: Tid, to: Tid, dist: f32, level: usize) {
    let max = g.params.max_neighbors(level);
    for _attempt in 0..3 {
        let (_, lists) = g.neighbor_lists(from);
        let Some(current) = lists.get(level) else {
            return;
        };
        if current.contains(&to) {
            return;
        }
        let updated: Vec<Tid> = if current.len() < max {
            let mut l = current.clone();
            l.push(to);
            l
        } else {
            let fv = g.vector(from);
            let mut cands: Vec<Scored<Tid>> = current
                .iter()
                .map(|x| Scored {
                    dist: g.distance(&fv, *x),
                    id: *x,
                })
                .collect();
            cands.push(Scored { dist, id: to });
            select_neighbors(g, &cands, max)
                .into_iter()
                .map(|s| s.id)
                .collect()
        };
        let expected = current.clone();
        let written = write_lists(g, from, |lists| {
            if lists.get(level) != Some(&expected) {
                return false;
            }
            lists[level] = updated;
            true
        });
        if written {
            return;
        }
    }
}
