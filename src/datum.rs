//! How a `vecx` value is laid out in memory and on disk, and how it crosses the function-call
//! boundary.
//!
//! A `vecx` is a varlena, the same layout as pgvector's `vector`:
//!
//! ```text
//! int32  vl_len_   varlena header (4-byte form once detoasted)
//! int16  dim       number of elements, 1..=16000
//! int16  unused    always 0 (reserved)
//! float4 x[dim]    the elements, native byte order
//! ```
//!
//! [`VecxArg`] is a borrowed argument: the datum is exposed as `&[f32]` in place when it is
//! plain (a 4-byte header, as a column stored `PLAIN` or a value computed in the query holds it),
//! without any call into PostgreSQL (an operator in `ORDER BY` or a sequential scan runs once
//! per row), and is otherwise detoasted (in the function's memory context, so it lives as long
//! as the call). [`VecxOut`] is a freshly palloc'd result. [`CStringOut`], [`Float4ArrayArg`] and
//! [`Float8ArrayArg`] are the other argument/result shapes the I/O and cast functions need.
use std::ffi::{c_char, CStr};
use std::mem::size_of;

use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::{impl_sql_translatable, pg_sys, FromDatum, PgSqlErrorCode};

use crate::error::raise_code;

/// The fixed part of a `vecx` varlena.
#[repr(C)]
struct VecxHeader {
    vl_len_: i32,
    dim: i16,
    unused: i16,
}

/// Bytes before the first element.
pub const HEADER_LEN: usize = size_of::<VecxHeader>();
const _: () = assert!(
    HEADER_LEN == 8,
    "vecx header must be 8 bytes (pgvector-compatible layout)"
);

/// Total varlena size of a vector with `dim` elements.
pub const fn varlena_size(dim: usize) -> usize {
    HEADER_LEN + dim * size_of::<f32>()
}

/// A `vecx` argument, borrowed for the duration of one function call.
#[derive(Clone, Copy)]
pub struct VecxArg<'a>(&'a [f32]);

impl<'a> VecxArg<'a> {
    pub fn as_slice(&self) -> &'a [f32] {
        self.0
    }

    /// Reads a `vecx` datum, detoasting it if needed.
    ///
    /// # Safety
    /// `datum` must be a non-null datum of type `vecx`.
    pub unsafe fn from_raw(datum: pg_sys::Datum) -> VecxArg<'a> {
        let raw = datum.cast_mut_ptr::<pg_sys::varlena>();
        // SAFETY: a non-null varlena's first byte is readable and tells its form.
        let plain = unsafe { pgrx::varlena::varatt_is_4b_u(raw) };
        let aligned = (raw as usize).is_multiple_of(std::mem::align_of::<f32>());
        let ptr = if plain && aligned {
            raw
        } else if plain {
            // (PostgreSQL aligns a 4-byte-header value to the type's int4 alignment, so this is
            // not expected; the copy is aligned.)
            // SAFETY: a vecx datum; the copy is palloc'd in CurrentMemoryContext.
            unsafe { pg_sys::pg_detoast_datum_copy(raw) }
        } else {
            // SAFETY: the caller promises a vecx datum; pg_detoast_datum returns a palloc'd
            // plain copy of a short, compressed or out-of-line value in CurrentMemoryContext.
            unsafe { pg_sys::pg_detoast_datum(raw) }
        };
        // SAFETY: a detoasted varlena has a valid 4-byte header.
        let total = unsafe { pgrx::varlena::varsize_any(ptr) };
        if total < HEADER_LEN {
            corrupted(total, 0);
        }
        // SAFETY: at least HEADER_LEN bytes are readable (checked above); the pointer is 4-byte
        // aligned (checked above, or palloc'd).
        let header = unsafe { &*(ptr as *const VecxHeader) };
        let dim = header.dim.max(0) as usize;
        if total != varlena_size(dim) {
            corrupted(total, dim);
        }
        // SAFETY: `dim` floats follow the header (size checked above) and are 4-byte aligned.
        let values = unsafe {
            std::slice::from_raw_parts((ptr as *const u8).add(HEADER_LEN) as *const f32, dim)
        };
        VecxArg(values)
    }
}

fn corrupted(total: usize, dim: usize) -> ! {
    raise_code(
        PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
        "corrupted vecx value",
        Some(format!(
            "The value is {total} bytes long but its header claims {dim} dimensions."
        )),
    )
}

impl std::ops::Deref for VecxArg<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        self.0
    }
}

impl FromDatum for VecxArg<'_> {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            None
        } else {
            // SAFETY: a non-null datum of our type, as FromDatum's contract requires.
            Some(unsafe { VecxArg::from_raw(datum) })
        }
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for VecxArg<'fcx> {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: pgrx calls this only for non-null arguments of the declared SQL type.
        match unsafe { arg.unbox_arg_using_from_datum() } {
            Some(v) => v,
            None => raise_code(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!("argument {index} of a vecx function must not be null"),
                None,
            ),
        }
    }
}

