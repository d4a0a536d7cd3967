//! `vecx-bench`: recall, QPS, latency, build time and size, side by side with pgvector.
//!
//! ```text
//! cargo run --release -p vecx-bench -- --dataset sift10k,glove25 --engines exact,pgvector-hnsw
//! cargo run --release -p vecx-bench -- --dataset synthetic:100000:128 --clients 1,4
//! cargo run --release -p vecx-bench -- --dsn "host=/var/run/postgresql dbname=bench" ...
//! ```
//!
//! By default it starts a throwaway PostgreSQL cluster under `target/clusters/bench` (as the
//! postgres user), installs the current build of vecx with `cargo pgrx install --release`, runs
//! every dataset and engine, writes `report.json`, `report.md` and `recall_qps.png` per dataset
//! under `--out`, prints the Markdown, and stops the cluster.
use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use vecx_bench::cluster::Cluster;
use vecx_bench::dataset::{self, metric_name, Dataset};
use vecx_bench::engine::{Engine, IndexOptions};
use vecx_bench::filter::Filter;
use vecx_bench::report::{self, EngineReport, FilteredPoint, Point, Report};
use vecx_bench::run::{percentile, plan_summary, quality, run_pass, Warmup};
use vecx_bench::truth::exact_top_k;

#[derive(Parser, Debug)]
#[command(
    about = "vecx benchmark harness: recall, QPS, latency, build time and size, side by side with pgvector"
)]
struct Args {
    /// Comma-separated datasets: names under --datasets-dir (sift10k, mnist10k, glove25,
    /// cohere1k, fmnist1k) or synthetic:ROWS:DIM[:CLUSTERS]
    #[arg(long, default_value = "synthetic:10000:64")]
    dataset: String,
    /// An fvecs file in each named dataset's folder (e.g. extra_ngt4k.fvecs) whose vectors are
    /// inserted one by one after the index is built; recall is measured on the union
    #[arg(long)]
    insert_after: Option<String>,
    /// Extra settings for every query session, NAME=VALUE (repeatable), e.g. vecx.ivfpq_rerank=10
    #[arg(long = "set")]
    set: Vec<String>,
    /// Where named datasets live
    #[arg(long, default_value = "../shared/datasets")]
    datasets_dir: PathBuf,
    /// Override the dataset's metric: l2, ip, cosine
    #[arg(long)]
    metric: Option<String>,
    /// Comma-separated engines: exact, pgvector-exact, pgvector-hnsw, pgvector-hnsw-iterative,
    /// pgvector-ivfflat, vecx-hnsw, vecx-ivfpq
    #[arg(
        long,
        default_value = "exact,pgvector-hnsw,pgvector-ivfflat,vecx-hnsw,vecx-ivfpq"
    )]
    engines: String,
    /// Neighbours per query
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Use at most this many queries (synthetic sets generate this many)
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Comma-separated client counts; each sweep point runs once per count
    #[arg(long, default_value = "1,4")]
    clients: String,
    /// Timed passes per sweep point and client count; the fastest is reported (on a shared
    /// machine, a slow spell of a few seconds otherwise decides a point's QPS)
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Run each dataset this many times, every engine's index built afresh each time (reports
    /// in build-1, build-2, ... under the dataset's folder), and write builds.md: each run's
    /// build times and QPS at recall 0.95 and 0.99, vecx-hnsw's over pgvector-hnsw's, and the
    /// medians. HNSW graphs differ from build to build, and so do both engines' speeds on them.
    #[arg(long, default_value_t = 1)]
    builds: usize,
    /// Keep every engine's index and time the sweep points of all engines in alternation
    /// (A@p1, B@p1, A@p2, ..., the engine order reversed every other round, `--repeat` rounds),
    /// instead of one engine's whole sweep after the other's: on a machine whose speed drifts
    /// over minutes, sequential sweeps compare the engines at different moments. Needs every
    /// engine on a table of its own (exact and vecx-hnsw share one) and no --insert-after.
    #[arg(long)]
    interleave: bool,
    /// Time each pass inside the server: one statement per client session searches for every
    /// query (`LATERAL` over a table of the queries), so no client round trip, binding or
    /// executor start-up per query is timed; recall still comes from a pass through the client.
    /// Latency percentiles are then not measured (reported as NaN).
    #[arg(long)]
    in_server: bool,
    /// What each timed session runs, untimed, first: `pass` (its whole share of the queries,
    /// so the timed pass is a long-lived connection's steady state) or `query` (one search: a
    /// new backend's first touches of the index and heap pages are then timed too)
    #[arg(long, value_enum, default_value_t = Warmup::Pass)]
    warmup: Warmup,
    /// Comma-separated filters: label, 1%, 0.1% ("none" for no filtered runs)
    #[arg(long, default_value = "label,1%,0.1%")]
    filters: String,
    /// Run these values of the engine's search parameter (e.g. 40 for ef_search 40) instead of
    /// its default sweep (pgvector-hnsw skips values below k, where it returns fewer rows)
    #[arg(long)]
    params: Option<String>,
    #[arg(long, default_value_t = 16)]
    hnsw_m: u32,
    #[arg(long, default_value_t = 64)]
    hnsw_ef_construction: u32,
    /// IVF lists (default: rows/1000, at least 10; sqrt(rows) beyond 1M rows)
    #[arg(long)]
    lists: Option<u32>,
    /// Connect to this server instead of starting a throwaway cluster
    #[arg(long)]
    dsn: Option<String>,
    /// Port of the throwaway cluster
    #[arg(long, default_value_t = 55440)]
    port: u16,
    /// Do not run `cargo pgrx install --release` before starting the cluster
    #[arg(long)]
    skip_install: bool,
    /// Output directory (one subdirectory per dataset)
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Seed of the synthetic generator
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fail (exit 1) unless the exact engine reaches recall 1 with no short or out-of-order
    /// results: the smoke check the test suite runs.
    #[arg(long)]
    check_exact: bool,
    /// Acceptance rules, failing the run (exit 1) when not met; repeatable:
    /// `[DATASET/]ENGINE[@PARAM]:[filter=NAME:]recall>=X` (also `short<=N`, `out_of_order<=N`,
    /// and `ENGINE:size_ratio<=X`, the index size over the raw float32 vectors).
    /// Filter rules apply to the forced-index runs.
    #[arg(long)]
    require: Vec<String>,
}

