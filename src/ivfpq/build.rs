//! CREATE INDEX for `vecx_ivfpq`.
//!
//! 1. **Load**: `table_index_build_scan` hands every live row to [`load_callback`], which keeps
//!    its heap TID and vector (normalised for cosine) while they fit in `maintenance_work_mem`.
//!    Past that, it keeps a uniform reservoir sample for training and counts the rest.
//! 2. **Train**: coarse centroids by k-means (k-means++ seeding, Lloyd iterations), then PQ
//!    codebooks by k-means on the residuals, one sub-space at a time, all from a sample of at most
//!    50 rows per list (between [`TRAIN_ROWS_MIN`] and [`TRAIN_ROWS_MAX`]). Each bounded step
//!    (a batch of seeding picks, a slice of a Lloyd iteration) runs on `vecx.build_threads` rayon
//!    threads while the backend thread waits, then checks for interrupts and reports progress:
//!    cancel and statement_timeout stop the build between steps.
//! 3. **Encode**: every row's list and code, in parallel chunks. When the training sample was
//!    every row (tables up to [`TRAIN_ROWS_MIN`] rows), the k-means' last assignment gives the
//!    lists and only the codes are computed. Rows that did not fit in memory are read again by
//!    a second table scan and encoded chunk by chunk.
//! 4. **Write**: the meta page, the quantizer (bincode, cut into page-sized chunks), the list
//!    directory, then each list's entries on consecutive pages, all without WAL, then one
//!    `log_newpage_range`.
//!
//! On an empty table there is nothing to train on: the index starts untrained (one list, no
//! codes, scans rank by exact distance) and a NOTICE recommends a REINDEX once rows are loaded.
//! With fewer rows than `lists`, the index gets one list per row.
use std::ffi::c_void;

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{PgMemoryContexts, PgSqlErrorCode};
use vecx_core::ivfpq::format::{self, DirEntry, Meta, Quantizer, Tid, DIR_ENTRY_LEN};
use vecx_core::ivfpq::search::Kind;
use vecx_core::ivfpq::train::{self, TrainStep, Training};
use vecx_core::ivfpq::{default_lists, default_pq_m, Rng};

use super::options;
use super::store::{write_meta_page, DIR_PER_PAGE};
use crate::error::raise_code;
use crate::hnsw::build::{check_dims, index_metric, tid_of, typmod_dims};
use crate::hnsw::graph::metric_code;
use crate::pages::{self, Buf, CONTENTS_CAPACITY};

const PHASE_LOAD: i64 = 2;
const PHASE_CENTROIDS: i64 = 3;
const PHASE_CODEBOOKS: i64 = 4;
const PHASE_ENCODE: i64 = 5;
const PHASE_WRITE: i64 = 6;

/// Rows k-means and PQ training look at: 50 per list, within these bounds.
pub const TRAIN_ROWS_MIN: usize = 20_000;
pub const TRAIN_ROWS_MAX: usize = 100_000;
/// Work done between two interrupt checks while training.
const STEP_BUDGET: std::time::Duration = std::time::Duration::from_millis(100);
/// Rows encoded per parallel chunk.
const CHUNK: usize = 8192;

#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name: &'static std::ffi::CStr = match phase {
        PHASE_LOAD => c"loading tuples",
        PHASE_CENTROIDS => c"training centroids",
        PHASE_CODEBOOKS => c"training codebooks",
        PHASE_ENCODE => c"encoding tuples",
        PHASE_WRITE => c"writing pages",
        _ => return std::ptr::null_mut(),
    };
    name.as_ptr() as *mut std::ffi::c_char
}

use crate::am::{progress, with_vector};

/// The scoring kind of the index's operator class, and whether vectors are normalised.
pub fn kind_of(index: pg_sys::Relation) -> (vecx_core::distance::Metric, Kind, bool) {
    let metric = index_metric(index);
    match Kind::of(metric) {
        Some((k, n)) => (metric, k, n),
        None => raise_code(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("vecx_ivfpq does not support the {metric:?} distance"),
            None,
        ),
    }
}

