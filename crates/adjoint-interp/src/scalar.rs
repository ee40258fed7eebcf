//! Element types and the scalar semantics of every elementwise op.
//!
//! This module is the one place where the numeric conventions of the crate
//! docs are written down as code: [`fmax`]/[`fmin`] (NaN-propagating, with
//! `-0.0 < +0.0`), [`unary`], [`binary`] and [`compare`]. It is public so
//! that other engines (the JIT's tests, constant folding) can apply exactly
//! the same rules to single values.
//!
//! ```
//! use adjoint_interp::scalar::{fmax, fmin, unary};
//! use adjoint_ir::UnaryOp;
//! assert!(fmax(f64::NAN, 1.0).is_nan());
//! assert!(fmax(-0.0_f64, 0.0).is_sign_positive());
//! assert!(fmin(0.0_f32, -0.0).is_sign_negative());
//! assert!(unary(UnaryOp::Relu, -0.0_f64).is_sign_positive());
//! ```

use adjoint_ir::math::{self, MathFloat, MathMode};
use adjoint_ir::{BinaryOp, CompareOp, DType, TensorData, UnaryOp};
use std::fmt::Debug;

/// An element type a tensor can hold (`f32`, `f64` or `bool`): how to view
/// a [`TensorData`] as a slice of it, how to wrap a vector of it, and its
/// zero (the value `pad` fills with; `false` for `bool`).
pub trait Elem: Copy + Debug + 'static {
    /// The dtype of this element type.
    const DTYPE: DType;
    /// `+0.0`, or `false`.
    const ZERO: Self;
    /// The elements, if `data` holds this element type.
    fn slice(data: &TensorData) -> Option<&[Self]>;
    /// Wraps a vector of elements.
    fn wrap(v: Vec<Self>) -> TensorData;
}

/// A floating-point element type (`f32` or `f64`). Every method computes in
/// the type itself: `f32` uses `f32` arithmetic and the `f32` libm
/// functions, never a detour through `f64`.
pub trait Float: Elem + MathFloat {
    /// `1.0`.
    const ONE: Self;
    /// `-inf`.
    const NEG_INFINITY: Self;
    /// A quiet NaN (the one [`fmax`] and [`fmin`] return).
    const NAN: Self;
    /// `0.0` or `1.0`.
    fn from_bool(b: bool) -> Self;
    /// Whether the value is a NaN.
    fn is_nan(self) -> bool;
    /// The raw bits, zero-extended to 64 bits.
    fn bits(self) -> u64;
    /// The value with these bits (truncated to the type's width).
    fn from_bits64(b: u64) -> Self;
    /// `|x|`: clears the sign bit.
    fn abs(self) -> Self;
    /// `e^x`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// `self ^ p` (`powf`).
    fn powf(self, p: Self) -> Self;
}

macro_rules! impl_elem {
    ($t:ty, $variant:ident, $zero:expr) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$variant;
            const ZERO: Self = $zero;
            fn slice(data: &TensorData) -> Option<&[Self]> {
                match data {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> TensorData {
                TensorData::$variant(v)
            }
        }
    };
}

impl_elem!(f32, F32, 0.0);
impl_elem!(f64, F64, 0.0);
impl_elem!(bool, Bool, false);

macro_rules! impl_float {
    ($t:ident, $bits:ty) => {
        impl Float for $t {
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            const NAN: Self = $t::NAN;
            fn from_bool(b: bool) -> Self {
                if b {
                    1.0
                } else {
                    0.0
                }
            }
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            fn bits(self) -> u64 {
                u64::from(self.to_bits())
            }
            fn from_bits64(b: u64) -> Self {
                $t::from_bits(b as $bits)
            }
            fn abs(self) -> Self {
                $t::abs(self)
            }
            fn exp(self) -> Self {
                $t::exp(self)
            }
            fn ln(self) -> Self {
                $t::ln(self)
            }
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            fn sin(self) -> Self {
                $t::sin(self)
            }
            fn cos(self) -> Self {
                $t::cos(self)
            }
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            fn powf(self, p: Self) -> Self {
                $t::powf(self, p)
            }
        }
    };
}

impl_float!(f32, u32);
impl_float!(f64, u64);

/// The NaN-propagating maximum (Cranelift's `fmax`): a NaN if either operand
/// is NaN, and `-0.0 < +0.0`, so `fmax(-0.0, +0.0) = +0.0`.
///
/// Unlike `f64::max`, which returns the other operand when one is NaN.
pub fn fmax<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::NAN
    } else if a > b {
        a
    } else if b > a {
        b
    } else {
        // Equal: identical bits, or +0.0 and -0.0. The sign bit of the
        // result is set only if both signs are set.
        T::from_bits64(a.bits() & b.bits())
    }
}

/// The NaN-propagating minimum (Cranelift's `fmin`): a NaN if either operand
/// is NaN, and `-0.0 < +0.0`, so `fmin(-0.0, +0.0) = -0.0`.
pub fn fmin<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::NAN
    } else if a < b {
        a
    } else if b < a {
        b
    } else {
        // Equal: the sign bit of the result is set if either sign is set.
        T::from_bits64(a.bits() | b.bits())
    }
}

/// One unary op on one value, in the value's own type, in the default
/// (libm) math mode: [`unary_in`] with [`MathMode::Libm`].
///
/// `neg` flips the sign bit, `abs` clears it, `sigmoid(x) = 1 / (1 +
/// exp(-x))`, `relu(x) = fmax(x, +0.0)`; the rest are the std functions.
pub fn unary<T: Float>(op: UnaryOp, x: T) -> T {
    unary_in(MathMode::Libm, op, x)
}

/// One unary op on one value in math mode `mode`: the transcendental
/// functions as [`adjoint_ir::math::unary`] defines them in that mode
/// (the one place of that definition); `neg`, `abs`, `sqrt` and `relu`,
/// which do not depend on the mode, here.
pub fn unary_in<T: Float>(mode: MathMode, op: UnaryOp, x: T) -> T {
    if let Some(y) = math::unary(mode, op, x) {
        return y;
    }
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Relu => fmax(x, T::ZERO),
        UnaryOp::Exp
        | UnaryOp::Log
        | UnaryOp::Sin
        | UnaryOp::Cos
        | UnaryOp::Tanh
        | UnaryOp::Sigmoid => unreachable!("math::unary computes {}", op.name()),
    }
}

/// One binary op on two values, in their own type, in the default (libm)
/// math mode: [`binary_in`] with [`MathMode::Libm`] (IEEE-754; `pow` is
/// `powf`; `max`/`min` are [`fmax`]/[`fmin`]).
pub fn binary<T: Float>(op: BinaryOp, a: T, b: T) -> T {
    binary_in(MathMode::Libm, op, a, b)
}

/// One binary op on two values in math mode `mode` (`pow` as
/// [`adjoint_ir::math::powf`] defines it in that mode).
pub fn binary_in<T: Float>(mode: MathMode, op: BinaryOp, a: T, b: T) -> T {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => math::powf(mode, a, b),
        BinaryOp::Max => fmax(a, b),
        BinaryOp::Min => fmin(a, b),
    }
}

/// One comparison (IEEE: any NaN compares false; `-0.0 == +0.0`).
pub fn compare<T: Float>(op: CompareOp, a: T, b: T) -> bool {
    match op {
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Eq => a == b,
    }
}
