//! The reference for programs with loops: the interpreter, in the JIT's
//! math mode (docs/ir.md §14).
#![allow(dead_code)]

use adjoint_interp::EvalOptions;
use adjoint_ir::{Graph, Tensor};
use adjoint_jit::JitOptions;

/// The interpreter's results in the math mode of `jit`.
pub fn reference(g: &Graph, inputs: &[Tensor], jit: &JitOptions) -> Vec<Tensor> {
    let opts = EvalOptions {
        math: jit.math_mode(),
        ..Default::default()
    };
    adjoint_interp::eval_with(g, inputs, &opts)
        .unwrap_or_else(|e| panic!("interpreter on @{}: {e}", g.name()))
}
