//! Forward mode (`jvp`) through `scan`, `while` and `cond`: tangents against
//! hand-derived values and central differences of the interpreter's primal
//! evaluation, the structure of the generated bodies (symbolic zeros across
//! iterations, names, the output contract), higher order, and the batched
//! case through the Jacobian pass.
mod common;

use adjoint_ir::{
    verify, BodyRef, CompareOp, DType, Graph, GraphBuilder, NodeId, Op, Tensor, TensorType,
};
use adjoint_passes::emit;
use common::{eval, run};

fn f64s(d: &[usize]) -> TensorType {
    TensorType::f64(d.to_vec())
}

fn sc(v: f64) -> Tensor {
    Tensor::scalar_f64(v)
}

fn vt(v: &[f64]) -> Tensor {
    Tensor::from_f64([v.len()], v.to_vec()).unwrap()
}

/// A function with parameters `params` whose body `f` builds with the
/// graph API (loops need [`Graph::add_multi`]).
fn func(
    name: &str,
    params: &[(&str, TensorType)],
    f: impl FnOnce(&mut Graph, &[NodeId]) -> Vec<NodeId>,
) -> Graph {
    let mut g = Graph::new(name);
    let ps: Vec<NodeId> = params
        .iter()
        .map(|(n, t)| g.add_param(*n, t.clone()).unwrap())
        .collect();
    let outs = f(&mut g, &ps);
    g.set_outputs(outs);
    verify(&g).unwrap();
    g
}

fn scan_op(body: &BodyRef, carry: usize, xs: usize, length: usize, reverse: bool) -> Op {
    Op::Scan {
        body: body.clone(),
        carry,
        xs,
        length,
        reverse,
    }
}

/// The loop node a projection reads.
fn loop_of(g: &Graph, kind: &str) -> NodeId {
    g.node_ids()
        .into_iter()
        .find(|&n| g[n].op.name() == kind)
        .unwrap_or_else(|| panic!("no {kind} in @{}", g.name()))
}

fn count_of(g: &Graph, kind: &str) -> usize {
    g.node_ids()
        .into_iter()
        .filter(|&n| g[n].op.name() == kind)
        .count()
}

/// `(c, x, k) -> (c * x + k, c)`: on scalars, `c_N` is a polynomial in the
/// inputs that is easy to differentiate by hand; `ys[t]` is the carry the
/// iteration that read `xs[t]` started from.
fn affine_body() -> BodyRef {
    let b = GraphBuilder::new("step");
    let c = b.param("c", f64s(&[]));
    let x = b.param("x", f64s(&[]));
    let k = b.param("k", f64s(&[]));
    BodyRef::new(b.build(&[c * x + k, c]).unwrap())
}

/// `(c0, xs: f64[n], k) -> scan affine_body`.
fn affine_scan(n: usize, reverse: bool) -> Graph {
    let body = affine_body();
    func(
        "f",
        &[("c0", f64s(&[])), ("xs", f64s(&[n])), ("k", f64s(&[]))],
        |g, p| g.add_multi(scan_op(&body, 1, 1, n, reverse), p).unwrap(),
    )
}

/// Evaluates the jvp of `g` (all float parameters) at `inputs` along
/// `dirs` (one per float parameter). Checks that the primal outputs are
/// those of `g`, bit for bit, and returns the tangents as f64 vectors.
fn tangents(g: &Graph, pipeline: &str, inputs: &[Tensor], dirs: &[Tensor]) -> Vec<Vec<f64>> {
    let j = run(g, pipeline);
    verify(&j).unwrap();
    let mut args = inputs.to_vec();
    args.extend_from_slice(dirs);
    let out = eval(&j, &args);
    let primal = eval(g, inputs);
    let n = primal.len();
    assert_eq!(out.len(), 2 * n, "jvp appends one tangent per output");
    for (i, (a, b)) in primal.iter().zip(&out).enumerate() {
        let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                x.to_bits(),
                y.to_bits(),
                "primal output {i} changed: {a:?} vs {b:?}"
            );
        }
    }
    out[n..].iter().map(|t| t.to_f64_vec()).collect()
}

/// Central differences of `g`'s outputs along `dirs` (one per float
/// parameter, in order; other parameters are held).
fn fd(g: &Graph, inputs: &[Tensor], dirs: &[Tensor]) -> Vec<Vec<f64>> {
    let h = f64::EPSILON.cbrt();
    let shift = |s: f64| -> Vec<Tensor> {
        let mut d = dirs.iter();
        inputs
            .iter()
            .map(|x| {
                if !x.dtype().is_float() {
                    return x.clone();
                }
                let v = d.next().expect("one direction per float parameter");
                let xs: Vec<f64> = x
                    .to_f64_vec()
                    .iter()
                    .zip(v.to_f64_vec())
                    .map(|(a, b)| a + s * h * b)
                    .collect();
                Tensor::from_f64_as(&x.ty(), &xs).unwrap()
            })
            .collect()
    };
    let (p, m) = (eval(g, &shift(1.0)), eval(g, &shift(-1.0)));
    p.iter()
        .zip(&m)
        .map(|(a, b)| {
            a.to_f64_vec()
                .iter()
                .zip(b.to_f64_vec())
                .map(|(x, y)| (x - y) / (2.0 * h))
                .collect()
        })
        .collect()
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths {got:?} vs {want:?}");
    for (a, b) in got.iter().zip(want) {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: got {got:?}, want {want:?}"
        );
    }
}

