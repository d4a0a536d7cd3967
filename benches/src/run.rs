//! Running queries: prepared statements on one or more client connections, with latencies,
//! and the figures drawn from them (recall, QPS, percentiles, short and out-of-order results).
use std::time::Instant;

use postgres::types::ToSql;
use serde::Serialize;

use crate::dataset::{Dataset, Truth};
use crate::filter::Filter;
use crate::load::VecParam;
use crate::truth::{recall, true_count};

/// What each session runs, untimed, before its timed pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Warmup {
    /// One search, for the session's first query: the library is loaded and the statement
    /// planned, but the session's first touches of every index and heap page it reads (a new
    /// backend maps each shared-buffer page on first use) and any per-session cache of an
    /// engine are timed.
    Query,
    /// The session's whole share of the queries, once: the timed pass then measures the steady
    /// state of a long-lived connection (a pooled application's; ann-benchmarks times its
    /// queries on one connection too).
    Pass,
}

/// One timed pass over the queries.
pub struct Pass {
    /// Per query: the (id, distance) rows returned, in order.
    pub rows: Vec<Vec<(i64, f64)>>,
    pub latencies_ms: Vec<f64>,
    pub wall_seconds: f64,
}

/// Runs every query once, spread round-robin over `clients` connections (threads), each of
/// which first runs `session_sql`. `filter` adds the per-query `$2`. Each session prepares the
/// statement and runs it once for its first query before the pass is timed (see
/// [`in_sessions`]), or its whole share of them (`warmup`).
pub fn run_pass(
    conn: &str,
    session_sql: &[String],
    sql: &str,
    ds: &Dataset,
    filter: Option<Filter>,
    clients: usize,
    warmup: Warmup,
) -> Result<Pass, String> {
    let nq = ds.num_queries();
    let clients = clients.max(1).min(nq.max(1));
    let run = |client: &mut postgres::Client,
               prepared: &postgres::Statement,
               q: usize|
     -> Result<Vec<postgres::Row>, String> {
        let (v, p) = (VecParam(ds.query(q)), filter.map(|f| f.param(ds, q)));
        let params: Vec<&(dyn ToSql + Sync)> = match &p {
            Some(p) => vec![&v, p],
            None => vec![&v],
        };
        client
            .query(prepared, &params)
            .map_err(|e| format!("query {q}: {e}"))
    };
    let (shards, wall_seconds) = in_sessions(
        conn,
        session_sql,
        clients,
        |c, client| {
            let prepared = client.prepare(sql).map_err(|e| format!("{sql}: {e}"))?;
            let warm = match warmup {
                Warmup::Query => c..(c + 1).min(nq),
                Warmup::Pass => c..nq,
            };
            for q in warm.step_by(clients) {
                run(client, &prepared, q)?;
            }
            Ok(prepared)
        },
        |c, client, prepared| {
            let mut out = Vec::new();
            for q in (c..nq).step_by(clients) {
                let t = Instant::now();
                let rows = run(client, &prepared, q)?;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                let rows = rows
                    .iter()
                    .map(|r| (r.get::<_, i32>(0) as i64, r.get::<_, f64>(1)))
                    .collect();
                out.push((q, rows, ms));
            }
            Ok(out)
        },
    );
    let mut rows = vec![Vec::new(); nq];
    let mut latencies_ms = Vec::with_capacity(nq);
    for shard in shards {
        for (q, r, ms) in shard? {
            rows[q] = r;
            latencies_ms.push(ms);
        }
    }
    Ok(Pass {
        rows,
        latencies_ms,
        wall_seconds,
    })
}

/// Runs `work(c, session, prepared)` for each client `c` in `0..clients` on a thread of its own,
/// each with a new connection that first ran `session_sql` and then `setup` (which returns what
/// `work` needs): the results in client order, and the seconds from the moment every session
/// was set up to the end of the last `work`. Connecting (a backend fork), the session settings
/// and `setup`, where each session warms up (loads the engine's library, fills its caches), are
/// not timed: they are the same whatever the index, and for a pass of a few tens of
/// milliseconds inside the server they were a tenth of it.
fn in_sessions<S, T: Send>(
    conn: &str,
    session_sql: &[String],
    clients: usize,
    setup: impl Fn(usize, &mut postgres::Client) -> Result<S, String> + Sync,
    work: impl Fn(usize, &mut postgres::Client, S) -> Result<T, String> + Sync,
) -> (Vec<Result<T, String>>, f64) {
    let (setup, work) = (&setup, &work);
    let ready = &std::sync::Barrier::new(clients + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || -> Result<T, String> {
                    // Every thread reaches the barrier once, whatever fails, or the pass waits
                    // for it forever.
                    let prepared = (|| -> Result<(postgres::Client, S), String> {
                        let mut client = postgres::Client::connect(conn, postgres::NoTls)
                            .map_err(|e| e.to_string())?;
                        for stmt in session_sql {
                            client
                                .batch_execute(stmt)
                                .map_err(|e| format!("{stmt}: {e}"))?;
                        }
                        let state = setup(c, &mut client)?;
                        Ok((client, state))
                    })();
                    ready.wait();
                    let (mut client, state) = prepared?;
                    work(c, &mut client, state)
                })
            })
            .collect();
        ready.wait();
        let start = Instant::now();
        let results = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("client thread panicked".into()))
            })
            .collect();
        (results, start.elapsed().as_secs_f64())
    })
}

