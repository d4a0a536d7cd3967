//! Scalar reference kernels: one plain loop each, accumulating in f64. Slow and obviously right;
//! the SIMD kernels are tested and benchmarked against these.

pub fn l2_squared(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum()
}

pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
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

pub fn l1(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum()
}

/// Sum of `q[i] * c[i]` over 4-bit codes packed as [`super::nibble_at`] reads them.
pub fn dot_nibbles(q: &[f32], codes: &[u8]) -> f64 {
    q.iter()
        .enumerate()
        .map(|(i, x)| *x as f64 * super::nibble_at(codes, i) as f64)
        .sum()
}
