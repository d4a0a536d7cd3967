//! bfloat16: the upper half of an f32 (same exponent range, 8 significant bits).
//!
//! The quantizer (coarse centroids, PQ codebooks) and the per-entry L2 terms are stored as
//! bf16. Training rounds centroids and codebooks to bf16 before anything is encoded with them,
//! so the stored values are exactly the ones used: rounding moves a centroid by at most 0.4% of
//! each coordinate, far below the quantization error of the codes, and introduces no mismatch.
//! A term rounded to bf16 shifts a code's approximate distance by at most 0.4% of the term;
//! re-ranking uses exact distances. Halving these bytes matters for small indexes, whose
//! quantizer is a third of the index at 10,000 rows.

/// The bf16 bits of `x`, rounded to nearest (ties to even); NaN stays NaN.
pub fn to_bits(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((b >> 16) & 1);
    (b.wrapping_add(round) >> 16) as u16
}

pub fn from_bits(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// `x` rounded to the nearest bf16 value.
pub fn round(x: f32) -> f32 {
    from_bits(to_bits(x))
}

pub fn round_all(v: &mut [f32]) {
    for x in v {
        *x = round(*x);
    }
}

/// Serde for `Vec<f32>` fields holding bf16 values: stored as their `u16` bits (values that are
/// not bf16 are rounded).
pub mod vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let bits: Vec<u16> = v.iter().map(|x| super::to_bits(*x)).collect();
        bits.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let bits = Vec::<u16>::deserialize(d)?;
        Ok(bits.into_iter().map(super::from_bits).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_nearest_and_round_trips() {
        assert_eq!(round(f32::INFINITY), f32::INFINITY);
        for x in [0.0f32, -0.0, 1.0, -2.5, 1e-30, 3.0e38, 255.0, 0.1] {
            let r = round(x);
            assert_eq!(round(r), r, "{x}");
            assert!((r - x).abs() <= x.abs() / 256.0, "{x} -> {r}");
        }
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even (1.0).
        assert_eq!(round(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(round(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
        assert!(round(f32::NAN).is_nan());
        assert_eq!(from_bits(to_bits(-7.0)), -7.0);
    }
}
