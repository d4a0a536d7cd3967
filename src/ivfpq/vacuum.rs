//! VACUUM for `vecx_ivfpq`.
//!
//! `ambulkdelete` reads every list page once, in block order (a packed page can hold several
//! lists' entries, so walking list by list would visit it more than once): entries whose heap
//! row is dead are removed by compacting the page in place (one Generic WAL record per page that
//! changed). Entries never move between pages, so a concurrent scan, which copies a page's
//! entries under its share lock, sees each live entry exactly once. Then, for each list whose
//! pages gained room, its directory entry's `hint` moves back to the first page with room, so
//! inserts refill freed space before any list grows: delete/reinsert cycles do not grow the
//! index. Finally vacuum takes and releases SCAN_LOCK in exclusive mode: scans that read a
//! removed TID have ended before the heap can recycle it.
use pgrx::pg_sys;
use pgrx::prelude::*;
use vecx_core::ivfpq::format::{self, Tid};

use super::store::{self, each_list_page, read_meta, update_dir_entry, Blocks};
use crate::hnsw::{PageLock, SCAN_LOCK};
use crate::pages::{self, Wal};

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
    let seen = each_list_page(
        index,
        &meta,
        pg_sys::BUFFER_LOCK_EXCLUSIVE,
        |_, buf, len| {
            crate::am::vacuum_delay();
            let dead: Vec<bool> = store::entries(pages::contents(buf.page(), len), entry_len)
                .map(|(t, _, _)| is_dead(t))
                .collect();
            let ndead = dead.iter().filter(|d| **d).count();
            removed += ndead as f64;
            live += (dead.len() - ndead) as f64;
            if ndead == 0 {
                return len;
            }
            let mut wal = Wal::start(index);
            let page = wal.register(buf, false);
            let new_len =
                format::compact_entries(pages::contents(page, len), entry_len, |i, _| dead[i]);
            pages::set_contents_len(page, new_len);
            wal.finish();
            new_len
        },
    );
    // Move each list's insert hint back to its first page with room. A list's pages are in
    // ascending block order (packed range, then growth chain appended at the end of the file), so
    // "earlier in the list" is "lower block number".
    let dirs: Vec<_> = (0..meta.lists)
        .map(|l| store::dir_entry(index, &meta, &blocks, l))
        .collect();
    for (l, d) in (0..meta.lists).zip(&dirs) {
        pgrx::check_for_interrupts!();
        let chain = dirs[meta.leader(l) as usize].chain_first;
        let mut blk = d.start(chain);
        let mut hops = 0usize;
        let mut first_room = None;
        while (blk as usize) < seen.len() && seen[blk as usize].list_page && hops <= seen.len() {
            if seen[blk as usize].room {
                first_room = Some(blk);
                break;
            }
            blk = d.after(blk, seen[blk as usize].next, chain);
            hops += 1;
        }
        if let Some(room) = first_room.filter(|r| *r < d.hint) {
            update_dir_entry(index, &meta, &blocks, l, |e| {
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
    let mut live = 0usize;
    each_list_page(index, &meta, pg_sys::BUFFER_LOCK_SHARE, |_, _, len| {
        live += len / meta.entry_len();
        len
    });
    // SAFETY: stats is ours to fill.
    unsafe {
        (*stats).num_index_tuples = live as f64;
        (*stats).num_pages = pages::nblocks(index);
    }
    stats
}
