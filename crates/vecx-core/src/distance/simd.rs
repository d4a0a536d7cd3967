//! The SIMD boundary: the distance kernels, wrapped so the rest of the crate never sees how
//! they are dispatched. L2, inner product and cosine use our AVX2+FMA kernels ([`fma`]: several
//! registers of running sums) when the CPU has them and simsimd's runtime-dispatched kernels
//! otherwise; L1 and the many-centroid kernels of IVF-PQ are our lane loops (see `LANES`).
//! All return f64.
//!
//! simsimd returns `None` only when the two slices differ in length; we pass equal-length
//! prefixes, so the fallback to the scalar reference is unreachable in practice but keeps the
//! functions total.
#![allow(unsafe_code)] // the one place allowed: calling the AVX2 and AVX-512 builds after
                       // detecting the features, and matrixmultiply's pointer-based sgemm
use simsimd::SpatialSimilarity;

use super::scalar;

#[inline]
fn common<'a>(a: &'a [f32], b: &'a [f32]) -> (&'a [f32], &'a [f32]) {
    let n = a.len().min(b.len());
    (&a[..n], &b[..n])
}

/// Bytes of a vector [`prefetch`] asks for: its first 16 cache lines (all of a 256-d vector;
/// the hardware prefetcher follows a longer one once it is being read in order).
const PREFETCH_BYTES: usize = 1024;

/// Asks the CPU to start loading `v` into cache (its first [`PREFETCH_BYTES`]) before it is
/// read. A graph search calls it for every neighbour it is about to compare, so the cache misses
/// of up to 2m scattered vectors overlap instead of coming one after another. A hint only: it
/// changes no result, and does nothing on other architectures.
#[inline(always)]
pub fn prefetch(v: &[f32]) {
    prefetch_bytes(v.as_ptr() as *const u8, std::mem::size_of_val(v));
}

/// [`prefetch`] for `len` bytes at `p` (at most [`PREFETCH_BYTES`] of them), for memory that is
/// not a Rust slice (a tuple inside a PostgreSQL buffer page, say). Any address will do: a
/// prefetch never faults and reads nothing into the program.
#[inline(always)]
pub fn prefetch_bytes(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = p as *const i8;
        for off in (0..len.min(PREFETCH_BYTES)).step_by(64) {
            // SAFETY: a prefetch never faults and reads nothing into the program (`wrapping_add`:
            // the address is not dereferenced, so it need not be in bounds). SSE is part of
            // the x86-64 baseline.
            unsafe {
                std::arch::x86_64::_mm_prefetch(p.wrapping_add(off), std::arch::x86_64::_MM_HINT_T0)
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// [`prefetch_bytes`] without its cap: every cache line of the `len` bytes at `p` (a caller that
/// wants a few whole tuples on their way at once, not a vector the prefetcher will follow).
#[inline(always)]
pub fn prefetch_span(p: *const u8, len: usize) {
    for at in (0..len).step_by(PREFETCH_BYTES) {
        prefetch_bytes(p.wrapping_add(at), (len - at).min(PREFETCH_BYTES));
    }
}

/// Squared Euclidean distance: [`fma::l2_sum`] on CPUs with AVX2 and FMA, else simsimd.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    #[cfg(target_arch = "x86_64")]
    if fma::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        return unsafe { fma::l2_sum(a, b) };
    }
    l2_squared_simsimd(a, b)
}

/// [`fma::l2_sum_until`] on CPUs with AVX2 and FMA; `None` elsewhere (the caller then adds
/// up blocks of [`l2_squared`]).
#[inline]
pub fn l2_squared_until(a: &[f32], b: &[f32], bound: f64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if fma::available() {
        let (a, b) = common(a, b);
        // SAFETY: the CPU has AVX2 and FMA (checked).
        return Some(unsafe { fma::l2_sum_until(a, b, bound) });
    }
    let _ = (a, b, bound);
    None
}

/// [`super::dot_nibbles`]: [`fma::dot_nibbles`] on CPUs with AVX2 and FMA, else the scalar
/// reference.
#[inline]
pub fn dot_nibbles(q: &[f32], codes: &[u8]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if fma::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked); the caller checked the codes' length.
        return unsafe { fma::dot_nibbles(q, codes) };
    }
    scalar::dot_nibbles(q, codes)
}

