//! The graph as stored in index pages: [`PageGraph`] implements vecx-core's `GraphView` by
//! reading element and neighbour tuples through the buffer manager, one page at a time (a buffer
//! lock is never held while another is taken), so the search algorithms of vecx-core run
//! unchanged on disk-resident graphs.
use pgrx::pg_sys;
use vecx_core::distance::{Metric, Partial};
use vecx_core::hnsw::code::{self, CodeQuery};
use vecx_core::hnsw::format::{self, Element, Meta, Tid, VectorPlace};
use vecx_core::hnsw::{GraphView, Params};

use crate::pages::{self, corrupted, Buf};

pub const META_BLOCK: u32 = 0;

/// Pages [`GraphView::distances`] pins at once: PostgreSQL tracks a backend's first 8 pins in
/// an array and the rest in a hash table, so more would make every pin dearer than the cache
/// misses the batch hides; 6 leaves room for the pins the executor holds (a heap page).
const PIN_BATCH: usize = 6;

/// Neighbours whose pages [`GraphView::distances`] starts loading before it pins the first
/// batch: every unvisited neighbour of a layer-0 list at `M` up to 18 (mnist10k's scans 1.05x;
/// sift10k and glove25 unchanged, in alternating loops).
const PREFETCH_WINDOW: usize = 6 * PIN_BATCH;

/// Neighbours a distance batch must have for the query's own part to be computed once for all
/// of them (see `Metric::prepare`).
const PREPARE_MIN: usize = 4;

/// Reads and validates the meta page.
pub fn read_meta(index: pg_sys::Relation) -> Meta {
    let buf = Buf::read(index, META_BLOCK, pg_sys::BUFFER_LOCK_SHARE);
    let o = pages::opaque(index, buf.page(), META_BLOCK);
    if o.page_type != pages::PAGE_META {
        corrupted(index, "Block 0 is not a meta page.");
    }
    match Meta::decode(pages::contents(buf.page(), format::META_LEN)) {
        Ok(m) => m,
        Err(e) => corrupted(index, format!("Meta page: {e}.")),
    }
}

pub fn metric_of(index: pg_sys::Relation, code: u32) -> Metric {
    match code {
        0 => Metric::L2,
        1 => Metric::InnerProduct,
        2 => Metric::Cosine,
        3 => Metric::L1,
        _ => corrupted(index, format!("Unknown metric {code}.")),
    }
}

pub fn metric_code(m: Metric) -> u32 {
    match m {
        Metric::L2 => 0,
        Metric::InnerProduct => 1,
        Metric::Cosine => 2,
        Metric::L1 => 3,
    }
}

/// An element's header fields, copied out of its page.
#[derive(Clone, Copy, Debug)]
pub struct ElementInfo {
    pub level: u8,
    pub state: u8,
    pub heap: Tid,
    pub neighbors: Tid,
}

