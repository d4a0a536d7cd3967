//! k-means with k-means++ seeding (Arthur & Vassilvitskii 2007) and Lloyd iterations, driven
//! one step at a time.
//!
//! A CREATE INDEX must stay cancellable and report progress, and its rayon threads must never
//! call PostgreSQL. So [`KMeans`] does its work in [`KMeans::step`] calls that each take a
//! bounded amount of time (a batch of seeding picks, or one Lloyd iteration, each parallel over
//! the points on rayon), and the backend thread loops over them, checking for interrupts and
//! updating `pg_stat_progress_create_index` in between.
//!
//! Empty clusters after an iteration are re-seeded from a point of the largest cluster, so the
//! result always has `k` distinct-as-possible centroids. With fewer points than `k`, every point
//! becomes a centroid and the rest repeat them (the caller decides whether to shrink `k`).
use rayon::prelude::*;

use super::hamerly::Bounds;
use super::Rng;
use crate::distance::l2_squared;

/// What a [`KMeans::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// k-means++ picked `done` of `total` initial centroids.
    Seeding { done: usize, total: usize },
    /// Lloyd iteration `iteration` of at most `max` moved `moved` points to another cluster.
    Iteration {
        iteration: usize,
        max: usize,
        moved: usize,
    },
    /// Converged or out of iterations: [`KMeans::centroids`] is final.
    Done,
}

pub struct KMeans {
    data: Vec<f32>,
    dim: usize,
    k: usize,
    centroids: Vec<f32>,
    /// The points k-means++ draws from when not all of them (see [`seed_pool`]), contiguous,
    /// and the squared distance of each pool point to its closest centroid so far.
    pool: Option<Vec<f32>>,
    closest: Vec<f64>,
    assign: Vec<u32>,
    /// Hamerly's bounds (long vectors, see [`super::hamerly`]), from the first assignment on.
    bounds: Option<Bounds>,
    seeded: usize,
    iteration: usize,
    max_iterations: usize,
    rng: Rng,
    done: bool,
    random_init: bool,
}

/// Seeding picks per step: enough work per call to amortise the rayon fork, little enough that
/// a cancel is seen quickly.
const PICKS_PER_STEP: usize = 8;

impl KMeans {
    /// Clusters `data` (`n * dim` floats, `n >= 1`) into `k >= 1` clusters.
    pub fn new(data: Vec<f32>, dim: usize, k: usize, seed: u64, max_iterations: usize) -> Self {
        assert!(dim > 0 && k > 0 && !data.is_empty() && data.len().is_multiple_of(dim));
        let n = data.len() / dim;
        KMeans {
            data,
            dim,
            k,
            centroids: Vec::with_capacity(k * dim),
            pool: None,
            closest: Vec::new(),
            assign: vec![0; n],
            bounds: None,
            seeded: 0,
            iteration: 0,
            max_iterations,
            rng: Rng::new(seed),
            done: false,
            random_init: false,
        }
    }

    /// Seeds with `k` distinct random points instead of k-means++ (cheaper; what PQ sub-space
    /// training uses, as in the PQ paper, where the many small codebooks make k-means++ costly
    /// and add little).
    pub fn random_init(mut self) -> Self {
        self.random_init = true;
        self
    }

    fn n(&self) -> usize {
        self.data.len() / self.dim
    }

