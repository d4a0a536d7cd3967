//! `vecx_index_stats(regclass)` and `vecx_index_check(regclass)` for `vecx_hnsw` indexes.
//!
//! Both read every page of the index, so they require SELECT on the indexed table (or ownership);
//! other roles get SQLSTATE 42501.
use std::collections::{HashMap, HashSet};

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use vecx_core::hnsw::format::{self, Tid};

use super::graph::PageGraph;
use crate::error::raise_code;
use crate::pages::{self, corrupted, Buf};

/// Opens the index behind `regclass` after checking it is a vecx_hnsw index the user may read.
pub struct OpenIndex(pub pg_sys::Relation);

impl OpenIndex {
    pub fn open(oid: pg_sys::Oid, am_name: &std::ffi::CStr) -> OpenIndex {
        // SAFETY: catalog lookups and index_open with a lock; errors are raised by PostgreSQL.
        unsafe {
            let relkind = pg_sys::get_rel_relkind(oid) as u8;
            if relkind != pg_sys::RELKIND_INDEX {
                raise_code(
                    PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
                    "relation is not an index",
                    None,
                );
            }
            let heap = pg_sys::IndexGetRelation(oid, false);
            let acl = pg_sys::pg_class_aclcheck(
                heap,
                pg_sys::GetUserId(),
                pg_sys::ACL_SELECT as pg_sys::AclMode,
            );
            if acl != pg_sys::AclResult::ACLCHECK_OK {
                raise_code(
                    PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                    "permission denied for the table of this index",
                    Some("vecx_index_stats and vecx_index_check require SELECT on the indexed table.".into()),
                );
            }
            let rel = pg_sys::index_open(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            let am = pg_sys::get_am_oid(am_name.as_ptr(), false);
            if (*rel).rd_rel.is_null() || (*(*rel).rd_rel).relam != am {
                pg_sys::index_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                raise_code(
                    PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
                    format!("index is not a {} index", am_name.to_string_lossy()),
                    None,
                );
            }
            OpenIndex(rel)
        }
    }
}

impl Drop for OpenIndex {
    fn drop(&mut self) {
        // SAFETY: closing the relation opened above, with the same lock mode.
        unsafe { pg_sys::index_close(self.0, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    }
}

struct Census {
    elements: HashMap<Tid, (u8, u8, Tid)>, // level, state, neighbours
    pages: u32,
}

fn census(g: &PageGraph) -> Census {
    let index = g.index;
    let mut elements = HashMap::new();
    let nblocks = pages::nblocks(index);
    for blk in 1..nblocks {
        pgrx::check_for_interrupts!();
        let buf = Buf::read(index, blk, pg_sys::BUFFER_LOCK_SHARE);
        if pages::opaque(index, buf.page(), blk).page_type != pages::PAGE_ELEMENTS {
            continue;
        }
        for off in 1..=pages::max_offset(buf.page()) {
            let Some(bytes) = pages::item(buf.page(), off) else {
                continue;
            };
            match bytes.first() {
                Some(&format::KIND_ELEMENT) => match format::decode_element(bytes, g.dims) {
                    Ok(e) => {
                        elements.insert(
                            Tid {
                                block: blk,
                                offset: off,
                            },
                            (e.level, e.state, e.neighbors),
                        );
                    }
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
    Census {
        elements,
        pages: nblocks,
    }
}

/// Rows, levels, deleted elements, pages and bytes of a vecx_hnsw index.
#[pg_extern(sql = false)]
fn vecx_index_stats(
    index: pg_sys::Oid,
) -> TableIterator<
    'static,
    (
        name!(rows, i64),
        name!(levels, i32),
        name!(deleted, i64),
        name!(pages, i64),
        name!(bytes, i64),
    ),
> {
    let rel = OpenIndex::open(index, c"vecx_hnsw");
    let g = PageGraph::open(rel.0);
    let c = census(&g);
    let rows = c
        .elements
        .values()
        .filter(|e| e.1 == format::STATE_LIVE)
        .count() as i64;
    let deleted = c.elements.len() as i64 - rows;
    let levels = if g.meta.entry.is_valid() {
        g.meta.entry_level as i32 + 1
    } else {
        0
    };
    TableIterator::once((
        rows,
        levels,
        deleted,
        c.pages as i64,
        c.pages as i64 * pg_sys::BLCKSZ as i64,
    ))
}

/// Verifies a vecx_hnsw index: the meta page, every element and neighbour tuple decodes, every
/// neighbour reference points at an element that exists and reaches that level, no list holds
/// duplicates or self-references, and the entry point is a live element of the recorded level.
/// Returns true, or raises `index ... is corrupted` (XX002) naming the first problem.
#[pg_extern(sql = false)]
fn vecx_index_check(index: pg_sys::Oid) -> bool {
    let rel = OpenIndex::open(index, c"vecx_hnsw");
    let g = PageGraph::open(rel.0);
    let c = census(&g);
    let idx = rel.0;
    if g.meta.entry.is_valid() {
        match c.elements.get(&g.meta.entry) {
            Some((level, _, _)) if *level as u32 == g.meta.entry_level => {}
            Some((level, _, _)) => corrupted(
                idx,
                format!(
                    "Entry point has level {level}, meta page says {}.",
                    g.meta.entry_level
                ),
            ),
            None => corrupted(idx, "The entry point is not an element."),
        }
    } else if c.elements.values().any(|e| e.1 == format::STATE_LIVE) {
        corrupted(idx, "The index has live elements but no entry point.");
    }
    let mut neighbor_tuples: HashSet<Tid> = HashSet::new();
    for (id, (level, _, ntid)) in &c.elements {
        if !neighbor_tuples.insert(*ntid) {
            corrupted(
                idx,
                format!(
                    "Two elements share the neighbour tuple ({},{}).",
                    ntid.block, ntid.offset
                ),
            );
        }
        let (_, lists) = g.neighbor_lists(*id);
        if lists.len() != *level as usize + 1 {
            corrupted(
                idx,
                format!(
                    "Element ({},{}) of level {level} has {} lists.",
                    id.block,
                    id.offset,
                    lists.len()
                ),
            );
        }
        for (lc, list) in lists.iter().enumerate() {
            let mut seen = HashSet::new();
            for n in list {
                if n == id {
                    corrupted(
                        idx,
                        format!("Element ({},{}) lists itself.", id.block, id.offset),
                    );
                }
                if !seen.insert(*n) {
                    corrupted(
                        idx,
                        format!(
                            "Element ({},{}) lists ({},{}) twice.",
                            id.block, id.offset, n.block, n.offset
                        ),
                    );
                }
                match c.elements.get(n) {
                    Some((nl, _, _)) if (*nl as usize) >= lc => {}
                    Some(_) => corrupted(
                        idx,
                        format!(
                            "Element ({},{}) links ({},{}) on a level it does not reach.",
                            id.block, id.offset, n.block, n.offset
                        ),
                    ),
                    None => corrupted(
                        idx,
                        format!(
                            "Element ({},{}) links ({},{}), which is not an element (dangling).",
                            id.block, id.offset, n.block, n.offset
                        ),
                    ),
                }
            }
        }
    }
    true
}
