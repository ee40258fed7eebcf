//! `scan`, `while` and `cond` compiled as native loops: the JIT agrees with
//! the interpreter bit for bit (same math mode), bodies are compiled once
//! and never unrolled (code size and function count independent of the
//! trip count), and iota and the boolean ops lower exactly.

mod common;
#[path = "common/loop_reference.rs"]
mod loop_reference;

use adjoint_ir::{
    BinaryOp, BodyRef, CompareOp, DType, Graph, GraphBuilder, LogicalOp, NodeId, Op, Shape, Tensor,
    TensorData, TensorType,
};
use adjoint_jit::{compile, JitOptions};
use common::{assert_same, data, data_special, tensor};
use loop_reference::reference;

fn ty(dt: DType, d: &[usize]) -> TensorType {
    TensorType::new(dt, Shape::new(d.to_vec()))
}

/// Asserts JIT = interpreter, bit for bit, under `opts`; returns the JIT's
/// results.
fn agree_opts(g: &Graph, inputs: &[Tensor], opts: &JitOptions) -> Vec<Tensor> {
    let f = compile(g, opts).unwrap_or_else(|e| panic!("compile @{}: {e}", g.name()));
    let got = f.run(inputs).unwrap();
    let want = reference(g, inputs, opts);
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert_same(&format!("@{} output {i}", g.name()), a, b);
    }
    got
}

/// [`agree_opts`] with the default options, with the libm math mode, and
/// with every arena on the heap (bodies get theirs from the caller).
fn agree(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    let got = agree_opts(g, inputs, &JitOptions::default());
    let libm = JitOptions {
        poly_math: false,
        ..Default::default()
    };
    agree_opts(g, inputs, &libm);
    let heap = JitOptions {
        stack_arena_max: 0,
        ..Default::default()
    };
    agree_opts(g, inputs, &heap);
    got
}

fn input(t: &TensorType, seed: u64) -> Tensor {
    tensor(t, &data(t.numel(), seed, -1.5, 1.5))
}

// ---------------------------------------------------------------------
// Bodies.
// ---------------------------------------------------------------------

/// `(c: T[2], x: T[2], k: T[]) -> (sin(c)·k + x, sum(c·x), exp(x))`
fn step(dt: DType) -> BodyRef {
    let b = GraphBuilder::new("step");
    let c = b.param("c", ty(dt, &[2]));
    let x = b.param("x", ty(dt, &[2]));
    let k = b.param("k", ty(dt, &[]));
    let nc = c.sin() * k + x;
    let y = (c * x).sum();
    BodyRef::new(b.build(&[nc, y, x.exp()]).unwrap())
}

/// `scan` of [`step`] over `xs: T[n, 2]`: results (c, ys0, ys1).
fn scan_graph(dt: DType, n: usize, reverse: bool) -> Graph {
    let mut g = Graph::new("scan_f");
    let c0 = g.add_param("c0", ty(dt, &[2])).unwrap();
    let xs = g.add_param("xs", ty(dt, &[n, 2])).unwrap();
    let k = g.add_param("k", ty(dt, &[])).unwrap();
    let op = Op::Scan {
        body: step(dt),
        carry: 1,
        xs: 1,
        length: n,
        reverse,
    };
    let r = g.add_multi(op, &[c0, xs, k]).unwrap();
    g.set_outputs(r);
    g
}

fn inputs_of(g: &Graph, seed: u64) -> Vec<Tensor> {
    g.param_types()
        .iter()
        .enumerate()
        .map(|(i, t)| input(t, seed + i as u64))
        .collect()
}

#[test]
fn scan_forward_and_reverse_with_xs_and_invariants() {
    for dt in [DType::F64, DType::F32] {
        for reverse in [false, true] {
            for n in [0, 1, 2, 5] {
                let g = scan_graph(dt, n, reverse);
                let ins = inputs_of(&g, 7);
                let got = agree(&g, &ins);
                assert_eq!(got[1].shape().dims(), &[n]);
                assert_eq!(got[2].shape().dims(), &[n, 2]);
                if n == 0 {
                    // The carry is its init, the stacked outputs empty.
                    assert_same("carry of an empty scan", &got[0], &ins[0]);
                }
            }
        }
    }
}

