//! Differential tests: the JIT against the reference interpreter in the
//! JIT's math mode (`adjoint_interp::eval_with` with
//! `JitOptions::math_mode`), exactly as docs/ir.md §14 states the
//! contract: bit for bit for every op but `matmul`, transcendental
//! functions included (the polynomials with `poly_math`, libm without),
//! and within the dot-product bound for graphs with `matmul`. Random graphs
//! come from proptest; gradient graphs from the AD passes.

mod common;
#[path = "common/loop_reference.rs"]
mod loop_reference;

use adjoint_ir::{
    BinaryOp, BodyRef, CompareOp, DType, Graph, GraphBuilder, LogicalOp, Op, Shape, Tensor,
    TensorData, TensorType, UnaryOp,
};
use adjoint_jit::{compile, JitOptions};
use adjoint_passes::PassManager;
use common::*;
use proptest::prelude::*;

/// How closely the JIT must match.
#[derive(Clone, Copy, Debug)]
enum Tol {
    /// Bit for bit (NaN == NaN).
    Exact,
    /// |jit - interp| <= abs + rel * |interp|.
    Close(f64, f64),
}

fn check(g: &Graph, inputs: &[Tensor], tol: Tol) {
    check_with(g, inputs, tol, &JitOptions::default());
}

/// Options with libm host calls for every transcendental function (the
/// interpreter's default mode).
fn host_math() -> JitOptions {
    JitOptions {
        poly_math: false,
        ..JitOptions::default()
    }
}

fn check_with(g: &Graph, inputs: &[Tensor], tol: Tol, opts: &JitOptions) {
    let mode = adjoint_interp::EvalOptions {
        math: opts.math_mode(),
        ..adjoint_interp::EvalOptions::default()
    };
    let want =
        adjoint_interp::eval_with(g, inputs, &mode).unwrap_or_else(|e| panic!("interp: {e}"));
    let got = jit_run_opts(g, inputs, opts);
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        let what = format!("@{} output {i}", g.name());
        match tol {
            Tol::Exact => assert_same(&what, a, b),
            Tol::Close(abs, rel) => {
                assert_eq!(a.shape(), b.shape(), "{what}");
                for (j, (x, y)) in a.to_f64_vec().iter().zip(b.to_f64_vec()).enumerate() {
                    let ok = (x.is_nan() && y.is_nan())
                        || x == &y
                        || (x - y).abs() <= abs + rel * y.abs();
                    assert!(ok, "{what}[{j}]: {x:e} vs {y:e}");
                }
            }
        }
    }
}

/// Every unary op, transcendental or not, is bit for bit in the JIT's
/// math mode.
fn tol_for(_: UnaryOp) -> Tol {
    Tol::Exact
}

#[test]
fn every_unary_op_against_the_interpreter() {
    for u in UnaryOp::ALL {
        for dt in FLOATS {
            for n in LENS {
                let ty = TensorType::new(dt, [n]);
                let mut g = Graph::new(u.name());
                let x = g.add_param("x", ty.clone()).unwrap();
                let y = g.add(Op::Unary(u), &[x]).unwrap();
                g.set_outputs(vec![y]);
                check(&g, &[tensor(&ty, &data_special(n, 50))], tol_for(u));
                // Wide range, to reach overflow and underflow.
                check(&g, &[tensor(&ty, &data(n, 51, -800.0, 800.0))], tol_for(u));
            }
        }
    }
}

#[test]
fn every_binary_and_compare_op_against_the_interpreter() {
    let ops: Vec<Op> = BinaryOp::ALL
        .iter()
        .map(|&b| Op::Binary(b))
        .chain(CompareOp::ALL.iter().map(|&c| Op::Compare(c)))
        .collect();
    for op in ops {
        for dt in FLOATS {
            for n in LENS {
                let ty = TensorType::new(dt, [n]);
                let mut g = Graph::new(op.name());
                let a = g.add_param("a", ty.clone()).unwrap();
                let b = g.add_param("b", ty.clone()).unwrap();
                let y = g.add(op.clone(), &[a, b]).unwrap();
                g.set_outputs(vec![y]);
                // pow included: bit for bit in the JIT's math mode.
                let tol = Tol::Exact;
                let mut av = data_special(n, 52);
                let bv = data_special(n, 53);
                for i in (0..n).step_by(4) {
                    av[i] = bv[i];
                }
                check(&g, &[tensor(&ty, &av), tensor(&ty, &bv)], tol);
            }
        }
    }
}

