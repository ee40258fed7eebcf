//! The accuracy of the polynomial math mode (`poly_math`, whose bits the
//! JIT's inline `exp`, `log`, `sin`, `cos`, `tanh`, `sigmoid` and `pow`
//! equal, see engine_contract.rs) against the libm mode (the interpreter's
//! std functions): measured maximum error in ulp (the bound documented in
//! docs/ir.md §14 and docs/performance.md), and IEEE special values
//! exactly.

mod common;

use adjoint_ir::{BinaryOp, DType, Graph, Op, Tensor, TensorType, UnaryOp};
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
        // Just outside exp's range (selected to inf / 0 at the end).
        710.5,
        -746.5,
        89.5,
        -104.5,
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

/// The documented bound of `pow`, in ulp, in f32 and f64 (measured maximum:
/// 1, with and without FMA).
const POW_BOUND: u64 = 2;

fn pow_graph(dt: DType, n: usize) -> Graph {
    let mut g = Graph::new("pow");
    let x = g.add_param("x", TensorType::new(dt, [n])).unwrap();
    let y = g.add_param("y", TensorType::new(dt, [n])).unwrap();
    let z = g.add(Op::Binary(BinaryOp::Pow), &[x, y]).unwrap();
    g.set_outputs(vec![z]);
    g
}

/// std's `powf` in `dt` (what the interpreter computes).
fn pow_reference(dt: DType, x: f64, y: f64) -> f64 {
    if dt == DType::F32 {
        f64::from((x as f32).powf(y as f32))
    } else {
        x.powf(y)
    }
}

/// Whether `got` is `want` bit for bit (NaN as any NaN) where `want` is
/// NaN, infinite, zero or ±1, and within the bound elsewhere.
fn pow_agrees(dt: DType, got: f64, want: f64) -> bool {
    if want.is_nan() || want.is_infinite() || want == 0.0 || want.abs() == 1.0 {
        (got.is_nan() && want.is_nan()) || got.to_bits() == want.to_bits()
    } else {
        ulps(dt, got, want) <= POW_BOUND
    }
}

/// Runs `pow` on `(x, y)` pairs, returning the inputs as the JIT saw them
/// (rounded to `dt`) and the results.
fn pow_run(dt: DType, pairs: &[(f64, f64)], opts: &JitOptions) -> Vec<(f64, f64, f64)> {
    let n = pairs.len();
    let ty = TensorType::new(dt, [n]);
    let xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let x = tensor(&ty, &xs);
    let y = tensor(&ty, &ys);
    let got = jit_run_opts(&pow_graph(dt, n), &[x.clone(), y.clone()], opts);
    x.to_f64_vec()
        .into_iter()
        .zip(y.to_f64_vec())
        .zip(got[0].to_f64_vec())
        .map(|((x, y), r)| (x, y, r))
        .collect()
}

