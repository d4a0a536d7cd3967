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

use crate::am::{estimate, CostArgs, Costs};

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
        // Elements the initial search visits: the descent (about m per level) plus a share of
        // the layer-0 lists of the expanded elements. The share shrinks as the search widens
        // (more neighbours are already visited) and grows slowly with the index size; the
        // constant follows pgvector's measured estimator. The scan's window search is twice
        // ef_search wide, at least 11 (`scan::graph_window`).
        let m = (super::graph::read_meta(index).m as f64).max(2.0);
        let ef = super::scan::graph_window().width as f64;
        let levels = tuples.ln() / m.ln();
        let share = (0.55 * tuples.ln() / (m.ln() * (1.0 + ef.ln()))).min(1.0);
        let visited = (levels * m + 2.0 * m * ef * share).clamp(1.0, tuples);
        let window = generic(visited);
        Costs {
            startup: window.indexTotalCost,
            startup_pages: window.numIndexPages,
            startup_fraction: visited / tuples,
            total: all.indexTotalCost,
        }
    });
}