#[test]
fn reductions_and_shape_ops_against_the_interpreter() {
    for dt in FLOATS {
        for n in LENS {
            let ty = TensorType::new(dt, [3, n]);
            let b = GraphBuilder::new("mix");
            let x = b.param("x", ty.clone());
            let y = b.param("y", TensorType::new(dt, [n]));
            let yb = y.broadcast_to([3, n]);
            let s0 = (x * yb).sum_axes(&[0]);
            let s1 = (x - yb).max_axes(&[1]);
            let t = x.t().relu();
            let all = x.sum();
            let padded = x.pad(&[1, 0], &[0, 2]);
            let sl = if n >= 2 { x.slice(&[0, 1], &[3, n]) } else { x };
            let cat = b.concat(&[x, x.abs()], 1);
            let g = b.build(&[s0, s1, t, all, padded, sl.neg_(), cat]).unwrap();
            check(
                &g,
                &[
                    tensor(&ty, &data_special(3 * n, 54)),
                    tensor(&TensorType::new(dt, [n]), &data(n, 55, -1.0, 1.0)),
                ],
                Tol::Exact,
            );
        }
    }
}

#[test]
fn matmul_against_the_interpreter() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[3, 4], &[4, 5]),
        (&[4], &[4, 3]),
        (&[3, 4], &[4]),
        (&[9], &[9]),
        (&[2, 3, 4], &[4, 5]),
        (&[2, 1, 3, 4], &[5, 4, 2]),
        (&[0, 3], &[3, 2]),
        (&[3, 0], &[0, 2]),
        (&[128, 78], &[78, 26]),
    ];
    for dt in FLOATS {
        for &(sa, sb) in cases {
            let b = GraphBuilder::new("mm");
            let x = b.param("a", TensorType::new(dt, sa.to_vec()));
            let y = b.param("b", TensorType::new(dt, sb.to_vec()));
            let g = b.build(&[x.matmul(y)]).unwrap();
            let na = sa.iter().product();
            let nb = sb.iter().product();
            let k = sa[sa.len() - 1] as f64;
            let eps = if dt == DType::F32 { 1.2e-7 } else { 2.3e-16 };
            // The dot-product bound of docs/ir.md §14 for each engine,
            // |err| <= γ_k sum |a_i b_i| <= k^2 eps / 2 (about) for entries
            // in [-1, 1], so the engines differ by at most twice that
            // (the bound itself is checked in engine_contract.rs).
            check(
                &g,
                &[
                    tensor(&TensorType::new(dt, sa.to_vec()), &data(na, 56, -1.0, 1.0)),
                    tensor(&TensorType::new(dt, sb.to_vec()), &data(nb, 57, -1.0, 1.0)),
                ],
                Tol::Close(2.0 * k * k * eps, 0.0),
            );
        }
    }
}

fn grad_of(g: &Graph) -> Graph {
    let mut g = g.clone();
    PassManager::parse("grad,simplify,cse,dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    g
}

#[test]
fn gradient_graphs_w1_w2_w3() {
    // W1
    let b = GraphBuilder::new("w1");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([]));
    let g = grad_of(&b.build(&[x1 * x2 + x1.sin()]).unwrap());
    let ins = [Tensor::scalar_f64(2.0), Tensor::scalar_f64(7.0)];
    check_with(&g, &ins, Tol::Exact, &host_math());
    check(&g, &ins, Tol::Exact);
    let out = jit_run(&g, &ins);
    assert!((out[1].as_f64().unwrap()[0] - 6.583853163452858).abs() < 1e-14);
    assert_eq!(out[2].as_f64().unwrap(), &[2.0]);
    // W2
    let b = GraphBuilder::new("w2");
    let x = b.param("x", TensorType::f64([]));
    let g = grad_of(&b.build(&[x.sigmoid().sigmoid().sigmoid()]).unwrap());
    check_with(&g, &[Tensor::scalar_f64(100.0)], Tol::Exact, &host_math());
    check_with(&g, &[Tensor::scalar_f64(0.3)], Tol::Exact, &host_math());
    check(&g, &[Tensor::scalar_f64(0.3)], Tol::Exact);
    check(&g, &[Tensor::scalar_f64(100.0)], Tol::Exact);
    // W3 (Rosenbrock)
    for n in [2usize, 3, 5, 8, 1000] {
        let g = grad_of(&rosenbrock(n));
        let xs: Vec<f64> = (0..n)
            .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
            .collect();
        check(&g, &[Tensor::from_f64([n], xs).unwrap()], Tol::Exact);
    }
}

