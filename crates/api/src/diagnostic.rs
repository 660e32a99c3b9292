//! Problems found in a configuration, each with where it is and what was expected.

use std::fmt;
use std::sync::Arc;

/// A place in a source file: the file's name as given and a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file as the user named it (`-` for standard input).
    pub file: Arc<str>,
    /// 1-based line number; 0 when the object has no source (built in code).
    pub line: u32,
}

impl Location {
    /// A location in `file` at `line`.
    pub fn new(file: impl Into<Arc<str>>, line: u32) -> Self {
        Location { file: file.into(), line }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration cannot be used.
    Error,
    /// The configuration works, but probably not as meant (as MetalLB warns
    /// about a reference to an object that does not exist yet).
    Warning,
}

/// One problem: `FILE:LINE: Kind/name: field.path: what is wrong (what was expected)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    /// Where the problem is.
    pub location: Location,
    /// Error or warning.
    pub severity: Severity,
    /// The object, as `Kind/name`; empty when the problem is outside any object.
    pub object: String,
    /// The field path inside the object (`spec.addresses[0]`); empty for the
    /// object as a whole.
    pub field: String,
    /// What is wrong and, in parentheses, what was expected.
    pub message: String,
}

impl Diagnostic {
    /// An error at `location` in `object`'s `field`.
    pub fn error(
        location: Location,
        object: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            location,
            severity: Severity::Error,
            object: object.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A warning at `location` in `object`'s `field`.
    pub fn warning(
        location: Location,
        object: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic { severity: Severity::Warning, ..Self::error(location, object, field, message) }
    }

    /// Whether this problem makes the configuration unusable.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if !self.object.is_empty() {
            write!(f, "{}: ", self.object)?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}
