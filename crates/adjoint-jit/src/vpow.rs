//! `pow(x, y)` emitted as Cranelift IR, for scalars and for `f64x2`/`f32x4`
//! vectors, straight-line (every special case is a compare and a select),
//! so that loops with `pow` stay vectorised.
//!
//! `|x|^y = e^(y ln|x|)` with `ln|x|` in double-word precision (pairs of
//! f64, or of f32 for f32: the same code in the flavor's type). `|x| = 2^k
//! m` with `m` in `[sqrt(1/2), sqrt(2)]` (vmath's `log_reduce`, which
//! scales subnormals), `s = (m - 1)/(m + 1)` as `s_hi + s_lo` (one
//! division, and the residual from an exact product: a fused multiply-add
//! or Dekker's), and `ln m = 2 atanh(s) = 2s + s^3 (2/3 + z P(z))` with `z =
//! s^2`: the polynomial `P` (Taylor coefficients `2/5 ... 2/25` in f64,
//! `... 2/15` in f32) in plain arithmetic, everything above it in
//! double-word arithmetic, together with `k ln2` in two parts. Relative
//! error of `ln|x| = lh + ll` about 2^-65 in f64 (2^-36 in f32). Then `y
//! ln|x| = ph + pl` (exact product of `y` and `lh` plus `y ll`) and `e^(ph +
//! pl)` by vmath's `exp_dd`, whose scaling overflows to `inf` and
//! underflows through the subnormals to `0`. Naive `exp(y * log(x))` would
//! lose `|y ln x|` ulp (up to 700 near overflow); this stays within 1 ulp.
//!
//! Special values follow C99 Annex F (std's `powf`): `pow(x, ±0) = 1` and
//! `pow(1, y) = 1` even for NaN, `pow(-1, ±inf) = 1`, NaN otherwise
//! propagates, negative `x` takes its sign from the parity of an integral
//! `y` and gives NaN for a finite non-integral `y`, and zeros and
//! infinities of either operand give `±0`/`±inf` by the rules the
//! magnitude `e^(y ln|x|)` already follows with `ln 0 = -inf` and
//! `ln inf = inf`. This is `adjoint_ir::math::pow` operation for
//! operation (the same bits). The maximum errors against libm are measured
//! by the `pow_ulp_bounds` test and documented in docs/performance.md.

use crate::vmath::{self, Flavor};
use adjoint_ir::math as m;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};
use cranelift_frontend::FunctionBuilder;

/// `pow(x, y)` for values of flavor `fl`.
pub(crate) fn pow(b: &mut FunctionBuilder, fl: Flavor, x: Value, y: Value) -> Value {
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
    // One division: sh = f (1/dh) is within an ulp or two of f/dh; the
    // residual f - sh dh (an exact product, one rounding at most) and the
    // correction sl = residual / dh are tiny, so sh + sl is s to about
    // 2^-100 relative without a correctly rounded quotient.
    let rd = b.ins().fdiv(one, dh);
    let sh = b.ins().fmul(f, rd);
    let (p, pe) = fl.two_prod(b, sh, dh);
    let rem = b.ins().fsub(f, p);
    let rem = b.ins().fsub(rem, pe);
    let nsh = b.ins().fneg(sh);
    let rem = fl.mul_add(b, nsh, dl, rem);
    let sl = b.ins().fmul(rem, rd);
    // z = s^2 = zh + zl.
    let (zh, zl) = fl.two_prod(b, sh, sh);
    let sh2 = b.ins().fadd(sh, sh);
    let zl = fl.mul_add(b, sh2, sl, zl);
    // u = 2/3 + z P(z) = uh + ul.
    let coeffs = m::atanh_coeffs(2, m::pow_log_last(fl.is_f32()));
    let pz = vmath::poly(b, fl, zh, &coeffs);
    let q = b.ins().fmul(zh, pz);
    let (c3h, c3l) = m::two_thirds(fl.is_f32());
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
    // ln2_hi has trailing zeros: k ln2_hi is exact.
    let (ln2_hi, ln2_lo, _) = m::exp_reduction(fl.is_f32());
    let ln2_hi = fl.c(b, ln2_hi);
    let ln2_lo = fl.c(b, ln2_lo);
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

/// `pow(x, y)` from the magnitude `mag = e^(y ln|x|)` (with `ln 0 = -inf`
/// and `ln inf = inf`): the sign from `x` and the parity of `y`, and the
/// cases the magnitude gets wrong (a result of 1 or NaN).
///
/// Ordered for register pressure: the masks are combined into few values,
/// and `mag` comes first among the operands, so Cranelift computes it
/// before the masks instead of keeping them all alive across it.
fn special_cases(b: &mut FunctionBuilder, fl: Flavor, x: Value, y: Value, mag: Value) -> Value {
    // Integral y (±inf included, NaN not); odd when y/2 is not integral
    // (every f64 of magnitude 2^53 and above is even).
    let half = fl.c(b, 0.5);
    let yf = b.ins().floor(y);
    let is_int = b.ins().fcmp(FloatCC::Equal, yf, y);
    let h = b.ins().fmul(y, half);
    let hf = b.ins().floor(h);
    let half_frac = b.ins().fcmp(FloatCC::NotEqual, hf, h);
    let odd = b.ins().band(is_int, half_frac);
    // Negative x (-0 and -inf included) and odd y: the sign of x (`mag`
    // has none).
    let r = if fl.vector {
        let sign = fl.c(b, -0.0);
        let m = b.ins().bitcast(fl.fty(), MemFlagsData::new(), odd);
        let m = b.ins().band(m, sign);
        let xs = b.ins().band(x, m);
        b.ins().bor(mag, xs)
    } else {
        let signed = b.ins().fcopysign(mag, x);
        b.ins().select(odd, signed, mag)
    };
    // NaN: finite negative x and non-integral y, or a NaN operand, except
    // pow(x, ±0) = pow(1, y) = pow(-1, ±inf) = 1.
    let zero = fl.c(b, 0.0);
    let ninf = fl.c(b, f64::NEG_INFINITY);
    let neg = b.ins().fcmp(FloatCC::LessThan, x, zero);
    let fin = b.ins().fcmp(FloatCC::GreaterThan, x, ninf);
    let not_int = b.ins().fcmp(FloatCC::NotEqual, yf, y);
    let neg_fin = b.ins().band(neg, fin);
    let bad = b.ins().band(neg_fin, not_int);
    let uno = b.ins().fcmp(FloatCC::Unordered, x, y);
    let nan_case = b.ins().bor(bad, uno);
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
    let nan = fl.c(b, f64::NAN);
    let special = fl.select(b, is_one, one, nan);
    let any = b.ins().bor(nan_case, is_one);
    fl.replace_where(b, r, any, special)
}