/// `(x, y)` pairs over the ranges that matter: `x` log-uniform over the
/// whole positive range (subnormals included) with `y` chosen so that
/// `y ln x` spans every finite result (overflow and underflow edges and
/// subnormal results included); raw `x` in `(0, 1e300)` with `y` in
/// `±[0, 1000]`; `x` near 1 with large `y`; negative `x` with integral `y`;
/// small operands.
fn pow_inputs(dt: DType) -> Vec<(f64, f64)> {
    let f32 = dt == DType::F32;
    let (emin, emax, tmin, tmax, tsub) = if f32 {
        (-149.0, 128.0, -103.9, 88.72, -87.3)
    } else {
        (-1074.0, 1024.0, -745.1, 709.78, -708.4)
    };
    let logx = |e: &[f64]| -> Vec<f64> { e.iter().map(|&e| 2f64.powf(e)).collect() };
    let mut v = Vec::new();
    // Every finite result.
    let xs = logx(&data(100_000, 100, emin, emax));
    let ts = data(100_000, 101, tmin, tmax);
    v.extend(xs.iter().zip(&ts).map(|(&x, &t)| (x, t / x.ln())));
    // Near overflow, and subnormal results.
    let xs = logx(&data(40_000, 102, emin, emax));
    let hi = data(20_000, 103, tmax - 10.0, tmax);
    let lo = data(20_000, 104, tmin, tsub);
    v.extend(
        xs.iter()
            .zip(hi.iter().chain(&lo))
            .map(|(&x, &t)| (x, t / x.ln())),
    );
    // Raw ranges (many results overflow or underflow).
    let xmax = if f32 { 3e38 } else { 1e300 };
    let xs = data(50_000, 105, 0.0, xmax);
    let xl = logx(&data(50_000, 106, emin, xmax.log2()));
    let ys = data(100_000, 107, -1000.0, 1000.0);
    v.extend(xs.iter().chain(&xl).zip(&ys).map(|(&x, &y)| (x, y)));
    // x near 1 with large y.
    let ds = data(30_000, 108, -1e-3, 1e-3);
    let ts = data(30_000, 109, tmin, tmax);
    v.extend(ds.iter().zip(&ts).map(|(&d, &t)| {
        let x = 1.0 + d * d.abs();
        (x, t / (x as f32 as f64).ln())
    }));
    // Negative x, integral y.
    let xs = data(30_000, 110, -4.0, -0.25);
    let ys = data(30_000, 111, -60.0, 60.0);
    v.extend(xs.iter().zip(&ys).map(|(&x, &y)| (x, y.round())));
    let xs = logx(&data(20_000, 112, emin / 4.0, emax / 4.0));
    let ys = data(20_000, 113, -4.0, 4.0);
    v.extend(xs.iter().zip(&ys).map(|(&x, &y)| (-x, y.round())));
    // Small operands.
    let xs = data(30_000, 114, 0.0, 10.0);
    let ys = data(30_000, 115, -4.0, 4.0);
    v.extend(xs.iter().zip(&ys).map(|(&x, &y)| (x, y)));
    v.extend((1..=40).flat_map(|x| (-20..=20).map(move |y| (f64::from(x), f64::from(y)))));
    if f32 {
        v.retain(|&(x, y)| (x as f32).is_finite() && (y as f32).is_finite());
    }
    // Not a multiple of four: the scalar tail runs too.
    v.truncate(v.len() / 4 * 4 - 1);
    v
}

#[test]
fn pow_ulp_bounds() {
    let mut report = Vec::new();
    for dt in FLOATS {
        let pairs = pow_inputs(dt);
        for (fma, simd) in [(true, true), (false, true), (true, false), (false, false)] {
            let opts = JitOptions {
                fma,
                simd,
                ..JitOptions::default()
            };
            let mut worst = (0u64, 0.0, 0.0);
            let mut hist = [0usize; 3];
            for (x, y, got) in pow_run(dt, &pairs, &opts) {
                let want = pow_reference(dt, x, y);
                let d = ulps(dt, got, want);
                hist[(d as usize).min(2)] += 1;
                if d > worst.0 {
                    worst = (d, x, y);
                }
            }
            report.push(format!(
                "pow {dt} (fma {fma}, simd {simd}): max {} ulp (at x = {:e}, y = {:e}) over {} pairs; {} off by 1 ulp",
                worst.0,
                worst.1,
                worst.2,
                pairs.len(),
                hist[1]
            ));
            assert!(
                worst.0 <= POW_BOUND,
                "pow {dt} (fma {fma}, simd {simd}): {} ulp at x = {:e}, y = {:e}",
                worst.0,
                worst.1,
                worst.2
            );
        }
    }
    println!("{}", report.join("\n"));
}

/// Every length around the vector steps (scalar tails of 1 to 3).
#[test]
fn pow_every_tail_length() {
    for dt in FLOATS {
        for n in LENS {
            let xs = data(n, 120, 0.0, 8.0);
            let ys = data(n, 121, -6.0, 6.0);
            let pairs: Vec<(f64, f64)> = xs.into_iter().zip(ys).collect();
            for (x, y, got) in pow_run(dt, &pairs, &JitOptions::default()) {
                let want = pow_reference(dt, x, y);
                assert!(
                    ulps(dt, got, want) <= POW_BOUND,
                    "pow {dt} n = {n}: pow({x:e}, {y:e}) = {got:e}, want {want:e}"
                );
            }
        }
    }
}

