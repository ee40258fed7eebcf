//! The matrix multiplication the generated code calls (through the GEMM
//! crate), and its descriptors. The table of every host function is
//! libcall.rs.

use adjoint_ir::DType;

/// One batch element of a matmul: element offsets into `a`, `b` and `c`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchOffsets {
    pub a: isize,
    pub b: isize,
    pub c: isize,
}

/// Everything a matmul call needs besides the three base pointers. The
/// generated code holds a pointer to it; the [`CompiledFn`](crate::CompiledFn)
/// owns it.
#[derive(Clone, Debug)]
pub(crate) struct MatMulDesc {
    pub dtype: DType,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub rsa: isize,
    pub csa: isize,
    pub rsb: isize,
    pub csb: isize,
    pub rsc: isize,
    pub csc: isize,
    pub batches: Vec<BatchOffsets>,
    /// How many threads the product may use (1 for small products).
    pub threads: usize,
}

/// `c = a @ b` for every batch element, through the GEMM crate.
///
/// # Safety
/// `desc` points at a live [`MatMulDesc`] and `a`, `b`, `c` at buffers that
/// hold every element the descriptor's offsets and strides address; the
/// plan that built the descriptor guarantees both.
pub(crate) unsafe extern "C" fn adj_matmul(
    desc: *const MatMulDesc,
    a: *const u8,
    b: *const u8,
    c: *mut u8,
) {
    // SAFETY: see the function's contract.
    let d = unsafe { &*desc };
    for bo in &d.batches {
        // SAFETY: offsets and strides stay inside the buffers (contract).
        unsafe { gemm_one(d, a, b, c, bo) };
    }
}

unsafe fn gemm_one(d: &MatMulDesc, a: *const u8, b: *const u8, c: *mut u8, o: &BatchOffsets) {
    if d.m == 0 || d.n == 0 {
        return;
    }
    match d.dtype {
        // SAFETY: the caller guarantees the addressed elements exist.
        DType::F64 => unsafe { gemm_typed::<f64>(d, a, b, c, o, 0.0, 1.0) },
        // SAFETY: as above.
        DType::F32 => unsafe { gemm_typed::<f32>(d, a, b, c, o, 0.0, 1.0) },
        DType::Bool => {}
    }
}

/// One product in element type `T` (`zero`, `one` of it): an empty
/// contraction fills `c` with zeros, anything else goes to the GEMM crate.
///
/// # Safety
/// As for [`gemm_one`], with buffers of `T`.
unsafe fn gemm_typed<T: 'static + Copy + Sync>(
    d: &MatMulDesc,
    a: *const u8,
    b: *const u8,
    c: *mut u8,
    o: &BatchOffsets,
    zero: T,
    one: T,
) {
    let (m, k, n) = (d.m, d.k, d.n);
    // SAFETY: the caller guarantees the addressed elements exist.
    let (a, b, c) = unsafe {
        (
            a.cast::<T>().offset(o.a),
            b.cast::<T>().offset(o.b),
            c.cast::<T>().offset(o.c),
        )
    };
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                // SAFETY: (i, j) is inside the m x n result.
                unsafe { *c.offset(i as isize * d.rsc + j as isize * d.csc) = zero };
            }
        }
        return;
    }
    // SAFETY: strides and sizes describe the live buffers.
    unsafe { crate::gemm_backend::gemm_into(d, m, k, n, a, b, c, zero, one) }
}
