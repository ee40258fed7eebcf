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
    // The GEMM crate's kernels (and so the summation order of each result
    // element) depend on the operands' strides: a matrix-vector product
    // with a row-major matrix sums each dot product in vector lanes, one
    // with a column-major matrix (a transpose view) in sequence. So that a
    // product's bits depend only on its operands' values and shapes, never
    // on whether an operand is a view of a transpose, a broadcast or a
    // stored copy (docs/ir.md section 14), operands that are not dense
    // row-major are first copied into dense row-major scratch buffers.
    let (ra, ca) = (k as isize, 1);
    let (rb, cb) = (n as isize, 1);
    PACK.with(|scratch| {
        let mut bufs = scratch.take();
        let [pa, pb] = &mut bufs;
        // SAFETY: `a` addresses an m x k matrix with strides (rsa, csa).
        let a = unsafe { pack(a, m, k, d.rsa, d.csa, pa) };
        // SAFETY: `b` addresses a k x n matrix with strides (rsb, csb).
        let b = unsafe { pack(b, k, n, d.rsb, d.csb, pb) };
        let dd = MatMulDesc {
            rsa: if a.1 { ra } else { d.rsa },
            csa: if a.1 { ca } else { d.csa },
            rsb: if b.1 { rb } else { d.rsb },
            csb: if b.1 { cb } else { d.csb },
            batches: Vec::new(),
            ..d.clone()
        };
        // SAFETY: strides and sizes describe the live buffers (the
        // scratch copies are dense m x k and k x n matrices).
        unsafe { crate::gemm_backend::gemm_into(&dd, m, k, n, a.0, b.0, c, zero, one) };
        scratch.set(bufs);
    })
}

thread_local! {
    /// Reused scratch space for [`pack`] (one buffer per operand), in
    /// `f64` units so that it is aligned for both float types.
    static PACK: std::cell::Cell<[Vec<f64>; 2]> = const { std::cell::Cell::new([Vec::new(), Vec::new()]) };
}

/// `x` itself when the `rows x cols` matrix it addresses with strides
/// `(rs, cs)` is dense row-major (strides of unit dimensions ignored), or
/// else a dense row-major copy of it in `buf`; the flag says which.
///
/// # Safety
/// `x` addresses every element of the matrix with the given strides.
unsafe fn pack<T: Copy>(
    x: *const T,
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
    buf: &mut Vec<f64>,
) -> (*const T, bool) {
    if (cols == 1 || cs == 1) && (rows == 1 || rs == cols as isize) {
        return (x, false);
    }
    let len = rows * cols;
    let units = (len * std::mem::size_of::<T>()).div_ceil(std::mem::size_of::<f64>());
    if buf.len() < units {
        buf.resize(units, 0.0);
    }
    let dst = buf.as_mut_ptr().cast::<T>();
    for i in 0..rows {
        for j in 0..cols {
            // SAFETY: (i, j) is inside the source matrix (contract) and
            // `i * cols + j < len` elements fit in `buf`, whose `f64`
            // alignment suits `T` (`f32` or `f64`).
            unsafe { *dst.add(i * cols + j) = *x.offset(i as isize * rs + j as isize * cs) };
        }
    }
    (dst.cast_const(), true)
}