/// jvp = central differences, output by output.
fn check_fd(g: &Graph, inputs: &[Tensor], dirs: &[Tensor], tol: f64) -> Vec<Vec<f64>> {
    let t = tangents(g, "jvp", inputs, dirs);
    let f = fd(g, inputs, dirs);
    for (i, (a, b)) in t.iter().zip(&f).enumerate() {
        close(a, b, tol, &format!("tangent {i} vs finite differences"));
    }
    t
}

// ---------------------------------------------------------------- scan

#[test]
fn scan_tangents_match_hand_derived_values_forward_and_reverse() {
    // c1 = c0 x0 + k, c2 = c1 x1 + k, c3 = c2 x2 + k; ys = [c0, c1, c2].
    let (c0, xs, k) = (2.0, [0.5, 3.0, -1.0], 0.25);
    let ins = [sc(c0), vt(&xs), sc(k)];
    let g = affine_scan(3, false);
    let unit = |i: usize| {
        let mut d = [sc(0.0), vt(&[0.0; 3]), sc(0.0)];
        match i {
            0 => d[0] = sc(1.0),
            1 => d[1] = vt(&[1.0, 0.0, 0.0]),
            _ => d[2] = sc(1.0),
        }
        d
    };
    let (x0, x1, x2) = (xs[0], xs[1], xs[2]);
    let c1 = c0 * x0 + k;
    let c2 = c1 * x1 + k;
    // d/dc0
    let t = check_fd(&g, &ins, &unit(0), 1e-8);
    close(&t[0], &[x0 * x1 * x2], 1e-15, "dc3/dc0");
    close(&t[1], &[1.0, x0, x0 * x1], 1e-15, "dys/dc0");
    // d/dxs[0]
    let t = check_fd(&g, &ins, &unit(1), 1e-8);
    close(&t[0], &[c0 * x1 * x2], 1e-15, "dc3/dx0");
    close(&t[1], &[0.0, c0, c0 * x1], 1e-15, "dys/dx0");
    // d/dk
    let t = check_fd(&g, &ins, &unit(2), 1e-8);
    close(&t[0], &[x1 * x2 + x2 + 1.0], 1e-15, "dc3/dk");
    close(&t[1], &[0.0, 1.0, x1 + 1.0], 1e-15, "dys/dk");
    let _ = c2;

    // reverse=true: iteration t = 2 runs first and writes ys[2].
    let g = affine_scan(3, true);
    let t = check_fd(&g, &ins, &unit(0), 1e-8);
    close(&t[0], &[x2 * x1 * x0], 1e-15, "reverse dc/dc0");
    close(&t[1], &[x2 * x1, x2, 1.0], 1e-15, "reverse dys/dc0");
    let t = check_fd(&g, &ins, &unit(2), 1e-8);
    close(&t[0], &[x1 * x0 + x0 + 1.0], 1e-15, "reverse dc/dk");
    close(&t[1], &[x1 + 1.0, 1.0, 0.0], 1e-15, "reverse dys/dk");
}

#[test]
fn scan_of_length_zero_and_one() {
    // N = 0: the carry is the init (its tangent passes through), the
    // invariant's derivative is an explicit zero, ys' tangent is empty.
    let g = affine_scan(0, false);
    let ins = [sc(2.0), vt(&[]), sc(0.25)];
    let t = tangents(&g, "jvp", &ins, &[sc(0.7), vt(&[]), sc(1.0)]);
    assert_eq!(t, vec![vec![0.7], vec![]]);
    let j = run(&g, "jvp");
    assert_eq!(j.ty(j.outputs()[3]), &f64s(&[0]));
    // N = 1: c = c0 x0 + k, ys = [c0].
    let g = affine_scan(1, false);
    let ins = [sc(2.0), vt(&[0.5]), sc(0.25)];
    let t = check_fd(&g, &ins, &[sc(1.0), vt(&[0.1]), sc(-2.0)], 1e-8);
    close(&t[0], &[0.5 + 2.0 * 0.1 - 2.0], 1e-15, "N=1 dc");
    close(&t[1], &[1.0], 1e-15, "N=1 dys");
}

#[test]
fn scan_with_vector_carries_invariants_against_finite_differences() {
    // (c: f64[2], x: f64[2], w: f64[2], k: f64[]) -> (tanh(c * w + x) * k, sum(c * x))
    let b = GraphBuilder::new("cell");
    let c = b.param("c", f64s(&[2]));
    let x = b.param("x", f64s(&[2]));
    let w = b.param("w", f64s(&[2]));
    let k = b.param("k", f64s(&[]));
    let body = BodyRef::new(b.build(&[(c * w + x).tanh() * k, (c * x).sum()]).unwrap());
    for reverse in [false, true] {
        let g = func(
            "rnn",
            &[
                ("c0", f64s(&[2])),
                ("xs", f64s(&[4, 2])),
                ("w", f64s(&[2])),
                ("k", f64s(&[])),
            ],
            |g, p| g.add_multi(scan_op(&body, 1, 1, 4, reverse), p).unwrap(),
        );
        let mut r = common::Rng(7);
        let ins: Vec<Tensor> = g
            .param_types()
            .iter()
            .map(|t| r.tensor(t, -1.0, 1.0))
            .collect();
        let dirs: Vec<Tensor> = g
            .param_types()
            .iter()
            .map(|t| r.tensor(t, -1.0, 1.0))
            .collect();
        check_fd(&g, &ins, &dirs, 1e-7);
    }
}

