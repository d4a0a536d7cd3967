//! Index scans of `vecx_ivfpq`: `ORDER BY embedding <-> $1 LIMIT k`, streamed.
//!
//! 1. **Window**: the query is compared with every centroid; the `vecx.ivfpq_probes` nearest
//!    lists are read and every entry scored by ADC with one lookup table per query (plus, per
//!    list, the query's distance to the centroid and, for L2, each entry's stored term; see
//!    `vecx_core::ivfpq::search`). The best `vecx.ivfpq_rerank * 10` candidates are re-ranked by
//!    exact distance, reading each candidate's vector from the table through the scan's
//!    snapshot (rows invisible to it are dropped here), and the better half of them is returned
//!    in exact distance order (the worse half is where candidates the codes ranked lower would
//!    beat them): with the default rerank = 4, 40 candidates serve a `LIMIT` of up to 20.
//!    With `vecx.ivfpq_rerank = 0` every candidate of the probed lists is returned in code
//!    order instead (approximate distance order, no table reads).
//! 2. **Exact**: if the executor still wants rows, its filter is selective (or LIMIT is large).
//!    The scan then reads every entry not yet returned, in all lists, re-ranks them by exact
//!    distance and returns them in order: a filtered query returns min(k, matching rows) rows
//!    unless `vecx.max_scan_tuples` caps the work.
//! 3. **Late**: entries closer than a row returned in the window that the window missed come
//!    last (never lost; the executor's `xs_recheckorderby = false` contract forbids returning
//!    them earlier).
//!
//! The index stores codes, not vectors (it stays a fraction of the raw data), so re-ranking reads
//! the table: that is why `vecx_ivfpq` indexes a plain column. The scan holds the SCAN_LOCK
//! heavyweight lock in share mode from its first row to its end; vacuum waits for it before it
//! returns, so a heap TID this scan has read is not recycled under it.
use std::collections::HashSet;
use std::rc::Rc;

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use vecx_core::distance::Metric;
use vecx_core::ivfpq::format::{Meta, Quantizer, Tid};
use vecx_core::ivfpq::search::QueryScorer;

use super::build::heap_attnum;
use super::store::{self, read_meta, walk_list, Blocks};
use crate::am::{begin_scan, order_by_query, scan_state};
use crate::datum::VecxArg;
use crate::error::raise_code;
use crate::gucs::{IVFPQ_PROBES, IVFPQ_RERANK, MAX_SCAN_TUPLES};
use crate::hnsw::build::check_dims;
use crate::hnsw::{PageLock, SCAN_LOCK};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Window,
    Exact,
    Late,
    Done,
}

/// Reads candidates' vectors from the table through the scan's snapshot.
struct Fetcher {
    fetch: *mut pg_sys::IndexFetchTableData,
    slot: *mut pg_sys::TupleTableSlot,
    attnum: i32,
    tmp: pgrx::PgMemoryContexts,
}

impl Fetcher {
    fn new(heap: pg_sys::Relation, attnum: i16) -> Fetcher {
        // SAFETY: heap is the scan's open heap relation; both objects are released in `end`.
        unsafe {
            Fetcher {
                fetch: pg_sys::table_index_fetch_begin(heap),
                slot: pg_sys::table_slot_create(heap, std::ptr::null_mut()),
                attnum: attnum as i32,
                tmp: pgrx::PgMemoryContexts::new("vecx_ivfpq rerank"),
            }
        }
    }

    /// The exact distance from `query` to the row at `tid`, or None when no version of the row
    /// is visible to `snapshot` (or its vector is NULL).
    fn distance(
        &mut self,
        tid: Tid,
        snapshot: pg_sys::Snapshot,
        metric: Metric,
        query: &[f32],
    ) -> Option<f32> {
        let mut ip = pg_sys::ItemPointerData::default();
        pgrx::itemptr::item_pointer_set_all(&mut ip, tid.block, tid.offset);
        let (fetch, slot, attnum) = (self.fetch, self.slot, self.attnum);
        let mut out = None;
        // SAFETY: fetch and slot are live; the tid is a heap TID from the index; the datum is
        // read (and detoasted into the temporary context, reset right after) while the slot
        // holds the tuple.
        unsafe {
            self.tmp.switch_to(|_| {
                let mut call_again = false;
                let mut all_dead = false;
                if pg_sys::table_index_fetch_tuple(
                    fetch,
                    &mut ip,
                    snapshot,
                    slot,
                    &mut call_again,
                    &mut all_dead,
                ) {
                    let mut isnull = false;
                    let d = pg_sys::slot_getattr(slot, attnum, &mut isnull);
                    if !isnull {
                        let v = VecxArg::from_raw(d);
                        if v.len() == query.len() {
                            out = Some(metric.distance(query, &v) as f32);
                        }
                    }
                    pg_sys::ExecClearTuple(slot);
                }
            });
            self.tmp.reset();
        }
        out
    }