#[test]
fn scan_reverse_stores_ys_at_the_index_it_read() {
    // Hand-derived: c' = c + x, y = c; c0 = 0, xs = [1, 2, 3].
    let b = GraphBuilder::new("acc");
    let c = b.param("c", TensorType::f64([]));
    let x = b.param("x", TensorType::f64([]));
    let body = BodyRef::new(b.build(&[c + x, c]).unwrap());
    for (reverse, c_end, ys) in [(false, 6.0, [0.0, 1.0, 3.0]), (true, 6.0, [5.0, 3.0, 0.0])] {
        let mut g = Graph::new("f");
        let c0 = g.add_param("c0", TensorType::f64([])).unwrap();
        let xs = g.add_param("xs", TensorType::f64([3])).unwrap();
        let op = Op::Scan {
            body: body.clone(),
            carry: 1,
            xs: 1,
            length: 3,
            reverse,
        };
        let r = g.add_multi(op, &[c0, xs]).unwrap();
        g.set_outputs(r);
        let ins = [
            Tensor::from_f64([], vec![0.0]).unwrap(),
            Tensor::from_f64([3], vec![1.0, 2.0, 3.0]).unwrap(),
        ];
        let got = agree(&g, &ins);
        assert_eq!(got[0].to_f64_vec(), vec![c_end]);
        assert_eq!(got[1].to_f64_vec(), ys.to_vec());
    }
}

#[test]
fn scan_without_carries_is_a_map() {
    let b = GraphBuilder::new("sq");
    let x = b.param("x", TensorType::f64([3]));
    let k = b.param("k", TensorType::f64([3]));
    let body = BodyRef::new(b.build(&[(x * x + k).tanh()]).unwrap());
    let mut g = Graph::new("map");
    let xs = g.add_param("xs", TensorType::f64([4, 3])).unwrap();
    let k = g.add_param("k", TensorType::f64([3])).unwrap();
    let op = Op::Scan {
        body,
        carry: 0,
        xs: 1,
        length: 4,
        reverse: false,
    };
    let r = g.add_multi(op, &[xs, k]).unwrap();
    g.set_outputs(r);
    agree(&g, &inputs_of(&g, 3));
}

#[test]
fn scan_without_xs_runs_length_trips() {
    // c' = c·k + 1 over a scalar carry, ten trips, no scanned input; the
    // carry is also stacked.
    let b = GraphBuilder::new("affine");
    let c = b.param("c", TensorType::f64([]));
    let k = b.param("k", TensorType::f64([]));
    let nc = c * k + c.lit(1.0);
    let body = BodyRef::new(b.build(&[nc, nc]).unwrap());
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", TensorType::f64([])).unwrap();
    let k = g.add_param("k", TensorType::f64([])).unwrap();
    let op = Op::Scan {
        body,
        carry: 1,
        xs: 0,
        length: 10,
        reverse: false,
    };
    let r = g.add_multi(op, &[c0, k]).unwrap();
    g.set_outputs(r);
    let got = agree(
        &g,
        &[
            Tensor::from_f64([], vec![0.0]).unwrap(),
            Tensor::from_f64([], vec![2.0]).unwrap(),
        ],
    );
    assert_eq!(got[0].to_f64_vec(), vec![1023.0]);
    assert_eq!(got[1].to_f64_vec()[9], 1023.0);
}

#[test]
fn scan_reads_strided_and_broadcast_operands() {
    // xs is a transpose (not contiguous per slice: copied once), the init
    // a broadcast splat, the invariant a broadcast of a parameter.
    let dt = DType::F64;
    let mut g = Graph::new("views");
    let xt = g.add_param("xt", ty(dt, &[2, 6])).unwrap();
    let kk = g.add_param("k", ty(dt, &[])).unwrap();
    let xs = g.add(Op::Transpose { perm: vec![1, 0] }, &[xt]).unwrap();
    let one = g.constant(Tensor::full(&ty(dt, &[]), 0.5));
    let c0 = g
        .add(
            Op::Broadcast {
                shape: Shape::new(vec![2]),
            },
            &[one],
        )
        .unwrap();
    let op = Op::Scan {
        body: step(dt),
        carry: 1,
        xs: 1,
        length: 6,
        reverse: false,
    };
    let r = g.add_multi(op, &[c0, xs, kk]).unwrap();
    g.set_outputs(vec![r[0], r[1], r[2], r[0]]);
    agree(&g, &inputs_of(&g, 11));
}

// ---------------------------------------------------------------------
// while
// ---------------------------------------------------------------------

