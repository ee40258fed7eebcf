//! The shape ops: `broadcast`, `reshape`, `transpose`, `slice`, `pad` and
//! `concat`. They move elements without computing on them, so they work on
//! every dtype, `bool` included.
//!
//! Each takes operands whose types have already been checked against the
//! result type `ty` (see [`crate::eval_node`]).

use crate::elems;
use crate::memory::{try_clone_data, try_filled};
use crate::scalar::Elem;
use crate::strided::{broadcast_strides, gather, row_major_strides, scatter};
use adjoint_ir::{Result, Tensor, TensorType};

/// Numpy broadcast of `x` to `ty.shape`: trailing axes aligned, size-1 and
/// missing axes repeated.
pub(crate) fn broadcast(x: &Tensor, ty: &TensorType) -> Result<Tensor> {
    let to = ty.shape.dims();
    let strides = broadcast_strides(x.shape().dims(), to);
    let data =
        with_elem!(ty.dtype, T => T::wrap(gather(elems::<T>(x)?, to, &strides, 0, "broadcast")?));
    Tensor::new(ty.shape.clone(), data)
}

/// The same row-major elements with the shape `ty.shape`.
pub(crate) fn reshape(x: &Tensor, ty: &TensorType) -> Result<Tensor> {
    Tensor::new(ty.shape.clone(), try_clone_data(x.data(), "reshape")?)
}

/// Result axis `i` is operand axis `perm[i]`.
pub(crate) fn transpose(x: &Tensor, perm: &[usize], ty: &TensorType) -> Result<Tensor> {
    let src = row_major_strides(x.shape().dims());
    let strides: Vec<usize> = perm.iter().map(|&p| src[p]).collect();
    let dims = ty.shape.dims();
    let data =
        with_elem!(ty.dtype, T => T::wrap(gather(elems::<T>(x)?, dims, &strides, 0, "transpose")?));
    Tensor::new(ty.shape.clone(), data)
}

/// Result element `i` (per axis) is operand element `start + i * stride`;
/// the result's extent (`ceil((end - start) / stride)`) is `ty.shape`.
pub(crate) fn slice(
    x: &Tensor,
    start: &[usize],
    stride: &[usize],
    ty: &TensorType,
) -> Result<Tensor> {
    let src = row_major_strides(x.shape().dims());
    let strides: Vec<usize> = src.iter().zip(stride).map(|(&s, &k)| s * k).collect();
    let base: usize = src.iter().zip(start).map(|(&s, &b)| s * b).sum();
    let dims = ty.shape.dims();
    let data =
        with_elem!(ty.dtype, T => T::wrap(gather(elems::<T>(x)?, dims, &strides, base, "slice")?));
    Tensor::new(ty.shape.clone(), data)
}

/// `lo[i]` zeros (`false` for `bool`) before and the rest of `ty.shape`
/// after the operand on each axis `i`.
pub(crate) fn pad(x: &Tensor, lo: &[usize], ty: &TensorType) -> Result<Tensor> {
    let out_strides = row_major_strides(ty.shape.dims());
    let base: usize = out_strides.iter().zip(lo).map(|(&s, &l)| s * l).sum();
    let data = with_elem!(ty.dtype, T => {
        let mut out = try_filled(ty.numel(), T::ZERO, "pad")?;
        scatter(elems::<T>(x)?, &mut out, x.shape().dims(), &out_strides, base);
        T::wrap(out)
    });
    Tensor::new(ty.shape.clone(), data)
}

/// The operands one after another along `axis`.
pub(crate) fn concat(parts: &[&Tensor], axis: usize, ty: &TensorType) -> Result<Tensor> {
    let out_strides = row_major_strides(ty.shape.dims());
    let data = with_elem!(ty.dtype, T => {
        let mut out = try_filled(ty.numel(), T::ZERO, "concat")?;
        let mut at = 0;
        for p in parts {
            let dims = p.shape().dims();
            scatter(elems::<T>(p)?, &mut out, dims, &out_strides, at * out_strides[axis]);
            at += dims[axis];
        }
        T::wrap(out)
    });
    Tensor::new(ty.shape.clone(), data)
}