fn list<T>(s: &str, parse: impl Fn(&str) -> Option<T>, what: &str) -> Result<Vec<T>, String> {
    s.split(',')
        .filter(|x| !x.trim().is_empty() && x.trim() != "none")
        .map(|x| parse(x).ok_or_else(|| format!("unknown {what} {x:?}")))
        .collect()
}

fn load_dataset(spec: &str, args: &Args) -> Result<Dataset, Box<dyn Error>> {
    let metric = match &args.metric {
        Some(m) => Some(dataset::parse_metric(m).ok_or_else(|| format!("unknown metric {m}"))?),
        None => None,
    };
    let mut ds = if let Some(rest) = spec.strip_prefix("synthetic:") {
        let parts: Vec<usize> = rest
            .split(':')
            .map(|p| p.parse())
            .collect::<Result<_, _>>()?;
        let (n, dim) = (
            *parts.first().ok_or("synthetic:ROWS:DIM")?,
            *parts.get(1).ok_or("synthetic:ROWS:DIM")?,
        );
        let clusters = parts.get(2).copied().unwrap_or((n / 1000).clamp(8, 256));
        dataset::synthetic(
            n,
            dim,
            clusters,
            args.queries,
            args.seed,
            metric.unwrap_or(vecx_core::distance::Metric::L2),
        )
    } else {
        let mut ds = dataset::load_named(&args.datasets_dir, spec, metric)?;
        if let Some(file) = &args.insert_after {
            let n = ds.append_after_build(&args.datasets_dir, file)?;
            eprintln!("  {spec}: {n} rows of {file} are inserted after the index build (ground truth on the union)");
        }
        ds
    };
    ds.limit_queries(args.queries);
    Ok(ds)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0);
    format!(
        "{} x {cpu}, {:.0} GiB RAM",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        mem / 1048576.0
    )
}

fn install_extension() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    eprintln!("==> installing the current vecx build (cargo pgrx install --release)");
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&root).args([
        "pgrx",
        "install",
        "--release",
        "--pg-config",
        "/usr/bin/pg_config",
    ]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        cmd.arg("--sudo");
    }
    if !cmd.status()?.success() {
        return Err("cargo pgrx install failed".into());
    }
    Ok(())
}