/// The queries' table for [`run_in_server`]: `bench_q_<type>` (see `load::load_queries`).
pub fn query_table(type_name: &str) -> String {
    format!("bench_q_{type_name}")
}

/// Runs every query once inside the server, without a round trip per query: each of `clients`
/// sessions runs `session_sql` and its `warmup` (untimed, see [`in_sessions`]: one search, or
/// the timed statement itself), then one statement that searches for every query of its share
/// of the queries' table (`LATERAL`, as a join would), so what is timed is the index and the
/// executor, not the protocol. Returns the wall time of the slowest session. Rows are counted,
/// not returned: the caller takes recall from a pass through the client (the same searches).
/// `search` is the search with `q.v` as the query vector, e.g. `SELECT id FROM t ORDER BY
/// embedding <-> q.v LIMIT 10`.
#[allow(clippy::too_many_arguments)]
pub fn run_in_server(
    conn: &str,
    session_sql: &[String],
    search: &str,
    queries: &str,
    nq: usize,
    k: usize,
    clients: usize,
    warmup: Warmup,
) -> Result<f64, String> {
    let clients = clients.max(1).min(nq.max(1));
    let pass = |c: usize| {
        format!(
            "SELECT coalesce(sum(cardinality(ARRAY({search}))), 0)::int8 \
             FROM {queries} q WHERE q.id % {clients} = {c}"
        )
    };
    let (counts, wall_seconds) = in_sessions(
        conn,
        session_sql,
        clients,
        |c, client| {
            let sql = match warmup {
                Warmup::Query => format!(
                    "SELECT cardinality(ARRAY({search})) FROM {queries} q \
                     WHERE q.id % {clients} = {c} ORDER BY q.id LIMIT 1"
                ),
                Warmup::Pass => pass(c),
            };
            client.query(&sql, &[]).map_err(|e| format!("{sql}: {e}"))?;
            Ok(())
        },
        |c, client, ()| -> Result<i64, String> {
            let sql = pass(c);
            let row = client
                .query_one(&sql, &[])
                .map_err(|e| format!("{sql}: {e}"))?;
            Ok(row.get(0))
        },
    );
    let mut rows = 0;
    for c in counts {
        rows += c?;
    }
    // Every unfiltered search returns k rows (the sets are larger than k).
    if rows != (nq * k) as i64 {
        return Err(format!(
            "in-server pass returned {rows} rows, expected {}",
            nq * k
        ));
    }
    Ok(wall_seconds)
}

/// Latency percentile (nearest rank), in milliseconds.
pub fn percentile(latencies: &[f64], p: f64) -> f64 {
    if latencies.is_empty() {
        return f64::NAN;
    }
    let mut v = latencies.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[derive(Serialize, Clone, Debug)]
pub struct Quality {
    pub recall: f64,
    /// Queries that returned fewer rows than min(k, matching rows).
    pub short_queries: usize,
    /// Queries whose rows did not come back in non-decreasing distance order.
    pub out_of_order: usize,
}

/// Recall@k (mean over queries), short results and ordering, from one pass.
pub fn quality(ds: &Dataset, truth: &Truth, k: usize, pass: &Pass) -> Quality {
    let mut sum = 0.0;
    let (mut short, mut disorder) = (0, 0);
    for (q, rows) in pass.rows.iter().enumerate() {
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        sum += recall(ds.metric, ds, truth, q, k, &ids);
        if rows.len() < true_count(truth, q, k) {
            short += 1;
        }
        if rows
            .windows(2)
            .any(|w| w[1].1 < w[0].1 - 1e-6 * w[0].1.abs().max(1.0))
        {
            disorder += 1;
        }
    }
    Quality {
        recall: sum / pass.rows.len().max(1) as f64,
        short_queries: short,
        out_of_order: disorder,
    }
}

/// A one-line summary of a plan: node types top-down, with index names.
pub fn plan_summary(plan: &serde_json::Value) -> String {
    fn walk(node: &serde_json::Value, out: &mut Vec<String>) {
        if let Some(t) = node.get("Node Type").and_then(|v| v.as_str()) {
            match node.get("Index Name").and_then(|v| v.as_str()) {
                Some(index) => out.push(format!("{t} ({index})")),
                None => out.push(t.to_string()),
            }
        }
        if let Some(children) = node.get("Plans").and_then(|v| v.as_array()) {
            for c in children {
                walk(c, out);
            }
        }
    }
    let mut parts = Vec::new();
    if let Some(p) = plan.get(0).and_then(|p| p.get("Plan")) {
        walk(p, &mut parts);
    }
    parts.join(" > ")
}
