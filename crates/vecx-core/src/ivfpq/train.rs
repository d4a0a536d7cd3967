//! Training an IVF-PQ quantizer (coarse k-means, then PQ codebooks on the residuals), one
//! bounded step at a time, and encoding rows in parallel.
use rayon::prelude::*;

use super::format::{Quantizer, TERM_LEN};
use super::kmeans::{self, KMeans};
use super::pq::{PqStep, PqTrainer};
use super::search::Kind;

/// Lloyd iterations for the coarse centroids and for each PQ sub-space.
///
/// Coarse: on sift10k (200 lists) and mnist10k (180), 6 iterations give the recall@10 of 10
/// within 0.1% at every probe count from 5 to 50 lists (40 or 100 candidates re-ranked), and
/// cost 40% less; Hamerly's bounds skip few points on these sets (the farthest centroid move
/// stays 4 to 5 times the median), so each iteration costs about a full assignment. With half
/// as many lists (100 on sift10k) the 4 extra iterations were worth 1% of recall: the lists
/// the defaults give are the ones measured.
pub const COARSE_ITERATIONS: usize = 6;
pub const PQ_ITERATIONS: usize = 4;
/// Residuals the PQ codebooks are trained on: 8 per code at 8 bits. A query's recall is set
/// by the lists it probes, not by the codes, once candidates are re-ranked: on sift10k and
/// mnist10k (defaults, 40 or 100 candidates re-ranked), 2,048 residuals and 4 iterations give
/// the recall@10 of 4,096 and 6 within 0.1% at every probe count, and train 2 to 3 times
/// faster (mnist10k: 196 sub-spaces).
pub const PQ_TRAIN_ROWS: usize = 2_048;

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
    /// The coarse list of each sample row, once the coarse k-means is done.
    sample_lists: Vec<u32>,
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
            sample_lists: Vec::new(),
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
                    // The sample comes back from the k-means (moved in, not copied), with the
                    // list of each row.
                    (self.sample, self.sample_lists) = km.into_parts();
                    // Stored as bf16: residuals and codes are made against the stored values.
                    super::bf16::round_all(&mut centroids);
                    let n = self.sample.len() / self.dims;
                    let take = n.min(PQ_TRAIN_ROWS);
                    // The sample is already a random draw: its first rows are a random subset.
                    let residuals = residuals(
                        &self.sample[..take * self.dims],
                        self.dims,
                        &centroids,
                        &self.sample_lists[..take],
                    );
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

    pub fn finish(self) -> Quantizer {
        self.finish_with_lists().0
    }

    /// The quantizer and the list of each sample row (its closest centroid when the coarse
    /// k-means ended, before the centroids were rounded to bf16: a row within rounding of two
    /// centroids may sit in the one [`encode`] would not pick, which costs nothing), so that a
    /// caller whose sample is every row need not assign them again ([`encode_all_in`]).
    pub fn finish_with_lists(mut self) -> (Quantizer, Vec<u32>) {
        while self.step() != TrainStep::Done {}
        match self.phase.take() {
            Some(Phase::Done(q)) => (q, self.sample_lists),
            _ => unreachable!("step returned Done"),
        }
    }
}

/// Every row minus the centroid of its list.
fn residuals(data: &[f32], dims: usize, centroids: &[f32], lists: &[u32]) -> Vec<f32> {
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
    let lists = kmeans::assign_all(rows, q.dims, &q.centroids);
    let codes = encode_all_in(q, rows, &lists, kind);
    (lists, codes)
}

/// Encodes prepared rows whose lists are known (one per row, e.g. from
/// [`Training::finish_with_lists`]) on rayon threads: the entry tails, packed.
pub fn encode_all_in(q: &Quantizer, rows: &[f32], lists: &[u32], kind: Kind) -> Vec<u8> {
    let len = q.pq.code_len() + kind.term_len();
    let n = rows.len() / q.dims;
    assert_eq!(lists.len(), n, "one list per row");
    let mut codes = vec![0u8; n * len];
    rows.par_chunks_exact(q.dims)
        .zip(codes.par_chunks_exact_mut(len.max(1)))
        .zip(lists)
        .for_each(|((x, code), l)| encode_in(q, x, *l as usize, code));
    codes
}
