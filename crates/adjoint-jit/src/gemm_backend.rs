//! The GEMM crate behind `matmul`: `gemm` (see docs/performance.md, "GEMM
//! choice", for the benchmark against `matrixmultiply` that chose it).

use crate::runtime::MatMulDesc;

fn parallelism(d: &MatMulDesc) -> gemm::Parallelism {
    if d.parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

/// Runs a GEMM call; a multithreaded one with the JIT pool's idle workers
/// parked (see `pool::with_workers_parked`).
fn run<R>(d: &MatMulDesc, f: impl FnOnce() -> R) -> R {
    if d.parallel {
        crate::pool::with_workers_parked(f)
    } else {
        f()
    }
}

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
    // SAFETY: forwarded contract; `read_dst = false` so `c` is only written.
    run(d, || unsafe {
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
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism(d),
        )
    })
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
    // SAFETY: forwarded contract; `read_dst = false` so `c` is only written.
    run(d, || unsafe {
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
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism(d),
        )
    })
}
