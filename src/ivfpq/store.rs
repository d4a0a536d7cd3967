//! Reading and writing the pages of a `vecx_ivfpq` index: meta page, quantizer, directory and
//! list pages. One buffer lock at a time, except where an insert extends a list (directory page,
//! then the list's last page, then the new page: always in that order).
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::pg_sys;
use vecx_core::ivfpq::format::{self, DirEntry, Meta, Quantizer, Tid, DIR_ENTRY_LEN};

use vecx_core::distance::Metric;
use vecx_core::ivfpq::search::Kind;

use crate::hnsw::graph::metric_of;
use crate::pages::{self, corrupted, Buf, Wal, CONTENTS_CAPACITY};

pub const META_BLOCK: u32 = 0;
/// Directory entries per directory page.
pub const DIR_PER_PAGE: usize = CONTENTS_CAPACITY / DIR_ENTRY_LEN;

pub fn read_meta(index: pg_sys::Relation) -> Meta {
    let buf = Buf::read(index, META_BLOCK, pg_sys::BUFFER_LOCK_SHARE);
    if pages::opaque(index, buf.page(), META_BLOCK).page_type != pages::PAGE_META {
        corrupted(index, "Block 0 is not a meta page.");
    }
    match Meta::decode(pages::contents(buf.page(), format::META_LEN)) {
        Ok(m) => m,
        Err(e) => corrupted(index, format!("Meta page: {e}.")),
    }
}

pub fn write_meta_page(page: pg_sys::Page, meta: &Meta) {
    pages::init_page(page, pages::PAGE_META);
    let bytes = meta.encode();
    pages::contents(page, bytes.len()).copy_from_slice(&bytes);
    pages::set_contents_len(page, bytes.len());
}

/// Checks that a page read is of `page_type`.
fn checked(index: pg_sys::Relation, buf: &Buf, blkno: u32, page_type: u16) -> pages::Opaque {
    let o = pages::opaque(index, buf.page(), blkno);
    if o.page_type != page_type {
        corrupted(
            index,
            format!(
                "Block {blkno} has page type {}, expected {page_type}.",
                o.page_type
            ),
        );
    }
    o
}

/// The index's block count as last seen, re-read only when a reference points past it: a
/// reference is checked without a file-size call per page read.
pub struct Blocks(Cell<u32>);

impl Blocks {
    pub fn new(index: pg_sys::Relation) -> Blocks {
        Blocks(Cell::new(pages::nblocks(index)))
    }

    /// Raises XX002 unless `blkno` is a block of the index other than the meta page.
    pub fn check(&self, index: pg_sys::Relation, blkno: u32) {
        if blkno >= self.0.get() {
            // The index may have grown since we looked (concurrent inserts).
            self.0.set(pages::nblocks(index));
        }
        if blkno == META_BLOCK || blkno >= self.0.get() {
            corrupted(
                index,
                format!("Reference to block {blkno} outside the index."),
            );
        }
    }

    pub fn count(&self) -> u32 {
        self.0.get()
    }
}

/// Guards a walk along list `list`'s chain against a cycle (a corrupted `next` link): a chain
/// cannot have more pages than the index.
pub struct Hops {
    list: u32,
    n: u32,
}

impl Hops {
    pub fn new(list: u32) -> Hops {
        Hops { list, n: 0 }
    }

    pub fn step(&mut self, index: pg_sys::Relation, blocks: &Blocks) {
        self.n += 1;
        if self.n > blocks.count() {
            corrupted(index, format!("List {} has a cycle.", self.list));
        }
    }
}

/// Reads list `l`'s directory page locked in `mode`; returns it and the entry's byte offset.
pub fn dir_page(
    index: pg_sys::Relation,
    meta: &Meta,
    blocks: &Blocks,
    l: u32,
    mode: u32,
) -> (Buf, usize) {
    if l >= meta.lists {
        corrupted(index, format!("List {l} of {}.", meta.lists));
    }
    let (blk, off) = meta.dir_slot(l, DIR_PER_PAGE);
    blocks.check(index, blk);
    let buf = Buf::read(index, blk, mode);
    checked(index, &buf, blk, pages::PAGE_IVF_DIR);
    (buf, off)
}

