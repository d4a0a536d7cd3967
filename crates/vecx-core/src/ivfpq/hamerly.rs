//! Lloyd iterations that skip the points whose cluster cannot have changed, by Hamerly's bounds
//! (G. Hamerly, "Making k-means even faster", SDM 2010, Algorithm 2).
//!
//! Every point keeps an upper bound `u` on its distance to its own centroid and a lower bound
//! `l` on its distance to every other centroid. When the centroids move, the triangle
//! inequality keeps both valid cheaply: `u` grows by how far its own centroid moved and `l`
//! shrinks by the farthest move of any other centroid. A point with `u <= l` is still closest
//! to its centroid and is skipped; the others are re-assigned from scratch, which also gives
//! fresh bounds (the best and second-best distances).
//!
//! How much they skip depends on how evenly the centroids move: the lower bound shrinks by the
//! farthest move of any centroid. Where a few centroids keep moving far while most settle, it
//! skips little: at the default lists on sift10k (200) and mnist10k (180), at most 28% and 5%
//! of the points are skipped per iteration (on sift10k the farthest move stays 4 to 5 times the
//! median move). Elkan's bounds (one per point and centroid) were tried: they skipped
//! up to 36% (sift10k) and 37% (mnist10k) of the points, but their bookkeeping made sift10k's
//! iterations slower and saved 15% of mnist10k's, so the one bound stays.
//!
//! The points that remain are gathered into blocks and assigned by matrix products as in
//! [`super::kmeans::assign_all`], with the same expression (`|c|^2 - 2 <x, c>`, first minimum on
//! ties), so a re-assigned point gets the same cluster either way. Distances come from that expression plus `|x|^2`, in f32: rounding can misjudge a
//! bound only when two centroids are within rounding of each other, where the plain argmin is a
//! coin toss too.
use rayon::prelude::*;

use super::kmeans::{best_two, dist2, long_norms};

/// Points per matrix product (as in `assign_all`).
const BLOCK: usize = 128;

pub struct Bounds {
    upper: Vec<f32>,
    lower: Vec<f32>,
    /// `|x|^2` of every point.
    norms: Vec<f32>,
}

impl Bounds {
    /// Assigns every point of `data` (`n * dim`) to its closest centroid; the assignment and
    /// the bounds that go with it.
    pub fn new(data: &[f32], dim: usize, centroids: &[f32]) -> (Bounds, Vec<u32>) {
        let n = data.len() / dim;
        let norms: Vec<f32> = data
            .par_chunks_exact(dim)
            .map(|x| crate::distance::dot(x, x) as f32)
            .collect();
        let all: Vec<u32> = (0..n as u32).collect();
        let found = nearest_two(data, dim, centroids, &norms, &all);
        let mut b = Bounds {
            upper: vec![0.0; n],
            lower: vec![0.0; n],
            norms,
        };
        let mut assign = vec![0; n];
        for (i, (c, u, l)) in found.into_iter().enumerate() {
            (assign[i], b.upper[i], b.lower[i]) = (c, u, l);
        }
        (b, assign)
    }

    /// After the centroids moved from `old` to `new`: updates `assign` to the closest of
    /// `new` for every point, re-assigning only the points the bounds cannot vouch for; returns
    /// how many points changed cluster.
    pub fn reassign(
        &mut self,
        data: &[f32],
        dim: usize,
        old: &[f32],
        new: &[f32],
        assign: &mut [u32],
    ) -> usize {
        let drift: Vec<f32> = old
            .par_chunks_exact(dim)
            .zip(new.par_chunks_exact(dim))
            .map(|(a, b)| dist2(a, b).sqrt() as f32)
            .collect();
        // The farthest move, and the farthest of the others (for points of that centroid).
        let (mut far, mut second, mut far_at) = (0f32, 0f32, usize::MAX);
        for (j, &d) in drift.iter().enumerate() {
            if d > far {
                (second, far, far_at) = (far, d, j);
            } else if d > second {
                second = d;
            }
        }
        let mut unsure = Vec::new();
        for (i, &a) in assign.iter().enumerate() {
            let a = a as usize;
            self.upper[i] += drift[a];
            self.lower[i] -= if a == far_at { second } else { far };
            if self.upper[i] > self.lower[i] {
                unsure.push(i as u32);
            }
        }
        let found = nearest_two(data, dim, new, &self.norms, &unsure);
        let mut moved = 0;
        for (&i, (c, u, l)) in unsure.iter().zip(found) {
            let i = i as usize;
            moved += usize::from(assign[i] != c);
            (assign[i], self.upper[i], self.lower[i]) = (c, u, l);
        }
        moved
    }
}

/// For each listed point: its closest centroid (first on ties, as `assign_all`), the distance
/// to it and the distance to the second closest (infinite with one centroid).
fn nearest_two(
    data: &[f32],
    dim: usize,
    centroids: &[f32],
    norms: &[f32],
    which: &[u32],
) -> Vec<(u32, f32, f32)> {
    let k = centroids.len() / dim;
    let cnorms = long_norms(centroids, dim);
    which
        .par_chunks(BLOCK)
        .flat_map_iter(|ids| {
            let mut rows = Vec::with_capacity(ids.len() * dim);
            for &i in ids {
                rows.extend_from_slice(&data[i as usize * dim..(i as usize + 1) * dim]);
            }
            let mut g = vec![0f32; ids.len() * k];
            crate::distance::simd::dot_matrix(&rows, ids.len(), centroids, k, dim, &mut g);
            ids.iter()
                .zip(g.chunks_exact(k))
                .map(|(&i, dots)| {
                    let (c, best, second) = best_two(dots, &cnorms);
                    let x = norms[i as usize];
                    let dist = |s: f32| (s + x).max(0.0).sqrt();
                    (c, dist(best), dist(second))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
