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
use pgrx::pg_sys;
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
        (*r).ambuild = Some(build::ambuild);
        (*r).ambuildempty = Some(build::ambuildempty);
        (*r).aminsert = Some(insert::aminsert);
        (*r).ambulkdelete = Some(vacuum::ambulkdelete);
        (*r).amvacuumcleanup = Some(vacuum::amvacuumcleanup);
        (*r).amcanreturn = None;
        (*r).amcostestimate = Some(cost::amcostestimate);
        (*r).amoptions = Some(options::amoptions);
        (*r).amproperty = None;
        (*r).ambuildphasename = Some(build::ambuildphasename);
        (*r).amvalidate = Some(amvalidate);
        (*r).amadjustmembers = None;
        (*r).ambeginscan = Some(scan::ambeginscan);
        (*r).amrescan = Some(scan::amrescan);
        (*r).amgettuple = Some(scan::amgettuple);
        (*r).amgetbitmap = None;
        (*r).amendscan = Some(scan::amendscan);
        (*r).ammarkpos = None;
        (*r).amrestrpos = None;
        (*r).amestimateparallelscan = None;
        (*r).aminitparallelscan = None;
        (*r).amparallelrescan = None;
        pgrx::datum::Internal::from(Some(pg_sys::Datum::from(am.into_pg())))
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn amvalidate(_opclassoid: pg_sys::Oid) -> bool {
    true
}
