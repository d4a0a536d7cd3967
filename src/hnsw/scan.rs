//! Index scans of `vecx_hnsw`: `ORDER BY embedding <-> $1 LIMIT k`, streamed.
//!
//! `amgettuple` returns one heap TID per call, closest first, for as long as the executor asks.
//! The executor asks again whenever it throws a row away (a WHERE clause, row-level security, a
//! dead tuple), so a filtered query keeps the scan going instead of running out after
//! `ef_search` candidates as a fixed-window HNSW search would. The search has three phases:
//!
//! 1. **Graph**: vecx-core's `Stream` (a descent through the upper layers, a search of layer 0
//!    twice `ef_search` wide, then best-first exploration) yields the first `ef_search` elements
//!    (at least 10, see [`graph_window`]) in distance order. This is all an unfiltered `LIMIT k`
//!    query (k <= that window) ever uses.
//! 2. **Exact**: if the executor still wants rows, the filter is selective and graph order is no
//!    longer trustworthy (far from the query, reaching another cluster through a distant element
//!    reveals closer elements late). So the scan reads every element it has not returned yet
//!    straight from the pages, computes exact distances, sorts them, and returns them in order.
//!    Nothing in the index is skipped, so a query returns min(k, matching rows) rows unless
//!    `vecx.max_scan_tuples` caps the work, and the rows come in exact distance order.
//! 3. **Late**: the only elements that cannot be returned in order are those closer than an
//!    element already returned in phase 1 that the graph search missed (its recall misses). They
//!    are returned last, in order among themselves, so they are never lost: the executor's
//!    `xs_recheckorderby = false` contract forbids returning them earlier out of order.
//!
//! Deleted elements (dead rows whose index entries vacuum has not yet removed) route the search
//! but are never returned. The scan holds the SCAN_LOCK heavyweight lock in share mode from its
//! first tuple to its end, so vacuum waits for it before freeing elements it may still visit.
use pgrx::pg_sys;
use pgrx::prelude::*;
use vecx_core::hnsw::format::{self, Tid, VectorPlace};
use vecx_core::hnsw::fxhash::FxHashSet;
use vecx_core::hnsw::stream::{Next, Stream, VISITS_PER_EF};
use vecx_core::hnsw::visited::PageVisited;
use vecx_core::hnsw::Scored;

use super::build::check_dims;
use super::graph::PageGraph;
use super::{PageLock, SCAN_LOCK};
use crate::am::{begin_scan, order_by_query, scan_state};
use crate::gucs::{HNSW_EF_SEARCH, MAX_SCAN_TUPLES};
use crate::pages::{self, Buf};

enum Phase {
    Graph,
    Exact,
    Late,
    Done,
}

struct ScanState {
    query: Option<Vec<f32>>,
    graph: Option<PageGraph>,
    stream: Option<Stream<Tid, PageVisited>>,
    phase: Phase,
    /// Elements returned (or skipped as deleted) by the graph phase.
    emitted: FxHashSet<Tid>,
    /// Exact-phase results, sorted descending (popped from the end).
    sweep: Vec<Scored<Tid>>,
    /// Held-back late elements, sorted descending once the late phase starts.
    late: Vec<Scored<Tid>>,
    examined: usize,
    lock: Option<PageLock>,
    null_query: bool,
}

