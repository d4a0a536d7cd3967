//! IVF-PQ: an inverted file of lists, each holding product-quantized residuals.
//!
//! Coarse k-means centroids cut the space into `lists` cells; every row goes to the list of its
//! nearest centroid and is stored as the PQ code of its residual (row minus centroid), a few
//! dozen bytes instead of `4 * dims`. A query ranks the centroids, scans the codes of the
//! `probes` nearest lists with ADC lookup tables, and re-ranks the best candidates by exact
//! distance (the extension reads their vectors from the table).
//!
//! * [`kmeans`]: k-means++ seeding and Lloyd iterations, stepped;
//! * [`pq`]: product quantization, training, encoding, ADC;
//! * [`train`]: the whole training pipeline (coarse k-means, residuals, PQ), stepped, plus
//!   parallel encoding;
//! * [`search`]: query preparation, list ranking and per-list scoring;
//! * [`format`]: the on-disk format.
//!
//! Metrics: L2 works on raw vectors; cosine normalises rows and queries and then is an inner
//! product; inner product uses residual codes with the list's `<q, centroid>` added back.
pub mod format;
pub mod kmeans;
pub mod pq;
pub mod search;
pub mod train;

#[cfg(test)]
mod tests;

/// Default `lists` for a table of `rows` rows: one per 400 rows while that is below the square
/// root (so a list fills a couple of pages and small indexes do not waste half-empty pages),
/// then the square root, the usual rule for large IVF indexes (1,000 lists at 1M rows). At
/// least 1, at most 32,768.
pub fn default_lists(rows: usize) -> usize {
    let sqrt = (rows as f64).sqrt().round() as usize;
    (rows / 400).min(sqrt).clamp(1, 32_768)
}

/// Default `pq_m` (sub-quantizers) for `dims` dimensions: one per 4 dimensions (rounded up), so
/// at 8 bits a code is a sixteenth of the raw vector.
pub fn default_pq_m(dims: usize) -> usize {
    dims.div_ceil(4).max(1)
}

pub use crate::rng::Rng;
