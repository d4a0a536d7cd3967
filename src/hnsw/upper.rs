//! The backend's copies of `vecx_hnsw` upper layers, for the descent every scan starts with.
//!
//! A scan walks from the entry point down through the upper layers before it searches layer 0,
//! and on pages each element of that walk costs a pin, a share lock and a decode: 10-20% of an
//! unfiltered query's work at the usual `ef_search`. Those layers are small and rarely change,
//! so each backend keeps a copy of them in memory (`vecx_core::hnsw::upper::UpperLayers`) per
//! index and descends on it; layer 0, and with it every result, still comes from the pages.
//!
//! **Staleness.** The meta page's `upper_version` is bumped in the same WAL record as every
//! change to a list of layer 1 or above (`insert::write_lists`, which inserts and vacuum's
//! repair both use). A copy is used only while the meta page still shows the version, entry
//! point and relfilenode it was made under, so a descent on it finds exactly what the same
//! descent on the pages would: same seeds, same layer-0 search, same rows. That holds on a
//! standby too (the version arrives with the WAL), so a standby still returns the primary's
//! results. A scan reads the meta page after taking SCAN_LOCK, so vacuum's wait for scans
//! covers a scan that descends on a copy made before vacuum's repair.
//!
//! **When a copy is made.** Only after [`SCANS_BEFORE_COPY`] scans of the index saw the same
//! version: under a steady stream of inserts (one in `M` of which reaches layer 1 and bumps the
//! version) scans keep descending on the pages rather than copying again and again.
//!
//! **Memory.** All copies of a backend together stay within `work_mem`, and within
//! [`MAX_BYTES`] whatever `work_mem` is (a copy outlives the query). A copy of the layers 1
//! and up that would not fit is retried from layer 2 (a sixteenth of the size at `M = 16`),
//! and so on; the rest of the descent then runs on the pages. The copies live outside
//! PostgreSQL's memory contexts until the backend exits or a copy of another index needs the
//! room.
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::pg_sys;
use vecx_core::hnsw::format::Tid;
use vecx_core::hnsw::upper::UpperLayers;

use super::graph::PageGraph;

/// The most a backend's copies take together, whatever `work_mem` says: a copy outlives the
/// query, so a session that raised `work_mem` for one big sort should not keep gigabytes.
const MAX_BYTES: usize = 64 << 20;

/// Scans of an index that must see the same upper layers before a backend copies them.
const SCANS_BEFORE_COPY: u32 = 4;

/// What a copy is valid for: everything of the meta page the upper layers depend on, and the
/// relation's storage (a new one after TRUNCATE or REINDEX).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    relfilenode: u32,
    entry: Tid,
    entry_level: u32,
    upper_version: u32,
    seed: u64,
    inserted: u64,
}

struct Kept {
    key: Key,
    /// Scans that saw `key` while there was no copy.
    seen: u32,
    copy: Option<Rc<UpperLayers<Tid>>>,
    /// Whether a copy of `key` was tried and did not fit.
    too_big: bool,
    /// The lowest layer the last copy of this index started from (copies start there again).
    min_level: usize,
}

thread_local! {
    /// Per index (by OID).
    static KEPT: RefCell<HashMap<u32, Kept>> = RefCell::new(HashMap::new());
}

fn key_of(g: &PageGraph) -> Key {
    // SAFETY: the index is open; rd_node / rd_locator is plain data of the relcache entry.
    #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
    let relfilenode = unsafe { (*g.index).rd_node.relNode }.to_u32();
    // SAFETY: as above.
    #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
    let relfilenode = unsafe { (*g.index).rd_locator.relNumber }.to_u32();
    Key {
        relfilenode,
        entry: g.meta.entry,
        entry_level: g.meta.entry_level,
        upper_version: g.meta.upper_version,
        seed: g.meta.seed,
        inserted: g.meta.inserted,
    }
}

/// The backend's current copy of `g`'s upper layers, if it has (or now makes) one.
pub fn for_scan(g: &PageGraph) -> Option<Rc<UpperLayers<Tid>>> {
    if !g.meta.entry.is_valid() || g.meta.entry_level == 0 {
        return None;
    }
    // SAFETY: work_mem is a server GUC (kB), read on the backend's thread.
    let budget = (unsafe { pg_sys::work_mem } as usize * 1024).min(MAX_BYTES);
    // SAFETY: rd_id of an open relation.
    let relid = unsafe { (*g.index).rd_id }.to_u32();
    let key = key_of(g);
    let min_level = KEPT.with(|k| {
        let mut kept = k.borrow_mut();
        let e = kept.entry(relid).or_insert(Kept {
            key,
            seen: 0,
            copy: None,
            too_big: false,
            min_level: 1,
        });
        if e.key != key {
            e.key = key;
            e.seen = 0;
            e.copy = None;
            e.too_big = false;
        }
        if let Some(c) = &e.copy {
            return Err(c.clone());
        }
        e.seen += 1;
        if e.too_big || e.seen < SCANS_BEFORE_COPY {
            return Ok(None);
        }
        Ok(Some(e.min_level))
    });
    let min_level = match min_level {
        Err(copy) => return Some(copy),
        Ok(None) => return None,
        Ok(Some(l)) => l,
    };
    // Made outside the borrow: reading pages may raise an ERROR.
    let mut copy = None;
    for level in min_level..=g.meta.entry_level as usize {
        copy = UpperLayers::copy(
            g.metric,
            g.dims,
            g.meta.entry,
            level,
            budget,
            |id| g.read_element(id),
            || {
                pgrx::check_for_interrupts!();
                false
            },
        );
        if copy.is_some() {
            break;
        }
    }
    let copy = copy.map(Rc::new);
    KEPT.with(|k| {
        let mut kept = k.borrow_mut();
        if let Some(c) = &copy {
            // Room for it: other indexes' copies go first.
            let mut total: usize = kept
                .values()
                .filter_map(|e| e.copy.as_ref())
                .map(|c| c.bytes())
                .sum();
            for (other, e) in kept.iter_mut() {
                if total + c.bytes() <= budget {
                    break;
                }
                if *other != relid {
                    if let Some(old) = e.copy.take() {
                        total -= old.bytes();
                        e.seen = 0;
                    }
                }
            }
        }
        if let Some(e) = kept.get_mut(&relid) {
            if e.key == key {
                e.too_big = copy.is_none();
                if let Some(c) = &copy {
                    e.min_level = c.min_level();
                }
                e.copy = copy.clone();
            }
        }
    });
    copy
}
