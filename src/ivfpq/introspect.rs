//! The `vecx_ivfpq` side of `vecx_index_stats` and `vecx_index_check` (see
//! [`crate::introspect`]).
use std::collections::HashMap;

use pgrx::pg_sys;

use super::store::{self, each_list_page, read_meta, walk_list, Blocks};
use crate::introspect::Stats;
use crate::pages::{self, corrupted};

/// Entries of every list, walking each list's pages; checks the structure on the way: page
/// types and contents, no cycles, growth chains only on group leaders and each growth page in one
/// group's chain, packed pages shared only by lists whose ranges hold them, `chain_last` and
/// `hint` where the directory says, and (in one
/// pass over every list page) each entry tagged with a list that reaches its page and holding a
/// valid heap TID: an entry no walk of its list reaches would be invisible to scans. With
/// `terms`, also that each L2 entry's stored term is the one its code and list give.
fn list_sizes(index: pg_sys::Relation, terms: bool) -> Vec<usize> {
    let meta = read_meta(index);
    let blocks = Blocks::new(index);
    let quant = store::quantizer(index, &meta, &blocks);
    if meta.trained == 1 && quant.is_none() {
        corrupted(index, "Trained index without a quantizer.");
    }
    // The quantizer when entries carry L2 terms to verify.
    let term_quant = quant.filter(|q| terms && meta.code_len() > q.pq.code_len());
    let entry_len = meta.entry_len();
    // Lists that reach each page.
    let mut reached: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut sizes = Vec::with_capacity(meta.lists as usize);
    let mut dirs = Vec::with_capacity(meta.lists as usize);
    for l in 0..meta.lists {
        let (mut n, mut visited) = (0usize, Vec::new());
        let d = walk_list(index, &meta, &blocks, l, |blk, bytes| {
            visited.push(blk);
            n += store::entries_of(bytes, entry_len, l).count();
        });
        let leader = meta.leader(l);
        let lead = if leader == l {
            d
        } else {
            if d.chain_first != pg_sys::InvalidBlockNumber {
                corrupted(
                    index,
                    format!("List {l} has a growth chain but does not lead its group."),
                );
            }
            dirs[leader as usize]
        };
        let chain_end = visited
            .last()
            .copied()
            .unwrap_or(pg_sys::InvalidBlockNumber);
        if lead.chain_first != pg_sys::InvalidBlockNumber && chain_end != lead.chain_last {
            corrupted(
                index,
                format!(
                    "List {l} ends at block {chain_end}, its group's directory entry says {}.",
                    lead.chain_last
                ),
            );
        }
        let has_pages = !visited.is_empty();
        if has_pages != (d.hint != pg_sys::InvalidBlockNumber)
            || (has_pages && !visited.contains(&d.hint))
        {
            corrupted(
                index,
                format!("List {l}'s insert hint {} is not one of its pages.", d.hint),
            );
        }
        for blk in visited {
            reached.entry(blk).or_default().push(l);
        }
        dirs.push(d);
        sizes.push(n);
    }
    // A page several lists reach is in all their packed ranges, or on one group's growth chain.
    for (blk, ls) in &reached {
        let in_ranges = ls.iter().all(|l| dirs[*l as usize].in_range(*blk));
        let one_chain = ls
            .iter()
            .all(|l| !dirs[*l as usize].in_range(*blk) && meta.leader(*l) == meta.leader(ls[0]));
        if ls.len() > 1 && !in_ranges && !one_chain {
            corrupted(
                index,
                format!("Block {blk} is in the pages of lists {ls:?} of different groups."),
            );
        }
    }
    each_list_page(index, &meta, pg_sys::BUFFER_LOCK_SHARE, |blk, buf, len| {
        let lists = reached.get(&blk).map(Vec::as_slice).unwrap_or(&[]);
        for (tid, tag, code) in store::entries(pages::contents(buf.page(), len), entry_len) {
            if tid.offset == 0 || tid.block == pg_sys::InvalidBlockNumber {
                corrupted(index, format!("List page {blk} holds an invalid heap TID."));
            }
            if !lists.contains(&tag) {
                corrupted(
                    index,
                    format!(
                        "List page {blk} holds an entry of list {tag}, which does not reach it."
                    ),
                );
            }
            if let Some(q) = &term_quant {
                let (pq, term) = code.split_at(q.pq.code_len());
                let want = vecx_core::ivfpq::train::term_bits(q, tag as usize, pq);
                if term[..vecx_core::ivfpq::format::TERM_LEN] != want.to_le_bytes() {
                    corrupted(
                        index,
                        format!(
                            "List page {blk} holds an entry whose L2 term does not match its code."
                        ),
                    );
                }
            }
        }
        len
    });
    sizes
}

pub fn stats(index: pg_sys::Relation) -> Stats {
    let sizes = list_sizes(index, false);
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
    list_sizes(index, true);
}