/// Server settings sized for the data: shared_buffers holds the vectors, their indexes and the
/// heap several times over.
fn server_settings(raw_bytes: u64) -> Vec<String> {
    let shared_mb = ((raw_bytes * 4) / 1048576).clamp(256, 8192);
    vec![
        format!("shared_buffers = '{shared_mb}MB'"),
        "maintenance_work_mem = '2GB'".into(),
        "max_parallel_maintenance_workers = 1".into(),
        "max_parallel_workers_per_gather = 2".into(),
        "work_mem = '64MB'".into(),
        "fsync = off".into(),
        "synchronous_commit = off".into(),
        "full_page_writes = off".into(),
        "max_wal_size = '8GB'".into(),
        "checkpoint_timeout = '30min'".into(),
        "jit = off".into(),
        "max_connections = 100".into(),
    ]
}

fn main() {
    let args = Args::parse();
    if let Err(e) = real_main(args) {
        eprintln!("vecx-bench: {e}");
        std::process::exit(2);
    }
}

fn real_main(args: Args) -> Result<(), Box<dyn Error>> {
    let engines = list(&args.engines, Engine::parse, "engine")?;
    let filters = list(&args.filters, Filter::parse, "filter")?;
    let clients = list(
        &args.clients,
        |s| s.trim().parse::<usize>().ok().filter(|c| *c > 0),
        "client count",
    )?;
    let only: Option<Vec<i64>> = match &args.params {
        Some(p) => Some(list(p, |s| s.trim().parse().ok(), "parameter")?),
        None => None,
    };
    let opts = IndexOptions {
        hnsw_m: args.hnsw_m,
        hnsw_ef_construction: args.hnsw_ef_construction,
        lists: args.lists,
    };

    let mut datasets = Vec::new();
    for spec in args.dataset.split(',').filter(|s| !s.trim().is_empty()) {
        match load_dataset(spec.trim(), &args) {
            Ok(ds) => datasets.push(ds),
            Err(e) if !spec.starts_with("synthetic:") => eprintln!("SKIPPED dataset {spec}: {e}"),
            Err(e) => return Err(e),
        }
    }
    if datasets.is_empty() {
        return Err("no dataset to run".into());
    }

    let largest = datasets.iter().map(|d| d.raw_bytes()).max().unwrap_or(0);
    let mut cluster = None;
    let conn = match &args.dsn {
        Some(dsn) => dsn.clone(),
        None => {
            if !args.skip_install {
                install_extension()?;
            }
            let dir = vecx_bench::cluster::default_dir("bench");
            let mut c = Cluster::init(&dir, args.port, &server_settings(largest))?;
            c.start()?;
            c.connect("postgres")?
                .batch_execute("CREATE DATABASE bench")?;
            let s = c.conn_string("bench");
            cluster = Some(c);
            s
        }
    };
    let mut client = postgres::Client::connect(&conn, postgres::NoTls)?;
    client.batch_execute("CREATE EXTENSION IF NOT EXISTS vecx")?;
    let mut server = BTreeMap::new();
    for (key, sql) in [
        ("version", "SELECT version()"),
        (
            "vecx",
            "SELECT extversion FROM pg_extension WHERE extname = 'vecx'",
        ),
        ("shared_buffers", "SHOW shared_buffers"),
        ("maintenance_work_mem", "SHOW maintenance_work_mem"),
        (
            "max_parallel_maintenance_workers",
            "SHOW max_parallel_maintenance_workers",
        ),
        (
            "max_parallel_workers_per_gather",
            "SHOW max_parallel_workers_per_gather",
        ),
        ("work_mem", "SHOW work_mem"),
        ("jit", "SHOW jit"),
    ] {
        if let Ok(row) = client.query_one(sql, &[]) {
            server.insert(key.to_string(), row.get::<_, String>(0));
        }
    }
    let pgvector_wanted = engines.iter().any(|e| e.is_pgvector());
    if pgvector_wanted {
        let available: bool = client
            .query_one(Engine::PgvectorHnsw.probe_sql(), &[])?
            .get(0);
        if available {
            client.batch_execute("CREATE EXTENSION IF NOT EXISTS vector")?;
            let v: String = client
                .query_one(
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
                    &[],
                )?
                .get(0);
            server.insert("pgvector".into(), v);
        }
    }

    let mut failures = Vec::new();
    for mut ds in datasets {
        let mut runs = Vec::new();
        for b in 0..args.builds.max(1) {
            let report = bench_dataset(
                &mut client,
                &conn,
                &mut ds,
                &engines,
                &filters,
                &clients,
                only.as_deref(),
                &opts,
                &server,
                &args,
            )?;
            let mut dir = args.out.join(&report.dataset);
            if args.builds > 1 {
                dir = dir.join(format!("build-{}", b + 1));
            }
            write_report(&report, &dir)?;
            if args.check_exact {
                failures.extend(check_exact(&report));
            }
            for rule in &args.require {
                failures.extend(check_rule(&report, rule));
            }
            runs.push(report);
        }
        if args.builds > 1 {
            let md = report::builds_summary(&runs);
            let path = args.out.join(&runs[0].dataset).join("builds.md");
            std::fs::write(&path, &md)?;
            eprintln!("wrote {}", path.display());
            println!("{md}");
        }
    }
    drop(client);
    if let Some(mut c) = cluster {
        c.stop()?;
    }
    if args.check_exact || !args.require.is_empty() {
        for f in &failures {
            eprintln!("CHECK FAILED: {f}");
        }
        if !failures.is_empty() {
            std::process::exit(1);
        }
        eprintln!("all checks passed");
    }
    Ok(())
}

