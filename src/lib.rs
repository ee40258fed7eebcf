//! # adjoint
//!
//! An automatic-differentiation compiler. Programs are tensor dataflow graphs
//! ([`ir::Graph`]), built with the [`ir::GraphBuilder`] or parsed from the text
//! IR ([`ir::parse_module`]). Passes ([`passes`]) append derivative subgraphs,
//! and the JIT ([`jit`]) compiles the result to native code. The reference
//! interpreter ([`interp`]) is the oracle every other engine is tested
//! against.
//!
//! This crate is the facade: it re-exports the workspace crates, and holds
//! the small pieces the CLI and the filetests share ([`Engine`],
//! [`values`]).
#![warn(missing_docs)]

pub use adjoint_interp as interp;
pub use adjoint_ir as ir;
pub use adjoint_jit as jit;
pub use adjoint_passes as passes;

mod engine;
pub mod values;

pub use engine::{Engine, Prepared};

#[doc = include_str!("../docs/tutorial.md")]
pub mod tutorial {}

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Runs the pass pipeline `pipeline` (e.g. `grad{wrt=x},simplify,cse,dce`)
/// on `g` in place, verifying after each pass.
pub fn run_pipeline(g: &mut ir::Graph, pipeline: &str) -> ir::Result<()> {
    passes::PassManager::parse(pipeline)?.run(g)?;
    Ok(())
}