    fn end(self) {
        // SAFETY: releasing what `new` created, once, on the normal (non-error) path.
        unsafe {
            pg_sys::table_index_fetch_end(self.fetch);
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
        }
    }
}

struct ScanState {
    query: Option<Vec<f32>>,
    null_query: bool,
    phase: Phase,
    started: bool,
    /// Set when the scan starts (first `amgettuple`).
    meta: Meta,
    blocks: Option<Blocks>,
    quant: Option<Rc<Quantizer>>,
    scorer: Option<QueryScorer>,
    metric: Metric,
    /// Results ready to return, sorted descending (popped from the end).
    ready: Vec<(f32, Tid)>,
    late: Vec<(f32, Tid)>,
    returned: HashSet<Tid>,
    last: f32,
    /// Whether the window's rows carry exact distances (not with rerank = 0).
    window_exact: bool,
    examined: usize,
    fetcher: Option<Fetcher>,
    lock: Option<PageLock>,
}

impl Drop for ScanState {
    fn drop(&mut self) {
        // Reached from the memory-context callback, possibly after an ERROR whose abort already
        // released the lock, the buffers and the slot: forget them then (amendscan releases them
        // on the normal path).
        if let Some(lock) = self.lock.take() {
            std::mem::forget(lock);
        }
        if let Some(f) = self.fetcher.take() {
            std::mem::forget(f);
        }
    }
}

