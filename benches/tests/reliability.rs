//! Reliability of `vecx_hnsw` and `vecx_ivfpq` (issue #6, "prove vecx loses nothing"), each test
//! against both access methods on throwaway clusters (ports 55480-55499, names `rel-*`):
//!
//! * **Replication and promotion**: a streaming standby replays the build, then concurrent
//!   inserts, vector UPDATEs, deletes and VACUUM from several sessions (with searches running on
//!   the standby meanwhile); it must return exactly the primary's results for a fixed query set
//!   and pass `vecx_index_check`. Promoted, it takes more writes and vacuum, and every row must
//!   still be found through the index.
//! * **Crash recovery**: the whole server is killed with SIGKILL at seeded random moments during
//!   bulk inserts from several sessions, during `CREATE INDEX` of a table large enough for a
//!   build of seconds, and during `VACUUM` after a large delete. After each restart the index
//!   checks, every row whose `COMMIT` returned is in the table and is returned by the index
//!   (and by a self-query at a wide search), no row of a transaction that never committed is
//!   visible, an interrupted `CREATE INDEX` left no index, and recall holds.
//! * **Backup and WAL replay**: a base backup plus archived WAL (inserts, updates, deletes,
//!   VACUUM and a `CREATE INDEX` made after the backup), restored with `restore_command` and
//!   `recovery.signal`, answers like the primary and checks.
//! * **Low memory**: builds with `maintenance_work_mem = 1MB` complete, check and index every
//!   row; `statement_timeout` cancels a `vecx_ivfpq` build with SQLSTATE 57014 and leaves no
//!   index.
//! * **Vacuum cancelled while freeing** (`vecx_hnsw`): the index checks and returns every row,
//!   and delete-all/vacuum/reinsert cycles leave no page behind and do not grow the index.
//! * **Vacuum never moves a live tuple** (`vecx_hnsw`): searches read element tuples under a
//!   pin alone, so VACUUM must free items without moving the bytes of any other (read with
//!   pageinspect before and after), and inserts must reuse the freed slots: cycles of deleting
//!   half the rows at random, VACUUM and reinserting as many do not grow the index.
//!
//! They need PostgreSQL 15 with the current vecx build installed (`scripts/test.sh` installs it
//! before running them). Run:
//! `cargo test --release -p vecx-bench --test reliability -- --test-threads 1 --nocapture`.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{Client, NoTls};
use vecx_bench::cluster::{default_dir, Cluster};
use vecx_bench::dataset::Rng;
use vecx_bench::load::VecParam;

const DIM: usize = 32;
/// Spread of each of the 16 clusters (centres are about 24 apart), as in multiprocess.rs.
const NOISE: f32 = 1.0;
/// Settings of a default-width search.
const DEFAULTS: &str =
    "RESET vecx.hnsw_ef_search; RESET vecx.ivfpq_probes; RESET vecx.ivfpq_rerank";

/// The index access method under test: each test runs against both.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Am {
    Hnsw,
    IvfPq,
}

impl Am {
    fn name(self) -> &'static str {
        match self {
            Am::Hnsw => "hnsw",
            Am::IvfPq => "ivfpq",
        }
    }

    fn create_sql(self, index: &str, table: &str) -> String {
        match self {
            Am::Hnsw => format!("CREATE INDEX {index} ON {table} USING vecx_hnsw (v vecx_l2_ops)"),
            Am::IvfPq => format!(
                "CREATE INDEX {index} ON {table} USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 16)"
            ),
        }
    }

    /// Settings for a wide search: ef_search 400, or every list with 1,000 re-ranked candidates.
    fn wide(self) -> &'static str {
        match self {
            Am::Hnsw => "SET vecx.hnsw_ef_search = 400",
            Am::IvfPq => "SET vecx.ivfpq_probes = 16; SET vecx.ivfpq_rerank = 100",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clusters, data, queries.

fn cluster(name: &str, port: u16, extra: &[String]) -> Cluster {
    let mut settings: Vec<String> = vec![
        "shared_buffers = '128MB'".into(),
        "max_connections = 50".into(),
        "fsync = on".into(),
    ];
    settings.extend(extra.iter().cloned());
    let mut c = Cluster::init(&default_dir(name), port, &settings).expect("initdb");
    c.start().expect("start");
    let mut db = c.connect("postgres").expect("connect");
    db.batch_execute("CREATE EXTENSION vecx")
        .expect("CREATE EXTENSION vecx (is the extension installed?)");
    c
}

fn connect(conn: &str) -> Client {
    Client::connect(conn, NoTls).expect("connect")
}

/// No server process died of a signal (a crash of a backend is logged by the postmaster as
/// "server process (PID n) was terminated by signal 11: Segmentation fault").
fn assert_no_crash(c: &Cluster, who: &str) {
    let log = c.server_log();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("terminated by signal"))
        .collect();
    assert!(
        bad.is_empty(),
        "{who}: a server process crashed:\n{}",
        bad.join("\n")
    );
}

/// Seeded vectors near one of 16 fixed centres (the same centres for every seed).
struct Gen {
    rng: Rng,
    centres: Vec<Vec<f32>>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let mut c = Rng::new(99);
        let centres = (0..16)
            .map(|_| (0..DIM).map(|_| c.gaussian() as f32 * 3.0).collect())
            .collect();
        Gen {
            rng: Rng::new(seed),
            centres,
        }
    }

    fn next(&mut self) -> Vec<f32> {
        let c = &self.centres[(self.rng.next_u64() % self.centres.len() as u64) as usize];
        c.iter()
            .map(|x| x + NOISE * self.rng.gaussian() as f32)
            .collect()
    }
}

fn queries(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut g = Gen::new(seed);
    (0..n).map(|_| g.next()).collect()
}

fn create_table(db: &mut Client, table: &str) {
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id int PRIMARY KEY, v vecx({DIM}))"
    ))
    .expect("CREATE TABLE");
}

/// One INSERT statement per row, as an application would.
fn insert_rows(db: &mut Client, table: &str, ids: std::ops::Range<i32>, seed: u64) {
    let mut g = Gen::new(seed);
    let stmt = db
        .prepare(&format!("INSERT INTO {table} (id, v) VALUES ($1, $2)"))
        .expect("prepare");
    for id in ids {
        let v = g.next();
        db.execute(&stmt, &[&id, &VecParam(&v)]).expect("insert");
    }
}

/// Rows `ids` of `dim` dimensions (16 seeded clusters) by binary COPY.
fn copy_rows(db: &mut Client, table: &str, ids: std::ops::Range<i32>, seed: u64, dim: usize) {
    let vec_type = db.prepare("SELECT $1::vecx").unwrap().params()[0].clone();
    let mut rng = Rng::new(seed);
    let centres: Vec<Vec<f32>> = (0..16)
        .map(|_| (0..dim).map(|_| rng.gaussian() as f32 * 3.0).collect())
        .collect();
    let sink = db
        .copy_in(&format!("COPY {table} (id, v) FROM STDIN (FORMAT binary)"))
        .unwrap();
    let mut w = BinaryCopyInWriter::new(sink, &[Type::INT4, vec_type]);
    for id in ids {
        let c = &centres[(rng.next_u64() % 16) as usize];
        let v: Vec<f32> = c
            .iter()
            .map(|x| x + NOISE * rng.gaussian() as f32)
            .collect();
        w.write(&[&id, &VecParam(&v)]).unwrap();
    }
    w.finish().unwrap();
}

