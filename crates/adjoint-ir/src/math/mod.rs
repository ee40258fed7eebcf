//! The engine-independent definition of the transcendental functions.
//!
//! The IR's `exp`, `log`, `sin`, `cos`, `tanh`, `sigmoid` and `pow` are
//! evaluated in one of two documented [`MathMode`]s:
//!
//! - [`MathMode::Libm`]: Rust's `std` functions (`f64::exp`, `f32::sin`,
//!   `powf`, ...; the platform's libm), with `sigmoid(x) = 1 / (1 +
//!   exp(-x))`;
//! - [`MathMode::Poly`]: the polynomial algorithms of this module, written
//!   as plain scalar Rust, step by step, in the value's own dtype. Every
//!   step is one IEEE-754 operation (correctly rounded), and every
//!   multiply-add is either one fused, correctly rounded `mul_add` (with
//!   `fma = true`) or a multiply and an add (with `fma = false`), so the
//!   result is fully determined by the argument, the dtype and `fma`.
//!
//! The interpreter evaluates these functions (`adjoint_interp::EvalOptions`)
//! and the JIT emits the same operations, in the same order, as Cranelift
//! IR (its `vmath`/`vpow` modules read the constants below), so both
//! engines give the same bits in the same mode. The algorithms and their
//! measured accuracy against correctly rounded results are described in
//! docs/ir.md §14.
//!
//! ```
//! use adjoint_ir::math::{self, MathMode};
//! let e = math::exp(1.0f64, true);
//! assert!((e - std::f64::consts::E).abs() <= f64::EPSILON * 3.0);
//! assert_eq!(MathMode::default(), MathMode::Libm);
//! ```

mod consts;
mod poly;

pub use consts::*;
pub use poly::{cos, exp, exp_dd, log, pow, sigmoid, sin, tanh, MathFloat};

use crate::UnaryOp;

/// How the transcendental functions (`exp log sin cos tanh sigmoid pow`)
/// are computed. Every other op is exact IEEE-754 arithmetic (or a
/// documented order of it) and does not depend on the mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MathMode {
    /// Rust's `std` functions (the platform's libm). The interpreter's
    /// default, and the JIT's with `poly_math = false`.
    #[default]
    Libm,
    /// The polynomial algorithms of [`crate::math`]; `fma` says whether
    /// their multiply-adds are fused (correctly rounded `mul_add`) or a
    /// multiply and an add. The JIT's default (`poly_math = true`), with
    /// `fma` true when the host has fused multiply-add.
    Poly {
        /// Fused multiply-add in the polynomials.
        fma: bool,
    },
}

impl std::fmt::Display for MathMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MathMode::Libm => write!(f, "libm"),
            MathMode::Poly { fma: true } => write!(f, "poly (fma)"),
            MathMode::Poly { fma: false } => write!(f, "poly (no fma)"),
        }
    }
}

/// A transcendental unary op on one value in `mode`; `None` for the other
/// unary ops (which do not depend on the mode).
pub fn unary<T: MathFloat>(mode: MathMode, op: UnaryOp, x: T) -> Option<T> {
    let fma = match mode {
        MathMode::Libm => {
            return Some(match op {
                UnaryOp::Exp => x.libm_exp(),
                UnaryOp::Log => x.libm_ln(),
                UnaryOp::Sin => x.libm_sin(),
                UnaryOp::Cos => x.libm_cos(),
                UnaryOp::Tanh => x.libm_tanh(),
                UnaryOp::Sigmoid => T::c(1.0) / (T::c(1.0) + (-x).libm_exp()),
                UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Relu => return None,
            })
        }
        MathMode::Poly { fma } => fma,
    };
    Some(match op {
        UnaryOp::Exp => exp(x, fma),
        UnaryOp::Log => log(x, fma),
        UnaryOp::Sin => sin(x, fma),
        UnaryOp::Cos => cos(x, fma),
        UnaryOp::Tanh => tanh(x, fma),
        UnaryOp::Sigmoid => sigmoid(x, fma),
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Relu => return None,
    })
}

/// `pow(x, y)` in `mode`.
pub fn powf<T: MathFloat>(mode: MathMode, x: T, y: T) -> T {
    match mode {
        MathMode::Libm => x.libm_powf(y),
        MathMode::Poly { fma } => pow(x, y, fma),
    }
}
