//! The SIMD boundary: simsimd's runtime-dispatched kernels, wrapped so the rest of the crate
//! never sees simsimd's API. simsimd accumulates f32 inputs in wider registers and returns f64.
//!
//! simsimd returns `None` only when the two slices differ in length; we pass equal-length
//! prefixes, so the fallback to the scalar reference is unreachable in practice but keeps the
//! functions total.
use simsimd::SpatialSimilarity;

use super::scalar;

#[inline]
fn common<'a>(a: &'a [f32], b: &'a [f32]) -> (&'a [f32], &'a [f32]) {
    let n = a.len().min(b.len());
    (&a[..n], &b[..n])
}

#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    f32::l2sq(a, b).unwrap_or_else(|| scalar::l2_squared(a, b))
}

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    f32::dot(a, b).unwrap_or_else(|| scalar::dot(a, b))
}

/// simsimd's cosine kernel returns 1 when exactly one side is zero and 0 when both are; SQL
/// wants NaN for a zero vector, so those two exact results are double-checked (a rare path).
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    let d = <f32 as SpatialSimilarity>::cos(a, b).unwrap_or_else(|| scalar::cosine(a, b));
    if (d == 0.0 || d == 1.0) && (is_zero(a) || is_zero(b)) {
        return f64::NAN;
    }
    d.clamp(0.0, 2.0)
}

#[inline]
fn is_zero(a: &[f32]) -> bool {
    a.iter().all(|x| *x == 0.0)
}

/// L1 has no simsimd kernel for f32: eight independent f32 lanes per step, which LLVM turns into
/// packed `andps`/`addps`, then a final f64 reduction.
#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f64 {
    const LANES: usize = 8;
    let (a, b) = common(a, b);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] += (x[i] - y[i]).abs();
        }
    }
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y).abs() as f64)
        .sum();
    acc.iter().map(|v| *v as f64).sum::<f64>() + tail
}
