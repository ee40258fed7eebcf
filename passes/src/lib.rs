//! # adjoint-passes
//!
//! Graph-to-graph passes and the [`PassManager`] that runs a pipeline of them.
#![warn(missing_docs)]

pub mod bracketing;
mod manager;

pub use manager::{Pass, PassManager, PassStats};