    fn point(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Does the next bounded piece of work.
    pub fn step(&mut self) -> Step {
        if self.done {
            return Step::Done;
        }
        if self.seeded < self.k && self.random_init {
            let n = self.n();
            let mut idx: Vec<usize> = (0..n).collect();
            for i in 0..self.k {
                let j = i % n + (self.rng.next_u64() % (n - i % n) as u64) as usize;
                idx.swap(i % n, j);
                let c: Vec<f32> = self.point(idx[i % n]).to_vec();
                self.centroids.extend_from_slice(&c);
            }
            self.seeded = self.k;
            self.assign = assign_all(&self.data, self.dim, &self.centroids);
            return Step::Seeding {
                done: self.k,
                total: self.k,
            };
        }
        if self.seeded < self.k {
            for _ in 0..PICKS_PER_STEP {
                if self.seeded == self.k {
                    break;
                }
                self.seed_one();
            }
            return Step::Seeding {
                done: self.seeded,
                total: self.k,
            };
        }
        if self.iteration >= self.max_iterations {
            self.done = true;
            return Step::Done;
        }
        let moved = self.lloyd();
        self.iteration += 1;
        // Converged enough: at most 0.5% of the points changed cluster (mnist10k's 180 lists
        // get there in 13 iterations; the last ones moved a few dozen points and changed no
        // recall figure).
        if self.iteration > 1 && moved * 200 <= self.n() {
            self.done = true;
        }
        Step::Iteration {
            iteration: self.iteration,
            max: self.max_iterations,
            moved,
        }
    }

    /// Runs to the end (tests and small inputs).
    pub fn run(mut self) -> Vec<f32> {
        while self.step() != Step::Done {}
        self.centroids
    }

    /// k-means++: the next centroid is a point of the pool drawn with probability proportional
    /// to its squared distance to the closest centroid chosen so far (the first one uniformly).
    fn seed_one(&mut self) {
        if self.seeded == 0 {
            self.pool = seed_pool(&self.data, self.dim, self.k);
            let pool = self.pool.as_deref().unwrap_or(&self.data);
            self.closest = vec![f64::INFINITY; pool.len() / self.dim];
        }
        let (dim, n) = (self.dim, self.closest.len());
        let pick = if self.seeded == 0 {
            (self.rng.next_u64() % n as u64) as usize
        } else {
            // A serial sum: a parallel one adds in a varying order, and the draw below would
            // then differ from build to build of the same data.
            let total: f64 = self.closest.iter().sum();
            if total <= 0.0 || !total.is_finite() {
                // Every point coincides with a centroid: repeat points in order.
                self.seeded % n
            } else {
                let mut target = self.rng.uniform() * total;
                let mut chosen = n - 1;
                for (i, d) in self.closest.iter().enumerate() {
                    if target < *d {
                        chosen = i;
                        break;
                    }
                    target -= d;
                }
                chosen
            }
        };
        let pool = self.pool.as_deref().unwrap_or(&self.data);
        let c: Vec<f32> = pool[pick * dim..(pick + 1) * dim].to_vec();
        self.centroids.extend_from_slice(&c);
        self.seeded += 1;
        self.closest
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, best)| {
                let d = dist2(&pool[i * dim..(i + 1) * dim], &c);
                if d < *best {
                    *best = d;
                }
            });
        if self.seeded == self.k {
            self.pool = None;
            self.closest = Vec::new();
            // Initial assignment, so the first Lloyd iteration counts moves correctly.
            if self.dim >= LONG {
                let (b, assign) = Bounds::new(&self.data, self.dim, &self.centroids);
                (self.bounds, self.assign) = (Some(b), assign);
            } else {
                self.assign = assign_all(&self.data, self.dim, &self.centroids);
            }
        }
    }

    /// One Lloyd iteration: recompute means, then reassign; returns the points that moved.
    fn lloyd(&mut self) -> usize {
        let (dim, k) = (self.dim, self.k);
        // Where the centroids were, for the bounds' drift.
        let old = if self.bounds.is_some() {
            self.centroids.clone()
        } else {
            Vec::new()
        };
        // Members of each cluster in point order (a counting sort), then each cluster's mean
        // on the rayon threads: the same additions in the same order as one serial pass, so the
        // result does not depend on the thread count.
        let mut counts = vec![0usize; k];
        for &a in &self.assign {
            counts[a as usize] += 1;
        }
        let mut start = Vec::with_capacity(k + 1);
        start.push(0);
        for c in 0..k {
            start.push(start[c] + counts[c]);
        }
        let mut next = start.clone();
        let mut members = vec![0u32; self.assign.len()];
        for (i, &a) in self.assign.iter().enumerate() {
            members[next[a as usize]] = i as u32;
            next[a as usize] += 1;
        }
        let data = &self.data;
        self.centroids
            .par_chunks_exact_mut(dim)
            .enumerate()
            .for_each_init(
                || vec![0f64; dim],
                |sum, (c, centroid)| {
                    let mine = &members[start[c]..start[c + 1]];
                    if mine.is_empty() {
                        return;
                    }
                    sum.fill(0.0);
                    for &i in mine {
                        let x = &data[i as usize * dim..(i as usize + 1) * dim];
                        for (s, x) in sum.iter_mut().zip(x) {
                            *s += *x as f64;
                        }
                    }
                    for (v, s) in centroid.iter_mut().zip(sum.iter()) {
                        *v = (s / mine.len() as f64) as f32;
                    }
                },
            );
        // Empty clusters take random points of the largest cluster, slightly perturbed
        // (sub-spaces where most points coincide, MNIST's blank border pixels, leave most of 256
        // clusters empty every iteration).
        let empty: Vec<usize> = (0..k).filter(|&c| counts[c] == 0).collect();
        if !empty.is_empty() {
            let largest = (0..k).max_by_key(|&j| counts[j]).unwrap_or(0);
            let members = &members[start[largest]..start[largest + 1]];
            if members.len() > 1 {
                for c in empty {
                    let p = members[(self.rng.next_u64() % members.len() as u64) as usize];
                    let p = p as usize;
                    for j in 0..dim {
                        let x = self.data[p * dim + j];
                        self.centroids[c * dim + j] = x + (x.abs() + 1e-6) * 1e-4;
                    }
                }
            }
        }
        if let Some(b) = self.bounds.as_mut() {
            return b.reassign(&self.data, dim, &old, &self.centroids, &mut self.assign);
        }
        let assign = assign_all(&self.data, dim, &self.centroids);
        let moved = assign
            .iter()
            .zip(&self.assign)
            .filter(|(a, b)| a != b)
            .count();
        self.assign = assign;
        moved
    }

    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// The points it was given, back (for the caller's next use of them), and the cluster of
    /// each: after [`Step::Done`], its closest centroid (the last Lloyd iteration ends with an
    /// assignment to the centroids it computed).
    pub fn into_parts(self) -> (Vec<f32>, Vec<u32>) {
        (self.data, self.assign)
    }
}

