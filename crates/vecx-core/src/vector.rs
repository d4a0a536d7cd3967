//! Vector arithmetic and the ordering behind the btree and hash operator classes.
//!
//! Every function that builds a new vector checks its result: a float4 overflow is an error
//! (22003), never a silent infinity stored in a table.
use std::cmp::Ordering;

use crate::error::{check_dims, check_same_dims, ErrorKind, VecxError};

fn checked(values: Vec<f32>) -> Result<Vec<f32>, VecxError> {
    if values.iter().any(|v| !v.is_finite()) {
        return Err(VecxError::overflow());
    }
    Ok(values)
}

fn zip_with(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> Result<Vec<f32>, VecxError> {
    check_same_dims(a, b)?;
    checked(a.iter().zip(b).map(|(x, y)| f(*x, *y)).collect())
}

/// Element-wise `a + b`.
pub fn add(a: &[f32], b: &[f32]) -> Result<Vec<f32>, VecxError> {
    zip_with(a, b, |x, y| x + y)
}

/// Element-wise `a - b`.
pub fn sub(a: &[f32], b: &[f32]) -> Result<Vec<f32>, VecxError> {
    zip_with(a, b, |x, y| x - y)
}

/// Element-wise `a * b`. A product of non-zero elements that underflows to zero is an error,
/// like PostgreSQL's float4 multiplication.
pub fn mul(a: &[f32], b: &[f32]) -> Result<Vec<f32>, VecxError> {
    check_same_dims(a, b)?;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        let p = x * y;
        if p == 0.0 && *x != 0.0 && *y != 0.0 {
            return Err(VecxError::new(
                ErrorKind::NumericValueOutOfRange,
                "value out of range: underflow",
            ));
        }
        out.push(p);
    }
    checked(out)
}

/// Concatenation `a || b`.
pub fn concat(a: &[f32], b: &[f32]) -> Result<Vec<f32>, VecxError> {
    check_dims(a.len() + b.len())?;
    let mut out = Vec::with_capacity(a.len() + b.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    Ok(out)
}

/// `a / |a|`. A zero vector normalises to itself (there is no direction to keep).
pub fn l2_normalize(a: &[f32]) -> Vec<f32> {
    let norm = crate::distance::norm(a);
    if norm == 0.0 {
        return a.to_vec();
    }
    a.iter().map(|x| (*x as f64 / norm) as f32).collect()
}

/// `subvector(v, start, count)`: `count` elements from the 1-based position `start`, clipped to
/// the vector like SQL's `substring`. An empty result is an error.
pub fn subvector(a: &[f32], start: i32, count: i32) -> Result<Vec<f32>, VecxError> {
    if count < 1 {
        return Err(VecxError::new(
            ErrorKind::DataException,
            format!("subvector count must be at least 1, got {count}"),
        ));
    }
    let end = start as i64 + count as i64; // exclusive, 1-based; i64 cannot overflow
    let from = (start as i64).max(1);
    let to = end.min(a.len() as i64 + 1);
    if to <= from {
        return Err(VecxError::new(
            ErrorKind::DataException,
            format!(
                "subvector(start => {start}, count => {count}) selects no elements of a vecx with {} dimensions",
                a.len()
            ),
        ));
    }
    Ok(a[(from - 1) as usize..(to - 1) as usize].to_vec())
}

/// The total order of the btree operator class: element by element, then the shorter vector
/// first. Elements are never NaN (input rejects them), so `partial_cmp` always answers; -0 and
/// +0 compare equal.
pub fn compare(a: &[f32], b: &[f32]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.partial_cmp(y) {
            Some(Ordering::Equal) | None => continue,
            Some(o) => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// 64-bit hash consistent with [`compare`] (equal vectors hash equally, so -0 hashes as +0).
/// With seed 0 its low 32 bits are the 32-bit hash, as PostgreSQL's hash opclasses require.
pub fn hash64(a: &[f32], seed: u64) -> u64 {
    // splitmix64-style mixing of each element's bits.
    #[inline]
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    let mut h = mix(seed ^ 0x9e3779b97f4a7c15 ^ a.len() as u64);
    for x in a {
        let bits = if *x == 0.0 { 0u32 } else { x.to_bits() };
        h = mix(h ^ bits as u64).wrapping_add(0x9e3779b97f4a7c15);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn arithmetic() {
        assert_eq!(add(&[1.0, 2.0], &[3.0, 4.0]).unwrap(), vec![4.0, 6.0]);
        assert_eq!(sub(&[1.0, 2.0], &[3.0, 4.0]).unwrap(), vec![-2.0, -2.0]);
        assert_eq!(mul(&[1.0, 2.0], &[3.0, 4.0]).unwrap(), vec![3.0, 8.0]);
        assert_eq!(concat(&[1.0], &[2.0, 3.0]).unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(
            add(&[1.0], &[1.0, 2.0]).unwrap_err().message,
            "different vecx dimensions 1 and 2"
        );
        assert_eq!(
            add(&[f32::MAX], &[f32::MAX]).unwrap_err().kind,
            ErrorKind::NumericValueOutOfRange
        );
        assert_eq!(
            mul(&[1e-30], &[1e-30]).unwrap_err().kind,
            ErrorKind::NumericValueOutOfRange
        );
        let long = vec![0.0; 10_000];
        assert_eq!(
            concat(&long, &long).unwrap_err().kind,
            ErrorKind::ProgramLimitExceeded
        );
    }

    #[test]
    fn normalize() {
        assert_eq!(l2_normalize(&[3.0, 4.0]), vec![0.6, 0.8]);
        assert_eq!(l2_normalize(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn subvectors() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(subvector(&v, 1, 3).unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(subvector(&v, 3, 2).unwrap(), vec![3.0, 4.0]);
        assert_eq!(subvector(&v, 4, 10).unwrap(), vec![4.0, 5.0]);
        assert_eq!(subvector(&v, -1, 3).unwrap(), vec![1.0]);
        assert!(subvector(&v, 6, 1).is_err());
        assert!(subvector(&v, 1, 0).is_err());
        assert!(subvector(&v, i32::MAX, i32::MAX).is_err());
        assert!(subvector(&v, i32::MIN, i32::MAX).is_err());
    }

    #[test]
    fn ordering() {
        assert_eq!(compare(&[1.0, 2.0], &[1.0, 3.0]), Ordering::Less);
        assert_eq!(compare(&[1.0, 2.0], &[1.0]), Ordering::Greater);
        assert_eq!(compare(&[0.0], &[-0.0]), Ordering::Equal);
        assert_eq!(hash64(&[0.0], 0), hash64(&[-0.0], 0));
        assert_ne!(hash64(&[1.0, 2.0], 0), hash64(&[2.0, 1.0], 0));
        assert_ne!(hash64(&[1.0], 0), hash64(&[1.0], 1));
    }

    proptest! {
        #[test]
        fn compare_is_a_total_order(a in prop::collection::vec(-5f32..5.0, 1..4), b in prop::collection::vec(-5f32..5.0, 1..4)) {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            if compare(&a, &b) == Ordering::Equal {
                prop_assert_eq!(hash64(&a, 7), hash64(&b, 7));
            }
        }
    }
}
