//! Freed slots: how vacuum deletes tuples from an element page without moving any other byte,
//! and how inserts reuse the space.
//!
//! Searches on a primary read element tuples under a pin alone (see
//! `graph::PageGraph::pinned_partial`), so a tuple that may still be read must never move.
//! PostgreSQL's page-level deletes all move tuple data: `PageIndexTupleDelete` and
//! `PageIndexMultiDelete` close the gap, and even `PageIndexTupleDeleteNoCompact`, which keeps
//! the line pointers and so the TIDs, slides every tuple stored below the deleted one up by its
//! size. A reader that has just fetched a line pointer then reads the bytes of whatever slid
//! under it. (It happened: an insert met an "element" of kind 208 while VACUUM freed tuples
//! beside it, in the soak test that runs vacuum during inserts.)
//!
//! So vacuum frees a tuple by marking its line pointer dead *with storage* ([`free`]: LP_DEAD,
//! offset and length kept, the bytes untouched). Readers take only LP_NORMAL items, so they no
//! longer see it, and nothing else on the page changes. Freed storage is reused in place by
//! [`place`]: dead slots whose bytes lie side by side form one run (an element and its
//! neighbour tuple, stored together and freed together, always do), and a new tuple goes at
//! the start of the shortest run that holds it, under one of the run's own line pointers; the
//! run's rest stays described by another of them, and line pointers left over become unused
//! for `PageAddItemExtended` to reuse. TIDs are reused as PostgreSQL's index AMs reuse freed
//! TIDs: vacuum frees a slot only after every scan and insert that could hold its TID has
//! finished, and every byte written is freed storage no one reads. A page with no LP_NORMAL
//! item left is initialised afresh by vacuum, which returns the whole page. A freed level-0
//! pair is exactly the run a new level-0 pair needs; two freed side by side hold an
//! upper-level one.
//!
//! The free space map is told contiguous space plus freed storage ([`reusable`]), an
//! overestimate when the runs are too short for what comes: an insert checks the page with
//! [`fits`] and, when it does not fit, records a figure that stops the map offering the page
//! for that size.
use pgrx::pg_sys;

use crate::pages;

const LINE_POINTER: usize = std::mem::size_of::<pg_sys::ItemIdData>();

/// Frees item `off` of `page` (a GenericXLog copy of a page held exclusively) without moving
/// any byte: its line pointer becomes LP_DEAD with its storage kept, for [`place`] to reuse.
pub fn free(page: pg_sys::Page, off: u16) {
    if off == 0 || off > pages::max_offset(page) {
        return;
    }
    // SAFETY: `off` is one of the page's line pointers (checked above); the caller holds the
    // page (or its GenericXLog copy) exclusively.
    unsafe {
        let id = pg_sys::PageGetItemId(page, off);
        if (*id).lp_flags() == pg_sys::LP_NORMAL {
            (*id).set_lp_flags(pg_sys::LP_DEAD);
        }
    }
}

/// Line pointer `off` of `page` (one of its line pointers): flags, length, offset.
fn line(page: pg_sys::Page, off: u16) -> (u32, usize, usize) {
    // SAFETY: `off` is one of the page's line pointers (the callers walk 1..=max_offset).
    unsafe {
        let id = pg_sys::PageGetItemId(page, off);
        (
            (*id).lp_flags(),
            (*id).lp_len() as usize,
            (*id).lp_off() as usize,
        )
    }
}

/// Freed storage on a page: runs of it (start, bytes), in page order, and the line pointers
/// free to take (dead ones, which described it, and unused ones).
struct Freed {
    runs: Vec<(usize, usize)>,
    lines: Vec<u16>,
}

/// The freed storage of `page`. Slots freed side by side (an element and its neighbour tuple
/// always are) merge into one run, so a tuple larger than either fits.
fn freed(page: pg_sys::Page) -> Freed {
    let mut dead: Vec<(usize, usize)> = Vec::new();
    let mut lines = Vec::new();
    for off in 1..=pages::max_offset(page) {
        let (flags, len, start) = line(page, off);
        let span = pages::maxalign(len);
        match flags {
            pg_sys::LP_UNUSED => lines.push(off),
            pg_sys::LP_DEAD => {
                lines.push(off);
                if len > 0 && start + span <= pg_sys::BLCKSZ as usize {
                    dead.push((start, span));
                }
            }
            _ => {}
        }
    }
    dead.sort_unstable();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (start, span) in dead {
        match runs.last_mut() {
            Some(r) if r.0 + r.1 == start => r.1 += span,
            Some(r) if start < r.0 + r.1 => {} // overlapping: never written so; ignored
            _ => runs.push((start, span)),
        }
    }
    Freed { runs, lines }
}

/// Bytes between the line pointers and the tuples.
fn contiguous(page: pg_sys::Page) -> usize {
    // SAFETY: a valid page header.
    unsafe {
        let h = page as *const pg_sys::PageHeaderData;
        ((*h).pd_upper as usize).saturating_sub((*h).pd_lower as usize)
    }
}

/// Space an insert may find on `page`: contiguous free space plus freed storage (for the free
/// space map; an overestimate when the runs are too short for what comes, see [`fits`]).
pub fn reusable(page: pg_sys::Page) -> usize {
    pages::free_space(page) + freed(page).runs.iter().map(|r| r.1).sum::<usize>()
}

/// Where a tuple goes: (line pointer, byte offset) in freed storage, or new space.
#[derive(Clone, Copy)]
enum Place {
    Freed(u16, usize),
    New,
}