/// Inner product: [`fma::dot_sum`] on CPUs with AVX2 and FMA, else simsimd.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    #[cfg(target_arch = "x86_64")]
    if fma::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        return unsafe { fma::dot_sum(a, b) };
    }
    dot_simsimd(a, b)
}

/// simsimd's inner product kernel, for the benchmark's comparison (see [`dot`]).
#[inline]
pub fn dot_simsimd(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    f32::dot(a, b).unwrap_or_else(|| scalar::dot(a, b))
}

/// simsimd's squared Euclidean kernel, for the benchmark's comparison (see [`l2_squared`]).
#[inline]
pub fn l2_squared_simsimd(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    f32::l2sq(a, b).unwrap_or_else(|| scalar::l2_squared(a, b))
}

/// Cosine distance `1 - ab / sqrt(aa * bb)`, clamped to [0, 2]; NaN when either vector has
/// norm zero, as the cosine of a zero vector is undefined (pgvector behaves the same way).
///
/// On CPUs with AVX2 and FMA the three sums come from one pass of [`fma::cos_sums`]; `v <=> v`
/// is then exactly 0, as `ab`, `aa` and `bb` are the same operations on the same values.
/// Otherwise simsimd's cosine kernel, which is fast but uses an approximate reciprocal square
/// root (`v <=> v` comes out as 1.8e-9 rather than 0, and a zero vector gives 1 or 0 rather than
/// NaN): its answer is used as is only when it is clearly away from those cases; near 0
/// (duplicates and near-duplicates, where exactness matters) and at exactly 1 (orthogonal or
/// zero vectors) the distance is recomputed from three exact dot products.
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    #[cfg(target_arch = "x86_64")]
    if fma::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        let (ab, aa, bb) = unsafe { fma::cos_sums(a, b) };
        return cosine_of(ab, aa, bb);
    }
    let d = <f32 as SpatialSimilarity>::cos(a, b).unwrap_or_else(|| scalar::cosine(a, b));
    if d > 1e-4 && d != 1.0 {
        return d.clamp(0.0, 2.0);
    }
    cosine_of(dot(a, b), dot(a, a), dot(b, b))
}

/// [`cosine`] short of its division (see `Metric::partial`): the three sums where our kernel
/// runs, the finished distance elsewhere.
#[inline]
pub fn cosine_partial(a: &[f32], b: &[f32]) -> super::Partial {
    #[cfg(target_arch = "x86_64")]
    if fma::available() {
        let (a, b) = common(a, b);
        // SAFETY: the CPU has AVX2 and FMA (checked).
        let (ab, aa, bb) = unsafe { fma::cos_sums(a, b) };
        return super::Partial::Cosine(ab, aa, bb);
    }
    super::Partial::Done(cosine(a, b))
}

/// The sum of `a * a` [`cosine_partial`] computes along with the others, for
/// [`cosine_partial_known`]: `None` where our kernel does not run.
#[inline]
pub fn cosine_self_sum(a: &[f32]) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if fma::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        return Some(unsafe { fma::cos_sums(a, a) }.1);
    }
    None
}

/// [`cosine_partial`] with the query's own sum `aa` already known ([`cosine_self_sum`] of `a`):
/// the same partial, bit for bit, a third fewer multiply-adds and one reduction fewer.
#[inline]
pub fn cosine_partial_known(a: &[f32], b: &[f32], aa: f64) -> super::Partial {
    #[cfg(target_arch = "x86_64")]
    if fma::available() && a.len() == b.len() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        let (ab, bb) = unsafe { fma::cos_sums_known(a, b) };
        return super::Partial::Cosine(ab, aa, bb);
    }
    let _ = aa;
    cosine_partial(a, b)
}

/// `1 - ab / sqrt(aa * bb)` clamped to [0, 2], NaN for a zero vector.
#[inline]
pub(super) fn cosine_of(ab: f64, aa: f64, bb: f64) -> f64 {
    if aa == 0.0 || bb == 0.0 {
        return f64::NAN;
    }
    (1.0 - ab / (aa * bb).sqrt()).clamp(0.0, 2.0)
}

