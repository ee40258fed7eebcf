//! The constants and coefficient tables of the polynomial functions, in
//! one place for both engines. Every value is given as an `f64`; the `f32`
//! functions use it rounded to `f32` (`as f32`, to nearest), which is
//! exact for every constant below whose `f32` variant is given as `f32`
//! bits. `f32` selects the dtype.

/// `ln 2 = hi + lo` in `f64`, `hi` with 21 trailing zero bits (so that
/// `n * hi` is exact for every exponent `n`): `exp`'s reduction and `log`'s
/// `k ln 2` share it.
const LN2_HI_F64: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
/// The low part of [`LN2_HI_F64`]'s split of `ln 2`.
const LN2_LO_F64: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// `ln 2 = hi + lo` for the argument reduction of `exp` (and `pow`'s
/// logarithm), with `hi` having trailing zero bits so that `n * hi` is
/// exact, and the degree of `exp`'s Taylor polynomial.
pub fn exp_reduction(f32: bool) -> (f64, f64, u32) {
    if f32 {
        (
            f64::from(f32::from_bits(0x3F31_7200)),
            f64::from(f32::from_bits(0x35BF_BE8E)),
            7,
        )
    } else {
        (LN2_HI_F64, LN2_LO_F64, 13)
    }
}

/// The argument range of `exp` outside of which the result is `0` (below)
/// or `inf` (above).
pub fn exp_range(f32: bool) -> (f64, f64) {
    if f32 {
        (-104.0, 89.0)
    } else {
        (-746.0, 710.0)
    }
}

/// `(magic, bias, shift)` of `2^n` from bits: `n + magic` holds `n` in its
/// low bits, `(bits + bias) << shift` is the result's bit pattern.
pub fn pow2_consts(f32: bool) -> (f64, i64, i64) {
    if f32 {
        (12_582_912.0, 127, 23)
    } else {
        (6_755_399_441_055_744.0, 1023, 52)
    }
}

/// `(clamp, degree)` of `tanh`: `|x|` is clamped to `clamp` (where `tanh`
/// rounds to 1), and `expm1` has a Taylor polynomial of `degree` below
/// [`TANH_SMALL`].
pub fn tanh_params(f32: bool) -> (f64, u32) {
    if f32 {
        (10.0, 11)
    } else {
        (20.0, 19)
    }
}

/// `tanh` uses the Taylor polynomial of `expm1(y)` for `y = 2|x|` below
/// this, and `exp(y) - 1` from it on.
pub const TANH_SMALL: f64 = 1.1;

/// The number of terms of `log`'s series `R(z) = sum 2/(2i+1) z^(i-1)`.
pub fn log_terms(f32: bool) -> u32 {
    if f32 {
        6
    } else {
        11
    }
}

/// `ln 2 = hi + lo` for `log`'s `k ln 2` (`hi` with trailing zero bits).
pub fn log_ln2(f32: bool) -> (f64, f64) {
    if f32 {
        (
            f64::from(f32::from_bits(0x3F31_7180)),
            f64::from(f32::from_bits(0x3717_F7D1)),
        )
    } else {
        (LN2_HI_F64, LN2_LO_F64)
    }
}

/// The bit-level constants of `log`'s reduction `x = 2^k m`.
#[derive(Clone, Copy, Debug)]
pub struct LogReduce {
    /// The smallest normal number; below it `x` is scaled first.
    pub min_normal: f64,
    /// Subnormals are multiplied by `2^scale_exp`.
    pub scale_exp: i64,
    /// Mantissa bits.
    pub mant_bits: i64,
    /// The exponent bias.
    pub bias: f64,
    /// The bits of `1.0`.
    pub one_bits: i64,
    /// The bits of `2^mant_bits`, whose low bits take the exponent.
    pub magic_bits: i64,
}