pub struct PageGraph {
    pub index: pg_sys::Relation,
    pub meta: Meta,
    pub metric: Metric,
    pub dims: usize,
    pub params: Params,
    scratch: std::cell::RefCell<Vec<f32>>,
    /// Blocks in the index as last seen (re-read only when a reference points beyond it).
    nblocks: std::cell::Cell<u32>,
    /// Headers of the elements whose distance was computed, kept only in graphs opened for one
    /// insert (see [`PageGraph::cache_headers`]), which asks for the state of every element
    /// its searches find (only live ones become neighbours). Safe for that life: vacuum frees
    /// or reuses an element only after waiting out every insert and scan that started before
    /// it marked the element deleted, and an element's neighbour tuple never moves. The state
    /// may go from live to deleted meanwhile (vacuum's mark pass), as it may right after any
    /// read. Scans keep no cache (expanding an element reads its page, which nearly always
    /// holds its neighbour tuple too, see `neighbors_into`; a cache entry per distance cost
    /// more than it saved); neither do vacuum and the checks, which visit the whole index.
    infos: std::cell::RefCell<vecx_core::hnsw::fxhash::FxHashMap<Tid, ElementInfo>>,
    caching: std::cell::Cell<bool>,
    /// Where blocks were last found (the backend's map, held while the graph is open).
    recent: std::cell::RefCell<pages::RecentBuffers>,
    /// On a hot standby. There, replaying a VACUUM of the primary can free an element that a
    /// scan reached through a neighbour list it read before (on the primary, vacuum waits for
    /// scans through a heavyweight lock, which is not replicated). A reference to a missing or
    /// replaced tuple is then an element that vanished, treated as deleted (never returned, no
    /// neighbours, infinitely far), not corruption. `vecx_index_check` still checks pages.
    standby: bool,
    /// Searches use traversal codes (vecx-core's `hnsw::code`): the index has them (`Meta::codes`)
    /// and `vecx.hnsw_traversal_codes` is on. Elements without one (written before codes
    /// existed, or a zero vector under cosine) are compared exactly.
    coded: bool,
    /// The query's sums for code bounds, with a copy of the query they are for.
    code_query: std::cell::RefCell<Option<(Vec<f32>, CodeQuery)>>,
}

/// An inline vector's bytes as floats where they lie, when they can be (4-byte aligned, on a
/// little-endian target); otherwise the caller decodes them.
fn in_place(bytes: &[u8]) -> Option<&[f32]> {
    if cfg!(target_endian = "little")
        && (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<f32>())
    {
        // SAFETY: the bytes are little-endian f32 values (an inline vector), 4-byte aligned
        // (checked), on a little-endian target: valid f32s, borrowed for as long as the bytes.
        Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const f32, bytes.len() / 4) })
    } else {
        None
    }
}

impl Drop for PageGraph {
    fn drop(&mut self) {
        std::mem::take(self.recent.get_mut()).give_back();
    }
}

/// The header fields of a decoded element.
fn header(e: &Element) -> ElementInfo {
    ElementInfo {
        level: e.level,
        state: e.state,
        heap: e.heap,
        neighbors: e.neighbors,
    }
}

/// The header given to an element that vanished on a standby (see `PageGraph::standby`).
fn vanished() -> ElementInfo {
    ElementInfo {
        level: 0,
        state: format::STATE_DELETED,
        heap: Tid {
            block: pg_sys::InvalidBlockNumber,
            offset: 0,
        },
        neighbors: Tid {
            block: pg_sys::InvalidBlockNumber,
            offset: 0,
        },
    }
}

impl PageGraph {
    pub fn open(index: pg_sys::Relation) -> PageGraph {
        let meta = read_meta(index);
        let coded = crate::gucs::HNSW_TRAVERSAL_CODES.get() && meta.codes == 1;
        PageGraph {
            index,
            metric: metric_of(index, meta.metric),
            dims: meta.dims as usize,
            params: Params {
                m: meta.m as usize,
                ef_construction: meta.ef_construction as usize,
            },
            meta,
            scratch: std::cell::RefCell::new(Vec::new()),
            nblocks: std::cell::Cell::new(pages::nblocks(index)),
            infos: std::cell::RefCell::new(Default::default()),
            caching: std::cell::Cell::new(false),
            recent: std::cell::RefCell::new(pages::RecentBuffers::take()),
            // SAFETY: a plain read of shared state.
            standby: unsafe { pg_sys::RecoveryInProgress() },
            coded,
            code_query: std::cell::RefCell::new(None),
        }
    }

    /// Blocks in the index when it was opened (or later, when a reference pointed beyond).
    pub fn nblocks(&self) -> u32 {
        self.nblocks.get()
    }

    /// Turns on the header cache (see `infos`) for a graph opened for one insert, with room
    /// for the `expected` elements it will visit, so that it does not rehash as it goes.
    pub fn cache_headers(&self, expected: usize) {
        self.caching.set(true);
        self.infos.borrow_mut().reserve(expected);
    }