/// Writes a dataset's report.json, report.md and recall_qps.png into `dir`, and prints the
/// Markdown.
fn write_report(report: &Report, dir: &Path) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    let md = report::markdown(report);
    std::fs::write(dir.join("report.md"), &md)?;
    match report::plot(report, &dir.join("recall_qps.png")) {
        Ok(()) => eprintln!(
            "wrote {}/report.{{json,md}} and recall_qps.png",
            dir.display()
        ),
        Err(e) => eprintln!("wrote {}/report.{{json,md}}; no plot: {e}", dir.display()),
    }
    println!("{md}");
    Ok(())
}

/// Checks one `--require` rule against a report (rules naming another dataset are ignored).
fn check_rule(r: &Report, rule: &str) -> Vec<String> {
    let fail = |msg: String| vec![format!("{}: rule {rule:?}: {msg}", r.dataset)];
    let (dataset, rest) = match rule.split_once('/') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, rule),
    };
    if dataset.is_some_and(|d| d != r.dataset) {
        return vec![];
    }
    let mut parts: Vec<&str> = rest.split(':').collect();
    let Some(cond) = parts.pop() else {
        return fail("empty rule".into());
    };
    let target = parts.first().copied().unwrap_or("");
    let filter = parts.get(1).and_then(|p| p.strip_prefix("filter="));
    let (engine, param) = match target.split_once('@') {
        Some((e, p)) => (e, p.parse::<i64>().ok()),
        None => (target, None),
    };
    let Some(er) = r.engines.iter().find(|e| e.engine == engine) else {
        return fail(format!("engine {engine} did not run"));
    };
    if er.status != "ok" {
        return fail(format!(
            "engine {engine} was {}: {:?}",
            er.status, er.reason
        ));
    }
    let (metric, op, value) = if let Some((m, v)) = cond.split_once(">=") {
        (m, ">=", v)
    } else if let Some((m, v)) = cond.split_once("<=") {
        (m, "<=", v)
    } else {
        return fail("condition must use >= or <=".into());
    };
    let Ok(value) = value.trim().parse::<f64>() else {
        return fail("bad number".into());
    };
    let observed: Vec<f64> = match filter {
        // Index size as a fraction of the raw float32 vectors.
        None if metric == "size_ratio" => er
            .index_bytes
            .map(|b| b as f64 / r.raw_vector_bytes.max(1) as f64)
            .into_iter()
            .collect(),
        None => er
            .points
            .iter()
            .filter(|p| p.clients == 1 && (param.is_none() || p.param == param))
            .map(|p| {
                if metric == "recall" {
                    p.recall
                } else {
                    f64::NAN
                }
            })
            .collect(),
        Some(f) => er
            .filtered
            .iter()
            .filter(|p| {
                p.filter == f
                    && p.forced_index == er.index_sql.is_some()
                    && (param.is_none() || p.param == param)
            })
            .map(|p| match metric {
                "recall" => p.quality.recall,
                "short" => p.quality.short_queries as f64,
                "out_of_order" => p.quality.out_of_order as f64,
                _ => f64::NAN,
            })
            .collect(),
    };
    if observed.is_empty() {
        return fail("no matching measurement".into());
    }
    let bad: Vec<f64> = observed
        .into_iter()
        .filter(|v| v.is_nan() || if op == ">=" { *v < value } else { *v > value })
        .collect();
    if bad.is_empty() {
        eprintln!("  ok: {}: {rule}", r.dataset);
        vec![]
    } else {
        fail(format!("observed {bad:?}"))
    }
}

