//! Query side of IVF-PQ: rank the lists, build ADC tables, score codes.
use super::format::Quantizer;
use crate::distance::Metric;

/// How codes are scored: squared L2 of the residual, or negative inner product (cosine is an
/// inner product on normalised vectors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    L2,
    Dot,
}

impl Kind {
    /// The scoring kind of a metric and whether rows and queries are normalised first; `None`
    /// for metrics IVF-PQ does not support (L1).
    pub fn of(metric: Metric) -> Option<(Kind, bool)> {
        match metric {
            Metric::L2 => Some((Kind::L2, false)),
            Metric::InnerProduct => Some((Kind::Dot, false)),
            Metric::Cosine => Some((Kind::Dot, true)),
            Metric::L1 => None,
        }
    }
}

/// A prepared query: the (normalised) vector, its list ranking and the current ADC table.
pub struct QueryScorer {
    pub kind: Kind,
    pub q: Vec<f32>,
    table: Vec<f32>,
    constant: f32,
    scratch: Vec<f32>,
}

impl QueryScorer {
    pub fn new(kind: Kind, normalize: bool, query: &[f32], quant: &Quantizer) -> QueryScorer {
        let q = super::train::prepare(normalize, query);
        let mut table = Vec::new();
        if kind == Kind::Dot {
            quant.pq.table_dot(&q, &mut table);
        }
        QueryScorer {
            kind,
            q,
            table,
            constant: 0.0,
            scratch: Vec::new(),
        }
    }

    /// Lists in the order to probe them: by squared L2 to the centroid, or by negative inner
    /// product for the inner-product kinds.
    pub fn rank_lists(&self, quant: &Quantizer) -> Vec<u32> {
        let d = quant.dims;
        let mut scored: Vec<(f32, u32)> = quant
            .centroids
            .chunks_exact(d)
            .enumerate()
            .map(|(i, c)| {
                let s = match self.kind {
                    Kind::L2 => crate::ivfpq::kmeans::dist2(&self.q, c) as f32,
                    Kind::Dot => -(crate::distance::dot(&self.q, c) as f32),
                };
                (s, i as u32)
            })
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, i)| i).collect()
    }

    /// Prepares scoring of list `list`'s codes.
    pub fn enter_list(&mut self, quant: &Quantizer, list: u32) {
        let d = quant.dims;
        let c = &quant.centroids[list as usize * d..(list as usize + 1) * d];
        match self.kind {
            Kind::L2 => {
                self.scratch.clear();
                self.scratch
                    .extend(self.q.iter().zip(c).map(|(a, b)| a - b));
                quant.pq.table_l2(&self.scratch, &mut self.table);
                self.constant = 0.0;
            }
            Kind::Dot => self.constant = -(crate::distance::dot(&self.q, c) as f32),
        }
    }

    /// Approximate distance of a code in the current list (squared L2, or negative inner
    /// product): comparable within one query, not equal to the SQL distance.
    #[inline]
    pub fn score(&self, quant: &Quantizer, code: &[u8]) -> f32 {
        self.constant + quant.pq.adc(&self.table, code)
    }
}
