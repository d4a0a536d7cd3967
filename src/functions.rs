//! Functions and arithmetic operators on `vecx`: dimensions, norm, normalisation, sub-vectors,
//! element-wise `+ - *` and concatenation `||`. The logic is in `vecx_core::vector`.
use pgrx::prelude::*;
use vecx_core::{distance, vector};

use crate::datum::{VecxArg, VecxOut};
use crate::error::OrRaise;

/// Number of dimensions.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_dims(v: VecxArg<'_>) -> i32 {
    v.len() as i32
}

/// Euclidean norm.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_norm(v: VecxArg<'_>) -> f64 {
    distance::norm(&v)
}

/// The vector scaled to unit length (a zero vector stays zero).
#[pg_extern(immutable, strict, parallel_safe)]
fn l2_normalize(v: VecxArg<'_>) -> VecxOut {
    VecxOut::new(&vector::l2_normalize(&v))
}

/// `count` elements starting at the 1-based position `start`.
#[pg_extern(immutable, strict, parallel_safe)]
fn subvector(v: VecxArg<'_>, start: i32, count: i32) -> VecxOut {
    VecxOut::new(&vector::subvector(&v, start, count).or_raise())
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_add(a: VecxArg<'_>, b: VecxArg<'_>) -> VecxOut {
    VecxOut::new(&vector::add(&a, &b).or_raise())
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_sub(a: VecxArg<'_>, b: VecxArg<'_>) -> VecxOut {
    VecxOut::new(&vector::sub(&a, &b).or_raise())
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_mul(a: VecxArg<'_>, b: VecxArg<'_>) -> VecxOut {
    VecxOut::new(&vector::mul(&a, &b).or_raise())
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_concat(a: VecxArg<'_>, b: VecxArg<'_>) -> VecxOut {
    VecxOut::new(&vector::concat(&a, &b).or_raise())
}