/// The smoke check: the exact engine must find every neighbour, never short, never out of order.
fn check_exact(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let Some(exact) = r.engines.iter().find(|e| e.engine == "exact") else {
        return vec![format!("{}: no exact engine ran", r.dataset)];
    };
    if exact.points.is_empty() {
        out.push(format!(
            "{}: exact engine produced no results ({:?})",
            r.dataset, exact.reason
        ));
    }
    for p in &exact.points {
        if p.recall < 0.999 {
            out.push(format!(
                "{}: exact recall {:.4} with {} clients",
                r.dataset, p.recall, p.clients
            ));
        }
    }
    for f in &exact.filtered {
        if f.quality.recall < 0.999 || f.quality.short_queries > 0 || f.quality.out_of_order > 0 {
            out.push(format!(
                "{}: exact filtered {} gave {:?}",
                r.dataset, f.filter, f.quality
            ));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn bench_dataset(
    client: &mut postgres::Client,
    conn: &str,
    ds: &mut Dataset,
    engines: &[Engine],
    filters: &[Filter],
    clients: &[usize],
    only: Option<&[i64]>,
    opts: &IndexOptions,
    server: &BTreeMap<String, String>,
    args: &Args,
) -> Result<Report, Box<dyn Error>> {
    let k = args.k;
    eprintln!(
        "==> {}: {} rows x {} dims, {} queries, {}",
        ds.name,
        ds.len(),
        ds.dim,
        ds.num_queries(),
        metric_name(ds.metric)
    );
    let t = Instant::now();
    let (truth, source) = match &ds.truth {
        Some(tr) if tr.k >= k => (
            tr.clone(),
            "shipped with the dataset (exact, float64)".to_string(),
        ),
        _ => (
            exact_top_k(ds, k, None),
            "computed by the harness (brute force, all cores)".to_string(),
        ),
    };
    let filtered_truth: Vec<(Filter, _)> = filters
        .iter()
        .filter(|f| {
            let ok = f.available(ds);
            if !ok {
                eprintln!("  filter {} skipped: the dataset has no labels", f.name());
            }
            ok
        })
        .map(|f| (*f, exact_top_k(ds, k, Some(&|q, r| f.accepts(ds, q, r)))))
        .collect();
    eprintln!("  ground truth ready in {:.1}s", t.elapsed().as_secs_f64());

    if args.interleave {
        let mut tables = std::collections::HashSet::new();
        for e in engines {
            if !tables.insert(e.table()) {
                return Err(format!(
                    "--interleave: {} shares table {} with another engine; run them separately",
                    e.name(),
                    e.table()
                )
                .into());
            }
        }
        if ds.build_rows < ds.len() {
            return Err("--interleave cannot be combined with --insert-after".into());
        }
    }
    let mut query_tables = Vec::new();
    if args.in_server {
        for e in engines {
            let table = vecx_bench::run::query_table(e.type_name());
            if !query_tables.contains(&table) {
                vecx_bench::load::load_queries(client, ds, &table, e.type_name())?;
                query_tables.push(table);
            }
        }
    }
    let mut loaded = std::collections::HashSet::new();
    let mut reports = Vec::new();
    // With --interleave: the sweep points to time once every engine is built.
    let mut timed: Vec<Timed> = Vec::new();
    let mut kept_indexes: Vec<String> = Vec::new();
    for &engine in engines {
        let mut er = EngineReport {
            engine: engine.name().into(),
            ..Default::default()
        };
        let available: bool = client.query_one(engine.probe_sql(), &[])?.get(0);
        if !available {
            er.status = "skipped".into();
            er.reason = Some(engine.unavailable_reason().into());
            eprintln!(
                "  {}: SKIPPED ({})",
                engine.name(),
                engine.unavailable_reason()
            );
            reports.push(er);
            continue;
        }
        if loaded.insert(engine.table()) {
            vecx_bench::load::load(client, ds, engine.table(), engine.type_name())?;
        }
        let table = engine.table();
        er.table_bytes = Some(
            client
                .query_one(&format!("SELECT pg_table_size('{table}')"), &[])?
                .get(0),
        );
        client.batch_execute("DROP INDEX IF EXISTS bench_idx")?;
        // Likewise before the build: the load's writes would otherwise slow the first build.
        client.batch_execute("CHECKPOINT")?;
        if let Some(sql) = engine.index_sql(ds.metric, ds.len(), opts) {
            eprintln!("  {}: {sql}", engine.name());
            let t = Instant::now();
            client.batch_execute(&sql)?;
            er.build_seconds = Some(t.elapsed().as_secs_f64());
            er.index_bytes = Some(
                client
                    .query_one("SELECT pg_relation_size('bench_idx')", &[])?
                    .get(0),
            );
            er.index_sql = Some(sql);
            client.batch_execute(&format!("ANALYZE {table}"))?;
            if args.interleave {
                let name = format!("bench_idx_{}", reports.len());
                client.batch_execute(&format!("ALTER INDEX bench_idx RENAME TO {name}"))?;
                kept_indexes.push(name);
            }
        }
        // Write out what building dirtied now, not while the queries are timed: otherwise the
        // checkpointer's writes land on whichever engine is measured first.
        client.batch_execute("CHECKPOINT")?;
        if ds.build_rows < ds.len() {
            // Rows arriving after the build (--insert-after); the table is reloaded for the next
            // engine so every engine starts from the same state.
            let n = vecx_bench::load::insert_after_build(client, ds, table)?;
            loaded.remove(table);
            eprintln!("  {}: inserted {n} rows after the build", engine.name());
        }
        let op = Engine::operator(ds.metric);
        let select = format!("SELECT id, (embedding {op} $1)::float8 FROM {table}");
        let order = format!("ORDER BY embedding {op} $1 LIMIT {k}");
        let plain_sql = format!("{select} {order}");
        let timing = Timing {
            sql: plain_sql.clone(),
            search: format!("SELECT id FROM {table} ORDER BY embedding {op} q.v LIMIT {k}"),
            queries: vecx_bench::run::query_table(engine.type_name()),
            in_server: args.in_server,
            warmup: args.warmup,
        };
        let sweep: Vec<Option<i64>> = match engine.sweep(ds.len(), opts) {
            Some((guc, values)) => {
                er.sweep_guc = Some(guc.into());
                // pgvector's HNSW without iterative scans returns at most `ef_search` rows, so
                // a value below k given with --params would return short results (which an
                // in-server pass rejects): skipped, as its default sweep does.
                only.map_or(values, <[i64]>::to_vec)
                    .into_iter()
                    .filter(|&v| engine != Engine::PgvectorHnsw || v >= k as i64)
                    .map(Some)
                    .collect()
            }
            None => vec![None],
        };
        for (position, param) in sweep.into_iter().enumerate() {
            let mut session = engine.session_sql();
            session.extend(args.set.iter().map(|kv| format!("SET {kv}")));
            if let (Some(guc), Some(v)) = (&er.sweep_guc, param) {
                session.push(format!("SET {guc} = {v}"));
            }
            // Warm-up pass (also the recall pass): single client, every query.
            let warm = run_pass(conn, &session, &plain_sql, ds, None, 1, Warmup::Query)?;
            let q = quality(ds, &truth, k, &warm);
            if args.interleave {
                eprintln!(
                    "  {} {}: recall {:.4} (timed later, interleaved)",
                    engine.name(),
                    param_label(&er.sweep_guc, param),
                    q.recall
                );
                timed.push(Timed {
                    report: reports.len(),
                    position,
                    param,
                    session: session.clone(),
                    timing: timing.clone(),
                    recall: q.recall,
                });
            }
            for &c in clients.iter().filter(|_| !args.interleave) {
                let mut pass = timing.pass(conn, &session, ds, k, c)?;
                for _ in 1..args.repeat.max(1) {
                    let again = timing.pass(conn, &session, ds, k, c)?;
                    if again.wall_seconds < pass.wall_seconds {
                        pass = again;
                    }
                }
                er.points.push(point(ds, param, c, q.recall, &pass));
            }
            if !args.interleave {
                eprintln!(
                    "  {} {}: recall {:.4}, QPS {}",
                    engine.name(),
                    param_label(&er.sweep_guc, param),
                    q.recall,
                    er.points
                        .iter()
                        .rev()
                        .take(clients.len())
                        .rev()
                        .map(|p| format!("{:.0} ({}c)", p.qps, p.clients))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            // Filtered queries: as the planner chooses, and (for index engines) with the index
            // forced, which is where short and out-of-order results show.
            let choices: &[bool] = if er.index_sql.is_some() {
                &[false, true]
            } else {
                &[false]
            };
            for (f, ftruth) in &filtered_truth {
                for &forced in choices {
                    let mut session = session.clone();
                    if forced {
                        session.push("SET enable_seqscan = off".into());
                        session.push("SET enable_bitmapscan = off".into());
                    }
                    let sql = format!("{select} WHERE {} {order}", f.sql());
                    let pass = run_pass(conn, &session, &sql, ds, Some(*f), 1, args.warmup)?;
                    let quality = quality(ds, ftruth, k, &pass);
                    let plan = explain(conn, &session, &sql, ds, *f, engine.type_name())?;
                    er.filtered.push(FilteredPoint {
                        filter: f.name().into(),
                        forced_index: forced,
                        param,
                        queries: ds.num_queries(),
                        quality,
                        qps: ds.num_queries() as f64 / pass.wall_seconds,
                        plan,
                    });
                }
            }
        }
        client.batch_execute("DROP INDEX IF EXISTS bench_idx")?;
        er.status = "ok".into();
        reports.push(er);
    }
    if args.interleave {
        time_interleaved(conn, ds, k, clients, args.repeat, timed, &mut reports)?;
        for name in kept_indexes {
            client.batch_execute(&format!("DROP INDEX IF EXISTS {name}"))?;
        }
    }
    for t in loaded.into_iter().map(str::to_string).chain(query_tables) {
        client.batch_execute(&format!("DROP TABLE IF EXISTS {t}"))?;
    }
    Ok(Report {
        dataset: ds.name.clone(),
        rows: ds.len(),
        dim: ds.dim,
        metric: metric_name(ds.metric).into(),
        k,
        queries: ds.num_queries(),
        clients: clients.to_vec(),
        timing: format!(
            "{}; warm-up per session: {}; fastest of {} pass(es) per point{}",
            if args.in_server {
                "one statement per session in the server"
            } else {
                "one prepared statement per query through the client"
            },
            match args.warmup {
                Warmup::Query => "one query",
                Warmup::Pass => "a full untimed pass",
            },
            args.repeat.max(1),
            if args.interleave {
                ", engines interleaved"
            } else {
                ""
            }
        ),
        raw_vector_bytes: ds.raw_bytes(),
        ground_truth: source,
        machine: machine(),
        server: server.clone(),
        engines: reports,
    })
}

/// "GUC = value" for a sweep point (empty for engines without a parameter).
fn param_label(guc: &Option<String>, param: Option<i64>) -> String {
    param.map_or(String::new(), |v| {
        format!("{} = {v}", guc.as_deref().unwrap_or_default())
    })
}

/// The reported figures of a sweep point's fastest pass.
fn point(
    ds: &Dataset,
    param: Option<i64>,
    clients: usize,
    recall: f64,
    pass: &vecx_bench::run::Pass,
) -> Point {
    Point {
        param,
        clients,
        recall,
        qps: ds.num_queries() as f64 / pass.wall_seconds,
        p50_ms: percentile(&pass.latencies_ms, 50.0),
        p95_ms: percentile(&pass.latencies_ms, 95.0),
        p99_ms: percentile(&pass.latencies_ms, 99.0),
    }
}

/// A sweep point whose timed passes `--interleave` runs after every engine is built.
struct Timed {
    /// Index of its engine's report.
    report: usize,
    /// Its place in the engine's sweep.
    position: usize,
    param: Option<i64>,
    session: Vec<String>,
    timing: Timing,
    recall: f64,
}

/// How a sweep point's timed passes run: through the client, one prepared statement per query
/// (`sql`), or with `--in-server` one statement per session over the queries' table (`search`
/// for each row `q` of `queries`).
#[derive(Clone)]
struct Timing {
    sql: String,
    search: String,
    queries: String,
    in_server: bool,
    warmup: Warmup,
}

impl Timing {
    fn pass(
        &self,
        conn: &str,
        session: &[String],
        ds: &Dataset,
        k: usize,
        clients: usize,
    ) -> Result<vecx_bench::run::Pass, Box<dyn Error>> {
        if !self.in_server {
            return Ok(run_pass(
                conn,
                session,
                &self.sql,
                ds,
                None,
                clients,
                self.warmup,
            )?);
        }
        let wall_seconds = vecx_bench::run::run_in_server(
            conn,
            session,
            &self.search,
            &self.queries,
            ds.num_queries(),
            k,
            clients,
            self.warmup,
        )?;
        Ok(vecx_bench::run::Pass {
            rows: Vec::new(),
            latencies_ms: Vec::new(),
            wall_seconds,
        })
    }
}

/// The timed passes of every sweep point of every engine, in alternation: each round runs the
/// first point of every engine, then the second of every engine, and so on, the engine order
/// reversed every other round; each point keeps its fastest pass per client count.
fn time_interleaved(
    conn: &str,
    ds: &Dataset,
    k: usize,
    clients: &[usize],
    rounds: usize,
    mut timed: Vec<Timed>,
    reports: &mut [EngineReport],
) -> Result<(), Box<dyn Error>> {
    timed.sort_by_key(|t| (t.position, t.report));
    let mut best: Vec<Vec<Option<vecx_bench::run::Pass>>> = timed
        .iter()
        .map(|_| clients.iter().map(|_| None).collect())
        .collect();
    for round in 0..rounds.max(1) {
        let mut order: Vec<usize> = (0..timed.len()).collect();
        if round % 2 == 1 {
            // Same points, the engines of each point the other way round.
            order.sort_by_key(|&i| (timed[i].position, std::cmp::Reverse(timed[i].report)));
        }
        for i in order {
            let t = &timed[i];
            for (ci, &c) in clients.iter().enumerate() {
                let pass = t.timing.pass(conn, &t.session, ds, k, c)?;
                let slot = &mut best[i][ci];
                if slot
                    .as_ref()
                    .is_none_or(|b| pass.wall_seconds < b.wall_seconds)
                {
                    *slot = Some(pass);
                }
            }
        }
        eprintln!(
            "  interleaved round {} of {} done",
            round + 1,
            rounds.max(1)
        );
    }
    // Points go into each report in sweep order.
    let mut points: Vec<(usize, usize, Point)> = Vec::new();
    for (t, passes) in timed.iter().zip(best) {
        for (&c, pass) in clients.iter().zip(passes) {
            let Some(pass) = pass else { continue };
            points.push((t.report, t.position, point(ds, t.param, c, t.recall, &pass)));
        }
    }
    points.sort_by_key(|(r, pos, p)| (*r, *pos, p.clients));
    for (r, _, p) in points {
        eprintln!(
            "  {} {}: recall {:.4}, QPS {:.0} ({}c)",
            reports[r].engine,
            param_label(&reports[r].sweep_guc, p.param),
            p.recall,
            p.qps,
            p.clients
        );
        reports[r].points.push(p);
    }
    Ok(())
}

/// EXPLAIN of the filtered query for query 0, as a one-line plan summary.
fn explain(
    conn: &str,
    session: &[String],
    sql: &str,
    ds: &Dataset,
    f: Filter,
    type_name: &str,
) -> Result<String, Box<dyn Error>> {
    let mut c = postgres::Client::connect(conn, postgres::NoTls)?;
    for s in session {
        c.batch_execute(s)?;
    }
    let literal = format!("'{}'::{type_name}", vecx_core::text::format(ds.query(0)));
    let sql = sql
        .replace("$1", &literal)
        .replace("$2", &f.param(ds, 0).to_string());
    let row = c.query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &[])?;
    let plan: serde_json::Value = row.get(0);
    Ok(plan_summary(&plan))
}
