//! The reductions `reduce_sum` and `reduce_max`.
//!
//! For each result element, the reduced elements are taken in row-major
//! order of the reduced index space: the listed axes sorted ascending,
//! whatever order they were listed in. That order is laid out contiguously
//! first (a transpose that puts the kept axes before the reduced ones), then
//! each contiguous group is folded.

use crate::elems;
use crate::memory::try_collect;
use crate::meter::Ticket;
use crate::scalar::{fmax, Elem, Float};
use crate::strided::{gather, row_major_strides};
use adjoint_ir::{Result, Tensor, TensorType, REDUCE_SUM_BLOCK};
use std::borrow::Cow;

/// The sum of `xs` in the reduction order of the contract: `xs` is cut
/// into blocks of [`REDUCE_SUM_BLOCK`] elements; within a block, element
/// `k` goes into partial sum `k mod 4` (each starting at `+0.0`, added to
/// in sequence) and the block's sum is `(p0 + p1) + (p2 + p3)`; the block
/// sums are added left to right. An empty sum is `+0.0`.
///
/// ```
/// use adjoint_interp::reduce_sum_order;
/// // Sequential summation would give ((1e16 + 1) + 1) + ... = 1e16.
/// let xs = [1e16, 1.0, 1.0, 1.0, -1e16, 0.0, 0.0, 0.0];
/// assert_eq!(reduce_sum_order(&xs), 3.0);
/// ```
pub fn reduce_sum_order<T: Float>(xs: &[T]) -> T {
    let mut blocks = xs.chunks(REDUCE_SUM_BLOCK).map(block_sum);
    let first = blocks.next().unwrap_or(T::ZERO);
    blocks.fold(first, |s, b| s + b)
}

/// The sum of one block: four round-robin partials, `(p0 + p1) + (p2 + p3)`.
fn block_sum<T: Float>(xs: &[T]) -> T {
    let mut p = [T::ZERO; 4];
    for (k, &x) in xs.iter().enumerate() {
        p[k % 4] = p[k % 4] + x;
    }
    (p[0] + p[1]) + (p[2] + p[3])
}

/// The NaN-propagating maximum of `xs` (see [`crate::scalar::fmax`]),
/// starting from `-inf`; an empty maximum is `-inf`.
pub fn reduce_max_order<T: Float>(xs: &[T]) -> T {
    xs.iter().fold(T::NEG_INFINITY, |m, &x| fmax(m, x))
}

/// The elements of `x` rearranged so that the reduced elements of each
/// result element are contiguous, in row-major order of the reduced axes
/// (sorted ascending); and the size of each group.
fn grouped<'a, T: Elem>(
    x: &'a [T],
    dims: &[usize],
    axes: &[usize],
    what: &str,
) -> Result<(Cow<'a, [T]>, usize)> {
    let mut reduced: Vec<usize> = axes.to_vec();
    reduced.sort_unstable();
    let mut perm: Vec<usize> = (0..dims.len()).filter(|a| !axes.contains(a)).collect();
    perm.extend(&reduced);
    let group = reduced.iter().map(|&a| dims[a]).product();
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok((Cow::Borrowed(x), group));
    }
    let src = row_major_strides(dims);
    let pdims: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let pstrides: Vec<usize> = perm.iter().map(|&p| src[p]).collect();
    Ok((Cow::Owned(gather(x, &pdims, &pstrides, 0, what)?), group))
}

fn reduce(x: &Tensor, axes: &[usize], ty: &TensorType, what: &str, sum: bool) -> Result<Tensor> {
    let data = with_float!(ty.dtype, what, T => {
        let (g, n) = grouped(elems::<T>(x)?, x.shape().dims(), axes, what)?;
        // The rearranged copy, if one was made, is scratch.
        let _scratch = matches!(g, Cow::Owned(_)).then(|| Ticket::new(std::mem::size_of_val(&*g) as u64));
        let fold = if sum { reduce_sum_order::<T> } else { reduce_max_order::<T> };
        let m = ty.numel();
        T::wrap(try_collect(m, (0..m).map(|i| fold(&g[i * n..(i + 1) * n])), what)?)
    });
    Tensor::new(ty.shape.clone(), data)
}

/// `reduce_sum` over `axes`, in the order of [`reduce_sum_order`].
pub(crate) fn reduce_sum(x: &Tensor, axes: &[usize], ty: &TensorType) -> Result<Tensor> {
    reduce(x, axes, ty, "reduce_sum", true)
}

/// `reduce_max` over `axes`, as [`reduce_max_order`].
pub(crate) fn reduce_max(x: &Tensor, axes: &[usize], ty: &TensorType) -> Result<Tensor> {
    reduce(x, axes, ty, "reduce_max", false)
}
