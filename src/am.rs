//! What the two index access methods share: the `IndexAmRoutine` they hand PostgreSQL (same
//! capabilities, different callbacks), progress reporting, vacuum statistics and the skeleton
//! of their cost estimates.
use pgrx::{pg_sys, PgMemoryContexts};
use vecx_core::hnsw::format::Tid;

use crate::datum::VecxArg;
use crate::hnsw::build::tid_of;

/// The callbacks that differ between `vecx_hnsw` and `vecx_ivfpq`.
pub struct Callbacks {
    pub build: pg_sys::ambuild_function,
    pub buildempty: pg_sys::ambuildempty_function,
    pub insert: pg_sys::aminsert_function,
    pub bulkdelete: pg_sys::ambulkdelete_function,
    pub vacuumcleanup: pg_sys::amvacuumcleanup_function,
    pub costestimate: pg_sys::amcostestimate_function,
    pub options: pg_sys::amoptions_function,
    pub buildphasename: pg_sys::ambuildphasename_function,
    pub beginscan: pg_sys::ambeginscan_function,
    pub rescan: pg_sys::amrescan_function,
    pub gettuple: pg_sys::amgettuple_function,
    pub endscan: pg_sys::amendscan_function,
}

/// An ordering-only, single-column index access method with one support function (the
/// distance, which tells the AM its metric).
pub fn routine(cb: Callbacks) -> pgrx::datum::Internal {
    // SAFETY: an IndexAmRoutine node palloc'd in the caller's context, filled completely.
    unsafe {
        let am =
            pgrx::PgBox::<pg_sys::IndexAmRoutine>::alloc_node(pg_sys::NodeTag::T_IndexAmRoutine);
        let r = am.as_ptr();
        (*r).amstrategies = 0;
        (*r).amsupport = 1;
        (*r).amoptsprocnum = 0;
        (*r).amcanorder = false;
        (*r).amcanorderbyop = true;
        (*r).amcanbackward = false;
        (*r).amcanunique = false;
        (*r).amcanmulticol = false;
        (*r).amoptionalkey = true;
        (*r).amsearcharray = false;
        (*r).amsearchnulls = false;
        (*r).amstorage = false;
        (*r).amclusterable = false;
        (*r).ampredlocks = false;
        (*r).amcanparallel = false;
        (*r).amcaninclude = false;
        (*r).amusemaintenanceworkmem = false;
        (*r).amparallelvacuumoptions = pg_sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
        (*r).amkeytype = pg_sys::InvalidOid;
        (*r).ambuild = cb.build;
        (*r).ambuildempty = cb.buildempty;
        (*r).aminsert = cb.insert;
        (*r).ambulkdelete = cb.bulkdelete;
        (*r).amvacuumcleanup = cb.vacuumcleanup;
        (*r).amcanreturn = None;
        (*r).amcostestimate = cb.costestimate;
        (*r).amoptions = cb.options;
        (*r).amproperty = None;
        (*r).ambuildphasename = cb.buildphasename;
        (*r).amvalidate = Some(amvalidate);
        // PostgreSQL 14 added amadjustmembers.
        #[cfg(not(feature = "pg13"))]
        {
            (*r).amadjustmembers = None;
        }
        (*r).ambeginscan = cb.beginscan;
        (*r).amrescan = cb.rescan;
        (*r).amgettuple = cb.gettuple;
        (*r).amgetbitmap = None;
        (*r).amendscan = cb.endscan;
        (*r).ammarkpos = None;
        (*r).amrestrpos = None;
        (*r).amestimateparallelscan = None;
        (*r).aminitparallelscan = None;
        (*r).amparallelrescan = None;
        pgrx::datum::Internal::from(Some(pg_sys::Datum::from(am.into_pg())))
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn amvalidate(_opclassoid: pg_sys::Oid) -> bool {
    true
}

/// Sets a `pg_stat_progress_create_index` field (a no-op outside CREATE INDEX).
pub fn progress(param: u32, value: i64) {
    // SAFETY: progress reporting is a no-op outside a command that started it.
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) };
}

