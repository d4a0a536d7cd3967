//! Traversal codes: a 4-bit copy of an element's vector, kept in its element tuple next to the
//! exact vector, from which a search bounds the distance from below before it reads the vector.
//!
//! Most of the distances a graph search computes are to neighbours it then drops: each is no
//! closer than the furthest of the `ef` best found so far (the bound). For a 784-dimension
//! vector that verdict costs 49 cache lines of floats; the code is 8 times smaller. From the
//! code a search computes `d(q, x̂)`, the distance to the vector the code decodes to, and from
//! the stored residual `ε = |x - x̂|` the triangle inequality gives `d(q, x) >= d(q, x̂) - ε`.
//! When that lower bound already exceeds the search's bound, the neighbour is dropped without
//! reading its vector; otherwise its exact distance is computed as before. The bound is a
//! guarantee, not an estimate: a search with codes keeps exactly the neighbours a search without
//! them keeps (up to float rounding at a tie), so recall is unchanged.
//!
//! **Encoding.** Per vector: `lo` and `hi` its smallest and largest values, `step = (hi - lo) /
//! 15`, `c_i = round((x_i - lo) / step)`, so `x̂_i = lo + step c_i`. Then `q·x̂ = lo Σq + step Σ q_i
//! c_i` and `|q - x̂|² = Σq² - 2 q·x̂ + D lo² + 2 lo step Σc + step² Σc²`: per query two sums, per
//! vector three stored numbers, and per distance one product of the query with the codes
//! (`distance::dot_nibbles`). The residual `ε` is computed in f64 against exactly that `x̂` and
//! stored rounded up.
//!
//! **Metrics.** L2: `|q - x| >= |q - x̂| - ε`. Inner product (distance `-q·x`): `q·x <= q·x̂ +
//! |q| ε`. Cosine (distance `1 - q·x / (|q| |x|)`): the code is of `x / |x|`, and `q·x / (|q| |x|)
//! <= q·x̂ / |q| + ε`; a zero vector gets no code (its distance is NaN) and a zero query uses
//! none. L1 indexes get no codes. Each bound gives up a relative 1e-5 besides, more than the
//! rounding of the exact kernels, so that a code never drops a neighbour the exact distance
//! would keep.
//!
//! **Where.** Codes are written only where they cost no space: vectors stored inline whose
//! element pages hold as many elements with a code as without (the room a page leaves after its
//! last element, which is large for big vectors: 1,416 bytes per page of two 784-dimension
//! elements). Each element tuple says whether it has one, so an index can mix them (elements
//! written before codes existed have none).
use crate::distance::{self, Metric};

/// Bytes before the packed codes: `lo`, `step`, `ε`, `Σc`, `Σc²`, as little-endian f32 (the two
/// sums are integers below 2^24, exact in f32).
pub const CODE_HEADER_LEN: usize = 20;

/// Fewest dimensions worth a code: below this a vector is a few cache lines and its first line
/// is read anyway.
pub const CODE_MIN_DIMS: usize = 128;

/// Bytes of the code of a `dims`-dimension vector.
pub fn code_len(dims: usize) -> usize {
    CODE_HEADER_LEN + distance::nibbles_len(dims)
}

/// The code of `v` for an index of `metric`: of `v` itself (L2, inner product) or of `v / |v|`
/// (cosine); `None` where there is none (L1, or a zero vector under cosine).
pub fn encode_for(metric: Metric, v: &[f32]) -> Option<Vec<u8>> {
    match metric {
        Metric::L2 | Metric::InnerProduct => Some(encode(v)),
        Metric::Cosine => {
            let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
            (norm > 0.0 && norm.is_finite()).then(|| {
                let unit: Vec<f32> = v.iter().map(|&x| (x as f64 / norm) as f32).collect();
                encode(&unit)
            })
        }
        Metric::L1 => None,
    }
}

