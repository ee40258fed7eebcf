//! The polynomial `exp`, `tanh` and `sigmoid` against the interpreter's std
//! functions: measured maximum error in ulp (the bound documented in
//! docs/performance.md), and IEEE special values exactly.

mod common;

use adjoint_ir::{DType, Graph, Op, Tensor, TensorType, UnaryOp};
use adjoint_jit::JitOptions;
use common::*;

/// The documented bounds, in ulp, in f32 and f64 (docs/performance.md).
/// Measured maxima over these inputs: exp 1, tanh 4, sigmoid 4.
fn bound(u: UnaryOp) -> u64 {
    match u {
        UnaryOp::Exp | UnaryOp::Log => 2,
        UnaryOp::Sin | UnaryOp::Cos => 2,
        UnaryOp::Tanh => 5,
        _ => 6,
    }
}

fn graph(u: UnaryOp, dt: DType, n: usize) -> Graph {
    let mut g = Graph::new(u.name());
    let x = g.add_param("x", TensorType::new(dt, [n])).unwrap();
    let y = g.add(Op::Unary(u), &[x]).unwrap();
    g.set_outputs(vec![y]);
    g
}

fn reference(u: UnaryOp, dt: DType, x: f64) -> f64 {
    match (u, dt) {
        (UnaryOp::Exp, DType::F32) => (x as f32).exp() as f64,
        (UnaryOp::Log, DType::F32) => (x as f32).ln() as f64,
        (UnaryOp::Log, _) => x.ln(),
        (UnaryOp::Sin, DType::F32) => (x as f32).sin() as f64,
        (UnaryOp::Cos, DType::F32) => (x as f32).cos() as f64,
        (UnaryOp::Sin, _) => x.sin(),
        (UnaryOp::Cos, _) => x.cos(),
        (UnaryOp::Tanh, DType::F32) => (x as f32).tanh() as f64,
        (UnaryOp::Sigmoid, DType::F32) => (1.0 / (1.0 + (-(x as f32)).exp())) as f64,
        (UnaryOp::Exp, _) => x.exp(),
        (UnaryOp::Tanh, _) => x.tanh(),
        (UnaryOp::Sigmoid, _) => 1.0 / (1.0 + (-x).exp()),
        _ => unreachable!(),
    }
}

/// Inputs covering the interesting ranges: tiny, around 0, the polynomial
/// switch points, up to overflow and underflow.
fn inputs(u: UnaryOp, dt: DType) -> Vec<f64> {
    if matches!(u, UnaryOp::Sin | UnaryOp::Cos) {
        // Within the polynomial range, around multiples of pi/2, small, and
        // beyond the range (host path).
        let lim = if dt == DType::F32 { 1.0e3 } else { 1.0e5 };
        let mut v = data(200_000, 86, -lim, lim);
        v.extend(data(50_000, 87, -10.0, 10.0));
        v.extend((1..2000).flat_map(|k| {
            let c = k as f64 * std::f64::consts::FRAC_PI_2;
            [c, -c, c + 1e-9, c - 1e-9]
        }));
        v.extend(data(10_000, 88, -1e-6, 1e-6));
        v.extend(data(10_000, 89, -1e8, 1e8));
        if dt == DType::F32 {
            // Multiples of pi/2 near the f32 grid are checked by the
            // interpreter's own f32 functions: keep them in range.
            v.retain(|x| x.abs() < 1e8);
        }
        return v;
    }
    if u == UnaryOp::Log {
        // Log-uniform over every binade (subnormals included), and around 1.
        let (lo, hi) = if dt == DType::F32 {
            (-149.0, 128.0)
        } else {
            (-1074.0, 1024.0)
        };
        let mut v: Vec<f64> = data(200_000, 83, lo, hi)
            .iter()
            .map(|&e| 2f64.powf(e))
            .collect();
        v.extend(data(100_000, 84, 0.5, 2.0));
        v.extend(data(20_000, 85, 1.0 - 1e-6, 1.0 + 1e-6));
        if dt == DType::F32 {
            v.retain(|x| (*x as f32).is_finite() && *x as f32 > 0.0);
        }
        return v;
    }
    let (lo, hi) = match (u, dt) {
        (UnaryOp::Exp, DType::F32) => (-104.5, 89.5),
        (UnaryOp::Exp, _) => (-746.0, 710.0),
        (_, DType::F32) => (-20.0, 20.0),
        _ => (-40.0, 40.0),
    };
    let mut v = data(200_000, 80, lo, hi);
    v.extend(data(100_000, 81, -1.5, 1.5));
    v.extend(data(20_000, 82, -1e-3, 1e-3));
    v.extend((0..2000).map(|i| 1e-30 * (i as f64 - 1000.0)));
    v.extend((0..4000).map(|i| -1.0 + i as f64 / 2000.0));
    v
}

