//! `amcostestimate`: what an HNSW scan costs the planner.
//!
//! Without `ORDER BY <distance operator>` the index is useless, so the cost is prohibitive.
//! Otherwise the *startup* cost is the initial search (about `ef_search * 2m` element visits,
//! each a page read) and the *total* cost a traversal of the whole index. The planner scales
//! between the two by the fraction of rows it expects to fetch: `LIMIT k` on an unfiltered query
//! costs little more than the startup, while a selective filter (which makes the executor fetch
//! many index rows per result) approaches the total, so a plain scan with a sort, or another
//! index, wins when that is cheaper.
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::gucs::HNSW_EF_SEARCH;

#[pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn amcostestimate(
    root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    // SAFETY: the planner passes valid pointers; genericcostestimate fills `costs`.
    unsafe {
        if (*path).indexorderbys.is_null() {
            *startup = f64::MAX;
            *total = f64::MAX;
            *selectivity = 0.0;
            *correlation = 0.0;
            *pages = 0.0;
            return;
        }
        let tuples = (*(*path).indexinfo).tuples.max(1.0);
        let mut costs: pg_sys::GenericCosts = std::mem::zeroed();
        costs.numIndexTuples = tuples;
        pg_sys::genericcostestimate(root, path, loop_count, &mut costs);
        let m = 16.0;
        let first = (HNSW_EF_SEARCH.get() as f64 * 2.0 * m / tuples).min(1.0);
        *startup = costs.indexTotalCost * first;
        *total = costs.indexTotalCost;
        *selectivity = 1.0;
        *correlation = 0.0;
        *pages = costs.numIndexPages;
    }
}
