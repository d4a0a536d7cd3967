//! VACUUM for `vecx_ivfpq`.
//!
//! `ambulkdelete` walks every list: on each page, entries whose heap row is dead are removed by
//! compacting the page in place (one Generic WAL record per page that changed). Entries never
//! move between pages, so a concurrent scan, which copies a page's entries under its share lock,
//! sees each live entry exactly once. When a list gained room, its directory entry's `hint` moves
//! back to the first page with room, so inserts refill freed space before growing the list:
//! delete/reinsert cycles do not grow the index. Finally vacuum takes and releases SCAN_LOCK in
//! exclusive mode: scans that read a removed TID have ended before the heap can recycle it.
use pgrx::pg_sys;
use pgrx::prelude::*;
use vecx_core::ivfpq::format::{self, Tid};

use super::store::{self, read_meta, update_dir_entry, walk_list, Blocks, Hops};
use crate::hnsw::{PageLock, SCAN_LOCK};
use crate::pages::{self, Buf, Wal, CONTENTS_CAPACITY};

use crate::am::vacuum_stats as alloc_stats;

#[pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    let stats = alloc_stats(stats);
    // SAFETY: info is valid for the call.
    let index = unsafe { (*info).index };
    let Some(callback) = callback else {
        return stats;
    };
    let meta = read_meta(index);
    let blocks = Blocks::new(index);
    let entry_len = meta.entry_len();
    let mut removed = 0f64;
    let mut live = 0f64;
    let is_dead = |t: Tid| {
        let mut ip = pg_sys::ItemPointerData::default();
        pgrx::itemptr::item_pointer_set_all(&mut ip, t.block, t.offset);
        // SAFETY: the callback vacuum gave us, with its state.
        unsafe { callback(&mut ip, callback_state) }
    };
    for l in 0..meta.lists {
        let mut blk = store::dir_entry(index, &meta, &blocks, l).first;
        let mut first_room: Option<u32> = None;
        let mut hops = Hops::new(l);
        while blk != pg_sys::InvalidBlockNumber {
            // SAFETY: honours vacuum_cost_delay and checks for interrupts.
            unsafe { pg_sys::vacuum_delay_point() };
            blocks.check(index, blk);
            let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            let (o, len) = store::list_page(index, &meta, &buf, blk);
            let dead: Vec<bool> = store::entries(pages::contents(buf.page(), len), entry_len)
                .map(|(t, _)| is_dead(t))
                .collect();
            let ndead = dead.iter().filter(|d| **d).count();
            if ndead > 0 {
                let mut wal = Wal::start(index);
                let page = wal.register(&buf, false);
                let new_len =
                    format::compact_entries(pages::contents(page, len), entry_len, |i, _| dead[i]);
                pages::set_contents_len(page, new_len);
                wal.finish();
            }
            removed += ndead as f64;
            live += (dead.len() - ndead) as f64;
            if first_room.is_none() && len - ndead * entry_len + entry_len <= CONTENTS_CAPACITY {
                first_room = Some(blk);
            }
            blk = o.next;
            hops.step(index, &blocks);
        }
        if let Some(room) = first_room {
            update_dir_entry(index, &meta, &blocks, l, |e| {
                // Only move the hint back. Chain order is block order: the build writes each list
                // on consecutive blocks and growth appends a block at the end of the relation.
                let back = room < e.hint;
                if back {
                    e.hint = room;
                }
                back
            });
        }
    }
    // Scans that read a removed TID must end before the heap recycles it.
    drop(PageLock::acquire(index, SCAN_LOCK, pg_sys::ExclusiveLock));
    // SAFETY: stats is ours to fill.
    unsafe {
        (*stats).tuples_removed += removed;
        (*stats).num_index_tuples = live;
        (*stats).num_pages = pages::nblocks(index);
    }
    stats
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: info is valid for the call.
    let (analyze_only, index) = unsafe { ((*info).analyze_only, (*info).index) };
    if analyze_only {
        return stats;
    }
    if !stats.is_null() {
        // ambulkdelete ran and counted.
        return stats;
    }
    let stats = alloc_stats(stats);
    let meta = read_meta(index);
    let blocks = Blocks::new(index);
    let mut live = 0usize;
    for l in 0..meta.lists {
        walk_list(index, &meta, &blocks, l, |_, b| {
            live += b.len() / meta.entry_len()
        });
    }
    // SAFETY: stats is ours to fill.
    unsafe {
        (*stats).num_index_tuples = live as f64;
        (*stats).num_pages = pages::nblocks(index);
    }
    stats
}
