//! The engines a benchmark compares: exact scans, pgvector's HNSW and IVFFlat (when the `vector`
//! extension is installed on the server) and vecx's own index access methods (once they exist).
//! An engine that is not available is reported as skipped, with the reason, never dropped.
use vecx_core::distance::Metric;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// vecx column, no index: a sequential scan and sort (the exact answer).
    Exact,
    /// pgvector column, no index.
    PgvectorExact,
    PgvectorHnsw,
    /// pgvector HNSW with `hnsw.iterative_scan = strict_order` (its fix for filtered queries).
    PgvectorHnswIterative,
    PgvectorIvfflat,
    VecxHnsw,
    VecxIvfpq,
}

pub const ALL: [Engine; 7] = [
    Engine::Exact,
    Engine::PgvectorExact,
    Engine::PgvectorHnsw,
    Engine::PgvectorHnswIterative,
    Engine::PgvectorIvfflat,
    Engine::VecxHnsw,
    Engine::VecxIvfpq,
];

/// Index options for the engines that build one.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    pub hnsw_m: u32,
    pub hnsw_ef_construction: u32,
    /// IVF lists; `None` chooses pgvector's recommendation from the row count.
    pub lists: Option<u32>,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Exact => "exact",
            Engine::PgvectorExact => "pgvector-exact",
            Engine::PgvectorHnsw => "pgvector-hnsw",
            Engine::PgvectorHnswIterative => "pgvector-hnsw-iterative",
            Engine::PgvectorIvfflat => "pgvector-ivfflat",
            Engine::VecxHnsw => "vecx-hnsw",
            Engine::VecxIvfpq => "vecx-ivfpq",
        }
    }

    pub fn parse(s: &str) -> Option<Engine> {
        ALL.into_iter().find(|e| e.name() == s.trim())
    }

    pub fn is_pgvector(self) -> bool {
        matches!(
            self,
            Engine::PgvectorExact
                | Engine::PgvectorHnsw
                | Engine::PgvectorHnswIterative
                | Engine::PgvectorIvfflat
        )
    }

    /// The table holding this engine's column type.
    pub fn table(self) -> &'static str {
        if self.is_pgvector() {
            "bench_pgvector"
        } else {
            "bench_vecx"
        }
    }

    pub fn type_name(self) -> &'static str {
        if self.is_pgvector() {
            "vector"
        } else {
            "vecx"
        }
    }

    /// SQL that says whether the engine can run on this server: returns one row with a boolean.
    pub fn probe_sql(self) -> &'static str {
        match self {
            Engine::Exact => "SELECT true",
            Engine::PgvectorExact
            | Engine::PgvectorHnsw
            | Engine::PgvectorHnswIterative
            | Engine::PgvectorIvfflat => {
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')"
            }
            Engine::VecxHnsw => "SELECT EXISTS (SELECT 1 FROM pg_am WHERE amname = 'vecx_hnsw')",
            Engine::VecxIvfpq => "SELECT EXISTS (SELECT 1 FROM pg_am WHERE amname = 'vecx_ivfpq')",
        }
    }

    pub fn unavailable_reason(self) -> &'static str {
        if self.is_pgvector() {
            "the pgvector extension (vector) is not installed on this server"
        } else {
            "this vecx build has no such index access method yet"
        }
    }

    pub fn operator(metric: Metric) -> &'static str {
        match metric {
            Metric::L2 => "<->",
            Metric::InnerProduct => "<#>",
            Metric::Cosine => "<=>",
            Metric::L1 => "<+>",
        }
    }

    fn opclass(self, metric: Metric) -> String {
        let m = match metric {
            Metric::L2 => "l2",
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
            Metric::L1 => "l1",
        };
        format!("{}_{m}_ops", self.type_name())
    }

    /// The `CREATE INDEX` statement, or `None` for exact engines.
    pub fn index_sql(self, metric: Metric, rows: usize, opts: &IndexOptions) -> Option<String> {
        let table = self.table();
        let (m, efc) = (opts.hnsw_m, opts.hnsw_ef_construction);
        let lists = opts.lists.unwrap_or_else(|| default_lists(rows));
        let opclass = self.opclass(metric);
        match self {
            Engine::Exact | Engine::PgvectorExact => None,
            Engine::PgvectorHnsw | Engine::PgvectorHnswIterative => Some(format!(
                "CREATE INDEX bench_idx ON {table} USING hnsw (embedding {opclass}) WITH (m = {m}, ef_construction = {efc})"
            )),
            Engine::PgvectorIvfflat => {
                Some(format!("CREATE INDEX bench_idx ON {table} USING ivfflat (embedding {opclass}) WITH (lists = {lists})"))
            }
            Engine::VecxHnsw => Some(format!(
                "CREATE INDEX bench_idx ON {table} USING vecx_hnsw (embedding {opclass}) WITH (m = {m}, ef_construction = {efc})"
            )),
            // vecx_ivfpq at its own defaults unless --lists is given.
            Engine::VecxIvfpq => Some(match opts.lists {
                Some(l) => format!("CREATE INDEX bench_idx ON {table} USING vecx_ivfpq (embedding {opclass}) WITH (lists = {l})"),
                None => format!("CREATE INDEX bench_idx ON {table} USING vecx_ivfpq (embedding {opclass})"),
            }),
        }
    }

    /// Statements run on every connection before queries (fixed settings of the engine).
    pub fn session_sql(self) -> Vec<String> {
        match self {
            Engine::PgvectorHnswIterative => vec!["SET hnsw.iterative_scan = strict_order".into()],
            Engine::PgvectorHnsw => vec!["SET hnsw.iterative_scan = off".into()],
            Engine::Exact | Engine::PgvectorExact => vec!["SET enable_indexscan = off".into()],
            _ => vec![],
        }
    }

    /// The search parameter swept to trace the recall/QPS curve: its GUC and values.
    pub fn sweep(self, rows: usize, opts: &IndexOptions) -> Option<(&'static str, Vec<i64>)> {
        let lists = opts.lists.unwrap_or_else(|| default_lists(rows)) as i64;
        let probes = |max: i64| -> Vec<i64> {
            let mut v: Vec<i64> = [1, 2, 4, 8, 16, 32, 64, 128]
                .into_iter()
                .filter(|p| *p < max)
                .collect();
            v.push(max.min(128));
            v
        };
        match self {
            Engine::Exact | Engine::PgvectorExact => None,
            // Steps fine enough near the LIMIT that interpolating recall 0.95 and 0.99 between
            // two points is not a guess across a doubling.
            Engine::PgvectorHnsw | Engine::PgvectorHnswIterative => {
                Some(("hnsw.ef_search", HNSW_SWEEP.to_vec()))
            }
            Engine::PgvectorIvfflat => Some(("ivfflat.probes", probes(lists))),
            // Below 10 vecx still returns 10 rows from the graph, from a narrower search
            // (pgvector would return fewer rows than the LIMIT there).
            Engine::VecxHnsw => Some((
                "vecx.hnsw_ef_search",
                [5, 6, 7, 8].iter().chain(HNSW_SWEEP).copied().collect(),
            )),
            Engine::VecxIvfpq => {
                let lists = opts
                    .lists
                    .map(|l| l as i64)
                    .unwrap_or_else(|| vecx_core::ivfpq::default_lists(rows) as i64);
                // Also a quarter of the lists (the acceptance point).
                let mut v = probes(lists);
                v.push((lists / 4).max(1));
                v.sort_unstable();
                v.dedup();
                Some(("vecx.ivfpq_probes", v))
            }
        }
    }
}

/// `ef_search` values both HNSW engines are swept over.
const HNSW_SWEEP: &[i64] = &[10, 12, 14, 16, 20, 24, 28, 32, 40, 56, 80, 160, 320];

/// pgvector's recommendation: rows / 1000 lists up to 1M rows, sqrt(rows) beyond; at least 10.
pub fn default_lists(rows: usize) -> u32 {
    let lists = if rows <= 1_000_000 {
        rows / 1000
    } else {
        (rows as f64).sqrt() as usize
    };
    lists.max(10) as u32
}
