//! INSERT into `vecx_ivfpq`: the row goes to the list of its nearest centroid, as its PQ code
//! tagged with the list.
//!
//! The list's directory entry says which page may have room (`hint`): a page of its packed range
//! (possibly shared with the neighbouring lists, whose entries the tag tells apart) or of its
//! growth chain. The entry is appended there under that page's exclusive lock, one Generic WAL
//! record. A full page sends the insert along the list's pages (moving the hint forward); past the
//! last one the list's group grows: under the exclusive lock of the directory page holding the
//! group leader's entry (which serialises growth of the groups on that directory page), the
//! chain's last page is locked, a new page is added and linked (or starts the chain), and the
//! leader's entry updated, in one WAL record of up to three pages; then the list's hint points
//! at the new page. Inserts into different lists never wait for each other, and space vacuum frees
//! anywhere in a list is reused (vacuum moves the hint back).
//!
//! An index built on an empty table is untrained: rows go to its single list without a code.
use pgrx::pg_sys;
use pgrx::prelude::*;
use vecx_core::ivfpq::format::{self, Meta, Tid};
use vecx_core::ivfpq::train;

use super::build::set_next;
use super::store::{self, read_meta, update_dir_entry, write_meta_page, Blocks, Hops, META_BLOCK};
use crate::hnsw::build::check_dims;
use crate::pages::{self, corrupted, Buf, Wal, CONTENTS_CAPACITY};

#[cfg(not(feature = "pg13"))]
#[pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: the arguments PostgreSQL passes to aminsert for a single-column index.
    unsafe {
        crate::am::insert_one(values, isnull, heap_tid, "vecx_ivfpq insert", |heap, v| {
            insert_vector(index, heap, v)
        })
    }
}

/// PostgreSQL 13's `aminsert` has no `indexUnchanged` argument (added in 14).
#[cfg(feature = "pg13")]
#[pg_guard]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: the arguments PostgreSQL passes to aminsert for a single-column index.
    unsafe {
        crate::am::insert_one(values, isnull, heap_tid, "vecx_ivfpq insert", |heap, v| {
            insert_vector(index, heap, v)
        })
    }
}

pub fn insert_vector(index: pg_sys::Relation, heap: Tid, vector: &[f32]) {
    let mut meta = read_meta(index);
    if meta.dims == 0 {
        set_dims(index, vector.len());
        meta = read_meta(index);
    }
    check_dims(meta.dims as usize, vector.len());
    let blocks = Blocks::new(index);
    let (_, _, normalize) = store::kind(index, &meta);
    let mut entry = vec![0u8; meta.entry_len()];
    let list = match store::quantizer(index, &meta, &blocks) {
        Some(q) => {
            let x = train::prepare(normalize, vector);
            train::encode(&q, &x, &mut entry[format::HEADER_LEN..])
        }
        None => 0,
    };
    format::encode_header(heap, list, &mut entry);
    append(index, &meta, &blocks, list, &entry);
}

