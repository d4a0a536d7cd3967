//! Comparison operators and the support functions of the btree (`vecx_ops`) and hash
//! (`vecx_hash_ops`) operator classes, so `ORDER BY v`, `DISTINCT`, `GROUP BY` and `UNIQUE` work.
use std::cmp::Ordering;

use pgrx::prelude::*;
use vecx_core::vector::{compare, hash64};

use crate::datum::VecxArg;

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_cmp(a: VecxArg<'_>, b: VecxArg<'_>) -> i32 {
    compare(&a, &b) as i32
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_lt(a: VecxArg<'_>, b: VecxArg<'_>) -> bool {
    compare(&a, &b) == Ordering::Less
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_le(a: VecxArg<'_>, b: VecxArg<'_>) -> bool {
    compare(&a, &b) != Ordering::Greater
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_eq(a: VecxArg<'_>, b: VecxArg<'_>) -> bool {
    compare(&a, &b) == Ordering::Equal
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_ne(a: VecxArg<'_>, b: VecxArg<'_>) -> bool {
    compare(&a, &b) != Ordering::Equal
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_ge(a: VecxArg<'_>, b: VecxArg<'_>) -> bool {
    compare(&a, &b) != Ordering::Less
}

#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_gt(a: VecxArg<'_>, b: VecxArg<'_>) -> bool {
    compare(&a, &b) == Ordering::Greater
}

/// Hash support function 1 (32-bit): the low half of the seed-0 extended hash.
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_hash(v: VecxArg<'_>) -> i32 {
    hash64(&v, 0) as u32 as i32
}

/// Hash support function 2 (64-bit, seeded).
#[pg_extern(immutable, strict, parallel_safe)]
fn vecx_hash_extended(v: VecxArg<'_>, seed: i64) -> i64 {
    hash64(&v, seed as u64) as i64
}