/// Pool points per centroid for k-means++ seeding.
const POOL_PER_CENTROID: usize = 8;
/// Smallest pool (all points when there are fewer).
const MIN_POOL: usize = 1_024;

/// The points k-means++ seeds from: `None` (every point, no copy) when there are at most
/// `max(MIN_POOL, POOL_PER_CENTROID * k)`, else that many spread evenly over the data. Each
/// seeding pick updates every pool point's distance, so its cost is `pool * k * dim` read from
/// memory one pick at a time; on all 10,000 points of mnist10k (180 lists of 784-d) that was a
/// third of the coarse training. Lloyd's iterations then run on every point and correct what a
/// smaller pool misses (recall@10 on sift10k and mnist10k unchanged).
pub fn seed_pool(data: &[f32], dim: usize, k: usize) -> Option<Vec<f32>> {
    let n = data.len() / dim;
    let size = (POOL_PER_CENTROID * k).max(MIN_POOL);
    (n > size).then(|| {
        (0..size)
            .flat_map(|i| {
                let p = i * n / size;
                data[p * dim..(p + 1) * dim].iter().copied()
            })
            .collect()
    })
}

/// Squared L2 distance: the SIMD kernel for long vectors, a plain loop for the short sub-vectors
/// of product quantization (where a dispatched call costs more than the arithmetic).
#[inline]
pub fn dist2(a: &[f32], b: &[f32]) -> f64 {
    if a.len() >= 32 {
        l2_squared(a, b)
    } else {
        let mut s = 0f32;
        for (x, y) in a.iter().zip(b) {
            let d = x - y;
            s += d * d;
        }
        s as f64
    }
}

/// The closest centroid (squared L2) to `x`.
pub fn nearest(centroids: &[f32], dim: usize, x: &[f32]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (c, cv) in centroids.chunks_exact(dim).enumerate() {
        let d = dist2(x, cv);
        if d < best.1 {
            best = (c, d);
        }
    }
    best
}