/// C99 Annex F's special cases (std's `powf`), hand-derived, bit for bit
/// (NaN as any NaN), in f32 and f64, scalar and vector.
#[test]
fn pow_special_cases_exact() {
    let (nan, inf) = (f64::NAN, f64::INFINITY);
    let mut table: Vec<(f64, f64, f64)> = vec![
        // pow(x, ±0) = 1 for any x, even NaN.
        (nan, 0.0, 1.0),
        (nan, -0.0, 1.0),
        (inf, 0.0, 1.0),
        (-inf, -0.0, 1.0),
        (0.0, 0.0, 1.0),
        (-0.0, -0.0, 1.0),
        (-3.5, 0.0, 1.0),
        // pow(1, y) = 1 for any y, even NaN; pow(-1, ±inf) = 1.
        (1.0, nan, 1.0),
        (1.0, inf, 1.0),
        (1.0, -inf, 1.0),
        (1.0, -7.5, 1.0),
        (-1.0, inf, 1.0),
        (-1.0, -inf, 1.0),
        // NaN otherwise.
        (nan, 1.0, nan),
        (nan, -inf, nan),
        (2.0, nan, nan),
        (-1.0, nan, nan),
        (0.0, nan, nan),
        (inf, nan, nan),
        // x < 0: the sign from the parity of an integral y.
        (-2.0, 3.0, -8.0),
        (-2.0, 2.0, 4.0),
        (-2.0, -1.0, -0.5),
        (-2.0, -2.0, 0.25),
        (-1.0, 5.0, -1.0),
        (-1.0, 4.0, 1.0),
        (-1.0, 9_007_199_254_740_992.0, 1.0),
        (-0.5, 1.0, -0.5),
        // Finite x < 0, finite non-integral y: NaN.
        (-2.0, 0.5, nan),
        (-0.5, -1.5, nan),
        (-1.0, 0.5, nan),
        (-1e-30, 2.5, nan),
        // pow(±0, y).
        (0.0, -3.0, inf),
        (-0.0, -3.0, -inf),
        (-0.0, -1.0, -inf),
        (0.0, -2.0, inf),
        (-0.0, -2.0, inf),
        (-0.0, -0.5, inf),
        (0.0, -inf, inf),
        (-0.0, -inf, inf),
        (0.0, 3.0, 0.0),
        (-0.0, 3.0, -0.0),
        (-0.0, 1.0, -0.0),
        (-0.0, 2.0, 0.0),
        (-0.0, 0.5, 0.0),
        (0.0, inf, 0.0),
        (-0.0, inf, 0.0),
        // pow(x, ±inf).
        (0.5, -inf, inf),
        (-0.5, -inf, inf),
        (2.0, -inf, 0.0),
        (-2.0, -inf, 0.0),
        (0.5, inf, 0.0),
        (-0.5, inf, 0.0),
        (2.0, inf, inf),
        (-2.0, inf, inf),
        // pow(±inf, y).
        (-inf, -3.0, -0.0),
        (-inf, -2.0, 0.0),
        (-inf, -0.5, 0.0),
        (-inf, -inf, 0.0),
        (-inf, 3.0, -inf),
        (-inf, 1.0, -inf),
        (-inf, 2.0, inf),
        (-inf, 0.5, inf),
        (-inf, inf, inf),
        (inf, -1.0, 0.0),
        (inf, -inf, 0.0),
        (inf, 0.5, inf),
        (inf, inf, inf),
        // Exact powers of two, and the last subnormals.
        (2.0, 10.0, 1024.0),
        (0.5, 3.0, 0.125),
        (4.0, 0.5, 2.0),
    ];
    let per_dtype = |dt: DType| {
        let mut t = table.clone();
        if dt == DType::F32 {
            t.extend([
                (10.0, 40.0, inf),
                (-10.0, 41.0, -inf),
                (10.0, -50.0, 0.0),
                (-10.0, -51.0, -0.0),
                (2.0, -149.0, f64::from(f32::from_bits(1))),
                (-2.0, -149.0, -f64::from(f32::from_bits(1))),
                (2.0, -150.0, 0.0),
                (2.0, 128.0, inf),
                (
                    f64::from(f32::from_bits(1)),
                    1.0,
                    f64::from(f32::from_bits(1)),
                ),
                (f64::from(f32::MAX), 1.0, f64::from(f32::MAX)),
                (-1.0, 16_777_216.0, 1.0),
                (-1.0, 8_388_609.0, -1.0),
                (-inf, 8_388_609.0, -inf),
                (-0.0, -8_388_609.0, -inf),
            ]);
        } else {
            t.extend([
                (10.0, 400.0, inf),
                (-10.0, 401.0, -inf),
                (10.0, -400.0, 0.0),
                (-10.0, -401.0, -0.0),
                (2.0, -1074.0, 5e-324),
                (-2.0, -1073.0, -1e-323),
                (2.0, -1075.0, 0.0),
                (2.0, 1024.0, inf),
                (5e-324, 1.0, 5e-324),
                (f64::MAX, 1.0, f64::MAX),
                (f64::MAX, -1.0, 1.0 / f64::MAX),
                (-1.0, 9_007_199_254_740_993.0, 1.0),
                (-1.0, 9_007_199_254_740_991.0, -1.0),
                (-inf, 9_007_199_254_740_991.0, -inf),
                (-0.0, -9_007_199_254_740_991.0, -inf),
                (-1.0, f64::MAX, 1.0),
                (1e300, 1e300, inf),
                (1e-300, 1e300, 0.0),
                (-1e-300, -1e300, inf),
            ]);
        }
        t
    };
    for dt in FLOATS {
        let t = per_dtype(dt);
        for (fma, simd) in [(true, true), (false, true), (true, false), (false, false)] {
            let opts = JitOptions {
                fma,
                simd,
                ..JitOptions::default()
            };
            let pairs: Vec<(f64, f64)> = t.iter().map(|&(x, y, _)| (x, y)).collect();
            for (i, (x, y, got)) in pow_run(dt, &pairs, &opts).into_iter().enumerate() {
                let want = t[i].2;
                let same =
                    |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
                assert!(
                    same(want, pow_reference(dt, x, y)),
                    "the table disagrees with std: pow({x:e}, {y:e}) = {want:e} in {dt}"
                );
                assert!(
                    same(got, want),
                    "pow {dt} (fma {fma}, simd {simd}): pow({x:e}, {y:e}) = {got:e}, want {want:e}"
                );
            }
        }
    }
    // Every pair of special operands against std, bit for bit.
    let specials = [
        nan,
        inf,
        -inf,
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
        3.0,
        -3.0,
        1.5,
        -1.5,
        f64::MIN_POSITIVE,
        -5e-324,
        f64::MAX,
        -f64::MAX,
    ];
    table.clear();
    for &x in &specials {
        for &y in &specials {
            table.push((x, y, 0.0));
        }
    }
    for dt in FLOATS {
        let pairs: Vec<(f64, f64)> = table.iter().map(|&(x, y, _)| (x, y)).collect();
        for (x, y, got) in pow_run(dt, &pairs, &JitOptions::default()) {
            let want = pow_reference(dt, x, y);
            assert!(
                pow_agrees(dt, got, want),
                "pow {dt}: pow({x:e}, {y:e}) = {got:e}, want {want:e}"
            );
        }
    }
}

