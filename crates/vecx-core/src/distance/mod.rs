//! Distance kernels.
//!
//! Two implementations live side by side:
//!
//! * [`simd`]: the production path, simsimd's runtime-dispatched kernels (AVX2/AVX-512/NEON/SVE
//!   chosen at load time). simsimd has no L1 kernel for f32, so L1 uses a chunked loop that the
//!   compiler vectorises.
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
}

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f64 {
    simd::l2_squared(a, b)
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
