//! Damaged index pages on disk: vecx must answer with `ERROR: index "..." is corrupted`
//! (SQLSTATE XX002), never crash and never return wrong rows, and `REINDEX` must repair it.
//!
//! Each test builds an index, stops the server cleanly, damages the index file with the server
//! down (so the next read comes from disk, not from shared buffers) and starts it again:
//!
//! * **random bytes** (`--data-checksums` clusters): bytes flipped at random offsets of the meta
//!   page and of random other pages. The buffer manager's checksum check rejects the page and
//!   vecx reports it as XX002. `vecx_index_check` (which reads every page) must fail with XX002;
//!   every search must either fail with XX002 or return exactly what it returned before the
//!   damage (it did not touch the damaged page); a damaged meta page fails every search.
//! * **structure** (clusters without data checksums, where nothing but vecx's own checks stands
//!   between a damaged page and a wrong answer): the page id in a page's special area, and the
//!   meta page's magic. These are the checks vecx makes on every page it reads.
//!
//! Without data checksums a flip inside a vector's floats is not detectable by any reader (it is
//! a different, valid vector); PostgreSQL's own indexes have the same limit. The README says so
//! and recommends `initdb --data-checksums`.
//!
//! Needs PostgreSQL 15 with the current vecx build installed (`scripts/test.sh` does that).
//! Run: `cargo test --release -p vecx-bench --test corruption -- --test-threads 1`.
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};

use postgres::error::SqlState;
use postgres::Client;
use vecx_bench::cluster::{default_dir, Cluster};
use vecx_bench::dataset::Rng;

const BLCKSZ: u64 = 8192;
const ROWS: i32 = 3000;
const QUERIES: i32 = 40;

#[derive(Clone, Copy, Debug)]
enum Am {
    Hnsw,
    IvfPq,
}

impl Am {
    fn create(self) -> &'static str {
        match self {
            Am::Hnsw => "CREATE INDEX t_v ON t USING vecx_hnsw (v vecx_l2_ops)",
            Am::IvfPq => "CREATE INDEX t_v ON t USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 16)",
        }
    }
}

fn cluster(name: &str, port: u16, checksums: bool) -> Cluster {
    let initdb: &[&str] = if checksums {
        &["--data-checksums"]
    } else {
        &[]
    };
    let mut c = Cluster::init_with(
        &default_dir(name),
        port,
        // No autovacuum: nothing but the test may read the damaged index.
        &["autovacuum = off".into(), "shared_buffers = '32MB'".into()],
        initdb,
    )
    .expect("initdb");
    c.start().expect("start");
    let mut db = c.connect("postgres").unwrap();
    db.batch_execute("CREATE EXTENSION vecx")
        .expect("CREATE EXTENSION vecx (is the extension installed?)");
    c
}

/// 3,000 rows of 32 dimensions in 8 clusters (seeded), and the index.
fn load(db: &mut Client, am: Am) {
    db.batch_execute(&format!(
        "SELECT setseed(0.42);
         CREATE TABLE t (id int PRIMARY KEY, v vecx(32));
         INSERT INTO t
           SELECT i, (SELECT array_agg((i % 8) * 3 + random() + 0 * d ORDER BY d)::real[] FROM generate_series(1, 32) d)::vecx
           FROM generate_series(1, {ROWS}) i;
         {}",
        am.create()
    ))
    .unwrap();
}

