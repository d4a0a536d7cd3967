//! `amcostestimate` for `vecx_ivfpq`, built like the HNSW one: without `ORDER BY <distance>`
//! the index is useless (prohibitive cost); otherwise the *startup* cost is the window (the
//! entries of `probes` of `lists` lists, plus `rerank * 10` table reads for re-ranking) and the
//! *total* cost every entry plus a table read for each (the exact phase of a heavily filtered
//! scan). The planner scales between them by the fraction of rows it expects to fetch, so a
//! selective filter makes a plain scan with a sort, or another index, win when cheaper.
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::am::{estimate, CostArgs, Costs};
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
    let args = CostArgs {
        root,
        path,
        loop_count,
        startup,
        total,
        selectivity,
        correlation,
        pages,
    };
    estimate(args, |index, tuples, all, generic| {
        let lists = (super::store::read_meta(index).lists as f64).max(1.0);
        let probes = vecx_core::ivfpq::probes(IVFPQ_PROBES.get(), lists as usize) as f64;
        let rerank = (IVFPQ_RERANK.get().max(0) * 10) as f64;
        // Re-ranking reads rows from the table: a random page each.
        // SAFETY: reading a planner GUC.
        let heap_read = unsafe { pg_sys::random_page_cost };
        let window = generic((tuples * probes / lists).max(1.0));
        let reads = rerank.min(tuples);
        Costs {
            startup: window.indexTotalCost + reads * heap_read,
            startup_pages: window.numIndexPages + reads,
            startup_fraction: probes / lists,
            total: all.indexTotalCost + tuples * heap_read,
        }
    });
}
