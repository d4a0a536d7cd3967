//! Where CREATE INDEX puts each element: a simulation of PostgreSQL's `PageAddItem` on 8 kB
//! pages, so that every element's TID (and its neighbour tuple's TID) is known before the first
//! page is written, and neighbour lists can be written in one pass.
//!
//! The same [`Layout`] drives both the planning pass and the writing pass, so the two can never
//! disagree about where an item goes.
use super::format::Tid;

/// PostgreSQL page geometry (BLCKSZ 8192, 24-byte header, 8-byte special space, MAXALIGN 8,
/// 4-byte line pointers).
pub const BLCKSZ: usize = 8192;
pub const PAGE_HEADER: usize = 24;
pub const SPECIAL: usize = 8;
pub const LINE_POINTER: usize = 4;
/// Bytes available for items and their line pointers on an empty page.
pub const USABLE: usize = BLCKSZ - PAGE_HEADER - SPECIAL;

pub fn maxalign(n: usize) -> usize {
    (n + 7) & !7
}

/// What happened when one element was placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// First block of the element's vector pages (out-of-line vectors), if any.
    pub chunks: Option<(u32, usize)>,
    /// A new element page was started for the element tuple.
    pub new_page_for_element: bool,
    pub element: Tid,
    /// A new element page was started for the neighbour tuple (it did not fit beside).
    pub new_page_for_neighbors: bool,
    pub neighbors: Tid,
}

/// Tracks the current element page (block, pd_lower, pd_upper, items) and the next free block.
pub struct Layout {
    block: u32,
    lower: usize,
    upper: usize,
    items: u16,
    next_block: u32,
    open: bool,
}

impl Layout {
    /// Element pages start at `first_block` (block 0 is the meta page).
    pub fn new(first_block: u32) -> Layout {
        Layout {
            block: 0,
            lower: 0,
            upper: 0,
            items: 0,
            next_block: first_block,
            open: false,
        }
    }

    fn fits(&self, len: usize) -> bool {
        self.open && self.lower + LINE_POINTER <= self.upper.saturating_sub(maxalign(len))
    }

    fn new_page(&mut self) {
        self.block = self.next_block;
        self.next_block += 1;
        self.lower = PAGE_HEADER;
        self.upper = BLCKSZ - SPECIAL;
        self.items = 0;
        self.open = true;
    }

    fn add(&mut self, len: usize) -> Tid {
        self.lower += LINE_POINTER;
        self.upper -= maxalign(len);
        self.items += 1;
        Tid {
            block: self.block,
            offset: self.items,
        }
    }

    /// Places one element: `chunks` whole vector pages (allocated as the next blocks), then the
    /// element tuple and its neighbour tuple, side by side when they fit on the current page.
    pub fn place(&mut self, element_len: usize, neighbors_len: usize, chunks: usize) -> Placement {
        let chunks = if chunks > 0 {
            let first = self.next_block;
            self.next_block += chunks as u32;
            Some((first, chunks))
        } else {
            None
        };
        let pair = maxalign(element_len) + LINE_POINTER + neighbors_len;
        let mut new_page_for_element = false;
        if !(self.fits(pair) || (!self.fits_on_empty(pair) && self.fits(element_len))) {
            self.new_page();
            new_page_for_element = true;
        }
        let element = self.add(element_len);
        let mut new_page_for_neighbors = false;
        if !self.fits(neighbors_len) {
            self.new_page();
            new_page_for_neighbors = true;
        }
        let neighbors = self.add(neighbors_len);
        Placement {
            chunks,
            new_page_for_element,
            element,
            new_page_for_neighbors,
            neighbors,
        }
    }

    fn fits_on_empty(&self, len: usize) -> bool {
        PAGE_HEADER + LINE_POINTER <= BLCKSZ - SPECIAL - maxalign(len)
    }

    /// Blocks used so far (including block 0 before `first_block`).
    pub fn blocks(&self) -> u32 {
        self.next_block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_share_pages_until_full() {
        let mut l = Layout::new(1);
        let e = 24 + 4 * 128; // 536 bytes
        let n = 4 + 8 * 32; // 260 bytes
        let mut per_page = 0;
        loop {
            let p = l.place(e, n, 0);
            assert_eq!(p.element.block, p.neighbors.block);
            if p.element.block != 1 {
                break;
            }
            per_page += 1;
        }
        // (536 + 4) + (264 + 4) = 808 bytes per pair: 10 pairs in 8160 bytes.
        assert_eq!(per_page, 10);
    }

    #[test]
    fn large_vectors_get_their_own_pages() {
        let mut l = Layout::new(1);
        let p = l.place(28, 260, 3);
        assert_eq!(p.chunks, Some((1, 3)));
        assert_eq!(p.element.block, 4);
        let q = l.place(28, 260, 3);
        assert_eq!(q.chunks, Some((5, 3)));
        assert_eq!(
            q.element.block, 4,
            "the element page stays open across chunk pages"
        );
    }
}