    /// Pins block `blk` (through the buffer it was in last time, see `pages::RecentBuffers`).
    fn pin(&self, blk: u32) -> pages::Pinned {
        self.recent.borrow_mut().pin(self.index, blk)
    }

    /// The element at `id`; `None` only on a standby, for an element that vanished.
    fn element<'a>(&self, page: pg_sys::Page, id: Tid) -> Option<Element<'a>> {
        let detail = match pages::item(page, id.offset) {
            Some(bytes) => match format::decode_element(bytes, self.dims) {
                Ok(e) => return Some(e),
                Err(e) => format!("Element ({},{}): {e}.", id.block, id.offset),
            },
            None => format!("No tuple at ({},{}).", id.block, id.offset),
        };
        if self.standby {
            return None;
        }
        corrupted(self.index, detail)
    }

    fn check_block(&self, id: Tid) {
        if id.block >= self.nblocks.get() {
            // The index may have grown since we looked (concurrent inserts).
            self.nblocks.set(pages::nblocks(self.index));
        }
        if id.block == META_BLOCK || id.block >= self.nblocks.get() {
            corrupted(
                self.index,
                format!("Reference to block {} outside the index.", id.block),
            );
        }
    }

    /// The element's header fields (cached for the life of this graph handle).
    pub fn info(&self, id: Tid) -> ElementInfo {
        if let Some(i) = self.infos.borrow().get(&id) {
            return *i;
        }
        self.check_block(id);
        // Through the buffer the block was last found in: a scan asks for the header of an
        // element it returns, whose page it has just read. Under the pin alone on a primary,
        // as in `pinned_partial`.
        let pinned = self.pin(id.block);
        let _lock = self.standby.then(|| pinned.share());
        // Not cached here: an insert's search caches the headers as it computes distances
        // (`remember`); the other callers (a scan returning rows, vacuum, checks) read each
        // element once or few times, and caching them would grow the cache to the whole index
        // in a long filtered scan.
        match self.element(pinned.page(), id) {
            Some(e) => header(&e),
            None => vanished(),
        }
    }

    /// The header of element `id`, cached when the cache is on (see `infos`).
    fn remember(&self, id: Tid, e: &Element) -> ElementInfo {
        let info = header(e);
        if self.caching.get() {
            self.infos.borrow_mut().insert(id, info);
        }
        info
    }

    /// Calls `f` with the element's vector (and header) while its page is share-locked; an
    /// out-of-line vector is first assembled from its vector pages.
    pub fn with_vector<R>(&self, id: Tid, f: impl FnOnce(&[f32], ElementInfo) -> R) -> R {
        match self.try_with_vector(id, f) {
            Some(r) => r,
            None => corrupted(
                self.index,
                format!("Element ({},{}) vanished.", id.block, id.offset),
            ),
        }
    }

    /// [`Self::with_vector`], or `None` for an element that vanished on a standby.
    fn try_with_vector<R>(&self, id: Tid, f: impl FnOnce(&[f32], ElementInfo) -> R) -> Option<R> {
        self.check_block(id);
        let pinned = self.pin(id.block);
        let buf = pinned.share();
        let e = self.element(buf.page(), id)?;
        let info = self.remember(id, &e);
        let mut scratch = self.scratch.borrow_mut();
        scratch.clear();
        match e.vector {
            VectorPlace::Inline(bytes) => {
                if let Some(v) = in_place(bytes) {
                    return Some(f(v, info));
                }
                format::read_floats(bytes, &mut scratch);
                drop(buf);
            }
            VectorPlace::Pages(first) => {
                drop(buf);
                for i in 0..format::chunk_count(self.dims) {
                    let blk = first + i as u32;
                    self.check_block(Tid {
                        block: blk,
                        offset: 1,
                    });
                    let b = Buf::read(self.index, blk, pg_sys::BUFFER_LOCK_SHARE);
                    let bytes = pages::item(b.page(), 1).unwrap_or(&[]);
                    if let Err(err) = format::decode_chunk(bytes, self.dims, i, &mut scratch) {
                        if self.standby {
                            return None;
                        }
                        corrupted(self.index, format!("Vector page {blk}: {err}."));
                    }
                }
            }
        }
        Some(f(&scratch, info))
    }