#[test]
fn gradient_of_a_small_mlp() {
    for dt in FLOATS {
        let (bsz, i, h, o) = (8, 12, 16, 5);
        let b = GraphBuilder::new("mlp");
        let x = b.param("x", TensorType::new(dt, [bsz, i]));
        let w1 = b.param("w1", TensorType::new(dt, [i, h]));
        let b1 = b.param("b1", TensorType::new(dt, [h]));
        let w2 = b.param("w2", TensorType::new(dt, [h, o]));
        let lab = b.param("labels", TensorType::new(dt, [bsz, o]));
        let hdn = (x.matmul(w1) + b1).tanh();
        let logits = hdn.matmul(w2);
        let loss = logits.cross_entropy(lab);
        let g = grad_of(&b.build(&[loss]).unwrap());
        let mut labels = vec![0.0; bsz * o];
        for r in 0..bsz {
            labels[r * o + r % o] = 1.0;
        }
        let ins = [
            tensor(
                &TensorType::new(dt, [bsz, i]),
                &data(bsz * i, 60, -1.0, 1.0),
            ),
            tensor(&TensorType::new(dt, [i, h]), &data(i * h, 61, -0.5, 0.5)),
            tensor(&TensorType::new(dt, [h]), &data(h, 62, -0.1, 0.1)),
            tensor(&TensorType::new(dt, [h, o]), &data(h * o, 63, -0.5, 0.5)),
            tensor(&TensorType::new(dt, [bsz, o]), &labels),
        ];
        let eps = if dt == DType::F32 { 1e-5 } else { 1e-13 };
        check(&g, &ins, Tol::Close(eps, eps));
    }
}

/// A random elementwise/reduction/shape program over a few [R, C] inputs.
#[derive(Clone, Debug)]
enum Step {
    Unary(usize, UnaryOp),
    Binary(usize, usize, BinaryOp),
    SelectGt(usize, usize),
    RowSumBack(usize),
    ColMaxBack(usize),
    Transpose2(usize),
    SliceShift(usize),
    CastRound(usize),
    /// `pick(i) + iota` along axis 0 or 1.
    IotaAdd(usize, bool),
    /// `select(op(pick(i) > pick(j), pick(j) > pick(i)·0.5), pick(i), pick(j))`
    /// with `op` one of `and`, `or`, and `not` of the first test.
    Logic(usize, usize, u8),
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let u = prop::sample::select(UnaryOp::ALL.to_vec());
    let b = prop::sample::select(BinaryOp::ALL.to_vec());
    prop_oneof![
        (0..64usize, u).prop_map(|(i, u)| Step::Unary(i, u)),
        (0..64usize, 0..64usize, b).prop_map(|(i, j, b)| Step::Binary(i, j, b)),
        (0..64usize, 0..64usize).prop_map(|(i, j)| Step::SelectGt(i, j)),
        (0..64usize).prop_map(Step::RowSumBack),
        (0..64usize).prop_map(Step::ColMaxBack),
        (0..64usize).prop_map(Step::Transpose2),
        (0..64usize).prop_map(Step::SliceShift),
        (0..64usize).prop_map(Step::CastRound),
        (0..64usize, any::<bool>()).prop_map(|(i, a)| Step::IotaAdd(i, a)),
        (0..64usize, 0..64usize, 0..3u8).prop_map(|(i, j, o)| Step::Logic(i, j, o)),
    ]
}

