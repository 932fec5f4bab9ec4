//! Why a record could not be read: [`RecordError`], naming the line, the
//! column and what was wrong.

use std::fmt;
use std::io;

use super::{COLUMNS, MAX_LINE, RECORD_HEADER};

/// Why a record could not be read: the line (1 is the header), the column
/// where it applies, and what was wrong.
#[derive(Debug)]
pub struct RecordError {
    line: u64,
    /// 1-based column number.
    column: Option<usize>,
    kind: RecordErrorKind,
}

#[derive(Debug)]
pub(super) enum RecordErrorKind {
    Io(io::Error),
    NoHeader,
    BadHeader(String),
    Empty,
    TooLong,
    MissingColumns,
    ExtraColumns,
    Field {
        expected: &'static str,
        found: String,
    },
}

impl RecordError {
    /// The line number (1 is the header).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The 1-based column number, where the error is in one column.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    pub(super) fn at(line: u64, column: Option<usize>, kind: RecordErrorKind) -> RecordError {
        RecordError { line, column, kind }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = self.column {
            write!(f, ", column {c} ({})", COLUMNS[c - 1])?;
        }
        match &self.kind {
            RecordErrorKind::Io(e) => write!(f, ": {e}"),
            RecordErrorKind::NoHeader => write!(
                f,
                ": the file is empty; a record starts with the header {RECORD_HEADER}"
            ),
            RecordErrorKind::BadHeader(found) => write!(
                f,
                ": not an mcast record: the header must be {RECORD_HEADER}, found '{found}'"
            ),
            RecordErrorKind::Empty => write!(f, ": empty line"),
            RecordErrorKind::TooLong => write!(f, ": longer than {MAX_LINE} bytes"),
            RecordErrorKind::MissingColumns => {
                write!(f, ": the row ends here, but a record row has 8 columns")
            }
            RecordErrorKind::ExtraColumns => {
                write!(f, ": more than 8 columns (a record row has 8)")
            }
            RecordErrorKind::Field { expected, found } => {
                write!(f, ": expected {expected}, found '{found}'")
            }
        }
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            RecordErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
