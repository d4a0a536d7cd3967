//! The PostgreSQL page store: buffers, page items and Generic WAL, shared by the index access
//! methods. Everything that touches a buffer goes through here.
//!
//! * [`Buf`] is an RAII guard for a pinned and locked buffer (unlocked and unpinned on drop, so an
//!   ERROR unwinding through Rust code never leaks a pin or a lock);
//! * [`Wal`] wraps a Generic WAL record (at most 4 buffers, each modified only through the copy
//!   GenericXLogRegisterBuffer hands out, committed by `finish`, abandoned on drop);
//! * the page opaque area ([`Opaque`]) marks every page with a magic id and a page type so a
//!   corrupted or foreign page is detected, and [`corrupted`] raises the XX002 error.
//!
//! Locking and releasing a buffer call PostgreSQL directly ([`unguarded`]), not through pgrx's
//! FFI guard: a scan does both for every element it visits, and the guard (a `sigsetjmp` and a
//! thread check per call) cost a fifth of a scan's time.
//!
//! Rules this module enforces by construction: never hold a buffer lock while acquiring another
//! (callers read one page at a time and copy what they need); a page modified after CREATE
//! INDEX is always modified inside a `Wal`.
use std::mem::size_of;

use pgrx::pg_sys;
use pgrx::PgSqlErrorCode;

use crate::error::raise_code;

/// The special space at the end of every page of a vecx index.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Opaque {
    pub next: u32,
    pub page_type: u16,
    pub page_id: u16,
}

pub const OPAQUE_SIZE: usize = size_of::<Opaque>();
const _: () = assert!(OPAQUE_SIZE == 8, "page opaque must be 8 bytes");

/// Identifies pages of vecx indexes ("VX").
pub const PAGE_ID: u16 = 0x5658;
pub const PAGE_META: u16 = 1;
pub const PAGE_ELEMENTS: u16 = 2;
pub const PAGE_VECTOR: u16 = 3;
/// vecx_ivfpq: a chunk of the serialised quantizer (coarse centroids and PQ codebooks).
pub const PAGE_IVF_QUANTIZER: u16 = 4;
/// vecx_ivfpq: packed list directory entries.
pub const PAGE_IVF_DIR: u16 = 5;
/// vecx_ivfpq: packed (heap TID, PQ code) entries of one list.
pub const PAGE_IVF_LIST: u16 = 6;

/// Bytes of the contents area of a vecx page (between the 24-byte page header, which
/// PageGetContents skips, and the opaque area).
pub const CONTENTS_CAPACITY: usize = pg_sys::BLCKSZ as usize - 24 - OPAQUE_SIZE;

/// Raises `index "name" is corrupted` (XX002) with `detail`.
pub fn corrupted(index: pg_sys::Relation, detail: impl Into<String>) -> ! {
    raise_code(
        PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
        format!("index \"{}\" is corrupted", relation_name(index)),
        Some(format!("{} REINDEX rebuilds it.", detail.into())),
    )
}