/// `while c < limit: c = c·1.5 + 1` (carry f64[2], test on element 0).
fn grow(max_trips: Option<usize>) -> Graph {
    let b = GraphBuilder::new("lt");
    let c = b.param("c", TensorType::f64([2]));
    let lim = b.param("lim", TensorType::f64([]));
    let first = c.slice(&[0], &[1]).reshape(Vec::<usize>::new());
    let p = b.op(Op::Compare(CompareOp::Lt), &[first, lim]);
    let cond = BodyRef::new(b.build(&[p]).unwrap());
    let b = GraphBuilder::new("grow");
    let c = b.param("c", TensorType::f64([2]));
    let _lim = b.param("lim", TensorType::f64([]));
    let body = BodyRef::new(b.build(&[c * c.lit(1.5) + c.lit(1.0)]).unwrap());
    let mut g = Graph::new("w");
    let c0 = g.add_param("c0", TensorType::f64([2])).unwrap();
    let lim = g.add_param("lim", TensorType::f64([])).unwrap();
    let op = Op::While {
        cond,
        body,
        carry: 1,
        max_trips,
    };
    let r = g.add_multi(op, &[c0, lim]).unwrap();
    g.set_outputs(r);
    g
}

#[test]
fn while_with_bound_hit_not_hit_zero_and_unbounded() {
    let c0 = Tensor::from_f64([2], vec![1.0, -3.0]).unwrap();
    let lim = Tensor::from_f64([], vec![100.0]).unwrap();
    // 1 -> 2.5 -> 4.75 -> 8.125 -> 13.1875 -> 20.78 -> 32.17 -> 49.26 -> 74.9 -> 113.3: 9 trips.
    for (max, trips) in [
        (None, 9),
        (Some(50), 9),
        (Some(4), 4),
        (Some(3), 3),
        (Some(0), 0),
    ] {
        let g = grow(max);
        let got = agree(&g, &[c0.clone(), lim.clone()]);
        let mut want = 1.0f64;
        for _ in 0..trips {
            want = want * 1.5 + 1.0;
        }
        assert_eq!(got[0].to_f64_vec()[0], want, "max_trips {max:?}");
    }
    // A condition false at once: zero trips.
    let g = grow(None);
    let got = agree(&g, &[c0.clone(), Tensor::from_f64([], vec![0.0]).unwrap()]);
    assert_same("no trips", &got[0], &c0);
}

/// W10: x* solving x = cos(a·x) by Newton's method from x = 1, until
/// |Δx| < 1e-14, at most 50 trips.
fn newton() -> Graph {
    let b = GraphBuilder::new("more");
    let _x = b.param("x", TensorType::f64([]));
    let d = b.param("d", TensorType::f64([]));
    let _a = b.param("a", TensorType::f64([]));
    let p = b.op(Op::Compare(CompareOp::Ge), &[d.abs(), d.lit(1e-14)]);
    let cond = BodyRef::new(b.build(&[p]).unwrap());
    let b = GraphBuilder::new("newton_step");
    let x = b.param("x", TensorType::f64([]));
    let _d = b.param("d", TensorType::f64([]));
    let a = b.param("a", TensorType::f64([]));
    let f = x - (a * x).cos();
    let df = x.lit(1.0) + a * (a * x).sin();
    let nx = x - f / df;
    let body = BodyRef::new(b.build(&[nx, nx - x]).unwrap());
    let mut g = Graph::new("w10");
    let a = g.add_param("a", TensorType::f64([])).unwrap();
    let x0 = g.constant(Tensor::from_f64([], vec![1.0]).unwrap());
    let d0 = g.constant(Tensor::from_f64([], vec![1.0]).unwrap());
    let op = Op::While {
        cond,
        body,
        carry: 2,
        max_trips: Some(50),
    };
    let r = g.add_multi(op, &[x0, d0, a]).unwrap();
    g.set_outputs(vec![r[0]]);
    g
}

#[test]
fn newton_w10_converges_to_the_fixed_point() {
    let g = newton();
    let got = agree(&g, &[Tensor::from_f64([], vec![0.7]).unwrap()]);
    let x = got[0].to_f64_vec()[0];
    assert!((x - 0.8342699518670651).abs() < 1e-15, "{x}");
}

// ---------------------------------------------------------------------
// cond
// ---------------------------------------------------------------------

fn branches(dt: DType) -> (BodyRef, BodyRef) {
    // then: log(x) + k (NaN for x < 0); else: x·x - k.
    let b = GraphBuilder::new("t");
    let x = b.param("x", ty(dt, &[3]));
    let k = b.param("k", ty(dt, &[]));
    let t = BodyRef::new(b.build(&[x.ln() + k, k]).unwrap());
    let b = GraphBuilder::new("e");
    let x = b.param("x", ty(dt, &[3]));
    let k = b.param("k", ty(dt, &[]));
    let e = BodyRef::new(b.build(&[x * x - k, k.neg_()]).unwrap());
    (t, e)
}