/// `vacuum_delay_point`: honours vacuum_cost_delay and checks for interrupts (PostgreSQL 18
/// added its `is_analyze` argument).
pub fn vacuum_delay() {
    // SAFETY: callable anywhere in a backend; sleeps and checks for interrupts only.
    #[cfg(not(feature = "pg18"))]
    unsafe {
        pg_sys::vacuum_delay_point()
    };
    // SAFETY: as above.
    #[cfg(feature = "pg18")]
    unsafe {
        pg_sys::vacuum_delay_point(false)
    };
}

/// The statistics struct vacuum passed in, or a new zeroed one.
pub fn vacuum_stats(
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        // SAFETY: palloc0 of the struct the caller expects back.
        unsafe {
            pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBulkDeleteResult>())
                as *mut pg_sys::IndexBulkDeleteResult
        }
    } else {
        stats
    }
}

/// The planner's inputs to `amcostestimate`, for the shared skeleton in [`estimate`].
pub struct CostArgs {
    pub root: *mut pg_sys::PlannerInfo,
    pub path: *mut pg_sys::IndexPath,
    pub loop_count: f64,
    pub startup: *mut pg_sys::Cost,
    pub total: *mut pg_sys::Cost,
    pub selectivity: *mut pg_sys::Selectivity,
    pub correlation: *mut f64,
    pub pages: *mut f64,
}

/// What an AM's cost function returns to [`estimate`].
pub struct Costs {
    /// Cost of the work before the first row (the initial search window).
    pub startup: f64,
    /// Pages that work reads (index pages, plus table pages for re-ranking).
    pub startup_pages: f64,
    /// The fraction of the index that work reads (elements visited, lists probed).
    pub startup_fraction: f64,
    /// Cost of visiting everything (the exact phase of a heavily filtered scan).
    pub total: f64,
}

/// The cost skeleton both AMs share: without `ORDER BY <distance>` the index is useless
/// (prohibitive cost); otherwise `costs(index, tuples, all, generic)` returns [`Costs`], where
/// `all` is `genericcostestimate` for visiting every index tuple and `generic(n)` for visiting
/// `n`.
///
/// **TOAST.** Vectors of more than about 500 dimensions are stored out of line (TOAST), so a
/// table of 1536-d embeddings has few heap pages and the planner costs a sequential scan by
/// those pages alone, not by the TOAST pages every row's distance reads. Costed honestly, the
/// index's initial search (hundreds of random page reads) then loses to a "cheap" sequential
/// scan that in fact reads every vector. As pgvector does, when the startup work reads more
/// pages than the table has (and reads less than half the index), those pages are costed as
/// sequential and capped at the table's page count: the index then wins an unfiltered `ORDER BY
/// ... LIMIT`, and still loses when a selective filter brings the cost toward `total`.
pub fn estimate(
    a: CostArgs,
    costs: impl FnOnce(
        pg_sys::Relation,
        f64,
        &pg_sys::GenericCosts,
        &dyn Fn(f64) -> pg_sys::GenericCosts,
    ) -> Costs,
) {
    // SAFETY: the planner passes valid pointers; the index is opened without a lock (the
    // planner holds one) for its meta page; genericcostestimate fills `costs`.
    unsafe {
        if (*a.path).indexorderbys.is_null() {
            *a.startup = f64::MAX;
            *a.total = f64::MAX;
            *a.selectivity = 0.0;
            *a.correlation = 0.0;
            *a.pages = 0.0;
            return;
        }
        let info = (*a.path).indexinfo;
        let tuples = (*info).tuples.max(1.0);
        let generic = |n: f64| -> pg_sys::GenericCosts {
            let mut c: pg_sys::GenericCosts = std::mem::zeroed();
            c.numIndexTuples = n;
            pg_sys::genericcostestimate(a.root, a.path, a.loop_count, &mut c);
            c
        };
        let index = pg_sys::index_open((*info).indexoid, pg_sys::NoLock as pg_sys::LOCKMODE);
        let all = generic(tuples);
        let c = costs(index, tuples, &all, &generic);
        pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
        let mut startup = c.startup;
        let heap_pages = (*(*info).rel).pages as f64;
        if c.startup_pages > heap_pages && c.startup_fraction < 0.5 {
            let mut random = 0.0;
            let mut seq = 0.0;
            pg_sys::get_tablespace_page_costs((*info).reltablespace, &mut random, &mut seq);
            startup -= c.startup_pages * (random - seq).max(0.0);
            startup -= (c.startup_pages - heap_pages) * seq;
            startup = startup.max(0.0);
        }
        *a.startup = startup;
        *a.total = c.total.max(startup);
        *a.selectivity = 1.0;
        *a.correlation = 0.0;
        *a.pages = all.numIndexPages;
    }
}