pub fn relation_name(rel: pg_sys::Relation) -> String {
    // SAFETY: rel is an open relation; rd_rel and its relname are valid while it is open.
    unsafe {
        let name = &(*(*rel).rd_rel).relname;
        std::ffi::CStr::from_ptr(name.data.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

/// The buffer-manager calls [`Buf`] and [`Pinned`] make on every page they visit, declared
/// here without pgrx's FFI guard.
///
/// The guard exists so that a PostgreSQL ERROR (a `longjmp`) never jumps over Rust frames: it
/// catches the jump and turns it into a Rust panic. These functions cannot raise an ERROR for
/// a `Buf` or a `Pinned`: `LockBuffer` on a pinned buffer in share or exclusive mode only errors
/// when a backend holds more than 200 LWLocks (each holds at most one, and never takes a second
/// while holding it), unlocking (`LockBuffer` with `BUFFER_LOCK_UNLOCK`) only when the lock is
/// not held, and `ReleaseBuffer` / `UnlockReleaseBuffer` only when the pin or the lock is not
/// held (each holds them until it drops, exactly once). A FATAL (semaphore failure) exits the
/// process without returning. They never check for interrupts. They must only be called on
/// PostgreSQL's thread, which is the only thread that ever makes a `Buf` or a `Pinned`.
#[allow(non_snake_case)]
mod unguarded {
    use pgrx::pg_sys;
    extern "C" {
        pub fn LockBuffer(buffer: pg_sys::Buffer, mode: std::ffi::c_int);
        pub fn UnlockReleaseBuffer(buffer: pg_sys::Buffer);
        pub fn ReleaseBuffer(buffer: pg_sys::Buffer);
    }
}

/// A pinned, locked buffer. Unlocks and releases on drop.
pub struct Buf {
    pub buffer: pg_sys::Buffer,
}

impl Buf {
    /// Reads block `blkno` and locks it (`pg_sys::BUFFER_LOCK_SHARE` or `_EXCLUSIVE`).
    ///
    /// A block the storage layer reports as damaged (a data-checksum failure, an invalid page
    /// header, a block past the end of the file: SQLSTATE XX001 from the buffer manager) is
    /// reported as `index "..." is corrupted` (XX002), like every other damage vecx detects,
    /// with the buffer manager's message as the detail.
    pub fn read(index: pg_sys::Relation, blkno: u32, mode: u32) -> Buf {
        let buffer = pin(index, blkno);
        // SAFETY: the buffer is pinned by the read above; see `unguarded` for why this call
        // cannot raise an ERROR.
        unsafe { unguarded::LockBuffer(buffer, mode as i32) };
        Buf { buffer }
    }

    /// Adds a new block at the end of the relation (under the relation extension lock) and
    /// returns it locked exclusively. The page is all zeros: initialise it with [`init_page`]
    /// (directly during CREATE INDEX, or on the Generic WAL copy afterwards).
    pub fn extend(index: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> Buf {
        // SAFETY: the extension lock serialises extenders; P_NEW returns a new zeroed block,
        // which we lock before releasing the extension lock.
        unsafe {
            pg_sys::LockRelationForExtension(index, pg_sys::ExclusiveLock as i32);
            let buffer = pg_sys::ReadBufferExtended(
                index,
                fork,
                pg_sys::InvalidBlockNumber,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                std::ptr::null_mut(),
            );
            pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            pg_sys::UnlockRelationForExtension(index, pg_sys::ExclusiveLock as i32);
            Buf { buffer }
        }
    }

    /// Adopts a buffer the caller pinned and locked.
    pub fn from_locked(buffer: pg_sys::Buffer) -> Buf {
        Buf { buffer }
    }

    pub fn page(&self) -> pg_sys::Page {
        // SAFETY: the buffer is pinned.
        unsafe { pg_sys::BufferGetPage(self.buffer) }
    }

    pub fn blkno(&self) -> u32 {
        // SAFETY: the buffer is pinned.
        unsafe { pg_sys::BufferGetBlockNumber(self.buffer) }
    }

    /// Marks the buffer dirty (for pages written without WAL during CREATE INDEX).
    pub fn mark_dirty(&self) {
        // SAFETY: the buffer is pinned and exclusively locked by us.
        unsafe { pg_sys::MarkBufferDirty(self.buffer) }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: we pinned and locked this buffer; one unguarded call releases both, exactly
        // once (see `unguarded`).
        unsafe { unguarded::UnlockReleaseBuffer(self.buffer) }
    }
}

/// Reads block `blkno` into a shared buffer and pins it (no lock). A block the storage layer
/// reports as damaged is [`corrupted`] (see [`Buf::read`]).
fn pin(index: pg_sys::Relation, blkno: u32) -> pg_sys::Buffer {
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: index is open; ReadBufferExtended raises an ERROR (turned into a Rust
        // panic by pgrx's FFI guard, with the error state already flushed) for a damaged
        // block or one past the end.
        unsafe {
            pg_sys::ReadBufferExtended(
                index,
                pg_sys::ForkNumber::MAIN_FORKNUM,
                blkno,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                std::ptr::null_mut(),
            )
        }
    }));
    match read {
        Ok(buffer) => buffer,
        Err(payload) => damaged_block(index, blkno, payload),
    }
}

/// A pinned buffer, not locked. A pin never blocks another backend (only vacuum's cleanup
/// lock waits for pins, and vacuum holds none of ours), so a reader may pin several pages at
/// once, start loading what it will read from all of them, then lock each in turn
/// ([`Pinned::share`]) — still never holding one lock while taking another. Released on drop.
pub struct Pinned {
    buffer: pg_sys::Buffer,
}

impl Pinned {
    pub fn read(index: pg_sys::Relation, blkno: u32) -> Pinned {
        Pinned {
            buffer: pin(index, blkno),
        }
    }

    /// [`Pinned::read`], trying `recent` first: the buffer that held the block when this
    /// backend last read it. PostgreSQL's `ReadRecentBuffer` re-pins it if it still holds the
    /// block (checking its tag under the buffer header's spinlock), skipping the buffer-mapping
    /// hash lookup and its partition lock, a sixth of a scan's time; otherwise the block is read
    /// as usual. (Such a pin is not counted in `pg_statio_*`'s block hits; EXPLAIN's BUFFERS
    /// counts it.) Always the usual read on PostgreSQL 13, which lacks the function.
    pub fn read_recent(
        index: pg_sys::Relation,
        blkno: u32,
        recent: Option<pg_sys::Buffer>,
    ) -> Pinned {
        if let Some(buffer) = recent {
            if repin(index, blkno, buffer) {
                return Pinned { buffer };
            }
        }
        Pinned::read(index, blkno)
    }

    pub fn buffer(&self) -> pg_sys::Buffer {
        self.buffer
    }

    pub fn page(&self) -> pg_sys::Page {
        // SAFETY: the buffer is pinned.
        unsafe { pg_sys::BufferGetPage(self.buffer) }
    }

    /// Share-locks the page until the returned guard drops.
    pub fn share(&self) -> SharedLock<'_> {
        // SAFETY: the buffer is pinned; see `unguarded`.
        unsafe { unguarded::LockBuffer(self.buffer, pg_sys::BUFFER_LOCK_SHARE as i32) };
        SharedLock { pinned: self }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: pinned by us, released exactly once (see `unguarded`).
        unsafe { unguarded::ReleaseBuffer(self.buffer) }
    }
}

/// Where this backend last found index blocks: (index OID << 32 | block) -> buffer, so that
/// reading a block again can go through [`Pinned::read_recent`]. A wrong or stale entry costs
/// nothing but the usual read (the buffer's tag is checked before it is pinned). One map per
/// backend lives across queries: a graph takes it when it opens ([`RecentBuffers::take`]) and
/// gives it back when it closes, so the hot path never touches thread-local storage (slow in a
/// loaded library). A second graph open at the same time starts with an empty map. Emptied
/// when it reaches [`RECENT_MAX`] blocks, which bounds it to a few MB.
#[derive(Default)]
pub struct RecentBuffers(vecx_core::hnsw::fxhash::FxHashMap<u64, pg_sys::Buffer>);

/// Blocks [`RecentBuffers`] remembers (16 bytes each, with the hash table's overhead).
const RECENT_MAX: usize = 1 << 18;

thread_local! {
    static RECENT: std::cell::RefCell<RecentBuffers> = std::cell::RefCell::new(Default::default());
}

impl RecentBuffers {
    /// The backend's map (leaving an empty one in its place).
    /// (`try_with`: at process exit, after thread-local storage is gone, there is no map.)
    pub fn take() -> RecentBuffers {
        RECENT
            .try_with(|r| r.try_borrow_mut().map(|mut r| std::mem::take(&mut *r)))
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    /// Gives the map back for the next graph.
    pub fn give_back(self) {
        let _ = RECENT.try_with(|r| {
            if let Ok(mut r) = r.try_borrow_mut() {
                *r = self;
            }
        });
    }

    fn key(index: pg_sys::Relation, blkno: u32) -> u64 {
        // SAFETY: index is open.
        (unsafe { (*index).rd_id }.to_u32() as u64) << 32 | blkno as u64
    }

    /// The buffer block `blkno` of `index` was last found in, if any.
    pub fn hint(&self, index: pg_sys::Relation, blkno: u32) -> Option<pg_sys::Buffer> {
        self.0.get(&Self::key(index, blkno)).copied()
    }

    /// Pins block `blkno` of `index`, through the buffer it was last found in.
    pub fn pin(&mut self, index: pg_sys::Relation, blkno: u32) -> Pinned {
        let hint = self.hint(index, blkno);
        self.pin_hinted(index, blkno, hint)
    }

    /// Pins blocks `blks` of `index` into `out` (as long as `blks`), through the buffers
    /// [`RecentBuffers::hint`] gave (`hints`): every re-pin of a batch goes through one FFI
    /// guard (see [`repin_all`]) instead of one each, a few percent of a narrow scan; blocks
    /// whose buffer moved are read as usual.
    pub fn pin_batch(
        &mut self,
        index: pg_sys::Relation,
        blks: &[u32],
        hints: &[Option<pg_sys::Buffer>],
        out: &mut [Option<Pinned>],
    ) {
        let chunks = blks
            .chunks(REPIN_BATCH_MAX)
            .zip(hints.chunks(REPIN_BATCH_MAX))
            .zip(out.chunks_mut(REPIN_BATCH_MAX));
        for ((blks, hints), out) in chunks {
            let mut repinned = [false; REPIN_BATCH_MAX];
            repin_all(index, blks, hints, &mut repinned);
            for (((&blk, hint), done), slot) in blks.iter().zip(hints).zip(repinned).zip(out) {
                *slot = Some(match hint {
                    Some(buffer) if done => Pinned { buffer: *buffer },
                    _ => self.pin_hinted(index, blk, None),
                });
            }
        }
    }

    /// [`RecentBuffers::pin`] with the buffer [`RecentBuffers::hint`] gave.
    pub fn pin_hinted(
        &mut self,
        index: pg_sys::Relation,
        blkno: u32,
        hint: Option<pg_sys::Buffer>,
    ) -> Pinned {
        let key = Self::key(index, blkno);
        let p = Pinned::read_recent(index, blkno, hint);
        if hint != Some(p.buffer) {
            if self.0.len() >= RECENT_MAX {
                self.0.clear();
            }
            self.0.insert(key, p.buffer);
        }
        p
    }
}

/// Most re-pins [`RecentBuffers::pin_batch`] makes under one FFI guard.
const REPIN_BATCH_MAX: usize = 8;

/// Re-pins, for each block `blks[i]` with a hint, the buffer `hints[i]` if it still holds the
/// block, setting `done[i]`; all under one FFI guard. `ReadRecentBuffer` raises an ERROR only
/// when out of memory for its bookkeeping; the guard then turns it into a Rust panic. The
/// closure's frame holds nothing to drop (plain values and a `&mut [bool]`), as the guard
/// requires, and the pins it took before the ERROR are owned by nothing but the resource owner,
/// which releases them as the transaction aborts.
#[cfg(not(feature = "pg13"))]
fn repin_all(
    index: pg_sys::Relation,
    blks: &[u32],
    hints: &[Option<pg_sys::Buffer>],
    done: &mut [bool],
) {
    #[allow(non_snake_case)]
    mod raw {
        use pgrx::pg_sys;
        extern "C-unwind" {
            #[cfg(any(feature = "pg14", feature = "pg15"))]
            pub fn ReadRecentBuffer(
                node: pg_sys::RelFileNode,
                fork: pg_sys::ForkNumber::Type,
                blkno: pg_sys::BlockNumber,
                buffer: pg_sys::Buffer,
            ) -> bool;
            #[cfg(not(any(feature = "pg14", feature = "pg15")))]
            pub fn ReadRecentBuffer(
                node: pg_sys::RelFileLocator,
                fork: pg_sys::ForkNumber::Type,
                blkno: pg_sys::BlockNumber,
                buffer: pg_sys::Buffer,
            ) -> bool;
        }
    }
    if !hints.iter().any(Option::is_some) {
        return;
    }
    // SAFETY: index is open; each hint is a buffer number this backend got from the buffer
    // manager (ReadRecentBuffer checks that it still holds the block before pinning it). See
    // above for the ERROR path; we are on PostgreSQL's thread (the guard checks).
    unsafe {
        #[cfg(any(feature = "pg14", feature = "pg15"))]
        let node = (*index).rd_node;
        #[cfg(not(any(feature = "pg14", feature = "pg15")))]
        let node = (*index).rd_locator;
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            for ((&blk, hint), done) in blks.iter().zip(hints).zip(done.iter_mut()) {
                if let Some(buffer) = *hint {
                    *done =
                        raw::ReadRecentBuffer(node, pg_sys::ForkNumber::MAIN_FORKNUM, blk, buffer);
                }
            }
        })
    }
}

