//! Polynomial `exp`, `log`, `sin`, `cos` and `tanh` emitted as Cranelift
//! IR, for scalars and for `f64x2`/`f32x4` vectors, so that loops with
//! these functions stay vectorised instead of calling the host function
//! lane by lane. `sigmoid` is `1 / (1 + exp(-x))` on top of this `exp`;
//! `pow` (vpow.rs) is built from this file's pieces too.
//!
//! The functions are defined by `adjoint_ir::math` (its constants, read
//! from there, and its scalar reference): this file emits the same IEEE
//! operations in the same order, each lane computed alone, so that the
//! JIT's results equal the interpreter's in the polynomial math mode bit
//! for bit (`tests/engine_contract.rs`). A change here must be made there
//! too, and the reverse.
//!
//! `exp(x)`: Cody–Waite reduction `x = n ln2 + r`, `|r| <= ln2/2`, with
//! `n = nearest(x / ln2)` and `ln2` split in a high part with trailing zero
//! bits (so `n * ln2_hi` is exact) and a low part; the Taylor polynomial of
//! `e^r` (degree 13 in f64, 7 in f32, truncation error below 0.1 ulp); and
//! the scaling by `2^n` built from exponent bits in two halves, so that
//! results in the subnormal range round once and overflow gives `inf`.
//! Arguments outside `[-746, 710]` (f64) or `[-104, 89]` (f32), where the
//! exponent arithmetic would leave its range, get `0` or `inf` by selects at
//! the end, off the latency path. NaN propagates.
//!
//! `exp_dd(hi, lo)` is the same for a double-word argument, carrying the
//! reduced argument's rounding error and `lo` as `e^(r + rl) = e^r (1 +
//! rl)`; `pow` (vpow.rs) is built on it and on `log_reduce`, the exponent
//! and mantissa split of `log`.
//!
//! `tanh(x) = sign(x) * e / (e + 2)` with `e = expm1(2|x|)`: a Taylor
//! polynomial of `expm1` for `2|x| < 1.1` (no cancellation near 0), and
//! `exp(2|x|) - 1` above. `|x|` is clamped (20 in f64, 10 in f32) where
//! `tanh` already rounds to 1. `tanh(-0) = -0`, NaN propagates.
//!
//! `log` and `sin`/`cos` are described at their functions. The maximum
//! errors against libm (the std functions) are measured by the
//! `transcendental_ulp_bounds` test and documented in docs/ir.md §14 and
//! docs/performance.md.

use adjoint_ir::math as m;
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
    /// Whether the polynomials use fused multiply-add (the resolved math
    /// mode, `JitOptions::math_mode`: half the latency, and one rounding
    /// per step instead of two).
    pub fma: bool,
}

/// Whether the host CPU has FMA (what `cranelift_native` detects too).
pub(crate) fn host_has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

impl Flavor {
    pub(crate) fn fty(self) -> Type {
        match (self.dtype, self.vector) {
            (DType::F32, false) => F32,
            (DType::F32, true) => F32X4,
            (_, false) => F64,
            (_, true) => F64X2,
        }
    }

    pub(crate) fn ity(self) -> Type {
        match (self.dtype, self.vector) {
            (DType::F32, false) => I32,
            (DType::F32, true) => I32X4,
            (_, false) => I64,
            (_, true) => I64X2,
        }
    }

    pub(crate) fn is_f32(self) -> bool {
        self.dtype == DType::F32
    }

