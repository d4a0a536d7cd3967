//! The distance functions behind `<->`, `<#>`, `<=>` and `<+>`. Each checks the dimensions and
//! calls the vecx-core kernel directly (simsimd underneath).
use pgrx::prelude::*;
use vecx_core::distance;
use vecx_core::error::check_same_dims;

use crate::datum::VecxArg;
use crate::error::OrRaise;

#[inline]
fn same<'a>(a: &VecxArg<'a>, b: &VecxArg<'a>) -> (&'a [f32], &'a [f32]) {
    check_same_dims(a.as_slice(), b.as_slice()).or_raise();
    (a.as_slice(), b.as_slice())
}

/// Euclidean distance (`<->`).
#[pg_extern(immutable, strict, parallel_safe)]
fn l2_distance(a: VecxArg<'_>, b: VecxArg<'_>) -> f64 {
    let (a, b) = same(&a, &b);
    distance::l2(a, b)
}

/// Squared Euclidean distance: same order as `<->`, without the square root.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_l2_squared_distance(a: VecxArg<'_>, b: VecxArg<'_>) -> f64 {
    let (a, b) = same(&a, &b);
    distance::l2_squared(a, b)
}

/// Inner product.
#[pg_extern(immutable, strict, parallel_safe)]
fn inner_product(a: VecxArg<'_>, b: VecxArg<'_>) -> f64 {
    let (a, b) = same(&a, &b);
    distance::dot(a, b)
}

/// Negative inner product (`<#>`), so that ascending order means most similar first.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_negative_inner_product(a: VecxArg<'_>, b: VecxArg<'_>) -> f64 {
    let (a, b) = same(&a, &b);
    -distance::dot(a, b)
}

/// Cosine distance (`<=>`): 1 - cos(a, b); NaN when either vector is zero.
#[pg_extern(immutable, strict, parallel_safe)]
fn cosine_distance(a: VecxArg<'_>, b: VecxArg<'_>) -> f64 {
    let (a, b) = same(&a, &b);
    distance::cosine(a, b)
}

/// Manhattan distance (`<+>`).
#[pg_extern(immutable, strict, parallel_safe)]
fn l1_distance(a: VecxArg<'_>, b: VecxArg<'_>) -> f64 {
    let (a, b) = same(&a, &b);
    distance::l1(a, b)
}
