//! Distance kernels.
//!
//! Two implementations live side by side:
//!
//! * [`simd`]: the production path: our AVX2+FMA kernels for L2, inner product and cosine
//!   where the CPU has them (several registers of running sums), simsimd's runtime-dispatched
//!   kernels elsewhere; L1 is a chunked loop that the compiler vectorises (simsimd has no L1
//!   kernel for f32).
//! * [`scalar`]: a plain reference that accumulates in f64. It is the yardstick the property
//!   tests and the benchmark compare the SIMD path against.
//!
//! Conventions match the SQL operators:
//!
//! | function        | SQL        | value                                    |
//! |-----------------|------------|------------------------------------------|
//! | [`l2`]          | `<->`      | Euclidean distance `sqrt(sum (a-b)^2)`   |
//! | [`l2_squared`]  | (internal) | `sum (a-b)^2`, same order as `l2`        |
//! | [`dot`]         | `inner_product` | `sum a*b`; `<#>` is its negation    |
//! | [`cosine`]      | `<=>`      | `1 - cos(a,b)`, NaN when a norm is zero  |
//! | [`l1`]          | `<+>`      | `sum |a-b|`                              |
//!
//! Every kernel expects slices of equal length; callers check dimensions first
//! ([`crate::error::check_same_dims`]). On unequal lengths the kernels read the common prefix,
//! never out of bounds.

pub mod scalar;
pub mod simd;

/// A distance function, as chosen by an operator class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    L2,
    InnerProduct,
    Cosine,
    L1,
}

impl Metric {
    /// The distance as the SQL operator returns it (`<#>` is the *negative* inner product, so
    /// smaller is always closer).
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f64 {
        match self {
            Metric::L2 => l2(a, b),
            Metric::InnerProduct => -dot(a, b),
            Metric::Cosine => cosine(a, b),
            Metric::L1 => l1(a, b),
        }
    }

    /// [`Metric::distance`] up to its last step: `partial(a, b).finish()` is bit for bit
    /// `distance(a, b)`. For a caller that computes several distances in a row and must not
    /// wait on each one's square root and division (their latency, about 40 cycles, otherwise
    /// stalls whatever comes next, such as releasing a page lock), then finishes them together.
    #[inline]
    pub fn partial(self, a: &[f32], b: &[f32]) -> Partial {
        match self {
            Metric::L2 => Partial::Sqrt(l2_squared(a, b)),
            Metric::InnerProduct => Partial::Done(-dot(a, b)),
            Metric::Cosine => simd::cosine_partial(a, b),
            Metric::L1 => Partial::Done(l1(a, b)),
        }
    }
}

impl Metric {
    /// What [`Metric::partial_prepared`] can compute once per query: the query's own cosine sum.
    #[inline]
    pub fn prepare(self, query: &[f32]) -> Option<f64> {
        match self {
            Metric::Cosine => simd::cosine_self_sum(query),
            _ => None,
        }
    }

    /// [`Metric::partial`] with [`Metric::prepare`] of `a` (the same partial, bit for bit).
    #[inline]
    pub fn partial_prepared(self, a: &[f32], prepared: Option<f64>, b: &[f32]) -> Partial {
        match (self, prepared) {
            (Metric::Cosine, Some(aa)) => simd::cosine_partial_known(a, b, aa),
            _ => self.partial(a, b),
        }
    }
}

/// A distance short of its last step (see [`Metric::partial`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Partial {
    Done(f64),
    /// The square root of this is the distance (L2).
    Sqrt(f64),
    /// The sums `ab`, `aa`, `bb` of a cosine distance.
    Cosine(f64, f64, f64),
}

impl Partial {
    #[inline]
    pub fn finish(self) -> f64 {
        match self {
            Partial::Done(d) => d,
            Partial::Sqrt(s) => s.sqrt(),
            Partial::Cosine(ab, aa, bb) => simd::cosine_of(ab, aa, bb),
        }
    }
}

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f64 {
    simd::l2_squared(a, b)
}

