//! # adjoint-jit
//!
//! Compiles verified graphs to native code with Cranelift.
#![warn(missing_docs)]