/// Decodes the directory entry at `off` of a directory page.
pub fn decode_dir(index: pg_sys::Relation, page: pg_sys::Page, off: usize, l: u32) -> DirEntry {
    match DirEntry::decode(&pages::contents(page, CONTENTS_CAPACITY)[off..]) {
        Ok(d) => d,
        Err(e) => corrupted(index, format!("Directory entry of list {l}: {e}.")),
    }
}

/// List `l`'s directory entry.
pub fn dir_entry(index: pg_sys::Relation, meta: &Meta, blocks: &Blocks, l: u32) -> DirEntry {
    let (buf, off) = dir_page(index, meta, blocks, l, pg_sys::BUFFER_LOCK_SHARE);
    decode_dir(index, buf.page(), off, l)
}

/// Rewrites list `l`'s directory entry with `f` under the directory page's exclusive lock (one
/// WAL record); `f` returns whether to write.
pub fn update_dir_entry(
    index: pg_sys::Relation,
    meta: &Meta,
    blocks: &Blocks,
    l: u32,
    f: impl FnOnce(&mut DirEntry) -> bool,
) {
    let (buf, off) = dir_page(index, meta, blocks, l, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let mut d = decode_dir(index, buf.page(), off, l);
    if !f(&mut d) {
        return;
    }
    let mut wal = Wal::start(index);
    let page = wal.register(&buf, false);
    d.encode(&mut pages::contents(page, CONTENTS_CAPACITY)[off..off + DIR_ENTRY_LEN]);
    wal.finish();
}

/// Checks list page `blkno` (locked in `buf`) and returns its opaque area and the length of
/// its packed entries.
pub fn list_page(
    index: pg_sys::Relation,
    meta: &Meta,
    buf: &Buf,
    blkno: u32,
) -> (pages::Opaque, usize) {
    let o = checked(index, buf, blkno, pages::PAGE_IVF_LIST);
    let len = pages::contents_len(index, buf.page(), blkno);
    if let Err(e) = format::check_list_contents(len, meta.entry_len()) {
        corrupted(index, format!("List page {blkno}: {e}."));
    }
    (o, len)
}

/// Calls `f(block, entries)` for every page of list `l` (its packed range, then its growth
/// group's growth chain: [`DirEntry::after`]), each page share-locked while `f` runs. Pages of the packed range
/// may hold other lists' entries too: callers filter on the tag ([`entries_of`]). Returns the
/// directory entry the walk followed.
pub fn walk_list(
    index: pg_sys::Relation,
    meta: &Meta,
    blocks: &Blocks,
    l: u32,
    mut f: impl FnMut(u32, &[u8]),
) -> DirEntry {
    let d = dir_entry(index, meta, blocks, l);
    let chain = group_chain(index, meta, blocks, l, &d);
    let mut blk = d.start(chain);
    let mut hops = Hops::new(l);
    while blk != pg_sys::InvalidBlockNumber {
        pgrx::check_for_interrupts!();
        blocks.check(index, blk);
        let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_SHARE);
        let (o, len) = list_page(index, meta, &buf, blk);
        f(blk, pages::contents(buf.page(), len));
        blk = d.after(blk, o.next, chain);
        hops.step(index, blocks);
    }
    d
}

/// The first page of the growth chain list `l` uses: its group leader's (`d` is `l`'s entry).
pub fn group_chain(
    index: pg_sys::Relation,
    meta: &Meta,
    blocks: &Blocks,
    l: u32,
    d: &DirEntry,
) -> u32 {
    let leader = meta.leader(l);
    if leader == l {
        d.chain_first
    } else {
        dir_entry(index, meta, blocks, leader).chain_first
    }
}

/// What the block pass learnt about one list page.
#[derive(Clone, Copy, Default)]
pub struct PageInfo {
    pub list_page: bool,
    pub room: bool,
    pub next: u32,
}

