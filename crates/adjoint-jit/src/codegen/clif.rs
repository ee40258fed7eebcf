//! Small Cranelift helpers: the IR types of dtypes (scalar, vector,
//! mask), memory flags, constants, comparisons and casts.

use adjoint_ir::{CompareOp, DType, Error};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32, F32X4, F64, F64X2, I32X4, I64X2, I8};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

pub(super) fn cl_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::jit(format!("{what}: {e}"))
}

pub(super) fn scalar_ty(d: DType) -> Type {
    match d {
        DType::F32 => F32,
        DType::F64 => F64,
        DType::Bool => I8,
    }
}

pub(super) fn vec_ty(d: DType) -> Type {
    match d {
        DType::F32 => F32X4,
        _ => F64X2,
    }
}

pub(super) fn mask_ty(d: DType) -> Type {
    match d {
        DType::F32 => I32X4,
        _ => I64X2,
    }
}

/// Vectors per 4-element step.
pub(super) fn vecs_per_step(d: DType) -> usize {
    match d {
        DType::F32 => 1,
        _ => 2,
    }
}

pub(super) fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

pub(super) fn fconst(b: &mut FunctionBuilder, dt: DType, x: f64) -> Value {
    match dt {
        DType::F32 => b.ins().f32const(x as f32),
        DType::F64 => b.ins().f64const(x),
        DType::Bool => b.ins().iconst(I8, i64::from(x != 0.0)),
    }
}

/// A float constant of `dt`, splat to a vector with `vector`.
pub(super) fn splat_const(b: &mut FunctionBuilder, dt: DType, vector: bool, x: f64) -> Value {
    let c = fconst(b, dt, x);
    if vector {
        b.ins().splat(vec_ty(dt), c)
    } else {
        c
    }
}

pub(super) fn float_cc(c: CompareOp) -> FloatCC {
    match c {
        CompareOp::Lt => FloatCC::LessThan,
        CompareOp::Le => FloatCC::LessThanOrEqual,
        CompareOp::Gt => FloatCC::GreaterThan,
        CompareOp::Ge => FloatCC::GreaterThanOrEqual,
        CompareOp::Eq => FloatCC::Equal,
    }
}

pub(super) fn cast(b: &mut FunctionBuilder, from: DType, to: DType, x: Value) -> Value {
    match (from, to) {
        (DType::F32, DType::F64) => b.ins().fpromote(F64, x),
        (DType::F64, DType::F32) => b.ins().fdemote(F32, x),
        (DType::Bool, DType::F32 | DType::F64) => {
            let w = b.ins().uextend(cranelift_codegen::ir::types::I32, x);
            b.ins().fcvt_from_uint(scalar_ty(to), w)
        }
        _ => x,
    }
}
