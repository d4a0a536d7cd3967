//! Readers for the dataset file formats, memory-mapped with memmap2:
//!
//! * `.fvecs`: per row, a little-endian int32 dimension then that many float32;
//! * `.bvecs`: per row, an int32 dimension then that many uint8;
//! * `.npy`: NumPy format v1/v2 (header dict, then raw little-endian data), for ground truth
//!   (`<i4` ids, `<f4` distances) and labels (`|i1`, `<i4`, `<i8`).
use std::fs::File;
use std::io;
use std::path::Path;

use memmap2::Mmap;

fn map(path: &Path) -> io::Result<Mmap> {
    let file = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    // SAFETY: the dataset files are read-only inputs that nothing modifies while we read them.
    unsafe { Mmap::map(&file) }
}

fn bad(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Rows of a `.fvecs` (`bytes_per_element` = 4) or `.bvecs` (1) file, flattened; returns
/// (data, dim).
fn read_vecs(
    path: &Path,
    bytes_per_element: usize,
    limit: Option<usize>,
) -> io::Result<(Vec<f32>, usize)> {
    let m = map(path)?;
    if m.len() < 4 {
        return Err(bad(path, "empty file"));
    }
    let dim = i32::from_le_bytes([m[0], m[1], m[2], m[3]]);
    if dim <= 0 {
        return Err(bad(path, "non-positive dimension"));
    }
    let dim = dim as usize;
    let row = 4 + dim * bytes_per_element;
    if m.len() % row != 0 {
        return Err(bad(path, "size is not a whole number of rows"));
    }
    let rows = (m.len() / row).min(limit.unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(rows * dim);
    for r in 0..rows {
        let rec = &m[r * row..(r + 1) * row];
        if i32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]) as usize != dim {
            return Err(bad(path, "rows of different dimensions"));
        }
        let body = &rec[4..];
        if bytes_per_element == 4 {
            out.extend(
                body.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        } else {
            out.extend(body.iter().map(|b| *b as f32));
        }
    }
    Ok((out, dim))
}

pub fn read_fvecs(path: &Path, limit: Option<usize>) -> io::Result<(Vec<f32>, usize)> {
    read_vecs(path, 4, limit)
}

pub fn read_bvecs(path: &Path, limit: Option<usize>) -> io::Result<(Vec<f32>, usize)> {
    read_vecs(path, 1, limit)
}

/// A NumPy array: its shape and its elements converted to f64 (exact for the int32/float32/
/// int8/int64 values the datasets hold).
pub struct Npy {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

pub fn read_npy(path: &Path) -> io::Result<Npy> {
    let m = map(path)?;
    if m.len() < 10 || &m[..6] != b"\x93NUMPY" {
        return Err(bad(path, "not a .npy file"));
    }
    let (header_len, start) = match m[6] {
        1 => (u16::from_le_bytes([m[8], m[9]]) as usize, 10),
        _ => (u32::from_le_bytes([m[8], m[9], m[10], m[11]]) as usize, 12),
    };
    let header =
        std::str::from_utf8(&m[start..start + header_len]).map_err(|_| bad(path, "bad header"))?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(key)? + key.len();
        let rest = header[i..].trim_start_matches(['\'', ':', ' ']);
        Some(rest)
    };
    let descr = field("'descr'")
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| bad(path, "no descr"))?;
    if field("'fortran_order'").is_some_and(|r| r.starts_with("True")) {
        return Err(bad(path, "Fortran order is not supported"));
    }
    let shape_text = field("'shape'")
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| bad(path, "no shape"))?;
    let shape: Vec<usize> = shape_text
        .trim_start_matches('(')
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let count: usize = shape.iter().product();
    let body = &m[start + header_len..];
    let (size, conv): (usize, fn(&[u8]) -> f64) = match descr {
        "<i4" => (4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
        "<f4" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
        "<i8" => (8, |b| {
            i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])) as f64
        }),
        "<f8" => (8, |b| {
            f64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]))
        }),
        "|i1" => (1, |b| b[0] as i8 as f64),
        "|u1" => (1, |b| b[0] as f64),
        other => return Err(bad(path, &format!("unsupported dtype {other}"))),
    };
    if body.len() < count * size {
        return Err(bad(path, "truncated data"));
    }
    let data = body[..count * size].chunks_exact(size).map(conv).collect();
    Ok(Npy { shape, data })
}
