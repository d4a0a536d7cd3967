//! vecx benchmarks. Run them with `cargo bench -p vecx-bench`; they report figures, they do not
//! pass or fail. See `kernels.rs` for the distance-kernel benchmark.