    /// The distance from `query` to element `id`, whose page `p` is pinned, short of its last
    /// step (`Metric::partial`): infinite for an element that vanished on a standby.
    ///
    /// On a primary the element is read under the pin alone, without the page's content lock
    /// (the lock's acquire and release were a tenth of a narrow scan: 1.08x on glove25, 1.11x
    /// on sift10k in alternating loops). What is read is sound without it:
    /// - an element tuple never changes once written except for its state byte: level, heap
    ///   TID, neighbour-tuple TID and inline vector are written with it (the neighbour TID in
    ///   the same WAL record, `insert::add_pair`); neighbour lists, which do change in place,
    ///   are in another tuple and always read under the lock (`neighbors_into`);
    /// - no byte of a tuple that may be read ever moves: items are added from a page's free
    ///   space or into a freed slot's own bytes, freed by marking their line pointer dead with
    ///   its storage kept (`super::slots`; PostgreSQL's `PageIndexTupleDeleteNoCompact`, used
    ///   here before, slides the tuples below the deleted one, and an insert read such a slid
    ///   "element" in the soak test), and a page is initialised afresh only when no item is
    ///   left on it;
    /// - the element is not freed while we may read it: vacuum frees only after waiting out
    ///   every scan and insert that began before its repair pass (see `super::vacuum`), and
    ///   ours holds a TID read from a list under the lock;
    /// - a writer's `GenericXLogFinish` copies the page's new image over the buffer, every
    ///   unchanged byte with its own value, so each byte of this tuple reads as it was; the
    ///   state byte, written alone, reads as either state, as it could a moment later under
    ///   the lock (vacuum marks an element deleted only once its heap row is dead, so a row
    ///   returned on a state read a moment early is one the executor's visibility check
    ///   discards, as it would a moment later).
    ///
    /// On a hot standby, replaying a VACUUM can free an element a scan still holds (see
    /// `standby`), so there the element is read under the lock, as before.
    fn pinned_partial(
        &self,
        query: &[f32],
        prepared: Option<f64>,
        p: &pages::Pinned,
        id: Tid,
    ) -> Partial {
        let lock = self.standby.then(|| p.share());
        let Some(e) = self.element(p.page(), id) else {
            return Partial::Done(f64::INFINITY);
        };
        self.remember(id, &e);
        if let VectorPlace::Inline(bytes) = e.vector {
            if let Some(v) = in_place(bytes) {
                return self.metric.partial_prepared(query, prepared, v);
            }
        }
        drop(lock);
        Partial::Done(self.distance(query, id) as f64)
    }

    /// The code-bound sums of `query`, computed once per query: a scan passes the same query to
    /// every call, and comparing it with the copy kept (bit for bit, about 100 cycles for 784
    /// dimensions) costs far less than the sums. (By content, not address: an insert or vacuum
    /// searching for several vectors in turn may find a new one where an old one was freed.)
    fn code_query(&self, query: &[f32]) -> CodeQuery {
        let mut cached = self.code_query.borrow_mut();
        if let Some((q, cq)) = &*cached {
            let same = q.len() == query.len()
                && q.iter()
                    .zip(query)
                    .fold(true, |same, (a, b)| same & (a.to_bits() == b.to_bits()));
            if same {
                return *cq;
            }
        }
        let cq = CodeQuery::new(query);
        *cached = Some((query.to_vec(), cq));
        cq
    }

