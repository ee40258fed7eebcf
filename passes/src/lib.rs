//! # adjoint-passes
//!
//! Graph-to-graph passes and the [`PassManager`] that runs a pipeline of
//! them:
//!
//! - automatic differentiation as graph transforms: [`reverse`] (`grad`,
//!   `vjp`) and [`forward`] (`jvp`), built on one table of derivative
//!   [`rules`] with symbolic zeros ([`Lin`]);
//! - clean-up: [`dce`], [`cse`], [`fold`], [`simplify`], [`inline`],
//!   [`licm`], which also run inside loop bodies ([`nested`]);
//! - [`gradcheck`]: reverse and forward mode against finite differences.
//!
//! ```
//! use adjoint_ir::{GraphBuilder, TensorType};
//! use adjoint_passes::PassManager;
//! let b = GraphBuilder::new("f");
//! let x1 = b.param("x1", TensorType::f64([]));
//! let x2 = b.param("x2", TensorType::f64([]));
//! let mut g = b.build(&[x1 * x2 + x1.sin()]).unwrap();
//! PassManager::parse("grad,simplify,cse,dce").unwrap().run(&mut g).unwrap();
//! assert_eq!(g.outputs().len(), 3); // f, df/dx1, df/dx2
//! ```
#![warn(missing_docs)]

pub mod batched_matvec;
pub mod body_edit;
pub mod bracketing;
pub mod budget;
pub mod composite;
pub mod contract;
pub mod cse;
pub mod cut_points;
pub mod dce;
pub mod emit;
mod errors;
pub mod fold;
pub mod forward;
pub mod fuse;
pub mod gradcheck;
pub mod inline;
pub mod jacobian;
pub mod licm;
pub mod lin;
pub mod loop_jvp;
pub mod loop_vjp;
mod loop_vjp_body;
mod loop_vjp_budget;
mod manager;
pub mod nested;
mod pipeline;
mod registry;
pub mod reverse;
pub mod rules;
pub mod simplify;

pub use lin::Lin;
pub use manager::{DumpTarget, Pass, PassFilter, PassManager, PassRecord, PassStats, RunReport};
pub use pipeline::{parse_pipeline, PassOptions, PassSpec};
pub use registry::{OptionSpec, PassEntry, PassType, Registry};
