//! Polynomial `exp` and `tanh` emitted as Cranelift IR, for scalars and for
//! `f64x2`/`f32x4` vectors, so that loops with these functions stay
//! vectorised instead of calling the host function lane by lane. `sigmoid`
//! is `1 / (1 + exp(-x))` on top of this `exp`.
//!
//! `exp(x)`: Cody–Waite reduction `x = n ln2 + r`, `|r| <= ln2/2`, with
//! `n = nearest(x / ln2)` and `ln2` split in a high part with trailing zero
//! bits (so `n * ln2_hi` is exact) and a low part; the Taylor polynomial of
//! `e^r` (degree 13 in f64, 7 in f32, truncation error below 0.1 ulp); and
//! the scaling by `2^n` built from exponent bits in two halves, so that
//! results in the subnormal range round once and overflow gives `inf`. The
//! argument is clamped first (to `[-746, 710]` in f64, `[-104, 89]` in f32),
//! which keeps the exponent arithmetic in range: clamped arguments still
//! overflow to `inf` and underflow to `0`. NaN propagates.
//!
//! `tanh(x) = sign(x) * e / (e + 2)` with `e = expm1(2|x|)`: a Taylor
//! polynomial of `expm1` for `2|x| < 1.1` (no cancellation near 0), and
//! `exp(2|x|) - 1` above. `|x|` is clamped (20 in f64, 10 in f32) where
//! `tanh` already rounds to 1. `tanh(-0) = -0`, NaN propagates.
//!
//! The maximum errors against the interpreter's std functions are measured
//! by the `transcendental_ulp_bounds` test and documented in
//! docs/performance.md.

use adjoint_ir::DType;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32, F32X4, F64, F64X2, I32, I32X4, I64, I64X2};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// The shape of the values a function is emitted for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flavor {
    pub dtype: DType,
    pub vector: bool,
}

impl Flavor {
    fn fty(self) -> Type {
        match (self.dtype, self.vector) {
            (DType::F32, false) => F32,
            (DType::F32, true) => F32X4,
            (_, false) => F64,
            (_, true) => F64X2,
        }
    }

    fn ity(self) -> Type {
        match (self.dtype, self.vector) {
            (DType::F32, false) => I32,
            (DType::F32, true) => I32X4,
            (_, false) => I64,
            (_, true) => I64X2,
        }
    }

    fn is_f32(self) -> bool {
        self.dtype == DType::F32
    }

    /// A constant of the flavor's float type.
    fn c(self, b: &mut FunctionBuilder, x: f64) -> Value {
        let s = if self.is_f32() {
            b.ins().f32const(x as f32)
        } else {
            b.ins().f64const(x)
        };
        if self.vector {
            b.ins().splat(self.fty(), s)
        } else {
            s
        }
    }

    /// An integer constant of the flavor's integer type.
    fn ci(self, b: &mut FunctionBuilder, x: i64) -> Value {
        let s = if self.is_f32() {
            b.ins().iconst(I32, x)
        } else {
            b.ins().iconst(I64, x)
        };
        if self.vector {
            b.ins().splat(self.ity(), s)
        } else {
            s
        }
    }

    /// `c ? x : y` for a comparison result `c` of this flavor.
    fn select(self, b: &mut FunctionBuilder, c: Value, x: Value, y: Value) -> Value {
        if self.vector {
            let m = b.ins().bitcast(self.fty(), MemFlagsData::new(), c);
            b.ins().bitselect(m, x, y)
        } else {
            b.ins().select(c, x, y)
        }
    }
}

/// Estrin evaluation of `sum coeffs[i] * x^i`: pairs `c_2i + c_2i+1 x`
/// combined with `x^2`, `x^4`, ... so the dependency chain is logarithmic
/// in the degree (Horner's is linear, and its latency dominated small
/// scalar graphs like W2).
fn poly(b: &mut FunctionBuilder, fl: Flavor, x: Value, coeffs: &[f64]) -> Value {
    // The two lowest-order terms by Horner steps (they carry most of the
    // value, and Horner rounds them best), the rest by Estrin.
    if coeffs.len() > 4 {
        let rest = estrin(b, fl, x, &coeffs[2..]);
        let m = b.ins().fmul(rest, x);
        let c1 = fl.c(b, coeffs[1]);
        let t = b.ins().fadd(c1, m);
        let m = b.ins().fmul(t, x);
        let c0 = fl.c(b, coeffs[0]);
        return b.ins().fadd(c0, m);
    }
    estrin(b, fl, x, coeffs)
}

fn estrin(b: &mut FunctionBuilder, fl: Flavor, x: Value, coeffs: &[f64]) -> Value {
    let mut terms: Vec<Value> = coeffs
        .chunks(2)
        .map(|c| {
            let c0 = fl.c(b, c[0]);
            if c.len() == 2 {
                let c1 = fl.c(b, c[1]);
                let m = b.ins().fmul(c1, x);
                b.ins().fadd(c0, m)
            } else {
                c0
            }
        })
        .collect();
    let mut p = b.ins().fmul(x, x);
    while terms.len() > 1 {
        let next: Vec<Value> = terms
            .chunks(2)
            .map(|t| {
                if t.len() == 2 {
                    let m = b.ins().fmul(t[1], p);
                    b.ins().fadd(t[0], m)
                } else {
                    t[0]
                }
            })
            .collect();
        terms = next;
        if terms.len() > 1 {
            p = b.ins().fmul(p, p);
        }
    }
    terms[0]
}

