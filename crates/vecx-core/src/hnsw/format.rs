//! The on-disk format of a `vecx_hnsw` index, as bytes: pure encode/decode functions that the
//! PostgreSQL page store calls on page contents, tested and fuzzed here without a server.
//!
//! An index is a sequence of 8 kB PostgreSQL pages:
//!
//! * block 0, the **meta page**: [`Meta`] (magic, format version, dimensions, metric, build
//!   parameters, entry point, counters);
//! * **element pages**: items of two kinds, usually side by side on the same page:
//!   - an **element tuple** ([`Element`]): level, state (live / deleted / free), the heap TID of
//!     its row, the TID of its neighbour tuple, optionally a traversal code (`super::code`),
//!     and the vector inline (or, above [`INLINE_MAX_DIMS`] dimensions, the first block of its
//!     vector pages);
//!   - a **neighbour tuple**: fixed capacity `2M` slots for layer 0 then `M` per upper layer,
//!     so it is always rewritten in place; each slot is an index TID packed into 6 bytes;
//! * **vector pages**, for vectors too large to sit in an element tuple: consecutive pages, each
//!   holding one chunk of up to [`CHUNK_FLOATS`] floats.
//!
//! Every decoder checks magic numbers, kinds, versions and lengths and returns
//! [`FormatError`] on anything unexpected; the extension turns that into
//! `ERROR: index "..." is corrupted` (SQLSTATE XX002). Nothing here panics on bad bytes.
use std::fmt;

/// "VXHN" in the meta page.
pub const META_MAGIC: u32 = 0x5658_484e;
/// On-disk format version; bumped whenever a layout below changes. Version 2: neighbour slots
/// are 6 bytes (block, offset), not 8; version 1 indexes must be rebuilt (REINDEX).
pub const FORMAT_VERSION: u32 = 2;
/// Vectors up to this many dimensions are stored inside their element tuple.
pub const INLINE_MAX_DIMS: usize = 1900;
/// Floats per vector page chunk (8,000 bytes, well under a page's usable space).
pub const CHUNK_FLOATS: usize = 2000;

pub const KIND_ELEMENT: u8 = 1;
pub const KIND_NEIGHBORS: u8 = 2;
pub const KIND_CHUNK: u8 = 3;

/// Element states.
pub const STATE_LIVE: u8 = 0;
/// The heap row is dead: the element still routes searches but is never returned.
pub const STATE_DELETED: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}

/// A tuple identifier inside the index (block, offset) or in the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Tid {
    pub block: u32,
    pub offset: u16,
}

impl Tid {
    pub const INVALID: Tid = Tid {
        block: u32::MAX,
        offset: 0,
    };

    pub fn is_valid(&self) -> bool {
        self.block != u32::MAX && self.offset != 0
    }

    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.block.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
    }

    /// The packed form of a neighbour slot: block and offset, no padding (6 bytes, like
    /// PostgreSQL's ItemPointerData).
    fn put_packed(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.block.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
    }

    fn get(b: &[u8]) -> Tid {
        Tid {
            block: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            offset: u16::from_le_bytes([b[4], b[5]]),
        }
    }
}

const TID_LEN: usize = 8;
/// Bytes per neighbour slot ([`Tid::put_packed`]): the bulk of an index, so not padded.
const SLOT_LEN: usize = 6;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// The meta page contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub dims: u32,
    /// 0 = L2, 1 = inner product, 2 = cosine, 3 = L1.
    pub metric: u32,
    pub m: u32,
    pub ef_construction: u32,
    pub entry: Tid,
    pub entry_level: u32,
    /// Seed of the level generator.
    pub seed: u64,
    /// Elements ever inserted (the sequence number of the next one).
    pub inserted: u64,
    /// The element page new elements go to first (0 = none yet).
    pub insert_page: u32,
    /// Bumped (wrapping) in the same WAL record as every change to a neighbour list of layer 1
    /// or above, so a backend's in-memory copy of the upper layers (`hnsw::upper`) can tell
    /// that it is stale. A reserved zero word before it had this use, so older indexes read 0.
    pub upper_version: u32,
    /// 1: new elements get traversal codes and searches use them (`super::code`); 0: neither.
    /// Decided when the index is built, from how often codes settle neighbours in its graph
    /// (`super::code::prune_rate`). Past the end of older meta pages, which read 0.
    pub codes: u32,
}