/// The code of `v` (finite values, as the type guarantees).
pub fn encode(v: &[f32]) -> Vec<u8> {
    let lo = v.iter().copied().reduce(f32::min).unwrap_or(0.0);
    let hi = v.iter().copied().reduce(f32::max).unwrap_or(0.0);
    // A constant vector (or one whose range underflows) is all code 0, exactly `lo`.
    let step = ((hi as f64 - lo as f64) / 15.0) as f32;
    let step = if step.is_finite() && step > 0.0 {
        step
    } else {
        0.0
    };
    let mut packed = vec![0u8; distance::nibbles_len(v.len())];
    let (mut residual, mut sum_c, mut sum_c2) = (0f64, 0f64, 0f64);
    for (i, &x) in v.iter().enumerate() {
        let c = if step > 0.0 {
            ((x as f64 - lo as f64) / step as f64)
                .round()
                .clamp(0.0, 15.0) as u8
        } else {
            0
        };
        let (block, k) = (i / 16, i % 16);
        packed[block * 8 + k % 8] |= if k < 8 { c } else { c << 4 };
        let decoded = lo as f64 + step as f64 * c as f64;
        residual += (x as f64 - decoded).powi(2);
        sum_c += c as f64;
        sum_c2 += (c as f64).powi(2);
    }
    // Rounded up, so the stored residual is never below the true one.
    let eps = (residual.sqrt() as f32).next_up();
    let mut out = Vec::with_capacity(code_len(v.len()));
    for x in [lo, step, eps, sum_c as f32, sum_c2 as f32] {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&packed);
    out
}

/// What a query contributes to every bound: its sum, sum of squares and sum of absolute values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CodeQuery {
    sum: f64,
    sum_sq: f64,
    abs_sum: f64,
}

impl CodeQuery {
    /// Whether codes can bound distances from this query under `metric` (not for a zero query
    /// under cosine, whose distances are all NaN).
    pub fn usable(&self, metric: Metric) -> bool {
        metric != Metric::L1 && (metric != Metric::Cosine || self.sum_sq > 0.0)
    }

    pub fn new(q: &[f32]) -> CodeQuery {
        let (mut sum, mut sum_sq, mut abs_sum) = (0f64, 0f64, 0f64);
        for &x in q {
            let x = x as f64;
            sum += x;
            sum_sq += x * x;
            abs_sum += x.abs();
        }
        CodeQuery {
            sum,
            sum_sq,
            abs_sum,
        }
    }
}

fn f32_at(b: &[u8], at: usize) -> f64 {
    f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as f64
}

/// Relative margin every bound gives up (see the module comment).
const MARGIN: f64 = 1e-5;

/// A lower bound on `metric.distance(q, x)` for the vector `x` that `code` (from
/// [`encode_for`]) encodes, with `cq = CodeQuery::new(q)` usable for `metric`; `code` is
/// `code_len(q.len())` bytes (the caller checked). Every rounding on the way is accounted for:
/// the bound never exceeds the exact distance.
pub fn lower_bound(metric: Metric, q: &[f32], cq: &CodeQuery, code: &[u8]) -> f64 {
    let (lo, step, eps) = (f32_at(code, 0), f32_at(code, 4), f32_at(code, 8));
    let (sum_c, sum_c2) = (f32_at(code, 12), f32_at(code, 16));
    let dims = q.len() as f64;
    let dot = distance::dot_nibbles(q, &code[CODE_HEADER_LEN..]);
    // q·x̂, and a bound on its error: the f32 product's, and f64 rounding of terms this large.
    let qx = lo * cq.sum + step * dot;
    let qx_err = step.abs() * distance::dot_nibbles_error(q.len(), cq.abs_sum)
        + 1e-12 * ((lo * cq.sum).abs() + (step * dot).abs());
    let q_norm = cq.sum_sq.sqrt();
    match metric {
        Metric::L2 => {
            let x2 = dims * lo * lo + 2.0 * lo * step * sum_c + step * step * sum_c2;
            let d2 = cq.sum_sq - 2.0 * qx + x2;
            let slack = 2.0 * qx_err + 1e-12 * (cq.sum_sq + 2.0 * qx.abs() + x2.abs());
            (((d2 - slack).max(0.0).sqrt() - eps) * (1.0 - MARGIN)).max(0.0)
        }
        Metric::InnerProduct => {
            let upper = qx + qx_err + q_norm * eps;
            -upper - MARGIN * (upper.abs() + q_norm * eps)
        }
        Metric::Cosine => {
            // The code is of x / |x|: cos(q, x) <= q·x̂ / |q| + ε.
            let upper = (qx + qx_err) / q_norm + eps;
            ((1.0 - upper) - MARGIN * (1.0 + upper.abs())).max(0.0)
        }
        Metric::L1 => f64::NEG_INFINITY,
    }
}

/// Whether an element page holds as many `dims`-dimension level-0 elements (with neighbour
/// tuples of `neighbors_len` bytes) with codes as without: where codes cost no space.
pub fn codes_fit(dims: usize, neighbors_len: usize) -> bool {
    use super::layout::{maxalign, LINE_POINTER, USABLE};
    if !(CODE_MIN_DIMS..=super::format::INLINE_MAX_DIMS).contains(&dims) {
        return false;
    }
    let per_page = |element: usize| {
        USABLE / (maxalign(element) + LINE_POINTER + maxalign(neighbors_len) + LINE_POINTER)
    };
    let plain = super::format::element_len(dims, false);
    let coded = super::format::element_len(dims, true);
    per_page(plain) > 0 && per_page(plain) == per_page(coded)
}