#[test]
fn cond_runs_only_the_taken_branch() {
    for dt in [DType::F64, DType::F32] {
        let (then, els) = branches(dt);
        let mut g = Graph::new("c");
        let p = g.add_param("p", ty(DType::Bool, &[])).unwrap();
        let x = g.add_param("x", ty(dt, &[3])).unwrap();
        let k = g.add_param("k", ty(dt, &[])).unwrap();
        let r = g.add_multi(Op::Cond { then, els }, &[p, x, k]).unwrap();
        g.set_outputs(r);
        let neg = tensor(&ty(dt, &[3]), &[-1.0, -2.0, -0.5]);
        let k = tensor(&ty(dt, &[]), &[0.25]);
        for pred in [true, false] {
            let p = Tensor::new(Shape::new(vec![]), TensorData::Bool(vec![pred])).unwrap();
            let got = agree(&g, &[p, neg.clone(), k.clone()]);
            let v = got[0].to_f64_vec();
            // The taken branch on negative x: NaN from log only when taken.
            assert_eq!(v.iter().all(|x| x.is_nan()), pred, "{v:?}");
            assert_eq!(got[1].to_f64_vec(), vec![if pred { 0.25 } else { -0.25 }]);
        }
    }
}

// ---------------------------------------------------------------------
// Nesting, sharing, iota and booleans
// ---------------------------------------------------------------------

/// A scan whose body runs a while whose body runs a cond.
fn nested(dt: DType) -> Graph {
    let sc = ty(dt, &[]);
    let lit = |g: &mut Graph, v: f64| g.constant(Tensor::full(&sc, v));
    let bin =
        |g: &mut Graph, op: BinaryOp, a: NodeId, b: NodeId| g.add(Op::Binary(op), &[a, b]).unwrap();
    let cmp = |g: &mut Graph, op: CompareOp, a: NodeId, b: NodeId| {
        g.add(Op::Compare(op), &[a, b]).unwrap()
    };
    // The branches: halve, or add 3.
    let b = GraphBuilder::new("half");
    let v = b.param("v", sc.clone());
    let half = BodyRef::new(b.build(&[v * v.lit(0.5)]).unwrap());
    let b = GraphBuilder::new("plus3");
    let v = b.param("v", sc.clone());
    let plus3 = BodyRef::new(b.build(&[v + v.lit(3.0)]).unwrap());
    // while v > 1 and n < 20: v = v >= 4 ? v/2 : v+3; n += 1
    let mut h = Graph::new("wcond");
    let v = h.add_param("v", sc.clone()).unwrap();
    let n = h.add_param("n", sc.clone()).unwrap();
    let one = lit(&mut h, 1.0);
    let twenty = lit(&mut h, 20.0);
    let gt = cmp(&mut h, CompareOp::Gt, v, one);
    let lt = cmp(&mut h, CompareOp::Lt, n, twenty);
    let both = h.add(Op::Logical(LogicalOp::And), &[gt, lt]).unwrap();
    h.set_outputs(vec![both]);
    let wcond = BodyRef::new(h);
    let mut h = Graph::new("wbody");
    let v = h.add_param("v", sc.clone()).unwrap();
    let n = h.add_param("n", sc.clone()).unwrap();
    let four = lit(&mut h, 4.0);
    let big = cmp(&mut h, CompareOp::Ge, v, four);
    let r = h
        .add_multi(
            Op::Cond {
                then: half,
                els: plus3,
            },
            &[big, v],
        )
        .unwrap();
    let one = lit(&mut h, 1.0);
    let n1 = bin(&mut h, BinaryOp::Add, n, one);
    h.set_outputs(vec![r[0], n1]);
    let wbody = BodyRef::new(h);
    // scan over xs: c' = c + (v after the while started at |x|·10), y = n.
    let mut h = Graph::new("sbody");
    let c = h.add_param("c", sc.clone()).unwrap();
    let x = h.add_param("x", sc.clone()).unwrap();
    let ax = h.add(Op::Unary(adjoint_ir::UnaryOp::Abs), &[x]).unwrap();
    let ten = lit(&mut h, 10.0);
    let start = bin(&mut h, BinaryOp::Mul, ax, ten);
    let zero = lit(&mut h, 0.0);
    let w = h
        .add_multi(
            Op::While {
                cond: wcond,
                body: wbody,
                carry: 2,
                max_trips: None,
            },
            &[start, zero],
        )
        .unwrap();
    let nc = bin(&mut h, BinaryOp::Add, c, w[0]);
    h.set_outputs(vec![nc, w[1]]);
    let sbody = BodyRef::new(h);
    let mut g = Graph::new("nested");
    let c0 = g.add_param("c0", sc.clone()).unwrap();
    let xs = g.add_param("xs", ty(dt, &[7])).unwrap();
    let op = Op::Scan {
        body: sbody,
        carry: 1,
        xs: 1,
        length: 7,
        reverse: true,
    };
    let r = g.add_multi(op, &[c0, xs]).unwrap();
    g.set_outputs(r);
    g
}

