//! The text IR: a printer and a parser that round-trip. The format is
//! specified in full in `docs/ir.md`; in short:
//!
//! ```text
//! func @layer(%x: f32[128,784], %w: f32[784,256], %b: f32[256]) -> (f32, f32[128,256]) {
//!   %h = matmul %x, %w
//!   %z = add %h, %b            # numpy broadcasting: a broadcast node is inserted
//!   %t = tanh %z : f32[128,256]
//!   %s = reduce_sum %t axes=[0,1]
//!   return %s, %t
//! }
//! custom @sig = @sig_body vjp=@sig_vjp       # functions defined earlier
//! ```
//!
//! - [`parse_module`] reads a whole file (functions and custom-op
//!   declarations), type-checks every statement as it goes (errors carry
//!   line:column), and verifies each function. It never panics, on any
//!   input; its resource limits are [`MAX_INPUT_BYTES`](crate::MAX_INPUT_BYTES),
//!   [`MAX_EXTENT`], [`MAX_CONST_ELEMS`] and [`MAX_DEPTH`], enforced while
//!   it reads (tokens are read on demand, and literals are counted as they
//!   are read).
//! - [`print_graph`] and [`print_module`] write the canonical form: every
//!   result type, statements in [`Graph::topo_order`](crate::Graph::topo_order),
//!   unnamed values as `%N`, floats in their shortest round-tripping form,
//!   and the custom ops a function calls ahead of it. Printing never fails,
//!   and `print(parse(print(g))) == print(g)`.
//!
//! ```
//! use adjoint_ir::{parse_module, print_module};
//! let src = "func @f(%x: f64[3], %s: f64) -> f64[3] {\n  %y = mul %x, %s\n  return %y\n}\n";
//! let text = print_module(&parse_module(src).unwrap());
//! assert_eq!(text, "\
//! func @f(%x: f64[3], %s: f64) -> f64[3] {
//!   %2 = broadcast %s shape=[3] : f64[3]
//!   %y = mul %x, %2 : f64[3]
//!   return %y
//! }
//! ");
//! assert_eq!(print_module(&parse_module(&text).unwrap()), text);
//! ```

mod attrs;
mod hint;
mod lexer;
mod literal;
mod loop_stmt;
mod parser;
mod printer;

pub(crate) use lexer::is_valid_name;
pub use parser::{parse_module, MAX_CONST_ELEMS, MAX_DEPTH, MAX_EXTENT};
pub(crate) use printer::{attrs_text, tensor_literal, value_names};
pub use printer::{print_graph, print_module};