#[cfg(feature = "pg13")]
fn repin_all(
    _index: pg_sys::Relation,
    _blks: &[u32],
    _hints: &[Option<pg_sys::Buffer>],
    _done: &mut [bool],
) {
}

/// Pins `buffer` if it still holds block `blkno` of `index` (see [`Pinned::read_recent`]): a
/// batch of one for [`repin_all`].
fn repin(index: pg_sys::Relation, blkno: u32, buffer: pg_sys::Buffer) -> bool {
    let mut done = [false];
    repin_all(index, &[blkno], &[Some(buffer)], &mut done);
    done[0]
}

/// A share lock on a [`Pinned`] buffer; unlocks on drop.
pub struct SharedLock<'a> {
    pinned: &'a Pinned,
}

impl SharedLock<'_> {
    pub fn page(&self) -> pg_sys::Page {
        self.pinned.page()
    }
}

impl Drop for SharedLock<'_> {
    fn drop(&mut self) {
        // SAFETY: locked by `Pinned::share`, unlocked exactly once (see `unguarded`).
        unsafe { unguarded::LockBuffer(self.pinned.buffer, pg_sys::BUFFER_LOCK_UNLOCK as i32) }
    }
}

/// Starts loading item `offset` of a pinned (possibly unlocked) `page`, or of a shared buffer's
/// page in the buffer pool (see [`prefetch_item_unpinned`]), into the CPU cache: its line pointer
/// is read without the page lock, and the item (up to 4 kB of it) is prefetched.
/// A hint only; a line pointer another backend is changing at that moment yields a useless
/// prefetch, never a wrong read, because nothing read here is used for anything else.
pub fn prefetch_item(page: pg_sys::Page, offset: u16, max: usize) {
    let lp_at = line_pointer_at(offset);
    if lp_at + size_of::<u32>() > pg_sys::BLCKSZ as usize {
        return;
    }
    // SAFETY: `lp_at` is inside the page (checked), which is pinned or in the always-mapped
    // buffer pool, and 4-byte aligned (pages are aligned, the header is 24 bytes, line
    // pointers are 4); the read is an atomic 4-byte load, as PostgreSQL itself reads shared
    // words without a lock.
    let raw = unsafe {
        (*((page as *const u8).add(lp_at) as *const std::sync::atomic::AtomicU32))
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    // ItemIdData on little-endian targets: lp_off (15 bits), lp_flags (2), lp_len (15).
    let (off, len) = ((raw & 0x7fff) as usize, (raw >> 17) as usize);
    // The whole tuple, up to PREFETCH_ITEM_BYTES: the six of a batch are then all on their way
    // before the first is compared, where asking for their first lines only left the rest to
    // the hardware prefetcher, one vector after another.
    if off + len <= pg_sys::BLCKSZ as usize {
        vecx_core::distance::simd::prefetch_span(
            (page as *const u8).wrapping_add(off),
            len.min(max),
        );
    }
}

/// Starts loading, before it is pinned, what pinning shared buffer `buffer` and reading item
/// `offset`'s line pointer on its page will touch: the buffer's descriptor (its header, which
/// `ReadRecentBuffer` locks and pins) and the line pointer's cache line. Prefetched for a batch
/// of buffers at once, their cache misses overlap instead of coming one pin after another. A
/// hint only: the buffer may hold another block by the time it is pinned (the pin then reads
/// the block as usual), and a prefetch never faults.
pub fn prefetch_buffer(buffer: pg_sys::Buffer, offset: u16) {
    let Some(page) = shared_page(buffer) else {
        return; // a local buffer (temporary relation), or none
    };
    // SAFETY: a plain read of a pointer PostgreSQL sets once at shared-memory start-up; the
    // address computed from it is only prefetched, never dereferenced (`wrapping_add`).
    let descs = unsafe { pg_sys::BufferDescriptors };
    let desc = (descs as *const u8)
        .wrapping_add((buffer - 1) as usize * size_of::<pg_sys::BufferDescPadded>());
    vecx_core::distance::simd::prefetch_bytes(desc, 1);
    vecx_core::distance::simd::prefetch_bytes(page.wrapping_add(line_pointer_at(offset)), 1);
}

/// [`prefetch_item`] on the page shared buffer `buffer` holds, without a pin: the buffer may
/// hold another block by now, which only wastes the prefetch.
pub fn prefetch_item_unpinned(buffer: pg_sys::Buffer, offset: u16, max: usize) {
    if let Some(page) = shared_page(buffer) {
        prefetch_item(page as pg_sys::Page, offset, max);
    }
}

/// The address of shared buffer `buffer`'s page in the buffer pool, which stays mapped for the
/// life of the backend (`None` for a local buffer or none). Computed, not read: whatever block
/// the buffer holds by the time the address is used.
fn shared_page(buffer: pg_sys::Buffer) -> Option<*const u8> {
    if buffer <= 0 {
        return None;
    }
    // SAFETY: a plain read of a pointer PostgreSQL sets once at shared-memory start-up.
    let blocks = unsafe { pg_sys::BufferBlocks };
    Some((blocks as *const u8).wrapping_add((buffer - 1) as usize * pg_sys::BLCKSZ as usize))
}

/// Starts loading the cache line that holds item `offset`'s line pointer on a pinned page (see
/// [`prefetch_item`]).
pub fn prefetch_line_pointer(page: pg_sys::Page, offset: u16) {
    let at = line_pointer_at(offset);
    vecx_core::distance::simd::prefetch_bytes((page as *const u8).wrapping_add(at), 1);
}

/// Where item `offset`'s line pointer lies on a page (offset 0, invalid, is read as 1).
fn line_pointer_at(offset: u16) -> usize {
    PAGE_HEADER_BYTES + (offset.max(1) as usize - 1) * size_of::<pg_sys::ItemIdData>()
}

/// Bytes of an item [`prefetch_item`] asks for when the caller will read all of it.
/// (4 kB: all of a 784-d element; larger ones are asked for in part, since six whole 4 kB
/// tuples already fill most of the L1 cache. Against the first 256 bytes only, as before:
/// sift10k scans 1.21x, mnist10k 1.14x-1.20x, glove25 unchanged, in alternating loops.)
pub const PREFETCH_ITEM_BYTES: usize = 4096;

/// Bytes of a page header (`SizeOfPageHeaderData`): where the line pointers start.
const PAGE_HEADER_BYTES: usize = 24;

/// Re-raises an ERROR caught while reading block `blkno`: data corruption (XX001) becomes
/// [`corrupted`] (XX002); anything else (cancel, I/O errors) continues unchanged.
#[cold]
fn damaged_block(index: pg_sys::Relation, blkno: u32, payload: Box<dyn std::any::Any + Send>) -> ! {
    use pgrx::pg_sys::panic::CaughtError;
    if let Some(CaughtError::PostgresError(e)) = payload.downcast_ref::<CaughtError>() {
        if e.sql_error_code() == PgSqlErrorCode::ERRCODE_DATA_CORRUPTED {
            corrupted(
                index,
                format!("Block {blkno} could not be read: {}.", e.message()),
            );
        }
    }
    std::panic::resume_unwind(payload)
}

/// Initialises `page` as an empty vecx page of `page_type`.
pub fn init_page(page: pg_sys::Page, page_type: u16) {
    // SAFETY: page points at BLCKSZ writable bytes (a locked buffer or a GenericXLog copy).
    unsafe {
        pg_sys::PageInit(page, pg_sys::BLCKSZ as usize, OPAQUE_SIZE);
        let o = pg_sys::PageGetSpecialPointer(page) as *mut Opaque;
        *o = Opaque {
            next: pg_sys::InvalidBlockNumber,
            page_type,
            page_id: PAGE_ID,
        };
    }
}

/// Whether `page` was never initialised (all zeros). Extending a relation writes a zeroed block
/// before the WAL record that initialises it, so a crash in between leaves such a block at the
/// end of the index for good (WAL replay does not remove it). Walks over every block must skip
/// it, as PostgreSQL's own index access methods do; nothing points into it.
pub fn is_new(page: pg_sys::Page) -> bool {
    // SAFETY: the header of a page pinned by the caller.
    unsafe { pg_sys::PageIsNew(page) }
}

/// The opaque area of `page` for a walk over every block: `None` for a never-initialised block
/// (see [`is_new`]), otherwise checked as [`opaque`] does.
pub fn opaque_or_new(index: pg_sys::Relation, page: pg_sys::Page, blkno: u32) -> Option<Opaque> {
    if is_new(page) {
        None
    } else {
        Some(opaque(index, page, blkno))
    }
}

/// Whether `page` (block `blkno`) is an initialised vecx page of `page_type`; a never-initialised
/// block is of no type (see [`opaque_or_new`]).
pub fn is_type(index: pg_sys::Relation, page: pg_sys::Page, blkno: u32, page_type: u16) -> bool {
    opaque_or_new(index, page, blkno).is_some_and(|o| o.page_type == page_type)
}

/// The opaque area of `page`, checked to be a vecx page.
pub fn opaque(index: pg_sys::Relation, page: pg_sys::Page, blkno: u32) -> Opaque {
    // SAFETY: a page read through the buffer manager has a valid header; the special size is
    // checked before the opaque struct is read.
    unsafe {
        if pg_sys::PageIsNew(page) || pg_sys::PageGetSpecialSize(page) as usize != OPAQUE_SIZE {
            corrupted(index, format!("Block {blkno} is not a vecx page."));
        }
        let o = *(pg_sys::PageGetSpecialPointer(page) as *const Opaque);
        if o.page_id != PAGE_ID {
            corrupted(
                index,
                format!("Block {blkno} has page id {:#x}.", o.page_id),
            );
        }
        o
    }
}

/// Reads every block of the index and checks that it is a vecx page of a known type (blocks
/// never initialised, which a crash between extending the file and logging the page can leave,
/// are skipped). Used by `vecx_index_check` before the access method's own structural checks,
/// so damage on any page is found even where no search goes.
pub fn verify_all(index: pg_sys::Relation) {
    for blkno in 0..nblocks(index) {
        pgrx::check_for_interrupts!();
        let buf = Buf::read(index, blkno, pg_sys::BUFFER_LOCK_SHARE);
        let Some(o) = opaque_or_new(index, buf.page(), blkno) else {
            continue;
        };
        if !(PAGE_META..=PAGE_IVF_LIST).contains(&o.page_type) {
            corrupted(
                index,
                format!("Block {blkno} has unknown page type {}.", o.page_type),
            );
        }
    }
}

/// Number of line pointers on `page`.
pub fn max_offset(page: pg_sys::Page) -> u16 {
    // SAFETY: a valid page header.
    unsafe { pg_sys::PageGetMaxOffsetNumber(page) }
}

/// The bytes of item `offset` of `page`, or `None` for an unused or out-of-range slot.
pub fn item<'a>(page: pg_sys::Page, offset: u16) -> Option<&'a [u8]> {
    // SAFETY: offset is checked against the line pointer count; the item id gives offset and
    // length inside the page, which PageGetItem turns into a pointer.
    unsafe {
        if offset == 0 || offset > pg_sys::PageGetMaxOffsetNumber(page) {
            return None;
        }
        let id = pg_sys::PageGetItemId(page, offset);
        if (*id).lp_flags() != pg_sys::LP_NORMAL {
            return None;
        }
        let len = (*id).lp_len() as usize;
        let start = (*id).lp_off() as usize;
        if start + len > pg_sys::BLCKSZ as usize {
            return None;
        }
        Some(std::slice::from_raw_parts(
            pg_sys::PageGetItem(page, id) as *const u8,
            len,
        ))
    }
}

/// Mutable bytes of item `offset` (for in-place updates of fixed-size tuples).
pub fn item_mut<'a>(page: pg_sys::Page, offset: u16) -> Option<&'a mut [u8]> {
    // SAFETY: as `item`; the caller holds an exclusive lock or a GenericXLog copy of the page.
    unsafe {
        let bytes = item(page, offset)?;
        Some(std::slice::from_raw_parts_mut(
            bytes.as_ptr() as *mut u8,
            bytes.len(),
        ))
    }
}

/// Free space for one more item on `page`.
pub fn free_space(page: pg_sys::Page) -> usize {
    // SAFETY: a valid page header.
    unsafe { pg_sys::PageGetFreeSpace(page) }
}

/// Adds `bytes` as a new item; returns its offset, or `None` when it does not fit.
pub fn add_item(page: pg_sys::Page, bytes: &[u8]) -> Option<u16> {
    // SAFETY: PageAddItemExtended copies `bytes` into the page if there is room.
    let off = unsafe {
        pg_sys::PageAddItemExtended(
            page,
            bytes.as_ptr() as pg_sys::Item,
            bytes.len(),
            pg_sys::InvalidOffsetNumber,
            0,
        )
    };
    (off != pg_sys::InvalidOffsetNumber).then_some(off)
}

/// Raw contents area of a page (the meta page keeps its struct there).
pub fn contents<'a>(page: pg_sys::Page, len: usize) -> &'a mut [u8] {
    // SAFETY: the contents area starts after the page header and `len` (< BLCKSZ - header -
    // special) bytes are inside the page.
    unsafe { std::slice::from_raw_parts_mut(pg_sys::PageGetContents(page) as *mut u8, len) }
}

/// Sets pd_lower past `len` bytes of contents, so the meta struct survives page compaction and
/// full-page images keep it.
pub fn set_contents_len(page: pg_sys::Page, len: usize) {
    // SAFETY: page header is valid; the new pd_lower is within the page.
    unsafe {
        let header = page as *mut pg_sys::PageHeaderData;
        let start = pg_sys::PageGetContents(page) as usize - page as usize;
        (*header).pd_lower = (start + len) as u16;
    }
}

/// Bytes in use in the contents area (pd_lower past the header), checked against the page.
pub fn contents_len(index: pg_sys::Relation, page: pg_sys::Page, blkno: u32) -> usize {
    // SAFETY: a valid page header (read through the buffer manager).
    unsafe {
        let header = page as *const pg_sys::PageHeaderData;
        let start = pg_sys::PageGetContents(page) as usize - page as usize;
        let lower = (*header).pd_lower as usize;
        if lower < start || lower > start + CONTENTS_CAPACITY {
            corrupted(index, format!("Block {blkno} has pd_lower {lower}."));
        }
        lower - start
    }
}

/// A Generic WAL record in progress.
pub struct Wal {
    state: *mut pg_sys::GenericXLogState,
}

impl Wal {
    pub fn start(index: pg_sys::Relation) -> Wal {
        // SAFETY: index is open and locked by the caller's AM callback.
        Wal {
            state: unsafe { pg_sys::GenericXLogStart(index) },
        }
    }

    /// Registers a buffer (exclusively locked by the caller) and returns the page copy to modify.
    pub fn register(&mut self, buf: &Buf, full_image: bool) -> pg_sys::Page {
        let flags = if full_image {
            pg_sys::GENERIC_XLOG_FULL_IMAGE as i32
        } else {
            0
        };
        // SAFETY: state is live; at most MAX_GENERIC_XLOG_PAGES buffers are registered by our
        // callers (one to three).
        unsafe { pg_sys::GenericXLogRegisterBuffer(self.state, buf.buffer, flags) }
    }

    pub fn finish(mut self) {
        // SAFETY: state is live; finishing consumes it.
        unsafe { pg_sys::GenericXLogFinish(self.state) };
        self.state = std::ptr::null_mut();
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if !self.state.is_null() {
            // SAFETY: a started, unfinished record is abandoned (e.g. during an ERROR).
            unsafe { pg_sys::GenericXLogAbort(self.state) };
        }
    }
}

pub fn maxalign(n: usize) -> usize {
    (n + 7) & !7
}

/// Number of blocks in the main fork.
pub fn nblocks(index: pg_sys::Relation) -> u32 {
    // SAFETY: index is open.
    unsafe { pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM) }
}

/// Whether changes to `rel` must be WAL-logged (permanent relation).
pub fn needs_wal(rel: pg_sys::Relation) -> bool {
    // SAFETY: rd_rel is valid for an open relation.
    unsafe {
        (*(*rel).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as std::ffi::c_char
    }
}
