//! The text IR: a printer and a parser that round-trip. See `docs/ir.md`.

mod lexer;
mod parser;
mod printer;

pub use parser::{parse_module, MAX_CONST_ELEMS, MAX_DEPTH, MAX_EXTENT};
pub(crate) use printer::{attrs_text, tensor_literal, value_names};
pub use printer::{print_graph, print_module};