#[test]
fn nested_scan_while_cond_agree() {
    for dt in [DType::F64, DType::F32] {
        let g = nested(dt);
        let ins = inputs_of(&g, 5);
        let got = agree(&g, &ins);
        let f = compile(&g, &JitOptions::default()).unwrap();
        // Five bodies (the scan's, the while's two, the two branches),
        // each compiled once.
        assert_eq!(f.stats().bodies, 5);
        assert!(got[1].to_f64_vec().iter().all(|&n| n >= 1.0));
    }
}

#[test]
fn a_body_shared_by_two_loops_is_compiled_once() {
    let dt = DType::F64;
    let body = step(dt);
    let mut g = Graph::new("two");
    let c0 = g.add_param("c0", ty(dt, &[2])).unwrap();
    let xs = g.add_param("xs", ty(dt, &[4, 2])).unwrap();
    let k = g.add_param("k", ty(dt, &[])).unwrap();
    let scan = |reverse| Op::Scan {
        body: body.clone(),
        carry: 1,
        xs: 1,
        length: 4,
        reverse,
    };
    let r1 = g.add_multi(scan(false), &[c0, xs, k]).unwrap();
    let r2 = g.add_multi(scan(true), &[r1[0], xs, k]).unwrap();
    g.set_outputs(vec![r2[0], r1[1], r2[2]]);
    agree(&g, &inputs_of(&g, 9));
    let f = compile(&g, &JitOptions::default()).unwrap();
    assert_eq!(f.stats().bodies, 1);
}

#[test]
fn iota_and_boolean_ops_are_exact() {
    for dt in [DType::F64, DType::F32] {
        let b = GraphBuilder::new("iota_bool");
        let x = b.param("x", ty(dt, &[3, 5]));
        let i = b.op(
            Op::Iota {
                shape: Shape::new(vec![3, 5]),
                axis: 1,
                dtype: dt,
            },
            &[],
        );
        let j = b.op(
            Op::Iota {
                shape: Shape::new(vec![3, 5]),
                axis: 0,
                dtype: dt,
            },
            &[],
        );
        let gt = b.op(Op::Compare(CompareOp::Gt), &[x, j]);
        let lt = b.op(Op::Compare(CompareOp::Lt), &[i, x.lit(2.5)]);
        let and = b.op(Op::Logical(LogicalOp::And), &[gt, lt]);
        let or = b.op(Op::Logical(LogicalOp::Or), &[gt, lt]);
        let not = b.op(Op::Logical(LogicalOp::Not), &[and]);
        let pick = or.select(x * i, x - j);
        let g = b.build(&[i, j, and, or, not, pick]).unwrap();
        let ins = vec![tensor(&ty(dt, &[3, 5]), &data_special(15, 2))];
        let got = agree(&g, &ins);
        assert_eq!(
            got[0].to_f64_vec(),
            (0..15).map(|k| (k % 5) as f64).collect::<Vec<_>>()
        );
        assert_eq!(
            got[1].to_f64_vec(),
            (0..15).map(|k| (k / 5) as f64).collect::<Vec<_>>()
        );
    }
}

#[test]
fn boolean_carries_and_a_loop_in_a_loop_body_sharing_the_body() {
    // A bool carry flipped every trip by `not`, and an f32 carry.
    let b = GraphBuilder::new("flip");
    let f = b.param("f", ty(DType::Bool, &[4]));
    let s = b.param("s", ty(DType::F32, &[4]));
    let nf = b.op(Op::Logical(LogicalOp::Not), &[f]);
    let ns = f.select(s + s.lit(1.0), s * s.lit(0.5));
    let body = BodyRef::new(b.build(&[nf, ns, f]).unwrap());
    for n in [0usize, 1, 6, 7] {
        let mut g = Graph::new("flip_f");
        let f0 = g.add_param("f0", ty(DType::Bool, &[4])).unwrap();
        let s0 = g.add_param("s0", ty(DType::F32, &[4])).unwrap();
        let op = Op::Scan {
            body: body.clone(),
            carry: 2,
            xs: 0,
            length: n,
            reverse: false,
        };
        let r = g.add_multi(op, &[f0, s0]).unwrap();
        g.set_outputs(r);
        let f0 = Tensor::new(
            Shape::new(vec![4]),
            TensorData::Bool(vec![true, false, false, true]),
        )
        .unwrap();
        let s0 = tensor(&ty(DType::F32, &[4]), &[1.0, 2.0, -3.0, 8.0]);
        agree(&g, &[f0, s0]);
    }
}

