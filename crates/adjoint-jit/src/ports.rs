//! Instruction choices in vector loops that spread the floating-point work
//! over the execution ports.
//!
//! Elementwise loops such as gradients are often limited by instruction
//! throughput rather than memory. On x86-64 cores with separate adder and
//! multiplier pipes (AMD Zen), loops rich in additions wait on the two
//! adders while the multipliers idle. Two rewrites, both bit for bit
//! identical to the plain instruction, shift that balance:
//!
//! - `x + x` becomes `x * 2`: both are the exact `2x` rounded once
//!   (overflow gives the same infinity, NaN the same quieted NaN), so a
//!   doubling can run on a multiplier. [`doublings`] picks which doublings
//!   of a loop move, while additions outnumber multiplications.
//! - `-x` becomes `x xor sign-mask` with the mask loaded from the constant
//!   pool, one instruction instead of Cranelift's three (it builds the mask
//!   in registers at every use).

use crate::plan::{KExpr, Kernel};
use adjoint_ir::{BinaryOp, DType};
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// Which expressions of `k` (among those `needed`, all without) to lower
/// as a multiplication by two: doublings `x + x`, taken in order while the
/// loop's additions and subtractions outnumber its multiplications.
pub(crate) fn doublings(k: &Kernel, needed: Option<&[bool]>) -> Vec<bool> {
    let live = |i: usize| needed.is_none_or(|n| n[i]);
    let (mut adds, mut muls) = (0usize, 0usize);
    for (_, e) in k.exprs.iter().enumerate().filter(|&(i, _)| live(i)) {
        match e {
            KExpr::Binary(BinaryOp::Add | BinaryOp::Sub, ..) => adds += 1,
            KExpr::Binary(BinaryOp::Mul, ..) => muls += 1,
            _ => {}
        }
    }
    let mut out = vec![false; k.exprs.len()];
    for (i, e) in k.exprs.iter().enumerate() {
        if adds <= muls + 1 {
            break;
        }
        if let KExpr::Binary(BinaryOp::Add, x, y) = e {
            if x == y && live(i) && k.tys[i] != DType::Bool {
                out[i] = true;
                adds -= 1;
                muls += 1;
            }
        }
    }
    out
}

/// `x * 2` for a vector `x` of type `vt` with lanes of `dt`.
pub(crate) fn double(b: &mut FunctionBuilder, vt: Type, dt: DType, x: Value) -> Value {
    let two = match dt {
        DType::F32 => b.ins().f32const(2.0),
        _ => b.ins().f64const(2.0),
    };
    let two = b.ins().splat(vt, two);
    b.ins().fmul(x, two)
}

/// `-x` for a vector `x` of type `vt` with lanes of `dt`: the sign bits
/// flipped by a constant mask.
pub(crate) fn negate(b: &mut FunctionBuilder, vt: Type, dt: DType, x: Value) -> Value {
    let mask = match dt {
        DType::F32 => b.ins().f32const(-0.0),
        _ => b.ins().f64const(-0.0),
    };
    let mask = b.ins().splat(vt, mask);
    b.ins().bxor(x, mask)
}
