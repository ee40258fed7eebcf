//! Host functions called from generated code: transcendental functions (the
//! reference implementations of Rust's `std`, the libm math mode, so JIT
//! results equal the interpreter's bit for bit in that mode) and matrix
//! multiplication through a GEMM crate. (With `poly_math`, kernels that do
//! not inline the polynomials call out-of-line compiled ones instead; see
//! codegen.rs.)

use adjoint_ir::DType;

macro_rules! unary_shims {
    ($($name:ident: $t:ty => $f:expr;)*) => {
        $(
            extern "C" fn $name(x: $t) -> $t {
                let f: fn($t) -> $t = $f;
                f(x)
            }
        )*
    };
}

unary_shims! {
    adj_exp_f64: f64 => f64::exp;
    adj_log_f64: f64 => f64::ln;
    adj_sin_f64: f64 => f64::sin;
    adj_cos_f64: f64 => f64::cos;
    adj_tanh_f64: f64 => f64::tanh;
    adj_exp_f32: f32 => f32::exp;
    adj_log_f32: f32 => f32::ln;
    adj_sin_f32: f32 => f32::sin;
    adj_cos_f32: f32 => f32::cos;
    adj_tanh_f32: f32 => f32::tanh;
}

/// The libm host function of a transcendental function: `name` (`exp`,
/// `log`, `sin`, `cos`, `tanh` or `pow`) in `dt`.
pub(crate) fn libm_fn_name(name: &str, dt: DType) -> &'static str {
    let f64 = dt == DType::F64;
    match (name, f64) {
        ("exp", true) => "adj_exp_f64",
        ("exp", false) => "adj_exp_f32",
        ("log", true) => "adj_log_f64",
        ("log", false) => "adj_log_f32",
        ("sin", true) => "adj_sin_f64",
        ("sin", false) => "adj_sin_f32",
        ("cos", true) => "adj_cos_f64",
        ("cos", false) => "adj_cos_f32",
        ("tanh", true) => "adj_tanh_f64",
        ("tanh", false) => "adj_tanh_f32",
        ("pow", true) => "adj_pow_f64",
        ("pow", false) => "adj_pow_f32",
        _ => unreachable!("{name} has no host function"),
    }
}

extern "C" fn adj_pow_f64(x: f64, y: f64) -> f64 {
    x.powf(y)
}

extern "C" fn adj_pow_f32(x: f32, y: f32) -> f32 {
    x.powf(y)
}

/// The shape of a host function's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostSig {
    /// `fn(t) -> t` of the dtype.
    Unary(DType),
    /// `fn(t, t) -> t` of the dtype.
    Binary(DType),
    /// `fn(desc, a, b, c)`, four pointers.
    MatMul,
    /// `fn(kernel, ins, outs, arena, n, grain)`: six pointer-sized words.
    ParallelFor,
}

/// A host function the generated code may call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostFn {
    pub name: &'static str,
    pub ptr: *const u8,
    pub sig: HostSig,
}

/// Every host function, registered with each JIT module's symbol table.
pub(crate) fn host_functions() -> Vec<HostFn> {
    use DType::{F32, F64};
    let f = |name, ptr: *const u8, sig| HostFn { name, ptr, sig };
    vec![
        f("adj_exp_f64", adj_exp_f64 as *const u8, HostSig::Unary(F64)),
        f("adj_log_f64", adj_log_f64 as *const u8, HostSig::Unary(F64)),
        f("adj_sin_f64", adj_sin_f64 as *const u8, HostSig::Unary(F64)),
        f("adj_cos_f64", adj_cos_f64 as *const u8, HostSig::Unary(F64)),
        f(
            "adj_tanh_f64",
            adj_tanh_f64 as *const u8,
            HostSig::Unary(F64),
        ),
        f("adj_exp_f32", adj_exp_f32 as *const u8, HostSig::Unary(F32)),
        f("adj_log_f32", adj_log_f32 as *const u8, HostSig::Unary(F32)),
        f("adj_sin_f32", adj_sin_f32 as *const u8, HostSig::Unary(F32)),
        f("adj_cos_f32", adj_cos_f32 as *const u8, HostSig::Unary(F32)),
        f(
            "adj_tanh_f32",
            adj_tanh_f32 as *const u8,
            HostSig::Unary(F32),
        ),
        f(
            "adj_pow_f64",
            adj_pow_f64 as *const u8,
            HostSig::Binary(F64),
        ),
        f(
            "adj_pow_f32",
            adj_pow_f32 as *const u8,
            HostSig::Binary(F32),
        ),
        f("adj_matmul", adj_matmul as *const u8, HostSig::MatMul),
        f(
            "adj_parallel_for",
            crate::pool::adj_parallel_for as *const u8,
            HostSig::ParallelFor,
        ),
    ]
}

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
unsafe extern "C" fn adj_matmul(desc: *const MatMulDesc, a: *const u8, b: *const u8, c: *mut u8) {
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