/// The heap attribute number of the indexed column (re-ranking reads it from the table).
pub fn heap_attnum(index: pg_sys::Relation) -> i16 {
    // SAFETY: rd_index of an open index; indkey has at least one entry.
    let attnum = unsafe { *(*(*index).rd_index).indkey.values.as_ptr() };
    if attnum <= 0 {
        raise_code(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "vecx_ivfpq indexes a table column, not an expression",
            Some("Re-ranking reads each candidate's vector from the table column.".into()),
        );
    }
    attnum
}

/// Rows of `dims` dimensions the load keeps in memory: half of `budget` bytes (the other half
/// is for training), and never fewer than 1,024 (the least k-means trains well on).
fn sample_limit(budget: usize, dims: usize) -> usize {
    (budget / 2 / (dims * 4 + 16)).max(1024)
}

struct LoadState {
    dims: Option<usize>,
    normalize: bool,
    tids: Vec<Tid>,
    rows: Vec<f32>,
    /// Row capacity of `rows` within maintenance_work_mem (set again at the first row, from its
    /// dimensions).
    limit: usize,
    budget: usize,
    /// Rows seen (non-null), for reservoir sampling once `limit` is reached.
    seen: usize,
    overflow: bool,
    heap_tuples: f64,
    rng: Rng,
    tmp: PgMemoryContexts,
}

#[pg_guard]
unsafe extern "C-unwind" fn load_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut c_void,
) {
    // SAFETY: state is our LoadState; one value per row (single-column index); tid is valid.
    unsafe {
        let st = &mut *(state as *mut LoadState);
        st.heap_tuples += 1.0;
        if *isnull {
            return;
        }
        let datum = *values;
        let tid = tid_of(&*tid);
        st.seen += 1;
        // Where the row goes: appended while everything fits; past that `rows` is a reservoir
        // sample for training (a second scan encodes every row), so the row replaces a random
        // slot, or is only checked.
        let slot = if st.tids.len() < st.limit && !st.overflow {
            None
        } else {
            st.overflow = true;
            let j = (st.rng.next_u64() % st.seen as u64) as usize;
            Some((j < st.limit).then_some(j))
        };
        let first = st.seen == 1;
        let d = with_vector(&mut st.tmp, datum, |v| {
            if let Some(d) = st.dims {
                check_dims(d, v.len());
            }
            let d = v.len();
            if first {
                // The column's typmod may not have said: the budget is per row of this size.
                st.limit = sample_limit(st.budget, d);
            }
            let (normalize, rows) = (st.normalize, &mut st.rows);
            let at = match slot {
                None => {
                    rows.extend_from_slice(v);
                    rows.len() - d
                }
                Some(Some(j)) => {
                    rows[j * d..(j + 1) * d].copy_from_slice(v);
                    j * d
                }
                Some(None) => return d,
            };
            if normalize {
                train::normalize(&mut rows[at..at + d]);
            }
            d
        });
        st.dims = Some(d);
        if slot.is_none() {
            st.tids.push(tid);
            if st.tids.len().is_multiple_of(4096) {
                progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, st.tids.len() as i64);
            }
        }
    }
}

/// Runs one bounded piece of parallel work on the build's rayon pool, on another thread, while
/// this (backend) thread waits; then checks for interrupts.
fn on_workers<T: Send>(pool: &Option<rayon::ThreadPool>, f: impl FnOnce() -> T + Send) -> T {
    let out = std::thread::scope(|s| {
        s.spawn(|| match pool {
            Some(p) => p.install(f),
            None => f(),
        })
        .join()
    });
    pgrx::check_for_interrupts!();
    match out {
        Ok(v) => v,
        Err(_) => raise_code(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "vecx_ivfpq build thread failed",
            None,
        ),
    }
}

/// Entries of every list: packed (heap TID, tag, code, term) bytes.
struct Lists {
    entry_len: usize,
    kind: Kind,
    bytes: Vec<Vec<u8>>,
}

impl Lists {
    fn add(&mut self, list: u32, tid: Tid, code: &[u8]) {
        let b = &mut self.bytes[list as usize];
        let at = b.len();
        b.resize(at + self.entry_len, 0);
        format::encode_header(tid, list, &mut b[at..]);
        b[at + format::HEADER_LEN..].copy_from_slice(code);
    }
}

