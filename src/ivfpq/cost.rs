//! `amcostestimate` for `vecx_ivfpq`, built like the HNSW one: without `ORDER BY <distance>`
//! the index is useless (prohibitive cost); otherwise the *startup* cost is the window (the
//! entries of `probes` of `lists` lists, plus `rerank * 10` table reads for re-ranking) and the
//! *total* cost every entry plus a table read for each (the exact phase of a heavily filtered
//! scan). The planner scales between them by the fraction of rows it expects to fetch, so a
//! selective filter makes a plain scan with a sort, or another index, win when cheaper.
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::gucs::{IVFPQ_PROBES, IVFPQ_RERANK};

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
        let index = pg_sys::index_open(
            (*(*path).indexinfo).indexoid,
            pg_sys::NoLock as pg_sys::LOCKMODE,
        );
        let lists = (super::store::read_meta(index).lists as f64).max(1.0);
        pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
        let probes = (IVFPQ_PROBES.get().max(1) as f64).min(lists);
        let rerank = (IVFPQ_RERANK.get().max(0) * 10) as f64;
        let generic = |n: f64| -> pg_sys::GenericCosts {
            let mut costs: pg_sys::GenericCosts = std::mem::zeroed();
            costs.numIndexTuples = n;
            pg_sys::genericcostestimate(root, path, loop_count, &mut costs);
            costs
        };
        let window = generic((tuples * probes / lists).max(1.0));
        let all = generic(tuples);
        // Re-ranking reads rows from the table: a random page each.
        let heap_read = pg_sys::random_page_cost;
        *startup = window.indexTotalCost + rerank.min(tuples) * heap_read;
        *total = (all.indexTotalCost + tuples * heap_read).max(*startup);
        *selectivity = 1.0;
        *correlation = 0.0;
        *pages = all.numIndexPages;
    }
}