/// Top-10 ids through the index for `QUERIES` fixed query rows (each row's own vector).
fn search(db: &mut Client, q: i32) -> Result<Vec<i32>, postgres::Error> {
    db.batch_execute("SET enable_seqscan = off")?;
    let rows = db.query(
        "SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = $1) LIMIT 10",
        &[&q],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn exact(db: &mut Client, q: i32) -> Vec<i32> {
    db.batch_execute("SET enable_indexscan = off; SET enable_seqscan = on")
        .unwrap();
    let rows = db
        .query(
            "SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = $1), id LIMIT 10",
            &[&q],
        )
        .unwrap();
    db.batch_execute("RESET enable_indexscan").unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

fn query_ids() -> impl Iterator<Item = i32> {
    (0..QUERIES).map(|i| 1 + i * (ROWS / QUERIES))
}

/// The index file (main fork) and its size in blocks, after a checkpoint.
fn index_file(c: &Cluster, db: &mut Client) -> (std::path::PathBuf, u64) {
    db.batch_execute("CHECKPOINT").unwrap();
    let row = db
        .query_one(
            "SELECT pg_relation_filepath('t_v'), pg_relation_size('t_v')",
            &[],
        )
        .unwrap();
    let path: String = row.get(0);
    let size: i64 = row.get(1);
    (c.data_dir.join(path), size as u64 / BLCKSZ)
}

/// Applies `damage` to block `blkno` of `file` (the server must be stopped).
fn damage_block(file: &std::path::Path, blkno: u64, damage: impl FnOnce(&mut [u8])) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut page = vec![0u8; BLCKSZ as usize];
    f.seek(SeekFrom::Start(blkno * BLCKSZ)).unwrap();
    f.read_exact(&mut page).unwrap();
    let before = page.clone();
    damage(&mut page);
    assert_ne!(before, page, "the damage must change the page");
    f.seek(SeekFrom::Start(blkno * BLCKSZ)).unwrap();
    f.write_all(&page).unwrap();
    f.sync_all().unwrap();
}

/// Flips `n` random bytes of the page (each XORed with a non-zero value).
fn flip_bytes(rng: &mut Rng, n: usize) -> impl FnOnce(&mut [u8]) + '_ {
    move |page| {
        for _ in 0..n {
            let at = (rng.next_u64() % BLCKSZ) as usize;
            page[at] ^= 1 + (rng.next_u64() % 255) as u8;
        }
    }
}

fn assert_corrupted(result: Result<impl std::fmt::Debug, postgres::Error>, what: &str) {
    match result {
        Ok(v) => panic!("{what}: expected ERROR index is corrupted, got {v:?}"),
        Err(e) => {
            assert_eq!(
                e.code(),
                Some(&SqlState::INDEX_CORRUPTED),
                "{what}: wrong error {e}"
            );
            let msg = e.as_db_error().map(|d| d.message().to_string());
            assert!(
                msg.as_deref()
                    .is_some_and(|m| m.contains("t_v") && m.contains("is corrupted")),
                "{what}: {msg:?}"
            );
        }
    }
}

fn check(db: &mut Client) -> Result<bool, postgres::Error> {
    Ok(db.query_one("SELECT vecx_index_check('t_v')", &[])?.get(0))
}

/// Outcome of one damaged block: searches that failed cleanly and that were unaffected.
struct Round {
    failed: usize,
    unaffected: usize,
}

/// Damages `blkno`, restarts, and checks that every reader either reports XX002 or returns
/// exactly the pre-damage answer; then REINDEX and verifies the repaired index.
fn damage_and_repair(
    c: &mut Cluster,
    db: Client,
    before: &[Vec<i32>],
    blkno: u64,
    damage: impl FnOnce(&mut [u8]),
    every_search_fails: bool,
) -> (Client, Round) {
    let mut db = db;
    let (file, _) = index_file(c, &mut db);
    drop(db);
    c.stop().unwrap();
    damage_block(&file, blkno, damage);
    c.start().unwrap();
    let mut db = c.connect("postgres").unwrap();
    assert_corrupted(check(&mut db), &format!("vecx_index_check, block {blkno}"));
    let mut round = Round {
        failed: 0,
        unaffected: 0,
    };
    for (i, q) in query_ids().enumerate() {
        match search(&mut db, q) {
            Ok(ids) => {
                assert!(
                    !every_search_fails,
                    "query {q} succeeded with block {blkno} damaged"
                );
                assert_eq!(
                    ids, before[i],
                    "query {q}: a different answer, not an error"
                );
                round.unaffected += 1;
            }
            Err(e) => {
                assert_corrupted(Err::<(), _>(e), &format!("query {q}, block {blkno}"));
                round.failed += 1;
            }
        }
    }
    // REINDEX rebuilds from the table and never reads the damaged pages.
    db.batch_execute("REINDEX INDEX t_v").unwrap();
    assert!(check(&mut db).unwrap());
    let mut hits = 0;
    for q in query_ids() {
        let got = search(&mut db, q).unwrap();
        let want = exact(&mut db, q);
        hits += got.iter().filter(|id| want.contains(id)).count();
    }
    let recall = hits as f64 / (10 * QUERIES) as f64;
    assert!(recall >= 0.9, "recall after REINDEX {recall}");
    (db, round)
}

fn random_damage(am: Am, name: &str, port: u16) {
    let mut c = cluster(name, port, true);
    let mut db = c.connect("postgres").unwrap();
    load(&mut db, am);
    let before: Vec<Vec<i32>> = query_ids().map(|q| search(&mut db, q).unwrap()).collect();
    let mut rng = Rng::new(2024);
    let mut detected = 0;
    let mut searches_failed = 0;
    let mut searches_unaffected = 0;
    // The meta page, then five random other pages, a few bytes each.
    for round in 0..6 {
        let (_, nblocks) = index_file(&c, &mut db);
        let blkno = if round == 0 {
            0
        } else {
            1 + rng.next_u64() % (nblocks - 1)
        };
        let n = 1 + (rng.next_u64() % 8) as usize;
        let mut flip_rng = Rng::new(rng.next_u64());
        let before_now: Vec<Vec<i32>> = query_ids().map(|q| search(&mut db, q).unwrap()).collect();
        if round == 0 {
            assert_eq!(before_now, before);
        }
        let (next, r) = damage_and_repair(
            &mut c,
            db,
            &before_now,
            blkno,
            flip_bytes(&mut flip_rng, n),
            blkno == 0,
        );
        db = next;
        detected += 1;
        searches_failed += r.failed;
        searches_unaffected += r.unaffected;
        eprintln!(
            "{am:?}: block {blkno} of {nblocks}, {n} bytes flipped: check XX002; {} of {QUERIES} searches XX002, {} unaffected; REINDEX repaired",
            r.failed, r.unaffected
        );
    }
    eprintln!("{am:?} random damage (data checksums): {detected} corruptions detected, {searches_failed} searches failed cleanly, {searches_unaffected} unaffected, 0 wrong answers");
    assert!(!c.server_log().contains("terminated by signal"));
}

fn structural_damage(am: Am, name: &str, port: u16) {
    let mut c = cluster(name, port, false);
    let mut db = c.connect("postgres").unwrap();
    load(&mut db, am);
    let mut rng = Rng::new(7);
    // The page id in the special area of a random page (its last two bytes).
    let (_, nblocks) = index_file(&c, &mut db);
    let blkno = 1 + rng.next_u64() % (nblocks - 1);
    let before: Vec<Vec<i32>> = query_ids().map(|q| search(&mut db, q).unwrap()).collect();
    let (next, r) = damage_and_repair(
        &mut c,
        db,
        &before,
        blkno,
        |page| page[BLCKSZ as usize - 1] ^= 0x5a,
        false,
    );
    db = next;
    eprintln!(
        "{am:?}: page id of block {blkno} damaged (no checksums): check XX002; {} searches XX002, {} unaffected",
        r.failed, r.unaffected
    );
    // The meta page's magic (the first bytes after the 24-byte page header): every search
    // reads the meta page, so every search fails.
    let before: Vec<Vec<i32>> = query_ids().map(|q| search(&mut db, q).unwrap()).collect();
    let (_db, r) = damage_and_repair(&mut c, db, &before, 0, |page| page[24] ^= 0xff, true);
    eprintln!(
        "{am:?}: meta page magic damaged (no checksums): {} searches XX002",
        r.failed
    );
    assert!(!c.server_log().contains("terminated by signal"));
}

#[test]
fn hnsw_random_damage_is_reported_and_reindex_repairs() {
    random_damage(Am::Hnsw, "corrupt-hnsw", 55475);
}

#[test]
fn ivfpq_random_damage_is_reported_and_reindex_repairs() {
    random_damage(Am::IvfPq, "corrupt-ivfpq", 55476);
}

#[test]
fn hnsw_structural_damage_is_reported_without_checksums() {
    structural_damage(Am::Hnsw, "corrupt-hnsw-nosum", 55477);
}

#[test]
fn ivfpq_structural_damage_is_reported_without_checksums() {
    structural_damage(Am::IvfPq, "corrupt-ivfpq-nosum", 55478);
}