/// simsimd's cosine kernel alone, for the benchmark's comparison (see [`cosine`]).
#[inline]
pub fn cosine_simsimd(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    <f32 as SpatialSimilarity>::cos(a, b).unwrap_or_else(|| scalar::cosine(a, b))
}

/// L1 has no simsimd kernel for f32 (see [`l1_sum`]).
#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f64 {
    let (a, b) = common(a, b);
    dispatch!(l1_sum(a, b))
}

/// Squared distances from `x` to `k` short vectors stored dimension-major in `t` (see the
/// kernel of the same name), into `acc[..k]`. `t` must hold `x.len() * k` floats.
#[inline]
pub fn dist2_many(x: &[f32], t: &[f32], k: usize, acc: &mut [f32]) {
    assert!(t.len() >= x.len() * k && acc.len() >= k);
    dispatch!(dist2_many(x, t, k, acc))
}

/// Inner products of `x` with `k` short vectors stored dimension-major in `t`, into `acc[..k]`
/// (the per-query ADC table of IVF-PQ). `t` must hold `x.len() * k` floats.
#[inline]
pub fn dot_many(x: &[f32], t: &[f32], k: usize, acc: &mut [f32]) {
    assert!(t.len() >= x.len() * k && acc.len() >= k);
    dispatch!(dot_many(x, t, k, acc))
}

/// `out[i * k + j] = <a_i, b_j>` for the `n` rows `a_i` of `a` and the `k` rows `b_j` of `b`
/// (all `dim` floats, row-major): a matrix product, by matrixmultiply's blocked, runtime-
/// dispatched sgemm (many times faster than `n * k` separate inner products once `n` and `k`
/// are in the dozens: each loaded value is used across a register tile). Assigning rows to
/// k-means centroids is this product plus the centroid norms.
pub fn dot_matrix(a: &[f32], n: usize, b: &[f32], k: usize, dim: usize, out: &mut [f32]) {
    assert!(a.len() >= n * dim && b.len() >= k * dim && out.len() >= n * k);
    if n == 0 || k == 0 {
        return;
    }
    if dim == 0 {
        out[..n * k].fill(0.0);
        return;
    }
    // SAFETY: A is n x dim (row stride dim), B is dim x k read from b's rows (row stride 1,
    // column stride dim), C is n x k (row stride k); the asserts above keep every element in
    // bounds, and C (a &mut slice) aliases neither input. beta = 0, so C is only written.
    unsafe {
        matrixmultiply::sgemm(
            n,
            dim,
            k,
            1.0,
            a.as_ptr(),
            dim as isize,
            1,
            b.as_ptr(),
            1,
            dim as isize,
            0.0,
            out.as_mut_ptr(),
            k as isize,
            1,
        );
    }
}

/// The closest (squared L2, first on ties) of `k` short vectors stored dimension-major in `t`,
/// with their squared norms in `norms` (the kernel compares `|c|^2 - 2 <x, c>`).
pub fn nearest_many(x: &[f32], t: &[f32], norms: &[f32], k: usize) -> usize {
    assert!(t.len() >= x.len() * k && norms.len() >= k && k > 0);
    dispatch!(nearest_many(x, t, norms, k))
}

// Our own kernels are plain Rust loops over fixed-width lane arrays, written so LLVM turns each
// lane array into vector registers. They are compiled three times: for the baseline target
// (SSE2 on x86-64), with AVX2+FMA and with AVX-512F enabled (a block of 16 lanes is then one
// register); `dispatch!` picks one at run time, as simsimd picks its kernels. All builds
// perform the same operations in the same order (Rust never contracts a*b+c into an FMA on its
// own), so results do not depend on the CPU.

const LANES: usize = 16;

/// Calls `$f(args)` in its AVX-512 build when the CPU has AVX-512F (and AVX2 and FMA), else its
/// AVX2 build when it has AVX2 and FMA, else the baseline build.
macro_rules! dispatch {
    ($f:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        let result = if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the AVX-512 build was compiled for.
            unsafe { avx512::$f($($arg),*) }
        } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the AVX2 build was compiled for.
            unsafe { avx2::$f($($arg),*) }
        } else {
            generic::$f($($arg),*)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let result = generic::$f($($arg),*);
        result
    }};
}
use dispatch;

