//! The one error type of the IR crates: every fallible operation returns
//! [`Result`], and every message names the op, the shapes involved and, for
//! text input, the line and column.

use std::fmt;

/// A position in IR text: 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Loc {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number (in characters).
    pub col: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// What went wrong, broadly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed IR text.
    Parse,
    /// An op was applied to operands of the wrong dtype, shape or count.
    Type,
    /// The verifier rejected a graph.
    Verify,
    /// Evaluation failed (bad inputs to a call, for example).
    Eval,
    /// A pass or pass pipeline failed.
    Pass,
    /// Native compilation failed.
    Jit,
    /// Bad user input outside the IR text (arguments, options, files).
    Input,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Parse => "parse error",
            ErrorKind::Type => "type error",
            ErrorKind::Verify => "verifier error",
            ErrorKind::Eval => "evaluation error",
            ErrorKind::Pass => "pass error",
            ErrorKind::Jit => "jit error",
            ErrorKind::Input => "input error",
        })
    }
}

/// An error with a kind, a message and, for text input, a location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The broad category.
    pub kind: ErrorKind,
    /// A human-readable message naming the op and the shapes involved.
    pub message: String,
    /// Where in the IR text, if the error came from text.
    pub loc: Option<Loc>,
}

impl Error {
    /// A new error without a location.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            loc: None,
        }
    }

    /// A parse error at `loc`.
    pub fn parse(loc: Loc, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Parse,
            message: message.into(),
            loc: Some(loc),
        }
    }

    /// A type error (no location).
    pub fn type_error(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Type, message)
    }

    /// A verifier error.
    pub fn verify(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Verify, message)
    }

    /// An evaluation error.
    pub fn eval(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Eval, message)
    }

    /// A pass error.
    pub fn pass(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Pass, message)
    }

    /// A JIT error.
    pub fn jit(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Jit, message)
    }

    /// A user-input error.
    pub fn input(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Input, message)
    }

    /// The same error, located at `loc` unless it already has a location.
    pub fn at(mut self, loc: Loc) -> Self {
        if self.loc.is_none() {
            self.loc = Some(loc);
        }
        self
    }

    /// The same error with `context: ` put before its message.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.loc {
            Some(loc) => write!(f, "{loc}: {}: {}", self.kind, self.message),
            None => write!(f, "{}: {}", self.kind, self.message),
        }
    }
}

impl std::error::Error for Error {}

/// The result type of every fallible operation in adjoint.
pub type Result<T, E = Error> = std::result::Result<T, E>;
