//! vecx-core: the algorithms behind the `vecx` PostgreSQL extension, with no PostgreSQL in sight.
//!
//! Everything here is plain Rust so that `cargo test -p vecx-core` exercises it without a server:
//!
//! * [`distance`]: the distance kernels (simsimd behind one module, a scalar reference beside it);
//! * [`text`]: the pgvector-compatible text format (`[1,2.5,-3e-2]`), parser and printer;
//! * [`binary`]: the pgvector-compatible binary send/recv format;
//! * [`vector`]: element-wise arithmetic, norms, sub-vectors, ordering and hashing;
//! * [`aggregate`]: the transition state behind `avg(vecx)` and `sum(vecx)`;
//! * [`hnsw`]: the HNSW graph (search, neighbour selection, parallel build, on-disk format);
//! * [`ivfpq`]: k-means, product quantization and the IVF-PQ on-disk format.
//!
//! Errors are typed ([`error::VecxError`]) and carry an [`error::ErrorKind`] that the SQL layer
//! maps onto a SQLSTATE, so bad input always becomes a clean `ERROR`, never a panic.
#![deny(unsafe_code)]

pub mod aggregate;
pub mod binary;
pub mod distance;
pub mod error;
pub mod hnsw;
pub mod ivfpq;
pub mod locality;
pub mod rng;
pub mod text;
pub mod vector;

/// Largest number of dimensions a `vecx` value may have.
pub const MAX_DIM: usize = 16_000;

pub use error::{ErrorKind, VecxError};