// ---------------------------------------------------------------------
// Never unrolled
// ---------------------------------------------------------------------

/// `c' = c + 1` (scalar), T trips.
fn counter(t: usize) -> Graph {
    let b = GraphBuilder::new("inc");
    let c = b.param("c", TensorType::f64([]));
    let body = BodyRef::new(b.build(&[c + c.lit(1.0)]).unwrap());
    let mut g = Graph::new("count");
    let c0 = g.add_param("c0", TensorType::f64([])).unwrap();
    let op = Op::Scan {
        body,
        carry: 1,
        xs: 0,
        length: t,
        reverse: false,
    };
    let r = g.add_multi(op, &[c0]).unwrap();
    g.set_outputs(r);
    g
}

#[test]
fn code_size_and_functions_do_not_depend_on_the_trip_count() {
    for opts in [
        JitOptions::default(),
        JitOptions {
            stack_arena_max: 0,
            ..Default::default()
        },
    ] {
        let small = compile(&scan_graph(DType::F64, 10, false), &opts).unwrap();
        let large = compile(&scan_graph(DType::F64, 100_000, false), &opts).unwrap();
        assert!(small.stats().code_bytes > 0);
        assert_eq!(small.stats().code_bytes, large.stats().code_bytes);
        assert_eq!(small.stats().functions, large.stats().functions);
        assert_eq!(small.stats().bodies, 1);
        let c10 = compile(&counter(10), &opts).unwrap();
        let c100k = compile(&counter(100_000), &opts).unwrap();
        assert_eq!(c10.stats().code_bytes, c100k.stats().code_bytes);
        assert_eq!(c10.stats().functions, c100k.stats().functions);
        let out = c100k
            .run(&[Tensor::from_f64([], vec![0.0]).unwrap()])
            .unwrap();
        assert_eq!(out[0].to_f64_vec(), vec![100_000.0]);
    }
    // The long scan's stacked outputs (written in place) agree with the
    // short one's prefix.
    let g = scan_graph(DType::F64, 100_000, false);
    let f = compile(&g, &JitOptions::default()).unwrap();
    let n = 100_000;
    let xs = tensor(&ty(DType::F64, &[n, 2]), &data(2 * n, 4, -1.0, 1.0));
    let c0 = Tensor::from_f64([2], vec![0.1, 0.2]).unwrap();
    let k = Tensor::from_f64([], vec![0.9]).unwrap();
    let long = f.run(&[c0.clone(), xs.clone(), k.clone()]).unwrap();
    let g10 = scan_graph(DType::F64, 10, false);
    let xs10 = Tensor::from_f64([10, 2], xs.to_f64_vec()[..20].to_vec()).unwrap();
    let short = agree(&g10, &[c0, xs10, k]);
    assert_eq!(long[1].to_f64_vec()[..10], short[1].to_f64_vec()[..]);
}

#[test]
fn the_plan_reads_xs_and_writes_ys_in_place() {
    let f = compile(&scan_graph(DType::F64, 8, true), &JitOptions::default()).unwrap();
    assert!(
        f.plan().contains("scan of @step x 8 (reverse)"),
        "{}",
        f.plan()
    );
    // xs is read in place and ys written in place: besides the loop, the
    // only step is the copy of the carry's init into its buffer (once).
    let plan = f.plan();
    let steps: Vec<&str> = plan.lines().filter(|l| l.starts_with("step ")).collect();
    assert_eq!(steps.len(), 2, "{plan}");
    assert!(steps[0].contains("init"), "{plan}");
    // A strided scanned input is copied once, before the loop.
    let mut g = Graph::new("strided");
    let xt = g.add_param("xt", TensorType::f64([2, 6])).unwrap();
    let c0 = g.add_param("c0", TensorType::f64([2])).unwrap();
    let k = g.add_param("k", TensorType::f64([])).unwrap();
    let xs = g.add(Op::Transpose { perm: vec![1, 0] }, &[xt]).unwrap();
    let op = Op::Scan {
        body: step(DType::F64),
        carry: 1,
        xs: 1,
        length: 6,
        reverse: false,
    };
    let r = g.add_multi(op, &[c0, xs, k]).unwrap();
    g.set_outputs(r);
    let f = compile(&g, &JitOptions::default()).unwrap();
    let plan = f.plan();
    let steps: Vec<&str> = plan.lines().filter(|l| l.starts_with("step ")).collect();
    assert_eq!(steps.len(), 3, "{plan}");
    assert_eq!(
        steps.iter().filter(|l| l.contains("copy")).count(),
        1,
        "{plan}"
    );
    // The bodies' code is part of the dumps.
    let opts = JitOptions {
        keep_clif: true,
        ..Default::default()
    };
    let f = compile(&scan_graph(DType::F64, 8, true), &opts).unwrap();
    assert!(f.clif().unwrap().contains("; body @step"));
}

