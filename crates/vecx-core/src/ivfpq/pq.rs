//! Product quantization (Jégou, Douze & Schmid, "Product quantization for nearest neighbor
//! search", 2011).
//!
//! A vector of `dims` floats is cut into `m` sub-vectors; each sub-space has its own codebook of
//! `2^bits` centroids trained by k-means, and a vector is stored as the `m` indexes of its
//! closest sub-centroids: `m` bytes at 8 bits, `m / 2` at 4 bits, instead of `4 * dims`.
//! Dimensions that do not divide evenly are spread: the first `dims % m` sub-spaces get one
//! more dimension than the others.
//!
//! Search uses asymmetric distance computation (ADC, section 4.1 of the paper): the query stays
//! exact, a lookup table holds the distance from each query sub-vector to each sub-centroid,
//! and the approximate distance to a stored vector is `m` table lookups and additions.
//! - For L2 the table is built from the query's residual against a list centroid (one table per
//!   probed list), and the sum is the squared distance.
//! - For inner product the table holds `-<q_s, c_s>` (one table per query) and the caller adds
//!   the list's `-<q, centroid>`.
use serde::{Deserialize, Serialize};

use std::sync::OnceLock;

use super::kmeans::{nearest_transposed, norms, transpose, KMeans};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProductQuantizer {
    pub dims: usize,
    pub m: usize,
    pub bits: u8,
    /// Start dimension of each sub-space, then `dims` (`m + 1` entries).
    pub bounds: Vec<u32>,
    /// Sub-space `s` holds `ksub` centroids of its width, starting at float `ksub * bounds[s]`
    /// (bf16 values, stored as such).
    #[serde(with = "super::bf16::vec")]
    pub codebooks: Vec<f32>,
    /// The codebooks dimension-major per sub-space (for encoding), computed on first use.
    #[serde(skip)]
    pub transposed: OnceLock<Vec<f32>>,
    /// The squared norm of every sub-centroid (`m * ksub`, for encoding), on first use.
    #[serde(skip)]
    pub norms: OnceLock<Vec<f32>>,
}

/// Sub-space boundaries for `dims` dimensions in `m` sub-spaces.
pub fn split(dims: usize, m: usize) -> Vec<u32> {
    let (base, extra) = (dims / m, dims % m);
    let mut bounds = Vec::with_capacity(m + 1);
    let mut at = 0;
    for s in 0..m {
        bounds.push(at as u32);
        at += base + usize::from(s < extra);
    }
    bounds.push(dims as u32);
    bounds
}

/// Sub-spaces trained per [`PqTrainer::step`]: a few milliseconds of work each (256
/// centroids on 4,096 short vectors), so a step stays far below the build's cancel-check
/// budget while the threads share a batch.
pub const BATCH: usize = 8;
/// Sub-spaces at least this wide are trained one k-means step per [`PqTrainer::step`].
pub const WIDE: usize = 32;

/// Trains a product quantizer a batch of sub-spaces at a time.
pub struct PqTrainer {
    data: Vec<f32>,
    dims: usize,
    m: usize,
    bits: u8,
    bounds: Vec<u32>,
    iterations: usize,
    seed: u64,
    subspace: usize,
    /// The k-means of the current wide sub-space (see [`PqTrainer::step`]).
    current: Option<KMeans>,
    codebooks: Vec<f32>,
}

/// Progress of [`PqTrainer::step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PqStep {
    /// Working on sub-space `subspace` of `m`.
    Training {
        subspace: usize,
        m: usize,
    },
    Done,
}

impl PqTrainer {
    /// `data`: `n * dims` training vectors (residuals), `n >= 1`; `m` in `1..=dims`; `bits` 4 or 8.
    pub fn new(
        data: Vec<f32>,
        dims: usize,
        m: usize,
        bits: u8,
        iterations: usize,
        seed: u64,
    ) -> Self {
        assert!(m >= 1 && m <= dims && (bits == 4 || bits == 8));
        assert!(!data.is_empty() && data.len().is_multiple_of(dims));
        PqTrainer {
            data,
            dims,
            m,
            bits,
            bounds: split(dims, m),
            iterations,
            seed,
            subspace: 0,
            current: None,
            codebooks: Vec::new(),
        }
    }

