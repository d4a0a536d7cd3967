//! Exact ground truth by brute force on all cores (rayon), and tie-tolerant recall.
use rayon::prelude::*;
use vecx_core::distance::Metric;

use crate::dataset::{Dataset, Truth};

/// Exact top-`k` for every query, optionally among the rows a per-query predicate accepts
/// (`accept(query, row)`). Ties are broken by ascending id, like the shipped ground truth.
pub fn exact_top_k(
    ds: &Dataset,
    k: usize,
    accept: Option<&(dyn Fn(usize, usize) -> bool + Sync)>,
) -> Truth {
    let per_query: Vec<(Vec<u32>, Vec<f64>)> = (0..ds.num_queries())
        .into_par_iter()
        .map(|q| {
            let query = ds.query(q);
            let mut scored: Vec<(f64, u32)> = (0..ds.len())
                .filter(|&r| accept.is_none_or(|f| f(q, r)))
                .map(|r| (ds.metric.distance(query, ds.row(r)), r as u32))
                .collect();
            let keep = k.min(scored.len());
            let cmp = |a: &(f64, u32), b: &(f64, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            if keep < scored.len() && keep > 0 {
                scored.select_nth_unstable_by(keep - 1, cmp);
            }
            scored.truncate(keep);
            scored.sort_by(cmp);
            // Pad short lists (fewer matching rows than k) with sentinels.
            let mut ids: Vec<u32> = scored.iter().map(|s| s.1).collect();
            let mut dist: Vec<f64> = scored.iter().map(|s| s.0).collect();
            ids.resize(k, u32::MAX);
            dist.resize(k, f64::INFINITY);
            (ids, dist)
        })
        .collect();
    let mut truth = Truth {
        k,
        ids: Vec::with_capacity(k * per_query.len()),
        dist: Vec::new(),
    };
    for (ids, dist) in per_query {
        truth.ids.extend(ids);
        truth.dist.extend(dist);
    }
    truth
}

/// How many true neighbours query `q` has (fewer than k when a filter matches few rows).
pub fn true_count(truth: &Truth, q: usize, k: usize) -> usize {
    truth.ids(q)[..k.min(truth.k)]
        .iter()
        .filter(|id| **id != u32::MAX)
        .count()
}

/// Tie-tolerant recall@k of one result list: a returned row counts when its distance is within
/// the k-th true distance (plus 1e-5 relative, as vectors are float32). Duplicates count once.
pub fn recall(
    metric: Metric,
    ds: &Dataset,
    truth: &Truth,
    q: usize,
    k: usize,
    returned: &[i64],
) -> f64 {
    let expected = true_count(truth, q, k);
    if expected == 0 {
        return 1.0;
    }
    let kth = truth.dist(q)[expected - 1];
    let limit = kth + 1e-5 * kth.abs().max(1e-9);
    let query = ds.query(q);
    let mut seen = std::collections::HashSet::new();
    let hits = returned
        .iter()
        .take(k)
        .filter(|id| **id >= 0 && (**id as usize) < ds.len() && seen.insert(**id))
        .filter(|id| metric.distance(query, ds.row(**id as usize)) <= limit)
        .count();
    hits.min(expected) as f64 / expected as f64
}
