//! The engine contract of docs/ir.md §14, checked exactly as it is stated:
//!
//! - every op but `matmul` gives the interpreter's bits in the JIT's math
//!   mode ([`JitOptions::math_mode`]): the polynomial reference of
//!   `adjoint_ir::math` with `poly_math`, libm without; on the vector,
//!   scalar and host-call paths alike;
//! - an op's result does not depend on the surrounding program (a small
//!   loop with many transcendentals against the op alone in a large loop),
//!   nor on the thread count, nor on `fold`;
//! - `matmul` is within the dot-product bound `|c - ĉ| <= γ_k |a||b|`.

mod common;

use adjoint_interp::{eval_with, EvalOptions};
use adjoint_ir::math::MathMode;
use adjoint_ir::{BinaryOp, DType, Graph, Op, Tensor, TensorType, UnaryOp};
use adjoint_jit::{compile, JitOptions, OptLevel};
use adjoint_passes::Pass;
use common::*;

const UNARY: [UnaryOp; 6] = [
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
];

/// The option sets whose math modes are checked: polynomials with and
/// without FMA (with `simd` on and off, optimised and not), and libm.
fn option_sets() -> Vec<JitOptions> {
    let d = JitOptions::default;
    vec![
        d(),
        JitOptions { simd: false, ..d() },
        JitOptions {
            opt_level: OptLevel::None,
            ..d()
        },
        JitOptions { fma: false, ..d() },
        JitOptions {
            poly_math: false,
            ..d()
        },
    ]
}

/// Random bit patterns of the dtype (every exponent, subnormals, NaNs and
/// infinities included), as f64 values exactly representable in it.
fn random_bits(dt: DType, n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            match dt {
                DType::F32 => f64::from(f32::from_bits(s as u32)),
                _ => f64::from_bits(s),
            }
        })
        .collect()
}

/// Inputs for `u` in `dt`: its interesting range, the IEEE special
/// values, and random bit patterns.
fn unary_inputs(u: UnaryOp, dt: DType) -> Vec<f64> {
    let f32 = dt == DType::F32;
    let mut v = match u {
        UnaryOp::Exp | UnaryOp::Sigmoid => data(3000, 1, -120.0, 120.0),
        UnaryOp::Log => data(3000, 2, 0.0, 10.0),
        UnaryOp::Sin | UnaryOp::Cos => {
            let lim = adjoint_ir::math::trig_limit(f32);
            let mut v = data(2000, 3, -1.2 * lim, 1.2 * lim);
            v.extend(data(1000, 4, -8.0, 8.0));
            v
        }
        _ => data(3000, 5, -12.0, 12.0),
    };
    v.extend(data(1000, 6, -2.0, 2.0));
    v.extend([
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        9.0,
        -9.0,
        1e-40,
        5e-324,
        f64::MIN_POSITIVE,
        89.0,
        -104.0,
        709.7,
        -745.0,
    ]);
    v.extend(random_bits(dt, 2000, 7 + u as u64));
    v
}

fn unary_graph(u: UnaryOp, dt: DType, n: usize) -> Graph {
    let mut g = Graph::new(u.name());
    let x = g.add_param("x", TensorType::new(dt, [n])).unwrap();
    let y = g.add(Op::Unary(u), &[x]).unwrap();
    g.set_outputs(vec![y]);
    g
}