/// A vector loop with `pow` is straight-line inline code: no host call
/// (and with `poly_math` off, the host call is there).
#[test]
fn pow_loop_has_no_host_call() {
    for dt in FLOATS {
        let clif = |poly_math: bool| {
            let opts = JitOptions {
                keep_clif: true,
                threads: 1,
                poly_math,
                ..JitOptions::default()
            };
            let f = adjoint_jit::compile(&pow_graph(dt, 4099), &opts).unwrap();
            f.clif().unwrap().to_string()
        };
        let calls = |t: &str| t.lines().filter(|l| l.contains(" call ")).count();
        let text = clif(true);
        assert_eq!(calls(&text), 0, "{dt}: {text}");
        let lanes = if dt == DType::F32 { "f32x4" } else { "f64x2" };
        assert!(text.contains(lanes), "{dt}: not vectorised: {text}");
        assert!(
            calls(&clif(false)) > 0,
            "{dt}: the host call is expected without poly_math"
        );
    }
}

/// Operands from random bit patterns (every class of value: NaN, infinite,
/// subnormal, huge, negative), `y` also as small integers and halves:
/// against std, bit for bit where the result is NaN, infinite, zero or ±1,
/// within the bound elsewhere.
#[test]
fn pow_random_bit_patterns() {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for dt in FLOATS {
        let bits = |v: u64| {
            if dt == DType::F32 {
                f64::from(f32::from_bits(v as u32))
            } else {
                f64::from_bits(v)
            }
        };
        let mut pairs = Vec::new();
        for i in 0..60_000 {
            let x = bits(next());
            let y = match i % 3 {
                0 => bits(next()),
                1 => (next() % 41) as f64 - 20.0,
                _ => ((next() % 41) as f64 - 20.0) / 2.0,
            };
            pairs.push((x, y));
        }
        for (fma, simd) in [(true, true), (false, false)] {
            let opts = JitOptions {
                fma,
                simd,
                ..JitOptions::default()
            };
            for (x, y, got) in pow_run(dt, &pairs, &opts) {
                let want = pow_reference(dt, x, y);
                assert!(
                    pow_agrees(dt, got, want),
                    "pow {dt} (fma {fma}, simd {simd}): pow({x:e}, {y:e}) = {got:e}, want {want:e}"
                );
            }
        }
    }
}
