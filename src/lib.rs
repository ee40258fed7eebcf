//! # adjoint
//!
//! An automatic-differentiation compiler. Programs are tensor dataflow graphs
//! ([`ir::Graph`]), built with the [`ir::GraphBuilder`] or parsed from the text
//! IR ([`ir::parse_module`]). Passes ([`passes`]) append derivative subgraphs,
//! and the JIT ([`jit`]) compiles the result to native code. The reference
//! interpreter ([`interp`]) is the oracle every other engine is tested
//! against.
//!
//! This crate is a facade: it re-exports the workspace crates.
#![warn(missing_docs)]

pub use adjoint_interp as interp;
pub use adjoint_ir as ir;
pub use adjoint_jit as jit;
pub use adjoint_passes as passes;
