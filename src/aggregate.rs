//! `avg(vecx)` and `sum(vecx)`: a `float8[]` state `[count, sums...]`, a combine function for
//! parallel aggregation, and two final functions. The arithmetic is `vecx_core::aggregate`.
use pgrx::prelude::*;
use vecx_core::aggregate;

use crate::datum::{Float8ArrayArg, VecxArg, VecxOut};
use crate::error::OrRaise;

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_accum(state: Float8ArrayArg<'_>, v: VecxArg<'_>) -> Vec<f64> {
    let mut s = state.0.to_vec();
    aggregate::accumulate(&mut s, &v).or_raise();
    s
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_combine(a: Float8ArrayArg<'_>, b: Float8ArrayArg<'_>) -> Vec<f64> {
    aggregate::combine(a.0, b.0).or_raise()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_avg(state: Float8ArrayArg<'_>) -> Option<VecxOut> {
    aggregate::average(state.0)
        .or_raise()
        .map(|v| VecxOut::new(&v))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_sum(state: Float8ArrayArg<'_>) -> Option<VecxOut> {
    aggregate::sum(state.0).or_raise().map(|v| VecxOut::new(&v))
}