    /// The first step of [`Self::pinned_partial`] for a search with a bound: element `id`'s
    /// traversal code bounds its distance from below, and when that bound already exceeds
    /// `bound` the element is settled (`Some`, a distance of at least `bound`, which is all the
    /// search needs to drop it) without its vector being read. Otherwise `None`, with the
    /// vector's cache lines on their way for the exact distance. Read under the pin alone as in
    /// `pinned_partial` (locked on a standby).
    fn pinned_bound(
        &self,
        query: &[f32],
        cq: &CodeQuery,
        bound: f32,
        p: &pages::Pinned,
        id: Tid,
    ) -> Option<Partial> {
        let _lock = self.standby.then(|| p.share());
        let Some(e) = self.element(p.page(), id) else {
            return Some(Partial::Done(f64::INFINITY));
        };
        let (Some(c), VectorPlace::Inline(bytes)) = (e.code, &e.vector) else {
            return None;
        };
        let lower = code::lower_bound(self.metric, query, cq, c);
        if lower > bound as f64 {
            self.remember(id, &e);
            // Above `bound` as an f32 too (the contract of `distances`).
            return Some(Partial::Done((lower as f32).max(bound.next_up()) as f64));
        }
        vecx_core::distance::simd::prefetch_span(bytes.as_ptr(), bytes.len());
        None
    }

    /// Calls `f` with every element of the index and its TID, page by page under a share lock,
    /// calling `pace` before each page (vacuum's delay point, or an interrupt check). An
    /// undecodable element or an item of unknown kind on an element page is corruption.
    pub fn for_each_element(&self, pace: impl Fn(), mut f: impl FnMut(Tid, &Element)) {
        let index = self.index;
        for blk in 1..pages::nblocks(index) {
            pace();
            let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_SHARE);
            if !pages::is_type(index, buf.page(), blk, pages::PAGE_ELEMENTS) {
                continue;
            }
            for off in 1..=pages::max_offset(buf.page()) {
                let Some(bytes) = pages::item(buf.page(), off) else {
                    continue;
                };
                match bytes.first() {
                    Some(&format::KIND_ELEMENT) => match format::decode_element(bytes, self.dims) {
                        Ok(e) => f(
                            Tid {
                                block: blk,
                                offset: off,
                            },
                            &e,
                        ),
                        Err(err) => corrupted(index, format!("Element ({blk},{off}): {err}.")),
                    },
                    Some(&format::KIND_NEIGHBORS) => {}
                    other => corrupted(
                        index,
                        format!("Item ({blk},{off}) has unknown kind {other:?}."),
                    ),
                }
            }
        }
    }

    /// Element `id`'s vector and all its neighbour lists (layer 0 first), for a copy of the
    /// upper layers (`super::upper`); `None` for an element that vanished on a standby.
    pub fn read_element(&self, id: Tid) -> Option<(Vec<f32>, Vec<Vec<Tid>>)> {
        let (vector, info) = self.try_with_vector(id, |v, info| (v.to_vec(), info))?;
        let lists = self.with_neighbor_tuple(id, info, |bytes| {
            format::decode_neighbors(bytes, self.params.m).map(|l| (l.len() - 1, l))
        })?;
        Some((vector, lists))
    }

    pub fn vector(&self, id: Tid) -> Vec<f32> {
        self.with_vector(id, |v, _| v.to_vec())
    }

    /// All neighbour lists of an element (layer 0 first).
    pub fn neighbor_lists(&self, id: Tid) -> (ElementInfo, Vec<Vec<Tid>>) {
        let info = self.info(id);
        let none = || vec![Vec::new(); info.level as usize + 1];
        let lists = self.with_neighbor_tuple(id, info, |bytes| {
            format::decode_neighbors(bytes, self.params.m).map(|l| (l.len() - 1, l))
        });
        (info, lists.unwrap_or_else(none))
    }

    /// Reads element `id`'s neighbour tuple (of an element whose header is `info`) and decodes
    /// it with `decode`, which returns the tuple's level and what it decoded. `None` for an
    /// element that vanished on a standby; any other missing, undecodable or mismatched tuple
    /// is corruption.
    fn with_neighbor_tuple<R>(
        &self,
        id: Tid,
        info: ElementInfo,
        decode: impl FnOnce(&[u8]) -> Result<(usize, R), format::FormatError>,
    ) -> Option<R> {
        let n = info.neighbors;
        if self.standby && n.offset == 0 {
            return None; // vanished
        }
        self.check_block(n);
        let pinned = self.pin(n.block);
        let buf = pinned.share();
        self.decode_neighbor_tuple(buf.page(), id, info, decode)
    }

    /// [`Self::with_neighbor_tuple`] on the locked page that holds the neighbour tuple.
    fn decode_neighbor_tuple<R>(
        &self,
        page: pg_sys::Page,
        id: Tid,
        info: ElementInfo,
        decode: impl FnOnce(&[u8]) -> Result<(usize, R), format::FormatError>,
    ) -> Option<R> {
        let n = info.neighbors;
        let bytes = match pages::item(page, n.offset) {
            Some(b) => b,
            None if self.standby => return None,
            None => corrupted(
                self.index,
                format!("Neighbour tuple ({},{}) is missing.", n.block, n.offset),
            ),
        };
        match decode(bytes) {
            Ok((level, r)) if level == info.level as usize => Some(r),
            _ if self.standby => None,
            Ok((level, _)) => corrupted(
                self.index,
                format!(
                    "Element ({},{}) of level {} has {} neighbour lists.",
                    id.block,
                    id.offset,
                    info.level,
                    level + 1
                ),
            ),
            Err(e) => corrupted(
                self.index,
                format!("Neighbour tuple ({},{}): {e}.", n.block, n.offset),
            ),
        }
    }
}

