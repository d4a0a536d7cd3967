//! The on-disk format of a `vecx_ivfpq` index, as bytes (pure encode/decode, tested without a
//! server; every decoder returns [`FormatError`] on bad bytes, never panics).
//!
//! * block 0, the **meta page**: [`Meta`] (magic, format version, dimensions, metric, lists,
//!   `pq_m`, `pq_bits`, where the quantizer and the directory live);
//! * **quantizer pages**: the [`Quantizer`] (coarse centroids and PQ codebooks) serialised with
//!   bincode and cut into page-sized chunks on consecutive blocks;
//! * **directory pages**: one [`DirEntry`] per list (its packed block range, its growth chain,
//!   the first page that may have room, entry count at build), [`DIR_ENTRY_LEN`] bytes each;
//! * **list pages**: packed arrays of entries: the heap TID (6 bytes), the list the entry belongs
//!   to (2 bytes, [`TAG_LEN`]), the PQ code (`pq_m` bytes at 8 bits, half at 4) and, in L2
//!   indexes, the entry's L2 term (a bf16, [`TERM_LEN`]; see `search.rs`). No line pointers: at a few
//!   dozen bytes per row they would cost 10% or more of the index.
//!
//! A list's pages, in the order scans, inserts and vacuum visit them ([`DirEntry::after`]):
//! first the **packed range** `first..=last` that CREATE INDEX wrote, then the **growth chain**
//! (`chain_first`, linked by `next` in the page opaque) that inserts added. CREATE INDEX writes
//! every list's entries one after the other, so small lists share pages: the page where one list
//! ends is the page where the next begins, and the tag says whose each entry is. Without that,
//! each list would cost at least a page, and the many small lists that give IVF its recall at a
//! quarter of the lists (200 lists of 50 rows on 10,000 rows) would make the index larger than
//! the vectors' codes several times over. Growth pages belong to one list. Both kinds are in
//! ascending block order (the build writes ranges in order, growth extends the relation).
//!
//! Growth chains belong to **groups** of consecutive lists (`Meta::group` lists each, chosen at
//! build so a group holds about four pages of entries; 1 when lists are pages long), kept in
//! the directory entry of the group's first list. A list that overflows its range takes room on
//! its group's chain, so a group grows by one page when its lists together outgrow what they
//! had, not each list by a page whenever it alone does: a delete/reinsert cycle redraws how many
//! rows each list gets, and per-list chains would add a page for every list that drew a few
//! more rows than at build. A scan of a list reads its group's chain and keeps its own tag.
use serde::{Deserialize, Serialize};

pub use crate::hnsw::format::{FormatError, Tid};

use super::pq::ProductQuantizer;

/// "VXIV" in the meta page.
pub const META_MAGIC: u32 = 0x5658_4956;
/// Version 2: entries tagged with their list, packed list ranges sharing pages. Version 3: L2
/// entries carry their term after the code; the quantizer is stored as bf16.
pub const FORMAT_VERSION: u32 = 3;
pub const META_LEN: usize = 64;
pub const DIR_ENTRY_LEN: usize = 24;
/// Bytes of a heap TID in a list entry.
pub const TID_LEN: usize = 6;
/// Bytes of the list tag after the TID (lists are at most 32,768).
pub const TAG_LEN: usize = 2;
/// Bytes before the code in an entry.
pub const HEADER_LEN: usize = TID_LEN + TAG_LEN;
/// Bytes of the L2 term after the code of an L2 index's entries (a bf16, little-endian; see
/// [`super::pq::ProductQuantizer::l2_term`]).
pub const TERM_LEN: usize = 2;
/// The meta page's metric code for L2 (the extension's `metric_code`).
pub const METRIC_L2: u32 = 0;
/// Lists an index may have (the tag is 16 bits).
pub const MAX_LISTS: u32 = 32_768;
/// No block (PostgreSQL's InvalidBlockNumber).
pub const NO_BLOCK: u32 = u32::MAX;

