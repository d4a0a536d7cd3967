//! Benchmark output: the full report as JSON, a Markdown summary, and a recall-vs-QPS plot.
use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::run::Quality;

#[derive(Serialize, Clone, Debug)]
pub struct Point {
    /// The swept search parameter (ef_search or probes); `None` for exact engines.
    pub param: Option<i64>,
    pub clients: usize,
    pub recall: f64,
    pub qps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct FilteredPoint {
    pub filter: String,
    /// Whether the index was forced (enable_seqscan = off, enable_bitmapscan = off) or the
    /// planner chose the plan.
    pub forced_index: bool,
    pub param: Option<i64>,
    pub queries: usize,
    #[serde(flatten)]
    pub quality: Quality,
    pub qps: f64,
    pub plan: String,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct EngineReport {
    pub engine: String,
    pub status: String,
    pub reason: Option<String>,
    pub sweep_guc: Option<String>,
    pub index_sql: Option<String>,
    pub build_seconds: Option<f64>,
    pub index_bytes: Option<i64>,
    pub table_bytes: Option<i64>,
    pub points: Vec<Point>,
    pub filtered: Vec<FilteredPoint>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Report {
    pub dataset: String,
    pub rows: usize,
    pub dim: usize,
    pub metric: String,
    pub k: usize,
    pub queries: usize,
    pub clients: Vec<usize>,
    pub raw_vector_bytes: u64,
    pub ground_truth: String,
    pub machine: String,
    pub server: BTreeMap<String, String>,
    pub engines: Vec<EngineReport>,
}

fn mb(bytes: Option<i64>) -> String {
    bytes.map_or("-".into(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

/// The Markdown summary: one table for the recall/QPS sweep, one for filtered queries.
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "### {} ({} rows x {} dims, {}, k = {}, {} queries)\n\nRaw vectors: {:.1} MB. Ground truth: {}.\n\n",
        r.dataset,
        r.rows,
        r.dim,
        r.metric,
        r.k,
        r.queries,
        r.raw_vector_bytes as f64 / 1048576.0,
        r.ground_truth
    );
    s += "| engine | param | clients | recall@k | QPS | p50 ms | p95 ms | p99 ms | build s | index MB |\n";
    s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for e in &r.engines {
        if e.status != "ok" {
            s += &format!(
                "| {} | skipped: {} | | | | | | | | |\n",
                e.engine,
                e.reason.clone().unwrap_or_default()
            );
            continue;
        }
        for p in &e.points {
            s += &format!(
                "| {} | {} | {} | {:.4} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |\n",
                e.engine,
                p.param.map_or("-".into(), |v| v.to_string()),
                p.clients,
                p.recall,
                p.qps,
                p.p50_ms,
                p.p95_ms,
                p.p99_ms,
                e.build_seconds.map_or("-".into(), |b| format!("{b:.2}")),
                mb(e.index_bytes)
            );
        }
    }
    if r.engines.iter().any(|e| !e.filtered.is_empty()) {
        s += "\nFiltered queries (1 client):\n\n";
        s += "| engine | filter | plan choice | param | recall@k | short | out of order | QPS | plan |\n";
        s += "|---|---|---|---:|---:|---:|---:|---:|---|\n";
        for e in &r.engines {
            for f in &e.filtered {
                s += &format!(
                    "| {} | {} | {} | {} | {:.4} | {}/{} | {} | {:.0} | {} |\n",
                    e.engine,
                    f.filter,
                    if f.forced_index {
                        "index forced"
                    } else {
                        "planner"
                    },
                    f.param.map_or("-".into(), |v| v.to_string()),
                    f.quality.recall,
                    f.quality.short_queries,
                    f.queries,
                    f.quality.out_of_order,
                    f.qps,
                    f.plan
                );
            }
        }
    }
    s
}

/// Recall (x) against single-client QPS (y, log scale), one series per engine.
pub fn plot(r: &Report, path: &Path) -> Result<(), Box<dyn Error>> {
    const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let font = std::fs::read(FONT)
        .map_err(|e| format!("no font for the plot ({FONT}: {e}); install fonts-dejavu-core"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, font);
    let series: Vec<(&str, Vec<(f64, f64)>)> = r
        .engines
        .iter()
        .filter(|e| e.status == "ok")
        .map(|e| {
            let pts = e
                .points
                .iter()
                .filter(|p| p.clients == 1)
                .map(|p| (p.recall, p.qps.max(1e-3)))
                .collect();
            (e.engine.as_str(), pts)
        })
        .collect();
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.1.iter().copied()).collect();
    if all.is_empty() {
        return Ok(());
    }
    let xmin = all.iter().map(|p| p.0).fold(1.0, f64::min).min(0.9) - 0.01;
    let (ymin, ymax) = all
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let root = BitMapBackend::new(path, (960, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: recall@{} vs QPS (1 client)", r.dataset, r.k),
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(
            xmin..1.005,
            ((ymin * 0.7).max(1e-3)..ymax * 1.5).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("recall")
        .y_desc("queries per second")
        .draw()?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
