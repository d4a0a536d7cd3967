//! The `vecx_ivfpq` side of `vecx_index_stats` and `vecx_index_check` (see
//! [`crate::introspect`]).
use std::collections::HashSet;

use pgrx::pg_sys;

use super::store::{self, read_meta, walk_list, Blocks};
use crate::introspect::Stats;
use crate::pages::{self, corrupted};

/// Entries of every list, walking each chain; checks the structure on the way (page types and
/// contents, no cycles, no page in two lists, valid heap TIDs, `last` and `hint` in the chain).
fn list_sizes(index: pg_sys::Relation) -> Vec<usize> {
    let meta = read_meta(index);
    let blocks = Blocks::new(index);
    if meta.trained == 1 && store::quantizer(index, &meta, &blocks).is_none() {
        corrupted(index, "Trained index without a quantizer.");
    }
    let entry_len = meta.entry_len();
    let mut owner: HashSet<u32> = HashSet::new();
    let mut sizes = Vec::with_capacity(meta.lists as usize);
    for l in 0..meta.lists {
        let d = store::dir_entry(index, &meta, &blocks, l);
        for b in [d.first, d.last, d.hint] {
            blocks.check(index, b);
        }
        let (mut n, mut seen_hint, mut prev) = (0usize, false, d.first);
        walk_list(index, &meta, &blocks, l, |blk, bytes| {
            if !owner.insert(blk) {
                corrupted(index, format!("Block {blk} is in two lists."));
            }
            seen_hint |= blk == d.hint;
            for (tid, _) in store::entries(bytes, entry_len) {
                if tid.offset == 0 || tid.block == pg_sys::InvalidBlockNumber {
                    corrupted(index, format!("List page {blk} holds an invalid heap TID."));
                }
            }
            n += bytes.len() / entry_len;
            prev = blk;
        });
        if prev != d.last {
            corrupted(
                index,
                format!(
                    "List {l} ends at block {prev}, its directory entry says {}.",
                    d.last
                ),
            );
        }
        if !seen_hint {
            corrupted(
                index,
                format!("List {l}'s insert hint {} is not in its chain.", d.hint),
            );
        }
        sizes.push(n);
    }
    sizes
}

pub fn stats(index: pg_sys::Relation) -> Stats {
    let sizes = list_sizes(index);
    let rows: usize = sizes.iter().sum();
    let sq: f64 = sizes.iter().map(|s| (*s as f64).powi(2)).sum();
    Stats {
        rows: rows as i64,
        pages: pages::nblocks(index) as i64,
        lists: Some(sizes.len() as i32),
        min_list: sizes.iter().min().map(|v| *v as i64),
        max_list: sizes.iter().max().map(|v| *v as i64),
        imbalance: (rows > 0).then(|| sizes.len() as f64 * sq / (rows as f64).powi(2)),
        ..Default::default()
    }
}

pub fn check(index: pg_sys::Relation) {
    list_sizes(index);
}
