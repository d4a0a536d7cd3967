//! Distance-kernel throughput: the production kernels (our lane kernels, simsimd for comparison) against the scalar reference.
//!
//! `cargo bench -p vecx-bench --bench kernels [-- --quick]`
//!
//! For each dimension (128, 384, 768, 1536) and metric, one query is compared against a block
//! of 1,000 base vectors (in cache, so this measures arithmetic, not memory) again and again for
//! a fixed time. Reported: millions of distances per second, GFLOP/s-equivalent (elements
//! touched per second), and the speed-up of the production kernel over the scalar reference.
use std::hint::black_box;
use std::time::{Duration, Instant};

use vecx_bench::dataset::Rng;
use vecx_core::distance::{self, scalar, simd};

type Kernel = fn(&[f32], &[f32]) -> f64;

fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.uniform() as f32 - 0.5).collect())
        .collect()
}

/// Distances per second of `kernel` over `base`, measured for about `budget`.
fn rate(kernel: Kernel, query: &[f32], base: &[Vec<f32>], budget: Duration) -> f64 {
    let start = Instant::now();
    let mut done = 0usize;
    let mut acc = 0.0;
    while start.elapsed() < budget {
        for v in base {
            acc += kernel(black_box(query), black_box(v));
        }
        done += base.len();
    }
    black_box(acc);
    done as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 100 } else { 600 });
    let metrics: [(&str, Kernel, Kernel); 7] = [
        (
            "l2sq",
            distance::l2_squared as Kernel,
            scalar::l2_squared as Kernel,
        ),
        (
            "l2sq(simsimd)",
            simd::l2_squared_simsimd,
            scalar::l2_squared,
        ),
        ("dot", distance::dot, scalar::dot),
        ("dot(simsimd)", simd::dot_simsimd, scalar::dot),
        ("cosine", distance::cosine, scalar::cosine),
        ("cosine(simsimd)", simd::cosine_simsimd, scalar::cosine),
        ("l1", distance::l1, scalar::l1),
    ];
    println!("| dim | metric | SIMD Mdist/s | scalar Mdist/s | speed-up | SIMD Gelem/s |");
    println!("|---:|---|---:|---:|---:|---:|");
    for dim in [128, 384, 768, 1536] {
        let base = vectors(1000, dim, 7 + dim as u64);
        let query = &vectors(1, dim, 99)[0];
        for (name, fast, reference) in metrics {
            let f = rate(fast, query, &base, budget);
            let r = rate(reference, query, &base, budget);
            println!(
                "| {dim} | {name} | {:.2} | {:.2} | {:.1}x | {:.1} |",
                f / 1e6,
                r / 1e6,
                f / r,
                f * dim as f64 / 1e9
            );
        }
    }
}