fn build_random(dt: DType, r: usize, c: usize, steps: &[Step], n_out: usize) -> Graph {
    let b = GraphBuilder::new("rand");
    let mut vals = vec![
        b.param("a", TensorType::new(dt, [r, c])),
        b.param("b", TensorType::new(dt, [r, c])),
    ];
    let other = if dt == DType::F64 {
        DType::F32
    } else {
        DType::F64
    };
    for s in steps {
        let pick = |i: usize| vals[i % vals.len()];
        let v = match *s {
            Step::Unary(i, u) => b.op(Op::Unary(u), &[pick(i)]),
            Step::Binary(i, j, op) => b.op(Op::Binary(op), &[pick(i), pick(j)]),
            Step::SelectGt(i, j) => pick(i).gt(pick(j)).select(pick(i), pick(j)),
            Step::RowSumBack(i) => pick(i).sum_axes(&[1]).reshape([r, 1]).broadcast_to([r, c]),
            Step::ColMaxBack(i) => pick(i).max_axes(&[0]).broadcast_to([r, c]),
            Step::Transpose2(i) => {
                if r == c {
                    pick(i).t()
                } else {
                    pick(i).neg_()
                }
            }
            Step::SliceShift(i) => {
                if c >= 2 {
                    pick(i).slice(&[0, 1], &[r, c]).pad(&[0, 0], &[0, 1])
                } else {
                    pick(i).abs()
                }
            }
            Step::CastRound(i) => pick(i).cast(other).sqrt().cast(dt),
            Step::IotaAdd(i, first) => {
                let iota = Op::Iota {
                    shape: Shape::new(vec![r, c]),
                    axis: usize::from(!first),
                    dtype: dt,
                };
                pick(i) + b.op(iota, &[])
            }
            Step::Logic(i, j, o) => {
                let p = pick(i).gt(pick(j));
                let q = pick(j).gt(pick(i) * pick(i).lit(0.5));
                let t = match o {
                    0 => b.op(Op::Logical(LogicalOp::And), &[p, q]),
                    1 => b.op(Op::Logical(LogicalOp::Or), &[p, q]),
                    _ => b.op(Op::Logical(LogicalOp::Not), &[p]),
                };
                t.select(pick(i), pick(j))
            }
        };
        vals.push(v);
    }
    let outs: Vec<_> = vals.iter().rev().take(n_out).copied().collect();
    b.build(&outs).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// With host calls for transcendental functions every random program
    /// matches the interpreter bit for bit (random seed: any failure is a
    /// bug).
    #[test]
    fn random_graphs_match_the_interpreter(
        f64dt in any::<bool>(),
        r in 1usize..5,
        c in prop::sample::select(vec![1usize, 2, 3, 4, 5, 7, 9, 17]),
        steps in prop::collection::vec(step_strategy(), 1..12),
        n_out in 1usize..4,
        seed in 0u64..1000,
    ) {
        let dt = if f64dt { DType::F64 } else { DType::F32 };
        let g = build_random(dt, r, c, &steps, n_out);
        let ty = TensorType::new(dt, [r, c]);
        let ins = [tensor(&ty, &data_special(r * c, seed)), tensor(&ty, &data(r * c, seed + 1, -2.0, 2.0))];
        check_with(&g, &ins, Tol::Exact, &host_math());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// With the polynomial functions (the default), every random program
    /// matches the interpreter in the polynomial mode bit for bit (random
    /// seed: any failure is a bug).
    #[test]
    fn random_graphs_with_polynomials_match_the_interpreter(
        f64dt in any::<bool>(),
        r in 1usize..5,
        c in prop::sample::select(vec![1usize, 2, 3, 4, 5, 7, 9, 17]),
        steps in prop::collection::vec(step_strategy(), 1..12),
        n_out in 1usize..4,
        seed in 0u64..1000,
    ) {
        let dt = if f64dt { DType::F64 } else { DType::F32 };
        let g = build_random(dt, r, c, &steps, n_out);
        let ty = TensorType::new(dt, [r, c]);
        let ins = [tensor(&ty, &data_special(r * c, seed)), tensor(&ty, &data(r * c, seed + 1, -2.0, 2.0))];
        check(&g, &ins, Tol::Exact);
        let no_fma = JitOptions { fma: false, ..JitOptions::default() };
        check_with(&g, &ins, Tol::Exact, &no_fma);
    }
}

/// Which loop a random program with a loop runs.
#[derive(Clone, Copy, Debug)]
enum LoopKind {
    Scan { reverse: bool },
    While,
    Cond,
}

/// A random program with a loop: the bodies are random programs
/// ([`build_random`]) over `[r, c]` values.
/// - `scan`: carry `a`, scanned input `b` (xs: `[n, r, c]`); the body's
///   first output is the new carry, the others are stacked;
/// - `while`: carries `a`, `b`, at most `n` trips while `max(a) < 4`;
/// - `cond`: two random branches on `(a, b)`, chosen by a bool parameter.
fn build_random_loop(
    kind: LoopKind,
    dt: DType,
    (r, c, n): (usize, usize, usize),
    steps: &[Step],
    other: &[Step],
    n_out: usize,
) -> Graph {
    let t = TensorType::new(dt, [r, c]);
    let mut g = Graph::new("rand_loop");
    let outs = match kind {
        LoopKind::Scan { reverse } => {
            let body = BodyRef::new(build_random(dt, r, c, steps, n_out));
            let c0 = g.add_param("c0", t.clone()).unwrap();
            let xs = g.add_param("xs", TensorType::new(dt, [n, r, c])).unwrap();
            let op = Op::Scan {
                body,
                carry: 1,
                xs: 1,
                length: n,
                reverse,
            };
            g.add_multi(op, &[c0, xs]).unwrap()
        }
        LoopKind::While => {
            let body = BodyRef::new(build_random(dt, r, c, steps, 2));
            let b = GraphBuilder::new("small");
            let a = b.param("a", t.clone());
            let _b = b.param("b", t.clone());
            let p = a.max_all().lt(a.lit(4.0));
            let cond = BodyRef::new(b.build(&[p]).unwrap());
            let a0 = g.add_param("a0", t.clone()).unwrap();
            let b0 = g.add_param("b0", t.clone()).unwrap();
            let op = Op::While {
                cond,
                body,
                carry: 2,
                max_trips: Some(n),
            };
            g.add_multi(op, &[a0, b0]).unwrap()
        }
        LoopKind::Cond => {
            let then = BodyRef::new(build_random(dt, r, c, steps, n_out));
            let els = BodyRef::new(build_random(dt, r, c, other, n_out));
            let p = g.add_param("p", TensorType::new(DType::Bool, [])).unwrap();
            let a = g.add_param("a", t.clone()).unwrap();
            let b = g.add_param("b", t.clone()).unwrap();
            g.add_multi(Op::Cond { then, els }, &[p, a, b]).unwrap()
        }
    };
    g.set_outputs(outs);
    g
}

fn loop_kind_strategy() -> impl Strategy<Value = LoopKind> {
    prop_oneof![
        any::<bool>().prop_map(|reverse| LoopKind::Scan { reverse }),
        Just(LoopKind::While),
        Just(LoopKind::Cond),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random programs with a `scan`, `while` or `cond` around random
    /// bodies match the interpreter bit for bit, in both math modes
    /// (random seed: any failure is a bug).
    #[test]
    fn random_programs_with_loops_match_the_interpreter(
        kind in loop_kind_strategy(),
        f64dt in any::<bool>(),
        r in 1usize..4,
        c in prop::sample::select(vec![1usize, 2, 3, 5, 9]),
        n in 0usize..5,
        steps in prop::collection::vec(step_strategy(), 1..8),
        other in prop::collection::vec(step_strategy(), 1..8),
        n_out in 1usize..4,
        pred in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let dt = if f64dt { DType::F64 } else { DType::F32 };
        let g = build_random_loop(kind, dt, (r, c, n), &steps, &other, n_out);
        let ins: Vec<Tensor> = g
            .param_types()
            .iter()
            .enumerate()
            .map(|(i, t)| match t.dtype {
                DType::Bool => Tensor::new(Shape::new(vec![]), TensorData::Bool(vec![pred])).unwrap(),
                _ if i == 0 => tensor(t, &data_special(t.numel(), seed)),
                _ => tensor(t, &data(t.numel(), seed + 1, -2.0, 2.0)),
            })
            .collect();
        for opts in [JitOptions::default(), host_math()] {
            let want = loop_reference::reference(&g, &ins, &opts);
            let got = jit_run_opts(&g, &ins, &opts);
            prop_assert_eq!(got.len(), want.len());
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert_same(&format!("{kind:?} output {i}"), a, b);
            }
        }
    }
}

#[test]
fn pads_read_in_place_by_their_consumers() {
    for dt in FLOATS {
        for n in [1usize, 2, 3, 4, 5, 8, 9, 17] {
            let b = GraphBuilder::new("pads");
            let x = b.param("x", TensorType::new(dt, [3, n]));
            let y = b.param("y", TensorType::new(dt, [5, n + 3]));
            // Pads on the inner axis, the outer axis and both, pad of pad.
            let p1 = x.pad(&[2, 1], &[0, 2]); // [5, n+3]
            let p2 = x.exp().pad(&[1, 0], &[1, 3]); // [5, n+3]
            let p3 = x
                .slice(&[0, 0], &[3, n])
                .pad(&[0, 2], &[2, 1])
                .pad(&[0, 0], &[0, 0]);
            let e = (p1 * y + p2 - p3).sqrt();
            let rs = (p1 + y).sum_axes(&[1]);
            let cs = (p2 * y).max_axes(&[0]);
            let tot = (p3 * p3).sum();
            let g = b.build(&[e, rs, cs, tot, p1]).unwrap();
            let ins = [
                tensor(&TensorType::new(dt, [3, n]), &data_special(3 * n, 70)),
                tensor(
                    &TensorType::new(dt, [5, n + 3]),
                    &data(5 * (n + 3), 71, 0.0, 2.0),
                ),
            ];
            check_with(&g, &ins, Tol::Exact, &host_math());
            check(&g, &ins, Tol::Exact);
        }
    }
}

#[test]
fn host_calls_inside_vector_loops() {
    // One host call among many vector ops keeps the loop vectorised, with
    // the call made lane by lane: still bit for bit with host math.
    for dt in FLOATS {
        for n in LENS {
            let ty = TensorType::new(dt, [n]);
            let b = GraphBuilder::new("lanes");
            let x = b.param("x", ty.clone());
            let y = b.param("y", ty.clone());
            let a = (x * y + x - y * y.lit(2.0)) / (x.abs() + x.lit(1.0));
            let c = (a * a + y).maximum(x.lit(0.5)) - a.sqrt().minimum(y);
            let out = c.sin() + a.pow(y.abs()) * c;
            let g = b.build(&[out]).unwrap();
            let ins = [
                tensor(&ty, &data(n, 90, -2.0, 2.0)),
                tensor(&ty, &data(n, 91, -2.0, 2.0)),
            ];
            check_with(&g, &ins, Tol::Exact, &host_math());
        }
    }
}

#[test]
fn padded_region_values_recomputed_by_consumers() {
    for dt in FLOATS {
        for n in [1usize, 2, 3, 4, 5, 7, 8, 9, 17, 64] {
            let b = GraphBuilder::new("repad");
            let x = b.param("x", TensorType::new(dt, [3, n]));
            let y = b.param("y", TensorType::new(dt, [4, n + 2]));
            // 1 + x^2 is nonzero everywhere: the padding must be masked.
            let v = x.lit(1.0) + x * x;
            let w = (x.lit(2.0) - x).relu();
            let pv = v.pad(&[1, 2], &[0, 0]); // [4, n+2]
            let pw = w.pad(&[0, 0], &[1, 2]); // [4, n+2]
            let e = pv * y + pw;
            let r = (pv - y).sum_axes(&[1]);
            let g = b.build(&[e, r]).unwrap();
            let ins = [
                tensor(&TensorType::new(dt, [3, n]), &data(3 * n, 92, -2.0, 2.0)),
                tensor(
                    &TensorType::new(dt, [4, n + 2]),
                    &data(4 * (n + 2), 93, -1.0, 1.0),
                ),
            ];
            check(&g, &ins, Tol::Exact);
            // Split across threads as well.
            let opts = JitOptions {
                threads: 2,
                parallel_min_elems: 1,
                ..JitOptions::default()
            };
            check_with(&g, &ins, Tol::Exact, &opts);
        }
    }
    // 1-D, the Rosenbrock shape, long enough to be split across threads.
    let n = 100_003;
    let b = GraphBuilder::new("rb");
    let x = b.param("x", TensorType::f64([n]));
    let a = x.slice(&[1], &[n]);
    let c = x.slice(&[0], &[n - 1]);
    let t = (a - c * c) * a.lit(3.0) + c.lit(1.0);
    let gsum = t.pad(&[1], &[0]) + (t * c).pad(&[0], &[1]);
    let g = b.build(&[gsum]).unwrap();
    let opts = JitOptions {
        threads: 2,
        parallel_min_elems: 1000,
        ..JitOptions::default()
    };
    check_with(
        &g,
        &[tensor(&TensorType::f64([n]), &data(n, 94, -1.0, 1.0))],
        Tol::Exact,
        &opts,
    );
}

#[test]
fn bool_values_through_shape_ops_and_select() {
    for n in [1usize, 3, 4, 5, 9] {
        let b = GraphBuilder::new("bools");
        let x = b.param("x", TensorType::f64([2, n]));
        let y = b.param("y", TensorType::f64([2, n]));
        let m = x.gt(y); // bool [2, n]
        let mt = m.transpose(&[1, 0]); // bool [n, 2]
        let mp = m.pad(&[1, 0], &[0, 1]); // bool [3, n+1]
        let mc = b.concat(&[m, m], 0); // bool [4, n]
        let mb = m.slice(&[0, 0], &[1, n]).broadcast_to([3, n]); // bool [3, n]
        let sel = m.select(x, y); // f64
        let sel2 = m.select(m, x.lt(y)); // bool branches
        let back = mt.cast(DType::F64).sum();
        let g = b.build(&[mt, mp, mc, mb, sel, sel2, back]).unwrap();
        let ins = [
            tensor(&TensorType::f64([2, n]), &data_special(2 * n, 95)),
            tensor(&TensorType::f64([2, n]), &data(2 * n, 96, -2.0, 2.0)),
        ];
        check(&g, &ins, Tol::Exact);
    }
}

#[test]
fn scalar_results_of_matmul_and_reductions_feed_loops() {
    let b = GraphBuilder::new("dots");
    let x = b.param("x", TensorType::f64([7]));
    let w = b.param("w", TensorType::f64([7, 5]));
    let d = x.dot(x); // scalar
    let v = x.matmul(w); // [5]
    let out = v * d.broadcast_to([5]) + v.max_all().broadcast_to([5]);
    let g = b.build(&[out, d]).unwrap();
    let ins = [
        tensor(&TensorType::f64([7]), &data(7, 97, -1.0, 1.0)),
        tensor(&TensorType::f64([7, 5]), &data(35, 98, -1.0, 1.0)),
    ];
    check(&g, &ins, Tol::Close(1e-14, 1e-14));
}

#[test]
fn small_loops_with_many_polynomials_use_host_calls() {
    // 20 tanh on 8 elements: over the inlining budget of a small loop, so
    // the host function of the polynomial tanh is called; bit for bit
    // either way.
    let b = GraphBuilder::new("many");
    let mut x = b.param("x", TensorType::f64([8]));
    for _ in 0..20 {
        x = (x * x.lit(1.5)).tanh();
    }
    let g = b.build(&[x]).unwrap();
    check(
        &g,
        &[tensor(&TensorType::f64([8]), &data(8, 99, -2.0, 2.0))],
        Tol::Exact,
    );
    // The same chain on a large tensor keeps the polynomials.
    let b = GraphBuilder::new("many_large");
    let mut x = b.param("x", TensorType::f64([2048]));
    for _ in 0..20 {
        x = (x * x.lit(1.5)).tanh();
    }
    let g = b.build(&[x]).unwrap();
    check(
        &g,
        &[tensor(&TensorType::f64([2048]), &data(2048, 99, -2.0, 2.0))],
        Tol::Exact,
    );
}

#[test]
fn column_reductions_vectorised_across_outputs() {
    for dt in FLOATS {
        for r in [0usize, 1, 3, 4, 5, 9] {
            for c in [4usize, 5, 7, 8, 9, 17, 33] {
                let b = GraphBuilder::new("cols");
                let x = b.param("x", TensorType::new(dt, [r, c]));
                let y = b.param("y", TensorType::new(dt, [r, c]));
                let z = b.param("z", TensorType::new(dt, [2, r, c]));
                let v = b.param("v", TensorType::new(dt, [r, 1]));
                let s = (x * y + x.lit(1.0)).sum_axes(&[0]);
                let m = (x - y).max_axes(&[0]);
                let t = z.exp().sum_axes(&[1]);
                // A per-row value broadcast along the lanes (stride 0).
                let w = (x * v.broadcast_to([r, c])).sum_axes(&[0]);
                // An elementwise value stored beside its column sum (a
                // bias gradient next to the pre-activation gradient).
                let d = x * (y.lit(1.0) - y * y);
                let ds = d.sum_axes(&[0]);
                let g = b.build(&[s, m, t, w, d, ds]).unwrap();
                let ins = [
                    tensor(&TensorType::new(dt, [r, c]), &data_special(r * c, 100)),
                    tensor(&TensorType::new(dt, [r, c]), &data(r * c, 101, -1.0, 1.0)),
                    tensor(
                        &TensorType::new(dt, [2, r, c]),
                        &data(2 * r * c, 102, -1.0, 1.0),
                    ),
                    tensor(&TensorType::new(dt, [r, 1]), &data(r, 103, -1.0, 1.0)),
                ];
                check_with(&g, &ins, Tol::Exact, &host_math());
                let opts = JitOptions {
                    threads: 2,
                    parallel_min_elems: 1,
                    poly_math: false,
                    ..JitOptions::default()
                };
                check_with(&g, &ins, Tol::Exact, &opts);
            }
        }
    }
}

#[test]
fn column_sum_with_stored_values_is_vectorised() {
    // W4's bias-gradient kernels: the vector path along the outputs must
    // take them (it used to refuse kernels that also store), and agree
    // with the interpreter bit for bit.
    for dt in FLOATS {
        let (r, c) = (128usize, 256usize);
        let b = GraphBuilder::new("bias_grad");
        let g_in = b.param("g", TensorType::new(dt, [r, c]));
        let h = b.param("h", TensorType::new(dt, [r, c]));
        let d = g_in * (h.lit(1.0) - h * h);
        let g = b.build(&[d, d.sum_axes(&[0])]).unwrap();
        let opts = JitOptions {
            keep_clif: true,
            ..JitOptions::default()
        };
        let f = compile(&g, &opts).unwrap();
        let vload = if dt == DType::F32 {
            "load.f32x4"
        } else {
            "load.f64x2"
        };
        assert!(f.clif().unwrap().contains(vload), "{dt:?}: not vectorised");
        let ins = [
            tensor(&TensorType::new(dt, [r, c]), &data(r * c, 7, -1.0, 1.0)),
            tensor(&TensorType::new(dt, [r, c]), &data(r * c, 8, -1.0, 1.0)),
        ];
        check_with(&g, &ins, Tol::Exact, &opts);
    }
}

#[test]
fn hessian_vector_products_forward_over_reverse() {
    // W6's graph (small n): grad then jvp, H v of Rosenbrock, and of a
    // function with transcendentals.
    for n in [2usize, 3, 5, 8, 100] {
        let b = GraphBuilder::new("rb");
        let x = b.param("x", TensorType::f64([n]));
        let a = x.slice(&[1], &[n]);
        let c = x.slice(&[0], &[n - 1]);
        let t1 = a - c * c;
        let t2 = c.lit(1.0) - c;
        let f = (t1.lit(100.0) * t1 * t1 + t2 * t2).sum();
        let mut g = b.build(&[f]).unwrap();
        PassManager::parse("grad{wrt=x},jvp{wrt=x},simplify,cse,dce")
            .unwrap()
            .run(&mut g)
            .unwrap();
        let xs: Vec<f64> = (0..n)
            .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
            .collect();
        let ins: Vec<Tensor> = g
            .param_types()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i == 0 {
                    Tensor::from_f64([n], xs.clone()).unwrap()
                } else {
                    tensor(t, &data(t.numel(), 104 + i as u64, -1.0, 1.0))
                }
            })
            .collect();
        check(&g, &ins, Tol::Exact);
        let b = GraphBuilder::new("tr");
        let x = b.param("x", TensorType::f64([n]));
        let f = (x.tanh() * x.exp() + x.sin()).sum();
        let mut g = b.build(&[f]).unwrap();
        PassManager::parse("grad{wrt=x},jvp{wrt=x},simplify,cse,dce")
            .unwrap()
            .run(&mut g)
            .unwrap();
        let ins: Vec<Tensor> = g
            .param_types()
            .iter()
            .enumerate()
            .map(|(i, t)| tensor(t, &data(t.numel(), 110 + i as u64, -1.0, 1.0)))
            .collect();
        check_with(&g, &ins, Tol::Exact, &host_math());
        check(&g, &ins, Tol::Exact);
    }
}