fn err<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Meta {
    pub dims: u32,
    pub metric: u32,
    /// Lists actually built (at most the `lists` option; fewer when the table had fewer rows).
    pub lists: u32,
    pub pq_m: u32,
    pub pq_bits: u32,
    /// 0 when built on an empty table (no centroids yet: every row goes to list 0 and scans
    /// rank by exact distance until a REINDEX trains the quantizer).
    pub trained: u32,
    pub quantizer_first: u32,
    pub quantizer_pages: u32,
    pub quantizer_len: u32,
    pub dir_first: u32,
    pub dir_pages: u32,
    /// Distinguishes builds (REINDEX, TRUNCATE) so backends know when a cached quantizer is stale.
    pub build_id: u32,
    /// Lists per growth group: lists `g * group .. (g + 1) * group` share one growth chain, kept
    /// in the directory entry of the group's first list (see the module comment).
    pub group: u32,
}

impl Meta {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(META_LEN);
        for v in [
            META_MAGIC,
            FORMAT_VERSION,
            self.dims,
            self.metric,
            self.lists,
            self.pq_m,
            self.pq_bits,
            self.trained,
            self.quantizer_first,
            self.quantizer_pages,
            self.quantizer_len,
            self.dir_first,
            self.dir_pages,
            self.build_id,
            self.group,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.resize(META_LEN, 0);
        b
    }

    pub fn decode(b: &[u8]) -> Result<Meta, FormatError> {
        if b.len() < META_LEN {
            return err("meta page too short");
        }
        let w = |i: usize| u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        if w(0) != META_MAGIC {
            return err(format!("bad meta magic {:#x}", w(0)));
        }
        if w(1) != FORMAT_VERSION {
            return err(format!(
                "format version {} (this vecx reads version {FORMAT_VERSION})",
                w(1)
            ));
        }
        let m = Meta {
            dims: w(2),
            metric: w(3),
            lists: w(4),
            pq_m: w(5),
            pq_bits: w(6),
            trained: w(7),
            quantizer_first: w(8),
            quantizer_pages: w(9),
            quantizer_len: w(10),
            dir_first: w(11),
            dir_pages: w(12),
            build_id: w(13),
            group: w(14),
        };
        if m.lists == 0 || m.dir_pages == 0 {
            return err("meta page has no lists");
        }
        if m.lists > MAX_LISTS {
            return err(format!("{} lists (at most {MAX_LISTS})", m.lists));
        }
        if m.group == 0 || m.group > m.lists {
            return err(format!(
                "growth group of {} lists (of {})",
                m.group, m.lists
            ));
        }
        if m.pq_bits != 4 && m.pq_bits != 8 {
            return err(format!("pq_bits {} is not 4 or 8", m.pq_bits));
        }
        // Anything but 0 would be read as "trained" by code_len() and the scans, without the
        // pq_m check below.
        if m.trained > 1 {
            return err(format!("trained flag {} is not 0 or 1", m.trained));
        }
        if m.trained == 1 && (m.pq_m == 0 || m.pq_m > m.dims.max(1)) {
            return err(format!("pq_m {} for {} dimensions", m.pq_m, m.dims));
        }
        Ok(m)
    }

    /// Bytes of an entry after its header: the PQ code, then the L2 term for L2 indexes (none
    /// before the quantizer is trained).
    pub fn code_len(&self) -> usize {
        if self.trained == 0 {
            0
        } else {
            let term = if self.metric == METRIC_L2 {
                TERM_LEN
            } else {
                0
            };
            super::pq::code_len(self.pq_m as usize, self.pq_bits as u8) + term
        }
    }

    /// Bytes of one list entry.
    pub fn entry_len(&self) -> usize {
        HEADER_LEN + self.code_len()
    }

    /// The list whose directory entry holds the growth chain of list `l`'s group.
    pub fn leader(&self, l: u32) -> u32 {
        l - l % self.group.max(1)
    }

    /// The directory block and byte offset of list `l`'s entry.
    pub fn dir_slot(&self, l: u32, per_page: usize) -> (u32, usize) {
        let l = l as usize;
        (
            self.dir_first + (l / per_page) as u32,
            (l % per_page) * DIR_ENTRY_LEN,
        )
    }
}

