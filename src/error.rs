//! Raising errors: every [`VecxError`] from vecx-core becomes a PostgreSQL `ERROR` with the
//! SQLSTATE of its kind, a message naming the problem and, when there is one, a detail line.
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use vecx_core::{ErrorKind, VecxError};

fn sqlstate(kind: ErrorKind) -> PgSqlErrorCode {
    match kind {
        ErrorKind::InvalidTextRepresentation => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        ErrorKind::DataException => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        ErrorKind::NumericValueOutOfRange => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        ErrorKind::ProgramLimitExceeded => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        ErrorKind::InvalidBinaryRepresentation => {
            PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION
        }
        ErrorKind::InvalidParameterValue => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
    }
}

/// Raises `code: message` as an ERROR. Does not return: PostgreSQL unwinds to the caller.
pub fn raise_code(code: PgSqlErrorCode, message: impl Into<String>, detail: Option<String>) -> ! {
    let mut report = ErrorReport::new(code, message.into(), "vecx");
    if let Some(detail) = detail {
        report = report.set_detail(detail);
    }
    report.report(PgLogLevel::ERROR);
    // report(ERROR) unwinds into PostgreSQL's error handling and never comes back.
    unreachable!("ereport(ERROR) returned")
}

/// Raises a vecx-core error with its SQLSTATE.
pub fn raise(e: VecxError) -> ! {
    raise_code(sqlstate(e.kind), e.message, e.detail)
}

/// `result.or_raise()`: the value, or an ERROR with the right SQLSTATE.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, VecxError> {
    #[inline]
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise(e),
        }
    }
}
