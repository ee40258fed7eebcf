//! `pow(x, y)` emitted as Cranelift IR, for scalars and for `f64x2`/`f32x4`
//! vectors, straight-line (every special case is a compare and a select),
//! so that loops with `pow` stay vectorised.
//!
//! f64: `|x|^y = e^(y ln|x|)` with `ln|x|` in double-word precision. `|x| =
//! 2^k m` with `m` in `[sqrt(1/2), sqrt(2)]` (vmath's `log_reduce`, which
//! scales subnormals), `s = (m - 1)/(m + 1)` as `s_hi + s_lo` (the division
//! residual is exact with a fused multiply-add or Dekker's product), and
//! `ln m = 2 atanh(s) = 2s + s^3 (2/3 + z P(z))` with `z = s^2`: the
//! polynomial `P` (Taylor coefficients `2/5 ... 2/25`, truncation below
//! 2^-70 relative) in plain arithmetic, everything above it in double-word
//! arithmetic, together with `k ln2` in two parts. Relative error of
//! `ln|x| = lh + ll` about 2^-65. Then `y ln|x| = ph + pl` (exact product
//! of `y` and `lh` plus `y ll`) and `e^(ph + pl)` by vmath's `exp_dd`, whose
//! scaling overflows to `inf` and underflows through the subnormals to `0`.
//! Naive `exp(y * log(x))` would lose `|y ln x| 2^-53` relative, up to 700
//! ulp near overflow; this stays within 1 ulp.
//!
//! f32: computed in f64 lanes (an `f32x4` as two `f64x2` halves through
//! `fvpromote_low`/`fvdemote`): `e^(y ln|x|)` with vmath's f64 `log` and
//! `exp` is accurate to about 2^-45 relative for every finite f32 result,
//! and the one rounding to f32 at the end gives at most 1 ulp.
//!
//! Special values follow C99 Annex F (std's `powf`): `pow(x, ±0) = 1` and
//! `pow(1, y) = 1` even for NaN, `pow(-1, ±inf) = 1`, NaN otherwise
//! propagates, negative `x` takes its sign from the parity of an integral
//! `y` and gives NaN for a finite non-integral `y`, and zeros and
//! infinities of either operand give `±0`/`±inf` by the rules the
//! magnitude `e^(y ln|x|)` already follows with `ln 0 = -inf` and
//! `ln inf = inf`. The maximum errors against the interpreter are measured
//! by the `pow_ulp_bounds` test and documented in docs/performance.md.

use crate::vmath::{self, Flavor};
use adjoint_ir::DType;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32, F32X4, F64, I8X16};
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::FunctionBuilder;

/// `pow(x, y)` for values of flavor `fl`.
pub(crate) fn pow(b: &mut FunctionBuilder, fl: Flavor, x: Value, y: Value) -> Value {
    if fl.dtype != DType::F32 {
        return pow_f64(b, fl, x, y);
    }
    let wide = Flavor {
        dtype: DType::F64,
        ..fl
    };
    if !fl.vector {
        let xd = b.ins().fpromote(F64, x);
        let yd = b.ins().fpromote(F64, y);
        let r = pow_f64(b, wide, xd, yd);
        return b.ins().fdemote(F32, r);
    }
    // Lanes 0 and 1, then lanes 2 and 3 moved down.
    let lo = pow_f32_half(b, wide, x, y);
    let xh = high_half_down(b, x);
    let yh = high_half_down(b, y);
    let hi = pow_f32_half(b, wide, xh, yh);
    // The low 64 bits of each: lanes r0 r1 from `lo`, r2 r3 from `hi`.
    let mask: Vec<u8> = (0..8).chain(16..24).collect();
    shuffle_f32x4(b, lo, hi, &mask)
}

/// `pow` of the two low lanes of `f32x4` vectors, in `f64x2`; the result's
/// low two lanes hold the `f32` values.
fn pow_f32_half(b: &mut FunctionBuilder, wide: Flavor, x: Value, y: Value) -> Value {
    let xd = b.ins().fvpromote_low(x);
    let yd = b.ins().fvpromote_low(y);
    let r = pow_f64(b, wide, xd, yd);
    b.ins().fvdemote(r)
}

/// An `f32x4` with lanes 2 and 3 of `v` in lanes 0 and 1.
fn high_half_down(b: &mut FunctionBuilder, v: Value) -> Value {
    let mask: Vec<u8> = (8..16).chain(0..8).collect();
    shuffle_f32x4(b, v, v, &mask)
}

