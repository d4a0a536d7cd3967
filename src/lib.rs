//! vecx: vector search inside PostgreSQL.
//!
//! This crate is the only code that touches `pg_sys`. The algorithms live in `vecx-core`; the
//! modules here adapt them to PostgreSQL:
//!
//! * [`datum`]: the varlena layout of a `vecx` value and its argument/result wrappers;
//! * [`error`]: vecx-core errors raised as PostgreSQL ERRORs with the right SQLSTATE;
//! * [`io`]: text and binary I/O, the `vecx(n)` type modifier, array casts;
//! * [`distance`], [`functions`], [`compare`], [`aggregate`]: the SQL functions;
//! * [`gucs`]: the `vecx.*` settings;
//! * [`pages`]: buffers, page items and Generic WAL, shared by the index access methods;
//! * [`am`]: the rest the two access methods share (handler, progress, cost skeleton);
//! * [`hnsw`]: the `vecx_hnsw` index access method;
//! * [`ivfpq`]: the `vecx_ivfpq` index access method.
//!
//! The SQL objects are created in three steps: `sql/bootstrap.sql` declares the shell type,
//! pgrx generates the C functions, and `sql/finalize.sql` completes the type and adds the
//! operators, operator classes, casts and aggregates.
use pgrx::prelude::*;

pub mod aggregate;
pub mod am;
pub mod compare;
pub mod datum;
pub mod distance;
pub mod error;
pub mod functions;
pub mod gucs;
pub mod hnsw;
pub mod introspect;
pub mod io;
pub mod ivfpq;
pub mod pages;

::pgrx::pg_module_magic!(name, version);

/// Called once when the library is loaded: settings and index reloptions.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::register();
    hnsw::options::register();
    ivfpq::options::register();
}

extension_sql_file!("../sql/bootstrap.sql", bootstrap);
extension_sql_file!("../sql/finalize.sql", finalize);

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
