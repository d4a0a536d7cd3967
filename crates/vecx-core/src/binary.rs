//! The binary format used by `send`/`recv` (binary COPY, drivers in binary mode), compatible with
//! pgvector: int16 dimension count, int16 reserved (always 0), then each element as a big-endian
//! float4.
use crate::error::{check_dims, ErrorKind, VecxError};

/// Bytes taken by the header (dimension count + reserved field).
pub const HEADER_LEN: usize = 4;

/// Encodes a vector.
pub fn encode(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 4 * values.len());
    out.extend_from_slice(&(values.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

fn bad(message: impl Into<String>) -> VecxError {
    VecxError::new(ErrorKind::InvalidBinaryRepresentation, message)
}

/// Decodes a vector from the front of `bytes`, returning it and the number of bytes consumed
/// (the caller, PostgreSQL, rejects a message with bytes left over).
pub fn decode(bytes: &[u8]) -> Result<(Vec<f32>, usize), VecxError> {
    if bytes.len() < HEADER_LEN {
        return Err(bad(format!(
            "insufficient data for a vecx header: {} bytes",
            bytes.len()
        )));
    }
    let dims = i16::from_be_bytes([bytes[0], bytes[1]]);
    let reserved = i16::from_be_bytes([bytes[2], bytes[3]]);
    if dims < 0 {
        return Err(bad(format!("invalid vecx dimension count {dims}")));
    }
    let dims = dims as usize;
    check_dims(dims)?;
    if reserved != 0 {
        return Err(bad(format!(
            "expected reserved field of vecx to be 0, got {reserved}"
        )));
    }
    let need = HEADER_LEN + 4 * dims;
    if bytes.len() < need {
        return Err(bad(format!(
            "insufficient data for a vecx of {dims} dimensions: {} bytes, need {need}",
            bytes.len()
        )));
    }
    let mut values = Vec::with_capacity(dims);
    for chunk in bytes[HEADER_LEN..need].chunks_exact(4) {
        let v = f32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if !v.is_finite() {
            return Err(VecxError::not_finite(v));
        }
        values.push(v);
    }
    Ok((values, need))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout() {
        assert_eq!(
            encode(&[1.0, -2.0]),
            vec![0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(
            decode(&[0, 1]).unwrap_err().kind,
            ErrorKind::InvalidBinaryRepresentation
        );
        assert_eq!(
            decode(&[0, 0, 0, 0]).unwrap_err().kind,
            ErrorKind::DataException
        );
        assert_eq!(
            decode(&[0xff, 0xff, 0, 0]).unwrap_err().kind,
            ErrorKind::InvalidBinaryRepresentation
        );
        assert_eq!(
            decode(&[0x7f, 0xff, 0, 0]).unwrap_err().kind,
            ErrorKind::ProgramLimitExceeded
        );
        assert_eq!(
            decode(&[0, 1, 0, 1, 0, 0, 0, 0]).unwrap_err().kind,
            ErrorKind::InvalidBinaryRepresentation
        );
        assert_eq!(
            decode(&[0, 2, 0, 0, 0, 0, 0, 0]).unwrap_err().kind,
            ErrorKind::InvalidBinaryRepresentation
        );
        let nan = encode(&[f32::NAN]);
        assert_eq!(decode(&nan).unwrap_err().kind, ErrorKind::DataException);
    }

    proptest! {
        #[test]
        fn round_trip(values in prop::collection::vec(-1e30f32..1e30, 1..300), extra in prop::collection::vec(any::<u8>(), 0..8)) {
            let mut bytes = encode(&values);
            let len = bytes.len();
            bytes.extend(extra);
            let (back, used) = decode(&bytes).unwrap();
            prop_assert_eq!(used, len);
            prop_assert_eq!(back, values);
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok((v, used)) = decode(&bytes) {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(used, HEADER_LEN + 4 * v.len());
            }
        }

        #[test]
        fn truncations_fail_cleanly(values in prop::collection::vec(-1e3f32..1e3, 1..50), cut in any::<usize>()) {
            let bytes = encode(&values);
            let cut = cut % bytes.len();
            prop_assert!(decode(&bytes[..cut]).is_err());
        }
    }
}
