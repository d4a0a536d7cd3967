//! What the two index access methods share: the `IndexAmRoutine` they hand PostgreSQL (same
//! capabilities, different callbacks), progress reporting, vacuum statistics and the skeleton
//! of their cost estimates.
use pgrx::pg_sys;

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
        (*r).amadjustmembers = None;
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

/// The cost skeleton both AMs share: without `ORDER BY <distance>` the index is useless
/// (prohibitive cost); otherwise `costs(index, tuples, generic)` returns (startup, total), where
/// `generic(n)` is `genericcostestimate` for visiting `n` index tuples.
pub fn estimate(
    a: CostArgs,
    costs: impl FnOnce(pg_sys::Relation, f64, &dyn Fn(f64) -> pg_sys::GenericCosts) -> (f64, f64),
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
        let tuples = (*(*a.path).indexinfo).tuples.max(1.0);
        let generic = |n: f64| -> pg_sys::GenericCosts {
            let mut c: pg_sys::GenericCosts = std::mem::zeroed();
            c.numIndexTuples = n;
            pg_sys::genericcostestimate(a.root, a.path, a.loop_count, &mut c);
            c
        };
        let index = pg_sys::index_open(
            (*(*a.path).indexinfo).indexoid,
            pg_sys::NoLock as pg_sys::LOCKMODE,
        );
        let (startup, total) = costs(index, tuples, &generic);
        pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
        *a.startup = startup;
        *a.total = total.max(startup);
        *a.selectivity = 1.0;
        *a.correlation = 0.0;
        *a.pages = generic(tuples).numIndexPages;
    }
}
