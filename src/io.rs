//! Type I/O: text input/output, the `vecx(n)` type modifier, binary send/recv, and the casts
//! between `vecx` and arrays. The formats themselves live in vecx-core (`text`, `binary`); this
//! file only moves bytes in and out of PostgreSQL and enforces the type modifier.
use std::ffi::CStr;

use pgrx::datum::{Array, Internal};
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};
use vecx_core::error::{check_dims, check_finite};
use vecx_core::{binary, text, ErrorKind, VecxError, MAX_DIM};

use crate::datum::{cstr_text, CStringOut, Float4ArrayArg, Float8ArrayArg, VecxArg, VecxOut};
use crate::error::{raise, raise_code, OrRaise};

/// Enforces `vecx(n)`: a value with another dimension count is an error (22000).
fn check_typmod(dims: usize, typmod: i32) {
    if typmod > 0 && dims != typmod as usize {
        raise(VecxError::new(
            ErrorKind::DataException,
            format!("expected {typmod} dimensions, not {dims}"),
        ));
    }
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_in(input: &CStr, _typioparam: pg_sys::Oid, typmod: i32) -> VecxOut {
    let values = text::parse(&cstr_text(input)).or_raise();
    check_typmod(values.len(), typmod);
    VecxOut::new(&values)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_out(v: VecxArg<'_>) -> CStringOut {
    CStringOut::new(&text::format(&v))
}

/// `vecx(n)`: exactly one integer modifier in 1..=16000.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_typmod_in(list: Array<'_, &CStr>) -> i32 {
    let invalid = |msg: String| -> ! {
        raise_code(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, msg, None)
    };
    if list.len() != 1 {
        invalid("invalid type modifier: vecx takes exactly one, the number of dimensions".into());
    }
    let text = match list.get(0) {
        Some(Some(s)) => s.to_string_lossy().into_owned(),
        _ => invalid(
            "invalid type modifier: vecx takes exactly one, the number of dimensions".into(),
        ),
    };
    let dims: i64 = match text.trim().parse() {
        Ok(d) => d,
        Err(_) => invalid(format!("invalid type modifier \"{text}\" for type vecx")),
    };
    if dims < 1 {
        invalid("dimensions for type vecx must be at least 1".into());
    }
    if dims > MAX_DIM as i64 {
        invalid(format!("dimensions for type vecx cannot exceed {MAX_DIM}"));
    }
    dims as i32
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_typmod_out(typmod: i32) -> CStringOut {
    CStringOut::new(&if typmod > 0 {
        format!("({typmod})")
    } else {
        String::new()
    })
}

/// Binary input: reads the pgvector binary layout at the buffer's cursor and advances it.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_recv(buf: Internal, _typioparam: pg_sys::Oid, typmod: i32) -> VecxOut {
    // pgrx's `Internal::unwrap` is the datum as an `Option` (no panic): `None` is an ERROR.
    let si = match buf.unwrap() {
        Some(d) => d.cast_mut_ptr::<pg_sys::StringInfoData>(),
        None => raise_code(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "vecx_recv: no buffer",
            None,
        ),
    };
    // SAFETY: recv functions get a valid StringInfo whose data holds len bytes, cursor <= len.
    let bytes = unsafe {
        let si = &mut *si;
        let cursor = si.cursor.clamp(0, si.len) as usize;
        std::slice::from_raw_parts(
            (si.data as *const u8).add(cursor),
            (si.len as usize) - cursor,
        )
    };
    let (values, used) = binary::decode(bytes).or_raise();
    // SAFETY: as above; `used` <= bytes.len(), so the cursor stays within len.
    unsafe { (*si).cursor += used as i32 };
    check_typmod(values.len(), typmod);
    VecxOut::new(&values)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_send(v: VecxArg<'_>) -> Vec<u8> {
    binary::encode(&v)
}

/// The length-coercion cast `vecx -> vecx(n)`, applied on assignment and explicit casts.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx(v: VecxArg<'_>, typmod: i32, _explicit: bool) -> VecxOut {
    check_typmod(v.len(), typmod);
    VecxOut::new(&v)
}

fn from_values(values: &[f32], typmod: i32) -> VecxOut {
    check_dims(values.len()).or_raise();
    check_finite(values).or_raise();
    check_typmod(values.len(), typmod);
    VecxOut::new(values)
}

/// `real[] -> vecx`.
#[pg_extern(immutable, strict, parallel_safe)]
fn array_to_vecx(arr: Float4ArrayArg<'_>, typmod: i32, _explicit: bool) -> VecxOut {
    from_values(arr.0, typmod)
}

/// `double precision[] -> vecx`: each element must fit in float4.
#[pg_extern(immutable, strict, parallel_safe)]
fn float8_array_to_vecx(arr: Float8ArrayArg<'_>, typmod: i32, _explicit: bool) -> VecxOut {
    let values: Vec<f32> = arr
        .0
        .iter()
        .map(|x| {
            let v = *x as f32;
            if x.is_finite() && !v.is_finite() {
                raise(VecxError::new(
                    ErrorKind::NumericValueOutOfRange,
                    format!("\"{x:e}\" is out of range for type vecx"),
                ));
            }
            if v == 0.0 && *x != 0.0 && x.is_finite() {
                raise(VecxError::new(
                    ErrorKind::NumericValueOutOfRange,
                    format!("\"{x:e}\" is out of range for type vecx"),
                ));
            }
            v
        })
        .collect();
    from_values(&values, typmod)
}

/// `vecx -> real[]`.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_to_float4(v: VecxArg<'_>) -> Vec<f32> {
    v.to_vec()
}

/// `vecx -> double precision[]`.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_to_float8(v: VecxArg<'_>) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
}
