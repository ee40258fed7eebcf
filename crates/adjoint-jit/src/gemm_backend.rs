//! The GEMM crate behind `matmul`: `gemm` (see docs/performance.md, "GEMM
//! choice", for the benchmark against `matrixmultiply` that chose it).
//!
//! A large product is split across the JIT's own thread pool (the one that
//! runs split loops) along the longer of its two output dimensions, and
//! each piece is a single-threaded `gemm` call.

use crate::runtime::MatMulDesc;

/// Pieces per thread of a split product: a few, so a thread delayed by
/// other processes on a shared machine leaves its share to the others.
const GEMM_CHUNKS_PER_THREAD: usize = 2;

/// Piece boundaries are multiples of this many rows or columns.
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
    // SAFETY: forwarded contract; `read_dst = false` so `c` is only written.
    let piece = |m: usize, n: usize, a: *const T, b: *const T, c: *mut T| unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            d.csc,
            d.rsc,
            false,
            a,
            d.csa,
            d.rsa,
            b,
            d.csb,
            d.rsb,
            zero,
            one,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    };
    let long = m.max(n);
    if d.threads < 2 || long < 2 * GEMM_GRAIN {
        piece(m, n, a, b, c);
        return;
    }
    // Addresses, not pointers, so the closure is `Sync`.
    let (a, b, c) = (a as usize, b as usize, c as usize);
    let size = std::mem::size_of::<T>() as isize;
    let at = |base: usize, i: usize, stride: isize| {
        (base as isize + i as isize * stride * size) as usize
    };
    let rows = m >= n;
    crate::pool::parallel_ranges(
        long,
        GEMM_GRAIN,
        d.threads,
        GEMM_CHUNKS_PER_THREAD,
        &|lo, hi| {
            // SAFETY (of the pieces): rows `lo..hi` of `a` and `c`, or
            // columns `lo..hi` of `b` and `c`, are inside the matrices the
            // contract describes, and pieces write disjoint parts of `c`.
            if rows {
                piece(
                    hi - lo,
                    n,
                    at(a, lo, d.rsa) as *const T,
                    b as *const T,
                    at(c, lo, d.rsc) as *mut T,
                )
            } else {
                piece(
                    m,
                    hi - lo,
                    a as *const T,
                    at(b, lo, d.csb) as *const T,
                    at(c, lo, d.csc) as *mut T,
                )
            }
        },
    );
}