/// Encodes `rows` (prepared, one per TID) into their lists, CHUNK rows per hand-off to the
/// workers; `known`: the list of every row when the training already assigned them.
fn encode_into(
    pool: &Option<rayon::ThreadPool>,
    q: &Quantizer,
    tids: &[Tid],
    rows: &[f32],
    known: Option<&[u32]>,
    lists: &mut Lists,
) {
    let len = lists.entry_len - format::HEADER_LEN;
    let kind = lists.kind;
    for (n, (ct, cr)) in tids
        .chunks(CHUNK)
        .zip(rows.chunks(CHUNK * q.dims))
        .enumerate()
    {
        let (ls, codes) = on_workers(pool, || match known {
            Some(all) => {
                let ls = all[n * CHUNK..n * CHUNK + ct.len()].to_vec();
                let codes = train::encode_all_in(q, cr, &ls, kind);
                (ls, codes)
            }
            None => train::encode_all(q, cr, kind),
        });
        for (i, t) in ct.iter().enumerate() {
            lists.add(ls[i], *t, &codes[i * len..(i + 1) * len]);
        }
    }
}

struct EncodeState<'a> {
    pool: &'a Option<rayon::ThreadPool>,
    q: &'a Quantizer,
    normalize: bool,
    lists: &'a mut Lists,
    tids: Vec<Tid>,
    rows: Vec<f32>,
    done: usize,
    tmp: PgMemoryContexts,
}

impl EncodeState<'_> {
    fn flush(&mut self) {
        encode_into(self.pool, self.q, &self.tids, &self.rows, None, self.lists);
        self.done += self.tids.len();
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, self.done as i64);
        self.tids.clear();
        self.rows.clear();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn encode_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut c_void,
) {
    // SAFETY: as load_callback, with an EncodeState.
    unsafe {
        let st = &mut *(state as *mut EncodeState);
        if *isnull {
            return;
        }
        let datum = *values;
        let (dims, normalize, rows) = (st.q.dims, st.normalize, &mut st.rows);
        with_vector(&mut st.tmp, datum, |v| {
            check_dims(dims, v.len());
            rows.extend_from_slice(v);
        });
        if normalize {
            let at = rows.len() - dims;
            train::normalize(&mut rows[at..]);
        }
        st.tids.push(tid_of(&*tid));
        if st.tids.len() == CHUNK {
            st.flush();
        }
    }
}

