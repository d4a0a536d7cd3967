//! IVF-PQ: an inverted file of lists, each holding product-quantized residuals.
//!
//! Coarse k-means centroids cut the space into `lists` cells; every row goes to the list of its
//! nearest centroid and is stored as the PQ code of its residual (row minus centroid), a few
//! dozen bytes instead of `4 * dims`. A query ranks the centroids, scans the codes of the
//! `probes` nearest lists with ADC lookup tables, and re-ranks the best candidates by exact
//! distance (the extension reads their vectors from the table).
//!
//! * [`kmeans`]: k-means++ seeding and Lloyd iterations, stepped;
//! * [`hamerly`]: the bounds that let Lloyd iterations on long vectors skip most points;
//! * [`pq`]: product quantization, training, encoding, ADC;
//! * [`train`]: the whole training pipeline (coarse k-means, residuals, PQ), stepped, plus
//!   parallel encoding;
//! * [`search`]: query preparation, list ranking and per-list scoring;
//! * [`format`]: the on-disk format;
//! * [`bf16`]: the half-width floats the quantizer and the L2 terms are stored as.
//!
//! Metrics: L2 works on raw vectors; cosine normalises rows and queries and then is an inner
//! product; inner product uses residual codes with the list's `<q, centroid>` added back.
pub mod bf16;
pub mod format;
pub mod hamerly;
pub mod kmeans;
pub mod pq;
pub mod search;
pub mod train;

#[cfg(test)]
mod tests;

/// Default `lists` for a table of `rows` rows: twice the square root (200 lists at 10,000 rows,
/// 2,000 at 1M), but lists of at least 50 rows on small tables. Many small lists are what lets
/// a query find its neighbours while scanning a quarter of the lists or less (sift10k: recall
/// 0.87 with 25 lists and 6 probes, 0.96 with 200 lists and 50 probes); lists share pages
/// (see [`format`]), so they cost no space. At least 1, at most [`format::MAX_LISTS`].
pub fn default_lists(rows: usize) -> usize {
    let twice_sqrt = (2.0 * (rows as f64).sqrt()).round() as usize;
    (rows / 50)
        .min(twice_sqrt)
        .clamp(1, format::MAX_LISTS as usize)
}

/// Lists a scan probes for the `vecx.ivfpq_probes` setting `setting` on an index of `lists`
/// lists: the setting itself (capped at `lists`), or for 0, the default, twice the square root
/// of the lists (28 of 200 lists, 90 of 2,000): a fraction that shrinks as indexes grow, as the
/// fraction a given recall needs does.
pub fn probes(setting: i32, lists: usize) -> usize {
    let lists = lists.max(1);
    if setting > 0 {
        (setting as usize).min(lists)
    } else {
        ((2.0 * (lists as f64).sqrt()).round() as usize).clamp(1, lists)
    }
}

/// Default `pq_m` (sub-quantizers) for `dims` dimensions: one per 4 dimensions (rounded up), so
/// at 8 bits a code is a sixteenth of the raw vector.
pub fn default_pq_m(dims: usize) -> usize {
    dims.div_ceil(4).max(1)
}

pub use crate::rng::Rng;