/// Cranelift's byte shuffle of two `f32x4` values.
fn shuffle_f32x4(b: &mut FunctionBuilder, x: Value, y: Value, mask: &[u8]) -> Value {
    let le = MemFlagsData::new().with_endianness(Endianness::Little);
    let xb = b.ins().bitcast(I8X16, le, x);
    let yb = b.ins().bitcast(I8X16, le, y);
    let imm = b.func.dfg.immediates.push(mask.to_vec().into());
    let r = b.ins().shuffle(xb, yb, imm);
    b.ins().bitcast(F32X4, le, r)
}

/// `pow` in f64 with the double-word logarithm (f32 values too: then the
/// f64 result is nearly always the exact result correctly rounded, and the
/// rounding to f32 is the only one, ties included, as in `pow(2, -150)`).
fn pow_f64(b: &mut FunctionBuilder, fl: Flavor, x: Value, y: Value) -> Value {
    let ax = b.ins().fabs(x);
    let (lh, ll) = log_dd(b, fl, ax);
    let (ph, e) = fl.two_prod(b, y, lh);
    let mut pl = fl.mul_add(b, y, ll, e);
    if !fl.fma {
        // Dekker's splitting of a huge `y` overflows to a NaN error term;
        // a finite `e^(ph + pl)` then needs `lh = 0`, where the term is 0.
        let ok = b.ins().fcmp(FloatCC::Equal, pl, pl);
        let zero = fl.c(b, 0.0);
        pl = fl.select(b, ok, pl, zero);
    }
    let mag = vmath::exp_dd(b, fl, ph, pl);
    special_cases(b, fl, x, y, mag)
}

/// `ln(ax) = lh + ll` for `ax >= 0` in double-word precision, with
/// `ln 0 = -inf` and `ln inf = inf` in `lh` (`ll` is then unspecified).
fn log_dd(b: &mut FunctionBuilder, fl: Flavor, ax: Value) -> (Value, Value) {
    let (k, m) = vmath::log_reduce(b, fl, ax);
    let one = fl.c(b, 1.0);
    // s = f / (1 + m) = s_hi + s_lo, f = m - 1 exact (Sterbenz).
    let f = b.ins().fsub(m, one);
    let (dh, dl) = fl.fast_two_sum(b, one, m);
    let sh = b.ins().fdiv(f, dh);
    // The residual f - sh dh is exact (that of a rounded quotient).
    let (p, pe) = fl.two_prod(b, sh, dh);
    let rem = b.ins().fsub(f, p);
    let rem = b.ins().fsub(rem, pe);
    let nsh = b.ins().fneg(sh);
    let rem = fl.mul_add(b, nsh, dl, rem);
    let sl = b.ins().fdiv(rem, dh);
    // z = s^2 = zh + zl.
    let (zh, zl) = fl.two_prod(b, sh, sh);
    let sh2 = b.ins().fadd(sh, sh);
    let zl = fl.mul_add(b, sh2, sl, zl);
    // u = 2/3 + z P(z) = uh + ul.
    let coeffs: Vec<f64> = (2..=12).map(|i| 2.0 / f64::from(2 * i + 1)).collect();
    let pz = vmath::poly(b, fl, zh, &coeffs);
    let q = b.ins().fmul(zh, pz);
    let (c3h, c3l) = two_thirds();
    let c3hv = fl.c(b, c3h);
    let (uh, ul) = fl.fast_two_sum(b, c3hv, q);
    let c3lv = fl.c(b, c3l);
    let ul = b.ins().fadd(ul, c3lv);
    // w = s z.
    let (wh, wl) = fl.two_prod(b, sh, zh);
    let wl = fl.mul_add(b, sh, zl, wl);
    let wl = fl.mul_add(b, sl, zh, wl);
    // v = w u = s^3 (2/3 + z P(z)).
    let (vh, vl) = fl.two_prod(b, wh, uh);
    let vl = fl.mul_add(b, wh, ul, vl);
    let vl = fl.mul_add(b, wl, uh, vl);
    // ln x = k ln2 + 2 s + v.
    let ln2_hi = fl.c(b, f64::from_bits(0x3FE6_2E42_FEE0_0000));
    let ln2_lo = fl.c(b, f64::from_bits(0x3DEA_39EF_3579_3C76));
    let kh = b.ins().fmul(k, ln2_hi);
    let kl = b.ins().fmul(k, ln2_lo);
    let (a1, e1) = fl.fast_two_sum(b, kh, sh2);
    let (a2, e2) = fl.fast_two_sum(b, a1, vh);
    let sl2 = b.ins().fadd(sl, sl);
    let lo = b.ins().fadd(kl, sl2);
    let lo = b.ins().fadd(lo, vl);
    let lo = b.ins().fadd(lo, e1);
    let lo = b.ins().fadd(lo, e2);
    let (lh, ll) = fl.fast_two_sum(b, a2, lo);
    // ln 0 = -inf, ln inf = inf.
    let zero = fl.c(b, 0.0);
    let is0 = b.ins().fcmp(FloatCC::Equal, ax, zero);
    let ninf = fl.c(b, f64::NEG_INFINITY);
    let lh = fl.select(b, is0, ninf, lh);
    let inf = fl.c(b, f64::INFINITY);
    let is_inf = b.ins().fcmp(FloatCC::Equal, ax, inf);
    let lh = fl.select(b, is_inf, inf, lh);
    (lh, ll)
}

