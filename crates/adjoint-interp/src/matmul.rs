//! `matmul` with numpy semantics.
//!
//! Both operands are seen as stacks of matrices: a 1-D left operand `[k]`
//! is promoted to `[1,k]` and a 1-D right operand `[k]` to `[k,1]`; the
//! leading (batch) axes broadcast with numpy rules. Each result element is
//! a dot product accumulated in sequence over `k`, starting from `+0.0`,
//! with a separate multiply and add (no fused multiply-add). The result's
//! elements are laid out row-major over `batch × m × n`, which is already
//! the row-major order of the result shape with the promoted axes removed.

use crate::elems;
use crate::memory::{try_filled, try_vec};
use crate::meter::Ticket;
use crate::scalar::{Elem, Float};
use crate::strided::{broadcast_strides, for_each_offset};
use adjoint_ir::{Error, Result, Shape, Tensor, TensorType};

/// The dot product of `a` and `b` in the order of the contract:
/// `((0 + a0*b0) + a1*b1) + ...`.
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::ZERO, |acc, (&x, &y)| acc + x * y)
}

/// An operand seen as a stack of matrices: batch dims, then rows and
/// columns.
fn as_matrices(dims: &[usize], is_lhs: bool) -> Option<(Vec<usize>, usize, usize)> {
    match dims {
        [] => None,
        [k] if is_lhs => Some((Vec::new(), 1, *k)),
        [k] => Some((Vec::new(), *k, 1)),
        [batch @ .., r, c] => Some((batch.to_vec(), *r, *c)),
    }
}

/// The offset of each batch's matrix in an operand with batch dims `from`,
/// broadcast to `to`, for matrices of `size` elements each (scratch, counted
/// while the ticket lives).
fn batch_offsets(from: &[usize], to: &[usize], size: usize) -> Result<(Vec<usize>, Ticket)> {
    let strides: Vec<usize> = broadcast_strides(from, to)
        .into_iter()
        .map(|s| s * size)
        .collect();
    let mut offs = try_vec(to.iter().product(), "matmul")?;
    for_each_offset(to, &strides, 0, |o| offs.push(o));
    let ticket = Ticket::new(std::mem::size_of_val(offs.as_slice()) as u64);
    Ok((offs, ticket))
}

fn no_product(ad: &[usize], bd: &[usize]) -> Error {
    Error::eval(format!(
        "matmul: operand shapes {} and {} do not multiply",
        Shape::new(ad),
        Shape::new(bd)
    ))
}

fn matmul_typed<T: Float>(a: &[T], ad: &[usize], b: &[T], bd: &[usize]) -> Result<Vec<T>> {
    let shapes = as_matrices(ad, true).zip(as_matrices(bd, false));
    let (batch_a, m, k, batch_b, n, batch) = match shapes {
        Some(((ba, m, k), (bb, k2, n))) if k == k2 => {
            match Shape::broadcast(&Shape::new(ba.clone()), &Shape::new(bb.clone())) {
                Some(batch) => (ba, m, k, bb, n, batch),
                None => return Err(no_product(ad, bd)),
            }
        }
        _ => return Err(no_product(ad, bd)),
    };
    let (a_offs, _a_ticket) = batch_offsets(&batch_a, batch.dims(), m * k)?;
    let (b_offs, _b_ticket) = batch_offsets(&batch_b, batch.dims(), k * n)?;
    let mut out = try_vec(a_offs.len() * m * n, "matmul")?;
    // The right matrix transposed to n × k, so that each dot product reads
    // two contiguous rows; rebuilt only when the batch moves to another one.
    let mut bt = try_filled(n * k, T::ZERO, "matmul")?;
    let _bt_ticket = Ticket::new(std::mem::size_of_val(bt.as_slice()) as u64);
    let mut bt_of = None;
    for (&ao, &bo) in a_offs.iter().zip(&b_offs) {
        if bt_of != Some(bo) {
            for kk in 0..k {
                for j in 0..n {
                    bt[j * k + kk] = b[bo + kk * n + j];
                }
            }
            bt_of = Some(bo);
        }
        for i in 0..m {
            let row = &a[ao + i * k..ao + (i + 1) * k];
            for j in 0..n {
                out.push(dot(row, &bt[j * k..(j + 1) * k]));
            }
        }
    }
    Ok(out)
}

/// `a @ b` with numpy semantics; `ty` is the checked result type.
pub(crate) fn matmul(a: &Tensor, b: &Tensor, ty: &TensorType) -> Result<Tensor> {
    let data = with_float!(ty.dtype, "matmul", T => T::wrap(matmul_typed(
        elems::<T>(a)?,
        a.shape().dims(),
        elems::<T>(b)?,
        b.shape().dims(),
    )?));
    Tensor::new(ty.shape.clone(), data)
}
