//! The GEMM crate behind `matmul`: `gemm` (see docs/performance.md, "GEMM
//! choice", for the benchmark against `matrixmultiply` that chose it).
//!
//! A large product is split across the JIT's own thread pool (the one that
//! runs split loops) along the longer of its two output dimensions (as rows:
//! a wide result is computed as its transpose), and each piece is a
//! single-threaded `gemm` call. Operands that are not dense column-major
//! in that problem (`gemm`'s own layout) are copied first, so that a
//! product's bits do not depend on how its operands are laid out.

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
    // `gemm`'s kernels, and so the summation order of each result element,
    // depend on the operands' strides (a matrix-vector product with a
    // row-major matrix sums each dot product in vector lanes, one with a
    // column-major matrix in sequence; its packed kernels treat the rows
    // left over by the register tiles differently by layout). So that a
    // product's bits depend only on its operands' values and shapes, never
    // on whether an operand is a view of a transpose, a broadcast or a
    // stored copy (docs/ir.md section 14), the operands of the problem
    // `gemm` sees are made dense column-major, copied into scratch buffers
    // when they are not. Column-major is `gemm`'s own layout, the one it
    // packs fastest from (measured: W4's step costs 1.15x the layout-
    // dependent calls, against 1.7x with dense row-major operands).
    PACK.with(|scratch| {
        let mut bufs = scratch.take();
        let [pa, pb] = &mut bufs;
        // A dense row-major copy of the transpose is a dense column-major
        // copy. SAFETY: forwarded contract: `a` addresses an `m x k`
        // matrix with strides `sa`, so `aᵀ` a `k x m` one with the strides
        // swapped; likewise `b` and `bᵀ`.
        let (a, (cs, rs)) = unsafe { dense(a, k, m, (sa.1, sa.0), pa) };
        let sa = (rs, cs);
        // SAFETY: as above.
        let (b, (cs, rs)) = unsafe { dense(b, n, k, (sb.1, sb.0), pb) };
        let sb = (rs, cs);
        // SAFETY: forwarded contract, with the dense copies in place of
        // the operands they copy.
        unsafe { gemm_dense(d, m, k, n, a, b, c, sa, sb, sc, zero, one) };
        scratch.set(bufs);
    })
}

/// The side of the tiles [`dense`] copies in.
const COPY_TILE: usize = 32;

thread_local! {
    /// Reused scratch space for [`dense`], one buffer per operand, in `f64`
    /// units so that it is aligned for both float types.
    static PACK: std::cell::Cell<[Vec<f64>; 2]> =
        const { std::cell::Cell::new([Vec::new(), Vec::new()]) };
}

/// `x` and its strides when the `rows x cols` matrix it addresses with
/// strides `s` (row, column) is dense row-major (the stride of a unit
/// dimension does not count), else a dense row-major copy of it in `buf`.
///
/// # Safety
/// `x` addresses every element of the matrix with strides `s`.
unsafe fn dense<T: Copy>(
    x: *const T,
    rows: usize,
    cols: usize,
    s: (isize, isize),
    buf: &mut Vec<f64>,
) -> (*const T, (isize, isize)) {
    let row_major = (cols as isize, 1);
    if (cols == 1 || s.1 == 1) && (rows == 1 || s.0 == row_major.0) {
        return (x, s);
    }
    let len = rows * cols;
    let units = (len * std::mem::size_of::<T>()).div_ceil(std::mem::size_of::<f64>());
    if buf.len() < units {
        buf.resize(units, 0.0);
    }
    let dst = buf.as_mut_ptr().cast::<T>();
    // In square tiles, so that a transposing copy reads and writes whole
    // cache lines.
    for i0 in (0..rows).step_by(COPY_TILE) {
        for j0 in (0..cols).step_by(COPY_TILE) {
            for i in i0..rows.min(i0 + COPY_TILE) {
                for j in j0..cols.min(j0 + COPY_TILE) {
                    // SAFETY: `(i, j)` is inside the source matrix
                    // (contract), and `i * cols + j < len` elements of `T`
                    // fit in `buf`, whose `f64` alignment suits `T`.
                    unsafe {
                        *dst.add(i * cols + j) = *x.offset(i as isize * s.0 + j as isize * s.1)
                    };
                }
            }
        }
    }
    (dst.cast_const(), row_major)
}

/// `c = a @ b` for the (possibly transposed) problem [`gemm_into`] chose,
/// strides as (row, column) pairs, split by rows across the JIT's pool.
///
/// # Safety
/// As for [`gemm_into`], for the `m x k`, `k x n` and `m x n` matrices
/// `a`, `b`, `c` with strides `sa`, `sb`, `sc`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_dense<T: 'static + Copy + Sync>(
    d: &MatMulDesc,
    m: usize,
    k: usize,
    n: usize,
    a: *const T,
    b: *const T,
    c: *mut T,
    sa: (isize, isize),
    sb: (isize, isize),
    sc: (isize, isize),
    zero: T,
    one: T,
) {
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