// ---------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------

#[test]
fn stacked_outputs_and_carries_count_in_the_memory_budget() {
    // ys of 4096 x 2 f64 (64 KiB) in the arena (not an output): over a
    // 16 KiB budget.
    let mut g = scan_graph(DType::F64, 4096, false);
    let r = g.outputs().to_vec();
    let s = g.add(Op::ReduceSum { axes: vec![0, 1] }, &[r[2]]).unwrap();
    g.set_outputs(vec![r[0], s]);
    let opts = JitOptions {
        memory_budget: 16 << 10,
        ..Default::default()
    };
    let e = compile(&g, &opts).unwrap_err();
    assert!(
        e.message.contains("scan") && e.message.contains("memory_budget"),
        "{e}"
    );
    // Within the budget it runs, and agrees.
    agree(&g, &inputs_of(&g, 1));
}

#[test]
fn unused_results_and_repeated_outputs() {
    // Only the stacked output is used (no projection of the carry); then
    // the carry twice.
    let dt = DType::F64;
    let mut g = Graph::new("ys_only");
    let c0 = g.add_param("c0", ty(dt, &[2])).unwrap();
    let xs = g.add_param("xs", ty(dt, &[3, 2])).unwrap();
    let k = g.add_param("k", ty(dt, &[])).unwrap();
    let op = Op::Scan {
        body: step(dt),
        carry: 1,
        xs: 1,
        length: 3,
        reverse: false,
    };
    let r = g.add_multi(op, &[c0, xs, k]).unwrap();
    g.set_outputs(vec![r[1]]);
    let dce = |g: &mut Graph| {
        adjoint_passes::PassManager::parse("dce")
            .unwrap()
            .run(g)
            .unwrap();
    };
    let mut g2 = g.clone();
    dce(&mut g2);
    agree(&g2, &inputs_of(&g2, 2));
    g.set_outputs(vec![r[0], r[0], r[2]]);
    agree(&g, &inputs_of(&g, 2));
}

#[test]
fn loop_results_feed_fused_kernels() {
    // A projection read by an elementwise region and a reduction.
    let dt = DType::F32;
    let mut g = scan_graph(dt, 6, false);
    let r = g.outputs().to_vec();
    let e = g.add(Op::Binary(BinaryOp::Mul), &[r[2], r[2]]).unwrap();
    let s = g.add(Op::ReduceSum { axes: vec![1] }, &[e]).unwrap();
    let t = g.add(Op::Binary(BinaryOp::Add), &[s, r[1]]).unwrap();
    g.set_outputs(vec![t, r[0]]);
    agree(&g, &inputs_of(&g, 8));
}

#[test]
fn rnn_cell_scan_with_matmuls_and_a_body_arena() {
    // h' = tanh(W·h + U·x): the body keeps its products in its arena, which
    // with `stack_arena_max = 0` is a buffer of the caller's arena.
    for dt in [DType::F32, DType::F64] {
        let b = GraphBuilder::new("cell");
        let h = b.param("h", ty(dt, &[4]));
        let x = b.param("x", ty(dt, &[3]));
        let w = b.param("w", ty(dt, &[4, 4]));
        let u = b.param("u", ty(dt, &[4, 3]));
        let mm = |a, v| b.op(Op::MatMul, &[a, v]);
        let nh = (mm(w, h) + mm(u, x)).tanh();
        let body = BodyRef::new(b.build(&[nh, nh.sum()]).unwrap());
        let mut g = Graph::new("rnn");
        let h0 = g.add_param("h0", ty(dt, &[4])).unwrap();
        let xs = g.add_param("xs", ty(dt, &[9, 3])).unwrap();
        let w = g.add_param("w", ty(dt, &[4, 4])).unwrap();
        let u = g.add_param("u", ty(dt, &[4, 3])).unwrap();
        let op = Op::Scan {
            body: body.clone(),
            carry: 1,
            xs: 1,
            length: 9,
            reverse: false,
        };
        let r = g.add_multi(op, &[h0, xs, w, u]).unwrap();
        g.set_outputs(r);
        // matmul is the one op the contract lets differ in rounding
        // (docs/ir.md §14): compare within a few ulps per step.
        let ins = inputs_of(&g, 21);
        let want = reference(&g, &ins, &JitOptions::default());
        let tol = if dt == DType::F32 { 1e-5 } else { 1e-13 };
        for opts in [
            JitOptions::default(),
            JitOptions {
                stack_arena_max: 0,
                ..Default::default()
            },
        ] {
            let got = compile(&g, &opts).unwrap().run(&ins).unwrap();
            for (a, b) in got.iter().zip(&want) {
                for (x, y) in a.to_f64_vec().iter().zip(b.to_f64_vec()) {
                    assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
                }
            }
        }
        let heap = JitOptions {
            stack_arena_max: 0,
            ..Default::default()
        };
        let cell = compile(body.graph(), &heap).unwrap();
        assert!(cell.arena_bytes() > 0, "the body needs an arena");
        let f = compile(&g, &heap).unwrap();
        assert!(f.arena_bytes() >= cell.arena_bytes());
    }
}