    /// Trains the next batch of sub-spaces, [`BATCH`] at a time on the rayon threads, each
    /// one's k-means run to the end on one thread. One sub-space at a time with the threads
    /// sharing each iteration's points paid a fork and join per iteration (over 2,700 on
    /// mnist10k's 196 sub-spaces), more than the arithmetic on 4,096 short vectors; sub-spaces
    /// are independent and seeded by their number, so the codebooks do not depend on the
    /// thread count. Wide sub-spaces (a small `pq_m`: [`WIDE`] dimensions or more) cost up to
    /// seconds each, so they are still trained one k-means step per call, the threads sharing
    /// the points, to keep each call short for the build's cancel checks.
    pub fn step(&mut self) -> PqStep {
        use rayon::prelude::*;
        if self.subspace == self.m {
            return PqStep::Done;
        }
        let s = self.subspace;
        if let Some(km) = self.current.as_mut() {
            if km.step() == super::kmeans::Step::Done {
                let km = self.current.take().expect("set");
                let book = self.book(s, km.run());
                self.codebooks.extend_from_slice(&book);
                self.subspace += 1;
            }
        } else if self.width(s) >= WIDE {
            self.current = Some(self.kmeans(s));
        } else {
            let last = (s..self.m.min(s + BATCH))
                .take_while(|&j| self.width(j) < WIDE)
                .last()
                .map_or(s + 1, |j| j + 1);
            let books: Vec<Vec<f32>> = (s..last)
                .into_par_iter()
                .map(|j| self.book(j, self.kmeans(j).run()))
                .collect();
            for b in books {
                self.codebooks.extend_from_slice(&b);
            }
            self.subspace = last;
        }
        PqStep::Training {
            subspace: self.subspace,
            m: self.m,
        }
    }

    fn width(&self, s: usize) -> usize {
        (self.bounds[s + 1] - self.bounds[s]) as usize
    }

    /// The k-means of sub-space `s`, not started.
    fn kmeans(&self, s: usize) -> KMeans {
        let (lo, hi) = (self.bounds[s] as usize, self.bounds[s + 1] as usize);
        let sub: Vec<f32> = self
            .data
            .chunks_exact(self.dims)
            .flat_map(|x| x[lo..hi].iter().copied())
            .collect();
        let n = sub.len() / (hi - lo);
        let k = (1usize << self.bits).min(n);
        let seed = self.seed ^ ((s as u64 + 1) * 0x9e37);
        KMeans::new(sub, hi - lo, k, seed, self.iterations).random_init()
    }

    /// Sub-space `s`'s codebook from its trained centroids: with fewer training points than
    /// codes, centroids repeat so every code decodes.
    fn book(&self, s: usize, c: Vec<f32>) -> Vec<f32> {
        let (ksub, width) = (1usize << self.bits, self.width(s));
        let k = c.len() / width;
        let mut book = Vec::with_capacity(ksub * width);
        for j in 0..ksub {
            book.extend_from_slice(&c[(j % k) * width..(j % k + 1) * width]);
        }
        book
    }

    /// The trained quantizer, its codebooks rounded to bf16 (see [`super::bf16`]).
    pub fn finish(mut self) -> ProductQuantizer {
        while self.step() != PqStep::Done {}
        super::bf16::round_all(&mut self.codebooks);
        ProductQuantizer {
            dims: self.dims,
            m: self.m,
            bits: self.bits,
            bounds: self.bounds,
            codebooks: self.codebooks,
            transposed: OnceLock::new(),
            norms: OnceLock::new(),
        }
    }
}

impl ProductQuantizer {
    pub fn ksub(&self) -> usize {
        1 << self.bits
    }

    /// Bytes per encoded vector.
    pub fn code_len(&self) -> usize {
        code_len(self.m, self.bits)
    }

    fn sub(&self, s: usize) -> (usize, usize) {
        (self.bounds[s] as usize, self.bounds[s + 1] as usize)
    }

    fn codebook(&self, s: usize) -> &[f32] {
        let (lo, hi) = self.sub(s);
        let ksub = self.ksub();
        &self.codebooks[ksub * lo..ksub * hi]
    }

    /// The codebooks dimension-major per sub-space: sub-space `s` starts at float `ksub * lo`
    /// and holds, for each of its dimensions, that coordinate of all `ksub` centroids.
    fn transposed(&self) -> &[f32] {
        self.transposed.get_or_init(|| self.per_subspace(transpose))
    }

    /// The squared norm of every sub-centroid, sub-space by sub-space.
    fn norms(&self) -> &[f32] {
        self.norms.get_or_init(|| self.per_subspace(norms))
    }

    /// `f(codebook, width)` of every sub-space, concatenated in sub-space order.
    fn per_subspace(&self, f: fn(&[f32], usize) -> Vec<f32>) -> Vec<f32> {
        (0..self.m)
            .flat_map(|s| {
                let (lo, hi) = self.sub(s);
                f(self.codebook(s), hi - lo)
            })
            .collect()
    }

    /// Encodes `x` (`dims` floats) into `out` (`code_len` bytes).
    pub fn encode(&self, x: &[f32], out: &mut [u8]) {
        let ksub = self.ksub();
        let t = self.transposed();
        let norms = self.norms();
        out.fill(0);
        for s in 0..self.m {
            let (lo, hi) = self.sub(s);
            let c = nearest_transposed(
                &t[ksub * lo..ksub * hi],
                &norms[ksub * s..ksub * (s + 1)],
                ksub,
                &x[lo..hi],
            );
            set_code(out, s, self.bits, c as u8);
        }
    }

