//! Training an IVF-PQ quantizer (coarse k-means, then PQ codebooks on the residuals), one
//! bounded step at a time, and encoding rows in parallel.
use rayon::prelude::*;

use super::format::{Quantizer, TERM_LEN};
use super::kmeans::{self, KMeans};
use super::pq::{PqStep, PqTrainer};
use super::search::Kind;

/// Lloyd iterations for the coarse centroids and for each PQ sub-space. Coarse: 8 iterations
/// gave the same recall@10 as 15 on sift10k and mnist10k at 12 and 25 probed lists (within
/// 1%, either way), so 10 leave a margin.
pub const COARSE_ITERATIONS: usize = 10;
pub const PQ_ITERATIONS: usize = 6;
/// Residuals the PQ codebooks are trained on: 16 per code at 8 bits. Re-ranking hides most of
/// the codebooks' quality: on sift10k and mnist10k, 2,048 residuals and 4 iterations give the
/// same recall@10 as 8,192 and 10 when 100 candidates are re-ranked, and 0.6% less when 40
/// are (sift10k, 50 of 200 lists); 4,096 and 6 lose 0.3% there and train 3 to 4 times faster
/// than 8,192 and 10 (mnist10k: 196 sub-spaces).
pub const PQ_TRAIN_ROWS: usize = 4_096;

/// What [`Training::step`] is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainStep {
    Coarse(kmeans::Step),
    Codebooks { subspace: usize, m: usize },
    Done,
}

enum Phase {
    Coarse(KMeans),
    Pq(PqTrainer, Vec<f32>),
    Done(Quantizer),
}

pub struct Training {
    phase: Option<Phase>,
    sample: Vec<f32>,
    dims: usize,
    pq_m: usize,
    bits: u8,
    seed: u64,
}

impl Training {
    /// `sample`: training rows (`n * dims`, already normalised for cosine), `n >= 1`; `lists`
    /// is capped at `n`.
    pub fn new(
        sample: Vec<f32>,
        dims: usize,
        lists: usize,
        pq_m: usize,
        bits: u8,
        seed: u64,
    ) -> Training {
        let n = sample.len() / dims;
        let k = lists.min(n).max(1);
        Training {
            phase: Some(Phase::Coarse(KMeans::new(
                sample,
                dims,
                k,
                seed,
                COARSE_ITERATIONS,
            ))),
            sample: Vec::new(),
            dims,
            pq_m,
            bits,
            seed,
        }
    }

    pub fn step(&mut self) -> TrainStep {
        match self.phase.take().expect("phase") {
            Phase::Coarse(mut km) => {
                let s = km.step();
                if s == kmeans::Step::Done {
                    let mut centroids = km.centroids().to_vec();
                    // The sample comes back from the k-means (moved in, not copied).
                    self.sample = km.into_data();
                    // Stored as bf16: residuals and codes are made against the stored values.
                    super::bf16::round_all(&mut centroids);
                    let n = self.sample.len() / self.dims;
                    let take = n.min(PQ_TRAIN_ROWS);
                    // The sample is already a random draw: its first rows are a random subset.
                    let residuals =
                        residuals(&self.sample[..take * self.dims], self.dims, &centroids);
                    let trainer = PqTrainer::new(
                        residuals,
                        self.dims,
                        self.pq_m,
                        self.bits,
                        PQ_ITERATIONS,
                        self.seed.wrapping_add(1),
                    );
                    self.phase = Some(Phase::Pq(trainer, centroids));
                } else {
                    self.phase = Some(Phase::Coarse(km));
                }
                TrainStep::Coarse(s)
            }
            Phase::Pq(mut t, centroids) => match t.step() {
                PqStep::Done => {
                    let pq = t.finish();
                    let lists = centroids.len() / self.dims;
                    self.phase = Some(Phase::Done(Quantizer {
                        dims: self.dims,
                        lists,
                        centroids,
                        pq,
                    }));
                    TrainStep::Done
                }
                PqStep::Training { subspace, m } => {
                    self.phase = Some(Phase::Pq(t, centroids));
                    TrainStep::Codebooks { subspace, m }
                }
            },
            Phase::Done(q) => {
                self.phase = Some(Phase::Done(q));
                TrainStep::Done
            }
        }
    }

    pub fn finish(mut self) -> Quantizer {
        while self.step() != TrainStep::Done {}
        match self.phase.take() {
            Some(Phase::Done(q)) => q,
            _ => unreachable!("step returned Done"),
        }
    }
}

/// Every row minus its nearest centroid.
fn residuals(data: &[f32], dims: usize, centroids: &[f32]) -> Vec<f32> {
    let lists = kmeans::assign_all(data, dims, centroids);
    data.par_chunks_exact(dims)
        .zip(lists.par_iter())
        .flat_map_iter(|(x, &c)| {
            let c = c as usize;
            let cv = &centroids[c * dims..(c + 1) * dims];
            x.iter().zip(cv).map(|(a, b)| a - b).collect::<Vec<f32>>()
        })
        .collect()
}

/// Normalises `v` to unit length for cosine (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let n = crate::distance::dot(v, v).sqrt();
    if n > 0.0 {
        for e in v {
            *e = (*e as f64 / n) as f32;
        }
    }
}

/// A row as the quantizer sees it: a copy, normalised when `normalize` (cosine).
pub fn prepare(normalize: bool, x: &[f32]) -> Vec<f32> {
    let mut v = x.to_vec();
    if normalize {
        self::normalize(&mut v);
    }
    v
}

/// The list and entry tail of one prepared row: the PQ code of its residual, then, when `out`
/// has room for it (L2 indexes, [`Kind::term_len`]), its L2 term.
pub fn encode(q: &Quantizer, x: &[f32], out: &mut [u8]) -> u32 {
    let (c, _) = kmeans::nearest(&q.centroids, q.dims, x);
    encode_in(q, x, c, out);
    c as u32
}

/// The entry tail of one prepared row in list `c` (see [`encode`]).
fn encode_in(q: &Quantizer, x: &[f32], c: usize, out: &mut [u8]) {
    let cv = &q.centroids[c * q.dims..(c + 1) * q.dims];
    let r: Vec<f32> = x.iter().zip(cv).map(|(a, b)| a - b).collect();
    let (code, term) = out.split_at_mut(q.pq.code_len().min(out.len()));
    q.pq.encode(&r, code);
    if let Some(t) = term.first_chunk_mut::<TERM_LEN>() {
        *t = term_bits(q, c, code).to_le_bytes();
    }
}

/// The stored L2 term of `code` in list `list` (what [`encode`] writes after the code).
pub fn term_bits(q: &Quantizer, list: usize, code: &[u8]) -> u16 {
    let cv = &q.centroids[list * q.dims..(list + 1) * q.dims];
    super::bf16::to_bits(q.pq.l2_term(cv, code))
}

/// Encodes prepared rows (`n * dims`) on rayon threads: the list of each and the entry tails
/// (code and term, see [`encode`]) for `kind`, packed.
pub fn encode_all(q: &Quantizer, rows: &[f32], kind: Kind) -> (Vec<u32>, Vec<u8>) {
    let len = q.pq.code_len() + kind.term_len();
    let n = rows.len() / q.dims;
    let mut codes = vec![0u8; n * len];
    let lists = kmeans::assign_all(rows, q.dims, &q.centroids);
    rows.par_chunks_exact(q.dims)
        .zip(codes.par_chunks_exact_mut(len.max(1)))
        .zip(&lists)
        .for_each(|((x, code), l)| encode_in(q, x, *l as usize, code));
    (lists, codes)
}
