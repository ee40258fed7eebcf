//! The elementwise ops: unary and binary arithmetic, comparisons, `select`
//! and `cast`. Operands have the result's shape (the IR makes broadcasting
//! explicit), so element `i` of the result depends on element `i` of each
//! operand only. The per-element rules live in [`crate::scalar`].

use crate::elems;
use crate::memory::{try_clone_data, try_collect};
use crate::scalar::{self, Elem, Float};
use adjoint_ir::{
    BinaryOp, CompareOp, DType, LogicalOp, Result, Tensor, TensorData, TensorType, UnaryOp,
};

/// `op` applied to every element of `x`.
pub(crate) fn unary(op: UnaryOp, x: &Tensor, ty: &TensorType) -> Result<Tensor> {
    let mode = crate::math_mode::current();
    let data = with_float!(ty.dtype, "unary op", T => {
        let x = elems::<T>(x)?;
        T::wrap(try_collect(x.len(), x.iter().map(|&v| scalar::unary_in(mode, op, v)), op.name())?)
    });
    Tensor::new(ty.shape.clone(), data)
}

/// `op` applied to corresponding elements of `a` and `b`.
pub(crate) fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, ty: &TensorType) -> Result<Tensor> {
    let mode = crate::math_mode::current();
    let data = with_float!(ty.dtype, "binary op", T => {
        let (a, b) = (elems::<T>(a)?, elems::<T>(b)?);
        let n = a.len().min(b.len());
        T::wrap(try_collect(n, a.iter().zip(b).map(|(&x, &y)| scalar::binary_in(mode, op, x, y)), op.name())?)
    });
    Tensor::new(ty.shape.clone(), data)
}

/// `op` applied to corresponding elements of `a` and `b`, giving `bool`.
pub(crate) fn compare(op: CompareOp, a: &Tensor, b: &Tensor, ty: &TensorType) -> Result<Tensor> {
    let data = with_float!(a.dtype(), "comparison", T => {
        let (a, b) = (elems::<T>(a)?, elems::<T>(b)?);
        let n = a.len().min(b.len());
        TensorData::Bool(try_collect(n, a.iter().zip(b).map(|(&x, &y)| scalar::compare(op, x, y)), op.name())?)
    });
    Tensor::new(ty.shape.clone(), data)
}

/// `and`, `or` (two operands) and `not` (one), elementwise on `bool`.
pub(crate) fn logical(op: LogicalOp, o: &[&Tensor], ty: &TensorType) -> Result<Tensor> {
    let a = elems::<bool>(o[0])?;
    let data = match o.get(1) {
        Some(b) => {
            let b = elems::<bool>(b)?;
            let n = a.len().min(b.len());
            try_collect(n, a.iter().zip(b).map(|(&x, &y)| op.eval(x, y)), op.name())?
        }
        None => try_collect(a.len(), a.iter().map(|&x| op.eval(x, false)), op.name())?,
    };
    Tensor::new(ty.shape.clone(), TensorData::Bool(data))
}

/// `iota`: the element at index `(i_0, …)` is `i_axis`, as a float.
pub(crate) fn iota(axis: usize, ty: &TensorType) -> Result<Tensor> {
    let dims = ty.shape.dims();
    // Row-major: the index on `axis` repeats every `inner` elements and
    // wraps after `dims[axis]` of those.
    let inner: usize = dims[axis + 1..].iter().product();
    let (n, extent) = (ty.numel(), dims[axis]);
    let at = |k: usize| ((k / inner.max(1)) % extent.max(1)) as f64;
    // An index past 2^24 rounds to the nearest f32 (as `as` does).
    let data = match ty.dtype {
        DType::F32 => TensorData::F32(try_collect(n, (0..n).map(|k| at(k) as f32), "iota")?),
        _ => TensorData::F64(try_collect(n, (0..n).map(at), "iota")?),
    };
    Tensor::new(ty.shape.clone(), data)
}

/// `cond ? a : b`, elementwise; the branches may have any dtype.
pub(crate) fn select(cond: &Tensor, a: &Tensor, b: &Tensor, ty: &TensorType) -> Result<Tensor> {
    let c = elems::<bool>(cond)?;
    let data = with_elem!(ty.dtype, T => {
        let (a, b) = (elems::<T>(a)?, elems::<T>(b)?);
        let n = c.len().min(a.len()).min(b.len());
        let picked = c.iter().zip(a.iter().zip(b)).map(|(&c, (&x, &y))| if c { x } else { y });
        T::wrap(try_collect(n, picked, "select")?)
    });
    Tensor::new(ty.shape.clone(), data)
}

/// Converts every element to `ty.dtype`: `f64 -> f32` rounds to nearest
/// (ties to even, `as`), `f32 -> f64` is exact, `bool -> float` gives 0 or
/// 1, and a cast to the operand's own dtype is the identity.
pub(crate) fn cast(x: &Tensor, ty: &TensorType) -> Result<Tensor> {
    let n = x.len();
    let data = match (x.data(), ty.dtype) {
        (d @ TensorData::F32(_), DType::F32)
        | (d @ TensorData::F64(_), DType::F64)
        | (d @ TensorData::Bool(_), DType::Bool) => try_clone_data(d, "cast")?,
        (TensorData::F64(v), DType::F32) => {
            TensorData::F32(try_collect(n, v.iter().map(|&e| e as f32), "cast")?)
        }
        (TensorData::F32(v), DType::F64) => {
            TensorData::F64(try_collect(n, v.iter().map(|&e| f64::from(e)), "cast")?)
        }
        (TensorData::Bool(v), DType::F32) => TensorData::F32(try_collect(
            n,
            v.iter().map(|&e| f32::from_bool(e)),
            "cast",
        )?),
        (TensorData::Bool(v), DType::F64) => TensorData::F64(try_collect(
            n,
            v.iter().map(|&e| f64::from_bool(e)),
            "cast",
        )?),
        (TensorData::F32(_) | TensorData::F64(_), DType::Bool) => {
            return Err(adjoint_ir::Error::eval(format!(
                "cast: cannot cast {} to bool",
                x.ty()
            )))
        }
    };
    Tensor::new(ty.shape.clone(), data)
}
