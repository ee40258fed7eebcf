//! The polynomial functions as plain scalar Rust: the reference that the
//! JIT's emitted code equals bit for bit. Each function is written in the
//! order of the emitted instructions; a comparison is IEEE (false with a
//! NaN, except `!=`), `c ? a : b` is a select, `ma(a, b, c)` is `a * b + c`
//! fused (`mul_add`) with `fma` or a multiply and an add without.

use super::consts::*;
use std::ops::{Add, Div, Mul, Neg, Sub};
use std::sync::OnceLock;

/// A float type the polynomial functions are defined for (`f32`, `f64`):
/// IEEE arithmetic in the type itself, its bits, and the libm functions.
pub trait MathFloat:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Whether this is `f32`.
    const IS_F32: bool;
    /// A constant: `x` rounded to this type.
    fn c(x: f64) -> Self;
    /// The bits, zero-extended.
    fn raw_bits(self) -> u64;
    /// The value of the low bits of `b`.
    fn from_raw_bits(b: u64) -> Self;
    /// `self * a + b`, correctly rounded once.
    fn fused_mul_add(self, a: Self, b: Self) -> Self;
    /// Rounding to an integral value, ties to even.
    fn round_even(self) -> Self;
    /// Rounding down to an integral value.
    fn floor_(self) -> Self;
    /// `|self|`.
    fn abs_(self) -> Self;
    /// The magnitude of `self` with the sign of `s`.
    fn copysign_(self, s: Self) -> Self;
    /// Whether `self` is a NaN.
    fn is_nan_(self) -> bool;
    /// libm's `exp`.
    fn libm_exp(self) -> Self;
    /// libm's `log`.
    fn libm_ln(self) -> Self;
    /// libm's `sin`.
    fn libm_sin(self) -> Self;
    /// libm's `cos`.
    fn libm_cos(self) -> Self;
    /// libm's `tanh`.
    fn libm_tanh(self) -> Self;
    /// libm's `pow`.
    fn libm_powf(self, y: Self) -> Self;
}

macro_rules! impl_math_float {
    ($t:ident, $bits:ty, $is_f32:expr) => {
        impl MathFloat for $t {
            const IS_F32: bool = $is_f32;
            #[inline]
            fn c(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn raw_bits(self) -> u64 {
                u64::from(self.to_bits())
            }
            #[inline]
            fn from_raw_bits(b: u64) -> Self {
                $t::from_bits(b as $bits)
            }
            #[inline]
            fn fused_mul_add(self, a: Self, b: Self) -> Self {
                self.mul_add(a, b)
            }
            #[inline]
            fn round_even(self) -> Self {
                self.round_ties_even()
            }
            #[inline]
            fn floor_(self) -> Self {
                self.floor()
            }
            #[inline]
            fn abs_(self) -> Self {
                self.abs()
            }
            #[inline]
            fn copysign_(self, s: Self) -> Self {
                self.copysign(s)
            }
            #[inline]
            fn is_nan_(self) -> bool {
                self.is_nan()
            }
            fn libm_exp(self) -> Self {
                self.exp()
            }
            fn libm_ln(self) -> Self {
                self.ln()
            }
            fn libm_sin(self) -> Self {
                self.sin()
            }
            fn libm_cos(self) -> Self {
                self.cos()
            }
            fn libm_tanh(self) -> Self {
                self.tanh()
            }
            fn libm_powf(self, y: Self) -> Self {
                self.powf(y)
            }
        }
    };
}

impl_math_float!(f32, u32, true);
impl_math_float!(f64, u64, false);

/// The coefficient tables (as f64; rounded to the dtype at each use).
struct Tables {
    exp: [Vec<f64>; 2],
    tanh: [Vec<f64>; 2],
    log: [Vec<f64>; 2],
    sin: [Vec<f64>; 2],
    cos: [Vec<f64>; 2],
    pow: [Vec<f64>; 2],
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let per = |f: &dyn Fn(bool) -> Vec<f64>| [f(false), f(true)];
        Tables {
            exp: per(&|f32| inv_factorials(0, exp_reduction(f32).2)),
            tanh: per(&|f32| inv_factorials(1, tanh_params(f32).1)),
            log: per(&|f32| atanh_coeffs(1, log_terms(f32))),
            sin: per(&|f32| sin_coeffs(sincos_degrees(f32).0)),
            cos: per(&|f32| cos_coeffs(sincos_degrees(f32).1)),
            pow: per(&|f32| atanh_coeffs(2, pow_log_last(f32))),
        }
    })
}

