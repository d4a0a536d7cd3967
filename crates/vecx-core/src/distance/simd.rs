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

/// Cosine distance in one pass: eight f32 lanes each for a·b, a·a and b·b (LLVM vectorises
/// the loop), then `1 - ab / sqrt(aa * bb)` in f64.
///
/// simsimd's own cosine kernel uses an approximate reciprocal square root: `v <=> v` comes out
/// as 1.8e-9 instead of 0, and it returns 1 rather than NaN for a zero vector. Here the three
/// sums of `v <=> v` are identical, so the ratio is exactly 1 and the distance exactly 0.
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    const LANES: usize = 8;
    let (a, b) = common(a, b);
    let (mut ab, mut aa, mut bb) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            ab[i] += x[i] * y[i];
            aa[i] += x[i] * x[i];
            bb[i] += y[i] * y[i];
        }
    }
    let sum = |v: [f32; LANES]| v.iter().map(|x| *x as f64).sum::<f64>();
    let (mut ab, mut aa, mut bb) = (sum(ab), sum(aa), sum(bb));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let (x, y) = (*x as f64, *y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return f64::NAN;
    }
    (1.0 - ab / (aa * bb).sqrt()).clamp(0.0, 2.0)
}

/// simsimd's cosine kernel, kept for the benchmark's comparison only (see [`cosine`]).
#[inline]
pub fn cosine_simsimd(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    <f32 as SpatialSimilarity>::cos(a, b).unwrap_or_else(|| scalar::cosine(a, b))
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
