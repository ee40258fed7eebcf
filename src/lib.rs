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
//! the small pieces the CLI, the examples and the benchmarks share
//! ([`Engine`], [`values`], [`workloads`]). The [`tutorial`] walks through
//! the seed notes with runnable snippets.
//!
//! ```
//! use adjoint::ir::{parse_module, Tensor};
//! use adjoint::Engine;
//!
//! // Text IR in, gradient out, on both engines.
//! let m = parse_module(
//!     "func @f(%x: f64[3]) -> f64 {
//!        %e = exp %x
//!        %s = reduce_sum %e axes=[0]
//!        return %s
//!      }",
//! )?;
//! let mut g = m.func("f").unwrap().clone();
//! adjoint::run_pipeline(&mut g, "grad,simplify,cse,dce")?;
//! let x = Tensor::from_f64([3], vec![0.0, 1.0, 2.0])?;
//! for engine in Engine::ALL {
//!     let out = engine.run(&g, &[x.clone()])?;
//!     let grad = out[1].to_f64_vec(); // d/dx sum(exp x) = exp x
//!     for (gi, xi) in grad.iter().zip([0.0f64, 1.0, 2.0]) {
//!         assert!((gi - xi.exp()).abs() <= 4.0 * f64::EPSILON * xi.exp());
//!     }
//! }
//! # Ok::<(), adjoint::ir::Error>(())
//! ```
#![warn(missing_docs)]

pub use adjoint_interp as interp;
pub use adjoint_ir as ir;
pub use adjoint_jit as jit;
pub use adjoint_passes as passes;
pub use adjoint_stablehlo as stablehlo;

mod engine;
mod helpers;
pub mod values;
pub mod workloads;

pub use engine::{Engine, Prepared};
pub use helpers::{hessian, jacobian, value_and_grad, Diff, DiffOut};
pub use jit::Named;
pub use passes::Pipeline;

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