/// Dimensions [`l2_squared_until`] adds up between checks against its bound.
pub const UNTIL_BLOCK: usize = 64;

/// Squared Euclidean distance, added up [`UNTIL_BLOCK`] dimensions at a time and abandoned as
/// soon as the running sum exceeds `bound`: the full sum when it is at most `bound`, otherwise a
/// partial sum greater than `bound` (the full one is larger still). A graph build asks "is it
/// closer than the furthest I keep?" far more often than it needs the answer's digits, and on
/// high-dimensional data (784-d MNIST) most of those answers are "no" well before the end.
/// Always the same block sums in the same order, so a value below the bound does not depend on
/// the bound.
///
/// On CPUs with AVX2 and FMA this is [`simd::fma::l2_sum_until`], which looks at the running
/// total of [`l2_squared`]'s own sums every 64 dimensions: a value at most `bound` is then
/// exactly `l2_squared`'s.
#[inline]
pub fn l2_squared_until(a: &[f32], b: &[f32], bound: f64) -> f64 {
    if let Some(d) = simd::l2_squared_until(a, b, bound) {
        return d;
    }
    let n = a.len().min(b.len());
    let mut sum = 0.0;
    let mut at = 0;
    while at < n {
        let end = (at + UNTIL_BLOCK).min(n);
        sum += simd::l2_squared(&a[at..end], &b[at..end]);
        if sum > bound {
            return sum;
        }
        at = end;
    }
    sum
}

/// Euclidean distance (`<->`).
#[inline]
pub fn l2(a: &[f32], b: &[f32]) -> f64 {
    l2_squared(a, b).sqrt()
}

/// Inner product (`inner_product`; `<#>` returns its negation).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    simd::dot(a, b)
}

/// Cosine distance `1 - cos(a, b)` (`<=>`), clamped to [0, 2]. NaN when either vector has norm
/// zero, as the cosine of a zero vector is undefined (pgvector behaves the same way).
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    simd::cosine(a, b)
}

/// Manhattan distance (`<+>`).
#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f64 {
    simd::l1(a, b)
}

/// Euclidean norm.
#[inline]
pub fn norm(a: &[f32]) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests;

/// The 4-bit code of dimension `i` in codes packed sixteen dimensions to eight bytes: byte `k`
/// of block `j` holds dimension `16j + k` in its low half and `16j + 8 + k` in its high half
/// (so that one 8-byte load widens into two lanes of eight).
#[inline]
pub fn nibble_at(codes: &[u8], i: usize) -> u8 {
    let (block, k) = (i / 16, i % 16);
    let byte = codes[block * 8 + k % 8];
    if k < 8 {
        byte & 15
    } else {
        byte >> 4
    }
}

/// Bytes of [`nibble_at`]'s packing for `dims` codes: eight per sixteen dimensions (the last
/// block padded with zeros).
pub fn nibbles_len(dims: usize) -> usize {
    dims.div_ceil(16) * 8
}

/// `sum q[i] * c[i]` for 4-bit codes `c` packed as [`nibble_at`] reads them (`codes` holds at
/// least [`nibbles_len`]`(q.len())` bytes). Accumulated in f32: see [`dot_nibbles_error`].
pub fn dot_nibbles(q: &[f32], codes: &[u8]) -> f64 {
    assert!(codes.len() >= nibbles_len(q.len()));
    simd::dot_nibbles(q, codes)
}

/// A bound on the rounding error of [`dot_nibbles`] for a query whose absolute values add up to
/// `abs_sum` over `dims` dimensions: each product of a float and a code below 16 is exact in
/// f32 up to one rounding, and each lane adds at most `dims / 8 + 1` of them.
pub fn dot_nibbles_error(dims: usize, abs_sum: f64) -> f64 {
    (dims as f64 / 8.0 + 2.0) * 2.0 * f32::EPSILON as f64 * 15.0 * abs_sum
}