    /// A constant of the flavor's float type.
    pub(crate) fn c(self, b: &mut FunctionBuilder, x: f64) -> Value {
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
    pub(crate) fn ci(self, b: &mut FunctionBuilder, x: i64) -> Value {
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

    /// `a * b + c`, fused when the host has FMA.
    pub(crate) fn mul_add(self, b: &mut FunctionBuilder, x: Value, y: Value, c: Value) -> Value {
        if self.fma {
            b.ins().fma(x, y, c)
        } else {
            let m = b.ins().fmul(x, y);
            b.ins().fadd(m, c)
        }
    }

    /// `c ? x : y` for a comparison result `c` of this flavor.
    pub(crate) fn select(self, b: &mut FunctionBuilder, c: Value, x: Value, y: Value) -> Value {
        if self.vector {
            let m = b.ins().bitcast(self.fty(), MemFlagsData::new(), c);
            b.ins().bitselect(m, x, y)
        } else {
            b.ins().select(c, x, y)
        }
    }

    /// `c ? v : base` for a comparison result `c`, with `base` first among
    /// the operands (so that Cranelift computes it before `c` and `v`:
    /// cheaper where `c` and `v` are quick to compute and `base` is not).
    pub(crate) fn replace_where(
        self,
        b: &mut FunctionBuilder,
        base: Value,
        c: Value,
        v: Value,
    ) -> Value {
        if self.vector {
            let m = b.ins().bitcast(self.fty(), MemFlagsData::new(), c);
            let keep = b.ins().band_not(base, m);
            let put = b.ins().band(v, m);
            b.ins().bor(keep, put)
        } else {
            b.ins().select(c, v, base)
        }
    }

    /// `|m|` with the sign of `s`.
    pub(crate) fn copysign(self, b: &mut FunctionBuilder, m: Value, s: Value) -> Value {
        if self.vector {
            // The sign bit from s, the rest from m (x64 lowers `fcopysign`
            // for scalars only).
            let sign = self.c(b, -0.0);
            b.ins().bitselect(sign, s, m)
        } else {
            b.ins().fcopysign(m, s)
        }
    }

    /// `(s, e)` with `s = a + c` rounded and `e` its rounding error, exactly
    /// (Knuth's branch-free two-sum).
    pub(crate) fn two_sum(self, b: &mut FunctionBuilder, a: Value, c: Value) -> (Value, Value) {
        let s = b.ins().fadd(a, c);
        let cc = b.ins().fsub(s, a);
        let aa = b.ins().fsub(s, cc);
        let ec = b.ins().fsub(c, cc);
        let ea = b.ins().fsub(a, aa);
        (s, b.ins().fadd(ea, ec))
    }

    /// [`two_sum`](Self::two_sum) for `a = 0` or an exponent of `a` at least
    /// that of `c` (Dekker's fast two-sum).
    pub(crate) fn fast_two_sum(
        self,
        b: &mut FunctionBuilder,
        a: Value,
        c: Value,
    ) -> (Value, Value) {
        let s = b.ins().fadd(a, c);
        let z = b.ins().fsub(s, a);
        (s, b.ins().fsub(c, z))
    }

    /// `(p, e)` with `p = a * c` rounded and `e` its rounding error, exactly
    /// while nothing overflows: one fused multiply-add with FMA, Dekker's
    /// splitting product without.
    pub(crate) fn two_prod(self, b: &mut FunctionBuilder, a: Value, c: Value) -> (Value, Value) {
        let p = b.ins().fmul(a, c);
        if self.fma {
            let np = b.ins().fneg(p);
            return (p, b.ins().fma(a, c, np));
        }
        let split = |b: &mut FunctionBuilder, v: Value| {
            let k = self.c(b, m::split_const(self.is_f32()));
            let t = b.ins().fmul(v, k);
            let d = b.ins().fsub(t, v);
            let hi = b.ins().fsub(t, d);
            (hi, b.ins().fsub(v, hi))
        };
        let (ah, al) = split(b, a);
        let (ch, cl) = split(b, c);
        let hh = b.ins().fmul(ah, ch);
        let e = b.ins().fsub(hh, p);
        let hl = b.ins().fmul(ah, cl);
        let e = b.ins().fadd(e, hl);
        let lh = b.ins().fmul(al, ch);
        let e = b.ins().fadd(e, lh);
        let ll = b.ins().fmul(al, cl);
        (p, b.ins().fadd(e, ll))
    }
}

/// Estrin evaluation of `sum coeffs[i] * x^i`: pairs `c_2i + c_2i+1 x`
/// combined with `x^2`, `x^4`, ... so the dependency chain is logarithmic
/// in the degree (Horner's is linear, and its latency dominated small
/// scalar graphs like W2).
pub(crate) fn poly(b: &mut FunctionBuilder, fl: Flavor, x: Value, coeffs: &[f64]) -> Value {
    // The two lowest-order terms by Horner steps (they carry most of the
    // value, and Horner rounds them best), the rest by Estrin.
    if coeffs.len() > 4 {
        let rest = estrin(b, fl, x, &coeffs[2..]);
        let c1 = fl.c(b, coeffs[1]);
        let t = fl.mul_add(b, rest, x, c1);
        let c0 = fl.c(b, coeffs[0]);
        return fl.mul_add(b, t, x, c0);
    }
    estrin(b, fl, x, coeffs)
}

/// `s * poly(x)` for a power of two `s`. With FMA the scaling is folded
/// into the last step, `s + t (x s)` instead of `(1 + t x) s`: the same
/// bits (scaling by a power of two commutes with rounding while no result
/// is subnormal, which `exp`'s split scaling guarantees), one multiply less
/// on the critical path.
fn poly_scaled(b: &mut FunctionBuilder, fl: Flavor, x: Value, coeffs: &[f64], s: Value) -> Value {
    if fl.fma && coeffs.len() > 4 && coeffs[0] == 1.0 {
        let rest = estrin(b, fl, x, &coeffs[2..]);
        let c1 = fl.c(b, coeffs[1]);
        let t = fl.mul_add(b, rest, x, c1);
        let xs = b.ins().fmul(x, s);
        return fl.mul_add(b, t, xs, s);
    }
    let p = poly(b, fl, x, coeffs);
    b.ins().fmul(p, s)
}

fn estrin(b: &mut FunctionBuilder, fl: Flavor, x: Value, coeffs: &[f64]) -> Value {
    let mut terms: Vec<Value> = coeffs
        .chunks(2)
        .map(|c| {
            let c0 = fl.c(b, c[0]);
            if c.len() == 2 {
                let c1 = fl.c(b, c[1]);
                fl.mul_add(b, c1, x, c0)
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
                    fl.mul_add(b, t[1], p, t[0])
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

/// `min(x, hi)`, keeping NaN.
fn clamp_above(b: &mut FunctionBuilder, fl: Flavor, x: Value, hi: f64) -> Value {
    let hiv = fl.c(b, hi);
    let c = b.ins().fcmp(FloatCC::GreaterThan, x, hiv);
    fl.select(b, c, hiv, x)
}

/// `2^n` for an integral float `n` whose biased exponent stays in range.
pub(crate) fn pow2(b: &mut FunctionBuilder, fl: Flavor, n: Value) -> Value {
    let (magic, bias, shift) = m::pow2_consts(fl.is_f32());
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
    exp_parts(b, fl, x, None)
}

/// `e^(hi + lo)` for a double-word argument (`|lo|` at most about an ulp of
/// `hi`), as `pow` needs: the reduced argument `r + rl` is carried as a
/// two-sum and `e^(r + rl) = e^r (1 + rl)`. `lo` is ignored where `hi` is
/// out of `exp`'s range (the result is `inf` or `0` there anyway).
pub(crate) fn exp_dd(b: &mut FunctionBuilder, fl: Flavor, hi: Value, lo: Value) -> Value {
    exp_parts(b, fl, hi, Some(lo))
}

fn exp_parts(b: &mut FunctionBuilder, fl: Flavor, x: Value, lo: Option<Value>) -> Value {
    let (ln2_hi, ln2_lo, deg) = m::exp_reduction(fl.is_f32());
    let (lo_lim, hi_lim) = m::exp_range(fl.is_f32());
    let lo = lo.map(|lo| {
        let l = fl.c(b, lo_lim);
        let h = fl.c(b, hi_lim);
        let above = b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, l);
        let below = b.ins().fcmp(FloatCC::LessThanOrEqual, x, h);
        let inside = b.ins().band(above, below);
        let zero = fl.c(b, 0.0);
        fl.select(b, inside, lo, zero)
    });
    // Arguments outside the range get their `0` or `inf` by two selects at
    // the end, whose compares run beside the polynomial: clamping first
    // put two compare-and-selects on the latency path of every `exp`
    // (what bounds scalar chains like W2). Inside the range the code is
    // the same; outside it the reduction's garbage (even NaN, from
    // infinite arguments) is selected away. A NaN argument compares false
    // to both limits and stays NaN.
    let lo_c = fl.c(b, lo_lim);
    let hi_c = fl.c(b, hi_lim);
    let under = b.ins().fcmp(FloatCC::LessThan, x, lo_c);
    let over = b.ins().fcmp(FloatCC::GreaterThan, x, hi_c);
    let log2e = fl.c(b, std::f64::consts::LOG2_E);
    let t = b.ins().fmul(x, log2e);
    let n = b.ins().nearest(t);
    let c_hi = fl.c(b, ln2_hi);
    let c_lo = fl.c(b, ln2_lo);
    let nn = b.ins().fneg(n);
    let r = fl.mul_add(b, nn, c_hi, x);
    // x - n ln2 = r + rl: the product with ln2_hi and the subtraction are
    // exact, the rest is rounded once (and its error kept for `exp_dd`).
    let (r, rl) = match lo {
        None => (fl.mul_add(b, nn, c_lo, r), None),
        Some(lo) => {
            let tail = fl.mul_add(b, nn, c_lo, lo);
            let (r, rl) = fl.two_sum(b, r, tail);
            (r, Some(rl))
        }
    };
    let half = fl.c(b, 0.5);
    let h = b.ins().fmul(n, half);
    let n1 = b.ins().floor(h);
    let n2 = b.ins().fsub(n, n1);
    let s1 = pow2(b, fl, n1);
    let s2 = pow2(b, fl, n2);
    let y = poly_scaled(b, fl, r, &m::inv_factorials(0, deg), s1);
    let y = match rl {
        Some(rl) => fl.mul_add(b, y, rl, y),
        None => y,
    };
    let y = b.ins().fmul(y, s2);
    let zero = fl.c(b, 0.0);
    let y = fl.select(b, under, zero, y);
    let inf = fl.c(b, f64::INFINITY);
    fl.select(b, over, inf, y)
}

/// `tanh(x)`.
pub(crate) fn tanh(b: &mut FunctionBuilder, fl: Flavor, x: Value) -> Value {
    let (clamp, deg) = m::tanh_params(fl.is_f32());
    let ax = b.ins().fabs(x);
    let ax = clamp_above(b, fl, ax, clamp);
    let y = b.ins().fadd(ax, ax);
    // expm1(y) for small y: y * (1 + y/2 + y^2/6 + ...).
    let q = poly(b, fl, y, &m::inv_factorials(1, deg));
    let e_small = b.ins().fmul(q, y);
    let ey = exp(b, fl, y);
    let one = fl.c(b, 1.0);
    let e_big = b.ins().fsub(ey, one);
    let lim = fl.c(b, m::TANH_SMALL);
    let small = b.ins().fcmp(FloatCC::LessThan, y, lim);
    let e = fl.select(b, small, e_small, e_big);
    let two = fl.c(b, 2.0);
    let d = b.ins().fadd(e, two);
    let t = b.ins().fdiv(e, d);
    fl.copysign(b, t, x)
}

/// `1 / (1 + e^-x)`.
pub(crate) fn sigmoid(b: &mut FunctionBuilder, fl: Flavor, x: Value) -> Value {
    let n = b.ins().fneg(x);
    let e = exp(b, fl, n);
    let one = fl.c(b, 1.0);
    let d = b.ins().fadd(one, e);
    b.ins().fdiv(one, d)
}

/// `ln(x)`: `x = 2^k m` from the bits with `m` in `[sqrt(1/2), sqrt(2))`,
/// then `ln(m) = f - h + s (h + R(s^2))` with `f = m - 1`, `s = f/(2+f)`,
/// `h = f^2/2` and `R` the Taylor series of `2 atanh(s)/s - 2` (fdlibm's
/// arrangement), and `k ln2` in two parts. Subnormal arguments are scaled
/// into the normal range first. `ln(±0) = -inf`, `ln(x < 0) = NaN`,
/// `ln(inf) = inf`, NaN propagates.
pub(crate) fn log(b: &mut FunctionBuilder, fl: Flavor, x: Value) -> Value {
    let f32 = fl.is_f32();
    let terms = m::log_terms(f32);
    let (kf, m) = log_reduce(b, fl, x);
    let half = fl.c(b, 0.5);
    let one = fl.c(b, 1.0);
    let zero = fl.c(b, 0.0);
    let f = b.ins().fsub(m, one);
    let two = fl.c(b, 2.0);
    let d = b.ins().fadd(f, two);
    let s = b.ins().fdiv(f, d);
    let z = b.ins().fmul(s, s);
    let coeffs = m::atanh_coeffs(1, terms);
    let rz = poly(b, fl, z, &coeffs);
    let r = b.ins().fmul(rz, z);
    let ff = b.ins().fmul(f, f);
    let hfsq = b.ins().fmul(ff, half);
    // k ln2_hi - ((hfsq - (s (hfsq + R) + k ln2_lo)) - f)
    let (ln2_hi, ln2_lo) = m::log_ln2(f32);
    let hr = b.ins().fadd(hfsq, r);
    let shr = b.ins().fmul(s, hr);
    let lo = fl.c(b, ln2_lo);
    let klo = b.ins().fmul(kf, lo);
    let t = b.ins().fadd(shr, klo);
    let t = b.ins().fsub(hfsq, t);
    let t = b.ins().fsub(t, f);
    let hi = fl.c(b, ln2_hi);
    let khi = b.ins().fmul(kf, hi);
    let res = b.ins().fsub(khi, t);
    // Special values.
    let inf = fl.c(b, f64::INFINITY);
    let is_inf = b.ins().fcmp(FloatCC::Equal, x, inf);
    let res = fl.select(b, is_inf, inf, res);
    let pos = b.ins().fcmp(FloatCC::GreaterThan, x, zero);
    let is_zero = b.ins().fcmp(FloatCC::Equal, x, zero);
    let ninf = fl.c(b, f64::NEG_INFINITY);
    let nan = fl.c(b, f64::NAN);
    let bad = fl.select(b, is_zero, ninf, nan);
    fl.select(b, pos, res, bad)
}

/// `x = 2^k m` for positive finite `x` (subnormals included), with `m` in
/// `[sqrt(1/2), sqrt(2)]`, from the bits: `(k, m)`, `k` as a float. Other
/// arguments give unspecified (non-trapping) values.
pub(crate) fn log_reduce(b: &mut FunctionBuilder, fl: Flavor, x: Value) -> (Value, Value) {
    let f32 = fl.is_f32();
    let m::LogReduce {
        min_normal,
        scale_exp,
        mant_bits,
        bias,
        one_bits,
        magic_bits,
    } = m::log_reduce_consts(f32);
    // Subnormals: scale by 2^scale_exp into the normal range.
    let mn = fl.c(b, min_normal);
    let sub = b.ins().fcmp(FloatCC::LessThan, x, mn);
    let scale = fl.c(b, 2f64.powi(scale_exp as i32));
    let xs = b.ins().fmul(x, scale);
    let xn = fl.select(b, sub, xs, x);
    let zero = fl.c(b, 0.0);
    let adj = fl.c(b, -(scale_exp as f64));
    let kadj = fl.select(b, sub, adj, zero);
    // Exponent and mantissa from the bits.
    let bits = b.ins().bitcast(fl.ity(), MemFlagsData::new(), xn);
    let e = b.ins().ushr_imm_u(bits, mant_bits);
    let magic = fl.ci(b, magic_bits);
    let eb = b.ins().bor(e, magic);
    let ef = b.ins().bitcast(fl.fty(), MemFlagsData::new(), eb);
    // 2^mant_bits, the value of magic_bits.
    let magic_f = fl.c(b, 2f64.powi(mant_bits as i32));
    let kf = b.ins().fsub(ef, magic_f);
    let biasv = fl.c(b, bias);
    let kf = b.ins().fsub(kf, biasv);
    let kf = b.ins().fadd(kf, kadj);
    let mask = fl.ci(b, (1i64 << mant_bits) - 1);
    let mb = b.ins().band(bits, mask);
    let onev = fl.ci(b, one_bits);
    let mb = b.ins().bor(mb, onev);
    let m = b.ins().bitcast(fl.fty(), MemFlagsData::new(), mb);
    // m in [sqrt(1/2), sqrt(2)).
    let sqrt2 = fl.c(b, std::f64::consts::SQRT_2);
    let big = b.ins().fcmp(FloatCC::GreaterThan, m, sqrt2);
    let half = fl.c(b, 0.5);
    let mh = b.ins().fmul(m, half);
    let m = fl.select(b, big, mh, m);
    let one = fl.c(b, 1.0);
    let kf1 = b.ins().fadd(kf, one);
    let kf = fl.select(b, big, kf1, kf);
    (kf, m)
}

/// `sin(x)` (`cos` with `cos = true`). Needs FMA: `x = k pi/2 + r` with
/// `pi/2` split in three parts and each step fused (exact products), then
/// the Taylor polynomials of `sin` and `cos` on `|r| <= pi/4` and the
/// quadrant `k mod 4`. Arguments with `|x| > trig_limit` (and infinities)
/// take `host`, which computes the whole value with the host's function;
/// NaN propagates through the polynomial path.
pub(crate) fn sincos(
    b: &mut FunctionBuilder,
    fl: Flavor,
    x: Value,
    cos: bool,
    host: impl FnOnce(&mut FunctionBuilder, Value) -> Value,
) -> Value {
    let f32 = fl.is_f32();
    // pi/2 = p1 + p2 + p3 in the flavor's precision, each part the rounded
    // remainder of the exact value (computed to 110 digits).
    let (p1, p2, p3) = m::pi_over_2_parts(f32);
    let (sdeg, cdeg) = m::sincos_degrees(f32);
    let two_over_pi = fl.c(b, std::f64::consts::FRAC_2_PI);
    let t = b.ins().fmul(x, two_over_pi);
    let k = b.ins().nearest(t);
    let nk = b.ins().fneg(k);
    let c1 = fl.c(b, p1);
    let c2 = fl.c(b, p2);
    let c3 = fl.c(b, p3);
    let r = fl.mul_add(b, nk, c1, x);
    let r = fl.mul_add(b, nk, c2, r);
    let r = fl.mul_add(b, nk, c3, r);
    let z = b.ins().fmul(r, r);
    // sin r = r + r z S(z), S the Taylor coefficients of x^3, x^5, ...
    let scoef = m::sin_coeffs(sdeg);
    let sp = poly(b, fl, z, &scoef);
    let rz = b.ins().fmul(r, z);
    let s = fl.mul_add(b, rz, sp, r);
    // cos r = 1 + z C(z), C the Taylor coefficients of x^2, x^4, ...
    let ccoef = m::cos_coeffs(cdeg);
    let cp = poly(b, fl, z, &ccoef);
    let one = fl.c(b, 1.0);
    let c = fl.mul_add(b, z, cp, one);
    // Quadrant q = k mod 4.
    let quarter = fl.c(b, 0.25);
    let kq = b.ins().fmul(k, quarter);
    let kq = b.ins().floor(kq);
    let four = fl.c(b, 4.0);
    let nkq = b.ins().fneg(kq);
    let q = fl.mul_add(b, nkq, four, k);
    let onef = fl.c(b, 1.0);
    let twof = fl.c(b, 2.0);
    let threef = fl.c(b, 3.0);
    let q1 = b.ins().fcmp(FloatCC::Equal, q, onef);
    let q2 = b.ins().fcmp(FloatCC::Equal, q, twof);
    let q3 = b.ins().fcmp(FloatCC::Equal, q, threef);
    let odd = b.ins().bor(q1, q3);
    let (base, neg) = if cos {
        (fl.select(b, odd, s, c), b.ins().bor(q1, q2))
    } else {
        (fl.select(b, odd, c, s), b.ins().bor(q2, q3))
    };
    let nb = b.ins().fneg(base);
    let mut fast = fl.select(b, neg, nb, base);
    if !cos {
        // sin(±0) = ±0 (the polynomial's sum would give +0 for -0).
        let zero = fl.c(b, 0.0);
        let is0 = b.ins().fcmp(FloatCC::Equal, x, zero);
        fast = fl.select(b, is0, x, fast);
    }
    // Large arguments: the host's function.
    let ax = b.ins().fabs(x);
    let lim = fl.c(b, m::trig_limit(f32));
    let big = b.ins().fcmp(FloatCC::GreaterThan, ax, lim);
    let any = if fl.vector {
        b.ins().vany_true(big)
    } else {
        big
    };
    let slow_block = b.create_block();
    let merge = b.create_block();
    let out = b.append_block_param(merge, fl.fty());
    b.ins().brif(
        any,
        slow_block,
        &[],
        merge,
        &[cranelift_codegen::ir::BlockArg::Value(fast)],
    );
    b.switch_to_block(slow_block);
    // Only the lanes beyond the limit take the host's value: a lane's
    // result never depends on its neighbours.
    let slow = host(b, x);
    let slow = fl.select(b, big, slow, fast);
    b.ins()
        .jump(merge, &[cranelift_codegen::ir::BlockArg::Value(slow)]);
    b.switch_to_block(merge);
    out
}