/// A lane-wise running minimum of blocks of LANES values and the index where each lane's
/// minimum was seen (the first, on ties), for [`nearest_many`]. Index lanes are values so the
/// selects stay vector blends.
struct Running {
    best: [f32; LANES],
    at: [u32; LANES],
    index: [u32; LANES],
}

// Lane loops index several arrays at once, the shape LLVM vectorises.
#[allow(clippy::needless_range_loop)]
impl Running {
    #[inline(always)]
    fn new() -> Running {
        Running {
            best: [f32::INFINITY; LANES],
            at: [0; LANES],
            index: std::array::from_fn(|i| i as u32),
        }
    }

    /// The next block of LANES consecutive values.
    #[inline(always)]
    fn add(&mut self, sum: &[f32; LANES]) {
        for i in 0..LANES {
            let keep = (-i32::from(sum[i] < self.best[i])) as u32;
            self.best[i] = if sum[i] < self.best[i] {
                sum[i]
            } else {
                self.best[i]
            };
            self.at[i] = (self.index[i] & keep) | (self.at[i] & !keep);
            self.index[i] += LANES as u32;
        }
    }

    /// The smallest value seen and its first index, by a tree over the lanes (smaller index
    /// on equal values). NaN values were never taken; if no value was below infinity the
    /// index is 0.
    #[inline(always)]
    fn first_min(mut self) -> (f32, usize) {
        let mut half = LANES / 2;
        while half > 0 {
            for i in 0..half {
                let (v, j) = (self.best[i + half], self.at[i + half]);
                let take = (v < self.best[i]) | ((v == self.best[i]) & (j < self.at[i]));
                self.best[i] = if take { v } else { self.best[i] };
                self.at[i] = if take { j } else { self.at[i] };
            }
            half /= 2;
        }
        (self.best[0], self.at[0] as usize)
    }
}