#[test]
fn transcendental_ulp_bounds() {
    let mut report = Vec::new();
    for u in [
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
    ] {
        for (dt, fma) in FLOATS.iter().flat_map(|&d| [(d, true), (d, false)]) {
            let xs = inputs(u, dt);
            let ty = TensorType::new(dt, [xs.len()]);
            let x = tensor(&ty, &xs);
            let opts = JitOptions {
                fma,
                ..JitOptions::default()
            };
            let got = jit_run_opts(&graph(u, dt, xs.len()), std::slice::from_ref(&x), &opts);
            let got = got[0].to_f64_vec();
            let mut worst = (0u64, 0.0f64);
            for (i, xv) in x.to_f64_vec().iter().enumerate() {
                let want = reference(u, dt, *xv);
                let d = ulps(dt, got[i], want);
                if d > worst.0 {
                    worst = (d, *xv);
                }
            }
            report.push(format!(
                "{} {dt} (fma {fma}): max {} ulp (at x = {:e})",
                u.name(),
                worst.0,
                worst.1
            ));
            assert!(
                worst.0 <= bound(u),
                "{} {dt}: {} ulp at x = {:e}",
                u.name(),
                worst.0,
                worst.1
            );
        }
    }
    println!("{}", report.join("\n"));
}

#[test]
fn ieee_special_values() {
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        710.0,
        709.78,
        -745.2,
        -746.0,
        1e300,
        -1e300,
        89.0,
        88.7,
        -104.0,
        -103.9,
        f64::MIN_POSITIVE,
        -5e-324,
    ];
    for u in [
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
    ] {
        for dt in FLOATS {
            // Lengths 3 (scalar tail only) and 17 (vector steps and a tail).
            for reps in [1usize, 5] {
                let mut xs = Vec::new();
                for _ in 0..reps {
                    xs.extend_from_slice(&specials);
                }
                let n = xs.len();
                let ty = TensorType::new(dt, [n]);
                let x = tensor(&ty, &xs);
                let got = jit_run(&graph(u, dt, n), std::slice::from_ref(&x));
                for (i, (&g, xv)) in got[0].to_f64_vec().iter().zip(x.to_f64_vec()).enumerate() {
                    let want = reference(u, dt, xv);
                    let exact_needed = want.is_nan()
                        || want.is_infinite()
                        || want == 0.0
                        || want.abs() == 1.0
                        || xv.is_infinite();
                    if exact_needed {
                        assert!(
                            (g.is_nan() && want.is_nan()) || g.to_bits() == want.to_bits(),
                            "{} {dt} x[{i}] = {xv:e}: {g:e} vs {want:e}",
                            u.name()
                        );
                    } else {
                        let d = ulps(dt, g, want);
                        assert!(
                            d <= bound(u),
                            "{} {dt} x = {xv:e}: {g:e} vs {want:e}",
                            u.name()
                        );
                    }
                }
            }
        }
    }
    // The named cases.
    let one = |u: UnaryOp, x: f64| {
        let t = Tensor::from_f64([1], vec![x]).unwrap();
        jit_run(&graph(u, DType::F64, 1), &[t])[0].to_f64_vec()[0]
    };
    assert_eq!(one(UnaryOp::Exp, f64::INFINITY), f64::INFINITY);
    assert_eq!(one(UnaryOp::Exp, 710.0), f64::INFINITY);
    assert_eq!(one(UnaryOp::Exp, f64::NEG_INFINITY), 0.0);
    assert_eq!(one(UnaryOp::Exp, -746.0), 0.0);
    assert!(one(UnaryOp::Exp, f64::NAN).is_nan());
    assert_eq!(one(UnaryOp::Exp, 0.0), 1.0);
    assert_eq!(one(UnaryOp::Tanh, f64::INFINITY), 1.0);
    assert_eq!(one(UnaryOp::Tanh, f64::NEG_INFINITY), -1.0);
    assert!(one(UnaryOp::Tanh, -0.0).is_sign_negative());
    assert!(one(UnaryOp::Tanh, f64::NAN).is_nan());
    assert_eq!(one(UnaryOp::Sigmoid, f64::NEG_INFINITY), 0.0);
    assert_eq!(one(UnaryOp::Sigmoid, f64::INFINITY), 1.0);
    assert_eq!(one(UnaryOp::Log, 0.0), f64::NEG_INFINITY);
    assert_eq!(one(UnaryOp::Log, -0.0), f64::NEG_INFINITY);
    assert!(one(UnaryOp::Log, -1.0).is_nan());
    assert!(one(UnaryOp::Log, f64::NAN).is_nan());
    assert_eq!(one(UnaryOp::Log, f64::INFINITY), f64::INFINITY);
    assert_eq!(one(UnaryOp::Log, 1.0), 0.0);
    assert!(one(UnaryOp::Sin, f64::INFINITY).is_nan());
    assert!(one(UnaryOp::Cos, f64::NEG_INFINITY).is_nan());
    assert!(one(UnaryOp::Sin, f64::NAN).is_nan());
    assert!(one(UnaryOp::Sin, -0.0).is_sign_negative());
    assert_eq!(one(UnaryOp::Cos, 0.0), 1.0);
    assert_eq!(one(UnaryOp::Sin, 1e300), 1e300f64.sin());
    assert_eq!(one(UnaryOp::Log, 5e-324), (5e-324f64).ln());
}