impl GraphView for PageGraph {
    type Id = Tid;

    fn distance(&self, query: &[f32], id: Tid) -> f32 {
        self.try_with_vector(id, |v, _| self.metric.distance(query, v) as f32)
            .unwrap_or(f32::INFINITY)
    }

    /// With traversal codes, a neighbour a code settles gets a lower bound (`pinned_bound`).
    fn bounds_distances(&self) -> bool {
        self.coded
    }

    /// Starts loading the buffer descriptor and line pointer of every element's page where it
    /// was last found (`pages::prefetch_buffer`), for up to [`PREFETCH_WINDOW`] elements (all
    /// the unvisited neighbours of a list) at once. Then in batches of [`PIN_BATCH`]: pins every
    /// element's page and starts loading its line pointers (again: the page may have moved),
    /// then (line pointers now at hand) starts loading every element tuple (with traversal
    /// codes and a bound, only its header and code: `pinned_bound` settles most neighbours
    /// from those and loads the vectors of the rest), and the tuples of the next batch where
    /// their pages were last found (`pages::prefetch_item_unpinned`), and only then reads each
    /// element and compares (under the pin alone on a primary: `pinned_partial`). The cache
    /// misses of a page header and of a tuple, which otherwise come one after another for each
    /// neighbour (a third of a scan's time), overlap, and a batch's tuples are on their way
    /// while the batch before is compared. Pins block no one (see `pages::Pinned`).
    fn distances(&self, query: &[f32], ids: &[Tid], bound: f32, out: &mut Vec<f32>) {
        out.clear();
        // With a bound and codes, only the element header and code are loaded up front; a
        // neighbour whose code does not settle it has its vector loaded next (`pinned_bound`).
        let codes = (self.coded && bound.is_finite())
            .then(|| self.code_query(query))
            .filter(|cq| cq.usable(self.metric));
        let prefetch = match codes {
            Some(_) => format::ELEMENT_HEADER_LEN + code::code_len(self.dims),
            None => pages::PREFETCH_ITEM_BYTES,
        };
        // The query's own part of every distance (its cosine sum), once for the whole list
        // when that saves work (it costs about one distance; each distance then costs a third
        // less).
        let prepared = (ids.len() >= PREPARE_MIN)
            .then(|| self.metric.prepare(query))
            .flatten();
        for window in ids.chunks(PREFETCH_WINDOW) {
            let mut hints = [None; PREFETCH_WINDOW];
            {
                let recent = self.recent.borrow();
                for (hint, &id) in hints.iter_mut().zip(window) {
                    *hint = recent.hint(self.index, id.block);
                    if let Some(buffer) = *hint {
                        pages::prefetch_buffer(buffer, id.offset);
                    }
                }
            }
            for start in (0..window.len()).step_by(PIN_BATCH) {
                let end = (start + PIN_BATCH).min(window.len());
                let next = end..(end + PIN_BATCH).min(window.len());
                let batch = &window[start..end];
                // A local list: an ERROR unwinding from here releases every pin with it.
                let mut pinned: [Option<pages::Pinned>; PIN_BATCH] = Default::default();
                let mut blks = [0u32; PIN_BATCH];
                for (blk, &id) in blks.iter_mut().zip(batch) {
                    self.check_block(id);
                    *blk = id.block;
                }
                let n = batch.len();
                self.recent.borrow_mut().pin_batch(
                    self.index,
                    &blks[..n],
                    &hints[start..end],
                    &mut pinned[..n],
                );
                for (p, id) in pinned.iter().flatten().zip(batch) {
                    pages::prefetch_line_pointer(p.page(), id.offset);
                }
                for (p, id) in pinned.iter().flatten().zip(batch) {
                    pages::prefetch_item(p.page(), id.offset, prefetch);
                }
                for (&id, hint) in window[next.clone()].iter().zip(&hints[next]) {
                    if let Some(buffer) = *hint {
                        pages::prefetch_item_unpinned(buffer, id.offset, prefetch);
                    }
                }
                // Each distance's square root and division are left for after the batch (done
                // under a page lock, as on a standby, releasing it, an atomic operation, waited
                // for them).
                let mut partial = [None; PIN_BATCH];
                if let Some(cq) = &codes {
                    for ((p, &id), slot) in pinned.iter().flatten().zip(batch).zip(&mut partial) {
                        *slot = self.pinned_bound(query, cq, bound, p, id);
                    }
                }
                for ((p, &id), slot) in pinned.iter().flatten().zip(batch).zip(&mut partial) {
                    if slot.is_none() {
                        *slot = Some(self.pinned_partial(query, prepared, p, id));
                    }
                }
                let partial = partial.map(|d| d.unwrap_or(Partial::Done(0.0)));
                out.extend(partial[..n].iter().map(|d| d.finish() as f32));
            }
        }
    }