/// Whether new elements of an index get codes: every metric but L1, where elements fit as many
/// to a page with codes as without ([`codes_fit`]).
pub fn wanted(metric: Metric, dims: usize, m: usize) -> bool {
    metric != Metric::L1 && codes_fit(dims, super::format::neighbors_len(0, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(rng: &mut Rng, dims: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..dims)
            .map(|_| offset + scale * (rng.next_u64() % 2001) as f32 / 1000.0 - scale)
            .collect()
    }

    /// The bound never exceeds the exact distance (the kernel's), for every metric with codes,
    /// on shapes that stress it: tiny and huge magnitudes, offsets far from zero, constant
    /// vectors, sparse vectors, odd lengths.
    #[test]
    fn the_lower_bound_never_exceeds_the_distance() {
        let mut rng = Rng::new(7);
        let metrics = [Metric::L2, Metric::InnerProduct, Metric::Cosine];
        let check = |metric: Metric, q: &[f32], x: &[f32]| {
            let Some(code) = encode_for(metric, x) else {
                return;
            };
            assert_eq!(code.len(), code_len(x.len()));
            let cq = CodeQuery::new(q);
            if !cq.usable(metric) {
                return;
            }
            let lb = lower_bound(metric, q, &cq, &code);
            let exact = metric.distance(q, x);
            assert!(lb <= exact, "{metric:?} dims {}: {lb} > {exact}", x.len());
        };
        for &dims in &[1usize, 15, 16, 17, 128, 784, 1000, 1900] {
            for &(scale, offset) in &[
                (1.0f32, 0.0f32),
                (1e-6, 0.0),
                (1e6, 0.0),
                (1.0, 1e4),
                (255.0, 127.0),
            ] {
                for _ in 0..20 {
                    let x = random(&mut rng, dims, scale, offset);
                    let q = random(&mut rng, dims, scale, offset);
                    for metric in metrics {
                        check(metric, &q, &x);
                        check(metric, &x, &x);
                    }
                }
            }
            let constant = vec![3.25f32; dims];
            let zero = vec![0f32; dims];
            let mut sparse = vec![0f32; dims];
            sparse[dims / 2] = 255.0;
            for x in [&constant, &sparse, &zero] {
                for q in [&constant, &sparse, &zero] {
                    for metric in metrics {
                        check(metric, q, x);
                    }
                }
            }
        }
        assert!(encode_for(Metric::Cosine, &[0.0; 200]).is_none());
        assert!(encode_for(Metric::L1, &[1.0; 200]).is_none());
        assert!(!CodeQuery::new(&[0.0; 200]).usable(Metric::Cosine));
    }

    /// Near its own vector the bound is near zero, and on normalised embeddings it is within a
    /// few hundredths of the cosine distance: tight enough to drop most neighbours.
    #[test]
    fn the_bounds_are_close() {
        let mut rng = Rng::new(5);
        for _ in 0..20 {
            let x = random(&mut rng, 768, 1.0, 0.0);
            let q = random(&mut rng, 768, 1.0, 0.0);
            let lb = lower_bound(Metric::L2, &x, &CodeQuery::new(&x), &encode(&x));
            assert!(lb <= 1e-6, "{lb}");
            let code = encode_for(Metric::Cosine, &x).unwrap();
            let lb = lower_bound(Metric::Cosine, &q, &CodeQuery::new(&q), &code);
            let exact = Metric::Cosine.distance(&q, &x);
            assert!(lb <= exact && lb >= exact - 0.25, "{lb} vs {exact}");
            // Inner product: within twice |q| times the residual (|q · (x - x̂)| <= |q| ε).
            let code = encode(&x);
            let lb = lower_bound(Metric::InnerProduct, &q, &CodeQuery::new(&q), &code);
            let exact = Metric::InnerProduct.distance(&q, &x);
            let slack = 2.0 * crate::distance::norm(&q) * f32_at(&code, 8) + 1e-3;
            assert!(lb <= exact && lb >= exact - slack, "{lb} vs {exact}");
        }
    }

    /// On MNIST-like data (integers 0-255, mostly zero) the bound is tight: within a few
    /// percent of distances between unlike images, so it can drop most neighbours.
    #[test]
    fn the_bound_is_tight_on_pixel_data() {
        let mut rng = Rng::new(11);
        let image = |rng: &mut Rng| -> Vec<f32> {
            (0..784)
                .map(|i| {
                    let (r, c) = (i / 28, i % 28);
                    let inside = (6..22).contains(&r) && (8..20).contains(&c);
                    if inside && rng.next_u64() % 3 != 0 {
                        (rng.next_u64() % 256) as f32
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        for _ in 0..20 {
            let (x, q) = (image(&mut rng), image(&mut rng));
            let lb = lower_bound(Metric::L2, &q, &CodeQuery::new(&q), &encode(&x));
            let exact = crate::distance::scalar::l2_squared(&q, &x).sqrt();
            assert!(lb <= exact && lb >= 0.9 * exact, "{lb} vs {exact}");
        }
    }

    #[test]
    fn the_nibble_kernel_matches_the_reference() {
        let mut rng = Rng::new(3);
        for dims in [0usize, 1, 7, 16, 31, 33, 784, 1001] {
            let q = random(&mut rng, dims, 10.0, 0.0);
            let codes: Vec<u8> = (0..crate::distance::nibbles_len(dims))
                .map(|_| rng.next_u64() as u8)
                .collect();
            let fast = crate::distance::dot_nibbles(&q, &codes);
            let exact = crate::distance::scalar::dot_nibbles(&q, &codes);
            let abs: f64 = q.iter().map(|x| x.abs() as f64).sum();
            assert!(
                (fast - exact).abs() <= crate::distance::dot_nibbles_error(dims, abs),
                "{dims}: {fast} vs {exact}"
            );
        }
    }

    #[test]
    fn codes_go_where_they_cost_no_space() {
        use crate::hnsw::format::neighbors_len;
        // 784 dimensions, m 16: two elements a page either way.
        assert!(codes_fit(784, neighbors_len(0, 16)));
        // 25 and 128 dimensions: the code would push an element off each page.
        assert!(!codes_fit(25, neighbors_len(0, 16)));
        assert!(!codes_fit(128, neighbors_len(0, 16)));
        // Out-of-line vectors never get one.
        assert!(!codes_fit(4096, neighbors_len(0, 16)));
        assert!(wanted(Metric::L2, 784, 16) && wanted(Metric::Cosine, 784, 16));
        assert!(!wanted(Metric::L1, 784, 16));
    }
}

/// The [`prune_rate`] from which an index gets codes: below it the product with the nibbles
/// costs more than the vectors it spares (see the README for the measurements behind it).
pub const MIN_PRUNE_RATE: f64 = 0.3;

/// Elements [`prune_rate`] samples.
const PRUNE_SAMPLE: usize = 512;

/// How often codes would settle a neighbour in a built graph `g` of `metric`: over a sample of
/// its elements, each taken as the query, the share of its layer-0 neighbours beyond the
/// median neighbour's distance (what a search at that bound drops) whose code's lower bound
/// already exceeds that distance. Codes cost a product with the nibbles per neighbour and
/// save a vector read only when they settle it: on MNIST's pixels (a narrow spread of values
/// per vector) they settle most, on embeddings with a few outlying dimensions (a wide spread,
/// so a coarse step and a large residual) hardly any. `None` when the graph is too small to say.
pub fn prune_rate(g: &super::memory::MemGraph, metric: Metric) -> Option<f64> {
    use super::GraphView;
    let n = g.len();
    let (mut settled, mut dropped) = (0usize, 0usize);
    for k in 0..PRUNE_SAMPLE.min(n) {
        let id = (k * n / PRUNE_SAMPLE.min(n)) as u32;
        let query = g.vector(id);
        let cq = CodeQuery::new(&query);
        if !cq.usable(metric) {
            continue;
        }
        let mut near: Vec<(f64, u32)> = g
            .neighbors(id, 0)
            .into_iter()
            .map(|j| (metric.distance(&query, &g.vector(j)), j))
            .filter(|(d, _)| !d.is_nan())
            .collect();
        if near.len() < 4 {
            continue;
        }
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        let bound = near[near.len() / 2].0;
        for &(d, j) in &near[near.len() / 2 + 1..] {
            if d <= bound {
                continue;
            }
            dropped += 1;
            if let Some(code) = encode_for(metric, &g.vector(j)) {
                if lower_bound(metric, &query, &cq, &code) > bound {
                    settled += 1;
                }
            }
        }
    }
    (dropped >= 64).then(|| settled as f64 / dropped as f64)
}
