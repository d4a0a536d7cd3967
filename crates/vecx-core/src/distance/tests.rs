//! Property tests: the SIMD kernels agree with the scalar reference on every length from 1 to
//! 2048 (so every tail length of every vector width is covered), within a relative error bound.
use super::*;
use proptest::prelude::*;

/// |simd - reference| <= REL * scale, where `scale` is the magnitude of the terms summed (so
/// cancellation in a sum near zero does not make the bound meaningless).
const REL: f64 = 1e-5;

fn vectors(len: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (
        prop::collection::vec(-100f32..100f32, len),
        prop::collection::vec(-100f32..100f32, len),
    )
}

fn close(got: f64, want: f64, scale: f64) -> bool {
    (got - want).abs() <= REL * scale.max(1e-30) + 1e-12
}

fn check_all(a: &[f32], b: &[f32]) {
    let abs_l2: f64 = scalar::l2_squared(a, b);
    assert!(
        close(l2_squared(a, b), abs_l2, abs_l2),
        "l2sq len {}",
        a.len()
    );
    let abs_dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 * *y as f64).abs())
        .sum();
    assert!(
        close(dot(a, b), scalar::dot(a, b), abs_dot),
        "dot len {}",
        a.len()
    );
    let abs_l1 = scalar::l1(a, b);
    assert!(close(l1(a, b), abs_l1, abs_l1), "l1 len {}", a.len());
    let (c, r) = (cosine(a, b), scalar::cosine(a, b));
    if r.is_nan() {
        assert!(c.is_nan());
    } else {
        // cosine is 1 - dot/(|a||b|): its absolute error is bounded, not its relative error.
        assert!((c - r).abs() <= 1e-5, "cosine len {}: {c} vs {r}", a.len());
    }
}

#[test]
fn every_length_1_to_2048() {
    // A deterministic sweep over every length, including all SIMD tails.
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 200.0 - 100.0
    };
    for len in 1..=2048 {
        let a: Vec<f32> = (0..len).map(|_| next()).collect();
        let b: Vec<f32> = (0..len).map(|_| next()).collect();
        check_all(&a, &b);
    }
}

proptest! {
    #[test]
    fn simd_matches_reference((a, b) in (1usize..=2048).prop_flat_map(vectors)) {
        check_all(&a, &b);
    }
}

#[test]
fn known_values() {
    let a = [1.0f32, 2.0, 3.0];
    let b = [4.0f32, 5.0, 6.0];
    assert!((l2(&a, &b) - 27f64.sqrt()).abs() < 1e-9);
    assert_eq!(dot(&a, &b), 32.0);
    assert_eq!(l1(&a, &b), 9.0);
    assert_eq!(Metric::InnerProduct.distance(&a, &b), -32.0);
    let c = 1.0 - 32.0 / (14f64.sqrt() * 77f64.sqrt());
    assert!((cosine(&a, &b) - c).abs() < 1e-6);
}

#[test]
fn cosine_of_zero_vector_is_nan() {
    assert!(cosine(&[0.0, 0.0], &[1.0, 2.0]).is_nan());
    assert!(cosine(&[1.0, 2.0], &[0.0, 0.0]).is_nan());
    assert!(cosine(&[0.0, 0.0], &[0.0, 0.0]).is_nan());
    // Orthogonal non-zero vectors give exactly 1, not NaN.
    assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
    // Identical vectors give exactly 0, at every length (every block and tail of the kernels);
    // opposite ones 2 within 1e-6 (simsimd's rsqrt on CPUs without AVX2 and FMA: 3.4e-8 off).
    assert_eq!(cosine(&[3.0, 4.0], &[3.0, 4.0]), 0.0);
    let opp = cosine(&[1.0, 1.0], &[-1.0, -1.0]);
    assert!((opp - 2.0).abs() < 1e-6, "{opp}");
    let long: Vec<f32> = (0..1000).map(|i| (i as f32).sin() * 7.0 + 0.5).collect();
    for len in 1..=1000 {
        assert_eq!(cosine(&long[..len], &long[..len]), 0.0, "len {len}");
        assert_eq!(l2_squared(&long[..len], &long[..len]), 0.0, "len {len}");
    }
}

#[test]
fn cosine_is_clamped() {
    let a = [1e-3f32, 1e-3];
    let b = [-1e-3f32, -1e-3];
    let d = cosine(&a, &b);
    assert!((0.0..=2.0).contains(&d));
}

/// The bounded L2 kernel gives the full squared distance when it is within the bound, and a
/// value above the bound otherwise; within the bound it does not depend on the bound.
#[test]
fn l2_squared_until_is_exact_below_its_bound_and_above_it_otherwise() {
    let mut rng = crate::rng::Rng::new(9);
    for dim in [1usize, 63, 64, 65, 100, 128, 129, 192, 300, 784] {
        let a: Vec<f32> = (0..dim).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect();
        let b: Vec<f32> = (0..dim).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect();
        let full = super::l2_squared_until(&a, &b, f64::INFINITY);
        let reference = super::scalar::l2_squared(&a, &b);
        assert!(
            (full - reference).abs() <= 1e-4 * reference.max(1.0),
            "{dim}: {full} vs {reference}"
        );
        assert_eq!(
            super::l2_squared_until(&a, &b, full),
            full,
            "{dim}: at the bound"
        );
        assert_eq!(super::l2_squared_until(&a, &b, full * 2.0), full, "{dim}");
        if super::simd::l2_squared_until(&a, &b, 0.0).is_some() {
            // With the AVX2+FMA kernel, within the bound it is exactly the unbounded kernel's
            // value, so a search that stops early and one that does not agree to the bit.
            assert_eq!(full, l2_squared(&a, &b), "{dim}: same as l2_squared");
        }
        for frac in [0.0, 0.1, 0.5, 0.99] {
            let bound = full * frac;
            if bound < full {
                assert!(
                    super::l2_squared_until(&a, &b, bound) > bound,
                    "{dim}: {frac}"
                );
            }
        }
    }
}

#[test]
fn partial_then_finish_is_the_distance_bit_for_bit() {
    let mut r = crate::rng::Rng::new(11);
    let metrics = [Metric::L2, Metric::InnerProduct, Metric::Cosine, Metric::L1];
    for len in [1, 3, 7, 8, 9, 16, 25, 31, 128, 784, 1537] {
        for round in 0..20 {
            let a: Vec<f32> = (0..len).map(|_| r.uniform() as f32 * 4.0 - 2.0).collect();
            let mut b: Vec<f32> = (0..len).map(|_| r.uniform() as f32 * 4.0 - 2.0).collect();
            if round == 0 {
                b.iter_mut().for_each(|x| *x = 0.0); // a zero vector: cosine is NaN
            }
            if round == 1 {
                b = a.clone(); // identical vectors: distance 0 (cosine clamped)
            }
            for m in metrics {
                let (whole, split) = (m.distance(&a, &b), m.partial(&a, &b).finish());
                assert!(
                    whole.to_bits() == split.to_bits() || (whole.is_nan() && split.is_nan()),
                    "{m:?} len {len}: {whole} vs {split}"
                );
                // With the query's part computed once (`prepare`): the same partial.
                let prepared = m.partial_prepared(&a, m.prepare(&a), &b);
                let plain = m.partial(&a, &b);
                assert!(
                    prepared == plain || prepared.finish().is_nan() && plain.finish().is_nan(),
                    "{m:?} len {len}: prepared {prepared:?} vs {plain:?}"
                );
            }
        }
    }
}