fn set_dims(index: pg_sys::Relation, dims: usize) {
    let buf = Buf::read(index, META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let mut meta = match Meta::decode(pages::contents(buf.page(), format::META_LEN)) {
        Ok(m) => m,
        Err(e) => corrupted(index, format!("Meta page: {e}.")),
    };
    if meta.dims == 0 {
        meta.dims = dims as u32;
        let mut wal = Wal::start(index);
        let page = wal.register(&buf, false);
        write_meta_page(page, &meta);
        wal.finish();
    }
}

/// Whether list page `blkno` (locked in `buf`) has room for one more entry; and its successor.
fn room(index: pg_sys::Relation, meta: &Meta, buf: &Buf, blkno: u32) -> (bool, u32) {
    let (o, len) = store::list_page(index, meta, buf, blkno);
    (len + meta.entry_len() <= CONTENTS_CAPACITY, o.next)
}

fn append_to(index: pg_sys::Relation, buf: &Buf, blkno: u32, entry: &[u8], new_page: bool) {
    let mut wal = Wal::start(index);
    let page = wal.register(buf, new_page);
    if new_page {
        pages::init_page(page, pages::PAGE_IVF_LIST);
    }
    let len = pages::contents_len(index, page, blkno);
    pages::contents(page, len + entry.len())[len..].copy_from_slice(entry);
    pages::set_contents_len(page, len + entry.len());
    wal.finish();
}

/// Appends `entry` to list `list`.
fn append(index: pg_sys::Relation, meta: &Meta, blocks: &Blocks, list: u32, entry: &[u8]) {
    let d = store::dir_entry(index, meta, blocks, list);
    let chain = store::group_chain(index, meta, blocks, list, &d);
    let hint = d.hint;
    let mut blk = hint;
    let mut hops = Hops::new(list);
    // Fast path: walk from the hint to the first page with room.
    while blk != pg_sys::InvalidBlockNumber {
        blocks.check(index, blk);
        let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let (has_room, next) = room(index, meta, &buf, blk);
        if has_room {
            append_to(index, &buf, blk, entry, false);
            drop(buf);
            if blk != hint {
                update_dir_entry(index, meta, blocks, list, |e| {
                    let moved = e.hint != blk;
                    e.hint = blk;
                    moved
                });
            }
            return;
        }
        drop(buf);
        // A growth chain started after we read the entries is found by grow().
        blk = d.after(blk, next, chain);
        hops.step(index, blocks);
    }
    grow(index, meta, blocks, list, entry);
}

/// Adds a page at the end of list `list`'s group's growth chain holding `entry` (or uses room
/// that appeared meanwhile at the chain's end), and points the list's hint at it.
fn grow(index: pg_sys::Relation, meta: &Meta, blocks: &Blocks, list: u32, entry: &[u8]) {
    let leader = meta.leader(list);
    let (dbuf, off) = store::dir_page(index, meta, blocks, leader, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let mut d = store::decode_dir(index, dbuf.page(), off, leader);
    let last = d.chain_last;
    let lbuf = if last != pg_sys::InvalidBlockNumber {
        blocks.check(index, last);
        let lbuf = Buf::read(index, last, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let (has_room, next) = room(index, meta, &lbuf, last);
        if has_room {
            // Another insert grew the group meanwhile.
            append_to(index, &lbuf, last, entry, false);
            drop((lbuf, dbuf));
            point_hint(index, meta, blocks, list, leader, last);
            return;
        }
        if next != pg_sys::InvalidBlockNumber {
            corrupted(
                index,
                format!("List {list}: the last page {last} of its growth chain has a successor."),
            );
        }
        Some(lbuf)
    } else {
        None
    };
    let nbuf = Buf::extend(index, pg_sys::ForkNumber::MAIN_FORKNUM);
    let nblk = nbuf.blkno();
    let mut wal = Wal::start(index);
    let dpage = wal.register(&dbuf, false);
    if let Some(lbuf) = &lbuf {
        set_next(wal.register(lbuf, false), nblk);
    } else {
        d.chain_first = nblk;
    }
    let npage = wal.register(&nbuf, true);
    pages::init_page(npage, pages::PAGE_IVF_LIST);
    pages::contents(npage, entry.len()).copy_from_slice(entry);
    pages::set_contents_len(npage, entry.len());
    d.chain_last = nblk;
    if leader == list {
        d.hint = nblk;
    }
    d.encode(&mut pages::contents(dpage, CONTENTS_CAPACITY)[off..off + format::DIR_ENTRY_LEN]);
    wal.finish();
    drop((nbuf, lbuf, dbuf));
    point_hint(index, meta, blocks, list, leader, nblk);
}

/// Points list `list`'s insert hint at growth page `blk` (the leader's was set with the chain).
fn point_hint(
    index: pg_sys::Relation,
    meta: &Meta,
    blocks: &Blocks,
    list: u32,
    leader: u32,
    blk: u32,
) {
    if list != leader {
        update_dir_entry(index, meta, blocks, list, |e| {
            let moved = e.hint != blk;
            e.hint = blk;
            moved
        });
    }
}