/// Vectors at least this long are assigned by matrix products (and Lloyd iterations on them
/// skip points by Hamerly's bounds); shorter ones (PQ sub-spaces) dimension-major.
const LONG: usize = 32;

/// Points per matrix product in [`assign_all`]: enough rows to amortise packing the centroids.
const ASSIGN_BLOCK: usize = 128;

/// The closest centroid of every point, in parallel. Short vectors (PQ sub-spaces) go through
/// dimension-major centroids; long ones in blocks of points by matrix products:
/// `argmin_j |c_j|^2 - 2 <x, c_j>` (the `|x|^2` term is the same for every centroid).
pub fn assign_all(data: &[f32], dim: usize, centroids: &[f32]) -> Vec<u32> {
    if dim < LONG {
        let (t, norms) = (transpose(centroids, dim), norms(centroids, dim));
        let k = centroids.len() / dim;
        return data
            .par_chunks_exact(dim)
            .map(|x| nearest_transposed(&t, &norms, k, x) as u32)
            .collect();
    }
    let k = centroids.len() / dim;
    let norms = long_norms(centroids, dim);
    let mut out = vec![0u32; data.len() / dim];
    data.par_chunks(ASSIGN_BLOCK * dim)
        .zip(out.par_chunks_mut(ASSIGN_BLOCK))
        .for_each_init(Vec::new, |g, (rows, out)| {
            let n = rows.len() / dim;
            g.resize(n * k, 0.0);
            crate::distance::simd::dot_matrix(rows, n, centroids, k, dim, g);
            for (o, dots) in out.iter_mut().zip(g.chunks_exact(k)) {
                *o = best_two(dots, &norms).0;
            }
        });
    out
}

/// The squared norms of long centroids (SIMD inner products), for [`best_two`].
pub fn long_norms(centroids: &[f32], dim: usize) -> Vec<f32> {
    centroids
        .chunks_exact(dim)
        .map(|c| crate::distance::dot(c, c) as f32)
        .collect()
}

/// From one row's inner products with every centroid (a row of a [`dot_matrix`] product) and
/// the centroids' squared norms: the closest centroid by `|c|^2 - 2 <x, c>` (first on ties;
/// NaN never chosen, 0 if all are), that value, and the second smallest value (infinite with
/// one centroid). Add `|x|^2` for squared distances.
///
/// [`dot_matrix`]: crate::distance::simd::dot_matrix
#[inline]
pub fn best_two(dots: &[f32], norms: &[f32]) -> (u32, f32, f32) {
    let (mut best, mut second) = ((0u32, f32::INFINITY), f32::INFINITY);
    for (j, (d, n)) in dots.iter().zip(norms).enumerate() {
        let s = n - 2.0 * d;
        if s < best.1 {
            second = best.1;
            best = (j as u32, s);
        } else if s < second {
            second = s;
        }
    }
    (best.0, best.1, second)
}

/// Centroids (`k` rows of `dim`) stored dimension-major (`dim` rows of `k`), for
/// [`nearest_transposed`].
pub fn transpose(centroids: &[f32], dim: usize) -> Vec<f32> {
    let k = centroids.len() / dim;
    let mut t = vec![0f32; centroids.len()];
    for (j, c) in centroids.chunks_exact(dim).enumerate() {
        for (d, v) in c.iter().enumerate() {
            t[d * k + j] = *v;
        }
    }
    t
}

/// The squared norm of each centroid (`k` rows of `dim`), for [`nearest_transposed`].
pub fn norms(centroids: &[f32], dim: usize) -> Vec<f32> {
    centroids
        .chunks_exact(dim)
        .map(|c| c.iter().map(|v| v * v).sum())
        .collect()
}

/// The closest of `k` short centroids (dimension-major in `t`, squared norms in `norms`) to
/// `x`: the values `|c|^2 - 2 <x, c>` of all centroids are accumulated one dimension at a
/// time, a loop over consecutive floats that vectorises (the shape of PQ sub-spaces: a few
/// dimensions, 16 or 256 centroids).
#[inline]
pub fn nearest_transposed(t: &[f32], norms: &[f32], k: usize, x: &[f32]) -> usize {
    crate::distance::simd::nearest_many(x, t, norms, k)
}
