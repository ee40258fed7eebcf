//! `--arg NAME=@FILE`: an argument's value read from a file, for tensors
//! too large for a command line (a single argument is limited to 128 KiB
//! on Linux; W4's first weight matrix is 200,704 numbers).

use adjoint::ir::{Error, Result};
use std::borrow::Cow;

/// The value text of `--arg NAME=VALUE`: `VALUE` itself, or the contents
/// of the file `PATH` when `VALUE` is `@PATH` (no JSON value starts with
/// `@`). An unreadable file is an error naming the argument and the path.
pub fn value_text<'a>(name: &str, value: &'a str) -> Result<Cow<'a, str>> {
    match value.strip_prefix('@') {
        None => Ok(Cow::Borrowed(value)),
        Some(path) => std::fs::read_to_string(path)
            .map(Cow::Owned)
            .map_err(|e| Error::input(format!("--arg {name}=@{path}: cannot read {path}: {e}"))),
    }
}