#[inline]
fn ma<T: MathFloat>(fma: bool, a: T, b: T, c: T) -> T {
    if fma {
        a.fused_mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `sum coeffs[i] x^i`: the two lowest-order terms by Horner steps, the
/// rest by Estrin's scheme (see [`estrin`]).
fn poly<T: MathFloat>(fma: bool, x: T, coeffs: &[f64]) -> T {
    if coeffs.len() > 4 {
        let rest = estrin(fma, x, &coeffs[2..]);
        let t = ma(fma, rest, x, T::c(coeffs[1]));
        return ma(fma, t, x, T::c(coeffs[0]));
    }
    estrin(fma, x, coeffs)
}

/// Estrin's scheme: pairs `c_2i + c_2i+1 x`, then pairs of those combined
/// with `x^2`, `x^4`, ... (lower term plus higher term times the power).
fn estrin<T: MathFloat>(fma: bool, x: T, coeffs: &[f64]) -> T {
    // No allocation: the terms of one level overwrite the previous level's
    // in place (every table has at most 2 * MAX_TERMS coefficients).
    const MAX_TERMS: usize = 16;
    assert!(coeffs.len() <= 2 * MAX_TERMS && !coeffs.is_empty());
    let mut terms = [T::c(0.0); MAX_TERMS];
    let mut n = 0;
    for c in coeffs.chunks(2) {
        terms[n] = if c.len() == 2 {
            ma(fma, T::c(c[1]), x, T::c(c[0]))
        } else {
            T::c(c[0])
        };
        n += 1;
    }
    let mut p = x * x;
    while n > 1 {
        let mut m = 0;
        let mut i = 0;
        while i < n {
            terms[m] = if i + 1 < n {
                ma(fma, terms[i + 1], p, terms[i])
            } else {
                terms[i]
            };
            m += 1;
            i += 2;
        }
        n = m;
        if n > 1 {
            p = p * p;
        }
    }
    terms[0]
}

/// `s * poly(x)` for a power of two `s`; with `fma` and a constant term of
/// 1, `s + t (x s)` (the scaling folded into the last step).
fn poly_scaled<T: MathFloat>(fma: bool, x: T, coeffs: &[f64], s: T) -> T {
    if fma && coeffs.len() > 4 && coeffs[0] == 1.0 {
        let rest = estrin(fma, x, &coeffs[2..]);
        let t = ma(fma, rest, x, T::c(coeffs[1]));
        let xs = x * s;
        return ma(fma, t, xs, s);
    }
    poly(fma, x, coeffs) * s
}

/// `2^n` for an integral `n` whose biased exponent is in range, from bits.
fn pow2<T: MathFloat>(n: T) -> T {
    let (magic, bias, shift) = pow2_consts(T::IS_F32);
    let t = n + T::c(magic);
    let e = t.raw_bits().wrapping_add(bias as u64) << shift;
    T::from_raw_bits(e)
}

/// `(s, e)`: `s = a + c` rounded and its exact error `e` (two-sum).
fn two_sum<T: MathFloat>(a: T, c: T) -> (T, T) {
    let s = a + c;
    let cc = s - a;
    let aa = s - cc;
    let ec = c - cc;
    let ea = a - aa;
    (s, ea + ec)
}

/// [`two_sum`] for `a = 0` or `|a|`'s exponent at least `|c|`'s.
fn fast_two_sum<T: MathFloat>(a: T, c: T) -> (T, T) {
    let s = a + c;
    let z = s - a;
    (s, c - z)
}

/// `(p, e)`: `p = a * c` rounded and its error `e` (a fused multiply-add
/// with `fma`, Dekker's product without).
fn two_prod<T: MathFloat>(fma: bool, a: T, c: T) -> (T, T) {
    let p = a * c;
    if fma {
        return (p, a.fused_mul_add(c, -p));
    }
    let split = |v: T| {
        let t = v * T::c(split_const(T::IS_F32));
        let d = t - v;
        let hi = t - d;
        (hi, v - hi)
    };
    let (ah, al) = split(a);
    let (ch, cl) = split(c);
    let e = ah * ch - p;
    let e = e + ah * cl;
    let e = e + al * ch;
    (p, e + al * cl)
}

/// `e^x`: `x = n ln2 + r` (Cody–Waite, `n = nearest(x log2 e)`), the
/// Taylor polynomial of `e^r`, the scaling by `2^n` in two halves; `0`
/// below and `inf` above [`exp_range`]; NaN propagates.
pub fn exp<T: MathFloat>(x: T, fma: bool) -> T {
    exp_parts(x, None, fma)
}

/// `e^(hi + lo)` for a double-word argument (`pow`'s last step).
pub fn exp_dd<T: MathFloat>(hi: T, lo: T, fma: bool) -> T {
    exp_parts(hi, Some(lo), fma)
}

fn exp_parts<T: MathFloat>(x: T, lo: Option<T>, fma: bool) -> T {
    let f32 = T::IS_F32;
    let (ln2_hi, ln2_lo, _) = exp_reduction(f32);
    let (lo_lim, hi_lim) = exp_range(f32);
    let (lo_lim, hi_lim) = (T::c(lo_lim), T::c(hi_lim));
    let lo = lo.map(|lo| {
        if x >= lo_lim && x <= hi_lim {
            lo
        } else {
            T::c(0.0)
        }
    });
    let under = x < lo_lim;
    let over = x > hi_lim;
    let t = x * T::c(std::f64::consts::LOG2_E);
    let n = t.round_even();
    let nn = -n;
    let r = ma(fma, nn, T::c(ln2_hi), x);
    let (r, rl) = match lo {
        None => (ma(fma, nn, T::c(ln2_lo), r), None),
        Some(lo) => {
            let tail = ma(fma, nn, T::c(ln2_lo), lo);
            let (r, rl) = two_sum(r, tail);
            (r, Some(rl))
        }
    };
    let h = n * T::c(0.5);
    let n1 = h.floor_();
    let n2 = n - n1;
    let s1 = pow2(n1);
    let s2 = pow2(n2);
    let y = poly_scaled(fma, r, &tables().exp[usize::from(f32)], s1);
    let y = match rl {
        Some(rl) => ma(fma, y, rl, y),
        None => y,
    };
    let y = y * s2;
    let y = if under { T::c(0.0) } else { y };
    if over {
        T::c(f64::INFINITY)
    } else {
        y
    }
}

/// `tanh(x) = sign(x) e / (e + 2)` with `e = expm1(2|x|)`: a Taylor
/// polynomial below [`TANH_SMALL`], `exp(2|x|) - 1` from it on; `|x|`
/// clamped where `tanh` rounds to 1.
pub fn tanh<T: MathFloat>(x: T, fma: bool) -> T {
    let f32 = T::IS_F32;
    let (clamp, _) = tanh_params(f32);
    let ax = x.abs_();
    let cl = T::c(clamp);
    let ax = if ax > cl { cl } else { ax };
    let y = ax + ax;
    let q = poly(fma, y, &tables().tanh[usize::from(f32)]);
    let e_small = q * y;
    let ey = exp(y, fma);
    let e_big = ey - T::c(1.0);
    let e = if y < T::c(TANH_SMALL) { e_small } else { e_big };
    let d = e + T::c(2.0);
    (e / d).copysign_(x)
}

/// `1 / (1 + e^-x)` with this module's `exp`.
pub fn sigmoid<T: MathFloat>(x: T, fma: bool) -> T {
    let e = exp(-x, fma);
    let one = T::c(1.0);
    one / (one + e)
}

/// `ln(x)`: `x = 2^k m`, `m` in `[sqrt(1/2), sqrt(2))`, `ln(m) = f - h + s
/// (h + R(s^2))` with `f = m - 1`, `s = f/(2+f)`, `h = f^2/2` (fdlibm's
/// arrangement), `k ln2` in two parts; `ln(±0) = -inf`, `ln(x < 0) = NaN`,
/// `ln(inf) = inf`, NaN propagates.
pub fn log<T: MathFloat>(x: T, fma: bool) -> T {
    let f32 = T::IS_F32;
    let (kf, m) = log_reduce(x);
    let one = T::c(1.0);
    let zero = T::c(0.0);
    let f = m - one;
    let d = f + T::c(2.0);
    let s = f / d;
    let z = s * s;
    let rz = poly(fma, z, &tables().log[usize::from(f32)]);
    let r = rz * z;
    let hfsq = f * f * T::c(0.5);
    let (ln2_hi, ln2_lo) = log_ln2(f32);
    let hr = hfsq + r;
    let shr = s * hr;
    let klo = kf * T::c(ln2_lo);
    let t = shr + klo;
    let t = hfsq - t;
    let t = t - f;
    let khi = kf * T::c(ln2_hi);
    let res = khi - t;
    let inf = T::c(f64::INFINITY);
    let res = if x == inf { inf } else { res };
    let bad = if x == zero {
        T::c(f64::NEG_INFINITY)
    } else {
        T::c(f64::NAN)
    };
    if x > zero {
        res
    } else {
        bad
    }
}

/// `x = 2^k m` for positive finite `x` (subnormals scaled first), `m` in
/// `[sqrt(1/2), sqrt(2)]`: `(k, m)`. Other arguments give unspecified
/// values.
fn log_reduce<T: MathFloat>(x: T) -> (T, T) {
    let c = log_reduce_consts(T::IS_F32);
    let sub = x < T::c(c.min_normal);
    let xs = x * T::c(2f64.powi(c.scale_exp as i32));
    let xn = if sub { xs } else { x };
    let kadj = if sub {
        T::c(-(c.scale_exp as f64))
    } else {
        T::c(0.0)
    };
    let bits = xn.raw_bits();
    let e = bits >> c.mant_bits;
    let ef = T::from_raw_bits(e | c.magic_bits as u64);
    let kf = ef - T::from_raw_bits(c.magic_bits as u64);
    let kf = kf - T::c(c.bias);
    let kf = kf + kadj;
    let mb = (bits & ((1u64 << c.mant_bits) - 1)) | c.one_bits as u64;
    let m = T::from_raw_bits(mb);
    let big = m > T::c(std::f64::consts::SQRT_2);
    let mh = m * T::c(0.5);
    let m = if big { mh } else { m };
    let kf1 = kf + T::c(1.0);
    let kf = if big { kf1 } else { kf };
    (kf, m)
}

/// `sin(x)`: with `fma`, `x = k pi/2 + r` (`pi/2` in three parts, each
/// step fused), the Taylor polynomials of `sin` and `cos` on `|r| <= pi/4`
/// and the quadrant `k mod 4`; libm's `sin` for `|x|` beyond
/// [`trig_limit`] (and infinities). Without `fma`, libm's `sin`.
pub fn sin<T: MathFloat>(x: T, fma: bool) -> T {
    if !fma {
        return x.libm_sin();
    }
    sincos(x, false)
}

/// `cos(x)`, as [`sin`].
pub fn cos<T: MathFloat>(x: T, fma: bool) -> T {
    if !fma {
        return x.libm_cos();
    }
    sincos(x, true)
}

fn sincos<T: MathFloat>(x: T, cos: bool) -> T {
    let f32 = T::IS_F32;
    if x.abs_() > T::c(trig_limit(f32)) {
        return if cos { x.libm_cos() } else { x.libm_sin() };
    }
    let fma = true;
    let (p1, p2, p3) = pi_over_2_parts(f32);
    let t = x * T::c(std::f64::consts::FRAC_2_PI);
    let k = t.round_even();
    let nk = -k;
    let r = ma(fma, nk, T::c(p1), x);
    let r = ma(fma, nk, T::c(p2), r);
    let r = ma(fma, nk, T::c(p3), r);
    let z = r * r;
    let tb = tables();
    let sp = poly(fma, z, &tb.sin[usize::from(f32)]);
    let rz = r * z;
    let s = ma(fma, rz, sp, r);
    let cp = poly(fma, z, &tb.cos[usize::from(f32)]);
    let c = ma(fma, z, cp, T::c(1.0));
    let kq = (k * T::c(0.25)).floor_();
    let q = ma(fma, -kq, T::c(4.0), k);
    let q1 = q == T::c(1.0);
    let q2 = q == T::c(2.0);
    let q3 = q == T::c(3.0);
    let odd = q1 | q3;
    let (base, neg) = if cos {
        (if odd { s } else { c }, q1 | q2)
    } else {
        (if odd { c } else { s }, q2 | q3)
    };
    let fast = if neg { -base } else { base };
    if !cos && x == T::c(0.0) {
        // sin(±0) = ±0.
        return x;
    }
    fast
}

/// `pow(x, y)`: `|x|^y = e^(y ln|x|)` with `ln|x|` in double-word
/// precision and `e^(ph + pl)` by [`exp_dd`]; special values as C99
/// Annex F (`pow(x, ±0) = pow(1, y) = pow(-1, ±inf) = 1`, a negative `x`
/// takes its sign from an odd integral `y`, NaN for a finite negative `x`
/// and non-integral `y`).
pub fn pow<T: MathFloat>(x: T, y: T, fma: bool) -> T {
    let ax = x.abs_();
    let (lh, ll) = log_dd(ax, fma);
    let (ph, e) = two_prod(fma, y, lh);
    let mut pl = ma(fma, y, ll, e);
    if !fma && pl.is_nan_() {
        // Dekker's splitting of a huge `y` overflows to a NaN error term.
        pl = T::c(0.0);
    }
    let mag = exp_dd(ph, pl, fma);
    special_cases(x, y, mag)
}

/// `ln(ax) = lh + ll` for `ax >= 0` in double-word precision.
fn log_dd<T: MathFloat>(ax: T, fma: bool) -> (T, T) {
    let f32 = T::IS_F32;
    let (k, m) = log_reduce(ax);
    let one = T::c(1.0);
    let f = m - one;
    let (dh, dl) = fast_two_sum(one, m);
    let rd = one / dh;
    let sh = f * rd;
    let (p, pe) = two_prod(fma, sh, dh);
    let rem = f - p;
    let rem = rem - pe;
    let rem = ma(fma, -sh, dl, rem);
    let sl = rem * rd;
    let (zh, zl) = two_prod(fma, sh, sh);
    let sh2 = sh + sh;
    let zl = ma(fma, sh2, sl, zl);
    let pz = poly(fma, zh, &tables().pow[usize::from(f32)]);
    let q = zh * pz;
    let (c3h, c3l) = two_thirds(f32);
    let (uh, ul) = fast_two_sum(T::c(c3h), q);
    let ul = ul + T::c(c3l);
    let (wh, wl) = two_prod(fma, sh, zh);
    let wl = ma(fma, sh, zl, wl);
    let wl = ma(fma, sl, zh, wl);
    let (vh, vl) = two_prod(fma, wh, uh);
    let vl = ma(fma, wh, ul, vl);
    let vl = ma(fma, wl, uh, vl);
    let (ln2_hi, ln2_lo, _) = exp_reduction(f32);
    let kh = k * T::c(ln2_hi);
    let kl = k * T::c(ln2_lo);
    let (a1, e1) = fast_two_sum(kh, sh2);
    let (a2, e2) = fast_two_sum(a1, vh);
    let sl2 = sl + sl;
    let lo = kl + sl2;
    let lo = lo + vl;
    let lo = lo + e1;
    let lo = lo + e2;
    let (lh, ll) = fast_two_sum(a2, lo);
    let lh = if ax == T::c(0.0) {
        T::c(f64::NEG_INFINITY)
    } else {
        lh
    };
    let inf = T::c(f64::INFINITY);
    let lh = if ax == inf { inf } else { lh };
    (lh, ll)
}

fn special_cases<T: MathFloat>(x: T, y: T, mag: T) -> T {
    let yf = y.floor_();
    let is_int = yf == y;
    let h = y * T::c(0.5);
    let odd = is_int && h.floor_() != h;
    let r = if odd { mag.copysign_(x) } else { mag };
    let zero = T::c(0.0);
    let neg_fin = x < zero && x > T::c(f64::NEG_INFINITY);
    let bad = neg_fin && yf != y;
    let nan_case = bad || x.is_nan_() || y.is_nan_();
    let one = T::c(1.0);
    let y_inf = y.abs_() == T::c(f64::INFINITY);
    let is_one = y == zero || x == one || (x == -one && y_inf);
    if nan_case || is_one {
        if is_one {
            one
        } else {
            T::c(f64::NAN)
        }
    } else {
        r
    }
}