    /// The vector a code stands for (tests, error measurement).
    pub fn decode(&self, code: &[u8]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.dims);
        for s in 0..self.m {
            let (lo, hi) = self.sub(s);
            let w = hi - lo;
            let c = get_code(code, s, self.bits) as usize;
            out.extend_from_slice(&self.codebook(s)[c * w..(c + 1) * w]);
        }
        out
    }

    /// ADC table for squared L2: `table[s * ksub + j] = |r_s - c_{s,j}|^2` for the query's
    /// residual `r` against a list centroid.
    pub fn table_l2(&self, r: &[f32], table: &mut Vec<f32>) {
        let ksub = self.ksub();
        let t = self.transposed();
        table.resize(self.m * ksub, 0.0);
        for (s, out) in table.chunks_exact_mut(ksub).enumerate() {
            let (lo, hi) = self.sub(s);
            // All of the sub-space's centroids at once, one dimension at a time (vectorised).
            crate::distance::simd::dist2_many(&r[lo..hi], &t[ksub * lo..ksub * hi], ksub, out);
        }
    }

    /// ADC table for the inner product scaled by `-scale`: `table[s * ksub + j] = -scale *
    /// <q_s, c_{s,j}>` (`scale` 1 for the inner-product kinds, 2 for L2 with stored terms).
    pub fn table_dot(&self, q: &[f32], scale: f32, table: &mut Vec<f32>) {
        let ksub = self.ksub();
        let t = self.transposed();
        table.resize(self.m * ksub, 0.0);
        for (s, out) in table.chunks_exact_mut(ksub).enumerate() {
            let (lo, hi) = self.sub(s);
            crate::distance::simd::dot_many(&q[lo..hi], &t[ksub * lo..ksub * hi], ksub, out);
            for v in out.iter_mut() {
                *v *= -scale;
            }
        }
    }

    /// The L2 term of a code in the list of centroid `c`: `|r|^2 + 2 <c, r>` for the residual
    /// `r` the code stands for. With it, `|q - c - r|^2 = |q - c|^2 + term - 2 <q, r>`: one
    /// scalar per list and one inner-product table per query replace a table per probed list.
    pub fn l2_term(&self, c: &[f32], code: &[u8]) -> f32 {
        // The decoded residual, one sub-space at a time, without building it (called per row
        // at build and insert, and per entry by vecx_index_check).
        let (mut norm, mut dot) = (0f64, 0f64);
        for s in 0..self.m {
            let (lo, hi) = self.sub(s);
            let j = get_code(code, s, self.bits) as usize;
            let r = &self.codebook(s)[j * (hi - lo)..(j + 1) * (hi - lo)];
            for (x, cx) in r.iter().zip(&c[lo..hi]) {
                norm += (*x as f64) * (*x as f64);
                dot += (*x as f64) * (*cx as f64);
            }
        }
        (norm + 2.0 * dot) as f32
    }

    /// The approximate distance of `code` from an ADC table.
    #[inline]
    pub fn adc(&self, table: &[f32], code: &[u8]) -> f32 {
        adc(table, code, self.m, self.bits)
    }
}

pub fn code_len(m: usize, bits: u8) -> usize {
    if bits == 8 {
        m
    } else {
        m.div_ceil(2)
    }
}

#[inline]
fn set_code(out: &mut [u8], s: usize, bits: u8, c: u8) {
    if bits == 8 {
        out[s] = c;
    } else if s.is_multiple_of(2) {
        out[s / 2] |= c & 0x0f;
    } else {
        out[s / 2] |= (c & 0x0f) << 4;
    }
}

#[inline]
fn get_code(code: &[u8], s: usize, bits: u8) -> u8 {
    if bits == 8 {
        code[s]
    } else if s.is_multiple_of(2) {
        code[s / 2] & 0x0f
    } else {
        code[s / 2] >> 4
    }
}

/// Sum of table lookups: the inner loop of an IVF-PQ scan. At 8 bits the code bytes index
/// consecutive 256-entry rows; at 4 bits each byte holds two sub-space codes. A code of the
/// wrong length (a damaged page) is summed as far as both it and the `m` rows go.
#[inline]
pub fn adc(table: &[f32], code: &[u8], m: usize, bits: u8) -> f32 {
    if bits == 8 {
        let m = m.min(code.len());
        let mut acc = [0f32; 4];
        let chunks = m / 4;
        for i in 0..chunks {
            for (l, a) in acc.iter_mut().enumerate() {
                let s = 4 * i + l;
                *a += table[(s << 8) + code[s] as usize];
            }
        }
        let mut sum = acc.iter().sum::<f32>();
        for s in 4 * chunks..m {
            sum += table[(s << 8) + code[s] as usize];
        }
        sum
    } else {
        let mut sum = 0f32;
        for (i, b) in code.iter().enumerate() {
            let s = 2 * i;
            if s >= m {
                break;
            }
            sum += table[(s << 4) + (b & 0x0f) as usize];
            if s + 1 < m {
                sum += table[((s + 1) << 4) + (b >> 4) as usize];
            }
        }
        sum
    }
}