/// The constants of `log`'s reduction in the dtype.
pub fn log_reduce_consts(f32: bool) -> LogReduce {
    if f32 {
        LogReduce {
            min_normal: f64::from(f32::MIN_POSITIVE),
            scale_exp: 25,
            mant_bits: 23,
            bias: 127.0,
            one_bits: 0x3F80_0000,
            magic_bits: 0x4B00_0000,
        }
    } else {
        LogReduce {
            min_normal: f64::MIN_POSITIVE,
            scale_exp: 54,
            mant_bits: 52,
            bias: 1023.0,
            one_bits: 0x3FF0_0000_0000_0000,
            magic_bits: 0x4330_0000_0000_0000,
        }
    }
}

/// The largest `|x|` whose `sin`/`cos` use the polynomial; beyond it (and
/// for infinities) the result is the libm function's.
pub fn trig_limit(f32: bool) -> f64 {
    if f32 {
        1.0e3
    } else {
        1.0e5
    }
}

/// `pi/2 = p1 + p2 + p3` in the dtype's precision, each part the rounded
/// remainder of the exact value.
pub fn pi_over_2_parts(f32: bool) -> (f64, f64, f64) {
    if f32 {
        (
            f64::from(f32::from_bits(0x3FC9_0FDB)),
            f64::from(f32::from_bits(0xB33B_BD2E)),
            f64::from(f32::from_bits(0xA6F7_2CED)),
        )
    } else {
        (
            std::f64::consts::FRAC_PI_2,
            f64::from_bits(0x3C91_A626_3314_5C07),
            f64::from_bits(0xB91F_1976_B7ED_8FBC),
        )
    }
}

/// The Taylor degrees of `sin` and `cos` on `|r| <= pi/4`.
pub fn sincos_degrees(f32: bool) -> (u32, u32) {
    if f32 {
        (11, 12)
    } else {
        (19, 20)
    }
}

/// The last index `i` of `pow`'s series `P(z) = sum_{i>=2} 2/(2i+1) z^(i-2)`.
pub fn pow_log_last(f32: bool) -> u32 {
    if f32 {
        7
    } else {
        12
    }
}

/// `2/3` as a double-word `hi + lo` in the dtype.
pub fn two_thirds(f32: bool) -> (f64, f64) {
    if f32 {
        let hi = 2.0f32 / 3.0;
        // 2/3 - hi to f64 precision: 2 - 3 hi is exact in f64.
        let lo = (2.0 - 3.0 * f64::from(hi)) / 3.0;
        (f64::from(hi), f64::from(lo as f32))
    } else {
        let hi = 2.0f64 / 3.0;
        // 2/3 - hi = (2 - 3 hi) / 3, and 2 - 3 hi is exact in f64.
        let lo = (-3.0f64).mul_add(hi, 2.0) / 3.0;
        (hi, lo)
    }
}

/// Dekker's splitting constant `2^ceil(p/2) + 1`.
pub fn split_const(f32: bool) -> f64 {
    if f32 {
        4097.0
    } else {
        134_217_729.0
    }
}

/// `1/k!` for `k = from..=to` (computed in f64).
pub fn inv_factorials(from: u32, to: u32) -> Vec<f64> {
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

/// `2/(2i+1)` for `i = from..=to` (the series of `2 atanh(s)/s`).
pub fn atanh_coeffs(from: u32, to: u32) -> Vec<f64> {
    (from..=to).map(|i| 2.0 / f64::from(2 * i + 1)).collect()
}

/// The Taylor coefficients of `sin` after `x`: `x^3, x^5, ...` up to
/// degree `deg`.
pub fn sin_coeffs(deg: u32) -> Vec<f64> {
    (1..=deg / 2)
        .map(|i| {
            let n = 2 * i + 1;
            let f: f64 = (1..=n).map(f64::from).product();
            if i % 2 == 1 {
                -1.0 / f
            } else {
                1.0 / f
            }
        })
        .collect()
}

/// The Taylor coefficients of `cos` after `1`: `x^2, x^4, ...` up to
/// degree `deg`.
pub fn cos_coeffs(deg: u32) -> Vec<f64> {
    (1..=deg / 2)
        .map(|i| {
            let n = 2 * i;
            let f: f64 = (1..=n).map(f64::from).product();
            if i % 2 == 1 {
                -1.0 / f
            } else {
                1.0 / f
            }
        })
        .collect()
}