impl_sql_translatable!(VecxArg<'_>, "vecx");

/// A `vecx` result, palloc'd in the current memory context.
pub struct VecxOut(*mut pg_sys::varlena);

impl VecxOut {
    /// Copies `values` into a new varlena. Callers check the dimension count with a precise
    /// message; this is the last line of defence (a count that would not fit the header's i16
    /// is an ERROR, never a wrapped, corrupt value).
    pub fn new(values: &[f32]) -> VecxOut {
        if let Err(e) = vecx_core::error::check_dims(values.len()) {
            crate::error::raise(e);
        }
        let size = varlena_size(values.len());
        // SAFETY: palloc0 returns `size` zeroed bytes, MAXALIGNed, or raises an ERROR.
        unsafe {
            let ptr = pg_sys::palloc0(size) as *mut pg_sys::varlena;
            pgrx::varlena::set_varsize_4b(ptr, size as i32);
            let header = ptr as *mut VecxHeader;
            (*header).dim = values.len() as i16;
            (*header).unused = 0;
            let data = (ptr as *mut u8).add(HEADER_LEN) as *mut f32;
            std::ptr::copy_nonoverlapping(values.as_ptr(), data, values.len());
            VecxOut(ptr)
        }
    }

    pub fn into_datum(self) -> pg_sys::Datum {
        pg_sys::Datum::from(self.0)
    }
}

unsafe impl BoxRet for VecxOut {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        // SAFETY: a palloc'd varlena in the call's memory context is a valid by-ref result.
        unsafe { fcinfo.return_raw_datum(self.into_datum()) }
    }
}

impl_sql_translatable!(VecxOut, "vecx");

/// A palloc'd C string result (the `cstring` returned by output functions).
pub struct CStringOut(*mut c_char);

impl CStringOut {
    pub fn new(s: &str) -> CStringOut {
        // SAFETY: palloc returns len+1 writable bytes or raises an ERROR; we copy `s` (which
        // the callers build from ASCII digits and punctuation, so it has no interior NUL) and
        // terminate it.
        unsafe {
            let ptr = pg_sys::palloc(s.len() + 1) as *mut c_char;
            std::ptr::copy_nonoverlapping(s.as_ptr() as *const c_char, ptr, s.len());
            *ptr.add(s.len()) = 0;
            CStringOut(ptr)
        }
    }
}

unsafe impl BoxRet for CStringOut {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        // SAFETY: a palloc'd NUL-terminated string is a valid cstring result.
        unsafe { fcinfo.return_raw_datum(pg_sys::Datum::from(self.0)) }
    }
}

impl_sql_translatable!(CStringOut, "cstring");

/// Reads a one-dimensional array of fixed-size, by-value elements without NULLs as a slice.
///
/// # Safety
/// `datum` must be a non-null array datum whose elements are `T` (float4 or float8).
unsafe fn array_slice<'a, T: Copy>(datum: pg_sys::Datum, type_name: &str) -> &'a [T] {
    // SAFETY: the caller promises an array datum; detoasting yields a plain ArrayType.
    let arr = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut pg_sys::ArrayType };
    // SAFETY: a detoasted ArrayType header is readable.
    let (ndim, dataoffset) = unsafe { ((*arr).ndim, (*arr).dataoffset) };
    if ndim == 0 {
        return &[];
    }
    if ndim != 1 {
        raise_code(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("array must be one-dimensional to convert to vecx, got {ndim} dimensions"),
            None,
        );
    }
    if dataoffset != 0 {
        raise_code(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "array must not contain nulls to convert to vecx",
            Some(format!("A {type_name}[] element is NULL.")),
        );
    }
    // SAFETY: for a 1-D array without a null bitmap the layout is the ArrayType header, then
    // dims[1] and lbound[1] (two int32), then MAXALIGNed data of dims[0] elements.
    unsafe {
        let dims = (arr as *const u8).add(size_of::<pg_sys::ArrayType>()) as *const i32;
        let n = (*dims).max(0) as usize;
        let header = size_of::<pg_sys::ArrayType>() + 2 * size_of::<i32>();
        let offset = (header + 7) & !7; // MAXALIGN on 64-bit platforms
        std::slice::from_raw_parts((arr as *const u8).add(offset) as *const T, n)
    }
}

macro_rules! array_arg {
    ($name:ident, $elem:ty, $sql:literal, $label:literal) => {
        /// A one-dimensional array argument without NULLs, read as a slice.
        pub struct $name<'a>(pub &'a [$elem]);

        impl FromDatum for $name<'_> {
            unsafe fn from_polymorphic_datum(
                datum: pg_sys::Datum,
                is_null: bool,
                _typoid: pg_sys::Oid,
            ) -> Option<Self> {
                // SAFETY: a non-null datum of the declared array type.
                (!is_null).then(|| $name(unsafe { array_slice::<$elem>(datum, $label) }))
            }
        }

        unsafe impl<'fcx> ArgAbi<'fcx> for $name<'fcx> {
            unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
                // SAFETY: pgrx calls this only for non-null arguments of the declared type.
                match unsafe { arg.unbox_arg_using_from_datum() } {
                    Some(v) => v,
                    None => $name(&[]),
                }
            }
        }

        impl_sql_translatable!($name<'_>, $sql);
    };
}

array_arg!(Float4ArrayArg, f32, "real[]", "real");
array_arg!(
    Float8ArrayArg,
    f64,
    "double precision[]",
    "double precision"
);

/// Turns a `cstring` argument into text, replacing invalid UTF-8 (which the parser then
/// rejects as malformed) rather than failing.
pub fn cstr_text(s: &CStr) -> std::borrow::Cow<'_, str> {
    s.to_string_lossy()
}