    fn distance_between(&self, a: Tid, b: Tid) -> f32 {
        let va = self.vector(a);
        self.distance(&va, b)
    }

    /// Decodes only the wanted layer of the neighbour tuple, into the search's buffer. With
    /// the header cache on (inserts), the element's header comes from there; otherwise (scans)
    /// the element's page is read for it, and the neighbour tuple, which nearly always sits on
    /// the same page, is decoded under the same lock: one page read either way, and no cache
    /// entry per element the search computes a distance for.
    fn neighbors_into(&self, id: Tid, level: usize, out: &mut Vec<Tid>) {
        let m = self.params.m;
        let decode =
            |bytes: &[u8]| format::decode_layer_into(bytes, m, level, out).map(|l| (l, ()));
        let cached = self.infos.borrow().get(&id).copied();
        let found = match cached {
            Some(info) => self.with_neighbor_tuple(id, info, decode),
            None => {
                self.check_block(id);
                let pinned = self.pin(id.block);
                let lock = pinned.share();
                match self.element(lock.page(), id).map(|e| header(&e)) {
                    None => None, // vanished (standby)
                    Some(info) if info.neighbors.block == id.block => {
                        self.decode_neighbor_tuple(lock.page(), id, info, decode)
                    }
                    Some(info) => {
                        drop(lock);
                        self.with_neighbor_tuple(id, info, decode)
                    }
                }
            }
        };
        if found.is_none() {
            out.clear();
        }
    }
}
