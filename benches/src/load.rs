//! Loading a dataset into a table with binary COPY, with a progress bar (rate and ETA).
use std::error::Error;
use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::Client;

use crate::dataset::Dataset;
use crate::filter::sel;

/// A vector parameter in the binary format shared by vecx and pgvector's `vector`.
#[derive(Debug)]
pub struct VecParam<'a>(pub &'a [f32]);

impl ToSql for VecParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(&vecx_core::binary::encode(self.0));
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(ty.name(), "vecx" | "vector")
    }

    to_sql_checked!();
}

/// (Re)creates `table (id int PRIMARY KEY, <columns> TYPE(dim))`, where `columns` ends with the
/// vector column `vector`, keeping vectors in the heap row (no TOAST) when they fit, for both
/// types alike. Returns the vector type, for binary COPY.
fn create_table(
    client: &mut Client,
    table: &str,
    columns: &str,
    vector: &str,
    type_name: &str,
    dim: usize,
) -> Result<Type, Box<dyn Error>> {
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (id int PRIMARY KEY, {columns} {type_name}({dim}));"
    ))?;
    if dim <= 1900 {
        client.batch_execute(&format!(
            "ALTER TABLE {table} ALTER COLUMN {vector} SET STORAGE PLAIN"
        ))?;
    }
    Ok(client.prepare(&format!("SELECT $1::{type_name}"))?.params()[0].clone())
}

/// Creates `table (id int PRIMARY KEY, label int, sel int, embedding TYPE(dim))` and loads the
/// dataset's base vectors with binary COPY, then VACUUM ANALYZE.
pub fn load(
    client: &mut Client,
    ds: &Dataset,
    table: &str,
    type_name: &str,
) -> Result<(), Box<dyn Error>> {
    let vec_type = create_table(
        client,
        table,
        "label int, sel int, embedding",
        "embedding",
        type_name,
        ds.dim,
    )?;
    let sink = client.copy_in(&format!(
        "COPY {table} (id, label, sel, embedding) FROM STDIN (FORMAT binary)"
    ))?;
    let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::INT4, Type::INT4, vec_type]);
    let bar = ProgressBar::new(ds.build_rows as u64).with_style(
        ProgressStyle::with_template(
            "  loading {msg} [{bar:30}] {pos}/{len} rows, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(table.to_string());
    for r in 0..ds.build_rows {
        let label = ds.base_labels.as_ref().map(|l| l[r]);
        writer.write(&[&(r as i32), &label, &sel(r), &VecParam(ds.row(r))])?;
        if r % 1024 == 0 {
            bar.set_position(r as u64);
        }
    }
    writer.finish()?;
    bar.finish_with_message(format!("{table} done"));
    std::io::stderr().flush().ok();
    client.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
    Ok(())
}

/// Creates `table (id int PRIMARY KEY, v TYPE(dim))` holding the dataset's query vectors (id =
/// query number), in the heap rows when they fit (as the base table's), for in-server passes.
pub fn load_queries(
    client: &mut Client,
    ds: &Dataset,
    table: &str,
    type_name: &str,
) -> Result<(), Box<dyn Error>> {
    let vec_type = create_table(client, table, "v", "v", type_name, ds.dim)?;
    let sink = client.copy_in(&format!("COPY {table} (id, v) FROM STDIN (FORMAT binary)"))?;
    let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT4, vec_type]);
    for q in 0..ds.num_queries() {
        writer.write(&[&(q as i32), &VecParam(ds.query(q))])?;
    }
    writer.finish()?;
    client.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
    Ok(())
}

/// Inserts the rows past `ds.build_rows` one statement each, as an application would after the
/// index exists; returns how many.
pub fn insert_after_build(
    client: &mut Client,
    ds: &Dataset,
    table: &str,
) -> Result<usize, Box<dyn Error>> {
    let stmt = client.prepare(&format!(
        "INSERT INTO {table} (id, label, sel, embedding) VALUES ($1, $2, $3, $4)"
    ))?;
    for r in ds.build_rows..ds.len() {
        let label = ds.base_labels.as_ref().map(|l| l[r]);
        client.execute(&stmt, &[&(r as i32), &label, &sel(r), &VecParam(ds.row(r))])?;
    }
    client.batch_execute(&format!("ANALYZE {table}"))?;
    Ok(ds.len() - ds.build_rows)
}
