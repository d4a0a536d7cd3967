//! Filtered-query workloads: the WHERE clauses a benchmark adds to nearest-neighbour queries,
//! with the row predicate that computes their exact ground truth.
//!
//! * `label`: `label = <the query's own label>`, on datasets that ship labels (mnist10k's digits:
//!   about 10% of rows each);
//! * `1%` and `0.1%`: on a generated column `sel`, uniform in 0..1000 and independent of the
//!   vectors: `sel % 100 = q % 100` and `sel = q % 1000`, so each query filters a different slice.
use crate::dataset::Dataset;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    Label,
    Pct1,
    Pct01,
}

pub const ALL: [Filter; 3] = [Filter::Label, Filter::Pct1, Filter::Pct01];

/// The `sel` value of row `row`: a fixed hash, so every run and every table agrees.
pub fn sel(row: usize) -> i32 {
    let mut z = (row as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) % 1000) as i32
}

impl Filter {
    pub fn name(self) -> &'static str {
        match self {
            Filter::Label => "label",
            Filter::Pct1 => "1%",
            Filter::Pct01 => "0.1%",
        }
    }

    pub fn parse(s: &str) -> Option<Filter> {
        ALL.into_iter().find(|f| f.name() == s.trim())
    }

    /// Whether the dataset supports this filter (labels are needed for `label`).
    pub fn available(self, ds: &Dataset) -> bool {
        self != Filter::Label || (ds.base_labels.is_some() && ds.query_labels.is_some())
    }

    /// The condition, with `$2` the per-query parameter.
    pub fn sql(self) -> &'static str {
        match self {
            Filter::Label => "label = $2",
            Filter::Pct1 => "sel % 100 = $2",
            Filter::Pct01 => "sel = $2",
        }
    }

    pub fn param(self, ds: &Dataset, q: usize) -> i32 {
        match self {
            Filter::Label => ds.query_labels.as_ref().map_or(-1, |l| l[q]),
            Filter::Pct1 => (q % 100) as i32,
            Filter::Pct01 => (q % 1000) as i32,
        }
    }

    pub fn accepts(self, ds: &Dataset, q: usize, row: usize) -> bool {
        match self {
            Filter::Label => ds.base_labels.as_ref().map_or(-2, |l| l[row]) == self.param(ds, q),
            Filter::Pct1 => sel(row) % 100 == self.param(ds, q),
            Filter::Pct01 => sel(row) == self.param(ds, q),
        }
    }
}