/// Calls `f` with the `vecx` value in `datum`, detoasted inside `tmp`, which is reset afterwards
/// (build callbacks and inserts keep one tuple's memory at a time).
///
/// # Safety
/// `datum` must be a non-null `vecx` datum.
pub unsafe fn with_vector<R>(
    tmp: &mut PgMemoryContexts,
    datum: pg_sys::Datum,
    f: impl FnOnce(&[f32]) -> R,
) -> R {
    // SAFETY: the caller guarantees the datum; the detoasted copy lives in `tmp` and is only
    // borrowed by `f`, before the reset.
    unsafe {
        let out = tmp.switch_to(|_| f(&VecxArg::from_raw(datum)));
        tmp.reset();
        out
    }
}

/// The body of both `aminsert`s: skips NULL (not indexed) and calls `insert(heap TID, vector)`
/// in a short-lived memory context named `name`.
///
/// # Safety
/// `values`, `isnull` and `heap_tid` are the arguments PostgreSQL passes to `aminsert` for a
/// single-column index.
pub unsafe fn insert_one(
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    name: &str,
    insert: impl FnOnce(Tid, &[f32]),
) -> bool {
    // SAFETY: as the caller guarantees: one value, one null flag, a valid heap TID.
    unsafe {
        if !*isnull {
            let heap = tid_of(&*heap_tid);
            let mut ctx = PgMemoryContexts::new(name);
            with_vector(&mut ctx, *values, |v| insert(heap, v));
        }
    }
    false
}

/// `ambeginscan` for both AMs: the scan descriptor, with `st` as its opaque state, moved into
/// the scan's memory context and dropped when that context is deleted (so an ERROR cannot leak
/// it).
pub fn begin_scan<T>(
    index: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
    st: T,
) -> pg_sys::IndexScanDesc {
    // SAFETY: RelationGetIndexScan allocates the descriptor in the current (scan) context, where
    // the state is leaked and later dropped.
    unsafe {
        let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
        let ptr = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(st);
        (*scan).opaque = ptr as *mut std::ffi::c_void;
        scan
    }
}

/// The state [`begin_scan`] stored in `scan`.
///
/// # Safety
/// `scan` must come from [`begin_scan`] with a state of type `T`.
pub unsafe fn scan_state<'a, T>(scan: pg_sys::IndexScanDesc) -> &'a mut T {
    // SAFETY: as the caller guarantees; the state lives as long as the scan.
    unsafe { &mut *((*scan).opaque as *mut T) }
}

/// What `amrescan` was asked to order by: `None` without an ORDER BY key, `Some(None)` for
/// `ORDER BY v <-> NULL`, else the query vector. Copies the keys into the descriptor as the AM
/// API requires.
///
/// # Safety
/// `orderbys` holds `norderbys` scan keys of a `vecx` ordering operator, for `scan`.
pub unsafe fn order_by_query(
    scan: pg_sys::IndexScanDesc,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) -> Option<Option<Vec<f32>>> {
    // SAFETY: as the caller guarantees.
    unsafe {
        if norderbys <= 0 || orderbys.is_null() {
            return None;
        }
        std::ptr::copy_nonoverlapping(orderbys, (*scan).orderByData, norderbys as usize);
        let key = &*orderbys;
        Some(
            (key.sk_flags & pg_sys::SK_ISNULL as i32 == 0)
                .then(|| VecxArg::from_raw(key.sk_argument).to_vec()),
        )
    }
}
