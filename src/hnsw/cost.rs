//! `amcostestimate`: what an HNSW scan costs the planner.
//!
//! Without `ORDER BY <distance operator>` the index is useless, so the cost is prohibitive.
//! Otherwise the *startup* cost is the initial search (about `ef_search * 2m` element visits,
//! costed by `genericcostestimate` as that many index tuples) and the *total* cost a traversal
//! of the whole index (the exact phase of a heavily filtered scan). The planner scales
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
        // Elements the initial search visits: the descent (about m per level) plus a share of
        // the layer-0 lists of the expanded elements. The share shrinks as the search widens
        // (more neighbours are already visited) and grows slowly with the index size; the
        // constant follows pgvector's measured estimator. The scan's window search is twice
        // ef_search wide.
        let index = pg_sys::index_open(
            (*(*path).indexinfo).indexoid,
            pg_sys::NoLock as pg_sys::LOCKMODE,
        );
        let m = (super::graph::read_meta(index).m as f64).max(2.0);
        pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
        let ef = 2.0 * HNSW_EF_SEARCH.get().max(1) as f64;
        let levels = tuples.ln() / m.ln();
        let share = (0.55 * tuples.ln() / (m.ln() * (1.0 + ef.ln()))).min(1.0);
        let visited = (levels * m + 2.0 * m * ef * share).clamp(1.0, tuples);
        let generic = |n: f64| -> pg_sys::GenericCosts {
            let mut costs: pg_sys::GenericCosts = std::mem::zeroed();
            costs.numIndexTuples = n;
            pg_sys::genericcostestimate(root, path, loop_count, &mut costs);
            costs
        };
        let first = generic(visited);
        let all = generic(tuples);
        *startup = first.indexTotalCost;
        *total = all.indexTotalCost.max(first.indexTotalCost);
        *selectivity = 1.0;
        *correlation = 0.0;
        *pages = all.numIndexPages;
    }
}