fn state<'a>(scan: pg_sys::IndexScanDesc) -> &'a mut ScanState {
    // SAFETY: ambeginscan stored a ScanState.
    unsafe { scan_state(scan) }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(
    index: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
) -> pg_sys::IndexScanDesc {
    begin_scan(
        index,
        nkeys,
        norderbys,
        ScanState {
            query: None,
            null_query: false,
            phase: Phase::Done,
            started: false,
            meta: Meta::default(),
            blocks: None,
            quant: None,
            scorer: None,
            metric: Metric::L2,
            ready: Vec::new(),
            late: Vec::new(),
            returned: HashSet::new(),
            last: f32::NEG_INFINITY,
            window_exact: true,
            examined: 0,
            fetcher: None,
            lock: None,
        },
    )
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amrescan(
    scan: pg_sys::IndexScanDesc,
    _keys: pg_sys::ScanKey,
    _nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    let st = state(scan);
    st.phase = Phase::Done;
    st.started = false;
    st.query = None;
    st.null_query = false;
    st.scorer = None;
    st.ready.clear();
    st.late.clear();
    st.returned.clear();
    st.last = f32::NEG_INFINITY;
    st.window_exact = true;
    st.examined = 0;
    st.blocks = None;
    st.lock = None;
    // SAFETY: the ORDER BY keys PostgreSQL passes to amrescan.
    if let Some(query) = unsafe { order_by_query(scan, orderbys, norderbys) } {
        st.null_query = query.is_none();
        st.query = query;
        st.phase = Phase::Window;
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    let st = state(scan);
    if let Some(f) = st.fetcher.take() {
        f.end();
    }
    st.lock = None;
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(
    scan: pg_sys::IndexScanDesc,
    _dir: pg_sys::ScanDirection::Type,
) -> bool {
    // SAFETY: scan is our descriptor; xs_heaptid is ours to set.
    unsafe {
        (*scan).xs_recheck = false;
        (*scan).xs_recheckorderby = false;
        match next(scan) {
            Some(t) => {
                pgrx::itemptr::item_pointer_set_all(&mut (*scan).xs_heaptid, t.block, t.offset);
                true
            }
            None => false,
        }
    }
}

/// Scores every entry of list `l` (ADC, or 0 without a quantizer), skipping returned ones.
fn score_list(index: pg_sys::Relation, st: &mut ScanState, l: u32, out: &mut Vec<(f32, Tid)>) {
    let blocks = st.blocks.get_or_insert_with(|| Blocks::new(index));
    if let (Some(s), Some(q)) = (st.scorer.as_mut(), st.quant.as_ref()) {
        s.enter_list(q, l);
    }
    let entry_len = st.meta.entry_len();
    let (returned, scorer, quant) = (&st.returned, st.scorer.as_ref(), st.quant.as_ref());
    let mut examined = 0;
    walk_list(index, &st.meta, blocks, l, |_, bytes| {
        for (tid, code) in store::entries_of(bytes, entry_len, l) {
            examined += 1;
            if returned.contains(&tid) {
                continue;
            }
            let score = match (scorer, quant) {
                (Some(s), Some(q)) => s.score(q, code),
                _ => 0.0,
            };
            out.push((score, tid));
        }
    });
    st.examined += examined;
}

fn next(scan: pg_sys::IndexScanDesc) -> Option<Tid> {
    // SAFETY: fields of the scan descriptor, valid for the scan's lifetime.
    let (index, heap, snapshot) = unsafe {
        (
            (*scan).indexRelation,
            (*scan).heapRelation,
            (*scan).xs_snapshot,
        )
    };
    let st = state(scan);
    if st.phase == Phase::Done {
        return None;
    }
    if !st.started {
        st.started = true;
        st.lock = Some(PageLock::acquire(index, SCAN_LOCK, pg_sys::ShareLock));
        let meta = read_meta(index);
        let blocks = Blocks::new(index);
        let (metric, kind, normalize) = store::kind(index, &meta);
        st.metric = metric;
        st.quant = store::quantizer(index, &meta, &blocks);
        st.meta = meta;
        st.blocks = Some(blocks);
        if st.null_query {
            // ORDER BY v <-> NULL: every row qualifies, in no particular order.
            let mut all = Vec::new();
            for l in 0..meta.lists {
                score_list(index, st, l, &mut all);
            }
            all.reverse();
            st.ready = all;
            st.phase = Phase::Late;
        } else {
            let query = st.query.clone()?;
            if meta.dims == 0 {
                st.phase = Phase::Done;
                return None;
            }
            check_dims(meta.dims as usize, query.len());
            if st.fetcher.is_none() {
                if heap.is_null() {
                    raise_code(
                        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                        "vecx_ivfpq scans need the indexed table to re-rank candidates",
                        None,
                    );
                }
                st.fetcher = Some(Fetcher::new(heap, heap_attnum(index)));
            }
            let order: Vec<u32> = match st.quant.clone() {
                Some(q) => {
                    let s = QueryScorer::new(kind, normalize, &query, &q);
                    let order = s.rank_lists(&q);
                    st.scorer = Some(s);
                    order
                }
                None => (0..meta.lists).collect(),
            };
            let probes = vecx_core::ivfpq::probes(IVFPQ_PROBES.get(), order.len());
            let mut cands = Vec::new();
            for &l in &order[..probes] {
                score_list(index, st, l, &mut cands);
            }
            cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let rerank = IVFPQ_RERANK.get().max(0) as usize;
            if st.quant.is_none() {
                // Untrained: codes say nothing, rank the probed entries exactly.
                st.ready = rerank_all(st, &cands, snapshot, &query);
            } else if rerank == 0 {
                st.window_exact = false;
                cands.reverse();
                st.ready = cands;
            } else {
                // Re-rank rerank * 10 candidates; return the better half. Its rows are almost
                // never beaten by a candidate the codes ranked lower, while the worse half often
                // is, and would have to come late in the exact phase.
                cands.truncate(rerank * 10);
                let mut ranked = rerank_all(st, &cands, snapshot, &query);
                let half = ranked.len() / 2;
                ranked.drain(..half);
                st.ready = ranked;
            }
        }
    }
    let cap = MAX_SCAN_TUPLES.get().max(0) as usize;
    loop {
        if let Some((d, t)) = st.ready.pop() {
            if st.phase == Phase::Window {
                if st.window_exact {
                    st.last = st.last.max(d);
                }
                st.returned.insert(t);
            }
            return Some(t);
        }
        match st.phase {
            Phase::Window => {
                if cap > 0 && st.examined >= cap {
                    st.phase = Phase::Done;
                    return None;
                }
                // The executor wants more than the window: rank everything else exactly.
                let mut rest = Vec::new();
                for l in 0..st.meta.lists {
                    score_list(index, st, l, &mut rest);
                    if cap > 0 && st.examined >= cap {
                        break;
                    }
                }
                let query = st.query.clone()?;
                let all = rerank_all(st, &rest, snapshot, &query);
                let last = st.last;
                let (late, ready): (Vec<_>, Vec<_>) = all.into_iter().partition(|(d, _)| *d < last);
                st.ready = ready;
                st.late = late;
                st.phase = Phase::Exact;
            }
            Phase::Exact => {
                st.ready = std::mem::take(&mut st.late);
                st.phase = Phase::Late;
            }
            Phase::Late | Phase::Done => {
                st.phase = Phase::Done;
                return None;
            }
        }
    }
}

/// Exact distances of `cands` (invisible rows dropped), sorted descending for popping.
fn rerank_all(
    st: &mut ScanState,
    cands: &[(f32, Tid)],
    snapshot: pg_sys::Snapshot,
    query: &[f32],
) -> Vec<(f32, Tid)> {
    let metric = st.metric;
    let mut out = Vec::with_capacity(cands.len());
    if let Some(f) = st.fetcher.as_mut() {
        for (i, (_, t)) in cands.iter().enumerate() {
            if i % 256 == 0 {
                pgrx::check_for_interrupts!();
            }
            if let Some(d) = f.distance(*t, snapshot, metric, query) {
                out.push((d, *t));
            }
        }
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    out
}