/// One list's directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The packed range CREATE INDEX wrote (`NO_BLOCK` for both when the list was empty).
    pub first: u32,
    pub last: u32,
    /// The growth chain inserts added (`NO_BLOCK` for both until the group grows; always for a
    /// list that does not lead its group).
    pub chain_first: u32,
    pub chain_last: u32,
    /// The first page that may have room (vacuum moves it back when it frees space);
    /// `NO_BLOCK` for an empty list that never grew.
    pub hint: u32,
    /// Entries at build time (statistics count the pages).
    pub count: u32,
}

impl Default for DirEntry {
    fn default() -> DirEntry {
        DirEntry {
            first: NO_BLOCK,
            last: NO_BLOCK,
            chain_first: NO_BLOCK,
            chain_last: NO_BLOCK,
            hint: NO_BLOCK,
            count: 0,
        }
    }
}

impl DirEntry {
    pub fn encode(&self, out: &mut [u8]) {
        for (i, v) in [
            self.first,
            self.last,
            self.chain_first,
            self.chain_last,
            self.hint,
            self.count,
        ]
        .iter()
        .enumerate()
        {
            out[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
    }

    pub fn decode(b: &[u8]) -> Result<DirEntry, FormatError> {
        if b.len() < DIR_ENTRY_LEN {
            return err("directory entry too short");
        }
        let w = |i: usize| u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        let d = DirEntry {
            first: w(0),
            last: w(1),
            chain_first: w(2),
            chain_last: w(3),
            hint: w(4),
            count: w(5),
        };
        if (d.first == NO_BLOCK) != (d.last == NO_BLOCK)
            || (d.first != NO_BLOCK && d.first > d.last)
        {
            return err(format!("packed range {}..{}", d.first, d.last));
        }
        if (d.chain_first == NO_BLOCK) != (d.chain_last == NO_BLOCK) {
            return err(format!("growth chain {}..{}", d.chain_first, d.chain_last));
        }
        Ok(d)
    }

    /// The list's first page (`NO_BLOCK` for a list with no page), its group's growth chain
    /// starting at `chain` (the leader's `chain_first`).
    pub fn start(&self, chain: u32) -> u32 {
        if self.first != NO_BLOCK {
            self.first
        } else {
            chain
        }
    }

    /// The list's page after `blk`, whose opaque `next` link is `next`: the next block of the
    /// packed range, then the group's growth chain (from `chain`), then its links.
    pub fn after(&self, blk: u32, next: u32, chain: u32) -> u32 {
        if self.first != NO_BLOCK && blk >= self.first && blk < self.last {
            blk + 1
        } else if self.first != NO_BLOCK && blk == self.last {
            chain
        } else {
            next
        }
    }

    /// Whether `blk` is in the packed range (a page other lists may share).
    pub fn in_range(&self, blk: u32) -> bool {
        self.first != NO_BLOCK && blk >= self.first && blk <= self.last
    }
}

pub fn encode_tid(t: Tid, out: &mut [u8]) {
    out[0..4].copy_from_slice(&t.block.to_le_bytes());
    out[4..6].copy_from_slice(&t.offset.to_le_bytes());
}

/// The list tag of an entry.
pub fn decode_tag(e: &[u8]) -> u32 {
    u16::from_le_bytes([e[TID_LEN], e[TID_LEN + 1]]) as u32
}

/// Writes an entry's header: heap TID and list tag.
pub fn encode_header(t: Tid, list: u32, out: &mut [u8]) {
    encode_tid(t, out);
    out[TID_LEN..HEADER_LEN].copy_from_slice(&(list as u16).to_le_bytes());
}

pub fn decode_tid(b: &[u8]) -> Tid {
    Tid {
        block: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        offset: u16::from_le_bytes([b[4], b[5]]),
    }
}

/// Checks that `len` bytes of list-page contents hold whole entries.
pub fn check_list_contents(len: usize, entry_len: usize) -> Result<usize, FormatError> {
    if entry_len == 0 || !len.is_multiple_of(entry_len) {
        return err(format!(
            "list page holds {len} bytes, not a whole number of {entry_len}-byte entries"
        ));
    }
    Ok(len / entry_len)
}

/// Removes the entries `dead(position, TID)` names, compacting in place; returns the new length.
pub fn compact_entries(
    bytes: &mut [u8],
    entry_len: usize,
    mut dead: impl FnMut(usize, Tid) -> bool,
) -> usize {
    let n = bytes.len() / entry_len;
    let mut kept = 0;
    for i in 0..n {
        let tid = decode_tid(&bytes[i * entry_len..]);
        if dead(i, tid) {
            continue;
        }
        if kept != i {
            bytes.copy_within(i * entry_len..(i + 1) * entry_len, kept * entry_len);
        }
        kept += 1;
    }
    kept * entry_len
}

/// Coarse centroids and the product quantizer: everything a scan needs besides the lists.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Quantizer {
    pub dims: usize,
    pub lists: usize,
    /// `lists * dims` floats (bf16 values, stored as such).
    #[serde(with = "super::bf16::vec")]
    pub centroids: Vec<f32>,
    pub pq: ProductQuantizer,
}

/// The bincode encoding of the quantizer: fixed-width little-endian integers; decoding never reads
/// (or allocates for) more than the stored bytes.
fn codec(limit: u64) -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
        .with_limit(limit)
}