pub const META_LEN: usize = 4 * 8 + TID_LEN + 4 + 8 + 8 + 4;

impl Meta {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(META_LEN);
        for v in [
            META_MAGIC,
            FORMAT_VERSION,
            self.dims,
            self.metric,
            self.m,
            self.ef_construction,
            self.insert_page,
            self.upper_version,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        self.entry.put(&mut out);
        out.extend_from_slice(&self.entry_level.to_le_bytes());
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&self.inserted.to_le_bytes());
        out.extend_from_slice(&self.codes.to_le_bytes());
        debug_assert_eq!(out.len(), META_LEN);
        out
    }

    pub fn decode(b: &[u8]) -> Result<Meta, FormatError> {
        if b.len() < META_LEN {
            return err(format!("meta page too short ({} bytes)", b.len()));
        }
        if u32_at(b, 0) != META_MAGIC {
            return err(format!("bad meta page magic {:#x}", u32_at(b, 0)));
        }
        let version = u32_at(b, 4);
        if version != FORMAT_VERSION {
            return err(format!("unsupported format version {version} (this build reads {FORMAT_VERSION}); REINDEX the index"));
        }
        let meta = Meta {
            dims: u32_at(b, 8),
            metric: u32_at(b, 12),
            m: u32_at(b, 16),
            ef_construction: u32_at(b, 20),
            entry: Tid::get(&b[32..40]),
            entry_level: u32_at(b, 40),
            seed: u64_at(b, 44),
            inserted: u64_at(b, 52),
            insert_page: u32_at(b, 24),
            upper_version: u32_at(b, 28),
            codes: u32_at(b, 60),
        };
        // dims 0: an index built empty on a column without a type modifier; the first insert
        // sets it.
        if (meta.dims == 0 && meta.entry.is_valid())
            || meta.dims as usize > crate::MAX_DIM
            || meta.metric > 3
            || meta.m < 2
            || meta.m > 100
            || meta.codes > 1
        {
            return err(format!("meta page has impossible values {meta:?}"));
        }
        if meta.entry.is_valid() && meta.entry_level as usize > super::MAX_LEVEL {
            return err(format!("entry level {} out of range", meta.entry_level));
        }
        Ok(meta)
    }
}

/// Where an element's vector lives.
#[derive(Clone, Debug, PartialEq)]
pub enum VectorPlace<'a> {
    Inline(&'a [u8]),
    /// First of `ceil(dims / CHUNK_FLOATS)` consecutive vector pages.
    Pages(u32),
}

/// A decoded element tuple (borrowing the page bytes for an inline vector).
#[derive(Clone, Debug, PartialEq)]
pub struct Element<'a> {
    pub level: u8,
    pub state: u8,
    pub heap: Tid,
    pub neighbors: Tid,
    pub dims: u16,
    /// The traversal code (`super::code`), when the element has one.
    pub code: Option<&'a [u8]>,
    pub vector: VectorPlace<'a>,
}

pub const ELEMENT_HEADER_LEN: usize = 4 + TID_LEN + TID_LEN + 4;

/// Flag bits of an element tuple's fourth byte: the vector is inline; a traversal code precedes
/// it.
const FLAG_INLINE: u8 = 1;
const FLAG_CODE: u8 = 2;

/// Size of an element tuple for `dims` dimensions, with or without a traversal code (inline
/// vectors only).
pub fn element_len(dims: usize, coded: bool) -> usize {
    if dims <= INLINE_MAX_DIMS {
        let code = if coded {
            super::code::code_len(dims)
        } else {
            0
        };
        ELEMENT_HEADER_LEN + code + 4 * dims
    } else {
        ELEMENT_HEADER_LEN + 4
    }
}