fn interp(g: &Graph, inputs: &[Tensor], math: MathMode) -> Vec<Tensor> {
    eval_with(
        g,
        inputs,
        &EvalOptions {
            math,
            ..EvalOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn transcendentals_match_the_interpreter_bit_for_bit_in_every_math_mode() {
    for opts in option_sets() {
        let mode = opts.math_mode();
        for dt in FLOATS {
            for u in UNARY {
                let xs = unary_inputs(u, dt);
                let ty = TensorType::new(dt, [xs.len()]);
                let g = unary_graph(u, dt, xs.len());
                let x = [tensor(&ty, &xs)];
                let got = jit_run_opts(&g, &x, &opts);
                let want = interp(&g, &x, mode);
                assert_same(&format!("{} {dt} in {mode}", u.name()), &got[0], &want[0]);
            }
        }
    }
}

#[test]
fn pow_matches_the_interpreter_bit_for_bit_in_every_math_mode() {
    for opts in option_sets() {
        let mode = opts.math_mode();
        for dt in FLOATS {
            let mut xs = data(3000, 11, -4.0, 40.0);
            let mut ys = data(3000, 12, -30.0, 30.0);
            // Integral exponents (odd and even) with negative bases.
            xs.extend(data(500, 13, -3.0, 0.0));
            ys.extend(data(500, 14, -9.0, 9.0).iter().map(|y| y.round()));
            xs.extend(random_bits(dt, 2000, 15));
            ys.extend(random_bits(dt, 2000, 16));
            let sp = [
                0.0,
                -0.0,
                1.0,
                -1.0,
                0.5,
                2.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
            ];
            for &a in &sp {
                for &b in &sp {
                    xs.push(a);
                    ys.push(b);
                }
            }
            let n = xs.len();
            let ty = TensorType::new(dt, [n]);
            let mut g = Graph::new("pow");
            let x = g.add_param("x", ty.clone()).unwrap();
            let y = g.add_param("y", ty.clone()).unwrap();
            let p = g.add(Op::Binary(BinaryOp::Pow), &[x, y]).unwrap();
            g.set_outputs(vec![p]);
            let args = [tensor(&ty, &xs), tensor(&ty, &ys)];
            let got = jit_run_opts(&g, &args, &opts);
            let want = interp(&g, &args, mode);
            assert_same(&format!("pow {dt} in {mode}"), &got[0], &want[0]);
        }
    }
}

/// The example: f32 `tanh 9` is 0.99999994 in libm and 1 in the
/// polynomial mode, on both engines, whatever the loop around it.
#[test]
fn tanh_9_f32_is_defined_per_mode() {
    let g = unary_graph(UnaryOp::Tanh, DType::F32, 1);
    let x = [Tensor::from_f32([1], vec![9.0]).unwrap()];
    let libm = JitOptions {
        poly_math: false,
        ..Default::default()
    };
    assert_eq!(
        jit_run_opts(&g, &x, &libm)[0].as_f32().unwrap(),
        &[0.99999994]
    );
    assert_eq!(
        interp(&g, &x, MathMode::Libm)[0].as_f32().unwrap(),
        &[0.99999994]
    );
    let poly = JitOptions::default();
    let want = interp(&g, &x, poly.math_mode());
    assert_same("tanh 9", &jit_run_opts(&g, &x, &poly)[0], &want[0]);
}

/// `count` transcendental ops (cycling through every function) on one
/// `f32[n]` input, each its own output: one fused loop.
fn many_transcendentals(dt: DType, n: usize, count: usize) -> Graph {
    let mut g = Graph::new("many");
    let x = g.add_param("x", TensorType::new(dt, [n])).unwrap();
    let outs = (0..count)
        .map(|i| g.add(Op::Unary(UNARY[i % UNARY.len()]), &[x]).unwrap())
        .collect();
    g.set_outputs(outs);
    g
}

/// The same op on the same input gives the same bits in a small loop with
/// many transcendentals (which the JIT compiles to calls of out-of-line
/// functions, to save compile time) and alone in a large loop (inline
/// polynomials): before, the small loop called libm and the large one used
/// the polynomials.
#[test]
fn results_do_not_depend_on_the_surrounding_program() {
    for opts in option_sets() {
        for dt in FLOATS {
            let xs = unary_inputs(UnaryOp::Tanh, dt);
            let small_n = 600;
            let small = many_transcendentals(dt, small_n, 24);
            let opts_clif = JitOptions {
                keep_clif: true,
                ..opts.clone()
            };
            let f = compile(&small, &opts_clif).unwrap();
            // The small loop does take the call path: a call per op (to
            // the out-of-line polynomial functions with `poly_math`; inline
            // polynomials would call only for huge sin/cos arguments, 8 ops
            // here, on the vector and the scalar path).
            let clif = f.clif().unwrap();
            let calls = clif.matches("= call fn").count();
            assert!(calls >= 24, "expected calls, found {calls}");
            if opts.poly_math {
                assert!(clif.contains("; function poly_tanh_"), "{clif}");
            }
            let xs_small = &xs[..small_n];
            let ty_small = TensorType::new(dt, [small_n]);
            let outs = f.run(&[tensor(&ty_small, xs_small)]).unwrap();
            // Each function alone, on a large input whose first elements are
            // the small one's.
            let big_n = 5000;
            let mut big_x = xs_small.to_vec();
            big_x.extend(data(big_n - small_n, 21, -3.0, 3.0));
            let ty_big = TensorType::new(dt, [big_n]);
            for (i, out) in outs.iter().enumerate() {
                let u = UNARY[i % UNARY.len()];
                let g = unary_graph(u, dt, big_n);
                let alone = jit_run_opts(&g, &[tensor(&ty_big, &big_x)], &opts);
                let head = alone[0].to_f64_vec()[..small_n].to_vec();
                assert_same(
                    &format!("{} {dt} in a small loop vs alone", u.name()),
                    out,
                    &tensor(&ty_small, &head),
                );
            }
        }
    }
}

/// A program with elementwise transcendentals, a long reduction and GEMMs
/// large enough to be split (square, tall and wide): the same bits on 1, 2
/// and 3 threads.
#[test]
fn thread_count_does_not_change_results() {
    for (dt, (m, k, n)) in [
        (DType::F32, (96, 96, 96)),
        (DType::F64, (96, 96, 96)),
        (DType::F64, (517, 300, 29)),
        (DType::F32, (7, 301, 515)),
    ] {
        let mut g = Graph::new("threads");
        let a = g.add_param("a", TensorType::new(dt, [m, k])).unwrap();
        let b = g.add_param("b", TensorType::new(dt, [k, n])).unwrap();
        let v = g.add_param("v", TensorType::new(dt, [40_000])).unwrap();
        let c = g.add(Op::MatMul, &[a, b]).unwrap();
        let t = g.add(Op::Unary(UnaryOp::Tanh), &[c]).unwrap();
        let e = g.add(Op::Unary(UnaryOp::Exp), &[v]).unwrap();
        let s = g.add(Op::ReduceSum { axes: vec![0] }, &[e]).unwrap();
        let mx = g.add(Op::ReduceMax { axes: vec![0] }, &[e]).unwrap();
        let rows = g.add(Op::ReduceSum { axes: vec![1] }, &[t]).unwrap();
        g.set_outputs(vec![c, t, s, mx, rows]);
        let args = [
            tensor(&TensorType::new(dt, [m, k]), &data(m * k, 31, -1.0, 1.0)),
            tensor(&TensorType::new(dt, [k, n]), &data(k * n, 32, -1.0, 1.0)),
            tensor(&TensorType::new(dt, [40_000]), &data(40_000, 33, -3.0, 3.0)),
        ];
        let run = |threads| {
            let opts = JitOptions {
                threads,
                parallel_min_elems: 64,
                ..Default::default()
            };
            let f = compile(&g, &opts).unwrap();
            (f.run(&args).unwrap(), f.stats().parallel_kernels)
        };
        let (one, _) = run(1);
        for threads in [2, 3] {
            let (got, parallel) = run(threads);
            assert!(parallel > 0, "{dt}: nothing ran in parallel");
            for (i, (x, y)) in got.iter().zip(&one).enumerate() {
                assert_same(&format!("{dt} output {i} on {threads} threads"), x, y);
            }
        }
    }
}

/// `fold` evaluates with the interpreter, so folding a transcendental of a
/// constant changed the JIT's result (libm's bits instead of the
/// polynomial's). It no longer folds them: the result is the same bits.
#[test]
fn fold_does_not_change_jit_results() {
    for dt in FLOATS {
        let mut g = Graph::new("folded");
        let ty = TensorType::new(dt, [3]);
        let x = g.add_param("x", ty.clone()).unwrap();
        let c = g.constant(Tensor::from_f64_as(&ty, &[9.0, 0.3, 2.5]).unwrap());
        let mut outs = vec![];
        for u in UNARY {
            let t = g.add(Op::Unary(u), &[c]).unwrap();
            outs.push(g.add(Op::Binary(BinaryOp::Add), &[t, x]).unwrap());
        }
        let p = g.add(Op::Binary(BinaryOp::Pow), &[c, c]).unwrap();
        outs.push(g.add(Op::Binary(BinaryOp::Add), &[p, x]).unwrap());
        let m = g.add(Op::MatMul, &[c, c]).unwrap();
        outs.push(m);
        g.set_outputs(outs);
        let args = [tensor(&ty, &[0.0, -0.0, 1e-30])];
        let before = jit_run(&g, &args);
        let mut folded = g.clone();
        adjoint_passes::fold::Fold::default()
            .run(&mut folded)
            .unwrap();
        adjoint_ir::verify(&folded).unwrap();
        let after = jit_run(&folded, &args);
        for (i, (a, b)) in after.iter().zip(&before).enumerate() {
            assert_same(&format!("{dt} output {i} after fold"), a, b);
        }
    }
}

/// Sums `a_i b_i` exactly enough for the bound test: f64 products and sums
/// as double-double (two-product and two-sum), rounded once at the end.
fn dot_exact(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (mut hi, mut lo, mut abs) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let p = x * y;
        let pe = x.mul_add(y, -p);
        let s = hi + p;
        let bb = s - hi;
        let e = (hi - (s - bb)) + (p - bb);
        hi = s;
        lo += e + pe;
        abs += (x * y).abs();
    }
    (hi + lo, abs)
}

/// `matmul` is within `γ_k Σ|a_i||b_i|` of the exact product, `γ_k = k u /
/// (1 - k u)`, on inputs chosen to cancel (alternating large terms that sum
/// to almost nothing), in both dtypes, on both engines.
#[test]
fn matmul_is_within_the_dot_product_bound() {
    for dt in FLOATS {
        for (m, k, n) in [(64, 64, 64), (7, 1000, 5), (33, 257, 19)] {
            let u = if dt == DType::F32 {
                f64::from(f32::EPSILON) / 2.0
            } else {
                f64::EPSILON / 2.0
            };
            // Adversarial: terms of alternating sign and magnitudes up to
            // 2^20 apart, plus a tiny residue.
            let mut av = data(m * k, 41, -1.0, 1.0);
            for (i, x) in av.iter_mut().enumerate() {
                let scale = f64::powi(2.0, ((i * 7) % 21) as i32);
                *x = (*x + if i % 2 == 0 { 1.0 } else { -1.0 }) * scale;
            }
            let bv = data(k * n, 42, 0.5, 1.5);
            let ta = tensor(&TensorType::new(dt, [m, k]), &av);
            let tb = tensor(&TensorType::new(dt, [k, n]), &bv);
            // The values as the dtype holds them.
            let (av, bv) = (ta.to_f64_vec(), tb.to_f64_vec());
            let mut g = Graph::new("mm");
            let a = g.add_param("a", TensorType::new(dt, [m, k])).unwrap();
            let b = g.add_param("b", TensorType::new(dt, [k, n])).unwrap();
            let c = g.add(Op::MatMul, &[a, b]).unwrap();
            g.set_outputs(vec![c]);
            let args = [ta, tb];
            let jit = jit_run(&g, &args)[0].to_f64_vec();
            let int = interp(&g, &args, MathMode::Libm)[0].to_f64_vec();
            let gamma = k as f64 * u / (1.0 - k as f64 * u);
            for i in 0..m {
                let row = &av[i * k..(i + 1) * k];
                for j in 0..n {
                    let col: Vec<f64> = (0..k).map(|p| bv[p * n + j]).collect();
                    let (exact, abs) = dot_exact(row, &col);
                    // The exact value's rounding to the dtype (half an
                    // ulp, inside the bound's `u`) is not counted twice:
                    // compare in f64 against the f64 double-double value.
                    let bound = gamma * abs;
                    for (engine, got) in [("jit", jit[i * n + j]), ("interp", int[i * n + j])] {
                        let err = (got - exact).abs();
                        assert!(
                            err <= bound,
                            "{dt} {m}x{k}x{n} [{i},{j}] {engine}: error {err:e} above γ_k Σ|a||b| = {bound:e}"
                        );
                    }
                }
            }
        }
    }
}