impl Quantizer {
    pub fn to_bytes(&self) -> Vec<u8> {
        use bincode::Options;
        codec(u64::MAX)
            .serialize(self)
            .expect("serialising plain data cannot fail")
    }

    pub fn from_bytes(b: &[u8]) -> Result<Quantizer, FormatError> {
        use bincode::Options;
        let q: Quantizer = codec(b.len() as u64)
            .deserialize(b)
            .map_err(|e| FormatError(format!("quantizer does not decode: {e}")))?;
        let pq = &q.pq;
        let ksub = 1usize << pq.bits.min(8);
        if q.lists.checked_mul(q.dims) != Some(q.centroids.len())
            || ksub.checked_mul(q.dims) != Some(pq.codebooks.len())
            || pq.dims != q.dims
            || pq.m == 0
            || q.dims == 0
            || pq.bounds.len().checked_sub(1) != Some(pq.m)
            || pq.bounds.first() != Some(&0)
            || pq.bounds.last() != Some(&(q.dims as u32))
            || pq.bounds.windows(2).any(|w| w[0] >= w[1])
            || (pq.bits != 4 && pq.bits != 8)
        {
            return err("quantizer sizes are inconsistent");
        }
        Ok(q)
    }

    /// Whether this quantizer is the one `meta` describes: same dimensions, lists, number of
    /// sub-quantizers and bits per code. Codes are `meta.code_len()` bytes and are scored with
    /// this quantizer's `m` and `bits`, so a mismatch (a damaged page) would index past the ADC
    /// table; the loader must call this before using a decoded quantizer.
    pub fn fits(&self, meta: &Meta) -> bool {
        meta.trained == 1
            && self.dims == meta.dims as usize
            && self.lists == meta.lists as usize
            && self.pq.m == meta.pq_m as usize
            && u32::from(self.pq.bits) == meta.pq_bits
    }
}

