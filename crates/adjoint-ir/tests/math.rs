//! The polynomial reference of `adjoint_ir::math` on its own: exact
//! special values, the documented accuracy against libm (docs/ir.md §14)
//! on a sample, and the mode dispatch.

use adjoint_ir::math::{self, MathMode};
use adjoint_ir::UnaryOp;

/// Distance in ulp between two finite f64 (or f32 widened) values.
fn ulps64(a: f64, b: f64) -> u64 {
    let key = |x: f64| {
        let i = x.to_bits() as i64;
        if i < 0 {
            i64::MIN as i128 - i as i128
        } else {
            i as i128
        }
    };
    (key(a) - key(b)).unsigned_abs() as u64
}

fn ulps32(a: f32, b: f32) -> u64 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 {
            i64::from(i32::MIN) - i64::from(i)
        } else {
            i64::from(i)
        }
    };
    key(a).abs_diff(key(b))
}

/// A deterministic sample in `[lo, hi)`.
fn sample(n: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

#[test]
fn special_values_are_exact() {
    for fma in [true, false] {
        assert_eq!(math::exp(0.0f64, fma), 1.0);
        assert_eq!(math::exp(f64::NEG_INFINITY, fma), 0.0);
        assert_eq!(math::exp(f64::INFINITY, fma), f64::INFINITY);
        assert_eq!(math::exp(710.0f64, fma), f64::INFINITY);
        assert_eq!(math::exp(-746.0f64, fma), 0.0);
        assert!(math::exp(f64::NAN, fma).is_nan());
        assert_eq!(math::log(1.0f64, fma), 0.0);
        assert_eq!(math::log(0.0f64, fma), f64::NEG_INFINITY);
        assert_eq!(math::log(-0.0f32, fma), f32::NEG_INFINITY);
        assert!(math::log(-1.0f64, fma).is_nan());
        assert_eq!(math::log(f64::INFINITY, fma), f64::INFINITY);
        let t = math::tanh(-0.0f64, fma);
        assert!(t == 0.0 && t.is_sign_negative());
        assert_eq!(math::tanh(f32::INFINITY, fma), 1.0);
        assert_eq!(math::tanh(f64::NEG_INFINITY, fma), -1.0);
        assert_eq!(math::sigmoid(f64::NEG_INFINITY, fma), 0.0);
        assert_eq!(math::sigmoid(f64::INFINITY, fma), 1.0);
        let s = math::sin(-0.0f64, fma);
        assert!(s == 0.0 && s.is_sign_negative());
        assert_eq!(math::cos(0.0f32, fma), 1.0);
        assert!(math::sin(f64::INFINITY, fma).is_nan());
        // C99 Annex F for pow.
        assert_eq!(math::pow(f64::NAN, 0.0, fma), 1.0);
        assert_eq!(math::pow(1.0, f64::NAN, fma), 1.0);
        assert_eq!(math::pow(-1.0, f64::INFINITY, fma), 1.0);
        assert_eq!(math::pow(-2.0f64, 3.0, fma), -8.0);
        assert!(math::pow(-2.0f64, 0.5, fma).is_nan());
        assert_eq!(math::pow(-0.0f64, -1.0, fma), f64::NEG_INFINITY);
        assert_eq!(math::pow(0.5f32, f32::NEG_INFINITY, fma), f32::INFINITY);
        assert_eq!(math::pow(2.0f64, 10.0, fma), 1024.0);
    }
}

/// The documented bounds against libm (docs/ir.md §14): `exp log sin cos
/// pow` 2 ulp, `tanh` 5, `sigmoid` 6.
#[test]
fn within_the_documented_bounds_of_libm() {
    let cases: [(UnaryOp, f64, f64, u64); 6] = [
        (UnaryOp::Exp, -80.0, 80.0, 2),
        (UnaryOp::Log, 1e-30, 1e30, 2),
        (UnaryOp::Sin, -900.0, 900.0, 2),
        (UnaryOp::Cos, -900.0, 900.0, 2),
        (UnaryOp::Tanh, -12.0, 12.0, 5),
        (UnaryOp::Sigmoid, -80.0, 80.0, 6),
    ];
    for (op, lo, hi, bound) in cases {
        for fma in [true, false] {
            let mode = MathMode::Poly { fma };
            for x in sample(20_000, lo, hi) {
                let got = math::unary(mode, op, x).unwrap();
                let want = math::unary(MathMode::Libm, op, x).unwrap();
                let d = ulps64(got, want);
                assert!(d <= bound, "{} f64 {x:e} (fma {fma}): {d} ulp", op.name());
                let x = x as f32;
                let got = math::unary(mode, op, x).unwrap();
                let want = math::unary(MathMode::Libm, op, x).unwrap();
                let d = ulps32(got, want);
                assert!(d <= bound, "{} f32 {x:e} (fma {fma}): {d} ulp", op.name());
            }
        }
    }
    for fma in [true, false] {
        let mode = MathMode::Poly { fma };
        for (x, y) in sample(20_000, 0.0, 50.0)
            .into_iter()
            .zip(sample(20_000, -15.0, 15.0).into_iter().rev())
        {
            let d = ulps64(math::powf(mode, x, y), x.powf(y));
            assert!(d <= 2, "pow f64 {x:e} {y:e} (fma {fma}): {d} ulp");
        }
    }
}

#[test]
fn the_mode_picks_the_functions() {
    // The example: f32 tanh 9 is 0.99999994 in libm, 1 in poly.
    assert_eq!(
        math::unary(MathMode::Libm, UnaryOp::Tanh, 9.0f32),
        Some(0.99999994)
    );
    assert_eq!(
        math::unary(MathMode::Poly { fma: true }, UnaryOp::Tanh, 9.0f32),
        Some(1.0)
    );
    assert_eq!(
        math::unary(MathMode::Poly { fma: true }, UnaryOp::Relu, 1.0f64),
        None
    );
    assert_eq!(math::powf(MathMode::Libm, 2.0f64, 0.5), 2.0f64.powf(0.5));
    // Without FMA, sin and cos are libm's.
    assert_eq!(math::sin(0.7f64, false), 0.7f64.sin());
    assert_eq!(MathMode::Poly { fma: false }.to_string(), "poly (no fma)");
}