/// `1/k!` for `k = from..=to`.
fn inv_factorials(from: u32, to: u32) -> Vec<f64> {
    let mut f = 1.0f64;
    let mut out = Vec::new();
    for k in 0..=to {
        if k > 0 {
            f *= f64::from(k);
        }
        if k >= from {
            out.push(1.0 / f);
        }
    }
    out
}

/// `max(x, lo)`, keeping NaN.
fn clamp_below(b: &mut FunctionBuilder, fl: Flavor, x: Value, lo: f64) -> Value {
    let lov = fl.c(b, lo);
    let c = b.ins().fcmp(FloatCC::LessThan, x, lov);
    fl.select(b, c, lov, x)
}

/// `min(x, hi)`, keeping NaN.
fn clamp_above(b: &mut FunctionBuilder, fl: Flavor, x: Value, hi: f64) -> Value {
    let hiv = fl.c(b, hi);
    let c = b.ins().fcmp(FloatCC::GreaterThan, x, hiv);
    fl.select(b, c, hiv, x)
}

/// `2^n` for an integral float `n` whose biased exponent stays in range.
fn pow2(b: &mut FunctionBuilder, fl: Flavor, n: Value) -> Value {
    let (magic, bias, shift) = if fl.is_f32() {
        (12_582_912.0, 127, 23)
    } else {
        (6_755_399_441_055_744.0, 1023, 52)
    };
    let m = fl.c(b, magic);
    let t = b.ins().fadd(n, m);
    let ti = b.ins().bitcast(fl.ity(), MemFlagsData::new(), t);
    let biasv = fl.ci(b, bias);
    let e = b.ins().iadd(ti, biasv);
    let e = b.ins().ishl_imm_s(e, shift);
    b.ins().bitcast(fl.fty(), MemFlagsData::new(), e)
}

/// `e^x`.
pub(crate) fn exp(b: &mut FunctionBuilder, fl: Flavor, x: Value) -> Value {
    let (lo, hi, ln2_hi, ln2_lo, deg) = if fl.is_f32() {
        (
            -104.0,
            89.0,
            f64::from(f32::from_bits(0x3F31_7200)),
            f64::from(f32::from_bits(0x35BF_BE8E)),
            7,
        )
    } else {
        (
            -746.0,
            710.0,
            f64::from_bits(0x3FE6_2E42_FEE0_0000),
            f64::from_bits(0x3DEA_39EF_3579_3C76),
            13,
        )
    };
    // Clamp with compare-and-select (NaN compares false and stays NaN):
    // cheaper than the NaN-exact fmax/fmin sequences.
    let x = clamp_below(b, fl, x, lo);
    let x = clamp_above(b, fl, x, hi);
    let log2e = fl.c(b, std::f64::consts::LOG2_E);
    let t = b.ins().fmul(x, log2e);
    let n = b.ins().nearest(t);
    let c_hi = fl.c(b, ln2_hi);
    let c_lo = fl.c(b, ln2_lo);
    let a = b.ins().fmul(n, c_hi);
    let r = b.ins().fsub(x, a);
    let a = b.ins().fmul(n, c_lo);
    let r = b.ins().fsub(r, a);
    let p = poly(b, fl, r, &inv_factorials(0, deg));
    let half = fl.c(b, 0.5);
    let h = b.ins().fmul(n, half);
    let n1 = b.ins().floor(h);
    let n2 = b.ins().fsub(n, n1);
    let s1 = pow2(b, fl, n1);
    let s2 = pow2(b, fl, n2);
    let y = b.ins().fmul(p, s1);
    b.ins().fmul(y, s2)
}

/// `tanh(x)`.
pub(crate) fn tanh(b: &mut FunctionBuilder, fl: Flavor, x: Value) -> Value {
    let (clamp, deg) = if fl.is_f32() { (10.0, 11) } else { (20.0, 19) };
    let ax = b.ins().fabs(x);
    let ax = clamp_above(b, fl, ax, clamp);
    let y = b.ins().fadd(ax, ax);
    // expm1(y) for small y: y * (1 + y/2 + y^2/6 + ...).
    let q = poly(b, fl, y, &inv_factorials(1, deg));
    let e_small = b.ins().fmul(q, y);
    let ey = exp(b, fl, y);
    let one = fl.c(b, 1.0);
    let e_big = b.ins().fsub(ey, one);
    let lim = fl.c(b, 1.1);
    let small = b.ins().fcmp(FloatCC::LessThan, y, lim);
    let e = fl.select(b, small, e_small, e_big);
    let two = fl.c(b, 2.0);
    let d = b.ins().fadd(e, two);
    let t = b.ins().fdiv(e, d);
    if fl.vector {
        // The sign bit from x, the rest from t (t >= 0).
        let sign = fl.c(b, -0.0);
        b.ins().bitselect(sign, x, t)
    } else {
        b.ins().fcopysign(t, x)
    }
}

/// `1 / (1 + e^-x)`.
pub(crate) fn sigmoid(b: &mut FunctionBuilder, fl: Flavor, x: Value) -> Value {
    let n = b.ins().fneg(x);
    let e = exp(b, fl, n);
    let one = fl.c(b, 1.0);
    let d = b.ins().fadd(one, e);
    b.ins().fdiv(one, d)
}
