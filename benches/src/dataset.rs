//! Datasets: the named sets in `../shared/datasets/NAME` (see that folder's README) and a seeded
//! synthetic generator of clustered data (a Gaussian mixture, not uniform noise).
use std::io;
use std::path::Path;

use vecx_core::distance::Metric;

use crate::files::{read_bvecs, read_fvecs, read_npy};

/// Exact top-`k` neighbours of every query: ids and distances as the SQL operator returns them.
#[derive(Clone)]
pub struct Truth {
    pub k: usize,
    pub ids: Vec<u32>,
    pub dist: Vec<f64>,
}

impl Truth {
    pub fn ids(&self, q: usize) -> &[u32] {
        &self.ids[q * self.k..(q + 1) * self.k]
    }
    pub fn dist(&self, q: usize) -> &[f64] {
        &self.dist[q * self.k..(q + 1) * self.k]
    }
}

pub struct Dataset {
    pub name: String,
    pub dim: usize,
    pub base: Vec<f32>,
    pub queries: Vec<f32>,
    pub metric: Metric,
    /// Ground truth shipped with the dataset (for `metric`), if any.
    pub truth: Option<Truth>,
    /// Class labels (e.g. MNIST digits) for the label filter, if the dataset has them.
    pub base_labels: Option<Vec<i32>>,
    pub query_labels: Option<Vec<i32>>,
    /// Rows loaded before the index is built; the rest are inserted one by one afterwards
    /// (`--insert-after`). Equal to the row count unless set.
    pub build_rows: usize,
}

impl Dataset {
    /// Appends the vectors of `file` (fvecs, in the dataset's folder) as rows inserted after the
    /// index build; the shipped ground truth no longer applies, so it is dropped (the harness
    /// computes it on the union).
    pub fn append_after_build(&mut self, root: &Path, file: &str) -> io::Result<usize> {
        let (extra, dim) = crate::files::read_fvecs(&root.join(&self.name).join(file), None)?;
        if dim != self.dim {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{file} has {dim} dimensions, the dataset {}", self.dim),
            ));
        }
        let n = extra.len() / dim;
        self.build_rows = self.len();
        self.base.extend_from_slice(&extra);
        if let Some(l) = self.base_labels.as_mut() {
            l.extend(std::iter::repeat_n(-1, n));
        }
        self.truth = None;
        self.name = format!("{}+{}", self.name, file.trim_end_matches(".fvecs"));
        Ok(n)
    }

    pub fn len(&self) -> usize {
        self.base.len() / self.dim
    }
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }
    pub fn num_queries(&self) -> usize {
        self.queries.len() / self.dim
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.base[i * self.dim..(i + 1) * self.dim]
    }
    pub fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dim..(i + 1) * self.dim]
    }
    /// Bytes of the raw float32 vectors (what an index is compared against).
    pub fn raw_bytes(&self) -> u64 {
        (self.base.len() * 4) as u64
    }
    /// Keeps the first `n` queries (and their ground truth and labels).
    pub fn limit_queries(&mut self, n: usize) {
        let n = n.min(self.num_queries());
        self.queries.truncate(n * self.dim);
        if let Some(t) = &mut self.truth {
            t.ids.truncate(n * t.k);
            t.dist.truncate(n * t.k);
        }
        if let Some(l) = &mut self.query_labels {
            l.truncate(n);
        }
    }
}

pub fn metric_name(m: Metric) -> &'static str {
    match m {
        Metric::L2 => "l2",
        Metric::InnerProduct => "ip",
        Metric::Cosine => "cosine",
        Metric::L1 => "l1",
    }
}

pub fn parse_metric(s: &str) -> Option<Metric> {
    let s = s.trim().to_ascii_lowercase();
    if s.starts_with("l2") || s.starts_with("euclid") {
        Some(Metric::L2)
    } else if s.starts_with("ip") || s.starts_with("inner") || s.starts_with("dot") {
        Some(Metric::InnerProduct)
    } else if s.starts_with("cos") || s.starts_with("angular") {
        Some(Metric::Cosine)
    } else if s.starts_with("l1") {
        Some(Metric::L1)
    } else {
        None
    }
}

fn labels(path: &Path) -> io::Result<Option<Vec<i32>>> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(
        read_npy(path)?.data.iter().map(|v| *v as i32).collect(),
    ))
}

/// Loads `root/name` (e.g. `../shared/datasets/sift10k`).
pub fn load_named(root: &Path, name: &str, metric: Option<Metric>) -> io::Result<Dataset> {
    let dir = root.join(name);
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("dataset {name} not found: {} does not exist", dir.display()),
        ));
    }
    let (base, dim) = if dir.join("base.fvecs").exists() {
        read_fvecs(&dir.join("base.fvecs"), None)?
    } else {
        read_bvecs(&dir.join("base.bvecs"), None)?
    };
    let (queries, qdim) = read_fvecs(&dir.join("query.fvecs"), None)?;
    if qdim != dim {
        return Err(io::Error::other(format!(
            "{name}: queries have {qdim} dimensions, base {dim}"
        )));
    }
    let meta: serde_json::Value = std::fs::read_to_string(dir.join("meta.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let metric = metric
        .or_else(|| {
            meta.get("primary_metric")
                .and_then(|v| v.as_str())
                .and_then(parse_metric)
        })
        .unwrap_or(Metric::L2);
    let (ids_path, dist_path) = (
        dir.join(format!("gt_{}_ids.npy", metric_name(metric))),
        dir.join(format!("gt_{}_dist.npy", metric_name(metric))),
    );
    let truth = if ids_path.exists() && dist_path.exists() {
        let ids = read_npy(&ids_path)?;
        let dist = read_npy(&dist_path)?;
        let k = *ids.shape.get(1).unwrap_or(&1);
        Some(Truth {
            k,
            ids: ids.data.iter().map(|v| *v as u32).collect(),
            dist: dist.data,
        })
    } else {
        None
    };
    let build_rows = base.len() / dim.max(1);
    Ok(Dataset {
        name: name.to_string(),
        dim,
        base,
        queries,
        metric,
        truth,
        base_labels: labels(&dir.join("base_labels.npy"))?,
        query_labels: labels(&dir.join("query_labels.npy"))?,
        build_rows,
    })
}

pub use vecx_core::rng::Rng;

/// `n` base rows and `nq` queries in `dim` dimensions drawn from a mixture of `clusters`
/// Gaussians: centres ~ N(0, 1) per coordinate, points = centre + N(0, 0.35^2) noise. Queries come
/// from the same mixture (not from the base), like real query traffic. Deterministic per seed.
pub fn synthetic(
    n: usize,
    dim: usize,
    clusters: usize,
    nq: usize,
    seed: u64,
    metric: Metric,
) -> Dataset {
    let mut rng = Rng::new(seed);
    let clusters = clusters.max(1);
    let centres: Vec<f32> = (0..clusters * dim).map(|_| rng.gaussian() as f32).collect();
    let sample = |count: usize, rng: &mut Rng| -> Vec<f32> {
        let mut out = Vec::with_capacity(count * dim);
        for _ in 0..count {
            let c = (rng.next_u64() % clusters as u64) as usize;
            let centre = &centres[c * dim..(c + 1) * dim];
            out.extend(centre.iter().map(|x| x + 0.35 * rng.gaussian() as f32));
        }
        out
    };
    let base = sample(n, &mut rng);
    let queries = sample(nq, &mut rng);
    Dataset {
        name: format!("synthetic-{n}x{dim}"),
        dim,
        base,
        queries,
        metric,
        truth: None,
        base_labels: None,
        query_labels: None,
        build_rows: n,
    }
}