/// Page-decoder fuzzers: random and mutated bytes through every decoder of this module. Each
/// decoder must return an error or a value that satisfies its invariants, never panic; and a
/// quantizer that decodes and [`Quantizer::fits`] its meta page must be usable by everything a
/// scan and an insert do with it (list ranking, ADC tables and scores, encoding).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::ivfpq::search::{Kind, QueryScorer};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// Cases per property: random bytes rarely decode, so the byte-level fuzzers run more.
    const CASES: u32 = 2000;

    fn meta_invariants(m: &Meta, bytes: &[u8]) {
        assert!(m.lists > 0 && m.lists <= MAX_LISTS && m.dir_pages > 0);
        assert!(m.group >= 1 && m.group <= m.lists && m.leader(m.lists - 1) < m.lists);
        assert!(m.pq_bits == 4 || m.pq_bits == 8);
        assert!(m.trained <= 1);
        if m.trained == 1 {
            assert!(m.pq_m >= 1 && m.pq_m <= m.dims.max(1));
        }
        // Every field came from the bytes: encoding it again reproduces them.
        assert_eq!(&m.encode()[..60], &bytes[..60]);
        assert!(m.entry_len() >= HEADER_LEN);
    }

    /// A valid quantizer from plain parameters (no training: the fuzzers need the format, not
    /// good codebooks).
    fn quantizer(dims: usize, m: usize, bits: u8, lists: usize, seed: u64) -> Quantizer {
        let mut rng = crate::rng::Rng::new(seed);
        // bf16 values, as training makes them (the stored form).
        let mut floats = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| crate::ivfpq::bf16::round(rng.gaussian() as f32))
                .collect()
        };
        let ksub = 1usize << bits;
        Quantizer {
            dims,
            lists,
            centroids: floats(lists * dims),
            pq: crate::ivfpq::pq::ProductQuantizer {
                dims,
                m,
                bits,
                bounds: crate::ivfpq::pq::split(dims, m),
                codebooks: floats(ksub * dims),
                transposed: OnceLock::new(),
                norms: OnceLock::new(),
            },
        }
    }

    fn meta_for(q: &Quantizer) -> Meta {
        Meta {
            dims: q.dims as u32,
            metric: 0,
            lists: q.lists as u32,
            pq_m: q.pq.m as u32,
            pq_bits: u32::from(q.pq.bits),
            trained: 1,
            quantizer_first: 1,
            quantizer_pages: 1,
            quantizer_len: 0,
            dir_first: 2,
            dir_pages: 1,
            build_id: 1,
            group: 1,
        }
    }

    /// Everything a scan and an insert do with a quantizer, on codes of the meta page's length.
    fn exercise(q: &Quantizer, meta: &Meta, seed: u64) {
        let mut rng = crate::rng::Rng::new(seed);
        let x: Vec<f32> = (0..q.dims).map(|_| rng.gaussian() as f32).collect();
        let code: Vec<u8> = (0..meta.code_len()).map(|_| rng.next_u64() as u8).collect();
        for (kind, normalize) in [(Kind::L2, false), (Kind::Dot, false), (Kind::Dot, true)] {
            let mut scorer = QueryScorer::new(kind, normalize, &x, q);
            let order = scorer.rank_lists(q);
            assert_eq!(order.len(), q.lists);
            for l in order {
                scorer.enter_list(q, l);
                let _ = scorer.score(q, &code);
            }
        }
        let mut out = vec![0u8; meta.code_len()];
        let list = crate::ivfpq::train::encode(q, &x, &mut out);
        assert!((list as usize) < q.lists);
        if out.len() >= q.pq.code_len() {
            assert_eq!(q.pq.decode(&out).len(), q.dims);
        }
    }

    /// The loader checks `pq_bits` too: 8-bit codes scored by a 4-bit quantizer (or the
    /// reverse) would rank rows by garbage, and encoding 8-bit codes into 4-bit entries would
    /// write past them.
    #[test]
    fn quantizer_with_other_bits_does_not_fit() {
        for (bits, other) in [(4u8, 8u32), (8, 4)] {
            let q = quantizer(8, 8, bits, 2, 3);
            let mut meta = meta_for(&q);
            assert!(q.fits(&meta));
            meta.pq_bits = other;
            assert!(!q.fits(&meta));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Meta page, directory entry, list contents and TIDs from random bytes.
        #[test]
        fn decoders_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            entry_len in 0usize..64,
            dead_mask in any::<u64>(),
        ) {
            if let Ok(m) = Meta::decode(&bytes) {
                meta_invariants(&m, &bytes);
            }
            match DirEntry::decode(&bytes) {
                Ok(d) => {
                    let mut again = [0u8; DIR_ENTRY_LEN];
                    d.encode(&mut again);
                    prop_assert_eq!(&again[..], &bytes[..DIR_ENTRY_LEN]);
                }
                // Short, or a range/chain with one end missing or a range backwards.
                Err(_) => {
                    let w = |i: usize| {
                        u32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]])
                    };
                    let bad = bytes.len() < DIR_ENTRY_LEN
                        || (w(0) == NO_BLOCK) != (w(1) == NO_BLOCK)
                        || (w(0) != NO_BLOCK && w(0) > w(1))
                        || (w(2) == NO_BLOCK) != (w(3) == NO_BLOCK);
                    prop_assert!(bad);
                }
            }
            if let Ok(n) = check_list_contents(bytes.len(), entry_len) {
                prop_assert_eq!(n * entry_len, bytes.len());
            }
            if bytes.len() >= TID_LEN {
                let t = decode_tid(&bytes);
                let mut again = [0u8; TID_LEN];
                encode_tid(t, &mut again);
                prop_assert_eq!(&again[..], &bytes[..TID_LEN]);
            }
            // Compaction works on whole entries of at least a TID; whatever it keeps is whole.
            let entry_len = entry_len.max(TID_LEN);
            let mut page = bytes.clone();
            let kept = compact_entries(&mut page, entry_len, |i, _| dead_mask >> (i % 64) & 1 == 1);
            prop_assert!(kept <= bytes.len() && kept % entry_len == 0);
        }

        /// A valid meta page with bytes overwritten: an error, or a meta page that holds.
        #[test]
        fn mutated_meta_pages(
            dims in 1u32..20_000, pq_m in 1u32..64, bits in prop::sample::select(vec![4u32, 8]),
            edits in prop::collection::vec((0usize..META_LEN, any::<u8>()), 1..6),
        ) {
            let m = Meta { dims, metric: 2, lists: 7, pq_m: pq_m.min(dims), pq_bits: bits, trained: 1,
                quantizer_first: 1, quantizer_pages: 3, quantizer_len: 20_000, dir_first: 4,
                dir_pages: 1, build_id: 9, group: 2 };
            let mut b = m.encode();
            prop_assert_eq!(Meta::decode(&b), Ok(m));
            for (at, v) in edits {
                b[at] = v;
            }
            if let Ok(m) = Meta::decode(&b) {
                meta_invariants(&m, &b);
            }
        }

        /// Random bytes as a quantizer.
        #[test]
        fn random_quantizer_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(q) = Quantizer::from_bytes(&bytes) {
                let meta = meta_for(&q);
                exercise(&q, &meta, 1);
            }
        }

        /// A valid quantizer, overwritten, truncated or extended: an error, or a quantizer
        /// that is usable with codes of its meta page's length. A meta page describing another
        /// quantizer (damage on either side) is refused by `fits`.
        #[test]
        fn mutated_quantizers(
            dims in 1usize..12, m_seed in any::<usize>(), bits in prop::sample::select(vec![4u8, 8]),
            lists in 1usize..5, seed in any::<u64>(),
            edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..5),
            cut in prop::option::of(any::<usize>()),
            tail in prop::collection::vec(any::<u8>(), 0..3),
            other_bits in any::<bool>(),
        ) {
            let m = 1 + m_seed % dims;
            let q = quantizer(dims, m, bits, lists, seed);
            let meta = meta_for(&q);
            let mut b = q.to_bytes();
            prop_assert_eq!(Quantizer::from_bytes(&b), Ok(q.clone()));
            exercise(&q, &meta, seed);
            for (at, v) in &edits {
                let at = at % b.len();
                b[at] = *v;
            }
            if let Some(c) = cut {
                b.truncate(c % (b.len() + 1));
            }
            b.extend_from_slice(&tail);
            if let Ok(d) = Quantizer::from_bytes(&b) {
                // The meta page the loader compares it with: the original's, or one whose
                // pq_bits was damaged.
                let mut meta = meta;
                if other_bits {
                    meta.pq_bits = if meta.pq_bits == 4 { 8 } else { 4 };
                }
                if d.fits(&meta) {
                    exercise(&d, &meta, seed);
                } else {
                    prop_assert!(d.dims != q.dims || d.lists != q.lists || d.pq.m != q.pq.m
                        || u32::from(d.pq.bits) != meta.pq_bits);
                }
            }
        }
    }
}