/// `@main(c)` running `n` nested scans of length 2: `@b0(c) = c + 1` and
/// `@bi(c) = scan(c body=@b(i-1) length=2) + 1`: the result is
/// `c + 2^n - 1`, and the bodies nest `n - 1` deep.
fn nested_scans(n: usize) -> Graph {
    let mut f: Option<BodyRef> = None;
    for i in 0..n {
        let mut g = Graph::new(format!("b{i}"));
        let c = g.add_param("c", TensorType::f64([])).unwrap();
        let c = match &f {
            None => c,
            Some(inner) => {
                let op = Op::Scan {
                    body: inner.clone(),
                    carry: 1,
                    xs: 0,
                    length: 2,
                    reverse: false,
                };
                g.add_multi(op, &[c]).unwrap()[0]
            }
        };
        let k = g.constant(Tensor::from_f64([], vec![1.0]).unwrap());
        let y = g.add(Op::Binary(BinaryOp::Add), &[c, k]).unwrap();
        g.set_outputs(vec![y]);
        if i + 1 == n {
            return g;
        }
        f = Some(BodyRef::new(g));
    }
    unreachable!("n >= 1")
}

#[test]
fn bodies_nest_to_the_limit_and_deeper_nests_are_an_error() {
    // 32 nested bodies compile and run (2^33 - 1 body runs would be too
    // many: run a shallower one), 33 are refused with a clear error.
    let deep = nested_scans(33);
    let f = compile(&deep, &JitOptions::default()).unwrap();
    assert_eq!(f.stats().bodies, 32);
    let g = nested_scans(12);
    let got = agree(&g, &[Tensor::from_f64([], vec![0.5]).unwrap()]);
    assert_eq!(got[0].to_f64_vec(), vec![0.5 + 4095.0]);
    let e = compile(&nested_scans(34), &JitOptions::default()).unwrap_err();
    assert!(
        e.message.contains("nest more than 32 deep") && e.message.contains("@b0"),
        "{e}"
    );
}

#[test]
fn cond_without_operands_and_scan_with_only_invariants() {
    // Branches with no parameters (P = 0) returning constants.
    let b = GraphBuilder::new("yes");
    let t = BodyRef::new(b.build(&[b.scalar(1.5, DType::F64)]).unwrap());
    let b = GraphBuilder::new("no");
    let e = BodyRef::new(b.build(&[b.scalar(f64::NAN, DType::F64)]).unwrap());
    let mut g = Graph::new("pick");
    let p = g.add_param("p", ty(DType::Bool, &[])).unwrap();
    let r = g.add_multi(Op::Cond { then: t, els: e }, &[p]).unwrap();
    g.set_outputs(r);
    for pred in [true, false] {
        let p = Tensor::new(Shape::new(vec![]), TensorData::Bool(vec![pred])).unwrap();
        let got = agree(&g, &[p]);
        assert_eq!(got[0].to_f64_vec()[0].is_nan(), !pred);
    }
    // No carries and no scanned inputs: each trip stacks f(k).
    let b = GraphBuilder::new("f");
    let k = b.param("k", TensorType::f64([3]));
    let body = BodyRef::new(b.build(&[k.exp()]).unwrap());
    let mut g = Graph::new("repeat");
    let k = g.add_param("k", TensorType::f64([3])).unwrap();
    let op = Op::Scan {
        body,
        carry: 0,
        xs: 0,
        length: 4,
        reverse: true,
    };
    let r = g.add_multi(op, &[k]).unwrap();
    g.set_outputs(r);
    let got = agree(&g, &inputs_of(&g, 13));
    assert_eq!(got[0].shape().dims(), &[4, 3]);
}
