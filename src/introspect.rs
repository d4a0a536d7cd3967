//! `vecx_index_stats(regclass)` and `vecx_index_check(regclass)`, for both index access methods.
//!
//! Both read every page of the index, so they require SELECT on the indexed table (or
//! ownership); other roles get SQLSTATE 42501. A relation that is not a vecx index is an error
//! (42809).
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::error::raise_code;

/// What `vecx_index_stats` reports; fields that do not apply to an access method are NULL.
#[derive(Default)]
pub struct Stats {
    pub rows: i64,
    /// HNSW: layers of the graph.
    pub levels: Option<i32>,
    /// HNSW: elements marked deleted and not yet freed.
    pub deleted: i64,
    pub pages: i64,
    /// IVF-PQ: lists, smallest and largest list, and imbalance (`lists * sum(size^2) /
    /// rows^2`: 1.0 when every list has the same size).
    pub lists: Option<i32>,
    pub min_list: Option<i64>,
    pub max_list: Option<i64>,
    pub imbalance: Option<f64>,
    /// HNSW: elements with a traversal code (see vecx-core's `hnsw::code`).
    pub coded: Option<i64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Am {
    Hnsw,
    IvfPq,
}

/// The index behind `regclass`, opened after checking it is a vecx index the user may read.
pub struct OpenIndex(pub pg_sys::Relation, pub Am);

impl OpenIndex {
    pub fn open(oid: pg_sys::Oid) -> OpenIndex {
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
            let relam = if (*rel).rd_rel.is_null() {
                pg_sys::InvalidOid
            } else {
                (*(*rel).rd_rel).relam
            };
            let am = if relam == pg_sys::get_am_oid(c"vecx_hnsw".as_ptr(), true) {
                Am::Hnsw
            } else if relam == pg_sys::get_am_oid(c"vecx_ivfpq".as_ptr(), true) {
                Am::IvfPq
            } else {
                pg_sys::index_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                raise_code(
                    PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
                    "index is not a vecx_hnsw or vecx_ivfpq index",
                    None,
                );
            };
            OpenIndex(rel, am)
        }
    }
}

impl Drop for OpenIndex {
    fn drop(&mut self) {
        // SAFETY: closing the relation opened above, with the same lock mode.
        unsafe { pg_sys::index_close(self.0, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    }
}

/// Rows, pages and bytes of a vecx index, with HNSW levels, deleted elements and elements with
/// a traversal code, or IVF-PQ list sizes.
#[pg_extern(sql = false)]
#[allow(clippy::type_complexity)]
fn vecx_index_stats(
    index: pg_sys::Oid,
) -> TableIterator<
    'static,
    (
        name!(rows, i64),
        name!(levels, Option<i32>),
        name!(deleted, i64),
        name!(pages, i64),
        name!(bytes, i64),
        name!(lists, Option<i32>),
        name!(min_list, Option<i64>),
        name!(max_list, Option<i64>),
        name!(imbalance, Option<f64>),
        name!(coded, Option<i64>),
    ),
> {
    let rel = OpenIndex::open(index);
    let s = match rel.1 {
        Am::Hnsw => crate::hnsw::introspect::stats(rel.0),
        Am::IvfPq => crate::ivfpq::introspect::stats(rel.0),
    };
    TableIterator::once((
        s.rows,
        s.levels,
        s.deleted,
        s.pages,
        s.pages * pg_sys::BLCKSZ as i64,
        s.lists,
        s.min_list,
        s.max_list,
        s.imbalance,
        s.coded,
    ))
}

/// Verifies the structure of a vecx index: true, or ERROR `index ... is corrupted` (XX002)
/// naming the first problem.
#[pg_extern(sql = false)]
fn vecx_index_check(index: pg_sys::Oid) -> bool {
    let rel = OpenIndex::open(index);
    crate::pages::verify_all(rel.0);
    match rel.1 {
        Am::Hnsw => crate::hnsw::introspect::check(rel.0),
        Am::IvfPq => crate::ivfpq::introspect::check(rel.0),
    }
    true
}
