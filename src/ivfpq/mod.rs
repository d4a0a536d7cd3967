//! `vecx_ivfpq`: an IVF-PQ index (inverted lists of product-quantized residuals) whose every
//! byte lives in PostgreSQL pages. The algorithms (k-means, PQ, ADC) are in `vecx_core::ivfpq`;
//! this module is the access-method glue, one file per phase:
//!
//! | file | callbacks |
//! |---|---|
//! | [`build`] | `ambuild` (sample, train on rayon threads in cancellable steps, encode, write once + `log_newpage_range`), `ambuildempty` |
//! | [`insert`] | `aminsert` (append to the nearest list, Generic WAL) |
//! | [`scan`] | `ambeginscan`, `amrescan`, `amgettuple`, `amendscan`: probe, ADC, re-rank from the table, then an exact pass while the executor discards rows |
//! | [`vacuum`] | `ambulkdelete` (compact pages in place, move insert hints back), `amvacuumcleanup` |
//! | [`cost`] | `amcostestimate` |
//! | [`options`] | reloptions `lists`, `pq_m`, `pq_bits` |
//! | [`store`] | meta page, quantizer (cached per backend), directory, list pages |
//! | [`introspect`] | the `vecx_index_stats` / `vecx_index_check` parts for this AM |
//!
//! Locking: buffer locks one page at a time, except an insert that grows a list (directory page,
//! then the list's last page, then the new page). Scans hold the SCAN_LOCK heavyweight lock
//! (shared with vecx_hnsw's protocol) in share mode; vacuum waits for them before returning.
use pgrx::prelude::*;

pub mod build;
pub mod cost;
pub mod insert;
pub mod introspect;
pub mod options;
pub mod scan;
pub mod store;
pub mod vacuum;

#[pg_extern(sql = false)]
fn vecx_ivfpq_handler() -> pgrx::datum::Internal {
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
