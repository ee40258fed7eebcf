//! The text IR: a printer and a parser that round-trip. See `docs/ir.md`.

mod lexer;
mod parser;
mod printer;

pub use parser::parse_module;
pub use printer::{print_graph, print_module};
