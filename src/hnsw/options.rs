//! Reloptions of `vecx_hnsw`: `m` (2..100, default 16) and `ef_construction` (4..1000, default
//! 64, and at least 2 * m). Registered once in `_PG_init`; the values are copied into the meta
//! page at build time, so a later `ALTER INDEX ... SET` cannot change the meaning of existing
//! pages (it applies at the next REINDEX).
use std::sync::atomic::{AtomicU32, Ordering};

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::error::raise_code;

pub const DEFAULT_M: i32 = 16;
pub const DEFAULT_EF_CONSTRUCTION: i32 = 64;

static KIND: AtomicU32 = AtomicU32::new(0);

#[repr(C)]
pub struct HnswOptions {
    vl_len_: i32,
    pub m: i32,
    pub ef_construction: i32,
}

pub fn register() {
    // SAFETY: called once from _PG_init; the option names and descriptions are static.
    unsafe {
        let kind = pg_sys::add_reloption_kind();
        KIND.store(kind, Ordering::Relaxed);
        pg_sys::add_int_reloption(
            kind,
            c"m".as_ptr(),
            c"Maximum number of neighbours per element on upper layers (2 * m on layer 0)".as_ptr(),
            DEFAULT_M,
            2,
            100,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
        pg_sys::add_int_reloption(
            kind,
            c"ef_construction".as_ptr(),
            c"Size of the candidate list used to build the graph".as_ptr(),
            DEFAULT_EF_CONSTRUCTION,
            4,
            1000,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amoptions(
    reloptions: pg_sys::Datum,
    validate: bool,
) -> *mut pg_sys::bytea {
    let table = [
        pg_sys::relopt_parse_elt {
            optname: c"m".as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
            offset: std::mem::offset_of!(HnswOptions, m) as i32,
            // PostgreSQL 18: 0 = no "explicitly set" flag.
            #[cfg(feature = "pg18")]
            isset_offset: 0,
        },
        pg_sys::relopt_parse_elt {
            optname: c"ef_construction".as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
            offset: std::mem::offset_of!(HnswOptions, ef_construction) as i32,
            // PostgreSQL 18: 0 = no "explicitly set" flag.
            #[cfg(feature = "pg18")]
            isset_offset: 0,
        },
    ];
    // SAFETY: build_reloptions parses into a palloc'd struct of the given size using the table.
    unsafe {
        pg_sys::build_reloptions(
            reloptions,
            validate,
            KIND.load(Ordering::Relaxed),
            std::mem::size_of::<HnswOptions>(),
            table.as_ptr(),
            table.len() as i32,
        ) as *mut pg_sys::bytea
    }
}

/// The index's (m, ef_construction), checked against each other.
pub fn of_index(index: pg_sys::Relation) -> (usize, usize) {
    // SAFETY: rd_options is either null (defaults) or the struct amoptions built.
    let (m, efc) = unsafe {
        let opts = (*index).rd_options as *const HnswOptions;
        if opts.is_null() {
            (DEFAULT_M, DEFAULT_EF_CONSTRUCTION)
        } else {
            ((*opts).m, (*opts).ef_construction)
        }
    };
    if efc < 2 * m {
        raise_code(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("ef_construction must be greater than or equal to 2 * m (got ef_construction = {efc}, m = {m})"),
            None,
        );
    }
    (m as usize, efc as usize)
}