#[test]
fn scan_without_carries_is_a_map() {
    let b = GraphBuilder::new("m");
    let x = b.param("x", f64s(&[]));
    let z = b.param("z", f64s(&[]));
    let k = b.param("k", f64s(&[]));
    // The second y is the scanned element z itself: its tangent is z's
    // tangent parameter, which no node reads.
    let body = BodyRef::new(b.build(&[x.sin() * k, z]).unwrap());
    let g = func(
        "map",
        &[("xs", f64s(&[3])), ("zs", f64s(&[3])), ("k", f64s(&[]))],
        |g, p| g.add_multi(scan_op(&body, 0, 2, 3, false), p).unwrap(),
    );
    let xs = [0.1, -0.4, 2.0];
    let ins = [vt(&xs), vt(&[5.0, 6.0, 7.0]), sc(1.5)];
    let v = [1.0, 2.0, 3.0];
    let t = check_fd(&g, &ins, &[vt(&v), vt(&[-1.0, 0.5, 4.0]), sc(0.0)], 1e-8);
    let want: Vec<f64> = xs.iter().zip(v).map(|(x, v)| x.cos() * 1.5 * v).collect();
    close(&t[0], &want, 1e-15, "map along xs");
    assert_eq!(t[1], vec![-1.0, 0.5, 4.0]);
    let t = check_fd(&g, &ins, &[vt(&[0.0; 3]), vt(&[0.0; 3]), sc(1.0)], 1e-8);
    let want: Vec<f64> = xs.iter().map(|x| x.sin()).collect();
    close(&t[0], &want, 1e-15, "map along k");
    assert_eq!(t[1], vec![0.0; 3]);
}

/// `(a, n, b, x) -> (a + b x, n + 1, b, a)`, with `n` a counter.
fn counter_body() -> BodyRef {
    let b = GraphBuilder::new("acc");
    let a = b.param("a", f64s(&[]));
    let n = b.param("n", f64s(&[]));
    let bb = b.param("b", f64s(&[]));
    let x = b.param("x", f64s(&[]));
    BodyRef::new(b.build(&[a + bb * x, n + 1.0, bb, a]).unwrap())
}

/// `(b0, xs) -> scan counter_body from a = 0, n = 0`.
fn counter_scan() -> Graph {
    let body = counter_body();
    func("count", &[("b0", f64s(&[])), ("xs", f64s(&[3]))], |g, p| {
        let zero = emit::scalar(g, DType::F64, 0.0);
        g.add_multi(scan_op(&body, 3, 1, 3, false), &[zero, zero, p[0], p[1]])
            .unwrap()
    })
}

fn scan_body_of(g: &Graph) -> BodyRef {
    match &g[loop_of(g, "scan")].op {
        Op::Scan { body, .. } => body.clone(),
        _ => unreachable!(),
    }
}

#[test]
fn a_carry_whose_tangent_stays_zero_is_not_carried() {
    let g = counter_scan();
    // Along b0 only: `a`'s init tangent is zero but the body makes it
    // nonzero (through b x), found by the fixpoint; the counter never gets
    // one. Parameters: a, n, b, a_dot, b_dot, x.
    let j = run(&g, "jvp{wrt=b0}");
    verify(&j).unwrap();
    assert_eq!(
        count_of(&j, "scan"),
        1,
        "one loop does primal and tangent work"
    );
    let body = scan_body_of(&j);
    assert_eq!(body.name(), "acc_jvp");
    assert_eq!(body.param_names(), ["a", "n", "b", "a_dot", "b_dot", "x"]);
    // Outputs: 3 carries + 2 tangent carries, 1 y + its tangent.
    assert_eq!(body.outputs().len(), 7);
    // Along xs only: b's tangent stays zero too.
    let j = run(&g, "jvp{wrt=xs}");
    assert_eq!(
        scan_body_of(&j).param_names(),
        ["a", "n", "b", "a_dot", "x", "x_dot"]
    );
    // The function itself gets only `<p>_dot` parameters and tangent
    // outputs (rule 17).
    assert_eq!(j.param_names(), ["b0", "xs", "xs_dot"]);
    assert_eq!(j.outputs().len(), 8);
}

#[test]
fn the_fixpoint_carries_what_the_body_makes_nonzero() {
    // a_N = b0 * sum(xs): d/db0 = sum(xs), although a's init has no tangent.
    let g = counter_scan();
    let xs = [0.5, -2.0, 4.0];
    let t = tangents(&g, "jvp{wrt=b0}", &[sc(1.5), vt(&xs)], &[sc(1.0)]);
    close(&t[0], &[xs.iter().sum()], 1e-15, "da/db0");
    assert_eq!(
        t[1],
        vec![0.0],
        "the counter's derivative is an explicit zero"
    );
    close(&t[2], &[1.0], 0.0, "db/db0");
    close(&t[3], &[0.0, 0.5, -1.5], 1e-15, "dys/db0");
}

// ---------------------------------------------------------------- while

/// `while x < 10: x = x * a`, with `max_trips`.
fn grow(max_trips: Option<usize>) -> Graph {
    let b = GraphBuilder::new("times");
    let x = b.param("x", f64s(&[]));
    let a = b.param("a", f64s(&[]));
    let body = BodyRef::new(b.build(&[x * a]).unwrap());
    let b = GraphBuilder::new("small");
    let x = b.param("x", f64s(&[]));
    let _a = b.param("a", f64s(&[]));
    let cond = BodyRef::new(b.build(&[x.lt(x.lit(10.0))]).unwrap());
    func("grow", &[("x0", f64s(&[])), ("a", f64s(&[]))], |g, p| {
        g.add_multi(
            Op::While {
                cond,
                body,
                carry: 1,
                max_trips,
            },
            p,
        )
        .unwrap()
    })
}

