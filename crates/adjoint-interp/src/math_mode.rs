//! The math mode of the evaluation running on this thread.
//!
//! [`eval`](crate::eval) computes `exp log sin cos tanh sigmoid pow` with
//! the std (libm) functions; [`eval_with`](crate::eval_with) with
//! [`EvalOptions::math`](crate::EvalOptions::math) set to
//! [`MathMode::Poly`] uses the polynomial reference of [`adjoint_ir::math`]
//! instead, the definition the JIT's default `poly_math` code follows, so
//! that the interpreter is the bit-for-bit oracle of either JIT mode
//! (docs/ir.md §14). The mode is held here for the duration of one
//! evaluation (custom-op bodies included, which run on the calling
//! thread), so the elementwise kernels read it without threading it through
//! every call.
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
//! let poly = EvalOptions { math: MathMode::Poly { fma: true }, ..EvalOptions::default() };
//! let poly = eval_with(&g, &x, &poly).unwrap();
//! assert_eq!(libm[0].as_f32().unwrap(), &[0.99999994]);
//! assert_eq!(poly[0].as_f32().unwrap(), &[1.0]);
//! ```

use adjoint_ir::math::MathMode;
use std::cell::Cell;

thread_local! {
    /// The math mode of the evaluation running on this thread.
    static MODE: Cell<MathMode> = const { Cell::new(MathMode::Libm) };
}

/// The math mode of the evaluation running on this thread.
pub(crate) fn current() -> MathMode {
    MODE.with(Cell::get)
}

/// Restores the previous mode when dropped (also on an early return).
pub(crate) struct Restore(MathMode);

impl Drop for Restore {
    fn drop(&mut self) {
        MODE.with(|m| m.set(self.0));
    }
}

/// Sets this thread's mode to `mode` until the returned guard is dropped.
pub(crate) fn enter(mode: MathMode) -> Restore {
    Restore(MODE.with(|m| m.replace(mode)))
}
