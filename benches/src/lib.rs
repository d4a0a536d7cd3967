//! vecx benchmarks: the recall/QPS harness (`cargo run --release -p vecx-bench -- --help`) and
//! the distance-kernel benchmark (`cargo bench -p vecx-bench --bench kernels`).
//!
//! The harness measures every engine side by side in one run, on the same data and the same
//! server: exact scans, pgvector's HNSW and IVFFlat when the `vector` extension is installed, and
//! vecx's index access methods once they exist. [`cluster`] is the throwaway-cluster helper that
//! the multi-process tests reuse.
pub mod cluster;
pub mod dataset;
pub mod engine;
pub mod files;
pub mod filter;
pub mod load;
pub mod report;
pub mod run;
pub mod truth;