/// Encodes an element tuple. `vector` is used when it fits inline, after `code` if there is
/// one (`super::code::encode` of `vector`); otherwise `pages` (the first vector page) is
/// recorded and `code` must be `None`.
pub fn encode_element(
    level: u8,
    state: u8,
    heap: Tid,
    neighbors: Tid,
    vector: &[f32],
    pages: u32,
    code: Option<&[u8]>,
) -> Vec<u8> {
    let inline = vector.len() <= INLINE_MAX_DIMS;
    let code = code.filter(|_| inline);
    let mut out = Vec::with_capacity(element_len(vector.len(), code.is_some()));
    let flags = if inline { FLAG_INLINE } else { 0 } | if code.is_some() { FLAG_CODE } else { 0 };
    out.extend_from_slice(&[KIND_ELEMENT, level, state, flags]);
    heap.put(&mut out);
    neighbors.put(&mut out);
    out.extend_from_slice(&(vector.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    if let Some(code) = code {
        debug_assert_eq!(code.len(), super::code::code_len(vector.len()));
        out.extend_from_slice(code);
    }
    if inline {
        for v in vector {
            out.extend_from_slice(&v.to_le_bytes());
        }
    } else {
        out.extend_from_slice(&pages.to_le_bytes());
    }
    out
}

pub fn decode_element(b: &[u8], dims: usize) -> Result<Element<'_>, FormatError> {
    if b.len() < ELEMENT_HEADER_LEN || b[0] != KIND_ELEMENT {
        return err(format!(
            "expected an element tuple, found kind {} ({} bytes)",
            b.first().copied().unwrap_or(0),
            b.len()
        ));
    }
    let (level, state, flags) = (b[1], b[2], b[3]);
    let (inline, coded) = (flags & FLAG_INLINE != 0, flags & FLAG_CODE != 0);
    if level as usize > super::MAX_LEVEL
        || state > STATE_DELETED
        || flags > FLAG_INLINE | FLAG_CODE
        || (coded && !inline)
    {
        return err(format!(
            "element tuple header out of range (level {level}, state {state})"
        ));
    }
    let stored_dims = u16::from_le_bytes([b[20], b[21]]);
    if stored_dims as usize != dims || inline != (dims <= INLINE_MAX_DIMS) {
        return err(format!(
            "element tuple has {stored_dims} dimensions, index has {dims}"
        ));
    }
    if b.len() != element_len(dims, coded) {
        return err(format!(
            "element tuple is {} bytes, expected {}",
            b.len(),
            element_len(dims, coded)
        ));
    }
    let mut body = &b[ELEMENT_HEADER_LEN..];
    let code = coded.then(|| {
        let (code, rest) = body.split_at(super::code::code_len(dims));
        body = rest;
        code
    });
    let vector = if inline {
        VectorPlace::Inline(body)
    } else {
        VectorPlace::Pages(u32_at(body, 0))
    };
    Ok(Element {
        level,
        state,
        heap: Tid::get(&b[4..12]),
        neighbors: Tid::get(&b[12..20]),
        dims: stored_dims,
        code,
        vector,
    })
}

/// Offset of the neighbour-tuple TID inside an element tuple, and of its state byte.
pub const ELEMENT_NEIGHBORS_AT: usize = 12;
pub const ELEMENT_STATE_AT: usize = 2;

/// Points an encoded element tuple at its neighbour tuple.
pub fn set_element_neighbors(b: &mut [u8], t: Tid) {
    let mut tmp = Vec::with_capacity(TID_LEN);
    t.put(&mut tmp);
    b[ELEMENT_NEIGHBORS_AT..ELEMENT_NEIGHBORS_AT + TID_LEN].copy_from_slice(&tmp);
}

/// The highest level an element may have so its neighbour tuple still fits on a page
/// (`usable` bytes), for a given `m`.
pub fn max_level_for(m: usize, usable: usize) -> usize {
    let slots = (usable.saturating_sub(NEIGHBORS_HEADER_LEN)) / SLOT_LEN;
    (slots / m.max(1)).saturating_sub(2).min(super::MAX_LEVEL)
}

/// Reads little-endian floats into `out`.
pub fn read_floats(bytes: &[u8], out: &mut Vec<f32>) {
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

/// Slots in the neighbour tuple of an element of `level`: `2m` for layer 0, `m` per upper layer.
pub fn neighbor_slots(level: usize, m: usize) -> usize {
    2 * m + level * m
}

pub const NEIGHBORS_HEADER_LEN: usize = 4;

pub fn neighbors_len(level: usize, m: usize) -> usize {
    NEIGHBORS_HEADER_LEN + SLOT_LEN * neighbor_slots(level, m)
}

/// Encodes a neighbour tuple: `lists[l]` are the neighbours on layer `l` (at most the layer's
/// capacity; the rest of the slots are invalid).
pub fn encode_neighbors(level: usize, m: usize, lists: &[Vec<Tid>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(neighbors_len(level, m));
    out.extend_from_slice(&[KIND_NEIGHBORS, level as u8]);
    out.extend_from_slice(&(m as u16).to_le_bytes());
    for l in 0..=level {
        let cap = if l == 0 { 2 * m } else { m };
        let list = lists.get(l).map(|v| v.as_slice()).unwrap_or(&[]);
        for i in 0..cap {
            list.get(i)
                .copied()
                .unwrap_or(Tid::INVALID)
                .put_packed(&mut out);
        }
    }
    out
}

/// Decodes a neighbour tuple into one list per layer (invalid slots skipped).
pub fn decode_neighbors(b: &[u8], m: usize) -> Result<Vec<Vec<Tid>>, FormatError> {
    let level = check_neighbors(b, m)?;
    let mut lists = Vec::with_capacity(level + 1);
    for l in 0..=level {
        let mut list = Vec::with_capacity(if l == 0 { 2 * m } else { m });
        level_into(b, m, l, &mut list);
        lists.push(list);
    }
    Ok(lists)
}

/// Decodes the list of layer `layer` of a neighbour tuple into `out` (cleared first; invalid
/// slots skipped); returns the tuple's level. A layer above it leaves `out` empty. What a
/// search expanding an element needs, without a list per layer.
pub fn decode_layer_into(
    b: &[u8],
    m: usize,
    layer: usize,
    out: &mut Vec<Tid>,
) -> Result<usize, FormatError> {
    let level = check_neighbors(b, m)?;
    out.clear();
    if layer <= level {
        level_into(b, m, layer, out);
    }
    Ok(level)
}

/// The level of a neighbour tuple whose kind, level, `m` and length agree.
fn check_neighbors(b: &[u8], m: usize) -> Result<usize, FormatError> {
    if b.len() < NEIGHBORS_HEADER_LEN || b[0] != KIND_NEIGHBORS {
        return err(format!(
            "expected a neighbour tuple, found kind {}",
            b.first().copied().unwrap_or(0)
        ));
    }
    let level = b[1] as usize;
    let stored_m = u16::from_le_bytes([b[2], b[3]]) as usize;
    if level > super::MAX_LEVEL || stored_m != m || b.len() != neighbors_len(level, m) {
        return err(format!(
            "neighbour tuple of {} bytes does not match level {level}, m {m}",
            b.len()
        ));
    }
    Ok(level)
}

/// Appends the valid slots of layer `layer` of a checked neighbour tuple (layer 0 holds 2m
/// slots, every other layer m).
fn level_into(b: &[u8], m: usize, layer: usize, out: &mut Vec<Tid>) {
    // Layer 0's 2m slots, then m per layer: layer l >= 1 starts after (l + 1) m slots.
    let (before, cap) = if layer == 0 {
        (0, 2 * m)
    } else {
        ((layer + 1) * m, m)
    };
    let start = NEIGHBORS_HEADER_LEN + before * SLOT_LEN;
    for slot in b[start..start + cap * SLOT_LEN].chunks_exact(SLOT_LEN) {
        let t = Tid::get(slot);
        if t.is_valid() {
            out.push(t);
        }
    }
}

/// Number of vector pages a `dims`-dimensional out-of-line vector takes.
pub fn chunk_count(dims: usize) -> usize {
    dims.div_ceil(CHUNK_FLOATS)
}

/// Encodes chunk `index` of an out-of-line vector.
pub fn encode_chunk(vector: &[f32], index: usize) -> Vec<u8> {
    let part = &vector[index * CHUNK_FLOATS..((index + 1) * CHUNK_FLOATS).min(vector.len())];
    let mut out = Vec::with_capacity(8 + 4 * part.len());
    out.extend_from_slice(&[KIND_CHUNK, 0]);
    out.extend_from_slice(&(index as u16).to_le_bytes());
    out.extend_from_slice(&(part.len() as u32).to_le_bytes());
    for v in part {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes chunk `index` of a `dims`-dimensional vector, appending its floats to `out`.
pub fn decode_chunk(
    b: &[u8],
    dims: usize,
    index: usize,
    out: &mut Vec<f32>,
) -> Result<(), FormatError> {
    let expect = CHUNK_FLOATS.min(dims.saturating_sub(index * CHUNK_FLOATS));
    if b.len() < 8 || b[0] != KIND_CHUNK {
        return err("expected a vector chunk");
    }
    let (stored_index, len) = (
        u16::from_le_bytes([b[2], b[3]]) as usize,
        u32_at(b, 4) as usize,
    );
    if stored_index != index || len != expect || b.len() != 8 + 4 * len {
        return err(format!(
            "vector chunk {stored_index} of {len} floats, expected chunk {index} of {expect}"
        ));
    }
    read_floats(&b[8..], out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn neighbour_slots_are_six_bytes() {
        // Layer 0 of m = 16: 32 slots of 6 bytes after the 4-byte header (pgvector's
        // ItemPointerData size); an element of level 2 adds 2 x 16 slots.
        assert_eq!(neighbors_len(0, 16), 4 + 32 * 6);
        assert_eq!(neighbors_len(2, 16), 4 + 64 * 6);
        let lists = vec![
            vec![
                Tid {
                    block: 7,
                    offset: 3,
                },
                Tid {
                    block: u32::MAX - 1,
                    offset: u16::MAX,
                },
            ],
            vec![Tid {
                block: 1,
                offset: 1,
            }],
        ];
        let b = encode_neighbors(1, 4, &lists);
        assert_eq!(b.len(), neighbors_len(1, 4));
        assert_eq!(&b[4..10], &[7, 0, 0, 0, 3, 0]);
        assert_eq!(decode_neighbors(&b, 4).unwrap(), lists);
        // One layer at a time gives the same lists; a layer above the tuple's level is empty.
        let mut one = vec![Tid {
            block: 9,
            offset: 9,
        }];
        for (layer, list) in lists.iter().enumerate() {
            assert_eq!(decode_layer_into(&b, 4, layer, &mut one).unwrap(), 1);
            assert_eq!(&one, list);
        }
        assert_eq!(decode_layer_into(&b, 4, 2, &mut one).unwrap(), 1);
        assert!(one.is_empty());
        assert!(decode_layer_into(&b, 5, 0, &mut one).is_err());
        // The element header keeps its padded TIDs (the vector after it stays 4-aligned).
        assert_eq!(ELEMENT_HEADER_LEN % 4, 0);
    }

    #[test]
    fn meta_round_trip() {
        let m = Meta {
            dims: 128,
            metric: 2,
            m: 16,
            ef_construction: 64,
            entry: Tid {
                block: 3,
                offset: 7,
            },
            entry_level: 4,
            seed: 99,
            inserted: 1000,
            insert_page: 5,
            upper_version: 77,
            codes: 1,
        };
        assert_eq!(Meta::decode(&m.encode()).unwrap(), m);
        let mut bad = m.encode();
        bad[4] = 9;
        assert!(Meta::decode(&bad).unwrap_err().0.contains("version"));
    }

    #[test]
    fn element_round_trip_inline_and_paged() {
        let v: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let b = encode_element(
            2,
            STATE_LIVE,
            Tid {
                block: 5,
                offset: 2,
            },
            Tid {
                block: 6,
                offset: 1,
            },
            &v,
            0,
            None,
        );
        let e = decode_element(&b, 16).unwrap();
        assert_eq!(e.code, None);
        assert_eq!((e.level, e.heap.block, e.neighbors.offset), (2, 5, 1));
        let VectorPlace::Inline(bytes) = e.vector else {
            panic!("inline expected")
        };
        let mut back = Vec::new();
        read_floats(bytes, &mut back);
        assert_eq!(back, v);
        let big = vec![1.5f32; 5000];
        let b = encode_element(
            0,
            STATE_LIVE,
            Tid::default(),
            Tid::default(),
            &big,
            42,
            None,
        );
        assert_eq!(
            decode_element(&b, 5000).unwrap().vector,
            VectorPlace::Pages(42)
        );
        assert_eq!(chunk_count(5000), 3);
        let mut out = Vec::new();
        for i in 0..3 {
            decode_chunk(&encode_chunk(&big, i), 5000, i, &mut out).unwrap();
        }
        assert_eq!(out, big);
    }

    #[test]
    fn element_with_a_code_round_trips() {
        let v: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin()).collect();
        let code = super::super::code::encode(&v);
        let heap = Tid {
            block: 3,
            offset: 4,
        };
        let b = encode_element(1, STATE_LIVE, heap, Tid::default(), &v, 0, Some(&code));
        assert_eq!(b.len(), element_len(200, true));
        let e = decode_element(&b, 200).unwrap();
        assert_eq!((e.level, e.heap, e.code), (1, heap, Some(&code[..])));
        let VectorPlace::Inline(bytes) = e.vector else {
            panic!("inline expected")
        };
        let mut back = Vec::new();
        read_floats(bytes, &mut back);
        assert_eq!(back, v);
        // A code flag on a tuple without the code's bytes is a length error, not a misread.
        let mut short = encode_element(1, STATE_LIVE, heap, Tid::default(), &v, 0, None);
        short[3] |= 2;
        assert!(decode_element(&short, 200).is_err());
        // Out-of-line vectors never carry one.
        let big = vec![0.5f32; 3000];
        let b = encode_element(0, STATE_LIVE, heap, Tid::default(), &big, 7, Some(&code));
        assert_eq!(decode_element(&b, 3000).unwrap().code, None);
    }

    #[test]
    fn neighbors_round_trip() {
        let lists = vec![
            vec![
                Tid {
                    block: 1,
                    offset: 1,
                },
                Tid {
                    block: 2,
                    offset: 3,
                },
            ],
            vec![Tid {
                block: 9,
                offset: 9,
            }],
        ];
        let b = encode_neighbors(1, 4, &lists);
        assert_eq!(b.len(), neighbors_len(1, 4));
        assert_eq!(decode_neighbors(&b, 4).unwrap(), lists);
    }

    proptest! {
        /// Page decoders on random and corrupted bytes: an error or a value, never a panic.
        #[test]
        fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), dims in 1usize..64, m in 2usize..20) {
            let _ = Meta::decode(&bytes);
            let _ = decode_element(&bytes, dims);
            let _ = decode_neighbors(&bytes, m);
            let _ = decode_chunk(&bytes, dims, 0, &mut Vec::new());
        }

        #[test]
        fn flipped_bytes_are_detected_or_harmless(flip in 0usize..60, bit in 0u8..8) {
            let v: Vec<f32> = (0..8).map(|i| i as f32).collect();
            let mut b = encode_element(1, STATE_LIVE, Tid { block: 1, offset: 1 }, Tid { block: 1, offset: 2 }, &v, 0, Some(&super::super::code::encode(&v)));
            let i = flip % b.len();
            b[i] ^= 1 << bit;
            let _ = decode_element(&b, 8);
        }
    }
}