impl Drop for ScanState {
    fn drop(&mut self) {
        // Reached through the memory-context callback, which after an ERROR runs once the
        // transaction has already released every lock: do not release the scan lock twice.
        // (amendscan and amrescan release it on the normal path.)
        if let Some(lock) = self.lock.take() {
            std::mem::forget(lock);
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
            graph: None,
            stream: None,
            phase: Phase::Done,
            emitted: FxHashSet::default(),
            sweep: Vec::new(),
            late: Vec::new(),
            examined: 0,
            lock: None,
            null_query: false,
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
    st.stream = None;
    st.graph = None;
    st.sweep.clear();
    st.late.clear();
    st.emitted.clear();
    st.examined = 0;
    st.lock = None;
    st.phase = Phase::Done;
    st.query = None;
    st.null_query = false;
    // SAFETY: the ORDER BY keys PostgreSQL passes to amrescan.
    if let Some(query) = unsafe { order_by_query(scan, orderbys, norderbys) } {
        // ORDER BY v <-> NULL: every distance is NULL, so every row qualifies in no particular
        // order (as a plain scan would return them).
        st.null_query = query.is_none();
        st.query = query;
        st.phase = Phase::Graph;
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    let st = state(scan);
    st.stream = None;
    st.graph = None;
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
        match next_heap_tid(scan) {
            Some(t) => {
                pgrx::itemptr::item_pointer_set_all(&mut (*scan).xs_heaptid, t.block, t.offset);
                true
            }
            None => false,
        }
    }
}

fn next_heap_tid(scan: pg_sys::IndexScanDesc) -> Option<Tid> {
    // SAFETY: indexRelation is open for the scan's lifetime.
    let index = unsafe { (*scan).indexRelation };
    let ScanState {
        query,
        graph,
        stream,
        phase,
        emitted,
        sweep: swept,
        late,
        examined,
        lock,
        null_query,
    } = state(scan);
    if *null_query && graph.is_none() {
        // No query vector: return every live element, in page order.
        let g = PageGraph::open(index);
        *lock = Some(PageLock::acquire(index, SCAN_LOCK, pg_sys::ShareLock));
        let zero = vec![0.0; g.dims.max(1)];
        *swept = exact(&g, emitted, f32::NEG_INFINITY, &zero, late);
        *examined = 1;
        *phase = Phase::Exact;
        *graph = Some(g);
        *query = Some(zero);
        *stream = None;
    }
    let query = query.as_ref()?;
    if matches!(phase, Phase::Done) {
        return None;
    }
    if graph.is_none() {
        *lock = Some(PageLock::acquire(index, SCAN_LOCK, pg_sys::ShareLock));
        let g = PageGraph::open(index);
        if !g.meta.entry.is_valid() {
            *phase = Phase::Done;
            return None;
        }
        check_dims(g.dims, query.len());
        let ef = graph_window().width;
        let visited = PageVisited::new(g.nblocks(), slots_per_page(&g), ef * VISITS_PER_EF);
        // The descent runs on this backend's copy of the upper layers when it has a current
        // one (see `super::upper`): the same seeds for layer 0, without the page reads.
        let upper = super::upper::for_scan(&g);
        *stream = Some(Stream::start_with(
            &g,
            upper.as_deref(),
            query,
            g.meta.entry,
            g.meta.entry_level as usize,
            ef,
            visited,
        ));
        *graph = Some(g);
    }
    let cap = MAX_SCAN_TUPLES.get().max(0) as usize;
    let window = graph_window().rows;
    let g = graph.as_ref()?;
    if *null_query {
        let s = swept.pop()?;
        return Some(g.info(s.id).heap);
    }
    let stream = stream.as_mut()?;
    loop {
        pgrx::check_for_interrupts!();
        if cap > 0 && stream.computed + *examined > cap {
            return None;
        }
        let candidate = match phase {
            Phase::Graph if emitted.len() < window => match stream.next(g, query) {
                Some(Next::InOrder(s)) => {
                    emitted.insert(s.id);
                    Some(s)
                }
                // Closer than something already returned: the exact phase will place it.
                Some(Next::Late(_)) => continue,
                None => {
                    *phase = Phase::Exact;
                    continue;
                }
            },
            Phase::Graph => {
                *phase = Phase::Exact;
                continue;
            }
            Phase::Exact if swept.is_empty() && late.is_empty() && *examined == 0 => {
                *swept = exact(g, emitted, stream.last_distance(), query, late);
                *examined += swept.len() + late.len() + 1;
                if swept.is_empty() {
                    late.sort_by(|a, b| b.cmp(a));
                    *phase = Phase::Late;
                }
                continue;
            }
            Phase::Exact => match swept.pop() {
                Some(s) => Some(s),
                None => {
                    late.sort_by(|a, b| b.cmp(a));
                    *phase = Phase::Late;
                    continue;
                }
            },
            Phase::Late => late.pop(),
            Phase::Done => None,
        };
        let Some(s) = candidate else {
            *phase = Phase::Done;
            return None;
        };
        let info = g.info(s.id);
        if info.state == format::STATE_LIVE {
            return Some(info.heap);
        }
    }
}

/// The fewest rows the graph phase returns before the exact pass, however small `ef_search`:
/// the usual `LIMIT`. Without it an `ef_search` below the query's `LIMIT` sent every query
/// through the exact pass (a read of the whole index) for its last rows.
pub const MIN_GRAPH_ROWS: usize = 10;

/// What the graph phase of a scan does at the current `vecx.hnsw_ef_search`.
pub struct GraphWindow {
    /// Rows returned from the graph before the exact pass: `ef_search`, at least
    /// [`MIN_GRAPH_ROWS`].
    pub rows: usize,
    /// Width of the layer-0 search that finds them: twice `ef_search`, at least
    /// [`MIN_GRAPH_ROWS`]. The best half of a search is far more accurate than its tail, and an
    /// element the graph misses inside the window is the one thing that can come out of order;
    /// below 10, `ef_search` narrows the search (a cheaper, less exact top 10) and the window
    /// takes more of it, all of it at 5 and below, as pgvector's search of `ef_search = 10`
    /// does. (vecx-core's `Stream` yields the search's best straight from its sorted list,
    /// the furthest too unless another element ties with it, without the heaps that continue
    /// a search, which cost an eighth of a narrow query.)
    pub width: usize,
}

pub fn graph_window() -> GraphWindow {
    let ef = HNSW_EF_SEARCH.get().max(1) as usize;
    GraphWindow {
        rows: ef.max(MIN_GRAPH_ROWS),
        width: (2 * ef).max(MIN_GRAPH_ROWS),
    }
}

/// The most items (so the highest offset) a page of this graph can hold: the page's room over the
/// smallest tuple it stores (an element or a layer-0 neighbour tuple) plus its line pointer.
fn slots_per_page(g: &PageGraph) -> usize {
    let smallest = pages::maxalign(format::element_len(g.dims, false))
        .min(pages::maxalign(format::neighbors_len(0, g.params.m)));
    pages::CONTENTS_CAPACITY / (smallest + std::mem::size_of::<pg_sys::ItemIdData>())
}

/// Every live element not yet returned, with its exact distance, sorted descending (for
/// popping). Those closer than the last graph-phase result (`last`) go to `late`.
fn exact(
    g: &PageGraph,
    emitted: &FxHashSet<Tid>,
    last: f32,
    query: &[f32],
    late: &mut Vec<Scored<Tid>>,
) -> Vec<Scored<Tid>> {
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for blk in 1..pages::nblocks(g.index) {
        pgrx::check_for_interrupts!();
        let buf = Buf::read(g.index, blk, pg_sys::BUFFER_LOCK_SHARE);
        if !pages::is_type(g.index, buf.page(), blk, pages::PAGE_ELEMENTS) {
            continue;
        }
        let mut paged: Vec<Tid> = Vec::new();
        for off in 1..=pages::max_offset(buf.page()) {
            let Some(bytes) = pages::item(buf.page(), off) else {
                continue;
            };
            if bytes.first() != Some(&format::KIND_ELEMENT) {
                continue;
            }
            let id = Tid {
                block: blk,
                offset: off,
            };
            if emitted.contains(&id) {
                continue;
            }
            let Ok(e) = format::decode_element(bytes, g.dims) else {
                crate::pages::corrupted(
                    g.index,
                    format!("Element ({blk},{off}) cannot be decoded."),
                );
            };
            if e.state != format::STATE_LIVE {
                continue;
            }
            match e.vector {
                VectorPlace::Inline(b) => {
                    scratch.clear();
                    format::read_floats(b, &mut scratch);
                    out.push(Scored {
                        dist: g.metric.distance(query, &scratch) as f32,
                        id,
                    });
                }
                VectorPlace::Pages(_) => paged.push(id),
            }
        }
        drop(buf);
        for id in paged {
            let d = g.with_vector(id, |v, _| g.metric.distance(query, v) as f32);
            out.push(Scored { dist: d, id });
        }
    }
    let (early, rest): (Vec<_>, Vec<_>) = out.into_iter().partition(|s| s.dist < last);
    late.extend(early);
    let mut rest = rest;
    rest.sort_by(|a, b| b.cmp(a));
    rest
}