/// `2/3` as a double-word `hi + lo`.
fn two_thirds() -> (f64, f64) {
    let hi = 2.0f64 / 3.0;
    // 2/3 - hi = (2 - 3 hi) / 3, and 2 - 3 hi is exact in f64.
    let lo = (-3.0f64).mul_add(hi, 2.0) / 3.0;
    (hi, lo)
}

/// `pow(x, y)` from the magnitude `mag = e^(y ln|x|)` (with `ln 0 = -inf`
/// and `ln inf = inf`): the sign from `x` and the parity of `y`, and the
/// cases the magnitude gets wrong.
fn special_cases(b: &mut FunctionBuilder, fl: Flavor, x: Value, y: Value, mag: Value) -> Value {
    let half = fl.c(b, 0.5);
    // Integral y (±inf included, NaN not); odd when y/2 is not integral
    // (every f64 of magnitude 2^53 and above is even).
    let yf = b.ins().floor(y);
    let is_int = b.ins().fcmp(FloatCC::Equal, yf, y);
    let not_int = b.ins().fcmp(FloatCC::NotEqual, yf, y);
    let h = b.ins().fmul(y, half);
    let hf = b.ins().floor(h);
    let half_frac = b.ins().fcmp(FloatCC::NotEqual, hf, h);
    let odd = b.ins().band(is_int, half_frac);
    // Negative x (-0 and -inf included) and odd y: the sign of x.
    let signed = fl.copysign(b, mag, x);
    let r = fl.select(b, odd, signed, mag);
    // Finite negative x and non-integral y: NaN.
    let zero = fl.c(b, 0.0);
    let ninf = fl.c(b, f64::NEG_INFINITY);
    let neg = b.ins().fcmp(FloatCC::LessThan, x, zero);
    let fin = b.ins().fcmp(FloatCC::GreaterThan, x, ninf);
    let neg_fin = b.ins().band(neg, fin);
    let bad = b.ins().band(neg_fin, not_int);
    let nan = fl.c(b, f64::NAN);
    let r = fl.select(b, bad, nan, r);
    // A NaN operand gives NaN ...
    let uno = b.ins().fcmp(FloatCC::Unordered, x, y);
    let sum = b.ins().fadd(x, y);
    let r = fl.select(b, uno, sum, r);
    // ... except pow(x, ±0) = pow(1, y) = pow(-1, ±inf) = 1.
    let one = fl.c(b, 1.0);
    let y0 = b.ins().fcmp(FloatCC::Equal, y, zero);
    let x1 = b.ins().fcmp(FloatCC::Equal, x, one);
    let mone = fl.c(b, -1.0);
    let xm1 = b.ins().fcmp(FloatCC::Equal, x, mone);
    let ay = b.ins().fabs(y);
    let inf = fl.c(b, f64::INFINITY);
    let y_inf = b.ins().fcmp(FloatCC::Equal, ay, inf);
    let m1_inf = b.ins().band(xm1, y_inf);
    let is_one = b.ins().bor(y0, x1);
    let is_one = b.ins().bor(is_one, m1_inf);
    fl.select(b, is_one, one, r)
}
