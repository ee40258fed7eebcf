//! Evaluation options: the [`MathMode`] of the transcendental functions.
//!
//! [`eval`](crate::eval) computes `exp log sin cos tanh sigmoid pow` with
//! the std (libm) functions; [`eval_with`] can use the polynomial
//! reference of [`adjoint_ir::math`] instead, the definition the JIT's
//! default `poly_math` code follows, so that the interpreter is the
//! bit-for-bit oracle of either JIT mode (docs/ir.md §14).
//!
//! ```
//! use adjoint_interp::{eval, eval_with, EvalOptions};
//! use adjoint_ir::math::MathMode;
//! use adjoint_ir::{GraphBuilder, Tensor, TensorType};
//! let b = GraphBuilder::new("f");
//! let x = b.param("x", TensorType::f32([]));
//! let g = b.build(&[x.tanh()]).unwrap();
//! let x = [Tensor::scalar_f32(9.0)];
//! let libm = eval(&g, &x).unwrap();
//! let poly = EvalOptions { math: MathMode::Poly { fma: true } };
//! let poly = eval_with(&g, &x, &poly).unwrap();
//! assert_eq!(libm[0].as_f32().unwrap(), &[0.99999994]);
//! assert_eq!(poly[0].as_f32().unwrap(), &[1.0]);
//! ```

use adjoint_ir::math::MathMode;
use adjoint_ir::{Graph, Result, Tensor};
use std::cell::Cell;

/// Options of [`eval_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalOptions {
    /// How transcendental functions are computed ([`MathMode::Libm`] by
    /// default, as [`eval`](crate::eval) does).
    pub math: MathMode,
}

thread_local! {
    /// The math mode of the evaluation running on this thread (the
    /// interpreter evaluates a graph, custom-op bodies included, on the
    /// calling thread).
    static MODE: Cell<MathMode> = const { Cell::new(MathMode::Libm) };
}

/// The math mode of the evaluation running on this thread.
pub(crate) fn current() -> MathMode {
    MODE.with(Cell::get)
}

/// Restores the previous mode when dropped (also on an early return).
struct Restore(MathMode);

impl Drop for Restore {
    fn drop(&mut self) {
        MODE.with(|m| m.set(self.0));
    }
}

/// [`eval`](crate::eval) with options: the same checks and results, with
/// the transcendental functions computed in `opts.math`.
pub fn eval_with(g: &Graph, inputs: &[Tensor], opts: &EvalOptions) -> Result<Vec<Tensor>> {
    let _restore = Restore(MODE.with(|m| m.replace(opts.math)));
    crate::eval(g, inputs)
}