/// A build id unlikely to repeat for the same index OID (see the quantizer cache).
fn new_build_id(index: pg_sys::Relation) -> u32 {
    // SAFETY: reading the clock and the relation OID.
    let (now, oid) = unsafe {
        (
            pg_sys::GetCurrentTimestamp() as u64,
            (*index).rd_id.to_u32() as u64,
        )
    };
    let mut r = Rng::new(now ^ (oid << 32));
    (r.next_u64() as u32).max(1)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    let (metric, kind, normalize) = kind_of(index);
    heap_attnum(index);
    let (lists_opt, pq_m_opt, bits) = options::of_index(index);
    let typmod = typmod_dims(index);
    if let (Some(d), true) = (typmod, pq_m_opt > 0) {
        options::check_pq_m(pq_m_opt, d);
    }
    // SAFETY: maintenance_work_mem is a server GUC (kB); rd_id of an open relation.
    let (budget, oid) = unsafe {
        (
            pg_sys::maintenance_work_mem as usize * 1024,
            (*index).rd_id.to_u32() as u64,
        )
    };
    let mut st = LoadState {
        dims: typmod,
        normalize,
        tids: Vec::new(),
        rows: Vec::new(),
        limit: sample_limit(budget, typmod.unwrap_or(128)),
        budget,
        seen: 0,
        overflow: false,
        heap_tuples: 0.0,
        rng: Rng::new(oid),
        tmp: PgMemoryContexts::new("vecx_ivfpq build tuple"),
    };
    let started = std::time::Instant::now();
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    // SAFETY: a standard index build scan calling our callback with our state.
    unsafe {
        pg_sys::table_index_build_scan(
            heap,
            index,
            index_info,
            true,
            true,
            Some(load_callback),
            &mut st as *mut LoadState as *mut c_void,
            std::ptr::null_mut(),
        );
    }
    let dims = st.dims.unwrap_or(0);
    let rows = st.seen;
    let loaded = started.elapsed();
    let build_id = new_build_id(index);
    let threads = crate::gucs::build_threads();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .ok();

    let mut trained = loaded;
    let (meta, quantizer, lists) = if rows == 0 {
        pgrx::notice!("vecx_ivfpq index built on an empty table: rows inserted now are kept in one list and searched by exact distance; REINDEX once the table has data to train the lists and codes");
        let meta = Meta {
            dims: dims as u32,
            metric: metric_code(metric),
            lists: 1,
            pq_m: pq_m_opt as u32,
            pq_bits: bits as u32,
            trained: 0,
            build_id,
            ..Default::default()
        };
        let lists = Lists {
            entry_len: meta.entry_len(),
            kind,
            bytes: vec![Vec::new()],
        };
        (meta, None, lists)
    } else {
        let pq_m = if pq_m_opt == 0 {
            default_pq_m(dims)
        } else {
            pq_m_opt
        };
        options::check_pq_m(pq_m, dims);
        let wanted = if lists_opt == 0 {
            default_lists(rows)
        } else {
            lists_opt
        };
        // Training sample: 50 rows per list (at least TRAIN_ROWS_MIN, at most TRAIN_ROWS_MAX),
        // drawn from the rows kept in memory.
        let kept = st.rows.len() / dims;
        let cap = (50 * wanted)
            .clamp(TRAIN_ROWS_MIN, TRAIN_ROWS_MAX)
            .min(kept);
        // A random draw (partial Fisher-Yates), also when it is every row: heap order may be
        // clustered, and PQ training uses a prefix of the sample.
        let mut idx: Vec<usize> = (0..kept).collect();
        let mut r = Rng::new(oid ^ 0x5eed);
        for i in 0..cap {
            let j = i + (r.next_u64() % (kept - i) as u64) as usize;
            idx.swap(i, j);
        }
        let sample: Vec<f32> = idx[..cap]
            .iter()
            .flat_map(|&i| st.rows[i * dims..(i + 1) * dims].iter().copied())
            .collect();
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_CENTROIDS);
        let mut training = Training::new(sample, dims, wanted, pq_m, bits, oid);
        let mut phase = PHASE_CENTROIDS;
        loop {
            // Steps for up to STEP_BUDGET at a time, so the cancel check comes often and thread
            // hand-offs stay rare.
            let s = on_workers(&pool, || {
                let t0 = std::time::Instant::now();
                loop {
                    let s = training.step();
                    if s == TrainStep::Done || t0.elapsed() >= STEP_BUDGET {
                        break s;
                    }
                }
            });
            match s {
                TrainStep::Coarse(vecx_core::ivfpq::kmeans::Step::Seeding { done, total }) => {
                    progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, total as i64);
                    progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, done as i64);
                }
                TrainStep::Coarse(_) => {}
                TrainStep::Codebooks { subspace, m } => {
                    if phase != PHASE_CODEBOOKS {
                        phase = PHASE_CODEBOOKS;
                        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_CODEBOOKS);
                        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, m as i64);
                    }
                    progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, subspace as i64);
                }
                TrainStep::Done => break,
            }
        }
        let (q, sample_lists) = training.finish_with_lists();
        // When the sample is every row kept (tables up to TRAIN_ROWS_MIN rows), the k-means
        // already knows each row's list: the encoding skips assigning them again.
        let row_lists = (cap == kept).then(|| {
            let mut l = vec![0u32; kept];
            for (&row, &list) in idx[..cap].iter().zip(&sample_lists) {
                l[row] = list;
            }
            l
        });
        trained = started.elapsed();
        let meta = Meta {
            dims: dims as u32,
            metric: metric_code(metric),
            lists: q.lists as u32,
            pq_m: pq_m as u32,
            pq_bits: bits as u32,
            trained: 1,
            build_id,
            ..Default::default()
        };
        let mut lists = Lists {
            entry_len: meta.entry_len(),
            kind,
            bytes: vec![Vec::new(); q.lists],
        };
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_ENCODE);
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, rows as i64);
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, 0);
        if !st.overflow {
            encode_into(
                &pool,
                &q,
                &st.tids,
                &st.rows,
                row_lists.as_deref(),
                &mut lists,
            );
        } else {
            pgrx::notice!("vecx_ivfpq: the table does not fit in maintenance_work_mem; training used a sample of {kept} rows and a second table scan encodes all {rows}");
            st.rows = Vec::new();
            st.tids = Vec::new();
            let mut es = EncodeState {
                pool: &pool,
                q: &q,
                normalize,
                lists: &mut lists,
                tids: Vec::with_capacity(CHUNK),
                rows: Vec::with_capacity(CHUNK * dims),
                done: 0,
                tmp: PgMemoryContexts::new("vecx_ivfpq encode tuple"),
            };
            // SAFETY: as above, with the encoding callback.
            unsafe {
                pg_sys::table_index_build_scan(
                    heap,
                    index,
                    index_info,
                    true,
                    false,
                    Some(encode_callback),
                    &mut es as *mut EncodeState as *mut c_void,
                    std::ptr::null_mut(),
                );
            }
            es.flush();
        }
        (meta, Some(q), lists)
    };
    let encoded = started.elapsed();
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_WRITE);
    let nblocks = write_pages(index, meta, quantizer.as_ref(), &lists);
    if pages::needs_wal(index) {
        // SAFETY: every page of the main fork was written by us in this transaction.
        unsafe {
            pg_sys::log_newpage_range(index, pg_sys::ForkNumber::MAIN_FORKNUM, 0, nblocks, true)
        };
    }
    let indexed: usize = lists.bytes.iter().map(|b| b.len() / lists.entry_len).sum();
    let secs = |d: std::time::Duration| d.as_secs_f64();
    pgrx::debug1!(
        "vecx_ivfpq build: {rows} rows, {} lists; load {:.3} s, train {:.3} s, encode {:.3} s, write {:.3} s",
        lists.bytes.len(),
        secs(loaded),
        secs(trained.saturating_sub(loaded)),
        secs(encoded.saturating_sub(trained.max(loaded))),
        secs(started.elapsed().saturating_sub(encoded))
    );
    // SAFETY: palloc0 of the result struct the caller expects.
    unsafe {
        let result = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBuildResult>())
            as *mut pg_sys::IndexBuildResult;
        (*result).heap_tuples = st.heap_tuples;
        (*result).index_tuples = indexed as f64;
        result
    }
}

