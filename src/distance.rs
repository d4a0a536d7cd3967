//! The distance functions behind `<->`, `<#>`, `<=>` and `<+>`. Each checks the dimensions and
//! calls the vecx-core kernel directly (simsimd underneath).
//!
//! They are plain version-1 C functions rather than `#[pg_extern]` ones: an operator in a
//! sequential scan's `ORDER BY`, or in the expression an index scan's executor evaluates for every
//! row it returns, runs once per row, and pgrx's generic wrapper (argument iterator, memory
//! context closure) cost more than the 25-dimension cosine itself (a sequential scan of glove25
//! computing `<=>` for every row took 1.45x pgvector's time with it). Their SQL definitions are
//! in `sql/finalize.sql`; the symbols keep the names pgrx gave them.
use pgrx::pg_sys;
use pgrx::prelude::*;
use vecx_core::distance;
use vecx_core::error::check_same_dims;

use crate::datum::VecxArg;
use crate::error::{raise_code, OrRaise};

/// The two `vecx` arguments of a distance function, checked to have the same dimensions.
///
/// # Safety
/// `fcinfo` must be the call info PostgreSQL passes to a function of two `vecx` arguments.
unsafe fn args<'a>(fcinfo: pg_sys::FunctionCallInfo) -> (VecxArg<'a>, VecxArg<'a>) {
    // SAFETY: a call of a two-argument function carries two arguments.
    let [a, b] = unsafe { [*(*fcinfo).args.as_ptr(), *(*fcinfo).args.as_ptr().add(1)] };
    if a.isnull || b.isnull {
        // (The functions are STRICT: only a direct call from C could pass a null.)
        raise_code(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "vecx distance functions take no null arguments",
            None,
        );
    }
    // SAFETY: non-null arguments of type vecx.
    let (a, b) = unsafe { (VecxArg::from_raw(a.value), VecxArg::from_raw(b.value)) };
    check_same_dims(a.as_slice(), b.as_slice()).or_raise();
    (a, b)
}

/// Defines `$wrapper`, a version-1 C function of two `vecx` arguments returning `$kernel` of
/// their floats as float8, with its `pg_finfo_` record.
macro_rules! distance_function {
    ($(#[$doc:meta])* $wrapper:ident, $finfo:ident, $kernel:expr) => {
        #[no_mangle]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pg_sys::Pg_finfo_record {
            const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1_API
        }

        $(#[$doc])*
        #[no_mangle]
        #[pg_guard]
        pub unsafe extern "C-unwind" fn $wrapper(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
            // SAFETY: PostgreSQL calls this function with its two vecx arguments (see
            // sql/finalize.sql).
            let (a, b) = unsafe { args(fcinfo) };
            let kernel: fn(&[f32], &[f32]) -> f64 = $kernel;
            pg_sys::Datum::from(kernel(a.as_slice(), b.as_slice()).to_bits())
        }
    };
}

distance_function!(
    /// Euclidean distance (`l2_distance`, `<->`).
    l2_distance_wrapper,
    pg_finfo_l2_distance_wrapper,
    distance::l2
);
distance_function!(
    /// Squared Euclidean distance (`vecx_l2_squared_distance`): same order as `<->`, without
    /// the square root.
    vecx_l2_squared_distance_wrapper,
    pg_finfo_vecx_l2_squared_distance_wrapper,
    distance::l2_squared
);
distance_function!(
    /// Inner product (`inner_product`).
    inner_product_wrapper,
    pg_finfo_inner_product_wrapper,
    distance::dot
);
distance_function!(
    /// Negative inner product (`vecx_negative_inner_product`, `<#>`), so that ascending order
    /// means most similar first.
    vecx_negative_inner_product_wrapper,
    pg_finfo_vecx_negative_inner_product_wrapper,
    |a, b| -distance::dot(a, b)
);
distance_function!(
    /// Cosine distance (`cosine_distance`, `<=>`): 1 - cos(a, b); NaN when either vector is zero.
    cosine_distance_wrapper,
    pg_finfo_cosine_distance_wrapper,
    distance::cosine
);
distance_function!(
    /// Manhattan distance (`l1_distance`, `<+>`).
    l1_distance_wrapper,
    pg_finfo_l1_distance_wrapper,
    distance::l1
);
