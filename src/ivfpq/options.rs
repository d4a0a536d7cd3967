//! Reloptions of `vecx_ivfpq`: `lists` (1..32768; default: about the square root of the row
//! count), `pq_m` (sub-quantizers, 1..16000 and at most the dimension count; default one per 4
//! dimensions) and `pq_bits` (4 or 8, default 8). 0 for `lists` or `pq_m` means "choose". The
//! values chosen are recorded in the meta page at build time.
use std::sync::atomic::{AtomicU32, Ordering};

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::error::raise_code;

static KIND: AtomicU32 = AtomicU32::new(0);

#[repr(C)]
pub struct IvfPqOptions {
    vl_len_: i32,
    pub lists: i32,
    pub pq_m: i32,
    pub pq_bits: i32,
}

pub fn register() {
    // SAFETY: called once from _PG_init; names and descriptions are static.
    unsafe {
        let kind = pg_sys::add_reloption_kind();
        KIND.store(kind, Ordering::Relaxed);
        let lock = pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE;
        pg_sys::add_int_reloption(
            kind,
            c"lists".as_ptr(),
            c"Number of inverted lists (0 = about the square root of the row count)".as_ptr(),
            0,
            0,
            32_768,
            lock,
        );
        pg_sys::add_int_reloption(
            kind,
            c"pq_m".as_ptr(),
            c"Number of product-quantization sub-quantizers (0 = one per 4 dimensions)".as_ptr(),
            0,
            0,
            16_000,
            lock,
        );
        pg_sys::add_int_reloption(
            kind,
            c"pq_bits".as_ptr(),
            c"Bits per sub-quantizer code: 4 or 8".as_ptr(),
            8,
            4,
            8,
            lock,
        );
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amoptions(
    reloptions: pg_sys::Datum,
    validate: bool,
) -> *mut pg_sys::bytea {
    let int = pg_sys::relopt_type::RELOPT_TYPE_INT;
    let table = [
        pg_sys::relopt_parse_elt {
            optname: c"lists".as_ptr(),
            opttype: int,
            offset: std::mem::offset_of!(IvfPqOptions, lists) as i32,
            // PostgreSQL 18: 0 = no "explicitly set" flag.
            #[cfg(feature = "pg18")]
            isset_offset: 0,
        },
        pg_sys::relopt_parse_elt {
            optname: c"pq_m".as_ptr(),
            opttype: int,
            offset: std::mem::offset_of!(IvfPqOptions, pq_m) as i32,
            // PostgreSQL 18: 0 = no "explicitly set" flag.
            #[cfg(feature = "pg18")]
            isset_offset: 0,
        },
        pg_sys::relopt_parse_elt {
            optname: c"pq_bits".as_ptr(),
            opttype: int,
            offset: std::mem::offset_of!(IvfPqOptions, pq_bits) as i32,
            // PostgreSQL 18: 0 = no "explicitly set" flag.
            #[cfg(feature = "pg18")]
            isset_offset: 0,
        },
    ];
    // SAFETY: build_reloptions parses into a palloc'd struct of the given size using the table.
    let opts = unsafe {
        pg_sys::build_reloptions(
            reloptions,
            validate,
            KIND.load(Ordering::Relaxed),
            std::mem::size_of::<IvfPqOptions>(),
            table.as_ptr(),
            table.len() as i32,
        ) as *mut IvfPqOptions
    };
    // SAFETY: opts is null or the struct just built.
    if validate && !opts.is_null() {
        check_bits(unsafe { (*opts).pq_bits });
    }
    opts as *mut pg_sys::bytea
}

fn check_bits(bits: i32) {
    if bits != 4 && bits != 8 {
        raise_code(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("pq_bits must be 4 or 8 (got {bits})"),
            None,
        );
    }
}

/// The index's options as (lists, pq_m, pq_bits), 0 meaning "choose".
pub fn of_index(index: pg_sys::Relation) -> (usize, usize, u8) {
    // SAFETY: rd_options is null (defaults) or the struct amoptions built.
    let (lists, pq_m, bits) = unsafe {
        let o = (*index).rd_options as *const IvfPqOptions;
        if o.is_null() {
            (0, 0, 8)
        } else {
            ((*o).lists, (*o).pq_m, (*o).pq_bits)
        }
    };
    check_bits(bits);
    (lists.max(0) as usize, pq_m.max(0) as usize, bits as u8)
}

/// Checks `pq_m` against the dimension count.
pub fn check_pq_m(pq_m: usize, dims: usize) {
    if pq_m > dims {
        raise_code(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("pq_m must be at most the number of dimensions (got pq_m = {pq_m} for {dims} dimensions)"),
            None,
        );
    }
}