/// Percent of a list page CREATE INDEX fills.
const BUILD_FILL: usize = 90;
/// Pages of entries a growth group's lists hold at build (see `format`'s module comment): the
/// more, the steadier a group's total across delete/reinsert cycles, the more entries of other
/// lists a scan of a grown list skips.
const GROUP_PAGES: usize = 4;

/// Writes every page in block order (no WAL); returns the block count.
fn write_pages(
    index: pg_sys::Relation,
    mut meta: Meta,
    q: Option<&Quantizer>,
    lists: &Lists,
) -> u32 {
    let blob = q.map(|q| q.to_bytes()).unwrap_or_default();
    let qpages = blob.len().div_ceil(CONTENTS_CAPACITY);
    let dpages = (meta.lists as usize).div_ceil(DIR_PER_PAGE);
    // Pages are filled to 90% (as a B-tree's leaves): lists sharing a page can each take back
    // some rows after a vacuum, or grow a little, before one of them needs a page of its own.
    let per_page =
        (CONTENTS_CAPACITY * BUILD_FILL / 100 / lists.entry_len).max(1) * lists.entry_len;
    meta.quantizer_first = 1;
    meta.quantizer_pages = qpages as u32;
    meta.quantizer_len = blob.len() as u32;
    meta.dir_first = 1 + qpages as u32;
    meta.dir_pages = dpages as u32;
    // Lists follow the directory, packed one after the other: list l's range is the pages its
    // first and last entries land on, shared with its neighbours at both ends (an empty list has
    // no range). Pages are filled whole; inserts start each list's growth chain.
    let first_list_page = meta.dir_first + dpages as u32;
    let mut dir = Vec::with_capacity(lists.bytes.len());
    let mut at = 0usize;
    for b in &lists.bytes {
        let mut d = DirEntry {
            count: (b.len() / lists.entry_len) as u32,
            ..Default::default()
        };
        if !b.is_empty() {
            d.first = first_list_page + (at / per_page) as u32;
            d.last = first_list_page + ((at + b.len() - 1) / per_page) as u32;
            d.hint = d.last;
        }
        at += b.len();
        dir.push(d);
    }
    // An index of no rows still gets one (empty) list page, list 0's, for the first inserts.
    let list_pages = at.div_ceil(per_page).max(1);
    // Growth groups of about GROUP_PAGES pages of entries (1 list each when lists are that long).
    let nlists = lists.bytes.len().max(1);
    meta.group = (GROUP_PAGES * per_page * nlists / at.max(1)).clamp(1, nlists) as u32;
    if at == 0 {
        dir[0].first = first_list_page;
        dir[0].last = first_list_page;
        dir[0].hint = first_list_page;
    }
    let write = |page_type: u16, fill: &dyn Fn(pg_sys::Page)| {
        let buf = Buf::extend(index, pg_sys::ForkNumber::MAIN_FORKNUM);
        pages::init_page(buf.page(), page_type);
        fill(buf.page());
        buf.mark_dirty();
    };
    write(pages::PAGE_META, &|p| write_meta_page(p, &meta));
    for chunk in blob.chunks(CONTENTS_CAPACITY) {
        write(pages::PAGE_IVF_QUANTIZER, &|p| {
            pages::contents(p, chunk.len()).copy_from_slice(chunk);
            pages::set_contents_len(p, chunk.len());
        });
    }
    for dchunk in dir.chunks(DIR_PER_PAGE) {
        write(pages::PAGE_IVF_DIR, &|p| {
            let c = pages::contents(p, CONTENTS_CAPACITY);
            for (i, d) in dchunk.iter().enumerate() {
                d.encode(&mut c[i * DIR_ENTRY_LEN..(i + 1) * DIR_ENTRY_LEN]);
            }
            pages::set_contents_len(p, dchunk.len() * DIR_ENTRY_LEN);
        });
    }
    // The lists' bytes as one stream cut into pages.
    let mut chunks = lists.bytes.iter().flat_map(|b| b.chunks(lists.entry_len));
    let mut page = Vec::with_capacity(per_page);
    for _ in 0..list_pages {
        pgrx::check_for_interrupts!();
        page.clear();
        for e in chunks.by_ref() {
            page.extend_from_slice(e);
            if page.len() == per_page {
                break;
            }
        }
        write(pages::PAGE_IVF_LIST, &|p| {
            pages::contents(p, page.len()).copy_from_slice(&page);
            pages::set_contents_len(p, page.len());
        });
    }
    first_list_page + list_pages as u32
}

