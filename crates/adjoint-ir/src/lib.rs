//! # adjoint-ir
//!
//! The tensor dataflow IR of adjoint: dtypes and static shapes, the closed
//! [`Op`] enum, the [`Graph`] of one function (on petgraph's `StableGraph`),
//! the [`GraphBuilder`] API, the [`verify`]er, the text format
//! ([`parse_module`], [`print_module`]) and Graphviz export ([`to_dot`]).
//!
//! ```
//! use adjoint_ir::{GraphBuilder, TensorType, print_graph, parse_module};
//! let b = GraphBuilder::new("f");
//! let x1 = b.param("x1", TensorType::f64([]));
//! let x2 = b.param("x2", TensorType::f64([]));
//! let y = x1 * x2 + x1.sin();
//! let g = b.build(&[y]).unwrap();
//! let text = print_graph(&g);
//! // The text round-trips.
//! let m = parse_module(&text).unwrap();
//! assert_eq!(print_graph(m.func("f").unwrap()), text);
//! ```
#![warn(missing_docs)]

mod body;
mod builder;
mod builder_capture;
mod builder_loops;
mod control;
mod custom;
mod dot;
mod dtype;
mod error;
pub mod fusion;
mod graph;
mod infer;
pub mod inline;
mod limits;
pub mod math;
mod op;
mod op_attrs;
pub mod op_table;
pub mod revolve;
mod shape;
mod stats;
mod tensor;
pub mod text;
mod verify;

pub use body::BodyRef;
pub use builder::{GraphBuilder, Value};
pub use builder_loops::{BodyBuilder, ScanOpts, ScanStep};
pub use custom::{custom_deps, CustomOp, Item, Module};
pub use dot::to_dot;
pub use dtype::DType;
pub use error::{Error, ErrorKind, Loc, Result};
pub use graph::{Graph, Node, NodeId};
pub use infer::{infer_type, infer_types, matmul_shape};
pub use inline::{inline_call, inline_calls_where, inline_graph};
pub use limits::{check_shape, MAX_CONST_ELEMS, MAX_EXTENT, MAX_INPUT_BYTES};
pub use op::{Arity, BinaryOp, CompareOp, CustomRef, LogicalOp, Op, UnaryOp, REDUCE_SUM_BLOCK};
pub use op_table::{AttrKind, AttrSpec, AttrValue, OpClass, OpRow};
pub use shape::{Shape, TensorType};
pub use stats::RunStats;
pub use tensor::{Tensor, TensorData};
pub use text::{parse_module, print_graph, print_module};
pub use verify::verify;