macro_rules! kernels {
    ($($attr:meta)?) => {
        /// Sum of |a - b| (L1).
        $(#[$attr])?
        #[inline]
        pub fn l1_sum(a: &[f32], b: &[f32]) -> f64 {
            let (ca, ta) = a.as_chunks::<LANES>();
            let (cb, tb) = b.as_chunks::<LANES>();
            let mut acc = [0f32; LANES];
            for (x, y) in ca.iter().zip(cb) {
                for i in 0..LANES {
                    acc[i] += (x[i] - y[i]).abs();
                }
            }
            let tail: f64 = ta.iter().zip(tb).map(|(x, y)| (x - y).abs() as f64).sum();
            lane_sum(&acc) + tail
        }

        /// `acc[j] = sum_d (x[d] - t[d * k + j])^2` for `j < k`: squared distances from `x` to
        /// `k` short vectors stored dimension-major (PQ sub-space codebooks, k-means on
        /// sub-spaces). The inner loop runs over consecutive centroids, so it vectorises.
        $(#[$attr])?
        #[inline]
        pub fn dist2_many(x: &[f32], t: &[f32], k: usize, acc: &mut [f32]) {
            let acc = &mut acc[..k];
            // Blocks of LANES centroids keep their sums in registers across the dimensions.
            let blocks = k / LANES;
            for b in 0..blocks {
                let mut sum = [0f32; LANES];
                for (d, xd) in x.iter().enumerate() {
                    let row = &t[d * k + b * LANES..d * k + (b + 1) * LANES];
                    for i in 0..LANES {
                        let diff = xd - row[i];
                        sum[i] += diff * diff;
                    }
                }
                acc[b * LANES..(b + 1) * LANES].copy_from_slice(&sum);
            }
            for j in blocks * LANES..k {
                let mut sum = 0f32;
                for (d, xd) in x.iter().enumerate() {
                    let diff = xd - t[d * k + j];
                    sum += diff * diff;
                }
                acc[j] = sum;
            }
        }

        /// `acc[j] = sum_d x[d] * t[d * k + j]` for `j < k`, blocked like [`dist2_many`].
        $(#[$attr])?
        #[inline]
        pub fn dot_many(x: &[f32], t: &[f32], k: usize, acc: &mut [f32]) {
            let acc = &mut acc[..k];
            let blocks = k / LANES;
            for b in 0..blocks {
                let mut sum = [0f32; LANES];
                for (d, xd) in x.iter().enumerate() {
                    let row = &t[d * k + b * LANES..d * k + (b + 1) * LANES];
                    for i in 0..LANES {
                        sum[i] += xd * row[i];
                    }
                }
                acc[b * LANES..(b + 1) * LANES].copy_from_slice(&sum);
            }
            for j in blocks * LANES..k {
                let mut sum = 0f32;
                for (d, xd) in x.iter().enumerate() {
                    sum += xd * t[d * k + j];
                }
                acc[j] = sum;
            }
        }

        /// The first `j < k` with the smallest `norms[j] - 2 <x, t_j>` over the `k` short
        /// vectors `t_j` stored dimension-major in `t` with their squared norms: the closest
        /// (squared L2 less `|x|^2`, the same for every `j`) of a PQ sub-space's centroids.
        /// Two operations per centroid and dimension instead of three for `(x - c)^2`, and
        /// fused: each block of LANES values is compared with a lane-wise running minimum and
        /// its index while still in registers (no store and rescan of `k` values); ties across
        /// lanes go to the smaller index, so equal centroids give the first. NaN values are
        /// never chosen unless all are NaN (then 0).
        $(#[$attr])?
        #[inline]
        pub fn nearest_many(x: &[f32], t: &[f32], norms: &[f32], k: usize) -> usize {
            // PQ sub-spaces are a few dimensions wide: with the width a constant the loop over
            // dimensions unrolls and the query's coordinates stay in registers.
            match x.len() {
                1 => nearest_fixed::<1>(x, t, norms, k),
                2 => nearest_fixed::<2>(x, t, norms, k),
                3 => nearest_fixed::<3>(x, t, norms, k),
                4 => nearest_fixed::<4>(x, t, norms, k),
                5 => nearest_fixed::<5>(x, t, norms, k),
                6 => nearest_fixed::<6>(x, t, norms, k),
                8 => nearest_fixed::<8>(x, t, norms, k),
                _ => nearest_any(x, t, norms, k),
            }
        }

        /// [`nearest_many`] for `x` of `W` floats.
        #[inline(always)]
        fn nearest_fixed<const W: usize>(x: &[f32], t: &[f32], norms: &[f32], k: usize) -> usize {
            let m: [f32; W] = std::array::from_fn(|d| -2.0 * x[d]);
            let (blocks, tail) = norms[..k].as_chunks::<LANES>();
            let rows: [&[[f32; LANES]]; W] =
                std::array::from_fn(|d| t[d * k..(d + 1) * k].as_chunks::<LANES>().0);
            let mut run = Running::new();
            for (b, norm) in blocks.iter().enumerate() {
                let mut sum = *norm;
                for d in 0..W {
                    let row = &rows[d][b];
                    for i in 0..LANES {
                        sum[i] += m[d] * row[i];
                    }
                }
                run.add(&sum);
            }
            let (mut value, mut pick) = run.first_min();
            for (j, norm) in tail.iter().enumerate() {
                let j = blocks.len() * LANES + j;
                let mut sum = *norm;
                for d in 0..W {
                    sum += m[d] * t[d * k + j];
                }
                if sum < value {
                    (value, pick) = (sum, j);
                }
            }
            pick
        }

        /// [`nearest_many`] for any width.
        #[inline(always)]
        fn nearest_any(x: &[f32], t: &[f32], norms: &[f32], k: usize) -> usize {
            let (blocks, tail) = norms[..k].as_chunks::<LANES>();
            let mut run = Running::new();
            for (b, norm) in blocks.iter().enumerate() {
                let mut sum = *norm;
                for (d, xd) in x.iter().enumerate() {
                    let row = &t[d * k + b * LANES..d * k + (b + 1) * LANES];
                    let m = -2.0 * xd;
                    for i in 0..LANES {
                        sum[i] += m * row[i];
                    }
                }
                run.add(&sum);
            }
            let (mut value, mut pick) = run.first_min();
            for (j, norm) in tail.iter().enumerate() {
                let j = blocks.len() * LANES + j;
                let mut sum = *norm;
                for (d, xd) in x.iter().enumerate() {
                    sum += -2.0 * xd * t[d * k + j];
                }
                if sum < value {
                    (value, pick) = (sum, j);
                }
            }
            pick
        }

        #[inline]
        fn lane_sum(v: &[f32; LANES]) -> f64 {
            v.iter().map(|x| *x as f64).sum()
        }

    };
}

mod generic {
    use super::{Running, LANES};
    kernels!();
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Running, LANES};
    kernels!(target_feature(enable = "avx2,fma"));
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Running, LANES};
    kernels!(target_feature(enable = "avx512f,avx2,fma"));
}

/// Kernels for one pair of vectors, in AVX2 and FMA intrinsics: several registers of running
/// sums, so each block's additions need not wait for the previous block's (a fused
/// multiply-add takes 4-5 cycles; four independent chains keep the loads busy). simsimd's f32
/// kernels keep a single register of sums, one dependent chain: measured on this machine's AVX2
/// EPYC, 784-d L2 took 109 ns in cache and 137 ns from memory with simsimd against 42 ns and 79
/// ns with [`fma::l2_sum`]; 128-d 18 and 30 ns against 10 and 24 ns. The lane-array style of
/// the kernels above does not get LLVM to keep several registers of sums here, so these are
/// written out. Sums are kept in f32, as simsimd's are, and added up in f64 at the end.
#[cfg(target_arch = "x86_64")]
pub mod fma {
    use std::arch::x86_64::*;

    /// Whether the CPU has AVX2 and FMA (the standard library caches the answer).
    #[inline(always)]
    pub fn available() -> bool {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }

    /// The eight lanes of `v` added up in f64, as a tree in registers (a loop over the stored
    /// lanes is a chain of eight dependent additions, which shows at 25 or 128 dimensions).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn lanes(v: __m256) -> f64 {
        let wide = _mm256_add_pd(
            _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
            _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)),
        );
        let two = _mm_add_pd(_mm256_castpd256_pd128(wide), _mm256_extractf128_pd(wide, 1));
        _mm_cvtsd_f64(_mm_add_pd(two, _mm_unpackhi_pd(two, two)))
    }

    /// Sum of (a - b)^2 over the common length: blocks of 32 floats into four registers, then
    /// blocks of 8, then one by one.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2_sum(a: &[f32], b: &[f32]) -> f64 {
        // SAFETY: the caller's promise is this function's.
        unsafe { l2_blocks::<false>(a, b, f64::INFINITY) }
    }

    /// [`l2_sum`], looking at its running total every 64 floats and stopping as soon as it
    /// exceeds `bound`: the same sums in the same registers in the same order, so a result
    /// that is at most `bound` is exactly `l2_sum`'s, and one above it is a partial sum above
    /// `bound` (each register only grows, so the full sum is at least as large).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2_sum_until(a: &[f32], b: &[f32], bound: f64) -> f64 {
        // SAFETY: the caller's promise is this function's.
        unsafe { l2_blocks::<true>(a, b, bound) }
    }

    /// The body of [`l2_sum`] (`CHECK` false) and [`l2_sum_until`] (`CHECK` true).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2_blocks<const CHECK: bool>(a: &[f32], b: &[f32], bound: f64) -> f64 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut s = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        let total = |s: &[__m256; 4]| {
            lanes(_mm256_add_ps(
                _mm256_add_ps(s[0], s[1]),
                _mm256_add_ps(s[2], s[3]),
            ))
        };
        // SAFETY (every load below): `i + 8 <= n` for each 8-float load, so it stays within
        // both slices; unaligned loads.
        unsafe {
            while i + 32 <= n {
                for (k, acc) in s.iter_mut().enumerate() {
                    let at = i + 8 * k;
                    let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(at)), _mm256_loadu_ps(pb.add(at)));
                    *acc = _mm256_fmadd_ps(d, d, *acc);
                }
                i += 32;
                if CHECK && i % 64 == 0 && i < n {
                    let so_far = total(&s);
                    if so_far > bound {
                        return so_far;
                    }
                }
            }
            while i + 8 <= n {
                let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                s[0] = _mm256_fmadd_ps(d, d, s[0]);
                i += 8;
            }
            let tail: f64 = a[i..n]
                .iter()
                .zip(&b[i..n])
                .map(|(x, y)| ((x - y) * (x - y)) as f64)
                .sum();
            total(&s) + tail
        }
    }

    /// Sum of `q[i] * c[i]` over 4-bit codes packed as `distance::nibble_at` reads them:
    /// per block of sixteen dimensions, one 8-byte load widened to eight 32-bit lanes, whose
    /// low and high halves multiply the block's first and second eight query values.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `codes` holds at least `nibbles_len(q.len())` bytes.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_nibbles(q: &[f32], codes: &[u8]) -> f64 {
        let n = q.len();
        let (pq, pc) = (q.as_ptr(), codes.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 2];
        let low = _mm256_set1_epi32(15);
        let mut i = 0;
        // SAFETY (every load below): `i + 16 <= n` for the query's two 8-float loads, and the
        // block's 8 code bytes lie within `codes` (the caller's promise); unaligned loads.
        unsafe {
            while i + 16 <= n {
                let bytes = _mm_loadl_epi64(pc.add(i / 2) as *const __m128i);
                let wide = _mm256_cvtepu8_epi32(bytes);
                let lo = _mm256_cvtepi32_ps(_mm256_and_si256(wide, low));
                let hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(wide, 4));
                acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), lo, acc[0]);
                acc[1] = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i + 8)), hi, acc[1]);
                i += 16;
            }
        }
        let tail: f64 = (i..n)
            .map(|d| q[d] as f64 * super::super::nibble_at(codes, d) as f64)
            .sum();
        lanes(_mm256_add_ps(acc[0], acc[1])) + tail
    }

    /// Sum of a * b over the common length, blocked like [`l2_sum`].
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_sum(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut s = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (every load below): as in `l2_sum`.
        unsafe {
            while i + 32 <= n {
                for (k, acc) in s.iter_mut().enumerate() {
                    let at = i + 8 * k;
                    *acc = _mm256_fmadd_ps(
                        _mm256_loadu_ps(pa.add(at)),
                        _mm256_loadu_ps(pb.add(at)),
                        *acc,
                    );
                }
                i += 32;
            }
            while i + 8 <= n {
                s[0] =
                    _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s[0]);
                i += 8;
            }
            let total = lanes(_mm256_add_ps(
                _mm256_add_ps(s[0], s[1]),
                _mm256_add_ps(s[2], s[3]),
            ));
            let tail: f64 = a[i..n]
                .iter()
                .zip(&b[i..n])
                .map(|(x, y)| (x * y) as f64)
                .sum();
            total + tail
        }
    }

    /// [`cos_sums`] without the sum of `a * a` (a query's, computed once with [`cos_sums`] of
    /// the query and itself): (sum of a * b, sum of b * b), each with exactly the operations
    /// `cos_sums` does, so the same bits.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn cos_sums_known(a: &[f32], b: &[f32]) -> (f64, f64) {
        // SAFETY: the caller's promise.
        let (ab, _, bb) = unsafe { sums::<false>(a, b) };
        (ab, bb)
    }

    /// (sum of a * b, sum of a * a, sum of b * b) over the common length in one pass: blocks of
    /// 16 floats into two registers per sum (six in all), then blocks of 8, then one by one.
    /// With `a == b` the three are the same operations on the same values, so they are equal.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn cos_sums(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
        // SAFETY: the caller's promise.
        unsafe { sums::<true>(a, b) }
    }

    /// [`cos_sums`], with the sum of `a * a` only when `AA` (else 0).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sums<const AA: bool>(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut ab = [_mm256_setzero_ps(); 2];
        let mut aa = [_mm256_setzero_ps(); 2];
        let mut bb = [_mm256_setzero_ps(); 2];
        let mut i = 0;
        // SAFETY (every load below): as in `l2_sum`.
        unsafe {
            while i + 16 <= n {
                for k in 0..2 {
                    let x = _mm256_loadu_ps(pa.add(i + 8 * k));
                    let y = _mm256_loadu_ps(pb.add(i + 8 * k));
                    ab[k] = _mm256_fmadd_ps(x, y, ab[k]);
                    if AA {
                        aa[k] = _mm256_fmadd_ps(x, x, aa[k]);
                    }
                    bb[k] = _mm256_fmadd_ps(y, y, bb[k]);
                }
                i += 16;
            }
            while i + 8 <= n {
                let x = _mm256_loadu_ps(pa.add(i));
                let y = _mm256_loadu_ps(pb.add(i));
                ab[0] = _mm256_fmadd_ps(x, y, ab[0]);
                if AA {
                    aa[0] = _mm256_fmadd_ps(x, x, aa[0]);
                }
                bb[0] = _mm256_fmadd_ps(y, y, bb[0]);
                i += 8;
            }
            let mut sab = lanes(_mm256_add_ps(ab[0], ab[1]));
            let mut saa = if AA {
                lanes(_mm256_add_ps(aa[0], aa[1]))
            } else {
                0.0
            };
            let mut sbb = lanes(_mm256_add_ps(bb[0], bb[1]));
            for (x, y) in a[i..n].iter().zip(&b[i..n]) {
                sab += (x * y) as f64;
                if AA {
                    saa += (x * x) as f64;
                }
                sbb += (y * y) as f64;
            }
            (sab, saa, sbb)
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod builds_agree {
    //! Every build of the lane kernels gives the same bits (the claim in the comment above
    //! `LANES`); the builds the CPU lacks are skipped.
    use super::*;

    fn data(seed: u64, n: usize) -> Vec<f32> {
        let mut r = crate::rng::Rng::new(seed);
        (0..n).map(|_| r.uniform() as f32 * 4.0 - 2.0).collect()
    }

    #[test]
    fn kernels_match_across_builds() {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let avx512 = avx2 && std::is_x86_feature_detected!("avx512f");
        for (w, k) in [
            (1, 16),
            (3, 256),
            (4, 256),
            (7, 40),
            (8, 256),
            (25, 209),
            (5, 5),
        ] {
            let t = data(w as u64 * 31 + k as u64, w * k);
            let norms: Vec<f32> = (0..k)
                .map(|j| (0..w).map(|d| t[d * k + j] * t[d * k + j]).sum())
                .collect();
            for q in 0..50u64 {
                let x = data(q + 1000, w);
                let want = generic::nearest_many(&x, &t, &norms, k);
                let (mut a, mut b) = (vec![0f32; k], vec![0f32; k]);
                generic::dist2_many(&x, &t, k, &mut a);
                generic::dot_many(&x, &t, k, &mut b);
                let l1 = generic::l1_sum(&t[..w], &x);
                // One build's kernels against the baseline's results.
                macro_rules! same_as_baseline {
                    ($build:ident) => {{
                        // SAFETY: called only when the CPU has the build's features.
                        unsafe {
                            assert_eq!($build::nearest_many(&x, &t, &norms, k), want);
                            let (mut c, mut d) = (vec![0f32; k], vec![0f32; k]);
                            $build::dist2_many(&x, &t, k, &mut c);
                            $build::dot_many(&x, &t, k, &mut d);
                            assert_eq!((&c, &d), (&a, &b));
                            assert_eq!($build::l1_sum(&t[..w], &x), l1);
                        }
                    }};
                }
                if avx2 {
                    same_as_baseline!(avx2);
                }
                if avx512 {
                    same_as_baseline!(avx512);
                }
                // And the pick is a true minimum of |c|^2 - 2<x, c>.
                let value =
                    |j: usize| norms[j] + (0..w).map(|d| -2.0 * x[d] * t[d * k + j]).sum::<f32>();
                let best = (0..k).map(value).fold(f32::INFINITY, f32::min);
                assert!((value(want) - best).abs() <= 1e-5 * best.abs().max(1.0));
            }
        }
    }
}