/// Where tuples of `lens` bytes would go on `page`, in order, and the freed storage left: each
/// at the start of the shortest run that holds it, under a free line pointer, as long as one
/// stays for every run left (each run must stay described); else in new space. `None` when one
/// does not fit.
fn plan(page: pg_sys::Page, lens: &[usize]) -> Option<(Vec<Place>, Freed)> {
    let mut f = freed(page);
    let mut room = contiguous(page);
    let mut out = Vec::with_capacity(lens.len());
    for &len in lens {
        let need = pages::maxalign(len);
        let best = (0..f.runs.len())
            .filter(|&i| f.runs[i].1 >= need)
            .min_by_key(|&i| f.runs[i].1)
            .filter(|&i| {
                let runs_left = f.runs.len() - (f.runs[i].1 == need) as usize;
                f.lines.len() > runs_left
            });
        // (`best` only picks a run while a line pointer is left for it.)
        match best.and_then(|i| f.lines.pop().map(|line| (i, line))) {
            Some((i, line)) => {
                let (start, _) = f.runs[i];
                out.push(Place::Freed(line, start));
                f.runs[i].0 += need;
                f.runs[i].1 -= need;
                if f.runs[i].1 == 0 {
                    f.runs.remove(i);
                }
            }
            None if room >= need + LINE_POINTER => {
                room -= need + LINE_POINTER;
                out.push(Place::New);
            }
            None => return None,
        }
    }
    Some((out, f))
}

/// Whether tuples of `lens` bytes all fit on `page` (see [`place`]).
pub fn fits(page: pg_sys::Page, lens: &[usize]) -> bool {
    plan(page, lens).is_some()
}

/// Adds `tuples` to `page` (a GenericXLog copy of a page held exclusively), each into freed
/// storage when a run holds it, otherwise from contiguous space; their offsets, or `None` (checked
/// before anything is written) when they do not all fit. Each run of freed storage is then described
/// again by one dead line pointer (its rest, if any); its other line pointers become unused,
/// for `PageAddItemExtended` to reuse.
pub fn place(page: pg_sys::Page, tuples: &[&[u8]]) -> Option<Vec<u16>> {
    let lens: Vec<usize> = tuples.iter().map(|t| t.len()).collect();
    let (plan, left) = plan(page, &lens)?;
    // SAFETY: every line pointer below is one of the page's (from `freed`), every byte range
    // written lies in freed storage inside the page (`freed` checked each slot's span), and the
    // caller holds the page exclusively.
    unsafe {
        for (bytes, place) in tuples.iter().zip(&plan) {
            if let Place::Freed(off, start) = *place {
                let id = pg_sys::PageGetItemId(page, off);
                let dst = (page as *mut u8).add(start);
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
                (*id).set_lp_off(start as u32);
                (*id).set_lp_len(bytes.len() as u32);
                (*id).set_lp_flags(pg_sys::LP_NORMAL);
            }
        }
        // Each run left is described by one dead line pointer (`plan` keeps one per run); the
        // others are unused.
        let described = left.runs.len().min(left.lines.len());
        for (&(start, len), &off) in left.runs.iter().zip(&left.lines) {
            let id = pg_sys::PageGetItemId(page, off);
            (*id).set_lp_flags(pg_sys::LP_DEAD);
            (*id).set_lp_off(start as u32);
            (*id).set_lp_len(len as u32);
        }
        let spare = &left.lines[described..];
        for &off in spare {
            let id = pg_sys::PageGetItemId(page, off);
            (*id).set_lp_flags(pg_sys::LP_UNUSED);
            (*id).set_lp_off(0);
            (*id).set_lp_len(0);
        }
        if !spare.is_empty() {
            let h = page as *mut pg_sys::PageHeaderData;
            (*h).pd_flags |= pg_sys::PD_HAS_FREE_LINES as u16;
        }
    }
    let mut offs = Vec::with_capacity(tuples.len());
    for (bytes, place) in tuples.iter().zip(plan) {
        match place {
            Place::Freed(off, _) => offs.push(off),
            Place::New => offs.push(pages::add_item(page, bytes)?),
        }
    }
    Some(offs)
}

/// What is wrong with the storage layout of element page `page`, if anything: every live or
/// freed slot's bytes must lie between `pd_upper` and the special space, and no two overlap
/// (what `place` writes into freed storage must never reach a live tuple).
pub fn layout_problem(page: pg_sys::Page) -> Option<String> {
    // SAFETY: a valid page header (read through the buffer manager, share-locked).
    let (upper, special) = unsafe {
        let h = page as *const pg_sys::PageHeaderData;
        ((*h).pd_upper as usize, (*h).pd_special as usize)
    };
    let mut spans: Vec<(usize, usize, u16)> = Vec::new();
    for off in 1..=pages::max_offset(page) {
        let (flags, len, start) = line(page, off);
        let holds = flags == pg_sys::LP_NORMAL || (flags == pg_sys::LP_DEAD && len > 0);
        if !holds {
            continue;
        }
        let end = start + pages::maxalign(len);
        if start < upper || end > special {
            return Some(format!(
                "item {off} spans bytes {start}..{end}, outside the tuple space {upper}..{special}"
            ));
        }
        spans.push((start, end, off));
    }
    spans.sort_unstable();
    spans.windows(2).find(|w| w[0].1 > w[1].0).map(|w| {
        format!(
            "items {} and {} overlap (bytes {}..{} and {}..{})",
            w[0].2, w[1].2, w[0].0, w[0].1, w[1].0, w[1].1
        )
    })
}
