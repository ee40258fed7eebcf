//! The GEMM crate behind `matmul`: `matrixmultiply` (see
//! docs/performance.md, "GEMM choice", for the benchmark that chose it).

use crate::runtime::MatMulDesc;

/// `c = a @ b` in `f64` with the descriptor's strides.
///
/// # Safety
/// The pointers address `m x k`, `k x n` and `m x n` matrices with the
/// descriptor's strides.
pub(crate) unsafe fn dgemm(
    d: &MatMulDesc,
    m: usize,
    k: usize,
    n: usize,
    a: *const f64,
    b: *const f64,
    c: *mut f64,
) {
    // SAFETY: forwarded contract.
    unsafe {
        matrixmultiply::dgemm(
            m, k, n, 1.0, a, d.rsa, d.csa, b, d.rsb, d.csb, 0.0, c, d.rsc, d.csc,
        )
    }
}

/// `c = a @ b` in `f32` with the descriptor's strides.
///
/// # Safety
/// As for [`dgemm`].
pub(crate) unsafe fn sgemm(
    d: &MatMulDesc,
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
) {
    // SAFETY: forwarded contract.
    unsafe {
        matrixmultiply::sgemm(
            m, k, n, 1.0, a, d.rsa, d.csa, b, d.rsb, d.csb, 0.0, c, d.rsc, d.csc,
        )
    }
}
