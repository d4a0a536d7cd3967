//! Typed errors. Each error knows its class ([`ErrorKind`]); the extension maps a class onto a
//! SQLSTATE, so the same mistake always surfaces with the same code.
use std::fmt;

/// The class of an error, one per SQLSTATE the extension raises for value-level problems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed text: SQLSTATE 22P02 (`invalid_text_representation`).
    InvalidTextRepresentation,
    /// A well-formed but unacceptable value (NaN, infinity, mismatched dimensions): 22000.
    DataException,
    /// A number too large or too small for float4: 22003 (`numeric_value_out_of_range`).
    NumericValueOutOfRange,
    /// A size limit (more than [`crate::MAX_DIM`] dimensions): 54000 (`program_limit_exceeded`).
    ProgramLimitExceeded,
    /// Bad binary input (wrong length, non-zero reserved field): 22P03 (`invalid_binary_representation`).
    InvalidBinaryRepresentation,
    /// A bad argument to a function (sub-vector bounds, typmod): 22023 (`invalid_parameter_value`).
    InvalidParameterValue,
}

/// An error with its class and a human-readable message naming the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecxError {
    pub kind: ErrorKind,
    pub message: String,
    pub detail: Option<String>,
}

impl VecxError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        VecxError {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// "different vecx dimensions 3 and 4" (22000).
    pub fn dimension_mismatch(a: usize, b: usize) -> Self {
        VecxError::new(
            ErrorKind::DataException,
            format!("different vecx dimensions {a} and {b}"),
        )
    }

    /// An element that is NaN or infinite: 22000.
    pub fn not_finite(value: f32) -> Self {
        if value.is_nan() {
            VecxError::new(ErrorKind::DataException, "NaN not allowed in vecx")
        } else {
            VecxError::new(
                ErrorKind::DataException,
                "infinite value not allowed in vecx",
            )
        }
    }

    /// An arithmetic result that overflowed float4: 22003.
    pub fn overflow() -> Self {
        VecxError::new(
            ErrorKind::NumericValueOutOfRange,
            "value out of range: overflow",
        )
    }

    /// An empty vector: 22000.
    pub fn empty() -> Self {
        VecxError::new(
            ErrorKind::DataException,
            "vecx must have at least 1 dimension",
        )
    }

    /// More than [`crate::MAX_DIM`] dimensions: 54000.
    pub fn too_many_dims(dims: usize) -> Self {
        VecxError::new(
            ErrorKind::ProgramLimitExceeded,
            format!("vecx cannot have more than {} dimensions", crate::MAX_DIM),
        )
        .with_detail(format!("The value has {dims} dimensions."))
    }
}

impl fmt::Display for VecxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for VecxError {}

/// Checks a dimension count against the type's limits.
pub fn check_dims(dims: usize) -> Result<(), VecxError> {
    if dims == 0 {
        Err(VecxError::empty())
    } else if dims > crate::MAX_DIM {
        Err(VecxError::too_many_dims(dims))
    } else {
        Ok(())
    }
}

/// Checks every element is finite (no NaN, no infinity).
pub fn check_finite(values: &[f32]) -> Result<(), VecxError> {
    match values.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(VecxError::not_finite(*v)),
        None => Ok(()),
    }
}

/// Checks two operands of a binary operation have the same dimensions.
pub fn check_same_dims(a: &[f32], b: &[f32]) -> Result<(), VecxError> {
    if a.len() == b.len() {
        Ok(())
    } else {
        Err(VecxError::dimension_mismatch(a.len(), b.len()))
    }
}