#[test]
fn while_with_the_bound_hit_and_not_hit() {
    let (x0, a) = (1.25, 1.5);
    let ins = [sc(x0), sc(a)];
    // Not hit: 1.25 a^6 = 14.2 is the first value >= 10 (6 trips).
    let g = grow(Some(20));
    let t = check_fd(&g, &ins, &[sc(1.0), sc(0.0)], 1e-8);
    close(&t[0], &[a.powi(6)], 1e-14, "dx/dx0, 6 trips");
    let t = check_fd(&g, &ins, &[sc(0.0), sc(1.0)], 1e-8);
    close(&t[0], &[6.0 * x0 * a.powi(5)], 1e-14, "dx/da, 6 trips");
    // Hit: 3 trips.
    let g = grow(Some(3));
    let t = check_fd(&g, &ins, &[sc(0.0), sc(1.0)], 1e-8);
    close(&t[0], &[3.0 * x0 * a.powi(2)], 1e-14, "dx/da, 3 trips");
    // No bound.
    let g = grow(None);
    let t = check_fd(&g, &ins, &[sc(0.0), sc(1.0)], 1e-8);
    close(&t[0], &[6.0 * x0 * a.powi(5)], 1e-14, "dx/da, unbounded");
    // max_trips is kept, and the condition ignores the tangents.
    let j = run(&grow(Some(3)), "jvp");
    match &j[loop_of(&j, "while")].op {
        Op::While {
            cond,
            body,
            max_trips,
            carry,
        } => {
            assert_eq!(*max_trips, Some(3));
            assert_eq!(*carry, 2);
            assert_eq!(cond.name(), "small_jvp");
            assert_eq!(body.name(), "times_jvp");
            assert_eq!(cond.param_names(), ["x", "x_dot", "a", "a_dot"]);
        }
        _ => unreachable!(),
    }
}

/// W10: `x = cos(a x)` by Newton's method from x = 1 until |dx| < 1e-14
/// (at most 50 trips).
fn newton() -> Graph {
    let b = GraphBuilder::new("newton_step");
    let x = b.param("x", f64s(&[]));
    let _d = b.param("d", f64s(&[]));
    let a = b.param("a", f64s(&[]));
    let f = x - (a * x).cos();
    let df = 1.0 + a * (a * x).sin();
    let step = f / df;
    let body = BodyRef::new(b.build(&[x - step, step]).unwrap());
    let b = GraphBuilder::new("not_converged");
    let _x = b.param("x", f64s(&[]));
    let d = b.param("d", f64s(&[]));
    let _a = b.param("a", f64s(&[]));
    let cond = BodyRef::new(b.build(&[d.abs().ge(d.lit(1e-14))]).unwrap());
    func("w10", &[("a", f64s(&[]))], |g, p| {
        let one = emit::scalar(g, DType::F64, 1.0);
        let r = g
            .add_multi(
                Op::While {
                    cond,
                    body,
                    carry: 2,
                    max_trips: Some(50),
                },
                &[one, one, p[0]],
            )
            .unwrap();
        vec![r[0]]
    })
}

#[test]
fn w10_newton_in_a_while() {
    let g = newton();
    let t = tangents(&g, "jvp", &[sc(0.7)], &[sc(1.0)]);
    let x = eval(&g, &[sc(0.7)])[0].to_f64_vec()[0];
    assert!((x - 0.8342699518670651).abs() < 1e-15, "x* = {x}");
    assert!(
        (t[0][0] - -0.33188796349353455).abs() < 1e-12,
        "dx*/da = {}",
        t[0][0]
    );
}

