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
    /// How passes were timed: through the client or in the server, after what warm-up, how
    /// many times, interleaved or not.
    pub timing: String,
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
        "### {} ({} rows x {} dims, {}, k = {}, {} queries)\n\nRaw vectors: {:.1} MB. Ground truth: {}. Timing: {}.\n\n",
        r.dataset,
        r.rows,
        r.dim,
        r.metric,
        r.k,
        r.queries,
        r.raw_vector_bytes as f64 / 1048576.0,
        r.ground_truth,
        r.timing
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

/// Single-client QPS at `recall` on an engine's recall/QPS frontier (the points no other point
/// beats on both), interpolated linearly in recall between the frontier points on either side.
/// When even the frontier's lowest recall is above `recall`, that point's QPS, flagged `true`:
/// the engine's fastest setting already overshoots, so the figure is a floor on the engine's
/// speed there rather than a speed at that recall. `None` when no point reaches `recall`.
pub fn qps_at(points: &[Point], recall: f64) -> Option<(f64, bool)> {
    let mut pts: Vec<&Point> = points.iter().filter(|p| p.clients == 1).collect();
    pts.sort_by(|a, b| b.recall.total_cmp(&a.recall));
    // Frontier, highest recall first: each point faster than every point of higher recall.
    let mut frontier: Vec<(f64, f64)> = Vec::new();
    for p in pts {
        if frontier.last().is_none_or(|&(_, q)| p.qps > q) {
            frontier.push((p.recall, p.qps));
        }
    }
    let above = frontier.iter().rposition(|&(r, _)| r >= recall)?;
    let (r1, q1) = frontier[above];
    match frontier.get(above + 1) {
        None => Some((q1, r1 > recall)),
        Some(&(r0, q0)) => {
            let t = if r1 > r0 {
                (recall - r0) / (r1 - r0)
            } else {
                1.0
            };
            Some((q0 + t * (q1 - q0), false))
        }
    }
}

/// The recalls `builds_summary` compares engines at.
pub const SUMMARY_RECALLS: [f64; 2] = [0.95, 0.99];

/// Markdown for several runs of one dataset, each with every index built afresh: per run, each
/// engine's build time and QPS at [`SUMMARY_RECALLS`], and vecx-hnsw's over pgvector-hnsw's;
/// then the medians over the runs.
pub fn builds_summary(reports: &[Report]) -> String {
    let Some(first) = reports.first() else {
        return String::new();
    };
    let engines: Vec<&str> = first
        .engines
        .iter()
        .filter(|e| e.status == "ok")
        .map(|e| e.engine.as_str())
        .collect();
    let ratio_of = ("vecx-hnsw", "pgvector-hnsw");
    let with_ratio = engines.contains(&ratio_of.0) && engines.contains(&ratio_of.1);
    let mut s = format!(
        "### {}: {} runs, every index built afresh each run\n\nQPS (1 client) at recall {} on each engine's recall/QPS frontier, interpolated between sweep points; `*` marks an engine whose fastest setting already exceeds that recall (its QPS there is a floor).\n\n| run |",
        first.dataset,
        reports.len(),
        SUMMARY_RECALLS.map(|r| r.to_string()).join(" and ")
    );
    let mut cols = 0;
    for e in &engines {
        s += &format!(" {e} build s |");
        cols += 1;
        for r in SUMMARY_RECALLS {
            s += &format!(" {e} @{r} |");
            cols += 1;
        }
    }
    if with_ratio {
        for r in SUMMARY_RECALLS {
            s += &format!(" ratio @{r} |");
            cols += 1;
        }
    }
    s += &format!("\n|---|{}\n", "---:|".repeat(cols));
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); cols];
    for (i, rep) in reports.iter().enumerate() {
        s += &format!("| {} |", i + 1);
        let mut c = 0;
        let mut at: BTreeMap<(&str, usize), f64> = BTreeMap::new();
        for e in &engines {
            let er = rep.engines.iter().find(|x| x.engine == *e);
            let build = er.and_then(|x| x.build_seconds);
            s += &format!(" {} |", build.map_or("-".into(), |b| format!("{b:.2}")));
            if let Some(b) = build {
                columns[c].push(b);
            }
            c += 1;
            for (ri, r) in SUMMARY_RECALLS.iter().enumerate() {
                let q = er.and_then(|x| qps_at(&x.points, *r));
                s += &format!(
                    " {} |",
                    q.map_or("-".into(), |(q, floor)| format!(
                        "{q:.0}{}",
                        if floor { "*" } else { "" }
                    ))
                );
                if let Some((q, _)) = q {
                    columns[c].push(q);
                    at.insert((*e, ri), q);
                }
                c += 1;
            }
        }
        if with_ratio {
            for ri in 0..SUMMARY_RECALLS.len() {
                match (at.get(&(ratio_of.0, ri)), at.get(&(ratio_of.1, ri))) {
                    (Some(a), Some(b)) if *b > 0.0 => {
                        s += &format!(" {:.2}x |", a / b);
                        columns[c].push(a / b);
                    }
                    _ => s += " - |",
                }
                c += 1;
            }
        }
        s += "\n";
    }
    s += "| median |";
    for (c, col) in columns.iter_mut().enumerate() {
        col.sort_by(f64::total_cmp);
        let med = if col.is_empty() {
            None
        } else if col.len() % 2 == 1 {
            Some(col[col.len() / 2])
        } else {
            Some((col[col.len() / 2 - 1] + col[col.len() / 2]) / 2.0)
        };
        let is_ratio = with_ratio && c >= cols - SUMMARY_RECALLS.len();
        let is_build = !is_ratio && c % (1 + SUMMARY_RECALLS.len()) == 0;
        s += &match med {
            None => " - |".into(),
            Some(m) if is_ratio => format!(" **{m:.2}x** |"),
            Some(m) if is_build => format!(" {m:.2} |"),
            Some(m) => format!(" {m:.0} |"),
        };
    }
    s += "\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(recall: f64, qps: f64) -> Point {
        Point {
            param: None,
            clients: 1,
            recall,
            qps,
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
        }
    }

    #[test]
    fn qps_at_interpolates_on_the_frontier() {
        // 0.90 @ 1000, 0.96 @ 600, 0.99 @ 300; a dominated point (0.95 @ 400) is ignored.
        let p = [
            pt(0.90, 1000.0),
            pt(0.95, 400.0),
            pt(0.96, 600.0),
            pt(0.99, 300.0),
        ];
        let (q, floor) = qps_at(&p, 0.93).unwrap();
        assert!((q - 800.0).abs() < 1e-9 && !floor, "{q}");
        assert_eq!(qps_at(&p, 0.99), Some((300.0, false)));
        assert_eq!(qps_at(&p, 0.995), None);
        // Every point above the recall asked for: the fastest, flagged.
        assert_eq!(qps_at(&p, 0.80), Some((1000.0, true)));
        // Other client counts do not count.
        let mut four = pt(0.99, 5000.0);
        four.clients = 4;
        assert_eq!(qps_at(&[four], 0.95), None);
    }
}
