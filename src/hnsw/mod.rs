//! `vecx_hnsw`: an HNSW graph index whose every byte lives in PostgreSQL pages.
//!
//! The graph algorithms (search, neighbour selection, parallel construction, streaming search)
//! are in `vecx_core::hnsw`; this module is the access-method glue, one file per phase as in
//! pgvector:
//!
//! | file | callbacks |
//! |---|---|
//! | [`build`] | `ambuild` (in-memory parallel build, then pages written once and WAL-logged with one `log_newpage_range`), `ambuildempty` |
//! | [`insert`] | `aminsert` (Generic WAL; also finishes builds that outgrow `maintenance_work_mem`) |
//! | [`scan`] | `ambeginscan`, `amrescan`, `amgettuple`, `amendscan`: a streaming search that keeps going while the executor discards rows |
//! | [`vacuum`] | `ambulkdelete` (mark, wait, repair the graph, free), `amvacuumcleanup` |
//! | [`cost`] | `amcostestimate` |
//! | [`options`] | reloptions `m` and `ef_construction` |
//! | [`slots`] | freeing tuples without moving any other byte, and reusing their space |
//! | [`graph`] | `PageGraph`: vecx-core's `GraphView` over index pages |
//! | [`upper`] | the backend's copies of the upper layers, for the descent scans start with |
//! | [`introspect`] | `vecx_index_stats`, `vecx_index_check` |
//!
//! Locking protocol. Buffer locks are held for one page at a time, with two exceptions: a
//! change to an upper-layer list locks the meta page after the element page, to bump its
//! `upper_version` in the same WAL record (see [`upper`]), and nothing holds the meta page
//! while it locks another page; vacuum's free pass (an element and its neighbour tuple on two
//! pages) and an insert reusing a run of empty pages for an out-of-line vector hold several
//! element pages, always taken in block order. So no cycle of waits can form. Two heavyweight
//! page locks on otherwise unused lock tags coordinate with vacuum, as pgvector does: inserts
//! hold [`UPDATE_LOCK`] in share mode while they work, scans hold [`SCAN_LOCK`] in share mode
//! from their first tuple to their end. Vacuum marks dead elements, then takes and releases
//! both locks in exclusive mode: after that no insert can link to a dead element and no scan
//! still holds one, so the graph can be repaired and the space freed for reuse. Vacuum's free
//! pass holds a third, [`FREE_LOCK`], in exclusive mode, and `vecx_index_check` holds it in
//! share mode. On a primary, searches read element tuples (header and vector, never neighbour
//! lists) under a pin alone, without the content lock: what makes that sound is set out at
//! `graph::PageGraph::pinned_partial` (an element never changes but for its state byte,
//! no byte of a live tuple ever moves, see [`slots`], and the waits above keep freed
//! elements out of reach).
use pgrx::pg_sys;
use pgrx::prelude::*;

pub mod build;
pub mod cost;
pub mod graph;
pub mod insert;
pub mod introspect;
pub mod options;
pub mod scan;
pub mod slots;
pub mod upper;
pub mod vacuum;

/// Lock tag (a block number never read as a page) held by inserts, share mode.
pub const UPDATE_LOCK: u32 = 0;
/// Lock tag held by scans, share mode.
pub const SCAN_LOCK: u32 = 1;
/// Lock tag held by vacuum's free pass in exclusive mode and by `vecx_index_check` in share
/// mode, so the check never looks up a tuple that is freed while it reads.
pub const FREE_LOCK: u32 = 2;

/// A heavyweight page lock held until dropped.
pub struct PageLock {
    index: pg_sys::Relation,
    tag: u32,
    mode: i32,
}

impl PageLock {
    pub fn acquire(index: pg_sys::Relation, tag: u32, mode: u32) -> PageLock {
        // SAFETY: index is open; LockPage waits (with deadlock detection) and cannot fail
        // otherwise.
        unsafe { pg_sys::LockPage(index, tag, mode as i32) };
        PageLock {
            index,
            tag,
            mode: mode as i32,
        }
    }
}

impl Drop for PageLock {
    fn drop(&mut self) {
        // SAFETY: we hold this lock; releasing it once. (On an ERROR, transaction abort releases
        // heavyweight locks itself and this drop does not run twice.)
        unsafe { pg_sys::UnlockPage(self.index, self.tag, self.mode) };
    }
}

#[pg_extern(sql = false)]
fn vecx_hnsw_handler() -> pgrx::datum::Internal {
    crate::am::routine(crate::am::Callbacks {
        build: Some(build::ambuild),
        buildempty: Some(build::ambuildempty),
        insert: Some(insert::aminsert),
        bulkdelete: Some(vacuum::ambulkdelete),
        vacuumcleanup: Some(vacuum::amvacuumcleanup),
        costestimate: Some(cost::amcostestimate),
        options: Some(options::amoptions),
        buildphasename: Some(build::ambuildphasename),
        beginscan: Some(scan::ambeginscan),
        rescan: Some(scan::amrescan),
        gettuple: Some(scan::amgettuple),
        endscan: Some(scan::amendscan),
    })
}
