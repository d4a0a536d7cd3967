//! Query side of IVF-PQ: rank the lists, build ADC tables, score codes.
use super::format::{Quantizer, TERM_LEN};
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

impl Kind {
    /// Bytes stored after an entry's PQ code: the L2 term (see [`super::pq::ProductQuantizer::l2_term`]).
    pub fn term_len(self) -> usize {
        match self {
            Kind::L2 => TERM_LEN,
            Kind::Dot => 0,
        }
    }
}

/// A prepared query: the (normalised) vector, its list ranking and its ADC table.
///
/// One table per query for every kind: `-<q_s, c_{s,j}>` for the inner-product kinds, where a
/// list adds its `-<q, centroid>`; `-2 <q_s, c_{s,j}>` for L2, where a list adds
/// `|q - centroid|^2` and each entry its stored term (`|q - c - r|^2 = |q - c|^2 + |r|^2 +
/// 2 <c, r> - 2 <q, r>`). A table per probed list (the residual's distance to every
/// sub-centroid) would cost more than scanning the list's codes.
pub struct QueryScorer {
    pub kind: Kind,
    pub q: Vec<f32>,
    table: Vec<f32>,
    constant: f32,
    code_len: usize,
}

impl QueryScorer {
    pub fn new(kind: Kind, normalize: bool, query: &[f32], quant: &Quantizer) -> QueryScorer {
        let q = super::train::prepare(normalize, query);
        let mut table = Vec::new();
        let scale = match kind {
            Kind::L2 => 2.0,
            Kind::Dot => 1.0,
        };
        quant.pq.table_dot(&q, scale, &mut table);
        QueryScorer {
            kind,
            q,
            table,
            constant: 0.0,
            code_len: quant.pq.code_len(),
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
        self.constant = match self.kind {
            Kind::L2 => crate::ivfpq::kmeans::dist2(&self.q, c) as f32,
            Kind::Dot => -(crate::distance::dot(&self.q, c) as f32),
        };
    }

    /// Approximate distance of an entry's code (and, for L2, its term) in the current list
    /// (squared L2, or negative inner product): comparable within one query, not equal to the
    /// SQL distance. A code without its term (a damaged page) scores without it.
    #[inline]
    pub fn score(&self, quant: &Quantizer, code: &[u8]) -> f32 {
        let (pq, rest) = code.split_at(self.code_len.min(code.len()));
        let term = match (self.kind, rest.first_chunk::<TERM_LEN>()) {
            (Kind::L2, Some(t)) => super::bf16::from_bits(u16::from_le_bytes(*t)),
            _ => 0.0,
        };
        self.constant + term + quant.pq.adc(&self.table, pq)
    }
}