/// An error with the server's message, detail and SQLSTATE.
fn db_msg(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!(
            "{}: {} ({}){}",
            d.severity(),
            d.message(),
            d.code().code(),
            d.detail()
                .map(|x| format!(" DETAIL: {x}"))
                .unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

/// Runs `vecx_index_check`; a failure is reported at the caller's line (which check failed).
#[track_caller]
fn check_index(db: &mut Client, index: &str) {
    let at = std::panic::Location::caller();
    let ok: bool = db
        .query_one(&format!("SELECT vecx_index_check('{index}')"), &[])
        .unwrap_or_else(|e| panic!("vecx_index_check('{index}') at {at}: {}", db_msg(&e)))
        .get(0);
    assert!(ok, "vecx_index_check('{index}')");
}

fn index_exists(db: &mut Client, index: &str) -> bool {
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = $1",
            &[&index],
        )
        .unwrap()
        .get(0);
    n > 0
}

/// Top-10 ids through the index for each query, at the current vecx settings.
fn results(db: &mut Client, table: &str, queries: &[Vec<f32>]) -> Vec<Vec<i32>> {
    db.batch_execute("SET enable_seqscan = off").unwrap();
    let stmt = db
        .prepare(&format!(
            "SELECT id FROM {table} ORDER BY v <-> $1 LIMIT 10"
        ))
        .unwrap();
    queries
        .iter()
        .map(|q| {
            db.query(&stmt, &[&VecParam(q)])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        })
        .collect()
}

/// The query set at the default and at the wide settings.
fn results_both(db: &mut Client, am: Am, table: &str, queries: &[Vec<f32>]) -> Vec<Vec<i32>> {
    db.batch_execute(DEFAULTS).unwrap();
    let mut r = results(db, table, queries);
    db.batch_execute(am.wide()).unwrap();
    r.extend(results(db, table, queries));
    db.batch_execute(DEFAULTS).unwrap();
    r
}

/// Waits until the standby has replayed everything the primary has logged so far. The target is
/// the primary's WAL *insert* position: `pg_current_wal_lsn()` is the write position, and a
/// VACUUM (which assigns no transaction id) ends without flushing its last records, so waiting
/// for the write position could compare the standby before it has replayed the end of a vacuum.
fn wait_for_replay(primary: &mut Client, standby: &mut Client) {
    let lsn: String = primary
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .unwrap()
        .get(0);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let caught: bool = standby
            .query_one(
                &format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"),
                &[],
            )
            .unwrap()
            .get(0);
        if caught {
            return;
        }
        assert!(Instant::now() < deadline, "standby did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every id in the table, sorted (read without the vector index).
fn heap_ids(db: &mut Client, table: &str) -> Vec<i32> {
    db.batch_execute("RESET enable_seqscan").unwrap();
    let mut ids: Vec<i32> = db
        .query(&format!("SELECT id FROM {table}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    ids.sort_unstable();
    ids
}

/// Every id the vector index returns for one query when the scan runs to the end (sorted, with
/// duplicates kept): the scan's exact phase reads every element not yet returned, so this is
/// the set of live rows the index holds.
fn index_ids(db: &mut Client, table: &str, index: &str) -> Vec<i32> {
    db.batch_execute(&format!("SET enable_seqscan = off; {DEFAULTS}"))
        .unwrap();
    let dims: i32 = db
        .query_one(
            &format!("SELECT atttypmod FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attname = 'v'"),
            &[],
        )
        .unwrap()
        .get(0);
    let q = if dims == DIM as i32 {
        Gen::new(4242).next()
    } else {
        vec![0.5; dims as usize]
    };
    let sql = format!("SELECT id FROM {table} ORDER BY v <-> $1 LIMIT 100000000");
    let plan: Vec<String> = db
        .query(&format!("EXPLAIN {sql}"), &[&VecParam(&q)])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter()
            .any(|l| l.contains(&format!("Index Scan using {index}"))),
        "not an index scan: {plan:?}"
    );
    let mut ids: Vec<i32> = db
        .query(&sql, &[&VecParam(&q)])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    ids.sort_unstable();
    ids
}

/// The index returns exactly the table's rows: none missing, none twice, none extra.
fn assert_index_complete(db: &mut Client, table: &str, index: &str, label: &str) -> usize {
    let heap = heap_ids(db, table);
    let through = index_ids(db, table, index);
    if heap != through {
        let h: BTreeSet<i32> = heap.iter().copied().collect();
        let t: BTreeSet<i32> = through.iter().copied().collect();
        let missing: Vec<i32> = h.difference(&t).take(20).copied().collect();
        let extra: Vec<i32> = t.difference(&h).take(20).copied().collect();
        panic!(
            "{label}: the index returns {} rows, the table has {}; missing (first 20) {missing:?}, extra {extra:?}, duplicates {}",
            through.len(),
            heap.len(),
            through.len() - t.len()
        );
    }
    heap.len()
}

/// Self-queries: how many rows (of those matching `filter`) find themselves first at the
/// default settings and at a wide search, and which are not in their own top 10 at a wide
/// search.
struct SelfFound {
    total: usize,
    first_default: usize,
    first_wide: usize,
    not_found_wide: Vec<i32>,
}

fn self_found(db: &mut Client, am: Am, table: &str, index: &str, filter: &str) -> SelfFound {
    db.batch_execute(&format!("SET enable_seqscan = off; {DEFAULTS}"))
        .unwrap();
    let first = format!(
        "SELECT count(*) FILTER (WHERE (SELECT t2.id FROM {table} t2 ORDER BY t2.v <-> t.v LIMIT 1) = t.id), count(*) FROM {table} t {filter}"
    );
    let plan: Vec<String> = db
        .query(&format!("EXPLAIN {first}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter()
            .any(|l| l.contains(&format!("Index Scan using {index}"))),
        "self-query without the index: {plan:?}"
    );
    let row = db.query_one(&first, &[]).expect("self query");
    let first_default = row.get::<_, i64>(0) as usize;
    let total = row.get::<_, i64>(1) as usize;
    db.batch_execute(am.wide()).unwrap();
    let rows = db
        .query(
            &format!(
                "SELECT t.id, ARRAY(SELECT t2.id FROM {table} t2 ORDER BY t2.v <-> t.v LIMIT 10) FROM {table} t {filter}"
            ),
            &[],
        )
        .expect("wide self query");
    db.batch_execute(DEFAULTS).unwrap();
    let mut first_wide = 0;
    let mut not_found_wide = Vec::new();
    for r in &rows {
        let id: i32 = r.get(0);
        let top: Vec<i32> = r.get(1);
        if top.first() == Some(&id) {
            first_wide += 1;
        }
        if !top.contains(&id) {
            not_found_wide.push(id);
        }
    }
    assert_eq!(rows.len(), total);
    SelfFound {
        total,
        first_default,
        first_wide,
        not_found_wide,
    }
}

/// At least 99.8% of the rows (all but one in small samples) find themselves first at a wide
/// search (completeness) and 99%
/// at the defaults. Rows that are not even in their own top 10 at the wide search are listed in
/// the message: they are in the index (callers check that a scan run to its end returns every
/// row) but the graph search does not reach them.
fn assert_self_found(s: &SelfFound, label: &str) {
    assert!(s.total > 0, "{label}: no rows");
    // 0.2% but at least one row: a fresh HNSW build can leave an element or two of 10,000
    // without a path to them (inherent to the algorithm, crash or not); on a sample of 200 rows
    // a plain 99.8% floor would tolerate none. A row lost by recovery is caught anyway: the
    // callers check that a scan run to its end returns every row of the table.
    let allowed = ((0.002 * s.total as f64).ceil() as usize).max(1);
    assert!(
        s.first_wide + allowed >= s.total,
        "{label}: wide search: {}/{} rows find themselves first; not in their own top 10: {:?}",
        s.first_wide,
        s.total,
        &s.not_found_wide[..s.not_found_wide.len().min(20)]
    );
    assert!(
        s.first_default as f64 >= 0.99 * s.total as f64,
        "{label}: defaults: {}/{} rows find themselves first",
        s.first_default,
        s.total
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrent mixed writes (replication and backup tests).

#[derive(Default, Debug)]
struct Writes {
    inserts: usize,
    updates: usize,
    deletes: usize,
    vacuums: usize,
}

/// `sessions` sessions at once, `ops` statements each on `table` (autocommit): 50% inserts of
/// new ids (`id_base + session * 100_000 + n`), 30% UPDATEs of the vector of one of the
/// session's rows, 20% deletes of one of them; a further session runs VACUUM in a loop until
/// they finish. Session `w` owns the `existing` ids with `id % sessions == w`.
fn concurrent_writes(
    conn: &str,
    table: &str,
    sessions: usize,
    ops: usize,
    seed: u64,
    id_base: i32,
    existing: &[i32],
) -> Writes {
    let done = AtomicBool::new(false);
    let totals = Mutex::new(Writes::default());
    std::thread::scope(|s| {
        let mut writers = Vec::new();
        for w in 0..sessions {
            let (totals, conn) = (&totals, conn.to_string());
            let mut pool: Vec<i32> = existing
                .iter()
                .copied()
                .filter(|id| (*id as usize) % sessions == w)
                .collect();
            writers.push(s.spawn(move || {
                let mut db = connect(&conn);
                let ins = db
                    .prepare(&format!("INSERT INTO {table} (id, v) VALUES ($1, $2)"))
                    .unwrap();
                let upd = db
                    .prepare(&format!("UPDATE {table} SET v = $2 WHERE id = $1"))
                    .unwrap();
                let del = db
                    .prepare(&format!("DELETE FROM {table} WHERE id = $1"))
                    .unwrap();
                let mut g = Gen::new(seed * 1000 + w as u64);
                let mut rng = Rng::new(seed * 7 + w as u64);
                let mut next = id_base + w as i32 * 100_000;
                let mut mine = Writes::default();
                for _ in 0..ops {
                    let r = rng.uniform();
                    if r < 0.5 || pool.is_empty() {
                        db.execute(&ins, &[&next, &VecParam(&g.next())])
                            .expect("insert");
                        pool.push(next);
                        next += 1;
                        mine.inserts += 1;
                    } else if r < 0.8 {
                        let id = pool[(rng.next_u64() % pool.len() as u64) as usize];
                        let n = db
                            .execute(&upd, &[&id, &VecParam(&g.next())])
                            .expect("update");
                        assert_eq!(n, 1, "update of row {id}");
                        mine.updates += 1;
                    } else {
                        let id = pool.swap_remove((rng.next_u64() % pool.len() as u64) as usize);
                        let n = db.execute(&del, &[&id]).expect("delete");
                        assert_eq!(n, 1, "delete of row {id}");
                        mine.deletes += 1;
                    }
                }
                let mut t = totals.lock().unwrap();
                t.inserts += mine.inserts;
                t.updates += mine.updates;
                t.deletes += mine.deletes;
            }));
        }
        let vacuum = s.spawn(|| {
            let mut db = connect(conn);
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                db.batch_execute(&format!("VACUUM {table}"))
                    .expect("VACUUM");
                // Every vecx index on the table passes its check while the writers go on.
                let checked = db.query_one(
                    "SELECT count(vecx_index_check(c.oid)) FROM pg_index i \
                     JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
                     WHERE i.indrelid = $1::text::regclass AND a.amname LIKE 'vecx%'",
                    &[&table],
                );
                if let Err(e) = checked {
                    panic!(
                        "vecx_index_check after VACUUM {n} of {table}: {}",
                        db_msg(&e)
                    );
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            n
        });
        // Stop the vacuum loop even if a writer failed, then report the failure.
        let joined: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        done.store(true, Ordering::Relaxed);
        let vacuums = vacuum.join();
        for r in joined {
            if let Err(e) = r {
                std::panic::resume_unwind(e);
            }
        }
        totals.lock().unwrap().vacuums = vacuums.expect("vacuum");
    });
    totals.into_inner().unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Streaming replication, then promotion.

#[test]
fn hnsw_standby_matches_primary_under_concurrent_writes_and_promotes() {
    replication(
        Am::Hnsw,
        "rel-repl-hnsw",
        55480,
        "rel-repl-hnsw-standby",
        55481,
    );
}

#[test]
fn ivfpq_standby_matches_primary_under_concurrent_writes_and_promotes() {
    replication(
        Am::IvfPq,
        "rel-repl-ivfpq",
        55482,
        "rel-repl-ivfpq-standby",
        55483,
    );
}

fn replication(am: Am, name: &str, port: u16, standby_name: &str, standby_port: u16) {
    let started = Instant::now();
    let mut primary = cluster(name, port, &[]);
    let conn = primary.conn_string("postgres");
    let mut db = primary.connect("postgres").unwrap();
    create_table(&mut db, "t");
    if am == Am::IvfPq {
        // vecx_ivfpq trains on the rows present: built after them.
        insert_rows(&mut db, "t", 0..2000, 3);
    }
    let mut standby = primary
        .base_backup(&default_dir(standby_name), standby_port)
        .expect("pg_basebackup");
    standby.start().expect("standby start");
    let sconn = standby.conn_string("postgres");
    let mut sdb = standby.connect("postgres").unwrap();
    // The build happens on the primary and reaches the standby through WAL.
    db.batch_execute(&am.create_sql("t_v", "t")).unwrap();
    if am == Am::Hnsw {
        // vecx_hnsw built on the empty table, filled by inserts.
        insert_rows(&mut db, "t", 0..2000, 3);
    }
    let qs = queries(40, 77);
    wait_for_replay(&mut db, &mut sdb);
    assert_eq!(
        results_both(&mut db, am, "t", &qs),
        results_both(&mut sdb, am, "t", &qs),
        "{am:?}: standby differs from primary after the build"
    );
    check_index(&mut sdb, "t_v");

    // Concurrent inserts, vector updates and deletes from 4 sessions, VACUUM in a loop, and
    // searches on the standby while it replays all that.
    let stop = AtomicBool::new(false);
    let (writes, standby_searches) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut r = connect(&sconn);
            r.batch_execute("SET enable_seqscan = off").unwrap();
            let stmt = r
                .prepare("SELECT id FROM t ORDER BY v <-> $1 LIMIT 10")
                .unwrap();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for q in &qs {
                    match r.query(&stmt, &[&VecParam(q)]) {
                        Ok(rows) => assert_eq!(rows.len(), 10, "standby search"),
                        // A snapshot conflict with replayed vacuum may cancel a standby query.
                        Err(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => {}
                        Err(e) => panic!(
                            "standby search during replay: {}",
                            e.as_db_error()
                                .map(|d| format!(
                                    "{} {} {:?}",
                                    d.code().code(),
                                    d.message(),
                                    d.detail()
                                ))
                                .unwrap_or_else(|| e.to_string())
                        ),
                    }
                    n += 1;
                }
            }
            n
        });
        let existing: Vec<i32> = (0..2000).collect();
        let w = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            concurrent_writes(&conn, "t", 4, 500, 5, 100_000, &existing)
        }));
        // Stop the standby reader even if a writer failed, then report the failure.
        stop.store(true, Ordering::Relaxed);
        let n = reader.join();
        let w = w.unwrap_or_else(|e| std::panic::resume_unwind(e));
        (w, n.expect("standby reader"))
    });
    db.batch_execute("VACUUM t").unwrap();
    wait_for_replay(&mut db, &mut sdb);
    let p = results_both(&mut db, am, "t", &qs);
    let s = results_both(&mut sdb, am, "t", &qs);
    assert_eq!(
        p, s,
        "{am:?}: standby differs from primary after concurrent writes and vacuum"
    );
    check_index(&mut sdb, "t_v");
    check_index(&mut db, "t_v");
    let rows = assert_index_complete(&mut sdb, "t", "t_v", "standby");
    assert_eq!(heap_ids(&mut db, "t"), heap_ids(&mut sdb, "t"));
    eprintln!(
        "{am:?} replication: {} inserts, {} vector updates, {} deletes from 4 sessions, {} vacuums, {standby_searches} standby searches; standby equal to primary on {} queries x 2 widths, {rows} rows",
        writes.inserts, writes.updates, writes.deletes, writes.vacuums, qs.len()
    );
    assert_no_crash(&primary, name);
    drop(db);
    primary.stop().unwrap();

    // Promotion: the standby becomes a primary and takes writes.
    standby.promote().expect("promote");
    let in_recovery: bool = sdb
        .query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get(0);
    assert!(!in_recovery);
    std::thread::scope(|s| {
        for w in 0..2 {
            let sconn = sconn.clone();
            s.spawn(move || {
                let mut db = connect(&sconn);
                let start = 500_000 + w * 10_000;
                insert_rows(&mut db, "t", start..start + 500, 900 + w as u64);
            });
        }
    });
    sdb.batch_execute("DELETE FROM t WHERE id % 5 = 0").unwrap();
    sdb.batch_execute("VACUUM t").unwrap();
    insert_rows(&mut sdb, "t", 600_000..600_200, 950);
    check_index(&mut sdb, "t_v");
    let rows = assert_index_complete(&mut sdb, "t", "t_v", "promoted");
    let sf = self_found(&mut sdb, am, "t", "t_v", "");
    assert_eq!(sf.total, rows);
    assert_self_found(&sf, &format!("{am:?} promoted standby"));
    eprintln!(
        "{am:?} promoted standby: 1,200 inserts, deletes and vacuum; index check passed, {rows} rows all returned by the index; {}/{} find themselves first at the defaults, {} at a wide search ({} not in their own top 10) ({:.1} s)",
        sf.first_default,
        sf.total,
        sf.first_wide,
        sf.not_found_wide.len(),
        started.elapsed().as_secs_f64()
    );
    assert_no_crash(&standby, standby_name);
}

// ---------------------------------------------------------------------------------------------
// 2. Crash recovery: kill -9 of the whole server at random moments.

/// What the client knows about one table: the ids whose insert committed and whose delete did
/// not (an id counts only once COMMIT returned OK).
struct Tracked {
    table: &'static str,
    index: &'static str,
    known: BTreeSet<i32>,
}

/// Ids written by the sessions running when the server was killed.
#[derive(Default)]
struct Outcome {
    /// COMMIT returned OK: must be present after the restart.
    committed: Vec<i32>,
    /// In a transaction whose COMMIT was sent but did not answer: may be present or not.
    maybe: Vec<i32>,
    /// In a transaction that never committed: must be absent.
    uncommitted: Vec<i32>,
}

/// A session inserting rows in transactions of `batch` rows from `first_id` on (at most `cap`
/// rows), until the server dies.
#[allow(clippy::too_many_arguments)]
fn committed_inserter(
    conn: String,
    table: &'static str,
    first_id: i32,
    cap: i32,
    batch: i32,
    seed: u64,
    out: Arc<Mutex<Outcome>>,
    ready: Arc<AtomicUsize>,
) {
    let Ok(mut db) = Client::connect(&conn, NoTls) else {
        ready.fetch_add(1, Ordering::SeqCst);
        return;
    };
    let Ok(stmt) = db.prepare(&format!("INSERT INTO {table} (id, v) VALUES ($1, $2)")) else {
        ready.fetch_add(1, Ordering::SeqCst);
        return;
    };
    let mut g = Gen::new(seed);
    ready.fetch_add(1, Ordering::SeqCst);
    let mut next = first_id;
    while next < first_id + cap {
        let ids: Vec<i32> = (next..next + batch).collect();
        next += batch;
        out.lock().unwrap().maybe.extend(&ids);
        let r = (|| -> Result<(), postgres::Error> {
            let mut tx = db.transaction()?;
            for id in &ids {
                tx.execute(&stmt, &[id, &VecParam(&g.next())])?;
            }
            tx.commit()
        })();
        if r.is_err() {
            return;
        }
        {
            // Remove exactly this batch: the sessions share `maybe`, so its tail may be another
            // session's batch, still in flight.
            let mut o = out.lock().unwrap();
            o.maybe.retain(|id| !ids.contains(id));
            o.committed.extend(&ids);
        }
        // Paced, so the table grows by at most a few thousand rows before the kill.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A session that inserts rows in one transaction that it never commits, until the server dies.
fn uncommitted_inserter(
    conn: String,
    table: &'static str,
    first_id: i32,
    seed: u64,
    out: Arc<Mutex<Outcome>>,
    ready: Arc<AtomicUsize>,
) {
    let Ok(mut db) = Client::connect(&conn, NoTls) else {
        ready.fetch_add(1, Ordering::SeqCst);
        return;
    };
    let mut g = Gen::new(seed);
    let Ok(mut tx) = db.transaction() else {
        ready.fetch_add(1, Ordering::SeqCst);
        return;
    };
    let mut n = 0;
    loop {
        let r = if n < 3000 {
            let id = first_id + n;
            out.lock().unwrap().uncommitted.push(id);
            n += 1;
            tx.execute(
                &format!("INSERT INTO {table} (id, v) VALUES ($1, $2)"),
                &[&id, &VecParam(&g.next())],
            )
            .map(|_| ())
        } else {
            tx.batch_execute("SELECT 1")
        };
        if n == 5 {
            ready.fetch_add(1, Ordering::SeqCst);
        }
        if r.is_err() {
            if n < 5 {
                ready.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

type Worker = Box<dyn FnOnce() + Send>;

#[allow(clippy::too_many_arguments)]
fn committed_worker(
    conn: &str,
    table: &'static str,
    first_id: i32,
    cap: i32,
    batch: i32,
    seed: u64,
    out: &Arc<Mutex<Outcome>>,
    ready: &Arc<AtomicUsize>,
) -> Worker {
    let (conn, out, ready) = (conn.to_string(), out.clone(), ready.clone());
    Box::new(move || committed_inserter(conn, table, first_id, cap, batch, seed, out, ready))
}

fn uncommitted_worker(
    conn: &str,
    table: &'static str,
    first_id: i32,
    seed: u64,
    out: &Arc<Mutex<Outcome>>,
    ready: &Arc<AtomicUsize>,
) -> Worker {
    let (conn, out, ready) = (conn.to_string(), out.clone(), ready.clone());
    Box::new(move || uncommitted_inserter(conn, table, first_id, seed, out, ready))
}

/// Runs `workers` (each signals `ready` once started), waits until all are ready, sleeps
/// `delay`, kills the whole server with SIGKILL, joins the workers and restarts the server.
fn kill_during(c: &mut Cluster, delay: Duration, ready: Arc<AtomicUsize>, workers: Vec<Worker>) {
    let n = workers.len();
    let handles: Vec<_> = workers.into_iter().map(std::thread::spawn).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "sessions did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(delay);
    c.kill9_all().expect("kill -9");
    for h in handles {
        h.join().expect("session thread");
    }
    c.start().expect("restart after kill -9");
}

/// After a restart: the table holds every committed id, no uncommitted one and nothing else;
/// the index checks, returns exactly the table's rows, and self-queries (rows matching
/// `sample`) find the rows. Updates `t.known` to the table's content; returns the rows checked.
fn verify_after_crash(
    db: &mut Client,
    am: Am,
    t: &mut Tracked,
    out: &Outcome,
    sample: &str,
    label: &str,
) -> (usize, SelfFound) {
    let heap: BTreeSet<i32> = heap_ids(db, t.table).into_iter().collect();
    let mut known = t.known.clone();
    known.extend(&out.committed);
    let lost: Vec<i32> = known.difference(&heap).copied().collect();
    assert!(
        lost.is_empty(),
        "{label}: {} committed rows of {} lost after kill -9 (first 20: {:?})",
        lost.len(),
        t.table,
        &lost[..lost.len().min(20)]
    );
    let ghosts: Vec<i32> = out
        .uncommitted
        .iter()
        .copied()
        .filter(|id| heap.contains(id))
        .collect();
    assert!(
        ghosts.is_empty(),
        "{label}: {} rows of a transaction that never committed are visible in {}: {:?}",
        ghosts.len(),
        t.table,
        &ghosts[..ghosts.len().min(20)]
    );
    let maybe: BTreeSet<i32> = out.maybe.iter().copied().collect();
    let unexpected: Vec<i32> = heap
        .iter()
        .copied()
        .filter(|id| !known.contains(id) && !maybe.contains(id))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{label}: rows in {} that no committed write put there (deleted rows back?): {:?}",
        t.table,
        &unexpected[..unexpected.len().min(20)]
    );
    t.known = heap;
    check_index(db, t.index);
    let rows = assert_index_complete(db, t.table, t.index, label);
    let sf = self_found(db, am, t.table, t.index, sample);
    assert_self_found(&sf, label);
    (rows, sf)
}

/// "n self-queries: a first at the defaults, b at a wide search (c not in their own top 10)".
fn describe(sf: &SelfFound) -> String {
    format!(
        "{} self-queries: {} first at the defaults, {} at a wide search ({} not in their own top 10)",
        sf.total,
        sf.first_default,
        sf.first_wide,
        sf.not_found_wide.len()
    )
}

#[derive(Default)]
struct CrashTotals {
    points: usize,
    committed_checked: usize,
    uncommitted_absent: usize,
    self_queries: usize,
    builds_interrupted: usize,
    builds_completed: usize,
    vacuums_interrupted: usize,
}

/// Cost-based vacuum delay for the interrupted VACUUMs, so that they last long enough to be
/// killed in the middle (both access methods call vacuum_delay_point between pages).
const VACUUM_PACE: &str = "SET vacuum_cost_delay = '1ms'";

/// The index on `big`: for vecx_ivfpq 100 lists, so its k-means (the longest part of its build)
/// lasts long enough to be killed in the middle.
fn big_sql(am: Am) -> String {
    match am {
        Am::Hnsw => am.create_sql("big_v", "big"),
        Am::IvfPq => {
            "CREATE INDEX big_v ON big USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 100)".into()
        }
    }
}

/// Rows of the table whose CREATE INDEX and VACUUM are interrupted.
fn big_rows(am: Am) -> i32 {
    match am {
        Am::Hnsw => 10_000,
        Am::IvfPq => 100_000,
    }
}

#[test]
fn crash_recovery_kill9_during_inserts_build_and_vacuum() {
    let started = Instant::now();
    let mut per_am = Vec::new();
    let mut all = CrashTotals::default();
    let mut failures = Vec::new();
    // Both access methods run even if the first fails; the test fails afterwards.
    for (am, port) in [(Am::Hnsw, 55484), (Am::IvfPq, 55485)] {
        let mut t = CrashTotals::default();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crash_recovery(am, port, &mut t)
        }));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!(
                "{am:?}: failed after {} kill -9 points: {msg}",
                t.points
            ));
        }
        per_am.push((am, t.points));
        all.points += t.points;
        all.committed_checked += t.committed_checked;
        all.uncommitted_absent += t.uncommitted_absent;
        all.self_queries += t.self_queries;
        all.builds_interrupted += t.builds_interrupted;
        all.builds_completed += t.builds_completed;
        all.vacuums_interrupted += t.vacuums_interrupted;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!(
        "crash recovery: {} kill -9 points survived ({}), 0 committed rows lost, 0 uncommitted rows visible; {} committed rows and {} uncommitted ids checked, {} self-queries; CREATE INDEX interrupted {} times (completed before the kill {}), VACUUM interrupted {} times ({:.0} s)",
        all.points,
        per_am
            .iter()
            .map(|(am, n)| format!("{} {n}", am.name()))
            .collect::<Vec<_>>()
            .join(", "),
        all.committed_checked,
        all.uncommitted_absent,
        all.self_queries,
        all.builds_interrupted,
        all.builds_completed,
        all.vacuums_interrupted,
        started.elapsed().as_secs_f64()
    );
}

fn tally(totals: &mut CrashTotals, out: &Outcome, rows: usize, self_queries: usize) {
    totals.points += 1;
    totals.committed_checked += rows;
    totals.self_queries += self_queries;
    totals.uncommitted_absent += out.uncommitted.len();
}

fn crash_recovery(am: Am, port: u16, totals: &mut CrashTotals) {
    const POINTS: usize = 3;
    let name = format!("rel-crash-{}", am.name());
    let mut c = cluster(&name, port, &[]);
    let conn = c.conn_string("postgres");
    let mut rng = Rng::new(0xC0FFEE + port as u64);
    let mut t = Tracked {
        table: "t",
        index: "t_v",
        known: BTreeSet::new(),
    };
    let mut big = Tracked {
        table: "big",
        index: "big_v",
        known: BTreeSet::new(),
    };
    {
        let mut db = c.connect("postgres").unwrap();
        create_table(&mut db, "t");
        insert_rows(&mut db, "t", 0..2000, 11);
        db.batch_execute(&am.create_sql("t_v", "t")).unwrap();
        t.known.extend(0..2000);
        create_table(&mut db, "big");
        copy_rows(&mut db, "big", 0..big_rows(am), 12, DIM);
        db.batch_execute("VACUUM ANALYZE big").unwrap();
        big.known.extend(0..big_rows(am));
    }
    let mut next_id = 1_000_000;

    // (a) Bulk inserts from 3 sessions (transactions of 10 rows) and one open transaction.
    for p in 0..POINTS {
        let out = Arc::new(Mutex::new(Outcome::default()));
        let ready = Arc::new(AtomicUsize::new(0));
        let mut workers: Vec<Worker> = Vec::new();
        for w in 0..3 {
            let seed = 100 + (p * 10) as u64 + w as u64;
            workers.push(committed_worker(
                &conn,
                "t",
                next_id + w * 10_000,
                9_000,
                10,
                seed,
                &out,
                &ready,
            ));
        }
        workers.push(uncommitted_worker(
            &conn,
            "t",
            next_id + 50_000,
            200 + p as u64,
            &out,
            &ready,
        ));
        // Self-queries: every row written in this round, and 5% of the older ones.
        let sample = format!("WHERE t.id >= {next_id} OR t.id % 20 = 0");
        next_id += 100_000;
        let delay = Duration::from_millis(100 + rng.next_u64() % 600);
        kill_during(&mut c, delay, ready, workers);
        assert_no_crash(&c, &name);
        let out = out.lock().unwrap();
        let mut db = c.connect("postgres").unwrap();
        let label = format!("{am:?} kill -9 #{} during inserts ({delay:?})", p + 1);
        let before = t.known.len();
        let (rows, sf) = verify_after_crash(&mut db, am, &mut t, &out, &sample, &label);
        eprintln!(
            "{label}: {} rows committed by 3 sessions ({} in flight), {} uncommitted absent; check passed, all {rows} rows returned by the index; {}",
            t.known.len() - before,
            out.maybe.len(),
            out.uncommitted.len(),
            describe(&sf)
        );
        tally(totals, &out, rows, sf.total);
    }

    // (b) CREATE INDEX on `big` (a build of seconds), inserts and an open transaction on `t`.
    let build_time = {
        let mut db = c.connect("postgres").unwrap();
        let start = Instant::now();
        db.batch_execute(&big_sql(am)).unwrap();
        let took = start.elapsed();
        check_index(&mut db, "big_v");
        db.batch_execute("DROP INDEX big_v").unwrap();
        eprintln!(
            "{am:?}: CREATE INDEX on {} rows takes {took:?}",
            big_rows(am)
        );
        took
    };
    for p in 0..POINTS {
        let out = Arc::new(Mutex::new(Outcome::default()));
        let ready = Arc::new(AtomicUsize::new(0));
        let built = Arc::new(AtomicBool::new(false));
        let mut workers: Vec<Worker> = Vec::new();
        {
            let (conn, ready, built) = (conn.clone(), ready.clone(), built.clone());
            let sql = big_sql(am);
            workers.push(Box::new(move || {
                let Ok(mut db) = Client::connect(&conn, NoTls) else {
                    ready.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                ready.fetch_add(1, Ordering::SeqCst);
                if db.batch_execute(&sql).is_ok() {
                    built.store(true, Ordering::SeqCst);
                }
            }));
        }
        workers.push(committed_worker(
            &conn,
            "t",
            next_id,
            9_000,
            5,
            300 + p as u64,
            &out,
            &ready,
        ));
        workers.push(uncommitted_worker(
            &conn,
            "t",
            next_id + 50_000,
            400 + p as u64,
            &out,
            &ready,
        ));
        let sample = format!("WHERE t.id >= {next_id} OR t.id % 20 = 0");
        next_id += 100_000;
        // Mostly inside the build, sometimes just after it.
        let frac = 0.05 + 1.0 * rng.uniform();
        let delay = build_time.mul_f64(frac);
        kill_during(&mut c, delay, ready, workers);
        assert_no_crash(&c, &name);
        let out = out.lock().unwrap();
        let mut db = c.connect("postgres").unwrap();
        let label = format!(
            "{am:?} kill -9 #{} during CREATE INDEX ({delay:?}, {:.0}% of a build)",
            p + 1,
            frac * 100.0
        );
        let exists = index_exists(&mut db, "big_v");
        let completed = built.load(Ordering::SeqCst);
        if completed {
            assert!(
                exists,
                "{label}: CREATE INDEX returned OK but the index is gone"
            );
            totals.builds_completed += 1;
        }
        if exists {
            let valid: bool = db
                .query_one(
                    "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_v'::regclass",
                    &[],
                )
                .unwrap()
                .get(0);
            assert!(valid, "{label}: the index exists but is not valid");
            if !completed {
                // The commit record was written but the answer never came.
                totals.builds_completed += 1;
            }
        } else {
            totals.builds_interrupted += 1;
            // Nothing left behind: the same CREATE INDEX works.
            db.batch_execute(&big_sql(am)).unwrap();
        }
        let (rows_t, sf_t) = verify_after_crash(&mut db, am, &mut t, &out, &sample, &label);
        let (rows_big, sf_big) = verify_after_crash(
            &mut db,
            am,
            &mut big,
            &Outcome::default(),
            &format!("WHERE t.id % {} = 0", big_rows(am) / 200),
            &label,
        );
        eprintln!(
            "{label}: index {} after restart, then checked; {} rows committed on t meanwhile, {} uncommitted absent; all {rows_t} + {rows_big} rows returned by the indexes; t: {}; big: {}",
            if exists {
                "complete"
            } else {
                "absent, built again"
            },
            out.committed.len(),
            out.uncommitted.len(),
            describe(&sf_t),
            describe(&sf_big)
        );
        tally(totals, &out, rows_t + rows_big, sf_t.total + sf_big.total);
        if p + 1 < POINTS {
            db.batch_execute("DROP INDEX big_v").unwrap();
        }
    }
    {
        // REINDEX of the last one works too.
        let mut db = c.connect("postgres").unwrap();
        db.batch_execute("REINDEX INDEX big_v").unwrap();
        check_index(&mut db, "big_v");
    }

    // (c) VACUUM after deleting 40% of `big`, with inserts and an open transaction on `big`.
    // Calibration: an uninterrupted VACUUM after deleting 10%.
    let vacuum_time = {
        let mut db = c.connect("postgres").unwrap();
        db.batch_execute("DELETE FROM big WHERE id % 10 = 9")
            .unwrap();
        big.known.retain(|id| id % 10 != 9);
        db.batch_execute(VACUUM_PACE).unwrap();
        let start = Instant::now();
        db.batch_execute("VACUUM big").unwrap();
        let took = start.elapsed();
        db.batch_execute("RESET vacuum_cost_delay").unwrap();
        check_index(&mut db, "big_v");
        eprintln!(
            "{am:?}: VACUUM after deleting {} rows takes {took:?}",
            big_rows(am) / 10
        );
        took
    };
    for p in 0..POINTS {
        let mut db = c.connect("postgres").unwrap();
        let m = 5 + p as i32;
        db.batch_execute(&format!("DELETE FROM big WHERE id % {m} IN (0, 1)"))
            .unwrap();
        let before = big.known.len();
        big.known.retain(|id| id % m != 0 && id % m != 1);
        let deleted_rows = before - big.known.len();
        drop(db);
        let out = Arc::new(Mutex::new(Outcome::default()));
        let ready = Arc::new(AtomicUsize::new(0));
        let vacuumed = Arc::new(AtomicBool::new(false));
        let mut workers: Vec<Worker> = Vec::new();
        {
            let (conn, ready, vacuumed) = (conn.clone(), ready.clone(), vacuumed.clone());
            workers.push(Box::new(move || {
                let Ok(mut db) = Client::connect(&conn, NoTls) else {
                    ready.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let paced = db.batch_execute(VACUUM_PACE).is_ok();
                ready.fetch_add(1, Ordering::SeqCst);
                if paced && db.batch_execute("VACUUM big").is_ok() {
                    vacuumed.store(true, Ordering::SeqCst);
                }
            }));
        }
        workers.push(committed_worker(
            &conn,
            "big",
            next_id,
            9_000,
            5,
            500 + p as u64,
            &out,
            &ready,
        ));
        workers.push(uncommitted_worker(
            &conn,
            "big",
            next_id + 50_000,
            600 + p as u64,
            &out,
            &ready,
        ));
        let sample = format!(
            "WHERE t.id >= {next_id} OR t.id % {} = 0",
            big_rows(am) / 200
        );
        next_id += 100_000;
        // Mostly inside the vacuum (which is longer than the calibration's), sometimes after.
        let delay = vacuum_time.mul_f64(0.02 + 0.9 * rng.uniform());
        kill_during(&mut c, delay, ready, workers);
        assert_no_crash(&c, &name);
        let out = out.lock().unwrap();
        let interrupted = !vacuumed.load(Ordering::SeqCst);
        if interrupted {
            totals.vacuums_interrupted += 1;
        }
        let mut db = c.connect("postgres").unwrap();
        let label = format!(
            "{am:?} kill -9 #{} during VACUUM after deleting {deleted_rows} rows ({delay:?})",
            p + 1
        );
        let (rows_crash, sf) = verify_after_crash(&mut db, am, &mut big, &out, &sample, &label);
        // The interrupted vacuum's work is done again by the next one.
        db.batch_execute("VACUUM big").unwrap();
        check_index(&mut db, "big_v");
        let rows = assert_index_complete(&mut db, "big", "big_v", &label);
        eprintln!(
            "{label}: vacuum {}; {} rows committed during it, {} uncommitted absent; check passed, all {rows_crash} rows returned by the index, {rows} after the next VACUUM; {}",
            if interrupted { "interrupted" } else { "had finished" },
            out.committed.len(),
            out.uncommitted.len(),
            describe(&sf)
        );
        tally(totals, &out, rows_crash, sf.total);
    }
    assert_no_crash(&c, &name);
}

/// `vecx_hnsw`: a VACUUM cancelled in the middle of its free pass (the state a crash there
/// leaves too, without WAL replay) leaves an index that checks, returns every row through a scan
/// run to its end and finds them by self-query; the next VACUUM finishes the work, and once every
/// row is deleted and vacuumed every page but the meta page is free again (no element, neighbour
/// tuple or vector page is lost to a leak). A watcher cancels the VACUUM as soon as
/// `vecx_index_stats` shows elements gone while deleted ones remain, i.e. inside the free pass,
/// which a 1 ms cost delay per page stretches to seconds. Two tables: 32 dimensions (elements
/// and neighbour tuples on shared pages) and 2,100 (each vector on two pages of its own).
#[test]
fn hnsw_vacuum_cancelled_while_freeing_leaves_a_valid_index() {
    let c = cluster("rel-vacuum-cancel", 55492, &[]);
    let conn = c.conn_string("postgres");
    let mut db = c.connect("postgres").unwrap();
    db.batch_execute("CREATE EXTENSION pg_freespacemap")
        .unwrap();
    let mut mid_free = 0;
    for (table, dim, rows) in [("s", DIM, 6_000), ("w", 2_100, 600)] {
        db.batch_execute(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, v vecx({dim}))"
        ))
        .unwrap();
        copy_rows(&mut db, table, 0..rows, 71, dim);
        let index = format!("{table}_v");
        db.batch_execute(&Am::Hnsw.create_sql(&index, table))
            .unwrap();
        let mut next_id = rows;
        for round in 0..3 {
            let label = format!("{table} ({dim}-d) round {}", round + 1);
            db.batch_execute(&format!("DELETE FROM {table} WHERE id % 5 = {round}"))
                .unwrap();
            let stats = format!("SELECT rows + deleted, deleted FROM vecx_index_stats('{index}')");
            let before: i64 = db.query_one(&stats, &[]).unwrap().get(0);
            let pid: i32 = db.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
            db.batch_execute("SET vacuum_cost_delay = '1ms'; SET vacuum_cost_limit = 1")
                .unwrap();
            let done = Arc::new(AtomicBool::new(false));
            let watcher = {
                let (conn, done, stats) = (conn.clone(), done.clone(), stats.clone());
                std::thread::spawn(move || {
                    let mut w = connect(&conn);
                    while !done.load(Ordering::SeqCst) {
                        let r = w.query_one(&stats, &[]).unwrap();
                        let (elements, deleted): (i64, i64) = (r.get(0), r.get(1));
                        if deleted > 0 && elements < before {
                            w.execute("SELECT pg_cancel_backend($1)", &[&pid]).unwrap();
                            return true;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    false
                })
            };
            let vacuum = db.batch_execute(&format!("VACUUM {table}"));
            done.store(true, Ordering::SeqCst);
            let cancelled = watcher.join().unwrap();
            db.batch_execute("RESET vacuum_cost_delay; RESET vacuum_cost_limit")
                .unwrap();
            let r = db.query_one(&stats, &[]).unwrap();
            let (elements, deleted): (i64, i64) = (r.get(0), r.get(1));
            let stopped_in_free = match &vacuum {
                Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => {
                    deleted > 0 && elements < before
                }
                Err(e) => panic!("{label}: VACUUM failed: {}", db_msg(e)),
                Ok(()) => false,
            };
            mid_free += stopped_in_free as usize;
            check_index(&mut db, &index);
            let n = assert_index_complete(&mut db, table, &index, &label);
            let sf = self_found(&mut db, Am::Hnsw, table, &index, "WHERE t.id % 7 = 0");
            assert_self_found(&sf, &label);
            copy_rows(
                &mut db,
                table,
                next_id..next_id + rows / 5,
                80 + round as u64,
                dim,
            );
            next_id += rows / 5;
            db.batch_execute(&format!("VACUUM {table}")).unwrap();
            check_index(&mut db, &index);
            let left: i64 = db.query_one(&stats, &[]).unwrap().get(1);
            assert_eq!(
                left, 0,
                "{label}: deleted elements left after a full VACUUM"
            );
            let m = assert_index_complete(&mut db, table, &index, &label);
            eprintln!(
                "{label}: VACUUM {} (cancel sent: {cancelled}), {} of {before} elements left, {deleted} of them deleted; check passed, {n} rows through the index; {}; after reinserting and a full VACUUM: {m} rows, check passed",
                if stopped_in_free { "stopped inside its free pass" } else if vacuum.is_ok() { "finished before the cancel" } else { "stopped outside its free pass" },
                elements,
                describe(&sf)
            );
        }
        // Delete everything, vacuum, reinsert as many rows: every page but the meta page is
        // free after each vacuum, and the cycles reuse them (vector pages too) instead of
        // growing the index.
        let mut sizes = Vec::new();
        for cycle in 0..3 {
            db.batch_execute(&format!("DELETE FROM {table}")).unwrap();
            db.batch_execute(&format!("VACUUM {table}")).unwrap();
            check_index(&mut db, &index);
            let not_free: Vec<i64> = db
                .query(
                    &format!("SELECT blkno FROM pg_freespace('{index}') WHERE blkno > 0 AND avail < 4096 ORDER BY 1"),
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert!(
                not_free.is_empty(),
                "{table}: after deleting every row and VACUUM (cycle {cycle}), {} index pages are not free (first: {:?})",
                not_free.len(),
                &not_free[..not_free.len().min(20)]
            );
            copy_rows(&mut db, table, next_id..next_id + rows, 90 + cycle, dim);
            next_id += rows;
            check_index(&mut db, &index);
            let size: i64 = db
                .query_one(&format!("SELECT pg_relation_size('{index}')"), &[])
                .unwrap()
                .get(0);
            sizes.push(size);
        }
        eprintln!(
            "{table} ({dim}-d): index bytes after each delete-all/vacuum/reinsert cycle: {sizes:?}"
        );
        assert!(
            sizes[2] as f64 <= sizes[0] as f64 * 1.10,
            "{table}: the index grew from {} to {} bytes over delete-all/vacuum/reinsert cycles",
            sizes[0],
            sizes[2]
        );
    }
    assert!(
        mid_free >= 2,
        "only {mid_free} of 6 cancels landed inside the free pass: the test did not exercise it"
    );
    assert_no_crash(&c, "rel-vacuum-cancel");
}

/// Where each LP_NORMAL item of every page of `index` but the meta page lies:
/// (block, offset) -> (lp_off, lp_len), parsed from pageinspect's `get_raw_page`.
fn item_places(db: &mut Client, index: &str) -> BTreeMap<(i64, u16), (u32, u32)> {
    let rows = db
        .query(
            &format!(
                "SELECT b, get_raw_page('{index}', b) FROM generate_series(1::bigint, \
                 pg_relation_size('{index}') / current_setting('block_size')::bigint - 1) b"
            ),
            &[],
        )
        .unwrap();
    let mut places = BTreeMap::new();
    for r in rows {
        let (blk, page): (i64, Vec<u8>) = (r.get(0), r.get(1));
        let lower = u16::from_le_bytes([page[12], page[13]]) as usize;
        for (i, lp) in page[24..lower.max(24)].chunks_exact(4).enumerate() {
            let w = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]);
            let (off, flags, len) = (w & 0x7fff, (w >> 15) & 3, w >> 17);
            if flags == 1 {
                places.insert((blk, i as u16 + 1), (off, len));
            }
        }
    }
    places
}

#[test]
fn hnsw_vacuum_never_moves_a_live_tuple_and_reuses_freed_slots() {
    let c = cluster("rel-vacuum-slots", 55493, &[]);
    let mut db = c.connect("postgres").unwrap();
    db.batch_execute("CREATE EXTENSION pageinspect").unwrap();
    let (table, index, rows) = ("h", "h_v", 6_000);
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id int PRIMARY KEY, v vecx({DIM}))"
    ))
    .unwrap();
    copy_rows(&mut db, table, 0..rows, 31, DIM);
    db.batch_execute(&Am::Hnsw.create_sql(index, table))
        .unwrap();
    let size_sql = format!("SELECT pg_relation_size('{index}')");
    let mut sizes = vec![db.query_one(&size_sql, &[]).unwrap().get::<_, i64>(0)];
    let mut next_id = rows;
    for cycle in 0..5 {
        let label = format!("cycle {}", cycle + 1);
        let before = item_places(&mut db, index);
        // Half the rows at random (a different half each cycle), so every page keeps live
        // tuples next to freed ones.
        let deleted = db
            .execute(
                &format!(
                    "DELETE FROM {table} WHERE hashint4(id + {}) & 1 = 0",
                    1_000_003 * cycle
                ),
                &[],
            )
            .unwrap() as i32;
        db.batch_execute(&format!("VACUUM {table}")).unwrap();
        let after = item_places(&mut db, index);
        let moved: Vec<_> = after
            .iter()
            .filter(|(k, place)| before.get(k).is_some_and(|b| b != *place))
            .take(10)
            .collect();
        assert!(
            moved.is_empty(),
            "{label}: VACUUM moved live index tuples ((block, offset) -> (lp_off, lp_len)), first: {moved:?}"
        );
        let freed = before.len() - after.len();
        assert!(
            freed >= 2 * deleted as usize,
            "{label}: {deleted} rows deleted but only {freed} index items freed"
        );
        check_index(&mut db, index);
        copy_rows(
            &mut db,
            table,
            next_id..next_id + deleted,
            200 + cycle as u64,
            DIM,
        );
        next_id += deleted;
        check_index(&mut db, index);
        let n = assert_index_complete(&mut db, table, index, &label);
        assert_eq!(n, rows as usize, "{label}: rows in the table");
        sizes.push(db.query_one(&size_sql, &[]).unwrap().get(0));
        eprintln!(
            "{label}: {deleted} rows deleted, {freed} items freed without moving the {} left, {deleted} reinserted; index {} bytes",
            after.len(),
            sizes.last().unwrap()
        );
    }
    eprintln!(
        "index bytes: built {}, after each delete-half/vacuum/reinsert cycle {:?}",
        sizes[0],
        &sizes[1..]
    );
    assert!(
        sizes[5] as f64 <= sizes[1] as f64 * 1.10,
        "the index grew from {} to {} bytes over delete-half/vacuum/reinsert cycles: freed slots are not reused",
        sizes[1],
        sizes[5]
    );
    assert_no_crash(&c, "rel-vacuum-slots");
}

// ---------------------------------------------------------------------------------------------
// 3. Base backup plus archived WAL.

#[test]
fn hnsw_backup_and_archive_replay_match_primary() {
    backup_replay(Am::Hnsw, "rel-backup-hnsw", 55486, 55487);
}

#[test]
fn ivfpq_backup_and_archive_replay_match_primary() {
    backup_replay(Am::IvfPq, "rel-backup-ivfpq", 55488, 55489);
}

fn backup_replay(am: Am, name: &str, port: u16, restore_port: u16) {
    let started = Instant::now();
    let archive = default_dir(&format!("{name}-archive"));
    let _ = std::fs::remove_dir_all(&archive);
    std::fs::create_dir_all(&archive).unwrap();
    // The archiver runs as postgres (when we are root; otherwise the directory is ours).
    let _ = std::process::Command::new("chown")
        .arg("postgres:")
        .arg(&archive)
        .status();
    let mut primary = cluster(
        name,
        port,
        &[
            "wal_level = replica".into(),
            "archive_mode = on".into(),
            format!("archive_command = 'cp %p {}/%f'", archive.display()),
        ],
    );
    let conn = primary.conn_string("postgres");
    let mut db = primary.connect("postgres").unwrap();
    create_table(&mut db, "t");
    create_table(&mut db, "t2");
    match am {
        Am::Hnsw => {
            db.batch_execute(&am.create_sql("t_v", "t")).unwrap();
            insert_rows(&mut db, "t", 0..2000, 21);
        }
        Am::IvfPq => {
            insert_rows(&mut db, "t", 0..2000, 21);
            db.batch_execute(&am.create_sql("t_v", "t")).unwrap();
        }
    }
    copy_rows(&mut db, "t2", 0..3000, 22, DIM);

    let mut restored = primary
        .plain_backup(&default_dir(&format!("{name}-restored")), restore_port)
        .expect("pg_basebackup");

    // After the backup: concurrent writes with VACUUM, a new index, deletes, vacuum.
    let existing: Vec<i32> = (0..2000).collect();
    let writes = concurrent_writes(&conn, "t", 3, 400, 23, 100_000, &existing);
    db.batch_execute(&am.create_sql("t2_v", "t2")).unwrap();
    insert_rows(&mut db, "t2", 10_000..10_300, 24);
    db.batch_execute("DELETE FROM t WHERE id % 7 = 0; DELETE FROM t2 WHERE id % 4 = 0")
        .unwrap();
    db.batch_execute("VACUUM t").unwrap();
    db.batch_execute("VACUUM t2").unwrap();
    insert_rows(&mut db, "t", 900_000..900_200, 25);

    // Everything so far into the archive.
    let last: String = db
        .query_one("SELECT pg_walfile_name(pg_current_wal_insert_lsn())", &[])
        .unwrap()
        .get(0);
    db.batch_execute("SELECT pg_switch_wal()").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let row = db
            .query_one(
                "SELECT coalesce(last_archived_wal, ''), failed_count FROM pg_stat_archiver",
                &[],
            )
            .unwrap();
        let archived: String = row.get(0);
        let failed: i64 = row.get(1);
        assert_eq!(
            failed,
            0,
            "archive_command failed: {}",
            primary.server_log()
        );
        if archived.len() == 24 && archived >= last {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{last} was not archived (last {archived})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let qs = queries(40, 78);
    let p_t = results_both(&mut db, am, "t", &qs);
    let p_t2 = results_both(&mut db, am, "t2", &qs);
    let p_ids = (heap_ids(&mut db, "t"), heap_ids(&mut db, "t2"));
    check_index(&mut db, "t_v");
    check_index(&mut db, "t2_v");
    assert_no_crash(&primary, name);
    drop(db);
    primary.stop().unwrap();

    // Restore: the backup replays the archive to its end, then promotes.
    {
        use std::io::Write;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(restored.data_dir.join("postgresql.conf"))
            .unwrap();
        writeln!(conf, "restore_command = 'cp {}/%f %p'", archive.display()).unwrap();
        writeln!(conf, "archive_mode = off").unwrap();
        let signal = restored.data_dir.join("recovery.signal");
        std::fs::write(&signal, "").unwrap();
        let _ = std::process::Command::new("chown")
            .arg("postgres:")
            .arg(&signal)
            .status();
    }
    restored.start().expect("start the restored backup");
    let mut rdb = restored.connect("postgres").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while rdb
        .query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get::<_, bool>(0)
    {
        assert!(
            Instant::now() < deadline,
            "recovery did not reach the end of the archive"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = restored.server_log();
    assert!(
        log.contains("restored log file") && log.contains(&format!("\"{last}\" from archive")),
        "the restore did not replay {last} from the archive:\n{log}"
    );
    assert_eq!(
        (heap_ids(&mut rdb, "t"), heap_ids(&mut rdb, "t2")),
        p_ids,
        "restored tables differ from the primary's"
    );
    assert_eq!(
        results_both(&mut rdb, am, "t", &qs),
        p_t,
        "{am:?}: restored t differs from the primary"
    );
    assert_eq!(
        results_both(&mut rdb, am, "t2", &qs),
        p_t2,
        "{am:?}: restored t2 (indexed after the backup) differs from the primary"
    );
    check_index(&mut rdb, "t_v");
    check_index(&mut rdb, "t2_v");
    let n1 = assert_index_complete(&mut rdb, "t", "t_v", "restored t");
    let n2 = assert_index_complete(&mut rdb, "t2", "t2_v", "restored t2");
    eprintln!(
        "{am:?} backup + archive replay up to {last}: {} inserts, {} updates, {} deletes, {} vacuums and CREATE INDEX after the backup; restored results equal the primary's on {} queries x 2 widths x 2 tables; {n1} + {n2} rows in the indexes ({:.1} s)",
        writes.inserts,
        writes.updates,
        writes.deletes,
        writes.vacuums,
        qs.len(),
        started.elapsed().as_secs_f64()
    );
    assert_no_crash(&restored, &format!("{name}-restored"));
}

// ---------------------------------------------------------------------------------------------
// 4. Low memory, and statement_timeout during a vecx_ivfpq build.

#[test]
fn builds_complete_with_1mb_maintenance_work_mem() {
    let c = cluster("rel-lowmem", 55490, &[]);
    let conn = c.conn_string("postgres");
    let mut db = c.connect("postgres").unwrap();
    create_table(&mut db, "m");
    copy_rows(&mut db, "m", 0..20_000, 31, DIM);
    db.batch_execute("VACUUM ANALYZE m").unwrap();
    for am in [Am::Hnsw, Am::IvfPq] {
        let notices = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut noisy = {
            let notices = notices.clone();
            let mut cfg: postgres::Config = conn.parse().unwrap();
            cfg.notice_callback(move |n| notices.lock().unwrap().push(n.message().to_string()));
            cfg.connect(NoTls).unwrap()
        };
        noisy
            .batch_execute("SET maintenance_work_mem = '1MB'")
            .unwrap();
        let start = Instant::now();
        noisy.batch_execute(&am.create_sql("m_v", "m")).unwrap();
        let took = start.elapsed();
        let got = notices.lock().unwrap().clone();
        assert!(
            got.iter().any(|n| n.contains("maintenance_work_mem")),
            "{am:?}: no NOTICE about maintenance_work_mem: {got:?}"
        );
        check_index(&mut noisy, "m_v");
        let row = noisy
            .query_one(
                "SELECT rows, deleted, pages, bytes FROM vecx_index_stats('m_v')",
                &[],
            )
            .unwrap();
        let (rows, deleted, pages, bytes): (i64, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!(rows, 20_000, "{am:?}: vecx_index_stats rows");
        assert_eq!(deleted, 0);
        assert_eq!(bytes, pages * 8192);
        let n = assert_index_complete(&mut noisy, "m", "m_v", &format!("{am:?} 1MB build"));
        // Self-queries on a sample, reported only: what this test asserts is that the build
        // completes and indexes every row (stats and a scan run to its end count them all). A
        // vecx_hnsw graph finished through the insert path (as here, past the 1MB budget)
        // leaves about 0.2% of these rows unreachable by the graph search at ef_search 400
        // (798/800 first on this seeded data); the exact phase still returns them.
        let sf = self_found(&mut noisy, am, "m", "m_v", "WHERE t.id % 25 = 0");
        eprintln!(
            "{am:?}: CREATE INDEX of 20,000 x {DIM} with maintenance_work_mem = 1MB took {took:?}; NOTICE {:?}; check passed, stats and a full scan count {n} rows; {}",
            got.iter().find(|n| n.contains("maintenance_work_mem")).unwrap(),
            describe(&sf)
        );
        noisy.batch_execute("DROP INDEX m_v").unwrap();
    }
    assert_no_crash(&c, "rel-lowmem");
}

#[test]
fn ivfpq_statement_timeout_cancels_build_and_leaves_no_index() {
    let c = cluster("rel-timeout", 55491, &[]);
    let mut db = c.connect("postgres").unwrap();
    // Big enough that the build takes seconds (training 1,000 lists of 128-d on a sample of
    // 50,000 rows); 100,000 x 64 into 200 lists came to finish inside the timeout.
    db.batch_execute("CREATE TABLE big (id int PRIMARY KEY, v vecx(128))")
        .unwrap();
    copy_rows(&mut db, "big", 0..100_000, 41, 128);
    db.batch_execute("VACUUM ANALYZE big").unwrap();
    db.batch_execute("SET statement_timeout = '500ms'").unwrap();
    let start = Instant::now();
    let err = db
        .batch_execute(
            "CREATE INDEX big_v ON big USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 1000)",
        )
        .expect_err("a build of 100,000 x 128 rows into 1,000 lists finishing within 500 ms");
    let took = start.elapsed();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    // A generous deadline: the build checks for cancel at least every 0.1 s.
    assert!(took < Duration::from_secs(10), "cancel took {took:?}");
    db.batch_execute("RESET statement_timeout").unwrap();
    assert!(
        !index_exists(&mut db, "big_v"),
        "a cancelled build left an index"
    );
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'big'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "only the primary key's index remains");
    // The table is intact and the same build without the timeout succeeds.
    let start = Instant::now();
    db.batch_execute(
        "CREATE INDEX big_v ON big USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 1000)",
    )
    .unwrap();
    let full = start.elapsed();
    check_index(&mut db, "big_v");
    let rows: i64 = db
        .query_one("SELECT rows FROM vecx_index_stats('big_v')", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 100_000);
    eprintln!(
        "ivfpq: statement_timeout 500ms cancelled the build of 100,000 x 128 (lists = 1000) after {took:?} with 57014, no index left; the full build takes {full:?}"
    );
    assert_no_crash(&c, "rel-timeout");
}