#[test]
fn a_parameter_that_only_steers_has_a_zero_derivative_and_bools_none() {
    // while (x < lim and go): x = 2 x, go = not go or true... the carry `go`
    // is bool, `lim` only steers.
    let b = GraphBuilder::new("dbl");
    let x = b.param("x", f64s(&[]));
    let go = b.param("go", TensorType::new(DType::Bool, Vec::<usize>::new()));
    let _lim = b.param("lim", f64s(&[]));
    let body = BodyRef::new(b.build(&[x * 2.0, go]).unwrap());
    let b = GraphBuilder::new("below");
    let x = b.param("x", f64s(&[]));
    let go = b.param("go", TensorType::new(DType::Bool, Vec::<usize>::new()));
    let lim = b.param("lim", f64s(&[]));
    let p = b.op(Op::Logical(adjoint_ir::LogicalOp::And), &[x.lt(lim), go]);
    let cond = BodyRef::new(b.build(&[p]).unwrap());
    let g = func(
        "steer",
        &[
            ("x0", f64s(&[])),
            ("go", TensorType::new(DType::Bool, Vec::<usize>::new())),
            ("lim", f64s(&[])),
        ],
        |g, p| {
            let r = g
                .add_multi(
                    Op::While {
                        cond,
                        body,
                        carry: 2,
                        max_trips: None,
                    },
                    p,
                )
                .unwrap();
            vec![r[0]]
        },
    );
    let j = run(&g, "jvp");
    assert_eq!(j.param_names(), ["x0", "go", "lim", "x0_dot", "lim_dot"]);
    let ins = [
        sc(1.5),
        Tensor::from_bool([], vec![true]).unwrap(),
        sc(10.0),
    ];
    // 1.5 -> 3 -> 6 -> 12: 3 trips.
    let t = tangents(&g, "jvp", &ins, &[sc(1.0), sc(0.0)]);
    assert_eq!(t[0], vec![8.0]);
    let t = tangents(&g, "jvp", &ins, &[sc(0.0), sc(1.0)]);
    assert_eq!(t[0], vec![0.0]);
    // Only x's tangent is carried (the bool carry gets none).
    match &j[loop_of(&j, "while")].op {
        Op::While { body, carry, .. } => {
            assert_eq!(*carry, 3);
            // lim's tangent, which nothing in the body reads, is not passed.
            assert_eq!(body.param_names(), ["x", "go", "x_dot", "lim"]);
        }
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------- cond

/// `cond x > 0 then (sqrt(x) y, 3) else (x x y, x)`.
fn branchy() -> Graph {
    let b = GraphBuilder::new("pos");
    let x = b.param("x", f64s(&[]));
    let y = b.param("y", f64s(&[]));
    let then = BodyRef::new(b.build(&[x.sqrt() * y, x.lit(3.0)]).unwrap());
    let b = GraphBuilder::new("neg");
    let x = b.param("x", f64s(&[]));
    let y = b.param("y", f64s(&[]));
    let els = BodyRef::new(b.build(&[x * x * y, x]).unwrap());
    func("br", &[("x", f64s(&[])), ("y", f64s(&[]))], |g, p| {
        let pred = emit::cmp_lit(g, CompareOp::Gt, p[0], 0.0).unwrap();
        g.add_multi(Op::Cond { then, els }, &[pred, p[0], p[1]])
            .unwrap()
    })
}

#[test]
fn cond_differentiates_the_taken_branch_only() {
    let g = branchy();
    // then: d(sqrt(x) y) = y / (2 sqrt x) dx + sqrt(x) dy; the constant's
    // tangent is an explicit zero.
    let t = check_fd(&g, &[sc(4.0), sc(3.0)], &[sc(1.0), sc(0.5)], 1e-8);
    close(&t[0], &[3.0 / 4.0 + 2.0 * 0.5], 1e-15, "then");
    assert_eq!(t[1], vec![0.0]);
    // else, at x = -1: the then branch's tangent would be NaN (sqrt of a
    // negative); nothing of it leaks in.
    let t = check_fd(&g, &[sc(-1.0), sc(3.0)], &[sc(1.0), sc(0.5)], 1e-8);
    close(&t[0], &[-2.0 * 3.0 + 0.5], 1e-15, "else");
    assert_eq!(t[1], vec![1.0]);
    // Both branches return the union of nonzero tangents.
    let j = run(&g, "jvp");
    match &j[loop_of(&j, "cond")].op {
        Op::Cond { then, els } => {
            assert_eq!((then.name(), els.name()), ("pos_jvp", "neg_jvp"));
            assert_eq!(then.param_names(), ["x", "y", "x_dot", "y_dot"]);
            assert_eq!(then.outputs().len(), 4);
            assert_eq!(els.output_types(), then.output_types());
        }
        _ => unreachable!(),
    }
}

// ------------------------------------------------------- nesting, dtypes

#[test]
fn nested_loops() {
    // inner: 2 trips of c = cond(n > 0, n^2, sin n) with n = c sin(x) + x
    // (x invariant); outer: a reverse scan over xs with the inner loop in
    // its body.
    let b = GraphBuilder::new("sq");
    let v = b.param("v", f64s(&[]));
    let then = BodyRef::new(b.build(&[v * v]).unwrap());
    let b = GraphBuilder::new("sine");
    let v = b.param("v", f64s(&[]));
    let els = BodyRef::new(b.build(&[v.sin()]).unwrap());
    let mut inner = Graph::new("inner_step");
    let c = inner.add_param("c", f64s(&[])).unwrap();
    let x = inner.add_param("x", f64s(&[])).unwrap();
    let s = emit::un(&mut inner, adjoint_ir::UnaryOp::Sin, x).unwrap();
    let cs = emit::mul(&mut inner, c, s).unwrap();
    let nc = emit::add(&mut inner, cs, x).unwrap();
    let pred = emit::cmp_lit(&mut inner, CompareOp::Gt, nc, 0.0).unwrap();
    let r = inner
        .add_multi(Op::Cond { then, els }, &[pred, nc])
        .unwrap();
    inner.set_outputs(vec![r[0]]);
    verify(&inner).unwrap();
    let inner = BodyRef::new(inner);
    let mut outer = Graph::new("outer_step");
    let c = outer.add_param("c", f64s(&[])).unwrap();
    let x = outer.add_param("x", f64s(&[])).unwrap();
    let r = outer
        .add_multi(scan_op(&inner, 1, 0, 2, false), &[c, x])
        .unwrap();
    let y = emit::mul(&mut outer, c, x).unwrap();
    outer.set_outputs(vec![r[0], y]);
    verify(&outer).unwrap();
    let outer = BodyRef::new(outer);
    let g = func("nest", &[("c0", f64s(&[])), ("xs", f64s(&[3]))], |g, p| {
        g.add_multi(scan_op(&outer, 1, 1, 3, true), p).unwrap()
    });
    check_fd(
        &g,
        &[sc(0.3), vt(&[0.4, -0.9, 1.3])],
        &[sc(1.0), vt(&[0.5, -1.0, 0.25])],
        1e-7,
    );
    let j = run(&g, "jvp");
    let body = scan_body_of(&j);
    assert_eq!(body.name(), "outer_step_jvp");
    let inner = scan_body_of(&body);
    assert_eq!(inner.name(), "inner_step_jvp");
}

#[test]
fn f32_and_f64_carries_agree_with_the_unrolled_program() {
    // (a: f32, b: f64, x: f64) -> (a * f32(x), b + f64(a) * x)
    let bb = GraphBuilder::new("mixed");
    let a = bb.param("a", TensorType::f32(Vec::<usize>::new()));
    let b = bb.param("b", f64s(&[]));
    let x = bb.param("x", f64s(&[]));
    let na = a * x.cast(DType::F32);
    let nb = b + a.cast(DType::F64) * x;
    let body = BodyRef::new(bb.build(&[na, nb]).unwrap());
    let n = 3;
    let params = [
        ("a0", TensorType::f32(Vec::<usize>::new())),
        ("b0", f64s(&[])),
        ("xs", f64s(&[n])),
    ];
    let g = func("mix", &params, |g, p| {
        g.add_multi(scan_op(&body, 2, 1, n, false), p).unwrap()
    });
    // The same steps unrolled by hand.
    let unrolled = func("mix_unrolled", &params, |g, p| {
        let (mut a, mut b) = (p[0], p[1]);
        for t in 0..n {
            let x = g
                .add(
                    Op::Slice {
                        start: vec![t],
                        end: vec![t + 1],
                        stride: vec![1],
                    },
                    &[p[2]],
                )
                .unwrap();
            let x = emit::reshape(g, x, &adjoint_ir::Shape::scalar()).unwrap();
            let xf = emit::cast(g, x, DType::F32).unwrap();
            let af = emit::cast(g, a, DType::F64).unwrap();
            let na = emit::mul(g, a, xf).unwrap();
            let ax = emit::mul(g, af, x).unwrap();
            b = emit::add(g, b, ax).unwrap();
            a = na;
        }
        vec![a, b]
    });
    let ins = [Tensor::scalar_f32(0.75), sc(-0.5), vt(&[1.5, -0.25, 2.0])];
    let dirs = [Tensor::scalar_f32(1.0), sc(0.5), vt(&[0.3, 0.2, -0.1])];
    let t = tangents(&g, "jvp", &ins, &dirs);
    let u = tangents(&unrolled, "jvp", &ins, &dirs);
    assert_eq!(t, u, "scan and the unrolled program give the same tangents");
    // Hand-derived along a0 (exact in binary): a_N = a0 x0 x1 x2 and
    // b_N = b0 + sum_t a_t x_t with a_t = a0 x0 .. x_{t-1}.
    let (x0, x1, x2) = (1.5, -0.25, 2.0);
    let along_a = [Tensor::scalar_f32(1.0), sc(0.0), vt(&[0.0; 3])];
    let t = tangents(&g, "jvp", &ins, &along_a);
    assert_eq!(t[0], vec![x0 * x1 * x2]);
    assert_eq!(t[1], vec![x0 + x0 * x1 + x0 * x1 * x2]);
    // Along b0 and xs, against differences (f64 steps only; a's f32
    // rounding would swamp a difference quotient through a).
    let dirs = [Tensor::scalar_f32(0.0), sc(1.0), vt(&[0.0; 3])];
    let t = tangents(&g, "jvp", &ins, &dirs);
    let f = fd(&g, &ins, &dirs);
    close(&t[1], &f[1], 1e-9, "f64 carry vs finite differences");
}

// ------------------------------------------------ higher order, batching

#[test]
fn jvp_of_jvp_through_a_scan() {
    // Second directional derivative along v: the tangent output of the
    // second jvp (with the first tangent fixed) = d/ds of the first
    // tangent at c0 + s v.
    let g = affine_scan(3, false);
    let ins = [sc(2.0), vt(&[0.5, 3.0, -1.0]), sc(0.25)];
    let v = [sc(0.3), vt(&[1.0, -1.0, 0.5]), sc(2.0)];
    let j = run(&g, "jvp");
    let jj = run(&g, "jvp,jvp");
    verify(&jj).unwrap();
    assert_eq!(count_of(&jj, "scan"), 1);
    assert_eq!(scan_body_of(&jj).name(), "step_jvp_jvp");
    // Inputs of jj: (c0, xs, k, c0_dot, xs_dot, k_dot) and their tangents.
    let mut jin: Vec<Tensor> = ins.to_vec();
    jin.extend_from_slice(&v);
    let zero_dirs = [sc(0.0), vt(&[0.0; 3]), sc(0.0)];
    let mut jdirs: Vec<Tensor> = v.to_vec();
    jdirs.extend_from_slice(&zero_dirs);
    // d/ds [jvp(g)(x + s v, v)] by the second jvp and by differences.
    let t = tangents(&j, "jvp", &jin, &jdirs);
    let f = fd(&j, &jin, &jdirs);
    for (a, b) in t.iter().zip(&f) {
        close(a, b, 1e-7, "second order");
    }
    // Hand-derived: c3 = c0 x0 x1 x2 + k x1 x2 + k x2 + k, whose second
    // derivative along v is twice the sum, over each monomial, of its
    // products with two factors replaced by their directions.
    let (c0, x, k) = (2.0, [0.5, 3.0, -1.0], 0.25);
    let (dc, dx, dk) = (0.3, [1.0, -1.0, 0.5], 2.0);
    let h = 2.0
        * (dc * (dx[0] * x[1] * x[2] + x[0] * dx[1] * x[2] + x[0] * x[1] * dx[2])
            + c0 * (dx[0] * dx[1] * x[2] + dx[0] * x[1] * dx[2] + x[0] * dx[1] * dx[2])
            + dk * (dx[1] * x[2] + x[1] * dx[2] + dx[2])
            + k * dx[1] * dx[2]);
    // Outputs of j: c3, ys, dc3, dys; its tangents t: dc3, dys, d2c3, d2ys.
    close(&t[2], &[h], 1e-13, "d2 c3");
}

#[test]
fn jacobian_fwd_through_a_scan_matches_per_direction_jvps() {
    // x: f64[3] -> scan over the 3 elements of a carry vector... the
    // batched path: tangents of shape [B] ++ shape, xs transposed in and
    // ys out.
    let b = GraphBuilder::new("cell");
    let c = b.param("c", f64s(&[2]));
    let x = b.param("x", f64s(&[2]));
    let w = b.param("w", f64s(&[2]));
    let body = BodyRef::new(b.build(&[(c * w + x).tanh(), (c * x).sum()]).unwrap());
    let g = func("rnn", &[("p", f64s(&[10]))], |g, p| {
        let sl = |g: &mut Graph, s: usize, e: usize| {
            g.add(
                Op::Slice {
                    start: vec![s],
                    end: vec![e],
                    stride: vec![1],
                },
                &[p[0]],
            )
            .unwrap()
        };
        let c0 = sl(g, 0, 2);
        let xs = sl(g, 2, 8);
        let xs = emit::reshape(g, xs, &adjoint_ir::Shape::new([3, 2])).unwrap();
        let w = sl(g, 8, 10);
        let r = g
            .add_multi(scan_op(&body, 1, 1, 3, false), &[c0, xs, w])
            .unwrap();
        // One output: concat(c_N, ys).
        vec![g.add(Op::Concat { axis: 0 }, &[r[0], r[1]]).unwrap()]
    });
    let mut r = common::Rng(3);
    let p = r.tensor(&f64s(&[10]), -1.0, 1.0);
    let jac = run(&g, "jacobian{mode=fwd}");
    verify(&jac).unwrap();
    let jm = eval(&jac, std::slice::from_ref(&p))[1].to_f64_vec();
    assert_eq!(jm.len(), 5 * 10);
    for i in 0..10 {
        let mut e = vec![0.0; 10];
        e[i] = 1.0;
        let t = tangents(&g, "jvp", std::slice::from_ref(&p), &[vt(&e)]);
        let col: Vec<f64> = (0..5).map(|r| jm[r * 10 + i]).collect();
        close(&col, &t[0], 1e-14, &format!("column {i}"));
    }
}

#[test]
fn jacobian_fwd_through_while_and_cond_matches_jvp() {
    // Scalar parameters: each appended [1, 1] Jacobian is the tangent of
    // output 0 along that parameter.
    let cases = [
        (grow(Some(20)), vec![sc(1.25), sc(1.5)]),
        (branchy(), vec![sc(4.0), sc(3.0)]),
        (branchy(), vec![sc(-1.0), sc(3.0)]),
        (newton(), vec![sc(0.7)]),
    ];
    for (g, ins) in cases {
        let jac = run(&g, "jacobian{mode=fwd,of=0}");
        verify(&jac).unwrap();
        let out = eval(&jac, &ins);
        let n0 = g.outputs().len();
        assert_eq!(out.len(), n0 + ins.len());
        for i in 0..ins.len() {
            let dirs: Vec<Tensor> = (0..ins.len())
                .map(|j| sc(if i == j { 1.0 } else { 0.0 }))
                .collect();
            let t = tangents(&g, "jvp", &ins, &dirs);
            assert_eq!(out[n0 + i].to_f64_vec(), t[0], "@{} column {i}", g.name());
        }
    }
}

// ------------------------------------- second order with reverse mode

/// `x[s..e]` as a value of shape `shape`.
fn part(g: &mut Graph, x: NodeId, s: usize, e: usize, shape: &[usize]) -> NodeId {
    let v = g
        .add(
            Op::Slice {
                start: vec![s],
                end: vec![e],
                stride: vec![1],
            },
            &[x],
        )
        .unwrap();
    emit::reshape(g, v, &adjoint_ir::Shape::new(shape.to_vec())).unwrap()
}

fn sum_all(g: &mut Graph, v: NodeId) -> NodeId {
    let r = g.ty(v).shape.rank();
    emit::reduce_sum(g, v, (0..r).collect()).unwrap()
}

/// Scalar losses of one vector parameter `x` through each loop form.
fn losses() -> Vec<(Graph, usize)> {
    let b = GraphBuilder::new("cell");
    let c = b.param("c", f64s(&[2]));
    let x = b.param("x", f64s(&[2]));
    let w = b.param("w", f64s(&[2]));
    let cell = BodyRef::new(b.build(&[(c * w + x).tanh(), (c * x).sum()]).unwrap());
    let mut out = Vec::new();
    for reverse in [false, true] {
        let cell = cell.clone();
        let g = func("scan_loss", &[("x", f64s(&[8]))], |g, p| {
            let c0 = part(g, p[0], 0, 2, &[2]);
            let xs = part(g, p[0], 2, 8, &[3, 2]);
            let w = part(g, p[0], 6, 8, &[2]);
            let r = g
                .add_multi(scan_op(&cell, 1, 1, 3, reverse), &[c0, xs, w])
                .unwrap();
            let cc = emit::mul(g, r[0], r[0]).unwrap();
            let a = sum_all(g, cc);
            let ys = emit::un(g, adjoint_ir::UnaryOp::Sin, r[1]).unwrap();
            let b = sum_all(g, ys);
            vec![emit::add(g, a, b).unwrap()]
        });
        out.push((g, 8));
    }
    // while (bounded, so reverse mode applies): x_N a + a^2.
    let w = grow(Some(20));
    let (cond, body) = match &w[loop_of(&w, "while")].op {
        Op::While { cond, body, .. } => (cond.clone(), body.clone()),
        _ => unreachable!(),
    };
    let g = func("while_loss", &[("x", f64s(&[2]))], |g, p| {
        let x0 = part(g, p[0], 0, 1, &[]);
        let a = part(g, p[0], 1, 2, &[]);
        let r = g
            .add_multi(
                Op::While {
                    cond,
                    body,
                    carry: 1,
                    max_trips: Some(20),
                },
                &[x0, a],
            )
            .unwrap();
        let xa = emit::mul(g, r[0], a).unwrap();
        let aa = emit::mul(g, a, a).unwrap();
        vec![emit::add(g, xa, aa).unwrap()]
    });
    out.push((g, 2));
    // cond: r0 + r1 x.
    let br = branchy();
    let (then, els) = match &br[loop_of(&br, "cond")].op {
        Op::Cond { then, els } => (then.clone(), els.clone()),
        _ => unreachable!(),
    };
    let g = func("cond_loss", &[("x", f64s(&[2]))], |g, p| {
        let x = part(g, p[0], 0, 1, &[]);
        let y = part(g, p[0], 1, 2, &[]);
        let pred = emit::cmp_lit(g, CompareOp::Gt, x, 0.0).unwrap();
        let r = g.add_multi(Op::Cond { then, els }, &[pred, x, y]).unwrap();
        let rx = emit::mul(g, r[1], x).unwrap();
        vec![emit::add(g, r[0], rx).unwrap()]
    });
    out.push((g, 2));
    out
}

#[test]
fn forward_over_reverse_equals_reverse_over_forward_through_loops() {
    let mut r = common::Rng(11);
    for (g, n) in losses() {
        for point in 0..2 {
            let mut x: Vec<f64> = (0..n).map(|_| r.uniform(-1.0, 1.0)).collect();
            if g.name() == "while_loss" {
                x = vec![1.25, 1.5 + 0.1 * point as f64];
            }
            if g.name() == "cond_loss" {
                // Both branches.
                x[0] = if point == 0 { 2.5 } else { -0.75 };
            }
            let v: Vec<f64> = (0..n).map(|_| r.uniform(-1.0, 1.0)).collect();
            let fwd_rev = run(&g, "grad,jvp{wrt=x}");
            let rev_fwd = run(&g, "jvp{wrt=x},grad{of=1,wrt=x}");
            verify(&fwd_rev).unwrap();
            verify(&rev_fwd).unwrap();
            let a = eval(&fwd_rev, &[vt(&x), vt(&v)]);
            let b = eval(&rev_fwd, &[vt(&x), vt(&v)]);
            // [f, g, df, H v] and [f, df, H v].
            let (hv1, hv2) = (a[3].to_f64_vec(), b[2].to_f64_vec());
            let scale = hv1.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
            for (p, q) in hv1.iter().zip(&hv2) {
                assert!(
                    (p - q).abs() <= 1e-10 * scale,
                    "@{}: grad,jvp gives {hv1:?}, jvp,grad gives {hv2:?}",
                    g.name()
                );
            }
            // And both are the derivative of the gradient along v.
            let grad = run(&g, "grad");
            let h = f64::EPSILON.cbrt();
            let xp: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + h * b).collect();
            let xm: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a - h * b).collect();
            let gp = eval(&grad, &[vt(&xp)])[1].to_f64_vec();
            let gm = eval(&grad, &[vt(&xm)])[1].to_f64_vec();
            let fdv: Vec<f64> = gp
                .iter()
                .zip(&gm)
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect();
            close(
                &hv1,
                &fdv,
                1e-6,
                &format!("@{} H v vs differences", g.name()),
            );
        }
    }
}