/// Calls `f(block, buffer, contents length)` for every list page of the index in block order,
/// each locked in `mode` (`f` returns the contents length it leaves); never-initialised blocks (a crash between extending the file and logging the page)
/// are skipped. Returns what it saw of each block, indexed by block number.
pub fn each_list_page(
    index: pg_sys::Relation,
    meta: &Meta,
    mode: u32,
    mut f: impl FnMut(u32, &Buf, usize) -> usize,
) -> Vec<PageInfo> {
    let nblocks = pages::nblocks(index);
    let mut info = vec![PageInfo::default(); nblocks as usize];
    for blk in meta.dir_first + meta.dir_pages..nblocks {
        pgrx::check_for_interrupts!();
        let buf = Buf::read(index, blk, mode);
        match pages::opaque_or_new(index, buf.page(), blk) {
            Some(o) if o.page_type == pages::PAGE_IVF_LIST => {
                let (o, len) = list_page(index, meta, &buf, blk);
                let len = f(blk, &buf, len);
                info[blk as usize] = PageInfo {
                    list_page: true,
                    room: len + meta.entry_len() <= CONTENTS_CAPACITY,
                    next: o.next,
                };
            }
            Some(o) => corrupted(
                index,
                format!(
                    "Block {blk} has page type {} among list pages.",
                    o.page_type
                ),
            ),
            None => {}
        }
    }
    info
}

thread_local! {
    /// Decoded quantizers by (index OID, build id): a quantizer never changes after its build,
    /// and REINDEX or TRUNCATE make a new build id, so an entry is never stale.
    static QUANTIZERS: RefCell<HashMap<(u32, u32), Rc<Quantizer>>> = RefCell::new(HashMap::new());
}

/// The index's quantizer (None before it is trained), read once per backend and build.
pub fn quantizer(index: pg_sys::Relation, meta: &Meta, blocks: &Blocks) -> Option<Rc<Quantizer>> {
    if meta.trained == 0 {
        return None;
    }
    // SAFETY: rd_id of an open relation.
    let key = (unsafe { (*index).rd_id }.to_u32(), meta.build_id);
    if let Some(q) = QUANTIZERS.with(|c| c.borrow().get(&key).cloned()) {
        return Some(q);
    }
    let mut bytes = Vec::with_capacity(meta.quantizer_len as usize);
    for i in 0..meta.quantizer_pages {
        let blk = meta.quantizer_first + i;
        blocks.check(index, blk);
        let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_SHARE);
        checked(index, &buf, blk, pages::PAGE_IVF_QUANTIZER);
        let len = pages::contents_len(index, buf.page(), blk);
        bytes.extend_from_slice(pages::contents(buf.page(), len));
    }
    if bytes.len() != meta.quantizer_len as usize {
        corrupted(
            index,
            format!(
                "Quantizer is {} bytes, meta page says {}.",
                bytes.len(),
                meta.quantizer_len
            ),
        );
    }
    let q = match Quantizer::from_bytes(&bytes) {
        // Dimensions, lists, sub-quantizers and bits per code all as the meta page says: a
        // quantizer with other bits would score codes past the end of its ADC table.
        Ok(q) if q.fits(meta) => q,
        Ok(_) => corrupted(index, "Quantizer does not match the meta page."),
        Err(e) => corrupted(index, format!("Quantizer: {e}.")),
    };
    let q = Rc::new(q);
    QUANTIZERS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 16 {
            c.clear();
        }
        c.insert(key, q.clone());
    });
    Some(q)
}

/// Decodes the heap TIDs, list tags and codes of packed entries.
pub fn entries(bytes: &[u8], entry_len: usize) -> impl Iterator<Item = (Tid, u32, &[u8])> {
    bytes.chunks_exact(entry_len).map(|e| {
        (
            format::decode_tid(e),
            format::decode_tag(e),
            &e[format::HEADER_LEN..],
        )
    })
}

/// The heap TIDs and codes of list `l`'s entries among packed entries.
pub fn entries_of(bytes: &[u8], entry_len: usize, l: u32) -> impl Iterator<Item = (Tid, &[u8])> {
    entries(bytes, entry_len).filter_map(move |(t, tag, code)| (tag == l).then_some((t, code)))
}

/// The index's metric (from the meta page, no catalog lookup), its scoring kind and whether
/// vectors are normalised.
pub fn kind(index: pg_sys::Relation, meta: &Meta) -> (Metric, Kind, bool) {
    let metric = metric_of(index, meta.metric);
    match Kind::of(metric) {
        Some((k, n)) => (metric, k, n),
        None => corrupted(
            index,
            format!("Metric {metric:?} in a vecx_ivfpq meta page."),
        ),
    }
}
