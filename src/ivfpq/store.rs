//! Reading and writing the pages of a `vecx_ivfpq` index: meta page, quantizer, directory and
//! list pages. One buffer lock at a time, except where an insert extends a list (directory page,
//! then the list's last page, then the new page: always in that order).
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::pg_sys;
use vecx_core::ivfpq::format::{self, DirEntry, Meta, Quantizer, Tid, DIR_ENTRY_LEN};

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

/// Checks that `blkno` is inside the index and of `page_type`.
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

pub fn check_block(index: pg_sys::Relation, blkno: u32) {
    if blkno == META_BLOCK || blkno >= pages::nblocks(index) {
        corrupted(
            index,
            format!("Reference to block {blkno} outside the index."),
        );
    }
}

/// List `l`'s directory entry.
pub fn dir_entry(index: pg_sys::Relation, meta: &Meta, l: u32) -> DirEntry {
    if l >= meta.lists {
        corrupted(index, format!("List {l} of {}.", meta.lists));
    }
    let (blk, off) = meta.dir_slot(l, DIR_PER_PAGE);
    check_block(index, blk);
    let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_SHARE);
    checked(index, &buf, blk, pages::PAGE_IVF_DIR);
    let bytes = pages::contents(buf.page(), CONTENTS_CAPACITY);
    match DirEntry::decode(&bytes[off..]) {
        Ok(d) => d,
        Err(e) => corrupted(index, format!("Directory entry of list {l}: {e}.")),
    }
}

/// Rewrites list `l`'s directory entry with `f` under the directory page's exclusive lock (one
/// WAL record); `f` returns whether to write.
pub fn update_dir_entry(
    index: pg_sys::Relation,
    meta: &Meta,
    l: u32,
    f: impl FnOnce(&mut DirEntry) -> bool,
) {
    let (blk, off) = meta.dir_slot(l, DIR_PER_PAGE);
    check_block(index, blk);
    let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    checked(index, &buf, blk, pages::PAGE_IVF_DIR);
    let mut d = match DirEntry::decode(&pages::contents(buf.page(), CONTENTS_CAPACITY)[off..]) {
        Ok(d) => d,
        Err(e) => corrupted(index, format!("Directory entry of list {l}: {e}.")),
    };
    if !f(&mut d) {
        return;
    }
    let mut wal = Wal::start(index);
    let page = wal.register(&buf, false);
    d.encode(&mut pages::contents(page, CONTENTS_CAPACITY)[off..off + DIR_ENTRY_LEN]);
    wal.finish();
}

/// Calls `f(entries, next)` with the packed entries of list page `blkno` (share-locked), and
/// returns the next page of the chain.
pub fn read_list_page<R>(
    index: pg_sys::Relation,
    meta: &Meta,
    blkno: u32,
    f: impl FnOnce(&[u8]) -> R,
) -> (R, u32) {
    check_block(index, blkno);
    let buf = Buf::read(index, blkno, pg_sys::BUFFER_LOCK_SHARE);
    let o = checked(index, &buf, blkno, pages::PAGE_IVF_LIST);
    let len = pages::contents_len(index, buf.page(), blkno);
    if let Err(e) = format::check_list_contents(len, meta.entry_len()) {
        corrupted(index, format!("List page {blkno}: {e}."));
    }
    (f(pages::contents(buf.page(), len)), o.next)
}

thread_local! {
    /// Decoded quantizers by (index OID, build id): a quantizer never changes after its build,
    /// and REINDEX or TRUNCATE make a new build id, so an entry is never stale.
    static QUANTIZERS: RefCell<HashMap<(u32, u32), Rc<Quantizer>>> = RefCell::new(HashMap::new());
}

/// The index's quantizer (None before it is trained), read once per backend and build.
pub fn quantizer(index: pg_sys::Relation, meta: &Meta) -> Option<Rc<Quantizer>> {
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
        check_block(index, blk);
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
        Ok(q)
            if q.dims == meta.dims as usize
                && q.lists == meta.lists as usize
                && q.pq.m == meta.pq_m as usize =>
        {
            q
        }
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

/// Decodes the heap TIDs and codes of packed entries.
pub fn entries(bytes: &[u8], entry_len: usize) -> impl Iterator<Item = (Tid, &[u8])> {
    bytes
        .chunks_exact(entry_len)
        .map(|e| (format::decode_tid(e), &e[format::TID_LEN..]))
}
