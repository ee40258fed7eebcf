//! The `adjoint` command-line tool.
fn main() {}
