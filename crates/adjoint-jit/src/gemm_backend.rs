//! The GEMM crate behind `matmul`: `gemm` (see docs/performance.md, "GEMM
//! choice", for the benchmark against `matrixmultiply` that chose it).
//!
//! A large product is split across the JIT's own thread pool (the one that
//! runs split loops) along the longer of its two output dimensions (as rows:
//! a wide result is computed as its transpose), and each piece is a
//! single-threaded `gemm` call.

use crate::runtime::MatMulDesc;

/// Pieces per thread of a split product: a few, so a thread delayed by
/// other processes on a shared machine leaves its share to the others.
const GEMM_CHUNKS_PER_THREAD: usize = 2;

/// Piece boundaries are multiples of this many rows.
const GEMM_GRAIN: usize = 16;

/// `c = a @ b` with the descriptor's strides, for `f64` or `f32` (`zero`
/// and `one` of the element type: `gemm` computes `alpha c + beta a b`).
///
/// # Safety
/// The pointers address `m x k`, `k x n` and `m x n` matrices with the
/// descriptor's strides.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_into<T: 'static + Copy + Sync>(
    d: &MatMulDesc,
    m: usize,
    k: usize,
    n: usize,
    a: *const T,
    b: *const T,
    c: *mut T,
    zero: T,
    one: T,
) {
    // Strides as (row, column) pairs of `a`, `b`, `c`. A result with fewer
    // rows than columns is computed as its transpose, `cᵀ = bᵀ aᵀ`: then
    // the long dimension is always the rows, which the split below cuts,
    // and `gemm`'s matrix-vector kernels run ~20% faster on `1×k·k×n` in
    // that form.
    let (m, n, a, b, sa, sb, sc) = if m < n {
        (n, m, b, a, (d.csb, d.rsb), (d.csa, d.rsa), (d.csc, d.rsc))
    } else {
        (m, n, a, b, (d.rsa, d.csa), (d.rsb, d.csb), (d.rsc, d.csc))
    };
    // An address, not a pointer, so the closures below are `Sync`.
    let b = b as usize;
    // SAFETY: forwarded contract (the transposed problem addresses the
    // same elements); `read_dst = false` so `c` is only written.
    let piece = |rows: usize, a: *const T, c: *mut T| unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            c,
            sc.1,
            sc.0,
            false,
            a,
            sa.1,
            sa.0,
            b as *const T,
            sb.1,
            sb.0,
            zero,
            one,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    };
    if d.threads < 2 || m < 2 * GEMM_GRAIN {
        piece(m, a, c);
        return;
    }
    let (a, c) = (a as usize, c as usize);
    let size = std::mem::size_of::<T>() as isize;
    let row = |base: usize, i: usize, stride: isize| {
        (base as isize + i as isize * stride * size) as usize
    };
    crate::pool::parallel_ranges(
        m,
        GEMM_GRAIN,
        d.threads,
        GEMM_CHUNKS_PER_THREAD,
        // SAFETY (of the pieces): rows `lo..hi` of `a` and `c` are inside
        // the matrices the contract describes, and pieces write disjoint
        // rows of `c`.
        &|lo, hi| {
            piece(
                hi - lo,
                row(a, lo, sa.0) as *const T,
                row(c, lo, sc.0) as *mut T,
            )
        },
    );
}