/// Sets the `next` link in a page's opaque area.
pub fn set_next(page: pg_sys::Page, next: u32) {
    // SAFETY: page is an initialised vecx page (opaque area of OPAQUE_SIZE bytes).
    unsafe {
        let o = pg_sys::PageGetSpecialPointer(page) as *mut pages::Opaque;
        (*o).next = next;
    }
}

/// The init fork of an unlogged index: an untrained, empty index (meta, directory, one list).
#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    let (metric, _, _) = kind_of(index);
    let (_, pq_m, bits) = options::of_index(index);
    let meta = Meta {
        dims: typmod_dims(index).unwrap_or(0) as u32,
        metric: metric_code(metric),
        lists: 1,
        pq_m: pq_m as u32,
        pq_bits: bits as u32,
        trained: 0,
        build_id: new_build_id(index),
        dir_first: 1,
        dir_pages: 1,
        group: 1,
        ..Default::default()
    };
    let dir = DirEntry {
        first: 2,
        last: 2,
        hint: 2,
        ..Default::default()
    };
    for (i, page_type) in [pages::PAGE_META, pages::PAGE_IVF_DIR, pages::PAGE_IVF_LIST]
        .into_iter()
        .enumerate()
    {
        let buf = Buf::extend(index, pg_sys::ForkNumber::INIT_FORKNUM);
        let p = buf.page();
        pages::init_page(p, page_type);
        match i {
            0 => write_meta_page(p, &meta),
            1 => {
                dir.encode(pages::contents(p, DIR_ENTRY_LEN));
                pages::set_contents_len(p, DIR_ENTRY_LEN);
            }
            _ => {}
        }
        buf.mark_dirty();
        // SAFETY: the buffer is initialised, dirty and exclusively locked.
        unsafe { pg_sys::log_newpage_buffer(buf.buffer, true) };
    }
}
