//! Settings (GUCs). All live under the reserved `vecx.` prefix, so a typo such as
//! `SET vecx.hnsw_efsearch = 10` is an error instead of a silently ignored placeholder.
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Candidates kept by an HNSW search before results are returned (`vecx.hnsw_ef_search`).
pub static HNSW_EF_SEARCH: GucSetting<i32> = GucSetting::<i32>::new(40);
/// Whether `vecx_hnsw` searches drop neighbours by their traversal codes' lower bounds
/// (`vecx.hnsw_traversal_codes`; the same results either way, see vecx-core's `hnsw::code`).
pub static HNSW_TRAVERSAL_CODES: GucSetting<bool> = GucSetting::<bool>::new(true);
/// Upper bound on index elements a scan examines (0 = no cap) (`vecx.max_scan_tuples`).
pub static MAX_SCAN_TUPLES: GucSetting<i32> = GucSetting::<i32>::new(0);
/// Lists a `vecx_ivfpq` scan probes first (`vecx.ivfpq_probes`; 0: twice the square root of the
/// index's lists, see `vecx_core::ivfpq::probes`).
pub static IVFPQ_PROBES: GucSetting<i32> = GucSetting::<i32>::new(0);
/// Candidates re-ranked by exact distance per 10 rows (`vecx.ivfpq_rerank`; 0 = none).
pub static IVFPQ_RERANK: GucSetting<i32> = GucSetting::<i32>::new(4);
/// Threads that build an index graph; -1 = max_parallel_maintenance_workers + 1.
pub static BUILD_THREADS: GucSetting<i32> = GucSetting::<i32>::new(-1);

pub fn register() {
    GucRegistry::define_int_guc(
        c"vecx.hnsw_ef_search",
        c"Size of the candidate list of HNSW index searches.",
        c"Higher values find more true neighbours and take longer. Filtered queries keep searching past it, so they are not limited by it.",
        &HNSW_EF_SEARCH,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"vecx.hnsw_traversal_codes",
        c"Whether vecx_hnsw searches use the 4-bit traversal codes stored with elements.",
        c"A code bounds a neighbour's distance from below, so a search can drop it without reading its vector; results are the same either way. Off reads every vector (for comparisons).",
        &HNSW_TRAVERSAL_CODES,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vecx.max_scan_tuples",
        c"Maximum number of index elements one vecx index scan examines (0 = no limit).",
        c"Caps the work of a filtered query whose filter rejects almost every row; a capped scan may return fewer rows than LIMIT.",
        &MAX_SCAN_TUPLES,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vecx.ivfpq_probes",
        c"Number of lists a vecx_ivfpq index scan probes.",
        c"0 (the default) probes twice the square root of the index's lists. More lists find more true neighbours and take longer. Filtered queries keep searching past them.",
        &IVFPQ_PROBES,
        0,
        32_768,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vecx.ivfpq_rerank",
        c"Exact re-ranking factor of vecx_ivfpq scans: rerank * 10 candidates are re-ranked by exact distance (0 = none).",
        c"Candidates are ranked by their compressed codes, then the best rerank * 10 by their exact distance, read from the table. 0 returns rows in code order (approximate distance order).",
        &IVFPQ_RERANK,
        0,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vecx.build_threads",
        c"Threads used to build a vecx index graph (-1 = max_parallel_maintenance_workers + 1).",
        c"",
        &BUILD_THREADS,
        -1,
        256,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: called once from _PG_init, after the GUCs above are defined.
    #[cfg(not(any(feature = "pg13", feature = "pg14")))]
    unsafe {
        pgrx::pg_sys::MarkGUCPrefixReserved(c"vecx".as_ptr())
    };
    // PostgreSQL 13 and 14 only warn about unknown names under the prefix.
    // SAFETY: as above.
    #[cfg(any(feature = "pg13", feature = "pg14"))]
    unsafe {
        pgrx::pg_sys::EmitWarningsOnPlaceholders(c"vecx".as_ptr())
    };
}

/// The effective number of build threads.
pub fn build_threads() -> usize {
    match BUILD_THREADS.get() {
        n if n > 0 => n as usize,
        // SAFETY: reading a GUC variable of the server.
        _ => (unsafe { pgrx::pg_sys::max_parallel_maintenance_workers }.max(0) + 1) as usize,
    }
}
