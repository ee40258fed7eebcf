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

/// `c = a @ b` with the descriptor's strides, for `f64` or `f32` (`zero`
/// and `one` of the element type: `gemm` computes `alpha c + beta a b`).
///
/// # Safety
/// The pointers address `m x k`, `k x n` and `m x n` matrices with the
/// descriptor's strides.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_into<T: 'static>(
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
            zero,
            one,
            false,
            false,
            false,
            parallelism(d),
        )
    })
}