#[test]
fn custom_calls_inside_bodies_use_their_jvp_rule_or_are_inlined_when_batched() {
    // cube(x) = x^3 with the rule t -> 3 x^2 t; body (c, x) -> c + cube(x).
    let b = GraphBuilder::new("cube");
    let x = b.param("x", f64s(&[]));
    let body = b.build(&[x * x * x]).unwrap();
    let b = GraphBuilder::new("cube_jvp_rule");
    let x = b.param("x", f64s(&[]));
    let _y = b.param("y", f64s(&[]));
    let t = b.param("t", f64s(&[]));
    let rule = b.build(&[x * x * 3.0 * t]).unwrap();
    let cube = adjoint_ir::CustomOp::new("cube", body, None, Some(rule)).unwrap();
    let b = GraphBuilder::new("acc");
    let c = b.param("c", f64s(&[]));
    let x = b.param("x", f64s(&[]));
    let step = BodyRef::new(b.build(&[c + b.call(&cube, &[x])]).unwrap());
    let g = func("sum_cubes", &[("xs", f64s(&[3]))], |g, p| {
        let zero = emit::scalar(g, DType::F64, 0.0);
        g.add_multi(scan_op(&step, 1, 1, 3, false), &[zero, p[0]])
            .unwrap()
    });
    let xs = [0.5, -2.0, 1.5];
    let v = [1.0, 0.25, -3.0];
    let t = check_fd(&g, &[vt(&xs)], &[vt(&v)], 1e-8);
    let want: f64 = xs.iter().zip(v).map(|(x, v)| 3.0 * x * x * v).sum();
    close(&t[0], &[want], 1e-15, "sum of cubes");
    let has_call = |g: &Graph| count_of(g, "call") > 0;
    let j = run(&g, "jvp");
    assert!(
        has_call(&scan_body_of(&j)),
        "the rule is used, the call kept"
    );
    let jac = run(&g, "jacobian{mode=fwd}");
    assert!(
        !has_call(&scan_body_of(&jac)),
        "batched: the call is inlined"
    );
    let jm = eval(&jac, &[vt(&xs)])[1].to_f64_vec();
    let want: Vec<f64> = xs.iter().map(|x| 3.0 * x * x).collect();
    close(&jm, &want, 1e-15, "jacobian of the sum of cubes");
}
